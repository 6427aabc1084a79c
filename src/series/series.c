/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The series object and the operations that need no parsing: construction,
 * naming, units, slicing, lookup by time, resampling and the CSV writer.
 */
#include "series-impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int cdnopt_series_new(size_t n, int64_t t0, int64_t step_s, cdnopt_series **out)
{
    *out = NULL;
    if (step_s <= 0)
        return CDNOPT_EINVAL;

    cdnopt_series *s = cdnopt_calloc(1, sizeof *s);
    if (s == NULL)
        return CDNOPT_ENOMEM;
    /* calloc(0) may return NULL, so an empty series still gets one slot. */
    s->t = cdnopt_calloc(n > 0 ? n : 1, sizeof *s->t);
    s->v = cdnopt_calloc(n > 0 ? n : 1, sizeof *s->v);
    if (s->t == NULL || s->v == NULL) {
        cdnopt_series_free(s);
        return CDNOPT_ENOMEM;
    }
    s->n = n;
    s->step_s = step_s;
    for (size_t i = 0; i < n; i++)
        s->t[i] = t0 + (int64_t)i * step_s;
    *out = s;
    return CDNOPT_OK;
}

void cdnopt_series_free(cdnopt_series *s)
{
    if (s == NULL)
        return;
    cdnopt_free(s->t);
    cdnopt_free(s->v);
    cdnopt_free(s->name);
    cdnopt_free(s);
}

int cdnopt_series_set_name(cdnopt_series *s, const char *name)
{
    char *copy = NULL;
    if (name != NULL && (copy = cdnopt_strdup(name)) == NULL)
        return CDNOPT_ENOMEM;
    cdnopt_free(s->name);
    s->name = copy;
    return CDNOPT_OK;
}

void cdnopt_series_array_free(cdnopt_series **array, size_t n)
{
    if (array == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        cdnopt_series_free(array[i]);
    cdnopt_free(array);
}

/* ---- Units ------------------------------------------------------------------ */

static const struct {
    const char *name;
    enum cdnopt_unit unit;
} unit_names[] = {
    {"gbit/s", CDNOPT_UNIT_GBPS},
    {"gbps", CDNOPT_UNIT_GBPS},
    {"mbit/s", CDNOPT_UNIT_MBPS},
    {"mbps", CDNOPT_UNIT_MBPS},
    {"bit/s", CDNOPT_UNIT_BPS},
    {"bps", CDNOPT_UNIT_BPS},
    {"bits-per-interval", CDNOPT_UNIT_BITS_PER_INTERVAL},
    {"bytes-per-interval", CDNOPT_UNIT_BYTES_PER_INTERVAL},
    {"raw", CDNOPT_UNIT_RAW},
};

int cdnopt_unit_parse(const char *text, enum cdnopt_unit *unit, char *err)
{
    for (size_t i = 0; text != NULL && i < sizeof unit_names / sizeof unit_names[0]; i++) {
        if (strcasecmp(text, unit_names[i].name) == 0) {
            *unit = unit_names[i].unit;
            return CDNOPT_OK;
        }
    }
    return cdnopt_fail(err, CDNOPT_EINVAL,
                       "unknown unit '%s': use gbit/s, mbit/s, bit/s, bits-per-interval, "
                       "bytes-per-interval or raw",
                       text != NULL ? text : "(null)");
}

const char *cdnopt_unit_name(enum cdnopt_unit unit)
{
    /* The first name listed for a unit is its canonical one. */
    for (size_t i = 0; i < sizeof unit_names / sizeof unit_names[0]; i++) {
        if (unit_names[i].unit == unit)
            return unit_names[i].name;
    }
    return "unknown";
}

/* ---- Slicing and lookup ------------------------------------------------------ */

int cdnopt_series_slice(const cdnopt_series *s, size_t first, size_t count, cdnopt_series **out,
                        char *err)
{
    *out = NULL;
    if (first > s->n || count > s->n - first)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "slice [%zu, %zu) does not fit in a series of %zu samples", first,
                           first + count, s->n);

    int64_t t0 = count > 0 ? s->t[first] : (s->n > 0 ? s->t[0] : 0);
    cdnopt_series *copy = NULL;
    int rc = cdnopt_series_new(count, t0, s->step_s, &copy);
    if (rc == CDNOPT_OK)
        rc = cdnopt_series_set_name(copy, s->name);
    if (rc != CDNOPT_OK) {
        cdnopt_series_free(copy);
        return cdnopt_fail(err, rc, "out of memory slicing %zu samples", count);
    }
    if (count > 0) {
        memcpy(copy->t, s->t + first, count * sizeof *copy->t);
        memcpy(copy->v, s->v + first, count * sizeof *copy->v);
    }
    *out = copy;
    return CDNOPT_OK;
}

long cdnopt_series_index_of(const cdnopt_series *s, int64_t t)
{
    if (s->n == 0 || t < s->t[0])
        return -1;
    int64_t offset = t - s->t[0];
    if (offset % s->step_s != 0 || (uint64_t)(offset / s->step_s) >= s->n)
        return -1;
    return (long)(offset / s->step_s);
}

/* ---- Resampling -------------------------------------------------------------- */

static int64_t round_up(int64_t t, int64_t step)
{
    int64_t r = t % step;
    if (r < 0)
        r += step;
    return r == 0 ? t : t + (step - r);
}

