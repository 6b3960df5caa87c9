package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/text2agent/tfstate-guard/backend"
	"github.com/text2agent/tfstate-guard/layer"
	"github.com/text2agent/tfstate-guard/lockcheck"
)

// Config is every setting of one invocation, parsed and validated once.
type Config struct {
	Mode      Mode
	InActions bool // running as a GitHub Action step (INPUT_* were read)
	JSON      bool // --json: print the result as JSON (command line)
	// Debug shows the AWS SDK's own log lines: --debug, or RUNNER_DEBUG=1
	// / ACTIONS_STEP_DEBUG=true inside Actions.
	Debug bool

	AWSRegion  string
	AWSProfile string
	// PathStyleS3 is set when a custom endpoint (a local S3 server) is used.
	PathStyleS3 bool

	LockTable    string
	LockIDPrefix string
	LockSource   string // dynamodb, s3 or both (auto resolved)
	StateBucket  string
	StatePrefix  string

	// TableReadState reads only the state LockIDPrefix names, by key
	// (table-read: state), instead of scanning the table.
	TableReadState bool

	StaleAfter   time.Duration
	ActiveWithin time.Duration
	// LeaseMargin (lease-margin): how long past its term a lease must have
	// expired before, its job completed, it proves its lock dead.
	LeaseMargin  time.Duration
	FailOnActive bool
	// AutoUnlock is "off" or "definitive" (detect).
	AutoUnlock string
	// WaitForActive bounds how long detect waits for active locks (0: not).
	WaitForActive time.Duration
	// Holds are the hold-locks patterns (detect, unlock).
	Holds lockcheck.Holds
	// Notice is where detect tells people who holds a lock (pr-comment,
	// notify-webhook); see notice_config.go.
	Notice NoticeConfig

	GitHubToken  string
	GitHubAPIURL string
	Repository   string
	Current      lockcheck.RunRef

	Approved []lockcheck.Approved

	// Digests holds the digest inputs (config_digest.go).
	Digests DigestConfig

	// RunnerHost (runner-host) and RunnerExclusive (runner-exclusive,
	// resolved) describe where Terraform runs, for setup's run record.
	RunnerHost      string
	RunnerExclusive bool

	// Install is where mode install copies the binary: Dir as this
	// process sees it, PathEntry as later steps see it (GITHUB_PATH).
	Install InstallTarget

	Setup  backend.SetupOptions
	Backup backend.BackupOptions
	Layer  layer.Options

	Runner RunnerFiles
}

// RunnerFiles are the runner's file commands and job identity.
type RunnerFiles struct {
	Output, Env, Summary string
	Job, Workflow, Name  string

	// Path is GITHUB_PATH (mode install adds the binary's folder to it).
	Path string
}

// settings is the raw value of every input, whichever door it came through.
type settings map[string]string

// loadConfig reads the invocation. As an action (GITHUB_ACTIONS=true, INPUT_MODE
// set, no arguments) the inputs come from INPUT_<NAME>; otherwise args are
// "<mode> [--flag value]...". Every problem is reported at once.
func loadConfig(args []string, getenv func(string) string, stderr io.Writer) (*Config, error) {
	var s settings
	cfg := &Config{}
	if len(args) == 0 && getenv("GITHUB_ACTIONS") == "true" && getenv("INPUT_MODE") != "" {
		cfg.InActions = true
		s = actionSettings(getenv)
	} else {
		var err error
		if s, cfg.JSON, cfg.Debug, err = flagSettings(args, getenv, stderr); err != nil {
			return nil, err
		}
	}
	if cfg.InActions {
		cfg.Debug = getenv("RUNNER_DEBUG") == "1" || strings.EqualFold(getenv("ACTIONS_STEP_DEBUG"), "true")
	}
	if getenv("GITHUB_ACTIONS") == "true" {
		cfg.Runner = RunnerFiles{
			Output: getenv("GITHUB_OUTPUT"), Env: getenv("GITHUB_ENV"), Summary: getenv("GITHUB_STEP_SUMMARY"),
			Job: getenv("GITHUB_JOB"), Workflow: getenv("GITHUB_WORKFLOW"), Name: getenv("RUNNER_NAME"),
			Path: getenv("GITHUB_PATH"),
		}
	}
	return cfg, cfg.fill(s, getenv)
}

