#!/usr/bin/python3
"""Applies each case's RFC 6902 patch with python3-jsonpatch (an implementation independent of ours) and checks
that the result is the expected pod.

Input: a JSON file holding [{"name", "original", "patch", "expected"}, ...]. Prints one line per mismatch and exits 1
if there is any; exits 0 when every patch yields its expected pod.
"""
import json
import sys

import jsonpatch


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        cases = json.load(f)
    failures = 0
    for case in cases:
        try:
            result = jsonpatch.JsonPatch(case["patch"]).apply(case["original"])
        except Exception as e:  # a patch the library refuses is a failure of ours
            print(f"{case['name']}: patch does not apply: {e}")
            failures += 1
            continue
        if result != case["expected"]:
            print(f"{case['name']}: patched pod differs\n  got:      {json.dumps(result, sort_keys=True)}\n"
                  f"  expected: {json.dumps(case['expected'], sort_keys=True)}")
            failures += 1
    print(f"{len(cases) - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
