/* SPDX-License-Identifier: Apache-2.0 */
/*
 * stats: forecast accuracy metrics, classical baseline forecasters and split-conformal
 * calibration of prediction intervals. Part of the forecast module.
 *
 * - Metrics take plain arrays of h actual values and h forecasts (and bounds), so they
 *   score any model, any step and any horizon. Scale-free metrics (MASE, MSIS) take the
 *   scale from cdnopt_metric_mase_scale() on the in-sample part of the series.
 * - Baselines (Naive, seasonal naive, M4's Naive2, additive Holt-Winters, SES, Holt,
 *   damped trend, Theta, Comb) forecast h steps after the last of n values with a
 *   two-sided interval at a nominal level, all through cdnopt_baseline_forecast().
 * - Calibration widens or narrows an interval per horizon step so that it covers the
 *   nominal share of held-out points (split conformal): fit it on validation forecasts
 *   with cdnopt_calibration_fit(), store the cdnopt_calibration struct with the model,
 *   and apply it to new forecasts with cdnopt_calibration_apply().
 *
 * Usage:
 *     double mean[288], lower[288], upper[288];
 *     cdnopt_interval_forecast fc = {mean, lower, upper};
 *     cdnopt_baseline_params p = cdnopt_baseline_params_default();
 *     p.method = CDNOPT_BASELINE_SNAIVE;
 *     p.period = 288;                                // one day of 5-minute steps
 *     char err[CDNOPT_ERRMSG_MAX];
 *     if (cdnopt_baseline_forecast(&p, train, n_train, 288, &fc, err) != CDNOPT_OK)
 *         fprintf(stderr, "%s\n", err);
 *     double scale = cdnopt_metric_mase_scale(train, n_train, 288);
 *     double mase = cdnopt_metric_mase(test, mean, 288, scale);
 *
 * Limitations:
 * - Values must be finite; the functions do not skip NaN. Fill gaps before calling.
 * - sMAPE is undefined where an actual value and its forecast are both zero. Such a
 *   step adds 0 to the sum here, where the M4 scripts' formula would give NaN.
 * - Baselines fit on the whole input every call; nothing is cached between calls.
 * - Naive2 and the M4 benchmarks assume positive values (multiplicative decomposition);
 *   on series with zeros or negative values they skip the seasonal adjustment.
 * - Holt-Winters minimises the mean h-step error at h = 1, 2, 4, ..., m by default, not
 *   the classical one-step error (CDNOPT_HW_ONE_STEP selects that). Its initial states
 *   come from the first two seasons only.
 * - Calibration assumes the validation forecasts are exchangeable with future ones; it
 *   corrects average coverage per horizon step, not coverage conditional on time of day.
 */
#ifndef CDNOPT_STATS_H
#define CDNOPT_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------------- */
/* Metrics                                                                   */
/* ------------------------------------------------------------------------- */

/** Mean absolute error over h steps: (1/h) sum |y - f|. Returns NAN when h is 0. */
double cdnopt_metric_mae(const double *y, const double *f, size_t h);

/** Root mean squared error over h steps. Returns NAN when h is 0. */
double cdnopt_metric_rmse(const double *y, const double *f, size_t h);

/**
 * Symmetric MAPE in percent as M4 defines it: (200/h) sum |y - f| / (|y| + |f|).
 * A step where |y| + |f| is 0 adds 0. Returns NAN when h is 0.
 */
double cdnopt_metric_smape(const double *y, const double *f, size_t h);

/**
 * MASE scale: mean absolute seasonal difference (1/(n-m)) sum_{t>=m} |x_t - x_{t-m}| of
 * the n in-sample values x at period m steps (m = 1 for the non-seasonal scale).
 * Returns NAN when n <= m or m is 0, and 0 for a series that repeats exactly.
 */
double cdnopt_metric_mase_scale(const double *x, size_t n, size_t m);

/** Mean absolute scaled error: MAE(y, f) / scale. Returns NAN when h is 0 or scale <= 0. */
double cdnopt_metric_mase(const double *y, const double *f, size_t h, double scale);

/** Share of the h actual values y with lower <= y <= upper, in [0, 1]. NAN when h is 0. */
double cdnopt_metric_coverage(const double *y, const double *lower, const double *upper,
                              size_t h);

