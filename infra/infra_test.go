package infra_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/zclconf/go-cty/cty"
	"go.yaml.in/yaml/v3"
)

// config is one Terraform module directory, parsed.
type config struct {
	dir       string
	src       map[string][]byte // file name -> content, for source text of expressions
	variables map[string]*hclsyntax.Block
	outputs   map[string]*hclsyntax.Block
	locals    map[string]*hclsyntax.Attribute
	resources map[string]*hclsyntax.Block // "type.name"
	modules   map[string]*hclsyntax.Block
	bodies    []*hclsyntax.Body
}

func load(t *testing.T, dir string) *config {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no .tf files in %s", dir)
	c := &config{
		dir:       dir,
		src:       map[string][]byte{},
		variables: map[string]*hclsyntax.Block{},
		outputs:   map[string]*hclsyntax.Block{},
		locals:    map[string]*hclsyntax.Attribute{},
		resources: map[string]*hclsyntax.Block{},
		modules:   map[string]*hclsyntax.Block{},
	}
	p := hclparse.NewParser()
	for _, f := range files {
		file, diags := p.ParseHCLFile(f)
		require.False(t, diags.HasErrors(), "parse %s: %s", f, diags.Error())
		c.src[f] = file.Bytes
		body := file.Body.(*hclsyntax.Body)
		c.bodies = append(c.bodies, body)
		for _, b := range body.Blocks {
			switch b.Type {
			case "variable":
				c.variables[b.Labels[0]] = b
			case "output":
				c.outputs[b.Labels[0]] = b
			case "module":
				c.modules[b.Labels[0]] = b
			case "resource":
				c.resources[b.Labels[0]+"."+b.Labels[1]] = b
			case "locals":
				for name, a := range b.Body.Attributes {
					c.locals[name] = a
				}
			}
		}
	}
	return c
}

// child loads the local module a module block calls.
func (c *config) child(t *testing.T, call *hclsyntax.Block) *config {
	t.Helper()
	src, ok := literalString(call.Body.Attributes["source"])
	require.True(t, ok, "module %q: source must be a literal string", call.Labels[0])
	require.True(t, strings.HasPrefix(src, "./"), "module %q: only local modules are used here, got source %q", call.Labels[0], src)
	return load(t, filepath.Join(c.dir, src))
}

// text is the source text of an expression.
func (c *config) text(e hclsyntax.Expression) string {
	r := e.Range()
	return string(c.src[r.Filename][r.Start.Byte:r.End.Byte])
}

func literal(a *hclsyntax.Attribute) (cty.Value, bool) {
	if a == nil {
		return cty.NilVal, false
	}
	v, diags := a.Expr.Value(nil)
	if diags.HasErrors() || !v.IsWhollyKnown() {
		return cty.NilVal, false
	}
	return v, true
}

func literalString(a *hclsyntax.Attribute) (string, bool) {
	v, ok := literal(a)
	if !ok || v.Type() != cty.String {
		return "", false
	}
	return v.AsString(), true
}

func literalNumber(a *hclsyntax.Attribute) (float64, bool) {
	v, ok := literal(a)
	if !ok || v.Type() != cty.Number {
		return 0, false
	}
	f, _ := v.AsBigFloat().Float64()
	return f, true
}

// attributes walks every attribute of a body, nested blocks included.
func attributes(body *hclsyntax.Body, fn func(*hclsyntax.Attribute)) {
	for _, a := range body.Attributes {
		fn(a)
	}
	for _, b := range body.Blocks {
		attributes(b.Body, fn)
	}
}

// traversals lists every reference (var.x, module.m.o, ...) in the module.
func (c *config) traversals() []hcl.Traversal {
	var out []hcl.Traversal
	for _, body := range c.bodies {
		attributes(body, func(a *hclsyntax.Attribute) { out = append(out, a.Expr.Variables()...) })
	}
	return out
}

