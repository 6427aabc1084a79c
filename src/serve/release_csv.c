/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Releases posted as CSV (Content-Type text/csv): the releases file of the command line,
 * a header naming id, size_mb, users, planned_at and optionally latest_start_at, then
 * one release per line. Fields may be quoted as RFC 4180 describes. Each line becomes
 * the JSON object a JSON batch would hold, so both bodies pass the same field checks,
 * and the field names in errors read "CSV line 4 size_mb".
 */
#include "serve-impl.h"

#include "cdnopt/release.h"
#include "cdnopt/series.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Columns a releases CSV may have, as the command line's releases file names them. */
enum { COLUMN_ID, COLUMN_SIZE, COLUMN_USERS, COLUMN_PLANNED, COLUMN_LATEST, N_COLUMNS };
static const char *const column_names[N_COLUMNS] = {"id", "size_mb", "users", "planned_at",
                                                    "latest_start_at"};

/* Most fields one CSV line may have. */
#define MAX_FIELDS 16

/* Split one line (no line ending) into fields with a CR and the spaces around each field
 * trimmed, except around field keep (-1 for none). The id keeps its spaces, so that the id
 * check rejects them as the releases file of the command line does. */
static bool split_line(serve_request *req, char *line, size_t number, int keep, char **fields,
                       size_t *n_fields)
{
    size_t len = strlen(line);
    if (len > 0 && line[len - 1] == '\r')
        line[len - 1] = '\0';
    int rc = cdnopt_csv_split(line, ',', fields, MAX_FIELDS, n_fields);
    if (rc == CDNOPT_EPARSE || rc == CDNOPT_EINVAL) {
        serve_respond_error(req, 400, "invalid_csv", NULL,
                            rc == CDNOPT_EPARSE
                                ? "CSV line %zu: a quoted field has no closing quote; close it "
                                  "on the same line"
                                : "CSV line %zu: more than 16 fields; a release has 5 at most",
                            number);
        return false;
    }
    if (rc != CDNOPT_OK) {
        serve_respond_error(req, 503, "out_of_memory", NULL, "out of memory");
        return false;
    }
    for (size_t i = 0; i < *n_fields; i++) {
        if ((int)i == keep)
            continue;
        char *field = fields[i];
        while (*field == ' ' || *field == '\t')
            field++;
        size_t n = strlen(field);
        while (n > 0 && (field[n - 1] == ' ' || field[n - 1] == '\t'))
            field[--n] = '\0';
        fields[i] = field;
    }
    return true;
}

/* Map the header's columns to release fields; column_of[k] is the column of field k or
 * -1. Rejects unknown and repeated names and a missing required one. */
static bool read_header(serve_request *req, char **fields, size_t n_fields, int *column_of)
{
    for (int k = 0; k < N_COLUMNS; k++)
        column_of[k] = -1;
    for (size_t i = 0; i < n_fields; i++) {
        int k = 0;
        while (k < N_COLUMNS && strcmp(fields[i], column_names[k]) != 0)
            k++;
        if (k == N_COLUMNS || column_of[k] >= 0) {
            char shown[CDNOPT_QUOTE_SIZE];
            serve_respond_error(req, 400, k == N_COLUMNS ? "unknown_field" : "invalid_csv", NULL,
                                "CSV line 1: %s column '%s'; the header names id, size_mb, "
                                "users, planned_at and optionally latest_start_at, each once",
                                k == N_COLUMNS ? "unknown" : "repeated",
                                cdnopt_text_quote(shown, sizeof shown, fields[i], strlen(fields[i]),
                                                  CDNOPT_QUOTE_BYTES));
            return false;
        }
        column_of[k] = (int)i;
    }
    for (int k = 0; k < COLUMN_LATEST; k++) {
        if (column_of[k] < 0) {
            serve_respond_error(req, 400, "missing_field", column_names[k],
                                "CSV line 1: the header has no '%s' column; start the body with "
                                "\"id,size_mb,users,planned_at\"",
                                column_names[k]);
            return false;
        }
    }
    return true;
}

/* Set key of obj to a JSON string, rejecting text that is not UTF-8. */
static bool set_text(serve_request *req, json_t *obj, const char *key, const char *text,
                     size_t number)
{
    json_t *value = json_string(text);
    if (value == NULL || json_object_set_new(obj, key, value) != 0) {
        char field[64];
        snprintf(field, sizeof field, "CSV line %zu %s", number, key);
        serve_respond_error(req, 400, "invalid_csv", field,
                            "CSV line %zu: %s is not valid UTF-8; send the CSV in UTF-8", number,
                            key);
        return false;
    }
    return true;
}

/* Reject a line that stops before a required column (latest_start_at may be left out). */
static bool check_required(serve_request *req, size_t n_fields, const int *column_of,
                           size_t number)
{
    for (int k = 0; k < COLUMN_LATEST; k++) {
        if ((size_t)column_of[k] >= n_fields) {
            serve_respond_error(req, 400, "invalid_csv", NULL,
                                "CSV line %zu: %zu fields, but the header puts '%s' in column "
                                "%d; give every required field on each line",
                                number, n_fields, column_names[k], column_of[k] + 1);
            return false;
        }
    }
    return true;
}

