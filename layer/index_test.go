package layer

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/text2agent/tfstate-guard/layer/internal/wheeltest"
)

func TestParseHTMLPage(t *testing.T) {
	t.Parallel()
	page := `<!DOCTYPE html>
<HTML><head><meta name="pypi:repository-version" content="1.0"><!-- <a href="commented-out.whl">x</a> --></head>
<body>
<A HREF="../../packages/aa/pkg-1.0-py3-none-any.whl#sha256=ABCDEFabcdef0123456789abcdef0123456789abcdef0123456789abcdef0123" data-requires-python="&gt;=3.7, &lt;4">pkg-1.0-py3-none-any.whl</A><br/>
<a href='https://files.example.com/pkg-1.1-py3-none-any.whl' data-yanked>pkg-1.1-py3-none-any.whl</a>
<a href=pkg-1.2.tar.gz data-yanked="bad &amp; broken">  pkg-1.2.tar.gz  </a>
<base href="https://mirror.example.com/root/">
<a href="pkg-2.0-py3-none-any.whl"></a>
<a name="no-href">not a file</a>
</body></HTML>`
	pageURL, err := url.Parse("https://index.example.com/simple/pkg/")
	require.NoError(t, err)
	files := parseHTMLPage([]byte(page), pageURL)
	require.Len(t, files, 4)
	assert.Equal(t, "pkg-1.0-py3-none-any.whl", files[0].Filename)
	assert.Equal(t, "https://index.example.com/packages/aa/pkg-1.0-py3-none-any.whl", files[0].URL.String())
	assert.Equal(t, "abcdefabcdef0123456789abcdef0123456789abcdef0123456789abcdef0123", files[0].SHA256)
	assert.Equal(t, ">=3.7, <4", files[0].RequiresPython)
	assert.False(t, files[0].Yanked)
	assert.Equal(t, int64(-1), files[0].Size)

	assert.Equal(t, "https://files.example.com/pkg-1.1-py3-none-any.whl", files[1].URL.String())
	assert.True(t, files[1].Yanked)
	assert.Equal(t, "", files[1].YankedReason)
	assert.Equal(t, "", files[1].SHA256)

	assert.Equal(t, "pkg-1.2.tar.gz", files[2].Filename)
	assert.Equal(t, "bad & broken", files[2].YankedReason)

	assert.Equal(t, "pkg-2.0-py3-none-any.whl", files[3].Filename, "an empty anchor takes the URL's file name")
	assert.Equal(t, "https://mirror.example.com/root/pkg-2.0-py3-none-any.whl", files[3].URL.String(), "<base href> applies")
}

func TestParseJSONPage(t *testing.T) {
	t.Parallel()
	pageURL, err := url.Parse("https://index.example.com/simple/pkg/")
	require.NoError(t, err)
	body := `{"meta":{"api-version":"1.1"},"name":"pkg","files":[
		{"filename":"pkg-1.0-py3-none-any.whl","url":"../../f/pkg-1.0-py3-none-any.whl","hashes":{"sha256":"AB` + strings.Repeat("0", 62) + `"},"requires-python":">=3.8","yanked":false,"size":1234},
		{"filename":"pkg-1.1-py3-none-any.whl","url":"https://cdn.example.com/pkg-1.1-py3-none-any.whl#sha256=` + strings.Repeat("1", 64) + `","hashes":{},"yanked":"security hole"},
		{"filename":"pkg-1.2-py3-none-any.whl","url":"/f/pkg-1.2-py3-none-any.whl","hashes":{"md5":"x"},"yanked":true}
	]}`
	files, err := parseJSONPage([]byte(body), pageURL)
	require.NoError(t, err)
	require.Len(t, files, 3)
	assert.Equal(t, indexFile{Filename: "pkg-1.0-py3-none-any.whl", URL: mustURL(t, "https://index.example.com/f/pkg-1.0-py3-none-any.whl"), SHA256: "ab" + strings.Repeat("0", 62), RequiresPython: ">=3.8", Size: 1234}, files[0])
	assert.Equal(t, indexFile{Filename: "pkg-1.1-py3-none-any.whl", URL: mustURL(t, "https://cdn.example.com/pkg-1.1-py3-none-any.whl"), SHA256: strings.Repeat("1", 64), Yanked: true, YankedReason: "security hole", Size: -1}, files[1])
	assert.Equal(t, indexFile{Filename: "pkg-1.2-py3-none-any.whl", URL: mustURL(t, "https://index.example.com/f/pkg-1.2-py3-none-any.whl"), Yanked: true, Size: -1}, files[2])

	_, err = parseJSONPage([]byte(`{"meta":{"api-version":"2.0"},"files":[]}`), pageURL)
	assert.EqualError(t, err, `simple API version "2.0" is not supported; the index must speak version 1.x`)
	_, err = parseJSONPage([]byte(`<html>`), pageURL)
	assert.ErrorContains(t, err, "not a PEP 691 JSON page")
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	require.NoError(t, err)
	return u
}

