package lockcheck

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/go-github/v60/github"
)

// ErrNoActionsRead means GitHub refused to show workflow runs to the token:
// 403 "Resource not accessible by integration", what a GITHUB_TOKEN
// without the actions: read permission gets.
var ErrNoActionsRead = errors.New(`the github-token may not read workflow runs (GitHub answered 403 "Resource not accessible by integration"): ` +
	"give the job `permissions: actions: read` (with `contents: read`), or pass a github-token that has it")

// ErrBadToken means GitHub refused the token itself (401).
var ErrBadToken = errors.New("GitHub refused the github-token (401 Bad credentials): pass the job's GITHUB_TOKEN, or a token that has not expired")

// explainGitHubError turns GitHub's refusals of the token into errors that
// name the fix; other errors pass unchanged.
func explainGitHubError(resp *github.Response, err error) error {
	if err == nil || resp == nil {
		return err
	}
	var er *github.ErrorResponse
	msg := ""
	if errors.As(err, &er) {
		msg = er.Message
	}
	switch {
	case resp.StatusCode == http.StatusForbidden && strings.Contains(msg, "Resource not accessible"):
		return fmt.Errorf("%w: %v", ErrNoActionsRead, err)
	case resp.StatusCode == http.StatusUnauthorized:
		return fmt.Errorf("%w: %v", ErrBadToken, err)
	}
	return err
}
