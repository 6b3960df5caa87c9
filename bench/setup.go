package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// setup on a backend that is already right, as in every job after the
// first: what it reads, what it writes (only its run record should be
// written) and how long it takes.
func (e *env) setup(ctx context.Context, r *results) error {
	table := fmt.Sprintf("bench-setup-%d", time.Now().UnixNano()%1e6)
	stateBucket := fmt.Sprintf("bench-setup-%d", time.Now().UnixNano()%1e6)
	dir := filepath.Join(e.work, "tf")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	with := inputs(map[string]string{"mode": "setup", "aws-region": region, "state-bucket": stateBucket, "lock-table": table,
		"state-key": "infra/terraform.tfstate", "working-directory": dir,
		// moto evaluates no IAM conditions: the TLS-only Deny would refuse
		// every request, so the bench leaves that one statement out.
		"skip-enforced-tls": "true"})
	step("setup on an existing, correct backend")
	for i := 0; i <= e.o.reps; i++ { // the first run creates the backend
		extra, _, err := e.actionEnv()
		if err != nil {
			return err
		}
		m, out, err := e.runChild(ctx, append(extra, with...), e.binary)
		if err != nil {
			return err
		}
		if m.exitCode != 0 {
			return fmt.Errorf("setup exited %d:\n%s", m.exitCode, out)
		}
		if i > 0 {
			r.setup = append(r.setup, m)
		}
	}
	return nil
}

// unlock of n approved stale locks (each owned by a completed run): the
// table is seeded again before every repetition.
func (e *env) unlock(ctx context.Context, r *results, n int) error {
	step("unlock of %d lock(s)", n)
	row := unlockRow{n: n}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = lockID(i)
	}
	for rep := 0; rep <= e.o.reps; rep++ {
		s := tableSpec{name: fmt.Sprintf("bench-unlock-%d-%d-%d", n, rep, time.Now().UnixNano()%1e6),
			size: 3 * n, owners: n, locks: n, digests: n, records: n, distinct: n}
		if err := e.seed(ctx, s, 0); err != nil {
			return err
		}
		extra, outFile, err := e.actionEnv()
		if err != nil {
			return err
		}
		extra = append(extra, inputs(map[string]string{"mode": "unlock", "aws-region": region, "lock-table": s.name,
			"lock-source": "dynamodb", "github-token": "bench-token", "lock-ids": strings.Join(ids, ",")})...)
		m, out, err := e.runChild(ctx, extra, e.binary)
		if err != nil {
			return err
		}
		if m.exitCode != 0 {
			return fmt.Errorf("unlock of %d locks exited %d:\n%s", n, m.exitCode, out)
		}
		outputs, err := readFileCommands(outFile)
		if err != nil {
			return err
		}
		if got := len(strings.Split(outputs["UNLOCKED_LOCK_IDS"], ",")); outputs["UNLOCKED_LOCK_IDS"] == "" || got != n {
			return fmt.Errorf("unlock of %d locks removed %q", n, outputs["UNLOCKED_LOCK_IDS"])
		}
		if rep > 0 { // the first is a warm-up
			row.runs = append(row.runs, m)
		}
		if _, err := e.ddb.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(s.name)}); err != nil {
			return err
		}
	}
	r.unlock = append(r.unlock, row)
	return nil
}
