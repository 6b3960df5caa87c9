package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/text2agent/tfstate-guard/lockcheck"
)

// LockDetail is one element of the LOCK_DETAILS output and of --json.
type LockDetail struct {
	LockID       string   `json:"lock_id"`
	LockPath     string   `json:"lock_path"`
	Sources      []string `json:"sources"`
	Who          string   `json:"who"`
	Operation    string   `json:"operation"`
	Version      string   `json:"version"`
	Created      string   `json:"created"`
	AgeSeconds   *int64   `json:"age_seconds"`
	Status       string   `json:"status"`
	Rule         string   `json:"rule"`
	Evidence     string   `json:"evidence"`
	Reason       string   `json:"reason"`
	OwnerRunID   int64    `json:"owner_run_id,omitempty"`
	OwnerRunURL  string   `json:"owner_run_url,omitempty"`
	Approvable   bool     `json:"approvable"`
	ParseProblem string   `json:"parse_problem,omitempty"`
}

// Approvable reports whether a stale lock's ID can be put up for approval:
// only an ID lockcheck.ValidLockID accepts (no comma, space, quote or
// control character) travels in the comma-separated LOCK_IDS list.
func Approvable(v lockcheck.Verdict) bool {
	return v.Status == lockcheck.StatusStale && lockcheck.ValidLockID(v.Lock.ID())
}

// idList joins the IDs that pass lockcheck.ValidLockID, the check LOCK_IDS
// passes, for every comma-separated ID output: an ID read from a table
// (hostile content) never reaches a caller's script unchecked. The full
// record of every ID is in the JSON details outputs.
func idList(ids []string) string {
	safe := make([]string, 0, len(ids))
	for _, id := range ids {
		if lockcheck.ValidLockID(id) {
			safe = append(safe, id)
		}
	}
	return strings.Join(safe, ",")
}

// Details converts verdicts to LOCK_DETAILS elements.
func Details(vs []lockcheck.Verdict) []LockDetail {
	out := make([]LockDetail, 0, len(vs))
	for _, v := range vs {
		d := LockDetail{
			LockID:       v.Lock.ID(),
			LockPath:     v.Lock.LockPath,
			Who:          v.Lock.Info.Who,
			Operation:    v.Lock.Info.Operation,
			Version:      v.Lock.Info.Version,
			Created:      v.Lock.Info.Created,
			Status:       string(v.Status),
			Rule:         string(v.Rule),
			Evidence:     string(v.Evidence),
			Reason:       v.Reason,
			Approvable:   Approvable(v),
			ParseProblem: v.Lock.ParseProblem,
		}
		for _, s := range v.Lock.Sources {
			d.Sources = append(d.Sources, string(s.Source))
		}
		if v.AgeKnown {
			secs := int64(v.Age / time.Second)
			d.AgeSeconds = &secs
		}
		if v.Owner != nil {
			d.OwnerRunID, d.OwnerRunURL = v.Owner.ID, v.Owner.URL
		}
		out = append(out, d)
	}
	return out
}

// DetectOutputs are the step outputs (and exported variables) of detect.
func DetectOutputs(det *lockcheck.Detection) ([]Pair, error) {
	stale, active := det.Stale(), det.Active()
	var ids []string
	for _, v := range stale {
		if Approvable(v) {
			ids = append(ids, v.Lock.ID())
		}
	}
	details, err := marshalJSON(Details(det.Verdicts))
	if err != nil {
		return nil, err
	}
	return []Pair{
		{"STALE_LOCKS_FOUND", strconv.FormatBool(len(stale) > 0)},
		{"ACTIVE_LOCKS_FOUND", strconv.FormatBool(len(active) > 0)},
		{"LOCK_COUNT", strconv.Itoa(len(det.Verdicts))},
		{"LOCK_IDS", idList(ids)},
		{"LOCK_DETAILS", details},
		{"HELD_LOCKS_FOUND", strconv.FormatBool(len(det.Held()) > 0)},
		{"HELD_LOCK_IDS", heldIDs(det)},
	}, nil
}

// marshalJSON renders compact JSON on one line; HTML characters are escaped
// so the value is safe to echo into logs and pages.
func marshalJSON(v any) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(true)
	if err := enc.Encode(v); err != nil {
		return "", fmt.Errorf("encode lock details: %w", err)
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}

// Headline is the one-line verdict of a detection.
func Headline(det *lockcheck.Detection) string {
	switch stale, active, held := len(det.Stale()), len(det.Active()), len(det.Held()); {
	case active > 0 && held > 0:
		return fmt.Sprintf("Active locks: blocked (%d active, %d held on purpose, %d stale)", active, held, stale)
	case held > 0 && stale > 0:
		return fmt.Sprintf("Held on purpose: blocked (%d held), and stale locks need approval (%d stale)", held, stale)
	case held > 0:
		return fmt.Sprintf("Held on purpose: blocked (%d held)", held)
	case active > 0:
		return fmt.Sprintf("Active locks: blocked (%d active, %d stale)", active, stale)
	case stale > 0:
		return fmt.Sprintf("Stale locks: approval required (%d stale)", stale)
	default:
		return "No locks"
	}
}

