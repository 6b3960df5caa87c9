package layer

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// indexFile is one file a project page lists.
type indexFile struct {
	Filename       string
	URL            *url.URL // absolute
	SHA256         string   // lower-case hex; "" when the index gives none
	RequiresPython string
	Yanked         bool
	YankedReason   string
	Size           int64 // -1 when the index does not say (PEP 700)
}

// Media types of the simple API (PEP 691).
const (
	mediaJSON = "application/vnd.pypi.simple.v1+json"
	mediaHTML = "application/vnd.pypi.simple.v1+html"
	accept    = mediaJSON + ", " + mediaHTML + ";q=0.2, text/html;q=0.01"
)

// maxPageSize bounds a project page; PyPI's largest are a few MB.
const maxPageSize = 64 << 20

// HTTPStatusError is an unexpected HTTP answer from the index or a file host.
type HTTPStatusError struct {
	URL        string // without credentials, query or fragment
	StatusCode int
	Status     string
}

func (e *HTTPStatusError) Error() string {
	return fmt.Sprintf("GET %s: HTTP %s", e.URL, e.Status)
}

// indexClient reads a simple API. Credentials (Basic from the URL's
// userinfo, or a Bearer token) go only to the index's own scheme, host and
// port, also across redirects.
type indexClient struct {
	base       *url.URL // credentials removed, path ends in "/"
	authHeader string
	http       *http.Client
	retryDelay time.Duration
	attempts   int
}

func newIndexClient(o Options) (*indexClient, error) {
	u, err := url.Parse(o.IndexURL)
	if err != nil {
		return nil, fmt.Errorf("index-url %q is invalid: %w", redactURLString(o.IndexURL), err)
	}
	c := &indexClient{retryDelay: o.retryDelay, attempts: 3}
	switch {
	case u.User != nil:
		pass, _ := u.User.Password()
		c.authHeader = "Basic " + base64.StdEncoding.EncodeToString([]byte(u.User.Username()+":"+pass))
	case o.IndexToken != "":
		c.authHeader = "Bearer " + o.IndexToken
	}
	u.User = nil
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
		if u.RawPath != "" {
			u.RawPath += "/"
		}
	}
	c.base = u

	var hc http.Client
	if o.HTTPClient != nil {
		hc = *o.HTTPClient // a copy: the caller's client keeps its redirect policy
	} else {
		hc = http.Client{Transport: defaultTransport(), Timeout: 15 * time.Minute}
	}
	next := hc.CheckRedirect
	hc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return fmt.Errorf("stopped after 10 redirects at %s", displayURL(req.URL))
		}
		if c.authHeader != "" && !c.sameOrigin(req.URL) {
			// Never let credentials leave the index's origin; the file host
			// (a CDN, a pre-signed store) gets the request without them.
			req.Header.Del("Authorization")
		}
		if next != nil {
			return next(req, via)
		}
		return nil
	}
	c.http = &hc
	return c, nil
}

func defaultTransport() http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = time.Minute
	return t
}

func (c *indexClient) sameOrigin(u *url.URL) bool {
	return strings.EqualFold(u.Scheme, c.base.Scheme) && strings.EqualFold(hostPort(u), hostPort(c.base))
}

func hostPort(u *url.URL) string {
	if p := u.Port(); p != "" {
		return u.Host
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return u.Hostname() + ":443"
	case "http":
		return u.Hostname() + ":80"
	}
	return u.Host
}

func (c *indexClient) newRequest(ctx context.Context, u *url.URL, accept string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("request %s: %w", displayURL(u), err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	req.Header.Set("User-Agent", "tfstate-guard-layer")
	if c.authHeader != "" && c.sameOrigin(u) {
		req.Header.Set("Authorization", c.authHeader)
	}
	return req, nil
}

// getOnce sends one GET; the caller closes the body of the 200 answer it
// returns. Anything else is an error, an *HTTPStatusError for a status.
func (c *indexClient) getOnce(ctx context.Context, u *url.URL, accept string) (*http.Response, error) {
	req, err := c.newRequest(ctx, u, accept)
	if err != nil {
		return nil, &permanentError{err}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", displayURL(u), unwrapURLError(err))
	}
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		return nil, &HTTPStatusError{URL: displayURL(u), StatusCode: resp.StatusCode, Status: resp.Status}
	}
	return resp, nil
}

