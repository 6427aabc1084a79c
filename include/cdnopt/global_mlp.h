/* SPDX-License-Identifier: Apache-2.0 */
/*
 * global_mlp: a global multi-layer perceptron over many series, normalised per window,
 * that corrects the seasonal naive forecast. Part of the forecast module.
 *
 * Every training example is one window of `window` steps of one series and the
 * `horizon` steps after it. The window's level is the mean |v| of its last
 * `level_steps` values, and the network's input is the window divided by that level,
 * minus 1. Its `horizon` outputs are a correction c added to the seasonal naive base
 * (the last `period` values repeated), in units of the level:
 *     forecast[k] = base[k] + level * c[k],   base[k] = v[end - period + k mod period]
 * The output layer starts at zero, so an untrained network returns the seasonal
 * naive forecast. The loss is the mean absolute error in units of the level (close to
 * sMAPE when the forecast is near the level) or sMAPE itself. Neither lets a few
 * spiky series dominate as a squared error does.
 *
 * Windows are drawn from anywhere in a series, not only its end: a series first
 * (uniformly), then an origin in it. The last 2 * horizon steps of every series are
 * held out of training. The first of these two blocks gives the validation loss that
 * stops training and picks the kept weights. Both blocks calibrate the intervals,
 * which are symmetric around the forecast. The half-width of a horizon step is the
 * `level` quantile of the absolute error over the series' mean absolute seasonal
 * difference. The quantile pools both blocks, all series and nearby steps. When
 * many series move the same way during one block, one-sided quantiles of that block
 * would follow the move, and these bounds do not. By default each member is then
 * retrained on every step for its best number of epochs, and that network forecasts.
 * Several members with their own seeds and window lengths are trained, and their
 * forecasts are combined by the median.
 *
 * Usage:
 *     cdnopt_global_mlp_params p = cdnopt_global_mlp_params_default();
 *     cdnopt_m4_forecasts fc = {0};
 *     cdnopt_global_mlp_m4_forecast(train_set, &p, NULL, NULL, &fc, err);
 *     ... fc.mean->values[i][k] is series i at step k after its end ...
 *     cdnopt_m4_forecasts_fini(&fc);
 *
 * Limitations:
 * - A window whose last level_steps values are all 0 gets level 1, so for series
 *   around 0 the input is not scale-free.
 * - Inputs that start before the first value of a series repeat the series' first
 *   period, so short series get made-up history.
 * - The calibration errors come from networks whose training data ends where the
 *   first block starts, so the second block's forecasts reach one horizon further
 *   than the retrained networks' do. The first block also picked the kept epoch, so
 *   its errors are likely a little small. Neither effect is measured apart.
 * - Symmetric bounds fit a skewed error distribution less tightly than one-sided
 *   quantiles would.
 * - Nothing is saved: the model lives for one call.
 */
#ifndef CDNOPT_GLOBAL_MLP_H
#define CDNOPT_GLOBAL_MLP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cdnopt/m4.h"
#include "cdnopt/model.h"

/** Maximum number of distinct member window lengths. */
#define CDNOPT_GLOBAL_MLP_MAX_WINDOWS 8

/** Training loss, on forecasts and actual values in units of the window's level. */
typedef enum cdnopt_global_mlp_loss {
    CDNOPT_GLOBAL_MLP_LOSS_MAE = 1,   /* mean absolute error */
    CDNOPT_GLOBAL_MLP_LOSS_SMAPE = 2, /* mean of 2 |f - y| / (|f| + |y|), as M4's sMAPE */
    CDNOPT_GLOBAL_MLP_LOSS_RELATIVE = 3, /* cdnopt_global_mlp_relative_mae(): the error in
                                            units of the level and in units of the window's
                                            seasonal change, each relative to the seasonal
                                            naive forecast's */
} cdnopt_global_mlp_loss;

