package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/text2agent/tfstate-guard/internal/fakegithub"
	"github.com/text2agent/tfstate-guard/lockcheck"
	"github.com/text2agent/tfstate-guard/report"
)

// prEvent writes a pull_request event payload and returns the variables
// the runner sets for such a run.
func prEvent(t *testing.T, number int) []string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "event.json")
	payload := map[string]any{"action": "synchronize", "number": number, "pull_request": map[string]any{"number": number, "state": "open"}}
	raw, err := json.Marshal(payload)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, raw, 0o644))
	return []string{"GITHUB_EVENT_NAME=pull_request", "GITHUB_EVENT_PATH=" + path, "GITHUB_SERVER_URL=https://github.com"}
}

// githubWithComments serves the run API and the issue-comment API (one
// fake: comments are read back through the same API).
func githubWithComments(t *testing.T) (gh, comments *fakegithub.API, url string) {
	t.Helper()
	gh = fakegithub.New()
	srv := httptest.NewServer(gh)
	t.Cleanup(srv.Close)
	return gh, gh, srv.URL
}

func deleteLock(t *testing.T, ddb *dynamodb.Client, table, path string) {
	t.Helper()
	_, err := ddb.DeleteItem(context.Background(), &dynamodb.DeleteItemInput{TableName: aws.String(table),
		Key: map[string]types.AttributeValue{"LockID": &types.AttributeValueMemberS{Value: path}}})
	require.NoError(t, err)
}

// A pull request's detect: one comment names the live run holding the
// state; later detects edit it in place (never a second one), and once the
// lock is gone the same comment says the state is clear.
func TestBinaryPRCommentLifecycle(t *testing.T) {
	t.Parallel()
	srv, ddb, table := lockTable(t)
	const path = "bkt/app/terraform.tfstate"
	now := time.Now().UTC()
	put(t, ddb, table, map[string]string{"LockID": path, "Info": info("live-1", path, "runner@runnervm9", now.Add(-40*time.Minute))})
	require.NoError(t, lockcheck.WriteRunRecord(context.Background(), ddb, table, lockcheck.RunRecord{LockPath: path, Repository: "octo/infra",
		RunID: 300, RunAttempt: 1, Job: "terraform-apply", RunnerName: "GitHub Actions 300", Host: "runnervm9", HostExclusive: true, Written: now.Add(-41 * time.Minute)}))
	gh, comments, api := githubWithComments(t)
	gh.SetAttempt("octo/infra", 300, 1, "in_progress", "")
	comments.AddComment("octo/infra", 7, "alice", "please review")
	rn := newRunner(t, srv, append(prEvent(t, 7), "GITHUB_API_URL="+api)...)
	in := map[string]string{"mode": "detect", "lock-table": table, "aws-region": "eu-west-2", "github-token": "tok", "fail-on-active": "true"}

	require.Equal(t, exitBlocked, rn.Run(in), rn.Stdout)
	cs := comments.Comments("octo/infra", 7)
	require.Len(t, cs, 2, rn.Stdout)
	notice := cs[1]
	assert.Equal(t, "github-actions[bot]", notice.Login)
	marker := report.PRNoticeMarker("terraform", table, "")
	assert.True(t, strings.HasPrefix(notice.Body, marker+"\n"))
	for _, want := range []string{
		"### 🔒 ACTIVE: bkt/app/terraform.tfstate",
		"[run 300 of workflow terraform, job terraform-apply](https://github.com/octo/infra/actions/runs/300), started by octo-dev (in_progress, Terraform's Who: runner@&#8203;runnervm9)",
		"- **Operation:** OperationTypeApply",
		"- **Evidence:** proven: its owner is running",
		"- **Next:** waiting for run 300 to finish",
		"by [this run](https://github.com/octo/infra/actions/runs/900)",
	} {
		assert.Contains(t, notice.Body, want)
	}
	assert.Contains(t, rn.Stdout, "pull request #7: lock notice created https://github.com/octo/infra/pull/7#issuecomment-")

	for range 5 {
		require.Equal(t, exitBlocked, rn.Run(in), rn.Stdout)
	}
	cs = comments.Comments("octo/infra", 7)
	require.Len(t, cs, 2, "one notice after six detects")
	assert.Equal(t, notice.ID, cs[1].ID, "the same comment, edited")

	deleteLock(t, ddb, table, path)
	gh.End("octo/infra", 300, 1, "success", "GitHub Actions 300", time.Now())
	require.Equal(t, exitOK, rn.Run(in), rn.Stdout)
	cs = comments.Comments("octo/infra", 7)
	require.Len(t, cs, 2)
	assert.Equal(t, notice.ID, cs[1].ID)
	assert.Contains(t, cs[1].Body, "## ✅ Terraform state locks: clear")
	assert.Contains(t, cs[1].Body, "- bkt/app/terraform.tfstate: clear since "+time.Now().UTC().Format("2006-01-02"))
	assert.NotContains(t, cs[1].Body, "ACTIVE")
	assert.Equal(t, "please review", cs[0].Body, "a person's comment is never touched")

	// A run for no pull request (a push) never comments.
	rn2 := newRunner(t, srv, "GITHUB_API_URL="+api, "GITHUB_EVENT_NAME=push")
	put(t, ddb, table, map[string]string{"LockID": path, "Info": info("live-2", path, "alice@laptop", time.Now().Add(-time.Hour))})
	before := comments.CommentWrites()
	require.Equal(t, exitOK, rn2.Run(in), rn2.Stdout)
	assert.Equal(t, before, comments.CommentWrites())
}

