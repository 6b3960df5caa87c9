package main

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// hotPath is what every job pays before any lock is read: the binary's
// start (package initialisation; run with no mode it prints its usage and
// exits 2) and detect on an empty table, each many times.
type hotPath struct {
	start, empty       []time.Duration
	startRSS, emptyRSS int64
	emptyCalls         int64
}

func (e *env) hotPath(ctx context.Context, r *results) error {
	n := 10 * e.o.reps
	step("hot path: binary start and detect on an empty table, %d times each", n)
	table := fmt.Sprintf("bench-empty-%d", time.Now().UnixNano()%1e6)
	if err := createTable(ctx, e.ddb, table); err != nil {
		return err
	}
	defer e.ddb.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(table)})
	h := &hotPath{}
	var starts, empties []measurement
	for i := 0; i <= n; i++ {
		m, out, err := e.runChild(ctx, nil, e.binary)
		if err != nil {
			return err
		}
		if m.exitCode != 2 {
			return fmt.Errorf("tfstate-guard with no mode exited %d, want 2 (usage):\n%s", m.exitCode, out)
		}
		extra, _, err := e.actionEnv()
		if err != nil {
			return err
		}
		extra = append(extra, inputs(map[string]string{"mode": "detect", "lock-table": table, "aws-region": region,
			"lock-source": "dynamodb", "github-token": "bench-token"})...)
		d, out, err := e.runChild(ctx, extra, e.binary)
		if err != nil {
			return err
		}
		if d.exitCode != 0 {
			return fmt.Errorf("detect on an empty table exited %d:\n%s", d.exitCode, out)
		}
		if i > 0 { // the first is a warm-up
			starts, empties = append(starts, m), append(empties, d)
		}
	}
	h.start, h.empty = walls(starts), walls(empties)
	h.startRSS, h.emptyRSS, h.emptyCalls = rss(starts), rss(empties), ddbCalls(empties)+ghCalls(empties)
	r.hot = h
	return nil
}
