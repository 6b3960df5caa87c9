package report

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/text2agent/tfstate-guard/lockcheck"
)

func digestFixture() (*lockcheck.DigestReport, []lockcheck.StateKinds) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	hostile := "b/`x`|<img src=x>*[a](b)\n# h"
	rep := &lockcheck.DigestReport{BytesRead: 4096, ReadLimit: 1 << 30, Checks: []lockcheck.DigestCheck{
		{LockPath: "b/ok.tfstate", Digest: "aa", Status: lockcheck.DigestOK},
		{LockPath: "b/edited.tfstate", Digest: "0cc175b9c0f1b6a831c399e269772661", Status: lockcheck.DigestMismatch,
			Current:   lockcheck.StateVersion{VersionID: "v2", MD5: "92eb5ffee6ae2fec3ad71c777531578f", Size: 321, LastModified: at, Lineage: "lin", Serial: 7, HasSerial: true},
			Previous:  &lockcheck.StateVersion{VersionID: "v1", Lineage: "lin", Serial: 7, HasSerial: true},
			CauseKind: lockcheck.CauseChangedOutside, Cause: "state changed outside Terraform at 2026-03-04T05:06:07Z (version v2)"},
		{LockPath: hostile, Digest: "|dig`est|", Status: lockcheck.DigestMissing,
			Matching:  &lockcheck.StateVersion{VersionID: "v<9>"},
			CauseKind: lockcheck.CauseStateMissing, Cause: "state object missing | <b>bold</b>"},
		{LockPath: "b/denied", Digest: "dd", Status: lockcheck.DigestUnchecked, Unchecked: "read state (needs s3:GetObject): AccessDenied <x>", Err: errors.New("AccessDenied")},
	}}
	kinds := lockcheck.MigrationView([]lockcheck.Verdict{{Lock: lockcheck.Lock{LockPath: "b/edited.tfstate", Sources: []lockcheck.Location{{Source: lockcheck.SourceS3}}}}}, rep)
	return rep, kinds
}

func TestDigestSummaryGolden(t *testing.T) {
	t.Parallel()
	rep, kinds := digestFixture()
	got := DigestSummary(rep, kinds)
	golden(t, "digest-summary.md", got)
	assert.NotContains(t, got, "<img")
	assert.NotContains(t, got, "\n# h")
	assert.Contains(t, got, TerraformDigestError)
	assert.Contains(t, got, "leftover digest", "a digest on a state locked with lock files only")
}

func TestDigestSummaryAllMatch(t *testing.T) {
	t.Parallel()
	rep := &lockcheck.DigestReport{Checks: []lockcheck.DigestCheck{{LockPath: "b/k", Status: lockcheck.DigestOK}}}
	got := DigestSummary(rep, nil)
	assert.Contains(t, got, "all 1 digest(s) match")
	assert.NotContains(t, got, TerraformDigestError)
}

func TestDigestMismatchesRoundTrip(t *testing.T) {
	t.Parallel()
	rep, kinds := digestFixture()
	pairs, err := DigestOutputs(rep, kinds)
	require.NoError(t, err)
	require.Equal(t, "DIGEST_MISMATCH_FOUND", pairs[0].Name)
	assert.Equal(t, "true", pairs[0].Value)
	assert.NotContains(t, pairs[1].Value, "<img", "HTML is escaped in the JSON")
	approved, err := ParseDigestMismatches(pairs[1].Value)
	require.NoError(t, err)
	require.Len(t, approved, 2)
	assert.Equal(t, lockcheck.DigestApproval{LockPath: "b/edited.tfstate", Digest: "0cc175b9c0f1b6a831c399e269772661",
		VersionID: "v2", ActualMD5: "92eb5ffee6ae2fec3ad71c777531578f"}, approved[0])
	assert.True(t, approved[1].Missing)
	assert.Equal(t, "v<9>", approved[1].RestoreVersion)
	assert.Equal(t, "b/`x`|<img src=x>*[a](b)\n# h", approved[1].LockPath)

	none, err := DigestOutputs(&lockcheck.DigestReport{}, nil)
	require.NoError(t, err)
	assert.Equal(t, []Pair{{"DIGEST_MISMATCH_FOUND", "false"}, {"DIGEST_MISMATCHES", "[]"}}, none)
}

