/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pipeline: the steps that turn a trained model into calibrated forecasts and an
 * evaluation, shared by the CLI (train, forecast, evaluate), the planner and the
 * service.
 *
 * - Point forecast and spread: the model's dropout-off path is the point forecast
 *   ("mean"), and the standard deviation sd of its Monte-Carlo (MC) dropout paths is
 *   the spread.
 * - Calibration: the model forecasts from several origins inside a held-out slice,
 *   and stats.h's split-conformal fit turns the relative errors |y - mean| /
 *   (|mean| + sd) into one factor per horizon step h (CDNOPT_CALIB_RELATIVE). The
 *   calibrated interval is mean +- factor[h] * (|mean| + sd); the raw one is
 *   mean +- 1.96 * sd. The
 *   factors and both coverages are stored in the /calibration group of the model's
 *   HDF5 file.
 * - Forecast: MC paths after the last observation, reduced to mean, lower, upper
 *   and critical (upper x safety factor), returned as arrays or written as CSV.
 *   Before it sets the bounds, the model forecasts the same time of day on each of
 *   the last recent_days days of the history, and each step's factor grows to the
 *   factor of those forecasts' errors when that is larger. The forecast and the
 *   evaluation run this step the same way.
 * - Evaluation: train on everything before the test span (or take a given model),
 *   forecast one day from the first step of each test day without refitting, and
 *   compare the model with the seasonal naive and Holt-Winters baselines.
 *
 * The model is reached through cdnopt_sampler, a function-pointer table, so tests
 * and other forecasters can stand in for the neural model.
 *
 * Usage:
 *     cdnopt_sampler s = cdnopt_sampler_from_model(model);
 *     cdnopt_calibrate_params cp = cdnopt_calibrate_params_default();
 *     cdnopt_calibration cal;
 *     cdnopt_pipeline_calibrate(&s, train, val_start, train->n, &cp, &cal, err);
 *     cdnopt_pipeline_calibration_save(&cal, "model.h5", err);  // after cdnopt_model_save()
 *
 *     cdnopt_forecast_params fp = cdnopt_forecast_params_default();
 *     cdnopt_forecast_result *f = NULL;
 *     cdnopt_pipeline_forecast(&s, &cal, history, history->n, &fp, &f, err);
 *     cdnopt_forecast_write_csv(f, "forecast.csv", err);
 *     cdnopt_forecast_result_free(f);
 *     cdnopt_calibration_fini(&cal);
 *
 * Limitations:
 * - Intervals are symmetric around the point forecast; skewed traffic (bursts above a
 *   quiet baseline) gets lower bounds that are too low.
 * - The stored factors are calibrated on one slice at the end of the training span.
 *   The recent days widen them after a change of regime (holidays, an outage), but only
 *   once the change is in the history: the first day after it is still covered by the
 *   older factors alone.
 * - Model files calibrated with CDNOPT_CALIB_SCALE (written before the relative scores)
 *   keep mean +- factor * sd and get no recent widening. Retrain them to change that.
 * - Conformal coverage assumes exchangeable scores; overlapping origins in a time
 *   series only approximate that, so the stated level is an estimate, not a bound.
 */
#ifndef CDNOPT_PIPELINE_H
#define CDNOPT_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cdnopt/model.h"
#include "cdnopt/series.h"
#include "cdnopt/stats.h"

/* ------------------------------------------------------------------------- */
/* Samplers                                                                  */
/* ------------------------------------------------------------------------- */

/**
 * Function table of a probabilistic forecaster. sample() has the contract of
 * cdnopt_model_sample(): samples[s * horizon + h] is path s at index end + h.
 */
typedef struct cdnopt_sampler_iface {
    int (*sample)(void *ctx, const cdnopt_series *history, size_t end, int horizon,
                  int n_samples, uint64_t seed, double *samples, char *err);
    /* Minimum number of history steps sample() needs before its origin, as
     * cdnopt_model_history_min(). NULL means unknown and turns off the recent widening
     * of cdnopt_pipeline_forecast(). */
    size_t (*history_min)(void *ctx);
} cdnopt_sampler_iface;

