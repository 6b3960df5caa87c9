package report

// Fuzz targets for the only code that writes to the runner: no value may
// add or change another output or variable, break out of its table cell,
// inject HTML, or start a workflow command of its own.

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-githubactions"
	"github.com/text2agent/tfstate-guard/lockcheck"
)

func FuzzFileCommand(f *testing.F) {
	f.Add("plain", "1")
	f.Add("LOCK_IDS<<EOF\nevil\nEOF", "x\nLOCK_COUNT=9")
	f.Add("ghadelimiter_00000000000000000000000000000000\nA=1", "\r\n")
	f.Add("\n", "")
	f.Fuzz(func(t *testing.T, who, ids string) {
		path := filepath.Join(t.TempDir(), "output")
		pairs := []Pair{{"WHO", who}, {"LOCK_IDS", ids}, {"LOCK_COUNT", "1"}}
		if err := AppendFileCommand(path, pairs); err != nil {
			// Refusing a value is safe (it happens only when a value
			// contains the random delimiter); writing part of it is not.
			if data, _ := os.ReadFile(path); len(data) > 0 {
				t.Fatalf("refused, but wrote %q", data)
			}
			return
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseFileCommand(data)
		if err != nil {
			t.Fatalf("the runner could not read the file back: %v\n%q", err, data)
		}
		if len(got) != 3 {
			t.Fatalf("values added or removed an output: %q", got)
		}
		// The runner reads lines without their CR, so CRs inside a value
		// are all a value can lose; it can never change another entry.
		for _, p := range pairs {
			if strings.ReplaceAll(got[p.Name], "\r", "") != strings.ReplaceAll(p.Value, "\r", "") {
				t.Fatalf("%s = %q, wrote %q", p.Name, got[p.Name], p.Value)
			}
		}
	})
}

// cells splits a Markdown table row as GitHub's table extension does: a
// backslash escapes the next character; every other pipe ends a cell.
func cells(row string) []string {
	var out []string
	var cur strings.Builder
	for i := 0; i < len(row); i++ {
		switch c := row[i]; {
		case c == '\\' && i+1 < len(row):
			cur.WriteByte(c)
			cur.WriteByte(row[i+1])
			i++
		case c == '|':
			out = append(out, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	return append(out, cur.String())
}

func FuzzDetectSummary(f *testing.F) {
	f.Add("9161f8d3", "b/app/terraform.tfstate", "runner@fv-az1", "OperationTypeApply", "too old", "https://github.com/o/r/actions/runs/1", true)
	f.Add("a|b", "<script>alert(1)</script>", "x\n| injected | row |", "`code`", "[link](javascript:alert(1))", "https://x/\n|", false)
	f.Add("id,2", "\\|", "::add-mask::secret", "**bold**", "<!-- -->", "http://a b(c)", true)
	f.Fuzz(func(t *testing.T, id, path, who, op, reason, url string, stale bool) {
		st := lockcheck.StatusActive
		if stale {
			st = lockcheck.StatusStale
		}
		v := lockcheck.Verdict{
			Lock:   lockcheck.Lock{LockPath: path, Info: lockcheck.Info{ID: id, Who: who, Operation: op}},
			Status: st, Reason: reason, Age: time.Minute, AgeKnown: true,
			Owner: &lockcheck.RunState{ID: 7, Status: "completed", URL: url},
		}
		det := &lockcheck.Detection{Verdicts: []lockcheck.Verdict{v}}
		sum := DetectSummary(det, "DynamoDB table `t`")
		lines := strings.Split(sum, "\n")
		var rows []string
		var header string
		for i, l := range lines {
			if strings.HasPrefix(l, "| Status") {
				header = l
			}
			if strings.HasPrefix(l, "|---") {
				for _, r := range lines[i+1:] {
					if strings.HasPrefix(r, "|") {
						rows = append(rows, r)
					}
				}
				break
			}
		}
		if len(rows) != 1 {
			t.Fatalf("one lock, %d table rows:\n%s", len(rows), sum)
		}
		if got, want := len(cells(rows[0])), len(cells(header)); got != want || want < 4 {
			t.Fatalf("row has %d cells, the header %d:\n%s\n%s", got-2, want-2, header, rows[0])
		}
		for _, l := range lines {
			if strings.HasPrefix(l, "|") && l != rows[0] && !strings.HasPrefix(l, "| Status") && !strings.HasPrefix(l, "|---") {
				t.Fatalf("a value started a table row of its own: %q", l)
			}
		}
		if strings.ContainsAny(rows[0], "<>") {
			t.Fatalf("raw HTML in the summary row: %s", rows[0])
		}
		if n := strings.Count(sum, "\n- "); n > 1 {
			t.Fatalf("a value started a list item of its own:\n%s", sum)
		}
	})
}

func FuzzAnnotate(f *testing.F) {
	f.Add("9161f8d3", "b/k", "runner@h", "reason")
	f.Add("x\n::add-mask::y", "p%0A::set-output name=a::b", "w\r\n::stop-commands::z", "%25")
	f.Fuzz(func(t *testing.T, id, path, who, reason string) {
		var buf bytes.Buffer
		a := githubactions.New(githubactions.WithWriter(&buf), githubactions.WithGetenv(func(string) string { return "" }))
		det := &lockcheck.Detection{Verdicts: []lockcheck.Verdict{
			{Lock: lockcheck.Lock{LockPath: path, Info: lockcheck.Info{ID: id, Who: who}}, Status: lockcheck.StatusStale, Reason: reason},
			{Lock: lockcheck.Lock{LockPath: path, Info: lockcheck.Info{ID: id, Who: who}}, Status: lockcheck.StatusActive, Reason: reason, APIProblem: who},
		}}
		Annotate(a, det)
		lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
		// One per verdict, and at most one for the API problem: a value
		// that added a line would show up as one more.
		if len(lines) < 2 || len(lines) > 3 || (who == "" && len(lines) != 2) {
			t.Fatalf("2 verdicts (and %q as an API problem) gave %d lines:\n%s", who, len(lines), buf.String())
		}
		for _, l := range lines {
			if !strings.HasPrefix(l, "::error ") && !strings.HasPrefix(l, "::warning ") && !strings.HasPrefix(l, "::warning::") {
				t.Fatalf("a line that is not our annotation: %q", l)
			}
			if strings.Contains(l, "\r") {
				t.Fatalf("a raw CR reached the log: %q", l)
			}
		}
	})
}
