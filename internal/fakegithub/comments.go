package fakegithub

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Comment is an issue (or pull-request) comment as the fake holds it.
type Comment struct {
	ID        int64
	Repo      string
	Issue     int
	Body      string
	Login     string // author
	CreatedAt time.Time
	UpdatedAt time.Time
}

type comment = Comment

// CommentLogin is the author of comments made through the API: the
// GITHUB_TOKEN's bot.
const CommentLogin = "github-actions[bot]"

// RunActor is the login that started every run (actor and triggering_actor).
const RunActor = "octo-dev"

// CommentWrites counts the comment creates, edits and deletes served.
func (a *API) CommentWrites() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.commentWrites
}

// AddComment adds a comment as login would have written it, and returns
// its id.
func (a *API) AddComment(repo string, issue int, login, body string) int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.addComment(repo, issue, login, body)
}

func (a *API) addComment(repo string, issue int, login, body string) int64 {
	id := a.nextID
	a.nextID++
	now := a.now()
	a.comments[id] = &comment{ID: id, Repo: strings.ToLower(repo), Issue: issue, Body: body, Login: login, CreatedAt: now, UpdatedAt: now}
	return id
}

// Comments lists the comments of an issue, oldest first.
func (a *API) Comments(repo string, issue int) []Comment {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.commentsOf(repo, issue)
}

func (a *API) commentsOf(repo string, issue int) []Comment {
	var out []Comment
	for _, c := range a.comments {
		if c.Repo == strings.ToLower(repo) && c.Issue == issue {
			out = append(out, *c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (a *API) serveComments(x *exchange, m []string) {
	repo := m[1]
	if x.route != RouteListComments && x.route != RouteGetComment && a.NoIssuesWrite {
		x.error(http.StatusForbidden, "Resource not accessible by integration", docIssueComment)
		return
	}
	n, _ := strconv.ParseInt(m[2], 10, 64)
	switch x.route {
	case RouteListComments:
		a.mu.Lock()
		all := a.commentsOf(repo, int(n))
		a.mu.Unlock()
		lo, hi := x.page(len(all))
		page := []any{}
		for _, c := range all[lo:hi] {
			page = append(page, commentJSON(x, c))
		}
		x.send(http.StatusOK, page)
	case RouteCreateComment:
		body, ok := commentBody(x)
		if !ok {
			return
		}
		if a.BeforeCommentCreate != nil {
			a.BeforeCommentCreate()
		}
		a.mu.Lock()
		a.commentWrites++
		id := a.addComment(repo, int(n), CommentLogin, body)
		c := *a.comments[id]
		a.mu.Unlock()
		out := commentJSON(x, c)
		x.w.Header().Set("Location", out["url"].(string))
		x.send(http.StatusCreated, out)
	default:
		a.mu.Lock()
		c, found := a.comments[n]
		if !found || c.Repo != strings.ToLower(repo) {
			a.mu.Unlock()
			x.error(http.StatusNotFound, "Not Found", docIssueComment)
			return
		}
		a.mu.Unlock()
		switch x.route {
		case RouteGetComment:
			a.mu.Lock()
			snap := *c
			a.mu.Unlock()
			x.send(http.StatusOK, commentJSON(x, snap))
		case RouteUpdateComment:
			body, ok := commentBody(x)
			if !ok {
				return
			}
			a.mu.Lock()
			a.commentWrites++
			c.Body, c.UpdatedAt = body, a.now()
			snap := *c
			a.mu.Unlock()
			x.send(http.StatusOK, commentJSON(x, snap))
		case RouteDeleteComment:
			a.mu.Lock()
			a.commentWrites++
			delete(a.comments, n)
			a.mu.Unlock()
			x.send(http.StatusNoContent, nil)
		}
	}
}

// commentBody reads {"body": "..."}; a missing body answers 422.
func commentBody(x *exchange) (string, bool) {
	var in struct {
		Body *string `json:"body"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(x.w, x.r.Body, 1<<20)).Decode(&in); err != nil {
		x.error(http.StatusBadRequest, "Problems parsing JSON", docIssueComment)
		return "", false
	}
	if in.Body == nil {
		x.send(http.StatusUnprocessableEntity, map[string]any{
			"message": "Invalid request.\n\n\"body\" wasn't supplied.", "documentation_url": docIssueComment,
		})
		return "", false
	}
	if len(*in.Body) > 65536 {
		x.send(http.StatusUnprocessableEntity, map[string]any{
			"message": "Validation Failed", "documentation_url": docIssueComment,
			"errors": []any{map[string]any{"resource": "IssueComment", "code": "custom", "field": "body", "message": "body is too long (maximum is 65536 characters)"}},
		})
		return "", false
	}
	return *in.Body, true
}

// commentJSON is GitHub's issue-comment object.
func commentJSON(x *exchange, c Comment) map[string]any {
	api := fmt.Sprintf("%s/repos/%s/issues", x.apiBase(), c.Repo)
	url := fmt.Sprintf("%s/comments/%d", api, c.ID)
	return map[string]any{
		"id": c.ID, "node_id": fmt.Sprintf("IC_kwDO%d", c.ID), "url": url, "body": c.Body,
		"html_url":  fmt.Sprintf("https://github.com/%s/pull/%d#issuecomment-%d", c.Repo, c.Issue, c.ID),
		"issue_url": fmt.Sprintf("%s/%d", api, c.Issue), "user": user(x, c.Login, 41898282),
		"created_at": stamp(c.CreatedAt), "updated_at": stamp(c.UpdatedAt), "author_association": "NONE",
		"reactions": map[string]any{"url": url + "/reactions", "total_count": 0, "+1": 0, "-1": 0, "laugh": 0,
			"confused": 0, "heart": 0, "hooray": 0, "eyes": 0, "rocket": 0},
	}
}
