/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Prometheus metrics: request counters by route and status, latency histograms
 * by route, group-commit counters, and gauges read at scrape time from the
 * monitor, the worker pool and the writer. Rendered in the text exposition
 * format 0.0.4, which `promtool check metrics` accepts.
 */
#include "serve-impl.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Status codes the server sends; anything else is counted under "other". */
static const int status_codes[] = {200, 201, 202, 400, 401, 404, 405,
                                   409, 413, 415, 422, 499, 500, 503};
#define N_STATUS (sizeof status_codes / sizeof status_codes[0])

static const double latency_bounds_s[SERVE_LATENCY_BUCKETS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0};

struct serve_metrics {
    pthread_mutex_t lock;
    uint64_t requests[ROUTE_COUNT][N_STATUS + 1];             /* last column: other codes */
    uint64_t buckets[ROUTE_COUNT][SERVE_LATENCY_BUCKETS + 1]; /* last: +Inf, not cumulative */
    double latency_sum_s[ROUTE_COUNT];
    uint64_t commits; /* group commits */
    uint64_t committed_requests;
    uint64_t committed_releases;
    uint64_t shed;            /* requests rejected with 503 by load shedding */
    double planned_peak_gbps; /* latest schedule, NaN-free: 0 until one exists */
    double naive_peak_gbps;
};

int serve_metrics_new(serve_metrics **out)
{
    *out = cdnopt_calloc(1, sizeof **out);
    if (*out == NULL)
        return CDNOPT_ENOMEM;
    pthread_mutex_init(&(*out)->lock, NULL);
    return CDNOPT_OK;
}

void serve_metrics_free(serve_metrics *m)
{
    if (m == NULL)
        return;
    pthread_mutex_destroy(&m->lock);
    cdnopt_free(m);
}

void serve_metrics_observe(serve_metrics *m, enum serve_route route, int status, double seconds)
{
    size_t column = N_STATUS;
    for (size_t i = 0; i < N_STATUS; i++)
        if (status_codes[i] == status)
            column = i;
    size_t bucket = SERVE_LATENCY_BUCKETS;
    for (size_t i = 0; i < SERVE_LATENCY_BUCKETS && bucket == SERVE_LATENCY_BUCKETS; i++)
        if (seconds <= latency_bounds_s[i])
            bucket = i;

    pthread_mutex_lock(&m->lock);
    m->requests[route][column]++;
    m->buckets[route][bucket]++;
    m->latency_sum_s[route] += seconds;
    pthread_mutex_unlock(&m->lock);
}

void serve_metrics_commit(serve_metrics *m, size_t n_requests, size_t n_releases)
{
    pthread_mutex_lock(&m->lock);
    m->commits++;
    m->committed_requests += n_requests;
    m->committed_releases += n_releases;
    pthread_mutex_unlock(&m->lock);
}

void serve_metrics_set_peaks(serve_metrics *m, double planned_gbps, double naive_gbps)
{
    pthread_mutex_lock(&m->lock);
    m->planned_peak_gbps = planned_gbps;
    m->naive_peak_gbps = naive_gbps;
    pthread_mutex_unlock(&m->lock);
}

void serve_metrics_shed(serve_metrics *m)
{
    pthread_mutex_lock(&m->lock);
    m->shed++;
    pthread_mutex_unlock(&m->lock);
}

/* ------------------------------------------------------------------------- */
/* Rendering                                                                 */
/* ------------------------------------------------------------------------- */

/* A growable text buffer; on allocation failure it stays failed and renders NULL. */
struct text {
    char *data;
    size_t len, cap;
    bool failed;
};

static void put(struct text *t, const char *fmt, ...) CDNOPT_FORMAT(2, 3);

static void put(struct text *t, const char *fmt, ...)
{
    if (t->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->data + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap * 2 + (size_t)(n > 0 ? n : 0) + 1;
        char *grown = cdnopt_realloc(t->data, cap);
        if (grown == NULL) {
            t->failed = true;
            return;
        }
        t->data = grown;
        t->cap = cap;
    }
}

