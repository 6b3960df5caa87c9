package lockcheck

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/text2agent/tfstate-guard/internal/locktest"
	"github.com/text2agent/tfstate-guard/internal/motoserver"
)

func TestMain(m *testing.M) {
	code := m.Run()
	motoserver.StopShared()
	os.Exit(code)
}

func uniqueName(prefix string) string { return locktest.UniqueName(prefix) }

func newTable(t *testing.T) (*dynamodb.Client, string) {
	t.Helper()
	ddb := motoserver.Shared(t).DynamoDB("eu-west-2")
	name := uniqueName("locks")
	locktest.CreateTable(t, ddb, name)
	return ddb, name
}

var (
	putItem  = locktest.PutItem
	infoJSON = locktest.InfoJSON
)

func getInfo(t *testing.T, ddb *dynamodb.Client, table, key string) (string, bool) {
	t.Helper()
	out, err := ddb.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"LockID": &types.AttributeValueMemberS{Value: key}}})
	require.NoError(t, err)
	if out.Item == nil {
		return "", false
	}
	if v, ok := out.Item["Info"].(*types.AttributeValueMemberS); ok {
		return v.Value, true
	}
	return "", true
}

func TestDynamoDBSnapshotPaginatesAndSorts(t *testing.T) {
	t.Parallel()
	ddb, table := newTable(t)
	ctx := context.Background()
	created := time.Now().Add(-time.Hour)
	const states = 150
	for i := 0; i < states; i++ {
		path := fmt.Sprintf("bucket/team-%03d/terraform.tfstate", i)
		putItem(t, ddb, table, map[string]string{"LockID": path, "Info": infoJSON(fmt.Sprintf("id-%03d", i), path, "runner@fv-az1", created)})
		putItem(t, ddb, table, map[string]string{"LockID": path + "-md5", "Digest": "8d9d81f1f4b21555697fa6bcd695d7da"})
	}
	putItem(t, ddb, table, map[string]string{"LockID": "test-lock", "Info": `{"ID":"test123","Who":"manual-test"}`})
	putItem(t, ddb, table, map[string]string{"LockID": "bucket/garbage", "Info": "not json at all"})
	putItem(t, ddb, table, map[string]string{"LockID": "something-else", "Owner": "another tool"})
	require.NoError(t, WriteRunRecord(ctx, ddb, table, RunRecord{LockPath: "bucket/team-000/terraform.tfstate", Repository: "octo/infra", RunID: 5, RunAttempt: 1, Job: "plan", Written: created.Add(-time.Minute)}))
	putItem(t, ddb, table, map[string]string{"LockID": StateRecordPrefix + "bucket/broken", "Runs": "{not json"})
	putItem(t, ddb, table, map[string]string{"LockID": "tfstate-guard#run#bucket/team-001/terraform.tfstate#octo/infra#4#1#plan", "RecordType": "run"})

	st := &DynamoDBStore{API: ddb, Table: table, PageLimit: 40}
	require.NoError(t, st.Check(ctx))
	snap, err := st.Snapshot(ctx)
	require.NoError(t, err)
	assert.Len(t, snap.Locks, states+2, "every lock across %d-item pages, malformed ones included", 40)
	assert.Equal(t, map[string]int{"digest": states, "other": 1, "unreadable run record": 1, "run record of an earlier layout (ignored)": 1}, snap.Skipped)
	require.Len(t, snap.Records, 1)
	assert.Equal(t, int64(5), snap.Records[0].RunID)
	var garbage, manual *Lock
	for i := range snap.Locks {
		switch snap.Locks[i].LockPath {
		case "bucket/garbage":
			garbage = &snap.Locks[i]
		case "test-lock":
			manual = &snap.Locks[i]
		}
	}
	require.NotNil(t, garbage)
	require.NotNil(t, manual)
	assert.Contains(t, garbage.ParseProblem, "not Terraform lock JSON")
	assert.Equal(t, "test123", manual.ID())
	assert.Equal(t, "manual-test", manual.Info.Who)

	det, err := (&Detector{Stores: []Store{st}, LockPathPrefix: "bucket/team-007",
		Classifier: &Classifier{Policy: Policy{ActiveWithin: 10 * time.Minute, StaleAfter: 30 * time.Minute}, Now: time.Now}}).Detect(ctx)
	require.NoError(t, err)
	require.Len(t, det.Verdicts, 1, "lock-id-prefix keeps team-007 only: whole segments, not every key starting team-007")
	assert.Equal(t, "bucket/team-007/terraform.tfstate", det.Verdicts[0].Lock.LockPath)
	assert.Len(t, det.Stale(), 1)
	assert.Equal(t, 1, det.Records)
}

