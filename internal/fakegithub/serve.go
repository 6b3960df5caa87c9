package fakegithub

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Routes, named as the contract (contract.go) names GitHub's operations.
const (
	RouteListRuns      = "GET /repos/{owner}/{repo}/actions/runs"
	RouteGetRun        = "GET /repos/{owner}/{repo}/actions/runs/{run_id}"
	RouteGetAttempt    = "GET /repos/{owner}/{repo}/actions/runs/{run_id}/attempts/{attempt_number}"
	RouteAttemptJobs   = "GET /repos/{owner}/{repo}/actions/runs/{run_id}/attempts/{attempt_number}/jobs"
	RouteRunJobs       = "GET /repos/{owner}/{repo}/actions/runs/{run_id}/jobs"
	RouteListComments  = "GET /repos/{owner}/{repo}/issues/{issue_number}/comments"
	RouteCreateComment = "POST /repos/{owner}/{repo}/issues/{issue_number}/comments"
	RouteGetComment    = "GET /repos/{owner}/{repo}/issues/comments/{comment_id}"
	RouteUpdateComment = "PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}"
	RouteDeleteComment = "DELETE /repos/{owner}/{repo}/issues/comments/{comment_id}"
)

// Limits GitHub applies to lists.
const (
	DefaultPerPage = 30
	MaxPerPage     = 100
	// MaxFilteredRuns is how many runs GitHub returns at most when the
	// runs list is filtered (status, actor, branch, event, ...).
	MaxFilteredRuns = 1000
	defaultLimit    = 5000
)

// GitHub's documentation links, as its error answers carry them.
const (
	docRateLimits   = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
	docSecondary    = "https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"
	docGetRun       = "https://docs.github.com/rest/actions/workflow-runs#get-a-workflow-run"
	docListRuns     = "https://docs.github.com/rest/actions/workflow-runs#list-workflow-runs-for-a-repository"
	docListJobs     = "https://docs.github.com/rest/actions/workflow-jobs#list-jobs-for-a-workflow-run"
	docIssueComment = "https://docs.github.com/rest/issues/comments"
)

var (
	runsPath     = regexp.MustCompile(`^/repos/([^/]+/[^/]+)/actions/runs$`)
	runPath      = regexp.MustCompile(`^/repos/([^/]+/[^/]+)/actions/runs/([0-9]+)(?:/attempts/([0-9]+))?(/jobs)?$`)
	commentsPath = regexp.MustCompile(`^/repos/([^/]+/[^/]+)/issues/([0-9]+)/comments$`)
	commentPath  = regexp.MustCompile(`^/repos/([^/]+/[^/]+)/issues/comments/([0-9]+)$`)
	controlPath  = regexp.MustCompile(`^/_stand-in/repos/([^/]+/[^/]+)/runs/([0-9]+)/attempts/([0-9]+)$`)
)

// Run statuses and conclusions the runs list accepts in ?status=.
var statusFilters = map[string]bool{
	"completed": true, "action_required": true, "cancelled": true, "failure": true, "neutral": true,
	"skipped": true, "stale": true, "success": true, "timed_out": true, "in_progress": true,
	"queued": true, "requested": true, "waiting": true, "pending": true,
}

type limitState struct {
	until  time.Time
	status int
}

type secondaryLimit struct {
	status     int
	retryAfter time.Duration
}

// ExhaustPrimary spends the primary rate limit until reset: requests until
// then answer status (403 or 429) with x-ratelimit-remaining: 0 and
// x-ratelimit-reset at reset, as GitHub does.
func (a *API) ExhaustPrimary(status int, reset time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.exhausted = limitState{until: reset, status: status}
}

// SecondaryLimit makes the next n requests answer a secondary rate limit:
// status 403 or 429, GitHub's message, and a retry-after header when
// retryAfter > 0 (GitHub does not always send one).
func (a *API) SecondaryLimit(n, status int, retryAfter time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for range n {
		a.secondary = append(a.secondary, secondaryLimit{status: status, retryAfter: retryAfter})
	}
}

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
	// In flight: from arrival to the end of the latency (not the writing of
	// the answer, which a client's next request may overlap).
	n := a.inFlight.Add(1)
	for m := a.maxIn.Load(); n > m && !a.maxIn.CompareAndSwap(m, n); m = a.maxIn.Load() {
	}
	if d := time.Duration(a.latency.Load()); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			a.inFlight.Add(-1)
			return
		}
	}
	a.inFlight.Add(-1)
	if a.Fail != nil && a.Fail(w, r) {
		return
	}
	route, m := routeOf(r)
	x := &exchange{api: a, w: w, r: r, route: route}
	if a.Token != "" && !a.authorized(r) {
		x.error(http.StatusUnauthorized, "Bad credentials", "https://docs.github.com/rest")
		return
	}
	if !a.admit(x) {
		return
	}
	if a.NoActionsRead && strings.Contains(r.URL.Path, "/actions/") {
		x.error(http.StatusForbidden, "Resource not accessible by integration", docGetRun)
		return
	}
	switch route {
	case RouteListRuns:
		a.listRuns(x, m[1])
	case RouteGetRun, RouteGetAttempt, RouteAttemptJobs, RouteRunJobs:
		a.serveRun(x, m)
	case RouteListComments, RouteCreateComment, RouteGetComment, RouteUpdateComment, RouteDeleteComment:
		a.serveComments(x, m)
	default:
		x.error(http.StatusNotFound, "Not Found", "https://docs.github.com/rest")
	}
}

