/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Dense evaluation of a whole schedule on a baseline grid: T(t) = baseline(t) plus
 * every batch's rate, then peak, nearest-rank p95, mean and spill. The arithmetic
 * follows the release model term by term (rate = bits * r^h / sum / 3600 / 1e9 per
 * batch and hour) so that the figures match an independent implementation of it to
 * rounding.
 */
#include "cdnopt/release.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int cdnopt_figures_of(const double *values, size_t n, cdnopt_figures *out)
{
    memset(out, 0, sizeof *out);
    if (n == 0)
        return CDNOPT_EINVAL;
    double *sorted = cdnopt_malloc(n * sizeof *sorted);
    if (sorted == NULL)
        return CDNOPT_ENOMEM;
    memcpy(sorted, values, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, compare_double);

    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += values[i];

    /* Nearest rank: the value at 1-based rank ceil(0.95 n). */
    size_t rank = (size_t)ceil(0.95 * (double)n);
    out->peak_gbps = sorted[n - 1];
    out->p95_gbps = sorted[rank - 1];
    out->mean_gbps = sum / (double)n;
    cdnopt_free(sorted);
    return 0;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Add one batch of bits beginning at grid index first to total; returns its spill. */
static double add_batch(double *total, size_t n, int64_t first, int64_t steps_per_hour,
                        int64_t step_s, double bits, const cdnopt_rules *rules, double sum)
{
    double spill = 0;
    for (int h = 0; h < rules->duration_h; h++) {
        double gbps = bits * pow(rules->decay, h) / sum / 3600.0 / 1e9;
        for (int64_t k = 0; k < steps_per_hour; k++) {
            int64_t position = first + h * steps_per_hour + k;
            if (position >= 0 && position < (int64_t)n)
                total[position] += gbps;
            else
                spill += gbps * (double)step_s;
        }
    }
    return spill;
}

int cdnopt_schedule_evaluate(const cdnopt_series *baseline, const cdnopt_release_set *releases,
                             const cdnopt_schedule *schedule, const cdnopt_rules *rules,
                             double *total, cdnopt_figures *out)
{
    memset(out, 0, sizeof *out);
    if (schedule->n != releases->n || baseline->n == 0 || baseline->step_s <= 0 ||
        3600 % baseline->step_s != 0 || cdnopt_rules_validate(rules, NULL) != 0)
        return CDNOPT_EINVAL;

    size_t n = baseline->n;
    double *values = total != NULL ? total : cdnopt_malloc(n * sizeof *values);
    if (values == NULL)
        return CDNOPT_ENOMEM;
    memcpy(values, baseline->v, n * sizeof *values);

    double sum = 0;
    for (int h = 0; h < rules->duration_h; h++)
        sum += pow(rules->decay, h);
    int64_t steps_per_hour = 3600 / baseline->step_s;
    double spill = 0;
    for (size_t i = 0; i < releases->n; i++) {
        const cdnopt_release *release = &releases->items[i];
        double ratio = schedule->batch_ratio[i];
        size_t batches = cdnopt_batch_count(ratio);
        double share = ratio * release->users;
        int64_t first = floor_div(schedule->start_at[i] - baseline->t[0], baseline->step_s);
        for (size_t b = 0; b < batches; b++) {
            double users =
                b + 1 < batches ? share : release->users - share * (double)(batches - 1);
            spill += add_batch(values, n, first + (int64_t)b * steps_per_hour, steps_per_hour,
                               baseline->step_s, release->size_mb * 8e6 * users, rules, sum);
        }
    }

    int rc = cdnopt_figures_of(values, n, out);
    out->spill_gbit = spill;
    if (values != total)
        cdnopt_free(values);

    /* Huge baseline values can still overflow the sums; a figure of inf or NaN must
     * fail the caller rather than be printed as a result. */
    bool finite = isfinite(out->peak_gbps) && isfinite(out->p95_gbps) &&
                  isfinite(out->mean_gbps) && isfinite(out->spill_gbit);
    if (rc == 0 && !finite)
        rc = CDNOPT_ENUMERIC;
    return rc;
}

double cdnopt_lower_bound_gbps(const cdnopt_series *baseline, const cdnopt_release_set *releases)
{
    double max_baseline = -INFINITY, baseline_gbit = 0, release_gbit = 0;
    for (size_t i = 0; i < baseline->n; i++) {
        max_baseline = fmax(max_baseline, baseline->v[i]);
        baseline_gbit += baseline->v[i];
    }
    baseline_gbit *= (double)baseline->step_s;
    for (size_t i = 0; i < releases->n; i++)
        release_gbit += releases->items[i].size_mb * 8e6 * releases->items[i].users;
    double span_s = (double)baseline->step_s * (double)baseline->n;
    return fmax(max_baseline, (baseline_gbit + release_gbit / 1e9) / span_s);
}
