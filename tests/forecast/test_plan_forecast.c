// SPDX-License-Identifier: Apache-2.0
/*
 * Tests of the planning forecast on hourly series whose members and backtest errors
 * can be worked out by hand. A pure daily cycle makes every member exact, a stub model
 * that forecasts a constant is left out by the backtest, and a bumped last day sets the
 * margin. Short histories drop the weekly member or are rejected.
 */
#include "assert_near.h"
#include "cdnopt/core.h"
#include "cdnopt/pipeline.h"
#include "testutil.h"

#include <math.h>

#define DAY 24 /* hourly steps per day */

/* Stub model: every step of its dropout-off path is the double that ctx points to. */
static int constant_sample(void *ctx, const cdnopt_series *history, size_t end, int horizon,
                           int n_samples, uint64_t seed, double *samples, char *err)
{
    (void)history;
    (void)end;
    (void)n_samples;
    (void)seed;
    (void)err;
    for (int h = 0; h < horizon; h++)
        samples[h] = *(const double *)ctx;
    return CDNOPT_OK;
}

static const cdnopt_sampler_iface constant_iface = {constant_sample, NULL};

/* Hourly series of n_days days from midnight 2024-01-01 with v = hour of the day. */
static cdnopt_series *hour_of_day_series(size_t n_days)
{
    cdnopt_series *s = NULL;
    assert_int_equal(cdnopt_series_new(n_days * DAY, 1704067200, 3600, &s), CDNOPT_OK);
    for (size_t i = 0; i < s->n; i++)
        s->v[i] = (double)(i % DAY);
    return s;
}

static cdnopt_plan_forecast_params one_day_params(void)
{
    cdnopt_plan_forecast_params p = cdnopt_plan_forecast_params_default();
    p.horizon = DAY;
    return p;
}

static void daily_cycle_is_exact(void **state)
{
    (void)state;
    cdnopt_series *history = hour_of_day_series(9);
    cdnopt_plan_forecast_params p = one_day_params();
    p.horizon = 30;
    cdnopt_plan_forecast *f = NULL;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_pipeline_plan_forecast(NULL, history, &p, &f, err), CDNOPT_OK);

    /* Nine days leave a week before the backtest: 9 x 24 - 7 x 24 = 48 steps, more than
     * the horizon of 30. */
    assert_int_equal(f->backtest_steps, 30);
    assert_int_equal(f->n_members, 2);
    assert_true(f->members[0].used);
    assert_true(f->members[1].used);
    assert_near(f->members[0].backtest_mae, 0.0, 1e-12);
    assert_near(f->members[1].backtest_mae, 0.0, 1e-12);
    assert_near(f->margin, 0.0, 1e-12);

    assert_int_equal(f->mean->n, 30);
    assert_int_equal(f->mean->t[0], history->t[history->n - 1] + 3600);
    for (size_t h = 0; h < f->mean->n; h++) {
        assert_near(f->mean->v[h], (double)(h % DAY), 1e-12);
        assert_near(f->critical->v[h], (double)(h % DAY), 1e-12);
    }
    cdnopt_plan_forecast_free(f);
    cdnopt_series_free(history);
}

static void constant_model_left_out(void **state)
{
    (void)state;
    cdnopt_series *history = hour_of_day_series(9);
    double level = 50.0;
    cdnopt_sampler model = {&constant_iface, &level};
    cdnopt_plan_forecast_params p = one_day_params();
    p.max_error_ratio = 2.5;
    cdnopt_plan_forecast *f = NULL;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_pipeline_plan_forecast(&model, history, &p, &f, err), CDNOPT_OK);

    /* A constant misses the cycle 0..23 by mean |k - 11.5| = 6. The mean of the two
     * exact members and the constant misses it by a third of that, 2, and 6 > 2.5 x 2. */
    assert_int_equal(f->n_members, 3);
    assert_string_equal(f->members[2].name, "model");
    assert_near(f->members[2].backtest_mae, 6.0, 1e-12);
    assert_false(f->members[2].used);
    assert_true(f->members[0].used);
    assert_true(f->members[1].used);
    for (size_t h = 0; h < f->mean->n; h++)
        assert_near(f->mean->v[h], (double)h, 1e-12);
    cdnopt_plan_forecast_free(f);

    /* With a ratio of 3.5 the constant stays, and moves the mean a third of the way to
     * 50. (The default of 3 sits exactly on the model's error, 6 = 3 x 2.) */
    p.max_error_ratio = 3.5;
    assert_int_equal(cdnopt_pipeline_plan_forecast(&model, history, &p, &f, err), CDNOPT_OK);
    assert_true(f->members[2].used);
    assert_near(f->mean->v[0], 50.0 / 3.0, 1e-12);
    assert_near(f->mean->v[23], (2.0 * 23.0 + 50.0) / 3.0, 1e-12);
    cdnopt_plan_forecast_free(f);
    cdnopt_series_free(history);
}

