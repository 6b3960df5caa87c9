package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/text2agent/tfstate-guard/lockcheck"
)

// DigestEntry is one element of the DIGEST_MISMATCHES output: what unlock's
// repair-digests takes back, once approved.
type DigestEntry struct {
	Path            string  `json:"path"`
	Status          string  `json:"status"`
	Digest          string  `json:"digest"`
	ActualMD5       string  `json:"actual_md5"`
	ObjectVersion   string  `json:"object_version"`
	Size            int64   `json:"size"`
	Lineage         string  `json:"lineage,omitempty"`
	Serial          *uint64 `json:"serial,omitempty"`
	PreviousVersion string  `json:"previous_version,omitempty"`
	PreviousLineage string  `json:"previous_lineage,omitempty"`
	PreviousSerial  *uint64 `json:"previous_serial,omitempty"`
	CauseKind       string  `json:"cause_kind"`
	Cause           string  `json:"cause"`
	RestoreVersion  string  `json:"restore_version,omitempty"`
	LeftoverDigest  bool    `json:"leftover_digest"`
}

// TerraformDigestError is the start of the error Terraform prints when a
// digest does not match (after retrying for about 10 s), on every plan and apply.
const TerraformDigestError = "Error: error loading state: state data in S3 does not have the expected content."

// DigestEntries converts the mismatches of a report to DIGEST_MISMATCHES.
func DigestEntries(rep *lockcheck.DigestReport, kinds []lockcheck.StateKinds) []DigestEntry {
	leftover := map[string]bool{}
	for _, k := range kinds {
		leftover[k.LockPath] = k.LeftoverDigest
	}
	out := []DigestEntry{}
	if rep == nil {
		return out
	}
	for _, c := range rep.Mismatches() {
		e := DigestEntry{
			Path: c.LockPath, Status: string(c.Status), Digest: c.Digest, CauseKind: c.CauseKind, Cause: c.Cause,
			LeftoverDigest: leftover[c.LockPath],
		}
		if c.Status == lockcheck.DigestMismatch {
			e.ActualMD5, e.ObjectVersion, e.Size = c.Current.MD5, c.Current.VersionID, c.Current.Size
			e.Lineage, e.Serial = identity(c.Current)
		}
		if p := c.Previous; p != nil {
			e.PreviousVersion = p.VersionID
			e.PreviousLineage, e.PreviousSerial = identity(*p)
		}
		if c.Status == lockcheck.DigestMissing && c.Matching != nil {
			e.RestoreVersion = c.Matching.VersionID
		}
		out = append(out, e)
	}
	return out
}

func identity(v lockcheck.StateVersion) (string, *uint64) {
	if !v.HasSerial {
		return "", nil
	}
	s := v.Serial
	return v.Lineage, &s
}

// DigestOutputs are detect's digest outputs.
func DigestOutputs(rep *lockcheck.DigestReport, kinds []lockcheck.StateKinds) ([]Pair, error) {
	entries := DigestEntries(rep, kinds)
	js, err := marshalJSON(entries)
	if err != nil {
		return nil, err
	}
	return []Pair{
		{"DIGEST_MISMATCH_FOUND", strconv.FormatBool(len(entries) > 0)},
		{"DIGEST_MISMATCHES", js},
	}, nil
}

// ParseDigestMismatches reads an approved DIGEST_MISMATCHES value.
func ParseDigestMismatches(raw string) ([]lockcheck.DigestApproval, error) {
	var entries []DigestEntry
	if err := json.Unmarshal([]byte(raw), &entries); err != nil {
		return nil, err
	}
	out := make([]lockcheck.DigestApproval, 0, len(entries))
	for i, e := range entries {
		if _, _, ok := lockcheck.SplitLockPath(e.Path); !ok || e.Digest == "" {
			return nil, fmt.Errorf("element %d has no path \"<bucket>/<key>\" and digest", i)
		}
		switch e.Status {
		case string(lockcheck.DigestMismatch):
			if e.ObjectVersion == "" || e.ActualMD5 == "" {
				return nil, fmt.Errorf("element %d (%s) has no object_version and actual_md5", i, e.Path)
			}
		case string(lockcheck.DigestMissing):
		default:
			return nil, fmt.Errorf("element %d (%s) has status %q, not mismatch or missing", i, e.Path, e.Status)
		}
		out = append(out, lockcheck.DigestApproval{
			LockPath: e.Path, Digest: e.Digest, VersionID: e.ObjectVersion, ActualMD5: e.ActualMD5,
			Missing: e.Status == string(lockcheck.DigestMissing), RestoreVersion: e.RestoreVersion,
		})
	}
	return out, nil
}

