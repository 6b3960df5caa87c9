package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/sethvargo/go-githubactions"
	"github.com/text2agent/tfstate-guard/backend"
	"github.com/text2agent/tfstate-guard/layer"
	"github.com/text2agent/tfstate-guard/lockcheck"
	"github.com/text2agent/tfstate-guard/report"
)

// Exit codes, documented in README.md.
const (
	exitOK      = 0 // success
	exitBlocked = 1 // detect found live locks (fail-on-active) or unlock refused a lock
	exitInput   = 2 // invalid input
	exitFailure = 3 // AWS or GitHub failure
)

// app carries one invocation's configuration and writers.
type app struct {
	cfg    *Config
	stdout io.Writer
	stderr io.Writer
	action *githubactions.Action
	now    func() time.Time
	retry  lockcheck.RetryPolicy
}

// run is the whole program: parse, dispatch, map the error to an exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, err := loadConfig(args, getenv, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "tfstate-guard: invalid input:\n%s\n", indent(err.Error()))
		if cfg != nil && cfg.InActions {
			githubactions.New(githubactions.WithWriter(stdout), githubactions.WithGetenv(getenv)).Errorf("invalid input: %s", err)
		}
		return exitInput
	}
	a := &app{
		cfg: cfg, stdout: stdout, stderr: stderr, now: time.Now,
		action: githubactions.New(githubactions.WithWriter(stdout), githubactions.WithGetenv(getenv)),
		retry:  newRetryPolicy(),
	}
	a.retry.OnWait = func(reason string, d time.Duration) {
		a.warnf("GitHub API: %s; waiting %s before retrying", reason, d.Round(time.Second))
	}
	code, err := a.dispatch(ctx)
	if err != nil {
		var ie *inputError
		if errors.As(err, &ie) {
			code = exitInput
		}
		fmt.Fprintf(stderr, "tfstate-guard %s: %s\n", cfg.Mode, err)
		if cfg.InActions {
			a.action.Errorf("%s: %s", cfg.Mode, err)
		}
	}
	return code
}

// newRetryPolicy is the GitHub client's retry policy; the reliability
// harness shortens its waits to inject faults quickly.
var newRetryPolicy = lockcheck.DefaultRetryPolicy

// inputError marks an error the user fixes by changing an input (exit 2).
type inputError struct{ err error }

func (e *inputError) Error() string { return e.err.Error() }
func (e *inputError) Unwrap() error { return e.err }

func (a *app) dispatch(ctx context.Context) (int, error) {
	switch a.cfg.Mode {
	case ModeDetect:
		return a.detect(ctx)
	case ModeUnlock:
		return a.unlock(ctx)
	case ModeSetup:
		return a.setup(ctx)
	case ModeBackup:
		return a.backup(ctx)
	case ModeBuildLayer:
		return a.buildLayer(ctx)
	}
	return exitInput, &inputError{fmt.Errorf("mode %q is not a mode: use one of %s", a.cfg.Mode, joinModes())}
}

// classifyBackendError maps setup and backup errors to exit codes: a
// configuration the user must fix is an input error, the rest AWS failures.
func classifyBackendError(err error) (int, error) {
	var ce *backend.ConfigError
	if errors.As(err, &ce) {
		return exitInput, &inputError{err}
	}
	return exitFailure, err
}

func (a *app) setup(ctx context.Context) (int, error) {
	cfg, err := a.awsConfig(ctx)
	if err != nil {
		return exitFailure, err
	}
	res, err := backend.Setup(ctx, a.s3Client(cfg), dynamodb.NewFromConfig(cfg), a.cfg.Setup)
	if err != nil {
		return classifyBackendError(err)
	}
	if err := report.SetupTable(a.stdout, res); err != nil {
		return exitFailure, err
	}
	for _, c := range res.Attention() {
		a.warnf("%s %s: %s", c.Resource, c.Setting, c.Detail)
	}
	return a.finish(report.SetupOutputs(res), report.SetupSummary(res))
}

func (a *app) backup(ctx context.Context) (int, error) {
	cfg, err := a.awsConfig(ctx)
	if err != nil {
		return exitFailure, err
	}
	o := a.cfg.Backup
	res, err := backend.Backup(ctx, a.s3Client(cfg), o)
	if err != nil {
		return classifyBackendError(err)
	}
	if res.NoState {
		fmt.Fprintf(a.stdout, "no state at s3://%s/%s yet: nothing to back up\n", res.Bucket, res.SourceKey)
	} else {
		fmt.Fprintf(a.stdout, "backed up s3://%s/%s to s3://%s/%s\n", res.Bucket, res.SourceKey, res.Bucket, res.Key)
	}
	return a.finish(report.BackupOutputs(res), report.BackupSummary(res))
}