static void header(struct text *t, const char *name, const char *type, const char *help)
{
    put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void render_requests(struct text *t, const serve_metrics *m)
{
    header(t, "cdnopt_http_requests_total", "counter", "HTTP requests by route and status.");
    for (int r = 0; r < ROUTE_COUNT; r++)
        for (size_t s = 0; s <= N_STATUS; s++) {
            if (m->requests[r][s] == 0)
                continue;
            char code[8];
            if (s < N_STATUS)
                snprintf(code, sizeof code, "%d", status_codes[s]);
            else
                snprintf(code, sizeof code, "other");
            put(t, "cdnopt_http_requests_total{route=\"%s\",code=\"%s\"} %llu\n",
                serve_route_label(r), code, (unsigned long long)m->requests[r][s]);
        }

    header(t, "cdnopt_http_request_duration_seconds", "histogram",
           "Time from the first header to the response, by route.");
    for (int r = 0; r < ROUTE_COUNT; r++) {
        uint64_t cumulative = 0;
        for (size_t b = 0; b <= SERVE_LATENCY_BUCKETS; b++) {
            cumulative += m->buckets[r][b];
            if (b < SERVE_LATENCY_BUCKETS)
                put(t, "cdnopt_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
                    serve_route_label(r), latency_bounds_s[b], (unsigned long long)cumulative);
            else
                put(t,
                    "cdnopt_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} "
                    "%llu\n",
                    serve_route_label(r), (unsigned long long)cumulative);
        }
        put(t, "cdnopt_http_request_duration_seconds_sum{route=\"%s\"} %.9g\n",
            serve_route_label(r), m->latency_sum_s[r]);
        put(t, "cdnopt_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
            serve_route_label(r), (unsigned long long)cumulative);
    }
}

static void render_store(struct text *t, const serve_metrics *m, size_t writer_depth)
{
    header(t, "cdnopt_db_commits_total", "counter", "Group commits of release creates.");
    put(t, "cdnopt_db_commits_total %llu\n", (unsigned long long)m->commits);
    header(t, "cdnopt_db_committed_requests_total", "counter",
           "Create requests acknowledged after a commit.");
    put(t, "cdnopt_db_committed_requests_total %llu\n", (unsigned long long)m->committed_requests);
    header(t, "cdnopt_releases_created_total", "counter", "Releases stored by create requests.");
    put(t, "cdnopt_releases_created_total %llu\n", (unsigned long long)m->committed_releases);
    header(t, "cdnopt_writer_queue_depth", "gauge", "Create requests waiting for a commit.");
    put(t, "cdnopt_writer_queue_depth %zu\n", writer_depth);
    header(t, "cdnopt_load_shed_total", "counter",
           "Job requests rejected with 503 because memory was over its alert threshold.");
    put(t, "cdnopt_load_shed_total %llu\n", (unsigned long long)m->shed);
    header(t, "cdnopt_planned_peak_gbps", "gauge",
           "Peak of the latest schedule in Gbit/s (0 before the first re-plan).");
    put(t, "cdnopt_planned_peak_gbps %.9g\n", m->planned_peak_gbps);
    header(t, "cdnopt_naive_peak_gbps", "gauge",
           "Peak of the naive schedule of the latest re-plan in Gbit/s.");
    put(t, "cdnopt_naive_peak_gbps %.9g\n", m->naive_peak_gbps);
}

static void render_pool(struct text *t, serve_pool *pool)
{
    size_t depth = 0;
    int workers = 0;
    int busy = 0;
    uint64_t recycles = 0;
    serve_pool_stats(pool, &depth, &workers, &busy, &recycles);
    header(t, "cdnopt_job_queue_depth", "gauge", "Jobs waiting for a worker.");
    put(t, "cdnopt_job_queue_depth %zu\n", depth);
    header(t, "cdnopt_workers", "gauge", "Live job worker threads.");
    put(t, "cdnopt_workers %d\n", workers);
    header(t, "cdnopt_workers_busy", "gauge", "Workers running a job.");
    put(t, "cdnopt_workers_busy %d\n", busy);
    header(t, "cdnopt_worker_recycles_total", "counter", "Times the workers were recycled.");
    put(t, "cdnopt_worker_recycles_total %llu\n", (unsigned long long)recycles);
}

static void render_system(struct text *t, serve_monitor *monitor)
{
    monitor_sample s = {0};
    serve_monitor_latest(monitor, &s);
    /* A reading that failed is NaN, which the text format spells "NaN". */
    char cpu[32], memory[32];
    snprintf(cpu, sizeof cpu, isnan(s.cpu_ratio) ? "NaN" : "%.6f", s.cpu_ratio);
    snprintf(memory, sizeof memory, isnan(s.memory_ratio) ? "NaN" : "%.6f", s.memory_ratio);
    header(t, "cdnopt_cpu_usage_ratio", "gauge", "Busy share of all CPUs at the last sample.");
    put(t, "cdnopt_cpu_usage_ratio %s\n", cpu);
    header(t, "cdnopt_memory_used_ratio", "gauge", "1 - MemAvailable / MemTotal.");
    put(t, "cdnopt_memory_used_ratio %s\n", memory);
    header(t, "cdnopt_process_resident_memory_bytes", "gauge", "Resident memory of the server.");
    put(t, "cdnopt_process_resident_memory_bytes %.0f\n", s.rss_bytes);
    header(t, "cdnopt_network_receive_bytes_total", "counter",
           "Bytes received on all interfaces, loopback included.");
    put(t, "cdnopt_network_receive_bytes_total %.0f\n", s.net_rx_bytes);
    header(t, "cdnopt_network_transmit_bytes_total", "counter",
           "Bytes sent on all interfaces, loopback included.");
    put(t, "cdnopt_network_transmit_bytes_total %.0f\n", s.net_tx_bytes);

    header(t, "cdnopt_alert_active", "gauge", "1 while an alert is raised.");
    for (int k = 0; k < MONITOR_ALERT_KINDS; k++)
        put(t, "cdnopt_alert_active{alert=\"%s\"} %d\n", monitor_alert_name(k),
            serve_monitor_alert_active(monitor, k) ? 1 : 0);

    double cpu_s = 0;
    uint64_t n = 0;
    serve_monitor_cost(monitor, &cpu_s, &n);
    header(t, "cdnopt_monitor_samples_total", "counter", "System samples taken.");
    put(t, "cdnopt_monitor_samples_total %llu\n", (unsigned long long)n);
    header(t, "cdnopt_monitor_cpu_seconds_total", "counter",
           "Thread CPU time the monitor spent taking samples.");
    put(t, "cdnopt_monitor_cpu_seconds_total %.9f\n", cpu_s);
}

char *serve_metrics_render(struct cdnopt_server *server)
{
    struct text t = {.data = cdnopt_malloc(16384), .cap = 16384};
    if (t.data == NULL)
        return NULL;

    /* Copy the counters under the lock, then format without it. */
    serve_metrics *snapshot = cdnopt_malloc(sizeof *snapshot);
    if (snapshot == NULL) {
        cdnopt_free(t.data);
        return NULL;
    }
    pthread_mutex_lock(&server->metrics->lock);
    memcpy(snapshot, server->metrics, sizeof *snapshot);
    pthread_mutex_unlock(&server->metrics->lock);

    render_requests(&t, snapshot);
    render_store(&t, snapshot, serve_writer_depth(server->writer));
    render_pool(&t, server->pool);
    render_system(&t, server->monitor);
    cdnopt_free(snapshot);

    if (t.failed) {
        cdnopt_free(t.data);
        return NULL;
    }
    return t.data;
}
