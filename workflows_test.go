package main

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// workflow is the part of a workflow file these tests read.
type workflow struct {
	On struct {
		WorkflowCall struct {
			Inputs map[string]struct {
				Default any `yaml:"default"`
			} `yaml:"inputs"`
		} `yaml:"workflow_call"`
	} `yaml:"on"`
	Jobs map[string]struct {
		Steps []struct {
			ID   string            `yaml:"id"`
			If   string            `yaml:"if"`
			Uses string            `yaml:"uses"`
			With map[string]string `yaml:"with"`
			Env  map[string]string `yaml:"env"`
			Run  string            `yaml:"run"`
		} `yaml:"steps"`
	} `yaml:"jobs"`
}

func readWorkflow(t *testing.T, path string) workflow {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var w workflow
	require.NoError(t, yaml.Unmarshal(data, &w))
	return w
}

// The sweep reads every lock (no path filter), passes auto-unlock through
// (off unless the caller says so), and fails only when stale locks still
// need a person.
func TestLockSweepWorkflow(t *testing.T) {
	t.Parallel()
	w := readWorkflow(t, ".github/workflows/lock-sweep.yml")
	assert.Equal(t, "off", w.On.WorkflowCall.Inputs["auto-unlock"].Default)
	steps := w.Jobs["sweep"].Steps
	var detect, fail int = -1, -1
	for i, s := range steps {
		if s.ID == "detect" {
			detect = i
		}
		if s.If == "steps.detect.outputs.STALE_LOCKS_FOUND == 'true'" {
			fail = i
		}
	}
	require.NotEqual(t, -1, detect, "a detect step")
	require.NotEqual(t, -1, fail, "a step failing on stale locks")
	d := steps[detect]
	assert.Equal(t, "./.tfstate-guard", d.Uses)
	assert.Equal(t, "detect", d.With["mode"])
	assert.Equal(t, "${{ inputs.auto-unlock }}", d.With["auto-unlock"])
	assert.Equal(t, "false", d.With["fail-on-active"])
	assert.NotContains(t, d.With, "lock-id-prefix", "every lock, no path filter")
	assert.NotContains(t, d.With, "state-prefix")
	assert.Contains(t, steps[fail].Run, "exit 1")
	assert.Contains(t, steps[fail].Run, "${APPROVAL}", "the message names the approval workflow")
}

// The reusable pipeline names the host before every setup and passes the
// new detect inputs through.
func TestTerraformWorkflowPassesEvidenceInputs(t *testing.T) {
	t.Parallel()
	w := readWorkflow(t, ".github/workflows/terraform.yml")
	assert.Equal(t, "off", w.On.WorkflowCall.Inputs["auto-unlock"].Default)
	assert.Equal(t, "0", w.On.WorkflowCall.Inputs["wait-for-active"].Default)
	setups := 0
	for name, job := range w.Jobs {
		for i, s := range job.Steps {
			switch s.With["mode"] {
			case "setup":
				setups++
				assert.Equal(t, "${{ steps.host.outputs.name }}", s.With["runner-host"], name)
				require.Positive(t, i, name)
				assert.Equal(t, "host", job.Steps[i-1].ID, "%s: the host is named just before setup", name)
			case "detect":
				if name == "stale-lock-check" {
					assert.Equal(t, "${{ inputs.auto-unlock }}", s.With["auto-unlock"])
					assert.Equal(t, "${{ inputs.wait-for-active }}", s.With["wait-for-active"])
				}
			}
		}
	}
	assert.Equal(t, 4, setups)
}
