package wrapper

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/text2agent/tfstate-guard/lockcheck"
)

// leaseStore is one place a lease is kept: every write is conditional.
type leaseStore interface {
	name() string
	// create writes the first lease, replacing only a lease of another
	// lock ID (left by a holder whose lock is gone: we hold the lock now).
	create(ctx context.Context, l lockcheck.Lease, raw []byte) error
	// renew writes renewal l.Renewal, conditioned on the previous one.
	renew(ctx context.Context, l lockcheck.Lease, raw []byte) error
	// release deletes the lease, conditioned on the last renewal.
	release(ctx context.Context, l lockcheck.Lease) error
}

// Leaser keeps one lock's lease in every store the lock is in.
type Leaser struct {
	Clock  *AWSClock
	stores []leaseStore
	mu     sync.Mutex
	lease  lockcheck.Lease
}

// NewLeaser prepares the lease of a lock the wrapper took: in the lock
// table when the backend has one, beside the .tflock when it uses lock
// files, or both.
func NewLeaser(b Backend, ddb DynamoDBAPI, s3c S3API, clock *AWSClock, l lockcheck.Lease) *Leaser {
	ls := &Leaser{Clock: clock, lease: l}
	if b.Table != "" {
		ls.stores = append(ls.stores, &ddbLease{api: ddb, table: b.Table, key: lockcheck.LeaseKey(b.LockPath())})
	}
	if b.UseLockfile {
		ls.stores = append(ls.stores, &s3Lease{api: s3c, bucket: b.Bucket, key: lockcheck.LeaseObjectKey(b.StatePath())})
	}
	return ls
}

// Start writes the first lease in every store. A store that refuses for
// lack of permission is dropped with a warning (no lease there: the age
// rules decide about the lock, and nothing is fenced for it); any other
// failure is returned.
func (ls *Leaser) Start(ctx context.Context, warn func(string)) (bool, error) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.lease.RenewedAt = ls.Clock.Now()
	raw, _ := json.Marshal(ls.lease)
	var kept []leaseStore
	for _, st := range ls.stores {
		err := st.create(ctx, ls.lease, raw)
		switch {
		case err == nil:
			kept = append(kept, st)
		case isAccessDenied(err):
			warn(fmt.Sprintf("no lease in %s: permission to write it was refused (%v). The lock is taken and released as usual, but only the age rules can judge it while Terraform runs; docs/lease.md lists the permissions", st.name(), err))
		default:
			warn(fmt.Sprintf("no lease in %s: %v. The lock is taken and released as usual, but only the age rules can judge it while Terraform runs", st.name(), err))
		}
	}
	ls.stores = kept
	return len(kept) > 0, nil
}

// Renew writes the next renewal to every store; it fails if any store
// failed, so the holder is fenced on its least fresh lease.
func (ls *Leaser) Renew(ctx context.Context) error {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	next := ls.lease
	next.Renewal++
	next.RenewedAt = ls.Clock.Now()
	raw, _ := json.Marshal(next)
	var errs []error
	for _, st := range ls.stores {
		if err := st.renew(ctx, next, raw); err != nil {
			errs = append(errs, fmt.Errorf("renew lease in %s: %w", st.name(), err))
		}
	}
	if len(errs) == 0 {
		ls.lease = next
		return nil
	}
	// A store that took the write keeps the new renewal; one that did not
	// may have taken it without answering: the next renew adopts either.
	ls.lease = next
	return errors.Join(errs...)
}

// Release deletes the lease from every store (only our own).
func (ls *Leaser) Release(ctx context.Context) error {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	var errs []error
	for _, st := range ls.stores {
		if err := st.release(ctx, ls.lease); err != nil {
			errs = append(errs, fmt.Errorf("remove lease in %s: %w", st.name(), err))
		}
	}
	ls.stores = nil
	return errors.Join(errs...)
}

// Writes counts lease writes per hour for an interval (benchmarks, docs).
func Writes(interval time.Duration, stores int) float64 {
	return float64(time.Hour) / float64(interval) * float64(stores)
}

// ddbLease is a lease item in the lock table.
type ddbLease struct {
	api   DynamoDBAPI
	table string
	key   string
	// lastRenewal is the Renewal our last successful write stored.
	lastRenewal int64
}

func (d *ddbLease) name() string { return fmt.Sprintf("table %q", d.table) }

func (d *ddbLease) item(l lockcheck.Lease, raw []byte) map[string]ddbtypes.AttributeValue {
	return map[string]ddbtypes.AttributeValue{
		"LockID":                   &ddbtypes.AttributeValueMemberS{Value: d.key},
		lockcheck.AttrLease:        &ddbtypes.AttributeValueMemberS{Value: string(raw)},
		lockcheck.AttrLeaseLockID:  &ddbtypes.AttributeValueMemberS{Value: l.LockID},
		lockcheck.AttrLeaseRenewal: &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(l.Renewal, 10)},
	}
}

func (d *ddbLease) create(ctx context.Context, l lockcheck.Lease, raw []byte) error {
	_, err := d.api.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(d.table), Item: d.item(l, raw),
		ConditionExpression:       aws.String("attribute_not_exists(LockID) OR #id <> :id"),
		ExpressionAttributeNames:  map[string]string{"#id": lockcheck.AttrLeaseLockID},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":id": &ddbtypes.AttributeValueMemberS{Value: l.LockID}},
	})
	if err == nil {
		d.lastRenewal = l.Renewal
	}
	return err
}

