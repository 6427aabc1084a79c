#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Compare plans made from history with plans made on the real traffic, over many stretches.

Each stretch is cut from a 5-minute series with the referee's workload tool
(tools/make_workload.py): 200 releases on one day of a 3-day slice ("3d") or 2,000 on
seven days of a 9-day slice ("9d"), energy ratio 1.0. For each stretch the script runs
greedy on the real baseline (the reference plan) and `cdnopt plan --history` with the
extra arguments given after `--`, scores both schedules with the referee, and prints the
ratio of the two referee peaks. The summary is the geometric mean of that ratio, minus
one, over all stretches and per series.

Usage:
    bench/plan_history_stretches.py [--cdnopt BIN] [--shared DIR] [--work DIR]
                                    [--set first|later|fresh|all|every] [--jobs N]
                                    [-- PLAN ARGS...]

Example, the default against the former one without residual scenarios:
    bench/plan_history_stretches.py
    bench/plan_history_stretches.py -- --scenario-residual-days 0

The stretches are cut once into --work and reused. The reference plans are cached
there too, keyed by the binary's modification time.
"""
import argparse
import concurrent.futures
import json
import math
import os
import subprocess
import sys

# Rows of (name, series, first day, slice kind, seed, set). "day" and "week" are cut with
# the settings of the shared day and week workloads. The others are stretches of the UK
# and EU 5-minute series. Set "first" is the one earlier defaults were chosen on,
# "later" contains the stretches cut afterwards to check those choices, and "fresh" 12
# more cut to check later trials. Sets "all" (first and later, the 32 that
# docs/benchmarks.md reports) and "every" (all 44) combine them.
STRETCHES = [
    ("day", "uk", "2004-12-14", "3d", 1, "first"),
    ("week", "uk", "2004-12-06", "9d", 2, "first"),
    ("s11", "uk", "2004-12-01", "3d", 11, "first"),
    ("s12", "uk", "2004-12-20", "3d", 12, "first"),
    ("s13", "uk", "2005-01-03", "3d", 13, "first"),
    ("s14", "uk", "2004-11-29", "9d", 14, "first"),
    ("s15", "uk", "2004-12-08", "3d", 15, "first"),
    ("s16", "uk", "2004-12-27", "9d", 16, "first"),
    ("s17", "uk", "2004-12-13", "3d", 17, "first"),
    ("s18", "uk", "2004-12-23", "3d", 18, "first"),
    ("s19", "uk", "2004-12-17", "9d", 19, "first"),
    ("s21", "eu", "2005-06-27", "3d", 21, "first"),
    ("s22", "eu", "2005-07-12", "3d", 22, "first"),
    ("s23", "eu", "2005-07-04", "9d", 23, "first"),
    ("s24", "eu", "2005-07-18", "9d", 24, "first"),
    ("s25", "eu", "2005-06-21", "3d", 25, "first"),
    ("s26", "eu", "2005-07-19", "3d", 26, "first"),
    ("s27", "eu", "2005-07-06", "3d", 27, "first"),
    ("s28", "eu", "2005-07-08", "9d", 28, "first"),
    ("s29", "eu", "2005-06-14", "3d", 29, "first"),
    ("s31", "uk", "2004-12-04", "3d", 31, "later"),
    ("s32", "uk", "2004-12-11", "3d", 32, "later"),
    ("s33", "uk", "2004-12-16", "3d", 33, "later"),
    ("s34", "uk", "2004-12-02", "9d", 34, "later"),
    ("s35", "eu", "2005-06-23", "3d", 35, "later"),
    ("s36", "eu", "2005-07-01", "3d", 36, "later"),
    ("s37", "eu", "2005-07-15", "3d", 37, "later"),
    ("s38", "eu", "2005-06-17", "9d", 38, "later"),
    ("s39", "uk", "2004-12-05", "9d", 39, "later"),
    ("s40", "uk", "2004-12-09", "9d", 40, "later"),
    ("s41", "eu", "2005-06-24", "9d", 41, "later"),
    ("s42", "eu", "2005-07-10", "9d", 42, "later"),
    ("s51", "uk", "2004-11-30", "3d", 51, "fresh"),
    ("s52", "uk", "2004-12-07", "3d", 52, "fresh"),
    ("s53", "uk", "2004-12-22", "3d", 53, "fresh"),
    ("s54", "uk", "2004-12-30", "3d", 54, "fresh"),
    ("s55", "uk", "2004-12-12", "9d", 55, "fresh"),
    ("s56", "uk", "2004-12-21", "9d", 56, "fresh"),
    ("s57", "eu", "2005-06-15", "3d", 57, "fresh"),
    ("s58", "eu", "2005-06-30", "3d", 58, "fresh"),
    ("s59", "eu", "2005-07-13", "3d", 59, "fresh"),
    ("s60", "eu", "2005-07-22", "3d", 60, "fresh"),
    ("s61", "eu", "2005-06-19", "9d", 61, "fresh"),
    ("s62", "eu", "2005-07-14", "9d", 62, "fresh"),
]

SERIES = {
    "uk": "data/isp-uk-ukerna/uk_ukerna_5min.csv",
    "eu": "data/isp-eu-cortez/eu_isp_5min_bits.csv",
}

SLICES = {
    "3d": ["--days", "3", "--release-days", "1", "--releases", "200"],
    "9d": ["--days", "9", "--release-days", "7", "--releases", "2000"],
}


def cut(shared, work, stretch):
    """Cut a stretch into work/name unless an earlier run has cut it."""
    name, series, day, kind, seed, _ = stretch
    folder = os.path.join(work, name)
    if os.path.exists(os.path.join(folder, "releases.csv")):
        return folder
    subprocess.run(["python3", os.path.join(shared, "tools", "make_workload.py"),
                    os.path.join(shared, SERIES[series]), folder, "--start", f"{day} 00:00:00",
                    *SLICES[kind], "--energy-ratio", "1.0", "--seed", str(seed)],
                   check=True, capture_output=True)
    return folder


def referee_peak(shared, folder, schedule):
    """Return the referee's peak of schedule on the real baseline; stop on a broken rule."""
    done = subprocess.run(["python3", os.path.join(shared, "tools", "score_schedule.py"), "--json",
                           os.path.join(folder, "baseline.csv"),
                           os.path.join(folder, "releases.csv"), schedule],
                          capture_output=True, text=True)
    report = json.loads(done.stdout)
    if report.get("violations"):
        raise SystemExit(f"{schedule}: the referee lists {report['violations'][:3]}")
    return report["schedule"]["peak_gbps"]


