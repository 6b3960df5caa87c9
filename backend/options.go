package backend

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/text2agent/tfstate-guard/lockcheck"
)

// LockMethod says how Terraform locks the state.
type LockMethod string

const (
	// LockDynamoDB locks in the DynamoDB table (dynamodb_table).
	LockDynamoDB LockMethod = "dynamodb"
	// LockS3 locks with an S3 .tflock object (use_lockfile, Terraform >= 1.10).
	LockS3 LockMethod = "s3"
	// LockBoth takes both locks (Terraform >= 1.10 during a migration).
	LockBoth LockMethod = "both"
)

// KeepsTable reports whether setup keeps the lock table: Terraform locks
// in it, or (lock-method s3) it holds the run records that let detect tie
// .tflock locks to runs. An empty lock-table with lock-method s3 means none.
func (o SetupOptions) KeepsTable() bool { return o.LockMethod.UsesTable() || o.Table != "" }

// UsesTable reports whether Terraform locks in the DynamoDB table.
func (m LockMethod) UsesTable() bool { return m == LockDynamoDB || m == LockBoth }

// UsesLockfile reports whether Terraform locks with an S3 .tflock object.
func (m LockMethod) UsesLockfile() bool { return m == LockS3 || m == LockBoth }

// ParseLockMethod reads the lock-method input. Empty means the default,
// dynamodb. Case and surrounding spaces are ignored.
func ParseLockMethod(s string) (LockMethod, error) {
	switch m := LockMethod(strings.ToLower(strings.TrimSpace(s))); m {
	case "":
		return LockDynamoDB, nil
	case LockDynamoDB, LockS3, LockBoth:
		return m, nil
	}
	return "", &ConfigError{Input: "lock-method", Message: fmt.Sprintf(
		"lock-method %q is invalid; use dynamodb (a DynamoDB lock table), s3 (Terraform >= 1.10 use_lockfile) or both", s)}
}

// Tag limits shared by S3 bucket tags and DynamoDB table tags.
const (
	maxTags        = 50
	maxTagKeyLen   = 128
	maxTagValueLen = 256
)

// ParseTags reads the tags input: one key=value per line; blank lines and
// lines starting with # are ignored, and spaces around keys and values are
// trimmed. Every problem is reported together.
func ParseTags(s string) (map[string]string, error) {
	tags := map[string]string{}
	var problems []error
	bad := func(format string, args ...any) {
		problems = append(problems, fmt.Errorf(format, args...))
	}
	for i, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		n := i + 1
		k, v, ok := strings.Cut(line, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch {
		case !ok:
			bad("tags line %d %q is not key=value; write one key=value per line", n, line)
			continue
		case k == "":
			bad("tags line %d %q has an empty key; write key=value", n, line)
			continue
		case strings.HasPrefix(strings.ToLower(k), "aws:"):
			bad("tags line %d: key %q uses the reserved aws: prefix; choose another key", n, k)
			continue
		case utf8.RuneCountInString(k) > maxTagKeyLen:
			bad("tags line %d: key %q is longer than %d characters; shorten it", n, k, maxTagKeyLen)
			continue
		case utf8.RuneCountInString(v) > maxTagValueLen:
			bad("tags line %d: value of %q is longer than %d characters; shorten it", n, k, maxTagValueLen)
			continue
		}
		if old, dup := tags[k]; dup {
			bad("tags line %d: key %q is given twice (%q and %q); keep one", n, k, old, v)
			continue
		}
		tags[k] = v
	}
	if len(tags) > maxTags {
		bad("tags has %d entries; S3 and DynamoDB accept at most %d, remove some", len(tags), maxTags)
	}
	if len(problems) > 0 {
		return nil, &ConfigError{Input: "tags", Message: "invalid tags input", Err: errors.Join(problems...)}
	}
	return tags, nil
}

