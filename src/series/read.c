/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The long-format CSV reader: one timestamp column and one value column.
 *
 * Reading runs in passes over an in-memory copy of the file. The first line gives
 * the columns, and every row is parsed into raw arrays. Then zoned timestamps are
 * converted, missing values dropped, order checked and duplicates merged. Last,
 * the grid step is detected, and the grid is checked and its gaps filled while
 * the series is built. A pass that fails names the file, the line and the value.
 */
#include "series-impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A gap fill may not grow a series past this many samples (about 950 years of
 * 5-minute data), so that a mistyped year fails instead of exhausting memory. */
#define MAX_SAMPLES 100000000

/* Rows as parsed, before order checks and repairs; all arrays have n entries. */
typedef struct raw_rows {
    int64_t *t;             /* civil seconds, or Unix seconds where is_utc is set */
    double *v;              /* value as written in the file */
    long *line;             /* 1-based file line of the row */
    unsigned char *is_utc;  /* 1 when t still contains Unix seconds */
    unsigned char *missing; /* 1 when the value was missing and drop_missing is set */
    size_t n;               /* rows */
    size_t cap;             /* allocated entries of each array */
} raw_rows;

typedef struct reader {
    const char *path;
    const cdnopt_series_read_params *params;
    char *err;
    char delimiter;
    size_t time_col;        /* 0-based */
    size_t value_col;       /* 0-based */
    const char *value_name; /* header text of the value column, in the file buffer */
    char value_label[CDNOPT_QUOTE_SIZE]; /* value_name quoted for messages, or "value" */
    size_t n_columns;       /* fields of the first line, the header or the first row */
    raw_rows rows;
    cdnopt__fields fields;
    cdnopt_series_read_report report;
} reader;

cdnopt_series_read_params cdnopt_series_read_params_default(void)
{
    cdnopt_series_read_params p = {0};
    p.time_index = 1;
    p.value_index = 0;
    p.unit = CDNOPT_UNIT_GBPS;
    p.fill_gaps = CDNOPT_FILL_NONE;
    p.duplicates = CDNOPT_DUPLICATES_ERROR;
    p.min_rows = 2;
    return p;
}

static void raw_rows_fini(raw_rows *rows)
{
    cdnopt_free(rows->t);
    cdnopt_free(rows->v);
    cdnopt_free(rows->line);
    cdnopt_free(rows->is_utc);
    cdnopt_free(rows->missing);
    memset(rows, 0, sizeof *rows);
}

static int raw_rows_push(raw_rows *rows, int64_t t, bool is_utc, double v, bool missing, long line)
{
    if (rows->n == rows->cap) {
        size_t need = rows->n + 1;
        size_t cap = rows->cap;
        /* Grow every array to the same capacity; cap is committed after the last. */
        if (cdnopt__grow((void **)&rows->t, &cap, need, sizeof *rows->t) != CDNOPT_OK)
            return CDNOPT_ENOMEM;
        size_t cap_v = rows->cap, cap_l = rows->cap, cap_u = rows->cap, cap_m = rows->cap;
        if (cdnopt__grow((void **)&rows->v, &cap_v, cap, sizeof *rows->v) != CDNOPT_OK ||
            cdnopt__grow((void **)&rows->line, &cap_l, cap, sizeof *rows->line) != CDNOPT_OK ||
            cdnopt__grow((void **)&rows->is_utc, &cap_u, cap, 1) != CDNOPT_OK ||
            cdnopt__grow((void **)&rows->missing, &cap_m, cap, 1) != CDNOPT_OK)
            return CDNOPT_ENOMEM;
        rows->cap = cap;
    }
    rows->t[rows->n] = t;
    rows->v[rows->n] = v;
    rows->line[rows->n] = line;
    rows->is_utc[rows->n] = is_utc;
    rows->missing[rows->n] = missing;
    rows->n++;
    return CDNOPT_OK;
}

/* ---- Params and columns ----------------------------------------------------- */

