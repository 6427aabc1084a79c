/* SPDX-License-Identifier: Apache-2.0 */
#include "../../src/plan/plan-impl.h"
#include "cdnopt/plan.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define HOUR 3600

/* cmocka 1.1.5 compares floats only; this checks doubles and prints both values. */
#define assert_near(actual, expected, tolerance)                                      \
    assert_near_at((actual), (expected), (tolerance), __FILE__, __LINE__)

static void assert_near_at(double actual, double expected, double tolerance, const char *file,
                           int line)
{
    if (fabs(actual - expected) <= tolerance)
        return;
    print_error("%.17g != %.17g (tolerance %g)\n", actual, expected, tolerance);
    _fail(file, line);
}

/* 2024-01-01 00:00:00 in civil seconds. */
static const int64_t day0 = 1704067200;

/* A small instance: 48 hourly steps with a daytime plateau, four releases, delays of
 * 0-3 h, ratios 0.5 and 1.0, waves of 4 hours, no blackout: 8 options per release and
 * 8^4 = 4096 schedules, few enough to try them all. */
typedef struct small_case {
    int64_t times[48];
    double values[48];
    cdnopt_series baseline;
    cdnopt_release_set *releases;
    cdnopt_rules rules;
} small_case;

static void small_case_init(small_case *c)
{
    for (int h = 0; h < 48; h++) {
        c->times[h] = day0 + h * HOUR;
        int hour = h % 24;
        c->values[h] = 100.0 + (hour >= 9 && hour <= 20 ? 60.0 : 0.0) + (double)(h % 5);
    }
    c->baseline = (cdnopt_series){48, HOUR, c->times, c->values, NULL};

    c->rules = cdnopt_rules_default();
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_rules_parse_line(&c->rules, "max_delay = 3h", "t", err), 0);
    assert_int_equal(cdnopt_rules_parse_line(&c->rules, "batch_ratios = 0.5, 1.0", "t", err), 0);
    assert_int_equal(cdnopt_rules_parse_line(&c->rules, "blackout = none", "t", err), 0);
    assert_int_equal(cdnopt_rules_parse_line(&c->rules, "duration = 4h", "t", err), 0);

    /* Sizes chosen so the releases matter: 800 MB x 2e5 users is 1.28e6 Gbit, about
     * 120 Gbit/s in its first hour at ratio 1.0. */
    cdnopt_release items[4];
    const double sizes[4] = {800, 500, 300, 650};
    const double users[4] = {2e5, 1.5e5, 2.5e5, 1e5};
    const int planned[4] = {18, 19, 19, 21};
    for (int i = 0; i < 4; i++) {
        memset(&items[i], 0, sizeof items[i]);
        snprintf(items[i].id, sizeof items[i].id, "r%d", i);
        items[i].size_mb = sizes[i];
        items[i].users = users[i];
        items[i].planned_at = day0 + planned[i] * HOUR;
    }
    assert_int_equal(cdnopt_release_set_new(items, 4, &c->releases, err), 0);
}

/* Lowest peak (or p95) over every schedule of the small case. */
static double brute_force(const small_case *c, bool p95)
{
    cdnopt_schedule *schedule = NULL;
    assert_int_equal(cdnopt_schedule_naive(c->releases, &schedule), 0);
    double best = INFINITY;
    for (int code = 0; code < 4096; code++) {
        for (int i = 0; i < 4; i++) {
            int option = (code >> (3 * i)) & 7;
            schedule->start_at[i] = c->releases->items[i].planned_at + (option / 2) * HOUR;
            schedule->batch_ratio[i] = option % 2 == 0 ? 0.5 : 1.0;
        }
        cdnopt_figures f;
        assert_int_equal(
            cdnopt_schedule_evaluate(&c->baseline, c->releases, schedule, &c->rules, NULL, &f),
            0);
        best = fmin(best, p95 ? f.p95_gbps : f.peak_gbps);
    }
    cdnopt_schedule_free(schedule);
    return best;
}

