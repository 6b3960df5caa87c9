package main

// The reliability harness (internal/reliability) driven through the
// program's entry point, in-process. The default `go test` runs a small,
// real version; scripts/reliability.sh sets TFSTATE_GUARD_RELIABILITY=full
// for the bounded CI form (>= 500 race iterations) or a longer run.
//
//	TFSTATE_GUARD_RELIABILITY_SEED=1234 go test -run TestReliabilityRaces -v .   # replay a seed
//	TFSTATE_GUARD_RELIABILITY_ITERATIONS=5000 ...                                # more iterations

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/text2agent/tfstate-guard/internal/dynaliteserver"
	"github.com/text2agent/tfstate-guard/internal/locktest"
	"github.com/text2agent/tfstate-guard/internal/motoserver"
	"github.com/text2agent/tfstate-guard/internal/reliability"
	"github.com/text2agent/tfstate-guard/lockcheck"
)

const (
	envReliability = "TFSTATE_GUARD_RELIABILITY" // "full": the bounded CI form
	envIterations  = "TFSTATE_GUARD_RELIABILITY_ITERATIONS"
	envSeed        = "TFSTATE_GUARD_RELIABILITY_SEED"
	envParallel    = "TFSTATE_GUARD_RELIABILITY_PARALLEL"
)

var (
	flagIterations = flag.Int("reliability.iterations", 0, "race iterations (default: 24, or 512 with "+envReliability+"=full)")
	flagSeed       = flag.Int64("reliability.seed", 0, "race seed (default: the time); replays a failure")
)

func fullReliability() bool { return os.Getenv(envReliability) == "full" }

func envInt(t *testing.T, name string, def int64) int64 {
	if v := os.Getenv(name); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		require.NoError(t, err, "%s=%q is not a number", name, v)
		return n
	}
	return def
}

// reliabilityEnv points the in-process AWS SDK at proxy (the SDK reads its
// endpoint and credentials from the process environment).
func reliabilityEnv(t *testing.T, awsURL string) {
	t.Setenv("AWS_ENDPOINT_URL", awsURL)
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_MAX_ATTEMPTS", "")
	t.Setenv("AWS_RETRY_MODE", "")
}

// reliabilityLine prints a machine-readable count for scripts/reliability.sh.
func reliabilityLine(t *testing.T, format string, args ...any) {
	t.Helper()
	line := "reliability-count: " + fmt.Sprintf(format, args...)
	t.Log(line)
	fmt.Println(line)
}

func TestReliabilityRaces(t *testing.T) {
	iterations := int(envInt(t, envIterations, 24))
	if fullReliability() && os.Getenv(envIterations) == "" {
		iterations = 512
	}
	if *flagIterations > 0 {
		iterations = *flagIterations
	}
	seed := envInt(t, envSeed, time.Now().UnixNano()%1_000_000)
	if *flagSeed != 0 {
		seed = *flagSeed
	}
	t.Logf("race seed %d, %d iterations (replay: %s=%d %s=%d go test -run TestReliabilityRaces .)", seed, iterations, envSeed, seed, envIterations, iterations)
	fmt.Printf("reliability: race seed %d, %d iterations\n", seed, iterations)

	// DynamoDB races on two servers: moto, and dynalite, whose conditional
	// writes held under load where moto's let two writers hold one lock.
	// S3 lock files race on moto behind a front that serialises the writes
	// to each key (reliability.StoreFront says why): atomic, as S3 is.
	moto := motoserver.Shared(t)
	dynalite := dynaliteserver.Shared(t)
	const atomicS3 = "moto, writes serialised per key"
	for _, store := range []struct {
		name, itemsURL string
		atomic         bool
	}{
		{"moto", moto.URL, false},
		{"dynalite", dynalite.URL, true},
	} {
		t.Run(store.name, func(t *testing.T) {
			front, err := reliability.NewStoreFront(moto.URL, store.itemsURL, true)
			require.NoError(t, err)
			defer front.Close()
			rep := raceOn(t, front, iterations, seed, store.name, atomicS3)
			assert.Zero(t, rep.StoreDoubles["s3: "+atomicS3], "S3 writes serialised per key cannot let two writers hold a lock")
			if store.atomic {
				assert.Zero(t, rep.StoreDoubles["dynamodb: "+store.name], "%s's conditional writes are atomic", store.name)
			}
		})
	}
}

