#!/usr/bin/env bash
# The main job end to end on a local default, no AWS account needed:
# a local S3 + DynamoDB server (moto), the real Terraform CLI, a local
# stand-in for GitHub's workflow-run API (it is not github.com, and the
# output says so), and the tfstate-guard binary run as the Actions runner
# runs it.
#
#   1. setup, as job "terraform-apply" of CI run 41 on this host (standing
#      in for a GitHub-hosted runner), records which run will take the lock;
#   2. a laptop's Terraform, on another state and without setup, crashes
#      while holding its lock;
#   3. run 41's terraform apply is killed with SIGKILL: its lock stays;
#   4. detect while run 41 is still "in_progress": both locks ACTIVE, the
#      step fails (a live lock is never removed); Terraform is blocked;
#   5. GitHub (the stand-in) says run 41 ended: detect with auto-unlock:
#      definitive finds its lock STALE with definitive evidence and removes
#      it, no approval; the laptop's lock, stale by age alone, is left for a
#      person;
#   6. a person approves; unlock removes exactly the laptop's lock;
#   7. terraform plan works again on both states, state and digest intact.
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
mkdir -p "$work/tf" "$work/laptop" "$work/runner"
go build -o "$work/tfstate-guard" .
go build -o "$work/github-stand-in" ./internal/fakegithub/standin
guard="$work/tfstate-guard"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
moto_server -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
moto_pid=$!
"$work/github-stand-in" -url-file "$work/github-url" 2>"$work/github.log" &
gh_pid=$!
tf_pid=""
cleanup() {
	if [ -n "$tf_pid" ]; then kill -9 -- "-$tf_pid" 2>/dev/null || true; fi
	kill "$moto_pid" "$gh_pid" 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$port/moto-api/" >/dev/null 2>&1 && break; sleep 0.1; done
for _ in $(seq 100); do [ -s "$work/github-url" ] && break; sleep 0.1; done
github=$(cat "$work/github-url")
echo "GitHub API stand-in (local, not github.com): $github"
# github_run sets what the stand-in answers about run 41's first attempt:
# its status and, once it has ended, when its job on demo-runner ended.
github_run() { # status [conclusion completed_at]
	local job='{"name":"terraform-apply","runner_name":"demo-runner"}'
	[ -n "${3:-}" ] && job="{\"name\":\"terraform-apply\",\"runner_name\":\"demo-runner\",\"completed_at\":\"$3\"}"
	curl -fsS -X PUT "$github/_stand-in/repos/demo/infra/runs/41/attempts/1" \
		-d "{\"status\":\"$1\",\"conclusion\":\"${2:-}\",\"jobs\":[$job]}"
}
export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo AWS_EC2_METADATA_DISABLED=true
bucket=tfstate-guard-demo table=tfstate-guard-demo-locks key=demo/terraform.tfstate

# step runs the binary the way the runner runs the action: INPUT_* variables
# and fresh file-command files per step.
step() {
	: >"$work/runner/output"; : >"$work/runner/summary"
	env GITHUB_ACTIONS=true GITHUB_REPOSITORY=demo/infra GITHUB_RUN_ID="${RUN_ID:-42}" GITHUB_RUN_ATTEMPT=1 GITHUB_JOB="${JOB:-demo}" \
		GITHUB_OUTPUT="$work/runner/output" GITHUB_ENV="$work/runner/env" GITHUB_STEP_SUMMARY="$work/runner/summary" \
		RUNNER_NAME=demo-runner GITHUB_API_URL="$github" \
		"INPUT_AWS-REGION=eu-west-2" "INPUT_LOCK-TABLE=$table" "INPUT_GITHUB-TOKEN=demo-token" "$@" "$guard"
}
output() { # the value of one output, read with the runner's heredoc rules
	awk -v name="$1" '
		index($0, name "<<") == 1 { delim = substr($0, length(name) + 3); inval = 1; next }
		inval && $0 == delim { inval = 0; next }
		inval { print }' "$work/runner/output"
}

say "1. setup, as job terraform-apply of CI run 41: bucket, lock table, backend file, run record"
# moto refuses object writes to a bucket carrying a Deny-with-condition
# policy, so the TLS-only statement is turned off for this local bucket.
# runner-host and runner-exclusive are what the reusable workflow passes on
# a GitHub-hosted runner: this host, which runs this one job.
RUN_ID=41 JOB=terraform-apply step INPUT_MODE=setup "INPUT_STATE-BUCKET=$bucket" "INPUT_STATE-KEY=$key" "INPUT_WORKING-DIRECTORY=$work/tf" \
	"INPUT_SKIP-ENFORCED-TLS=true" "INPUT_RUNNER-HOST=$(hostname)" INPUT_RUNNER-EXCLUSIVE=true
github_run in_progress
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
cp "$work/tf/main.tf" "$work/laptop/main.tf"
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
cp "$work/tf/local-server.hcl" "$work/laptop/local-server.hcl"
# The laptop's backend file, written the way a person would on the command
# line (outside Actions setup records no run).
"$guard" setup --aws-region eu-west-2 --lock-table "$table" --state-bucket "$bucket" --state-key laptop/terraform.tfstate \
	--working-directory "$work/laptop" --skip-enforced-tls true >"$work/laptop-setup.log"
: >"$work/tf/empty.tfrc"
export TF_CLI_CONFIG_FILE="$work/tf/empty.tfrc" TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1
for dir in "$work/tf" "$work/laptop"; do
	(cd "$dir" && "$tf" init -no-color -input=false -backend-config=local-server.hcl >init.log && "$tf" apply -no-color -auto-approve -input=false >apply0.log)
done
echo "state written to s3://$bucket/$key and s3://$bucket/laptop/terraform.tfstate"

# hold_and_kill DIR LOG: terraform apply in DIR, killed with SIGKILL while
# it holds its lock.
hold_and_kill() {
	(cd "$1" && exec setsid "$tf" apply -no-color -auto-approve -input=false -var=hold=300) >"$2" 2>&1 &
	tf_pid=$!
	until grep -q "Provisioning with 'local-exec'" "$2" 2>/dev/null; do
		kill -0 "$tf_pid" 2>/dev/null || die "terraform ended early: $(cat "$2")"
		sleep 0.2
	done
	kill -9 -- "-$tf_pid"
	wait "$tf_pid" 2>/dev/null || true
	tf_pid=""
}

say "2. a laptop's terraform apply on laptop/terraform.tfstate crashes while holding its lock"
hold_and_kill "$work/laptop" "$work/laptop-apply.log"
laptop_locked_at=$(date +%s)
echo "killed; its lock stays, and nothing ties it to a run"

say "3. run 41's terraform apply is killed with SIGKILL while it holds the lock"
hold_and_kill "$work/tf" "$work/apply.log"
locked_at=$(date +%s)
echo "killed; the lock is left behind"

say "4. detect while GitHub (the stand-in) still says run 41 is in_progress: both ACTIVE"
set +e
step INPUT_MODE=detect INPUT_STALE-AFTER=10s INPUT_ACTIVE-WITHIN=5s
code=$?
set -e
echo "exit code $code (1 = a live lock blocks the workflow)"
[ "$code" = 1 ] || die "expected detect to block while run 41 is live"
cd "$work/tf"
if "$tf" plan -no-color -lock-timeout=0s -input=false >"$work/plan-blocked.log" 2>&1; then die "plan should have been blocked"; fi
echo "Terraform is blocked too:"
# Terraform's own words: the error and the lock's ID and owner (its Lock
# Info lines; not the AWS error text around them).
sed -n -E 's/^[│ ]*(Error: Error acquiring the state lock)[[:space:]]*$/  \1/p; s/^[│ ]*(ID|Who|Operation): +/    \1: /p' "$work/plan-blocked.log"

say "5. run 41 has ended (GitHub stand-in: completed, cancelled); detect with auto-unlock: definitive"
# Real cancelled jobs end seconds after Terraform is killed; detect gives a
# run that ended within 5 s of a lock the benefit of the doubt.
sleep $(( locked_at + 6 - $(date +%s) > 0 ? locked_at + 6 - $(date +%s) : 0 ))
github_run completed cancelled "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
sleep $(( laptop_locked_at + 11 - $(date +%s) > 0 ? laptop_locked_at + 11 - $(date +%s) : 0 ))
step INPUT_MODE=detect INPUT_STALE-AFTER=10s INPUT_ACTIVE-WITHIN=5s INPUT_AUTO-UNLOCK=definitive
echo "--- step summary ---"
cat "$work/runner/summary"
ids=$(output LOCK_IDS)
details=$(output LOCK_DETAILS)
echo "--- AUTO_UNLOCKED_LOCK_IDS=$(output AUTO_UNLOCKED_LOCK_IDS) (no approval: its owner is proven gone)"
echo "--- LOCK_IDS=$ids (stale by age alone: left for a person)"
[ "$(output AUTO_UNLOCKED_COUNT)" = 1 ] || die "expected auto-unlock to remove run 41's lock"
[ -n "$ids" ] || die "expected the laptop's lock to be left for a person"

say "6. a person checks with the laptop's owner and approves; unlock removes exactly that lock"
step INPUT_MODE=unlock "INPUT_LOCK-IDS=$ids" "INPUT_LOCK-DETAILS=$details" INPUT_STALE-AFTER=10s INPUT_ACTIVE-WITHIN=5s
echo "--- step summary ---"
cat "$work/runner/summary"

say "7. terraform plan works again on both states"
for dir in "$work/tf" "$work/laptop"; do
	(cd "$dir" && "$tf" plan -no-color -lock-timeout=0s -input=false >plan.log && grep -E '^Plan:' plan.log | sed "s|^|  $(basename "$dir"): |")
done
echo "(each plan replaces terraform_data.hold: the demo's resource has triggers_replace = timestamp(),"
echo " so it changes on every apply; each plan took and released its state lock without error)"
aws --endpoint-url "$AWS_ENDPOINT_URL" --region eu-west-2 dynamodb get-item --table-name "$table" \
	--key "{\"LockID\":{\"S\":\"$bucket/$key-md5\"}}" --consistent-read --query 'Item.Digest.S' --output text |
	sed 's/^/state digest intact: /'
say "demo finished: the proven-dead lock went with no approval, the laptop's with one; nothing else was touched"
