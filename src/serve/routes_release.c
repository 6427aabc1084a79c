/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Release routes: create (one release or a batch, acknowledged after the group
 * commit), list with filters and keyset paging, get, and cancel. Each release
 * is checked field by field against the release format. size_mb and users must be in
 * the ranges of cdnopt_release_check_number. latest_start_at (planned_at + 23 h when
 * absent) lies from planned_at to planned_at + 30 days and not before the service
 * clock. Structural faults (missing field, wrong type, unknown field)
 * get 400, values out of range get 422, and an existing id gets 409. A text/csv body
 * (release_csv.c) is checked the same way, line by line.
 */
#include "serve-impl.h"

#include "cdnopt/release.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Default delay window of the release model: a release may start up to 23 h late. */
#define DEFAULT_MAX_DELAY_S (23 * 3600)

/* Most rows one list request returns. */
#define LIST_MAX_LIMIT 1000

/* ------------------------------------------------------------------------- */
/* JSON <-> release                                                          */
/* ------------------------------------------------------------------------- */

json_t *serve_release_json(const cdnopt_store_release *r)
{
    char planned[32];
    char latest[32];
    char created[32];
    serve_format_time(r->planned_at, planned, sizeof planned);
    serve_format_time(r->latest_start_at, latest, sizeof latest);
    serve_format_time(r->created_at, created, sizeof created);
    return json_pack("{s:s, s:f, s:f, s:s, s:s, s:s, s:s}", "id", r->id, "size_mb", r->size_mb,
                     "users", r->users, "planned_at", planned, "latest_start_at", latest,
                     "created_at", created, "status",
                     r->status == CDNOPT_RELEASE_CANCELLED ? "cancelled" : "pending");
}

/* Full name of a field in error bodies: "releases[3].size_mb" in a batch. */
static const char *field_path(char *buf, size_t size, const char *prefix, const char *key)
{
    snprintf(buf, size, "%s%s", prefix, key);
    return buf;
}

/* Prefix of the shared release checks' messages: "releases[3]" or "CSV line 4" from the
 * field prefix "releases[3]." or "CSV line 4 ", and "release" for a single release. */
static const char *message_where(char *buf, size_t size, const char *prefix)
{
    size_t prefix_len = strlen(prefix);
    if (prefix_len > 0)
        snprintf(buf, size, "%.*s", (int)(prefix_len - 1), prefix); // drop the '.' or ' '
    else
        snprintf(buf, size, "release");
    return buf;
}

static bool get_number(serve_request *req, json_t *obj, const char *prefix, const char *key,
                       double *out)
{
    char field[64];
    json_t *v = json_object_get(obj, key);
    if (v == NULL) {
        serve_respond_error(req, 400, "missing_field", field_path(field, sizeof field, prefix, key),
                            "missing field '%s%s'; give it as a positive number", prefix, key);
        return false;
    }
    if (!json_is_number(v)) {
        serve_respond_error(req, 400, "invalid_type", field_path(field, sizeof field, prefix, key),
                            "field '%s%s' must be a number, not a JSON %s", prefix, key,
                            json_is_string(v) ? "string" : "value of another type");
        return false;
    }
    *out = json_number_value(v);

    /* The same range rules as the releases file, from the shared record checks. */
    char where[64], message[CDNOPT_ERRMSG_MAX];
    message_where(where, sizeof where, prefix);
    if (cdnopt_release_check_number(key, *out, where, message) != 0) {
        serve_respond_error(req, 422, "invalid_value", field_path(field, sizeof field, prefix, key),
                            "%s", message);
        return false;
    }
    return true;
}

