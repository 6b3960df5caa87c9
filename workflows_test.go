package main

// Tests that read the workflows: what cannot run here (pushing to a
// registry, moving tags, GitHub's runner) is checked as configuration.

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// workflowUse is one `uses:` of a workflow (a step's or a job's).
type workflowUse struct {
	File, Job, Step string
	Value, Comment  string
	Line            int
}

// workflowFile is a parsed workflow, kept as a node tree for the
// comments (the pinned version lives in the `uses:` line's comment).
type workflowFile struct {
	Name string
	Doc  map[string]any
	Root *yaml.Node
}

func loadWorkflows(t *testing.T) []workflowFile {
	t.Helper()
	paths, err := filepath.Glob(".github/workflows/*.yml")
	require.NoError(t, err)
	require.NotEmpty(t, paths)
	var out []workflowFile
	for _, p := range paths {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		var root yaml.Node
		require.NoError(t, yaml.Unmarshal(b, &root), p)
		var doc map[string]any
		require.NoError(t, yaml.Unmarshal(b, &doc), p)
		out = append(out, workflowFile{Name: filepath.Base(p), Doc: doc, Root: &root})
	}
	return out
}

// mapValue returns the value node of key in a mapping node, or nil.
func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func uses(wf workflowFile) []workflowUse {
	var out []workflowUse
	jobs := mapValue(wf.Root.Content[0], "jobs")
	for i := 0; jobs != nil && i+1 < len(jobs.Content); i += 2 {
		name, job := jobs.Content[i].Value, jobs.Content[i+1]
		if u := mapValue(job, "uses"); u != nil {
			out = append(out, workflowUse{File: wf.Name, Job: name, Value: u.Value, Comment: u.LineComment, Line: u.Line})
		}
		steps := mapValue(job, "steps")
		for j := 0; steps != nil && j < len(steps.Content); j++ {
			step := steps.Content[j]
			u := mapValue(step, "uses")
			if u == nil {
				continue
			}
			stepName := u.Value
			if n := mapValue(step, "name"); n != nil {
				stepName = n.Value
			}
			out = append(out, workflowUse{File: wf.Name, Job: name, Step: stepName, Value: u.Value, Comment: u.LineComment, Line: u.Line})
		}
	}
	return out
}

var (
	pinnedUse      = regexp.MustCompile(`^([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)(/[^@]+)?@([0-9a-f]{40})$`)
	versionComment = regexp.MustCompile(`^# v[0-9]+\.[0-9]+\.[0-9]+$`)
)

// Every third-party action is pinned by full commit SHA, with the release
// it is in a comment (the form Dependabot updates), and one action is
// pinned to the same commit everywhere.
func TestWorkflowsPinThirdPartyActionsBySHA(t *testing.T) {
	t.Parallel()
	pins := map[string]string{}
	n := 0
	for _, wf := range loadWorkflows(t) {
		for _, u := range uses(wf) {
			if strings.HasPrefix(u.Value, "./") {
				continue // this repository's action or workflow
			}
			n++
			where := u.File + ":" + strings.TrimSpace(u.Job+" "+u.Step)
			m := pinnedUse.FindStringSubmatch(u.Value)
			if !assert.NotNil(t, m, "%s (line %d): uses %q: pin a third-party action by its full 40-hex commit SHA", where, u.Line, u.Value) {
				continue
			}
			assert.Regexp(t, versionComment, u.Comment, "%s (line %d): uses %s needs the release in a comment: # vX.Y.Z", where, u.Line, u.Value)
			key := m[1] + m[2]
			pin := m[3] + " " + u.Comment
			if prev, ok := pins[key]; ok {
				assert.Equal(t, prev, pin, "%s (line %d): %s is pinned to two different commits", where, u.Line, key)
			}
			pins[key] = pin
		}
	}
	assert.Greater(t, n, 10, "the workflows use third-party actions; did the parser find none?")
}

