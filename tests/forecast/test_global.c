/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Global training over several series. The cases cover per-series scaling round trips,
 * one model that learns series six orders of magnitude apart, and the all-series
 * forecast sets (shape, ids, order, bounds around the mean). They also cover the
 * /global group of model files, input errors, and the M4 path on a tiny wide file.
 */
#include "cdnopt/core.h"
#include "cdnopt/global.h"
#include "testutil.h"
#include "assert_near.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define STEP_S 3600
#define PERIOD 12

/* A positive periodic series: level * (2 + sin(2 pi i / PERIOD)), plus a small
 * deterministic ripple so that the series are not exact copies of each other. */
static cdnopt_series *make_series(size_t n, double level, double phase, const char *name)
{
    cdnopt_series *s = NULL;
    assert_int_equal(cdnopt_series_new(n, 0, STEP_S, &s), CDNOPT_OK);
    assert_int_equal(cdnopt_series_set_name(s, name), CDNOPT_OK);
    for (size_t i = 0; i < n; i++)
        s->v[i] = level * (2.0 + sin(2.0 * M_PI * (double)i / PERIOD + phase) +
                           0.05 * cos(0.37 * (double)i));
    return s;
}

/* Small and fast settings: window of one period, 8 units, no dropout noise in the
 * point path, enough epochs for the pattern. */
static cdnopt_global_params small_params(void)
{
    cdnopt_global_params gp = cdnopt_global_params_default();
    gp.model.window = 3 * PERIOD;
    gp.model.units = 8;
    gp.model.batch = 16;
    gp.model.epochs = 40;
    gp.model.patience = 40;
    gp.model.learning_rate = 1e-2f;
    gp.model.dropout = 0.1f;
    gp.model.val_fraction = 0.1f;
    gp.calib_steps = PERIOD;
    gp.n_samples = 8;
    return gp;
}

static void free_all(cdnopt_series **s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cdnopt_series_free(s[i]);
}

/* ------------------------------------------------------------------------- */
/* Scaling                                                                   */
/* ------------------------------------------------------------------------- */

static void scaler_minmax_round_trip(void **state)
{
    (void)state;
    double v[] = {3.0, 7.0, 5.0, 11.0};
    cdnopt_global_scaler s = cdnopt_global_scaler_fit(CDNOPT_GLOBAL_NORM_MINMAX, 0, v, 4);
    assert_near(s.offset, 3.0, 1e-12);
    assert_near(s.scale, 8.0, 1e-12);
    assert_near(cdnopt_global_scale(&s, 3.0), 0.0, 1e-12);
    assert_near(cdnopt_global_scale(&s, 11.0), 1.0, 1e-12);
    for (int i = 0; i < 4; i++)
        assert_near(cdnopt_global_unscale(&s, cdnopt_global_scale(&s, v[i])), v[i], 1e-12);
}

static void scaler_mean_round_trip(void **state)
{
    (void)state;
    double v[] = {1e6, 3e6, 2e6};
    cdnopt_global_scaler s = cdnopt_global_scaler_fit(CDNOPT_GLOBAL_NORM_MEAN, 0, v, 3);
    assert_near(s.offset, 0.0, 0.0);
    assert_near(s.scale, 2e6, 1e-6);
    assert_near(cdnopt_global_scale(&s, 3e6), 1.5, 1e-12);
    for (int i = 0; i < 3; i++)
        assert_near(cdnopt_global_unscale(&s, cdnopt_global_scale(&s, v[i])), v[i], 1e-6);
}

/* Scale = mean |v[i] - v[i - 2]| = (|5 - 1| + |3 - 2| + |9 - 5|) / 3 = 3. */
static void scaler_change_hand_computed(void **state)
{
    (void)state;
    double v[] = {1.0, 2.0, 5.0, 3.0, 9.0};
    cdnopt_global_scaler s = cdnopt_global_scaler_fit(CDNOPT_GLOBAL_NORM_CHANGE, 2, v, 5);
    assert_near(s.offset, 0.0, 0.0);
    assert_near(s.scale, 3.0, 1e-12);
    double flat[] = {4.0, 4.0, 4.0};
    cdnopt_global_scaler f = cdnopt_global_scaler_fit(CDNOPT_GLOBAL_NORM_CHANGE, 1, flat, 3);
    assert_near(f.scale, 1.0, 0.0);
}

