//go:build unix

package wrapper

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/text2agent/tfstate-guard/lockcheck"
)

// releaseTimeout bounds the release of the lock and lease at the end.
const releaseTimeout = 30 * time.Second

// Run takes the lock when the command locks state, runs Terraform with
// -lock=false while keeping the lease, and releases both when Terraform
// exits, however it exits. It returns Terraform's exit code (128 + signal
// when a signal ended it); err is set when the wrapper failed on its own
// (the lock could not be taken, or released).
func Run(ctx context.Context, o Options) (int, error) {
	if o.Clock == nil {
		o.Clock = RealClock
	}
	sigs := make(chan os.Signal, 16)
	caught := []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGCONT}
	if !o.Interactive {
		caught = append(caught, syscall.SIGTSTP)
	}
	signal.Notify(sigs, caught...)
	defer signal.Stop(sigs)
	if o.OwnsChildren {
		becomeSubreaper()
	}

	if !o.Command.Locks || !o.Backend.Locks() {
		return o.runTerraform(context.WithoutCancel(ctx), o.Command.Args, sigs, nil)
	}

	// A signal while waiting for the lock ends the wait: nothing was taken.
	actx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case s := <-sigs:
			o.Log("%s while waiting for the lock: giving up, nothing was taken", s)
			cancel()
		case <-actx.Done():
		}
	}()
	locker := &Locker{DDB: o.DDB, S3: o.S3, Backend: o.Backend}
	info := NewLockInfo(o.Command.Operation, o.Backend.LockPath(), o.TerraformVersionInLock)
	err := locker.Acquire(actx, info, o.Command.LockTimeout, func(held *HeldError, d time.Duration) {
		o.Log("state %s is locked by %s (lock %s); trying again in %s (-lock-timeout %s)", o.Backend.LockPath(), held.Holder.Info.Who, held.Holder.ID(), d, o.Command.LockTimeout)
	})
	stopped := actx.Err() != nil
	cancel()
	if err != nil {
		if stopped {
			return 130, errors.New("interrupted while waiting for the state lock: nothing was taken")
		}
		return 1, fmt.Errorf("take the state lock: %w", err)
	}
	if stopped {
		// The signal came as the lock was taken: give it back, run nothing.
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
		defer rcancel()
		return 130, errors.Join(errors.New("interrupted while taking the state lock: released it, Terraform did not run"), locker.Release(rctx))
	}
	o.Log("took the state lock %s (ID %s) for terraform %s", o.Backend.LockPath(), info.ID, o.Command.Subcommand)
	// From here the wrapper ends only when Terraform has ended: a signal
	// is passed on, it does not stop the lease or the release.
	ctx = context.WithoutCancel(ctx)

	leaser := o.newLeaser(info)
	code, runErr := o.runTerraform(ctx, o.Command.Unlocked(), sigs, func(interrupt, kill func()) func() {
		return o.keepLease(ctx, leaser, interrupt, kill)
	})

	// The lease and the lock go at once: one round trip of waiting.
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer rcancel()
	var errs []error
	if runErr != nil {
		errs = append(errs, runErr)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := leaser.Release(rctx); err != nil {
			o.Log("%v", err)
		}
	}()
	lockErr := locker.Release(rctx)
	wg.Wait()
	if lockErr != nil {
		errs = append(errs, fmt.Errorf("release the state lock (ID %s): %w", info.ID, lockErr))
	} else {
		o.Log("released the state lock %s (ID %s)", o.Backend.LockPath(), info.ID)
	}
	return code, errors.Join(errs...)
}

func (o Options) newLeaser(info LockInfo) *Leaser {
	id := o.Identity
	l := lockcheck.Lease{LockPath: o.Backend.LockPath(), LockID: info.ID, Host: id.Host, PID: id.PID,
		TermSeconds: o.LeaseTerm.Seconds(), Repository: id.Repository, RunID: id.RunID, RunAttempt: id.RunAttempt,
		Job: id.Job, RunnerName: id.RunnerName}
	return NewLeaser(o.Backend, o.DDB, o.S3, o.AWSClock, l)
}

