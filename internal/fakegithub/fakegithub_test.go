package fakegithub

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const repo = "octo/infra"

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(a.body, &m), string(a.body))
	return m
}

func serve(t *testing.T, api *API) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { assert.Empty(t, api.Violations(), "the fake broke GitHub's contract") })
	return srv
}

func do(t *testing.T, method, url, body string) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer tok")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return answer{resp.StatusCode, resp.Header, b}
}

func TestGitHubsOwnExamplesPassTheStrictContract(t *testing.T) {
	t.Parallel()
	c, err := LoadContract()
	require.NoError(t, err)
	checked := 0
	for _, route := range Routes() {
		for _, status := range []int{200, 201} {
			for _, ex := range c.Examples(route, status) {
				addJobCreatedAt(ex)
				b, err := json.Marshal(ex)
				require.NoError(t, err)
				assert.NoError(t, c.Check(route, status, b), "%s %d: GitHub's example", route, status)
				checked++
			}
		}
	}
	assert.GreaterOrEqual(t, checked, 7, "examples of the runs, jobs and comment operations")
}

// addJobCreatedAt fills the one gap in GitHub's own examples (version
// 23.0.2): its job examples lack created_at, which the job schema
// requires (and GitHub's answers carry).
func addJobCreatedAt(ex any) {
	m, _ := ex.(map[string]any)
	jobs, _ := m["jobs"].([]any)
	for _, j := range jobs {
		if job, ok := j.(map[string]any); ok && job["created_at"] == nil {
			job["created_at"] = job["started_at"]
		}
	}
}

func TestContractRefusesDrift(t *testing.T) {
	t.Parallel()
	c, err := LoadContract()
	require.NoError(t, err)
	ex := c.Examples(RouteRunJobs, 200)
	require.NotEmpty(t, ex)
	addJobCreatedAt(ex[0])
	good, err := json.Marshal(ex[0])
	require.NoError(t, err)
	require.NoError(t, c.Check(RouteRunJobs, 200, good))
	for name, bad := range map[string]string{
		"a misspelled field":             strings.Replace(string(good), `"runner_name"`, `"runner_nmae"`, 1),
		"a missing required field":       strings.Replace(string(good), `"node_id"`, `"node_idx"`, 1),
		"a status outside GitHub's enum": strings.Replace(string(good), `"status":"completed"`, `"status":"done"`, 1),
		"a string where null or a time":  strings.Replace(string(good), `"completed_at":"`, `"completed_at":"x`, 1),
	} {
		require.NotEqual(t, string(good), bad, name)
		assert.Error(t, c.Check(RouteRunJobs, 200, []byte(bad)), name)
	}
	assert.Error(t, c.Check(RouteGetRun, 404, []byte(`{"message":"Not Found","docs":"x"}`)), "error objects are strict too")
	assert.Error(t, c.Check(RouteDeleteComment, 204, []byte(`{}`)))
}

func TestPlantedWrongFieldFailsTheFake(t *testing.T) {
	t.Parallel()
	api := New()
	api.End(repo, 7, 1, "success", "runner-1", time.Now())
	api.Tamper = func(route string, body any) any {
		if route == RouteAttemptJobs {
			job := body.(map[string]any)["jobs"].([]map[string]any)[0]
			job["runner_nmae"] = job["runner_name"]
			delete(job, "runner_name")
		}
		return body
	}
	srv := httptest.NewServer(api)
	defer srv.Close()
	a := do(t, "GET", srv.URL+"/repos/octo/infra/actions/runs/7/attempts/1/jobs", "")
	assert.Equal(t, http.StatusInternalServerError, a.status, string(a.body))
	require.Len(t, api.Violations(), 1)
	assert.Contains(t, api.Violations()[0], "runner_nmae")
	assert.Equal(t, http.StatusOK, do(t, "GET", srv.URL+"/repos/octo/infra/actions/runs/7", "").status, "other answers untouched")
}

