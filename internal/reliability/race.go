package reliability

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// RaceConfig is one race run.
type RaceConfig struct {
	Entry      Entry
	Iterations int
	Seed       int64
	// WorldSize is how many iterations share one lock table and bucket, so
	// run records, dead locks and approvals carry over between them.
	WorldSize int
	// Parallel worlds run at the same time.
	Parallel int
	Region   string
	// DDB and S3 talk to moto directly: they are the Terraform-like writers.
	DDB *dynamodb.Client
	S3  *s3.Client
	// AWS is the proxy in front of moto that the product talks to; it
	// logs every call the product makes.
	AWS    *Proxy
	GitHub *FakeGitHub
	// GitHubURL is what the product is told (the fake, or a proxy of it).
	GitHubURL string
	Dir       string
	// DetectVariants are extra inputs for detect actors, one picked at
	// random per detect. The harness counts removals from any step's
	// UNLOCK_DETAILS / UNLOCKED_LOCK_IDS / AUTO_UNLOCKED_LOCK_IDS, so a detect that removes locks
	// itself (auto-unlock) is accounted for like unlock. Empty: {{}}.
	DetectVariants []map[string]string
	// Hostname is this machine's name (the fixed scenarios' CI host).
	Hostname string
	// DynamoDBStore and S3Store name the stores behind DDB and S3 in the
	// report ("moto", "dynalite", "moto, writes serialised per key").
	DynamoDBStore, S3Store string
	// NamePrefix sets runs on the same servers apart (lower-case letters,
	// digits and hyphens: it goes into bucket names).
	NamePrefix string
	Logf       func(format string, args ...any)
}

// RaceReport is what a race run counted.
type RaceReport struct {
	Iterations     int
	Seed           int64
	LocksTaken     int
	Contended      int // a writer gave up waiting for the lock, as Terraform's -lock-timeout does
	Removed        int
	Refused        int
	AlreadyGone    int
	Detects        int
	Unlocks        int
	Setups         int
	LiveRemoved    int
	DigestsTouched int
	StatesTouched  int
	// Writers is how many writers the iterations started, WritersDone how
	// many ended (with the lock, contended, or dead while holding it), and
	// DetectsPlanned how many detects they started: work that was done
	// whatever the machine's speed.
	Writers, WritersDone, DetectsPlanned int
	// StoreDoubles counts, per store, the locks a writer's conditional
	// write won while another writer held the same lock and had not begun
	// to release it, nor had the product begun to remove it: two holders
	// the store itself allowed. Not a failure of tfstate-guard, and the
	// lock lost at release that follows is not counted as one.
	StoreDoubles map[string]int
	// Violations say what broke, with the seed, iteration and step logs.
	Violations []string
}

// writer kinds
const (
	kindCILive        = "ci-live"          // setup, lock, write state, release, then the run completes
	kindCIHostname    = "ci-live-hostname" // same, Who host gha-<run>-<attempt>
	kindCISelfHosted  = "ci-live-self-hosted"
	kindCIDies        = "ci-dies"        // setup, lock, then the run is cancelled: the lock stays
	kindLaptopLive    = "laptop-live"    // no setup: lock, write state, release
	kindLaptopDeadOld = "laptop-dead-2h" // a lock left two hours ago
	writerHoldMin     = 20 * time.Millisecond
	writerHoldSpread  = 180 * time.Millisecond
	lockTimeout       = 400 * time.Millisecond
	repository        = "octo/infra"
	githubToken       = "reliability-token"
	terraformVersion  = "1.11.4"
)

var writerKinds = []struct {
	kind   string
	weight int
}{
	{kindCILive, 25}, {kindCIHostname, 10}, {kindCISelfHosted, 8}, {kindCIDies, 15},
	{kindLaptopLive, 30}, {kindLaptopDeadOld, 12},
}

// statePath is one state in a world and how its Terraform locks.
type statePath struct {
	key       string // backend key
	workspace string // "default" or a workspace name
	method    string // dynamodb, s3 or both
	bucket    string
}

func (p statePath) stateKey() string {
	if p.workspace == "default" {
		return p.key
	}
	return "env:/" + p.workspace + "/" + p.key
}
func (p statePath) lockPath() string { return p.bucket + "/" + p.stateKey() }
func (p statePath) usesTable() bool  { return p.method != "s3" }
func (p statePath) usesFile() bool   { return p.method != "dynamodb" }

// heldLock is one lock a writer took, from its own log.
type heldLock struct {
	id, path, info, etag, kind string
	method                     string    // dynamodb, s3 or both
	putStart                   time.Time // when the winning conditional write was sent
	acquired                   time.Time // when it was answered
	releaseStart               time.Time // when its holder began to release it
	removedAt                  time.Time // when the product began to remove it
	// double: another writer held it at the same time (the store's doing).
	double bool
	// alive is true until the holder dies (diedAt) or releases it.
	diesAt   time.Time // zero: a live holder that releases it
	released time.Time
	// lostAtRelease: when the writer came to release it, it was gone or changed.
	lostAtRelease string
}

