package report

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/text2agent/tfstate-guard/lockcheck"
)

// AutoUnlockOutputs are detect's outputs about the locks auto-unlock removed.
func AutoUnlockOutputs(results []lockcheck.UnlockResult) []Pair {
	var ids []string
	for _, r := range results {
		if r.Outcome == lockcheck.OutcomeRemoved && lockcheck.ValidLockID(r.ID) {
			ids = append(ids, r.ID)
		}
	}
	return []Pair{
		{"AUTO_UNLOCKED_LOCK_IDS", idList(ids)},
		{"AUTO_UNLOCKED_COUNT", strconv.Itoa(len(ids))},
	}
}

// AutoUnlockSummary is the audit of every automatic removal (and of every
// one that was attempted and refused), for the step summary.
func AutoUnlockSummary(results []lockcheck.UnlockResult) string {
	if len(results) == 0 {
		return ""
	}
	var b strings.Builder
	removed := 0
	for _, r := range results {
		if r.Outcome == lockcheck.OutcomeRemoved {
			removed++
		}
	}
	fmt.Fprintf(&b, "## Removed without approval: %d lock(s) whose owner is proven gone\n\n", removed)
	b.WriteString("auto-unlock is `definitive`: these locks were re-read, classified again, and deleted only if unchanged.\n\n")
	b.WriteString("| Outcome | Lock ID | State | Evidence |\n|---|---|---|---|\n")
	for _, r := range results {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", outcomeBadge(r.Outcome), Cell(clip(r.ID)), Cell(clip(r.LockPath)), Cell(clip(r.Reason)))
	}
	b.WriteString("\n")
	return b.String()
}

// AutoUnlockTable prints the automatic removals for a terminal.
func AutoUnlockTable(w io.Writer, results []lockcheck.UnlockResult) error {
	if len(results) == 0 {
		return nil
	}
	fmt.Fprintln(w, "auto-unlock (owner proven gone):")
	if err := UnlockTable(w, results); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w)
	return err
}
