/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Benchmarks of the residual LSTM model, for docs/benchmarks.md:
 *
 *   bench_model epoch DATA.csv TRAIN_DAYS EPOCHS [ARCH]
 *       Seconds per training epoch with the PyTorch peer's settings: univariate
 *       input (no calendar, no lag), window of one day, 64 units, batch 64, every
 *       window of the first TRAIN_DAYS days, no validation. ARCH 2 times the
 *       attention hybrid instead (d_model 128, 4 heads, dropout 0.2).
 *   bench_model mc DATA.csv TRAIN_DAYS REPS
 *       Seconds for 100 Monte-Carlo samples of the one-step forecast from the window
 *       that ends at the first test step, median of REPS runs.
 *   bench_model lag DATA.csv TRAIN_DAYS EPOCHS MAX_WINDOWS SEED
 *       Trains the default model (calendar on) without and with the seasonal-lag
 *       channel, then compares deterministic day-ahead roll-outs from the start of
 *       every whole test day: MAE and MAPE against the data.
 *
 * Every line of output is one JSON object. Run with OPENBLAS_NUM_THREADS set.
 */
#include "cdnopt/core.h"
#include "cdnopt/model.h"
#include "cdnopt/series.h"

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
        fprintf(stderr, "bench_model: %s\n", err);
        exit(1);
    }
    return s;
}

static cdnopt_series *head(const cdnopt_series *s, size_t n)
{
    cdnopt_series *out = NULL;
    char err[CDNOPT_ERRMSG_MAX];
    if (cdnopt_series_slice(s, 0, n, &out, err) != CDNOPT_OK) {
        fprintf(stderr, "bench_model: %s\n", err);
        exit(1);
    }
    return out;
}

static cdnopt_model_params peer_params(void)
{
    cdnopt_model_params p = cdnopt_model_params_default();
    p.calendar = false;
    p.seasonal_lag = false;
    p.val_fraction = 0.0f;
    p.patience = 1000;
    return p;
}

static void check(int rc, const char *err)
{
    if (rc != CDNOPT_OK) {
        fprintf(stderr, "bench_model: %s\n", err);
        exit(1);
    }
}

static void print_epoch(const cdnopt_epoch_report *r, void *user)
{
    (void)user;
    printf("{\"bench\":\"epoch\",\"epoch\":%d,\"seconds\":%.3f,\"windows\":%d,"
           "\"train_mse_scaled\":%.6f}\n", r->epoch, r->seconds, r->n_windows, r->train_loss);
    fflush(stdout);
}