static bool get_time(serve_request *req, json_t *obj, const char *prefix, const char *key,
                     bool required, int64_t *out)
{
    char field[64];
    json_t *v = json_object_get(obj, key);
    if (v == NULL && !required)
        return true;
    if (v == NULL) {
        serve_respond_error(req, 400, "missing_field", field_path(field, sizeof field, prefix, key),
                            "missing field '%s%s'; give it as \"YYYY-MM-DD HH:MM:SS\"", prefix,
                            key);
        return false;
    }
    if (!json_is_string(v)) {
        serve_respond_error(req, 400, "invalid_type", field_path(field, sizeof field, prefix, key),
                            "field '%s%s' must be a string \"YYYY-MM-DD HH:MM:SS\"", prefix, key);
        return false;
    }
    if (!serve_parse_time(json_string_value(v), out)) {
        char shown[CDNOPT_QUOTE_SIZE];
        serve_respond_error(req, 422, "invalid_value", field_path(field, sizeof field, prefix, key),
                            "field '%s%s' is '%s', not a valid \"YYYY-MM-DD HH:MM:SS\" local "
                            "time",
                            prefix, key,
                            cdnopt_text_quote(shown, sizeof shown, json_string_value(v),
                                              json_string_length(v), CDNOPT_QUOTE_BYTES));
        return false;
    }
    return true;
}

static bool check_known_fields(serve_request *req, json_t *obj, const char *prefix)
{
    char field[64];
    static const char *const known[] = {"id", "size_mb", "users", "planned_at", "latest_start_at"};
    const char *key;
    json_t *value;
    json_object_foreach(obj, key, value)
    {
        bool found = false;
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
            found = found || strcmp(key, known[i]) == 0;
        if (!found) {
            char shown[CDNOPT_QUOTE_SIZE];
            serve_respond_error(
                req, 400, "unknown_field", field_path(field, sizeof field, prefix, key),
                "unknown field '%s%s'; a release has id, size_mb, users, "
                "planned_at and latest_start_at",
                prefix,
                cdnopt_text_quote(shown, sizeof shown, key, strlen(key), CDNOPT_QUOTE_BYTES));
            return false;
        }
    }
    return true;
}

static bool check_window(serve_request *req, const char *prefix, int64_t now,
                         cdnopt_store_release *out);

/* Reject a planned_at whose default latest_start_at (planned_at + 23 h) passes
 * 9999-12-31 23:59:59, the last time that "YYYY-MM-DD HH:MM:SS" can express. */
static bool check_default_latest(serve_request *req, const char *prefix,
                                 const cdnopt_store_release *r)
{
    const cdnopt_civil_fields last_fields = {9999, 12, 31, 23, 59, 59};
    int64_t last = cdnopt_civil_from_fields(&last_fields);
    if (r->latest_start_at <= last)
        return true;
    char field[64], planned[32], latest[32];
    serve_format_time(r->planned_at, planned, sizeof planned);
    serve_format_time(r->latest_start_at, latest, sizeof latest);
    serve_respond_error(req, 422, "invalid_value",
                        field_path(field, sizeof field, prefix, "planned_at"),
                        "field '%splanned_at' is %s, so the default latest_start_at (planned_at "
                        "+ 23 h) would be %s, after 9999-12-31 23:59:59, the last supported "
                        "time; give an earlier planned_at or a latest_start_at",
                        prefix, planned, latest);
    return false;
}

/* Check an id with the release module's rule, so that the service stores exactly the ids
 * a releases file can hold. jansson rejects "\u0000" in a body, so the id has no NUL
 * byte inside it. */
static bool check_id(serve_request *req, const char *prefix, json_t *id)
{
    char field[64], where[64], message[CDNOPT_ERRMSG_MAX];
    message_where(where, sizeof where, prefix);
    if (cdnopt_release_check_id(json_string_value(id), where, message) != 0) {
        serve_respond_error(req, 422, "invalid_value",
                            field_path(field, sizeof field, prefix, "id"), "%s", message);
        return false;
    }
    return true;
}