// unwrapURLError drops net/http's "Get \"url\":" prefix, which we print
// ourselves without credentials or query.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// projectFiles lists the files of one project, from the JSON form of the
// simple API when the index speaks it, else from the HTML form.
func (c *indexClient) projectFiles(ctx context.Context, name string) ([]indexFile, error) {
	page := c.base.ResolveReference(&url.URL{Path: NormalizeName(name) + "/"})
	var (
		body []byte
		resp *http.Response
	)
	err := c.withRetry(ctx, func() error {
		var err error
		resp, err = c.getOnce(ctx, page, accept)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err = io.ReadAll(io.LimitReader(resp.Body, maxPageSize+1))
		if err != nil {
			return fmt.Errorf("read %s: %w", displayURL(page), unwrapURLError(err))
		}
		if len(body) > maxPageSize {
			return &permanentError{fmt.Errorf("read %s: the page is larger than %d bytes", displayURL(page), maxPageSize)}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Relative file URLs resolve against the page's final URL.
	pageURL := resp.Request.URL
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	switch mt {
	case mediaJSON, "application/json":
		files, err := parseJSONPage(body, pageURL)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", displayURL(page), err)
		}
		return files, nil
	default:
		return parseHTMLPage(body, pageURL), nil
	}
}

type jsonPage struct {
	Meta struct {
		APIVersion string `json:"api-version"`
	} `json:"meta"`
	Files []struct {
		Filename       string            `json:"filename"`
		URL            string            `json:"url"`
		Hashes         map[string]string `json:"hashes"`
		RequiresPython *string           `json:"requires-python"`
		Yanked         json.RawMessage   `json:"yanked"`
		Size           *int64            `json:"size"`
	} `json:"files"`
}

func parseJSONPage(body []byte, pageURL *url.URL) ([]indexFile, error) {
	var p jsonPage
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("not a PEP 691 JSON page: %w", err)
	}
	if major, _, _ := strings.Cut(p.Meta.APIVersion, "."); major != "1" {
		return nil, fmt.Errorf("simple API version %q is not supported; the index must speak version 1.x", p.Meta.APIVersion)
	}
	files := make([]indexFile, 0, len(p.Files))
	for _, f := range p.Files {
		u, err := pageURL.Parse(f.URL)
		if err != nil {
			continue // an unreadable link cannot be downloaded; it is left out
		}
		fragHash := hashFromFragment(u)
		u.Fragment, u.RawFragment = "", ""
		file := indexFile{Filename: f.Filename, URL: u, Size: -1}
		if h := f.Hashes["sha256"]; h != "" {
			file.SHA256 = strings.ToLower(h)
		} else {
			file.SHA256 = fragHash
		}
		if f.RequiresPython != nil {
			file.RequiresPython = *f.RequiresPython
		}
		if f.Size != nil {
			file.Size = *f.Size
		}
		file.Yanked, file.YankedReason = parseYanked(f.Yanked)
		files = append(files, file)
	}
	return files, nil
}

// parseYanked reads PEP 691's yanked: false, true, or a reason string.
func parseYanked(raw json.RawMessage) (bool, string) {
	if len(raw) == 0 {
		return false, ""
	}
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		return b, ""
	}
	var reason string
	if json.Unmarshal(raw, &reason) == nil {
		return true, reason
	}
	return false, ""
}

func hashFromFragment(u *url.URL) string {
	if h, ok := strings.CutPrefix(u.Fragment, "sha256="); ok && sha256HexRE.MatchString(h) {
		return strings.ToLower(h)
	}
	return ""
}
