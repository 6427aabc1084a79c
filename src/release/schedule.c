/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Schedules: one start and batch ratio per release. Reading a schedule file checks
 * that every release appears exactly once. Whether each entry keeps the rules is
 * checked by cdnopt_schedule_check (rules.c), so that `score` can list all violations.
 */
#include "release-impl.h"

#include "cdnopt/series.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cdnopt_schedule_new(size_t n, cdnopt_schedule **out)
{
    *out = NULL;
    cdnopt_schedule *schedule = cdnopt_calloc(1, sizeof *schedule);
    if (schedule == NULL)
        return CDNOPT_ENOMEM;
    size_t count = n > 0 ? n : 1;
    schedule->start_at = cdnopt_calloc(count, sizeof *schedule->start_at);
    schedule->batch_ratio = cdnopt_malloc(count * sizeof *schedule->batch_ratio);
    if (schedule->start_at == NULL || schedule->batch_ratio == NULL) {
        cdnopt_schedule_free(schedule);
        return CDNOPT_ENOMEM;
    }
    schedule->n = n;
    for (size_t i = 0; i < n; i++)
        schedule->batch_ratio[i] = 1.0;
    *out = schedule;
    return 0;
}

void cdnopt_schedule_free(cdnopt_schedule *schedule)
{
    if (schedule == NULL)
        return;
    cdnopt_free(schedule->start_at);
    cdnopt_free(schedule->batch_ratio);
    cdnopt_free(schedule);
}

int cdnopt_schedule_naive(const cdnopt_release_set *releases, cdnopt_schedule **out)
{
    int rc = cdnopt_schedule_new(releases->n, out);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < releases->n; i++)
        (*out)->start_at[i] = releases->items[i].planned_at;
    return 0;
}

cdnopt_grid cdnopt_grid_of(const cdnopt_series *series)
{
    cdnopt_grid grid = {series->n > 0 ? series->t[0] : 0, series->step_s, series->n};
    return grid;
}

int cdnopt_schedule_parse_entry(const cdnopt_release_set *releases, const char *id,
                                const char *start_at, const char *batch_ratio,
                                const cdnopt_grid *grid, const char *where, size_t *index,
                                int64_t *start, double *ratio, char *err)
{
    char shown[CDNOPT_QUOTE_SIZE];
    long found = cdnopt_release_set_find(releases, id);
    if (found < 0)
        return cdnopt_fail(
            err, CDNOPT_EINVAL,
            "%s: id '%s' is not in the releases file; schedule only known "
            "releases",
            where, cdnopt_text_quote(shown, sizeof shown, id, strlen(id), CDNOPT_QUOTE_BYTES));
    *index = (size_t)found;

    if (cdnopt_release_parse_time(start_at, start) != 0)
        return cdnopt_fail(
            err, CDNOPT_EPARSE,
            "%s: start_at '%s' is not a valid timestamp; write YYYY-MM-DD "
            "HH:MM:SS in local time",
            where,
            cdnopt_text_quote(shown, sizeof shown, start_at, strlen(start_at), CDNOPT_QUOTE_BYTES));
    if (grid != NULL && grid->step_s > 0 && (*start - grid->origin) % grid->step_s != 0) {
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "%s: start_at '%s' is off the baseline's %lld s grid; round it to a "
                           "grid step",
                           where, start_at, (long long)grid->step_s);
    }

    if (cdnopt_release_parse_decimal(batch_ratio, ratio) != 0)
        return cdnopt_fail(err, CDNOPT_EPARSE,
                           "%s: batch_ratio '%s' is not a number; write e.g. 0.5", where,
                           cdnopt_text_quote(shown, sizeof shown, batch_ratio, strlen(batch_ratio),
                                             CDNOPT_QUOTE_BYTES));
    if (!(*ratio > 0 && *ratio <= 1))
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "%s: batch_ratio %s is outside (0, 1]; use a share of users such as "
                           "0.1, 0.3, 0.5 or 1.0",
                           where, batch_ratio);
    return 0;
}

/* Read the rows of an open schedule file into schedule, marking seen releases by the
 * line that scheduled them. */
