package report

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/text2agent/tfstate-guard/lockcheck"
)

var update = flag.Bool("update", false, "rewrite golden files")

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./report -update to create %s", path)
	assert.Equal(t, string(want), got)
}

func TestFileCommandCannotBeInjected(t *testing.T) {
	t.Parallel()
	hostile := []string{
		"plain",
		"two\nlines",
		"LOCK_IDS<<EOF\nevil\nEOF",
		"x\n_GitHubActionsFileCommandDelimeter_\nSTALE_LOCKS_FOUND<<_GitHubActionsFileCommandDelimeter_\nfalse",
		"ghadelimiter_00000000000000000000000000000000",
		"LOCK_COUNT=999",
		"",
		"trailing newline\n",
		"\r\ncrlf\r\n",
	}
	for _, v := range hostile {
		path := filepath.Join(t.TempDir(), "output")
		require.NoError(t, AppendFileCommand(path, []Pair{{"WHO", v}, {"LOCK_COUNT", "1"}}))
		require.NoError(t, AppendFileCommand(path, []Pair{{"STALE_LOCKS_FOUND", "true"}}))
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		got, err := ParseFileCommand(data)
		require.NoError(t, err)
		assert.Equal(t, map[string]string{"WHO": strings.ReplaceAll(v, "\r\n", "\n"), "LOCK_COUNT": "1", "STALE_LOCKS_FOUND": "true"}, normalizeCR(got), "value %q", v)
	}
}

// normalizeCR mirrors the runner, which reads lines without their CR.
func normalizeCR(m map[string]string) map[string]string {
	for k, v := range m {
		m[k] = strings.ReplaceAll(v, "\r", "")
	}
	return m
}

func TestFileCommandRefusesBadNames(t *testing.T) {
	t.Parallel()
	err := AppendFileCommand(filepath.Join(t.TempDir(), "o"), []Pair{{"A<<B", "x"}})
	assert.ErrorContains(t, err, "not a valid name")
}

func TestParseFileCommandRunnerRules(t *testing.T) {
	t.Parallel()
	got, err := ParseFileCommand([]byte("A=1\nB<<X\nline1\nline2\nX\nA=2\n"))
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"A": "2", "B": "line1\nline2"}, got)
	_, err = ParseFileCommand([]byte("B<<X\nnever closed\n"))
	assert.ErrorContains(t, err, "never ends")
}

