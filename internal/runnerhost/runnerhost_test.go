package runnerhost

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dockerAPI serves handler on a Unix socket, as the Docker daemon does.
func dockerAPI(t *testing.T, handler http.HandlerFunc) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "dock") // short: Unix socket paths are limited to ~100 bytes
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	socket := filepath.Join(dir, "docker.sock")
	l, err := net.Listen("unix", socket)
	require.NoError(t, err)
	srv := &http.Server{Handler: handler}
	go srv.Serve(l) //nolint:errcheck // ends with Close
	t.Cleanup(func() { srv.Close() })
	return socket
}

// infoJSON is the start of a real GET /info answer of Docker Engine 28.
const infoJSON = `{"ID":"7d4c1c36-5e0e-4b0b-9a55-2d9b3f3a6e11","Containers":3,"ContainersRunning":1,"Images":12,
"Driver":"overlay2","KernelVersion":"6.8.0-1017-azure","OperatingSystem":"Ubuntu 24.04.1 LTS","OSType":"linux",
"Architecture":"x86_64","NCPU":4,"MemTotal":16757346304,"Name":"runnervmg1sw1","ServerVersion":"28.0.4"}`

func TestFind(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	good := dockerAPI(t, func(w http.ResponseWriter, r *http.Request) {
		assert.Equal(t, "/info", r.URL.Path)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(infoJSON))
	})
	refused := dockerAPI(t, func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, `{"message":"permission denied"}`, http.StatusForbidden)
	})
	hostname := func() (string, error) { return "laptop-7\n", nil }
	yes, no := func() bool { return true }, func() bool { return false }

	cases := []struct {
		name   string
		f      Finder
		host   string
		source Source
		err    string
	}{
		{name: "input wins", f: Finder{Explicit: " gha-42-1 ", InContainer: yes, DockerSocket: good}, host: "gha-42-1", source: SourceInput},
		{name: "container: the Docker daemon's host", f: Finder{InContainer: yes, DockerSocket: good}, host: "runnervmg1sw1", source: SourceDocker},
		{name: "container without the socket", f: Finder{InContainer: yes, DockerSocket: filepath.Join(t.TempDir(), "none.sock"), Hostname: hostname},
			source: SourceNone, err: "the socket is not mounted; set the runner-host input"},
		{name: "container, daemon refuses", f: Finder{InContainer: yes, DockerSocket: refused}, source: SourceNone, err: "403 Forbidden"},
		{name: "not in a container: this machine", f: Finder{InContainer: no, DockerSocket: good, Hostname: hostname}, host: "laptop-7", source: SourceHostname},
		{name: "hostname fails", f: Finder{InContainer: no, Hostname: func() (string, error) { return "", errors.New("boom") }}, source: SourceNone, err: "boom"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			host, source, err := c.f.Find(ctx)
			assert.Equal(t, c.host, host)
			assert.Equal(t, c.source, source)
			if c.err == "" {
				assert.NoError(t, err)
			} else {
				assert.ErrorContains(t, err, c.err)
			}
		})
	}
}

func TestDockerHostnameRejectsOddAnswers(t *testing.T) {
	t.Parallel()
	for body, want := range map[string]string{
		`not json`:              "not Docker's JSON",
		`{"Name":""}`:           "is not a host name",
		`{"Name":"a b"}`:        "is not a host name",
		`{"Name":"user@host"}`:  "is not a host name",
		`{"ServerVersion":"1"}`: "is not a host name",
	} {
		socket := dockerAPI(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(body)) })
		_, err := DockerHostname(context.Background(), socket, time.Second)
		assert.ErrorContains(t, err, want, body)
	}
}

func TestDockerHostnameTimesOut(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	socket := dockerAPI(t, func(http.ResponseWriter, *http.Request) { <-release })
	_, err := DockerHostname(context.Background(), socket, 200*time.Millisecond)
	assert.ErrorIs(t, err, context.DeadlineExceeded, "a daemon that never answers ends in the timeout")
}
