/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Split-conformal calibration of prediction intervals per horizon step. SCALE uses the
 * absolute residual over the forecast's std as its score, RELATIVE the absolute residual
 * over the forecast level, and SHIFT the score of conformalized quantile regression,
 * which widens (or narrows) a raw interval by a constant.
 *
 * A score measures how far an actual value falls from the forecast: |y - mean| / std for
 * SCALE, |y - mean| / (max(|mean|, floor) + std) for RELATIVE, max(lower - y, y - upper) for
 * SHIFT. If validation and future scores are
 * exchangeable, the ceil((n + 1) level)-th smallest of n validation scores bounds a new
 * score with probability at least level, so that quantile becomes the step's factor.
 */
#include "stats-impl.h"

#include <math.h>
#include <string.h>

cdnopt_calibration_params cdnopt_calibration_params_default(void)
{
    cdnopt_calibration_params p = {
        .kind = CDNOPT_CALIB_SCALE,
        .level = 0.95,
        .min_scores = 50,
    };
    return p;
}

int cdnopt_calibration_init(cdnopt_calibration *cal, enum cdnopt_calib_kind kind, double level,
                            size_t horizon)
{
    memset(cal, 0, sizeof *cal);
    if (horizon == 0 || !(level > 0.0 && level < 1.0))
        return CDNOPT_EINVAL;
    cal->factor = cdnopt_malloc(horizon * sizeof *cal->factor);
    if (cal->factor == NULL)
        return CDNOPT_ENOMEM;

    double neutral = kind == CDNOPT_CALIB_SCALE ? cdnopt_normal_quantile(0.5 + 0.5 * level) : 0.0;
    for (size_t k = 0; k < horizon; k++)
        cal->factor[k] = neutral;
    cal->kind = kind;
    cal->level = level;
    cal->horizon = horizon;
    cal->coverage_raw = NAN;
    cal->coverage_calibrated = NAN;
    return CDNOPT_OK;
}

void cdnopt_calibration_fini(cdnopt_calibration *cal)
{
    if (cal == NULL)
        return;
    cdnopt_free(cal->factor);
    cal->factor = NULL;
    cal->horizon = 0;
}

static int check_set(const cdnopt_calib_set *set, enum cdnopt_calib_kind kind, char *err)
{
    if (set->n_origins == 0 || set->horizon == 0)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "calibration set is empty (%zu origins x %zu steps); forecast at "
                           "least one origin of the validation span",
                           set->n_origins, set->horizon);
    if (set->actual == NULL)
        return cdnopt_fail(err, CDNOPT_EINVAL, "calibration set has no actual values");
    if (kind == CDNOPT_CALIB_SHIFT) {
        if (set->lower == NULL || set->upper == NULL)
            return cdnopt_fail(err, CDNOPT_EINVAL,
                               "shift calibration needs lower and upper bounds in the set");
        return CDNOPT_OK;
    }
    if (kind != CDNOPT_CALIB_SCALE && kind != CDNOPT_CALIB_RELATIVE)
        return cdnopt_fail(err, CDNOPT_EINVAL, "unknown calibration kind %d", (int)kind);
    if (kind == CDNOPT_CALIB_RELATIVE) {
        if (set->mean == NULL)
            return cdnopt_fail(err, CDNOPT_EINVAL, "relative calibration needs mean in the set");
        return CDNOPT_OK;
    }
    if (set->mean == NULL || set->std == NULL)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "scale calibration needs mean and std in the set");
    for (size_t i = 0; i < set->n_origins * set->horizon; i++) {
        if (!(set->std[i] > 0.0) || !isfinite(set->std[i]))
            return cdnopt_fail(err, CDNOPT_EINVAL,
                               "std at origin %zu step %zu is %g; scale calibration needs a "
                               "positive std (use more samples or shift calibration)",
                               i / set->horizon, i % set->horizon, set->std[i]);
    }
    return CDNOPT_OK;
}

/* Smallest RELATIVE scale of a forecast: 1% of its mean level over h steps, plus 1e-12 so
 * that an all-zero forecast still divides.
 * NOTE: the floor guards single zero steps only. When a forecast decays to 0 for hours
 * while the traffic does not (a drifting recursive roll-out), only the std term of the
 * scale bounds its scores. Without std they reach about 100. */
static double relative_floor(const double *mean, size_t h)
{
    double sum = 0.0;
    for (size_t k = 0; k < h; k++)
        sum += fabs(mean[k]);
    return 0.01 * sum / (double)h + 1e-12;
}

