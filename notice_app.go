package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/text2agent/tfstate-guard/notice"
	"github.com/text2agent/tfstate-guard/report"

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

// maskSecrets hides the webhook URL in the job's log before anything
// could print it (the runner already masks a value from secrets; a URL
// given some other way is masked too).
func (a *app) maskSecrets() {
	if a.cfg.InActions && a.cfg.Notice.Webhook != "" {
		a.action.AddMask(a.cfg.Notice.Webhook)
	}
}

// notifyTimeout bounds each notice: telling people never holds up a job.
const notifyTimeout = time.Minute

// notify posts the pull-request comment and the webhook message. Each
// failure is one warning: telling people never fails the step.
func (a *app) notify(ctx context.Context, det *lockcheck.Detection, auto []lockcheck.UnlockResult) {
	a.prComment(ctx, det)
	a.chat(ctx, det, auto)
}

func (a *app) prComment(ctx context.Context, det *lockcheck.Detection) {
	n := a.cfg.Notice
	if n.PRComment == "off" || n.PRComment == "" {
		return
	}
	if n.PR == 0 {
		switch {
		case n.EventProblem != "":
			a.warnf("pr-comment: no comment: %s", n.EventProblem)
		case n.PRComment == "on":
			a.warnf("pr-comment is on, but this run is not for a pull request (event %q; pull_request and pull_request_target are): no comment", n.Event)
		}
		return
	}
	if a.cfg.GitHubToken == "" || a.cfg.Repository == "" {
		a.warnf("pr-comment: no comment on pull request #%d: it needs github-token and github-repository", n.PR)
		return
	}
	pc, err := notice.NewPRComments(a.cfg.GitHubAPIURL, a.cfg.GitHubToken, nil)
	if err != nil {
		a.warnf("pr-comment: %v", err)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, notifyTimeout)
	defer cancel()
	scope := ""
	if a.cfg.LockIDPrefix != "" || a.cfg.StatePrefix != "" {
		scope = a.cfg.LockIDPrefix + "\x00" + a.cfg.StatePrefix
	}
	marker := report.PRNoticeMarker(n.Workflow, firstNonEmpty(a.cfg.LockTable, a.cfg.StateBucket), scope)
	res, err := pc.Post(ctx, a.cfg.Repository, n.PR, marker, func(previous string) string {
		return report.PRNotice{
			Marker: marker, Now: a.now(), Verdicts: det.Verdicts, Previous: report.ParsePRNoticeStates(previous),
			RunURL: n.RunURL, AutoUnlock: a.cfg.AutoUnlock == "definitive", StaleAfter: a.cfg.StaleAfter, OwnerJob: det.OwnerJob,
		}.Render()
	})
	switch {
	case errors.Is(err, notice.ErrNoPermission):
		a.warnf("pr-comment: GitHub refused to comment on pull request #%d (403): give the job permissions: pull-requests: write, or set pr-comment: off", n.PR)
	case err != nil:
		a.warnf("pr-comment: could not comment on pull request #%d: %v", n.PR, err)
	case res.Outcome != notice.Nothing:
		fmt.Fprintf(a.stderr, "pull request #%d: lock notice %s %s\n", n.PR, res.Outcome, report.Terminal(res.URL))
	}
}

func (a *app) chat(ctx context.Context, det *lockcheck.Detection, auto []lockcheck.UnlockResult) {
	url := a.cfg.Notice.Webhook
	if url == "" {
		return
	}
	msg, ok := report.ChatNotice(a.cfg.Repository, a.cfg.Notice.RunURL, det, auto, a.now())
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, notifyTimeout)
	defer cancel()
	if err := (notice.Webhook{URL: url}).Post(ctx, msg); err != nil {
		a.warnf("%v (nothing else is affected)", err)
		return
	}
	fmt.Fprintln(a.stderr, "notify-webhook: message sent")
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
