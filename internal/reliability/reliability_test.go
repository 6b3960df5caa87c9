package reliability

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/text2agent/tfstate-guard/lockcheck"
)

// The fake must speak GitHub's JSON well enough for the real client.
func TestFakeGitHubSpeaksTheRESTShapes(t *testing.T) {
	t.Parallel()
	g := NewFakeGitHub("octo/infra", "tok")
	defer g.Close()
	g.Start(41, "apply", "sh-runner-1")
	ask := func() (lockcheck.RunState, error) {
		runs, err := lockcheck.NewGitHubRuns(g.URL, "tok", nil, lockcheck.DefaultRetryPolicy())
		require.NoError(t, err)
		return runs.Run(context.Background(), "octo/infra", 41)
	}
	st, err := ask()
	require.NoError(t, err)
	assert.Equal(t, int64(41), st.ID)
	assert.Equal(t, 1, st.Attempt)
	assert.Equal(t, "in_progress", st.Status)
	assert.Equal(t, "https://github.com/octo/infra/actions/runs/41", st.URL)
	assert.Equal(t, "terraform", st.Workflow)
	runs, err := lockcheck.NewGitHubRuns(g.URL, "tok", nil, lockcheck.DefaultRetryPolicy())
	require.NoError(t, err)
	jobs, err := runs.LiveRunnerJobs(context.Background(), "octo/infra")
	require.NoError(t, err)
	require.Len(t, jobs, 1)
	assert.Equal(t, "sh-runner-1", jobs[0].RunnerName)

	g.Complete(41, "cancelled")
	st, err = ask()
	require.NoError(t, err)
	assert.Equal(t, "completed", st.Status)
	assert.Equal(t, "cancelled", st.Conclusion)

	resp, err := http.Get(g.URL + "/repos/octo/infra/actions/runs/41/attempts/1/jobs")
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "a request without the token is refused")
	resp.Body.Close()
	req, _ := http.NewRequest(http.MethodGet, g.URL+"/repos/octo/infra/actions/runs/41/attempts/1", nil)
	req.Header.Set("Authorization", "Bearer tok")
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	var attempt struct {
		Status     string `json:"status"`
		RunAttempt int    `json:"run_attempt"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&attempt))
	resp.Body.Close()
	assert.Equal(t, "completed", attempt.Status)
	assert.Equal(t, 1, attempt.RunAttempt)

	g.Forget(41)
	_, err = ask()
	assert.True(t, errors.Is(err, lockcheck.ErrRunNotFound), "%v", err)
	assert.Empty(t, g.Violations(), "answers GitHub would not give")
}

func TestProxyFaults(t *testing.T) {
	t.Parallel()
	g := NewFakeGitHub("o/r", "")
	defer g.Close()
	p, err := NewProxy(g.URL)
	require.NoError(t, err)
	defer p.Close()
	client := &http.Client{Timeout: 2 * time.Second}
	get := func() (int, string, error) {
		resp, err := client.Get(p.URL + "/repos/o/r/actions/runs?status=in_progress")
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}
	code, body, err := get()
	require.NoError(t, err)
	assert.Equal(t, 200, code)
	assert.Contains(t, body, `"workflow_runs"`)

	p.SetFault(func(Call) Action { return Action{Status: 503, Body: "no"} })
	code, _, err = get()
	require.NoError(t, err)
	assert.Equal(t, 503, code)

	p.SetFault(func(Call) Action { return Action{Reset: true} })
	_, _, err = get()
	assert.Error(t, err, "a reset is an error")

	p.SetFault(func(Call) Action { return Action{Truncate: true} })
	_, body, err = get()
	assert.Error(t, err, "a body cut short is an error (%q)", body)

	p.SetFault(func(Call) Action { return Action{Hang: true} })
	_, _, err = get()
	assert.Error(t, err, "a hang ends in the client's timeout")
	assert.Equal(t, 1, p.Counts()["github GET /repos/o/r/actions/runs"])
}