/** A forecaster: its table and its context (borrowed, e.g. a cdnopt_model). */
typedef struct cdnopt_sampler {
    const cdnopt_sampler_iface *iface; /* functions */
    void *ctx;                         /* forecaster state passed to every call */
} cdnopt_sampler;

/** Wrap a fitted model; the sampler borrows m, which must outlive it. */
cdnopt_sampler cdnopt_sampler_from_model(const cdnopt_model *m);

/* ------------------------------------------------------------------------- */
/* Calibration                                                               */
/* ------------------------------------------------------------------------- */

/** Settings of cdnopt_pipeline_calibrate(); start from cdnopt_calibrate_params_default(). */
typedef struct cdnopt_calibrate_params {
    int horizon;        /* steps per forecast; 0 = one day of steps */
    int n_samples;      /* MC paths per origin, default 50 */
    int64_t stride_s;   /* seconds between origins, default 1 hour */
    int max_origins;    /* at most this many origins, spread evenly; default 48 */
    double level;       /* nominal coverage of the interval, default 0.95 */
    size_t min_scores;  /* neighbouring steps are pooled until each step has this many
                           scores (see cdnopt_calibration_fit in stats.h); default 50 */
    uint64_t seed;      /* seed of the MC paths; origin k uses seed + k; default 1 */
    int64_t min_span_s; /* calibrate on at least this much data before val_end, in seconds,
                           default 28 days; 0 = the given slice only */
    size_t first_origin; /* earliest index an origin may take (the model's window in steps);
                            bounds the extension by min_span_s; default 0 */
} cdnopt_calibrate_params;

/** Return the defaults listed in the field comments of cdnopt_calibrate_params. */
cdnopt_calibrate_params cdnopt_calibrate_params_default(void);

/**
 * Calibrate a forecaster's intervals on the slice [val_start, val_end) of series (kind
 * CDNOPT_CALIB_RELATIVE: interval mean +- factor[h] * (|mean| + sd)). A slice shorter
 * than p->min_span_s is first extended back to that span (never before
 * p->first_origin), and the extension is logged. Origins lie every
 * stride_s seconds such that each whole horizon ends inside the slice. When the slice
 * is shorter than the horizon, the origins move back before val_start so that their
 * horizons still end at val_end, and a warning is logged. Those targets partly
 * overlap the training data, so the factors come out too small.
 *
 * @param s         forecaster
 * @param series    values up to val_end (later values are not read)
 * @param val_start first index of the slice; origins need the model's window before it
 * @param val_end   one past the last index of the slice, <= series->n
 * @param p         settings
 * @param out       receives the calibration; free with cdnopt_calibration_fini()
 * @param err       CDNOPT_ERRMSG_MAX bytes for a message, or NULL
 * @return CDNOPT_OK, CDNOPT_EINVAL (bad slice or p), CDNOPT_ENOMEM, or the sampler's
 *         error
 */
int cdnopt_pipeline_calibrate(const cdnopt_sampler *s, const cdnopt_series *series,
                              size_t val_start, size_t val_end, const cdnopt_calibrate_params *p,
                              cdnopt_calibration *out /* OUT */, char *err);

/**
 * Check that every factor of c is finite, not negative and, for scale and relative
 * calibrations, at most 1e4, the bound the model loader enforces. A trainer calls it
 * before saving, so that it never writes a model that cannot be loaded.
 * @return CDNOPT_OK, or CDNOPT_EINVAL with a message naming the first bad step
 */
int cdnopt_calibration_check_factors(const cdnopt_calibration *c, char *err);

