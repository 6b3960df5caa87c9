package lockcheck

// The model-based checker. It generates random histories of CI runs, hosts,
// setups and locks whose truth is known (who holds each lock, whether that
// holder is alive), writes the run records through the real record writer,
// and runs the real Detector, AutoUnlock and Unlock in process against a
// stand-in for GitHub that answers from the same history (with 404s and
// errors injected). It asserts both ways:
//
//   - safety: no lock whose holder is alive is removed by auto-unlock; and
//     no live lock whose holder recorded its run before locking (and that
//     GitHub answers about) is offered for approval or removed by unlock;
//   - usefulness: every lock whose holder is proven dead under the
//     documented rules is removed by auto-unlock.
//
// Histories are built to reach the places where evidence has been wrong
// before: persistent machines whose gha-<run>-<attempt> name outlives the
// job, ephemeral containers sharing one declared-exclusive hostname, bursts
// of blocked pipelines setting up after a lock, matrix legs sharing a job
// key, another repository's runs this token cannot see, and re-runs.
//
// Replay one history with TFSTATE_GUARD_MODEL_SEED=<seed> and
// TFSTATE_GUARD_MODEL_HISTORIES=1; the long form is
// TFSTATE_GUARD_MODEL_HISTORIES=200000.

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

const (
	modelRepo        = "octo/infra"
	modelForeignRepo = "octo/other"
	modelTable       = "model-locks"
	hostedGroup      = "GitHub Actions"
)

// holderKind is how the holder of a lock runs Terraform.
type holderKind string

const (
	kindHosted     holderKind = "hosted"      // GitHub-hosted: a fresh, uniquely named machine per job
	kindHostedGHA  holderKind = "hosted-gha"  // the same, renamed gha-<run>-<attempt> before Terraform
	kindShared     holderKind = "shared-name" // ephemeral containers sharing their VM's hostname, declared exclusive
	kindPersistent holderKind = "persistent"  // a persistent self-hosted machine with two runner services
	kindRenamed    holderKind = "persistent-renamed"
	kindMatrix     holderKind = "matrix" // hosted, with a second leg of the same job key
	kindForeign    holderKind = "foreign"
	kindLaptop     holderKind = "laptop"
	kindHeld       holderKind = "held" // a lock held on purpose (tacos-gha style), matched by hold-locks
	// kindWrapper: a job on a persistent self-hosted machine (no other
	// evidence can prove its death) running Terraform under tfstate-guard
	// run, which renews a lease beside its lock until it stops; fencing
	// stops Terraform before a lease it cannot renew expires. Variants: a
	// wrapper frozen alone (Terraform runs on, the lease expires), a
	// laptop's wrapper (no run in its lease), and a forged lease naming
	// another repository's completed run beside a live lock.
	kindWrapper       holderKind = "wrapper"
	kindWrapperFrozen holderKind = "wrapper-frozen"
	kindWrapperLaptop holderKind = "wrapper-laptop"
	kindForgedLease   holderKind = "forged-lease"
	kindNone          holderKind = "none" // records only, no lock
)

// mJob is one job of one attempt, as the history knows it.
type mJob struct {
	repo      string
	run       int64
	attempt   int
	key       string // GITHUB_JOB
	name      string // display name
	runner    string // runner_name
	group     string // runner_group_name
	host      string // hostname setup recorded ("" when no setup)
	exclusive bool   // what setup declared
	setup     time.Time
	path      string // the state it set up for
	start     time.Time
	end       time.Time // zero: still running
}

func (j *mJob) alive() bool { return j.end.IsZero() }

// mLock is one lock and the truth about its holder.
type mLock struct {
	path    string
	id      string
	who     string
	created time.Time
	kind    holderKind
	holder  *mJob // nil: a laptop
	alive   bool
	lease   *Lease // the lease beside it, if any
	blocked int    // pipelines that set up after it (blocked by it)
	shared  int    // other pipelines that set up on the holder's host before it
}

type history struct {
	seed      uint64
	now       time.Time
	jobs      []*mJob
	locks     []*mLock
	faults    map[int64]error
	listFault bool
	current   RunRef
}

