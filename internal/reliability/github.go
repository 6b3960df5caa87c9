// Package reliability is the harness that tries hard to break tfstate-guard's
// promise, "a live lock is never removed": randomized races between
// Terraform-like writers and detect, unlock and setup (race.go), faults
// injected at the HTTP layer between the binary and its servers (proxy.go),
// and a fake GitHub API speaking the REST JSON of workflow runs (this file).
//
// The harness drives the product only through its entry point (an Entry:
// the program's run function, or a wrapper that execs the binary) and
// checks invariants only from the writers' own logs, the outputs the
// product writes, and what the servers saw. It never looks at
// classification internals, so it keeps working while they change.
package reliability

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Run statuses GitHub reports.
const (
	StatusQueued     = "queued"
	StatusInProgress = "in_progress"
	StatusCompleted  = "completed"
)

// FakeRun is one workflow run as the fake API knows it.
type FakeRun struct {
	ID         int64
	Attempt    int
	Status     string
	Conclusion string
	// RunnerName is the runner of its one job ("GitHub Actions 1000009740"
	// on GitHub-hosted runners, the machine's name on self-hosted ones).
	RunnerName string
	Job        string
	Started    time.Time
	Completed  time.Time
}

// FakeGitHub serves GET /repos/{owner}/{repo}/actions/runs/{id},
// .../runs/{id}/attempts/{n}, .../attempts/{n}/jobs, .../runs/{id}/jobs and
// .../actions/runs?status=... for one repository, with GitHub's JSON shapes.
// A run it does not know answers 404 as GitHub does.
type FakeGitHub struct {
	Repository string
	Token      string
	URL        string

	srv      *httptest.Server
	mu       sync.Mutex
	runs     map[int64]*FakeRun
	requests int
}

// NewFakeGitHub starts the fake on 127.0.0.1 at a free port.
func NewFakeGitHub(repository, token string) *FakeGitHub {
	g := &FakeGitHub{Repository: repository, Token: token, runs: map[int64]*FakeRun{}}
	g.srv = httptest.NewServer(http.HandlerFunc(g.serve))
	g.URL = g.srv.URL
	return g
}

// Close stops the server.
func (g *FakeGitHub) Close() { g.srv.Close() }

// Requests is how many requests the fake answered.
func (g *FakeGitHub) Requests() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.requests
}

// Start registers a run in progress (attempt 1) and returns it.
func (g *FakeGitHub) Start(id int64, job, runnerName string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.runs[id] = &FakeRun{ID: id, Attempt: 1, Status: StatusInProgress, Job: job, RunnerName: runnerName, Started: time.Now().UTC()}
}

// Complete ends a run with a conclusion (success, failure, cancelled).
func (g *FakeGitHub) Complete(id int64, conclusion string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if r := g.runs[id]; r != nil {
		r.Status, r.Conclusion, r.Completed = StatusCompleted, conclusion, time.Now().UTC()
	}
}

// Forget deletes a run: later requests for it answer 404.
func (g *FakeGitHub) Forget(id int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.runs, id)
}

// Live reports whether run id is known and not completed.
func (g *FakeGitHub) Live(id int64) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	r := g.runs[id]
	return r != nil && r.Status != StatusCompleted
}

func (g *FakeGitHub) serve(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	g.requests++
	g.mu.Unlock()
	if g.Token != "" && r.Header.Get("Authorization") != "Bearer "+g.Token {
		writeJSON(w, http.StatusUnauthorized, `{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest"}`)
		return
	}
	if r.Method != http.MethodGet {
		writeJSON(w, http.StatusNotFound, notFound)
		return
	}
	prefix := "/repos/" + g.Repository + "/actions/runs"
	rest, ok := strings.CutPrefix(r.URL.Path, prefix)
	if !ok {
		writeJSON(w, http.StatusNotFound, notFound)
		return
	}
	w.Header().Set("X-RateLimit-Limit", "1000")
	w.Header().Set("X-RateLimit-Remaining", "999")
	w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10))
	if rest == "" || rest == "/" {
		g.list(w, r.URL.Query().Get("status"))
		return
	}
	parts := strings.Split(strings.TrimPrefix(rest, "/"), "/")
	id, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil {
		writeJSON(w, http.StatusNotFound, notFound)
		return
	}
	g.mu.Lock()
	run, known := g.runs[id]
	var snap FakeRun
	if known {
		snap = *run
	}
	g.mu.Unlock()
	if !known {
		writeJSON(w, http.StatusNotFound, notFound)
		return
	}
	switch {
	case len(parts) == 1:
		writeJSON(w, http.StatusOK, g.runJSON(snap, snap.Attempt))
	case len(parts) == 2 && parts[1] == "jobs":
		writeJSON(w, http.StatusOK, g.jobsJSON(snap, snap.Attempt))
	case len(parts) >= 3 && parts[1] == "attempts":
		n, err := strconv.Atoi(parts[2])
		if err != nil || n < 1 || n > snap.Attempt {
			writeJSON(w, http.StatusNotFound, notFound)
			return
		}
		if len(parts) == 3 {
			writeJSON(w, http.StatusOK, g.runJSON(snap, n))
		} else if len(parts) == 4 && parts[3] == "jobs" {
			writeJSON(w, http.StatusOK, g.jobsJSON(snap, n))
		} else {
			writeJSON(w, http.StatusNotFound, notFound)
		}
	default:
		writeJSON(w, http.StatusNotFound, notFound)
	}
}

