/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Server tests. Each case starts a server in this process on a free loopback
 * port with a fresh database and talks HTTP to it. The cases check statuses,
 * error texts, stored data, metrics (through promtool), the monitor's alerts
 * with a fake /proc, and the worker pool's scaling. The end-to-end case plans
 * the day workload against observed traffic and has the Python referee score it.
 */
#include "cdnopt/core.h"
#include "cdnopt/serve.h"
#include "http_client.h"
#include "testutil.h"

#include "../../src/serve/serve-impl.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TOKEN "test-token-1"

/* Civil seconds of 2004-12-14 00:00:00, the start of the day workload. */
#define DAY_START 1102982400LL

struct fixture {
    char dir[512];
    cdnopt_server *server;
    int port;
};

static cdnopt_serve_params base_params(struct fixture *f, const char *tag)
{
    cdnopt_test_scratch_dir(f->dir, sizeof f->dir, tag);
    static char db[600];
    snprintf(db, sizeof db, "%s/serve.db", f->dir);
    cdnopt_serve_params p = cdnopt_serve_params_default();
    p.port = 0;
    p.db_path = db;
    p.now = DAY_START;
    p.http_threads = 2;
    p.monitor_interval_us = 0; // no monitor thread: tests sample by hand
    return p;
}

static void start(struct fixture *f, const cdnopt_serve_params *p)
{
    char err[CDNOPT_ERRMSG_MAX] = "";
    int rc = cdnopt_server_start(p, &f->server, err);
    if (rc != CDNOPT_OK)
        fail_msg("server start: %s", err);
    f->port = cdnopt_server_port(f->server);
    assert_true(f->port > 0);
}

static void stop(struct fixture *f)
{
    cdnopt_server_stop(f->server);
    f->server = NULL;
    assert_int_equal(cdnopt_alloc_live_blocks(), 0);
}

static json_t *body_json(const http_response *r)
{
    json_error_t error;
    json_t *root = json_loads(r->body != NULL ? r->body : "", 0, &error);
    if (root == NULL)
        fail_msg("response is not JSON (%s): %s", error.text, r->body ? r->body : "(none)");
    return root;
}

/* Assert status and that the error message contains needle; frees r. */
static void expect_error(http_response r, int status, const char *code, const char *needle)
{
    if (r.status != status)
        fail_msg("expected %d, got %d: %s", status, r.status, r.body ? r.body : "");
    json_t *root = body_json(&r);
    json_t *error = json_object_get(root, "error");
    assert_string_equal(json_string_value(json_object_get(error, "code")), code);
    cdnopt_assert_contains(json_string_value(json_object_get(error, "message")), needle);
    json_decref(root);
    http_response_free(&r);
}

static const char *release_json(char *buf, size_t size, const char *id, double size_mb)
{
    snprintf(buf, size,
             "{\"id\":\"%s\",\"size_mb\":%g,\"users\":1000,\"planned_at\":\"2004-12-14 "
             "10:00:00\"}",
             id, size_mb);
    return buf;
}

/* ------------------------------------------------------------------------- */
/* Releases                                                                  */
/* ------------------------------------------------------------------------- */

static void release_create_get_cancel(void **state)
{
    (void)state;
    struct fixture f;
    cdnopt_serve_params p = base_params(&f, "serve-crud");
    start(&f, &p);
    char json[256];

    http_response r = http_post_json(f.port, "/api/v1/releases",
                                     release_json(json, sizeof json, "r1", 650), NULL);
    assert_int_equal(r.status, 201);
    char location[128];
    assert_string_equal(http_header(&r, "Location", location, sizeof location),
                        "/api/v1/releases/r1");
    json_t *root = body_json(&r);
    json_t *release = json_object_get(root, "release");
    assert_float_equal(json_number_value(json_object_get(release, "size_mb")), 650, 0);
    cdnopt_assert_contains(r.body, "\"size_mb\":650,\"users\":1000,");
    assert_string_equal(json_string_value(json_object_get(release, "latest_start_at")),
                        "2004-12-15 09:00:00"); // planned_at + 23 h
    assert_string_equal(json_string_value(json_object_get(release, "created_at")),
                        "2004-12-14 00:00:00");
    json_decref(root);
    http_response_free(&r);

    r = http_request(f.port, "GET", "/api/v1/releases/r1", NULL, NULL, 0);
    assert_int_equal(r.status, 200);
    cdnopt_assert_contains(r.body, "\"status\":\"pending\"");
    http_response_free(&r);

    expect_error(http_post_json(f.port, "/api/v1/releases", json, NULL), 409, "conflict",
                 "'r1' already exists");

    r = http_post_json(f.port, "/api/v1/releases/r1/cancel", "", NULL);
    assert_int_equal(r.status, 200);
    cdnopt_assert_contains(r.body, "\"status\":\"cancelled\"");
    http_response_free(&r);
    expect_error(http_post_json(f.port, "/api/v1/releases/r1/cancel", "", NULL), 409, "conflict",
                 "already cancelled");
    expect_error(http_request(f.port, "GET", "/api/v1/releases/zz", NULL, NULL, 0), 404,
                 "not_found", "'zz' not found");
    stop(&f);
}

static void release_batch_and_paging(void **state)
{
    (void)state;
    struct fixture f;
    cdnopt_serve_params p = base_params(&f, "serve-batch");
    start(&f, &p);

    const char *batch = "{\"releases\":["
                        "{\"id\":\"b3\",\"size_mb\":1,\"users\":2,\"planned_at\":\"2004-12-14 "
                        "01:00:00\"},"
                        "{\"id\":\"b1\",\"size_mb\":1,\"users\":2,\"planned_at\":\"2004-12-14 "
                        "02:00:00\",\"latest_start_at\":\"2004-12-14 05:00:00\"},"
                        "{\"id\":\"b2\",\"size_mb\":1,\"users\":2,\"planned_at\":\"2004-12-14 "
                        "03:00:00\"}]}";
    http_response r = http_post_json(f.port, "/api/v1/releases", batch, NULL);
    assert_int_equal(r.status, 201);
    cdnopt_assert_contains(r.body, "\"created\":3");
    http_response_free(&r);

    /* Pages of two in id order, then the rest after next_after. */
    r = http_request(f.port, "GET", "/api/v1/releases?limit=2", NULL, NULL, 0);
    assert_int_equal(r.status, 200);
    json_t *root = body_json(&r);
    json_t *list = json_object_get(root, "releases");
    assert_int_equal(json_array_size(list), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "id")), "b1");
    assert_string_equal(json_string_value(json_object_get(root, "next_after")), "b2");
    json_decref(root);
    http_response_free(&r);

    r = http_request(f.port, "GET", "/api/v1/releases?limit=2&after=b2", NULL, NULL, 0);
    root = body_json(&r);
    list = json_object_get(root, "releases");
    assert_int_equal(json_array_size(list), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "id")), "b3");
    assert_true(json_is_null(json_object_get(root, "next_after")));
    json_decref(root);
    http_response_free(&r);

    /* Planned-time filter: [02:00, 03:00) contains only b1. */
    r = http_request(
        f.port, "GET",
        "/api/v1/releases?planned_from=2004-12-14%2002:00:00&planned_to=2004-12-14%2003:00:00",
        NULL, NULL, 0);
    root = body_json(&r);
    list = json_object_get(root, "releases");
    assert_int_equal(json_array_size(list), 1);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(list, 0), "latest_start_at")),
        "2004-12-14 05:00:00");
    json_decref(root);
    http_response_free(&r);

    /* A batch with a duplicate is stored not at all and names the index. */
    r = http_post_json(f.port, "/api/v1/releases",
                       "[{\"id\":\"c1\",\"size_mb\":1,\"users\":2,\"planned_at\":\"2004-12-14 "
                       "01:00:00\"},{\"id\":\"b2\",\"size_mb\":1,\"users\":2,\"planned_at\":"
                       "\"2004-12-14 01:00:00\"}]",
                       NULL);
    assert_int_equal(r.status, 409);
    cdnopt_assert_contains(r.body, "\"field\":\"releases[1].id\"");
    http_response_free(&r);
    r = http_request(f.port, "GET", "/api/v1/releases/c1", NULL, NULL, 0);
    assert_int_equal(r.status, 404);
    http_response_free(&r);
    stop(&f);
}

/* The releases file of the command line, posted as text/csv: stored as one batch, quoted
 * fields read, and errors that name the CSV line and column. */