static void check_result(const small_case *c, const cdnopt_plan_result *r)
{
    cdnopt_figures f;
    assert_int_equal(
        cdnopt_schedule_evaluate(&c->baseline, c->releases, r->schedule, &c->rules, NULL, &f), 0);
    assert_near(r->planned.peak_gbps, f.peak_gbps, 0.0);
    assert_near(r->planned.p95_gbps, f.p95_gbps, 0.0);
    assert_near(r->peak_reduction, 1 - f.peak_gbps / r->naive.peak_gbps, 1e-15);
    cdnopt_grid grid = cdnopt_grid_of(&c->baseline);
    assert_int_equal(cdnopt_schedule_check(c->releases, r->schedule, &c->rules, &grid, NULL, 0),
                     0);
}

static void exact_finds_brute_force_optimum(void **state)
{
    (void)state;
    small_case c;
    small_case_init(&c);
    double optimum = brute_force(&c, false);

    cdnopt_plan_params params = cdnopt_plan_params_default();
    params.mip_gap = 0;
    params.time_limit_s = 30;
    cdnopt_plan_result r;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_plan_exact(&c.baseline, c.releases, &c.rules, &params, &r, err), 0);
    check_result(&c, &r);
    assert_near(r.planned.peak_gbps, optimum, 1e-6);
    assert_true(optimum < r.naive.peak_gbps - 50.0); /* the instance is not trivial */
    assert_true(r.optimal);
    /* The LP bound is a bound: never above the optimum, and the gap is not negative. */
    assert_true(r.lp_bound_gbps <= optimum + 1e-6);
    assert_true(r.gap >= -1e-9);
    assert_string_equal(r.problem, "whole-hour delays");
    cdnopt_plan_result_clear(&r);
    cdnopt_release_set_free(c.releases);
}

/* Six releases planned at 16:00-21:00 on 48 hourly steps. The baseline has a daytime
 * plateau and a bump of up to 10 Gbit/s that moves from hour to hour. Delays of 0-5 h,
 * ratios 0.5 and 1.0 and waves of 4 hours give 12 options per release, enough that
 * greedy's valley filling misses the optimum. */
static void six_case_init(small_case *c)
{
    for (int h = 0; h < 48; h++) {
        c->times[h] = day0 + h * HOUR;
        int hour = h % 24;
        c->values[h] = 100.0 + (hour >= 9 && hour <= 20 ? 60.0 : 0.0) + (double)((h * 7) % 11);
    }
    c->baseline = (cdnopt_series){48, HOUR, c->times, c->values, NULL};

    c->rules = cdnopt_rules_default();
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_rules_parse_line(&c->rules, "max_delay = 5h", "t", err), 0);
    assert_int_equal(cdnopt_rules_parse_line(&c->rules, "batch_ratios = 0.5, 1.0", "t", err), 0);
    assert_int_equal(cdnopt_rules_parse_line(&c->rules, "blackout = none", "t", err), 0);
    assert_int_equal(cdnopt_rules_parse_line(&c->rules, "duration = 4h", "t", err), 0);

    cdnopt_release items[6];
    for (int i = 0; i < 6; i++) {
        memset(&items[i], 0, sizeof items[i]);
        snprintf(items[i].id, sizeof items[i].id, "r%d", i);
        items[i].size_mb = 200 + 97 * ((i * 5) % 7);
        items[i].users = 5e4 + 2.5e4 * ((i * 3) % 5);
        items[i].planned_at = day0 + (16 + (i * 4) % 6) * HOUR;
    }
    assert_int_equal(cdnopt_release_set_new(items, 6, &c->releases, err), 0);
}

/* The LP bound is at most the peak of every schedule: greedy's, exact's and the naive
 * one. Exact starts from greedy's schedule, so it is never worse, and here it is
 * strictly better. */
static void exact_beats_greedy_above_bound(void **state)
{
    (void)state;
    small_case c;
    six_case_init(&c);
    cdnopt_plan_params params = cdnopt_plan_params_default();
    params.mip_gap = 0;
    params.time_limit_s = 30;
    cdnopt_plan_result greedy, exact;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_plan_greedy(&c.baseline, c.releases, &c.rules, &params, &greedy, err),
                     0);
    assert_int_equal(cdnopt_plan_exact(&c.baseline, c.releases, &c.rules, &params, &exact, err),
                     0);
    check_result(&c, &exact);

    assert_true(exact.planned.peak_gbps <= greedy.planned.peak_gbps - 1.0);
    assert_false(isnan(exact.lp_bound_gbps));
    assert_true(exact.lp_bound_gbps <= exact.planned.peak_gbps + 1e-6);
    assert_true(exact.lp_bound_gbps <= greedy.planned.peak_gbps);
    assert_true(exact.lp_bound_gbps <= exact.naive.peak_gbps);
    assert_true(exact.lp_bound_gbps >= exact.lower_bound_gbps - 1e-6);
    assert_true(exact.gap >= -1e-9);
    cdnopt_plan_result_clear(&greedy);
    cdnopt_plan_result_clear(&exact);
    cdnopt_release_set_free(c.releases);
}

