package report

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/text2agent/tfstate-guard/lockcheck"
)

var noticeNow = time.Date(2026, 12, 2, 16, 0, 0, 0, time.UTC)

func noticeLock(id, path, who, op string, created time.Time) lockcheck.Lock {
	return lockcheck.Lock{LockPath: path, Created: created,
		Info: lockcheck.Info{ID: id, Who: who, Operation: op, Created: created.Format(time.RFC3339Nano), Path: path}}
}

func activeVerdict() lockcheck.Verdict {
	created := noticeNow.Add(-12 * time.Minute)
	return lockcheck.Verdict{
		Lock:   noticeLock("9161f8d3-91c8-c716-d20c-f2c95576c5e2", "tfstate-bkt/app/terraform.tfstate", "runner@runnervm7", "OperationTypeApply", created),
		Status: lockcheck.StatusActive, Rule: lockcheck.RuleOwnerLive, Evidence: lockcheck.EvidenceDefinitive,
		Reason: `run 4100 attempt 1 (record of job "terraform-apply", host runnervm7) is in_progress`,
		Owner: &lockcheck.RunState{Repository: "octo/infra", ID: 4100, Attempt: 1, Status: "in_progress", Workflow: "terraform",
			URL: "https://github.com/octo/infra/actions/runs/4100", Actor: "octo-dev", TriggeringActor: "octo-dev"},
		Age: 12 * time.Minute, AgeKnown: true,
	}
}

func staleVerdict() lockcheck.Verdict {
	created := noticeNow.Add(-3 * time.Hour)
	return lockcheck.Verdict{
		Lock:   noticeLock("0c9a1f5e-2b7d-4e0a-9d3b-6f1e2a4c8b70", "tfstate-bkt/network/terraform.tfstate", "alice@alices-macbook", "OperationTypePlan", created),
		Status: lockcheck.StatusStale, Rule: lockcheck.RuleTooOld, Evidence: lockcheck.EvidenceNone,
		Reason: "no run owns it, and it is 3h0m0s old: older than stale-after 30m0s", Age: 3 * time.Hour, AgeKnown: true,
	}
}

func notice(vs []lockcheck.Verdict, prev PRNoticeStates, now time.Time) PRNotice {
	return PRNotice{Marker: PRNoticeMarker("terraform", "locks", ""), Now: now, Verdicts: vs, Previous: prev,
		RunURL: "https://github.com/octo/infra/actions/runs/4200", StaleAfter: 30 * time.Minute,
		OwnerJob: func(v lockcheck.Verdict) string {
			if v.Owner != nil && v.Owner.ID == 4100 {
				return "terraform-apply"
			}
			return ""
		}}
}

// The comment through its life: an active lock, then a stale one beside
// it, then both clear.
func TestPRNoticeGolden(t *testing.T) {
	t.Parallel()
	active := notice([]lockcheck.Verdict{activeVerdict()}, nil, noticeNow).Render()
	golden(t, "pr-notice-active.md", active)

	stale := notice([]lockcheck.Verdict{staleVerdict()}, ParsePRNoticeStates(active), noticeNow.Add(5*time.Minute)).Render()
	golden(t, "pr-notice-stale.md", stale)
	assert.Contains(t, stale, "tfstate-bkt/app/terraform.tfstate: clear since 2026-12-02 16:05:00 UTC", "the earlier state is marked clear")

	cleared := notice(nil, ParsePRNoticeStates(stale), noticeNow.Add(20*time.Minute)).Render()
	golden(t, "pr-notice-cleared.md", cleared)
	assert.Contains(t, cleared, "tfstate-bkt/app/terraform.tfstate: clear since 2026-12-02 16:05:00 UTC", "the first time it was seen clear stays")
	assert.Contains(t, cleared, "tfstate-bkt/network/terraform.tfstate: clear since 2026-12-02 16:20:00 UTC")

	assert.Empty(t, notice(nil, nil, noticeNow).Render(), "nothing blocks and nothing was listed: no comment")
}

func TestPRNoticeHostileLockContent(t *testing.T) {
	t.Parallel()
	v := staleVerdict()
	v.Lock.Info.Who = "@here <img src=x onerror=alert(1)> @octo-org/admins\n| a | b |\n|---|---|\n| x | y |"
	v.Lock.Info.Operation = "-->\n<!-- tfstate-guard:states {\"x\":\"\"} -->\n# Title [link](https://evil.example) ![i](https://evil.example/i.png) `code` **bold** closes #1"
	v.Lock.LockPath = "bkt/<script>/@channel/terraform.tfstate"
	a := activeVerdict()
	a.Owner.Actor, a.Owner.TriggeringActor = "mallory <b>", "@everyone"
	a.Owner.Workflow = "wf](https://evil.example)"
	a.Owner.URL = "javascript:alert(1)"
	body := notice([]lockcheck.Verdict{a, v}, nil, noticeNow).Render()
	golden(t, "pr-notice-hostile.md", body)

	for _, bad := range []string{"<img", "<script", "<b>", "![", "`code`", "**bold**", "javascript:", "\n| a |", "\n# Title"} {
		assert.NotContains(t, body, bad)
	}
	assert.NotRegexp(t, `[^\\]\]\(https://evil`, body, "no link to where the lock says")
	for _, mention := range []string{"@here", "@octo-org", "@everyone", "@channel", "#1"} {
		assert.NotContains(t, body, mention, "%s is broken by a zero-width space", mention)
	}
	// The hidden state list is still one, and reads back.
	assert.Equal(t, 1, strings.Count(body, "<!-- tfstate-guard:states "))
	st := ParsePRNoticeStates(body)
	require.Len(t, st, 2)
	assert.Contains(t, st, "bkt/<script>/@channel/terraform.tfstate")
	assert.Equal(t, 2, strings.Count(body, "\n### "), "exactly the two lock headings")
}

func TestPRNoticeMarkerPerWorkflowAndTable(t *testing.T) {
	t.Parallel()
	m := PRNoticeMarker("terraform", "locks", "")
	assert.Regexp(t, `^<!-- tfstate-guard:pr-notice:[0-9a-f]{12} -->$`, m)
	assert.Equal(t, m, PRNoticeMarker("terraform", "locks", ""))
	assert.NotEqual(t, m, PRNoticeMarker("terraform", "other", ""))
	assert.NotEqual(t, m, PRNoticeMarker("sweep", "locks", ""))
	assert.NotEqual(t, m, PRNoticeMarker("terraform", "locks", "bkt/app/"), "a matrix job per state keeps its own")
}