static void scaler_constant_series(void **state)
{
    (void)state;
    double flat[] = {5.0, 5.0, 5.0};
    double zeros[] = {0.0, 0.0};
    cdnopt_global_scaler mm = cdnopt_global_scaler_fit(CDNOPT_GLOBAL_NORM_MINMAX, 0, flat, 3);
    cdnopt_global_scaler mean = cdnopt_global_scaler_fit(CDNOPT_GLOBAL_NORM_MEAN, 0, zeros, 2);
    assert_near(mm.scale, 1.0, 0.0);
    assert_near(cdnopt_global_scale(&mm, 5.0), 0.0, 0.0);
    assert_near(mean.scale, 1.0, 0.0);
}

/* Steps 6..9 of v come back from their model values, through the observed steps for
 * k < d and through the path's own earlier steps for k >= d. */
static void seasonal_diff_round_trip(void **state)
{
    (void)state;
    double v[10] = {4.0, 9.0, 2.0, 5.0, 11.0, 3.0, 6.0, 12.0, 1.0, 7.0};
    const int d = 3;
    cdnopt_global_scaler sc = cdnopt_global_scaler_fit(CDNOPT_GLOBAL_NORM_MEAN, 0, v, 6);
    double model[7];
    cdnopt_global_to_model(&sc, d, v, 10, model);
    assert_near(model[0], (5.0 - 4.0) / sc.scale, 1e-12);
    assert_near(model[6], (7.0 - 6.0) / sc.scale, 1e-12);

    double path[4];
    memcpy(path, model + (6 - d), sizeof path);
    cdnopt_global_from_model(&sc, d, v, 6, path, 4);
    for (int k = 0; k < 4; k++)
        assert_near(path[k], v[6 + k], 1e-12);
}

static void parse_names_and_errors(void **state)
{
    (void)state;
    char err[CDNOPT_ERRMSG_MAX] = "";
    cdnopt_global_norm norm;
    cdnopt_global_sampling sampling;
    assert_int_equal(cdnopt_global_norm_parse("minmax", &norm, err), CDNOPT_OK);
    assert_int_equal(norm, CDNOPT_GLOBAL_NORM_MINMAX);
    assert_int_equal(cdnopt_global_sampling_parse("series", &sampling, err), CDNOPT_OK);
    assert_int_equal(sampling, CDNOPT_GLOBAL_SAMPLE_SERIES);
    assert_int_equal(cdnopt_global_norm_parse("zscore", &norm, err), CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "'zscore'");
    cdnopt_assert_contains(err, "minmax, mean or change");
    assert_int_equal(cdnopt_global_sampling_parse("all", &sampling, err), CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "windows or series");
}

/* ------------------------------------------------------------------------- */
/* Training                                                                  */
/* ------------------------------------------------------------------------- */

/* Mean absolute error of the dropout-off forecast of the last `h` steps, relative to
 * the series' amplitude (its level: the pattern swings by +- level). */
static double relative_error(const cdnopt_model *m, const cdnopt_global_params *gp,
                             const cdnopt_series *s, int h, double level)
{
    cdnopt_global_model g = {m, gp->norm, gp->seasonal_diff,
                             cdnopt_global_change_period(m, gp)};
    cdnopt_sampler sampler = cdnopt_global_sampler(&g);
    double path[PERIOD];
    char err[CDNOPT_ERRMSG_MAX] = "";
    size_t end = s->n - (size_t)h;
    int rc = sampler.iface->sample(sampler.ctx, s, end, h, 0, 0, path, err);
    assert_int_equal(rc, CDNOPT_OK);
    double sum = 0.0;
    for (int k = 0; k < h; k++)
        sum += fabs(path[k] - s->v[end + (size_t)k]);
    return sum / h / level;
}

/* Train on three series of levels 1, 300 and 1e6 and return the relative errors of
 * the smallest and the largest. */
static void train_three(const cdnopt_global_params *gp, double *e_small, double *e_large)
{
    cdnopt_series *s[3] = {make_series(240, 1.0, 0.0, "small"),
                           make_series(240, 1e6, 1.0, "large"),
                           make_series(240, 300.0, 2.0, "middle")};
    cdnopt_model *m = NULL;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_model_new(&gp->model, STEP_S, &m, err), CDNOPT_OK);

    size_t train_n[3] = {240 - PERIOD, 240 - PERIOD, 240 - PERIOD};
    int rc = cdnopt_global_fit(m, gp, s, 3, train_n, NULL, NULL, err);
    assert_int_equal(rc, CDNOPT_OK);
    *e_small = relative_error(m, gp, s[0], PERIOD, 1.0);
    *e_large = relative_error(m, gp, s[1], PERIOD, 1e6);
    cdnopt_model_free(m);
    free_all(s, 3);
}

