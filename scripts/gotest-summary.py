#!/usr/bin/env python3
"""Reads `go test -json` on stdin; prints what plain `go test` would (the
package lines, and the full output of every failing test), counts every
test and subtest, and writes the totals to the file named by argv[1] as
"N passed, N failed, N skipped"."""
import json
import sys

counts = {"pass": 0, "fail": 0, "skip": 0}
output = {}
for line in sys.stdin:
    try:
        ev = json.loads(line)
    except json.JSONDecodeError:
        sys.stdout.write(line)  # build errors are not JSON
        continue
    action, test = ev.get("Action"), ev.get("Test")
    key = (ev.get("Package"), test)
    if action == "output":
        if test:
            output.setdefault(key, []).append(ev["Output"])
        else:
            sys.stdout.write(ev["Output"])
    elif action in counts and test:
        counts[action] += 1
        if action == "fail":
            sys.stdout.write("".join(output.get(key, [])))
        output.pop(key, None)
    sys.stdout.flush()

with open(sys.argv[1], "w") as f:
    f.write(f"{counts['pass']} passed, {counts['fail']} failed, {counts['skip']} skipped\n")