/* Peak of the whole-hour model's total for a choice of options. */
static double peak_of_choice(const plan_problem *problem, const size_t *choice)
{
    double total[48];
    memcpy(total, problem->baseline->v, problem->n * sizeof *total);
    for (size_t i = 0; i < problem->releases->n; i++)
        plan_apply(problem, total, i, &problem->options[problem->option_offset[i] + choice[i]],
                   1.0);
    double peak = -INFINITY;
    for (size_t s = 0; s < problem->n; s++)
        peak = fmax(peak, total[s]);
    return peak;
}

/* The six-release case and its planning problem on whole-hour delays. */
static void six_problem_init(small_case *c, plan_problem *problem)
{
    six_case_init(c);
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(plan_problem_init(problem, &c->baseline, c->releases, &c->rules, HOUR, err),
                     0);
}

/* From every release at its first option (no delay, ratio 0.5) ruin and recreate
 * lowers the peak, and with a round limit the same seed gives the same schedule. */
static void ruin_recreate_lowers_peak(void **state)
{
    (void)state;
    small_case c;
    plan_problem problem;
    six_problem_init(&c, &problem);
    size_t first_run[6] = {0}, second_run[6] = {0};
    double first_option_peak = peak_of_choice(&problem, first_run);

    plan_ruin_params params = {.deadline = cdnopt_clock_s() + 60, .stop_peak = 0,
                               .max_rounds = 2000};
    plan_ruin_stats stats;
    cdnopt_rng rng;
    cdnopt_rng_seed(&rng, 7);
    assert_int_equal(plan_ruin_recreate(&problem, &params, &rng, first_run, &stats), 0);
    double peak = peak_of_choice(&problem, first_run);
    assert_near(stats.start_peak, first_option_peak, 1e-9);
    assert_near(stats.peak, peak, 1e-6);
    assert_true(peak <= first_option_peak - 10.0);
    assert_int_equal(stats.rounds, 2000);

    cdnopt_rng_seed(&rng, 7);
    assert_int_equal(plan_ruin_recreate(&problem, &params, &rng, second_run, &stats), 0);
    assert_memory_equal(first_run, second_run, sizeof first_run);

    /* A search that starts at or below stop_peak returns the choice unchanged. */
    params.stop_peak = peak;
    assert_int_equal(plan_ruin_recreate(&problem, &params, &rng, second_run, &stats), 0);
    assert_int_equal(stats.rounds, 0);
    assert_memory_equal(first_run, second_run, sizeof first_run);
    plan_problem_free(&problem);
    cdnopt_release_set_free(c.releases);
}

/* A local search whose deadline has passed leaves the choice as it is, and the same
 * search without a deadline moves releases off the first options' peak. */
static void local_search_stops_at_deadline(void **state)
{
    (void)state;
    small_case c;
    plan_problem problem;
    six_problem_init(&c, &problem);
    const size_t first_options[6] = {0};
    size_t choice[6] = {0};
    double first_option_peak = peak_of_choice(&problem, first_options);

    double passed = cdnopt_clock_s() - 1.0;
    assert_int_equal(
        plan_local_search_until(&problem, CDNOPT_OBJECTIVE_PEAK, 2, passed, choice), 0);
    assert_memory_equal(choice, first_options, sizeof choice);

    assert_int_equal(
        plan_local_search_until(&problem, CDNOPT_OBJECTIVE_PEAK, 2, INFINITY, choice), 0);
    assert_true(peak_of_choice(&problem, choice) <= first_option_peak - 10.0);
    plan_problem_free(&problem);
    cdnopt_release_set_free(c.releases);
}

