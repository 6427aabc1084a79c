/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests of the residual LSTM's direct multi-horizon head: its gradient against finite
 * differences, an untrained model forecasting exactly its base, learning a daily sine
 * with level shifts, model files with the head, and chained blocks. Models are tiny
 * (hourly steps, a one-day window of 24, 4 to 8 units).
 */
#include "cdnopt/core.h"
#include "cdnopt/model.h"
#include "cdnopt/series.h"
#include "model-impl.h"
#include "testutil.h"

#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define STEP_S 3600
#define DAY 24

/* ---- helpers ---- */

/* Hourly daily sine from Monday 2024-01-01 00:00 civil time, plus a level that jumps
 * by shift_size at 07:00 of every third day, alternately up and down. */
static cdnopt_series *sine_series(size_t n, double shift_size)
{
    cdnopt_series *s = NULL;
    assert_int_equal(cdnopt_series_new(n, 1704067200, STEP_S, &s), CDNOPT_OK);
    double level = 10.0;
    for (size_t i = 0; i < n; i++) {
        size_t day = i / DAY;
        if (i % DAY == 7 && day % 3 == 0 && day > 0)
            level += (day / 3) % 2 == 0 ? shift_size : -shift_size;
        s->v[i] = level + 4.0 * sin(2.0 * M_PI * (double)i / DAY);
    }
    return s;
}

static cdnopt_model_params direct_params(int horizon, cdnopt_head_base base)
{
    cdnopt_model_params p = cdnopt_model_params_default();
    p.head = CDNOPT_HEAD_DIRECT;
    p.horizon = horizon;
    p.base = base;
    p.units = 8;
    p.batch = 16;
    p.epochs = 1;
    p.seed = 42;
    return p;
}

static cdnopt_model *new_model(const cdnopt_model_params *p)
{
    cdnopt_model *m = NULL;
    char err[CDNOPT_ERRMSG_MAX] = "";
    int rc = cdnopt_model_new(p, STEP_S, &m, err);
    if (rc != CDNOPT_OK)
        fail_msg("model_new failed: %s", err);
    return m;
}

static void fit_or_fail(cdnopt_model *m, const cdnopt_series *train)
{
    char err[CDNOPT_ERRMSG_MAX] = "";
    int rc = cdnopt_model_fit(m, train, NULL, NULL, err);
    if (rc != CDNOPT_OK)
        fail_msg("fit failed: %s", err);
}

/* Mean squared error of pred [B, n_out] against the windows' targets, in double. */
static double batch_mse(const model_pass *pass, const float *y, size_t n)
{
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        double e = (double)pass->pred[i] - (double)y[i];
        sum += e * e;
    }
    return sum / (double)n;
}

/* Loss of the batch at the model's current weights. */
static double loss_at(const cdnopt_model *m, const float *x, const float *y, size_t n_batch,
                      const float *mask1, const float *mask2)
{
    cdnopt_scratch *scratch = NULL;
    assert_int_equal(cdnopt_scratch_new(0, &scratch), CDNOPT_OK);
    model_pass pass;
    assert_int_equal(cdnopt__model_forward(m, scratch, n_batch, x, mask1, mask2, &pass),
                     CDNOPT_OK);
    double loss = batch_mse(&pass, y, n_batch * (size_t)m->n_out);
    cdnopt_scratch_free(scratch);
    return loss;
}

/* ---- gradient ---- */