// keepLease writes the first lease while Terraform starts (it takes far
// longer to reach the state than one write), then renews it and fences
// Terraform through interrupt and kill when it cannot. No store taking a
// lease means no renewals and no fence. stop ends it.
func (o Options) keepLease(ctx context.Context, leaser *Leaser, interrupt, kill func()) (stop func()) {
	kctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		started := o.Clock.Now()
		// A store that does not answer holds the end up a term at most (a
		// lease not written within a term would be expired anyway). It is
		// not cut short by Terraform's exit: a write that landed unanswered
		// would be left behind, unreleased.
		sctx, scancel := context.WithTimeout(ctx, o.LeaseTerm)
		ok, _ := leaser.Start(sctx, func(msg string) { o.Log("warning: %s", msg) })
		scancel()
		if !ok {
			return
		}
		k := &Keeper{Clock: o.Clock, Interval: o.LeaseInterval, Term: o.LeaseTerm, Fence: FenceFor(o.LeaseTerm),
			Renew: leaser.Renew, Interrupt: interrupt, Kill: kill, Log: o.Log}
		k.Run(kctx, started)
	}()
	return func() { cancel(); <-done }
}

// runTerraform runs args, passing signals on: the first interrupt or
// termination becomes exactly one SIGINT to Terraform, later ones are
// absorbed and logged; SIGTSTP and SIGCONT are passed on. With a keeper,
// the lease is renewed while Terraform runs, and Terraform's whole tree is
// fenced when it cannot be.
func (o Options) runTerraform(ctx context.Context, args []string, sigs <-chan os.Signal, lease func(interrupt, kill func()) (stop func())) (int, error) {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr, cmd.Env = o.Stdin, o.Stdout, o.Stderr, o.Env
	prepare(cmd, o.Interactive)
	ownGroup := !o.Interactive
	started, done := make(chan error, 1), make(chan error, 1)
	startLocked(cmd, started, done)
	if err := <-started; err != nil {
		return 127, fmt.Errorf("start %s: %w", args[0], err)
	}
	pid := cmd.Process.Pid

	var mu sync.Mutex
	interrupted := false
	interrupt := func(why string) {
		mu.Lock()
		defer mu.Unlock()
		if interrupted {
			o.Log("%s: Terraform was interrupted already; absorbed, so it can finish and release cleanly", why)
			return
		}
		interrupted = true
		o.Log("%s: passing one interrupt (SIGINT) to Terraform", why)
		signalTree(pid, ownGroup, syscall.SIGINT)
	}
	stopLease := func() {}
	if lease != nil {
		stopLease = lease(func() { interrupt("lease cannot be renewed") }, func() { killTree(pid, ownGroup, o.OwnsChildren) })
	}
	var werr error
loop:
	for {
		select {
		case werr = <-done:
			break loop
		case s := <-sigs:
			switch s {
			case syscall.SIGTSTP:
				signalTree(pid, ownGroup, syscall.SIGTSTP)
				o.Log("SIGTSTP: Terraform stopped (the lease is still renewed: it holds the lock)")
			case syscall.SIGCONT:
				signalTree(pid, ownGroup, syscall.SIGCONT)
			case syscall.SIGINT:
				if o.Interactive {
					// The terminal sent it to Terraform too (same group).
					mu.Lock()
					if interrupted {
						o.Log("interrupt again: Terraform decides (a second Ctrl-C makes it exit at once); the lock is released by tfstate-guard either way")
					}
					interrupted = true
					mu.Unlock()
					continue
				}
				interrupt(s.String())
			default:
				interrupt(s.String())
			}
		}
	}
	stopLease()
	// Whatever Terraform left running (a provider, a local-exec) dies with it.
	killLeftovers(pid, ownGroup, o.OwnsChildren)
	var ee *exec.ExitError
	switch {
	case werr == nil:
		return 0, nil
	case errors.As(werr, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			o.Log("Terraform was ended by %s", ws.Signal())
			return 128 + int(ws.Signal()), nil
		}
		return ee.ExitCode(), nil
	default:
		return 1, werr
	}
}
