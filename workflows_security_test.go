package main

// Issue 23's trust boundaries, checked as configuration: which role each
// job assumes, which jobs an environment guards, what is released from
// where, what artifacts are kept, and that the base images are pinned.

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func workflowDoc(t *testing.T, name string) map[string]any {
	t.Helper()
	for _, w := range loadWorkflows(t) {
		if w.Name == name {
			return w.Doc
		}
	}
	t.Fatalf("no workflow %s", name)
	return nil
}

func jobSteps(job map[string]any) []map[string]any {
	var out []map[string]any
	steps, _ := job["steps"].([]any)
	for _, s := range steps {
		out = append(out, s.(map[string]any))
	}
	return out
}

func stepWith(step map[string]any) map[string]any {
	w, _ := step["with"].(map[string]any)
	return w
}

func usesPrefix(step map[string]any, prefix string) bool {
	u, _ := step["uses"].(string)
	return strings.HasPrefix(u, prefix)
}

// The plan role is for jobs any pull request reaches; the apply role only
// for jobs behind the approval environment (whose name its trust policy
// requires), and every such job checks it was given one.
func TestWorkflowsSplitPlanAndApplyRoles(t *testing.T) {
	t.Parallel()
	doc := workflowDoc(t, "terraform.yml")
	inputs := doc["on"].(map[string]any)["workflow_call"].(map[string]any)["inputs"].(map[string]any)
	assert.NotContains(t, inputs, "aws-role-arn", "one role for every job is gone")
	require.Contains(t, inputs, "plan-role-arn")
	require.Contains(t, inputs, "apply-role-arn")
	assert.Equal(t, true, inputs["plan-role-arn"].(map[string]any)["required"])

	want := map[string]string{
		"terraform-check":     "${{ inputs.plan-role-arn }}",
		"stale-lock-check":    "${{ inputs.plan-role-arn }}",
		"terraform-plan":      "${{ inputs.plan-role-arn }}",
		"stale-lock-approval": "${{ inputs.apply-role-arn }}",
		"terraform-apply":     "${{ inputs.apply-role-arn }}",
		"terraform-destroy":   "${{ inputs.apply-role-arn }}",
	}
	got := map[string]string{}
	for name, j := range doc["jobs"].(map[string]any) {
		job := j.(map[string]any)
		steps := jobSteps(job)
		for i, step := range steps {
			if !usesPrefix(step, "aws-actions/configure-aws-credentials@") {
				continue
			}
			role, _ := stepWith(step)["role-to-assume"].(string)
			assert.NotContains(t, got, name, "job %s assumes a role twice", name)
			got[name] = role
			if role == "${{ inputs.apply-role-arn }}" {
				assert.Equal(t, "${{ inputs.approval-environment }}", job["environment"], "job %s uses the apply role outside the approval environment", name)
				require.Positive(t, i, name)
				assert.Contains(t, steps[i-1]["run"], `[ -z "$ROLE" ]`, "job %s: an empty apply-role-arn stops the job before any credential is asked for", name)
			} else {
				assert.Nil(t, job["environment"], "job %s: an environment job needs no plan role", name)
			}
		}
		for _, step := range steps {
			w := stepWith(step)
			if w == nil {
				continue
			}
			if w["mode"] == "unlock" {
				assert.Equal(t, "${{ inputs.apply-role-arn }}", got[name], "job %s removes locks: apply role only", name)
			}
			if w["mode"] == "detect" || w["mode"] == "unlock" {
				assert.Equal(t, "state", w["table-read"], "job %s: the roles may not Scan; read the state by key", name)
				assert.Regexp(t, `(?i)lock.path`, w["lock-id-prefix"], "job %s: table-read: state needs the state's lock path", name)
			}
		}
	}
	assert.Equal(t, want, got)

	infra := workflowDoc(t, "infra.yml")
	with := infra["jobs"].(map[string]any)["terraform"].(map[string]any)["with"].(map[string]any)
	assert.Equal(t, "${{ vars.TEXT2AGENT_PLAN_ROLE_ARN }}", with["plan-role-arn"])
	assert.Equal(t, "${{ vars.TEXT2AGENT_APPLY_ROLE_ARN }}", with["apply-role-arn"])
	assert.NotContains(t, with, "aws-role-arn")
	assert.NotEqual(t, with["plan-role-arn"], with["apply-role-arn"])
}