func routeOf(r *http.Request) (string, []string) {
	p := r.URL.Path
	if m := runsPath.FindStringSubmatch(p); m != nil && r.Method == http.MethodGet {
		return RouteListRuns, m
	}
	if m := runPath.FindStringSubmatch(p); m != nil && r.Method == http.MethodGet {
		switch {
		case m[3] == "" && m[4] == "":
			return RouteGetRun, m
		case m[3] == "":
			return RouteRunJobs, m
		case m[4] == "":
			return RouteGetAttempt, m
		default:
			return RouteAttemptJobs, m
		}
	}
	if m := commentsPath.FindStringSubmatch(p); m != nil {
		switch r.Method {
		case http.MethodGet:
			return RouteListComments, m
		case http.MethodPost:
			return RouteCreateComment, m
		}
	}
	if m := commentPath.FindStringSubmatch(p); m != nil {
		switch r.Method {
		case http.MethodGet:
			return RouteGetComment, m
		case http.MethodPatch:
			return RouteUpdateComment, m
		case http.MethodDelete:
			return RouteDeleteComment, m
		}
	}
	return "", nil
}

func (a *API) authorized(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	return h == "Bearer "+a.Token || h == "token "+a.Token
}

// admit counts the request against the primary limit and answers the rate
// limits that apply to it; false means it was answered.
func (a *API) admit(x *exchange) bool {
	a.mu.Lock()
	now := a.now()
	limit := a.RateLimit
	if limit <= 0 {
		limit = defaultLimit
	}
	if a.window.IsZero() || !now.Before(a.window.Add(time.Hour)) {
		a.window, a.used = now, 0
	}
	reset := a.window.Add(time.Hour)
	var sec *secondaryLimit
	primary := 0
	switch {
	case now.Before(a.exhausted.until):
		primary, reset = a.exhausted.status, a.exhausted.until
	case a.used >= limit:
		primary = http.StatusForbidden
	case len(a.secondary) > 0:
		s := a.secondary[0]
		a.secondary = a.secondary[1:]
		sec = &s
		a.used++
	default:
		a.used++
	}
	remaining := limit - a.used
	if primary != 0 {
		remaining = 0
	}
	h := x.w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
	h.Set("X-RateLimit-Used", strconv.Itoa(limit-remaining))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	h.Set("X-RateLimit-Resource", "core")
	h.Set("X-GitHub-Api-Version-Selected", "2022-11-28")
	h.Set("X-GitHub-Request-Id", fmt.Sprintf("F4KE:%04X:%06X", a.total%0xffff, a.total))
	a.mu.Unlock()
	switch {
	case primary != 0:
		x.error(primary, "API rate limit exceeded for installation ID 42. If you reach out to GitHub Support for help, please include the request ID "+h.Get("X-GitHub-Request-Id")+".", docRateLimits)
		return false
	case sec != nil:
		if sec.retryAfter > 0 {
			h.Set("Retry-After", strconv.Itoa(int(sec.retryAfter.Round(time.Second)/time.Second)))
		}
		x.error(sec.status, "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID "+h.Get("X-GitHub-Request-Id")+".", docSecondary)
		return false
	}
	return true
}

// exchange is one request and its answer.
type exchange struct {
	api   *API
	w     http.ResponseWriter
	r     *http.Request
	route string
}

// send checks body against GitHub's contract and writes it; an answer that
// breaks the contract is recorded and replaced by a 500 naming the problem.
func (x *exchange) send(status int, body any) {
	if x.api.Tamper != nil {
		body = x.api.Tamper(x.route, body)
	}
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			panic(err)
		}
	}
	if x.api.SkipContract {
		// sent as built
	} else if err := CheckAnswer(x.route, status, raw); err != nil {
		msg := fmt.Sprintf("%s %s answered %d: %v", x.r.Method, x.r.URL.Path, status, err)
		x.api.mu.Lock()
		x.api.violations = append(x.api.violations, msg)
		x.api.mu.Unlock()
		http.Error(x.w, "fakegithub: answer breaks GitHub's published contract: "+msg, http.StatusInternalServerError)
		return
	}
	if raw == nil {
		x.w.WriteHeader(status)
		return
	}
	x.w.Header().Set("Content-Type", "application/json; charset=utf-8")
	x.w.WriteHeader(status)
	_, _ = x.w.Write(append(raw, '\n'))
}