int cdnopt_series_resample(const cdnopt_series *s, int64_t step_s, enum cdnopt_resample_op op,
                           cdnopt_series **out, char *err)
{
    *out = NULL;
    if (step_s <= 0 || step_s % s->step_s != 0)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "cannot resample a %lld s series to %lld s: the new step must be a "
                           "positive multiple of the old one",
                           (long long)s->step_s, (long long)step_s);

    /* Complete buckets only: from the first bucket boundary at or after t[0] to the
     * last boundary whose bucket ends by the series' end. */
    size_t per_bucket = (size_t)(step_s / s->step_s);
    int64_t end = s->n > 0 ? s->t[s->n - 1] + s->step_s : 0;
    int64_t first = s->n > 0 ? round_up(s->t[0], step_s) : 0;
    size_t n_buckets = s->n > 0 && end - first >= step_s ? (size_t)((end - first) / step_s) : 0;
    if (n_buckets == 0)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "the series (%zu samples of %lld s) holds no complete %lld s bucket",
                           s->n, (long long)s->step_s, (long long)step_s);

    cdnopt_series *r = NULL;
    int rc = cdnopt_series_new(n_buckets, first, step_s, &r);
    if (rc == CDNOPT_OK)
        rc = cdnopt_series_set_name(r, s->name);
    if (rc != CDNOPT_OK) {
        cdnopt_series_free(r);
        return cdnopt_fail(err, rc, "out of memory resampling to %zu buckets", n_buckets);
    }

    size_t offset = (size_t)((first - s->t[0]) / s->step_s);
    for (size_t b = 0; b < n_buckets; b++) {
        double sum = 0.0;
        for (size_t j = 0; j < per_bucket; j++)
            sum += s->v[offset + b * per_bucket + j];
        r->v[b] = op == CDNOPT_RESAMPLE_SUM ? sum : sum / (double)per_bucket;
    }
    *out = r;
    return CDNOPT_OK;
}

/* An id and its line, sorted by id and then line. */
typedef struct id_line {
    const char *id;
    size_t line;
} id_line;

static int compare_id_lines(const void *a, const void *b)
{
    const id_line *x = a, *y = b;
    int order = strcmp(x->id, y->id);
    if (order != 0)
        return order;
    return (x->line > y->line) - (x->line < y->line);
}

int cdnopt_ids_find_repeat(const char *const *ids, const size_t *lines, size_t n,
                           cdnopt_id_repeat *out)
{
    *out = (cdnopt_id_repeat){NULL, 0, 0};
    id_line *sorted = cdnopt_malloc((n > 0 ? n : 1) * sizeof *sorted);
    if (sorted == NULL)
        return CDNOPT_ENOMEM;
    for (size_t i = 0; i < n; i++)
        sorted[i] = (id_line){ids[i], lines[i]};
    qsort(sorted, n, sizeof *sorted, compare_id_lines);

    /* Among all repeats, the one whose later line comes first in the file. */
    for (size_t i = 1; i < n; i++) {
        bool same = strcmp(sorted[i].id, sorted[i - 1].id) == 0;
        if (same && (out->id == NULL || sorted[i].line < out->line))
            *out = (cdnopt_id_repeat){sorted[i].id, sorted[i].line, sorted[i - 1].line};
    }
    cdnopt_free(sorted);
    return CDNOPT_OK;
}

/* Store c at out[*used] while room for the final NUL remains; count it either way. */
static void put_char(char *out, size_t size, size_t *used, char c)
{
    if (*used + 1 < size)
        out[*used] = c;
    (*used)++;
}

size_t cdnopt_csv_field(char *out, size_t size, const char *text)
{
    bool quote = strpbrk(text, ",\"\r\n") != NULL;
    size_t used = 0;
    if (quote)
        put_char(out, size, &used, '"');
    for (const char *p = text; *p != '\0'; p++) {
        if (quote && *p == '"')
            put_char(out, size, &used, '"');
        put_char(out, size, &used, *p);
    }
    if (quote)
        put_char(out, size, &used, '"');

    if (size > 0)
        out[used < size ? used : size - 1] = '\0';
    return used;
}

/* ---- Writing ------------------------------------------------------------------ */

int cdnopt_series_write_csv(const cdnopt_series *s, const char *path, const char *value_name,
                            char *err)
{
    const char *name = value_name;
    if (name == NULL)
        name = s->name != NULL ? s->name : "value";
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return cdnopt_fail(err, CDNOPT_EIO, "cannot create %s: %s; check that the folder exists",
                           path, strerror(errno));

    /* A name with the delimiter or a quote is quoted, with quotes doubled. */
    if (strpbrk(name, ",\"\n") != NULL) {
        fputs("timestamp,\"", f);
        for (const char *p = name; *p != '\0'; p++) {
            if (*p == '"')
                fputc('"', f);
            fputc(*p, f);
        }
        fputs("\"\n", f);
    } else {
        fprintf(f, "timestamp,%s\n", name);
    }

    char when[CDNOPT_CIVIL_TEXT_MAX];
    for (size_t i = 0; i < s->n; i++) {
        cdnopt_civil_format(s->t[i], when, sizeof when);
        fprintf(f, "%s,%.12g\n", when, s->v[i]);
    }

    bool failed = ferror(f) != 0;
    if (fclose(f) != 0)
        failed = true;
    if (failed)
        return cdnopt_fail(err, CDNOPT_EIO, "cannot write %s: %s; check free disk space", path,
                           strerror(errno));
    return CDNOPT_OK;
}
