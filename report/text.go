package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"unicode"

	"github.com/sethvargo/go-githubactions"
	"github.com/text2agent/tfstate-guard/backend"
	"github.com/text2agent/tfstate-guard/lockcheck"
)

// Terminal makes text safe to print on a terminal: control characters
// (escape sequences a hostile lock could carry) are shown as \xNN.
func Terminal(s string) string {
	if s == "" {
		return "-"
	}
	var b strings.Builder
	for _, r := range s {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			fmt.Fprintf(&b, `\x%02x`, r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// DetectTable prints a detection as an aligned table for a person at a terminal.
func DetectTable(w io.Writer, det *lockcheck.Detection) error {
	// Why GitHub could not be asked is a warning the caller prints once.
	fmt.Fprintf(w, "%s\n\n", Headline(det))
	if len(det.Verdicts) == 0 {
		return nil
	}
	if proven, ageOnly := staleByEvidence(det.Stale()); proven+ageOnly > 0 {
		fmt.Fprintf(w, "stale: %d with a proven dead owner, %d judged by age alone (check no one still runs Terraform on those)\n\n", proven, ageOnly)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tEVIDENCE\tLOCK ID\tSTATE\tAGE\tWHO\tOPERATION\tREASON")
	for _, v := range det.Verdicts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v.Status, v.Evidence, Terminal(v.Lock.ID()), Terminal(v.Lock.LockPath),
			age(v), Terminal(v.Lock.Info.Who), Terminal(v.Lock.Info.Operation), Terminal(v.Reason))
	}
	return tw.Flush()
}

// Annotate emits an error annotation per active lock and a warning per
// stale one (problems asking GitHub are warned about by the caller, once). The toolkit escapes the message so lock content cannot start
// a workflow command of its own.
func Annotate(a *githubactions.Action, det *lockcheck.Detection) {
	for _, v := range det.Verdicts {
		fields := map[string]string{"title": fmt.Sprintf("%s Terraform lock", strings.ToLower(string(v.Status)))}
		msg := fmt.Sprintf("%s lock %s on %s (who %s): %s", v.Status, v.Lock.ID(), v.Lock.LockPath, v.Lock.Info.Who, v.Reason)
		if v.Status == lockcheck.StatusActive {
			a.WithFieldsMap(fields).Errorf("%s", msg)
		} else if v.Status == lockcheck.StatusHeld {
			a.WithFieldsMap(fields).Noticef("%s", msg)
		} else {
			a.WithFieldsMap(fields).Warningf("%s", msg)
		}
	}
}

// SetupTable prints what setup checked, one line per check, for a terminal.
func SetupTable(w io.Writer, r *backend.SetupResult) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RESOURCE\tSETTING\tSTATE\tDETAIL")
	for _, c := range r.Checks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Resource, c.Setting, c.State, Terminal(c.Detail))
	}
	return tw.Flush()
}
