package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/text2agent/tfstate-guard/internal/fakegithub"
	"github.com/text2agent/tfstate-guard/lockcheck"
)

// The cases of issue 9, run as the runner runs the binary: a real lock table
// on moto, GitHub's JSON from a stand-in, detect with fail-on-active.
func TestBinaryOwnerEvidence(t *testing.T) {
	t.Parallel()
	const (
		path    = "bkt/app/terraform.tfstate"
		repo    = "octo/infra"
		ciHost  = "runnervmg1sw1" // the GitHub-hosted VM of run 100's job
		ciRun   = "GitHub Actions 1000000100"
		laptop  = "alice@alices-macbook"
		ciWho   = "runner@" + ciHost
		lockID  = "9161f8d3-91c8-c716-d20c-f2c95576c5e2"
		minute  = time.Minute
		liveAPI = "in_progress"
	)
	type tc struct {
		name     string
		who      string
		lockAge  time.Duration
		records  func(now time.Time) []lockcheck.RunRecord
		github   func(gh *fakegithub.API, now time.Time)
		exit     int
		status   string
		evidence string
		reason   string
	}
	record := func(run int64, attempt int, written time.Time, host string) lockcheck.RunRecord {
		return lockcheck.RunRecord{LockPath: path, Repository: repo, RunID: run, RunAttempt: attempt, Job: "terraform-apply",
			RunnerName: ciRun, Host: host, HostExclusive: host != "", Written: written}
	}
	cases := []tc{
		{name: "young foreign lock a minute after a completed run", who: laptop, lockAge: minute,
			records: func(now time.Time) []lockcheck.RunRecord {
				return []lockcheck.RunRecord{record(100, 1, now.Add(-10*minute), "")}
			},
			github: func(gh *fakegithub.API, now time.Time) { gh.End(repo, 100, 1, "success", ciRun, now.Add(-2*minute)) },
			exit:   exitBlocked, status: "ACTIVE", evidence: "none",
			reason: "no owning run identified (run 100 attempt 1 (record of job \"terraform-apply\", host unknown) ended 1m0s before this lock was taken: not its owner); created 1m"},
		{name: "week-old record and a fresh foreign lock", who: laptop, lockAge: 20 * time.Second,
			records: func(now time.Time) []lockcheck.RunRecord {
				return []lockcheck.RunRecord{record(100, 1, now.Add(-6*24*time.Hour), ciHost)}
			},
			github: func(gh *fakegithub.API, now time.Time) {
				gh.End(repo, 100, 1, "success", ciRun, now.Add(-6*24*time.Hour+minute))
			},
			exit: exitBlocked, status: "ACTIVE", evidence: "none",
			reason: `run 100 set up on host "runnervmg1sw1", the lock was taken on "alices-macbook": not its owner`},
		{name: "a record of another host", who: "runner@runnervm0other", lockAge: 2 * minute,
			records: func(now time.Time) []lockcheck.RunRecord {
				return []lockcheck.RunRecord{record(100, 1, now.Add(-3*minute), ciHost)}
			},
			github: func(gh *fakegithub.API, now time.Time) { gh.End(repo, 100, 1, "cancelled", ciRun, now.Add(-minute)) },
			exit:   exitBlocked, status: "ACTIVE", evidence: "none", reason: "not its owner"},
		{name: "the record's exclusive host took the lock and its job ended after", who: ciWho, lockAge: 2 * minute,
			records: func(now time.Time) []lockcheck.RunRecord {
				return []lockcheck.RunRecord{record(100, 1, now.Add(-3*minute), ciHost)}
			},
			github: func(gh *fakegithub.API, now time.Time) { gh.End(repo, 100, 1, "cancelled", ciRun, now.Add(-minute)) },
			exit:   exitOK, status: "STALE", evidence: "definitive",
			reason: `run 100 attempt 1 (record of job "terraform-apply" on the lock's host, which runs one job at a time) ended 1m0s after this lock was taken (cancelled): its owner is gone`},
		{name: "its run still in progress", who: ciWho, lockAge: 5 * time.Hour,
			records: func(now time.Time) []lockcheck.RunRecord {
				return []lockcheck.RunRecord{record(100, 1, now.Add(-5*time.Hour-minute), ciHost)}
			},
			github: func(gh *fakegithub.API, _ time.Time) { gh.SetAttempt(repo, 100, 1, liveAPI, "") },
			exit:   exitBlocked, status: "ACTIVE", evidence: "definitive", reason: "run 100 attempt 1 (record of job \"terraform-apply\" on the lock's host, which runs one job at a time) is in_progress"},
		{name: "a re-run whose earlier attempt ended", who: ciWho, lockAge: 3 * minute,
			records: func(now time.Time) []lockcheck.RunRecord {
				return []lockcheck.RunRecord{record(100, 1, now.Add(-4*minute), ciHost)}
			},
			github: func(gh *fakegithub.API, now time.Time) {
				gh.End(repo, 100, 1, "failure", ciRun, now.Add(-2*minute))
				gh.SetAttempt(repo, 100, 2, liveAPI, "")
			},
			exit: exitOK, status: "STALE", evidence: "definitive", reason: "run 100 attempt 1"},
		{name: "GitHub cannot say when the run ended", who: ciWho, lockAge: 2 * minute,
			records: func(now time.Time) []lockcheck.RunRecord {
				return []lockcheck.RunRecord{record(100, 1, now.Add(-3*minute), ciHost)}
			},
			github: func(gh *fakegithub.API, _ time.Time) { gh.SetAttempt(repo, 100, 1, "completed", "cancelled") }, // no jobs listed
			exit:   exitBlocked, status: "ACTIVE", evidence: "none", reason: "GitHub did not say when run 100 attempt 1"},
		{name: "GitHub cannot say when it ended, old lock: age rules only", who: ciWho, lockAge: 2 * time.Hour,
			records: func(now time.Time) []lockcheck.RunRecord {
				return []lockcheck.RunRecord{record(100, 1, now.Add(-2*time.Hour-minute), ciHost)}
			},
			github: func(gh *fakegithub.API, _ time.Time) { gh.SetAttempt(repo, 100, 1, "completed", "cancelled") },
			exit:   exitOK, status: "STALE", evidence: "none", reason: "beyond stale-after (30m0s)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv, ddb, table := lockTable(t)
			now := time.Now().UTC().Truncate(time.Second) // GitHub's times have whole seconds
			put(t, ddb, table, map[string]string{"LockID": path, "Info": info(lockID, path, c.who, now.Add(-c.lockAge))})
			for _, r := range c.records(now) {
				require.NoError(t, lockcheck.WriteRunRecord(context.Background(), ddb, table, r))
			}
			gh := fakegithub.New()
			c.github(gh, now)
			api := httptest.NewServer(gh)
			t.Cleanup(api.Close)
			rn := newRunner(t, srv, "GITHUB_API_URL="+api.URL)
			code := rn.Run(map[string]string{"mode": "detect", "lock-table": table, "aws-region": "eu-west-2", "github-token": "tok",
				"stale-after": "30m", "active-within": "10m", "fail-on-active": "true"})
			assert.Equal(t, c.exit, code, rn.Stdout)
			out := rn.Outputs()
			assert.Equal(t, fmt.Sprint(c.status == "ACTIVE"), out["ACTIVE_LOCKS_FOUND"])
			assert.Equal(t, fmt.Sprint(c.status == "STALE"), out["STALE_LOCKS_FOUND"])
			if c.status == "STALE" {
				assert.Equal(t, lockID, out["LOCK_IDS"])
			} else {
				assert.Empty(t, out["LOCK_IDS"], "an active lock is never offered for unlock")
			}
			var details []struct{ Status, Evidence, Reason string }
			require.NoError(t, json.Unmarshal([]byte(out["LOCK_DETAILS"]), &details))
			require.Len(t, details, 1)
			assert.Equal(t, c.status, details[0].Status)
			assert.Equal(t, c.evidence, details[0].Evidence)
			assert.Contains(t, details[0].Reason, c.reason)
			assert.LessOrEqual(t, gh.Requests(""), len(lockcheck.LiveStatuses)+3, "a lock costs one listing per live status and a few GitHub requests at most")
		})
	}
}

