package main

// docs/setup.md's IAM policies are what users paste into AWS: they are
// parsed here and their scoping asserted, so the documented least
// privilege cannot drift into BUCKET/* or an unscoped table.

import (
	"encoding/json"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type iamStatement struct {
	Sid       string
	Effect    string
	Principal map[string]any
	Action    any
	Resource  any
	Condition map[string]map[string]any
}

type iamPolicy struct {
	Version   string
	Statement []iamStatement
}

// strs reads a policy field that is a string or a list of strings.
func strs(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			out = append(out, e.(string))
		}
		return out
	}
	return nil
}

var docPolicy = regexp.MustCompile("(?s)<!-- iam-policy: ([a-z-]+) -->\n```json\n(.*?)\n```")

func setupPolicies(t *testing.T) map[string]iamPolicy {
	t.Helper()
	b, err := os.ReadFile("docs/setup.md")
	require.NoError(t, err)
	out := map[string]iamPolicy{}
	for _, m := range docPolicy.FindAllStringSubmatch(string(b), -1) {
		var p iamPolicy
		dec := json.NewDecoder(strings.NewReader(m[2]))
		dec.DisallowUnknownFields()
		require.NoError(t, dec.Decode(&p), "policy %s in docs/setup.md is not IAM policy JSON", m[1])
		require.Equal(t, "2012-10-17", p.Version, m[1])
		require.NotContains(t, out, m[1], "two policies named %s", m[1])
		out[m[1]] = p
	}
	return out
}

const (
	lockPath = "BUCKET/KEY"
	tableARN = "arn:aws:dynamodb:REGION:ACCOUNT:table/TABLE"
)

// The table keys a state's roles may touch: the lock, its digest, its
// record, its lease and setup's probe (lockcheck.StateRecordPrefix etc.).
var stateKeys = map[string]bool{
	lockPath: true, lockPath + "-md5": true,
	"tfstate-guard#state#" + lockPath: true, "tfstate-guard#lease#" + lockPath: true, "tfstate-guard#probe#" + lockPath: true,
}

var itemActions = map[string]bool{
	"dynamodb:GetItem": true, "dynamodb:PutItem": true, "dynamodb:DeleteItem": true, "dynamodb:UpdateItem": true,
	"dynamodb:BatchGetItem": true, "dynamodb:BatchWriteItem": true, "dynamodb:Query": true, "dynamodb:ConditionCheckItem": true,
}

var adminAction = regexp.MustCompile(`^(s3:(CreateBucket|PutBucket\w+|PutEncryptionConfiguration|DeleteBucket\w*)|dynamodb:(CreateTable|UpdateTable|DeleteTable|UpdateContinuousBackups|UpdateTimeToLive|TagResource|UntagResource)|kms:(CreateGrant|PutKeyPolicy|\w*Delete\w*)|iam:\w+)$`)

// grants collects, per action, the item keys an Allow statement scopes it
// to (nil: unscoped) and the resources it names.
type grant struct {
	keys      []string
	resources []string
}

func allows(p iamPolicy) map[string][]grant {
	out := map[string][]grant{}
	for _, st := range p.Statement {
		if st.Effect != "Allow" {
			continue
		}
		var keys []string
		if c, ok := st.Condition["ForAllValues:StringEquals"]; ok {
			keys = strs(c["dynamodb:LeadingKeys"])
		}
		for _, a := range strs(st.Action) {
			out[a] = append(out[a], grant{keys: keys, resources: strs(st.Resource)})
		}
	}
	return out
}

// keysFor is every table key the policy lets action touch.
func keysFor(g map[string][]grant, action string) []string {
	var out []string
	for _, gr := range g[action] {
		out = append(out, gr.keys...)
	}
	sort.Strings(out)
	return out
}

func resourcesFor(g map[string][]grant, action string) []string {
	var out []string
	for _, gr := range g[action] {
		out = append(out, gr.resources...)
	}
	sort.Strings(out)
	return out
}

