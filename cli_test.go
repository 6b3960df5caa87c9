package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/text2agent/tfstate-guard/internal/actiontest"
)

// Golden files in testdata/ hold the texts a person reads. Regenerate them
// after a deliberate change with `go test . -run 'TestHelp|TestCLI' -update`
// (the -update of action_test.go, which also rewrites action.yml from the
// input table) or UPDATE_GOLDEN=1, and review the diff.

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *updateAction || os.Getenv("UPDATE_GOLDEN") == "1" {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "missing golden file: run go test . -run %s -update", t.Name())
	assert.Equal(t, string(want), got, "%s differs: if the change is deliberate, rerun with -update and review the diff", path)
}

// cli runs the built binary as a person at a terminal would: no Actions
// variables, a home without AWS files, and the given extra environment.
func cli(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command(binary, args...)
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home,
		"AWS_CONFIG_FILE=" + filepath.Join(home, "no-config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "no-credentials"),
		// No network call to an instance role that is not there; the
		// chain still ends at it, as on a laptop.
		"AWS_EC2_METADATA_DISABLED=true",
	}, env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		require.NoError(t, err)
	}
	return out.String(), errOut.String(), code
}

func TestHelpIsARequestNotAMistake(t *testing.T) {
	t.Parallel()
	cases := []struct {
		golden string
		args   [][]string
	}{
		{"help.txt", [][]string{{"--help"}, {"-h"}, {"-help"}, {"help"}}},
	}
	for _, m := range allModes {
		cases = append(cases, struct {
			golden string
			args   [][]string
		}{"help-" + string(m) + ".txt", [][]string{{"help", string(m)}, {string(m), "--help"}, {string(m), "-h"}, {string(m), "help"}}})
	}
	for _, c := range cases {
		t.Run(c.golden, func(t *testing.T) {
			t.Parallel()
			var first string
			for i, args := range c.args {
				var out, errOut bytes.Buffer
				code := run(context.Background(), args, envFunc(nil), &out, &errOut)
				assert.Equal(t, exitOK, code, "%v is a request for help", args)
				assert.Empty(t, errOut.String(), "%v: help goes to stdout", args)
				if i == 0 {
					first = out.String()
					golden(t, c.golden, first)
				} else {
					assert.Equal(t, first, out.String(), "%v prints the same help as %v", args, c.args[0])
				}
			}
		})
	}
}

func TestHelpIsGeneratedFromTheInputTable(t *testing.T) {
	t.Parallel()
	for _, m := range allModes {
		var b bytes.Buffer
		writeModeUsage(&b, m)
		flags := map[string]bool{}
		for _, match := range regexp.MustCompile(`(?m)^  --([a-z0-9-]+)`).FindAllStringSubmatch(b.String(), -1) {
			flags[match[1]] = true
		}
		for _, in := range inputs {
			if in.Name == "mode" {
				continue
			}
			assert.Equal(t, in.usedBy(m), flags[in.Name], "mode %s help and inputs.go disagree about --%s", m, in.Name)
		}
		assert.LessOrEqual(t, maxLineWidth(b.String()), 90, "mode %s help fits a terminal", m)
	}
	var b bytes.Buffer
	writeUsage(&b)
	assert.LessOrEqual(t, maxLineWidth(b.String()), 90, "the top-level help fits a terminal")
	for _, m := range allModes {
		assert.Regexp(t, `(?m)^  `+regexp.QuoteMeta(string(m))+` +\S`, b.String(), "the top level lists mode %s with a summary", m)
	}
	for _, c := range exitCodes {
		assert.Regexp(t, `(?m)^  `+regexp.QuoteMeta(string(rune('0'+c.code)))+`  \S`, b.String())
	}
}

func maxLineWidth(s string) int {
	w := 0
	for _, l := range strings.Split(s, "\n") {
		w = max(w, len([]rune(l)))
	}
	return w
}

func TestCommandLineMistakes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args []string
		want string
	}{
		{nil, "no mode given: use one of setup, detect, unlock, build-layer, backup, install (tfstate-guard --help explains each)"},
		{[]string{"--lock-table", "x"}, "no mode given"},
		{[]string{"frobnicate"}, `"frobnicate" is not a mode: use one of setup, detect, unlock, build-layer, backup, install`},
		{[]string{"help", "frobnicate"}, `help: "frobnicate" is not a mode`},
		{[]string{"detect", "--lock-idz", "x"}, "unknown flag --lock-idz for mode detect: tfstate-guard detect --help lists its flags"},
		{[]string{"setup", "--json"}, "unknown flag --json for mode setup"},
		{[]string{"detect", "--lock-table"}, "flag --lock-table needs a value"},
		{[]string{"detect", "stray"}, `unexpected argument "stray"`},
	}
	for _, c := range cases {
		var out, errOut bytes.Buffer
		code := run(context.Background(), c.args, envFunc(nil), &out, &errOut)
		assert.Equal(t, exitInput, code, "%v", c.args)
		assert.Contains(t, errOut.String(), c.want, "%v", c.args)
		assert.Empty(t, out.String(), "%v: a mistake prints nothing on stdout", c.args)
	}
}

