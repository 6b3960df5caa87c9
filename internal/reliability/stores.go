package reliability

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// StoreFront is how the race's writers, and the product (through its
// fault proxy), reach the stores: S3 requests go to moto; DynamoDB's item
// operations (reads, conditional writes, scans) go to the items server
// (moto or dynalite), its table operations to moto. dynalite implements
// items and tables but not TTL, point-in-time recovery or tags, which setup
// configures; with dynalite as the items server, CreateTable and
// DeleteTable go to both, so moto holds a twin of each table for those
// settings, and every lock, record and digest lives in dynalite.
//
// With AtomicS3, the writes to one S3 object (PUT, POST, DELETE on a key)
// pass one at a time, each to its answer. S3 promises that a conditional
// write (If-None-Match: *, If-Match) checks and writes atomically per key;
// moto_server is threaded and checks, then writes, without a lock per key,
// so two conditional puts that overlap can both succeed (measured for its
// DynamoDB conditional puts: 2 of 664 under load). Serialising in front of
// it gives the race an S3 whose conditional writes are atomic, as S3's
// are, so that a lock held twice is never the store's doing; the reads stay
// concurrent. (No other S3 server with conditional writes is available
// offline here; MinIO would be a second large dependency.)
type StoreFront struct {
	URL string

	s3, dynamo, items *url.URL
	atomicS3          bool
	ln                net.Listener
	srv               *http.Server
	tr                *http.Transport

	mu   sync.Mutex
	keys map[string]*sync.Mutex
}

// NewStoreFront starts a front on 127.0.0.1 at a free port: S3 and
// DynamoDB's table operations go to motoURL, DynamoDB's item operations to
// itemsURL (motoURL too, or dynalite's).
func NewStoreFront(motoURL, itemsURL string, atomicS3 bool) (*StoreFront, error) {
	s, err := url.Parse(motoURL)
	if err != nil {
		return nil, err
	}
	i, err := url.Parse(itemsURL)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f := &StoreFront{URL: "http://" + ln.Addr().String(), s3: s, dynamo: s, items: i, atomicS3: atomicS3, ln: ln,
		tr: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second}, keys: map[string]*sync.Mutex{}}
	f.srv = &http.Server{Handler: f, IdleTimeout: 5 * time.Second, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = f.srv.Serve(ln) }()
	return f, nil
}

// Close stops the front.
func (f *StoreFront) Close() {
	_ = f.srv.Close()
	f.tr.CloseIdleConnections()
}

// itemOps are DynamoDB's operations on items.
var itemOps = map[string]bool{
	"GetItem": true, "PutItem": true, "UpdateItem": true, "DeleteItem": true, "Query": true, "Scan": true,
	"BatchGetItem": true, "BatchWriteItem": true, "TransactGetItems": true, "TransactWriteItems": true,
}

func (f *StoreFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	target := f.s3
	if t := r.Header.Get("X-Amz-Target"); strings.HasPrefix(t, "DynamoDB_") {
		op := t[strings.IndexByte(t, '.')+1:]
		target = f.dynamo
		switch {
		case itemOps[op]:
			target = f.items
		case (op == "CreateTable" || op == "DeleteTable") && f.items.String() != f.dynamo.String():
			resp, err := f.forward(r, f.items, body)
			if err != nil {
				w.WriteHeader(http.StatusBadGateway)
				return
			}
			if resp.status >= 300 {
				resp.write(w)
				return
			}
		}
	} else if f.atomicS3 && r.Method != http.MethodGet && r.Method != http.MethodHead {
		if key := strings.TrimPrefix(r.URL.EscapedPath(), "/"); strings.Contains(key, "/") {
			m := f.keyLock(key)
			m.Lock()
			defer m.Unlock()
		}
	}
	resp, err := f.forward(r, target, body)
	if err != nil {
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	resp.write(w)
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) write(w http.ResponseWriter) {
	for k, vs := range a.header {
		w.Header()[k] = vs
	}
	w.WriteHeader(a.status)
	_, _ = w.Write(a.body)
}

// forward sends the request to target and reads the whole answer (a
// write is done when it returns).
func (f *StoreFront) forward(r *http.Request, target *url.URL, body []byte) (answer, error) {
	out, err := http.NewRequestWithContext(r.Context(), r.Method, target.String()+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return answer{}, err
	}
	out.Header = r.Header.Clone()
	out.Host = r.Host // SigV4 signs the host the client used
	out.ContentLength = int64(len(body))
	resp, err := f.tr.RoundTrip(out)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, data}, err
}

func (f *StoreFront) keyLock(key string) *sync.Mutex {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.keys[key]
	if m == nil {
		m = &sync.Mutex{}
		f.keys[key] = m
	}
	return m
}