static void direct_gradient_matches_differences(void **state)
{
    (void)state;
    cdnopt_model_params p = direct_params(6, CDNOPT_BASE_SEASONAL);
    p.units = 4;
    p.dropout = 0.25f;
    cdnopt_model *m = new_model(&p);
    cdnopt_series *s = sine_series(4 * DAY, 1.0);
    cdnopt__model_fit_scaler(m, s->v, s->n);

    /* The head starts at zero, so the LSTMs would get no gradient. Randomise it first. */
    cdnopt_rng rng;
    cdnopt_rng_seed(&rng, 3);
    cdnopt_param_tensor head;
    assert_int_equal(cdnopt_params_find(m->ps, "dense/kernel", &head), CDNOPT_OK);
    cdnopt_init_uniform(cdnopt_params_values(m->ps) + head.offset, head.n_rows * head.n_cols,
                        0.5f, &rng);

    enum { B = 3 };
    size_t w = (size_t)m->p.window, f = (size_t)m->n_features, h = (size_t)m->p.units;
    size_t n_out = (size_t)m->n_out;
    size_t ends[B] = {30, 41, 55};
    float *rows = cdnopt_malloc(s->n * f * sizeof *rows);
    float *x = cdnopt_malloc(B * w * f * sizeof *x);
    float *y = cdnopt_malloc(B * n_out * sizeof *y);
    float mask1[B * 4], mask2[B * 4], dpred[B * 6];
    cdnopt__model_features(m, s, 0, s->n, rows);
    cdnopt__model_gather(m, rows, ends, B, x);
    for (size_t b = 0; b < B; b++)
        for (size_t k = 0; k < n_out; k++)
            y[b * n_out + k] = (float)cdnopt__model_scale(m, s->v[ends[b] + k]);
    cdnopt_dropout_mask(mask1, B * h, p.dropout, &rng);
    cdnopt_dropout_mask(mask2, B * h, p.dropout, &rng);

    /* Analytic gradient of the mean over B * n_out squared errors. */
    cdnopt_scratch *scratch = NULL;
    assert_int_equal(cdnopt_scratch_new(0, &scratch), CDNOPT_OK);
    model_pass pass;
    assert_int_equal(cdnopt__model_forward(m, scratch, B, x, mask1, mask2, &pass), CDNOPT_OK);
    for (size_t i = 0; i < B * n_out; i++)
        dpred[i] = 2.0f * (pass.pred[i] - y[i]) / (float)(B * n_out);
    cdnopt_params_zero_grads(m->ps);
    assert_int_equal(cdnopt__model_backward(m, scratch, &pass, dpred, mask1, mask2), CDNOPT_OK);

    /* Central differences on every 5th weight of every tensor (head and both LSTMs). */
    float *values = cdnopt_params_values(m->ps);
    const float *grads = cdnopt_params_grads(m->ps);
    const float eps = 1e-2f;
    int n_checked = 0;
    for (size_t i = 0; i < cdnopt_params_count(m->ps); i += 5) {
        float saved = values[i];
        values[i] = saved + eps;
        double up = loss_at(m, x, y, B, mask1, mask2);
        values[i] = saved - eps;
        double down = loss_at(m, x, y, B, mask1, mask2);
        values[i] = saved;
        double numeric = (up - down) / (2.0 * (double)eps);
        double tol = 2e-3 * fmax(1.0, fabs(numeric)) + 1e-4;
        if (fabs(numeric - (double)grads[i]) > tol)
            fail_msg("weight %zu: analytic %.6g, finite difference %.6g", i, (double)grads[i],
                     numeric);
        n_checked++;
    }
    assert_true(n_checked > 60);

    cdnopt_scratch_free(scratch);
    cdnopt_free(rows);
    cdnopt_free(x);
    cdnopt_free(y);
    cdnopt_series_free(s);
    cdnopt_model_free(m);
}

/* ---- untrained model ---- */