func TestDynamoDBCheckErrors(t *testing.T) {
	t.Parallel()
	ddb := motoserver.Shared(t).DynamoDB("eu-west-2")
	err := (&DynamoDBStore{API: ddb, Table: "does-not-exist"}).Check(context.Background())
	assert.ErrorContains(t, err, `lock table "does-not-exist" does not exist`)

	name := uniqueName("wrongkey")
	_, err = ddb.CreateTable(context.Background(), &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
	})
	require.NoError(t, err)
	err = (&DynamoDBStore{API: ddb, Table: name}).Check(context.Background())
	assert.ErrorContains(t, err, "is not a Terraform lock table")
}

// retaker is fault injection around the real client: just before the
// delete, another Terraform releases the lock and takes it again.
type retaker struct {
	DynamoDBAPI
	put func()
}

func (r *retaker) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	if r.put != nil {
		r.put()
	}
	return r.DynamoDBAPI.DeleteItem(ctx, in, opts...)
}

func staleClassifier() *Classifier {
	return &Classifier{Policy: Policy{ActiveWithin: 10 * time.Minute, StaleAfter: 30 * time.Minute}, Now: time.Now}
}

func TestUnlockDynamoDB(t *testing.T) {
	t.Parallel()
	ddb, table := newTable(t)
	ctx := context.Background()
	old := time.Now().Add(-2 * time.Hour)
	stalePath := "bucket/app/terraform.tfstate"
	staleID := "dfde8160-cb3f-45f0-59a1-af982a4e2780"
	putItem(t, ddb, table, map[string]string{"LockID": stalePath, "Info": infoJSON(staleID, stalePath, "runner@fv-az1", old)})
	putItem(t, ddb, table, map[string]string{"LockID": stalePath + "-md5", "Digest": "abc"})
	// Another state's item whose LockID contains the approved ID.
	trap := "bucket/" + staleID + "/terraform.tfstate"
	putItem(t, ddb, table, map[string]string{"LockID": trap, "Info": infoJSON("other-id", trap, "runner@fv-az2", old)})
	youngPath := "bucket/young/terraform.tfstate"
	putItem(t, ddb, table, map[string]string{"LockID": youngPath, "Info": infoJSON("young-id", youngPath, "runner@fv-az3", time.Now())})
	racePath := "bucket/race/terraform.tfstate"
	putItem(t, ddb, table, map[string]string{"LockID": racePath, "Info": infoJSON("race-id", racePath, "runner@fv-az4", old)})

	newInfo := infoJSON("race-new-id", racePath, "runner@fv-az9", time.Now())
	api := &retaker{DynamoDBAPI: ddb}
	u := &Unlocker{Stores: []Store{&DynamoDBStore{API: api, Table: table}}, Classifier: staleClassifier()}

	results, err := u.Unlock(ctx, []Approved{{ID: staleID}, {ID: "young-id"}, {ID: "gone-id"}, {ID: staleID + "x"}})
	require.NoError(t, err)
	require.Len(t, results, 4)
	assert.Equal(t, OutcomeRemoved, results[0].Outcome, results[0].Reason)
	assert.Equal(t, []Source{SourceDynamoDB}, results[0].Removed)
	assert.Equal(t, OutcomeRefused, results[1].Outcome)
	assert.Contains(t, results[1].Reason, "active again")
	assert.Equal(t, OutcomeNotFound, results[2].Outcome, "without lock-details nothing proves it was released")
	assert.Contains(t, results[2].Reason, "check the ID for a typo")
	assert.Equal(t, OutcomeNotFound, results[3].Outcome, "IDs match exactly, never as substrings")

	_, present := getInfo(t, ddb, table, stalePath)
	assert.False(t, present, "approved stale lock removed")
	_, present = getInfo(t, ddb, table, stalePath+"-md5")
	assert.True(t, present, "digest item untouched")
	_, present = getInfo(t, ddb, table, trap)
	assert.True(t, present, "other state's lock untouched")
	_, present = getInfo(t, ddb, table, youngPath)
	assert.True(t, present, "active lock untouched")

	// The lock is released and taken again between the read and the delete.
	api.put = func() {
		putItem(t, ddb, table, map[string]string{"LockID": racePath, "Info": newInfo})
	}
	results, err = u.Unlock(ctx, []Approved{{ID: "race-id"}})
	require.NoError(t, err)
	assert.Equal(t, OutcomeRefused, results[0].Outcome)
	assert.Contains(t, results[0].Reason, "refused the conditional delete")
	info, present := getInfo(t, ddb, table, racePath)
	assert.True(t, present)
	assert.Equal(t, newInfo, info, "the new lock survives")
	api.put = nil

	// Approved with detect's details: the state was locked again since.
	results, err = u.Unlock(ctx, []Approved{{ID: "race-id", Path: racePath}})
	require.NoError(t, err)
	assert.Equal(t, OutcomeRefused, results[0].Outcome)
	assert.Contains(t, results[0].Reason, "locked again since approval by lock race-new-id")

	// An ID held outside lock-id-prefix is never touched, and not called removed.
	scoped := &Unlocker{Stores: u.Stores, Classifier: staleClassifier(), LockPathPrefix: "bucket/elsewhere/"}
	results, err = scoped.Unlock(ctx, []Approved{{ID: "young-id"}})
	require.NoError(t, err)
	assert.Equal(t, OutcomeNotFound, results[0].Outcome)
	assert.Contains(t, results[0].Reason, `no lock under lock-id-prefix "bucket/elsewhere/" holds this ID`)
	_, present = getInfo(t, ddb, table, youngPath)
	assert.True(t, present)
	// The same with detect's details: the approved state is outside the
	// prefix, so nothing proves it was released.
	results, err = scoped.Unlock(ctx, []Approved{{ID: "young-id", Path: youngPath}})
	require.NoError(t, err)
	assert.Equal(t, OutcomeNotFound, results[0].Outcome)
	assert.Contains(t, results[0].Reason, "outside lock-id-prefix")
	_, present = getInfo(t, ddb, table, youngPath)
	assert.True(t, present)

	// A re-run of the approved job: the first ID is already gone, which
	// its lock-details prove; without them it is not found.
	results, err = u.Unlock(ctx, []Approved{{ID: staleID, Path: stalePath}, {ID: staleID}})
	require.NoError(t, err)
	assert.Equal(t, OutcomeAlreadyGone, results[0].Outcome)
	assert.Contains(t, results[0].Reason, "it was already released")
	assert.Equal(t, OutcomeNotFound, results[1].Outcome)
}