func TestJobsPageAsGitHub(t *testing.T) {
	t.Parallel()
	api := New()
	srv := serve(t, api)
	var jobs []Job
	for i := range 150 {
		jobs = append(jobs, Job{Name: fmt.Sprintf("job-%03d", i), RunnerName: fmt.Sprintf("runner-%d", i)})
	}
	api.SetJobs(repo, 9, 1, jobs)
	api.SetAttempt(repo, 9, 1, StatusCompleted, "success")
	base := srv.URL + "/repos/octo/infra/actions/runs/9/attempts/1/jobs"

	first := do(t, "GET", base, "")
	assert.Len(t, first.json(t)["jobs"], DefaultPerPage, "per_page defaults to 30")
	assert.EqualValues(t, 150, first.json(t)["total_count"])

	p1 := do(t, "GET", base+"?per_page=100", "")
	assert.Len(t, p1.json(t)["jobs"], 100)
	link := p1.header.Get("Link")
	assert.Regexp(t, `[?&]page=2[^>]*>; rel="next"`, link)
	assert.Contains(t, link, `rel="last"`)
	assert.NotContains(t, link, `rel="prev"`)
	p2 := do(t, "GET", base+"?per_page=100&page=2", "")
	assert.Len(t, p2.json(t)["jobs"], 50)
	assert.NotContains(t, p2.header.Get("Link"), `rel="next"`)
	assert.Contains(t, p2.header.Get("Link"), `rel="prev"`)
	assert.Len(t, do(t, "GET", base+"?per_page=500", "").json(t)["jobs"], MaxPerPage, "per_page is capped at 100")
	assert.Empty(t, do(t, "GET", base+"?per_page=100&page=3", "").json(t)["jobs"])
}

func TestJobsFilterLatestOrAll(t *testing.T) {
	t.Parallel()
	api := New()
	srv := serve(t, api)
	api.End(repo, 5, 1, "failure", "runner-a", time.Now().Add(-time.Hour))
	api.SetJob(repo, 5, 2, Job{Name: "terraform-apply", RunnerName: "runner-b", StartedAt: time.Now()})
	api.SetAttempt(repo, 5, 2, StatusInProgress, "")
	base := srv.URL + "/repos/octo/infra/actions/runs/5/jobs"
	for filter, want := range map[string][]string{"": {"runner-b"}, "?filter=latest": {"runner-b"}, "?filter=all": {"runner-a", "runner-b"}} {
		var got []string
		for _, j := range do(t, "GET", base+filter, "").json(t)["jobs"].([]any) {
			got = append(got, j.(map[string]any)["runner_name"].(string))
		}
		assert.Equal(t, want, got, "filter %q", filter)
	}
	a := do(t, "GET", base+"?filter=newest", "")
	assert.Equal(t, http.StatusUnprocessableEntity, a.status)
	run := do(t, "GET", srv.URL+"/repos/octo/infra/actions/runs/5", "").json(t)
	assert.EqualValues(t, 2, run["run_attempt"])
	assert.Equal(t, srv.URL+"/repos/octo/infra/actions/runs/5/attempts/1", run["previous_attempt_url"])
	first := do(t, "GET", srv.URL+"/repos/octo/infra/actions/runs/5/attempts/1", "").json(t)
	assert.Nil(t, first["previous_attempt_url"])
}

func TestRunsStatusFilterTakesStatusesAndConclusions(t *testing.T) {
	t.Parallel()
	api := New()
	srv := serve(t, api)
	api.SetAttempt(repo, 1, 1, StatusQueued, "")
	api.SetAttempt(repo, 2, 1, StatusWaiting, "")
	api.SetAttempt(repo, 3, 1, StatusInProgress, "")
	api.End(repo, 4, 1, "success", "r", time.Now())
	api.End(repo, 5, 1, "cancelled", "r", time.Now())
	ids := func(q string) []float64 {
		var out []float64
		for _, r := range do(t, "GET", srv.URL+"/repos/octo/infra/actions/runs"+q, "").json(t)["workflow_runs"].([]any) {
			out = append(out, r.(map[string]any)["id"].(float64))
		}
		return out
	}
	assert.Equal(t, []float64{5, 4, 3, 2, 1}, ids(""))
	assert.Equal(t, []float64{2}, ids("?status=waiting"))
	assert.Equal(t, []float64{3}, ids("?status=in_progress"))
	assert.Equal(t, []float64{5, 4}, ids("?status=completed"))
	assert.Equal(t, []float64{4}, ids("?status=success"), "a conclusion filters too")
	assert.Equal(t, []float64{5}, ids("?status=cancelled"))
	assert.Empty(t, ids("?status=pending"))
	assert.Equal(t, http.StatusUnprocessableEntity, do(t, "GET", srv.URL+"/repos/octo/infra/actions/runs?status=running", "").status)
}

