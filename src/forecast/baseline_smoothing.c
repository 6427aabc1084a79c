/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The exponential smoothing benchmarks of the M4 competition: SES, Holt, damped trend,
 * Theta and Comb (the mean of the first three), each fitted to the seasonally adjusted
 * series (see cdnopt__deseasonalise) and re-seasonalised, as the M4 benchmark scripts do.
 *
 * SES, Holt and damped trend are the non-seasonal additive-error ETS models (Hyndman and
 * Athanasopoulos, "Forecasting: Principles and Practice", 3rd ed., chapter 8):
 *
 *     yhat = l + phi b,   e = y - yhat,   l <- l + phi b + alpha e,   b <- phi b + beta e
 *
 * with b = 0 for SES and phi = 1 for Holt. For fixed smoothing parameters the one-step
 * errors are affine in the initial state (l0, b0), so the best initial state comes from
 * a 2 x 2 least-squares solve, and Nelder-Mead searches only the smoothing parameters.
 */
#include "stats-impl.h"

#include <math.h>
#include <string.h>

typedef enum trend_kind { TREND_NONE, TREND_LINEAR, TREND_DAMPED } trend_kind;

/* Smoothing parameters, the initial and final states, and the fit's error variance. */
typedef struct smooth_fit {
    trend_kind trend;
    double alpha, beta, phi;
    double level0, slope0; /* initial state, before the first value */
    double level, slope;   /* state after the last value */
    double sigma2;         /* mean squared one-step error */
} smooth_fit;

/* The series and three scratch residual vectors for the concentrated objective. */
typedef struct smooth_problem {
    const double *y;
    size_t n;
    trend_kind trend;
    double *r0, *r_level, *r_slope; /* n residuals each, for initial states 0, e_l, e_b */
} smooth_problem;

/* Map search coordinates to 0 < alpha < 1, 0 < beta < alpha and the usual damping range
 * 0.8 < phi < 0.98, which keeps damped trend apart from Holt and from SES. */
static void unpack(trend_kind trend, const double *x, smooth_fit *fit)
{
    fit->trend = trend;
    fit->alpha = cdnopt__logistic(x[0]);
    fit->beta = trend == TREND_NONE ? 0.0 : fit->alpha * cdnopt__logistic(x[1]);
    fit->phi = trend == TREND_DAMPED ? 0.8 + 0.18 * cdnopt__logistic(x[2]) : 1.0;
}

/* Run the recursions from (level0, slope0); fills residuals when not NULL and the end state. */
static double run(const double *y, size_t n, smooth_fit *fit, double *residuals)
{
    double level = fit->level0, slope = fit->trend == TREND_NONE ? 0.0 : fit->slope0;
    double sse = 0.0;
    for (size_t t = 0; t < n; t++) {
        double e = y[t] - (level + fit->phi * slope);
        if (residuals != NULL)
            residuals[t] = e;
        sse += e * e;
        level += fit->phi * slope + fit->alpha * e;
        slope = fit->phi * slope + fit->beta * e;
    }
    fit->level = level;
    fit->slope = slope;
    return sse;
}

/*
 * Best initial state for the parameters in fit: residuals are e(x0) = r0 - D x0 with
 * D's columns r0 - e(unit state), so x0 solves the normal equations D'D x0 = D'r0.
 */
static void best_initial_state(const smooth_problem *sp, smooth_fit *fit)
{
    fit->level0 = 0.0;
    fit->slope0 = 0.0;
    run(sp->y, sp->n, fit, sp->r0);
    fit->level0 = 1.0;
    run(sp->y, sp->n, fit, sp->r_level);
    bool has_slope = fit->trend != TREND_NONE;
    if (has_slope) {
        fit->level0 = 0.0;
        fit->slope0 = 1.0;
        run(sp->y, sp->n, fit, sp->r_slope);
    }

    double a11 = 0.0, a12 = 0.0, a22 = 0.0, c1 = 0.0, c2 = 0.0;
    for (size_t t = 0; t < sp->n; t++) {
        double dl = sp->r0[t] - sp->r_level[t];
        double db = has_slope ? sp->r0[t] - sp->r_slope[t] : 0.0;
        a11 += dl * dl;
        a12 += dl * db;
        a22 += db * db;
        c1 += dl * sp->r0[t];
        c2 += db * sp->r0[t];
    }

    /* Fall back to the level alone when the slope column is (nearly) collinear. */
    double det = a11 * a22 - a12 * a12;
    if (has_slope && det > 1e-12 * a11 * a22) {
        fit->level0 = (c1 * a22 - c2 * a12) / det;
        fit->slope0 = (a11 * c2 - a12 * c1) / det;
    } else {
        fit->level0 = a11 > 0.0 ? c1 / a11 : sp->y[0];
        fit->slope0 = 0.0;
    }
}

