package lockcheck

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fixture is ../shared/fixtures/terraform-locks.json: locks written by real
// Terraform 1.5.7 and 1.11.4 and OpenTofu 1.10.10 while each held its lock.
type fixture struct {
	Captures map[string]struct {
		DynamoDBItems []map[string]string `json:"dynamodb_items"`
		S3Lockfiles   map[string]string   `json:"s3_lockfiles"`
	} `json:"captures"`
}

func loadFixture(t testing.TB) fixture {
	t.Helper()
	data, err := os.ReadFile("testdata/terraform-locks.json")
	require.NoError(t, err)
	var f fixture
	require.NoError(t, json.Unmarshal(data, &f))
	require.NotEmpty(t, f.Captures)
	return f
}

func TestParseLockRealTerraformWrites(t *testing.T) {
	t.Parallel()
	f := loadFixture(t)
	names := make([]string, 0, len(f.Captures))
	for name := range f.Captures {
		names = append(names, name)
	}
	sort.Strings(names)
	seen := 0
	for _, name := range names {
		c := f.Captures[name]
		for _, item := range c.DynamoDBItems {
			if item["Info"] == "" {
				assert.True(t, strings.HasSuffix(item["LockID"], "-md5"), "%s: non-lock item %q", name, item["LockID"])
				continue
			}
			l := ParseLock(item["LockID"], item["Info"], Location{Source: SourceDynamoDB, Table: "t"})
			assertWellFormed(t, name, l)
			assert.Equal(t, item["LockID"], l.Info.Path, "%s: Info.Path is the LockID", name)
			if strings.Contains(name, "ws-staging") {
				assert.Contains(t, l.LockPath, "/env:/staging/", "%s: workspace path", name)
			}
			seen++
		}
		for key, body := range c.S3Lockfiles {
			require.True(t, strings.HasSuffix(key, LockFileSuffix))
			s := &S3Store{Bucket: "tfstate-fixtures"}
			l := ParseLock(s.lockPath(key), body, Location{Source: SourceS3, Bucket: "tfstate-fixtures", Key: key})
			assertWellFormed(t, name, l)
			assert.Equal(t, l.Info.Path, l.LockPath, "%s: a .tflock's lock path matches Info.Path", name)
			seen++
		}
	}
	assert.Equal(t, 8, seen, "every capture holds one lock")
}

