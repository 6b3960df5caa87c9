#!/usr/bin/env bash
# The main job end to end on a local default, no AWS account needed:
# a local S3 + DynamoDB server (moto), the real Terraform CLI, and the
# tfstate-guard binary run as the Actions runner runs it.
#
#   1. setup creates the state bucket and lock table and writes the backend file;
#   2. Terraform is killed with SIGKILL in the middle of an apply: its lock stays;
#   3. detect right away: the lock is too young to judge without GitHub, so it
#      is ACTIVE and the step fails (a live lock is never removed);
#   4. Terraform itself is blocked by the dead lock;
#   5. detect again once the lock is past the (shortened) stale-after window:
#      STALE, approval required; the step summary is printed;
#   6. unlock with the approved LOCK_IDS removes exactly that lock;
#   7. terraform plan works again, with state and digest intact.
#
# Needs: Go, moto_server, the AWS CLI, python3, curl and setsid (checked
# first, with how to install what is missing), and Terraform >= 1.5 (found
# on PATH or built by scripts/ensure-terraform.sh).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold="" plain=""; fi
say() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

# Every tool is checked before anything starts, so a missing one is named
# with its fix now rather than failing the last step.
missing=()
need() { command -v "$1" >/dev/null 2>&1 || missing+=("  $1: $2"); }
need go "install Go 1.26 or newer (https://go.dev/doc/install)"
need moto_server "pip install 'moto[server]==5.2.1' (a local S3 + DynamoDB server)"
need aws "apt-get install awscli, or pip install awscli (the AWS CLI reads the lock table at the end)"
need python3 "apt-get install python3"
need curl "apt-get install curl"
need setsid "apt-get install util-linux (it runs Terraform in its own process group to kill it)"
if [ ${#missing[@]} -gt 0 ]; then
	printf 'demo: missing tools; install them and run again:\n' >&2
	printf '%s\n' "${missing[@]}" >&2
	exit 1
fi
echo "demo: found go, moto_server, aws, python3, curl and setsid"
eval "$(scripts/ensure-terraform.sh)"
tf="$TFSTATE_GUARD_TERRAFORM"

work="$repo/demo-work"
rm -rf "$work"
mkdir -p "$work/tf" "$work/runner"
go build -o "$work/tfstate-guard" .
guard="$work/tfstate-guard"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
moto_server -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
moto_pid=$!
tf_pid=""
cleanup() {
	if [ -n "$tf_pid" ]; then kill -9 -- "-$tf_pid" 2>/dev/null || true; fi
	kill "$moto_pid" 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$port/moto-api/" >/dev/null 2>&1 && break; sleep 0.1; done
export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo AWS_EC2_METADATA_DISABLED=true
bucket=tfstate-guard-demo table=tfstate-guard-demo-locks key=demo/terraform.tfstate

# step runs the binary the way the runner runs the action: INPUT_* variables
# and fresh file-command files per step.
step() {
	: >"$work/runner/output"; : >"$work/runner/summary"
	env GITHUB_ACTIONS=true GITHUB_REPOSITORY=demo/infra GITHUB_RUN_ID="${RUN_ID:-42}" GITHUB_RUN_ATTEMPT=1 GITHUB_JOB=demo \
		GITHUB_OUTPUT="$work/runner/output" GITHUB_ENV="$work/runner/env" GITHUB_STEP_SUMMARY="$work/runner/summary" \
		"INPUT_AWS-REGION=eu-west-2" "INPUT_LOCK-TABLE=$table" "INPUT_GITHUB-TOKEN=" "$@" "$guard"
}
output() { # the value of one output, read with the runner's heredoc rules
	awk -v name="$1" '
		index($0, name "<<") == 1 { delim = substr($0, length(name) + 3); inval = 1; next }
		inval && $0 == delim { inval = 0; next }
		inval { print }' "$work/runner/output"
}

say "1. setup: bucket, lock table, backend file"
# moto refuses object writes to a bucket carrying a Deny-with-condition
# policy, so the TLS-only statement is turned off for this local bucket.
RUN_ID=41 step INPUT_MODE=setup "INPUT_STATE-BUCKET=$bucket" "INPUT_STATE-KEY=$key" "INPUT_WORKING-DIRECTORY=$work/tf" "INPUT_SKIP-ENFORCED-TLS=true"
cat >"$work/tf/main.tf" <<'TF'
variable "hold" {
  type    = number
  default = 0
}

resource "terraform_data" "hold" {
  triggers_replace = timestamp()

  provisioner "local-exec" {
    command = "sleep ${var.hold}"
  }
}
TF
cat >"$work/tf/local-server.hcl" <<HCL
use_path_style              = true
skip_credentials_validation = true
skip_requesting_account_id  = true
skip_metadata_api_check     = true
endpoints = {
  s3       = "http://127.0.0.1:$port"
  dynamodb = "http://127.0.0.1:$port"
}
HCL
: >"$work/tf/empty.tfrc"
export TF_CLI_CONFIG_FILE="$work/tf/empty.tfrc" TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1
cd "$work/tf"
"$tf" init -no-color -input=false -backend-config=local-server.hcl >"$work/init.log"
"$tf" apply -no-color -auto-approve -input=false >"$work/apply0.log"
echo "state written to s3://$bucket/$key"

say "2. terraform apply, killed with SIGKILL while it holds the lock"
setsid "$tf" apply -no-color -auto-approve -input=false -var=hold=300 >"$work/apply.log" 2>&1 &
tf_pid=$!
until grep -q "Provisioning with 'local-exec'" "$work/apply.log" 2>/dev/null; do
	kill -0 "$tf_pid" 2>/dev/null || die "terraform ended early: $(cat "$work/apply.log")"
	sleep 0.2
done
kill -9 -- "-$tf_pid"
wait "$tf_pid" 2>/dev/null || true
tf_pid=""
locked_at=$(date +%s)
echo "killed; the lock is left behind"

say "3. detect right away: too young to judge without GitHub evidence, so ACTIVE"
set +e
step INPUT_MODE=detect INPUT_STALE-AFTER=10s INPUT_ACTIVE-WITHIN=5s
code=$?
set -e
echo "exit code $code (1 = a live lock blocks the workflow)"
[ "$code" = 1 ] || die "expected detect to block on a young lock"

say "4. Terraform is blocked by the dead lock"
if "$tf" plan -no-color -lock-timeout=0s -input=false >"$work/plan-blocked.log" 2>&1; then die "plan should have been blocked"; fi
# Terraform's own words: the error and the lock's ID and owner (its Lock
# Info lines; not the AWS error text around them).
sed -n -E 's/^[│ ]*(Error: Error acquiring the state lock)[[:space:]]*$/  \1/p; s/^[│ ]*(ID|Who|Operation): +/    \1: /p' "$work/plan-blocked.log"

say "5. detect past stale-after: STALE, approval required"
sleep $(( locked_at + 11 - $(date +%s) > 0 ? locked_at + 11 - $(date +%s) : 0 ))
step INPUT_MODE=detect INPUT_STALE-AFTER=10s INPUT_ACTIVE-WITHIN=5s
echo "--- step summary ---"
cat "$work/runner/summary"
ids=$(output LOCK_IDS)
details=$(output LOCK_DETAILS)
[ -n "$ids" ] || die "detect found no stale lock"
echo "--- LOCK_IDS=$ids"

say "6. a person approves; unlock removes exactly those locks"
step INPUT_MODE=unlock "INPUT_LOCK-IDS=$ids" "INPUT_LOCK-DETAILS=$details" INPUT_STALE-AFTER=10s INPUT_ACTIVE-WITHIN=5s
echo "--- step summary ---"
cat "$work/runner/summary"

say "7. terraform plan works again"
"$tf" plan -no-color -lock-timeout=0s -input=false >"$work/plan.log"
grep -E '^Plan:|must be replaced' "$work/plan.log" | sed 's/^ */  /'
echo "(the replacement is the demo's own doing: terraform_data.hold has triggers_replace = timestamp(),"
echo " so it changes on every apply; the plan itself took and released the state lock without error)"
aws --endpoint-url "$AWS_ENDPOINT_URL" --region eu-west-2 dynamodb get-item --table-name "$table" \
	--key "{\"LockID\":{\"S\":\"$bucket/$key-md5\"}}" --consistent-read --query 'Item.Digest.S' --output text |
	sed 's/^/state digest intact: /'
say "demo finished: the dead lock was found, approved and removed; nothing else was touched"
