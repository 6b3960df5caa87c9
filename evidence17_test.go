package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/text2agent/tfstate-guard/internal/fakegithub"
	"github.com/text2agent/tfstate-guard/lockcheck"
)

// The five holes of issue 17, each through the binary (moto, GitHub's JSON
// from the stand-in, detect with auto-unlock: definitive): the live lock
// is kept, and in the last case the proven-dead lock beside an unanswerable
// one is removed.
func TestBinaryEvidenceHolesOfIssue17(t *testing.T) {
	t.Parallel()
	const (
		repo  = "octo/infra"
		path  = "bkt/app/terraform.tfstate"
		path2 = "bkt/other/terraform.tfstate"
		live  = "11111111-2222-4333-8444-555555555555"
		dead  = "99999999-8888-4777-8666-555555555555"
	)
	type lock struct {
		path, id, who string
		age           time.Duration
	}
	type tc struct {
		name    string
		locks   []lock
		records func(now time.Time) []lockcheck.RunRecord
		github  func(gh *fakegithub.API, now time.Time)
		// kept are the lock IDs that must stay; removed those auto-unlock
		// must remove.
		kept, removed []string
		status        string // of the live lock
		evidence      string
		reason        string
		maxRequests   int
	}
	rec := func(p string, run int64, written time.Time, runner, host string, exclusive bool) lockcheck.RunRecord {
		return lockcheck.RunRecord{LockPath: p, Repository: repo, RunID: run, RunAttempt: 1, Job: "terraform-apply",
			RunnerName: runner, Host: host, HostExclusive: exclusive, Written: written}
	}
	cases := []tc{
		{
			// 1. gha-300-1 was set on a persistent machine by run 300's job
			// (runner service 2); run 301's Terraform (service 1) locks under
			// that machine-wide name and is still applying; run 300 ends.
			name:  "a gha-<run> name on a persistent self-hosted machine",
			locks: []lock{{path, live, "runner@gha-300-1", 20 * time.Minute}},
			github: func(gh *fakegithub.API, now time.Time) {
				gh.SetJob(repo, 300, 1, fakegithub.Job{Name: "deploy", RunnerName: "build01-svc2", RunnerGroup: "Default",
					StartedAt: now.Add(-time.Hour), CompletedAt: now.Add(-19 * time.Minute)})
				gh.SetAttempt(repo, 300, 1, "completed", "success")
				gh.SetAttempt(repo, 301, 1, "in_progress", "")
			},
			kept: []string{live}, status: "STALE", evidence: "circumstantial",
			reason: `ran on runner "build01-svc2" of group "Default", not a GitHub-hosted runner`,
		},
		{
			// 2. Ephemeral containers share the VM's hostname, declared
			// exclusive. The owner (run 200) set up first; three later
			// pipelines set up on the same name before it locked, then timed
			// out and ended.
			name:  "containers sharing one declared-exclusive hostname",
			locks: []lock{{path, live, "runner@ephvm0", 45 * time.Minute}},
			records: func(now time.Time) []lockcheck.RunRecord {
				out := []lockcheck.RunRecord{rec(path, 200, now.Add(-48*time.Minute), "eph-200", "ephvm0", true)}
				for i := int64(1); i <= 3; i++ {
					out = append(out, rec(path, 200+i, now.Add(-47*time.Minute+time.Duration(i)*10*time.Second), fmt.Sprintf("eph-%d", 200+i), "ephvm0", true))
				}
				return out
			},
			github: func(gh *fakegithub.API, now time.Time) {
				gh.SetAttempt(repo, 200, 1, "in_progress", "")
				for i := int64(1); i <= 3; i++ {
					gh.End(repo, 200+i, 1, "failure", fmt.Sprintf("eph-%d", 200+i), now.Add(-30*time.Minute))
				}
			},
			kept: []string{live}, status: "ACTIVE", evidence: "definitive", reason: "run 200 attempt 1",
		},
		{
			// 3. 500 pipelines blocked behind a live 3-hour apply each ran
			// setup: the owner's entry is still there.
			name:  "500 blocked setups after a live lock",
			locks: []lock{{path, live, "runner@runnervm-owner", 3 * time.Hour}},
			records: func(now time.Time) []lockcheck.RunRecord {
				out := []lockcheck.RunRecord{rec(path, 100, now.Add(-3*time.Hour-time.Minute), "GitHub Actions 100", "runnervm-owner", true)}
				for i := int64(1); i <= 500; i++ {
					out = append(out, rec(path, 1000+i, now.Add(-3*time.Hour+time.Duration(i)*20*time.Second), "GitHub Actions 9", fmt.Sprintf("runnervm%d", i), true))
				}
				return out
			},
			github: func(gh *fakegithub.API, _ time.Time) { gh.SetAttempt(repo, 100, 1, "in_progress", "") },
			kept:   []string{live}, status: "ACTIVE", evidence: "definitive", reason: "run 100 attempt 1",
		},
		{
			// 4. Matrix legs share GITHUB_JOB: the second leg's setup no
			// longer replaces the first leg's entry.
			name:  "matrix legs sharing a job key",
			locks: []lock{{path, live, "runner@runnervm-leg1", 2 * time.Hour}},
			records: func(now time.Time) []lockcheck.RunRecord {
				return []lockcheck.RunRecord{
					rec(path, 100, now.Add(-2*time.Hour-time.Minute), "GitHub Actions 1", "runnervm-leg1", true),
					rec(path, 100, now.Add(-2*time.Hour-30*time.Second), "GitHub Actions 2", "runnervm-leg2", true),
				}
			},
			github: func(gh *fakegithub.API, _ time.Time) { gh.SetAttempt(repo, 100, 1, "in_progress", "") },
			kept:   []string{live}, status: "ACTIVE", evidence: "definitive", reason: "run 100 attempt 1",
		},
		{
			// 5. A shared table: one lock's candidate cannot be asked about
			// (404: deleted, or not visible to this token), and another
			// repository wrote records too. Neither stops the removal of
			// our proven-dead lock; the unanswerable one is kept.
			name: "an unanswerable run beside a proven-dead one",
			locks: []lock{
				{path, live, "runner@runnervm-x", 40 * time.Minute},
				{path2, dead, "runner@runnervm-dead", 3 * time.Minute},
			},
			records: func(now time.Time) []lockcheck.RunRecord {
				foreign := rec(path, 900, now.Add(-41*time.Minute), "GitHub Actions 900", "runnervm-x", true)
				foreign.Repository = "octo/other"
				return []lockcheck.RunRecord{
					rec(path, 555, now.Add(-41*time.Minute), "GitHub Actions 555", "runnervm-x", true), // GitHub answers 404
					foreign,
					rec(path2, 100, now.Add(-4*time.Minute), "GitHub Actions 100", "runnervm-dead", true),
				}
			},
			github: func(gh *fakegithub.API, now time.Time) {
				gh.End(repo, 100, 1, "cancelled", "GitHub Actions 100", now.Add(-time.Minute))
			},
			kept: []string{live}, removed: []string{dead}, status: "STALE", evidence: "none",
			reason: "run 555 (record of job \"terraform-apply\" on the lock's host, which runs one job at a time) could not be checked",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv, ddb, table := lockTable(t)
			now := time.Now().UTC().Truncate(time.Second)
			for _, l := range c.locks {
				put(t, ddb, table, map[string]string{"LockID": l.path, "Info": info(l.id, l.path, l.who, now.Add(-l.age))})
			}
			if c.records != nil {
				for _, r := range c.records(now) {
					require.NoError(t, lockcheck.WriteRunRecord(context.Background(), ddb, table, r))
				}
			}
			gh := fakegithub.New()
			c.github(gh, now)
			api := httptest.NewServer(gh)
			t.Cleanup(api.Close)
			rn := newRunner(t, srv, "GITHUB_API_URL="+api.URL)
			code := rn.Run(map[string]string{"mode": "detect", "lock-table": table, "aws-region": "eu-west-2", "github-token": "tok",
				"stale-after": "30m", "active-within": "10m", "fail-on-active": "false", "auto-unlock": "definitive"})
			require.Equal(t, exitOK, code, rn.Stdout)
			out := rn.Outputs()
			assert.Equal(t, strings.Join(c.removed, ","), out["AUTO_UNLOCKED_LOCK_IDS"], "auto-unlock removes exactly the proven-dead locks")
			for _, l := range c.locks {
				want := !contains(c.removed, l.id)
				assert.Equal(t, want, held(t, ddb, table, l.path), "lock %s held after detect", l.id)
			}
			type detail struct {
				LockID                   string `json:"lock_id"`
				Status, Evidence, Reason string
			}
			var details []detail
			require.NoError(t, json.Unmarshal([]byte(out["LOCK_DETAILS"]), &details))
			var got *detail
			for i := range details {
				if details[i].LockID == live {
					got = &details[i]
				}
			}
			require.NotNil(t, got, "the live lock is reported: %s", out["LOCK_DETAILS"])
			assert.Equal(t, c.status, got.Status, got.Reason)
			assert.Equal(t, c.evidence, got.Evidence, got.Reason)
			assert.Contains(t, got.Reason, c.reason)
			if c.status == "ACTIVE" {
				assert.NotContains(t, out["LOCK_IDS"], live, "a live lock is never offered")
			}
			// Bounded: one listing per live status, then a few per lock,
			// however many records the state holds.
			assert.LessOrEqual(t, gh.Requests(""), len(lockcheck.LiveStatuses)+4*len(c.locks), "GitHub requests")
		})
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