/* With no time at all the exact planner skips the LP, names the skip in its method
 * text, and still returns greedy's legal schedule. */
static void exact_without_time_skips_lp(void **state)
{
    (void)state;
    small_case c;
    six_case_init(&c);
    cdnopt_plan_params params = cdnopt_plan_params_default();
    params.time_limit_s = 0;
    cdnopt_plan_result r;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_plan_exact(&c.baseline, c.releases, &c.rules, &params, &r, err), 0);
    check_result(&c, &r);
    assert_true(isnan(r.lp_bound_gbps));
    assert_false(r.optimal);
    cdnopt_assert_contains(r.method, "the LP relaxation was skipped");
    cdnopt_assert_contains(r.method, "0 ruin-and-recreate rounds");
    assert_true(r.planned.peak_gbps < r.naive.peak_gbps);
    cdnopt_plan_result_clear(&r);
    cdnopt_release_set_free(c.releases);
}

static void greedy_reaches_brute_force_optimum(void **state)
{
    (void)state;
    small_case c;
    small_case_init(&c);
    double optimum = brute_force(&c, false);

    cdnopt_plan_params params = cdnopt_plan_params_default();
    cdnopt_plan_result r;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_plan_greedy(&c.baseline, c.releases, &c.rules, &params, &r, err), 0);
    check_result(&c, &r);
    assert_near(r.planned.peak_gbps, optimum, 1e-6);
    assert_true(isnan(r.lp_bound_gbps));
    assert_true(r.planned.peak_gbps < r.naive.peak_gbps);
    cdnopt_plan_result_clear(&r);
    cdnopt_release_set_free(c.releases);
}

static void p95_objective_not_worse(void **state)
{
    (void)state;
    small_case c;
    small_case_init(&c);
    double optimum = brute_force(&c, true);

    cdnopt_plan_params params = cdnopt_plan_params_default();
    cdnopt_plan_result by_peak, by_p95;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_plan_greedy(&c.baseline, c.releases, &c.rules, &params, &by_peak, err),
                     0);
    params.objective = CDNOPT_OBJECTIVE_P95;
    assert_int_equal(cdnopt_plan_greedy(&c.baseline, c.releases, &c.rules, &params, &by_p95, err),
                     0);
    check_result(&c, &by_p95);
    /* The p95 passes start where the peak run's passes end and never raise the p95; the
     * peak repair after them may raise it by at most 1 %. */
    assert_true(by_p95.planned.p95_gbps <= 1.01 * by_peak.planned.p95_gbps + 1e-9);
    assert_true(by_p95.planned.p95_gbps >= optimum - 1e-9);
    cdnopt_plan_result_clear(&by_peak);
    cdnopt_plan_result_clear(&by_p95);
    cdnopt_release_set_free(c.releases);
}

/* With the p95 objective exact runs the p95 local search on its peak schedule. On this
 * case that schedule ends at a p95 of 168.017 Gbit/s, above the 167.605 of greedy's own
 * p95 run, so exact must keep greedy's schedule. The peak program is solved in well
 * under the time limit, so the result does not depend on the machine's speed. */
