package lockcheck

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// S3API lists the S3 calls lock handling makes, with the SDK's exact signatures.
type S3API interface {
	ListObjectsV2(ctx context.Context, params *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	GetObject(ctx context.Context, params *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	DeleteObject(ctx context.Context, params *s3.DeleteObjectInput, optFns ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
	HeadBucket(ctx context.Context, params *s3.HeadBucketInput, optFns ...func(*s3.Options)) (*s3.HeadBucketOutput, error)
}

var _ S3API = (*s3.Client)(nil)

// LockFileSuffix ends the key of an S3-native lock (use_lockfile = true).
const LockFileSuffix = ".tflock"

// maxLockFileSize bounds what is read of one .tflock object: Terraform's
// are a few hundred bytes; a huge one is reported, not loaded.
const maxLockFileSize = 64 << 10

// S3Store reads and removes .tflock objects in a state bucket.
type S3Store struct {
	API    S3API
	Bucket string
	Prefix string
	// PageSize caps keys per list page (0: S3's 1,000).
	PageSize int32
}

var _ Store = (*S3Store)(nil)

// Name implements Store.
func (s *S3Store) Name() string { return fmt.Sprintf("S3 bucket %q", s.Bucket) }

// Holds implements Store.
func (s *S3Store) Holds(loc Location) bool { return loc.Source == SourceS3 && loc.Bucket == s.Bucket }

// Check implements Store.
func (s *S3Store) Check(ctx context.Context) error {
	if _, err := s.API.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(s.Bucket)}); err != nil {
		if me, ok := missingBucket(s.Bucket, err); ok {
			return me
		}
		return fmt.Errorf("state bucket %q cannot be read (%s; check state-bucket and aws-region): %w", s.Bucket, fixFor(err, "s3:ListBucket"), err)
	}
	return nil
}

// Snapshot implements Store: lists *.tflock of states at or below Prefix
// (whole path segments; paginated) and
// reads each one. S3 reads are strongly consistent.
func (s *S3Store) Snapshot(ctx context.Context) (Snapshot, error) {
	var snap Snapshot
	in := &s3.ListObjectsV2Input{Bucket: aws.String(s.Bucket)}
	if s.Prefix != "" {
		in.Prefix = aws.String(s.Prefix)
	}
	if s.PageSize > 0 {
		in.MaxKeys = aws.Int32(s.PageSize)
	}
	var keys, leaseKeys []string
	p := s3.NewListObjectsV2Paginator(s.API, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			if me, ok := missingBucket(s.Bucket, err); ok {
				return snap, me
			}
			return snap, fmt.Errorf("list .tflock objects in bucket %q (%s): %w", s.Bucket, fixFor(err, "s3:ListBucket"), err)
		}
		for _, obj := range page.Contents {
			// S3 lists by plain key prefix; the state key must be under
			// Prefix by whole segments, as lock-id-prefix (UnderPrefix).
			if key := aws.ToString(obj.Key); strings.HasSuffix(key, LockFileSuffix) && UnderPrefix(strings.TrimSuffix(key, LockFileSuffix), s.Prefix) {
				keys = append(keys, key)
			} else if strings.HasSuffix(key, LeaseObjectSuffix) {
				leaseKeys = append(leaseKeys, key) // issue 18: never a lock
			}
		}
	}
	// One GetObject per lock file, a few at a time: read one after the
	// other, each lock file cost a round trip to S3.
	type read struct {
		raw     string
		loc     Location
		present bool
		err     error
	}
	reads := make([]read, len(keys))
	sem := make(chan struct{}, maxConcurrentLockReads)
	var wg sync.WaitGroup
	for i, key := range keys {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			r := &reads[i]
			r.raw, r.loc, r.present, r.err = s.read(ctx, key)
		}()
	}
	wg.Wait()
	for i, r := range reads {
		if r.err != nil {
			return snap, r.err
		}
		if r.present {
			snap.Locks = append(snap.Locks, ParseLock(s.lockPath(keys[i]), r.raw, r.loc))
		}
	}
	return snap, s.readLeases(ctx, leaseKeys, &snap)
}

// maxConcurrentLockReads bounds parallel GetObject calls of one snapshot.
const maxConcurrentLockReads = 8

// lockPath is the state's lock path: "<bucket>/<state key>".
func (s *S3Store) lockPath(key string) string {
	return s.Bucket + "/" + strings.TrimSuffix(key, LockFileSuffix)
}

