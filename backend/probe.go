package backend

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// The permission probe proves that the credentials can do what Terraform
// will do, without writing anything:
//
//   - S3 read: ListObjectsV2 on the state path (s3:ListBucket) and
//     HeadObject of the state (s3:GetObject; a missing state answers 404
//     only to a caller that may also list the bucket).
//   - S3 write: PutObject of a probe key next to the state with If-Match on
//     an ETag no object can have. IAM is evaluated before the condition, so
//     403 means s3:PutObject is missing, while 404 NoSuchKey (no object) or
//     412 (another ETag) prove the permission and write nothing. The probe
//     key is never the state itself: a server that ignored If-Match would
//     otherwise overwrite the state.
//   - S3 delete (lock-method s3 or both, whose .tflock objects Terraform
//     deletes): DeleteObject of the probe key with the same impossible
//     If-Match, refused the same way without creating a delete marker.
//   - DynamoDB: GetItem, then PutItem and DeleteItem of a probe key with
//     ConditionExpression attribute_exists(LockID). The key contains '#',
//     which no bucket name (and so no Terraform LockID) can, and is not a
//     run-record key, so the item never exists: the condition always
//     fails, ConditionalCheckFailedException proves the permission, and
//     nothing is written. The key names the state
//     (probeLockIDPrefix + lock path), so a role scoped to the state's
//     keys with dynamodb:LeadingKeys (docs/setup.md) may probe it.
const (
	probeSuffix       = ".tfstate-guard-probe"
	probeETag         = `"tfstate-guard-probe-never-an-etag"`
	probeLockIDPrefix = "tfstate-guard#probe#"
	settingS3R        = "bucket read (s3:ListBucket, s3:GetObject)"
	settingS3W        = "bucket write (s3:PutObject)"
	settingS3D        = "lock file delete (s3:DeleteObject)"
	settingDDBR       = "table read (dynamodb:GetItem)"
	settingDDBW       = "table write (dynamodb:PutItem)"
	settingDDBD       = "table delete (dynamodb:DeleteItem)"
	probedDetail      = "allowed (probed without writing)"
)

func permCheck(setting string, state CheckState, detail string) Check {
	return Check{Resource: ResourcePermissions, Setting: setting, State: state, Detail: detail}
}

// probe runs every probe at once and reports every missing permission.
func probe(ctx context.Context, s3c S3API, ddb DynamoDBAPI, o SetupOptions) ([]Check, error) {
	if o.SkipPermissionCheck {
		return []Check{permCheck("read and write", StateSkipped, "turned off by input")}, nil
	}
	statePath := o.StatePath()
	probeKey := statePath + probeSuffix
	type probeFn func(context.Context) (Check, error)
	fns := []probeFn{
		func(ctx context.Context) (Check, error) { return probeS3Read(ctx, s3c, o.Bucket, statePath) },
		func(ctx context.Context) (Check, error) { return probeS3Write(ctx, s3c, o.Bucket, probeKey) },
	}
	if o.LockMethod.UsesLockfile() {
		fns = append(fns, func(ctx context.Context) (Check, error) { return probeS3Delete(ctx, s3c, o.Bucket, probeKey) })
	}
	if o.KeepsTable() {
		fns = append(fns,
			func(ctx context.Context) (Check, error) { return probeTableRead(ctx, ddb, o.Table, o.LockPath()) },
			func(ctx context.Context) (Check, error) {
				return probeTableWrite(ctx, ddb, o.Table, o.LockPath(), false)
			},
			func(ctx context.Context) (Check, error) {
				return probeTableWrite(ctx, ddb, o.Table, o.LockPath(), true)
			},
		)
	}
	checks := make([]Check, len(fns))
	calls := make([]func() error, len(fns))
	for i, fn := range fns {
		calls[i] = func() (err error) { checks[i], err = fn(ctx); return }
	}
	err := parallel(calls...)
	var kept []Check
	for _, c := range checks {
		if c.Setting != "" {
			kept = append(kept, c)
		}
	}
	return kept, err
}

func probeS3Read(ctx context.Context, api S3API, bucket, statePath string) (Check, error) {
	_, err := api.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(statePath), MaxKeys: aws.Int32(1)})
	if err != nil {
		return Check{}, denied(err, "s3:ListBucket", bucket, fmt.Sprintf("list bucket %q (permission probe)", bucket))
	}
	_, err = api.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(statePath)})
	if err != nil && httpStatus(err) != http.StatusNotFound && !hasCode(err, "NotFound", "NoSuchKey") {
		return Check{}, denied(err, "s3:GetObject", bucket+"/"+statePath, fmt.Sprintf("read state %q (permission probe)", statePath))
	}
	return permCheck(settingS3R, StateAlreadyRight, probedDetail), nil
}