/** Mean interval width (1/h) sum (upper - lower), in the unit of the series. */
double cdnopt_metric_mean_width(const double *lower, const double *upper, size_t h);

/**
 * Mean scaled interval score as M4 defines it, for a (1 - alpha) interval:
 * (1/h) sum [(U - L) + (2/alpha)(L - y)[y < L] + (2/alpha)(y - U)[y > U]] / scale.
 * M4 uses alpha = 0.05 and the MASE scale. Returns NAN when h is 0 or scale <= 0.
 */
double cdnopt_metric_msis(const double *y, const double *lower, const double *upper, size_t h,
                          double scale, double alpha);

/** Absolute coverage difference |coverage - nominal|, both as shares in [0, 1]. */
double cdnopt_metric_acd(double coverage, double nominal);

/**
 * Overall weighted average as M4 computes it for a whole set of series: the mean of
 * the two ratios smape / smape_naive2 and mase / mase_naive2, where each argument is
 * the set's mean sMAPE or MASE. Returns NAN when a Naive2 figure is not positive.
 */
double cdnopt_metric_owa(double smape, double mase, double smape_naive2, double mase_naive2);

/** All the scores of one forecast of h steps, filled by cdnopt_scores_compute(). */
typedef struct cdnopt_scores {
    double mae;      /* mean absolute error, series unit */
    double rmse;     /* root mean squared error, series unit */
    double smape;    /* percent, 0..200 */
    double mase;     /* MAE over the MASE scale, unitless */
    double msis;     /* mean scaled interval score, unitless; NAN without bounds */
    double coverage; /* share of actual values inside [lower, upper]; NAN without bounds */
    double width;    /* mean upper - lower, series unit; NAN without bounds */
} cdnopt_scores;

/** A forecast of h steps with an optional interval. Arrays belong to the caller. */
typedef struct cdnopt_interval_forecast {
    double *mean;  /* h point forecasts (the mean or the method's point forecast) */
    double *lower; /* h lower bounds at the nominal level, or NULL when not wanted */
    double *upper; /* h upper bounds at the nominal level, or NULL when not wanted */
} cdnopt_interval_forecast;

/**
 * Compute every score of one forecast against h actual values.
 * @param y      h actual values
 * @param fc     forecast; lower and upper may be NULL, which leaves msis, coverage and
 *               width NAN
 * @param h      number of steps
 * @param scale  MASE scale from cdnopt_metric_mase_scale()
 * @param alpha  1 - nominal level of the interval (0.05 for a 95% interval)
 * @param out    filled with the scores
 */
void cdnopt_scores_compute(const double *y, const cdnopt_interval_forecast *fc, size_t h,
                           double scale, double alpha, cdnopt_scores *out);

/* ------------------------------------------------------------------------- */
/* Baselines                                                                 */
/* ------------------------------------------------------------------------- */

/*
 * X(NAME, value, "cli-name"). Values are append-only because they name methods in
 * result files and the CLI.
 */
#define CDNOPT_BASELINE_MAP(X)                                                  \
    X(NAIVE, 0, "naive")                                                       \
    X(SNAIVE, 1, "snaive")                                                     \
    X(NAIVE2, 2, "naive2")                                                     \
    X(HOLT_WINTERS, 3, "hw")                                                   \
    X(SES, 4, "ses")                                                           \
    X(HOLT, 5, "holt")                                                         \
    X(DAMPED, 6, "damped")                                                     \
    X(THETA, 7, "theta")                                                       \
    X(COMB, 8, "comb")                                                         \
    X(HW_DAMPED, 9, "hw-damped")

enum cdnopt_baseline_method {
#define CDNOPT_BASELINE_ENUM_(name, value, text) CDNOPT_BASELINE_##name = value,
    CDNOPT_BASELINE_MAP(CDNOPT_BASELINE_ENUM_)
#undef CDNOPT_BASELINE_ENUM_
    CDNOPT_BASELINE_COUNT
};

/** Return the CLI name of a method ("snaive"), or NULL for an unknown value. */
const char *cdnopt_baseline_name(enum cdnopt_baseline_method method);