// raceOn runs the races with the writers and the product reaching the
// stores through front, and checks what must hold on any store.
func raceOn(t *testing.T, front *reliability.StoreFront, iterations int, seed int64, dynamoStore, s3Store string) reliability.RaceReport {
	awsProxy, err := reliability.NewProxy(front.URL)
	require.NoError(t, err)
	defer awsProxy.Close()
	gh := reliability.NewFakeGitHub("octo/infra", "reliability-token")
	defer gh.Close()
	reliabilityEnv(t, awsProxy.URL)
	host, err := os.Hostname()
	require.NoError(t, err)
	cfg := aws.Config{Region: "eu-west-2", Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", ""), BaseEndpoint: aws.String(front.URL)}

	start := time.Now()
	rep := reliability.Race(t.Context(), reliability.RaceConfig{
		Entry: run, Iterations: iterations, Seed: seed, Region: "eu-west-2",
		Parallel: int(envInt(t, envParallel, 2)),
		DDB:      dynamodb.NewFromConfig(cfg),
		S3: s3.NewFromConfig(cfg, func(o *s3.Options) {
			o.UsePathStyle = true
			o.DisableLogOutputChecksumValidationSkipped = true
		}),
		AWS: awsProxy, GitHub: gh, GitHubURL: gh.URL, Dir: t.TempDir(), Hostname: host,
		DynamoDBStore: dynamoStore, S3Store: s3Store, NamePrefix: dynamoStore + "-",
		// Half the detects also remove, without approval, the locks whose
		// owner is proven gone (auto-unlock); their removals are accounted
		// like unlock's, from AUTO_UNLOCKED_LOCK_IDS.
		DetectVariants: []map[string]string{{}, {"auto-unlock": "definitive"}},
	})
	t.Logf("races on %s took %s: %d writers, %d locks taken (%d contended), %d removed, %d refused, %d already gone; %d detect, %d unlock, %d setup steps; %d GitHub requests",
		dynamoStore, time.Since(start).Round(time.Second), rep.Writers, rep.LocksTaken, rep.Contended, rep.Removed, rep.Refused, rep.AlreadyGone,
		rep.Detects, rep.Unlocks, rep.Setups, gh.Requests())
	reliabilityLine(t, "races store=%s iterations=%d seed=%d taken=%d removed=%d refused=%d already_gone=%d live_removed=%d digests_touched=%d states_touched=%d violations=%d store_doubles_dynamodb=%d store_doubles_s3=%d",
		dynamoStore, rep.Iterations, rep.Seed, rep.LocksTaken, rep.Removed, rep.Refused, rep.AlreadyGone, rep.LiveRemoved, rep.DigestsTouched, rep.StatesTouched, len(rep.Violations),
		rep.StoreDoubles["dynamodb: "+dynamoStore], rep.StoreDoubles["s3: "+s3Store])
	for i, v := range rep.Violations {
		if i == 20 {
			t.Errorf("... and %d more violations", len(rep.Violations)-20)
			break
		}
		t.Errorf("%s", v)
	}
	assert.Empty(t, gh.Violations(), "the fake GitHub broke GitHub's contract")
	// The harness must do work, not pass by doing nothing, however slow
	// the machine: every writer and detect it started ran to its end, and
	// each world's first writer found its state free (a slow machine makes
	// more writers give up waiting, Terraform's -lock-timeout, not fewer
	// start).
	worlds := (iterations + 24) / 25
	require.GreaterOrEqual(t, rep.Writers, iterations, "each iteration starts a writer")
	require.Equal(t, rep.Writers, rep.WritersDone, "every writer ran to its end")
	if len(rep.Violations) == 0 { // a CI writer whose setup failed never tried; that is a violation
		require.Equal(t, rep.WritersDone, rep.LocksTaken+rep.Contended, "each writer took its lock or gave up waiting")
	}
	require.GreaterOrEqual(t, rep.LocksTaken, worlds, "the first writer of each world finds its state free")
	require.Equal(t, rep.DetectsPlanned, rep.Detects, "every detect ran and succeeded")
	if iterations >= 100 {
		require.Positive(t, rep.Unlocks, "unlock must actually run")
		require.Positive(t, rep.Removed, "locks left two hours ago are stale by age: unlock must remove some")
	}
	return rep
}

func TestReliabilityFaults(t *testing.T) {
	moto := motoserver.Shared(t)
	awsProxy, err := reliability.NewProxy(moto.URL)
	require.NoError(t, err)
	defer awsProxy.Close()
	gh := reliability.NewFakeGitHub("octo/infra", "reliability-token")
	defer gh.Close()
	ghProxy, err := reliability.NewProxy(gh.URL)
	require.NoError(t, err)
	defer ghProxy.Close()
	reliabilityEnv(t, awsProxy.URL)
	host, err := os.Hostname()
	require.NoError(t, err)
	// The real policy, with short waits so that thirty faults take seconds:
	// retry-after and x-ratelimit-reset are still honoured as sent.
	saved := newRetryPolicy
	newRetryPolicy = func() lockcheck.RetryPolicy {
		p := lockcheck.DefaultRetryPolicy()
		p.BaseBackoff, p.AttemptTimeout = 20*time.Millisecond, time.Second
		return p
	}
	defer func() { newRetryPolicy = saved }()

	// The default go test run injects every third kind; the full run all.
	sample := 3
	if fullReliability() {
		sample = 1
	}
	start := time.Now()
	rep := reliability.RunFaults(t.Context(), reliability.FaultConfig{
		Entry: run, Region: "eu-west-2", DDB: moto.DynamoDB("eu-west-2"),
		S3: s3.NewFromConfig(moto.AWSConfig("eu-west-2"), func(o *s3.Options) {
			o.UsePathStyle = true
			o.DisableLogOutputChecksumValidationSkipped = true
		}),
		AWS: awsProxy, GH: ghProxy, GitHub: gh, Dir: t.TempDir(), Hostname: host,
		Only: os.Getenv("TFSTATE_GUARD_RELIABILITY_FAULT"), Sample: sample, Logf: t.Logf,
	})
	t.Logf("%d fault kinds in %s", rep.Kinds, time.Since(start).Round(time.Second))
	reliabilityLine(t, "faults kinds=%d violations=%d", rep.Kinds, len(rep.Violations))
	for _, v := range rep.Violations {
		t.Errorf("%s", v)
	}
	require.Positive(t, rep.Kinds)
}

// TestReliabilityHostileInputs gives every mode inputs a user gets wrong:
// each must fail with an error naming the input, the value and the fix,
// exit 2 (input) or 3 (what AWS says about it), and write nothing at all.
func TestReliabilityHostileInputs(t *testing.T) {
	moto := motoserver.Shared(t)
	reliabilityEnv(t, moto.URL)
	ctx := t.Context()
	ddb := moto.DynamoDB("eu-west-2")
	s3c := moto.S3("eu-west-2")
	table, bucket := locktest.UniqueName("hostile-locks"), locktest.UniqueName("hostile-state")
	locktest.CreateTable(t, ddb, table)
	_, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket),
		CreateBucketConfiguration: &s3types.CreateBucketConfiguration{LocationConstraint: "eu-west-2"}})
	require.NoError(t, err)
	wrongKey := locktest.UniqueName("wrong-key")
	_, err = ddb.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String(wrongKey), BillingMode: ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: ddbtypes.KeyTypeHash}},
	})
	require.NoError(t, err)
	locktest.PutItem(t, ddb, wrongKey, map[string]string{"id": "x", "Info": `{"ID":"x"}`})
	elsewhere := locktest.UniqueName("us-bucket")
	_, err = moto.S3("us-west-2").CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(elsewhere),
		CreateBucketConfiguration: &s3types.CreateBucketConfiguration{LocationConstraint: "us-west-2"}})
	require.NoError(t, err)

	// snapshot is everything the server holds that a step could write.
	snapshot := func() string {
		var b strings.Builder
		tables, err := ddb.ListTables(ctx, &dynamodb.ListTablesInput{})
		require.NoError(t, err)
		buckets, err := s3c.ListBuckets(ctx, &s3.ListBucketsInput{})
		require.NoError(t, err)
		fmt.Fprintf(&b, "tables %d buckets %d\n", len(tables.TableNames), len(buckets.Buckets))
		for _, tb := range []string{table, wrongKey} {
			out, err := ddb.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(tb), ConsistentRead: aws.Bool(true)})
			require.NoError(t, err)
			fmt.Fprintf(&b, "%s: %d items\n", tb, out.Count)
		}
		for _, bk := range []string{bucket, elsewhere} {
			out, err := s3c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bk)})
			require.NoError(t, err)
			fmt.Fprintf(&b, "%s: %d objects\n", bk, len(out.Contents))
		}
		return b.String()
	}

	base := map[string]string{"lock-table": table, "state-bucket": bucket, "aws-region": "eu-west-2", "github-token": "", "skip-enforced-tls": "true"}
	cases := []struct {
		name   string
		mode   string
		inputs map[string]string
		args   []string // command line instead of inputs
		exit   []int
		want   []string // in stderr: the input, the value, the fix
	}{
		{"negative duration", "detect", map[string]string{"stale-after": "-5m"}, nil, []int{2}, []string{`input stale-after: "-5m"`, "write it like 30m"}},
		{"absurd duration", "detect", map[string]string{"active-within": "9000h", "stale-after": "9001h"}, nil, []int{2}, []string{`input active-within: "9000h" is longer than 720h`, `input stale-after: "9001h"`, "use a window such as 30m"}},
		{"not a duration", "unlock", map[string]string{"stale-after": "30 minutes", "lock-ids": "a"}, nil, []int{2}, []string{`input stale-after: "30 minutes"`, "write it like"}},
		{"boolean of the wrong type", "detect", map[string]string{"fail-on-active": "yes"}, nil, []int{2}, []string{`input fail-on-active: "yes"`, "use true or false"}},
		{"setup boolean of the wrong type", "setup", map[string]string{"skip-versioning": "1", "state-key": "a/terraform.tfstate"}, nil, []int{2}, []string{`input skip-versioning: "1"`, "use true or false"}},
		{"unknown mode", "force-unlock-everything", nil, nil, []int{2}, []string{`input mode: "force-unlock-everything"`, "use one of setup, detect, unlock"}},
		{"unknown lock source", "detect", map[string]string{"lock-source": "ftp"}, nil, []int{2}, []string{`input lock-source: "ftp"`, "use dynamodb, s3, both or auto"}},
		{"unknown lock method", "setup", map[string]string{"lock-method": "zookeeper", "state-key": "a/terraform.tfstate"}, nil, []int{2}, []string{`lock-method "zookeeper"`, "use dynamodb (a DynamoDB lock table), s3"}},
		// On the command line the input is named as its flag (--lock-table).
		{"empty table", "", nil, []string{"detect", "--lock-table", "", "--lock-source", "dynamodb"}, []int{2}, []string{"lock-table", `""`, "is empty", "set "}},
		{"missing table, detect", "detect", map[string]string{"lock-table": "no-such-table-1", "state-bucket": ""}, nil, []int{2, 3}, []string{`"no-such-table-1"`, "check lock-table and aws-region"}},
		{"missing table, unlock", "unlock", map[string]string{"lock-table": "no-such-table-2", "lock-ids": "a"}, nil, []int{2, 3}, []string{`"no-such-table-2"`, "check lock-table and aws-region"}},
		{"wrong key schema, detect", "detect", map[string]string{"lock-table": wrongKey, "state-bucket": ""}, nil, []int{2, 3}, []string{fmt.Sprintf("%q is not a Terraform lock table", wrongKey), "check lock-table"}},
		{"wrong key schema, unlock", "unlock", map[string]string{"lock-table": wrongKey, "lock-ids": "x"}, nil, []int{2, 3}, []string{fmt.Sprintf("%q is not a Terraform lock table", wrongKey)}},
		{"bucket in another region, setup", "setup", map[string]string{"state-bucket": elsewhere, "state-key": "a/terraform.tfstate"}, nil, []int{2}, []string{elsewhere, "us-west-2", `not in aws-region "eu-west-2"`, "set aws-region to the bucket's region"}},
		{"state key with ..", "setup", map[string]string{"state-key": "../prod/terraform.tfstate"}, nil, []int{2}, []string{`state-key "../prod/terraform.tfstate" is invalid`, "use a relative path such as"}},
		{"state key with a leading /", "setup", map[string]string{"state-key": "/prod/terraform.tfstate"}, nil, []int{2}, []string{`state-key "/prod/terraform.tfstate" is invalid`, "use a relative path"}},
		{"backup state key with ..", "backup", map[string]string{"state-key": "a/../b.tfstate"}, nil, []int{2}, []string{`state-key "a/../b.tfstate" is invalid`, "use a relative path"}},
		{"no lock ids", "unlock", map[string]string{"lock-ids": " , "}, nil, []int{2}, []string{`input lock-ids: ","`, "pass the approved IDs"}},
		{"lock details not JSON", "unlock", map[string]string{"lock-ids": "a", "lock-details": "{oops"}, nil, []int{2}, []string{`input lock-details: "{oops"`, "pass ${{ needs.<detect job>.outputs.LOCK_DETAILS }}"}},
		{"api url not http", "detect", map[string]string{"github-api-url": "ftp://example.com"}, nil, []int{2}, []string{`input github-api-url: "ftp://example.com"`, "use the runner's GITHUB_API_URL"}},
		{"empty region", "", nil, []string{"detect", "--aws-region", "", "--lock-table", table}, []int{2}, []string{"aws-region", `""`, "is empty", "set an AWS region"}},
		{"tags of the wrong form", "setup", map[string]string{"tags": "team", "state-key": "a/terraform.tfstate"}, nil, []int{2}, []string{`"team" is not key=value`, "write one key=value per line"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := snapshot()
			dir := t.TempDir()
			output := filepath.Join(dir, "output")
			require.NoError(t, os.WriteFile(output, nil, 0o644))
			env := map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": output, "GITHUB_ENV": output, "GITHUB_STEP_SUMMARY": output,
				"GITHUB_REPOSITORY": "octo/infra", "GITHUB_RUN_ID": "77", "GITHUB_RUN_ATTEMPT": "1", "GITHUB_JOB": "j", "AWS_ENDPOINT_URL": moto.URL}
			args := c.args
			if args == nil {
				env["INPUT_MODE"] = c.mode
				env["INPUT_WORKING-DIRECTORY"] = dir
				for k, v := range base {
					env["INPUT_"+strings.ToUpper(k)] = v
				}
				for k, v := range c.inputs {
					env["INPUT_"+strings.ToUpper(k)] = v
				}
			}
			var stdout, stderr strings.Builder
			code := run(ctx, args, func(k string) string { return env[k] }, &stdout, &stderr)
			// The error goes to stderr, or as an ::error:: to the step log.
			log := stderr.String() + stdout.String()
			assert.Contains(t, c.exit, code, "exit code; log:\n%s", log)
			for _, w := range c.want {
				assert.Contains(t, log, w)
			}
			assert.Equal(t, before, snapshot(), "nothing may be written")
			data, err := os.ReadFile(output)
			require.NoError(t, err)
			assert.Empty(t, string(data), "no outputs, environment or summary")
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			assert.Len(t, entries, 1, "no backend file")
		})
	}
	reliabilityLine(t, "inputs cases=%d", len(cases))
}

// TestReliabilityCompletedRunThenLaptop is the races' first finding as a
// fixed scenario (seed 42, iteration 1: a completed CI run's record made a
// live laptop lock on the same state STALE, and unlock removed it).
func TestReliabilityCompletedRunThenLaptop(t *testing.T) {
	moto := motoserver.Shared(t)
	awsProxy, err := reliability.NewProxy(moto.URL)
	require.NoError(t, err)
	defer awsProxy.Close()
	gh := reliability.NewFakeGitHub("octo/infra", "reliability-token")
	defer gh.Close()
	reliabilityEnv(t, awsProxy.URL)
	host, err := os.Hostname()
	require.NoError(t, err)
	for _, v := range reliability.CompletedRunThenLaptop(t.Context(), reliability.RaceConfig{
		Entry: run, Region: "eu-west-2", DDB: moto.DynamoDB("eu-west-2"),
		S3: s3.NewFromConfig(moto.AWSConfig("eu-west-2"), func(o *s3.Options) {
			o.UsePathStyle = true
			o.DisableLogOutputChecksumValidationSkipped = true
		}),
		AWS: awsProxy, GitHub: gh, GitHubURL: gh.URL, Dir: t.TempDir(), Hostname: host,
	}) {
		t.Error(v)
	}
}
