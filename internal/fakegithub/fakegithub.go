// Package fakegithub is a stand-in for the parts of GitHub's REST API that
// tfstate-guard asks about workflow runs, speaking GitHub's real JSON:
//
//	GET /repos/{owner}/{repo}/actions/runs/{id}                    the latest attempt
//	GET /repos/{owner}/{repo}/actions/runs/{id}/attempts/{n}       one attempt
//	GET /repos/{owner}/{repo}/actions/runs/{id}/attempts/{n}/jobs  its jobs
//	GET /repos/{owner}/{repo}/actions/runs/{id}/jobs               the latest attempt's jobs
//	GET /repos/{owner}/{repo}/actions/runs?status=in_progress      live runs
//
// Tests set runs with SetAttempt and SetJob; the demo, which runs it as a
// process (cmd/fakegithub), sets them over HTTP with
// PUT /_stand-in/repos/{owner}/{repo}/runs/{id}/attempts/{n} and a JSON
// body {"status":..., "conclusion":..., "jobs":[{"name","runner_name","completed_at"}]}.
// It counts every request, so tests can bound what a detect asks.
package fakegithub

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Job is one job of an attempt. A zero CompletedAt means it is running.
type Job struct {
	Name       string `json:"name"`
	RunnerName string `json:"runner_name"`
	// RunnerGroup is runner_group_name; empty means "GitHub Actions" (hosted).
	RunnerGroup string    `json:"runner_group_name"`
	StartedAt   time.Time `json:"started_at"`
	CompletedAt time.Time `json:"completed_at"`
}

// Attempt is one attempt of a run.
type Attempt struct {
	Status     string `json:"status"` // queued, in_progress, waiting, completed, ...
	Conclusion string `json:"conclusion"`
	Jobs       []Job  `json:"jobs"`
	UpdatedAt  time.Time
}

type runKey struct {
	repo string
	id   int64
}

// API is the stand-in. Its zero value is not usable: call New.
type API struct {
	mu       sync.Mutex
	runs     map[runKey]map[int]*Attempt
	requests map[string]int
	total    int
	// Fail, when set, may answer a request instead (fault injection); it
	// returns false to let the request through.
	Fail func(w http.ResponseWriter, r *http.Request) bool
}

// New returns an empty stand-in.
func New() *API {
	return &API{runs: map[runKey]map[int]*Attempt{}, requests: map[string]int{}}
}

// SetAttempt sets (or replaces) one attempt of a run, keeping its jobs when
// jobs is nil.
func (a *API) SetAttempt(repo string, id int64, attempt int, status, conclusion string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	at := a.attempt(repo, id, attempt)
	at.Status, at.Conclusion, at.UpdatedAt = status, conclusion, time.Now().UTC()
}

// SetJob adds or replaces (by runner name) a job of an attempt.
func (a *API) SetJob(repo string, id int64, attempt int, j Job) {
	a.mu.Lock()
	defer a.mu.Unlock()
	at := a.attempt(repo, id, attempt)
	for i := range at.Jobs {
		if at.Jobs[i].RunnerName == j.RunnerName {
			at.Jobs[i] = j
			return
		}
	}
	at.Jobs = append(at.Jobs, j)
}

// End completes an attempt with conclusion, its job on runner ending at end.
func (a *API) End(repo string, id int64, attempt int, conclusion, runner string, end time.Time) {
	a.SetJob(repo, id, attempt, Job{Name: "terraform-apply", RunnerName: runner, StartedAt: end.Add(-time.Minute), CompletedAt: end})
	a.SetAttempt(repo, id, attempt, "completed", conclusion)
}

func (a *API) attempt(repo string, id int64, n int) *Attempt {
	k := runKey{strings.ToLower(repo), id}
	if a.runs[k] == nil {
		a.runs[k] = map[int]*Attempt{}
	}
	if a.runs[k][n] == nil {
		a.runs[k][n] = &Attempt{Status: "queued"}
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

var (
	runPath     = regexp.MustCompile(`^/repos/([^/]+/[^/]+)/actions/runs/([0-9]+)(?:/attempts/([0-9]+))?(/jobs)?$`)
	listPath    = regexp.MustCompile(`^/repos/([^/]+/[^/]+)/actions/runs$`)
	controlPath = regexp.MustCompile(`^/_stand-in/repos/([^/]+/[^/]+)/runs/([0-9]+)/attempts/([0-9]+)$`)
)

// ServeHTTP implements http.Handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if m := controlPath.FindStringSubmatch(r.URL.Path); m != nil && r.Method == http.MethodPut {
		a.control(w, r, m)
		return
	}
	a.mu.Lock()
	a.total++
	a.requests[r.URL.Path]++
	a.mu.Unlock()
	if a.Fail != nil && a.Fail(w, r) {
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-RateLimit-Limit", "1000")
	w.Header().Set("X-RateLimit-Remaining", "999")
	w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10))
	if m := listPath.FindStringSubmatch(r.URL.Path); m != nil {
		a.list(w, m[1], r.URL.Query().Get("status"))
		return
	}
	m := runPath.FindStringSubmatch(r.URL.Path)
	if m == nil {
		notFound(w)
		return
	}
	id, _ := strconv.ParseInt(m[2], 10, 64)
	a.mu.Lock()
	defer a.mu.Unlock()
	attempts := a.runs[runKey{strings.ToLower(m[1]), id}]
	n := latest(attempts)
	if m[3] != "" {
		n, _ = strconv.Atoi(m[3])
	}
	at := attempts[n]
	if at == nil {
		notFound(w)
		return
	}
	if m[4] != "" {
		writeJSON(w, jobsJSON(m[1], id, n, at))
		return
	}
	writeJSON(w, runJSON(m[1], id, n, at))
}

