/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Observed bandwidth samples (POST as JSON or CSV, GET and DELETE by time range) and the
 * system state route (monitor history, alerts, workers, queues). Samples are
 * the baseline a re-plan against observed traffic uses, and the "actual" line
 * of the dashboard.
 */
#include "serve-impl.h"

#include "cdnopt/release.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Most samples one request may post (a year of 5-minute steps). */
#define SAMPLES_MAX 105120

/* How far after the service clock a sample may lie. Re-plans against observed traffic read
 * the samples after the clock (a replay posts the coming days), and no release may start
 * more than 30 days late, so a sample further ahead is a wrong date. */
#define SAMPLE_AHEAD_MAX_S CDNOPT_RELEASE_MAX_DELAY_S

/* How far before the service clock a sample may lie: 366 days, a year of history with a leap
 * day. Forecasts read only the last days before the clock, so an older sample is most
 * likely a wrong date. */
#define SAMPLE_BEHIND_MAX_S (366 * 86400)

struct sample_list {
    int64_t *t;
    double *gbps;
    size_t n, cap;
};

static bool sample_push(struct sample_list *list, int64_t t, double gbps)
{
    if (list->n == list->cap) {
        size_t cap = list->cap == 0 ? 1024 : list->cap * 2;
        int64_t *nt = cdnopt_realloc(list->t, cap * sizeof *nt);
        if (nt != NULL)
            list->t = nt;
        double *nv = cdnopt_realloc(list->gbps, cap * sizeof *nv);
        if (nv != NULL)
            list->gbps = nv;
        if (nt == NULL || nv == NULL)
            return false;
        list->cap = cap;
    }
    list->t[list->n] = t;
    list->gbps[list->n] = gbps;
    list->n++;
    return true;
}

/* Check a sample's range. The message names text, the value as written in a CSV body, when
 * it is not NULL, because the parsed value of "1e999" is inf. */
static bool check_sample(serve_request *req, const char *where, double gbps, const char *text)
{
    if (isfinite(gbps) && gbps >= 0 && gbps <= SERVE_GBPS_MAX)
        return true;
    char shown[CDNOPT_QUOTE_SIZE];
    if (text != NULL)
        cdnopt_text_quote(shown, sizeof shown, text, strlen(text), CDNOPT_QUOTE_BYTES);
    else
        snprintf(shown, sizeof shown, "%g", gbps);
    serve_respond_error(req, 422, "invalid_value", "gbps",
                        "%s: gbps %s is out of range; it must be a number from 0 to %g Gbit/s",
                        where, shown, SERVE_GBPS_MAX);
    return false;
}

/* Reject a sample more than SAMPLE_AHEAD_MAX_S after or SAMPLE_BEHIND_MAX_S before the
 * service clock, naming the field, the timestamp and the clock. */
static bool check_sample_time(serve_request *req, const char *field, int64_t t, int64_t now)
{
    bool ahead = t > now + SAMPLE_AHEAD_MAX_S;
    bool behind = t < now - SAMPLE_BEHIND_MAX_S;
    if (!ahead && !behind)
        return true;
    char at[32], clock[32];
    serve_format_time(t, at, sizeof at);
    serve_format_time(now, clock, sizeof clock);
    serve_respond_error(req, 422, "invalid_value", field,
                        "%s is %s, more than %d days %s the service clock %s; observed "
                        "samples cannot lie that far %s, so check the date",
                        field, at, (ahead ? SAMPLE_AHEAD_MAX_S : SAMPLE_BEHIND_MAX_S) / 86400,
                        ahead ? "after" : "before", clock, ahead ? "ahead" : "back");
    return false;
}

/* Reject NUL bytes (they would end the text early and drop the rows after them), bytes
 * that are not UTF-8 and bare CRs, naming the line. */
