// SPDX-License-Identifier: Apache-2.0
/*
 * Tests of the scenarios a planning forecast keeps for robust planning, on an hourly
 * series whose value shows the day it comes from: v = 100 x (day index) + hour.
 */
#include "assert_near.h"
#include "cdnopt/core.h"
#include "cdnopt/pipeline.h"
#include "testutil.h"

#include <string.h>

#define DAY 24 /* hourly steps per day */

/* 19 days from Monday 2024-01-01 through Friday 2024-01-19, v = 100 x day + hour. */
static cdnopt_series *day_tagged_series(void)
{
    cdnopt_series *s = NULL;
    assert_int_equal(cdnopt_series_new(19 * DAY, 1704067200, 3600, &s), CDNOPT_OK);
    for (size_t i = 0; i < s->n; i++)
        s->v[i] = 100.0 * (double)(i / DAY) + (double)(i % DAY);
    return s;
}

/* Check that scenario k takes its day d from source_days[d] of the history. */
static void assert_days(const cdnopt_plan_forecast *f, int k, const int source_days[3])
{
    const cdnopt_series *line = f->scenarios[k];
    assert_int_equal(line->n, 3 * DAY);
    assert_int_equal(line->t[0], f->mean->t[0]);
    for (size_t i = 0; i < line->n; i++)
        assert_near(line->v[i], 100.0 * source_days[i / DAY] + (double)(i % DAY), 1e-9);
}

/*
 * The forecast covers Saturday 20, Sunday 21 and Monday 22 January (days 19-21).
 * - Members: the weekly naive takes days 12-14; the daily profile is the mean of days
 *   12-18 at each hour, 1500 + hour.
 * - Week 2 back takes days 5-7. Week 3 back needs 21 days of history, so it is skipped.
 * - Same-kind day 1 back: both weekend days take Sunday 14 (day 13), because Saturday 20
 *   is not in the history; Monday takes Friday 19 (day 18).
 * - Same-kind day 2 back: Saturday 13 (day 12) for the weekend, Thursday 18 (day 17).
 */
static void scenarios_take_expected_days(void **state)
{
    (void)state;
    cdnopt_series *history = day_tagged_series();
    cdnopt_plan_forecast_params p = cdnopt_plan_forecast_params_default();
    p.horizon = 3 * DAY;
    p.scenario_weeks = 3;
    p.scenario_days = 2;
    p.scenario_residual_days = 0;
    cdnopt_plan_forecast *f = NULL;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_pipeline_plan_forecast(NULL, history, &p, &f, err), CDNOPT_OK);
    assert_true(f->members[0].used);
    assert_true(f->members[1].used);
    assert_int_equal(f->n_scenarios, 5);

    assert_days(f, 0, (const int[3]){12, 13, 14});
    for (size_t i = 0; i < f->scenarios[1]->n; i++)
        assert_near(f->scenarios[1]->v[i], 1500.0 + (double)(i % DAY), 1e-9);
    assert_days(f, 2, (const int[3]){5, 6, 7});
    assert_days(f, 3, (const int[3]){13, 13, 18});
    assert_days(f, 4, (const int[3]){12, 12, 17});
    cdnopt_plan_forecast_free(f);
    cdnopt_series_free(history);
}

/* Forecast from history with p, and check that both members made the combination. */
static cdnopt_plan_forecast *forecast_with_both_members(const cdnopt_series *history,
                                                       const cdnopt_plan_forecast_params *p)
{
    cdnopt_plan_forecast *f = NULL;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_pipeline_plan_forecast(NULL, history, p, &f, err), CDNOPT_OK);
    assert_true(f->members[0].used);
    assert_true(f->members[1].used);
    return f;
}

/* Check that scenario k is the mean plus error_gbps, plus bump at hour bump_hour. */
static void assert_residual(const cdnopt_plan_forecast *f, int k, double error_gbps,
                            size_t bump_hour, double bump)
{
    const cdnopt_series *line = f->scenarios[k];
    assert_int_equal(line->n, f->mean->n);
    for (size_t i = 0; i < line->n; i++) {
        double expected = error_gbps + (i % DAY == bump_hour ? bump : 0.0);
        assert_near(line->v[i] - f->mean->v[i], expected, 1e-9);
    }
}