func attrName(tr hcl.Traversal, i int) string {
	if len(tr) <= i {
		return ""
	}
	if a, ok := tr[i].(hcl.TraverseAttr); ok {
		return a.Name
	}
	return ""
}

// references says whether an expression refers to root.name (e.g. var.x).
func references(e hclsyntax.Expression, root, name string) bool {
	for _, tr := range e.Variables() {
		if tr.RootName() == root && attrName(tr, 1) == name {
			return true
		}
	}
	return false
}

// setting is a module input as the root sets it, or else its default.
func setting(t *testing.T, call *hclsyntax.Block, child *config, name string) *hclsyntax.Attribute {
	t.Helper()
	if a := call.Body.Attributes[name]; a != nil {
		return a
	}
	v := child.variables[name]
	require.NotNil(t, v, "module %q has no variable %q", call.Labels[0], name)
	return v.Body.Attributes["default"]
}

var metaArguments = map[string]bool{"source": true, "version": true, "providers": true, "depends_on": true, "count": true, "for_each": true}

func rootConfig(t *testing.T) *config { return load(t, ".") }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func TestModuleCallsMatchTheirModules(t *testing.T) {
	t.Parallel()
	root := rootConfig(t)
	require.Len(t, root.modules, 9, "network, storage, database, auth, knowledge_base and four lambda instances")
	for _, name := range sortedKeys(root.modules) {
		call := root.modules[name]
		child := root.child(t, call)
		for arg := range call.Body.Attributes {
			if metaArguments[arg] {
				continue
			}
			assert.Contains(t, child.variables, arg, "module %q sets %q, which %s/variables.tf does not declare", name, arg, child.dir)
		}
		for v, block := range child.variables {
			if _, hasDefault := block.Body.Attributes["default"]; hasDefault {
				continue
			}
			assert.Contains(t, call.Body.Attributes, v, "module %q does not set %q, which has no default in %s", name, v, child.dir)
		}
	}
}

func TestModuleOutputsUsedExist(t *testing.T) {
	t.Parallel()
	root := rootConfig(t)
	children := map[string]*config{}
	for name, call := range root.modules {
		children[name] = root.child(t, call)
	}
	used := 0
	for _, tr := range root.traversals() {
		if tr.RootName() != "module" {
			continue
		}
		name, output := attrName(tr, 1), attrName(tr, 2)
		child, ok := children[name]
		if !assert.True(t, ok, "%s: module.%s is not declared", tr.SourceRange(), name) {
			continue
		}
		if assert.NotEmpty(t, output, "%s: use one output of module.%s, not the whole module", tr.SourceRange(), name) {
			assert.Contains(t, child.outputs, output, "%s: module.%s has no output %q (see %s/outputs.tf)", tr.SourceRange(), name, output, child.dir)
			used++
		}
	}
	assert.Greater(t, used, 20, "the root wires its modules through their outputs")
}

func TestVariablesAndLocalsReferencedAreDeclared(t *testing.T) {
	t.Parallel()
	root := rootConfig(t)
	all := []*config{root}
	for _, call := range root.modules {
		all = append(all, root.child(t, call))
	}
	for _, c := range all {
		for _, tr := range c.traversals() {
			switch tr.RootName() {
			case "var":
				assert.Contains(t, c.variables, attrName(tr, 1), "%s: var.%s is not declared in %s", tr.SourceRange(), attrName(tr, 1), c.dir)
			case "local":
				assert.Contains(t, c.locals, attrName(tr, 1), "%s: local.%s is not declared in %s", tr.SourceRange(), attrName(tr, 1), c.dir)
			}
		}
	}
}

// scaleToZeroSince is the first Aurora PostgreSQL minor of each major that
// supports min_capacity = 0 (auto-pause), from the Aurora User Guide
// ("Aurora Serverless v2 capacity"): 16.3, 15.7, 14.12, 13.15. Majors
// after 16 support it from their first release.
var scaleToZeroSince = map[int]int{13: 15, 14: 12, 15: 7, 16: 3}