var errModelServer = fmt.Errorf("GitHub answered 502 Bad Gateway")

// genHistory builds one random history from seed.
func genHistory(seed uint64) *history {
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	h := &history{seed: seed, now: time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC), faults: map[int64]error{}}
	nextRun := int64(1000)
	newRun := func() int64 { nextRun += 1 + int64(r.IntN(7)); return nextRun }
	hosts := 0
	hostedName := func() string { hosts++; return fmt.Sprintf("runnervm%04d", hosts) }
	dur := func(lo, hi time.Duration) time.Duration { return lo + time.Duration(r.Int64N(int64(hi-lo)+1)) }
	addJob := func(j *mJob) *mJob {
		if j.name == "" {
			j.name = j.key
		}
		h.jobs = append(h.jobs, j)
		return j
	}
	// endAfter ends a job at a random time after t, or leaves it running.
	endAfter := func(j *mJob, t time.Time, pAlive float64) {
		if r.Float64() < pAlive || !t.Before(h.now) {
			return
		}
		j.end = t.Add(time.Duration(r.Int64N(int64(h.now.Sub(t)) + 1)))
	}

	ages := []time.Duration{3 * time.Second, 90 * time.Second, 12 * time.Minute, 45 * time.Minute, 3 * time.Hour, 30 * time.Hour}
	kinds := []holderKind{kindHosted, kindHosted, kindHosted, kindHostedGHA, kindShared, kindShared, kindPersistent, kindRenamed, kindRenamed,
		kindMatrix, kindMatrix, kindForeign, kindForeign, kindLaptop, kindHeld, kindNone,
		kindWrapper, kindWrapper, kindWrapperFrozen, kindWrapperLaptop, kindForgedLease}
	nStates := 1 + r.IntN(3)
	for i := 0; i < nStates; i++ {
		path := fmt.Sprintf("bkt/s%d/terraform.tfstate", i)
		kind := kinds[r.IntN(len(kinds))]
		created := h.now.Add(-ages[r.IntN(len(ages))])
		l := &mLock{path: path, kind: kind, created: created, id: fmt.Sprintf("%08x-0000-4000-8000-%012x", seed&0xffffffff, i)}

		// Older history on this state: runs that set up and ended before it.
		for k := r.IntN(4); k > 0; k-- {
			start := created.Add(-dur(time.Hour, 48*time.Hour))
			j := addJob(&mJob{repo: modelRepo, run: newRun(), attempt: 1, key: "apply", runner: "GitHub Actions 9", group: hostedGroup,
				host: hostedName(), exclusive: true, path: path, start: start, setup: start.Add(10 * time.Second)})
			j.end = j.setup.Add(dur(time.Minute, 20*time.Minute))
		}

		if kind == kindLaptop {
			l.who = "alice@alices-mbp"
			l.alive = r.IntN(2) == 0
		}
		if kind == kindHeld {
			// Held for as long as a pull request is open: alive, and
			// older than any age rule; a Who marker word must not matter.
			l.who, l.alive = fmt.Sprintf("tacos@pr-%d-failed", 1+r.IntN(99)), true
		}
		if kind == kindWrapperLaptop {
			// A laptop's wrapper: alive and renewing, or gone (closed lid,
			// crash) with its lease long expired. No run proves anything.
			l.who, l.alive = "bob@bobs-mbp", r.IntN(2) == 0
			renewed := h.now.Add(-dur(0, modelLeaseInterval))
			if !l.alive {
				renewed = l.created.Add(dur(0, h.now.Sub(l.created)))
			}
			l.lease = &Lease{LockPath: path, LockID: l.id, Host: "bobs-mbp", PID: 4242, RenewedAt: renewed, ReadAt: h.now, TermSeconds: modelLeaseTerm.Seconds()}
		}
		if kind == kindNone || kind == kindLaptop || kind == kindHeld || kind == kindWrapperLaptop {
			if kind != kindNone {
				h.locks = append(h.locks, l)
			}
			continue
		}

		j := &mJob{repo: modelRepo, run: newRun(), attempt: 1, key: "apply", path: path}
		j.start = created.Add(-dur(20*time.Second, 3*time.Minute))
		j.setup = j.start.Add(dur(2*time.Second, 15*time.Second))
		if !j.setup.Before(created) {
			j.setup = created.Add(-time.Second)
		}
		if r.IntN(10) == 0 && kind != kindShared {
			j.setup = time.Time{} // a job that never ran setup
		}
		hostName := ""
		switch kind {
		case kindHosted, kindMatrix, kindForeign:
			hostName, j.runner, j.group, j.exclusive = hostedName(), fmt.Sprintf("GitHub Actions %d", 100+r.IntN(900)), hostedGroup, true
			if kind == kindForeign {
				j.repo = modelForeignRepo
				if r.IntN(5) < 4 {
					h.faults[j.run] = ErrRunNotFound // this token cannot see it
				}
			}
		case kindHostedGHA:
			hostName, j.runner, j.group, j.exclusive = fmt.Sprintf("gha-%d-%d", j.run, j.attempt), "GitHub Actions 7", hostedGroup, true
		case kindShared:
			hostName, j.runner, j.group, j.exclusive = fmt.Sprintf("ephvm%d", i), fmt.Sprintf("eph-%d", j.run), "ephemeral", true
		case kindPersistent, kindRenamed, kindWrapper, kindWrapperFrozen, kindForgedLease:
			hostName, j.runner, j.group = "build01", "build01-svc1", "self-hosted"
			if kind == kindRenamed {
				// The other runner service's job renamed the whole machine
				// gha-<its run>-1 before this job set up and locked.
				o := addJob(&mJob{repo: modelRepo, run: newRun(), attempt: 1, key: "deploy", runner: "build01-svc2", group: "self-hosted",
					start: j.start.Add(-dur(time.Second, 10*time.Minute))})
				endAfter(o, created.Add(time.Second), 0.3)
				hostName = fmt.Sprintf("gha-%d-%d", o.run, o.attempt)
				if r.IntN(3) == 0 {
					o.host, o.path, o.setup = hostName, path, o.start.Add(time.Second)
					if !o.setup.Before(created) {
						o.setup = time.Time{}
					}
				}
			}
		}
		if !j.setup.IsZero() {
			j.host = hostName
		}
		l.who = "runner@" + hostName
		l.holder = addJob(j)
		endAfter(j, created, 0.5)
		l.alive = j.alive()
		switch kind {
		case kindWrapper, kindWrapperFrozen:
			// The wrapper renews until the job ends (the runner ends every
			// process of a completed job); a frozen wrapper stopped renewing
			// at some point while Terraform and the job run on.
			last := h.now
			if !j.alive() {
				last = j.end
			}
			if kind == kindWrapperFrozen {
				last = created.Add(dur(0, last.Sub(created)))
			}
			renewed := last.Add(-dur(0, modelLeaseInterval))
			if renewed.Before(created) {
				renewed = created
			}
			l.lease = &Lease{LockPath: path, LockID: l.id, Host: hostName, PID: 77, RenewedAt: renewed, ReadAt: h.now, TermSeconds: modelLeaseTerm.Seconds(),
				Repository: j.repo, RunID: j.run, RunAttempt: j.attempt, Job: j.key, RunnerName: j.runner}
		case kindForgedLease:
			// Someone with write access plants a lease for this (live or
			// dead) lock naming their own repository's completed run.
			f := addJob(&mJob{repo: modelForeignRepo, run: newRun(), attempt: 1, key: "x", runner: "GitHub Actions 2", group: hostedGroup,
				start: created.Add(-time.Hour), end: created.Add(-time.Minute)})
			l.lease = &Lease{LockPath: path, LockID: l.id, Host: hostName, PID: 1, RenewedAt: created.Add(-time.Hour), ReadAt: h.now, TermSeconds: modelLeaseTerm.Seconds(),
				Repository: f.repo, RunID: f.run, RunAttempt: 1, Job: "x", RunnerName: f.runner}
		}

		if kind == kindMatrix {
			leg := addJob(&mJob{repo: j.repo, run: j.run, attempt: j.attempt, key: j.key, name: j.key + " (eu-west-1)", runner: fmt.Sprintf("GitHub Actions %d", 1000+r.IntN(900)),
				group: hostedGroup, host: hostedName(), exclusive: true, path: path, start: j.start})
			leg.setup = j.start.Add(dur(2*time.Second, 100*time.Second))
			if leg.setup.After(h.now) {
				leg.setup = h.now
			}
			endAfter(leg, leg.setup.Add(time.Second), 0.3)
			j.name = j.key + " (eu-west-2)"
		}
		if kind == kindShared {
			// Other containers on the same VM set up between the holder's
			// setup and its lock, then timed out on it.
			for k := r.IntN(5); k > 0; k-- {
				o := addJob(&mJob{repo: modelRepo, run: newRun(), attempt: 1, key: "apply", runner: fmt.Sprintf("eph-x%d", k), group: "ephemeral",
					host: hostName, exclusive: true, path: path})
				o.setup = j.setup.Add(time.Duration(r.Int64N(int64(created.Sub(j.setup)) + 1)))
				o.start = o.setup.Add(-time.Second)
				endAfter(o, created.Add(time.Second), 0.3)
				l.shared++
			}
		}
		// Pipelines blocked by the lock: they set up after it was taken.
		blocked := []int{0, 0, 0, 1, 3, 8, 35, 35}[r.IntN(8)]
		if r.IntN(1000) == 0 {
			blocked = 500
		}
		for k := 0; k < blocked; k++ {
			o := &mJob{repo: modelRepo, run: newRun(), attempt: 1, key: "apply", runner: "GitHub Actions 5", group: hostedGroup,
				host: hostedName(), exclusive: true, path: path}
			if kind == kindShared {
				o.host, o.group, o.runner = hostName, "ephemeral", fmt.Sprintf("eph-b%d", k)
			}
			o.setup = created.Add(time.Second + time.Duration(r.Int64N(int64(h.now.Sub(created))+1)))
			if o.setup.After(h.now) {
				o.setup = h.now
			}
			o.start = o.setup.Add(-time.Second)
			endAfter(addJob(o), o.setup.Add(time.Second), 0.2)
			l.blocked++
		}
		// A re-run: attempt 1 took the lock and ended; attempt 2 runs now.
		if !j.alive() && j.repo == modelRepo && r.IntN(6) == 0 {
			a2 := addJob(&mJob{repo: j.repo, run: j.run, attempt: 2, key: j.key, name: j.name, runner: "GitHub Actions 3", group: hostedGroup,
				start: j.end.Add(time.Second)})
			if a2.start.After(h.now) {
				a2.start = h.now
			}
			if r.IntN(2) == 0 {
				h.current = RunRef{Repository: a2.repo, ID: a2.run, Attempt: 2}
			}
		}
		h.locks = append(h.locks, l)
	}
	if h.current.IsZero() {
		c := addJob(&mJob{repo: modelRepo, run: newRun(), attempt: 1, key: "detect", runner: "GitHub Actions 1", group: hostedGroup, start: h.now.Add(-time.Minute)})
		h.current = RunRef{Repository: c.repo, ID: c.run, Attempt: 1}
	}
	for _, j := range h.jobs {
		if _, set := h.faults[j.run]; !set && j.repo == modelRepo && r.IntN(40) == 0 {
			h.faults[j.run] = errModelServer
		}
	}
	h.listFault = r.IntN(25) == 0
	return h
}