/* Forecast 2 days with an untrained model and compare every path with its base. */
static void check_untrained_base(cdnopt_head_base base)
{
    cdnopt_model_params p = direct_params(0, base);
    cdnopt_model *m = new_model(&p);
    assert_int_equal(m->p.horizon, DAY);
    cdnopt_series *s = sine_series(5 * DAY, 2.0);
    cdnopt__model_fit_scaler(m, s->v, s->n);

    enum { N_PATHS = 3, HORIZON = 2 * DAY };
    size_t end = 3 * DAY + 5;
    double paths[N_PATHS * HORIZON];
    char err[CDNOPT_ERRMSG_MAX] = "";
    for (int n_samples = 0; n_samples <= N_PATHS; n_samples += N_PATHS) {
        assert_int_equal(cdnopt_model_sample(m, s, end, HORIZON, n_samples, 9, paths, err),
                         CDNOPT_OK);
        int n_rows = n_samples > 0 ? n_samples : 1;
        for (int b = 0; b < n_rows; b++)
            for (size_t k = 0; k < HORIZON; k++) {
                /* Seasonal naive repeats the last observed day; the last-value base
                 * repeats the last value. Both pass through float scaling. */
                size_t src = base == CDNOPT_BASE_SEASONAL ? end - DAY + k % DAY : end - 1;
                double expected = cdnopt__model_unscale(
                    m, (double)(float)cdnopt__model_scale(m, s->v[src]));
                assert_true(fabs(paths[(size_t)b * HORIZON + k] - expected) <= 0.0);
            }
    }
    cdnopt_series_free(s);
    cdnopt_model_free(m);
}

static void untrained_direct_equals_base(void **state)
{
    (void)state;
    check_untrained_base(CDNOPT_BASE_SEASONAL);
    check_untrained_base(CDNOPT_BASE_LAST);
}

static void direct_rejects_short_window(void **state)
{
    (void)state;
    cdnopt_model_params p = direct_params(0, CDNOPT_BASE_SEASONAL);
    p.window = 12;
    cdnopt_model *m = NULL;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_model_new(&p, STEP_S, &m, err), CDNOPT_EINVAL);
    assert_null(m);
    cdnopt_assert_contains(err, "window of 12 steps");
    cdnopt_assert_contains(err, "last-value base");

    p.base = CDNOPT_BASE_LAST;
    assert_int_equal(cdnopt_model_new(&p, STEP_S, &m, err), CDNOPT_OK);
    cdnopt_model_free(m);

    p.arch = CDNOPT_ARCH_TRANSFORMER;
    assert_int_equal(cdnopt_model_new(&p, STEP_S, &m, err), CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "direct head needs the residual LSTM");
}

/* ---- learning ---- */

/* Mean squared day-ahead error over origins [first, last) of the model's
 * dropout-off forecast and of the one-day seasonal naive forecast. */
static void day_ahead_mse(const cdnopt_model *m, const cdnopt_series *s, size_t first,
                          size_t last, double *model_mse, double *naive_mse)
{
    double forecast[DAY];
    double sum_model = 0.0, sum_naive = 0.0;
    size_t n = 0;
    for (size_t end = first; end < last; end++) {
        assert_int_equal(cdnopt_model_sample(m, s, end, DAY, 0, 0, forecast, NULL), CDNOPT_OK);
        for (size_t k = 0; k < DAY; k++) {
            double truth = s->v[end + k];
            sum_model += (forecast[k] - truth) * (forecast[k] - truth);
            sum_naive += (s->v[end - DAY + k] - truth) * (s->v[end - DAY + k] - truth);
            n++;
        }
    }
    *model_mse = sum_model / (double)n;
    *naive_mse = sum_naive / (double)n;
}

static void direct_learns_level_shifts(void **state)
{
    (void)state;
    cdnopt_series *s = sine_series(72 * DAY, 3.0);
    cdnopt_series *train = NULL;
    char err[CDNOPT_ERRMSG_MAX] = "";
    size_t n_train = 60 * DAY;
    assert_int_equal(cdnopt_series_slice(s, 0, n_train, &train, err), CDNOPT_OK);

    cdnopt_model_params p = direct_params(0, CDNOPT_BASE_SEASONAL);
    p.dropout = 0.0f;
    p.calendar = false;
    p.epochs = 12;
    p.patience = 12;
    p.learning_rate = 1e-2f;
    cdnopt_model *m = new_model(&p);
    fit_or_fail(m, train);

    /* Origins over the 11 days after training; 4 level shifts fall among them. */
    double model_mse = 0.0, naive_mse = 0.0;
    day_ahead_mse(m, s, n_train, s->n - DAY, &model_mse, &naive_mse);
    print_message("day-ahead MSE: model %.4f, seasonal naive %.4f\n", model_mse, naive_mse);
    assert_true(naive_mse > 1.0);
    assert_true(model_mse < 0.5 * naive_mse);
    assert_true(m->info.shrink > 0.5);

    cdnopt_model_free(m);
    cdnopt_series_free(train);
    cdnopt_series_free(s);
}