// Without pull-requests: write the comment is one warning; the step's
// result is what detect found.
func TestBinaryPRCommentWithoutPermissionIsOneWarning(t *testing.T) {
	t.Parallel()
	srv, ddb, table := lockTable(t)
	const path = "bkt/app/terraform.tfstate"
	put(t, ddb, table, map[string]string{"LockID": path, "Info": info("old-1", path, "alice@laptop", time.Now().Add(-3*time.Hour))})
	_, comments, api := githubWithComments(t)
	comments.NoIssuesWrite = true
	rn := newRunner(t, srv, append(prEvent(t, 9), "GITHUB_API_URL="+api)...)
	code := rn.Run(map[string]string{"mode": "detect", "lock-table": table, "aws-region": "eu-west-2", "github-token": "tok", "fail-on-active": "true"})
	assert.Equal(t, exitOK, code, rn.Stdout)
	assert.Equal(t, 1, strings.Count(rn.Stdout, "::warning::pr-comment"), rn.Stdout)
	assert.Contains(t, rn.Stdout, "::warning::pr-comment: GitHub refused to comment on pull request #9 (403): give the job permissions: pull-requests: write, or set pr-comment: off")
	assert.Equal(t, "true", rn.Outputs()["STALE_LOCKS_FOUND"])

	// pr-comment: off asks nothing.
	comments.NoIssuesWrite = false
	code = rn.Run(map[string]string{"mode": "detect", "lock-table": table, "aws-region": "eu-west-2", "github-token": "tok", "pr-comment": "off"})
	assert.Equal(t, exitOK, code, rn.Stdout)
	assert.NotContains(t, rn.Stdout, "pr-comment")
	assert.Empty(t, comments.Comments("octo/infra", 9))
}

// A lock's Who can mention no one and inject no markup in the comment.
func TestBinaryPRCommentHostileLock(t *testing.T) {
	t.Parallel()
	srv, ddb, table := lockTable(t)
	const path = "bkt/app/terraform.tfstate"
	who := "@here <img src=x onerror=alert(1)>\n| a | b |\n|---|---|\n| @octo-org/admins | y |"
	put(t, ddb, table, map[string]string{"LockID": path, "Info": info("old-1", path, who, time.Now().Add(-3*time.Hour))})
	_, comments, api := githubWithComments(t)
	rn := newRunner(t, srv, append(prEvent(t, 3), "GITHUB_API_URL="+api)...)
	require.Equal(t, exitOK, rn.Run(map[string]string{"mode": "detect", "lock-table": table, "aws-region": "eu-west-2", "github-token": "tok"}), rn.Stdout)
	cs := comments.Comments("octo/infra", 3)
	require.Len(t, cs, 1)
	b := cs[0].Body
	assert.Contains(t, b, `- **Held by:** @&#8203;here &lt;img src=x onerror=alert(1)&gt; \| a \| b \| \|---\|---\| \| @&#8203;octo-org/admins \| y \|`)
	for _, bad := range []string{"@here", "@octo-org", "<img", "\n| a |"} {
		assert.NotContains(t, b, bad)
	}
}