func supportsScaleToZero(version string) (bool, error) {
	m := regexp.MustCompile(`^(\d+)\.(\d+)$`).FindStringSubmatch(version)
	if m == nil {
		return false, fmt.Errorf("engine version %q is not major.minor", version)
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	if major > 16 {
		return true, nil
	}
	since, ok := scaleToZeroSince[major]
	return ok && minor >= since, nil
}

func TestSupportsScaleToZero(t *testing.T) {
	t.Parallel()
	for version, want := range map[string]bool{
		"15.4": false, "15.7": true, "15.6": false, "16.2": false, "16.3": true, "16.6": true,
		"14.11": false, "14.12": true, "13.15": true, "13.14": false, "12.22": false, "17.4": true,
	} {
		got, err := supportsScaleToZero(version)
		require.NoError(t, err)
		assert.Equal(t, want, got, version)
	}
	_, err := supportsScaleToZero("16")
	assert.Error(t, err)
}

func TestDatabaseScalesToZero(t *testing.T) {
	t.Parallel()
	root := rootConfig(t)
	call := root.modules["database"]
	require.NotNil(t, call)
	db := root.child(t, call)

	version, ok := literalString(setting(t, call, db, "engine_version"))
	require.True(t, ok, "engine_version must be a literal so it can be checked")
	okVersion, err := supportsScaleToZero(version)
	require.NoError(t, err)
	assert.True(t, okVersion, "Aurora PostgreSQL %s cannot scale to 0 ACUs: use 16.3+, 15.7+, 14.12+ or 13.15+", version)

	minCap, ok := literalNumber(setting(t, call, db, "min_capacity"))
	require.True(t, ok)
	maxCap, ok := literalNumber(setting(t, call, db, "max_capacity"))
	require.True(t, ok)
	pause, ok := literalNumber(setting(t, call, db, "seconds_until_auto_pause"))
	require.True(t, ok)
	assert.Equal(t, 0.0, minCap, "min_capacity")
	assert.Equal(t, 1.0, maxCap, "max_capacity")
	assert.Equal(t, 900.0, pause, "seconds_until_auto_pause")

	cluster := db.resources["aws_rds_cluster.this"]
	require.NotNil(t, cluster)
	assert.True(t, references(cluster.Body.Attributes["engine_version"].Expr, "var", "engine_version"))
	var scaling *hclsyntax.Block
	for _, b := range cluster.Body.Blocks {
		if b.Type == "serverlessv2_scaling_configuration" {
			scaling = b
		}
	}
	require.NotNil(t, scaling, "aws_rds_cluster.this has no serverlessv2_scaling_configuration")
	for attr, v := range map[string]string{"min_capacity": "min_capacity", "max_capacity": "max_capacity", "seconds_until_auto_pause": "seconds_until_auto_pause"} {
		a := scaling.Body.Attributes[attr]
		if assert.NotNil(t, a, attr) {
			assert.True(t, references(a.Expr, "var", v), "%s must come from var.%s", attr, v)
		}
	}
	for attr, want := range map[string]cty.Value{
		"enable_http_endpoint":                cty.True,
		"storage_encrypted":                   cty.True,
		"manage_master_user_password":         cty.True,
		"iam_database_authentication_enabled": cty.True,
	} {
		got, ok := literal(cluster.Body.Attributes[attr])
		assert.True(t, ok && got.RawEquals(want), "aws_rds_cluster.this: %s must be %#v", attr, want)
	}
}

func TestEmbeddingDimensionsMatchTheVectorColumn(t *testing.T) {
	t.Parallel()
	root := rootConfig(t)
	call := root.modules["knowledge_base"]
	require.NotNil(t, call)
	kb := root.child(t, call)
	dims, ok := literalNumber(setting(t, call, kb, "embedding_dimensions"))
	require.True(t, ok, "embedding_dimensions must be a literal")

	sql, err := os.ReadFile(filepath.Join("lambda", "db_bootstrap", "sql", "str_kb.sql"))
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^\s*embedding\s+vector\((\d+)\)`).FindSubmatch(sql)
	require.NotNil(t, m, "str_kb.sql declares no embedding vector(N) column")
	size, _ := strconv.Atoi(string(m[1]))
	assert.Equal(t, float64(size), dims, "knowledge base embeds with %v dimensions, the table stores vector(%d)", dims, size)

	found := false
	attributes(kb.resources["aws_bedrockagent_knowledge_base.this"].Body, func(a *hclsyntax.Attribute) {
		if a.Name == "dimensions" {
			found = true
			assert.True(t, references(a.Expr, "var", "embedding_dimensions"), "dimensions must be var.embedding_dimensions")
		}
	})
	assert.True(t, found, "the knowledge base sets no embedding dimensions")
}

func TestKnowledgeBaseWaitsForTheBootstrap(t *testing.T) {
	t.Parallel()
	root := rootConfig(t)
	call := root.modules["knowledge_base"]
	kb := root.child(t, call)

	// Inside the module: the knowledge base depends on a terraform_data
	// whose input is var.database_ready.
	res := kb.resources["aws_bedrockagent_knowledge_base.this"]
	require.NotNil(t, res)
	deps := res.Body.Attributes["depends_on"]
	require.NotNil(t, deps, "aws_bedrockagent_knowledge_base.this has no depends_on")
	waits := false
	for _, tr := range deps.Expr.Variables() {
		if tr.RootName() != "terraform_data" {
			continue
		}
		gate := kb.resources["terraform_data."+attrName(tr, 1)]
		if gate != nil && gate.Body.Attributes["input"] != nil && references(gate.Body.Attributes["input"].Expr, "var", "database_ready") {
			waits = true
		}
	}
	assert.True(t, waits, "the knowledge base must depend on a terraform_data fed by var.database_ready")

	// Bedrock logs in as bedrock_user, whose secret the bootstrap fills,
	// not as the master user.
	creds := call.Body.Attributes["credentials_secret_arn"]
	require.NotNil(t, creds)
	assert.Equal(t, "module.database.bedrock_user_secret_arn", root.text(creds.Expr))

	// In the root: database_ready carries the bootstrap invocation's result
	// and the writer instance, and that invocation runs the bootstrap Lambda.
	ready := call.Body.Attributes["database_ready"]
	require.NotNil(t, ready, "module knowledge_base: database_ready is not set")
	assert.True(t, references(ready.Expr, "module", "database") && strings.Contains(root.text(ready.Expr), "module.database.instance_id"),
		"database_ready must include module.database.instance_id")
	var invocation string
	for _, tr := range ready.Expr.Variables() {
		if tr.RootName() == "aws_lambda_invocation" {
			invocation = attrName(tr, 1)
		}
	}
	require.NotEmpty(t, invocation, "database_ready must reference the bootstrap's aws_lambda_invocation")
	inv := root.resources["aws_lambda_invocation."+invocation]
	require.NotNil(t, inv)
	var fnModule string
	for _, tr := range inv.Body.Attributes["function_name"].Expr.Variables() {
		if tr.RootName() == "module" {
			fnModule = attrName(tr, 1)
		}
	}
	require.NotEmpty(t, fnModule, "aws_lambda_invocation.%s must invoke a function module", invocation)
	srcDir := root.modules[fnModule].Body.Attributes["source_dir"]
	require.NotNil(t, srcDir)
	assert.True(t, strings.HasSuffix(strings.Trim(root.text(srcDir.Expr), `"`), "/lambda/db_bootstrap"),
		"aws_lambda_invocation.%s invokes module.%s, which is not the db_bootstrap Lambda", invocation, fnModule)
	triggers := root.text(inv.Body.Attributes["triggers"].Expr)
	assert.Contains(t, triggers, "module."+fnModule+".source_code_hash", "a change to the bootstrap's code or SQL must run it again")
}