/* Turn one release line into a JSON object. */
static json_t *line_object(serve_request *req, char **fields, size_t n_fields,
                           const int *column_of, size_t number)
{
    json_t *obj = json_object();
    if (obj == NULL) {
        serve_respond_error(req, 503, "out_of_memory", NULL, "out of memory");
        return NULL;
    }
    for (int k = 0; k < N_COLUMNS; k++) {
        const char *text =
            column_of[k] >= 0 && (size_t)column_of[k] < n_fields ? fields[column_of[k]] : "";
        if (k == COLUMN_LATEST && text[0] == '\0')
            continue; // an empty latest_start_at means the default window
        if (k == COLUMN_SIZE || k == COLUMN_USERS) {
            double value = 0.0;
            if (cdnopt_release_parse_decimal(text, &value) != 0) {
                /* The range check of the JSON fields comes later, but a decimal such as
                 * 1e999 has no JSON value, so its range is checked here. */
                char field[64], where[48], message[CDNOPT_ERRMSG_MAX];
                snprintf(field, sizeof field, "CSV line %zu %s", number, column_names[k]);
                snprintf(where, sizeof where, "CSV line %zu", number);
                int rc = cdnopt_release_parse_number(column_names[k], text, where, &value, message);
                serve_respond_error(req, rc == CDNOPT_EPARSE ? 400 : 422,
                                    rc == CDNOPT_EPARSE ? "invalid_type" : "invalid_value", field,
                                    "%s", message);
                json_decref(obj);
                return NULL;
            }
            json_object_set_new(obj, column_names[k], json_real(value));
        } else if (!set_text(req, obj, column_names[k], text, number)) {
            json_decref(obj);
            return NULL;
        }
    }
    return obj;
}

json_t *serve_release_csv_items(serve_request *req, size_t **lines_out)
{
    *lines_out = NULL;
    char *body = req->body != NULL ? req->body : "";
    if (memchr(body, '\0', req->body_len) != NULL) {
        serve_respond_error(req, 400, "invalid_csv", NULL,
                            "the CSV body contains a NUL byte; send text in UTF-8");
        return NULL;
    }
    /* Spreadsheet programs start a UTF-8 CSV with a byte order mark. */
    if (strncmp(body, "\xEF\xBB\xBF", 3) == 0)
        body += 3;

    json_t *items = json_array();
    size_t cap = 64, n_items = 0;
    size_t *lines = cdnopt_malloc(cap * sizeof *lines);
    if (items == NULL || lines == NULL) {
        json_decref(items);
        cdnopt_free(lines);
        serve_respond_error(req, 503, "out_of_memory", NULL, "out of memory");
        return NULL;
    }

    int column_of[N_COLUMNS];
    size_t n_header = 0;
    bool have_header = false, ok = true;
    char *line = body;
    for (size_t number = 1; ok && line != NULL && *line != '\0'; number++) {
        char *end = strchr(line, '\n');
        if (end != NULL)
            *end = '\0';
        char *fields[MAX_FIELDS];
        size_t n_fields = 0;
        const char *cr = strchr(line, '\r');
        if (cr != NULL && cr[1] != '\0') {
            serve_respond_error(req, 400, "invalid_csv", NULL, SERVE_BARE_CR_MESSAGE, number);
            ok = false;
            break;
        }
        bool blank = strspn(line, " \t\r,") == strlen(line);
        if (!blank) {
            ok = split_line(req, line, number, have_header ? column_of[COLUMN_ID] : -1, fields,
                            &n_fields);
            if (ok && !have_header) {
                ok = read_header(req, fields, n_fields, column_of);
                n_header = n_fields;
                have_header = true;
            } else if (ok && n_fields > n_header) {
                serve_respond_error(req, 400, "invalid_csv", NULL,
                                    "CSV line %zu: %zu fields but the header names %zu "
                                    "columns; remove the extra fields or name them in the header",
                                    number, n_fields, n_header);
                ok = false;
            } else if (ok) {
                ok = check_required(req, n_fields, column_of, number);
                json_t *obj = ok ? line_object(req, fields, n_fields, column_of, number) : NULL;
                ok = obj != NULL;
                if (ok && json_array_append_new(items, obj) != 0) {
                    serve_respond_error(req, 503, "out_of_memory", NULL, "out of memory");
                    ok = false;
                }
                if (ok && n_items == cap) {
                    size_t *grown = cdnopt_realloc(lines, 2 * cap * sizeof *lines);
                    ok = grown != NULL;
                    if (ok) {
                        lines = grown;
                        cap *= 2;
                    } else {
                        serve_respond_error(req, 503, "out_of_memory", NULL, "out of memory");
                    }
                }
                if (ok)
                    lines[n_items++] = number;
            }
        }
        line = end != NULL ? end + 1 : NULL;
    }

    if (ok && n_items == 0) {
        serve_respond_error(req, 400, "invalid_csv", NULL,
                            "the CSV body has no release lines; send the header "
                            "\"id,size_mb,users,planned_at\" and one line per release");
        ok = false;
    }
    if (!ok) {
        json_decref(items);
        cdnopt_free(lines);
        return NULL;
    }
    *lines_out = lines;
    return items;
}
