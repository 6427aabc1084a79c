/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The hand-checkable parts of choosing a planning method by a backtest: how far back a
 * fold moves the releases, the moved copy of a release set, and the choice from the
 * fold ratios.
 */
#include "../forecast/assert_near.h"
#include "cdnopt/plan_backtest.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define HOUR 3600
#define DAY (24 * HOUR)

/* 2024-01-01 00:00:00 in civil seconds. */
static const int64_t day0 = 1704067200;

/* A long history and a short reach move back by whole weeks, one more week per fold,
 * while a week of history stays before the moved releases. */
static void shift_whole_weeks(void **state)
{
    (void)state;
    int64_t history = 25 * DAY, reach = 60 * HOUR, keep = 7 * DAY;
    assert_int_equal(cdnopt_plan_backtest_shift_s(history, reach, keep, 0), 7 * DAY);
    assert_int_equal(cdnopt_plan_backtest_shift_s(history, reach, keep, 1), 14 * DAY);
    /* 25 - 21 = 4 days would be left, fewer than 7. */
    assert_int_equal(cdnopt_plan_backtest_shift_s(history, reach, keep, 2), 0);
    assert_int_equal(cdnopt_plan_backtest_shift_s(history, reach, keep, -1), 0);
}

/* A reach of exactly one week needs one week, not two; a reach of 0 still one. */
static void shift_covers_reach_exactly(void **state)
{
    (void)state;
    assert_int_equal(cdnopt_plan_backtest_shift_s(30 * DAY, 7 * DAY, 7 * DAY, 0), 7 * DAY);
    assert_int_equal(cdnopt_plan_backtest_shift_s(30 * DAY, 7 * DAY + 1, 7 * DAY, 0),
                     14 * DAY);
    assert_int_equal(cdnopt_plan_backtest_shift_s(30 * DAY, 0, 7 * DAY, 0), 7 * DAY);
}

/* A week of releases (reach 8.5 days) on 16.5 days of history: two weeks back would
 * leave 2.5 days, so the shift is 9 whole days and leaves 7.5. A second fold of 10 days
 * would leave 6.5. */
static void shift_falls_back_to_days(void **state)
{
    (void)state;
    int64_t history = 16 * DAY + 12 * HOUR, reach = 8 * DAY + 12 * HOUR, keep = 7 * DAY;
    assert_int_equal(cdnopt_plan_backtest_shift_s(history, reach, keep, 0), 9 * DAY);
    assert_int_equal(cdnopt_plan_backtest_shift_s(history, reach, keep, 1), 0);
    /* 10 days of history: 9 days back would leave 1. */
    assert_int_equal(cdnopt_plan_backtest_shift_s(10 * DAY, reach, keep, 0), 0);
}

/* Both times of every release move; ids and sizes stay, and the input is unchanged. */
static void release_set_shift_moves_times(void **state)
{
    (void)state;
    cdnopt_release items[2];
    memset(items, 0, sizeof items);
    snprintf(items[0].id, sizeof items[0].id, "a");
    items[0].size_mb = 100;
    items[0].users = 1000;
    items[0].planned_at = day0 + 10 * HOUR;
    snprintf(items[1].id, sizeof items[1].id, "b");
    items[1].size_mb = 600;
    items[1].users = 50;
    items[1].planned_at = day0 + 12 * HOUR;
    items[1].latest_start_at = day0 + 20 * HOUR;
    items[1].has_latest = true;
    char err[CDNOPT_ERRMSG_MAX] = "";
    cdnopt_release_set *set = NULL, *moved = NULL;
    assert_int_equal(cdnopt_release_set_new(items, 2, &set, err), 0);

    assert_int_equal(cdnopt_release_set_shift(set, -7 * DAY, &moved, err), 0);
    assert_int_equal(moved->n, 2);
    assert_string_equal(moved->items[0].id, "a");
    assert_int_equal(moved->items[0].planned_at, day0 - 7 * DAY + 10 * HOUR);
    assert_false(moved->items[0].has_latest);
    assert_int_equal(moved->items[1].planned_at, day0 - 7 * DAY + 12 * HOUR);
    assert_int_equal(moved->items[1].latest_start_at, day0 - 7 * DAY + 20 * HOUR);
    assert_true(moved->items[1].has_latest);
    assert_near(moved->items[1].size_mb, 600.0, 0.0);
    assert_int_equal(cdnopt_release_set_find(moved, "b"), 1);
    assert_int_equal(set->items[1].planned_at, day0 + 12 * HOUR);

    cdnopt_release_set_free(moved);
    cdnopt_release_set_free(set);
}

