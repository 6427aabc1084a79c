/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Metrics on hand-computed cases, the naive baselines and Naive2 on small hand-made
 * series, Holt-Winters on a noiseless series, and split-conformal calibration on
 * synthetic normal errors with a fixed seed.
 */
#include "cdnopt/core.h"
#include "cdnopt/stats.h"
#include "testutil.h"
#include "assert_near.h"
#include "stats-impl.h"

#include <math.h>
#include <string.h>

#define EPS 1e-9

/* ------------------------------------------------------------------------- */
/* Metrics                                                                   */
/* ------------------------------------------------------------------------- */

static const double y4[] = {1, 2, 3, 4};
static const double f4[] = {2, 2, 2, 2};

static void metric_point_errors(void **state)
{
    (void)state;

    /* Errors 1, 0, 1, 2. */
    assert_near(cdnopt_metric_mae(y4, f4, 4), 1.0, EPS);
    assert_near(cdnopt_metric_rmse(y4, f4, 4), sqrt(6.0 / 4.0), EPS);

    /* 200/4 * (1/3 + 0 + 1/5 + 2/6). */
    assert_near(cdnopt_metric_smape(y4, f4, 4), 50.0 * (1.0 / 3 + 0.2 + 1.0 / 3), EPS);
    assert_true(isnan(cdnopt_metric_mae(y4, f4, 0)));
    assert_true(isnan(cdnopt_metric_smape(y4, f4, 0)));
}

static void metric_smape_zero_pair(void **state)
{
    (void)state;
    const double y[] = {0, 2};
    const double f[] = {0, 1};

    /* The zero pair adds nothing; the other step adds 1/3. */
    assert_near(cdnopt_metric_smape(y, f, 2), 100.0 / 3.0, EPS);
}

static void metric_mase_scale(void **state)
{
    (void)state;
    const double x[] = {1, 3, 2, 5, 4};

    /* Lag 2: |2-1| + |5-3| + |4-2| = 5 over 3 differences; lag 1: 2+1+3+1 = 7 over 4. */
    assert_near(cdnopt_metric_mase_scale(x, 5, 2), 5.0 / 3.0, EPS);
    assert_near(cdnopt_metric_mase_scale(x, 5, 1), 7.0 / 4.0, EPS);
    assert_true(isnan(cdnopt_metric_mase_scale(x, 2, 2)));
    assert_near(cdnopt_metric_mase(y4, f4, 4, 5.0 / 3.0), 0.6, EPS);
    assert_true(isnan(cdnopt_metric_mase(y4, f4, 4, 0.0)));
}

static void metric_interval_scores(void **state)
{
    (void)state;
    const double lower[] = {0, 2.5, 2, 5};
    const double upper[] = {2, 3, 4, 6};

    /* y = 1 and 3 are inside; 2 is 0.5 below its bound and 4 is 1 below. */
    assert_near(cdnopt_metric_coverage(y4, lower, upper, 4), 0.5, EPS);
    assert_near(cdnopt_metric_mean_width(lower, upper, 4), 5.5 / 4.0, EPS);

    /* (5.5 + 40 * 0.5 + 40 * 1) / 4 / scale 2. */
    assert_near(cdnopt_metric_msis(y4, lower, upper, 4, 2.0, 0.05), 65.5 / 8.0, EPS);
    assert_near(cdnopt_metric_acd(0.9, 0.95), 0.05, EPS);
}

static void metric_owa_ratio(void **state)
{
    (void)state;
    assert_near(cdnopt_metric_owa(10.0, 1.0, 20.0, 2.0), 0.5, EPS);
    assert_near(cdnopt_metric_owa(15.0, 3.0, 10.0, 2.0), 1.5, EPS);
    assert_true(isnan(cdnopt_metric_owa(1.0, 1.0, 0.0, 1.0)));
}

static void scores_without_bounds(void **state)
{
    (void)state;
    double mean[4];
    memcpy(mean, f4, sizeof mean);
    cdnopt_interval_forecast fc = {mean, NULL, NULL};
    cdnopt_scores s;
    cdnopt_scores_compute(y4, &fc, 4, 2.0, 0.05, &s);
    assert_near(s.mae, 1.0, EPS);
    assert_near(s.mase, 0.5, EPS);
    assert_true(isnan(s.msis));
    assert_true(isnan(s.coverage));
    assert_true(isnan(s.width));
}

