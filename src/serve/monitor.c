/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The system monitor: a thread that reads /proc/stat, /proc/meminfo,
 * /proc/net/dev and /proc/self/statm every interval, keeps the readings in a
 * ring, and raises the CPU and memory alerts when the mean of the readings in the
 * alert window goes above its threshold. A raised alert clears only when that mean
 * falls to threshold x (1 - alert_clear_margin) or below. The /proc folder is a
 * parameter so tests can feed fake files.
 * The thread CPU time spent inside each sample is summed, so the monitor's own
 * cost is measurable from /metrics. Only the monitor's thread reads the files
 * (or a test thread while no monitor thread runs). The same alert log contains the
 * bandwidth alert, which the samples route raises from observed traffic, and the
 * forecast alert, which each forecast job raises from its safety line.
 */
#include "serve-impl.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MONITOR_MAX_ALERTS 64

enum proc_file { PROC_STAT, PROC_MEMINFO, PROC_NET_DEV, PROC_SELF_STATM, PROC_FILES };

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
    int64_t traffic_newest; /* civil seconds of the newest sample checked, or INT64_MIN */

    /* The alert window: the last window_readings + 1 readings, so that the CPU share over
     * the window is the difference of the newest and the oldest counters. */
    struct window_slot *window;
    double window_memory_sum; /* sum of the good memory ratios of the last window_readings */
    size_t window_memory_n;   /* how many of those readings are good */

    /* Counters of the previous reading, for rates. */
    uint64_t prev_busy, prev_total;
    double prev_rx, prev_tx, prev_mono_s;
    double cost_cpu_s;   /* thread CPU seconds inside sample() */
    int fds[PROC_FILES]; /* open /proc files, -1 until opened */
    bool cpu_failing;    /* the last stat reading could not be read or parsed */
    bool memory_failing; /* the last meminfo reading could not be read or parsed */
    long page_size;      /* bytes per page, for statm */
};

/* One reading as the alert window keeps it. */
struct window_slot {
    uint64_t busy, total; /* the last good stat counters at this reading, in clock ticks;
                             total 0 while no reading was good */
    double memory_ratio;  /* NaN when meminfo could not be read or parsed */
};

const char *monitor_alert_name(enum monitor_alert_kind kind)
{
    static const char *const names[MONITOR_ALERT_KINDS] = {"cpu", "memory", "bandwidth",
                                                           "forecast"};
    return names[kind];
}

/* ------------------------------------------------------------------------- */
/* Reading /proc                                                             */
/* ------------------------------------------------------------------------- */

/* Rationale for the reading style: one sample must cost well under 1% of a
 * core at a 10 ms period. The files stay open and are re-read with pread(),
 * because the kernel regenerates /proc contents on every read from offset 0.
 * The text is parsed with strtoull() instead of stdio: fopen() buffers and
 * fscanf() calls made each sample several times dearer. */
static const char *const proc_files[PROC_FILES] = {"stat", "meminfo", "net/dev", "self/statm"};

/* Read a whole /proc file into buf (NUL-terminated); false when unreadable. */
static bool read_proc(serve_monitor *m, enum proc_file which, char *buf, size_t size)
{
    if (m->fds[which] < 0) {
        char path[640];
        snprintf(path, sizeof path, "%s/%s", m->proc_dir, proc_files[which]);
        m->fds[which] = open(path, O_RDONLY | O_CLOEXEC);
        if (m->fds[which] < 0)
            return false;
    }
    ssize_t n = pread(m->fds[which], buf, size - 1, 0);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    return true;
}

/* Parse up to n unsigned numbers separated by blanks; returns how many were read. */
static int parse_numbers(const char *text, unsigned long long *out, int n)
{
    int got = 0;
    while (got < n) {
        /* strtoull reads "-1" as 2^64 - 1, which no /proc counter is, so a sign stops the
         * numbers as any other non-digit does. */
        while (isspace((unsigned char)*text))
            text++;
        if (!isdigit((unsigned char)*text))
            break;
        char *end = NULL;
        out[got] = strtoull(text, &end, 10);
        if (end == text)
            break;
        text = end;
        got++;
    }
    return got;
}

