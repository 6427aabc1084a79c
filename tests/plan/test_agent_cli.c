/* SPDX-License-Identifier: Apache-2.0 */
/*
 * End-to-end cases of `cdnopt train-agent` and `cdnopt plan --solver dqn`: the built
 * binary (CDNOPT_BUILD_DIR/bin/cdnopt) runs through popen with stderr folded into the
 * captured output, and each case checks the exit status and the message.
 */
#include "cdnopt/core.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

/* An hourly series from 2024-01-01 first_hour:00 to the end of day n_days with a daily
 * cycle, in Gbit/s. */
static void write_series_from(const char *path, int n_days, int first_hour)
{
    FILE *out = fopen(path, "w");
    assert_non_null(out);
    fprintf(out, "timestamp,gbps\n");
    for (int d = 0; d < n_days; d++) {
        for (int h = d == 0 ? first_hour : 0; h < 24; h++)
            fprintf(out, "2024-01-%02d %02d:00:00,%.3f\n", 1 + d, h,
                    500.0 + 300.0 * sin(2.0 * M_PI * (h - 14) / 24.0) + 10.0 * (d % 3));
    }
    fclose(out);
}

/* An hourly series of n_days days from 2024-01-01 with a daily cycle, in Gbit/s. */
static void write_series(const char *path, int n_days)
{
    write_series_from(path, n_days, 0);
}

/* Five releases planned on 2024-01-01, one of them over the blackout size. */
static void write_releases(const char *path)
{
    cdnopt_test_write_file(path, "id,size_mb,users,planned_at\n"
                                 "a,800,200000,2024-01-01 10:00:00\n"
                                 "b,120,500000,2024-01-01 10:00:00\n"
                                 "c,300,100000,2024-01-01 14:00:00\n"
                                 "d,60,900000,2024-01-01 19:00:00\n"
                                 "e,900,50000,2024-01-01 21:00:00\n");
}

static void plan_dqn_needs_agent(void **state)
{
    (void)state;
    char dir[256], args[2048], out[8192];
    cdnopt_test_scratch_dir(dir, sizeof dir, "agent-cli");
    snprintf(args, sizeof args,
             "plan --baseline %s/b.csv --releases %s/r.csv --out %s/s.csv --solver dqn", dir,
             dir, dir);
    assert_int_equal(cdnopt_test_run_quiet(args, out, sizeof out), 2);
    cdnopt_assert_contains(out, "--solver dqn needs --agent FILE");

    snprintf(args, sizeof args,
             "plan --baseline %s/b.csv --releases %s/r.csv --out %s/s.csv --agent %s/a.h5", dir,
             dir, dir, dir);
    assert_int_equal(cdnopt_test_run_quiet(args, out, sizeof out), 2);
    cdnopt_assert_contains(out, "--agent is used only by --solver dqn or dqn+greedy");
}

/* An --agent that is a folder or missing is rejected before the history is read and
 * forecast. A folder used to fail only after the backtest had printed its forecast line. */
static void plan_agent_path_checked_first(void **state)
{
    (void)state;
    char dir[256], path[300], args[2048], out[8192];
    cdnopt_test_scratch_dir(dir, sizeof dir, "agent-cli");
    snprintf(path, sizeof path, "%s/h.csv", dir);
    write_series(path, 14);
    snprintf(path, sizeof path, "%s/r.csv", dir);
    cdnopt_test_write_file(path, "id,size_mb,users,planned_at\n"
                                 "a,800,200000,2024-01-15 10:00:00\n");
    snprintf(path, sizeof path, "%s/agents", dir);
    assert_int_equal(mkdir(path, 0755), 0);

    snprintf(args, sizeof args,
             "plan --history %s/h.csv --releases %s/r.csv --out %s/s.csv --solver dqn "
             "--agent %s/agents",
             dir, dir, dir, dir);
    assert_int_equal(cdnopt_test_run_quiet(args, out, sizeof out), 2);
    cdnopt_assert_contains(out, "/agents' is a folder; give the agent file written by cdnopt "
                                "train-agent");
    assert_null(strstr(out, "forecast:"));

    snprintf(args, sizeof args,
             "plan --history %s/h.csv --releases %s/r.csv --out %s/s.csv --solver dqn+greedy "
             "--agent %s/missing.h5",
             dir, dir, dir, dir);
    assert_int_equal(cdnopt_test_run_quiet(args, out, sizeof out), 2);
    cdnopt_assert_contains(out, "/missing.h5' does not exist");
    assert_null(strstr(out, "forecast:"));
}

