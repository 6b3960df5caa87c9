// Package e2e proves the promise end to end: real Terraform takes real
// locks in a real S3 + DynamoDB protocol server (moto), is killed or left
// running, and the tfstate-guard binary, run as the Actions runner runs it,
// finds, classifies and removes exactly the dead locks.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/text2agent/tfstate-guard/internal/actiontest"
	"github.com/text2agent/tfstate-guard/internal/fakegithub"
	"github.com/text2agent/tfstate-guard/internal/locktest"
	"github.com/text2agent/tfstate-guard/internal/motoserver"
	"github.com/text2agent/tfstate-guard/lockcheck"
)

var (
	binary     string
	terraform  string // >= 1.5
	lockfileTF string // >= 1.10 (use_lockfile); may be OpenTofu
)

func TestMain(m *testing.M) {
	code := func() int {
		dir, err := os.MkdirTemp("", "tfstate-guard-e2e")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		if binary, err = actiontest.Build("..", dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if terraform, err = findTerraform("TFSTATE_GUARD_TERRAFORM", 1, 5); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if lockfileTF, err = findTerraform("TFSTATE_GUARD_TERRAFORM_LOCKFILE", 1, 10); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer motoserver.StopShared()
		return m.Run()
	}()
	os.Exit(code)
}

var versionPattern = regexp.MustCompile(`"terraform_version":\s*"(\d+)\.(\d+)\.`)

// findTerraform takes the binary named by env, else terraform on PATH, and
// checks its version. A missing Terraform fails the run: scripts/ensure-terraform.sh
// (called by .ci/run) provides one.
func findTerraform(env string, major, minor int) (string, error) {
	candidates := []string{os.Getenv(env)}
	if p, err := exec.LookPath("terraform"); err == nil {
		candidates = append(candidates, p)
	}
	for _, c := range candidates {
		if c == "" {
			continue
		}
		out, err := exec.Command(c, "version", "-json").Output()
		if err != nil {
			continue
		}
		m := versionPattern.FindSubmatch(out)
		var ma, mi int
		if m != nil {
			fmt.Sscan(string(m[1]), &ma)
			fmt.Sscan(string(m[2]), &mi)
		}
		if ma > major || (ma == major && mi >= minor) {
			return c, nil
		}
	}
	return "", fmt.Errorf("no Terraform >= %d.%d: set %s or run scripts/ensure-terraform.sh (candidates %q)", major, minor, env, candidates)
}

// fakeGitHub is GitHub's run API (internal/fakegithub) behind a server.
type fakeGitHub struct {
	api *fakegithub.API
	srv *httptest.Server
}

func newFakeGitHub(t *testing.T) *fakeGitHub {
	f := &fakeGitHub{api: fakegithub.New()}
	f.srv = httptest.NewServer(f.api)
	t.Cleanup(f.srv.Close)
	return f
}

// set moves run id's first attempt to a live status.
func (f *fakeGitHub) set(id int64, status string) {
	f.api.SetAttempt("octo/infra", id, 1, status, "")
}

// complete ends the runs' first attempts, their jobs on the runner every
// guard step runs on. A cancelled job ends seconds after its Terraform was
// killed; complete waits past the clock-skew allowance first, so the end is
// provably after the lock was taken (detect gives a run that ended within
// the allowance of the lock the benefit of the doubt: not its owner).
func (f *fakeGitHub) complete(ids ...int64) {
	time.Sleep(lockcheck.DefaultRecordSkew + time.Second)
	for _, id := range ids {
		f.api.End("octo/infra", id, 1, "cancelled", actiontest.RunnerName, time.Now())
	}
}

var seq atomic.Int64

// backend is one bucket and one table on the moto server.
type backend struct {
	t      testing.TB
	srv    *motoserver.Server
	ddb    *dynamodb.Client
	s3     *s3.Client
	bucket string
	table  string
}

func newBackend(t testing.TB) *backend {
	srv := motoserver.Shared(t)
	n := seq.Add(1)
	b := &backend{t: t, srv: srv, ddb: srv.DynamoDB("eu-west-2"), s3: srv.S3("eu-west-2"),
		bucket: fmt.Sprintf("e2e-state-%d-%d", time.Now().UnixNano()%1e6, n), table: fmt.Sprintf("e2e-locks-%d-%d", time.Now().UnixNano()%1e6, n)}
	ctx := context.Background()
	_, err := b.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b.bucket),
		CreateBucketConfiguration: &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraintEuWest2}})
	require.NoError(t, err)
	_, err = b.s3.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(b.bucket),
		VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled}})
	require.NoError(t, err)
	locktest.CreateTable(t, b.ddb, b.table)
	return b
}

