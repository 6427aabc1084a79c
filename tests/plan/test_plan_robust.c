/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Robust planning against several baseline scenarios: small cases whose best start
 * is worked out by hand, and the checks on its input.
 */
#include "../forecast/assert_near.h"
#include "cdnopt/plan.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define HOUR 3600

/* 2024-01-01 00:00:00 in civil seconds. */
static const int64_t day0 = 1704067200;

/*
 * Four hourly steps and one release planned at hour 0 that may start at hours 0-3,
 * with ratio 1.0 and a one-hour wave. 100 MB x 135,000 users is 1.08e5 Gbit, so the
 * wave is 30 Gbit/s for its one hour. Two scenarios:
 *
 *   hour         0    1    2    3
 *   a          100    0   60  100
 *   b          100  100   60  100
 *   mean       100   50   60  100
 *
 * On the mean, hour 1 is the deepest valley (50 + 30 = 80 < 60 + 30 = 90), so greedy
 * starts there. That is a peak of 100 + 30 = 130 in scenario b, while hour 2 keeps both
 * scenarios at 100. Robust planning starts at hour 2: expected peak 100, not 115.
 */
typedef struct two_scenarios {
    int64_t times[4];
    double a[4], b[4], mean[4];
    cdnopt_series line_a, line_b, line_mean;
    const cdnopt_series *lines[2];
    cdnopt_release_set *releases;
    cdnopt_rules rules;
} two_scenarios;

static void two_scenarios_init(two_scenarios *c)
{
    const double a[4] = {100, 0, 60, 100}, b[4] = {100, 100, 60, 100};
    for (int h = 0; h < 4; h++) {
        c->times[h] = day0 + h * HOUR;
        c->a[h] = a[h];
        c->b[h] = b[h];
        c->mean[h] = (a[h] + b[h]) / 2;
    }
    c->line_a = (cdnopt_series){4, HOUR, c->times, c->a, NULL};
    c->line_b = (cdnopt_series){4, HOUR, c->times, c->b, NULL};
    c->line_mean = (cdnopt_series){4, HOUR, c->times, c->mean, NULL};
    c->lines[0] = &c->line_a;
    c->lines[1] = &c->line_b;

    c->rules = cdnopt_rules_default();
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_rules_parse_line(&c->rules, "max_delay = 3h", "t", err), 0);
    assert_int_equal(cdnopt_rules_parse_line(&c->rules, "batch_ratios = 1.0", "t", err), 0);
    assert_int_equal(cdnopt_rules_parse_line(&c->rules, "blackout = none", "t", err), 0);
    assert_int_equal(cdnopt_rules_parse_line(&c->rules, "duration = 1h", "t", err), 0);

    cdnopt_release item;
    memset(&item, 0, sizeof item);
    snprintf(item.id, sizeof item.id, "r0");
    item.size_mb = 100;
    item.users = 135000;
    item.planned_at = day0;
    assert_int_equal(cdnopt_release_set_new(&item, 1, &c->releases, err), 0);
}

static cdnopt_plan_scenarios scenarios_of(const two_scenarios *c, double worst_weight)
{
    cdnopt_plan_scenarios scenarios = {.reference = &c->line_mean,
                                       .lines = c->lines,
                                       .n_lines = 2,
                                       .worst_weight = worst_weight};
    return scenarios;
}

static void wave_is_30_gbps(void **state)
{
    (void)state;
    two_scenarios c;
    two_scenarios_init(&c);
    double profile[CDNOPT_PROFILE_MAX_H];
    size_t hours = cdnopt_release_profile(&c.releases->items[0], 1.0, &c.rules, profile);
    assert_int_equal(hours, 1);
    assert_near(profile[0], 30.0, 1e-9);
    cdnopt_release_set_free(c.releases);
}

static void mean_line_fills_hour_1(void **state)
{
    (void)state;
    two_scenarios c;
    two_scenarios_init(&c);
    cdnopt_plan_params params = cdnopt_plan_params_default();
    cdnopt_plan_result r;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(
        cdnopt_plan_greedy(&c.line_mean, c.releases, &c.rules, &params, &r, err), 0);
    assert_int_equal(r.schedule->start_at[0], day0 + 1 * HOUR);
    cdnopt_plan_result_clear(&r);
    cdnopt_release_set_free(c.releases);
}

/* Peak of the schedule's traffic on one scenario. */
static double peak_on(const two_scenarios *c, const cdnopt_series *line,
                      const cdnopt_schedule *schedule)
{
    cdnopt_figures figures;
    assert_int_equal(
        cdnopt_schedule_evaluate(line, c->releases, schedule, &c->rules, NULL, &figures), 0);
    return figures.peak_gbps;
}