func TestParseDigestMismatchesRejects(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{
		`{}`: "cannot unmarshal",
		`[{"path":"nobucket","digest":"a","status":"mismatch","object_version":"v","actual_md5":"m"}]`: "no path",
		`[{"path":"b/k","digest":"","status":"mismatch","object_version":"v","actual_md5":"m"}]`:       "no path",
		`[{"path":"b/k","digest":"a","status":"mismatch"}]`:                                            "no object_version and actual_md5",
		`[{"path":"b/k","digest":"a","status":"ok"}]`:                                                  `status "ok"`,
	} {
		_, err := ParseDigestMismatches(raw)
		if assert.Error(t, err, raw) {
			assert.Contains(t, err.Error(), want, raw)
		}
	}
}

func TestRepairSummaryGolden(t *testing.T) {
	t.Parallel()
	rs := []lockcheck.DigestRepair{
		{LockPath: "b/edited.tfstate", Action: lockcheck.ActionSetDigest, Outcome: lockcheck.RepairDone, OldDigest: "old", NewDigest: "new", VersionID: "v2", Reason: "digest set"},
		{LockPath: "b/<x>|y", Action: lockcheck.ActionSetDigest, Outcome: lockcheck.RepairRefused, OldDigest: "o", Reason: "the state is locked | `now`"},
		{LockPath: "b/gone", Action: lockcheck.ActionRestoreState, Outcome: lockcheck.RepairDone, OldDigest: "d", NewDigest: "d", VersionID: "v9", RestoredFrom: "v3"},
		{LockPath: "b/fail", Action: lockcheck.ActionSetDigest, Outcome: lockcheck.RepairFailed, OldDigest: "d", Err: errors.New("AccessDenied")},
	}
	got := RepairSummary(rs)
	golden(t, "digest-repair-summary.md", got)
	assert.NotContains(t, got, "<x>")
	pairs, err := RepairOutputs(rs)
	require.NoError(t, err)
	m := map[string]string{}
	for _, p := range pairs {
		m[p.Name] = p.Value
	}
	assert.Equal(t, "b/edited.tfstate,b/gone", m["REPAIRED_DIGESTS"])
	assert.Equal(t, "b/<x>|y", m["REFUSED_DIGESTS"])
	assert.Contains(t, m["DIGEST_REPAIRS"], `"restored_from":"v3"`)
	assert.Contains(t, m["DIGEST_REPAIRS"], `"error":"AccessDenied"`)
	var b strings.Builder
	require.NoError(t, RepairTable(&b, rs))
	assert.Contains(t, b.String(), "refused")
}

// FuzzDigestMismatches feeds unlock's repair-digests whatever a workflow
// output could hold: parsing never panics, and what it accepts names a
// "<bucket>/<key>" path and a digest, and a mismatch names the version and
// MD5 it must still find before anything is written.
func FuzzDigestMismatches(f *testing.F) {
	rep, kinds := digestFixture()
	pairs, err := DigestOutputs(rep, kinds)
	require.NoError(f, err)
	f.Add(pairs[1].Value)
	f.Add(`[]`)
	f.Add(`[{"path":"b/k","status":"missing","digest":"d","restore_version":"v"}]`)
	f.Add(`[{"path":"/k","status":"mismatch","digest":"d","object_version":"v","actual_md5":"m"}]`)
	f.Add(`null`)
	f.Fuzz(func(t *testing.T, raw string) {
		approved, err := ParseDigestMismatches(raw)
		if err != nil {
			return
		}
		for _, a := range approved {
			_, _, ok := lockcheck.SplitLockPath(a.LockPath)
			assert.True(t, ok, "%q", a.LockPath)
			assert.NotEmpty(t, a.Digest)
			if !a.Missing {
				assert.NotEmpty(t, a.VersionID)
				assert.NotEmpty(t, a.ActualMD5)
			}
		}
	})
}
