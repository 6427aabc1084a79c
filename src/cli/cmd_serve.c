/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `cdnopt serve`: run the REST API, metrics and dashboard until SIGINT or
 * SIGTERM. The signal handler only sets a flag; the main thread notices it,
 * stops the server (which finishes queued writes and jobs) and exits 0.
 */
#include "cli_args.h"
#include "commands.h"

#include "cdnopt/core.h"
#include "cdnopt/serve.h"
#include "cdnopt/series.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef CDNOPT_WEB_DIR
#define CDNOPT_WEB_DIR NULL
#endif

static volatile sig_atomic_t stop_requested;

static void on_signal(int signo)
{
    (void)signo;
    stop_requested = 1;
}

/* Maximum length of the bearer token in --token-file, in bytes. */
#define TOKEN_MAX 512

/* Read the bearer token from the first line of path into token (TOKEN_MAX + 1 bytes).
 * Later lines are ignored, as the help text states. */
static int read_token(const char *path, char *token, char *err)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return cdnopt_fail(err, CDNOPT_EIO, "--token-file %s: cannot open it; check the path",
                           path);
    size_t n = fread(token, 1, TOKEN_MAX, f);
    bool failed = ferror(f) != 0;
    int read_errno = errno;
    fclose(f);
    if (failed)
        return cdnopt_fail(err, CDNOPT_EIO, "--token-file %s: cannot read it (%s); give a file",
                           path, strerror(read_errno));
    token[n] = '\0';
    char *newline = memchr(token, '\n', n);
    if (newline == NULL && n == TOKEN_MAX)
        return cdnopt_fail(err, CDNOPT_EINVAL, "--token-file %s: token is over %d bytes", path,
                           TOKEN_MAX - 1);
    if (newline != NULL) {
        *newline = '\0';
        n = (size_t)(newline - token);
    }

    /* Trailing spaces and a CR come from editors and `echo`, not the token. */
    while (n > 0 && (token[n - 1] == '\r' || token[n - 1] == ' '))
        token[--n] = '\0';
    if (n == 0)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "--token-file %s: the first line is empty; write the token on it",
                           path);

    /* An Authorization header cannot carry control characters, so no client could send
     * such a token and every write would get 401. */
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)token[i] < 0x20 || token[i] == 0x7f)
            return cdnopt_fail(err, CDNOPT_EINVAL,
                               "--token-file %s: the token has the control character 0x%02X "
                               "at byte %zu, which an HTTP header cannot carry; remove it",
                               path, (unsigned)(unsigned char)token[i], i + 1);
    return CDNOPT_OK;
}

/* "1s", "10ms", "500us" or any duration cdnopt_duration_parse accepts, in microseconds.
 * flag names the option in the error. */
static int parse_duration_us(const char *flag, const char *text, int64_t *out, char *err)
{
    char *end = NULL;
    double value = strtod(text, &end);
    if (end != text && value > 0 && (strcmp(end, "ms") == 0 || strcmp(end, "us") == 0)) {
        *out = (int64_t)(value * (strcmp(end, "ms") == 0 ? 1000.0 : 1.0));
        return CDNOPT_OK;
    }
    int64_t seconds = 0;
    if (cdnopt_duration_parse(text, &seconds, NULL) == CDNOPT_OK && seconds > 0) {
        *out = seconds * 1000000;
        return CDNOPT_OK;
    }
    return cdnopt_fail(err, CDNOPT_EINVAL, "%s '%s' is invalid; use e.g. 1s, 10ms or 1ms", flag,
                       text);
}

/* Parse the number of --alert-clear-margin. cdnopt_server_start() checks its range, so only
 * text that is not a number is rejected here. */
static int parse_clear_margin(const char *text, double *out, char *err)
{
    char *end = NULL;
    double value = strtod(text, &end);
    if (end == text || *end != '\0')
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "--alert-clear-margin '%s' is not a number; give a share in "
                           "[0, 1), such as 0.05",
                           text);
    *out = value;
    return CDNOPT_OK;
}

struct serve_flags {
    long port, min_workers, max_workers, http_threads, max_body_mb;
    const char *db, *model, *agent, *token_file, *now, *listen, *interval, *web_dir, *proc_dir;
    const char *clear_margin, *alert_window;
    double bandwidth_alert_gbps;
    bool sync_full;
};

