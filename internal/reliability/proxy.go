package reliability

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Call describes one request the product made, as the proxy saw it.
type Call struct {
	Service string // "dynamodb", "s3" or "github"
	// Op is the DynamoDB operation (X-Amz-Target, e.g. "DeleteItem"), the
	// S3 method and path kind ("GET", "DELETE", "LIST", "HEAD", "PUT"), or
	// the GitHub method and path.
	Op string
	// Resource is the DynamoDB table or the S3 bucket.
	Resource string
	// Key is the DynamoDB LockID or the S3 object key, when there is one.
	Key string
	// Condition is the :info value of a conditional DeleteItem, or the
	// If-Match ETag of a conditional DeleteObject.
	Condition string
	// N counts calls of this Service+Op so far, from 1.
	N int
	// Status is the status the product received (0: no HTTP answer).
	Status     int
	Start, End time.Time
}

// Action is what the proxy does with one request.
type Action struct {
	// Delay waits before doing anything else (a slow answer).
	Delay time.Duration
	// Status, with Body and Header, answers without asking the server.
	Status int
	Body   string
	Header map[string]string
	// Reset closes the connection without answering (a TCP reset).
	Reset bool
	// Truncate forwards the request, then sends only the first half of the
	// server's body under its full Content-Length and closes.
	Truncate bool
	// Hang never answers until the client gives up (a timeout).
	Hang bool
}

// Pass is the action that forwards the request untouched.
var Pass = Action{}

// Proxy is a fault-injecting reverse proxy on 127.0.0.1 in front of one
// server (moto or the fake GitHub). Faults decide per request; Log keeps
// every request the product made, answered or not.
type Proxy struct {
	URL    string
	target *url.URL
	ln     net.Listener
	srv    *http.Server
	tr     *http.Transport

	mu     sync.Mutex
	fault  func(Call) Action
	counts map[string]int
	log    []Call
	keep   func(Call) bool
}

// NewProxy starts a proxy in front of target.
func NewProxy(target string) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{URL: "http://" + ln.Addr().String(), target: u, ln: ln, counts: map[string]int{},
		tr: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second}}
	// Idle client connections are closed soon: every in-process invocation
	// of the product builds its own HTTP clients and never closes them.
	p.srv = &http.Server{Handler: p, IdleTimeout: 2 * time.Second, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// Close stops the proxy.
func (p *Proxy) Close() {
	_ = p.srv.Close()
	p.tr.CloseIdleConnections()
}

// SetFault installs f (nil: pass everything) and resets the call counts.
func (p *Proxy) SetFault(f func(Call) Action) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fault, p.counts = f, map[string]int{}
}

// KeepLog keeps calls for which keep returns true (nil: none).
func (p *Proxy) KeepLog(keep func(Call) bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keep = keep
}

// Take returns the kept calls on resource and forgets them.
func (p *Proxy) Take(resources ...string) []Call {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out, rest []Call
	for _, c := range p.log {
		if contains(resources, c.Resource) {
			out = append(out, c)
		} else {
			rest = append(rest, c)
		}
	}
	p.log = rest
	return out
}

// Counts returns how many calls of each Service+" "+Op were made since SetFault.
func (p *Proxy) Counts() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]int{}
	for k, v := range p.counts {
		out[k] = v
	}
	return out
}

func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	c := describe(r, body)
	c.Start = time.Now()
	p.mu.Lock()
	p.counts[c.Service+" "+c.Op]++
	c.N = p.counts[c.Service+" "+c.Op]
	fault := p.fault
	p.mu.Unlock()
	act := Pass
	if fault != nil {
		act = fault(c)
	}
	c.Status = p.act(w, r, body, act)
	c.End = time.Now()
	p.mu.Lock()
	if p.keep != nil && p.keep(c) {
		p.log = append(p.log, c)
	}
	p.mu.Unlock()
}

