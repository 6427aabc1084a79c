/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The system monitor: a thread that reads /proc/stat, /proc/meminfo,
 * /proc/net/dev and /proc/self/statm every interval, keeps the readings in a
 * ring, and raises or clears the CPU and memory alerts when a reading crosses
 * its threshold. The /proc folder is a parameter so tests can feed fake files.
 * The thread CPU time spent inside each sample is summed, so the monitor's own
 * cost is measurable from /metrics.
 */
#include "serve-impl.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MONITOR_MAX_ALERTS 64

struct serve_monitor {
    monitor_params params;
    char proc_dir[512];
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t lock;     /* guards everything below and the stop flag */
    pthread_cond_t stop_cond; /* signalled on stop, waited on with CLOCK_MONOTONIC */
    bool stopping;

    monitor_sample *ring; /* params.history entries */
    size_t n_taken;       /* samples taken; the latest is ring[(n_taken - 1) % history] */
    bool active[MONITOR_ALERT_KINDS];
    monitor_alert alerts[MONITOR_MAX_ALERTS]; /* ring of alert events */
    size_t n_alerts;

    /* Counters of the previous reading, for rates. */
    uint64_t prev_busy, prev_total;
    double prev_rx, prev_tx, prev_mono_s;
    double cost_cpu_s; /* thread CPU seconds inside sample() */
};

const char *monitor_alert_name(enum monitor_alert_kind kind)
{
    return kind == MONITOR_ALERT_CPU ? "cpu" : "memory";
}

/* ------------------------------------------------------------------------- */
/* Reading /proc                                                             */
/* ------------------------------------------------------------------------- */

static FILE *open_proc(const serve_monitor *m, const char *name)
{
    char path[640];
    snprintf(path, sizeof path, "%s/%s", m->proc_dir, name);
    return fopen(path, "r");
}

/* First line of /proc/stat: user nice system idle iowait irq softirq steal (jiffies). */
static bool read_cpu(const serve_monitor *m, uint64_t *busy, uint64_t *total)
{
    FILE *f = open_proc(m, "stat");
    if (f == NULL)
        return false;
    unsigned long long v[8] = {0};
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                   &v[4], &v[5], &v[6], &v[7]);
    fclose(f);
    if (n < 4)
        return false;
    *total = 0;
    for (int i = 0; i < 8; i++)
        *total += v[i];
    *busy = *total - v[3] - v[4]; // idle and iowait are not busy
    return true;
}

static bool read_memory(const serve_monitor *m, double *ratio)
{
    FILE *f = open_proc(m, "meminfo");
    if (f == NULL)
        return false;
    char line[256];
    double total_kb = 0;
    double available_kb = -1;
    while (fgets(line, sizeof line, f) != NULL) {
        sscanf(line, "MemTotal: %lf", &total_kb);
        sscanf(line, "MemAvailable: %lf", &available_kb);
    }
    fclose(f);
    if (total_kb <= 0 || available_kb < 0)
        return false;
    *ratio = 1.0 - available_kb / total_kb;
    return true;
}

/* /proc/net/dev: two header lines, then "iface: rx_bytes ... (8 rx fields) tx_bytes ...". */
static bool read_network(const serve_monitor *m, double *rx, double *tx)
{
    FILE *f = open_proc(m, "net/dev");
    if (f == NULL)
        return false;
    char line[512];
    *rx = 0;
    *tx = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        char *colon = strchr(line, ':');
        if (colon == NULL)
            continue;
        unsigned long long r[9] = {0};
        if (sscanf(colon + 1, "%llu %llu %llu %llu %llu %llu %llu %llu %llu", &r[0], &r[1], &r[2],
                   &r[3], &r[4], &r[5], &r[6], &r[7], &r[8]) == 9) {
            *rx += (double)r[0];
            *tx += (double)r[8];
        }
    }
    fclose(f);
    return true;
}

static double read_rss_bytes(const serve_monitor *m)
{
    FILE *f = open_proc(m, "self/statm");
    if (f == NULL)
        return 0;
    unsigned long long size = 0;
    unsigned long long resident = 0;
    int n = fscanf(f, "%llu %llu", &size, &resident);
    fclose(f);
    return n == 2 ? (double)resident * (double)sysconf(_SC_PAGESIZE) : 0;
}

/* ------------------------------------------------------------------------- */
/* Sampling and alerts                                                       */
/* ------------------------------------------------------------------------- */

