package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/text2agent/tfstate-guard/lockcheck"
)

// tableSpec is how a table of size items is made up: a quarter each of
// Terraform locks, their -md5 digests and run records (one per lock, from
// owners distinct runs), the rest items of other applications sharing the
// table.
type tableSpec struct {
	name                                       string
	size, owners                               int
	locks, digests, records, foreign, distinct int
}

func newSpec(size, owners int) tableSpec {
	q := max(size/4, 1)
	s := tableSpec{size: size, owners: owners, locks: q, digests: q, records: q, foreign: max(size-3*q, 0)}
	s.distinct = min(owners, s.records)
	s.name = fmt.Sprintf("bench-%d-%d-%d", size, owners, time.Now().UnixNano()%1e6)
	return s
}

// benchRunner is the runner every owning run's job ran on.
const benchRunner = "GitHub Actions 12"

func lockPath(i int) string { return fmt.Sprintf("%s/stack-%05d/terraform.tfstate", bucket, i) }

// lockInfo is the Info JSON Terraform writes (its Go field names as keys).
func lockInfo(i int, path string, created time.Time) string {
	return fmt.Sprintf(`{"ID":"%08x-6032-6485-368f-a53ea2710b43","Operation":"OperationTypeApply","Info":"","Who":"runner@fv-az%03d","Version":"1.11.4","Created":"%s","Path":"%s"}`,
		i, i%1000, created.UTC().Format(time.RFC3339Nano), path)
}

func lockID(i int) string { return fmt.Sprintf("%08x-6032-6485-368f-a53ea2710b43", i) }

func createTable(ctx context.Context, ddb *dynamodb.Client, name string) error {
	_, err := ddb.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("LockID"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("LockID"), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	})
	return err
}

// seed writes the table straight to moto (not counted). Run records go
// through lockcheck.WriteRunRecord, the writer setup uses, so the bench
// follows the record format wherever it goes.
func (e *env) seed(ctx context.Context, s tableSpec, firstLock int) error {
	if err := createTable(ctx, e.ddb, s.name); err != nil {
		return fmt.Errorf("create table %s: %w", s.name, err)
	}
	created := time.Now().Add(-time.Hour)
	var items []map[string]types.AttributeValue
	str := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	for i := firstLock; i < firstLock+s.locks; i++ {
		items = append(items, map[string]types.AttributeValue{"LockID": str(lockPath(i)), "Info": str(lockInfo(i, lockPath(i), created))})
	}
	for i := firstLock; i < firstLock+s.digests; i++ {
		items = append(items, map[string]types.AttributeValue{"LockID": str(lockPath(i) + "-md5"), "Digest": str(fmt.Sprintf("%032x", i))})
	}
	for i := 0; i < s.foreign; i++ {
		items = append(items, map[string]types.AttributeValue{"LockID": str(fmt.Sprintf("other-app#session#%06d", i)), "Data": str(strings.Repeat("x", 64))})
	}
	for len(items) > 0 {
		n := min(25, len(items))
		reqs := make([]types.WriteRequest, n)
		for i := range n {
			reqs[i] = types.WriteRequest{PutRequest: &types.PutRequest{Item: items[i]}}
		}
		pending := map[string][]types.WriteRequest{s.name: reqs}
		for len(pending) > 0 {
			out, err := e.ddb.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: pending})
			if err != nil {
				return fmt.Errorf("seed %s: %w", s.name, err)
			}
			pending = out.UnprocessedItems
		}
		items = items[n:]
	}
	// Every owning run ended (cancelled) ten minutes after it took its
	// lock, on the runner its record names: detect proves each lock dead
	// by asking GitHub about the run's attempt and its jobs.
	for i := range s.distinct {
		e.github.ended(int64(9000000+i), created.Add(10*time.Minute))
	}
	return e.parallel(s.records, func(i int) error {
		return lockcheck.WriteRunRecord(ctx, e.ddb, s.name, lockcheck.RunRecord{
			LockPath: lockPath(firstLock + i), Repository: repository,
			RunID: int64(9000000 + i%s.owners), RunAttempt: 1, Job: "apply", Workflow: "terraform",
			RunnerName: benchRunner, Written: created.Add(-time.Minute),
		})
	})
}

// parallel runs f(0..n-1), eight at a time, and returns the first error.
func (e *env) parallel(n int, f func(int) error) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	sem := make(chan struct{}, 8)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := f(i); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}

// floorScan is the least any program can do: a fresh client (new
// connection) and a paginated, strongly consistent scan of the whole table
// through the same proxy, in this process (no process start).
func (e *env) floorScan(ctx context.Context, table string) (time.Duration, int, error) {
	cfg := awsConfig(e.proxy.url)
	start := time.Now()
	ddb := dynamodb.NewFromConfig(cfg)
	p := dynamodb.NewScanPaginator(ddb, &dynamodb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true)})
	n := 0
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return 0, 0, fmt.Errorf("floor scan of %s: %w", table, err)
		}
		n += len(page.Items)
	}
	return time.Since(start), n, nil
}

// inputs are a step's with: as the runner passes them: INPUT_<NAME>,
// hyphens kept. The binary runs with no arguments, as a Docker action.
func inputs(with map[string]string) []string {
	var out []string
	for k, v := range with {
		out = append(out, "INPUT_"+strings.ToUpper(k)+"="+v)
	}
	return out
}

