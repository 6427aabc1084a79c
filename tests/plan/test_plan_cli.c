/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The plan and score commands end to end: the built binary (CDNOPT_BUILD_DIR/bin/cdnopt)
 * runs through popen with stderr folded into stdout, and each case checks the exit
 * status and the text.
 */
#include "cdnopt/core.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* Write a 3-day hourly baseline and two releases into dir. */
static void write_inputs(const char *dir)
{
    char path[600];
    snprintf(path, sizeof path, "%s/baseline.csv", dir);
    FILE *out = fopen(path, "w");
    assert_non_null(out);
    fprintf(out, "timestamp,gbps\n");
    for (int h = 0; h < 72; h++)
        fprintf(out, "2024-01-%02d %02d:00:00,%d\n", 1 + h / 24, h % 24, 100 + (h % 24) * 5);
    fclose(out);

    snprintf(path, sizeof path, "%s/releases.csv", dir);
    cdnopt_test_write_file(path, "id,size_mb,users,planned_at\n"
                                 "a,200,50000,2024-01-01 10:00:00\n"
                                 "b,900,20000,2024-01-01 18:00:00\n");
}

static void score_lists_violations(void **state)
{
    (void)state;
    char dir[512], path[600], args[2048], text[8192];
    cdnopt_test_scratch_dir(dir, sizeof dir, "plan-cli");
    write_inputs(dir);
    snprintf(path, sizeof path, "%s/schedule.csv", dir);
    cdnopt_test_write_file(path, "id,start_at,batch_ratio\n"
                                 "a,2024-01-01 09:00:00,1.0\n"
                                 "b,2024-01-02 01:00:00,0.5\n");
    snprintf(args, sizeof args,
             "score --baseline '%s/baseline.csv' --releases '%s/releases.csv' --schedule '%s'",
             dir, dir, path);
    assert_int_equal(cdnopt_test_run_quiet(args, text, sizeof text), 3);
    cdnopt_assert_contains(text, "violation: a window start 2024-01-01 09:00:00 outside");
    cdnopt_assert_contains(text, "violation: b blackout batch of 900 MB begins 2024-01-02 01:00:00");
    cdnopt_assert_contains(text, "peak (Gbit/s)");

    /* The JSON report lists the same violations. */
    strcat(args, " --json");
    assert_int_equal(cdnopt_test_run_quiet(args, text, sizeof text), 3);
    cdnopt_assert_contains(text, "{\"id\": \"a\", \"rule\": \"window\"");
    cdnopt_assert_contains(text, "{\"id\": \"b\", \"rule\": \"blackout\"");
}

/* A schedule that cannot be read must not exit with the broken-rule status 3. */
static void score_unreadable_schedule_is_error(void **state)
{
    (void)state;
    char dir[512], path[600], args[2048], text[8192];
    cdnopt_test_scratch_dir(dir, sizeof dir, "plan-cli");
    write_inputs(dir);
    snprintf(path, sizeof path, "%s/schedule.csv", dir);
    cdnopt_test_write_file(path, "id,start_at,batch_ratio\n"
                                 "zz,2024-01-01 09:00:00,1.0\n");
    snprintf(args, sizeof args,
             "score --baseline '%s/baseline.csv' --releases '%s/releases.csv' --schedule '%s'",
             dir, dir, path);
    assert_int_equal(cdnopt_test_run_quiet(args, text, sizeof text), 2);
    cdnopt_assert_contains(text, "id 'zz' is not in the releases file");
}

static void plan_then_score_clean(void **state)
{
    (void)state;
    char dir[512], args[2048], text[8192];
    cdnopt_test_scratch_dir(dir, sizeof dir, "plan-cli");
    write_inputs(dir);
    snprintf(args, sizeof args,
             "plan --baseline '%s/baseline.csv' --releases '%s/releases.csv' --out "
             "'%s/planned.csv' --json",
             dir, dir, dir);
    assert_int_equal(cdnopt_test_run_quiet(args, text, sizeof text), 0);
    cdnopt_assert_contains(text, "\"solver\": \"greedy\"");
    cdnopt_assert_contains(text, "\"problem\": \"whole-hour delays\"");
    cdnopt_assert_contains(text, "\"peak_reduction\": ");

    snprintf(args, sizeof args,
             "score --baseline '%s/baseline.csv' --releases '%s/releases.csv' --schedule "
             "'%s/planned.csv'",
             dir, dir, dir);
    assert_int_equal(cdnopt_test_run_quiet(args, text, sizeof text), 0);
    assert_null(strstr(text, "violation"));
}

/* The referee sweep of bench/ on releases whose ids contain a comma and a doubled quote:
 * the naive schedule it writes must quote them, or the referee reads the id's second
 * part as start_at. */