/* First line of /proc/stat: "cpu" then user nice system idle iowait irq softirq steal
 * in clock ticks. */
static bool parse_cpu(const char *text, uint64_t *busy, uint64_t *total)
{
    if (strncmp(text, "cpu ", 4) != 0)
        return false;
    /* Only the first line counts: strtoull would skip the newline and read the next one. */
    unsigned long long v[8] = {0};
    char line[256];
    snprintf(line, sizeof line, "%.*s", (int)strcspn(text, "\n"), text);
    if (parse_numbers(line + 4, v, 8) < 4)
        return false;
    *total = 0;
    for (int i = 0; i < 8; i++)
        *total += v[i];
    *busy = *total - v[3] - v[4]; // idle and iowait are not busy
    return true;
}

static bool read_cpu(serve_monitor *m, uint64_t *busy, uint64_t *total)
{
    char buf[4096];
    return read_proc(m, PROC_STAT, buf, sizeof buf) && parse_cpu(buf, busy, total);
}

/* Read the kB number after key ("MemTotal:"); false when the key or the number is missing. */
static bool meminfo_kb(const char *text, const char *key, double *kb)
{
    const char *at = strstr(text, key);
    if (at == NULL)
        return false;
    char *end = NULL;
    *kb = strtod(at + strlen(key), &end);
    return end != at + strlen(key) && isfinite(*kb) && *kb >= 0;
}

/* Set *ratio from meminfo text, or return the name of the line that is missing or has no
 * number (MemTotal must also be positive, and MemAvailable at most MemTotal). */
static const char *parse_memory(const char *text, double *ratio)
{
    double total_kb = 0, available_kb = 0;
    if (!meminfo_kb(text, "MemTotal:", &total_kb) || total_kb <= 0)
        return "MemTotal";
    if (!meminfo_kb(text, "MemAvailable:", &available_kb) || available_kb > total_kb)
        return "MemAvailable";
    *ratio = 1.0 - available_kb / total_kb;
    return NULL;
}

static bool read_memory(serve_monitor *m, double *ratio)
{
    char buf[8192];
    return read_proc(m, PROC_MEMINFO, buf, sizeof buf) && parse_memory(buf, ratio) == NULL;
}

/* Read a file of the proc folder into buf (NUL-terminated) for the check at start. Returns
 * false with errno set when it cannot be read. */
static bool read_file(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return false;
    size_t n = fread(buf, 1, size - 1, f);
    bool ok = !ferror(f);
    fclose(f);
    buf[n] = '\0';
    return ok;
}

int serve_monitor_check_proc(const char *dir, char *err)
{
    static const char *const needed[] = {"stat", "meminfo"};
    char text[2][8192];
    for (size_t i = 0; i < 2; i++) {
        char path[640];
        snprintf(path, sizeof path, "%s/%s", dir, needed[i]);
        if (!read_file(path, text[i], sizeof text[i]))
            return cdnopt_fail(err, CDNOPT_EINVAL,
                               "serve: --proc-dir '%s' has no readable %s (%s); the monitor "
                               "reads CPU and memory there, so give the proc file system, "
                               "/proc by default",
                               dir, needed[i], strerror(errno));
    }

    uint64_t busy = 0, total = 0;
    char shown[CDNOPT_QUOTE_SIZE];
    if (!parse_cpu(text[0], &busy, &total))
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "serve: --proc-dir '%s': stat does not start with a 'cpu ' line of at "
                           "least 4 unsigned numbers (its first line starts '%s'); the CPU alert "
                           "reads that line, so give the proc file system, /proc by default",
                           dir,
                           cdnopt_text_quote(shown, sizeof shown, text[0],
                                             strcspn(text[0], "\r\n"), CDNOPT_QUOTE_BYTES));
    double ratio = 0;
    const char *missing = parse_memory(text[1], &ratio);
    if (missing != NULL)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "serve: --proc-dir '%s': meminfo has no %s line with %s of kB; "
                           "the memory alert reads MemTotal and MemAvailable, so give the proc "
                           "file system, /proc by default",
                           dir, missing,
                           strcmp(missing, "MemTotal") == 0 ? "a positive number"
                                                            : "a number up to MemTotal");
    return CDNOPT_OK;
}