// authServers are an index that requires credentials and a file host on
// another origin; the index also redirects /redirect/<file> to that host.
type authServers struct {
	index, files       *wheeltest.Index
	indexSrv, filesSrv *httptest.Server
}

func newAuthServers(t *testing.T, wantAuth string) *authServers {
	t.Helper()
	s := &authServers{files: &wheeltest.Index{}}
	s.filesSrv = httptest.NewServer(s.files)
	t.Cleanup(s.filesSrv.Close)
	s.index = &wheeltest.Index{WantAuth: wantAuth, FilesURL: s.filesSrv.URL + "/files/"}
	s.indexSrv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if name, ok := strings.CutPrefix(r.URL.Path, "/redirect/"); ok {
			s.index.ServeHTTP(httptest.NewRecorder(), r) // record the request
			http.Redirect(w, r, s.filesSrv.URL+"/files/"+name, http.StatusFound)
			return
		}
		s.index.ServeHTTP(w, r)
	}))
	t.Cleanup(s.indexSrv.Close)
	return s
}

func TestCredentialsStayOnTheIndexHost(t *testing.T) {
	t.Parallel()
	const password = "s3cret-Pa55"
	const token = "tok-0123456789"
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("ci-user:"+password))
	tests := []struct {
		name     string
		wantAuth string
		indexURL func(srv *httptest.Server) string
		token    string
		redirect bool
	}{
		{"basic auth from the URL, files on another host", basic, func(srv *httptest.Server) string {
			return strings.Replace(srv.URL, "http://", "http://ci-user:"+password+"@", 1) + "/simple"
		}, "", false},
		{"bearer token, files on another host", "Bearer " + token, func(srv *httptest.Server) string { return srv.URL + "/simple/" }, token, false},
		{"bearer token, redirect to another host", "Bearer " + token, func(srv *httptest.Server) string { return srv.URL + "/simple/" }, token, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newAuthServers(t, tt.wantAuth)
			f := wheelFile(tinyDep)
			s.files.Add("tiny-dep", f)
			if tt.redirect {
				s.index.FilesURL = s.indexSrv.URL + "/redirect/"
			}
			s.index.Add("tiny-dep", f)
			var progress bytes.Buffer
			o := Options{
				Requirements: []Requirement{{Name: "tiny-dep", Version: "1.0", Line: 1}},
				IndexURL:     tt.indexURL(s.indexSrv),
				IndexToken:   tt.token,
				Output:       t.TempDir() + "/layer.zip",
				Progress:     &progress,
				retryDelay:   time.Millisecond,
			}
			_, err := Build(context.Background(), o)
			require.NoError(t, err)
			for _, r := range s.index.Requests() {
				assert.Equal(t, tt.wantAuth, r.Authorization, "the index gets the credentials on %s", r.Path)
			}
			fileReqs := s.files.Requests()
			require.Len(t, fileReqs, 1)
			assert.Empty(t, fileReqs[0].Authorization, "the file host never gets the credentials")
			assert.NotContains(t, progress.String(), password)
			assert.NotContains(t, progress.String(), token)
		})
	}
}

