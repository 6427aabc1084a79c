/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests of the forecast pipeline. A stub sampler with known paths checks the
 * calibration against hand-computed conformal factors, the forecast bounds and the
 * CSV output. A small trained model checks the /calibration group in HDF5, forecasts
 * after a save and reload, and the evaluation's test span and baselines.
 */
#include "cdnopt/core.h"
#include "cdnopt/pipeline.h"
#include "testutil.h"

#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------------- */
/* Fixtures                                                                  */
/* ------------------------------------------------------------------------- */

/* Stub forecaster: every path is the last observed value plus +1 (even paths) or
 * -1 (odd paths), so the MC mean is the last value and the sd is sqrt(2) for an
 * even number of paths. The dropout-off path (n_samples = 0) is the last value, plus
 * the double that ctx points to when ctx is not NULL. */
static int stub_sample(void *ctx, const cdnopt_series *history, size_t end, int horizon,
                       int n_samples, uint64_t seed, double *samples, char *err)
{
    (void)seed;
    (void)err;
    double last = history->v[end - 1];
    if (n_samples == 0) {
        double offset = ctx != NULL ? *(const double *)ctx : 0.0;
        for (int h = 0; h < horizon; h++)
            samples[h] = last + offset;
        return CDNOPT_OK;
    }
    for (int s = 0; s < n_samples; s++) {
        for (int h = 0; h < horizon; h++)
            samples[s * horizon + h] = last + (s % 2 == 0 ? 1.0 : -1.0);
    }
    return CDNOPT_OK;
}

/* The stub needs one step of history before an origin. The recent widening checks
 * this minimum. */
static size_t stub_history_min(void *ctx)
{
    (void)ctx;
    return 1;
}

static const cdnopt_sampler_iface stub_iface = {stub_sample, stub_history_min};

/* Hourly series with v[i] = i, starting at midnight 2024-01-01 (civil seconds). */
static cdnopt_series *ramp_series(size_t n)
{
    cdnopt_series *s = NULL;
    assert_int_equal(cdnopt_series_new(n, 1704067200, 3600, &s), CDNOPT_OK);
    for (size_t i = 0; i < n; i++)
        s->v[i] = (double)i;
    return s;
}

/* Hourly series with a daily cycle, a weekly dip and seeded noise. */
static cdnopt_series *daily_series(size_t n_days)
{
    cdnopt_series *s = NULL;
    assert_int_equal(cdnopt_series_new(n_days * 24, 1704067200, 3600, &s), CDNOPT_OK);
    cdnopt_rng rng;
    cdnopt_rng_seed(&rng, 42);
    for (size_t i = 0; i < s->n; i++) {
        double hour = (double)(i % 24);
        double weekend = (i / 24) % 7 >= 5 ? -1.5 : 0.0;
        s->v[i] = 10.0 + 3.0 * sin(2.0 * M_PI * hour / 24.0) + weekend +
                  0.2 * cdnopt_rng_normal(&rng);
    }
    return s;
}

static cdnopt_model_params tiny_model_params(void)
{
    cdnopt_model_params p = cdnopt_model_params_default();
    p.window = 24;
    p.units = 8;
    p.batch = 16;
    p.epochs = 1;
    p.seed = 3;
    return p;
}

static cdnopt_model *tiny_model(const cdnopt_series *train)
{
    cdnopt_model_params p = tiny_model_params();
    cdnopt_model *m = NULL;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_model_new(&p, train->step_s, &m, err), CDNOPT_OK);
    assert_int_equal(cdnopt_model_fit(m, train, NULL, NULL, err), CDNOPT_OK);
    return m;
}

/* An empty HDF5 file standing in for a model file. */
static void make_empty_h5(const char *path)
{
    hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(file >= 0);
    H5Fclose(file);
}

/* ------------------------------------------------------------------------- */
/* Calibration                                                               */
/* ------------------------------------------------------------------------- */

static void val_start_matches_rounding(void **state)
{
    (void)state;
    assert_int_equal(cdnopt_pipeline_val_start(100, 0.1), 90);
    assert_int_equal(cdnopt_pipeline_val_start(105, 0.1), 94); /* 10.5 rounds to 11 */
    assert_int_equal(cdnopt_pipeline_val_start(5, 0.01), 4);   /* at least one step */
}

