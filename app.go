package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/ec2rolecreds"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/logging"
	"github.com/sethvargo/go-githubactions"
	"github.com/text2agent/tfstate-guard/backend"
	"github.com/text2agent/tfstate-guard/internal/runnerhost"
	"github.com/text2agent/tfstate-guard/layer"
	"github.com/text2agent/tfstate-guard/lockcheck"
	"github.com/text2agent/tfstate-guard/report"
)

// Exit codes, documented in README.md.
const (
	exitOK      = 0 // success
	exitBlocked = 1 // detect found live locks (fail-on-active) or a digest mismatch (fail-on-digest-mismatch), or unlock refused a lock or a digest repair
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
	// later is a warning about GitHub access, given after the locks were
	// read (so a missing table or credentials is the only message).
	later string
	// warnMu serialises warnings: GitHub's retry waits report from the
	// goroutines that ask about several runs at once.
	warnMu sync.Mutex
}

// warnLater gives the deferred warning, once.
func (a *app) warnLater() {
	if a.later != "" {
		a.warnf("%s", a.later)
		a.later = ""
	}
}

// run is the whole program: parse, dispatch, map the error to an exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "run" {
		return runWrapped(ctx, args[1:], getenv, stdout, stderr) // run.go: Terraform under a lease
	}
	cfg, err := loadConfig(args, getenv, stderr)
	var help *helpRequest
	if errors.As(err, &help) {
		if help.Mode == "" {
			writeUsage(stdout)
		} else {
			writeModeUsage(stdout, help.Mode)
		}
		return exitOK
	}
	if err != nil {
		// Inside Actions the error annotation is the one report (the log
		// shows it too); on the command line, stderr.
		if cfg != nil && cfg.InActions {
			githubactions.New(githubactions.WithWriter(stdout), githubactions.WithGetenv(getenv)).Errorf("invalid input: %s", err)
		} else {
			fmt.Fprintf(stderr, "tfstate-guard: invalid input:\n%s\n", indent(err.Error()))
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
		code, err = a.explain(code, err)
		var ie *inputError
		if errors.As(err, &ie) {
			code = exitInput
		}
		if cfg.InActions {
			a.action.Errorf("%s: %s", cfg.Mode, err)
		} else {
			fmt.Fprintf(stderr, "tfstate-guard %s: %s\n", cfg.Mode, err)
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
	case ModeInstall:
		return a.install() // install.go
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
	o := a.cfg.Setup
	if o.RunRecord != nil {
		rec := *o.RunRecord
		host, source, err := (runnerhost.Finder{Explicit: a.cfg.RunnerHost}).Find(ctx)
		if err != nil {
			a.warnf("run record without a host: %v. A lock can then not be tied to this job by its host, and only the age rules can call it stale", err)
		}
		rec.Host, rec.HostExclusive = host, host != "" && a.cfg.RunnerExclusive
		o.RunRecord = &rec
		if host != "" {
			fmt.Fprintf(a.stderr, "run record host: %s (from the %s; one job at a time: %t)\n", report.Terminal(host), source, rec.HostExclusive)
		}
	}
	res, err := backend.Setup(ctx, a.s3Client(cfg), dynamodb.NewFromConfig(cfg), o)
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

// awsConfig loads the SDK's configuration and makes sure it found
// credentials, so that a machine without any hears so before a request
// fails with a message about permissions. The SDK's own log lines (such
// as the IMDS fallback warning) are shown only when debugging.
func (a *app) awsConfig(ctx context.Context) (aws.Config, error) {
	opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(a.cfg.AWSRegion), awsconfig.WithLogger(logging.Nop{})}
	if a.cfg.Debug {
		opts = append(opts, awsconfig.WithLogger(logging.NewStandardLogger(a.stderr)), awsconfig.WithClientLogMode(aws.LogRetries))
	}
	if a.cfg.AWSProfile != "" {
		opts = append(opts, awsconfig.WithSharedConfigProfile(a.cfg.AWSProfile))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		var np awsconfig.SharedConfigProfileNotExistError
		if errors.As(err, &np) {
			return cfg, &inputError{fmt.Errorf("%s %q names no profile in the shared config files (~/.aws/config, ~/.aws/credentials): check the name; aws configure list-profiles lists them", a.cfg.ref("aws-profile"), a.cfg.AWSProfile)}
		}
		return cfg, &inputError{fmt.Errorf("load AWS configuration (%s %q, %s %q): %w", a.cfg.ref("aws-profile"), a.cfg.AWSProfile, a.cfg.ref("aws-region"), a.cfg.AWSRegion, err)}
	}
	if cfg.Credentials == nil {
		return cfg, errors.New(a.noCredentials())
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		if ctx.Err() != nil {
			return cfg, ctx.Err()
		}
		if aws.IsCredentialsProvider(cfg.Credentials, (*ec2rolecreds.Provider)(nil)) {
			// The chain reached its last link, the instance role: nothing
			// else offered credentials.
			if a.cfg.Debug {
				return cfg, fmt.Errorf("%s\n(the SDK said: %v)", a.noCredentials(), err)
			}
			return cfg, errors.New(a.noCredentials())
		}
		return cfg, fmt.Errorf("get AWS credentials: %w", err)
	}
	return cfg, nil
}

// noCredentials says no credentials were found and how to give them, in
// the syntax of where the program runs.
func (a *app) noCredentials() string {
	const looked = "no AWS credentials found: looked in the environment, the shared config and credentials files, and the EC2 instance role"
	if a.cfg.InActions {
		return looked + ".\nGive this step credentials: add a step using aws-actions/configure-aws-credentials before it " +
			"(role-to-assume, with permissions: id-token: write for OIDC), or set aws-profile: to a profile on a self-hosted runner."
	}
	return looked + ".\nGive tfstate-guard credentials in one of these ways:\n" +
		"  - export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary ones)\n" +
		"  - --aws-profile NAME, a profile in ~/.aws/config (for SSO, run aws sso login --profile NAME first)\n" +
		"  - in a GitHub workflow, a step using aws-actions/configure-aws-credentials before this one"
}

// explain turns errors a user fixes by changing a setting into input
// errors worded in the syntax of where the program runs.
func (a *app) explain(code int, err error) (int, error) {
	var me *lockcheck.MissingError
	if errors.As(err, &me) {
		return exitInput, &inputError{errors.New(me.Message(a.cfg.ref))}
	}
	return code, err
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
		if a.cfg.TableReadState {
			st.OnlyState = a.cfg.LockIDPrefix // table-read: state
		}
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
			LeaseMargin: a.cfg.LeaseMargin,
		},
		Now: a.now,
	}
	// Said once the locks were read: an AWS problem comes first, alone.
	if a.cfg.GitHubToken == "" {
		if a.cfg.InActions {
			a.later = "no github-token: owning runs cannot be checked, so only the age rules decide"
		} else {
			a.later = "no GitHub token ($GITHUB_TOKEN or --github-token): owning runs cannot be checked, so only the age rules decide"
		}
		return c
	}
	runs, err := lockcheck.NewGitHubRuns(a.cfg.GitHubAPIURL, a.cfg.GitHubToken, nil, a.retry)
	if err != nil {
		a.later = fmt.Sprintf("%v; only the age rules decide", err)
		return c
	}
	c.Runs = runs
	return c
}