def reference_peak(args, folder):
    """Return the referee's peak of greedy planned on the real baseline, cached per binary."""
    stamp = int(os.path.getmtime(args.cdnopt))
    cache = os.path.join(folder, f"reference-{stamp}.peak")
    if os.path.exists(cache):
        with open(cache, encoding="utf-8") as handle:
            return float(handle.read())
    schedule = os.path.join(folder, "reference-schedule.csv")
    subprocess.run([args.cdnopt, "-q", "plan", "--baseline", os.path.join(folder, "baseline.csv"),
                    "--releases", os.path.join(folder, "releases.csv"), "--out", schedule],
                   check=True, capture_output=True)
    peak = referee_peak(args.shared, folder, schedule)
    with open(cache, "w", encoding="utf-8") as handle:
        handle.write(repr(peak))
    return peak


def history_peak(args, folder):
    """Return the referee's peak of `plan --history` with the extra arguments."""
    schedule = os.path.join(folder, "history-schedule.csv")
    done = subprocess.run([args.cdnopt, "-q", "plan", "--history", os.path.join(folder, "history.csv"),
                           "--releases", os.path.join(folder, "releases.csv"), "--out", schedule,
                           *args.plan_args], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"cdnopt plan --history failed on {folder}: {done.stderr.strip()}")
    return referee_peak(args.shared, folder, schedule)


def geometric_excess(ratios):
    """Return the geometric mean of the ratios, minus one, in percent."""
    return 100.0 * (math.exp(sum(math.log(r) for r in ratios) / len(ratios)) - 1.0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cdnopt", default="build/bin/cdnopt")
    parser.add_argument("--shared", default="../shared")
    parser.add_argument("--work", default="/tmp/cdnopt-plan-stretches")
    parser.add_argument("--set", choices=("first", "later", "fresh", "all", "every"),
                        default="all")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("plan_args", nargs="*", help="arguments added to plan --history")
    args = parser.parse_args()

    chosen_sets = {"all": ("first", "later"), "every": ("first", "later", "fresh")}.get(args.set,
                                                                             (args.set,))
    stretches = [s for s in STRETCHES if s[5] in chosen_sets]
    # Every run rewrites the history schedules in the work dir. Two runs at once need
    # two work dirs.
    os.makedirs(args.work, exist_ok=True)

    def run(stretch):
        folder = cut(args.shared, args.work, stretch)
        return history_peak(args, folder) / reference_peak(args, folder)

    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        ratios = list(pool.map(run, stretches))

    print("| stretch | series | first day | slice | vs the real-baseline plan |")
    print("|---|---|---|---|---|")
    for stretch, ratio in zip(stretches, ratios):
        print(f"| {stretch[0]} | {stretch[1]} | {stretch[2]} | {stretch[3]} | {100 * (ratio - 1):+.1f} % |")
    print()
    for label, keep in (("every stretch run", lambda s: True), ("uk", lambda s: s[1] == "uk"),
                        ("eu", lambda s: s[1] == "eu")):
        chosen = [r for s, r in zip(stretches, ratios) if keep(s)]
        if chosen:
            print(f"geometric mean, {label} ({len(chosen)}): {geometric_excess(chosen):+.2f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
