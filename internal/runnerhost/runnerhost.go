// Package runnerhost finds the hostname of the machine Terraform will run
// on, which Terraform writes into a lock's Who ("<user>@<hostname>").
//
// Setup records it in the run record so that detect can tie a lock to the
// job that took it. Inside a Docker container action the container's own
// hostname is a random container ID, but the runner mounts the Docker
// socket (/var/run/docker.sock) into every container action; the Docker
// Engine API's GET /info answers with the daemon host's name, which is the
// runner machine's hostname. Everything here fails soft: an unknown host
// only makes the record weaker evidence, never an error.
package runnerhost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// Source says where a host name came from.
type Source string

const (
	SourceInput    Source = "runner-host input"
	SourceDocker   Source = "Docker daemon (/info over the runner's socket)"
	SourceHostname Source = "this machine's hostname"
	SourceNone     Source = "unknown"
)

// DefaultDockerSocket is where the runner mounts the Docker socket into a
// container action.
const DefaultDockerSocket = "/var/run/docker.sock"

// Finder resolves the runner's host name. Zero fields mean the defaults.
type Finder struct {
	// Explicit is the runner-host input; it wins when set.
	Explicit string
	// DockerSocket is the Docker Engine API socket (DefaultDockerSocket).
	DockerSocket string
	// InContainer reports whether this process runs in a container
	// (default: /.dockerenv exists, as Docker creates it in every container).
	InContainer func() bool
	// Hostname is os.Hostname by default.
	Hostname func() (string, error)
	// Timeout bounds the Docker API call (default 2 s).
	Timeout time.Duration
}

// Find returns the host Terraform will run on, where it came from, and,
// when the host is unknown, why.
func (f Finder) Find(ctx context.Context) (string, Source, error) {
	if h := strings.TrimSpace(f.Explicit); h != "" {
		return h, SourceInput, nil
	}
	inContainer := f.InContainer
	if inContainer == nil {
		inContainer = func() bool { _, err := os.Stat("/.dockerenv"); return err == nil }
	}
	if inContainer() {
		socket := f.DockerSocket
		if socket == "" {
			socket = DefaultDockerSocket
		}
		h, err := DockerHostname(ctx, socket, f.Timeout)
		if err != nil {
			return "", SourceNone, fmt.Errorf("in a container, the runner's host name comes from the Docker socket %s: %w; set the runner-host input (e.g. ${{ steps.host.outputs.name }} from `hostname`)", socket, err)
		}
		return h, SourceDocker, nil
	}
	hostname := f.Hostname
	if hostname == nil {
		hostname = os.Hostname
	}
	h, err := hostname()
	if err != nil || strings.TrimSpace(h) == "" {
		return "", SourceNone, fmt.Errorf("read this machine's hostname: %v; set the runner-host input", err)
	}
	return strings.TrimSpace(h), SourceHostname, nil
}

// maxInfoBytes bounds the /info answer read (it is a few KiB).
const maxInfoBytes = 1 << 20

// DockerHostname asks the Docker Engine API on socket for the daemon host's
// name (the "Name" of GET /info).
func DockerHostname(ctx context.Context, socket string, timeout time.Duration) (string, error) {
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	if _, err := os.Stat(socket); err != nil {
		return "", errors.New("the socket is not mounted")
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker/info", nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("GET /info: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxInfoBytes))
	if err != nil {
		return "", fmt.Errorf("GET /info: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET /info: %s", resp.Status)
	}
	var info struct {
		Name string `json:"Name"`
	}
	if err := json.Unmarshal(body, &info); err != nil {
		return "", fmt.Errorf("GET /info: answer is not Docker's JSON: %w", err)
	}
	name := strings.TrimSpace(info.Name)
	if name == "" || strings.ContainsAny(name, " \t\r\n@") {
		return "", fmt.Errorf("GET /info: %q is not a host name", name)
	}
	return name, nil
}
