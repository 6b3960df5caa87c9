package lockcheck

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// DigestApproval is one approved digest mismatch, as detect reported it.
// Every field is re-checked before anything is written.
type DigestApproval struct {
	LockPath string
	// Digest is the digest item's value as detect read it.
	Digest string
	// VersionID and ActualMD5 are the state object's current version and
	// the MD5 of its bytes as detect hashed them (empty for a missing state).
	VersionID string
	ActualMD5 string
	// Missing is set when detect found no state object.
	Missing bool
	// RestoreVersion is the newest version whose MD5 equals Digest.
	RestoreVersion string
}

// RepairAction is what a digest repair does.
type RepairAction string

const (
	ActionSetDigest    RepairAction = "set-digest"    // digest := MD5 of the current state
	ActionRestoreState RepairAction = "restore-state" // state := the version matching the digest
	ActionForgetDigest RepairAction = "forget-digest" // delete the digest of a removed state
)

// RepairOutcome is how one repair ended.
type RepairOutcome string

const (
	RepairDone    RepairOutcome = "repaired"
	RepairRefused RepairOutcome = "refused"
	RepairFailed  RepairOutcome = "failed"
)

// DigestRepair reports one repair so that it can be undone: the digest
// before and after and the state version it names.
type DigestRepair struct {
	LockPath  string
	Action    RepairAction
	Outcome   RepairOutcome
	OldDigest string
	NewDigest string
	// VersionID is the state version the digest now matches (after a
	// restore: the new version holding the restored bytes).
	VersionID string
	// RestoredFrom is the version whose bytes were restored.
	RestoredFrom string
	// Reason says why it was refused, or what was checked.
	Reason string
	Err    error
}

// DigestRepairer repairs approved digest mismatches, each under the
// state's lock taken in Terraform's format.
type DigestRepairer struct {
	Table     DigestTableAPI
	TableName string
	S3        StateAPI
	// AllowRollback lets a digest follow a state whose lineage differs
	// from the previous version's or whose serial went down.
	AllowRollback bool
	// ReadLimit bounds the state bytes read in all (0: no bound).
	ReadLimit int64
	// Who and Version fill the lock's Info, as Terraform's do.
	Who     string
	Version string
	Now     func() time.Time
}

// RepairInput is what unlock was asked to do about approved mismatches.
type RepairInput struct {
	Approved []DigestApproval
	// Restore holds the version IDs approved for restore (restore-state-version).
	Restore map[string]bool
	// Forget holds the lock paths whose digest may be deleted (forget-digests).
	Forget map[string]bool
}

// Repair handles every approved mismatch, one after the other.
func (r *DigestRepairer) Repair(ctx context.Context, in RepairInput) []DigestRepair {
	b := newBudget(r.ReadLimit)
	var out []DigestRepair
	for _, ap := range in.Approved {
		res := DigestRepair{LockPath: ap.LockPath, OldDigest: ap.Digest}
		switch {
		case !ap.Missing && in.Forget[ap.LockPath]:
			res.Action, res.Outcome = ActionForgetDigest, RepairRefused
			res.Reason = "forget-digests names this state, but detect found its state object: a digest is forgotten only for a state removed on purpose; approve it without forget-digests to set the digest to the state's MD5"
		case !ap.Missing:
			res.Action = ActionSetDigest
			r.underLock(ctx, &res, func() { r.setDigest(ctx, ap, &res, b) })
		case ap.RestoreVersion != "" && in.Restore[ap.RestoreVersion]:
			res.Action = ActionRestoreState
			r.underLock(ctx, &res, func() { r.restore(ctx, ap, &res, b) })
		case in.Forget[ap.LockPath]:
			res.Action = ActionForgetDigest
			r.underLock(ctx, &res, func() { r.forget(ctx, ap, &res) })
		default:
			res.Action, res.Outcome = ActionRestoreState, RepairRefused
			fix := "no stored version has the digest's MD5, so there is nothing to restore"
			if ap.RestoreVersion != "" {
				fix = fmt.Sprintf("to restore version %s (its MD5 equals the digest), pass restore-state-version: %s", ap.RestoreVersion, ap.RestoreVersion)
			}
			res.Reason = fmt.Sprintf("the state object is missing and its digest is never deleted to 'repair' it (Terraform would then see no state and plan to create everything again): %s; if the state was removed on purpose, pass forget-digests: %s", fix, ap.LockPath)
		}
		out = append(out, res)
	}
	return out
}