/* /proc/net/dev: two header lines, then "iface: rx_bytes and 7 more receive fields,
 * then tx_bytes ..." per interface. */
static bool read_network(serve_monitor *m, double *rx, double *tx)
{
    char buf[16384];
    if (!read_proc(m, PROC_NET_DEV, buf, sizeof buf))
        return false;
    *rx = 0;
    *tx = 0;
    for (const char *colon = strchr(buf, ':'); colon != NULL; colon = strchr(colon + 1, ':')) {
        unsigned long long r[9] = {0};
        if (parse_numbers(colon + 1, r, 9) == 9) {
            *rx += (double)r[0];
            *tx += (double)r[8];
        }
    }
    return true;
}

static double read_rss_bytes(serve_monitor *m)
{
    char buf[256];
    unsigned long long pages[2] = {0, 0};
    if (!read_proc(m, PROC_SELF_STATM, buf, sizeof buf) || parse_numbers(buf, pages, 2) != 2)
        return 0;
    return (double)pages[1] * (double)m->page_size;
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

/* Rationale for the clear line: a value that hovers around the threshold, such as traffic
 * at 795 to 805 Gbit/s against 800, would raise and clear the alert at every reading. That
 * floods the alert log and adds a worker at each CPU raise. So an active alert clears only
 * at or under threshold x (1 - alert_clear_margin), and a margin of 0 clears at the
 * threshold itself. */
double serve_monitor_clear_threshold(const serve_monitor *m, double threshold)
{
    return threshold * (1.0 - m->params.alert_clear_margin);
}

/* Set the alert's state from the event's value, and record the event when the state
 * changed. Returns true when it did. The caller fills every field except raised and
 * clear_threshold, which this function sets: raised becomes the alert's state after the
 * value. Called with the lock held. */
static bool update_alert(serve_monitor *m, monitor_alert *event)
{
    bool was_raised = m->active[event->kind];
    event->clear_threshold = serve_monitor_clear_threshold(m, event->threshold);
    event->raised = was_raised ? event->value > event->clear_threshold
                               : event->value > event->threshold;
    if (event->raised == was_raised)
        return false;
    m->active[event->kind] = event->raised;
    m->alerts[m->n_alerts % MONITOR_MAX_ALERTS] = *event;
    m->n_alerts++;
    return true;
}

static double wall_clock_s(void)
{
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    return (double)wall.tv_sec + (double)wall.tv_nsec * 1e-9;
}

static int64_t service_clock(const serve_monitor *m)
{
    return m->params.service_clock != NULL ? m->params.service_clock(m->params.user)
                                           : MONITOR_NO_TIME;
}

static void log_reading(const serve_monitor *m, const char *file, bool readable)
{
    if (readable)
        CDNOPT_LOG_INFO(SERVE_LOG, "event=proc_readable file=%s/%s", m->proc_dir, file);
    else
        CDNOPT_LOG_WARN(SERVE_LOG,
                        "event=proc_unreadable file=%s/%s error=\"cannot read or parse the "
                        "file; its readings are left out until it parses again\"",
                        m->proc_dir, file);
}

/* Rationale for judging a window: CPU readings 1 s apart are noisy. On a busy host they
 * cross a 90% threshold and its 85.5% clear line many times a minute, and each raise
 * adds a worker. So the CPU and memory alerts judge the mean over the last
 * window_readings readings, as Prometheus rate() and avg_over_time() do over a range.
 * The mean is chosen over a hold time (Prometheus `for:`) because one dip under the
 * threshold restarts a hold time, so a load that stays high on average but dips once per
 * hold time would not raise the alert. A spike of one reading moves the mean by only its
 * share of the window. The CPU mean is the busy share of all clock ticks in the window,
 * the difference of the counters at its two ends, so a reading that failed is spanned
 * like a gap. The memory mean is the mean of the good readings in the window. */

/* Record the reading in the window, then set *cpu and *memory to the window's means, or
 * NaN while the window is not yet full or contains no good reading. Called locked. */
static void window_means(serve_monitor *m, const monitor_sample *s, double *cpu, double *memory)
{
    size_t n = m->params.window_readings;
    size_t slots = n + 1;
    size_t k = m->n_taken; // index of this reading

    /* The reading n back leaves the memory mean as this one enters it. */
    if (k >= n) {
        double leaving = m->window[(k - n) % slots].memory_ratio;
        if (!isnan(leaving)) {
            m->window_memory_sum -= leaving;
            m->window_memory_n--;
        }
    }
    struct window_slot *slot = &m->window[k % slots];
    *slot = (struct window_slot){m->prev_busy, m->prev_total, s->memory_ratio};
    if (!isnan(s->memory_ratio)) {
        m->window_memory_sum += s->memory_ratio;
        m->window_memory_n++;
    }

    /* Subtracting leaves rounding error in the running sum, so it is summed afresh once
     * per pass over the ring, which keeps the cost per reading constant. */
    if (k % slots == 0) {
        m->window_memory_sum = 0;
        for (size_t i = 0; i < n && i <= k; i++) {
            double ratio = m->window[(k - i) % slots].memory_ratio;
            if (!isnan(ratio))
                m->window_memory_sum += ratio;
        }
    }

    *memory = k + 1 >= n && m->window_memory_n > 0
                  ? m->window_memory_sum / (double)m->window_memory_n
                  : NAN;
    *cpu = NAN;
    if (k >= n) {
        const struct window_slot *first = &m->window[(k - n) % slots];
        if (first->total > 0 && slot->total > first->total)
            *cpu = (double)(slot->busy - first->busy) / (double)(slot->total - first->total);
    }
}

static void take_sample(serve_monitor *m)
{
    double cpu_start = thread_cpu_s();
    monitor_sample s = {.unix_s = wall_clock_s()};
    double mono = cdnopt_clock_s();
    int64_t clock = service_clock(m);

    uint64_t busy = 0;
    uint64_t total = 0;
    bool have_cpu = read_cpu(m, &busy, &total);
    bool have_memory = read_memory(m, &s.memory_ratio);
    read_network(m, &s.net_rx_bytes, &s.net_tx_bytes);
    s.rss_bytes = read_rss_bytes(m);

    /* A reading that failed is NaN, never 0, so that it cannot hold an alert down. The
     * counters of the last good stat reading stay, and the next good one spans the gap. */
    if (!have_memory)
        s.memory_ratio = NAN;
    pthread_mutex_lock(&m->lock);
    if (!have_cpu)
        s.cpu_ratio = NAN;
    else if (total > m->prev_total)
        s.cpu_ratio = (double)(busy - m->prev_busy) / (double)(total - m->prev_total);
    double dt = mono - m->prev_mono_s;
    if (m->n_taken > 0 && dt > 0) {
        s.net_rx_bps = (s.net_rx_bytes - m->prev_rx) / dt;
        s.net_tx_bps = (s.net_tx_bytes - m->prev_tx) / dt;
    }
    if (have_cpu) {
        m->prev_busy = busy;
        m->prev_total = total;
    }
    double cpu_mean = NAN;
    double memory_mean = NAN;
    window_means(m, &s, &cpu_mean, &memory_mean);
    bool cpu_readable_changed = have_cpu == m->cpu_failing;
    bool memory_readable_changed = have_memory == m->memory_failing;
    m->cpu_failing = !have_cpu;
    m->memory_failing = !have_memory;
    m->prev_rx = s.net_rx_bytes;
    m->prev_tx = s.net_tx_bytes;
    m->prev_mono_s = mono;
    m->ring[m->n_taken % m->params.history] = s;
    m->n_taken++;

    /* The CPU alert waits for window_readings + 1 readings, because the first has no
     * counters to subtract, and the memory alert for window_readings. A reading that
     * failed judges neither alert, as before the window existed. */
    monitor_alert cpu = {.unix_s = s.unix_s,
                         .clock = clock,
                         .traffic_at = MONITOR_NO_TIME,
                         .kind = MONITOR_ALERT_CPU,
                         .value = cpu_mean,
                         .threshold = m->params.cpu_alert_ratio,
                         .window_s = m->params.window_s};
    monitor_alert memory = cpu;
    memory.kind = MONITOR_ALERT_MEMORY;
    memory.value = memory_mean;
    memory.threshold = m->params.memory_alert_ratio;
    bool cpu_changed = have_cpu && !isnan(cpu_mean) && update_alert(m, &cpu);
    bool memory_changed = have_memory && !isnan(memory_mean) && update_alert(m, &memory);
    m->cost_cpu_s += thread_cpu_s() - cpu_start;
    pthread_mutex_unlock(&m->lock);

    /* A file that stops parsing is logged once, and again once when it parses again. */
    if (cpu_readable_changed)
        log_reading(m, "stat", have_cpu);
    if (memory_readable_changed)
        log_reading(m, "meminfo", have_memory);

    /* Callbacks run unlocked: they take the pool's lock and log. */
    if (m->params.on_alert != NULL && cpu_changed)
        m->params.on_alert(m->params.user, &cpu);
    if (m->params.on_alert != NULL && memory_changed)
        m->params.on_alert(m->params.user, &memory);
}

void serve_monitor_check_traffic(serve_monitor *m, const int64_t *t, const double *gbps, size_t n)
{
    if (m->params.bandwidth_alert_gbps <= 0 || n == 0)
        return;
    monitor_alert event = {.unix_s = wall_clock_s(),
                           .clock = service_clock(m),
                           .kind = MONITOR_ALERT_BANDWIDTH,
                           .threshold = m->params.bandwidth_alert_gbps};

    /* Rationale for the history line: the alert is about current traffic, so an uploaded
     * history must not replay every past peak into the alert log. The line is 2 h before
     * the clock and not the CPU window of seconds, because a collector that stamps a
     * sample with the start of its grid step posts it after the step ends. So a current
     * sample of an hourly grid can be 1 h old plus the posting delay, and 2 h keeps such
     * samples while a history of days ago stays out. */
    int64_t history_before =
        event.clock != MONITOR_NO_TIME ? event.clock - SERVE_HISTORY_AGE_S : INT64_MIN;

    /* The events are copied out so that the callback runs unlocked, as in take_sample().
     * NOTE: a batch that changes the state more than MONITOR_MAX_ALERTS times loses its
     * older events from the ring, and the callback does not see them either. */
    monitor_alert changes[MONITOR_MAX_ALERTS];
    size_t n_changes = 0;
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < n; i++) {
        if (t[i] < m->traffic_newest || t[i] <= history_before)
            continue;
        m->traffic_newest = t[i];
        event.traffic_at = t[i];
        event.value = gbps[i];
        if (update_alert(m, &event))
            changes[n_changes++ % MONITOR_MAX_ALERTS] = event;
    }
    pthread_mutex_unlock(&m->lock);

    size_t n_kept = n_changes < MONITOR_MAX_ALERTS ? n_changes : MONITOR_MAX_ALERTS;
    for (size_t i = n_changes - n_kept; m->params.on_alert != NULL && i < n_changes; i++)
        m->params.on_alert(m->params.user, &changes[i % MONITOR_MAX_ALERTS]);
}

