/* SPDX-License-Identifier: Apache-2.0 */
/*
 * m4: the M4 competition's wide CSV files, forecasting a whole set with one method and
 * scoring forecasts the way the competition did. Part of the forecast module.
 *
 * A wide file has a header ("V1","V2",...) and one series per row: the id, then the
 * values oldest first, right-padded with empty fields. A cdnopt_m4_set contains one
 * such file (training values, test values or forecasts). A method is any cdnopt_m4_method_fn,
 * so a baseline and a neural model plug in the same way.
 *
 * Usage:
 *     cdnopt_m4_set *full = NULL, *train = NULL, *test = NULL;
 *     cdnopt_m4_read("Hourly-train.csv", &full, err);
 *     cdnopt_m4_split(full, 48, &train, &test, err);          // hold out the last 48
 *     cdnopt_m4_forecasts fc = {0};
 *     cdnopt_baseline_params p = cdnopt_baseline_params_default();
 *     p.method = CDNOPT_BASELINE_NAIVE2;
 *     cdnopt_m4_forecast(train, 48, cdnopt_m4_baseline_method, &p, &fc, err);
 *     cdnopt_m4_summary s;
 *     cdnopt_m4_score(train, test, &fc, 24, 0.95, &s, err);
 *     ...free with cdnopt_m4_set_free() and cdnopt_m4_forecasts_fini().
 *
 * Limitations:
 * - The reader accepts numbers quoted or bare, but no embedded commas or quotes in ids.
 * - The whole file is held in memory (the Hourly file is 2.3 MB).
 */
#ifndef CDNOPT_M4_H
#define CDNOPT_M4_H

#include "cdnopt/stats.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Series of one wide file. Owned; free with cdnopt_m4_set_free(). */
typedef struct cdnopt_m4_set {
    size_t n_series; /* number of rows */
    char **ids;      /* n_series ids ("H1"), owned */
    double **values; /* n_series arrays of values, oldest first, owned */
    size_t *length;  /* n_series value counts */
    size_t *line;    /* n_series line numbers in the file (1-based), for messages */
    char *path;      /* file the set came from, or NULL; owned */
} cdnopt_m4_set;

/**
 * Read a wide M4 file. Errors (EIO, EPARSE) name the file, the line, the id and the
 * field: a non-numeric value, a value after an empty field, an empty row, a duplicate id.
 */
int cdnopt_m4_read(const char *path, cdnopt_m4_set **out /* OUT */, char *err);

/** Free a set; NULL is a no-op. */
void cdnopt_m4_set_free(cdnopt_m4_set *set);

/**
 * Split each series into its first length - h values (train) and last h (test).
 * @return CDNOPT_EINVAL naming the id when a series has fewer than h + 1 values
 */
int cdnopt_m4_split(const cdnopt_m4_set *full, size_t h, cdnopt_m4_set **train /* OUT */,
                    cdnopt_m4_set **test /* OUT */, char *err);

/**
 * A forecasting method for one series: fill out (h steps, lower/upper possibly
 * requested) from n values y. ctx is the method's settings.
 */
typedef int (*cdnopt_m4_method_fn)(const double *y, size_t n, size_t h,
                                   cdnopt_interval_forecast *out, void *ctx, char *err);

/** The baseline method adapter: ctx is a const cdnopt_baseline_params *. */
int cdnopt_m4_baseline_method(const double *y, size_t n, size_t h, cdnopt_interval_forecast *out,
                              void *ctx, char *err);

/** Forecasts for a whole set: three sets of the same ids, h values each. */
typedef struct cdnopt_m4_forecasts {
    size_t horizon;       /* steps per series */
    cdnopt_m4_set *mean;  /* point forecasts, owned */
    cdnopt_m4_set *lower; /* lower bounds, owned; NULL when the method gives none */
    cdnopt_m4_set *upper; /* upper bounds, owned; NULL when the method gives none */
} cdnopt_m4_forecasts;

/**
 * Forecast every series of train h steps ahead with method. On failure the message
 * names the series id and out is left empty.
 */
int cdnopt_m4_forecast(const cdnopt_m4_set *train, size_t h, cdnopt_m4_method_fn method,
                       void *ctx, cdnopt_m4_forecasts *out /* OUT */, char *err);

/** Free the three sets; a zeroed struct is a no-op. */
void cdnopt_m4_forecasts_fini(cdnopt_m4_forecasts *fc);

/** Write a set as a wide CSV "id,F1..Fh" with 17 significant digits. */
int cdnopt_m4_write(const char *path, const cdnopt_m4_set *set, char *err);

/**
 * Read a forecast folder (forecasts.csv, and lower.csv/upper.csv when present) of
 * horizon h. Errors name the file, the line and the id with the wrong field count.
 */
int cdnopt_m4_forecasts_read(const char *dir, size_t h, cdnopt_m4_forecasts *out /* OUT */,
                             char *err);

/** Set means over all series, filled by cdnopt_m4_score(). */
typedef struct cdnopt_m4_summary {
    size_t n_series;       /* series scored */
    size_t n_seasonal;     /* series that pass M4's seasonality test at the period */
    double smape;          /* mean sMAPE, percent */
    double mase;           /* mean MASE */
    double owa;            /* OWA against Naive2 fitted on the same training data */
    double smape_naive2;   /* Naive2's mean sMAPE, percent */
    double mase_naive2;    /* Naive2's mean MASE */
    double msis;           /* mean MSIS at the level; NAN without bounds */
    double coverage;       /* share of all test points inside the bounds; NAN without */
    double acd;            /* |coverage - level|; NAN without bounds */
    double width;          /* mean relative width (upper - lower) / MASE scale; NAN without */
} cdnopt_m4_summary;

/**
 * Score forecasts against test values as M4 did: per-series sMAPE, MASE (scale from
 * the training part at period m) and MSIS averaged over the set, OWA against Naive2.
 * Ids and lengths of train, test and fc must match; the message names the first id or
 * line that does not.
 */
int cdnopt_m4_score(const cdnopt_m4_set *train, const cdnopt_m4_set *test,
                    const cdnopt_m4_forecasts *fc, size_t m, double level,
                    cdnopt_m4_summary *out, char *err);

#endif /* CDNOPT_M4_H */
