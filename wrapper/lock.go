package wrapper

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/user"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/text2agent/tfstate-guard/lockcheck"
)

// DynamoDBAPI lists the DynamoDB calls the wrapper makes.
type DynamoDBAPI interface {
	PutItem(ctx context.Context, params *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	GetItem(ctx context.Context, params *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	DeleteItem(ctx context.Context, params *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
}

// S3API lists the S3 calls the wrapper makes.
type S3API interface {
	PutObject(ctx context.Context, params *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	GetObject(ctx context.Context, params *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	DeleteObject(ctx context.Context, params *s3.DeleteObjectInput, optFns ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
}

var (
	_ DynamoDBAPI = (*dynamodb.Client)(nil)
	_ S3API       = (*s3.Client)(nil)
)

// LockInfo is Terraform's statemgr.LockInfo: the same fields, serialised
// the same way (no JSON tags; Created a UTC time.Time).
type LockInfo struct {
	ID        string
	Operation string
	Info      string
	Who       string
	Version   string
	Created   time.Time
	Path      string
}

// NewLockInfo fills a lock's Info as Terraform's NewLockInfo does: a
// random UUID, user@hostname, the time now in UTC.
func NewLockInfo(operation, path, version string) LockInfo {
	buf := make([]byte, 16)
	_, _ = rand.Read(buf)
	id := fmt.Sprintf("%x-%x-%x-%x-%x", buf[0:4], buf[4:6], buf[6:8], buf[8:10], buf[10:16])
	name := ""
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	return LockInfo{ID: id, Operation: operation, Info: "tfstate-guard run: lease beside the lock", Who: name + "@" + host,
		Version: version, Created: time.Now().UTC(), Path: path}
}

// HeldError says the state is locked by someone else.
type HeldError struct {
	Holder lockcheck.Lock
	Err    error
}

func (e *HeldError) Error() string {
	i := e.Holder.Info
	return fmt.Sprintf("the state is locked by someone else (ID %s, operation %s, who %s, created %s, path %s): %v; tfstate-guard took nothing",
		i.ID, i.Operation, i.Who, i.Created, e.Holder.LockPath, e.Err)
}

func (e *HeldError) Unwrap() error { return e.Err }

// Locker takes and releases one state's lock in the places the backend
// locks: the .tflock object first, then the DynamoDB item (as Terraform
// does, rolling the file back if the item cannot be taken).
type Locker struct {
	DDB     DynamoDBAPI
	S3      S3API
	Backend Backend

	info     LockInfo
	raw      string
	etag     string
	haveFile bool
	haveItem bool
}

// Held is the lock's Info as stored, once taken.
func (l *Locker) Held() (LockInfo, string) { return l.info, l.raw }

// Acquire takes the lock, retrying while someone else holds it for up to
// timeout with Terraform's backoff (1 s, doubling to 16 s).
func (l *Locker) Acquire(ctx context.Context, info LockInfo, timeout time.Duration, wait func(held *HeldError, d time.Duration)) error {
	deadline := time.Now().Add(timeout)
	delay, maxDelay := time.Second, 16*time.Second
	for {
		err := l.try(ctx, info)
		var held *HeldError
		if err == nil || !errors.As(err, &held) {
			return err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return err
		}
		d := min(delay, left)
		if wait != nil {
			wait(held, d)
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(d):
		}
		if delay < maxDelay {
			delay *= 2
		}
	}
}

func (l *Locker) try(ctx context.Context, info LockInfo) error {
	raw, err := json.Marshal(info)
	if err != nil {
		return err
	}
	b := l.Backend
	if b.UseLockfile {
		out, err := l.S3.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(b.Bucket), Key: aws.String(b.StatePath() + lockcheck.LockFileSuffix),
			Body: bytes.NewReader(raw), ContentType: aws.String("application/json"),
			IfNoneMatch: aws.String("*"), ChecksumAlgorithm: s3types.ChecksumAlgorithmSha256,
		})
		if err != nil {
			if status(err) == http.StatusPreconditionFailed || status(err) == http.StatusConflict {
				return &HeldError{Holder: l.readFile(ctx), Err: err}
			}
			return fmt.Errorf("take lock file s3://%s/%s%s: %w", b.Bucket, b.StatePath(), lockcheck.LockFileSuffix, err)
		}
		l.etag, l.haveFile = aws.ToString(out.ETag), true
	}
	if b.Table != "" {
		_, err := l.DDB.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: aws.String(b.Table),
			Item: map[string]ddbtypes.AttributeValue{
				"LockID": &ddbtypes.AttributeValueMemberS{Value: b.LockPath()},
				"Info":   &ddbtypes.AttributeValueMemberS{Value: string(raw)},
			},
			ConditionExpression: aws.String("attribute_not_exists(LockID)"),
		})
		if err != nil {
			if l.haveFile {
				l.releaseFile(ctx)
			}
			var ccf *ddbtypes.ConditionalCheckFailedException
			if errors.As(err, &ccf) {
				return &HeldError{Holder: l.readItem(ctx), Err: err}
			}
			return fmt.Errorf("take lock %q in table %q: %w", b.LockPath(), b.Table, err)
		}
		l.haveItem = true
	}
	l.info, l.raw = info, string(raw)
	return nil
}

func (l *Locker) readFile(ctx context.Context) lockcheck.Lock {
	b := l.Backend
	out, err := l.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b.Bucket), Key: aws.String(b.StatePath() + lockcheck.LockFileSuffix)})
	if err != nil {
		return lockcheck.Lock{LockPath: b.LockPath()}
	}
	defer out.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(out.Body, 64<<10))
	return lockcheck.ParseLock(b.LockPath(), string(body), lockcheck.Location{Source: lockcheck.SourceS3})
}