// A lock detect called stale is refused at unlock once GitHub's answer
// changes: unlock classifies again with the same rules.
func TestBinaryUnlockRefusesWhenTheEvidenceChanged(t *testing.T) {
	t.Parallel()
	const path, lockID = "bkt/app/terraform.tfstate", "0c1d2e3f-4a5b-6c7d-8e9f-a0b1c2d3e4f5"
	srv, ddb, table := lockTable(t)
	now := time.Now().UTC()
	put(t, ddb, table, map[string]string{"LockID": path, "Info": info(lockID, path, "runner@runnervm7", now.Add(-2*time.Minute))})
	require.NoError(t, lockcheck.WriteRunRecord(context.Background(), ddb, table, lockcheck.RunRecord{LockPath: path, Repository: "octo/infra",
		RunID: 100, RunAttempt: 1, Job: "terraform-apply", RunnerName: "GitHub Actions 7", Host: "runnervm7", HostExclusive: true, Written: now.Add(-3 * time.Minute)}))
	gh := fakegithub.New()
	gh.End("octo/infra", 100, 1, "cancelled", "GitHub Actions 7", now.Add(-time.Minute))
	api := httptest.NewServer(gh)
	t.Cleanup(api.Close)
	rn := newRunner(t, srv, "GITHUB_API_URL="+api.URL)
	base := map[string]string{"lock-table": table, "aws-region": "eu-west-2", "github-token": "tok"}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	require.Equal(t, exitOK, rn.Run(with(map[string]string{"mode": "detect"})), rn.Stdout)
	out := rn.Outputs()
	require.Equal(t, lockID, out["LOCK_IDS"])

	// GitHub corrects itself: the attempt is running after all.
	gh.SetAttempt("octo/infra", 100, 1, "in_progress", "")
	code := rn.Run(with(map[string]string{"mode": "unlock", "lock-ids": out["LOCK_IDS"], "lock-details": out["LOCK_DETAILS"]}))
	assert.Equal(t, exitBlocked, code, rn.Stdout)
	res := rn.Outputs()
	assert.Equal(t, lockID, res["REFUSED_LOCK_IDS"])
	assert.Contains(t, res["UNLOCK_DETAILS"], `"evidence":"definitive"`)
	assert.Contains(t, res["UNLOCK_DETAILS"], "the lock is active again: run 100 attempt 1")
	item, err := ddb.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"LockID": &types.AttributeValueMemberS{Value: path}}})
	require.NoError(t, err)
	assert.NotNil(t, item.Item, "the lock is still held")
}