func TestLambdaSourcesAndTheirSQLExist(t *testing.T) {
	t.Parallel()
	root := rootConfig(t)
	dirRe := regexp.MustCompile(`^"\$\{path\.module\}/(lambda/[a-z_]+)"$`)
	sqlRe := regexp.MustCompile(`"([a-z_]+\.sql)"`)
	seen := 0
	for name, call := range root.modules {
		a := call.Body.Attributes["source_dir"]
		if a == nil {
			continue
		}
		m := dirRe.FindStringSubmatch(root.text(a.Expr))
		require.NotNil(t, m, "module %q: source_dir should be \"${path.module}/lambda/<name>\", got %s", name, root.text(a.Expr))
		handler, err := os.ReadFile(filepath.Join(m[1], "handler.py"))
		require.NoError(t, err, "module %q", name)
		for _, ref := range sqlRe.FindAllSubmatch(handler, -1) {
			_, err := os.Stat(filepath.Join(m[1], "sql", string(ref[1])))
			assert.NoError(t, err, "%s/handler.py runs %s", m[1], ref[1])
		}
		seen++
	}
	assert.Equal(t, 4, seen, "four Lambda functions: post_confirmation, tenant_worker, db_bootstrap, kb_sync")
}

// TestLambdaEnvironmentsSetWhatHandlersRead: a variable a handler reads
// with os.environ["X"] (no default) must be set by its module call, or the
// function fails at its first invocation.
func TestLambdaEnvironmentsSetWhatHandlersRead(t *testing.T) {
	t.Parallel()
	root := rootConfig(t)
	dirRe := regexp.MustCompile(`/(lambda/[a-z_]+)"$`)
	requiredRe := regexp.MustCompile(`os\.environ\["([A-Z0-9_]+)"\]`)
	optionalRe := regexp.MustCompile(`os\.environ\.get\("([A-Z0-9_]+)"`)
	for name, call := range root.modules {
		a := call.Body.Attributes["source_dir"]
		if a == nil {
			continue
		}
		m := dirRe.FindStringSubmatch(root.text(a.Expr))
		require.NotNil(t, m)
		handler, err := os.ReadFile(filepath.Join(m[1], "handler.py"))
		require.NoError(t, err)

		set := map[string]bool{}
		if env := call.Body.Attributes["environment"]; env != nil {
			obj, ok := env.Expr.(*hclsyntax.ObjectConsExpr)
			require.True(t, ok, "module %q: environment should be an object literal", name)
			for _, item := range obj.Items {
				key := hcl.ExprAsKeyword(item.KeyExpr)
				if key == "" {
					v, diags := item.KeyExpr.Value(nil)
					require.False(t, diags.HasErrors())
					key = v.AsString()
				}
				set[key] = true
			}
		}
		for _, ref := range requiredRe.FindAllSubmatch(handler, -1) {
			assert.True(t, set[string(ref[1])], "module %q: %s/handler.py needs %s, which environment does not set", name, m[1], ref[1])
		}
		// Optional ones the root sets must be ones the handler knows.
		known := map[string]bool{}
		for _, re := range []*regexp.Regexp{requiredRe, optionalRe} {
			for _, ref := range re.FindAllSubmatch(handler, -1) {
				known[string(ref[1])] = true
			}
		}
		for key := range set {
			assert.True(t, known[key], "module %q sets %s, which %s/handler.py never reads", name, key, m[1])
		}
	}
}

