/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Benchmarks of the classical baselines, for docs/benchmarks.md:
 *
 *   bench_stats fit DATA.csv PERIOD REPS
 *       Seconds to fit and forecast one period ahead with each baseline on the whole
 *       series (median of REPS runs), e.g. a 5-minute file with period 288.
 *   bench_stats dayahead DATA.csv PERIOD TEST_DAYS
 *       Day-ahead accuracy from the first step of each of the last TEST_DAYS periods,
 *       refitting at each origin: MASE (scale: seasonal naive error at PERIOD on the
 *       data before the test span) and 95% coverage.
 *   bench_stats m4 Hourly-train.csv
 *       The M4 Hourly validation table (last 48 values held out) for every baseline,
 *       with the seconds each method takes for the 414 series.
 *
 * Every line of output is one JSON object.
 */
#include "cdnopt/core.h"
#include "cdnopt/m4.h"
#include "cdnopt/series.h"
#include "cdnopt/stats.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static cdnopt_series *read_series(const char *path)
{
    cdnopt_series_read_params rp = cdnopt_series_read_params_default();
    rp.unit = CDNOPT_UNIT_RAW;
    cdnopt_series *s = NULL;
    char err[CDNOPT_ERRMSG_MAX];
    if (cdnopt_series_read_csv(path, &rp, &s, NULL, err) != CDNOPT_OK) {
        fprintf(stderr, "bench_stats: %s\n", err);
        exit(1);
    }
    return s;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void forecast_or_die(const cdnopt_baseline_params *p, const double *y, size_t n,
                            size_t h, cdnopt_interval_forecast *fc)
{
    char err[CDNOPT_ERRMSG_MAX];
    if (cdnopt_baseline_forecast(p, y, n, h, fc, err) != CDNOPT_OK) {
        fprintf(stderr, "bench_stats: %s: %s\n", cdnopt_baseline_name(p->method), err);
        exit(1);
    }
}

static void bench_fit(const char *path, size_t period, int reps)
{
    cdnopt_series *s = read_series(path);
    double *buffer = malloc(3 * period * sizeof *buffer);
    double seconds[64];
    cdnopt_interval_forecast fc = {buffer, buffer + period, buffer + 2 * period};
    if (reps < 1)
        reps = 1;
    if (reps > 64)
        reps = 64;

    for (int method = 0; method < CDNOPT_BASELINE_COUNT; method++) {
        cdnopt_baseline_params p = cdnopt_baseline_params_default();
        p.method = (enum cdnopt_baseline_method)method;
        p.period = period;
        for (int r = 0; r < reps; r++) {
            double start = cdnopt_clock_s();
            forecast_or_die(&p, s->v, s->n, period, &fc);
            seconds[r] = cdnopt_clock_s() - start;
        }
        qsort(seconds, (size_t)reps, sizeof seconds[0], compare_doubles);
        printf("{\"bench\":\"fit\",\"method\":\"%s\",\"n\":%zu,\"period\":%zu,"
               "\"median_s\":%.4f}\n",
               cdnopt_baseline_name(p.method), s->n, period, seconds[reps / 2]);
    }
    free(buffer);
    cdnopt_series_free(s);
}

static void bench_dayahead(const char *path, size_t period, size_t test_days)
{
    cdnopt_series *s = read_series(path);
    if (s->n <= (test_days + 2) * period) {
        fprintf(stderr, "bench_stats: %s has %zu values, too few for %zu test days\n", path,
                s->n, test_days);
        exit(1);
    }
    size_t n_train = s->n - test_days * period;
    double scale = cdnopt_metric_mase_scale(s->v, n_train, period);
    double *buffer = malloc(3 * period * sizeof *buffer);
    cdnopt_interval_forecast fc = {buffer, buffer + period, buffer + 2 * period};

    for (int method = 0; method < CDNOPT_BASELINE_COUNT; method++) {
        cdnopt_baseline_params p = cdnopt_baseline_params_default();
        p.method = (enum cdnopt_baseline_method)method;
        p.period = period;
        double mae = 0.0, coverage = 0.0, start = cdnopt_clock_s();
        for (size_t d = 0; d < test_days; d++) {
            size_t origin = n_train + d * period;
            forecast_or_die(&p, s->v, origin, period, &fc);
            mae += cdnopt_metric_mae(s->v + origin, fc.mean, period) / (double)test_days;
            coverage += cdnopt_metric_coverage(s->v + origin, fc.lower, fc.upper, period) /
                        (double)test_days;
        }
        printf("{\"bench\":\"dayahead\",\"method\":\"%s\",\"test_days\":%zu,\"mase\":%.3f,"
               "\"coverage\":%.3f,\"seconds\":%.2f}\n",
               cdnopt_baseline_name(p.method), test_days, mae / scale, coverage,
               cdnopt_clock_s() - start);
    }
    free(buffer);
    cdnopt_series_free(s);
}

static void bench_m4(const char *path)
{
    char err[CDNOPT_ERRMSG_MAX];
    cdnopt_m4_set *full = NULL, *train = NULL, *test = NULL;
    if (cdnopt_m4_read(path, &full, err) != CDNOPT_OK ||
        cdnopt_m4_split(full, 48, &train, &test, err) != CDNOPT_OK) {
        fprintf(stderr, "bench_stats: %s\n", err);
        exit(1);
    }

    for (int method = 0; method < CDNOPT_BASELINE_COUNT; method++) {
        cdnopt_baseline_params p = cdnopt_baseline_params_default();
        p.method = (enum cdnopt_baseline_method)method;
        p.period = 24;
        cdnopt_m4_forecasts fc;
        cdnopt_m4_summary sum;
        double start = cdnopt_clock_s();
        if (cdnopt_m4_forecast(train, 48, cdnopt_m4_baseline_method, &p, &fc, err) != CDNOPT_OK) {
            fprintf(stderr, "bench_stats: %s\n", err);
            exit(1);
        }
        double seconds = cdnopt_clock_s() - start;
        if (cdnopt_m4_score(train, test, &fc, 24, 0.95, &sum, err) != CDNOPT_OK) {
            fprintf(stderr, "bench_stats: %s\n", err);
            exit(1);
        }
        printf("{\"bench\":\"m4\",\"method\":\"%s\",\"smape\":%.3f,\"mase\":%.3f,\"owa\":%.3f,"
               "\"msis\":%.3f,\"coverage\":%.3f,\"acd\":%.3f,\"seconds\":%.2f}\n",
               cdnopt_baseline_name(p.method), sum.smape, sum.mase, sum.owa, sum.msis,
               sum.coverage, sum.acd, seconds);
        cdnopt_m4_forecasts_fini(&fc);
    }
    cdnopt_m4_set_free(full);
    cdnopt_m4_set_free(train);
    cdnopt_m4_set_free(test);
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "fit") == 0) {
        bench_fit(argv[2], (size_t)atol(argv[3]), atoi(argv[4]));
        return 0;
    }
    if (argc == 5 && strcmp(argv[1], "dayahead") == 0) {
        bench_dayahead(argv[2], (size_t)atol(argv[3]), (size_t)atol(argv[4]));
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "m4") == 0) {
        bench_m4(argv[2]);
        return 0;
    }
    fprintf(stderr, "usage: bench_stats fit DATA.csv PERIOD REPS\n"
                    "       bench_stats dayahead DATA.csv PERIOD TEST_DAYS\n"
                    "       bench_stats m4 Hourly-train.csv\n");
    return 2;
}
