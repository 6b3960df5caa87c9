package infra_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestProviderSchema checks every resource and data block of infra/ and its
// modules against hashicorp/aws's schema at both ends of the version
// constraint: what `terraform validate` would report.
func TestProviderSchema(t *testing.T) {
	t.Parallel()
	src, err := readTFSources()
	require.NoError(t, err)
	for _, version := range schemaVersions {
		t.Run(version, func(t *testing.T) {
			t.Parallel()
			schema, err := loadProviderSchema(version)
			require.NoError(t, err)
			problems, checked := checkSchema(src, schema)
			assert.Empty(t, problems, "infra/ does not match hashicorp/aws %s:\n%s", version, strings.Join(problems, "\n"))

			// The check must have seen the stack, not an empty set.
			blocks := 0
			for _, n := range checked {
				blocks += n
			}
			assert.GreaterOrEqual(t, len(checked), 45, "resource and data types checked: %v", checked)
			assert.GreaterOrEqual(t, blocks, 100, "blocks checked")
			for _, key := range []string{"resource.aws_rds_cluster", "resource.aws_lambda_function", "resource.aws_bedrockagent_knowledge_base", "resource.aws_cognito_user_pool", "data.aws_iam_policy_document"} {
				assert.Positive(t, checked[key], "%s was not checked", key)
			}
		})
	}
}

// TestProviderSchemaVendoredForEveryType: each type infra/ uses has its
// schema file for each checked release, and every vendored file is used
// (refresh.sh writes exactly what the configuration needs).
func TestProviderSchemaVendoredForEveryType(t *testing.T) {
	t.Parallel()
	src, err := readTFSources()
	require.NoError(t, err)
	used := map[string]bool{}
	for _, files := range src {
		for _, b := range files {
			for _, line := range strings.Split(string(b), "\n") {
				f := strings.Fields(line)
				if len(f) >= 3 && (f[0] == "resource" || f[0] == "data") && strings.HasPrefix(f[1], `"aws_`) {
					used[f[0]+"/"+strings.Trim(f[1], `"`)+".json"] = true
				}
			}
		}
	}
	require.NotEmpty(t, used)
	for _, version := range schemaVersions {
		for u := range used {
			_, err := os.Stat(filepath.Join(schemaDir, version, u))
			assert.NoError(t, err, "%s: no schema for %s (run %s/refresh.sh)", version, u, schemaDir)
		}
		vendored, err := filepath.Glob(filepath.Join(schemaDir, version, "*", "*.json"))
		require.NoError(t, err)
		for _, f := range vendored {
			rel, _ := filepath.Rel(filepath.Join(schemaDir, version), f)
			assert.True(t, used[filepath.ToSlash(rel)], "%s is vendored but infra/ no longer uses it (run %s/refresh.sh)", f, schemaDir)
		}
	}
}