func TestMalformedRegionIsAnInputError(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"detect", "--aws-region", "eu west 2"}, envFunc(nil), &out, &errOut)
	assert.Equal(t, exitInput, code)
	assert.Equal(t, "tfstate-guard: invalid input:\n  --aws-region \"eu west 2\" is not an AWS region code: write it like eu-west-2 (lower case, hyphens, no spaces)\n", errOut.String())

	_, err := loadConfig(nil, envFunc(map[string]string{"GITHUB_ACTIONS": "true", "INPUT_MODE": "backup", "INPUT_AWS-REGION": "EU-WEST-2"}), &bytes.Buffer{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `input aws-region: "EU-WEST-2" is not an AWS region code`)

	for _, region := range []string{"eu-west-2", "us-gov-west-1", "cn-northwest-1", "ap-southeast-5", "eusc-de-east-1"} {
		_, err := loadConfig([]string{"detect", "--aws-region", region}, envFunc(nil), &bytes.Buffer{})
		assert.NoError(t, err, region)
	}
	for _, region := range []string{"eu west 2", "eu-west", "EU-WEST-2", "eu_west_2", "eu-west-2!"} {
		_, err := loadConfig([]string{"detect", "--aws-region", region}, envFunc(nil), &bytes.Buffer{})
		assert.Error(t, err, region)
	}
}

// Messages use the syntax of where the program runs: flags on the command
// line, workflow inputs only inside Actions.
func TestMessagesSpeakTheSyntaxOfWhereTheyRun(t *testing.T) {
	t.Parallel()
	actions := func(kv ...string) func(string) string {
		env := map[string]string{"GITHUB_ACTIONS": "true"}
		for i := 0; i < len(kv); i += 2 {
			env[kv[i]] = kv[i+1]
		}
		return envFunc(env)
	}
	cases := []struct {
		name        string
		args        []string
		getenv      func(string) string
		want, never []string
	}{
		{"cli lock-ids", []string{"unlock", "--lock-ids", " , "}, envFunc(nil),
			[]string{`--lock-ids "," names no lock: pass the approved IDs, e.g. --lock-ids 9161f8d3-91c8-c716-d20c-f2c95576c5e2 (detect lists the IDs)`}, []string{"${{", "lock-ids:"}},
		{"actions lock-ids", nil, actions("INPUT_MODE", "unlock"),
			[]string{`input lock-ids: "" names no lock: pass the approved IDs, e.g. lock-ids: ${{ needs.stale-lock-check.outputs.LOCK_IDS }}`}, nil},
		{"cli lock-source", []string{"detect", "--lock-source", "s3"}, envFunc(nil),
			[]string{`--state-bucket "" is empty but lock-source "s3" reads .tflock objects: set --state-bucket, or --lock-source dynamodb`}, []string{"lock-source: dynamodb"}},
		{"actions lock-source", nil, actions("INPUT_MODE", "detect", "INPUT_LOCK-SOURCE", "s3"),
			[]string{`input state-bucket: "" is empty but lock-source "s3" reads .tflock objects: set state-bucket, or lock-source: dynamodb`}, nil},
		{"cli lock-details", []string{"unlock", "--lock-ids", "a", "--lock-details", "{oops"}, envFunc(nil),
			[]string{`--lock-details "{oops" is not detect's LOCK_DETAILS JSON array`, "pass the JSON array detect --json prints, or leave --lock-details out"}, []string{"${{"}},
		{"cli ids not in details", []string{"unlock", "--lock-ids", "a,b", "--lock-details", `[{"lock_id":"a","lock_path":"x"}]`}, envFunc(nil),
			[]string{`--lock-ids "b" are not in --lock-details: pass --lock-ids and --lock-details from the same detect run`}, []string{"LOCK_IDS"}},
		{"cli windows", []string{"detect", "--active-within", "2h"}, envFunc(nil),
			[]string{`--active-within "2h" is longer than --stale-after (30m): it must not exceed it`}, nil},
	}
	for _, c := range cases {
		_, err := loadConfig(c.args, c.getenv, &bytes.Buffer{})
		require.Error(t, err, c.name)
		for _, w := range c.want {
			assert.Contains(t, err.Error(), w, c.name)
		}
		for _, n := range c.never {
			assert.NotContains(t, err.Error(), n, c.name)
		}
	}
}

