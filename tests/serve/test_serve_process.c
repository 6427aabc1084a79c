/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests that run `cdnopt serve` as a child process: durability across kill -9
 * during a stream of creates, graceful stop on SIGTERM, and the command's flag
 * errors. The binary is found through CDNOPT_BUILD_DIR, which CTest sets.
 */
#include "cdnopt/core.h"
#include "http_client.h"
#include "testutil.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *binary(char *buf, size_t size)
{
    const char *dir = getenv("CDNOPT_BUILD_DIR");
    if (dir == NULL)
        fail_msg("CDNOPT_BUILD_DIR is not set; run the test through ctest");
    snprintf(buf, size, "%s/bin/cdnopt", dir);
    return buf;
}

static void pause_ms(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

/* Bytes in the file at path, 0 when it does not exist yet. */
static long file_size(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return 0;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    return size;
}

/* The port of the first "event=start" line of log past byte offset, or 0 before the
 * server has written it. */
static int logged_port(const char *log, long offset)
{
    FILE *f = fopen(log, "r");
    if (f == NULL)
        return 0;
    fseek(f, offset, SEEK_SET);
    char line[1024];
    int port = 0;
    while (port == 0 && fgets(line, sizeof line, f) != NULL) {
        const char *start = strstr(line, "event=start ");
        const char *field = start != NULL ? strstr(start, " port=") : NULL;
        if (field != NULL)
            port = atoi(field + strlen(" port="));
    }
    fclose(f);
    return port;
}

/*
 * Start `cdnopt serve` on a port the kernel picks (--port 0) with the clock at now and
 * stderr appended to log, and set *port from its start line. A port chosen beforehand
 * could be taken by a test running beside this one before the server binds it, and the
 * health check would then reach the other test's server. The NULL-terminated arguments
 * extra (none when NULL) follow the common ones. Returns the server's pid once /healthz
 * returns 200.
 */
static pid_t spawn_server_at(int *port, const char *db, const char *log, const char *now,
                             const char *const *extra)
{
    char exe[600];
    binary(exe, sizeof exe);
    const char *argv[24] = {exe, "serve", "--port", "0", "--db", db, "--now", now,
                            "--http-threads", "4"};
    size_t argc = 10;
    for (size_t i = 0; extra != NULL && extra[i] != NULL; i++) {
        assert_true(argc + 1 < sizeof argv / sizeof argv[0]);
        argv[argc++] = extra[i];
    }

    long log_offset = file_size(log);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        FILE *err = freopen(log, "a", stderr);
        (void)err;
        execv(exe, (char *const *)argv);
        _exit(127);
    }

    *port = 0;
    for (int i = 0; i < 200; i++) {
        if (*port == 0)
            *port = logged_port(log, log_offset);
        if (*port == 0 && waitpid(pid, NULL, WNOHANG) == pid)
            fail_msg("cdnopt serve exited before it started; see %s", log);
        http_response r = {0};
        if (*port != 0)
            r = http_request(*port, "GET", "/healthz", NULL, NULL, 0);
        int status = r.status;
        http_response_free(&r);
        if (status == 200)
            return pid;
        pause_ms(25);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    fail_msg("cdnopt serve did not come up (port %d); see %s", *port, log);
    return -1;
}

/* spawn_server_at() with the clock at 2004-12-14 00:00:00, the day workload's first
 * sample. */
static pid_t spawn_server(int *port, const char *db, const char *log, const char *const *extra)
{
    return spawn_server_at(port, db, log, "2004-12-14 00:00:00", extra);
}

/* ------------------------------------------------------------------------- */
/* kill -9 during creates                                                    */
/* ------------------------------------------------------------------------- */

#define CRASH_THREADS 4
#define CRASH_MAX_PER_THREAD 5000

struct creator {
    int port;
    int index;
    int n_acked;                     /* creates that got 201 */
    int acked[CRASH_MAX_PER_THREAD]; /* sequence numbers of acknowledged creates */
    atomic_int *total;               /* shared count of acknowledgements */
};

static void *create_until_refused(void *arg)
{
    struct creator *c = arg;
    for (int i = 0; i < CRASH_MAX_PER_THREAD; i++) {
        char json[256];
        snprintf(json, sizeof json,
                 "{\"id\":\"k%d-%d\",\"size_mb\":10,\"users\":100,\"planned_at\":\"2004-12-14 "
                 "10:00:00\"}",
                 c->index, i);
        http_response r = http_post_json(c->port, "/api/v1/releases", json, NULL);
        int status = r.status;
        http_response_free(&r);
        if (status == 201) {
            c->acked[c->n_acked++] = i;
            atomic_fetch_add(c->total, 1);
        } else if (status < 0) {
            break; // the server is gone
        }
    }
    return NULL;
}

static void acknowledged_creates_survive_kill(void **state)
{
    (void)state;
    char dir[512];
    cdnopt_test_scratch_dir(dir, sizeof dir, "serve-crash");
    char db[600];
    char log[600];
    snprintf(db, sizeof db, "%s/crash.db", dir);
    snprintf(log, sizeof log, "%s/server.log", dir);
    int port = 0;
    pid_t pid = spawn_server(&port, db, log, (const char *[]){"--synchronous-full", NULL});

    atomic_int total = 0;
    static struct creator creators[CRASH_THREADS];
    pthread_t threads[CRASH_THREADS];
    for (int i = 0; i < CRASH_THREADS; i++) {
        creators[i] = (struct creator){.port = port, .index = i, .total = &total};
        pthread_create(&threads[i], NULL, create_until_refused, &creators[i]);
    }

    /* Kill mid-stream, once a few hundred creates were acknowledged. */
    for (int i = 0; i < 6000 && atomic_load(&total) < 400; i++)
        pause_ms(5);
    assert_int_equal(kill(pid, SIGKILL), 0);
    int status = 0;
    waitpid(pid, &status, 0);
    assert_true(WIFSIGNALED(status));
    for (int i = 0; i < CRASH_THREADS; i++)
        pthread_join(threads[i], NULL);
    int acked = atomic_load(&total);
    assert_true(acked >= 50); // 400 unless the machine is very slow; any number shows loss

    /* Restart on the same file: every acknowledged id must be there. */
    pid = spawn_server(&port, db, log, NULL);
    int missing = 0;
    for (int t = 0; t < CRASH_THREADS; t++) {
        for (int k = 0; k < creators[t].n_acked; k++) {
            char path[96];
            snprintf(path, sizeof path, "/api/v1/releases/k%d-%d", t, creators[t].acked[k]);
            http_response r = http_request(port, "GET", path, NULL, NULL, 0);
            if (r.status != 200) {
                fprintf(stderr, "acknowledged release %s is missing (status %d)\n", path, r.status);
                missing++;
            }
            http_response_free(&r);
        }
    }
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    fprintf(stderr,
            "crash test: %d creates acknowledged before kill -9, %d missing after restart\n", acked,
            missing);
    assert_int_equal(missing, 0);
}

/* ------------------------------------------------------------------------- */
/* Graceful stop and flag errors                                             */
/* ------------------------------------------------------------------------- */

static char *read_log(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char text[1 << 16];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

static void sigterm_stops_gracefully(void **state)
{
    (void)state;
    char dir[512];
    cdnopt_test_scratch_dir(dir, sizeof dir, "serve-sigterm");
    char db[600];
    char log[600];
    snprintf(db, sizeof db, "%s/stop.db", dir);
    snprintf(log, sizeof log, "%s/server.log", dir);
    int port = 0;
    pid_t pid = spawn_server(&port, db, log, NULL);

    assert_int_equal(kill(pid, SIGTERM), 0);
    int status = -1;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    const char *text = read_log(log);
    cdnopt_assert_contains(text, "event=start");
    cdnopt_assert_contains(text, "route=/healthz status=200 latency_ms=");
    cdnopt_assert_contains(text, "event=signal action=stopping");
    cdnopt_assert_contains(text, "event=stop");
}

static int run_capture(const char *args, char *out, size_t size)
{
    char exe[600];
    char command[2048];
    int n = snprintf(command, sizeof command, "%s %s", binary(exe, sizeof exe), args);
    if (n < 0 || (size_t)n >= sizeof command)
        fail_msg("command line of %d bytes is too long for the test runner", n);
    return cdnopt_test_run_shell(command, out, size);
}

static void serve_flags_rejected(void **state)
{
    (void)state;
    char out[4096];
    char dir[512];
    char args[2048];
    cdnopt_test_scratch_dir(dir, sizeof dir, "serve-flags");
    snprintf(args, sizeof args, "serve --db %s/x.db --listen localhost", dir);
    assert_int_equal(run_capture(args, out, sizeof out), 2);
    cdnopt_assert_contains(out, "'localhost' is not an IPv4 address");

    assert_int_equal(run_capture("serve --port 0", out, sizeof out), 2);
    cdnopt_assert_contains(out, "--db");
    assert_int_equal(run_capture("serve --db /tmp/x.db --now yesterday", out, sizeof out), 2);
    cdnopt_assert_contains(out, "--now 'yesterday' is invalid");
    assert_int_equal(run_capture("serve --db /tmp/x.db --monitor-interval 5x", out, sizeof out), 2);
    cdnopt_assert_contains(out, "--monitor-interval '5x' is invalid");
    snprintf(args, sizeof args, "serve --db %s/x.db --monitor-interval 2h", dir);
    assert_int_equal(run_capture(args, out, sizeof out), 2);
    cdnopt_assert_contains(out, "--monitor-interval 2h is outside 1ms to 1h");
    snprintf(args, sizeof args, "serve --db %s/x.db --web-dir /nonexistent-cdnopt-web", dir);
    assert_int_equal(run_capture(args, out, sizeof out), 2);
    cdnopt_assert_contains(out, "--web-dir '/nonexistent-cdnopt-web' cannot be read");
    assert_int_equal(
        run_capture("serve --db /tmp/x.db --token-file /nonexistent/token", out, sizeof out), 1);
    cdnopt_assert_contains(out, "--token-file /nonexistent/token: cannot open it");

    /* SQLite's own message named neither the folder nor the fix. */
    snprintf(args, sizeof args, "serve --db %s", dir);
    assert_int_equal(run_capture(args, out, sizeof out), 2);
    cdnopt_assert_contains(out, "is a folder; give a file name");
    assert_int_equal(run_capture("serve --db /nonexistent-cdnopt/x.db", out, sizeof out), 2);
    cdnopt_assert_contains(out, "folder '/nonexistent-cdnopt' does not exist; create it");

    /* A folder used to read as an empty file. */
    snprintf(args, sizeof args, "serve --db %s/x.db --token-file %s", dir, dir);
    assert_int_equal(run_capture(args, out, sizeof out), 1);
    cdnopt_assert_contains(out, "cannot read it (Is a directory)");
    char token[600];
    snprintf(token, sizeof token, "%s/token", dir);
    cdnopt_test_write_file(token, "ab\tc\n");
    snprintf(args, sizeof args, "serve --db %s/x.db --token-file %s", dir, token);
    assert_int_equal(run_capture(args, out, sizeof out), 2);
    cdnopt_assert_contains(out, "the token has the control character 0x09 at byte 3");

    /* Proc files that do not parse used to read as 0% CPU and memory. */
    char path[700];
    snprintf(path, sizeof path, "%s/stat", dir);
    cdnopt_test_write_file(path, "cpu  1 0 0 1 0 0 0 0\n");
    snprintf(path, sizeof path, "%s/meminfo", dir);
    cdnopt_test_write_file(path, "MemTotal: 1000 kB\n");
    snprintf(args, sizeof args, "serve --db %s/x.db --proc-dir %s", dir, dir);
    assert_int_equal(run_capture(args, out, sizeof out), 2);
    cdnopt_assert_contains(out, "meminfo has no MemAvailable line with a number up to MemTotal of kB");
}

/* ------------------------------------------------------------------------- */
/* Forecast with a trained model                                             */
/* ------------------------------------------------------------------------- */

static char *read_file_text(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)size + 1);
    assert_int_equal(fread(text, 1, (size_t)size, f), (size_t)size);
    text[size] = '\0';
    fclose(f);
    *len = (size_t)size;
    return text;
}

