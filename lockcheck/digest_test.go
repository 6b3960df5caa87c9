package lockcheck

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// digestFixture is a versioned state bucket and a lock table on moto.
type digestFixture struct {
	t      *testing.T
	s3     *s3.Client
	ddb    *dynamodb.Client
	bucket string
	table  string
}

func newDigestFixture(t *testing.T) *digestFixture {
	t.Helper()
	c, bucket := newBucket(t)
	_, err := c.PutBucketVersioning(context.Background(), &s3.PutBucketVersioningInput{Bucket: aws.String(bucket),
		VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled}})
	require.NoError(t, err)
	ddb, table := newTable(t)
	return &digestFixture{t: t, s3: c, ddb: ddb, bucket: bucket, table: table}
}

func stateJSON(lineage string, serial int, extra string) string {
	return fmt.Sprintf("{\n  \"version\": 4,\n  \"terraform_version\": \"1.11.4\",\n  \"serial\": %d,\n  \"lineage\": %q,\n  \"outputs\": {\"x\": {\"value\": %q, \"type\": \"string\"}},\n  \"resources\": [],\n  \"check_results\": null\n}\n", serial, lineage, extra)
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// write stores a state version and returns its version ID.
func (f *digestFixture) write(key, body string) string {
	f.t.Helper()
	out, err := f.s3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(f.bucket), Key: aws.String(key), Body: strings.NewReader(body)})
	require.NoError(f.t, err)
	return aws.ToString(out.VersionId)
}

// terraformWrite writes state and its digest, as Terraform with dynamodb_table does.
func (f *digestFixture) terraformWrite(key, body string) string {
	v := f.write(key, body)
	f.setDigest(key, md5hex(body))
	return v
}

func (f *digestFixture) setDigest(key, digest string) {
	putItem(f.t, f.ddb, f.table, map[string]string{"LockID": f.bucket + "/" + key + DigestSuffix, "Digest": digest})
}

func (f *digestFixture) digest(key string) (string, bool) {
	out, err := f.ddb.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(f.table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"LockID": &types.AttributeValueMemberS{Value: f.bucket + "/" + key + DigestSuffix}}})
	require.NoError(f.t, err)
	d, ok := out.Item["Digest"].(*types.AttributeValueMemberS)
	if !ok {
		return "", false
	}
	return d.Value, true
}

func (f *digestFixture) checker() *DigestChecker {
	return &DigestChecker{Table: f.ddb, TableName: f.table, S3: f.s3, Prefix: f.bucket + "/"}
}

func (f *digestFixture) repairer() *DigestRepairer {
	return &DigestRepairer{Table: f.ddb, TableName: f.table, S3: f.s3, Who: "tester@host", Version: "test"}
}

func (f *digestFixture) check() map[string]DigestCheck {
	f.t.Helper()
	rep, err := f.checker().Check(context.Background())
	require.NoError(f.t, err)
	out := map[string]DigestCheck{}
	for _, c := range rep.Checks {
		out[c.Key] = c
	}
	return out
}

// approve turns a check into the approval unlock would get.
func approve(c DigestCheck) DigestApproval {
	a := DigestApproval{LockPath: c.LockPath, Digest: c.Digest, Missing: c.Status == DigestMissing}
	if !a.Missing {
		a.VersionID, a.ActualMD5 = c.Current.VersionID, c.Current.MD5
	}
	if a.Missing && c.Matching != nil {
		a.RestoreVersion = c.Matching.VersionID
	}
	return a
}

