package infra_test

// The provider-schema check: what `terraform validate` would say about
// infra/ if the AWS provider could be downloaded here. Every resource and
// data block is checked against the schema that `terraform providers
// schema -json` prints for hashicorp/aws at the floor and at the newest
// release of our constraint (">= 6.28, < 7"), vendored under
// testdata/aws-provider-schema (see its README.md for where it comes from
// and refresh.sh to bring it up to date).

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// schemaVersions are the provider releases checked: the floor of
// versions.tf's constraint and the newest 6.x release vendored.
var schemaVersions = []string{"v6.28.0", "v6.47.0"}

const schemaDir = "testdata/aws-provider-schema"

// schemaBlock is a "block" of `terraform providers schema -json`.
type schemaBlock struct {
	Attributes map[string]*schemaAttribute `json:"attributes"`
	BlockTypes map[string]*schemaBlockType `json:"block_types"`
	Deprecated bool                        `json:"deprecated"`
}

type schemaAttribute struct {
	Type       json.RawMessage `json:"type"`
	NestedType *struct {
		Attributes  map[string]*schemaAttribute `json:"attributes"`
		NestingMode string                      `json:"nesting_mode"`
	} `json:"nested_type"`
	Required   bool `json:"required"`
	Optional   bool `json:"optional"`
	Computed   bool `json:"computed"`
	Deprecated bool `json:"deprecated"`
}

type schemaBlockType struct {
	NestingMode string       `json:"nesting_mode"`
	Block       *schemaBlock `json:"block"`
	MinItems    int          `json:"min_items"`
	MaxItems    int          `json:"max_items"`
}

// providerSchema holds one release's schemas, keyed "resource.TYPE" and
// "data.TYPE".
type providerSchema struct {
	version string
	types   map[string]*schemaBlock
}

// builtinSchemas are types that are not the AWS provider's: terraform_data
// is built into Terraform (its arguments are documented in the language
// reference, "The terraform_data managed resource type").
var builtinSchemas = map[string]*schemaBlock{
	"resource.terraform_data": {Attributes: map[string]*schemaAttribute{
		"input":            {Optional: true},
		"triggers_replace": {Optional: true},
		"output":           {Computed: true},
		"id":               {Computed: true},
	}},
}

// unvendoredTypes are types of other providers, whose schema is not
// vendored: they are named here with the reason, and nothing else is
// skipped.
var unvendoredTypes = map[string]string{
	"data.archive_file": "hashicorp/archive provider: its schema is not vendored (two arguments, checked by TestDeployWorkflowBuildsTheLayerWhereTerraformReadsIt)",
}

var (
	schemaCacheMu sync.Mutex
	schemaCache   = map[string]*providerSchema{}
)

// loadProviderSchema reads one release's vendored schemas (once per test
// binary: the check never changes them).
func loadProviderSchema(version string) (*providerSchema, error) {
	schemaCacheMu.Lock()
	defer schemaCacheMu.Unlock()
	if s, ok := schemaCache[version]; ok {
		return s, nil
	}
	s, err := readProviderSchema(version)
	if err != nil {
		return nil, err
	}
	schemaCache[version] = s
	return s, nil
}

func readProviderSchema(version string) (*providerSchema, error) {
	s := &providerSchema{version: version, types: map[string]*schemaBlock{}}
	for _, kind := range []string{"resource", "data"} {
		files, err := filepath.Glob(filepath.Join(schemaDir, version, kind, "*.json"))
		if err != nil {
			return nil, err
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("no %s schemas in %s: run %s/refresh.sh", kind, filepath.Join(schemaDir, version), schemaDir)
		}
		for _, f := range files {
			raw, err := os.ReadFile(f)
			if err != nil {
				return nil, err
			}
			var doc struct {
				Block *schemaBlock `json:"block"`
			}
			if err := json.Unmarshal(raw, &doc); err != nil {
				return nil, fmt.Errorf("read schema %s: %w", f, err)
			}
			if doc.Block == nil {
				return nil, fmt.Errorf("schema %s has no block", f)
			}
			s.types[kind+"."+strings.TrimSuffix(filepath.Base(f), ".json")] = doc.Block
		}
	}
	return s, nil
}