/* Numbers of a JSON array of numbers named key inside text, in order. */
static int json_numbers(const char *text, const char *key, double *out, int max)
{
    char needle[64];
    snprintf(needle, sizeof needle, "\"%s\":[", key);
    const char *at = strstr(text, needle);
    if (at == NULL)
        return 0;
    at += strlen(needle);
    int n = 0;
    while (n < max && *at != ']') {
        char *end = NULL;
        out[n++] = strtod(at, &end);
        at = *end == ',' ? end + 1 : end;
    }
    return n;
}

/* Assert that a request gets status and that its body contains needle. */
static void expect_status(int port, const char *method, const char *path, const char *type,
                          const char *body, int status, const char *needle)
{
    http_response r = http_request(port, method, path, type, body, body != NULL ? strlen(body) : 0);
    if (r.status != status)
        fail_msg("%s %s: expected %d, got %d: %s", method, path, status, r.status,
                 r.body != NULL ? r.body : "");
    cdnopt_assert_contains(r.body, needle);
    http_response_free(&r);
}

/* The forecast's horizon is at most 7 days of the model's 300 s steps, and samples 500. */
static void check_forecast_bounds(int port)
{
    expect_status(port, "GET", "/api/v1/forecast?horizon=20000&samples=10", NULL, NULL, 400,
                  "query parameter 'horizon' is '20000'; give an integer from 0 to 2016 steps");
    expect_status(port, "GET", "/api/v1/forecast?horizon=3&samples=1000", NULL, NULL, 400,
                  "query parameter 'samples' is '1000'; give an integer from 2 to 500 paths");
    expect_status(port, "GET", "/api/v1/forecast?horizon=3x", NULL, NULL, 400,
                  "\"field\":\"horizon\"");
    expect_status(port, "GET", "/api/v1/forecast?horizon=2016&samples=2", NULL, NULL, 200,
                  "\"timestamps\":[\"2004-12-14 00:00:00\"");
}

