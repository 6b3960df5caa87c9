#!/usr/bin/env bash
# The benchmark against the aws CLI baseline (bench/README.md), in its short
# form for CI: figures printed, never pass/fail. Needs moto_server, the AWS
# CLI (v1) and python3 on PATH; starts and stops its own moto_server.
#
# Usage: scripts/bench.sh [bench flags]   (default -short; pass -sizes etc. to change)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v moto_server >/dev/null || { echo "bench.sh: moto_server is not on PATH" >&2; exit 1; }
command -v aws >/dev/null || { echo "bench.sh: the AWS CLI (aws) is not on PATH: the baseline needs it" >&2; exit 1; }
if [ $# -eq 0 ]; then set -- -short; fi
exec go run ./bench "$@"
