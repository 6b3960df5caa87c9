// Package report is the only code that knows the GitHub Actions runner: it
// writes step outputs and environment through file commands, renders step
// summaries as Markdown and emits annotations. Domain packages hand it plain
// results; everything taken from lock content is treated as hostile here.
package report

import "strings"

var cellEscaper = strings.NewReplacer(
	`\`, `\\`,
	"|", `\|`,
	"`", "\\`",
	"<", "&lt;",
	">", "&gt;",
	"&", "&amp;",
	"*", `\*`,
	"_", `\_`,
	"[", `\[`,
	"]", `\]`,
	"\r\n", " ",
	"\n", " ",
	"\r", " ",
)

// Cell escapes text for one Markdown table cell: pipes, HTML, backticks,
// emphasis and link syntax are neutralised and newlines folded, so that
// hostile content cannot break the table or inject markup.
func Cell(s string) string {
	if s == "" {
		return "—"
	}
	return cellEscaper.Replace(s)
}
