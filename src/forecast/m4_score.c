/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Forecasting a whole M4 set with one method and scoring it as the competition did:
 * per-series sMAPE, MASE and MSIS averaged over the set, coverage pooled over all
 * points, and OWA against Naive2 refitted on the same training values.
 */
#include "cdnopt/core.h"
#include "cdnopt/m4.h"

#include <math.h>
#include <string.h>

int cdnopt_m4_baseline_method(const double *y, size_t n, size_t h, cdnopt_interval_forecast *out,
                              void *ctx, char *err)
{
    return cdnopt_baseline_forecast(ctx, y, n, h, out, err);
}

/* A set with the ids of like and room for h values per series, all zero. */
static cdnopt_m4_set *empty_like(const cdnopt_m4_set *like, size_t h)
{
    cdnopt_m4_set *set = cdnopt_calloc(1, sizeof *set);
    if (set == NULL)
        return NULL;
    size_t n = like->n_series;
    set->ids = cdnopt_calloc(n, sizeof *set->ids);
    set->values = cdnopt_calloc(n, sizeof *set->values);
    set->length = cdnopt_calloc(n, sizeof *set->length);
    set->line = cdnopt_calloc(n, sizeof *set->line);
    if (set->ids == NULL || set->values == NULL || set->length == NULL || set->line == NULL) {
        cdnopt_m4_set_free(set);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        set->ids[i] = cdnopt_strdup(like->ids[i]);
        set->values[i] = cdnopt_calloc(h, sizeof(double));
        set->n_series = i + 1;
        if (set->ids[i] == NULL || set->values[i] == NULL) {
            cdnopt_m4_set_free(set);
            return NULL;
        }
        set->length[i] = h;
        set->line[i] = i + 2; // row i of a written file, after the header
    }
    return set;
}

int cdnopt_m4_forecast(const cdnopt_m4_set *train, size_t h, cdnopt_m4_method_fn method,
                       void *ctx, cdnopt_m4_forecasts *out, char *err)
{
    memset(out, 0, sizeof *out);
    if (h == 0)
        return cdnopt_fail(err, CDNOPT_EINVAL, "horizon is 0; forecast at least 1 step");
    out->horizon = h;
    out->mean = empty_like(train, h);
    out->lower = empty_like(train, h);
    out->upper = empty_like(train, h);
    if (out->mean == NULL || out->lower == NULL || out->upper == NULL) {
        cdnopt_m4_forecasts_fini(out);
        return cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory for %zu forecasts",
                           train->n_series);
    }

    for (size_t i = 0; i < train->n_series; i++) {
        cdnopt_interval_forecast fc = {out->mean->values[i], out->lower->values[i],
                                       out->upper->values[i]};
        char method_err[CDNOPT_ERRMSG_MAX] = "";
        int rc = method(train->values[i], train->length[i], h, &fc, ctx, method_err);
        if (rc != CDNOPT_OK) {
            cdnopt_m4_forecasts_fini(out);
            return cdnopt_fail(err, rc, "series %s (line %zu): %s", train->ids[i],
                               train->line[i], method_err);
        }
    }
    return CDNOPT_OK;
}

/* ------------------------------------------------------------------------- */
/* Scoring                                                                   */
/* ------------------------------------------------------------------------- */

/* Check that other has the ids of train in the same order and h values per series. */
static int check_matching(const cdnopt_m4_set *train, const cdnopt_m4_set *other,
                          const char *what, size_t h, char *err)
{
    const char *path = other->path != NULL ? other->path : what;
    if (other->n_series != train->n_series)
        return cdnopt_fail(err, CDNOPT_ESHAPE,
                           "%s has %zu series but the training file has %zu; score the same "
                           "series in the same order",
                           path, other->n_series, train->n_series);
    for (size_t i = 0; i < train->n_series; i++) {
        if (strcmp(other->ids[i], train->ids[i]) != 0)
            return cdnopt_fail(err, CDNOPT_ESHAPE,
                               "%s:%zu: id %s where the training file has %s (line %zu); score "
                               "the same series in the same order",
                               path, other->line[i], other->ids[i], train->ids[i],
                               train->line[i]);
        if (other->length[i] != h)
            return cdnopt_fail(err, CDNOPT_ESHAPE,
                               "%s:%zu: series %s has %zu values; the horizon is %zu", path,
                               other->line[i], other->ids[i], other->length[i], h);
    }
    return CDNOPT_OK;
}