type approval struct{ ids, details string }

// world is one lock table and bucket and what happened in it.
type world struct {
	cfg      *RaceConfig
	n        int
	table    string
	bucket   string
	paths    []statePath
	inv      *Invoker
	rng      *rand.Rand // only the world's goroutine draws from it
	mu       sync.Mutex
	locks    map[string]*heldLock // by lock ID
	doubles  map[[2]string]bool   // pairs of lock IDs held at once, counted
	byETag   map[string]string    // S3 ETag -> lock ID
	states   map[string][]string  // state key -> bodies written, in order
	approval []approval
	steps    []Result
	report   RaceReport
	nextRun  int64
}

// Race runs cfg.Iterations randomized iterations and reports what it saw.
func Race(ctx context.Context, cfg RaceConfig) RaceReport {
	if cfg.WorldSize <= 0 {
		cfg.WorldSize = 25
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 1
	}
	if len(cfg.DetectVariants) == 0 {
		cfg.DetectVariants = []map[string]string{{}}
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	cfg.AWS.KeepLog(isMutation)
	master := rand.New(rand.NewSource(cfg.Seed))
	type job struct {
		n, iterations int
		seed          int64
	}
	var jobs []job
	for n, left := 0, cfg.Iterations; left > 0; n++ {
		it := min(cfg.WorldSize, left)
		jobs = append(jobs, job{n, it, master.Int63()})
		left -= it
	}
	total := RaceReport{Iterations: cfg.Iterations, Seed: cfg.Seed}
	var mu sync.Mutex
	sem := make(chan struct{}, cfg.Parallel)
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			r := runWorld(ctx, &cfg, j.n, j.iterations, j.seed)
			mu.Lock()
			total.add(r)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return total
}

func (r *RaceReport) add(o RaceReport) {
	r.LocksTaken += o.LocksTaken
	r.Contended += o.Contended
	r.Removed += o.Removed
	r.Refused += o.Refused
	r.AlreadyGone += o.AlreadyGone
	r.Detects += o.Detects
	r.Unlocks += o.Unlocks
	r.Setups += o.Setups
	r.LiveRemoved += o.LiveRemoved
	r.DigestsTouched += o.DigestsTouched
	r.StatesTouched += o.StatesTouched
	r.Writers += o.Writers
	r.WritersDone += o.WritersDone
	r.DetectsPlanned += o.DetectsPlanned
	for k, v := range o.StoreDoubles {
		if r.StoreDoubles == nil {
			r.StoreDoubles = map[string]int{}
		}
		r.StoreDoubles[k] += v
	}
	r.Violations = append(r.Violations, o.Violations...)
}

func runWorld(ctx context.Context, cfg *RaceConfig, n, iterations int, seed int64) RaceReport {
	w := &world{cfg: cfg, n: n, rng: rand.New(rand.NewSource(seed)), locks: map[string]*heldLock{},
		byETag: map[string]string{}, states: map[string][]string{}, nextRun: int64(n+1) * 1_000_000}
	w.table = fmt.Sprintf("race-locks-%s%d-%d", cfg.NamePrefix, cfg.Seed%100000, n)
	w.bucket = fmt.Sprintf("race-state-%s%d-%d", cfg.NamePrefix, cfg.Seed%100000, n)
	methods := []string{"dynamodb", "s3", "both"}
	w.rng.Shuffle(len(methods), func(i, j int) { methods[i], methods[j] = methods[j], methods[i] })
	w.paths = []statePath{
		{key: "app/terraform.tfstate", workspace: "default", method: methods[0], bucket: w.bucket},
		{key: "net/terraform.tfstate", workspace: "default", method: methods[1], bucket: w.bucket},
		{key: "app/terraform.tfstate", workspace: "dev", method: methods[2], bucket: w.bucket},
	}
	w.inv = &Invoker{Entry: cfg.Entry, Dir: cfg.Dir, Env: map[string]string{
		"GITHUB_REPOSITORY": repository, "GITHUB_WORKFLOW": "terraform", "GITHUB_API_URL": cfg.GitHubURL,
		"AWS_ENDPOINT_URL": cfg.AWS.URL,
	}}
	if err := w.create(ctx); err != nil {
		w.violate("world %d: create table and bucket: %v", n, err)
		return w.report
	}
	for i := 0; i < iterations; i++ {
		w.iteration(ctx, i)
	}
	w.checkStates(ctx)
	return w.report
}

func (w *world) violate(format string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.report.Violations = append(w.report.Violations, fmt.Sprintf("seed %d world %d: ", w.cfg.Seed, w.n)+fmt.Sprintf(format, args...))
}

func (w *world) create(ctx context.Context) error {
	_, err := w.cfg.DDB.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(w.table),
		BillingMode:          ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("LockID"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("LockID"), KeyType: ddbtypes.KeyTypeHash}},
	})
	if err != nil {
		return err
	}
	in := &s3.CreateBucketInput{Bucket: aws.String(w.bucket)}
	if w.cfg.Region != "us-east-1" {
		in.CreateBucketConfiguration = &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraint(w.cfg.Region)}
	}
	_, err = w.cfg.S3.CreateBucket(ctx, in)
	return err
}

