package layer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// maxWheelSize bounds a download: a wheel bigger than Lambda's unzipped
// limit (plus zip overhead) can never fit in a layer.
const maxWheelSize = MaxUnzippedSize + 1<<20

// progressEvery is how often a running download reports.
const progressEvery = 2 * time.Second

// progress writes redacted progress lines.
type progress struct {
	mu  sync.Mutex
	w   io.Writer
	now func() time.Time
	red redactor
}

func (p *progress) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintln(p.w, p.red.String(fmt.Sprintf(format, args...)))
}

// meter counts downloaded bytes and prints a line (bytes, percent) at most
// every progressEvery, so only long downloads print running lines.
type meter struct {
	p           *progress
	name        string
	total, done int64
	last        time.Time
}

func (m *meter) Write(b []byte) (int, error) {
	m.done += int64(len(b))
	if now := m.p.now(); now.Sub(m.last) >= progressEvery {
		m.last = now
		if m.total > 0 {
			m.p.printf("  %s: %s of %s (%d%%)", m.name, HumanBytes(m.done), HumanBytes(m.total), m.done*100/m.total)
		} else {
			m.p.printf("  %s: %s", m.name, HumanBytes(m.done))
		}
	}
	return len(b), nil
}

// permanentError marks a failure a retry cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

func retryable(err error) bool {
	var pe *permanentError
	var se *HTTPStatusError
	switch {
	case err == nil, errors.As(err, &pe),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	case errors.As(err, &se):
		return se.StatusCode == http.StatusTooManyRequests || se.StatusCode >= 500
	}
	return true // a network error
}

// withRetry runs op up to c.attempts times while it fails in a way a retry
// may fix, waiting retryDelay, then twice that, between attempts.
func (c *indexClient) withRetry(ctx context.Context, op func() error) error {
	for attempt := 1; ; attempt++ {
		err := op()
		if !retryable(err) || attempt >= c.attempts || ctx.Err() != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(c.retryDelay << (attempt - 1)):
		}
	}
}

// downloaded is a verified wheel on disk.
type downloaded struct {
	path   string
	size   int64
	sha256 string
}

// download fetches f into path, verifying its size and sha256 against the
// index and the requirement's --hash pins.
func (c *indexClient) download(ctx context.Context, r Requirement, f indexFile, path string, p *progress) (downloaded, error) {
	start := p.now()
	if f.Size > maxWheelSize {
		return downloaded{}, fmt.Errorf("%s is %s, more than a layer can hold unzipped (%s)", f.Filename, HumanBytes(f.Size), HumanBytes(MaxUnzippedSize))
	}
	if f.Size >= 0 {
		p.printf("downloading %s (%s)", f.Filename, HumanBytes(f.Size))
	} else {
		p.printf("downloading %s", f.Filename)
	}
	var got downloaded
	err := c.withRetry(ctx, func() error {
		var err error
		got, err = c.downloadOnce(ctx, f, path, p)
		return err
	})
	if err != nil {
		return downloaded{}, fmt.Errorf("download %s from %s: %w", f.Filename, displayURL(f.URL), err)
	}
	if f.Size >= 0 && got.size != f.Size {
		return downloaded{}, fmt.Errorf("%s is %d bytes, but the index says %d; the download or the index is corrupt: retry, and check the index", f.Filename, got.size, f.Size)
	}
	if f.SHA256 != "" && got.sha256 != f.SHA256 {
		return downloaded{}, fmt.Errorf("%s has sha256 %s, but the index says %s; the download or the index is corrupt: retry, and check the index", f.Filename, got.sha256, f.SHA256)
	}
	if len(r.Hashes) > 0 && !slices.Contains(r.Hashes, got.sha256) {
		return downloaded{}, fmt.Errorf("requirements line %d: %s has sha256 %s, which none of the --hash pins of %s allows (%s); if the release really changed, update the pin, else check the index",
			r.Line, f.Filename, got.sha256, r, strings.Join(r.Hashes, ", "))
	}
	p.printf("downloaded %s: %s in %s, sha256 %s", f.Filename, HumanBytes(got.size), p.now().Sub(start).Round(time.Millisecond), got.sha256)
	return got, nil
}

func (c *indexClient) downloadOnce(ctx context.Context, f indexFile, path string, p *progress) (downloaded, error) {
	req, err := c.newRequest(ctx, f.URL, "")
	if err != nil {
		return downloaded{}, &permanentError{err}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return downloaded{}, unwrapURLError(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return downloaded{}, &HTTPStatusError{URL: displayURL(f.URL), StatusCode: resp.StatusCode, Status: resp.Status}
	}
	if resp.ContentLength > maxWheelSize {
		return downloaded{}, &permanentError{fmt.Errorf("the file is %s, more than a layer can hold unzipped", HumanBytes(resp.ContentLength))}
	}
	out, err := os.Create(path)
	if err != nil {
		return downloaded{}, &permanentError{fmt.Errorf("create %s: %w", path, err)}
	}
	defer out.Close()
	total := f.Size
	if total < 0 {
		total = resp.ContentLength
	}
	h := sha256.New()
	m := &meter{p: p, name: f.Filename, total: total, last: p.now()}
	n, err := io.Copy(io.MultiWriter(out, h, m), io.LimitReader(resp.Body, maxWheelSize+1))
	if err != nil {
		return downloaded{}, fmt.Errorf("after %s: %w", HumanBytes(n), err)
	}
	if n > maxWheelSize {
		return downloaded{}, &permanentError{fmt.Errorf("the file is larger than %s, more than a layer can hold unzipped", HumanBytes(maxWheelSize))}
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return downloaded{}, fmt.Errorf("got %d of %d bytes", n, resp.ContentLength)
	}
	if err := out.Close(); err != nil {
		return downloaded{}, &permanentError{fmt.Errorf("write %s: %w", path, err)}
	}
	return downloaded{path: path, size: n, sha256: hex.EncodeToString(h.Sum(nil))}, nil
}

// HumanBytes prints a size in B, KiB or MiB (powers of 1024, as Lambda counts).
func HumanBytes(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	default:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
}
