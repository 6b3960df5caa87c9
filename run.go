package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/logging"
	"github.com/text2agent/tfstate-guard/wrapper"
)

// runUsage is `tfstate-guard run --help`.
const runUsage = `Usage: tfstate-guard run [flags] -- terraform <args>

Runs Terraform (or tofu, or a shim) under a state lock tfstate-guard takes
itself, exactly as Terraform would (same DynamoDB item and/or .tflock object,
same Info, its own lock ID, -lock-timeout honoured with Terraform's backoff).
Terraform runs with -lock=false; the lock is released when Terraform exits,
however it exits. While it runs, a lease beside the lock is renewed every
--lease-interval for --lease-term, so detect, unlock and auto-unlock can tell a
live holder from a dead one whatever the lock's age. A holder that cannot
renew interrupts Terraform at term - 15s and kills its whole process tree at
term - 5s. Commands that take no lock run unchanged. Exits with Terraform's
code. The backend comes from .terraform/terraform.tfstate (terraform init);
flags override it. See docs/lease.md.

Flags:
`

// runWrapped is the run subcommand: parse its flags, read the backend,
// build the AWS clients and run Terraform under the wrapper.
func runWrapped(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var (
		bucket    = fs.String("bucket", "", "S3 state bucket (default: the backend's bucket)")
		key       = fs.String("key", "", "state key (default: the backend's key)")
		workspace = fs.String("workspace", "", "workspace (default: $TF_WORKSPACE, else the one terraform workspace selected)")
		prefix    = fs.String("workspace-key-prefix", "", "workspace_key_prefix (default: the backend's, else env:)")
		region    = fs.String("aws-region", "", "AWS region (default: the backend's region, else $AWS_REGION)")
		profile   = fs.String("aws-profile", "", "shared-config profile (default: the backend's profile, else the SDK's chain)")
		table     = fs.String("lock-table", "", "DynamoDB lock table (default: the backend's dynamodb_table)")
		lockfile  = fs.String("use-lockfile", "", "true or false: lock with a .tflock object (default: the backend's use_lockfile)")
		interval  = fs.Duration("lease-interval", wrapper.DefaultLeaseInterval, "how often the lease is renewed")
		term      = fs.Duration("lease-term", wrapper.DefaultLeaseTerm, "how long one renewal counts; at least 3 x lease-interval")
	)
	usage := func(w io.Writer) {
		fmt.Fprint(w, runUsage)
		fs.VisitAll(func(f *flag.Flag) {
			def := ""
			if f.DefValue != "" {
				def = " (" + f.DefValue + ")"
			}
			fmt.Fprintf(w, "  --%s%s\n      %s\n", f.Name, def, f.Usage)
		})
	}
	flagArgs, tfArgs, found := cutDashDash(args)
	if err := fs.Parse(flagArgs); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(stdout)
			return exitOK
		}
		fmt.Fprintf(stderr, "tfstate-guard run: %v\n\n", err)
		usage(stderr)
		return exitInput
	}
	if !found || len(tfArgs) == 0 {
		fmt.Fprintln(stderr, "tfstate-guard run: no Terraform command: put it after --, for example tfstate-guard run -- terraform plan")
		return exitInput
	}
	logf := func(format string, a ...any) { fmt.Fprintf(stderr, "tfstate-guard: "+format+"\n", a...) }
	var problems []error
	if *interval <= 0 {
		problems = append(problems, fmt.Errorf("--lease-interval %q must be positive, for example 15s", interval.String()))
	}
	if *term < 3**interval {
		problems = append(problems, fmt.Errorf("--lease-term %q must be at least 3 x --lease-interval (%s), so a renewal can fail twice before Terraform is fenced; for example --lease-term 60s", term.String(), *interval*3))
	}
	cmd, err := wrapper.ParseCommand(tfArgs)
	if err != nil {
		problems = append(problems, err)
	}
	if len(problems) > 0 {
		fmt.Fprintf(stderr, "tfstate-guard run: invalid input:\n%s\n", indent(errors.Join(problems...).Error()))
		return exitInput
	}
	opts := wrapper.Options{Command: cmd, LeaseInterval: *interval, LeaseTerm: *term, Stdin: os.Stdin, Stdout: stdout, Stderr: stderr,
		Env: os.Environ(), Log: logf, Interactive: wrapper.IsTerminal(os.Stdin.Fd()), Identity: identity(getenv), OwnsChildren: true}
	if cmd.Locks {
		b, err := wrapper.ReadBackend(cmd.DataDir(getenv), getenv)
		explicit := *bucket != "" && *key != "" && (*table != "" || *lockfile == "true")
		if err != nil && !explicit {
			fmt.Fprintf(stderr, "tfstate-guard run: %v\n", err)
			return exitInput
		}
		b = overrideBackend(b, *bucket, *key, *workspace, *prefix, *region, *profile, *table, *lockfile)
		if *lockfile != "" && *lockfile != "true" && *lockfile != "false" {
			fmt.Fprintf(stderr, "tfstate-guard run: --use-lockfile %q is not true or false\n", *lockfile)
			return exitInput
		}
		if b.Region == "" {
			b.Region = firstNonEmpty(getenv("AWS_REGION"), getenv("AWS_DEFAULT_REGION"))
		}
		opts.Backend, opts.TerraformVersionInLock = b, b.TerraformVersion
		if b.Locks() {
			clock := wrapper.NewAWSClock()
			loadOpts := []func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(b.Region), awsconfig.WithLogger(logging.Nop{})}
			if b.Profile != "" {
				loadOpts = append(loadOpts, awsconfig.WithSharedConfigProfile(b.Profile))
			}
			cfg, err := awsconfig.LoadDefaultConfig(ctx, loadOpts...)
			if err != nil {
				fmt.Fprintf(stderr, "tfstate-guard run: load AWS configuration (region %q, profile %q): %v\n", b.Region, b.Profile, err)
				return exitInput
			}
			cfg.APIOptions = append(cfg.APIOptions, clock.Middleware)
			opts.AWSClock = clock
			opts.DDB = dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
				if b.DynamoDBEndpoint != "" {
					o.BaseEndpoint = aws.String(b.DynamoDBEndpoint)
				}
			})
			opts.S3 = s3.NewFromConfig(cfg, func(o *s3.Options) {
				if b.S3Endpoint != "" {
					o.BaseEndpoint = aws.String(b.S3Endpoint)
				}
				o.UsePathStyle = b.PathStyle
				o.DisableLogOutputChecksumValidationSkipped = true
			})
		}
	}
	code, err := wrapper.Run(ctx, opts)
	if err != nil {
		fmt.Fprintf(stderr, "tfstate-guard run: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// cutDashDash splits the wrapper's flags from the Terraform command.
func cutDashDash(args []string) ([]string, []string, bool) {
	for i, a := range args {
		if a == "--" {
			return args[:i], args[i+1:], true
		}
	}
	return args, nil, false
}

func overrideBackend(b wrapper.Backend, bucket, key, workspace, prefix, region, profile, table, lockfile string) wrapper.Backend {
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&b.Bucket, bucket)
	set(&b.Key, key)
	set(&b.Workspace, workspace)
	set(&b.WorkspaceKeyPrefix, prefix)
	set(&b.Region, region)
	set(&b.Profile, profile)
	set(&b.Table, table)
	if lockfile != "" {
		b.UseLockfile = lockfile == "true"
	}
	return b
}

// identity names the holder: this host and process, and in GitHub Actions
// the run, attempt, job and runner.
func identity(getenv func(string) string) wrapper.Identity {
	host, _ := os.Hostname()
	id := wrapper.Identity{Host: host, PID: os.Getpid()}
	if getenv("GITHUB_ACTIONS") == "true" {
		id.Repository, id.Job, id.RunnerName = getenv("GITHUB_REPOSITORY"), getenv("GITHUB_JOB"), getenv("RUNNER_NAME")
		id.RunID, _ = strconv.ParseInt(getenv("GITHUB_RUN_ID"), 10, 64)
		id.RunAttempt, _ = strconv.Atoi(getenv("GITHUB_RUN_ATTEMPT"))
	}
	return id
}
