#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Compare DQN agents with greedy on 3-day windows of a series whose step divides one hour.

Each window is 3 days of SERIES from a midnight, rescaled to peak at 1,000 Gbit/s, with
200 pending releases from `cdnopt generate` planned on its first day. Their users are
scaled so that their traffic equals the first day's baseline traffic, as in the day
workload. Greedy and every agent plan the window, and the referee scores each schedule.
Prints one row per window (each agent's peak relative to greedy's and its violations)
and each agent's mean.

Usage: agent_windows.py CDNOPT REFEREE SERIES.csv N_WINDOWS OUT_DIR AGENT.h5...
"""
import csv
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta

RELEASES = 200


def read_series(path):
    rows = []
    with open(path, newline="") as f:
        reader = csv.reader(f)
        next(reader)
        for stamp, value in reader:
            rows.append((datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S"), float(value)))
    return rows


def pick_windows(rows, n):
    """Return n evenly spaced 3-day windows that start at midnight and have no gap."""
    step = rows[1][0] - rows[0][0]
    length = 3 * (timedelta(days=1) // step)
    starts = [i for i, (t, _) in enumerate(rows)
              if t.hour == 0 and t.minute == 0 and i + length <= len(rows)
              and rows[i + length - 1][0] - t == length * step - step]
    if not starts:
        sys.exit("no 3-day window without gaps starts at midnight in the series")
    picks = sorted({starts[round(k * (len(starts) - 1) / max(1, n - 1))] for k in range(n)})
    return [rows[i:i + length] for i in picks], step


def write_window(cdnopt, window, step, seed, folder):
    """Write baseline.csv and releases.csv of one window and return their paths."""
    os.makedirs(folder, exist_ok=True)
    top = max(v for _, v in window)
    baseline = os.path.join(folder, "baseline.csv")
    with open(baseline, "w") as f:
        f.write("timestamp,gbps\n")
        for t, v in window:
            f.write(f"{t:%Y-%m-%d %H:%M:%S},{1000 * v / top:.6f}\n")
    day_gbit = sum(1000 * v / top for _, v in window[:len(window) // 3]) * step.total_seconds()

    generated = os.path.join(folder, "generated")
    day_before = window[0][0] - timedelta(days=1)
    subprocess.run([cdnopt, "generate", "--out", generated, "--days", "1", "--start",
                    f"{day_before:%Y-%m-%d %H:%M:%S}", "--pending-releases", str(RELEASES),
                    "--seed", str(seed), "-q"], check=True)
    with open(os.path.join(generated, "pending.csv"), newline="") as f:
        pending = list(csv.DictReader(f))
    release_gbit = sum(float(r["size_mb"]) * float(r["users"]) * 8e-3 for r in pending)

    releases = os.path.join(folder, "releases.csv")
    with open(releases, "w") as f:
        f.write("id,size_mb,users,planned_at\n")
        for r in pending:
            users = max(1, round(float(r["users"]) * day_gbit / release_gbit))
            f.write(f"{r['id']},{r['size_mb']},{users},{r['planned_at']}\n")
    return baseline, releases


def plan_and_score(cdnopt, referee, baseline, releases, solver, agent, schedule):
    """Plan with solver and return the referee's peak (Gbit/s) and its violation count."""
    command = [cdnopt, "plan", "--baseline", baseline, "--releases", releases, "--solver",
               solver, "--out", schedule, "-q"]
    if agent:
        command += ["--agent", agent]
    subprocess.run(command, check=True, capture_output=True,
                   env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))
    scored = subprocess.run(["python3", referee, "--json", baseline, releases, schedule],
                            check=True, capture_output=True, text=True).stdout
    result = json.loads(scored)
    return result["schedule"]["peak_gbps"], len(result["violations"])


def main():
    if len(sys.argv) < 7:
        sys.exit(__doc__)
    cdnopt, referee, series, n_windows, out_dir = sys.argv[1:6]
    agents = sys.argv[6:]
    windows, step = pick_windows(read_series(series), int(n_windows))
    gaps = {agent: [] for agent in agents}
    for k, window in enumerate(windows):
        folder = os.path.join(out_dir, f"window-{k}")
        baseline, releases = write_window(cdnopt, window, step, 100 + k, folder)
        greedy_peak, _ = plan_and_score(cdnopt, referee, baseline, releases, "greedy", None,
                                        os.path.join(folder, "greedy.csv"))
        row = [f"{window[0][0]:%Y-%m-%d} greedy {greedy_peak:.3f}"]
        for agent in agents:
            schedule = os.path.join(folder, os.path.basename(agent) + ".csv")
            peak, violations = plan_and_score(cdnopt, referee, baseline, releases, "dqn", agent,
                                              schedule)
            gaps[agent].append(peak / greedy_peak - 1)
            row.append(f"{os.path.basename(agent)} {100 * gaps[agent][-1]:+.2f} % "
                       f"violations {violations}")
        print(" | ".join(row), flush=True)
    for agent in agents:
        mean = 100 * sum(gaps[agent]) / len(gaps[agent])
        print(f"{agent}: mean {mean:+.2f} % above greedy over {len(gaps[agent])} windows")


if __name__ == "__main__":
    main()
