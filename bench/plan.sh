#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# Time every planner on every planning workload and score each schedule with the
# referee. Prints one Markdown table row per run: workload, solver, objective,
# passes, peak, p95, reductions, LP bound and gap (exact only), the referee's
# verdict, and the planner's own solve time in seconds.
#
# Usage: bench/plan.sh [CDNOPT] [SHARED_DIR] [OUT_DIR]
#   CDNOPT      the cdnopt binary (default build/bin/cdnopt)
#   SHARED_DIR  folder with workloads/ and tools/ (default ../shared)
#   OUT_DIR     where schedules and JSON reports go (default /tmp/cdnopt-bench-plan)
# Set BENCH_PLAN_EXACT_LIMIT to change the exact planner's time limit (default 60s), and
# BENCH_PLAN_REUSE=1 to rebuild the table from the reports an earlier run left in OUT_DIR.
set -eu

cdnopt=${1:-build/bin/cdnopt}
shared=${2:-../shared}
out=${3:-/tmp/cdnopt-bench-plan}
limit=${BENCH_PLAN_EXACT_LIMIT:-60s}
mkdir -p "$out"

# Print the value of a top-level or nested key ("schedule.peak_gbps") of a JSON file,
# "-" when it is null. With a third argument "%", print it as a percentage.
json() {
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."): d=d[k]
scale = 100 if sys.argv[3:] == ["%"] else 1
unit = " %" if scale == 100 else ""
print("-" if d is None else (f"{scale*d:.{2 if scale == 100 else 3}f}{unit}" if isinstance(d, (int, float)) else d))' "$@"
}

run() {
    workload=$1 solver=$2 objective=$3 passes=$4
    dir=$shared/workloads/$workload
    tag=$workload-$solver-$objective-p$passes
    if [ "${BENCH_PLAN_REUSE:-0}" != 1 ] || [ ! -s "$out/$tag.json" ]; then
        "$cdnopt" -q plan --baseline "$dir/baseline.csv" --releases "$dir/releases.csv" \
            --solver "$solver" --objective "$objective" --passes "$passes" \
            --time-limit "$limit" --out "$out/$tag.csv" --json > "$out/$tag.json"
    fi
    if python3 "$shared/tools/score_schedule.py" "$dir/baseline.csv" "$dir/releases.csv" \
        "$out/$tag.csv" --json > "$out/$tag.referee.json"; then
        verdict="ok, peak $(json "$out/$tag.referee.json" schedule.peak_gbps)"
    else
        verdict="VIOLATIONS"
    fi
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
        "$workload" "$solver" "$objective" "$passes" \
        "$(json "$out/$tag.json" schedule.peak_gbps)" "$(json "$out/$tag.json" schedule.p95_gbps)" \
        "$(json "$out/$tag.json" peak_reduction %)" "$(json "$out/$tag.json" p95_reduction %)" \
        "$(json "$out/$tag.json" lp_bound_gbps)" "$(json "$out/$tag.json" gap %)" "$verdict" \
        "$(json "$out/$tag.json" solve_s)"
}

echo "| workload | solver | objective | passes | peak | p95 | peak red. | p95 red. | LP bound | gap | referee | seconds |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
for workload in day week scale; do
    run "$workload" greedy peak 0
    run "$workload" greedy peak 2
    run "$workload" greedy p95 2
    run "$workload" exact peak 2
done
