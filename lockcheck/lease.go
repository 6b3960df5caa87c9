package lockcheck

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// A lease is written beside a lock by `tfstate-guard run`, which took the
// lock itself: while Terraform runs, the wrapper renews it every interval
// for a term, in AWS's clock. A live lease proves its holder alive; an
// expired one proves it stopped only together with GitHub's word that the
// lease's job completed (docs/lease.md says why).

// LeaseKeyPrefix starts the lock-table key of a lease:
// "tfstate-guard#lease#<lock path>". It lies in KeyNamespace, so nothing
// reads it as a lock.
const LeaseKeyPrefix = KeyNamespace + "lease#"

// LeaseObjectSuffix ends the S3 key of a lease: "<state key>.tflock.lease",
// beside the lock file. It does not end in LockFileSuffix, so the lock
// file listing never reads it as a lock.
const LeaseObjectSuffix = LockFileSuffix + ".lease"

// Lease attributes in the lock table: the lease JSON, and the two values
// every conditional write is conditioned on.
const (
	AttrLease        = "Lease"
	AttrLeaseLockID  = "LeaseLockID"
	AttrLeaseRenewal = "Renewal"
)

// DefaultLeaseMargin is how long past its term a lease must have expired
// before, with its job completed, it proves its lock dead (input lease-margin).
const DefaultLeaseMargin = 2 * time.Minute

// Lease is what the wrapper writes: which lock, who holds it, when it was
// last renewed in AWS's clock, and for how long that renewal counts.
type Lease struct {
	LockPath string `json:"lock_path"`
	LockID   string `json:"lock_id"`
	Host     string `json:"host"`
	PID      int    `json:"pid"`
	// Renewal counts writes: 0 for the first. Every write is conditioned on
	// the previous value, so two writers can never both succeed.
	Renewal int64 `json:"renewal"`
	// RenewedAt is AWS's time when the wrapper last renewed (from the Date
	// of AWS's answers), RFC 3339.
	RenewedAt time.Time `json:"renewed_at"`
	// TermSeconds is how long after RenewedAt the lease counts.
	TermSeconds float64 `json:"term_seconds"`
	// In GitHub Actions: the job holding the lock.
	Repository string `json:"repository,omitempty"`
	RunID      int64  `json:"run_id,omitempty"`
	RunAttempt int    `json:"run_attempt,omitempty"`
	Job        string `json:"job,omitempty"`
	RunnerName string `json:"runner_name,omitempty"`

	// ReadAt is AWS's time (the Date of the answer) when this lease was
	// read; the reader's "now". Not stored.
	ReadAt time.Time `json:"-"`
	// Where it was read from. Not stored.
	Source Source `json:"-"`
}

// Term is the lease's term as a duration.
func (l Lease) Term() time.Duration { return time.Duration(l.TermSeconds * float64(time.Second)) }

// Age is how long before it was read the lease was last renewed, both in
// AWS's clock.
func (l Lease) Age() time.Duration { return l.ReadAt.Sub(l.RenewedAt) }

// LeaseKey is the lock-table key of the lease of the lock at lockPath.
func LeaseKey(lockPath string) string { return LeaseKeyPrefix + lockPath }

// IsLeaseKey reports whether a lock-table key is a lease's.
func IsLeaseKey(key string) bool { return strings.HasPrefix(key, LeaseKeyPrefix) }

// LeaseObjectKey is the S3 key of the lease beside the lock file of stateKey.
func LeaseObjectKey(stateKey string) string { return stateKey + LeaseObjectSuffix }

// ParseLease reads a lease's JSON.
func ParseLease(raw string) (Lease, error) {
	var l Lease
	if err := json.Unmarshal([]byte(raw), &l); err != nil {
		return l, fmt.Errorf("lease is not JSON: %w", err)
	}
	if l.LockPath == "" || l.LockID == "" || l.RenewedAt.IsZero() || l.TermSeconds <= 0 {
		return l, errors.New("lease lacks its lock path, lock ID, renewal time or term")
	}
	return l, nil
}