func assertWellFormed(t *testing.T, name string, l Lock) {
	t.Helper()
	assert.Empty(t, l.ParseProblem, name)
	assert.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`, l.ID(), name)
	assert.Equal(t, "OperationTypeApply", l.Info.Operation, name)
	assert.Equal(t, "vm", l.Host(), name)
	assert.False(t, l.Created.IsZero(), name)
	assert.NotZero(t, l.Created.Nanosecond(), "%s: nanoseconds survive", name)
	assert.Equal(t, time.UTC, l.Created.Location(), name)
}

func TestParseLockMalformedIsStillALock(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, raw      string
		wantID         string
		wantProblem    []string
		wantCreatedSet bool
	}{
		{"hand written, no Created or Path", `{"ID":"test123","Who":"manual-test"}`, "test123", []string{"no creation time"}, false},
		{"not JSON", `locked by bob`, "", []string{"not Terraform lock JSON", "no lock ID", "no creation time"}, false},
		{"empty", ``, "", []string{"not Terraform lock JSON"}, false},
		{"bad time", `{"ID":"x","Created":"yesterday"}`, "x", []string{`creation time "yesterday" is not RFC 3339`}, false},
		{"no ID", `{"Created":"2025-10-03T14:47:06.994532Z"}`, "", []string{"no lock ID"}, true},
		{"offset time", `{"ID":"y","Created":"2025-10-03T16:47:06+02:00"}`, "y", nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := ParseLock("test-lock", tc.raw, Location{Source: SourceDynamoDB})
			assert.Equal(t, tc.wantID, l.ID())
			assert.Equal(t, "test-lock", l.LockPath)
			assert.Equal(t, tc.raw, l.Raw)
			assert.Equal(t, tc.raw, l.Sources[0].Raw)
			for _, p := range tc.wantProblem {
				assert.Contains(t, l.ParseProblem, p)
			}
			if tc.wantProblem == nil {
				assert.Empty(t, l.ParseProblem)
			}
			assert.Equal(t, tc.wantCreatedSet, !l.Created.IsZero())
		})
	}
}

func TestWorkspacePath(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "b/app/terraform.tfstate", WorkspacePath("b", "app/terraform.tfstate", "", "default"))
	assert.Equal(t, "b/app/terraform.tfstate", WorkspacePath("b", "app/terraform.tfstate", "", ""))
	assert.Equal(t, "b/env:/dev/app/terraform.tfstate", WorkspacePath("b", "app/terraform.tfstate", "", "dev"))
	assert.Equal(t, "b/ws/dev/k", WorkspacePath("b", "k", "ws", "dev"))
}

func TestParseLockIDs(t *testing.T) {
	t.Parallel()
	assert.Equal(t, []string{"a", "b", "c"}, ParseLockIDs(" a, b\nc\r\n,a,, "))
	assert.Empty(t, ParseLockIDs(" , \n"))
}

func TestRunRecordItemRoundTrip(t *testing.T) {
	t.Parallel()
	w := time.Date(2026, 11, 27, 5, 11, 0, 123456789, time.UTC)
	r := RunRecord{LockPath: "b/env:/dev/k", Repository: "o/r", RunID: 42, RunAttempt: 2, Job: "plan", Workflow: "tf", RunnerName: "r1",
		Host: "runnervm7", HostExclusive: true, Written: w}
	older := r
	older.RunID, older.Written = 41, w.Add(-time.Hour)
	runs := []RunRecord{older, r}
	body, err := json.Marshal(runs)
	require.NoError(t, err)
	item := stateRecordItem(r.LockPath, runs, body, 3, DefaultRunRecordTTL)
	assert.Equal(t, StateRecordPrefix+"b/env:/dev/k", item[attrLockID].(*types.AttributeValueMemberS).Value)
	assert.Equal(t, strconv.FormatInt(w.Add(DefaultRunRecordTTL).Unix(), 10), item[RunRecordTTLAttribute].(*types.AttributeValueMemberN).Value,
		"the item lives as long as its newest entry")
	got, err := parseStateRecord(item)
	require.NoError(t, err)
	assert.Equal(t, int64(3), got.Revision)
	assert.Equal(t, []RunRecord{r, older}, got.Runs, "newest first")
	assert.True(t, IsReservedKey(r.Key()))
	assert.False(t, IsReservedKey("tfstate-guard/app/terraform.tfstate"), "a bucket named tfstate-guard holds Terraform locks")
	assert.Error(t, RunRecord{LockPath: "x", Repository: "norepo", Written: w}.Validate())
}

func TestParseStateRecordIsBoundedAndForgiving(t *testing.T) {
	t.Parallel()
	key := func(k string) *types.AttributeValueMemberS { return &types.AttributeValueMemberS{Value: k} }
	_, err := parseStateRecord(map[string]types.AttributeValue{attrLockID: key("tfstate-guard#run#b/k#o/r#1#1#plan")})
	assert.ErrorIs(t, err, errLegacyRecord)

	var entries []string
	const n = MaxRunsPerState + 15
	base := time.Date(2026, 11, 27, 5, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		entries = append(entries, fmt.Sprintf(`{"repository":"o/r","run_id":%d,"run_attempt":1,"written":%q}`, i+1, base.Add(time.Duration(i)*time.Minute).Format(time.RFC3339)))
	}
	entries = append(entries, fmt.Sprintf(`{"repository":"no-slash","run_id":1,"run_attempt":1,"written":%q}`, base.Add(n*time.Minute).Format(time.RFC3339)), `{"run_id":"x"}`)
	_, err = parseStateRecord(map[string]types.AttributeValue{attrLockID: key(StateRecordPrefix + "b/k"), attrRuns: key("[" + strings.Join(entries, ",") + "]")})
	assert.Error(t, err, "an entry of the wrong type makes the item unreadable")
	got, err := parseStateRecord(map[string]types.AttributeValue{attrLockID: key(StateRecordPrefix + "b/k"), attrRuns: key("[" + strings.Join(entries[:n+1], ",") + "]")})
	require.NoError(t, err)
	require.Len(t, got.Runs, MaxRunsPerState, "at most MaxRunsPerState entries, whatever the item holds")
	assert.Equal(t, int64(n), got.Runs[0].RunID, "newest valid entry first; the invalid one is dropped")
	assert.Equal(t, "b/k", got.Runs[0].LockPath)
	assert.False(t, got.revisionKnown)

	_, err = parseStateRecord(map[string]types.AttributeValue{attrLockID: key(StateRecordPrefix + "b/k"), attrRuns: key(strings.Repeat(" ", maxRecordItemBytes+1))})
	assert.ErrorContains(t, err, "more than")
}
