package e2e

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/text2agent/tfstate-guard/report"
)

// digestError is what Terraform prints, on every plan and apply, when the
// digest item does not match the state's bytes.
const digestError = "state data in S3 does not have the expected content"

// digestOf is the Digest of a state's digest item ("" when there is none).
func (b *backend) digestOf(lockPath string) string {
	item, ok := b.item(lockPath + "-md5")
	if !ok {
		return ""
	}
	d, _ := item["Digest"].(*types.AttributeValueMemberS)
	if d == nil {
		return ""
	}
	return d.Value
}

func (b *backend) putState(key, body string) {
	b.t.Helper()
	_, err := b.s3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(b.bucket), Key: aws.String(key), Body: strings.NewReader(body)})
	require.NoError(b.t, err)
}

func (g *guard) detectDigests(extra map[string]string) (int, map[string]string, []report.DigestEntry) {
	g.b.t.Helper()
	in := g.inputs("detect", map[string]string{"check-digests": "true", "state-bucket": g.b.bucket, "fail-on-active": "false"})
	for k, v := range extra {
		in[k] = v
	}
	code := g.Run(in)
	out := g.Outputs()
	var entries []report.DigestEntry
	require.NoError(g.b.t, json.Unmarshal([]byte(out["DIGEST_MISMATCHES"]), &entries), g.Stdout)
	return code, out, entries
}

func (g *guard) repair(extra map[string]string) (int, map[string]string) {
	g.b.t.Helper()
	code := g.Run(g.inputs("unlock", extra))
	return code, g.Outputs()
}

// planFailsOnDigest runs a plan that must fail with Terraform's digest error.
func planFailsOnDigest(t *testing.T, w *workdir) {
	t.Helper()
	out, err := w.run("plan", "-lock-timeout=0s", "-input=false")
	require.Error(t, err, "plan should fail on the digest:\n%s", out)
	require.Contains(t, out, digestError)
	t.Logf("terraform plan failed as users see it:\n%s", out)
}

// Issue 20, done-when 1: the state edited out of band makes every plan
// fail; detect finds it with its cause; the approved repair sets the digest,
// and the plan succeeds on the edited state, unchanged byte for byte.
func TestDigestEditedOutOfBandIsFoundAndRepaired(t *testing.T) {
	t.Parallel()
	b, gh := newBackend(t), newFakeGitHub(t)
	key := "edited/terraform.tfstate"
	lockPath := b.bucket + "/" + key
	w := newWorkdir(t, b, key, withDynamoDB)
	w.mustRun("apply", "-auto-approve", "-input=false")
	orig, ok := b.object(key)
	require.True(t, ok)
	var buf bytes.Buffer
	require.NoError(t, json.Indent(&buf, []byte(orig), "", "\t")) // a hand edit: same content, other bytes
	edited := buf.String()
	require.NotEqual(t, orig, edited)
	b.putState(key, edited)
	planFailsOnDigest(t, w)

	g := newGuard(t, b, gh)
	code, out, entries := g.detectDigests(map[string]string{"fail-on-digest-mismatch": "true"})
	assert.Equal(t, 1, code, "fail-on-digest-mismatch fails the step: %s", g.Stdout)
	assert.Equal(t, "true", out["DIGEST_MISMATCH_FOUND"])
	require.Len(t, entries, 1, out["DIGEST_MISMATCHES"])
	e := entries[0]
	assert.Equal(t, lockPath, e.Path)
	assert.Equal(t, "mismatch", e.Status)
	assert.Equal(t, b.digestOf(lockPath), e.Digest)
	assert.Equal(t, md5hex(edited), e.ActualMD5)
	assert.Equal(t, int64(len(edited)), e.Size)
	assert.Equal(t, "changed-outside-terraform", e.CauseKind)
	assert.Contains(t, e.Cause, "state changed outside Terraform at ")
	require.NotNil(t, e.Serial)
	require.NotNil(t, e.PreviousSerial)
	assert.Equal(t, *e.PreviousSerial, *e.Serial)
	assert.Equal(t, e.PreviousLineage, e.Lineage)
	assert.Contains(t, g.Summary(), "Terraform state digests: 1 mismatch(es)")
	assert.Contains(t, g.Summary(), digestError)

	code, res := g.repair(map[string]string{"repair-digests": out["DIGEST_MISMATCHES"]})
	require.Equal(t, 0, code, g.Stdout)
	assert.Equal(t, lockPath, res["REPAIRED_DIGESTS"])
	assert.Contains(t, res["DIGEST_REPAIRS"], `"old_digest":"`+e.Digest+`"`)
	assert.Contains(t, res["DIGEST_REPAIRS"], `"new_digest":"`+md5hex(edited)+`"`)
	assert.Contains(t, res["DIGEST_REPAIRS"], `"object_version":"`+e.ObjectVersion+`"`)
	assert.Equal(t, md5hex(edited), b.digestOf(lockPath))

	w.mustRun("plan", "-lock-timeout=0s", "-input=false")
	now, _ := b.object(key)
	assert.Equal(t, edited, now, "the state is unchanged byte for byte")
}