/* Fill out from one JSON release, or set an error response naming prefix+field. */
static bool parse_release(serve_request *req, json_t *obj, const char *prefix, int64_t now,
                          cdnopt_store_release *out)
{
    if (!json_is_object(obj)) {
        /* The element's name is the prefix without its trailing '.', e.g. "releases[0]". */
        char element[64];
        snprintf(element, sizeof element, "%.*s", (int)strcspn(prefix, "."), prefix);
        serve_respond_error(req, 400, "invalid_type", element[0] != '\0' ? element : NULL,
                            "%s must be a JSON object with id, size_mb, users and planned_at",
                            element[0] != '\0' ? element : "the release");
        return false;
    }
    if (!check_known_fields(req, obj, prefix))
        return false;

    char field[64];
    json_t *id = json_object_get(obj, "id");
    if (id == NULL || !json_is_string(id)) {
        serve_respond_error(req, 400, id == NULL ? "missing_field" : "invalid_type",
                            field_path(field, sizeof field, prefix, "id"),
                            "%s field '%sid'; give the release id as a string",
                            id == NULL ? "missing" : "non-string", prefix);
        return false;
    }
    if (!check_id(req, prefix, id))
        return false;
    memset(out, 0, sizeof *out);
    snprintf(out->id, sizeof out->id, "%s", json_string_value(id));

    if (!get_number(req, obj, prefix, "size_mb", &out->size_mb) ||
        !get_number(req, obj, prefix, "users", &out->users) ||
        !get_time(req, obj, prefix, "planned_at", true, &out->planned_at))
        return false;
    out->latest_start_at = out->planned_at + DEFAULT_MAX_DELAY_S;
    bool latest_given = json_object_get(obj, "latest_start_at") != NULL;
    if (!get_time(req, obj, prefix, "latest_start_at", false, &out->latest_start_at))
        return false;
    if (!latest_given && !check_default_latest(req, prefix, out))
        return false;
    if (out->latest_start_at < out->planned_at) {
        serve_respond_error(req, 422, "invalid_value",
                            field_path(field, sizeof field, prefix, "latest_start_at"),
                            "field '%slatest_start_at' is before planned_at; a release may be "
                            "delayed, never brought forward",
                            prefix);
        return false;
    }
    return check_window(req, prefix, now, out);
}

/* Reject a delay window that is too long or that ends before the service clock, because
 * no re-plan could ever schedule such a release. */
static bool check_window(serve_request *req, const char *prefix, int64_t now,
                         cdnopt_store_release *out)
{
    char field[64], latest[32], clock[32];
    serve_format_time(out->latest_start_at, latest, sizeof latest);
    serve_format_time(now, clock, sizeof clock);
    if (out->latest_start_at - out->planned_at > CDNOPT_RELEASE_MAX_DELAY_S) {
        serve_respond_error(req, 422, "invalid_value",
                            field_path(field, sizeof field, prefix, "latest_start_at"),
                            "field '%slatest_start_at' is %s, more than %d days after planned_at; "
                            "a release may be delayed by at most that much",
                            prefix, latest, CDNOPT_RELEASE_MAX_DELAY_S / 86400);
        return false;
    }
    if (out->latest_start_at < now) {
        serve_respond_error(req, 422, "invalid_value",
                            field_path(field, sizeof field, prefix, "latest_start_at"),
                            "field '%slatest_start_at' is %s, before the service clock %s, so "
                            "the release could never start; give a later planned_at or "
                            "latest_start_at",
                            prefix, latest, clock);
        return false;
    }
    out->created_at = now;
    out->status = CDNOPT_RELEASE_PENDING;
    return true;
}

/* ------------------------------------------------------------------------- */
/* Create                                                                    */
/* ------------------------------------------------------------------------- */

/* Runs on the writer thread after the commit. */
static void finish_create(serve_request *req)
{
    if (req->write_rc == CDNOPT_EBUSY) {
        char field[48] = "id";
        if (req->csv_lines != NULL)
            snprintf(field, sizeof field, "CSV line %zu id", req->csv_lines[req->bad_index]);
        else if (req->batch)
            snprintf(field, sizeof field, "releases[%zu].id", req->bad_index);
        serve_respond_error(req, 409, "conflict", field, "%s", req->write_err);
        return;
    }
    if (req->write_rc != CDNOPT_OK) {
        req->retry_after_s = 1;
        serve_respond_error(req, 503, "storage_unavailable", NULL, "the release was not stored: %s",
                            req->write_err);
        return;
    }

    char id[CDNOPT_STORE_ID_MAX * 3];
    serve_path_encode(req->releases[0].id, id, sizeof id);
    snprintf(req->location, sizeof req->location, "/api/v1/releases/%s", id);
    if (req->batch)
        serve_respond_json(req, 201, json_pack("{s:I}", "created", (json_int_t)req->n_releases));
    else
        serve_respond_json(req, 201,
                           json_pack("{s:o}", "release", serve_release_json(&req->releases[0])));
}

