package lockcheck

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/text2agent/tfstate-guard/internal/ctxwait"
)

// RetryPolicy bounds how the GitHub client waits out rate limits and
// server errors. A wait longer than MaxWait, or one that would take the
// step's waits past Budget (or past the context's deadline), is not taken:
// the call fails with a *RateLimitedError and the caller falls back to
// rules that never need the API.
type RetryPolicy struct {
	MaxAttempts int           // total tries per request, first included
	MaxWait     time.Duration // longest single wait honoured
	BaseBackoff time.Duration // first wait after a 5xx or a network error
	// MinLimitWait is the least wait after a secondary rate limit that
	// does not say how long (no retry-after, no exhausted primary limit),
	// doubled at each one in a row: GitHub's documentation says to wait
	// at least a minute, longer each time.
	MinLimitWait time.Duration
	// Budget bounds the time the step spends waiting for GitHub's rate
	// limits, all requests together (concurrent waits for the same limit
	// count once). 0: only MaxWait bounds waits.
	Budget time.Duration
	// AttemptTimeout bounds one try, answer and body included: a server
	// that accepts the connection and never answers is a failed try, not
	// a step that hangs until the job's timeout. 0: no bound.
	AttemptTimeout time.Duration
	// Sleep waits for d or until ctx ends; Now tells the time. Tests inject both.
	Sleep func(ctx context.Context, d time.Duration) error
	Now   func() time.Time
	// OnWait, when set, hears each wait and why (for warnings in the log).
	OnWait func(reason string, d time.Duration)
}

// DefaultRetryPolicy waits at most a minute at a time, two minutes in all
// for rate limits, four tries a request.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{MaxAttempts: 4, MaxWait: time.Minute, BaseBackoff: time.Second, MinLimitWait: time.Minute,
		Budget: 2 * time.Minute, AttemptTimeout: 30 * time.Second, Sleep: ctxwait.Sleep, Now: time.Now}
}

// RateLimitedError means GitHub asked for a wait the step cannot afford:
// the request was not answered, and the runs it would have asked about are
// judged by the age rules instead.
type RateLimitedError struct {
	Reason string    // which limit, as GitHub signalled it
	Until  time.Time // when GitHub allows the next request
	Wait   time.Duration
	Why    string // why the wait is not taken
}

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("GitHub rate limit (%s): the next request is allowed at %s, in %s, %s; the locks whose runs were not asked about are judged by the age rules",
		e.Reason, e.Until.UTC().Format(time.RFC3339), e.Wait.Round(time.Second), e.Why)
}

// retryTransport retries idempotent GitHub API requests: primary rate limits
// (403/429 with x-ratelimit-remaining: 0, until x-ratelimit-reset), secondary
// limits (retry-after; without it at least MinLimitWait, doubling), 5xx
// answers and network errors, with bounded tries. It is the one place that
// knows GitHub's rate limits: once GitHub says to wait, no request of the
// step is sent before then, and go-github never sees a limit answer (its
// own client-side block, kept by the wall clock until a reset, would fail
// every later request of the step without asking this transport).
type retryTransport struct {
	base   http.RoundTripper
	policy RetryPolicy

	mu        sync.Mutex
	blocked   time.Time // no request before this (policy clock)
	reason    string    // why blocked
	waitStart time.Time // start of the first rate-limit wait (for Budget)
	streak    int       // secondary limits in a row without a stated wait
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	idempotent := req.Method == http.MethodGet || req.Method == http.MethodHead
	backoff := t.policy.BaseBackoff
	for attempt := 1; ; attempt++ {
		if err := t.awaitLimit(req.Context()); err != nil {
			return nil, err
		}
		resp, err := t.try(req)
		if err == nil && t.limited(resp) {
			resp.Body.Close()
			if !idempotent || attempt >= t.policy.MaxAttempts {
				t.mu.Lock()
				until, reason := t.blocked, t.reason
				t.mu.Unlock()
				return nil, &RateLimitedError{Reason: reason, Until: until, Wait: until.Sub(t.policy.Now()),
					Why: fmt.Sprintf("after %d tries", attempt)}
			}
			continue // awaitLimit waits, or gives up within the budget
		}
		if err == nil {
			t.passOn(resp)
		}
		if !idempotent {
			return resp, err
		}
		wait, reason, retry := t.decide(req.Context(), resp, err, backoff)
		if !retry || attempt >= t.policy.MaxAttempts || wait > t.policy.MaxWait {
			return resp, err
		}
		if resp != nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
			resp.Body.Close()
		}
		if t.policy.OnWait != nil {
			t.policy.OnWait(reason, wait)
		}
		if serr := t.policy.Sleep(req.Context(), wait); serr != nil {
			return nil, serr
		}
		backoff *= 2
	}
}

