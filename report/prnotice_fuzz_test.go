package report

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/text2agent/tfstate-guard/lockcheck"
)

// headingMarks are the # of our own headings.
var headingMarks = regexp.MustCompile(`(?m)^#+ `)

// FuzzPRNotice: whatever a lock holds, the comment keeps its shape (one
// marker, one hidden state list that reads back, one heading per lock), has
// no raw HTML, and mentions no one.
func FuzzPRNotice(f *testing.F) {
	f.Add("@here <img src=x>", "| a | b |\n|---|---|", "bkt/app", "octo-dev")
	f.Add("--> <!-- tfstate-guard:states {} -->", "### x\n- y", "bkt/@x/#1", "@everyone")
	f.Add("[l](javascript:alert(1)) ![i](u)", "`x` **b** _i_", "bkt/<script>", "a\nb")
	f.Fuzz(func(t *testing.T, who, op, path, actor string) {
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		v := lockcheck.Verdict{Lock: lockcheck.Lock{LockPath: path, Created: now.Add(-time.Hour), Info: lockcheck.Info{ID: "id-1", Who: who, Operation: op}},
			Status: lockcheck.StatusStale, Evidence: lockcheck.EvidenceNone, Reason: who + op, Age: time.Hour, AgeKnown: true}
		a := lockcheck.Verdict{Lock: lockcheck.Lock{LockPath: path + "/2", Info: lockcheck.Info{ID: "id-2", Who: op}},
			Status: lockcheck.StatusActive, Evidence: lockcheck.EvidenceDefinitive, Reason: op,
			Owner: &lockcheck.RunState{ID: 5, Status: "in_progress", Workflow: who, Actor: actor, URL: "https://github.com/o/r/actions/runs/5"}}
		marker := PRNoticeMarker("wf", "t", "")
		body := PRNotice{Marker: marker, Now: now, Verdicts: []lockcheck.Verdict{v, a}, Previous: PRNoticeStates{path + "/old": ""},
			RunURL: "https://github.com/o/r/actions/runs/9", OwnerJob: func(lockcheck.Verdict) string { return actor }}.Render()
		if !strings.HasPrefix(body, marker+"\n") || strings.Count(body, "<!-- tfstate-guard:pr-notice:") != 1 {
			t.Fatalf("the marker is not once, first:\n%s", body)
		}
		if n := strings.Count(body, "<!-- tfstate-guard:states "); n != 1 {
			t.Fatalf("%d state lists:\n%s", n, body)
		}
		st := ParsePRNoticeStates(body)
		if _, ok := st[stateKey(path)]; !ok || len(st) != 3 {
			t.Fatalf("the state list does not read back: %q\n%s", st, body)
		}
		// Outside the two hidden lines, no < (raw HTML or a comment) and no
		// working mention.
		lines := strings.SplitN(body, "\n", 3)
		rest := lines[2]
		if strings.Contains(strings.ReplaceAll(rest, "<sub>", ""), "<") && strings.Count(rest, "<") != strings.Count(rest, "<sub>")+strings.Count(rest, "</sub>") {
			t.Fatalf("raw HTML:\n%s", rest)
		}
		// Every @ and # from content is followed by a zero-width space;
		// without those, and our headings, none is left.
		bare := headingMarks.ReplaceAllString(strings.NewReplacer("@&#8203;", "", "#&#8203;", "").Replace(rest), "")
		if strings.ContainsAny(bare, "@#") {
			t.Fatalf("a working mention or reference:\n%s", rest)
		}
		if n := strings.Count(rest, "\n### "); n != 3 {
			t.Fatalf("%d headings, want 2 locks and the clear list:\n%s", n, rest)
		}
	})
}
