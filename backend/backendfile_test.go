package backend

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./backend -update to create %s", path)
	assert.Equal(t, string(want), string(got))
}

func TestRenderBackendFile(t *testing.T) {
	t.Parallel()
	base := SetupOptions{Region: "eu-west-2", Bucket: "text2agent-terraform-state-eu-west-2", Key: "text2agent/production/terraform.tfstate", Table: "text2agent-terraform-state-lock"}
	cases := []struct {
		golden string
		modify func(o *SetupOptions)
		attrs  []string // attribute names expected in the backend block
	}{
		{"backend-dynamodb.tf", func(o *SetupOptions) { o.LockMethod = LockDynamoDB }, []string{"bucket", "key", "region", "encrypt", "dynamodb_table"}},
		{"backend-s3.tf", func(o *SetupOptions) { o.LockMethod = LockS3 }, []string{"bucket", "key", "region", "encrypt", "use_lockfile"}},
		{"backend-both-kms-prefix.tf", func(o *SetupOptions) {
			o.LockMethod, o.KMSKeyID, o.WorkspaceKeyPrefix = LockBoth, "alias/terraform-state", "workspaces"
		}, []string{"bucket", "key", "region", "encrypt", "kms_key_id", "workspace_key_prefix", "dynamodb_table", "use_lockfile"}},
		{"backend-hostile-values.tf", func(o *SetupOptions) { o.LockMethod, o.Key = LockDynamoDB, "a/${path.module}\"\n/%{x}.tfstate" }, []string{"bucket", "key", "region", "encrypt", "dynamodb_table"}},
	}
	for _, tc := range cases {
		t.Run(tc.golden, func(t *testing.T) {
			t.Parallel()
			o := base
			tc.modify(&o)
			got := RenderBackendFile(o)
			golden(t, tc.golden, got)
			assert.True(t, IsOwnBackendFile(got))

			// It parses, and the values read back are the inputs, verbatim.
			f, diags := hclparse.NewParser().ParseHCL(got, tc.golden)
			require.False(t, diags.HasErrors(), diags.Error())
			content, diags := f.Body.Content(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "terraform"}}})
			require.False(t, diags.HasErrors(), diags.Error())
			tf, diags := content.Blocks[0].Body.Content(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "backend", LabelNames: []string{"type"}}}})
			require.False(t, diags.HasErrors(), diags.Error())
			require.Equal(t, []string{"s3"}, tf.Blocks[0].Labels)
			attrs, diags := tf.Blocks[0].Body.JustAttributes()
			require.False(t, diags.HasErrors(), diags.Error())
			assert.Len(t, attrs, len(tc.attrs))
			for _, name := range tc.attrs {
				require.Contains(t, attrs, name)
			}
			key, diags := attrs["key"].Expr.Value(nil)
			require.False(t, diags.HasErrors(), diags.Error())
			assert.Equal(t, o.Key, key.AsString())
		})
	}
}

func TestWriteBackendFile(t *testing.T) {
	t.Parallel()
	content := RenderBackendFile(SetupOptions{Region: "eu-west-2", Bucket: "b-b-b", Key: "k", Table: "t", LockMethod: LockDynamoDB})
	older := RenderBackendFile(SetupOptions{Region: "eu-west-1", Bucket: "b-b-b", Key: "k", Table: "t", LockMethod: LockDynamoDB})
	cases := []struct {
		name      string
		existing  []byte // nil: no file
		wantState CheckState
		wantErr   string
	}{
		{name: "no file", wantState: StateChanged},
		{name: "own file, same content", existing: content, wantState: StateAlreadyRight},
		{name: "own file, other settings", existing: older, wantState: StateChanged},
		{name: "own file edited by hand", existing: append(append([]byte{}, content...), "# note\n"...), wantState: StateChanged},
		{name: "foreign file", existing: []byte("terraform {\n  backend \"s3\" {}\n}\n"), wantErr: "was not written by tfstate-guard"},
		{name: "foreign file mentioning us later", existing: []byte("# hand-made\n" + BackendFileHeader + "\n"), wantErr: "was not written by tfstate-guard"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "backend_override.tf")
			var mtime time.Time
			if tc.existing != nil {
				require.NoError(t, os.WriteFile(path, tc.existing, 0o600))
				old := time.Now().Add(-time.Hour)
				require.NoError(t, os.Chtimes(path, old, old))
				info, err := os.Stat(path)
				require.NoError(t, err)
				mtime = info.ModTime()
			}
			c, err := writeBackendFile(path, content)
			got, _ := os.ReadFile(path)
			if tc.wantErr != "" {
				var ce *ConfigError
				require.ErrorAs(t, err, &ce)
				assert.Equal(t, "backend-file", ce.Input)
				assert.Contains(t, err.Error(), tc.wantErr)
				assert.Equal(t, tc.existing, got, "a foreign file is left alone")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.wantState, c.State)
			assert.Equal(t, content, got)
			info, err := os.Stat(path)
			require.NoError(t, err)
			if tc.wantState == StateAlreadyRight {
				assert.Equal(t, mtime, info.ModTime(), "not rewritten")
			} else {
				assert.Equal(t, os.FileMode(0o644), info.Mode().Perm())
			}
			leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".tfstate-guard-*"))
			assert.Empty(t, leftovers, "no temporary files left")
		})
	}
}

func TestWriteBackendFileMissingDirectory(t *testing.T) {
	t.Parallel()
	_, err := writeBackendFile(filepath.Join(t.TempDir(), "nope", "backend_override.tf"), []byte(BackendFileHeader+"\n"))
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "working-directory", ce.Input)
}