static void normal_quantile_values(void **state)
{
    (void)state;
    assert_near(cdnopt_normal_quantile(0.975), 1.959963985, 1e-8);
    assert_near(cdnopt_normal_quantile(0.5), 0.0, 1e-12);
    assert_near(cdnopt_normal_quantile(0.01), -2.326347874, 1e-8);
    assert_near(cdnopt_normal_quantile(0.999), 3.090232306, 1e-8);
    assert_true(isnan(cdnopt_normal_quantile(1.0)));
}

static void quantile_select_matches_sort(void **state)
{
    (void)state;
    cdnopt_rng rng;
    cdnopt_rng_seed(&rng, 17);
    double values[257], sorted[257];

    /* Random sizes, many ties (values 0..4) or few (0..999), random probabilities. */
    for (int trial = 0; trial < 500; trial++) {
        size_t n = 1 + (size_t)cdnopt_rng_below(&rng, 257);
        uint64_t range = trial % 2 == 0 ? 5 : 1000;
        for (size_t i = 0; i < n; i++)
            values[i] = (double)cdnopt_rng_below(&rng, range);
        memcpy(sorted, values, n * sizeof *values);
        cdnopt__sort(sorted, n);
        double p = cdnopt_rng_uniform(&rng);
        assert_near(cdnopt__quantile_select(values, n, p),
                    cdnopt__quantile_sorted(sorted, n, p), 0.0);
    }
}

/* ------------------------------------------------------------------------- */
/* Naive baselines                                                           */
/* ------------------------------------------------------------------------- */

static int run_baseline(enum cdnopt_baseline_method method, size_t period, const double *y,
                        size_t n, size_t h, double *mean, double *lower, double *upper,
                        char *err)
{
    cdnopt_baseline_params p = cdnopt_baseline_params_default();
    p.method = method;
    p.period = period;
    cdnopt_interval_forecast fc = {mean, lower, upper};
    return cdnopt_baseline_forecast(&p, y, n, h, &fc, err);
}

static void naive_last_value_interval(void **state)
{
    (void)state;
    const double y[] = {1, 2, 4, 7};
    double mean[2], lower[2], upper[2];
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(run_baseline(CDNOPT_BASELINE_NAIVE, 1, y, 4, 2, mean, lower, upper, err),
                     CDNOPT_OK);
    assert_near(mean[0], 7.0, EPS);
    assert_near(mean[1], 7.0, EPS);

    /* Differences 1, 2, 3: 2.5% quantile 1.05, 97.5% quantile 2.95 (linear rule). */
    assert_near(lower[0], 8.05, EPS);
    assert_near(upper[0], 9.95, EPS);

    /* Two steps ahead: too few lag-2 differences, so lag-1 quantiles times sqrt(2). */
    assert_near(lower[1], 7.0 + 1.05 * sqrt(2.0), EPS);
    assert_near(upper[1], 7.0 + 2.95 * sqrt(2.0), EPS);
}

static void snaive_repeats_last_season(void **state)
{
    (void)state;
    const double y[] = {1, 2, 3, 4, 2, 3, 4, 5};
    double mean[6], lower[6], upper[6];
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(run_baseline(CDNOPT_BASELINE_SNAIVE, 4, y, 8, 6, mean, lower, upper, err),
                     CDNOPT_OK);
    const double expected[] = {2, 3, 4, 5, 2, 3};
    for (size_t k = 0; k < 6; k++)
        assert_near(mean[k], expected[k], EPS);

    /* Every seasonal difference is 1, so the first season's bounds are mean + 1. */
    for (size_t k = 0; k < 4; k++) {
        assert_near(lower[k], expected[k] + 1.0, EPS);
        assert_near(upper[k], expected[k] + 1.0, EPS);
    }

    /* The second season ahead grows the one-season quantiles by sqrt(2). */
    assert_near(lower[4], 2.0 + sqrt(2.0), EPS);
    assert_near(upper[5], 3.0 + sqrt(2.0), EPS);
}

static void snaive_without_bounds(void **state)
{
    (void)state;
    const double y[] = {1, 2, 3, 4, 2, 3, 4, 5};
    double mean[3];
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(run_baseline(CDNOPT_BASELINE_SNAIVE, 4, y, 8, 3, mean, NULL, NULL, err),
                     CDNOPT_OK);
    assert_near(mean[2], 4.0, EPS);
}

