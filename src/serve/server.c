/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HTTP front of the service on libmicrohttpd: start and stop, the access
 * handler (routing, body collection, size/type/auth checks), responses, and one
 * log line per request. Handlers that wait for another thread (group commit,
 * jobs) suspend their connection. The other thread sets the response and
 * resumes the connection, and the next callback queues the response.
 */
#include "serve-impl.h"

#include "cdnopt/agent.h"
#include "cdnopt/release.h"
#include "cdnopt/series.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const route_labels[ROUTE_COUNT] = {
#define SERVE_ROUTE_LABEL_(name, label) label,
    SERVE_ROUTES(SERVE_ROUTE_LABEL_)
#undef SERVE_ROUTE_LABEL_
};

const char *serve_route_label(enum serve_route route)
{
    return route >= 0 && route < ROUTE_COUNT ? route_labels[route] : "unknown";
}

bool serve_media_type_is(const char *content_type, const char *name)
{
    size_t n = strlen(name);
    if (content_type == NULL || strncasecmp(content_type, name, n) != 0)
        return false;
    char next = content_type[n];
    return next == '\0' || next == ';' || next == ' ' || next == '\t';
}

/* ------------------------------------------------------------------------- */
/* Clock and time text                                                       */
/* ------------------------------------------------------------------------- */

int64_t serve_now(const struct cdnopt_server *server)
{
    return server->now_at_start + (int64_t)(cdnopt_clock_s() - server->clock_origin_s);
}

bool serve_parse_time(const char *text, int64_t *out)
{
    return text != NULL && cdnopt_civil_parse(text, out, NULL) == CDNOPT_OK;
}

void serve_format_time(int64_t t, char *buf, size_t size)
{
    cdnopt_civil_format(t, buf, size);
}

/* ------------------------------------------------------------------------- */
/* Responses                                                                 */
/* ------------------------------------------------------------------------- */

static void set_response(serve_request *req, int status, char *owned, const char *type)
{
    cdnopt_free(req->response);
    req->response = owned;
    req->status = status;
    req->content_type = type;
}

void serve_respond_json(serve_request *req, int status, json_t *body)
{
    char *text = body != NULL ? serve_json_dumps(body) : NULL;
    json_decref(body);
    if (text == NULL) {
        /* A NULL body or text comes from a failed allocation or from a value jansson cannot
         * encode (inf, NaN, invalid UTF-8), so the message names both. */
        set_response(req, 500,
                     cdnopt_strdup("{\"error\":{\"code\":\"internal\",\"message\":"
                                   "\"the response could not be encoded as JSON (out of memory "
                                   "or a value that is not finite or not UTF-8)\","
                                   "\"field\":null}}"),
                     "application/json");
        return;
    }

    set_response(req, status, text, "application/json");
}

/* Replace each byte that does not start or continue a valid UTF-8 sequence with '?'. */
static void replace_invalid_utf8(char *text)
{
    unsigned char *p = (unsigned char *)text;
    while (*p != '\0') {
        size_t len = cdnopt_utf8_sequence_length(p);
        if (len == 0)
            *p++ = '?';
        else
            p += len;
    }
}

void serve_respond_error(serve_request *req, int status, const char *code, const char *field,
                         const char *fmt, ...)
{
    char message[CDNOPT_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);

    /* Messages quote request bytes, and jansson rejects strings that are not UTF-8. */
    replace_invalid_utf8(message);
    json_t *error = json_pack("{s:s, s:s, s:s?}", "code", code, "message", message, "field", field);
    serve_respond_json(req, status, json_pack("{s:o}", "error", error));
}

void serve_respond_text(serve_request *req, int status, const char *content_type, const char *text,
                        size_t len)
{
    char *copy = cdnopt_malloc(len + 1);
    if (copy != NULL) {
        memcpy(copy, text, len);
        copy[len] = '\0';
    }
    set_response(req, status, copy, content_type);
}

void serve_request_suspend(serve_request *req)
{
    req->suspended = true;
    MHD_suspend_connection(req->conn);
}

void serve_request_resume(serve_request *req)
{
    atomic_store(&req->ready, true);
    MHD_resume_connection(req->conn);
}

static enum MHD_Result queue_response(serve_request *req)
{
    const char *body = req->response != NULL ? req->response : "";
    struct MHD_Response *response =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (response == NULL)
        return MHD_NO;

    char request_id[32];
    snprintf(request_id, sizeof request_id, "%llu", (unsigned long long)req->id);
    MHD_add_response_header(response, "X-Request-Id", request_id);
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
                            req->content_type != NULL ? req->content_type : "application/json");
    if (req->retry_after_s > 0) {
        char seconds[16];
        snprintf(seconds, sizeof seconds, "%d", req->retry_after_s);
        MHD_add_response_header(response, MHD_HTTP_HEADER_RETRY_AFTER, seconds);
    }
    if (req->allow[0] != '\0')
        MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, req->allow);
    if (req->location[0] != '\0')
        MHD_add_response_header(response, MHD_HTTP_HEADER_LOCATION, req->location);
    if (req->status == 401)
        MHD_add_response_header(response, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");

    enum MHD_Result rc = MHD_queue_response(req->conn, (unsigned)req->status, response);
    MHD_destroy_response(response);
    req->answered = true;
    return rc;
}

/* ------------------------------------------------------------------------- */
/* Routing                                                                   */
/* ------------------------------------------------------------------------- */

/* Match the raw request target (query string included, nothing decoded) against the route
 * table, and decode an {id} or dashboard file segment into req->path_id. The segments are
 * split before decoding, so an id may contain "%2F" (a slash). */