// SetupOptions is what setup needs, already parsed and defaulted by the caller.
type SetupOptions struct {
	Region    string // aws-region: the bucket's region
	Bucket    string // state-bucket
	Key       string // state-key (default workspace path)
	Table     string // lock-table; with LockMethod s3 it holds only run records ("" = none)
	Workspace string // workspace; "" or "default" is the default workspace
	// WorkspaceKeyPrefix is the backend's workspace_key_prefix; "" means
	// Terraform's default "env:" (and is not written to the backend file).
	WorkspaceKeyPrefix string
	KMSKeyID           string // kms-key-id; "" means SSE-S3
	LockMethod         LockMethod
	Tags               map[string]string
	// BackendFile is the path of the backend file to write, already joined
	// with the working directory.
	BackendFile string

	// Each hardening step can be turned off for teams that manage it
	// elsewhere. The zero value turns everything on.
	SkipVersioning          bool // bucket versioning
	SkipEncryption          bool // bucket default encryption; table SSE on creation
	SkipPublicAccessBlock   bool // the four public access block settings
	SkipEnforcedTLS         bool // the deny-non-TLS bucket policy statement
	SkipTags                bool // bucket and table tags
	SkipPointInTimeRecovery bool // table point-in-time recovery
	SkipDeletionProtection  bool // table deletion protection
	SkipPermissionCheck     bool // the read/write permission probe

	// RunRecord, when not nil (inside GitHub Actions), is written to the lock
	// table; Setup fills LockPath and, when zero, Written. The caller's value
	// is not modified.
	RunRecord *lockcheck.RunRecord

	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (o SetupOptions) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// StatePath is the state object's key in the bucket for the workspace.
func (o SetupOptions) StatePath() string {
	return statePath(o.Bucket, o.Key, o.WorkspaceKeyPrefix, o.Workspace)
}

// LockPath is "<bucket>/<state path>": Terraform's DynamoDB LockID.
func (o SetupOptions) LockPath() string {
	return lockcheck.WorkspacePath(o.Bucket, o.Key, o.WorkspaceKeyPrefix, o.Workspace)
}

func statePath(bucket, key, prefix, workspace string) string {
	return strings.TrimPrefix(lockcheck.WorkspacePath(bucket, key, prefix, workspace), bucket+"/")
}

// validateStateKey refuses keys Terraform would store somewhere else than
// the user thinks: S3 keeps "a/../b" and "/a" literally, so a key with a
// "." or ".." segment, an empty segment or a leading / names a different
// object from the path it looks like (and backups/<key> would too).
func validateStateKey(key string) error {
	bad := func(why string) error {
		return &ConfigError{Input: "state-key", Message: fmt.Sprintf(
			"state-key %q is invalid: %s; use a relative path such as team/production/terraform.tfstate", key, why)}
	}
	switch {
	case key == "":
		return bad("it is empty")
	case strings.HasPrefix(key, "/") || strings.HasSuffix(key, "/"):
		return bad("it starts or ends with /")
	case strings.IndexFunc(key, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0:
		return bad("it contains a control character")
	}
	for _, seg := range strings.Split(key, "/") {
		switch seg {
		case "":
			return bad("it has an empty path segment (//)")
		case ".", "..":
			return bad(fmt.Sprintf("it has a %q segment, which S3 keeps literally instead of resolving", seg))
		}
	}
	return nil
}

// Validate reports every problem in the options together as a *ConfigError.
func (o SetupOptions) Validate() error {
	var problems []error
	add := func(input, format string, args ...any) {
		problems = append(problems, &ConfigError{Input: input, Message: fmt.Sprintf(format, args...)})
	}
	if strings.TrimSpace(o.Region) == "" {
		add("aws-region", "aws-region is empty; set it to the bucket's region, e.g. eu-west-2")
	}
	if err := validateBucketName(o.Bucket); err != nil {
		problems = append(problems, err)
	}
	if err := validateStateKey(o.Key); err != nil {
		problems = append(problems, err)
	}
	switch o.LockMethod {
	case LockDynamoDB, LockS3, LockBoth:
	default:
		add("lock-method", "lock-method %q is invalid; use dynamodb, s3 or both", string(o.LockMethod))
	}
	if o.LockMethod != LockS3 && !validTableName(o.Table) {
		add("lock-table", "lock-table %q is invalid; DynamoDB table names are 3-255 characters of letters, digits, _ - and .", o.Table)
	}
	if strings.ContainsAny(o.Workspace, "/ ") {
		add("workspace", "workspace %q is invalid; Terraform workspace names contain no / or spaces", o.Workspace)
	}
	if strings.HasPrefix(o.WorkspaceKeyPrefix, "/") || strings.HasSuffix(o.WorkspaceKeyPrefix, "/") {
		add("workspace-key-prefix", "workspace key prefix %q must not start or end with /", o.WorkspaceKeyPrefix)
	}
	if o.BackendFile == "" {
		add("backend-file", "backend-file is empty; name the file to write, e.g. backend_override.tf")
	}
	if !o.SkipTags {
		if len(o.Tags) > maxTags {
			add("tags", "tags has %d entries; S3 and DynamoDB accept at most %d, remove some", len(o.Tags), maxTags)
		}
	}
	return errors.Join(problems...)
}

func validateBucketName(b string) error {
	ok := len(b) >= 3 && len(b) <= 63
	for i := 0; ok && i < len(b); i++ {
		c := b[i]
		ok = c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.'
	}
	if ok {
		ok = b[0] != '-' && b[0] != '.' && b[len(b)-1] != '-' && b[len(b)-1] != '.'
	}
	if !ok {
		return &ConfigError{Input: "state-bucket", Message: fmt.Sprintf(
			"state-bucket %q is not a valid S3 bucket name; use 3-63 lower-case letters, digits, - and ., starting and ending with a letter or digit", b)}
	}
	return nil
}

func validTableName(t string) bool {
	if len(t) < 3 || len(t) > 255 {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// CheckState is the outcome of one check.
type CheckState string

const (
	// StateAlreadyRight: the setting was right; nothing was written.
	StateAlreadyRight CheckState = "already-right"
	// StateChanged: setup created or changed it.
	StateChanged CheckState = "changed"
	// StateSkipped: turned off by an input, or not applicable.
	StateSkipped CheckState = "skipped"
	// StateAttention: wrong, but setup cannot safely change it; Detail says
	// what to do. Setup still succeeds.
	StateAttention CheckState = "attention"
)

// Resource names used in Check.Resource.
const (
	ResourceBucket      = "bucket"
	ResourceTable       = "table"
	ResourcePermissions = "permissions"
	ResourceBackendFile = "backend file"
	ResourceRunRecord   = "run record"
)

// Check is one thing setup looked at.
type Check struct {
	Resource string // one of the Resource* constants
	Setting  string // e.g. "versioning", "TLS-only policy"
	State    CheckState
	Detail   string
}

// SetupResult is what setup found and did.
type SetupResult struct {
	Region      string
	Bucket      string
	Table       string // "" when LockMethod is s3
	StatePath   string // state object key, workspace prefix included
	LockPath    string // "<bucket>/<state path>"
	LockMethod  LockMethod
	BackendFile string
	Checks      []Check
	// RunRecord is the record written, nil when none was.
	RunRecord *lockcheck.RunRecord
	Duration  time.Duration
}

// Changed lists the checks that changed something.
func (r *SetupResult) Changed() []Check { return r.filter(StateChanged) }

// Attention lists the checks that need a person.
func (r *SetupResult) Attention() []Check { return r.filter(StateAttention) }

func (r *SetupResult) filter(s CheckState) []Check {
	var out []Check
	for _, c := range r.Checks {
		if c.State == s {
			out = append(out, c)
		}
	}
	return out
}

// sortedTagKeys returns the keys in a stable order.
func sortedTagKeys(tags map[string]string) []string {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