// inputEnvName is the variable the runner sets for an input: INPUT_ + the
// name upper-cased with spaces (only) turned into underscores.
func inputEnvName(name string) string {
	return "INPUT_" + strings.ToUpper(strings.ReplaceAll(name, " ", "_"))
}

func actionSettings(getenv func(string) string) settings {
	s := settings{}
	for _, in := range inputs {
		v := strings.TrimSpace(getenv(inputEnvName(in.Name)))
		if v == "" {
			v = in.Default
		}
		s[in.Name] = v
	}
	return s
}

// helpRequest is returned when the command line asks for help: it is
// printed to stdout and the exit code is 0. Mode is "" for the top level.
type helpRequest struct{ Mode Mode }

func (h *helpRequest) Error() string { return "help requested" }

// isHelpArg reports whether a command-line argument asks for help.
func isHelpArg(a string) bool {
	return a == "-h" || a == "--help" || a == "-help" || a == "help"
}

func flagSettings(args []string, getenv func(string) string, stderr io.Writer) (settings, bool, bool, error) {
	if len(args) > 0 && isHelpArg(args[0]) {
		if len(args) > 1 && !strings.HasPrefix(args[1], "-") {
			if !validMode(Mode(args[1])) {
				return nil, false, false, fmt.Errorf("help: %q is not a mode: use one of %s", args[1], joinModes())
			}
			return nil, false, false, &helpRequest{Mode: Mode(args[1])}
		}
		return nil, false, false, &helpRequest{}
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		writeUsage(stderr)
		fmt.Fprintln(stderr)
		return nil, false, false, fmt.Errorf("no mode given: use one of %s (tfstate-guard --help explains each)", joinModes())
	}
	mode := Mode(args[0])
	if !validMode(mode) {
		return nil, false, false, fmt.Errorf("%q is not a mode: use one of %s (tfstate-guard --help explains each)", args[0], joinModes())
	}
	fs := flag.NewFlagSet("tfstate-guard "+string(mode), flag.ContinueOnError)
	fs.SetOutput(io.Discard) // help and errors are ours, below
	vals := map[string]*string{}
	for _, in := range inputs {
		if in.Name == "mode" || !in.usedBy(mode) {
			continue
		}
		vals[in.Name] = fs.String(in.Name, flagDefault(in), in.Help)
	}
	if p, ok := vals["aws-profile"]; ok {
		fs.StringVar(p, "profile", "", "alias of --aws-profile")
	}
	bools := map[string]*bool{}
	for _, f := range cliFlags {
		if f.usedBy(mode) {
			bools[f.Name] = fs.Bool(f.Name, false, f.Help)
		}
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, false, false, &helpRequest{Mode: mode}
		}
		return nil, false, false, fmt.Errorf("%s: tfstate-guard %s --help lists its flags", flagError(err, mode), mode)
	}
	if fs.NArg() > 0 {
		if isHelpArg(fs.Arg(0)) {
			return nil, false, false, &helpRequest{Mode: mode}
		}
		return nil, false, false, fmt.Errorf("unexpected argument %q: settings are flags, e.g. --lock-table NAME; tfstate-guard %s --help lists them", fs.Arg(0), mode)
	}
	s := settings{"mode": string(mode)}
	for name, p := range vals {
		s[name] = strings.TrimSpace(*p)
	}
	if _, ok := vals["github-token"]; ok && s["github-token"] == "" {
		s["github-token"] = getenv("GITHUB_TOKEN")
	}
	flagOn := func(name string) bool { p, ok := bools[name]; return ok && *p }
	return s, flagOn("json"), flagOn("debug"), nil
}

// flagError rewrites the flag package's messages in the syntax help uses.
func flagError(err error, mode Mode) string {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		return fmt.Sprintf("unknown flag --%s for mode %s", strings.TrimLeft(name, "-"), mode)
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: "); ok {
		return fmt.Sprintf("flag --%s needs a value", strings.TrimLeft(name, "-"))
	}
	return msg
}

func (in input) usedBy(m Mode) bool {
	for _, x := range in.Modes {
		if x == m {
			return true
		}
	}
	return false
}

func validMode(m Mode) bool {
	for _, x := range allModes {
		if x == m {
			return true
		}
	}
	return false
}

func joinModes() string {
	names := make([]string, len(allModes))
	for i, m := range allModes {
		names[i] = string(m)
	}
	return strings.Join(names, ", ")
}