static void releases_csv_batch(void **state)
{
    (void)state;
    struct fixture f;
    cdnopt_serve_params p = base_params(&f, "serve-releases-csv");
    start(&f, &p);
    const char *csv_type = "Content-Type: text/csv\r\n";

    const char *good = "\xEF\xBB\xBFid,size_mb,users,planned_at,latest_start_at\r\n"
                       "r1,565.4,98884,2004-12-14 10:00:00,\r\n"
                       "\"r2\",\"20.5\",7,\"2004-12-14 11:00:00\",2004-12-14 13:00:00\r\n"
                       "\r\n";
    http_response r =
        http_request(f.port, "POST", "/api/v1/releases", csv_type, good, strlen(good));
    assert_int_equal(r.status, 201);
    cdnopt_assert_contains(r.body, "\"created\":2");
    http_response_free(&r);

    r = http_request(f.port, "GET", "/api/v1/releases/r2", NULL, NULL, 0);
    assert_int_equal(r.status, 200);
    json_t *root = body_json(&r);
    json_t *release = json_object_get(root, "release");
    assert_true(json_real_value(json_object_get(release, "size_mb")) == 20.5);
    assert_string_equal(json_string_value(json_object_get(release, "latest_start_at")),
                        "2004-12-14 13:00:00");
    json_decref(root);
    http_response_free(&r);
    r = http_request(f.port, "GET", "/api/v1/releases/r1", NULL, NULL, 0);
    cdnopt_assert_contains(r.body, "\"latest_start_at\":\"2004-12-15 09:00:00\"");
    http_response_free(&r);

    const struct {
        const char *body;
        int status;
        const char *code, *message;
    } bad[] = {
        {"id,size_mb,users,planned_at\nx1,1,5,2004-12-14 10:00:00\n"
         "x2,abc,5,2004-12-14 10:00:00\n",
         400, "invalid_type", "CSV line 3: size_mb 'abc' is not a number"},
        {"id,size_mb,users,planned_at\nx1,1,0,2004-12-14 10:00:00\n", 422, "invalid_value",
         "CSV line 2: users 0 is out of range"},
        {"id,size_mb,users,planned_at,team\nx1,1,5,2004-12-14 10:00:00,a\n", 400,
         "unknown_field", "unknown column 'team'"},
        {"id,size_mb,users\nx1,1,5\n", 400, "missing_field",
         "the header has no 'planned_at' column"},
        {"id,size_mb,users,planned_at\nx1,1,5,2004-12-14 10:00:00\nx1,1,3,2004-12-14 11:00:00\n",
         422, "invalid_value", "appears twice in the request, on CSV lines 2 and 3"},
        {"id,size_mb,users,planned_at\n\"x1,1,5,2004-12-14 10:00:00\n", 400, "invalid_csv",
         "CSV line 2: a quoted field has no closing quote"},
        {"id,size_mb,users,planned_at\n", 400, "invalid_csv", "no release lines"},
        {"id,size_mb,users,planned_at\nx1,1,5,2004-12-14 10:00:00,extra\n", 400, "invalid_csv",
         "CSV line 2: 5 fields but the header names 4 columns"},
        {"id,size_mb,users,planned_at\nx1,1\n", 400, "invalid_csv",
         "CSV line 2: 2 fields, but the header puts 'users' in column 3"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_error(http_request(f.port, "POST", "/api/v1/releases", csv_type, bad[i].body,
                                  strlen(bad[i].body)),
                     bad[i].status, bad[i].code, bad[i].message);

    /* Bytes that are not UTF-8 name the line and column in the field, as other errors do. */
    const char *latin1 = "id,size_mb,users,planned_at\nx1,1,5,2004-12-14 10:00:00\n"
                         "caf\xE9,1,5,2004-12-14 10:00:00\n";
    http_response not_utf8 =
        http_request(f.port, "POST", "/api/v1/releases", csv_type, latin1, strlen(latin1));
    cdnopt_assert_contains(not_utf8.body, "\"field\":\"CSV line 3 id\"");
    expect_error(not_utf8, 400, "invalid_csv", "CSV line 3: id is not valid UTF-8");

    /* An id already stored: 409 for the whole body, naming the CSV line. */
    const char *existing_id = "id,size_mb,users,planned_at\nx9,1,5,2004-12-14 10:00:00\n"
                        "r1,1,5,2004-12-14 10:00:00\n";
    r = http_request(f.port, "POST", "/api/v1/releases", csv_type, existing_id,
                     strlen(existing_id));
    assert_int_equal(r.status, 409);
    cdnopt_assert_contains(r.body, "\"field\":\"CSV line 3 id\"");
    http_response_free(&r);
    r = http_request(f.port, "GET", "/api/v1/releases/x9", NULL, NULL, 0);
    assert_int_equal(r.status, 404);
    http_response_free(&r);
    stop(&f);
}

/* Many concurrent single creates: every one is acknowledged and stored, and
 * group commit needs no more commits than requests. */
struct create_thread {
    int port;
    int index;
    int created;
};

static void *create_many(void *arg)
{
    struct create_thread *t = arg;
    for (int i = 0; i < 25; i++) {
        char id[32];
        char json[256];
        snprintf(id, sizeof id, "t%d-%d", t->index, i);
        http_response r = http_post_json(t->port, "/api/v1/releases",
                                         release_json(json, sizeof json, id, 10), NULL);
        t->created += r.status == 201;
        http_response_free(&r);
    }
    return NULL;
}

static double metric_value(int port, const char *name)
{
    http_response r = http_request(port, "GET", "/metrics", NULL, NULL, 0);
    double value = NAN;
    char needle[128];
    snprintf(needle, sizeof needle, "\n%s ", name);
    const char *at = r.body != NULL ? strstr(r.body, needle) : NULL;
    if (at != NULL)
        value = strtod(at + strlen(needle), NULL);
    http_response_free(&r);
    return value;
}

static void release_group_commit_concurrent(void **state)
{
    (void)state;
    struct fixture f;
    cdnopt_serve_params p = base_params(&f, "serve-group");
    start(&f, &p);

    struct create_thread threads[8];
    pthread_t ids[8];
    for (int i = 0; i < 8; i++) {
        threads[i] = (struct create_thread){f.port, i, 0};
        pthread_create(&ids[i], NULL, create_many, &threads[i]);
    }
    int created = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(ids[i], NULL);
        created += threads[i].created;
    }
    assert_int_equal(created, 200);
    assert_float_equal(metric_value(f.port, "cdnopt_releases_created_total"), 200, 0);
    double commits = metric_value(f.port, "cdnopt_db_commits_total");
    assert_true(commits >= 1 && commits <= 200);
    stop(&f);
}

/* ------------------------------------------------------------------------- */
/* Bad requests                                                              */
/* ------------------------------------------------------------------------- */

static void bad_requests_rejected(void **state)
{
    (void)state;
    struct fixture f;
    cdnopt_serve_params p = base_params(&f, "serve-bad");
    p.token = TOKEN;
    p.max_body_bytes = 4096;
    start(&f, &p);
    const char *path = "/api/v1/releases";

    expect_error(http_post_json(f.port, path, "{\"id\": ", TOKEN), 400, "malformed_json",
                 "not valid JSON");
    expect_error(http_post_json(f.port, path,
                                "{\"id\":\"a\",\"users\":1,\"planned_at\":\"2004-12-14 10:00:00\"}",
                                TOKEN),
                 400, "missing_field", "missing field 'size_mb'");
    expect_error(http_post_json(f.port, path,
                                "{\"id\":\"a\",\"size_mb\":\"big\",\"users\":1,"
                                "\"planned_at\":\"2004-12-14 10:00:00\"}",
                                TOKEN),
                 400, "invalid_type", "'size_mb' must be a number");
    expect_error(http_post_json(f.port, path,
                                "{\"id\":7,\"size_mb\":1,\"users\":1,\"planned_at\":\"2004-12-14 "
                                "10:00:00\"}",
                                TOKEN),
                 400, "invalid_type", "non-string field 'id'");
    expect_error(
        http_post_json(f.port, path,
                       "{\"id\":\"a\",\"size_mb\":1,\"users\":1,\"planned_at\":\"2004-12-14 "
                       "10:00:00\",\"colour\":1}",
                       TOKEN),
        400, "unknown_field", "unknown field 'colour'");
    expect_error(
        http_post_json(f.port, path,
                       "{\"id\":\"a\",\"size_mb\":-5,\"users\":1,\"planned_at\":\"2004-12-14 "
                       "10:00:00\"}",
                       TOKEN),
        422, "invalid_value", "release: size_mb -5 is out of range");
    expect_error(
        http_post_json(f.port, path,
                       "{\"id\":\"a\",\"size_mb\":1,\"users\":1,\"planned_at\":\"2004-13-14 "
                       "10:00:00\"}",
                       TOKEN),
        422, "invalid_value", "'planned_at' is '2004-13-14 10:00:00'");
    expect_error(
        http_post_json(f.port, path,
                       "{\"id\":\"a\",\"size_mb\":1,\"users\":1,\"planned_at\":\"2004-12-14 "
                       "10:00:00\",\"latest_start_at\":\"2004-12-14 09:00:00\"}",
                       TOKEN),
        422, "invalid_value", "'latest_start_at' is before planned_at");
    expect_error(http_post_json(
                     f.port, path,
                     "{\"id\":\"a\\u0009b\",\"size_mb\":1,\"users\":1,\"planned_at\":\"2004-12-14 "
                     "10:00:00\"}",
                     TOKEN),
                 422, "invalid_value",
                 "release: id 'a\\x09b' has byte 0x09 at position 2, a control character");

    /* Absurd sizes and counts, a fractional count of devices, a window longer than the
     * rules allow, and a window that ends before the service clock (2004-12-14 00:00). */
    const struct {
        const char *fields;
        const char *message;
    } range_cases[] = {
        {"\"size_mb\":1e300,\"users\":1,\"planned_at\":\"2004-12-14 10:00:00\"",
         "size_mb 1e+300 is out of range"},
        {"\"size_mb\":1,\"users\":1e20,\"planned_at\":\"2004-12-14 10:00:00\"",
         "users 1e+20 is out of range"},
        {"\"size_mb\":1,\"users\":5.5,\"planned_at\":\"2004-12-14 10:00:00\"",
         "users 5.5 is not a whole number"},
        {"\"size_mb\":1,\"users\":1,\"planned_at\":\"2004-12-14 10:00:00\","
         "\"latest_start_at\":\"2005-12-14 10:00:00\"",
         "'latest_start_at' is 2005-12-14 10:00:00, more than 30 days after planned_at"},
        {"\"size_mb\":1,\"users\":1,\"planned_at\":\"1999-12-14 10:00:00\"",
         "'latest_start_at' is 1999-12-15 09:00:00, before the service clock 2004-12-14 "
         "00:00:00"},
        {"\"size_mb\":1,\"users\":1,\"planned_at\":\"9999-12-31 23:00:00\"",
         "'planned_at' is 9999-12-31 23:00:00, so the default latest_start_at (planned_at + 23 h) "
         "would be 10000-01-01 22:00:00, after 9999-12-31 23:59:59"},
    };
    for (size_t c = 0; c < sizeof range_cases / sizeof range_cases[0]; c++) {
        char body[512];
        snprintf(body, sizeof body, "{\"id\":\"a\",%s}", range_cases[c].fields);
        expect_error(http_post_json(f.port, path, body, TOKEN), 422, "invalid_value",
                     range_cases[c].message);
    }
    expect_error(http_post_json(f.port, path,
                                "{\"id\":\"a\",\"size_mb\":1,\"size_mb\":2,\"users\":1,"
                                "\"planned_at\":\"2004-12-14 10:00:00\"}",
                                TOKEN),
                 400, "malformed_json", "duplicate object key");

    /* The auth scheme is case-insensitive. */
    const char *lower = "{\"id\":\"lower\",\"size_mb\":1,\"users\":1,"
                        "\"planned_at\":\"2004-12-14 10:00:00\"}";
    http_response lower_r = http_request(f.port, "POST", path,
                                         "Authorization: bearer " TOKEN "\r\n"
                                         "Content-Type: application/json\r\n",
                                         lower, strlen(lower));
    assert_int_equal(lower_r.status, 201);
    http_response_free(&lower_r);

    /* In a batch the message names the element: index 12 has a negative size. */
    char batch[4096];
    size_t len = (size_t)snprintf(batch, sizeof batch, "[");
    for (int i = 0; i < 13; i++)
        len += (size_t)snprintf(batch + len, sizeof batch - len,
                                "%s{\"id\":\"e%d\",\"size_mb\":%d,\"users\":1,"
                                "\"planned_at\":\"2004-12-14 10:00:00\"}",
                                i > 0 ? "," : "", i, i == 12 ? -1 : 1);
    snprintf(batch + len, sizeof batch - len, "]");
    http_response bad_batch = http_post_json(f.port, path, batch, TOKEN);
    cdnopt_assert_contains(bad_batch.body, "\"field\":\"releases[12].size_mb\"");
    expect_error(bad_batch, 422, "invalid_value", "releases[12]: size_mb -1 is out of range");

    /* An id used twice inside one batch is named with both indexes. Of two repeated ids, the
     * message names the one whose second use comes first ('b' at 2, before 'a' at 3). */
    const char *twice = "[{\"id\":\"b1\",\"size_mb\":1,\"users\":1,\"planned_at\":\"2004-12-14 "
                        "10:00:00\"},{\"id\":\"b1\",\"size_mb\":2,\"users\":1,\"planned_at\":"
                        "\"2004-12-14 11:00:00\"}]";
    http_response twice_r = http_post_json(f.port, path, twice, TOKEN);
    cdnopt_assert_contains(twice_r.body, "\"field\":\"releases[1].id\"");
    expect_error(twice_r, 422, "invalid_value",
                 "release id 'b1' appears twice in the request, at releases[0] and releases[1]");
    len = (size_t)snprintf(batch, sizeof batch, "{\"releases\":[");
    const char *ids[] = {"a", "b", "b", "a"};
    for (int i = 0; i < 4; i++)
        len += (size_t)snprintf(batch + len, sizeof batch - len,
                                "%s{\"id\":\"%s\",\"size_mb\":1,\"users\":1,"
                                "\"planned_at\":\"2004-12-14 10:00:00\"}",
                                i > 0 ? "," : "", ids[i]);
    snprintf(batch + len, sizeof batch - len, "]}");
    expect_error(http_post_json(f.port, path, batch, TOKEN), 422, "invalid_value",
                 "release id 'b' appears twice in the request, at releases[1] and releases[2]");
    http_response not_objects = http_post_json(f.port, path, "{\"releases\":[1,2,3]}", TOKEN);
    cdnopt_assert_contains(not_objects.body, "\"field\":\"releases[0]\"");
    expect_error(not_objects, 400, "invalid_type",
                 "releases[0] must be a JSON object with id, size_mb, users and planned_at");

    /* Huge body: 8 KiB against a 4 KiB limit. */
    char *huge = malloc(8193);
    memset(huge, ' ', 8192);
    huge[8192] = '\0';
    expect_error(http_post_json(f.port, path, huge, TOKEN), 413, "payload_too_large",
                 "over the limit of 4096 bytes");
    free(huge);

    expect_error(http_request(f.port, "GET", "/api/v2/nothing", NULL, NULL, 0), 404, "not_found",
                 "no route");
    http_response r = http_request(f.port, "DELETE", path, NULL, NULL, 0);
    char allow[64];
    assert_string_equal(http_header(&r, "Allow", allow, sizeof allow), "GET, POST");
    expect_error(r, 405, "method_not_allowed", "DELETE is not allowed");

    expect_error(http_post_json(f.port, path, "{}", NULL), 401, "unauthorized",
                 "missing Authorization header");
    expect_error(http_request(f.port, "DELETE",
                              "/api/v1/samples?from=2004-12-14%2000:00:00&to=2004-12-15%2000:00:00",
                              NULL, NULL, 0),
                 401, "unauthorized", "missing Authorization header");
    r = http_request(f.port, "PUT", "/api/v1/samples", NULL, NULL, 0);
    assert_string_equal(http_header(&r, "Allow", allow, sizeof allow), "GET, POST, DELETE");
    expect_error(r, 405, "method_not_allowed", "PUT is not allowed");
    expect_error(http_post_json(f.port, path, "{}", "wrong-token"), 401, "unauthorized",
                 "invalid bearer token");
    expect_error(http_request(f.port, "POST", path,
                              "Content-Type: text/plain\r\nAuthorization: Bearer " TOKEN "\r\n",
                              "{}", 2),
                 415, "unsupported_media_type", "'text/plain' is not accepted");

    /* Reads need no token. */
    r = http_request(f.port, "GET", path, NULL, NULL, 0);
    assert_int_equal(r.status, 200);
    http_response_free(&r);
    stop(&f);
}

/* ------------------------------------------------------------------------- */
/* Samples, metrics, health                                                  */
/* ------------------------------------------------------------------------- */

static void samples_csv_and_json(void **state)
{
    (void)state;
    struct fixture f;
    cdnopt_serve_params p = base_params(&f, "serve-samples");
    start(&f, &p);

    const char *csv = "timestamp,gbps\n2004-12-14 00:00:00,10.5\n2004-12-14 00:05:00,11\r\n";
    http_response r = http_request(f.port, "POST", "/api/v1/samples", "Content-Type: text/csv\r\n",
                                   csv, strlen(csv));
    assert_int_equal(r.status, 201);
    cdnopt_assert_contains(r.body, "\"stored\":2");
    http_response_free(&r);

    r = http_post_json(f.port, "/api/v1/samples",
                       "{\"samples\":[{\"timestamp\":\"2004-12-14 00:10:00\",\"gbps\":12.25}]}",
                       NULL);
    assert_int_equal(r.status, 201);
    http_response_free(&r);

    r = http_request(f.port, "GET", "/api/v1/samples?from=2004-12-14%2000:05:00", NULL, NULL, 0);
    json_t *root = body_json(&r);
    json_t *values = json_object_get(root, "gbps");
    assert_int_equal(json_array_size(values), 2);
    assert_float_equal(json_number_value(json_array_get(values, 1)), 12.25, 0);
    json_decref(root);
    http_response_free(&r);
    http_response bad_to = http_request(
        f.port, "GET", "/api/v1/samples?from=2004-12-14%2000:05:00&to=soon", NULL, NULL, 0);
    cdnopt_assert_contains(bad_to.body, "\"field\":\"to\"");
    expect_error(bad_to, 400, "invalid_query", "query parameter 'to' is 'soon'");

    /* A byte order mark before the header, as spreadsheet programs write it. */
    const char *bom = "\xEF\xBB\xBFtimestamp,gbps\r\n2004-12-14 00:15:00,13\r\n";
    r = http_request(f.port, "POST", "/api/v1/samples", "Content-Type: text/csv\r\n", bom,
                     strlen(bom));
    assert_int_equal(r.status, 201);
    cdnopt_assert_contains(r.body, "\"stored\":1");
    http_response_free(&r);

    const char *bad = "timestamp,gbps\n2004-12-14 00:00:00,1\n2004-12-14 00:05,x\n";
    expect_error(http_request(f.port, "POST", "/api/v1/samples", "Content-Type: text/csv\r\n", bad,
                              strlen(bad)),
                 400, "invalid_csv", "CSV line 3");

    /* Media types compare without case and may carry parameters, but a longer name is
     * another type. */
    const char *upper = "timestamp,gbps\n2004-12-14 00:20:00,14\n";
    r = http_request(f.port, "POST", "/api/v1/samples", "Content-Type: TEXT/CSV; charset=utf-8\r\n",
                     upper, strlen(upper));
    assert_int_equal(r.status, 201);
    cdnopt_assert_contains(r.body, "\"stored\":1");
    http_response_free(&r);
    expect_error(http_request(f.port, "POST", "/api/v1/samples", "Content-Type: text/csvx\r\n",
                              upper, strlen(upper)),
                 415, "unsupported_media_type", "'text/csvx' is not accepted");
    expect_error(http_request(f.port, "POST", "/api/v1/releases",
                              "Content-Type: application/jsonx\r\n", "{}", 2),
                 415, "unsupported_media_type", "'application/jsonx' is not accepted");
    expect_error(
        http_post_json(f.port, "/api/v1/samples",
                       "{\"samples\":[{\"timestamp\":\"2004-12-14 00:10:00\",\"gbps\":-1}]}", NULL),
        422, "invalid_value", "samples[0]: gbps -1 is out of range");
    stop(&f);
}

/* One sample backfilled a day before the stored ones leaves a gap, and the grid keeps
 * its 300 s step, so the next live sample is still accepted. */
static void samples_backfill_keeps_grid(void **state)
{
    (void)state;
    struct fixture f;
    cdnopt_serve_params p = base_params(&f, "serve-samples-backfill");
    start(&f, &p);
    const char *path = "/api/v1/samples";
    const char *csv_type = "Content-Type: text/csv\r\n";

    const char *live = "2004-12-14 00:00:00,10\n2004-12-14 00:05:00,11\n2004-12-14 00:10:00,12\n";
    http_response r = http_request(f.port, "POST", path, csv_type, live, strlen(live));
    assert_int_equal(r.status, 201);
    http_response_free(&r);

    const char *old = "2004-12-13 00:00:00,9\n";
    r = http_request(f.port, "POST", path, csv_type, old, strlen(old));
    assert_int_equal(r.status, 201);
    http_response_free(&r);

    const char *next = "2004-12-14 00:15:00,13\n";
    r = http_request(f.port, "POST", path, csv_type, next, strlen(next));
    assert_int_equal(r.status, 201);
    http_response_free(&r);

    expect_error(
        http_post_json(f.port, path,
                       "{\"samples\":[{\"timestamp\":\"2004-12-14 00:17:00\",\"gbps\":5}]}",
                       NULL),
        422, "invalid_value",
        "timestamp 2004-12-14 00:17:00 is off the samples' grid of 300 s steps from 2004-12-14 "
        "00:15:00");
    stop(&f);
}

/* CSV bodies with classic Mac OS line ends read as one line: the samples as a header
 * alone ("the body holds 0 samples") and the releases as a header with unknown columns. */
static void csv_bare_cr_named(void **state)
{
    (void)state;
    struct fixture f;
    cdnopt_serve_params p = base_params(&f, "serve-bare-cr");
    start(&f, &p);
    const char *csv_type = "Content-Type: text/csv\r\n";

    const char *samples = "timestamp,gbps\r2004-12-14 00:00:00,10\r2004-12-14 00:05:00,11\r";
    expect_error(
        http_request(f.port, "POST", "/api/v1/samples", csv_type, samples, strlen(samples)),
        400, "invalid_csv", "CSV line 1: a bare CR ends a line inside this one");
    const char *releases = "id,size_mb,users,planned_at\rv1,100,1000,2004-12-14 10:00:00\r";
    expect_error(
        http_request(f.port, "POST", "/api/v1/releases", csv_type, releases, strlen(releases)),
        400, "invalid_csv", "CSV line 1: a bare CR ends a line inside this one");

    /* CRLF line ends are accepted. */
    const char *crlf = "timestamp,gbps\r\n2004-12-14 00:00:00,10\r\n2004-12-14 00:05:00,11\r\n";
    http_response r = http_request(f.port, "POST", "/api/v1/samples", csv_type, crlf,
                                   strlen(crlf));
    assert_int_equal(r.status, 201);
    cdnopt_assert_contains(r.body, "\"stored\":2");
    http_response_free(&r);
    stop(&f);
}

/* A body cut off inside its last line, with a timestamp cut short or a missing value, makes the
 * whole batch fail and stores nothing. A complete last line without a newline, as many tools
 * write it, is stored. */
static void samples_csv_cut_last_line(void **state)
{
    (void)state;
    struct fixture f;
    cdnopt_serve_params p = base_params(&f, "serve-samples-cut");
    start(&f, &p);
    const char *path = "/api/v1/samples";
    const char *csv_type = "Content-Type: text/csv\r\n";

    const char *cut_time = "timestamp,gbps\n2004-12-14 00:00:00,10\n2004-12-14 00:0";
    expect_error(http_request(f.port, "POST", path, csv_type, cut_time, strlen(cut_time)), 400,
                 "invalid_csv",
                 "CSV line 3: expected \"YYYY-MM-DD HH:MM:SS,gbps\", got '2004-12-14 00:0'");
    const char *no_value = "timestamp,gbps\n2004-12-14 00:00:00,10\n2004-12-14 00:05:00,";
    expect_error(http_request(f.port, "POST", path, csv_type, no_value, strlen(no_value)), 400,
                 "invalid_csv", "CSV line 3: gbps '' is not a number");
    const char *cut_exponent = "2004-12-14 00:00:00,10\n2004-12-14 00:05:00,1.5e";
    expect_error(
        http_request(f.port, "POST", path, csv_type, cut_exponent, strlen(cut_exponent)), 400,
        "invalid_csv", "CSV line 2: gbps '1.5e' is not a number");

    http_response r = http_request(f.port, "GET", path, NULL, NULL, 0);
    json_t *root = body_json(&r);
    json_t *stored = json_object_get(root, "gbps");
    assert_true(json_is_array(stored));
    assert_int_equal(json_array_size(stored), 0);
    json_decref(root);
    http_response_free(&r);

    const char *complete = "timestamp,gbps\n2004-12-14 00:00:00,10\n2004-12-14 00:05:00,11";
    r = http_request(f.port, "POST", path, csv_type, complete, strlen(complete));
    assert_int_equal(r.status, 201);
    cdnopt_assert_contains(r.body, "\"stored\":2");
    http_response_free(&r);
    stop(&f);
}

/* A field quoted in a CSV body's error is clipped between characters and its control
 * bytes are escaped, so the message contains neither half a character nor an ESC. */
static void csv_body_quotes_field_safely(void **state)
{
    (void)state;
    struct fixture f;
    cdnopt_serve_params p = base_params(&f, "serve-quoted-field");
    start(&f, &p);
    const char *csv_type = "Content-Type: text/csv\r\n";

    /* 20 characters of 3 bytes: the 40-byte limit falls inside the 14th. */
    const char *chinese = "id,size_mb,users,planned_at,北京上海广州深圳杭州南京成都重庆武汉西安\n"
                          "x1,1,5,2004-12-14 10:00:00,a\n";
    expect_error(http_request(f.port, "POST", "/api/v1/releases", csv_type, chinese,
                              strlen(chinese)),
                 400, "unknown_field", "CSV line 1: unknown column '北京上海广州深圳杭州南京成...';");

    const char *escape = "timestamp,gbps\n2004-12-14 00:00:00,1\x1b[2J\n";
    expect_error(http_request(f.port, "POST", "/api/v1/samples", csv_type, escape, strlen(escape)),
                 400, "invalid_csv", "CSV line 2: gbps '1\\x1B[2J' is not a number");
    stop(&f);
}

static void samples_reject_bad_batches(void **state)
{
    (void)state;
    struct fixture f;
    cdnopt_serve_params p = base_params(&f, "serve-samples-bad");
    start(&f, &p);
    const char *path = "/api/v1/samples";
    const char *csv_type = "Content-Type: text/csv\r\n";

    /* The first two samples fix a 300 s grid from 00:00. */
    const char *csv = "2004-12-14 00:00:00,10\n2004-12-14 00:05:00,11\n";
    http_response r = http_request(f.port, "POST", path, csv_type, csv, strlen(csv));
    assert_int_equal(r.status, 201);
    cdnopt_assert_contains(r.body, "\"replaced\":0");
    http_response_free(&r);

    expect_error(
        http_post_json(f.port, path,
                       "{\"samples\":[{\"timestamp\":\"2004-12-13 00:00:07\",\"gbps\":5}]}",
                       NULL),
        422, "invalid_value",
        "timestamp 2004-12-13 00:00:07 is off the samples' grid of 300 s steps from 2004-12-14 "
        "00:00:00");
    expect_error(http_post_json(f.port, path,
                                "{\"samples\":[{\"timestamp\":\"2004-12-14 00:10:00\",\"gbps\":5},"
                                "{\"timestamp\":\"2004-12-14 00:10:00\",\"gbps\":6}]}",
                                NULL),
                 422, "invalid_value",
                 "timestamp 2004-12-14 00:10:00 appears more than once in the batch");
    expect_error(
        http_post_json(f.port, path,
                       "{\"samples\":[{\"timestamp\":\"2004-12-14 00:10:00\",\"gbps\":1e300}]}",
                       NULL),
        422, "invalid_value",
        "samples[0]: gbps 1e+300 is out of range; it must be a number from 0 to 1e+06");

    /* Unknown fields used to be dropped: this batch was stored as 5 Gbit/s. */
    http_response unit = http_post_json(
        f.port, path,
        "{\"samples\":[{\"timestamp\":\"2004-12-14 00:10:00\",\"gbps\":5,\"unit\":\"mbit/s\"}]}",
        NULL);
    cdnopt_assert_contains(unit.body, "\"field\":\"unit\"");
    expect_error(unit, 400, "unknown_field",
                 "samples[0]: unknown field 'unit'; a sample has timestamp and gbps");
    expect_error(http_post_json(f.port, path,
                                "{\"samples\":[{\"timestamp\":\"2004-12-14 00:10:00\","
                                "\"gbps\":5}],\"unit\":\"mbit/s\"}",
                                NULL),
                 400, "unknown_field", "unknown field 'unit'; the body has one field, 'samples'");

    const char *hex = "2004-12-14 00:10:00,0x1p9\n";
    expect_error(http_request(f.port, "POST", path, csv_type, hex, strlen(hex)), 400,
                 "invalid_csv", "CSV line 1: gbps '0x1p9' is not a number");

    const char *word = "2004-12-14 00:10:00,abc\n";
    http_response bad_value = http_request(f.port, "POST", path, csv_type, word, strlen(word));
    cdnopt_assert_contains(bad_value.body, "\"field\":\"gbps\"");
    expect_error(bad_value, 400, "invalid_csv", "CSV line 1: gbps 'abc' is not a number");

    /* Invalid UTF-8 and NUL bytes are client errors that name the line and the offset. */
    expect_error(http_request(f.port, "POST", path, csv_type, "\xff", 1), 400, "invalid_csv",
                 "CSV line 1: byte 0xFF at offset 0 is not valid UTF-8");
    const char nul[] = "2004-12-14 00:10:00,1\n\0\0\0\n2004-12-14 00:15:00,1\n";
    expect_error(http_request(f.port, "POST", path, csv_type, nul, sizeof nul - 1), 400,
                 "invalid_csv", "CSV line 2: byte 0x00 at offset 22 is a NUL");

    /* A stored timestamp is replaced, and the response counts it. */
    r = http_post_json(f.port, path,
                       "{\"samples\":[{\"timestamp\":\"2004-12-14 00:05:00\",\"gbps\":7},"
                       "{\"timestamp\":\"2004-12-14 00:10:00\",\"gbps\":8}]}",
                       NULL);
    assert_int_equal(r.status, 201);
    cdnopt_assert_contains(r.body, "\"stored\":2");
    cdnopt_assert_contains(r.body, "\"replaced\":1");
    http_response_free(&r);
    r = http_request(f.port, "GET", path, NULL, NULL, 0);
    json_t *root = body_json(&r);
    json_t *values = json_object_get(root, "gbps");
    assert_int_equal(json_array_size(values), 3);
    assert_float_equal(json_number_value(json_array_get(values, 1)), 7, 0);
    json_decref(root);
    http_response_free(&r);
    stop(&f);
}

/* A sample typed with a year far ahead is rejected. One that passes the check but breaks
 * the grid blocks observed re-plans until DELETE removes it, and the other samples stay. */
static void samples_future_rejected_and_deleted(void **state)
{
    (void)state;
    struct fixture f;
    cdnopt_serve_params p = base_params(&f, "serve-samples-future");
    start(&f, &p);
    const char *path = "/api/v1/samples";
    const char *csv_type = "Content-Type: text/csv\r\n";

    /* A day of 300 s samples from the clock on, and one release inside that day. */
    char csv[16384];
    size_t len = 0;
    for (int i = 0; i < 288; i++)
        len += (size_t)snprintf(csv + len, sizeof csv - len, "2004-12-14 %02d:%02d:00,100\n",
                                i / 12, i % 12 * 5);
    http_response r = http_request(f.port, "POST", path, csv_type, csv, len);
    assert_int_equal(r.status, 201);
    http_response_free(&r);
    r = http_post_json(f.port, "/api/v1/releases",
                       "{\"id\":\"v1\",\"size_mb\":10,\"users\":100,"
                       "\"planned_at\":\"2004-12-14 02:00:00\","
                       "\"latest_start_at\":\"2004-12-14 04:00:00\"}",
                       NULL);
    assert_int_equal(r.status, 201);
    http_response_free(&r);

    /* 36 years after the clock, in JSON and in CSV. */
    r = http_post_json(f.port, path,
                       "{\"samples\":[{\"timestamp\":\"2040-12-14 00:05:00\",\"gbps\":512.3}]}",
                       NULL);
    cdnopt_assert_contains(r.body, "\"field\":\"samples[0].timestamp\"");
    expect_error(r, 422, "invalid_value",
                 "samples[0].timestamp is 2040-12-14 00:05:00, more than 30 days after the "
                 "service clock 2004-12-14 00:00");
    const char *far_csv = "2004-12-15 00:00:00,1\n2040-12-14 00:05:00,1\n";
    r = http_request(f.port, "POST", path, csv_type, far_csv, strlen(far_csv));
    cdnopt_assert_contains(r.body, "\"field\":\"CSV line 2 timestamp\"");
    expect_error(r, 422, "invalid_value", "CSV line 2 timestamp is 2040-12-14 00:05:00");

    /* Ten days ahead is accepted, and it leaves a gap in the grid. */
    r = http_post_json(f.port, path,
                       "{\"samples\":[{\"timestamp\":\"2004-12-24 00:00:00\",\"gbps\":512.3}]}",
                       NULL);
    assert_int_equal(r.status, 201);
    http_response_free(&r);
    expect_error(http_post_json(f.port, "/api/v1/replan", "{\"wait\":true}", NULL), 422,
                 "unprocessable",
                 "grid between 2004-12-14 23:55:00 and 2004-12-24 00:00:00; post the missing "
                 "samples, or delete wrong ones with DELETE /api/v1/samples");

    /* Both bounds are required, and from must come before to. */
    expect_error(
        http_request(f.port, "DELETE", "/api/v1/samples?from=2004-12-15%2000:00:00", NULL, NULL, 0),
        400, "missing_query", "query parameter 'to' is missing");
    expect_error(http_request(f.port, "DELETE",
                              "/api/v1/samples?from=2004-12-15%2000:00:00&to=2004-13-15", NULL,
                              NULL, 0),
                 400, "invalid_query", "query parameter 'to' is '2004-13-15'");
    expect_error(http_request(f.port, "DELETE",
                              "/api/v1/samples?from=2004-12-25%2000:00:00&to=2004-12-15%2000:00:00",
                              NULL, NULL, 0),
                 400, "invalid_query", "'to' must be after 'from'");

    /* A NUL byte (%00) would cut the value short, so the request is rejected. */
    expect_error(http_request(f.port, "DELETE",
                              "/api/v1/samples?from=2004-12-15%2000:00:00%00&to=2005-01-01", NULL,
                              NULL, 0),
                 400, "invalid_query", "query parameter 'from' contains a NUL byte (%00)");

    /* More than 366 days before the clock is a wrong date too. */
    expect_error(
        http_post_json(f.port, path,
                       "{\"samples\":[{\"timestamp\":\"1900-01-01 00:00:00\",\"gbps\":600}]}",
                       NULL),
        422, "invalid_value",
        "samples[0].timestamp is 1900-01-01 00:00:00, more than 366 days before the service "
        "clock 2004-12-14 00:00:00");

    r = http_request(f.port, "DELETE",
                     "/api/v1/samples?from=2004-12-15%2000:00:00&to=2005-01-01%2000:00:00", NULL,
                     NULL, 0);
    assert_int_equal(r.status, 200);
    json_t *root = body_json(&r);
    assert_int_equal(json_integer_value(json_object_get(root, "deleted")), 1);
    assert_string_equal(json_string_value(json_object_get(root, "from")), "2004-12-15 00:00:00");
    json_decref(root);
    http_response_free(&r);

    /* The day's samples are all still there, and the re-plan runs again. */
    r = http_request(f.port, "GET", path, NULL, NULL, 0);
    root = body_json(&r);
    assert_int_equal(json_array_size(json_object_get(root, "gbps")), 288);
    json_decref(root);
    http_response_free(&r);
    r = http_post_json(f.port, "/api/v1/replan", "{\"wait\":true}", NULL);
    if (r.status != 200)
        fail_msg("re-plan after the delete: %d %s", r.status, r.body ? r.body : "");
    cdnopt_assert_contains(r.body, "\"releases\":1");
    http_response_free(&r);
    stop(&f);
}

/* A second server on a port that one already listens on must fail to start. If it
 * shared the port, the kernel would split the requests between the two servers and
 * their two databases. */
static void start_rejects_port_in_use(void **state)
{
    (void)state;
    struct fixture f;
    cdnopt_serve_params p = base_params(&f, "serve-port-taken");
    start(&f, &p);

    struct fixture other;
    cdnopt_serve_params q = base_params(&other, "serve-port-taken-2");
    q.port = f.port;
    char err[CDNOPT_ERRMSG_MAX] = "";
    cdnopt_server *server = NULL;
    int rc = cdnopt_server_start(&q, &server, err);
    if (rc == CDNOPT_OK)
        cdnopt_server_stop(server);
    assert_int_equal(rc, CDNOPT_EIO);
    assert_null(server);
    char text[64];
    snprintf(text, sizeof text, "cannot listen on 127.0.0.1:%d", f.port);
    cdnopt_assert_contains(err, text);
    stop(&f);
}

/* Bad start parameters name the command-line flag and use its units. */
static void start_rejects_bad_params(void **state)
{
    (void)state;
    struct fixture f;
    cdnopt_serve_params p = base_params(&f, "serve-params");
    char err[CDNOPT_ERRMSG_MAX] = "";
    cdnopt_server *server = NULL;

    const struct {
        int64_t interval_us;
        const char *text;
    } intervals[] = {{7200000000LL, "--monitor-interval 2h is outside 1ms to 1h"},
                     {3660000000LL, "--monitor-interval 61m is outside"},
                     {500, "--monitor-interval 500us is outside"}};
    for (size_t i = 0; i < sizeof intervals / sizeof intervals[0]; i++) {
        p.monitor_interval_us = intervals[i].interval_us;
        assert_int_equal(cdnopt_server_start(&p, &server, err), CDNOPT_EINVAL);
        assert_null(server);
        cdnopt_assert_contains(err, intervals[i].text);
    }
    p.monitor_interval_us = 0;

    const double thresholds[] = {-1, NAN, 2e6};
    for (size_t i = 0; i < sizeof thresholds / sizeof thresholds[0]; i++) {
        p.bandwidth_alert_gbps = thresholds[i];
        assert_int_equal(cdnopt_server_start(&p, &server, err), CDNOPT_EINVAL);
        assert_null(server);
        cdnopt_assert_contains(err, "is outside 0 to 1000000 Gbit/s");
    }
    p.bandwidth_alert_gbps = 0;

    const struct {
        double margin;
        const char *text;
    } margins[] = {{-0.1, "--alert-clear-margin -0.1 is outside [0, 1)"},
                   {1, "--alert-clear-margin 1 is outside [0, 1)"},
                   {1.5, "--alert-clear-margin 1.5 is outside [0, 1)"},
                   {NAN, "--alert-clear-margin nan is outside [0, 1)"}};
    for (size_t i = 0; i < sizeof margins / sizeof margins[0]; i++) {
        p.alert_clear_margin = margins[i].margin;
        assert_int_equal(cdnopt_server_start(&p, &server, err), CDNOPT_EINVAL);
        assert_null(server);
        cdnopt_assert_contains(err, margins[i].text);
    }
    p.alert_clear_margin = cdnopt_serve_params_default().alert_clear_margin;

    /* Without a sampling thread each reading counts as 1 s. */
    const struct {
        int64_t interval_us, window_us;
        const char *text;
    } windows[] = {
        {0, 500000, "--alert-window 500ms is shorter than one --monitor-interval (1s)"},
        {0, 0, "--alert-window is 0 us; give a positive window"},
        {0, -1000000, "--alert-window is -1000000 us; give a positive window"},
        {1000, 3600000000LL, "--alert-window 1h is 3600000 readings at --monitor-interval "
                             "1ms, more than 100000"},
    };
    for (size_t i = 0; i < sizeof windows / sizeof windows[0]; i++) {
        p.monitor_interval_us = windows[i].interval_us;
        p.alert_window_us = windows[i].window_us;
        assert_int_equal(cdnopt_server_start(&p, &server, err), CDNOPT_EINVAL);
        assert_null(server);
        cdnopt_assert_contains(err, windows[i].text);
    }
    p.monitor_interval_us = 0;
    p.alert_window_us = cdnopt_serve_params_default().alert_window_us;

    p.web_dir = "/nonexistent-cdnopt-web";
    assert_int_equal(cdnopt_server_start(&p, &server, err), CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "--web-dir '/nonexistent-cdnopt-web' cannot be read (No such file");

    /* A file in place of the folder. */
    char file[600];
    snprintf(file, sizeof file, "%s/index.html", f.dir);
    FILE *out = fopen(file, "w");
    assert_non_null(out);
    fclose(out);
    p.web_dir = file;
    assert_int_equal(cdnopt_server_start(&p, &server, err), CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "is not a folder");

    /* A proc folder without stat or meminfo would leave the monitor without CPU and
     * memory readings, so the alerts would never fire. */
    p.web_dir = f.dir;
    p.proc_dir = "/nonexistent-cdnopt-proc";
    assert_int_equal(cdnopt_server_start(&p, &server, err), CDNOPT_EINVAL);
    assert_null(server);
    cdnopt_assert_contains(err, "--proc-dir '/nonexistent-cdnopt-proc' has no readable stat "
                                "(No such file");
    char proc[600];
    snprintf(proc, sizeof proc, "%s/stat", f.dir);
    cdnopt_test_write_file(proc, "cpu  1 0 0 1 0 0 0 0 0 0\n");
    p.proc_dir = f.dir;
    assert_int_equal(cdnopt_server_start(&p, &server, err), CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "has no readable meminfo");
    p.proc_dir = "/proc";

    /* The folder itself is accepted. */
    start(&f, &p);
    stop(&f);
}

/* Post n samples of 100 Gbit/s, 5 minutes apart from 2004-12-14 00:00:00. */
static void post_flat_samples(int port, int n)
{
    char csv[32768];
    size_t len = 0;
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(csv + len, sizeof csv - len, "2004-12-%02d %02d:%02d:00,100\n",
                                14 + i / 288, i % 288 / 12, i % 12 * 5);
    assert_true(len < sizeof csv - 1);
    http_response r =
        http_request(port, "POST", "/api/v1/samples", "Content-Type: text/csv\r\n", csv, len);
    assert_int_equal(r.status, 201);
    http_response_free(&r);
}

/* A release whose whole window breaks the blackout, or contains no step of the grid,
 * cannot start on any later samples either: the re-plan names it instead of deferring
 * it as if more samples would help. */
static void replan_rejects_never_startable(void **state)
{
    (void)state;
    struct fixture f;
    cdnopt_serve_params p = base_params(&f, "serve-never-startable");
    start(&f, &p);

    /* Two days of 5-minute samples from the clock's midnight. */
    post_flat_samples(f.port, 576);

    const char *csv_type = "Content-Type: text/csv\r\n";
    const char *releases = "id,size_mb,users,planned_at,latest_start_at\n"
                           "ok,10,100,2004-12-14 10:00:00,\n"
                           "night,600,100,2004-12-14 01:00:00,2004-12-14 03:00:00\n";
    http_response r =
        http_request(f.port, "POST", "/api/v1/releases", csv_type, releases, strlen(releases));
    assert_int_equal(r.status, 201);
    http_response_free(&r);
    r = http_post_json(f.port, "/api/v1/replan", "{\"wait\":true}", NULL);
    assert_int_equal(r.status, 422);
    cdnopt_assert_contains(r.body, "release 'night' has no legal start: every start from "
                                   "2004-12-14 01:00:00 to 2004-12-14 03:00:00 puts a batch of "
                                   "this 600.0 MB release in the 00:00-04:59 blackout");
    cdnopt_assert_contains(r.body, "cancel it with POST /api/v1/releases/night/cancel");
    http_response_free(&r);

    r = http_post_json(f.port, "/api/v1/releases/night/cancel", "", NULL);
    assert_int_equal(r.status, 200);
    http_response_free(&r);
    const char *off_grid = "id,size_mb,users,planned_at,latest_start_at\n"
                           "between,10,100,2004-12-14 10:02:00,2004-12-14 10:04:00\n";
    r = http_request(f.port, "POST", "/api/v1/releases", csv_type, off_grid, strlen(off_grid));
    assert_int_equal(r.status, 201);
    http_response_free(&r);
    r = http_post_json(f.port, "/api/v1/replan", "{\"wait\":true}", NULL);
    assert_int_equal(r.status, 422);
    cdnopt_assert_contains(r.body, "release 'between' has no legal start: its window "
                                   "2004-12-14 10:02:00 to 2004-12-14 10:04:00 contains no step "
                                   "of the samples' 300 s grid");
    http_response_free(&r);
    stop(&f);
}

static void replan_names_release_to_cancel(void **state)
{
    (void)state;
    struct fixture f;
    cdnopt_serve_params p = base_params(&f, "serve-unstartable");
    start(&f, &p);

    /* Twenty hours of samples; the release's window starts days after them. */
    post_flat_samples(f.port, 240);
    http_response r = http_post_json(f.port, "/api/v1/releases",
                                     "{\"id\":\"late\",\"size_mb\":10,\"users\":100,"
                                     "\"planned_at\":\"2004-12-20 10:00:00\"}",
                                     NULL);
    assert_int_equal(r.status, 201);
    http_response_free(&r);

    r = http_post_json(f.port, "/api/v1/replan", "{\"wait\":true}", NULL);
    assert_int_equal(r.status, 422);
    cdnopt_assert_contains(r.body, "release 'late' has no legal start");
    cdnopt_assert_contains(r.body, "cancel it with POST /api/v1/releases/late/cancel");
    http_response_free(&r);

    /* With a release that fits beside it, the re-plan places that one and defers
     * 'late', which stays pending. */
    r = http_post_json(f.port, "/api/v1/releases",
                       "{\"id\":\"soon\",\"size_mb\":10,\"users\":100,"
                       "\"planned_at\":\"2004-12-14 00:00:00\","
                       "\"latest_start_at\":\"2004-12-14 02:00:00\"}",
                       NULL);
    assert_int_equal(r.status, 201);
    http_response_free(&r);
    r = http_post_json(f.port, "/api/v1/replan", "{\"wait\":true}", NULL);
    if (r.status != 200)
        fail_msg("re-plan beside a deferred release: %d %s", r.status, r.body ? r.body : "");
    cdnopt_assert_contains(r.body, "\"deferred\":[\"late\"]");
    cdnopt_assert_contains(r.body, "\"releases\":1");

    /* Greedy has no LP bound, so both are null, as in `cdnopt plan --json`. */
    cdnopt_assert_contains(r.body, "\"gap\":null");
    cdnopt_assert_contains(r.body, "\"lp_bound_gbps\":null");
    http_response_free(&r);

    /* After the cancel, an exact re-plan of the release that fits succeeds. Under
     * LeakSanitizer this also checks that the workers free their GLPK environments. */
    r = http_post_json(f.port, "/api/v1/releases/late/cancel", "", NULL);
    assert_int_equal(r.status, 200);
    http_response_free(&r);
    r = http_post_json(f.port, "/api/v1/replan",
                       "{\"solver\":\"exact\",\"wait\":true,\"time_limit_s\":10}", NULL);
    if (r.status != 200)
        fail_msg("exact re-plan: %d %s", r.status, r.body ? r.body : "");
    cdnopt_assert_contains(r.body, "\"solver\":\"exact\"");
    cdnopt_assert_contains(r.body, "\"deferred\":[]");
    json_t *exact = body_json(&r);
    json_t *schedule = json_object_get(exact, "schedule");
    assert_true(json_is_number(json_object_get(schedule, "gap")));
    assert_true(json_is_number(json_object_get(schedule, "lp_bound_gbps")));
    json_decref(exact);
    http_response_free(&r);

    /* time_limit_s outside 1 s to 7 days is rejected. */
    expect_error(http_post_json(f.port, "/api/v1/replan", "{\"time_limit_s\":-5}", NULL), 422,
                 "invalid_value", "field 'time_limit_s' is -5");
    expect_error(http_post_json(f.port, "/api/v1/replan", "{\"time_limit_s\":1e308}", NULL),
                 422, "invalid_value", "field 'time_limit_s' is 1e+308");
    stop(&f);
}

/* Ids that `cdnopt plan` reads from a releases file (a comma, a slash, Chinese text) are
 * stored, found again by their percent-encoded path and planned. The schedule's JSON and
 * CSV write them back, and the CSV quotes the id that has a comma. */
static void release_ids_match_release_file(void **state)
{
    (void)state;
    struct fixture f;
    cdnopt_serve_params p = base_params(&f, "serve-ids");
    start(&f, &p);
    post_flat_samples(f.port, 240);

    http_response r = http_post_json(f.port, "/api/v1/releases",
                                     "{\"id\":\"app-v2,beta\",\"size_mb\":10,\"users\":100,"
                                     "\"planned_at\":\"2004-12-14 00:00:00\","
                                     "\"latest_start_at\":\"2004-12-14 02:00:00\"}",
                                     NULL);
    assert_int_equal(r.status, 201);
    char location[128];
    assert_string_equal(http_header(&r, "Location", location, sizeof location),
                        "/api/v1/releases/app-v2%2Cbeta");
    http_response_free(&r);
    const char *csv = "id,size_mb,users,planned_at,latest_start_at\n"
                      "\"游戏补丁-1.2\",10,100,2004-12-14 00:00:00,2004-12-14 02:00:00\n"
                      "a/b,10,100,2004-12-14 00:00:00,2004-12-14 02:00:00\n";
    r = http_request(f.port, "POST", "/api/v1/releases", "Content-Type: text/csv\r\n", csv,
                     strlen(csv));
    assert_int_equal(r.status, 201);
    http_response_free(&r);

    /* The path segment is split first and decoded after, so %2F is part of the id. */
    r = http_request(f.port, "GET", "/api/v1/releases/app-v2%2Cbeta", NULL, NULL, 0);
    assert_int_equal(r.status, 200);
    cdnopt_assert_contains(r.body, "\"id\":\"app-v2,beta\"");
    http_response_free(&r);
    r = http_request(f.port, "GET", "/api/v1/releases/%E6%B8%B8%E6%88%8F%E8%A1%A5%E4%B8%81-1.2",
                     NULL, NULL, 0);
    assert_int_equal(r.status, 200);
    cdnopt_assert_contains(r.body, "\"id\":\"游戏补丁-1.2\"");
    http_response_free(&r);
    r = http_post_json(f.port, "/api/v1/releases/a%2Fb/cancel", "", NULL);
    assert_int_equal(r.status, 200);
    cdnopt_assert_contains(r.body, "\"id\":\"a/b\"");
    cdnopt_assert_contains(r.body, "\"status\":\"cancelled\"");
    http_response_free(&r);

    /* Invalid escapes name the segment. */
    expect_error(http_request(f.port, "GET", "/api/v1/releases/app%zz", NULL, NULL, 0), 400,
                 "invalid_path",
                 "path segment 'app%zz' has a '%' that is not followed by two "
                 "hex digits");
    expect_error(http_post_json(f.port, "/api/v1/releases/a%2/cancel", "", NULL), 400,
                 "invalid_path", "path segment 'a%2' has a '%'");
    expect_error(http_request(f.port, "GET", "/api/v1/releases/a%00b", NULL, NULL, 0), 400,
                 "invalid_path", "contains %00");

    /* An id no release has is quoted with its bytes escaped and clipped: an overlong '/',
     * an ESC and 70 letters. Before, the first two read as '??' and '\u001B' and the
     * last came whole. */
    expect_error(http_request(f.port, "GET", "/api/v1/releases/%C0%AF", NULL, NULL, 0), 404,
                 "not_found", "release '\\xC0\\xAF' not found");
    expect_error(http_post_json(f.port, "/api/v1/releases/%1B%5B2J/cancel", "", NULL), 404,
                 "not_found", "release '\\x1B[2J' not found");
    char path[128] = "/api/v1/releases/";
    memset(path + strlen(path), 'a', 70);
    expect_error(http_request(f.port, "GET", path, NULL, NULL, 0), 404, "not_found",
                 "release 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...' not found");

    /* Ids the releases file rejects are rejected here too, from JSON and from CSV. */
    expect_error(http_post_json(f.port, "/api/v1/releases",
                                "{\"id\":\" x\",\"size_mb\":1,\"users\":1,"
                                "\"planned_at\":\"2004-12-14 10:00:00\"}",
                                NULL),
                 422, "invalid_value", "release: id ' x' has spaces or tabs around it");
    const char *padded = "id,size_mb,users,planned_at\n x ,1,1,2004-12-14 10:00:00\n";
    expect_error(http_request(f.port, "POST", "/api/v1/releases", "Content-Type: text/csv\r\n",
                              padded, strlen(padded)),
                 422, "invalid_value", "CSV line 2: id ' x ' has spaces or tabs around it");
    char long_id[160];
    snprintf(long_id, sizeof long_id,
             "{\"id\":\"%064d\",\"size_mb\":1,\"users\":1,\"planned_at\":\"2004-12-14 10:00:00\"}",
             7);
    expect_error(http_post_json(f.port, "/api/v1/releases", long_id, NULL), 422, "invalid_value",
                 "is longer than 63 bytes");

    /* The schedule carries the ids as they were given. */
    r = http_post_json(f.port, "/api/v1/replan", "{\"wait\":true}", NULL);
    if (r.status != 200)
        fail_msg("re-plan: %d %s", r.status, r.body ? r.body : "");
    cdnopt_assert_contains(r.body, "\"releases\":2");
    http_response_free(&r);
    r = http_request(f.port, "GET", "/api/v1/schedule", NULL, NULL, 0);
    assert_int_equal(r.status, 200);
    cdnopt_assert_contains(r.body, "\"id\":\"app-v2,beta\"");
    cdnopt_assert_contains(r.body, "\"id\":\"游戏补丁-1.2\"");
    http_response_free(&r);
    r = http_request(f.port, "GET", "/api/v1/schedule?format=csv", NULL, NULL, 0);
    assert_int_equal(r.status, 200);
    cdnopt_assert_contains(r.body, "\n\"app-v2,beta\",2004-12-14 ");
    cdnopt_assert_contains(r.body, "\n游戏补丁-1.2,2004-12-14 ");
    http_response_free(&r);
    stop(&f);
}

/* Overwrite every page of an SQLite file after the second with garbage. The first page
 * contains the schema and the second the schema_version table, so the server still opens
 * the file, but every other table reads as malformed. */
static void damage_database(const char *path)
{
    FILE *file = fopen(path, "r+b");
    assert_non_null(file);
    unsigned char header[100];
    assert_int_equal(fread(header, 1, sizeof header, file), sizeof header);
    long page_size = header[16] << 8 | header[17]; // big-endian at offset 16
    assert_int_equal(fseek(file, 0, SEEK_END), 0);
    long size = ftell(file);
    assert_true(size > 2 * page_size);
    assert_int_equal(fseek(file, 2 * page_size, SEEK_SET), 0);
    for (long i = 2 * page_size; i < size; i++)
        fputc((int)((i * 37 + 11) & 0xFF), file);
    assert_int_equal(fclose(file), 0);
}

/* A damaged database makes /healthz fail, as a load balancer's check expects, and a
 * re-plan reports it as the other routes do. */
static void damaged_database_unhealthy(void **state)
{
    (void)state;
    struct fixture f;
    cdnopt_serve_params p = base_params(&f, "serve-damaged");
    start(&f, &p);
    post_flat_samples(f.port, 24);
    http_response r = http_post_json(f.port, "/api/v1/releases",
                                     "{\"id\":\"r1\",\"size_mb\":10,\"users\":100,"
                                     "\"planned_at\":\"2004-12-14 00:00:00\"}",
                                     NULL);
    assert_int_equal(r.status, 201);
    http_response_free(&r);
    r = http_request(f.port, "GET", "/healthz", NULL, NULL, 0);
    assert_int_equal(r.status, 200);
    cdnopt_assert_contains(r.body, "\"status\":\"ok\",\"schema_version\":3");
    http_response_free(&r);
    stop(&f);

    damage_database(p.db_path);
    start(&f, &p);
    r = http_request(f.port, "GET", "/healthz", NULL, NULL, 0);
    assert_int_equal(r.status, 503);
    json_t *root = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(root, "status")), "storage_unavailable");
    json_t *error = json_object_get(root, "error");
    assert_string_equal(json_string_value(json_object_get(error, "code")), "storage_unavailable");
    cdnopt_assert_contains(json_string_value(json_object_get(error, "message")),
                           "database disk image is malformed");
    json_decref(root);
    http_response_free(&r);

    expect_error(http_post_json(f.port, "/api/v1/replan", "{\"wait\":true}", NULL), 503,
                 "storage_unavailable", "database disk image is malformed");
    expect_error(http_request(f.port, "GET", "/api/v1/releases", NULL, NULL, 0), 503,
                 "storage_unavailable", "database disk image is malformed");
    stop(&f);
}