// actor is one concurrent participant of an iteration, with its random
// choices drawn up front (so a seed replays the same choices).
type actor struct {
	delay time.Duration
	run   func(ctx context.Context)
}

func (w *world) iteration(ctx context.Context, it int) {
	var actors []actor
	delay := func() time.Duration { return time.Duration(w.rng.Intn(60)) * time.Millisecond }
	var firstDetect chan approval
	nw, nd := 1+w.rng.Intn(3), 1+w.rng.Intn(2)
	w.mu.Lock()
	w.report.Writers += nw
	w.report.DetectsPlanned += nd
	w.mu.Unlock()
	for k := 0; k < nw; k++ {
		a := w.newWriter(it, k)
		actors = append(actors, actor{delay(), func(ctx context.Context) {
			defer func() { w.mu.Lock(); w.report.WritersDone++; w.mu.Unlock() }()
			a(ctx)
		}})
	}
	for k := 0; k < nd; k++ {
		variant := w.cfg.DetectVariants[w.rng.Intn(len(w.cfg.DetectVariants))]
		var done chan approval
		if k == 0 {
			firstDetect = make(chan approval, 4)
			done = firstDetect
		}
		actors = append(actors, actor{delay(), func(ctx context.Context) { w.detect(ctx, variant, done) }})
	}
	for k, nu := 0, w.rng.Intn(3); k < nu; k++ {
		fresh := w.rng.Intn(10) < 6
		pick := w.rng.Int()
		wait := firstDetect
		actors = append(actors, actor{delay(), func(ctx context.Context) {
			var a approval
			if fresh {
				a = <-wait
				wait <- a
			} else {
				w.mu.Lock()
				if len(w.approval) > 0 {
					a = w.approval[pick%len(w.approval)]
				}
				w.mu.Unlock()
			}
			w.unlock(ctx, a)
		}})
	}
	if w.rng.Intn(4) == 0 {
		p := w.paths[w.rng.Intn(len(w.paths))]
		actors = append(actors, actor{delay(), func(ctx context.Context) { w.localSetup(ctx, p) }})
	}
	var wg sync.WaitGroup
	for _, a := range actors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(a.delay)
			a.run(ctx)
		}()
	}
	wg.Wait()
	w.account(it)
}

func isMutation(c Call) bool {
	switch c.Service {
	case "dynamodb":
		return c.Op == "DeleteItem" || c.Op == "PutItem" || c.Op == "UpdateItem" || c.Op == "BatchWriteItem" || c.Op == "TransactWriteItems"
	case "s3":
		return c.Op == "DELETE" || c.Op == "PUT" || c.Op == "POST" || c.Op == "POST bucket"
	}
	return false
}

// newWriter draws a writer's choices and returns its body.
func (w *world) newWriter(it, k int) func(ctx context.Context) {
	total := 0
	for _, wk := range writerKinds {
		total += wk.weight
	}
	pick := w.rng.Intn(total)
	kind := writerKinds[0].kind
	for _, wk := range writerKinds {
		if pick < wk.weight {
			kind = wk.kind
			break
		}
		pick -= wk.weight
	}
	p := w.paths[w.rng.Intn(len(w.paths))]
	hold := writerHoldMin + time.Duration(w.rng.Int63n(int64(writerHoldSpread)))
	id := uuid(w.rng)
	serial := w.rng.Intn(1 << 20)
	w.mu.Lock()
	w.nextRun++
	runID := w.nextRun
	w.mu.Unlock()
	laptop := fmt.Sprintf("dev%d@laptop-%d", k, w.rng.Intn(4))
	skips := w.rng.Intn(16)
	return func(ctx context.Context) {
		switch kind {
		case kindLaptopLive:
			w.write(ctx, p, id, laptop, kind, time.Now(), hold, false, serial)
		case kindLaptopDeadOld:
			w.write(ctx, p, id, laptop, kind, time.Now().Add(-2*time.Hour), 0, true, serial)
		default:
			w.ciRun(ctx, it, p, id, kind, runID, hold, serial, skips)
		}
	}
}

