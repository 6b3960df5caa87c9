package report

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/text2agent/tfstate-guard/layer"
)

// LayerOutputs are the step outputs of build-layer: LAYER_PATH,
// LAYER_SHA256 (base64, as Terraform's filebase64sha256) and LAYER_SIZE
// (bytes).
func LayerOutputs(r *layer.Result) []Pair {
	return []Pair{
		{"LAYER_PATH", r.Path},
		{"LAYER_SHA256", r.SHA256Base64},
		{"LAYER_SIZE", strconv.FormatInt(r.Size, 10)},
	}
}

// LayerSummary renders the step summary of build-layer: the zip, its hash
// for Terraform, every package with its wheel, size and sha256, and the
// warnings. Package names and file names come from the index and are
// escaped like any other outside content.
func LayerSummary(r *layer.Result) string {
	var b strings.Builder
	if r == nil {
		b.WriteString("## Lambda layer: not built\n")
		return b.String()
	}
	fmt.Fprintf(&b, "## Lambda layer: %s (%s)\n\n", Cell(r.Path), layer.HumanBytes(r.Size))
	fmt.Fprintf(&b, "Built for CPython %s on %s, glibc %s: %d package(s), %d file(s), %s unzipped of Lambda's %s for a function and its layers.\n\n",
		Cell(r.PythonVersion), Cell(r.Architecture), Cell(r.Glibc), len(r.Packages), r.Files, layer.HumanBytes(r.UnzippedSize), layer.HumanBytes(layer.MaxUnzippedSize))
	for _, w := range r.Warnings {
		fmt.Fprintf(&b, "> [!WARNING]\n> %s\n\n", Cell(w))
	}
	b.WriteString("| Output | Value |\n|---|---|\n")
	for _, p := range LayerOutputs(r) {
		fmt.Fprintf(&b, "| %s | %s |\n", p.Name, Cell(p.Value))
	}
	b.WriteString("\n")
	if len(r.Packages) > 0 {
		b.WriteString("| Package | Version | Wheel | Size | SHA-256 |\n|---|---|---|---|---|\n")
		for _, p := range r.Packages {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", Cell(p.Name), Cell(p.Version), Cell(p.Filename), layer.HumanBytes(p.Size), Cell(p.SHA256))
		}
		b.WriteString("\n")
	}
	b.WriteString("The zip is reproducible: the same pins give the same bytes, so `source_code_hash = filebase64sha256(...)` only changes when a package does.\n")
	return b.String()
}
