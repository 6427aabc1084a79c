#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Scaling of cdnopt under mpirun: training throughput (windows/s) and forecasting
# throughput (series/s) at 1, 2 and 4 ranks, plus the time of one gradient sum.
#
#     bench/dist_scaling.sh BUILD_DIR [WORK_DIR]
#
# BUILD_DIR must contain bin/cdnopt and bin/bench_dist (cmake --build BUILD_DIR
# --target cdnopt bench_dist). Prints a Markdown table, then each rank's time waiting
# in the gradient sums. Pass a fresh WORK_DIR after changing the data settings. Each rank runs one BLAS thread,
# except the row "1 (2 threads)", which lets one process use both cores.
set -euo pipefail

build=$(cd "$1" && pwd)
work=${2:-$(mktemp -d "${TMPDIR:-/tmp}/cdnopt-scaling-XXXXXX")}
cdnopt=$build/bin/cdnopt
mkdir -p "$work"
cd "$work"

epochs=4
# NICE="" runs at normal priority. Under nice, on a machine busy with other jobs, the
# runs get only the idle cycles, whatever their number of ranks.
nice=${NICE-nice}
n_series=48
mpi=(mpirun --oversubscribe --allow-run-as-root -x OPENBLAS_NUM_THREADS)

# Training data: 180 days of hourly traffic (about 3,900 windows an epoch). Forecast data: n_series regions of 14 days.
if [ ! -f train.csv ]; then
    "$cdnopt" -q generate --out gen-train --days 180 --step 1h --seed 1
    cp gen-train/bandwidth.csv train.csv
    mkdir -p series
    for i in $(seq 1 "$n_series"); do
        "$cdnopt" -q generate --out "gen-$i" --days 14 --step 1h --seed "$((100 + i))"
        cp "gen-$i/bandwidth.csv" "series/region-$(printf %03d "$i").csv"
    done
fi

train_flags=(train --data train.csv --epochs "$epochs" --patience "$epochs" --units 64
             --batch 64 --seed 1)
forecast_flags=(forecast --series-dir series --samples 200 --horizon 1d --seed 1)

# Mean windows/s over the epochs after the first: windows of those epochs over the
# time between the log stamps (ms resolution) of the first and the last epoch line.
windows_per_s() {
    awk '/ epoch=/ && !/ rank=[1-9]/ { split($1, dt, "T"); split(dt[2], hms, ":"); sub("Z", "", hms[3]);
             t = hms[1] * 3600 + hms[2] * 60 + hms[3];
             for (i = 1; i <= NF; i++) { split($i, kv, "=");
                 if (kv[1] == "epoch") e = kv[2]; if (kv[1] == "windows") w = kv[2] }
             if (e == 1) t1 = t; else { W += w; last = t } }
         END { if (last > t1) printf "%.0f", W / (last - t1); else print "n/a" }' "$1"
}

series_per_s() {
    awk -v n="$n_series" '/wrote file=/ { for (i = 1; i <= NF; i++) { split($i, kv, "=");
             if (kv[1] == "seconds") s = kv[2] } }
         END { if (s > 0) printf "%.1f", n / s; else print "n/a" }' "$1"
}

last_loss() {
    grep -v " rank=[1-9]" "$1" | grep -o "epoch=$epochs loss=[0-9.]*" | sed "s/.*loss=//"
}

run_case() {
    local label=$1 threads=$2
    shift 2
    export OPENBLAS_NUM_THREADS=$threads
    $nice "$@" "$cdnopt" -v "${train_flags[@]}" --out "model-$label.h5" 2> "train-$label.log"
    $nice "$@" "$cdnopt" "${forecast_flags[@]}" --model model-1.h5 --out "fc-$label.csv" \
        2> "forecast-$label.log"
    printf '| %s | %s | %s | %s |\n' "$label" "$(windows_per_s "train-$label.log")" \
        "$(series_per_s "forecast-$label.log")" "$(last_loss "train-$label.log")"
}

echo "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| ranks | training windows/s | forecast series/s | loss after epoch $epochs |"
echo "|---|---|---|---|"
run_case 1 1
run_case "1 (2 threads)" 2
run_case "1 (mpirun)" 1 "${mpi[@]}" -np 1
run_case 2 1 "${mpi[@]}" -np 2
run_case 4 1 "${mpi[@]}" -np 4

# The sharded forecasts must be the same file whatever the number of ranks.
for label in "1 (mpirun)" 2 4; do
    cmp -s fc-1.csv "fc-$label.csv" || echo "WARNING: fc-$label.csv differs from fc-1.csv" >&2
done

# Seconds each rank spent in the gradient sums (the allreduce and the wait for the
# slowest rank), against the whole training run.
for label in 2 4; do
    echo "ranks=$label $(grep -o 'rank=[0-9]* gradient_sums=.*' "train-$label.log" | tr '\n' ' ')"
done

# Parameter count of the model, from the shapes of its weight datasets.
params=$(h5ls -r model-1.h5 | awk '/^\/weights\/.*Dataset/ { gsub(/[{},]/, " "); n = 1;
         for (i = 3; i <= NF; i++) if ($i ~ /^[0-9]+$/) n *= $i; total += n }
         END { print total }')
echo
echo "parameters=$params bytes_per_sum=$((params * 4))"
export OPENBLAS_NUM_THREADS=1
for np in 2 4; do
    "${mpi[@]}" -np "$np" "$build/bin/bench_dist" "$params" 2000
done
