package main

// Mode is what the action does in one step.
type Mode string

const (
	ModeSetup      Mode = "setup"
	ModeDetect     Mode = "detect"
	ModeUnlock     Mode = "unlock"
	ModeBuildLayer Mode = "build-layer"
	ModeBackup     Mode = "backup"
)

var allModes = []Mode{ModeSetup, ModeDetect, ModeUnlock, ModeBuildLayer, ModeBackup}

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
	{Name: "mode", Help: "What to do: setup, detect, unlock, build-layer or backup.", Modes: allModes},
	{Name: "aws-region", Default: defaultRegion, Help: "AWS region of the state bucket and the lock table.", Modes: awsModes},
	{Name: "aws-profile", Help: "Shared-config profile to use (local runs). Empty: the SDK's default chain (environment, web identity from aws-actions/configure-aws-credentials, instance role).", Modes: awsModes},
	{Name: "lock-table", Default: defaultTable, Help: "DynamoDB lock table (the S3 backend's dynamodb_table).", Modes: tableModes},
	{Name: "lock-id-prefix", Help: "Only locks whose LockID (\"<bucket>/<state path>\") starts with this. Empty: every lock.", Modes: lockModes},
	{Name: "lock-source", Default: "auto", Help: "Where locks live: dynamodb, s3 (use_lockfile .tflock objects in state-bucket), both, or auto (dynamodb, plus s3 when state-bucket is set).", Modes: lockModes},
	{Name: "state-bucket", Help: "S3 state bucket. detect/unlock read .tflock objects there when set; setup and backup default to " + defaultStateBucket + ".", Modes: bucketModes},
	{Name: "state-prefix", Help: "Only .tflock objects under this key prefix of state-bucket.", Modes: lockModes},
	{Name: "stale-after", Default: defaultStaleAfter, Help: "With no owner evidence, a lock older than this is stale (Go duration: 30m, 2h).", Modes: lockModes},
	{Name: "active-within", Default: defaultActiveWithin, Help: "With no owner evidence, a lock younger than this is active.", Modes: lockModes},
	{Name: "github-token", ActionDefault: "${{ github.token }}", Help: "Token to read workflow runs (needs actions: read). Locally: $GITHUB_TOKEN.", Modes: githubModes},
	{Name: "github-api-url", Help: "GitHub REST API base. Empty: the runner's GITHUB_API_URL, else https://api.github.com.", Modes: githubModes},
	{Name: "github-repository", Help: "owner/name whose runs own the locks. Empty: GITHUB_REPOSITORY.", Modes: githubModes},
	{Name: "fail-on-active", Default: "true", Help: "Fail the step (exit 1) when an active lock is found.", Modes: detectOnly},
	{Name: "lock-ids", Help: "Approved lock IDs to remove, comma- or newline-separated (detect's LOCK_IDS).", Modes: unlockOnly},
	{Name: "lock-details", Help: "Optional: detect's LOCK_DETAILS from the approved run. With it, unlock also refuses a state that was released and locked again since approval.", Modes: unlockOnly},
}
