/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reading and writing the M4 competition's wide CSV files: a header line, then one
 * series per line as an id followed by its values, right-padded with empty fields up
 * to the header's width. Fields may be quoted ("H1","605") or bare.
 */
#include "cdnopt/core.h"
#include "cdnopt/m4.h"
#include "cdnopt/series.h"

#include "stats-impl.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------------- */
/* Set allocation                                                            */
/* ------------------------------------------------------------------------- */

cdnopt_m4_set *cdnopt__m4_set_new(size_t capacity, const char *path)
{
    cdnopt_m4_set *set = cdnopt_calloc(1, sizeof *set);
    if (set == NULL)
        return NULL;
    size_t n = capacity > 0 ? capacity : 1;
    set->ids = cdnopt_calloc(n, sizeof *set->ids);
    set->values = cdnopt_calloc(n, sizeof *set->values);
    set->length = cdnopt_calloc(n, sizeof *set->length);
    set->line = cdnopt_calloc(n, sizeof *set->line);
    set->path = path != NULL ? cdnopt_strdup(path) : NULL;
    if (set->ids == NULL || set->values == NULL || set->length == NULL || set->line == NULL ||
        (path != NULL && set->path == NULL)) {
        cdnopt_m4_set_free(set);
        return NULL;
    }
    return set;
}

void cdnopt_m4_set_free(cdnopt_m4_set *set)
{
    if (set == NULL)
        return;
    for (size_t i = 0; i < set->n_series; i++) {
        cdnopt_free(set->ids[i]);
        cdnopt_free(set->values[i]);
    }
    cdnopt_free(set->ids);
    cdnopt_free(set->values);
    cdnopt_free(set->length);
    cdnopt_free(set->line);
    cdnopt_free(set->path);
    cdnopt_free(set);
}

/* Append a series with a copy of id and n values; the set has room for it. */
int cdnopt__m4_set_append(cdnopt_m4_set *set, const char *id, const double *values, size_t n,
                          size_t line)
{
    size_t i = set->n_series;
    set->ids[i] = cdnopt_strdup(id);
    set->values[i] = cdnopt_malloc((n > 0 ? n : 1) * sizeof(double));
    if (set->ids[i] == NULL || set->values[i] == NULL) {
        cdnopt_free(set->ids[i]);
        cdnopt_free(set->values[i]);
        set->ids[i] = NULL;
        set->values[i] = NULL;
        return CDNOPT_ENOMEM;
    }
    if (n > 0)
        memcpy(set->values[i], values, n * sizeof(double));
    set->length[i] = n;
    set->line[i] = line;
    set->n_series++;
    return CDNOPT_OK;
}

/* ------------------------------------------------------------------------- */
/* Reader                                                                    */
/* ------------------------------------------------------------------------- */

static int read_file(const char *path, char **text, size_t *size, char *err)
{
    FILE *file = fopen(path, "rb");
    if (file == NULL)
        return cdnopt_fail(err, CDNOPT_EIO, "%s: cannot open: %s", path, strerror(errno));

    size_t capacity = 1 << 16, used = 0;
    char *buffer = cdnopt_malloc(capacity + 1);
    int rc = buffer != NULL ? CDNOPT_OK : CDNOPT_ENOMEM;
    while (rc == CDNOPT_OK) {
        used += fread(buffer + used, 1, capacity - used, file);
        if (used < capacity)
            break;
        char *grown = cdnopt_realloc(buffer, 2 * capacity + 1);
        if (grown == NULL)
            rc = CDNOPT_ENOMEM;
        else
            buffer = grown, capacity *= 2;
    }
    if (rc == CDNOPT_OK && ferror(file))
        rc = cdnopt_fail(err, CDNOPT_EIO, "%s: read failed: %s", path, strerror(errno));
    else if (rc == CDNOPT_ENOMEM)
        cdnopt_fail(err, rc, "%s: out of memory after %zu bytes", path, used);
    fclose(file);
    if (rc != CDNOPT_OK) {
        cdnopt_free(buffer);
        return rc;
    }
    buffer[used] = '\0';

    /* A NUL byte would end the text there and silently drop the rows after it. */
    const char *nul = memchr(buffer, '\0', used);
    if (nul != NULL) {
        long line = 1;
        for (const char *p = buffer; p < nul; p++)
            line += *p == '\n';
        cdnopt_free(buffer);
        return cdnopt_fail(err, CDNOPT_EPARSE,
                           "%s:%ld: contains a NUL byte at byte offset %zu, so the file is "
                           "binary or corrupt; regenerate it or remove the NUL bytes",
                           path, line, (size_t)(nul - buffer));
    }
    *text = buffer;
    *size = used;
    return CDNOPT_OK;
}

