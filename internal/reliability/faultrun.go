package reliability

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/text2agent/tfstate-guard/lockcheck"
)

// FaultConfig is one fault run.
type FaultConfig struct {
	Entry  Entry
	Region string
	DDB    *dynamodb.Client
	S3     *s3.Client
	AWS    *Proxy // in front of moto; the product's AWS_ENDPOINT_URL
	GH     *Proxy // in front of the fake GitHub; the product's github-api-url
	GitHub *FakeGitHub
	Dir    string
	// Hostname is the machine's name (a CI lock's Who host).
	Hostname string
	// Only, when set, runs the faults whose name contains it.
	Only string
	// Sample, when > 1, runs every Sample-th fault only (a quick run).
	Sample int
	Logf   func(format string, args ...any)
}

// FaultOutcome is what happened under one fault.
type FaultOutcome struct {
	Fault                  string
	DetectExit, UnlockExit int
	Removed                int
	Took                   time.Duration
}

// FaultReport is what a fault run saw.
type FaultReport struct {
	Kinds      int
	Outcomes   []FaultOutcome
	Violations []string
}

// seeded is one lock a fault scenario starts with.
type seeded struct {
	name, path, id, info, etag string
	table, file                bool
}

// errorNamesCall is what an exit-3 message must contain: the call that
// failed, in the product's words.
var errorNamesCall = regexp.MustCompile(`(scan lock table|list \.tflock objects|read lock file|read lock|delete lock|remove lock file|describe lock table|state bucket|verify removal|GitHub)`)

// RunFaults injects every fault kind once, each in a fresh table and bucket
// holding the same five locks, and checks detect and unlock under it.
func RunFaults(ctx context.Context, cfg FaultConfig) FaultReport {
	var rep FaultReport
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	for i, f := range Faults() {
		if cfg.Only != "" && !strings.Contains(f.Name, cfg.Only) || cfg.Sample > 1 && i%cfg.Sample != 0 {
			continue
		}
		rep.Kinds++
		out, problems := runFault(ctx, &cfg, i, f)
		rep.Outcomes = append(rep.Outcomes, out)
		for _, p := range problems {
			rep.Violations = append(rep.Violations, fmt.Sprintf("fault %q: %s", f.Name, p))
		}
		cfg.Logf("fault %-75s detect exit %d, unlock exit %d, %d removed, %s", f.Name, out.DetectExit, out.UnlockExit, out.Removed, out.Took.Round(10*time.Millisecond))
	}
	return rep
}

