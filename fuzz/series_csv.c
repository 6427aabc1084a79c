/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target of the time-series CSV reader, cdnopt_series_read_csv(). The first input
 * byte picks the repairs, unit and zone, and the rest is the file. A series the reader
 * returns must be regular, hold only finite values that are not negative, and have one
 * sample per data row when no repair is on.
 */
#include "cdnopt/core.h"
#include "cdnopt/series.h"
#include "fuzz_file.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static cdnopt_series_read_params params_of(uint8_t options)
{
    static const enum cdnopt_fill fills[] = {CDNOPT_FILL_NONE, CDNOPT_FILL_LINEAR,
                                             CDNOPT_FILL_PREVIOUS, CDNOPT_FILL_LINEAR};
    static const enum cdnopt_duplicates duplicates[] = {
        CDNOPT_DUPLICATES_ERROR, CDNOPT_DUPLICATES_KEEP_LAST, CDNOPT_DUPLICATES_MEAN,
        CDNOPT_DUPLICATES_ERROR};
    cdnopt_series_read_params p = cdnopt_series_read_params_default();
    p.fill_gaps = fills[options & 3];
    p.duplicates = duplicates[(options >> 2) & 3];
    p.drop_missing = (options & 16) != 0 && p.fill_gaps != CDNOPT_FILL_NONE;
    p.unit = (options & 32) != 0 ? CDNOPT_UNIT_BYTES_PER_INTERVAL : CDNOPT_UNIT_GBPS;
    p.tz = (options & 64) != 0 ? "UTC+01:00" : "UTC";
    /* With bit 7 set, a gap longer than a day fails, which keeps most repairs small. */
    p.max_gap_s = (options & 128) != 0 && p.fill_gaps != CDNOPT_FILL_NONE ? 86400 : 0;
    return p;
}

static void check_series(const cdnopt_series *s, const cdnopt_series_read_params *params,
                         const cdnopt_series_read_report *report)
{
    if (s->n == 0 || s->step_s <= 0) {
        fprintf(stderr, "series of %zu samples with step %lld s\n", s->n, (long long)s->step_s);
        abort();
    }
    /* Without repairs every data row is one sample. */
    bool repairs = params->fill_gaps != CDNOPT_FILL_NONE ||
                   params->duplicates != CDNOPT_DUPLICATES_ERROR || params->drop_missing;
    if (!repairs && s->n != report->n_rows) {
        fprintf(stderr, "%zu data rows gave %zu samples without repairs\n", report->n_rows, s->n);
        abort();
    }
    for (size_t i = 0; i < s->n; i++) {
        if (s->t[i] != s->t[0] + (int64_t)i * s->step_s || !isfinite(s->v[i]) || s->v[i] < 0) {
            fprintf(stderr, "sample %zu: t=%lld v=%g, first t=%lld step %lld s\n", i,
                    (long long)s->t[i], s->v[i], (long long)s->t[0], (long long)s->step_s);
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    cdnopt_series_read_params params = params_of(data[0]);
    const char *path = fuzz_file_write(data + 1, size - 1);

    cdnopt_series *series = NULL;
    cdnopt_series_read_report report;
    char err[CDNOPT_ERRMSG_MAX];
    if (cdnopt_series_read_csv(path, &params, &series, &report, err) == CDNOPT_OK) {
        check_series(series, &params, &report);
        char line[256];
        cdnopt_series_read_report_format(&report, line, sizeof line);
    }
    cdnopt_series_free(series);
    return 0;
}