func TestCLINoCredentials(t *testing.T) {
	t.Parallel()
	out, errOut, code := cli(t, nil, "detect", "--lock-table", "t")
	assert.Equal(t, exitFailure, code)
	assert.Empty(t, out)
	golden(t, "detect-no-credentials.txt", errOut)
	assert.NotContains(t, errOut, "SDK ", "the SDK's own log lines stay out unless asked for")
	assert.NotContains(t, errOut, "needs dynamodb", "not a permissions problem")
	assert.NotContains(t, errOut, "GitHub token", "no second warning before the one real problem")

	_, errOut, code = cli(t, nil, "detect", "--lock-table", "t", "--debug")
	assert.Equal(t, exitFailure, code)
	assert.Contains(t, errOut, "no AWS credentials found")
	assert.Contains(t, errOut, "(the SDK said:", "--debug shows what the SDK said")

	_, errOut, code = cli(t, nil, "backup", "--aws-profile", "nope")
	assert.Equal(t, exitInput, code)
	assert.Contains(t, errOut, `--aws-profile "nope" names no profile in the shared config files`)

	// Inside Actions: one error annotation, in workflow words.
	rn := actiontest.New(t, binary, "AWS_EC2_METADATA_DISABLED=true")
	code = rn.Run(map[string]string{"mode": "detect", "lock-table": "t", "github-token": "tok"})
	assert.Equal(t, exitFailure, code)
	golden(t, "detect-no-credentials-actions.txt", rn.Stdout)
}

func TestCLIMissingTableOrBucket(t *testing.T) {
	t.Parallel()
	srv, _, table := lockTable(t)
	env := append(srv.Env(), "GITHUB_TOKEN=")
	const noTable, noBucket = "tfstate-guard-no-such-table", "tfstate-guard-no-such-bucket"

	out, errOut, code := cli(t, env, "detect", "--lock-table", noTable)
	assert.Equal(t, exitInput, code)
	assert.Empty(t, out)
	golden(t, "detect-missing-table.txt", errOut)
	assert.NotContains(t, errOut, "ResourceNotFoundException")

	_, errOut, code = cli(t, env, "unlock", "--lock-table", noTable, "--lock-ids", "x")
	assert.Equal(t, exitInput, code)
	assert.Contains(t, errOut, `tfstate-guard unlock: lock table "`+noTable+`" does not exist in this account and region: check --lock-table and --aws-region`)

	_, errOut, code = cli(t, env, "detect", "--lock-table", table, "--state-bucket", noBucket)
	assert.Equal(t, exitInput, code)
	assert.Contains(t, errOut, `tfstate-guard detect: state bucket "`+noBucket+`" does not exist in this account and region: check --state-bucket and --aws-region`)

	_, errOut, code = cli(t, env, "backup", "--state-bucket", noBucket)
	assert.Equal(t, exitInput, code)
	assert.Contains(t, errOut, `tfstate-guard backup: state bucket "`+noBucket+`" does not exist in this account and region: check --state-bucket and --aws-region, or run mode setup first`)

	rn := newRunner(t, srv)
	code = rn.Run(map[string]string{"mode": "detect", "lock-table": noTable})
	assert.Equal(t, exitInput, code)
	assert.Contains(t, rn.Stdout, `::error::detect: lock table "`+noTable+`" does not exist in this account and region: check lock-table and aws-region`)
	assert.Equal(t, 1, strings.Count(rn.Stdout, "does not exist"), "said once: %s", rn.Stdout)
}