static int check_params(const cdnopt_series_read_params *p, char *err)
{
    if (p->time_column == NULL && p->time_index < 1)
        return cdnopt_fail(err, CDNOPT_EINVAL, "time_index %d is invalid: columns count from 1",
                           p->time_index);
    if (p->value_column == NULL && p->value_index < 0)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "value_index %d is invalid: columns count from 1 (0 = after time)",
                           p->value_index);
    if (p->delimiter != 0 && p->delimiter != ',' && p->delimiter != ';' && p->delimiter != '\t')
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "delimiter '%c' is not supported: use ',', ';' or tab (0 detects it)",
                           p->delimiter);
    if (p->unit < CDNOPT_UNIT_GBPS || p->unit > CDNOPT_UNIT_RAW)
        return cdnopt_fail(err, CDNOPT_EINVAL, "unit %d is not a cdnopt_unit value", (int)p->unit);
    if (p->step_s < 0 || p->max_gap_s < 0)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "step_s (%lld) and max_gap_s (%lld, --max-gap) must not be negative",
                           (long long)p->step_s, (long long)p->max_gap_s);
    if (p->drop_missing && p->fill_gaps == CDNOPT_FILL_NONE)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "--drop-missing leaves gaps where rows were dropped, so add "
                           "--fill-gaps linear or --fill-gaps previous");
    if (p->max_gap_s > 0 && p->fill_gaps == CDNOPT_FILL_NONE) {
        char max_gap[32];
        cdnopt_duration_format(p->max_gap_s, max_gap, sizeof max_gap);
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "--max-gap %s limits the gaps that --fill-gaps fills, but gap "
                           "filling is off, so add --fill-gaps linear or --fill-gaps previous, "
                           "or remove --max-gap",
                           max_gap);
    }
    return cdnopt__zone_check(p->tz, err);
}

/* List the quoted header fields in buf. A field that does not fit whole ends the list
 * with "...", so that no character is cut in half. */
static void list_header(const cdnopt__fields *header, char *buf, size_t buf_size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < header->n; i++) {
        char shown[CDNOPT_QUOTE_SIZE];
        cdnopt_text_quote(shown, sizeof shown, header->v[i], strlen(header->v[i]),
                          CDNOPT_QUOTE_BYTES);
        const char *sep = i > 0 ? ", " : "";
        size_t need = strlen(sep) + strlen(shown) + 2;
        if (used + need + 5 >= buf_size) {
            snprintf(buf + used, buf_size - used, "%s...", sep);
            return;
        }
        used += (size_t)snprintf(buf + used, buf_size - used, "%s'%s'", sep, shown);
    }
}

/* Find the header field that a time or value column name selects (case-insensitive,
 * surrounding spaces ignored). A name that matches no field or two fields is an error,
 * because the reader cannot tell which column is meant. */
static int find_named_column(reader *r, const cdnopt__fields *header, long line_no,
                             const char *kind, const char *name, long *col)
{
    *col = -1;
    for (size_t i = 0; i < header->n; i++) {
        if (strcasecmp(cdnopt__trim(header->v[i]), name) != 0)
            continue;
        char first[CDNOPT_QUOTE_SIZE], second[CDNOPT_QUOTE_SIZE];
        if (*col >= 0)
            return cdnopt_fail(r->err, CDNOPT_EPARSE,
                               "%s:%ld: %s column '%s' matches two header fields, column %ld "
                               "('%s') and column %zu ('%s'); rename one of them",
                               r->path, line_no, kind, name, *col + 1,
                               cdnopt_text_quote(first, sizeof first, header->v[*col],
                                                 strlen(header->v[*col]), CDNOPT_QUOTE_BYTES),
                               i + 1,
                               cdnopt_text_quote(second, sizeof second, header->v[i],
                                                 strlen(header->v[i]), CDNOPT_QUOTE_BYTES));
        *col = (long)i;
    }
    if (*col >= 0)
        return CDNOPT_OK;

    char names[200];
    list_header(header, names, sizeof names);
    return cdnopt_fail(r->err, CDNOPT_EPARSE,
                       "%s:%ld: missing column: no %s column named '%s'; the header has %s",
                       r->path, line_no, kind, name, names);
}

static int resolve_named(reader *r, const cdnopt__fields *header, long line_no)
{
    const cdnopt_series_read_params *p = r->params;
    long time_col = (long)p->time_index - 1;
    if (p->time_column != NULL) {
        int rc = find_named_column(r, header, line_no, "time", p->time_column, &time_col);
        if (rc != CDNOPT_OK)
            return rc;
    }

    long value_col = p->value_index > 0 ? (long)p->value_index - 1 : time_col + 1;
    if (p->value_column != NULL) {
        int rc = find_named_column(r, header, line_no, "value", p->value_column, &value_col);
        if (rc != CDNOPT_OK)
            return rc;
    }

    r->time_col = (size_t)time_col;
    r->value_col = (size_t)value_col;
    return CDNOPT_OK;
}