type workflow struct {
	Jobs map[string]struct {
		Uses string         `yaml:"uses"`
		With map[string]any `yaml:"with"`
	} `yaml:"jobs"`
}

func TestDeployWorkflowBuildsTheLayerWhereTerraformReadsIt(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join("..", ".github", "workflows", "infra.yml"))
	require.NoError(t, err)
	var wf workflow
	require.NoError(t, yaml.Unmarshal(raw, &wf))
	job, ok := wf.Jobs["terraform"]
	require.True(t, ok, "infra.yml has no terraform job")
	assert.Equal(t, "./.github/workflows/terraform.yml", job.Uses)
	assert.Equal(t, "infra", job.With["working-directory"])
	assert.Equal(t, true, job.With["build-lambda-layer"])

	root := rootConfig(t)
	zip, ok := literalString(root.variables["layer_zip_path"].Body.Attributes["default"])
	require.True(t, ok)
	assert.Equal(t, "infra/"+zip, job.With["layer-output"], "the workflow must build the layer where infra/ reads it")

	layer := root.resources["aws_lambda_layer_version.psycopg2"]
	require.NotNil(t, layer)
	assert.Contains(t, root.text(layer.Body.Attributes["source_code_hash"].Expr), "filebase64sha256(local.layer_zip)")
	assert.Contains(t, root.text(layer.Body.Attributes["filename"].Expr), "local.layer_zip")
	runtimes, ok := literal(layer.Body.Attributes["compatible_runtimes"])
	require.True(t, ok)
	assert.Equal(t, "python"+fmt.Sprint(job.With["layer-python-version"]), runtimes.Index(cty.NumberIntVal(0)).AsString(),
		"the layer is built for the runtime it declares")
	assert.Equal(t, "x86_64", job.With["layer-architecture"])

	// The Lambda zips are written by archive_file while planning; apply runs
	// the saved plan in another job, so they must travel with the plan.
	fn := load(t, filepath.Join("modules", "lambda"))
	var archive *hclsyntax.Block
	for _, body := range fn.bodies {
		for _, b := range body.Blocks {
			if b.Type == "data" && b.Labels[0] == "archive_file" {
				archive = b
			}
		}
	}
	require.NotNil(t, archive, "modules/lambda has no archive_file")
	out := fn.text(archive.Body.Attributes["output_path"].Expr)
	m := regexp.MustCompile(`^"\$\{path\.root\}/([^$]+/)\$\{`).FindStringSubmatch(out)
	require.NotNil(t, m, "archive_file output_path should be \"${path.root}/<dir>/${...}.zip\", got %s", out)
	planFiles, _ := job.With["plan-files"].(string)
	assert.Contains(t, strings.Fields(planFiles), "infra/"+m[1], "plan-files must carry %s, where the Lambda zips are written", "infra/"+m[1])
}

