/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The wide-format reader: one series per row, the id in the first field and the
 * values after it, as the M4 competition files store them. Rows of different
 * lengths are right-padded with empty fields, so the first empty field ends a row.
 */
#include "series-impl.h"

#include <string.h>

typedef struct wide_reader {
    const char *path;
    char *err;
    char delimiter;
    cdnopt__fields fields;
    cdnopt_series **series; /* series read so far */
    size_t n;               /* entries of series */
    size_t cap;             /* allocated entries of series */
    size_t *lines;          /* file line of each series */
    size_t lines_cap;       /* allocated entries of lines */
    int64_t step_s;
} wide_reader;

/* Number of values in the row, after checking that no value follows an empty field. */
static int count_values(wide_reader *w, long line_no, size_t *n_values)
{
    size_t n = 0;
    while (n + 1 < w->fields.n && cdnopt__trim(w->fields.v[n + 1])[0] != '\0')
        n++;
    for (size_t i = n + 1; i < w->fields.n; i++) {
        const char *text = cdnopt__trim(w->fields.v[i]);
        char shown[CDNOPT_QUOTE_SIZE];
        if (text[0] != '\0')
            return cdnopt_fail(
                w->err, CDNOPT_EPARSE,
                "%s:%ld: value '%s' in column %zu follows an empty field in "
                "column %zu; a row's values must be contiguous, padded with empty "
                "fields only at the end",
                w->path, line_no,
                cdnopt_text_quote(shown, sizeof shown, text, strlen(text), CDNOPT_QUOTE_BYTES),
                i + 1, n + 2);
    }
    if (n == 0) {
        const char *id = cdnopt__trim(w->fields.v[0]);
        char shown[CDNOPT_QUOTE_SIZE];
        cdnopt_text_quote(shown, sizeof shown, id, strlen(id), CDNOPT_QUOTE_BYTES);
        return cdnopt_fail(w->err, CDNOPT_EPARSE, "%s:%ld: series '%s' has no values", w->path,
                           line_no, shown);
    }
    *n_values = n;
    return CDNOPT_OK;
}

/* Report the value text in column col of series s, which parsed as kind. */
static int value_error(wide_reader *w, long line_no, const cdnopt_series *s, size_t col,
                       const char *text, enum cdnopt__number_kind kind)
{
    char value[CDNOPT_QUOTE_SIZE], name[CDNOPT_QUOTE_SIZE];
    cdnopt_text_quote(value, sizeof value, text, strlen(text), CDNOPT_QUOTE_BYTES);
    cdnopt_text_quote(name, sizeof name, s->name, strlen(s->name), CDNOPT_QUOTE_BYTES);
    if (kind == CDNOPT__NUMBER_INVALID)
        return cdnopt_fail(w->err, CDNOPT_EPARSE,
                           "%s:%ld: non-numeric value '%s' in column %zu of series '%s'; "
                           "fix the value",
                           w->path, line_no, value, col, name);
    if (kind != CDNOPT__NUMBER_OK)
        return cdnopt_fail(w->err, CDNOPT_ENUMERIC,
                           "%s:%ld: value '%s' in column %zu of series '%s' is missing, "
                           "infinite or beyond +-1e18; fix the value",
                           w->path, line_no, value, col, name);
    return cdnopt_fail(w->err, CDNOPT_ENUMERIC,
                       "%s:%ld: negative value '%s' in column %zu of series '%s'; "
                       "traffic cannot be negative, so fix the value",
                       w->path, line_no, value, col, name);
}

static int parse_values(wide_reader *w, long line_no, cdnopt_series *s)
{
    for (size_t i = 0; i < s->n; i++) {
        const char *text = cdnopt__trim(w->fields.v[i + 1]);
        enum cdnopt__number_kind kind = cdnopt__number_parse(text, &s->v[i]);

        /* Traffic is never negative, as the one-series reader also insists. */
        if (kind != CDNOPT__NUMBER_OK || s->v[i] < 0.0)
            return value_error(w, line_no, s, i + 2, text, kind);
    }
    return CDNOPT_OK;
}

static int read_row(wide_reader *w, char *line, long line_no)
{
    int rc = cdnopt__fields_split(line, w->delimiter, &w->fields);
    if (rc == CDNOPT_EPARSE)
        return cdnopt_fail(w->err, rc, "%s:%ld: unterminated quote; close the quoted field",
                           w->path, line_no);
    if (rc != CDNOPT_OK)
        return cdnopt_fail(w->err, rc, "out of memory splitting %s:%ld", w->path, line_no);

    size_t n_values = 0;
    rc = count_values(w, line_no, &n_values);
    if (rc != CDNOPT_OK)
        return rc;
    if (cdnopt__grow((void **)&w->series, &w->cap, w->n + 1, sizeof *w->series) != CDNOPT_OK ||
        cdnopt__grow((void **)&w->lines, &w->lines_cap, w->n + 1, sizeof *w->lines) != CDNOPT_OK)
        return cdnopt_fail(w->err, CDNOPT_ENOMEM, "out of memory at %s:%ld", w->path, line_no);

    cdnopt_series *s = NULL;
    rc = cdnopt_series_new(n_values, 0, w->step_s, &s);
    if (rc == CDNOPT_OK)
        rc = cdnopt_series_set_name(s, cdnopt__trim(w->fields.v[0]));
    if (rc != CDNOPT_OK) {
        cdnopt_series_free(s);
        return cdnopt_fail(w->err, rc, "out of memory at %s:%ld", w->path, line_no);
    }
    w->lines[w->n] = (size_t)line_no;
    w->series[w->n++] = s;
    return parse_values(w, line_no, s);
}