/*
 * The defaults add no past week, the same-kind days 1 to 3 back and the residual days 1
 * to 3. The backtest forecasts days 16-18 from the start of day 16. The weekly naive
 * takes days 9-11, 700 below the actual values. The daily profile is the mean of days
 * 9-15, 1200 + hour, so 400, 500 and 600 below. The combination is their mean: 550, 600
 * and 650 below on days 16, 17 and 18, and residual day k adds the error of day 19 - k.
 */
static void default_adds_three_days(void **state)
{
    (void)state;
    cdnopt_series *history = day_tagged_series();
    cdnopt_plan_forecast_params p = cdnopt_plan_forecast_params_default();
    p.horizon = 3 * DAY;
    cdnopt_plan_forecast *f = NULL;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_pipeline_plan_forecast(NULL, history, &p, &f, err), CDNOPT_OK);
    assert_int_equal(f->backtest_steps, 3 * DAY);
    assert_int_equal(f->n_scenarios, 8);
    assert_days(f, 0, (const int[3]){12, 13, 14});
    assert_days(f, 2, (const int[3]){13, 13, 18});
    assert_days(f, 3, (const int[3]){12, 12, 17});
    assert_days(f, 4, (const int[3]){6, 6, 16});
    assert_residual(f, 5, 650.0, 0, 0.0);
    assert_residual(f, 6, 600.0, 0, 0.0);
    assert_residual(f, 7, 550.0, 0, 0.0);
    cdnopt_plan_forecast_free(f);
    cdnopt_series_free(history);
}

/*
 * A residual day keeps its errors at their time of day: 1000 more traffic at 05:00 on
 * day 18 (the backtest's last day) shows at 05:00 of every forecast day in residual day
 * 1 and nowhere in residual day 2. The backtest window covers 3 whole days, so a fourth
 * residual day is left out.
 */
static void residual_days_keep_time_of_day(void **state)
{
    (void)state;
    cdnopt_series *history = day_tagged_series();
    history->v[18 * DAY + 5] += 1000.0;
    cdnopt_plan_forecast_params p = cdnopt_plan_forecast_params_default();
    p.horizon = 3 * DAY;
    p.scenario_days = 0;
    p.scenario_residual_days = 4;
    cdnopt_plan_forecast *f = forecast_with_both_members(history, &p);
    assert_int_equal(f->n_scenarios, 5);
    assert_residual(f, 2, 650.0, 5, 1000.0);
    assert_residual(f, 3, 600.0, 5, 0.0);
    assert_residual(f, 4, 550.0, 5, 0.0);

    /* With none requested, only the members remain. */
    cdnopt_plan_forecast_free(f);
    p.scenario_residual_days = 0;
    f = forecast_with_both_members(history, &p);
    assert_int_equal(f->n_scenarios, 2);
    cdnopt_plan_forecast_free(f);
    cdnopt_series_free(history);
}

static void scenario_lags_rejected(void **state)
{
    (void)state;
    cdnopt_series *history = day_tagged_series();
    cdnopt_plan_forecast_params p = cdnopt_plan_forecast_params_default();
    p.horizon = DAY;
    cdnopt_plan_forecast *f = NULL;
    char err[CDNOPT_ERRMSG_MAX] = "";

    p.scenario_days = CDNOPT_PLAN_SCENARIO_MAX_LAGS + 1;
    assert_int_equal(cdnopt_pipeline_plan_forecast(NULL, history, &p, &f, err), CDNOPT_EINVAL);
    assert_null(f);
    assert_non_null(strstr(err, "scenario lags"));

    p.scenario_days = 0;
    p.scenario_weeks = 0;
    assert_int_equal(cdnopt_pipeline_plan_forecast(NULL, history, &p, &f, err), CDNOPT_EINVAL);
    assert_null(f);

    p.scenario_weeks = 1;
    p.scenario_residual_days = CDNOPT_PLAN_SCENARIO_MAX_LAGS + 1;
    assert_int_equal(cdnopt_pipeline_plan_forecast(NULL, history, &p, &f, err), CDNOPT_EINVAL);
    assert_null(f);
    assert_non_null(strstr(err, "residual scenario days 8"));
    cdnopt_series_free(history);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(scenarios_take_expected_days),
        cmocka_unit_test(default_adds_three_days),
        cmocka_unit_test(residual_days_keep_time_of_day),
        cmocka_unit_test(scenario_lags_rejected),
    };
    return cdnopt_test_main(argc, argv, "plan_scenarios", tests, sizeof tests / sizeof tests[0]);
}