// modelRuns answers about runs from the history, as GitHub would at h.now.
type modelRuns struct {
	h *history
}

var _ Runs = (*modelRuns)(nil)

func (m *modelRuns) attemptJobs(repo string, id int64, attempt int) []*mJob {
	var out []*mJob
	for _, j := range m.h.jobs {
		if j.repo == repo && j.run == id && j.attempt == attempt {
			out = append(out, j)
		}
	}
	return out
}

func (m *modelRuns) latest(repo string, id int64) int {
	n := 0
	for _, j := range m.h.jobs {
		if j.repo == repo && j.run == id && j.attempt > n {
			n = j.attempt
		}
	}
	return n
}

func (m *modelRuns) state(repo string, id int64, attempt int) (RunState, error) {
	if err := m.h.faults[id]; err != nil {
		return RunState{}, fmt.Errorf("get run %d of %s: %w", id, repo, err)
	}
	jobs := m.attemptJobs(repo, id, attempt)
	if len(jobs) == 0 {
		return RunState{}, fmt.Errorf("get run %d of %s: %w", id, repo, ErrRunNotFound)
	}
	st := RunState{Repository: repo, ID: id, Attempt: attempt, Status: "completed", Conclusion: "failure", Workflow: "terraform",
		URL: fmt.Sprintf("https://github.com/%s/actions/runs/%d", repo, id)}
	for _, j := range jobs {
		if j.alive() {
			st.Status, st.Conclusion = "in_progress", ""
		}
	}
	if st.Status != "completed" {
		return st, nil
	}
	for _, j := range jobs {
		st.Jobs = append(st.Jobs, JobState{Name: j.name, RunnerName: j.runner, RunnerGroup: j.group, Status: "completed", StartedAt: j.start, CompletedAt: j.end})
	}
	return st, nil
}

