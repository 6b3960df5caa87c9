package backend

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/text2agent/tfstate-guard/internal/motoserver"
)

// envTerraform names the terraform binary the end-to-end tests use.
const envTerraform = "TFSTATE_GUARD_TERRAFORM"

// terraformBinary finds terraform: $TFSTATE_GUARD_TERRAFORM, then PATH. It
// fails the test (never skips it) when there is none.
func terraformBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv(envTerraform); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s=%q: %v", envTerraform, p, err)
		}
		return p
	}
	p, err := exec.LookPath("terraform")
	if err != nil {
		t.Fatalf("terraform is required: set %s or put terraform on PATH: %v", envTerraform, err)
	}
	return p
}

// TestBackendFileWorksWithTerraform runs the real terraform init and apply
// with the generated file against the local server, in the default and a
// named workspace, then backs up the state the apply wrote.
func TestBackendFileWorksWithTerraform(t *testing.T) {
	t.Parallel()
	tf := terraformBinary(t)
	srv := motoserver.Shared(t)
	ctx := ctxT(t)
	s3c, ddb, _ := clients(t, "eu-west-2")

	dir := t.TempDir()
	// The configuration declares an empty backend "s3" block, as most do;
	// backend_override.tf is a Terraform override file (its name ends in
	// _override.tf), so its settings are merged over that block.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.tf"), []byte("terraform {\n  backend \"s3\" {}\n}\n\noutput \"answer\" {\n  value = 42\n}\n"), 0o644))
	o := probeNoPolicy(options(t, "eu-west-2")) // moto refuses object writes under the TLS policy
	o.LockMethod = LockBoth
	o.BackendFile = filepath.Join(dir, "backend_override.tf")
	res, err := Setup(ctx, s3c, ddb, o)
	require.NoError(t, err)

	env := append(os.Environ(), srv.Env()...)
	env = append(env,
		"AWS_ENDPOINT_URL_S3="+srv.URL, "AWS_ENDPOINT_URL_DYNAMODB="+srv.URL, "AWS_ENDPOINT_URL_STS="+srv.URL,
		"TF_IN_AUTOMATION=1", "TF_DATA_DIR="+filepath.Join(dir, ".terraform"), "CHECKPOINT_DISABLE=1")
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, tf, args...)
		cmd.Dir, cmd.Env = dir, env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		require.NoError(t, cmd.Run(), "terraform %v:\n%s", args, out.String())
		return out.String()
	}
	// Settings only a local server needs; the file itself stays the one
	// a real account gets.
	run("init", "-input=false", "-no-color",
		"-backend-config=use_path_style=true",
		"-backend-config=skip_credentials_validation=true",
		"-backend-config=skip_requesting_account_id=true",
		"-backend-config=skip_metadata_api_check=true",
		"-backend-config=skip_region_validation=true")
	run("apply", "-input=false", "-no-color", "-auto-approve")
	run("workspace", "new", "-no-color", "dev")
	run("apply", "-input=false", "-no-color", "-auto-approve")

	for _, workspace := range []string{"default", "dev"} {
		wo := o
		wo.Workspace = workspace
		_, err := s3c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &o.Bucket, Key: aws.String(wo.StatePath())})
		require.NoError(t, err, "terraform stored the %s state at %q", workspace, wo.StatePath())
		// The digest item proves Terraform used the lock table with the
		// same LockID setup and detect compute.
		item, err := ddb.GetItem(ctx, &dynamodb.GetItemInput{TableName: &o.Table, Key: map[string]dtypes.AttributeValue{
			"LockID": &dtypes.AttributeValueMemberS{Value: wo.LockPath() + "-md5"}}})
		require.NoError(t, err)
		assert.NotEmpty(t, item.Item, "digest item for %s", wo.LockPath())
		_, err = s3c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &o.Bucket, Key: aws.String(wo.StatePath() + ".tflock")})
		assert.Error(t, err, "the lock file is released")
	}
	assert.Equal(t, o.Bucket+"/app/production/terraform.tfstate", res.LockPath)

	// Back up the dev workspace's state and compare the bytes.
	b, err := Backup(ctx, s3c, BackupOptions{Bucket: o.Bucket, Key: o.Key, Workspace: "dev"})
	require.NoError(t, err)
	require.False(t, b.NoState)
	assert.Equal(t, "env:/dev/app/production/terraform.tfstate", b.SourceKey)
	assert.Equal(t, BackupKey(b.SourceKey, b.Time), b.Key)
	assert.Equal(t, readObject(t, s3c, o.Bucket, b.SourceKey), readObject(t, s3c, o.Bucket, b.Key))
}

func readObject(t *testing.T, s3c *s3.Client, bucket, key string) []byte {
	t.Helper()
	out, err := s3c.GetObject(ctxT(t), &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	require.NoError(t, err, "get %s", key)
	defer out.Body.Close()
	data, err := io.ReadAll(out.Body)
	require.NoError(t, err)
	return data
}