static void calibrate_hand_computed_factors(void **state)
{
    (void)state;
    cdnopt_series *s = ramp_series(120);
    cdnopt_sampler sampler = {&stub_iface, NULL};
    cdnopt_calibrate_params p = cdnopt_calibrate_params_default();
    p.horizon = 2;
    p.n_samples = 2;
    p.stride_s = 3600;
    p.max_origins = 100;
    p.level = 0.75;
    p.min_scores = 1;
    p.min_span_s = 0; /* the given slice only */

    /* Origins 100..108; step h of origin o has mean o - 1, sd sqrt(2) and target o + h,
     * so the relative score is (h + 1) / (o - 1 + sqrt(2)). The conformal rank
     * ceil(10 x 0.75) = 8 of 9 scores is the second largest, that of origin 101. */
    cdnopt_calibration cal;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_pipeline_calibrate(&sampler, s, 100, 110, &p, &cal, err), CDNOPT_OK);
    assert_int_equal(cal.kind, CDNOPT_CALIB_RELATIVE);
    assert_int_equal(cal.n_origins, 9);
    assert_int_equal(cal.horizon, 2);
    assert_true(fabs(cal.factor[0] - 1.0 / (100.0 + sqrt(2.0))) < 1e-12);
    assert_true(fabs(cal.factor[1] - 2.0 / (100.0 + sqrt(2.0))) < 1e-12);
    /* Raw interval: 1.15 sd (the normal quantile of 0.75) = 1.63 covers the error 1
     * of step 0 but not the error 2 of step 1. The calibrated one covers every origin
     * but 100 at both steps: 16 of 18. */
    assert_true(fabs(cal.coverage_raw - 0.5) < 1e-12);
    assert_true(fabs(cal.coverage_calibrated - 16.0 / 18.0) < 1e-12);
    cdnopt_calibration_fini(&cal);
    cdnopt_series_free(s);
}

static void calibrate_short_slice_moves_origins(void **state)
{
    (void)state;
    cdnopt_series *s = ramp_series(120);
    cdnopt_sampler sampler = {&stub_iface, NULL};
    cdnopt_calibrate_params p = cdnopt_calibrate_params_default();
    p.horizon = 24;
    p.n_samples = 2;
    p.min_scores = 1;
    p.min_span_s = 0; /* the given slice only */

    /* The slice [110, 120) is shorter than 24 steps, so the only origin is 96. */
    cdnopt_calibration cal;
    char err[CDNOPT_ERRMSG_MAX] = "";
    cdnopt_log_set_level(CDNOPT_LOG_LEVEL_ERROR);
    assert_int_equal(cdnopt_pipeline_calibrate(&sampler, s, 110, 120, &p, &cal, err), CDNOPT_OK);
    cdnopt_log_set_level(CDNOPT_LOG_LEVEL_INFO);
    assert_int_equal(cal.n_origins, 1);
    assert_true(fabs(cal.factor[23] - 24.0 / (95.0 + sqrt(2.0))) < 1e-12); /* error 24 */
    cdnopt_calibration_fini(&cal);
    cdnopt_series_free(s);
}

static void calibrate_extends_short_slice(void **state)
{
    (void)state;
    cdnopt_series *s = ramp_series(120);
    cdnopt_sampler sampler = {&stub_iface, NULL};
    cdnopt_calibrate_params p = cdnopt_calibrate_params_default();
    p.horizon = 2;
    p.n_samples = 2;
    p.stride_s = 3600;
    p.max_origins = 1000;
    p.min_scores = 1;
    p.min_span_s = 30 * 3600; /* 30 hourly steps */
    p.first_origin = 95;

    /* The slice [100, 110) is 10 steps; extended to 30 it would start at 80, but
     * first_origin stops it at 95, so origins run 95..108. */
    cdnopt_calibration cal;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_pipeline_calibrate(&sampler, s, 100, 110, &p, &cal, err), CDNOPT_OK);
    assert_int_equal(cal.n_origins, 14);
    cdnopt_calibration_fini(&cal);

    /* Without a bound the slice starts at 110 - 30 = 80: origins 80..108. */
    p.first_origin = 0;
    assert_int_equal(cdnopt_pipeline_calibrate(&sampler, s, 100, 110, &p, &cal, err), CDNOPT_OK);
    assert_int_equal(cal.n_origins, 29);
    cdnopt_calibration_fini(&cal);
    cdnopt_series_free(s);
}

