package lockcheck

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/text2agent/tfstate-guard/internal/ctxwait"
)

// Run records tie a future lock to the CI run that is about to take it.
// Setup records, before Terraform runs, which run, attempt and job is about
// to use a state, and on which host Terraform will run. Detect reads the
// records back in the same scan as the locks.
//
// Layout: ONE item per state (lock path), keyed StateRecordPrefix+lockPath,
// holding the latest MaxRunsPerState entries, newest first. The table (which
// every detect scans) therefore grows with the number of states, never with
// CI history; a write replaces the item conditioned on the revision it read,
// so concurrent setups never lose each other's entries.
//
// Every key this action writes starts with KeyNamespace. Terraform's LockIDs
// start with an S3 bucket name, and bucket names cannot contain '#', so no
// Terraform key can ever collide with a record (nor be mistaken for one).
const (
	KeyNamespace = "tfstate-guard#"

	// StateRecordPrefix starts the key of a state's run-record item.
	StateRecordPrefix = KeyNamespace + "state#"

	// legacyRunRecordPrefix started the one-item-per-run records of
	// earlier versions. They are ignored when read (no evidence means the
	// age rules, never stale) and expire by TTL within 7 days.
	legacyRunRecordPrefix = KeyNamespace + "run#"

	// RunRecordTTLAttribute is the table's TTL attribute (epoch seconds).
	RunRecordTTLAttribute = "ExpiresAt"

	// DefaultRunRecordTTL outlives the longest a single job may run (5 days
	// on self-hosted runners, 6 hours on GitHub-hosted ones), so a record
	// exists for as long as the lock its job took can be live.
	DefaultRunRecordTTL = 7 * 24 * time.Hour

	// MaxRunsPerState is a hard cap on the entries a state's item keeps.
	// Entries leave by expiry (DefaultRunRecordTTL after they were
	// written), never because newer setups came: setup has no GitHub token
	// and cannot know which runs ended, and the entry of a run still
	// holding the lock must outlast every pipeline blocked behind it (500
	// blocked setups in a week fit). Only past this cap, or past
	// maxRecordItemBytes, are the oldest entries dropped, and setup warns
	// and names them.
	MaxRunsPerState = 1000

	// maxRecordItemBytes bounds the entries' JSON below DynamoDB's 400 KB
	// item limit (the other attributes take a few hundred bytes), so a
	// full item is still written, and a hostile one cannot make detect's
	// memory or output grow.
	maxRecordItemBytes = 380_000
)

// Attribute names of a record item.
const (
	attrLockID     = "LockID"
	attrInfo       = "Info"
	attrDigest     = "Digest"
	attrRecordType = "RecordType"
	attrLockPath   = "LockPath"
	attrRuns       = "Runs"
	attrRevision   = "Revision"

	recordTypeRuns = "runs"
)

// RunRecord says: this CI run (attempt, job) is about to use the state at
// LockPath, running Terraform on Host.
type RunRecord struct {
	LockPath   string `json:"-"` // "<bucket>/<state path>", workspace prefix included
	Repository string `json:"repository"`
	RunID      int64  `json:"run_id"`
	RunAttempt int    `json:"run_attempt"`
	Job        string `json:"job,omitempty"`
	Workflow   string `json:"workflow,omitempty"`
	RunnerName string `json:"runner_name,omitempty"`
	// Host is the hostname of the machine Terraform runs on, as Terraform
	// writes it into a lock's Who ("user@<host>"). Empty: unknown.
	Host string `json:"host,omitempty"`
	// HostExclusive: Host runs one job at a time and a fresh one per job
	// (GitHub-hosted runners, or runners declared exclusive/ephemeral), so a
	// lock taken on Host was taken by this job. Otherwise a host match is
	// only circumstantial.
	HostExclusive bool      `json:"host_exclusive,omitempty"`
	Written       time.Time `json:"written"`
	Expires       time.Time `json:"-"`
}

// Key is the LockID of the item holding the records of r's state.
func (r RunRecord) Key() string { return StateRecordKey(r.LockPath) }

// StateRecordKey is the LockID of the record item of lockPath.
func StateRecordKey(lockPath string) string { return StateRecordPrefix + lockPath }