/* On a pure daily sine the seasonal base is exact (up to rounding), so every
 * correction only adds error and the shrink factor is 0: the fitted model is its base. */
static void shrink_keeps_exact_base(void **state)
{
    (void)state;
    cdnopt_series *s = sine_series(12 * DAY, 0.0);
    cdnopt_model_params p = direct_params(0, CDNOPT_BASE_SEASONAL);
    p.epochs = 2;
    cdnopt_model *m = new_model(&p);
    fit_or_fail(m, s);
    assert_true(m->info.shrink < 1e-6);
    assert_true(m->info.best_val_loss < 1e-12);

    double forecast[DAY];
    assert_int_equal(cdnopt_model_sample(m, s, s->n, DAY, 0, 0, forecast, NULL), CDNOPT_OK);
    for (size_t k = 0; k < DAY; k++) {
        double expected = cdnopt__model_unscale(
            m, (double)(float)cdnopt__model_scale(m, s->v[s->n - DAY + k]));
        assert_true(fabs(forecast[k] - expected) < 1e-5);
    }
    cdnopt_model_free(m);
    cdnopt_series_free(s);
}

/* ---- model files ---- */

static void model_path(char *buf, size_t n, const char *tag)
{
    char dir[512];
    cdnopt_test_scratch_dir(dir, sizeof dir, tag);
    snprintf(buf, n, "%s/model.h5", dir);
}

static void direct_save_load_round_trip(void **state)
{
    (void)state;
    cdnopt_model_params p = direct_params(6, CDNOPT_BASE_LAST);
    cdnopt_model *m = new_model(&p);
    cdnopt_series *s = sine_series(10 * DAY, 1.0);
    fit_or_fail(m, s);

    char path[600], err[CDNOPT_ERRMSG_MAX] = "";
    model_path(path, sizeof path, "direct_round_trip");
    assert_int_equal(cdnopt_model_save(m, path, err), CDNOPT_OK);
    cdnopt_model *loaded = NULL;
    assert_int_equal(cdnopt_model_load(path, &loaded, err), CDNOPT_OK);
    const cdnopt_model_params *lp = cdnopt_model_get_params(loaded);
    assert_int_equal(lp->head, CDNOPT_HEAD_DIRECT);
    assert_int_equal(lp->horizon, 6);
    assert_int_equal(lp->base, CDNOPT_BASE_LAST);

    double a[2 * 10], b[2 * 10];
    assert_int_equal(cdnopt_model_sample(m, s, s->n, 10, 2, 7, a, err), CDNOPT_OK);
    assert_int_equal(cdnopt_model_sample(loaded, s, s->n, 10, 2, 7, b, err), CDNOPT_OK);
    for (size_t i = 0; i < 20; i++)
        assert_true(fabs(a[i] - b[i]) <= 0.0);

    cdnopt_model_free(loaded);
    cdnopt_model_free(m);
    cdnopt_series_free(s);
}

/* A file written before the head attributes existed loads as recursive, and a file
 * with only some of them is rejected with the missing one named. */
static void load_without_head_is_recursive(void **state)
{
    (void)state;
    cdnopt_model_params p = cdnopt_model_params_default();
    p.units = 4;
    cdnopt_model *m = new_model(&p);
    char path[600], err[CDNOPT_ERRMSG_MAX] = "";
    model_path(path, sizeof path, "direct_old_file");
    assert_int_equal(cdnopt_model_save(m, path, err), CDNOPT_OK);
    cdnopt_model_free(m);

    hid_t file = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(file >= 0);
    assert_true(H5Adelete(file, "horizon") >= 0);
    H5Fclose(file);
    cdnopt_model *loaded = NULL;
    assert_int_equal(cdnopt_model_load(path, &loaded, err), CDNOPT_EPARSE);
    assert_null(loaded);
    cdnopt_assert_contains(err, "horizon");

    file = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(file >= 0);
    assert_true(H5Adelete(file, "head") >= 0);
    assert_true(H5Adelete(file, "head_base") >= 0);
    H5Fclose(file);
    assert_int_equal(cdnopt_model_load(path, &loaded, err), CDNOPT_OK);
    assert_int_equal(cdnopt_model_get_params(loaded)->head, CDNOPT_HEAD_RECURSIVE);
    cdnopt_model_free(loaded);
}

