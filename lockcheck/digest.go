package lockcheck

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// DigestSuffix ends the LockID of the item in which Terraform's S3 backend
// (with dynamodb_table) keeps the hex MD5 of the state it last wrote.
const DigestSuffix = "-md5"

// DigestTableAPI lists the DynamoDB calls digest checking and repair make,
// with the SDK's exact signatures.
type DigestTableAPI interface {
	Scan(ctx context.Context, params *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
	GetItem(ctx context.Context, params *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, params *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	DeleteItem(ctx context.Context, params *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
}

var _ DigestTableAPI = (*dynamodb.Client)(nil)

// StateAPI lists the S3 calls digest checking and repair make on state
// objects, with the SDK's exact signatures.
type StateAPI interface {
	GetObject(ctx context.Context, params *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	ListObjectVersions(ctx context.Context, params *s3.ListObjectVersionsInput, optFns ...func(*s3.Options)) (*s3.ListObjectVersionsOutput, error)
	PutObject(ctx context.Context, params *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	DeleteObject(ctx context.Context, params *s3.DeleteObjectInput, optFns ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
}

var _ StateAPI = (*s3.Client)(nil)

// DigestStatus is what checking one digest item found.
type DigestStatus string

const (
	DigestOK        DigestStatus = "ok"        // the digest is the MD5 of the state's bytes
	DigestMismatch  DigestStatus = "mismatch"  // it is not: Terraform fails every read
	DigestMissing   DigestStatus = "missing"   // the state object is gone, its digest stays
	DigestUnchecked DigestStatus = "unchecked" // not read (read limit, or an error said why)
)

// Cause kinds: the likely cause of a mismatch, for code; Cause is the words.
const (
	CauseStateMissing    = "state-missing"
	CauseChangedOutside  = "changed-outside-terraform"
	CauseLockFileOnly    = "lock-file-only-runs"
	CauseStateRolledBack = "state-rolled-back"
)

// StateVersion is what was learned of one version of a state object by
// hashing its bytes. MD5 is always computed from the bytes, never taken
// from an ETag (multipart uploads and SSE-KMS make the ETag something else).
type StateVersion struct {
	VersionID    string
	MD5          string
	Size         int64
	LastModified time.Time
	// Lineage and Serial are the state's own; HasSerial is false when the
	// bytes are not Terraform state JSON.
	Lineage   string
	Serial    uint64
	HasSerial bool
}

// DigestCheck is one digest item compared with its state object.
type DigestCheck struct {
	// LockPath is "<bucket>/<state key>"; the digest item is LockPath+"-md5".
	LockPath string
	Bucket   string
	Key      string
	// Digest is the item's Digest value, exactly as read.
	Digest string
	Status DigestStatus
	// Current is the state object as hashed (zero when missing).
	Current StateVersion
	// Previous is the newest version before Current (or, for a missing
	// state, the newest version), when the bucket keeps versions.
	Previous *StateVersion
	// Matching is the newest earlier version whose MD5 equals Digest: the
	// version the digest was written for, and the one to restore a
	// missing state from.
	Matching *StateVersion
	// LockFileWrites counts .tflock versions written after Matching (or
	// at all, when no version matched): lock-file-only runs leave them.
	LockFileWrites int
	CauseKind      string
	Cause          string
	// Unchecked says why Status is DigestUnchecked; Err is set when the
	// reason is a failed AWS call (not the read limit).
	Unchecked string
	Err       error
}

// DigestReport is every digest item checked in one detect.
type DigestReport struct {
	Checks []DigestCheck
	// BytesRead counts state bytes hashed; LimitReached is set when the
	// read limit stopped a read, and the states not read are DigestUnchecked.
	BytesRead    int64
	ReadLimit    int64
	LimitReached bool
}

// Mismatches returns the checks Terraform would fail on: mismatched
// digests and digests of missing states.
func (r *DigestReport) Mismatches() []DigestCheck {
	var out []DigestCheck
	for _, c := range r.Checks {
		if c.Status == DigestMismatch || c.Status == DigestMissing {
			out = append(out, c)
		}
	}
	return out
}

// Count returns how many checks have status s.
func (r *DigestReport) Count(s DigestStatus) int {
	n := 0
	for _, c := range r.Checks {
		if c.Status == s {
			n++
		}
	}
	return n
}

// DigestChecker compares the digest items of a lock table with the MD5 of
// the state objects' bytes.
type DigestChecker struct {
	Table     DigestTableAPI
	TableName string
	S3        StateAPI
	// Prefix keeps only states whose lock path starts with it (lock-id-prefix).
	Prefix string
	// ReadLimit bounds the state bytes read in all (0: no bound).
	ReadLimit int64
	// Concurrency bounds parallel state reads (0: 8).
	Concurrency int
	// MaxVersions bounds the earlier versions hashed per mismatched state
	// in search of the one the digest was written for (0: 20).
	MaxVersions int
}

// ErrReadLimit means the bound on bytes read was reached.
var ErrReadLimit = errors.New("digest read limit reached")

// budget is the bytes left to read over all states.
type budget struct {
	limited bool
	left    atomic.Int64
	used    atomic.Int64
	hit     atomic.Bool
}

func newBudget(limit int64) *budget {
	b := &budget{limited: limit > 0}
	b.left.Store(limit)
	return b
}

// exhausted reports whether nothing more may be read.
func (b *budget) exhausted() bool { return b.limited && b.left.Load() <= 0 }

// take accounts n bytes read; it fails once the bound is passed.
func (b *budget) take(n int) error {
	b.used.Add(int64(n))
	if b.limited && b.left.Add(-int64(n)) < 0 {
		b.hit.Store(true)
		return ErrReadLimit
	}
	return nil
}

// Items reads every digest item (paginated, consistent) whose state path
// starts with Prefix: lock path -> Digest.
func (c *DigestChecker) Items(ctx context.Context) (map[string]string, error) {
	return scanDigests(ctx, c.Table, c.TableName, c.Prefix)
}

func scanDigests(ctx context.Context, api DigestTableAPI, table, prefix string) (map[string]string, error) {
	out := map[string]string{}
	p := dynamodb.NewScanPaginator(api, &dynamodb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			if me, ok := missingTable(table, err); ok {
				return nil, me
			}
			return nil, fmt.Errorf("scan lock table %q for digests (%s): %w", table, fixFor(err, "dynamodb:Scan"), err)
		}
		for _, item := range page.Items {
			key := stringAttr(item, attrLockID)
			d, ok := item[attrDigest].(*ddbtypes.AttributeValueMemberS)
			if !ok || !strings.HasSuffix(key, DigestSuffix) || item[attrInfo] != nil {
				continue
			}
			path := strings.TrimSuffix(key, DigestSuffix)
			if strings.HasPrefix(path, prefix) {
				out[path] = d.Value
			}
		}
	}
	return out, nil
}

// Check compares every digest item with its state object.
func (c *DigestChecker) Check(ctx context.Context) (*DigestReport, error) {
	items, err := c.Items(ctx)
	if err != nil {
		return nil, err
	}
	paths := make([]string, 0, len(items))
	for p := range items {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	rep := &DigestReport{Checks: make([]DigestCheck, len(paths)), ReadLimit: c.ReadLimit}
	b := newBudget(c.ReadLimit)
	n := c.Concurrency
	if n <= 0 {
		n = 8
	}
	sem := make(chan struct{}, n)
	errs := make([]error, len(paths))
	var wg sync.WaitGroup
	for i, p := range paths {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			rep.Checks[i], errs[i] = c.checkOne(ctx, p, items[p], b)
		}()
	}
	wg.Wait()
	rep.BytesRead, rep.LimitReached = b.used.Load(), b.hit.Load()
	// A state that could not be read is reported as not checked, so one
	// refused GetObject does not hide every other state's result.
	for i, err := range errs {
		if err != nil {
			rep.Checks[i].Status, rep.Checks[i].Unchecked, rep.Checks[i].Err = DigestUnchecked, err.Error(), err
		}
	}
	return rep, nil
}

// Failed returns the checks that could not be made because AWS refused or
// failed a call.
func (r *DigestReport) Failed() []DigestCheck {
	var out []DigestCheck
	for _, c := range r.Checks {
		if c.Err != nil {
			out = append(out, c)
		}
	}
	return out
}

// SplitLockPath splits "<bucket>/<key>" (bucket names hold no "/").
func SplitLockPath(lockPath string) (bucket, key string, ok bool) {
	bucket, key, ok = strings.Cut(lockPath, "/")
	return bucket, key, ok && bucket != "" && key != ""
}

func (c *DigestChecker) checkOne(ctx context.Context, path, digest string, b *budget) (DigestCheck, error) {
	chk := DigestCheck{LockPath: path, Digest: digest}
	bucket, key, ok := SplitLockPath(path)
	if !ok {
		chk.Status, chk.Unchecked = DigestUnchecked, "the digest item's LockID is not <bucket>/<key>-md5"
		return chk, nil
	}
	chk.Bucket, chk.Key = bucket, key
	cur, present, err := hashVersion(ctx, c.S3, bucket, key, "", b)
	switch {
	case errors.Is(err, ErrReadLimit):
		chk.Status, chk.Unchecked = DigestUnchecked, "the read limit was reached before this state was read"
		return chk, nil
	case err != nil:
		return chk, err
	}
	if present && cur.MD5 == strings.ToLower(digest) {
		chk.Status, chk.Current = DigestOK, cur
		return chk, nil
	}
	chk.Current = cur
	chk.Status = DigestMismatch
	if !present {
		chk.Status = DigestMissing
	}
	if err := c.explain(ctx, &chk, b); err != nil {
		// The mismatch itself was proven from the bytes; only its history
		// is incomplete, which the cause says.
		if chk.Cause == "" {
			chk.describe(time.Time{})
		}
		if errors.Is(err, ErrReadLimit) {
			chk.Cause += " (the read limit stopped the search through earlier versions)"
		} else {
			chk.Cause += fmt.Sprintf(" (earlier versions could not be read: %v)", err)
		}
	}
	return chk, nil
}

// explain looks through the object's versions for the one the digest was
// written for and names the likely cause.
func (c *DigestChecker) explain(ctx context.Context, chk *DigestCheck, b *budget) error {
	vers, lockWrites, deletedAt, err := listVersions(ctx, c.S3, chk.Bucket, chk.Key)
	if err != nil {
		return err
	}
	defer func() { chk.describe(deletedAt) }()
	var earlier []types.ObjectVersion
	switch {
	case chk.Status == DigestMissing:
		earlier = vers
	case len(vers) > 0 && aws.ToString(vers[0].VersionId) == chk.Current.VersionID:
		earlier = vers[1:]
		chk.Current.LastModified = aws.ToTime(vers[0].LastModified)
	}
	// Otherwise the state was written again between the read and the
	// listing: nothing older is claimed.
	max := c.MaxVersions
	if max <= 0 {
		max = 20
	}
	for i, v := range earlier {
		if i >= max {
			break
		}
		sv, ok, err := hashVersion(ctx, c.S3, chk.Bucket, chk.Key, aws.ToString(v.VersionId), b)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		sv.LastModified = aws.ToTime(v.LastModified) // the listing's, finer than GetObject's header
		if i == 0 {
			p := sv
			chk.Previous = &p
		}
		if sv.MD5 == strings.ToLower(chk.Digest) {
			m := sv
			chk.Matching = &m
			break
		}
	}
	for _, t := range lockWrites {
		// Listings give whole seconds: a lock file of the same second counts.
		if chk.Matching == nil || !t.Before(chk.Matching.LastModified) {
			chk.LockFileWrites++
		}
	}
	return nil
}

// describe sets the cause in words from what was found.
func (chk *DigestCheck) describe(deletedAt time.Time) {
	if chk.Status == DigestMissing {
		chk.CauseKind, chk.Cause = CauseStateMissing, "state object missing"
		if !deletedAt.IsZero() {
			chk.Cause += fmt.Sprintf(" (deleted at %s)", deletedAt.UTC().Format(time.RFC3339))
		}
		if chk.Matching != nil {
			chk.Cause += fmt.Sprintf("; version %s (%s) has the digest's MD5 and can be restored", chk.Matching.VersionID, chk.Matching.LastModified.UTC().Format(time.RFC3339))
		} else {
			chk.Cause += "; no stored version has the digest's MD5"
		}
		return
	}
	cur, prev := chk.Current, chk.Previous
	if prev != nil && cur.HasSerial && prev.HasSerial && cur.Lineage == prev.Lineage && cur.Serial < prev.Serial {
		chk.CauseKind = CauseStateRolledBack
		chk.Cause = fmt.Sprintf("state changed outside Terraform at %s (version %s): serial went down from %d to %d, an older state was put back",
			cur.LastModified.UTC().Format(time.RFC3339), cur.VersionID, prev.Serial, cur.Serial)
		return
	}
	if prev != nil && cur.HasSerial && prev.HasSerial && cur.Lineage == prev.Lineage && cur.Serial > prev.Serial && chk.LockFileWrites > 0 {
		chk.CauseKind = CauseLockFileOnly
		chk.Cause = fmt.Sprintf("digest older than the state: written by lock-file-only runs (%d .tflock write(s) since the digest's version; serial %d -> %d)",
			chk.LockFileWrites, prev.Serial, cur.Serial)
		return
	}
	chk.CauseKind = CauseChangedOutside
	chk.Cause = fmt.Sprintf("state changed outside Terraform at %s (version %s)", cur.LastModified.UTC().Format(time.RFC3339), cur.VersionID)
	if prev != nil && cur.HasSerial && prev.HasSerial && cur.Lineage != prev.Lineage {
		chk.Cause += fmt.Sprintf(": lineage %s replaced %s, another state was put in its place", cur.Lineage, prev.Lineage)
	}
}

// listVersions lists the object's versions (newest first, delete markers
// left out), the times of .tflock writes beside it, and when the latest
// delete marker (if it is the current version) was set.
func listVersions(ctx context.Context, api StateAPI, bucket, key string) ([]types.ObjectVersion, []time.Time, time.Time, error) {
	var vers []types.ObjectVersion
	var locks []time.Time
	var deletedAt time.Time
	in := &s3.ListObjectVersionsInput{Bucket: aws.String(bucket), Prefix: aws.String(key)}
	for page := 0; page < maxVersionPages; page++ {
		out, err := api.ListObjectVersions(ctx, in)
		if err != nil {
			return nil, nil, deletedAt, fmt.Errorf("list versions of s3://%s/%s (%s): %w", bucket, key, fixFor(err, "s3:ListBucketVersions"), err)
		}
		for _, v := range out.Versions {
			switch aws.ToString(v.Key) {
			case key:
				vers = append(vers, v)
			case key + LockFileSuffix:
				locks = append(locks, aws.ToTime(v.LastModified))
			}
		}
		for _, m := range out.DeleteMarkers {
			if aws.ToString(m.Key) == key && aws.ToBool(m.IsLatest) {
				deletedAt = aws.ToTime(m.LastModified)
			}
		}
		if !aws.ToBool(out.IsTruncated) {
			break
		}
		in.KeyMarker, in.VersionIdMarker = out.NextKeyMarker, out.NextVersionIdMarker
	}
	// S3 lists one key's versions newest first; that order is kept (two
	// writes within one timestamp tick would tie on LastModified).
	return vers, locks, deletedAt, nil
}

// maxVersionPages bounds the version listing of one state (1,000 versions
// a page): enough history to explain a mismatch, never a walk of years of
// lock-file versions.
const maxVersionPages = 10

// stateHeadSize is how much of a state's start is kept to read its
// lineage and serial: Terraform writes them before the resources.
const stateHeadSize = 16 << 10

// hashVersion streams one version of the object (versionID "" is the
// current one) through MD5, accounting bytes against the budget.
// present is false when there is no such object or version.
func hashVersion(ctx context.Context, api StateAPI, bucket, key, versionID string, b *budget) (StateVersion, bool, error) {
	sv, present, _, err := readVersion(ctx, api, bucket, key, versionID, b, false)
	return sv, present, err
}

// readVersion is hashVersion that can also keep the bytes (for a restore).
func readVersion(ctx context.Context, api StateAPI, bucket, key, versionID string, b *budget, keep bool) (StateVersion, bool, *s3.GetObjectOutput, error) {
	if b.exhausted() {
		return StateVersion{}, false, nil, ErrReadLimit
	}
	in := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	if versionID != "" {
		in.VersionId = aws.String(versionID)
	}
	out, err := api.GetObject(ctx, in)
	if err != nil {
		var nsk *types.NoSuchKey
		if errors.As(err, &nsk) || httpStatus(err) == http.StatusNotFound || httpStatus(err) == http.StatusMethodNotAllowed {
			// 405 is S3's answer for a version that is a delete marker.
			return StateVersion{}, false, nil, nil
		}
		return StateVersion{}, false, nil, fmt.Errorf("read state s3://%s/%s (%s): %w", bucket, key, fixFor(err, "s3:GetObject and s3:GetObjectVersion"), err)
	}
	defer out.Body.Close()
	h := md5.New()
	head := &capped{max: stateHeadSize}
	var body bytes.Buffer
	w := io.MultiWriter(h, head)
	if keep {
		w = io.MultiWriter(h, head, &body)
	}
	n, err := io.Copy(w, &budgetReader{r: out.Body, b: b})
	if err != nil {
		if errors.Is(err, ErrReadLimit) {
			return StateVersion{}, false, nil, err
		}
		return StateVersion{}, false, nil, fmt.Errorf("read state s3://%s/%s: %w", bucket, key, err)
	}
	vid := aws.ToString(out.VersionId)
	if vid == "" {
		vid = "null" // S3's name for the one version of an unversioned object
	}
	sv := StateVersion{VersionID: vid, MD5: hex.EncodeToString(h.Sum(nil)), Size: n, LastModified: aws.ToTime(out.LastModified)}
	sv.Lineage, sv.Serial, sv.HasSerial = stateIdentity(head.buf.Bytes())
	if keep {
		out.Body = io.NopCloser(&body)
	}
	return sv, true, out, nil
}

type budgetReader struct {
	r io.Reader
	b *budget
}

func (r *budgetReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		if berr := r.b.take(n); berr != nil {
			return n, berr
		}
	}
	return n, err
}

// capped keeps the first max bytes written to it.
type capped struct {
	max int
	buf bytes.Buffer
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

// stateIdentity reads the top-level lineage and serial from the start of a
// state file, token by token, so a cut-off document still yields them.
func stateIdentity(head []byte) (lineage string, serial uint64, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(head))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return "", 0, false
	}
	var gotSerial, gotLineage bool
	for dec.More() && !(gotSerial && gotLineage) {
		t, err := dec.Token()
		if err != nil {
			break
		}
		name, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			break
		}
		switch name {
		case "serial":
			if err := json.Unmarshal(v, &serial); err == nil {
				gotSerial = true
			}
		case "lineage":
			if err := json.Unmarshal(v, &lineage); err == nil {
				gotLineage = true
			}
		}
	}
	return lineage, serial, gotSerial && gotLineage
}
