#!/usr/bin/env python3
"""Print the criterion results under target/criterion as a Markdown table of medians.

Reads every `new/benchmark.json` (the benchmark's full name) and `new/estimates.json` (its
median and the 95% confidence interval of the median) that `cargo bench` left, and writes one
row per benchmark, sorted by name. Standard library only.

Usage: python3 benches/report.py [CRITERION_DIR] > table.md
"""

import json
import os
import sys


def human(nanoseconds):
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if nanoseconds >= scale:
            return f"{nanoseconds / scale:.3g} {unit}"
    return f"{nanoseconds:.3g} ns"


def throughput(info, nanoseconds):
    per_iteration = info.get("throughput") or {}
    for kind, count in per_iteration.items():
        label = {"Elements": "elements/s", "Bytes": "bytes/s"}.get(kind, kind)
        return f"{count / nanoseconds * 1e9:,.0f} {label}"
    return ""


def rows(root):
    for folder, _, files in os.walk(root):
        if os.path.basename(folder) != "new" or "estimates.json" not in files:
            continue
        with open(os.path.join(folder, "benchmark.json")) as f:
            info = json.load(f)
        with open(os.path.join(folder, "estimates.json")) as f:
            median = json.load(f)["median"]
        interval = median["confidence_interval"]
        yield (info["full_id"], median["point_estimate"], interval["lower_bound"],
               interval["upper_bound"], throughput(info, median["point_estimate"]))


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join("target", "criterion")
    found = sorted(rows(root))
    if not found:
        sys.exit(f"no criterion results under {root}; run `cargo bench -p kinetype` first")
    print("| benchmark | median | 95% CI of the median | throughput |")
    print("|---|---|---|---|")
    for name, point, low, high, rate in found:
        print(f"| `{name}` | {human(point)} | {human(low)} – {human(high)} | {rate} |")


if __name__ == "__main__":
    main()
