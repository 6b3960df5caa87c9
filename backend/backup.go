package backend

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/text2agent/tfstate-guard/lockcheck"
)

// BackupPrefix is where backups are stored in the state bucket.
const BackupPrefix = "backups/"

// backupTimeFormat is UTC, sortable, and free of ':' (awkward in shells).
const backupTimeFormat = "20060102T150405Z"

// BackupOptions locates the state to copy.
type BackupOptions struct {
	Bucket             string
	Key                string
	Workspace          string
	WorkspaceKeyPrefix string // "" means Terraform's default "env:"
	Now                func() time.Time
}

// BackupResult says what was copied.
type BackupResult struct {
	Bucket string
	// SourceKey is the state object's key (workspace prefix included) and
	// SourceVersionID the version copied ("" in an unversioned bucket).
	SourceKey       string
	SourceVersionID string
	// Key is the backup's key, "" when there was no state yet (NoState).
	Key       string
	VersionID string
	NoState   bool
	Size      int64
	// Encryption is the server-side encryption both objects carry
	// ("AES256", "aws:kms", or "" when the endpoint reports none) and
	// KMSKeyID the KMS key for aws:kms.
	Encryption string
	KMSKeyID   string
	Time       time.Time
}

// BackupKey is the backup key of a state object taken at t:
// "backups/<state key>.<UTC timestamp>", for example
// backups/team/production/terraform.tfstate.20250102T150405Z. The whole
// state key is kept so that states sharing a file name never mix.
func BackupKey(statePath string, t time.Time) string {
	return BackupPrefix + statePath + "." + t.UTC().Format(backupTimeFormat)
}

// Backup copies the current state object to BackupKey with the same
// server-side encryption. No state yet is not an error: the result then
// has NoState set and an empty Key.
func Backup(ctx context.Context, api S3API, o BackupOptions) (*BackupResult, error) {
	if err := validateBucketName(o.Bucket); err != nil {
		return nil, err
	}
	if o.Key == "" {
		return nil, &ConfigError{Input: "state-key", Message: "state-key is empty; set it to the state object's key"}
	}
	if err := validateStateKey(o.Key); err != nil {
		return nil, err
	}
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	src := statePath(o.Bucket, o.Key, o.WorkspaceKeyPrefix, o.Workspace)
	res := &BackupResult{Bucket: o.Bucket, SourceKey: src, Time: now().UTC()}

	head, err := api.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(o.Bucket), Key: aws.String(src)})
	switch {
	case err == nil:
	case hasCode(err, "NoSuchBucket"):
		return nil, missingBucket(o.Bucket, err)
	case httpStatus(err) == http.StatusNotFound || hasCode(err, "NotFound", "NoSuchKey"):
		// HeadObject has no body, so a missing bucket also answers a bare
		// 404: ask the bucket before calling it "no state yet".
		if _, berr := api.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(o.Bucket)}); berr != nil {
			if httpStatus(berr) == http.StatusNotFound || hasCode(berr, "NotFound", "NoSuchBucket") {
				return nil, missingBucket(o.Bucket, berr)
			}
			return nil, denied(berr, "s3:ListBucket", o.Bucket, fmt.Sprintf("check bucket %q", o.Bucket))
		}
		res.NoState = true
		return res, nil
	default:
		return nil, denied(err, "s3:GetObject", o.Bucket+"/"+src, fmt.Sprintf("read state %q in bucket %q", src, o.Bucket))
	}

	res.Key = BackupKey(src, res.Time)
	res.SourceVersionID = aws.ToString(head.VersionId)
	res.Size = aws.ToInt64(head.ContentLength)
	res.Encryption = string(head.ServerSideEncryption)
	in := &s3.CopyObjectInput{
		Bucket:            aws.String(o.Bucket),
		Key:               aws.String(res.Key),
		CopySource:        aws.String(copySource(o.Bucket, src, res.SourceVersionID)),
		CopySourceIfMatch: head.ETag, // the object as inspected, or nothing
		MetadataDirective: types.MetadataDirectiveCopy,
	}
	switch head.ServerSideEncryption {
	case types.ServerSideEncryptionAwsKms, types.ServerSideEncryptionAwsKmsDsse:
		in.ServerSideEncryption = head.ServerSideEncryption
		in.SSEKMSKeyId = head.SSEKMSKeyId
		in.BucketKeyEnabled = head.BucketKeyEnabled
		res.KMSKeyID = aws.ToString(head.SSEKMSKeyId)
	case "":
		// The endpoint reports none: the bucket default applies to the copy.
	default:
		in.ServerSideEncryption = head.ServerSideEncryption
	}
	out, err := api.CopyObject(ctx, in)
	if err != nil {
		return nil, denied(err, "s3:GetObject and s3:PutObject", o.Bucket+"/"+BackupPrefix+"*", fmt.Sprintf("copy state %q to %q in bucket %q", src, res.Key, o.Bucket))
	}
	res.VersionID = aws.ToString(out.VersionId)
	return res, nil
}

// copySource is "bucket/key[?versionId=v]" with the key URL-encoded per
// path segment, as CopyObject requires.
func copySource(bucket, key, versionID string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	src := bucket + "/" + strings.Join(segs, "/")
	if versionID != "" {
		src += "?versionId=" + url.QueryEscape(versionID)
	}
	return src
}

// missingBucket says the state bucket does not exist, in the words every
// mode uses (a *lockcheck.MissingError naming state-bucket and aws-region).
func missingBucket(bucket string, err error) error {
	me := &lockcheck.MissingError{Kind: "state bucket", Name: bucket, Inputs: []string{"state-bucket", "aws-region"}, Err: err}
	me.Hint = "or run mode setup first, which creates it"
	return me
}
