/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internals shared by the files of the serve module: the server object, the
 * per-request state, and the interfaces of metrics, monitor, writer and worker
 * pool. Nothing here is part of the public API.
 */
#ifndef CDNOPT_SERVE_IMPL_H
#define CDNOPT_SERVE_IMPL_H

#include "cdnopt/core.h"
#include "cdnopt/pipeline.h"
#include "cdnopt/serve.h"
#include "cdnopt/series.h"
#include "cdnopt/store.h"

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define SERVE_LOG "serve"

/* Largest accepted sample and bandwidth alert threshold: 1e6 Gbit/s (1 Pbit/s), far above
 * any CDN's total. */
#define SERVE_GBPS_MAX 1e6

/* Error for a CSV body line that a bare CR splits, as classic Mac OS line ends do; the
 * argument is the CSV line number. Line splitting is at LF only, so such a body reads as
 * one line. */
#define SERVE_BARE_CR_MESSAGE                                                                    \
    "CSV line %zu: a bare CR ends a line inside this one (classic Mac OS line ends); send "    \
    "LF or CRLF line ends"

/* ------------------------------------------------------------------------- */
/* Routes                                                                    */
/* ------------------------------------------------------------------------- */

/* X(enum suffix, label in metrics and logs). Append only: dashboards key on labels. */
#define SERVE_ROUTES(X)                                                                            \
    X(HEALTHZ, "/healthz")                                                                         \
    X(METRICS, "/metrics")                                                                         \
    X(MONITOR, "/monitor")                                                                         \
    X(RELEASES, "/api/v1/releases")                                                                \
    X(RELEASE, "/api/v1/releases/{id}")                                                            \
    X(RELEASE_CANCEL, "/api/v1/releases/{id}/cancel")                                              \
    X(SAMPLES, "/api/v1/samples")                                                                  \
    X(REPLAN, "/api/v1/replan")                                                                    \
    X(JOB, "/api/v1/jobs/{id}")                                                                    \
    X(SCHEDULE, "/api/v1/schedule")                                                                \
    X(FORECAST, "/api/v1/forecast")                                                                \
    X(SYSTEM, "/api/v1/system")                                                                    \
    X(UNKNOWN, "unknown")

enum serve_route {
#define SERVE_ROUTE_ENUM_(name, label) ROUTE_##name,
    SERVE_ROUTES(SERVE_ROUTE_ENUM_)
#undef SERVE_ROUTE_ENUM_
        ROUTE_COUNT
};

/** Label of a route for logs and metrics; static storage. */
const char *serve_route_label(enum serve_route route);

/** Whether a Content-Type value names the media type name. Media types compare without
 * case, and parameters such as "; charset=utf-8" are ignored. */
bool serve_media_type_is(const char *content_type, const char *name);

/* ------------------------------------------------------------------------- */
/* Metrics                                                                   */
/* ------------------------------------------------------------------------- */

/* Upper bounds of the latency histogram buckets in seconds; +Inf is implied. */
#define SERVE_LATENCY_BUCKETS 12

typedef struct serve_metrics serve_metrics;

int serve_metrics_new(serve_metrics **out);
void serve_metrics_free(serve_metrics *m);

/** Count one finished request and its latency in seconds. Thread-safe. */
void serve_metrics_observe(serve_metrics *m, enum serve_route route, int status, double seconds);

/** Count one group commit of n_requests create requests holding n_releases releases. */
void serve_metrics_commit(serve_metrics *m, size_t n_requests, size_t n_releases);

/** Set the latest planned and naive peaks in Gbit/s (shown as gauges). */
void serve_metrics_set_peaks(serve_metrics *m, double planned_gbps, double naive_gbps);

/** Count one request rejected because of load shedding. */
void serve_metrics_shed(serve_metrics *m);

struct cdnopt_server;

/**
 * Render every metric in the Prometheus text exposition format (version 0.0.4).
 * @return an owned string freed with cdnopt_free(), or NULL when out of memory.
 */
char *serve_metrics_render(struct cdnopt_server *server);

/* ------------------------------------------------------------------------- */
/* Monitor                                                                   */
/* ------------------------------------------------------------------------- */