/* The first line is a header unless its time field is a timestamp or its value
 * field is a number. Names in the params require a header. */
static bool first_line_is_header(const reader *r, const cdnopt__fields *first)
{
    if (r->params->time_column != NULL || r->params->value_column != NULL)
        return true;
    if (r->time_col >= first->n || r->value_col >= first->n)
        return false;

    int64_t t;
    bool is_utc;
    double v;
    char *time_text = cdnopt__trim(first->v[r->time_col]);
    char *value_text = cdnopt__trim(first->v[r->value_col]);
    if (cdnopt__time_parse(time_text, &t, &is_utc))
        return false;
    return cdnopt__number_parse(value_text, &v) == CDNOPT__NUMBER_INVALID;
}

static int resolve_columns(reader *r, char *first_line, long line_no, bool *is_header)
{
    int rc = cdnopt__fields_split(first_line, r->delimiter, &r->fields);
    if (rc == CDNOPT_EPARSE)
        return cdnopt_fail(r->err, rc, "%s:%ld: unterminated quote; close the quoted field",
                           r->path, line_no);
    if (rc != CDNOPT_OK)
        return cdnopt_fail(r->err, rc, "out of memory splitting %s:%ld", r->path, line_no);

    r->n_columns = r->fields.n;
    rc = resolve_named(r, &r->fields, line_no);
    if (rc != CDNOPT_OK)
        return rc;
    if (r->time_col == r->value_col)
        return cdnopt_fail(r->err, CDNOPT_EINVAL,
                           "time and value are both column %zu; name the value column with "
                           "--column",
                           r->time_col + 1);

    *is_header = first_line_is_header(r, &r->fields);
    if (*is_header) {
        size_t need = (r->time_col > r->value_col ? r->time_col : r->value_col) + 1;
        if (r->fields.n < need)
            return cdnopt_fail(r->err, CDNOPT_EPARSE,
                               "%s:%ld: missing column: the header has %zu field(s) with "
                               "delimiter %s, but column %zu is needed; check the delimiter, or "
                               "name the value column with --column",
                               r->path, line_no, r->fields.n, cdnopt__delimiter_name(r->delimiter),
                               need);
        r->value_name = cdnopt__trim(r->fields.v[r->value_col]);
        cdnopt_text_quote(r->value_label, sizeof r->value_label, r->value_name,
                          strlen(r->value_name), CDNOPT_QUOTE_BYTES);
    }
    return CDNOPT_OK;
}

/* ---- Rows ------------------------------------------------------------------- */

static const char *column_label(const reader *r)
{
    return r->value_name != NULL ? r->value_label : "value";
}

/* Copy text into out with its one comma turned into a point, and return whether that
 * reads as a number, as a decimal comma such as "620,7" does. The caller only names it in
 * the error, because "1,234" may also be a thousands separator. */
static bool decimal_comma_to_point(const char *text, char *out, size_t out_size)
{
    const char *comma = strchr(text, ',');
    if (comma == NULL || strchr(comma + 1, ',') != NULL || strlen(text) >= out_size)
        return false;
    strcpy(out, text);
    out[comma - text] = '.';
    double value = 0.0;
    return cdnopt__number_parse(out, &value) == CDNOPT__NUMBER_OK;
}

static int value_error(reader *r, long line_no, const char *time_text, const char *text,
                       enum cdnopt__number_kind kind)
{
    if (kind == CDNOPT__NUMBER_MISSING && text[0] == '\0')
        return cdnopt_fail(r->err, CDNOPT_EPARSE,
                           "%s:%ld: missing value in column %zu ('%s') at %s; supply it, or give "
                           "--drop-missing with --fill-gaps linear to fill it like a gap",
                           r->path, line_no, r->value_col + 1, column_label(r), time_text);
    char shown[CDNOPT_QUOTE_SIZE];
    cdnopt_text_quote(shown, sizeof shown, text, strlen(text), CDNOPT_QUOTE_BYTES);
    if (kind == CDNOPT__NUMBER_MISSING)
        return cdnopt_fail(r->err, CDNOPT_ENUMERIC,
                           "%s:%ld: value '%s' at %s is not a number (NaN); fix the row, or "
                           "give --drop-missing with --fill-gaps linear to fill it like a gap",
                           r->path, line_no, shown, time_text);
    if (kind == CDNOPT__NUMBER_INFINITE)
        return cdnopt_fail(r->err, CDNOPT_ENUMERIC,
                           "%s:%ld: value '%s' at %s is infinite or beyond +-1e18; fix the "
                           "row, or check the value column and its unit",
                           r->path, line_no, shown, time_text);
    char point[64];
    if (decimal_comma_to_point(text, point, sizeof point))
        return cdnopt_fail(r->err, CDNOPT_EPARSE,
                           "%s:%ld: value '%s' in column %zu ('%s') at %s has a decimal comma; "
                           "write %s with a decimal point",
                           r->path, line_no, text, r->value_col + 1, column_label(r), time_text,
                           point);
    return cdnopt_fail(r->err, CDNOPT_EPARSE,
                       "%s:%ld: non-numeric value '%s' in column %zu ('%s') at %s; fix the row, "
                       "or choose another value column with --column NAME",
                       r->path, line_no, shown, r->value_col + 1, column_label(r), time_text);
}

