/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Forecast accuracy metrics over plain arrays. Definitions follow the M4 competition:
 * sMAPE in percent, MASE with the seasonal in-sample scale, MSIS for a (1 - alpha)
 * interval and OWA as the ratio of set means to Naive2's. The M4 Hourly test pins
 * sMAPE and MASE against the competition's figures.
 */
#include "cdnopt/stats.h"

#include <math.h>

double cdnopt_metric_mae(const double *y, const double *f, size_t h)
{
    if (h == 0)
        return NAN;
    double sum = 0.0;
    for (size_t i = 0; i < h; i++)
        sum += fabs(y[i] - f[i]);
    return sum / (double)h;
}

double cdnopt_metric_rmse(const double *y, const double *f, size_t h)
{
    if (h == 0)
        return NAN;
    double sum = 0.0;
    for (size_t i = 0; i < h; i++)
        sum += (y[i] - f[i]) * (y[i] - f[i]);
    return sqrt(sum / (double)h);
}

double cdnopt_metric_smape(const double *y, const double *f, size_t h)
{
    if (h == 0)
        return NAN;
    double sum = 0.0;
    for (size_t i = 0; i < h; i++) {
        double denominator = fabs(y[i]) + fabs(f[i]);

        /* Both zero: a perfect forecast of zero, counted as no error (the M4 scripts'
         * formula would divide 0 by 0 here). */
        if (denominator > 0.0)
            sum += fabs(y[i] - f[i]) / denominator;
    }
    return 200.0 * sum / (double)h;
}

double cdnopt_metric_mase_scale(const double *x, size_t n, size_t m)
{
    if (m == 0 || n <= m)
        return NAN;
    double sum = 0.0;
    for (size_t t = m; t < n; t++)
        sum += fabs(x[t] - x[t - m]);
    return sum / (double)(n - m);
}

double cdnopt_metric_mase(const double *y, const double *f, size_t h, double scale)
{
    if (h == 0 || !(scale > 0.0))
        return NAN;
    return cdnopt_metric_mae(y, f, h) / scale;
}

double cdnopt_metric_coverage(const double *y, const double *lower, const double *upper,
                              size_t h)
{
    if (h == 0)
        return NAN;
    size_t inside = 0;
    for (size_t i = 0; i < h; i++)
        inside += (y[i] >= lower[i] && y[i] <= upper[i]);
    return (double)inside / (double)h;
}

double cdnopt_metric_mean_width(const double *lower, const double *upper, size_t h)
{
    if (h == 0)
        return NAN;
    double sum = 0.0;
    for (size_t i = 0; i < h; i++)
        sum += upper[i] - lower[i];
    return sum / (double)h;
}

double cdnopt_metric_msis(const double *y, const double *lower, const double *upper, size_t h,
                          double scale, double alpha)
{
    if (h == 0 || !(scale > 0.0) || !(alpha > 0.0))
        return NAN;
    double sum = 0.0;
    for (size_t i = 0; i < h; i++) {
        sum += upper[i] - lower[i];

        /* Each miss costs 2/alpha times its distance to the violated bound. */
        if (y[i] < lower[i])
            sum += 2.0 / alpha * (lower[i] - y[i]);
        if (y[i] > upper[i])
            sum += 2.0 / alpha * (y[i] - upper[i]);
    }
    return sum / (double)h / scale;
}

double cdnopt_metric_acd(double coverage, double nominal)
{
    return fabs(coverage - nominal);
}

double cdnopt_metric_owa(double smape, double mase, double smape_naive2, double mase_naive2)
{
    if (!(smape_naive2 > 0.0) || !(mase_naive2 > 0.0))
        return NAN;
    return 0.5 * (smape / smape_naive2 + mase / mase_naive2);
}

void cdnopt_scores_compute(const double *y, const cdnopt_interval_forecast *fc, size_t h,
                           double scale, double alpha, cdnopt_scores *out)
{
    out->mae = cdnopt_metric_mae(y, fc->mean, h);
    out->rmse = cdnopt_metric_rmse(y, fc->mean, h);
    out->smape = cdnopt_metric_smape(y, fc->mean, h);
    out->mase = cdnopt_metric_mase(y, fc->mean, h, scale);
    out->msis = NAN;
    out->coverage = NAN;
    out->width = NAN;
    if (fc->lower == NULL || fc->upper == NULL)
        return;
    out->msis = cdnopt_metric_msis(y, fc->lower, fc->upper, h, scale, alpha);
    out->coverage = cdnopt_metric_coverage(y, fc->lower, fc->upper, h);
    out->width = cdnopt_metric_mean_width(fc->lower, fc->upper, h);
}
