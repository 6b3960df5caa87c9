package main

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/text2agent/tfstate-guard/internal/fakegithub"
	"github.com/text2agent/tfstate-guard/lockcheck"
)

// A pull request's plan lock held for as long as the PR is open (the
// tacos-gha pattern): its plan job ended long ago, on a single-job host,
// so without the hold it would be STALE at once and auto-unlock would
// remove it. With hold-locks it is HELD: reported, never removed, not
// waited for.
func TestBinaryHoldLocks(t *testing.T) {
	t.Parallel()
	srv, ddb, table := lockTable(t)
	const prPath, oldPath = "bkt/app/terraform.tfstate", "bkt/old/terraform.tfstate"
	now := time.Now().UTC()
	put(t, ddb, table, map[string]string{"LockID": prPath, "Info": info("pr-lock-1", prPath, "runner@pr-1234", now.Add(-26*time.Hour))})
	require.NoError(t, lockcheck.WriteRunRecord(context.Background(), ddb, table, lockcheck.RunRecord{LockPath: prPath, Repository: "octo/infra",
		RunID: 500, RunAttempt: 1, Job: "plan", RunnerName: "GitHub Actions 500", Host: "pr-1234", HostExclusive: true, Written: now.Add(-27 * time.Hour)}))
	put(t, ddb, table, map[string]string{"LockID": oldPath, "Info": info("old-1", oldPath, "alice@laptop", now.Add(-3*time.Hour))})
	gh := fakegithub.New()
	gh.End("octo/infra", 500, 1, "success", "GitHub Actions 500", now.Add(-25*time.Hour))
	api := httptest.NewServer(gh)
	t.Cleanup(api.Close)
	rn := newRunner(t, srv, "GITHUB_API_URL="+api.URL)
	in := map[string]string{"mode": "detect", "lock-table": table, "aws-region": "eu-west-2", "github-token": "tok",
		"fail-on-active": "true", "wait-for-active": "5m", "auto-unlock": "definitive", "hold-locks": "# PR locks (tacos-gha)\n*@pr-*"}

	start := time.Now()
	code := rn.Run(in)
	require.Equal(t, exitOK, code, "a held lock does not fail detect: %s", rn.Stdout)
	assert.Less(t, time.Since(start), time.Minute, "and is not waited for")
	out := rn.Outputs()
	assert.Equal(t, "true", out["HELD_LOCKS_FOUND"])
	assert.Equal(t, "pr-lock-1", out["HELD_LOCK_IDS"])
	assert.Equal(t, "false", out["ACTIVE_LOCKS_FOUND"])
	assert.Equal(t, "old-1", out["LOCK_IDS"], "never offered for approval")
	assert.Equal(t, "0", out["AUTO_UNLOCKED_COUNT"], "auto-unlock leaves it, though its owner is proven gone")
	assert.Contains(t, out["LOCK_DETAILS"], `"status":"HELD","rule":"held-on-purpose"`)
	assert.True(t, held(t, ddb, table, prPath))
	assert.Contains(t, rn.Stdout, "::notice::1 lock(s) held on purpose (hold-locks): Terraform cannot lock their states until their holders release them; detect did not wait for them (wait-for-active: 5m0s applies to active locks only)")
	s := rn.Summary()
	assert.Contains(t, s, "## Terraform state locks: Held on purpose: blocked (1 held), and stale locks need approval (1 stale)")
	assert.Contains(t, s, "### Held on purpose: 1 lock(s)")
	assert.Contains(t, s, "| 📌 HELD | held on purpose: a hold-locks pattern matches it | pr-lock-1 |")

	// Listed for unlock anyway (by hand, or an old LOCK_IDS): refused.
	code = rn.Run(map[string]string{"mode": "unlock", "lock-table": table, "aws-region": "eu-west-2", "github-token": "tok",
		"lock-ids": "pr-lock-1,old-1", "hold-locks": "*@pr-*"})
	assert.Equal(t, exitBlocked, code, rn.Stdout)
	res := rn.Outputs()
	assert.Equal(t, "pr-lock-1", res["REFUSED_LOCK_IDS"])
	assert.Equal(t, "old-1", res["UNLOCKED_LOCK_IDS"])
	assert.Contains(t, res["UNLOCK_DETAILS"], `held on purpose: hold-locks pattern \"*@pr-*\" matches its Who`)
	assert.True(t, held(t, ddb, table, prPath))

	// path: holds a state during a migration, whoever locks it.
	code = rn.Run(map[string]string{"mode": "detect", "lock-table": table, "aws-region": "eu-west-2", "github-token": "tok",
		"fail-on-active": "false", "hold-locks": "path:bkt/app/*"})
	require.Equal(t, exitOK, code, rn.Stdout)
	assert.Equal(t, "pr-lock-1", rn.Outputs()["HELD_LOCK_IDS"])
	assert.Regexp(t, `HELD +none +pr-lock-1 +bkt/app/terraform.tfstate`, rn.Stdout)
}
