#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what it needs, then
# runs formatting and vet checks, every Go test with the race detector
# (unit, moto integration, end-to-end with the real Terraform CLI),
# actionlint over the workflows, the container smoke test, short
# benchmarks that print their figures, and the infra/ checks
# (scripts/test-infra.sh: fmt, tflint, tfsec, Lambda handlers on PostgreSQL).
#
# Each Go test package starts its own moto_server on 127.0.0.1 at a free
# port and stops it by its PID; this script starts one more for the
# container smoke test and stops it on exit.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
log() { printf '\n== %s\n' "$*"; }
die() { printf 'test.sh: %s\n' "$*" >&2; exit 1; }

apt_install() { # installs Debian packages that are missing
	local missing=()
	for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
	[ ${#missing[@]} -eq 0 ] && return 0
	log "apt-get install ${missing[*]}"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

log "prerequisites"
command -v go >/dev/null || die "go is not installed"
command -v moto_server >/dev/null || die "moto_server is not on PATH: the integration tests need a real S3 + DynamoDB server (pip install 'moto[server]==5.2.1')"
apt_install shellcheck docker.io zip time curl
command -v aws >/dev/null || apt_install awscli   # the container smoke test seeds moto with it
command -v python3 >/dev/null || apt_install python3
command -v npm >/dev/null || apt_install nodejs npm
scripts/ensure-dynalite.sh   # dynalite 4.0.0 into .cache/dynalite: the reliability races' second DynamoDB server
eval "$(scripts/ensure-terraform.sh)"
export TFSTATE_GUARD_TERRAFORM TFSTATE_GUARD_TERRAFORM_LOCKFILE
# Print only the first line of each version, reading all of it: `| head`
# closes the pipe early, the binary dies of SIGPIPE and pipefail fails CI
# (exit 141), which happened when TF_CLI_CONFIG_FILE names a missing file
# and Terraform prints a warning after its version line.
for bin in "$TFSTATE_GUARD_TERRAFORM" "$TFSTATE_GUARD_TERRAFORM_LOCKFILE"; do
	out=$("$bin" version 2>&1) || { echo "$bin version failed: $out" >&2; exit 1; }
	first=$(grep -m1 -E '^(Terraform|OpenTofu) v' <<<"$out") || first=$(sed -n 1p <<<"$out")
	echo "$first"
done

log "gofmt and go vet"
unformatted=$(find . -name '*.go' -not -path './.cache/*' -not -path './demo-work/*' -print0 | xargs -0 gofmt -l)
[ -z "$unformatted" ] || die "gofmt would change: $unformatted"
go vet ./...
# Under pipefail, a reader that stops early kills the writer with SIGPIPE
# and fails the run with exit 141 at random; CI lost a run to
# `terraform version | head -n1`. This refuses pipes into head, grep -q and
# grep -m outside comments (not every early reader: sed q and awk exit pass
# unseen, so keep them out by hand).
sigpipe=$(grep -nE '\|[[:space:]]*(head|grep[^|]*-[a-zA-Z]*[qm])\b' .ci/run scripts/*.sh | grep -vE '^[^:]+:[0-9]+:[[:space:]]*#' || true)
[ -z "$sigpipe" ] || die "a pipe into a reader that stops early can fail with SIGPIPE (exit 141); read the whole output first: $sigpipe"

log "go mod tidy"
# go.mod must say what the code uses: a module imported directly but marked
# // indirect (or a stale requirement) fails here, not in a reviewer's eyes.
go mod tidy -diff || die "go.mod/go.sum are not tidy: run go mod tidy and commit the result (the diff is above)"

log "go test -race ./..."
mkdir -p .cache
set +e
go test -race -count=1 -timeout 20m -json ./... | python3 scripts/gotest-summary.py .cache/test-counts
test_status=${PIPESTATUS[0]}
set -e
echo "go test: $(cat .cache/test-counts)"
[ "$test_status" -eq 0 ] || die "go test failed (exit $test_status)"

log "model-based checker of the evidence rules (3,000 random histories under -race)"
# Known holders, the real record writer, classify, auto-unlock and unlock:
# no live lock removed or offered while a recorded live run could hold it,
# every proven-dead lock removed. Replay: TFSTATE_GUARD_MODEL_SEED=<seed>;
# the long form: TFSTATE_GUARD_MODEL_HISTORIES=200000.
TFSTATE_GUARD_MODEL_HISTORIES=3000 go test -race -count=1 -run '^TestModelCheck$' -v ./lockcheck/ >.cache/modelcheck.log 2>&1 || {
	cat .cache/modelcheck.log
	die "the model-based checker found a broken promise (above)"
}
grep 'modelcheck:' .cache/modelcheck.log

log "actionlint"
scripts/actionlint.sh

log "container smoke test"
moto_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
moto_server -H 127.0.0.1 -p "$moto_port" >/dev/null 2>&1 &
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$moto_port/moto-api/" >/dev/null 2>&1 && break; sleep 0.1; done
TFSTATE_GUARD_MOTO_URL="http://127.0.0.1:$moto_port" scripts/docker-smoke.sh

log "benchmarks (figures, not pass/fail)"
go test -run '^$' -bench . -benchtime 5x -benchmem ./lockcheck/ ./backend/ ./layer/
# Issue 9's measurement (20 states, 0 and N runs of history each); the full
# form is N=500: go test -run '^$' -bench DetectHistory -benchtime 5x .
TFSTATE_GUARD_BENCH_HISTORY=50 go test -run '^$' -bench DetectHistory -benchtime 5x .

# infra/ (issue 11): terraform fmt, tflint, tfsec, and the Lambda handlers
# under pytest against PostgreSQL 15 + pgvector; writes .cache/pytest-counts.
rm -f .cache/pytest-counts
scripts/test-infra.sh

log "bench: detect, setup and unlock against the aws CLI baseline (short form; figures, not pass/fail)"
scripts/bench.sh

log "reliability harness (bounded: lock races, injected faults, fuzzing)"
scripts/reliability.sh

log "all checks passed"
# Go and pytest counts together ("N passed, N failed, N skipped" each).
echo "tests: $(awk -F'[ ,]+' '{p += $1; f += $3; s += $5} END {printf "%d passed, %d failed, %d skipped", p, f, s}' .cache/test-counts .cache/pytest-counts)"
