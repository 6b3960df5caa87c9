package wrapper

import (
	"context"
	"time"
)

// Clock is the time the keeper fences by: the local monotonic clock in
// production, a fake one in tests.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// RealClock is the local monotonic clock.
var RealClock Clock = realClock{}

// Fence is when a holder that cannot renew stops Terraform: an interrupt
// InterruptBefore the term ends (Terraform stops gracefully, unlocking
// nothing: the wrapper does that), and a kill of the whole process tree
// KillBefore it ends. Both count from the start of the last renewal that
// succeeded, so the lease it wrote cannot be read as expired before
// Terraform is dead.
type Fence struct {
	InterruptBefore, KillBefore time.Duration
}

// FenceFor is the fence of a term: SIGINT at term - 15 s and SIGKILL at
// term - 5 s for the default 60 s term; shorter terms (tests) scale down
// to half and a quarter of the term, so the kill stays well clear of the
// second AWS's Date can be off by.
func FenceFor(term time.Duration) Fence {
	return Fence{InterruptBefore: min(15*time.Second, term/2), KillBefore: min(5*time.Second, term/4)}
}

// Keeper renews a lease every Interval and fences the holder when it
// cannot: Interrupt once at Term - InterruptBefore, Kill at Term -
// KillBefore, both counted from the start of the last renewal that
// succeeded. A renewal that hangs does not delay the fence: renewals run
// apart from the clock that fences.
type Keeper struct {
	lastOK    time.Time
	Clock     Clock
	Interval  time.Duration
	Term      time.Duration
	Fence     Fence
	Renew     func(ctx context.Context) error
	Interrupt func()
	Kill      func()
	Log       func(format string, args ...any)
}

// Run keeps the lease until ctx ends. lastOK is when the first lease
// write started.
func (k *Keeper) Run(ctx context.Context, lastOK time.Time) {
	interrupted, killed := false, false
	nextRenew := lastOK.Add(k.Interval)
	var inflight <-chan error
	var started time.Time
	for {
		now := k.Clock.Now()
		interruptAt := lastOK.Add(k.Term - k.Fence.InterruptBefore)
		killAt := lastOK.Add(k.Term - k.Fence.KillBefore)
		if !killed && !now.Before(killAt) {
			killed = true
			k.Log("lease not renewed for %s (term %s): killing Terraform's whole process tree", now.Sub(lastOK).Round(time.Millisecond), k.Term)
			k.Kill()
		} else if !interrupted && !now.Before(interruptAt) {
			interrupted = true
			k.Log("lease not renewed for %s (term %s): interrupting Terraform before the lease can be taken as expired", now.Sub(lastOK).Round(time.Millisecond), k.Term)
			k.Interrupt()
		}
		if inflight == nil && !now.Before(nextRenew) && !killed {
			ch := make(chan error, 1)
			inflight, started = ch, now
			rctx, cancel := context.WithCancel(ctx)
			go func() {
				defer cancel()
				ch <- k.Renew(rctx)
			}()
		}
		wait := nextRenew.Sub(now)
		if inflight != nil {
			wait = time.Hour
		}
		if !interrupted {
			wait = min(wait, interruptAt.Sub(now))
		} else if !killed {
			wait = min(wait, killAt.Sub(now))
		}
		wait = max(wait, 0)
		select {
		case <-ctx.Done():
			return
		case err := <-inflight:
			inflight = nil
			if err != nil {
				k.Log("lease renewal failed: %v", err)
				nextRenew = k.Clock.Now().Add(min(k.Interval, time.Second))
				continue
			}
			if !interrupted && !killed {
				lastOK = started
			}
			nextRenew = started.Add(k.Interval)
		case <-k.Clock.After(wait):
		}
	}
}