/**
 * Write c into the /calibration group of an existing HDF5 file (the model file),
 * replacing an older group: dataset `factor` (float64, horizon) and attributes kind,
 * level, coverage_raw, coverage_calibrated and n_origins.
 * @return CDNOPT_OK or CDNOPT_EIO with a message naming path
 */
int cdnopt_pipeline_calibration_save(const cdnopt_calibration *c, const char *path, char *err);

/**
 * Read the /calibration group of path into out (free with cdnopt_calibration_fini()).
 * @return CDNOPT_OK, CDNOPT_ENOTFOUND when the file has no /calibration group,
 *         CDNOPT_EIO (file unreadable), CDNOPT_EPARSE (group incomplete or values
 *         out of range), CDNOPT_ENOMEM
 */
int cdnopt_pipeline_calibration_load(const char *path, cdnopt_calibration *out /* OUT */,
                                     char *err);

/* ------------------------------------------------------------------------- */
/* Forecasts                                                                 */
/* ------------------------------------------------------------------------- */

/** Settings of cdnopt_pipeline_forecast(); start from cdnopt_forecast_params_default(). */
typedef struct cdnopt_forecast_params {
    int horizon;    /* steps to forecast; 0 = one day of steps */
    int n_samples;  /* MC paths, default 100 */
    double safety;  /* critical = upper x safety, default 1.2 */
    uint64_t seed;  /* seed of the MC paths, default 1 */
    int recent_days; /* days before the origin whose forecast errors may widen a RELATIVE
                        calibration's factors, default 7; 0 = stored factors only */
} cdnopt_forecast_params;

/** Return the defaults listed in the field comments of cdnopt_forecast_params. */
cdnopt_forecast_params cdnopt_forecast_params_default(void);

/** A forecast with intervals; arrays of `horizon` entries owned by the result. */
typedef struct cdnopt_forecast_result {
    int horizon;      /* number of steps */
    int64_t step_s;   /* grid step, seconds */
    int64_t *t;       /* civil seconds of each forecast step */
    double *mean;     /* point forecast: the dropout-off path raised to 0, series units
                         (Gbit/s unless read as raw) */
    double *sd;       /* standard deviation of the MC paths, series units */
    double *lower;    /* lower bound: mean - factor[h] * (mean + sd) (RELATIVE calibration),
                         mean - factor[h] * sd (SCALE) or mean - 1.96 * sd (none), raised
                         to 0 because bandwidth is never negative */
    double *upper;    /* upper bound, as lower */
    double *critical; /* upper x safety: the level capacity planning should stay under */
    bool calibrated;  /* true when a calibration set the bounds */
    int recent_origins; /* recent days whose errors took part in the factors; 0 when
                           the stored factors alone set the bounds */
} cdnopt_forecast_result;

/**
 * Forecast p->horizon steps after index end of history (exclusive) with intervals.
 * The same sampler, inputs and seed give the same numbers. With a RELATIVE
 * calibration and p->recent_days > 0, p->recent_days more forecasts from the
 * same time of day on earlier days are scored against history (see the overview);
 * a history too short for them leaves the stored factors alone.
 *
 * @param cal  calibration, or NULL for raw intervals (mean +- 1.96 sd)
 * @param out  receives the result; free with cdnopt_forecast_result_free()
 * @return CDNOPT_OK, CDNOPT_EINVAL (bad p, end out of range), CDNOPT_ENOMEM, or the
 *         sampler's error
 */
int cdnopt_pipeline_forecast(const cdnopt_sampler *s, const cdnopt_calibration *cal,
                             const cdnopt_series *history, size_t end,
                             const cdnopt_forecast_params *p, cdnopt_forecast_result **out,
                             char *err);

/** Free a forecast; NULL is a no-op. */
void cdnopt_forecast_result_free(cdnopt_forecast_result *f);

/**
 * Write f as CSV with header `timestamp,mean,lower,upper,critical`; timestamps are
 * civil times "YYYY-MM-DD HH:MM:SS", values carry 6 significant digits.
 * @return CDNOPT_OK or CDNOPT_EIO with a message naming path
 */