/* ---- chained blocks ---- */

static void chained_blocks_reproducible(void **state)
{
    (void)state;
    cdnopt_model_params p = direct_params(6, CDNOPT_BASE_SEASONAL);
    cdnopt_model *m = new_model(&p);
    cdnopt_series *s = sine_series(10 * DAY, 1.0);
    fit_or_fail(m, s);

    /* 15 steps are 2.5 blocks of 6; the sentinel after the last path must survive. */
    enum { N = 4, HORIZON = 15 };
    const double sentinel = -12345.0;
    double a[N * HORIZON + 1], b[N * HORIZON + 1], other[N * HORIZON], first_block[N * 6];
    a[N * HORIZON] = sentinel;
    b[N * HORIZON] = sentinel;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_model_sample(m, s, s->n, HORIZON, N, 3, a, err), CDNOPT_OK);
    assert_int_equal(cdnopt_model_sample(m, s, s->n, HORIZON, N, 3, b, err), CDNOPT_OK);
    assert_int_equal(cdnopt_model_sample(m, s, s->n, HORIZON, N, 4, other, err), CDNOPT_OK);
    assert_int_equal(cdnopt_model_sample(m, s, s->n, 6, N, 3, first_block, err), CDNOPT_OK);
    assert_true(fabs(a[N * HORIZON] - sentinel) <= 0.0);

    int n_differ = 0;
    for (size_t i = 0; i < N * HORIZON; i++) {
        assert_true(isfinite(a[i]));
        assert_true(fabs(a[i] - b[i]) <= 0.0);
        n_differ += fabs(a[i] - other[i]) > 1e-9;
    }
    assert_true(n_differ > N * HORIZON / 2);

    /* A shorter horizon is the start of the longer one, path by path. */
    for (size_t path = 0; path < N; path++)
        for (size_t k = 0; k < 6; k++)
            assert_true(fabs(first_block[path * 6 + k] - a[path * HORIZON + k]) <= 0.0);

    cdnopt_model_free(m);
    cdnopt_series_free(s);
}

/* Monte-Carlo paths of one block equal the training forward pass run with the same
 * dropout masks, and the dropout-off path equals it without masks. */
static void sample_matches_forward_pass(void **state)
{
    (void)state;
    cdnopt_model_params p = direct_params(6, CDNOPT_BASE_SEASONAL);
    cdnopt_model *m = new_model(&p);
    cdnopt_series *s = sine_series(10 * DAY, 1.0);
    fit_or_fail(m, s);

    enum { N = 3, H = 6 };
    size_t w = (size_t)m->p.window, f = (size_t)m->n_features, h = (size_t)m->p.units;
    size_t end = s->n - 5;
    size_t ends[N] = {end, end, end};
    float *rows = cdnopt_malloc(s->n * f * sizeof *rows);
    float *x = cdnopt_malloc(N * w * f * sizeof *x);
    float mask1[N * 8], mask2[N * 8];
    assert_true(h <= 8);
    cdnopt__model_features(m, s, 0, s->n, rows);
    cdnopt__model_gather(m, rows, ends, N, x);
    cdnopt__model_draw_masks(m, N, 11, mask1, mask2);
    cdnopt_scratch *scratch = NULL;
    assert_int_equal(cdnopt_scratch_new(0, &scratch), CDNOPT_OK);

    double paths[N * H];
    model_pass pass;
    assert_int_equal(cdnopt__model_forward(m, scratch, N, x, mask1, mask2, &pass), CDNOPT_OK);
    assert_int_equal(cdnopt_model_sample(m, s, end, H, N, 11, paths, NULL), CDNOPT_OK);
    for (size_t i = 0; i < N * H; i++)
        assert_true(fabs(paths[i] - cdnopt__model_unscale(m, pass.pred[i])) < 1e-4);

    cdnopt_scratch_reset(scratch);
    assert_int_equal(cdnopt__model_forward(m, scratch, 1, x, NULL, NULL, &pass), CDNOPT_OK);
    assert_int_equal(cdnopt_model_sample(m, s, end, H, 0, 0, paths, NULL), CDNOPT_OK);
    for (size_t k = 0; k < H; k++)
        assert_true(fabs(paths[k] - cdnopt__model_unscale(m, pass.pred[k])) < 1e-4);

    cdnopt_scratch_free(scratch);
    cdnopt_free(rows);
    cdnopt_free(x);
    cdnopt_model_free(m);
    cdnopt_series_free(s);
}