/*
 * Largest value a row may hold in unit: 1e18 bit/s, a thousand times the traffic of
 * the whole Internet. Per-interval units stay below it for any step of 8 s or more,
 * and raw values have no unit, so those keep the parser's own limit.
 */
static double value_limit(enum cdnopt_unit unit)
{
    if (unit == CDNOPT_UNIT_GBPS)
        return 1e9;
    if (unit == CDNOPT_UNIT_MBPS)
        return 1e12;
    return CDNOPT__VALUE_MAX;
}

/*
 * Reject a row with more non-empty fields than the first line. A value written with a
 * decimal comma in a comma-separated file ("5,7") splits in two, and reading only the
 * first part would change the value without a word. Empty fields after the last
 * column, from a trailing delimiter, are allowed.
 */
static int check_extra_fields(reader *r, long line_no)
{
    for (size_t i = r->n_columns; i < r->fields.n; i++) {
        const char *extra = cdnopt__trim(r->fields.v[i]);
        if (extra[0] == '\0')
            continue;
        char shown[CDNOPT_QUOTE_SIZE];
        cdnopt_text_quote(shown, sizeof shown, extra, strlen(extra), CDNOPT_QUOTE_BYTES);
        return cdnopt_fail(r->err, CDNOPT_EPARSE,
                           "%s:%ld: the row has %zu fields with delimiter %s but the %s has %zu "
                           "(extra field '%s'); a decimal comma splits a value in two, so "
                           "write 5.7 for 5,7, or remove the extra fields",
                           r->path, line_no, r->fields.n, cdnopt__delimiter_name(r->delimiter),
                           r->report.has_header ? "header" : "first row", r->n_columns, shown);
    }
    return CDNOPT_OK;
}

static int parse_row(reader *r, char *line, long line_no)
{
    int rc = cdnopt__fields_split(line, r->delimiter, &r->fields);
    if (rc == CDNOPT_EPARSE)
        return cdnopt_fail(r->err, rc, "%s:%ld: unterminated quote; close the quoted field",
                           r->path, line_no);
    if (rc != CDNOPT_OK)
        return cdnopt_fail(r->err, rc, "out of memory splitting %s:%ld", r->path, line_no);

    size_t need = (r->time_col > r->value_col ? r->time_col : r->value_col) + 1;
    if (r->fields.n < need)
        return cdnopt_fail(r->err, CDNOPT_EPARSE,
                           "%s:%ld: missing column: the row has %zu field(s) with delimiter %s, "
                           "but the %s column is column %zu; fix the row, or name the value "
                           "column with --column",
                           r->path, line_no, r->fields.n, cdnopt__delimiter_name(r->delimiter),
                           r->value_col + 1 == need ? "value" : "time", need);
    rc = check_extra_fields(r, line_no);
    if (rc != CDNOPT_OK)
        return rc;

    char *time_text = cdnopt__trim(r->fields.v[r->time_col]);
    int64_t t = 0;
    bool is_utc = false;
    if (!cdnopt__time_parse(time_text, &t, &is_utc)) {
        char shown[CDNOPT_QUOTE_SIZE];
        cdnopt_text_quote(shown, sizeof shown, time_text, strlen(time_text), CDNOPT_QUOTE_BYTES);
        return cdnopt_fail(r->err, CDNOPT_EPARSE,
                           "%s:%ld: invalid timestamp '%s' in column %zu; expected local "
                           "YYYY-MM-DD HH:MM[:SS], ISO 8601 with Z or an offset such as +08:00, "
                           "or 10-digit Unix seconds",
                           r->path, line_no, shown, r->time_col + 1);
    }

    char *value_text = cdnopt__trim(r->fields.v[r->value_col]);
    double v = 0.0;
    enum cdnopt__number_kind kind = cdnopt__number_parse(value_text, &v);
    bool missing = kind == CDNOPT__NUMBER_MISSING && r->params->drop_missing;
    if (kind != CDNOPT__NUMBER_OK && !missing)
        return value_error(r, line_no, time_text, value_text, kind);
    if (!missing && v < 0.0)
        return cdnopt_fail(r->err, CDNOPT_ENUMERIC,
                           "%s:%ld: negative value '%s' at %s; traffic cannot be negative, so "
                           "fix or remove the row",
                           r->path, line_no, value_text, time_text);
    double limit = value_limit(r->params->unit);
    if (!missing && v > limit)
        return cdnopt_fail(r->err, CDNOPT_ENUMERIC,
                           "%s:%ld: value '%s' at %s is beyond %g %s, 1e18 bit/s; check the "
                           "value column and --unit",
                           r->path, line_no, value_text, time_text, limit,
                           cdnopt_unit_name(r->params->unit));

    if (raw_rows_push(&r->rows, t, is_utc, v, missing, line_no) != CDNOPT_OK)
        return cdnopt_fail(r->err, CDNOPT_ENOMEM, "out of memory at %s:%ld", r->path, line_no);
    return CDNOPT_OK;
}