func (m *modelRuns) Run(_ context.Context, repo string, id int64) (RunState, error) {
	return m.state(repo, id, m.latest(repo, id))
}

func (m *modelRuns) Attempt(_ context.Context, repo string, id int64, attempt int) (RunState, error) {
	return m.state(repo, id, attempt)
}

func (m *modelRuns) LiveRuns(_ context.Context, repo string) (LiveRunSet, error) {
	if m.h.listFault {
		return LiveRunSet{}, fmt.Errorf("list live runs of %s: %w", repo, errModelServer)
	}
	set := LiveRunSet{Repository: repo, Runs: map[int64]RunState{}}
	for _, j := range m.h.jobs {
		if j.repo != repo || !j.alive() || j.attempt != m.latest(repo, j.run) {
			continue
		}
		set.Runs[j.run] = RunState{Repository: repo, ID: j.run, Attempt: j.attempt, Status: "in_progress"}
	}
	return set, nil
}

func (m *modelRuns) LiveRunnerJobs(_ context.Context, repo string) ([]RunnerJob, error) {
	if m.h.listFault {
		return nil, fmt.Errorf("list in-progress runs of %s: %w", repo, errModelServer)
	}
	var out []RunnerJob
	for _, j := range m.h.jobs {
		if j.repo == repo && j.alive() && j.attempt == m.latest(repo, j.run) {
			out = append(out, RunnerJob{RunnerName: j.runner, Job: j.name, Run: RunState{Repository: repo, ID: j.run, Attempt: j.attempt, Status: "in_progress"}})
		}
	}
	return out, nil
}