static bool check_csv_bytes(serve_request *req)
{
    const unsigned char *body = (const unsigned char *)(req->body != NULL ? req->body : "");
    size_t line = 1;
    for (size_t i = 0; i < req->body_len;) {
        size_t len = body[i] == '\0' ? 0 : cdnopt_utf8_sequence_length(body + i);
        if (len == 0 || i + len > req->body_len) {
            serve_respond_error(req, 400, "invalid_csv", NULL,
                                "CSV line %zu: byte 0x%02X at offset %zu is %s; send plain "
                                "\"YYYY-MM-DD HH:MM:SS,gbps\" lines in UTF-8",
                                line, body[i], i, body[i] == '\0' ? "a NUL" : "not valid UTF-8");
            return false;
        }
        if (body[i] == '\r' && i + 1 < req->body_len && body[i + 1] != '\n') {
            serve_respond_error(req, 400, "invalid_csv", NULL, SERVE_BARE_CR_MESSAGE, line);
            return false;
        }
        line += body[i] == '\n';
        i += len;
    }
    return true;
}

/* CSV body: optional header "timestamp,gbps", then one "time,value" per line. */
static bool parse_csv(serve_request *req, int64_t now, struct sample_list *list)
{
    if (!check_csv_bytes(req))
        return false;
    char *line = req->body != NULL ? req->body : "";
    /* Spreadsheet programs start a UTF-8 CSV with a byte order mark. The command line's
     * readers skip it too, and here it would hide the header. */
    if (strncmp(line, "\xEF\xBB\xBF", 3) == 0)
        line += 3;
    for (size_t number = 1; *line != '\0'; number++) {
        char *end = strchr(line, '\n');
        if (end != NULL)
            *end = '\0';
        size_t len = strlen(line);
        if (len > 0 && line[len - 1] == '\r')
            line[len - 1] = '\0';

        char *comma = strchr(line, ',');
        bool header = number == 1 && strncmp(line, "timestamp", 9) == 0;
        if (!header && line[0] != '\0') {
            char where[48];
            snprintf(where, sizeof where, "CSV line %zu", number);
            int64_t t = 0;
            char *value_end = NULL;
            if (comma != NULL)
                *comma = '\0';
            double gbps = comma != NULL ? strtod(comma + 1, &value_end) : NAN;
            char shown[64];
            if (comma == NULL || !serve_parse_time(line, &t)) {
                serve_respond_error(req, 400, "invalid_csv", "timestamp",
                                    "%s: expected \"YYYY-MM-DD HH:MM:SS,gbps\", got '%s'", where,
                                    cdnopt_text_quote(shown, sizeof shown, line, strlen(line), 60));
                return false;
            }
            char field[64];
            snprintf(field, sizeof field, "%s timestamp", where);
            if (!check_sample_time(req, field, t, now))
                return false;
            /* strtod also reads hexadecimal, which the command line's readers reject. */
            if (value_end == comma + 1 || *value_end != '\0' || strpbrk(comma + 1, "xX")) {
                serve_respond_error(req, 400, "invalid_csv", "gbps",
                                    "%s: gbps '%s' is not a number; write e.g. 511.03", where,
                                    cdnopt_text_quote(shown, sizeof shown, comma + 1,
                                                      strlen(comma + 1), CDNOPT_QUOTE_BYTES));
                return false;
            }
            if (!check_sample(req, where, gbps, comma + 1))
                return false;
            if (!sample_push(list, t, gbps)) {
                serve_respond_error(req, 503, "out_of_memory", NULL, "out of memory");
                return false;
            }
        }
        if (end == NULL)
            break;
        line = end + 1;
    }
    return true;
}

/* Return the first key of obj that is not one of the n names in known, or NULL. */
static const char *unknown_key(json_t *obj, const char *const *known, size_t n)
{
    const char *key;
    json_t *value;
    json_object_foreach(obj, key, value)
    {
        size_t i = 0;
        while (i < n && strcmp(key, known[i]) != 0)
            i++;
        if (i == n)
            return key;
    }
    return NULL;
}

