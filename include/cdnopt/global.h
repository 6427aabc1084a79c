/* SPDX-License-Identifier: Apache-2.0 */
/*
 * global: one forecasting model trained over many series at once (regions, nodes,
 * customers, or the 414 series of M4 Hourly). Part of the forecast module.
 *
 * Every series is scaled by a scaler of its own, fitted on that series' training span
 * (min-max to [0, 1], or division by its mean), so series of very different sizes
 * share one network. The model itself keeps the identity scaler. Optionally the
 * scaled series is differenced at a seasonal period d (x[i] - x[i - d]), so that the
 * network forecasts the change from one period earlier and a forecast of zero change
 * is the seasonal naive forecast. Training windows
 * never cross from one series into the next. Each epoch draws its windows uniformly
 * over all windows of all series, or first a series uniformly and then a window in
 * it. The network does not see a series id.
 *
 * A global model is a cdnopt_model with an extra /global group in its HDF5 file that
 * records the scaling, so `cdnopt forecast` applies it to each series the same way.
 * Intervals are MC dropout, calibrated by split conformal per horizon step on forecasts
 * of the last `calib_steps` of every series, pooled over all series.
 *
 * Usage:
 *     cdnopt_global_params gp = cdnopt_global_params_default();
 *     gp.model.window = 168;
 *     cdnopt_model *m = NULL;
 *     cdnopt_calibration cal;
 *     cdnopt_global_train(&gp, series, n_series, 3600, NULL, NULL, &m, &cal, err);
 *     cdnopt_global_forecasts fc = {0};
 *     cdnopt_global_forecast_all(m, &gp, &cal, series, n_series, 48, &fc, err);
 *     ... fc.mean->values[i][k] is series i at step k after its end ...
 *     cdnopt_m4_forecasts_fini(&fc);
 *
 * Limitations:
 * - The scaler is fitted once per series on its whole training span, not per window,
 *   so a series whose level drifts far outside that span leaves the range the network
 *   saw in training.
 * - Series must all have the model's step. With calendar inputs on they also need
 *   real civil times; wide files (M4) have none, so train on them with calendar off.
 * - The whole training set is held in memory as feature rows (series x steps x
 *   channels floats).
 * - The direct head (model.head = CDNOPT_HEAD_DIRECT) trains on blocks of targets
 *   inside one series. The shrinking of its correction that cdnopt_model_fit()
 *   applies after the epochs is not applied here.
 * - Training runs in one process: the MPI hooks of cdnopt_model_set_fit_hooks() are
 *   not used, though the batches are still split over threads.
 * - The network does not see which series a window comes from (no id embedding).
 */
#ifndef CDNOPT_GLOBAL_H
#define CDNOPT_GLOBAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cdnopt/m4.h"
#include "cdnopt/model.h"
#include "cdnopt/pipeline.h"
#include "cdnopt/series.h"

/** Per-series scaling. Values are written to model files: append only. */
typedef enum cdnopt_global_norm {
    CDNOPT_GLOBAL_NORM_MINMAX = 1, /* (v - min) / (max - min) of the training span */
    CDNOPT_GLOBAL_NORM_MEAN = 2,   /* v / mean of |v| over the training span */
    CDNOPT_GLOBAL_NORM_CHANGE = 3, /* v / mean |v[i] - v[i - p]| over the training span, with
                                      p the seasonal_diff period (one day of steps without
                                      it): the seasonal naive error, MASE's scale */
} cdnopt_global_norm;

/** Rule for drawing the training windows of an epoch. */
typedef enum cdnopt_global_sampling {
    CDNOPT_GLOBAL_SAMPLE_WINDOWS = 1, /* uniform over all windows: long series weigh more */
    CDNOPT_GLOBAL_SAMPLE_SERIES = 2,  /* a series uniformly, then a window of it */
} cdnopt_global_sampling;