/** One reading of the system. Ratios are in [0, 1]. */
typedef struct monitor_sample {
    double unix_s;       /* wall clock of the reading, seconds since the epoch */
    double cpu_ratio;    /* busy share of all CPUs since the previous good reading; NaN when
                            stat could not be read or parsed */
    double memory_ratio; /* 1 - MemAvailable / MemTotal; NaN when meminfo could not be
                            read or parsed */
    double rss_bytes;    /* resident memory of this process */
    double net_rx_bps;   /* bytes per second received on all interfaces */
    double net_tx_bps;   /* bytes per second sent on all interfaces */
    double net_rx_bytes; /* received bytes counter, all interfaces */
    double net_tx_bytes; /* sent bytes counter, all interfaces */
} monitor_sample;

/* Kinds of alert. CPU and memory come from the host's /proc readings. Bandwidth comes
 * from the observed samples posted to /api/v1/samples, and forecast from the safety line
 * of each forecast the server runs. Append only: the names are metric labels and API
 * values. */
enum monitor_alert_kind {
    MONITOR_ALERT_CPU = 0,
    MONITOR_ALERT_MEMORY = 1,
    MONITOR_ALERT_BANDWIDTH = 2,
    MONITOR_ALERT_FORECAST = 3,
    MONITOR_ALERT_KINDS
};

/* Largest alert window in readings. The monitor keeps two counters and a ratio per
 * reading of the window, 24 bytes, so this bounds that ring to 2.4 MB. */
#define SERVE_WINDOW_READINGS_MAX 100000

/* Samples this many seconds or more before the service clock are history: they are stored
 * but leave the bandwidth alert as it is. See serve_monitor_check_traffic(). */
#define SERVE_HISTORY_AGE_S 7200

/* Service-clock field of an alert that has no such time. */
#define MONITOR_NO_TIME INT64_MIN

/** One alert event, raised or cleared. It carries the host's time and the service
 * clock's, because a replay runs the service clock years away from the host's. */
typedef struct monitor_alert {
    double unix_s;                /* host wall clock when raised or cleared, seconds since
                                     the epoch (UTC) */
    int64_t clock;                /* service clock then, civil seconds, or MONITOR_NO_TIME */
    int64_t traffic_at;           /* civil seconds of the sample or forecast step the alert
                                     is about (bandwidth and forecast), else MONITOR_NO_TIME */
    enum monitor_alert_kind kind; /* what crossed its threshold */
    bool raised;                  /* true when raised, false when cleared */
    double value;                 /* the value compared: for CPU and memory the mean ratio
                                     over the alert window, Gbit/s for bandwidth and
                                     forecast */
    double threshold;             /* the threshold it crossed, in the unit of value */
    double clear_threshold;       /* an active alert clears at a value at or under this:
                                     threshold x (1 - alert_clear_margin), in the unit of
                                     value */
    double window_s;              /* cpu and memory: the averaging window of value, in
                                     seconds; 0 for bandwidth and forecast, which are judged
                                     per sample or forecast */
} monitor_alert;

typedef struct serve_monitor serve_monitor;

/** Called when an alert is raised or cleared: from the monitor thread for CPU and memory,
 * from the posting request's thread for bandwidth and from a job worker for forecast. The
 * event is borrowed for the call. */
typedef void (*monitor_alert_cb)(void *user, const monitor_alert *alert);

/** Returns the service clock in civil seconds. user is monitor_params.user. */
typedef int64_t (*monitor_clock_fn)(void *user);

typedef struct monitor_params {
    int64_t interval_us;            /* sampling period */
    size_t history;                 /* ring size in samples */
    const char *proc_dir;           /* "/proc" or a test folder with stat, meminfo, net/dev */
    double cpu_alert_ratio;         /* threshold of the CPU alert */
    double memory_alert_ratio;      /* threshold of the memory alert */
    double bandwidth_alert_gbps;    /* threshold of the bandwidth and forecast alerts in
                                       Gbit/s; 0: neither is raised */
    double alert_clear_margin;      /* share of each threshold, in [0, 1), by which a value
                                       must fall below it to clear an active alert */
    size_t window_readings;         /* readings whose mean the CPU and memory alerts judge,
                                       at least 1 */
    double window_s;                /* that window in seconds, reported with the alerts */
    monitor_alert_cb on_alert;      /* may be NULL */
    monitor_clock_fn service_clock; /* may be NULL: alerts then carry no service clock */
    void *user;                     /* passed to on_alert and service_clock */
} monitor_params;

