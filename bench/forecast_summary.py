#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Summarise the JSON lines of bench/forecast_peers.sh as Markdown tables.

Usage: forecast_summary.py OUT_DIR   (reads cdnopt.jsonl, torch.jsonl, classical.jsonl)
"""
import json
import statistics
import sys
from pathlib import Path


def read_lines(path):
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def first(records, **match):
    for rec in records:
        if all(rec.get(k) == v for k, v in match.items()):
            return rec
    return None


def ratio(slow, fast):
    return "%.1fx" % (slow / fast) if slow and fast else "n/a"


def main():
    out = Path(sys.argv[1])
    cdnopt = read_lines(out / "cdnopt.jsonl")
    torch = read_lines(out / "torch.jsonl")
    classical = read_lines(out / "classical.jsonl")

    c_epochs = [r["seconds"] for r in cdnopt if r.get("bench") == "epoch"]
    c_mc = first(cdnopt, bench="mc100")
    c_one = first(cdnopt, bench="one_step")
    c_day = first(cdnopt, bench="day_ahead")
    t_train = first(torch, cmd="train")
    t_eval = first(torch, cmd="eval")
    t_bench = first(torch, cmd="bench")

    c_epoch_s = statistics.median(c_epochs) if c_epochs else None
    t_epoch_s = statistics.median(t_train["epoch_s"]) if t_train else None
    c_mc_s = c_mc["median_s"] if c_mc else None
    t_mc_s = statistics.median(t_bench["one_window_batched_s"]) if t_bench else None

    print((out / "machine.txt").read_text() if (out / "machine.txt").exists() else "")
    print("| measure | cdnopt | PyTorch peer | PyTorch / cdnopt |")
    print("|---|---|---|---|")
    print("| seconds per epoch (median) | %s | %s | %s |" % (
        "%.1f" % c_epoch_s if c_epoch_s else "n/a",
        "%.1f" % t_epoch_s if t_epoch_s else "n/a", ratio(t_epoch_s, c_epoch_s)))
    print("| 100 MC samples, one window, s (median) | %s | %s | %s |" % (
        "%.3f" % c_mc_s if c_mc_s else "n/a",
        "%.3f" % t_mc_s if t_mc_s else "n/a", ratio(t_mc_s, c_mc_s)))
    print("| one-step test MAE, dropout off | %s | %s | |" % (
        "%.2f" % c_one["mae"] if c_one else "n/a",
        "%.2f" % t_eval["mae_det"] if t_eval else "n/a"))
    print("| one-step MAE of repeating the last value | %s | %s | |" % (
        "%.2f" % c_one["mae_persistence"] if c_one else "n/a",
        "%.2f" % t_eval["mae_persistence"] if t_eval else "n/a"))
    print()
    print("| day-ahead forecaster (7 origins) | MAE | MAPE % |")
    print("|---|---|---|")
    if c_day:
        print("| cdnopt residual LSTM, dropout-off path (point forecast) | %.2f | %.2f |"
              % (c_day["mae"], c_day["mape"]))
        print("| cdnopt residual LSTM, mean of 100 MC paths | %.2f | %.2f |"
              % (c_day["mae_mc_mean"], c_day["mape_mc_mean"]))
    for rec in classical:
        label = rec.get("eval", "")
        if "day" in label or rec.get("method", "").startswith("seasonal naive"):
            print("| %s (%s) | %.2f | %.2f |" % (rec["method"], label, rec["mae"], rec["mape"]))


if __name__ == "__main__":
    main()