static void seasonality_test_cases(void **state)
{
    (void)state;
    double y[200];
    for (size_t t = 0; t < 200; t++)
        y[t] = 10.0 + sin(2.0 * M_PI * (double)t / 4.0);
    assert_true(cdnopt_seasonality_test(y, 200, 4));

    /* Shorter than three seasons: never seasonal. */
    assert_false(cdnopt_seasonality_test(y, 11, 4));

    /* Independent normal noise (seed 7): r_4 stays below the 90% limit. */
    cdnopt_rng rng;
    cdnopt_rng_seed(&rng, 7);
    for (size_t t = 0; t < 200; t++)
        y[t] = 10.0 + cdnopt_rng_normal(&rng);
    assert_false(cdnopt_seasonality_test(y, 200, 4));
}

static void seasonal_indices_two_step(void **state)
{
    (void)state;
    const double y[] = {1, 2, 1, 2, 1, 2, 1, 2};
    double index[2];
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_seasonal_indices(y, 8, 2, index, err), CDNOPT_OK);

    /* Every centred 2x2 average is 1.5, so the ratios are 1/1.5 and 2/1.5. */
    assert_near(index[0], 2.0 / 3.0, EPS);
    assert_near(index[1], 4.0 / 3.0, EPS);

    const double negative[] = {1, -5, 1, -5, 1, -5};
    assert_int_equal(cdnopt_seasonal_indices(negative, 6, 2, index, err), CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "positive values");
}

static void naive2_reseasonalises(void **state)
{
    (void)state;
    const double index[] = {0.5, 1.5, 0.8, 1.2};
    double y[26];
    for (size_t t = 0; t < 26; t++)
        y[t] = 10.0 * index[t % 4];
    double mean[5], lower[5], upper[5];
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(run_baseline(CDNOPT_BASELINE_NAIVE2, 4, y, 26, 5, mean, lower, upper, err),
                     CDNOPT_OK);

    /* The adjusted series is 10 throughout; step k lands on position (26 + k) mod 4. */
    for (size_t k = 0; k < 5; k++) {
        assert_near(mean[k], 10.0 * index[(26 + k) % 4], 1e-9);
        assert_near(lower[k], mean[k], 1e-9);
        assert_near(upper[k], mean[k], 1e-9);
    }
}

static void naive2_short_series_is_naive(void **state)
{
    (void)state;
    const double y[] = {3, 1, 4, 1, 5};
    double mean[2];
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(run_baseline(CDNOPT_BASELINE_NAIVE2, 4, y, 5, 2, mean, NULL, NULL, err),
                     CDNOPT_OK);
    assert_near(mean[0], 5.0, EPS);
    assert_near(mean[1], 5.0, EPS);
}

static void baseline_rejects_bad_input(void **state)
{
    (void)state;
    const double y[] = {1, 2, 3, NAN};
    double mean[2];
    char err[CDNOPT_ERRMSG_MAX] = "";

    assert_int_equal(run_baseline(CDNOPT_BASELINE_NAIVE, 1, y, 3, 0, mean, NULL, NULL, err),
                     CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "horizon is 0");

    assert_int_equal(run_baseline(CDNOPT_BASELINE_HOLT_WINTERS, 4, y, 3, 2, mean, NULL, NULL,
                                  err),
                     CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "hw: 3 values are too few for period 4; give at least 9");

    assert_int_equal(run_baseline(CDNOPT_BASELINE_NAIVE, 1, y, 4, 2, mean, NULL, NULL, err),
                     CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "value 3 is nan");

    cdnopt_baseline_params p = cdnopt_baseline_params_default();
    p.level = 95.0;
    cdnopt_interval_forecast fc = {mean, NULL, NULL};
    assert_int_equal(cdnopt_baseline_forecast(&p, y, 3, 2, &fc, err), CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "level 95 is outside (0, 1)");
}

static void baseline_names_round_trip(void **state)
{
    (void)state;
    for (int i = 0; i < CDNOPT_BASELINE_COUNT; i++) {
        enum cdnopt_baseline_method method;
        const char *name = cdnopt_baseline_name((enum cdnopt_baseline_method)i);
        assert_non_null(name);
        assert_int_equal(cdnopt_baseline_from_name(name, &method), CDNOPT_OK);
        assert_int_equal(method, i);
    }
    enum cdnopt_baseline_method method;
    assert_int_equal(cdnopt_baseline_from_name("arima", &method), CDNOPT_ENOTFOUND);
    assert_null(cdnopt_baseline_name(CDNOPT_BASELINE_COUNT));
}

/* ------------------------------------------------------------------------- */
/* Exponential smoothing benchmarks                                          */
/* ------------------------------------------------------------------------- */