int serve_monitor_start(const monitor_params *params, serve_monitor **out, char *err);
void serve_monitor_stop(serve_monitor *m);

/** Take one sample now, from the calling thread (tests use this with a fake /proc). */
void serve_monitor_sample_now(serve_monitor *m);

/**
 * Check the proc folder at start: stat must begin with a "cpu " line of at least 4
 * numbers, and meminfo must have MemTotal (positive) and MemAvailable in kB.
 * @return CDNOPT_OK or CDNOPT_EINVAL with a message naming the folder, the file and what
 *         is missing.
 */
int serve_monitor_check_proc(const char *dir, char *err);

/** Copy the latest sample; returns false when none was taken yet. */
bool serve_monitor_latest(serve_monitor *m, monitor_sample *out);

/**
 * Check observed samples against the bandwidth threshold, raising the bandwidth alert at
 * the first sample above it and clearing it at the first one back at or below its clear
 * threshold (threshold x (1 - alert_clear_margin)). Each
 * event records the sample's timestamp as traffic_at. Samples older than the newest one
 * checked before leave the alert as it is, so a backfill cannot flip today's state.
 * Samples SERVE_HISTORY_AGE_S or more before the service clock (an uploaded history)
 * leave it as it is too.
 * Does nothing while bandwidth_alert_gbps is 0. Thread-safe.
 * @param t    civil seconds of each sample, ascending
 * @param gbps each sample's value in Gbit/s
 */
void serve_monitor_check_traffic(serve_monitor *m, const int64_t *t, const double *gbps, size_t n);

/**
 * Forget the checked samples that DELETE /api/v1/samples removed. When the newest sample
 * checked lies in [from, to), newest_kept takes its place, so that a sample posted with a
 * wrong date ahead of the clock and then deleted no longer makes the current samples look
 * like a backfill. The alert keeps its state until the next sample is checked.
 * Thread-safe.
 * @param newest_kept civil seconds of the latest stored sample before from, or INT64_MIN
 */
void serve_monitor_forget_traffic(serve_monitor *m, int64_t from, int64_t to,
                                  int64_t newest_kept);

/**
 * Check a forecast's safety line against the bandwidth threshold. The forecast alert is
 * raised when a step lies above it, with that first step as traffic_at and its value. It
 * is cleared by a forecast that stays at or under the clear threshold (threshold x
 * (1 - alert_clear_margin)), with the forecast's highest step as traffic_at and value.
 * Does nothing while bandwidth_alert_gbps is 0. Thread-safe.
 * @param t        civil seconds of each forecast step
 * @param critical the safety line at each step in Gbit/s
 */
void serve_monitor_check_forecast(serve_monitor *m, const int64_t *t, const double *critical,
                                  size_t n);

/** Return the value at or under which an active alert of this threshold clears. */
double serve_monitor_clear_threshold(const serve_monitor *m, double threshold);

/** Whether an alert of this kind is active now. */
bool serve_monitor_alert_active(serve_monitor *m, enum monitor_alert_kind kind);

/** Cumulative CPU seconds spent sampling and the number of samples taken. */
void serve_monitor_cost(serve_monitor *m, double *cpu_s, uint64_t *n_samples);

/** Render history (last max_samples) and alerts as a JSON object; owned reference. */
json_t *serve_monitor_json(serve_monitor *m, size_t max_samples);

/** Short name of an alert kind ("cpu", "memory", "bandwidth", "forecast"). */
const char *monitor_alert_name(enum monitor_alert_kind kind);

/* ------------------------------------------------------------------------- */
/* Worker pool                                                               */
/* ------------------------------------------------------------------------- */

enum job_status { JOB_QUEUED, JOB_RUNNING, JOB_DONE, JOB_FAILED };

typedef struct serve_job serve_job;

/** Body of a job; fills job->result (owned JSON) or job->http_status and job->error. */
typedef void (*job_fn)(serve_job *job);