// Destroy runs only by hand from the default branch; applies only on it.
// Pull request plans have a concurrency group of their own, so one can
// never replace an apply pending in the state's group.
func TestWorkflowsDestroyAndConcurrency(t *testing.T) {
	t.Parallel()
	doc := workflowDoc(t, "terraform.yml")
	jobs := doc["jobs"].(map[string]any)
	const onDefault = "github.ref == format('refs/heads/{0}', github.event.repository.default_branch)"
	for _, name := range []string{"terraform-apply", "terraform-destroy"} {
		assert.Contains(t, jobs[name].(map[string]any)["if"], onDefault, name)
	}
	assert.Contains(t, jobs["terraform-destroy"].(map[string]any)["if"], "github.event_name == 'workflow_dispatch'")

	c := doc["concurrency"].(map[string]any)
	assert.Equal(t, false, c["cancel-in-progress"], "never cancel a run holding or about to take the lock")
	group := c["group"].(string)
	assert.Contains(t, group, "github.event_name == 'pull_request' && format('pr-{0}-', github.event.pull_request.number)")
	for _, part := range []string{"inputs.state-bucket", "inputs.state-key", "inputs.workspace"} {
		assert.Contains(t, group, part)
	}
}

// The plan (state in plain text) is uploaded only when an apply or destroy
// will use it, never for a pull request, and kept one day; the layer zip's
// hash travels as a job output and is checked after every download.
func TestWorkflowsArtifactRules(t *testing.T) {
	t.Parallel()
	doc := workflowDoc(t, "terraform.yml")
	jobs := doc["jobs"].(map[string]any)
	uploads := 0
	for name, j := range jobs {
		for _, step := range jobSteps(j.(map[string]any)) {
			if usesPrefix(step, "actions/upload-artifact@") {
				uploads++
				assert.Equal(t, 1, stepWith(step)["retention-days"], "job %s: artifacts are kept one day", name)
			}
		}
	}
	assert.Equal(t, 2, uploads, "the layer and the plan")

	var planUpload map[string]any
	for _, step := range jobSteps(jobs["terraform-plan"].(map[string]any)) {
		if usesPrefix(step, "actions/upload-artifact@") {
			planUpload = step
		}
	}
	require.NotNil(t, planUpload)
	cond, _ := planUpload["if"].(string)
	for _, want := range []string{
		"steps.plan.outputs.has-changes == 'true'",
		"github.event_name != 'pull_request'",
		"github.event_name != 'pull_request_target'",
		"github.ref == format('refs/heads/{0}', github.event.repository.default_branch)",
		"inputs.action == 'apply'",
		"inputs.action == 'destroy' && github.event_name == 'workflow_dispatch'",
	} {
		assert.Contains(t, cond, want, "the plan upload's condition")
	}

	build := jobs["build-lambda"].(map[string]any)
	assert.Equal(t, "${{ steps.hash.outputs.sha256 }}", build["outputs"].(map[string]any)["sha256"])
	var hashed bool
	for _, step := range jobSteps(build) {
		if step["id"] == "hash" {
			assert.Contains(t, step["run"], `sha256sum -- "$LAYER"`)
			hashed = true
		}
	}
	assert.True(t, hashed)
	checked := 0
	for name, j := range jobs {
		steps := jobSteps(j.(map[string]any))
		for i, step := range steps {
			if !usesPrefix(step, "actions/download-artifact@") || stepWith(step)["name"] != "${{ needs.build-lambda.outputs.artifact }}" {
				continue
			}
			require.Less(t, i+1, len(steps), name)
			next := steps[i+1]
			env, _ := next["env"].(map[string]any)
			assert.Equal(t, "${{ needs.build-lambda.outputs.sha256 }}", env["WANT"], "job %s: the layer is checked right after its download", name)
			assert.Contains(t, next["run"], `[ "$got" != "$WANT" ]`, name)
			assert.Contains(t, next["run"], "exit 1", name)
			checked++
		}
	}
	assert.Equal(t, 3, checked, "plan, apply and destroy download the layer")
}