static enum serve_route match_route(const char *target, serve_request *req)
{
    static const struct {
        const char *path;
        enum serve_route route;
    } fixed[] = {
        {"/healthz", ROUTE_HEALTHZ},          {"/metrics", ROUTE_METRICS},
        {"/api/v1/releases", ROUTE_RELEASES}, {"/api/v1/samples", ROUTE_SAMPLES},
        {"/api/v1/replan", ROUTE_REPLAN},     {"/api/v1/schedule", ROUTE_SCHEDULE},
        {"/api/v1/forecast", ROUTE_FORECAST}, {"/api/v1/system", ROUTE_SYSTEM},
    };
    size_t path_len = strcspn(target, "?");
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (strlen(fixed[i].path) == path_len && strncmp(target, fixed[i].path, path_len) == 0)
            return fixed[i].route;

    const char *rest = NULL;
    enum serve_route route = ROUTE_UNKNOWN;
    if (path_len == 8 && strncmp(target, "/monitor", 8) == 0) {
        return ROUTE_MONITOR;
    } else if (strncmp(target, "/monitor/", 9) == 0) {
        rest = target + 9;
        route = ROUTE_MONITOR;
    } else if (strncmp(target, "/api/v1/releases/", 17) == 0) {
        rest = target + 17;
        route = ROUTE_RELEASE;
    } else if (strncmp(target, "/api/v1/jobs/", 13) == 0) {
        rest = target + 13;
        route = ROUTE_JOB;
    }
    if (rest == NULL || (route != ROUTE_MONITOR && strchr("/?", rest[0]) != NULL))
        return ROUTE_UNKNOWN; // an id segment is never empty

    size_t len = strcspn(rest, "/?");
    req->path_status = serve_path_decode(rest, len, req->path_id, sizeof req->path_id);
    if (req->path_status == SERVE_PATH_TOO_LONG)
        return ROUTE_UNKNOWN;
    if (req->path_status != SERVE_PATH_OK) // the raw segment, for the 400 that names it
        snprintf(req->path_id, sizeof req->path_id, "%.*s", (int)len, rest);
    if (rest[len] != '/')
        return route;
    if (route == ROUTE_RELEASE && strcspn(rest + len, "?") == 7 &&
        strncmp(rest + len, "/cancel", 7) == 0)
        return ROUTE_RELEASE_CANCEL;
    return ROUTE_UNKNOWN;
}

/* Methods each route accepts, as the Allow header lists them. */
static const char *allowed_methods(enum serve_route route)
{
    switch (route) {
    case ROUTE_RELEASES:
        return "GET, POST";
    case ROUTE_SAMPLES:
        return "GET, POST, DELETE";
    case ROUTE_RELEASE_CANCEL:
    case ROUTE_REPLAN:
        return "POST";
    default:
        return "GET";
    }
}

/* Whether key is a whole item of the comma-separated list names, so that "OST" matches
 * nothing in "GET, POST". */
static bool name_listed(const char *names, const char *key)
{
    size_t len = strlen(key);
    for (const char *at = strstr(names, key); len > 0 && at != NULL; at = strstr(at + 1, key)) {
        bool starts = at == names || at[-1] == ' ';
        bool ends = at[len] == '\0' || at[len] == ',';
        if (starts && ends)
            return true;
    }
    return false;
}

static bool method_allowed(enum serve_route route, const char *method)
{
    if (strcmp(method, "HEAD") == 0)
        method = "GET";
    return name_listed(allowed_methods(route), method);
}

static bool is_mutating(const char *method)
{
    return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0;
}

/* Constant-time comparison, so the time taken does not reveal a token prefix. */
static bool token_equal(const char *a, const char *b)
{
    size_t la = strlen(a);
    size_t lb = strlen(b);
    unsigned char diff = (unsigned char)(la != lb);
    for (size_t i = 0; i < la; i++)
        diff |= (unsigned char)(a[i] ^ b[i % (lb == 0 ? 1 : lb)]);
    return diff == 0;
}

/* Set *bad to the first query argument whose decoded key or value contains a NUL byte
 * ("%00"), which the C string of serve_query would cut short. */
static enum MHD_Result find_nul_argument(void *cls, enum MHD_ValueKind kind, const char *key,
                                         size_t key_size, const char *value, size_t value_size)
{
    (void)kind;
    const char **bad = cls;
    if (strlen(key) == key_size && (value == NULL || strlen(value) == value_size))
        return MHD_YES;
    *bad = key;
    return MHD_NO;
}

/* Reject a query with a NUL byte in a key or value, naming the parameter. */
static bool check_query_bytes(serve_request *req)
{
    const char *bad = NULL;
    MHD_get_connection_values_n(req->conn, MHD_GET_ARGUMENT_KIND, find_nul_argument, &bad);
    if (bad == NULL)
        return true;
    char shown[CDNOPT_QUOTE_SIZE];
    serve_respond_error(
        req, 400, "invalid_query", bad,
        "query parameter '%s' contains a NUL byte (%%00); remove it",
        cdnopt_text_quote(shown, sizeof shown, bad, strlen(bad), CDNOPT_QUOTE_BYTES));
    return false;
}

/* Query parameters each API route reads, as a list for messages, or NULL for a route
 * outside the API whose clients may add their own (the dashboard's ?lang=, a scraper's
 * parameters). */