/* JSON body: {"samples": [{"timestamp": "...", "gbps": 1.0}, ...]}. */
static bool parse_json(serve_request *req, int64_t now, struct sample_list *list)
{
    json_t *root = serve_parse_body(req);
    if (root == NULL)
        return false;
    /* An unknown field is an error rather than dropped: a "unit" beside the values
     * would otherwise leave them stored as Gbit/s without a word. */
    static const char *const top_fields[] = {"samples"};
    static const char *const sample_fields[] = {"timestamp", "gbps"};
    json_t *items = json_object_get(root, "samples");
    const char *extra = json_is_object(root) ? unknown_key(root, top_fields, 1) : NULL;
    bool ok = json_is_array(items) && extra == NULL;
    char shown[CDNOPT_QUOTE_SIZE];
    if (extra != NULL)
        serve_respond_error(
            req, 400, "unknown_field", extra,
            "unknown field '%s'; the body has one field, 'samples'",
            cdnopt_text_quote(shown, sizeof shown, extra, strlen(extra), CDNOPT_QUOTE_BYTES));
    else if (!ok)
        serve_respond_error(req, 400, items == NULL ? "missing_field" : "invalid_type", "samples",
                            "field 'samples' must be an array of {\"timestamp\", \"gbps\"}");

    for (size_t i = 0; ok && i < json_array_size(items); i++) {
        json_t *item = json_array_get(items, i);
        extra = json_is_object(item) ? unknown_key(item, sample_fields, 2) : NULL;
        if (extra != NULL) {
            serve_respond_error(
                req, 400, "unknown_field", extra,
                "samples[%zu]: unknown field '%s'; a sample has timestamp "
                "and gbps (in Gbit/s)",
                i,
                cdnopt_text_quote(shown, sizeof shown, extra, strlen(extra), CDNOPT_QUOTE_BYTES));
            ok = false;
            break;
        }
        json_t *ts = json_object_get(item, "timestamp");
        json_t *value = json_object_get(item, "gbps");
        char where[48], field[64];
        snprintf(where, sizeof where, "samples[%zu]", i);
        snprintf(field, sizeof field, "%s.timestamp", where);
        int64_t t = 0;
        if (!json_is_string(ts) || !serve_parse_time(json_string_value(ts), &t)) {
            serve_respond_error(req, 400, "invalid_field", "timestamp",
                                "%s.timestamp must be a string \"YYYY-MM-DD HH:MM:SS\"", where);
            ok = false;
        } else if (!check_sample_time(req, field, t, now)) {
            ok = false;
        } else if (!json_is_number(value)) {
            serve_respond_error(req, 400, "invalid_type", "gbps",
                                "%s.gbps must be a number in Gbit/s", where);
            ok = false;
        } else {
            ok = check_sample(req, where, json_number_value(value), NULL) &&
                 sample_push(list, t, json_number_value(value));
            if (!ok && req->status == 0)
                serve_respond_error(req, 503, "out_of_memory", NULL, "out of memory");
        }
    }
    json_decref(root);
    return ok;
}

