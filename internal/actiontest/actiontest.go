// Package actiontest runs the tfstate-guard binary the way the GitHub
// Actions runner runs a Docker action's entrypoint: inputs as INPUT_<NAME>
// variables (hyphens kept), file commands in files it then parses with the
// runner's rules. Tests in several packages share it.
package actiontest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/text2agent/tfstate-guard/report"
)

// Build compiles the binary from the module root into dir and returns its path.
func Build(moduleRoot, dir string) (string, error) {
	bin := filepath.Join(dir, "tfstate-guard")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = moduleRoot
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out.String())
	}
	return bin, nil
}

// Runner holds one job's environment and file-command files.
type Runner struct {
	t      testing.TB
	Binary string
	Dir    string
	Env    []string
	// Stdout is the combined output of the last run (the step's log).
	Stdout string
}

// RunnerName is the RUNNER_NAME every step of a Runner runs with, as a
// GitHub-hosted runner names itself.
const RunnerName = "GitHub Actions 1000009740"

// New prepares a runner environment for a job of run 900 of octo/infra.
// extra adds or overrides variables (later entries win).
func New(t testing.TB, binary string, extra ...string) *Runner {
	dir := t.TempDir()
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + dir,
		"GITHUB_ACTIONS=true", "GITHUB_REPOSITORY=octo/infra", "GITHUB_RUN_ID=900", "GITHUB_RUN_ATTEMPT=1",
		"GITHUB_JOB=stale-lock-check", "GITHUB_WORKFLOW=terraform", "RUNNER_NAME=" + RunnerName,
		"GITHUB_OUTPUT=" + filepath.Join(dir, "output"), "GITHUB_ENV=" + filepath.Join(dir, "env"),
		"GITHUB_STEP_SUMMARY=" + filepath.Join(dir, "summary"),
	}
	return &Runner{t: t, Binary: binary, Dir: dir, Env: append(env, extra...)}
}

// InputEnvName is the variable the runner sets for an input.
func InputEnvName(name string) string {
	return "INPUT_" + strings.ToUpper(strings.ReplaceAll(name, " ", "_"))
}

// Run runs one step with inputs and returns its exit code. The file
// commands start empty for each step, as the runner gives each step its own.
func (r *Runner) Run(inputs map[string]string, extraEnv ...string) int {
	r.t.Helper()
	cmd, out := r.Command(inputs, extraEnv...)
	err := cmd.Run()
	return r.Finish(err, out)
}

// Command prepares one step without running it (to start it and signal it
// as the runner does when a job is cancelled); Finish reads its result.
func (r *Runner) Command(inputs map[string]string, extraEnv ...string) (*exec.Cmd, *Log) {
	r.t.Helper()
	for _, f := range []string{"output", "env", "summary"} {
		require.NoError(r.t, os.WriteFile(filepath.Join(r.Dir, f), nil, 0o644))
	}
	cmd := exec.Command(r.Binary)
	cmd.Env = append(append([]string(nil), r.Env...), extraEnv...)
	for k, v := range inputs {
		cmd.Env = append(cmd.Env, InputEnvName(k)+"="+v)
	}
	out := &Log{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Dir = r.Dir
	return cmd, out
}

// Log is a step's combined output, safe to read while the step runs.
type Log struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *Log) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Finish records the log of a step started with Command and returns its
// exit code, given what Run or Wait returned.
func (r *Runner) Finish(err error, out *Log) int {
	r.t.Helper()
	r.Stdout = out.String()
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	require.True(r.t, errors.As(err, &ee), "run %s: %v\n%s", r.Binary, err, r.Stdout)
	return ee.ExitCode()
}

// File parses a file command file ("output" or "env") of the last step.
func (r *Runner) File(name string) map[string]string {
	r.t.Helper()
	data, err := os.ReadFile(filepath.Join(r.Dir, name))
	require.NoError(r.t, err)
	m, err := report.ParseFileCommand(data)
	require.NoError(r.t, err)
	return m
}

// Outputs is File("output").
func (r *Runner) Outputs() map[string]string { return r.File("output") }

// Summary is the step summary of the last step.
func (r *Runner) Summary() string {
	r.t.Helper()
	data, err := os.ReadFile(filepath.Join(r.Dir, "summary"))
	require.NoError(r.t, err)
	return string(data)
}