/** Settings of global training; start from cdnopt_global_params_default(). */
typedef struct cdnopt_global_params {
    cdnopt_model_params model;       /* network and optimiser; model.max_windows is the number
                                        of windows per epoch (0 = every window once) and
                                        model.val_fraction the share of each series' training
                                        span whose targets validate */
    cdnopt_global_norm norm;         /* per-series scaling, default MEAN */
    cdnopt_global_sampling sampling; /* window draw, default WINDOWS */
    int seasonal_diff;               /* period d in steps of the differencing of the scaled
                                        series, 0 = none (default) */
    int calib_steps;                 /* last steps of each series held out of training for the
                                        pooled calibration, default 48; 0 = no calibration */
    int n_samples;                   /* MC-dropout paths per forecast, default 50 */
    double level;                    /* nominal interval coverage, default 0.95 */
    uint64_t seed;                   /* seed of the MC paths, default 1 */
} cdnopt_global_params;

/** Return the defaults listed in the field comments (model: residual LSTM, calendar off). */
cdnopt_global_params cdnopt_global_params_default(void);

/** Scaler of one series: scaled = (v - offset) / scale. */
typedef struct cdnopt_global_scaler {
    double offset; /* series units */
    double scale;  /* series units per scaled unit, > 0 */
} cdnopt_global_scaler;

/**
 * Fit a scaler to the n values of v. period is the lag of NORM_CHANGE (values below 1
 * mean 1) and is ignored by the others. A constant span (or a scale of 0) gets scale 1
 * so that nothing divides by zero.
 */
cdnopt_global_scaler cdnopt_global_scaler_fit(cdnopt_global_norm norm, int period, const double *v,
                                              size_t n);

/** Scale a value in series units. */
double cdnopt_global_scale(const cdnopt_global_scaler *s, double v);

/** Undo cdnopt_global_scale(). */
double cdnopt_global_unscale(const cdnopt_global_scaler *s, double x);

/**
 * Train model m (built with cdnopt_model_new(), calendar off unless the series have
 * real times) on the first train_n[i] steps of every series i. Early stopping and
 * the kept weights follow cdnopt_model_fit(), with the validation loss taken over the
 * last model.val_fraction of every series' span.
 *
 * @param m         model to train; its scaler is set to the identity
 * @param gp        settings; gp->model must equal the parameters m was built with
 * @param series    n_series series with m's step; borrowed
 * @param train_n   steps of each series to train on, or NULL for all of them
 * @param cb        called once per epoch, may be NULL
 * @param err       CDNOPT_ERRMSG_MAX bytes for a message naming the series, or NULL
 * @return CDNOPT_OK, CDNOPT_EINVAL (wrong step, a series too short for a window and
 *         its validation span, non-finite values), CDNOPT_ENUMERIC, CDNOPT_ENOMEM
 */
int cdnopt_global_fit(cdnopt_model *m, const cdnopt_global_params *gp,
                      cdnopt_series *const *series, size_t n_series, const size_t *train_n,
                      cdnopt_epoch_cb cb, void *user, char *err);

/** A trained global model with its transform; the model is borrowed. */
typedef struct cdnopt_global_model {
    const cdnopt_model *model;  /* trained by cdnopt_global_fit() or loaded */
    cdnopt_global_norm norm;    /* the scaling it was trained with */
    int seasonal_diff;          /* the differencing period it was trained with, 0 = none */
    int change_period;          /* lag of NORM_CHANGE, from cdnopt_global_change_period() */
} cdnopt_global_model;

/**
 * Return the lag of NORM_CHANGE scaling: the seasonal_diff period, or one day of the
 * model's steps without differencing.
 */
int cdnopt_global_change_period(const cdnopt_model *m, const cdnopt_global_params *gp);

/**
 * Write the model values of v[0..n): scaled by sc, then differenced at period d.
 * out receives n - d values (none when n <= d); out[i - d] belongs to step i.
 */
void cdnopt_global_to_model(const cdnopt_global_scaler *sc, int d, const double *v, size_t n,
                            double *out);

/**
 * Turn h model values that follow step end of v back into series units, in place:
 * undo the differencing with v (or the path's own earlier steps), then the scaling.
 */
void cdnopt_global_from_model(const cdnopt_global_scaler *sc, int d, const double *v, size_t end,
                              double *path, size_t h);

/**
 * Wrap a global model as a sampler: each call fits the series' scaler on the history
 * before end, scales that history, rolls the model out and unscales the paths.
 * Borrows g, which must outlive the sampler.
 */