// actionEnv is the runner's environment for one step: file commands in
// fresh files, and the run doing the checking (not an owner of any lock).
func (e *env) actionEnv() ([]string, string, error) {
	dir, err := os.MkdirTemp(e.work, "step-")
	if err != nil {
		return nil, "", err
	}
	out := filepath.Join(dir, "output")
	return []string{
		"GITHUB_ACTIONS=true", "GITHUB_TOKEN=bench-token", "GITHUB_REPOSITORY=" + repository,
		"GITHUB_RUN_ID=1", "GITHUB_RUN_ATTEMPT=1", "GITHUB_JOB=bench", "GITHUB_WORKFLOW=bench", "RUNNER_NAME=bench",
		"GITHUB_API_URL=" + e.github.url,
		"GITHUB_OUTPUT=" + out, "GITHUB_ENV=" + filepath.Join(dir, "env"), "GITHUB_STEP_SUMMARY=" + filepath.Join(dir, "summary"),
	}, out, nil
}

func (e *env) runDetect(ctx context.Context, s tableSpec, binary string) (measurement, error) {
	extra, outFile, err := e.actionEnv()
	if err != nil {
		return measurement{}, err
	}
	extra = append(extra, inputs(map[string]string{"mode": "detect", "lock-table": s.name, "aws-region": region,
		"lock-source": "dynamodb", "github-token": "bench-token", "fail-on-active": "false"})...)
	m, out, err := e.runChild(ctx, extra, binary)
	if err != nil {
		return m, err
	}
	if m.exitCode != 0 {
		return m, fmt.Errorf("detect on %s exited %d:\n%s", s.name, m.exitCode, out)
	}
	outputs, err := readFileCommands(outFile)
	if err != nil {
		return m, err
	}
	if got := outputs["LOCK_COUNT"]; got != fmt.Sprint(s.locks) {
		return m, fmt.Errorf("detect on %s: LOCK_COUNT is %q, want %d", s.name, got, s.locks)
	}
	if got := outputs["STALE_LOCKS_FOUND"]; got != "true" {
		return m, fmt.Errorf("detect on %s: STALE_LOCKS_FOUND is %q, want true (every owner run is completed)", s.name, got)
	}
	return m, nil
}

// readFileCommands parses a GITHUB_OUTPUT file as the runner does:
// name=value lines and name<<DELIMITER heredocs.
func readFileCommands(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	lines := strings.Split(string(b), "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if name, delim, ok := strings.Cut(line, "<<"); ok && !strings.Contains(name, "=") {
			var val []string
			for i++; i < len(lines) && lines[i] != delim; i++ {
				val = append(val, lines[i])
			}
			out[name] = strings.Join(val, "\n")
			continue
		}
		if name, val, ok := strings.Cut(line, "="); ok {
			out[name] = val
		}
	}
	return out, nil
}

// runBaseline runs bench/baseline.sh: aws dynamodb scan | one python3 pass.
func (e *env) runBaseline(ctx context.Context, s tableSpec) (measurement, error) {
	m, out, err := e.runChild(ctx, []string{"AWS_PAGER="}, "bash", filepath.Join(e.repo, "bench", "baseline.sh"), s.name)
	if err != nil {
		return m, err
	}
	if m.exitCode != 0 {
		return m, fmt.Errorf("baseline on %s exited %d:\n%s", s.name, m.exitCode, out)
	}
	if want := fmt.Sprintf("locks=%d ", s.locks); !strings.Contains(string(out), want) {
		return m, fmt.Errorf("baseline on %s: want %q in its output, got:\n%s", s.name, want, out)
	}
	return m, nil
}

func (e *env) detectSize(ctx context.Context, r *results, size, owners int, withBaseline bool) error {
	s := newSpec(size, owners)
	step("table of %d items (%d locks, %d digests, %d run records from %d runs, %d foreign)", size, s.locks, s.digests, s.records, s.distinct, s.foreign)
	if err := e.seed(ctx, s, 0); err != nil {
		return err
	}
	row := detectRow{spec: s}
	// One unmeasured round first: moto's first scan of a table and the
	// page cache of the binary and the CLI are not what is measured.
	if _, _, err := e.floorScan(ctx, s.name); err != nil {
		return err
	}
	if _, err := e.runDetect(ctx, s, e.binary); err != nil {
		return err
	}
	if withBaseline && !e.o.skipBase {
		if _, err := e.runBaseline(ctx, s); err != nil {
			return err
		}
	}
	for range e.o.reps {
		e.proxy.reset()
		d, n, err := e.floorScan(ctx, s.name)
		if err != nil {
			return err
		}
		if n != s.size {
			return fmt.Errorf("floor scan of %s read %d items, want %d", s.name, n, s.size)
		}
		row.floor = append(row.floor, d)
		row.floorScans = e.proxy.snapshot().ByOp["dynamodb:Scan"]
		// With -compare, the two builds take turns going first: the run
		// right after the floor's scan finds moto busier.
		bins := []string{e.binary}
		if e.compare != "" {
			bins = append(bins, e.compare)
			if len(row.detect)%2 == 1 {
				bins[0], bins[1] = bins[1], bins[0]
			}
		}
		for _, bin := range bins {
			m, err := e.runDetect(ctx, s, bin)
			if err != nil {
				return err
			}
			if bin == e.binary {
				row.detect = append(row.detect, m)
			} else {
				row.compare = append(row.compare, m)
			}
		}
		if withBaseline && !e.o.skipBase {
			m, err := e.runBaseline(ctx, s)
			if err != nil {
				return err
			}
			row.baseline = append(row.baseline, m)
		}
	}
	r.detect = append(r.detect, row)
	_, err := e.ddb.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(s.name)})
	return err
}
