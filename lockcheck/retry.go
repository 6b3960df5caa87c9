package lockcheck

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/text2agent/tfstate-guard/internal/ctxwait"
)

// RetryPolicy bounds how the GitHub client waits out rate limits and
// server errors. A wait longer than MaxWait is not taken: the call fails and
// the caller falls back to rules that never need the API.
type RetryPolicy struct {
	MaxAttempts int           // total tries per request, first included
	MaxWait     time.Duration // longest single wait honoured
	BaseBackoff time.Duration // first wait after a 5xx or a network error
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

// DefaultRetryPolicy waits at most a minute at a time, four tries in all.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{MaxAttempts: 4, MaxWait: time.Minute, BaseBackoff: time.Second, AttemptTimeout: 30 * time.Second,
		Sleep: ctxwait.Sleep, Now: time.Now}
}

// retryTransport retries idempotent GitHub API requests: primary rate limits
// (403/429 with x-ratelimit-remaining: 0, until x-ratelimit-reset), secondary
// limits (retry-after), 5xx answers and network errors, with bounded tries.
type retryTransport struct {
	base   http.RoundTripper
	policy RetryPolicy
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		return t.base.RoundTrip(req)
	}
	backoff := t.policy.BaseBackoff
	for attempt := 1; ; attempt++ {
		resp, err := t.try(req)
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

// decide says whether an answer is worth another try, and after how long.
func (t *retryTransport) decide(ctx context.Context, resp *http.Response, err error, backoff time.Duration) (time.Duration, string, bool) {
	if err != nil {
		if ctx.Err() != nil {
			return 0, "", false
		}
		return backoff, fmt.Sprintf("network error: %v", err), true
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusForbidden:
		if s := resp.Header.Get("Retry-After"); s != "" {
			if secs, perr := strconv.Atoi(s); perr == nil && secs >= 0 {
				return time.Duration(secs) * time.Second, "secondary rate limit (retry-after)", true
			}
		}
		if resp.Header.Get("X-RateLimit-Remaining") == "0" {
			if reset, perr := strconv.ParseInt(resp.Header.Get("X-RateLimit-Reset"), 10, 64); perr == nil {
				wait := time.Unix(reset, 0).Sub(t.policy.Now())
				if wait < 0 {
					wait = 0
				}
				return wait + time.Second, "primary rate limit exhausted (x-ratelimit-reset)", true
			}
		}
		if resp.StatusCode == http.StatusTooManyRequests {
			return backoff, "HTTP 429 without a reset time", true
		}
		return 0, "", false
	case resp.StatusCode >= 500:
		return backoff, fmt.Sprintf("HTTP %d from the API", resp.StatusCode), true
	}
	return 0, "", false
}