func (res *DigestRepair) refuse(format string, args ...any) {
	res.Outcome, res.Reason = RepairRefused, fmt.Sprintf(format, args...)
}

func (res *DigestRepair) fail(err error) {
	res.Outcome, res.Err = RepairFailed, err
}

// setDigest sets the digest to the MD5 of the current bytes, after checking
// that neither the state nor the digest changed since detect.
func (r *DigestRepairer) setDigest(ctx context.Context, ap DigestApproval, res *DigestRepair, b *budget) {
	bucket, key, _ := SplitLockPath(ap.LockPath)
	if !r.digestUnchanged(ctx, ap, res) {
		return
	}
	cur, present, err := hashVersion(ctx, r.S3, bucket, key, "", b)
	if err != nil {
		res.fail(err)
		return
	}
	switch {
	case !present:
		res.refuse("the state object was deleted since detect: run detect again")
		return
	case cur.VersionID != ap.VersionID || cur.MD5 != strings.ToLower(ap.ActualMD5):
		res.refuse("the state changed since detect (now version %s, MD5 %s; approved version %s, MD5 %s): run detect again and approve what it reports", cur.VersionID, cur.MD5, ap.VersionID, ap.ActualMD5)
		return
	}
	prev, err := r.previous(ctx, bucket, key, cur.VersionID, b)
	if err != nil {
		res.fail(err)
		return
	}
	if prev != nil && !r.AllowRollback {
		switch {
		case cur.HasSerial && prev.HasSerial && cur.Lineage != prev.Lineage:
			res.refuse("the state's lineage %s differs from the previous version's (%s, version %s): this looks like another stack's state put in its place; restore the right state, or pass allow-state-rollback: true if this state is meant to be here", cur.Lineage, prev.Lineage, prev.VersionID)
			return
		case cur.HasSerial && prev.HasSerial && cur.Serial < prev.Serial:
			res.refuse("the state's serial went down from %d (version %s) to %d: an older state was put back (a rollback); pass allow-state-rollback: true if that is intended, or restore version %s", prev.Serial, prev.VersionID, cur.Serial, prev.VersionID)
			return
		}
	}
	if !r.putDigest(ctx, ap, cur.MD5, res) {
		return
	}
	res.Outcome, res.NewDigest, res.VersionID = RepairDone, cur.MD5, cur.VersionID
	res.Reason = fmt.Sprintf("digest set to the MD5 of version %s (%d bytes)", cur.VersionID, cur.Size)
}

// restore puts back the approved version's bytes as the current state,
// only if no state object exists and its MD5 equals the digest.
func (r *DigestRepairer) restore(ctx context.Context, ap DigestApproval, res *DigestRepair, b *budget) {
	bucket, key, _ := SplitLockPath(ap.LockPath)
	if !r.digestUnchanged(ctx, ap, res) {
		return
	}
	if _, present, err := hashVersion(ctx, r.S3, bucket, key, "", b); err != nil {
		res.fail(err)
		return
	} else if present {
		res.refuse("a state object exists again since detect: run detect again")
		return
	}
	sv, ok, src, err := readVersion(ctx, r.S3, bucket, key, ap.RestoreVersion, b, true)
	switch {
	case err != nil:
		res.fail(err)
		return
	case !ok:
		res.refuse("version %s of s3://%s/%s no longer exists", ap.RestoreVersion, bucket, key)
		return
	case sv.MD5 != strings.ToLower(ap.Digest):
		res.refuse("version %s has MD5 %s, not the digest %s: it is not the state the digest was written for", ap.RestoreVersion, sv.MD5, ap.Digest)
		return
	}
	data, err := io.ReadAll(src.Body) // the bytes just hashed, kept in memory
	if err != nil {
		res.fail(err)
		return
	}
	put := &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data),
		ContentLength: aws.Int64(sv.Size), ContentType: aws.String("application/json"),
		IfNoneMatch:          aws.String("*"), // a state written meanwhile wins
		ServerSideEncryption: src.ServerSideEncryption, SSEKMSKeyId: src.SSEKMSKeyId,
	}
	out, err := r.S3.PutObject(ctx, put)
	if err != nil {
		if httpStatus(err) == http.StatusPreconditionFailed {
			res.refuse("a state object was written while restoring: nothing was overwritten; run detect again")
			return
		}
		res.fail(fmt.Errorf("restore s3://%s/%s from version %s (%s): %w", bucket, key, ap.RestoreVersion, fixFor(err, "s3:PutObject"), err))
		return
	}
	res.Outcome, res.NewDigest, res.RestoredFrom = RepairDone, ap.Digest, ap.RestoreVersion
	res.VersionID = aws.ToString(out.VersionId)
	res.Reason = fmt.Sprintf("state restored from version %s (%d bytes, MD5 equal to the digest) as version %s", ap.RestoreVersion, sv.Size, res.VersionID)
}