static int compare_time(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The grid a batch must lie on, as an anchor time and a step in seconds (0 while unknown).
 * The step is the loaded model's, else the stored samples' (the smaller gap of the first and
 * the last two), else the batch's first gap, else the gap between a lone stored sample and a
 * one-sample batch. The anchor is the stored sample nearest before the batch, or the batch's
 * first time while fewer than two are stored, so one stray sample elsewhere does not move it.
 * NOTE: without a model, a lone stored sample and a one-sample batch still fix the step. */
static bool find_batch_grid(struct cdnopt_server *server, serve_request *req,
                            const int64_t *sorted, size_t n, int64_t *anchor, int64_t *step)
{
    int64_t stored[2];
    size_t n_stored = 0;
    bool found = false;
    char err[CDNOPT_ERRMSG_MAX] = "";
    int rc = cdnopt_store_samples_first(server->store, stored, &n_stored, err);
    if (rc == CDNOPT_OK)
        rc = cdnopt_store_samples_nearest(server->store, sorted[0], anchor, &found, err);
    if (rc != CDNOPT_OK) {
        serve_respond_error(req, 503, "storage_unavailable", NULL, "%s", err);
        return false;
    }

    *step = 0;
    if (n_stored == 2) {
        *step = stored[1] - stored[0];
    } else if (n >= 2) {
        *anchor = sorted[0];
        *step = sorted[1] - sorted[0];
    } else if (n_stored == 1) {
        *step = sorted[0] > stored[0] ? sorted[0] - stored[0] : stored[0] - sorted[0];
    } else {
        *anchor = sorted[0];
    }
    if (server->forecaster != NULL)
        *step = serve_forecaster_step_s(server->forecaster);
    return true;
}

/* Reject a batch with a timestamp twice or off the samples' grid, naming the timestamp. */
static bool check_times(struct cdnopt_server *server, serve_request *req, const int64_t *sorted,
                        size_t n)
{
    int64_t anchor = 0, step = 0;
    if (!find_batch_grid(server, req, sorted, n, &anchor, &step))
        return false;

    char at[32], first[32];
    for (size_t i = 0; i < n; i++) {
        serve_format_time(sorted[i], at, sizeof at);
        if (i > 0 && sorted[i] == sorted[i - 1]) {
            serve_respond_error(req, 422, "invalid_value", "timestamp",
                                "timestamp %s appears more than once in the batch; send one "
                                "sample per timestamp",
                                at);
            return false;
        }
        if (step > 0 && ((sorted[i] - anchor) % step + step) % step != 0) {
            serve_format_time(anchor, first, sizeof first);
            serve_respond_error(req, 422, "invalid_value", "timestamp",
                                "timestamp %s is off the samples' grid of %lld s steps from "
                                "%s; send samples on that grid",
                                at, (long long)step, first);
            return false;
        }
    }
    return true;
}

/* Count the stored samples whose timestamps the batch replaces. */
static int count_replaced(struct cdnopt_server *server, const int64_t *sorted, size_t n,
                          size_t *replaced, char *err)
{
    *replaced = 0;
    int64_t *t = NULL;
    double *v = NULL;
    size_t n_stored = 0;
    int rc = cdnopt_store_samples_get(server->store, sorted[0], sorted[n - 1] + 1, &t, &v,
                                      &n_stored, err);
    for (size_t i = 0; rc == CDNOPT_OK && i < n_stored; i++)
        *replaced += bsearch(&t[i], sorted, n, sizeof *sorted, compare_time) != NULL;
    cdnopt_free(t);
    cdnopt_free(v);
    return rc;
}

/* Check the batch's times; on success *replaced counts the stored samples it overwrites.
 * NOTE: the check reads the store before the writer commits the batch, so two concurrent
 * posts can each pass against the grid of an empty store and disagree on the step. */
static bool check_batch(struct cdnopt_server *server, serve_request *req,
                        const struct sample_list *list, size_t *replaced)
{
    int64_t *sorted = cdnopt_malloc(list->n * sizeof *sorted);
    if (sorted == NULL) {
        serve_respond_error(req, 503, "out_of_memory", NULL, "out of memory checking %zu samples",
                            list->n);
        return false;
    }
    memcpy(sorted, list->t, list->n * sizeof *sorted);
    qsort(sorted, list->n, sizeof *sorted, compare_time);

    char err[CDNOPT_ERRMSG_MAX] = "";
    bool ok = check_times(server, req, sorted, list->n);
    if (ok && count_replaced(server, sorted, list->n, replaced, err) != CDNOPT_OK) {
        serve_respond_error(req, 503, "storage_unavailable", NULL, "%s", err);
        ok = false;
    }
    cdnopt_free(sorted);
    return ok;
}

struct timed_sample {
    int64_t t;
    double gbps;
};

static int compare_sample_time(const void *a, const void *b)
{
    return compare_time(&((const struct timed_sample *)a)->t, &((const struct timed_sample *)b)->t);
}

/* Check a stored batch against the bandwidth alert in time order, because a batch may list
 * its samples in any order and the alert follows the traffic's own timeline. Sorts list. */
static void check_alert(struct cdnopt_server *server, struct sample_list *list)
{
    if (server->params.bandwidth_alert_gbps <= 0)
        return;
    struct timed_sample *sorted = cdnopt_malloc(list->n * sizeof *sorted);
    if (sorted == NULL) {
        /* The samples are stored, so the request succeeds without the check. */
        CDNOPT_LOG_ERROR(SERVE_LOG,
                         "event=bandwidth_alert_skipped samples=%zu error=\"out of memory\"",
                         list->n);
        return;
    }
    for (size_t i = 0; i < list->n; i++)
        sorted[i] = (struct timed_sample){list->t[i], list->gbps[i]};
    qsort(sorted, list->n, sizeof *sorted, compare_sample_time);
    for (size_t i = 0; i < list->n; i++) {
        list->t[i] = sorted[i].t;
        list->gbps[i] = sorted[i].gbps;
    }
    cdnopt_free(sorted);
    serve_monitor_check_traffic(server->monitor, list->t, list->gbps, list->n);
}

static void post_samples(struct cdnopt_server *server, serve_request *req)
{
    const char *type =
        MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    struct sample_list list = {0};
    bool csv = serve_media_type_is(type, "text/csv");
    int64_t now = serve_now(server);
    bool ok = csv ? parse_csv(req, now, &list) : parse_json(req, now, &list);
    if (ok && (list.n == 0 || list.n > SAMPLES_MAX)) {
        serve_respond_error(req, list.n == 0 ? 400 : 413,
                            list.n == 0 ? "missing_field" : "payload_too_large", "samples",
                            "the body holds %zu samples; send 1 to %d", list.n, SAMPLES_MAX);
        ok = false;
    }

    size_t replaced = 0;
    ok = ok && check_batch(server, req, &list, &replaced);

    /* A sample at a stored timestamp replaces the stored value; the response counts them. */
    char err[CDNOPT_ERRMSG_MAX] = "";
    if (ok &&
        cdnopt_store_samples_put(server->store, list.t, list.gbps, list.n, err) != CDNOPT_OK) {
        serve_respond_error(req, 503, "storage_unavailable", NULL, "%s", err);
        ok = false;
    }
    if (ok) {
        check_alert(server, &list);
        serve_respond_json(req, 201,
                           json_pack("{s:I, s:I}", "stored", (json_int_t)list.n, "replaced",
                                     (json_int_t)replaced));
    }
    cdnopt_free(list.t);
    cdnopt_free(list.gbps);
}

/* Read the time range [from, to) of a GET or DELETE; false after setting an error response.
 * A delete needs both bounds, so that a bare DELETE removes nothing. */
static bool parse_range(serve_request *req, bool required, int64_t *from, int64_t *to)
{
    const char *keys[2] = {"from", "to"};
    int64_t *values[2] = {from, to};
    for (size_t i = 0; i < 2; i++) {
        const char *text = serve_query(req, keys[i]);
        if (text == NULL && required) {
            serve_respond_error(req, 400, "missing_query", keys[i],
                                "query parameter '%s' is missing; DELETE /api/v1/samples deletes "
                                "the samples with from <= timestamp < to and needs both",
                                keys[i]);
            return false;
        }
        if (text != NULL && !serve_parse_time(text, values[i])) {
            char shown[CDNOPT_QUOTE_SIZE];
            serve_respond_error(
                req, 400, "invalid_query", keys[i],
                "query parameter '%s' is '%s'; give \"YYYY-MM-DD HH:MM:SS\"", keys[i],
                cdnopt_text_quote(shown, sizeof shown, text, strlen(text), CDNOPT_QUOTE_BYTES));
            return false;
        }
    }
    if (*from >= *to) {
        serve_respond_error(req, 400, "invalid_query", "to",
                            "query parameter 'to' must be after 'from'; the range is from <= "
                            "timestamp < to");
        return false;
    }
    return true;
}

static void get_samples(struct cdnopt_server *server, serve_request *req)
{
    int64_t from = INT64_MIN;
    int64_t to = INT64_MAX;
    if (!parse_range(req, false, &from, &to))
        return;

    int64_t *t = NULL;
    double *gbps = NULL;
    size_t n = 0;
    char err[CDNOPT_ERRMSG_MAX] = "";
    if (cdnopt_store_samples_get(server->store, from, to, &t, &gbps, &n, err) != CDNOPT_OK) {
        serve_respond_error(req, 503, "storage_unavailable", NULL, "%s", err);
        return;
    }
    json_t *times = json_array();
    json_t *values = json_array();
    for (size_t i = 0; i < n; i++) {
        char text[32];
        serve_format_time(t[i], text, sizeof text);
        json_array_append_new(times, json_string(text));
        json_array_append_new(values, json_real(gbps[i]));
    }
    cdnopt_free(t);
    cdnopt_free(gbps);
    serve_respond_json(req, 200, json_pack("{s:o, s:o}", "timestamps", times, "gbps", values));
}

/* Delete the samples in [from, to), for example one posted with a wrong date, and keep
 * every other sample. */
static void delete_samples(struct cdnopt_server *server, serve_request *req)
{
    int64_t from = INT64_MIN;
    int64_t to = INT64_MAX;
    if (!parse_range(req, true, &from, &to))
        return;

    size_t deleted = 0;
    char err[CDNOPT_ERRMSG_MAX] = "";
    if (cdnopt_store_samples_delete(server->store, from, to, &deleted, err) != CDNOPT_OK) {
        serve_respond_error(req, 503, "storage_unavailable", NULL, "%s", err);
        return;
    }

    /* The bandwidth alert judges only samples after the newest it checked, so a deleted
     * one must not stay the newest. Without the sample before the range (none, or a
     * failed read) the next posted sample is judged, whatever its time. */
    int64_t newest_kept = INT64_MIN;
    bool found = false;
    int rc = from > INT64_MIN
                 ? cdnopt_store_samples_nearest(server->store, from - 1, &newest_kept, &found, err)
                 : CDNOPT_OK;
    if (rc != CDNOPT_OK)
        CDNOPT_LOG_WARN(SERVE_LOG, "request_id=%llu event=samples_nearest_failed error=\"%s\"",
                        (unsigned long long)req->id, err);
    if (rc != CDNOPT_OK || !found || newest_kept >= from)
        newest_kept = INT64_MIN;
    serve_monitor_forget_traffic(server->monitor, from, to, newest_kept);

    char from_text[32], to_text[32];
    serve_format_time(from, from_text, sizeof from_text);
    serve_format_time(to, to_text, sizeof to_text);
    CDNOPT_LOG_INFO(SERVE_LOG,
                    "request_id=%llu event=samples_deleted from=\"%s\" to=\"%s\" count=%zu",
                    (unsigned long long)req->id, from_text, to_text, deleted);
    serve_respond_json(req, 200,
                       json_pack("{s:I, s:s, s:s}", "deleted", (json_int_t)deleted, "from",
                                 from_text, "to", to_text));
}

void serve_route_samples(struct cdnopt_server *server, serve_request *req)
{
    if (strcmp(req->method, "POST") == 0)
        post_samples(server, req);
    else if (strcmp(req->method, "DELETE") == 0)
        delete_samples(server, req);
    else
        get_samples(server, req);
}

/* Largest samples= of GET /api/v1/system: a day of samples at the 1 s default interval. */
#define SYSTEM_SAMPLES_MAX 86400

void serve_route_system(struct cdnopt_server *server, serve_request *req)
{
    /* The bound only keeps the number sane; the monitor returns at most what it keeps. */
    long max_samples = 300;
    if (!serve_query_integer(req, "samples", 0, SYSTEM_SAMPLES_MAX, "monitor samples",
                             &max_samples))
        return;

    size_t depth = 0;
    int workers = 0;
    int busy = 0;
    uint64_t recycles = 0;
    serve_pool_stats(server->pool, &depth, &workers, &busy, &recycles);
    char now[32];
    serve_format_time(serve_now(server), now, sizeof now);
    json_t *body = json_pack("{s:s, s:o, s:{s:i, s:i, s:i, s:i, s:I, s:I}, s:I}", "clock", now,
                             "monitor", serve_monitor_json(server->monitor, (size_t)max_samples), "workers",
                             "live", workers, "busy", busy, "min", server->params.min_workers,
                             "max", server->params.max_workers, "queued", (json_int_t)depth,
                             "recycles", (json_int_t)recycles, "writer_queue",
                             (json_int_t)serve_writer_depth(server->writer));
    json_object_set_new(body, "model_loaded", json_boolean(server->forecaster != NULL));
    /* The host's clock beside the service clock, because the dashboard labels the system
     * chart and alert times with it and a replay's service clock lies years away. */
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    json_object_set_new(body, "unix_s",
                        json_real((double)wall.tv_sec + (double)wall.tv_nsec * 1e-9));
    serve_respond_json(req, 200, body);
}