func (a *API) control(w http.ResponseWriter, r *http.Request, m []string) {
	var body Attempt
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	id, _ := strconv.ParseInt(m[2], 10, 64)
	n, _ := strconv.Atoi(m[3])
	a.mu.Lock()
	at := a.attempt(m[1], id, n)
	at.Status, at.Conclusion, at.UpdatedAt = body.Status, body.Conclusion, time.Now().UTC()
	if body.Jobs != nil {
		at.Jobs = body.Jobs
	}
	a.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) list(w http.ResponseWriter, repo, status string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var runs []map[string]any
	var keys []runKey
	for k := range a.runs {
		if k.repo == strings.ToLower(repo) {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].id > keys[j].id })
	for _, k := range keys {
		n := latest(a.runs[k])
		if at := a.runs[k][n]; status == "" || at.Status == status {
			runs = append(runs, runJSON(repo, k.id, n, at))
		}
	}
	writeJSON(w, map[string]any{"total_count": len(runs), "workflow_runs": runs})
}

func latest(attempts map[int]*Attempt) int {
	n := 0
	for k := range attempts {
		n = max(n, k)
	}
	return n
}

// runJSON is a workflow run object as GitHub returns it (the fields
// tfstate-guard reads, and enough others to look like the real thing).
func runJSON(repo string, id int64, n int, at *Attempt) map[string]any {
	var conclusion any
	if at.Status == "completed" {
		conclusion = at.Conclusion
	}
	updated := at.UpdatedAt
	if updated.IsZero() {
		updated = time.Now().UTC()
	}
	return map[string]any{
		"id": id, "name": "terraform", "run_number": id % 1000, "run_attempt": n, "event": "push",
		"status": at.Status, "conclusion": conclusion, "workflow_id": 161335,
		"html_url":       fmt.Sprintf("https://github.com/%s/actions/runs/%d", repo, id),
		"created_at":     updated.Add(-time.Hour).Format(time.RFC3339),
		"updated_at":     updated.Format(time.RFC3339),
		"run_started_at": updated.Add(-time.Hour).Format(time.RFC3339),
		"repository":     map[string]any{"id": 1296269, "full_name": repo},
		"actor":          map[string]any{"login": "octo-dev", "id": 583231, "type": "User"}, "triggering_actor": map[string]any{"login": "octo-dev", "id": 583231, "type": "User"},
	}
}

func jobsJSON(repo string, id int64, n int, at *Attempt) map[string]any {
	jobs := make([]map[string]any, 0, len(at.Jobs))
	for i, j := range at.Jobs {
		status, conclusion, completed := "in_progress", any(nil), any(nil)
		if !j.CompletedAt.IsZero() {
			status, conclusion, completed = "completed", at.Conclusion, j.CompletedAt.UTC().Format(time.RFC3339)
		}
		started := j.StartedAt
		if started.IsZero() {
			started = time.Now().UTC().Add(-time.Hour)
		}
		jobs = append(jobs, map[string]any{
			"id": id*100 + int64(i), "run_id": id, "run_attempt": n, "name": j.Name, "status": status, "conclusion": conclusion,
			"started_at": started.UTC().Format(time.RFC3339), "completed_at": completed,
			"runner_id": i + 1, "runner_name": j.RunnerName, "runner_group_name": cmp.Or(j.RunnerGroup, "GitHub Actions"), "labels": []string{"ubuntu-latest"},
			"html_url": fmt.Sprintf("https://github.com/%s/actions/runs/%d/job/%d", repo, id, id*100+int64(i)),
		})
	}
	return map[string]any{"total_count": len(jobs), "jobs": jobs}
}

func writeJSON(w http.ResponseWriter, v any) {
	_ = json.NewEncoder(w).Encode(v)
}

func notFound(w http.ResponseWriter) {
	w.WriteHeader(http.StatusNotFound)
	fmt.Fprint(w, `{"message":"Not Found","documentation_url":"https://docs.github.com/rest/actions/workflow-runs#get-a-workflow-run","status":"404"}`)
}