/* A database path that is not UTF-8 (Latin-1 "café") is named with '?' in the 503 of
 * /healthz. jansson rejected the raw byte, so the check returned 500 internal. */
static void damaged_database_latin1_path(void **state)
{
    (void)state;
    struct fixture f;
    cdnopt_serve_params p = base_params(&f, "serve-damaged-latin1");
    char db[600];
    snprintf(db, sizeof db, "%s/caf\xe9.db", f.dir);
    p.db_path = db;
    start(&f, &p);
    post_flat_samples(f.port, 24);
    stop(&f);

    damage_database(db);
    start(&f, &p);
    http_response r = http_request(f.port, "GET", "/healthz", NULL, NULL, 0);
    assert_int_equal(r.status, 503);
    json_t *root = body_json(&r);
    const char *message =
        json_string_value(json_object_get(json_object_get(root, "error"), "message"));
    cdnopt_assert_contains(message, "/caf?.db: ");
    cdnopt_assert_contains(message, "database disk image is malformed");
    json_decref(root);
    http_response_free(&r);
    stop(&f);
}

/* Numbers beyond a double are named as written and reported as out of range, from JSON
 * and CSV bodies alike, never as "inf" or as malformed JSON. */
static void numbers_beyond_double_named(void **state)
{
    (void)state;
    struct fixture f;
    cdnopt_serve_params p = base_params(&f, "serve-huge-numbers");
    start(&f, &p);
    expect_error(http_post_json(f.port, "/api/v1/releases",
                                "{\"id\":\"a\",\"size_mb\":1e999,\"users\":1,"
                                "\"planned_at\":\"2004-12-14 10:00:00\"}",
                                NULL),
                 422, "invalid_value",
                 "request body: the number 1e999 at line 1 column 21 is out of range; give "
                 "each field a value in its range, such as size_mb of at most 1e+06");
    expect_error(http_post_json(f.port, "/api/v1/releases",
                                "{\"id\":\"a\",\"size_mb\":1,\"users\":100000000000000000000000,"
                                "\"planned_at\":\"2004-12-14 10:00:00\"}",
                                NULL),
                 422, "invalid_value", "the number 100000000000000000000000 at line 1");
    expect_error(http_post_json(f.port, "/api/v1/samples",
                                "{\"samples\":[{\"timestamp\":\"2004-12-14 00:10:00\","
                                "\"gbps\":-1e999}]}",
                                NULL),
                 422, "invalid_value", "the number -1e999 at line 1");

    const char *releases = "id,size_mb,users,planned_at\na,1e999,1,2004-12-14 10:00:00\n";
    expect_error(http_request(f.port, "POST", "/api/v1/releases", "Content-Type: text/csv\r\n",
                              releases, strlen(releases)),
                 422, "invalid_value",
                 "CSV line 2: size_mb 1e999 is out of range; it must be a positive number of at "
                 "most 1e+06");
    const char *samples = "timestamp,gbps\n2004-12-14 00:10:00,1e999\n";
    expect_error(http_request(f.port, "POST", "/api/v1/samples", "Content-Type: text/csv\r\n",
                              samples, strlen(samples)),
                 422, "invalid_value",
                 "CSV line 2: gbps 1e999 is out of range; it must be a number from 0 to 1e+06 "
                 "Gbit/s");
    stop(&f);
}