/* ---- command line ---- */

/* Run `cdnopt train` on a 3-day hourly CSV with extra flags; returns the exit status
 * and the first output line (stderr) in out. */
static int run_train(const char *tag, const char *flags, char *out, size_t out_size)
{
    const char *build = getenv("CDNOPT_BUILD_DIR");
    if (build == NULL)
        fail_msg("CDNOPT_BUILD_DIR is not set: run this test through ctest");
    char dir[512], csv[600], command[2048];
    cdnopt_test_scratch_dir(dir, sizeof dir, tag);
    snprintf(csv, sizeof csv, "%s/hourly.csv", dir);
    FILE *f = fopen(csv, "w");
    assert_non_null(f);
    fprintf(f, "time,value\n");
    for (int i = 0; i < 3 * DAY; i++)
        fprintf(f, "2024-01-%02d %02d:00:00,%.3f\n", 1 + i / DAY, i % DAY,
                10.0 + sin(2.0 * M_PI * i / DAY));
    fclose(f);

    snprintf(command, sizeof command, "'%s/bin/cdnopt' -q train --data '%s' --unit raw %s "
             "--out '%s/m.h5' 2>&1", build, csv, flags, dir);
    FILE *p = popen(command, "r");
    assert_non_null(p);
    out[0] = '\0';
    if (fgets(out, (int)out_size, p) == NULL)
        out[0] = '\0';
    char rest[256];
    while (fgets(rest, sizeof rest, p) != NULL)
        continue;
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void cli_rejects_bad_head(void **state)
{
    (void)state;
    char out[1024];
    assert_int_equal(run_train("direct_cli_head", "--head sideways", out, sizeof out), 2);
    cdnopt_assert_contains(out, "invalid value 'sideways' for --head: use auto, recursive or "
                                "direct");
    assert_int_equal(run_train("direct_cli_base", "--head-base weekly", out, sizeof out), 2);
    cdnopt_assert_contains(out, "invalid value 'weekly' for --head-base: use auto, seasonal or "
                                "last");

    /* A 6-hour window with --head-base seasonal names the window and the fix. */
    assert_int_equal(run_train("direct_cli_window", "--window 6h --head-base seasonal", out,
                               sizeof out), 2);
    cdnopt_assert_contains(out, "window of 6 steps is shorter than one day");
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(direct_gradient_matches_differences),
        cmocka_unit_test(untrained_direct_equals_base),
        cmocka_unit_test(direct_rejects_short_window),
        cmocka_unit_test(direct_learns_level_shifts),
        cmocka_unit_test(shrink_keeps_exact_base),
        cmocka_unit_test(direct_save_load_round_trip),
        cmocka_unit_test(load_without_head_is_recursive),
        cmocka_unit_test(chained_blocks_reproducible),
        cmocka_unit_test(sample_matches_forward_pass),
        cmocka_unit_test(cli_rejects_bad_head),
    };
    return cdnopt_test_main(argc, argv, "direct", tests, sizeof tests / sizeof tests[0]);
}
