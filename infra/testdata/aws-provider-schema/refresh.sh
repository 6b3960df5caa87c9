#!/usr/bin/env bash
# Refreshes the vendored hashicorp/aws schema subset (see README.md).
#   refresh.sh [TAG...]   default: the tags listed in TAGS.txt
# SCHEMA_FROM=DIR copies from an extract laid out like this directory
# (DIR/<tag>/{resource,data}/<type>.json) instead of cloning.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
infra="$(cd "$here/../.." && pwd)"
repo_url=${SCHEMA_REPO:-https://github.com/lonegunmanb/terraform-aws-schema}
die() { printf 'refresh.sh: %s\n' "$*" >&2; exit 1; }

if [ $# -gt 0 ]; then tags=("$@"); else mapfile -t tags < <(awk '{print $1}' "$here/TAGS.txt"); fi
[ ${#tags[@]} -gt 0 ] || die "no tags: name one (e.g. v6.47.0) or list them in TAGS.txt"

# kind/type of every aws_ resource and data block in infra/.
mapfile -t types < <(cd "$infra" && grep -hoE '^(resource|data) "aws_[a-z0-9_]+"' ./*.tf modules/*/*.tf \
	| sed -E 's/^(resource|data) "([a-z0-9_]+)"/\1 \2/' | sort -u)
[ ${#types[@]} -gt 0 ] || die "no aws_ resource or data blocks found under $infra"

# aws_s3_bucket -> awsS3Bucket, the generated Go file's name.
camel() { python3 -c 'import sys; p=sys.argv[1].split("_"); print(p[0]+"".join(x[:1].upper()+x[1:] for x in p[1:]))' "$1"; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tmp_tags="$work/tags"
: >"$tmp_tags"
for tag in "${tags[@]}"; do
	[[ $tag =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "tag $tag is not a release tag such as v6.47.0"
	out="$here/$tag"
	rm -rf "$out.new" && mkdir -p "$out.new/resource" "$out.new/data"
	if [ -n "${SCHEMA_FROM:-}" ]; then
		src="$SCHEMA_FROM/$tag"
		[ -d "$src" ] || die "SCHEMA_FROM has no $tag directory: $src"
		commit=$(awk -v t="$tag" '$1 == t {print $2}' "$SCHEMA_FROM/TAGS.txt" 2>/dev/null || true)
		for kt in "${types[@]}"; do
			kind=${kt% *} type=${kt#* }
			[ -f "$src/$kind/$type.json" ] || die "$SCHEMA_FROM lacks $tag/$kind/$type.json"
			python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); open(sys.argv[2],"w").write(json.dumps(d,indent=1,sort_keys=True))' \
				"$src/$kind/$type.json" "$out.new/$kind/$type.json"
		done
	else
		clone="$work/$tag"
		git clone -q --depth 1 --branch "$tag" --filter=blob:none --sparse "$repo_url" "$clone" \
			|| die "could not clone $repo_url at $tag"
		git -C "$clone" sparse-checkout set generated/resource generated/data
		commit=$(git -C "$clone" rev-parse HEAD)
		for kt in "${types[@]}"; do
			kind=${kt% *} type=${kt#* }
			go_file="$clone/generated/$kind/$(camel "$type").go"
			[ -f "$go_file" ] || die "$tag has no generated/$kind/$(camel "$type").go (is $type a $kind type of that release?)"
			# The JSON is the Go raw string between the first pair of backquotes.
			python3 - "$go_file" "$out.new/$kind/$type.json" <<'PY'
import json, sys
text = open(sys.argv[1]).read()
start = text.index("`") + 1
doc = json.loads(text[start:text.index("`", start)])
if "block" not in doc:
    sys.exit(f"{sys.argv[1]}: no block in the schema JSON")
open(sys.argv[2], "w").write(json.dumps(doc, indent=1, sort_keys=True))
PY
		done
	fi
	[ -n "$commit" ] || die "no commit known for $tag"
	rm -rf "$out" && mv "$out.new" "$out"
	printf '%s %s\n' "$tag" "$commit" >>"$tmp_tags"
	echo "$tag ($commit): ${#types[@]} types"
done
# Keep the tags not refreshed this time; replace those that were.
awk 'NR == FNR {seen[$1] = 1; print; next} !($1 in seen)' "$tmp_tags" "$here/TAGS.txt" | sort -V >"$work/TAGS.txt"
cp "$work/TAGS.txt" "$here/TAGS.txt"
