/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Additive Holt-Winters in its error-correction (state-space) form, ETS(A,A,A) in
 * Hyndman et al., "Forecasting with Exponential Smoothing" (Springer 2008):
 *
 *     e_t = y_t - (l + b + s_{t-m})
 *     l  <- l + b + alpha e_t,   b <- b + beta e_t,   s_t = s_{t-m} + gamma e_t
 *
 * alpha, beta and gamma minimise the sum of squared one-step errors; the initial
 * states come from the first two seasons and stay fixed during the search, so one
 * evaluation costs one O(n) pass.
 */
#include "stats-impl.h"

#include <math.h>
#include <string.h>

/* Initial states and the data the objective runs over. */
typedef struct hw_problem {
    const double *y;
    size_t n, m;
    double level0, trend0; /* state before the first value */
    const double *season0; /* m terms; season0[i] applies to t with t mod m == i */
    double *season;        /* m scratch terms, rewritten by every run */
} hw_problem;

/* Map unconstrained search coordinates onto 0 < alpha < 1, beta < alpha, gamma < 1 - alpha. */
static void unpack(const double *x, double *alpha, double *beta, double *gamma)
{
    *alpha = cdnopt__logistic(x[0]);
    *beta = *alpha * cdnopt__logistic(x[1]);
    *gamma = (1.0 - *alpha) * cdnopt__logistic(x[2]);
}

/* Run the recursions over all values; returns the sum of squared one-step errors. */
static double hw_run(const hw_problem *hw, double alpha, double beta, double gamma,
                     double *level_out, double *trend_out)
{
    double level = hw->level0, trend = hw->trend0, sse = 0.0;
    memcpy(hw->season, hw->season0, hw->m * sizeof *hw->season);

    size_t i = 0; // position in the season of the value at t
    for (size_t t = 0; t < hw->n; t++) {
        double e = hw->y[t] - (level + trend + hw->season[i]);
        sse += e * e;
        level += trend + alpha * e;
        trend += beta * e;
        hw->season[i] += gamma * e;
        i = (i + 1 == hw->m) ? 0 : i + 1;
    }
    *level_out = level;
    *trend_out = trend;
    return sse;
}

static double hw_objective(const double *x, void *ctx)
{
    double alpha, beta, gamma, level, trend;
    unpack(x, &alpha, &beta, &gamma);
    double sse = hw_run(ctx, alpha, beta, gamma, &level, &trend);

    /* A diverging run must not win: make it the worst value the simplex can see. */
    return isfinite(sse) ? sse : HUGE_VAL;
}

/*
 * Initial states for a series y_t = a + b t + s_t: the trend is the change of the
 * season means over one season, the level sits one step before the first value, and
 * the seasonal terms are the detrended values averaged over the first two seasons,
 * centred to sum zero. A noiseless series of that form gives zero one-step errors.
 */
static void hw_initial_states(const double *y, size_t m, double *level0, double *trend0,
                              double *season0)
{
    double mean0 = 0.0, mean1 = 0.0;
    for (size_t i = 0; i < m; i++) {
        mean0 += y[i] / (double)m;
        mean1 += y[m + i] / (double)m;
    }
    *trend0 = (mean1 - mean0) / (double)m;
    *level0 = mean0 - *trend0 * (0.5 * (double)(m - 1) + 1.0);

    double total = 0.0;
    for (size_t i = 0; i < m; i++) {
        double line0 = *level0 + *trend0 * (double)(i + 1);
        double line1 = *level0 + *trend0 * (double)(m + i + 1);
        season0[i] = 0.5 * ((y[i] - line0) + (y[m + i] - line1));
        total += season0[i];
    }
    for (size_t i = 0; i < m; i++)
        season0[i] -= total / (double)m;
}