struct serve_job {
    uint64_t id;                            /* increasing job number */
    const char *kind;                       /* "replan" or "forecast" */
    job_fn run;                             /* the work */
    void *arg;                              /* owned by the job, freed with free_arg */
    void (*free_arg)(void *arg);            /* NULL when arg needs no freeing */
    struct cdnopt_server *server;           /* the server the job belongs to */
    _Atomic int status;                     /* enum job_status */
    json_t *result;                         /* result on success, owned */
    int http_status;                        /* HTTP status of the response on failure */
    char error_code[32];                    /* error code on failure */
    char error[CDNOPT_ERRMSG_MAX];          /* message on failure */
    double queued_s, started_s, finished_s; /* monotonic times */
    struct serve_request *waiter; /* suspended request to respond to on completion, or NULL */
    _Atomic int refs;             /* the pool's table and a waiting request hold references */
    serve_job *next;              /* queue link */
};

typedef struct serve_pool serve_pool;

/**
 * Start min_workers workers. A worker idle for idle_ms exits while more than
 * min_workers run; submits start workers up to max_workers.
 */
int serve_pool_new(int min_workers, int max_workers, size_t max_queue, int64_t idle_ms,
                   serve_pool **out, char *err);

/** Stop accepting jobs, finish the queued ones, join the workers and free the pool. */
void serve_pool_free(serve_pool *pool);

/**
 * Queue a job (the pool takes a reference). Grows the pool when the queue is
 * deeper than the idle workers.
 * @return CDNOPT_OK, or CDNOPT_EBUSY when the queue is full or the pool stops.
 */
int serve_pool_submit(serve_pool *pool, serve_job *job);

/** Find a recent job by id and take a reference, or return NULL. */
serve_job *serve_pool_find(serve_pool *pool, uint64_t id);

/** Drop a reference; the last one frees the job. */
void serve_job_release(serve_job *job);

/** Add one worker up to the maximum (the CPU alert's response). */
void serve_pool_scale_out(serve_pool *pool);

/** Retire every worker after its current job and start fresh ones (the memory alert). */
void serve_pool_recycle(serve_pool *pool);

/** Queue depth, live workers and busy workers, for metrics. */
void serve_pool_stats(serve_pool *pool, size_t *depth, int *workers, int *busy, uint64_t *recycles);

/** Allocate a job with one reference; NULL when out of memory. */
serve_job *serve_job_new(struct cdnopt_server *server, const char *kind, job_fn run, void *arg,
                         void (*free_arg)(void *));

/** A job as JSON ({"id", "kind", "status", ...}); owned reference. */
json_t *serve_job_json(const serve_job *job);

/* ------------------------------------------------------------------------- */
/* Requests                                                                  */
/* ------------------------------------------------------------------------- */

/** Outcome of serve_path_decode(). */
enum serve_path_status {
    SERVE_PATH_OK,
    SERVE_PATH_BAD_ESCAPE, /* a '%' not followed by two hex digits */
    SERVE_PATH_NUL,        /* "%00", which a C string cannot hold */
    SERVE_PATH_TOO_LONG    /* the decoded text needs more than size bytes */
};

/** State of one HTTP request, from its first header to its completion. */
typedef struct serve_request {
    uint64_t id;                           /* request id, also sent as X-Request-Id */
    double started_s;                      /* monotonic time of the first callback */
    enum serve_route route;                /* matched route */
    const char *method;                    /* borrowed from libmicrohttpd */
    char path_id[CDNOPT_STORE_ID_MAX * 3]; /* {id} segment of the path, decoded */
    enum serve_path_status path_status;    /* outcome of decoding path_id */
    struct MHD_Connection *conn;           /* the connection, for resume */
    char *body;                            /* request body, owned, NUL-terminated */
    size_t body_len, body_cap;             /* bytes used and allocated */
    bool body_too_large;                   /* the body passed max_body_bytes */
    bool answered;                         /* a response was queued */
    bool suspended;                        /* waiting for another thread to respond */
    _Atomic bool ready;                    /* a suspended request has its response */
    int status;                            /* response status */
    char *response;                        /* response body, owned */
    const char *content_type;              /* of the response, static */
    int retry_after_s;                     /* > 0 adds Retry-After */
    char allow[32];                        /* Allow header for 405 */
    char location[CDNOPT_STORE_ID_MAX * 3 + 32]; /* Location header, or empty */

    /* A create waiting for the writer: its releases and the outcome. */
    cdnopt_store_release *releases; /* owned array of n_releases */
    size_t n_releases;
    bool batch;       /* request body was a batch */
    size_t *csv_lines; /* owned CSV line of each release of a text/csv body, else NULL */
    int write_rc;     /* store result */
    size_t bad_index; /* failing release index */
    char write_err[CDNOPT_ERRMSG_MAX];
    struct serve_request *next; /* writer queue link */
} serve_request;