func (s *S3Store) keyOf(lockPath string) string {
	return strings.TrimPrefix(lockPath, s.Bucket+"/") + LockFileSuffix
}

func (s *S3Store) read(ctx context.Context, key string) (string, Location, bool, error) {
	loc := Location{Source: SourceS3, Bucket: s.Bucket, Key: key}
	out, err := s.API.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(key)})
	if err != nil {
		var nsk *types.NoSuchKey
		if errors.As(err, &nsk) || httpStatus(err) == http.StatusNotFound {
			return "", loc, false, nil // released between list and read
		}
		return "", loc, false, fmt.Errorf("read lock file s3://%s/%s (%s): %w", s.Bucket, key, fixFor(err, "s3:GetObject"), err)
	}
	defer out.Body.Close()
	body, err := io.ReadAll(io.LimitReader(out.Body, maxLockFileSize+1))
	if err != nil {
		return "", loc, false, fmt.Errorf("read lock file s3://%s/%s: %w", s.Bucket, key, err)
	}
	if len(body) > maxLockFileSize {
		body = body[:maxLockFileSize]
	}
	loc.ETag = aws.ToString(out.ETag)
	loc.Raw = string(body)
	return loc.Raw, loc, true, nil
}

// Current implements Store.
func (s *S3Store) Current(ctx context.Context, lockPath string, loc Location) (string, Location, bool, error) {
	return s.read(ctx, s.keyOf(lockPath))
}

// RemoveIfUnchanged implements Store: DeleteObject with If-Match on the ETag
// that was read; S3 answers 412 when the object changed since.
func (s *S3Store) RemoveIfUnchanged(ctx context.Context, lockPath, _ string, loc Location) error {
	if loc.ETag == "" {
		return fmt.Errorf("remove lock file s3://%s/%s: no ETag was read, so it cannot be removed safely", s.Bucket, loc.Key)
	}
	_, err := s.API.DeleteObject(ctx, &s3.DeleteObjectInput{
		Bucket:  aws.String(s.Bucket),
		Key:     aws.String(s.keyOf(lockPath)),
		IfMatch: aws.String(loc.ETag),
	})
	if err != nil {
		if st := httpStatus(err); st == http.StatusPreconditionFailed || st == http.StatusNotFound {
			return fmt.Errorf("remove lock file s3://%s/%s: %w", s.Bucket, s.keyOf(lockPath), ErrLockChanged)
		}
		return fmt.Errorf("remove lock file s3://%s/%s (%s): %w", s.Bucket, s.keyOf(lockPath), fixFor(err, "s3:DeleteObject"), err)
	}
	return nil
}

func httpStatus(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "PreconditionFailed" {
		return http.StatusPreconditionFailed
	}
	return 0
}

// RecordsOnly wraps the lock table to read its run records but none of its
// locks: with lock-source s3, the table still holds setup's run records.
// A missing table only means there are no records.
type RecordsOnly struct{ Store *DynamoDBStore }

var _ Store = (*RecordsOnly)(nil)

// Name implements Store.
func (r *RecordsOnly) Name() string { return r.Store.Name() + " (run records)" }

// Check implements Store: a missing table is fine, a refused one is not.
func (r *RecordsOnly) Check(ctx context.Context) error {
	if err := r.Store.Check(ctx); err != nil && !isTableMissing(err) {
		return err
	}
	return nil
}

// Snapshot implements Store, keeping records and dropping locks.
func (r *RecordsOnly) Snapshot(ctx context.Context) (Snapshot, error) {
	snap, err := r.Store.Snapshot(ctx)
	if isTableMissing(err) {
		return Snapshot{}, nil
	}
	snap.Locks = nil
	return snap, err
}

// Holds implements Store: it holds no locks.
func (r *RecordsOnly) Holds(Location) bool { return false }

// Current implements Store; never called, as it holds no locks.
func (r *RecordsOnly) Current(context.Context, string, Location) (string, Location, bool, error) {
	return "", Location{}, false, errors.New("run records hold no locks")
}

// RemoveIfUnchanged implements Store; never called, as it holds no locks.
func (r *RecordsOnly) RemoveIfUnchanged(context.Context, string, string, Location) error {
	return errors.New("run records hold no locks")
}

func isTableMissing(err error) bool {
	var nf *ddbtypes.ResourceNotFoundException
	return errors.As(err, &nf)
}
