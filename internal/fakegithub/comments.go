package fakegithub

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Comments is a stand-in for GitHub's issue-comment endpoints (a pull
// request's conversation comments are issue comments), speaking GitHub's
// JSON:
//
//	GET    /repos/{owner}/{repo}/issues/{n}/comments?per_page=&page=  ascending IDs, Link header
//	POST   /repos/{owner}/{repo}/issues/{n}/comments                  201 and the comment
//	PATCH  /repos/{owner}/{repo}/issues/comments/{id}                 200 and the comment
//	DELETE /repos/{owner}/{repo}/issues/comments/{id}                 204
//
// Without write permission (ReadOnly, as a GITHUB_TOKEN without
// pull-requests: write or issues: write) the writes answer 403 "Resource
// not accessible by integration". It is self-contained: Wrap puts it in
// front of another handler (such as API) for every other path.
type Comments struct {
	mu       sync.Mutex
	nextID   int64
	comments map[int64]*Comment
	// ReadOnly makes every write a 403, as a token without the permission.
	ReadOnly bool
	// Login is the user who writes comments (default github-actions[bot]).
	Login string
	// BeforeWrite, when set, runs before each create (outside the lock):
	// tests make two writers race through it.
	BeforeWrite func()
	writes      int
}

// Comment is one stored issue comment.
type Comment struct {
	ID        int64
	Repo      string
	Issue     int
	Body      string
	Login     string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// NewComments returns an empty stand-in; IDs start high, as GitHub's do.
func NewComments() *Comments {
	return &Comments{nextID: 1_900_000_000, comments: map[int64]*Comment{}}
}

// Add stores a comment as if someone wrote it (a person's comment, or one
// left by an earlier run) and returns its ID.
func (c *Comments) Add(repo string, issue int, login, body string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.add(repo, issue, login, body).ID
}

func (c *Comments) add(repo string, issue int, login, body string) *Comment {
	c.nextID++
	now := time.Now().UTC().Truncate(time.Second)
	cm := &Comment{ID: c.nextID, Repo: strings.ToLower(repo), Issue: issue, Body: body, Login: login, CreatedAt: now, UpdatedAt: now}
	c.comments[cm.ID] = cm
	return cm
}

// On lists the comments of one issue, by ascending ID (copies).
func (c *Comments) On(repo string, issue int) []Comment {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Comment
	for _, cm := range c.comments {
		if cm.Repo == strings.ToLower(repo) && cm.Issue == issue {
			out = append(out, *cm)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Writes counts the creates, updates and deletes that succeeded.
func (c *Comments) Writes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes
}

var (
	issueCommentsPath = regexp.MustCompile(`^/repos/([^/]+/[^/]+)/issues/([0-9]+)/comments$`)
	commentPath       = regexp.MustCompile(`^/repos/([^/]+/[^/]+)/issues/comments/([0-9]+)$`)
)

// Wrap serves the comment endpoints and passes every other request to next.
func (c *Comments) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if issueCommentsPath.MatchString(r.URL.Path) || commentPath.MatchString(r.URL.Path) {
			c.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Register adds the comment endpoints to mux.
func (c *Comments) Register(mux *http.ServeMux) {
	mux.Handle("/repos/", c.Wrap(http.NotFoundHandler()))
}

// ServeHTTP implements http.Handler.
func (c *Comments) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-RateLimit-Limit", "1000")
	w.Header().Set("X-RateLimit-Remaining", "999")
	w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10))
	if m := issueCommentsPath.FindStringSubmatch(r.URL.Path); m != nil {
		issue, _ := strconv.Atoi(m[2])
		switch r.Method {
		case http.MethodGet:
			c.list(w, r, m[1], issue)
		case http.MethodPost:
			c.create(w, r, m[1], issue)
		default:
			methodNotAllowed(w)
		}
		return
	}
	m := commentPath.FindStringSubmatch(r.URL.Path)
	if m == nil {
		notFound(w)
		return
	}
	id, _ := strconv.ParseInt(m[2], 10, 64)
	switch r.Method {
	case http.MethodPatch:
		c.update(w, r, m[1], id)
	case http.MethodDelete:
		c.remove(w, m[1], id)
	case http.MethodGet:
		c.mu.Lock()
		cm := c.comments[id]
		c.mu.Unlock()
		if cm == nil || cm.Repo != strings.ToLower(m[1]) {
			notFound(w)
			return
		}
		writeJSON(w, commentJSON(*cm))
	default:
		methodNotAllowed(w)
	}
}

// list pages as GitHub does: per_page (default 30, at most 100) and page
// (from 1), with a Link header naming the next and last pages.
func (c *Comments) list(w http.ResponseWriter, r *http.Request, repo string, issue int) {
	q := r.URL.Query()
	perPage, err := strconv.Atoi(q.Get("per_page"))
	if err != nil || perPage <= 0 {
		perPage = 30
	}
	perPage = min(perPage, 100)
	page, err := strconv.Atoi(q.Get("page"))
	if err != nil || page <= 0 {
		page = 1
	}
	all := c.On(repo, issue)
	last := max(1, (len(all)+perPage-1)/perPage)
	from := min((page-1)*perPage, len(all))
	to := min(from+perPage, len(all))
	if page < last {
		link := func(p int, rel string) string {
			u := url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path, RawQuery: fmt.Sprintf("per_page=%d&page=%d", perPage, p)}
			return fmt.Sprintf("<%s>; rel=%q", u.String(), rel)
		}
		w.Header().Set("Link", link(page+1, "next")+", "+link(last, "last"))
	}
	out := make([]map[string]any, 0, to-from)
	for _, cm := range all[from:to] {
		out = append(out, commentJSON(cm))
	}
	writeJSON(w, out)
}

