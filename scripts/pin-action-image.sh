#!/usr/bin/env bash
# Point action.yml at a published image instead of the Dockerfile: the one
# change a release commit makes (.github/workflows/release.yml runs this).
#
# Usage: scripts/pin-action-image.sh IMAGE_REF [ACTION_YML]
#   IMAGE_REF   ghcr.io/<owner>/<name>:vX.Y.Z@sha256:<64 hex>, tag AND digest:
#               the digest makes the release immutable, the tag says which
#               release it is to a person reading action.yml
#   ACTION_YML  default: action.yml at the repository root
#
# Refuses (exit 2), changing nothing, when the reference is not in that form
# or when action.yml does not say `image: Dockerfile` exactly once (already
# pinned, or not this repository's generated file).
set -euo pipefail

die() { printf 'pin-action-image.sh: %s\n' "$*" >&2; exit 2; }

if [ $# -lt 1 ] || [ $# -gt 2 ]; then die "usage: $0 IMAGE_REF [ACTION_YML]"; fi
ref=$1
file=${2:-$(git -C "$(dirname "$0")" rev-parse --show-toplevel)/action.yml}

re='^ghcr\.io/[a-z0-9][a-z0-9._-]*/[a-z0-9][a-z0-9._/-]*:v[0-9]+\.[0-9]+\.[0-9]+@sha256:[0-9a-f]{64}$'
[[ $ref =~ $re ]] || die "IMAGE_REF must be ghcr.io/<owner>/<name>:vX.Y.Z@sha256:<64 lowercase hex> (lower-case name, tag and digest), got: $ref"
[ -f "$file" ] || die "no $file"

count=$(grep -c '^  image: Dockerfile$' "$file" || true)
[ "$count" = 1 ] || die "$file must say '  image: Dockerfile' exactly once under runs: (found $count): is it already pinned?"

tmp=$(mktemp "$file.XXXXXX")
trap 'rm -f "$tmp"' EXIT
sed "s|^  image: Dockerfile\$|  image: 'docker://$ref'|" "$file" >"$tmp"
cat "$tmp" >"$file" # keeps the file's mode
printf 'action.yml now runs docker://%s\n' "$ref"
