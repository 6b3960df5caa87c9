package lockcheck

import (
	"context"
	"errors"
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
	// age rules call it stale. Removed after a person approves, or by
	// auto-unlock when its evidence is definitive.
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
	// LeaseMargin: a lease expired more than its term plus this long ago,
	// whose job completed, proves its lock dead (0: DefaultLeaseMargin).
	LeaseMargin time.Duration
}

// DefaultRecordSkew allows for clock differences between the runner that
// wrote a run record and the machine whose Terraform took the lock.
const DefaultRecordSkew = 5 * time.Second

// Evidence says how strongly a verdict's owner evidence ties the lock to a
// run: it decides what may happen without a person.
type Evidence string

const (
	// EvidenceDefinitive: the lock's own hostname names the run, or a run
	// record of the same exclusive host (one job per host) was written
	// before the lock by a job that ended after the lock was taken. Nobody
	// else can hold such a lock.
	EvidenceDefinitive Evidence = "definitive"
	// EvidenceCircumstantial: a run record of the state without a host, or
	// of a host that may run several jobs. Enough to keep a lock ACTIVE
	// while that run lives, never enough to call it STALE: age decides.
	EvidenceCircumstantial Evidence = "circumstantial"
	// EvidenceNone: nothing ties the lock to a run; the age rules decided.
	EvidenceNone Evidence = "none"
)

// MaxCandidatesPerLock bounds the run records asked about per lock: the
// latest ones written before the lock. The owner writes its record just
// before it locks; ignoring older records is safe, because no evidence
// means the age rules, never stale.
const MaxCandidatesPerLock = 3

// Verdict is the decision about one lock, with the reason a person reads.
type Verdict struct {
	Lock   Lock
	Status Status
	Rule   Rule
	// Evidence is the strength of the owner evidence behind the verdict.
	Evidence Evidence
	// Reason is one line, the deciding evidence first.
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
	// strength is what a dead candidate proves at best: definitive for a
	// hostname that names the run or an exclusive host match.
	strength Evidence
	// runnerName identifies the record's job among the attempt's jobs.
	runnerName string
	// named: the lock's hostname names the run (no job to match).
	named bool
}

// findingKind is what GitHub's answer makes of a candidate.
type findingKind int

const (
	findingLive     findingKind = iota // its run (attempt) is still running
	findingDead                        // it ended after the lock was taken
	findingNotOwner                    // it ended before the lock, or when is unknown: not evidence
)

type finding struct {
	kind     findingKind
	strength Evidence
	state    RunState
	text     string
}

