package report

import (
	"fmt"
	"strings"

	"github.com/text2agent/tfstate-guard/lockcheck"
)

// heldIDs is HELD_LOCK_IDS: the IDs of the locks held on purpose,
// comma-separated (an ID that is not a plain token is left out, as in
// LOCK_IDS; LOCK_DETAILS has every lock).
func heldIDs(det *lockcheck.Detection) string {
	var ids []string
	for _, v := range det.Held() {
		ids = append(ids, v.Lock.ID())
	}
	return idList(ids)
}

// heldSection is the summary's callout about locks held on purpose: they
// block Terraform on their states, and nothing here removes them.
func heldSection(held []lockcheck.Verdict) string {
	if len(held) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "### Held on purpose: %d lock(s)\n\n", len(held))
	b.WriteString("A `hold-locks` pattern matches these locks. They are never stale, never offered for approval and never removed; " +
		"Terraform cannot lock these states until their holders release them, and detect does not wait for them.\n\n")
	for i, v := range held {
		if i == maxSummaryRows || b.Len() > summaryBudget {
			fmt.Fprintf(&b, "- …and %d more: see the LOCK_DETAILS output.\n", len(held)-i)
			break
		}
		fmt.Fprintf(&b, "- %s: held by %s since %s (%s)\n", Cell(clip(v.Lock.LockPath)), Cell(clip(v.Lock.Info.Who)), Cell(clip(v.Lock.Info.Created)), Cell(clip(v.Reason)))
	}
	b.WriteString("\n")
	return b.String()
}