// DigestHeadline is the one-line verdict of a digest check.
func DigestHeadline(rep *lockcheck.DigestReport) string {
	bad := len(rep.Mismatches())
	if bad == 0 {
		return fmt.Sprintf("all %d digest(s) match", rep.Count(lockcheck.DigestOK))
	}
	return fmt.Sprintf("%d mismatch(es): Terraform fails on these states until they are repaired", bad)
}

// DigestSummary renders detect's digest section of the step summary.
func DigestSummary(rep *lockcheck.DigestReport, kinds []lockcheck.StateKinds) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Terraform state digests: %s\n\n", DigestHeadline(rep))
	fmt.Fprintf(&b, "Checked %d digest item(s) against the MD5 of their state's bytes (%d bytes read).\n\n", len(rep.Checks), rep.BytesRead)
	if rep.LimitReached {
		fmt.Fprintf(&b, "> [!WARNING]\n> The read limit (digest-read-limit, %d bytes) was reached: %d state(s) were not checked. Raise the limit or narrow lock-id-prefix.\n\n", rep.ReadLimit, rep.Count(lockcheck.DigestUnchecked))
	}
	if failed := rep.Failed(); len(failed) > 0 {
		fmt.Fprintf(&b, "> [!WARNING]\n> %d state(s) could not be read, so their digest was not checked. First: %s: %s\n\n", len(failed), Cell(clip(failed[0].LockPath)), Cell(clip(failed[0].Unchecked)))
	}
	if mm := rep.Mismatches(); len(mm) > 0 {
		b.WriteString("Every plan and apply on these states fails, after retrying for about 10 s, with:\n\n")
		b.WriteString("```\n" + TerraformDigestError + "\n\nThe checksum calculated for the state stored in S3 does not match the checksum\nstored in DynamoDB.\n```\n\n")
		if rep.Count(lockcheck.DigestMissing) > 0 {
			b.WriteString("For a missing state Terraform suggests removing the Digest value: do not; it would then see no state and plan to create everything again.\n\n")
		}
		b.WriteString("Approve the repair: unlock with `repair-digests` set to the DIGEST_MISMATCHES output sets each digest to the MD5 of the current state (after checking nothing changed); a missing state is restored with `restore-state-version`, never by deleting its digest.\n\n")
		b.WriteString("| State | Status | Digest | Actual MD5 | Version | Size | Lineage / serial | Previous version | Likely cause |\n")
		b.WriteString("|---|---|---|---|---|---|---|---|---|\n")
		for i, e := range DigestEntries(rep, kinds) {
			if i == maxSummaryRows || b.Len() > summaryBudget {
				fmt.Fprintf(&b, "\n…and %d more: see the DIGEST_MISMATCHES output.\n", len(mm)-i)
				break
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %d | %s | %s | %s |\n", Cell(clip(e.Path)), Cell(e.Status), Cell(clip(e.Digest)),
				Cell(e.ActualMD5), Cell(clip(e.ObjectVersion)), e.Size, Cell(clip(lineageSerial(e.Lineage, e.Serial))),
				Cell(clip(prevCell(e))), Cell(clip(e.Cause)))
		}
		b.WriteString("\n")
	}
	b.WriteString(migrationSection(kinds))
	return b.String()
}

func lineageSerial(lineage string, serial *uint64) string {
	if serial == nil {
		return ""
	}
	return fmt.Sprintf("%s / %d", lineage, *serial)
}

func prevCell(e DigestEntry) string {
	if e.PreviousVersion == "" {
		return ""
	}
	if s := lineageSerial(e.PreviousLineage, e.PreviousSerial); s != "" {
		return e.PreviousVersion + " (" + s + ")"
	}
	return e.PreviousVersion
}