func runFault(ctx context.Context, cfg *FaultConfig, i int, f Fault) (FaultOutcome, []string) {
	out := FaultOutcome{Fault: f.Name}
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	table, bucket := fmt.Sprintf("fault-locks-%d-%d", time.Now().UnixNano()%1e6, i), fmt.Sprintf("fault-state-%d-%d", time.Now().UnixNano()%1e6, i)
	w := &world{cfg: &RaceConfig{DDB: cfg.DDB, S3: cfg.S3, Region: cfg.Region}, table: table, bucket: bucket}
	if err := w.create(ctx); err != nil {
		return out, []string{fmt.Sprintf("create table and bucket: %v", err)}
	}
	locks, err := seedFaultWorld(ctx, cfg, w, int64(i))
	if err != nil {
		return out, []string{fmt.Sprintf("seed: %v", err)}
	}
	inv := &Invoker{Entry: cfg.Entry, Dir: cfg.Dir, Env: map[string]string{
		"GITHUB_REPOSITORY": repository, "GITHUB_WORKFLOW": "terraform", "AWS_ENDPOINT_URL": cfg.AWS.URL,
		"GITHUB_RUN_ID": fmt.Sprint(9_000_000 + i), "GITHUB_RUN_ATTEMPT": "1", "GITHUB_JOB": "stale-lock-check",
	}}
	inputs := map[string]string{
		"lock-table": table, "state-bucket": bucket, "lock-source": "both", "aws-region": cfg.Region,
		"github-token": githubToken, "github-api-url": cfg.GH.URL, "github-repository": repository, "fail-on-active": "false",
	}
	cfg.AWS.SetFault(nil)
	cfg.GH.SetFault(nil)
	healthy := inv.Step(ctx, "detect", inputs, nil)
	noGH := inv.Step(ctx, "detect", with(inputs, "github-token", ""), nil)
	for _, r := range []Result{healthy, noGH} {
		if r.Code != 0 || r.OutputsErr != nil {
			return out, []string{"baseline detect failed:\n" + r.Log()}
		}
	}
	want, ageOnly := verdicts(healthy), verdicts(noGH)
	mayBeStale := func(id string) bool { return want[id] == "STALE" || ageOnly[id] == "STALE" }

	inject := func() {
		p := cfg.AWS
		if f.Service == "github" {
			p = cfg.GH
		}
		p.SetFault(func(c Call) Action {
			if f.Hits(c) {
				return f.Act(c)
			}
			return Pass
		})
	}
	count := func() int {
		p := cfg.AWS
		if f.Service == "github" {
			p = cfg.GH
		}
		n := 0
		for k, v := range p.Counts() {
			if strings.HasPrefix(k, f.Service+" ") {
				n += v
			}
		}
		return n
	}
	defer cfg.AWS.SetFault(nil)
	defer cfg.GH.SetFault(nil)

	start := time.Now()
	inject()
	det := inv.Step(ctx, "detect", inputs, nil)
	out.DetectExit = det.Code
	checkExit(det, []int{0}, bad)
	if det.Code == 0 {
		for id, st := range verdicts(det) {
			if st != want[id] && st != ageOnly[id] {
				bad("detect called lock %s %s; healthy GitHub says %s, no GitHub says %s", id, st, want[id], ageOnly[id])
			}
		}
		if len(verdicts(det)) != len(locks) {
			bad("detect reported %d locks, %d are held:\n%s", len(verdicts(det)), len(locks), det.Log())
		}
	}
	if n := count(); n > 60 {
		bad("detect made %d calls to %s under the fault: retries are not bounded", n, f.Service)
	}

	// Approve every lock either baseline called stale.
	ids, details := approvals(healthy, noGH)
	if !strings.Contains(f.Name, "disappears") {
		inject() // a fresh count: transient faults hit unlock too
	}
	unl := inv.Step(ctx, "unlock", with(with(inputs, "lock-ids", ids), "lock-details", details), map[string]string{"GITHUB_JOB": "stale-lock-approval"})
	out.UnlockExit = unl.Code
	checkExit(unl, []int{0, 1}, bad)
	out.Took = time.Since(start)
	if out.Took > 2*time.Minute {
		bad("detect and unlock took %s under the fault", out.Took)
	}
	cfg.AWS.SetFault(nil)
	cfg.GH.SetFault(nil)

	rows := unlockRows(unl)
	for _, l := range locks {
		inTable, inFile, err := w.present(ctx, l)
		if err != nil {
			bad("read back lock %s: %v", l.name, err)
			continue
		}
		goneTable, goneFile := l.table && !inTable, l.file && !inFile
		if !goneTable && !goneFile {
			if rows[l.id].Outcome == "removed" {
				bad("unlock says lock %s (%s) was removed, but it is still held in every store", l.id, l.name)
			}
			continue
		}
		out.Removed++
		if !mayBeStale(l.id) {
			bad("LIVE LOCK REMOVED: lock %s (%s) is ACTIVE with and without GitHub, and unlock removed it:\n%s", l.id, l.name, unl.Log())
		}
		r := rows[l.id]
		for src, gone := range map[string]bool{"dynamodb": goneTable, "s3": goneFile} {
			if gone && r.Outcome != "removed" && !contains(r.Removed, src) {
				bad("lock %s (%s) was removed from %s, but UNLOCK_DETAILS does not say so: %+v\n%s", l.id, l.name, src, r, unl.Log())
			}
		}
		half := (l.table && l.file) && (goneTable != goneFile)
		if half {
			left := "dynamodb"
			if inFile {
				left = "s3"
			}
			if !contains(r.Left, left) || !strings.Contains(unl.Stdout+unl.Stderr, "still held in") {
				bad("dual lock %s was half removed (still in %s) without saying so: %+v\n%s", l.id, left, r, unl.Log())
			}
		}
	}
	return out, problems
}

func with(m map[string]string, k, v string) map[string]string {
	out := map[string]string{}
	for a, b := range m {
		out[a] = b
	}
	out[k] = v
	return out
}

// checkExit accepts ok codes, or exit 3 with an error that names the call.
func checkExit(r Result, ok []int, bad func(string, ...any)) {
	for _, c := range ok {
		if r.Code == c {
			if r.OutputsErr != nil {
				bad("%s exit %d but its outputs cannot be read: %v", r.Mode, r.Code, r.OutputsErr)
			}
			return
		}
	}
	if r.Code != 3 {
		bad("%s exited %d (want %v, or 3 naming the failed call):\n%s", r.Mode, r.Code, ok, r.Log())
		return
	}
	// The error goes to stderr, or as an ::error:: to the step log.
	log := r.Stderr + r.Stdout
	if !errorNamesCall.MatchString(log) {
		bad("%s exited 3 without naming the failed call:\n%s", r.Mode, r.Log())
	}
	// Every injected fault is AWS or GitHub failing for a while, never a
	// missing permission: the fix is to run again, not to change IAM.
	if !strings.Contains(log, "re-run") {
		bad("%s exited 3 without saying what to do about it (re-run):\n%s", r.Mode, r.Log())
	}
}

// verdicts reads detect's LOCK_DETAILS: lock ID -> status.
func verdicts(r Result) map[string]string {
	var rows []struct {
		ID     string `json:"lock_id"`
		Status string `json:"status"`
	}
	_ = json.Unmarshal([]byte(r.Outputs["LOCK_DETAILS"]), &rows)
	out := map[string]string{}
	for _, x := range rows {
		out[x.ID] = x.Status
	}
	return out
}

