/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Point forecasts of a saved model on the validation slice of its training data, for
 * docs/benchmarks.md:
 *
 *   bench_direct MODEL.h5 TRAIN.csv UNIT STRIDE N_SAMPLES
 *
 * TRAIN.csv holds the rows the model was trained on, read in UNIT (as cdnopt's
 * --unit flag), which must be the unit it was trained with.
 * From every STRIDE-th step of the last val_fraction of it (the slice the model
 * validated on, where the pipeline also calibrates), the model forecasts one day
 * ahead. The output is one JSON line with the mean absolute error of the
 * dropout-off path, of the mean and of the median of N_SAMPLES Monte-Carlo paths,
 * and of the one-day seasonal naive forecast from the same origins, and the factor
 * that training scaled the direct head's correction by.
 */
#include "cdnopt/core.h"
#include "cdnopt/model.h"
#include "cdnopt/pipeline.h"
#include "cdnopt/series.h"
#include "model-impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die(const char *what, const char *err)
{
    fprintf(stderr, "bench_direct: %s: %s\n", what, err);
    exit(1);
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Absolute errors of the four point forecasts, summed over the steps of one origin. */
typedef struct sums {
    double off, mean, median, naive;
    size_t n;
} sums;

static void score_origin(const cdnopt_series *s, size_t end, size_t horizon, size_t day,
                         const double *off, const double *paths, size_t n_paths, double *column,
                         sums *acc)
{
    for (size_t k = 0; k < horizon; k++) {
        double mean = 0.0;
        for (size_t p = 0; p < n_paths; p++) {
            column[p] = paths[p * horizon + k];
            mean += column[p];
        }
        mean /= (double)n_paths;
        qsort(column, n_paths, sizeof *column, compare_doubles);
        double median = n_paths % 2 == 1 ? column[n_paths / 2]
                                         : 0.5 * (column[n_paths / 2 - 1] + column[n_paths / 2]);

        double truth = s->v[end + k];
        acc->off += fabs(off[k] - truth);
        acc->mean += fabs(mean - truth);
        acc->median += fabs(median - truth);
        acc->naive += fabs(s->v[end - day + k % day] - truth);
        acc->n++;
    }
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: bench_direct MODEL.h5 TRAIN.csv UNIT STRIDE N_SAMPLES\n");
        return 2;
    }
    char err[CDNOPT_ERRMSG_MAX];
    cdnopt_model *m = NULL;
    if (cdnopt_model_load(argv[1], &m, err) != CDNOPT_OK)
        die("load", err);
    cdnopt_series_read_params rp = cdnopt_series_read_params_default();
    if (cdnopt_unit_parse(argv[3], &rp.unit, err) != CDNOPT_OK)
        die("unit", err);
    cdnopt_series *s = NULL;
    if (cdnopt_series_read_csv(argv[2], &rp, &s, NULL, err) != CDNOPT_OK)
        die("read", err);
    size_t stride = (size_t)atol(argv[4]);
    size_t n_paths = (size_t)atol(argv[5]);
    if (stride < 1 || n_paths < 1)
        die("arguments", "STRIDE and N_SAMPLES must be at least 1");

    const cdnopt_model_params *p = cdnopt_model_get_params(m);
    size_t day = (size_t)(86400 / cdnopt_model_step_s(m));
    size_t horizon = day;
    size_t val_start = cdnopt_pipeline_val_start(s->n, p->val_fraction > 0 ? p->val_fraction : 0.1);
    double *off = cdnopt_malloc(horizon * sizeof *off);
    double *paths = cdnopt_malloc(n_paths * horizon * sizeof *paths);
    double *column = cdnopt_malloc(n_paths * sizeof *column);
    if (off == NULL || paths == NULL || column == NULL)
        die("memory", "out of memory");

    sums acc = {0};
    size_t n_origins = 0;
    double t0 = cdnopt_clock_s();
    for (size_t end = val_start; end + horizon <= s->n; end += stride) {
        if (cdnopt_model_sample(m, s, end, (int)horizon, 0, 0, off, err) != CDNOPT_OK ||
            cdnopt_model_sample(m, s, end, (int)horizon, (int)n_paths, 7 + end, paths, err) !=
                CDNOPT_OK)
            die("sample", err);
        score_origin(s, end, horizon, day, off, paths, n_paths, column, &acc);
        n_origins++;
    }
    double seconds = cdnopt_clock_s() - t0;

    printf("{\"model\":\"%s\",\"head\":%d,\"base\":%d,\"origins\":%zu,\"samples\":%zu,"
           "\"mae_dropout_off\":%.6g,\"mae_mc_mean\":%.6g,\"mae_mc_median\":%.6g,"
           "\"mae_seasonal_naive\":%.6g,\"shrink\":%.4f,\"seconds\":%.1f}\n",
           argv[1], (int)p->head, (int)p->base, n_origins, n_paths, acc.off / (double)acc.n,
           acc.mean / (double)acc.n, acc.median / (double)acc.n, acc.naive / (double)acc.n,
           m->info.shrink, seconds);
    cdnopt_free(off);
    cdnopt_free(paths);
    cdnopt_free(column);
    cdnopt_series_free(s);
    cdnopt_model_free(m);
    return 0;
}