static void smoothing_constant_series(void **state)
{
    (void)state;

    /* Period 5 with no seasonality at all: every method forecasts the constant. */
    double y[60], mean[7], lower[7], upper[7];
    for (size_t t = 0; t < 60; t++)
        y[t] = 42.0;
    const enum cdnopt_baseline_method methods[] = {CDNOPT_BASELINE_SES, CDNOPT_BASELINE_HOLT,
                                                   CDNOPT_BASELINE_DAMPED, CDNOPT_BASELINE_THETA,
                                                   CDNOPT_BASELINE_COMB};
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        char err[CDNOPT_ERRMSG_MAX] = "";
        assert_int_equal(run_baseline(methods[i], 5, y, 60, 7, mean, lower, upper, err),
                         CDNOPT_OK);
        for (size_t k = 0; k < 7; k++) {
            assert_near(mean[k], 42.0, 1e-6);
            assert_near(lower[k], 42.0, 1e-6);
            assert_near(upper[k], 42.0, 1e-6);
        }
    }
}

static void holt_extends_exact_line(void **state)
{
    (void)state;

    /* On an exact line the best initial state leaves no error, whatever the smoothing. */
    double y[50], mean[10];
    for (size_t t = 0; t < 50; t++)
        y[t] = 3.0 + 0.25 * (double)t;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(run_baseline(CDNOPT_BASELINE_HOLT, 1, y, 50, 10, mean, NULL, NULL, err),
                     CDNOPT_OK);
    for (size_t k = 0; k < 10; k++)
        assert_near(mean[k], 3.0 + 0.25 * (double)(50 + k), 1e-6);

    /* Damped trend bends the line: each step adds phi^j of the slope, phi <= 0.98. */
    assert_int_equal(run_baseline(CDNOPT_BASELINE_DAMPED, 1, y, 50, 10, mean, NULL, NULL, err),
                     CDNOPT_OK);
    assert_true(mean[9] < 3.0 + 0.25 * 59.0);
    assert_true(mean[9] > mean[0]);
}

static void ses_interval_growth(void **state)
{
    (void)state;

    /* A random walk: SES fits alpha near 1, so the variance grows about linearly. */
    double y[400], mean[9], lower[9], upper[9];
    cdnopt_rng rng;
    cdnopt_rng_seed(&rng, 21);
    y[0] = 100.0;
    for (size_t t = 1; t < 400; t++)
        y[t] = y[t - 1] + cdnopt_rng_normal(&rng);
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(run_baseline(CDNOPT_BASELINE_SES, 1, y, 400, 9, mean, lower, upper, err),
                     CDNOPT_OK);
    assert_near(mean[0], y[399], 0.5);
    assert_near(mean[8], mean[0], 1e-12);
    double ratio = (upper[8] - lower[8]) / (upper[0] - lower[0]);
    assert_near(ratio, 3.0, 0.3);
}

/* ------------------------------------------------------------------------- */
/* Holt-Winters                                                              */
/* ------------------------------------------------------------------------- */

static const double hw_season[12] = {-5, -3, -1, 0, 2, 4, 6, 4, 2, 0, -3, -6};

/* 100 + 0.5 t + season[t mod 12]; the season sums to zero. */
static double hw_truth(size_t t)
{
    return 100.0 + 0.5 * (double)t + hw_season[t % 12];
}

static void hw_recovers_noiseless(void **state)
{
    (void)state;
    enum { N = 240, H = 30 };
    double y[N];
    for (size_t t = 0; t < N; t++)
        y[t] = hw_truth(t);

    /* Both criteria: the initial states already fit exactly, so no error ever arises. */
    const enum cdnopt_hw_criterion criteria[] = {CDNOPT_HW_ONE_STEP, CDNOPT_HW_MULTI_STEP};
    for (size_t c = 0; c < 2; c++) {
        cdnopt_hw_params hw_params = cdnopt_hw_params_default();
        hw_params.criterion = criteria[c];
        cdnopt_hw_model model;
        char err[CDNOPT_ERRMSG_MAX] = "";
        assert_int_equal(cdnopt_hw_fit(y, N, 12, &hw_params, &model, err), CDNOPT_OK);
        assert_near(model.level, 100.0 + 0.5 * (N - 1), 1e-6);
        assert_near(model.trend, 0.5, 1e-6);
        assert_near(model.phi, 1.0, 0.0);
        for (size_t i = 0; i < 12; i++)
            assert_near(model.season[i], hw_season[(N + i) % 12], 1e-6);
        assert_true(model.sigma2 < 1e-12);

        double mean[H], lower[H], upper[H];
        cdnopt_interval_forecast fc = {mean, lower, upper};
        cdnopt_hw_forecast(&model, H, 0.95, &fc);
        for (size_t k = 0; k < H; k++) {
            assert_near(mean[k], hw_truth(N + k), 1e-6);
            assert_near(lower[k], mean[k], 1e-6);
            assert_near(upper[k], mean[k], 1e-6);
        }
        cdnopt_hw_fini(&model);
        cdnopt_hw_fini(&model);
    }
}