func TestUnlockRefusesLiveOwner(t *testing.T) {
	t.Parallel()
	ddb, table := newTable(t)
	ctx := context.Background()
	old := time.Now().Add(-5 * time.Hour)
	path := "bucket/live/terraform.tfstate"
	putItem(t, ddb, table, map[string]string{"LockID": path, "Info": infoJSON("live-id", path, "runner@fv-az1", old)})
	require.NoError(t, WriteRunRecord(ctx, ddb, table, RunRecord{LockPath: path, Repository: "octo/infra", RunID: 7, RunAttempt: 1, Job: "apply", Written: old.Add(-time.Minute)}))
	cl := staleClassifier()
	cl.Runs = &fakeRuns{runs: map[int64]RunState{7: {Status: "in_progress", Attempt: 1}}}
	results, err := (&Unlocker{Stores: []Store{&DynamoDBStore{API: ddb, Table: table}}, Classifier: cl}).Unlock(ctx, []Approved{{ID: "live-id"}})
	require.NoError(t, err)
	assert.Equal(t, OutcomeRefused, results[0].Outcome)
	assert.Contains(t, results[0].Reason, "run 7 attempt 1 (record of job \"apply\", host unknown) is in_progress")
	_, present := getInfo(t, ddb, table, path)
	assert.True(t, present)
}

func newBucket(t *testing.T) (*s3.Client, string) {
	t.Helper()
	c := motoserver.Shared(t).S3("eu-west-2")
	name := uniqueName("state")
	_, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name),
		CreateBucketConfiguration: &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraintEuWest2}})
	require.NoError(t, err)
	return c, name
}

func putObject(t *testing.T, c *s3.Client, bucket, key, body string) {
	t.Helper()
	_, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)})
	require.NoError(t, err)
}

func objectBody(t *testing.T, c *s3.Client, bucket, key string) (string, bool) {
	t.Helper()
	st := &S3Store{API: c, Bucket: bucket}
	raw, _, present, err := st.read(context.Background(), key)
	require.NoError(t, err)
	return raw, present
}