// The webhook hears about removals without approval and about stale locks
// waiting for a person, once each, and about nothing else; its URL is
// never in the log but in the runner's ::add-mask:: command.
func TestBinaryWebhook(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var messages []report.ChatMessage
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var m report.ChatMessage
		assert.NoError(t, json.Unmarshal(raw, &m))
		mu.Lock()
		messages = append(messages, m)
		mu.Unlock()
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(hook.Close)
	url := hook.URL + "/services/T0001/B0001/s3cr3tT0k3n"
	got := func() []report.ChatMessage {
		mu.Lock()
		defer mu.Unlock()
		return append([]report.ChatMessage(nil), messages...)
	}
	noURL := func(t *testing.T, log string) {
		t.Helper()
		for _, line := range strings.Split(log, "\n") {
			if strings.Contains(line, "s3cr3tT0k3n") {
				assert.Equal(t, "::add-mask::"+url, line, "the URL appears only to be masked")
			}
		}
	}

	// Empty table: nothing is sent.
	srv, ddb, table := lockTable(t)
	gh := fakegithub.New()
	api := httptest.NewServer(gh)
	t.Cleanup(api.Close)
	rn := newRunner(t, srv, "GITHUB_API_URL="+api.URL)
	in := map[string]string{"mode": "detect", "lock-table": table, "aws-region": "eu-west-2", "github-token": "tok",
		"fail-on-active": "false", "auto-unlock": "definitive", "notify-webhook": url}
	require.Equal(t, exitOK, rn.Run(in), rn.Stdout)
	assert.Empty(t, got())
	noURL(t, rn.Stdout)

	// A dead lock removed, a circumstantial stale one waiting, a live one.
	dead, circ, _ := threeLocks(t, ddb, table, gh)
	require.Equal(t, exitOK, rn.Run(in), rn.Stdout)
	noURL(t, rn.Stdout)
	assert.Contains(t, rn.Stdout, "notify-webhook: message sent")
	require.Len(t, got(), 1, "one message per detect")
	m := got()[0]
	assert.Equal(t, "Terraform state locks in octo/infra: 1 lock(s) removed without approval; 1 stale lock(s) wait for a person.", m.Text)
	require.Len(t, m.Blocks, 3)
	assert.Contains(t, m.Blocks[0].Text.Text, "<https://github.com/octo/infra/actions/runs/900|See the run>")
	assert.Contains(t, m.Blocks[1].Text.Text, "`"+dead+"`")
	assert.Contains(t, m.Blocks[2].Text.Text, "`bkt/circ/terraform.tfstate` held by `runner@\u200bshared-box`")
	assert.Contains(t, m.Blocks[2].Text.Text, "(<https://github.com/octo/infra/actions/runs/102|run 102>)")

	// Next sweep: only the waiting stale lock is left to say.
	require.Equal(t, exitOK, rn.Run(in), rn.Stdout)
	require.Len(t, got(), 2)
	assert.Equal(t, "Terraform state locks in octo/infra: 1 stale lock(s) wait for a person.", got()[1].Text)
	assert.Contains(t, got()[1].Blocks[1].Text.Text, "`bkt/circ/terraform.tfstate`")
	_ = circ

	// A live lock alone is no news for the chat.
	deleteLock(t, ddb, table, "bkt/circ/terraform.tfstate")
	require.Equal(t, exitOK, rn.Run(in), rn.Stdout)
	assert.Len(t, got(), 2)

	// A webhook that fails is one warning, never a failed step, and names no URL.
	hook.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no_service", http.StatusNotFound) })
	put(t, ddb, table, map[string]string{"LockID": "bkt/x", "Info": info("old-9", "bkt/x", "bob@laptop", time.Now().Add(-3*time.Hour))})
	require.Equal(t, exitOK, rn.Run(in), rn.Stdout)
	assert.Contains(t, rn.Stdout, "::warning::post to notify-webhook: the server answered 404 Not Found (nothing else is affected)")
	noURL(t, rn.Stdout)
}

func TestNotifyWebhookInputHidesItsValue(t *testing.T) {
	t.Parallel()
	_, err := loadConfig([]string{"detect", "--notify-webhook", "hooks.example.com/services/SECRET"}, envFunc(nil), io.Discard)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `--notify-webhook "(value hidden: it is a secret)" is not an http(s) URL`)
	assert.NotContains(t, err.Error(), "SECRET")
	_, err = loadConfig([]string{"detect", "--pr-comment", "always"}, envFunc(nil), io.Discard)
	assert.ErrorContains(t, err, `--pr-comment "always" is not auto, on or off`)
	_, err = loadConfig([]string{"detect", "--hold-locks", "ok@*\n[bad"}, envFunc(nil), io.Discard)
	assert.ErrorContains(t, err, `--hold-locks "[bad" is not a valid pattern (syntax error in pattern): write one Go path.Match pattern per line`)
}