void serve_monitor_forget_traffic(serve_monitor *m, int64_t from, int64_t to,
                                  int64_t newest_kept)
{
    pthread_mutex_lock(&m->lock);
    if (m->traffic_newest >= from && m->traffic_newest < to)
        m->traffic_newest = newest_kept;
    pthread_mutex_unlock(&m->lock);
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
    size_t window_readings = params->window_readings > 0 ? params->window_readings : 1;
    struct window_slot *window = cdnopt_calloc(window_readings + 1, sizeof *window);
    if (m == NULL || ring == NULL || window == NULL) {
        cdnopt_free(m);
        cdnopt_free(ring);
        cdnopt_free(window);
        return cdnopt_fail(err, CDNOPT_ENOMEM, "serve: out of memory starting the monitor");
    }
    m->params = *params;
    m->params.history = history;
    m->params.window_readings = window_readings;
    m->ring = ring;
    m->window = window;
    snprintf(m->proc_dir, sizeof m->proc_dir, "%s", params->proc_dir);
    for (int i = 0; i < PROC_FILES; i++)
        m->fds[i] = -1;
    m->page_size = sysconf(_SC_PAGESIZE);
    m->traffic_newest = INT64_MIN;
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
    for (int i = 0; i < PROC_FILES; i++)
        if (m->fds[i] >= 0)
            close(m->fds[i]);
    pthread_cond_destroy(&m->stop_cond);
    pthread_mutex_destroy(&m->lock);
    cdnopt_free(m->ring);
    cdnopt_free(m->window);
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

/* A ratio, or null for a reading that failed (NaN). */
static json_t *ratio_json(double ratio)
{
    return isnan(ratio) ? json_null() : json_real(ratio);
}

static json_t *sample_json(const monitor_sample *s)
{
    return json_pack("{s:f, s:o, s:o, s:f, s:f, s:f}", "unix_s", s->unix_s, "cpu_ratio",
                     ratio_json(s->cpu_ratio), "memory_ratio", ratio_json(s->memory_ratio),
                     "rss_bytes", s->rss_bytes, "net_rx_bps", s->net_rx_bps, "net_tx_bps",
                     s->net_tx_bps);
}

void serve_monitor_check_forecast(serve_monitor *m, const int64_t *t, const double *critical,
                                  size_t n)
{
    if (m->params.bandwidth_alert_gbps <= 0 || n == 0)
        return;
    /* The running maximum stops at the first step above the threshold, so `at` ends on
     * that step, or on the highest step when none is above. */
    size_t at = 0;
    for (size_t i = 0; i < n && critical[at] <= m->params.bandwidth_alert_gbps; i++)
        if (critical[i] > critical[at])
            at = i;
    monitor_alert event = {.unix_s = wall_clock_s(),
                           .clock = service_clock(m),
                           .traffic_at = t[at],
                           .kind = MONITOR_ALERT_FORECAST,
                           .value = critical[at],
                           .threshold = m->params.bandwidth_alert_gbps};
    pthread_mutex_lock(&m->lock);
    bool changed = update_alert(m, &event);
    pthread_mutex_unlock(&m->lock);
    if (changed && m->params.on_alert != NULL)
        m->params.on_alert(m->params.user, &event);
}

/* Civil seconds as JSON text, or null for MONITOR_NO_TIME. */
static json_t *civil_json(int64_t t)
{
    if (t == MONITOR_NO_TIME)
        return json_null();
    char text[32];
    serve_format_time(t, text, sizeof text);
    return json_string(text);
}

static json_t *alert_json(const monitor_alert *a)
{
    bool is_traffic = a->kind == MONITOR_ALERT_BANDWIDTH || a->kind == MONITOR_ALERT_FORECAST;
    json_t *window = is_traffic ? json_null() : json_real(a->window_s);
    return json_pack("{s:f, s:o, s:o, s:s, s:s, s:f, s:f, s:s, s:f, s:o}", "unix_s", a->unix_s,
                     "clock", civil_json(a->clock), "traffic_at", civil_json(a->traffic_at),
                     "alert", monitor_alert_name(a->kind), "state",
                     a->raised ? "raised" : "cleared", "value", a->value, "threshold",
                     a->threshold, "unit", is_traffic ? "Gbit/s" : "ratio", "clear_threshold",
                     a->clear_threshold, "window_s", window);
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
    for (size_t i = m->n_alerts - n_alerts; i < m->n_alerts; i++)
        json_array_append_new(alerts, alert_json(&m->alerts[i % MONITOR_MAX_ALERTS]));
    for (int k = 0; k < MONITOR_ALERT_KINDS; k++)
        if (m->active[k])
            json_array_append_new(active, json_string(monitor_alert_name(k)));
    double interval_s = (double)m->params.interval_us * 1e-6;
    double cost = m->n_taken > 0 ? m->cost_cpu_s / (double)m->n_taken : 0;
    pthread_mutex_unlock(&m->lock);

    return json_pack("{s:o, s:o, s:o, s:f, s:f, s:f, s:f, s:I}", "samples", samples, "alerts",
                     alerts, "active_alerts", active, "interval_s", interval_s, "sample_cpu_s",
                     cost, "alert_clear_margin", m->params.alert_clear_margin, "alert_window_s",
                     m->params.window_s, "alert_window_readings",
                     (json_int_t)m->params.window_readings);
}
