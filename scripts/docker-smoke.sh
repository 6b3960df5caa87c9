#!/usr/bin/env bash
# Container smoke test: run tfstate-guard inside a container exactly the way
# the GitHub runner runs a Docker action (inputs as INPUT_* variables, the
# workspace and the file-command folder bind-mounted, GITHUB_OUTPUT in that
# folder), against a DynamoDB lock table on a moto server, and prove that
#   1. detect finds the one stale Terraform lock and writes LOCK_COUNT=1,
#      STALE_LOCKS_FOUND=true and LOCK_IDS=<its ID> to GITHUB_OUTPUT;
#   2. unlock with that ID removes it (UNLOCKED_LOCK_IDS=<its ID>) and
#      leaves Terraform's "-md5" digest item alone.
#
# Usage:
#   TFSTATE_GUARD_MOTO_URL=http://127.0.0.1:5000 scripts/docker-smoke.sh
#
# Environment:
#   TFSTATE_GUARD_MOTO_URL     required: a running moto server
#                              (moto_server -H 127.0.0.1 -p 5000).
#   TFSTATE_GUARD_DOCKER_HOST  optional: use this Docker daemon (e.g.
#                              unix:///var/run/docker.sock) instead of starting
#                              a private dockerd. Starting one needs root.
#   TFSTATE_GUARD_SMOKE_IMAGE  optional: test this image instead of building
#                              one FROM scratch with a binary built here.
#
# The real Dockerfile is built (and tested too) only when its base images
# are already present in the daemon: nothing is ever pulled. A fresh private
# daemon has none, so there the build is skipped, and the script says so.
#
# Exits 0 when every check passed; otherwise non-zero, saying why.
set -euo pipefail

started=$SECONDS
say() { printf '[docker-smoke %3ds] %s\n' "$((SECONDS - started))" "$*"; }
fail() {
	printf '[docker-smoke %3ds] FAIL: %s\n' "$((SECONDS - started))" "$*" >&2
	exit 1
}

moto_url="${TFSTATE_GUARD_MOTO_URL:-}"
[ -n "$moto_url" ] || fail "TFSTATE_GUARD_MOTO_URL is not set: start moto (moto_server -H 127.0.0.1 -p 5000) and set TFSTATE_GUARD_MOTO_URL=http://127.0.0.1:5000"
moto_url="${moto_url%/}"

repo="$(git -C "$(dirname "$0")" rev-parse --show-toplevel)"
# Lock records written by real Terraform binaries (a copy of
# shared/fixtures/terraform-locks.json kept with the lockcheck tests).
fixture="${TFSTATE_GUARD_FIXTURE:-$repo/lockcheck/testdata/terraform-locks.json}"
[ -f "$fixture" ] || fail "lock fixture $fixture not found: set TFSTATE_GUARD_FIXTURE to a terraform-locks.json"
ca_bundle=/etc/ssl/certs/ca-certificates.crt

needs=(aws python3 curl)
[ -n "${TFSTATE_GUARD_SMOKE_IMAGE:-}" ] || needs+=(go)
for tool in "${needs[@]}"; do
	command -v "$tool" >/dev/null 2>&1 || fail "$tool is not installed"
done
[ -f "$ca_bundle" ] || fail "no CA bundle at $ca_bundle (apt-get install ca-certificates)"
curl -fsS -o /dev/null --max-time 5 "$moto_url/moto-api/" || fail "moto does not answer at $moto_url/moto-api/"

# Everything lives in one temp dir: the daemon's state, the image context,
# the runner's workspace and file commands. Short path: socket paths are
# limited to 108 bytes.
work="$(mktemp -d /tmp/tfsg-smoke.XXXXXX)"
dockerd_pid=""
daemon_ready=""
table="tfsg-smoke-$$-$RANDOM"
region=eu-west-2

# AWS CLI against moto only: fake credentials, no profile or config files.
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=$region
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
unset AWS_PROFILE AWS_SESSION_TOKEN
ddb() { aws --endpoint-url "$moto_url" --region "$region" --output json dynamodb "$@"; }

