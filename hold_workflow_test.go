package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The reusable pipeline passes hold-locks to every detect and unlock, and
// stale-lock-check fails on a held state, so plan (which needs its
// success) and apply (which needs plan) do not start.
func TestTerraformWorkflowStopsOnAHeldState(t *testing.T) {
	t.Parallel()
	w := readWorkflow(t, ".github/workflows/terraform.yml")
	assert.Equal(t, "", w.On.WorkflowCall.Inputs["hold-locks"].Default)
	passed := 0
	for name, job := range w.Jobs {
		for _, s := range job.Steps {
			if m := s.With["mode"]; m == "detect" || m == "unlock" {
				assert.Equal(t, "${{ inputs.hold-locks }}", s.With["hold-locks"], "%s: %s", name, m)
				passed++
			}
		}
	}
	assert.Equal(t, 5, passed, "four detects (check, approval, apply, destroy) and one unlock")
	steps := w.Jobs["stale-lock-check"].Steps
	stop := -1
	for i, s := range steps {
		if s.If == "steps.detect.outputs.HELD_LOCKS_FOUND == 'true'" {
			stop = i
		}
	}
	require.NotEqual(t, -1, stop, "a step stopping on a held state")
	assert.Contains(t, steps[stop].Run, "exit 1")
}

// The sweep passes hold-locks and the optional webhook secret.
func TestLockSweepWorkflowHoldsAndNotifies(t *testing.T) {
	t.Parallel()
	w := readWorkflow(t, ".github/workflows/lock-sweep.yml")
	for _, s := range w.Jobs["sweep"].Steps {
		if s.ID == "detect" {
			assert.Equal(t, "${{ inputs.hold-locks }}", s.With["hold-locks"])
			assert.Equal(t, "${{ secrets.NOTIFY_WEBHOOK }}", s.With["notify-webhook"])
			return
		}
	}
	t.Fatal("no detect step")
}
