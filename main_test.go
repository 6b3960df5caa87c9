package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/text2agent/tfstate-guard/internal/actiontest"
	"github.com/text2agent/tfstate-guard/internal/dynaliteserver"
	"github.com/text2agent/tfstate-guard/internal/fakegithub"
	"github.com/text2agent/tfstate-guard/internal/locktest"
	"github.com/text2agent/tfstate-guard/internal/motoserver"
	"github.com/text2agent/tfstate-guard/layer"
	"github.com/text2agent/tfstate-guard/lockcheck"
)

var binary string

func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.fuzz"); f != nil && f.Value.String() != "" {
		// Fuzzing (scripts/reliability.sh): every worker would build the
		// binary again, eating the fuzz time; fuzz targets do not use it.
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "tfstate-guard-bin")
	if err != nil {
		panic(err)
	}
	if binary, err = actiontest.Build(".", dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	motoserver.StopShared()
	dynaliteserver.StopShared()
	os.RemoveAll(dir)
	os.Exit(code)
}

func envFunc(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestConfigReportsEveryProblemAtOnce(t *testing.T) {
	t.Parallel()
	var stderr bytes.Buffer
	_, err := loadConfig([]string{"detect", "--stale-after", "soon", "--active-within", "0s", "--lock-source", "ftp",
		"--fail-on-active", "maybe", "--github-repository", "just-a-name"}, envFunc(nil), &stderr)
	require.Error(t, err)
	msg := err.Error()
	for _, want := range []string{
		`--stale-after "soon" is not a positive duration`,
		`--active-within "0s" is not a positive duration`,
		`--lock-source "ftp" is not a lock source: use dynamodb, s3, both or auto`,
		`--fail-on-active "maybe" is not a boolean`,
		`--github-repository "just-a-name" is not owner/name`,
	} {
		assert.Contains(t, msg, want)
	}
}

func TestConfigActionInputs(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"GITHUB_ACTIONS": "true", "INPUT_MODE": "unlock", "INPUT_LOCK-TABLE": "t1", "INPUT_LOCK-IDS": "a,\nb",
		"INPUT_STALE-AFTER": "2h", "INPUT_ACTIVE-WITHIN": "5m", "INPUT_STATE-BUCKET": "bkt",
		"INPUT_LOCK-DETAILS": `[{"lock_id":"a","lock_path":"bkt/k"},{"lock_id":"b","lock_path":"bkt/j","who":"ci@vm","created":"2025-10-03T14:47:06Z"}]`,
		"GITHUB_REPOSITORY":  "octo/infra", "GITHUB_RUN_ID": "77", "GITHUB_RUN_ATTEMPT": "3", "GITHUB_OUTPUT": "/tmp/o",
		"INPUT_AWS-REGION": "us-east-1", "INPUT_GITHUB-TOKEN": "tok",
	}
	cfg, err := loadConfig(nil, envFunc(env), &bytes.Buffer{})
	require.NoError(t, err)
	assert.True(t, cfg.InActions)
	assert.Equal(t, ModeUnlock, cfg.Mode)
	assert.Equal(t, "t1", cfg.LockTable)
	assert.Equal(t, "both", cfg.LockSource, "auto with a bucket reads both")
	assert.Equal(t, 2*time.Hour, cfg.StaleAfter)
	assert.Equal(t, []lockcheck.Approved{{ID: "a", Path: "bkt/k"},
		{ID: "b", Path: "bkt/j", Detailed: true, Who: "ci@vm", Created: "2025-10-03T14:47:06Z"}}, cfg.Approved, "who and created are compared only when approved")
	assert.Equal(t, lockcheck.RunRef{Repository: "octo/infra", ID: 77, Attempt: 3}, cfg.Current)
	assert.Equal(t, "https://api.github.com", cfg.GitHubAPIURL)
	assert.Equal(t, "/tmp/o", cfg.Runner.Output)
}

func TestConfigInputErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"unknown mode", map[string]string{"INPUT_MODE": "destroy-everything"},
			[]string{`input mode: "destroy-everything" is not a mode: use one of setup, detect, unlock, build-layer, backup, install`}},
		{"unlock without ids", map[string]string{"INPUT_MODE": "unlock", "INPUT_LOCK-IDS": " , "},
			[]string{`input lock-ids: "," names no lock`}},
		{"ids not in details", map[string]string{"INPUT_MODE": "unlock", "INPUT_LOCK-IDS": "a,b", "INPUT_LOCK-DETAILS": `[{"lock_id":"a","lock_path":"x"}]`},
			[]string{`input lock-ids: "b" are not in lock-details`}},
		{"details not json", map[string]string{"INPUT_MODE": "unlock", "INPUT_LOCK-IDS": "a", "INPUT_LOCK-DETAILS": `{oops`},
			[]string{`input lock-details: "{oops" is not detect's LOCK_DETAILS JSON array`}},
		{"s3 without bucket, windows inverted", map[string]string{"INPUT_MODE": "detect", "INPUT_LOCK-SOURCE": "s3", "INPUT_ACTIVE-WITHIN": "2h"},
			[]string{`input state-bucket: "" is empty but lock-source "s3" reads .tflock objects`, `input active-within: "2h" is longer than stale-after (30m)`}},
		{"empty table with dynamodb", map[string]string{"INPUT_MODE": "detect", "INPUT_LOCK-SOURCE": "dynamodb", "INPUT_LOCK-TABLE": " "},
			[]string{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.env["GITHUB_ACTIONS"] = "true"
			_, err := loadConfig(nil, envFunc(c.env), &bytes.Buffer{})
			if len(c.want) == 0 {
				// lock-table falls back to its default when the input is blank.
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, w := range c.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestRunMapsInputErrorsToExit2(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"detect", "--stale-after", "x"}, envFunc(nil), &out, &errOut)
	assert.Equal(t, exitInput, code)
	assert.Contains(t, errOut.String(), `--stale-after "x" is not a positive duration`)
	code = run(context.Background(), []string{"frobnicate"}, envFunc(nil), &out, &errOut)
	assert.Equal(t, exitInput, code)
	code = run(context.Background(), nil, envFunc(nil), &out, &errOut)
	assert.Equal(t, exitInput, code)
	assert.Contains(t, errOut.String(), "Usage:\n  tfstate-guard <mode> [flags]")
	assert.Contains(t, errOut.String(), "no mode given: use one of setup, detect, unlock, build-layer, backup, install")
	assert.Empty(t, out.String(), "a mistake is not help: nothing on stdout")
}

// lockTable makes a table on the shared moto server and returns its client.
func lockTable(t *testing.T) (*motoserver.Server, *dynamodb.Client, string) {
	t.Helper()
	srv := motoserver.Shared(t)
	ddb := srv.DynamoDB("eu-west-2")
	name := locktest.UniqueName("locks")
	locktest.CreateTable(t, ddb, name)
	return srv, ddb, name
}

var (
	put  = locktest.PutItem
	info = locktest.InfoJSON
)

func newRunner(t *testing.T, srv *motoserver.Server, extra ...string) *actiontest.Runner {
	return actiontest.New(t, binary, append(srv.Env(), extra...)...)
}

// fakeRunsAPI serves GitHub's run, attempt and job JSON (internal/fakegithub).
// Each run has one attempt; a completed one's job ran on runner
// "GitHub Actions <id>" and ended a second ago.
func fakeRunsAPI(t *testing.T, statuses map[int64]string) (*httptest.Server, func(path string) int) {
	gh := fakegithub.New()
	for id, status := range statuses {
		if status == "completed" {
			gh.End("octo/infra", id, 1, "cancelled", fmt.Sprintf("GitHub Actions %d", id), time.Now().Add(-time.Second))
		} else {
			gh.SetAttempt("octo/infra", id, 1, status, "")
		}
	}
	srv := httptest.NewServer(gh)
	t.Cleanup(srv.Close)
	return srv, gh.Count
}

func TestBinaryDetectAndUnlockAsTheRunnerRunsIt(t *testing.T) {
	t.Parallel()
	srv, ddb, table := lockTable(t)
	ctx := context.Background()
	old := time.Now().Add(-3 * time.Hour)
	livePath, deadPath, recordsPath := "b/live/terraform.tfstate", "b/dead/terraform.tfstate", "b/cancelled/terraform.tfstate"
	put(t, ddb, table, map[string]string{"LockID": livePath, "Info": info("live-1111", livePath, "runner@fv-az1", old)})
	put(t, ddb, table, map[string]string{"LockID": livePath + "-md5", "Digest": "0123"})
	put(t, ddb, table, map[string]string{"LockID": deadPath, "Info": info("dead-2222", deadPath, "runner@fv-az2", old)})
	put(t, ddb, table, map[string]string{"LockID": recordsPath, "Info": info("young-3333", recordsPath, "runner@fv-az3", time.Now().Add(-2*time.Minute))})
	for _, r := range []lockcheck.RunRecord{
		{LockPath: livePath, Repository: "octo/infra", RunID: 41, RunAttempt: 1, Job: "apply", Written: old.Add(-time.Minute)},
		{LockPath: recordsPath, Repository: "octo/infra", RunID: 42, RunAttempt: 1, Job: "apply", Written: time.Now().Add(-3 * time.Minute),
			Host: "fv-az3", HostExclusive: true, RunnerName: "GitHub Actions 42"},
	} {
		require.NoError(t, lockcheck.WriteRunRecord(ctx, ddb, table, r))
	}
	api, seen := fakeRunsAPI(t, map[int64]string{41: "waiting", 42: "completed"})
	rn := newRunner(t, srv, "GITHUB_API_URL="+api.URL)
	base := map[string]string{"mode": "detect", "lock-table": table, "aws-region": "eu-west-2", "github-token": "tok",
		"stale-after": "30m", "active-within": "10m", "fail-on-active": "true"}

	code := rn.Run(base)
	require.Equal(t, exitBlocked, code, rn.Stdout)
	out := rn.Outputs()
	assert.Equal(t, "true", out["ACTIVE_LOCKS_FOUND"])
	assert.Equal(t, "true", out["STALE_LOCKS_FOUND"])
	assert.Equal(t, "3", out["LOCK_COUNT"])
	assert.Equal(t, "young-3333,dead-2222", out["LOCK_IDS"], "a young lock whose exclusive host's job ended after taking it is stale")
	assert.Contains(t, out["LOCK_DETAILS"], `"lock_id":"young-3333","lock_path":"b/cancelled/terraform.tfstate","sources":["dynamodb"],"who":"runner@fv-az3"`)
	assert.Contains(t, out["LOCK_DETAILS"], `"rule":"owner-run-completed","evidence":"definitive"`)
	assert.Contains(t, out["LOCK_DETAILS"], `"owner_run_url":"https://github.com/octo/infra/actions/runs/41"`)
	assert.Equal(t, out, rn.File("env"), "the same values are exported to later steps")
	assert.Contains(t, rn.Summary(), "Active locks: blocked (1 active, 2 stale)")
	assert.Contains(t, rn.Stdout, "::error title=active Terraform lock::ACTIVE lock live-1111")
	assert.Contains(t, rn.Stdout, "::warning title=stale Terraform lock::STALE lock dead-2222")
	assert.Equal(t, 0, seen("/repos/octo/infra/actions/runs/41/attempts/1"), "a live run is found in the live-run listing, not asked about on its own")
	assert.Equal(t, len(lockcheck.LiveStatuses), seen("/repos/octo/infra/actions/runs"), "one listing per live status, once per detect")
	assert.Equal(t, 1, seen("/repos/octo/infra/actions/runs/42/attempts/1"), "asked once per attempt")
	assert.Equal(t, 1, seen("/repos/octo/infra/actions/runs/42/attempts/1/jobs"))

	base["fail-on-active"] = "false"
	assert.Equal(t, exitOK, rn.Run(base), rn.Stdout)

	unlock := map[string]string{"mode": "unlock", "lock-table": table, "aws-region": "eu-west-2", "github-token": "tok",
		"lock-ids": out["LOCK_IDS"] + ",live-1111", "lock-details": out["LOCK_DETAILS"]}
	code = rn.Run(unlock)
	assert.Equal(t, exitBlocked, code, rn.Stdout)
	res := rn.Outputs()
	assert.Equal(t, "young-3333,dead-2222", res["UNLOCKED_LOCK_IDS"])
	assert.Equal(t, "live-1111", res["REFUSED_LOCK_IDS"])
	assert.Contains(t, rn.Summary(), "2 removed, 0 already released, 1 refused")
	assert.Contains(t, rn.Summary(), "run 41 attempt 1 (record of job \"apply\", host unknown) is waiting")

	// The approved job is re-run: the removed locks are already released.
	unlock["lock-ids"] = out["LOCK_IDS"]
	assert.Equal(t, exitOK, rn.Run(unlock), rn.Stdout)
	assert.Equal(t, "young-3333,dead-2222", rn.Outputs()["ALREADY_RELEASED_LOCK_IDS"])

	item, err := ddb.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"LockID": &types.AttributeValueMemberS{Value: livePath + "-md5"}}})
	require.NoError(t, err)
	assert.NotNil(t, item.Item, "the digest item is untouched")
}

