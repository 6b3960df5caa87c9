package lockcheck

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestJudgeLease(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	lease := func(age time.Duration, run int64) Lease {
		return Lease{LockPath: "b/k", LockID: "id", Host: "X", PID: 4242, RenewedAt: now.Add(-age), ReadAt: now,
			TermSeconds: 60, RunID: run, RunAttempt: 1, Job: "apply"}
	}
	done := &JobAnswer{Completed: true, Text: "GitHub says run 123 attempt 1 completed (cancelled)"}
	running := &JobAnswer{Text: "GitHub says run 123 attempt 1 is in_progress"}
	for _, tc := range []struct {
		name    string
		lease   Lease
		job     *JobAnswer
		decided bool
		status  Status
		ask     bool
		text    string
	}{
		{"renewed 8s ago", lease(8*time.Second, 123), nil, true, StatusActive, false, "lease renewed 8s ago by pid 4242 on host X for run 123 attempt 1 job apply"},
		{"exactly at its term", lease(60*time.Second, 0), nil, true, StatusActive, false, "renewed 1m0s ago"},
		{"expired within the margin, job done", lease(61*time.Second+2*time.Minute-time.Second, 123), done, false, "", false, "within the margin"},
		{"expired past the margin, GitHub not asked", lease(4*time.Minute, 123), nil, false, "", true, "not asked"},
		{"expired past the margin, job running", lease(4*time.Minute, 123), running, true, StatusActive, false, "is in_progress"},
		{"expired past the margin, GitHub failed", lease(4*time.Minute, 123), &JobAnswer{Err: errors.New("503")}, false, "", false, "could not say"},
		{"expired past the margin, job completed", lease(4*time.Minute, 123), done, true, StatusStale, false, "completed (cancelled): its holder is gone"},
		{"expired long ago on a laptop", lease(48*time.Hour, 0), done, false, "", false, "outside GitHub Actions"},
		{"renewed in the future by a skewed reader", lease(-3*time.Second, 0), nil, true, StatusActive, false, "renewed 0s ago"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			j := JudgeLease(tc.lease, 2*time.Minute, tc.job)
			assert.Equal(t, tc.decided, j.Decided)
			assert.Equal(t, tc.status, j.Status)
			assert.Equal(t, tc.ask, j.AskGitHub)
			assert.Contains(t, j.Reason+j.Note, tc.text)
		})
	}
}

// A 2-hour-old lock with a live lease is ACTIVE with no GitHub access,
// however the age rules would call it; an expired lease without GitHub
// leaves the age rules to decide and says what the lease showed.
func TestClassifyByLease(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	c := &Classifier{Policy: Policy{ActiveWithin: 10 * time.Minute, StaleAfter: 30 * time.Minute}, Now: func() time.Time { return now }}
	lock := Lock{LockPath: "b/k", Info: Info{ID: "id", Who: "runner@X"}, Created: now.Add(-2 * time.Hour)}
	live := Lease{LockPath: "b/k", LockID: "id", Host: "X", PID: 1, RenewedAt: now.Add(-10 * time.Second), ReadAt: now, TermSeconds: 60, RunID: 123, RunAttempt: 1, Job: "apply"}

	withLease := lock
	attachLeases([]Lock{withLease}, nil)
	ls := []Lock{lock}
	attachLeases(ls, []Lease{live})
	v := c.Classify(context.Background(), ls[0], nil)
	assert.Equal(t, StatusActive, v.Status)
	assert.Equal(t, RuleLeaseLive, v.Rule)
	assert.Equal(t, EvidenceDefinitive, v.Evidence)

	other := live
	other.LockID = "another"
	ls = []Lock{lock}
	attachLeases(ls, []Lease{other})
	assert.Nil(t, ls[0].Lease, "a lease of another lock ID says nothing")
	v = c.Classify(context.Background(), ls[0], nil)
	assert.Equal(t, StatusStale, v.Status)
	assert.Equal(t, RuleTooOld, v.Rule)

	expired := live
	expired.RenewedAt = now.Add(-time.Hour)
	ls = []Lock{lock}
	attachLeases(ls, []Lease{expired})
	v = c.Classify(context.Background(), ls[0], nil)
	assert.Equal(t, RuleTooOld, v.Rule)
	assert.NotEqual(t, EvidenceDefinitive, v.Evidence)
	assert.Contains(t, v.Reason, "no github-repository is set, so the run it names cannot be trusted")

	c.Policy.Repository = "octo/infra"
	v = c.Classify(context.Background(), ls[0], nil)
	assert.Equal(t, RuleTooOld, v.Rule)
	assert.Contains(t, v.Reason, "GitHub could not say whether its job ended: no GitHub token")

	// Issue 23: a lease that names another repository's run (anyone who
	// can write the table can write one) proves nothing about death, even
	// when that run has completed.
	forged := expired
	forged.Repository = "octo/other"
	ls = []Lock{lock}
	attachLeases(ls, []Lease{forged})
	c.Runs = &fakeRuns{runs: map[int64]RunState{123: {Status: "completed", Conclusion: "success", Attempt: 1}}}
	v = c.Classify(context.Background(), ls[0], nil)
	assert.NotEqual(t, EvidenceDefinitive, v.Evidence, v.Reason)
	assert.Contains(t, v.Reason, "it names a run of octo/other, not of octo/infra: ignored")
}