/* Parse every line: the header (if any), then data rows. Blank lines are skipped. */
static int parse_file(reader *r, char *text)
{
    cdnopt__line_cursor cursor;
    cdnopt__line_cursor_init(&cursor, text);
    char *line = NULL;
    while ((line = cdnopt__line_next(&cursor)) != NULL && cdnopt__line_is_blank(line, ','))
        ;
    if (line == NULL)
        return cdnopt_fail(r->err, CDNOPT_EPARSE,
                           "%s: empty file: expected rows of timestamp and value, optionally "
                           "after a header",
                           r->path);

    r->delimiter = r->params->delimiter;
    if (r->delimiter == 0)
        r->delimiter = cdnopt__delimiter_detect(line);
    r->report.delimiter = r->delimiter;

    /* Columns are resolved on a copy, because splitting cuts the line apart. */
    size_t len = strlen(line);
    char *copy = cdnopt_malloc(len + 1);
    if (copy == NULL)
        return cdnopt_fail(r->err, CDNOPT_ENOMEM, "out of memory reading %s", r->path);
    memcpy(copy, line, len + 1);
    bool is_header = false;
    int rc = resolve_columns(r, line, cursor.line_no, &is_header);
    r->report.has_header = is_header;
    if (rc == CDNOPT_OK && !is_header)
        rc = parse_row(r, copy, cursor.line_no);
    cdnopt_free(copy);

    while (rc == CDNOPT_OK && (line = cdnopt__line_next(&cursor)) != NULL) {
        if (!cdnopt__line_is_blank(line, r->delimiter))
            rc = parse_row(r, line, cursor.line_no);
    }
    r->report.n_rows = r->rows.n;
    return rc;
}

/* ---- Order, duplicates and missing values ------------------------------------ */

/* Remove the rows flagged missing, recording how many and the first line. */
static void drop_missing_rows(reader *r)
{
    raw_rows *rows = &r->rows;
    size_t k = 0;
    for (size_t i = 0; i < rows->n; i++) {
        if (rows->missing[i]) {
            if (r->report.n_missing_dropped++ == 0)
                r->report.first_missing_line = rows->line[i];
            continue;
        }
        rows->t[k] = rows->t[i];
        rows->v[k] = rows->v[i];
        rows->line[k] = rows->line[i];
        k++;
    }
    rows->n = k;
}

static int duplicate_error(const reader *r, size_t previous, size_t i)
{
    char when[CDNOPT_CIVIL_TEXT_MAX];
    cdnopt_civil_format(r->rows.t[i], when, sizeof when);
    return cdnopt_fail(r->err, CDNOPT_EPARSE,
                       "%s:%ld: duplicate timestamp %s (first at line %ld); remove one of the "
                       "rows, or merge them with --duplicates keep-last or --duplicates mean",
                       r->path, r->rows.line[i], when, r->rows.line[previous]);
}