static void hw_damped_phi_range(void **state)
{
    (void)state;
    enum { N = 600 };
    double y[N];
    cdnopt_rng rng;
    cdnopt_rng_seed(&rng, 13);
    for (size_t t = 0; t < N; t++)
        y[t] = hw_truth(t) + cdnopt_rng_normal(&rng);

    cdnopt_hw_params hw_params = cdnopt_hw_params_default();
    hw_params.damped = true;
    cdnopt_hw_model model;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_hw_fit(y, N, 12, &hw_params, &model, err), CDNOPT_OK);
    assert_true(model.phi >= 0.8 && model.phi <= 0.98);

    /* The ladder for period 12 is 1, 2, 4, 8, 12. */
    assert_int_equal(model.n_ladder, 5);
    assert_int_equal(model.ladder[3], 8);
    assert_int_equal(model.ladder[4], 12);

    /* A damped forecast adds at most phi / (1 - phi) <= 49 slopes to the level. */
    double mean[48];
    cdnopt_interval_forecast fc = {mean, NULL, NULL};
    cdnopt_hw_forecast(&model, 48, 0.95, &fc);
    double reach = model.level + model.phi / (1.0 - model.phi) * fabs(model.trend) + 7.0;
    for (size_t k = 0; k < 48; k++)
        assert_true(fabs(mean[k]) <= fabs(reach));
    cdnopt_hw_fini(&model);
}

static void hw_interval_grows(void **state)
{
    (void)state;
    enum { N = 2000, H = 48 };
    static double y[N];
    cdnopt_rng rng;
    cdnopt_rng_seed(&rng, 11);
    for (size_t t = 0; t < N; t++)
        y[t] = hw_truth(t) + 2.0 * cdnopt_rng_normal(&rng);

    cdnopt_hw_params hw_params = cdnopt_hw_params_default();
    cdnopt_hw_model model;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_hw_fit(y, N, 12, &hw_params, &model, err), CDNOPT_OK);
    assert_true(model.alpha > 0.0 && model.alpha < 1.0);
    assert_true(model.beta >= 0.0 && model.beta <= model.alpha);
    assert_true(model.gamma >= 0.0 && model.gamma <= 1.0 - model.alpha);

    /* Noise sd 2: the one-step error sd is near 2, a little above from the fitting. */
    assert_near(sqrt(model.sigma2), 2.0, 0.2);

    double mean[H], lower[H], upper[H];
    cdnopt_interval_forecast fc = {mean, lower, upper};
    cdnopt_hw_forecast(&model, H, 0.95, &fc);
    for (size_t k = 1; k < H; k++)
        assert_true(upper[k] - lower[k] >= upper[k - 1] - lower[k - 1] - 1e-12);

    /* The first step's interval is the normal 95% interval of the one-step error. */
    assert_near(upper[0] - lower[0], 2.0 * 1.959963985 * sqrt(model.sigma2), 1e-6);
    cdnopt_hw_fini(&model);
}

static void hw_long_five_minute_series(void **state)
{
    (void)state;

    /* Two weeks of 5-minute steps with a daily cycle: period 288, 4032 values. */
    enum { N = 4032, M = 288, H = 288 };
    static double y[N], mean[H];
    cdnopt_rng rng;
    cdnopt_rng_seed(&rng, 5);
    for (size_t t = 0; t < N; t++)
        y[t] = 50.0 + 20.0 * sin(2.0 * M_PI * (double)(t % M) / M) + cdnopt_rng_normal(&rng);

    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(run_baseline(CDNOPT_BASELINE_HOLT_WINTERS, M, y, N, H, mean, NULL, NULL,
                                  err),
                     CDNOPT_OK);

    /* Noise sd 1: the day-ahead forecast stays within a few sd of the cycle. */
    for (size_t k = 0; k < H; k++) {
        double truth = 50.0 + 20.0 * sin(2.0 * M_PI * (double)((N + k) % M) / M);
        assert_near(mean[k], truth, 3.0);
    }
}