/* The list of releases in a body: an array, {"releases": [...]}, or one object. */
static json_t *release_items(json_t *root, bool *batch)
{
    *batch = true;
    if (json_is_array(root))
        return root;
    json_t *list = json_object_get(root, "releases");
    if (json_is_object(root) && list != NULL)
        return list;
    *batch = false;
    return NULL;
}

/* Write "releases[i]." into prefix (40 bytes). This runs once per release of a
 * batch, where snprintf showed up in profiles, so the digits are written by hand. */
static void batch_prefix(char *prefix, size_t i)
{
    char digits[24];
    size_t n = 0;
    do {
        digits[n++] = (char)('0' + i % 10);
        i /= 10;
    } while (i > 0);

    size_t len = 0;
    memcpy(prefix, "releases[", 9);
    len = 9;
    while (n > 0)
        prefix[len++] = digits[--n];
    memcpy(prefix + len, "].", 3); // with the terminating NUL
}

struct id_position {
    const char *id;
    size_t index;
};

static int compare_id_position(const void *a, const void *b)
{
    const struct id_position *x = a, *y = b;
    int order = strcmp(x->id, y->id);
    if (order != 0)
        return order;
    return (x->index > y->index) - (x->index < y->index);
}

/* Reject a batch that gives one id to two releases, naming both indexes (or both CSV
 * lines when csv_lines is not NULL). The store would otherwise report the second one as
 * an id that already exists. */
static bool check_unique_ids(serve_request *req, const cdnopt_store_release *releases, size_t n,
                             const size_t *csv_lines)
{
    struct id_position *sorted = cdnopt_malloc(n * sizeof *sorted);
    if (sorted == NULL) {
        serve_respond_error(req, 503, "out_of_memory", NULL, "out of memory checking %zu ids", n);
        return false;
    }
    for (size_t i = 0; i < n; i++)
        sorted[i] = (struct id_position){releases[i].id, i};
    qsort(sorted, n, sizeof *sorted, compare_id_position);

    /* Of all repeated ids, report the one whose second use comes first in the request. */
    size_t first = 0, second = SIZE_MAX;
    for (size_t i = 1; i < n; i++) {
        bool repeated = strcmp(sorted[i].id, sorted[i - 1].id) == 0;
        bool new_id = i < 2 || strcmp(sorted[i - 1].id, sorted[i - 2].id) != 0;
        if (repeated && new_id && sorted[i].index < second) {
            first = sorted[i - 1].index;
            second = sorted[i].index;
        }
    }
    cdnopt_free(sorted);
    if (second == SIZE_MAX)
        return true;

    char field[64];
    if (csv_lines != NULL) {
        snprintf(field, sizeof field, "CSV line %zu id", csv_lines[second]);
        serve_respond_error(req, 422, "invalid_value", field,
                            "release id '%s' appears twice in the request, on CSV lines %zu and "
                            "%zu; give each release its own id",
                            releases[second].id, csv_lines[first], csv_lines[second]);
        return false;
    }
    snprintf(field, sizeof field, "releases[%zu].id", second);
    serve_respond_error(req, 422, "invalid_value", field,
                        "release id '%s' appears twice in the request, at releases[%zu] and "
                        "releases[%zu]; give each release its own id",
                        releases[second].id, first, second);
    return false;
}

/* Check and copy a batch of release objects. csv_lines, when not NULL, gives each
 * object's CSV line, and errors name "CSV line N field" instead of "releases[i].field". */
