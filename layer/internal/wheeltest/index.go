package wheeltest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// IndexFile is one file of a project page, with ways to misbehave.
type IndexFile struct {
	Filename string
	Body     []byte
	// SHA256 overrides the hash the index announces ("" = the true one).
	SHA256 string
	// NoHash leaves the hash out of the page.
	NoHash         bool
	RequiresPython string
	Yanked         bool
	YankedReason   string
	// WithSize adds PEP 700's size to the JSON page: AnnouncedSize, or the
	// true size when that is 0.
	WithSize      bool
	AnnouncedSize int
	// Status answers downloads with this HTTP status instead of the body.
	Status int
	// CutAfter > 0 sends that many bytes, then breaks the connection.
	CutAfter int
}

// WheelFile makes the IndexFile of a wheel.
func WheelFile(w Wheel) IndexFile {
	return IndexFile{Filename: w.Filename(), Body: w.Bytes()}
}

// Form says which page format the index serves.
type Form int

const (
	// Negotiate serves JSON to clients that ask for it, HTML to the rest.
	Negotiate Form = iota
	JSONOnly
	HTMLOnly
)

// Request is one request the index saw.
type Request struct {
	Path          string
	Accept        string
	Authorization string
}

// Index is a simple API (PEP 503/691) over in-memory projects. Pages are at
// /simple/<normalized name>/, files at /files/<filename>, or under FilesURL
// when set (another host, say). Safe for concurrent use.
type Index struct {
	Form Form
	// FilesURL, when set, is the absolute URL prefix of file links.
	FilesURL string
	// WantAuth, when set, is the Authorization header pages require.
	WantAuth string

	mu       sync.Mutex
	projects map[string][]IndexFile
	files    map[string]IndexFile
	requests []Request
}

// Add puts files on a project's page.
func (ix *Index) Add(project string, files ...IndexFile) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.projects == nil {
		ix.projects = map[string][]IndexFile{}
		ix.files = map[string]IndexFile{}
	}
	key := normalize(project)
	ix.projects[key] = append(ix.projects[key], files...)
	for _, f := range files {
		ix.files[f.Filename] = f
	}
}

// Requests returns the requests seen so far.
func (ix *Index) Requests() []Request {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return append([]Request(nil), ix.requests...)
}

func normalize(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		if r == '-' || r == '_' || r == '.' {
			if !dash {
				b.WriteByte('-')
			}
			dash = true
			continue
		}
		dash = false
		b.WriteRune(r)
	}
	return b.String()
}

func (f IndexFile) sha256() string {
	if f.SHA256 != "" {
		return f.SHA256
	}
	sum := sha256.Sum256(f.Body)
	return hex.EncodeToString(sum[:])
}

// ServeHTTP serves pages and files.
func (ix *Index) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ix.mu.Lock()
	ix.requests = append(ix.requests, Request{Path: r.URL.Path, Accept: r.Header.Get("Accept"), Authorization: r.Header.Get("Authorization")})
	ix.mu.Unlock()
	switch {
	case strings.HasPrefix(r.URL.Path, "/simple/"):
		if ix.WantAuth != "" && r.Header.Get("Authorization") != ix.WantAuth {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		ix.servePage(w, r, strings.Trim(strings.TrimPrefix(r.URL.Path, "/simple/"), "/"))
	case strings.HasPrefix(r.URL.Path, "/files/"):
		ix.ServeFile(w, r, strings.TrimPrefix(r.URL.Path, "/files/"))
	default:
		http.NotFound(w, r)
	}
}

func (ix *Index) servePage(w http.ResponseWriter, r *http.Request, project string) {
	ix.mu.Lock()
	files, ok := ix.projects[project]
	ix.mu.Unlock()
	if !ok || project != normalize(project) {
		http.NotFound(w, r)
		return
	}
	link := func(f IndexFile) string {
		if ix.FilesURL != "" {
			return ix.FilesURL + f.Filename
		}
		return "../../files/" + f.Filename
	}
	wantJSON := strings.Contains(r.Header.Get("Accept"), "application/vnd.pypi.simple.v1+json")
	if ix.Form == JSONOnly || (ix.Form == Negotiate && wantJSON) {
		type file struct {
			Filename       string            `json:"filename"`
			URL            string            `json:"url"`
			Hashes         map[string]string `json:"hashes"`
			RequiresPython *string           `json:"requires-python,omitempty"`
			Yanked         any               `json:"yanked"`
			Size           *int              `json:"size,omitempty"`
		}
		page := struct {
			Meta  map[string]string `json:"meta"`
			Name  string            `json:"name"`
			Files []file            `json:"files"`
		}{Meta: map[string]string{"api-version": "1.1"}, Name: project, Files: []file{}}
		for _, f := range files {
			jf := file{Filename: f.Filename, URL: link(f), Hashes: map[string]string{}, Yanked: false}
			if !f.NoHash {
				jf.Hashes["sha256"] = f.sha256()
			}
			if f.RequiresPython != "" {
				rp := f.RequiresPython
				jf.RequiresPython = &rp
			}
			if f.Yanked {
				jf.Yanked = true
				if f.YankedReason != "" {
					jf.Yanked = f.YankedReason
				}
			}
			if f.WithSize {
				n := len(f.Body)
				if f.AnnouncedSize != 0 {
					n = f.AnnouncedSize
				}
				jf.Size = &n
			}
			page.Files = append(page.Files, jf)
		}
		w.Header().Set("Content-Type", "application/vnd.pypi.simple.v1+json")
		_ = json.NewEncoder(w).Encode(page)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, "<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"1.1\">\n    <title>Links for %s</title>\n  </head>\n  <body>\n    <h1>Links for %s</h1>\n", project, project)
	for _, f := range files {
		href := link(f)
		if !f.NoHash {
			href += "#sha256=" + f.sha256()
		}
		attrs := ""
		if f.RequiresPython != "" {
			attrs += fmt.Sprintf(" data-requires-python=\"%s\"", html.EscapeString(f.RequiresPython))
		}
		if f.Yanked {
			attrs += fmt.Sprintf(" data-yanked=\"%s\"", html.EscapeString(f.YankedReason))
		}
		fmt.Fprintf(w, "    <a href=\"%s\"%s>%s</a><br />\n", html.EscapeString(href), attrs, html.EscapeString(f.Filename))
	}
	fmt.Fprint(w, "  </body>\n</html>\n")
}

// ServeFile serves one file by name, misbehaving as the file says.
func (ix *Index) ServeFile(w http.ResponseWriter, r *http.Request, name string) {
	ix.mu.Lock()
	f, ok := ix.files[name]
	ix.mu.Unlock()
	switch {
	case !ok:
		http.NotFound(w, r)
	case f.Status != 0:
		http.Error(w, http.StatusText(f.Status), f.Status)
	case f.CutAfter > 0:
		w.Header().Set("Content-Length", strconv.Itoa(len(f.Body)))
		w.Header().Set("Content-Type", "application/octet-stream")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(f.Body[:min(f.CutAfter, len(f.Body))])
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
			}
		}
	default:
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(len(f.Body)))
		_, _ = w.Write(f.Body)
	}
}
