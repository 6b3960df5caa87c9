package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// hotPath is what every job pays before any lock is read: the binary's
// start (package initialisation; run with no mode it prints its usage and
// exits 2) and detect on an empty table, each many times.
type hotPath struct {
	start, empty       []time.Duration
	startRSS, emptyRSS int64
	emptyCalls         int64
	// both: detect with lock-source both on lockFiles .tflock objects in
	// S3 and the (empty) table: two stores and one GetObject per file.
	both      []time.Duration
	bothCalls int64
	// The same, for -compare's binary, run for run.
	cStart, cEmpty, cBoth []time.Duration
}

const lockFiles = 50

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
		for _, bin := range e.binaries() {
			m, out, err := e.runChild(ctx, nil, bin)
			if err != nil {
				return err
			}
			if m.exitCode != 2 {
				return fmt.Errorf("%s with no mode exited %d, want 2 (usage):\n%s", bin, m.exitCode, out)
			}
			extra, _, err := e.actionEnv()
			if err != nil {
				return err
			}
			extra = append(extra, inputs(map[string]string{"mode": "detect", "lock-table": table, "aws-region": region,
				"lock-source": "dynamodb", "github-token": "bench-token"})...)
			d, out, err := e.runChild(ctx, extra, bin)
			if err != nil {
				return err
			}
			if d.exitCode != 0 {
				return fmt.Errorf("detect on an empty table exited %d:\n%s", d.exitCode, out)
			}
			switch {
			case i == 0: // the first is a warm-up
			case bin == e.binary:
				starts, empties = append(starts, m), append(empties, d)
			default:
				h.cStart, h.cEmpty = append(h.cStart, m.wall), append(h.cEmpty, d.wall)
			}
		}
	}
	if err := e.hotPathBoth(ctx, h, table, n); err != nil {
		return err
	}
	h.start, h.empty = walls(starts), walls(empties)
	h.startRSS, h.emptyRSS, h.emptyCalls = rss(starts), rss(empties), ddbCalls(empties)+ghCalls(empties)
	r.hot = h
	return nil
}

func (e *env) hotPathBoth(ctx context.Context, h *hotPath, table string, n int) error {
	name := fmt.Sprintf("bench-lockfiles-%d", time.Now().UnixNano()%1e6)
	s3c := s3.NewFromConfig(awsConfig(e.moto), func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name),
		CreateBucketConfiguration: &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraint(region)}}); err != nil {
		return fmt.Errorf("create bucket %s: %w", name, err)
	}
	created := time.Now().Add(-time.Hour)
	for i := range lockFiles {
		key := fmt.Sprintf("stack-%05d/terraform.tfstate.tflock", i)
		body := lockInfo(i, name+"/"+strings.TrimSuffix(key, ".tflock"), created)
		if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(name), Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
			return fmt.Errorf("put %s: %w", key, err)
		}
	}
	var runs []measurement
	for i := 0; i <= n; i++ {
		for _, bin := range e.binaries() {
			extra, outFile, err := e.actionEnv()
			if err != nil {
				return err
			}
			extra = append(extra, inputs(map[string]string{"mode": "detect", "lock-table": table, "aws-region": region,
				"lock-source": "both", "state-bucket": name, "github-token": "bench-token", "fail-on-active": "false"})...)
			m, out, err := e.runChild(ctx, extra, bin)
			if err != nil {
				return err
			}
			if m.exitCode != 0 {
				return fmt.Errorf("detect with lock-source both exited %d:\n%s", m.exitCode, out)
			}
			outputs, err := readFileCommands(outFile)
			if err != nil {
				return err
			}
			if outputs["LOCK_COUNT"] != fmt.Sprint(lockFiles) {
				return fmt.Errorf("detect with lock-source both: LOCK_COUNT %q, want %d", outputs["LOCK_COUNT"], lockFiles)
			}
			switch {
			case i == 0:
			case bin == e.binary:
				runs = append(runs, m)
			default:
				h.cBoth = append(h.cBoth, m.wall)
			}
		}
	}
	h.both, h.bothCalls = walls(runs), ddbCalls(runs)
	var s3calls []int64
	for _, m := range runs {
		s3calls = append(s3calls, m.counts.S3)
	}
	h.bothCalls += medianInt(s3calls)
	return nil
}

// binaries are the builds measured: this one, and -compare's.
func (e *env) binaries() []string {
	if e.compare == "" {
		return []string{e.binary}
	}
	return []string{e.binary, e.compare}
}
