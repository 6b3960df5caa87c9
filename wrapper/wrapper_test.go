package wrapper

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/text2agent/tfstate-guard/internal/locktest"
	"github.com/text2agent/tfstate-guard/internal/motoserver"
	"github.com/text2agent/tfstate-guard/lockcheck"
)

func TestMain(m *testing.M) {
	code := m.Run()
	motoserver.StopShared()
	os.Exit(code)
}

func TestParseCommand(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args     []string
		locks    bool
		sub, op  string
		timeout  time.Duration
		unlocked []string
	}{
		{[]string{"terraform", "plan"}, true, "plan", "OperationTypePlan", 0, []string{"terraform", "plan", "-lock=false"}},
		{[]string{"terraform", "-chdir=infra", "apply", "-lock-timeout=5m", "plan.out"}, true, "apply", "OperationTypeApply", 5 * time.Minute,
			[]string{"terraform", "-chdir=infra", "apply", "-lock=false", "-lock-timeout=5m", "plan.out"}},
		{[]string{"tofu", "state", "mv", "a.b", "a.c"}, true, "state mv", "state mv", 0, []string{"tofu", "state", "mv", "-lock=false", "a.b", "a.c"}},
		{[]string{"terraform", "plan", "-lock=false"}, false, "plan", "OperationTypePlan", 0, []string{"terraform", "plan", "-lock=false"}},
		{[]string{"terraform", "state", "list"}, false, "state list", "", 0, []string{"terraform", "state", "list"}},
		{[]string{"terraform", "init"}, false, "init", "", 0, []string{"terraform", "init"}},
		{[]string{"terraform", "version"}, false, "version", "", 0, []string{"terraform", "version"}},
		{[]string{"terraform", "destroy", "-auto-approve"}, true, "destroy", "OperationTypeApply", 0, []string{"terraform", "destroy", "-lock=false", "-auto-approve"}},
		{[]string{"terraform", "import", "-state=local.tfstate", "a.b", "id"}, false, "import", "import", 0, []string{"terraform", "import", "-state=local.tfstate", "a.b", "id"}},
	} {
		c, err := ParseCommand(tc.args)
		require.NoError(t, err, tc.args)
		assert.Equal(t, tc.locks, c.Locks, tc.args)
		assert.Equal(t, tc.sub, c.Subcommand, tc.args)
		assert.Equal(t, tc.op, c.Operation, tc.args)
		assert.Equal(t, tc.timeout, c.LockTimeout, tc.args)
		assert.Equal(t, tc.unlocked, c.Unlocked(), tc.args)
	}
	_, err := ParseCommand([]string{"terraform", "plan", "-lock-timeout=soon"})
	assert.ErrorContains(t, err, `-lock-timeout "soon" is not a duration`)
	_, err = ParseCommand(nil)
	assert.ErrorContains(t, err, "no command after --")
}

func TestReadBackend(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, err := ReadBackend(dir, func(string) string { return "" })
	assert.ErrorContains(t, err, "run terraform init first")
	state := `{"version":3,"terraform_version":"1.11.4","backend":{"type":"s3","config":{"bucket":"b","key":"app/terraform.tfstate","region":"eu-west-2",
	  "dynamodb_table":"locks","use_lockfile":true,"workspace_key_prefix":null,"endpoints":{"s3":"http://127.0.0.1:1","dynamodb":"http://127.0.0.1:2"},"use_path_style":true}}}`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "terraform.tfstate"), []byte(state), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "environment"), []byte("staging"), 0o644))
	b, err := ReadBackend(dir, func(string) string { return "" })
	require.NoError(t, err)
	assert.Equal(t, "b/env:/staging/app/terraform.tfstate", b.LockPath())
	assert.Equal(t, "env:/staging/app/terraform.tfstate", b.StatePath())
	assert.Equal(t, "locks", b.Table)
	assert.True(t, b.UseLockfile)
	assert.True(t, b.PathStyle)
	assert.Equal(t, "http://127.0.0.1:1", b.S3Endpoint)
	assert.Equal(t, "1.11.4", b.TerraformVersion)
	b, err = ReadBackend(dir, func(k string) string { return map[string]string{"TF_WORKSPACE": "default"}[k] })
	require.NoError(t, err)
	assert.Equal(t, "b/app/terraform.tfstate", b.LockPath(), "TF_WORKSPACE wins")

	require.NoError(t, os.WriteFile(filepath.Join(dir, "terraform.tfstate"), []byte(`{"backend":{"type":"gcs","config":{}}}`), 0o644))
	_, err = ReadBackend(dir, func(string) string { return "" })
	assert.ErrorContains(t, err, `names backend "gcs": tfstate-guard run handles the s3 backend only`)
}

// newStores is a bucket and a table on the shared moto server.
func newStores(t *testing.T) (Backend, *dynamodb.Client, *s3.Client) {
	srv := motoserver.Shared(t)
	ddb, s3c := srv.DynamoDB("eu-west-2"), srv.S3("eu-west-2")
	b := Backend{Bucket: locktest.UniqueName("wrap-bucket"), Key: "app/terraform.tfstate", Table: locktest.UniqueName("wrap-locks"), UseLockfile: true, Workspace: "default"}
	_, err := s3c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(b.Bucket),
		CreateBucketConfiguration: &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraintEuWest2}})
	require.NoError(t, err)
	locktest.CreateTable(t, ddb, b.Table)
	return b, ddb, s3c
}