func probeS3Write(ctx context.Context, api S3API, bucket, key string) (Check, error) {
	out, err := api.PutObject(ctx, &s3.PutObjectInput{
		Bucket:  aws.String(bucket),
		Key:     aws.String(key),
		IfMatch: aws.String(probeETag),
		Body:    strings.NewReader(""),
	})
	if err == nil {
		// The endpoint ignored If-Match and stored the probe: remove that
		// exact version, and warn, since Terraform's S3 lock file relies
		// on conditional writes.
		_, derr := api.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), VersionId: out.VersionId})
		if derr != nil {
			return Check{}, fmt.Errorf("remove permission probe object %q from bucket %q (the endpoint ignored If-Match): %w", key, bucket, derr)
		}
		return permCheck(settingS3W, StateAttention, "allowed, but the S3 endpoint ignored If-Match, so S3 lock files (use_lockfile) are not safe there"), nil
	}
	if conditionRefused(err) {
		return permCheck(settingS3W, StateAlreadyRight, probedDetail), nil
	}
	return Check{}, denied(err, "s3:PutObject", bucket+"/"+key, fmt.Sprintf("write probe to bucket %q", bucket))
}

func probeS3Delete(ctx context.Context, api S3API, bucket, key string) (Check, error) {
	out, err := api.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), IfMatch: aws.String(probeETag)})
	if err == nil {
		if aws.ToBool(out.DeleteMarker) && out.VersionId != nil {
			// The endpoint ignored If-Match and left a delete marker.
			if _, derr := api.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), VersionId: out.VersionId}); derr != nil {
				return Check{}, fmt.Errorf("remove delete marker of permission probe %q in bucket %q: %w", key, bucket, derr)
			}
		}
		return permCheck(settingS3D, StateAttention, "allowed, but the S3 endpoint ignored If-Match on delete"), nil
	}
	if conditionRefused(err) {
		return permCheck(settingS3D, StateAlreadyRight, probedDetail), nil
	}
	return Check{}, denied(err, "s3:DeleteObject", bucket+"/"+key, fmt.Sprintf("delete probe in bucket %q", bucket))
}

// conditionRefused: the request was authorised and then refused by its
// If-Match condition (no such object, or another ETag).
func conditionRefused(err error) bool {
	s := httpStatus(err)
	return s == http.StatusNotFound || s == http.StatusPreconditionFailed || hasCode(err, "NoSuchKey", "PreconditionFailed")
}

func probeKeyAttr(lockPath string) map[string]dtypes.AttributeValue {
	return map[string]dtypes.AttributeValue{lockIDAttribute: &dtypes.AttributeValueMemberS{Value: probeLockIDPrefix + lockPath}}
}

func probeTableRead(ctx context.Context, api DynamoDBAPI, table, lockPath string) (Check, error) {
	_, err := api.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: probeKeyAttr(lockPath), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return Check{}, denied(err, "dynamodb:GetItem", table, fmt.Sprintf("read table %q (permission probe)", table))
	}
	return permCheck(settingDDBR, StateAlreadyRight, probedDetail), nil
}

func probeTableWrite(ctx context.Context, api DynamoDBAPI, table, lockPath string, del bool) (Check, error) {
	cond := aws.String("attribute_exists(" + lockIDAttribute + ")")
	var err error
	action, setting := "dynamodb:PutItem", settingDDBW
	if del {
		action, setting = "dynamodb:DeleteItem", settingDDBD
		_, err = api.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: probeKeyAttr(lockPath), ConditionExpression: cond})
	} else {
		_, err = api.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: probeKeyAttr(lockPath), ConditionExpression: cond})
	}
	var ccf *dtypes.ConditionalCheckFailedException
	switch {
	case errors.As(err, &ccf):
		return permCheck(setting, StateAlreadyRight, probedDetail), nil
	case err == nil:
		// Only possible if someone stored the probe key by hand.
		return permCheck(setting, StateAttention, fmt.Sprintf("allowed, but item %q exists in the table; delete it", probeLockIDPrefix+lockPath)), nil
	}
	return Check{}, denied(err, action, table, fmt.Sprintf("%s on table %q (permission probe)", action, table))
}
