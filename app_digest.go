package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/user"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/text2agent/tfstate-guard/lockcheck"
	"github.com/text2agent/tfstate-guard/report"
)

// digestResult is detect's digest check and the migration view beside it.
type digestResult struct {
	report *lockcheck.DigestReport
	kinds  []lockcheck.StateKinds
}

// checkDigests compares every digest item with its state's bytes when
// check-digests asks for it; nil otherwise.
func (a *app) checkDigests(ctx context.Context, det *lockcheck.Detection) (*digestResult, error) {
	if !a.cfg.Digests.Check {
		return nil, nil
	}
	cfg, err := a.awsConfig(ctx)
	if err != nil {
		return nil, err
	}
	c := &lockcheck.DigestChecker{
		Table: dynamodb.NewFromConfig(cfg), TableName: a.cfg.LockTable, S3: a.s3Client(cfg),
		Prefix: a.cfg.LockIDPrefix, ReadLimit: a.cfg.Digests.ReadLimit,
	}
	rep, err := c.Check(ctx)
	if err != nil {
		return nil, fmt.Errorf("check digests: %w", err)
	}
	if rep.LimitReached {
		a.warnf("digest-read-limit (%d bytes) reached: %d state(s) were not checked; raise %s or narrow %s",
			rep.ReadLimit, rep.Count(lockcheck.DigestUnchecked), a.cfg.ref("digest-read-limit"), a.cfg.ref("lock-id-prefix"))
	}
	return &digestResult{report: rep, kinds: lockcheck.MigrationView(det.Verdicts, rep)}, nil
}

// reportDigests prints the digest check and writes its outputs and summary.
func (a *app) reportDigests(d *digestResult) error {
	if d == nil {
		return nil
	}
	if a.cfg.JSON {
		// A second JSON document after LOCK_DETAILS: DIGEST_MISMATCHES.
		js, err := json.Marshal(report.DigestEntries(d.report, d.kinds))
		if err != nil {
			return err
		}
		fmt.Fprintln(a.stdout, string(js))
	} else if err := report.DigestTable(a.stdout, d.report); err != nil {
		return err
	}
	for _, k := range d.kinds {
		if k.LeftoverDigest {
			a.warnf("leftover digest on %s: the state is locked with lock files only, so its digest item is no longer updated; the next run with dynamodb_table fails on it (repair it with unlock's repair-digests)", k.LockPath)
		}
	}
	if a.cfg.Runner.Output == "" && a.cfg.Runner.Summary == "" {
		return nil
	}
	pairs, err := report.DigestOutputs(d.report, d.kinds)
	if err != nil {
		return err
	}
	if err := a.writeOutputs(pairs); err != nil {
		return err
	}
	return report.AppendSummary(a.cfg.Runner.Summary, report.DigestSummary(d.report, d.kinds))
}

// digestVerdict fails detect on a mismatch when fail-on-digest-mismatch asks.
func (a *app) digestVerdict(d *digestResult) (int, error) {
	if d == nil {
		return exitOK, nil
	}
	if failed := d.report.Failed(); len(failed) > 0 {
		return exitFailure, fmt.Errorf("%d state(s) could not be read to check their digest (every other result was reported), first %s: %v",
			len(failed), failed[0].LockPath, failed[0].Err)
	}
	if !a.cfg.Digests.FailOnMismatch {
		return exitOK, nil
	}
	if n := len(d.report.Mismatches()); n > 0 {
		return exitBlocked, fmt.Errorf("%d state digest(s) do not match their state: Terraform fails on these states with \"state data in S3 does not have the expected content\"; approve the repair (unlock with %s) (%s)",
			n, a.cfg.setting("repair-digests", "<DIGEST_MISMATCHES>"), a.cfg.setting("fail-on-digest-mismatch", "true"))
	}
	return exitOK, nil
}

// repairDigests repairs the approved digest mismatches (unlock).
func (a *app) repairDigests(ctx context.Context) (int, error) {
	d := a.cfg.Digests
	if len(d.Repair) == 0 {
		return exitOK, nil
	}
	cfg, err := a.awsConfig(ctx)
	if err != nil {
		return exitFailure, err
	}
	r := &lockcheck.DigestRepairer{
		Table: dynamodb.NewFromConfig(cfg), TableName: a.cfg.LockTable, S3: a.s3Client(cfg),
		AllowRollback: d.AllowRollback, ReadLimit: d.ReadLimit, Who: lockWho(), Version: "tfstate-guard", Now: a.now,
	}
	results := r.Repair(ctx, lockcheck.RepairInput{Approved: d.Repair, Restore: d.Restore, Forget: d.Forget})
	if a.cfg.JSON {
		js, err := report.RepairDetails(results)
		if err != nil {
			return exitFailure, err
		}
		fmt.Fprintln(a.stdout, js)
	} else if err := report.RepairTable(a.stdout, results); err != nil {
		return exitFailure, err
	}
	if a.cfg.Runner.Output != "" || a.cfg.Runner.Summary != "" {
		pairs, err := report.RepairOutputs(results)
		if err != nil {
			return exitFailure, err
		}
		if err := a.writeOutputs(pairs); err != nil {
			return exitFailure, err
		}
		if err := report.AppendSummary(a.cfg.Runner.Summary, report.RepairSummary(results)); err != nil {
			return exitFailure, err
		}
	}
	var refused, failed []string
	for _, res := range results {
		switch {
		case res.Err != nil:
			failed = append(failed, fmt.Sprintf("%s: %v", res.LockPath, res.Err))
		case res.Outcome == lockcheck.RepairRefused:
			refused = append(refused, fmt.Sprintf("%s: %s", res.LockPath, res.Reason))
		}
	}
	switch {
	case len(failed) > 0:
		return exitFailure, fmt.Errorf("digest repair failed:\n%s", strings.Join(append(failed, refused...), "\n"))
	case len(refused) > 0:
		return exitBlocked, fmt.Errorf("refused to repair digest(s); nothing was written for them:\n%s", strings.Join(refused, "\n"))
	}
	return exitOK, nil
}

// mergeVerdicts joins two step verdicts: the more serious code wins
// (AWS failure 3, input 2, refusal 1), and every message is kept.
func mergeVerdicts(code1 int, err1 error, code2 int, err2 error) (int, error) {
	return max(code1, code2), errors.Join(err1, err2)
}

// lockWho is user@host, as Terraform fills a lock's Who.
func lockWho() string {
	name := "unknown"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	host, _ := os.Hostname()
	return name + "@" + host
}