static const char *route_query_names(enum serve_route route)
{
    switch (route) {
    case ROUTE_RELEASES:
        return "status, planned_from, planned_to, after, limit";
    case ROUTE_SAMPLES:
        return "from, to";
    case ROUTE_SCHEDULE:
        return "format, series";
    case ROUTE_FORECAST:
        return "horizon, samples";
    case ROUTE_SYSTEM:
        return "samples";
    case ROUTE_RELEASE:
    case ROUTE_RELEASE_CANCEL:
    case ROUTE_REPLAN:
    case ROUTE_JOB:
        return "";
    default:
        return NULL;
    }
}

struct query_scan {
    const char *names;     // parameters the route reads
    const char *unknown;   // first parameter the route does not read
    const char *repeated;  // first parameter given twice
    const char *seen[8];   // parameters met so far, to find repeats
    size_t n_seen;
};

static enum MHD_Result scan_query_argument(void *cls, enum MHD_ValueKind kind, const char *key,
                                           const char *value)
{
    (void)kind;
    (void)value;
    struct query_scan *scan = cls;
    if (!name_listed(scan->names, key)) {
        scan->unknown = key;
        return MHD_NO;
    }
    for (size_t i = 0; i < scan->n_seen; i++) {
        if (strcmp(scan->seen[i], key) == 0) {
            scan->repeated = key;
            return MHD_NO;
        }
    }
    if (scan->n_seen < sizeof scan->seen / sizeof scan->seen[0])
        scan->seen[scan->n_seen++] = key;
    return MHD_YES;
}

/* Reject a query parameter that the API route does not read, such as a misspelt
 * "horizn" that would leave the default in place without a word. Reject a parameter
 * given twice too, because only one of its values would count. */
static bool check_query_names(serve_request *req)
{
    struct query_scan scan = {route_query_names(req->route), NULL, NULL, {NULL}, 0};
    if (scan.names == NULL)
        return true;
    MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, scan_query_argument, &scan);
    const char *label = serve_route_label(req->route);
    const char *name = scan.unknown != NULL ? scan.unknown : scan.repeated;
    char shown[CDNOPT_QUOTE_SIZE] = "";
    if (name != NULL)
        cdnopt_text_quote(shown, sizeof shown, name, strlen(name), CDNOPT_QUOTE_BYTES);
    if (scan.unknown != NULL && scan.names[0] == '\0')
        serve_respond_error(req, 400, "invalid_query", scan.unknown,
                            "unknown query parameter '%s'; %s takes no query parameters", shown,
                            label);
    else if (scan.unknown != NULL)
        serve_respond_error(req, 400, "invalid_query", scan.unknown,
                            "unknown query parameter '%s'; %s takes %s", shown, label, scan.names);
    else if (scan.repeated != NULL)
        serve_respond_error(req, 400, "invalid_query", scan.repeated,
                            "query parameter '%s' is given more than once; give it once", shown);
    return scan.unknown == NULL && scan.repeated == NULL;
}

/* Checks that need only the headers: route, method, query bytes, auth, content type, size.
 * Returns false after setting an error response. */
static bool check_headers(struct cdnopt_server *server, serve_request *req)
{
    if (req->route == ROUTE_UNKNOWN) {
        serve_respond_error(req, 404, "not_found", NULL,
                            "no route for this path; see docs/openapi.yaml for the API");
        return false;
    }
    if (req->path_status != SERVE_PATH_OK) {
        char shown[84];
        serve_respond_error(
            req, 400, "invalid_path", "id",
            "path segment '%s' %s; write each byte other than letters, digits "
            "and -._~ as %% and two hex digits, such as %%2C for a comma",
            cdnopt_text_quote(shown, sizeof shown, req->path_id, strlen(req->path_id), 80),
            req->path_status == SERVE_PATH_NUL
                ? "contains %00, a NUL byte that no id has"
                : "has a '%' that is not followed by two hex digits");
        return false;
    }
    if (!method_allowed(req->route, req->method)) {
        snprintf(req->allow, sizeof req->allow, "%s", allowed_methods(req->route));
        serve_respond_error(req, 405, "method_not_allowed", NULL,
                            "method %s is not allowed on %s; use %s", req->method,
                            serve_route_label(req->route), req->allow);
        return false;
    }
    if (!check_query_bytes(req) || !check_query_names(req))
        return false;
    if (!is_mutating(req->method))
        return true;

    if (server->token != NULL) {
        const char *auth =
            MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
        /* Auth schemes are case-insensitive (RFC 7235 section 2.1); the token is not. */
        if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0 ||
            !token_equal(auth + 7, server->token)) {
            serve_respond_error(req, 401, "unauthorized", "Authorization",
                                auth == NULL ? "missing Authorization header; send "
                                               "'Authorization: Bearer <token>'"
                                             : "invalid bearer token in Authorization header");
            return false;
        }
    }

    const char *type =
        MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    bool json = serve_media_type_is(type, "application/json");
    bool csv = serve_media_type_is(type, "text/csv");
    bool body_expected = req->route != ROUTE_RELEASE_CANCEL && strcmp(req->method, "DELETE") != 0;
    /* Samples and new releases also come as the CSV files the command line reads. */
    bool csv_route = req->route == ROUTE_SAMPLES ||
                     (req->route == ROUTE_RELEASES && strcmp(req->method, "POST") == 0);
    if (body_expected && !json && !(csv && csv_route)) {
        serve_respond_error(req, 415, "unsupported_media_type", "Content-Type",
                            "Content-Type '%s' is not accepted on %s; send application/json%s",
                            type != NULL ? type : "(none)", serve_route_label(req->route),
                            csv_route ? " or text/csv" : "");
        return false;
    }

    const char *length =
        MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (length != NULL && strtoull(length, NULL, 10) > server->params.max_body_bytes) {
        serve_respond_error(req, 413, "payload_too_large", NULL,
                            "request body of %s bytes is over the limit of %zu bytes; split it "
                            "into smaller batches",
                            length, server->params.max_body_bytes);
        return false;
    }
    return true;
}