// A release is built only from a commit on the default branch, behind the
// release environment, with no cache, and only the step that moves the
// tags holds a credential that can push.
func TestWorkflowsReleaseOnlyFromReviewedCommits(t *testing.T) {
	t.Parallel()
	doc := workflowDoc(t, "release.yml")
	jobs := doc["jobs"].(map[string]any)
	for _, name := range []string{"image", "release"} {
		job := jobs[name].(map[string]any)
		assert.Equal(t, "release", job["environment"], "job %s runs behind the release environment (required reviewers)", name)
		steps := jobSteps(job)
		branchCheck := -1
		for i, step := range steps {
			if usesPrefix(step, "actions/checkout@") {
				assert.Equal(t, false, stepWith(step)["persist-credentials"], "job %s: no credentials left in the checkout", name)
				assert.Equal(t, 0, stepWith(step)["fetch-depth"], "job %s: every branch, to check the commit is on the default one", name)
			}
			run, _ := step["run"].(string)
			if strings.Contains(run, `git merge-base --is-ancestor "$GITHUB_SHA" "refs/remotes/origin/$DEFAULT_BRANCH"`) {
				branchCheck = i
				assert.Equal(t, "${{ github.event.repository.default_branch }}", step["env"].(map[string]any)["DEFAULT_BRANCH"])
				assert.Contains(t, run, "exit 1")
			}
			if usesPrefix(step, "actions/setup-go@") {
				assert.Equal(t, false, stepWith(step)["cache"], "job %s: no Go build cache", name)
			}
			if usesPrefix(step, "docker/build-push-action@") {
				assert.Equal(t, true, stepWith(step)["no-cache"], "job %s: no BuildKit cache", name)
				assert.NotContains(t, stepWith(step), "cache-from")
			}
		}
		require.GreaterOrEqual(t, branchCheck, 0, "job %s checks the tagged commit is on the default branch", name)
		for i, step := range steps[:branchCheck] {
			assert.True(t, usesPrefix(step, "actions/checkout@"), "job %s: step %d runs before the branch check", name, i)
		}
	}
	// Only the tag-moving step gets the token.
	holders := 0
	for _, step := range jobSteps(jobs["release"].(map[string]any)) {
		env, _ := step["env"].(map[string]any)
		for _, v := range env {
			if s, _ := v.(string); strings.Contains(s, "github.token") || strings.Contains(s, "secrets.GITHUB_TOKEN") {
				holders++
				assert.Contains(t, step["run"], "git -c \"http.${GITHUB_SERVER_URL}/.extraheader=AUTHORIZATION: basic $auth\" push")
			}
		}
	}
	assert.Equal(t, 1, holders, "one step of the release job holds the token")
}

var digestPinnedFrom = regexp.MustCompile(`^FROM (--platform=\S+ )?[a-z0-9./-]+(:[A-Za-z0-9._-]+)?@sha256:[0-9a-f]{64}( AS \S+)?$`)

// Every base image is pinned by digest (the tag stays for people and for
// Dependabot's docker updates, which TestDependabotCoversActionsModulesAndImages checks).
func TestDockerfilePinsBaseImagesByDigest(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("Dockerfile")
	require.NoError(t, err)
	froms := 0
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "FROM ") {
			froms++
			assert.Regexp(t, digestPinnedFrom, line)
		}
	}
	assert.Equal(t, 2, froms, "the build and final stages")
	for _, bad := range []string{"FROM golang:1.26-bookworm AS build", "FROM gcr.io/distroless/static-debian12", "FROM gcr.io/distroless/static-debian12@sha256:abc"} {
		assert.NotRegexp(t, digestPinnedFrom, bad)
	}
}
