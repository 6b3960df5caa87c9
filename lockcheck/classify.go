package lockcheck

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Status is a lock's verdict.
type Status string

const (
	// StatusActive: the lock's owner is (or may be) running. Never removed.
	StatusActive Status = "ACTIVE"
	// StatusStale: the owner is gone, or nothing says it is alive and the
	// age rules call it stale. Removed only after a person approves.
	StatusStale Status = "STALE"
)

// Rule names the rule that decided a verdict (stable, for machines).
type Rule string

const (
	RuleOwnerLive      Rule = "owner-run-live"
	RuleOwnerCompleted Rule = "owner-run-completed"
	RuleRunnerLive     Rule = "runner-in-live-run"
	RuleWhoMarker      Rule = "who-marks-failure"
	RuleAgeUnknown     Rule = "age-unknown"
	RuleTooYoung       Rule = "younger-than-active-within"
	RuleTooOld         Rule = "older-than-stale-after"
	RuleBetween        Rule = "between-windows"
)

// RunRef names one attempt of one workflow run. Attempt 0 means unknown.
type RunRef struct {
	Repository string
	ID         int64
	Attempt    int
}

// IsZero reports whether r names no run.
func (r RunRef) IsZero() bool { return r.ID == 0 }

// Policy holds the thresholds and the identity of the run doing the checking.
type Policy struct {
	// ActiveWithin: with no owner evidence, a lock younger than this is active.
	ActiveWithin time.Duration
	// StaleAfter: with no owner evidence, a lock older than this is stale.
	StaleAfter time.Duration
	// Repository ("owner/name") is where hostname-encoded run IDs and
	// self-hosted runner names are looked up. Empty disables both.
	Repository string
	// Current is the run executing this check. It never counts as an owner.
	Current RunRef
	// RecordSkew tolerates clocks: a run record written up to this long
	// after the lock's creation still names a candidate owner.
	RecordSkew time.Duration
}

// DefaultRecordSkew allows for clock differences between the runner that
// wrote a run record and the machine whose Terraform took the lock.
const DefaultRecordSkew = 5 * time.Second

// Verdict is the decision about one lock, with the reason a person reads.
type Verdict struct {
	Lock     Lock
	Status   Status
	Rule     Rule
	Reason   string
	Owner    *RunState // the run that decided, when one did
	Age      time.Duration
	AgeKnown bool
	// APIProblem is set when GitHub could not be asked about this lock's
	// candidate owners; the age rules decided instead.
	APIProblem string
}

// Classifier applies Policy to locks, asking Runs about candidate owners.
type Classifier struct {
	Policy Policy
	// Runs answers about workflow runs; nil when there is no GitHub access
	// (no token, or running outside Actions without one).
	Runs Runs
	Now  func() time.Time
}

// hostRunPattern is the documented hostname convention that names a run:
// gha-<run_id> or gha-<run_id>-<run_attempt> (set with `sudo hostname ...`
// before Terraform runs).
var hostRunPattern = regexp.MustCompile(`^gha-([0-9]{1,19})(?:-([0-9]{1,9}))?$`)

// whoFailureMarkers are words the original scripts looked for in Who.
var whoFailureMarkers = []string{"cancelled", "failed", "timeout"}

// candidate is a run that may own a lock, and how we know.
type candidate struct {
	ref RunRef
	via string
}