// s3Race rewrites the lock object just before the delete.
type s3Race struct {
	S3API
	before func()
	fail   error
}

func (r *s3Race) DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, opts ...func(*s3.Options)) (*s3.DeleteObjectOutput, error) {
	if r.before != nil {
		r.before()
	}
	if r.fail != nil {
		return nil, r.fail
	}
	return r.S3API.DeleteObject(ctx, in, opts...)
}

func TestS3LockFiles(t *testing.T) {
	t.Parallel()
	c, bucket := newBucket(t)
	ctx := context.Background()
	old := time.Now().Add(-2 * time.Hour)
	for i := 0; i < 25; i++ {
		key := fmt.Sprintf("team-%02d/terraform.tfstate", i)
		putObject(t, c, bucket, key, `{"version":4}`)
		putObject(t, c, bucket, key+LockFileSuffix, infoJSON(fmt.Sprintf("s3-id-%02d", i), bucket+"/"+key, "runner@fv", old))
	}
	putObject(t, c, bucket, "env:/dev/app/terraform.tfstate.tflock", infoJSON("ws-id", bucket+"/env:/dev/app/terraform.tfstate", "runner@fv", old))

	st := &S3Store{API: c, Bucket: bucket, PageSize: 7}
	require.NoError(t, st.Check(ctx))
	snap, err := st.Snapshot(ctx)
	require.NoError(t, err)
	assert.Len(t, snap.Locks, 26)
	for _, l := range snap.Locks {
		assert.Empty(t, l.ParseProblem)
		assert.Equal(t, l.Info.Path, l.LockPath, "lock path matches Info.Path")
		assert.NotEmpty(t, l.Sources[0].ETag)
	}
	prefixed, err := (&S3Store{API: c, Bucket: bucket, Prefix: "env:/"}).Snapshot(ctx)
	require.NoError(t, err)
	require.Len(t, prefixed.Locks, 1)
	assert.Equal(t, bucket+"/env:/dev/app/terraform.tfstate", prefixed.Locks[0].LockPath)

	race := &s3Race{S3API: c}
	u := &Unlocker{Stores: []Store{&S3Store{API: race, Bucket: bucket}}, Classifier: staleClassifier()}
	results, err := u.Unlock(ctx, []Approved{{ID: "s3-id-00"}})
	require.NoError(t, err)
	assert.Equal(t, OutcomeRemoved, results[0].Outcome, results[0].Reason)
	_, present := objectBody(t, c, bucket, "team-00/terraform.tfstate.tflock")
	assert.False(t, present)
	_, present = objectBody(t, c, bucket, "team-00/terraform.tfstate")
	assert.True(t, present, "the state itself is untouched")

	// Re-taken between read and delete: S3 answers 412 to If-Match.
	newBody := infoJSON("s3-new", bucket+"/team-01/terraform.tfstate", "runner@other", time.Now())
	race.before = func() { putObject(t, c, bucket, "team-01/terraform.tfstate.tflock", newBody) }
	results, err = u.Unlock(ctx, []Approved{{ID: "s3-id-01"}})
	require.NoError(t, err)
	assert.Equal(t, OutcomeRefused, results[0].Outcome)
	assert.Contains(t, results[0].Reason, "refused the conditional delete")
	body, present := objectBody(t, c, bucket, "team-01/terraform.tfstate.tflock")
	assert.True(t, present)
	assert.Equal(t, newBody, body, "the new lock survives")
}

