package report

import (
	"fmt"
	"strings"
	"time"

	"github.com/text2agent/tfstate-guard/lockcheck"
)

// ChatMessage is a Slack-compatible incoming-webhook message: text for
// notifications and clients without blocks, blocks for the rest.
type ChatMessage struct {
	Text   string      `json:"text"`
	Blocks []ChatBlock `json:"blocks"`
}

// ChatBlock is one Block Kit section with mrkdwn text.
type ChatBlock struct {
	Type string    `json:"type"`
	Text *ChatText `json:"text,omitempty"`
}

// ChatText is a Block Kit text object.
type ChatText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// maxChatItems bounds the locks named per section (Slack allows 3,000
// characters in a section's text).
const maxChatItems = 10

// ChatNotice is the webhook message about a detection: the locks
// auto-unlock removed without approval, and the stale locks waiting for a
// person. ok is false when there is neither: nothing is sent.
func ChatNotice(repository, runURL string, det *lockcheck.Detection, auto []lockcheck.UnlockResult, now time.Time) (ChatMessage, bool) {
	var removed []lockcheck.UnlockResult
	for _, r := range auto {
		if r.Outcome == lockcheck.OutcomeRemoved {
			removed = append(removed, r)
		}
	}
	stale := det.Stale()
	if len(removed) == 0 && len(stale) == 0 {
		return ChatMessage{}, false
	}
	var parts []string
	if len(removed) > 0 {
		parts = append(parts, fmt.Sprintf("%d lock(s) removed without approval", len(removed)))
	}
	if len(stale) > 0 {
		parts = append(parts, fmt.Sprintf("%d stale lock(s) wait for a person", len(stale)))
	}
	where := chatEscape(repository)
	if where == "" {
		where = "this repository"
	}
	text := fmt.Sprintf("Terraform state locks in %s: %s.", where, strings.Join(parts, "; "))
	msg := ChatMessage{Text: text}
	head := text
	if u := chatURL(runURL); u != "" {
		head += fmt.Sprintf(" <%s|See the run>", u)
	}
	head += " (" + now.UTC().Format("2006-01-02 15:04 UTC") + ")"
	msg.Blocks = append(msg.Blocks, section(head))
	if len(removed) > 0 {
		var b strings.Builder
		b.WriteString("*Removed without approval* (owner proven gone, deleted only if unchanged):\n")
		for i, r := range removed {
			if i == maxChatItems {
				fmt.Fprintf(&b, "…and %d more\n", len(removed)-i)
				break
			}
			fmt.Fprintf(&b, "• %s lock %s: %s\n", chatCode(r.LockPath), chatCode(r.ID), chatCode(r.Reason))
		}
		msg.Blocks = append(msg.Blocks, section(b.String()))
	}
	if len(stale) > 0 {
		var b strings.Builder
		b.WriteString("*Stale, waiting for approval*")
		if u := chatURL(runURL); u != "" {
			fmt.Fprintf(&b, " (approve in <%s|the run's unlock job>)", u)
		}
		b.WriteString(":\n")
		for i, v := range stale {
			if i == maxChatItems {
				fmt.Fprintf(&b, "…and %d more\n", len(stale)-i)
				break
			}
			line := fmt.Sprintf("• %s held by %s since %s, %s", chatCode(v.Lock.LockPath), chatCode(v.Lock.Info.Who), chatCode(v.Lock.Info.Created), chatEscape(EvidenceWords(v.Status, v.Evidence)))
			if v.Owner != nil {
				if u := chatURL(v.Owner.URL); u != "" {
					line += fmt.Sprintf(" (<%s|run %d>)", u, v.Owner.ID)
				}
			}
			b.WriteString(line + "\n")
		}
		msg.Blocks = append(msg.Blocks, section(b.String()))
	}
	return msg, true
}

func section(text string) ChatBlock {
	return ChatBlock{Type: "section", Text: &ChatText{Type: "mrkdwn", Text: text}}
}

// chatEscaper is Slack's own escaping (&, <, >: no link, mention or
// <!here> can be formed) plus a zero-width space after @.
var chatEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "@", "@\u200b", "\r", " ", "\n", " ")

func chatEscape(s string) string { return chatEscaper.Replace(s) }

// chatCode shows lock content as inline code, where mrkdwn applies no
// formatting; backticks that would end it are replaced.
func chatCode(s string) string {
	if s == "" {
		return "-"
	}
	r := []rune(strings.ReplaceAll(s, "`", "'"))
	if len(r) > 200 {
		s = string(r[:200]) + "…"
	} else {
		s = string(r)
	}
	return "`" + chatEscape(s) + "`"
}

// chatURL is a link target safe inside <...|...>: http(s) only, and none
// of the characters that end it.
func chatURL(u string) string {
	if !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
		return ""
	}
	if strings.ContainsAny(u, "<>| \n\r") {
		return ""
	}
	return u
}