// item reads a table item's Info (or Digest) with a consistent read.
func (b *backend) item(key string) (map[string]types.AttributeValue, bool) {
	out, err := b.ddb.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(b.table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"LockID": &types.AttributeValueMemberS{Value: key}}})
	require.NoError(b.t, err)
	return out.Item, out.Item != nil
}

// lockInfo is the Info text of the lock item at lockPath; the test fails
// when there is none.
func (b *backend) lockInfo(lockPath string) string {
	b.t.Helper()
	item, ok := b.item(lockPath)
	require.True(b.t, ok, "no item at %s", lockPath)
	info, ok := item["Info"].(*types.AttributeValueMemberS)
	require.True(b.t, ok, "item at %s holds no lock Info", lockPath)
	return info.Value
}

// lockID is the Terraform lock ID held at lockPath.
func (b *backend) lockID(lockPath string) string {
	return lockcheck.ParseLock(lockPath, b.lockInfo(lockPath), lockcheck.Location{}).ID()
}

func (b *backend) object(key string) (string, bool) {
	out, err := b.s3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(b.bucket), Key: aws.String(key)})
	if err != nil {
		return "", false
	}
	defer out.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(out.Body)
	return buf.String(), true
}

// lockMethod says how a Terraform working directory locks its state.
type lockMethod int

const (
	withDynamoDB lockMethod = 1 << iota
	withLockfile
)

// workdir is one Terraform root module using the backend.
type workdir struct {
	t      testing.TB
	b      *backend
	bin    string
	dir    string
	key    string
	method lockMethod
	env    []string
}

const mainTF = `terraform {
  backend "s3" {}
}

variable "hold" {
  type    = number
  default = 0
}

resource "terraform_data" "hold" {
  triggers_replace = timestamp()

  provisioner "local-exec" {
    command = "sleep ${var.hold}"
  }
}
`

func newWorkdir(t testing.TB, b *backend, key string, method lockMethod) *workdir {
	return newWorkdirVia(t, b, key, method, b.srv.URL)
}

// newWorkdirVia is newWorkdir with the backend's endpoints at url (a
// fault-injecting proxy in front of the server).
func newWorkdirVia(t testing.TB, b *backend, key string, method lockMethod, url string) *workdir {
	bin := terraform
	if method&withLockfile != 0 {
		bin = lockfileTF
	}
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.tf"), []byte(mainTF), 0o644))
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "bucket = %q\nkey = %q\nregion = \"eu-west-2\"\n", b.bucket, key)
	if method&withDynamoDB != 0 {
		fmt.Fprintf(&cfg, "dynamodb_table = %q\n", b.table)
	}
	if method&withLockfile != 0 {
		cfg.WriteString("use_lockfile = true\n")
	}
	fmt.Fprintf(&cfg, "use_path_style = true\nskip_credentials_validation = true\nskip_requesting_account_id = true\n"+
		"skip_metadata_api_check = true\nskip_region_validation = true\nendpoints = {\n  s3 = %q\n  dynamodb = %q\n}\n", url, url)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "backend.hcl"), []byte(cfg.String()), 0o644))
	cli := filepath.Join(dir, "empty.tfrc")
	require.NoError(t, os.WriteFile(cli, nil, 0o644))
	env := append(os.Environ(), b.srv.Env()...)
	env = append(env, "TF_CLI_CONFIG_FILE="+cli, "TF_IN_AUTOMATION=1", "CHECKPOINT_DISABLE=1", "TF_INPUT=0")
	w := &workdir{t: t, b: b, bin: bin, dir: dir, key: key, method: method, env: env}
	w.mustRun("init", "-input=false", "-backend-config=backend.hcl")
	return w
}

func (w *workdir) cmd(args ...string) *exec.Cmd {
	c := exec.Command(w.bin, args...)
	c.Dir, c.Env = w.dir, w.env
	return c
}