// The reusable workflow runs the action it checks out next to the caller's
// code: the release it was loaded from (prebuilt image) unless
// tfstate-guard-ref names another ref.
func TestWorkflowsReusableWorkflowRunsItsOwnRelease(t *testing.T) {
	t.Parallel()
	var wf workflowFile
	for _, w := range loadWorkflows(t) {
		if w.Name == "terraform.yml" {
			wf = w
		}
	}
	require.NotNil(t, wf.Doc, "terraform.yml")
	const (
		wantRepo = "${{ job.workflow_repository || 'text2agent/tfstate-guard' }}"
		wantRef  = "${{ inputs.tfstate-guard-ref || job.workflow_sha || 'v1' }}"
	)
	jobs := wf.Doc["jobs"].(map[string]any)
	usingJobs := 0
	for name, j := range jobs {
		steps, _ := j.(map[string]any)["steps"].([]any)
		checkedOut := false
		for _, s := range steps {
			step := s.(map[string]any)
			use, _ := step["uses"].(string)
			with, _ := step["with"].(map[string]any)
			if strings.HasPrefix(use, "actions/checkout@") && with["path"] == ".tfstate-guard" {
				assert.Equal(t, wantRepo, with["repository"], "job %s: checkout of the action", name)
				assert.Equal(t, wantRef, with["ref"], "job %s: the action's ref: the input, else the commit this workflow was loaded from, else v1", name)
				assert.Equal(t, false, with["persist-credentials"], "job %s", name)
				checkedOut = true
			}
			if use == "./.tfstate-guard" {
				assert.True(t, checkedOut, "job %s step %v runs ./.tfstate-guard before checking it out", name, step["name"])
				usingJobs++
			}
			assert.False(t, strings.HasPrefix(use, "text2agent/tfstate-guard@"), "job %s: run the checked-out action, not a fixed one", name)
		}
	}
	assert.GreaterOrEqual(t, usingJobs, 6)
	def := wf.Doc["on"].(map[string]any)["workflow_call"].(map[string]any)["inputs"].(map[string]any)["tfstate-guard-ref"].(map[string]any)["default"]
	assert.Equal(t, "", def, "tfstate-guard-ref defaults to empty: the release this workflow came from")

	// main builds from source; only a release commit names an image.
	action, err := os.ReadFile("action.yml")
	require.NoError(t, err)
	assert.Regexp(t, `(?m)^  image: (Dockerfile|'docker://ghcr\.io/\S+:v[0-9.]+@sha256:[0-9a-f]{64}')$`, string(action))
}

// release.yml pushes a multi-platform image with attestations and writes
// the digest it pushed (not a tag alone) into the release's action.yml.
func TestWorkflowsReleasePushesByDigest(t *testing.T) {
	t.Parallel()
	var doc map[string]any
	for _, w := range loadWorkflows(t) {
		if w.Name == "release.yml" {
			doc = w.Doc
		}
	}
	require.NotNil(t, doc, "release.yml")
	tags := doc["on"].(map[string]any)["push"].(map[string]any)["tags"].([]any)
	assert.Equal(t, []any{"v[0-9]+.[0-9]+.[0-9]+"}, tags, "only version tags release")
	assert.Equal(t, map[string]any{}, doc["permissions"], "no permissions by default")

	jobs := doc["jobs"].(map[string]any)
	image := jobs["image"].(map[string]any)
	perms := image["permissions"].(map[string]any)
	assert.Equal(t, "write", perms["packages"])
	assert.Equal(t, "write", perms["id-token"])
	assert.Equal(t, "write", perms["attestations"])
	stepByUses := func(steps []any, prefix string) map[string]any {
		for _, s := range steps {
			if u, _ := s.(map[string]any)["uses"].(string); strings.HasPrefix(u, prefix) {
				return s.(map[string]any)
			}
		}
		t.Fatalf("no step uses %s", prefix)
		return nil
	}
	steps := image["steps"].([]any)
	build := stepByUses(steps, "docker/build-push-action@")
	assert.Equal(t, "build", build["id"])
	with := build["with"].(map[string]any)
	assert.Equal(t, "linux/amd64,linux/arm64", with["platforms"])
	assert.Equal(t, true, with["push"])
	assert.Equal(t, true, with["sbom"])
	assert.Equal(t, "mode=max", with["provenance"])
	attest := stepByUses(steps, "actions/attest-build-provenance@")["with"].(map[string]any)
	assert.Equal(t, "${{ steps.build.outputs.digest }}", attest["subject-digest"])
	assert.Equal(t, true, attest["push-to-registry"])
	ref := image["outputs"].(map[string]any)["ref"]
	assert.Equal(t, "${{ steps.name.outputs.image }}:${{ github.ref_name }}@${{ steps.build.outputs.digest }}", ref, "action.yml names the image by tag and digest")

	release := jobs["release"].(map[string]any)
	assert.Equal(t, "image", release["needs"])
	assert.Equal(t, map[string]any{"contents": "write"}, release["permissions"])
	var script strings.Builder
	pinned := false
	for _, s := range release["steps"].([]any) {
		step := s.(map[string]any)
		run, _ := step["run"].(string)
		script.WriteString(run + "\n")
		if strings.Contains(run, "scripts/pin-action-image.sh") {
			env := step["env"].(map[string]any)
			assert.Equal(t, "${{ needs.image.outputs.ref }}", env["IMAGE_REF"])
			pinned = true
		}
	}
	assert.True(t, pinned, "the release job pins the image in action.yml")
	for _, want := range []string{"git commit", `git tag --force --annotate "$TAG"`, `git tag --force "$major"`, `push --force origin "${refs[@]}"`} {
		assert.Contains(t, script.String(), want)
	}
}

