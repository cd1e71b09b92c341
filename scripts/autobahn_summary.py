#!/usr/bin/env python3
"""Autobahn|Testsuite runs for scripts/autobahn (the server) and scripts/autobahn-client.

  autobahn_summary.py --cases
      the default case list as JSON: 1-7, 9, 10, and of 12 and 13 (permessage-deflate) the
      cases of up to 16 KiB, whole and in 256-byte fragments (x.1-x.7, x.11, x.12 of each of
      their 12 groups: 108 cases), or all 216 with AUTOBAHN_DEFLATE=all. 12 and 13 send 1000
      messages per case, each waiting for its echo: all 216 take 40-60 min on a busy 2-core
      machine.
  autobahn_summary.py INDEX_JSON AGENT SECONDS SUMMARY_MD TITLE
      writes a summary table and exits 1 unless every case is OK or INFORMATIONAL, both in
      behaviour and in how the connection was closed (NON-STRICT, FAILED, UNIMPLEMENTED fail),
      except NON-STRICT for the cases in AUTOBAHN_NON_STRICT_OK (space-separated).
"""
import json
import os
import sys
from collections import Counter


def cases():
    if os.environ.get("AUTOBAHN_DEFLATE") == "all":
        deflate = ["12.*", "13.*"]
    else:
        groups = ["12.%d" % g for g in range(1, 6)] + ["13.%d" % g for g in range(1, 8)]
        deflate = ["%s.%d" % (group, case) for group in groups for case in (1, 2, 3, 4, 5, 6, 7, 11, 12)]
    return json.dumps(["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "9.*", "10.*"] + deflate)


def key(case):
    return [int(part) for part in case.split(".")]


def summarize(index_path, agent, seconds, summary_path, title):
    results = json.load(open(index_path))[agent]
    passing = {"OK", "INFORMATIONAL"}
    non_strict_ok = set(os.environ.get("AUTOBAHN_NON_STRICT_OK", "").split())
    groups = {}
    failures = []
    for case in sorted(results, key=key):
        result = results[case]
        group = case.split(".")[0]
        groups.setdefault(group, Counter())[result["behavior"]] += 1
        behavior_ok = result["behavior"] in passing or (result["behavior"] == "NON-STRICT" and case in non_strict_ok)
        if not behavior_ok or result["behaviorClose"] not in passing:
            failures.append((case, result["behavior"], result["behaviorClose"]))
    behaviors = sorted({b for counts in groups.values() for b in counts})
    lines = [
        "# " + title,
        "",
        f"{len(results)} cases in {seconds} s; failures: {len(failures)}.",
        "",
        "| group | " + " | ".join(behaviors) + " |",
        "|---|" + "---|" * len(behaviors),
    ]
    for group in sorted(groups, key=int):
        lines.append(f"| {group} | " + " | ".join(str(groups[group][b]) for b in behaviors) + " |")
    total = Counter(r["behavior"] for r in results.values())
    lines.append("| all | " + " | ".join(str(total[b]) for b in behaviors) + " |")
    closes = Counter(r["behaviorClose"] for r in results.values())
    lines += ["", "Close behaviour: " + ", ".join(f"{k} {v}" for k, v in sorted(closes.items())) + "."]
    allowed = sorted(c for c in non_strict_ok if results.get(c, {}).get("behavior") == "NON-STRICT")
    if allowed:
        lines += ["", "NON-STRICT and accepted (AUTOBAHN_NON_STRICT_OK): " + ", ".join(allowed) + "."]
    if failures:
        lines += ["", "| failing case | behaviour | close |", "|---|---|---|"]
        lines += [f"| {c} | {b} | {bc} |" for c, b, bc in failures]
    open(summary_path, "w").write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 1 if failures else 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--cases"]:
        print(cases())
    else:
        sys.exit(summarize(*sys.argv[1:6]))