cleanup() {
	local code=$?
	set +e
	ddb delete-table --table-name "$table" >/dev/null 2>&1
	if [ -n "$dockerd_pid" ] && kill -0 "$dockerd_pid" 2>/dev/null; then
		kill "$dockerd_pid"
		for _ in $(seq 1 50); do
			kill -0 "$dockerd_pid" 2>/dev/null || break
			sleep 0.2
		done
		if kill -0 "$dockerd_pid" 2>/dev/null; then
			echo "[docker-smoke] dockerd (pid $dockerd_pid) did not stop in 10 s: killing it" >&2
			kill -9 "$dockerd_pid"
		fi
		wait "$dockerd_pid" 2>/dev/null
	fi
	# dockerd leaves its default network namespace bind-mounted under the
	# exec root; unmount whatever is still mounted below $work, deepest first.
	awk -v w="$work/" 'index($2, w) == 1 { print $2 }' /proc/self/mounts | sort -r | while read -r m; do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
	done
	if [ "$code" -ne 0 ] && [ -z "$daemon_ready" ] && [ -s "$work/dockerd.log" ]; then
		echo "[docker-smoke] last lines of dockerd's log:" >&2
		tail -n 20 "$work/dockerd.log" >&2
	fi
	rm -rf "$work" 2>/dev/null || echo "[docker-smoke] could not remove $work entirely (left for inspection)" >&2
	if [ "$code" -eq 0 ]; then
		echo "[docker-smoke] PASS in $((SECONDS - started)) s"
	fi
	exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- daemon --
if [ -n "${TFSTATE_GUARD_DOCKER_HOST:-}" ]; then
	export DOCKER_HOST="$TFSTATE_GUARD_DOCKER_HOST"
	say "using the Docker daemon at $DOCKER_HOST"
else
	if ! command -v dockerd >/dev/null 2>&1; then
		# /usr/local/bin/docker may be only a client.
		say "dockerd is missing: installing docker.io with apt-get"
		apt-get update -qq || fail "apt-get update failed: cannot install docker.io"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io >/dev/null ||
			fail "apt-get install docker.io failed"
	fi
	[ "$(id -u)" -eq 0 ] || fail "starting a private dockerd needs root (or set TFSTATE_GUARD_DOCKER_HOST)"
	mkdir -p "$work/data" "$work/exec"
	export DOCKER_HOST="unix://$work/docker.sock"
	# No iptables, no bridge: containers use --network host only, so the
	# daemon changes nothing on the machine and needs no firewall tools.
	dockerd \
		--iptables=false --ip6tables=false --bridge=none \
		-H "$DOCKER_HOST" \
		--data-root "$work/data" --exec-root "$work/exec" \
		--pidfile "$work/docker.pid" \
		>"$work/dockerd.log" 2>&1 &
	dockerd_pid=$!
	say "started dockerd (pid $dockerd_pid) on $DOCKER_HOST"
	for _ in $(seq 1 150); do
		docker version >/dev/null 2>&1 && break
		kill -0 "$dockerd_pid" 2>/dev/null || fail "dockerd exited while starting (log below)"
		sleep 0.2
	done
	docker version >/dev/null 2>&1 || fail "dockerd did not answer within 30 s"
fi
daemon_ready=1
say "daemon ready: server $(docker version --format '{{.Server.Version}}'), storage driver $(docker info --format '{{.Driver}}')"

# ----------------------------------------------------------------- image --
images=()
if [ -n "${TFSTATE_GUARD_SMOKE_IMAGE:-}" ]; then
	docker image inspect "$TFSTATE_GUARD_SMOKE_IMAGE" >/dev/null 2>&1 || fail "image $TFSTATE_GUARD_SMOKE_IMAGE is not in the daemon"
	images+=("$TFSTATE_GUARD_SMOKE_IMAGE")
else
	mkdir -p "$work/image"
	say "building the binary (CGO_ENABLED=0 go build)"
	(cd "$repo" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$work/image/tfstate-guard" .) ||
		fail "go build failed (see above)"
	cp "$ca_bundle" "$work/image/ca-certificates.crt"
	cat >"$work/image/Dockerfile" <<'EOF'
FROM scratch
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY tfstate-guard /tfstate-guard
ENTRYPOINT ["/tfstate-guard"]
EOF
	docker build -q -t tfstate-guard-smoke:scratch "$work/image" >/dev/null 2>"$work/build.log" ||
		{ cat "$work/build.log" >&2; fail "docker build of the FROM scratch test image failed"; }
	images+=(tfstate-guard-smoke:scratch)
	say "built test image tfstate-guard-smoke:scratch (host binary + CA bundle, FROM scratch)"
fi

# The real Dockerfile, only from base images already present: no pulls.
bases=()
while read -r base; do
	bases+=("$base")
done < <(awk '
	toupper($1) == "FROM" {
		img = ""
		for (i = 2; i <= NF; i++) if ($i !~ /^--/) { img = $i; break }
		if (!(img in stage)) print img
		if (toupper($(NF - 1)) == "AS") stage[$NF] = 1
	}' "$repo/Dockerfile" | sort -u)
missing=()
for base in "${bases[@]}"; do
	docker image inspect "$base" >/dev/null 2>&1 || missing+=("$base")
done
if [ "${#missing[@]}" -eq 0 ]; then
	say "base images present (${bases[*]}): building the real Dockerfile with --pull=false"
	docker build -q --pull=false -t tfstate-guard-smoke:dockerfile "$repo" >/dev/null 2>"$work/build-real.log" ||
		{ cat "$work/build-real.log" >&2; fail "docker build of the real Dockerfile failed"; }
	images+=(tfstate-guard-smoke:dockerfile)
else
	say "NOT building the real Dockerfile: base image(s) ${missing[*]} are not present in this daemon, and this script never pulls"
fi

# ----------------------------------------------------------- lock table --
# One stale lock, as Terraform 1.11.4 wrote it, plus its state's -md5 digest.
python3 - "$fixture" "$work" <<'EOF' || true
import json, sys
fixture, work = sys.argv[1], sys.argv[2]
items = json.load(open(fixture))["captures"]["terraform-1.11.4"]["dynamodb_items"]
lock = next(i for i in items if "Info" in i)
digest = next(i for i in items if "Digest" in i)
assert digest["LockID"] == lock["LockID"] + "-md5", "fixture: digest does not belong to the lock"
for name, item in (("lock", lock), ("digest", digest)):
    json.dump({k: {"S": v} for k, v in item.items()}, open(f"{work}/{name}.item.json", "w"))
info = json.loads(lock["Info"])
with open(f"{work}/lock.env", "w") as f:
    f.write(f"lock_id={info['ID']}\nlock_path={lock['LockID']}\nlock_created={info['Created']}\ndigest={digest['Digest']}\n")
EOF
[ -s "$work/lock.env" ] || fail "could not read the terraform-1.11.4 items from $fixture"
lock_id="$(sed -n 's/^lock_id=//p' "$work/lock.env")"
lock_path="$(sed -n 's/^lock_path=//p' "$work/lock.env")"
lock_created="$(sed -n 's/^lock_created=//p' "$work/lock.env")"
digest="$(sed -n 's/^digest=//p' "$work/lock.env")"
created_s="$(date -d "$lock_created" +%s)" || fail "cannot read the fixture lock's Created $lock_created"
[ "$(($(date +%s) - created_s))" -gt 120 ] ||
	fail "the fixture lock (Created $lock_created) is not at least 2 minutes old by this machine's clock ($(date -u +%FT%TZ)): it cannot be stale"

ddb create-table --table-name "$table" \
	--attribute-definitions AttributeName=LockID,AttributeType=S \
	--key-schema AttributeName=LockID,KeyType=HASH \
	--billing-mode PAY_PER_REQUEST >/dev/null || fail "create-table $table failed"
ddb put-item --table-name "$table" --item "file://$work/lock.item.json" || fail "put-item (lock) failed"
ddb put-item --table-name "$table" --item "file://$work/digest.item.json" || fail "put-item (digest) failed"
say "table $table on moto: lock $lock_id at $lock_path (created $lock_created) and its -md5 digest"

# ------------------------------------------------------ run like a runner --
# run_action IMAGE STEP MODE [INPUT_NAME=value]...: one action step. The
# runner makes an empty file per file command per step and mounts the folder.
run_action() {
	local image=$1 step=$2 mode=$3
	shift 3
	local fc="$work/file_commands"
	mkdir -p "$work/workspace" "$fc"
	: >"$fc/set_output_$step"
	: >"$fc/set_env_$step"
	: >"$fc/step_summary_$step"
	local args=(
		run --rm --network host --workdir /github/workspace
		-v "$work/workspace:/github/workspace"
		-v "$fc:/github/file_commands"
		-e "INPUT_MODE=$mode"
		-e "INPUT_AWS-REGION=$region"
		-e "INPUT_LOCK-TABLE=$table"
		-e GITHUB_ACTIONS=true -e CI=true
		-e GITHUB_WORKSPACE=/github/workspace
		-e "GITHUB_OUTPUT=/github/file_commands/set_output_$step"
		-e "GITHUB_ENV=/github/file_commands/set_env_$step"
		-e "GITHUB_STEP_SUMMARY=/github/file_commands/step_summary_$step"
		-e GITHUB_REPOSITORY=text2agent/tfstate-guard
		-e GITHUB_RUN_ID=4242 -e GITHUB_RUN_ATTEMPT=1
		-e GITHUB_JOB=smoke -e GITHUB_WORKFLOW=docker-smoke -e RUNNER_NAME=docker-smoke
		-e GITHUB_API_URL=https://api.github.com
		-e "AWS_ENDPOINT_URL=$moto_url"
		-e AWS_ACCESS_KEY_ID=testing -e AWS_SECRET_ACCESS_KEY=testing
	)
	# As the runner does for every container action, mount the Docker
	# socket (a unix:// DOCKER_HOST) at /var/run/docker.sock.
	case "$DOCKER_HOST" in
	unix://*) args+=(-v "${DOCKER_HOST#unix://}:/var/run/docker.sock") ;;
	esac
	local kv
	for kv in "$@"; do
		args+=(-e "$kv")
	done
	docker "${args[@]}" "$image" >"$work/$step.stdout" 2>"$work/$step.stderr"
}

# check FILE NAME EXPECTED: NAME in a file command file equals EXPECTED.
# The file is parsed as the runner parses it (name=value, name<<DELIMITER).
check() {
	python3 - "$@" <<'EOF'
import sys
path, name, want = sys.argv[1:4]
out, lines, i = {}, open(path).read().split("\n"), 0
while i < len(lines):
    line = lines[i]; i += 1
    if not line:
        continue
    eq, hd = line.find("="), line.find("<<")
    if hd >= 0 and (eq < 0 or hd < eq):
        key, delim, value = line[:hd], line[hd + 2:], []
        while i < len(lines) and lines[i] != delim:
            value.append(lines[i]); i += 1
        if i == len(lines):
            sys.exit(f"FAIL: {path}: heredoc of {key} never ends with {delim}")
        i += 1
        out[key] = "\n".join(value)
    elif eq > 0:
        out[line[:eq]] = line[eq + 1:]
    else:
        sys.exit(f"FAIL: {path}: malformed line {line!r}")
got = out.get(name)
if got != want:
    sys.exit(f"FAIL: {name} is {got!r}, want {want!r} (in {path})")
print(f"  ok: {name}={want} ({path.rsplit('/', 1)[-1]})")
EOF
}

value_of() { # value_of FILE NAME: print one output (heredoc-aware)
	python3 - "$@" <<'EOF'
import re, sys
path, name = sys.argv[1:3]
text = open(path).read()
m = re.search(r"^" + re.escape(name) + r"<<(.+)\n(.*?)\n\1$", text, re.M | re.S)
print(m.group(2) if m else "")
EOF
}

show_run() { # print what a failed step printed
	echo "--- stdout of $1:" >&2
	cat "$work/$1.stdout" >&2
	echo "--- stderr of $1:" >&2
	cat "$work/$1.stderr" >&2
}

for image in "${images[@]}"; do
	tag="$(printf '%s' "$image" | tr -c 'a-zA-Z0-9' '_')"
	# The lock must be there for every image tested.
	ddb put-item --table-name "$table" --item "file://$work/lock.item.json" || fail "put-item (lock) failed"

	say "[$image] detect"
	# active-within 1m: the fixture lock was taken at a fixed time; anything
	# older than a minute with no live owner is stale.
	rc=0
	run_action "$image" "detect_$tag" detect INPUT_FAIL-ON-ACTIVE=true INPUT_ACTIVE-WITHIN=1m || rc=$?
	[ "$rc" -eq 0 ] || { show_run "detect_$tag"; fail "[$image] detect exited $rc, want 0"; }
	out="$work/file_commands/set_output_detect_$tag"
	check "$out" LOCK_COUNT 1 || { show_run "detect_$tag"; fail "[$image] detect outputs"; }
	check "$out" STALE_LOCKS_FOUND true || fail "[$image] detect outputs"
	check "$out" ACTIVE_LOCKS_FOUND false || fail "[$image] detect outputs"
	check "$out" LOCK_IDS "$lock_id" || fail "[$image] detect outputs"
	check "$work/file_commands/set_env_detect_$tag" LOCK_IDS "$lock_id" || fail "[$image] detect GITHUB_ENV"
	grep -q "$lock_id" "$work/file_commands/step_summary_detect_$tag" || fail "[$image] the step summary does not name lock $lock_id"
	echo "  ok: step summary names the lock"
	details="$(value_of "$out" LOCK_DETAILS)"
	[ -n "$details" ] || fail "[$image] LOCK_DETAILS is empty"

	say "[$image] unlock $lock_id (with detect's LOCK_DETAILS, as the approval job passes them)"
	rc=0
	run_action "$image" "unlock_$tag" unlock "INPUT_LOCK-IDS=$lock_id" "INPUT_LOCK-DETAILS=$details" || rc=$?
	[ "$rc" -eq 0 ] || { show_run "unlock_$tag"; fail "[$image] unlock exited $rc, want 0"; }
	out="$work/file_commands/set_output_unlock_$tag"
	check "$out" UNLOCKED_LOCK_IDS "$lock_id" || { show_run "unlock_$tag"; fail "[$image] unlock outputs"; }
	check "$out" REFUSED_LOCK_IDS "" || fail "[$image] unlock outputs"

	item="$(ddb get-item --consistent-read --table-name "$table" --key "{\"LockID\":{\"S\":\"$lock_path\"}}")"
	[ -z "$item" ] || printf '%s' "$item" | python3 -c 'import json,sys; sys.exit("Item" in json.load(sys.stdin))' ||
		fail "[$image] the lock item $lock_path is still in the table"
	echo "  ok: lock item is gone"
	item="$(ddb get-item --consistent-read --table-name "$table" --key "{\"LockID\":{\"S\":\"$lock_path-md5\"}}")"
	printf '%s' "$item" | python3 -c 'import json,sys; sys.exit(json.load(sys.stdin).get("Item",{}).get("Digest",{}).get("S") != sys.argv[1])' "$digest" ||
		fail "[$image] the -md5 digest item is gone or changed: $item"
	echo "  ok: -md5 digest item is still there ($digest)"
done

say "[${images[0]}] setup records the runner's host, read from the Docker socket the runner mounts"
# Inside the container its own hostname is a random container ID; the run
# record must carry the name of the machine whose Terraform takes the lock:
# the Docker daemon's host (GET /info over /var/run/docker.sock).
want_host=$(docker info --format '{{.Name}}') || fail "docker info failed"
rc=0
run_action "${images[0]}" setup setup "INPUT_STATE-BUCKET=smoke-state-$$" INPUT_STATE-KEY=app/terraform.tfstate \
	INPUT_SKIP-ENFORCED-TLS=true INPUT_SKIP-DELETION-PROTECTION=true || rc=$?
[ "$rc" -eq 0 ] || { show_run setup; fail "setup exited $rc, want 0"; }
record="$(ddb get-item --consistent-read --table-name "$table" --key "{\"LockID\":{\"S\":\"tfstate-guard#state#smoke-state-$$/app/terraform.tfstate\"}}")"
printf '%s' "$record" | python3 -c '
import json, sys
runs = json.loads(json.load(sys.stdin)["Item"]["Runs"]["S"])
host = runs[0].get("host")
if host != sys.argv[1]:
    sys.exit(f"FAIL: the run record host is {host!r}, want the Docker host {sys.argv[1]!r}")
' "$want_host" || { show_run setup; fail "the run record does not name the runner's host"; }
echo "  ok: run record host is $want_host (the Docker daemon's host), not the container's ID"

say "all checks passed for: ${images[*]}"