// memTable is an in-memory DynamoDB table for the record writer: the model
// is sequential, so conditions never fail and are not evaluated (the real
// conditional writes are tested against real servers elsewhere).
type memTable struct {
	mu    sync.Mutex
	items map[string]map[string]types.AttributeValue
}

func (t *memTable) GetItem(_ context.Context, in *dynamodb.GetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return &dynamodb.GetItemOutput{Item: t.items[stringAttr(in.Key, attrLockID)]}, nil
}

func (t *memTable) PutItem(_ context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.items[stringAttr(in.Item, attrLockID)] = in.Item
	return &dynamodb.PutItemOutput{}, nil
}

// modelStore is the lock table as the history left it.
type modelStore struct {
	table  *memTable
	locks  map[string]Lock
	leases []Lease
}

var _ Store = (*modelStore)(nil)

func (s *modelStore) Name() string                  { return "model table" }
func (s *modelStore) Holds(loc Location) bool       { return loc.Source == SourceDynamoDB }
func (s *modelStore) Check(_ context.Context) error { return nil }

func (s *modelStore) Snapshot(_ context.Context) (Snapshot, error) {
	var snap Snapshot
	for _, l := range s.locks {
		snap.Locks = append(snap.Locks, l)
	}
	sort.Slice(snap.Locks, func(i, j int) bool { return snap.Locks[i].LockPath < snap.Locks[j].LockPath })
	snap.Leases = append(snap.Leases, s.leases...)
	for _, item := range s.table.items {
		rec, err := parseStateRecord(item)
		if err != nil {
			snap.skip("unreadable run record")
			continue
		}
		snap.Records = append(snap.Records, rec.Runs...)
	}
	return snap, nil
}

