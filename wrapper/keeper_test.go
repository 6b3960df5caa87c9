package wrapper

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeClock moves only when the test advances it, to the earliest
// deadline anyone waits for: the keeper is woken exactly at the instants it
// asked for, and a renewal that answers at once is seen first (the test
// lets real time pass before each step).
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []fakeWaiter
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.waiters = append(c.waiters, fakeWaiter{at: c.now.Add(d), ch: ch})
	return ch
}

// step moves the time to the earliest deadline and fires it.
func (c *fakeClock) step() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.waiters) == 0 {
		return
	}
	first := 0
	for i, w := range c.waiters {
		if w.at.Before(c.waiters[first].at) {
			first = i
		}
	}
	w := c.waiters[first]
	c.waiters = append(c.waiters[:first], c.waiters[first+1:]...)
	if w.at.After(c.now) {
		c.now = w.at
	}
	w.ch <- c.now
}

// fenceRun runs a keeper with the default term until it kills or the fake
// clock passes limit, and says when (in fake time after the start) it
// interrupted and killed; zero when it did not.
func fenceRun(t *testing.T, renew func(ctx context.Context, at time.Duration) error, limit time.Duration) (interruptAt, killAt time.Duration, renewals int) {
	t.Helper()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := &fakeClock{now: start}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	done := make(chan struct{})
	k := &Keeper{
		Clock: clock, Interval: 15 * time.Second, Term: 60 * time.Second, Fence: FenceFor(60 * time.Second),
		Renew: func(ctx context.Context) error {
			mu.Lock()
			renewals++
			mu.Unlock()
			return renew(ctx, clock.Now().Sub(start))
		},
		Interrupt: func() {
			mu.Lock()
			defer mu.Unlock()
			require.Zero(t, interruptAt, "one interrupt only")
			interruptAt = clock.Now().Sub(start)
		},
		Kill: func() {
			mu.Lock()
			defer mu.Unlock()
			killAt = clock.Now().Sub(start)
			cancel()
		},
		Log: func(string, ...any) {},
	}
	go func() { k.Run(ctx, start); close(done) }()
	for {
		select {
		case <-done:
			mu.Lock()
			defer mu.Unlock()
			return interruptAt, killAt, renewals
		case <-time.After(5 * time.Millisecond):
			if clock.Now().Sub(start) > limit {
				cancel()
			}
			clock.step()
		}
	}
}

func TestKeeperFencesAHolderThatCannotRenew(t *testing.T) {
	t.Parallel()
	failed := errors.New("store unreachable")
	for _, tc := range []struct {
		name                string
		renew               func(ctx context.Context, at time.Duration) error
		interrupt, kill     time.Duration
		limit               time.Duration
		wantRenewalsAtLeast int
	}{
		{name: "every renewal succeeds: never fenced", renew: func(context.Context, time.Duration) error { return nil },
			limit: 10 * time.Minute, wantRenewalsAtLeast: 39},
		{name: "every renewal fails: SIGINT at term-15s, SIGKILL at term-5s", renew: func(context.Context, time.Duration) error { return failed },
			interrupt: 45 * time.Second, kill: 55 * time.Second, limit: 10 * time.Minute, wantRenewalsAtLeast: 3},
		{name: "renewals hang: the fence does not wait for them", renew: func(ctx context.Context, _ time.Duration) error { <-ctx.Done(); return ctx.Err() },
			interrupt: 45 * time.Second, kill: 55 * time.Second, limit: 10 * time.Minute, wantRenewalsAtLeast: 1},
		{name: "the store goes away after 2 minutes: fenced from the last renewal that started in time",
			renew: func(_ context.Context, at time.Duration) error {
				if at >= 2*time.Minute {
					return failed
				}
				return nil
			},
			interrupt: 105*time.Second + 45*time.Second, kill: 105*time.Second + 55*time.Second, limit: 10 * time.Minute, wantRenewalsAtLeast: 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			interrupt, kill, n := fenceRun(t, tc.renew, tc.limit)
			assert.Equal(t, tc.interrupt, interrupt, "interrupt")
			assert.Equal(t, tc.kill, kill, "kill")
			assert.GreaterOrEqual(t, n, tc.wantRenewalsAtLeast)
		})
	}
}

func TestFenceForScalesWithTheTerm(t *testing.T) {
	t.Parallel()
	assert.Equal(t, Fence{15 * time.Second, 5 * time.Second}, FenceFor(time.Minute))
	assert.Equal(t, Fence{6 * time.Second, 3 * time.Second}, FenceFor(12*time.Second))
	assert.Equal(t, Fence{15 * time.Second, 5 * time.Second}, FenceFor(2*time.Minute))
}

// A wrapper frozen with its Terraform (a suspended laptop, SIGSTOP of the
// job) wakes long after its lease expired: the lock may have been removed
// meanwhile, so Terraform is killed at once, before any renewal could make
// the stale lease look live again.
func TestKeeperKillsAtOnceAfterAFreeze(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := &fakeClock{now: start}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var renewals, interrupts int
	var killedAt time.Duration
	renewedAtKill := -1
	k := &Keeper{Clock: clock, Interval: 15 * time.Second, Term: time.Minute, Fence: FenceFor(time.Minute),
		Renew:     func(context.Context) error { mu.Lock(); renewals++; mu.Unlock(); return nil },
		Interrupt: func() { mu.Lock(); interrupts++; mu.Unlock() },
		Kill: func() {
			mu.Lock()
			defer mu.Unlock()
			killedAt, renewedAtKill = clock.Now().Sub(start), renewals
			cancel()
		},
		Log: func(string, ...any) {}}
	done := make(chan struct{})
	go func() { k.Run(ctx, start); close(done) }()
	for clock.Now().Sub(start) < 40*time.Second {
		time.Sleep(5 * time.Millisecond)
		clock.step()
	}
	time.Sleep(20 * time.Millisecond)
	mu.Lock()
	before := renewals
	mu.Unlock()
	require.GreaterOrEqual(t, before, 2)
	clock.mu.Lock()
	clock.now = clock.now.Add(10 * time.Minute) // frozen, then resumed
	clock.mu.Unlock()
	for {
		select {
		case <-done:
			mu.Lock()
			defer mu.Unlock()
			assert.Greater(t, killedAt, 10*time.Minute)
			assert.Equal(t, before, renewedAtKill, "no renewal before the kill")
			assert.Zero(t, interrupts, "no graceful stop: the lease is long gone")
			return
		case <-time.After(5 * time.Millisecond):
			clock.step()
		}
	}
}