/* Old samples and gaps outside the steps a forecast reads do not stop it, and a sample more
 * than 366 days back or off the model's grid is rejected without moving the grid. */
static void check_stray_samples_ignored(int port)
{
    const char *csv_type = "Content-Type: text/csv\r\n";
    expect_status(port, "POST", "/api/v1/samples", csv_type, "1900-01-01 00:00:00,600\n", 422,
                  "CSV line 1 timestamp is 1900-01-01 00:00:00, more than 366 days before the "
                  "service clock 2004-12-14 00:00:00");
    expect_status(port, "POST", "/api/v1/samples", csv_type, "2004-11-18 09:30:07,600\n", 422,
                  "off the samples' grid of 300 s steps from 2004-11-19 09:30:00");

    /* A sample before the history starts, then an hour deleted 19 days back. */
    expect_status(port, "POST", "/api/v1/samples", csv_type, "2004-11-18 09:30:00,600\n", 201,
                  "\"stored\":1");
    expect_status(port, "DELETE",
                  "/api/v1/samples?from=2004-11-25%2010:00:00&to=2004-11-25%2011:00:00", NULL,
                  NULL, 200, "\"deleted\":12");
    expect_status(port, "GET", "/api/v1/forecast?horizon=3&samples=10", NULL, NULL, 200,
                  "\"timestamps\":[\"2004-12-14 00:00:00\",\"2004-12-14 00:05:00\","
                  "\"2004-12-14 00:10:00\"]");

    /* The next live sample still lies on the 300 s grid. */
    expect_status(port, "POST", "/api/v1/samples", csv_type, "2004-12-14 00:05:00,530\n", 201,
                  "\"stored\":1");
}

