package wrapper

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/text2agent/tfstate-guard/internal/fakegithub"
	"github.com/text2agent/tfstate-guard/lockcheck"
)

// Wrappers race detect with auto-unlock: definitive on moto. GitHub says
// every job completed (the worst case: a self-hosted runner that lost
// contact while its machine runs on), so only the leases stand between a
// live wrapper and removal. Safety: no live wrapper's lock is removed (each
// finds its own lock intact when it releases). Usefulness: holders that
// died without releasing (their lease left to expire) are removed.
func TestWrappersRaceAutoUnlock(t *testing.T) {
	t.Parallel()
	b, ddb, s3c := newStores(t)
	gh := fakegithub.New()
	srv := httptest.NewServer(gh)
	t.Cleanup(srv.Close)
	gh.End("octo/infra", 77, 1, "cancelled", "r", time.Now())
	runs, err := lockcheck.NewGitHubRuns(srv.URL, "token", nil, lockcheck.DefaultRetryPolicy())
	require.NoError(t, err)

	fake := filepath.Join(t.TempDir(), "terraform")
	require.NoError(t, os.WriteFile(fake, []byte("#!/bin/sh\nsleep \"$HOLD\"\n"), 0o755))
	const interval, term, margin = 300 * time.Millisecond, 3 * time.Second, time.Second
	id := Identity{Host: "h", PID: os.Getpid(), Repository: "octo/infra", RunID: 77, RunAttempt: 1, Job: "apply", RunnerName: "r"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var removed atomic.Int64
	detectDone := make(chan struct{})
	go func() {
		defer close(detectDone)
		stores := []lockcheck.Store{&lockcheck.DynamoDBStore{API: ddb, Table: b.Table}, &lockcheck.S3Store{API: s3c, Bucket: b.Bucket}}
		cl := &lockcheck.Classifier{Runs: runs, Now: time.Now, Policy: lockcheck.Policy{ActiveWithin: time.Millisecond, StaleAfter: 2 * time.Millisecond,
			Repository: "octo/infra", LeaseMargin: margin}}
		for ctx.Err() == nil {
			det, err := (&lockcheck.Detector{Stores: stores, Classifier: cl}).Detect(ctx)
			if err != nil {
				continue
			}
			res, _ := lockcheck.AutoUnlock(ctx, &lockcheck.Unlocker{Stores: stores, Classifier: cl}, det)
			for _, r := range res {
				if r.Outcome == lockcheck.OutcomeRemoved {
					removed.Add(1)
				}
			}
		}
	}()

	var wg sync.WaitGroup
	var releases, lost, fenced atomic.Int64
	for s := 0; s < 4; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := b
			st.Key = fmt.Sprintf("race-%d/terraform.tfstate", s)
			for i := 0; i < 3; i++ {
				cmd, err := ParseCommand([]string{fake, "apply", "-lock-timeout=30s"})
				require.NoError(t, err)
				code, err := Run(ctx, Options{Command: cmd, Backend: st, DDB: ddb, S3: s3c, AWSClock: NewAWSClock(),
					LeaseInterval: interval, LeaseTerm: term, Identity: id, Stdout: io.Discard, Stderr: io.Discard,
					Env: append(os.Environ(), fmt.Sprintf("HOLD=%d.%d", 1+i%2, s)), Log: func(string, ...any) {}})
				if code != 0 {
					// A wrapper starved past its fence (a loaded machine)
					// stops its Terraform: safe, and counted.
					assert.Contains(t, []int{130, 137}, code)
					fenced.Add(1)
				}
				if err != nil {
					lost.Add(1)
					t.Errorf("state %d run %d: %v", s, i, err)
				} else {
					releases.Add(1)
				}
			}
		}()
	}
	// Two holders that die: lock and lease written, never renewed nor released.
	for s := 0; s < 2; s++ {
		st := b
		st.Key = fmt.Sprintf("dead-%d/terraform.tfstate", s)
		l := &Locker{DDB: ddb, S3: s3c, Backend: st}
		info := NewLockInfo("OperationTypeApply", st.LockPath(), "")
		require.NoError(t, l.Acquire(ctx, info, 0, nil))
		o := Options{Backend: st, DDB: ddb, S3: s3c, AWSClock: NewAWSClock(), LeaseTerm: term, Identity: id}
		ok, err := o.newLeaser(info).Start(ctx, func(m string) { t.Error(m) })
		require.NoError(t, err)
		require.True(t, ok)
	}
	wg.Wait()
	require.Eventually(t, func() bool { return removed.Load() >= 2 }, 30*time.Second, 100*time.Millisecond, "the dead holders' locks are removed")
	cancel()
	<-detectDone
	t.Logf("%d wrapped runs released their own locks (%d fenced), %d lost their lock, %d dead locks auto-unlocked", releases.Load(), fenced.Load(), lost.Load(), removed.Load())
	assert.Equal(t, int64(12), releases.Load())
	assert.Zero(t, lost.Load(), "live locks removed")
	assert.Equal(t, int64(2), removed.Load(), "exactly the dead ones")
}
