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
// runs holds each run's latest attempt; attempts holds earlier ones (an
// attempt not listed there is the latest one when its number matches).
type fakeRuns struct {
	mu       sync.Mutex
	runs     map[int64]RunState
	attempts map[[2]int64]RunState
	errs     map[int64]error
	jobs     []RunnerJob
	jobsErr  error
	asked    map[int64]int
	liveErr  error // the live-run listing's answer
	listings int   // live-run listings asked for
}

func (f *fakeRuns) ask(id int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.asked == nil {
		f.asked = map[int64]int{}
	}
	f.asked[id]++
	return f.errs[id]
}

func (f *fakeRuns) Run(_ context.Context, repo string, id int64) (RunState, error) {
	if err := f.ask(id); err != nil {
		return RunState{}, err
	}
	st, ok := f.runs[id]
	if !ok {
		return RunState{}, ErrRunNotFound
	}
	st.ID, st.Repository = id, repo
	return st, nil
}

func (f *fakeRuns) Attempt(_ context.Context, repo string, id int64, attempt int) (RunState, error) {
	if err := f.ask(id); err != nil {
		return RunState{}, err
	}
	st, ok := f.attempts[[2]int64{id, int64(attempt)}]
	if !ok {
		latest, found := f.runs[id]
		if !found || latest.Attempt != attempt {
			return RunState{}, ErrRunNotFound
		}
		st = latest
	}
	st.ID, st.Repository, st.Attempt = id, repo, attempt
	return st, nil
}

// LiveRuns lists the live runs among f.runs, as one listing request.
func (f *fakeRuns) LiveRuns(_ context.Context, repo string) (LiveRunSet, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.listings++
	if f.liveErr != nil {
		return LiveRunSet{}, f.liveErr
	}
	set := LiveRunSet{Repository: repo, Runs: map[int64]RunState{}}
	for id, st := range f.runs {
		if st.Live() {
			st.ID, st.Repository = id, repo
			set.Runs[id] = st
		}
	}
	return set, nil
}

func (f *fakeRuns) LiveRunnerJobs(context.Context, string) ([]RunnerJob, error) {
	return f.jobs, f.jobsErr
}

var (
	now       = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	testPath  = "bucket/app/terraform.tfstate"
	otherPath = "bucket/other/terraform.tfstate"
)

const (
	lockHost   = "fv-az1-1"          // the host in lockAged's Who
	lockRunner = "GitHub Actions 71" // the runner whose job took the lock
)

func lockAged(age time.Duration, who string) Lock {
	created := now.Add(-age).Format(time.RFC3339Nano)
	raw := fmt.Sprintf(`{"ID":"11111111-2222-3333-4444-555555555555","Operation":"OperationTypeApply","Info":"","Who":%q,"Version":"1.11.4","Created":%q,"Path":%q}`, who, created, testPath)
	return ParseLock(testPath, raw, Location{Source: SourceDynamoDB, Table: "t"})
}

// record is a run record without a host, written writtenBeforeLock before
// a lock that is lockAge old.
func record(runID int64, attempt int, writtenBeforeLock time.Duration, lockAge time.Duration) RunRecord {
	return RunRecord{LockPath: testPath, Repository: "octo/infra", RunID: runID, RunAttempt: attempt, Job: "apply",
		Written: now.Add(-lockAge).Add(-writtenBeforeLock)}
}

// onHost gives a record the host (and runner) its Terraform ran on.
func onHost(r RunRecord, host string, exclusive bool) RunRecord {
	r.Host, r.HostExclusive, r.RunnerName = host, exclusive, lockRunner
	return r
}