static int unsorted_error(const reader *r, size_t previous, size_t i)
{
    char when[CDNOPT_CIVIL_TEXT_MAX], before[CDNOPT_CIVIL_TEXT_MAX];
    cdnopt_civil_format(r->rows.t[i], when, sizeof when);
    cdnopt_civil_format(r->rows.t[previous], before, sizeof before);
    /* A step back of half an hour to an hour is most often the hour that a
     * daylight-saving change repeats in local times, which sorting cannot fix. */
    int64_t back_s = r->rows.t[previous] - r->rows.t[i];
    if (back_s >= 1800 && back_s <= 3600)
        return cdnopt_fail(r->err, CDNOPT_EPARSE,
                           "%s:%ld: timestamp %s is earlier than %s at line %ld. If the times "
                           "are local, the clock may repeat an hour at a daylight-saving "
                           "change: write them with a UTC offset (+01:00) or in UTC (Z). "
                           "Otherwise sort the file by its time column",
                           r->path, r->rows.line[i], when, before, r->rows.line[previous]);
    return cdnopt_fail(r->err, CDNOPT_EPARSE,
                       "%s:%ld: timestamp %s is earlier than %s at line %ld: the rows are not "
                       "sorted by time; sort the file by its time column",
                       r->path, r->rows.line[i], when, before, r->rows.line[previous]);
}

/* Check that times increase, merging runs of equal times as params.duplicates requests. */
static int merge_duplicates(reader *r)
{
    raw_rows *rows = &r->rows;
    size_t k = 0;     // rows kept so far
    size_t run = 1;   // rows merged into row k - 1
    for (size_t i = 0; i < rows->n; i++) {
        if (k > 0 && rows->t[i] < rows->t[k - 1])
            return unsorted_error(r, k - 1, i);

        if (k > 0 && rows->t[i] == rows->t[k - 1]) {
            if (r->params->duplicates == CDNOPT_DUPLICATES_ERROR)
                return duplicate_error(r, k - 1, i);
            if (r->report.n_duplicates++ == 0)
                r->report.first_duplicate_line = rows->line[i];
            run++;
            if (r->params->duplicates == CDNOPT_DUPLICATES_KEEP_LAST)
                rows->v[k - 1] = rows->v[i];
            else
                rows->v[k - 1] += (rows->v[i] - rows->v[k - 1]) / (double)run; // running mean
            continue;
        }

        rows->t[k] = rows->t[i];
        rows->v[k] = rows->v[i];
        rows->line[k] = rows->line[i];
        k++;
        run = 1;
    }
    rows->n = k;
    return CDNOPT_OK;
}

/* ---- Grid ------------------------------------------------------------------- */

static int compare_int64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The most common difference between consecutive times; on a tie the smaller. */
static int detect_step(reader *r, int64_t *step_s)
{
    const raw_rows *rows = &r->rows;
    size_t n_diffs = rows->n - 1;
    int64_t *diffs = cdnopt_malloc(n_diffs * sizeof *diffs);
    if (diffs == NULL)
        return cdnopt_fail(r->err, CDNOPT_ENOMEM, "out of memory detecting the step of %s",
                           r->path);
    for (size_t i = 0; i < n_diffs; i++)
        diffs[i] = rows->t[i + 1] - rows->t[i];
    qsort(diffs, n_diffs, sizeof *diffs, compare_int64);

    int64_t best = diffs[0];
    size_t best_count = 0;
    for (size_t i = 0; i < n_diffs;) {
        size_t j = i;
        while (j < n_diffs && diffs[j] == diffs[i])
            j++;
        if (j - i > best_count) {
            best = diffs[i];
            best_count = j - i;
        }
        i = j;
    }
    cdnopt_free(diffs);
    *step_s = best;
    return CDNOPT_OK;
}