func (s *modelStore) Current(_ context.Context, lockPath string, loc Location) (string, Location, bool, error) {
	l, ok := s.locks[lockPath]
	if !ok {
		return "", loc, false, nil
	}
	return l.Raw, loc, true, nil
}

func (s *modelStore) RemoveIfUnchanged(_ context.Context, lockPath, raw string, _ Location) error {
	l, ok := s.locks[lockPath]
	if !ok || l.Raw != raw {
		return ErrLockChanged
	}
	delete(s.locks, lockPath)
	return nil
}

// build writes every setup's record through the real writer, in time
// order, and places the locks.
func (h *history) build(ctx context.Context) (*modelStore, error) {
	s := &modelStore{table: &memTable{items: map[string]map[string]types.AttributeValue{}}, locks: map[string]Lock{}}
	var setups []*mJob
	for _, j := range h.jobs {
		if !j.setup.IsZero() && j.path != "" {
			setups = append(setups, j)
		}
	}
	sort.SliceStable(setups, func(a, b int) bool { return setups[a].setup.Before(setups[b].setup) })
	for _, j := range setups {
		err := WriteRunRecord(ctx, s.table, modelTable, RunRecord{LockPath: j.path, Repository: j.repo, RunID: j.run, RunAttempt: j.attempt,
			Job: j.key, Workflow: "terraform", RunnerName: j.runner, Host: j.host, HostExclusive: j.exclusive, Written: j.setup})
		if err != nil {
			return nil, err
		}
	}
	for _, l := range h.locks {
		info, _ := json.Marshal(Info{ID: l.id, Operation: "OperationTypeApply", Who: l.who, Version: "1.11.4",
			Created: l.created.Format(time.RFC3339Nano), Path: l.path})
		s.locks[l.path] = ParseLock(l.path, string(info), Location{Source: SourceDynamoDB, Table: modelTable})
		if l.lease != nil {
			s.leases = append(s.leases, *l.lease)
		}
	}
	return s, nil
}

// modelSkew is the clock-skew allowance the model's detect runs with.
const modelSkew = 5 * time.Second

// The wrapper's lease as the model runs it: renewed every interval for a
// term; detect's margin past the term.
const (
	modelLeaseInterval = 15 * time.Second
	modelLeaseTerm     = time.Minute
	modelLeaseMargin   = 2 * time.Minute
)

// protected says whether the documented rules promise that lock l, whose
// holder is alive, is never offered nor removed: its holder recorded its
// run on the lock's host before locking, and GitHub answers about it.
func (h *history) protected(l *mLock) bool {
	j := l.holder
	return l.alive && j != nil && j.repo == modelRepo && !j.setup.IsZero() && !j.setup.After(l.created.Add(modelSkew)) &&
		strings.EqualFold("runner@"+j.host, l.who) && h.faults[j.run] == nil && !h.listFault &&
		!(h.current.ID == j.run && h.current.Attempt == j.attempt)
}

// provablyDead says whether the documented rules prove l's holder gone:
// its attempt has completed, its job ended after the lock was taken (past
// the skew allowance), and either its record ties it to a GitHub-hosted
// machine or the lock's hostname names its attempt and every job of that
// attempt ran on GitHub-hosted runners; GitHub answers about it; and no
// other run recorded on the state before the lock may still hold it.
func (h *history) provablyDead(l *mLock, m *modelRuns) bool {
	j := l.holder
	if l.alive || j == nil || j.repo != modelRepo || h.faults[j.run] != nil || h.listFault {
		return false
	}
	if l.kind == kindWrapper && l.lease != nil {
		// The lease names the lock's own ID: its job is the holder. Expired
		// past term and margin, and its job completed: gone.
		return h.now.Sub(l.lease.RenewedAt) > modelLeaseTerm+modelLeaseMargin+time.Second
	}
	if !j.end.After(l.created.Add(modelSkew + time.Second)) {
		return false
	}
	jobs := m.attemptJobs(j.repo, j.run, j.attempt)
	allHosted := true
	for _, o := range jobs {
		if o.alive() {
			return false
		}
		allHosted = allHosted && o.group == hostedGroup
	}
	byRecord := (l.kind == kindHosted || l.kind == kindHostedGHA || l.kind == kindMatrix) && !j.setup.IsZero() && !j.setup.After(l.created)
	named := l.kind == kindHostedGHA && allHosted
	if !byRecord && !named {
		return false
	}
	for _, o := range h.jobs {
		if o == j || o.path != l.path || o.setup.IsZero() || o.setup.After(l.created.Add(modelSkew)) {
			continue
		}
		if !strings.EqualFold("runner@"+o.host, l.who) && o.host != "" {
			continue
		}
		if o.alive() && o.attempt == m.latest(o.repo, o.run) {
			return false // a recorded live run could hold it
		}
		if !o.end.Before(l.created) {
			return false // another job on that host had not ended when the lock was taken
		}
	}
	return true
}