func (p *Proxy) act(w http.ResponseWriter, r *http.Request, body []byte, act Action) int {
	if act.Delay > 0 {
		select {
		case <-time.After(act.Delay):
		case <-r.Context().Done():
			return 0
		}
	}
	switch {
	case act.Hang:
		<-r.Context().Done()
		return 0
	case act.Reset:
		resetConn(w)
		return 0
	case act.Status != 0:
		for k, v := range act.Header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(act.Status)
		_, _ = io.WriteString(w, act.Body)
		return act.Status
	}
	out, err := http.NewRequestWithContext(r.Context(), r.Method, p.target.String()+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		w.WriteHeader(http.StatusBadGateway)
		return 0
	}
	out.Header = r.Header.Clone()
	out.Host = r.Host // SigV4 signs the host the client used
	out.ContentLength = int64(len(body))
	resp, err := p.tr.RoundTrip(out)
	if err != nil {
		resetConn(w)
		return 0
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if act.Truncate && len(data) > 1 {
		truncate(w, resp, data)
		return resp.StatusCode
	}
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(data)
	return resp.StatusCode
}

// resetConn closes the client's connection with a TCP reset.
func resetConn(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("proxy: response writer cannot be hijacked")
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	conn.Close()
}

// truncate sends the status and headers with the full Content-Length, half
// the body, and closes: a response cut short.
func truncate(w http.ResponseWriter, resp *http.Response, data []byte) {
	hj := w.(http.Hijacker)
	conn, buf, err := hj.Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	writeHead(buf, resp, len(data))
	_, _ = buf.Write(data[:len(data)/2])
	_ = buf.Flush()
}

func writeHead(buf *bufio.ReadWriter, resp *http.Response, n int) {
	fmt.Fprintf(buf, "HTTP/1.1 %d %s\r\n", resp.StatusCode, http.StatusText(resp.StatusCode))
	for k, vs := range resp.Header {
		if strings.EqualFold(k, "Content-Length") || strings.EqualFold(k, "Transfer-Encoding") {
			continue
		}
		for _, v := range vs {
			fmt.Fprintf(buf, "%s: %s\r\n", k, v)
		}
	}
	fmt.Fprintf(buf, "Content-Length: %s\r\nConnection: close\r\n\r\n", strconv.Itoa(n))
}

// describe names the call a request makes.
func describe(r *http.Request, body []byte) Call {
	if t := r.Header.Get("X-Amz-Target"); strings.HasPrefix(t, "DynamoDB_") {
		c := Call{Service: "dynamodb", Op: t[strings.IndexByte(t, '.')+1:]}
		var in struct {
			TableName                 string
			Key                       map[string]map[string]string
			Item                      map[string]map[string]string
			ExpressionAttributeValues map[string]map[string]string
		}
		if json.Unmarshal(body, &in) == nil {
			c.Resource = in.TableName
			c.Key = in.Key["LockID"]["S"]
			if c.Key == "" {
				c.Key = in.Item["LockID"]["S"]
			}
			c.Condition = in.ExpressionAttributeValues[":info"]["S"]
		}
		return c
	}
	if strings.Contains(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256") || r.Header.Get("X-Amz-Date") != "" {
		c := Call{Service: "s3", Op: r.Method}
		path := strings.TrimPrefix(r.URL.EscapedPath(), "/")
		bucket, key, hasKey := strings.Cut(path, "/")
		c.Resource = bucket
		if k, err := url.PathUnescape(key); err == nil {
			key = k
		}
		switch {
		case r.Method == http.MethodGet && (!hasKey || key == "") && r.URL.Query().Has("list-type"):
			c.Op = "LIST"
		case !hasKey || key == "":
			c.Op = r.Method + " bucket"
		default:
			c.Key = key
		}
		c.Condition = r.Header.Get("If-Match")
		return c
	}
	return Call{Service: "github", Op: r.Method + " " + githubShape(r.URL.Path)}
}

// githubShape replaces numbers in a GitHub path so calls group by endpoint.
func githubShape(path string) string {
	parts := strings.Split(path, "/")
	for i, p := range parts {
		if _, err := strconv.ParseInt(p, 10, 64); err == nil && p != "" {
			parts[i] = "{n}"
		}
	}
	return strings.Join(parts, "/")
}