// scripts/pin-action-image.sh, as release.yml runs it, on a copy of the
// real action.yml.
func TestPinActionImage(t *testing.T) {
	t.Parallel()
	orig, err := os.ReadFile("action.yml")
	require.NoError(t, err)
	if !strings.Contains(string(orig), "\n  image: Dockerfile\n") {
		t.Skip("action.yml is already a release's: pinning again is refused by design")
	}
	script, err := filepath.Abs("scripts/pin-action-image.sh")
	require.NoError(t, err)
	pin := func(t *testing.T, file, ref string) (string, error) {
		out, err := exec.Command("bash", script, ref, file).CombinedOutput()
		return string(out), err
	}
	const good = "ghcr.io/text2agent/tfstate-guard:v1.2.3@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

	file := filepath.Join(t.TempDir(), "action.yml")
	require.NoError(t, os.WriteFile(file, orig, 0o644))
	out, err := pin(t, file, good)
	require.NoError(t, err, out)
	got, err := os.ReadFile(file)
	require.NoError(t, err)
	want := strings.Replace(string(orig), "\n  image: Dockerfile\n", "\n  image: 'docker://"+good+"'\n", 1)
	assert.Equal(t, want, string(got), "only the image line changes")
	assert.Equal(t, renderActionYAML(), pinnedImage.ReplaceAllString(string(got), "  image: Dockerfile"), "TestActionYAML accepts the release commit")
	st, err := os.Stat(file)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), st.Mode().Perm())

	out, err = pin(t, file, good)
	assert.Error(t, err, "pinning twice")
	assert.Contains(t, out, "already pinned")

	for _, bad := range []string{
		"ghcr.io/text2agent/tfstate-guard:v1.2.3",                            // tag only: mutable
		"ghcr.io/text2agent/tfstate-guard@sha256:" + strings.Repeat("a", 64), // digest only
		"ghcr.io/Text2Agent/tfstate-guard:v1.2.3@sha256:" + strings.Repeat("a", 64),
		"ghcr.io/text2agent/tfstate-guard:v1.2.3@sha256:" + strings.Repeat("a", 63),
		"docker.io/text2agent/tfstate-guard:v1.2.3@sha256:" + strings.Repeat("a", 64),
		"ghcr.io/text2agent/tfstate-guard:v1.2.3@sha256:" + strings.Repeat("a", 64) + "'\n  evil: x",
	} {
		file := filepath.Join(t.TempDir(), "action.yml")
		require.NoError(t, os.WriteFile(file, orig, 0o644))
		out, err := pin(t, file, bad)
		assert.Error(t, err, "ref %q", bad)
		assert.Contains(t, out, "IMAGE_REF must be", bad)
		after, err := os.ReadFile(file)
		require.NoError(t, err)
		assert.Equal(t, string(orig), string(after), "a refused ref changes nothing")
	}
}

func TestDependabotCoversActionsModulesAndImages(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(".github/dependabot.yml")
	require.NoError(t, err)
	var cfg struct {
		Version int
		Updates []struct {
			Ecosystem string `yaml:"package-ecosystem"`
			Directory string
			Schedule  struct{ Interval string }
		}
	}
	require.NoError(t, yaml.Unmarshal(b, &cfg))
	assert.Equal(t, 2, cfg.Version)
	got := map[string]string{}
	for _, u := range cfg.Updates {
		got[u.Ecosystem] = u.Directory
		assert.NotEmpty(t, u.Schedule.Interval, u.Ecosystem)
	}
	assert.Equal(t, map[string]string{"github-actions": "/", "gomod": "/", "docker": "/"}, got)
}