/** Set a JSON response (takes the reference to body). */
void serve_respond_json(serve_request *req, int status, json_t *body);

/**
 * Set an error response {"error": {"code", "message", "field"}}. field may be NULL.
 */
void serve_respond_error(serve_request *req, int status, const char *code, const char *field,
                         const char *fmt, ...) CDNOPT_FORMAT(5, 6);

/** Set a plain-text or other response (copies text). */
void serve_respond_text(serve_request *req, int status, const char *content_type, const char *text,
                        size_t len);

/**
 * Suspend the request's connection before handing it to another thread; call
 * it before the hand-over so that an early resume cannot be lost.
 */
void serve_request_suspend(serve_request *req);

/** Wake a suspended request whose response was set from another thread. */
void serve_request_resume(serve_request *req);

/* ------------------------------------------------------------------------- */
/* Group-commit writer                                                       */
/* ------------------------------------------------------------------------- */

typedef struct serve_writer serve_writer;

int serve_writer_start(cdnopt_store *store, serve_metrics *metrics, serve_writer **out, char *err);

/** Commit what is queued, stop the thread and free the writer. */
void serve_writer_stop(serve_writer *w);

/**
 * Queue a suspended create request; the writer fills write_rc, bad_index and
 * write_err, sets the response through finish() and resumes the request after
 * its commit. After serve_writer_stop() began, it responds 503 at once.
 */
void serve_writer_submit(serve_writer *w, serve_request *req, void (*finish)(serve_request *req));

/** Requests waiting for the next commit. */
size_t serve_writer_depth(serve_writer *w);

/* ------------------------------------------------------------------------- */
/* Forecaster                                                                */
/* ------------------------------------------------------------------------- */

typedef struct serve_forecaster serve_forecaster;

/** Load a model file and its calibration (optional in the file). */
int serve_forecaster_open(const char *path, serve_forecaster **out, char *err);
void serve_forecaster_close(serve_forecaster *f);
bool serve_forecaster_calibrated(const serve_forecaster *f);
int64_t serve_forecaster_step_s(const serve_forecaster *f);

/** Observed steps the model reads before the forecast origin (its input window). */
int serve_forecaster_window(const serve_forecaster *f);

/**
 * Forecast horizon steps after the end of history. Thread-safe.
 * @param n_samples MC paths, or 0 for the pipeline's default.
 * @param out freed with cdnopt_forecast_result_free().
 */
int serve_forecaster_run(serve_forecaster *f, const cdnopt_series *history, int horizon,
                         int n_samples, cdnopt_forecast_result **out, char *err);

/**
 * The line a re-plan against the forecast plans on, as `cdnopt plan --history` does:
 * the combined forecast (model, weekly naive, daily profile) plus one constant margin
 * from its backtest on the end of history. Thread-safe.
 * @param out receives horizon steps after history, freed with cdnopt_series_free().
 */
int serve_forecaster_plan_line(serve_forecaster *f, const cdnopt_series *history, int horizon,
                               cdnopt_series **out, char *err);

/* ------------------------------------------------------------------------- */
/* The server                                                                */
/* ------------------------------------------------------------------------- */

struct cdnopt_server {
    cdnopt_serve_params params; /* copy; strings point into owned copies below */
    char *listen_addr, *db_path, *model_path, *agent_path, *token, *web_dir, *proc_dir;
    double clock_origin_s;        /* monotonic time at start */
    int64_t now_at_start;         /* civil seconds of the service clock at start */
    struct MHD_Daemon *daemon;    /* libmicrohttpd */
    int port;                     /* bound port */
    cdnopt_store *store;          /* database */
    serve_metrics *metrics;       /* counters and histograms */
    serve_monitor *monitor;       /* /proc sampler */
    serve_pool *pool;             /* job workers */
    serve_writer *writer;         /* group commit */
    serve_forecaster *forecaster; /* --model, or NULL */
    struct cdnopt_agent *agent;   /* --agent, or NULL; used under plan_lock */
    _Atomic uint64_t next_request_id;
    _Atomic uint64_t next_job_id;
    pthread_mutex_t plan_lock; /* one re-plan at a time */
};