func TestLockInBothStores(t *testing.T) {
	t.Parallel()
	c, bucket := newBucket(t)
	ddb, table := newTable(t)
	ctx := context.Background()
	old := time.Now().Add(-2 * time.Hour)
	key := "app/terraform.tfstate"
	info := infoJSON("both-id", bucket+"/"+key, "runner@fv", old)
	putObject(t, c, bucket, key+LockFileSuffix, info)
	putItem(t, ddb, table, map[string]string{"LockID": bucket + "/" + key, "Info": info})
	key2 := "second/terraform.tfstate"
	info2 := infoJSON("both-2", bucket+"/"+key2, "runner@fv", old)
	putObject(t, c, bucket, key2+LockFileSuffix, info2)
	putItem(t, ddb, table, map[string]string{"LockID": bucket + "/" + key2, "Info": info2})

	race := &s3Race{S3API: c}
	stores := []Store{&DynamoDBStore{API: ddb, Table: table}, &S3Store{API: race, Bucket: bucket}}
	det, err := (&Detector{Stores: stores, Classifier: staleClassifier()}).Detect(ctx)
	require.NoError(t, err)
	require.Len(t, det.Verdicts, 2, "one lock with two sources is counted once")
	assert.Len(t, det.Verdicts[0].Lock.Sources, 2)

	u := &Unlocker{Stores: stores, Classifier: staleClassifier()}
	results, err := u.Unlock(ctx, []Approved{{ID: "both-id"}})
	require.NoError(t, err)
	assert.Equal(t, OutcomeRemoved, results[0].Outcome, results[0].Reason)
	assert.Equal(t, []Source{SourceS3, SourceDynamoDB}, results[0].Removed, "S3 first")

	// The S3 removal fails: nothing else is removed, and the result says what is left.
	race.fail = fmt.Errorf("AccessDenied: not allowed")
	results, err = u.Unlock(ctx, []Approved{{ID: "both-2"}})
	require.NoError(t, err)
	assert.Equal(t, OutcomeRefused, results[0].Outcome)
	assert.Equal(t, []Source{SourceS3, SourceDynamoDB}, results[0].Left)
	assert.Error(t, results[0].Err)
	_, present := getInfo(t, ddb, table, bucket+"/"+key2)
	assert.True(t, present)
}

// lostAnswer deletes for real, then reports a failure, as when the answer
// to a DeleteItem is cut short on its way back.
type lostAnswer struct {
	DynamoDBAPI
}

func (l lostAnswer) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, o ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	if _, err := l.DynamoDBAPI.DeleteItem(ctx, in, o...); err != nil {
		return nil, err
	}
	return nil, &smithy.DeserializationError{Err: io.ErrUnexpectedEOF}
}

func TestUnlockSaysRemovedWhenTheDeleteHappenedButItsAnswerWasLost(t *testing.T) {
	t.Parallel()
	c, bucket := newBucket(t)
	ddb, table := newTable(t)
	ctx := context.Background()
	key := "lost/terraform.tfstate"
	info := infoJSON("lost-id", bucket+"/"+key, "runner@fv", time.Now().Add(-2*time.Hour))
	putObject(t, c, bucket, key+LockFileSuffix, info)
	putItem(t, ddb, table, map[string]string{"LockID": bucket + "/" + key, "Info": info})
	stores := []Store{&DynamoDBStore{API: lostAnswer{ddb}, Table: table}, &S3Store{API: c, Bucket: bucket}}
	results, err := (&Unlocker{Stores: stores, Classifier: staleClassifier()}).Unlock(ctx, []Approved{{ID: "lost-id"}})
	require.NoError(t, err)
	assert.Equal(t, OutcomeRemoved, results[0].Outcome, results[0].Reason)
	assert.Equal(t, []Source{SourceS3, SourceDynamoDB}, results[0].Removed)
	assert.Empty(t, results[0].Left, "nothing is still held, so nothing may be reported as held")
	_, present := getInfo(t, ddb, table, bucket+"/"+key)
	assert.False(t, present)
}

func TestFixForTellsThrottlingFromMissingPermissions(t *testing.T) {
	t.Parallel()
	throttled := &smithy.GenericAPIError{Code: "ProvisionedThroughputExceededException", Message: "slow down"}
	assert.Contains(t, fixFor(throttled, "dynamodb:Scan"), "re-run the step later")
	assert.NotContains(t, fixFor(throttled, "dynamodb:Scan"), "needs")
	denied := &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "no"}
	assert.Equal(t, "needs dynamodb:Scan", fixFor(denied, "dynamodb:Scan"))
	assert.Contains(t, fixFor(&smithy.DeserializationError{Err: io.ErrUnexpectedEOF}, "s3:GetObject"), "cut short")
}