// ciRun is one CI job: its run goes live, setup writes the run record, then
// Terraform takes the lock; the run completes after the release, or is
// cancelled while holding it (kindCIDies).
func (w *world) ciRun(ctx context.Context, it int, p statePath, id, kind string, runID int64, hold time.Duration, serial, skips int) {
	// A GitHub-hosted job runs alone on a fresh VM with its own name; a
	// self-hosted runner's machine is its name and is shared over time.
	runner, host, environment := "GitHub Actions 10000"+fmt.Sprint(runID%1000), fmt.Sprintf("runnervm%d", runID), "github-hosted"
	switch kind {
	case kindCIHostname:
		host = fmt.Sprintf("gha-%d-1", runID)
	case kindCISelfHosted:
		runner, environment = fmt.Sprintf("sh-runner-%d", runID%7), "self-hosted"
		host = runner
	}
	w.cfg.GitHub.Start(runID, "apply", runner)
	inputs := map[string]string{
		"lock-table": w.table, "state-bucket": w.bucket, "state-key": p.key, "workspace": p.workspace,
		"lock-method": p.method, "aws-region": w.cfg.Region, "backend-file": "backend_override.tf",
		// moto denies every request under a conditional Deny (it ignores
		// aws:SecureTransport), so the TLS-only statement stays off here.
		"skip-enforced-tls": "true",
		// The host Terraform will write into Who, recorded with the run.
		"runner-host": host,
	}
	for i, s := range []string{"skip-tags", "skip-point-in-time-recovery", "skip-deletion-protection", "skip-permission-check"} {
		if skips&(1<<i) != 0 {
			inputs[s] = "true"
		}
	}
	wd, err := os.MkdirTemp(w.cfg.Dir, "wd-")
	if err == nil {
		inputs["working-directory"] = wd
		defer os.RemoveAll(wd)
	}
	res := w.inv.Step(ctx, "setup", inputs, map[string]string{
		"GITHUB_RUN_ID": fmt.Sprint(runID), "GITHUB_RUN_ATTEMPT": "1", "GITHUB_JOB": "apply", "RUNNER_NAME": runner,
		"RUNNER_ENVIRONMENT": environment,
	})
	w.record(res)
	if res.Code != 0 {
		w.violate("iteration %d: setup of run %d failed under the race:\n%s", it, runID, res.Log())
		w.cfg.GitHub.Complete(runID, "failure")
		return
	}
	dies := kind == kindCIDies
	held := w.write(ctx, p, id, "runner@"+host, kind, time.Now(), hold, dies, serial)
	switch {
	case !held:
		w.cfg.GitHub.Complete(runID, "failure") // Terraform: Error acquiring the state lock
	case dies:
		w.mu.Lock()
		w.locks[id].diesAt = time.Now()
		w.mu.Unlock()
		w.cfg.GitHub.Complete(runID, "cancelled")
	default:
		w.cfg.GitHub.Complete(runID, "success")
	}
}

// write is Terraform: take the lock with its conditional writes (retrying
// until lockTimeout), write the state and its digest, hold, release. A
// dead writer stops after taking the lock. It reports whether it held it.
func (w *world) write(ctx context.Context, p statePath, id, who, kind string, created time.Time, hold time.Duration, dies bool, serial int) bool {
	info := fmt.Sprintf(`{"ID":%q,"Operation":"OperationTypeApply","Info":"","Who":%q,"Version":%q,"Created":%q,"Path":%q}`,
		id, who, terraformVersion, created.UTC().Format(time.RFC3339Nano), p.stateKey())
	h := &heldLock{id: id, path: p.lockPath(), info: info, kind: kind, method: p.method}
	if dies && kind == kindLaptopDeadOld {
		h.diesAt = time.Now() // dead before it is taken: left two hours ago
	}
	deadline := time.Now().Add(lockTimeout)
	for {
		sent := time.Now()
		ok, etag, err := w.lock(ctx, p, info)
		if err != nil {
			w.violate("writer %s: lock %s: %v", kind, p.lockPath(), err)
			return false
		}
		if ok {
			h.etag, h.putStart, h.acquired = etag, sent, time.Now()
			break
		}
		if time.Now().After(deadline) {
			w.mu.Lock()
			w.report.Contended++
			w.mu.Unlock()
			return false
		}
		time.Sleep(time.Duration(20+rand.Intn(40)) * time.Millisecond)
	}
	w.mu.Lock()
	w.locks[id] = h
	if h.etag != "" {
		w.byETag[h.etag] = id
	}
	w.report.LocksTaken++
	w.mu.Unlock()
	// Terraform writes the state (and the digest) while holding the lock.
	body := fmt.Sprintf(`{"version":4,"terraform_version":%q,"serial":%d,"lineage":"%s","outputs":{},"resources":[]}`+"\n", terraformVersion, serial, id)
	if err := w.writeState(ctx, p, body); err != nil {
		w.violate("writer %s: write state %s: %v", kind, p.stateKey(), err)
	}
	if dies {
		return true
	}
	time.Sleep(hold)
	lost := w.release(ctx, p, h)
	w.mu.Lock()
	h.released, h.lostAtRelease = time.Now(), lost
	w.mu.Unlock()
	return true
}