static bool append_body(struct cdnopt_server *server, serve_request *req, const char *data,
                        size_t size)
{
    if (req->body_too_large || req->body_len + size > server->params.max_body_bytes) {
        req->body_too_large = true;
        return true;
    }
    if (req->body_len + size + 1 > req->body_cap) {
        size_t cap = req->body_cap == 0 ? 4096 : req->body_cap;
        while (cap < req->body_len + size + 1)
            cap *= 2;
        char *grown = cdnopt_realloc(req->body, cap);
        if (grown == NULL)
            return false;
        req->body = grown;
        req->body_cap = cap;
    }
    memcpy(req->body + req->body_len, data, size);
    req->body_len += size;
    req->body[req->body_len] = '\0';
    return true;
}

static void dispatch(struct cdnopt_server *server, serve_request *req);

/* Create the request from its raw target. libmicrohttpd calls this (its URI log callback)
 * once per request before it percent-decodes the path, and passes the result to the
 * access handler and the completion callback as the request's context. */
static void *request_new(void *cls, const char *target, struct MHD_Connection *conn)
{
    struct cdnopt_server *server = cls;
    serve_request *req = cdnopt_calloc(1, sizeof *req);
    if (req == NULL)
        return NULL;
    req->id = atomic_fetch_add(&server->next_request_id, 1) + 1;
    req->started_s = cdnopt_clock_s();
    req->conn = conn;
    req->route = match_route(target, req);
    return req;
}

static enum MHD_Result access_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                      const char *method, const char *version,
                                      const char *upload_data, size_t *upload_data_size,
                                      void **con_cls)
{
    (void)version;
    (void)url; // already decoded: the route comes from the raw target in request_new()
    (void)conn;
    struct cdnopt_server *server = cls;
    serve_request *req = *con_cls;

    /* First call: headers only. Reject early what the headers already decide. */
    if (req == NULL)
        return MHD_NO; // request_new() ran out of memory
    if (req->method == NULL) {
        req->method = method;
        if (!check_headers(server, req))
            return queue_response(req);
        return MHD_YES;
    }

    /* A suspended request was resumed with its response ready. */
    if (atomic_load(&req->ready))
        return queue_response(req);
    if (req->answered)
        return MHD_YES;

    if (*upload_data_size > 0) {
        bool ok = append_body(server, req, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return ok ? MHD_YES : MHD_NO;
    }

    /* The whole body is here. */
    if (req->body_too_large) {
        serve_respond_error(req, 413, "payload_too_large", NULL,
                            "request body is over the limit of %zu bytes; split it into "
                            "smaller batches",
                            server->params.max_body_bytes);
        return queue_response(req);
    }
    dispatch(server, req);

    /* Another thread responds to a suspended request, so reading any other
     * field of req here would race with it. */
    if (req->suspended)
        return MHD_YES;
    return queue_response(req);
}

/* ------------------------------------------------------------------------- */
/* Fixed routes                                                              */
/* ------------------------------------------------------------------------- */

/* 200 while the database can be read, else 503 with SQLite's message, so that a load
 * balancer takes an instance with a damaged or vanished database out of rotation. */
static void route_healthz(struct cdnopt_server *server, serve_request *req)
{
    char err[CDNOPT_ERRMSG_MAX] = "";
    int version = 0;
    if (cdnopt_store_check(server->store, &version, err) != CDNOPT_OK) {
        replace_invalid_utf8(err); // the message names the --db path, which may not be UTF-8
        serve_respond_json(req, 503,
                           json_pack("{s:s, s:{s:s, s:s}}", "status", "storage_unavailable",
                                     "error", "code", "storage_unavailable", "message", err));
        return;
    }
    serve_respond_json(
        req, 200, json_pack("{s:s, s:I}", "status", "ok", "schema_version", (json_int_t)version));
}

static void route_metrics(struct cdnopt_server *server, serve_request *req)
{
    char *text = serve_metrics_render(server);
    if (text == NULL) {
        serve_respond_error(req, 500, "internal", NULL, "out of memory rendering metrics");
        return;
    }
    cdnopt_free(req->response);
    req->response = text;
    req->status = 200;
    req->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

static const char *mime_type(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (dot == NULL)
        return "application/octet-stream";
    if (strcmp(dot, ".html") == 0)
        return "text/html; charset=utf-8";
    if (strcmp(dot, ".js") == 0)
        return "text/javascript; charset=utf-8";
    if (strcmp(dot, ".css") == 0)
        return "text/css; charset=utf-8";
    if (strcmp(dot, ".json") == 0)
        return "application/json";
    return "application/octet-stream";
}

/* Serve a file of the dashboard folder. Names are a single path segment of
 * letters, digits, '-', '_' and '.', never starting with '.', so no request can
 * leave the folder. */
static void route_monitor(struct cdnopt_server *server, serve_request *req)
{
    const char *name = req->path_id[0] == '\0' ? "index.html" : req->path_id;
    bool safe = name[0] != '.' && strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRST"
                                               "UVWXYZ0123456789-_.") == strlen(name);
    if (server->web_dir == NULL || !safe) {
        serve_respond_error(req, 404, "not_found", NULL,
                            server->web_dir == NULL
                                ? "the dashboard is not installed; start with --web-dir DIR"
                                : "no dashboard file '%s'",
                            name);
        return;
    }

    char path[1024];
    snprintf(path, sizeof path, "%s/%s", server->web_dir, name);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        serve_respond_error(req, 404, "not_found", NULL, "no dashboard file '%s'", name);
        return;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *data = size >= 0 ? cdnopt_malloc((size_t)size + 1) : NULL;
    if (data == NULL || fread(data, 1, (size_t)size, f) != (size_t)size) {
        fclose(f);
        cdnopt_free(data);
        serve_respond_error(req, 500, "internal", NULL, "cannot read dashboard file '%s'", name);
        return;
    }
    fclose(f);
    data[size] = '\0';
    cdnopt_free(req->response);
    req->response = data;
    req->status = 200;
    req->content_type = mime_type(name);
}

static void dispatch(struct cdnopt_server *server, serve_request *req)
{
    switch (req->route) {
    case ROUTE_HEALTHZ:
        route_healthz(server, req);
        break;
    case ROUTE_METRICS:
        route_metrics(server, req);
        break;
    case ROUTE_MONITOR:
        route_monitor(server, req);
        break;
    case ROUTE_RELEASES:
        serve_route_releases(server, req);
        break;
    case ROUTE_RELEASE:
        serve_route_release(server, req);
        break;
    case ROUTE_RELEASE_CANCEL:
        serve_route_release_cancel(server, req);
        break;
    case ROUTE_SAMPLES:
        serve_route_samples(server, req);
        break;
    case ROUTE_REPLAN:
        serve_route_replan(server, req);
        break;
    case ROUTE_JOB:
        serve_route_job(server, req);
        break;
    case ROUTE_SCHEDULE:
        serve_route_schedule(server, req);
        break;
    case ROUTE_FORECAST:
        serve_route_forecast(server, req);
        break;
    case ROUTE_SYSTEM:
        serve_route_system(server, req);
        break;
    case ROUTE_UNKNOWN:
    case ROUTE_COUNT:
        serve_respond_error(req, 404, "not_found", NULL, "no route for this path");
        break;
    }
}

const char *serve_query(const serve_request *req, const char *key)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
}

