#!/usr/bin/env bash
# Checks of the Text2Agent stack in infra/ (issue 11), from a fresh machine:
#   1. terraform fmt -check -recursive infra
#   2. tflint (built-in terraform ruleset, preset "all", offline)
#   3. tfsec: zero CRITICAL and zero HIGH findings
#   4. the Lambda handlers and their SQL under pytest, against a throwaway
#      PostgreSQL 15 cluster with pgvector built from Debian's trixie source
#      package, and a moto_server for SQS and Secrets Manager (started by
#      the tests).
# The Go tests of infra/ (infra_test.go, and schema_test.go: every resource
# and data block against hashicorp/aws's schema for v6.28.0 and v6.47.0) run
# with `go test ./...` in test.sh; run them alone with go test ./infra/.
#
# tflint and tfsec are built once with go install into $TOOLS_BIN (default
# .cache/bin) and reused while the version matches. Writes pytest's counts
# to .cache/pytest-counts as "N passed, N failed, N skipped" for the total
# test.sh prints last.
#
# Needs: go, terraform ($TFSTATE_GUARD_TERRAFORM or PATH), root or sudo-less
# apt-get for missing Debian packages. Each step prints its duration.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
TFLINT_VERSION=v0.64.0
TFSEC_VERSION=v1.26.0
TOOLS_BIN=${TOOLS_BIN:-"$repo/.cache/bin"}
mkdir -p "$TOOLS_BIN" .cache
log() { printf '\n== infra: %s\n' "$*"; }
die() { printf 'test-infra.sh: %s\n' "$*" >&2; exit 1; }
step_start=$SECONDS
timed() { echo "infra: $1 took $((SECONDS - step_start))s"; step_start=$SECONDS; }