// modelViolation is one broken promise: which, in what kind of history
// (holder kind and the features that matter), and the whole story.
type modelViolation struct {
	category string
	text     string
}

// modelOutcome is what one history's check found.
type modelOutcome struct {
	violations []modelViolation
	removed    int // locks removed by auto-unlock
	dead       int // locks proven dead by the rules
}

// checkHistory runs detect, auto-unlock and a person's approval of every
// offered lock through unlock, and checks the outcome against the truth.
func checkHistory(ctx context.Context, h *history) (modelOutcome, error) {
	var out modelOutcome
	store, err := h.build(ctx)
	if err != nil {
		return out, err
	}
	runs := &modelRuns{h: h}
	cls := &Classifier{Runs: runs, Now: func() time.Time { return h.now },
		Policy: Policy{ActiveWithin: 10 * time.Minute, StaleAfter: 30 * time.Minute, Repository: modelRepo, Current: h.current, RecordSkew: modelSkew,
			LeaseMargin: modelLeaseMargin}}
	holds, errs := ParseHolds("tacos@pr-*")
	if len(errs) > 0 {
		return out, errs[0]
	}
	det, err := (&Detector{Stores: []Store{store}, Classifier: cls, Holds: holds}).Detect(ctx)
	if err != nil {
		return out, err
	}
	verdicts := map[string]Verdict{}
	for _, v := range det.Verdicts {
		verdicts[v.Lock.LockPath] = v
	}
	u := &Unlocker{Stores: []Store{store}, Classifier: cls, Holds: holds}
	auto, err := AutoUnlock(ctx, u, det)
	if err != nil {
		return out, err
	}
	autoRemoved := map[string]bool{}
	for _, res := range auto {
		if res.Outcome == OutcomeRemoved {
			autoRemoved[res.LockPath] = true
			out.removed++
		}
	}
	// The person approves every offered lock, and lists every held one
	// too (unlock must refuse those however they are listed).
	var approved []Approved
	for _, v := range det.Verdicts {
		if (v.Status == StatusStale || v.Status == StatusHeld) && !autoRemoved[v.Lock.LockPath] {
			approved = append(approved, Approved{ID: v.Lock.ID(), Path: v.Lock.LockPath})
		}
	}
	unlocked, err := u.Unlock(ctx, approved)
	if err != nil {
		return out, err
	}
	personRemoved := map[string]bool{}
	for _, res := range unlocked {
		if res.Outcome == OutcomeRemoved {
			personRemoved[res.LockPath] = true
		}
	}
	for _, l := range h.locks {
		v := verdicts[l.path]
		about := fmt.Sprintf("seed %d: %s lock on %s (who %s, %s old, holder %s, %d blocked setups after it, %d other setups on its host before it): %s %s: %s",
			h.seed, l.kind, l.path, l.who, h.now.Sub(l.created), l.describeHolder(), l.blocked, l.shared, v.Status, v.Evidence, v.Reason)
		add := func(what string) {
			cat := fmt.Sprintf("%s: %s lock", what, l.kind)
			if l.blocked >= MaxRunsPerStateBefore17 {
				cat += fmt.Sprintf(", %d+ blocked setups", MaxRunsPerStateBefore17)
			}
			if l.shared > 0 {
				cat += ", other setups on its host before it"
			}
			if h.current.ID == l.holderRun() {
				cat += ", detect in a re-run of its run"
			}
			if len(h.faults) > 0 {
				cat += ", GitHub errors on some run"
			}
			out.violations = append(out.violations, modelViolation{category: cat, text: what + ": " + about})
		}
		switch {
		case l.kind == kindHeld && v.Status != StatusHeld:
			add("HELD LOCK NOT HELD")
		case l.kind == kindHeld && personRemoved[l.path]:
			add("HELD LOCK REMOVED BY UNLOCK")
		case l.alive && autoRemoved[l.path]:
			add("LIVE LOCK AUTO-REMOVED")
		case h.protected(l) && v.Status != StatusActive:
			add("LIVE RECORDED LOCK OFFERED")
		case h.protected(l) && personRemoved[l.path]:
			add("LIVE RECORDED LOCK REMOVED BY UNLOCK")
		}
		if h.provablyDead(l, runs) {
			out.dead++
			if !autoRemoved[l.path] {
				add("PROVEN-DEAD LOCK NOT AUTO-REMOVED")
			}
		}
	}
	return out, nil
}