// Issue 17, cases 3 and 4: 500 pipelines blocked by a live lock each run
// setup; the owner's entry stays, and a matrix leg sharing the owner's job
// key keeps its own entry. Entries leave by expiry, not by count.
func TestWriteRunRecordKeepsOneItemThatLosesNoLiveRun(t *testing.T) {
	t.Parallel()
	ddb, table := newTable(t)
	ctx := context.Background()
	const path = "bucket/app/terraform.tfstate"
	base := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	owner := RunRecord{LockPath: path, Repository: "octo/infra", RunID: 1, RunAttempt: 1, Job: "apply", RunnerName: "GitHub Actions 1",
		Host: "vm-owner", HostExclusive: true, Written: base}
	require.NoError(t, WriteRunRecord(ctx, ddb, table, owner))
	leg := owner
	leg.RunnerName, leg.Host, leg.Written = "GitHub Actions 2", "vm-leg", base.Add(time.Second)
	require.NoError(t, WriteRunRecord(ctx, ddb, table, leg))
	for i := 1; i <= 500; i++ {
		require.NoError(t, WriteRunRecord(ctx, ddb, table, RunRecord{LockPath: path, Repository: "octo/infra", RunID: int64(100 + i), RunAttempt: 1,
			Job: "apply", RunnerName: "GitHub Actions 9", Host: fmt.Sprintf("runnervm%d", i), HostExclusive: true, Written: base.Add(time.Duration(i+1) * time.Second)}))
	}
	// The same job (same runner and host) writing again replaces its entry.
	again := RunRecord{LockPath: path, Repository: "octo/infra", RunID: 700, RunAttempt: 1, Job: "apply", RunnerName: "GitHub Actions 9",
		Host: "runnervm-again", HostExclusive: true, Written: base.Add(600 * time.Second)}
	require.NoError(t, WriteRunRecord(ctx, ddb, table, again))
	again.Written = base.Add(601 * time.Second)
	require.NoError(t, WriteRunRecord(ctx, ddb, table, again))

	out, err := ddb.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(table)})
	require.NoError(t, err)
	require.Len(t, out.Items, 1, "one item for the state, however many runs wrote")
	snap, err := (&DynamoDBStore{API: ddb, Table: table}).Snapshot(ctx)
	require.NoError(t, err)
	require.Len(t, snap.Records, 503, "the owner, its matrix leg, 500 blocked setups and one job written twice")
	assert.Equal(t, int64(700), snap.Records[0].RunID)
	last := snap.Records[len(snap.Records)-2:]
	assert.Equal(t, []string{"vm-leg", "vm-owner"}, []string{last[0].Host, last[1].Host}, "both legs of the owner's run keep their entries")
}

func TestKeepRunsDropsExpiredThenOldestPastTheCaps(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	entry := func(id int64, age time.Duration) RunRecord {
		return RunRecord{LockPath: "b/k", Repository: "o/r", RunID: id, RunAttempt: 1, Job: "apply", Host: fmt.Sprintf("h%d", id), Written: now.Add(-age)}
	}
	cur := []RunRecord{entry(2, time.Hour), entry(3, DefaultRunRecordTTL+time.Minute)}
	runs, dropped, _, err := keepRuns(entry(1, 0), cur)
	require.NoError(t, err)
	assert.Len(t, runs, 2, "the expired entry leaves")
	assert.Empty(t, dropped, "leaving by expiry is not a drop to warn about")

	cur = nil
	for i := 0; i < MaxRunsPerState+3; i++ {
		cur = append(cur, entry(int64(10+i), time.Duration(i+1)*time.Second))
	}
	runs, dropped, _, err = keepRuns(entry(1, 0), cur)
	require.NoError(t, err)
	assert.Len(t, runs, MaxRunsPerState)
	require.Len(t, dropped, 4, "past the cap the oldest go, and are reported")
	assert.Equal(t, int64(10+MaxRunsPerState+2), dropped[0].RunID, "the oldest first")

	long := func(r RunRecord) RunRecord { r.Job = strings.Repeat("j", maxRecordItemBytes/3); return r }
	runs, dropped, _, err = keepRuns(long(entry(1, 0)), []RunRecord{long(entry(2, time.Second)), long(entry(3, 2*time.Second)), long(entry(4, 3*time.Second))})
	require.NoError(t, err)
	body, _ := json.Marshal(runs)
	assert.LessOrEqual(t, len(body), maxRecordItemBytes, "the item stays under its byte guard")
	assert.NotEmpty(t, dropped)
}