// The step summary stays far below the runner's 1 MiB limit: at most
// maxSummaryRows rows, cells clipped to maxCellRunes, and no row past
// summaryBudget bytes. LOCK_DETAILS has every lock in full.
const (
	maxSummaryRows = 200
	maxCellRunes   = 300
	summaryBudget  = 900 << 10
)

// clip shortens lock content for a table cell (before escaping).
func clip(s string) string {
	r := []rune(s)
	if len(r) <= maxCellRunes {
		return s
	}
	return string(r[:maxCellRunes]) + "…"
}

// DetectSummary renders the step summary of a detection. where names the
// stores read (already escaped by the caller with Code or Cell).
func DetectSummary(det *lockcheck.Detection, where string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Terraform state locks: %s\n\n", Headline(det))
	fmt.Fprintf(&b, "Read %s: %d lock(s), %d run record(s)", where, len(det.Verdicts), det.Records)
	if n := skippedTotal(det.Skipped); n > 0 {
		fmt.Fprintf(&b, ", %d other item(s) skipped (%s)", n, skippedList(det.Skipped))
	}
	b.WriteString(".\n\n")
	for _, p := range det.APIProblems() {
		fmt.Fprintf(&b, "> [!WARNING]\n> GitHub could not be asked, so the age rules decided: %s\n\n", Cell(p))
	}
	if len(det.Verdicts) == 0 {
		b.WriteString("Nothing holds a lock. Terraform can proceed.\n")
		return b.String()
	}
	b.WriteString(heldSection(det.Held()))
	b.WriteString(approvalNotice(det.Stale()))
	b.WriteString("| Status | Evidence | Lock ID | State | Age | Who | Operation | Owner run | Reason |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|\n")
	for i, v := range det.Verdicts {
		if i == maxSummaryRows || b.Len() > summaryBudget {
			fmt.Fprintf(&b, "\n…and %d more lock(s): see the LOCK_DETAILS output.\n", len(det.Verdicts)-i)
			break
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			statusBadge(v.Status), EvidenceWords(v.Status, v.Evidence), Cell(clip(v.Lock.ID())), Cell(clip(v.Lock.LockPath)), age(v), Cell(clip(v.Lock.Info.Who)),
			Cell(clip(v.Lock.Info.Operation)), ownerLink(v), Cell(clip(v.Reason)))
	}
	if stale := det.Stale(); len(stale) > 0 {
		b.WriteString("\n")
		for _, v := range stale {
			if !Approvable(v) {
				if b.Len() > summaryBudget {
					break
				}
				fmt.Fprintf(&b, "- Stale lock on %s has no lock ID that can be approved (%s); check it and remove it by hand.\n",
					Cell(clip(v.Lock.LockPath)), Cell(clip(v.Lock.ID())))
			}
		}
	}
	return b.String()
}

func statusBadge(s lockcheck.Status) string {
	if s == lockcheck.StatusActive {
		return "🔒 ACTIVE"
	}
	if s == lockcheck.StatusHeld {
		return "📌 HELD"
	}
	return "⚠️ STALE"
}

func age(v lockcheck.Verdict) string {
	if !v.AgeKnown {
		return "unknown"
	}
	return v.Age.Round(time.Second).String()
}

// linkEscaper percent-encodes what would end a link destination, a table
// cell or a line (the URL comes from the API, not from us).
var linkEscaper = strings.NewReplacer("(", "%28", ")", "%29", " ", "%20", "|", "%7C", "<", "%3C", ">", "%3E",
	"\n", "%0A", "\r", "%0D", "\\", "%5C", "\t", "%09")

func ownerLink(v lockcheck.Verdict) string {
	if v.Owner == nil {
		return "—"
	}
	label := fmt.Sprintf("run %d (%s)", v.Owner.ID, v.Owner.Status)
	if u := v.Owner.URL; strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://") {
		return fmt.Sprintf("[%s](%s)", Cell(label), linkEscaper.Replace(u))
	}
	return Cell(label)
}

func skippedTotal(m map[string]int) int {
	n := 0
	for _, c := range m {
		n += c
	}
	return n
}

func skippedList(m map[string]int) string {
	var parts []string
	for _, k := range []string{"digest", "unreadable run record", "run record of an earlier layout (ignored)", "other"} {
		if m[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", m[k], k))
		}
	}
	return strings.Join(parts, ", ")
}
