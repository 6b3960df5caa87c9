package lockcheck

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// DynamoDBAPI lists the DynamoDB calls lock handling makes, with the SDK's
// exact signatures.
type DynamoDBAPI interface {
	Scan(ctx context.Context, params *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
	GetItem(ctx context.Context, params *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	DeleteItem(ctx context.Context, params *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	DescribeTable(ctx context.Context, params *dynamodb.DescribeTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
}

var _ DynamoDBAPI = (*dynamodb.Client)(nil)

// ErrLockChanged means a conditional removal was refused: the lock is no
// longer the one that was read (replaced, re-taken or already gone).
var ErrLockChanged = errors.New("the lock changed since it was read")

// DynamoDBStore reads and removes locks in a Terraform lock table.
type DynamoDBStore struct {
	API   DynamoDBAPI
	Table string
	// PageLimit caps items per scan page (0: DynamoDB's 1 MB pages).
	PageLimit int32
	// OnlyState, when set, is one state's lock path: Snapshot then reads
	// only that state's items by key (StateKeys), never scanning the
	// table, which is all a role scoped to the state with
	// dynamodb:LeadingKeys may do (a Scan carries no partition key, so
	// LeadingKeys cannot narrow it).
	OnlyState string
}

var _ Store = (*DynamoDBStore)(nil)

// Name implements Store.
func (s *DynamoDBStore) Name() string { return fmt.Sprintf("DynamoDB table %q", s.Table) }

// Holds implements Store.
func (s *DynamoDBStore) Holds(loc Location) bool {
	return loc.Source == SourceDynamoDB && loc.Table == s.Table
}

// Check implements Store: the table exists and the credentials can describe it.
func (s *DynamoDBStore) Check(ctx context.Context) error {
	out, err := s.API.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(s.Table)})
	if err != nil {
		if me, ok := missingTable(s.Table, err); ok {
			return me
		}
		return fmt.Errorf("describe lock table %q (%s): %w", s.Table, fixFor(err, "dynamodb:DescribeTable"), err)
	}
	if !hasLockIDKey(out.Table) {
		return fmt.Errorf("table %q is not a Terraform lock table: its hash key is not the string attribute LockID", s.Table)
	}
	return nil
}

func hasLockIDKey(t *types.TableDescription) bool {
	if t == nil {
		return false
	}
	for _, k := range t.KeySchema {
		if k.KeyType == types.KeyTypeHash && aws.ToString(k.AttributeName) == attrLockID {
			return true
		}
	}
	return false
}

// Snapshot implements Store with a paginated, strongly consistent scan,
// or, with OnlyState, consistent reads of that state's keys.
func (s *DynamoDBStore) Snapshot(ctx context.Context) (Snapshot, error) {
	if s.OnlyState != "" {
		return s.stateSnapshot(ctx)
	}
	var snap Snapshot
	in := &dynamodb.ScanInput{TableName: aws.String(s.Table), ConsistentRead: aws.Bool(true)}
	if s.PageLimit > 0 {
		in.Limit = aws.Int32(s.PageLimit)
	}
	p := dynamodb.NewScanPaginator(s.API, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			if me, ok := missingTable(s.Table, err); ok {
				return snap, me
			}
			return snap, fmt.Errorf("scan lock table %q (%s): %w", s.Table, fixFor(err, "dynamodb:Scan"), err)
		}
		readAt := ResponseDate(page.ResultMetadata) // AWS's clock, for leases
		for _, item := range page.Items {
			// Every item carries the table's key: one without a string
			// LockID means the key is another attribute, so this is not a
			// Terraform lock table and "no locks" would be a lie.
			if _, ok := item[attrLockID].(*types.AttributeValueMemberS); !ok {
				return snap, fmt.Errorf("table %q is not a Terraform lock table: its items have no string LockID (its key is another attribute); check lock-table (the backend's dynamodb_table)", s.Table)
			}
			if s.leaseItem(&snap, item, readAt) {
				continue
			}
			s.classifyItem(&snap, item)
		}
	}
	return snap, nil
}

// classifyItem sorts one table item into a lock, a run record or a skip.
func (s *DynamoDBStore) classifyItem(snap *Snapshot, item map[string]types.AttributeValue) {
	key := stringAttr(item, attrLockID)
	switch {
	case IsReservedKey(key):
		rec, err := parseStateRecord(item)
		switch {
		case errors.Is(err, errLegacyRecord):
			snap.skip("run record of an earlier layout (ignored)")
		case err != nil:
			snap.skip("unreadable run record")
		default:
			snap.Records = append(snap.Records, rec.Runs...)
		}
	case item[attrDigest] != nil:
		// Terraform's digest items carry a Digest and no Info. One that
		// also has an Info (planted, or written by another tool) is still
		// the digest the next `terraform init` compares: never a lock.
		snap.skip("digest")
	case item[attrInfo] != nil:
		snap.Locks = append(snap.Locks, s.lockFromItem(key, item))
	case strings.HasSuffix(key, "-md5"):
		snap.skip("digest")
	default:
		snap.skip("other")
	}
}

func (s *DynamoDBStore) lockFromItem(key string, item map[string]types.AttributeValue) Lock {
	loc := Location{Source: SourceDynamoDB, Table: s.Table}
	raw, ok := item[attrInfo].(*types.AttributeValueMemberS)
	if !ok {
		l := ParseLock(key, "", loc)
		l.ParseProblem = fmt.Sprintf("Info attribute is %T, not a string", item[attrInfo])
		return l
	}
	return ParseLock(key, raw.Value, loc)
}

// Current implements Store with a consistent GetItem.
func (s *DynamoDBStore) Current(ctx context.Context, lockPath string, loc Location) (string, Location, bool, error) {
	out, err := s.API.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.Table),
		Key:            lockKey(lockPath),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return "", loc, false, fmt.Errorf("read lock %q from table %q (%s): %w", lockPath, s.Table, fixFor(err, "dynamodb:GetItem"), err)
	}
	if out.Item == nil {
		return "", loc, false, nil
	}
	info, ok := out.Item[attrInfo].(*types.AttributeValueMemberS)
	if !ok || out.Item[attrDigest] != nil || IsReservedKey(lockPath) {
		// Present, but no longer (or never) a string Info: not the lock we read.
		return "", loc, true, nil
	}
	return info.Value, loc, true, nil
}