// fill parses and validates s into cfg, joining every problem.
func (cfg *Config) fill(s settings, getenv func(string) string) error {
	var errs []error
	bad := func(name, value, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s %q %s", cfg.subject(name), value, fmt.Sprintf(format, args...)))
	}
	cfg.Mode = Mode(s["mode"])
	if !validMode(cfg.Mode) {
		bad("mode", s["mode"], "is not a mode: use one of %s", joinModes())
		return errors.Join(errs...)
	}
	m := cfg.Mode
	cfg.AWSRegion, cfg.AWSProfile = s["aws-region"], s["aws-profile"]
	cfg.PathStyleS3 = getenv("AWS_ENDPOINT_URL") != "" || getenv("AWS_ENDPOINT_URL_S3") != ""
	if m != ModeBuildLayer {
		switch {
		case cfg.AWSRegion == "":
			bad("aws-region", "", "is empty: set an AWS region such as %s", defaultRegion)
		case !regionPattern.MatchString(cfg.AWSRegion):
			bad("aws-region", cfg.AWSRegion, "is not an AWS region code: write it like %s (lower case, hyphens, no spaces)", defaultRegion)
		}
	}
	cfg.LockTable, cfg.LockIDPrefix = s["lock-table"], s["lock-id-prefix"]
	cfg.StateBucket, cfg.StatePrefix = s["state-bucket"], s["state-prefix"]

	if m == ModeDetect || m == ModeUnlock {
		cfg.fillLocks(s, getenv, bad)
	}
	if m == ModeUnlock && (s["lock-ids"] != "" || s["repair-digests"] == "") {
		cfg.fillApproved(s, bad)
	}
	if m == ModeDetect || m == ModeUnlock {
		cfg.fillDigests(s, bad)
	}
	if m == ModeSetup || m == ModeBackup {
		cfg.fillState(s, getenv, &errs, bad)
	}
	if m == ModeBuildLayer {
		cfg.fillLayer(s, &errs)
	}
	if m == ModeInstall {
		cfg.fillInstall(s, getenv, bad) // install.go
	}
	return errors.Join(errs...)
}

type badFunc func(name, value, format string, args ...any)

// regionPattern is the shape of every AWS region code (eu-west-2,
// us-gov-west-1, cn-north-1, eusc-de-east-1): checked here so a typo is an
// input error naming aws-region, not an SDK failure deep in a request.
var regionPattern = regexp.MustCompile(`^[a-z]{2,}(-[a-z0-9]+)*-[0-9]+$`)

// subject names an input at the start of an error message, in the syntax
// the user wrote it: --name on the command line, "input name:" in Actions.
func (cfg *Config) subject(name string) string {
	switch {
	case name == "environment":
		return "environment"
	case cfg.InActions:
		return "input " + name + ":"
	}
	return "--" + name
}

// ref names an input inside a message: --name, or name in Actions.
func (cfg *Config) ref(name string) string {
	if cfg.InActions {
		return name
	}
	return "--" + name
}

// setting shows an input given a value: --name value, or name: value.
func (cfg *Config) setting(name, value string) string {
	if cfg.InActions {
		return name + ": " + value
	}
	return "--" + name + " " + value
}