int cdnopt_forecast_write_csv(const cdnopt_forecast_result *f, const char *path, char *err);

/**
 * Return the first step (0-based) whose mean lies more than one range (hi - lo, or 1
 * when hi <= lo) outside [lo, hi], the values the model was trained on, or -1 when
 * none does. A recursive head trained on too little data can run away like this.
 */
int cdnopt_forecast_first_runaway(const cdnopt_forecast_result *f, double lo, double hi);

/* ------------------------------------------------------------------------- */
/* Evaluation                                                                */
/* ------------------------------------------------------------------------- */

/** Settings of cdnopt_pipeline_evaluate(); start from cdnopt_eval_params_default(). */
typedef struct cdnopt_eval_params {
    int test_days;                    /* whole days at the end of the series, default 7 */
    int n_samples;                    /* MC paths per test origin, default 100 */
    int recent_days;                  /* as cdnopt_forecast_params.recent_days, default 7 */
    uint64_t seed;                    /* seed of the MC paths, default 1 */
    cdnopt_model_params model;        /* used when no model is passed in */
    cdnopt_calibrate_params calibrate; /* used when no calibration is passed in */
    cdnopt_epoch_cb epoch_cb;         /* training progress, may be NULL */
    void *epoch_user;                 /* passed to epoch_cb */
} cdnopt_eval_params;

/** Return the defaults listed in the field comments of cdnopt_eval_params. */
cdnopt_eval_params cdnopt_eval_params_default(void);

/** Most methods one evaluation compares (the model and three baselines). */
#define CDNOPT_EVAL_MAX_METHODS 4

/** Errors of one method over the test span; NAN where a figure does not apply. */
typedef struct cdnopt_eval_row {
    char method[32];            /* "residual-lstm", "seasonal-naive-1d", ... */
    double mae;                 /* mean absolute error, series units */
    double rmse;                /* root mean squared error, series units */
    double smape;               /* symmetric MAPE, percent (0-200) */
    double mase;                /* MAE / in-sample MAE of the one-day seasonal naive */
    double coverage_raw;        /* fraction of test values inside the raw 95% interval */
    double coverage_calibrated; /* the same for the calibrated interval */
    double width;               /* mean width of the interval used for coverage_calibrated,
                                   or of the raw one when there is no calibration */
} cdnopt_eval_row;

/** Result of cdnopt_pipeline_evaluate(). */
typedef struct cdnopt_eval_report {
    size_t test_start;       /* index of the first test step */
    size_t test_end;         /* one past the last test step */
    int n_origins;           /* test days, one origin each */
    int horizon;             /* steps per origin (one day) */
    double mase_scale;       /* in-sample MAE of the one-day seasonal naive before the test */
    double train_seconds;    /* wall-clock time of training, 0 with a given model */
    int n_methods;           /* rows used */
    cdnopt_eval_row rows[CDNOPT_EVAL_MAX_METHODS]; /* the model first, then the baselines */
} cdnopt_eval_report;

/**
 * Evaluate a forecaster and the baselines on the last p->test_days whole days of s.
 * The test span starts at the first step of a day (civil midnight); steps after the
 * last whole day are left out. Without a model, one is trained on everything before
 * the test span with p->model and calibrated on its validation slice; without a
 * calibration, the given model is calibrated on the last val_fraction of the
 * pre-test span.
 *
 * @param model  fitted model, or NULL to train one
 * @param cal    calibration of model, or NULL
 * @param out    receives the report (caller's storage)
 * @return CDNOPT_OK, CDNOPT_EINVAL (series too short for the test span and a training
 *         span, no whole day), or an error of training, calibration or sampling
 */
int cdnopt_pipeline_evaluate(const cdnopt_series *s, const cdnopt_model *model,
                             const cdnopt_calibration *cal, const cdnopt_eval_params *p,
                             cdnopt_eval_report *out, char *err);