// Classify decides one lock. Evidence about the owning run comes first; the
// age rules decide only when no run could be tied to the lock, or GitHub
// could not be asked. An API failure never turns an age-active lock stale.
func (c *Classifier) Classify(ctx context.Context, lock Lock, records []RunRecord) Verdict {
	v := Verdict{Lock: lock}
	if !lock.Created.IsZero() {
		v.Age, v.AgeKnown = c.Now().Sub(lock.Created), true
	}

	cands := c.candidates(lock, records)
	var dead []string
	var problems []string
	for _, cand := range cands {
		if c.isCurrentRun(cand.ref) {
			if cand.ref.Attempt > 0 && cand.ref.Attempt < c.Policy.Current.Attempt {
				dead = append(dead, fmt.Sprintf("attempt %d of this run (%s) has ended: this is attempt %d",
					cand.ref.Attempt, cand.via, c.Policy.Current.Attempt))
			}
			continue // the run doing the checking never counts as an owner
		}
		if c.Runs == nil {
			problems = append(problems, fmt.Sprintf("run %d (%s) could not be checked: no GitHub token", cand.ref.ID, cand.via))
			continue
		}
		st, err := c.Runs.Run(ctx, cand.ref.Repository, cand.ref.ID)
		if err != nil {
			problems = append(problems, fmt.Sprintf("run %d (%s) could not be checked: %v", cand.ref.ID, cand.via, err))
			continue
		}
		switch {
		case st.Live() && cand.ref.Attempt > 0 && st.Attempt > cand.ref.Attempt:
			dead = append(dead, fmt.Sprintf("attempt %d of run %d (%s) has ended: the run is on attempt %d",
				cand.ref.Attempt, st.ID, cand.via, st.Attempt))
			if v.Owner == nil {
				v.Owner = &st
			}
		case st.Live():
			v.Status, v.Rule, v.Owner = StatusActive, RuleOwnerLive, &st
			v.Reason = fmt.Sprintf("owning run %d (%s) is %s", st.ID, cand.via, st.Status)
			return v
		default:
			dead = append(dead, fmt.Sprintf("owning run %d (%s) completed (%s)", st.ID, cand.via, conclusionOr(st.Conclusion)))
			if v.Owner == nil {
				v.Owner = &st
			}
		}
	}
	if len(problems) > 0 {
		v.APIProblem = strings.Join(problems, "; ")
		v.Owner = nil
		return c.byAge(v, "owner unknown: "+v.APIProblem)
	}
	if len(dead) > 0 {
		v.Status, v.Rule = StatusStale, RuleOwnerCompleted
		v.Reason = strings.Join(dead, "; ")
		return v
	}
	if len(cands) == 0 {
		if job, problem := c.liveRunnerFor(ctx, lock); job != nil {
			st := job.Run
			v.Status, v.Rule, v.Owner = StatusActive, RuleRunnerLive, &st
			v.Reason = fmt.Sprintf("host %q is runner %q of job %q in run %d, which is %s", lock.Host(), job.RunnerName, job.Job, st.ID, st.Status)
			return v
		} else if problem != "" {
			v.APIProblem = problem
			return c.byAge(v, "owner unknown: "+problem)
		}
	}
	return c.byAge(v, "no owning run identified")
}

// maxConcurrentRunLookups bounds parallel GitHub requests, far below the
// API's secondary limit on concurrent requests.
const maxConcurrentRunLookups = 4

// Prefetch asks GitHub about every candidate owner of locks at once (a few
// at a time), so that Classify then finds the answers cached. Errors are
// kept with the answers and reported by Classify.
func (c *Classifier) Prefetch(ctx context.Context, locks []Lock, records []RunRecord) {
	if c.Runs == nil {
		return
	}
	seen := map[RunRef]bool{}
	var refs []RunRef
	byPath := recordsByPath(records)
	for _, l := range locks {
		for _, cand := range c.candidates(l, byPath[l.LockPath]) {
			ref := RunRef{Repository: cand.ref.Repository, ID: cand.ref.ID}
			if !seen[ref] && !c.isCurrentRun(ref) {
				seen[ref] = true
				refs = append(refs, ref)
			}
		}
	}
	sem := make(chan struct{}, maxConcurrentRunLookups)
	var wg sync.WaitGroup
	for _, ref := range refs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			_, _ = c.Runs.Run(ctx, ref.Repository, ref.ID)
		}()
	}
	wg.Wait()
}