/* Split line (modified in place) at commas into at most max fields, unquoting each. */
static size_t split_fields(char *line, char **fields, size_t max)
{
    size_t n = 0;
    char *field = line;
    for (;;) {
        char *comma = strchr(field, ',');
        if (comma != NULL)
            *comma = '\0';
        if (n < max) {
            size_t length = strlen(field);
            if (length >= 2 && field[0] == '"' && field[length - 1] == '"') {
                field[length - 1] = '\0';
                field++;
            }
            fields[n] = field;
        }
        n++;
        if (comma == NULL)
            return n;
        field = comma + 1;
    }
}

static size_t count_fields(const char *line)
{
    size_t n = 1;
    for (; *line != '\0'; line++)
        n += *line == ',';
    return n;
}

/*
 * Read a decimal number with optional spaces around it, as some writers pad fields.
 * strtod would also read a hexadecimal number, which no file of measurements holds.
 */
static bool parse_value(const char *text, double *value)
{
    if (strpbrk(text, "xX") != NULL)
        return false;
    char *end = NULL;
    errno = 0;
    *value = strtod(text, &end);
    /* An underflow such as 1e-400 reads as 0, as the CSV reader takes it. */
    bool overflow = errno == ERANGE && fabs(*value) > 1.0;
    if (end == text || overflow || !isfinite(*value))
        return false;
    while (isspace((unsigned char)*end))
        end++;
    return *end == '\0';
}

/* Largest value a series may hold; see parse_row. */
#define M4_VALUE_MAX 1e18

/* Format the error for field number field of series id. problem follows the quoted text
 * and gives the reason. */
static int field_error(char *err, int code, const char *path, size_t line, const char *id,
                       size_t field, const char *text, const char *problem)
{
    char id_shown[CDNOPT_QUOTE_SIZE], shown[CDNOPT_QUOTE_SIZE];
    return cdnopt_fail(
        err, code, "%s:%zu: series %s: field %zu is '%s'%s", path, line,
        cdnopt_text_quote(id_shown, sizeof id_shown, id, strlen(id), CDNOPT_QUOTE_BYTES), field,
        cdnopt_text_quote(shown, sizeof shown, text, strlen(text), CDNOPT_QUOTE_BYTES), problem);
}

/* Parse the value fields of one row into values; returns the count before the padding.
 * forecasts admits negative values, which a forecast or an interval bound may take. */
static int parse_row(const char *path, size_t line, char **fields, size_t n_fields,
                     bool forecasts, double *values, size_t *n_values, char *err)
{
    const char *id = fields[0];
    size_t n = 0;
    for (size_t f = 1; f < n_fields; f++) {
        const char *text = fields[f];
        if (text[0] == '\0')
            continue;
        char id_shown[CDNOPT_QUOTE_SIZE], shown[CDNOPT_QUOTE_SIZE];
        if (n + 1 != f)
            return cdnopt_fail(
                err, CDNOPT_EPARSE,
                "%s:%zu: series %s: value '%s' in field %zu follows an empty "
                "field; values must be contiguous from field 2",
                path, line,
                cdnopt_text_quote(id_shown, sizeof id_shown, id, strlen(id), CDNOPT_QUOTE_BYTES),
                cdnopt_text_quote(shown, sizeof shown, text, strlen(text), CDNOPT_QUOTE_BYTES),
                f + 1);
        double value;
        if (!parse_value(text, &value))
            return field_error(err, CDNOPT_EPARSE, path, line, id, f + 1, text,
                               ", not a finite number");
        /* The competition's series are positive, as Naive2's multiplicative
         * decomposition needs, but the lower bound of an interval around a value near
         * zero lies below it. A value near double's range would overflow the sums of
         * the scores. */
        if (forecasts && fabs(value) > M4_VALUE_MAX)
            return field_error(err, CDNOPT_ENUMERIC, path, line, id, f + 1, text,
                               "; forecasts must lie in -1e18 .. 1e18, so fix the value or "
                               "check the column");
        if (!forecasts && (value < 0.0 || value > M4_VALUE_MAX))
            return field_error(err, CDNOPT_ENUMERIC, path, line, id, f + 1, text,
                               "; M4 values must lie in 0 .. 1e18, so fix the value or check "
                               "the column");
        values[n++] = value;
    }
    *n_values = n;
    return CDNOPT_OK;
}