/*
 * One model learns a series around 1 and one around 1e6. The bound: the mean absolute
 * error over one period after the training span is under 10% of each series' level,
 * where the naive forecast is off by about 64%.
 */
static void scales_far_apart_both_learned(void **state)
{
    (void)state;
    cdnopt_global_params gp = small_params();
    double e_small = 0.0, e_large = 0.0;
    train_three(&gp, &e_small, &e_large);
    print_message("relative MAE: small %.4f, large %.4f\n", e_small, e_large);
    assert_true(e_small < 0.10);
    assert_true(e_large < 0.10);
}

/* The same with the direct head: one block of PERIOD steps on the seasonal base. */
static void direct_head_both_learned(void **state)
{
    (void)state;
    cdnopt_global_params gp = small_params();
    gp.model.head = CDNOPT_HEAD_DIRECT;
    gp.model.horizon = PERIOD;
    gp.model.base = CDNOPT_BASE_LAST;
    double e_small = 0.0, e_large = 0.0;
    train_three(&gp, &e_small, &e_large);
    print_message("relative MAE with the direct head: small %.4f, large %.4f\n", e_small,
                  e_large);
    assert_true(e_small < 0.10);
    assert_true(e_large < 0.10);
}

/* The same with the scaled series differenced at the period. */
static void seasonal_diff_both_learned(void **state)
{
    (void)state;
    cdnopt_global_params gp = small_params();
    gp.seasonal_diff = PERIOD;
    double e_small = 0.0, e_large = 0.0;
    train_three(&gp, &e_small, &e_large);
    print_message("relative MAE with differencing: small %.4f, large %.4f\n", e_small,
                  e_large);
    assert_true(e_small < 0.10);
    assert_true(e_large < 0.10);
}

static void short_series_named_in_error(void **state)
{
    (void)state;
    cdnopt_series *s[2] = {make_series(120, 1.0, 0.0, "long"),
                           make_series(10, 1.0, 0.0, "stub")};
    cdnopt_global_params gp = small_params();
    cdnopt_model *m = NULL;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_model_new(&gp.model, STEP_S, &m, err), CDNOPT_OK);
    assert_int_equal(cdnopt_global_fit(m, &gp, s, 2, NULL, NULL, NULL, err), CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "'stub'");
    cdnopt_assert_contains(err, "10 samples");
    cdnopt_model_free(m);
    free_all(s, 2);
}

static void wrong_step_rejected(void **state)
{
    (void)state;
    cdnopt_series *s = make_series(120, 1.0, 0.0, "fivemin");
    s->step_s = 300;
    cdnopt_global_params gp = small_params();
    cdnopt_model *m = NULL;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_model_new(&gp.model, STEP_S, &m, err), CDNOPT_OK);
    assert_int_equal(cdnopt_global_fit(m, &gp, &s, 1, NULL, NULL, NULL, err), CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "'fivemin'");
    cdnopt_assert_contains(err, "step 300 s");
    cdnopt_model_free(m);
    cdnopt_series_free(s);
}

/* ------------------------------------------------------------------------- */
/* Forecasting every series                                                  */
/* ------------------------------------------------------------------------- */

