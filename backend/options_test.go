package backend

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseLockMethod(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in      string
		want    LockMethod
		wantErr string
	}{
		{in: "", want: LockDynamoDB},
		{in: "dynamodb", want: LockDynamoDB},
		{in: " S3 ", want: LockS3},
		{in: "both", want: LockBoth},
		{in: "dynamo", wantErr: `lock-method "dynamo" is invalid; use dynamodb (a DynamoDB lock table), s3 (Terraform >= 1.10 use_lockfile) or both`},
		{in: "s3,dynamodb", wantErr: `lock-method "s3,dynamodb" is invalid`},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseLockMethod(tc.in)
			if tc.wantErr != "" {
				var ce *ConfigError
				require.ErrorAs(t, err, &ce)
				assert.Equal(t, "lock-method", ce.Input)
				assert.Contains(t, err.Error(), tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestParseTags(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		in      string
		want    map[string]string
		wantErr []string
	}{
		{name: "empty", in: "", want: map[string]string{}},
		{name: "lines, spaces, comments, blank lines", in: "team = platform\n\n# a comment\ncost-centre=42\r\nurl=https://x.example/?a=b\n", want: map[string]string{"team": "platform", "cost-centre": "42", "url": "https://x.example/?a=b"}},
		{name: "empty value is allowed", in: "flag=", want: map[string]string{"flag": ""}},
		{name: "every problem at once", in: "novalue\n=x\naws:created=me\nteam=a\nteam=b\n" + strings.Repeat("k", 129) + "=v",
			wantErr: []string{
				`tags line 1 "novalue" is not key=value; write one key=value per line`,
				`tags line 2 "=x" has an empty key`,
				`key "aws:created" uses the reserved aws: prefix`,
				`tags line 5: key "team" is given twice ("a" and "b"); keep one`,
				`is longer than 128 characters`,
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseTags(tc.in)
			if tc.wantErr != nil {
				var ce *ConfigError
				require.ErrorAs(t, err, &ce)
				assert.Equal(t, "tags", ce.Input)
				for _, w := range tc.wantErr {
					assert.Contains(t, err.Error(), w)
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	t.Parallel()
	valid := SetupOptions{Region: "eu-west-2", Bucket: "my-state", Key: "a/terraform.tfstate", Table: "locks", LockMethod: LockDynamoDB, BackendFile: "backend_override.tf"}
	cases := []struct {
		name   string
		modify func(o *SetupOptions)
		want   []string // inputs named, in order
	}{
		{name: "valid", modify: func(*SetupOptions) {}},
		{name: "s3 needs no table", modify: func(o *SetupOptions) { o.LockMethod, o.Table = LockS3, "" }},
		{name: "everything wrong", modify: func(o *SetupOptions) {
			*o = SetupOptions{Bucket: "-x", Key: "/abs", Table: "t", LockMethod: "x", Workspace: "a/b", WorkspaceKeyPrefix: "env:/"}
		}, want: []string{"aws-region", "state-bucket", "state-key", "lock-method", "lock-table", "workspace", "workspace-key-prefix", "backend-file"}},
		{name: "bucket with capitals", modify: func(o *SetupOptions) { o.Bucket = "My-State" }, want: []string{"state-bucket"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := valid
			tc.modify(&o)
			err := o.Validate()
			if tc.want == nil {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			var got []string
			for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
				ce, ok := e.(*ConfigError)
				require.True(t, ok, "%T", e)
				got = append(got, ce.Input)
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestWorkspacePaths(t *testing.T) {
	t.Parallel()
	cases := []struct {
		workspace, prefix, wantState string
	}{
		{"", "", "app/terraform.tfstate"},
		{"default", "", "app/terraform.tfstate"},
		{"dev", "", "env:/dev/app/terraform.tfstate"},
		{"dev", "workspaces", "workspaces/dev/app/terraform.tfstate"},
	}
	for _, tc := range cases {
		o := SetupOptions{Bucket: "b", Key: "app/terraform.tfstate", Workspace: tc.workspace, WorkspaceKeyPrefix: tc.prefix}
		assert.Equal(t, tc.wantState, o.StatePath())
		assert.Equal(t, "b/"+tc.wantState, o.LockPath())
	}
}

func TestSameKMSKey(t *testing.T) {
	t.Parallel()
	const id = "1234abcd-12ab-34cd-56ef-1234567890ab"
	cases := []struct {
		a, b string
		want bool
	}{
		{id, id, true},
		{id, "arn:aws:kms:eu-west-2:123456789012:key/" + id, true},
		{"alias/tfstate", "arn:aws:kms:eu-west-2:123456789012:alias/tfstate", true},
		{"alias/tfstate", "alias/other", false},
		{id, "alias/tfstate", false},
		{"", "", false},
	}
	for _, tc := range cases {
		assert.Equal(t, tc.want, sameKMSKey(tc.a, tc.b), "%q vs %q", tc.a, tc.b)
	}
}

func TestStateKeyMustNameTheObjectItLooksLike(t *testing.T) {
	t.Parallel()
	for _, key := range []string{"../prod/terraform.tfstate", "a/../b", "./a", "/abs/terraform.tfstate", "a//b", "a/", "a\nb", ""} {
		err := validateStateKey(key)
		if assert.Error(t, err, key) {
			var ce *ConfigError
			assert.ErrorAs(t, err, &ce)
			assert.Equal(t, "state-key", ce.Input)
			assert.Contains(t, err.Error(), fmt.Sprintf("%q", key))
			assert.Contains(t, err.Error(), "use a relative path such as")
		}
	}
	for _, key := range []string{"terraform.tfstate", "team/prod/terraform.tfstate", "a..b/c.tfstate", "env:/x"} {
		assert.NoError(t, validateStateKey(key), key)
	}
}