// Two lockers on one state: the second is refused, sees the first's lock,
// and cannot release it; the first's release removes exactly its own.
func TestLockerTakesAndReleasesOnlyItsOwnLock(t *testing.T) {
	t.Parallel()
	b, ddb, s3c := newStores(t)
	ctx := context.Background()
	first := &Locker{DDB: ddb, S3: s3c, Backend: b}
	info := NewLockInfo("OperationTypeApply", b.LockPath(), "")
	require.NoError(t, first.Acquire(ctx, info, 0, nil))
	_, raw := first.Held()
	var decoded map[string]any
	require.NoError(t, json.Unmarshal([]byte(raw), &decoded))
	assert.ElementsMatch(t, []string{"ID", "Operation", "Info", "Who", "Version", "Created", "Path"}, keys(decoded), "Terraform's Info keys")
	parsed := lockcheck.ParseLock(b.LockPath(), raw, lockcheck.Location{})
	assert.Empty(t, parsed.ParseProblem)

	second := &Locker{DDB: ddb, S3: s3c, Backend: b}
	waits := 0
	start := time.Now()
	err := second.Acquire(ctx, NewLockInfo("OperationTypePlan", b.LockPath(), ""), 2500*time.Millisecond, func(h *HeldError, d time.Duration) {
		waits++
		assert.Equal(t, info.ID, h.Holder.ID())
	})
	var held *HeldError
	require.ErrorAs(t, err, &held)
	assert.Equal(t, info.ID, held.Holder.ID())
	assert.Equal(t, 2, waits, "Terraform's backoff: 1s, then the 1.5s left of the timeout")
	assert.GreaterOrEqual(t, time.Since(start), 2500*time.Millisecond)
	assert.NoError(t, second.Release(ctx), "the second holds nothing, so it releases nothing")

	require.NoError(t, first.Release(ctx))
	out, err := ddb.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(b.Table), Key: map[string]ddbtypes.AttributeValue{"LockID": &ddbtypes.AttributeValueMemberS{Value: b.LockPath()}}, ConsistentRead: aws.Bool(true)})
	require.NoError(t, err)
	assert.Nil(t, out.Item)
	_, err = s3c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(b.Bucket), Key: aws.String(b.StatePath() + lockcheck.LockFileSuffix)})
	assert.Error(t, err, "the lock file is gone")
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// The lease: the first write replaces a lease of another lock ID only;
// renewals are conditional on the lock ID and counter, so a lease someone
// else rewrote stops the renewals; release removes only our own.
func TestLeaserWritesConditionally(t *testing.T) {
	t.Parallel()
	b, ddb, s3c := newStores(t)
	ctx := context.Background()
	clock := NewAWSClock()
	lease := func(id string) lockcheck.Lease {
		return lockcheck.Lease{LockPath: b.LockPath(), LockID: id, Host: "h", PID: 1, TermSeconds: 60}
	}
	old := NewLeaser(b, ddb, s3c, clock, lease("old-lock"))
	ok, err := old.Start(ctx, func(msg string) { t.Errorf("warning: %s", msg) })
	require.NoError(t, err)
	require.True(t, ok)

	ls := NewLeaser(b, ddb, s3c, clock, lease("new-lock"))
	ok, err = ls.Start(ctx, func(msg string) { t.Errorf("warning: %s", msg) })
	require.NoError(t, err)
	require.True(t, ok, "a lease of another lock is replaced")
	for i := 0; i < 3; i++ {
		require.NoError(t, ls.Renew(ctx))
	}
	snapDDB, err := (&lockcheck.DynamoDBStore{API: ddb, Table: b.Table}).Snapshot(ctx)
	require.NoError(t, err)
	require.Len(t, snapDDB.Leases, 1)
	assert.Equal(t, "new-lock", snapDDB.Leases[0].LockID)
	assert.Equal(t, int64(3), snapDDB.Leases[0].Renewal)
	assert.Empty(t, snapDDB.Locks, "a lease is never a lock")
	assert.WithinDuration(t, time.Now(), snapDDB.Leases[0].ReadAt, 5*time.Second, "read in AWS's clock (moto's Date)")
	snapS3, err := (&lockcheck.S3Store{API: s3c, Bucket: b.Bucket}).Snapshot(ctx)
	require.NoError(t, err)
	require.Len(t, snapS3.Leases, 1)
	assert.Empty(t, snapS3.Locks, "a .tflock.lease object is never a lock")
	assert.Equal(t, int64(3), snapS3.Leases[0].Renewal)

	// The old holder, still running somewhere, cannot renew over it.
	assert.Error(t, old.Renew(ctx))
	// Someone else rewrites the lease: our renewals fail, our release
	// leaves theirs alone.
	other := NewLeaser(b, ddb, s3c, clock, lease("third-lock"))
	_, err = other.Start(ctx, func(string) {})
	require.NoError(t, err)
	assert.Error(t, ls.Renew(ctx))
	assert.Error(t, ls.Release(ctx))
	snapDDB, err = (&lockcheck.DynamoDBStore{API: ddb, Table: b.Table}).Snapshot(ctx)
	require.NoError(t, err)
	require.Len(t, snapDDB.Leases, 1)
	assert.Equal(t, "third-lock", snapDDB.Leases[0].LockID)
	require.NoError(t, other.Release(ctx))
	snapDDB, err = (&lockcheck.DynamoDBStore{API: ddb, Table: b.Table}).Snapshot(ctx)
	require.NoError(t, err)
	assert.Empty(t, snapDDB.Leases)
}
