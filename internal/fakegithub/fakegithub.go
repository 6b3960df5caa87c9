// Package fakegithub is the one stand-in for the parts of GitHub's REST API
// that tfstate-guard calls, speaking GitHub's real JSON and checked against
// GitHub's published OpenAPI description (testdata/openapi, see
// contract.go): every answer it gives is validated before it is sent.
//
//	GET /repos/{owner}/{repo}/actions/runs                          runs, ?status= (statuses and conclusions)
//	GET /repos/{owner}/{repo}/actions/runs/{id}                     the latest attempt
//	GET /repos/{owner}/{repo}/actions/runs/{id}/attempts/{n}        one attempt
//	GET /repos/{owner}/{repo}/actions/runs/{id}/attempts/{n}/jobs   its jobs
//	GET /repos/{owner}/{repo}/actions/runs/{id}/jobs                ?filter=latest|all
//	GET/POST /repos/{owner}/{repo}/issues/{n}/comments              issue (PR) comments
//	GET/PATCH/DELETE /repos/{owner}/{repo}/issues/comments/{id}
//
// Lists page as GitHub does (per_page default 30, at most 100; page; a Link
// header), and every answer carries x-ratelimit-* headers. Tests set runs
// with SetAttempt, SetJob and End, make runs vanish with Forget, and inject
// the answers GitHub gives under pressure: a wrong token (401), a token
// without actions: read (403 "Resource not accessible by integration"),
// primary rate limits (403/429 with x-ratelimit-remaining: 0) and
// secondary ones (403/429, with or without retry-after). The demo, which
// runs it as a process (standin/), sets runs over HTTP with
// PUT /_stand-in/repos/{owner}/{repo}/runs/{id}/attempts/{n} and a JSON
// body {"status":..., "conclusion":..., "jobs":[{"name","runner_name","completed_at"}]}.
// It counts every request, so tests can bound what a detect asks.
package fakegithub

import (
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Run statuses as GitHub reports them; every one but StatusCompleted is a
// run that is not over.
const (
	StatusQueued         = "queued"
	StatusInProgress     = "in_progress"
	StatusCompleted      = "completed"
	StatusWaiting        = "waiting"
	StatusRequested      = "requested"
	StatusPending        = "pending"
	StatusActionRequired = "action_required"
)

// Job is one job of an attempt. Status may be left empty: it follows from
// the attempt (queued while the attempt waits for a runner, completed once
// CompletedAt is set or the attempt completed, in_progress otherwise).
// RunnerName is sent as null while the job is queued or waiting, as GitHub
// does before a runner picks the job up.
type Job struct {
	Name       string `json:"name"`
	RunnerName string `json:"runner_name"`
	// RunnerGroup is runner_group_name; empty means "GitHub Actions", the
	// group of GitHub-hosted runners.
	RunnerGroup string    `json:"runner_group_name,omitempty"`
	Status      string    `json:"status,omitempty"`
	Conclusion  string    `json:"conclusion,omitempty"`
	StartedAt   time.Time `json:"started_at"`
	CompletedAt time.Time `json:"completed_at"`
}

// Attempt is one attempt of a run.
type Attempt struct {
	Status     string `json:"status"` // queued, in_progress, waiting, completed, ...
	Conclusion string `json:"conclusion"`
	Jobs       []Job  `json:"jobs"`
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

type runKey struct {
	repo string
	id   int64
}

// API is the stand-in. Its zero value is not usable: call New. Set the
// exported fields before serving.
type API struct {
	// Token, when set, is the only token accepted (Authorization: Bearer or
	// token); any other answers 401 "Bad credentials".
	Token string
	// NoActionsRead makes the token one without actions: read: every
	// actions/ endpoint answers 403 "Resource not accessible by integration".
	NoActionsRead bool
	// NoIssuesWrite makes the token one without issues: write nor
	// pull-requests: write: creating, editing and deleting issue comments
	// answers 403 "Resource not accessible by integration".
	NoIssuesWrite bool
	// RateLimit is the primary limit per hour (x-ratelimit-limit); 0 means
	// 5,000. Past it, requests answer 403 with x-ratelimit-remaining: 0
	// until the window resets.
	RateLimit int
	// Now is the fake's clock (timestamps, rate-limit windows); nil means
	// time.Now. Tests inject theirs to cross a reset without waiting.
	Now func() time.Time
	// Fail, when set, may answer a request instead (fault injection); it
	// returns false to let the request through.
	Fail func(w http.ResponseWriter, r *http.Request) bool
	// SkipContract sends answers without checking them against GitHub's
	// schemas. Only the bench sets it: it times the product, not the
	// checking; the tests check every answer these same code paths build.
	SkipContract bool
	// Tamper, when set, may change an answer's JSON before it is checked
	// against the contract and sent (tests plant drift with it).
	Tamper func(route string, body any) any
	// BeforeCommentCreate, when set, runs before each comment is created
	// (outside the lock): tests make two writers race through it.
	BeforeCommentCreate func()

	latency  atomic.Int64 // SetLatency
	inFlight atomic.Int64
	maxIn    atomic.Int64

	mu        sync.Mutex
	runs      map[runKey]map[int]*Attempt
	requests  map[string]int
	total     int
	window    time.Time // start of the current rate-limit hour
	used      int
	exhausted limitState
	secondary []secondaryLimit
	comments  map[int64]*comment
	nextID    int64
	// commentWrites counts comment creates, edits and deletes served.
	commentWrites int
	violations    []string
}

// New returns an empty stand-in.
func New() *API {
	return &API{runs: map[runKey]map[int]*Attempt{}, requests: map[string]int{}, comments: map[int64]*comment{}, nextID: 1_900_000_000}
}

func (a *API) now() time.Time {
	if a.Now != nil {
		return a.Now().UTC()
	}
	return time.Now().UTC()
}

// SetAttempt sets (or replaces) the status and conclusion of one attempt of
// a run, keeping its jobs. A completed attempt has only completed jobs:
// jobs still open end now, with the attempt's conclusion.
func (a *API) SetAttempt(repo string, id int64, attempt int, status, conclusion string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.setAttempt(repo, id, attempt, status, conclusion)
}

func (a *API) setAttempt(repo string, id int64, attempt int, status, conclusion string) {
	at := a.attempt(repo, id, attempt)
	at.Status, at.Conclusion, at.UpdatedAt = status, conclusion, a.now()
	if status != StatusCompleted {
		at.Conclusion = ""
		return
	}
	if at.Conclusion == "" {
		at.Conclusion = "success"
	}
	for i := range at.Jobs {
		if at.Jobs[i].CompletedAt.IsZero() {
			at.Jobs[i].CompletedAt = at.UpdatedAt
		}
	}
}

// SetJob adds or replaces (by name and runner name) a job of an attempt.
func (a *API) SetJob(repo string, id int64, attempt int, j Job) {
	a.mu.Lock()
	defer a.mu.Unlock()
	at := a.attempt(repo, id, attempt)
	for i := range at.Jobs {
		if at.Jobs[i].RunnerName == j.RunnerName && (j.RunnerName != "" || at.Jobs[i].Name == j.Name) {
			at.Jobs[i] = j
			return
		}
	}
	at.Jobs = append(at.Jobs, j)
}

// SetJobs replaces every job of an attempt.
func (a *API) SetJobs(repo string, id int64, attempt int, jobs []Job) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.attempt(repo, id, attempt).Jobs = append([]Job(nil), jobs...)
}

// End completes an attempt with conclusion, its job on runner ending at end.
func (a *API) End(repo string, id int64, attempt int, conclusion, runner string, end time.Time) {
	a.SetJob(repo, id, attempt, Job{Name: "terraform-apply", RunnerName: runner, StartedAt: end.Add(-time.Minute), CompletedAt: end})
	a.SetAttempt(repo, id, attempt, StatusCompleted, conclusion)
}

// Forget deletes a run: later requests for it answer 404, as GitHub does
// for a deleted run.
func (a *API) Forget(repo string, id int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.runs, runKey{strings.ToLower(repo), id})
}

