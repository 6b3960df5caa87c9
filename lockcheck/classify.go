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

// maxHostChecks bounds the other runs recorded on a lock's host (or with no
// host) whose end is looked up before a host match may prove anything. A
// host with more of them than this, written before the lock and not yet
// over, is no proof of anything: the verdict falls back to circumstantial.
const maxHostChecks = 8

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
	// host is the record's host ("" when unknown); exclusive is what the
	// record declared about it.
	host      string
	exclusive bool
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
	// endedBefore: GitHub says the run ended at or before the lock's
	// creation (not merely within the skew allowance after it).
	endedBefore bool
}

// Classify decides one lock. The rules, in order of precedence (the first
// that applies decides):
//
//  1. Any evidence that the holder may be alive makes the lock ACTIVE,
//     whatever its age: a run recorded on the lock's state before the lock
//     was taken (on the lock's host, or on an unknown one) that is not over
//     (any status but completed), at any depth of the records; a run the
//     lock's hostname names that is not over; a live job whose runner's name
//     is the lock's host.
//  2. Definitive evidence of death makes it STALE at once, however young:
//     the one run that can hold it (the only run recorded on the lock's
//     exclusive host before the lock that had not ended when it was
//     taken, or the attempt its hostname names when every job of that
//     attempt ran on GitHub-hosted runners) ended after it was taken.
//  3. Otherwise the age rules decide (byAge). So do they when GitHub could
//     not answer about one of the lock's candidate owners: a 404, an error
//     or a rate limit never makes a lock STALE by itself, and it blocks
//     only this lock.
//
// Run records of another repository than Policy.Repository are never
// evidence (anyone who can write the table can write them).
func (c *Classifier) Classify(ctx context.Context, lock Lock, records []RunRecord) Verdict {
	// Lease evidence (issue 18, lease.go): a live lease, an expired one
	// whose job GitHub says is running (ACTIVE), or an expired one whose
	// job completed (STALE) decides alone; otherwise lock.LeaseNote carries
	// what it showed into the age rules' reason.
	if v, decided := c.classifyByLease(ctx, &lock); decided {
		return v
	}

	v := Verdict{Lock: lock, Evidence: EvidenceNone}
	if !lock.Created.IsZero() {
		v.Age, v.AgeKnown = c.Now().Sub(lock.Created), true
	}

	cands, notes := c.candidates(lock, records)
	if len(cands) > 0 {
		if c.Runs == nil {
			v.APIProblem = "no GitHub token: the runs recorded for this state could not be asked about"
			return c.byAge(v, "owner unknown: "+v.APIProblem)
		}
		done, out := c.decide(ctx, &v, cands, notes)
		if done {
			return out.Verdict
		}
		notes, v = out.notes, out.Verdict
	}
	if v.APIProblem == "" {
		if job, problem := c.liveRunnerFor(ctx, lock); job != nil {
			st := job.Run
			v.Status, v.Rule, v.Evidence, v.Owner = StatusActive, RuleRunnerLive, EvidenceCircumstantial, &st
			v.Reason = fmt.Sprintf("host %q is runner %q of job %q in run %d, which is %s", lock.Host(), job.RunnerName, job.Job, st.ID, st.Status)
			return v
		} else if problem != "" {
			v.APIProblem = problem
		}
	}
	if v.APIProblem != "" {
		return c.byAge(v, "owner unknown: "+v.APIProblem)
	}
	if v.Evidence == EvidenceCircumstantial {
		return c.byAge(v, v.Reason)
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

// decision carries a verdict in the making and the notes for its reason.
type decision struct {
	Verdict
	notes []string
}

// decide applies rules 1 and 2 to the lock's candidates. done means the
// verdict is final (ACTIVE, or STALE with definitive evidence); otherwise
// the returned verdict carries any circumstantial owner or API problem for
// the age rules.
func (c *Classifier) decide(ctx context.Context, v *Verdict, cands []candidate, notes []string) (bool, decision) {
	lock := v.Lock
	out := decision{Verdict: *v, notes: notes}
	var problems []string
	// Rule 1, in bulk: the repository's runs that are not over, listed a
	// few requests per detect, whatever the number of records.
	for _, cand := range cands {
		set, err := c.liveRuns(ctx, cand.ref.Repository)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		if st, ok := set.Runs[cand.ref.ID]; ok && (cand.ref.Attempt == 0 || cand.ref.Attempt >= st.Attempt) {
			st.Repository = cand.ref.Repository
			out.Status, out.Rule, out.Evidence, out.Owner = StatusActive, RuleOwnerLive, cand.strength, &st
			out.Reason = fmt.Sprintf("run %d attempt %d (%s) is %s", cand.ref.ID, max(cand.ref.Attempt, st.Attempt), cand.via, st.Status)
			return true, out
		}
	}
	if len(problems) > 0 {
		out.APIProblem = strings.Join(uniq(problems), "; ")
		return false, out
	}
	// Rule 2: each candidate that could prove death, asked about its own
	// attempt (the listing cannot say when an attempt ended, and a re-run's
	// earlier attempt is not in it). The newest candidate is asked too, so
	// that a reviewer reads which run probably held the lock.
	var circumstantial *finding
	for i, cand := range cands {
		if cand.strength != EvidenceDefinitive && i > 0 {
			continue
		}
		f, err := c.resolve(ctx, lock, cand)
		if err != nil {
			problems = append(problems, fmt.Sprintf("run %d (%s) could not be checked: %v", cand.ref.ID, cand.via, err))
			continue
		}
		switch f.kind {
		case findingLive:
			out.Status, out.Rule, out.Evidence, out.Owner = StatusActive, RuleOwnerLive, f.strength, &f.state
			out.Reason = f.text
			return true, out
		case findingNotOwner:
			out.notes = append(out.notes, f.text)
			continue
		}
		if f.strength == EvidenceDefinitive {
			f = c.confirmSole(ctx, lock, cand, cands, f, &problems)
		}
		if f.kind == findingLive {
			out.Status, out.Rule, out.Evidence, out.Owner = StatusActive, RuleOwnerLive, f.strength, &f.state
			out.Reason = f.text
			return true, out
		}
		if f.strength == EvidenceDefinitive && len(problems) == 0 {
			out.Status, out.Rule, out.Evidence, out.Owner = StatusStale, RuleOwnerCompleted, EvidenceDefinitive, &f.state
			out.Reason = f.text + ": its owner is gone"
			return true, out
		}
		if circumstantial == nil {
			circumstantial = &f
		}
	}
	if len(problems) > 0 {
		out.APIProblem = strings.Join(uniq(problems), "; ")
		return false, out
	}
	if circumstantial != nil {
		out.Evidence, out.Owner = EvidenceCircumstantial, &circumstantial.state
		out.Reason = circumstantial.text + ": probably its owner, but nothing proves it, so age decides"
	}
	return false, out
}

// confirmSole checks that a definitive candidate that ended after the lock
// is the only run that can hold it. For a hostname that names the run:
// every job of that attempt ran on GitHub-hosted runners (a fresh machine
// per job), or a record declares the host exclusive; a name set on a
// persistent machine outlives the job. For a record of an exclusive host:
// every other run recorded on that host (or on no known host) before the
// lock is over, and each one on that host had ended before the lock was
// taken; two runs of one "exclusive" host overlapping in time prove it is
// not. Otherwise the finding is downgraded to circumstantial, with why.
func (c *Classifier) confirmSole(ctx context.Context, lock Lock, cand candidate, cands []candidate, f finding, problems *[]string) finding {
	if cand.named {
		if hosted, why := allHosted(f.state); !hosted && !c.declaredExclusive(cand, cands) {
			f.strength = EvidenceCircumstantial
			f.text += "; " + why + ", and no record declares host " + strconv.Quote(lock.Host()) + " one job at a time, so the name proves nothing"
		}
		return f
	}
	var others []candidate
	for _, o := range cands {
		if (o.ref != cand.ref || !strings.EqualFold(o.runnerName, cand.runnerName)) && !o.named && (o.host == "" || strings.EqualFold(o.host, cand.host)) {
			others = append(others, o)
		}
	}
	if len(others) > maxHostChecks {
		f.strength = EvidenceCircumstantial
		f.text += fmt.Sprintf("; %d other runs were recorded on this host before the lock, too many to rule out", len(others))
		return f
	}
	for _, o := range others {
		g, err := c.resolve(ctx, lock, o)
		if err != nil {
			*problems = append(*problems, fmt.Sprintf("run %d (%s) could not be checked: %v", o.ref.ID, o.via, err))
			continue
		}
		if g.kind == findingLive {
			return g
		}
		if o.host != "" && !g.endedBefore {
			f.strength = EvidenceCircumstantial
			f.text += fmt.Sprintf("; run %d also set up on host %q before the lock and had not ended when it was taken, so the host is not running one job at a time",
				o.ref.ID, o.host)
			return f
		}
	}
	return f
}

// declaredExclusive reports whether a record of the lock's own host,
// written before the lock, declares that host exclusive.
func (c *Classifier) declaredExclusive(named candidate, cands []candidate) bool {
	for _, o := range cands {
		if !o.named && o.exclusive && strings.EqualFold(o.host, named.host) {
			return true
		}
	}
	return false
}

// allHosted reports whether every job of a completed attempt that got a
// runner ran in GitHub's hosted runner group; why says which did not.
func allHosted(st RunState) (bool, string) {
	ran := 0
	for _, j := range st.Jobs {
		if j.RunnerName == "" {
			continue // never ran (skipped, or cancelled before a runner took it)
		}
		ran++
		if j.RunnerGroup != HostedRunnerGroup {
			return false, fmt.Sprintf("job %q of run %d ran on runner %q of group %q, not a GitHub-hosted runner", j.Name, st.ID, j.RunnerName, j.RunnerGroup)
		}
	}
	if ran == 0 {
		return false, fmt.Sprintf("GitHub listed no job of run %d with a runner", st.ID)
	}
	return true, ""
}

// HostedRunnerGroup is the runner group of GitHub-hosted runners, where
// every job gets a fresh machine.
const HostedRunnerGroup = "GitHub Actions"

// liveRuns lists the repository's runs that are not over.
func (c *Classifier) liveRuns(ctx context.Context, repository string) (LiveRunSet, error) {
	set, err := c.Runs.LiveRuns(ctx, repository)
	if err != nil {
		return set, fmt.Errorf("the live runs of %s could not be listed: %v", repository, err)
	}
	if set.Incomplete != "" {
		return set, fmt.Errorf("the live runs of %s were not all listed: %s", repository, set.Incomplete)
	}
	return set, nil
}

func uniq(ss []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// resolve asks GitHub about one candidate and ties it to the lock in time.
func (c *Classifier) resolve(ctx context.Context, lock Lock, cand candidate) (finding, error) {
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
		return finding{kind: findingNotOwner, endedBefore: true, text: fmt.Sprintf("%s ended %s before this lock was taken: not its owner",
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

// Prefetch classifies every lock at once (a few at a time), so that the
// GitHub answers Classify needs are cached when it is then called lock by
// lock. Errors are kept with the answers and reported by Classify.
func (c *Classifier) Prefetch(ctx context.Context, locks []Lock, records []RunRecord) {
	if c.Runs == nil {
		return
	}
	byPath := recordsByPath(records)
	sem := make(chan struct{}, maxConcurrentRunLookups)
	var wg sync.WaitGroup
	for _, l := range locks {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			_ = c.Classify(ctx, l, byPath[l.LockPath])
		}()
	}
	wg.Wait()
}

// byAge applies the original scripts' rules, used when no owner decided.
func (c *Classifier) byAge(v Verdict, why string) Verdict {
	why = withLeaseNote(v.Lock, why) // issue 18: what a lease showed
	young := v.AgeKnown && v.Age < c.Policy.ActiveWithin
	who := strings.ToLower(v.Lock.Info.Who)
	for _, marker := range whoFailureMarkers {
		// Anyone can put these words in Who (a user or host name): they
		// speak only for a lock past active-within.
		if strings.Contains(who, marker) && !young {
			v.Status, v.Rule = StatusStale, RuleWhoMarker
			v.Reason = fmt.Sprintf("%s; Who %q marks a %s run", why, v.Lock.Info.Who, marker)
			return v
		}
	}
	switch {
	case !v.AgeKnown:
		v.Status, v.Rule = StatusStale, RuleAgeUnknown
		v.Reason = why + "; age unknown: the lock has no readable creation time"
	case young:
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

// candidates lists the runs that may own lock: a run named by its hostname,
// then every run record of its path written before it was taken (plus the
// skew allowance) whose host is unknown or the lock's own, newest first.
// Records written after the lock are pipelines it blocked: never its owner.
// notes say why records were passed over, for the reason a person reads.
func (c *Classifier) candidates(lock Lock, records []RunRecord) ([]candidate, []string) {
	type key struct {
		ref            RunRef
		runner, host   string
		named, hostKey bool
	}
	seen := map[key]bool{}
	var out []candidate
	var notes []string
	add := func(cand candidate) {
		k := key{ref: cand.ref, runner: strings.ToLower(cand.runnerName), host: strings.ToLower(cand.host), named: cand.named}
		if seen[k] {
			return
		}
		seen[k] = true
		if c.isCurrentRun(cand.ref) && (cand.ref.Attempt == 0 || cand.ref.Attempt >= c.Policy.Current.Attempt) {
			return // the run doing the checking never counts as an owner
		}
		out = append(out, cand)
	}
	host := lock.Host()
	if m := hostRunPattern.FindStringSubmatch(strings.ToLower(host)); m != nil && c.Policy.Repository != "" {
		id, _ := strconv.ParseInt(m[1], 10, 64)
		attempt, _ := strconv.Atoi(m[2])
		add(candidate{ref: RunRef{Repository: c.Policy.Repository, ID: id, Attempt: attempt}, host: host,
			via: fmt.Sprintf("hostname %q", host), strength: EvidenceDefinitive, named: true})
	}
	var mine []RunRecord
	foreign := 0
	for _, r := range records {
		if r.LockPath != lock.LockPath {
			continue
		}
		if c.Policy.Repository != "" && !strings.EqualFold(r.Repository, c.Policy.Repository) {
			foreign++
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
	if foreign > 0 {
		notes = append(notes, fmt.Sprintf("%d run record(s) of another repository than %s ignored", foreign, c.Policy.Repository))
	}
	sortNewestFirst(mine)
	for _, r := range mine {
		cand := candidate{ref: RunRef{Repository: r.Repository, ID: r.RunID, Attempt: r.RunAttempt},
			strength: EvidenceCircumstantial, runnerName: r.RunnerName, host: r.Host, exclusive: r.HostExclusive}
		switch {
		case r.Host == "":
			cand.via = fmt.Sprintf("record of job %q, host unknown", r.Job)
		case host == "":
			cand.via = fmt.Sprintf("record of job %q; the lock names no host", r.Job)
		case r.HostExclusive && c.Policy.Repository != "":
			// Without github-repository no record can be told from one
			// another repository wrote: none proves anything.
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
