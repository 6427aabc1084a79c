#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Load and overhead benchmark of `cdnopt serve` on loopback (docs/benchmarks.md).
#
#   bench/serve_load.sh [path/to/cdnopt] [seconds per run]
#
# 1. Durable creates with wrk: single releases per request, then batches of
#    1000, each against a fresh database, with synchronous=NORMAL and FULL.
#    Every 201 is sent only after the release's group commit.
# 2. Monitor overhead: the idle server samples /proc every 10 ms, then every
#    1 ms. The script reports the monitor's own CPU time per sample (from
#    /metrics) and the whole process's CPU time over the run (from
#    /proc/PID/stat), as a share of one core.
set -eu

cdnopt="${1:-build/bin/cdnopt}"
seconds="${2:-10}"
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/cdnopt-serve-bench.XXXXXX")"
server_pid=""
trap 'if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi; rm -rf "$work"' EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_server NAME [flags...]: sets port and server_pid, waits for /healthz.
start_server() {
    name="$1"
    shift
    port="$(free_port)"
    "$cdnopt" -q serve --port "$port" --db "$work/$name.db" "$@" 2>"$work/$name.log" &
    server_pid=$!
    for _ in $(seq 1 100); do
        if curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.05
    done
    echo "serve_load: the server did not start; see $work/$name.log" >&2
    exit 1
}

stop_server() {
    kill "$server_pid"
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
}

cpu_ticks() {
    # utime + stime of a process, in clock ticks (fields 14 and 15 of /proc/PID/stat).
    awk '{print $14 + $15}' "/proc/$1/stat"
}

metric() {
    curl -s "http://127.0.0.1:$port/metrics" | awk -v name="$1" '$1 == name {print $2}'
}

echo "machine: $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
echo "wrk: 2 threads, 64 connections, ${seconds} s per run; server: 2 HTTP threads"

for sync in normal full; do
    sync_flag=""
    if [ "$sync" = full ]; then
        sync_flag="--synchronous-full"
    fi
    for batch in 1 1000; do
        # The clock sits before the releases' planned_at (2004-12-14 10:00), because a
        # release whose latest start has passed is rejected with 422.
        start_server "load-$sync-$batch" --http-threads 2 --monitor-interval 1s \
            --now "2004-12-14 00:00:00" $sync_flag
        result="$(BATCH=$batch wrk -t2 -c64 -d"${seconds}s" --latency -s "$here/serve_create.lua" \
            "http://127.0.0.1:$port" | grep '^RESULT')"
        commits="$(metric cdnopt_db_commits_total)"
        stored="$(metric cdnopt_releases_created_total)"
        stop_server
        echo "synchronous=$sync $result commits=$commits stored=$stored"
    done
done

hz="$(getconf CLK_TCK)"
for interval in 10ms 1ms; do
    start_server "monitor-$interval" --monitor-interval "$interval"
    before="$(cpu_ticks "$server_pid")"
    sleep "$seconds"
    after="$(cpu_ticks "$server_pid")"
    monitor_cpu="$(metric cdnopt_monitor_cpu_seconds_total)"
    samples="$(metric cdnopt_monitor_samples_total)"
    stop_server
    awk -v i="$interval" -v c="$monitor_cpu" -v n="$samples" -v b="$before" -v a="$after" \
        -v hz="$hz" -v s="$seconds" 'BEGIN {
            printf "monitor interval=%s samples=%d cost_per_sample_us=%.1f " \
                   "monitor_share_of_core=%.3f%% process_share_of_core=%.3f%%\n",
                   i, n, c / n * 1e6, c / s * 100, (a - b) / hz / s * 100 }'
done