static bool parse_batch(struct cdnopt_server *server, serve_request *req, json_t *items,
                        const size_t *csv_lines)
{
    size_t n = json_array_size(items);
    if (!json_is_array(items) || n == 0) {
        serve_respond_error(req, 400, "invalid_type", "releases",
                            "field 'releases' must be a non-empty array of release objects");
        return false;
    }
    if (n > server->params.max_batch_releases) {
        serve_respond_error(req, 413, "payload_too_large", "releases",
                            "batch of %zu releases is over the limit of %zu; split it", n,
                            server->params.max_batch_releases);
        return false;
    }
    req->releases = cdnopt_malloc(n * sizeof *req->releases);
    if (req->releases == NULL) {
        serve_respond_error(req, 503, "out_of_memory", NULL, "out of memory reading %zu releases",
                            n);
        return false;
    }
    int64_t now = serve_now(server);
    for (size_t i = 0; i < n; i++) {
        char prefix[40];
        if (csv_lines != NULL)
            snprintf(prefix, sizeof prefix, "CSV line %zu ", csv_lines[i]);
        else
            batch_prefix(prefix, i);
        if (!parse_release(req, json_array_get(items, i), prefix, now, &req->releases[i]))
            return false;
    }
    if (!check_unique_ids(req, req->releases, n, csv_lines))
        return false;
    req->n_releases = n;
    return true;
}

/* A text/csv body: the releases file of the command line, stored as one batch. */
static void create_releases_csv(struct cdnopt_server *server, serve_request *req)
{
    size_t *lines = NULL;
    json_t *items = serve_release_csv_items(req, &lines);
    if (items == NULL)
        return;
    req->batch = true;
    req->csv_lines = lines; // freed with the request, for the field of a 409
    bool ok = parse_batch(server, req, items, lines);
    json_decref(items);
    if (!ok)
        return;

    serve_request_suspend(req);
    serve_writer_submit(server->writer, req, finish_create);
}

static void create_releases(struct cdnopt_server *server, serve_request *req)
{
    const char *type =
        MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (serve_media_type_is(type, "text/csv")) {
        create_releases_csv(server, req);
        return;
    }
    json_t *root = serve_parse_body(req);
    if (root == NULL)
        return;

    bool ok;
    json_t *items = release_items(root, &req->batch);
    if (req->batch) {
        ok = parse_batch(server, req, items, NULL);
    } else {
        req->releases = cdnopt_malloc(sizeof *req->releases);
        ok = req->releases != NULL &&
             parse_release(req, root, "", serve_now(server), &req->releases[0]);
        if (req->releases == NULL)
            serve_respond_error(req, 503, "out_of_memory", NULL, "out of memory");
        req->n_releases = ok ? 1 : 0;
    }
    json_decref(root);
    if (!ok)
        return;

    serve_request_suspend(req);
    serve_writer_submit(server->writer, req, finish_create);
}

/* ------------------------------------------------------------------------- */
/* List, get, cancel                                                         */
/* ------------------------------------------------------------------------- */

static bool query_time(serve_request *req, const char *key, int64_t *out)
{
    const char *text = serve_query(req, key);
    if (text == NULL)
        return true;
    if (serve_parse_time(text, out))
        return true;
    char shown[CDNOPT_QUOTE_SIZE];
    serve_respond_error(
        req, 400, "invalid_query", key,
        "query parameter '%s' is '%s'; give \"YYYY-MM-DD HH:MM:SS\"", key,
        cdnopt_text_quote(shown, sizeof shown, text, strlen(text), CDNOPT_QUOTE_BYTES));
    return false;
}