static double smooth_objective(const double *x, void *ctx)
{
    const smooth_problem *sp = ctx;
    smooth_fit fit;
    unpack(sp->trend, x, &fit);
    best_initial_state(sp, &fit);
    double sse = run(sp->y, sp->n, &fit, NULL);
    return isfinite(sse) ? sse : HUGE_VAL;
}

/* Fit one model to n values; fitted (or NULL) receives the n one-step forecasts. */
static int smooth_fit_series(const double *y, size_t n, trend_kind trend, int max_iter,
                             smooth_fit *fit, double *fitted, char *err)
{
    double *scratch = cdnopt_malloc(3 * n * sizeof *scratch);
    if (scratch == NULL)
        return cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory for %zu residuals", n);
    smooth_problem sp = {y, n, trend, scratch, scratch + n, scratch + 2 * n};

    /* Start at alpha 0.3, beta 0.03, phi 0.89, in the middle of the usual ranges. */
    double x[3] = {log(0.3 / 0.7), log(0.1 / 0.9), 0.0};
    size_t dim = 1; // alpha
    if (trend == TREND_LINEAR)
        dim = 2; // alpha, beta
    if (trend == TREND_DAMPED)
        dim = 3; // alpha, beta, phi
    cdnopt__nelder_mead(smooth_objective, &sp, x, dim, 1.0, max_iter);

    unpack(trend, x, fit);
    best_initial_state(&sp, fit);
    double sse = run(y, n, fit, scratch);
    if (fitted != NULL)
        for (size_t t = 0; t < n; t++)
            fitted[t] = y[t] - scratch[t];
    cdnopt_free(scratch);
    fit->sigma2 = sse / (double)n;
    if (!isfinite(sse))
        return cdnopt_fail(err, CDNOPT_ENUMERIC, "exponential smoothing diverged on %zu values",
                           n);
    return CDNOPT_OK;
}

/*
 * Coefficient c_j = w' F^(j-1) g of the variance growth sigma2 (1 + sum_{j<h} c_j^2) of a
 * pure additive state-space model (Svetunkov, "Forecasting and Analytics with ADAM",
 * section "Conditional expectation and variance"), worked out for w = (1, phi),
 * F = [[1, phi], [0, phi]], g = (alpha, beta).
 */
static double growth_coefficient(const smooth_fit *fit, size_t j)
{
    if (fit->trend == TREND_NONE)
        return fit->alpha;
    if (fit->trend == TREND_LINEAR)
        return fit->alpha + fit->beta * (double)j;
    return fit->alpha + fit->beta * fit->phi * (1.0 - pow(fit->phi, (double)j)) / (1.0 - fit->phi);
}

/* Point forecasts and normal intervals of h steps from a fit. */
static void smooth_forecast(const smooth_fit *fit, size_t h, double level,
                            cdnopt_interval_forecast *out)
{
    double z = cdnopt_normal_quantile(0.5 + 0.5 * level);
    double damped_sum = 0.0, sum_c2 = 0.0;
    for (size_t k = 0; k < h; k++) {
        size_t j = k + 1;
        damped_sum += pow(fit->phi, (double)j);
        out->mean[k] = fit->level + (fit->trend == TREND_NONE ? 0.0 : damped_sum * fit->slope);
        if (j > 1) {
            double c = growth_coefficient(fit, j - 1);
            sum_c2 += c * c;
        }
        if (out->lower != NULL && out->upper != NULL) {
            double half_width = z * sqrt(fit->sigma2 * (1.0 + sum_c2));
            out->lower[k] = out->mean[k] - half_width;
            out->upper[k] = out->mean[k] + half_width;
        }
    }
}

/* ------------------------------------------------------------------------- */
/* Methods on the adjusted series                                            */
/* ------------------------------------------------------------------------- */

static int forecast_smoothing(const double *x, size_t n, trend_kind trend, size_t h,
                              const cdnopt_baseline_params *p, cdnopt_interval_forecast *out,
                              char *err)
{
    smooth_fit fit;
    int rc = smooth_fit_series(x, n, trend, p->max_iter, &fit, NULL, err);
    if (rc == CDNOPT_OK)
        smooth_forecast(&fit, h, p->level, out);
    return rc;
}

/*
 * Classic Theta as the M4 benchmark runs it:
 * the mean of the linear-regression line (theta = 0) extrapolated and SES on the
 * theta = 2 line 2 x - line.
 */