// run runs Terraform to completion and returns its output. Output goes to
// a buffer, never to a pipe that could close early and SIGPIPE Terraform.
func (w *workdir) run(args ...string) (string, error) {
	c := w.cmd(args...)
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	err := c.Run()
	return out.String(), err
}

func (w *workdir) mustRun(args ...string) string {
	w.t.Helper()
	out, err := w.run(args...)
	require.NoError(w.t, err, "terraform %s:\n%s", strings.Join(args, " "), out)
	return out
}

// syncBuffer is Terraform's output, written by exec's copier while the
// test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// running is a Terraform apply holding its lock.
type running struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan error
}

// applyHolding starts an apply that holds the lock for hold seconds and
// waits until the lock is in the store.
func (w *workdir) applyHolding(hold int, lockPath string, method lockMethod) *running {
	w.t.Helper()
	c := w.cmd("apply", "-auto-approve", "-input=false", fmt.Sprintf("-var=hold=%d", hold))
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	r := &running{cmd: c, out: &syncBuffer{}, done: make(chan error, 1)}
	c.Stdout, c.Stderr = r.out, r.out
	require.NoError(w.t, c.Start())
	w.t.Cleanup(func() { _ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL) })
	go func() { r.done <- c.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		held := true
		if method&withDynamoDB != 0 {
			item, ok := w.b.item(lockPath)
			held = held && ok && item["Info"] != nil
		}
		if method&withLockfile != 0 {
			_, ok := w.b.object(strings.TrimPrefix(lockPath, w.b.bucket+"/") + lockcheck.LockFileSuffix)
			held = held && ok
		}
		if held && strings.Contains(r.out.String(), "Provisioning with 'local-exec'") {
			return r
		}
		select {
		case err := <-r.done:
			w.t.Fatalf("terraform apply ended before holding the lock: %v\n%s", err, r.out.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	w.t.Fatalf("terraform never took the lock on %s:\n%s", lockPath, r.out.String())
	return nil
}

// kill9 kills Terraform and its children the hard way: the lock stays.
func (r *running) kill9(t *testing.T) {
	require.NoError(t, syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL))
	<-r.done
}

func (r *running) wait(t *testing.T) {
	select {
	case err := <-r.done:
		require.NoError(t, err, "terraform apply should finish normally:\n%s", r.out.String())
	case <-time.After(2 * time.Minute):
		t.Fatalf("terraform apply did not finish:\n%s", r.out.String())
	}
}

var lockIDPattern = regexp.MustCompile(`ID:\s+([0-9a-f-]{36})`)

// guard runs tfstate-guard steps for one backend as a job of run 900.
type guard struct {
	*actiontest.Runner
	b *backend
}

func newGuard(t *testing.T, b *backend, gh *fakeGitHub) *guard {
	r := actiontest.New(t, binary, append(b.srv.Env(), "GITHUB_API_URL="+gh.srv.URL)...)
	return &guard{Runner: r, b: b}
}

func (g *guard) inputs(mode string, extra map[string]string) map[string]string {
	in := map[string]string{"mode": mode, "aws-region": "eu-west-2", "lock-table": g.b.table, "github-token": "test-token",
		"stale-after": "30m", "active-within": "10m"}
	for k, v := range extra {
		in[k] = v
	}
	return in
}

// setup runs mode: setup as job "terraform-apply" of the given run, as the
// reusable workflow does before Terraform: it writes the run record that
// ties a future lock on this state to that run. It returns the lock path.
func (g *guard) setup(w *workdir, workspace string, runID int64) string {
	g.b.t.Helper()
	method := map[lockMethod]string{withDynamoDB: "dynamodb", withLockfile: "s3", withDynamoDB | withLockfile: "both"}[w.method]
	in := g.inputs("setup", map[string]string{
		"state-bucket": g.b.bucket, "state-key": w.key, "workspace": workspace, "lock-method": method,
		"working-directory": g.b.t.TempDir(),
		// moto refuses object writes to a bucket with a Deny-with-condition policy.
		"skip-enforced-tls": "true",
		// As the reusable workflow does: the host Terraform runs on, which
		// (like a GitHub-hosted runner) runs this one job.
		"runner-host": thisHost(g.b.t), "runner-exclusive": "true",
	})
	code := g.Run(in, fmt.Sprintf("GITHUB_RUN_ID=%d", runID), "GITHUB_JOB=terraform-apply")
	require.Equal(g.b.t, 0, code, g.Stdout)
	out := g.Outputs()
	require.NotEmpty(g.b.t, out["LOCK_PATH"], g.Stdout)
	return out["LOCK_PATH"]
}

func TestKilledApplyIsFoundApprovedAndRemoved(t *testing.T) {
	t.Parallel()
	b, gh := newBackend(t), newFakeGitHub(t)
	key := "app/terraform.tfstate"
	lockPath := b.bucket + "/" + key
	w := newWorkdir(t, b, key, withDynamoDB)
	w.mustRun("apply", "-auto-approve", "-input=false")
	digestBefore, ok := b.item(lockPath + "-md5")
	require.True(t, ok, "a first apply leaves state and its digest")

	g := newGuard(t, b, gh)
	require.Equal(t, lockPath, g.setup(w, "default", 5001))
	gh.set(5001, "in_progress")
	tf := w.applyHolding(120, lockPath, withDynamoDB)
	tf.kill9(t)
	gh.complete(5001) // the cancelled run has ended

	require.Equal(t, 0, g.Run(g.inputs("detect", map[string]string{"fail-on-active": "true"})), g.Stdout)
	out := g.Outputs()
	assert.Equal(t, "true", out["STALE_LOCKS_FOUND"])
	assert.Equal(t, "false", out["ACTIVE_LOCKS_FOUND"])
	assert.Equal(t, "1", out["LOCK_COUNT"])
	realID := b.lockID(lockPath)
	assert.Equal(t, realID, out["LOCK_IDS"], "Terraform's own lock ID")
	assert.Contains(t, out["LOCK_DETAILS"], `"rule":"owner-run-completed","evidence":"definitive"`)
	assert.Contains(t, g.Summary(), "Stale locks: approval required (1 stale)")

	planOut, err := w.run("plan", "-lock-timeout=0s", "-input=false")
	require.Error(t, err, "the dead lock blocks Terraform")
	assert.Contains(t, planOut, "Error acquiring the state lock")
	if m := lockIDPattern.FindStringSubmatch(planOut); assert.NotNil(t, m) {
		assert.Equal(t, realID, m[1], "Terraform names the same lock")
	}

	require.Equal(t, 0, g.Run(g.inputs("unlock", map[string]string{"lock-ids": out["LOCK_IDS"], "lock-details": out["LOCK_DETAILS"]})), g.Stdout)
	res := g.Outputs()
	assert.Equal(t, realID, res["UNLOCKED_LOCK_IDS"])
	assert.Empty(t, res["REFUSED_LOCK_IDS"])
	assert.Contains(t, g.Summary(), "1 removed, 0 already released, 0 refused")

	w.mustRun("plan", "-lock-timeout=0s", "-input=false")
	digestAfter, ok := b.item(lockPath + "-md5")
	require.True(t, ok, "the digest item survives")
	assert.Equal(t, digestBefore["Digest"], digestAfter["Digest"])
	state, ok := b.object(key)
	require.True(t, ok, "the state survives")
	assert.Contains(t, state, `"terraform_data"`)
}

// thisHost is the hostname Terraform writes into Who on this machine.
func thisHost(t testing.TB) string {
	h, err := os.Hostname()
	require.NoError(t, err)
	return h
}

// Issue 9: a run's setup, its apply completing, and then someone else (a
// laptop, another workflow that never ran setup) takes the state's lock.
// The completed run's record must not convict that live lock.
func TestForeignLockAfterACompletedRunIsNeverOffered(t *testing.T) {
	t.Parallel()
	b, gh := newBackend(t), newFakeGitHub(t)
	key := "foreign/terraform.tfstate"
	lockPath := b.bucket + "/" + key
	w := newWorkdir(t, b, key, withDynamoDB)
	g := newGuard(t, b, gh)
	require.Equal(t, lockPath, g.setup(w, "default", 4001))
	gh.set(4001, "in_progress")
	w.mustRun("apply", "-auto-approve", "-input=false")
	gh.api.End("octo/infra", 4001, 1, "success", actiontest.RunnerName, time.Now()) // run 4001 ends; its record stays 7 days

	foreign := w.applyHolding(20, lockPath, withDynamoDB) // nobody ran setup for this one
	id := b.lockID(lockPath)
	code := g.Run(g.inputs("detect", map[string]string{"fail-on-active": "true"}))
	assert.Equal(t, 1, code, g.Stdout)
	out := g.Outputs()
	assert.Equal(t, "true", out["ACTIVE_LOCKS_FOUND"])
	assert.Equal(t, "false", out["STALE_LOCKS_FOUND"])
	assert.Empty(t, out["LOCK_IDS"], "a live lock is never offered for unlock")
	assert.Contains(t, out["LOCK_DETAILS"], `"rule":"younger-than-active-within","evidence":"none"`)
	assert.Contains(t, out["LOCK_DETAILS"], "before this lock was taken: not its owner")

	// Even approved by mistake, unlock classifies again and refuses.
	code = g.Run(g.inputs("unlock", map[string]string{"lock-ids": id}))
	assert.Equal(t, 1, code, g.Stdout)
	assert.Equal(t, id, g.Outputs()["REFUSED_LOCK_IDS"])
	assert.Equal(t, id, b.lockID(lockPath), "the foreign lock is still held")
	foreign.wait(t)
}

// Issue 10: a killed terraform apply whose job ran setup is cleared by
// detect with auto-unlock: definitive, and the next plan runs with no
// approval. A laptop's lock on another state, taken beside it, stays.
func TestAutoUnlockClearsAKilledApplyWithoutApproval(t *testing.T) {
	t.Parallel()
	b, gh := newBackend(t), newFakeGitHub(t)
	key, laptopKey := "auto/terraform.tfstate", "laptop/terraform.tfstate"
	lockPath := b.bucket + "/" + key
	w := newWorkdir(t, b, key, withDynamoDB)
	laptop := newWorkdir(t, b, laptopKey, withDynamoDB)
	w.mustRun("apply", "-auto-approve", "-input=false")                    // an earlier run wrote state and its digest
	held := laptop.applyHolding(120, b.bucket+"/"+laptopKey, withDynamoDB) // never ran setup: no evidence
	g := newGuard(t, b, gh)
	require.Equal(t, lockPath, g.setup(w, "default", 5101))
	gh.set(5101, "in_progress")
	w.applyHolding(120, lockPath, withDynamoDB).kill9(t)
	gh.complete(5101)

	code := g.Run(g.inputs("detect", map[string]string{"fail-on-active": "false", "auto-unlock": "definitive", "active-within": "1s", "stale-after": "2s"}))
	require.Equal(t, 0, code, g.Stdout)
	out := g.Outputs()
	assert.Equal(t, "1", out["AUTO_UNLOCKED_COUNT"])
	assert.NotEmpty(t, out["AUTO_UNLOCKED_LOCK_IDS"])
	assert.Equal(t, b.lockID(b.bucket+"/"+laptopKey), out["LOCK_IDS"], "the laptop's lock, stale only by age, waits for a person: %s", out["LOCK_DETAILS"])
	assert.Contains(t, g.Summary(), "Removed without approval: 1 lock(s) whose owner is proven gone")
	_, stillHeld := b.item(lockPath)
	assert.False(t, stillHeld)
	w.mustRun("plan", "-lock-timeout=0s", "-input=false")
	_, ok := b.item(lockPath + "-md5")
	assert.True(t, ok, "the digest item survives")
	held.kill9(t)
}

// Issue 10: a lock held by a running terraform apply is waited out with
// wait-for-active, and the plan then succeeds.
func TestWaitForActiveWaitsOutARunningApply(t *testing.T) {
	t.Parallel()
	b, gh := newBackend(t), newFakeGitHub(t)
	key := "wait/terraform.tfstate"
	lockPath := b.bucket + "/" + key
	w := newWorkdir(t, b, key, withDynamoDB)
	g := newGuard(t, b, gh)
	require.Equal(t, lockPath, g.setup(w, "default", 5201))
	gh.set(5201, "in_progress")
	tf := w.applyHolding(8, lockPath, withDynamoDB) // finishes on its own in ~8 s
	go func() {
		tf.wait(t)
		gh.complete(5201)
	}()
	code := g.Run(g.inputs("detect", map[string]string{"fail-on-active": "true", "wait-for-active": "3m"}))
	require.Equal(t, 0, code, g.Stdout)
	assert.Contains(t, g.Stdout, "waiting for run 5201 (terraform), 1 lock(s)")
	assert.Equal(t, "0", g.Outputs()["LOCK_COUNT"])
	w.mustRun("plan", "-lock-timeout=0s", "-input=false")
}

func TestRunningApplyIsNeverTouched(t *testing.T) {
	t.Parallel()
	b, gh := newBackend(t), newFakeGitHub(t)
	key := "running/terraform.tfstate"
	lockPath := b.bucket + "/" + key
	w := newWorkdir(t, b, key, withDynamoDB)
	g := newGuard(t, b, gh)
	require.Equal(t, lockPath, g.setup(w, "default", 6001))
	gh.set(6001, "in_progress")
	tf := w.applyHolding(8, lockPath, withDynamoDB)

	// Judged by its live run, however generous the age windows.
	code := g.Run(g.inputs("detect", map[string]string{"fail-on-active": "true", "active-within": "1s", "stale-after": "2s"}))
	assert.Equal(t, 1, code, g.Stdout)
	out := g.Outputs()
	assert.Equal(t, "true", out["ACTIVE_LOCKS_FOUND"])
	assert.Equal(t, "false", out["STALE_LOCKS_FOUND"])
	assert.Empty(t, out["LOCK_IDS"])
	assert.Contains(t, g.Summary(), "Active locks: blocked")
	id := b.lockID(lockPath)

	code = g.Run(g.inputs("unlock", map[string]string{"lock-ids": id, "active-within": "1s", "stale-after": "2s"}))
	assert.Equal(t, 1, code, g.Stdout)
	assert.Equal(t, id, g.Outputs()["REFUSED_LOCK_IDS"])
	assert.Contains(t, g.Summary(), "run 6001 attempt 1 (record of job")

	tf.wait(t) // Terraform finishes normally and releases its own lock
	_, held := b.item(lockPath)
	assert.False(t, held)
}

func TestYoungLockWithoutEvidenceIsActive(t *testing.T) {
	t.Parallel()
	b, gh := newBackend(t), newFakeGitHub(t)
	key := "young/terraform.tfstate"
	lockPath := b.bucket + "/" + key
	w := newWorkdir(t, b, key, withDynamoDB)
	g := newGuard(t, b, gh)
	tf := w.applyHolding(6, lockPath, withDynamoDB)
	assert.Equal(t, 1, g.Run(g.inputs("detect", nil)), g.Stdout)
	assert.Contains(t, g.Outputs()["LOCK_DETAILS"], `"rule":"younger-than-active-within"`)
	tf.wait(t)
}

func TestRelockedBetweenDetectAndUnlockSurvives(t *testing.T) {
	t.Parallel()
	b, gh := newBackend(t), newFakeGitHub(t)
	key := "relock/terraform.tfstate"
	lockPath := b.bucket + "/" + key
	w := newWorkdir(t, b, key, withDynamoDB)
	g := newGuard(t, b, gh)
	require.Equal(t, lockPath, g.setup(w, "default", 7001))
	gh.set(7001, "in_progress")
	first := w.applyHolding(120, lockPath, withDynamoDB)
	first.kill9(t)
	gh.complete(7001)
	require.Equal(t, 0, g.Run(g.inputs("detect", nil)), g.Stdout)
	approved := g.Outputs()
	require.Equal(t, "1", approved["LOCK_COUNT"])
	oldID := approved["LOCK_IDS"]
	require.NotEmpty(t, oldID)

	// Meanwhile someone releases it by hand and a new Terraform takes the state.
	w.mustRun("force-unlock", "-force", oldID)
	g.setup(w, "default", 7002)
	gh.set(7002, "in_progress")
	second := w.applyHolding(8, lockPath, withDynamoDB)
	newInfo := b.lockInfo(lockPath)
	newID := lockcheck.ParseLock(lockPath, newInfo, lockcheck.Location{}).ID()
	require.NotEqual(t, oldID, newID)

	code := g.Run(g.inputs("unlock", map[string]string{"lock-ids": oldID, "lock-details": approved["LOCK_DETAILS"]}))
	assert.Equal(t, 1, code, g.Stdout)
	assert.Equal(t, oldID, g.Outputs()["REFUSED_LOCK_IDS"])
	assert.Contains(t, g.Summary(), "locked again since approval by lock "+newID)
	assert.Equal(t, newInfo, b.lockInfo(lockPath), "the new lock survives")
	second.wait(t)
}

func TestWorkspacesAndTwoStatesShareOneTable(t *testing.T) {
	t.Parallel()
	b, gh := newBackend(t), newFakeGitHub(t)
	g := newGuard(t, b, gh)
	appKey, netKey := "app/terraform.tfstate", "network/terraform.tfstate"
	app := newWorkdir(t, b, appKey, withDynamoDB)
	app.mustRun("workspace", "new", "staging")
	net := newWorkdir(t, b, netKey, withDynamoDB)
	appPath := lockcheck.WorkspacePath(b.bucket, appKey, "", "staging")
	netPath := lockcheck.WorkspacePath(b.bucket, netKey, "", "default")
	require.Contains(t, appPath, "/env:/staging/")
	require.Equal(t, appPath, g.setup(app, "staging", 8001))
	require.Equal(t, netPath, g.setup(net, "default", 8002))
	a := app.applyHolding(120, appPath, withDynamoDB)
	n := net.applyHolding(120, netPath, withDynamoDB)
	a.kill9(t)
	n.kill9(t)
	gh.complete(8001, 8002)

	require.Equal(t, 0, g.Run(g.inputs("detect", map[string]string{"lock-id-prefix": b.bucket + "/env:/"})), g.Stdout)
	assert.Equal(t, "1", g.Outputs()["LOCK_COUNT"], "lock-id-prefix narrows to the workspace")

	require.Equal(t, 0, g.Run(g.inputs("detect", nil)), g.Stdout)
	out := g.Outputs()
	assert.Equal(t, "2", out["LOCK_COUNT"])
	assert.Contains(t, out["LOCK_DETAILS"], `"lock_path":"`+appPath+`"`)
	ids := strings.Split(out["LOCK_IDS"], ",")
	require.Len(t, ids, 2)

	require.Equal(t, 0, g.Run(g.inputs("unlock", map[string]string{"lock-ids": out["LOCK_IDS"], "lock-details": out["LOCK_DETAILS"]})), g.Stdout)
	assert.ElementsMatch(t, ids, strings.Split(g.Outputs()["UNLOCKED_LOCK_IDS"], ","))
	app.mustRun("plan", "-lock-timeout=0s", "-input=false")
	net.mustRun("plan", "-lock-timeout=0s", "-input=false")
}

func TestS3LockFiles(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		method lockMethod
	}{
		{"use_lockfile only", withLockfile},
		{"both lock methods", withLockfile | withDynamoDB},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, gh := newBackend(t), newFakeGitHub(t)
			key := "lockfile/terraform.tfstate"
			lockPath := b.bucket + "/" + key
			w := newWorkdir(t, b, key, tc.method)
			g := newGuard(t, b, gh)
			require.Equal(t, lockPath, g.setup(w, "default", 9001))
			w.applyHolding(120, lockPath, tc.method).kill9(t)
			gh.complete(9001)
			body, ok := b.object(key + lockcheck.LockFileSuffix)
			require.True(t, ok)
			realID := lockcheck.ParseLock(lockPath, body, lockcheck.Location{}).ID()

			in := g.inputs("detect", map[string]string{"state-bucket": b.bucket})
			require.Equal(t, 0, g.Run(in), g.Stdout)
			out := g.Outputs()
			assert.Equal(t, "1", out["LOCK_COUNT"], "a lock held in both places is one lock")
			assert.Equal(t, realID, out["LOCK_IDS"])
			if tc.method&withDynamoDB != 0 {
				assert.Contains(t, out["LOCK_DETAILS"], `"sources":["s3","dynamodb"]`)
			} else {
				assert.Contains(t, out["LOCK_DETAILS"], `"sources":["s3"]`)
			}
			_, err := w.run("plan", "-lock-timeout=0s", "-input=false")
			require.Error(t, err)

			require.Equal(t, 0, g.Run(g.inputs("unlock", map[string]string{"state-bucket": b.bucket, "lock-ids": realID, "lock-details": out["LOCK_DETAILS"]})), g.Stdout)
			assert.Equal(t, realID, g.Outputs()["UNLOCKED_LOCK_IDS"])
			_, ok = b.object(key + lockcheck.LockFileSuffix)
			assert.False(t, ok)
			_, ok = b.item(lockPath)
			assert.False(t, ok)
			w.mustRun("plan", "-lock-timeout=0s", "-input=false")
		})
	}
}