func (d *ddbLease) ours(l lockcheck.Lease) (string, map[string]string, map[string]ddbtypes.AttributeValue) {
	return "#id = :id AND #n = :n",
		map[string]string{"#id": lockcheck.AttrLeaseLockID, "#n": lockcheck.AttrLeaseRenewal},
		map[string]ddbtypes.AttributeValue{
			":id": &ddbtypes.AttributeValueMemberS{Value: l.LockID},
			":n":  &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(d.lastRenewal, 10)},
		}
}

func (d *ddbLease) renew(ctx context.Context, l lockcheck.Lease, raw []byte) error {
	if err := d.adopt(ctx, l); err != nil {
		return err
	}
	cond, names, values := d.ours(l)
	_, err := d.api.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(d.table), Item: d.item(l, raw),
		ConditionExpression: aws.String(cond), ExpressionAttributeNames: names, ExpressionAttributeValues: values})
	if err == nil {
		d.lastRenewal = l.Renewal
	}
	return err
}

// adopt reads the lease back when a write may have landed unanswered: a
// renewal stored by our own earlier write (same lock ID, higher counter
// than we knew) is ours to continue from.
func (d *ddbLease) adopt(ctx context.Context, l lockcheck.Lease) error {
	if d.lastRenewal == l.Renewal-1 {
		return nil
	}
	out, err := d.api.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(d.table), ConsistentRead: aws.Bool(true),
		Key: map[string]ddbtypes.AttributeValue{"LockID": &ddbtypes.AttributeValueMemberS{Value: d.key}}})
	if err != nil {
		return err
	}
	id, _ := out.Item[lockcheck.AttrLeaseLockID].(*ddbtypes.AttributeValueMemberS)
	n, _ := out.Item[lockcheck.AttrLeaseRenewal].(*ddbtypes.AttributeValueMemberN)
	if id == nil || n == nil || id.Value != l.LockID {
		return errors.New("the lease is gone or names another lock: no longer ours")
	}
	d.lastRenewal, _ = strconv.ParseInt(n.Value, 10, 64)
	return nil
}

func (d *ddbLease) release(ctx context.Context, l lockcheck.Lease) error {
	cond, names, values := d.ours(l)
	_, err := d.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(d.table),
		Key:                 map[string]ddbtypes.AttributeValue{"LockID": &ddbtypes.AttributeValueMemberS{Value: d.key}},
		ConditionExpression: aws.String(cond), ExpressionAttributeNames: names, ExpressionAttributeValues: values})
	return err
}

// s3Lease is a lease object beside the .tflock.
type s3Lease struct {
	api    S3API
	bucket string
	key    string
	etag   string
}

func (s *s3Lease) name() string { return fmt.Sprintf("s3://%s/%s", s.bucket, s.key) }

func (s *s3Lease) put(ctx context.Context, raw []byte, ifMatch, ifNoneMatch string) error {
	in := &s3.PutObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.key), Body: bytes.NewReader(raw), ContentType: aws.String("application/json")}
	if ifMatch != "" {
		in.IfMatch = aws.String(ifMatch)
	}
	if ifNoneMatch != "" {
		in.IfNoneMatch = aws.String(ifNoneMatch)
	}
	out, err := s.api.PutObject(ctx, in)
	if err == nil {
		s.etag = aws.ToString(out.ETag)
	}
	return err
}

// read returns the stored lease and its ETag.
func (s *s3Lease) read(ctx context.Context) (lockcheck.Lease, string, error) {
	out, err := s.api.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.key)})
	if err != nil {
		return lockcheck.Lease{}, "", err
	}
	defer out.Body.Close()
	body, err := io.ReadAll(io.LimitReader(out.Body, 64<<10))
	if err != nil {
		return lockcheck.Lease{}, "", err
	}
	l, _ := lockcheck.ParseLease(string(body))
	return l, aws.ToString(out.ETag), nil
}

func (s *s3Lease) create(ctx context.Context, l lockcheck.Lease, raw []byte) error {
	err := s.put(ctx, raw, "", "*")
	if st := status(err); st == http.StatusPreconditionFailed || st == http.StatusConflict {
		// A lease is there already: replace it only if it is another lock's.
		old, etag, rerr := s.read(ctx)
		if rerr != nil {
			return rerr
		}
		if old.LockID == l.LockID {
			return errors.New("a lease of this very lock ID is already there")
		}
		return s.put(ctx, raw, etag, "")
	}
	return err
}

func (s *s3Lease) renew(ctx context.Context, l lockcheck.Lease, raw []byte) error {
	err := s.put(ctx, raw, s.etag, "")
	if st := status(err); st == http.StatusPreconditionFailed {
		// Our previous write may have landed unanswered: adopt it if so.
		old, etag, rerr := s.read(ctx)
		if rerr != nil || old.LockID != l.LockID || old.PID != l.PID || old.Renewal >= l.Renewal {
			return err
		}
		return s.put(ctx, raw, etag, "")
	}
	return err
}

func (s *s3Lease) release(ctx context.Context, _ lockcheck.Lease) error {
	_, err := s.api.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.key), IfMatch: aws.String(s.etag)})
	return err
}