// migrationSection lists, per state, the lock kinds seen now, flagging
// leftover digests.
func migrationSection(kinds []lockcheck.StateKinds) string {
	if len(kinds) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("### Lock kinds per state\n\n| State | DynamoDB lock | S3 lock file | Digest item | Note |\n|---|---|---|---|---|\n")
	for i, k := range kinds {
		if i == maxSummaryRows || b.Len() > summaryBudget {
			fmt.Fprintf(&b, "\n…and %d more state(s).\n", len(kinds)-i)
			break
		}
		note := ""
		if k.LeftoverDigest {
			note = "leftover digest: this state is locked with lock files only, so the digest is no longer updated; repair it before any run with dynamodb_table (see docs/migrate-to-lock-files.md)"
		}
		digest := yesNo(k.Digest)
		if k.DigestStatus != "" {
			digest += " (" + string(k.DigestStatus) + ")"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", Cell(clip(k.LockPath)), yesNo(k.DynamoDBLock), yesNo(k.LockFile), digest, Cell(note))
	}
	return b.String() + "\n"
}

func yesNo(v bool) string {
	if v {
		return "yes"
	}
	return "no"
}

// DigestTable prints the digest check for a person at a terminal.
func DigestTable(w io.Writer, rep *lockcheck.DigestReport) error {
	fmt.Fprintf(w, "\nDigests: %s (%d checked, %d bytes read)\n", DigestHeadline(rep), len(rep.Checks), rep.BytesRead)
	if rep.LimitReached {
		fmt.Fprintf(w, "read limit of %d bytes reached: %d state(s) not checked\n", rep.ReadLimit, rep.Count(lockcheck.DigestUnchecked))
	}
	for _, c := range rep.Failed() {
		fmt.Fprintf(w, "not checked: %s: %s\n", Terminal(c.LockPath), Terminal(c.Unchecked))
	}
	mm := rep.Mismatches()
	if len(mm) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STATE\tSTATUS\tDIGEST\tACTUAL MD5\tVERSION\tCAUSE")
	for _, c := range mm {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", Terminal(c.LockPath), c.Status, Terminal(c.Digest), Terminal(c.Current.MD5), Terminal(c.Current.VersionID), Terminal(c.Cause))
	}
	return tw.Flush()
}

// RepairEntry is one element of the DIGEST_REPAIRS output: enough to undo it.
type RepairEntry struct {
	Path          string `json:"path"`
	Action        string `json:"action"`
	Outcome       string `json:"outcome"`
	OldDigest     string `json:"old_digest"`
	NewDigest     string `json:"new_digest,omitempty"`
	ObjectVersion string `json:"object_version,omitempty"`
	RestoredFrom  string `json:"restored_from,omitempty"`
	Reason        string `json:"reason"`
	Error         string `json:"error,omitempty"`
}

func repairEntries(rs []lockcheck.DigestRepair) []RepairEntry {
	out := make([]RepairEntry, 0, len(rs))
	for _, r := range rs {
		e := RepairEntry{Path: r.LockPath, Action: string(r.Action), Outcome: string(r.Outcome), OldDigest: r.OldDigest,
			NewDigest: r.NewDigest, ObjectVersion: r.VersionID, RestoredFrom: r.RestoredFrom, Reason: r.Reason}
		if r.Err != nil {
			e.Error = r.Err.Error()
		}
		out = append(out, e)
	}
	return out
}

// RepairDetails is DIGEST_REPAIRS, for --json.
func RepairDetails(rs []lockcheck.DigestRepair) (string, error) {
	return marshalJSON(repairEntries(rs))
}

// RepairOutputs are unlock's digest repair outputs.
func RepairOutputs(rs []lockcheck.DigestRepair) ([]Pair, error) {
	js, err := marshalJSON(repairEntries(rs))
	if err != nil {
		return nil, err
	}
	var done, refused []string
	for _, r := range rs {
		switch {
		case r.Err != nil:
		case r.Outcome == lockcheck.RepairDone:
			done = append(done, r.LockPath)
		case r.Outcome == lockcheck.RepairRefused:
			refused = append(refused, r.LockPath)
		}
	}
	return []Pair{
		{"DIGEST_REPAIRS", js},
		{"REPAIRED_DIGESTS", strings.Join(done, ",")},
		{"REFUSED_DIGESTS", strings.Join(refused, ",")},
	}, nil
}

// RepairSummary renders unlock's digest repairs for the step summary.
func RepairSummary(rs []lockcheck.DigestRepair) string {
	var b strings.Builder
	done := 0
	for _, r := range rs {
		if r.Outcome == lockcheck.RepairDone {
			done++
		}
	}
	fmt.Fprintf(&b, "## Terraform state digests: %d repaired, %d not\n\n", done, len(rs)-done)
	b.WriteString("To undo a repair, put the old digest back in the item `<state>-md5` (attribute `Digest`), or delete the restored version.\n\n")
	b.WriteString("| State | Action | Outcome | Old digest | New digest | Object version | Detail |\n|---|---|---|---|---|---|---|\n")
	for _, e := range repairEntries(rs) {
		detail := e.Reason
		if e.Error != "" {
			detail = strings.TrimSpace(detail + " " + e.Error)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", Cell(clip(e.Path)), Cell(e.Action), Cell(e.Outcome), Cell(clip(e.OldDigest)),
			Cell(clip(e.NewDigest)), Cell(clip(e.ObjectVersion)), Cell(clip(detail)))
	}
	return b.String()
}

// RepairTable prints digest repairs for a terminal.
func RepairTable(w io.Writer, rs []lockcheck.DigestRepair) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STATE\tACTION\tOUTCOME\tOLD DIGEST\tNEW DIGEST\tVERSION\tDETAIL")
	for _, e := range repairEntries(rs) {
		detail := e.Reason
		if e.Error != "" {
			detail = strings.TrimSpace(detail + " " + e.Error)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", Terminal(e.Path), e.Action, e.Outcome, Terminal(e.OldDigest), Terminal(e.NewDigest), Terminal(e.ObjectVersion), Terminal(detail))
	}
	return tw.Flush()
}