const notFound = `{"message":"Not Found","documentation_url":"https://docs.github.com/rest/actions/workflow-runs#get-a-workflow-run","status":"404"}`

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprint(w, body)
}

func (g *FakeGitHub) list(w http.ResponseWriter, status string) {
	g.mu.Lock()
	var runs []FakeRun
	for _, r := range g.runs {
		if status == "" || r.Status == status {
			runs = append(runs, *r)
		}
	}
	g.mu.Unlock()
	sort.Slice(runs, func(i, j int) bool { return runs[i].ID > runs[j].ID })
	bodies := make([]string, len(runs))
	for i, r := range runs {
		bodies[i] = g.runJSON(r, r.Attempt)
	}
	writeJSON(w, http.StatusOK, fmt.Sprintf(`{"total_count":%d,"workflow_runs":[%s]}`, len(runs), strings.Join(bodies, ",")))
}

// runJSON renders attempt n of run r as GitHub's workflow run object.
// Earlier attempts than the latest are completed (a re-run starts only
// after the previous attempt ended).
func (g *FakeGitHub) runJSON(r FakeRun, n int) string {
	status, conclusion, updated := r.Status, r.Conclusion, r.Completed
	if n < r.Attempt {
		status, conclusion = StatusCompleted, "failure"
	}
	if updated.IsZero() {
		updated = r.Started
	}
	m := map[string]any{
		"id": r.ID, "name": "terraform", "node_id": fmt.Sprintf("WFR_%d", r.ID), "head_branch": "main",
		"head_sha": "009b8a3a9ccbb128af87f9b1c0f4c62e8a304f6d", "path": ".github/workflows/terraform.yml",
		"run_number": r.ID % 1000, "event": "push", "display_title": "apply", "status": status,
		"conclusion": nullable(conclusion), "workflow_id": 161335, "check_suite_id": 42, "run_attempt": n,
		"url":                  fmt.Sprintf("%s/repos/%s/actions/runs/%d", g.URL, g.Repository, r.ID),
		"html_url":             fmt.Sprintf("https://github.com/%s/actions/runs/%d", g.Repository, r.ID),
		"jobs_url":             fmt.Sprintf("%s/repos/%s/actions/runs/%d/jobs", g.URL, g.Repository, r.ID),
		"created_at":           r.Started.Format(time.RFC3339),
		"updated_at":           updated.Format(time.RFC3339),
		"run_started_at":       r.Started.Format(time.RFC3339),
		"repository":           map[string]any{"id": 1296269, "full_name": g.Repository, "name": strings.SplitN(g.Repository, "/", 2)[1]},
		"head_repository":      map[string]any{"id": 1296269, "full_name": g.Repository},
		"pull_requests":        []any{},
		"referenced_workflows": []any{},
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func (g *FakeGitHub) jobsJSON(r FakeRun, n int) string {
	status, conclusion := r.Status, r.Conclusion
	if n < r.Attempt {
		status, conclusion = StatusCompleted, "failure"
	}
	job := map[string]any{
		"id": r.ID*10 + int64(n), "run_id": r.ID, "run_attempt": n, "name": r.Job, "status": status,
		"conclusion": nullable(conclusion), "started_at": r.Started.Format(time.RFC3339),
		"completed_at": nil, "runner_name": r.RunnerName, "runner_id": 7, "labels": []string{"ubuntu-latest"},
		"workflow_name": "terraform", "head_branch": "main",
		"html_url": fmt.Sprintf("https://github.com/%s/actions/runs/%d/job/%d", g.Repository, r.ID, r.ID*10+int64(n)),
	}
	if status == StatusCompleted && !r.Completed.IsZero() {
		job["completed_at"] = r.Completed.Format(time.RFC3339)
	}
	b, _ := json.Marshal(map[string]any{"total_count": 1, "jobs": []any{job}})
	return string(b)
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}
