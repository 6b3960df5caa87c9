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
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/require"
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

	moto := motoserver.Shared(t)
	awsProxy, err := reliability.NewProxy(moto.URL)
	require.NoError(t, err)
	defer awsProxy.Close()
	gh := reliability.NewFakeGitHub("octo/infra", "reliability-token")
	defer gh.Close()
	reliabilityEnv(t, awsProxy.URL)
	host, err := os.Hostname()
	require.NoError(t, err)

	start := time.Now()
	rep := reliability.Race(t.Context(), reliability.RaceConfig{
		Entry: run, Iterations: iterations, Seed: seed, Region: "eu-west-2",
		Parallel: int(envInt(t, envParallel, 2)),
		DDB:      moto.DynamoDB("eu-west-2"),
		S3: s3.NewFromConfig(moto.AWSConfig("eu-west-2"), func(o *s3.Options) {
			o.UsePathStyle = true
			o.DisableLogOutputChecksumValidationSkipped = true
		}),
		AWS: awsProxy, GitHub: gh, GitHubURL: gh.URL, Dir: t.TempDir(), Hostname: host,
		// When detect gains inputs that remove locks itself (auto-unlock),
		// list them here; their removals are accounted like unlock's.
		DetectVariants: []map[string]string{{}},
	})
	t.Logf("races took %s: %d locks taken (%d contended), %d removed, %d refused, %d already gone; %d detect, %d unlock, %d setup steps; %d GitHub requests",
		time.Since(start).Round(time.Second), rep.LocksTaken, rep.Contended, rep.Removed, rep.Refused, rep.AlreadyGone,
		rep.Detects, rep.Unlocks, rep.Setups, gh.Requests())
	reliabilityLine(t, "races iterations=%d seed=%d taken=%d removed=%d refused=%d already_gone=%d live_removed=%d digests_touched=%d states_touched=%d violations=%d",
		rep.Iterations, rep.Seed, rep.LocksTaken, rep.Removed, rep.Refused, rep.AlreadyGone, rep.LiveRemoved, rep.DigestsTouched, rep.StatesTouched, len(rep.Violations))
	for i, v := range rep.Violations {
		if i == 20 {
			t.Errorf("... and %d more violations", len(rep.Violations)-20)
			break
		}
		t.Errorf("%s", v)
	}
	require.Greater(t, rep.LocksTaken, iterations/2, "the writers must actually take locks")
	require.Greater(t, rep.Detects, iterations/2, "detect must actually run")
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
