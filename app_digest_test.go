package main

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/text2agent/tfstate-guard/internal/locktest"
	"github.com/text2agent/tfstate-guard/internal/motoserver"
	"github.com/text2agent/tfstate-guard/report"
)

// The command line finds a digest mismatch with --check-digests, prints it
// as JSON with --json, and repairs it with --repair-digests alone.
func TestCLIChecksAndRepairsDigests(t *testing.T) {
	t.Parallel()
	srv := motoserver.Shared(t)
	ctx := context.Background()
	c, ddb := srv.S3("eu-west-2"), srv.DynamoDB("eu-west-2")
	bucket, table := locktest.UniqueName("cli-state"), locktest.UniqueName("cli-locks")
	_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket),
		CreateBucketConfiguration: &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraintEuWest2}})
	require.NoError(t, err)
	_, err = c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(bucket),
		VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled}})
	require.NoError(t, err)
	locktest.CreateTable(t, ddb, table)
	key := "cli/terraform.tfstate"
	body := `{"version":4,"serial":3,"lineage":"lin","resources":[]}`
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)})
	require.NoError(t, err)
	sum := md5.Sum([]byte("what Terraform wrote before"))
	locktest.PutItem(t, ddb, table, map[string]string{"LockID": bucket + "/" + key + "-md5", "Digest": hex.EncodeToString(sum[:])})

	env := srv.Env()
	out, errOut, code := cli(t, env, "detect", "--lock-table", table, "--state-bucket", bucket, "--check-digests", "true", "--fail-on-digest-mismatch", "true", "--json")
	assert.Equal(t, exitBlocked, code, errOut)
	assert.Contains(t, errOut, "1 state digest(s) do not match their state")
	dec := json.NewDecoder(strings.NewReader(out))
	var locks []report.LockDetail
	require.NoError(t, dec.Decode(&locks), out)
	assert.Empty(t, locks)
	var mismatches []report.DigestEntry
	require.NoError(t, dec.Decode(&mismatches), out)
	require.Len(t, mismatches, 1)
	assert.Equal(t, bucket+"/"+key, mismatches[0].Path)
	raw, err := json.Marshal(mismatches)
	require.NoError(t, err)

	out, errOut, code = cli(t, env, "unlock", "--lock-table", table, "--repair-digests", string(raw), "--json")
	require.Equal(t, exitOK, code, errOut)
	var repairs []report.RepairEntry
	require.NoError(t, json.Unmarshal([]byte(out), &repairs), out)
	require.Len(t, repairs, 1)
	good := md5.Sum([]byte(body))
	assert.Equal(t, "repaired", repairs[0].Outcome)
	assert.Equal(t, hex.EncodeToString(good[:]), repairs[0].NewDigest)

	_, errOut, code = cli(t, env, "detect", "--lock-table", table, "--state-bucket", bucket, "--check-digests", "true", "--fail-on-digest-mismatch", "true")
	assert.Equal(t, exitOK, code, errOut)
}