func TestWriteRunRecordConcurrentWritersLoseNothing(t *testing.T) {
	t.Parallel()
	ddb, table := newTable(t)
	ctx := context.Background()
	const path = "bucket/app/terraform.tfstate"
	written := time.Now().UTC().Truncate(time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 1; i <= 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- WriteRunRecord(ctx, ddb, table, RunRecord{LockPath: path, Repository: "octo/infra", RunID: int64(i), RunAttempt: 1, Job: "plan", Written: written})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	snap, err := (&DynamoDBStore{API: ddb, Table: table}).Snapshot(ctx)
	require.NoError(t, err)
	ids := map[int64]bool{}
	for _, r := range snap.Records {
		ids[r.RunID] = true
	}
	assert.Len(t, ids, 8, "every concurrent setup's entry survives: %v", ids)
}

func TestWriteRunRecordReplacesAnUnreadableItemOfOurs(t *testing.T) {
	t.Parallel()
	ddb, table := newTable(t)
	ctx := context.Background()
	const path = "bucket/app/terraform.tfstate"
	putItem(t, ddb, table, map[string]string{"LockID": StateRecordPrefix + path, "Runs": "garbage"})
	require.NoError(t, WriteRunRecord(ctx, ddb, table, RunRecord{LockPath: path, Repository: "octo/infra", RunID: 3, RunAttempt: 1, Written: time.Now()}))
	snap, err := (&DynamoDBStore{API: ddb, Table: table}).Snapshot(ctx)
	require.NoError(t, err)
	require.Len(t, snap.Records, 1)
	assert.Equal(t, int64(3), snap.Records[0].RunID)
}

// auto-unlock: a definitive stale lock is removed, a circumstantial one
// and an active one stay, and a lock re-taken between detect's read and
// its delete survives.
func TestAutoUnlock(t *testing.T) {
	t.Parallel()
	ddb, table := newTable(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	mk := func(id, path, who string, created time.Time) {
		putItem(t, ddb, table, map[string]string{"LockID": path, "Info": infoJSON(id, path, who, created)})
	}
	runs := &fakeRuns{runs: map[int64]RunState{}}
	record := func(path string, run int64, host string, exclusive bool) {
		require.NoError(t, WriteRunRecord(ctx, ddb, table, RunRecord{LockPath: path, Repository: "octo/infra", RunID: run, RunAttempt: 1,
			Job: "apply", RunnerName: lockRunner, Host: host, HostExclusive: exclusive, Written: now.Add(-time.Hour)}))
		runs.runs[run] = RunState{Status: "completed", Conclusion: "cancelled", Attempt: 1,
			Jobs: []JobState{{RunnerName: lockRunner, CompletedAt: now.Add(-time.Minute)}}}
	}
	mk("dead", "b/dead", "runner@vm-dead", now.Add(-10*time.Minute))
	record("b/dead", 1, "vm-dead", true)
	mk("retaken", "b/retaken", "runner@vm-re", now.Add(-10*time.Minute))
	record("b/retaken", 2, "vm-re", true)
	mk("circ", "b/circ", "runner@shared", now.Add(-50*time.Minute))
	record("b/circ", 3, "shared", false)
	mk("young", "b/young", "me@laptop", now.Add(-time.Minute))

	cl := &Classifier{Policy: Policy{ActiveWithin: 10 * time.Minute, StaleAfter: 30 * time.Minute, RecordSkew: DefaultRecordSkew, Repository: "octo/infra"},
		Runs: runs, Now: time.Now}
	api := &retaker{DynamoDBAPI: ddb}
	stores := []Store{&DynamoDBStore{API: api, Table: table}}
	det, err := (&Detector{Stores: stores, Classifier: cl}).Detect(ctx)
	require.NoError(t, err)
	assert.ElementsMatch(t, []Approved{{ID: "dead", Path: "b/dead"}, {ID: "retaken", Path: "b/retaken"}}, AutoUnlockable(det))

	// Just before each delete, a new Terraform takes b/retaken again.
	var once sync.Once
	api.put = func() {
		once.Do(func() {
			_, err := ddb.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: lockKey("b/retaken")})
			require.NoError(t, err)
			mk("new", "b/retaken", "runner@vm-new", time.Now())
		})
	}
	results, err := AutoUnlock(ctx, &Unlocker{Stores: stores, Classifier: cl}, det)
	require.NoError(t, err)
	outcomes := map[string]Outcome{}
	for _, r := range results {
		outcomes[r.ID] = r.Outcome
	}
	assert.Equal(t, map[string]Outcome{"dead": OutcomeRemoved, "retaken": OutcomeRefused}, outcomes)
	_, present := getInfo(t, ddb, table, "b/dead")
	assert.False(t, present)
	info, present := getInfo(t, ddb, table, "b/retaken")
	assert.True(t, present)
	assert.Contains(t, info, `"ID":"new"`, "the lock taken in between survives")
	for _, path := range []string{"b/circ", "b/young"} {
		_, present := getInfo(t, ddb, table, path)
		assert.True(t, present, path)
	}

	// While GitHub cannot be asked about some lock, nothing is auto-removed.
	runs.errs = map[int64]error{3: errors.New("502 Bad Gateway")}
	cl2 := *cl
	det, err = (&Detector{Stores: []Store{&DynamoDBStore{API: ddb, Table: table}}, Classifier: &cl2}).Detect(ctx)
	require.NoError(t, err)
	assert.NotEmpty(t, det.APIProblems())
	assert.Empty(t, AutoUnlockable(det))
}