// tfSources is infra/'s Terraform source: directory -> file -> content. The
// check reads it from memory so tests can plant mistakes in a copy.
type tfSources map[string]map[string][]byte

func readTFSources() (tfSources, error) {
	src := tfSources{}
	for _, pattern := range []string{"*.tf", "modules/*/*.tf"} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return nil, err
			}
			dir := filepath.Dir(f)
			if src[dir] == nil {
				src[dir] = map[string][]byte{}
			}
			src[dir][f] = b
		}
	}
	if len(src) == 0 {
		return nil, fmt.Errorf("no .tf files found (run from infra/)")
	}
	return src, nil
}

// clone copies the sources, so a test can change one file.
func (s tfSources) clone() tfSources {
	out := tfSources{}
	for dir, files := range s {
		out[dir] = map[string][]byte{}
		for f, b := range files {
			out[dir][f] = append([]byte(nil), b...)
		}
	}
	return out
}

// schemaChecker gathers problems for one provider release.
type schemaChecker struct {
	schema   *providerSchema
	problems []string
	checked  map[string]int // "resource.TYPE" -> blocks checked
}

func (c *schemaChecker) problem(rng hcl.Range, format string, args ...any) {
	c.problems = append(c.problems, fmt.Sprintf("%s:%d: ", rng.Filename, rng.Start.Line)+fmt.Sprintf(format, args...))
}

