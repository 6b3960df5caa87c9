package backend

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMergeTLSPolicy(t *testing.T) {
	t.Parallel()
	const bucket = "state"
	ours := `{"Sid":"TfstateGuardDenyInsecureTransport","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::state","arn:aws:s3:::state/*"],"Condition":{"Bool":{"aws:SecureTransport":"false"}}}`
	foreign := `{"Sid":"AllowRole","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::123456789012:role/ci"]},"Action":"s3:GetObject","Resource":"arn:aws:s3:::state/*"}`
	cases := []struct {
		name        string
		existing    string
		wantChanged bool
		// wantStatements are compared as JSON, in order.
		wantStatements []string
		wantErr        string
	}{
		{name: "no policy", existing: "", wantChanged: true, wantStatements: []string{ours}},
		{name: "foreign statements kept", existing: `{"Version":"2012-10-17","Statement":[` + foreign + `]}`, wantChanged: true, wantStatements: []string{foreign, ours}},
		{name: "single statement object", existing: `{"Version":"2012-10-17","Statement":` + foreign + `}`, wantChanged: true, wantStatements: []string{foreign, ours}},
		{name: "ours already there", existing: `{"Version":"2012-10-17","Statement":[` + foreign + `,` + ours + `]}`, wantChanged: false},
		{name: "equivalent statement under another Sid", existing: `{"Statement":[{"Sid":"AllowSSLRequestsOnly","Effect":"Deny","Principal":{"AWS":"*"},"Action":["s3:*"],"Resource":["arn:aws:s3:::state/*","arn:aws:s3:::state"],"Condition":{"Bool":{"aws:SecureTransport":false}}}]}`, wantChanged: false},
		{name: "wildcard resource also counts", existing: `{"Statement":[{"Effect":"Deny","Principal":"*","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":["false"]}}}]}`, wantChanged: false},
		{name: "deny covering objects only is not enough", existing: `{"Statement":[{"Sid":"Half","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::state/*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}`, wantChanged: true,
			wantStatements: []string{`{"Sid":"Half","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::state/*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}`, ours}},
		{name: "stale statement with our Sid replaced, not duplicated", existing: `{"Statement":[{"Sid":"TfstateGuardDenyInsecureTransport","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::old-name/*","Condition":{"Bool":{"aws:SecureTransport":"false"}}},` + foreign + `]}`, wantChanged: true,
			wantStatements: []string{ours, foreign}},
		{name: "an Allow is not a deny", existing: `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::state","arn:aws:s3:::state/*"],"Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}`, wantChanged: true,
			wantStatements: []string{`{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::state","arn:aws:s3:::state/*"],"Condition":{"Bool":{"aws:SecureTransport":"false"}}}`, ours}},
		{name: "not JSON", existing: `Version: 2012`, wantErr: "is not a JSON object"},
		{name: "statement not a list", existing: `{"Statement":"x"}`, wantErr: "are not a JSON list"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, changed, err := mergeTLSPolicy(tc.existing, bucket)
			if tc.wantErr != "" {
				assert.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.wantChanged, changed)
			if !changed {
				assert.Equal(t, tc.existing, got, "an unchanged policy is returned as it was")
				return
			}
			var doc struct {
				Version   string
				Statement []json.RawMessage
			}
			require.NoError(t, json.Unmarshal([]byte(got), &doc))
			assert.Equal(t, "2012-10-17", doc.Version)
			require.Len(t, doc.Statement, len(tc.wantStatements))
			for i, want := range tc.wantStatements {
				assert.JSONEq(t, want, string(doc.Statement[i]), "statement %d", i)
			}
		})
	}
}