static void robust_fills_hour_2(void **state)
{
    (void)state;
    two_scenarios c;
    two_scenarios_init(&c);
    cdnopt_plan_params params = cdnopt_plan_params_default();
    const double weights[3] = {0.0, 0.5, 1.0};
    for (int k = 0; k < 3; k++) {
        cdnopt_plan_scenarios scenarios = scenarios_of(&c, weights[k]);
        cdnopt_plan_result r;
        char err[CDNOPT_ERRMSG_MAX] = "";
        assert_int_equal(cdnopt_plan_robust(&scenarios, c.releases, &c.rules, &params, &r, err),
                         0);
        assert_int_equal(r.schedule->start_at[0], day0 + 2 * HOUR);
        assert_near(r.schedule->batch_ratio[0], 1.0, 0.0);
        assert_near(peak_on(&c, &c.line_a, r.schedule), 100.0, 1e-9);
        assert_near(peak_on(&c, &c.line_b, r.schedule), 100.0, 1e-9);
        /* The figures are the reference line's: 60 + 30 = 90 at hour 2, under 100. */
        assert_near(r.planned.peak_gbps, 100.0, 1e-9);
        cdnopt_plan_result_clear(&r);
    }
    cdnopt_release_set_free(c.releases);
}

/*
 * Where the mean and the worst case disagree:
 *
 *   hour         0    1    2    3
 *   a          100    0   75  100
 *   b          100   80   75  100
 *
 * Hour 1: peaks max(100, 0 + 30) = 100 and 80 + 30 = 110, mean 105, worst 110.
 * Hour 2: peaks 75 + 30 = 105 in both, mean 105, worst 105.
 * Hours 0 and 3: 130 in both.
 */
static void worst_weight_changes_choice(void **state)
{
    (void)state;
    two_scenarios c;
    two_scenarios_init(&c);
    const double a[4] = {100, 0, 75, 100}, b[4] = {100, 80, 75, 100};
    for (int h = 0; h < 4; h++) {
        c.a[h] = a[h];
        c.b[h] = b[h];
        c.mean[h] = (a[h] + b[h]) / 2;
    }
    cdnopt_plan_params params = cdnopt_plan_params_default();
    cdnopt_plan_result r;
    char err[CDNOPT_ERRMSG_MAX] = "";

    /* Expected peak: 105 at hours 1 and 2, a tie broken by the mean highest total the
     * release reaches, (30 + 110) / 2 = 70 at hour 1 against 105 at hour 2. */
    cdnopt_plan_scenarios expected = scenarios_of(&c, 0.0);
    assert_int_equal(cdnopt_plan_robust(&expected, c.releases, &c.rules, &params, &r, err), 0);
    assert_int_equal(r.schedule->start_at[0], day0 + 1 * HOUR);
    cdnopt_plan_result_clear(&r);

    /* Worst case: hour 1 gives 110, hour 2 gives 105. */
    cdnopt_plan_scenarios worst = scenarios_of(&c, 1.0);
    assert_int_equal(cdnopt_plan_robust(&worst, c.releases, &c.rules, &params, &r, err), 0);
    assert_int_equal(r.schedule->start_at[0], day0 + 2 * HOUR);
    assert_near(peak_on(&c, &c.line_b, r.schedule), 105.0, 1e-9);
    cdnopt_plan_result_clear(&r);
    cdnopt_release_set_free(c.releases);
}

static void robust_rejects_bad_input(void **state)
{
    (void)state;
    two_scenarios c;
    two_scenarios_init(&c);
    cdnopt_plan_params params = cdnopt_plan_params_default();
    cdnopt_plan_result r;
    char err[CDNOPT_ERRMSG_MAX] = "";

    cdnopt_plan_scenarios none = scenarios_of(&c, 0.0);
    none.n_lines = 0;
    assert_int_equal(cdnopt_plan_robust(&none, c.releases, &c.rules, &params, &r, err),
                     CDNOPT_EINVAL);

    cdnopt_plan_scenarios heavy = scenarios_of(&c, 1.5);
    assert_int_equal(cdnopt_plan_robust(&heavy, c.releases, &c.rules, &params, &r, err),
                     CDNOPT_EINVAL);
    assert_non_null(strstr(err, "1.5"));

    /* A scenario one step shorter than the reference is off its grid. */
    cdnopt_series short_line = {3, HOUR, c.times, c.b, NULL};
    c.lines[1] = &short_line;
    cdnopt_plan_scenarios off_grid = scenarios_of(&c, 0.0);
    assert_int_equal(cdnopt_plan_robust(&off_grid, c.releases, &c.rules, &params, &r, err),
                     CDNOPT_EINVAL);
    assert_non_null(strstr(err, "scenario 1"));
    c.lines[1] = &c.line_b;

    params.objective = CDNOPT_OBJECTIVE_P95;
    cdnopt_plan_scenarios p95 = scenarios_of(&c, 0.0);
    assert_int_equal(cdnopt_plan_robust(&p95, c.releases, &c.rules, &params, &r, err),
                     CDNOPT_ENOTSUP);
    cdnopt_release_set_free(c.releases);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(wave_is_30_gbps),
        cmocka_unit_test(mean_line_fills_hour_1),
        cmocka_unit_test(robust_fills_hour_2),
        cmocka_unit_test(worst_weight_changes_choice),
        cmocka_unit_test(robust_rejects_bad_input),
    };
    return cdnopt_test_main(argc, argv, "plan_robust", tests, sizeof tests / sizeof tests[0]);
}
