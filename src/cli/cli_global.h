/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The global-model paths of `cdnopt train` and `cdnopt forecast`. They read many
 * series (a wide CSV with one series per row, or a folder with one CSV per series) and
 * train one model over all of them. Forecasts of every series go to three CSV files of
 * the same shape (id, then the horizon's values): the mean, the lower and the upper
 * bounds.
 */
#ifndef CDNOPT_CLI_GLOBAL_H
#define CDNOPT_CLI_GLOBAL_H

#include "cli_options.h"

#include "cdnopt/global.h"

/** Values of the flags that pick and shape a global model. */
typedef struct cdnopt_cli_global_opts {
    const char *wide;       /* wide CSV, one series per row, or NULL */
    const char *series_dir; /* folder of one CSV per series, or NULL */
    int64_t step_s;         /* step given to the series of a wide file, seconds */
    const char *norm;       /* per-series scaling: mean or minmax */
    const char *sampling;   /* window draw: windows or series */
    long calib_steps;       /* last steps of every series held out for calibration */
    long seasonal_diff;     /* differencing period of the scaled series, 0 = none */
} cdnopt_cli_global_opts;

/** Defaults: no source, 1 h steps, mean scaling, uniform over windows, 48 steps. */
cdnopt_cli_global_opts cdnopt_cli_global_opts_default(void);

/* Rows of the global-model flags for a cdnopt_cli_option array. */
#define CDNOPT_CLI_GLOBAL_OPTIONS(g)                                                           \
    {"--wide", CDNOPT_CLI_STRING, &(g)->wide, 0, 0, "FILE",                                  \
     "train one global model on every row of a wide CSV (header, then id and values per "    \
     "row, as M4 stores them); calendar inputs are off because rows have no times",          \
     false, false},                                                                            \
    {"--series-dir", CDNOPT_CLI_STRING, &(g)->series_dir, 0, 0, "DIR",                       \
     "train one global model on every DIR/*.csv, read with the data flags", false, false},   \
    {"--step", CDNOPT_CLI_DURATION, &(g)->step_s, 60, 86400, "DURATION",                     \
     "time between the values of a --wide row", false, false},                               \
    {"--norm", CDNOPT_CLI_STRING, &(g)->norm, 0, 0, "NAME",                                  \
     "per-series scaling of a global model: mean (divide by the series' mean), minmax or "   \
     "change (divide by its mean change over --seasonal-diff steps)",                          \
     false, false},                                                                            \
    {"--sampling", CDNOPT_CLI_STRING, &(g)->sampling, 0, 0, "NAME",                          \
     "training windows of a global model: windows (uniform over all) or series (a series "   \
     "first)", false, false},                                                                  \
    {"--calib-steps", CDNOPT_CLI_INT, &(g)->calib_steps, 1, 100000, "N",                     \
     "last steps of every series held out of global training to calibrate the intervals",    \
     false, false},                                                                            \
    {"--seasonal-diff", CDNOPT_CLI_INT, &(g)->seasonal_diff, 0, 100000, "N",                 \
     "global model: forecast the change from N steps earlier (0 = off)", false, false}

/**
 * Read the series of --wide or --series-dir (exactly one must be set).
 * @param out    receives *n_out series; free with cdnopt_series_array_free()
 * @return CDNOPT_OK, CDNOPT_EINVAL (no or two sources, an empty folder), or the
 *         reader's error naming the file
 */
int cdnopt_cli_read_series_set(const cdnopt_cli_global_opts *g, const cdnopt_cli_data_opts *d,
                               cdnopt_series ***out, size_t *n_out, char *err);

/**
 * Train a global model on the series named by g with the training flags t and write
 * it, its calibration and its /global group to out_path.
 */
int cdnopt_cli_global_train(const cdnopt_cli_global_opts *g, const cdnopt_cli_data_opts *d,
                            const cdnopt_cli_train_opts *t, const char *out_path, char *err);

/** Settings of a global forecast. */
typedef struct cdnopt_cli_global_forecast_args {
    const char *model_path; /* model file with a /global group */
    const char *out_path;   /* mean CSV; bounds go to the same name with -lower, -upper */
    int64_t horizon_s;      /* time to forecast, seconds */
    int n_samples;          /* MC paths per series */
    uint64_t seed;          /* seed of the MC paths; series i uses seed + i */
} cdnopt_cli_global_forecast_args;

/** Forecast every series of g with a loaded global model and write the three files. */
int cdnopt_cli_global_forecast(const cdnopt_cli_global_opts *g, const cdnopt_cli_data_opts *d,
                               const cdnopt_model *m, const cdnopt_global_params *gp,
                               const cdnopt_calibration *cal,
                               const cdnopt_cli_global_forecast_args *a, char *err);

/**
 * Reject the CSV read flags (--unit, --column, --tz, --fill-gaps, --max-gap,
 * --duplicates, --drop-missing) with --wide. The wide reader takes each row's values as
 * they are, so these flags would be ignored, and --unit would label unconverted values.
 * @return 0 or CDNOPT_EINVAL with a message naming the flag
 */
int cdnopt_cli_check_wide_read_flags(const cdnopt_cli_global_opts *g,
                                     const cdnopt_cli_option *opts, size_t n_opts, char *err);

/**
 * Reject --step unless --wide is given. Only a wide row lacks times, because a --data or
 * --series-dir CSV takes its step from its timestamps, so --step would be ignored there.
 * @param opts  the command's parsed options (with a "--step" row)
 * @return 0 or CDNOPT_EINVAL with a message naming --step
 */
int cdnopt_cli_check_step_flag(const cdnopt_cli_global_opts *g, cdnopt_cli_option *opts,
                               size_t n_opts, char *err);

/**
 * Reject --norm, --sampling, --calib-steps and --seasonal-diff unless --wide or
 * --series-dir is given: only a global model reads them, so a --data model would be
 * trained as if they were absent.
 * @param opts  the command's parsed options (with the CDNOPT_CLI_GLOBAL_OPTIONS rows)
 * @return 0 or CDNOPT_EINVAL with a message naming the flag
 */
int cdnopt_cli_check_global_only_flags(const cdnopt_cli_global_opts *g,
                                       cdnopt_cli_option *opts, size_t n_opts, char *err);

#endif