/* Report the first repeated id, naming the later line and the earlier one. */
static int check_duplicates(const cdnopt_m4_set *set, char *err)
{
    cdnopt_id_repeat repeat;
    if (cdnopt_ids_find_repeat((const char *const *)set->ids, set->line, set->n_series,
                               &repeat) != CDNOPT_OK)
        return cdnopt_fail(err, CDNOPT_ENOMEM, "%s: out of memory for %zu ids", set->path,
                           set->n_series);
    char shown[CDNOPT_QUOTE_SIZE];
    if (repeat.id != NULL)
        return cdnopt_fail(err, CDNOPT_EPARSE,
                           "%s:%zu: series id %s repeats the id of line %zu; ids must be unique",
                           set->path, repeat.line,
                           cdnopt_text_quote(shown, sizeof shown, repeat.id, strlen(repeat.id),
                                             CDNOPT_QUOTE_BYTES),
                           repeat.first_line);
    return CDNOPT_OK;
}

/* Parse every row after the header; the header's field count sets the row width. */
static int parse_rows(char *text, cdnopt_m4_set *set, char **fields, double *values,
                      size_t width, bool forecasts, char *err)
{
    size_t line = 1;
    char *next = strchr(text, '\n');
    while (next != NULL && next[1] != '\0') {
        char *row = next + 1;
        line++;
        next = strchr(row, '\n');
        if (next != NULL)
            *next = '\0';
        size_t length = strlen(row);
        if (length > 0 && row[length - 1] == '\r')
            row[--length] = '\0';
        if (length == 0)
            return cdnopt_fail(err, CDNOPT_EPARSE, "%s:%zu: empty line; remove it", set->path,
                               line);

        size_t n_fields = count_fields(row);
        if (n_fields != width)
            return cdnopt_fail(err, CDNOPT_EPARSE,
                               "%s:%zu: ragged row with %zu fields where the header has %zu; "
                               "pad every row to the header's width",
                               set->path, line, n_fields, width);
        split_fields(row, fields, width);
        if (fields[0][0] == '\0')
            return cdnopt_fail(err, CDNOPT_EPARSE, "%s:%zu: the series id (field 1) is empty",
                               set->path, line);

        size_t n_values = 0;
        int rc = parse_row(set->path, line, fields, width, forecasts, values, &n_values, err);
        if (rc == CDNOPT_OK &&
            cdnopt__m4_set_append(set, fields[0], values, n_values, line) != CDNOPT_OK)
            rc = cdnopt_fail(err, CDNOPT_ENOMEM, "%s:%zu: out of memory", set->path, line);
        if (rc != CDNOPT_OK)
            return rc;
    }
    return CDNOPT_OK;
}

static size_t count_lines(const char *text)
{
    size_t n = 0;
    for (; *text != '\0'; text++)
        n += *text == '\n';
    return n + 1;
}