func (cfg *Config) fillLocks(s settings, getenv func(string) string, bad badFunc) {
	switch src := s["lock-source"]; src {
	case "auto", "":
		cfg.LockSource = "dynamodb"
		if cfg.StateBucket != "" {
			cfg.LockSource = "both"
		}
	case "dynamodb", "s3", "both":
		cfg.LockSource = src
	default:
		bad("lock-source", src, "is not a lock source: use dynamodb, s3, both or auto")
	}
	if (cfg.LockSource == "dynamodb" || cfg.LockSource == "both") && cfg.LockTable == "" {
		bad("lock-table", "", "is empty but lock-source %q reads the DynamoDB table: set %s, or %s", cfg.LockSource, cfg.ref("lock-table"), cfg.setting("lock-source", "s3"))
	}
	if (cfg.LockSource == "s3" || cfg.LockSource == "both") && cfg.StateBucket == "" {
		bad("state-bucket", "", "is empty but lock-source %q reads .tflock objects: set %s, or %s", cfg.LockSource, cfg.ref("state-bucket"), cfg.setting("lock-source", "dynamodb"))
	}
	cfg.fillTableRead(s, bad)
	cfg.StaleAfter = parseDuration(s, "stale-after", bad)
	cfg.ActiveWithin = parseDuration(s, "active-within", bad)
	cfg.LeaseMargin = parseDuration(s, "lease-margin", bad) // issue 18: docs/lease.md
	for name, d := range map[string]time.Duration{"stale-after": cfg.StaleAfter, "active-within": cfg.ActiveWithin} {
		if d > maxLockWindow {
			bad(name, s[name], "is longer than %s: no job holds a lock that long (GitHub-hosted jobs stop after 6 h, self-hosted ones after 5 days), so no lock would ever be judged by age; use a window such as 30m or 2h", maxLockWindow)
		}
	}
	if cfg.StaleAfter > 0 && cfg.ActiveWithin > 0 && cfg.ActiveWithin > cfg.StaleAfter {
		bad("active-within", s["active-within"], "is longer than %s (%s): it must not exceed it", cfg.ref("stale-after"), s["stale-after"])
	}
	cfg.FailOnActive = true
	if v, ok := s["fail-on-active"]; ok {
		b, err := parseBool(v)
		if err != nil {
			bad("fail-on-active", v, "is not a boolean: use true or false")
		}
		cfg.FailOnActive = b
	}

	if cfg.Mode == ModeDetect {
		switch v := firstNonEmpty(s["auto-unlock"], "off"); v {
		case "off", "definitive":
			cfg.AutoUnlock = v
		default:
			bad("auto-unlock", v, "is not off or definitive: definitive removes only the stale locks whose owner is proven gone")
		}
		if v := firstNonEmpty(s["wait-for-active"], "0"); v != "0" {
			d, err := time.ParseDuration(v)
			switch {
			case err != nil || d < 0:
				bad("wait-for-active", v, "is not a duration: write it like 10m or 90s, or 0 not to wait")
			case d > 6*time.Hour:
				bad("wait-for-active", v, "is longer than a GitHub-hosted job may run (6h): wait at most a few minutes, the way terraform -lock-timeout does")
			default:
				cfg.WaitForActive = d
			}
		}
	}

	cfg.fillHolds(s, bad)
	if cfg.Mode == ModeDetect {
		cfg.fillNotice(s, getenv, bad)
	}

	cfg.GitHubToken = s["github-token"]
	cfg.GitHubAPIURL = firstNonEmpty(s["github-api-url"], getenv("GITHUB_API_URL"), "https://api.github.com")
	if u, err := url.Parse(cfg.GitHubAPIURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		bad("github-api-url", cfg.GitHubAPIURL, "is not an http(s) URL: use the runner's GITHUB_API_URL, e.g. https://api.github.com")
	}
	cfg.Repository = firstNonEmpty(s["github-repository"], getenv("GITHUB_REPOSITORY"))
	if r := cfg.Repository; r != "" {
		if owner, name, ok := strings.Cut(r, "/"); !ok || owner == "" || name == "" || strings.Contains(name, "/") {
			bad("github-repository", r, "is not owner/name, e.g. octo-org/infra")
		}
	}
	if id := getenv("GITHUB_RUN_ID"); id != "" {
		runID, err := strconv.ParseInt(id, 10, 64)
		attempt, aerr := strconv.Atoi(firstNonEmpty(getenv("GITHUB_RUN_ATTEMPT"), "1"))
		if err != nil || aerr != nil {
			values := fmt.Sprintf("GITHUB_RUN_ID %q / GITHUB_RUN_ATTEMPT %q", id, getenv("GITHUB_RUN_ATTEMPT"))
			bad("environment", values, "are not numbers: they are set by the runner; do not override them")
		}
		cfg.Current = lockcheck.RunRef{Repository: getenv("GITHUB_REPOSITORY"), ID: runID, Attempt: attempt}
	}
}

