package main

// Mode is what the action does in one step.
type Mode string

const (
	ModeSetup      Mode = "setup"
	ModeDetect     Mode = "detect"
	ModeUnlock     Mode = "unlock"
	ModeBuildLayer Mode = "build-layer"
	ModeBackup     Mode = "backup"
	ModeInstall    Mode = "install"
)

var allModes = []Mode{ModeSetup, ModeDetect, ModeUnlock, ModeBuildLayer, ModeBackup, ModeInstall}

// input is one setting. The same table defines the action's inputs (read
// from INPUT_<NAME>) and the command line's flags (--<name>); action.yml
// must agree with it, which a test checks.
type input struct {
	Name    string
	Default string
	// ActionDefault is the default action.yml declares when it differs
	// from Default (for example an expression like ${{ github.token }}).
	ActionDefault string
	Help          string
	Modes         []Mode
}

var (
	lockModes    = []Mode{ModeDetect, ModeUnlock}
	awsModes     = []Mode{ModeSetup, ModeDetect, ModeUnlock, ModeBackup}
	stateModes   = []Mode{ModeSetup, ModeBackup}
	githubModes  = []Mode{ModeDetect, ModeUnlock}
	setupOnly    = []Mode{ModeSetup}
	layerOnly    = []Mode{ModeBuildLayer}
	tableModes   = []Mode{ModeSetup, ModeDetect, ModeUnlock}
	bucketModes  = []Mode{ModeSetup, ModeDetect, ModeUnlock, ModeBackup}
	detectOnly   = []Mode{ModeDetect}
	unlockOnly   = []Mode{ModeUnlock}
	installOnly  = []Mode{ModeInstall}
	defaultTable = "text2agent-terraform-state-lock"
)

// Default values shared by modes.
const (
	defaultRegion       = "eu-west-2"
	defaultStateBucket  = "text2agent-terraform-state-eu-west-2"
	defaultStateKey     = "text2agent/production/terraform.tfstate"
	defaultStaleAfter   = "30m"
	defaultActiveWithin = "10m"
)

