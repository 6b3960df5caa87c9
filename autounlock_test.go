package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/text2agent/tfstate-guard/internal/fakegithub"
	"github.com/text2agent/tfstate-guard/lockcheck"
)

// threeLocks puts a lock whose owner is proven gone (definitive), a lock
// whose likely owner ended but nothing proves it (circumstantial, old), and
// a young laptop lock (active), with the records and GitHub answers that
// make them so.
func threeLocks(t *testing.T, ddb *dynamodb.Client, table string, gh *fakegithub.API) (dead, circ, live string) {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Second)
	ctx := context.Background()
	const deadPath, circPath, livePath = "bkt/dead/terraform.tfstate", "bkt/circ/terraform.tfstate", "bkt/live/terraform.tfstate"
	put(t, ddb, table, map[string]string{"LockID": deadPath, "Info": info("dead-1111", deadPath, "runner@runnervm1", now.Add(-2*time.Minute))})
	put(t, ddb, table, map[string]string{"LockID": deadPath + "-md5", "Digest": "0123"})
	require.NoError(t, lockcheck.WriteRunRecord(ctx, ddb, table, lockcheck.RunRecord{LockPath: deadPath, Repository: "octo/infra", RunID: 101, RunAttempt: 1,
		Job: "terraform-apply", RunnerName: "GitHub Actions 101", Host: "runnervm1", HostExclusive: true, Written: now.Add(-3 * time.Minute)}))
	gh.End("octo/infra", 101, 1, "cancelled", "GitHub Actions 101", now.Add(-time.Minute))

	put(t, ddb, table, map[string]string{"LockID": circPath, "Info": info("circ-2222", circPath, "runner@shared-box", now.Add(-time.Hour))})
	require.NoError(t, lockcheck.WriteRunRecord(ctx, ddb, table, lockcheck.RunRecord{LockPath: circPath, Repository: "octo/infra", RunID: 102, RunAttempt: 1,
		Job: "terraform-apply", RunnerName: "box-runner-3", Host: "shared-box", Written: now.Add(-61 * time.Minute)}))
	gh.End("octo/infra", 102, 1, "cancelled", "box-runner-3", now.Add(-50*time.Minute))

	put(t, ddb, table, map[string]string{"LockID": livePath, "Info": info("live-3333", livePath, "alice@laptop", now.Add(-time.Minute))})
	return "dead-1111", "circ-2222", "live-3333"
}

func held(t *testing.T, ddb *dynamodb.Client, table, key string) bool {
	t.Helper()
	out, err := ddb.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"LockID": &types.AttributeValueMemberS{Value: key}}})
	require.NoError(t, err)
	return out.Item != nil
}

func TestBinaryAutoUnlockRemovesOnlyProvenDeadLocks(t *testing.T) {
	t.Parallel()
	srv, ddb, table := lockTable(t)
	gh := fakegithub.New()
	dead, circ, _ := threeLocks(t, ddb, table, gh)
	api := httptest.NewServer(gh)
	t.Cleanup(api.Close)
	rn := newRunner(t, srv, "GITHUB_API_URL="+api.URL)
	code := rn.Run(map[string]string{"mode": "detect", "lock-table": table, "aws-region": "eu-west-2", "github-token": "tok",
		"fail-on-active": "false", "auto-unlock": "definitive"})
	require.Equal(t, exitOK, code, rn.Stdout)
	out := rn.Outputs()
	assert.Equal(t, dead, out["AUTO_UNLOCKED_LOCK_IDS"])
	assert.Equal(t, "1", out["AUTO_UNLOCKED_COUNT"])
	assert.Equal(t, circ, out["LOCK_IDS"], "a circumstantial stale lock still waits for a person")
	assert.Equal(t, "true", out["STALE_LOCKS_FOUND"])
	assert.Equal(t, "true", out["ACTIVE_LOCKS_FOUND"])
	assert.Equal(t, "2", out["LOCK_COUNT"], "what is left after the removal")
	assert.NotContains(t, out["LOCK_DETAILS"], dead)
	summary := rn.Summary()
	assert.Contains(t, summary, "## Removed without approval: 1 lock(s) whose owner is proven gone")
	assert.Contains(t, summary, "ended 1m0s after this lock was taken (cancelled): its owner is gone")
	assert.Contains(t, summary, "1 stale lock(s) judged by age alone")

	assert.False(t, held(t, ddb, table, "bkt/dead/terraform.tfstate"), "the dead lock is gone")
	assert.True(t, held(t, ddb, table, "bkt/dead/terraform.tfstate-md5"), "its digest is untouched")
	assert.True(t, held(t, ddb, table, "bkt/circ/terraform.tfstate"))
	assert.True(t, held(t, ddb, table, "bkt/live/terraform.tfstate"))
}