static double thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Update one alert's state; returns true when it changed. Called locked. */
static bool update_alert(serve_monitor *m, enum monitor_alert_kind kind, double value,
                         double threshold, double now_s)
{
    bool over = value > threshold;
    if (over == m->active[kind])
        return false;
    m->active[kind] = over;
    m->alerts[m->n_alerts % MONITOR_MAX_ALERTS] = (monitor_alert){
        .unix_s = now_s, .kind = kind, .raised = over, .value = value, .threshold = threshold};
    m->n_alerts++;
    return true;
}

static void take_sample(serve_monitor *m)
{
    double cpu_start = thread_cpu_s();
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    monitor_sample s = {.unix_s = (double)wall.tv_sec + (double)wall.tv_nsec * 1e-9};
    double mono = cdnopt_clock_s();

    uint64_t busy = 0;
    uint64_t total = 0;
    bool have_cpu = read_cpu(m, &busy, &total);
    bool have_memory = read_memory(m, &s.memory_ratio);
    read_network(m, &s.net_rx_bytes, &s.net_tx_bytes);
    s.rss_bytes = read_rss_bytes(m);

    pthread_mutex_lock(&m->lock);
    if (have_cpu && total > m->prev_total)
        s.cpu_ratio = (double)(busy - m->prev_busy) / (double)(total - m->prev_total);
    double dt = mono - m->prev_mono_s;
    if (m->n_taken > 0 && dt > 0) {
        s.net_rx_bps = (s.net_rx_bytes - m->prev_rx) / dt;
        s.net_tx_bps = (s.net_tx_bytes - m->prev_tx) / dt;
    }
    m->prev_busy = busy;
    m->prev_total = total;
    m->prev_rx = s.net_rx_bytes;
    m->prev_tx = s.net_tx_bytes;
    m->prev_mono_s = mono;
    m->ring[m->n_taken % m->params.history] = s;
    m->n_taken++;

    /* The first reading has no CPU delta, so the CPU alert waits for the second. */
    bool cpu_changed =
        have_cpu && m->n_taken > 1 &&
        update_alert(m, MONITOR_ALERT_CPU, s.cpu_ratio, m->params.cpu_alert_ratio, s.unix_s);
    bool memory_changed = have_memory && update_alert(m, MONITOR_ALERT_MEMORY, s.memory_ratio,
                                                      m->params.memory_alert_ratio, s.unix_s);
    bool cpu_raised = m->active[MONITOR_ALERT_CPU];
    bool memory_raised = m->active[MONITOR_ALERT_MEMORY];
    m->cost_cpu_s += thread_cpu_s() - cpu_start;
    pthread_mutex_unlock(&m->lock);

    /* Callbacks run unlocked: they take the pool's lock and log. */
    if (m->params.on_alert != NULL && cpu_changed)
        m->params.on_alert(m->params.user, MONITOR_ALERT_CPU, cpu_raised, s.cpu_ratio);
    if (m->params.on_alert != NULL && memory_changed)
        m->params.on_alert(m->params.user, MONITOR_ALERT_MEMORY, memory_raised, s.memory_ratio);
}

void serve_monitor_sample_now(serve_monitor *m)
{
    take_sample(m);
}

static void *monitor_main(void *arg)
{
    serve_monitor *m = arg;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);

    pthread_mutex_lock(&m->lock);
    while (!m->stopping) {
        pthread_mutex_unlock(&m->lock);
        take_sample(m);
        pthread_mutex_lock(&m->lock);

        /* Absolute deadlines keep the period exact however long a sample took. */
        next.tv_nsec += (long)(m->params.interval_us % 1000000) * 1000;
        next.tv_sec += (time_t)(m->params.interval_us / 1000000) + next.tv_nsec / 1000000000L;
        next.tv_nsec %= 1000000000L;
        while (!m->stopping &&
               pthread_cond_timedwait(&m->stop_cond, &m->lock, &next) != ETIMEDOUT) {
        }
    }
    pthread_mutex_unlock(&m->lock);
    return NULL;
}