/* ------------------------------------------------------------------------- */
/* Calibration                                                               */
/* ------------------------------------------------------------------------- */

/*
 * Validation forecasts whose std is half the true error sd at every step, so the raw
 * 95% interval covers about 68%. actual = mean + sd_k z with sd_k = 1 + k / 10.
 */
typedef struct synthetic_set {
    cdnopt_calib_set set;
    double *actual, *mean, *std, *lower, *upper;
} synthetic_set;

static void synthetic_make(synthetic_set *s, size_t n_origins, size_t horizon, uint64_t seed)
{
    size_t n = n_origins * horizon;
    s->actual = cdnopt_malloc(5 * n * sizeof(double));
    assert_non_null(s->actual);
    s->mean = s->actual + n;
    s->std = s->mean + n;
    s->lower = s->std + n;
    s->upper = s->lower + n;

    cdnopt_rng rng;
    cdnopt_rng_seed(&rng, seed);
    for (size_t i = 0; i < n; i++) {
        double sd = 1.0 + (double)(i % horizon) / 10.0;
        s->mean[i] = 100.0 + (double)(i % 7);
        s->actual[i] = s->mean[i] + sd * cdnopt_rng_normal(&rng);
        s->std[i] = 0.5 * sd;
        s->lower[i] = s->mean[i] - sd;
        s->upper[i] = s->mean[i] + sd;
    }
    s->set = (cdnopt_calib_set){n_origins, horizon, s->actual, s->mean, s->std, s->lower,
                                s->upper};
}

static void calibration_scale_hits_target(void **state)
{
    (void)state;
    synthetic_set fit, holdout;
    synthetic_make(&fit, 200, 24, 1);
    synthetic_make(&holdout, 2000, 24, 2);

    cdnopt_calibration_params p = cdnopt_calibration_params_default();
    cdnopt_calibration cal;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_calibration_fit(&fit.set, &p, &cal, err), CDNOPT_OK);
    assert_int_equal(cal.horizon, 24);
    assert_int_equal(cal.n_origins, 200);

    /* The raw interval mean +- 1.96 std is +- 0.98 sd: about 67% coverage. */
    assert_near(cal.coverage_raw, 0.67, 0.04);
    assert_true(cal.coverage_calibrated >= 0.95);

    /* The true multiplier is 2 x 1.96. One step's estimate from 200 scores has a
     * sampling sd near 0.26; the mean over 24 steps has about 0.06. */
    double factor_sum = 0.0;
    for (size_t k = 0; k < 24; k++) {
        assert_near(cal.factor[k], 3.92, 0.8);
        factor_sum += cal.factor[k];
    }
    assert_near(factor_sum / 24.0, 3.92, 0.2);

    /* Held-out coverage within 0.015 of 95% (binomial sd over 48000 points is 0.001,
     * the factors' own sampling error adds about 0.005). */
    double raw, calibrated;
    assert_int_equal(cdnopt_calibration_coverage(&cal, &holdout.set, &raw, &calibrated, err),
                     CDNOPT_OK);
    assert_near(raw, 0.67, 0.02);
    assert_near(calibrated, 0.95, 0.015);

    cdnopt_calibration_fini(&cal);
    cdnopt_free(fit.actual);
    cdnopt_free(holdout.actual);
}

static void calibration_shift_few_origins(void **state)
{
    (void)state;

    /* Seven origins, as a week of daily forecasts gives: steps must pool their scores. */
    synthetic_set fit, holdout;
    synthetic_make(&fit, 7, 48, 3);
    synthetic_make(&holdout, 3000, 48, 4);

    cdnopt_calibration_params p = cdnopt_calibration_params_default();
    p.kind = CDNOPT_CALIB_SHIFT;
    cdnopt_calibration cal;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_calibration_fit(&fit.set, &p, &cal, err), CDNOPT_OK);
    for (size_t k = 0; k < 48; k++)
        assert_true(isfinite(cal.factor[k]) && cal.factor[k] > 0.0);

    /* Raw bounds are +- 1 sd (68%); 63 pooled scores per step leave more sampling error. */
    double raw, calibrated;
    assert_int_equal(cdnopt_calibration_coverage(&cal, &holdout.set, &raw, &calibrated, err),
                     CDNOPT_OK);
    assert_near(raw, 0.683, 0.02);
    assert_near(calibrated, 0.95, 0.035);

    cdnopt_calibration_fini(&cal);
    cdnopt_free(fit.actual);
    cdnopt_free(holdout.actual);
}

