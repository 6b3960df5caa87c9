package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/text2agent/tfstate-guard/lockcheck"
)

// FuzzLockDetails feeds unlock the approval inputs, which travel from a
// detect job's outputs through the workflow: whatever they hold, unlock
// approves only IDs that were listed, each with the path detect gave it,
// or refuses with an error naming the input.
func FuzzLockDetails(f *testing.F) {
	f.Add("a,b", `[{"lock_id":"a","lock_path":"bkt/k"},{"lock_id":"b","lock_path":"bkt/j"}]`)
	f.Add("a", `[{"lock_id":"a","lock_path":"x"},{"lock_id":"a","lock_path":"y"}]`)
	f.Add("a\nb", `{"lock_id":"a"}`)
	f.Add(" , ", "")
	f.Add("a", `[{"lock_id":"a","lock_path":null,"extra":[1,2]}]`)
	f.Fuzz(func(t *testing.T, ids, details string) {
		env := map[string]string{"GITHUB_ACTIONS": "true", "INPUT_MODE": "unlock", "INPUT_LOCK-IDS": ids, "INPUT_LOCK-DETAILS": details}
		cfg, err := loadConfig(nil, func(k string) string { return env[k] }, &bytes.Buffer{})
		if err != nil {
			if !strings.Contains(err.Error(), "input lock-ids") && !strings.Contains(err.Error(), "input lock-details") {
				t.Fatalf("error does not name the input: %v", err)
			}
			return
		}
		want := lockcheck.ParseLockIDs(strings.TrimSpace(ids))
		if len(cfg.Approved) != len(want) || len(want) == 0 {
			t.Fatalf("approved %d IDs from %q, listed %d", len(cfg.Approved), ids, len(want))
		}
		var rows []struct {
			LockID   string `json:"lock_id"`
			LockPath string `json:"lock_path"`
		}
		if strings.TrimSpace(details) != "" {
			if json.Unmarshal([]byte(strings.TrimSpace(details)), &rows) != nil {
				t.Fatalf("details %q accepted but not a JSON array", details)
			}
		}
		for i, a := range cfg.Approved {
			if a.ID != want[i] {
				t.Fatalf("approved %q, listed %q", a.ID, want[i])
			}
			if len(rows) == 0 {
				continue
			}
			found := false
			for _, r := range rows {
				if r.LockID == a.ID && r.LockPath == a.Path {
					found = true
				}
			}
			if !found {
				t.Fatalf("approved %q with path %q, which detect never gave it", a.ID, a.Path)
			}
		}
	})
}
