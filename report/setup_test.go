package report

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/text2agent/tfstate-guard/backend"
	"github.com/text2agent/tfstate-guard/lockcheck"
)

func TestSetupSummary(t *testing.T) {
	t.Parallel()
	written := time.Date(2025, 10, 3, 14, 47, 6, 0, time.UTC)
	base := func() *backend.SetupResult {
		return &backend.SetupResult{
			Region: "eu-west-2", Bucket: "text2agent-terraform-state-eu-west-2", Table: "text2agent-terraform-state-lock",
			StatePath: "text2agent/production/terraform.tfstate", LockPath: "text2agent-terraform-state-eu-west-2/text2agent/production/terraform.tfstate",
			LockMethod: backend.LockDynamoDB, BackendFile: "infra/backend_override.tf",
		}
	}
	cases := []struct {
		golden string
		result func() *backend.SetupResult
		want   []string
	}{
		{golden: "setup-summary-fresh.md", result: func() *backend.SetupResult {
			r := base()
			r.Checks = []backend.Check{
				{Resource: backend.ResourceBucket, Setting: backend.SettingExists, State: backend.StateChanged, Detail: `created bucket "text2agent-terraform-state-eu-west-2" in eu-west-2`},
				{Resource: backend.ResourceBucket, Setting: backend.SettingVersioning, State: backend.StateChanged, Detail: "enabled (was never enabled)"},
				{Resource: backend.ResourceBucket, Setting: backend.SettingTLSPolicy, State: backend.StateSkipped, Detail: "turned off by input"},
				{Resource: backend.ResourceTable, Setting: backend.SettingTTL, State: backend.StateChanged, Detail: "enabled on ExpiresAt"},
				{Resource: backend.ResourcePermissions, Setting: "bucket write (s3:PutObject)", State: backend.StateAlreadyRight, Detail: "allowed (probed without writing)"},
				{Resource: backend.ResourceBackendFile, Setting: "backend_override.tf", State: backend.StateChanged, Detail: "written"},
				{Resource: backend.ResourceRunRecord, Setting: "run record", State: backend.StateChanged, Detail: "run 42 attempt 1 job apply"},
			}
			r.RunRecord = &lockcheck.RunRecord{LockPath: r.LockPath, RunID: 42, RunAttempt: 1, Job: "apply", Written: written, Expires: written.Add(lockcheck.DefaultRunRecordTTL)}
			return r
		}, want: []string{"ready, 5 change(s) made", "🔧 changed", "until 2025-10-10T14:47:06Z"}},
		{golden: "setup-summary-unchanged.md", result: func() *backend.SetupResult {
			r := base()
			r.Checks = []backend.Check{
				{Resource: backend.ResourceBucket, Setting: backend.SettingExists, State: backend.StateAlreadyRight, Detail: "exists"},
				{Resource: backend.ResourceRunRecord, Setting: "run record", State: backend.StateSkipped, Detail: "not running in GitHub Actions"},
			}
			return r
		}, want: []string{"ready, nothing to change"}},
		{golden: "setup-summary-attention-hostile.md", result: func() *backend.SetupResult {
			r := base()
			r.Table, r.LockMethod = "", backend.LockS3
			r.StatePath = "a|b/<script>`x`\n| injected | row |"
			r.Checks = []backend.Check{
				{Resource: backend.ResourceTable, Setting: backend.SettingTTL, State: backend.StateAttention, Detail: "TTL is on attribute \"x|y\", not ExpiresAt\n## heading"},
			}
			return r
		}, want: []string{"1 setting(s) need attention", "none (lock-method s3)", `a\|b/&lt;script&gt;`}},
	}
	for _, tc := range cases {
		t.Run(tc.golden, func(t *testing.T) {
			t.Parallel()
			got := SetupSummary(tc.result())
			golden(t, tc.golden, got)
			for _, w := range tc.want {
				assert.Contains(t, got, w)
			}
			assert.NotContains(t, got, "\n| injected", "hostile text cannot add a table row")
			assert.NotContains(t, got, "\n## heading")
		})
	}
}

func TestSetupOutputs(t *testing.T) {
	t.Parallel()
	r := &backend.SetupResult{Bucket: "b", Table: "t", LockPath: "b/k", BackendFile: "backend_override.tf"}
	assert.Equal(t, []Pair{{"BACKEND_FILE", "backend_override.tf"}, {"STATE_BUCKET", "b"}, {"LOCK_TABLE", "t"}, {"LOCK_PATH", "b/k"}}, SetupOutputs(r))
}

func TestBackupSummary(t *testing.T) {
	t.Parallel()
	taken := time.Date(2025, 10, 3, 12, 47, 6, 0, time.UTC)
	cases := []struct {
		golden string
		result *backend.BackupResult
		want   []string
	}{
		{golden: "setup-backup-copied.md", result: &backend.BackupResult{
			Bucket: "text2agent-terraform-state-eu-west-2", SourceKey: "env:/dev/text2agent/production/terraform.tfstate", SourceVersionID: "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY",
			Key: "backups/env:/dev/text2agent/production/terraform.tfstate.20251003T124706Z", VersionID: "v2", Size: 1234,
			Encryption: "aws:kms", KMSKeyID: "arn:aws:kms:eu-west-2:123456789012:key/abcd", Time: taken,
		}, want: []string{"## State backup: copied", "aws s3api copy-object --bucket 'text2agent-terraform-state-eu-west-2'"}},
		{golden: "setup-backup-no-state.md", result: &backend.BackupResult{Bucket: "b", SourceKey: "k.tfstate", NoState: true, Time: taken},
			want: []string{"no state yet"}},
		{golden: "setup-backup-hostile-key.md", result: &backend.BackupResult{Bucket: "b", SourceKey: "it's\n```\nrm -rf /", Key: "backups/x", Time: taken},
			want: []string{"contains a line break: restore it by hand"}},
		{golden: "setup-backup-quoted-key.md", result: &backend.BackupResult{Bucket: "b", SourceKey: "it's `x` $(y).tfstate", Key: "backups/it's `x` $(y).tfstate.1", Time: taken},
			want: []string{`--key 'it'\''s ` + "`x`" + ` $(y).tfstate'`}},
	}
	for _, tc := range cases {
		t.Run(tc.golden, func(t *testing.T) {
			t.Parallel()
			got := BackupSummary(tc.result)
			golden(t, tc.golden, got)
			for _, w := range tc.want {
				assert.Contains(t, got, w)
			}
			assert.NotContains(t, got, "\n```\nrm", "a key cannot close the code block")
		})
	}
}

func TestBackupOutputs(t *testing.T) {
	t.Parallel()
	assert.Equal(t, []Pair{{"BACKUP_KEY", ""}, {"BACKUP_VERSION_ID", ""}}, BackupOutputs(&backend.BackupResult{NoState: true}))
	assert.Equal(t, []Pair{{"BACKUP_KEY", "backups/k.1"}, {"BACKUP_VERSION_ID", "v"}}, BackupOutputs(&backend.BackupResult{Key: "backups/k.1", VersionID: "v"}))
}