// TestProviderSchemaCatchesPlantedMistakes plants one mistake at a time in
// an in-memory copy of infra/ and requires the check to name it, for both
// releases: the check can fail, and fails for the right reason.
func TestProviderSchemaCatchesPlantedMistakes(t *testing.T) {
	t.Parallel()
	src, err := readTFSources()
	require.NoError(t, err)
	db := filepath.Join("modules", "database", "main.tf")
	fn := filepath.Join("modules", "lambda", "main.tf")
	auth := filepath.Join("modules", "auth", "main.tf")
	net := filepath.Join("modules", "network", "main.tf")
	kb := filepath.Join("modules", "knowledge_base", "main.tf")
	for _, tc := range []struct {
		name, file, old, new, want string
	}{
		{"misspelled argument", db, "  storage_encrypted = true", "  storage_encrypt = true",
			`aws_rds_cluster.this: unsupported argument "storage_encrypt" in hashicorp/aws v6.* (did you mean "storage_encrypted"?)`},
		{"removed required argument", fn, "  role             = aws_iam_role.this.arn\n", "",
			`aws_lambda_function.this: the required argument "role" is missing`},
		{"block written as an argument", db, "serverlessv2_scaling_configuration {", "serverlessv2_scaling_configuration = {",
			`aws_rds_cluster.this: "serverlessv2_scaling_configuration" is a block, not an argument`},
		{"argument written as a block", net, "  tags = { Name = var.name }\n}\n\n# Take over", "  tags {\n    Name = var.name\n  }\n}\n\n# Take over",
			`aws_vpc.this: "tags" is an argument, not a block`},
		{"misspelled nested block", db, "serverlessv2_scaling_configuration {", "serverless_v2_scaling_configuration {",
			`aws_rds_cluster.this: unsupported block type "serverless_v2_scaling_configuration"`},
		{"misspelled argument in a nested block", auth, "    minimum_length ", "    min_length ",
			`aws_cognito_user_pool.this.password_policy: unsupported argument "min_length"`},
		{"misspelled dynamic block", fn, `dynamic "vpc_config"`, `dynamic "vpc_configuration"`,
			`aws_lambda_function.this: unsupported block type "vpc_configuration"`},
		{"misspelled argument in dynamic content", fn, "      subnet_ids         = var.subnet_ids", "      subnets            = var.subnet_ids",
			`aws_lambda_function.this.vpc_config: unsupported argument "subnets"`},
		{"read-only attribute set", db, "  enable_key_rotation     = true\n", "  enable_key_rotation     = true\n  key_id = \"x\"\n",
			`aws_kms_key.this: "key_id" is read-only`},
		{"required block removed", filepath.Join("modules", "storage", "main.tf"), "\n  versioning_configuration {\n    status = \"Enabled\"\n  }\n", "",
			`aws_s3_bucket_versioning.documents: at least 1 "versioning_configuration" block(s) required, found 0`},
		{"misspelled block deep inside", kb, "      field_mapping {", "      field_map {",
			`aws_bedrockagent_knowledge_base.this.storage_configuration.rds_configuration: unsupported block type "field_map"`},
		{"block repeated beyond max_items", fn, "  tracing_config {", "  tracing_config {\n    mode = \"PassThrough\"\n  }\n\n  tracing_config {",
			`aws_lambda_function.this: at most 1 "tracing_config" block(s) allowed, found 2`},
		{"deprecated argument", filepath.Join("modules", "storage", "main.tf"), "  bucket = local.documents\n", "  bucket = local.documents\n  acl    = \"private\"\n",
			`aws_s3_bucket.documents: argument "acl" is deprecated`},
		{"reference to a missing attribute", db, "aws_rds_cluster.this.engine\n", "aws_rds_cluster.this.engines\n",
			`aws_rds_cluster.this has no attribute "engines"`},
		{"reference into a nested object", filepath.Join("modules", "database", "outputs.tf"), "master_user_secret[0].secret_arn", "master_user_secret[0].arn",
			`aws_rds_cluster.this.master_user_secret has no attribute "arn"`},
		{"reference to a deprecated attribute", net, "data.aws_region.current.region", "data.aws_region.current.name",
			`data.aws_region.current.name is deprecated`},
		{"reference to an undeclared resource", fn, "aws_iam_role.this.arn", "aws_iam_role.that.arn",
			`reference to aws_iam_role.that, which this module does not declare`},
		{"misspelled ignore_changes", db, "ignore_changes = [engine_version,", "ignore_changes = [engine_versions,",
			`aws_rds_cluster.this: lifecycle.ignore_changes names "engine_versions"`},
		{"module argument that is not a variable", "main.tf", "  enable_nat_gateway = var.enable_nat_gateway\n", "  enable_nat_gw = var.enable_nat_gateway\n",
			`module "network": argument "enable_nat_gw" is not a variable of modules/network`},
		{"required module variable not set", "main.tf", "  cluster_arn            = module.database.cluster_arn\n", "",
			`module "knowledge_base": the required variable "cluster_arn" of modules/knowledge_base is not set`},
		{"module output that does not exist", "main.tf", "module.database.bedrock_user_secret_arn]", "module.database.bedrock_secret_arn]",
			`module.database has no output "bedrock_secret_arn"`},
		{"unknown resource type", db, `resource "aws_db_subnet_group" "this"`, `resource "aws_db_subnetgroup" "this"`,
			`resource "aws_db_subnetgroup": no schema for this type`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			planted := src.clone()
			dir := filepath.Dir(tc.file)
			before := string(planted[dir][tc.file])
			after := strings.Replace(before, tc.old, tc.new, 1)
			require.NotEqual(t, before, after, "%s no longer contains %q: update the planted mistake", tc.file, tc.old)
			planted[dir][tc.file] = []byte(after)
			for _, version := range schemaVersions {
				schema, err := loadProviderSchema(version)
				require.NoError(t, err)
				problems, _ := checkSchema(planted, schema)
				want := strings.ReplaceAll(tc.want, "v6.*", version)
				found := false
				for _, p := range problems {
					if strings.Contains(p, want) && strings.HasPrefix(p, tc.file+":") {
						found = true
					}
				}
				assert.True(t, found, "%s: planted %s, want a problem in %s containing %q, got:\n%s", version, tc.name, tc.file, want, strings.Join(problems, "\n"))
			}
		})
	}
}
