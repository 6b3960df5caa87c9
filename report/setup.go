package report

import (
	"fmt"
	"strings"
	"time"

	"github.com/text2agent/tfstate-guard/backend"
)

// SetupOutputs are the step outputs of setup: BACKEND_FILE, STATE_BUCKET,
// LOCK_TABLE ("" with lock-method s3) and LOCK_PATH (the DynamoDB LockID,
// "<bucket>/<state key>", workspace prefix included).
func SetupOutputs(r *backend.SetupResult) []Pair {
	return []Pair{
		{"BACKEND_FILE", r.BackendFile},
		{"STATE_BUCKET", r.Bucket},
		{"LOCK_TABLE", r.Table},
		{"LOCK_PATH", r.LockPath},
	}
}

// SetupSummary renders the step summary of setup: a headline, what exists
// and what was changed, one row per check, and the run record.
func SetupSummary(r *backend.SetupResult) string {
	var b strings.Builder
	changed, attention := r.Changed(), r.Attention()
	switch {
	case len(attention) > 0:
		fmt.Fprintf(&b, "## Terraform backend: ready, %d setting(s) need attention\n\n", len(attention))
	case len(changed) > 0:
		fmt.Fprintf(&b, "## Terraform backend: ready, %d change(s) made\n\n", len(changed))
	default:
		b.WriteString("## Terraform backend: ready, nothing to change\n\n")
	}
	table := r.Table
	if table == "" {
		table = "none (lock-method s3)"
	}
	fmt.Fprintf(&b, "State %s in bucket %s (%s), lock table %s, locking with %s.\n\n",
		Cell(r.StatePath), Cell(r.Bucket), Cell(r.Region), Cell(table), Cell(string(r.LockMethod)))
	for _, c := range attention {
		fmt.Fprintf(&b, "> [!WARNING]\n> %s %s: %s\n\n", Cell(c.Resource), Cell(c.Setting), Cell(c.Detail))
	}
	b.WriteString("| Resource | Setting | State | Detail |\n|---|---|---|---|\n")
	for _, c := range r.Checks {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", Cell(c.Resource), Cell(c.Setting), checkBadge(c.State), Cell(c.Detail))
	}
	b.WriteString("\n| Output | Value |\n|---|---|\n")
	for _, p := range SetupOutputs(r) {
		fmt.Fprintf(&b, "| %s | %s |\n", p.Name, Cell(p.Value))
	}
	if rec := r.RunRecord; rec != nil {
		fmt.Fprintf(&b, "\nRun record: run %d attempt %d, job %s, on lock path %s until %s, so that detect can tie a lock on this state to this run.\n",
			rec.RunID, rec.RunAttempt, Cell(rec.Job), Cell(rec.LockPath), rec.Expires.UTC().Format(time.RFC3339))
	}
	return b.String()
}

func checkBadge(s backend.CheckState) string {
	switch s {
	case backend.StateAlreadyRight:
		return "✅ already right"
	case backend.StateChanged:
		return "🔧 changed"
	case backend.StateSkipped:
		return "⏭️ skipped"
	case backend.StateAttention:
		return "⚠️ attention"
	}
	return Cell(string(s))
}

// BackupOutputs are the step outputs of backup: BACKUP_KEY ("" when there
// was no state yet) and BACKUP_VERSION_ID.
func BackupOutputs(r *backend.BackupResult) []Pair {
	return []Pair{
		{"BACKUP_KEY", r.Key},
		{"BACKUP_VERSION_ID", r.VersionID},
	}
}

// BackupSummary renders the step summary of backup, with the command that
// restores the copy.
func BackupSummary(r *backend.BackupResult) string {
	var b strings.Builder
	if r.NoState {
		b.WriteString("## State backup: no state yet\n\n")
		fmt.Fprintf(&b, "Nothing to back up: %s does not exist in bucket %s (the first apply creates it).\n", Cell(r.SourceKey), Cell(r.Bucket))
		return b.String()
	}
	b.WriteString("## State backup: copied\n\n")
	b.WriteString("| | Value |\n|---|---|\n")
	version := r.SourceVersionID
	if version == "" {
		version = "unversioned"
	}
	enc := r.Encryption
	if r.KMSKeyID != "" {
		enc += " with key " + r.KMSKeyID
	}
	for _, row := range [][2]string{
		{"Bucket", r.Bucket},
		{"State", r.SourceKey + " (version " + version + ")"},
		{"Backup", r.Key},
		{"Size", fmt.Sprintf("%d bytes", r.Size)},
		{"Encryption", enc},
		{"Taken", r.Time.UTC().Format(time.RFC3339)},
	} {
		fmt.Fprintf(&b, "| %s | %s |\n", row[0], Cell(row[1]))
	}
	if strings.ContainsAny(r.Bucket+r.Key+r.SourceKey, "\r\n") {
		// A command with the line break folded would name another key,
		// and one with it kept could close the code block.
		b.WriteString("\nThe state key contains a line break: restore it by hand, as docs/setup.md describes.\n")
		return b.String()
	}
	b.WriteString("\nTo restore it (see docs/setup.md first: lock the state and check its serial):\n\n")
	// Shell-quoted, not Markdown-escaped: this is a code block, and a
	// single line cannot close it.
	fmt.Fprintf(&b, "```sh\naws s3api copy-object --bucket %s --copy-source %s --key %s\n```\n",
		shellQuote(r.Bucket), shellQuote(r.Bucket+"/"+r.Key), shellQuote(r.SourceKey))
	return b.String()
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
