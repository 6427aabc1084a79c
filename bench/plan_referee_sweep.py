#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Check cdnopt's planners and scorer against the referee on any set of workloads.

For every workload folder (baseline.csv, releases.csv, and history.csv for --history
runs) the script plans with each mode, then scores every schedule and the naive one
with `cdnopt score` and with the referee's own functions. It reports:

- a schedule that breaks a rule, or a plan that fails to run;
- peak, p95, naive peak and p95 or the lower bound of `plan` or `score` that differ
  from the referee's by more than 1e-6 relative;
- a planned peak above the naive one (p95 for the p95 objective);
- exact above greedy on its own objective;
- `score` exiting 0 on a schedule that breaks a rule, or 3 on one that keeps them.

A case is DIR, DIR:RULES or DIR:RULES:RELEASES (RULES may be empty). With a rules
file the referee's fixed ratios, blackout and delay window no longer apply, so the
script checks those rules itself from the file. The referee still computes the
figures, with the file's decay and duration. Plans from history are scored on the
baseline but not compared with `plan`'s figures, which are on the forecast.

Usage:
    bench/plan_referee_sweep.py [--cdnopt BIN] [--referee FILE] [--out DIR]
                                [--modes LIST] [--exact-limit DURATION] CASE...

Example, on the shared workloads and one with a rules file:
    bench/plan_referee_sweep.py ../shared/workloads/day \\
        ../shared/workloads/day:tests/data/release/rules.txt

Exit status: 0 when every check passed, 1 when one failed, 2 on a usage error.
"""
import argparse
import csv
import datetime as dt
import importlib.util
import json
import os
import subprocess
import sys

TOLERANCE = 1e-6
MODES = "greedy-peak,greedy-p95,exact-peak,exact-p95,greedy-fine-peak,history"


def load_referee(path):
    spec = importlib.util.spec_from_file_location("referee", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parse_hours(text):
    """Convert a rules-file duration such as 23h or 82800 (seconds) to hours."""
    if text.endswith("d"):
        return int(text[:-1]) * 24
    if text.endswith("h"):
        return int(text[:-1])
    if text.endswith("m"):
        return int(text[:-1]) / 60
    return int(text.rstrip("s")) / 3600


def minute_of_day(text):
    return int(text[:2]) * 60 + int(text[3:5])


def read_rules(path):
    """Read the rules of docs/rules.md from path, or return the defaults when path is None."""
    rules = {"max_delay_h": 23, "ratios": [0.1, 0.3, 0.5, 1.0], "blackout": (0, 299),
             "blackout_min_size_mb": 500.0, "decay": 0.8, "duration_h": 15}
    if path is None:
        return rules
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            key, value = (part.strip() for part in line.split("=", 1))
            if key == "max_delay":
                rules["max_delay_h"] = parse_hours(value)
            elif key == "batch_ratios":
                rules["ratios"] = [float(ratio) for ratio in value.split(",")]
            elif key == "blackout":
                first, last = value.split("-") if value != "none" else (None, None)
                rules["blackout"] = None if first is None else (minute_of_day(first), minute_of_day(last))
            elif key == "blackout_min_size_mb":
                rules["blackout_min_size_mb"] = float(value)
            elif key == "decay":
                rules["decay"] = float(value)
            elif key == "duration":
                rules["duration_h"] = int(parse_hours(value))
    return rules


def in_blackout(minute, window):
    first, last = window
    return first <= minute <= last if first <= last else minute >= first or minute <= last


def rule_violations(referee, releases, explicit_latest, schedule, duplicates, origin, step, rules):
    """List the broken rules under a rules file, in the referee's wording where it has one."""
    violations = [f"{rid}: scheduled more than once" for rid in duplicates]
    violations += [f"{rid}: not scheduled" for rid in releases.keys() - schedule.keys()]
    violations += [f"{rid}: not in the releases file" for rid in schedule.keys() - releases.keys()]
    for rid, (start, ratio) in schedule.items():
        release = releases.get(rid)
        if release is None:
            continue
        latest = release["latest_start_at"] if explicit_latest[rid] else \
            release["planned_at"] + dt.timedelta(hours=rules["max_delay_h"])
        if (start - origin).total_seconds() % step:
            violations.append(f"{rid}: start {start} is off the {step} s grid")
        if not release["planned_at"] <= start <= latest:
            violations.append(f"{rid}: start {start} outside [{release['planned_at']}, {latest}]")
        if not any(abs(ratio - allowed) < 1e-9 for allowed in rules["ratios"]):
            violations.append(f"{rid}: batch_ratio {ratio} not in {rules['ratios']}")
            continue
        if rules["blackout"] is None or release["size_mb"] <= rules["blackout_min_size_mb"]:
            continue
        for index in range(len(referee.batches(1.0, ratio))):
            begin = start + dt.timedelta(hours=index)
            if in_blackout(begin.hour * 60 + begin.minute, rules["blackout"]):
                violations.append(f"{rid}: batch {index} begins at {begin}, inside the blackout")
                break
    return violations