// error answers GitHub's error object (basic-error).
func (x *exchange) error(status int, message, doc string) {
	x.send(status, map[string]any{"message": message, "documentation_url": doc, "status": strconv.Itoa(status)})
}

// invalid answers 422 as GitHub does for a parameter outside its enum.
func (x *exchange) invalid(field, value, doc string) {
	x.send(http.StatusUnprocessableEntity, map[string]any{
		"message": "Validation Failed", "documentation_url": doc,
		"errors": []any{map[string]any{"resource": "Search", "field": field, "code": "invalid", "value": value}},
	})
}

// page cuts one page out of n items as GitHub does (per_page default 30,
// at most 100; page from 1) and sets the Link header; it returns the
// bounds of the page.
func (x *exchange) page(n int) (lo, hi int) {
	q := x.r.URL.Query()
	per, err := strconv.Atoi(q.Get("per_page"))
	if err != nil || per < 1 {
		per = DefaultPerPage
	}
	per = min(per, MaxPerPage)
	page, err := strconv.Atoi(q.Get("page"))
	if err != nil || page < 1 {
		page = 1
	}
	last := max(1, (n+per-1)/per)
	var links []string
	link := func(p int, rel string) {
		u := *x.r.URL
		u.Scheme, u.Host = "http", x.r.Host
		if x.r.TLS != nil {
			u.Scheme = "https"
		}
		v := url.Values{}
		for k, vs := range q {
			v[k] = vs
		}
		v.Set("per_page", strconv.Itoa(per))
		v.Set("page", strconv.Itoa(p))
		u.RawQuery = v.Encode()
		links = append(links, fmt.Sprintf("<%s>; rel=%q", u.String(), rel))
	}
	if page > 1 {
		link(min(page-1, last), "prev")
	}
	if page < last {
		link(page+1, "next")
		link(last, "last")
	}
	if page > 1 {
		link(1, "first")
	}
	if len(links) > 0 {
		x.w.Header().Set("Link", strings.Join(links, ", "))
	}
	lo = min((page-1)*per, n)
	return lo, min(lo+per, n)
}

func (a *API) listRuns(x *exchange, repo string) {
	status := x.r.URL.Query().Get("status")
	if status != "" && !statusFilters[status] {
		x.invalid("status", status, docListRuns)
		return
	}
	a.mu.Lock()
	var runs []map[string]any
	for _, k := range a.runsOf(repo) {
		n := latest(a.runs[k])
		at := a.runs[k][n]
		if status == "" || at.Status == status || (at.Status == StatusCompleted && at.Conclusion == status) {
			runs = append(runs, a.runJSON(x, repo, k.id, n, at))
		}
	}
	a.mu.Unlock()
	total := len(runs)
	if status != "" && len(runs) > MaxFilteredRuns {
		runs = runs[:MaxFilteredRuns]
	}
	lo, hi := x.page(len(runs))
	x.send(http.StatusOK, map[string]any{"total_count": total, "workflow_runs": nonNil(runs[lo:hi])})
}

func (a *API) serveRun(x *exchange, m []string) {
	repo := m[1]
	id, _ := strconv.ParseInt(m[2], 10, 64)
	filter := x.r.URL.Query().Get("filter")
	if x.route == RouteRunJobs && filter != "" && filter != "latest" && filter != "all" {
		x.invalid("filter", filter, docListJobs)
		return
	}
	a.mu.Lock()
	attempts := a.runs[runKey{strings.ToLower(repo), id}]
	n := latest(attempts)
	if m[3] != "" {
		n, _ = strconv.Atoi(m[3])
	}
	at := attempts[n]
	if at == nil {
		a.mu.Unlock()
		x.error(http.StatusNotFound, "Not Found", docGetRun)
		return
	}
	var body map[string]any
	switch x.route {
	case RouteGetRun, RouteGetAttempt:
		body = a.runJSON(x, repo, id, n, at)
	default:
		from := n
		if filter == "all" {
			from = 1
		}
		var jobs []map[string]any
		for k := from; k <= n; k++ {
			if attempts[k] != nil {
				jobs = append(jobs, a.jobsJSON(x, repo, id, k, attempts[k])...)
			}
		}
		a.mu.Unlock()
		lo, hi := x.page(len(jobs))
		x.send(http.StatusOK, map[string]any{"total_count": len(jobs), "jobs": nonNil(jobs[lo:hi])})
		return
	}
	a.mu.Unlock()
	x.send(http.StatusOK, body)
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
	if body.Jobs != nil {
		a.attempt(m[1], id, n).Jobs = body.Jobs
	}
	a.setAttempt(m[1], id, n, body.Status, body.Conclusion)
	a.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func nonNil(v []map[string]any) []map[string]any {
	if v == nil {
		return []map[string]any{}
	}
	return v
}