static void exact_p95_not_above_greedy(void **state)
{
    (void)state;
    int64_t times[72];
    double values[72];
    for (int h = 0; h < 72; h++) {
        times[h] = day0 + h * HOUR;
        values[h] = 100.0 + (h % 24 >= 9 && h % 24 <= 20 ? 60.0 : 0.0) + (double)(h * 3 % 5);
    }
    cdnopt_series baseline = {72, HOUR, times, values, NULL};
    cdnopt_rules rules = cdnopt_rules_default();
    cdnopt_release items[8];
    const double sizes[8] = {220, 380, 100, 260, 420, 140, 300, 460};
    const double users[8] = {9e4, 1.7e5, 1.1e5, 5e4, 1.3e5, 7e4, 1.5e5, 9e4};
    const int planned[8] = {12, 19, 14, 9, 16, 11, 18, 13};
    for (int i = 0; i < 8; i++) {
        items[i] = (cdnopt_release){.size_mb = sizes[i], .users = users[i],
                                    .planned_at = day0 + planned[i] * HOUR};
        snprintf(items[i].id, sizeof items[i].id, "r%d", i);
    }
    cdnopt_release_set *set = NULL;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_release_set_new(items, 8, &set, err), 0);

    cdnopt_plan_params params = cdnopt_plan_params_default();
    params.objective = CDNOPT_OBJECTIVE_P95;
    params.time_limit_s = 30;
    cdnopt_plan_result greedy, exact;
    assert_int_equal(cdnopt_plan_greedy(&baseline, set, &rules, &params, &greedy, err), 0);
    assert_int_equal(cdnopt_plan_exact(&baseline, set, &rules, &params, &exact, err), 0);
    assert_near(greedy.planned.p95_gbps, 167.60493230380652, 1e-9);
    assert_true(exact.planned.p95_gbps <= greedy.planned.p95_gbps);
    cdnopt_grid grid = cdnopt_grid_of(&baseline);
    assert_int_equal(cdnopt_schedule_check(set, exact.schedule, &rules, &grid, NULL, 0), 0);
    cdnopt_plan_result_clear(&greedy);
    cdnopt_plan_result_clear(&exact);
    cdnopt_release_set_free(set);
}

/* A one-column program, min x subject to x >= 1, for the GLPK call tests. */
static glp_prob *one_column_program(void)
{
    glp_prob *lp = glp_create_prob();
    glp_set_obj_dir(lp, GLP_MIN);
    glp_add_cols(lp, 1);
    glp_set_col_bnds(lp, 1, GLP_LO, 1.0, 0.0);
    glp_set_obj_coef(lp, 1, 1.0);
    return lp;
}

/* An internal failure of GLPK, here an invalid simplex method, would abort the whole
 * process. The call returns a code instead, and GLPK solves programs afterwards. */
static void glpk_failure_returns_code(void **state)
{
    (void)state;
    glp_prob *lp = one_column_program();
    glp_smcp bad;
    glp_init_smcp(&bad);
    bad.meth = 0;
    assert_int_equal(plan_glpk_solve(&lp, &bad, NULL, false), PLAN_GLPK_FAILED);
    assert_null(lp);

    lp = one_column_program();
    glp_smcp good;
    glp_init_smcp(&good);
    good.msg_lev = GLP_MSG_OFF;
    assert_int_equal(plan_glpk_solve(&lp, &good, NULL, false), 0);
    assert_int_equal(glp_get_status(lp), GLP_OPT);
    assert_near(glp_get_obj_val(lp), 1.0, 0.0);
    glp_delete_prob(lp);
}

/* Bytes written to stdout while GLPK solves the one-column program with every message
 * level on, or with an invalid simplex method when fail is set. */
static long glpk_stdout_bytes(bool verbose, bool fail)
{
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    FILE *capture = tmpfile();
    assert_non_null(capture);
    assert_true(dup2(fileno(capture), STDOUT_FILENO) >= 0);

    glp_prob *lp = one_column_program();
    glp_smcp chatty;
    glp_init_smcp(&chatty);
    chatty.msg_lev = GLP_MSG_ALL;
    chatty.meth = fail ? 0 : GLP_PRIMAL;
    int rc = plan_glpk_solve(&lp, &chatty, NULL, verbose);
    fflush(stdout);
    long bytes = (long)lseek(fileno(capture), 0, SEEK_END);

    assert_true(dup2(saved, STDOUT_FILENO) >= 0);
    close(saved);
    fclose(capture);
    assert_int_equal(rc, fail ? PLAN_GLPK_FAILED : 0);
    if (lp != NULL)
        glp_delete_prob(lp);
    return bytes;
}

/* Without verbose GLPK writes nothing to stdout, not even the lines it prints whatever
 * the message level (here the text of an internal failure), so plan --json stays
 * valid JSON. With verbose its progress goes to stdout as before. */
static void glpk_quiet_unless_verbose(void **state)
{
    (void)state;
    assert_int_equal(glpk_stdout_bytes(false, false), 0);
    assert_int_equal(glpk_stdout_bytes(false, true), 0);

    /* verbose turns GLPK's output on for the call and then restores the caller's off. */
    glp_term_out(GLP_OFF);
    assert_true(glpk_stdout_bytes(true, false) > 0);
    assert_int_equal(glp_term_out(GLP_ON), GLP_OFF);
}