// lock takes the lock the way Terraform's S3 backend does: the .tflock
// object with If-None-Match: * first, then the DynamoDB item with
// attribute_not_exists(LockID); if the second fails, the first is released.
func (w *world) lock(ctx context.Context, p statePath, info string) (bool, string, error) {
	var etag string
	if p.usesFile() {
		out, err := w.cfg.S3.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(p.bucket), Key: aws.String(p.stateKey() + ".tflock"),
			Body: strings.NewReader(info), IfNoneMatch: aws.String("*"), ContentType: aws.String("application/json"),
		})
		if err != nil {
			if isStatus(err, 412) || isStatus(err, 409) {
				return false, "", nil
			}
			return false, "", err
		}
		etag = aws.ToString(out.ETag)
	}
	if p.usesTable() {
		_, err := w.cfg.DDB.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: aws.String(w.table),
			Item: map[string]ddbtypes.AttributeValue{
				"LockID": &ddbtypes.AttributeValueMemberS{Value: p.lockPath()},
				"Info":   &ddbtypes.AttributeValueMemberS{Value: info},
			},
			ConditionExpression: aws.String("attribute_not_exists(LockID)"),
		})
		if err != nil {
			if p.usesFile() {
				_, _ = w.cfg.S3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(p.bucket), Key: aws.String(p.stateKey() + ".tflock"), IfMatch: aws.String(etag)})
			}
			var ccf *ddbtypes.ConditionalCheckFailedException
			if errors.As(err, &ccf) {
				return false, "", nil
			}
			return false, "", err
		}
	}
	return true, etag, nil
}

func (w *world) writeState(ctx context.Context, p statePath, body string) error {
	w.mu.Lock()
	w.states[p.stateKey()] = append(w.states[p.stateKey()], body)
	w.mu.Unlock()
	if _, err := w.cfg.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(p.bucket), Key: aws.String(p.stateKey()), Body: strings.NewReader(body)}); err != nil {
		return err
	}
	if !p.usesTable() {
		return nil
	}
	sum := md5.Sum([]byte(body))
	_, err := w.cfg.DDB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(w.table), Item: map[string]ddbtypes.AttributeValue{
		"LockID": &ddbtypes.AttributeValueMemberS{Value: p.lockPath() + "-md5"},
		"Digest": &ddbtypes.AttributeValueMemberS{Value: hex.EncodeToString(sum[:])},
	}})
	return err
}

// release is Terraform's unlock, which first reads the lock and compares
// it with its own: a lock gone or changed means someone removed it while
// this writer held it. The harness's own delete is conditional so that a
// lost lock never makes it remove another writer's.
func (w *world) release(ctx context.Context, p statePath, h *heldLock) string {
	w.mu.Lock()
	h.releaseStart = time.Now()
	w.mu.Unlock()
	var lost []string
	if p.usesFile() {
		key := p.stateKey() + ".tflock"
		out, err := w.cfg.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(p.bucket), Key: aws.String(key)})
		if err != nil {
			lost = append(lost, fmt.Sprintf("s3 lock file gone (%v)", shortErr(err)))
		} else {
			body, _ := io.ReadAll(out.Body)
			out.Body.Close()
			if string(body) != h.info {
				lost = append(lost, "s3 lock file replaced")
			} else if _, err := w.cfg.S3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(p.bucket), Key: aws.String(key), IfMatch: aws.String(h.etag)}); err != nil {
				lost = append(lost, fmt.Sprintf("s3 release failed: %v", shortErr(err)))
			}
		}
	}
	if p.usesTable() {
		out, err := w.cfg.DDB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(w.table), ConsistentRead: aws.Bool(true),
			Key: map[string]ddbtypes.AttributeValue{"LockID": &ddbtypes.AttributeValueMemberS{Value: p.lockPath()}}})
		switch {
		case err != nil:
			lost = append(lost, fmt.Sprintf("dynamodb read failed: %v", shortErr(err)))
		case out.Item == nil:
			lost = append(lost, "dynamodb lock item gone")
		default:
			if s, _ := out.Item["Info"].(*ddbtypes.AttributeValueMemberS); s == nil || s.Value != h.info {
				lost = append(lost, "dynamodb lock item replaced")
			} else if _, err := w.cfg.DDB.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(w.table),
				Key:                       map[string]ddbtypes.AttributeValue{"LockID": &ddbtypes.AttributeValueMemberS{Value: p.lockPath()}},
				ConditionExpression:       aws.String("Info = :info"),
				ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":info": &ddbtypes.AttributeValueMemberS{Value: h.info}},
			}); err != nil {
				lost = append(lost, fmt.Sprintf("dynamodb release failed: %v", shortErr(err)))
			}
		}
	}
	return strings.Join(lost, "; ")
}

func (w *world) detectInputs() map[string]string {
	return map[string]string{
		"lock-table": w.table, "state-bucket": w.bucket, "lock-source": "both", "aws-region": w.cfg.Region,
		"github-token": githubToken, "github-api-url": w.cfg.GitHubURL, "github-repository": repository,
	}
}