/** Look a method up by its CLI name; returns CDNOPT_ENOTFOUND when no method has it. */
int cdnopt_baseline_from_name(const char *name, enum cdnopt_baseline_method *out);

/* Criterion that the Holt-Winters smoothing parameters minimise. Values are append-only. */
enum cdnopt_hw_criterion {
    CDNOPT_HW_ONE_STEP = 0,   /* sum of squared one-step errors, the classical fit */
    CDNOPT_HW_MULTI_STEP = 1, /* mean of the h-step MSEs at h = 1, 2, 4, ..., m */
};

/** Settings of cdnopt_baseline_forecast(). Start from cdnopt_baseline_params_default(). */
typedef struct cdnopt_baseline_params {
    enum cdnopt_baseline_method method; /* which forecaster */
    size_t period;    /* seasonal period m in steps: 24 hourly day, 288 5-min day, 2016 week */
    double level;     /* nominal interval coverage, (0, 1); 0.95 by default */
    int max_iter;     /* Nelder-Mead iterations for the smoothing parameters (HW, SES...) */
    enum cdnopt_hw_criterion hw_criterion; /* what Holt-Winters minimises */
} cdnopt_baseline_params;

/** Defaults: seasonal naive, period 24, level 0.95, 300 iterations, multi-step HW. */
cdnopt_baseline_params cdnopt_baseline_params_default(void);

/**
 * Forecast h steps after the last of n values y with the chosen method.
 *
 * Intervals: Naive, seasonal naive and Naive2 take empirical quantiles of the in-sample
 * k-season differences y_t - y_{t-k m} for a step k seasons ahead. Holt-Winters uses
 * the in-sample RMSE of forecasts as many steps ahead; SES, Holt and damped trend use
 * the variance growth of their state-space form; all three with normal quantiles.
 *
 * @param p    method, period and level
 * @param y    n in-sample values, oldest first
 * @param n    number of values; at least 2 (2 periods for seasonal methods)
 * @param h    number of steps to forecast, at least 1
 * @param out  caller's arrays of h doubles; lower/upper may be NULL
 * @param err  CDNOPT_ERRMSG_MAX bytes for the message, or NULL
 * @return CDNOPT_OK; CDNOPT_EINVAL for a bad period, level, h or too short series
 *         (the message names the value and the minimum); CDNOPT_ENOMEM
 */
int cdnopt_baseline_forecast(const cdnopt_baseline_params *p, const double *y, size_t n,
                             size_t h, cdnopt_interval_forecast *out, char *err);

/**
 * M4's seasonality test at period m: the lag-m autocorrelation r_m is significant when
 * |r_m| > 1.645 / sqrt(n) * sqrt(1 + 2 sum_{k=1}^{m-1} r_k^2). Series shorter than 3 m
 * and m < 2 are not seasonal.
 */
bool cdnopt_seasonality_test(const double *y, size_t n, size_t m);

/**
 * Multiplicative seasonal indices of classical decomposition: a centred 2 x m moving
 * average (plain m-term for odd m) gives the trend, y / trend is averaged per position
 * in the season, and the m averages are scaled to mean 1. index[i] belongs to the
 * positions t with t mod m == i (t = 0 is the first value).
 * @return CDNOPT_EINVAL when n < 2 m or a trend value is not positive
 */
int cdnopt_seasonal_indices(const double *y, size_t n, size_t m, double *index /* m OUT */,
                            char *err);

/* Upper bound of the horizons a Holt-Winters fit scores: 1, 2, 4, ... below m, then m. */
#define CDNOPT_HW_MAX_LADDER 24

/** Settings of cdnopt_hw_fit(). Start from cdnopt_hw_params_default(). */
typedef struct cdnopt_hw_params {
    int max_iter;                       /* Nelder-Mead iterations */
    enum cdnopt_hw_criterion criterion; /* what the parameters minimise */
    bool damped;                        /* damp the trend (phi in 0.8..0.98) */
} cdnopt_hw_params;

/** Defaults: 300 iterations, the multi-step criterion, undamped trend. */
cdnopt_hw_params cdnopt_hw_params_default(void);