func (cfg *Config) fillApproved(s settings, bad badFunc) {
	ids := lockcheck.ParseLockIDs(s["lock-ids"])
	if len(ids) == 0 {
		example := cfg.setting("lock-ids", "${{ needs.stale-lock-check.outputs.LOCK_IDS }}")
		if !cfg.InActions {
			example = cfg.setting("lock-ids", "9161f8d3-91c8-c716-d20c-f2c95576c5e2") + " (detect lists the IDs)"
		}
		bad("lock-ids", s["lock-ids"], "names no lock: pass the approved IDs, e.g. %s", example)
		return
	}
	paths := map[string]string{}
	approvedAs := map[string]lockcheck.Approved{} // who and created as approved
	if raw := s["lock-details"]; raw != "" {
		var details []struct {
			LockID   string  `json:"lock_id"`
			LockPath string  `json:"lock_path"`
			Who      *string `json:"who"`
			Created  *string `json:"created"`
		}
		if err := json.Unmarshal([]byte(raw), &details); err != nil {
			fix := "pass ${{ needs.<detect job>.outputs.LOCK_DETAILS }} or leave it empty"
			if !cfg.InActions {
				fix = "pass the JSON array detect --json prints, or leave --lock-details out"
			}
			bad("lock-details", abbreviate(raw), "is not detect's LOCK_DETAILS JSON array (%v): %s", err, fix)
			return
		}
		for _, d := range details {
			paths[d.LockID] = d.LockPath
			if d.Who != nil && d.Created != nil { // detect always writes both
				approvedAs[d.LockID] = lockcheck.Approved{Detailed: true, Who: *d.Who, Created: *d.Created}
			}
		}
		var missing []string
		for _, id := range ids {
			if _, ok := paths[id]; !ok {
				missing = append(missing, id)
			}
		}
		if len(missing) > 0 {
			sort.Strings(missing)
			fix := "pass LOCK_IDS and LOCK_DETAILS from the same detect step"
			if !cfg.InActions {
				fix = fmt.Sprintf("pass %s and %s from the same detect run", cfg.ref("lock-ids"), cfg.ref("lock-details"))
			}
			bad("lock-ids", strings.Join(missing, ","), "are not in %s: %s", cfg.ref("lock-details"), fix)
		}
	}
	for _, id := range ids {
		a := approvedAs[id]
		a.ID, a.Path = id, paths[id]
		cfg.Approved = append(cfg.Approved, a)
	}
}

// fillState parses the setup and backup inputs.
func (cfg *Config) fillState(s settings, getenv func(string) string, errs *[]error, bad badFunc) {
	bucket := firstNonEmpty(s["state-bucket"], defaultStateBucket)
	cfg.StateBucket = bucket
	cfg.Backup = backend.BackupOptions{Bucket: bucket, Key: s["state-key"], Workspace: s["workspace"], WorkspaceKeyPrefix: s["workspace-key-prefix"]}
	if cfg.Mode != ModeSetup {
		if s["state-key"] == "" {
			bad("state-key", "", "is empty: set the state object key, e.g. %s", defaultStateKey)
		}
		return
	}
	o := backend.SetupOptions{
		Region: cfg.AWSRegion, Bucket: bucket, Key: s["state-key"], Table: cfg.LockTable,
		Workspace: s["workspace"], WorkspaceKeyPrefix: s["workspace-key-prefix"], KMSKeyID: s["kms-key-id"],
		BackendFile: filepath.Join(firstNonEmpty(s["working-directory"], "."), s["backend-file"]),
	}
	method, err := backend.ParseLockMethod(s["lock-method"])
	if err != nil {
		*errs = append(*errs, err)
	}
	o.LockMethod = method
	if o.Tags, err = backend.ParseTags(s["tags"]); err != nil {
		*errs = append(*errs, err)
	}
	for name, p := range map[string]*bool{
		"skip-versioning": &o.SkipVersioning, "skip-encryption": &o.SkipEncryption,
		"skip-public-access-block": &o.SkipPublicAccessBlock, "skip-enforced-tls": &o.SkipEnforcedTLS,
		"skip-tags": &o.SkipTags, "skip-point-in-time-recovery": &o.SkipPointInTimeRecovery,
		"skip-deletion-protection": &o.SkipDeletionProtection, "skip-permission-check": &o.SkipPermissionCheck,
	} {
		v := firstNonEmpty(s[name], "false")
		b, err := parseBool(v)
		if err != nil {
			bad(name, v, "is not a boolean: use true or false")
		}
		*p = b
	}
	if cfg.InActions {
		o.RunRecord = runRecordFromEnv(getenv, bad)
	}
	cfg.RunnerHost = strings.TrimSpace(s["runner-host"])
	if strings.ContainsAny(cfg.RunnerHost, " \t\r\n@") {
		bad("runner-host", cfg.RunnerHost, "is not a host name: give the hostname alone, as `hostname` prints it (no user@, no spaces)")
	}
	switch v := firstNonEmpty(s["runner-exclusive"], "auto"); v {
	case "auto":
		cfg.RunnerExclusive = getenv("RUNNER_ENVIRONMENT") == "github-hosted"
	default:
		b, err := parseBool(v)
		if err != nil {
			bad("runner-exclusive", v, "is not auto, true or false")
		}
		cfg.RunnerExclusive = b
	}
	if err := o.Validate(); err != nil {
		*errs = append(*errs, unreported(err, *errs)...)
	}
	cfg.Setup = o
}