/* RELATIVE scale of point i of the set, the floor taken over its origin's forecast. */
static double relative_scale(const cdnopt_calib_set *set, size_t i)
{
    const double *row = set->mean + i / set->horizon * set->horizon;
    double spread = set->std != NULL ? set->std[i] : 0.0;
    return fmax(fabs(set->mean[i]), relative_floor(row, set->horizon)) + spread;
}

/* Nonconformity score of point i of the set. */
static double score(const cdnopt_calib_set *set, enum cdnopt_calib_kind kind, size_t i)
{
    double y = set->actual[i];
    if (kind == CDNOPT_CALIB_SCALE)
        return fabs(y - set->mean[i]) / set->std[i];
    if (kind == CDNOPT_CALIB_RELATIVE)
        return fabs(y - set->mean[i]) / relative_scale(set, i);
    return fmax(set->lower[i] - y, y - set->upper[i]);
}

/* Bounds of point i after calibration with factor f (f is NAN for the raw interval). A
 * RELATIVE set without std has no raw interval, so its raw bounds are NAN. */
static void bounds(const cdnopt_calib_set *set, enum cdnopt_calib_kind kind, double level,
                   size_t i, double f, double *lower, double *upper)
{
    if (kind == CDNOPT_CALIB_RELATIVE && !isnan(f)) {
        double half_width = f * relative_scale(set, i);
        *lower = set->mean[i] - half_width;
        *upper = set->mean[i] + half_width;
        return;
    }
    if (kind == CDNOPT_CALIB_RELATIVE && set->std == NULL) {
        *lower = *upper = NAN;
        return;
    }
    if (kind != CDNOPT_CALIB_SHIFT) {
        double z = isnan(f) ? cdnopt_normal_quantile(0.5 + 0.5 * level) : f;
        *lower = set->mean[i] - z * set->std[i];
        *upper = set->mean[i] + z * set->std[i];
        return;
    }
    double shift = isnan(f) ? 0.0 : f;
    *lower = set->lower[i] - shift;
    *upper = set->upper[i] + shift;
}

/*
 * Conformal quantile of the scores of steps k - w .. k + w, where w is the smallest
 * half-width that pools at least min_scores scores. With few origins a single step's
 * quantile would rest on a handful of points (with 7 origins the 95% rank 8 does not
 * even exist), so neighbouring steps, whose errors have similar spread, lend theirs.
 */
static double step_factor(const double *scores, size_t n_origins, size_t horizon, size_t k,
                          size_t min_scores, double level, double *scratch)
{
    size_t w = 0;
    while (w < horizon && n_origins * (2 * w + 1) < min_scores)
        w++;
    size_t first = k >= w ? k - w : 0;
    size_t last = k + w < horizon ? k + w : horizon - 1;

    size_t count = 0;
    for (size_t o = 0; o < n_origins; o++)
        for (size_t j = first; j <= last; j++)
            scratch[count++] = scores[o * horizon + j];
    cdnopt__sort(scratch, count);

    /* The 1e-9 keeps a product such as 20 x 0.95 from rounding up past the exact rank. */
    size_t rank = (size_t)ceil((double)(count + 1) * level - 1e-9);

    /* NOTE: with fewer than 1 / (1 - level) - 1 scores the conformal rank exceeds the
     * count and the exact answer is an unbounded interval; the largest score is used
     * instead, which covers less than level. */
    if (rank > count)
        rank = count;
    return scratch[rank - 1];
}

static void set_coverage(const cdnopt_calib_set *set, cdnopt_calibration *cal)
{
    size_t n = set->n_origins * set->horizon, raw = 0, calibrated = 0;
    for (size_t i = 0; i < n; i++) {
        double y = set->actual[i], lower, upper;
        size_t k = i % set->horizon;
        double f = cal->factor[k < cal->horizon ? k : cal->horizon - 1];

        bounds(set, cal->kind, cal->level, i, NAN, &lower, &upper);
        raw += y >= lower && y <= upper;
        bounds(set, cal->kind, cal->level, i, f, &lower, &upper);
        calibrated += y >= lower && y <= upper;
    }
    bool has_raw = cal->kind != CDNOPT_CALIB_RELATIVE || set->std != NULL;
    cal->coverage_raw = has_raw ? (double)raw / (double)n : NAN;
    cal->coverage_calibrated = (double)calibrated / (double)n;
}