static void calibrate_rejects_bad_slice(void **state)
{
    (void)state;
    cdnopt_series *s = ramp_series(50);
    cdnopt_sampler sampler = {&stub_iface, NULL};
    cdnopt_calibrate_params p = cdnopt_calibrate_params_default();
    cdnopt_calibration cal;
    char err[CDNOPT_ERRMSG_MAX] = "";

    assert_int_equal(cdnopt_pipeline_calibrate(&sampler, s, 40, 60, &p, &cal, err),
                     CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "[40, 60)");
    /* One day of hourly steps does not fit before index 20. */
    assert_int_equal(cdnopt_pipeline_calibrate(&sampler, s, 10, 20, &p, &cal, err),
                     CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "horizon of 24 steps");
    p.n_samples = 1;
    assert_int_equal(cdnopt_pipeline_calibrate(&sampler, s, 40, 50, &p, &cal, err),
                     CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "sample count 1");
    cdnopt_series_free(s);
}

static void calibration_h5_round_trip(void **state)
{
    (void)state;
    char dir[256], path[300];
    cdnopt_test_scratch_dir(dir, sizeof dir, "pipeline");
    snprintf(path, sizeof path, "%s/model.h5", dir);
    make_empty_h5(path);

    cdnopt_calibration cal;
    assert_int_equal(cdnopt_calibration_init(&cal, CDNOPT_CALIB_SCALE, 0.9, 3), CDNOPT_OK);
    cal.factor[0] = 0.5;
    cal.factor[1] = 1.25;
    cal.factor[2] = 3.0;
    cal.n_origins = 12;
    cal.coverage_raw = 0.4;
    cal.coverage_calibrated = 0.91;
    char err[CDNOPT_ERRMSG_MAX] = "";

    /* Saving twice replaces the group instead of failing on the existing name. */
    assert_int_equal(cdnopt_pipeline_calibration_save(&cal, path, err), CDNOPT_OK);
    cal.factor[2] = 2.5;
    assert_int_equal(cdnopt_pipeline_calibration_save(&cal, path, err), CDNOPT_OK);

    cdnopt_calibration back;
    assert_int_equal(cdnopt_pipeline_calibration_load(path, &back, err), CDNOPT_OK);
    assert_int_equal(back.kind, CDNOPT_CALIB_SCALE);
    assert_int_equal(back.horizon, 3);
    assert_int_equal(back.n_origins, 12);
    assert_true(back.level == 0.9);
    assert_true(back.coverage_raw == 0.4);
    assert_true(back.coverage_calibrated == 0.91);
    assert_true(back.factor[0] == 0.5);
    assert_true(back.factor[1] == 1.25);
    assert_true(back.factor[2] == 2.5);
    cdnopt_calibration_fini(&back);
    cdnopt_calibration_fini(&cal);
}

static void calibration_load_errors(void **state)
{
    (void)state;
    char dir[256], path[300], text_path[300];
    cdnopt_test_scratch_dir(dir, sizeof dir, "pipeline");
    snprintf(path, sizeof path, "%s/plain.h5", dir);
    snprintf(text_path, sizeof text_path, "%s/model.h5", dir);
    make_empty_h5(path);
    cdnopt_test_write_file(text_path, "not an hdf5 file\n");

    cdnopt_calibration cal;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_pipeline_calibration_load(path, &cal, err), CDNOPT_ENOTFOUND);
    cdnopt_assert_contains(err, "has no /calibration group");
    assert_int_equal(cdnopt_pipeline_calibration_load(text_path, &cal, err), CDNOPT_EIO);
    cdnopt_assert_contains(err, "not HDF5");

    assert_int_equal(cdnopt_calibration_init(&cal, CDNOPT_CALIB_SCALE, 0.95, 2), CDNOPT_OK);
    cal.n_origins = 1;
    assert_int_equal(cdnopt_pipeline_calibration_save(&cal, "/nonexistent/dir/m.h5", err),
                     CDNOPT_EIO);
    cdnopt_assert_contains(err, "/nonexistent/dir/m.h5");
    cdnopt_calibration_fini(&cal);
}

/* Save a calibration of kind with the n factors into a new HDF5 file at path, with
 * coverage_calibrated 0.953125, a value whose bytes occur once in the file. */