func TestDetectWaitingBacksOffAndStops(t *testing.T) {
	t.Parallel()
	ddb, table := newTable(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	putItem(t, ddb, table, map[string]string{"LockID": "b/k", "Info": infoJSON("held", "b/k", "me@laptop", time.Now())})
	d := &Detector{Stores: []Store{&DynamoDBStore{API: ddb, Table: table}}, Classifier: staleClassifier()}
	clock := time.Now()
	var pauses []time.Duration
	p := DefaultWaitPolicy(2 * time.Minute)
	p.Now = func() time.Time { return clock }
	p.Sleep = func(_ context.Context, d time.Duration) error {
		pauses = append(pauses, d)
		clock = clock.Add(d)
		return nil
	}
	var lines []string
	det, err := d.DetectWaiting(ctx, p, func(det *Detection, left time.Duration) { lines = append(lines, WaitingFor(det, left)) })
	require.NoError(t, err)
	assert.Len(t, det.Active(), 1, "still held when the budget ran out")
	assert.Equal(t, []time.Duration{5 * time.Second, 7500 * time.Millisecond, 11250 * time.Millisecond, 16875 * time.Millisecond,
		25312500 * time.Microsecond, 30 * time.Second, 24062500 * time.Microsecond}, pauses, "backs off to 30 s, never past the budget")
	assert.Equal(t, "waiting for 1 lock(s) held by no known run, young enough to be live; 2m0s left", lines[0])

	p.Sleep = func(ctx context.Context, d time.Duration) error { cancel(); return ctx.Err() }
	_, err = d.DetectWaiting(ctx, p, nil)
	assert.ErrorIs(t, err, context.Canceled)
}

// A dead lock blocks every pipeline that comes after it, and each of them
// still runs setup before its detect stops it: the owner's record must
// outlast them, so the lock stays provably dead (and auto-unlockable).
func TestDeadOwnersRecordOutlastsTheBlockedRunsAfterIt(t *testing.T) {
	t.Parallel()
	ddb, table := newTable(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	const path = "b/app/terraform.tfstate"
	putItem(t, ddb, table, map[string]string{"LockID": path, "Info": infoJSON("dead", path, "runner@vm-1", now.Add(-time.Hour))})
	require.NoError(t, WriteRunRecord(ctx, ddb, table, RunRecord{LockPath: path, Repository: "octo/infra", RunID: 1, RunAttempt: 1,
		Job: "apply", RunnerName: lockRunner, Host: "vm-1", HostExclusive: true, Written: now.Add(-61 * time.Minute)}))
	runs := &fakeRuns{runs: map[int64]RunState{1: {Status: "completed", Conclusion: "cancelled", Attempt: 1,
		Jobs: []JobState{{RunnerName: lockRunner, CompletedAt: now.Add(-59 * time.Minute)}}}}}
	const blocked = 20 // pipelines that ran terraform-check's setup and then stopped at detect
	for i := 0; i < blocked; i++ {
		require.NoError(t, WriteRunRecord(ctx, ddb, table, RunRecord{LockPath: path, Repository: "octo/infra", RunID: int64(100 + i), RunAttempt: 1,
			Job: "terraform-check", Host: fmt.Sprintf("vm-%d", 100+i), HostExclusive: true, Written: now.Add(time.Duration(-50+i) * time.Minute)}))
	}
	cl := &Classifier{Policy: Policy{ActiveWithin: 10 * time.Minute, StaleAfter: 30 * time.Minute, RecordSkew: DefaultRecordSkew, Repository: "octo/infra"},
		Runs: runs, Now: time.Now}
	det, err := (&Detector{Stores: []Store{&DynamoDBStore{API: ddb, Table: table}}, Classifier: cl}).Detect(ctx)
	require.NoError(t, err)
	require.Len(t, det.Verdicts, 1)
	assert.Equal(t, EvidenceDefinitive, det.Verdicts[0].Evidence, det.Verdicts[0].Reason)
	assert.Equal(t, []Approved{{ID: "dead", Path: path}}, AutoUnlockable(det))
}