// Issue 17, case 5: a lock whose owner GitHub cannot answer about blocks
// only itself; the proven-dead lock beside it still goes.
func TestBinaryAutoUnlockWhileGitHubFailsForOneLock(t *testing.T) {
	t.Parallel()
	srv, ddb, table := lockTable(t)
	gh := fakegithub.New()
	threeLocks(t, ddb, table, gh)
	gh.Fail = func(w http.ResponseWriter, r *http.Request) bool {
		if strings.Contains(r.URL.Path, "/runs/102/") { // one run cannot be asked
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write([]byte(`{"message":"Server Error"}`))
			return true
		}
		return false
	}
	api := httptest.NewServer(gh)
	t.Cleanup(api.Close)
	rn := newRunner(t, srv, "GITHUB_API_URL="+api.URL)
	code := rn.Run(map[string]string{"mode": "detect", "lock-table": table, "aws-region": "eu-west-2", "github-token": "tok",
		"fail-on-active": "false", "auto-unlock": "definitive"})
	require.Equal(t, exitOK, code, rn.Stdout)
	out := rn.Outputs()
	assert.Equal(t, "1", out["AUTO_UNLOCKED_COUNT"])
	assert.Equal(t, "dead-1111", out["AUTO_UNLOCKED_LOCK_IDS"])
	assert.Equal(t, "circ-2222", out["LOCK_IDS"], "the lock GitHub could not answer about waits for a person")
	assert.Contains(t, rn.Stdout, `auto-unlock left lock "circ-2222" of "bkt/circ/terraform.tfstate" for a person: GitHub could not be asked`)
	assert.False(t, held(t, ddb, table, "bkt/dead/terraform.tfstate"))
	assert.True(t, held(t, ddb, table, "bkt/circ/terraform.tfstate"))
}

// wait-for-active: the owner run completes and releases its lock during
// the wait, and detect then succeeds.
func TestBinaryWaitForActiveSucceedsWhenTheOwnerReleases(t *testing.T) {
	t.Parallel()
	srv, ddb, table := lockTable(t)
	const path = "bkt/app/terraform.tfstate"
	now := time.Now().UTC()
	put(t, ddb, table, map[string]string{"LockID": path, "Info": info("held-1", path, "runner@runnervm9", now.Add(-40*time.Minute))})
	require.NoError(t, lockcheck.WriteRunRecord(context.Background(), ddb, table, lockcheck.RunRecord{LockPath: path, Repository: "octo/infra",
		RunID: 300, RunAttempt: 1, Job: "terraform-apply", RunnerName: "GitHub Actions 300", Host: "runnervm9", HostExclusive: true, Written: now.Add(-41 * time.Minute)}))
	gh := fakegithub.New()
	gh.SetAttempt("octo/infra", 300, 1, "in_progress", "")
	api := httptest.NewServer(gh)
	t.Cleanup(api.Close)
	go func() { // the apply finishes two seconds in: Terraform releases, the run completes
		time.Sleep(2 * time.Second)
		_, err := ddb.DeleteItem(context.Background(), &dynamodb.DeleteItemInput{TableName: aws.String(table),
			Key: map[string]types.AttributeValue{"LockID": &types.AttributeValueMemberS{Value: path}}})
		assert.NoError(t, err)
		gh.End("octo/infra", 300, 1, "success", "GitHub Actions 300", time.Now())
	}()
	rn := newRunner(t, srv, "GITHUB_API_URL="+api.URL)
	code := rn.Run(map[string]string{"mode": "detect", "lock-table": table, "aws-region": "eu-west-2", "github-token": "tok",
		"fail-on-active": "true", "wait-for-active": "2m"})
	assert.Equal(t, exitOK, code, rn.Stdout)
	assert.Contains(t, rn.Stdout, "waiting for run 300 (terraform), 1 lock(s); 2m0s left")
	assert.Equal(t, "0", rn.Outputs()["LOCK_COUNT"])
}