func (c *Comments) create(w http.ResponseWriter, r *http.Request, repo string, issue int) {
	if c.ReadOnly {
		forbidden(w, "create-an-issue-comment")
		return
	}
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	if c.BeforeWrite != nil {
		c.BeforeWrite()
	}
	c.mu.Lock()
	cm := c.add(repo, issue, c.login(), body)
	c.writes++
	out := commentJSON(*cm)
	c.mu.Unlock()
	w.WriteHeader(http.StatusCreated)
	writeJSON(w, out)
}

func (c *Comments) update(w http.ResponseWriter, r *http.Request, repo string, id int64) {
	if c.ReadOnly {
		forbidden(w, "update-an-issue-comment")
		return
	}
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	cm := c.comments[id]
	if cm == nil || cm.Repo != strings.ToLower(repo) {
		notFound(w)
		return
	}
	cm.Body, cm.UpdatedAt = body, time.Now().UTC().Truncate(time.Second)
	c.writes++
	writeJSON(w, commentJSON(*cm))
}

func (c *Comments) remove(w http.ResponseWriter, repo string, id int64) {
	if c.ReadOnly {
		forbidden(w, "delete-an-issue-comment")
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	cm := c.comments[id]
	if cm == nil || cm.Repo != strings.ToLower(repo) {
		notFound(w)
		return
	}
	delete(c.comments, id)
	c.writes++
	w.WriteHeader(http.StatusNoContent)
}

func (c *Comments) login() string {
	if c.Login == "" {
		return "github-actions[bot]"
	}
	return c.Login
}

// readBody reads {"body": "..."}; GitHub answers 422 without a body.
func readBody(w http.ResponseWriter, r *http.Request) (string, bool) {
	var in struct {
		Body *string `json:"body"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&in); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"message":"Problems parsing JSON","documentation_url":"https://docs.github.com/rest/issues/comments","status":"400"}`)
		return "", false
	}
	if in.Body == nil {
		w.WriteHeader(http.StatusUnprocessableEntity)
		fmt.Fprint(w, `{"message":"Invalid request.\n\n\"body\" wasn't supplied.","documentation_url":"https://docs.github.com/rest/issues/comments","status":"422"}`)
		return "", false
	}
	if len(*in.Body) > 65536 {
		w.WriteHeader(http.StatusUnprocessableEntity)
		fmt.Fprint(w, `{"message":"Validation Failed","errors":[{"resource":"IssueComment","code":"custom","field":"body","message":"body is too long (maximum is 65536 characters)"}],"documentation_url":"https://docs.github.com/rest/issues/comments","status":"422"}`)
		return "", false
	}
	return *in.Body, true
}

// commentJSON is an issue comment as GitHub returns it (the schema's
// required fields: id, node_id, url, html_url, issue_url, user,
// author_association, created_at, updated_at; and body).
func commentJSON(cm Comment) map[string]any {
	userType, userID := "Bot", 41898282
	if !strings.HasSuffix(cm.Login, "[bot]") {
		userType, userID = "User", 583231
	}
	return map[string]any{
		"id":                       cm.ID,
		"node_id":                  base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("012:IssueComment%d", cm.ID))),
		"url":                      fmt.Sprintf("https://api.github.com/repos/%s/issues/comments/%d", cm.Repo, cm.ID),
		"html_url":                 fmt.Sprintf("https://github.com/%s/pull/%d#issuecomment-%d", cm.Repo, cm.Issue, cm.ID),
		"body":                     cm.Body,
		"user":                     userJSON(cm.Login, userID, userType),
		"created_at":               cm.CreatedAt.Format(time.RFC3339),
		"updated_at":               cm.UpdatedAt.Format(time.RFC3339),
		"issue_url":                fmt.Sprintf("https://api.github.com/repos/%s/issues/%d", cm.Repo, cm.Issue),
		"author_association":       "NONE",
		"performed_via_github_app": nil,
	}
}

func forbidden(w http.ResponseWriter, doc string) {
	w.WriteHeader(http.StatusForbidden)
	fmt.Fprintf(w, `{"message":"Resource not accessible by integration","documentation_url":"https://docs.github.com/rest/issues/comments#%s","status":"403"}`, doc)
}

func methodNotAllowed(w http.ResponseWriter) {
	w.WriteHeader(http.StatusNotFound)
	fmt.Fprint(w, `{"message":"Not Found","documentation_url":"https://docs.github.com/rest","status":"404"}`)
}

// userJSON is a simple-user object with every field the schema requires.
func userJSON(login string, id int, kind string) map[string]any {
	api := "https://api.github.com/users/" + url.PathEscape(login)
	html := "https://github.com/" + url.PathEscape(login)
	if kind == "Bot" {
		html = "https://github.com/apps/" + url.PathEscape(strings.TrimSuffix(login, "[bot]"))
	}
	return map[string]any{
		"login": login, "id": id, "node_id": base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("04:User%d", id))),
		"avatar_url": fmt.Sprintf("https://avatars.githubusercontent.com/u/%d?v=4", id), "gravatar_id": "",
		"url": api, "html_url": html,
		"followers_url":       api + "/followers",
		"following_url":       api + "/following{/other_user}",
		"gists_url":           api + "/gists{/gist_id}",
		"starred_url":         api + "/starred{/owner}{/repo}",
		"subscriptions_url":   api + "/subscriptions",
		"organizations_url":   api + "/orgs",
		"repos_url":           api + "/repos",
		"events_url":          api + "/events{/privacy}",
		"received_events_url": api + "/received_events",
		"type":                kind, "site_admin": false,
	}
}
