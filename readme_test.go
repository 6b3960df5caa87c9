package main

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func inputsTable() string {
	var b strings.Builder
	b.WriteString("| input | default | modes | description |\n|---|---|---|---|\n")
	for _, in := range inputs {
		modes := make([]string, len(in.Modes))
		for i, m := range in.Modes {
			modes[i] = string(m)
		}
		def := in.Default
		if in.ActionDefault != "" {
			def = in.ActionDefault
		}
		if def == "" {
			def = "—"
		} else {
			def = "`" + def + "`"
		}
		if in.Name == "mode" {
			def = "required"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", in.Name, def, strings.Join(modes, ", "), strings.ReplaceAll(in.Help, "|", `\|`))
	}
	return b.String()
}

func outputsTable() string {
	var b strings.Builder
	b.WriteString("| output | description |\n|---|---|\n")
	for _, o := range outputs {
		fmt.Fprintf(&b, "| `%s` | %s |\n", o.Name, o.Help)
	}
	return b.String()
}

func replaceBetween(doc, name, body string) string {
	re := regexp.MustCompile(`(?s)(<!-- ` + name + `:start -->\n).*?(<!-- ` + name + `:end -->)`)
	return re.ReplaceAllString(doc, "${1}"+strings.ReplaceAll(body, "$", "$$")+"${2}")
}

// TestReadmeTables keeps README's inputs and outputs tables equal to the
// input table; go test -run TestReadmeTables -update . rewrites them.
func TestReadmeTables(t *testing.T) {
	data, err := os.ReadFile("README.md")
	require.NoError(t, err)
	want := replaceBetween(replaceBetween(string(data), "inputs", inputsTable()), "outputs", outputsTable())
	if *updateAction {
		require.NoError(t, os.WriteFile("README.md", []byte(want), 0o644))
		data = []byte(want)
	}
	assert.Equal(t, want, string(data), "README tables are out of date: go test -run TestReadmeTables -update .")
	for _, in := range inputs {
		assert.Contains(t, string(data), "| `"+in.Name+"` |")
	}
}