/* Read a wide file of observed values, or with forecasts a file that cdnopt m4 writes. */
static int read_set(const char *path, bool forecasts, cdnopt_m4_set **out, char *err)
{
    *out = NULL;
    char *text = NULL;
    size_t size = 0;
    int rc = read_file(path, &text, &size, err);
    if (rc != CDNOPT_OK)
        return rc;

    /* The header line fixes the width of every row. */
    char *header_end = strchr(text, '\n');
    if (header_end == NULL && strchr(text, '\r') != NULL) {
        cdnopt_free(text);
        return cdnopt_fail(err, CDNOPT_EPARSE,
                           "%s:1: lines end in a bare CR (classic Mac OS), so the file reads as "
                           "one line; convert the line ends to LF or CRLF, for example with "
                           "tr '\\r' '\\n'",
                           path);
    }
    if (size == 0 || header_end == NULL) {
        cdnopt_free(text);
        return cdnopt_fail(err, CDNOPT_EPARSE,
                           "%s:1: no header line followed by rows; expected \"V1\",\"V2\",...",
                           path);
    }
    *header_end = '\0';
    size_t width = count_fields(text);
    *header_end = '\n';

    cdnopt_m4_set *set = cdnopt__m4_set_new(count_lines(text), path);
    char **fields = cdnopt_malloc(width * sizeof *fields);
    double *values = cdnopt_malloc(width * sizeof *values);
    if (set == NULL || fields == NULL || values == NULL)
        rc = cdnopt_fail(err, CDNOPT_ENOMEM, "%s: out of memory for %zu fields", path, width);
    else if (width < 2)
        rc = cdnopt_fail(err, CDNOPT_EPARSE, "%s:1: the header has %zu field; expected an id "
                         "column and value columns", path, width);
    else
        rc = parse_rows(text, set, fields, values, width, forecasts, err);
    if (rc == CDNOPT_OK && set->n_series == 0)
        rc = cdnopt_fail(err, CDNOPT_EPARSE, "%s: no series after the header", path);
    if (rc == CDNOPT_OK)
        rc = check_duplicates(set, err);

    cdnopt_free(text);
    cdnopt_free(fields);
    cdnopt_free(values);
    if (rc != CDNOPT_OK) {
        cdnopt_m4_set_free(set);
        return rc;
    }
    *out = set;
    return CDNOPT_OK;
}

int cdnopt_m4_read(const char *path, cdnopt_m4_set **out, char *err)
{
    return read_set(path, false, out, err);
}

/* ------------------------------------------------------------------------- */
/* Split and write                                                           */
/* ------------------------------------------------------------------------- */

int cdnopt_m4_split(const cdnopt_m4_set *full, size_t h, cdnopt_m4_set **train,
                    cdnopt_m4_set **test, char *err)
{
    *train = NULL;
    *test = NULL;
    for (size_t i = 0; i < full->n_series; i++) {
        char shown[CDNOPT_QUOTE_SIZE];
        if (full->length[i] <= h)
            return cdnopt_fail(err, CDNOPT_EINVAL,
                               "series %s (line %zu) has %zu values; holding out %zu needs at "
                               "least %zu",
                               cdnopt_text_quote(shown, sizeof shown, full->ids[i],
                                                 strlen(full->ids[i]), CDNOPT_QUOTE_BYTES),
                               full->line[i], full->length[i], h, h + 1);
    }

    cdnopt_m4_set *a = cdnopt__m4_set_new(full->n_series, full->path);
    cdnopt_m4_set *b = cdnopt__m4_set_new(full->n_series, full->path);
    int rc = a != NULL && b != NULL ? CDNOPT_OK : CDNOPT_ENOMEM;
    for (size_t i = 0; i < full->n_series && rc == CDNOPT_OK; i++) {
        size_t n = full->length[i] - h;
        rc = cdnopt__m4_set_append(a, full->ids[i], full->values[i], n, full->line[i]);
        if (rc == CDNOPT_OK)
            rc = cdnopt__m4_set_append(b, full->ids[i], full->values[i] + n, h, full->line[i]);
    }
    if (rc != CDNOPT_OK) {
        cdnopt_m4_set_free(a);
        cdnopt_m4_set_free(b);
        return cdnopt_fail(err, rc, "out of memory splitting %zu series", full->n_series);
    }
    *train = a;
    *test = b;
    return CDNOPT_OK;
}