static int check_values(const double *y, size_t n, size_t m, char *err)
{
    if (m < 2 || n < 2 * m)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "holt-winters needs period >= 2 and two full seasons: got %zu "
                           "values for period %zu",
                           n, m);
    for (size_t t = 0; t < n; t++)
        if (!isfinite(y[t]))
            return cdnopt_fail(err, CDNOPT_ENUMERIC,
                               "holt-winters: value %zu is %g; fill gaps first", t, y[t]);
    return CDNOPT_OK;
}

int cdnopt_hw_fit(const double *y, size_t n, size_t m, int max_iter, cdnopt_hw_model *out,
                  char *err)
{
    memset(out, 0, sizeof *out);
    int rc = check_values(y, n, m, err);
    if (rc != CDNOPT_OK)
        return rc;

    double *buffer = cdnopt_malloc(2 * m * sizeof *buffer);
    double *season = cdnopt_malloc(m * sizeof *season);
    if (buffer == NULL || season == NULL) {
        cdnopt_free(buffer);
        cdnopt_free(season);
        return cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory for period %zu", m);
    }
    hw_problem hw = {.y = y, .n = n, .m = m, .season0 = buffer, .season = buffer + m};
    hw_initial_states(y, m, &hw.level0, &hw.trend0, buffer);

    /* Start at alpha 0.2, beta 0.01, gamma 0.08: moderate smoothing, slow trend. */
    double x[3] = {log(0.2 / 0.8), log(0.05 / 0.95), log(0.1 / 0.9)};
    cdnopt__nelder_mead(hw_objective, &hw, x, 3, 1.0, max_iter);

    /* Final run with the best parameters to get the end states. */
    unpack(x, &out->alpha, &out->beta, &out->gamma);
    double sse = hw_run(&hw, out->alpha, out->beta, out->gamma, &out->level, &out->trend);
    for (size_t k = 0; k < m; k++)
        season[k] = hw.season[(n + k) % m];
    cdnopt_free(buffer);

    out->period = m;
    out->season = season;
    out->sigma2 = sse / (double)n;
    out->n = n;
    if (!isfinite(sse)) {
        cdnopt_hw_fini(out);
        return cdnopt_fail(err, CDNOPT_ENUMERIC,
                           "holt-winters diverged on %zu values; check the data's scale", n);
    }
    return CDNOPT_OK;
}

void cdnopt_hw_forecast(const cdnopt_hw_model *model, size_t h, double level,
                        cdnopt_interval_forecast *out)
{
    size_t m = model->period;
    double z = cdnopt_normal_quantile(0.5 + 0.5 * level);
    double sum_c2 = 0.0; // sum of c_i^2 for i < j

    for (size_t k = 0; k < h; k++) {
        size_t j = k + 1; // steps ahead
        out->mean[k] = model->level + (double)j * model->trend + model->season[k % m];

        /* Variance growth of ETS(A,A,A): sigma2 (1 + sum_{i=1}^{j-1} c_i^2). */
        if (j > 1) {
            size_t i = j - 1;
            double c = model->alpha + model->beta * (double)i + (i % m == 0 ? model->gamma : 0.0);
            sum_c2 += c * c;
        }
        if (out->lower != NULL && out->upper != NULL) {
            double half_width = z * sqrt(model->sigma2 * (1.0 + sum_c2));
            out->lower[k] = out->mean[k] - half_width;
            out->upper[k] = out->mean[k] + half_width;
        }
    }
}

void cdnopt_hw_fini(cdnopt_hw_model *model)
{
    if (model == NULL)
        return;
    cdnopt_free(model->season);
    model->season = NULL;
}

int cdnopt__hw_forecast(const cdnopt_baseline_params *p, const double *y, size_t n, size_t h,
                        cdnopt_interval_forecast *out, char *err)
{
    cdnopt_hw_model model;
    int rc = cdnopt_hw_fit(y, n, p->period, p->max_iter, &model, err);
    if (rc != CDNOPT_OK)
        return rc;
    cdnopt_hw_forecast(&model, h, p->level, out);
    cdnopt_hw_fini(&model);
    return CDNOPT_OK;
}