// Issue 20, done-when 2: the state object deleted with its digest left is
// restored from the version whose MD5 equals the digest, never "repaired"
// by deleting the digest.
func TestDigestDeletedStateIsRestored(t *testing.T) {
	t.Parallel()
	b, gh := newBackend(t), newFakeGitHub(t)
	key := "deleted/terraform.tfstate"
	lockPath := b.bucket + "/" + key
	w := newWorkdir(t, b, key, withDynamoDB)
	w.mustRun("apply", "-auto-approve", "-input=false")
	orig, ok := b.object(key)
	require.True(t, ok)
	_, err := b.s3.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(b.bucket), Key: aws.String(key)})
	require.NoError(t, err)
	planFailsOnDigest(t, w)

	g := newGuard(t, b, gh)
	_, out, entries := g.detectDigests(nil)
	require.Len(t, entries, 1, out["DIGEST_MISMATCHES"])
	e := entries[0]
	assert.Equal(t, "missing", e.Status)
	assert.Contains(t, e.Cause, "state object missing")
	require.NotEmpty(t, e.RestoreVersion)

	// Approved without saying how: refused, the digest stays.
	code, res := g.repair(map[string]string{"repair-digests": out["DIGEST_MISMATCHES"]})
	assert.Equal(t, 1, code, g.Stdout)
	assert.Equal(t, lockPath, res["REFUSED_DIGESTS"])
	assert.Contains(t, g.Stdout, "restore-state-version: "+e.RestoreVersion)
	assert.Equal(t, e.Digest, b.digestOf(lockPath), "never repaired by deleting the digest")

	code, res = g.repair(map[string]string{"repair-digests": out["DIGEST_MISMATCHES"], "restore-state-version": e.RestoreVersion})
	require.Equal(t, 0, code, g.Stdout)
	assert.Equal(t, lockPath, res["REPAIRED_DIGESTS"])
	assert.Contains(t, res["DIGEST_REPAIRS"], `"restored_from":"`+e.RestoreVersion+`"`)
	now, ok := b.object(key)
	require.True(t, ok)
	assert.Equal(t, orig, now, "restored byte for byte")
	w.mustRun("plan", "-lock-timeout=0s", "-input=false")
}

// Issue 20, done-when 3: lock-file-only runs leave the digest behind; the
// next run with the table fails; detect names the cause and flags the
// leftover digest. A repair is refused while a lock-file-only apply holds
// the state, then because that apply changed the state since detect; after
// a fresh detect it goes through and the DynamoDB run plans.
func TestDigestLeftByLockFileOnlyRuns(t *testing.T) {
	t.Parallel()
	b, gh := newBackend(t), newFakeGitHub(t)
	key := "lockfile-then-table/terraform.tfstate"
	lockPath := b.bucket + "/" + key
	table := newWorkdir(t, b, key, withDynamoDB)
	table.mustRun("apply", "-auto-approve", "-input=false")
	files := newWorkdir(t, b, key, withLockfile)
	files.mustRun("apply", "-auto-approve", "-input=false") // timestamp() trigger: a new serial
	files.mustRun("apply", "-auto-approve", "-input=false")
	planFailsOnDigest(t, table)

	g := newGuard(t, b, gh)
	_, out, entries := g.detectDigests(nil)
	require.Len(t, entries, 1, out["DIGEST_MISMATCHES"])
	e := entries[0]
	assert.Equal(t, "lock-file-only-runs", e.CauseKind, e.Cause)
	assert.Contains(t, e.Cause, "digest older than the state: written by lock-file-only runs")
	assert.True(t, e.LeftoverDigest)
	require.NotNil(t, e.Serial)
	require.NotNil(t, e.PreviousSerial)
	assert.Greater(t, *e.Serial, *e.PreviousSerial)
	assert.Contains(t, g.Summary(), "leftover digest")

	// A lock-file-only apply holds the state: the repair waits its turn.
	held := files.applyHolding(6, lockPath, withLockfile)
	code, res := g.repair(map[string]string{"repair-digests": out["DIGEST_MISMATCHES"]})
	assert.Equal(t, 1, code, g.Stdout)
	assert.Equal(t, lockPath, res["REFUSED_DIGESTS"])
	assert.Contains(t, g.Stdout, "the state is locked (lock file")
	assert.Equal(t, e.Digest, b.digestOf(lockPath))
	held.wait(t)

	// That apply wrote a new state since detect: refused again.
	code, _ = g.repair(map[string]string{"repair-digests": out["DIGEST_MISMATCHES"]})
	assert.Equal(t, 1, code, g.Stdout)
	assert.Contains(t, g.Stdout, "the state changed since detect")
	assert.Equal(t, e.Digest, b.digestOf(lockPath))

	_, out, entries = g.detectDigests(nil)
	require.Len(t, entries, 1)
	code, _ = g.repair(map[string]string{"repair-digests": out["DIGEST_MISMATCHES"]})
	require.Equal(t, 0, code, g.Stdout)
	before, _ := b.object(key)
	table.mustRun("plan", "-lock-timeout=0s", "-input=false")
	after, _ := b.object(key)
	assert.Equal(t, before, after, "the state is unchanged byte for byte")
}