/* Reals are written in their shortest exact form and whole numbers without ".0". */
static void json_reals_shortest(void **state)
{
    (void)state;
    const struct {
        double value;
        const char *text;
    } cases[] = {
        {565.4, "565.4"},
        {98884.0, "98884"},
        {0.1, "0.1"},
        {-0.5, "-0.5"},
        {1.0 / 3.0, "0.3333333333333333"},
        {0.1 + 0.2, "0.30000000000000004"},
        {1e300, "1e+300"},
        {1e6, "1000000"},
        {9007199254740992.0, "9007199254740992"},
        {1e16, "1e+16"},
        {5e-324, "5e-324"},
    };
    char text[32];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        serve_format_real(cases[i].value, text, sizeof text);
        assert_string_equal(text, cases[i].text);
    }

    /* Random doubles over many magnitudes read back exactly, and one digit fewer does not. */
    cdnopt_rng rng;
    cdnopt_rng_seed(&rng, 42);
    for (int i = 0; i < 20000; i++) {
        double value = ldexp(cdnopt_rng_uniform(&rng), (int)cdnopt_rng_below(&rng, 200) - 100);
        serve_format_real(value, text, sizeof text);
        assert_true(strtod(text, NULL) == value);
        if (value != floor(value) && strchr(text, 'e') == NULL) {
            /* Significant digits: those after the leading zeros, without the point. */
            const char *first = text + strspn(text, "-0.");
            size_t digits = strspn(first, "0123456789.") - (strchr(first, '.') != NULL);
            char shorter[400];
            snprintf(shorter, sizeof shorter, "%.*g", (int)digits - 1, value);
            assert_true(digits <= 1 || strtod(shorter, NULL) != value);
        }
    }

    /* Digits inside strings and keys stay as they are, escaped quotes included. */
    json_t *value = json_pack("{s:s, s:[f, f, i, f]}", "k\"1.50", "x 1.5 \" 2.0", "v", 565.4,
                              98884.0, 3, -1.25e-7);
    char *dumped = serve_json_dumps(value);
    assert_string_equal(dumped,
                        "{\"k\\\"1.50\":\"x 1.5 \\\" 2.0\",\"v\":[565.4,98884,3,-1.25e-07]}");
    cdnopt_free(dumped);
    json_decref(value);
}