func (l *Locker) readItem(ctx context.Context) lockcheck.Lock {
	b := l.Backend
	out, err := l.DDB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(b.Table), ConsistentRead: aws.Bool(true),
		Key: map[string]ddbtypes.AttributeValue{"LockID": &ddbtypes.AttributeValueMemberS{Value: b.LockPath()}}})
	if err != nil || out.Item == nil {
		return lockcheck.Lock{LockPath: b.LockPath()}
	}
	info, _ := out.Item["Info"].(*ddbtypes.AttributeValueMemberS)
	if info == nil {
		return lockcheck.Lock{LockPath: b.LockPath()}
	}
	return lockcheck.ParseLock(b.LockPath(), info.Value, lockcheck.Location{Source: lockcheck.SourceDynamoDB})
}

// Release removes the lock this Locker took, and only that: the item is
// deleted only while it holds exactly our Info, the file only while it
// has our ETag. A lock that changed is someone else's and stays.
func (l *Locker) Release(ctx context.Context) error {
	var errs []error
	b := l.Backend
	if l.haveItem {
		_, err := l.DDB.DeleteItem(ctx, &dynamodb.DeleteItemInput{
			TableName:                 aws.String(b.Table),
			Key:                       map[string]ddbtypes.AttributeValue{"LockID": &ddbtypes.AttributeValueMemberS{Value: b.LockPath()}},
			ConditionExpression:       aws.String("#info = :info"),
			ExpressionAttributeNames:  map[string]string{"#info": "Info"},
			ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":info": &ddbtypes.AttributeValueMemberS{Value: l.raw}},
		})
		var ccf *ddbtypes.ConditionalCheckFailedException
		switch {
		case errors.As(err, &ccf):
			errs = append(errs, fmt.Errorf("lock %q in table %q is no longer ours (removed or replaced meanwhile): left alone", b.LockPath(), b.Table))
		case err != nil:
			errs = append(errs, fmt.Errorf("release lock %q in table %q: %w", b.LockPath(), b.Table, err))
		default:
			l.haveItem = false
		}
	}
	if l.haveFile {
		if err := l.releaseFile(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (l *Locker) releaseFile(ctx context.Context) error {
	b := l.Backend
	key := b.StatePath() + lockcheck.LockFileSuffix
	_, err := l.S3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(b.Bucket), Key: aws.String(key), IfMatch: aws.String(l.etag)})
	switch st := status(err); {
	case err == nil:
		l.haveFile = false
		return nil
	case st == http.StatusPreconditionFailed || st == http.StatusNotFound:
		l.haveFile = false
		return fmt.Errorf("lock file s3://%s/%s is no longer ours (removed or replaced meanwhile): left alone", b.Bucket, key)
	default:
		return fmt.Errorf("release lock file s3://%s/%s: %w", b.Bucket, key, err)
	}
}

// status is the HTTP status of an AWS error (0 when there is none).
func status(err error) int {
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

// isAccessDenied reports a refused permission.
func isAccessDenied(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "Forbidden":
			return true
		}
	}
	return status(err) == http.StatusForbidden
}
