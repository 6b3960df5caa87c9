// Package serverproc starts a test server process on a free loopback port,
// in its own process group, waits until it answers, and stops it by its
// process ID: the part moto_server and dynalite share.
package serverproc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"syscall"
	"time"
)

// Process is one running server.
type Process struct {
	URL string
	cmd *exec.Cmd
}

// Ready says when a server answers: GET URL+Path, and any status when
// AnyStatus (dynalite answers GET / with 400), else 200 only.
type Ready struct {
	Path      string
	AnyStatus bool
}

// Start runs newCmd(port) on a free port of 127.0.0.1 in its own process
// group and waits up to 30 s for it to be ready, trying three ports (one
// may be taken between the probe and the server's bind). name is for
// errors.
func Start(name string, newCmd func(port int) *exec.Cmd, ready Ready) (*Process, error) {
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		cmd := newCmd(port)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("start %s: %w", name, err)
		}
		p := &Process{URL: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd}
		if lastErr = WaitReady(p.URL, ready, 30*time.Second); lastErr == nil {
			return p, nil
		}
		p.Stop()
	}
	return nil, fmt.Errorf("%s did not become ready: %w", name, lastErr)
}

// FreePort asks the kernel for a free loopback port.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Stop ends the server's process group by its process ID: SIGTERM, then
// SIGKILL after 5 s.
func (p *Process) Stop() {
	if p == nil || p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
	p.cmd = nil
}

// WaitReady waits up to within for the server at url to be ready.
func WaitReady(url string, r Ready, within time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	var lastErr error = errors.New("no answer")
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+r.Path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if r.AnyStatus || resp.StatusCode == http.StatusOK {
				return nil
			}
			lastErr = fmt.Errorf("GET %s%s: %s", url, r.Path, resp.Status)
		} else {
			lastErr = err
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after %s: %w", url, within, lastErr)
}