static void calibration_survives_alloc_failure(void **state)
{
    (void)state;
    synthetic_set fit;
    synthetic_make(&fit, 10, 6, 9);
    long live = cdnopt_alloc_live_blocks();
    cdnopt_calibration_params p = cdnopt_calibration_params_default();

    /* Every allocation of the fit fails once in turn; none may leak or half-fill out. */
    int failures = 0;
    for (long nth = 1; nth < 50; nth++) {
        cdnopt_calibration cal;
        char err[CDNOPT_ERRMSG_MAX] = "";
        cdnopt_alloc_fail_after(nth, false);
        int rc = cdnopt_calibration_fit(&fit.set, &p, &cal, err);
        cdnopt_alloc_fail_after(0, false);
        if (rc == CDNOPT_OK) {
            cdnopt_calibration_fini(&cal);
            break;
        }
        assert_int_equal(rc, CDNOPT_ENOMEM);
        assert_null(cal.factor);
        assert_int_equal(cdnopt_alloc_live_blocks(), live);
        failures++;
    }
    assert_int_equal(failures, 2);
    cdnopt_free(fit.actual);
}

static void calibration_apply_both_kinds(void **state)
{
    (void)state;
    cdnopt_calibration cal;
    assert_int_equal(cdnopt_calibration_init(&cal, CDNOPT_CALIB_SCALE, 0.95, 2), CDNOPT_OK);
    assert_near(cal.factor[0], 1.959963985, 1e-8);
    cal.factor[0] = 2.0;
    cal.factor[1] = 3.0;

    /* Step 3 is past the calibrated horizon and reuses the last factor. */
    const double mean[] = {10, 20, 30};
    const double std[] = {1, 2, 3};
    double lower[3], upper[3];
    cdnopt_calibration_apply(&cal, 3, mean, std, lower, upper);
    assert_near(lower[0], 8.0, EPS);
    assert_near(upper[1], 26.0, EPS);
    assert_near(lower[2], 21.0, EPS);
    cdnopt_calibration_fini(&cal);

    assert_int_equal(cdnopt_calibration_init(&cal, CDNOPT_CALIB_SHIFT, 0.95, 1), CDNOPT_OK);
    cal.factor[0] = 0.5;
    cdnopt_calibration_apply(&cal, 3, NULL, NULL, lower, upper);
    assert_near(lower[0], 7.5, EPS);
    assert_near(upper[1], 26.5, EPS);
    cdnopt_calibration_fini(&cal);
    cdnopt_calibration_fini(NULL);
}

static void calibration_relative_hand_computed(void **state)
{
    (void)state;

    /* Origin 0 forecasts 0 and 200: its floor is 1% of the mean level 100, so step 0
     * has scale 1 (score 0.5 / 1) and step 1 scale 200 (score 20 / 200). Origin 1
     * forecasts 100 twice: scores 10 / 100 and 25 / 100. */
    const double actual[] = {0.5, 220, 90, 125};
    const double mean[] = {0, 200, 100, 100};
    cdnopt_calib_set set = {2, 2, actual, mean, NULL, NULL, NULL};
    cdnopt_calibration_params p = cdnopt_calibration_params_default();
    p.kind = CDNOPT_CALIB_RELATIVE;
    p.level = 0.5;
    p.min_scores = 1;
    cdnopt_calibration cal;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_calibration_fit(&set, &p, &cal, err), CDNOPT_OK);

    /* Two scores per step: the conformal rank ceil(3 x 0.5) = 2 takes the larger one. */
    assert_int_equal(cal.kind, CDNOPT_CALIB_RELATIVE);
    assert_near(cal.factor[0], 0.5, 1e-9);
    assert_near(cal.factor[1], 0.25, 1e-9);
    assert_true(isnan(cal.coverage_raw)); /* no std, so no raw interval */

    /* Apply: the floor of this forecast is 1% of its mean level 100; step 2 reuses the
     * last factor. */
    const double forecast[] = {0, 200, 100};
    double lower[3], upper[3];
    cdnopt_calibration_apply(&cal, 3, forecast, NULL, lower, upper);
    assert_near(lower[0], -0.5, 1e-9);
    assert_near(upper[0], 0.5, 1e-9);
    assert_near(lower[1], 150.0, 1e-9);
    assert_near(upper[1], 250.0, 1e-9);
    assert_near(lower[2], 75.0, 1e-9);
    assert_near(upper[2], 125.0, 1e-9);

    /* With std the scale grows by it: step 1 has scale 200 + 8. */
    const double std[] = {2, 8, 4};
    cdnopt_calibration_apply(&cal, 3, forecast, std, lower, upper);
    assert_near(upper[0], 0.5 * 3.0, 1e-9);
    assert_near(lower[1], 200.0 - 0.25 * 208.0, 1e-9);
    assert_near(upper[2], 100.0 + 0.25 * 104.0, 1e-9);
    cdnopt_calibration_fini(&cal);

    set.mean = NULL;
    assert_int_equal(cdnopt_calibration_fit(&set, &p, &cal, err), CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "relative calibration needs mean");
}

