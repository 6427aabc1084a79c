#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Time cdnopt's residual LSTM beside the PyTorch peer, and compare its day-ahead error
# with R forecast's stlf and tbats and with statsmodels, on one series and one split.
#
#   bench/forecast_peers.sh [BUILD_DIR] [DATA.csv]
#
# BUILD_DIR is a release build of cdnopt (default: build). DATA defaults to the UK
# academic backbone series in ../shared/data. The first 28 days train and the rest
# is the test span, with the peers' settings: univariate, window 288, batch 64,
# 5 epochs. Needs python3-torch, python3-statsmodels, r-cran-forecast and
# r-cran-jsonlite. Results go to $BENCH_OUT (default /tmp/cdnopt-bench-forecast) as
# JSON lines, and a Markdown summary is printed at the end.
#
# Every job runs under nice with 2 BLAS threads. A full run takes an estimated 20-40
# minutes on two idle cores, mostly in the PyTorch peer and tbats.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
shared=$(cd "${SHARED_DIR:-$root/../shared}" && pwd)
data=${2:-$shared/data/isp-uk-ukerna/uk_ukerna_5min.csv}
peers=$shared/peers
out=${BENCH_OUT:-/tmp/cdnopt-bench-forecast}
train_days=28
epochs=5

export OPENBLAS_NUM_THREADS=2 OMP_NUM_THREADS=2
mkdir -p "$out"
rm -f "$out"/*.jsonl
data=$(cd "$(dirname "$data")" && pwd)/$(basename "$data")

# The machine, recorded beside the figures.
{
    printf 'date: %s\n' "$(date -u +%Y-%m-%dT%H:%MZ)"
    printf 'cpu: %s\n' "$(lscpu | sed -n 's/^Model name: *//p')"
    printf 'cores: %s\n' "$(nproc)"
    printf 'data: %s\n' "$data"
} > "$out/machine.txt"
cat "$out/machine.txt"

# cdnopt's side is a small program linked against the build's static libraries.
hdf5_cflags=$(pkg-config --cflags hdf5 2>/dev/null || echo -I/usr/include/hdf5/serial)
hdf5_libs=$(pkg-config --libs hdf5 2>/dev/null ||
            echo -L/usr/lib/x86_64-linux-gnu/hdf5/serial -lhdf5)
cc -O2 -std=c17 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -I"$root/include" \
    "$root/bench/bench_forecast.c" -o "$out/bench_forecast" \
    "$build/src/forecast/libcdnopt_forecast.a" "$build/src/series/libcdnopt_series.a" \
    "$build/src/nn/libcdnopt_nn.a" "$build/src/core/libcdnopt_core.a" \
    $(pkg-config --libs openblas) $hdf5_cflags $hdf5_libs -lm -lpthread

echo "== cdnopt: train $epochs epochs, MC timing, one-step and day-ahead errors"
nice "$out/bench_forecast" "$data" $train_days $epochs | tee "$out/cdnopt.jsonl"

echo "== PyTorch peer"
torch_args="--data $data --train-days $train_days --model $out/peer.pt --log $out/torch.jsonl"
nice /usr/bin/python3 "$peers/torch_residual_lstm.py" train $torch_args --epochs $epochs
# Two MC passes are enough here: only the one-step MAE with dropout off (mae_det) is
# compared, and 100 passes over every test window would take most of an hour.
nice /usr/bin/python3 "$peers/torch_residual_lstm.py" eval $torch_args --samples 2
nice /usr/bin/python3 "$peers/torch_residual_lstm.py" bench $torch_args

echo "== classical peers (statsmodels, R forecast)"
(cd "$out" && nice /usr/bin/python3 "$peers/classical.py" --data "$data" \
    --train-days $train_days --reps 1 --log "$out/classical.jsonl")
(cd "$out" && nice Rscript "$peers/classical.R" "$data" $train_days stlf,tbats 1 &&
    cat classical_results.jsonl >> "$out/classical.jsonl")

/usr/bin/python3 "$root/bench/forecast_summary.py" "$out"