static void save_calibration(char *path, size_t size, enum cdnopt_calib_kind kind,
                             const double *factors, size_t n)
{
    char dir[256];
    cdnopt_test_scratch_dir(dir, sizeof dir, "pipeline");
    snprintf(path, size, "%s/model.h5", dir);
    make_empty_h5(path);

    cdnopt_calibration cal;
    assert_int_equal(cdnopt_calibration_init(&cal, kind, 0.95, n), CDNOPT_OK);
    memcpy(cal.factor, factors, n * sizeof *factors);
    cal.n_origins = 7;
    cal.coverage_raw = 0.3125;
    cal.coverage_calibrated = 0.953125;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_pipeline_calibration_save(&cal, path, err), CDNOPT_OK);
    cdnopt_calibration_fini(&cal);
}

/* A calibration whose group cannot be read is an error, not a model without one,
 * because raw intervals would hide the damage behind narrower bounds. */
static void calibration_damaged_is_error(void **state)
{
    (void)state;
    char path[300], err[CDNOPT_ERRMSG_MAX] = "";
    const double factors[] = {1.5, 2.5};
    save_calibration(path, sizeof path, CDNOPT_CALIB_SCALE, factors, 2);

    /* The attribute sits in the group's header, which carries a checksum. */
    double stored = 0.953125;
    cdnopt_test_flip_first_match(path, &stored, sizeof stored);
    cdnopt_calibration back;
    assert_int_equal(cdnopt_pipeline_calibration_load(path, &back, err), CDNOPT_EIO);
    cdnopt_assert_contains(err, "group /calibration cannot be read, so the file is damaged");
}

/* Hand cases of the runaway check: range 100 to 300, so the band is -100 to 500. */
static void forecast_runaway_hand_cases(void **state)
{
    (void)state;
    double mean[4] = {250.0, 480.0, 499.0, 120.0};
    cdnopt_forecast_result f = {.horizon = 4, .mean = mean};
    assert_int_equal(cdnopt_forecast_first_runaway(&f, 100.0, 300.0), -1);
    mean[2] = 501.0;
    assert_int_equal(cdnopt_forecast_first_runaway(&f, 100.0, 300.0), 2);
    mean[0] = -101.0;
    assert_int_equal(cdnopt_forecast_first_runaway(&f, 100.0, 300.0), 0);

    /* A flat training range counts as a range of 1. */
    double flat[2] = {5.5, 6.5};
    cdnopt_forecast_result g = {.horizon = 2, .mean = flat};
    assert_int_equal(cdnopt_forecast_first_runaway(&g, 5.0, 5.0), 1);
}

/* A finite but absurd factor (an edited or damaged file) is rejected by name. */
static void calibration_absurd_factor_is_error(void **state)
{
    (void)state;
    char path[300], err[CDNOPT_ERRMSG_MAX] = "";
    const double factors[] = {0.25, 1e300, 0.25};
    save_calibration(path, sizeof path, CDNOPT_CALIB_RELATIVE, factors, 3);

    cdnopt_calibration back;
    assert_int_equal(cdnopt_pipeline_calibration_load(path, &back, err), CDNOPT_EPARSE);
    cdnopt_assert_contains(err, "/calibration/factor[1] is 1e+300; expected a finite value from 0");
}

/* ------------------------------------------------------------------------- */
/* Forecasts                                                                 */
/* ------------------------------------------------------------------------- */

static void forecast_bounds_and_times(void **state)
{
    (void)state;
    cdnopt_series *s = ramp_series(48);
    cdnopt_sampler sampler = {&stub_iface, NULL};
    cdnopt_calibration cal;
    assert_int_equal(cdnopt_calibration_init(&cal, CDNOPT_CALIB_SCALE, 0.95, 2), CDNOPT_OK);
    cal.factor[0] = 1.0;
    cal.factor[1] = 2.0;

    cdnopt_forecast_params p = cdnopt_forecast_params_default();
    p.horizon = 3;
    p.n_samples = 4;
    p.safety = 1.5;
    cdnopt_forecast_result *f = NULL;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_pipeline_forecast(&sampler, &cal, s, 48, &p, &f, err), CDNOPT_OK);

    /* Paths 47 +- 1 in pairs: mean 47, sd sqrt(4/3); step 2 reuses the last factor. */
    double sd = sqrt(4.0 / 3.0);
    double factor[] = {1.0, 2.0, 2.0};
    assert_true(f->calibrated);
    for (int h = 0; h < 3; h++) {
        assert_int_equal(f->t[h], s->t[47] + (h + 1) * 3600);
        assert_true(fabs(f->mean[h] - 47.0) < 1e-12);
        assert_true(fabs(f->sd[h] - sd) < 1e-12);
        assert_true(fabs(f->upper[h] - (47.0 + factor[h] * sd)) < 1e-12);
        assert_true(fabs(f->lower[h] - (47.0 - factor[h] * sd)) < 1e-12);
        assert_true(fabs(f->critical[h] - 1.5 * f->upper[h]) < 1e-12);
    }
    cdnopt_forecast_result_free(f);

    /* Without a calibration the bounds are mean +- 1.96 sd. */
    assert_int_equal(cdnopt_pipeline_forecast(&sampler, NULL, s, 48, &p, &f, err), CDNOPT_OK);
    assert_false(f->calibrated);
    assert_true(fabs(f->upper[0] - (47.0 + 1.959963984540054 * sd)) < 1e-9);
    cdnopt_forecast_result_free(f);
    cdnopt_calibration_fini(&cal);
    cdnopt_series_free(s);
}

