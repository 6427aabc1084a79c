#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Draw the learning curve of `cdnopt train-agent --curve FILE` as an SVG picture.

Two panels share the episode axis. The upper one is the mean training return (Gbit/s
of peak added by an episode's placements, a moving average over 10 rounds). The lower
one is the peak reduction of the agent without exploration on the validation day,
with optional horizontal reference lines, such as the greedy planner's reduction.

Usage: plot_agent_curve.py CURVE.csv OUT.svg [--title TEXT] [--ref LABEL=VALUE ...]
"""
import argparse
import csv
import math

WIDTH, HEIGHT = 760, 550
LEFT, RIGHT, TOP, GAP, PANEL = 80, 20, 40, 60, 190


def read_curve(path):
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise SystemExit(f"{path}: no progress rows; run train-agent with --curve first")
    episodes = [int(row["episode"]) for row in rows]
    returns = [float(row["mean_return_gbps"]) for row in rows]
    reductions = [float(row["val_peak_reduction"]) for row in rows]
    return episodes, returns, reductions


def moving_average(values, window):
    out = []
    for index in range(len(values)):
        chunk = values[max(0, index - window + 1):index + 1]
        out.append(sum(chunk) / len(chunk))
    return out


def panel(parts, top, xs, ys, x_max, label, refs):
    finite = [y for y in ys if math.isfinite(y)] + [value for _, value in refs]
    y_min, y_max = min(finite), max(finite)
    if y_max - y_min < 1e-9:
        y_max = y_min + 1.0
    pad = 0.05 * (y_max - y_min)
    y_min, y_max = y_min - pad, y_max + pad
    plot_w = WIDTH - LEFT - RIGHT

    def sx(x):
        return LEFT + plot_w * x / x_max

    def sy(y):
        return top + PANEL * (1 - (y - y_min) / (y_max - y_min))

    parts.append(f'<rect x="{LEFT}" y="{top}" width="{plot_w}" height="{PANEL}" fill="none" stroke="#888"/>')
    for tick in range(5):
        value = y_min + (y_max - y_min) * tick / 4
        parts.append(f'<text x="{LEFT - 6}" y="{sy(value) + 4:.1f}" text-anchor="end" font-size="11">{value:.3g}</text>')
    parts.append(f'<text x="{LEFT}" y="{top - 8}" font-size="13">{label}</text>')
    points = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in zip(xs, ys) if math.isfinite(y))
    parts.append(f'<polyline points="{points}" fill="none" stroke="#1f77b4" stroke-width="1.5"/>')
    for name, value in refs:
        parts.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{sy(value):.1f}" y2="{sy(value):.1f}" stroke="#d62728" stroke-dasharray="5,4"/>')
        parts.append(f'<text x="{LEFT + plot_w - 4}" y="{sy(value) - 4:.1f}" text-anchor="end" font-size="11" fill="#d62728">{name}</text>')


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("curve")
    parser.add_argument("out")
    parser.add_argument("--title", default="cdnopt train-agent learning curve")
    parser.add_argument("--ref", action="append", default=[], help="LABEL=VALUE line on the reduction panel")
    arguments = parser.parse_args()

    episodes, returns, reductions = read_curve(arguments.curve)
    refs = []
    for item in arguments.ref:
        name, _, value = item.partition("=")
        refs.append((name, float(value)))
    x_max = max(episodes)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif">',
             f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
             f'<text x="{WIDTH / 2}" y="20" text-anchor="middle" font-size="15">{arguments.title}</text>']
    panel(parts, TOP + 10, episodes, moving_average(returns, 10), x_max,
          "mean training return, Gbit/s (moving average of 10 rounds)", [])
    panel(parts, TOP + 10 + PANEL + GAP, episodes, reductions, x_max,
          "peak reduction on the validation day (agent without exploration)", refs)
    bottom = TOP + 10 + 2 * PANEL + GAP
    for tick in range(6):
        value = x_max * tick / 5
        x = LEFT + (WIDTH - LEFT - RIGHT) * tick / 5
        parts.append(f'<text x="{x:.1f}" y="{bottom + 16}" text-anchor="middle" font-size="11">{value:.0f}</text>')
    parts.append(f'<text x="{WIDTH / 2}" y="{bottom + 34}" text-anchor="middle" font-size="12">training episodes</text>')
    parts.append("</svg>")
    with open(arguments.out, "w", encoding="utf-8") as handle:
        handle.write("\n".join(parts) + "\n")


if __name__ == "__main__":
    main()