func TestAttemptsAndJobsAreConsistent(t *testing.T) {
	t.Parallel()
	api := New()
	srv := serve(t, api)
	// A job set running, then the attempt completed: the job completes too.
	api.SetJob(repo, 11, 1, Job{Name: "apply", RunnerName: "runner-1", StartedAt: time.Now()})
	api.SetAttempt(repo, 11, 1, StatusInProgress, "")
	api.SetAttempt(repo, 11, 1, StatusCompleted, "cancelled")
	job := do(t, "GET", srv.URL+"/repos/octo/infra/actions/runs/11/attempts/1/jobs", "").json(t)["jobs"].([]any)[0].(map[string]any)
	assert.Equal(t, "completed", job["status"])
	assert.Equal(t, "cancelled", job["conclusion"])
	assert.NotNil(t, job["completed_at"])
	// A queued or waiting attempt lists its jobs, without a runner.
	for id, status := range map[int64]string{12: StatusQueued, 13: StatusWaiting} {
		api.SetAttempt(repo, id, 1, status, "")
		jobs := do(t, "GET", fmt.Sprintf("%s/repos/octo/infra/actions/runs/%d/jobs", srv.URL, id), "").json(t)["jobs"].([]any)
		require.Len(t, jobs, 1, status)
		j := jobs[0].(map[string]any)
		assert.Equal(t, status, j["status"])
		assert.Nil(t, j["runner_name"])
		assert.Nil(t, j["completed_at"])
		assert.Nil(t, j["conclusion"])
	}
	run := do(t, "GET", srv.URL+"/repos/octo/infra/actions/runs/12", "").json(t)
	assert.Nil(t, run["conclusion"])
	assert.Equal(t, http.StatusNotFound, do(t, "GET", srv.URL+"/repos/octo/infra/actions/runs/99", "").status)
	api.Forget(repo, 11)
	assert.Equal(t, http.StatusNotFound, do(t, "GET", srv.URL+"/repos/octo/infra/actions/runs/11", "").status)
	assert.False(t, api.Live(repo, 11))
	assert.True(t, api.Live(repo, 13))
}

func TestRunsListPagesAndCapsFilteredResults(t *testing.T) {
	t.Parallel()
	api := New()
	srv := serve(t, api)
	for id := int64(1); id <= 1010; id++ {
		api.SetAttempt(repo, id, 1, StatusQueued, "")
	}
	a := do(t, "GET", srv.URL+"/repos/octo/infra/actions/runs?status=queued&per_page=100&page=10", "")
	assert.Len(t, a.json(t)["workflow_runs"], 100)
	assert.NotContains(t, a.header.Get("Link"), `rel="next"`, "filtered results stop at 1,000")
	assert.Contains(t, do(t, "GET", srv.URL+"/repos/octo/infra/actions/runs?per_page=100&page=10", "").header.Get("Link"), `rel="next"`)
}

func TestRateLimitsAsGitHubSendsThem(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	clock := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	api := New()
	api.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	api.RateLimit = 3
	srv := serve(t, api)
	api.SetAttempt(repo, 1, 1, StatusInProgress, "")
	url := srv.URL + "/repos/octo/infra/actions/runs/1"

	a := do(t, "GET", url, "")
	assert.Equal(t, "3", a.header.Get("X-RateLimit-Limit"))
	assert.Equal(t, "2", a.header.Get("X-RateLimit-Remaining"))
	assert.Equal(t, "1", a.header.Get("X-RateLimit-Used"))
	assert.Equal(t, fmt.Sprint(clock.Add(time.Hour).Unix()), a.header.Get("X-RateLimit-Reset"))
	do(t, "GET", url, "")
	do(t, "GET", url, "")
	a = do(t, "GET", url, "")
	assert.Equal(t, http.StatusForbidden, a.status, "primary limit spent")
	assert.Equal(t, "0", a.header.Get("X-RateLimit-Remaining"))
	assert.Contains(t, a.json(t)["message"], "API rate limit exceeded")
	mu.Lock()
	clock = clock.Add(time.Hour)
	mu.Unlock()
	assert.Equal(t, http.StatusOK, do(t, "GET", url, "").status, "a new window after the reset")

	api.ExhaustPrimary(http.StatusTooManyRequests, clock.Add(10*time.Minute))
	a = do(t, "GET", url, "")
	assert.Equal(t, http.StatusTooManyRequests, a.status)
	assert.Equal(t, fmt.Sprint(clock.Add(10*time.Minute).Unix()), a.header.Get("X-RateLimit-Reset"))
	mu.Lock()
	clock = clock.Add(11 * time.Minute)
	mu.Unlock()

	api.SecondaryLimit(1, http.StatusForbidden, 30*time.Second)
	api.SecondaryLimit(1, http.StatusTooManyRequests, 0)
	a = do(t, "GET", url, "")
	assert.Equal(t, http.StatusForbidden, a.status)
	assert.Equal(t, "30", a.header.Get("Retry-After"))
	assert.Contains(t, a.json(t)["message"], "secondary rate limit")
	assert.NotEqual(t, "0", a.header.Get("X-RateLimit-Remaining"))
	a = do(t, "GET", url, "")
	assert.Equal(t, http.StatusTooManyRequests, a.status)
	assert.Empty(t, a.header.Get("Retry-After"), "GitHub does not always say how long")
	assert.Equal(t, http.StatusForbidden, do(t, "GET", url, "").status, "secondary answers count against the primary limit")
	mu.Lock()
	clock = clock.Add(time.Hour)
	mu.Unlock()
	assert.Equal(t, http.StatusOK, do(t, "GET", url, "").status)
}