static void log_value_escapes_json(void **state)
{
    (void)state;
    char out[128];
    serve_escape_log_value("{\"error\":\"a\\b\"}\nnext", out, sizeof out);
    assert_string_equal(out, "{\\\"error\\\":\\\"a\\\\b\\\"}\\x0anext");

    /* A value longer than the buffer is cut before an escape would be split. */
    char small[4];
    serve_escape_log_value("ab\"", small, sizeof small);
    assert_string_equal(small, "ab");
}

static void metrics_pass_promtool(void **state)
{
    (void)state;
    struct fixture f;
    cdnopt_serve_params p = base_params(&f, "serve-metrics");
    start(&f, &p);
    serve_monitor_sample_now(f.server->monitor);

    http_response r = http_request(f.port, "GET", "/healthz", NULL, NULL, 0);
    assert_int_equal(r.status, 200);
    cdnopt_assert_contains(r.body, "\"schema_version\":3");
    http_response_free(&r);

    r = http_request(f.port, "GET", "/metrics", NULL, NULL, 0);
    assert_int_equal(r.status, 200);
    char type[96];
    cdnopt_assert_contains(http_header(&r, "Content-Type", type, sizeof type),
                           "text/plain; version=0.0.4");
    cdnopt_assert_contains(r.body, "cdnopt_http_requests_total{route=\"/healthz\",code=\"200\"} 1");
    cdnopt_assert_contains(r.body, "cdnopt_workers 1");
    cdnopt_assert_contains(r.body, "cdnopt_monitor_samples_total 1");

    char path[700];
    snprintf(path, sizeof path, "%s/metrics.txt", f.dir);
    FILE *out = fopen(path, "w");
    assert_non_null(out);
    fwrite(r.body, 1, r.body_len, out);
    fclose(out);
    http_response_free(&r);

    char command[2048];
    snprintf(command, sizeof command, "promtool check metrics < %s > %s.out 2>&1", path, path);
    int status = system(command);
    if (status != 0) {
        snprintf(command, sizeof command, "cat %s.out", path);
        assert_int_equal(system(command), 0);
    }
    assert_int_equal(status, 0);
    stop(&f);
}

/* ------------------------------------------------------------------------- */
/* Monitor, load shedding and the worker pool                                */
/* ------------------------------------------------------------------------- */

static void write_fake_proc(const char *dir, unsigned long long busy, unsigned long long idle,
                            long total_kb, long available_kb)
{
    char path[700];
    char text[512];
    snprintf(path, sizeof path, "%s/stat", dir);
    snprintf(text, sizeof text, "cpu  %llu 0 0 %llu 0 0 0 0 0 0\ncpu0 1 0 0 1 0 0 0 0 0 0\n", busy,
             idle);
    cdnopt_test_write_file(path, text);
    snprintf(path, sizeof path, "%s/meminfo", dir);
    snprintf(text, sizeof text, "MemTotal: %ld kB\nMemFree: 1 kB\nMemAvailable: %ld kB\n", total_kb,
             available_kb);
    cdnopt_test_write_file(path, text);
}

/* Make f->dir/proc with net/dev and the folders the monitor reads; proc receives its path. */
static void make_fake_proc(const struct fixture *f, char *proc, size_t size)
{
    snprintf(proc, size, "%s/proc", f->dir);
    char command[2048];
    snprintf(command, sizeof command, "mkdir -p %s/net %s/self", proc, proc);
    assert_int_equal(system(command), 0);
    char path[700];
    snprintf(path, sizeof path, "%s/net/dev", proc);
    cdnopt_test_write_file(path, "h1\nh2\n  lo: 1000 1 0 0 0 0 0 0 2000 1 0 0 0 0 0 0\n");
}

static void monitor_alerts_shed_and_scale(void **state)
{
    (void)state;
    struct fixture f;
    cdnopt_serve_params p = base_params(&f, "serve-monitor");
    char proc[600];
    make_fake_proc(&f, proc, sizeof proc);
    p.proc_dir = proc;
    p.max_workers = 3;
    p.alert_window_us = 1000000; // one hand-taken reading: each reading is judged alone
    write_fake_proc(proc, 100, 900, 1000, 500);
    start(&f, &p);
    serve_monitor *m = f.server->monitor;
    serve_monitor_sample_now(m);

    /* CPU: 950 busy of the next 1000 jiffies is 95% > 90%: one more worker. */
    write_fake_proc(proc, 1050, 950, 1000, 500);
    serve_monitor_sample_now(m);
    monitor_sample s;
    assert_true(serve_monitor_latest(m, &s));
    assert_float_equal(s.cpu_ratio, 0.95, 1e-12);
    assert_float_equal(s.memory_ratio, 0.5, 1e-12);
    assert_true(serve_monitor_alert_active(m, MONITOR_ALERT_CPU));
    size_t depth = 0;
    int workers = 0;
    int busy = 0;
    uint64_t recycles = 0;
    serve_pool_stats(f.server->pool, &depth, &workers, &busy, &recycles);
    assert_int_equal(workers, 2);

    /* Memory: 900 of 1000 kB used is 90% > 85%: jobs are shed, workers recycled. */
    write_fake_proc(proc, 1100, 1900, 1000, 100);
    serve_monitor_sample_now(m);
    assert_false(serve_monitor_alert_active(m, MONITOR_ALERT_CPU));
    assert_true(serve_monitor_alert_active(m, MONITOR_ALERT_MEMORY));
    serve_pool_stats(f.server->pool, &depth, &workers, &busy, &recycles);
    assert_int_equal(recycles, 1);

    http_response r = http_post_json(f.port, "/api/v1/replan", "{}", NULL);
    char retry[16];
    assert_string_equal(http_header(&r, "Retry-After", retry, sizeof retry), "30");
    expect_error(r, 503, "overloaded",
                 "memory use went over 85% and is not yet back at or under 80.75%");

    r = http_request(f.port, "GET", "/api/v1/system", NULL, NULL, 0);
    json_t *root = body_json(&r);
    json_t *monitor = json_object_get(root, "monitor");
    assert_int_equal(json_array_size(json_object_get(monitor, "samples")), 3);
    json_t *alerts = json_object_get(monitor, "alerts");
    assert_int_equal(json_array_size(alerts), 3); // cpu raised, cpu cleared, memory raised
    /* A host alert carries the service clock it fired at, but no traffic time. */
    json_t *cpu = json_array_get(alerts, 0);
    assert_string_equal(json_string_value(json_object_get(cpu, "alert")), "cpu");
    assert_string_equal(json_string_value(json_object_get(cpu, "unit")), "ratio");
    cdnopt_assert_contains(json_string_value(json_object_get(cpu, "clock")), "2004-12-14 ");
    assert_true(json_is_null(json_object_get(cpu, "traffic_at")));
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(monitor, "active_alerts"), 0)), "memory");
    json_decref(root);
    http_response_free(&r);

    /* Back under the threshold: jobs are accepted again. */
    write_fake_proc(proc, 1200, 2800, 1000, 600);
    serve_monitor_sample_now(m);
    expect_error(http_post_json(f.port, "/api/v1/replan", "{\"wait\":true}", NULL), 422,
                 "unprocessable", "no pending releases");
    stop(&f);
}

static atomic_int proc_unreadable_logs, proc_readable_logs;

static void count_proc_logs(enum cdnopt_log_level level, const char *module, const char *message,
                            void *user)
{
    (void)level;
    (void)module;
    (void)user;
    if (strstr(message, "event=proc_unreadable") != NULL)
        atomic_fetch_add(&proc_unreadable_logs, 1);
    if (strstr(message, "event=proc_readable") != NULL)
        atomic_fetch_add(&proc_readable_logs, 1);
}

/* Proc files that do not parse stop the start, naming the file and what is missing. A
 * reading that stops parsing later is left out (NaN, never 0), so it cannot clear an
 * alert, and is logged once per file. */