func (a *app) buildLayer(ctx context.Context) (int, error) {
	o := a.cfg.Layer
	if a.cfg.InActions {
		for _, secret := range indexSecrets(o) {
			a.action.AddMask(secret)
		}
	}
	o.Progress = a.stderr
	res, err := layer.Build(ctx, o)
	if err != nil {
		// No fitting wheel, or a package the index does not have: the
		// requirements input must change. Anything else is a failure.
		var nw *layer.NoWheelError
		var hs *layer.HTTPStatusError
		if errors.As(err, &nw) || (errors.As(err, &hs) && hs.StatusCode == http.StatusNotFound) {
			return exitInput, &inputError{err}
		}
		return exitFailure, err
	}
	fmt.Fprintf(a.stdout, "wrote %s: %d bytes, sha256 (base64) %s\n", res.Path, res.Size, res.SHA256Base64)
	for _, w := range res.Warnings {
		a.warnf("%s", w)
	}
	return a.finish(report.LayerOutputs(res), report.LayerSummary(res))
}

// indexSecrets are the credentials of a private index, to mask in logs:
// the token, and the password (or token-as-user) inside index-url.
func indexSecrets(o layer.Options) []string {
	var out []string
	if o.IndexToken != "" {
		out = append(out, o.IndexToken)
	}
	if u, err := url.Parse(o.IndexURL); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			out = append(out, p)
		} else if name := u.User.Username(); name != "" {
			out = append(out, name)
		}
	}
	return out
}

// finish writes a mode's outputs and step summary when running in Actions.
func (a *app) finish(pairs []report.Pair, summary string) (int, error) {
	if err := a.writeOutputs(pairs); err != nil {
		return exitFailure, err
	}
	if err := report.AppendSummary(a.cfg.Runner.Summary, summary); err != nil {
		return exitFailure, err
	}
	return exitOK, nil
}

func (a *app) awsConfig(ctx context.Context) (aws.Config, error) {
	opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(a.cfg.AWSRegion)}
	if a.cfg.AWSProfile != "" {
		opts = append(opts, awsconfig.WithSharedConfigProfile(a.cfg.AWSProfile))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return cfg, &inputError{fmt.Errorf("load AWS configuration (aws-profile %q, aws-region %q): %w", a.cfg.AWSProfile, a.cfg.AWSRegion, err)}
	}
	return cfg, nil
}

func (a *app) s3Client(cfg aws.Config) *s3.Client {
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.UsePathStyle = a.cfg.PathStyleS3
		// A .tflock written without a checksum (older Terraform, other
		// tools, moto) made the SDK print a DEBUG line per read into the log.
		o.DisableLogOutputChecksumValidationSkipped = true
	})
}

// stores builds the lock stores the configuration names.
func (a *app) stores(ctx context.Context) ([]lockcheck.Store, error) {
	cfg, err := a.awsConfig(ctx)
	if err != nil {
		return nil, err
	}
	var stores []lockcheck.Store
	if a.cfg.LockSource == "s3" || a.cfg.LockSource == "both" {
		stores = append(stores, &lockcheck.S3Store{API: a.s3Client(cfg), Bucket: a.cfg.StateBucket, Prefix: a.cfg.StatePrefix})
	}
	if a.cfg.LockTable != "" {
		// The table holds the run records even when locks live in S3 only.
		st := &lockcheck.DynamoDBStore{API: dynamodb.NewFromConfig(cfg), Table: a.cfg.LockTable}
		if a.cfg.LockSource == "s3" {
			stores = append(stores, &lockcheck.RecordsOnly{Store: st})
		} else {
			stores = append(stores, st)
		}
	}
	return stores, nil
}

func (a *app) classifier() *lockcheck.Classifier {
	c := &lockcheck.Classifier{
		Policy: lockcheck.Policy{
			ActiveWithin: a.cfg.ActiveWithin, StaleAfter: a.cfg.StaleAfter,
			Repository: a.cfg.Repository, Current: a.cfg.Current, RecordSkew: lockcheck.DefaultRecordSkew,
		},
		Now: a.now,
	}
	if a.cfg.GitHubToken == "" {
		a.warnf("no github-token: owning runs cannot be checked, so only the age rules decide")
		return c
	}
	runs, err := lockcheck.NewGitHubRuns(a.cfg.GitHubAPIURL, a.cfg.GitHubToken, nil, a.retry)
	if err != nil {
		a.warnf("%v; only the age rules decide", err)
		return c
	}
	c.Runs = runs
	return c
}