static void forecast_sets_shape_and_bounds(void **state)
{
    (void)state;
    cdnopt_series *s[3] = {make_series(150, 2.0, 0.0, "n-east"),
                           make_series(180, 5e5, 0.5, "n-west"),
                           make_series(160, 40.0, 1.5, "s-1")};
    cdnopt_global_params gp = small_params();
    gp.model.epochs = 3;
    cdnopt_model *m = NULL;
    cdnopt_calibration cal;
    char err[CDNOPT_ERRMSG_MAX] = "";
    int rc = cdnopt_global_train(&gp, s, 3, STEP_S, NULL, NULL, &m, &cal, err);
    assert_int_equal(rc, CDNOPT_OK);
    assert_int_equal(cal.horizon, PERIOD);
    assert_int_equal(cal.n_origins, 3);

    cdnopt_global_forecasts fc;
    rc = cdnopt_global_forecast_all(m, &gp, &cal, s, 3, 7, &fc, err);
    assert_int_equal(rc, CDNOPT_OK);
    assert_int_equal(fc.horizon, 7);
    const cdnopt_m4_set *sets[3] = {fc.mean, fc.lower, fc.upper};
    for (int k = 0; k < 3; k++) {
        assert_int_equal(sets[k]->n_series, 3);
        for (size_t i = 0; i < 3; i++) {
            assert_string_equal(sets[k]->ids[i], s[i]->name);
            assert_int_equal(sets[k]->length[i], 7);
        }
    }
    for (size_t i = 0; i < 3; i++) {
        for (size_t h = 0; h < 7; h++) {
            assert_true(isfinite(fc.mean->values[i][h]));
            assert_true(fc.lower->values[i][h] <= fc.mean->values[i][h]);
            assert_true(fc.upper->values[i][h] >= fc.mean->values[i][h]);
        }
    }

    /* The written mean file has one row per series in input order, id first. */
    char dir[PATH_MAX / 2], path[PATH_MAX];
    cdnopt_test_scratch_dir(dir, sizeof dir, "global");
    snprintf(path, sizeof path, "%s/forecasts.csv", dir);
    assert_int_equal(cdnopt_m4_write(path, fc.mean, err), CDNOPT_OK);
    cdnopt_m4_set *back = NULL;
    assert_int_equal(cdnopt_m4_read(path, &back, err), CDNOPT_OK);
    assert_int_equal(back->n_series, 3);
    assert_string_equal(back->ids[0], "n-east");
    assert_string_equal(back->ids[2], "s-1");
    assert_int_equal(back->length[1], 7);
    assert_near(back->values[1][6], fc.mean->values[1][6], 1e-9 * fabs(fc.mean->values[1][6]));

    cdnopt_m4_set_free(back);
    cdnopt_m4_forecasts_fini(&fc);
    cdnopt_calibration_fini(&cal);
    cdnopt_model_free(m);
    free_all(s, 3);
}

static void calibration_longer_than_series(void **state)
{
    (void)state;
    cdnopt_series *s = make_series(40, 1.0, 0.0, "tiny");
    cdnopt_global_params gp = small_params();
    gp.calib_steps = 40;
    cdnopt_model *m = NULL;
    cdnopt_calibration cal;
    char err[CDNOPT_ERRMSG_MAX] = "";
    int rc = cdnopt_global_train(&gp, &s, 1, STEP_S, NULL, NULL, &m, &cal, err);
    assert_int_equal(rc, CDNOPT_EINVAL);
    assert_null(m);
    cdnopt_assert_contains(err, "'tiny'");
    cdnopt_assert_contains(err, "held out for calibration");
    cdnopt_series_free(s);
}

/* ------------------------------------------------------------------------- */
/* Model file group                                                          */
/* ------------------------------------------------------------------------- */

static void info_group_round_trip(void **state)
{
    (void)state;
    cdnopt_global_params gp = small_params();
    gp.norm = CDNOPT_GLOBAL_NORM_MINMAX;
    gp.seasonal_diff = 24;
    cdnopt_model *m = NULL;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_model_new(&gp.model, STEP_S, &m, err), CDNOPT_OK);

    char dir[PATH_MAX / 2], path[PATH_MAX];
    cdnopt_test_scratch_dir(dir, sizeof dir, "global");
    snprintf(path, sizeof path, "%s/model.h5", dir);
    assert_int_equal(cdnopt_model_save(m, path, err), CDNOPT_OK);

    cdnopt_global_params back = cdnopt_global_params_default();
    assert_int_equal(cdnopt_global_info_load(path, &back, err), CDNOPT_ENOTFOUND);
    cdnopt_assert_contains(err, "no /global group");

    assert_int_equal(cdnopt_global_info_save(&gp, path, err), CDNOPT_OK);
    assert_int_equal(cdnopt_global_info_save(&gp, path, err), CDNOPT_OK);
    assert_int_equal(cdnopt_global_info_load(path, &back, err), CDNOPT_OK);
    assert_int_equal(back.norm, CDNOPT_GLOBAL_NORM_MINMAX);
    assert_int_equal(back.seasonal_diff, 24);

    /* The model itself still loads: unknown groups are ignored. */
    cdnopt_model *loaded = NULL;
    assert_int_equal(cdnopt_model_load(path, &loaded, err), CDNOPT_OK);
    cdnopt_model_free(loaded);
    cdnopt_model_free(m);
}

