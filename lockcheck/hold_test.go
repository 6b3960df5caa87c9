package lockcheck

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseHolds(t *testing.T) {
	t.Parallel()
	holds, errs := ParseHolds("# PR locks\n  *@pr-*  \n\npath:bkt/migrating/*\ninfo:hold: *\n")
	require.Empty(t, errs)
	assert.Equal(t, Holds{
		{Field: HoldWho, Pattern: "*@pr-*", Line: "*@pr-*"},
		{Field: HoldPath, Pattern: "bkt/migrating/*", Line: "path:bkt/migrating/*"},
		{Field: HoldInfo, Pattern: "hold: *", Line: "info:hold: *"},
	}, holds)

	_, errs = ParseHolds("[a-\npath:\nok@*")
	require.Len(t, errs, 2, "every bad line, and only those")
	assert.Contains(t, errs[0].Error(), `line "[a-" is not a valid pattern (syntax error in pattern)`)
	assert.Contains(t, errs[0].Error(), `e.g. "tacos-gha@*"`)
	assert.Contains(t, errs[1].Error(), `line "path:" has a prefix but no pattern`)
}

func TestHoldsMatch(t *testing.T) {
	t.Parallel()
	holds, errs := ParseHolds("*@pr-*\npath:bkt/migrating/*\ninfo:migration *")
	require.Empty(t, errs)
	cases := []struct {
		name string
		lock Lock
		want string // the matching line, "" for none
	}{
		{"who", Lock{LockPath: "bkt/app", Info: Info{Who: "runner@pr-1234"}}, "*@pr-*"},
		{"who elsewhere", Lock{LockPath: "bkt/app", Info: Info{Who: "alice@laptop"}}, ""},
		{"path", Lock{LockPath: "bkt/migrating/terraform.tfstate", Info: Info{Who: "alice@laptop"}}, "path:bkt/migrating/*"},
		{"path: * stops at /", Lock{LockPath: "bkt/migrating/a/terraform.tfstate"}, ""},
		{"info", Lock{LockPath: "bkt/x", Info: Info{Info: "migration to new account"}}, "info:migration *"},
		{"a Who pattern does not match Info", Lock{LockPath: "bkt/x", Info: Info{Info: "x@pr-1"}}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			p, ok := holds.Match(c.lock)
			assert.Equal(t, c.want != "", ok)
			assert.Equal(t, c.want, p.Line)
		})
	}
}

// A lock a hold matches is HELD in detect, however old and whatever its
// run evidence says; unlock refuses it even when approved; auto-unlock
// never touches it, although its owner is proven gone.
func TestHeldLocksAreNeverStaleNorRemoved(t *testing.T) {
	t.Parallel()
	ddb, table := newTable(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	// A tacos-gha-style PR lock, a day old, on a host whose job ended.
	putItem(t, ddb, table, map[string]string{"LockID": "b/pr", "Info": infoJSON("pr-lock", "b/pr", "runner@pr-1234", now.Add(-24*time.Hour))})
	require.NoError(t, WriteRunRecord(ctx, ddb, table, RunRecord{LockPath: "b/pr", Repository: "octo/infra", RunID: 7, RunAttempt: 1,
		Job: "plan", RunnerName: lockRunner, Host: "pr-1234", HostExclusive: true, Written: now.Add(-25 * time.Hour)}))
	putItem(t, ddb, table, map[string]string{"LockID": "b/old", "Info": infoJSON("old-lock", "b/old", "alice@laptop", now.Add(-24*time.Hour))})
	runs := &fakeRuns{runs: map[int64]RunState{7: {Status: "completed", Conclusion: "success", Attempt: 1,
		Jobs: []JobState{{RunnerName: lockRunner, CompletedAt: now.Add(-23 * time.Hour)}}}}}
	cl := &Classifier{Policy: Policy{ActiveWithin: 10 * time.Minute, StaleAfter: 30 * time.Minute, RecordSkew: DefaultRecordSkew, Repository: "octo/infra"},
		Runs: runs, Now: time.Now}
	stores := []Store{&DynamoDBStore{API: ddb, Table: table}}

	// Without the hold, the PR lock is stale at once: its owner is proven gone.
	det, err := (&Detector{Stores: stores, Classifier: cl}).Detect(ctx)
	require.NoError(t, err)
	require.Len(t, det.Stale(), 2)
	require.Len(t, AutoUnlockable(det), 1, "the precondition: auto-unlock would remove it")

	holds, errs := ParseHolds("*@pr-*")
	require.Empty(t, errs)
	det, err = (&Detector{Stores: stores, Classifier: cl, Holds: holds}).Detect(ctx)
	require.NoError(t, err)
	require.Len(t, det.Held(), 1)
	v := det.Held()[0]
	assert.Equal(t, "pr-lock", v.Lock.ID())
	assert.Equal(t, RuleHeld, v.Rule)
	assert.Contains(t, v.Reason, `hold-locks pattern "*@pr-*" matches its Who`)
	assert.Empty(t, det.Active(), "held is not active")
	assert.Len(t, det.Stale(), 1)
	assert.Equal(t, StatusHeld, det.Verdicts[0].Status, "held sorts before stale")
	assert.Empty(t, AutoUnlockable(det))

	u := &Unlocker{Stores: stores, Classifier: cl, Holds: holds}
	results, err := AutoUnlock(ctx, u, det)
	require.NoError(t, err)
	assert.Empty(t, results)

	results, err = u.Unlock(ctx, []Approved{{ID: "pr-lock", Path: "b/pr"}, {ID: "old-lock", Path: "b/old"}})
	require.NoError(t, err)
	require.Len(t, results, 2)
	assert.Equal(t, OutcomeRefused, results[0].Outcome)
	assert.Contains(t, results[0].Reason, "the lock is held on purpose")
	assert.Equal(t, OutcomeRemoved, results[1].Outcome, "the hold spares only what it matches")
	_, present := getInfo(t, ddb, table, "b/pr")
	assert.True(t, present)
	_, present = getInfo(t, ddb, table, "b/old")
	assert.False(t, present)
}
