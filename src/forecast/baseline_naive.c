/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Naive, seasonal naive and M4's Naive2, with M4's seasonality test and classical
 * multiplicative decomposition. All three share one interval rule: at a step k seasons
 * ahead, the interval is the point forecast plus empirical quantiles of the in-sample
 * differences y_t - y_{t-k m} (m = 1 for Naive), so the width grows with the horizon
 * in whole seasons.
 */
#include "stats-impl.h"

#include <math.h>
#include <string.h>

/* Fewer differences than this make empirical tail quantiles meaningless. */
#define MIN_DIFFERENCES 20

/*
 * Quantiles (lo, hi) of the lag differences x_t - x_{t-lag} of n values. When the
 * series is too short for that lag, the lag-m1 quantiles grow by sqrt(lag / m1), the
 * random-walk rule, where m1 is the base lag.
 */
static void difference_quantiles(const double *x, size_t n, size_t lag, size_t base_lag,
                                 double level, double *scratch, double *lo, double *hi)
{
    double tail = 0.5 * (1.0 - level);
    if (n >= lag + MIN_DIFFERENCES || lag == base_lag) {
        size_t count = 0;
        for (size_t t = lag; t < n; t++)
            scratch[count++] = x[t] - x[t - lag];
        *lo = cdnopt__quantile_select(scratch, count, tail);
        *hi = cdnopt__quantile_select(scratch, count, 1.0 - tail);
        return;
    }
    difference_quantiles(x, n, base_lag, base_lag, level, scratch, lo, hi);
    double growth = sqrt((double)lag / (double)base_lag);
    *lo *= growth;
    *hi *= growth;
}

/*
 * Fill mean with the seasonal naive forecast of x at period m (m = 1 gives Naive) and,
 * when asked, the bounds from k-season differences. factor (or NULL) multiplies all
 * three per step, which Naive2 uses to re-seasonalise.
 */
static int seasonal_naive(const double *x, size_t n, size_t m, size_t h, double level,
                          const double *factor, cdnopt_interval_forecast *out, char *err)
{
    for (size_t k = 0; k < h; k++)
        out->mean[k] = x[n - m + k % m];
    if (out->lower == NULL || out->upper == NULL)
        goto scale;

    double *scratch = cdnopt_malloc(n * sizeof *scratch);
    if (scratch == NULL)
        return cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory for %zu differences", n);

    /* Steps within the same season ahead share one pair of quantiles. */
    size_t cached_seasons = 0;
    double lo = 0.0, hi = 0.0;
    for (size_t k = 0; k < h; k++) {
        size_t seasons = k / m + 1;
        if (seasons != cached_seasons) {
            difference_quantiles(x, n, seasons * m, m, level, scratch, &lo, &hi);
            cached_seasons = seasons;
        }
        out->lower[k] = out->mean[k] + lo;
        out->upper[k] = out->mean[k] + hi;
    }
    cdnopt_free(scratch);

scale:
    if (factor == NULL)
        return CDNOPT_OK;
    for (size_t k = 0; k < h; k++) {
        out->mean[k] *= factor[k];
        if (out->lower != NULL && out->upper != NULL) {
            out->lower[k] *= factor[k];
            out->upper[k] *= factor[k];
        }
    }
    return CDNOPT_OK;
}

int cdnopt__naive_forecast(const cdnopt_baseline_params *p, const double *y, size_t n, size_t h,
                           cdnopt_interval_forecast *out, char *err)
{
    return seasonal_naive(y, n, 1, h, p->level, NULL, out, err);
}

int cdnopt__snaive_forecast(const cdnopt_baseline_params *p, const double *y, size_t n,
                            size_t h, cdnopt_interval_forecast *out, char *err)
{
    return seasonal_naive(y, n, p->period, h, p->level, NULL, out, err);
}

/* ------------------------------------------------------------------------- */
/* Seasonality test and decomposition                                        */
/* ------------------------------------------------------------------------- */

/* Sample autocorrelation at lag k with the full-series mean and variance denominator. */
static double autocorrelation(const double *y, size_t n, double mean, double denominator,
                              size_t k)
{
    double sum = 0.0;
    for (size_t t = 0; t + k < n; t++)
        sum += (y[t] - mean) * (y[t + k] - mean);
    return sum / denominator;
}

