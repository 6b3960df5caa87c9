package lockcheck

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Run records tie a future lock to the CI run that is about to take it.
// Setup writes one per (state, repository, run, attempt, job) into the lock
// table before Terraform runs; detect reads them back in the same scan.
//
// Their LockID starts with RunRecordPrefix. Terraform's LockIDs start with an
// S3 bucket name, and bucket names cannot contain '#', so no Terraform key
// can ever collide with a record (nor be mistaken for one).
const (
	RunRecordPrefix = "tfstate-guard#run#"

	// RunRecordTTLAttribute is the table's TTL attribute (epoch seconds).
	RunRecordTTLAttribute = "ExpiresAt"

	// DefaultRunRecordTTL outlives the longest a single job may run (5 days
	// on self-hosted runners, 6 hours on GitHub-hosted ones), so a record
	// exists for as long as the lock its job took can be live.
	DefaultRunRecordTTL = 7 * 24 * time.Hour
)

// Attribute names of a run record item.
const (
	attrLockID     = "LockID"
	attrInfo       = "Info"
	attrDigest     = "Digest"
	attrRecordType = "RecordType"
	attrLockPath   = "LockPath"
	attrRepository = "Repository"
	attrRunID      = "RunID"
	attrRunAttempt = "RunAttempt"
	attrJob        = "Job"
	attrWorkflow   = "Workflow"
	attrRunnerName = "RunnerName"
	attrWritten    = "Written"

	recordTypeRun = "run"
)

// RunRecord says: this CI run (attempt, job) is about to use the state at LockPath.
type RunRecord struct {
	LockPath   string // "<bucket>/<state path>", workspace prefix included
	Repository string // "owner/name"
	RunID      int64
	RunAttempt int
	Job        string
	Workflow   string
	RunnerName string
	Written    time.Time
	Expires    time.Time
}

// Key is the record's LockID.
func (r RunRecord) Key() string {
	return fmt.Sprintf("%s%s#%s#%d#%d#%s", RunRecordPrefix, r.LockPath, r.Repository, r.RunID, r.RunAttempt, r.Job)
}

// Validate reports what makes a record unusable.
func (r RunRecord) Validate() error {
	var problems []string
	if r.LockPath == "" {
		problems = append(problems, "lock path is empty")
	}
	if !strings.Contains(r.Repository, "/") {
		problems = append(problems, fmt.Sprintf("repository %q is not owner/name", r.Repository))
	}
	if r.RunID <= 0 {
		problems = append(problems, fmt.Sprintf("run id %d is not positive", r.RunID))
	}
	if r.RunAttempt <= 0 {
		problems = append(problems, fmt.Sprintf("run attempt %d is not positive", r.RunAttempt))
	}
	if r.Written.IsZero() {
		problems = append(problems, "written time is zero")
	}
	if len(problems) > 0 {
		return fmt.Errorf("invalid run record: %s", strings.Join(problems, "; "))
	}
	return nil
}

// Item renders the record as a DynamoDB item.
func (r RunRecord) Item() map[string]types.AttributeValue {
	expires := r.Expires
	if expires.IsZero() {
		expires = r.Written.Add(DefaultRunRecordTTL)
	}
	return map[string]types.AttributeValue{
		attrLockID:            &types.AttributeValueMemberS{Value: r.Key()},
		attrRecordType:        &types.AttributeValueMemberS{Value: recordTypeRun},
		attrLockPath:          &types.AttributeValueMemberS{Value: r.LockPath},
		attrRepository:        &types.AttributeValueMemberS{Value: r.Repository},
		attrRunID:             &types.AttributeValueMemberN{Value: strconv.FormatInt(r.RunID, 10)},
		attrRunAttempt:        &types.AttributeValueMemberN{Value: strconv.Itoa(r.RunAttempt)},
		attrJob:               &types.AttributeValueMemberS{Value: r.Job},
		attrWorkflow:          &types.AttributeValueMemberS{Value: r.Workflow},
		attrRunnerName:        &types.AttributeValueMemberS{Value: r.RunnerName},
		attrWritten:           &types.AttributeValueMemberS{Value: r.Written.UTC().Format(time.RFC3339Nano)},
		RunRecordTTLAttribute: &types.AttributeValueMemberN{Value: strconv.FormatInt(expires.Unix(), 10)},
	}
}

// IsRunRecordKey reports whether a LockID belongs to a run record.
func IsRunRecordKey(lockID string) bool { return strings.HasPrefix(lockID, RunRecordPrefix) }

// ParseRunRecord reads a record item back.
func ParseRunRecord(item map[string]types.AttributeValue) (RunRecord, error) {
	var r RunRecord
	key := stringAttr(item, attrLockID)
	if !IsRunRecordKey(key) {
		return r, fmt.Errorf("item %q is not a run record", key)
	}
	r.LockPath = stringAttr(item, attrLockPath)
	r.Repository = stringAttr(item, attrRepository)
	r.Job = stringAttr(item, attrJob)
	r.Workflow = stringAttr(item, attrWorkflow)
	r.RunnerName = stringAttr(item, attrRunnerName)
	var err error
	if r.RunID, err = strconv.ParseInt(numberAttr(item, attrRunID), 10, 64); err != nil {
		return r, fmt.Errorf("run record %q: run id: %w", key, err)
	}
	attempt, err := strconv.Atoi(numberAttr(item, attrRunAttempt))
	if err != nil {
		return r, fmt.Errorf("run record %q: run attempt: %w", key, err)
	}
	r.RunAttempt = attempt
	if r.Written, err = time.Parse(time.RFC3339Nano, stringAttr(item, attrWritten)); err != nil {
		return r, fmt.Errorf("run record %q: written time: %w", key, err)
	}
	if ttl, err := strconv.ParseInt(numberAttr(item, RunRecordTTLAttribute), 10, 64); err == nil {
		r.Expires = time.Unix(ttl, 0).UTC()
	}
	return r, r.Validate()
}

// PutItemAPI is the one DynamoDB call WriteRunRecord needs.
type PutItemAPI interface {
	PutItem(ctx context.Context, params *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
}

var _ PutItemAPI = (*dynamodb.Client)(nil)

// WriteRunRecord stores r in table. A record of the same run, attempt and job
// is replaced (a re-run setup step refreshes its own record only).
func WriteRunRecord(ctx context.Context, api PutItemAPI, table string, r RunRecord) error {
	if err := r.Validate(); err != nil {
		return err
	}
	_, err := api.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(table),
		Item:      r.Item(),
	})
	if err != nil {
		return fmt.Errorf("write run record %q to table %q: %w", r.Key(), table, err)
	}
	return nil
}

func stringAttr(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func numberAttr(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberN); ok {
		return v.Value
	}
	return ""
}
