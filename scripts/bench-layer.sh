#!/usr/bin/env bash
# Times build-layer's Go builder against pip doing the same job from the same
# local package index (no network needed): a psycopg2-binary-sized wheel
# (about 3 MiB zipped, 10 MiB unzipped) and two pure wheels.
#
#   pip: pip install --platform manylinux2014_x86_64 --only-binary=:all:
#          --python-version 3.11 --target python/ --index-url ... ; zip -r
#   us:  layer.Build (benchlayer build)
#
# Prints a table of wall time (median of RUNS) and peak RSS (largest of
# RUNS), measured with /usr/bin/time -v, and whether each side gives the
# same zip twice. Needs go, python3 with pip, zip and GNU time
# (apt-get install -y time zip).
#
# Usage: scripts/bench-layer.sh            (RUNS=5 scripts/bench-layer.sh)
set -euo pipefail

RUNS=${RUNS:-3}
cd "$(dirname "$0")/.."

for tool in go python3 zip /usr/bin/time; do
	command -v "$tool" >/dev/null || { echo "bench-layer: $tool is missing (apt-get install -y time zip)" >&2; exit 1; }
done

work=$(mktemp -d)
server_pid=
cleanup() {
	if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/benchlayer" ./layer/internal/benchlayer
"$work/benchlayer" serve -url-file "$work/url" &
server_pid=$!
for _ in $(seq 100); do [ -s "$work/url" ] && break; sleep 0.1; done
[ -s "$work/url" ] || { echo "bench-layer: the local index did not start" >&2; exit 1; }
index=$(cat "$work/url")

cat >"$work/requirements.txt" <<REQ
psycopg2-binary==2.9.10
tiny-dep==1.0
other-dep==2.1
REQ

# timed NAME RUN CMD...: runs CMD under GNU time, keeps "wall_seconds rss_kib".
timed() {
	local name=$1 run=$2
	shift 2
	/usr/bin/time -v -o "$work/$name.$run.time" "$@" >"$work/$name.$run.log" 2>&1 || {
		echo "bench-layer: $name failed:" >&2; cat "$work/$name.$run.log" >&2; exit 1
	}
	awk -F': ' '
		/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i] }
		/Maximum resident set size/ { rss = $2 }
		END { printf "%.3f %d\n", s, rss }' "$work/$name.$run.time" >"$work/$name.$run.m"
}

for run in $(seq "$RUNS"); do
	timed ours "$run" "$work/benchlayer" build -index "$index" -requirements "$work/requirements.txt" -output "$work/ours.$run/layer.zip"

	mkdir -p "$work/pip.$run"
	timed pip "$run" env PIP_DISABLE_PIP_VERSION_CHECK=1 python3 -m pip install --quiet --no-cache-dir \
		--platform manylinux2014_x86_64 --only-binary=:all: --python-version 3.11 \
		--target "$work/pip.$run/python" --index-url "$index" -r "$work/requirements.txt"
	timed zip "$run" sh -c "cd '$work/pip.$run' && zip -q -r layer.zip python"
	sleep 1 # so that pip's second run stamps other times, as a later CI run would
done

# median of the first column, max of the second, over RUNS.
stats() { cat "$work/$1".*.m | sort -n | awk '{ w[NR] = $1; if ($2 > r) r = $2 } END { printf "%.2f %.1f\n", w[int((NR + 1) / 2)], r / 1024 }'; }
read -r ours_s ours_mb < <(stats ours)
read -r pip_s pip_mb < <(stats pip)
read -r zip_s zip_mb < <(stats zip)
pipzip_s=$(awk -v a="$pip_s" -v b="$zip_s" 'BEGIN { printf "%.2f", a + b }')
pipzip_mb=$(awk -v a="$pip_mb" -v b="$zip_mb" 'BEGIN { printf "%.1f", (a > b ? a : b) }')

same() { # same KIND: do all runs give one zip?
	local n
	n=$(sha256sum "$work/$1".*/layer.zip | awk '{ print $1 }' | sort -u | wc -l)
	[ "$n" -eq 1 ] && echo yes || echo "no ($n different zips)"
}
size() { stat -c %s "$work/$1.1/layer.zip"; }

echo
echo "build-layer benchmark: $RUNS run(s), psycopg2-binary-sized wheel + 2 pure wheels, local index"
printf '%-34s %14s %15s %11s %12s\n' "builder" "wall (median)" "peak RSS (max)" "zip bytes" "same bytes"
printf '%-34s %13ss %12s MiB %11s %12s\n' "tfstate-guard layer.Build" "$ours_s" "$ours_mb" "$(size ours)" "$(same ours)"
printf '%-34s %13ss %12s MiB %11s %12s\n' "pip install --target + zip -r" "$pipzip_s" "$pipzip_mb" "$(size pip)" "$(same pip)"
printf '%-34s %13ss %12s MiB\n' "  of which pip install" "$pip_s" "$pip_mb"
printf '%-34s %13ss %12s MiB\n' "  of which zip -r" "$zip_s" "$zip_mb"