/* Ten releases at 5-minute planned times on three days of 5-minute steps. Greedy over
 * every 5-minute start ended at 174.240 Gbit/s here, above the 173.610 of greedy over
 * whole hours, whose starts are among the 5-minute ones. */
static void fine_step_not_above_hourly(void **state)
{
    (void)state;
    enum { STEPS = 72 * 12, RELEASES = 10 };
    static int64_t times[STEPS];
    static double values[STEPS];
    for (int s = 0; s < STEPS; s++) {
        int hour = s / 12 % 24;
        times[s] = day0 + s * 300;
        values[s] = 100.0 + (hour >= 9 && hour <= 20 ? 60.0 : 0.0) + (double)(s % 5);
    }
    cdnopt_series baseline = {STEPS, 300, times, values, NULL};
    cdnopt_rules rules = cdnopt_rules_default();
    cdnopt_release items[RELEASES];
    for (int i = 0; i < RELEASES; i++) {
        int minute = 9 * 60 + (7 * i + 1) % 12 * 60 + (11 * i + 1) % 12 * 5;
        items[i] = (cdnopt_release){.size_mb = 100 + (37 * i + 1) % 11 * 40,
                                    .users = 50000 + (53 * i + 3) % 7 * 20000,
                                    .planned_at = day0 + minute * 60};
        snprintf(items[i].id, sizeof items[i].id, "r%d", i);
    }
    cdnopt_release_set *set = NULL;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_release_set_new(items, RELEASES, &set, err), 0);

    cdnopt_plan_params params = cdnopt_plan_params_default();
    cdnopt_plan_result hourly, fine;
    assert_int_equal(cdnopt_plan_greedy(&baseline, set, &rules, &params, &hourly, err), 0);
    params.start_step_s = 300;
    assert_int_equal(cdnopt_plan_greedy(&baseline, set, &rules, &params, &fine, err), 0);
    assert_near(hourly.planned.peak_gbps, 173.61007046397046, 1e-9);
    assert_true(fine.planned.peak_gbps <= hourly.planned.peak_gbps);
    assert_string_equal(fine.problem, "delays in steps of 300 s");
    cdnopt_grid grid = cdnopt_grid_of(&baseline);
    assert_int_equal(cdnopt_schedule_check(set, fine.schedule, &rules, &grid, NULL, 0), 0);
    cdnopt_plan_result_clear(&hourly);
    cdnopt_plan_result_clear(&fine);
    cdnopt_release_set_free(set);
}

/* On a flat baseline one release goes out at planned_at (ties favour no delay) with
 * ratio 0.5, whose highest hour (1.8 times a half batch's first hour) is below ratio
 * 1.0's (2 times). */
static void greedy_ties_prefer_no_delay(void **state)
{
    (void)state;
    int64_t times[48];
    double values[48];
    for (int h = 0; h < 48; h++) {
        times[h] = day0 + h * HOUR;
        values[h] = 100;
    }
    cdnopt_series baseline = {48, HOUR, times, values, NULL};
    cdnopt_rules rules = cdnopt_rules_default();
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_rules_parse_line(&rules, "batch_ratios = 0.5, 1.0", "t", err), 0);
    cdnopt_release r = {.id = "r", .size_mb = 100, .users = 1000, .planned_at = day0 + 2 * HOUR};
    cdnopt_release_set *set = NULL;
    assert_int_equal(cdnopt_release_set_new(&r, 1, &set, err), 0);

    cdnopt_plan_params params = cdnopt_plan_params_default();
    cdnopt_plan_result result;
    assert_int_equal(cdnopt_plan_greedy(&baseline, set, &rules, &params, &result, err), 0);
    assert_int_equal(result.schedule->start_at[0], r.planned_at);
    assert_near(result.schedule->batch_ratio[0], 0.5, 0.0);
    assert_near(result.planned.peak_gbps, 100 + 0.04145869826611355, 1e-12);
    cdnopt_plan_result_clear(&result);
    cdnopt_release_set_free(set);
}

/* Every planner and the schedule evaluation reject rules outside a rules file's limits
 * before they size a buffer by them. A duration of 300 h used to overflow the wave
 * profile in greedy (found with ASan). */
