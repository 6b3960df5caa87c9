// Package motoserver starts a real S3 + DynamoDB protocol server (moto) for
// integration tests: one process per test binary, on 127.0.0.1 at a port
// chosen at run time, stopped by its process ID when the tests end.
package motoserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// EnvURL, when set, names an already running server to use instead of
// starting one (for example one that .ci/run started).
const EnvURL = "TFSTATE_GUARD_MOTO_URL"

// Server is a running moto server.
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
// fails the test (never skips it) when moto_server cannot be started.
// Call Stop from TestMain after m.Run to end the process.
func Shared(t testing.TB) *Server {
	t.Helper()
	once.Do(func() {
		if url := os.Getenv(EnvURL); url != "" {
			shared, initErr = &Server{URL: url}, waitReady(url, 10*time.Second)
			return
		}
		shared, initErr = Start()
	})
	if initErr != nil {
		t.Fatalf("moto_server is required for this test: %v", initErr)
	}
	return shared
}

// StopShared ends the shared server if this process started it.
func StopShared() {
	if shared != nil {
		shared.Stop()
	}
}

// Start launches moto_server on a free loopback port and waits until it answers.
func Start() (*Server, error) {
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		return nil, fmt.Errorf("moto_server not found on PATH (install moto[server] 5.x): %w", err)
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if os.Getenv("MOTO_VERBOSE") == "" {
			cmd.Stdout, cmd.Stderr = nil, nil
		} else {
			cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		}
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("start moto_server: %w", err)
		}
		s := &Server{URL: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd}
		if lastErr = waitReady(s.URL, 30*time.Second); lastErr == nil {
			return s, nil
		}
		s.Stop()
	}
	return nil, fmt.Errorf("moto_server did not become ready: %w", lastErr)
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

// AWSConfig returns an SDK config with static test credentials and region.
func (s *Server) AWSConfig(region string) aws.Config {
	return aws.Config{
		Region:       region,
		Credentials:  credentials.NewStaticCredentialsProvider("testing", "testing", ""),
		BaseEndpoint: aws.String(s.URL),
	}
}

// DynamoDB returns a client for the server.
func (s *Server) DynamoDB(region string) *dynamodb.Client {
	return dynamodb.NewFromConfig(s.AWSConfig(region))
}

// S3 returns a path-style client for the server.
func (s *Server) S3(region string) *s3.Client {
	return s3.NewFromConfig(s.AWSConfig(region), func(o *s3.Options) { o.UsePathStyle = true })
}

// Env returns the environment variables that point the AWS SDK (and
// Terraform's S3 backend) at this server.
func (s *Server) Env() []string {
	return []string{
		"AWS_ENDPOINT_URL=" + s.URL,
		"AWS_ACCESS_KEY_ID=testing",
		"AWS_SECRET_ACCESS_KEY=testing",
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func waitReady(url string, within time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	var lastErr error = errors.New("no answer")
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/moto-api/", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			lastErr = fmt.Errorf("GET %s/moto-api/: %s", url, resp.Status)
		} else {
			lastErr = err
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after %s: %w", url, within, lastErr)
}