/** Additive Holt-Winters fit, filled by cdnopt_hw_fit(); free with cdnopt_hw_fini(). */
typedef struct cdnopt_hw_model {
    size_t period;  /* m, steps */
    double alpha;   /* level smoothing, error-correction form: l += alpha e */
    double beta;    /* trend smoothing: b += beta e, 0 <= beta <= alpha */
    double gamma;   /* season smoothing: s += gamma e, 0 <= gamma <= 1 - alpha */
    double phi;     /* trend damping, 1 for the undamped model */
    double level;   /* level after the last value, series unit */
    double trend;   /* trend after the last value, series unit per step */
    double *season; /* m seasonal terms; season[i] applies to step n + i (owned) */
    double sigma2;  /* mean squared one-step in-sample error */
    size_t n;       /* number of values fitted */
    size_t n_ladder;                          /* horizons with an in-sample RMSE */
    size_t ladder[CDNOPT_HW_MAX_LADDER];      /* those horizons, steps: 1, 2, 4, ..., m */
    double ladder_rmse[CDNOPT_HW_MAX_LADDER]; /* in-sample RMSE at each, series unit */
} cdnopt_hw_model;

/**
 * Fit additive Holt-Winters (level, trend, season of period m) to n values: Nelder-Mead
 * over alpha, beta, gamma (and phi when damped) minimising p->criterion. Initial states
 * come from the first two seasons (means and detrended differences).
 * @return CDNOPT_EINVAL when n < 2 m or m < 2; CDNOPT_ENUMERIC on non-finite input
 */
int cdnopt_hw_fit(const double *y, size_t n, size_t m, const cdnopt_hw_params *p,
                  cdnopt_hw_model *out /* OUT */, char *err);

/**
 * Forecast h steps from a fitted model with a normal interval at the given level. The
 * interval's sd at step j is the in-sample RMSE of j-step forecasts (interpolated
 * between ladder horizons, grown by sqrt(seasons) past m, never shrinking with j).
 */
void cdnopt_hw_forecast(const cdnopt_hw_model *model, size_t h, double level,
                        cdnopt_interval_forecast *out);

/** Free the seasonal terms of a model; NULL and a zeroed struct are no-ops. */
void cdnopt_hw_fini(cdnopt_hw_model *model);

/** Standard normal quantile for probability p in (0, 1) (Acklam's rational approximation). */
double cdnopt_normal_quantile(double p);

/* ------------------------------------------------------------------------- */
/* Calibration                                                               */
/* ------------------------------------------------------------------------- */

/* Meaning of the per-step calibration factor. Values are append-only because model files
 * store them. */
enum cdnopt_calib_kind {
    /* Interval mean +- factor * std; score |y - mean| / std. */
    CDNOPT_CALIB_SCALE = 0,
    /* Interval [lower - factor, upper + factor]; score max(lower - y, y - upper). */
    CDNOPT_CALIB_SHIFT = 1,
    /* Interval mean +- factor * scale with scale = max(|mean|, floor) + std; score
     * |y - mean| / scale, a relative error. The floor is 1% of the mean |mean| over the
     * forecast's steps, so a forecast of zero at one step keeps an interval. The std
     * term (0 when the set or forecast has none) bounds the scores of a point forecast
     * that falls far below the traffic while its MC paths spread out. */
    CDNOPT_CALIB_RELATIVE = 2,
};

/** Per-horizon calibration; init with cdnopt_calibration_init(), free with _fini(). */
typedef struct cdnopt_calibration {
    enum cdnopt_calib_kind kind; /* meaning of factor */
    double level;                /* nominal coverage the factors aim at, (0, 1) */
    size_t horizon;              /* number of steps with a factor */
    double *factor;              /* horizon factors: multipliers of std (SCALE) or of the
                                    relative scale (RELATIVE), or widths (SHIFT) */
    size_t n_origins;            /* validation forecasts the factors came from */
    double coverage_raw;         /* validation coverage before calibration, share */
    double coverage_calibrated;  /* validation coverage after calibration, share */
} cdnopt_calibration;

/**
 * Validation forecasts: n_origins forecasts of horizon steps each, stored origin-major
 * (index o * horizon + k). Arrays are borrowed. SCALE needs mean and std; RELATIVE needs
 * mean and uses std when it is there; SHIFT needs lower and upper (the raw interval at
 * the nominal level).
 */