// Classify decides one lock. Evidence about the owning run comes first; the
// age rules decide when no run could be tied to the lock, when the evidence
// is only circumstantial, or when GitHub could not be asked. Neither an API
// failure nor a record of someone else's run ever turns an age-active lock
// stale.
func (c *Classifier) Classify(ctx context.Context, lock Lock, records []RunRecord) Verdict {
	// Lease evidence (issue 18, lease.go): a live lease, or an expired one
	// whose job completed, decides alone; otherwise lock.LeaseNote carries
	// what it showed into the age rules' reason.
	if v, decided := c.classifyByLease(ctx, &lock); decided {
		return v
	}

	v := Verdict{Lock: lock, Evidence: EvidenceNone}
	if !lock.Created.IsZero() {
		v.Age, v.AgeKnown = c.Now().Sub(lock.Created), true
	}

	cands, notes := c.candidates(lock, records)
	var dead []finding
	var problems []string
	for _, cand := range cands {
		f, err := c.resolve(ctx, lock, cand)
		if err != nil {
			problems = append(problems, fmt.Sprintf("run %d (%s) could not be checked: %v", cand.ref.ID, cand.via, err))
			continue
		}
		switch f.kind {
		case findingLive:
			v.Status, v.Rule, v.Evidence, v.Owner = StatusActive, RuleOwnerLive, f.strength, &f.state
			v.Reason = f.text
			return v
		case findingDead:
			dead = append(dead, f)
		default:
			notes = append(notes, f.text)
		}
	}
	if len(problems) > 0 {
		v.APIProblem = strings.Join(problems, "; ")
		return c.byAge(v, "owner unknown: "+v.APIProblem)
	}
	for _, f := range dead {
		if f.strength == EvidenceDefinitive {
			v.Status, v.Rule, v.Evidence, v.Owner = StatusStale, RuleOwnerCompleted, EvidenceDefinitive, &f.state
			v.Reason = f.text + ": its owner is gone"
			return v
		}
	}
	if len(dead) > 0 {
		f := dead[0]
		v.Evidence, v.Owner = EvidenceCircumstantial, &f.state
		return c.byAge(v, f.text+": probably its owner, but nothing proves it, so age decides")
	}
	if job, problem := c.liveRunnerFor(ctx, lock); job != nil {
		st := job.Run
		v.Status, v.Rule, v.Evidence, v.Owner = StatusActive, RuleRunnerLive, EvidenceCircumstantial, &st
		v.Reason = fmt.Sprintf("host %q is runner %q of job %q in run %d, which is %s", lock.Host(), job.RunnerName, job.Job, st.ID, st.Status)
		return v
	} else if problem != "" {
		v.APIProblem = problem
		return c.byAge(v, "owner unknown: "+problem)
	}
	why := "no owning run identified"
	if len(notes) > 0 {
		why += " (" + notes[0]
		if len(notes) > 1 {
			why += fmt.Sprintf("; %d more", len(notes)-1)
		}
		why += ")"
	}
	return c.byAge(v, why)
}

// resolve asks GitHub about one candidate and ties it to the lock in time.
func (c *Classifier) resolve(ctx context.Context, lock Lock, cand candidate) (finding, error) {
	if c.Runs == nil {
		return finding{}, errors.New("no GitHub token")
	}
	st, attempt, err := c.attemptState(ctx, cand.ref)
	if err != nil {
		return finding{}, err
	}
	name := fmt.Sprintf("run %d attempt %d (%s)", cand.ref.ID, attempt, cand.via)
	if st.Live() {
		return finding{kind: findingLive, strength: cand.strength, state: st, text: fmt.Sprintf("%s is %s", name, st.Status)}, nil
	}
	strength := cand.strength
	ended, matched := st.EndedOn(cand.runnerName)
	if !matched {
		ended = st.Ended()
		if !cand.named {
			// The record's own job is not among the attempt's jobs: the
			// host cannot be tied to a job, so the end is the attempt's.
			strength = EvidenceCircumstantial
		}
	}
	skew := c.Policy.RecordSkew
	switch {
	case ended.IsZero():
		return finding{kind: findingNotOwner, text: fmt.Sprintf("GitHub did not say when %s ended: not evidence", name)}, nil
	case lock.Created.IsZero():
		return finding{kind: findingNotOwner, text: fmt.Sprintf("%s ended, but the lock has no creation time to compare: not evidence", name)}, nil
	case !ended.After(lock.Created):
		return finding{kind: findingNotOwner, text: fmt.Sprintf("%s ended %s before this lock was taken: not its owner",
			name, roundAge(lock.Created.Sub(ended)).String())}, nil
	case ended.Before(lock.Created.Add(skew)):
		// Clock skew counts in the lock's favour: ending up to skew after
		// the lock was taken still clears the run.
		return finding{kind: findingNotOwner, text: fmt.Sprintf("%s ended %s after this lock was taken, within the %s clock-skew allowance: not counted as its owner",
			name, roundAge(ended.Sub(lock.Created)).String(), skew)}, nil
	}
	return finding{kind: findingDead, strength: strength, state: st, text: fmt.Sprintf("%s ended %s after this lock was taken (%s)",
		name, roundAge(ended.Sub(lock.Created)), conclusionOr(st.Conclusion))}, nil
}

