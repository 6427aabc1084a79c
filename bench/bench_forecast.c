/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cdnopt's side of the comparison with the PyTorch peer, on the peer's split: the
 * first TRAIN_DAYS days (288-step blocks from the first sample) train, the rest test.
 *
 *   bench_forecast DATA.csv TRAIN_DAYS EPOCHS
 *
 * Trains the residual LSTM with the peer's settings (univariate input, window 288,
 * 64 units, batch 64, no validation, EPOCHS epochs), then prints JSON lines:
 *   - "epoch": seconds of each epoch;
 *   - "mc100": seconds for 100 Monte-Carlo paths of one step from one window (the first
 *     test step), median of 11 runs;
 *   - "one_step": one-step-ahead MAE and MAPE over the whole test span, dropout off,
 *     as the peer's eval computes mae_det, beside repeating the last value;
 *   - "day_ahead": MAE and MAPE of 288-step forecasts from the origins TRAIN_DAYS + d
 *     days, d = 0..6, as the classical peers place them: the dropout-off path (the
 *     pipeline's point forecast) and the mean of 100 MC paths.
 * Run with OPENBLAS_NUM_THREADS set.
 */
#include "cdnopt/core.h"
#include "cdnopt/model.h"
#include "cdnopt/series.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WINDOW 288
#define MC_REPS 11

static void check(int rc, const char *err)
{
    if (rc != CDNOPT_OK) {
        fprintf(stderr, "bench_forecast: %s\n", err);
        exit(1);
    }
}

static void print_epoch(const cdnopt_epoch_report *r, void *user)
{
    (void)user;
    printf("{\"bench\":\"epoch\",\"epoch\":%d,\"seconds\":%.3f,\"windows\":%d,"
           "\"train_mse_scaled\":%.6f}\n",
           r->epoch, r->seconds, r->n_windows, r->train_loss);
    fflush(stdout);
}

static cdnopt_model *train_peer_model(const cdnopt_series *s, size_t n_train, int epochs)
{
    cdnopt_model_params p = cdnopt_model_params_default();
    p.calendar = false;
    p.seasonal_lag = false;
    p.val_fraction = 0.0f;
    p.window = WINDOW;
    p.epochs = epochs;
    char err[CDNOPT_ERRMSG_MAX] = "";
    cdnopt_series *train = NULL;
    check(cdnopt_series_slice(s, 0, n_train, &train, err), err);
    cdnopt_model *m = NULL;
    check(cdnopt_model_new(&p, s->step_s, &m, err), err);
    check(cdnopt_model_fit(m, train, print_epoch, NULL, err), err);
    cdnopt_series_free(train);
    return m;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void bench_mc(const cdnopt_model *m, const cdnopt_series *s, size_t n_train)
{
    double samples[100], seconds[MC_REPS];
    char err[CDNOPT_ERRMSG_MAX] = "";
    for (int r = 0; r < MC_REPS; r++) {
        double t0 = cdnopt_clock_s();
        check(cdnopt_model_sample(m, s, n_train, 1, 100, (uint64_t)r, samples, err), err);
        seconds[r] = cdnopt_clock_s() - t0;
    }
    qsort(seconds, MC_REPS, sizeof seconds[0], compare_double);
    printf("{\"bench\":\"mc100\",\"reps\":%d,\"median_s\":%.4f,\"min_s\":%.4f,\"max_s\":%.4f}\n",
           MC_REPS, seconds[MC_REPS / 2], seconds[0], seconds[MC_REPS - 1]);
    fflush(stdout);
}

static void bench_one_step(const cdnopt_model *m, const cdnopt_series *s, size_t n_train)
{
    double abs_sum = 0.0, pct_sum = 0.0, last_abs_sum = 0.0;
    char err[CDNOPT_ERRMSG_MAX] = "";
    double t0 = cdnopt_clock_s();
    for (size_t t = n_train; t < s->n; t++) {
        double forecast = 0.0;
        check(cdnopt_model_sample(m, s, t, 1, 0, 0, &forecast, err), err);
        abs_sum += fabs(s->v[t] - forecast);
        pct_sum += fabs(s->v[t] - forecast) / fabs(s->v[t]);
        last_abs_sum += fabs(s->v[t] - s->v[t - 1]);
    }
    double n = (double)(s->n - n_train);
    printf("{\"bench\":\"one_step\",\"n_test\":%zu,\"mae\":%.4f,\"mape\":%.4f,"
           "\"mae_persistence\":%.4f,\"seconds\":%.1f}\n",
           s->n - n_train, abs_sum / n, 100.0 * pct_sum / n, last_abs_sum / n,
           cdnopt_clock_s() - t0);
    fflush(stdout);
}

/* Absolute and relative error sums of one forecast path against the data. */
typedef struct error_sums {
    double abs_sum, pct_sum;
    size_t count;
} error_sums;

static void add_errors(error_sums *e, const cdnopt_series *s, size_t origin, const double *path,
                       int n)
{
    for (int h = 0; h < n; h++) {
        double truth = s->v[origin + (size_t)h];
        e->abs_sum += fabs(truth - path[h]);
        e->pct_sum += fabs(truth - path[h]) / fabs(truth);
        e->count++;
    }
}

static void bench_day_ahead(const cdnopt_model *m, const cdnopt_series *s, size_t n_train)
{
    enum { DAY = 288, N_SAMPLES = 100 };
    double *paths = malloc((size_t)N_SAMPLES * DAY * sizeof *paths);
    if (paths == NULL)
        check(CDNOPT_ENOMEM, "out of memory for day-ahead paths");
    error_sums point = {0}, mc = {0};
    int days = 0;
    char err[CDNOPT_ERRMSG_MAX] = "";
    for (int d = 0; d < 7 && n_train + (size_t)(d + 1) * DAY <= s->n; d++, days++) {
        size_t origin = n_train + (size_t)d * DAY;
        double mean[DAY];
        check(cdnopt_model_sample(m, s, origin, DAY, 0, 0, mean, err), err);
        add_errors(&point, s, origin, mean, DAY);

        check(cdnopt_model_sample(m, s, origin, DAY, N_SAMPLES, (uint64_t)d, paths, err), err);
        for (int h = 0; h < DAY; h++) {
            mean[h] = 0.0;
            for (int p = 0; p < N_SAMPLES; p++)
                mean[h] += paths[p * DAY + h] / N_SAMPLES;
        }
        add_errors(&mc, s, origin, mean, DAY);
    }
    free(paths);
    printf("{\"bench\":\"day_ahead\",\"origins\":%d,\"mae\":%.4f,\"mape\":%.4f,"
           "\"mae_mc_mean\":%.4f,\"mape_mc_mean\":%.4f}\n",
           days, point.abs_sum / (double)point.count, 100.0 * point.pct_sum / (double)point.count,
           mc.abs_sum / (double)mc.count, 100.0 * mc.pct_sum / (double)mc.count);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: bench_forecast DATA.csv TRAIN_DAYS EPOCHS\n");
        return 2;
    }
    cdnopt_series_read_params rp = cdnopt_series_read_params_default();
    rp.unit = CDNOPT_UNIT_RAW;
    cdnopt_series *s = NULL;
    char err[CDNOPT_ERRMSG_MAX] = "";
    check(cdnopt_series_read_csv(argv[1], &rp, &s, NULL, err), err);

    size_t n_train = (size_t)atoi(argv[2]) * 288;
    if (s->step_s != 300 || n_train <= WINDOW || n_train >= s->n) {
        fprintf(stderr, "bench_forecast: %s needs a 5-minute step and more than %s days\n",
                argv[1], argv[2]);
        return 1;
    }
    cdnopt_model *m = train_peer_model(s, n_train, atoi(argv[3]));
    bench_mc(m, s, n_train);
    bench_one_step(m, s, n_train);
    bench_day_ahead(m, s, n_train);
    cdnopt_model_free(m);
    cdnopt_series_free(s);
    return 0;
}