static void train_agent_bad_exclude(void **state)
{
    (void)state;
    char dir[256], args[2048], out[8192];
    cdnopt_test_scratch_dir(dir, sizeof dir, "agent-cli");
    snprintf(args, sizeof args, "%s/h.csv", dir);
    write_series(args, 10);
    snprintf(args, sizeof args,
             "train-agent --history %s/h.csv --out %s/a.h5 --exclude 2024-01-03", dir, dir);
    assert_int_equal(cdnopt_test_run_quiet(args, out, sizeof out), 2);
    cdnopt_assert_contains(out, "--exclude span '2024-01-03' is invalid");
    cdnopt_assert_contains(out, "YYYY-MM-DD..YYYY-MM-DD");

    /* Excluding everything leaves no training day. */
    snprintf(args, sizeof args,
             "train-agent --history %s/h.csv --out %s/a.h5 --exclude 2024-01-01..2024-01-11",
             dir, dir);
    assert_int_equal(cdnopt_test_run_quiet(args, out, sizeof out), 2);
    cdnopt_assert_contains(out, "has 0 midnights that start a 3-day window");

    /* A span outside the history (a mistyped year) hides nothing, so it is an error. */
    snprintf(args, sizeof args,
             "train-agent --history %s/h.csv --out %s/a.h5 --exclude 2030-01-01..2030-02-01",
             dir, dir);
    assert_int_equal(cdnopt_test_run_quiet(args, out, sizeof out), 2);
    cdnopt_assert_contains(out, "--exclude span 2030-01-01..2030-02-01 covers no time of");
    cdnopt_assert_contains(out, "which runs from 2024-01-01 00:00:00 to");

    /* An impossible date is named, not reported as FROM after TO. */
    snprintf(args, sizeof args,
             "train-agent --history %s/h.csv --out %s/a.h5 --exclude 2024-02-30..2024-03-01",
             dir, dir);
    assert_int_equal(cdnopt_test_run_quiet(args, out, sizeof out), 2);
    cdnopt_assert_contains(out, "'2024-02-30' is not a valid date");
    snprintf(args, sizeof args,
             "train-agent --history %s/h.csv --out %s/a.h5 --exclude 2024-01-05..2024-01-03",
             dir, dir);
    assert_int_equal(cdnopt_test_run_quiet(args, out, sizeof out), 2);
    cdnopt_assert_contains(out, "is empty; FROM must come before TO");

    /* An empty value or item (an unset shell variable) excludes nothing: an error. */
    const char *empty[] = {"''", "','", "2024-01-05..2024-01-06,"};
    for (size_t i = 0; i < sizeof empty / sizeof empty[0]; i++) {
        snprintf(args, sizeof args, "train-agent --history %s/h.csv --out %s/a.h5 --exclude %s",
                 dir, dir, empty[i]);
        assert_int_equal(cdnopt_test_run_quiet(args, out, sizeof out), 2);
        cdnopt_assert_contains(out, "has an empty span");
    }
}

/* --demo-expert and --demo-margin shape the demonstrations, so with --demo-episodes 0 they
 * were dropped without a word; they are rejected now, before the history is read. */
static void train_agent_demo_flags_need_demos(void **state)
{
    (void)state;
    char dir[256], args[2048], out[8192];
    cdnopt_test_scratch_dir(dir, sizeof dir, "agent-cli-demo");
    const char *const flags[] = {"--demo-margin 0.1", "--demo-expert planner"};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        snprintf(args, sizeof args,
                 "train-agent --history %s/missing.csv --out %s/a.h5 --demo-episodes 0 %s", dir,
                 dir, flags[i]);
        assert_int_equal(cdnopt_test_run_quiet(args, out, sizeof out), 2);
        cdnopt_assert_contains(out, "applies to the demonstrations, and --demo-episodes 0 "
                                    "plays none");
    }
}

/* Train a tiny forecasting model, train an agent that observes its forecasts, and reject
 * a model file that is not one. */