/** The service clock in civil seconds. */
int64_t serve_now(const struct cdnopt_server *server);

/* Route handlers; each sets a response or suspends the request. */
void serve_route_releases(struct cdnopt_server *server, serve_request *req);
void serve_route_release(struct cdnopt_server *server, serve_request *req);
void serve_route_release_cancel(struct cdnopt_server *server, serve_request *req);
void serve_route_samples(struct cdnopt_server *server, serve_request *req);
void serve_route_replan(struct cdnopt_server *server, serve_request *req);
void serve_route_job(struct cdnopt_server *server, serve_request *req);
void serve_route_schedule(struct cdnopt_server *server, serve_request *req);
void serve_route_forecast(struct cdnopt_server *server, serve_request *req);
void serve_route_system(struct cdnopt_server *server, serve_request *req);

/** Value of a query-string argument, or NULL. */
const char *serve_query(const serve_request *req, const char *key);

/** Read the optional integer query parameter key into *value, which stays as it is when
 * the parameter is absent. Returns false after a 400 naming the parameter and its bounds
 * from min to max in unit. */
bool serve_query_integer(serve_request *req, const char *key, long min, long max,
                         const char *unit, long *value);

/** Parse local time text as cdnopt_civil_parse() does; false when invalid. */
bool serve_parse_time(const char *text, int64_t *out);

/** Format civil seconds as "YYYY-MM-DD HH:MM:SS" into buf (>= 20 bytes). */
void serve_format_time(int64_t t, char *buf, size_t size);

/** Copy text into out (size bytes) as a log value: quotes, backslashes and control bytes are
 *  escaped so that the record stays on one line of key="value" pairs. Long text is cut. */
void serve_escape_log_value(const char *text, char *out, size_t size);


/**
 * Read the stored samples with from <= t < to as a regular series.
 * @return CDNOPT_OK, CDNOPT_ENOTFOUND (no samples), CDNOPT_EINVAL (gaps or an
 *         irregular step; err names the first break), CDNOPT_EDB, CDNOPT_ENOMEM.
 */
int serve_load_series(struct cdnopt_server *server, int64_t from, int64_t to, cdnopt_series **out,
                      char *err);

/**
 * Convert a text/csv body of releases into a JSON array of release objects, one per
 * line after the header. *lines receives each object's CSV line number (the caller
 * frees it with cdnopt_free). Returns NULL after sending a 400 or 503 response.
 */
json_t *serve_release_csv_items(serve_request *req, size_t **lines);

/** JSON of one stored release; owned reference. */
json_t *serve_release_json(const cdnopt_store_release *r);

/** Whether new jobs are shed now (memory alert); sets a 503 response when so. */
bool serve_shed_job(struct cdnopt_server *server, serve_request *req);

/**
 * Write value as compact JSON text with each real in its shortest exact form: whole
 * numbers below 2^53 without a fraction ("98884"), others with the fewest significant
 * digits that parse back to the same double ("565.4").
 * @return an owned string freed with cdnopt_free(), or NULL when out of memory or when
 *         jansson cannot encode the value.
 */
char *serve_json_dumps(const json_t *value);

/** Format a double as serve_json_dumps() writes reals, into buf (>= 32 bytes). */
void serve_format_real(double value, char *buf, size_t size);

/** Percent-decode the len bytes of one raw path segment into out (size bytes, NUL-ended). */
enum serve_path_status serve_path_decode(const char *raw, size_t len, char *out, size_t size);

/** Percent-encode text as one path segment into out (size bytes); longer text is cut. */
void serve_path_encode(const char *text, char *out, size_t size);

/** Parse the request body as JSON or set a 400 response and return NULL. */
json_t *serve_parse_body(serve_request *req);

#endif /* CDNOPT_SERVE_IMPL_H */
