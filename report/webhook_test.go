package report

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/text2agent/tfstate-guard/lockcheck"
)

func TestChatNoticeOnlyForNews(t *testing.T) {
	t.Parallel()
	_, ok := ChatNotice("octo/infra", "https://github.com/octo/infra/actions/runs/1", &lockcheck.Detection{}, nil, noticeNow)
	assert.False(t, ok, "an empty result sends nothing")
	_, ok = ChatNotice("octo/infra", "", &lockcheck.Detection{Verdicts: []lockcheck.Verdict{activeVerdict()}}, nil, noticeNow)
	assert.False(t, ok, "a live lock alone is no news")
	_, ok = ChatNotice("octo/infra", "", &lockcheck.Detection{}, []lockcheck.UnlockResult{{ID: "x", Outcome: lockcheck.OutcomeRefused}}, noticeNow)
	assert.False(t, ok, "a refused removal removed nothing")
}

func TestChatNoticeHostileLock(t *testing.T) {
	t.Parallel()
	v := staleVerdict()
	v.Lock.Info.Who = "<!here> @channel `x` *bold* <https://evil.example|click>\nline"
	v.Lock.LockPath = "bkt/<!everyone>/terraform.tfstate"
	msg, ok := ChatNotice("octo/infra", "https://github.com/octo/infra/actions/runs/1", &lockcheck.Detection{Verdicts: []lockcheck.Verdict{v}},
		[]lockcheck.UnlockResult{{ID: "a`b", LockPath: "bkt/<x>", Outcome: lockcheck.OutcomeRemoved, Reason: "owner <@U123> gone"}}, noticeNow)
	require.True(t, ok)
	raw, err := json.Marshal(msg)
	require.NoError(t, err)
	var text strings.Builder
	text.WriteString(msg.Text)
	for _, b := range msg.Blocks {
		text.WriteString(b.Text.Text)
	}
	all := text.String()
	for _, bad := range []string{"<!here>", "<!everyone>", "<@U123>", "<https://evil", "@channel", "\nline"} {
		assert.NotContains(t, all, bad)
	}
	assert.Contains(t, all, "`&lt;!here&gt; @\u200bchannel 'x' *bold* &lt;https://evil.example|click&gt; line`")
	assert.Contains(t, all, "<https://github.com/octo/infra/actions/runs/1|See the run>", "our own links work")
	assert.Contains(t, string(raw), `"type":"mrkdwn"`)
}
