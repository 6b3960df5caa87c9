package lockcheck

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeGitHub speaks the REST JSON of workflow runs and jobs. Each run ID
// maps to a response script: the first answers are errors, then the run.
type fakeGitHub struct {
	t        *testing.T
	mu       sync.Mutex
	requests map[string]int
	// failures[path] is a list of responders used before the real answer.
	failures map[string][]func(w http.ResponseWriter)
	runs     map[int64]string // run id -> JSON body
	live     string           // body of GET /actions/runs?status=in_progress
	jobs     map[int64]string // run id -> jobs JSON
	// attempts["id/n"] and attemptJobs["id/n"]: one attempt and its jobs.
	attempts, attemptJobs map[string]string
	total                 atomic.Int64
}

func newFakeGitHub(t *testing.T) (*fakeGitHub, *httptest.Server) {
	f := &fakeGitHub{t: t, requests: map[string]int{}, failures: map[string][]func(http.ResponseWriter){},
		runs: map[int64]string{}, jobs: map[int64]string{}, attempts: map[string]string{}, attemptJobs: map[string]string{}}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	return f, srv
}

func runJSON(id int64, status, conclusion string, attempt int) string {
	concl := "null"
	if conclusion != "" {
		concl = strconv.Quote(conclusion)
	}
	return fmt.Sprintf(`{"id":%d,"name":"terraform","run_number":12,"run_attempt":%d,"event":"push","status":%q,"conclusion":%s,
"workflow_id":161335,"html_url":"https://github.com/octo/infra/actions/runs/%d","created_at":"2026-11-27T10:00:00Z","updated_at":"2026-11-27T10:05:00Z",
"run_started_at":"2026-11-27T10:00:00Z","repository":{"id":1296269,"full_name":"octo/infra"}}`, id, attempt, status, concl, id)
}