static int grid_error(const reader *r, size_t i, int64_t step_s, bool is_gap)
{
    const raw_rows *rows = &r->rows;
    char when[CDNOPT_CIVIL_TEXT_MAX], before[CDNOPT_CIVIL_TEXT_MAX];
    cdnopt_civil_format(rows->t[i], when, sizeof when);
    cdnopt_civil_format(rows->t[i - 1], before, sizeof before);
    int64_t diff = rows->t[i] - rows->t[i - 1];

    if (!is_gap)
        return cdnopt_fail(r->err, CDNOPT_EPARSE,
                           "%s:%ld: irregular step: timestamp %s is %lld s after %s (line %ld), "
                           "off the %lld s grid (the most common step between rows); fix the "
                           "timestamp",
                           r->path, rows->line[i], when, (long long)diff, before,
                           rows->line[i - 1], (long long)step_s);

    /* A gap's size is the missing time, missing samples times the step, which is
     * also what max_gap_s limits, so both messages give the same figure. */
    long long n_missing = (long long)(diff / step_s - 1);
    long long missing_s = (long long)(diff - step_s);
    const char *plural = n_missing == 1 ? "" : "s";
    if (r->params->fill_gaps == CDNOPT_FILL_NONE)
        return cdnopt_fail(r->err, CDNOPT_EPARSE,
                           "%s:%ld: gap of %lld s (%lld missing sample%s of %lld s) between %s "
                           "(line %ld) and %s; supply the rows, or fill the gap with "
                           "--fill-gaps linear or --fill-gaps previous",
                           r->path, rows->line[i], missing_s, n_missing, plural,
                           (long long)step_s, before, rows->line[i - 1], when);

    char max_gap[32];
    cdnopt_duration_format(r->params->max_gap_s, max_gap, sizeof max_gap);
    return cdnopt_fail(r->err, CDNOPT_EPARSE,
                       "%s:%ld: gap of %lld s (%lld missing sample%s of %lld s) between %s "
                       "(line %ld) and %s is longer than --max-gap %s (%lld s); supply the rows "
                       "or raise --max-gap",
                       r->path, rows->line[i], missing_s, n_missing, plural, (long long)step_s,
                       before, rows->line[i - 1], when, max_gap,
                       (long long)r->params->max_gap_s);
}

/* Check every step against the grid and count the samples after gap filling. */
static int check_grid(reader *r, int64_t step_s, size_t *n_out)
{
    const raw_rows *rows = &r->rows;
    size_t n = 1;
    for (size_t i = 1; i < rows->n; i++) {
        int64_t diff = rows->t[i] - rows->t[i - 1];
        if (diff % step_s != 0)
            return grid_error(r, i, step_s, false);
        if (diff > step_s) {
            bool too_long = r->params->max_gap_s > 0 && diff - step_s > r->params->max_gap_s;
            if (r->params->fill_gaps == CDNOPT_FILL_NONE || too_long)
                return grid_error(r, i, step_s, true);
            if (r->report.n_gaps_filled++ == 0)
                r->report.first_gap_line = rows->line[i];
            r->report.n_samples_filled += (size_t)(diff / step_s - 1);
        }
        n += (size_t)(diff / step_s);
        if (n > MAX_SAMPLES)
            return cdnopt_fail(r->err, CDNOPT_EPARSE,
                               "%s:%ld: filling the gaps up to this line would need more than %d "
                               "samples; check the timestamps for a wrong year or date",
                               r->path, rows->line[i], MAX_SAMPLES);
    }
    *n_out = n;
    return CDNOPT_OK;
}

/* Copy the rows onto the grid of s, filling gaps as params.fill_gaps requests. */
static void fill_series(const reader *r, cdnopt_series *s)
{
    const raw_rows *rows = &r->rows;
    size_t k = 0;
    s->v[k++] = rows->v[0];
    for (size_t i = 1; i < rows->n; i++) {
        size_t steps = (size_t)((rows->t[i] - rows->t[i - 1]) / s->step_s);
        double v0 = rows->v[i - 1], v1 = rows->v[i];
        for (size_t j = 1; j < steps; j++) {
            double share = (double)j / (double)steps;
            s->v[k++] = r->params->fill_gaps == CDNOPT_FILL_LINEAR ? v0 + (v1 - v0) * share : v0;
        }
        s->v[k++] = v1;
    }
}

/* Scale values to Gbit/s; per-interval volumes divide by the step in seconds. */
static void convert_units(cdnopt_series *s, enum cdnopt_unit unit)
{
    double scale = 1.0;
    switch (unit) {
    case CDNOPT_UNIT_GBPS:
    case CDNOPT_UNIT_RAW:
        return;
    case CDNOPT_UNIT_MBPS:
        scale = 1e-3;
        break;
    case CDNOPT_UNIT_BPS:
        scale = 1e-9;
        break;
    case CDNOPT_UNIT_BITS_PER_INTERVAL:
        scale = 1e-9 / (double)s->step_s;
        break;
    case CDNOPT_UNIT_BYTES_PER_INTERVAL:
        scale = 8e-9 / (double)s->step_s;
        break;
    }
    for (size_t i = 0; i < s->n; i++)
        s->v[i] *= scale;
}