apt_install() { # installs Debian packages that are missing
	local missing=()
	for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
	[ ${#missing[@]} -eq 0 ] && return 0
	log "apt-get install ${missing[*]}"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

log "prerequisites"
apt_install postgresql-15 postgresql-server-dev-15 make gcc dpkg-dev python3-pytest python3-psycopg2 python3-boto3
terraform=${TFSTATE_GUARD_TERRAFORM:-$(command -v terraform || true)}
[ -n "$terraform" ] || die "no terraform: run scripts/ensure-terraform.sh first (test.sh does)"
timed prerequisites

log "terraform fmt -check -recursive infra"
"$terraform" fmt -check -recursive -diff infra || die "terraform fmt would change the files above: run terraform fmt -recursive infra"
timed "terraform fmt"

# go install at an exact version, once; reused while the binary's build
# info (go version -m) names that module version. (A go-installed tfsec
# prints no version of its own.)
ensure_tool() { # name module version
	local name=$1 module=$2 version=$3 info
	if [ -x "$TOOLS_BIN/$name" ]; then
		info=$(go version -m "$TOOLS_BIN/$name" 2>/dev/null || true)
		if grep -Eq "^[[:space:]]+mod[[:space:]]+[^[:space:]]+[[:space:]]+$version([[:space:]]|\$)" <<<"$info"; then
			echo "$name $version: reusing $TOOLS_BIN/$name"
			return 0
		fi
	fi
	log "building $name $version with go install (minutes when cold)"
	GOBIN="$TOOLS_BIN" go install "$module@$version"
}

log "tflint $TFLINT_VERSION"
ensure_tool tflint github.com/terraform-linters/tflint "$TFLINT_VERSION"
timed "tflint build check"
# The built-in terraform ruleset only: no plugin is downloaded (the config
# declares none, and TFLINT_PLUGIN_DIR points at an empty directory).
plugin_dir=$(mktemp -d)
TFLINT_PLUGIN_DIR="$plugin_dir" "$TOOLS_BIN/tflint" --chdir=infra --recursive --config="$repo/infra/.tflint.hcl" --format=compact \
	|| die "tflint found problems (above)"
rmdir "$plugin_dir"
echo "tflint: no findings"
timed "tflint"

log "tfsec $TFSEC_VERSION"
ensure_tool tfsec github.com/aquasecurity/tfsec/cmd/tfsec "$TFSEC_VERSION"
timed "tfsec build check"
# Every finding of every severity, for the record (never fails the run) ...
tfsec_json=$(mktemp)
"$TOOLS_BIN/tfsec" infra --no-color --no-module-downloads --soft-fail --format json >"$tfsec_json" 2>/dev/null || true
python3 - "$tfsec_json" <<'PY'
import collections, json, sys
results = json.load(open(sys.argv[1])).get("results") or []
count = collections.Counter(r["severity"] for r in results)
print("tfsec findings: " + ", ".join(f"{s} {count[s]}" for s in ("CRITICAL", "HIGH", "MEDIUM", "LOW")))
for r in sorted(results, key=lambda r: r["severity"]):
    where = r["location"]["filename"].split("/infra/", 1)[-1]
    print(f"  {r['severity']:8} {r['long_id']}  {where}:{r['location']['start_line']}")
PY
rm -f "$tfsec_json"
# ... then the gate: tfsec exits 1 when a finding at or above
# --minimum-severity is left (ignores with a reason are not findings).
"$TOOLS_BIN/tfsec" infra --no-color --no-module-downloads --minimum-severity HIGH --concise-output \
	|| die "tfsec reports HIGH or CRITICAL findings (above): fix them, or ignore one with #tfsec:ignore:<id> and a written reason"
# An ignore comment without a reason on the same or the line above is refused.
bare=$(grep -rnE 'tfsec:ignore:[a-z0-9-]+[[:space:]]*$' --include='*.tf' infra || true)
[ -z "$bare" ] || die "every tfsec ignore needs a reason after it (#tfsec:ignore:<id> <reason>): $bare"
timed "tfsec"

log "pgvector for PostgreSQL 15"
pg_bin=/usr/lib/postgresql/15/bin
if [ ! -f /usr/share/postgresql/15/extension/vector.control ]; then
	# Not packaged for bookworm: build Debian's trixie source package
	# against postgresql-server-dev-15. Its sources index is fetched into a
	# private list directory, so the machine's apt sources stay unchanged.
	work=$(mktemp -d)
	chmod 755 "$work"  # apt downloads as the _apt user where it can
	mkdir -p "$work/lists/partial"
	cat >"$work/trixie.sources" <<-'SRC'
		Types: deb-src
		URIs: http://deb.debian.org/debian
		Suites: trixie
		Components: main
		Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
	SRC
	apt_opts=(-o "Dir::Etc::SourceList=$work/trixie.sources" -o Dir::Etc::SourceParts=/dev/null -o "Dir::State::Lists=$work/lists")
	apt-get "${apt_opts[@]}" update -qq
	(cd "$work" && apt-get "${apt_opts[@]}" source --download-only -qq pgvector)
	dsc=$(find "$work" -maxdepth 1 -name 'pgvector_*.dsc' -print)
	[ -n "$dsc" ] || die "apt-get source pgvector (trixie) downloaded nothing"
	# apt verified the trixie Release signature (debian-archive-keyring) and
	# the files' checksums against its Sources index; dpkg-source's warning
	# about the uploader's own .dsc signature (debian-keyring) is expected.
	(cd "$work" && dpkg-source -x "$dsc" src >/dev/null)  # applies Debian's patches
	make -s -C "$work/src" -j2 PG_CONFIG="$pg_bin/pg_config" >/dev/null
	make -s -C "$work/src" install PG_CONFIG="$pg_bin/pg_config" >/dev/null
	echo "built $(basename "$dsc" .dsc) from Debian trixie"
	rm -rf "$work"
else
	echo "pgvector already installed: $(sed -n "s/^default_version = '\(.*\)'/\1/p" /usr/share/postgresql/15/extension/vector.control)"
fi
timed "pgvector"

log "PostgreSQL 15 on 127.0.0.1 (throwaway cluster)"
pgdir=$(mktemp -d)
chown postgres:postgres "$pgdir"
as_postgres() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
as_postgres "$pg_bin/initdb" -D "$pgdir/data" -U postgres --auth=trust -E UTF8 >/dev/null
pg_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
as_postgres "$pg_bin/pg_ctl" -D "$pgdir/data" -l "$pgdir/log" -w -t 60 \
	-o "-c listen_addresses=127.0.0.1 -p $pg_port -k $pgdir -c fsync=off" start >/dev/null \
	|| { cat "$pgdir/log" >&2; die "PostgreSQL did not start"; }
pg_pid=$(sed -n 1p "$pgdir/data/postmaster.pid")
stop_pg() {
	kill -TERM "$pg_pid" 2>/dev/null || true
	for _ in $(seq 100); do kill -0 "$pg_pid" 2>/dev/null || break; sleep 0.1; done
	rm -rf "$pgdir"
}
trap stop_pg EXIT
echo "postgres pid $pg_pid on 127.0.0.1:$pg_port"
timed "postgres start"

log "pytest infra/lambda/tests (/usr/bin/python3)"
junit="$pgdir/junit.xml"
set +e
PGHOST=127.0.0.1 PGPORT=$pg_port PGUSER=postgres PYTHONDONTWRITEBYTECODE=1 \
	/usr/bin/python3 -m pytest infra/lambda/tests -q -p no:cacheprovider --junitxml="$junit"
status=$?
set -e
# Exit 5 means no test was collected: that is a failure here, not a pass.
[ "$status" -ne 5 ] || die "pytest collected no tests in infra/lambda/tests"
[ -f "$junit" ] || die "pytest wrote no report (exit $status)"
python3 - "$junit" .cache/pytest-counts <<'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
total = sum(int(s.get("tests", 0)) for s in suites)
failed = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
skipped = sum(int(s.get("skipped", 0)) for s in suites)
with open(sys.argv[2], "w") as f:
    f.write(f"{total - failed - skipped} passed, {failed} failed, {skipped} skipped\n")
PY
echo "pytest: $(cat .cache/pytest-counts)"
timed "pytest"
[ "$status" -eq 0 ] || die "pytest failed (exit $status)"
grep -q ' 0 skipped$' .cache/pytest-counts || die "pytest skipped tests: none may be skipped in CI"