// block returns the first nested block of a type (nil if none).
func block(body *hclsyntax.Body, typ string) *hclsyntax.Block {
	for _, b := range body.Blocks {
		if b.Type == typ {
			return b
		}
	}
	return nil
}

// ignoredChanges lists the attribute names of lifecycle.ignore_changes.
func ignoredChanges(t *testing.T, res *hclsyntax.Block) []string {
	t.Helper()
	lc := block(res.Body, "lifecycle")
	if lc == nil || lc.Body.Attributes["ignore_changes"] == nil {
		return nil
	}
	var names []string
	for _, tr := range lc.Body.Attributes["ignore_changes"].Expr.Variables() {
		names = append(names, tr.RootName())
	}
	return names
}

// TestEngineUpgradesDoNotFightTheConfiguration: AWS applies minor upgrades
// (auto_minor_version_upgrade), so the configuration must not pin the
// running version, or the next apply tries to downgrade and fails
// (hashicorp/terraform-provider-aws#45026).
func TestEngineUpgradesDoNotFightTheConfiguration(t *testing.T) {
	t.Parallel()
	db := load(t, filepath.Join("modules", "database"))
	cluster := db.resources["aws_rds_cluster.this"]
	instance := db.resources["aws_rds_cluster_instance.this"]
	require.NotNil(t, cluster)
	require.NotNil(t, instance)
	assert.Contains(t, ignoredChanges(t, cluster), "engine_version", "aws_rds_cluster.this must ignore engine_version changes")
	assert.Nil(t, instance.Body.Attributes["engine_version"], "aws_rds_cluster_instance.this must not set engine_version: it runs the cluster's")
	upgrades, ok := literal(instance.Body.Attributes["auto_minor_version_upgrade"])
	assert.True(t, ok && upgrades.True(), "the instance takes AWS's minor upgrades")
}

