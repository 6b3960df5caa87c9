#!/usr/bin/env bash
# Lint every GitHub Actions workflow of this repository with actionlint
# (and, through it, every `run:` script with shellcheck).
#
# Usage: scripts/actionlint.sh [extra actionlint flags]
#   ACTIONLINT_VERSION  actionlint version to install when missing (default v1.7.12)
#   ACTIONLINT_BIN_DIR  where to install it (default <repo>/.cache/bin)
#
# Exits non-zero on any finding, and when actionlint or shellcheck cannot be
# installed (set ALLOW_NO_SHELLCHECK=1 to lint without shellcheck when apt is
# unavailable; a loud warning is printed then).
set -euo pipefail

ACTIONLINT_VERSION="${ACTIONLINT_VERSION:-v1.7.12}"

# actionlint must run from the repository root of a git checkout: it finds
# .github/workflows there and resolves local actions (uses: ./x) and local
# reusable workflows (uses: ./.github/workflows/x.yml) against it.
repo="$(git -C "$(dirname "$0")" rev-parse --show-toplevel)"
cd "$repo"

bin_dir="${ACTIONLINT_BIN_DIR:-$repo/.cache/bin}"
mkdir -p "$bin_dir"
export PATH="$bin_dir:$PATH"

log() { printf 'actionlint.sh: %s\n' "$*" >&2; }

installed_version() {
	# `actionlint -version` prints the version on its first line.
	local out
	out=$(actionlint -version 2>/dev/null) || return 0
	sed -n 1p <<<"$out" | tr -d '[:space:]'
}

if ! command -v actionlint >/dev/null 2>&1 || [ "$(installed_version)" != "$ACTIONLINT_VERSION" ]; then
	log "installing actionlint $ACTIONLINT_VERSION into $bin_dir"
	GOBIN="$bin_dir" go install "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION"
fi

if ! command -v shellcheck >/dev/null 2>&1; then
	log "shellcheck is missing: installing it with apt-get"
	if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck >/dev/null; }; then
		if [ "${ALLOW_NO_SHELLCHECK:-0}" = 1 ]; then
			log "WARNING: ******************************************************"
			log "WARNING: shellcheck could not be installed: run: scripts are NOT"
			log "WARNING: being checked. Install shellcheck and run this again."
			log "WARNING: ******************************************************"
		else
			log "error: shellcheck could not be installed (apt-get failed); install it, or set ALLOW_NO_SHELLCHECK=1 to lint without it"
			exit 2
		fi
	fi
fi

log "actionlint $(installed_version), $(shellcheck --version 2>/dev/null | sed -n 's/^version: /shellcheck /p' || echo 'no shellcheck')"

# Known false positive, and only that one: GitHub's job context has had
# workflow_repository, workflow_sha, workflow_ref and workflow_file_path
# since April 2026 (documented under "job context"; the reusable workflow
# uses them to check out the action at its own commit), but actionlint
# v1.7.12 does not know them yet (rhysd/actionlint issues 647 and 705).
# The pattern names the job context's type, so a typo in another property,
# or these names on another context, is still reported. Drop it when
# actionlint knows the properties.
ignore_job_workflow='property "workflow_(repository|sha|ref|file_path)" is not defined in object type \{check_run_id: number; container:'

# The reusable workflow runs the action as `uses: ./.tfstate-guard`, a
# checkout made at run time. actionlint skips a local action it cannot
# find, so lint a mirror of the workflows in which .tfstate-guard is this
# repository's action: then every `with:` is checked against action.yml's
# inputs (unknown or missing required inputs are findings). The mirror is a
# git repository of its own, so the shared checkout is left untouched.
mirror="$(mktemp -d)"
trap 'rm -rf "$mirror"' EXIT
mkdir -p "$mirror/.github"
cp -R .github/workflows "$mirror/.github/workflows"
# (the Dockerfile too: actionlint checks that runs.image exists)
for f in action.yml action.yaml Dockerfile; do
	if [ -f "$f" ]; then cp "$f" "$mirror/$f"; fi
done
ln -s . "$mirror/.tfstate-guard"
git -C "$mirror" init -q
if [ ! -f action.yml ] && [ ! -f action.yaml ]; then
	log "note: no action.yml at the repository root: inputs of uses: ./.tfstate-guard are not checked"
fi

# actionlint exits 1 when it finds a problem, 2 or 3 on a usage or fatal error.
(cd "$mirror" && actionlint -no-color -ignore "$ignore_job_workflow" "$@")
log "no findings in $(find .github/workflows -name '*.y*ml' | wc -l) workflow file(s)"