static void referee_sweep_quoted_ids(void **state)
{
    (void)state;
    char dir[512], referee[512], command[4096], text[16384];
    cdnopt_test_scratch_dir(dir, sizeof dir, "plan-sweep");
    write_inputs(dir);
    char path[600];
    snprintf(path, sizeof path, "%s/releases.csv", dir);
    cdnopt_test_write_file(path, "id,size_mb,users,planned_at\n"
                                 "\"a,1\",200,50000,2024-01-01 10:00:00\n"
                                 "\"b \"\"2\"\"\",900,20000,2024-01-01 18:00:00\n");
    cdnopt_test_shared_path(referee, sizeof referee, "tools/score_schedule.py");
    snprintf(command, sizeof command,
             "python3 bench/plan_referee_sweep.py --cdnopt '%s/bin/cdnopt' --referee '%s' "
             "--out '%s/sweep' --modes greedy-peak '%s'",
             getenv("CDNOPT_BUILD_DIR"), referee, dir, dir);
    int status = cdnopt_test_run_shell(command, text, sizeof text);
    if (status != 0)
        print_error("sweep exited with %d:\n%s\n", status, text);
    assert_int_equal(status, 0);
    cdnopt_assert_contains(text, "0 failed checks");
}

/* One release on a 2-day baseline that the exact planner brings down to its LP bound.
 * GLPK's bound came out 3e-14 Gbit/s above the schedule's peak, which printed a gap of
 * "-0.00 %" and -1.3e-16 in the JSON. */
static void exact_gap_at_bound_is_zero(void **state)
{
    (void)state;
    char dir[512], path[600], args[2048], text[8192];
    cdnopt_test_scratch_dir(dir, sizeof dir, "plan-cli");
    snprintf(path, sizeof path, "%s/baseline.csv", dir);
    FILE *out = fopen(path, "w");
    assert_non_null(out);
    fprintf(out, "timestamp,gbps\n");
    for (int h = 0; h < 48; h++)
        fprintf(out, "2024-01-%02d %02d:00:00,%d\n", 1 + h / 24, h % 24, 100 + (h * 7) % 11);
    fclose(out);
    snprintf(path, sizeof path, "%s/releases.csv", dir);
    cdnopt_test_write_file(path, "id,size_mb,users,planned_at\n"
                                 "r0,30000,20000,2024-01-01 11:00:00\n");

    snprintf(args, sizeof args,
             "plan --baseline '%s/baseline.csv' --releases '%s' --out '%s/planned.csv' "
             "--solver exact",
             dir, path, dir);
    assert_int_equal(cdnopt_test_run_quiet(args, text, sizeof text), 0);
    cdnopt_assert_contains(text, "gap of this schedule's peak to it: 0.00 % (within");
    assert_null(strstr(text, "-0.00"));

    strcat(args, " --json");
    assert_int_equal(cdnopt_test_run_quiet(args, text, sizeof text), 0);
    cdnopt_assert_contains(text, "\"gap\": 0,");
}

/* --time-limit bounds the exact planner only. Other solvers used to drop it without a
 * word, so a given one now gets a warning, and the plan still runs. */
static void time_limit_warns_other_solvers(void **state)
{
    (void)state;
    char dir[512], args[2048], text[8192];
    cdnopt_test_scratch_dir(dir, sizeof dir, "plan-cli");
    write_inputs(dir);
    const char *files = "--baseline baseline.csv --releases releases.csv --out planned.csv";

    snprintf(args, sizeof args, "plan %s --time-limit 5s", files);
    assert_int_equal(cdnopt_test_run_cli(dir, args, text, sizeof text), 0);
    cdnopt_assert_contains(text, "WARN  plan solver=greedy time_limit_s=5: --time-limit bounds "
                                 "the exact solver only");

    snprintf(args, sizeof args, "plan %s", files);
    assert_int_equal(cdnopt_test_run_cli(dir, args, text, sizeof text), 0);
    assert_null(strstr(text, "time_limit_s"));

    snprintf(args, sizeof args, "plan %s --solver exact --time-limit 5s", files);
    assert_int_equal(cdnopt_test_run_cli(dir, args, text, sizeof text), 0);
    assert_null(strstr(text, "time_limit_s"));
}

