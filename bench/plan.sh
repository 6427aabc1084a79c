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
# Set BENCH_PLAN_EXACT_LIMIT to change the exact planner's time limit (default 60s).
set -eu

cdnopt=${1:-build/bin/cdnopt}
shared=${2:-../shared}
out=${3:-/tmp/cdnopt-bench-plan}
limit=${BENCH_PLAN_EXACT_LIMIT:-60s}
mkdir -p "$out"

# Print the value of a top-level or nested key from a JSON file.
json() {
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."): d=d[k]
print("-" if d is None else (f"{d:.3f}" if isinstance(d, float) else d))' "$1" "$2"
}

run() {
    workload=$1 solver=$2 objective=$3 passes=$4
    dir=$shared/workloads/$workload
    tag=$workload-$solver-$objective-p$passes
    "$cdnopt" -q plan --baseline "$dir/baseline.csv" --releases "$dir/releases.csv" \
        --solver "$solver" --objective "$objective" --passes "$passes" \
        --time-limit "$limit" --out "$out/$tag.csv" --json > "$out/$tag.json"
    if python3 "$shared/tools/score_schedule.py" "$dir/baseline.csv" "$dir/releases.csv" \
        "$out/$tag.csv" --json > "$out/$tag.referee.json"; then
        verdict="ok, peak $(json "$out/$tag.referee.json" schedule.peak_gbps)"
    else
        verdict="VIOLATIONS"
    fi
    gap=$(json "$out/$tag.json" gap)
    case $gap in -) ;; *) gap=$(python3 -c "print(f'{100*$gap:.2f} %')") ;; esac
    printf '| %s | %s | %s | %s | %s | %s | %s %% | %s %% | %s | %s | %s | %s |\n' \
        "$workload" "$solver" "$objective" "$passes" \
        "$(json "$out/$tag.json" schedule.peak_gbps)" "$(json "$out/$tag.json" schedule.p95_gbps)" \
        "$(python3 -c "print(f'{100*$(json "$out/$tag.json" peak_reduction):.2f}')")" \
        "$(python3 -c "print(f'{100*$(json "$out/$tag.json" p95_reduction):.2f}')")" \
        "$(json "$out/$tag.json" lp_bound_gbps)" "$gap" "$verdict" "$(json "$out/$tag.json" solve_s)"
}

echo "| workload | solver | objective | passes | peak | p95 | peak red. | p95 red. | LP bound | gap | referee | seconds |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
for workload in day week scale; do
    run "$workload" greedy peak 0
    run "$workload" greedy peak 2
    run "$workload" greedy p95 2
    run "$workload" exact peak 2
done