cdnopt_sampler cdnopt_global_sampler(const cdnopt_global_model *g);

/**
 * Build a model from gp, hold the last gp->calib_steps of every series out, fit on
 * the rest, and calibrate the intervals on forecasts of the held-out steps pooled over
 * all series (gp->calib_steps must then be >= 1; each series' held-out steps form one
 * origin). With calib_steps = 0 the model trains on everything and cal stays neutral.
 *
 * @param out  receives the model; the caller frees it with cdnopt_model_free()
 * @param cal  OUT: calibration of horizon calib_steps; free with cdnopt_calibration_fini()
 * @return CDNOPT_OK or an error of building, training or sampling
 */
int cdnopt_global_train(const cdnopt_global_params *gp, cdnopt_series *const *series,
                        size_t n_series, int64_t step_s, cdnopt_epoch_cb cb, void *user,
                        cdnopt_model **out, cdnopt_calibration *cal, char *err);

/** Forecasts of a set of series: mean, lower and upper, one row per series in input order. */
typedef cdnopt_m4_forecasts cdnopt_global_forecasts;

/**
 * Forecast `horizon` steps after the last sample of every series, with calibrated
 * bounds (raw mean +- z sd when cal is NULL). Row i of each set has the id series[i]->name.
 * @param out  OUT: free with cdnopt_m4_forecasts_fini()
 */
int cdnopt_global_forecast_all(const cdnopt_model *m, const cdnopt_global_params *gp,
                               const cdnopt_calibration *cal, cdnopt_series *const *series,
                               size_t n_series, int horizon, cdnopt_global_forecasts *out,
                               char *err);

/**
 * Run the global model on an M4-style set: hold out the last h values of every series
 * for calibration, train on the rest, calibrate, and forecast h steps after each
 * series' end. Series get t = i * step_s. gp->calib_steps is replaced by h.
 * @param out  OUT: forecasts in the set's order; free with cdnopt_m4_forecasts_fini()
 */
int cdnopt_global_m4_forecast(const cdnopt_m4_set *in_sample, size_t h, int64_t step_s,
                              const cdnopt_global_params *gp, cdnopt_epoch_cb cb, void *user,
                              cdnopt_m4_forecasts *out, char *err);

/**
 * Write the /global group (attributes format_version 1, norm, seasonal_diff) into an existing
 * model file, replacing an older group.
 * @return CDNOPT_OK or CDNOPT_EIO naming path
 */
int cdnopt_global_info_save(const cdnopt_global_params *gp, const char *path, char *err);

/**
 * Read the /global group of a model file into gp->norm and gp->seasonal_diff (0 when
 * the attribute is absent).
 * @return CDNOPT_OK, CDNOPT_ENOTFOUND when the file has no /global group (a single-series
 *         model), CDNOPT_EIO, CDNOPT_EPARSE for an unknown norm value
 */
int cdnopt_global_info_load(const char *path, cdnopt_global_params *gp, char *err);

/**
 * Reject a global model where a single-series model is expected. A global model scales
 * each series by its own /global settings, so code that runs it as a single-series
 * model forecasts on the wrong scale and with intervals far too narrow.
 * @param path    model file, already loaded with cdnopt_model_load()
 * @param option  the flag that received path, such as "--model", for the message
 * @return CDNOPT_OK for a single-series model; CDNOPT_EINVAL for a global model, with a
 *         message naming path and what to use instead; CDNOPT_EIO or CDNOPT_EPARSE
 *         when the file cannot be read
 */
int cdnopt_global_model_reject(const char *path, const char *option, char *err);

/** Parse "minmax", "mean" or "change". @return CDNOPT_OK or CDNOPT_EINVAL with the choices */
int cdnopt_global_norm_parse(const char *text, cdnopt_global_norm *out, char *err);

/** Parse "windows" or "series". @return CDNOPT_OK or CDNOPT_EINVAL with the choices in err */
int cdnopt_global_sampling_parse(const char *text, cdnopt_global_sampling *out, char *err);

#endif /* CDNOPT_GLOBAL_H */
