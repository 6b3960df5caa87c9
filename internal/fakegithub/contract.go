package fakegithub

import (
	"bytes"
	_ "embed"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// operationsJSON is the part of GitHub's OpenAPI description (OpenAPI 3.0
// form, from the npm package @octokit/openapi; see testdata/openapi/README.md)
// that covers the operations tfstate-guard calls.
//
//go:embed testdata/openapi/operations.json
var operationsJSON []byte

// Contract is GitHub's published answer schemas for the fake's routes,
// made strict: OpenAPI 3.0's nullable becomes a JSON Schema type, every
// object that lists its properties admits no others (a misspelled field
// fails), and required fields are enforced.
type Contract struct {
	doc     map[string]any
	schemas map[string]*jsonschema.Schema // route + " " + status
}

var (
	contractOnce sync.Once
	contract     *Contract
	contractErr  error
)

// LoadContract compiles the vendored schemas once per process.
func LoadContract() (*Contract, error) {
	contractOnce.Do(func() { contract, contractErr = compileContract() })
	return contract, contractErr
}

// CheckAnswer checks one answer of route (a Route* constant) against the
// contract: the schema GitHub publishes for that status, GitHub's error
// object for an error status it does not list, and no body for 204.
func CheckAnswer(route string, status int, body []byte) error {
	c, err := LoadContract()
	if err != nil {
		return err
	}
	return c.Check(route, status, body)
}

// Check implements CheckAnswer.
func (c *Contract) Check(route string, status int, body []byte) error {
	if status == http.StatusNoContent {
		if len(body) > 0 {
			return fmt.Errorf("204 with a body")
		}
		return nil
	}
	s := c.schemas[route+" "+strconv.Itoa(status)]
	if s == nil && status >= 400 {
		s = c.schemas["error basic-error"]
		if status == http.StatusUnprocessableEntity {
			s = c.schemas["error validation-error"]
		}
	}
	if s == nil {
		return fmt.Errorf("GitHub's description has no %d answer for %s", status, route)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("answer is not JSON: %w", err)
	}
	if err := s.Validate(v); err != nil {
		return fmt.Errorf("answer breaks GitHub's schema: %v", err)
	}
	return nil
}

// Examples returns GitHub's own example answers for route and status.
func (c *Contract) Examples(route string, status int) []any {
	resp := c.response(route, status)
	var out []any
	for _, content := range asMap(resp["content"]) {
		for _, ex := range asMap(asMap(content)["examples"]) {
			e := c.deref(asMap(ex))
			out = append(out, e["value"])
		}
	}
	return out
}

// Routes lists every route the contract covers.
func Routes() []string {
	return []string{RouteListRuns, RouteGetRun, RouteGetAttempt, RouteAttemptJobs, RouteRunJobs,
		RouteListComments, RouteCreateComment, RouteGetComment, RouteUpdateComment, RouteDeleteComment}
}

func compileContract() (*Contract, error) {
	raw, err := jsonschema.UnmarshalJSON(bytes.NewReader(operationsJSON))
	if err != nil {
		return nil, fmt.Errorf("vendored OpenAPI subset: %w", err)
	}
	c := &Contract{doc: raw.(map[string]any), schemas: map[string]*jsonschema.Schema{}}
	for _, s := range asMap(asMap(c.doc["components"])["schemas"]) {
		strict(s)
	}
	answers := map[string]any{}
	keys := map[string]string{}
	for i, route := range Routes() {
		for code, r := range asMap(c.operation(route)["responses"]) {
			for _, content := range asMap(c.deref(asMap(r))["content"]) {
				schema := asMap(content)["schema"]
				strict(schema)
				k := fmt.Sprintf("r%d_%s", i, code)
				answers[k], keys[k] = schema, route+" "+code
			}
		}
	}
	for _, name := range []string{"basic-error", "validation-error"} {
		answers[name] = map[string]any{"$ref": "#/components/schemas/" + name}
		keys[name] = "error " + name
	}
	c.doc["x-answers"] = answers
	comp := jsonschema.NewCompiler()
	comp.DefaultDraft(jsonschema.Draft2020)
	comp.AssertFormat()
	const loc = "https://fakegithub.invalid/operations.json"
	if err := comp.AddResource(loc, c.doc); err != nil {
		return nil, err
	}
	for k, key := range keys {
		s, err := comp.Compile(loc + "#/x-answers/" + k)
		if err != nil {
			return nil, fmt.Errorf("compile %s: %w", key, err)
		}
		c.schemas[key] = s
	}
	return c, nil
}

func (c *Contract) operation(route string) map[string]any {
	method, path, _ := strings.Cut(route, " ")
	return asMap(asMap(asMap(c.doc["paths"])[path])[strings.ToLower(method)])
}

func (c *Contract) response(route string, status int) map[string]any {
	return c.deref(asMap(asMap(c.operation(route)["responses"])[strconv.Itoa(status)]))
}

// deref follows a local $ref ("#/components/...").
func (c *Contract) deref(m map[string]any) map[string]any {
	ref, ok := m["$ref"].(string)
	if !ok {
		return m
	}
	var node any = c.doc
	for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		node = asMap(node)[part]
	}
	return asMap(node)
}

// strict rewrites an OpenAPI 3.0 schema in place into a strict JSON Schema:
// nullable: true becomes a "null" type, and an object with properties and
// no additionalProperties admits no others.
func strict(node any) {
	m := asMap(node)
	if m == nil {
		return
	}
	if _, ref := m["$ref"]; ref {
		return
	}
	for _, k := range []string{"items", "not"} {
		strict(m[k])
	}
	if ap, ok := m["additionalProperties"].(map[string]any); ok {
		strict(ap)
	}
	for _, k := range []string{"oneOf", "anyOf", "allOf"} {
		if list, ok := m[k].([]any); ok {
			for _, s := range list {
				strict(s)
			}
		}
	}
	if props := asMap(m["properties"]); props != nil {
		for _, s := range props {
			strict(s)
		}
		if _, set := m["additionalProperties"]; !set {
			m["additionalProperties"] = false
		}
	}
	if m["nullable"] != true {
		return
	}
	delete(m, "nullable")
	if enum, ok := m["enum"].([]any); ok {
		m["enum"] = append(enum, nil)
	}
	if t, ok := m["type"].(string); ok {
		m["type"] = []any{t, "null"}
		return
	}
	inner := map[string]any{}
	for k, v := range m {
		inner[k] = v
		delete(m, k)
	}
	m["anyOf"] = []any{inner, map[string]any{"type": "null"}}
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}