/*
 * Two folds, ratios of each method's peak to greedy's on the known traffic:
 *
 *   fold      mean   scenarios   wide
 *   0         1.10   1.04        (not tried)
 *   1         1.00   1.04        (not tried)
 *
 * Geometric means: mean sqrt(1.10 x 1.00) = 1.0488088, scenarios 1.04, so scenarios
 * wins although the mean line won fold 1.
 */
static void choose_lowest_geometric_mean(void **state)
{
    (void)state;
    const double ratios[] = {1.10, 1.04, NAN, 1.00, 1.04, NAN};
    double scores[CDNOPT_PLAN_METHOD_COUNT];
    assert_int_equal(cdnopt_plan_backtest_choose(ratios, 2, scores),
                     CDNOPT_PLAN_METHOD_SCENARIOS);
    assert_near(scores[CDNOPT_PLAN_METHOD_MEAN], sqrt(1.10), 1e-12);
    assert_near(scores[CDNOPT_PLAN_METHOD_SCENARIOS], 1.04, 1e-12);
    assert_true(isinf(scores[CDNOPT_PLAN_METHOD_WIDE]));
}

/* Equal scores go to the earlier, cheaper method; a zero ratio rules a method out. */
static void choose_ties_and_rejects(void **state)
{
    (void)state;
    const double tie[] = {1.05, 1.05, 1.05};
    assert_int_equal(cdnopt_plan_backtest_choose(tie, 1, NULL), CDNOPT_PLAN_METHOD_MEAN);

    const double zero_mean[] = {0.0, 1.20, 1.10};
    double scores[CDNOPT_PLAN_METHOD_COUNT];
    assert_int_equal(cdnopt_plan_backtest_choose(zero_mean, 1, scores),
                     CDNOPT_PLAN_METHOD_WIDE);
    assert_true(isinf(scores[CDNOPT_PLAN_METHOD_MEAN]));
    assert_near(scores[CDNOPT_PLAN_METHOD_WIDE], 1.10, 1e-12);

    /* No fold, or no usable method: the mean line. */
    assert_int_equal(cdnopt_plan_backtest_choose(tie, 0, NULL), CDNOPT_PLAN_METHOD_MEAN);
    const double none[] = {NAN, INFINITY, -1.0};
    assert_int_equal(cdnopt_plan_backtest_choose(none, 1, NULL), CDNOPT_PLAN_METHOD_MEAN);
}

static void method_names(void **state)
{
    (void)state;
    assert_string_equal(cdnopt_plan_method_name(CDNOPT_PLAN_METHOD_MEAN), "mean");
    assert_string_equal(cdnopt_plan_method_name(CDNOPT_PLAN_METHOD_SCENARIOS), "scenarios");
    assert_string_equal(cdnopt_plan_method_name(CDNOPT_PLAN_METHOD_WIDE), "wide");
    assert_string_equal(cdnopt_plan_method_name(CDNOPT_PLAN_METHOD_COUNT), "unknown");
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(shift_whole_weeks),
        cmocka_unit_test(shift_covers_reach_exactly),
        cmocka_unit_test(shift_falls_back_to_days),
        cmocka_unit_test(release_set_shift_moves_times),
        cmocka_unit_test(choose_lowest_geometric_mean),
        cmocka_unit_test(choose_ties_and_rejects),
        cmocka_unit_test(method_names),
    };
    return cdnopt_test_main(argc, argv, "plan_backtest", tests, sizeof tests / sizeof tests[0]);
}