static bool parse_list_query(serve_request *req, cdnopt_store_release_query *q)
{
    *q = (cdnopt_store_release_query){-1, INT64_MIN, INT64_MAX, serve_query(req, "after"), 100};
    const char *status = serve_query(req, "status");
    if (status != NULL) {
        if (strcmp(status, "pending") == 0) {
            q->status = CDNOPT_RELEASE_PENDING;
        } else if (strcmp(status, "cancelled") == 0) {
            q->status = CDNOPT_RELEASE_CANCELLED;
        } else {
            char shown[CDNOPT_QUOTE_SIZE];
            serve_respond_error(
                req, 400, "invalid_query", "status",
                "query parameter 'status' is '%s'; use pending or cancelled",
                cdnopt_text_quote(shown, sizeof shown, status, strlen(status), CDNOPT_QUOTE_BYTES));
            return false;
        }
    }
    const char *limit = serve_query(req, "limit");
    if (limit != NULL) {
        char *end = NULL;
        long value = strtol(limit, &end, 10);
        if (end == limit || *end != '\0' || value < 1 || value > LIST_MAX_LIMIT) {
            char shown[CDNOPT_QUOTE_SIZE];
            serve_respond_error(
                req, 400, "invalid_query", "limit", "query parameter 'limit' is '%s'; use 1 to %d",
                cdnopt_text_quote(shown, sizeof shown, limit, strlen(limit), 20), LIST_MAX_LIMIT);
            return false;
        }
        q->limit = (size_t)value;
    }
    if (!query_time(req, "planned_from", &q->planned_from) ||
        !query_time(req, "planned_to", &q->planned_to))
        return false;

    /* The range is [planned_from, planned_to), so a reversed or empty one is a mistake in the
     * request and not a query with no matches. The samples range is checked the same way. */
    if (q->planned_from >= q->planned_to) {
        char from[32];
        char to[32];
        serve_format_time(q->planned_from, from, sizeof from);
        serve_format_time(q->planned_to, to, sizeof to);
        serve_respond_error(req, 400, "invalid_query", "planned_to",
                            "query parameter 'planned_to' (%s) must be after 'planned_from' "
                            "(%s); the range is planned_from <= planned_at < planned_to",
                            to, from);
        return false;
    }
    return true;
}

static void list_releases(struct cdnopt_server *server, serve_request *req)
{
    cdnopt_store_release_query q;
    if (!parse_list_query(req, &q))
        return;

    cdnopt_store_release *rows = cdnopt_malloc(q.limit * sizeof *rows);
    size_t n = 0;
    char err[CDNOPT_ERRMSG_MAX] = "out of memory";
    if (rows == NULL || cdnopt_store_release_list(server->store, &q, rows, &n, err) != CDNOPT_OK) {
        cdnopt_free(rows);
        serve_respond_error(req, 503, "storage_unavailable", NULL, "%s", err);
        return;
    }

    json_t *list = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, serve_release_json(&rows[i]));

    /* A full page may have more after it; the client passes next_after as after. */
    json_t *next = n == q.limit ? json_string(rows[n - 1].id) : json_null();
    cdnopt_free(rows);
    serve_respond_json(req, 200, json_pack("{s:o, s:o}", "releases", list, "next_after", next));
}

void serve_route_releases(struct cdnopt_server *server, serve_request *req)
{
    if (strcmp(req->method, "POST") == 0)
        create_releases(server, req);
    else
        list_releases(server, req);
}

void serve_route_release(struct cdnopt_server *server, serve_request *req)
{
    cdnopt_store_release r;
    char err[CDNOPT_ERRMSG_MAX] = "";
    int rc = cdnopt_store_release_get(server->store, req->path_id, &r, err);
    if (rc == CDNOPT_ENOTFOUND)
        serve_respond_error(req, 404, "not_found", "id", "%s", err);
    else if (rc != CDNOPT_OK)
        serve_respond_error(req, 503, "storage_unavailable", NULL, "%s", err);
    else
        serve_respond_json(req, 200, json_pack("{s:o}", "release", serve_release_json(&r)));
}

void serve_route_release_cancel(struct cdnopt_server *server, serve_request *req)
{
    char err[CDNOPT_ERRMSG_MAX] = "";
    int rc = cdnopt_store_release_cancel(server->store, req->path_id, err);
    if (rc == CDNOPT_ENOTFOUND) {
        serve_respond_error(req, 404, "not_found", "id", "%s", err);
        return;
    }
    if (rc == CDNOPT_EBUSY) {
        serve_respond_error(req, 409, "conflict", "id", "%s", err);
        return;
    }
    if (rc != CDNOPT_OK) {
        serve_respond_error(req, 503, "storage_unavailable", NULL, "%s", err);
        return;
    }
    serve_route_release(server, req);
}