// awaitLimit waits until GitHub allows the next request, or fails when
// that wait is more than the step may spend.
func (t *retryTransport) awaitLimit(ctx context.Context) error {
	t.mu.Lock()
	now := t.policy.Now()
	wait := t.blocked.Sub(now)
	if wait <= 0 {
		t.mu.Unlock()
		return nil
	}
	until, reason := t.blocked, t.reason
	why := ""
	switch {
	case wait > t.policy.MaxWait:
		why = fmt.Sprintf("longer than the longest wait this step takes (%s)", t.policy.MaxWait)
	case t.policy.Budget > 0 && !t.waitStart.IsZero() && until.Sub(t.waitStart) > t.policy.Budget:
		why = fmt.Sprintf("past this step's budget for rate-limit waits (%s)", t.policy.Budget)
	default:
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			why = "past the step's deadline"
		}
	}
	if why != "" {
		t.mu.Unlock()
		return &RateLimitedError{Reason: reason, Until: until, Wait: wait, Why: why}
	}
	if t.waitStart.IsZero() {
		t.waitStart = now
	}
	t.mu.Unlock()
	if t.policy.OnWait != nil {
		t.policy.OnWait(reason, wait)
	}
	if err := t.policy.Sleep(ctx, wait); err != nil {
		return err
	}
	t.mu.Lock()
	if t.blocked.Equal(until) {
		t.blocked = time.Time{} // served: GitHub's time has come
	}
	t.mu.Unlock()
	return nil
}

// limited reports whether resp is a rate-limit answer, and if so records
// until when GitHub wants no request, by GitHub's documented rules:
// retry-after first; else, with x-ratelimit-remaining: 0, the reset time;
// else, for a secondary limit, at least MinLimitWait, doubling each time.
// A 403 that is none of these (a token without a permission) is not one.
func (t *retryTransport) limited(resp *http.Response) bool {
	if resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusTooManyRequests {
		return false
	}
	now := t.policy.Now()
	var until time.Time
	var reason string
	secondary := resp.StatusCode == http.StatusTooManyRequests || t.saysSecondary(resp)
	if s := resp.Header.Get("Retry-After"); s != "" {
		if secs, err := strconv.Atoi(strings.TrimSpace(s)); err == nil && secs >= 0 {
			until, reason = now.Add(time.Duration(secs)*time.Second), fmt.Sprintf("HTTP %d, retry-after %ds", resp.StatusCode, secs)
		}
	}
	if until.IsZero() && resp.Header.Get("X-RateLimit-Remaining") == "0" {
		if reset, err := strconv.ParseInt(resp.Header.Get("X-RateLimit-Reset"), 10, 64); err == nil {
			until = time.Unix(reset, 0).Add(time.Second)
			if until.Before(now) {
				until = now
			}
			reason = fmt.Sprintf("HTTP %d, primary limit exhausted until x-ratelimit-reset", resp.StatusCode)
			secondary = false
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if until.IsZero() {
		if !secondary {
			return false
		}
		wait := t.policy.MinLimitWait << min(t.streak, 16)
		t.streak++
		until, reason = now.Add(wait), fmt.Sprintf("HTTP %d, secondary limit without retry-after: waiting at least %s", resp.StatusCode, wait)
	}
	if until.After(t.blocked) {
		t.blocked, t.reason = until, reason
	}
	return true
}

// saysSecondary reads a 403's body for GitHub's secondary-limit message
// and puts the body back.
func (t *retryTransport) saysSecondary(resp *http.Response) bool {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	s := strings.ToLower(string(b))
	return strings.Contains(s, "secondary rate limit") || strings.Contains(s, "abuse") || strings.Contains(s, "secondary-rate-limits")
}

// passOn records an answer's primary-limit headers and hides an exhausted
// limit from go-github: with x-ratelimit-remaining: 0, this transport
// holds the next request until the reset (or fails it within the budget).
func (t *retryTransport) passOn(resp *http.Response) {
	if resp.StatusCode < 400 {
		t.mu.Lock()
		t.streak = 0
		t.mu.Unlock()
	}
	if resp.Header.Get("X-RateLimit-Remaining") != "0" {
		return
	}
	if reset, err := strconv.ParseInt(resp.Header.Get("X-RateLimit-Reset"), 10, 64); err == nil {
		t.mu.Lock()
		if until := time.Unix(reset, 0).Add(time.Second); until.After(t.blocked) {
			t.blocked, t.reason = until, "primary limit spent (x-ratelimit-remaining: 0) until x-ratelimit-reset"
		}
		t.mu.Unlock()
	}
	for _, h := range []string{"X-RateLimit-Remaining", "X-RateLimit-Reset", "X-RateLimit-Limit", "X-RateLimit-Used"} {
		resp.Header.Del(h)
	}
}

// try makes one attempt within AttemptTimeout; the bound ends when the
// caller closes the body.
func (t *retryTransport) try(req *http.Request) (*http.Response, error) {
	if t.policy.AttemptTimeout <= 0 {
		return t.base.RoundTrip(req)
	}
	ctx, cancel := context.WithTimeout(req.Context(), t.policy.AttemptTimeout)
	resp, err := t.base.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel()
		if ctx.Err() == context.DeadlineExceeded && req.Context().Err() == nil {
			err = fmt.Errorf("no answer within %s: %w", t.policy.AttemptTimeout, err)
		}
		return nil, err
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// decide says whether an answer other than a rate limit is worth another
// try, and after how long.
func (t *retryTransport) decide(ctx context.Context, resp *http.Response, err error, backoff time.Duration) (time.Duration, string, bool) {
	if err != nil {
		var rl *RateLimitedError
		if ctx.Err() != nil || errors.As(err, &rl) {
			return 0, "", false
		}
		return backoff, fmt.Sprintf("network error: %v", err), true
	}
	if resp.StatusCode >= 500 {
		return backoff, fmt.Sprintf("HTTP %d from the API", resp.StatusCode), true
	}
	return 0, "", false
}