static void forecast_recent_widens_factors(void **state)
{
    (void)state;
    cdnopt_series *s = ramp_series(100);
    cdnopt_sampler sampler = {&stub_iface, NULL};
    cdnopt_calibration cal;
    assert_int_equal(cdnopt_calibration_init(&cal, CDNOPT_CALIB_RELATIVE, 0.95, 2), CDNOPT_OK);
    cal.factor[0] = 0.001;
    cal.factor[1] = 1.0;

    cdnopt_forecast_params p = cdnopt_forecast_params_default();
    p.horizon = 2;
    p.n_samples = 2;
    p.recent_days = 2;
    cdnopt_forecast_result *f = NULL;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_pipeline_forecast(&sampler, &cal, s, 100, &p, &f, err), CDNOPT_OK);

    /* Recent origins 76 and 52 (one and two days before 100) forecast o - 1 with sd
     * sqrt(2) for targets o and o + 1. The scores are 1 and 2 over 75 + sqrt(2), and 1
     * and 2 over 51 + sqrt(2). Four pooled scores at level 0.95 take the largest. Step
     * 0 rises to it, and step 1 keeps its stored 1.0. The forecast's own scale is
     * 99 + sqrt(2). */
    double scale = 99.0 + sqrt(2.0);
    double recent_factor = 2.0 / (51.0 + sqrt(2.0));
    assert_int_equal(f->recent_origins, 2);
    assert_true(fabs(f->mean[0] - 99.0) < 1e-12);
    assert_true(fabs(f->upper[0] - (99.0 + recent_factor * scale)) < 1e-9);
    assert_true(fabs(f->lower[0] - (99.0 - recent_factor * scale)) < 1e-9);
    assert_true(fabs(f->upper[1] - (99.0 + scale)) < 1e-9);
    assert_true(f->lower[1] == 0.0); /* 99 - scale is negative, raised to 0 */
    cdnopt_forecast_result_free(f);

    /* Five days would need an origin 120 steps before 100, and 0 days turns the
     * widening off. Either way the stored factors alone set the bounds. */
    int no_widening[] = {5, 0};
    for (size_t i = 0; i < 2; i++) {
        p.recent_days = no_widening[i];
        assert_int_equal(cdnopt_pipeline_forecast(&sampler, &cal, s, 100, &p, &f, err),
                         CDNOPT_OK);
        assert_int_equal(f->recent_origins, 0);
        assert_true(fabs(f->upper[0] - (99.0 + 0.001 * scale)) < 1e-9);
        cdnopt_forecast_result_free(f);
    }
    cdnopt_calibration_fini(&cal);
    cdnopt_series_free(s);
}

static void forecast_lower_bound_clipped(void **state)
{
    (void)state;
    cdnopt_series *s = ramp_series(48);
    cdnopt_sampler sampler = {&stub_iface, NULL};
    cdnopt_forecast_params p = cdnopt_forecast_params_default();
    p.horizon = 1;
    p.n_samples = 2;
    cdnopt_forecast_result *f = NULL;
    char err[CDNOPT_ERRMSG_MAX] = "";

    /* From origin 1 the paths are 0 +- 1, so mean - 1.96 sd is negative. */
    assert_int_equal(cdnopt_pipeline_forecast(&sampler, NULL, s, 1, &p, &f, err), CDNOPT_OK);
    assert_true(fabs(f->mean[0]) < 1e-12);
    assert_true(f->lower[0] == 0.0);
    assert_true(f->upper[0] > 2.0);
    cdnopt_forecast_result_free(f);

    /* A dropout-off path below zero is raised to zero. */
    double offset = -5.0;
    cdnopt_sampler below = {&stub_iface, &offset};
    assert_int_equal(cdnopt_pipeline_forecast(&below, NULL, s, 1, &p, &f, err), CDNOPT_OK);
    assert_true(f->mean[0] == 0.0);
    assert_true(f->lower[0] == 0.0);
    assert_true(f->upper[0] > 0.0);
    cdnopt_forecast_result_free(f);
    cdnopt_series_free(s);
}