// Live reports whether the run is known and its latest attempt is not
// completed.
func (a *API) Live(repo string, id int64) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	attempts := a.runs[runKey{strings.ToLower(repo), id}]
	if len(attempts) == 0 {
		return false
	}
	return attempts[latest(attempts)].Status != StatusCompleted
}

func (a *API) attempt(repo string, id int64, n int) *Attempt {
	k := runKey{strings.ToLower(repo), id}
	if a.runs[k] == nil {
		a.runs[k] = map[int]*Attempt{}
	}
	if a.runs[k][n] == nil {
		now := a.now()
		a.runs[k][n] = &Attempt{Status: StatusQueued, CreatedAt: now, UpdatedAt: now}
	}
	return a.runs[k][n]
}

// Requests counts the requests whose path starts with prefix ("" = all).
func (a *API) Requests(prefix string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	if prefix == "" {
		return a.total
	}
	n := 0
	for p, c := range a.requests {
		if strings.HasPrefix(p, prefix) {
			n += c
		}
	}
	return n
}

// Count is the number of requests for exactly path.
func (a *API) Count(path string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.requests[path]
}

// SetLatency delays every later answer by d (GitHub's typical is about
// 100 ms); the bench sets it. Safe while serving.
func (a *API) SetLatency(d time.Duration) { a.latency.Store(int64(d)) }

// ResetCounts forgets the requests counted so far, and the most seen at once.
func (a *API) ResetCounts() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.requests, a.total = map[string]int{}, 0
	a.maxIn.Store(a.inFlight.Load())
}

// MaxInFlight is the most requests the fake was answering at once since
// the last ResetCounts.
func (a *API) MaxInFlight() int { return int(a.maxIn.Load()) }

// Violations lists the answers that broke GitHub's published contract
// (each was replaced by a 500 naming the problem).
func (a *API) Violations() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.violations...)
}

func latest(attempts map[int]*Attempt) int {
	n := 0
	for k := range attempts {
		n = max(n, k)
	}
	return n
}

// runsOf lists a repository's runs, newest (highest id) first.
func (a *API) runsOf(repo string) []runKey {
	var keys []runKey
	for k := range a.runs {
		if k.repo == strings.ToLower(repo) {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].id > keys[j].id })
	return keys
}
