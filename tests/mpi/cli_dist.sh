#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# End-to-end checks of cdnopt under mpiexec: sharded forecasts and evaluations equal
# the plain single-process run and each series run alone, and a rank that dies in
# training fails the job, after which --resume finishes from the checkpoint.
#
# usage: cli_dist.sh CDNOPT MPIEXEC NP CASE
#   CASE is forecast_sharded, evaluate_sharded, kill_and_resume, train_agent_same,
#   bad_series_aborts, global_on_rank_0, global_failure_once or series_dir_flags (which
#   runs without mpiexec).
set -euo pipefail

cdnopt=$1
mpiexec=$2
np=$3
case_name=$4

work=$(mktemp -d "${TMPDIR:-/tmp}/cdnopt-mpi-XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"

fail() {
    echo "FAIL ($case_name, $np ranks): $*" >&2
    exit 1
}

run_np() {
    "$mpiexec" -np "$np" --oversubscribe --allow-run-as-root \
        -x OPENBLAS_NUM_THREADS -x CDNOPT_TEST_KILL_RANK -x CDNOPT_TEST_KILL_STEP \
        "$cdnopt" "$@"
}

# Three hourly series of 8 days, one per region, and a small model trained on one.
# Three series over four ranks leave one rank without work.
make_inputs() {
    mkdir -p series
    local seed=11
    for name in ams fra lhr; do
        "$cdnopt" -q generate --out "gen-$name" --days 8 --step 1h --seed "$seed"
        cp "gen-$name/bandwidth.csv" "series/$name.csv"
        seed=$((seed + 1))
    done
    "$cdnopt" -q train --data series/ams.csv --epochs 1 --units 8 --batch 32 --out model.h5
}

forecast_sharded() {
    make_inputs
    local flags=(--model model.h5 --samples 20 --horizon 6h --seed 7)
    "$cdnopt" -q forecast "${flags[@]}" --series-dir series --out plain.csv
    run_np -q forecast "${flags[@]}" --series-dir series --out sharded.csv

    [ "$(head -1 sharded.csv)" = "series,timestamp,mean,lower,upper,critical" ] ||
        fail "unexpected header: $(head -1 sharded.csv)"
    [ "$(wc -l < sharded.csv)" -eq 19 ] || fail "expected 1 + 3 x 6 lines, got $(wc -l < sharded.csv)"
    cmp plain.csv sharded.csv || fail "the sharded forecast differs from the plain run"

    # Each series alone, in a folder of its own, gives the rows it has in the shared file.
    for name in ams fra lhr; do
        mkdir -p "alone-$name"
        cp "series/$name.csv" "alone-$name/"
        "$cdnopt" -q forecast "${flags[@]}" --series-dir "alone-$name" --out "alone-$name.csv"
        tail -n +2 "alone-$name.csv" > alone.rows
        grep "^$name," sharded.csv > shared.rows
        [ -s alone.rows ] || fail "no rows for $name alone"
        cmp alone.rows shared.rows || fail "$name alone differs from its rows in the sharded run"
    done
}

evaluate_sharded() {
    make_inputs
    local flags=(--model model.h5 --test-days 1 --samples 10 --seed 3)
    "$cdnopt" -q evaluate "${flags[@]}" --series-dir series --out plain.csv
    run_np -q evaluate "${flags[@]}" --series-dir series --out sharded.csv

    [ "$(head -1 sharded.csv)" = \
      "series,method,mae,rmse,smape,mase,coverage_raw,coverage_calibrated,width" ] ||
        fail "unexpected header: $(head -1 sharded.csv)"
    for name in ams fra lhr; do
        grep -q "^$name,residual-lstm," sharded.csv || fail "no model row for $name"
    done
    cmp plain.csv sharded.csv || fail "the sharded evaluation differs from the plain run"
}

kill_and_resume() {
    make_inputs
    # 149 training windows in batches of 16 make 10 steps an epoch: step 15 is in epoch 2,
    # after the checkpoint of epoch 1.
    local train=(train --data series/fra.csv --epochs 3 --units 8 --batch 16)
    set +e
    CDNOPT_TEST_KILL_RANK=1 CDNOPT_TEST_KILL_STEP=15 \
        run_np "${train[@]}" --checkpoint-every 1 --out killed.h5 2> killed.log
    local status=$?
    set -e
    [ "$status" -ne 0 ] || fail "the job exited 0 although rank 1 died"
    grep -q "rank=1 exiting at training step 15" killed.log ||
        fail "no message from the dying rank: $(cat killed.log)"
    grep -q "checkpoint epoch=1" killed.log || fail "no checkpoint before the failure"
    [ -f killed.h5.ckpt ] || fail "checkpoint file missing"
    [ ! -f killed.h5 ] || fail "a model file was written by the failed job"

    run_np "${train[@]}" --resume killed.h5.ckpt --out resumed.h5 2> resumed.log ||
        fail "resume failed: $(cat resumed.log)"
    grep -q "resuming file=killed.h5.ckpt" resumed.log || fail "no resume line"
    grep -q "epoch=2 " resumed.log || fail "epoch 2 not rerun: $(cat resumed.log)"
    grep -q "epoch=3 " resumed.log || fail "epoch 3 missing"
    if grep -q "epoch=1 " resumed.log; then
        fail "epoch 1 was trained again"
    fi
    [ -f resumed.h5 ] || fail "no model file after resume"
}

# The learner on rank 0 gets the same episodes in the same order as one process with the
# same --workers, and the weights it broadcasts drive the next rounds' episodes, so the
# agent files hold the same weights.
train_agent_same() {
    "$cdnopt" -q generate --out gen --days 14 --step 1h --seed 5
    local flags=(train-agent --history gen/bandwidth.csv --episodes 24 --workers 4 --hidden 16
                 --updates 4 --batch 16 --min-releases 50 --max-releases 60 --seed 3)
    "$cdnopt" "${flags[@]}" --out plain.h5 2> plain.log
    run_np "${flags[@]}" --out shared.h5 2> shared.log || fail "train-agent failed: $(cat shared.log)"
    grep -q "loss=[0-9]" shared.log || fail "no gradient update ran, so the check would be void"
    h5diff plain.h5 shared.h5 || fail "the agent trained on $np ranks differs from one process"
}

# A series that only the last rank reads is invalid: that rank reports the file and
# stops the whole job, which must not hang the ranks waiting to gather.
bad_series_aborts() {
    make_inputs
    printf 'timestamp,gbps\n2025-01-06 00:00:00,not-a-number\n' > series/zzz.csv
    set +e
    run_np forecast --model model.h5 --series-dir series --samples 10 --horizon 6h \
        --out out.csv 2> bad.log
    local status=$?
    set -e
    [ "$status" -ne 0 ] || fail "the job exited 0 with an invalid series"
    grep -q "zzz.csv" bad.log || fail "the error does not name the file: $(cat bad.log)"
    grep -q "stopping the job" bad.log || fail "no MPI_Abort message: $(cat bad.log)"
    [ ! -f out.csv ] || fail "an output file was written by the failed job"
}

# A wide CSV of four hourly series of 10 days with a daily cycle, one per row.
make_wide() {
    awk 'BEGIN {
        printf "id"
        for (t = 1; t <= 240; t++) printf ",V%d", t
        printf "\n"
        for (s = 0; s < 4; s++) {
            printf "H%d", s
            for (t = 0; t < 240; t++) printf ",%.3f", 10 + s + 5 * sin(6.2831853 * t / 24) + (t * 7 + s) % 5 / 10
            printf "\n"
        }
    }' > wide.csv
}

