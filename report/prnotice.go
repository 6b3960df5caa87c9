package report

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/text2agent/tfstate-guard/lockcheck"
)

// PRNotice is what the pull-request comment is rendered from.
type PRNotice struct {
	// Marker is the hidden line that finds the comment again (one per
	// workflow and lock table); PRNoticeMarker makes it.
	Marker string
	Now    time.Time
	// Verdicts are the locks detect found (after any auto-unlock); only
	// the active and stale ones are in the comment.
	Verdicts []lockcheck.Verdict
	// Previous is the comment's state list as the last detect left it
	// (ParsePRNoticeStates); states no longer blocked are marked clear.
	Previous PRNoticeStates
	// RunURL links this run: where a stale lock's removal is approved.
	RunURL string
	// AutoUnlock: auto-unlock definitive is on.
	AutoUnlock bool
	// StaleAfter is the age after which a lock with no owner is stale.
	StaleAfter time.Duration
	// OwnerJob names the owning run's job that took a lock (from its run
	// record; Detection.OwnerJob); nil or "" leaves the job out.
	OwnerJob func(lockcheck.Verdict) string
}

// PRNoticeStates is the hidden record the comment keeps: per state path,
// "" while blocked, or the time (RFC 3339) it was first seen clear.
type PRNoticeStates map[string]string

// maxNoticeLocks and maxNoticeCleared bound the comment far below
// GitHub's 65,536-character limit; the step summary has every lock.
const (
	maxNoticeLocks   = 25
	maxNoticeCleared = 25
)

// PRNoticeMarker is the hidden first line of the comment for a workflow
// and a lock table. scope is the part of the table this detect reads
// (lock-id-prefix, state-prefix; "" for all of it): jobs of one workflow
// that each check one state (a matrix) keep a comment each, and none marks
// clear a state it did not read. The names are hashed: a workflow name is
// free text.
func PRNoticeMarker(workflow, table, scope string) string {
	key := workflow + "\x00" + table
	if scope != "" {
		key += "\x00" + scope
	}
	return fmt.Sprintf("<!-- tfstate-guard:pr-notice:%s -->", shortHash(key))
}

const statesPrefix = "<!-- tfstate-guard:states "

var statesLine = regexp.MustCompile(`(?m)^<!-- tfstate-guard:states (\{.*\}) -->$`)

// ParsePRNoticeStates reads the hidden state list from a comment this
// program wrote; anything unreadable is an empty list.
func ParsePRNoticeStates(body string) PRNoticeStates {
	m := statesLine.FindStringSubmatch(body)
	if m == nil {
		return PRNoticeStates{}
	}
	var st PRNoticeStates
	if err := json.Unmarshal([]byte(m[1]), &st); err != nil || st == nil {
		return PRNoticeStates{}
	}
	return st
}

// blocking is what the comment is about: locks Terraform waits for, and
// stale locks that wait for a person or auto-unlock.
func (n PRNotice) blocking() []lockcheck.Verdict {
	var out []lockcheck.Verdict
	for _, v := range n.Verdicts {
		if v.Status == lockcheck.StatusActive || v.Status == lockcheck.StatusStale {
			out = append(out, v)
		}
	}
	return out
}

// Render returns the comment body, or "" when there is nothing to say:
// nothing blocks, and no earlier comment listed a state to mark clear.
func (n PRNotice) Render() string {
	blocking := n.blocking()
	now := n.Now.UTC()
	states := PRNoticeStates{}
	for _, v := range blocking {
		states[stateKey(v.Lock.LockPath)] = ""
	}
	var cleared []string
	for path, since := range n.Previous {
		if _, blocked := states[path]; blocked {
			continue
		}
		if _, err := time.Parse(time.RFC3339, since); err != nil {
			since = now.Format(time.RFC3339)
		}
		states[path] = since
		cleared = append(cleared, path)
	}
	if len(blocking) == 0 && len(cleared) == 0 {
		return ""
	}
	// The newest clears first; the oldest fall off the list.
	sort.Slice(cleared, func(i, j int) bool {
		if states[cleared[i]] != states[cleared[j]] {
			return states[cleared[i]] > states[cleared[j]]
		}
		return cleared[i] < cleared[j]
	})
	if len(cleared) > maxNoticeCleared {
		for _, p := range cleared[maxNoticeCleared:] {
			delete(states, p)
		}
		cleared = cleared[:maxNoticeCleared]
	}

	var b strings.Builder
	b.WriteString(n.Marker + "\n")
	b.WriteString(statesPrefix + statesJSON(states) + " -->\n")
	checked := "Checked " + stamp(now)
	if u := safeURL(n.RunURL); u != "" {
		checked += " by [this run](" + u + ")"
	}
	if len(blocking) == 0 {
		b.WriteString("## ✅ Terraform state locks: clear\n\n")
		fmt.Fprintf(&b, "%s: no lock blocks the state(s) below any more.\n\n", checked)
	} else {
		fmt.Fprintf(&b, "## 🔒 Terraform state locks: %s\n\n", blockedHeadline(blocking))
		fmt.Fprintf(&b, "%s. Terraform cannot lock these states until each lock below is released or removed.\n\n", checked)
		for i, v := range blocking {
			if i == maxNoticeLocks {
				fmt.Fprintf(&b, "…and %d more lock(s): see the step summary of this run.\n\n", len(blocking)-i)
				break
			}
			n.writeLock(&b, v)
		}
	}
	if len(cleared) > 0 {
		b.WriteString("### ✅ Clear now\n\n")
		for _, p := range cleared {
			t, _ := time.Parse(time.RFC3339, states[p])
			fmt.Fprintf(&b, "- %s: clear since %s\n", Mention(clip(p)), stamp(t))
		}
		b.WriteString("\n")
	}
	b.WriteString("<sub>Written by tfstate-guard, and updated in place on every check of this pull request.</sub>\n")
	return b.String()
}