// runRecordFromEnv describes this job for the run record setup writes.
func runRecordFromEnv(getenv func(string) string, bad badFunc) *lockcheck.RunRecord {
	id, err := strconv.ParseInt(getenv("GITHUB_RUN_ID"), 10, 64)
	attempt, aerr := strconv.Atoi(firstNonEmpty(getenv("GITHUB_RUN_ATTEMPT"), "1"))
	if err != nil || aerr != nil || getenv("GITHUB_REPOSITORY") == "" {
		bad("environment", getenv("GITHUB_RUN_ID"), "GITHUB_RUN_ID, GITHUB_RUN_ATTEMPT and GITHUB_REPOSITORY must be set by the runner to write the run record")
		return nil
	}
	return &lockcheck.RunRecord{
		Repository: getenv("GITHUB_REPOSITORY"), RunID: id, RunAttempt: attempt,
		Job: getenv("GITHUB_JOB"), Workflow: getenv("GITHUB_WORKFLOW"), RunnerName: getenv("RUNNER_NAME"),
	}
}

// fillLayer parses the build-layer inputs.
func (cfg *Config) fillLayer(s settings, errs *[]error) {
	reqs, err := layer.LoadRequirements(s["requirements"], os.ReadFile)
	if err != nil {
		*errs = append(*errs, err)
	}
	cfg.Layer = layer.Options{
		Requirements: reqs, PythonVersion: s["python-version"], Architecture: s["architecture"], Glibc: s["glibc"],
		Output: s["output"], IndexURL: s["index-url"], IndexToken: s["index-token"],
	}
	check := cfg.Layer
	if err != nil {
		// Already reported; validate the other inputs without repeating it.
		check.Requirements = layer.DefaultRequirements()
	}
	if err := check.Validate(); err != nil {
		*errs = append(*errs, err)
	}
}

// maxLockWindow bounds stale-after and active-within: 30 days.
const maxLockWindow = 720 * time.Hour

// unreported drops the problems of err (a joined set of ConfigErrors)
// about an input an earlier error already named, so that one mistake is
// reported once (an unparsable lock-method is not also "lock-method """).
func unreported(err error, earlier []error) []error {
	named := map[string]bool{}
	for _, e := range earlier {
		var ce *backend.ConfigError
		if errors.As(e, &ce) {
			named[ce.Input] = true
		}
		for _, in := range inputs {
			if strings.HasPrefix(e.Error(), "--"+in.Name+" ") || strings.HasPrefix(e.Error(), "input "+in.Name+":") {
				named[in.Name] = true
			}
		}
	}
	all := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		all = j.Unwrap()
	}
	var out []error
	for _, e := range all {
		var ce *backend.ConfigError
		if errors.As(e, &ce) && named[ce.Input] {
			continue
		}
		out = append(out, e)
	}
	return out
}

func parseDuration(s settings, name string, bad badFunc) time.Duration {
	v := s[name]
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		bad(name, v, "is not a positive duration: write it like 30m, 2h or 90s")
		return 0
	}
	return d
}

// parseBool accepts the YAML 1.2 core booleans, as the Actions toolkit does.
func parseBool(v string) (bool, error) {
	switch v {
	case "true", "True", "TRUE":
		return true, nil
	case "false", "False", "FALSE":
		return false, nil
	}
	return false, fmt.Errorf("not a boolean")
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

func abbreviate(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

// fillTableRead parses table-read: scan, or state (read the one state
// lock-id-prefix names by key, for a role scoped with dynamodb:LeadingKeys).
func (cfg *Config) fillTableRead(s settings, bad badFunc) {
	switch tr := s["table-read"]; tr {
	case "", "scan":
	case "state":
		cfg.TableReadState = true
		if p := cfg.LockIDPrefix; p == "" || strings.HasSuffix(p, "/") || !strings.Contains(p, "/") {
			bad("lock-id-prefix", p, "must name one state's lock path with %s: <bucket>/<state key>, e.g. %s", cfg.setting("table-read", "state"), cfg.setting("lock-id-prefix", "my-bucket/app/terraform.tfstate"))
		}
	default:
		bad("table-read", tr, "is not a way to read the table: use scan or state")
	}
}