bool serve_query_integer(serve_request *req, const char *key, long min, long max,
                         const char *unit, long *value)
{
    const char *text = serve_query(req, key);
    if (text == NULL)
        return true;
    char *end = NULL;
    errno = 0;
    long parsed = strtol(text, &end, 10);
    if (end != text && *end == '\0' && errno == 0 && parsed >= min && parsed <= max) {
        *value = parsed;
        return true;
    }
    char shown[CDNOPT_QUOTE_SIZE];
    serve_respond_error(
        req, 400, "invalid_query", key,
        "query parameter '%s' is '%s'; give an integer from %ld to %ld %s", key,
        cdnopt_text_quote(shown, sizeof shown, text, strlen(text), CDNOPT_QUOTE_BYTES), min, max,
        unit);
    return false;
}

json_t *serve_parse_body(serve_request *req)
{
    json_error_t error;
    /* Duplicate keys are rejected: a silent "last one wins" hides typing errors. */
    json_t *root = json_loadb(req->body != NULL ? req->body : "", req->body_len,
                              JSON_REJECT_DUPLICATES, &error);

    /* jansson stops at a number beyond a double or a 64-bit integer ("1e999"). That is a
     * value out of range, not a fault in the JSON, so it gets the 422 of the range checks
     * with the number as written. It ends just before error.position and on error.column,
     * so the message gives the column it starts at. */
    if (root == NULL && json_error_code(&error) == json_error_numeric_overflow &&
        error.position > 0 && (size_t)error.position <= req->body_len) {
        size_t end = (size_t)error.position, start = end;
        while (start > 0 && strchr("0123456789+-.eE", req->body[start - 1]) != NULL &&
               req->body[start - 1] != '\0')
            start--;
        serve_respond_error(req, 422, "invalid_value", NULL,
                            "request body: the number %.*s at line %d column %d is out of "
                            "range; give each field a value in its range, such as size_mb "
                            "of at most %g, users of at most %g and gbps of at most %g",
                            (int)(end - start < 40 ? end - start : 40), req->body + start,
                            error.line, error.column - (int)(end - start) + 1,
                            CDNOPT_RELEASE_SIZE_MB_MAX, CDNOPT_RELEASE_USERS_MAX, SERVE_GBPS_MAX);
        return NULL;
    }
    if (root == NULL)
        serve_respond_error(req, 400, "malformed_json", NULL,
                            "request body is not valid JSON: %s at line %d column %d", error.text,
                            error.line, error.column);
    return root;
}

/* ------------------------------------------------------------------------- */
/* Completion: log, metrics, free                                            */
/* ------------------------------------------------------------------------- */

void serve_escape_log_value(const char *text, char *out, size_t size)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++) {
        char escaped[8];
        if (*p == '"' || *p == '\\')
            snprintf(escaped, sizeof escaped, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            snprintf(escaped, sizeof escaped, "\\x%02x", *p);
        else
            snprintf(escaped, sizeof escaped, "%c", *p);
        size_t len = strlen(escaped);
        if (n + len >= size)
            break;
        memcpy(out + n, escaped, len);
        n += len;
    }
    out[n] = '\0';
}