int cdnopt_m4_write(const char *path, const cdnopt_m4_set *set, char *err)
{
    FILE *file = fopen(path, "w");
    if (file == NULL)
        return cdnopt_fail(err, CDNOPT_EIO, "%s: cannot create: %s", path, strerror(errno));

    size_t width = 0;
    for (size_t i = 0; i < set->n_series; i++)
        width = set->length[i] > width ? set->length[i] : width;

    fprintf(file, "id");
    for (size_t k = 0; k < width; k++)
        fprintf(file, ",F%zu", k + 1);
    fputc('\n', file);
    for (size_t i = 0; i < set->n_series; i++) {
        /* Series named after files may contain a comma or a quote: quote them as CSV. */
        size_t need = cdnopt_csv_field(NULL, 0, set->ids[i]) + 1;
        char *id = cdnopt_malloc(need);
        if (id == NULL) {
            fclose(file);
            remove(path);
            return cdnopt_fail(err, CDNOPT_ENOMEM, "%s: out of memory writing id %zu", path, i);
        }
        cdnopt_csv_field(id, need, set->ids[i]);
        fputs(id, file);
        cdnopt_free(id);
        for (size_t k = 0; k < width; k++) {
            if (k < set->length[i])
                fprintf(file, ",%.17g", set->values[i][k]);
            else
                fputc(',', file);
        }
        fputc('\n', file);
    }

    bool failed = ferror(file) != 0;
    if (fclose(file) != 0 || failed)
        return cdnopt_fail(err, CDNOPT_EIO, "%s: write failed: %s", path, strerror(errno));
    return CDNOPT_OK;
}

/* ------------------------------------------------------------------------- */
/* Forecast folders                                                          */
/* ------------------------------------------------------------------------- */

void cdnopt_m4_forecasts_fini(cdnopt_m4_forecasts *fc)
{
    if (fc == NULL)
        return;
    cdnopt_m4_set_free(fc->mean);
    cdnopt_m4_set_free(fc->lower);
    cdnopt_m4_set_free(fc->upper);
    memset(fc, 0, sizeof *fc);
}

/* Read dir/name into *out and check that every series has h values. */
static int read_forecast_file(const char *dir, const char *name, size_t h, cdnopt_m4_set **out,
                              char *err)
{
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
        return cdnopt_fail(err, CDNOPT_EINVAL, "folder path '%s' is too long", dir);
    int rc = read_set(path, true, out, err);
    if (rc != CDNOPT_OK)
        return rc;

    const cdnopt_m4_set *set = *out;
    for (size_t i = 0; i < set->n_series; i++) {
        if (set->length[i] != h) {
            char shown[CDNOPT_QUOTE_SIZE];
            rc = cdnopt_fail(err, CDNOPT_ESHAPE,
                             "%s:%zu: series %s has %zu forecasts; the horizon is %zu", path,
                             set->line[i],
                             cdnopt_text_quote(shown, sizeof shown, set->ids[i],
                                               strlen(set->ids[i]), CDNOPT_QUOTE_BYTES),
                             set->length[i], h);
            cdnopt_m4_set_free(*out);
            *out = NULL;
            return rc;
        }
    }
    return CDNOPT_OK;
}

int cdnopt_m4_forecasts_read(const char *dir, size_t h, cdnopt_m4_forecasts *out, char *err)
{
    memset(out, 0, sizeof *out);
    out->horizon = h;
    int rc = read_forecast_file(dir, "forecasts.csv", h, &out->mean, err);

    /* Bounds are optional, but one without the other is a mistake worth reporting. */
    char lower_path[4096], upper_path[4096];
    snprintf(lower_path, sizeof lower_path, "%s/lower.csv", dir);
    snprintf(upper_path, sizeof upper_path, "%s/upper.csv", dir);
    bool has_lower = access(lower_path, F_OK) == 0, has_upper = access(upper_path, F_OK) == 0;
    if (rc == CDNOPT_OK && has_lower != has_upper)
        rc = cdnopt_fail(err, CDNOPT_ENOTFOUND, "%s: found %s but not %s; give both bounds or "
                         "neither", dir, has_lower ? "lower.csv" : "upper.csv",
                         has_lower ? "upper.csv" : "lower.csv");
    if (rc == CDNOPT_OK && has_lower)
        rc = read_forecast_file(dir, "lower.csv", h, &out->lower, err);
    if (rc == CDNOPT_OK && has_upper)
        rc = read_forecast_file(dir, "upper.csv", h, &out->upper, err);
    if (rc != CDNOPT_OK)
        cdnopt_m4_forecasts_fini(out);
    return rc;
}