static void train_agent_with_model(void **state)
{
    (void)state;
    char dir[256], path[512], args[2048], out[8192];
    cdnopt_test_scratch_dir(dir, sizeof dir, "agent-cli");
    snprintf(path, sizeof path, "%s/h.csv", dir);
    write_series(path, 12);
    snprintf(args, sizeof args,
             "train --data %s/h.csv --units 8 --epochs 1 --max-windows 100 --seed 1 "
             "--out %s/m.h5", dir, dir);
    assert_int_equal(cdnopt_test_run_quiet(args, out, sizeof out), 0);

    snprintf(args, sizeof args,
             "train-agent --history %s/h.csv --model %s/m.h5 --out %s/a.h5 --episodes 2 "
             "--workers 2 --hidden 8 --updates 2 --batch 8 --min-releases 5 "
             "--max-releases 20 --demo-episodes 2 --val-days 1",
             dir, dir, dir);
    assert_int_equal(cdnopt_test_run_quiet(args, out, sizeof out), 0);
    snprintf(path, sizeof path, "%s/a.h5", dir);
    FILE *agent = fopen(path, "rb");
    assert_non_null(agent);
    fclose(agent);

    snprintf(path, sizeof path, "%s/not-a-model.h5", dir);
    cdnopt_test_write_file(path, "this is text, not HDF5\n");
    snprintf(args, sizeof args,
             "train-agent --history %s/h.csv --model %s --out %s/a.h5 --episodes 2", dir, path,
             dir);
    assert_int_equal(cdnopt_test_run_quiet(args, out, sizeof out), 1);
    cdnopt_assert_contains(out, "not-a-model.h5' is not an HDF5 file");
}

/* Train a tiny agent, plan with it (alone and with greedy), then reject a cut file. */
static void train_then_plan_with_agent(void **state)
{
    (void)state;
    char dir[256], path[512], args[2048], out[8192];
    cdnopt_test_scratch_dir(dir, sizeof dir, "agent-cli");
    snprintf(path, sizeof path, "%s/h.csv", dir);
    write_series(path, 10);
    snprintf(path, sizeof path, "%s/b.csv", dir);
    write_series(path, 3);
    snprintf(path, sizeof path, "%s/r.csv", dir);
    write_releases(path);

    snprintf(args, sizeof args,
             "train-agent --history %s/h.csv --out %s/a.h5 --episodes 4 --workers 2 "
             "--hidden 8 --updates 2 --batch 8 --min-releases 5 --max-releases 20 "
             "--curve %s/c.csv",
             dir, dir, dir);
    assert_int_equal(cdnopt_test_run_quiet(args, out, sizeof out), 0);

    /* The curve starts with the row after pretraining and writes no "nan" field. */
    char curve[4096];
    snprintf(path, sizeof path, "%s/c.csv", dir);
    FILE *curve_file = fopen(path, "r");
    assert_non_null(curve_file);
    size_t curve_len = fread(curve, 1, sizeof curve - 1, curve_file);
    curve[curve_len] = '\0';
    fclose(curve_file);
    cdnopt_assert_contains(curve, "episode,mean_return_gbps,epsilon,loss,mask_accuracy,"
                                  "val_peak_reduction,elapsed_s\n0,");
    assert_null(strstr(curve, "nan"));

    const char *solvers[] = {"dqn", "dqn+greedy"};
    for (int k = 0; k < 2; k++) {
        snprintf(args, sizeof args,
                 "plan --baseline %s/b.csv --releases %s/r.csv --out %s/s.csv --solver %s "
                 "--agent %s/a.h5",
                 dir, dir, dir, solvers[k], dir);
        assert_int_equal(cdnopt_test_run_quiet(args, out, sizeof out), 0);
        cdnopt_assert_contains(out, "masked DQN agent (4 training episodes)");
        snprintf(path, sizeof path, "%s/s.csv", dir);
        char schedule[4096];
        FILE *in = fopen(path, "r");
        assert_non_null(in);
        size_t len = fread(schedule, 1, sizeof schedule - 1, in);
        schedule[len] = '\0';
        fclose(in);
        cdnopt_assert_contains(schedule, "id,start_at,batch_ratio\na,2024-01-0");
        cdnopt_assert_contains(schedule, "\ne,2024-01-0");
    }

    /* dqn+greedy is never above greedy's peak, because it keeps the lower of the two. */
    double peaks[2];
    const char *compared[] = {"greedy", "dqn+greedy --agent %s/a.h5"};
    for (int k = 0; k < 2; k++) {
        char solver[700];
        snprintf(solver, sizeof solver, compared[k], dir);
        snprintf(args, sizeof args,
                 "plan --baseline %s/b.csv --releases %s/r.csv --out %s/s.csv --solver %s", dir,
                 dir, dir, solver);
        assert_int_equal(cdnopt_test_run_quiet(args, out, sizeof out), 0);
        const char *row = strstr(out, "peak (Gbit/s)");
        assert_non_null(row);
        double naive = 0;
        assert_int_equal(sscanf(row, "peak (Gbit/s) %lf %lf", &naive, &peaks[k]), 2);
    }
    assert_true(peaks[1] <= peaks[0]);

    /* A cut agent file is rejected with the path and the reason. */
    snprintf(args, sizeof args, "head -c 1000 %s/a.h5 > %s/cut.h5", dir, dir);
    assert_int_equal(system(args), 0);
    snprintf(args, sizeof args,
             "plan --baseline %s/b.csv --releases %s/r.csv --out %s/s.csv --solver dqn "
             "--agent %s/cut.h5",
             dir, dir, dir, dir);
    assert_int_equal(cdnopt_test_run_quiet(args, out, sizeof out), 1);
    cdnopt_assert_contains(out, "cut.h5' is not a readable HDF5 file");
}