/* The forecast raised the forecast alert at its first 5-minute step from 2004-12-14
 * 00:00:00 whose safety line is above the server's 1 Gbit/s threshold, with that step's
 * value. */
static void check_forecast_alert(int port, const double *critical, int horizon)
{
    int first = 0;
    while (first < horizon && critical[first] <= 1)
        first++;
    if (first == horizon)
        fail_msg("no forecast step is above 1 Gbit/s, so no forecast alert can be checked");
    char expected[160];
    snprintf(expected, sizeof expected,
             "\"traffic_at\":\"2004-12-14 %02d:%02d:00\",\"alert\":\"forecast\","
             "\"state\":\"raised\",\"value\":",
             first * 5 / 60, first * 5 % 60);
    http_response r = http_request(port, "GET", "/api/v1/system", NULL, NULL, 0);
    assert_int_equal(r.status, 200);
    const char *at = strstr(r.body, expected);
    if (at == NULL)
        fail_msg("no alert %s in %s", expected, r.body);
    assert_float_equal(strtod(at + strlen(expected), NULL), critical[first], 0);
    cdnopt_assert_contains(r.body, "\"active_alerts\":[\"bandwidth\",\"forecast\"]");
    http_response_free(&r);
}

/* A model trained for two epochs is enough to check the wiring: the forecast
 * route returns the horizon with lower <= mean <= upper <= critical, and a
 * re-plan against the forecast succeeds. Its accuracy is not checked here. */