static void planners_reject_rules_out_of_range(void **state)
{
    (void)state;
    small_case c;
    small_case_init(&c);
    char err[CDNOPT_ERRMSG_MAX] = "";
    cdnopt_rules rules = c.rules;
    rules.duration_h = 300;
    cdnopt_plan_params params = cdnopt_plan_params_default();
    cdnopt_plan_result result;
    assert_int_equal(cdnopt_plan_greedy(&c.baseline, c.releases, &rules, &params, &result, err),
                     CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "rules: duration_h is 300; it must be 1 to 168");
    err[0] = '\0';
    params.start_step_s = HOUR;
    assert_int_equal(cdnopt_plan_exact(&c.baseline, c.releases, &rules, &params, &result, err),
                     CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "rules: duration_h is 300");

    cdnopt_schedule *naive = NULL;
    assert_int_equal(cdnopt_schedule_naive(c.releases, &naive), 0);
    cdnopt_figures figures;
    assert_int_equal(cdnopt_schedule_evaluate(&c.baseline, c.releases, naive, &rules, NULL, &figures),
                     CDNOPT_EINVAL);
    cdnopt_schedule_free(naive);
    cdnopt_release_set_free(c.releases);
}

static void planners_reject_impossible_input(void **state)
{
    (void)state;
    small_case c;
    small_case_init(&c);
    char err[CDNOPT_ERRMSG_MAX] = "";
    cdnopt_plan_params params = cdnopt_plan_params_default();
    cdnopt_plan_result r;

    /* A baseline of 20 hours is too short for a release planned at 18:00. */
    c.baseline.n = 20;
    assert_int_equal(cdnopt_plan_greedy(&c.baseline, c.releases, &c.rules, &params, &r, err),
                     CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "release 'r0' has no legal start");
    cdnopt_assert_contains(err, "its downloads run past the baseline's end at 2024-01-01 20:00:00");
    assert_null(r.schedule);

    /* A baseline of 10 hours ends before the release's window opens. */
    c.baseline.n = 10;
    assert_int_equal(cdnopt_plan_greedy(&c.baseline, c.releases, &c.rules, &params, &r, err),
                     CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "starts after the baseline ends at");
    cdnopt_assert_contains(err, "raise --horizon");
    c.baseline.n = 48;

    params.start_step_s = 1800;
    assert_int_equal(cdnopt_plan_exact(&c.baseline, c.releases, &c.rules, &params, &r, err),
                     CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "whole-hour delays only");
    assert_int_equal(cdnopt_plan_greedy(&c.baseline, c.releases, &c.rules, &params, &r, err),
                     CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "start step of 1800 s must be a multiple of the baseline step");
    cdnopt_release_set_free(c.releases);
}

/* A 600 MB release under the default blackout (00:00-04:59 for releases over 500 MB),
 * batch ratio 1.0 only, on an hourly baseline of n_hours from day0: the error names the
 * rule that leaves no start. */
static void expect_no_start(int planned_hour, const char *max_delay, int n_hours,
                            const char *expected)
{
    int64_t times[48];
    double values[48];
    for (int h = 0; h < 48; h++) {
        times[h] = day0 + h * HOUR;
        values[h] = 100.0;
    }
    cdnopt_series baseline = {(size_t)n_hours, HOUR, times, values, NULL};
    cdnopt_rules rules = cdnopt_rules_default();
    char err[CDNOPT_ERRMSG_MAX] = "", line[64];
    snprintf(line, sizeof line, "max_delay = %s", max_delay);
    assert_int_equal(cdnopt_rules_parse_line(&rules, line, "t", err), 0);
    assert_int_equal(cdnopt_rules_parse_line(&rules, "batch_ratios = 1.0", "t", err), 0);

    cdnopt_release item;
    memset(&item, 0, sizeof item);
    snprintf(item.id, sizeof item.id, "big");
    item.size_mb = 600;
    item.users = 1000;
    item.planned_at = day0 + planned_hour * HOUR;
    cdnopt_release_set *set = NULL;
    assert_int_equal(cdnopt_release_set_new(&item, 1, &set, err), 0);

    cdnopt_plan_params params = cdnopt_plan_params_default();
    cdnopt_plan_result r;
    assert_int_equal(cdnopt_plan_greedy(&baseline, set, &rules, &params, &r, err),
                     CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "release 'big' has no legal start");
    cdnopt_assert_contains(err, expected);
    cdnopt_release_set_free(set);
}

