#!/usr/bin/env bash
# Installs dynalite, a DynamoDB protocol server on Node.js, at a pinned
# version into .cache/dynalite (npm install --prefix; nothing global), for
# the reliability races (TestReliabilityRaces/dynalite): its conditional
# writes held under load where moto_server's did not (issue 19). The tests
# find it there (internal/dynaliteserver), start it on 127.0.0.1 at a port
# chosen at run time and stop it by its PID. Idempotent.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
version=4.0.0 # keep in step with internal/dynaliteserver.Version
prefix="$repo/.cache/dynalite"
installed=$(node -e "console.log(require('$prefix/node_modules/dynalite/package.json').version)" 2>/dev/null || true)
if [ "$installed" = "$version" ] && [ -x "$prefix/node_modules/.bin/dynalite" ]; then
	exit 0
fi
command -v npm >/dev/null || { echo "ensure-dynalite: npm is not installed (apt-get install nodejs npm)" >&2; exit 1; }
mkdir -p "$prefix"
npm install --no-audit --no-fund --loglevel=error --prefix "$prefix" "dynalite@$version" >&2