// setupWorkdir is a root module whose backend file is the one setup writes
// (backend_override.tf); backend.hcl adds only what moto needs (endpoints,
// no credential checks), as a partial configuration.
func setupWorkdir(t *testing.T, b *backend) *workdir {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.tf"), []byte(mainTF), 0o644))
	hcl := fmt.Sprintf("use_path_style = true\nskip_credentials_validation = true\nskip_requesting_account_id = true\n"+
		"skip_metadata_api_check = true\nskip_region_validation = true\nendpoints = {\n  s3 = %q\n  dynamodb = %q\n}\n", b.srv.URL, b.srv.URL)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "backend.hcl"), []byte(hcl), 0o644))
	cli := filepath.Join(dir, "empty.tfrc")
	require.NoError(t, os.WriteFile(cli, nil, 0o644))
	env := append(os.Environ(), b.srv.Env()...)
	env = append(env, "TF_CLI_CONFIG_FILE="+cli, "TF_IN_AUTOMATION=1", "CHECKPOINT_DISABLE=1", "TF_INPUT=0")
	return &workdir{t: t, b: b, bin: lockfileTF, dir: dir, env: env}
}

// migrateStep runs setup with lock-method in w's directory, as the
// migration page says, and re-initialises Terraform on the file it wrote.
func (g *guard) migrateStep(w *workdir, key, method string, runID int64) string {
	t := g.b.t
	t.Helper()
	code := g.Run(g.inputs("setup", map[string]string{
		"state-bucket": g.b.bucket, "state-key": key, "lock-method": method, "working-directory": w.dir,
		"skip-enforced-tls": "true", "runner-host": thisHost(t), "runner-exclusive": "true",
	}), fmt.Sprintf("GITHUB_RUN_ID=%d", runID), "GITHUB_JOB=terraform-apply")
	require.Equal(t, 0, code, g.Stdout)
	file, err := os.ReadFile(filepath.Join(w.dir, "backend_override.tf"))
	require.NoError(t, err, g.Stdout)
	w.mustRun("init", "-input=false", "-reconfigure", "-backend-config=backend.hcl")
	return string(file)
}

