package lockcheck

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// fakeRuns is a hand-written Runs: fixed answers, and a count of questions.
type fakeRuns struct {
	mu      sync.Mutex
	runs    map[int64]RunState
	errs    map[int64]error
	jobs    []RunnerJob
	jobsErr error
	asked   map[int64]int
}

func (f *fakeRuns) Run(_ context.Context, repo string, id int64) (RunState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.asked == nil {
		f.asked = map[int64]int{}
	}
	f.asked[id]++
	if err := f.errs[id]; err != nil {
		return RunState{}, err
	}
	st, ok := f.runs[id]
	if !ok {
		return RunState{}, ErrRunNotFound
	}
	st.ID, st.Repository = id, repo
	return st, nil
}

func (f *fakeRuns) LiveRunnerJobs(context.Context, string) ([]RunnerJob, error) {
	return f.jobs, f.jobsErr
}

var (
	now       = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	testPath  = "bucket/app/terraform.tfstate"
	otherPath = "bucket/other/terraform.tfstate"
)

func lockAged(age time.Duration, who string) Lock {
	created := now.Add(-age).Format(time.RFC3339Nano)
	raw := fmt.Sprintf(`{"ID":"11111111-2222-3333-4444-555555555555","Operation":"OperationTypeApply","Info":"","Who":%q,"Version":"1.11.4","Created":%q,"Path":%q}`, who, created, testPath)
	return ParseLock(testPath, raw, Location{Source: SourceDynamoDB, Table: "t"})
}