def differs(mine, theirs):
    return abs(mine - theirs) > TOLERANCE * max(abs(theirs), 1e-12)


class Case:
    """One workload with its rules, and the referee's view of it."""

    def __init__(self, referee, text):
        parts = text.split(":")
        self.folder = parts[0]
        self.rules_path = parts[1] if len(parts) > 1 and parts[1] else None
        self.releases_path = parts[2] if len(parts) > 2 else os.path.join(self.folder, "releases.csv")
        self.baseline_path = os.path.join(self.folder, "baseline.csv")
        self.name = "+".join(os.path.basename(p.rstrip("/")) for p in
                             (self.folder, self.rules_path, parts[2] if len(parts) > 2 else None) if p)
        self.referee = referee
        self.rules = read_rules(self.rules_path)
        self.origin, self.step, self.baseline = referee.read_baseline(self.baseline_path)
        self.releases = referee.read_releases(self.releases_path)
        with open(self.releases_path, newline="", encoding="utf-8") as handle:
            self.explicit_latest = {row["id"]: bool((row.get("latest_start_at") or "").strip())
                                    for row in csv.DictReader(handle)}
        self.naive = self.figures(referee.naive_schedule(self.releases))
        total_bits = sum(r["size_mb"] * 8e6 * r["users"] for r in self.releases.values())
        self.lower_bound = max(max(self.baseline), (sum(self.baseline) * self.step + total_bits / 1e9)
                               / (self.step * len(self.baseline)))

    def figures(self, schedule):
        traffic, spill = self.referee.total_traffic(self.origin, self.step, self.baseline, self.releases,
                                                    schedule, self.rules["decay"], self.rules["duration_h"])
        return self.referee.figures(traffic, spill)

    def judge(self, schedule_path):
        """Return the schedule's broken rules and, when it can be evaluated, its figures."""
        schedule, duplicates = self.referee.read_schedule(schedule_path)
        if self.rules_path is None:
            violations = self.referee.check_rules(self.releases, schedule, duplicates, self.origin, self.step)
        else:
            violations = rule_violations(self.referee, self.releases, self.explicit_latest, schedule,
                                         duplicates, self.origin, self.step, self.rules)
        if schedule.keys() != self.releases.keys() or any(
                not any(abs(ratio - allowed) < 1e-9 for allowed in self.rules["ratios"])
                for _, ratio in schedule.values()):
            return violations, None
        figures = self.figures(schedule)
        if figures["spill_gbit"] > 0:
            violations.append(f"{figures['spill_gbit']:.1f} Gbit of release traffic falls after the end of the baseline")
        return violations, figures


def plan_command(arguments, case, mode, out):
    solver, _, objective = mode.rpartition("-")
    rules = ["--rules", case.rules_path] if case.rules_path else []
    if mode == "history":
        return [arguments.cdnopt, "-q", "plan", "--history", os.path.join(case.folder, "history.csv"),
                "--releases", case.releases_path, "--out", out, "--json"] + rules
    command = [arguments.cdnopt, "-q", "plan", "--baseline", case.baseline_path, "--releases",
               case.releases_path, "--out", out, "--json", "--objective", objective] + rules
    if solver == "exact":
        command += ["--solver", "exact", "--time-limit", arguments.exact_limit]
    elif solver == "greedy-fine":
        command += ["--solver", "greedy", "--start-step", f"{case.step}s"]
    else:
        command += ["--solver", "greedy"]
    return command


def check_plan(case, mode, report, figures, problems):
    """Compare plan's own figures with the referee's."""
    if mode == "history":
        return
    pairs = [("naive peak", report["naive"]["peak_gbps"], case.naive["peak_gbps"]),
             ("naive p95", report["naive"]["p95_gbps"], case.naive["p95_gbps"]),
             ("lower bound", report["lower_bound_gbps"], case.lower_bound)]
    if figures is not None:
        pairs += [("peak", report["schedule"]["peak_gbps"], figures["peak_gbps"]),
                  ("p95", report["schedule"]["p95_gbps"], figures["p95_gbps"])]
    problems += [f"plan {what} {mine!r}, referee {theirs!r}" for what, mine, theirs in pairs if differs(mine, theirs)]


