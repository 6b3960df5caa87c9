package lockcheck

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/text2agent/tfstate-guard/internal/fakegithub"
)

// These tests ask internal/fakegithub, which answers as GitHub's published
// contract says (paging, rate limits, refusals) and checks every answer.

// fakeClock is the time for the client's policy and the fake alike;
// sleeping advances it, so no test waits for real.
type fakeClock struct {
	mu    sync.Mutex
	t     time.Time
	waits []time.Duration
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *fakeClock) advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

func (c *fakeClock) policy() RetryPolicy {
	p := DefaultRetryPolicy()
	p.Now = c.Now
	p.Sleep = func(_ context.Context, d time.Duration) error {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.waits = append(c.waits, d)
		c.t = c.t.Add(d)
		return nil
	}
	return p
}

func (c *fakeClock) slept() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.waits...)
}

// serveFake starts api; at the end the test fails if it broke the contract.
func serveFake(t *testing.T, api *fakegithub.API) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { assert.Empty(t, api.Violations(), "answers GitHub would not give") })
	return srv
}

func TestAttemptListsEveryPageOfJobs(t *testing.T) {
	t.Parallel()
	api := fakegithub.New()
	srv := serveFake(t, api)
	end := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	var jobs []fakegithub.Job
	for i := range 150 {
		jobs = append(jobs, fakegithub.Job{Name: fmt.Sprintf("matrix-%d", i), RunnerName: fmt.Sprintf("GitHub Actions %d", i),
			StartedAt: end.Add(-time.Hour), CompletedAt: end.Add(time.Duration(i) * time.Second)})
	}
	api.SetJobs("octo/infra", 7, 1, jobs)
	api.SetAttempt("octo/infra", 7, 1, "completed", "failure")
	g, err := NewGitHubRuns(srv.URL, "", nil, DefaultRetryPolicy())
	require.NoError(t, err)
	st, err := g.Attempt(context.Background(), "octo/infra", 7, 1)
	require.NoError(t, err)
	require.Len(t, st.Jobs, 150, "both pages of jobs")
	ended, found := st.EndedOn("GitHub Actions 149")
	assert.True(t, found, "a runner listed on the second page")
	assert.Equal(t, end.Add(149*time.Second), ended.UTC())
	assert.Equal(t, end.Add(149*time.Second), st.Ended().UTC(), "the attempt ended with its last job, on page 2")
	assert.Equal(t, 2, api.Requests("/repos/octo/infra/actions/runs/7/attempts/1/jobs"), "100 a page")
}

func TestRateLimitsWithoutHeadersWaitAtLeastAMinute(t *testing.T) {
	t.Parallel()
	for _, status := range []int{http.StatusForbidden, http.StatusTooManyRequests} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			t.Parallel()
			api := fakegithub.New()
			srv := serveFake(t, api)
			api.SetAttempt("octo/infra", 7, 1, "in_progress", "")
			api.SecondaryLimit(1, status, 0)
			clock := &fakeClock{t: time.Now()}
			g, err := NewGitHubRuns(srv.URL, "", nil, clock.policy())
			require.NoError(t, err)
			st, err := g.Run(context.Background(), "octo/infra", 7)
			require.NoError(t, err)
			assert.Equal(t, "in_progress", st.Status)
			assert.Equal(t, []time.Duration{time.Minute}, clock.slept())
			assert.Equal(t, 2, api.Requests(""))
		})
	}
}

func TestRateLimitBeyondTheBudgetFallsBackToAgeRules(t *testing.T) {
	t.Parallel()
	api := fakegithub.New()
	srv := serveFake(t, api)
	api.End("octo/infra", 7, 1, "cancelled", "GitHub Actions 1", now.Add(-2*time.Hour))
	api.SecondaryLimit(5, http.StatusForbidden, 0) // a minute, then two: more than MaxWait
	clock := &fakeClock{t: time.Now()}
	g, err := NewGitHubRuns(srv.URL, "", nil, clock.policy())
	require.NoError(t, err)
	_, err = g.Run(context.Background(), "octo/infra", 7)
	var rl *RateLimitedError
	require.ErrorAs(t, err, &rl)
	assert.Contains(t, err.Error(), "age rules")
	assert.Equal(t, []time.Duration{time.Minute}, clock.slept(), "at least a minute, then twice that: past MaxWait, not taken")
	assert.Equal(t, 2, api.Requests(""), "no request sent while GitHub says to wait")

	// The classifier says why age decided.
	cl := &Classifier{Policy: Policy{ActiveWithin: time.Minute, StaleAfter: time.Hour, Repository: "octo/infra"}, Runs: g,
		Now: func() time.Time { return now }}
	l := lockAged(3*time.Hour, "runner@host")
	r := record(7, 1, time.Minute, 3*time.Hour)
	r.LockPath = l.LockPath
	v := cl.Classify(context.Background(), l, []RunRecord{r})
	assert.Contains(t, v.APIProblem, "GitHub rate limit")
	assert.Contains(t, v.Reason, "judged by the age rules")
	assert.Equal(t, 2, api.Requests(""), "still none sent")
}