static void proc_garbage_rejected_and_skipped(void **state)
{
    (void)state;
    struct fixture f;
    cdnopt_serve_params p = base_params(&f, "serve-proc-garbage");
    char proc[600], stat_path[700], meminfo_path[700];
    make_fake_proc(&f, proc, sizeof proc);
    p.proc_dir = proc;
    p.alert_window_us = 1000000; // one hand-taken reading: each reading is judged alone
    snprintf(stat_path, sizeof stat_path, "%s/stat", proc);
    snprintf(meminfo_path, sizeof meminfo_path, "%s/meminfo", proc);
    const char *stat_ok = "cpu  1 0 0 1 0 0 0 0 0 0\n";
    const char *meminfo_ok = "MemTotal: 1000 kB\nMemAvailable: 500 kB\n";
    const struct {
        const char *stat, *meminfo, *message;
    } cases[] = {
        {"garbage\n", meminfo_ok,
         "stat does not start with a 'cpu ' line of at least 4 unsigned numbers (its first line "
         "starts 'garbage'); the CPU alert"},
        {"cpu  1 0 0\ncpu0 1 0 0 1\n", meminfo_ok, "stat does not start with a 'cpu ' line"},
        {stat_ok, "MemTotal: lots kB\nMemAvailable: 5 kB\n",
         "meminfo has no MemTotal line with a positive number of kB"},
        {stat_ok, "MemTotal: 1000 kB\nMemFree: 5 kB\n",
         "meminfo has no MemAvailable line with a number up to MemTotal of kB"},
        /* These read as -100% memory use and as counters near 2^64 before. */
        {stat_ok, "MemTotal: 1000 kB\nMemAvailable: 2000 kB\n",
         "meminfo has no MemAvailable line with a number up to MemTotal of kB"},
        {"cpu  -1 0 0 5\n", meminfo_ok,
         "stat does not start with a 'cpu ' line of at least 4 unsigned numbers (its first "
         "line starts 'cpu  -1 0 0 5')"},
        /* The first line is quoted with its control bytes escaped. */
        {"\x1b[2Jcpu\n", meminfo_ok, "(its first line starts '\\x1B[2Jcpu')"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        cdnopt_test_write_file(stat_path, cases[c].stat);
        cdnopt_test_write_file(meminfo_path, cases[c].meminfo);
        char err[CDNOPT_ERRMSG_MAX] = "";
        cdnopt_server *server = NULL;
        assert_int_equal(cdnopt_server_start(&p, &server, err), CDNOPT_EINVAL);
        assert_null(server);
        cdnopt_assert_contains(err, proc);
        cdnopt_assert_contains(err, cases[c].message);
    }

    /* 95% CPU and 90% memory raise both alerts. */
    write_fake_proc(proc, 100, 900, 1000, 500);
    start(&f, &p);
    serve_monitor *m = f.server->monitor;
    atomic_store(&proc_unreadable_logs, 0);
    atomic_store(&proc_readable_logs, 0);
    cdnopt_log_set(count_proc_logs, NULL);
    serve_monitor_sample_now(m);
    write_fake_proc(proc, 1050, 950, 1000, 100);
    serve_monitor_sample_now(m);
    assert_true(serve_monitor_alert_active(m, MONITOR_ALERT_CPU));
    assert_true(serve_monitor_alert_active(m, MONITOR_ALERT_MEMORY));

    /* Three readings of garbage: no values, the alerts stay, one log line per file. */
    cdnopt_test_write_file(stat_path, "garbage\n");
    cdnopt_test_write_file(meminfo_path, "garbage\n");
    for (int i = 0; i < 3; i++)
        serve_monitor_sample_now(m);
    monitor_sample s;
    assert_true(serve_monitor_latest(m, &s));
    assert_true(isnan(s.cpu_ratio));
    assert_true(isnan(s.memory_ratio));
    assert_true(serve_monitor_alert_active(m, MONITOR_ALERT_CPU));
    assert_true(serve_monitor_alert_active(m, MONITOR_ALERT_MEMORY));
    assert_int_equal(atomic_load(&proc_unreadable_logs), 2);

    http_response r = http_request(f.port, "GET", "/api/v1/system", NULL, NULL, 0);
    json_t *root = body_json(&r);
    json_t *samples = json_object_get(json_object_get(root, "monitor"), "samples");
    json_t *last = json_array_get(samples, json_array_size(samples) - 1);
    assert_true(json_is_null(json_object_get(last, "cpu_ratio")));
    assert_true(json_is_null(json_object_get(last, "memory_ratio")));
    json_decref(root);
    http_response_free(&r);
    r = http_request(f.port, "GET", "/metrics", NULL, NULL, 0);
    cdnopt_assert_contains(r.body, "\ncdnopt_cpu_usage_ratio NaN\n");
    cdnopt_assert_contains(r.body, "\ncdnopt_memory_used_ratio NaN\n");
    http_response_free(&r);

    /* Parsing again: the CPU share spans the gap from the last good reading, 50 busy of
     * 1000 jiffies, and 50% memory clears both alerts. */
    write_fake_proc(proc, 1100, 1900, 1000, 500);
    serve_monitor_sample_now(m);
    assert_true(serve_monitor_latest(m, &s));
    assert_float_equal(s.cpu_ratio, 0.05, 1e-12);
    assert_float_equal(s.memory_ratio, 0.5, 1e-12);
    assert_false(serve_monitor_alert_active(m, MONITOR_ALERT_CPU));
    assert_false(serve_monitor_alert_active(m, MONITOR_ALERT_MEMORY));
    assert_int_equal(atomic_load(&proc_readable_logs), 2);
    assert_int_equal(atomic_load(&proc_unreadable_logs), 2);
    cdnopt_log_set(NULL, NULL);
    stop(&f);
}

static double host_unix_s(void)
{
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    return (double)wall.tv_sec + (double)wall.tv_nsec * 1e-9;
}

static void post_csv_samples(int port, const char *csv, int status)
{
    http_response r = http_request(port, "POST", "/api/v1/samples", "Content-Type: text/csv\r\n",
                                   csv, strlen(csv));
    if (r.status != status)
        fail_msg("POST %s: expected %d, got %d: %s", csv, status, r.status, r.body ? r.body : "");
    http_response_free(&r);
}

/* Assert one bandwidth alert event of GET /api/v1/system. */
static void expect_bandwidth_event(json_t *alert, const char *state, const char *traffic_at,
                                   double gbps)
{
    assert_string_equal(json_string_value(json_object_get(alert, "alert")), "bandwidth");
    assert_string_equal(json_string_value(json_object_get(alert, "state")), state);
    assert_string_equal(json_string_value(json_object_get(alert, "traffic_at")), traffic_at);
    assert_float_equal(json_number_value(json_object_get(alert, "value")), gbps, 0);
    assert_float_equal(json_number_value(json_object_get(alert, "threshold")), 800, 0);
    assert_string_equal(json_string_value(json_object_get(alert, "unit")), "Gbit/s");
}

/* A replay posts old traffic while the service clock reads 2004. The bandwidth alert
 * names the sample's own time as traffic_at, so it lines up with the bandwidth chart, and
 * records the host's time and the service clock at which it fired. The samples are posted
 * out of order: the alert follows their timestamps, not their order in the body. */
static void bandwidth_alert_carries_traffic_time(void **state)
{
    (void)state;
    struct fixture f;
    cdnopt_serve_params p = base_params(&f, "serve-bandwidth-alert");
    p.bandwidth_alert_gbps = 800;
    start(&f, &p);
    double before_s = host_unix_s();

    /* Over 800 from 00:10 (812.5) to 00:15 (830), back under at 00:20 (640). */
    post_csv_samples(f.port,
                     "timestamp,gbps\n2004-12-14 00:20:00,640\n2004-12-14 00:00:00,500\n"
                     "2004-12-14 00:10:00,812.5\n2004-12-14 00:05:00,790\n"
                     "2004-12-14 00:15:00,830\n",
                     201);
    /* A backfill before the newest sample leaves the alert as it is. */
    post_csv_samples(f.port, "2004-12-13 23:55:00,900\n", 201);
    post_csv_samples(f.port, "2004-12-14 00:25:00,950\n", 201);

    http_response r = http_request(f.port, "GET", "/api/v1/system", NULL, NULL, 0);
    assert_int_equal(r.status, 200);
    json_t *root = body_json(&r);
    json_t *monitor = json_object_get(root, "monitor");
    json_t *alerts = json_object_get(monitor, "alerts");
    assert_int_equal(json_array_size(alerts), 3);
    expect_bandwidth_event(json_array_get(alerts, 0), "raised", "2004-12-14 00:10:00", 812.5);
    expect_bandwidth_event(json_array_get(alerts, 1), "cleared", "2004-12-14 00:20:00", 640);
    expect_bandwidth_event(json_array_get(alerts, 2), "raised", "2004-12-14 00:25:00", 950);
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(monitor, "active_alerts"), 0)),
        "bandwidth");

    /* Fired between the first post and the GET on both clocks. Civil times of one format
     * compare as text. */
    double response_s = json_number_value(json_object_get(root, "unix_s"));
    const char *response_clock = json_string_value(json_object_get(root, "clock"));
    assert_true(response_s >= before_s);
    for (size_t i = 0; i < 3; i++) {
        json_t *alert = json_array_get(alerts, i);
        double fired_s = json_number_value(json_object_get(alert, "unix_s"));
        const char *clock = json_string_value(json_object_get(alert, "clock"));
        assert_non_null(clock);
        assert_true(fired_s >= before_s && fired_s <= response_s);
        assert_true(strcmp(clock, "2004-12-14 00:00:00") >= 0);
        assert_true(strcmp(clock, response_clock) <= 0);
    }
    json_decref(root);
    http_response_free(&r);

    r = http_request(f.port, "GET", "/metrics", NULL, NULL, 0);
    cdnopt_assert_contains(r.body, "cdnopt_alert_active{alert=\"bandwidth\"} 1\n");
    http_response_free(&r);
    stop(&f);
}

/* The forecast alert names the first step whose safety line is above the threshold, and a
 * later forecast under its clear threshold (760 = 800 x 0.95) clears the alert at its
 * highest step. */
static void forecast_alert_names_first_step(void **state)
{
    (void)state;
    struct fixture f;
    cdnopt_serve_params p = base_params(&f, "serve-forecast-alert");
    p.bandwidth_alert_gbps = 800;
    start(&f, &p);
    const int64_t t[3] = {DAY_START, DAY_START + 300, DAY_START + 600};
    serve_monitor_check_forecast(f.server->monitor, t, (const double[]){700, 850, 900}, 3);
    serve_monitor_check_forecast(f.server->monitor, t, (const double[]){810, 820, 830}, 3);
    serve_monitor_check_forecast(f.server->monitor, t, (const double[]){600, 750, 700}, 3);

    http_response r = http_request(f.port, "GET", "/api/v1/system", NULL, NULL, 0);
    json_t *root = body_json(&r);
    json_t *alerts = json_object_get(json_object_get(root, "monitor"), "alerts");
    assert_int_equal(json_array_size(alerts), 2); // the second forecast changes nothing
    const struct {
        const char *state, *traffic_at;
        double gbps;
    } expected[2] = {{"raised", "2004-12-14 00:05:00", 850},
                     {"cleared", "2004-12-14 00:05:00", 750}};
    for (size_t i = 0; i < 2; i++) {
        json_t *alert = json_array_get(alerts, i);
        assert_string_equal(json_string_value(json_object_get(alert, "alert")), "forecast");
        assert_string_equal(json_string_value(json_object_get(alert, "state")), expected[i].state);
        assert_string_equal(json_string_value(json_object_get(alert, "traffic_at")),
                            expected[i].traffic_at);
        assert_float_equal(json_number_value(json_object_get(alert, "value")), expected[i].gbps, 0);
        assert_string_equal(json_string_value(json_object_get(alert, "unit")), "Gbit/s");
    }
    json_decref(root);
    http_response_free(&r);
    stop(&f);
}

/* Without a threshold no sample raises the bandwidth alert. */
static void bandwidth_alert_off_by_default(void **state)
{
    (void)state;
    struct fixture f;
    cdnopt_serve_params p = base_params(&f, "serve-bandwidth-off");
    start(&f, &p);
    post_csv_samples(f.port, "2004-12-14 00:00:00,900000\n", 201);
    http_response r = http_request(f.port, "GET", "/api/v1/system", NULL, NULL, 0);
    json_t *root = body_json(&r);
    json_t *monitor = json_object_get(root, "monitor");
    assert_int_equal(json_array_size(json_object_get(monitor, "alerts")), 0);
    assert_int_equal(json_array_size(json_object_get(monitor, "active_alerts")), 0);
    json_decref(root);
    http_response_free(&r);
    stop(&f);
}

/* One expected event of the alert log. Its traffic_at is NULL for cpu and memory. */
struct alert_event {
    const char *alert, *state, *traffic_at;
    double value, clear_threshold;
};

/* Assert the alert log of GET /api/v1/system, oldest first, and the clear margin and alert
 * window in seconds that it reports. cpu and memory events carry that window, and
 * bandwidth and forecast events carry null. */
static void expect_alert_log(int port, double margin, double window_s,
                             const struct alert_event *expected, size_t n)
{
    http_response r = http_request(port, "GET", "/api/v1/system", NULL, NULL, 0);
    assert_int_equal(r.status, 200);
    json_t *root = body_json(&r);
    json_t *monitor = json_object_get(root, "monitor");
    assert_float_equal(json_number_value(json_object_get(monitor, "alert_clear_margin")), margin,
                       0);
    assert_float_equal(json_number_value(json_object_get(monitor, "alert_window_s")), window_s, 0);
    json_t *alerts = json_object_get(monitor, "alerts");
    if (json_array_size(alerts) != n)
        fail_msg("expected %zu alert events, got %zu: %s", n, json_array_size(alerts), r.body);
    for (size_t i = 0; i < n; i++) {
        json_t *alert = json_array_get(alerts, i);
        assert_string_equal(json_string_value(json_object_get(alert, "alert")), expected[i].alert);
        assert_string_equal(json_string_value(json_object_get(alert, "state")), expected[i].state);
        if (expected[i].traffic_at == NULL) {
            assert_true(json_is_null(json_object_get(alert, "traffic_at")));
            assert_float_equal(json_number_value(json_object_get(alert, "window_s")), window_s,
                               0);
        } else {
            assert_string_equal(json_string_value(json_object_get(alert, "traffic_at")),
                                expected[i].traffic_at);
            assert_true(json_is_null(json_object_get(alert, "window_s")));
        }
        assert_float_equal(json_number_value(json_object_get(alert, "value")), expected[i].value,
                           1e-12);
        assert_float_equal(json_number_value(json_object_get(alert, "clear_threshold")),
                           expected[i].clear_threshold, 1e-12);
    }
    json_decref(root);
    http_response_free(&r);
}

/* Assert the cdnopt_alert_active gauge of one alert in /metrics. */
static void expect_alert_gauge(int port, const char *alert, int active)
{
    char line[128];
    snprintf(line, sizeof line, "cdnopt_alert_active{alert=\"%s\"} %d\n", alert, active);
    http_response r = http_request(port, "GET", "/metrics", NULL, NULL, 0);
    assert_int_equal(r.status, 200);
    cdnopt_assert_contains(r.body, line);
    http_response_free(&r);
}

/* Traffic hovering around 800 Gbit/s raises the bandwidth alert once. With the default
 * margin of 0.05 it clears only at 760 = 800 x 0.95 or less, and rises again only above
 * 800. */
static void bandwidth_alert_hysteresis(void **state)
{
    (void)state;
    struct fixture f;
    cdnopt_serve_params p = base_params(&f, "serve-bandwidth-hysteresis");
    p.bandwidth_alert_gbps = 800;
    start(&f, &p);

    post_csv_samples(f.port,
                     "timestamp,gbps\n2004-12-14 00:00:00,805\n2004-12-14 00:05:00,795\n"
                     "2004-12-14 00:10:00,802\n2004-12-14 00:15:00,798\n"
                     "2004-12-14 00:20:00,770\n2004-12-14 00:25:00,761\n",
                     201);
    const struct alert_event hovering[] = {
        {"bandwidth", "raised", "2004-12-14 00:00:00", 805, 760}};
    expect_alert_log(f.port, 0.05, 30, hovering, 1);
    expect_alert_gauge(f.port, "bandwidth", 1);

    /* 760 clears the alert, 790 stays under the threshold, and 801 raises it again. */
    post_csv_samples(f.port,
                     "2004-12-14 00:30:00,760\n2004-12-14 00:35:00,790\n"
                     "2004-12-14 00:40:00,801\n",
                     201);
    const struct alert_event all[] = {
        {"bandwidth", "raised", "2004-12-14 00:00:00", 805, 760},
        {"bandwidth", "cleared", "2004-12-14 00:30:00", 760, 760},
        {"bandwidth", "raised", "2004-12-14 00:40:00", 801, 760}};
    expect_alert_log(f.port, 0.05, 30, all, 3);
    expect_alert_gauge(f.port, "bandwidth", 1);
    stop(&f);
}

/* A forecast whose safety line stays between the clear threshold (760) and the threshold
 * (800) leaves the forecast alert as it is, whichever state that is. */
static void forecast_alert_hysteresis(void **state)
{
    (void)state;
    struct fixture f;
    cdnopt_serve_params p = base_params(&f, "serve-forecast-hysteresis");
    p.bandwidth_alert_gbps = 800;
    start(&f, &p);
    serve_monitor *m = f.server->monitor;
    const int64_t t[3] = {DAY_START, DAY_START + 300, DAY_START + 600};
    serve_monitor_check_forecast(m, t, (const double[]){700, 850, 900}, 3); // raises
    serve_monitor_check_forecast(m, t, (const double[]){600, 790, 700}, 3);
    serve_monitor_check_forecast(m, t, (const double[]){761, 700, 600}, 3);
    assert_true(serve_monitor_alert_active(m, MONITOR_ALERT_FORECAST));
    serve_monitor_check_forecast(m, t, (const double[]){700, 760, 600}, 3); // clears
    serve_monitor_check_forecast(m, t, (const double[]){790, 800, 700}, 3);
    assert_false(serve_monitor_alert_active(m, MONITOR_ALERT_FORECAST));
    serve_monitor_check_forecast(m, t, (const double[]){700, 780, 801}, 3); // raises

    const struct alert_event expected[] = {
        {"forecast", "raised", "2004-12-14 00:05:00", 850, 760},
        {"forecast", "cleared", "2004-12-14 00:05:00", 760, 760},
        {"forecast", "raised", "2004-12-14 00:10:00", 801, 760}};
    expect_alert_log(f.port, 0.05, 30, expected, 3);
    stop(&f);
}

/* Cumulative jiffies of the fake /proc/stat. */
struct fake_cpu {
    const char *proc;
    unsigned long long busy, idle;
};

/* Add 1000 jiffies to the fake /proc/stat, of which `busy` are busy, keep memory at 50%
 * used, and take a sample. The CPU reading is then busy / 1000. */