static void forecast_rejects_bad_params(void **state)
{
    (void)state;
    cdnopt_series *s = ramp_series(48);
    cdnopt_sampler sampler = {&stub_iface, NULL};
    cdnopt_forecast_params p = cdnopt_forecast_params_default();
    cdnopt_forecast_result *f = NULL;
    char err[CDNOPT_ERRMSG_MAX] = "";

    p.safety = 0.5;
    assert_int_equal(cdnopt_pipeline_forecast(&sampler, NULL, s, 48, &p, &f, err),
                     CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "safety factor 0.5");
    assert_null(f);
    p = cdnopt_forecast_params_default();
    assert_int_equal(cdnopt_pipeline_forecast(&sampler, NULL, s, 49, &p, &f, err),
                     CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "origin 49");
    p.recent_days = -1;
    assert_int_equal(cdnopt_pipeline_forecast(&sampler, NULL, s, 48, &p, &f, err),
                     CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "recent span of -1 days");
    cdnopt_series_free(s);
}

static void forecast_csv_layout(void **state)
{
    (void)state;
    cdnopt_series *s = ramp_series(48);
    cdnopt_sampler sampler = {&stub_iface, NULL};
    cdnopt_forecast_params p = cdnopt_forecast_params_default();
    p.horizon = 2;
    p.n_samples = 2;
    p.safety = 2.0;
    cdnopt_forecast_result *f = NULL;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_pipeline_forecast(&sampler, NULL, s, 48, &p, &f, err), CDNOPT_OK);

    char dir[256], path[300];
    cdnopt_test_scratch_dir(dir, sizeof dir, "pipeline");
    snprintf(path, sizeof path, "%s/forecast.csv", dir);
    assert_int_equal(cdnopt_forecast_write_csv(f, path, err), CDNOPT_OK);

    /* Last sample 2024-01-02 23:00, so the forecast starts at midnight of 01-03.
     * Paths 47 +- 1: sd sqrt(2), upper 47 + 1.96 sqrt(2) = 49.7718. */
    char text[512] = "";
    FILE *in = fopen(path, "r");
    assert_non_null(in);
    size_t len = fread(text, 1, sizeof text - 1, in);
    text[len] = '\0';
    fclose(in);
    cdnopt_assert_contains(text, "timestamp,mean,lower,upper,critical\n"
                                 "2024-01-03 00:00:00,47,44.2282,49.7718,99.5436\n"
                                 "2024-01-03 01:00:00,");

    assert_int_equal(cdnopt_forecast_write_csv(f, "/nonexistent/dir/f.csv", err), CDNOPT_EIO);
    cdnopt_assert_contains(err, "cannot write forecast /nonexistent/dir/f.csv");
    cdnopt_forecast_result_free(f);
    cdnopt_series_free(s);
}

/* ------------------------------------------------------------------------- */
/* Real model                                                                */
/* ------------------------------------------------------------------------- */

static void forecast_same_after_reload(void **state)
{
    (void)state;
    cdnopt_series *s = daily_series(14);
    cdnopt_model *m = tiny_model(s);

    char dir[256], path[300];
    cdnopt_test_scratch_dir(dir, sizeof dir, "pipeline");
    snprintf(path, sizeof path, "%s/model.h5", dir);
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_model_save(m, path, err), CDNOPT_OK);
    cdnopt_model *back = NULL;
    assert_int_equal(cdnopt_model_load(path, &back, err), CDNOPT_OK);

    cdnopt_forecast_params p = cdnopt_forecast_params_default();
    p.n_samples = 20;
    p.seed = 9;
    cdnopt_sampler a = cdnopt_sampler_from_model(m);
    cdnopt_sampler b = cdnopt_sampler_from_model(back);
    cdnopt_forecast_result *fa = NULL, *fb = NULL;
    assert_int_equal(cdnopt_pipeline_forecast(&a, NULL, s, s->n, &p, &fa, err), CDNOPT_OK);
    assert_int_equal(cdnopt_pipeline_forecast(&b, NULL, s, s->n, &p, &fb, err), CDNOPT_OK);

    assert_int_equal(fa->horizon, 24);
    for (int h = 0; h < fa->horizon; h++) {
        assert_true(fa->mean[h] == fb->mean[h]);
        assert_true(fa->upper[h] == fb->upper[h]);
        assert_true(fa->sd[h] > 0.0);
    }
    cdnopt_forecast_result_free(fa);
    cdnopt_forecast_result_free(fb);
    cdnopt_model_free(back);
    cdnopt_model_free(m);
    cdnopt_series_free(s);
}

