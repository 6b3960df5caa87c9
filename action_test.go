package main

import (
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var updateAction = flag.Bool("update", false, "rewrite action.yml from the input table")

// pinnedImage is the runs.image line of a release commit: the published
// image by tag and digest.
var pinnedImage = regexp.MustCompile(`(?m)^  image: 'docker://ghcr\.io/[a-z0-9][a-z0-9._-]*/[a-z0-9][a-z0-9._/-]*:v[0-9]+\.[0-9]+\.[0-9]+@sha256:[0-9a-f]{64}'$`)

// outputs are every output any mode writes, with who writes it.
var outputs = []struct{ Name, Help string }{
	{"STALE_LOCKS_FOUND", "detect: true when a stale lock needs a person's approval (after any auto-unlock)."},
	{"ACTIVE_LOCKS_FOUND", "detect: true when a live lock was found (Terraform must wait)."},
	{"LOCK_COUNT", "detect: number of locks still held (after any auto-unlock)."},
	{"LOCK_IDS", "detect: comma-separated Terraform lock IDs of the stale locks: the approval list for unlock."},
	{"LOCK_DETAILS", "detect: JSON array, one object per lock (lock_id, lock_path, sources, who, operation, version, created, age_seconds, status (ACTIVE, STALE or HELD), rule, evidence (definitive, circumstantial or none), reason, owner_run_url)."},
	{"HELD_LOCKS_FOUND", "detect: true when a lock held on purpose (hold-locks) was found: Terraform cannot lock that state, and nothing removes or waits for it."},
	{"HELD_LOCK_IDS", "detect: comma-separated lock IDs of the locks held on purpose (never offered for approval)."},
	{"AUTO_UNLOCKED_LOCK_IDS", "detect with auto-unlock: IDs of the stale locks removed without approval (owner proven gone)."},
	{"AUTO_UNLOCKED_COUNT", "detect with auto-unlock: how many locks were removed without approval."},
	{"UNLOCKED_LOCK_IDS", "unlock: IDs removed."},
	{"REFUSED_LOCK_IDS", "unlock: IDs not removed: refused (active again, or changed since approval) or not found (no lock holds the ID)."},
	{"ALREADY_RELEASED_LOCK_IDS", "unlock: IDs already released since approval, as lock-details prove."},
	{"UNLOCK_DETAILS", "unlock: JSON array with the outcome, the evidence behind it and the reason per ID."},
	{"DIGEST_MISMATCH_FOUND", "detect with check-digests: true when a digest item does not match its state (Terraform fails on that state)."},
	{"DIGEST_MISMATCHES", "detect with check-digests: JSON array, one object per mismatched or missing state (path, status, digest, actual_md5, object_version, size, lineage, serial, previous_version, previous_lineage, previous_serial, cause_kind, cause, restore_version, leftover_digest): the approval list for unlock's repair-digests."},
	{"DIGEST_REPAIRS", "unlock with repair-digests: JSON array, one object per state (path, action, outcome, old_digest, new_digest, object_version, restored_from, reason): enough to undo each repair."},
	{"REPAIRED_DIGESTS", "unlock: comma-separated state paths whose digest was repaired (or state restored, or digest forgotten)."},
	{"REFUSED_DIGESTS", "unlock: comma-separated state paths whose repair was refused."},
	{"BACKEND_FILE", "setup: path of the backend file written."},
	{"STATE_BUCKET", "setup: the state bucket."},
	{"LOCK_TABLE", "setup: the lock table (empty with lock-method s3)."},
	{"LOCK_PATH", "setup: the state's lock path, <bucket>/<state path>, workspace prefix included."},
	{"BACKUP_KEY", "backup: key of the state backup (empty when there was no state yet)."},
	{"LAYER_PATH", "build-layer: path of the layer zip."},
	{"LAYER_SHA256", "build-layer: base64 SHA-256 of the zip, equal to Terraform's filebase64sha256."},
	{"LAYER_SIZE", "build-layer: zip size in bytes."},
	{"TFSTATE_GUARD_PATH", "install: the installed binary, as later steps see it (its folder is on their PATH)."},
}

func renderActionYAML() string {
	var b strings.Builder
	b.WriteString(`# Generated from inputs.go by "go test -run TestActionYAML -update ."; edit inputs.go, not this file.
name: tfstate-guard
description: Keep Terraform S3-backend state safe in CI - set up the backend, tell live locks from dead ones, remove approved stale locks, back up state, build a reproducible Lambda layer.
author: Text2Agent
branding:
  icon: lock
  color: green
inputs:
`)
	for _, in := range inputs {
		modes := make([]string, len(in.Modes))
		for i, m := range in.Modes {
			modes[i] = string(m)
		}
		fmt.Fprintf(&b, "  %s:\n    description: %s\n", in.Name, yamlString(fmt.Sprintf("%s (modes: %s)", in.Help, strings.Join(modes, ", "))))
		if in.Name == "mode" {
			b.WriteString("    required: true\n")
			continue
		}
		b.WriteString("    required: false\n")
		def := in.Default
		if in.ActionDefault != "" {
			def = in.ActionDefault
		}
		fmt.Fprintf(&b, "    default: %s\n", yamlString(def))
	}
	b.WriteString("outputs:\n")
	for _, o := range outputs {
		fmt.Fprintf(&b, "  %s:\n    description: %s\n", o.Name, yamlString(o.Help))
	}
	b.WriteString(`runs:
  using: docker
  image: Dockerfile
`)
	return b.String()
}

func yamlString(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

func TestActionYAML(t *testing.T) {
	want := renderActionYAML()
	if *updateAction {
		require.NoError(t, os.WriteFile("action.yml", []byte(want), 0o644))
	}
	got, err := os.ReadFile("action.yml")
	require.NoError(t, err, "run: go test -run TestActionYAML -update .")
	// A release commit differs in one line only: release.yml pins the
	// published image there (scripts/pin-action-image.sh).
	got = pinnedImage.ReplaceAll(got, []byte("  image: Dockerfile"))
	assert.Equal(t, want, string(got), "action.yml is out of date: run go test -run TestActionYAML -update .")
}

func TestEveryInputIsReadByItsModes(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, in := range inputs {
		assert.False(t, seen[in.Name], "input %s declared twice", in.Name)
		seen[in.Name] = true
		assert.Regexp(t, `^[a-z][a-z0-9-]*$`, in.Name, "inputs are kebab-case")
		assert.NotEmpty(t, in.Modes, in.Name)
		assert.NotEmpty(t, in.Help, in.Name)
	}
}
