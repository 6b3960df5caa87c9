// Package backend owns Terraform's S3 backend as this action prepares it:
// the state bucket and its hardening, the DynamoDB lock table, a probe of
// the credentials' permissions, the generated backend file, the run record
// that ties this run to the locks it will take (mode setup), and copies of
// the state before an apply (mode backup). It never imports the Actions
// toolkit: callers pass clients and options and receive results.
package backend

import (
	"context"
	"fmt"
	"time"

	"github.com/text2agent/tfstate-guard/lockcheck"
)

// Setup makes the backend ready for Terraform and reports each check.
//
// When everything already exists and is right it only reads (the
// permission probe's conditional writes are refused by design and write
// nothing); the one write is the run record, when o.RunRecord is set. The
// bucket and the table are handled at the same time, and independent
// reads within each run in parallel.
//
// On error the result holds the checks completed so far (it is nil only
// when the options are invalid). See errors.go for how errors are typed.
func Setup(ctx context.Context, s3c S3API, ddb DynamoDBAPI, o SetupOptions) (*SetupResult, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	start := o.now()
	res := &SetupResult{
		Region:      o.Region,
		Bucket:      o.Bucket,
		StatePath:   o.StatePath(),
		LockPath:    o.LockPath(),
		LockMethod:  o.LockMethod,
		BackendFile: o.BackendFile,
	}
	if o.KeepsTable() {
		res.Table = o.Table
	}
	finish := func(err error) (*SetupResult, error) {
		res.Duration = o.now().Sub(start)
		return res, err
	}

	var bucketChecks, tableChecks []Check
	err := parallel(
		func() (err error) { bucketChecks, err = ensureBucket(ctx, s3c, o); return },
		func() (err error) {
			if !o.KeepsTable() {
				tableChecks = []Check{tableCheck(SettingExists, StateSkipped, "lock-method %s with no lock-table keeps no table", o.LockMethod)}
				return nil
			}
			tableChecks, err = ensureTable(ctx, ddb, o)
			return err
		},
	)
	res.Checks = append(append(res.Checks, bucketChecks...), tableChecks...)
	if err != nil {
		return finish(err)
	}

	probes, err := probe(ctx, s3c, ddb, o)
	res.Checks = append(res.Checks, probes...)
	if err != nil {
		return finish(err)
	}

	fileCheck, err := writeBackendFile(o.BackendFile, RenderBackendFile(o))
	if err != nil {
		return finish(err)
	}
	res.Checks = append(res.Checks, fileCheck)

	recordCheck, record, err := writeRunRecord(ctx, ddb, o)
	if err != nil {
		return finish(err)
	}
	res.Checks = append(res.Checks, recordCheck)
	res.RunRecord = record
	return finish(nil)
}

// writeRunRecord stores the record detect uses to tie a future lock on
// this state to this run.
func writeRunRecord(ctx context.Context, ddb DynamoDBAPI, o SetupOptions) (Check, *lockcheck.RunRecord, error) {
	check := func(state CheckState, format string, args ...any) Check {
		return Check{Resource: ResourceRunRecord, Setting: "run record", State: state, Detail: fmt.Sprintf(format, args...)}
	}
	if o.RunRecord == nil {
		return check(StateSkipped, "not running in GitHub Actions"), nil, nil
	}
	if !o.KeepsTable() {
		return check(StateSkipped, "lock-method %s with no lock-table keeps no table to hold it", o.LockMethod), nil, nil
	}
	r := *o.RunRecord
	r.LockPath = o.LockPath()
	if r.Written.IsZero() {
		r.Written = o.now().UTC()
	}
	if r.Expires.IsZero() {
		r.Expires = r.Written.Add(lockcheck.DefaultRunRecordTTL)
	}
	if err := r.Validate(); err != nil {
		return Check{}, nil, &ConfigError{Message: "cannot write the run record", Err: err}
	}
	dropped, err := lockcheck.WriteRunRecordReporting(ctx, ddb, o.Table, r)
	if err != nil {
		if isAccessDenied(err) {
			return Check{}, nil, &PermissionError{Action: "dynamodb:PutItem", Resource: o.Table, Err: err}
		}
		return Check{}, nil, err
	}
	host := "host unknown"
	switch {
	case r.Host != "" && r.HostExclusive:
		host = fmt.Sprintf("on host %s (one job at a time)", r.Host)
	case r.Host != "":
		host = fmt.Sprintf("on host %s (may run other jobs)", r.Host)
	}
	msg := fmt.Sprintf("run %d attempt %d job %s, %s, expires %s", r.RunID, r.RunAttempt, r.Job, host, r.Expires.UTC().Format("2006-01-02T15:04Z"))
	if len(dropped) > 0 {
		// Past the hard cap: the oldest unexpired entries went. A lock
		// whose owner was among them falls back to the age rules.
		old := dropped[0]
		msg += fmt.Sprintf("; warning: the state's record item was full (%d entries), so %d older entries were dropped, the oldest run %d written %s",
			lockcheck.MaxRunsPerState, len(dropped), old.RunID, old.Written.UTC().Format(time.RFC3339))
	}
	return check(StateChanged, "%s", msg), &r, nil
}