static void request_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                              enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    struct cdnopt_server *server = cls;
    serve_request *req = *con_cls;
    if (req == NULL)
        return;

    double latency_s = cdnopt_clock_s() - req->started_s;
    if (req->method == NULL) // libmicrohttpd rejected the request before the access handler
        req->method = "-";
    int status = req->answered ? req->status : 499; // 499: client went away first
    serve_metrics_observe(server->metrics, req->route, status, latency_s);
    if (status >= 500) {
        char error[1024];
        serve_escape_log_value(req->response != NULL ? req->response : "", error, sizeof error);
        CDNOPT_LOG_ERROR(SERVE_LOG,
                         "request_id=%llu method=%s route=%s status=%d latency_ms=%.3f "
                         "error=\"%s\"",
                         (unsigned long long)req->id, req->method, serve_route_label(req->route),
                         status, latency_s * 1e3, error);
    } else
        CDNOPT_LOG_INFO(SERVE_LOG, "request_id=%llu method=%s route=%s status=%d latency_ms=%.3f%s",
                        (unsigned long long)req->id, req->method, serve_route_label(req->route),
                        status, latency_s * 1e3,
                        toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " terminated=1");

    cdnopt_free(req->body);
    cdnopt_free(req->response);
    cdnopt_free(req->releases);
    cdnopt_free(req->csv_lines);
    cdnopt_free(req);
    *con_cls = NULL;
}

/* ------------------------------------------------------------------------- */
/* Start and stop                                                            */
/* ------------------------------------------------------------------------- */

cdnopt_serve_params cdnopt_serve_params_default(void)
{
    return (cdnopt_serve_params){
        .listen_addr = "127.0.0.1",
        .port = 8000,
        .now = INT64_MIN,
        .http_threads = 4,
        .min_workers = 1,
        .max_workers = 4,
        .monitor_interval_us = 1000000,
        .monitor_history = 600,
        .proc_dir = "/proc",
        .cpu_alert_ratio = 0.90,
        .memory_alert_ratio = 0.85,
        .alert_clear_margin = 0.05,
        .alert_window_us = 30000000,
        .max_body_bytes = 32u << 20,
        .max_batch_releases = 100000,
        .max_job_queue = 64,
        .worker_idle_ms = 10000,
    };
}

static int copy_string(const char *in, char **out)
{
    *out = NULL;
    if (in == NULL)
        return CDNOPT_OK;
    *out = cdnopt_strdup(in);
    return *out != NULL ? CDNOPT_OK : CDNOPT_ENOMEM;
}

/* Write microseconds in the largest unit that divides them exactly ("2h", "90s", "10ms"),
 * the units --monitor-interval takes. */
static void format_interval(int64_t us, char *buf, size_t size)
{
    static const struct {
        int64_t us;
        const char *unit;
    } units[] = {{3600000000LL, "h"}, {60000000LL, "m"}, {1000000LL, "s"}, {1000LL, "ms"}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (us % units[i].us == 0) {
            snprintf(buf, size, "%lld%s", (long long)(us / units[i].us), units[i].unit);
            return;
        }
    }
    snprintf(buf, size, "%lldus", (long long)us);
}

/* Reject a dashboard folder that does not exist, so a mistyped --web-dir fails at start
 * and not on the first GET /monitor. */
static int check_web_dir(const char *dir, char *err)
{
    struct stat info;
    if (dir == NULL)
        return CDNOPT_OK;
    if (stat(dir, &info) != 0)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "serve: --web-dir '%s' cannot be read (%s); give the folder that "
                           "holds the dashboard's index.html, such as build/web",
                           dir, strerror(errno));
    if (!S_ISDIR(info.st_mode))
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "serve: --web-dir '%s' is not a folder; give the folder that holds "
                           "the dashboard's index.html, such as build/web",
                           dir);
    return CDNOPT_OK;
}

/* The monitor period in microseconds. Without a sampling thread (interval 0) tests take
 * each reading by hand, and it counts as 1 s in the alert window. */
static int64_t reading_period_us(const cdnopt_serve_params *p)
{
    return p->monitor_interval_us > 0 ? p->monitor_interval_us : 1000000;
}

/* Whole readings in the alert window: a window that is not a multiple of the interval is
 * cut to one that is. */
static int64_t alert_window_readings(const cdnopt_serve_params *p)
{
    return p->alert_window_us / reading_period_us(p);
}

/* The window must contain at least one reading, and at most SERVE_WINDOW_READINGS_MAX so the
 * monitor's ring stays small. */
static int check_alert_window(const cdnopt_serve_params *p, char *err)
{
    char window[32], interval[32];
    format_interval(p->alert_window_us, window, sizeof window);
    format_interval(reading_period_us(p), interval, sizeof interval);
    int64_t readings = alert_window_readings(p);
    if (p->alert_window_us <= 0)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "serve: --alert-window is %lld us; give a positive window of at "
                           "least one --monitor-interval (%s), such as 30s",
                           (long long)p->alert_window_us, interval);
    if (readings < 1)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "serve: --alert-window %s is shorter than one --monitor-interval "
                           "(%s); give a window of at least one interval, such as 30s",
                           window, interval);
    if (readings > SERVE_WINDOW_READINGS_MAX)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "serve: --alert-window %s is %lld readings at --monitor-interval "
                           "%s, more than %d; give a shorter window or a longer interval",
                           window, (long long)readings, interval, SERVE_WINDOW_READINGS_MAX);
    return CDNOPT_OK;
}