static int apply_flags(const struct serve_flags *f, cdnopt_serve_params *p, char *token, char *err)
{
    p->port = (int)f->port;
    p->db_path = f->db;
    p->model_path = f->model;
    p->agent_path = f->agent;
    p->listen_addr = f->listen;
    p->min_workers = (int)f->min_workers;
    p->max_workers = (int)f->max_workers;
    p->http_threads = (int)f->http_threads;
    p->max_body_bytes = (size_t)f->max_body_mb << 20;
    p->synchronous_full = f->sync_full;
    p->bandwidth_alert_gbps = f->bandwidth_alert_gbps;
    /* The built-in default folder exists only when the build ran npm; serve rejects a
     * missing folder, so a missing default means no dashboard. */
    const char *default_web = CDNOPT_WEB_DIR;
    bool default_web_missing = f->web_dir != NULL && default_web != NULL &&
                               strcmp(f->web_dir, default_web) == 0 &&
                               access(f->web_dir, F_OK) != 0;
    p->web_dir = default_web_missing ? NULL : f->web_dir;
    p->proc_dir = f->proc_dir;

    int rc = parse_duration_us("--monitor-interval", f->interval, &p->monitor_interval_us, err);
    if (rc == CDNOPT_OK)
        rc = parse_duration_us("--alert-window", f->alert_window, &p->alert_window_us, err);
    if (rc == CDNOPT_OK)
        rc = parse_clear_margin(f->clear_margin, &p->alert_clear_margin, err);
    if (rc == CDNOPT_OK && f->now != NULL && cdnopt_civil_parse(f->now, &p->now, NULL) != 0)
        rc = cdnopt_fail(err, CDNOPT_EINVAL,
                         "--now '%s' is invalid; use local time \"YYYY-MM-DD HH:MM:SS\"", f->now);
    if (rc == CDNOPT_OK && f->token_file != NULL) {
        rc = read_token(f->token_file, token, err);
        p->token = token;
    }
    if (rc == CDNOPT_OK && p->min_workers > p->max_workers)
        rc = cdnopt_fail(err, CDNOPT_EINVAL, "--min-workers %d is above --max-workers %d",
                         p->min_workers, p->max_workers);
    return rc;
}

static void wait_for_signal(void)
{
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);

    struct timespec tick = {0, 100 * 1000 * 1000};
    while (!stop_requested)
        nanosleep(&tick, NULL);
}