int serve_monitor_start(const monitor_params *params, serve_monitor **out, char *err)
{
    *out = NULL;
    serve_monitor *m = cdnopt_calloc(1, sizeof *m);
    size_t history = params->history > 0 ? params->history : 1;
    monitor_sample *ring = cdnopt_calloc(history, sizeof *ring);
    if (m == NULL || ring == NULL) {
        cdnopt_free(m);
        cdnopt_free(ring);
        return cdnopt_fail(err, CDNOPT_ENOMEM, "serve: out of memory starting the monitor");
    }
    m->params = *params;
    m->params.history = history;
    m->ring = ring;
    snprintf(m->proc_dir, sizeof m->proc_dir, "%s", params->proc_dir);
    pthread_mutex_init(&m->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&m->stop_cond, &attr);
    pthread_condattr_destroy(&attr);

    /* interval_us <= 0 means sampling only on request (tests). */
    if (params->interval_us > 0) {
        if (pthread_create(&m->thread, NULL, monitor_main, m) != 0) {
            serve_monitor_stop(m);
            return cdnopt_fail(err, CDNOPT_ENOMEM, "serve: cannot start the monitor thread");
        }
        m->thread_started = true;
    }
    *out = m;
    return CDNOPT_OK;
}

void serve_monitor_stop(serve_monitor *m)
{
    if (m == NULL)
        return;
    pthread_mutex_lock(&m->lock);
    m->stopping = true;
    pthread_cond_signal(&m->stop_cond);
    pthread_mutex_unlock(&m->lock);
    if (m->thread_started)
        pthread_join(m->thread, NULL);
    pthread_cond_destroy(&m->stop_cond);
    pthread_mutex_destroy(&m->lock);
    cdnopt_free(m->ring);
    cdnopt_free(m);
}

bool serve_monitor_latest(serve_monitor *m, monitor_sample *out)
{
    pthread_mutex_lock(&m->lock);
    bool have = m->n_taken > 0;
    if (have)
        *out = m->ring[(m->n_taken - 1) % m->params.history];
    pthread_mutex_unlock(&m->lock);
    return have;
}

bool serve_monitor_alert_active(serve_monitor *m, enum monitor_alert_kind kind)
{
    pthread_mutex_lock(&m->lock);
    bool active = m->active[kind];
    pthread_mutex_unlock(&m->lock);
    return active;
}

void serve_monitor_cost(serve_monitor *m, double *cpu_s, uint64_t *n_samples)
{
    pthread_mutex_lock(&m->lock);
    *cpu_s = m->cost_cpu_s;
    *n_samples = m->n_taken;
    pthread_mutex_unlock(&m->lock);
}

static json_t *sample_json(const monitor_sample *s)
{
    return json_pack("{s:f, s:f, s:f, s:f, s:f, s:f}", "unix_s", s->unix_s, "cpu_ratio",
                     s->cpu_ratio, "memory_ratio", s->memory_ratio, "rss_bytes", s->rss_bytes,
                     "net_rx_bps", s->net_rx_bps, "net_tx_bps", s->net_tx_bps);
}

json_t *serve_monitor_json(serve_monitor *m, size_t max_samples)
{
    json_t *samples = json_array();
    json_t *alerts = json_array();
    json_t *active = json_array();

    pthread_mutex_lock(&m->lock);
    size_t kept = m->n_taken < m->params.history ? m->n_taken : m->params.history;
    size_t n = kept < max_samples ? kept : max_samples;
    for (size_t i = m->n_taken - n; i < m->n_taken; i++)
        json_array_append_new(samples, sample_json(&m->ring[i % m->params.history]));

    size_t n_alerts = m->n_alerts < MONITOR_MAX_ALERTS ? m->n_alerts : MONITOR_MAX_ALERTS;
    for (size_t i = m->n_alerts - n_alerts; i < m->n_alerts; i++) {
        const monitor_alert *a = &m->alerts[i % MONITOR_MAX_ALERTS];
        json_array_append_new(alerts, json_pack("{s:f, s:s, s:s, s:f, s:f}", "unix_s", a->unix_s,
                                                "alert", monitor_alert_name(a->kind), "state",
                                                a->raised ? "raised" : "cleared", "value", a->value,
                                                "threshold", a->threshold));
    }
    for (int k = 0; k < MONITOR_ALERT_KINDS; k++)
        if (m->active[k])
            json_array_append_new(active, json_string(monitor_alert_name(k)));
    double interval_s = (double)m->params.interval_us * 1e-6;
    double cost = m->n_taken > 0 ? m->cost_cpu_s / (double)m->n_taken : 0;
    pthread_mutex_unlock(&m->lock);

    return json_pack("{s:o, s:o, s:o, s:f, s:f}", "samples", samples, "alerts", alerts,
                     "active_alerts", active, "interval_s", interval_s, "sample_cpu_s", cost);
}