// forget deletes the digest of a state removed on purpose.
func (r *DigestRepairer) forget(ctx context.Context, ap DigestApproval, res *DigestRepair) {
	bucket, key, _ := SplitLockPath(ap.LockPath)
	if !r.digestUnchanged(ctx, ap, res) {
		return
	}
	if _, present, err := hashVersion(ctx, r.S3, bucket, key, "", newBudget(0)); err != nil {
		res.fail(err)
		return
	} else if present {
		res.refuse("a state object exists again since detect: its digest is not forgotten; run detect again")
		return
	}
	_, err := r.Table.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String(r.TableName), Key: lockKey(ap.LockPath + DigestSuffix),
		ConditionExpression:       aws.String("#d = :old"),
		ExpressionAttributeNames:  map[string]string{"#d": attrDigest},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":old": &ddbtypes.AttributeValueMemberS{Value: ap.Digest}},
	})
	if err != nil {
		var ccf *ddbtypes.ConditionalCheckFailedException
		if errors.As(err, &ccf) {
			res.refuse("the digest changed while forgetting it: nothing was deleted; run detect again")
			return
		}
		res.fail(fmt.Errorf("delete digest %q from table %q (%s): %w", ap.LockPath+DigestSuffix, r.TableName, fixFor(err, "dynamodb:DeleteItem"), err))
		return
	}
	res.Outcome = RepairDone
	res.Reason = "digest deleted: the state was removed on purpose (forget-digests)"
}

// digestUnchanged re-reads the digest item and refuses when it is not the
// one approved.
func (r *DigestRepairer) digestUnchanged(ctx context.Context, ap DigestApproval, res *DigestRepair) bool {
	out, err := r.Table.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(r.TableName), Key: lockKey(ap.LockPath + DigestSuffix), ConsistentRead: aws.Bool(true)})
	if err != nil {
		res.fail(fmt.Errorf("read digest %q from table %q (%s): %w", ap.LockPath+DigestSuffix, r.TableName, fixFor(err, "dynamodb:GetItem"), err))
		return false
	}
	d, ok := out.Item[attrDigest].(*ddbtypes.AttributeValueMemberS)
	switch {
	case out.Item == nil || !ok:
		res.refuse("the digest item is gone since detect: nothing to repair")
		return false
	case d.Value != ap.Digest:
		res.refuse("the digest changed since detect (now %s, approved %s): Terraform wrote state meanwhile; run detect again", d.Value, ap.Digest)
		return false
	}
	return true
}

// putDigest writes the new digest only if the item still holds the old one.
func (r *DigestRepairer) putDigest(ctx context.Context, ap DigestApproval, digest string, res *DigestRepair) bool {
	_, err := r.Table.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(r.TableName),
		Item: map[string]ddbtypes.AttributeValue{
			attrLockID: &ddbtypes.AttributeValueMemberS{Value: ap.LockPath + DigestSuffix},
			attrDigest: &ddbtypes.AttributeValueMemberS{Value: digest},
		},
		ConditionExpression:       aws.String("#d = :old"),
		ExpressionAttributeNames:  map[string]string{"#d": attrDigest},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":old": &ddbtypes.AttributeValueMemberS{Value: ap.Digest}},
	})
	if err != nil {
		var ccf *ddbtypes.ConditionalCheckFailedException
		if errors.As(err, &ccf) {
			res.refuse("the digest changed while repairing it: nothing was written; run detect again")
			return false
		}
		res.fail(fmt.Errorf("write digest %q to table %q (%s): %w", ap.LockPath+DigestSuffix, r.TableName, fixFor(err, "dynamodb:PutItem"), err))
		return false
	}
	return true
}