func TestDigestCheckFindsEachCause(t *testing.T) {
	t.Parallel()
	f := newDigestFixture(t)
	ctx := context.Background()
	// Healthy: digest of the bytes Terraform wrote.
	f.terraformWrite("ok/terraform.tfstate", stateJSON("lin-ok", 3, "a"))
	// Edited by hand: same serial, other bytes.
	v1 := f.terraformWrite("edited/terraform.tfstate", stateJSON("lin-e", 5, "a"))
	edited := f.write("edited/terraform.tfstate", stateJSON("lin-e", 5, "edited by hand"))
	// Deleted with its digest left.
	gone := f.terraformWrite("gone/terraform.tfstate", stateJSON("lin-g", 2, "a"))
	_, err := f.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(f.bucket), Key: aws.String("gone/terraform.tfstate")})
	require.NoError(t, err)
	// Lock-file-only runs: .tflock written and removed around each state write.
	f.terraformWrite("lf/terraform.tfstate", stateJSON("lin-l", 7, "a"))
	for serial := 8; serial <= 9; serial++ {
		f.write("lf/terraform.tfstate"+LockFileSuffix, `{"ID":"x"}`)
		f.write("lf/terraform.tfstate", stateJSON("lin-l", serial, "a"))
		_, err := f.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(f.bucket), Key: aws.String("lf/terraform.tfstate" + LockFileSuffix)})
		require.NoError(t, err)
	}
	// Rolled back: an older state put back by hand.
	f.write("rb/terraform.tfstate", stateJSON("lin-r", 1, "a"))
	f.terraformWrite("rb/terraform.tfstate", stateJSON("lin-r", 2, "b"))
	f.write("rb/terraform.tfstate", stateJSON("lin-r", 1, "a"))

	got := f.check()
	require.Len(t, got, 5)
	assert.Equal(t, DigestOK, got["ok/terraform.tfstate"].Status)

	e := got["edited/terraform.tfstate"]
	assert.Equal(t, DigestMismatch, e.Status)
	assert.Equal(t, CauseChangedOutside, e.CauseKind)
	assert.Contains(t, e.Cause, "state changed outside Terraform at ")
	assert.Contains(t, e.Cause, "(version "+edited+")")
	assert.Equal(t, edited, e.Current.VersionID)
	assert.Equal(t, md5hex(stateJSON("lin-e", 5, "edited by hand")), e.Current.MD5)
	require.NotNil(t, e.Previous)
	assert.Equal(t, v1, e.Previous.VersionID)
	assert.Equal(t, uint64(5), e.Previous.Serial)
	assert.Equal(t, "lin-e", e.Current.Lineage)
	require.NotNil(t, e.Matching)
	assert.Equal(t, v1, e.Matching.VersionID)

	g := got["gone/terraform.tfstate"]
	assert.Equal(t, DigestMissing, g.Status)
	assert.Equal(t, CauseStateMissing, g.CauseKind)
	assert.Contains(t, g.Cause, "state object missing (deleted at ")
	require.NotNil(t, g.Matching)
	assert.Equal(t, gone, g.Matching.VersionID)

	l := got["lf/terraform.tfstate"]
	assert.Equal(t, DigestMismatch, l.Status)
	assert.Equal(t, CauseLockFileOnly, l.CauseKind, l.Cause)
	assert.Contains(t, l.Cause, "digest older than the state: written by lock-file-only runs")
	assert.Equal(t, 2, l.LockFileWrites)

	r := got["rb/terraform.tfstate"]
	assert.Equal(t, CauseStateRolledBack, r.CauseKind, r.Cause)
	assert.Contains(t, r.Cause, "serial went down from 2 to 1")

	kinds := MigrationView(nil, &DigestReport{Checks: []DigestCheck{l, e}})
	require.Len(t, kinds, 2)
	for _, k := range kinds {
		assert.Equal(t, k.LockPath == l.LockPath, k.LeftoverDigest, k.LockPath)
	}
}

// etagLiar answers every GetObject with the ETag it is told: what S3 sends
// for an SSE-KMS or multipart object (never the MD5), or a forged MD5.
type etagLiar struct {
	StateAPI
	etag string
}

func (e *etagLiar) GetObject(ctx context.Context, in *s3.GetObjectInput, opt ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	out, err := e.StateAPI.GetObject(ctx, in, opt...)
	if out != nil {
		out.ETag = aws.String(`"` + e.etag + `"`)
	}
	return out, err
}

