package backend

import (
	"testing"

	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/stretchr/testify/assert"
	"github.com/zclconf/go-cty/cty"
)

// renderWithHCLWrite is how the backend file was generated before
// RenderBackendFile stopped linking the HCL packages: the reference.
func renderWithHCLWrite(o SetupOptions) []byte {
	f := hclwrite.NewEmptyFile()
	root := f.Body()
	root.AppendUnstructuredTokens(hclwrite.Tokens{
		{Type: hclsyntax.TokenComment, Bytes: []byte(BackendFileHeader + "\n")},
		{Type: hclsyntax.TokenComment, Bytes: []byte("# Settings come from the setup step's inputs; change those, not this file.\n")},
	})
	tf := root.AppendNewBlock("terraform", nil).Body()
	s3 := tf.AppendNewBlock("backend", []string{"s3"}).Body()
	s3.SetAttributeValue("bucket", cty.StringVal(o.Bucket))
	s3.SetAttributeValue("key", cty.StringVal(o.Key))
	s3.SetAttributeValue("region", cty.StringVal(o.Region))
	s3.SetAttributeValue("encrypt", cty.True)
	if o.KMSKeyID != "" {
		s3.SetAttributeValue("kms_key_id", cty.StringVal(o.KMSKeyID))
	}
	if o.WorkspaceKeyPrefix != "" && o.WorkspaceKeyPrefix != "env:" {
		s3.SetAttributeValue("workspace_key_prefix", cty.StringVal(o.WorkspaceKeyPrefix))
	}
	if o.LockMethod.UsesTable() {
		s3.SetAttributeValue("dynamodb_table", cty.StringVal(o.Table))
	}
	if o.LockMethod.UsesLockfile() {
		s3.SetAttributeValue("use_lockfile", cty.True)
	}
	return hclwrite.Format(f.Bytes())
}

func TestRenderBackendFileMatchesHCLWrite(t *testing.T) {
	t.Parallel()
	values := []string{
		"", "plain", "a/b/terraform.tfstate", `quote " and back\slash`, "new\nline\r\ttab",
		"${path.module}", "$${already}", "%{if x}", "%%{", "$", "%", "end$", "end%", "${", "%{",
		"\x00\x01\x1f\x7f", "é ü 日本 🚀", "\u00a0nbsp\u200bzero-width", "\U0001F600", "\ufeffbom", "a\u2028b",
	}
	methods := []LockMethod{LockDynamoDB, LockS3, LockBoth}
	for i, v := range values {
		for _, m := range methods {
			o := SetupOptions{Region: "eu-west-2", Bucket: "bucket-" + v, Key: v, Table: v, LockMethod: m}
			if i%2 == 0 {
				o.KMSKeyID, o.WorkspaceKeyPrefix = "alias/"+v, "ws"+v
			}
			assert.Equal(t, string(renderWithHCLWrite(o)), string(RenderBackendFile(o)), "value %q, lock method %s", v, m)
		}
	}
}