// sameJob reports whether r and o record the same job: the same attempt,
// job key, runner and host. The legs of a matrix share the job key but not
// the runner, so each keeps its own entry; a setup step run twice in one
// job refreshes its entry.
func (r RunRecord) sameJob(o RunRecord) bool {
	return strings.EqualFold(r.Repository, o.Repository) && r.RunID == o.RunID && r.RunAttempt == o.RunAttempt && r.Job == o.Job &&
		strings.EqualFold(r.RunnerName, o.RunnerName) && strings.EqualFold(r.Host, o.Host)
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

// stateRecord is a state's record item as read: its entries and revision.
type stateRecord struct {
	LockPath string
	Runs     []RunRecord // newest first
	Revision int64
	// present: the item exists; revisionKnown: it carries a readable revision.
	present, revisionKnown bool
}

// stateRecordItem renders the item holding runs (newest first) for lockPath;
// body is their JSON.
func stateRecordItem(lockPath string, runs []RunRecord, body []byte, revision int64, ttl time.Duration) map[string]types.AttributeValue {
	var expires time.Time
	for _, r := range runs {
		e := r.Expires
		if e.IsZero() {
			e = r.Written.Add(ttl)
		}
		if e.After(expires) {
			expires = e
		}
	}
	return map[string]types.AttributeValue{
		attrLockID:            &types.AttributeValueMemberS{Value: StateRecordKey(lockPath)},
		attrRecordType:        &types.AttributeValueMemberS{Value: recordTypeRuns},
		attrLockPath:          &types.AttributeValueMemberS{Value: lockPath},
		attrRuns:              &types.AttributeValueMemberS{Value: string(body)},
		attrRevision:          &types.AttributeValueMemberN{Value: strconv.FormatInt(revision, 10)},
		RunRecordTTLAttribute: &types.AttributeValueMemberN{Value: strconv.FormatInt(expires.Unix(), 10)},
	}
}

// errLegacyRecord marks a record item of an earlier layout.
var errLegacyRecord = errors.New("run record of an earlier layout")

// parseStateRecord reads a state's record item. Entries that do not
// validate are dropped; at most MaxRunsPerState are kept, newest first.
func parseStateRecord(item map[string]types.AttributeValue) (stateRecord, error) {
	key := stringAttr(item, attrLockID)
	var rec stateRecord
	switch {
	case strings.HasPrefix(key, legacyRunRecordPrefix):
		return rec, errLegacyRecord
	case !strings.HasPrefix(key, StateRecordPrefix):
		return rec, fmt.Errorf("item %q is not a run record", key)
	}
	rec.present = true
	rec.LockPath = strings.TrimPrefix(key, StateRecordPrefix)
	if n, err := strconv.ParseInt(numberAttr(item, attrRevision), 10, 64); err == nil {
		rec.Revision, rec.revisionKnown = n, true
	}
	body := stringAttr(item, attrRuns)
	if len(body) > maxRecordItemBytes {
		return rec, fmt.Errorf("run records of %q: %d bytes, more than the %d a record item holds", rec.LockPath, len(body), maxRecordItemBytes)
	}
	var runs []RunRecord
	if err := json.Unmarshal([]byte(body), &runs); err != nil {
		return rec, fmt.Errorf("run records of %q are not readable: %w", rec.LockPath, err)
	}
	for _, r := range runs {
		r.LockPath = rec.LockPath
		if r.Validate() == nil {
			rec.Runs = append(rec.Runs, r)
		}
	}
	sortNewestFirst(rec.Runs)
	if len(rec.Runs) > MaxRunsPerState {
		rec.Runs = rec.Runs[:MaxRunsPerState]
	}
	return rec, nil
}

func sortNewestFirst(runs []RunRecord) {
	sort.SliceStable(runs, func(i, j int) bool { return runs[i].Written.After(runs[j].Written) })
}

// RecordAPI is the DynamoDB calls WriteRunRecord needs.
type RecordAPI interface {
	GetItem(ctx context.Context, params *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, params *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
}

var _ RecordAPI = (*dynamodb.Client)(nil)

// maxRecordWriteTries bounds the read-modify-write loop when concurrent
// setups of the same state keep changing its item.
const maxRecordWriteTries = 8

// WriteRunRecord adds r to its state's record item in table; see
// WriteRunRecordReporting.
func WriteRunRecord(ctx context.Context, api RecordAPI, table string, r RunRecord) error {
	_, err := WriteRunRecordReporting(ctx, api, table, r)
	return err
}

// WriteRunRecordReporting adds r to its state's record item in table: it
// reads the item, replaces an entry of the same job (a re-run setup step
// refreshes its own entry), drops entries that have expired, and writes it
// back conditioned on the revision it read, retrying when another setup
// wrote in between. An unreadable item of ours is replaced, never an
// error. It returns the unexpired entries it had to drop to stay within
// MaxRunsPerState and maxRecordItemBytes (oldest first), for a warning.
func WriteRunRecordReporting(ctx context.Context, api RecordAPI, table string, r RunRecord) ([]RunRecord, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	for try := 1; ; try++ {
		dropped, err := writeRunRecordOnce(ctx, api, table, r)
		var ccf *types.ConditionalCheckFailedException
		if !errors.As(err, &ccf) {
			return dropped, err
		}
		if try == maxRecordWriteTries {
			return nil, fmt.Errorf("write run record %q to table %q: %d concurrent writers kept changing it; try again", r.Key(), table, try)
		}
		// Another setup of the same state wrote in between: read again.
		if err := ctxwait.Sleep(ctx, time.Duration(try*20+rand.IntN(30))*time.Millisecond); err != nil {
			return nil, err
		}
	}
}

// keepRuns merges r into cur (newest first): the same job's old entry and
// expired entries go; past the caps the oldest go too, and are returned.
// body is the JSON of runs, as the item stores it.
func keepRuns(r RunRecord, cur []RunRecord) (runs, dropped []RunRecord, body []byte, err error) {
	runs = []RunRecord{r}
	for _, o := range cur {
		expires := o.Expires
		if expires.IsZero() {
			expires = o.Written.Add(DefaultRunRecordTTL)
		}
		if !o.sameJob(r) && expires.After(r.Written) {
			runs = append(runs, o)
		}
	}
	sortNewestFirst(runs)
	for {
		if len(runs) > MaxRunsPerState {
			dropped = append(dropped, runs[MaxRunsPerState:]...)
			slices.Reverse(dropped) // oldest first
			runs = runs[:MaxRunsPerState]
		}
		body, err := json.Marshal(runs)
		if err != nil {
			return nil, nil, nil, err
		}
		if len(body) <= maxRecordItemBytes || len(runs) == 1 {
			return runs, dropped, body, nil
		}
		dropped = append(dropped, runs[len(runs)-1])
		runs = runs[:len(runs)-1]
	}
}

func writeRunRecordOnce(ctx context.Context, api RecordAPI, table string, r RunRecord) ([]RunRecord, error) {
	out, err := api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(table), Key: lockKey(r.Key()), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, fmt.Errorf("read run records %q from table %q: %w", r.Key(), table, err)
	}
	var cur stateRecord
	if out.Item != nil {
		cur, _ = parseStateRecord(out.Item) // unreadable: start afresh
		cur.present = true
	}
	runs, dropped, body, err := keepRuns(r, cur.Runs)
	if err != nil {
		return nil, fmt.Errorf("encode run records %q: %w", r.Key(), err)
	}
	item := stateRecordItem(r.LockPath, runs, body, cur.Revision+1, DefaultRunRecordTTL)
	in := &dynamodb.PutItemInput{TableName: aws.String(table), Item: item, ExpressionAttributeNames: map[string]string{"#k": attrLockID}}
	switch {
	case !cur.present:
		in.ConditionExpression = aws.String("attribute_not_exists(#k)")
	case cur.revisionKnown:
		in.ConditionExpression = aws.String("#rev = :rev")
		in.ExpressionAttributeNames = map[string]string{"#rev": attrRevision}
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":rev": &types.AttributeValueMemberN{Value: strconv.FormatInt(cur.Revision, 10)}}
	default:
		in.ConditionExpression = aws.String("attribute_exists(#k) AND attribute_not_exists(#rev)")
		in.ExpressionAttributeNames["#rev"] = attrRevision
	}
	if _, err := api.PutItem(ctx, in); err != nil {
		var ccf *types.ConditionalCheckFailedException
		if errors.As(err, &ccf) {
			return nil, err
		}
		return nil, fmt.Errorf("write run record %q to table %q: %w", r.Key(), table, err)
	}
	return dropped, nil
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