func (a *app) detect(ctx context.Context) (int, error) {
	a.maskSecrets()
	stores, err := a.stores(ctx)
	if err != nil {
		return exitFailure, err
	}
	cl := a.classifier()
	d := &lockcheck.Detector{Stores: stores, Classifier: cl, LockPathPrefix: a.cfg.LockIDPrefix, Holds: a.cfg.Holds}
	var det *lockcheck.Detection
	if a.cfg.WaitForActive > 0 && a.cfg.FailOnActive {
		told := false
		det, err = d.DetectWaiting(ctx, lockcheck.DefaultWaitPolicy(a.cfg.WaitForActive), func(det *lockcheck.Detection, left time.Duration) {
			fmt.Fprintln(a.stderr, report.Terminal(lockcheck.WaitingFor(det, left)))
			if !told { // the pull request hears who blocks it before the wait, not after
				told = true
				a.prComment(ctx, det)
			}
		})
		if err != nil && ctx.Err() != nil {
			return exitFailure, fmt.Errorf("cancelled while waiting for active locks (wait-for-active %s): nothing was removed", a.cfg.WaitForActive)
		}
	} else {
		det, err = d.Detect(ctx)
	}
	if err != nil {
		return exitFailure, err
	}
	a.warnLater()
	var auto []lockcheck.UnlockResult
	if a.cfg.AutoUnlock == "definitive" {
		// A lock whose candidate owners GitHub could not all answer about
		// blocks only itself: it waits for a person, and says why.
		for _, v := range det.Stale() {
			if v.APIProblem != "" {
				a.warnf("auto-unlock left lock %q of %q for a person: GitHub could not be asked about its owner (%s)",
					v.Lock.ID(), v.Lock.LockPath, v.APIProblem)
			}
		}
		u := &lockcheck.Unlocker{Stores: stores, Classifier: cl, LockPathPrefix: a.cfg.LockIDPrefix, Holds: a.cfg.Holds}
		if auto, err = lockcheck.AutoUnlock(ctx, u, det); err != nil {
			return exitFailure, err
		}
		if len(auto) > 0 {
			// Report what is held now: a removal may have been refused, and
			// the state may have been locked again meanwhile.
			if det, err = d.Detect(ctx); err != nil {
				return exitFailure, err
			}
		}
	}
	if err := a.reportDetection(det, stores, auto, cl.Runs != nil); err != nil {
		return exitFailure, err
	}
	a.notHeldFor(det)
	a.notify(ctx, det, auto)
	digests, err := a.checkDigests(ctx, det)
	if err != nil {
		return exitFailure, err
	}
	if err := a.reportDigests(digests); err != nil {
		return exitFailure, err
	}
	for _, r := range auto {
		if r.Err != nil {
			return exitFailure, fmt.Errorf("auto-unlock of lock %s failed: %w", r.ID, r.Err)
		}
	}
	if len(det.Active()) > 0 && a.cfg.FailOnActive {
		wait := ""
		if a.cfg.WaitForActive > 0 {
			wait = fmt.Sprintf(" after waiting %s (%s)", a.cfg.WaitForActive, a.cfg.setting("wait-for-active", a.cfg.WaitForActive.String()))
		}
		return exitBlocked, fmt.Errorf("%d active lock(s) found%s: a live Terraform run holds the state; wait for it to finish (%s)", len(det.Active()), wait, a.cfg.setting("fail-on-active", "true"))
	}
	return a.digestVerdict(digests)
}