static void forecast_with_trained_model(void **state)
{
    (void)state;
    char dir[512];
    cdnopt_test_scratch_dir(dir, sizeof dir, "serve-forecast");
    char exe[600];
    char history[512];
    char command[2400];
    cdnopt_test_shared_path(history, sizeof history, "workloads/day/history.csv");
    snprintf(command, sizeof command,
             "%s -q train --data %s --epochs 2 --units 8 --window 6h --max-windows 128 "
             "--out %s/model.h5 > %s/train.log 2>&1",
             binary(exe, sizeof exe), history, dir, dir);
    assert_int_equal(system(command), 0);

    char db[600];
    char log[600];
    char model[700];
    snprintf(db, sizeof db, "%s/forecast.db", dir);
    snprintf(log, sizeof log, "%s/server.log", dir);
    snprintf(model, sizeof model, "%s/model.h5", dir);
    int port = 0;
    /* A threshold of 1 Gbit/s lets the forecast alert show which step it names. */
    pid_t pid =
        spawn_server(&port, db, log,
                     (const char *[]){"--model", model, "--bandwidth-alert-gbps", "1", NULL});

    /* A sample after the clock does not count towards the model's 6 h window of 72 steps. */
    const char *late = "2004-12-14 01:00:00,5\n";
    http_response r = http_request(port, "POST", "/api/v1/samples", "Content-Type: text/csv\r\n",
                                   late, strlen(late));
    assert_int_equal(r.status, 201);
    http_response_free(&r);
    r = http_request(port, "GET", "/api/v1/forecast?horizon=12&samples=10", NULL, NULL, 0);
    assert_int_equal(r.status, 422);
    cdnopt_assert_contains(r.body, "the model needs 72 consecutive samples before the service "
                                   "clock 2004-12-14 00:00:00; samples stored before it: 0 of 1.");
    http_response_free(&r);

    size_t len = 0;
    char *csv = read_file_text(history, &len);
    r = http_request(port, "POST", "/api/v1/samples", "Content-Type: text/csv\r\n", csv, len);
    free(csv);
    assert_int_equal(r.status, 201);
    http_response_free(&r);

    r = http_request(port, "GET", "/api/v1/forecast?horizon=12&samples=10", NULL, NULL, 0);
    assert_int_equal(r.status, 200);
    double mean[16], lower[16], upper[16], critical[16];
    assert_int_equal(json_numbers(r.body, "mean_gbps", mean, 16), 12);
    assert_int_equal(json_numbers(r.body, "lower_gbps", lower, 16), 12);
    assert_int_equal(json_numbers(r.body, "upper_gbps", upper, 16), 12);
    assert_int_equal(json_numbers(r.body, "critical_gbps", critical, 16), 12);
    for (int h = 0; h < 12; h++) {
        assert_true(lower[h] <= mean[h]);
        assert_true(mean[h] <= upper[h]);
        assert_true(upper[h] <= critical[h]);
    }
    cdnopt_assert_contains(r.body, "\"timestamps\":[\"2004-12-14 00:00:00\"");
    http_response_free(&r);
    check_forecast_alert(port, critical, 12);

    check_forecast_bounds(port);
    check_stray_samples_ignored(port);

    r = http_post_json(port, "/api/v1/releases",
                       "{\"id\":\"f1\",\"size_mb\":600,\"users\":50000,"
                       "\"planned_at\":\"2004-12-14 10:00:00\"}",
                       NULL);
    assert_int_equal(r.status, 201);
    http_response_free(&r);
    r = http_post_json(port, "/api/v1/replan", "{\"against\":\"forecast\",\"wait\":true}", NULL);
    assert_int_equal(r.status, 200);
    cdnopt_assert_contains(r.body, "\"against\":\"forecast\"");
    http_response_free(&r);

    /* A gap within the model's 6 h window before the clock is named. */
    expect_status(port, "DELETE",
                  "/api/v1/samples?from=2004-12-13%2023:00:00&to=2004-12-13%2023:05:00", NULL,
                  NULL, 200, "\"deleted\":1");
    expect_status(port, "GET", "/api/v1/forecast?horizon=3&samples=10", NULL, NULL, 422,
                  "observed samples break the regular 300 s grid between 2004-12-13 22:55:00 "
                  "and 2004-12-13 23:05:00, inside the ");
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

/* releases.csv rows of a workload as one JSON batch body (malloc'd). */
static char *releases_batch_json(const char *csv)
{
    size_t cap = strlen(csv) * 3 + 64;
    char *out = malloc(cap);
    size_t len = (size_t)snprintf(out, cap, "{\"releases\":[");
    const char *line = strchr(csv, '\n');
    for (int n = 0; line != NULL && line[1] != '\0'; n++) {
        char id[64];
        char planned[32];
        double size_mb = 0;
        double users = 0;
        if (sscanf(line + 1, "%63[^,],%lf,%lf,%19[^,\n]", id, &size_mb, &users, planned) != 4)
            break;
        len += (size_t)snprintf(out + len, cap - len,
                                "%s{\"id\":\"%s\",\"size_mb\":%.17g,\"users\":%.17g,"
                                "\"planned_at\":\"%s\"}",
                                n > 0 ? "," : "", id, size_mb, users, planned);
        line = strchr(line + 1, '\n');
    }
    snprintf(out + len, cap - len, "]}");
    return out;
}

/* Train a tiny agent in dir, start `cdnopt serve --agent` with the clock at now, and post
 * the day workload's samples and its 200 releases. Returns the server's pid. A tiny agent
 * checks the wiring of --agent and solver dqn, not its quality. */
static pid_t start_dqn_server(const char *dir, const char *now, int *port)
{
    char exe[600];
    char history[512];
    char command[2400];
    cdnopt_test_shared_path(history, sizeof history, "workloads/day/history.csv");
    snprintf(command, sizeof command,
             "%s -q train-agent --history %s --episodes 2 --workers 1 --hidden 8 --updates 1 "
             "--min-releases 10 --max-releases 20 --out %s/agent.h5 > %s/train.log 2>&1",
             binary(exe, sizeof exe), history, dir, dir);
    assert_int_equal(system(command), 0);

    char db[600];
    char log[600];
    char agent[700];
    snprintf(db, sizeof db, "%s/dqn.db", dir);
    snprintf(log, sizeof log, "%s/server.log", dir);
    snprintf(agent, sizeof agent, "%s/agent.h5", dir);
    pid_t pid = spawn_server_at(port, db, log, now, (const char *[]){"--agent", agent, NULL});

    char path[512];
    size_t len = 0;
    cdnopt_test_shared_path(path, sizeof path, "workloads/day/baseline.csv");
    char *csv = read_file_text(path, &len);
    http_response r =
        http_request(*port, "POST", "/api/v1/samples", "Content-Type: text/csv\r\n", csv, len);
    free(csv);
    assert_int_equal(r.status, 201);
    http_response_free(&r);

    cdnopt_test_shared_path(path, sizeof path, "workloads/day/releases.csv");
    csv = read_file_text(path, &len);
    char *batch = releases_batch_json(csv);
    free(csv);
    r = http_post_json(*port, "/api/v1/releases", batch, NULL);
    free(batch);
    assert_int_equal(r.status, 201);
    cdnopt_assert_contains(r.body, "\"created\":200");
    http_response_free(&r);
    return pid;
}

static void replan_with_dqn_agent(void **state)
{
    (void)state;
    char dir[512];
    cdnopt_test_scratch_dir(dir, sizeof dir, "serve-dqn");
    int port = 0;
    pid_t pid = start_dqn_server(dir, "2004-12-14 00:00:00", &port);

    http_response r =
        http_post_json(port, "/api/v1/replan", "{\"solver\":\"dqn\",\"wait\":true}", NULL);
    assert_int_equal(r.status, 200);
    cdnopt_assert_contains(r.body, "\"solver\":\"dqn\"");
    const char *naive_at = strstr(r.body, "\"naive\":{\"peak_gbps\":");
    const char *planned_at = strstr(r.body, "\"planned\":{\"peak_gbps\":");
    assert_non_null(naive_at);
    assert_non_null(planned_at);
    double naive_peak = strtod(naive_at + strlen("\"naive\":{\"peak_gbps\":"), NULL);
    double planned_peak = strtod(planned_at + strlen("\"planned\":{\"peak_gbps\":"), NULL);
    assert_true(naive_peak > 2000); // the day workload's naive peak is 2224.865 Gbit/s
    assert_true(planned_peak <= naive_peak);
    http_response_free(&r);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

/* Check that the schedule CSV lists the day workload's 200 releases, none before clock. */
static void assert_schedule_from(const char *csv, const char *clock)
{
    const char *line = strchr(csv, '\n');
    assert_non_null(line);
    int rows = 0;
    while (line[1] != '\0') {
        char id[64], start[32];
        assert_int_equal(sscanf(line + 1, "%63[^,],%31[^,]", id, start), 2);
        if (strcmp(start, clock) < 0)
            fail_msg("release %s starts at %s, before the service clock %s", id, start, clock);
        rows++;
        line = strchr(line + 1, '\n');
        assert_non_null(line);
    }
    assert_int_equal(rows, 200);
}

/* A dqn re-plan at 14:20 plans the morning's releases from the clock on. It used to get
 * 422, because the agent's episodes began at the release day's midnight while the
 * baseline began at the clock's hour. */
static void replan_dqn_mid_day(void **state)
{
    (void)state;
    char dir[512];
    cdnopt_test_scratch_dir(dir, sizeof dir, "serve-dqn-mid-day");
    int port = 0;
    pid_t pid = start_dqn_server(dir, "2004-12-14 14:20:00", &port);
    http_response plan =
        http_post_json(port, "/api/v1/replan", "{\"solver\":\"dqn\",\"wait\":true}", NULL);
    http_response csv = http_request(port, "GET", "/api/v1/schedule?format=csv", NULL, NULL, 0);
    /* The server stops before the checks, so that a failed one does not leave it running. */
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);

    if (plan.status != 200)
        fail_msg("re-plan at 14:20 returned %d: %s", plan.status, plan.body);
    cdnopt_assert_contains(plan.body, "\"solver\":\"dqn\"");
    cdnopt_assert_contains(plan.body, "\"releases\":200");
    cdnopt_assert_contains(plan.body, "\"deferred\":[]");
    assert_int_equal(csv.status, 200);
    assert_schedule_from(csv.body, "2004-12-14 14:20:00");

    /* The schedule keeps every rule on the whole day workload: score exits 0. */
    char path[700], baseline[512], releases[512], command[4096], exe[600];
    snprintf(path, sizeof path, "%s/schedule.csv", dir);
    cdnopt_test_write_file(path, csv.body);
    cdnopt_test_shared_path(baseline, sizeof baseline, "workloads/day/baseline.csv");
    cdnopt_test_shared_path(releases, sizeof releases, "workloads/day/releases.csv");
    snprintf(command, sizeof command,
             "%s -q score --baseline %s --releases %s --schedule %s > %s/score.log 2>&1",
             binary(exe, sizeof exe), baseline, releases, path, dir);
    assert_int_equal(system(command), 0);
    http_response_free(&csv);
    http_response_free(&plan);
}

/* The token is the file's first line. The whole file used to be taken, newline and all,
 * so no Authorization header could match it and every write got 401. */
static void token_file_first_line(void **state)
{
    (void)state;
    char dir[512], db[600], log[600], token[600];
    cdnopt_test_scratch_dir(dir, sizeof dir, "serve-token");
    snprintf(db, sizeof db, "%s/token.db", dir);
    snprintf(log, sizeof log, "%s/server.log", dir);
    snprintf(token, sizeof token, "%s/token", dir);
    cdnopt_test_write_file(token, "s3cret\r\nrotated on the first of the month\n");
    int port = 0;
    pid_t pid = spawn_server(&port, db, log, (const char *[]){"--token-file", token, NULL});

    /* 422: past the token check, with no releases to plan. The server stops before the
     * checks, so that a failed one does not leave it running. */
    const char *json = "Content-Type: application/json\r\n";
    char good[200], bad[200];
    snprintf(good, sizeof good, "%sAuthorization: Bearer s3cret\r\n", json);
    snprintf(bad, sizeof bad, "%sAuthorization: Bearer other\r\n", json);
    const char *body = "{\"wait\":true}";
    http_response accepted = http_request(port, "POST", "/api/v1/replan", good, body,
                                          strlen(body));
    http_response rejected = http_request(port, "POST", "/api/v1/replan", bad, body,
                                          strlen(body));
    assert_int_equal(kill(pid, SIGTERM), 0);
    waitpid(pid, NULL, 0);

    assert_int_equal(accepted.status, 422);
    cdnopt_assert_contains(accepted.body, "no pending releases");
    assert_int_equal(rejected.status, 401);
    cdnopt_assert_contains(rejected.body, "invalid bearer token");
    http_response_free(&accepted);
    http_response_free(&rejected);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(acknowledged_creates_survive_kill),
    cmocka_unit_test(sigterm_stops_gracefully),
    cmocka_unit_test(serve_flags_rejected),
    cmocka_unit_test(token_file_first_line),
    cmocka_unit_test(forecast_with_trained_model),
    cmocka_unit_test(replan_with_dqn_agent),
    cmocka_unit_test(replan_dqn_mid_day),
};

CDNOPT_TEST_MAIN("serve_process", tests)
