package reliability

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/text2agent/tfstate-guard/report"
)

// Entry is the product's entry point: main's run function (in-process), or
// a wrapper that execs the built binary with the same arguments and
// environment. It returns the exit code.
type Entry func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int

// Result is one invocation of the product as a GitHub Actions step.
type Result struct {
	Mode    string
	Code    int
	Stdout  string
	Stderr  string
	Outputs map[string]string
	// OutputsErr is set when the step's output file could not be parsed
	// (which is itself a failure: a value broke out of its entry).
	OutputsErr error
}

var stepSeq atomic.Int64

// Invoker runs steps of one job environment.
type Invoker struct {
	Entry Entry
	Dir   string // scratch directory for file commands
	// Env is the job's base environment (GITHUB_*, RUNNER_*, AWS_*).
	Env map[string]string
}

// Step runs one Actions step with inputs (INPUT_<NAME>) plus extra env
// (later wins) and reads its outputs back with the runner's parser.
func (iv *Invoker) Step(ctx context.Context, mode string, inputs, extra map[string]string) Result {
	n := stepSeq.Add(1)
	dir := filepath.Join(iv.Dir, fmt.Sprintf("step-%d", n))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Result{Mode: mode, Code: -1, Stderr: err.Error()}
	}
	defer os.RemoveAll(dir)
	env := map[string]string{
		"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": filepath.Join(dir, "output"),
		"GITHUB_ENV": filepath.Join(dir, "env"), "GITHUB_STEP_SUMMARY": filepath.Join(dir, "summary"),
		"INPUT_MODE": mode,
	}
	for k, v := range iv.Env {
		env[k] = v
	}
	for k, v := range inputs {
		env["INPUT_"+strings.ToUpper(k)] = v
	}
	for k, v := range extra {
		env[k] = v
	}
	for _, f := range []string{"output", "env", "summary"} {
		_ = os.WriteFile(filepath.Join(dir, f), nil, 0o644)
	}
	var stdout, stderr bytes.Buffer
	code := iv.Entry(ctx, nil, func(k string) string { return env[k] }, &stdout, &stderr)
	res := Result{Mode: mode, Code: code, Stdout: stdout.String(), Stderr: stderr.String()}
	data, err := os.ReadFile(filepath.Join(dir, "output"))
	if err == nil {
		res.Outputs, res.OutputsErr = report.ParseFileCommand(data)
	} else {
		res.OutputsErr = err
	}
	return res
}

// Log is the step's whole log, for failure messages.
func (r Result) Log() string {
	return fmt.Sprintf("%s exit %d\nstdout:\n%s\nstderr:\n%s", r.Mode, r.Code, indent(r.Stdout), indent(r.Stderr))
}

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return "  (empty)"
	}
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}