static void train_stores_calibration(void **state)
{
    (void)state;
    cdnopt_series *s = daily_series(14);
    cdnopt_model_params mp = tiny_model_params();
    mp.val_fraction = 0.25f;
    cdnopt_calibrate_params cp = cdnopt_calibrate_params_default();
    cp.n_samples = 10;
    cdnopt_model *m = NULL;
    cdnopt_calibration cal;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_pipeline_train(s, &mp, &cp, NULL, NULL, &m, &cal, err), CDNOPT_OK);

    /* 84 validation steps, horizon 24: origins 252..312, thinned to 48 at most. */
    assert_int_equal(cal.horizon, 24);
    assert_true(cal.n_origins >= 30 && cal.n_origins <= 48);
    assert_true(cal.coverage_calibrated >= 0.9);

    char dir[256], path[300];
    cdnopt_test_scratch_dir(dir, sizeof dir, "pipeline");
    snprintf(path, sizeof path, "%s/model.h5", dir);
    assert_int_equal(cdnopt_model_save(m, path, err), CDNOPT_OK);
    assert_int_equal(cdnopt_pipeline_calibration_save(&cal, path, err), CDNOPT_OK);

    /* The model file still loads with the extra group, and the factors come back. */
    cdnopt_model *back = NULL;
    cdnopt_calibration cal_back;
    assert_int_equal(cdnopt_model_load(path, &back, err), CDNOPT_OK);
    assert_int_equal(cdnopt_pipeline_calibration_load(path, &cal_back, err), CDNOPT_OK);
    for (size_t h = 0; h < cal.horizon; h++)
        assert_true(cal.factor[h] == cal_back.factor[h]);
    cdnopt_calibration_fini(&cal_back);
    cdnopt_calibration_fini(&cal);
    cdnopt_model_free(back);
    cdnopt_model_free(m);
    cdnopt_series_free(s);
}

/* ------------------------------------------------------------------------- */
/* Evaluation                                                                */
/* ------------------------------------------------------------------------- */

static void evaluate_span_and_naive_row(void **state)
{
    (void)state;
    /* 21 days and 5 hours: the partial last day is left out of the test span. */
    cdnopt_series *full = daily_series(22);
    cdnopt_series *s = NULL;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_series_slice(full, 0, 21 * 24 + 5, &s, err), CDNOPT_OK);
    cdnopt_model *m = tiny_model(s);

    cdnopt_eval_params p = cdnopt_eval_params_default();
    p.test_days = 2;
    p.n_samples = 10;
    p.calibrate.n_samples = 10;
    cdnopt_eval_report r;
    assert_int_equal(cdnopt_pipeline_evaluate(s, m, NULL, &p, &r, err), CDNOPT_OK);
    assert_int_equal(r.test_start, 19 * 24);
    assert_int_equal(r.test_end, 21 * 24);
    assert_int_equal(r.n_origins, 2);
    assert_int_equal(r.horizon, 24);
    assert_int_equal(r.n_methods, 4);
    assert_string_equal(r.rows[0].method, "residual-lstm");
    assert_string_equal(r.rows[1].method, "seasonal-naive-1d");
    assert_string_equal(r.rows[2].method, "seasonal-naive-1w");
    assert_string_equal(r.rows[3].method, "holt-winters-1d");

    /* The one-day naive repeats the day before each origin, hand-computed here. */
    double abs_sum = 0.0, scale_sum = 0.0;
    for (size_t t = r.test_start; t < r.test_end; t++)
        abs_sum += fabs(s->v[t] - s->v[t - 24]);
    for (size_t t = 24; t < r.test_start; t++)
        scale_sum += fabs(s->v[t] - s->v[t - 24]);
    double mae = abs_sum / 48.0, scale = scale_sum / (double)(r.test_start - 24);
    assert_true(fabs(r.rows[1].mae - mae) < 1e-9);
    assert_true(fabs(r.mase_scale - scale) < 1e-9);
    assert_true(fabs(r.rows[1].mase - mae / scale) < 1e-9);
    assert_true(isnan(r.rows[1].coverage_calibrated));
    assert_true(r.rows[0].coverage_calibrated >= 0.0 && r.rows[0].coverage_calibrated <= 1.0);
    assert_true(r.rows[0].width > 0.0);

    cdnopt_model_free(m);
    cdnopt_series_free(s);
    cdnopt_series_free(full);
}