// checkerRun registers the run that executes detect or unlock.
func (w *world) checkerRun(job string) map[string]string {
	w.mu.Lock()
	w.nextRun++
	id := w.nextRun
	w.mu.Unlock()
	w.cfg.GitHub.Start(id, job, "GitHub Actions 2000")
	return map[string]string{"GITHUB_RUN_ID": fmt.Sprint(id), "GITHUB_RUN_ATTEMPT": "1", "GITHUB_JOB": job, "RUNNER_NAME": "GitHub Actions 2000"}
}

func (w *world) endRun(env map[string]string) {
	var id int64
	fmt.Sscan(env["GITHUB_RUN_ID"], &id)
	w.cfg.GitHub.Complete(id, "success")
}

func (w *world) detect(ctx context.Context, variant map[string]string, done chan approval) {
	in := w.detectInputs()
	in["fail-on-active"] = "false"
	for k, v := range variant {
		in[k] = v
	}
	env := w.checkerRun("stale-lock-check")
	res := w.inv.Step(ctx, "detect", in, env)
	w.endRun(env)
	w.record(res)
	var a approval
	if res.Code != 0 || res.OutputsErr != nil {
		w.violate("detect failed under the race (exit %d, outputs %v):\n%s", res.Code, res.OutputsErr, res.Log())
	} else {
		a = approval{ids: res.Outputs["LOCK_IDS"], details: res.Outputs["LOCK_DETAILS"]}
		w.mu.Lock()
		w.approval = append(w.approval, a)
		w.report.Detects++
		w.mu.Unlock()
	}
	if done != nil {
		done <- a
	}
}

func (w *world) unlock(ctx context.Context, a approval) {
	if strings.TrimSpace(a.ids) == "" {
		return // nothing was approved: the workflow skips the approval job
	}
	in := w.detectInputs()
	in["lock-ids"], in["lock-details"] = a.ids, a.details
	env := w.checkerRun("stale-lock-approval")
	res := w.inv.Step(ctx, "unlock", in, env)
	w.endRun(env)
	w.record(res)
	w.mu.Lock()
	w.report.Unlocks++
	w.mu.Unlock()
	if (res.Code != 0 && res.Code != 1) || res.OutputsErr != nil {
		w.violate("unlock failed under the race (exit %d, outputs %v):\n%s", res.Code, res.OutputsErr, res.Log())
	}
}

// localSetup is setup from a laptop (command line, no run record).
func (w *world) localSetup(ctx context.Context, p statePath) {
	wd, err := os.MkdirTemp(w.cfg.Dir, "local-")
	if err != nil {
		return
	}
	defer os.RemoveAll(wd)
	args := []string{"setup", "--lock-table", w.table, "--state-bucket", w.bucket, "--state-key", p.key,
		"--workspace", p.workspace, "--lock-method", p.method, "--aws-region", w.cfg.Region,
		"--skip-enforced-tls", "true", "--working-directory", wd}
	var out, errOut strings.Builder
	getenv := func(k string) string {
		if strings.HasPrefix(k, "AWS_") {
			return w.inv.Env[k]
		}
		return ""
	}
	code := w.cfg.Entry(ctx, args, getenv, &out, &errOut)
	w.record(Result{Mode: "setup (local)", Code: code, Stdout: out.String(), Stderr: errOut.String()})
	if code != 0 {
		w.violate("local setup failed under the race (exit %d):\n%s", code, errOut.String())
	}
}

func (w *world) record(r Result) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if r.Mode == "setup" || r.Mode == "setup (local)" {
		w.report.Setups++
	}
	w.steps = append(w.steps, r)
}

// unlockRow is one element of UNLOCK_DETAILS.
type unlockRow struct {
	LockID  string   `json:"lock_id"`
	Outcome string   `json:"outcome"`
	Removed []string `json:"removed_from"`
}