/**
 * Train a model on train and calibrate it on the validation slice the model held
 * out (its last val_fraction; the last 10% when val_fraction is 0).
 *
 * @param model_out  receives the model; the caller frees it with cdnopt_model_free()
 * @param cal_out    receives the calibration; the caller frees it with
 *                   cdnopt_calibration_fini()
 * @return CDNOPT_OK or an error of cdnopt_model_new, _fit or cdnopt_pipeline_calibrate
 */
int cdnopt_pipeline_train(const cdnopt_series *train, const cdnopt_model_params *mp,
                          const cdnopt_calibrate_params *cp, cdnopt_epoch_cb cb, void *user,
                          cdnopt_model **model_out, cdnopt_calibration *cal_out /* OUT */,
                          char *err);

/**
 * Index of the first step of the validation slice that cdnopt_model_fit holds out
 * of a training span of n steps (the last val_fraction, at least one step).
 */
size_t cdnopt_pipeline_val_start(size_t n, double val_fraction);

/* ------------------------------------------------------------------------- */
/* Forecasts for planning                                                    */
/* ------------------------------------------------------------------------- */

/*
 * A planner fills the valleys of the traffic it is given, so it needs the shape of the
 * coming traffic (where the valleys are) more than its level: adding a constant to the
 * baseline leaves the best schedule unchanged. cdnopt_pipeline_plan_forecast() therefore
 * averages simple members with equal weights, because a combination is usually steadier
 * than any one member. It keeps only members that a backtest on the end of the history
 * accepts. The critical line is the mean plus one constant margin, so planning on it
 * keeps the mean's shape.
 *
 * NOTE: the margin reflects the errors of the backtest window only. When the level
 * changes between that window and the horizon (the end of a holiday), the critical line
 * can lie below the traffic that comes, so it is no capacity guarantee.
 */

/** Most members one planning forecast combines. */
#define CDNOPT_PLAN_FORECAST_MAX_MEMBERS 3

/** Max number of past weeks, of past days and of residual days that are scenarios of a
 * planning forecast. */
#define CDNOPT_PLAN_SCENARIO_MAX_LAGS 7

/** Max number of scenarios of a planning forecast: the members, past weeks, past days and
 * residual days. */
#define CDNOPT_PLAN_FORECAST_MAX_SCENARIOS \
    (CDNOPT_PLAN_FORECAST_MAX_MEMBERS + 3 * CDNOPT_PLAN_SCENARIO_MAX_LAGS)

/** Settings of cdnopt_pipeline_plan_forecast(); start from cdnopt_plan_forecast_params_default(). */
typedef struct cdnopt_plan_forecast_params {
    int horizon;            /* steps to forecast after the history, > 0 */
    double safety;          /* critical = mean + safety x margin, >= 0; default 1.2 */
    double margin_quantile; /* quantile of the absolute backtest errors |actual - mean|
                               that sets the margin, in (0, 1); default 0.95 */
    double max_error_ratio; /* a member whose backtest shape error exceeds this x the
                               combination's is left out, > 1; default 3 */
    int profile_days;       /* days averaged by the daily profile member, >= 1; default 7 */
    int scenario_weeks;     /* past weeks that are scenarios: the seasonal naive at lags
                               2 .. scenario_weeks weeks joins the members, 1 to
                               CDNOPT_PLAN_SCENARIO_MAX_LAGS; default 1 (none) */
    int scenario_days;      /* scenario k (1 .. scenario_days) gives each step the value at
                               its time of day on the k-th latest day of the history of the
                               same kind (weekday or weekend), 0 to
                               CDNOPT_PLAN_SCENARIO_MAX_LAGS; default 3 */
    int scenario_residual_days; /* scenario k (1 .. this) is the mean plus the backtest's
                                   error, actual - forecast, at each step's time of day on
                                   the k-th latest whole day of the backtest window, 0 to
                                   CDNOPT_PLAN_SCENARIO_MAX_LAGS; default 3 */
} cdnopt_plan_forecast_params;

