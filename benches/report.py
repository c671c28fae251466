#!/usr/bin/env python3
"""Write BENCHMARKS.md from the criterion results under target/criterion.

Reads every `new/benchmark.json` (the benchmark's full name) and `new/estimates.json` (its
median and the 95% confidence interval of the median) that `cargo bench` left, and prints one
Markdown row per benchmark, sorted by name, after a header naming the machine and the date.
With --compare FILE it appends the tables that `benches/compare/run.sh --markdown FILE` wrote.
With --keep-criterion FILE it copies the criterion section of an earlier report instead of
reading target/criterion, for a run that refreshes only the comparison. The output then states
that the section was carried over and lists the benchmarks given with --stale as predating a
code change. Standard library only.

Usage: python3 benches/report.py [--criterion DIR | --keep-criterion OLD.md [--stale NAME ...]]
       [--compare FILE] > BENCHMARKS.md
"""

import argparse
import json
import os
import sys
from datetime import datetime, timezone


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


def machine():
    model = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores, {model}"


def newest(found_in):
    """Return the UTC date of the newest estimates file, the day the figures were taken."""
    stamps = [os.path.getmtime(os.path.join(d, "estimates.json")) for d in found_in]
    return datetime.fromtimestamp(max(stamps), timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def print_criterion(root, found):
    folders = [f for f, _, files in os.walk(root)
               if os.path.basename(f) == "new" and "estimates.json" in files]
    print(f"- Machine: {machine()}")
    print(f"- Date: {newest(folders)}")
    print("- Command: `cargo bench -p kinetype` (config in benches/common/mod.rs: 1 s warm-up, "
          "3 s measurement, 50 samples unless a group sets fewer)")
    print("- Names are `area/operation/size`; `n200_d31` is 200 training vectors of 31 features.\n")
    print("| benchmark | median | 95% CI of the median | throughput |")
    print("|---|---|---|---|")
    for name, point, low, high, rate in found:
        print(f"| `{name}` | {human(point)} | {human(low)} – {human(high)} | {rate} |")


def kept_criterion(path):
    """Return the body of the criterion section of an earlier report, without its heading."""
    with open(path) as f:
        text = f.read()
    start = text.find("## Criterion benchmarks\n")
    if start < 0:
        sys.exit(f"{path} has no `## Criterion benchmarks` section")
    body = text[start + len("## Criterion benchmarks\n"):]
    end = body.find("\n## ")
    body = body if end < 0 else body[:end]
    # A report that itself kept an earlier section starts with the carried-over note: drop it.
    table = body.find("- Machine:")
    return (body if table < 0 else body[table:]).strip()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--criterion", default=os.path.join("target", "criterion"))
    parser.add_argument("--compare", help="Markdown written by benches/compare/run.sh")
    parser.add_argument("--keep-criterion", metavar="OLD_MD",
                        help="copy the criterion section of this earlier report")
    parser.add_argument("--stale", nargs="*", default=[], metavar="NAME",
                        help="with --keep-criterion: benchmark names that predate a code change")
    args = parser.parse_args()

    if args.keep_criterion:
        kept = kept_criterion(args.keep_criterion)
    else:
        found = sorted(rows(args.criterion))
        if not found:
            sys.exit(f"no criterion results under {args.criterion}; run `cargo bench -p kinetype` "
                     "first, or pass --keep-criterion")

    print("# Benchmarks\n")
    command = "python3 benches/report.py"
    if args.keep_criterion:
        command += f" --keep-criterion {os.path.basename(args.keep_criterion)}"
        command += "".join(f" --stale {n}" if i == 0 else f" {n}" for i, n in enumerate(args.stale))
    if args.compare:
        command += " --compare compare.md"
    print(f"Generated by `{command} > BENCHMARKS.md`; do not edit by hand.\n")
    print("The machine is shared with other jobs, so every figure here is noisy: medians can "
          "move by a factor of two between runs, and the ratios below are more stable than the "
          "absolute times.\n")
    print("## Criterion benchmarks\n")
    if args.keep_criterion:
        print("Carried over unchanged from an earlier run (its date is below); only the "
              "comparison further down was rerun.")
        if args.stale:
            names = ", ".join(f"`{n}`" for n in args.stale)
            print(f"The code behind these rows changed after that run, so they are stale: {names}.")
        print()
        print(kept)
    else:
        print_criterion(args.criterion, found)
    if args.compare:
        print("\n## kinetype against numpy, pandas and scikit-learn\n")
        print("Command: `benches/compare/run.sh --markdown compare.md` (with "
              "KINETYPE_DATA_DIR set). Protocols and the Python code are in benches/compare/.\n")
        with open(args.compare) as f:
            print(f.read().rstrip())


if __name__ == "__main__":
    main()