// MaxRunsPerStateBefore17 is how many entries a state's record item kept
// before issue 17: histories with more blocked setups than this are the
// eviction case.
const MaxRunsPerStateBefore17 = 30

func (l *mLock) holderRun() int64 {
	if l.holder == nil {
		return 0
	}
	return l.holder.run
}

func (l *mLock) describeHolder() string {
	j := l.holder
	if j == nil {
		if l.alive {
			return "a laptop, alive"
		}
		return "a laptop, gone"
	}
	state := "alive"
	if !j.alive() {
		state = fmt.Sprintf("ended %s after the lock", j.end.Sub(l.created))
	}
	setup := "no setup"
	if !j.setup.IsZero() {
		setup = fmt.Sprintf("set up on %q %s before", j.host, l.created.Sub(j.setup))
	}
	return fmt.Sprintf("%s run %d attempt %d job %q on runner %q (%s), %s", j.repo, j.run, j.attempt, j.name, j.runner, setup, state)
}

func envInt(t *testing.T, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q is not a non-negative whole number", name, s)
	}
	return n
}

// TestModelCheck runs the checker: TFSTATE_GUARD_MODEL_HISTORIES histories
// (default 500; scripts/test.sh runs 3,000 under -race) from TFSTATE_GUARD_MODEL_SEED (default: from the clock,
// printed so a failure can be replayed).
func TestModelCheck(t *testing.T) {
	n := envInt(t, "TFSTATE_GUARD_MODEL_HISTORIES", 500)
	seed := uint64(envInt(t, "TFSTATE_GUARD_MODEL_SEED", int(time.Now().UnixNano()%1_000_000_000)))
	ctx := context.Background()
	var violations []modelViolation
	removed, dead := 0, 0
	for i := 0; i < n; i++ {
		h := genHistory(seed + uint64(i))
		out, err := checkHistory(ctx, h)
		if err != nil {
			t.Fatalf("seed %d: %v", h.seed, err)
		}
		violations = append(violations, out.violations...)
		removed += out.removed
		dead += out.dead
	}
	t.Logf("modelcheck: %d histories (seeds %d..%d), %d locks proven dead, %d auto-removed; violations: %d",
		n, seed, seed+uint64(n)-1, dead, removed, len(violations))
	if dead == 0 && n >= 100 {
		t.Errorf("no history had a lock proven dead: the generator no longer reaches auto-unlock")
	}
	// One line per kind of violation: how often, and the first seed.
	counts := map[string]int{}
	first := map[string]modelViolation{}
	var cats []string
	for _, v := range violations {
		if counts[v.category] == 0 {
			cats = append(cats, v.category)
			first[v.category] = v
		}
		counts[v.category]++
	}
	sort.Strings(cats)
	for _, c := range cats {
		t.Errorf("%d x %s; first: %s", counts[c], c, first[c].text)
	}
}