func TestDigestCheckHashesBytesNeverTheETag(t *testing.T) {
	t.Parallel()
	f := newDigestFixture(t)
	body := stateJSON("lin-k", 1, "kms")
	f.terraformWrite("kms/terraform.tfstate", body)
	other := stateJSON("lin-k2", 1, "other")
	f.write("forged/terraform.tfstate", other)
	f.setDigest("forged/terraform.tfstate", md5hex(body))

	for _, tc := range []struct{ name, etag string }{
		{"SSE-KMS ETag (not an MD5)", "9a4b2c1d0e8f7a6b5c4d3e2f1a0b9c8d"},
		{"multipart ETag", md5hex("parts") + "-3"},
		{"ETag equal to the digest", md5hex(body)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := f.checker()
			c.S3 = &etagLiar{StateAPI: f.s3, etag: tc.etag}
			rep, err := c.Check(context.Background())
			require.NoError(t, err)
			byKey := map[string]DigestStatus{}
			for _, ch := range rep.Checks {
				byKey[ch.Key] = ch.Status
			}
			assert.Equal(t, DigestOK, byKey["kms/terraform.tfstate"], "matching bytes match, whatever the ETag")
			assert.Equal(t, DigestMismatch, byKey["forged/terraform.tfstate"], "other bytes mismatch, whatever the ETag")
		})
	}
}

// denier refuses GetObject of one key, as S3 does for a role without
// s3:GetObject on it.
type denier struct {
	StateAPI
	key string
}

func (d *denier) GetObject(ctx context.Context, in *s3.GetObjectInput, opt ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	if aws.ToString(in.Key) == d.key {
		return nil, errors.New("api error AccessDenied: Access Denied")
	}
	return d.StateAPI.GetObject(ctx, in, opt...)
}

func TestDigestCheckReportsAnUnreadableStateAndChecksTheRest(t *testing.T) {
	t.Parallel()
	f := newDigestFixture(t)
	f.terraformWrite("open/terraform.tfstate", stateJSON("l", 1, "a"))
	f.terraformWrite("secret/terraform.tfstate", stateJSON("l", 1, "b"))
	c := f.checker()
	c.S3 = &denier{StateAPI: f.s3, key: "secret/terraform.tfstate"}
	rep, err := c.Check(context.Background())
	require.NoError(t, err)
	require.Len(t, rep.Failed(), 1)
	assert.Equal(t, "secret/terraform.tfstate", rep.Failed()[0].Key)
	assert.Equal(t, DigestUnchecked, rep.Failed()[0].Status)
	assert.Contains(t, rep.Failed()[0].Unchecked, "needs s3:GetObject")
	assert.Equal(t, 1, rep.Count(DigestOK))
	assert.Empty(t, rep.Mismatches(), "an unread state is never called a mismatch")
}

// noVersions refuses ListObjectVersions, as S3 does for a role without
// s3:ListBucketVersions.
type noVersions struct{ StateAPI }

func (noVersions) ListObjectVersions(context.Context, *s3.ListObjectVersionsInput, ...func(*s3.Options)) (*s3.ListObjectVersionsOutput, error) {
	return nil, errors.New("api error AccessDenied: Access Denied")
}

func TestDigestMismatchStandsWhenHistoryCannotBeRead(t *testing.T) {
	t.Parallel()
	f := newDigestFixture(t)
	f.terraformWrite("h/terraform.tfstate", stateJSON("l", 1, "a"))
	v := f.write("h/terraform.tfstate", stateJSON("l", 1, "b"))
	c := f.checker()
	c.S3 = noVersions{f.s3}
	rep, err := c.Check(context.Background())
	require.NoError(t, err)
	require.Len(t, rep.Mismatches(), 1)
	m := rep.Mismatches()[0]
	assert.Equal(t, CauseChangedOutside, m.CauseKind)
	assert.Contains(t, m.Cause, "(version "+v+")")
	assert.Contains(t, m.Cause, "earlier versions could not be read")
	assert.Contains(t, m.Cause, "needs s3:ListBucketVersions")
	assert.Empty(t, rep.Failed())
}