// attemptState asks about the attempt a candidate names, or the run's latest
// attempt when it names none; it returns the attempt's number.
func (c *Classifier) attemptState(ctx context.Context, ref RunRef) (RunState, int, error) {
	if ref.Attempt == 0 {
		st, err := c.Runs.Run(ctx, ref.Repository, ref.ID)
		if err != nil || st.Live() {
			return st, st.Attempt, err
		}
		ref.Attempt = max(st.Attempt, 1)
	}
	st, err := c.Runs.Attempt(ctx, ref.Repository, ref.ID, ref.Attempt)
	return st, ref.Attempt, err
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
		cands, _ := c.candidates(l, byPath[l.LockPath])
		for _, cand := range cands {
			if !seen[cand.ref] {
				seen[cand.ref] = true
				refs = append(refs, cand.ref)
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
			_, _, _ = c.attemptState(ctx, ref)
		}()
	}
	wg.Wait()
}

// byAge applies the original scripts' rules, used when no owner decided.
func (c *Classifier) byAge(v Verdict, why string) Verdict {
	why = withLeaseNote(v.Lock, why) // issue 18: what a lease showed
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

// candidates lists the runs that may own lock, at most a few: a run named
// by its hostname, and the latest run records of its path written before it
// was taken whose host is unknown or the lock's own. notes say why records
// were passed over, for the reason a person reads.
func (c *Classifier) candidates(lock Lock, records []RunRecord) ([]candidate, []string) {
	seen := map[RunRef]bool{}
	var out []candidate
	var notes []string
	add := func(cand candidate) {
		if seen[cand.ref] {
			return
		}
		seen[cand.ref] = true
		if c.isCurrentRun(cand.ref) && (cand.ref.Attempt == 0 || cand.ref.Attempt >= c.Policy.Current.Attempt) {
			return // the run doing the checking never counts as an owner
		}
		out = append(out, cand)
	}
	host := lock.Host()
	if m := hostRunPattern.FindStringSubmatch(strings.ToLower(host)); m != nil && c.Policy.Repository != "" {
		id, _ := strconv.ParseInt(m[1], 10, 64)
		attempt, _ := strconv.Atoi(m[2])
		add(candidate{ref: RunRef{Repository: c.Policy.Repository, ID: id, Attempt: attempt},
			via: fmt.Sprintf("hostname %q", host), strength: EvidenceDefinitive, named: true})
	}
	var mine []RunRecord
	for _, r := range records {
		if r.LockPath != lock.LockPath {
			continue
		}
		if !lock.Created.IsZero() && r.Written.After(lock.Created.Add(c.Policy.RecordSkew)) {
			continue // written after the lock was taken: not its owner
		}
		if r.Host != "" && host != "" && !strings.EqualFold(r.Host, host) {
			notes = append(notes, fmt.Sprintf("run %d set up on host %q, the lock was taken on %q: not its owner", r.RunID, r.Host, host))
			continue
		}
		mine = append(mine, r)
	}
	sortNewestFirst(mine)
	for _, r := range mine {
		if len(out) >= MaxCandidatesPerLock {
			break
		}
		cand := candidate{ref: RunRef{Repository: r.Repository, ID: r.RunID, Attempt: r.RunAttempt},
			strength: EvidenceCircumstantial, runnerName: r.RunnerName}
		switch {
		case r.Host == "":
			cand.via = fmt.Sprintf("record of job %q, host unknown", r.Job)
		case host == "":
			cand.via = fmt.Sprintf("record of job %q; the lock names no host", r.Job)
		case r.HostExclusive:
			cand.via = fmt.Sprintf("record of job %q on the lock's host, which runs one job at a time", r.Job)
			cand.strength = EvidenceDefinitive
		default:
			cand.via = fmt.Sprintf("record of job %q on the lock's host, which may run other jobs", r.Job)
		}
		add(cand)
	}
	return out, notes
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
