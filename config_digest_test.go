package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/text2agent/tfstate-guard/lockcheck"
)

const approvedMismatches = `[{"path":"b/app.tfstate","status":"mismatch","digest":"d1","actual_md5":"m1","object_version":"v1","size":3,"cause_kind":"x","cause":"y","leftover_digest":false},` +
	`{"path":"b/gone.tfstate","status":"missing","digest":"d2","actual_md5":"","object_version":"","size":0,"cause_kind":"state-missing","cause":"z","restore_version":"r9","leftover_digest":false}]`

func TestDigestInputs(t *testing.T) {
	t.Parallel()
	cfg, err := loadConfig([]string{"detect", "--check-digests", "true", "--digest-read-limit", "512MiB", "--fail-on-digest-mismatch", "true"}, envFunc(nil), &bytes.Buffer{})
	require.NoError(t, err)
	assert.True(t, cfg.Digests.Check)
	assert.True(t, cfg.Digests.FailOnMismatch)
	assert.Equal(t, int64(512<<20), cfg.Digests.ReadLimit)

	cfg, err = loadConfig([]string{"detect"}, envFunc(nil), &bytes.Buffer{})
	require.NoError(t, err)
	assert.False(t, cfg.Digests.Check, "off by default: reading state needs s3:GetObject on secrets")
	assert.Equal(t, int64(1<<30), cfg.Digests.ReadLimit)

	// repair-digests alone is a complete unlock: no lock-ids needed.
	cfg, err = loadConfig([]string{"unlock", "--repair-digests", approvedMismatches, "--restore-state-version", "r9", "--allow-state-rollback", "true"}, envFunc(nil), &bytes.Buffer{})
	require.NoError(t, err)
	assert.Empty(t, cfg.Approved)
	require.Len(t, cfg.Digests.Repair, 2)
	assert.Equal(t, lockcheck.DigestApproval{LockPath: "b/gone.tfstate", Digest: "d2", Missing: true, RestoreVersion: "r9"}, cfg.Digests.Repair[1])
	assert.True(t, cfg.Digests.Restore["r9"])
	assert.True(t, cfg.Digests.AllowRollback)

	cfg, err = loadConfig([]string{"unlock", "--repair-digests", approvedMismatches, "--forget-digests", "b/gone.tfstate"}, envFunc(nil), &bytes.Buffer{})
	require.NoError(t, err)
	assert.True(t, cfg.Digests.Forget["b/gone.tfstate"])
}

func TestDigestInputErrorsNameTheInput(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"detect", "--digest-read-limit", "lots"}, `--digest-read-limit "lots" is not a size: write bytes, or a number with KiB, MiB or GiB, e.g. 512MiB`},
		{[]string{"detect", "--digest-read-limit", "0"}, `--digest-read-limit "0" is not a size`},
		{[]string{"detect", "--check-digests", "yes"}, `--check-digests "yes" is not a boolean`},
		{[]string{"detect", "--fail-on-digest-mismatch", "true"}, `--fail-on-digest-mismatch "true" needs --check-digests true`},
		{[]string{"detect", "--check-digests", "true", "--lock-source", "s3", "--state-bucket", "b", "--lock-table", ""}, `--lock-table "" is empty but check-digests reads the digest items`},
		{[]string{"unlock", "--repair-digests", "{oops"}, `--repair-digests "{oops" is not detect's DIGEST_MISMATCHES JSON array`},
		{[]string{"unlock", "--repair-digests", `[{"path":"b/k","digest":"a","status":"mismatch"}]`}, "no object_version and actual_md5"},
		{[]string{"unlock", "--repair-digests", approvedMismatches, "--restore-state-version", "v-other"}, `--restore-state-version "v-other" is not the restore_version of a missing state in --repair-digests`},
		{[]string{"unlock", "--repair-digests", approvedMismatches, "--forget-digests", "b/other.tfstate"}, `--forget-digests "b/other.tfstate" is not a state path in --repair-digests`},
		{[]string{"unlock", "--restore-state-version", "r9"}, `--repair-digests "" is empty but --restore-state-version or --forget-digests names states`},
		{[]string{"unlock", "--repair-digests", approvedMismatches, "--allow-state-rollback", "maybe"}, `--allow-state-rollback "maybe" is not a boolean`},
	}
	for _, c := range cases {
		_, err := loadConfig(c.args, envFunc(nil), &bytes.Buffer{})
		if assert.Error(t, err, "%v", c.args) {
			assert.Contains(t, err.Error(), c.want, "%v", c.args)
		}
	}
	_, err := loadConfig(nil, envFunc(map[string]string{"GITHUB_ACTIONS": "true", "INPUT_MODE": "unlock", "INPUT_REPAIR-DIGESTS": "nope"}), &bytes.Buffer{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `input repair-digests: "nope" is not detect's DIGEST_MISMATCHES JSON array`)
	assert.Contains(t, err.Error(), "${{ needs.<detect job>.outputs.DIGEST_MISMATCHES }}")
}

func TestParseByteSize(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int64{"1": 1, "1048576": 1 << 20, "64KiB": 64 << 10, "2GiB": 2 << 30, "512MiB": 512 << 20} {
		got, err := parseByteSize(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "-1", "1.5GiB", "1GB", "GiB", "99999999999999999GiB"} {
		_, err := parseByteSize(in)
		assert.Error(t, err, in)
	}
}