static void plan_rejects_bad_flags(void **state)
{
    (void)state;
    char dir[512], args[4096], text[8192];
    cdnopt_test_scratch_dir(dir, sizeof dir, "plan-cli");
    write_inputs(dir);
    snprintf(args, sizeof args,
             "plan --baseline '%s/baseline.csv' --releases '%s/releases.csv' --out '%s/x.csv' "
             "--solver fast",
             dir, dir, dir);
    assert_int_equal(cdnopt_test_run_quiet(args, text, sizeof text), 2);
    cdnopt_assert_contains(text, "invalid --solver 'fast'");

    snprintf(args, sizeof args, "plan --releases '%s/releases.csv' --out '%s/x.csv'", dir, dir);
    assert_int_equal(cdnopt_test_run_quiet(args, text, sizeof text), 2);
    cdnopt_assert_contains(text, "give either --baseline FILE or --history FILE (with --model");

    snprintf(args, sizeof args,
             "plan --baseline '%s/baseline.csv' --model '%s/model.h5' --releases "
             "'%s/releases.csv' --out '%s/x.csv'",
             dir, dir, dir, dir);
    assert_int_equal(cdnopt_test_run_quiet(args, text, sizeof text), 2);
    cdnopt_assert_contains(text, "--model is used only with --history");

    snprintf(args, sizeof args,
             "plan --baseline '%s/baseline.csv' --releases '%s/releases.csv' --out '%s/x.csv' "
             "--safety 2",
             dir, dir, dir);
    assert_int_equal(cdnopt_test_run_quiet(args, text, sizeof text), 2);
    cdnopt_assert_contains(text, "--safety is used only with --history");

    snprintf(args, sizeof args,
             "plan --baseline '%s/baseline.csv' --releases '%s/releases.csv' --out '%s/x.csv' "
             "--scenario-residual-days 2",
             dir, dir, dir);
    assert_int_equal(cdnopt_test_run_quiet(args, text, sizeof text), 2);
    cdnopt_assert_contains(text, "--scenario-residual-days is used only with --history");

    snprintf(args, sizeof args,
             "plan --baseline '%s/baseline.csv' --releases '%s/releases.csv' --out '%s/x.csv' "
             "--plan-on upper",
             dir, dir, dir);
    assert_int_equal(cdnopt_test_run_quiet(args, text, sizeof text), 2);
    cdnopt_assert_contains(text,
                           "invalid --plan-on 'upper': use auto, mean, critical or scenarios");

    snprintf(args, sizeof args,
             "plan --baseline '%s/baseline.csv' --releases '%s/releases.csv' --out '%s/x.csv' "
             "--plan-on scenarios --solver exact",
             dir, dir, dir);
    assert_int_equal(cdnopt_test_run_quiet(args, text, sizeof text), 2);
    cdnopt_assert_contains(text, "--plan-on scenarios works with --solver greedy");

    snprintf(args, sizeof args,
             "plan --baseline '%s/baseline.csv' --releases '%s/missing.csv' --out '%s/x.csv'",
             dir, dir, dir);
    assert_int_equal(cdnopt_test_run_quiet(args, text, sizeof text), 1);
    cdnopt_assert_contains(text, "missing.csv: cannot open");
}

/* The scenario flags with --plan-on mean or critical, and the backtest flags with any
 * --plan-on but auto, used to be read and then ignored without a word. */
static void plan_on_rejects_unused_flags(void **state)
{
    (void)state;
    char dir[512], args[4096], text[8192];
    cdnopt_test_scratch_dir(dir, sizeof dir, "plan-cli");
    write_inputs(dir);
    static const struct {
        const char *flags;
        const char *message;
    } cases[] = {
        {"--plan-on mean --worst-weight 0.5",
         "--worst-weight sets the scenarios, which --plan-on mean does not use"},
        {"--plan-on critical --scenario-weeks 3",
         "--scenario-weeks sets the scenarios, which --plan-on critical does not use"},
        {"--plan-on mean --scenario-residual-days 2",
         "--scenario-residual-days sets the scenarios, which --plan-on mean does not use"},
        {"--plan-on mean --backtest-folds 3",
         "--backtest-folds sets the backtest of --plan-on auto, which --plan-on mean skips"},
        {"--plan-on scenarios --backtest-wide",
         "--backtest-wide sets the backtest of --plan-on auto, which --plan-on scenarios skips"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(args, sizeof args,
                 "plan --history '%s/baseline.csv' --releases '%s/releases.csv' --out "
                 "'%s/x.csv' %s",
                 dir, dir, dir, cases[i].flags);
        assert_int_equal(cdnopt_test_run_quiet(args, text, sizeof text), 2);
        cdnopt_assert_contains(text, cases[i].message);
    }
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(score_lists_violations),
        cmocka_unit_test(score_unreadable_schedule_is_error),
        cmocka_unit_test(plan_then_score_clean),
        cmocka_unit_test(referee_sweep_quoted_ids),
        cmocka_unit_test(exact_gap_at_bound_is_zero),
        cmocka_unit_test(time_limit_warns_other_solvers),
        cmocka_unit_test(plan_rejects_bad_flags),
        cmocka_unit_test(plan_on_rejects_unused_flags),
    };
    return cdnopt_test_main(argc, argv, "plan_cli", tests, sizeof tests / sizeof tests[0]);
}
