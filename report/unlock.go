package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/text2agent/tfstate-guard/lockcheck"
)

// UnlockOutputs are the step outputs of unlock.
func UnlockOutputs(results []lockcheck.UnlockResult) ([]Pair, error) {
	var unlocked, refused, gone []string
	for _, r := range results {
		switch r.Outcome {
		case lockcheck.OutcomeRemoved:
			unlocked = append(unlocked, r.ID)
		case lockcheck.OutcomeAlreadyGone:
			gone = append(gone, r.ID)
		default:
			refused = append(refused, r.ID)
		}
	}
	details, err := UnlockDetails(results)
	if err != nil {
		return nil, err
	}
	return []Pair{
		{"UNLOCKED_LOCK_IDS", idList(unlocked)},
		{"REFUSED_LOCK_IDS", idList(refused)},
		{"ALREADY_RELEASED_LOCK_IDS", idList(gone)},
		{"UNLOCK_DETAILS", details},
	}, nil
}

// UnlockDetails is the UNLOCK_DETAILS output (and unlock's --json): one
// JSON object per approved ID with its outcome and reason.
func UnlockDetails(results []lockcheck.UnlockResult) (string, error) {
	type row struct {
		LockID   string   `json:"lock_id"`
		LockPath string   `json:"lock_path,omitempty"`
		Outcome  string   `json:"outcome"`
		Evidence string   `json:"evidence,omitempty"`
		Reason   string   `json:"reason"`
		Removed  []string `json:"removed_from,omitempty"`
		Left     []string `json:"still_held_in,omitempty"`
	}
	rows := make([]row, 0, len(results))
	for _, r := range results {
		rows = append(rows, row{r.ID, r.LockPath, string(r.Outcome), string(r.Evidence), r.Reason, sourceNames(r.Removed), sourceNames(r.Left)})
	}
	return marshalJSON(rows)
}

func sourceNames(ss []lockcheck.Source) []string {
	var out []string
	for _, s := range ss {
		out = append(out, string(s))
	}
	return out
}

// UnlockSummary renders what unlock removed, found gone and refused.
func UnlockSummary(results []lockcheck.UnlockResult) string {
	var b strings.Builder
	count := map[lockcheck.Outcome]int{}
	for _, r := range results {
		count[r.Outcome]++
	}
	fmt.Fprintf(&b, "## Terraform state unlock: %d removed, %d already released, %d refused",
		count[lockcheck.OutcomeRemoved], count[lockcheck.OutcomeAlreadyGone], count[lockcheck.OutcomeRefused])
	if n := count[lockcheck.OutcomeNotFound]; n > 0 {
		fmt.Fprintf(&b, ", %d not found", n)
	}
	b.WriteString("\n\n")
	if len(results) == 0 {
		b.WriteString("No lock IDs were approved.\n")
		return b.String()
	}
	b.WriteString("| Outcome | Evidence | Lock ID | State | Reason |\n|---|---|---|---|---|\n")
	for _, r := range results {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", outcomeBadge(r.Outcome), unlockEvidence(r), Cell(r.ID), Cell(r.LockPath), Cell(r.Reason))
	}
	return b.String()
}

func outcomeBadge(o lockcheck.Outcome) string {
	switch o {
	case lockcheck.OutcomeRemoved:
		return "✅ removed"
	case lockcheck.OutcomeAlreadyGone:
		return "☑️ already released"
	case lockcheck.OutcomeNotFound:
		return "❓ not found"
	default:
		return "⛔ refused"
	}
}

// UnlockTable prints unlock results for a terminal.
func UnlockTable(w io.Writer, results []lockcheck.UnlockResult) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "OUTCOME\tLOCK ID\tSTATE\tREASON")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Outcome, Terminal(r.ID), Terminal(r.LockPath), Terminal(r.Reason))
	}
	return tw.Flush()
}

// unlockEvidence says what a removal rested on: a proven dead owner, or the
// age rules and a person's approval.
func unlockEvidence(r lockcheck.UnlockResult) string {
	switch {
	case r.Evidence == "":
		return "—"
	case r.Outcome == lockcheck.OutcomeRemoved && r.Evidence == lockcheck.EvidenceDefinitive:
		return "owner proven gone"
	case r.Outcome == lockcheck.OutcomeRemoved:
		return "**age only**, approved by a person"
	default:
		return string(r.Evidence)
	}
}
