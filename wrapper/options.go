package wrapper

import (
	"io"
	"time"
)

// Defaults of the lease.
const (
	DefaultLeaseInterval = 15 * time.Second
	DefaultLeaseTerm     = 60 * time.Second
)

// Identity names the holder in the lease: the host and process, and in
// GitHub Actions the job.
type Identity struct {
	Host       string
	PID        int
	Repository string
	RunID      int64
	RunAttempt int
	Job        string
	RunnerName string
}

// Options is one wrapped Terraform command.
type Options struct {
	Command       Command
	Backend       Backend
	DDB           DynamoDBAPI
	S3            S3API
	AWSClock      *AWSClock
	Clock         Clock // fences by this; RealClock when nil
	LeaseInterval time.Duration
	LeaseTerm     time.Duration
	Identity      Identity
	// Interactive: stdin is a terminal (Terraform shares the wrapper's
	// process group, see prepare).
	Interactive    bool
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Env            []string
	Log            func(format string, args ...any)
	// OwnsChildren: every child of this process is Terraform's (the CLI),
	// so descendants adopted by the subreaper are killed with Terraform.
	// False when the wrapper runs inside another program (tests).
	OwnsChildren           bool
	TerraformVersionInLock string
}