func TestSetupDocPoliciesAreScopedToTheState(t *testing.T) {
	t.Parallel()
	policies := setupPolicies(t)
	for _, name := range []string{"plan-role-permissions", "apply-role-permissions", "sweep-role-permissions", "plan-role-trust", "apply-role-trust"} {
		require.Contains(t, policies, name)
	}
	objectScope := regexp.MustCompile(`^arn:aws:s3:::BUCKET/((env:/\*/)?KEY(\*|\.tflock|\.tfstate-guard-probe)?|backups/(env:/\*/)?KEY\.\*)$`)

	for _, name := range []string{"plan-role-permissions", "apply-role-permissions"} {
		p := policies[name]
		g := allows(p)
		for _, st := range p.Statement {
			assert.Equal(t, "Allow", st.Effect, "%s %s", name, st.Sid)
			for _, r := range strs(st.Resource) {
				assert.NotEqual(t, "*", r, "%s %s: no action on every resource", name, st.Sid)
				if strings.HasPrefix(r, "arn:aws:s3:::BUCKET/") {
					assert.Regexp(t, objectScope, r, "%s %s: objects of this state only (never BUCKET/*)", name, st.Sid)
				}
				if strings.HasPrefix(r, "arn:aws:kms:") {
					assert.Equal(t, "arn:aws:kms:REGION:ACCOUNT:key/KMS_KEY_ID", r, "%s %s: the bucket's key only", name, st.Sid)
				}
			}
			for _, a := range strs(st.Action) {
				assert.NotContains(t, a, "*", "%s %s: no action wildcards", name, st.Sid)
				assert.NotRegexp(t, adminAction, a, "%s %s: bucket and table administration is the bootstrap's", name, st.Sid)
				if itemActions[a] {
					keys := strs(st.Condition["ForAllValues:StringEquals"]["dynamodb:LeadingKeys"])
					require.NotEmpty(t, keys, "%s %s: %s must be scoped with dynamodb:LeadingKeys", name, st.Sid, a)
					for _, k := range keys {
						assert.True(t, stateKeys[k], "%s %s: %s on key %q, not one of this state's", name, st.Sid, a, k)
					}
				}
			}
		}
		// Both roles read the state's five items and release the lock.
		assert.Equal(t, []string{lockPath, lockPath + "-md5", "tfstate-guard#lease#" + lockPath, "tfstate-guard#probe#" + lockPath, "tfstate-guard#state#" + lockPath},
			keysFor(g, "dynamodb:GetItem"), name)
		assert.NotContains(t, keysFor(g, "dynamodb:DeleteItem"), lockPath+"-md5", "%s: never deletes the digest", name)
		assert.NotContains(t, keysFor(g, "dynamodb:DeleteItem"), "tfstate-guard#state#"+lockPath, "%s: never deletes the run record", name)
		assert.Contains(t, keysFor(g, "dynamodb:DeleteItem"), lockPath)
		assert.Contains(t, keysFor(g, "dynamodb:PutItem"), "tfstate-guard#state#"+lockPath, "%s writes its run record", name)
		assert.Empty(t, g["dynamodb:Scan"], "%s: a Scan cannot be scoped with LeadingKeys; table-read: state reads by key", name)
		assert.Contains(t, resourcesFor(g, "s3:GetObject"), "arn:aws:s3:::BUCKET/KEY*")
	}

	plan, apply := allows(policies["plan-role-permissions"]), allows(policies["apply-role-permissions"])
	// The plan role reads the state and writes only its lock file; the
	// digest and the state are the apply role's to write.
	assert.NotContains(t, keysFor(plan, "dynamodb:PutItem"), lockPath+"-md5", "plan never writes the digest")
	for _, r := range resourcesFor(plan, "s3:PutObject") {
		assert.Regexp(t, `\.(tflock|tfstate-guard-probe)$`, r, "the plan role writes lock files and the probe only, never the state")
	}
	assert.Contains(t, keysFor(apply, "dynamodb:PutItem"), lockPath+"-md5", "apply rewrites the digest with the state")
	assert.Contains(t, resourcesFor(apply, "s3:PutObject"), "arn:aws:s3:::BUCKET/KEY*")
	assert.Contains(t, resourcesFor(apply, "s3:PutObject"), "arn:aws:s3:::BUCKET/backups/KEY.*")

	// The sweep deletes locks but is denied digests, records and leases,
	// and reads lock files only.
	sweep := policies["sweep-role-permissions"]
	sg := allows(sweep)
	assert.Equal(t, []string{"arn:aws:s3:::BUCKET/*.tflock"}, resourcesFor(sg, "s3:GetObject"), "the sweep reads no state")
	assert.Equal(t, []string{"arn:aws:s3:::BUCKET/*.tflock"}, resourcesFor(sg, "s3:DeleteObject"))
	assert.Empty(t, sg["dynamodb:PutItem"])
	assert.Equal(t, []string{tableARN}, resourcesFor(sg, "dynamodb:Scan"), "the sweep reads every lock")
	denied := false
	for _, st := range sweep.Statement {
		for _, a := range strs(st.Action) {
			assert.NotRegexp(t, adminAction, a, "sweep %s", st.Sid)
		}
		if st.Effect != "Deny" {
			continue
		}
		patterns := strs(st.Condition["ForAnyValue:StringLike"]["dynamodb:LeadingKeys"])
		if assert.ElementsMatch(t, []string{"*-md5", "tfstate-guard#*"}, patterns, st.Sid) {
			assert.Contains(t, strs(st.Action), "dynamodb:DeleteItem")
			assert.Contains(t, strs(st.Action), "dynamodb:BatchWriteItem")
			assert.Equal(t, []string{tableARN}, strs(st.Resource))
			denied = true
		}
	}
	assert.True(t, denied, "the sweep role is denied deleting digests, records and leases")
}

