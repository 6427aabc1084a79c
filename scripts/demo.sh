#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The main job on the built-in data: generate a synthetic month of CDN bandwidth,
# train the residual LSTM with a small budget, forecast the next day, evaluate it
# beside the baselines, then plan the pending releases against the forecast.
set -eu
cdnopt=${1:-build/bin/cdnopt}
out=${DEMO_OUT:-demo-out}
mkdir -p "$out"

"$cdnopt" version

# A small training budget keeps the demo under two minutes on two cores: two epochs
# of 1024 windows each. Real use trains longer (the defaults: up to 20 epochs on
# every window, with early stopping).
budget="--epochs 2 --max-windows 1024 --seed 1"

echo "== generate a synthetic month of 5-minute bandwidth"
"$cdnopt" generate --out "$out" --days 30 --seed 1

echo "== train the residual LSTM and calibrate its intervals"
"$cdnopt" train --data "$out/bandwidth.csv" $budget --out "$out/model.h5"

echo "== forecast the next day: $out/forecast.csv"
"$cdnopt" forecast --model "$out/model.h5" --data "$out/bandwidth.csv" --horizon 1d \
    --samples 100 --seed 1 --out "$out/forecast.csv"
head -n 4 "$out/forecast.csv"

echo "== evaluate on the last 7 days (a model trained on the days before them)"
"$cdnopt" evaluate --data "$out/bandwidth.csv" --test-days 7 $budget --samples 50

echo "== plan the pending releases against the forecast: $out/schedule.csv"
# The pending releases are planned over the day after the series. The planner
# therefore forecasts from the end of bandwidth.csv and places them on that forecast.
"$cdnopt" plan --history "$out/bandwidth.csv" --model "$out/model.h5" \
    --releases "$out/pending.csv" --solver greedy --out "$out/schedule.csv"
