package report

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/text2agent/tfstate-guard/layer"
)

func sampleLayer() *layer.Result {
	return &layer.Result{
		Path:          "dist/psycopg2-layer.zip",
		SHA256Base64:  "U2J6A5pYuwENwe3/HF4GVoSLrpqFaCoE/rVUYcwvUYk=",
		Size:          3_145_728,
		UnzippedSize:  10_485_760 + 512,
		Files:         1234,
		PythonVersion: "3.11",
		Architecture:  "x86_64",
		Glibc:         "2.26",
		Packages: []layer.Package{
			{Name: "psycopg2-binary", Version: "2.9.10", Filename: "psycopg2_binary-2.9.10-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", Size: 3_040_000, SHA256: "5f6a1a5fbc22a1cfd43ae3c9d9c1b38fdb8ce6ed5b36e0e1fc5bd55a48b4ed44", Tag: "cp311-cp311-manylinux_2_17_x86_64"},
			// A hostile index can put anything in names it serves.
			{Name: "evil|pkg", Version: "1.0<script>", Filename: "evil_pkg-1.0-py3-none-any.whl`[x](javascript:alert(1))`", Size: 900, SHA256: "00ff"},
		},
		Warnings: []string{
			"the index gave no sha256 for evil_pkg-1.0-py3-none-any.whl and requirements line 2 has no --hash; its content is unverified",
		},
	}
}

func TestLayerSummaryGolden(t *testing.T) {
	t.Parallel()
	golden(t, "layer-summary.md", LayerSummary(sampleLayer()))
}

func TestLayerSummaryEdges(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		r        *layer.Result
		contains []string
		absent   []string
	}{
		{"nil", nil, []string{"## Lambda layer: not built"}, []string{"| Output"}},
		{"no packages, no warnings", &layer.Result{Path: "l.zip", Size: 22, PythonVersion: "3.12", Architecture: "arm64", Glibc: "2.34"}, []string{
			"## Lambda layer: l.zip (22 B)", "CPython 3.12 on arm64, glibc 2.34: 0 package(s)", "| LAYER_SIZE | 22 |",
		}, []string{"[!WARNING]", "| Package"}},
		{"hostile names are escaped", sampleLayer(), []string{
			`| evil\|pkg | 1.0&lt;script&gt; | evil\_pkg-1.0-py3-none-any.whl\` + "`" + `\[x\](javascript:alert(1))\` + "`" + ` |`,
		}, []string{"<script>", "[x](javascript"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := LayerSummary(tt.r)
			for _, c := range tt.contains {
				assert.Contains(t, got, c)
			}
			for _, a := range tt.absent {
				assert.NotContains(t, got, a)
			}
		})
	}
}

func TestLayerOutputs(t *testing.T) {
	t.Parallel()
	got := LayerOutputs(sampleLayer())
	assert.Equal(t, []Pair{
		{"LAYER_PATH", "dist/psycopg2-layer.zip"},
		{"LAYER_SHA256", "U2J6A5pYuwENwe3/HF4GVoSLrpqFaCoE/rVUYcwvUYk="},
		{"LAYER_SIZE", "3145728"},
	}, got)
	for _, p := range got {
		assert.False(t, strings.ContainsAny(p.Value, "\r\n"))
	}
}