static void calibration_rejects_bad_std(void **state)
{
    (void)state;
    const double actual[] = {1, 2, 3, 4};
    const double mean[] = {1, 2, 3, 4};
    const double std[] = {1, 1, 1, 0};
    cdnopt_calib_set set = {2, 2, actual, mean, std, NULL, NULL};
    cdnopt_calibration_params p = cdnopt_calibration_params_default();
    cdnopt_calibration cal;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_calibration_fit(&set, &p, &cal, err), CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "std at origin 1 step 1 is 0");
    assert_null(cal.factor);

    p.kind = CDNOPT_CALIB_SHIFT;
    assert_int_equal(cdnopt_calibration_fit(&set, &p, &cal, err), CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "needs lower and upper");

    set.n_origins = 0;
    p.kind = CDNOPT_CALIB_SCALE;
    assert_int_equal(cdnopt_calibration_fit(&set, &p, &cal, err), CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "calibration set is empty");
}

static void samples_summary_values(void **state)
{
    (void)state;

    /* Two steps: the samples are 0..99 at step 0 and twice that at step 1. */
    double samples[200];
    for (size_t s = 0; s < 100; s++) {
        samples[2 * s] = (double)s;
        samples[2 * s + 1] = 2.0 * (double)s;
    }
    double mean[2], lower[2], upper[2], std[2];
    cdnopt_interval_forecast out = {mean, lower, upper};
    assert_int_equal(cdnopt_samples_summarize(samples, 100, 2, 0.95, &out, std), CDNOPT_OK);
    assert_near(mean[0], 49.5, EPS);
    assert_near(std[0], sqrt(841.6666666666666), 1e-9);
    assert_near(lower[0], 2.475, EPS);
    assert_near(upper[0], 96.525, EPS);
    assert_near(mean[1], 99.0, EPS);
    assert_near(upper[1], 193.05, EPS);
    assert_int_equal(cdnopt_samples_summarize(samples, 1, 2, 0.95, &out, std), CDNOPT_EINVAL);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(metric_point_errors),
    cmocka_unit_test(metric_smape_zero_pair),
    cmocka_unit_test(metric_mase_scale),
    cmocka_unit_test(metric_interval_scores),
    cmocka_unit_test(metric_owa_ratio),
    cmocka_unit_test(scores_without_bounds),
    cmocka_unit_test(normal_quantile_values),
    cmocka_unit_test(quantile_select_matches_sort),
    cmocka_unit_test(naive_last_value_interval),
    cmocka_unit_test(snaive_repeats_last_season),
    cmocka_unit_test(snaive_without_bounds),
    cmocka_unit_test(seasonality_test_cases),
    cmocka_unit_test(seasonal_indices_two_step),
    cmocka_unit_test(naive2_reseasonalises),
    cmocka_unit_test(naive2_short_series_is_naive),
    cmocka_unit_test(baseline_rejects_bad_input),
    cmocka_unit_test(baseline_names_round_trip),
    cmocka_unit_test(smoothing_constant_series),
    cmocka_unit_test(holt_extends_exact_line),
    cmocka_unit_test(ses_interval_growth),
    cmocka_unit_test(hw_recovers_noiseless),
    cmocka_unit_test(hw_damped_phi_range),
    cmocka_unit_test(hw_interval_grows),
    cmocka_unit_test(hw_long_five_minute_series),
    cmocka_unit_test(calibration_scale_hits_target),
    cmocka_unit_test(calibration_shift_few_origins),
    cmocka_unit_test(calibration_survives_alloc_failure),
    cmocka_unit_test(calibration_apply_both_kinds),
    cmocka_unit_test(calibration_relative_hand_computed),
    cmocka_unit_test(calibration_rejects_bad_std),
    cmocka_unit_test(samples_summary_values),
};

CDNOPT_TEST_MAIN("stats", tests)
