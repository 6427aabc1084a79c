/* SPDX-License-Identifier: Apache-2.0 */
/*
 * series: regular time series of bandwidth, read from CSV and checked.
 *
 * A cdnopt_series holds n samples on a regular grid of step_s seconds. Times are
 * "civil seconds": the local wall-clock reading counted as seconds since
 * 1970-01-01 00:00:00 with no zone, so that hour of day is (t mod 86400) / 3600
 * and day of week follows from t / 86400 (1970-01-01 was a Thursday). Zoned input
 * (ISO 8601 with an offset or Z, Unix seconds) is converted to the local zone
 * given by the reader's tz before it becomes civil seconds.
 *
 * Usage:
 *     cdnopt_series_read_params params = cdnopt_series_read_params_default();
 *     params.unit = CDNOPT_UNIT_RAW;
 *     cdnopt_series *s = NULL;
 *     char err[CDNOPT_ERRMSG_MAX];
 *     if (cdnopt_series_read_csv("traffic.csv", &params, &s, NULL, err) != CDNOPT_OK)
 *         fprintf(stderr, "%s\n", err);
 *     ...
 *     cdnopt_series_free(s);
 *
 * Limitations:
 * - One value column per read; a file with several series is read once per column.
 */
#ifndef CDNOPT_SERIES_H
#define CDNOPT_SERIES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** A regular series; owned by whoever created it, freed with cdnopt_series_free(). */
typedef struct cdnopt_series {
    size_t n;       /* number of samples */
    int64_t step_s; /* grid step in seconds; t[i] = t[0] + i * step_s */
    int64_t *t;     /* civil seconds of each sample, n entries */
    double *v;      /* values in the series' unit (Gbit/s unless read as raw), n entries */
    char *name;     /* value column's name or a caller's label; may be NULL */
} cdnopt_series;

/** Allocate a series of n samples starting at t0 with the given step; values are zero. */
int cdnopt_series_new(size_t n, int64_t t0, int64_t step_s, cdnopt_series **out /* OUT */);

/** Free a series; NULL is a no-op. */
void cdnopt_series_free(cdnopt_series *s);

#endif /* CDNOPT_SERIES_H */