func (a *app) reportDetection(det *lockcheck.Detection, stores []lockcheck.Store, auto []lockcheck.UnlockResult, askedGitHub bool) (err error) {
	if !askedGitHub {
		// Every problem is "no GitHub token", already said once above.
		for i := range det.Verdicts {
			det.Verdicts[i].APIProblem = ""
		}
	}
	for _, p := range det.APIProblems() {
		a.warnf("GitHub could not be asked, so the age rules decided: %s", p)
	}
	// One write: the table and one annotation per lock would otherwise be
	// a write per line (thousands on a large table). Nothing in here waits.
	out := &bytes.Buffer{}
	action := githubactions.New(githubactions.WithWriter(out))
	defer func() {
		if _, werr := a.stdout.Write(out.Bytes()); err == nil {
			err = werr
		}
	}()
	if !a.cfg.JSON {
		if err := report.AutoUnlockTable(out, auto); err != nil {
			return err
		}
	}
	if a.cfg.JSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(report.Details(det.Verdicts)); err != nil {
			return err
		}
	} else if err := report.DetectTable(out, det); err != nil {
		return err
	}
	if a.cfg.Runner.Output == "" && a.cfg.Runner.Summary == "" {
		return nil
	}
	pairs, err := report.DetectOutputs(det)
	if err != nil {
		return err
	}
	if a.cfg.AutoUnlock == "definitive" {
		pairs = append(pairs, report.AutoUnlockOutputs(auto)...)
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
	report.Annotate(action, det)
	return report.AppendSummary(a.cfg.Runner.Summary, report.AutoUnlockSummary(auto)+report.DetectSummary(det, storeNames(stores)))
}

func (a *app) unlock(ctx context.Context) (int, error) {
	if len(a.cfg.Approved) == 0 {
		return a.repairDigests(ctx) // repair-digests alone
	}
	stores, err := a.stores(ctx)
	if err != nil {
		return exitFailure, err
	}
	u := &lockcheck.Unlocker{Stores: stores, Classifier: a.classifier(), LockPathPrefix: a.cfg.LockIDPrefix, Holds: a.cfg.Holds}
	results, err := u.Unlock(ctx, a.cfg.Approved)
	if err != nil {
		return exitFailure, err
	}
	a.warnLater()
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
	code, verr := unlockVerdict(results, a.cfg)
	rcode, rerr := a.repairDigests(ctx)
	return mergeVerdicts(code, verr, rcode, rerr)
}

// unlockVerdict is unlock's exit code and closing message: an AWS failure
// (3) before an ID no lock holds (2, a likely typo in lock-ids) before a
// refusal (1). Every problem is named in the message.
func unlockVerdict(results []lockcheck.UnlockResult, cfg *Config) (int, error) {
	var refused, failed, notFound []string
	for _, r := range results {
		switch {
		case r.Err != nil:
			failed = append(failed, fmt.Sprintf("%s: %v", r.ID, r.Err))
		case r.Outcome == lockcheck.OutcomeRefused:
			refused = append(refused, r.ID)
		case r.Outcome == lockcheck.OutcomeNotFound:
			notFound = append(notFound, r.ID)
		}
	}
	var msgs []string
	code := exitOK
	if len(refused) > 0 {
		code = exitBlocked
		msgs = append(msgs, fmt.Sprintf("refused to remove lock(s) %s: see the reasons above; nothing else was touched", strings.Join(refused, ", ")))
	}
	if len(notFound) > 0 {
		code = exitInput
		msgs = append(msgs, fmt.Sprintf("%s %q: NOT FOUND: no lock holds these IDs, and nothing shows they were released since approval: check for a typo (detect lists the IDs), or pass %s to prove a release",
			cfg.ref("lock-ids"), strings.Join(notFound, ","), cfg.ref("lock-details")))
	}
	if len(failed) > 0 {
		code = exitFailure
		msgs = append(msgs, fmt.Sprintf("AWS failed while removing lock(s), and the reasons above say what is still held:\n%s", strings.Join(failed, "\n")))
	}
	if len(msgs) == 0 {
		return exitOK, nil
	}
	return code, errors.New(strings.Join(msgs, "; "))
}

// writeOutputs writes step outputs.
func (a *app) writeOutputs(pairs []report.Pair) error {
	return report.AppendFileCommand(a.cfg.Runner.Output, pairs)
}

func (a *app) warnf(format string, args ...any) {
	a.warnMu.Lock()
	defer a.warnMu.Unlock()
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