// TestFinalSnapshotNamesDoNotCollide: a second destroy of a cluster of the
// same name must not fail on the first one's final snapshot.
func TestFinalSnapshotNamesDoNotCollide(t *testing.T) {
	t.Parallel()
	db := load(t, filepath.Join("modules", "database"))
	cluster := db.resources["aws_rds_cluster.this"]
	require.NotNil(t, cluster)
	id := cluster.Body.Attributes["final_snapshot_identifier"]
	require.NotNil(t, id)
	assert.Contains(t, db.text(id.Expr), "timestamp()", "final_snapshot_identifier must carry the creation time")
	assert.Contains(t, ignoredChanges(t, cluster), "final_snapshot_identifier", "the name is fixed at creation (ignore_changes), or every plan shows a change")
}

// TestVPCFunctionsPermissionsAndTracing: no managed VPC policy (it grants
// log writes everywhere), inline ENI actions instead; and no active X-Ray
// from the VPC, whose security group has no path to X-Ray.
func TestVPCFunctionsPermissionsAndTracing(t *testing.T) {
	t.Parallel()
	fn := load(t, filepath.Join("modules", "lambda"))
	for f, b := range fn.src {
		assert.False(t, strings.Contains(string(b), "policy/service-role/AWSLambdaVPCAccessExecutionRole"), "%s attaches AWSLambdaVPCAccessExecutionRole", f)
	}
	vpc := fn.resources["aws_iam_role_policy.vpc"]
	require.NotNil(t, vpc, "modules/lambda: the ENI permissions are an inline policy, aws_iam_role_policy.vpc")
	assert.Contains(t, fn.text(vpc.Body.Attributes["count"].Expr), "local.in_vpc")

	function := fn.resources["aws_lambda_function.this"]
	require.NotNil(t, function)
	mode := block(function.Body, "tracing_config").Body.Attributes["mode"]
	assert.Equal(t, "local.tracing_mode", fn.text(mode.Expr))
	assert.Equal(t, `local.in_vpc ? "PassThrough" : "Active"`, fn.text(fn.locals["tracing_mode"].Expr))

	// The worker's security group still allows only the database port.
	net := load(t, filepath.Join("modules", "network"))
	egress := 0
	for name := range net.resources {
		if strings.HasPrefix(name, "aws_vpc_security_group_egress_rule.") {
			egress++
		}
	}
	assert.Equal(t, 1, egress, "the Lambda security group has one egress rule, to the database")
}

func TestCognitoCanSendThroughSES(t *testing.T) {
	t.Parallel()
	auth := load(t, filepath.Join("modules", "auth"))
	pool := auth.resources["aws_cognito_user_pool.this"]
	require.NotNil(t, pool)
	var email *hclsyntax.Block
	for _, b := range pool.Body.Blocks {
		if b.Type == "dynamic" && b.Labels[0] == "email_configuration" {
			email = b
		}
	}
	require.NotNil(t, email, "the pool has an optional (dynamic) email_configuration")
	assert.True(t, references(email.Body.Attributes["for_each"].Expr, "var", "ses_identity_arn"))
	content := block(email.Body, "content")
	require.NotNil(t, content)
	account, _ := literalString(content.Body.Attributes["email_sending_account"])
	assert.Equal(t, "DEVELOPER", account)
	_, hasDefault := auth.variables["ses_identity_arn"].Body.Attributes["default"]
	assert.True(t, hasDefault, "ses_identity_arn is optional")
}
func TestReadmeUsesTheS3LockFile(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	assert.NotContains(t, string(readme), "dynamodb_table=", "-backend-config dynamodb_table is deprecated since Terraform 1.11")
	assert.Contains(t, string(readme), `-backend-config="use_lockfile=true"`)
	for _, section := range []string{"## Upgrading the database", "## When the database is paused", "## E-mail"} {
		assert.Contains(t, string(readme), section)
	}
}