int cdnopt_calibration_fit(const cdnopt_calib_set *set, const cdnopt_calibration_params *p,
                           cdnopt_calibration *out, char *err)
{
    memset(out, 0, sizeof *out);
    if (!(p->level > 0.0 && p->level < 1.0))
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "calibration level %g is outside (0, 1); use e.g. 0.95", p->level);
    int rc = check_set(set, p->kind, err);
    if (rc != CDNOPT_OK)
        return rc;

    size_t n = set->n_origins * set->horizon;
    double *scores = cdnopt_malloc(2 * n * sizeof *scores);
    if (scores == NULL)
        return cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory for %zu calibration scores", n);
    rc = cdnopt_calibration_init(out, p->kind, p->level, set->horizon);
    if (rc != CDNOPT_OK) {
        cdnopt_free(scores);
        return cdnopt_fail(err, rc, "out of memory for %zu calibration factors", set->horizon);
    }

    for (size_t i = 0; i < n; i++)
        scores[i] = score(set, p->kind, i);
    size_t min_scores = p->min_scores > 0 ? p->min_scores : 1;
    for (size_t k = 0; k < set->horizon; k++)
        out->factor[k] = step_factor(scores, set->n_origins, set->horizon, k, min_scores,
                                     p->level, scores + n);
    cdnopt_free(scores);

    out->n_origins = set->n_origins;
    set_coverage(set, out);
    return CDNOPT_OK;
}

void cdnopt_calibration_apply(const cdnopt_calibration *cal, size_t h, const double *mean,
                              const double *std, double *lower, double *upper)
{
    double floor = cal->kind == CDNOPT_CALIB_RELATIVE && h > 0 ? relative_floor(mean, h) : 0.0;
    for (size_t k = 0; k < h; k++) {
        double f = cal->factor[k < cal->horizon ? k : cal->horizon - 1];
        if (cal->kind == CDNOPT_CALIB_SCALE) {
            lower[k] = mean[k] - f * std[k];
            upper[k] = mean[k] + f * std[k];
        } else if (cal->kind == CDNOPT_CALIB_RELATIVE) {
            double scale = fmax(fabs(mean[k]), floor) + (std != NULL ? std[k] : 0.0);
            lower[k] = mean[k] - f * scale;
            upper[k] = mean[k] + f * scale;
        } else {
            lower[k] -= f;
            upper[k] += f;
        }
    }
}

int cdnopt_calibration_coverage(const cdnopt_calibration *cal, const cdnopt_calib_set *set,
                                double *raw, double *calibrated, char *err)
{
    int rc = check_set(set, cal->kind, err);
    if (rc != CDNOPT_OK)
        return rc;
    cdnopt_calibration copy = *cal;
    set_coverage(set, &copy);
    *raw = copy.coverage_raw;
    *calibrated = copy.coverage_calibrated;
    return CDNOPT_OK;
}

int cdnopt_samples_summarize(const double *samples, size_t n_samples, size_t h, double level,
                             cdnopt_interval_forecast *out, double *std)
{
    if (n_samples < 2 || !(level > 0.0 && level < 1.0))
        return CDNOPT_EINVAL;
    double *column = cdnopt_malloc(n_samples * sizeof *column);
    if (column == NULL)
        return CDNOPT_ENOMEM;

    for (size_t k = 0; k < h; k++) {
        double mean = 0.0;
        for (size_t s = 0; s < n_samples; s++) {
            column[s] = samples[s * h + k];
            mean += column[s] / (double)n_samples;
        }

        double sum_squares = 0.0;
        for (size_t s = 0; s < n_samples; s++)
            sum_squares += (column[s] - mean) * (column[s] - mean);
        if (out->mean != NULL)
            out->mean[k] = mean;
        if (std != NULL)
            std[k] = sqrt(sum_squares / (double)(n_samples - 1));

        if (out->lower != NULL || out->upper != NULL) {
            cdnopt__sort(column, n_samples);
            double tail = 0.5 * (1.0 - level);
            if (out->lower != NULL)
                out->lower[k] = cdnopt__quantile_sorted(column, n_samples, tail);
            if (out->upper != NULL)
                out->upper[k] = cdnopt__quantile_sorted(column, n_samples, 1.0 - tail);
        }
    }
    cdnopt_free(column);
    return CDNOPT_OK;
}