static int build_series(reader *r, cdnopt_series **out)
{
    const cdnopt_series_read_params *p = r->params;
    size_t min_rows = p->min_rows > 0 ? p->min_rows : 1;
    if (r->report.n_rows == 0)
        return cdnopt_fail(r->err, CDNOPT_EPARSE,
                           "%s: too few rows: the file has a header but no data rows; add rows "
                           "of timestamp and value",
                           r->path);
    if (r->rows.n < min_rows || (r->rows.n < 2 && p->step_s == 0))
        return cdnopt_fail(r->err, CDNOPT_EPARSE,
                           "%s: too few rows: %zu distinct timestamp(s) with values, at least %zu "
                           "needed%s",
                           r->path, r->rows.n, min_rows < 2 && p->step_s == 0 ? 2 : min_rows,
                           r->rows.n < 2 ? " (two rows give the grid step)" : "");

    int64_t step_s = p->step_s;
    int rc = step_s > 0 ? CDNOPT_OK : detect_step(r, &step_s);
    size_t n_out = 0;
    if (rc == CDNOPT_OK)
        rc = check_grid(r, step_s, &n_out);
    if (rc != CDNOPT_OK)
        return rc;

    cdnopt_series *s = NULL;
    rc = cdnopt_series_new(n_out, r->rows.t[0], step_s, &s);
    if (rc == CDNOPT_OK)
        rc = cdnopt_series_set_name(s, r->value_name);
    if (rc != CDNOPT_OK) {
        cdnopt_series_free(s);
        return cdnopt_fail(r->err, rc, "out of memory for %zu samples of %s", n_out, r->path);
    }
    fill_series(r, s);
    convert_units(s, p->unit);
    r->report.step_s = step_s;
    *out = s;
    return CDNOPT_OK;
}

int cdnopt_series_read_csv(const char *path, const cdnopt_series_read_params *params,
                           cdnopt_series **out, cdnopt_series_read_report *report, char *err)
{
    *out = NULL;
    cdnopt_series_read_params defaults = cdnopt_series_read_params_default();
    reader r = {.path = path, .params = params != NULL ? params : &defaults, .err = err};
    int rc = check_params(r.params, err);
    if (rc != CDNOPT_OK)
        return rc;

    char *text = NULL;
    size_t size = 0;
    rc = cdnopt__file_read_all(path, &text, &size, err);
    if (rc == CDNOPT_OK)
        rc = parse_file(&r, text);
    if (rc == CDNOPT_OK)
        rc = cdnopt__utc_to_civil(r.params->tz, r.rows.t, r.rows.is_utc, r.rows.n, path,
                                  r.rows.line, err);
    if (rc == CDNOPT_OK) {
        drop_missing_rows(&r);
        rc = merge_duplicates(&r);
    }
    if (rc == CDNOPT_OK)
        rc = build_series(&r, out);

    /* The series name was copied out of the file buffer, so both can go now. */
    if (rc == CDNOPT_OK && report != NULL)
        *report = r.report;
    cdnopt__fields_fini(&r.fields);
    raw_rows_fini(&r.rows);
    cdnopt_free(text);
    return rc;
}

void cdnopt_series_read_report_format(const cdnopt_series_read_report *report, char *buf,
                                      size_t buf_size)
{
    int w = snprintf(buf, buf_size, "rows=%zu step_s=%lld header=%s delimiter=%s", report->n_rows,
                     (long long)report->step_s, report->has_header ? "yes" : "no",
                     cdnopt__delimiter_name(report->delimiter));
    size_t used = w > 0 ? (size_t)w : 0;
    if (report->n_gaps_filled > 0 && used < buf_size)
        used += (size_t)snprintf(buf + used, buf_size - used,
                                 " gaps_filled=%zu samples_filled=%zu first_gap_line=%ld",
                                 report->n_gaps_filled, report->n_samples_filled,
                                 report->first_gap_line);
    if (report->n_duplicates > 0 && used < buf_size)
        used += (size_t)snprintf(buf + used, buf_size - used,
                                 " duplicates_merged=%zu first_duplicate_line=%ld",
                                 report->n_duplicates, report->first_duplicate_line);
    if (report->n_missing_dropped > 0 && used < buf_size)
        snprintf(buf + used, buf_size - used, " missing_dropped=%zu first_missing_line=%ld",
                 report->n_missing_dropped, report->first_missing_line);
}
