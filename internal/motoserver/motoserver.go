// Package motoserver starts a real S3 + DynamoDB protocol server (moto) for
// integration tests: one process per test binary, on 127.0.0.1 at a port
// chosen at run time, stopped by its process ID when the tests end.
package motoserver

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/text2agent/tfstate-guard/internal/serverproc"
)

// EnvURL, when set, names an already running server to use instead of
// starting one (for example one that .ci/run started).
const EnvURL = "TFSTATE_GUARD_MOTO_URL"

// Server is a running moto server.
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
// fails the test (never skips it) when moto_server cannot be started.
// Call Stop from TestMain after m.Run to end the process.
func Shared(t testing.TB) *Server {
	t.Helper()
	once.Do(func() {
		if url := os.Getenv(EnvURL); url != "" {
			shared, initErr = &Server{URL: url}, serverproc.WaitReady(url, motoReady, 10*time.Second)
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
	p, err := serverproc.Start("moto_server", func(port int) *exec.Cmd {
		cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
		if os.Getenv("MOTO_VERBOSE") != "" {
			cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		}
		return cmd
	}, motoReady)
	if err != nil {
		return nil, err
	}
	return &Server{URL: p.URL, proc: p}, nil
}

// motoReady: moto answers its own API with 200 once it serves.
var motoReady = serverproc.Ready{Path: "/moto-api/"}

// Stop kills the server's process group by its process ID (nothing for a
// server this process did not start).
func (s *Server) Stop() { s.proc.Stop() }

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
