package main

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/text2agent/tfstate-guard/internal/fakegithub"
)

// requestCounts is what went through the proxy during one measurement.
type requestCounts struct {
	DynamoDB int64
	S3       int64
	// ByOp counts requests per operation ("dynamodb:Scan", "s3:HEAD bucket").
	ByOp map[string]int64
	// Writes lists the write requests the server accepted (2xx), by
	// operation: a refused conditional write (the permission probe) is not
	// one.
	Writes map[string]int64
}

func (c requestCounts) total() int64 { return c.DynamoDB + c.S3 }

func (c requestCounts) writes() int64 {
	var n int64
	for _, v := range c.Writes {
		n += v
	}
	return n
}

// countingProxy forwards to moto and counts requests by AWS operation.
type countingProxy struct {
	url    string
	srv    *http.Server
	target atomic.Pointer[httputil.ReverseProxy]
	mu     sync.Mutex
	c      requestCounts
}

func newCountingProxy(target string) (*countingProxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &countingProxy{url: "http://" + l.Addr().String()}
	p.reset()
	p.retarget(u)
	p.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.target.Load().ServeHTTP(w, r)
	})}
	p.markRunRecords()
	go p.srv.Serve(l)
	return p, nil
}

// retarget sends later requests to another server (a fresh moto).
func (p *countingProxy) retarget(u *url.URL) {
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = &http.Transport{MaxIdleConnsPerHost: 64}
	rp.ModifyResponse = func(resp *http.Response) error {
		p.count(resp.Request, resp.StatusCode)
		return nil
	}
	p.target.Store(rp)
}

func (p *countingProxy) close() { p.srv.Close() }

func (p *countingProxy) reset() {
	p.mu.Lock()
	p.c = requestCounts{ByOp: map[string]int64{}, Writes: map[string]int64{}}
	p.mu.Unlock()
}

func (p *countingProxy) snapshot() requestCounts {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := requestCounts{DynamoDB: p.c.DynamoDB, S3: p.c.S3, ByOp: map[string]int64{}, Writes: map[string]int64{}}
	for k, v := range p.c.ByOp {
		out.ByOp[k] = v
	}
	for k, v := range p.c.Writes {
		out.Writes[k] = v
	}
	return out
}

var dynamoReads = regexp.MustCompile(`^(Describe|Get|Scan|Query|List|BatchGet)`)

func (p *countingProxy) count(r *http.Request, status int) {
	var op string
	write := false
	if target := r.Header.Get("X-Amz-Target"); strings.HasPrefix(target, "DynamoDB_") {
		name := target[strings.Index(target, ".")+1:]
		op = "dynamodb:" + name
		write = !dynamoReads.MatchString(name)
		if name == "PutItem" && r.Header.Get("X-Bench-Record") == "1" {
			op += " (run record)"
		}
	} else {
		kind := "bucket"
		if strings.Count(strings.Trim(r.URL.Path, "/"), "/") >= 1 {
			kind = "object"
		}
		var q []string
		for k := range r.URL.Query() {
			q = append(q, k)
		}
		sort.Strings(q)
		op = "s3:" + r.Method + " " + kind
		if len(q) > 0 {
			op += " ?" + strings.Join(q, "&")
		}
		write = r.Method != http.MethodGet && r.Method != http.MethodHead
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if strings.HasPrefix(op, "dynamodb:") {
		p.c.DynamoDB++
	} else {
		p.c.S3++
	}
	p.c.ByOp[op]++
	if write && status < 300 {
		p.c.Writes[op]++
	}
}

// markRunRecords wraps the proxy's handler: a PutItem whose body holds a
// run-record key gets X-Bench-Record: 1 before it is counted.
func (p *countingProxy) markRunRecords() {
	inner := p.srv.Handler
	p.srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".PutItem") && r.Body != nil {
			b, _ := io.ReadAll(r.Body)
			r.Body.Close()
			if bytes.Contains(b, []byte(`tfstate-guard#state#`)) {
				r.Header.Set("X-Bench-Record", "1")
			}
			r.Body = io.NopCloser(bytes.NewReader(b))
		}
		inner.ServeHTTP(w, r)
	})
}

// fakeGitHub is internal/fakegithub, the one GitHub stand-in the tests
// use, served from this process: every endpoint detect and unlock call,
// as GitHub answers them, with a configurable latency per request.
type fakeGitHub struct {
	url string
	srv *http.Server
	api *fakegithub.API
}

func newFakeGitHub() (*fakeGitHub, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	api := fakegithub.New()
	api.RateLimit = 1 << 30 // the bench measures time, not GitHub's quota
	api.SkipContract = true // nor the fake's schema checks (the tests make them)
	g := &fakeGitHub{url: "http://" + l.Addr().String(), api: api, srv: &http.Server{Handler: api}}
	go g.srv.Serve(l)
	return g, nil
}

// ended registers run id as completed (cancelled), its one job on the
// runner the bench's run records name having ended at end.
func (g *fakeGitHub) ended(id int64, end time.Time) {
	g.api.End(repository, id, 1, "cancelled", benchRunner, end)
}

func (g *fakeGitHub) close()       { g.srv.Close() }
func (g *fakeGitHub) reset()       { g.api.ResetCounts() }
func (g *fakeGitHub) count() int64 { return int64(g.api.Requests("")) }