static void evaluate_rejects_short_series(void **state)
{
    (void)state;
    cdnopt_series *s = daily_series(9);
    cdnopt_eval_params p = cdnopt_eval_params_default();
    p.test_days = 7;
    cdnopt_eval_report r;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_pipeline_evaluate(s, NULL, NULL, &p, &r, err), CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "covers 9.0 days: too short for 7 test days after at least 3 "
                                "days of history");
    cdnopt_series_free(s);
}

static void evaluate_unaligned_grid(void **state)
{
    (void)state;
    /* Samples at 00:04, 01:04, ...: the test days start at their 00:04 sample. */
    cdnopt_series *s = daily_series(12);
    for (size_t i = 0; i < s->n; i++)
        s->t[i] += 240;
    cdnopt_model *m = tiny_model(s);
    cdnopt_eval_params p = cdnopt_eval_params_default();
    p.test_days = 2;
    p.n_samples = 10;
    p.calibrate.n_samples = 10;
    cdnopt_eval_report r;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_pipeline_evaluate(s, m, NULL, &p, &r, err), CDNOPT_OK);
    assert_int_equal(r.test_start, 10 * 24);
    assert_int_equal(r.test_end, 12 * 24);
    cdnopt_model_free(m);
    cdnopt_series_free(s);
}

static void evaluate_skips_weekly_naive(void **state)
{
    (void)state;
    /* Ten days of history before the test span are fewer than two weeks. */
    cdnopt_series *s = daily_series(12);
    cdnopt_model *m = tiny_model(s);
    cdnopt_eval_params p = cdnopt_eval_params_default();
    p.test_days = 2;
    p.n_samples = 10;
    p.calibrate.n_samples = 10;
    cdnopt_eval_report r;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_pipeline_evaluate(s, m, NULL, &p, &r, err), CDNOPT_OK);
    assert_string_equal(r.rows[2].method, "seasonal-naive-1w");
    assert_true(isnan(r.rows[2].mae));
    assert_true(isnan(r.rows[2].coverage_raw));
    assert_false(isnan(r.rows[1].mae));
    assert_false(isnan(r.rows[3].mae));
    cdnopt_model_free(m);
    cdnopt_series_free(s);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(val_start_matches_rounding),
        cmocka_unit_test(calibrate_hand_computed_factors),
        cmocka_unit_test(calibrate_short_slice_moves_origins),
        cmocka_unit_test(calibrate_extends_short_slice),
        cmocka_unit_test(calibrate_rejects_bad_slice),
        cmocka_unit_test(calibration_h5_round_trip),
        cmocka_unit_test(calibration_load_errors),
        cmocka_unit_test(calibration_damaged_is_error),
        cmocka_unit_test(calibration_absurd_factor_is_error),
        cmocka_unit_test(forecast_runaway_hand_cases),
        cmocka_unit_test(forecast_bounds_and_times),
        cmocka_unit_test(forecast_recent_widens_factors),
        cmocka_unit_test(forecast_lower_bound_clipped),
        cmocka_unit_test(forecast_rejects_bad_params),
        cmocka_unit_test(forecast_csv_layout),
        cmocka_unit_test(forecast_same_after_reload),
        cmocka_unit_test(train_stores_calibration),
        cmocka_unit_test(evaluate_span_and_naive_row),
        cmocka_unit_test(evaluate_rejects_short_series),
        cmocka_unit_test(evaluate_skips_weekly_naive),
        cmocka_unit_test(evaluate_unaligned_grid),
    };
    int failed = cdnopt_test_main(argc, argv, "pipeline", tests, sizeof tests / sizeof tests[0]);
    H5close(); /* release HDF5's global state before the leak checker runs */
    return failed;
}