func TestDigestCheckHashesAMultipartUpload(t *testing.T) {
	t.Parallel()
	f := newDigestFixture(t)
	ctx := context.Background()
	key := "big/terraform.tfstate"
	// Two parts: S3's minimum part size is 5 MiB except for the last.
	pad := strings.Repeat("x", 5<<20+1)
	body := stateJSON("lin-big", 4, pad)
	up, err := f.s3.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(f.bucket), Key: aws.String(key)})
	require.NoError(t, err)
	var parts []s3types.CompletedPart
	for i, chunk := range []string{body[:5<<20], body[5<<20:]} {
		p, err := f.s3.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(f.bucket), Key: aws.String(key), UploadId: up.UploadId,
			PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader([]byte(chunk))})
		require.NoError(t, err)
		parts = append(parts, s3types.CompletedPart{ETag: p.ETag, PartNumber: aws.Int32(int32(i + 1))})
	}
	done, err := f.s3.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(f.bucket), Key: aws.String(key), UploadId: up.UploadId,
		MultipartUpload: &s3types.CompletedMultipartUpload{Parts: parts}})
	require.NoError(t, err)
	require.Contains(t, aws.ToString(done.ETag), "-2", "a multipart ETag is not the object's MD5")
	f.setDigest(key, md5hex(body))

	got := f.check()
	assert.Equal(t, DigestOK, got[key].Status)
	assert.Equal(t, int64(len(body)), got[key].Current.Size)
	assert.Equal(t, "lin-big", got[key].Current.Lineage)
}

func TestDigestCheckStopsAtTheReadLimit(t *testing.T) {
	t.Parallel()
	f := newDigestFixture(t)
	for i := range 4 {
		f.terraformWrite(fmt.Sprintf("s%d/terraform.tfstate", i), stateJSON("lin", i, strings.Repeat("y", 1000)))
	}
	c := f.checker()
	c.ReadLimit, c.Concurrency = 2500, 1
	rep, err := c.Check(context.Background())
	require.NoError(t, err)
	assert.True(t, rep.LimitReached)
	assert.Equal(t, 2, rep.Count(DigestOK))
	assert.Equal(t, 2, rep.Count(DigestUnchecked))
	assert.Empty(t, rep.Mismatches(), "a state not read is never called a mismatch")
	assert.LessOrEqual(t, rep.BytesRead, int64(2500+1200), "no read starts once the limit is passed")
}

func TestDigestRepairSetsTheDigestUnderTheLock(t *testing.T) {
	t.Parallel()
	f := newDigestFixture(t)
	key := "edit/terraform.tfstate"
	f.terraformWrite(key, stateJSON("lin", 5, "a"))
	edited := stateJSON("lin", 5, "b")
	v := f.write(key, edited)
	chk := f.check()[key]
	require.Equal(t, DigestMismatch, chk.Status)

	res := f.repairer().Repair(context.Background(), RepairInput{Approved: []DigestApproval{approve(chk)}})
	require.Len(t, res, 1)
	require.NoError(t, res[0].Err)
	assert.Equal(t, RepairDone, res[0].Outcome, res[0].Reason)
	assert.Equal(t, ActionSetDigest, res[0].Action)
	assert.Equal(t, md5hex(stateJSON("lin", 5, "a")), res[0].OldDigest)
	assert.Equal(t, md5hex(edited), res[0].NewDigest)
	assert.Equal(t, v, res[0].VersionID)
	d, _ := f.digest(key)
	assert.Equal(t, md5hex(edited), d)
	_, held := getInfo(t, f.ddb, f.table, f.bucket+"/"+key)
	assert.False(t, held, "the repair's lock item is released")
	_, file := objectBody(t, f.s3, f.bucket, key+LockFileSuffix)
	assert.False(t, file, "the repair's lock file is released")
	assert.Equal(t, DigestOK, f.check()[key].Status)
}