func TestBinaryHostileLockContent(t *testing.T) {
	t.Parallel()
	srv, ddb, table := lockTable(t)
	old := time.Now().Add(-3 * time.Hour)
	hostileWho := "x\nSTALE_LOCKS_FOUND<<EOF\nfalse\nEOF\n::set-output name=LOCK_IDS::all\n_GitHubActionsFileCommandDelimeter_\nLOCK_COUNT=0"
	path := "b/evil/terraform.tfstate"
	raw := fmt.Sprintf(`{"ID":"evil-1","Who":%q,"Created":%q,"Operation":"<script>alert(1)</script>|"}`, hostileWho, old.Format(time.RFC3339Nano))
	put(t, ddb, table, map[string]string{"LockID": path, "Info": raw})
	put(t, ddb, table, map[string]string{"LockID": "b/comma", "Info": fmt.Sprintf(`{"ID":"a,b","Created":%q}`, old.Format(time.RFC3339Nano))})
	rn := newRunner(t, srv)
	code := rn.Run(map[string]string{"mode": "detect", "lock-table": table, "aws-region": "eu-west-2"})
	require.Equal(t, exitOK, code, rn.Stdout)
	out := rn.Outputs()
	assert.Len(t, out, 7, "exactly the seven outputs: %v", out)
	assert.Equal(t, "true", out["STALE_LOCKS_FOUND"])
	assert.Equal(t, "2", out["LOCK_COUNT"])
	assert.Equal(t, "evil-1", out["LOCK_IDS"], "an ID with a comma is never offered for approval")
	for _, line := range strings.Split(rn.Stdout, "\n") {
		if strings.HasPrefix(line, "::") {
			assert.Regexp(t, `^::(warning|error|notice|debug)( |::)`, line, "no injected workflow command")
		}
	}
	assert.NotContains(t, rn.Summary(), "<script>")
	assert.Contains(t, rn.Stdout, "::warning::no github-token")
}

func TestLayerInputsReportedOnceEach(t *testing.T) {
	t.Parallel()
	_, err := loadConfig([]string{"build-layer", "--requirements", "psycopg2-binary>=2.9\n", "--architecture", "sparc"}, envFunc(nil), &bytes.Buffer{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "psycopg2-binary>=2.9")
	assert.Contains(t, err.Error(), "sparc")
	assert.NotContains(t, err.Error(), "no packages to install", "a bad requirement is reported once, not again as 'no packages'")
}

func TestIndexSecretsAreMasked(t *testing.T) {
	t.Parallel()
	assert.Equal(t, []string{"tok", "s3cret"}, indexSecrets(layer.Options{IndexToken: "tok", IndexURL: "https://bob:s3cret@pypi.internal/simple/"}))
	assert.Equal(t, []string{"ghp_abc"}, indexSecrets(layer.Options{IndexURL: "https://ghp_abc@pypi.internal/simple/"}))
	assert.Empty(t, indexSecrets(layer.Options{IndexURL: "https://pypi.org/simple/"}))
}
