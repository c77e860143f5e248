#!/usr/bin/env python3
"""Totals every runner's report in a directory and prints the closing line.

Reads Criterion JSON reports (*.json), pytest JUnit XML (*.xml) and plain
result lines (*.txt: "<name> passed|failed|skipped [reason]"). A runner that
crashed before writing its report is listed in crashed.txt and counts as a
failure. Exit status: 0 when nothing failed.
"""
import glob
import json
import os
import sys
import xml.etree.ElementTree as ET


def main(report_dir):
    total = {"passed": 0, "failed": 0, "skipped": 0}
    lines = []

    for path in sorted(glob.glob(os.path.join(report_dir, "*.json"))):
        name = os.path.basename(path)[:-5]
        try:
            with open(path) as f:
                r = json.load(f)
            p, fl, s = r["passed"], r["failed"] + r["errored"], r["skipped"]
        except (OSError, ValueError, KeyError) as e:
            p, fl, s = 0, 1, 0
            lines.append(f"  {name}: unreadable report ({e})")
        lines.append(f"  criterion {name}: {p} passed, {fl} failed, {s} skipped")
        total["passed"] += p
        total["failed"] += fl
        total["skipped"] += s

    for path in sorted(glob.glob(os.path.join(report_dir, "*.xml"))):
        name = os.path.basename(path)[:-4]
        root = ET.parse(path).getroot()
        suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
        t = sum(int(x.get("tests", 0)) for x in suites)
        fl = sum(int(x.get("failures", 0)) + int(x.get("errors", 0)) for x in suites)
        s = sum(int(x.get("skipped", 0)) for x in suites)
        # pytest counts a test whose teardown errors twice (call + teardown)
        p = max(t - fl - s, 0)
        lines.append(f"  pytest {name}: {p} passed, {fl} failed, {s} skipped")
        for case in root.iter("testcase"):
            for tag in ("skipped",):
                for el in case.findall(tag):
                    lines.append(f"    skipped {case.get('classname')}.{case.get('name')}: "
                                 f"{el.get('message', '')}")
        total["passed"] += p
        total["failed"] += fl
        total["skipped"] += s

    for path in sorted(glob.glob(os.path.join(report_dir, "*.txt"))):
        with open(path) as f:
            for raw in f:
                parts = raw.strip().split(" ", 2)
                if len(parts) < 2 or parts[1] not in total:
                    continue
                total[parts[1]] += 1
                lines.append(f"  {parts[0]}: {parts[1]}" + (f" ({parts[2]})" if len(parts) > 2 else ""))

    print("Test summary:")
    print("\n".join(lines))
    print(f"{total['passed']} passed, {total['failed']} failed, {total['skipped']} skipped")
    return 1 if total["failed"] or total["passed"] == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
