#!/usr/bin/env bash
# Prints the path of a Terraform CLI >= 1.5 and of one that supports S3
# lock files (use_lockfile, >= 1.10), building them from the Go module proxy
# into $TOOLS_DIR when the machine has none. Output (stdout), two lines:
#   TFSTATE_GUARD_TERRAFORM=<path>
#   TFSTATE_GUARD_TERRAFORM_LOCKFILE=<path>
# Set FORCE_BUILD=1 to ignore terraform on PATH (to test the cold path).
set -euo pipefail
TOOLS_DIR=${TOOLS_DIR:-"$(cd "$(dirname "$0")/.." && pwd)/.cache/tools"}
mkdir -p "$TOOLS_DIR"
log() { echo "ensure-terraform: $*" >&2; }

version_of() { # prints "major minor" of a terraform/tofu binary
	# Read the whole output before parsing it: a reader that stops early
	# (head) would kill the binary with SIGPIPE, and pipefail would turn
	# that into "no usable terraform" and a needless 13-minute build.
	local out
	out=$("$1" version -json 2>/dev/null) || return 1
	sed -n 's/.*"terraform_version": *"\([0-9]*\)\.\([0-9]*\)\..*/\1 \2/p' <<<"$out" | sed -n 1p
}
at_least() { # bin major minor
	local v major minor
	v=$(version_of "$1") || return 1
	[ -n "$v" ] || return 1
	read -r major minor <<<"$v"
	[ "$major" -gt "$2" ] || { [ "$major" -eq "$2" ] && [ "$minor" -ge "$3" ]; }
}

tf=""
if [ "${FORCE_BUILD:-0}" != 1 ] && command -v terraform >/dev/null && at_least "$(command -v terraform)" 1 5; then
	tf=$(command -v terraform)
elif [ -x "$TOOLS_DIR/terraform" ] && at_least "$TOOLS_DIR/terraform" 1 5; then
	tf="$TOOLS_DIR/terraform"
else
	log "building terraform v1.8.5 from the Go module proxy (about 6 minutes cold)"
	GOBIN="$TOOLS_DIR" go install github.com/hashicorp/terraform@v1.8.5 >&2
	tf="$TOOLS_DIR/terraform"
fi

lf=""
if at_least "$tf" 1 10; then
	lf="$tf"
elif [ -x "$TOOLS_DIR/tofu" ] && at_least "$TOOLS_DIR/tofu" 1 10; then
	lf="$TOOLS_DIR/tofu"
else
	log "building OpenTofu v1.10.10 for use_lockfile (about 8 minutes cold)"
	mod=$(mktemp -d)
	trap 'rm -rf "$mod"' EXIT
	cat >"$mod/go.mod" <<'MOD'
module tofubuild

go 1.26

require github.com/opentofu/opentofu v1.10.10

replace github.com/hashicorp/hcl/v2 v2.20.1 => github.com/opentofu/hcl/v2 v2.20.2-0.20251021132045-587d123c2828
MOD
	cat >"$mod/tools.go" <<'GO'
//go:build tools

package tools

import _ "github.com/opentofu/opentofu/cmd/tofu"
GO
	(cd "$mod" && go mod tidy >&2 && go build -o "$TOOLS_DIR/tofu" github.com/opentofu/opentofu/cmd/tofu >&2)
	lf="$TOOLS_DIR/tofu"
fi
log "terraform: $tf ($(version_of "$tf" | tr ' ' .)); lock files: $lf ($(version_of "$lf" | tr ' ' .))"
echo "TFSTATE_GUARD_TERRAFORM=$tf"
echo "TFSTATE_GUARD_TERRAFORM_LOCKFILE=$lf"
