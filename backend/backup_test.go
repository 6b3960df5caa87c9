package backend

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/text2agent/tfstate-guard/lockcheck"
)

func TestBackup(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 10, 3, 14, 47, 6, 994532000, time.FixedZone("CEST", 2*3600))
	const kmsKey = "arn:aws:kms:eu-west-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	cases := []struct {
		name      string
		workspace string
		put       *s3.PutObjectInput // nil: no state
		wantKey   string
		wantSSE   types.ServerSideEncryption
		wantKMS   string
	}{
		{name: "no state yet", wantKey: ""},
		{name: "SSE-S3 state", put: &s3.PutObjectInput{ServerSideEncryption: types.ServerSideEncryptionAes256},
			wantKey: "backups/app/production/terraform.tfstate.20251003T124706Z", wantSSE: types.ServerSideEncryptionAes256},
		{name: "SSE-KMS state keeps its key", put: &s3.PutObjectInput{ServerSideEncryption: types.ServerSideEncryptionAwsKms, SSEKMSKeyId: aws.String(kmsKey)},
			wantKey: "backups/app/production/terraform.tfstate.20251003T124706Z", wantSSE: types.ServerSideEncryptionAwsKms, wantKMS: kmsKey},
		{name: "workspace state", workspace: "dev", put: &s3.PutObjectInput{},
			wantKey: "backups/env:/dev/app/production/terraform.tfstate.20251003T124706Z"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := ctxT(t)
			s3c, _, _ := clients(t, "eu-west-2")
			bucket := uniqueName("backup")
			_, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket, CreateBucketConfiguration: &types.CreateBucketConfiguration{LocationConstraint: "eu-west-2"}})
			require.NoError(t, err)
			_, err = s3c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: &bucket, VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}})
			require.NoError(t, err)
			o := BackupOptions{Bucket: bucket, Key: "app/production/terraform.tfstate", Workspace: tc.workspace, Now: func() time.Time { return now }}
			src := statePath(bucket, o.Key, "", tc.workspace)
			body := `{"version":4,"serial":7}`
			if tc.put != nil {
				in := *tc.put
				in.Bucket, in.Key, in.Body = &bucket, &src, strings.NewReader(body)
				_, err := s3c.PutObject(ctx, &in)
				require.NoError(t, err)
			}

			res, err := Backup(ctx, s3c, o)
			require.NoError(t, err)
			assert.Equal(t, src, res.SourceKey)
			assert.Equal(t, tc.wantKey, res.Key)
			assert.Equal(t, tc.put == nil, res.NoState)
			if tc.put == nil {
				return
			}
			assert.NotEmpty(t, res.SourceVersionID)
			assert.Equal(t, body, string(readObject(t, s3c, bucket, res.Key)))
			head, err := s3c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &res.Key})
			require.NoError(t, err)
			assert.Equal(t, tc.wantSSE, head.ServerSideEncryption)
			assert.Equal(t, tc.wantKMS, aws.ToString(head.SSEKMSKeyId))
			assert.Equal(t, tc.wantKMS, res.KMSKeyID)
		})
	}
}

func TestBackupMissingBucketIsSaidAsEveryModeSaysIt(t *testing.T) {
	t.Parallel()
	s3c, _, _ := clients(t, "eu-west-2")
	bucket := uniqueName("missing")
	_, err := Backup(ctxT(t), s3c, BackupOptions{Bucket: bucket, Key: "k.tfstate"})
	var me *lockcheck.MissingError
	require.ErrorAs(t, err, &me)
	assert.Equal(t, []string{"state-bucket", "aws-region"}, me.Inputs)
	assert.Equal(t, `state bucket "`+bucket+`" does not exist in this account and region: check state-bucket and aws-region, or run mode setup first, which creates it`, err.Error())
}

func TestBackupNamesTheMissingPermission(t *testing.T) {
	t.Parallel()
	s3c, _ := denyingClients(t, "eu-west-2", "S3.HeadObject")
	_, err := Backup(ctxT(t), s3c, BackupOptions{Bucket: uniqueName("denied"), Key: "k.tfstate"})
	var pe *PermissionError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "s3:GetObject", pe.Action)
}

func TestCopySource(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "b/env:/dev/a%20b/terraform.tfstate", copySource("b", "env:/dev/a b/terraform.tfstate", ""))
	assert.Equal(t, "b/k%3Fx?versionId=v%2B1", copySource("b", "k?x", "v+1"))
}
