package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Inside the action's container the runner's temp directory is mounted at
// /github/runner_temp and every variable naming it is translated; the
// folder added to GITHUB_PATH must be the host's, <work>/_temp/...
func TestInstallNamesTheHostFolderForLaterSteps(t *testing.T) {
	t.Parallel()
	env := map[string]string{"GITHUB_ACTIONS": "true", "INPUT_MODE": "install",
		"RUNNER_TEMP": "/github/runner_temp", "RUNNER_WORKSPACE": "/home/runner/work/infra"}
	cfg, err := loadConfig(nil, func(k string) string { return env[k] }, &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, InstallTarget{Dir: "/github/runner_temp/tfstate-guard/bin", PathEntry: "/home/runner/work/_temp/tfstate-guard/bin"}, cfg.Install)

	env["INPUT_INSTALL-DIR"] = "bin"
	_, err = loadConfig(nil, func(k string) string { return env[k] }, &bytes.Buffer{})
	assert.ErrorContains(t, err, `install-dir: "bin" is not an absolute path`)
}

func TestInstallCopiesThisBinaryOntoPATH(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pathFile, outFile := filepath.Join(dir, "path"), filepath.Join(dir, "output")
	env := map[string]string{"GITHUB_ACTIONS": "true", "INPUT_MODE": "install", "INPUT_INSTALL-DIR": filepath.Join(dir, "bin"),
		"GITHUB_PATH": pathFile, "GITHUB_OUTPUT": outFile}
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), nil, func(k string) string { return env[k] }, &stdout, &stderr)
	require.Equal(t, exitOK, code, stdout.String()+stderr.String())
	self, err := os.Executable()
	require.NoError(t, err)
	want, err := os.ReadFile(self)
	require.NoError(t, err)
	got, err := os.ReadFile(filepath.Join(dir, "bin", "tfstate-guard"))
	require.NoError(t, err)
	assert.Equal(t, want, got, "the very binary that ran")
	st, err := os.Stat(filepath.Join(dir, "bin", "tfstate-guard"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o755), st.Mode().Perm())
	path, err := os.ReadFile(pathFile)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, "bin")+"\n", string(path))
	out, err := os.ReadFile(outFile)
	require.NoError(t, err)
	assert.Contains(t, string(out), "TFSTATE_GUARD_PATH")
}
