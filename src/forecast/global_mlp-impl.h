/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internals of the global MLP shared by its data and training files: the series as
 * training reads them and the building of one normalised example.
 */
#ifndef CDNOPT_GLOBAL_MLP_IMPL_H
#define CDNOPT_GLOBAL_MLP_IMPL_H

#include "cdnopt/global_mlp.h"

#include <stdbool.h>
#include <stddef.h>

/** Series of one set as the training loop reads them; values are borrowed. */
typedef struct mlp_data {
    size_t n_series;
    const double *const *values; /* oldest first */
    const size_t *length;        /* values per series */
    size_t fit_end_offset;       /* last steps of every series held out of training (the
                                    horizon), 0 when training on everything */
} mlp_data;

/** One example: the normalised window, its level and seasonal base, the targets. */
typedef struct mlp_example {
    float *x;      /* [window] inputs: value / level - 1 */
    float *actual; /* [horizon] value / level, or NULL when not known */
    double *base;  /* [horizon] seasonal naive base, series units */
    double level;  /* series units per unit of x and actual */
} mlp_example;

/**
 * Fill example ex for the origin `origin` of series v (n values): the window is the
 * `window` values before origin and the targets the `horizon` values from origin on
 * (when ex->actual is not NULL, origin + horizon <= n). Steps before the series' start
 * repeat its first period. Requires period <= origin <= n.
 */
void cdnopt__global_mlp_example(const cdnopt_global_mlp_params *p, size_t window,
                                const double *v, size_t n, size_t origin, mlp_example *ex);

/**
 * Return the mean absolute change over `period` steps of the n values of v, the
 * series' MASE scale; the mean |v| when that is 0, and 1 when both are 0.
 */
double cdnopt__global_mlp_scale(const double *v, size_t n, size_t period);

/**
 * Set symmetric bounds around the final forecasts fc [n_series, horizon] from the
 * errors of the held-out forecasts held_out_fc [2, n_series, horizon]. Block 0 starts
 * 2 * horizon steps before each series' end and block 1 horizon steps before it. Each
 * error is |actual - forecast| divided by the series' MASE scale (period
 * p->period) over the values before its block. The half-width of step k is the
 * p->level quantile of the errors pooled over both blocks, all series and the steps
 * within p->calib_steps_pooled of k; lower and upper [n_series, horizon] receive fc
 * -+ that half-width times the series' MASE scale over all its values.
 * Returns CDNOPT_OK or CDNOPT_ENOMEM.
 */
int cdnopt__global_mlp_calibrate(const cdnopt_global_mlp_params *p, const mlp_data *d,
                                 const double *held_out_fc, const double *fc, double *lower,
                                 double *upper);

#endif /* CDNOPT_GLOBAL_MLP_IMPL_H */
