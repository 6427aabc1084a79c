/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The hand-checkable parts of choosing a planning method by a backtest: how far back to
 * move the releases, moving them, and picking the method from the fold ratios.
 */
#include "cdnopt/plan_backtest.h"

#include "cdnopt/core.h"

#include <math.h>

#define DAY_S 86400
#define WEEK_S (7 * DAY_S)

const char *cdnopt_plan_method_name(cdnopt_plan_method method)
{
    static const char *const names[CDNOPT_PLAN_METHOD_COUNT] = {"mean", "scenarios", "wide"};
    if ((int)method < 0 || method >= CDNOPT_PLAN_METHOD_COUNT)
        return "unknown";
    return names[method];
}

/* Smallest whole number of units that covers span_s (at least one unit), in seconds. */
static int64_t cover_s(int64_t span_s, int64_t unit_s)
{
    int64_t units = span_s > 0 ? (span_s + unit_s - 1) / unit_s : 1;
    return (units > 0 ? units : 1) * unit_s;
}

int64_t cdnopt_plan_backtest_shift_s(int64_t history_s, int64_t reach_s, int64_t min_history_s,
                                     int fold)
{
    if (fold < 0)
        return 0;

    /* Whole weeks keep the weekday of every release, but whole days keep only the hour. */
    int64_t unit_s = history_s - cover_s(reach_s, WEEK_S) >= min_history_s ? WEEK_S : DAY_S;
    int64_t shift_s = cover_s(reach_s, unit_s) + (int64_t)fold * unit_s;
    return history_s - shift_s >= min_history_s ? shift_s : 0;
}

int cdnopt_release_set_shift(const cdnopt_release_set *releases, int64_t shift_s,
                             cdnopt_release_set **out, char *err)
{
    *out = NULL;
    if (releases->n == 0)
        return cdnopt_fail(err, CDNOPT_EINVAL, "no releases to move");
    cdnopt_release *moved = cdnopt_malloc(releases->n * sizeof *moved);
    if (moved == NULL)
        return cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory for %zu releases", releases->n);
    for (size_t i = 0; i < releases->n; i++) {
        moved[i] = releases->items[i];
        moved[i].planned_at += shift_s;
        moved[i].latest_start_at += shift_s;
    }
    int rc = cdnopt_release_set_new(moved, releases->n, out, err);
    cdnopt_free(moved);
    return rc;
}

cdnopt_plan_method cdnopt_plan_backtest_choose(const double *ratios, int n_folds,
                                               double *scores)
{
    cdnopt_plan_method best = CDNOPT_PLAN_METHOD_MEAN;
    double best_score = INFINITY;
    for (int m = 0; m < CDNOPT_PLAN_METHOD_COUNT; m++) {
        /* Geometric mean: a fold with a higher peak level weighs no more than another. */
        double log_sum = 0.0;
        bool usable = n_folds > 0;
        for (int k = 0; k < n_folds && usable; k++) {
            double r = ratios[(size_t)k * CDNOPT_PLAN_METHOD_COUNT + (size_t)m];
            usable = isfinite(r) && r > 0.0;
            if (usable)
                log_sum += log(r);
        }
        double score = usable ? exp(log_sum / n_folds) : INFINITY;
        if (scores != NULL)
            scores[m] = score;
        if (score < best_score) {
            best_score = score;
            best = (cdnopt_plan_method)m;
        }
    }
    return best;
}