// stateKey is a state path as the hidden list keeps it: JSON holds UTF-8
// only, so invalid bytes are replaced the same way on every run.
func stateKey(path string) string { return strings.ToValidUTF8(path, "\uFFFD") }

func blockedHeadline(blocking []lockcheck.Verdict) string {
	active, stale := 0, 0
	for _, v := range blocking {
		if v.Status == lockcheck.StatusActive {
			active++
		} else {
			stale++
		}
	}
	var parts []string
	if active > 0 {
		parts = append(parts, fmt.Sprintf("%d held by a live run", active))
	}
	if stale > 0 {
		parts = append(parts, fmt.Sprintf("%d stale", stale))
	}
	return strings.Join(parts, ", ")
}

func (n PRNotice) writeLock(b *strings.Builder, v lockcheck.Verdict) {
	l := v.Lock
	fmt.Fprintf(b, "### %s: %s\n\n", statusBadge(v.Status), Mention(clip(l.LockPath)))
	job := ""
	if n.OwnerJob != nil {
		job = n.OwnerJob(v)
	}
	fmt.Fprintf(b, "- **Held by:** %s\n", holder(v, job))
	since := "unknown"
	if !l.Created.IsZero() {
		since = stamp(l.Created)
		if v.AgeKnown {
			since += fmt.Sprintf(" (%s ago)", v.Age.Round(time.Second))
		}
	}
	fmt.Fprintf(b, "- **Since:** %s\n", since)
	fmt.Fprintf(b, "- **Operation:** %s\n", Mention(clip(l.Info.Operation)))
	fmt.Fprintf(b, "- **Evidence:** %s: %s\n", EvidenceWords(v.Status, v.Evidence), Mention(clip(v.Reason)))
	fmt.Fprintf(b, "- **Next:** %s\n", n.next(v))
	fmt.Fprintf(b, "- **Lock ID:** %s\n\n", Mention(clip(l.ID())))
}

// holder names who holds the lock: the owning run (a link with its
// workflow, job and the person who started it), else the lock's Who.
func holder(v lockcheck.Verdict, job string) string {
	who := Mention(clip(v.Lock.Info.Who))
	o := v.Owner
	if o == nil || o.ID == 0 {
		return who
	}
	label := fmt.Sprintf("run %d", o.ID)
	if o.Workflow != "" {
		label += " of workflow " + o.Workflow
	}
	if job != "" {
		label += ", job " + job
	}
	run := Mention(label)
	if u := safeURL(o.URL); u != "" {
		run = fmt.Sprintf("[%s](%s)", run, u)
	}
	if actor := firstNonEmpty(o.TriggeringActor, o.Actor); actor != "" {
		run += ", started by " + Mention(clip(actor))
	}
	return fmt.Sprintf("%s (%s, Terraform's Who: %s)", run, o.Status, who)
}

// next says what happens to the lock without anyone reading this.
func (n PRNotice) next(v lockcheck.Verdict) string {
	if v.Status == lockcheck.StatusActive {
		if v.Owner != nil && v.Owner.ID != 0 {
			return fmt.Sprintf("waiting for run %d to finish: Terraform releases the lock when it ends, and a later check of this pull request marks the state clear.", v.Owner.ID)
		}
		return fmt.Sprintf("nothing ties this lock to a run, and it is young, so it is treated as live. If no one is running Terraform on this state, it turns stale after %s and then waits for approval.", n.StaleAfter)
	}
	if !Approvable(v) {
		return "its lock ID cannot be put up for approval: check it and remove it by hand (terraform force-unlock)."
	}
	if n.AutoUnlock && v.Evidence == lockcheck.EvidenceDefinitive {
		return "auto-unlock removes it without a person (its owner is proven gone); it tried and left it in place this time: see this run's summary."
	}
	approve := "a reviewer approves its removal in the environment-gated unlock job of this run"
	if u := safeURL(n.RunURL); u != "" {
		approve = fmt.Sprintf("a reviewer approves its removal in the environment-gated unlock job of [this run](%s)", u)
	}
	return approve + "; until then Terraform cannot lock this state."
}

// mentionBreaker keeps @name from notifying anyone: a zero-width space
// after every @ (Markdown shows @name, GitHub links no one).
var mentionBreaker = strings.NewReplacer("@", "@&#8203;", "#", "#&#8203;")

// Mention escapes text from lock content or the API for a comment people
// are notified of: Cell's escaping, and no @mention or #reference works.
func Mention(s string) string {
	return mentionBreaker.Replace(Cell(s))
}

func safeURL(u string) string {
	if strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://") {
		return linkEscaper.Replace(u)
	}
	return ""
}

func stamp(t time.Time) string {
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// statesJSON encodes the hidden state list so that it cannot end the HTML
// comment it sits in: <, > and & are escaped by the encoder.
func statesJSON(st PRNoticeStates) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(st) // a map of strings always encodes
	// An @ in a hidden comment is not rendered; escaped all the same.
	return strings.ReplaceAll(strings.TrimSuffix(buf.String(), "\n"), "@", `\u0040`)
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:6])
}