static void no_start_error_names_rule(void **state)
{
    (void)state;
    /* Window 01:00-04:00 lies inside the blackout. */
    expect_no_start(1, "3h", 48, "in the 00:00-04:59 blackout (releases over 500.0 MB)");
    /* Starts from 05:00 keep out of the blackout, but a 15 h wave from 05:00 ends at
     * 20:00, after the 19 h baseline. Without the blackout 02:00 would fit. */
    expect_no_start(2, "23h", 19,
                    "that keep its batches out of the 00:00-04:59 blackout make its downloads "
                    "run past the baseline's end at 2024-01-01 19:00:00");
    expect_no_start(2, "23h", 19,
                    "extend the baseline (with --history, raise --horizon), move planned_at "
                    "earlier, or shorten the blackout in the rules");
    /* Out of the blackout from 10:00, but every wave outlasts a 20 h baseline. */
    expect_no_start(10, "3h", 20,
                    "every start from 2024-01-01 10:00:00 to 2024-01-01 13:00:00 "
                    "makes its downloads run past the baseline's end");
    expect_no_start(10, "3h", 20, "shorten the duration in the rules");
}

/* A window shorter than one step of the baseline that contains no grid step is named as
 * such, not as the baseline's end. */
static void no_start_error_off_grid(void **state)
{
    (void)state;
    small_case c;
    small_case_init(&c);
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_rules_parse_line(&c.rules, "max_delay = 0h", "t", err), 0);
    cdnopt_release r = {
        .id = "off", .size_mb = 100, .users = 1000, .planned_at = day0 + 10 * HOUR + 20 * 60};
    cdnopt_release_set *set = NULL;
    assert_int_equal(cdnopt_release_set_new(&r, 1, &set, err), 0);

    cdnopt_plan_params params = cdnopt_plan_params_default();
    cdnopt_plan_result result;
    assert_int_equal(cdnopt_plan_greedy(&c.baseline, set, &c.rules, &params, &result, err),
                     CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "release 'off' has no legal start: its window 2024-01-01 "
                                "10:20:00 to 2024-01-01 10:20:00 contains no step of the "
                                "baseline's 3600 s grid, whose next step is 2024-01-01 11:00:00");
    assert_null(result.schedule);
    cdnopt_release_set_free(set);
    cdnopt_release_set_free(c.releases);
}

static void objective_names(void **state)
{
    (void)state;
    cdnopt_objective objective;
    assert_int_equal(cdnopt_objective_parse("p95", &objective), 0);
    assert_int_equal(objective, CDNOPT_OBJECTIVE_P95);
    assert_string_equal(cdnopt_objective_name(objective), "p95");
    assert_int_equal(cdnopt_objective_parse("peak", &objective), 0);
    assert_int_equal(cdnopt_objective_parse("max", &objective), CDNOPT_EINVAL);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exact_finds_brute_force_optimum),
        cmocka_unit_test(greedy_reaches_brute_force_optimum),
        cmocka_unit_test(planners_reject_rules_out_of_range),
        cmocka_unit_test(exact_beats_greedy_above_bound),
        cmocka_unit_test(ruin_recreate_lowers_peak),
        cmocka_unit_test(local_search_stops_at_deadline),
        cmocka_unit_test(exact_without_time_skips_lp),
        cmocka_unit_test(p95_objective_not_worse),
        cmocka_unit_test(exact_p95_not_above_greedy),
        cmocka_unit_test(glpk_failure_returns_code),
        cmocka_unit_test(glpk_quiet_unless_verbose),
        cmocka_unit_test(fine_step_not_above_hourly),
        cmocka_unit_test(greedy_ties_prefer_no_delay),
        cmocka_unit_test(planners_reject_impossible_input),
        cmocka_unit_test(no_start_error_names_rule),
        cmocka_unit_test(no_start_error_off_grid),
        cmocka_unit_test(objective_names),
    };
    return cdnopt_test_main(argc, argv, "plan", tests, sizeof tests / sizeof tests[0]);
}