func TestConfigReadsThePullRequestFromTheEvent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "pr.json")
	require.NoError(t, os.WriteFile(good, []byte(`{"number":42,"pull_request":{"number":42}}`), 0o644))
	push := filepath.Join(dir, "push.json")
	require.NoError(t, os.WriteFile(push, []byte(`{"ref":"refs/heads/main"}`), 0o644))
	cases := []struct {
		name, event, path, mode string
		pr                      int
		problem                 string
	}{
		{"pull_request", "pull_request", good, "auto", 42, ""},
		{"pull_request_target", "pull_request_target", good, "on", 42, ""},
		{"off reads nothing", "pull_request", good, "off", 0, ""},
		{"a push is no pull request", "push", good, "auto", 0, ""},
		{"a payload without the number", "pull_request", push, "auto", 0, "the event payload names no pull request (pull_request.number)"},
		{"no payload", "pull_request", "", "auto", 0, "GITHUB_EVENT_PATH is not set"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"GITHUB_ACTIONS": "true", "INPUT_MODE": "detect", "INPUT_PR-COMMENT": c.mode,
				"GITHUB_EVENT_NAME": c.event, "GITHUB_EVENT_PATH": c.path, "GITHUB_REPOSITORY": "octo/infra", "GITHUB_RUN_ID": "5"}
			cfg, err := loadConfig(nil, envFunc(env), io.Discard)
			require.NoError(t, err)
			assert.Equal(t, c.pr, cfg.Notice.PR)
			assert.Equal(t, c.problem, cfg.Notice.EventProblem)
			assert.Equal(t, "https://github.com/octo/infra/actions/runs/5", cfg.Notice.RunURL)
		})
	}
}

// With wait-for-active the pull request hears who blocks it when the wait
// starts; when the run ends and releases the lock, the same comment says
// the state is clear.
func TestBinaryPRCommentBeforeWaiting(t *testing.T) {
	t.Parallel()
	srv, ddb, table := lockTable(t)
	const path = "bkt/app/terraform.tfstate"
	now := time.Now().UTC()
	put(t, ddb, table, map[string]string{"LockID": path, "Info": info("held-1", path, "runner@runnervm9", now.Add(-40*time.Minute))})
	require.NoError(t, lockcheck.WriteRunRecord(context.Background(), ddb, table, lockcheck.RunRecord{LockPath: path, Repository: "octo/infra",
		RunID: 300, RunAttempt: 1, Job: "terraform-apply", RunnerName: "GitHub Actions 300", Host: "runnervm9", HostExclusive: true, Written: now.Add(-41 * time.Minute)}))
	gh, comments, api := githubWithComments(t)
	gh.SetAttempt("octo/infra", 300, 1, "in_progress", "")
	first := make(chan string, 1)
	go func() {
		var firstBody string
		defer func() { first <- firstBody }()
		deadline := time.Now().Add(time.Minute)
		for len(comments.Comments("octo/infra", 5)) == 0 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if cs := comments.Comments("octo/infra", 5); len(cs) > 0 {
			firstBody = cs[0].Body
		}
		deleteLock(t, ddb, table, path)
		gh.End("octo/infra", 300, 1, "success", "GitHub Actions 300", time.Now())
	}()
	rn := newRunner(t, srv, append(prEvent(t, 5), "GITHUB_API_URL="+api)...)
	code := rn.Run(map[string]string{"mode": "detect", "lock-table": table, "aws-region": "eu-west-2", "github-token": "tok",
		"fail-on-active": "true", "wait-for-active": "2m"})
	require.Equal(t, exitOK, code, rn.Stdout)
	assert.Contains(t, <-first, "### 🔒 ACTIVE: bkt/app/terraform.tfstate", "the comment came before the wait ended")
	cs := comments.Comments("octo/infra", 5)
	require.Len(t, cs, 1)
	assert.Contains(t, cs[0].Body, "## ✅ Terraform state locks: clear")
}