// ended is a completed attempt whose job on lockRunner ended endedAgo ago.
func ended(conclusion string, endedAgo time.Duration) RunState {
	return RunState{Status: "completed", Conclusion: conclusion, Attempt: 1,
		Jobs: []JobState{{Name: "apply", RunnerName: lockRunner, Status: "completed", CompletedAt: now.Add(-endedAgo)}}}
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
		evidence   Evidence // checked when set
	}
	runs := func(m map[int64]RunState) *fakeRuns { return &fakeRuns{runs: m} }
	exclusive := func(r RunRecord) RunRecord { return onHost(r, lockHost, true) }
	const who = "runner@" + lockHost
	cases := []tc{
		// Age rules, no evidence at all.
		{name: "young, no evidence", lock: lockAged(2*time.Minute, who), runs: &fakeRuns{}, want: StatusActive, rule: RuleTooYoung, evidence: EvidenceNone, reason: "within active-within (10m0s)"},
		{name: "old, no evidence", lock: lockAged(2*time.Hour, who), runs: &fakeRuns{}, want: StatusStale, rule: RuleTooOld, evidence: EvidenceNone, reason: "beyond stale-after (30m0s)"},
		{name: "between windows", lock: lockAged(20*time.Minute, who), runs: &fakeRuns{}, want: StatusStale, rule: RuleBetween, reason: "not beyond stale-after"},
		{name: "exactly active-within is not young", lock: lockAged(10*time.Minute, "x@y"), runs: &fakeRuns{}, want: StatusStale, rule: RuleBetween},
		{name: "age unknown", lock: ParseLock(testPath, `{"ID":"test123","Who":"manual-test"}`, Location{}), runs: &fakeRuns{}, want: StatusStale, rule: RuleAgeUnknown, reason: "age unknown"},
		// Anyone can write these words into Who (a user or host name):
		// they speak only past active-within (issue 23).
		{name: "who says cancelled, young", lock: lockAged(5*time.Second, "runner@job-cancelled"), runs: &fakeRuns{}, want: StatusActive, rule: RuleTooYoung},
		{name: "who says cancelled, past active-within", lock: lockAged(15*time.Minute, "runner@job-cancelled"), runs: &fakeRuns{}, want: StatusStale, rule: RuleWhoMarker, reason: "cancelled"},
		{name: "who says FAILED", lock: lockAged(15*time.Minute, "ci@FAILED-host"), want: StatusStale, rule: RuleWhoMarker},
		{name: "who says timeout", lock: lockAged(15*time.Minute, "timeout@h"), want: StatusStale, rule: RuleWhoMarker},

		// The defect of issue 9: a run that ended before the lock was taken
		// cannot own it, however its record reads.
		{name: "foreign lock a minute after a completed run", lock: lockAged(time.Minute, "me@laptop"), records: []RunRecord{record(100, 1, 10*time.Minute, time.Minute)},
			runs: runs(map[int64]RunState{100: ended("success", 2*time.Minute)}), want: StatusActive, rule: RuleTooYoung, evidence: EvidenceNone,
			reason: "run 100 attempt 1 (record of job \"apply\", host unknown) ended 1m0s before this lock was taken: not its owner"},
		{name: "week-old record, fresh foreign lock", lock: lockAged(30*time.Second, "me@laptop"), records: []RunRecord{record(100, 1, 6*24*time.Hour, 30*time.Second)},
			runs: runs(map[int64]RunState{100: ended("failure", 6*24*time.Hour-time.Hour)}), want: StatusActive, rule: RuleTooYoung, evidence: EvidenceNone, reason: "before this lock was taken: not its owner"},
		{name: "foreign lock taken just within clock skew of the run's end", lock: lockAged(time.Minute, "me@laptop"), records: []RunRecord{record(100, 1, time.Minute, time.Minute)},
			runs: runs(map[int64]RunState{100: ended("success", time.Minute-3*time.Second)}), want: StatusActive, rule: RuleTooYoung, evidence: EvidenceNone,
			reason: "ended 3s after this lock was taken, within the 5s clock-skew allowance: not counted as its owner"},
		{name: "record of another host is not evidence", lock: lockAged(time.Minute, who), records: []RunRecord{onHost(record(100, 1, time.Minute, time.Minute), "runnervm9", true)},
			runs: runs(map[int64]RunState{100: ended("cancelled", 0)}), want: StatusActive, rule: RuleTooYoung, evidence: EvidenceNone, reason: `run 100 set up on host "runnervm9", the lock was taken on "fv-az1-1": not its owner`},
		{name: "GitHub cannot say when the run ended", lock: lockAged(time.Minute, who), records: []RunRecord{exclusive(record(100, 1, time.Minute, time.Minute))},
			runs: runs(map[int64]RunState{100: {Status: "completed", Conclusion: "cancelled", Attempt: 1}}), want: StatusActive, rule: RuleTooYoung, evidence: EvidenceNone, reason: "GitHub did not say when run 100 attempt 1"},

		// Definitive: the record's exclusive host is the lock's host, and its job ended after the lock.
		{name: "exclusive host match, job ended after the lock", lock: lockAged(time.Minute, who), records: []RunRecord{exclusive(record(7, 1, time.Minute, time.Minute))},
			runs: runs(map[int64]RunState{7: ended("cancelled", 30*time.Second)}), want: StatusStale, rule: RuleOwnerCompleted, evidence: EvidenceDefinitive, owner: 7,
			reason: "run 7 attempt 1 (record of job \"apply\" on the lock's host, which runs one job at a time) ended 30s after this lock was taken (cancelled): its owner is gone"},
		{name: "exclusive host match, but that runner's job ended before the lock", lock: lockAged(time.Minute, who), records: []RunRecord{exclusive(record(7, 1, 5*time.Minute, time.Minute))},
			runs: runs(map[int64]RunState{7: {Status: "completed", Conclusion: "success", Attempt: 1, Jobs: []JobState{
				{RunnerName: lockRunner, CompletedAt: now.Add(-2 * time.Minute)}, {RunnerName: "GitHub Actions 99", CompletedAt: now}}}}),
			want: StatusActive, rule: RuleTooYoung, evidence: EvidenceNone, reason: "ended 1m0s before this lock was taken"},
		{name: "exclusive host match, record's job not among the jobs: circumstantial", lock: lockAged(time.Minute, who), records: []RunRecord{exclusive(record(7, 1, time.Minute, time.Minute))},
			runs: runs(map[int64]RunState{7: {Status: "completed", Conclusion: "success", Attempt: 1, Jobs: []JobState{{RunnerName: "GitHub Actions 99", CompletedAt: now}}}}),
			want: StatusActive, rule: RuleTooYoung, evidence: EvidenceCircumstantial, owner: 7, reason: "probably its owner, but nothing proves it"},
		{name: "shared host match: circumstantial, age decides", lock: lockAged(time.Minute, who), records: []RunRecord{onHost(record(7, 1, time.Minute, time.Minute), lockHost, false)},
			runs: runs(map[int64]RunState{7: ended("cancelled", 0)}), want: StatusActive, rule: RuleTooYoung, evidence: EvidenceCircumstantial, reason: "which may run other jobs"},
		{name: "host-less record, run ended after the lock, young: age keeps it active", lock: lockAged(time.Minute, who), records: []RunRecord{record(7, 1, time.Minute, time.Minute)},
			runs: runs(map[int64]RunState{7: ended("cancelled", 0)}), want: StatusActive, rule: RuleTooYoung, evidence: EvidenceCircumstantial, owner: 7},
		{name: "host-less record, run ended after the lock, older: stale by age", lock: lockAged(20*time.Minute, who), records: []RunRecord{record(7, 1, time.Minute, 20*time.Minute)},
			runs: runs(map[int64]RunState{7: ended("cancelled", 0)}), want: StatusStale, rule: RuleBetween, evidence: EvidenceCircumstantial},

		// A live candidate keeps the lock, whatever its age and evidence.
		{name: "record: run in_progress, old lock", lock: lockAged(5*time.Hour, who), records: []RunRecord{record(7, 1, time.Minute, 5*time.Hour)},
			runs: runs(map[int64]RunState{7: {Status: "in_progress", Attempt: 1}}), want: StatusActive, rule: RuleOwnerLive, evidence: EvidenceCircumstantial, owner: 7, reason: "is in_progress"},
		{name: "exclusive record: run in_progress", lock: lockAged(5*time.Hour, who), records: []RunRecord{exclusive(record(7, 1, time.Minute, 5*time.Hour))},
			runs: runs(map[int64]RunState{7: {Status: "in_progress", Attempt: 1}}), want: StatusActive, rule: RuleOwnerLive, evidence: EvidenceDefinitive, owner: 7},
		{name: "record written after the lock is ignored", lock: lockAged(2*time.Hour, "x@h"), records: []RunRecord{record(7, 1, -time.Minute, 2*time.Hour)},
			runs: runs(map[int64]RunState{7: {Status: "in_progress", Attempt: 1}}), want: StatusStale, rule: RuleTooOld},
		{name: "record within clock skew counts", lock: lockAged(2*time.Hour, "x@h"), records: []RunRecord{record(7, 1, -2*time.Second, 2*time.Hour)},
			runs: runs(map[int64]RunState{7: {Status: "in_progress", Attempt: 1}}), want: StatusActive, rule: RuleOwnerLive},
		{name: "record of another state is ignored", lock: lockAged(2*time.Hour, "x@h"), records: []RunRecord{{LockPath: otherPath, Repository: "octo/infra", RunID: 7, RunAttempt: 1, Written: now.Add(-3 * time.Hour)}},
			runs: runs(map[int64]RunState{7: {Status: "in_progress", Attempt: 1}}), want: StatusStale, rule: RuleTooOld},
		{name: "several candidates, one live", lock: lockAged(3*time.Hour, "x@h"), records: []RunRecord{record(7, 1, time.Minute, 3*time.Hour), record(8, 1, 2*time.Minute, 3*time.Hour)},
			runs: runs(map[int64]RunState{7: ended("failure", time.Hour), 8: {Status: "queued", Attempt: 1}}), want: StatusActive, rule: RuleOwnerLive, owner: 8},

		// Re-runs: an earlier attempt has ended while the run goes on.
		{name: "re-run: earlier attempt on the lock's exclusive host ended after the lock", lock: lockAged(time.Minute, who), records: []RunRecord{exclusive(record(7, 1, time.Minute, time.Minute))},
			runs: &fakeRuns{runs: map[int64]RunState{7: {Status: "in_progress", Attempt: 2}}, attempts: map[[2]int64]RunState{{7, 1}: ended("cancelled", 20*time.Second)}},
			want: StatusStale, rule: RuleOwnerCompleted, evidence: EvidenceDefinitive, reason: "run 7 attempt 1"},
		{name: "this run never counts as owner (same attempt)", lock: lockAged(time.Minute, "x@h"), records: []RunRecord{record(900, 2, time.Minute, time.Minute)},
			runs: runs(map[int64]RunState{900: {Status: "in_progress", Attempt: 2}}), want: StatusActive, rule: RuleTooYoung},
		{name: "an earlier attempt of this run has ended", lock: lockAged(time.Minute, who), records: []RunRecord{exclusive(record(900, 1, time.Minute, time.Minute))},
			runs: &fakeRuns{attempts: map[[2]int64]RunState{{900, 1}: ended("failure", 10*time.Second)}}, want: StatusStale, rule: RuleOwnerCompleted, evidence: EvidenceDefinitive, reason: "run 900 attempt 1"},

		// Hostname that names the run.
		{name: "gha hostname, run live", lock: lockAged(4*time.Hour, "runner@gha-7-1"), runs: runs(map[int64]RunState{7: {Status: "in_progress", Attempt: 1}}), want: StatusActive, rule: RuleOwnerLive, evidence: EvidenceDefinitive, reason: `hostname "gha-7-1"`},
		{name: "gha hostname without attempt, run completed", lock: lockAged(time.Minute, "runner@GHA-7"), runs: runs(map[int64]RunState{7: {Status: "completed", Conclusion: "success", Attempt: 1,
			Jobs: []JobState{{RunnerName: "GitHub Actions 3", RunnerGroup: HostedRunnerGroup, CompletedAt: now.Add(-10 * time.Second)}}}}), want: StatusStale, rule: RuleOwnerCompleted, evidence: EvidenceDefinitive},
		// Issue 17, case 1: on a persistent self-hosted machine the name
		// outlives the job (and two runner services share it): it names a
		// run, but proves nothing.
		{name: "gha hostname of a self-hosted run, run completed", lock: lockAged(time.Minute, "runner@gha-7-1"), runs: runs(map[int64]RunState{7: {Status: "completed", Conclusion: "success", Attempt: 1,
			Jobs: []JobState{{Name: "deploy", RunnerName: "build01-svc2", RunnerGroup: "Default", CompletedAt: now.Add(-10 * time.Second)}}}}),
			want: StatusActive, rule: RuleTooYoung, evidence: EvidenceCircumstantial, reason: `ran on runner "build01-svc2" of group "Default", not a GitHub-hosted runner`},

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
		{name: "one candidate dead, another unknown: age decides", lock: lockAged(time.Minute, who), records: []RunRecord{exclusive(record(7, 1, time.Minute, time.Minute)), exclusive(record(8, 1, time.Minute, time.Minute))},
			runs: &fakeRuns{runs: map[int64]RunState{8: ended("cancelled", 0)}, errs: map[int64]error{7: apiDown}}, want: StatusActive, rule: RuleTooYoung, evidence: EvidenceNone, apiProblem: true},
		{name: "run not found: age decides", lock: lockAged(time.Minute, "x@h"), records: []RunRecord{record(7, 1, time.Minute, time.Minute)},
			runs: &fakeRuns{}, want: StatusActive, rule: RuleTooYoung, apiProblem: true, reason: "not found"},
		{name: "no token: age decides", lock: lockAged(time.Minute, "x@h"), records: []RunRecord{record(7, 1, time.Minute, time.Minute)},
			want: StatusActive, rule: RuleTooYoung, apiProblem: true, reason: "no GitHub token"},
	}
	for _, status := range []string{"queued", "in_progress", "waiting", "requested", "pending", "action_required"} {
		cases = append(cases, tc{name: "live status " + status, lock: lockAged(48*time.Hour, "x@h"), records: []RunRecord{record(7, 1, time.Minute, 48*time.Hour)},
			runs: runs(map[int64]RunState{7: {Status: status, Attempt: 1}}), want: StatusActive, rule: RuleOwnerLive, owner: 7})
	}
	for _, concl := range []string{"success", "failure", "neutral", "cancelled", "skipped", "timed_out", "action_required", "stale", "startup_failure", ""} {
		cases = append(cases, tc{name: "completed with " + concl, lock: lockAged(30*time.Second, who), records: []RunRecord{exclusive(record(7, 1, time.Minute, 30*time.Second))},
			runs: runs(map[int64]RunState{7: ended(concl, 10*time.Second)}), want: StatusStale, rule: RuleOwnerCompleted, evidence: EvidenceDefinitive, owner: 7})
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
			if c.evidence != "" {
				assert.Equal(t, c.evidence, v.Evidence, v.Reason)
			}
			assert.NotContains(t, v.Reason, "\n")
			if c.owner != 0 {
				if assert.NotNil(t, v.Owner) {
					assert.Equal(t, c.owner, v.Owner.ID)
				}
			}
		})
	}
}