typedef struct cdnopt_calib_set {
    size_t n_origins;     /* number of forecast origins */
    size_t horizon;       /* steps per forecast */
    const double *actual; /* observed values */
    const double *mean;   /* point forecasts (SCALE, RELATIVE) */
    const double *std;    /* forecast standard deviations, > 0 (SCALE); RELATIVE adds them
                             to its scale and accepts NULL */
    const double *lower;  /* raw lower bounds (SHIFT) */
    const double *upper;  /* raw upper bounds (SHIFT) */
} cdnopt_calib_set;

/** Settings of cdnopt_calibration_fit(). */
typedef struct cdnopt_calibration_params {
    enum cdnopt_calib_kind kind; /* SCALE by default */
    double level;                /* target coverage, 0.95 by default */
    size_t min_scores;           /* pool neighbouring steps until each step has this many
                                    scores; 50 by default */
} cdnopt_calibration_params;

/** Defaults: SCALE, level 0.95, min_scores 50. */
cdnopt_calibration_params cdnopt_calibration_params_default(void);

/**
 * Allocate a calibration of the given kind with horizon factors set to the neutral
 * value (the normal quantile of level for SCALE, 0 for SHIFT and RELATIVE). For loading stored
 * factors: init, then copy them into factor.
 */
int cdnopt_calibration_init(cdnopt_calibration *cal /* OUT */, enum cdnopt_calib_kind kind,
                            double level, size_t horizon);

/** Free the factors; NULL and a zeroed struct are no-ops. */
void cdnopt_calibration_fini(cdnopt_calibration *cal);

/**
 * Fit per-step factors by split conformal prediction: at step k the factor is the
 * ceil((n + 1) level)-th smallest score of the n scores pooled from steps k - w .. k + w,
 * with the smallest w that gives at least min_scores scores (w = 0 when there are enough
 * origins). Also fills n_origins and the validation coverage before and after.
 * @return CDNOPT_EINVAL for an empty set, missing arrays, a std <= 0 or a level outside
 *         (0, 1), with a message naming the origin and step; CDNOPT_ENOMEM
 */
int cdnopt_calibration_fit(const cdnopt_calib_set *set, const cdnopt_calibration_params *p,
                           cdnopt_calibration *out /* OUT */, char *err);

/**
 * Apply calibration to one forecast of h steps. SCALE writes lower = mean - f std and
 * upper = mean + f std; RELATIVE writes mean -+ f scale with the scale of the enum
 * comment, its floor taken over these h steps; SHIFT widens lower and upper in place
 * by f. Steps beyond the calibrated horizon use the last factor.
 * @param mean  h point forecasts (SCALE, RELATIVE; may be NULL for SHIFT)
 * @param std   h standard deviations (SCALE; RELATIVE adds them to its scale and accepts
 *              NULL; may be NULL for SHIFT)
 */
void cdnopt_calibration_apply(const cdnopt_calibration *cal, size_t h, const double *mean,
                              const double *std, double *lower, double *upper);

/**
 * Coverage of a set of forecasts before and after calibration, as shares. Before means
 * mean +- z std with z the normal quantile of the level (SCALE, and RELATIVE when the
 * set has std; NAN without) or the raw bounds (SHIFT).
 */
int cdnopt_calibration_coverage(const cdnopt_calibration *cal, const cdnopt_calib_set *set,
                                double *raw, double *calibrated, char *err);

/**
 * Summarise Monte-Carlo samples into mean, standard deviation and the central interval
 * at level (empirical quantiles, linear interpolation) for each of h steps.
 * @param samples  n_samples * h values, sample-major (samples[s * h + k])
 * @param out      caller's arrays; any of the three may be NULL
 * @param std      h standard deviations (n - 1 denominator), or NULL
 * @return CDNOPT_EINVAL when n_samples < 2; CDNOPT_ENOMEM
 */
int cdnopt_samples_summarize(const double *samples, size_t n_samples, size_t h, double level,
                             cdnopt_interval_forecast *out, double *std);

#endif /* CDNOPT_STATS_H */