func TestSetupDocTrustPolicies(t *testing.T) {
	t.Parallel()
	policies := setupPolicies(t)
	subjects := func(name string) []string {
		p := policies[name]
		require.Len(t, p.Statement, 1, name)
		st := p.Statement[0]
		assert.Equal(t, "Allow", st.Effect)
		assert.Equal(t, "sts:AssumeRoleWithWebIdentity", st.Action)
		assert.Equal(t, "arn:aws:iam::ACCOUNT:oidc-provider/token.actions.githubusercontent.com", st.Principal["Federated"])
		assert.Equal(t, "sts.amazonaws.com", st.Condition["StringEquals"]["token.actions.githubusercontent.com:aud"], "%s checks the audience", name)
		var subs []string
		for _, op := range []string{"StringEquals", "StringLike"} {
			subs = append(subs, strs(st.Condition[op]["token.actions.githubusercontent.com:sub"])...)
		}
		require.NotEmpty(t, subs, "%s checks the subject", name)
		for _, s := range subs {
			assert.True(t, strings.HasPrefix(s, "repo:OWNER/REPO:"), "%s: subject %q names this repository", name, s)
			assert.NotEqual(t, "repo:OWNER/REPO:*", s, "%s: not every job of the repository", name)
		}
		return subs
	}
	apply := subjects("apply-role-trust")
	assert.Equal(t, []string{"repo:OWNER/REPO:environment:terraform-approval"}, apply, "only jobs behind the approval environment")
	assert.Equal(t, apply, strs(policies["apply-role-trust"].Statement[0].Condition["StringEquals"]["token.actions.githubusercontent.com:sub"]), "an exact match, no pattern")
	for _, s := range subjects("plan-role-trust") {
		assert.NotContains(t, s, ":environment:", "the plan role is not the environment's")
	}
	assert.Contains(t, subjects("plan-role-trust"), "repo:OWNER/REPO:pull_request")
}
