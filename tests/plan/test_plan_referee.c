/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Plans the day workload and scores the written schedule with the referee
 * (tools/score_schedule.py under SHARED_DIR, run with python3): the schedule must
 * keep every rule and cdnopt's figures must equal the referee's to 1e-6 relative.
 */
#include "cdnopt/plan.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Relative agreement required with the referee. */
#define REFEREE_TOLERANCE 1e-6

/* Run the referee on a schedule and return its JSON output (caller frees). */
static char *run_referee(const char *baseline, const char *releases, const char *schedule)
{
    char tool[512], command[4096];
    cdnopt_test_shared_path(tool, sizeof tool, "tools/score_schedule.py");
    snprintf(command, sizeof command, "python3 '%s' '%s' '%s' '%s' --json", tool, baseline,
             releases, schedule);
    FILE *pipe = popen(command, "r");
    assert_non_null(pipe);
    size_t cap = 1 << 16, n = 0;
    char *text = cdnopt_malloc(cap);
    assert_non_null(text);
    size_t got;
    while ((got = fread(text + n, 1, cap - 1 - n, pipe)) > 0)
        n += got;
    text[n] = '\0';
    int status = pclose(pipe);
    if (status != 0)
        print_error("referee exited with %d:\n%s\n", status, text);
    assert_int_equal(status, 0);
    return text;
}

/* The number after "key": inside the object that starts at "section" (or anywhere
 * when section is NULL) of the referee's JSON. */
static double json_number(const char *text, const char *section, const char *key)
{
    const char *from = text;
    if (section != NULL) {
        char quoted[64];
        snprintf(quoted, sizeof quoted, "\"%s\": {", section);
        from = strstr(text, quoted);
        assert_non_null(from);
    }
    char quoted[64];
    snprintf(quoted, sizeof quoted, "\"%s\": ", key);
    const char *at = strstr(from, quoted);
    assert_non_null(at);
    return strtod(at + strlen(quoted), NULL);
}

static void assert_relative(double ours, double referee, const char *what)
{
    double relative = fabs(ours - referee) / fmax(fabs(referee), 1e-12);
    if (relative > REFEREE_TOLERANCE)
        print_error("%s: cdnopt %.17g, referee %.17g\n", what, ours, referee);
    assert_true(relative <= REFEREE_TOLERANCE);
}

static void plan_and_compare(const cdnopt_plan_params *params, bool exact)
{
    char baseline_path[512], releases_path[512], dir[512], schedule_path[600];
    cdnopt_test_shared_path(baseline_path, sizeof baseline_path, "workloads/day/baseline.csv");
    cdnopt_test_shared_path(releases_path, sizeof releases_path, "workloads/day/releases.csv");
    cdnopt_test_scratch_dir(dir, sizeof dir, "plan-referee");
    snprintf(schedule_path, sizeof schedule_path, "%s/schedule.csv", dir);

    char err[CDNOPT_ERRMSG_MAX] = "";
    cdnopt_series *baseline = NULL;
    cdnopt_release_set *releases = NULL;
    assert_int_equal(cdnopt_series_read_csv(baseline_path, NULL, &baseline, NULL, err), 0);
    assert_int_equal(cdnopt_release_set_read_csv(releases_path, &releases, err), 0);
    cdnopt_rules rules = cdnopt_rules_default();
    cdnopt_plan_result r;
    int rc = exact ? cdnopt_plan_exact(baseline, releases, &rules, params, &r, err)
                   : cdnopt_plan_greedy(baseline, releases, &rules, params, &r, err);
    assert_int_equal(rc, 0);
    assert_int_equal(cdnopt_schedule_write_csv(schedule_path, releases, r.schedule, err), 0);

    char *json = run_referee(baseline_path, releases_path, schedule_path);
    assert_non_null(strstr(json, "\"violations\": []"));
    assert_relative(r.naive.peak_gbps, json_number(json, "naive", "peak_gbps"), "naive peak");
    assert_relative(r.naive.p95_gbps, json_number(json, "naive", "p95_gbps"), "naive p95");
    assert_relative(r.planned.peak_gbps, json_number(json, "schedule", "peak_gbps"), "peak");
    assert_relative(r.planned.p95_gbps, json_number(json, "schedule", "p95_gbps"), "p95");
    assert_relative(r.planned.mean_gbps, json_number(json, "schedule", "mean_gbps"), "mean");
    assert_relative(r.lower_bound_gbps, json_number(json, NULL, "lower_bound_gbps"),
                    "lower bound");
    assert_relative(r.peak_reduction, json_number(json, NULL, "peak_reduction"),
                    "peak reduction");
    assert_relative(r.p95_reduction, json_number(json, NULL, "p95_reduction"), "p95 reduction");
    assert_true(json_number(json, "schedule", "spill_gbit") == 0.0);

    /* The release model's target for planning against the baseline. */
    assert_true(r.peak_reduction >= 0.45);

    /* A bound of the whole-hour problem is at most the peak of any schedule in it. */
    if (exact && !isnan(r.lp_bound_gbps))
        assert_true(r.lp_bound_gbps <= r.planned.peak_gbps * (1 + 1e-9));
    cdnopt_free(json);
    cdnopt_plan_result_clear(&r);
    cdnopt_release_set_free(releases);
    cdnopt_series_free(baseline);
}

static void greedy_day_matches_referee(void **state)
{
    (void)state;
    cdnopt_plan_params params = cdnopt_plan_params_default();
    plan_and_compare(&params, false);
}

static void greedy_p95_day_matches_referee(void **state)
{
    (void)state;
    cdnopt_plan_params params = cdnopt_plan_params_default();
    params.objective = CDNOPT_OBJECTIVE_P95;
    plan_and_compare(&params, false);
}

/* A short time limit keeps this a test rather than a benchmark; the figures must
 * agree with the referee whatever the solver reached. */
static void exact_day_matches_referee(void **state)
{
    (void)state;
    cdnopt_plan_params params = cdnopt_plan_params_default();
    params.time_limit_s = 10;
    plan_and_compare(&params, true);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(greedy_day_matches_referee),
        cmocka_unit_test(greedy_p95_day_matches_referee),
        cmocka_unit_test(exact_day_matches_referee),
    };
    return cdnopt_test_main(argc, argv, "plan_referee", tests, sizeof tests / sizeof tests[0]);
}