/* Check that schedule lists the 5 releases of write_releases(), none before `earliest`. */
static void assert_starts_from(const char *path, const char *earliest)
{
    FILE *in = fopen(path, "r");
    assert_non_null(in);
    char line[256];
    assert_non_null(fgets(line, sizeof line, in));
    assert_string_equal(line, "id,start_at,batch_ratio\n");
    int rows = 0;
    while (fgets(line, sizeof line, in) != NULL) {
        char id[64], start[32];
        assert_int_equal(sscanf(line, "%63[^,],%31[^,]", id, start), 2);
        if (strcmp(start, earliest) < 0)
            fail_msg("release %s starts at %s, before the baseline's first step %s", id, start,
                     earliest);
        rows++;
    }
    fclose(in);
    assert_int_equal(rows, 5);
}

/* A baseline that starts at 14:00 on the release day (a re-plan during the day) is
 * planned from 14:00 on, and the schedule keeps every rule. dqn used to reject it,
 * because each episode began at the release day's midnight. */
static void plan_dqn_mid_day_baseline(void **state)
{
    (void)state;
    char dir[256], path[512], args[2048], out[8192];
    cdnopt_test_scratch_dir(dir, sizeof dir, "agent-cli");
    snprintf(path, sizeof path, "%s/h.csv", dir);
    write_series(path, 10);
    snprintf(path, sizeof path, "%s/b.csv", dir);
    write_series_from(path, 3, 14);
    snprintf(path, sizeof path, "%s/r.csv", dir);
    write_releases(path);
    snprintf(args, sizeof args,
             "train-agent --history %s/h.csv --out %s/a.h5 --episodes 2 --workers 1 "
             "--hidden 8 --updates 2 --batch 8 --min-releases 5 --max-releases 20",
             dir, dir);
    assert_int_equal(cdnopt_test_run_quiet(args, out, sizeof out), 0);

    const char *solvers[] = {"dqn", "dqn+greedy"};
    for (int k = 0; k < 2; k++) {
        snprintf(args, sizeof args,
                 "plan --baseline %s/b.csv --releases %s/r.csv --out %s/s.csv --solver %s "
                 "--agent %s/a.h5",
                 dir, dir, dir, solvers[k], dir);
        assert_int_equal(cdnopt_test_run_quiet(args, out, sizeof out), 0);
        snprintf(path, sizeof path, "%s/s.csv", dir);
        assert_starts_from(path, "2024-01-01 14:00:00");

        /* Exit status 0 of score means no rule is broken; the list confirms it. */
        snprintf(args, sizeof args,
                 "score --baseline %s/b.csv --releases %s/r.csv --schedule %s/s.csv --json",
                 dir, dir, dir);
        assert_int_equal(cdnopt_test_run_quiet(args, out, sizeof out), 0);
        cdnopt_assert_contains(out, "\"violations\": []");
    }
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plan_dqn_needs_agent),
        cmocka_unit_test(plan_agent_path_checked_first),
        cmocka_unit_test(train_agent_bad_exclude),
        cmocka_unit_test(train_agent_demo_flags_need_demos),
        cmocka_unit_test(train_then_plan_with_agent),
        cmocka_unit_test(train_agent_with_model),
        cmocka_unit_test(plan_dqn_mid_day_baseline),
    };
    return cdnopt_test_main(argc, argv, "agent_cli", tests, sizeof tests / sizeof tests[0]);
}