func record(runID int64, attempt int, writtenBeforeLock time.Duration, lockAge time.Duration) RunRecord {
	return RunRecord{LockPath: testPath, Repository: "octo/infra", RunID: runID, RunAttempt: attempt, Job: "apply",
		Written: now.Add(-lockAge).Add(-writtenBeforeLock)}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	policy := Policy{ActiveWithin: 10 * time.Minute, StaleAfter: 30 * time.Minute, Repository: "octo/infra",
		Current: RunRef{Repository: "octo/infra", ID: 900, Attempt: 2}, RecordSkew: DefaultRecordSkew}
	apiDown := errors.New("GET /repos/octo/infra/actions/runs/7: 502 Bad Gateway")

	type tc struct {
		name       string
		lock       Lock
		records    []RunRecord
		runs       *fakeRuns // nil: no GitHub access
		want       Status
		rule       Rule
		reason     string
		owner      int64
		apiProblem bool
	}
	cases := []tc{
		// Age rules, no evidence at all.
		{name: "young, no evidence", lock: lockAged(2*time.Minute, "runner@fv-az1-1"), runs: &fakeRuns{}, want: StatusActive, rule: RuleTooYoung, reason: "within active-within (10m0s)"},
		{name: "old, no evidence", lock: lockAged(2*time.Hour, "runner@fv-az1-1"), runs: &fakeRuns{}, want: StatusStale, rule: RuleTooOld, reason: "beyond stale-after (30m0s)"},
		{name: "between windows", lock: lockAged(20*time.Minute, "runner@fv-az1-1"), runs: &fakeRuns{}, want: StatusStale, rule: RuleBetween, reason: "not beyond stale-after"},
		{name: "exactly active-within is not young", lock: lockAged(10*time.Minute, "x@y"), runs: &fakeRuns{}, want: StatusStale, rule: RuleBetween},
		{name: "age unknown", lock: ParseLock(testPath, `{"ID":"test123","Who":"manual-test"}`, Location{}), runs: &fakeRuns{}, want: StatusStale, rule: RuleAgeUnknown, reason: "age unknown"},
		{name: "who says cancelled, young", lock: lockAged(time.Minute, "runner@job-cancelled"), runs: &fakeRuns{}, want: StatusStale, rule: RuleWhoMarker, reason: "cancelled"},
		{name: "who says FAILED", lock: lockAged(time.Minute, "ci@FAILED-host"), want: StatusStale, rule: RuleWhoMarker},
		{name: "who says timeout", lock: lockAged(time.Minute, "timeout@h"), want: StatusStale, rule: RuleWhoMarker},

		// Run records decide, whatever the age.
		{name: "record: run in_progress, old lock", lock: lockAged(5*time.Hour, "runner@fv-az1-1"), records: []RunRecord{record(7, 1, time.Minute, 5*time.Hour)},
			runs: &fakeRuns{runs: map[int64]RunState{7: {Status: "in_progress", Attempt: 1}}}, want: StatusActive, rule: RuleOwnerLive, owner: 7, reason: "is in_progress"},
		{name: "record: run completed, young lock", lock: lockAged(time.Minute, "runner@fv-az1-1"), records: []RunRecord{record(7, 1, time.Minute, time.Minute)},
			runs: &fakeRuns{runs: map[int64]RunState{7: {Status: "completed", Conclusion: "cancelled", Attempt: 1}}}, want: StatusStale, rule: RuleOwnerCompleted, owner: 7, reason: "completed (cancelled)"},
		{name: "record written after the lock is ignored", lock: lockAged(2*time.Hour, "x@h"), records: []RunRecord{record(7, 1, -time.Minute, 2*time.Hour)},
			runs: &fakeRuns{runs: map[int64]RunState{7: {Status: "in_progress", Attempt: 1}}}, want: StatusStale, rule: RuleTooOld},
		{name: "record within clock skew counts", lock: lockAged(2*time.Hour, "x@h"), records: []RunRecord{record(7, 1, -2*time.Second, 2*time.Hour)},
			runs: &fakeRuns{runs: map[int64]RunState{7: {Status: "in_progress", Attempt: 1}}}, want: StatusActive, rule: RuleOwnerLive},
		{name: "record of another state is ignored", lock: lockAged(2*time.Hour, "x@h"), records: []RunRecord{{LockPath: otherPath, Repository: "octo/infra", RunID: 7, RunAttempt: 1, Written: now.Add(-3 * time.Hour)}},
			runs: &fakeRuns{runs: map[int64]RunState{7: {Status: "in_progress", Attempt: 1}}}, want: StatusStale, rule: RuleTooOld},
		{name: "earlier attempt of a live run has ended", lock: lockAged(time.Minute, "x@h"), records: []RunRecord{record(7, 1, time.Minute, time.Minute)},
			runs: &fakeRuns{runs: map[int64]RunState{7: {Status: "in_progress", Attempt: 2}}}, want: StatusStale, rule: RuleOwnerCompleted, reason: "attempt 1 of run 7"},
		{name: "this run never counts as owner (same attempt)", lock: lockAged(time.Minute, "x@h"), records: []RunRecord{record(900, 2, time.Minute, time.Minute)},
			runs: &fakeRuns{runs: map[int64]RunState{900: {Status: "in_progress", Attempt: 2}}}, want: StatusActive, rule: RuleTooYoung},
		{name: "an earlier attempt of this run has ended", lock: lockAged(time.Minute, "x@h"), records: []RunRecord{record(900, 1, time.Minute, time.Minute)},
			runs: &fakeRuns{}, want: StatusStale, rule: RuleOwnerCompleted, reason: "attempt 1 of this run"},
		{name: "several candidates, one live", lock: lockAged(3*time.Hour, "x@h"), records: []RunRecord{record(7, 1, time.Minute, 3*time.Hour), record(8, 1, 2*time.Minute, 3*time.Hour)},
			runs: &fakeRuns{runs: map[int64]RunState{7: {Status: "completed", Conclusion: "failure", Attempt: 1}, 8: {Status: "queued", Attempt: 1}}}, want: StatusActive, rule: RuleOwnerLive, owner: 8},
		{name: "several candidates, all completed", lock: lockAged(time.Minute, "x@h"), records: []RunRecord{record(7, 1, time.Minute, time.Minute), record(8, 1, 2*time.Minute, time.Minute)},
			runs: &fakeRuns{runs: map[int64]RunState{7: {Status: "completed", Conclusion: "failure", Attempt: 1}, 8: {Status: "completed", Conclusion: "success", Attempt: 1}}}, want: StatusStale, rule: RuleOwnerCompleted},

		// Hostname that names the run.
		{name: "gha hostname, run live", lock: lockAged(4*time.Hour, "runner@gha-7-1"), runs: &fakeRuns{runs: map[int64]RunState{7: {Status: "in_progress", Attempt: 1}}}, want: StatusActive, rule: RuleOwnerLive, reason: `hostname "gha-7-1"`},
		{name: "gha hostname without attempt, run completed", lock: lockAged(time.Minute, "runner@GHA-7"), runs: &fakeRuns{runs: map[int64]RunState{7: {Status: "completed", Conclusion: "success", Attempt: 1}}}, want: StatusStale, rule: RuleOwnerCompleted},

		// Self-hosted runner names.
		{name: "host is the runner of a live job", lock: lockAged(3*time.Hour, "root@arc-runner-x7k2p"),
			runs: &fakeRuns{jobs: []RunnerJob{{RunnerName: "arc-runner-x7k2p", Job: "apply", Run: RunState{ID: 11, Status: "in_progress", Repository: "octo/infra"}}}}, want: StatusActive, rule: RuleRunnerLive, owner: 11},
		{name: "runner of this run does not count", lock: lockAged(3*time.Hour, "root@arc-runner-x7k2p"),
			runs: &fakeRuns{jobs: []RunnerJob{{RunnerName: "arc-runner-x7k2p", Run: RunState{ID: 900, Status: "in_progress", Repository: "octo/infra"}}}}, want: StatusStale, rule: RuleTooOld},
		{name: "runner listing fails: age rules, with the problem", lock: lockAged(time.Minute, "root@arc"), runs: &fakeRuns{jobsErr: apiDown}, want: StatusActive, rule: RuleTooYoung, apiProblem: true},

		// GitHub unavailable: the age rules, never worse than them.
		{name: "API error, young lock stays active", lock: lockAged(time.Minute, "x@h"), records: []RunRecord{record(7, 1, time.Minute, time.Minute)},
			runs: &fakeRuns{errs: map[int64]error{7: apiDown}}, want: StatusActive, rule: RuleTooYoung, apiProblem: true, reason: "502 Bad Gateway"},
		{name: "API error, old lock is stale by age", lock: lockAged(3*time.Hour, "x@h"), records: []RunRecord{record(7, 1, time.Minute, 3*time.Hour)},
			runs: &fakeRuns{errs: map[int64]error{7: apiDown}}, want: StatusStale, rule: RuleTooOld, apiProblem: true},
		{name: "one candidate completed, another unknown: age decides", lock: lockAged(time.Minute, "x@h"), records: []RunRecord{record(7, 1, time.Minute, time.Minute), record(8, 1, time.Minute, time.Minute)},
			runs: &fakeRuns{runs: map[int64]RunState{8: {Status: "completed", Attempt: 1}}, errs: map[int64]error{7: apiDown}}, want: StatusActive, rule: RuleTooYoung, apiProblem: true},
		{name: "run not found: age decides", lock: lockAged(time.Minute, "x@h"), records: []RunRecord{record(7, 1, time.Minute, time.Minute)},
			runs: &fakeRuns{}, want: StatusActive, rule: RuleTooYoung, apiProblem: true, reason: "not found"},
		{name: "no token: age decides", lock: lockAged(time.Minute, "x@h"), records: []RunRecord{record(7, 1, time.Minute, time.Minute)},
			want: StatusActive, rule: RuleTooYoung, apiProblem: true, reason: "no GitHub token"},
	}
	for _, status := range []string{"queued", "in_progress", "waiting", "requested", "pending", "action_required"} {
		cases = append(cases, tc{name: "live status " + status, lock: lockAged(48*time.Hour, "x@h"), records: []RunRecord{record(7, 1, time.Minute, 48*time.Hour)},
			runs: &fakeRuns{runs: map[int64]RunState{7: {Status: status, Attempt: 1}}}, want: StatusActive, rule: RuleOwnerLive, owner: 7})
	}
	for _, concl := range []string{"success", "failure", "neutral", "cancelled", "skipped", "timed_out", "action_required", "stale", "startup_failure", ""} {
		cases = append(cases, tc{name: "completed with " + concl, lock: lockAged(30*time.Second, "x@h"), records: []RunRecord{record(7, 1, time.Minute, 30*time.Second)},
			runs: &fakeRuns{runs: map[int64]RunState{7: {Status: "completed", Conclusion: concl, Attempt: 1}}}, want: StatusStale, rule: RuleOwnerCompleted, owner: 7})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cl := &Classifier{Policy: policy, Now: func() time.Time { return now }}
			if c.runs != nil {
				cl.Runs = c.runs
			}
			v := cl.Classify(context.Background(), c.lock, c.records)
			assert.Equal(t, c.want, v.Status, v.Reason)
			assert.Equal(t, c.rule, v.Rule, v.Reason)
			assert.Contains(t, v.Reason, c.reason)
			assert.Equal(t, c.apiProblem, v.APIProblem != "", "api problem: %q", v.APIProblem)
			if c.owner != 0 {
				if assert.NotNil(t, v.Owner) {
					assert.Equal(t, c.owner, v.Owner.ID)
				}
			}
		})
	}
}
