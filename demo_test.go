package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The demo checks for every tool it needs before doing anything and says
// how to install each missing one, instead of failing at its last step.
func TestDemoNamesEveryMissingToolFirst(t *testing.T) {
	t.Parallel()
	bin := t.TempDir()
	// Only what the script needs to reach its check: bash and dirname.
	for _, tool := range []string{"bash", "dirname"} {
		p, err := exec.LookPath(tool)
		require.NoError(t, err)
		require.NoError(t, os.Symlink(p, filepath.Join(bin, tool)))
	}
	cmd := exec.Command(filepath.Join(bin, "bash"), "scripts/demo.sh")
	cmd.Env = []string{"PATH=" + bin, "HOME=" + t.TempDir()}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "%s", out)
	assert.Equal(t, 1, ee.ExitCode())
	want := "demo: missing tools; install them and run again:\n" +
		"  go: install Go 1.26 or newer (https://go.dev/doc/install)\n" +
		"  moto_server: pip install 'moto[server]==5.2.1' (a local S3 + DynamoDB server)\n" +
		"  aws: apt-get install awscli, or pip install awscli (the AWS CLI reads the lock table at the end)\n" +
		"  python3: apt-get install python3\n" +
		"  curl: apt-get install curl\n" +
		"  setsid: apt-get install util-linux (it runs Terraform in its own process group to kill it)\n"
	assert.Equal(t, want, string(out), "every missing tool, with its fix, and nothing started")
}
