package fakegithub

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func do(t *testing.T, method, url, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(raw)
}

// The stand-in answers as GitHub's REST description says: pages with a
// Link header, 201 on create with the schema's required fields, 204 on
// delete, 422 without a body, 403 without permission.
func TestCommentsSpeakGitHubsContract(t *testing.T) {
	t.Parallel()
	c := NewComments()
	srv := httptest.NewServer(c.Wrap(New()))
	t.Cleanup(srv.Close)
	for i := range 5 {
		c.Add("octo/infra", 1, "alice", fmt.Sprintf("c%d", i))
	}
	base := srv.URL + "/repos/octo/infra/issues/1/comments"
	resp, body := do(t, http.MethodGet, base+"?per_page=2&page=2", "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var page []map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &page))
	require.Len(t, page, 2)
	assert.Equal(t, "c2", page[0]["body"], "ascending IDs")
	assert.Equal(t, fmt.Sprintf(`<%s?per_page=2&page=3>; rel="next", <%s?per_page=2&page=3>; rel="last"`, base, base), resp.Header.Get("Link"))
	resp, _ = do(t, http.MethodGet, base+"?per_page=2&page=3", "")
	assert.Empty(t, resp.Header.Get("Link"), "no next page after the last")

	resp, body = do(t, http.MethodPost, base, `{"body":"hello"}`)
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	var created map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &created))
	for _, field := range []string{"id", "node_id", "html_url", "issue_url", "author_association", "user", "url", "created_at", "updated_at", "body"} {
		assert.Contains(t, created, field)
	}
	user := created["user"].(map[string]any)
	for _, field := range []string{"login", "id", "node_id", "avatar_url", "gravatar_id", "url", "html_url", "followers_url", "following_url", "gists_url",
		"starred_url", "subscriptions_url", "organizations_url", "repos_url", "events_url", "received_events_url", "type", "site_admin"} {
		assert.Contains(t, user, field)
	}
	assert.Equal(t, "github-actions[bot]", user["login"])
	id := int64(created["id"].(float64))
	one := fmt.Sprintf("%s/repos/octo/infra/issues/comments/%d", srv.URL, id)

	resp, body = do(t, http.MethodPatch, one, `{"body":"edited"}`)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, body, `"body":"edited"`)
	resp, body = do(t, http.MethodPatch, one, `{}`)
	assert.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode, body)

	c.ReadOnly = true
	resp, body = do(t, http.MethodPost, base, `{"body":"x"}`)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	assert.Contains(t, body, `"message":"Resource not accessible by integration"`)
	resp, _ = do(t, http.MethodDelete, one, "")
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	c.ReadOnly = false

	resp, _ = do(t, http.MethodDelete, one, "")
	assert.Equal(t, http.StatusNoContent, resp.StatusCode)
	resp, _ = do(t, http.MethodDelete, one, "")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.Len(t, c.On("octo/infra", 1), 5)

}

// Wrap passes every other path to the run API behind it.
func TestCommentsWrapPassesRunRequestsOn(t *testing.T) {
	t.Parallel()
	runs := New()
	runs.SetAttempt("octo/infra", 7, 1, "in_progress", "")
	srv := httptest.NewServer(NewComments().Wrap(runs))
	t.Cleanup(srv.Close)
	resp, body := do(t, http.MethodGet, srv.URL+"/repos/octo/infra/actions/runs/7", "")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, body, `"status":"in_progress"`)
	assert.Contains(t, body, `"actor":{"id":583231,"login":"octo-dev","type":"User"}`)
	assert.Equal(t, 1, runs.Count("/repos/octo/infra/actions/runs/7"))
}