// account checks the iteration's invariants from the writers' logs, the
// steps' outputs and the product's calls as the proxy saw them.
func (w *world) account(it int) {
	calls := w.cfg.AWS.Take(w.table, w.bucket)
	w.mu.Lock()
	steps := w.steps
	w.steps = nil
	w.mu.Unlock()

	// What the steps say they removed: lock ID -> sources.
	claimed := map[string]map[string]bool{}
	for _, s := range steps {
		for _, id := range removedIDs(s) {
			if claimed[id] == nil {
				claimed[id] = map[string]bool{}
			}
			claimed[id]["*"] = true
		}
		w.report.Refused += len(splitIDs(s.Outputs["REFUSED_LOCK_IDS"]))
		w.report.AlreadyGone += len(splitIDs(s.Outputs["ALREADY_RELEASED_LOCK_IDS"]))
		var rows []unlockRow
		if d := s.Outputs["UNLOCK_DETAILS"]; d != "" {
			if err := json.Unmarshal([]byte(d), &rows); err != nil {
				w.violate("iteration %d: UNLOCK_DETAILS is not JSON: %v", it, err)
			}
		}
		for _, r := range rows {
			for _, src := range r.Removed {
				if claimed[r.LockID] == nil {
					claimed[r.LockID] = map[string]bool{}
				}
				claimed[r.LockID][src] = true
			}
		}
	}
	w.report.Removed += len(uniqueRemoved(steps))

	w.mu.Lock()
	defer w.mu.Unlock()
	digestKeys, stateKeys := map[string]bool{}, map[string]bool{}
	for _, p := range w.paths {
		digestKeys[p.lockPath()+"-md5"] = true
		stateKeys[p.stateKey()] = true
	}
	for _, c := range calls {
		if c.Service == "dynamodb" && digestKeys[c.Key] {
			w.report.DigestsTouched++
			w.report.Violations = append(w.report.Violations, fmt.Sprintf("seed %d world %d iteration %d: the product called %s on digest item %q (status %d)", w.cfg.Seed, w.n, it, c.Op, c.Key, c.Status))
		}
		if c.Service == "s3" && stateKeys[c.Key] {
			w.report.StatesTouched++
			w.report.Violations = append(w.report.Violations, fmt.Sprintf("seed %d world %d iteration %d: the product called %s on state object %q (status %d)", w.cfg.Seed, w.n, it, c.Op, c.Key, c.Status))
		}
		if c.Status < 200 || c.Status > 299 {
			continue
		}
		var id, src string
		switch {
		case c.Service == "dynamodb" && c.Op == "DeleteItem" && !strings.HasPrefix(c.Key, "tfstate-guard#"):
			var info struct{ ID string }
			_ = json.Unmarshal([]byte(c.Condition), &info)
			id, src = info.ID, "dynamodb"
			if c.Condition == "" {
				w.report.Violations = append(w.report.Violations, fmt.Sprintf("seed %d world %d iteration %d: unconditional DeleteItem of %q", w.cfg.Seed, w.n, it, c.Key))
			}
		case c.Service == "s3" && c.Op == "DELETE" && strings.HasSuffix(c.Key, ".tflock"):
			id, src = w.byETag[c.Condition], "s3"
			if c.Condition == "" {
				w.report.Violations = append(w.report.Violations, fmt.Sprintf("seed %d world %d iteration %d: DeleteObject of %q without If-Match", w.cfg.Seed, w.n, it, c.Key))
			}
		default:
			continue
		}
		h := w.locks[id]
		if h == nil {
			w.report.Violations = append(w.report.Violations, fmt.Sprintf("seed %d world %d iteration %d: the product removed %s lock %q (%s) that no writer took", w.cfg.Seed, w.n, it, src, id, c.Key))
			continue
		}
		if h.removedAt.IsZero() || c.Start.Before(h.removedAt) {
			h.removedAt = c.Start
		}
		if !claimed[id]["*"] && !claimed[id][src] {
			w.report.Violations = append(w.report.Violations, fmt.Sprintf("seed %d world %d iteration %d: removal of lock %s from %s is in no step's UNLOCKED_LOCK_IDS or UNLOCK_DETAILS", w.cfg.Seed, w.n, it, id, src))
		}
		if h.diesAt.IsZero() || c.Start.Before(h.diesAt) {
			w.report.LiveRemoved++
			w.report.Violations = append(w.report.Violations, fmt.Sprintf(
				"seed %d world %d iteration %d: LIVE LOCK REMOVED: %s lock %s on %s held by a live %s writer (taken %s, delete at %s)%s\n%s",
				w.cfg.Seed, w.n, it, src, id, h.path, h.kind, h.acquired.Format("15:04:05.000"), c.Start.Format("15:04:05.000"),
				diesNote(h), stepsAbout(steps, id)))
		}
	}
	w.storeDoubles()
	for _, h := range w.locks {
		if h.lostAtRelease != "" && h.double {
			h.lostAtRelease = "" // the store let two writers hold it: counted in StoreDoubles
			continue
		}
		if h.lostAtRelease != "" {
			// Seen from the writer's side; the proxy check above reports
			// the removal itself when the product made it.
			w.report.Violations = append(w.report.Violations, fmt.Sprintf("seed %d world %d iteration %d: writer %s found its lock %s on %s lost at release: %s",
				w.cfg.Seed, w.n, it, h.kind, h.id, h.path, h.lostAtRelease))
			h.lostAtRelease = ""
		}
	}
}

// storeDoubles finds the locks two writers held at once: b's conditional
// write was sent after a's had won, and won before a's holder began to
// release it or the product began to remove it. Each such lock counts once
// for each store whose conditional write let b in (both, for a state
// locked in DynamoDB and S3). Called with w.mu held.
func (w *world) storeDoubles() {
	byPath := map[string][]*heldLock{}
	for _, h := range w.locks {
		if !h.acquired.IsZero() {
			byPath[h.path] = append(byPath[h.path], h)
		}
	}
	for _, hs := range byPath {
		for _, a := range hs {
			end := a.releaseStart
			if !a.removedAt.IsZero() && (end.IsZero() || a.removedAt.Before(end)) {
				end = a.removedAt
			}
			for _, b := range hs {
				if a == b || w.doubles[[2]string{a.id, b.id}] || !a.acquired.Before(b.putStart) || (!end.IsZero() && !b.acquired.Before(end)) {
					continue
				}
				if w.doubles == nil {
					w.doubles = map[[2]string]bool{}
				}
				w.doubles[[2]string{a.id, b.id}] = true
				a.double, b.double = true, true
				if w.report.StoreDoubles == nil {
					w.report.StoreDoubles = map[string]int{}
				}
				if b.method != "s3" {
					w.report.StoreDoubles["dynamodb: "+w.cfg.DynamoDBStore]++
				}
				if b.method != "dynamodb" {
					w.report.StoreDoubles["s3: "+w.cfg.S3Store]++
				}
			}
		}
	}
}