/** Return the defaults listed in the field comments of cdnopt_plan_forecast_params. */
cdnopt_plan_forecast_params cdnopt_plan_forecast_params_default(void);

/** One candidate forecaster of a planning forecast and its backtest. */
typedef struct cdnopt_plan_member {
    char name[32];       /* "seasonal-naive-1w", "daily-profile", "model" */
    bool used;           /* part of the combination */
    double backtest_mae; /* shape error on the backtest window: mean absolute error after
                            removing the mean error, series units; NAN when the history
                            before the backtest origin is too short for this member */
} cdnopt_plan_member;

/** A forecast to plan against; the caller owns it and frees it with cdnopt_plan_forecast_free(). */
typedef struct cdnopt_plan_forecast {
    cdnopt_series *mean;     /* equal-weight mean of the used members, raised to 0, horizon
                                steps from the step after the history (owned; the caller
                                may take it and set the field to NULL) */
    cdnopt_series *critical; /* mean + safety x margin on the same grid (owned, as mean) */
    double margin;           /* margin_quantile of the combination's backtest errors,
                                raised to 0, series units */
    size_t backtest_steps;   /* length of the backtest window at the end of the history */
    int n_members;           /* entries of members */
    cdnopt_plan_member members[CDNOPT_PLAN_FORECAST_MAX_MEMBERS]; /* every candidate */
    int n_scenarios;         /* entries of scenarios */
    cdnopt_series *scenarios[CDNOPT_PLAN_FORECAST_MAX_SCENARIOS]; /* plausible baselines on
                                the mean's grid, raised to 0: each used member's forecast,
                                then past weeks, then past days, as far as the history
                                reaches, then the mean plus past days' backtest errors, as
                                far as the backtest window reaches (owned) */
} cdnopt_plan_forecast;

/**
 * Forecast p->horizon steps after history for planning. The candidates are the seasonal
 * naive at one week (needs a week of history before the backtest origin), the mean of
 * the last p->profile_days days at each time of day (fewer days when the history is
 * shorter) and, when model is not NULL, the model's dropout-off path. Each candidate
 * forecasts the last min(horizon, history - one week) steps of the history from the
 * origin before them (history - one day when the history is shorter than eight days).
 * Candidates that cannot forecast from that origin, or whose shape error is above
 * p->max_error_ratio x the combination's, are left out; the rest forecast from the end
 * of the history and are averaged. The used members' forecasts, and the past weeks and
 * days that p->scenario_weeks and p->scenario_days request, are also kept one by one as
 * scenarios for cdnopt_plan_robust(). A past week or day that the history does not
 * reach is left out. So are the residual days of p->scenario_residual_days that the
 * backtest window does not cover whole: a window of 2.9 days yields at most 2.
 *
 * @param model    forecaster (its dropout-off path, n_samples = 0), or NULL
 * @param history  observed series; its step must divide one day; at least two days
 * @param out      receives the forecast; free with cdnopt_plan_forecast_free()
 * @param err      CDNOPT_ERRMSG_MAX bytes for a message, or NULL
 * @return CDNOPT_OK, CDNOPT_EINVAL (bad p, step, history too short), CDNOPT_ENOMEM, or
 *         the model's error other than CDNOPT_EINVAL
 */
int cdnopt_pipeline_plan_forecast(const cdnopt_sampler *model, const cdnopt_series *history,
                                  const cdnopt_plan_forecast_params *p,
                                  cdnopt_plan_forecast **out, char *err);

/** Free a planning forecast and the series it still owns; NULL is a no-op. */
void cdnopt_plan_forecast_free(cdnopt_plan_forecast *f);

#endif /* CDNOPT_PIPELINE_H */
