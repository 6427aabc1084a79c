/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Data side of the global MLP: its defaults, the per-window level and seasonal base,
 * the mean absolute error loss, and the building of one normalised example.
 */
#include "global_mlp-impl.h"

#include <math.h>

cdnopt_global_mlp_params cdnopt_global_mlp_params_default(void)
{
    return (cdnopt_global_mlp_params){
        .windows = {336, 168, 96},
        .n_windows = 3,
        .horizon = 48,
        .period = 24,
        .level_steps = 24,
        .hidden = 256,
        .n_hidden_layers = 2,
        .members = 12,
        .epochs = 80,
        .windows_per_epoch = 65536,
        .batch = 256,
        .patience = 8,
        .lr = 1e-3f,
        .loss = CDNOPT_GLOBAL_MLP_LOSS_RELATIVE,
        .lr_plateau = 3,
        .refit = true,
        .level = 0.95,
        .calib_steps_pooled = 6,
        .seed = 1,
    };
}

double cdnopt_global_mlp_level(const double *window, size_t n, size_t level_steps)
{
    size_t count = level_steps < n ? level_steps : n;
    double sum = 0.0;
    for (size_t i = n - count; i < n; i++)
        sum += fabs(window[i]);
    double level = count > 0 ? sum / (double)count : 0.0;
    return level > 0.0 && isfinite(level) ? level : 1.0;
}

void cdnopt_global_mlp_base(const double *window, size_t n, size_t period, size_t h,
                            double *base)
{
    for (size_t k = 0; k < h; k++)
        base[k] = window[n - period + k % period];
}

double cdnopt_global_mlp_mae(const float *pred, const float *target, size_t n, float *grad)
{
    double sum = 0.0;
    float step = n > 0 ? 1.0f / (float)n : 0.0f;
    for (size_t i = 0; i < n; i++) {
        float diff = pred[i] - target[i];
        sum += fabs((double)diff);
        if (grad != NULL)
            grad[i] = diff > 0.0f ? step : (diff < 0.0f ? -step : 0.0f);
    }
    return n > 0 ? sum / (double)n : 0.0;
}

double cdnopt_global_mlp_smape(const float *f, const float *y, size_t n, float *grad)
{
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        double fi = (double)f[i], yi = (double)y[i];
        double denom = fabs(fi) + fabs(yi);
        double diff = fi - yi;
        double term = denom > 0.0 ? 2.0 * fabs(diff) / denom : 0.0;
        sum += term;
        if (grad == NULL)
            continue;

        /* d/df of 2 |f - y| / (|f| + |y|) by the quotient rule. */
        double sign_diff = diff > 0.0 ? 1.0 : (diff < 0.0 ? -1.0 : 0.0);
        double sign_f = fi > 0.0 ? 1.0 : (fi < 0.0 ? -1.0 : 0.0);
        double d = denom > 0.0 && diff != 0.0
                       ? 2.0 * (sign_diff * denom - fabs(diff) * sign_f) / (denom * denom)
                       : 0.0;
        grad[i] = (float)(d / (double)n);
    }
    return n > 0 ? sum / (double)n : 0.0;
}

double cdnopt_global_mlp_relative_mae(const float *f, const float *base, const float *y,
                                      const float *w, size_t n, float *grad)
{
    double error = 0.0, error_base = 0.0, weighted = 0.0, weighted_base = 0.0;
    for (size_t i = 0; i < n; i++) {
        double diff = fabs((double)f[i] - (double)y[i]);
        double diff_base = fabs((double)base[i] - (double)y[i]);
        error += diff;
        error_base += diff_base;
        weighted += (double)w[i] * diff;
        weighted_base += (double)w[i] * diff_base;
    }
    error_base = error_base > 0.0 ? error_base : 1.0;
    weighted_base = weighted_base > 0.0 ? weighted_base : 1.0;

    for (size_t i = 0; i < n && grad != NULL; i++) {
        double sign = f[i] > y[i] ? 1.0 : (f[i] < y[i] ? -1.0 : 0.0);
        grad[i] = (float)(0.5 * sign * (1.0 / error_base + (double)w[i] / weighted_base));
    }
    return 0.5 * (error / error_base + weighted / weighted_base);
}

/* Value of step i of a series of n values; steps before 0 repeat the first period. */
static double value_at(const double *v, size_t n, size_t period, long i)
{
    if (i >= 0)
        return v[i];
    long p = (long)(period <= n ? period : n);
    long back = ((-i - 1) / p + 1) * p;
    return v[i + back];
}

void cdnopt__global_mlp_example(const cdnopt_global_mlp_params *p, size_t window,
                                const double *v, size_t n, size_t origin, mlp_example *ex)
{
    size_t period = (size_t)p->period;
    size_t horizon = (size_t)p->horizon;

    /* The level and the base read the observed values before origin, never padding. */
    size_t level_steps = (size_t)p->level_steps < origin ? (size_t)p->level_steps : origin;
    ex->level = cdnopt_global_mlp_level(v + origin - level_steps, level_steps, level_steps);
    cdnopt_global_mlp_base(v, origin, period, horizon, ex->base);

    for (size_t j = 0; j < window; j++) {
        long i = (long)origin - (long)window + (long)j;
        ex->x[j] = (float)(value_at(v, n, period, i) / ex->level - 1.0);
    }
    if (ex->actual != NULL)
        for (size_t k = 0; k < horizon; k++)
            ex->actual[k] = (float)(v[origin + k] / ex->level);
}

double cdnopt__global_mlp_scale(const double *v, size_t n, size_t period)
{
    double change = 0.0;
    for (size_t i = period; i < n; i++)
        change += fabs(v[i] - v[i - period]);
    if (n > period && change > 0.0)
        return change / (double)(n - period);

    double mean = 0.0;
    for (size_t i = 0; i < n; i++)
        mean += fabs(v[i]);
    return mean > 0.0 ? mean / (double)n : 1.0;
}
