package lockcheck

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/text2agent/tfstate-guard/internal/ctxwait"
)

// AutoUnlockable lists the stale verdicts detect may remove without a
// person: those whose owner is proven gone (definitive evidence), each
// judged on its own, and whose ID is a lock ID (ValidLockID: the ID goes
// into outputs). A lock whose candidate owners GitHub could not all
// answer about is never among them (it is not definitive), and it blocks
// only itself: another repository's run that this token cannot see does
// not stop the removal of a lock whose owner is proven gone.
func AutoUnlockable(det *Detection) []Approved {
	var out []Approved
	for _, v := range det.Stale() {
		if v.Evidence == EvidenceDefinitive && v.APIProblem == "" && ValidLockID(v.Lock.ID()) {
			out = append(out, Approved{ID: v.Lock.ID(), Path: v.Lock.LockPath})
		}
	}
	return out
}

// AutoUnlock removes the definitive stale locks of det through unlock's own
// path: consistent re-read, re-classification that must again find the
// owner proven gone, a delete conditioned on the exact lock read, and a
// verifying read.
func AutoUnlock(ctx context.Context, u *Unlocker, det *Detection) ([]UnlockResult, error) {
	approved := AutoUnlockable(det)
	if len(approved) == 0 {
		return nil, nil
	}
	strict := *u
	strict.RequireEvidence = EvidenceDefinitive
	return strict.Unlock(ctx, approved)
}

// WaitPolicy says how long detect waits for active locks to go, and how
// often it looks again.
type WaitPolicy struct {
	// Budget is the most detect waits in all (wait-for-active).
	Budget time.Duration
	// First is the first pause; each next one is Factor times longer, up
	// to Max.
	First, Max time.Duration
	Factor     float64
	// Sleep and Now default to a context-aware sleep and time.Now.
	Sleep func(context.Context, time.Duration) error
	Now   func() time.Time
}

// DefaultWaitPolicy waits up to budget, looking again after 5 s, then
// backing off to every 30 s.
func DefaultWaitPolicy(budget time.Duration) WaitPolicy {
	return WaitPolicy{Budget: budget, First: 5 * time.Second, Max: 30 * time.Second, Factor: 1.5}
}

// liveForgetter is a Runs whose cached answers about live runs can be
// dropped, so the next question about them goes to GitHub again.
type liveForgetter interface{ ForgetLive() }

// DetectWaiting detects, and while active locks remain and the budget lasts,
// pauses and detects again (consistent reads, GitHub re-asked only about
// runs that were live or could not be asked). progress hears about each
// pause before it starts. It returns the last detection; the error is the
// context's when the wait was cancelled.
func (d *Detector) DetectWaiting(ctx context.Context, p WaitPolicy, progress func(det *Detection, left time.Duration)) (*Detection, error) {
	sleep, now := p.Sleep, p.Now
	if sleep == nil {
		sleep = ctxwait.Sleep
	}
	if now == nil {
		now = time.Now
	}
	det, err := d.Detect(ctx)
	if err != nil || p.Budget <= 0 {
		return det, err
	}
	deadline := now().Add(p.Budget)
	delay := p.First
	for len(det.Active()) > 0 {
		left := deadline.Sub(now())
		if left <= 0 {
			return det, nil
		}
		if progress != nil {
			progress(det, left)
		}
		if err := sleep(ctx, min(delay, left)); err != nil {
			return det, err
		}
		delay = min(time.Duration(float64(delay)*p.Factor), p.Max)
		if f, ok := d.Classifier.Runs.(liveForgetter); ok {
			f.ForgetLive()
		}
		next, err := d.Detect(ctx)
		if err != nil {
			return det, err
		}
		det = next
	}
	return det, nil
}

// WaitingFor says in one line what detect is waiting for: the live runs
// holding locks, and locks that no run explains.
func WaitingFor(det *Detection, left time.Duration) string {
	type owner struct {
		label string
		locks int
	}
	var owners []*owner
	byRun := map[string]*owner{}
	unexplained := 0
	for _, v := range det.Active() {
		if v.Owner == nil || v.Owner.ID == 0 {
			unexplained++
			continue
		}
		key := fmt.Sprintf("%s#%d", v.Owner.Repository, v.Owner.ID)
		o := byRun[key]
		if o == nil {
			label := fmt.Sprintf("run %d", v.Owner.ID)
			if v.Owner.Workflow != "" {
				label += fmt.Sprintf(" (%s)", v.Owner.Workflow)
			}
			o = &owner{label: label}
			byRun[key] = o
			owners = append(owners, o)
		}
		o.locks++
	}
	var parts []string
	for _, o := range owners {
		parts = append(parts, fmt.Sprintf("%s, %d lock(s)", o.label, o.locks))
	}
	if unexplained > 0 {
		parts = append(parts, fmt.Sprintf("%d lock(s) held by no known run, young enough to be live", unexplained))
	}
	return fmt.Sprintf("waiting for %s; %s left", strings.Join(parts, "; "), left.Round(time.Second))
}