static void info_missing_file(void **state)
{
    (void)state;
    cdnopt_global_params gp = cdnopt_global_params_default();
    char err[CDNOPT_ERRMSG_MAX] = "";
    int rc = cdnopt_global_info_load("/nonexistent/global.h5", &gp, err);
    assert_int_equal(rc, CDNOPT_EIO);
    cdnopt_assert_contains(err, "/nonexistent/global.h5");
}

/* ------------------------------------------------------------------------- */
/* M4 path                                                                   */
/* ------------------------------------------------------------------------- */

/* Write a wide file of n_series rows of n values (every second row 12 values shorter
 * and right-padded). A daily pattern plus a non-periodic ripple, so that the seasonal
 * naive error that scales MASE is not zero. */
static void write_wide(const char *path, int n_series, int n)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "\"V1\"");
    for (int j = 0; j < n; j++)
        fprintf(f, ",\"V%d\"", j + 2);
    fprintf(f, "\n");
    for (int i = 0; i < n_series; i++) {
        int len = i % 2 == 0 ? n : n - 12;
        double level = pow(10.0, i);
        fprintf(f, "\"H%d\"", i + 1);
        for (int j = 0; j < n; j++) {
            if (j < len)
                fprintf(f, ",%.6f", level * (2.0 + sin(2.0 * M_PI * j / 24.0 + i) +
                                             0.1 * cos(0.37 * j)));
            else
                fprintf(f, ",");
        }
        fprintf(f, "\n");
    }
    assert_int_equal(fclose(f), 0);
}

static void m4_tiny_end_to_end(void **state)
{
    (void)state;
    char dir[PATH_MAX / 2], path[PATH_MAX];
    cdnopt_test_scratch_dir(dir, sizeof dir, "global");
    snprintf(path, sizeof path, "%s/tiny.csv", dir);
    write_wide(path, 4, 200);

    char err[CDNOPT_ERRMSG_MAX] = "";
    cdnopt_m4_set *full = NULL, *train = NULL, *test = NULL;
    int rc = cdnopt_m4_read(path, &full, err);
    if (rc != CDNOPT_OK)
        print_error("%s\n", err);
    assert_int_equal(rc, CDNOPT_OK);
    assert_int_equal(cdnopt_m4_split(full, 24, &train, &test, err), CDNOPT_OK);

    cdnopt_global_params gp = small_params();
    gp.model.window = 24;
    gp.model.epochs = 3;
    cdnopt_m4_forecasts fc;
    rc = cdnopt_global_m4_forecast(train, 24, STEP_S, &gp, NULL, NULL, &fc, err);
    assert_int_equal(rc, CDNOPT_OK);
    assert_int_equal(fc.mean->n_series, 4);
    assert_string_equal(fc.mean->ids[3], "H4");

    cdnopt_m4_summary sum;
    rc = cdnopt_m4_score(train, test, &fc, 24, 0.95, &sum, err);
    if (rc != CDNOPT_OK)
        print_error("%s\n", err);
    assert_int_equal(rc, CDNOPT_OK);
    assert_int_equal(sum.n_series, 4);
    assert_true(isfinite(sum.smape) && sum.smape >= 0.0);
    assert_true(isfinite(sum.owa) && sum.owa > 0.0);
    assert_true(sum.coverage >= 0.0 && sum.coverage <= 1.0);

    cdnopt_m4_forecasts_fini(&fc);
    cdnopt_m4_set_free(full);
    cdnopt_m4_set_free(train);
    cdnopt_m4_set_free(test);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(scaler_minmax_round_trip),
    cmocka_unit_test(scaler_mean_round_trip),
    cmocka_unit_test(scaler_change_hand_computed),
    cmocka_unit_test(scaler_constant_series),
    cmocka_unit_test(seasonal_diff_round_trip),
    cmocka_unit_test(parse_names_and_errors),
    cmocka_unit_test(scales_far_apart_both_learned),
    cmocka_unit_test(seasonal_diff_both_learned),
    cmocka_unit_test(direct_head_both_learned),
    cmocka_unit_test(short_series_named_in_error),
    cmocka_unit_test(wrong_step_rejected),
    cmocka_unit_test(forecast_sets_shape_and_bounds),
    cmocka_unit_test(calibration_longer_than_series),
    cmocka_unit_test(info_group_round_trip),
    cmocka_unit_test(info_missing_file),
    cmocka_unit_test(m4_tiny_end_to_end),
};

CDNOPT_TEST_MAIN("global", tests)
