package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/text2agent/tfstate-guard/lockcheck"
	"github.com/text2agent/tfstate-guard/report"
)

// DigestConfig is the digest settings of detect and unlock.
type DigestConfig struct {
	// Check (check-digests) makes detect compare digests with state bytes.
	Check bool
	// ReadLimit bounds the state bytes read (digest-read-limit).
	ReadLimit int64
	// FailOnMismatch fails detect on a mismatch (fail-on-digest-mismatch).
	FailOnMismatch bool
	// Repair is unlock's approved mismatches (repair-digests).
	Repair []lockcheck.DigestApproval
	// Restore holds version IDs (restore-state-version); Forget holds state
	// paths (forget-digests).
	Restore map[string]bool
	Forget  map[string]bool
	// AllowRollback is allow-state-rollback.
	AllowRollback bool
}

// fillDigests parses the digest inputs of detect and unlock.
func (cfg *Config) fillDigests(s settings, bad badFunc) {
	d := &cfg.Digests
	boolInput := func(name string, p *bool) {
		if v, ok := s[name]; ok {
			b, err := parseBool(firstNonEmpty(v, "false"))
			if err != nil {
				bad(name, v, "is not a boolean: use true or false")
			}
			*p = b
		}
	}
	v := firstNonEmpty(s["digest-read-limit"], "1GiB")
	n, err := parseByteSize(v)
	if err != nil {
		bad("digest-read-limit", v, "is not a size: write bytes, or a number with KiB, MiB or GiB, e.g. 512MiB")
	}
	d.ReadLimit = n
	if cfg.Mode == ModeDetect {
		boolInput("check-digests", &d.Check)
		boolInput("fail-on-digest-mismatch", &d.FailOnMismatch)
		if d.FailOnMismatch && !d.Check {
			bad("fail-on-digest-mismatch", "true", "needs %s: digests are only checked when asked", cfg.setting("check-digests", "true"))
		}
		if d.Check && cfg.LockTable == "" {
			bad("lock-table", "", "is empty but check-digests reads the digest items in the lock table: set %s", cfg.ref("lock-table"))
		}
		return
	}
	boolInput("allow-state-rollback", &d.AllowRollback)
	d.Restore, d.Forget = map[string]bool{}, map[string]bool{}
	raw := s["repair-digests"]
	for _, id := range lockcheck.ParseLockIDs(s["restore-state-version"]) {
		d.Restore[id] = true
	}
	for _, p := range lockcheck.ParseLockIDs(s["forget-digests"]) {
		d.Forget[p] = true
	}
	if raw == "" {
		if len(d.Restore)+len(d.Forget) > 0 {
			bad("repair-digests", "", "is empty but %s or %s names states: pass detect's DIGEST_MISMATCHES as %s", cfg.ref("restore-state-version"), cfg.ref("forget-digests"), cfg.ref("repair-digests"))
		}
		return
	}
	if cfg.LockTable == "" {
		bad("lock-table", "", "is empty but repair-digests writes the digest items in the lock table: set %s", cfg.ref("lock-table"))
	}
	approved, err := report.ParseDigestMismatches(raw)
	if err != nil {
		fix := "pass ${{ needs.<detect job>.outputs.DIGEST_MISMATCHES }}"
		if !cfg.InActions {
			fix = "pass the DIGEST_MISMATCHES JSON array detect wrote"
		}
		bad("repair-digests", abbreviate(raw), "is not detect's DIGEST_MISMATCHES JSON array (%v): %s", err, fix)
		return
	}
	d.Repair = approved
	restorable, paths := map[string]bool{}, map[string]bool{}
	for _, a := range approved {
		restorable[a.RestoreVersion] = a.RestoreVersion != ""
		paths[a.LockPath] = true
	}
	for id := range d.Restore {
		if !restorable[id] {
			bad("restore-state-version", id, "is not the restore_version of a missing state in %s: restore only the version detect found with the digest's MD5", cfg.ref("repair-digests"))
		}
	}
	for p := range d.Forget {
		if !paths[p] {
			bad("forget-digests", p, "is not a state path in %s: pass the path detect reported (<bucket>/<key>)", cfg.ref("repair-digests"))
		}
	}
}

// parseByteSize reads "1048576", "512MiB", "1GiB", "64KiB".
func parseByteSize(v string) (int64, error) {
	mult := int64(1)
	for suffix, m := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if strings.HasSuffix(v, suffix) {
			v, mult = strings.TrimSuffix(v, suffix), m
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("not a size")
	}
	return n * mult, nil
}