def check_score(arguments, case, schedule_path, violations, figures, problems):
    """Run cdnopt score on the schedule and compare it with the referee."""
    rules = ["--rules", case.rules_path] if case.rules_path else []
    done = subprocess.run([arguments.cdnopt, "-q", "score", "--baseline", case.baseline_path, "--releases",
                           case.releases_path, "--schedule", schedule_path, "--json"] + rules,
                          capture_output=True, text=True, check=False)
    if done.returncode not in (0, 3):
        problems.append(f"score exited {done.returncode}: {done.stderr.strip()[-200:]}")
        return
    if done.returncode != (3 if violations else 0):
        problems.append(f"score exited {done.returncode} but the referee found {len(violations)} broken rules")
    report = json.loads(done.stdout)
    pairs = [("naive peak", report["naive"]["peak_gbps"], case.naive["peak_gbps"]),
             ("naive p95", report["naive"]["p95_gbps"], case.naive["p95_gbps"]),
             ("lower bound", report["lower_bound_gbps"], case.lower_bound)]
    if figures is not None and "schedule" in report:
        pairs += [("peak", report["schedule"]["peak_gbps"], figures["peak_gbps"]),
                  ("p95", report["schedule"]["p95_gbps"], figures["p95_gbps"])]
    problems += [f"score {what} {mine!r}, referee {theirs!r}" for what, mine, theirs in pairs if differs(mine, theirs)]


def run_case(arguments, case):
    """Plan and score every mode of one case, and return the count of failed checks."""
    naive_path = os.path.join(arguments.out, f"{case.name}-naive.csv")
    # The csv module quotes ids that contain a comma or a quote, as RFC 4180 does.
    with open(naive_path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["id", "start_at", "batch_ratio"])
        writer.writerows([rid, f"{r['planned_at']:%Y-%m-%d %H:%M:%S}", "1.0"] for rid, r in case.releases.items())
    results = {}
    failed = 0
    for mode in ["naive"] + arguments.modes.split(","):
        problems = []
        schedule_path = naive_path if mode == "naive" else os.path.join(arguments.out, f"{case.name}-{mode}.csv")
        if mode != "naive":
            done = subprocess.run(plan_command(arguments, case, mode, schedule_path), capture_output=True,
                                  text=True, check=False)
            try:
                report = json.loads(done.stdout) if done.returncode == 0 else None
            except ValueError:
                report = None
                problems.append(f"plan --json wrote no JSON: {done.stdout[:200]!r}")
            if done.returncode != 0:
                message = (done.stderr.strip().splitlines() or [""])[-1]
                print(f"{case.name} {mode}: plan exited {done.returncode}: {message}")
                # Exit status 2 with a message is a rejected input, which the caller judges.
                failed += done.returncode != 2
                continue
        violations, figures = case.judge(schedule_path)
        if mode != "naive" and violations:
            problems.append(f"{len(violations)} broken rules, first {violations[0]}")
        if mode != "naive" and report is not None:
            check_plan(case, mode, report, figures, problems)
        check_score(arguments, case, schedule_path, violations, figures, problems)
        objective = "p95" if mode.endswith("p95") else "peak"
        if figures is not None and mode not in ("naive", "history") and \
                figures[f"{objective}_gbps"] > case.naive[f"{objective}_gbps"] * (1 + TOLERANCE):
            problems.append(f"{objective} {figures[f'{objective}_gbps']:.6f} above naive {case.naive[f'{objective}_gbps']:.6f}")
        results[mode] = figures
        summary = f"peak {figures['peak_gbps']:.3f} p95 {figures['p95_gbps']:.3f}" if figures else "not evaluated"
        print(f"{case.name} {mode}: {summary}" + "".join(f"\n    FAIL {problem}" for problem in problems))
        failed += len(problems)
    for objective in ("peak", "p95"):
        greedy, exact = results.get(f"greedy-{objective}"), results.get(f"exact-{objective}")
        if greedy and exact and exact[f"{objective}_gbps"] > greedy[f"{objective}_gbps"] * (1 + TOLERANCE):
            print(f"{case.name}: FAIL exact {objective} {exact[f'{objective}_gbps']:.6f} above greedy "
                  f"{greedy[f'{objective}_gbps']:.6f}")
            failed += 1
    return failed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="+", metavar="CASE", help="DIR[:RULES[:RELEASES]]")
    parser.add_argument("--cdnopt", default="build/bin/cdnopt")
    parser.add_argument("--referee", default="../shared/tools/score_schedule.py")
    parser.add_argument("--out", default="/tmp/cdnopt-referee-sweep", help="folder for the schedules")
    parser.add_argument("--modes", default=MODES,
                        help=f"comma-separated modes (default {MODES}); greedy-fine tries every grid step")
    parser.add_argument("--exact-limit", default="10s", help="--time-limit of the exact planner")
    arguments = parser.parse_args()
    os.makedirs(arguments.out, exist_ok=True)
    referee = load_referee(arguments.referee)
    failed = sum(run_case(arguments, Case(referee, text)) for text in arguments.cases)
    print(f"{failed} failed checks")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