static int check_params(const cdnopt_serve_params *p, char *err)
{
    if (p->db_path == NULL)
        return cdnopt_fail(err, CDNOPT_EINVAL, "serve: no database given; pass --db FILE");
    if (p->port < 0 || p->port > 65535)
        return cdnopt_fail(err, CDNOPT_EINVAL, "serve: port %d is outside 0..65535", p->port);
    if (p->min_workers < 1 || p->max_workers < p->min_workers || p->max_workers > 256)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "serve: workers min %d max %d are invalid; need 1 <= min <= max <= 256",
                           p->min_workers, p->max_workers);
    if (p->monitor_interval_us != 0 &&
        (p->monitor_interval_us < 1000 || p->monitor_interval_us > 3600000000LL)) {
        char interval[32];
        format_interval(p->monitor_interval_us, interval, sizeof interval);
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "serve: --monitor-interval %s is outside 1ms to 1h; give a period "
                           "in that range, such as 1s",
                           interval);
    }
    int rc = check_alert_window(p, err);
    if (rc != CDNOPT_OK)
        return rc;
    struct in_addr addr;
    if (p->listen_addr != NULL && inet_pton(AF_INET, p->listen_addr, &addr) != 1)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "serve: listen address '%s' is not an IPv4 address such as 127.0.0.1",
                           p->listen_addr);
    if (!(p->bandwidth_alert_gbps >= 0 && p->bandwidth_alert_gbps <= SERVE_GBPS_MAX))
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "serve: --bandwidth-alert-gbps %g is outside 0 to %.0f Gbit/s; give "
                           "the observed bandwidth to alert above, or 0 for no alert",
                           p->bandwidth_alert_gbps, SERVE_GBPS_MAX);
    if (!(p->alert_clear_margin >= 0 && p->alert_clear_margin < 1))
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "serve: --alert-clear-margin %g is outside [0, 1); give the share "
                           "of a threshold by which a value must fall below it to clear the "
                           "alert, such as 0.05, or 0 to clear at the threshold",
                           p->alert_clear_margin);
    if (p->http_threads < 1 || p->http_threads > 256)
        return cdnopt_fail(err, CDNOPT_EINVAL, "serve: http threads %d outside 1..256",
                           p->http_threads);
    /* A mistyped --proc-dir or files that do not parse would disable the CPU and memory
     * alerts without a word, because the monitor leaves out a reading it cannot take. */
    rc = p->proc_dir != NULL ? serve_monitor_check_proc(p->proc_dir, err) : CDNOPT_OK;
    return rc == CDNOPT_OK ? check_web_dir(p->web_dir, err) : rc;
}

static int copy_params(struct cdnopt_server *s, const cdnopt_serve_params *p)
{
    s->params = *p;
    int rc = copy_string(p->listen_addr != NULL ? p->listen_addr : "127.0.0.1", &s->listen_addr);
    if (rc == CDNOPT_OK)
        rc = copy_string(p->db_path, &s->db_path);
    if (rc == CDNOPT_OK)
        rc = copy_string(p->model_path, &s->model_path);
    if (rc == CDNOPT_OK)
        rc = copy_string(p->agent_path, &s->agent_path);
    if (rc == CDNOPT_OK)
        rc = copy_string(p->token, &s->token);
    if (rc == CDNOPT_OK)
        rc = copy_string(p->web_dir, &s->web_dir);
    if (rc == CDNOPT_OK)
        rc = copy_string(p->proc_dir != NULL ? p->proc_dir : "/proc", &s->proc_dir);
    return rc;
}

/* The monitor's alerts drive the pool: CPU high adds a worker, memory high
 * recycles them (load shedding itself is checked per request). The bandwidth
 * and forecast alerts are only logged. */
static void on_alert(void *user, const monitor_alert *alert)
{
    struct cdnopt_server *server = user;
    char clock[32] = "", traffic_at[32] = "";
    if (alert->clock != MONITOR_NO_TIME)
        serve_format_time(alert->clock, clock, sizeof clock);
    if (alert->traffic_at != MONITOR_NO_TIME)
        serve_format_time(alert->traffic_at, traffic_at, sizeof traffic_at);
    CDNOPT_LOG_WARN(SERVE_LOG,
                    "alert=%s state=%s value=%.3f threshold=%.3f clear_threshold=%.3f "
                    "window_s=%g clock=\"%s\" traffic_at=\"%s\"",
                    monitor_alert_name(alert->kind), alert->raised ? "raised" : "cleared",
                    alert->value, alert->threshold, alert->clear_threshold, alert->window_s,
                    clock, traffic_at);
    if (!alert->raised || server->pool == NULL)
        return;
    if (alert->kind == MONITOR_ALERT_CPU)
        serve_pool_scale_out(server->pool);
    else if (alert->kind == MONITOR_ALERT_MEMORY)
        serve_pool_recycle(server->pool);
}

static int64_t monitor_service_clock(void *user)
{
    return serve_now(user);
}

static int start_daemon(struct cdnopt_server *s, char *err)
{
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)s->params.port);
    if (inet_pton(AF_INET, s->listen_addr, &addr.sin_addr) != 1)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "serve: listen address '%s' is not an IPv4 address such as 127.0.0.1",
                           s->listen_addr);

    /* NOTE: no MHD_OPTION_LISTENING_ADDRESS_REUSE. Its SO_REUSEPORT would let a second
     * server bind the same port, and the kernel would then split the requests between
     * the two servers and their databases. Without the option libmicrohttpd sets only
     * SO_REUSEADDR, so a restart still binds while old connections are in TIME_WAIT. */
    unsigned flags =
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC;
    s->daemon = MHD_start_daemon(
        flags, (uint16_t)s->params.port, NULL, NULL, access_handler, s, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&addr, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)s->params.http_threads,
        MHD_OPTION_NOTIFY_COMPLETED, request_completed, s, MHD_OPTION_URI_LOG_CALLBACK, request_new,
        s, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60, MHD_OPTION_END);
    if (s->daemon == NULL)
        return cdnopt_fail(err, CDNOPT_EIO,
                           "serve: cannot listen on %s:%d (in use, or not allowed); pick another "
                           "--port",
                           s->listen_addr, s->params.port);

    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info != NULL && info->port != 0 ? info->port : s->params.port;
    return CDNOPT_OK;
}