func TestCellEscapesMarkdown(t *testing.T) {
	t.Parallel()
	assert.Equal(t, `a\|b &lt;script&gt; \`+"`x\\`"+` \[l\](u) \*b\* line two`, Cell("a|b <script> `x` [l](u) *b* line\ntwo"))
	assert.Equal(t, "—", Cell(""))
}

func sampleDetection() *lockcheck.Detection {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	mk := func(path, raw string) lockcheck.Lock {
		return lockcheck.ParseLock(path, raw, lockcheck.Location{Source: lockcheck.SourceDynamoDB, Table: "locks"})
	}
	active := mk("b/app/terraform.tfstate", `{"ID":"9161f8d3-91c8-c716-d20c-f2c95576c5e2","Operation":"OperationTypeApply","Who":"runner@gha-7-1","Version":"1.11.4","Created":"2026-11-27T11:00:00Z","Path":"b/app/terraform.tfstate"}`)
	stale := mk("b/env:/dev/app/terraform.tfstate", `{"ID":"ece09609-6032-6485-368f-a53ea2710b43","Operation":"OperationTypePlan","Who":"root@evil|host<img src=x>`+"`"+`","Version":"1.5.7","Created":"2026-11-27T10:00:00Z"}`)
	weird := mk("test-lock", `{"ID":"bad id, with comma","Who":"manual-test"}`)
	dead := mk("b/api/terraform.tfstate", `{"ID":"0c1d2e3f-4a5b-6c7d-8e9f-a0b1c2d3e4f5","Operation":"OperationTypeApply","Who":"runner@runnervmg1sw1","Version":"1.11.4","Created":"2026-11-27T11:58:00Z"}`)
	return &lockcheck.Detection{
		Records: 3,
		Skipped: map[string]int{"digest": 2, "other": 1, "run record of an earlier layout (ignored)": 4},
		Verdicts: []lockcheck.Verdict{
			{Lock: active, Status: lockcheck.StatusActive, Rule: lockcheck.RuleOwnerLive, Evidence: lockcheck.EvidenceDefinitive, Reason: `owning run 7 (hostname "gha-7-1") is in_progress`,
				Owner: &lockcheck.RunState{ID: 7, Status: "in_progress", URL: "https://github.com/octo/infra/actions/runs/7"}, Age: now.Sub(active.Created), AgeKnown: true},
			{Lock: stale, Status: lockcheck.StatusStale, Rule: lockcheck.RuleTooOld, Evidence: lockcheck.EvidenceNone, Reason: "no owning run identified; created 2h0m0s ago, beyond stale-after (30m0s)", Age: 2 * time.Hour, AgeKnown: true},
			{Lock: weird, Status: lockcheck.StatusStale, Rule: lockcheck.RuleAgeUnknown, Evidence: lockcheck.EvidenceNone, Reason: "owner unknown: run 5 could not be checked: 502; age unknown", APIProblem: "run 5 could not be checked: 502"},
			{Lock: dead, Status: lockcheck.StatusStale, Rule: lockcheck.RuleOwnerCompleted, Evidence: lockcheck.EvidenceDefinitive,
				Reason: `run 12 attempt 1 (record of job "terraform-apply" on the lock's host, which runs one job at a time) ended 1m30s after this lock was taken (cancelled): its owner is gone`,
				Owner:  &lockcheck.RunState{ID: 12, Status: "completed", Conclusion: "cancelled", URL: "https://github.com/octo/infra/actions/runs/12"}, Age: 2 * time.Minute, AgeKnown: true},
		},
	}
}

func TestDetectSummaryGolden(t *testing.T) {
	t.Parallel()
	golden(t, "detect-summary.md", DetectSummary(sampleDetection(), "DynamoDB table `locks`"))
	golden(t, "detect-summary-empty.md", DetectSummary(&lockcheck.Detection{}, "DynamoDB table `locks`"))
}

func TestDetectSummaryIsBounded(t *testing.T) {
	t.Parallel()
	det := &lockcheck.Detection{}
	big := strings.Repeat("x", 4000)
	for i := 0; i < 1000; i++ {
		l := lockcheck.ParseLock("b/"+big, `{"ID":"a","Who":"`+big+`"}`, lockcheck.Location{})
		det.Verdicts = append(det.Verdicts, lockcheck.Verdict{Lock: l, Status: lockcheck.StatusStale, Reason: big})
	}
	s := DetectSummary(det, "t")
	assert.Less(t, len(s), 1<<20, "the runner refuses step summaries over 1 MiB")
	assert.Contains(t, s, "…and 800 more lock(s)")
}

func TestDetectOutputs(t *testing.T) {
	t.Parallel()
	pairs, err := DetectOutputs(sampleDetection())
	require.NoError(t, err)
	got := map[string]string{}
	for _, p := range pairs {
		got[p.Name] = p.Value
	}
	assert.Equal(t, "true", got["STALE_LOCKS_FOUND"])
	assert.Equal(t, "true", got["ACTIVE_LOCKS_FOUND"])
	assert.Equal(t, "4", got["LOCK_COUNT"])
	assert.Equal(t, "ece09609-6032-6485-368f-a53ea2710b43,0c1d2e3f-4a5b-6c7d-8e9f-a0b1c2d3e4f5", got["LOCK_IDS"], "only approvable stale IDs")
	assert.Contains(t, got["LOCK_DETAILS"], `"rule":"owner-run-completed","evidence":"definitive"`)
	assert.Contains(t, got["LOCK_DETAILS"], `"rule":"older-than-stale-after","evidence":"none"`)
	assert.NotContains(t, got["LOCK_DETAILS"], "\n")
	assert.NotContains(t, got["LOCK_DETAILS"], "<img")
	golden(t, "lock-details.json", got["LOCK_DETAILS"]+"\n")
}

func TestDetectTableNeutralisesTerminalEscapes(t *testing.T) {
	t.Parallel()
	det := &lockcheck.Detection{Verdicts: []lockcheck.Verdict{{
		Lock:   lockcheck.ParseLock("b/k", "{\"ID\":\"i\",\"Who\":\"\\u001b[31mred\\u0007\"}", lockcheck.Location{}),
		Status: lockcheck.StatusStale, Reason: "r",
	}}}
	var b strings.Builder
	require.NoError(t, DetectTable(&b, det))
	assert.NotContains(t, b.String(), "\x1b")
	assert.Contains(t, b.String(), `\x1b[31mred\x07`)
}

func TestForEnvironmentDropsHugeValues(t *testing.T) {
	t.Parallel()
	small := Pair{"LOCK_IDS", "a,b"}
	huge := Pair{"LOCK_DETAILS", strings.Repeat("x", MaxExportedValue)}
	exported, dropped := ForEnvironment([]Pair{small, huge})
	assert.Equal(t, []Pair{small}, exported)
	assert.Equal(t, []string{"LOCK_DETAILS"}, dropped)
}