var inputs = []input{
	{Name: "mode", Help: "What to do: setup, detect, unlock, build-layer, backup or install.", Modes: allModes},
	{Name: "aws-region", Default: defaultRegion, Help: "AWS region of the state bucket and the lock table.", Modes: awsModes},
	{Name: "aws-profile", Help: "Shared-config profile to use (local runs). Empty: the SDK's default chain (environment, web identity from aws-actions/configure-aws-credentials, instance role).", Modes: awsModes},
	{Name: "lock-table", Default: defaultTable, Help: "DynamoDB lock table (the S3 backend's dynamodb_table).", Modes: tableModes},
	{Name: "lock-id-prefix", Help: "Only locks whose LockID (\"<bucket>/<state path>\") is this path or below it, by whole segments: bkt/app holds bkt/app/... but never bkt/app-legacy/.... Empty: every lock.", Modes: lockModes},
	{Name: "table-read", Default: "scan", Help: "How the lock table is read: scan (every item, paginated; lock-id-prefix filters) or state (only the state whose lock path lock-id-prefix names: its lock, run record and lease, each by key with GetItem, never a Scan; what a role scoped to one state with dynamodb:LeadingKeys may do, see docs/setup.md).", Modes: lockModes},
	{Name: "lock-source", Default: "auto", Help: "Where locks live: dynamodb, s3 (use_lockfile .tflock objects in state-bucket), both, or auto (dynamodb, plus s3 when state-bucket is set).", Modes: lockModes},
	{Name: "state-bucket", Help: "S3 state bucket. detect/unlock read .tflock objects there when set; setup and backup default to " + defaultStateBucket + ".", Modes: bucketModes},
	{Name: "state-prefix", Help: "Only .tflock objects of states at or below this key path of state-bucket, by whole segments (app holds app/..., never app-legacy/...).", Modes: lockModes},
	{Name: "stale-after", Default: defaultStaleAfter, Help: "With no owner evidence, a lock older than this is stale (Go duration: 30m, 2h).", Modes: lockModes},
	{Name: "active-within", Default: defaultActiveWithin, Help: "With no owner evidence, a lock younger than this is active.", Modes: lockModes},
	{Name: "lease-margin", Default: "2m", Help: "A lock taken by tfstate-guard run whose lease expired more than its term plus this long ago, and whose job GitHub says completed, is stale with definitive evidence (see docs/lease.md). A live lease keeps a lock active whatever its age.", Modes: lockModes},
	{Name: "github-token", ActionDefault: "${{ github.token }}", Help: "Token to read workflow runs (needs actions: read). Locally: $GITHUB_TOKEN.", Modes: githubModes},
	{Name: "github-api-url", Help: "GitHub REST API base. Empty: the runner's GITHUB_API_URL, else https://api.github.com.", Modes: githubModes},
	{Name: "github-repository", Help: "owner/name whose runs own the locks. Empty: GITHUB_REPOSITORY.", Modes: githubModes},
	{Name: "fail-on-active", Default: "true", Help: "Fail the step (exit 1) when an active lock is found.", Modes: detectOnly},
	{Name: "auto-unlock", Default: "off", Help: "off: every stale lock waits for a person's approval. definitive: remove, without approval, exactly the stale locks whose owner is proven gone (definitive evidence), through unlock's conditional delete; every other stale lock still waits for a person.", Modes: detectOnly},
	{Name: "wait-for-active", Default: "0", Help: "With fail-on-active, how long to wait for active locks to be released before failing (Go duration: 10m); re-checks back off from 5 s to 30 s. 0: do not wait.", Modes: detectOnly},
	{Name: "hold-locks", Help: "Locks held on purpose, one Go path.Match pattern per line matched against the lock's Who (user@host); a line starting path: matches the state path (<bucket>/<key>) instead, info: the lock's Info text. A match is HELD: never stale, never offered, never removed, not waited for, but it still blocks Terraform on its state.", Modes: lockModes},
	{Name: "pr-comment", Default: "auto", Help: "Say who holds a blocking lock in one comment on the pull request the run is for (updated in place, marked clear when the state is free). auto: on for pull_request and pull_request_target events (needs permissions: pull-requests: write; without it, one warning). on, off.", Modes: detectOnly},
	{Name: "notify-webhook", Help: "Slack-compatible incoming webhook URL (pass it from a secret): one message when locks were removed without approval or stale locks wait for a person. Never logged.", Modes: detectOnly},
	{Name: "lock-ids", Help: "Approved lock IDs to remove, comma- or newline-separated (detect's LOCK_IDS).", Modes: unlockOnly},
	{Name: "state-key", Default: defaultStateKey, Help: "State object key (the backend's key) for the default workspace.", Modes: stateModes},
	{Name: "workspace", Default: "default", Help: "Terraform workspace: its state lives at <workspace-key-prefix>/<workspace>/<state-key>.", Modes: stateModes},
	{Name: "workspace-key-prefix", Help: "The backend's workspace_key_prefix. Empty: Terraform's default, env:.", Modes: stateModes},
	{Name: "backend-file", Default: "backend_override.tf", Help: "Backend file to write, relative to working-directory. Only a file this action wrote is ever overwritten.", Modes: setupOnly},
	{Name: "working-directory", Default: ".", Help: "Terraform root module directory.", Modes: setupOnly},
	{Name: "kms-key-id", Help: "KMS key for SSE-KMS on the bucket and in the backend file. Empty: SSE-S3.", Modes: setupOnly},
	{Name: "lock-method", Default: "dynamodb", Help: "How Terraform locks: dynamodb (dynamodb_table), s3 (use_lockfile, Terraform >= 1.10) or both.", Modes: setupOnly},
	{Name: "tags", Help: "Tags for the bucket and the table, one key=value per line.", Modes: setupOnly},
	{Name: "skip-versioning", Default: "false", Help: "Do not turn on bucket versioning.", Modes: setupOnly},
	{Name: "skip-encryption", Default: "false", Help: "Do not set default encryption on the bucket (nor SSE on a new table).", Modes: setupOnly},
	{Name: "skip-public-access-block", Default: "false", Help: "Do not set the bucket's four public access block settings.", Modes: setupOnly},
	{Name: "skip-enforced-tls", Default: "false", Help: "Do not add the deny-non-TLS statement to the bucket policy.", Modes: setupOnly},
	{Name: "skip-tags", Default: "false", Help: "Do not tag the bucket and the table.", Modes: setupOnly},
	{Name: "skip-point-in-time-recovery", Default: "false", Help: "Do not turn on point-in-time recovery on the table.", Modes: setupOnly},
	{Name: "skip-deletion-protection", Default: "false", Help: "Do not turn on deletion protection on the table.", Modes: setupOnly},
	{Name: "runner-host", Help: "Hostname of the machine Terraform runs on, as Terraform writes it into a lock's Who (user@host); recorded with the run so detect can tie a lock to this job. Empty: read from the runner (the Docker daemon's host name over the mounted socket inside the container action; this machine's hostname otherwise).", Modes: setupOnly},
	{Name: "runner-exclusive", Default: "auto", Help: "true when that host runs one job at a time on a fresh machine (GitHub-hosted or ephemeral runners), so a lock taken on it proves its owner; false for hosts shared by several runners. auto: true when RUNNER_ENVIRONMENT is github-hosted.", Modes: setupOnly},
	{Name: "skip-permission-check", Default: "false", Help: "Do not probe that the credentials can read and write the table and the bucket.", Modes: setupOnly},
	{Name: "requirements", Default: "psycopg2-binary==2.9.10", Help: "Exact pins (name==version, optional --hash=sha256:...), one per line, or a path to a requirements file. Dependencies are not resolved: list them all.", Modes: layerOnly},
	{Name: "python-version", Default: "3.11", Help: "Lambda Python runtime version the wheels must fit.", Modes: layerOnly},
	{Name: "architecture", Default: "x86_64", Help: "Lambda architecture: x86_64 or arm64.", Modes: layerOnly},
	{Name: "glibc", Help: "glibc of the runtime (e.g. 2.26). Empty: the runtime's own (2.26 for python3.8-3.11, 2.34 for 3.12+).", Modes: layerOnly},
	{Name: "output", Default: "psycopg2-layer.zip", Help: "Layer zip to write.", Modes: layerOnly},
	{Name: "index-url", Default: "https://pypi.org/simple/", Help: "Package index simple API. Credentials in the URL are sent only to that host.", Modes: layerOnly},
	{Name: "index-token", Help: "Bearer token for a private index; masked in logs.", Modes: layerOnly},
	{Name: "check-digests", Default: "false", Help: "Compare each state's digest item (<bucket>/<key>-md5, written by runs with dynamodb_table) with the MD5 of the state object's bytes, to find the states on which Terraform fails with \"state data in S3 does not have the expected content\". Reads state objects: needs s3:GetObject, s3:GetObjectVersion and s3:ListBucketVersions on them (state holds secrets).", Modes: detectOnly},
	{Name: "digest-read-limit", Default: "1GiB", Help: "Bound on the state bytes read to check or repair digests, in all (bytes, or with KiB, MiB, GiB). States past it are reported as not checked.", Modes: lockModes},
	{Name: "fail-on-digest-mismatch", Default: "false", Help: "With check-digests, fail the step (exit 1) when a digest does not match its state.", Modes: detectOnly},
	{Name: "repair-digests", Help: "Approved digest mismatches to repair (detect's DIGEST_MISMATCHES). Each digest is set to the MD5 of the current state, under the state's lock, only if neither changed since detect.", Modes: unlockOnly},
	{Name: "restore-state-version", Help: "For a missing state in repair-digests: the version ID to restore (its restore_version, whose MD5 equals the digest), comma- or newline-separated for several states.", Modes: unlockOnly},
	{Name: "forget-digests", Help: "State paths (<bucket>/<key>) in repair-digests removed on purpose: their digest item is deleted. Never needed otherwise.", Modes: unlockOnly},
	{Name: "allow-state-rollback", Default: "false", Help: "Repair a digest even when the state's lineage differs from the previous version's or its serial went down (a deliberate rollback).", Modes: unlockOnly},
	{Name: "lock-details", Help: "Optional: detect's LOCK_DETAILS from the approved run. With it, unlock also refuses a state that was released and locked again since approval.", Modes: unlockOnly},
	{Name: "install-dir", Help: "Where install puts the tfstate-guard binary for later steps (tfstate-guard run -- terraform ...), added to PATH. Empty: tfstate-guard/bin in the runner's temp directory (RUNNER_TEMP; mounted in the action's container).", Modes: installOnly},
}