# Global training and forecasting have no data-parallel path: under mpiexec rank 0 runs
# them alone and writes the files, the other ranks exit 0, and the results equal a plain
# run's.
global_on_rank_0() {
    make_wide
    make_inputs
    local train=(train --epochs 1 --max-windows 64 --units 8 --seed 3)
    "$cdnopt" -q "${train[@]}" --wide wide.csv --out plain.h5
    run_np "${train[@]}" --wide wide.csv --out shared.h5 2> shared.log ||
        fail "global training failed: $(cat shared.log)"
    grep -q "global training runs on rank 0 alone" shared.log || fail "no rank 0 line"
    [ "$(grep -c "saved model=shared.h5" shared.log)" -eq 1 ] ||
        fail "expected one save: $(cat shared.log)"
    h5diff plain.h5 shared.h5 || fail "the model trained under mpiexec differs from one process"

    run_np "${train[@]}" --series-dir series --out dir.h5 2> dir.log ||
        fail "global training on --series-dir failed: $(cat dir.log)"
    [ -f dir.h5 ] || fail "no model file from --series-dir"

    local flags=(forecast --model plain.h5 --wide wide.csv --samples 10 --horizon 6h --seed 2)
    "$cdnopt" -q "${flags[@]}" --out plain.csv
    run_np -q "${flags[@]}" --out shared.csv || fail "global forecast failed"
    for part in "" -lower -upper; do
        cmp "plain$part.csv" "shared$part.csv" || fail "shared$part.csv differs from the plain run"
    done
    if ls ./*.tmp-* > /dev/null 2>&1; then
        fail "temporary files left: $(ls ./*.tmp-*)"
    fi
}

# A global training that fails on rank 0 reports the error once, exits non-zero and
# leaves no model file.
global_failure_once() {
    printf 'id,V1,V2\nH0,1,oops\n' > bad.csv
    set +e
    run_np train --wide bad.csv --epochs 1 --out bad.h5 2> bad.log
    local status=$?
    set -e
    [ "$status" -ne 0 ] || fail "the job exited 0 with an invalid wide file"
    [ "$(grep -c "cdnopt train: " bad.log)" -eq 1 ] || fail "expected one error: $(cat bad.log)"
    grep -q "bad.csv" bad.log || fail "the error does not name the file: $(cat bad.log)"
    [ ! -e bad.h5 ] || fail "a model file was written by the failed job"
}

# Usage errors of --series-dir: exit status 2 and a message that names the fix.
expect_usage_error() {
    local expected=$1
    shift
    set +e
    "$cdnopt" "$@" 2> usage.log
    local status=$?
    set -e
    [ "$status" -eq 2 ] || fail "exit status $status, expected 2, for: $*"
    grep -qF -- "$expected" usage.log || fail "expected '$expected', got: $(cat usage.log)"
}

series_dir_flags() {
    mkdir -p empty
    expect_usage_error "both --data and --series-dir given: give either --data FILE" \
        evaluate --series-dir empty --data x.csv --out out.csv
    expect_usage_error "--series-dir needs --out FILE for the results CSV" \
        evaluate --series-dir empty
    expect_usage_error "missing --data: give either --data FILE (one series) or --series-dir" \
        forecast --model model.h5 --out out.csv
    expect_usage_error "--series-dir empty has no .csv files; put one CSV per series there" \
        evaluate --series-dir empty --out out.csv
}

"$case_name"
echo "PASS ($case_name, $np ranks)"