func TestCLIUnlockNotFound(t *testing.T) {
	t.Parallel()
	srv, ddb, table := lockTable(t)
	path := "b/app/terraform.tfstate"
	put(t, ddb, table, map[string]string{"LockID": path, "Info": info("real-1", path, "runner@fv-az1", time.Now().Add(-3*time.Hour))})
	env := append(srv.Env(), "GITHUB_TOKEN=")

	out, errOut, code := cli(t, env, "unlock", "--lock-table", table, "--lock-ids", "no-such-lock")
	assert.Equal(t, exitInput, code, "a likely typo is not success")
	golden(t, "unlock-not-found.txt", out+"--- stderr ---\n"+errOut)

	// A refusal and a typo together: both named, the typo decides the code.
	_, errOut, code = cli(t, env, "unlock", "--lock-table", table, "--lock-ids", "no-such-lock,real-1", "--active-within", "5h", "--stale-after", "6h")
	assert.Equal(t, exitInput, code)
	assert.Contains(t, errOut, "refused to remove lock(s) real-1")
	assert.Contains(t, errOut, `--lock-ids "no-such-lock": NOT FOUND`)

	// Approved with detect's details: gone since approval is proven, exit 0.
	rn := newRunner(t, srv)
	code = rn.Run(map[string]string{"mode": "unlock", "lock-table": table, "lock-ids": "gone-1",
		"lock-details": `[{"lock_id":"gone-1","lock_path":"b/other/terraform.tfstate"}]`})
	assert.Equal(t, exitOK, code, rn.Stdout)
	assert.Equal(t, "gone-1", rn.Outputs()["ALREADY_RELEASED_LOCK_IDS"])

	// The same ID without details proves nothing: NOT FOUND, exit 2.
	code = rn.Run(map[string]string{"mode": "unlock", "lock-table": table, "lock-ids": "gone-1"})
	assert.Equal(t, exitInput, code, rn.Stdout)
	res := rn.Outputs()
	assert.Empty(t, res["ALREADY_RELEASED_LOCK_IDS"])
	assert.Equal(t, "gone-1", res["REFUSED_LOCK_IDS"], "not removed")
	assert.Contains(t, res["UNLOCK_DETAILS"], `"outcome":"not-found"`)
	assert.Contains(t, rn.Summary(), "0 removed, 0 already released, 0 refused, 1 not found")
	assert.Contains(t, rn.Stdout, `::error::unlock: lock-ids "gone-1": NOT FOUND`)
	assert.Contains(t, rn.Stdout, "pass lock-details to prove a release")
}

func TestOneWarningPerProblem(t *testing.T) {
	t.Parallel()
	srv, ddb, table := lockTable(t)
	old := time.Now().Add(-3 * time.Hour)
	for i, who := range []string{"runner@gha-77", "runner@gha-78-2", "runner@gha-79"} {
		p := "b/s" + string(rune('a'+i)) + "/terraform.tfstate"
		put(t, ddb, table, map[string]string{"LockID": p, "Info": info("id-"+string(rune('a'+i)), p, who, old)})
	}
	rn := newRunner(t, srv)
	code := rn.Run(map[string]string{"mode": "detect", "lock-table": table, "fail-on-active": "false"})
	require.Equal(t, exitOK, code, rn.Stdout)
	assert.Equal(t, 1, strings.Count(rn.Stdout, "::warning::"), "one warning for no token, not one per run: %s", rn.Stdout)
	assert.Equal(t, 1, strings.Count(strings.ToLower(rn.Stdout), "no github-token"))
	assert.NotContains(t, rn.Stdout, "GitHub could not be asked")

	// With a token GitHub is asked; each run it cannot find is one warning,
	// as an annotation only (not again as plain text).
	api, _ := fakeRunsAPI(t, nil)
	rn = newRunner(t, srv, "GITHUB_API_URL="+api.URL)
	code = rn.Run(map[string]string{"mode": "detect", "lock-table": table, "fail-on-active": "false", "github-token": "tok"})
	require.Equal(t, exitOK, code, rn.Stdout)
	asked := regexp.MustCompile(`(?m)^.*GitHub could not be asked.*$`).FindAllString(rn.Stdout, -1)
	assert.Len(t, asked, 3, "one per distinct run: %s", rn.Stdout)
	for _, line := range asked {
		assert.True(t, strings.HasPrefix(line, "::warning::"), line)
	}

	// On the command line the warning is one stderr line.
	_, errOut, code := cli(t, append(srv.Env(), "GITHUB_TOKEN="), "detect", "--lock-table", table, "--fail-on-active", "false")
	require.Equal(t, exitOK, code)
	assert.Equal(t, "warning: no GitHub token ($GITHUB_TOKEN or --github-token): owning runs cannot be checked, so only the age rules decide\n", errOut)
}

func TestOneMistakeIsReportedOnce(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args []string
		word string
	}{
		{[]string{"setup", "--lock-method", "foo"}, "lock-method"},
		{[]string{"setup", "--aws-region", ""}, "aws-region"},
	}
	for _, c := range cases {
		_, err := loadConfig(c.args, envFunc(nil), &bytes.Buffer{})
		require.Error(t, err, "%v", c.args)
		assert.Equal(t, 1, strings.Count(err.Error(), c.word), "%v: %s", c.args, err)
	}
}