static void bumped_day_sets_margin(void **state)
{
    (void)state;
    cdnopt_series *history = hour_of_day_series(9);
    /* The first 12 hours of the last day run 10 above the cycle, so the backtest errors
     * are 12 x 0 and 12 x 10, and their 95th percentile is 10. */
    for (size_t i = history->n - DAY; i < history->n - DAY / 2; i++)
        history->v[i] += 10.0;
    cdnopt_plan_forecast_params p = one_day_params();
    cdnopt_plan_forecast *f = NULL;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_pipeline_plan_forecast(NULL, history, &p, &f, err), CDNOPT_OK);

    assert_near(f->margin, 10.0, 1e-12);
    assert_near(f->members[0].backtest_mae, 5.0, 1e-12);
    assert_near(f->members[1].backtest_mae, 5.0, 1e-12);

    /* The weekly naive repeats the day a week before, without the bump; the 7-day
     * profile carries a seventh of it. */
    assert_near(f->mean->v[0], (0.0 + 10.0 / 7.0) / 2.0, 1e-12);
    assert_near(f->mean->v[12], 12.0, 1e-12);
    for (size_t h = 0; h < f->mean->n; h++)
        assert_near(f->critical->v[h] - f->mean->v[h], 1.2 * 10.0, 1e-9);
    cdnopt_plan_forecast_free(f);
    cdnopt_series_free(history);
}

/* A last day that runs 10 below the cycle in its first 12 hours gives the same margin
 * as one that runs 10 above: the margin comes from absolute errors. */
static void dipped_day_sets_margin(void **state)
{
    (void)state;
    cdnopt_series *history = hour_of_day_series(9);
    for (size_t i = history->n - DAY; i < history->n - DAY / 2; i++)
        history->v[i] -= 10.0;
    cdnopt_plan_forecast_params p = one_day_params();
    cdnopt_plan_forecast *f = NULL;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_pipeline_plan_forecast(NULL, history, &p, &f, err), CDNOPT_OK);
    assert_near(f->margin, 10.0, 1e-12);
    cdnopt_plan_forecast_free(f);
    cdnopt_series_free(history);
}

static void short_history_drops_weekly(void **state)
{
    (void)state;
    cdnopt_series *history = hour_of_day_series(3);
    cdnopt_plan_forecast_params p = one_day_params();
    p.horizon = 36;
    cdnopt_plan_forecast *f = NULL;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_pipeline_plan_forecast(NULL, history, &p, &f, err), CDNOPT_OK);

    /* Under eight days the backtest leaves one day before it: 72 - 24 = 48 >= 36. */
    assert_int_equal(f->backtest_steps, 36);
    assert_false(f->members[0].used);
    assert_true(isnan(f->members[0].backtest_mae));
    assert_true(f->members[1].used);
    assert_near(f->mean->v[35], 11.0, 1e-12);
    cdnopt_plan_forecast_free(f);
    cdnopt_series_free(history);
}

static void rejects_bad_input(void **state)
{
    (void)state;
    cdnopt_plan_forecast *f = NULL;
    char err[CDNOPT_ERRMSG_MAX] = "";
    cdnopt_plan_forecast_params p = one_day_params();

    cdnopt_series *short_history = hour_of_day_series(1);
    assert_int_equal(cdnopt_pipeline_plan_forecast(NULL, short_history, &p, &f, err),
                     CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "shorter than two days");
    assert_null(f);
    cdnopt_series_free(short_history);

    cdnopt_series *history = hour_of_day_series(9);
    p.horizon = 0;
    assert_int_equal(cdnopt_pipeline_plan_forecast(NULL, history, &p, &f, err), CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "invalid horizon 0");
    p = one_day_params();
    p.margin_quantile = 1.0;
    assert_int_equal(cdnopt_pipeline_plan_forecast(NULL, history, &p, &f, err), CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "invalid margin quantile 1");
    cdnopt_series_free(history);

    /* A 7-hour step does not divide a day, so there is no time of day to align on. */
    cdnopt_series *odd = NULL;
    assert_int_equal(cdnopt_series_new(100, 1704067200, 7 * 3600, &odd), CDNOPT_OK);
    p = one_day_params();
    assert_int_equal(cdnopt_pipeline_plan_forecast(NULL, odd, &p, &f, err), CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "step of 25200 s does not divide one day");
    cdnopt_series_free(odd);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(daily_cycle_is_exact),
        cmocka_unit_test(constant_model_left_out),
        cmocka_unit_test(bumped_day_sets_margin),
        cmocka_unit_test(dipped_day_sets_margin),
        cmocka_unit_test(short_history_drops_weekly),
        cmocka_unit_test(rejects_bad_input),
    };
    return cdnopt_test_main(argc, argv, "plan_forecast", tests, sizeof tests / sizeof tests[0]);
}