func TestDigestRepairRefusals(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// prepare writes history and returns the state to check; after
		// runs between detect and unlock.
		prepare       func(f *digestFixture, key string)
		after         func(f *digestFixture, key string)
		allowRollback bool
		want          string // "" : repaired
	}{
		{name: "state changed between detect and unlock",
			prepare: func(f *digestFixture, key string) {
				f.terraformWrite(key, stateJSON("lin", 1, "a"))
				f.write(key, stateJSON("lin", 1, "b"))
			},
			after: func(f *digestFixture, key string) { f.write(key, stateJSON("lin", 1, "c")) },
			want:  "the state changed since detect"},
		{name: "digest changed between detect and unlock",
			prepare: func(f *digestFixture, key string) {
				f.terraformWrite(key, stateJSON("lin", 1, "a"))
				f.write(key, stateJSON("lin", 1, "b"))
			},
			after: func(f *digestFixture, key string) { f.setDigest(key, md5hex("something else")) },
			want:  "the digest changed since detect"},
		{name: "locked in the table at repair time",
			prepare: func(f *digestFixture, key string) {
				f.terraformWrite(key, stateJSON("lin", 1, "a"))
				f.write(key, stateJSON("lin", 1, "b"))
			},
			after: func(f *digestFixture, key string) {
				putItem(f.t, f.ddb, f.table, map[string]string{"LockID": f.bucket + "/" + key, "Info": `{"ID":"held"}`})
			},
			want: "the state is locked (lock item"},
		{name: "locked with a lock file at repair time",
			prepare: func(f *digestFixture, key string) {
				f.terraformWrite(key, stateJSON("lin", 1, "a"))
				f.write(key, stateJSON("lin", 1, "b"))
			},
			after: func(f *digestFixture, key string) { f.write(key+LockFileSuffix, `{"ID":"held"}`) },
			want:  "the state is locked (lock file"},
		{name: "lineage changed",
			prepare: func(f *digestFixture, key string) {
				f.terraformWrite(key, stateJSON("lin", 4, "a"))
				f.write(key, stateJSON("other-stack", 9, "b"))
			},
			want: "lineage other-stack differs from the previous version's (lin"},
		{name: "serial lower without allow-state-rollback",
			prepare: func(f *digestFixture, key string) {
				f.write(key, stateJSON("lin", 3, "a"))
				f.terraformWrite(key, stateJSON("lin", 4, "b"))
				f.write(key, stateJSON("lin", 3, "a"))
			},
			want: "serial went down from 4"},
		{name: "serial lower with allow-state-rollback",
			prepare: func(f *digestFixture, key string) {
				f.write(key, stateJSON("lin", 3, "a"))
				f.terraformWrite(key, stateJSON("lin", 4, "b"))
				f.write(key, stateJSON("lin", 3, "a"))
			},
			allowRollback: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newDigestFixture(t)
			key := "r/terraform.tfstate"
			tc.prepare(f, key)
			chk := f.check()[key]
			require.Equal(t, DigestMismatch, chk.Status)
			if tc.after != nil {
				tc.after(f, key)
			}
			before, _ := f.digest(key)
			r := f.repairer()
			r.AllowRollback = tc.allowRollback
			res := r.Repair(context.Background(), RepairInput{Approved: []DigestApproval{approve(chk)}})
			require.Len(t, res, 1)
			require.NoError(t, res[0].Err)
			after, _ := f.digest(key)
			if tc.want == "" {
				assert.Equal(t, RepairDone, res[0].Outcome, res[0].Reason)
				assert.Equal(t, chk.Current.MD5, after)
				return
			}
			assert.Equal(t, RepairRefused, res[0].Outcome)
			assert.Contains(t, res[0].Reason, tc.want)
			assert.Equal(t, before, after, "a refused repair writes nothing")
		})
	}
}