static int read_entries(release_csv *csv, const cdnopt_release_set *releases,
                        const cdnopt_grid *grid, cdnopt_schedule *schedule, long *line_of,
                        char *err)
{
    int id_col = release_csv_column(csv, "id"), start_col = release_csv_column(csv, "start_at");
    int ratio_col = release_csv_column(csv, "batch_ratio");
    if (id_col < 0 || start_col < 0 || ratio_col < 0)
        return cdnopt_fail(err, CDNOPT_EPARSE,
                           "%s line 1: the header must name id, start_at and batch_ratio%s",
                           csv->path, release_csv_delimiter_hint(csv));

    int rc;
    while ((rc = release_csv_next(csv, err)) == 1) {
        char where[600];
        snprintf(where, sizeof where, "%s line %ld", csv->path, csv->line_no);
        size_t index;
        int64_t start;
        double ratio;
        const int required[3] = {id_col, start_col, ratio_col};
        rc = release_csv_require(csv, required, 3, err);
        if (rc != 0)
            return rc;
        const char *id = release_csv_id(csv, id_col, err);
        if (id == NULL)
            return CDNOPT_EPARSE;
        rc = cdnopt_schedule_parse_entry(releases, id,
                                         release_csv_field(csv, start_col),
                                         release_csv_field(csv, ratio_col), grid, where, &index,
                                         &start, &ratio, err);
        if (rc != 0)
            return rc;
        if (line_of[index] != 0)
            return cdnopt_fail(err, CDNOPT_EINVAL,
                               "%s: duplicate id '%s' (first scheduled on line %ld); schedule "
                               "each release once",
                               where, releases->items[index].id, line_of[index]);
        line_of[index] = csv->line_no;
        schedule->start_at[index] = start;
        schedule->batch_ratio[index] = ratio;
    }
    return rc;
}

static int check_all_scheduled(const char *path, const cdnopt_release_set *releases,
                               const long *line_of, char *err)
{
    size_t missing = 0, first = 0;
    for (size_t i = 0; i < releases->n; i++) {
        if (line_of[i] == 0 && missing++ == 0)
            first = i;
    }
    if (missing == 0)
        return 0;
    return cdnopt_fail(err, CDNOPT_EINVAL,
                       "%s: release '%s' is missing from the schedule (%zu releases missing); "
                       "schedule every release exactly once",
                       path, releases->items[first].id, missing);
}

int cdnopt_schedule_read_csv(const char *path, const cdnopt_release_set *releases,
                             const cdnopt_grid *grid, cdnopt_schedule **out, char *err)
{
    *out = NULL;
    cdnopt_schedule *schedule = NULL;
    long *line_of = cdnopt_calloc(releases->n > 0 ? releases->n : 1, sizeof *line_of);
    if (line_of == NULL || cdnopt_schedule_new(releases->n, &schedule) != 0) {
        cdnopt_free(line_of);
        return cdnopt_fail(err, CDNOPT_ENOMEM, "%s: out of memory", path);
    }

    release_csv csv;
    int rc = release_csv_open(&csv, path, err);
    if (rc == 0) {
        rc = read_entries(&csv, releases, grid, schedule, line_of, err);
        release_csv_close(&csv);
    }
    if (rc == 0)
        rc = check_all_scheduled(path, releases, line_of, err);
    cdnopt_free(line_of);
    if (rc != 0) {
        cdnopt_schedule_free(schedule);
        return rc;
    }
    *out = schedule;
    return 0;
}

int cdnopt_schedule_write_csv(const char *path, const cdnopt_release_set *releases,
                              const cdnopt_schedule *schedule, char *err)
{
    FILE *file = fopen(path, "w");
    if (file == NULL)
        return cdnopt_fail(err, CDNOPT_EIO, "%s: cannot create: %s", path, strerror(errno));
    fprintf(file, "id,start_at,batch_ratio\n");
    for (size_t i = 0; i < releases->n && i < schedule->n; i++) {
        char start[32], id[RELEASE_ID_FIELD_MAX], ratio[32];
        cdnopt_release_format_time(schedule->start_at[i], start, sizeof start);
        cdnopt_csv_field(id, sizeof id, releases->items[i].id);
        /* 15 significant digits print 0.1 as "0.1". A ratio they do not read back exactly,
         * such as 0.55555555555555558 from a rules file, gets the 17 that any double needs. */
        double value = schedule->batch_ratio[i];
        snprintf(ratio, sizeof ratio, "%.15g", value);
        if (strtod(ratio, NULL) != value)
            snprintf(ratio, sizeof ratio, "%.17g", value);
        fprintf(file, "%s,%s,%s\n", id, start, ratio);
    }
    if (fclose(file) != 0)
        return cdnopt_fail(err, CDNOPT_EIO, "%s: write failed: %s", path, strerror(errno));
    return 0;
}
