package lockcheck

import (
	"context"
	"fmt"
	"path"
	"strings"
)

// StatusHeld: the lock is held on purpose (a hold-locks pattern matches
// it): a pull request's plan lock in the tacos-gha pattern, a state frozen
// during a migration. It still blocks Terraform on its state, but it is
// nobody's failure: never stale, never offered for approval, never removed
// by unlock or auto-unlock, and not waited for.
const StatusHeld Status = "HELD"

// RuleHeld names the verdict of a lock a hold-locks pattern matches.
const RuleHeld Rule = "held-on-purpose"

// HoldField is what a hold pattern is matched against.
type HoldField string

const (
	HoldWho  HoldField = "who"  // the lock's Who (user@host): a bare pattern
	HoldPath HoldField = "path" // the state path, <bucket>/<key> (path: prefix)
	HoldInfo HoldField = "info" // the lock's Info text (info: prefix)
)

// HoldPattern is one line of hold-locks.
type HoldPattern struct {
	Field   HoldField
	Pattern string
	// Line is the line as written, for reasons and errors.
	Line string
}

// Holds are the hold-locks patterns; a lock any of them matches is HELD.
type Holds []HoldPattern

// ParseHolds reads hold-locks: one Go path.Match pattern per line, matched
// against Who, or against the state path or the lock's Info text after a
// "path:" or "info:" prefix. Blank lines and lines starting with # are
// skipped. Every bad line is reported.
func ParseHolds(text string) (Holds, []error) {
	var out Holds
	var errs []error
	for _, raw := range strings.Split(text, "\n") {
		line := strings.TrimSpace(raw)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		p := HoldPattern{Field: HoldWho, Pattern: line, Line: line}
		for _, f := range []HoldField{HoldPath, HoldInfo} {
			if rest, ok := strings.CutPrefix(line, string(f)+":"); ok {
				p.Field, p.Pattern = f, strings.TrimSpace(rest)
			}
		}
		if p.Pattern == "" {
			errs = append(errs, &HoldError{Line: line, Problem: "has a prefix but no pattern"})
			continue
		}
		if _, err := path.Match(p.Pattern, ""); err != nil {
			errs = append(errs, &HoldError{Line: line, Problem: "is not a valid pattern (" + err.Error() + ")"})
			continue
		}
		out = append(out, p)
	}
	return out, errs
}

// HoldError is a hold-locks line that cannot be used.
type HoldError struct {
	Line    string
	Problem string
}

func (e *HoldError) Error() string {
	return fmt.Sprintf("line %q %s: write one Go path.Match pattern per line (* matches any run of characters but /, ? one character, [a-z] a class, \\ escapes), optionally after path: or info:, e.g. \"tacos-gha@*\" or \"path:my-bucket/migrating/*\"", e.Line, e.Problem)
}

// Match returns the first pattern that matches lock.
func (h Holds) Match(lock Lock) (HoldPattern, bool) {
	for _, p := range h {
		var subject string
		switch p.Field {
		case HoldPath:
			subject = lock.LockPath
		case HoldInfo:
			subject = lock.Info.Info
		default:
			subject = lock.Info.Who
		}
		if ok, _ := path.Match(p.Pattern, subject); ok {
			return p, true
		}
	}
	return HoldPattern{}, false
}

// Held is the verdict of a lock held on purpose: decided before any rule of
// Classify, so no age and no run evidence can make it stale.
func (c *Classifier) Held(lock Lock, p HoldPattern) Verdict {
	v := Verdict{Lock: lock, Status: StatusHeld, Rule: RuleHeld, Evidence: EvidenceNone}
	if !lock.Created.IsZero() {
		v.Age, v.AgeKnown = c.Now().Sub(lock.Created), true
	}
	v.Reason = fmt.Sprintf("held on purpose: hold-locks pattern %q matches its %s; never stale, never removed; it blocks Terraform on this state until its holder releases it", p.Line, holdSubject(p.Field))
	return v
}

func holdSubject(f HoldField) string {
	switch f {
	case HoldPath:
		return "state path"
	case HoldInfo:
		return "Info text"
	}
	return "Who"
}

// classifyOrHold applies the holds first, then the rules of Classify.
func classifyOrHold(ctx context.Context, c *Classifier, h Holds, lock Lock, records []RunRecord) Verdict {
	if p, ok := h.Match(lock); ok {
		return c.Held(lock, p)
	}
	return c.Classify(ctx, lock, records)
}