/* The first row is a header when its second field is not a number ("V2"). */
static bool is_header(wide_reader *w, char *line)
{
    size_t len = strlen(line);
    char *copy = cdnopt_malloc(len + 1);
    if (copy == NULL)
        return true; // the allocation failure resurfaces on the next split
    memcpy(copy, line, len + 1);
    double v;
    bool header = cdnopt__fields_split(copy, w->delimiter, &w->fields) == CDNOPT_OK &&
                  w->fields.n >= 2 &&
                  cdnopt__number_parse(cdnopt__trim(w->fields.v[1]), &v) ==
                      CDNOPT__NUMBER_INVALID;
    cdnopt_free(copy);
    return header;
}

/* Reject a repeated id, because forecasts are written one row per id and two series
 * with one id could not be distinguished. */
static int check_unique_ids(const wide_reader *w)
{
    const char **ids = cdnopt_malloc(w->n * sizeof *ids);
    cdnopt_id_repeat repeat;
    int rc = ids != NULL ? CDNOPT_OK : CDNOPT_ENOMEM;
    for (size_t i = 0; rc == CDNOPT_OK && i < w->n; i++)
        ids[i] = w->series[i]->name;
    if (rc == CDNOPT_OK)
        rc = cdnopt_ids_find_repeat(ids, w->lines, w->n, &repeat);
    cdnopt_free(ids);
    if (rc != CDNOPT_OK)
        return cdnopt_fail(w->err, rc, "out of memory checking the ids of %s", w->path);
    char shown[CDNOPT_QUOTE_SIZE];
    if (repeat.id != NULL)
        return cdnopt_fail(w->err, CDNOPT_EPARSE,
                           "%s:%zu: series id '%s' repeats the id of line %zu; give each series "
                           "its own id",
                           w->path, repeat.line,
                           cdnopt_text_quote(shown, sizeof shown, repeat.id, strlen(repeat.id),
                                             CDNOPT_QUOTE_BYTES),
                           repeat.first_line);
    return CDNOPT_OK;
}

static int read_rows(wide_reader *w, char *text)
{
    cdnopt__line_cursor cursor;
    cdnopt__line_cursor_init(&cursor, text);
    char *line = NULL;
    while ((line = cdnopt__line_next(&cursor)) != NULL && cdnopt__line_is_blank(line, ','))
        ;
    if (line == NULL)
        return cdnopt_fail(w->err, CDNOPT_EPARSE,
                           "%s: empty file: expected one series per row, id first", w->path);

    w->delimiter = cdnopt__delimiter_detect(line);
    int rc = is_header(w, line) ? CDNOPT_OK : read_row(w, line, cursor.line_no);
    while (rc == CDNOPT_OK && (line = cdnopt__line_next(&cursor)) != NULL) {
        if (!cdnopt__line_is_blank(line, w->delimiter))
            rc = read_row(w, line, cursor.line_no);
    }
    if (rc == CDNOPT_OK && w->n == 0)
        rc = cdnopt_fail(w->err, CDNOPT_EPARSE, "%s: no series rows after the header", w->path);
    if (rc == CDNOPT_OK)
        rc = check_unique_ids(w);
    return rc;
}

int cdnopt_series_read_wide_csv(const char *path, int64_t step_s, cdnopt_series ***out,
                                size_t *n_out, char *err)
{
    *out = NULL;
    *n_out = 0;
    if (step_s < 0)
        return cdnopt_fail(err, CDNOPT_EINVAL, "step_s %lld is negative", (long long)step_s);

    wide_reader w = {.path = path, .err = err, .step_s = step_s > 0 ? step_s : 3600};
    char *text = NULL;
    size_t size = 0;
    int rc = cdnopt__file_read_all(path, &text, &size, err);
    if (rc == CDNOPT_OK)
        rc = read_rows(&w, text);

    cdnopt__fields_fini(&w.fields);
    cdnopt_free(w.lines);
    cdnopt_free(text);
    if (rc != CDNOPT_OK) {
        cdnopt_series_array_free(w.series, w.n);
        return rc;
    }
    *out = w.series;
    *n_out = w.n;
    return CDNOPT_OK;
}