int cdnopt_cmd_serve(int argc, char **argv)
{
    /* The flags' values are text, so the library's defaults are formatted into them for the
     * help. */
    char default_margin[32], default_window[32];
    cdnopt_serve_params defaults = cdnopt_serve_params_default();
    snprintf(default_margin, sizeof default_margin, "%g", defaults.alert_clear_margin);
    int64_t window_ms = defaults.alert_window_us / 1000;
    if (window_ms % 1000 == 0)
        snprintf(default_window, sizeof default_window, "%llds", (long long)(window_ms / 1000));
    else
        snprintf(default_window, sizeof default_window, "%lldms", (long long)window_ms);
    struct serve_flags f = {
        .port = 8000,
        .min_workers = 1,
        .max_workers = 4,
        .http_threads = 4,
        .max_body_mb = 32,
        .listen = "127.0.0.1",
        .interval = "1s",
        .web_dir = CDNOPT_WEB_DIR,
        .proc_dir = "/proc",
        .clear_margin = default_margin,
        .alert_window = default_window,
    };
    cdnopt_cli_option opts[] = {
        {"--port", CDNOPT_CLI_INT, &f.port, 0, 65535, "PORT", "TCP port; 0 picks a free one", false,
         false},
        {"--db", CDNOPT_CLI_OUTPUT, &f.db, 0, 0, "FILE", "SQLite database file", true, false},
        {"--model", CDNOPT_CLI_STRING, &f.model, 0, 0, "FILE", "forecasting model (HDF5)", false,
         false},
        {"--agent", CDNOPT_CLI_STRING, &f.agent, 0, 0, "FILE", "planning agent (HDF5)", false,
         false},
        {"--token-file", CDNOPT_CLI_STRING, &f.token_file, 0, 0, "FILE",
         "file whose first line is the bearer token mutating calls need", false, false},
        {"--now", CDNOPT_CLI_STRING, &f.now, 0, 0, "TIME",
         "service clock at start, local \"YYYY-MM-DD HH:MM:SS\" (default: wall clock)", false,
         false},
        {"--listen", CDNOPT_CLI_STRING, &f.listen, 0, 0, "ADDR", "IPv4 address to bind", false,
         false},
        {"--min-workers", CDNOPT_CLI_INT, &f.min_workers, 1, 256, "N", "smallest job pool", false,
         false},
        {"--max-workers", CDNOPT_CLI_INT, &f.max_workers, 1, 256, "N", "largest job pool", false,
         false},
        {"--http-threads", CDNOPT_CLI_INT, &f.http_threads, 1, 256, "N", "HTTP thread pool size",
         false, false},
        {"--monitor-interval", CDNOPT_CLI_STRING, &f.interval, 0, 0, "DURATION",
         "system sampling period, 1ms to 1h (e.g. 1s, 10ms)", false, false},
        {"--bandwidth-alert-gbps", CDNOPT_CLI_DOUBLE, &f.bandwidth_alert_gbps, 0, 1e6, "GBPS",
         "raise the bandwidth alert when an observed sample is above this many Gbit/s, "
         "and the forecast alert when a forecast's safety line is; 0 raises neither",
         false, false},
        {"--alert-clear-margin", CDNOPT_CLI_STRING, &f.clear_margin, 0, 0, "SHARE",
         "a raised alert clears only when its value falls to threshold x (1 - SHARE) or "
         "below, so a value hovering at the threshold does not flap; 0 to below 1",
         false, false},
        {"--alert-window", CDNOPT_CLI_STRING, &f.alert_window, 0, 0, "DURATION",
         "the CPU and memory alerts judge the mean of the readings in this window, so a short "
         "spike does not raise them; at least one --monitor-interval (e.g. 30s, 5m)",
         false, false},
        {"--max-body-mb", CDNOPT_CLI_INT, &f.max_body_mb, 1, 1024, "MB",
         "largest request body in MiB; larger ones get 413", false, false},
        {"--synchronous-full", CDNOPT_CLI_FLAG, &f.sync_full, 0, 0, "",
         "fsync the database log on every commit (PRAGMA synchronous=FULL)", false, false},
        {"--web-dir", CDNOPT_CLI_STRING, &f.web_dir, 0, 0, "DIR", "dashboard files for /monitor",
         false, false},
        {"--proc-dir", CDNOPT_CLI_STRING, &f.proc_dir, 0, 0, "DIR",
         "where the monitor reads /proc (tests point it at fake files)", false, false},
    };
    size_t n_opts = sizeof opts / sizeof opts[0];

    char err[CDNOPT_ERRMSG_MAX] = "";
    int rc = cdnopt_cli_parse(argc, argv, opts, n_opts, err);
    if (rc == CDNOPT_CLI_HELP) {
        cdnopt_cli_print_help(stdout, "serve --db FILE [options]",
                              "Serve the REST API (/api/v1), /metrics, /healthz and the /monitor "
                              "dashboard until SIGINT or SIGTERM.",
                              opts, n_opts);
        return CDNOPT_EXIT_OK;
    }

    char token[TOKEN_MAX + 1] = "";
    cdnopt_serve_params params = cdnopt_serve_params_default();
    if (rc == CDNOPT_OK)
        rc = apply_flags(&f, &params, token, err);

    cdnopt_server *server = NULL;
    if (rc == CDNOPT_OK)
        rc = cdnopt_server_start(&params, &server, err);
    memset(token, 0, sizeof token);

    /* The server's messages start with "serve: " for its own log, and the report
     * prints the command name already, so the prefix is dropped. */
    const char *message = strncmp(err, "serve: ", 7) == 0 ? err + 7 : err;
    if (rc != CDNOPT_OK)
        return cdnopt_cli_report_error("serve", rc, message);

    wait_for_signal();
    CDNOPT_LOG_INFO("serve", "event=signal action=stopping");
    cdnopt_server_stop(server);
    return CDNOPT_EXIT_OK;
}