// checkSchema runs the whole check on the sources and returns every
// problem found, sorted.
func checkSchema(src tfSources, schema *providerSchema) (problems []string, checked map[string]int) {
	c := &schemaChecker{schema: schema, checked: map[string]int{}}
	dirs := make([]string, 0, len(src))
	for d := range src {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	for _, dir := range dirs {
		c.checkModule(src[dir])
	}
	c.checkModuleCalls(src)
	sort.Strings(c.problems)
	return c.problems, c.checked
}

// moduleBlock is one resource or data block of a module.
type moduleBlock struct {
	key    string // "resource.TYPE" or "data.TYPE"
	block  *hclsyntax.Block
	schema *schemaBlock // nil when unvendored
}

func (c *schemaChecker) checkModule(files map[string][]byte) {
	declared := map[string]*moduleBlock{} // "TYPE.NAME" or "data.TYPE.NAME"
	var blocks []*moduleBlock
	var bodies []*hclsyntax.Body
	names := make([]string, 0, len(files))
	for f := range files {
		names = append(names, f)
	}
	sort.Strings(names)
	for _, name := range names {
		file, diags := hclsyntax.ParseConfig(files[name], name, hcl.InitialPos)
		if diags.HasErrors() {
			c.problems = append(c.problems, fmt.Sprintf("%s: does not parse: %s", name, diags.Error()))
			continue
		}
		body := file.Body.(*hclsyntax.Body)
		bodies = append(bodies, body)
		for _, b := range body.Blocks {
			if (b.Type != "resource" && b.Type != "data") || len(b.Labels) != 2 {
				continue
			}
			key := b.Type + "." + b.Labels[0]
			mb := &moduleBlock{key: key, block: b}
			if _, skip := unvendoredTypes[key]; !skip {
				mb.schema = c.schema.types[key]
				if mb.schema == nil {
					mb.schema = builtinSchemas[key]
				}
				if mb.schema == nil {
					c.problem(b.DefRange(), "%s %q: no schema for this type in hashicorp/aws %s (a misspelt type, or a new one: add it with %s/refresh.sh)", b.Type, b.Labels[0], c.schema.version, schemaDir)
					continue
				}
			}
			blocks = append(blocks, mb)
			addr := b.Labels[0] + "." + b.Labels[1]
			if b.Type == "data" {
				addr = "data." + addr
			}
			declared[addr] = mb
		}
	}
	for _, mb := range blocks {
		if mb.schema == nil {
			continue
		}
		c.checked[mb.key]++
		what := fmt.Sprintf("%s.%s", mb.block.Labels[0], mb.block.Labels[1])
		if mb.block.Type == "data" {
			what = "data." + what
		}
		c.checkBody(what, mb.block.Body, mb.schema, metaArgs[mb.block.Type])
		c.checkIgnoreChanges(what, mb.block.Body, mb.schema)
	}
	for _, body := range bodies {
		c.checkReferences(body, declared, nil)
	}
}

// metaArgs are what Terraform itself accepts in resource and data blocks.
var metaArgs = map[string]struct{ attrs, blocks map[string]bool }{
	"resource": {
		attrs:  map[string]bool{"count": true, "for_each": true, "provider": true, "depends_on": true},
		blocks: map[string]bool{"lifecycle": true, "provisioner": true, "connection": true},
	},
	"data": {
		attrs:  map[string]bool{"count": true, "for_each": true, "provider": true, "depends_on": true},
		blocks: map[string]bool{"lifecycle": true},
	},
}

// checkBody checks one block's arguments and nested blocks against its
// schema; meta holds the meta-arguments allowed at this level (top level
// only).
func (c *schemaChecker) checkBody(what string, body *hclsyntax.Body, s *schemaBlock, meta struct{ attrs, blocks map[string]bool }) {
	for _, name := range sortedKeys(body.Attributes) {
		a := body.Attributes[name]
		if meta.attrs[name] {
			continue
		}
		if _, isBlock := s.BlockTypes[name]; isBlock {
			c.problem(a.SrcRange, "%s: %q is a block, not an argument: write %s { ... } (or a dynamic %q block), not %s = ...", what, name, name, name, name)
			continue
		}
		attr, ok := s.Attributes[name]
		if !ok {
			c.problem(a.SrcRange, "%s: unsupported argument %q in hashicorp/aws %s%s", what, name, c.schema.version, suggest(name, s))
			continue
		}
		if attr.Computed && !attr.Optional && !attr.Required {
			c.problem(a.SrcRange, "%s: %q is read-only (computed by the provider): it cannot be set", what, name)
		}
		if attr.Deprecated {
			c.problem(a.SrcRange, "%s: argument %q is deprecated in hashicorp/aws %s", what, name, c.schema.version)
		}
	}
	for _, name := range sortedKeys(s.Attributes) {
		if s.Attributes[name].Required && body.Attributes[name] == nil {
			c.problem(body.SrcRange, "%s: the required argument %q is missing", what, name)
		}
	}

	static := map[string]int{}
	dynamic := map[string]bool{}
	for _, b := range body.Blocks {
		name, content := b.Type, b.Body
		if meta.blocks[name] {
			continue
		}
		if name == "dynamic" {
			if len(b.Labels) != 1 {
				c.problem(b.DefRange(), "%s: a dynamic block needs one label, the block type", what)
				continue
			}
			name = b.Labels[0]
			content = nil
			for _, a := range sortedKeys(b.Body.Attributes) {
				if a != "for_each" && a != "iterator" && a != "labels" {
					c.problem(b.Body.Attributes[a].SrcRange, "%s: dynamic %q: unsupported argument %q (for_each, iterator, labels)", what, name, a)
				}
			}
			if b.Body.Attributes["for_each"] == nil {
				c.problem(b.DefRange(), "%s: dynamic %q has no for_each", what, name)
			}
			for _, inner := range b.Body.Blocks {
				if inner.Type == "content" {
					content = inner.Body
				} else {
					c.problem(inner.DefRange(), "%s: dynamic %q: unexpected block %q (only content)", what, name, inner.Type)
				}
			}
			if content == nil {
				c.problem(b.DefRange(), "%s: dynamic %q has no content block", what, name)
				continue
			}
			dynamic[name] = true
		} else {
			static[name]++
		}
		bt, ok := s.BlockTypes[name]
		if !ok {
			if _, isAttr := s.Attributes[name]; isAttr {
				c.problem(b.DefRange(), "%s: %q is an argument, not a block: write %s = ...", what, name, name)
			} else {
				c.problem(b.DefRange(), "%s: unsupported block type %q in hashicorp/aws %s%s", what, name, c.schema.version, suggest(name, s))
			}
			continue
		}
		if bt.Block.Deprecated {
			c.problem(b.DefRange(), "%s: block %q is deprecated in hashicorp/aws %s", what, name, c.schema.version)
		}
		c.checkBody(what+"."+name, content, bt.Block, struct{ attrs, blocks map[string]bool }{})
	}
	for _, name := range sortedKeys(s.BlockTypes) {
		bt := s.BlockTypes[name]
		if dynamic[name] {
			continue // its count is known only at plan time
		}
		if bt.MinItems > 0 && static[name] < bt.MinItems {
			c.problem(body.SrcRange, "%s: at least %d %q block(s) required, found %d", what, bt.MinItems, name, static[name])
		}
		if bt.MaxItems > 0 && static[name] > bt.MaxItems {
			c.problem(body.SrcRange, "%s: at most %d %q block(s) allowed, found %d", what, bt.MaxItems, name, static[name])
		}
		if (bt.NestingMode == "single" || bt.NestingMode == "group") && static[name] > 1 {
			c.problem(body.SrcRange, "%s: %q may appear once, found %d", what, name, static[name])
		}
	}
}

// checkIgnoreChanges checks that lifecycle.ignore_changes names
// attributes or blocks of the type (a misspelt name ignores nothing).
func (c *schemaChecker) checkIgnoreChanges(what string, body *hclsyntax.Body, s *schemaBlock) {
	for _, b := range body.Blocks {
		if b.Type != "lifecycle" || b.Body.Attributes["ignore_changes"] == nil {
			continue
		}
		a := b.Body.Attributes["ignore_changes"]
		if hcl.ExprAsKeyword(a.Expr) == "all" {
			continue
		}
		for _, tr := range a.Expr.Variables() {
			name := tr.RootName()
			_, isAttr := s.Attributes[name]
			_, isBlock := s.BlockTypes[name]
			if !isAttr && !isBlock {
				c.problem(tr.SourceRange(), "%s: lifecycle.ignore_changes names %q, which hashicorp/aws %s does not have%s", what, name, c.schema.version, suggest(name, s))
			}
		}
	}
}

// suggest names the closest argument or block type, for misspellings.
func suggest(name string, s *schemaBlock) string {
	best, bestDist := "", 4
	for _, m := range []map[string]bool{keysOf(s.Attributes), keysOf(s.BlockTypes)} {
		for cand := range m {
			if d := editDistance(name, cand); d < bestDist || (d == bestDist && cand < best) {
				best, bestDist = cand, d
			}
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func keysOf[V any](m map[string]V) map[string]bool {
	out := map[string]bool{}
	for k := range m {
		out[k] = true
	}
	return out
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// notResources are reference roots that are not resource types.
var notResources = map[string]bool{
	"var": true, "local": true, "module": true, "data": true, "path": true,
	"each": true, "count": true, "self": true, "terraform": true,
}

// checkReferences checks every TYPE.NAME.ATTR and data.TYPE.NAME.ATTR in a
// body: the block must be declared in the module and ATTR (and what
// follows it, for nested objects) must exist in its schema. iterators are
// the names dynamic blocks bind in their content.
func (c *schemaChecker) checkReferences(body *hclsyntax.Body, declared map[string]*moduleBlock, iterators map[string]bool) {
	for _, name := range sortedKeys(body.Attributes) {
		for _, tr := range body.Attributes[name].Expr.Variables() {
			c.checkReference(tr, declared, iterators)
		}
	}
	for _, b := range body.Blocks {
		if b.Type == "lifecycle" {
			continue // ignore_changes names attributes, not references (checkIgnoreChanges)
		}
		inner := iterators
		if b.Type == "dynamic" && len(b.Labels) == 1 {
			inner = map[string]bool{}
			for k := range iterators {
				inner[k] = true
			}
			it := b.Labels[0]
			if a := b.Body.Attributes["iterator"]; a != nil {
				it = hcl.ExprAsKeyword(a.Expr)
			}
			inner[it] = true
		}
		c.checkReferences(b.Body, declared, inner)
	}
}

func (c *schemaChecker) checkReference(tr hcl.Traversal, declared map[string]*moduleBlock, iterators map[string]bool) {
	root := tr.RootName()
	if iterators[root] || (notResources[root] && root != "data") {
		return
	}
	rest := tr[1:]
	addr := root
	if root == "data" {
		if len(rest) < 2 {
			return
		}
		addr = "data." + attrStep(rest[0])
		rest = rest[1:]
	}
	if len(rest) == 0 {
		return
	}
	addr += "." + attrStep(rest[0])
	rest = rest[1:]
	mb, ok := declared[addr]
	if !ok {
		c.problem(tr.SourceRange(), "reference to %s, which this module does not declare", addr)
		return
	}
	if mb.schema == nil {
		return // unvendored type
	}
	c.checkPath(tr.SourceRange(), addr, rest, schemaNode{block: mb.schema})
}

func attrStep(s hcl.Traverser) string {
	if a, ok := s.(hcl.TraverseAttr); ok {
		return a.Name
	}
	return ""
}

// schemaNode is a place in a schema a reference can walk through: a block,
// an attribute's object type, or nothing known (any).
type schemaNode struct {
	block  *schemaBlock
	object map[string]json.RawMessage
	attrs  map[string]*schemaAttribute
}

func (c *schemaChecker) checkPath(rng hcl.Range, addr string, steps hcl.Traversal, node schemaNode) {
	for len(steps) > 0 {
		if _, isIndex := steps[0].(hcl.TraverseIndex); isIndex {
			steps = steps[1:]
			continue
		}
		if _, isSplat := steps[0].(hcl.TraverseSplat); isSplat {
			steps = steps[1:]
			continue
		}
		name := attrStep(steps[0])
		if name == "" {
			return
		}
		steps = steps[1:]
		switch {
		case node.block != nil:
			if a, ok := node.block.Attributes[name]; ok {
				if a.Deprecated {
					c.problem(rng, "%s.%s is deprecated in hashicorp/aws %s", addr, name, c.schema.version)
				}
				node = attrNode(a)
			} else if bt, ok := node.block.BlockTypes[name]; ok {
				node = schemaNode{block: bt.Block}
			} else {
				c.problem(rng, "%s has no attribute %q in hashicorp/aws %s%s", addr, name, c.schema.version, suggest(name, node.block))
				return
			}
		case node.attrs != nil:
			a, ok := node.attrs[name]
			if !ok {
				c.problem(rng, "%s has no attribute %q in hashicorp/aws %s", addr, name, c.schema.version)
				return
			}
			node = attrNode(a)
		case node.object != nil:
			t, ok := node.object[name]
			if !ok {
				c.problem(rng, "%s has no attribute %q in hashicorp/aws %s", addr, name, c.schema.version)
				return
			}
			node = typeNode(t)
		default:
			return // a map, a string, or a type not known here
		}
		addr += "." + name
	}
}

func attrNode(a *schemaAttribute) schemaNode {
	if a.NestedType != nil {
		return schemaNode{attrs: a.NestedType.Attributes}
	}
	return typeNode(a.Type)
}

// typeNode reads a cty type in JSON form: "string", ["list", T],
// ["object", {...}], ... Lists and sets of objects are indexed by the
// reference first, so they resolve to their element's object.
func typeNode(raw json.RawMessage) schemaNode {
	var parts []json.RawMessage
	if json.Unmarshal(raw, &parts) != nil || len(parts) != 2 {
		return schemaNode{}
	}
	var kind string
	if json.Unmarshal(parts[0], &kind) != nil {
		return schemaNode{}
	}
	switch kind {
	case "object":
		var obj map[string]json.RawMessage
		if json.Unmarshal(parts[1], &obj) != nil {
			return schemaNode{}
		}
		return schemaNode{object: obj}
	case "list", "set":
		return typeNode(parts[1])
	}
	return schemaNode{}
}

// moduleInterface is what a local module offers its callers.
type moduleInterface struct {
	variables map[string]bool // name -> has a default
	outputs   map[string]bool
}

func parseInterface(files map[string][]byte) moduleInterface {
	mi := moduleInterface{variables: map[string]bool{}, outputs: map[string]bool{}}
	for name, b := range files {
		file, diags := hclsyntax.ParseConfig(b, name, hcl.InitialPos)
		if diags.HasErrors() {
			continue // reported by checkModule
		}
		for _, blk := range file.Body.(*hclsyntax.Body).Blocks {
			switch {
			case blk.Type == "variable" && len(blk.Labels) == 1:
				mi.variables[blk.Labels[0]] = blk.Body.Attributes["default"] != nil
			case blk.Type == "output" && len(blk.Labels) == 1:
				mi.outputs[blk.Labels[0]] = true
			}
		}
	}
	return mi
}

// checkModuleCalls checks each local module call's arguments against the
// module's variables (unknown ones, and required ones not set) and each
// module.NAME.OUTPUT against the module's outputs.
func (c *schemaChecker) checkModuleCalls(src tfSources) {
	dirs := make([]string, 0, len(src))
	for d := range src {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	for _, dir := range dirs {
		calls := map[string]moduleInterface{}
		var bodies []*hclsyntax.Body
		for name, b := range src[dir] {
			file, diags := hclsyntax.ParseConfig(b, name, hcl.InitialPos)
			if diags.HasErrors() {
				continue
			}
			body := file.Body.(*hclsyntax.Body)
			bodies = append(bodies, body)
			for _, blk := range body.Blocks {
				if blk.Type != "module" || len(blk.Labels) != 1 {
					continue
				}
				call := blk.Labels[0]
				source, diags := blk.Body.Attributes["source"].Expr.Value(nil)
				if diags.HasErrors() || !source.Type().Equals(cty.String) {
					c.problem(blk.DefRange(), "module %q: source must be a literal string", call)
					continue
				}
				target := filepath.Clean(filepath.Join(dir, source.AsString()))
				files, ok := src[target]
				if !ok {
					c.problem(blk.DefRange(), "module %q: source %q is not a module directory of infra/", call, source.AsString())
					continue
				}
				mi := parseInterface(files)
				calls[call] = mi
				for _, arg := range sortedKeys(blk.Body.Attributes) {
					if metaArguments[arg] {
						continue
					}
					if _, ok := mi.variables[arg]; !ok {
						c.problem(blk.Body.Attributes[arg].SrcRange, "module %q: argument %q is not a variable of %s", call, arg, target)
					}
				}
				for _, v := range sortedKeys(mi.variables) {
					if !mi.variables[v] && blk.Body.Attributes[v] == nil {
						c.problem(blk.DefRange(), "module %q: the required variable %q of %s is not set", call, v, target)
					}
				}
			}
		}
		for _, body := range bodies {
			attributes(body, func(a *hclsyntax.Attribute) {
				for _, tr := range a.Expr.Variables() {
					if tr.RootName() != "module" {
						continue
					}
					call, output := attrName(tr, 1), attrName(tr, 2)
					mi, ok := calls[call]
					switch {
					case !ok:
						c.problem(tr.SourceRange(), "reference to module.%s, which %s does not call", call, dir)
					case output != "" && !mi.outputs[output]:
						c.problem(tr.SourceRange(), "module.%s has no output %q", call, output)
					}
				}
			})
		}
	}
}
