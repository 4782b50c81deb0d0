#!/usr/bin/env python3
"""Adds up test cases across meson test logs and prints "N passed, N failed".

Each suite reports its own cases: cmocka's "[  PASSED  ] N test(s)." and
"[  FAILED  ] N test(s)" lines, or a plain "N passed, N failed" line. A test
that reports neither counts as one case, by its result; a skipped one (exit 77) as
skipped. A test that failed
with no failed case reported (a crash, a leak found at exit) counts one more
failure, so the total never hides a failing test.
"""
import json
import re
import sys

CMOCKA_PASSED = re.compile(r"^\[  PASSED  \] (\d+) test\(s\)\.", re.M)
CMOCKA_FAILED = re.compile(r"^\[  FAILED  \] (\d+) test\(s\), listed below", re.M)
PLAIN = re.compile(r"^(?:\w+: )?(\d+) passed, (\d+) failed(?:, \d+ skipped)?\s*$", re.M)

passed = failed = skipped = 0
for path in sys.argv[1:]:
    try:
        lines = open(path).read().splitlines()
    except OSError:
        failed += 1
        print(f"missing test log {path}")
        continue
    for line in lines:
        test = json.loads(line)
        out = test.get("stdout", "") or ""
        err = test.get("stderr", "") or ""  # cmocka prints its totals there
        cmocka_out = out + "\n" + err
        if test.get("result") == "SKIP":  # exit 77: what it needs is not here (it says what)
            skipped += 1
            continue
        ok = test.get("result") == "OK"
        p = sum(int(n) for n in CMOCKA_PASSED.findall(cmocka_out))
        f = sum(int(n) for n in CMOCKA_FAILED.findall(cmocka_out))
        plain = PLAIN.findall(out)
        if plain:
            p += int(plain[-1][0])
            f += int(plain[-1][1])
        if p == 0 and f == 0:
            p, f = (1, 0) if ok else (0, 1)
        elif not ok and f == 0:
            f = 1
        passed += p
        failed += f
print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
sys.exit(1 if failed else 0)