// previous hashes the newest version older than versionID, or returns nil
// when the bucket keeps none.
func (r *DigestRepairer) previous(ctx context.Context, bucket, key, versionID string, b *budget) (*StateVersion, error) {
	vers, _, _, err := listVersions(ctx, r.S3, bucket, key)
	if err != nil {
		return nil, err
	}
	for i, v := range vers {
		if aws.ToString(v.VersionId) != versionID || i+1 >= len(vers) {
			continue
		}
		sv, ok, err := hashVersion(ctx, r.S3, bucket, key, aws.ToString(vers[i+1].VersionId), b)
		if err != nil || !ok {
			return nil, err
		}
		return &sv, nil
	}
	return nil, nil
}

// underLock runs fn holding the state's lock, taken as Terraform takes it
// with both lock methods: the .tflock object (If-None-Match: *), then the
// table's lock item (attribute_not_exists). A held lock refuses the repair.
func (r *DigestRepairer) underLock(ctx context.Context, res *DigestRepair, fn func()) {
	bucket, key, ok := SplitLockPath(res.LockPath)
	if !ok {
		res.refuse("%q is not <bucket>/<state key>", res.LockPath)
		return
	}
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	info := Info{ID: newLockID(), Operation: "tfstate-guard digest repair", Who: r.Who, Version: r.Version,
		Created: now().UTC().Format(time.RFC3339Nano), Path: res.LockPath}
	raw, _ := json.Marshal(info)
	lockKeyS3 := key + LockFileSuffix
	put, err := r.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(lockKeyS3),
		Body: strings.NewReader(string(raw)), ContentType: aws.String("application/json"), IfNoneMatch: aws.String("*")})
	if err != nil {
		if httpStatus(err) == http.StatusPreconditionFailed {
			res.refuse("the state is locked (lock file s3://%s/%s exists): a Terraform run holds it; wait for it, or clear a dead lock with unlock first", bucket, lockKeyS3)
			return
		}
		res.fail(fmt.Errorf("lock the state with s3://%s/%s (%s): %w", bucket, lockKeyS3, fixFor(err, "s3:PutObject on *.tflock"), err))
		return
	}
	releaseFile := func() {
		if _, err := r.S3.DeleteObject(context.WithoutCancel(ctx), &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(lockKeyS3), IfMatch: put.ETag}); err != nil && res.Err == nil {
			// The repair itself stands (Outcome is kept); the lock left behind is the failure.
			res.Err = fmt.Errorf("release lock file s3://%s/%s (remove it by hand if it is still there; its ID is %s): %w", bucket, lockKeyS3, info.ID, err)
		}
	}
	_, err = r.Table.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(r.TableName),
		Item: map[string]ddbtypes.AttributeValue{
			attrLockID: &ddbtypes.AttributeValueMemberS{Value: res.LockPath},
			attrInfo:   &ddbtypes.AttributeValueMemberS{Value: string(raw)},
		},
		ConditionExpression: aws.String("attribute_not_exists(LockID)"),
	})
	if err != nil {
		releaseFile()
		var ccf *ddbtypes.ConditionalCheckFailedException
		if errors.As(err, &ccf) {
			res.refuse("the state is locked (lock item %q in table %q): a Terraform run holds it; wait for it, or clear a dead lock with unlock first", res.LockPath, r.TableName)
			return
		}
		res.fail(fmt.Errorf("lock the state in table %q (%s): %w", r.TableName, fixFor(err, "dynamodb:PutItem"), err))
		return
	}
	fn()
	_, err = r.Table.DeleteItem(context.WithoutCancel(ctx), &dynamodb.DeleteItemInput{
		TableName: aws.String(r.TableName), Key: lockKey(res.LockPath),
		ConditionExpression:       aws.String("#info = :info"),
		ExpressionAttributeNames:  map[string]string{"#info": attrInfo},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":info": &ddbtypes.AttributeValueMemberS{Value: string(raw)}},
	})
	if err != nil && res.Err == nil {
		res.Err = fmt.Errorf("release lock %q in table %q (remove it with unlock, lock ID %s): %w", res.LockPath, r.TableName, info.ID, err)
	}
	releaseFile()
}

// newLockID makes a random UUID (version 4), the shape of Terraform's lock IDs.
func newLockID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