func (a *app) detect(ctx context.Context) (int, error) {
	stores, err := a.stores(ctx)
	if err != nil {
		return exitFailure, err
	}
	d := &lockcheck.Detector{Stores: stores, Classifier: a.classifier(), LockPathPrefix: a.cfg.LockIDPrefix}
	det, err := d.Detect(ctx)
	if err != nil {
		return exitFailure, err
	}
	if err := a.reportDetection(det, stores); err != nil {
		return exitFailure, err
	}
	if len(det.Active()) > 0 && a.cfg.FailOnActive {
		return exitBlocked, fmt.Errorf("%d active lock(s) found: a live Terraform run holds the state; wait for it to finish (fail-on-active is true)", len(det.Active()))
	}
	return exitOK, nil
}

func (a *app) reportDetection(det *lockcheck.Detection, stores []lockcheck.Store) error {
	if a.cfg.JSON {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(report.Details(det.Verdicts)); err != nil {
			return err
		}
	} else if err := report.DetectTable(a.stdout, det); err != nil {
		return err
	}
	if a.cfg.Runner.Output == "" && a.cfg.Runner.Summary == "" {
		return nil
	}
	pairs, err := report.DetectOutputs(det)
	if err != nil {
		return err
	}
	if err := a.writeOutputs(pairs); err != nil {
		return err
	}
	exported, dropped := report.ForEnvironment(pairs)
	if err := report.AppendFileCommand(a.cfg.Runner.Env, exported); err != nil {
		return err
	}
	for _, name := range dropped {
		a.warnf("%s is too large to export to the environment of later steps (Linux limits one variable to 128 KiB); read it from the step output instead", name)
	}
	report.Annotate(a.action, det)
	return report.AppendSummary(a.cfg.Runner.Summary, report.DetectSummary(det, storeNames(stores)))
}

func (a *app) unlock(ctx context.Context) (int, error) {
	stores, err := a.stores(ctx)
	if err != nil {
		return exitFailure, err
	}
	u := &lockcheck.Unlocker{Stores: stores, Classifier: a.classifier(), LockPathPrefix: a.cfg.LockIDPrefix}
	results, err := u.Unlock(ctx, a.cfg.Approved)
	if err != nil {
		return exitFailure, err
	}
	if a.cfg.JSON {
		details, err := report.UnlockDetails(results)
		if err != nil {
			return exitFailure, err
		}
		fmt.Fprintln(a.stdout, details)
	} else if err := report.UnlockTable(a.stdout, results); err != nil {
		return exitFailure, err
	}
	if a.cfg.Runner.Output != "" || a.cfg.Runner.Summary != "" {
		pairs, err := report.UnlockOutputs(results)
		if err != nil {
			return exitFailure, err
		}
		if err := a.writeOutputs(pairs); err != nil {
			return exitFailure, err
		}
		if err := report.AppendSummary(a.cfg.Runner.Summary, report.UnlockSummary(results)); err != nil {
			return exitFailure, err
		}
	}
	var refused, failed []string
	for _, r := range results {
		if r.Outcome == lockcheck.OutcomeRefused {
			refused = append(refused, r.ID)
		}
		if r.Err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", r.ID, r.Err))
		}
	}
	switch {
	case len(failed) > 0:
		return exitFailure, fmt.Errorf("AWS failed while removing lock(s), and the reasons above say what is still held:\n%s", strings.Join(failed, "\n"))
	case len(refused) > 0:
		return exitBlocked, fmt.Errorf("refused to remove lock(s) %s: see the reasons above; nothing else was touched", strings.Join(refused, ", "))
	}
	return exitOK, nil
}

// writeOutputs writes step outputs.
func (a *app) writeOutputs(pairs []report.Pair) error {
	return report.AppendFileCommand(a.cfg.Runner.Output, pairs)
}

func (a *app) warnf(format string, args ...any) {
	if a.cfg.InActions {
		a.action.Warningf(format, args...)
		return
	}
	fmt.Fprintf(a.stderr, "warning: "+format+"\n", args...)
}

func storeNames(stores []lockcheck.Store) string {
	names := make([]string, len(stores))
	for i, s := range stores {
		names[i] = report.Cell(s.Name())
	}
	return strings.Join(names, " and ")
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}