static int check_inputs(const cdnopt_m4_set *train, const cdnopt_m4_set *test,
                        const cdnopt_m4_forecasts *fc, char *err)
{
    size_t h = fc->horizon;
    int rc = check_matching(train, test, "test set", h, err);
    if (rc == CDNOPT_OK)
        rc = check_matching(train, fc->mean, "forecasts", h, err);
    if (rc == CDNOPT_OK && fc->lower != NULL)
        rc = check_matching(train, fc->lower, "lower bounds", h, err);
    if (rc == CDNOPT_OK && fc->upper != NULL)
        rc = check_matching(train, fc->upper, "upper bounds", h, err);
    return rc;
}

/* Running sums over the set, turned into means at the end. */
typedef struct score_sums {
    double smape, mase, smape_naive2, mase_naive2, msis, width;
    size_t inside, points;
} score_sums;

/* Score series i and its Naive2 forecast (naive2 has h slots) into sums. */
static int score_series(const cdnopt_m4_set *train, const cdnopt_m4_set *test,
                        const cdnopt_m4_forecasts *fc, size_t i, size_t m, double level,
                        double *naive2, score_sums *sums, char *err)
{
    const double *x = train->values[i], *y = test->values[i], *f = fc->mean->values[i];
    size_t n = train->length[i], h = fc->horizon;
    double scale = cdnopt_metric_mase_scale(x, n, m);
    if (!(scale > 0.0))
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "series %s (line %zu): MASE scale is %g at period %zu because the "
                           "training part repeats itself or is not longer than the period",
                           train->ids[i], train->line[i], scale, m);

    cdnopt_baseline_params p = cdnopt_baseline_params_default();
    p.method = CDNOPT_BASELINE_NAIVE2;
    p.period = m;
    p.level = level;
    cdnopt_interval_forecast naive2_fc = {naive2, NULL, NULL};
    char method_err[CDNOPT_ERRMSG_MAX] = "";
    int rc = cdnopt_baseline_forecast(&p, x, n, h, &naive2_fc, method_err);
    if (rc != CDNOPT_OK)
        return cdnopt_fail(err, rc, "series %s: naive2: %s", train->ids[i], method_err);

    sums->smape += cdnopt_metric_smape(y, f, h);
    sums->mase += cdnopt_metric_mase(y, f, h, scale);
    sums->smape_naive2 += cdnopt_metric_smape(y, naive2, h);
    sums->mase_naive2 += cdnopt_metric_mase(y, naive2, h, scale);
    if (fc->lower != NULL && fc->upper != NULL) {
        const double *lower = fc->lower->values[i], *upper = fc->upper->values[i];
        sums->msis += cdnopt_metric_msis(y, lower, upper, h, scale, 1.0 - level);
        sums->width += cdnopt_metric_mean_width(lower, upper, h) / scale;
        for (size_t k = 0; k < h; k++)
            sums->inside += y[k] >= lower[k] && y[k] <= upper[k];
        sums->points += h;
    }
    return CDNOPT_OK;
}

int cdnopt_m4_score(const cdnopt_m4_set *train, const cdnopt_m4_set *test,
                    const cdnopt_m4_forecasts *fc, size_t m, double level,
                    cdnopt_m4_summary *out, char *err)
{
    memset(out, 0, sizeof *out);
    if (train->n_series == 0 || fc->mean == NULL)
        return cdnopt_fail(err, CDNOPT_EINVAL, "nothing to score: no series or no forecasts");
    int rc = check_inputs(train, test, fc, err);
    if (rc != CDNOPT_OK)
        return rc;

    double *naive2 = cdnopt_malloc(fc->horizon * sizeof *naive2);
    if (naive2 == NULL)
        return cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory for horizon %zu", fc->horizon);
    score_sums sums = {0};
    size_t n_seasonal = 0;
    for (size_t i = 0; i < train->n_series && rc == CDNOPT_OK; i++) {
        rc = score_series(train, test, fc, i, m, level, naive2, &sums, err);
        n_seasonal += cdnopt_seasonality_test(train->values[i], train->length[i], m);
    }
    cdnopt_free(naive2);
    if (rc != CDNOPT_OK)
        return rc;

    double n = (double)train->n_series;
    out->n_series = train->n_series;
    out->n_seasonal = n_seasonal;
    out->smape = sums.smape / n;
    out->mase = sums.mase / n;
    out->smape_naive2 = sums.smape_naive2 / n;
    out->mase_naive2 = sums.mase_naive2 / n;
    out->owa = cdnopt_metric_owa(out->smape, out->mase, out->smape_naive2, out->mase_naive2);
    bool has_bounds = sums.points > 0;
    out->msis = has_bounds ? sums.msis / n : NAN;
    out->coverage = has_bounds ? (double)sums.inside / (double)sums.points : NAN;
    out->acd = has_bounds ? cdnopt_metric_acd(out->coverage, level) : NAN;
    out->width = has_bounds ? sums.width / n : NAN;
    return CDNOPT_OK;
}