// RemoveIfUnchanged implements Store: DeleteItem conditioned on the exact
// Info text that was read, so a lock replaced or re-taken since survives,
// and on the item having no Digest, so a digest item (whatever else it
// carries) is never deleted. Keys of this action's own items are refused.
func (s *DynamoDBStore) RemoveIfUnchanged(ctx context.Context, lockPath, raw string, _ Location) error {
	if IsReservedKey(lockPath) {
		return fmt.Errorf("delete lock %q from table %q: the key is a tfstate-guard item, not a lock: %w", lockPath, s.Table, ErrLockChanged)
	}
	_, err := s.API.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:           aws.String(s.Table),
		Key:                 lockKey(lockPath),
		ConditionExpression: aws.String("#info = :info AND attribute_not_exists(#digest)"),
		ExpressionAttributeNames: map[string]string{
			"#info":   attrInfo,
			"#digest": attrDigest,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":info": &types.AttributeValueMemberS{Value: raw},
		},
	})
	if err != nil {
		var ccf *types.ConditionalCheckFailedException
		if errors.As(err, &ccf) {
			return fmt.Errorf("delete lock %q from table %q: %w", lockPath, s.Table, ErrLockChanged)
		}
		return fmt.Errorf("delete lock %q from table %q (%s): %w", lockPath, s.Table, fixFor(err, "dynamodb:DeleteItem"), err)
	}
	return nil
}

func lockKey(lockPath string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrLockID: &types.AttributeValueMemberS{Value: lockPath}}
}

// stateSnapshot reads the items of one state by key, each with a strongly
// consistent GetItem: its lock, its run record and its lease.
func (s *DynamoDBStore) stateSnapshot(ctx context.Context) (Snapshot, error) {
	var snap Snapshot
	for _, key := range StateKeys(s.OnlyState) {
		out, err := s.API.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.Table), Key: lockKey(key), ConsistentRead: aws.Bool(true)})
		if err != nil {
			if me, ok := missingTable(s.Table, err); ok {
				return snap, me
			}
			return snap, fmt.Errorf("read item %q from table %q (%s): %w", key, s.Table, fixFor(err, "dynamodb:GetItem"), err)
		}
		if out.Item != nil {
			s.classifyItem(&snap, out.Item)
		}
	}
	return snap, nil
}
