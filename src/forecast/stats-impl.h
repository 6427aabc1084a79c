/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internals shared by the baseline, calibration and M4 files of the forecast module:
 * a Nelder-Mead minimiser, empirical quantiles and the per-method entry points that
 * cdnopt_baseline_forecast() dispatches to.
 */
#ifndef CDNOPT_STATS_IMPL_H
#define CDNOPT_STATS_IMPL_H

#include "cdnopt/core.h"
#include "cdnopt/m4.h"
#include "cdnopt/stats.h"

#include <stddef.h>

/** Objective of the minimiser: x has the minimiser's dimension. */
typedef double (*cdnopt__objective)(const double *x, void *ctx);

/* Upper bound of the minimiser's dimension; the smoothing methods need at most 4. */
#define CDNOPT__NM_MAX_DIM 4

/**
 * Minimise f from x (in place, dim <= CDNOPT__NM_MAX_DIM) with the Nelder-Mead
 * simplex method, initial steps of size step per coordinate, for at most max_iter
 * iterations or until the simplex values differ by less than 1e-10 relative.
 * Returns the minimum found.
 */
double cdnopt__nelder_mead(cdnopt__objective f, void *ctx, double *x, size_t dim, double step,
                           int max_iter);

/** Quantile of sorted values at probability p (linear interpolation, R type 7). */
double cdnopt__quantile_sorted(const double *sorted, size_t n, double p);

/**
 * The same quantile as cdnopt__quantile_sorted of unsorted values, by selection in
 * O(n); reorders values.
 */
double cdnopt__quantile_select(double *values, size_t n, double p);

/** Sort n doubles ascending in place. */
void cdnopt__sort(double *values, size_t n);

/**
 * Create an empty M4 set with room for capacity series and a copy of path (may be
 * NULL). Returns NULL when out of memory; free with cdnopt_m4_set_free().
 */
cdnopt_m4_set *cdnopt__m4_set_new(size_t capacity, const char *path);

/**
 * Append a series with copies of id and of its n values, at line `line` of its file.
 * The set must have room for it. Returns CDNOPT_OK or CDNOPT_ENOMEM (set unchanged).
 */
int cdnopt__m4_set_append(cdnopt_m4_set *set, const char *id, const double *values, size_t n,
                          size_t line);

/** Logistic function 1 / (1 + exp(-x)), mapping the real line onto (0, 1). */
double cdnopt__logistic(double x);

/**
 * Seasonal adjustment of the M4 benchmarks: when y passes the seasonality test at
 * period m and is positive, adjusted = y / index and factor holds the indices of the
 * h steps after y; otherwise adjusted = y and factor = 1. adjusted has n slots.
 */
int cdnopt__deseasonalise(const double *y, size_t n, size_t m, size_t h, double *adjusted,
                          double *factor, char *err);

/* Per-method forecasters; p, y, n, h and out are already checked by the dispatcher. */
int cdnopt__naive_forecast(const cdnopt_baseline_params *p, const double *y, size_t n, size_t h,
                           cdnopt_interval_forecast *out, char *err);
int cdnopt__snaive_forecast(const cdnopt_baseline_params *p, const double *y, size_t n,
                            size_t h, cdnopt_interval_forecast *out, char *err);
int cdnopt__naive2_forecast(const cdnopt_baseline_params *p, const double *y, size_t n,
                            size_t h, cdnopt_interval_forecast *out, char *err);
int cdnopt__hw_forecast(const cdnopt_baseline_params *p, const double *y, size_t n, size_t h,
                        cdnopt_interval_forecast *out, char *err);
int cdnopt__smoothing_forecast(const cdnopt_baseline_params *p, const double *y, size_t n,
                               size_t h, cdnopt_interval_forecast *out, char *err);

#endif