static int bench_epoch(const cdnopt_series *s, size_t n_train, int epochs, int arch)
{
    cdnopt_model_params p = peer_params();
    p.epochs = epochs;
    if (arch == CDNOPT_ARCH_TRANSFORMER) {
        p.arch = CDNOPT_ARCH_TRANSFORMER;
        p.dropout = 0.2f;
    }
    cdnopt_series *train = head(s, n_train);
    cdnopt_model *m = NULL;
    char err[CDNOPT_ERRMSG_MAX] = "";
    check(cdnopt_model_new(&p, s->step_s, &m, err), err);
    check(cdnopt_model_fit(m, train, print_epoch, NULL, err), err);
    cdnopt_model_free(m);
    cdnopt_series_free(train);
    return 0;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int bench_mc(const cdnopt_series *s, size_t n_train, int reps)
{
    /* Timing does not depend on the weights' values, so the model stays untrained;
     * one epoch on few windows only sets the scaler. */
    cdnopt_model_params p = peer_params();
    p.epochs = 1;
    p.max_windows = 64;
    cdnopt_series *train = head(s, n_train);
    cdnopt_model *m = NULL;
    char err[CDNOPT_ERRMSG_MAX] = "";
    check(cdnopt_model_new(&p, s->step_s, &m, err), err);
    check(cdnopt_model_fit(m, train, NULL, NULL, err), err);

    enum { N_SAMPLES = 100, MAX_REPS = 101 };
    double samples[N_SAMPLES], seconds[MAX_REPS];
    reps = reps < 1 ? 1 : (reps > MAX_REPS ? MAX_REPS : reps);
    check(cdnopt_model_sample(m, s, n_train, 1, N_SAMPLES, 0, samples, err), err);
    for (int r = 0; r < reps; r++) {
        double t0 = cdnopt_clock_s();
        check(cdnopt_model_sample(m, s, n_train, 1, N_SAMPLES, (uint64_t)r, samples, err), err);
        seconds[r] = cdnopt_clock_s() - t0;
    }
    qsort(seconds, (size_t)reps, sizeof seconds[0], compare_double);
    printf("{\"bench\":\"mc100_one_step\",\"reps\":%d,\"median_s\":%.4f,\"min_s\":%.4f,"
           "\"max_s\":%.4f}\n", reps, seconds[reps / 2], seconds[0], seconds[reps - 1]);
    cdnopt_model_free(m);
    cdnopt_series_free(train);
    return 0;
}

/* Day-ahead MAE and MAPE of deterministic roll-outs from each whole test day's start. */
static void day_ahead_errors(const cdnopt_model *m, const cdnopt_series *s, size_t n_train,
                             double *mae, double *mape, int *n_days)
{
    size_t day = (size_t)(86400 / s->step_s);
    double *path = malloc(day * sizeof *path);
    double abs_sum = 0.0, pct_sum = 0.0;
    size_t count = 0;
    char err[CDNOPT_ERRMSG_MAX] = "";

    /* The first origin is the first step of a day at or after the end of training.
     * A grid need not hit midnight exactly, so any step in the day's first step_s counts. */
    size_t origin = n_train;
    while (origin < s->n && (s->t[origin] % 86400) >= s->step_s)
        origin++;
    *n_days = 0;
    for (; origin + day <= s->n; origin += day) {
        check(cdnopt_model_sample(m, s, origin, (int)day, 0, 0, path, err), err);
        for (size_t h = 0; h < day; h++) {
            double truth = s->v[origin + h];
            abs_sum += fabs(path[h] - truth);
            pct_sum += fabs(path[h] - truth) / fabs(truth);
            count++;
        }
        (*n_days)++;
    }
    free(path);
    if (count == 0) {
        fprintf(stderr, "bench_model: no whole test day after the training span\n");
        exit(1);
    }
    *mae = abs_sum / (double)count;
    *mape = 100.0 * pct_sum / (double)count;
}

static int bench_lag(const cdnopt_series *s, size_t n_train, int epochs, int max_windows,
                     uint64_t seed)
{
    cdnopt_series *train = head(s, n_train);
    for (int lag = 0; lag <= 1; lag++) {
        cdnopt_model_params p = cdnopt_model_params_default();
        p.seasonal_lag = lag != 0;
        p.epochs = epochs;
        p.max_windows = max_windows;
        p.seed = seed;
        cdnopt_model *m = NULL;
        char err[CDNOPT_ERRMSG_MAX] = "";
        check(cdnopt_model_new(&p, s->step_s, &m, err), err);
        double t0 = cdnopt_clock_s();
        check(cdnopt_model_fit(m, train, NULL, NULL, err), err);
        double fit_s = cdnopt_clock_s() - t0;

        double mae, mape;
        int n_days;
        day_ahead_errors(m, s, n_train, &mae, &mape, &n_days);
        printf("{\"bench\":\"seasonal_lag\",\"lag\":%d,\"seed\":%llu,\"epochs\":%d,"
               "\"max_windows\":%d,\"fit_s\":%.1f,\"test_days\":%d,\"day_ahead_mae\":%.4f,"
               "\"day_ahead_mape\":%.3f}\n", lag, (unsigned long long)seed, epochs, max_windows,
               fit_s, n_days, mae, mape);
        fflush(stdout);
        cdnopt_model_free(m);
    }
    cdnopt_series_free(train);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: bench_model epoch|mc|lag DATA.csv TRAIN_DAYS N [ARCH | MAX_WINDOWS SEED]\n");
        return 2;
    }
    cdnopt_series *s = read_series(argv[2]);
    size_t n_train = (size_t)atoi(argv[3]) * (size_t)(86400 / s->step_s);
    int n = atoi(argv[4]);
    if (n_train >= s->n) {
        fprintf(stderr, "bench_model: %s has only %zu samples\n", argv[2], s->n);
        return 1;
    }

    int rc = 2;
    if (strcmp(argv[1], "epoch") == 0)
        rc = bench_epoch(s, n_train, n, argc >= 6 ? atoi(argv[5]) : CDNOPT_ARCH_RESIDUAL_LSTM);
    else if (strcmp(argv[1], "mc") == 0)
        rc = bench_mc(s, n_train, n);
    else if (strcmp(argv[1], "lag") == 0 && argc >= 7)
        rc = bench_lag(s, n_train, n, atoi(argv[5]), (uint64_t)strtoull(argv[6], NULL, 10));
    else
        fprintf(stderr, "bench_model: unknown mode '%s'\n", argv[1]);
    cdnopt_series_free(s);
    return rc;
}