func diesNote(h *heldLock) string {
	if h.diesAt.IsZero() {
		return "; the writer was to release it itself"
	}
	return "; its holder died at " + h.diesAt.Format("15:04:05.000")
}

// stepsAbout quotes the steps whose outputs mention id.
func stepsAbout(steps []Result, id string) string {
	var b strings.Builder
	for _, s := range steps {
		if strings.Contains(s.Outputs["LOCK_DETAILS"], id) || strings.Contains(s.Outputs["UNLOCK_DETAILS"], id) || strings.Contains(s.Outputs["AUTO_UNLOCKED_LOCK_IDS"], id) {
			fmt.Fprintf(&b, "  %s step: LOCK_DETAILS=%s UNLOCK_DETAILS=%s AUTO_UNLOCKED_LOCK_IDS=%s\n", s.Mode, findDetail(s.Outputs["LOCK_DETAILS"], id), s.Outputs["UNLOCK_DETAILS"], s.Outputs["AUTO_UNLOCKED_LOCK_IDS"])
		}
	}
	return b.String()
}

func findDetail(details, id string) string {
	var rows []map[string]any
	if json.Unmarshal([]byte(details), &rows) != nil {
		return ""
	}
	for _, r := range rows {
		if r["lock_id"] == id {
			b, _ := json.Marshal(r)
			return string(b)
		}
	}
	return ""
}

func uniqueRemoved(steps []Result) map[string]bool {
	out := map[string]bool{}
	for _, s := range steps {
		for _, id := range removedIDs(s) {
			out[id] = true
		}
	}
	return out
}

// removedIDs are the IDs a step says it removed: unlock's
// UNLOCKED_LOCK_IDS, and detect's AUTO_UNLOCKED_LOCK_IDS when auto-unlock
// removes locks without approval.
func removedIDs(r Result) []string {
	return append(splitIDs(r.Outputs["UNLOCKED_LOCK_IDS"]), splitIDs(r.Outputs["AUTO_UNLOCKED_LOCK_IDS"])...)
}

func splitIDs(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// checkStates verifies, at the end of a world, that every state object and
// digest item holds the last thing a writer wrote to it.
func (w *world) checkStates(ctx context.Context) {
	keys := make([]string, 0, len(w.states))
	for k := range w.states {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, p := range w.paths {
		bodies := w.states[p.stateKey()]
		if len(bodies) == 0 {
			continue
		}
		out, err := w.cfg.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(w.bucket), Key: aws.String(p.stateKey())})
		if err != nil {
			w.report.StatesTouched++
			w.violate("state object %s is gone: %v", p.stateKey(), err)
			continue
		}
		body, _ := io.ReadAll(out.Body)
		out.Body.Close()
		if !contains(bodies, string(body)) {
			w.report.StatesTouched++
			w.violate("state object %s holds something no writer wrote", p.stateKey())
		}
		if !p.usesTable() {
			continue
		}
		item, err := w.cfg.DDB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(w.table), ConsistentRead: aws.Bool(true),
			Key: map[string]ddbtypes.AttributeValue{"LockID": &ddbtypes.AttributeValueMemberS{Value: p.lockPath() + "-md5"}}})
		if err != nil || item.Item == nil {
			w.report.DigestsTouched++
			w.violate("digest item %s-md5 is gone (%v)", p.lockPath(), err)
			continue
		}
		sum := md5.Sum(body)
		if d, _ := item.Item["Digest"].(*ddbtypes.AttributeValueMemberS); d == nil || d.Value != hex.EncodeToString(sum[:]) {
			// Writers race only when a lock was lost, which is reported,
			// or when the store let two of them hold it (StoreDoubles).
			if len(w.report.Violations) == 0 && len(w.report.StoreDoubles) == 0 {
				w.report.DigestsTouched++
				w.violate("digest item %s-md5 does not match the state", p.lockPath())
			}
		}
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func uuid(r *rand.Rand) string {
	b := make([]byte, 16)
	r.Read(b)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func shortErr(err error) string {
	s := err.Error()
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

func isStatus(err error, code int) bool {
	var re interface{ HTTPStatusCode() int }
	return errors.As(err, &re) && re.HTTPStatusCode() == code
}
