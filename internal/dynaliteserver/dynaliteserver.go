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
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/text2agent/tfstate-guard/internal/serverproc"
)

// Version is the dynalite release the scripts install.
const Version = "4.0.0"

// EnvBin, when set, is the dynalite executable to run.
const EnvBin = "TFSTATE_GUARD_DYNALITE"

// Server is a running dynalite.
type Server struct {
	URL  string
	proc *serverproc.Process
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
	p, err := serverproc.Start("dynalite", func(port int) *exec.Cmd {
		return exec.Command(bin, "--host", "127.0.0.1", "--port", strconv.Itoa(port),
			"--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0")
	}, serverproc.Ready{Path: "/", AnyStatus: true}) // dynalite answers GET / with 400
	if err != nil {
		return nil, err
	}
	return &Server{URL: p.URL, proc: p}, nil
}

// Stop kills the server's process group by its process ID.
func (s *Server) Stop() { s.proc.Stop() }