static int forecast_theta(const double *x, size_t n, size_t h, const cdnopt_baseline_params *p,
                          cdnopt_interval_forecast *out, char *err)
{
    /* Least-squares line a + b t over t = 1..n. */
    double t_mean = 0.5 * (double)(n + 1), x_mean = 0.0, sxy = 0.0, sxx = 0.0;
    for (size_t t = 0; t < n; t++)
        x_mean += x[t] / (double)n;
    for (size_t t = 0; t < n; t++) {
        double dt = (double)(t + 1) - t_mean;
        sxy += dt * (x[t] - x_mean);
        sxx += dt * dt;
    }
    double b = sxx > 0.0 ? sxy / sxx : 0.0, a = x_mean - b * t_mean;

    double *theta_line = cdnopt_malloc(2 * n * sizeof *theta_line);
    if (theta_line == NULL)
        return cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory for Theta of %zu values", n);
    double *fitted = theta_line + n;
    for (size_t t = 0; t < n; t++)
        theta_line[t] = 2.0 * x[t] - (a + b * (double)(t + 1));

    smooth_fit fit;
    int rc = smooth_fit_series(theta_line, n, TREND_NONE, p->max_iter, &fit, fitted, err);
    if (rc == CDNOPT_OK) {
        /* Error variance of the combined in-sample forecast against the series. */
        double sse = 0.0;
        for (size_t t = 0; t < n; t++) {
            double e = x[t] - 0.5 * (fitted[t] + a + b * (double)(t + 1));
            sse += e * e;
        }

        /* NOTE: the interval uses SES's variance growth with the combined forecast's
         * one-step error variance; it ignores the uncertainty of the fitted line. */
        smooth_fit combined = fit;
        combined.sigma2 = sse / (double)n;
        smooth_forecast(&combined, h, p->level, out);
        for (size_t k = 0; k < h; k++) {
            double shift = 0.5 * (a + b * (double)(n + k + 1)) - 0.5 * fit.level;
            out->mean[k] += shift;
            if (out->lower != NULL && out->upper != NULL) {
                out->lower[k] += shift;
                out->upper[k] += shift;
            }
        }
    }
    cdnopt_free(theta_line);
    return rc;
}

/* Comb: the mean of SES, Holt and damped, point forecasts and bounds alike. */
static int forecast_comb(const double *x, size_t n, size_t h, const cdnopt_baseline_params *p,
                         cdnopt_interval_forecast *out, char *err)
{
    bool bounds = out->lower != NULL && out->upper != NULL;
    double *buffer = cdnopt_malloc(3 * h * sizeof *buffer);
    if (buffer == NULL)
        return cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory for horizon %zu", h);
    cdnopt_interval_forecast part = {buffer, bounds ? buffer + h : NULL,
                                     bounds ? buffer + 2 * h : NULL};
    memset(out->mean, 0, h * sizeof *out->mean);
    if (bounds) {
        memset(out->lower, 0, h * sizeof *out->lower);
        memset(out->upper, 0, h * sizeof *out->upper);
    }

    /* NOTE: averaging the three bounds is a heuristic. It has no model behind it, so its
     * coverage is only what the M4 validation run measures. */
    const trend_kind kinds[] = {TREND_NONE, TREND_LINEAR, TREND_DAMPED};
    int rc = CDNOPT_OK;
    for (size_t i = 0; i < 3 && rc == CDNOPT_OK; i++) {
        rc = forecast_smoothing(x, n, kinds[i], h, p, &part, err);
        for (size_t k = 0; k < h && rc == CDNOPT_OK; k++) {
            out->mean[k] += part.mean[k] / 3.0;
            if (bounds) {
                out->lower[k] += part.lower[k] / 3.0;
                out->upper[k] += part.upper[k] / 3.0;
            }
        }
    }
    cdnopt_free(buffer);
    return rc;
}

static int forecast_adjusted(const double *x, size_t n, size_t h, const cdnopt_baseline_params *p,
                             cdnopt_interval_forecast *out, char *err)
{
    switch (p->method) {
    case CDNOPT_BASELINE_SES:
        return forecast_smoothing(x, n, TREND_NONE, h, p, out, err);
    case CDNOPT_BASELINE_HOLT:
        return forecast_smoothing(x, n, TREND_LINEAR, h, p, out, err);
    case CDNOPT_BASELINE_DAMPED:
        return forecast_smoothing(x, n, TREND_DAMPED, h, p, out, err);
    case CDNOPT_BASELINE_THETA:
        return forecast_theta(x, n, h, p, out, err);
    case CDNOPT_BASELINE_COMB:
        return forecast_comb(x, n, h, p, out, err);
    default:
        return cdnopt_fail(err, CDNOPT_EINVAL, "method %d is not a smoothing method",
                           (int)p->method);
    }
}

int cdnopt__smoothing_forecast(const cdnopt_baseline_params *p, const double *y, size_t n,
                               size_t h, cdnopt_interval_forecast *out, char *err)
{
    double *adjusted = cdnopt_malloc((n + h) * sizeof *adjusted);
    if (adjusted == NULL)
        return cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory for %zu values", n);
    double *factor = adjusted + n;

    int rc = cdnopt__deseasonalise(y, n, p->period, h, adjusted, factor, err);
    if (rc == CDNOPT_OK)
        rc = forecast_adjusted(adjusted, n, h, p, out, err);
    for (size_t k = 0; k < h && rc == CDNOPT_OK; k++) {
        out->mean[k] *= factor[k];
        if (out->lower != NULL && out->upper != NULL) {
            out->lower[k] *= factor[k];
            out->upper[k] *= factor[k];
        }
    }
    cdnopt_free(adjusted);
    return rc;
}
