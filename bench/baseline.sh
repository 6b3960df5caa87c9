#!/usr/bin/env bash
# The baseline: what the original pipeline scripts did, as one script.
# `aws dynamodb scan` (AWS CLI v1, paginating by itself) piped into one
# python3 pass that parses each lock's Info, computes its age and applies
# the age rules (active within 10 minutes, stale after 30, or a Who that
# marks a failed run). It asks no one whether the owning run is alive.
#
# Usage: bench/baseline.sh TABLE   (AWS_ENDPOINT_URL, region and credentials from the environment)
set -euo pipefail
table=${1:?usage: baseline.sh TABLE}
aws dynamodb scan --table-name "$table" --consistent-read --output json \
	${AWS_ENDPOINT_URL:+--endpoint-url "$AWS_ENDPOINT_URL"} |
	python3 -c '
import json, sys
from datetime import datetime, timezone
ACTIVE_WITHIN, STALE_AFTER = 10 * 60, 30 * 60
now = datetime.now(timezone.utc)
locks = stale = active = 0
for item in json.load(sys.stdin)["Items"]:
    if "Info" not in item:
        continue  # digests, run records, other applications
    info = json.loads(item["Info"]["S"])
    locks += 1
    who = info.get("Who", "").lower()
    created = info.get("Created", "")
    try:
        # Terraform writes nanoseconds; Python reads microseconds.
        head, _, frac = created.rstrip("Z").partition(".")
        age = (now - datetime.fromisoformat(head + "." + (frac + "000000")[:6]).replace(tzinfo=timezone.utc)).total_seconds()
    except ValueError:
        age = None
    if any(m in who for m in ("cancelled", "failed", "timeout")) or age is None or age > ACTIVE_WITHIN:
        stale += 1
    else:
        active += 1
print(f"locks={locks} stale={stale} active={active}")
'