// approvals merges the stale IDs of detects, with their details.
func approvals(rs ...Result) (string, string) {
	seen := map[string]bool{}
	var ids []string
	var details []json.RawMessage
	for _, r := range rs {
		for _, id := range splitIDs(r.Outputs["LOCK_IDS"]) {
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
		var rows []json.RawMessage
		_ = json.Unmarshal([]byte(r.Outputs["LOCK_DETAILS"]), &rows)
		details = append(details, rows...)
	}
	sort.Strings(ids)
	b, _ := json.Marshal(details)
	return strings.Join(ids, ","), string(b)
}

type unlockDetail struct {
	Outcome string   `json:"outcome"`
	Removed []string `json:"removed_from"`
	Left    []string `json:"still_held_in"`
}

func unlockRows(r Result) map[string]unlockDetail {
	var rows []struct {
		ID string `json:"lock_id"`
		unlockDetail
	}
	_ = json.Unmarshal([]byte(r.Outputs["UNLOCK_DETAILS"]), &rows)
	if len(rows) == 0 {
		// Without outputs (exit 3 before writing them) the log is all there is.
		_ = json.Unmarshal([]byte(strings.TrimSpace(r.Stdout)), &rows)
	}
	out := map[string]unlockDetail{}
	for _, x := range rows {
		out[x.ID] = x.unlockDetail
	}
	return out
}

// seedFaultWorld writes five locks: a dual one left two hours ago, a young
// laptop one, an old one of a live CI run (run record), a young one of a
// completed CI run (run record), and an old one whose host names a live run.
func seedFaultWorld(ctx context.Context, cfg *FaultConfig, w *world, n int64) ([]seeded, error) {
	now := time.Now().UTC()
	live, done, named := 7_000_000+n*10+1, 7_000_000+n*10+2, 7_000_000+n*10+3
	cfg.GitHub.Start(live, "apply", "GitHub Actions 1")
	cfg.GitHub.Start(done, "apply", "GitHub Actions 2")
	cfg.GitHub.Complete(done, "cancelled")
	cfg.GitHub.Start(named, "apply", "GitHub Actions 3")
	for _, r := range []lockcheck.RunRecord{
		{LockPath: w.bucket + "/ci-live.tfstate", Repository: repository, RunID: live, RunAttempt: 1, Job: "apply", Written: now.Add(-121 * time.Minute)},
		{LockPath: w.bucket + "/ci-done.tfstate", Repository: repository, RunID: done, RunAttempt: 1, Job: "apply", Written: now.Add(-2 * time.Minute)},
	} {
		if err := lockcheck.WriteRunRecord(ctx, cfg.DDB, w.table, r); err != nil {
			return nil, err
		}
	}
	specs := []struct {
		name, key, who string
		created        time.Time
		table, file    bool
	}{
		{"dual lock left 2 h ago", "dual.tfstate", "ops@laptop-9", now.Add(-2 * time.Hour), true, true},
		{"young laptop lock", "young.tfstate", "dev@laptop-1", now, true, false},
		{"2 h old lock of a live CI run", "ci-live.tfstate", "runner@" + cfg.Hostname, now.Add(-2 * time.Hour), true, false},
		{"young lock of a cancelled CI run", "ci-done.tfstate", "runner@" + cfg.Hostname, now.Add(-time.Minute), false, true},
		{"2 h old lock whose host names a live run", "named.tfstate", fmt.Sprintf("runner@gha-%d-1", named), now.Add(-2 * time.Hour), true, false},
	}
	var out []seeded
	for k, s := range specs {
		id := fmt.Sprintf("%08x-0000-4000-8000-%012x", n, k)
		p := statePath{key: s.key, workspace: "default", bucket: w.bucket, method: map[[2]bool]string{{true, false}: "dynamodb", {false, true}: "s3", {true, true}: "both"}[[2]bool{s.table, s.file}]}
		info := fmt.Sprintf(`{"ID":%q,"Operation":"OperationTypeApply","Info":"","Who":%q,"Version":%q,"Created":%q,"Path":%q}`,
			id, s.who, terraformVersion, s.created.Format(time.RFC3339Nano), p.stateKey())
		ok, etag, err := w.lock(ctx, p, info)
		if err != nil || !ok {
			return nil, fmt.Errorf("take %s: ok %v, %v", s.name, ok, err)
		}
		out = append(out, seeded{name: s.name, path: p.lockPath(), id: id, info: info, etag: etag, table: s.table, file: s.file})
	}
	return out, nil
}

// present reads a seeded lock back from each of its stores.
func (w *world) present(ctx context.Context, l seeded) (inTable, inFile bool, err error) {
	if l.table {
		out, err := w.cfg.DDB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(w.table), ConsistentRead: aws.Bool(true),
			Key: map[string]ddbtypes.AttributeValue{"LockID": &ddbtypes.AttributeValueMemberS{Value: l.path}}})
		if err != nil {
			return false, false, err
		}
		inTable = out.Item != nil
	}
	if l.file {
		key := strings.TrimPrefix(l.path, w.bucket+"/") + ".tflock"
		_, err := w.cfg.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(w.bucket), Key: aws.String(key)})
		switch {
		case err == nil:
			inFile = true
		case isStatus(err, 404):
		default:
			return false, false, err
		}
	}
	return inTable, inFile, nil
}
