package report

import (
	"fmt"
	"strings"

	"github.com/text2agent/tfstate-guard/lockcheck"
)

// EvidenceWords says, in a reviewer's words, what a verdict rests on: a
// proven owner, or only the lock's age.
func EvidenceWords(status lockcheck.Status, e lockcheck.Evidence) string {
	switch {
	case status == lockcheck.StatusHeld:
		return "held on purpose: a hold-locks pattern matches it"
	case e == lockcheck.EvidenceDefinitive && status == lockcheck.StatusStale:
		return "proven: its owner has ended"
	case e == lockcheck.EvidenceDefinitive:
		return "proven: its owner is running"
	case e == lockcheck.EvidenceCircumstantial && status == lockcheck.StatusActive:
		return "likely: a run that may own it is running, or it is young"
	case e == lockcheck.EvidenceCircumstantial:
		return "age only: a likely owner has ended, but nothing proves it held this lock"
	case status == lockcheck.StatusStale:
		return "age only: nothing ties it to a run"
	default:
		return "age only: too young to call stale"
	}
}

// staleByEvidence counts stale verdicts whose owner is proven gone and
// those stale only by age.
func staleByEvidence(stale []lockcheck.Verdict) (proven, ageOnly int) {
	for _, v := range stale {
		if v.Evidence == lockcheck.EvidenceDefinitive {
			proven++
		} else {
			ageOnly++
		}
	}
	return proven, ageOnly
}

// approvalNotice is the callout above the locks table that a reviewer
// cannot miss: how many stale locks are proven dead and how many are
// judged by age alone.
func approvalNotice(stale []lockcheck.Verdict) string {
	proven, ageOnly := staleByEvidence(stale)
	var b strings.Builder
	if proven > 0 {
		fmt.Fprintf(&b, "> [!NOTE]\n> **%d stale lock(s) with a proven dead owner**: the run that took each lock has ended (its hostname, or a run record of its own single-job host, ties it to the lock).\n\n", proven)
	}
	if ageOnly > 0 {
		fmt.Fprintf(&b, "> [!CAUTION]\n> **%d stale lock(s) judged by age alone**: nothing proves their owner has ended. Before approving, check that no one (a laptop, another workflow, another repository) is still running Terraform on these states.\n\n", ageOnly)
	}
	return b.String()
}