// ResponseDate is the Date header of the AWS answer whose metadata md is:
// AWS's clock, to the second. Zero when there is none.
func ResponseDate(md middleware.Metadata) time.Time {
	resp, ok := awsmiddleware.GetRawResponse(md).(*smithyhttp.Response)
	if !ok || resp == nil {
		return time.Time{}
	}
	t, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

// leaseFromItem parses a lease item of the lock table read at readAt.
func leaseFromItem(item map[string]types.AttributeValue, readAt time.Time) (Lease, error) {
	raw, ok := item[AttrLease].(*types.AttributeValueMemberS)
	if !ok {
		return Lease{}, errors.New("lease item without a Lease attribute")
	}
	l, err := ParseLease(raw.Value)
	if err != nil {
		return l, err
	}
	l.ReadAt, l.Source = readAt, SourceDynamoDB
	return l, nil
}

// attachLeases gives each lock the freshest lease of its own path naming
// its own lock ID. A lease naming another ID says nothing about the lock.
func attachLeases(locks []Lock, leases []Lease) {
	if len(leases) == 0 {
		return
	}
	byPath := map[string][]Lease{}
	for _, l := range leases {
		byPath[l.LockPath] = append(byPath[l.LockPath], l)
	}
	for i := range locks {
		for _, l := range byPath[locks[i].LockPath] {
			if l.LockID != locks[i].ID() || locks[i].ID() == "" {
				continue
			}
			if cur := locks[i].Lease; cur == nil || l.Age() < cur.Age() {
				l := l
				locks[i].Lease = &l
			}
		}
	}
}

// Lease rules.
const (
	RuleLeaseLive    Rule = "lease-live"
	RuleLeaseExpired Rule = "lease-expired-job-completed"
	// RuleLeaseJobLive: the lease expired, but GitHub says the job that
	// holds this very lock (the lease names its ID) is still running: a
	// wrapper frozen alone while Terraform runs on looks like this. Any
	// sign that the holder may be alive beats evidence of death (issue 17).
	RuleLeaseJobLive Rule = "lease-expired-job-running"
)

// JobAnswer is what GitHub said about a lease's job: nil when it was not
// asked (no token, no run in the lease), Err when it could not be.
type JobAnswer struct {
	Completed bool
	Text      string
	Err       error
}

// LeaseJudgement is what a lease proves about its lock.
type LeaseJudgement struct {
	// Decided: the lease alone decides the verdict (Status, Rule, Reason,
	// definitive evidence). Otherwise Note says what the lease showed and
	// the other rules decide.
	Decided bool
	Status  Status
	Rule    Rule
	// Evidence is the strength of a decided verdict: definitive for a live
	// lease or a dead holder, circumstantial for a running job whose lease
	// expired.
	Evidence Evidence
	Reason   string
	Note     string
	// AskGitHub: the lease expired past its term and margin and names a
	// run: GitHub's answer about the job decides.
	AskGitHub bool
}

// JudgeLease decides from a lock's lease, read at lease.ReadAt in AWS's
// clock, what it proves. A live lease (renewed within its term) keeps the
// lock ACTIVE whatever its age. A lease expired more than term + margin ago
// proves the lock dead only when GitHub says the lease's job completed (the
// runner ends every process of a completed job). Anything else, an expired
// lease outside Actions included, is a note for the age rules.
func JudgeLease(lease Lease, margin time.Duration, job *JobAnswer) LeaseJudgement {
	age, term := lease.Age(), lease.Term()
	who := describeHolder(lease)
	if age <= term {
		return LeaseJudgement{Decided: true, Status: StatusActive, Rule: RuleLeaseLive, Evidence: EvidenceDefinitive,
			Reason: fmt.Sprintf("lease renewed %s ago by %s (term %s, AWS clock): its holder is alive", roundAge(max(age, 0)), who, term)}
	}
	expired := age - term
	note := fmt.Sprintf("lease of %s last renewed %s ago, expired %s ago (term %s, margin %s)", who, roundAge(age), roundAge(expired), term, margin)
	switch {
	case expired <= margin:
		return LeaseJudgement{Note: note + ": within the margin, so not evidence yet"}
	case lease.RunID == 0:
		return LeaseJudgement{Note: note + ": outside GitHub Actions (a laptop can be suspended and resumed), so not proof its holder stopped"}
	case job == nil:
		return LeaseJudgement{AskGitHub: true, Note: note + ": GitHub was not asked whether its job ended"}
	case job.Err != nil:
		return LeaseJudgement{Note: fmt.Sprintf("%s: GitHub could not say whether its job ended: %v", note, job.Err)}
	case !job.Completed:
		return LeaseJudgement{Decided: true, Status: StatusActive, Rule: RuleLeaseJobLive, Evidence: EvidenceCircumstantial,
			Reason: fmt.Sprintf("%s, but %s: the job holding this lock may still be running Terraform", note, job.Text)}
	}
	return LeaseJudgement{Decided: true, Status: StatusStale, Rule: RuleLeaseExpired, Evidence: EvidenceDefinitive,
		Reason: fmt.Sprintf("%s, and %s: its holder is gone", note, job.Text)}
}

func describeHolder(l Lease) string {
	s := fmt.Sprintf("pid %d on host %s", l.PID, l.Host)
	if l.RunID != 0 {
		s += fmt.Sprintf(" for run %d attempt %d job %s", l.RunID, l.RunAttempt, l.Job)
		if l.RunnerName != "" {
			s += fmt.Sprintf(" (runner %s)", l.RunnerName)
		}
	}
	return s
}

// foreignLease says why an expired lease's run cannot be asked about: it
// names another repository than github-repository, or none is set.
func (c *Classifier) foreignLease(l Lease) string {
	switch {
	case c.Policy.Repository == "":
		return "no github-repository is set, so the run it names cannot be trusted to prove anything"
	case l.Repository != "" && !strings.EqualFold(l.Repository, c.Policy.Repository):
		return fmt.Sprintf("it names a run of %s, not of %s: ignored", l.Repository, c.Policy.Repository)
	}
	return ""
}

// leaseJob asks GitHub whether the lease's job has completed: the attempt
// has completed (every job of a completed attempt has ended), or the job on
// the lease's runner has an end time.
func (c *Classifier) leaseJob(ctx context.Context, l Lease) *JobAnswer {
	if c.Runs == nil {
		return &JobAnswer{Err: errors.New("no GitHub token")}
	}
	repo := c.Policy.Repository
	st, attempt, err := c.attemptState(ctx, RunRef{Repository: repo, ID: l.RunID, Attempt: l.RunAttempt})
	if err != nil {
		return &JobAnswer{Err: err}
	}
	name := fmt.Sprintf("run %d attempt %d", l.RunID, attempt)
	if st.Live() {
		if ended, found := st.EndedOn(l.RunnerName); found && !ended.IsZero() {
			return &JobAnswer{Completed: true, Text: fmt.Sprintf("GitHub says its job on runner %s completed at %s", l.RunnerName, ended.Format(time.RFC3339))}
		}
		return &JobAnswer{Text: fmt.Sprintf("GitHub says %s is %s", name, st.Status)}
	}
	return &JobAnswer{Completed: true, Text: fmt.Sprintf("GitHub says %s completed (%s)", name, conclusionOr(st.Conclusion))}
}

// classifyByLease is Classify's first rule: a lease the wrapper keeps
// beside a lock it took. decided is true when the lease alone decides;
// otherwise the lock carries what the lease showed (LeaseNote), which the
// age rules repeat.
func (c *Classifier) classifyByLease(ctx context.Context, lock *Lock) (Verdict, bool) {
	if lock.Lease == nil {
		return Verdict{}, false
	}
	margin := c.Policy.LeaseMargin
	if margin <= 0 {
		margin = DefaultLeaseMargin
	}
	j := JudgeLease(*lock.Lease, margin, nil)
	if j.AskGitHub {
		if why := c.foreignLease(*lock.Lease); why != "" {
			// Anyone who can write the table can write a lease: one that
			// names a run this check cannot tie to github-repository
			// proves nothing about death (issue 23).
			lock.LeaseNote = j.Note + "; " + why
			return Verdict{}, false
		}
		j = JudgeLease(*lock.Lease, margin, c.leaseJob(ctx, *lock.Lease))
	}
	if !j.Decided {
		lock.LeaseNote = j.Note
		return Verdict{}, false
	}
	v := Verdict{Lock: *lock, Status: j.Status, Rule: j.Rule, Evidence: j.Evidence, Reason: j.Reason}
	if !lock.Created.IsZero() {
		v.Age, v.AgeKnown = c.Now().Sub(lock.Created), true
	}
	return v, true
}

// withLeaseNote adds what a lock's lease showed to an age rule's reason.
func withLeaseNote(lock Lock, why string) string {
	if lock.LeaseNote == "" {
		return why
	}
	return why + "; " + lock.LeaseNote
}

// leaseItem takes a lease item of the lock table out of a scan page read
// at readAt (AWS's clock); it reports whether item was a lease's. An
// unreadable lease is skipped and counted: it proves nothing.
func (s *DynamoDBStore) leaseItem(snap *Snapshot, item map[string]types.AttributeValue, readAt time.Time) bool {
	if !IsLeaseKey(stringAttr(item, attrLockID)) {
		return false
	}
	if readAt.IsZero() {
		readAt = time.Now().UTC() // no Date header: the local clock, less exact
	}
	l, err := leaseFromItem(item, readAt)
	if err != nil {
		snap.skip("unreadable lease")
		return true
	}
	snap.Leases = append(snap.Leases, l)
	return true
}

// readLeases reads the lease objects beside lock files, each with the Date
// of its own answer as AWS's "now". A lease released between list and read
// is gone; an unreadable one is counted and proves nothing.
func (s *S3Store) readLeases(ctx context.Context, keys []string, snap *Snapshot) error {
	for _, key := range keys {
		out, err := s.API.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(key)})
		if err != nil {
			var nsk *s3types.NoSuchKey
			if errors.As(err, &nsk) || httpStatus(err) == http.StatusNotFound {
				continue
			}
			return fmt.Errorf("read lease s3://%s/%s (%s): %w", s.Bucket, key, fixFor(err, "s3:GetObject"), err)
		}
		body, err := io.ReadAll(io.LimitReader(out.Body, maxLockFileSize))
		out.Body.Close()
		if err != nil {
			return fmt.Errorf("read lease s3://%s/%s: %w", s.Bucket, key, err)
		}
		l, err := ParseLease(string(body))
		if err != nil || l.LockPath != s.Bucket+"/"+strings.TrimSuffix(key, LeaseObjectSuffix) {
			snap.skip("unreadable lease")
			continue
		}
		l.ReadAt, l.Source = ResponseDate(out.ResultMetadata), SourceS3
		if l.ReadAt.IsZero() {
			l.ReadAt = time.Now().UTC()
		}
		snap.Leases = append(snap.Leases, l)
	}
	return nil
}