func TestTokensAndPermissions(t *testing.T) {
	t.Parallel()
	api := New()
	api.Token = "right"
	srv := serve(t, api)
	api.SetAttempt(repo, 1, 1, StatusInProgress, "")
	a := do(t, "GET", srv.URL+"/repos/octo/infra/actions/runs/1", "") // sends "tok"
	assert.Equal(t, http.StatusUnauthorized, a.status)
	assert.Equal(t, "Bad credentials", a.json(t)["message"])

	api2 := New()
	api2.NoActionsRead = true
	srv2 := serve(t, api2)
	a = do(t, "GET", srv2.URL+"/repos/octo/infra/actions/runs/1", "")
	assert.Equal(t, http.StatusForbidden, a.status)
	assert.Equal(t, "Resource not accessible by integration", a.json(t)["message"])
	assert.NotEqual(t, "0", a.header.Get("X-RateLimit-Remaining"), "not a rate limit")
}

func TestIssueComments(t *testing.T) {
	t.Parallel()
	api := New()
	srv := serve(t, api)
	list := srv.URL + "/repos/octo/infra/issues/4/comments"
	for i := range 35 {
		a := do(t, "POST", list, fmt.Sprintf(`{"body":"comment %d"}`, i))
		require.Equal(t, http.StatusCreated, a.status, string(a.body))
		assert.Equal(t, a.json(t)["url"], a.header.Get("Location"))
	}
	a := do(t, "GET", list, "")
	var page []map[string]any
	require.NoError(t, json.Unmarshal(a.body, &page))
	assert.Len(t, page, 30)
	assert.Contains(t, a.header.Get("Link"), `rel="next"`)
	id := int64(page[0]["id"].(float64))
	one := fmt.Sprintf("%s/repos/octo/infra/issues/comments/%d", srv.URL, id)
	a = do(t, "PATCH", one, `{"body":"edited"}`)
	assert.Equal(t, http.StatusOK, a.status)
	assert.Equal(t, "edited", do(t, "GET", one, "").json(t)["body"])
	assert.Equal(t, http.StatusUnprocessableEntity, do(t, "PATCH", one, `{}`).status)
	assert.Equal(t, http.StatusNoContent, do(t, "DELETE", one, "").status)
	assert.Equal(t, http.StatusNotFound, do(t, "GET", one, "").status)
	assert.Len(t, api.Comments(repo, 4), 34)

	api.NoIssuesWrite = true
	a = do(t, "POST", list, `{"body":"x"}`)
	assert.Equal(t, http.StatusForbidden, a.status)
	assert.Equal(t, "Resource not accessible by integration", a.json(t)["message"])
}

// The demo drives the stand-in over HTTP; it cannot drive it into an
// answer GitHub would not give (a completed attempt with a running job).
func TestStandInControlKeepsAttemptsConsistent(t *testing.T) {
	t.Parallel()
	api := New()
	srv := serve(t, api)
	put := do(t, "PUT", srv.URL+"/_stand-in/repos/octo/infra/runs/21/attempts/1",
		`{"status":"completed","conclusion":"cancelled","jobs":[{"name":"apply","runner_name":"GitHub Actions 3"}]}`)
	require.Equal(t, http.StatusNoContent, put.status, string(put.body))
	assert.Zero(t, api.Requests(""), "control requests are not counted as API requests")
	job := do(t, "GET", srv.URL+"/repos/octo/infra/actions/runs/21/attempts/1/jobs", "").json(t)["jobs"].([]any)[0].(map[string]any)
	assert.Equal(t, "completed", job["status"])
	assert.Equal(t, "cancelled", job["conclusion"])
	assert.NotNil(t, job["completed_at"])
	assert.Equal(t, "GitHub Actions 3", job["runner_name"])
}