func TestCredentialsNeverInErrors(t *testing.T) {
	t.Parallel()
	const password = "hunter2-hunter2"
	const token = "pypi-AgEIcHlwaS5vcmc"
	s := newAuthServers(t, "Bearer right-token")
	s.index.Add("tiny-dep", wheelFile(tinyDep))
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()

	tests := []struct {
		name, indexURL, token string
		want                  []string
	}{
		{"wrong token", s.indexSrv.URL + "/simple/", token, []string{"refused access", "(HTTP 401)", "set index-token"}},
		{"wrong password", strings.Replace(s.indexSrv.URL, "http://", "http://me:"+password+"@", 1) + "/simple/", "", []string{"refused access"}},
		{"unreachable index with a password", strings.Replace(closedURL, "http://", "http://me:"+password+"@", 1) + "/simple/", "", []string{"connection refused"}},
		{"unreachable index with a token", closedURL + "/simple/", token, []string{"connection refused"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var progress bytes.Buffer
			_, err := Build(context.Background(), Options{
				Requirements: []Requirement{{Name: "tiny-dep", Version: "1.0", Line: 1}},
				IndexURL:     tt.indexURL, IndexToken: tt.token,
				Output: t.TempDir() + "/layer.zip", Progress: &progress, retryDelay: time.Millisecond,
			})
			require.Error(t, err)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
			for _, secret := range []string{password, token, url.QueryEscape(password)} {
				assert.NotContains(t, err.Error(), secret)
				assert.NotContains(t, progress.String(), secret)
			}
		})
	}
}

func TestRedactor(t *testing.T) {
	t.Parallel()
	r := newRedactor("https://user:p%40ss%2Fword@mirror.example.com/simple/", "")
	assert.Equal(t, "GET https://***@mirror.example.com/x failed", r.String("GET https://user:p%40ss%2Fword@mirror.example.com/x failed"))
	assert.Equal(t, "saw *** and ***", r.String("saw p@ss/word and p%40ss%2Fword"))
	tokenAsUser := newRedactor("https://ghp_abcdef123456@mirror.example.com/simple/", "")
	assert.Equal(t, "token *** leaked", tokenAsUser.String("token ghp_abcdef123456 leaked"))
	tok := newRedactor(DefaultIndexURL, "glpat-XYZ")
	assert.Equal(t, "Bearer ***", tok.String("Bearer glpat-XYZ"))
}

func TestRetriesTransientFailures(t *testing.T) {
	t.Parallel()
	ix := stdIndex(wheeltest.JSONOnly)
	var pageHits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/simple/") && pageHits.Add(1) <= 2 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		ix.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	_, err := Build(context.Background(), testOptions(srv, t.TempDir(), "tiny-dep==1.0"))
	require.NoError(t, err)
	assert.Equal(t, int32(3), pageHits.Load(), "two 503s, then the page")
}

func TestIndexURLWithoutTrailingSlashAndNameNormalization(t *testing.T) {
	t.Parallel()
	ix, srv := newIndex(t, wheeltest.HTMLOnly)
	o := testOptions(srv, t.TempDir(), "Tiny_Dep==1.0")
	o.IndexURL = srv.URL + "/simple"
	_, err := Build(context.Background(), o)
	require.NoError(t, err)
	reqs := ix.Requests()
	require.NotEmpty(t, reqs)
	assert.Equal(t, "/simple/tiny-dep/", reqs[0].Path)
	assert.Contains(t, reqs[0].Accept, "application/vnd.pypi.simple.v1+json")
}