bool cdnopt_seasonality_test(const double *y, size_t n, size_t m)
{
    if (m < 2 || n < 3 * m)
        return false;

    double mean = 0.0;
    for (size_t t = 0; t < n; t++)
        mean += y[t] / (double)n;
    double denominator = 0.0;
    for (size_t t = 0; t < n; t++)
        denominator += (y[t] - mean) * (y[t] - mean);
    if (!(denominator > 0.0))
        return false;

    /* 90% one-sided critical value with Bartlett's variance for the lag-m estimate. */
    double sum_squares = 0.0;
    for (size_t k = 1; k < m; k++) {
        double r = autocorrelation(y, n, mean, denominator, k);
        sum_squares += r * r;
    }
    double limit = 1.645 / sqrt((double)n) * sqrt(1.0 + 2.0 * sum_squares);
    return fabs(autocorrelation(y, n, mean, denominator, m)) > limit;
}

/* Centred moving average of order m (2 x m for even m) at t; the caller keeps t in range. */
static double centred_average(const double *y, size_t t, size_t m)
{
    size_t half = m / 2;
    double sum = 0.0;
    if (m % 2 == 1) {
        for (size_t i = t - half; i <= t + half; i++)
            sum += y[i];
        return sum / (double)m;
    }

    /* Even m: the two end points get half weight so the window stays centred on t. */
    sum = 0.5 * (y[t - half] + y[t + half]);
    for (size_t i = t - half + 1; i < t + half; i++)
        sum += y[i];
    return sum / (double)m;
}

int cdnopt_seasonal_indices(const double *y, size_t n, size_t m, double *index, char *err)
{
    if (m < 2 || n < 2 * m)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "decomposition needs 2 full seasons: %zu values for period %zu", n,
                           m);

    size_t half = m / 2;
    double *sum = cdnopt_calloc(m, sizeof *sum);
    size_t *count = cdnopt_calloc(m, sizeof *count);
    int rc = CDNOPT_OK;
    if (sum == NULL || count == NULL) {
        rc = cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory for %zu seasonal indices", m);
        goto done;
    }

    /* Average the ratio of each value to its trend per position in the season. */
    for (size_t t = half; t + half < n; t++) {
        double trend = centred_average(y, t, m);
        if (!(trend > 0.0)) {
            rc = cdnopt_fail(err, CDNOPT_EINVAL,
                             "trend at value %zu is %g; multiplicative decomposition "
                             "needs positive values",
                             t, trend);
            goto done;
        }
        sum[t % m] += y[t] / trend;
        count[t % m]++;
    }

    double total = 0.0;
    for (size_t i = 0; i < m; i++) {
        index[i] = sum[i] / (double)count[i];
        total += index[i];
    }
    for (size_t i = 0; i < m; i++)
        index[i] *= (double)m / total;

done:
    cdnopt_free(sum);
    cdnopt_free(count);
    return rc;
}

/* ------------------------------------------------------------------------- */
/* Naive2                                                                    */
/* ------------------------------------------------------------------------- */

static bool all_positive(const double *y, size_t n)
{
    for (size_t t = 0; t < n; t++)
        if (!(y[t] > 0.0))
            return false;
    return true;
}

int cdnopt__deseasonalise(const double *y, size_t n, size_t m, size_t h, double *adjusted,
                          double *factor, char *err)
{
    if (!cdnopt_seasonality_test(y, n, m) || !all_positive(y, n)) {
        memcpy(adjusted, y, n * sizeof *y);
        for (size_t k = 0; k < h; k++)
            factor[k] = 1.0;
        return CDNOPT_OK;
    }

    double *index = cdnopt_malloc(m * sizeof *index);
    if (index == NULL)
        return cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory for %zu seasonal indices", m);
    int rc = cdnopt_seasonal_indices(y, n, m, index, err);
    if (rc == CDNOPT_OK) {
        for (size_t t = 0; t < n; t++)
            adjusted[t] = y[t] / index[t % m];
        for (size_t k = 0; k < h; k++)
            factor[k] = index[(n + k) % m];
    }
    cdnopt_free(index);
    return rc;
}

/* Naive2 as in the M4 benchmarks: the naive forecast of the seasonally adjusted series. */
int cdnopt__naive2_forecast(const cdnopt_baseline_params *p, const double *y, size_t n,
                            size_t h, cdnopt_interval_forecast *out, char *err)
{
    double *adjusted = cdnopt_malloc((n + h) * sizeof *adjusted);
    if (adjusted == NULL)
        return cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory for Naive2 of %zu values", n);
    double *factor = adjusted + n;

    int rc = cdnopt__deseasonalise(y, n, p->period, h, adjusted, factor, err);
    if (rc == CDNOPT_OK)
        rc = seasonal_naive(adjusted, n, 1, h, p->level, factor, out, err);
    cdnopt_free(adjusted);
    return rc;
}