static int start_parts(struct cdnopt_server *s, char *err)
{
    cdnopt_store_params sp = cdnopt_store_params_default();
    sp.path = s->db_path;
    sp.synchronous_full = s->params.synchronous_full;
    int rc = cdnopt_store_open(&sp, &s->store, err);
    if (rc == CDNOPT_OK && s->model_path != NULL)
        rc = serve_forecaster_open(s->model_path, &s->forecaster, err);
    if (rc == CDNOPT_OK && s->agent_path != NULL)
        rc = cdnopt_agent_load(s->agent_path, &s->agent, err);
    if (rc == CDNOPT_OK)
        rc = serve_metrics_new(&s->metrics);
    if (rc == CDNOPT_OK)
        rc = serve_pool_new(s->params.min_workers, s->params.max_workers, s->params.max_job_queue,
                            s->params.worker_idle_ms, &s->pool, err);
    if (rc == CDNOPT_OK)
        rc = serve_writer_start(s->store, s->metrics, &s->writer, err);
    if (rc == CDNOPT_OK) {
        monitor_params mp = {
            .interval_us = s->params.monitor_interval_us,
            .history = s->params.monitor_history,
            .proc_dir = s->proc_dir,
            .cpu_alert_ratio = s->params.cpu_alert_ratio,
            .memory_alert_ratio = s->params.memory_alert_ratio,
            .bandwidth_alert_gbps = s->params.bandwidth_alert_gbps,
            .alert_clear_margin = s->params.alert_clear_margin,
            .window_readings = (size_t)alert_window_readings(&s->params),
            .window_s = (double)(alert_window_readings(&s->params) *
                                 reading_period_us(&s->params)) / 1e6,
            .on_alert = on_alert,
            .service_clock = monitor_service_clock,
            .user = s,
        };
        rc = serve_monitor_start(&mp, &s->monitor, err);
    }
    if (rc == CDNOPT_OK)
        rc = start_daemon(s, err);
    return rc;
}

int cdnopt_server_start(const cdnopt_serve_params *params, cdnopt_server **out, char *err)
{
    *out = NULL;
    int rc = check_params(params, err);
    if (rc != CDNOPT_OK)
        return rc;

    /* Counted allocation for jansson too, so leak checks in tests cover JSON. */
    json_set_alloc_funcs(cdnopt_malloc, cdnopt_free);

    struct cdnopt_server *s = cdnopt_calloc(1, sizeof *s);
    if (s == NULL)
        return cdnopt_fail(err, CDNOPT_ENOMEM, "serve: out of memory");
    pthread_mutex_init(&s->plan_lock, NULL);
    s->clock_origin_s = cdnopt_clock_s();
    s->now_at_start = params->now;
    if (params->now == INT64_MIN) {
        /* Civil seconds are the local wall clock: UTC seconds plus the zone's
         * offset (TZ, else the machine's zone) at start. */
        time_t wall = time(NULL);
        struct tm local;
        localtime_r(&wall, &local);
        s->now_at_start = (int64_t)wall + local.tm_gmtoff;
    }

    rc = copy_params(s, params);
    if (rc != CDNOPT_OK)
        cdnopt_fail(err, rc, "serve: out of memory");
    if (rc == CDNOPT_OK)
        rc = start_parts(s, err);
    if (rc != CDNOPT_OK) {
        cdnopt_server_stop(s);
        return rc;
    }

    char now_text[32];
    serve_format_time(serve_now(s), now_text, sizeof now_text);
    CDNOPT_LOG_INFO(SERVE_LOG,
                    "event=start addr=%s port=%d db=%s clock=\"%s\" http_threads=%d "
                    "workers=%d..%d auth=%s",
                    s->listen_addr, s->port, s->db_path, now_text, s->params.http_threads,
                    s->params.min_workers, s->params.max_workers, s->token ? "bearer" : "none");
    *out = s;
    return CDNOPT_OK;
}

int cdnopt_server_port(const cdnopt_server *server)
{
    return server->port;
}

void cdnopt_server_stop(cdnopt_server *s)
{
    if (s == NULL)
        return;

    /* Order: stop accepting connections, respond to the queued writes and jobs while
     * the daemon can still send their responses, then stop the daemon, the
     * sampler, and last the database they all use. */
    bool was_running = s->daemon != NULL;
    if (s->daemon != NULL)
        MHD_quiesce_daemon(s->daemon);
    serve_writer_stop(s->writer);
    serve_pool_free(s->pool);
    if (s->daemon != NULL)
        MHD_stop_daemon(s->daemon);
    serve_monitor_stop(s->monitor);
    serve_metrics_free(s->metrics);
    serve_forecaster_close(s->forecaster);
    cdnopt_agent_free(s->agent);
    cdnopt_store_close(s->store);
    if (was_running)
        CDNOPT_LOG_INFO(SERVE_LOG, "event=stop port=%d", s->port);

    cdnopt_free(s->listen_addr);
    cdnopt_free(s->db_path);
    cdnopt_free(s->model_path);
    cdnopt_free(s->agent_path);
    cdnopt_free(s->token);
    cdnopt_free(s->web_dir);
    cdnopt_free(s->proc_dir);
    pthread_mutex_destroy(&s->plan_lock);
    cdnopt_free(s);
}