func TestRateLimitBudgetBoundsAllWaits(t *testing.T) {
	t.Parallel()
	api := fakegithub.New()
	srv := serveFake(t, api)
	for id := int64(1); id <= 3; id++ {
		api.SetAttempt("octo/infra", id, 1, "in_progress", "")
	}
	api.SecondaryLimit(1, http.StatusTooManyRequests, 50*time.Second)
	clock := &fakeClock{t: time.Now()}
	p := clock.policy()
	p.Budget = 90 * time.Second
	g, err := NewGitHubRuns(srv.URL, "", nil, p)
	require.NoError(t, err)
	ctx := context.Background()
	_, err = g.Run(ctx, "octo/infra", 1)
	require.NoError(t, err, "one wait of 50 s fits")
	api.SecondaryLimit(1, http.StatusTooManyRequests, 50*time.Second)
	_, err = g.Run(ctx, "octo/infra", 2)
	var rl *RateLimitedError
	require.ErrorAs(t, err, &rl, "a second wait would end 100 s after the first began")
	assert.Contains(t, rl.Why, "budget")
	assert.Equal(t, []time.Duration{50 * time.Second}, clock.slept())
}

// go-github refuses, by the wall clock, every request until a reset it has
// seen with x-ratelimit-remaining: 0. The transport alone decides: once
// the reset has passed, requests go through.
func TestSpentPrimaryLimitHoldsRequestsUntilTheResetOnly(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Now().Truncate(time.Second)}
	api := fakegithub.New()
	api.Now = clock.Now
	api.RateLimit = 2
	srv := serveFake(t, api)
	for id := int64(1); id <= 4; id++ {
		api.SetAttempt("octo/infra", id, 1, "in_progress", "")
	}
	g, err := NewGitHubRuns(srv.URL, "", nil, clock.policy())
	require.NoError(t, err)
	ctx := context.Background()
	for id := int64(1); id <= 2; id++ {
		_, err := g.Run(ctx, "octo/infra", id)
		require.NoError(t, err)
	}
	_, err = g.Run(ctx, "octo/infra", 3)
	var rl *RateLimitedError
	require.ErrorAs(t, err, &rl, "the reset is an hour away")
	assert.Equal(t, 2, api.Requests(""), "the spent limit is not hammered")
	clock.advance(time.Hour + 2*time.Second)
	st, err := g.Run(ctx, "octo/infra", 4)
	require.NoError(t, err, "after the reset the next request is sent, whatever go-github saw")
	assert.Equal(t, int64(4), st.ID)
	assert.Equal(t, 3, api.Requests(""))
}

func TestPrimaryLimitSoonIsWaitedOut(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Now().Truncate(time.Second)}
	api := fakegithub.New()
	api.Now = clock.Now
	srv := serveFake(t, api)
	api.SetAttempt("octo/infra", 1, 1, "in_progress", "")
	api.ExhaustPrimary(http.StatusForbidden, clock.Now().Add(30*time.Second))
	g, err := NewGitHubRuns(srv.URL, "", nil, clock.policy())
	require.NoError(t, err)
	_, err = g.Run(context.Background(), "octo/infra", 1)
	require.NoError(t, err)
	assert.Equal(t, []time.Duration{31 * time.Second}, clock.slept(), "until x-ratelimit-reset, and a second")
}

func TestTokenRefusalsNameTheFix(t *testing.T) {
	t.Parallel()
	api := fakegithub.New()
	api.NoActionsRead = true
	srv := serveFake(t, api)
	clock := &fakeClock{t: time.Now()}
	g, err := NewGitHubRuns(srv.URL, "tok", nil, clock.policy())
	require.NoError(t, err)
	_, err = g.Run(context.Background(), "octo/infra", 7)
	require.ErrorIs(t, err, ErrNoActionsRead)
	assert.Contains(t, err.Error(), "permissions: actions: read")
	assert.Empty(t, clock.slept(), "a missing permission is not a rate limit: no wait")
	assert.Equal(t, 1, api.Requests(""))

	bad := fakegithub.New()
	bad.Token = "the-right-one"
	srv2 := serveFake(t, bad)
	g2, err := NewGitHubRuns(srv2.URL, "expired", nil, clock.policy())
	require.NoError(t, err)
	_, err = g2.Attempt(context.Background(), "octo/infra", 7, 1)
	require.ErrorIs(t, err, ErrBadToken)
	assert.False(t, errors.Is(err, ErrRunNotFound))
	assert.True(t, strings.Contains(err.Error(), "401"), "%v", err)
}