// Issue 20: the migration page's steps, in order (docs/migrate-to-lock-files.md),
// in one root module whose backend file setup rewrites at each step:
// DynamoDB only, then both lock methods, then lock files only, then the
// leftover digest cleaned up with the repair. Every step's plan succeeds,
// and after the clean-up a late run that still has dynamodb_table plans too.
func TestMigrationToLockFilesStepByStep(t *testing.T) {
	t.Parallel()
	b, gh := newBackend(t), newFakeGitHub(t)
	g := newGuard(t, b, gh)
	key := "migrate/terraform.tfstate"
	lockPath := b.bucket + "/" + key
	w := setupWorkdir(t, b)
	late := newWorkdir(t, b, key, withDynamoDB) // a pipeline not yet changed

	// Before: dynamodb_table only.
	file := g.migrateStep(w, key, "dynamodb", 9101)
	require.Contains(t, file, "dynamodb_table")
	require.NotContains(t, file, "use_lockfile")
	w.mustRun("apply", "-auto-approve", "-input=false")
	w.mustRun("plan", "-lock-timeout=0s", "-input=false")

	// Step 1: both (lock-method: both): the digest is still kept.
	file = g.migrateStep(w, key, "both", 9102)
	require.Contains(t, file, "dynamodb_table")
	require.Contains(t, file, "use_lockfile")
	w.mustRun("apply", "-auto-approve", "-input=false")
	w.mustRun("plan", "-lock-timeout=0s", "-input=false")
	late.mustRun("plan", "-lock-timeout=0s", "-input=false")
	code, out, entries := g.detectDigests(nil)
	require.Equal(t, 0, code, g.Stdout)
	assert.Equal(t, "false", out["DIGEST_MISMATCH_FOUND"])
	assert.Empty(t, entries)

	// Step 2: lock files only (lock-method: s3). The digest is left behind.
	file = g.migrateStep(w, key, "s3", 9103)
	require.NotContains(t, file, "dynamodb_table")
	require.Contains(t, file, "use_lockfile")
	w.mustRun("apply", "-auto-approve", "-input=false")
	w.mustRun("plan", "-lock-timeout=0s", "-input=false")
	_, out, entries = g.detectDigests(nil)
	require.Len(t, entries, 1, out["DIGEST_MISMATCHES"])
	assert.Equal(t, "lock-file-only-runs", entries[0].CauseKind, entries[0].Cause)
	assert.True(t, entries[0].LeftoverDigest)
	planFailsOnDigest(t, late)

	// Step 3: clean up the leftover digest with the approved repair.
	code, res := g.repair(map[string]string{"repair-digests": out["DIGEST_MISMATCHES"]})
	require.Equal(t, 0, code, g.Stdout)
	assert.Equal(t, lockPath, res["REPAIRED_DIGESTS"])
	w.mustRun("plan", "-lock-timeout=0s", "-input=false")
	late.mustRun("plan", "-lock-timeout=0s", "-input=false")
	_, out, _ = g.detectDigests(nil)
	assert.Equal(t, "false", out["DIGEST_MISMATCH_FOUND"])
	_, ok := b.item(lockPath + "-md5")
	assert.True(t, ok, "the digest item is repaired, not deleted")
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// Issue 20: a rollback (an older state put back by hand) is refused unless
// allow-state-rollback says it is meant, and then plans; another stack's
// state put in place is refused for its lineage, and putting the right
// state back needs no repair at all.
func TestDigestRepairRefusesRollbackAndForeignLineage(t *testing.T) {
	t.Parallel()
	b, gh := newBackend(t), newFakeGitHub(t)
	key, otherKey := "rollback/terraform.tfstate", "other-stack/terraform.tfstate"
	lockPath := b.bucket + "/" + key
	w := newWorkdir(t, b, key, withDynamoDB)
	w.mustRun("apply", "-auto-approve", "-input=false")
	older, _ := b.object(key)
	w.mustRun("apply", "-auto-approve", "-input=false") // serial + 1
	other := newWorkdir(t, b, otherKey, withDynamoDB)
	other.mustRun("apply", "-auto-approve", "-input=false")
	foreign, _ := b.object(otherKey)
	g := newGuard(t, b, gh)
	scope := map[string]string{"lock-id-prefix": lockPath}

	// The older state of this stack put back: its serial went down.
	b.putState(key, older)
	planFailsOnDigest(t, w)
	_, out, entries := g.detectDigests(scope)
	require.Len(t, entries, 1, out["DIGEST_MISMATCHES"])
	assert.Equal(t, "state-rolled-back", entries[0].CauseKind, entries[0].Cause)
	require.NotNil(t, entries[0].Serial)
	require.NotNil(t, entries[0].PreviousSerial)
	assert.Less(t, *entries[0].Serial, *entries[0].PreviousSerial)
	digest := b.digestOf(lockPath)
	code, res := g.repair(map[string]string{"repair-digests": out["DIGEST_MISMATCHES"]})
	assert.Equal(t, 1, code, g.Stdout)
	assert.Equal(t, lockPath, res["REFUSED_DIGESTS"])
	assert.Contains(t, g.Stdout, "serial went down")
	assert.Equal(t, digest, b.digestOf(lockPath), "a refusal writes nothing")

	code, res = g.repair(map[string]string{"repair-digests": out["DIGEST_MISMATCHES"], "allow-state-rollback": "true"})
	require.Equal(t, 0, code, g.Stdout)
	assert.Equal(t, lockPath, res["REPAIRED_DIGESTS"])
	w.mustRun("plan", "-lock-timeout=0s", "-input=false")

	// Another stack's state in this one's place: its lineage differs.
	b.putState(key, foreign)
	_, out, entries = g.detectDigests(scope)
	require.Len(t, entries, 1, out["DIGEST_MISMATCHES"])
	assert.NotEqual(t, entries[0].Lineage, entries[0].PreviousLineage)
	assert.Contains(t, entries[0].Cause, "another state was put in its place")
	digest = b.digestOf(lockPath)
	code, res = g.repair(map[string]string{"repair-digests": out["DIGEST_MISMATCHES"]})
	assert.Equal(t, 1, code, g.Stdout)
	assert.Equal(t, lockPath, res["REFUSED_DIGESTS"])
	assert.Contains(t, g.Stdout, "differs from the previous version's")
	assert.Equal(t, digest, b.digestOf(lockPath))

	// The right state put back matches the untouched digest again.
	b.putState(key, older)
	w.mustRun("plan", "-lock-timeout=0s", "-input=false")
	now, _ := b.object(key)
	assert.Equal(t, older, now, "the state is unchanged byte for byte")
}