// wait-for-active: the owner run is cancelled during the wait and its lock
// stays. It is reported stale, and auto-unlock removes it: its owner is
// proven gone.
func TestBinaryWaitForActiveThenTheLockTurnsStale(t *testing.T) {
	t.Parallel()
	srv, ddb, table := lockTable(t)
	const path = "bkt/app/terraform.tfstate"
	now := time.Now().UTC()
	put(t, ddb, table, map[string]string{"LockID": path, "Info": info("held-4", path, "runner@runnervm9", now.Add(-40*time.Minute))})
	require.NoError(t, lockcheck.WriteRunRecord(context.Background(), ddb, table, lockcheck.RunRecord{LockPath: path, Repository: "octo/infra",
		RunID: 301, RunAttempt: 1, Job: "terraform-apply", RunnerName: "GitHub Actions 301", Host: "runnervm9", HostExclusive: true, Written: now.Add(-41 * time.Minute)}))
	gh := fakegithub.New()
	gh.SetAttempt("octo/infra", 301, 1, "in_progress", "")
	api := httptest.NewServer(gh)
	t.Cleanup(api.Close)
	go func() {
		time.Sleep(2 * time.Second)
		gh.End("octo/infra", 301, 1, "cancelled", "GitHub Actions 301", time.Now())
	}()
	rn := newRunner(t, srv, "GITHUB_API_URL="+api.URL)
	code := rn.Run(map[string]string{"mode": "detect", "lock-table": table, "aws-region": "eu-west-2", "github-token": "tok",
		"fail-on-active": "true", "wait-for-active": "2m", "auto-unlock": "definitive"})
	assert.Equal(t, exitOK, code, rn.Stdout)
	out := rn.Outputs()
	assert.Equal(t, "held-4", out["AUTO_UNLOCKED_LOCK_IDS"])
	assert.Equal(t, "false", out["STALE_LOCKS_FOUND"], "nothing is left for a person")
	assert.GreaterOrEqual(t, gh.Count("/repos/octo/infra/actions/runs"), 2*len(lockcheck.LiveStatuses), "the live runs were listed again")
	assert.False(t, held(t, ddb, table, path))
}

func TestBinaryWaitForActiveTimesOut(t *testing.T) {
	t.Parallel()
	srv, ddb, table := lockTable(t)
	const path = "bkt/app/terraform.tfstate"
	put(t, ddb, table, map[string]string{"LockID": path, "Info": info("held-2", path, "alice@laptop", time.Now().Add(-time.Minute))})
	rn := newRunner(t, srv)
	code := rn.Run(map[string]string{"mode": "detect", "lock-table": table, "aws-region": "eu-west-2", "github-token": "",
		"fail-on-active": "true", "wait-for-active": "3s"})
	assert.Equal(t, exitBlocked, code, rn.Stdout)
	assert.Contains(t, rn.Stdout, "waiting for 1 lock(s) held by no known run, young enough to be live; 3s left")
	assert.Contains(t, rn.Stdout, "1 active lock(s) found after waiting 3s (wait-for-active: 3s)")
	assert.Equal(t, 1, strings.Count(rn.Stdout, "no github-token"), "one warning, however many rounds: %s", rn.Stdout)
	assert.True(t, held(t, ddb, table, path))
}

// A cancelled job (the runner sends SIGTERM) stops the wait at once.
func TestBinaryWaitForActiveHonoursCancellation(t *testing.T) {
	t.Parallel()
	srv, ddb, table := lockTable(t)
	const path = "bkt/app/terraform.tfstate"
	put(t, ddb, table, map[string]string{"LockID": path, "Info": info("held-3", path, "alice@laptop", time.Now().Add(-time.Minute))})
	rn := newRunner(t, srv)
	cmd, out := rn.Command(map[string]string{"mode": "detect", "lock-table": table, "aws-region": "eu-west-2", "github-token": "",
		"fail-on-active": "true", "wait-for-active": "30m"})
	require.NoError(t, cmd.Start())
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), "waiting for") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		code := rn.Finish(err, out)
		assert.Equal(t, exitFailure, code, rn.Stdout)
		assert.Contains(t, rn.Stdout, "cancelled while waiting for active locks (wait-for-active 30m0s): nothing was removed")
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		t.Fatal("detect did not stop on SIGTERM within a minute (its wait was 30m)")
	}
	assert.True(t, held(t, ddb, table, path))
}