// byAge applies the original scripts' rules, used when no owner decided.
func (c *Classifier) byAge(v Verdict, why string) Verdict {
	who := strings.ToLower(v.Lock.Info.Who)
	for _, marker := range whoFailureMarkers {
		if strings.Contains(who, marker) {
			v.Status, v.Rule = StatusStale, RuleWhoMarker
			v.Reason = fmt.Sprintf("%s; Who %q marks a %s run", why, v.Lock.Info.Who, marker)
			return v
		}
	}
	switch {
	case !v.AgeKnown:
		v.Status, v.Rule = StatusStale, RuleAgeUnknown
		v.Reason = why + "; age unknown: the lock has no readable creation time"
	case v.Age < c.Policy.ActiveWithin:
		v.Status, v.Rule = StatusActive, RuleTooYoung
		v.Reason = fmt.Sprintf("%s; created %s ago, within active-within (%s)", why, roundAge(v.Age), c.Policy.ActiveWithin)
	case v.Age > c.Policy.StaleAfter:
		v.Status, v.Rule = StatusStale, RuleTooOld
		v.Reason = fmt.Sprintf("%s; created %s ago, beyond stale-after (%s)", why, roundAge(v.Age), c.Policy.StaleAfter)
	default:
		v.Status, v.Rule = StatusStale, RuleBetween
		v.Reason = fmt.Sprintf("%s; created %s ago, past active-within (%s) but not beyond stale-after (%s)",
			why, roundAge(v.Age), c.Policy.ActiveWithin, c.Policy.StaleAfter)
	}
	return v
}

// candidates lists the runs that may own lock: run records for its path
// written before it was taken, and a run named by its hostname.
func (c *Classifier) candidates(lock Lock, records []RunRecord) []candidate {
	seen := map[RunRef]bool{}
	var out []candidate
	add := func(ref RunRef, via string) {
		if !seen[ref] {
			seen[ref] = true
			out = append(out, candidate{ref, via})
		}
	}
	for _, r := range records {
		if r.LockPath != lock.LockPath {
			continue
		}
		if !lock.Created.IsZero() && r.Written.After(lock.Created.Add(c.Policy.RecordSkew)) {
			continue // written after the lock was taken: not its owner
		}
		add(RunRef{Repository: r.Repository, ID: r.RunID, Attempt: r.RunAttempt},
			fmt.Sprintf("run record of job %q", r.Job))
	}
	if m := hostRunPattern.FindStringSubmatch(strings.ToLower(lock.Host())); m != nil && c.Policy.Repository != "" {
		id, _ := strconv.ParseInt(m[1], 10, 64)
		attempt, _ := strconv.Atoi(m[2])
		add(RunRef{Repository: c.Policy.Repository, ID: id, Attempt: attempt}, fmt.Sprintf("hostname %q", lock.Host()))
	}
	return out
}

// liveRunnerFor finds a live job whose runner's name is the lock's host
// (self-hosted and Kubernetes runners). A problem string means GitHub could
// not be asked.
func (c *Classifier) liveRunnerFor(ctx context.Context, lock Lock) (*RunnerJob, string) {
	host := lock.Host()
	if c.Runs == nil || c.Policy.Repository == "" || host == "" {
		return nil, ""
	}
	jobs, err := c.Runs.LiveRunnerJobs(ctx, c.Policy.Repository)
	if err != nil {
		return nil, fmt.Sprintf("live runners could not be listed: %v", err)
	}
	for i, j := range jobs {
		if strings.EqualFold(j.RunnerName, host) && !c.isCurrentRun(RunRef{Repository: j.Run.Repository, ID: j.Run.ID}) {
			return &jobs[i], ""
		}
	}
	return nil, ""
}

func (c *Classifier) isCurrentRun(r RunRef) bool {
	cur := c.Policy.Current
	return !cur.IsZero() && r.ID == cur.ID && strings.EqualFold(r.Repository, cur.Repository)
}

func conclusionOr(c string) string {
	if c == "" {
		return "no conclusion"
	}
	return c
}

// roundAge prints an age to the second.
func roundAge(d time.Duration) time.Duration { return d.Round(time.Second) }