func (f *fakeGitHub) serve(w http.ResponseWriter, r *http.Request) {
	f.total.Add(1)
	assert.Equal(f.t, "Bearer test-token", r.Header.Get("Authorization"))
	key := r.URL.Path
	if q := r.URL.RawQuery; q != "" {
		key += "?" + q
	}
	f.mu.Lock()
	f.requests[key]++
	var fail func(http.ResponseWriter)
	if fs := f.failures[r.URL.Path]; len(fs) > 0 {
		fail, f.failures[r.URL.Path] = fs[0], fs[1:]
	}
	f.mu.Unlock()
	if fail != nil {
		fail(w)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-RateLimit-Limit", "1000")
	w.Header().Set("X-RateLimit-Remaining", "999")
	var id int64
	if m := attemptPath.FindStringSubmatch(r.URL.Path); m != nil {
		id, _ = strconv.ParseInt(m[1], 10, 64)
		f.mu.Lock()
		body, ok := f.attempts[m[1]+"/"+m[2]]
		if !ok {
			body, ok = f.runs[id]
		}
		jobs, jok := f.attemptJobs[m[1]+"/"+m[2]]
		f.mu.Unlock()
		switch {
		case m[3] != "" && jok:
			fmt.Fprint(w, jobs)
		case m[3] != "":
			fmt.Fprint(w, `{"total_count":0,"jobs":[]}`)
		case ok:
			fmt.Fprint(w, body)
		default:
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"message":"Not Found"}`)
		}
		return
	}
	switch {
	case r.URL.Path == "/repos/octo/infra/actions/runs":
		fmt.Fprint(w, f.live)
	case sscan(r.URL.Path, "/repos/octo/infra/actions/runs/%d/jobs", &id):
		fmt.Fprint(w, f.jobs[id])
	case sscan(r.URL.Path, "/repos/octo/infra/actions/runs/%d", &id):
		body, ok := f.runs[id]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"message":"Not Found","documentation_url":"https://docs.github.com/rest/actions/workflow-runs#get-a-workflow-run"}`)
			return
		}
		fmt.Fprint(w, body)
	default:
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"message":"Not Found"}`)
	}
}

// attemptPath matches GET .../runs/{id}/attempts/{n} and its /jobs.
var attemptPath = regexp.MustCompile(`^/repos/octo/infra/actions/runs/([0-9]+)/attempts/([0-9]+)(/jobs)?$`)

// jobsJSON is the jobs listing of one attempt: one job per runner name,
// completed at the given times.
func jobsJSON(runID int64, attempt int, runners map[string]time.Time) string {
	var jobs []string
	n := int64(0)
	for runner, done := range runners {
		n++
		jobs = append(jobs, fmt.Sprintf(`{"id":%d,"run_id":%d,"run_attempt":%d,"name":"apply","status":"completed","conclusion":"success",
"started_at":%q,"completed_at":%q,"runner_id":%d,"runner_name":%q,"runner_group_name":"GitHub Actions","labels":["ubuntu-latest"]}`,
			runID*100+n, runID, attempt, done.Add(-time.Minute).UTC().Format(time.RFC3339), done.UTC().Format(time.RFC3339), n, runner))
	}
	return fmt.Sprintf(`{"total_count":%d,"jobs":[%s]}`, len(jobs), strings.Join(jobs, ","))
}

func sscan(path, format string, id *int64) bool {
	var rest string
	n, _ := fmt.Sscanf(path+" end", format+" %s", id, &rest)
	return n == 2 && rest == "end"
}

func primaryLimit(reset time.Time) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.Header().Set("X-RateLimit-Remaining", "0")
		w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `{"message":"API rate limit exceeded for installation ID 1.","documentation_url":"https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting"}`)
	}
}

func secondaryLimit(status int, seconds int) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.Header().Set("Retry-After", strconv.Itoa(seconds))
		w.WriteHeader(status)
		fmt.Fprint(w, `{"message":"You have exceeded a secondary rate limit.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"}`)
	}
}

func serverError(w http.ResponseWriter) {
	w.WriteHeader(http.StatusBadGateway)
	fmt.Fprint(w, `{"message":"Server Error"}`)
}

// sleeps records the waits a client asked for, without waiting.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) policy(clock time.Time) RetryPolicy {
	p := DefaultRetryPolicy()
	p.Now = func() time.Time { return clock }
	p.Sleep = func(_ context.Context, d time.Duration) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.d = append(s.d, d)
		return nil
	}
	return p
}

func TestGitHubRunsStatesAndCache(t *testing.T) {
	t.Parallel()
	f, srv := newFakeGitHub(t)
	f.runs[7] = runJSON(7, "waiting", "", 1)
	f.runs[8] = runJSON(8, "completed", "cancelled", 2)
	var s sleeps
	g, err := NewGitHubRuns(srv.URL, "test-token", nil, s.policy(time.Now()))
	require.NoError(t, err)
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		st, err := g.Run(ctx, "octo/infra", 7)
		require.NoError(t, err)
		assert.True(t, st.Live())
		assert.Equal(t, "waiting", st.Status)
		assert.Equal(t, "https://github.com/octo/infra/actions/runs/7", st.URL)
	}
	st, err := g.Run(ctx, "octo/infra", 8)
	require.NoError(t, err)
	assert.False(t, st.Live())
	assert.Equal(t, "cancelled", st.Conclusion)
	assert.Equal(t, 2, st.Attempt)
	_, err = g.Run(ctx, "octo/infra", 9)
	assert.ErrorIs(t, err, ErrRunNotFound)
	_, err = g.Run(ctx, "octo/infra", 9)
	assert.ErrorIs(t, err, ErrRunNotFound)
	assert.Equal(t, map[string]int{
		"/repos/octo/infra/actions/runs/7": 1,
		"/repos/octo/infra/actions/runs/8": 1,
		"/repos/octo/infra/actions/runs/9": 1,
	}, f.requests, "one request per distinct run")
	assert.Empty(t, s.d)
}

func TestGitHubRunsRetries(t *testing.T) {
	t.Parallel()
	clock := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name      string
		failures  []func(http.ResponseWriter)
		wantErr   bool
		wantWaits []time.Duration
		wantCalls int64
	}{
		{name: "primary limit, reset soon", failures: []func(http.ResponseWriter){primaryLimit(clock.Add(20 * time.Second))},
			wantWaits: []time.Duration{21 * time.Second}, wantCalls: 2},
		{name: "primary limit, reset in an hour: give up at once", failures: []func(http.ResponseWriter){primaryLimit(clock.Add(time.Hour))},
			wantErr: true, wantCalls: 1},
		{name: "secondary limit 403 retry-after", failures: []func(http.ResponseWriter){secondaryLimit(http.StatusForbidden, 3)},
			wantWaits: []time.Duration{3 * time.Second}, wantCalls: 2},
		{name: "429 retry-after", failures: []func(http.ResponseWriter){secondaryLimit(http.StatusTooManyRequests, 5)},
			wantWaits: []time.Duration{5 * time.Second}, wantCalls: 2},
		{name: "two 5xx then success, backing off", failures: []func(http.ResponseWriter){serverError, serverError},
			wantWaits: []time.Duration{time.Second, 2 * time.Second}, wantCalls: 3},
		{name: "5xx every time: bounded", failures: []func(http.ResponseWriter){serverError, serverError, serverError, serverError, serverError},
			wantErr: true, wantWaits: []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}, wantCalls: 4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f, srv := newFakeGitHub(t)
			f.runs[7] = runJSON(7, "in_progress", "", 1)
			f.failures["/repos/octo/infra/actions/runs/7"] = c.failures
			var s sleeps
			g, err := NewGitHubRuns(srv.URL+"/", "test-token", nil, s.policy(clock))
			require.NoError(t, err)
			st, err := g.Run(context.Background(), "octo/infra", 7)
			if c.wantErr {
				require.Error(t, err)
			} else {
				require.NoError(t, err)
				assert.Equal(t, "in_progress", st.Status)
			}
			assert.Equal(t, c.wantWaits, s.d)
			assert.Equal(t, c.wantCalls, f.total.Load())
		})
	}
}

func TestGitHubLiveRunnerJobs(t *testing.T) {
	t.Parallel()
	f, srv := newFakeGitHub(t)
	f.live = `{"total_count":2,"workflow_runs":[` + runJSON(11, "in_progress", "", 1) + `,` + runJSON(12, "in_progress", "", 1) + `]}`
	f.jobs[11] = `{"total_count":2,"jobs":[
{"id":1,"run_id":11,"status":"in_progress","conclusion":null,"name":"apply","runner_id":5,"runner_name":"arc-runner-x7k2p","run_attempt":1,"started_at":"2026-11-27T10:00:00Z"},
{"id":2,"run_id":11,"status":"queued","conclusion":null,"name":"notify","runner_id":null,"runner_name":null,"run_attempt":1}]}`
	f.jobs[12] = `{"total_count":1,"jobs":[{"id":3,"run_id":12,"status":"completed","conclusion":"success","name":"plan","runner_id":6,"runner_name":"old-runner","run_attempt":1}]}`
	g, err := NewGitHubRuns(srv.URL, "test-token", nil, DefaultRetryPolicy())
	require.NoError(t, err)
	jobs, err := g.LiveRunnerJobs(context.Background(), "octo/infra")
	require.NoError(t, err)
	require.Len(t, jobs, 1)
	assert.Equal(t, "arc-runner-x7k2p", jobs[0].RunnerName)
	assert.Equal(t, int64(11), jobs[0].Run.ID)
	_, err = g.LiveRunnerJobs(context.Background(), "octo/infra")
	require.NoError(t, err)
	for _, status := range LiveStatuses {
		assert.Equal(t, 1, f.requests["/repos/octo/infra/actions/runs?per_page=100&status="+status], "every status that is not over is listed")
	}
	assert.Equal(t, int64(len(LiveStatuses)+2), f.total.Load(), "listed once (a request per live status, then each live run's jobs), then cached")
}

func TestNewGitHubRunsRejectsBadURL(t *testing.T) {
	t.Parallel()
	_, err := NewGitHubRuns("api.github.com", "", nil, DefaultRetryPolicy())
	assert.ErrorContains(t, err, `github-api-url "api.github.com" is not an absolute URL`)
}

func TestGitHubRunsConcurrentAskersShareOneRequest(t *testing.T) {
	t.Parallel()
	f, srv := newFakeGitHub(t)
	f.runs[7] = runJSON(7, "in_progress", "", 1)
	g, err := NewGitHubRuns(srv.URL, "test-token", nil, DefaultRetryPolicy())
	require.NoError(t, err)
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := g.Run(context.Background(), "octo/infra", 7)
			assert.NoError(t, err)
			assert.Equal(t, "in_progress", st.Status)
		}()
	}
	wg.Wait()
	assert.Equal(t, int64(1), f.total.Load())
}

func TestPrefetchAsksEachCandidateRunOnce(t *testing.T) {
	t.Parallel()
	f, srv := newFakeGitHub(t)
	for id := int64(1); id <= 6; id++ {
		f.runs[id] = runJSON(id, "completed", "cancelled", 1)
		f.attemptJobs[fmt.Sprintf("%d/1", id)] = jobsJSON(id, 1, map[string]time.Time{"GitHub Actions 1": now.Add(-time.Hour)})
	}
	g, err := NewGitHubRuns(srv.URL, "test-token", nil, DefaultRetryPolicy())
	require.NoError(t, err)
	cl := &Classifier{Policy: Policy{ActiveWithin: time.Minute, StaleAfter: time.Hour, Repository: "octo/infra",
		Current: RunRef{Repository: "octo/infra", ID: 6, Attempt: 1}}, Runs: g, Now: func() time.Time { return now }}
	var locks []Lock
	var records []RunRecord
	for i := 0; i < 12; i++ {
		l := lockAged(time.Hour, "x@h")
		l.LockPath = fmt.Sprintf("bucket/state-%d", i)
		locks = append(locks, l)
		r := record(int64(i%6+1), 1, time.Minute, time.Hour) // 12 locks, 6 runs, run 6 is this one
		r.LockPath = l.LockPath
		records = append(records, r)
	}
	cl.Prefetch(context.Background(), locks, records)
	assert.Equal(t, int64(10+len(LiveStatuses)), f.total.Load(),
		"one live-run listing per live status, then five distinct runs asked, an attempt and its jobs each; the current run never")
	for _, l := range locks {
		cl.Classify(context.Background(), l, records)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	asked := 0
	for path, n := range f.requests {
		if strings.Contains(path, "/attempts/") {
			asked += n
		}
	}
	assert.Equal(t, 10, asked, "classification finds every answer cached: %v", f.requests)
}

func TestGitHubAttemptReadsJobEnds(t *testing.T) {
	t.Parallel()
	f, srv := newFakeGitHub(t)
	f.runs[7] = runJSON(7, "in_progress", "", 2)
	f.attempts["7/1"] = runJSON(7, "completed", "cancelled", 1)
	done := time.Date(2026, 11, 27, 10, 4, 0, 0, time.UTC)
	f.attemptJobs["7/1"] = jobsJSON(7, 1, map[string]time.Time{"GitHub Actions 5": done, "GitHub Actions 6": done.Add(time.Minute)})
	g, err := NewGitHubRuns(srv.URL, "test-token", nil, DefaultRetryPolicy())
	require.NoError(t, err)
	ctx := context.Background()
	st, err := g.Attempt(ctx, "octo/infra", 7, 1)
	require.NoError(t, err)
	assert.False(t, st.Live())
	assert.Equal(t, 1, st.Attempt)
	end, found := st.EndedOn("GitHub Actions 5")
	assert.True(t, found)
	assert.Equal(t, done, end.UTC())
	_, found = st.EndedOn("another runner")
	assert.False(t, found)
	assert.Equal(t, done.Add(time.Minute), st.Ended().UTC(), "the attempt ended with its last job")
	live, err := g.Attempt(ctx, "octo/infra", 7, 2)
	require.NoError(t, err)
	assert.True(t, live.Live())
	assert.Empty(t, live.Jobs, "a live attempt's jobs are not listed")
	_, err = g.Attempt(ctx, "octo/infra", 7, 1)
	require.NoError(t, err)
	assert.Equal(t, map[string]int{
		"/repos/octo/infra/actions/runs/7/attempts/1?exclude_pull_requests=true": 1,
		"/repos/octo/infra/actions/runs/7/attempts/1/jobs?per_page=100":          1,
		"/repos/octo/infra/actions/runs/7/attempts/2?exclude_pull_requests=true": 1,
	}, f.requests, "cached per attempt")
}

func TestGitHubRunsGiveUpOnAServerThatNeverAnswers(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var tries atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tries.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	p := DefaultRetryPolicy()
	p.AttemptTimeout, p.BaseBackoff = 50*time.Millisecond, time.Millisecond
	g, err := NewGitHubRuns(srv.URL, "test-token", nil, p)
	require.NoError(t, err)
	start := time.Now()
	_, err = g.Run(context.Background(), "octo/infra", 5)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no answer within 50ms")
	assert.Equal(t, int64(p.MaxAttempts), tries.Load(), "each try is bounded, and the tries are too")
	assert.Less(t, time.Since(start), 5*time.Second)
}