/** Settings of the global MLP; start from cdnopt_global_mlp_params_default(). */
typedef struct cdnopt_global_mlp_params {
    int windows[CDNOPT_GLOBAL_MLP_MAX_WINDOWS]; /* input steps of the members, used in turn;
                                                   default 336, 168, 96 */
    int n_windows;          /* entries of windows, default 3 */
    int horizon;            /* output steps, default 48 */
    int period;             /* seasonal period of the base, steps, default 24 */
    int level_steps;        /* last input steps whose mean |v| is the level, default 24 */
    int hidden;             /* units per hidden layer, default 256 */
    int n_hidden_layers;    /* ReLU layers before the output, default 2 */
    int members;            /* networks in the ensemble, default 12 */
    int epochs;             /* maximum epochs per member, default 80 */
    int windows_per_epoch;  /* training windows drawn per epoch, default 65536 */
    int batch;              /* windows per gradient step, default 256 */
    int patience;           /* epochs without a better validation loss before stopping,
                               default 8 */
    float lr;               /* Adam learning rate, default 1e-3 */
    cdnopt_global_mlp_loss loss; /* training loss, default RELATIVE */
    int lr_plateau;         /* epochs without a better validation loss that halve the
                               learning rate, 0 = never, default 3 */
    bool refit;             /* forecast with networks retrained on every step (held-out
                               ones included) for the best epoch count, default true */
    double level;           /* nominal interval coverage, default 0.95 */
    int calib_steps_pooled; /* the bounds of step k pool the calibration errors of steps
                               k - this .. k + this, default 6 */
    uint64_t seed;          /* seed of member 0; member j uses seed + j, default 1 */
} cdnopt_global_mlp_params;

/** Return the defaults listed in the field comments. */
cdnopt_global_mlp_params cdnopt_global_mlp_params_default(void);

/**
 * Return the level of a window: the mean |v| of its last level_steps values (all of
 * them when there are fewer), or 1 when that mean is 0 or not finite.
 */
double cdnopt_global_mlp_level(const double *window, size_t n, size_t level_steps);

/**
 * Write the seasonal naive base of h steps after a window of n >= period values:
 * base[k] = window[n - period + k mod period].
 */
void cdnopt_global_mlp_base(const double *window, size_t n, size_t period, size_t h,
                            double *base);

/**
 * Mean absolute error of n predictions and its gradient: returns
 * sum |pred - target| / n and writes grad[i] = sign(pred - target) / n (0 where equal).
 * grad may be NULL.
 */
double cdnopt_global_mlp_mae(const float *pred, const float *target, size_t n, float *grad);

/**
 * sMAPE of n forecasts f against actual values y as a share (not percent): returns the
 * mean of 2 |f - y| / (|f| + |y|), with 0 for a pair where both are 0, and writes its
 * derivative by f[i] into grad[i] (0 where f = y or both are 0). grad may be NULL.
 */
double cdnopt_global_mlp_smape(const float *f, const float *y, size_t n, float *grad);

/**
 * Mean absolute error of forecasts f relative to that of a base forecast, averaged
 * over two weightings of the n values: returns
 *     0.5 (sum |f - y| / sum |base - y| + sum w |f - y| / sum w |base - y|)
 * and writes its derivative by f[i] into grad[i] (0 where f = y). A denominator of 0
 * counts as 1. With base the seasonal naive forecast, values in units of the level
 * and w = level / (mean absolute seasonal change), the two terms mirror the sMAPE and
 * MASE ratios of OWA with the seasonal naive in Naive2's place. grad may be NULL.
 */
double cdnopt_global_mlp_relative_mae(const float *f, const float *base, const float *y,
                                      const float *w, size_t n, float *grad);

/**
 * Train the ensemble on every series of in_sample and forecast p->horizon steps after
 * each series' end, with bounds at p->level.
 *
 * @param cb    called after every epoch of every member, or NULL. Epoch numbers
 *              restart per member, and the losses are p->loss in units of the level.
 * @param out   OUT: forecasts in the set's order; free with cdnopt_m4_forecasts_fini()
 * @param err   CDNOPT_ERRMSG_MAX bytes for a message naming the setting or series, or NULL
 * @return CDNOPT_OK, CDNOPT_EINVAL (bad settings, a series with fewer than
 *         period + 2 * horizon values), CDNOPT_ENUMERIC (non-finite loss or gradient),
 *         CDNOPT_ENOMEM
 */
int cdnopt_global_mlp_m4_forecast(const cdnopt_m4_set *in_sample,
                                  const cdnopt_global_mlp_params *p, cdnopt_epoch_cb cb,
                                  void *user, cdnopt_m4_forecasts *out, char *err);

#endif /* CDNOPT_GLOBAL_MLP_H */
