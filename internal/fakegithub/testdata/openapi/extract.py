#!/usr/bin/env python3
"""Cut the operations tfstate-guard calls out of GitHub's OpenAPI description.

Usage: npm pack @octokit/openapi@VERSION && tar xzf octokit-openapi-VERSION.tgz
       python3 extract.py package/generated/api.github.com.json > operations.json

Keeps, for each operation below, its responses (schemas and GitHub's
examples, as published, in the OpenAPI 3.0 form) and every component they
reference, nothing else. The conformance test translates `nullable`.
"""
import json
import sys

OPERATIONS = [
    ("/repos/{owner}/{repo}/actions/runs", "get"),
    ("/repos/{owner}/{repo}/actions/runs/{run_id}", "get"),
    ("/repos/{owner}/{repo}/actions/runs/{run_id}/attempts/{attempt_number}", "get"),
    ("/repos/{owner}/{repo}/actions/runs/{run_id}/attempts/{attempt_number}/jobs", "get"),
    ("/repos/{owner}/{repo}/actions/runs/{run_id}/jobs", "get"),
    ("/repos/{owner}/{repo}/issues/{issue_number}/comments", "get"),
    ("/repos/{owner}/{repo}/issues/{issue_number}/comments", "post"),
    ("/repos/{owner}/{repo}/issues/comments/{comment_id}", "get"),
    ("/repos/{owner}/{repo}/issues/comments/{comment_id}", "patch"),
    ("/repos/{owner}/{repo}/issues/comments/{comment_id}", "delete"),
]


def refs(node, out):
    if isinstance(node, dict):
        r = node.get("$ref")
        if isinstance(r, str):
            out.add(r)
        for v in node.values():
            refs(v, out)
    elif isinstance(node, list):
        for v in node:
            refs(v, out)


def resolve(spec, ref):
    node = spec
    for part in ref.lstrip("#/").split("/"):
        node = node[part]
    return node


def main():
    spec = json.load(open(sys.argv[1]))
    paths = {}
    for path, method in OPERATIONS:
        op = spec["paths"][path][method]
        keep = {k: op[k] for k in ("operationId", "parameters", "responses") if k in op}
        paths.setdefault(path, {})[method] = keep
    out = {"openapi": spec["openapi"], "info": spec["info"], "paths": paths, "components": {}}
    seen, todo = set(), set()
    refs(paths, todo)
    while todo:
        r = todo.pop()
        if r in seen:
            continue
        seen.add(r)
        node = resolve(spec, r)
        _, section, name = r.lstrip("#/").split("/")
        out["components"].setdefault(section, {})[name] = node
        refs(node, todo)
    for section in out["components"].values():
        for k in list(section):
            section[k] = section.pop(k)
    out["components"] = {s: dict(sorted(v.items())) for s, v in sorted(out["components"].items())}
    json.dump(out, sys.stdout, indent=1, sort_keys=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
