// Package notice tells people who holds a lock where they look: one comment
// on the pull request a run is for (GitHub issue comments, found again by a
// hidden marker and edited in place), and a message to a Slack-compatible
// chat webhook. It never imports the Actions toolkit; rendering lives in
// report.
package notice

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"
)

// ErrNoPermission: GitHub refused the write (403), as it does for a
// GITHUB_TOKEN without pull-requests: write (or issues: write).
var ErrNoPermission = errors.New("the token may not write pull-request comments")

// PRComments keeps one comment per marker on a pull request.
type PRComments struct {
	client *github.Client
	// MaxPages bounds the listing (100 comments a page).
	MaxPages int
}

// NewPRComments builds a client for apiURL (GITHUB_API_URL). hc may be nil.
func NewPRComments(apiURL, token string, hc *http.Client) (*PRComments, error) {
	u, err := url.Parse(strings.TrimRight(apiURL, "/") + "/")
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("github-api-url %q is not an absolute URL", apiURL)
	}
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	c := github.NewClient(hc)
	if token != "" {
		c = c.WithAuthToken(token)
	}
	c.BaseURL = u
	return &PRComments{client: c, MaxPages: 30}, nil
}

// Outcome is what Post did.
type Outcome string

const (
	Nothing   Outcome = "nothing"   // nothing to say and no comment to update
	Created   Outcome = "created"   // a new comment
	Updated   Outcome = "updated"   // the existing comment, edited
	Unchanged Outcome = "unchanged" // the existing comment already said it
)

// Result is the outcome and the comment's address.
type Result struct {
	Outcome Outcome
	URL     string
	// Removed counts duplicates deleted (left by racing runs).
	Removed int
}

// Post keeps exactly one comment carrying marker on pull request pr of
// repository. build gets the body of the existing comment ("" when there is
// none) and returns the new body, or "" for nothing to say. A new comment
// is followed by a second listing: when two runs created one each at once,
// the older one stays (edited to this body) and the newer is deleted, so
// racing runs leave one comment.
func (p *PRComments) Post(ctx context.Context, repository string, pr int, marker string, build func(previous string) string) (Result, error) {
	owner, repo, ok := strings.Cut(repository, "/")
	if !ok || owner == "" || repo == "" {
		return Result{}, fmt.Errorf("repository %q is not owner/name", repository)
	}
	found, err := p.find(ctx, owner, repo, pr, marker)
	if err != nil {
		return Result{}, err
	}
	previous := ""
	if len(found) > 0 {
		previous = found[0].GetBody()
	}
	body := build(previous)
	if body == "" {
		return Result{Outcome: Nothing}, nil
	}
	res := Result{}
	if len(found) == 0 {
		created, resp, err := p.client.Issues.CreateComment(ctx, owner, repo, pr, &github.IssueComment{Body: github.String(body)})
		if err != nil {
			return Result{}, classify(resp, fmt.Errorf("create a comment on pull request #%d of %s: %w", pr, repository, err))
		}
		if found, err = p.find(ctx, owner, repo, pr, marker); err != nil {
			return Result{Outcome: Created, URL: created.GetHTMLURL()}, err
		}
		if len(found) == 0 || found[0].GetID() == created.GetID() {
			res.Outcome, res.URL = Created, created.GetHTMLURL()
			found = withFirst(found, created)
		} else {
			// Another run's comment came first: it stays; ours goes with
			// the other duplicates below.
			res.Outcome = Updated
			found = withExtra(found, created)
		}
	}
	keep := found[0]
	if res.Outcome == "" || res.Outcome == Updated {
		if keep.GetBody() == body {
			if res.Outcome == "" {
				res.Outcome = Unchanged
			}
		} else {
			if _, resp, err := p.client.Issues.EditComment(ctx, owner, repo, keep.GetID(), &github.IssueComment{Body: github.String(body)}); err != nil {
				return Result{}, classify(resp, fmt.Errorf("update comment %d on pull request #%d of %s: %w", keep.GetID(), pr, repository, err))
			}
			res.Outcome = Updated
		}
		res.URL = keep.GetHTMLURL()
	}
	for _, dup := range found[1:] {
		if dup.GetUser().GetLogin() != keep.GetUser().GetLogin() {
			continue // never someone else's comment, whatever it quotes
		}
		resp, err := p.client.Issues.DeleteComment(ctx, owner, repo, dup.GetID())
		if err != nil && (resp == nil || resp.StatusCode != http.StatusNotFound) {
			return res, classify(resp, fmt.Errorf("delete duplicate comment %d on pull request #%d of %s: %w", dup.GetID(), pr, repository, err))
		}
		res.Removed++
	}
	return res, nil
}

// find lists the pull request's comments that start with marker, oldest
// (lowest ID) first.
func (p *PRComments) find(ctx context.Context, owner, repo string, pr int, marker string) ([]*github.IssueComment, error) {
	var out []*github.IssueComment
	opts := &github.IssueListCommentsOptions{ListOptions: github.ListOptions{PerPage: 100}}
	for page := 0; page < p.MaxPages; page++ {
		cs, resp, err := p.client.Issues.ListComments(ctx, owner, repo, pr, opts)
		if err != nil {
			return nil, classify(resp, fmt.Errorf("list the comments of pull request #%d of %s/%s: %w", pr, owner, repo, err))
		}
		for _, c := range cs {
			if strings.HasPrefix(c.GetBody(), marker) {
				out = append(out, c)
			}
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].GetID() < out[j].GetID() })
	return out, nil
}

func withFirst(found []*github.IssueComment, c *github.IssueComment) []*github.IssueComment {
	if len(found) > 0 && found[0].GetID() == c.GetID() {
		return found
	}
	return append([]*github.IssueComment{c}, found...)
}

func withExtra(found []*github.IssueComment, c *github.IssueComment) []*github.IssueComment {
	for _, f := range found {
		if f.GetID() == c.GetID() {
			return found
		}
	}
	return append(found, c)
}

// classify marks a 403 as ErrNoPermission, keeping GitHub's message.
func classify(resp *github.Response, err error) error {
	if resp != nil && resp.StatusCode == http.StatusForbidden && resp.Header.Get("X-Ratelimit-Remaining") != "0" {
		return fmt.Errorf("%w: %w", ErrNoPermission, err)
	}
	return err
}
