/* SPDX-License-Identifier: Apache-2.0 */
/*
 * serve: the HTTP service behind `cdnopt serve`.
 *
 * A cdnopt_server runs libmicrohttpd with its own thread pool and serves the REST
 * API under /api/v1 (releases, observed samples, re-planning, the schedule, the
 * forecast, system state), GET /metrics in the Prometheus text format, GET /healthz
 * and the dashboard under /monitor. Release creates are acknowledged only after
 * their SQLite commit: a writer thread commits every queued create in one
 * transaction and sends all their responses after the COMMIT (group commit). A monitor
 * thread samples CPU, memory and network from /proc and raises alerts, and posted
 * samples and forecasts raise the bandwidth and forecast alerts. A raised alert clears
 * only alert_clear_margin below its threshold. Each alert keeps the host's time and
 * the service clock's. A worker pool runs re-plan and forecast
 * jobs and grows and shrinks with its queue and the CPU load.
 *
 * Usage:
 *     cdnopt_serve_params p = cdnopt_serve_params_default();
 *     p.port = 0;                      // any free port
 *     p.db_path = "cdnopt.db";
 *     cdnopt_server *srv = NULL;
 *     char err[CDNOPT_ERRMSG_MAX];
 *     if (cdnopt_server_start(&p, &srv, err) != CDNOPT_OK) ...
 *     printf("port %d\n", cdnopt_server_port(srv));
 *     ...
 *     cdnopt_server_stop(srv);         // waits for in-flight requests and jobs
 *
 * Limitations:
 * - HTTP/1.1 without TLS: put a TLS proxy in front when it listens beyond loopback.
 * - One bearer token for all mutating calls; reads need none.
 * - Forecast and re-plan results are kept only as the latest schedule in the
 *   database; the job list lives in memory and is lost on restart.
 */
#ifndef CDNOPT_SERVE_H
#define CDNOPT_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cdnopt_server cdnopt_server;

/** Options of cdnopt_server_start(); start from cdnopt_serve_params_default(). */
typedef struct cdnopt_serve_params {
    const char *listen_addr; /* IPv4 address to bind, default "127.0.0.1" */
    int port;                /* TCP port; 0 picks a free one (see cdnopt_server_port) */
    const char *db_path;     /* SQLite database file, required */
    bool synchronous_full;   /* PRAGMA synchronous=FULL instead of NORMAL */
    const char *model_path;  /* forecasting model (HDF5), NULL for none */
    const char *agent_path;  /* planning agent (HDF5), NULL for none */
    const char *token;       /* bearer token for mutating calls, NULL for no auth */
    int64_t now;      /* service clock at start, civil seconds; INT64_MIN: local wall clock */
    int http_threads; /* libmicrohttpd thread pool size, default 4 */
    int min_workers;  /* smallest job worker pool, default 1 */
    int max_workers;  /* largest job worker pool, default 4 */
    int64_t monitor_interval_us; /* sampling period in microseconds, 1 ms to 1 h, default 1 s;
                                    0 starts no sampling thread (tests sample by hand) */
    size_t monitor_history;      /* samples kept in the monitor's ring, default 600 */
    const char *proc_dir;        /* where /proc is read, default "/proc" (tests use a fake) */
    double cpu_alert_ratio;      /* CPU busy share that scales workers out, default 0.90 */
    double memory_alert_ratio;   /* memory used share that sheds load, default 0.85 */
    double bandwidth_alert_gbps; /* observed Gbit/s above which the bandwidth alert is
                                    raised, 0 to 1e6; 0 (default) raises none */
    double alert_clear_margin;   /* a raised alert clears at or under threshold x (1 -
                                    margin), so a value hovering at the threshold does not
                                    flap; 0 to below 1, default 0.05 */
    int64_t alert_window_us;     /* the CPU and memory alerts judge the mean of the readings
                                    in this window, in microseconds: at least one monitor
                                    interval and at most 100000 readings, default 30 s;
                                    with monitor_interval_us 0 a reading counts as 1 s */
    size_t max_body_bytes;       /* larger request bodies get 413, default 32 MiB */
    size_t max_batch_releases;   /* maximum releases in one create request, default 100000 */
    size_t max_job_queue;        /* queued jobs beyond this get 503, default 64 */
    int64_t worker_idle_ms; /* a worker idle this long exits above min_workers, default 10000 */
    const char *web_dir;    /* dashboard files served under /monitor; NULL: none */
} cdnopt_serve_params;

/** Return the defaults listed in the field comments of cdnopt_serve_params. */
cdnopt_serve_params cdnopt_serve_params_default(void);

/**
 * Open the database (migrating it), start the writer, monitor and worker threads
 * and listen.
 * @param params options, borrowed: strings are copied.
 * @param out    the running server, stopped and freed with cdnopt_server_stop().
 * @param err    CDNOPT_ERRMSG_MAX bytes; names the address, port, file or option.
 * @return CDNOPT_OK, CDNOPT_EINVAL (bad option), CDNOPT_EDB, CDNOPT_EIO (cannot
 *         listen) or CDNOPT_ENOMEM.
 */
int cdnopt_server_start(const cdnopt_serve_params *params, cdnopt_server **out /* OUT */,
                        char *err);

/** Return the TCP port the server listens on (useful after port 0). */
int cdnopt_server_port(const cdnopt_server *server);

/**
 * Stop listening, finish in-flight requests and queued jobs, stop the threads,
 * close the database and free the server. NULL is a no-op.
 */
void cdnopt_server_stop(cdnopt_server *server);

#endif /* CDNOPT_SERVE_H */