static void sample_cpu(serve_monitor *m, struct fake_cpu *cpu, unsigned busy)
{
    cpu->busy += busy;
    cpu->idle += 1000 - busy;
    write_fake_proc(cpu->proc, cpu->busy, cpu->idle, 1000, 500);
    serve_monitor_sample_now(m);
}

/* Start a server whose monitor reads a fake /proc under f->dir, with memory at 50% used
 * and room for three workers beyond the first that stay while the test runs. */
static void start_with_fake_cpu(struct fixture *f, cdnopt_serve_params *p, char *proc,
                                size_t size, struct fake_cpu *cpu)
{
    make_fake_proc(f, proc, size);
    p->proc_dir = proc;
    p->max_workers = 4;
    p->worker_idle_ms = 600000;
    *cpu = (struct fake_cpu){proc, 100, 900};
    write_fake_proc(proc, cpu->busy, cpu->idle, 1000, 500);
    start(f, p);
}

static int live_workers(const struct fixture *f)
{
    size_t depth = 0;
    int workers = 0;
    int busy = 0;
    uint64_t recycles = 0;
    serve_pool_stats(f->server->pool, &depth, &workers, &busy, &recycles);
    return workers;
}

/* CPU at 89-91% against the 90% threshold raises the CPU alert once, so the pool gains one
 * worker and not one per crossing. The alert clears at 85.5% = 90% x 0.95 or less. */
static void cpu_alert_hysteresis(void **state)
{
    (void)state;
    struct fixture f;
    cdnopt_serve_params p = base_params(&f, "serve-cpu-hysteresis");
    p.alert_window_us = 1000000; // one hand-taken reading: each reading is judged alone
    char proc[600];
    struct fake_cpu cpu;
    start_with_fake_cpu(&f, &p, proc, sizeof proc, &cpu);
    serve_monitor *m = f.server->monitor;
    serve_monitor_sample_now(m); // the first reading has no CPU delta
    assert_int_equal(live_workers(&f), 1);

    const unsigned hovering[] = {910, 890, 910, 890, 910, 860};
    for (size_t i = 0; i < sizeof hovering / sizeof hovering[0]; i++)
        sample_cpu(m, &cpu, hovering[i]);
    assert_true(serve_monitor_alert_active(m, MONITOR_ALERT_CPU));
    assert_int_equal(live_workers(&f), 2);

    sample_cpu(m, &cpu, 850); // clears
    assert_false(serve_monitor_alert_active(m, MONITOR_ALERT_CPU));
    sample_cpu(m, &cpu, 890);
    assert_false(serve_monitor_alert_active(m, MONITOR_ALERT_CPU));
    sample_cpu(m, &cpu, 910); // raises again
    assert_int_equal(live_workers(&f), 3);

    const struct alert_event expected[] = {{"cpu", "raised", NULL, 0.91, 0.855},
                                           {"cpu", "cleared", NULL, 0.85, 0.855},
                                           {"cpu", "raised", NULL, 0.91, 0.855}};
    expect_alert_log(f.port, 0.05, 1, expected, 3);
    stop(&f);
}

/* A margin of 0 clears every alert at its threshold, so hovering values raise and clear
 * it at each crossing. */
static void alert_margin_zero_clears_at_threshold(void **state)
{
    (void)state;
    struct fixture f;
    cdnopt_serve_params p = base_params(&f, "serve-margin-zero");
    p.bandwidth_alert_gbps = 800;
    p.alert_clear_margin = 0;
    p.alert_window_us = 1000000; // one hand-taken reading: each reading is judged alone
    char proc[600];
    struct fake_cpu cpu;
    start_with_fake_cpu(&f, &p, proc, sizeof proc, &cpu);
    serve_monitor *m = f.server->monitor;

    post_csv_samples(f.port,
                     "timestamp,gbps\n2004-12-14 00:00:00,805\n2004-12-14 00:05:00,795\n"
                     "2004-12-14 00:10:00,802\n2004-12-14 00:15:00,800\n",
                     201);
    const int64_t t[3] = {DAY_START, DAY_START + 300, DAY_START + 600};
    serve_monitor_check_forecast(m, t, (const double[]){700, 850, 900}, 3);
    serve_monitor_check_forecast(m, t, (const double[]){600, 790, 700}, 3);
    serve_monitor_sample_now(m);
    sample_cpu(m, &cpu, 910);
    sample_cpu(m, &cpu, 890);
    sample_cpu(m, &cpu, 910);
    assert_int_equal(live_workers(&f), 3); // one worker per raise

    const struct alert_event expected[] = {
        {"bandwidth", "raised", "2004-12-14 00:00:00", 805, 800},
        {"bandwidth", "cleared", "2004-12-14 00:05:00", 795, 800},
        {"bandwidth", "raised", "2004-12-14 00:10:00", 802, 800},
        {"bandwidth", "cleared", "2004-12-14 00:15:00", 800, 800},
        {"forecast", "raised", "2004-12-14 00:05:00", 850, 800},
        {"forecast", "cleared", "2004-12-14 00:05:00", 790, 800},
        {"cpu", "raised", NULL, 0.91, 0.9},
        {"cpu", "cleared", NULL, 0.89, 0.9},
        {"cpu", "raised", NULL, 0.91, 0.9}};
    expect_alert_log(f.port, 0, 1, expected, sizeof expected / sizeof expected[0]);
    expect_alert_gauge(f.port, "bandwidth", 0);
    stop(&f);
}

/* With a window of 3 readings the CPU alert judges the busy share of the last 3000
 * jiffies. Spikes of one and two readings at 100% over a 50% load keep that mean at or
 * under 2500 / 3000, so they raise no alert and add no worker. Judging each reading alone
 * would raise it at every spike. A sustained 95% raises it once, a dip to 80% leaves it
 * raised, and it clears once the mean is at or under 85.5%. */
static void cpu_alert_judges_window_mean(void **state)
{
    (void)state;
    struct fixture f;
    cdnopt_serve_params p = base_params(&f, "serve-cpu-window");
    p.alert_window_us = 3000000; // 3 hand-taken readings
    char proc[600];
    struct fake_cpu cpu;
    start_with_fake_cpu(&f, &p, proc, sizeof proc, &cpu);
    serve_monitor *m = f.server->monitor;
    serve_monitor_sample_now(m); // the counters the first window starts from

    /* Busy jiffies of each reading, and the mean of the last three, from the third on:
     * 2000, 2000, 2500, 2500, 2500 and 2450 of 3000. */
    const unsigned spikes[] = {500, 500, 1000, 500, 1000, 1000, 500, 950};
    for (size_t i = 0; i < sizeof spikes / sizeof spikes[0]; i++) {
        sample_cpu(m, &cpu, spikes[i]);
        assert_false(serve_monitor_alert_active(m, MONITOR_ALERT_CPU));
    }
    assert_int_equal(live_workers(&f), 1);
    expect_alert_log(f.port, 0.05, 3, NULL, 0);

    sample_cpu(m, &cpu, 950); // 500 + 950 + 950 = 2400 of 3000
    assert_false(serve_monitor_alert_active(m, MONITOR_ALERT_CPU));
    sample_cpu(m, &cpu, 950); // 2850 of 3000 = 95%: raised
    assert_true(serve_monitor_alert_active(m, MONITOR_ALERT_CPU));
    assert_int_equal(live_workers(&f), 2);
    sample_cpu(m, &cpu, 950);
    sample_cpu(m, &cpu, 800); // 2700 of 3000 = 90% stays above 85.5%
    assert_true(serve_monitor_alert_active(m, MONITOR_ALERT_CPU));
    sample_cpu(m, &cpu, 500); // 2250 of 3000 = 75%: cleared
    assert_false(serve_monitor_alert_active(m, MONITOR_ALERT_CPU));
    assert_int_equal(live_workers(&f), 2);

    const struct alert_event expected[] = {{"cpu", "raised", NULL, 0.95, 0.855},
                                           {"cpu", "cleared", NULL, 0.75, 0.855}};
    expect_alert_log(f.port, 0.05, 3, expected, 2);
    stop(&f);
}

/* The memory alert judges the mean of the good readings in the window of 3, so one
 * reading at 95% over 50% does not shed load. A reading that fails is left out of the
 * mean: 95%, garbage, 95% is a mean of 95% over two readings. */
static void memory_alert_judges_window_mean(void **state)
{
    (void)state;
    struct fixture f;
    cdnopt_serve_params p = base_params(&f, "serve-memory-window");
    p.alert_window_us = 3000000; // 3 hand-taken readings
    char proc[600], meminfo[700];
    make_fake_proc(&f, proc, sizeof proc);
    snprintf(meminfo, sizeof meminfo, "%s/meminfo", proc);
    p.proc_dir = proc;
    write_fake_proc(proc, 100, 900, 1000, 500);
    start(&f, &p);
    serve_monitor *m = f.server->monitor;

    /* kB available of 1000, one reading each; the means of the last three from the third
     * reading on are 65%, 65% and 80%. */
    const long available_kb[] = {500, 500, 50, 500, 50, 50};
    for (size_t i = 0; i < sizeof available_kb / sizeof available_kb[0]; i++) {
        write_fake_proc(proc, 100, 900, 1000, available_kb[i]);
        serve_monitor_sample_now(m);
        assert_false(serve_monitor_alert_active(m, MONITOR_ALERT_MEMORY));
    }
    cdnopt_test_write_file(meminfo, "garbage\n");
    serve_monitor_sample_now(m); // left out: the mean of 50 and 50 kB is not judged
    assert_false(serve_monitor_alert_active(m, MONITOR_ALERT_MEMORY));
    write_fake_proc(proc, 100, 900, 1000, 50);
    serve_monitor_sample_now(m); // 95%, garbage, 95%: raised at 95%
    assert_true(serve_monitor_alert_active(m, MONITOR_ALERT_MEMORY));
    size_t depth = 0;
    int workers = 0;
    int busy = 0;
    uint64_t recycles = 0;
    serve_pool_stats(f.server->pool, &depth, &workers, &busy, &recycles);
    assert_int_equal(recycles, 1);

    const struct alert_event expected[] = {{"memory", "raised", NULL, 0.95, 0.8075}};
    expect_alert_log(f.port, 0.05, 3, expected, 1);
    stop(&f);
}

/* An uploaded history days before the service clock (2004-12-14 00:00:00) is stored, but
 * its peaks above 800 Gbit/s raise no bandwidth alert, and nor does a sample 2 h before
 * the clock. A sample at the clock raises the alert, and a later history of low traffic
 * does not clear it. */
static void bandwidth_history_leaves_alert(void **state)
{
    (void)state;
    struct fixture f;
    cdnopt_serve_params p = base_params(&f, "serve-bandwidth-history");
    p.bandwidth_alert_gbps = 800;
    start(&f, &p);

    post_csv_samples(f.port,
                     "timestamp,gbps\n2004-12-10 00:00:00,500\n2004-12-10 00:05:00,900\n"
                     "2004-12-10 00:10:00,700\n2004-12-10 00:15:00,950\n"
                     "2004-12-10 00:20:00,600\n2004-12-13 22:00:00,990\n",
                     201);
    expect_alert_log(f.port, 0.05, 30, NULL, 0);
    expect_alert_gauge(f.port, "bandwidth", 0);
    http_response r = http_request(f.port, "GET", "/api/v1/samples", NULL, NULL, 0);
    assert_int_equal(r.status, 200);
    json_t *root = body_json(&r);
    json_t *stored = json_object_get(root, "gbps");
    assert_int_equal(json_array_size(stored), 6);
    assert_float_equal(json_number_value(json_array_get(stored, 3)), 950, 0);
    json_decref(root);
    http_response_free(&r);

    post_csv_samples(f.port, "2004-12-14 00:00:00,900\n", 201);
    post_csv_samples(f.port, "2004-12-11 00:00:00,100\n", 201);
    const struct alert_event expected[] = {
        {"bandwidth", "raised", "2004-12-14 00:00:00", 900, 760}};
    expect_alert_log(f.port, 0.05, 30, expected, 1);
    expect_alert_gauge(f.port, "bandwidth", 1);
    stop(&f);
}

/* A sample posted with a wrong date ahead of the clock raises the bandwidth alert. Once
 * DELETE removes it, the current samples are judged again and clear the alert. Before,
 * they counted as a backfill older than the deleted sample, so the alert stayed up. */
static void bandwidth_deleted_sample_forgotten(void **state)
{
    (void)state;
    struct fixture f;
    cdnopt_serve_params p = base_params(&f, "serve-bandwidth-deleted");
    p.bandwidth_alert_gbps = 800;
    start(&f, &p);

    post_csv_samples(f.port, "timestamp,gbps\n2004-12-14 00:00:00,500\n2004-12-14 00:05:00,600\n",
                     201);
    post_csv_samples(f.port, "2004-12-20 00:10:00,900\n", 201); // meant 2004-12-14 00:10
    expect_alert_gauge(f.port, "bandwidth", 1);
    http_response r = http_request(f.port, "DELETE",
                                   "/api/v1/samples?from=2004-12-20%2000:00:00"
                                   "&to=2004-12-21%2000:00:00",
                                   NULL, NULL, 0);
    assert_int_equal(r.status, 200);
    cdnopt_assert_contains(r.body, "\"deleted\":1");
    http_response_free(&r);

    /* Older than the kept sample at 00:05: still a backfill. */
    post_csv_samples(f.port, "2004-12-13 23:55:00,100\n", 201);
    expect_alert_gauge(f.port, "bandwidth", 1);
    post_csv_samples(f.port, "2004-12-14 00:10:00,700\n", 201);
    const struct alert_event expected[] = {
        {"bandwidth", "raised", "2004-12-20 00:10:00", 900, 760},
        {"bandwidth", "cleared", "2004-12-14 00:10:00", 700, 760}};
    expect_alert_log(f.port, 0.05, 30, expected, 2);
    expect_alert_gauge(f.port, "bandwidth", 0);
    stop(&f);
}

/* Jobs of the pool test block until the test opens the gate. */
static atomic_bool gate_open;

static void blocked_job(serve_job *job)
{
    while (!atomic_load(&gate_open)) {
        struct timespec pause = {0, 1000000};
        nanosleep(&pause, NULL);
    }
    job->result = json_true();
}

static int pool_workers(serve_pool *pool)
{
    size_t depth = 0;
    int workers = 0;
    int busy = 0;
    uint64_t recycles = 0;
    serve_pool_stats(pool, &depth, &workers, &busy, &recycles);
    return workers;
}

/* Four blocked jobs grow a 1..3 pool to 3 workers; once they finish, the
 * workers above the minimum exit after the 50 ms idle time. */
static void pool_grows_and_shrinks(void **state)
{
    (void)state;
    struct cdnopt_server fake;
    memset(&fake, 0, sizeof fake);
    serve_pool *pool = NULL;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(serve_pool_new(1, 3, 16, 50, &pool, err), CDNOPT_OK);
    assert_int_equal(pool_workers(pool), 1);

    atomic_store(&gate_open, false);
    serve_job *jobs[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = serve_job_new(&fake, "test", blocked_job, NULL, NULL);
        assert_int_equal(serve_pool_submit(pool, jobs[i]), CDNOPT_OK);
    }
    assert_int_equal(pool_workers(pool), 3);

    atomic_store(&gate_open, true);
    for (int i = 0; i < 4; i++)
        while (atomic_load(&jobs[i]->status) != JOB_DONE) {
            struct timespec pause = {0, 1000000};
            nanosleep(&pause, NULL);
        }
    for (int i = 0; i < 500 && pool_workers(pool) > 1; i++) {
        struct timespec pause = {0, 10000000};
        nanosleep(&pause, NULL);
    }
    assert_int_equal(pool_workers(pool), 1);

    for (int i = 0; i < 4; i++)
        serve_job_release(jobs[i]);
    serve_pool_free(pool);
    assert_int_equal(cdnopt_alloc_live_blocks(), 0);
}

/* ------------------------------------------------------------------------- */
/* Re-planning                                                               */
/* ------------------------------------------------------------------------- */