func TestDigestRestoreAndForget(t *testing.T) {
	t.Parallel()
	f := newDigestFixture(t)
	ctx := context.Background()
	body := stateJSON("lin", 6, "keep me")
	src := f.terraformWrite("gone/terraform.tfstate", body)
	f.terraformWrite("removed/terraform.tfstate", stateJSON("lin2", 1, "a"))
	for _, k := range []string{"gone/terraform.tfstate", "removed/terraform.tfstate"} {
		_, err := f.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(f.bucket), Key: aws.String(k)})
		require.NoError(t, err)
	}
	got := f.check()
	gone, removed := approve(got["gone/terraform.tfstate"]), approve(got["removed/terraform.tfstate"])
	require.Equal(t, src, gone.RestoreVersion)

	// Approved, but neither restore nor forget named: never a deleted digest.
	res := f.repairer().Repair(ctx, RepairInput{Approved: []DigestApproval{gone, removed}})
	for _, r := range res {
		assert.Equal(t, RepairRefused, r.Outcome)
		assert.Contains(t, r.Reason, "its digest is never deleted")
	}
	_, ok := f.digest("removed/terraform.tfstate")
	require.True(t, ok)

	res = f.repairer().Repair(ctx, RepairInput{Approved: []DigestApproval{gone, removed},
		Restore: map[string]bool{src: true}, Forget: map[string]bool{removed.LockPath: true}})
	require.Len(t, res, 2)
	for _, r := range res {
		require.NoError(t, r.Err)
		assert.Equal(t, RepairDone, r.Outcome, r.Reason)
	}
	assert.Equal(t, ActionRestoreState, res[0].Action)
	assert.Equal(t, src, res[0].RestoredFrom)
	restored, ok := objectBody(t, f.s3, f.bucket, "gone/terraform.tfstate")
	require.True(t, ok)
	assert.Equal(t, body, restored, "restored byte for byte")
	assert.Equal(t, ActionForgetDigest, res[1].Action)
	_, ok = f.digest("removed/terraform.tfstate")
	assert.False(t, ok, "forgotten on request")
	got = f.check()
	assert.Equal(t, DigestOK, got["gone/terraform.tfstate"].Status)
	assert.NotContains(t, got, "removed/terraform.tfstate")
}

func TestStateIdentityReadsACutOffHead(t *testing.T) {
	t.Parallel()
	full := stateJSON("abc-123", 42, strings.Repeat("z", 100))
	for _, n := range []int{len(full), 120} {
		lin, serial, ok := stateIdentity([]byte(full[:n]))
		assert.True(t, ok, n)
		assert.Equal(t, "abc-123", lin)
		assert.Equal(t, uint64(42), serial)
	}
	_, _, ok := stateIdentity([]byte("not json"))
	assert.False(t, ok)
}

// lockSpy looks at the state's locks at the moment the repair writes the
// digest.
type lockSpy struct {
	DigestTableAPI
	f        *digestFixture
	path     string
	inTable  string
	inBucket string
	heldFile bool
}

func (s *lockSpy) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opt ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if key := in.Item["LockID"].(*types.AttributeValueMemberS).Value; key == s.path+DigestSuffix {
		s.inTable, _ = getInfo(s.f.t, s.f.ddb, s.f.table, s.path)
		s.inBucket, s.heldFile = objectBody(s.f.t, s.f.s3, s.f.bucket, strings.TrimPrefix(s.path, s.f.bucket+"/")+LockFileSuffix)
	}
	return s.DigestTableAPI.PutItem(ctx, in, opt...)
}

func TestDigestRepairHoldsTheLockInTerraformsFormat(t *testing.T) {
	t.Parallel()
	f := newDigestFixture(t)
	key := "held/terraform.tfstate"
	f.terraformWrite(key, stateJSON("l", 1, "a"))
	f.write(key, stateJSON("l", 1, "b"))
	chk := f.check()[key]
	spy := &lockSpy{DigestTableAPI: f.ddb, f: f, path: chk.LockPath}
	r := f.repairer()
	r.Table = spy
	res := r.Repair(context.Background(), RepairInput{Approved: []DigestApproval{approve(chk)}})
	require.Equal(t, RepairDone, res[0].Outcome, res[0].Reason)
	require.NotEmpty(t, spy.inTable, "the lock item is held while the digest is written")
	require.True(t, spy.heldFile, "the lock file is held while the digest is written")
	assert.Equal(t, spy.inTable, spy.inBucket, "one lock, the same Info in both places, as Terraform takes it")
	l := ParseLock(chk.LockPath, spy.inTable, Location{})
	assert.Empty(t, l.ParseProblem)
	assert.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, l.ID())
	assert.Equal(t, "tester@host", l.Info.Who)
	assert.Equal(t, chk.LockPath, l.Info.Path)
}
