// Package dynaliteserver starts dynalite, a DynamoDB protocol server whose
// conditional writes held under load where moto's did not (issue 19: 0 of
// 770 conditional puts won a held lock, against moto's 2 of 664), for the
// reliability races: one process per test binary, on 127.0.0.1 at
// a port chosen at run time, stopped by its process ID.
//
// dynalite is installed from npm at a pinned version by scripts/test.sh
// and scripts/reliability.sh (npm install --prefix .cache/dynalite
// dynalite@4.0.0); EnvBin names another installation.
package dynaliteserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Version is the dynalite release the scripts install.
const Version = "4.0.0"

// EnvBin, when set, is the dynalite executable to run.
const EnvBin = "TFSTATE_GUARD_DYNALITE"

// Server is a running dynalite.
type Server struct {
	URL string
	cmd *exec.Cmd
}

var (
	once    sync.Once
	shared  *Server
	initErr error
)

// Shared returns the test binary's server, starting it on first use. It
// fails the test (never skips it) when dynalite cannot be started.
func Shared(t testing.TB) *Server {
	t.Helper()
	once.Do(func() { shared, initErr = Start() })
	if initErr != nil {
		t.Fatalf("dynalite is required for this test: %v", initErr)
	}
	return shared
}

// StopShared ends the shared server if this process started it.
func StopShared() {
	if shared != nil {
		shared.Stop()
	}
}

// Find returns the dynalite executable: EnvBin, then .cache/dynalite in
// the module root, then the PATH.
func Find() (string, error) {
	if p := os.Getenv(EnvBin); p != "" {
		return p, nil
	}
	if dir, err := os.Getwd(); err == nil {
		for {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				p := filepath.Join(dir, ".cache", "dynalite", "node_modules", ".bin", "dynalite")
				if _, err := os.Stat(p); err == nil {
					return p, nil
				}
				break
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	if p, err := exec.LookPath("dynalite"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("dynalite not found: run `npm install --no-audit --no-fund --prefix .cache/dynalite dynalite@%s` in the repository root (scripts/test.sh does), or set %s", Version, EnvBin)
}

// Start launches dynalite on a free loopback port and waits until it answers.
func Start() (*Server, error) {
	bin, err := Find()
	if err != nil {
		return nil, err
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		cmd := exec.Command(bin, "--host", "127.0.0.1", "--port", strconv.Itoa(port),
			"--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("start %s: %w", bin, err)
		}
		s := &Server{URL: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd}
		if lastErr = waitReady(s.URL, 30*time.Second); lastErr == nil {
			return s, nil
		}
		s.Stop()
	}
	return nil, fmt.Errorf("dynalite did not become ready: %w", lastErr)
}

// Stop kills the server's process group by its process ID.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
	s.cmd = nil
}

// waitReady waits for any HTTP answer (dynalite answers GET / with 400).
func waitReady(url string, within time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	var lastErr error = errors.New("no answer")
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		lastErr = err
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after %s: %w", url, within, lastErr)
}