static char *read_text(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot read %s", path);
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

/* releases.csv rows to a JSON batch. */
static char *releases_batch(const char *csv)
{
    json_t *list = json_array();
    char *copy = strdup(csv);
    char *save = NULL;
    strtok_r(copy, "\n", &save); // header
    for (char *line = strtok_r(NULL, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        char id[64];
        double size_mb = 0;
        double users = 0;
        char planned[32];
        if (sscanf(line, "%63[^,],%lf,%lf,%19[^,\n]", id, &size_mb, &users, planned) != 4)
            fail_msg("bad releases line: %s", line);
        json_array_append_new(list, json_pack("{s:s, s:f, s:f, s:s}", "id", id, "size_mb", size_mb,
                                              "users", users, "planned_at", planned));
    }
    free(copy);
    json_t *root = json_pack("{s:o}", "releases", list);
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return text;
}

static double referee_figure(const char *json_text, const char *group, const char *key)
{
    json_t *root = json_loads(json_text, 0, NULL);
    assert_non_null(root);
    double value = json_number_value(json_object_get(json_object_get(root, group), key));
    json_decref(root);
    return value;
}

/* Assert that each batch_ratio of a schedule CSV is one of the rules' ratios written in
 * the shortest form, as JSON writes them ("0.1", not "0.10000000000000001"). */
static void assert_batch_ratios_shortest(const char *csv)
{
    static const char *const ratios[] = {"0.1", "0.3", "0.5", "1"};
    size_t rows = 0;
    for (const char *line = strchr(csv, '\n'); line != NULL && line[1] != '\0';
         line = strchr(line + 1, '\n')) {
        const char *end = strchr(line + 1, '\n');
        const char *comma = line + 1;
        for (int i = 0; i < 2 && comma != NULL; i++)
            comma = strchr(comma, ',') != NULL ? strchr(comma, ',') + 1 : NULL;
        assert_non_null(comma);
        size_t len = (size_t)((end != NULL ? end : comma + strlen(comma)) - comma);
        bool known = false;
        for (size_t k = 0; k < sizeof ratios / sizeof *ratios; k++)
            known = known || (strlen(ratios[k]) == len && strncmp(comma, ratios[k], len) == 0);
        if (!known)
            fail_msg("batch_ratio '%.*s' is not a shortest rule ratio", (int)len, comma);
        rows++;
    }
    assert_int_equal(rows, 200);
}

static void replan_day_matches_referee(void **state)
{
    (void)state;
    struct fixture f;
    cdnopt_serve_params p = base_params(&f, "serve-e2e");
    start(&f, &p);

    /* Observed traffic: the workload's baseline as CSV. */
    char path[700];
    size_t len = 0;
    cdnopt_test_shared_path(path, sizeof path, "workloads/day/baseline.csv");
    char *csv = read_text(path, &len);
    http_response r =
        http_request(f.port, "POST", "/api/v1/samples", "Content-Type: text/csv\r\n", csv, len);
    assert_int_equal(r.status, 201);
    cdnopt_assert_contains(r.body, "\"stored\":864");
    http_response_free(&r);
    free(csv);

    cdnopt_test_shared_path(path, sizeof path, "workloads/day/releases.csv");
    csv = read_text(path, &len);
    char *batch = releases_batch(csv);
    free(csv);
    r = http_post_json(f.port, "/api/v1/releases", batch, NULL);
    cdnopt_free(batch);
    assert_int_equal(r.status, 201);
    cdnopt_assert_contains(r.body, "\"created\":200");
    http_response_free(&r);

    r = http_post_json(f.port, "/api/v1/replan", "{\"against\":\"observed\",\"wait\":true}", NULL);
    assert_int_equal(r.status, 200);
    json_t *root = body_json(&r);
    json_t *schedule = json_object_get(root, "schedule");
    double api_peak =
        json_number_value(json_object_get(json_object_get(schedule, "planned"), "peak_gbps"));
    double api_p95 =
        json_number_value(json_object_get(json_object_get(schedule, "planned"), "p95_gbps"));
    double api_naive =
        json_number_value(json_object_get(json_object_get(schedule, "naive"), "peak_gbps"));
    assert_true(json_number_value(json_object_get(schedule, "peak_reduction")) > 0.45);
    json_decref(root);
    http_response_free(&r);

    /* An unknown format is an error rather than JSON in disguise. */
    expect_error(http_request(f.port, "GET", "/api/v1/schedule?format=xml", NULL, NULL, 0), 400,
                 "invalid_value", "invalid format 'xml'");

    /* The schedule as CSV, scored by the referee. */
    r = http_request(f.port, "GET", "/api/v1/schedule?format=csv", NULL, NULL, 0);
    assert_int_equal(r.status, 200);
    assert_batch_ratios_shortest(r.body);
    char schedule_path[700];
    snprintf(schedule_path, sizeof schedule_path, "%s/schedule.csv", f.dir);
    cdnopt_test_write_file(schedule_path, r.body);
    http_response_free(&r);

    char baseline[512];
    char releases[512];
    char referee[512];
    cdnopt_test_shared_path(baseline, sizeof baseline, "workloads/day/baseline.csv");
    cdnopt_test_shared_path(releases, sizeof releases, "workloads/day/releases.csv");
    cdnopt_test_shared_path(referee, sizeof referee, "tools/score_schedule.py");
    char command[4096];
    snprintf(command, sizeof command, "python3 %s %s %s %s --json > %s/referee.json", referee,
             baseline, releases, schedule_path, f.dir);
    assert_int_equal(system(command), 0); // 0: the schedule keeps every rule

    snprintf(path, sizeof path, "%s/referee.json", f.dir);
    char *text = read_text(path, &len);
    assert_float_equal(referee_figure(text, "schedule", "peak_gbps"), api_peak, api_peak * 1e-6);
    assert_float_equal(referee_figure(text, "schedule", "p95_gbps"), api_p95, api_p95 * 1e-6);
    assert_float_equal(referee_figure(text, "naive", "peak_gbps"), api_naive, api_naive * 1e-6);
    cdnopt_assert_contains(text, "\"violations\": []");
    free(text);

    /* The dashboard's series: four stacks by batch ratio over the 864 steps. */
    r = http_request(f.port, "GET", "/api/v1/schedule?series=1", NULL, NULL, 0);
    root = body_json(&r);
    json_t *series = json_object_get(json_object_get(root, "schedule"), "series");
    assert_int_equal(json_array_size(json_object_get(series, "waves")), 4);
    assert_int_equal(json_array_size(json_object_get(series, "naive_total_gbps")), 864);
    json_decref(root);
    http_response_free(&r);
    assert_float_equal(metric_value(f.port, "cdnopt_planned_peak_gbps"), api_peak, api_peak * 1e-6);
    stop(&f);
}

/* A misspelt query parameter used to be ignored, so the default applied without a word,
 * and of a repeated one only the first counted. */
static void query_parameters_checked(void **state)
{
    (void)state;
    struct fixture f;
    cdnopt_serve_params p = base_params(&f, "serve-query");
    start(&f, &p);

    http_response r = http_request(f.port, "GET", "/api/v1/forecast?horizn=12", NULL, NULL, 0);
    cdnopt_assert_contains(r.body, "\"field\":\"horizn\"");
    expect_error(r, 400, "invalid_query",
                 "unknown query parameter 'horizn'; /api/v1/forecast takes horizon, samples");
    expect_error(http_request(f.port, "GET",
                              "/api/v1/samples?from=2004-12-14%2000:00:00&from=2004-12-15%2000:00:00",
                              NULL, NULL, 0),
                 400, "invalid_query", "query parameter 'from' is given more than once");
    expect_error(http_post_json(f.port, "/api/v1/replan?wait=true", "{}", NULL), 400,
                 "invalid_query", "/api/v1/replan takes no query parameters");
    expect_error(http_request(f.port, "GET", "/api/v1/releases?limit=2&page=3", NULL, NULL, 0),
                 400, "invalid_query", "unknown query parameter 'page'");

    /* samples= of the system route used to read "abc" as 0 and "-1" as all. */
    r = http_request(f.port, "GET", "/api/v1/system?samples=abc", NULL, NULL, 0);
    cdnopt_assert_contains(r.body, "\"field\":\"samples\"");
    expect_error(r, 400, "invalid_query",
                 "query parameter 'samples' is 'abc'; give an integer from 0 to 86400");
    expect_error(http_request(f.port, "GET", "/api/v1/system?samples=-1", NULL, NULL, 0), 400,
                 "invalid_query", "'samples' is '-1'");
    r = http_request(f.port, "GET", "/api/v1/system?samples=1", NULL, NULL, 0);
    assert_int_equal(r.status, 200);
    http_response_free(&r);

    /* Routes outside the API leave the query to their clients. */
    r = http_request(f.port, "GET", "/metrics?debug=1", NULL, NULL, 0);
    assert_int_equal(r.status, 200);
    http_response_free(&r);
    r = http_request(f.port, "GET", "/api/v1/releases?limit=2&status=pending", NULL, NULL, 0);
    assert_int_equal(r.status, 200);
    http_response_free(&r);
    stop(&f);
}

/* The planned-time range is [planned_from, planned_to), so an empty or reversed range is a
 * client mistake that gets 400, as the samples range does, and not an empty 200 list. */
static void release_list_rejects_reversed_range(void **state)
{
    (void)state;
    struct fixture f;
    cdnopt_serve_params p = base_params(&f, "serve-release-range");
    start(&f, &p);

    http_response r = http_request(
        f.port, "GET",
        "/api/v1/releases?planned_from=2004-12-14%2003:00:00&planned_to=2004-12-14%2002:00:00",
        NULL, NULL, 0);
    cdnopt_assert_contains(r.body, "\"field\":\"planned_to\"");
    expect_error(r, 400, "invalid_query",
                 "query parameter 'planned_to' (2004-12-14 02:00:00) must be after "
                 "'planned_from' (2004-12-14 03:00:00)");
    expect_error(http_request(f.port, "GET",
                              "/api/v1/releases?planned_from=2004-12-14%2003:00:00&planned_to="
                              "2004-12-14%2003:00:00",
                              NULL, NULL, 0),
                 400, "invalid_query", "'planned_to' (2004-12-14 03:00:00) must be after");

    /* One bound alone stays open on the other side. */
    r = http_request(f.port, "GET", "/api/v1/releases?planned_to=2004-12-14%2002:00:00", NULL,
                     NULL, 0);
    assert_int_equal(r.status, 200);
    http_response_free(&r);
    stop(&f);
}

/* An observed re-plan without samples after the clock named no times: "0 observed
 * samples in the window". */
static void replan_names_missing_sample_span(void **state)
{
    (void)state;
    struct fixture f;
    cdnopt_serve_params p = base_params(&f, "serve-no-samples");
    start(&f, &p);
    char body[256];
    http_response r = http_post_json(f.port, "/api/v1/releases",
                                     release_json(body, sizeof body, "a", 100), NULL);
    assert_int_equal(r.status, 201);
    http_response_free(&r);
    expect_error(http_post_json(f.port, "/api/v1/replan", "{\"wait\":true}", NULL), 422,
                 "unprocessable",
                 "0 observed samples from 2004-12-14 00:00:00 on, where at least 2 are needed");
    stop(&f);
}

static void replan_async_job_and_errors(void **state)
{
    (void)state;
    struct fixture f;
    cdnopt_serve_params p = base_params(&f, "serve-jobs");
    start(&f, &p);

    expect_error(http_post_json(f.port, "/api/v1/replan", "{\"solver\":\"magic\"}", NULL), 422,
                 "invalid_value", "'solver' is 'magic'");
    expect_error(
        http_post_json(f.port, "/api/v1/replan", "{\"solver\":\"dqn\",\"wait\":true}", NULL), 422,
        "unprocessable", "start the server with --agent");
    /* Type errors and unknown fields name the field, in the message and in "field". */
    http_response r = http_post_json(f.port, "/api/v1/replan", "{\"wait\":\"yes\"}", NULL);
    cdnopt_assert_contains(r.body, "\"field\":\"wait\"");
    expect_error(r, 400, "invalid_type", "field 'wait' must be true or false, not a string");
    r = http_post_json(f.port, "/api/v1/replan", "{\"time_limit_s\":\"60\"}", NULL);
    cdnopt_assert_contains(r.body, "\"field\":\"time_limit_s\"");
    expect_error(r, 400, "invalid_type", "'time_limit_s' must be a number of seconds, not a string");
    expect_error(http_post_json(f.port, "/api/v1/replan", "{\"solver\":null}", NULL), 400,
                 "invalid_type", "'solver' must be a string: greedy, exact or dqn, not null");
    r = http_post_json(f.port, "/api/v1/replan", "{\"time_limit\":60}", NULL);
    cdnopt_assert_contains(r.body, "\"field\":\"time_limit\"");
    expect_error(r, 400, "unknown_field", "unknown field 'time_limit'");
    expect_error(http_post_json(f.port, "/api/v1/replan", "[]", NULL), 400, "invalid_type",
                 "must be a JSON object");
    expect_error(http_request(f.port, "GET", "/api/v1/forecast", NULL, NULL, 0), 503, "no_model",
                 "start the server with --model");
    expect_error(http_request(f.port, "GET", "/api/v1/schedule", NULL, NULL, 0), 404, "not_found",
                 "no schedule yet");

    /* Without wait: 202 and a job to poll, which fails for lack of releases. */
    r = http_post_json(f.port, "/api/v1/replan", "{}", NULL);
    assert_int_equal(r.status, 202);
    char location[64];
    assert_non_null(http_header(&r, "Location", location, sizeof location));
    http_response_free(&r);
    json_t *root = NULL;
    for (int i = 0; i < 200; i++) {
        r = http_request(f.port, "GET", location, NULL, NULL, 0);
        root = body_json(&r);
        http_response_free(&r);
        const char *status =
            json_string_value(json_object_get(json_object_get(root, "job"), "status"));
        if (strcmp(status, "failed") == 0)
            break;
        json_decref(root);
        root = NULL;
        struct timespec pause = {0, 10 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    assert_non_null(root);
    cdnopt_assert_contains(json_string_value(json_object_get(
                               json_object_get(json_object_get(root, "job"), "error"), "message")),
                           "no pending releases");
    json_decref(root);
    expect_error(http_request(f.port, "GET", "/api/v1/jobs/999", NULL, NULL, 0), 404, "not_found",
                 "job '999' not found");
    stop(&f);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(release_create_get_cancel),
    cmocka_unit_test(release_batch_and_paging),
    cmocka_unit_test(releases_csv_batch),
    cmocka_unit_test(release_group_commit_concurrent),
    cmocka_unit_test(bad_requests_rejected),
    cmocka_unit_test(query_parameters_checked),
    cmocka_unit_test(release_list_rejects_reversed_range),
    cmocka_unit_test(replan_names_missing_sample_span),
    cmocka_unit_test(samples_csv_and_json),
    cmocka_unit_test(samples_reject_bad_batches),
    cmocka_unit_test(csv_body_quotes_field_safely),
    cmocka_unit_test(samples_csv_cut_last_line),
    cmocka_unit_test(csv_bare_cr_named),
    cmocka_unit_test(samples_backfill_keeps_grid),
    cmocka_unit_test(samples_future_rejected_and_deleted),
    cmocka_unit_test(start_rejects_port_in_use),
    cmocka_unit_test(start_rejects_bad_params),
    cmocka_unit_test(replan_names_release_to_cancel),
    cmocka_unit_test(replan_rejects_never_startable),
    cmocka_unit_test(release_ids_match_release_file),
    cmocka_unit_test(damaged_database_unhealthy),
    cmocka_unit_test(damaged_database_latin1_path),
    cmocka_unit_test(numbers_beyond_double_named),
    cmocka_unit_test(json_reals_shortest),
    cmocka_unit_test(log_value_escapes_json),
    cmocka_unit_test(metrics_pass_promtool),
    cmocka_unit_test(monitor_alerts_shed_and_scale),
    cmocka_unit_test(proc_garbage_rejected_and_skipped),
    cmocka_unit_test(bandwidth_alert_carries_traffic_time),
    cmocka_unit_test(bandwidth_alert_off_by_default),
    cmocka_unit_test(forecast_alert_names_first_step),
    cmocka_unit_test(bandwidth_alert_hysteresis),
    cmocka_unit_test(forecast_alert_hysteresis),
    cmocka_unit_test(cpu_alert_hysteresis),
    cmocka_unit_test(alert_margin_zero_clears_at_threshold),
    cmocka_unit_test(cpu_alert_judges_window_mean),
    cmocka_unit_test(memory_alert_judges_window_mean),
    cmocka_unit_test(bandwidth_history_leaves_alert),
    cmocka_unit_test(bandwidth_deleted_sample_forgotten),
    cmocka_unit_test(pool_grows_and_shrinks),
    cmocka_unit_test(replan_day_matches_referee),
    cmocka_unit_test(replan_async_job_and_errors),
};

CDNOPT_TEST_MAIN("serve", tests)
