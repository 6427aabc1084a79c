/* SPDX-License-Identifier: Apache-2.0 */
/*
 * End-to-end tests of the train, forecast and evaluate commands. Each case runs the
 * built binary (CDNOPT_BUILD_DIR/bin/cdnopt) through the shell, with stdout and
 * stderr in files of a scratch folder, and checks the exit status and the texts.
 */
#include "cdnopt/core.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Output of one run of the binary. */
typedef struct run_result {
    int status;       /* exit status, or -1 when the shell could not run it */
    char out[8192];   /* start of stdout */
    char err[8192];   /* start of stderr */
} run_result;

static void read_text(const char *path, char *buf, size_t size)
{
    buf[0] = '\0';
    FILE *in = fopen(path, "r");
    if (in == NULL)
        return;
    size_t len = fread(buf, 1, size - 1, in);
    buf[len] = '\0';
    fclose(in);
}

/* Run "cdnopt <args>" with its outputs captured in dir. */
static void run_cdnopt(const char *dir, const char *args, run_result *r)
{
    const char *build = getenv("CDNOPT_BUILD_DIR");
    if (build == NULL)
        fail_msg("CDNOPT_BUILD_DIR is not set: run this test through ctest");

    char command[4096];
    snprintf(command, sizeof command, "'%s/bin/cdnopt' %s > '%s/stdout' 2> '%s/stderr'", build,
             args, dir, dir);
    int raw = system(command);
    r->status = raw != -1 && WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;

    char path[1024];
    snprintf(path, sizeof path, "%s/stdout", dir);
    read_text(path, r->out, sizeof r->out);
    snprintf(path, sizeof path, "%s/stderr", dir);
    read_text(path, r->err, sizeof r->err);
}

/* A CSV of n_days days from 2024-01-01, one value every step_min minutes, with a daily
 * cycle, in Gbit/s. */
static void write_csv_every(const char *path, int n_days, int step_min)
{
    FILE *out = fopen(path, "w");
    assert_non_null(out);
    fprintf(out, "time,gbps\n");
    for (int i = 0; i < n_days * 1440 / step_min; i++) {
        int minute = i * step_min;
        int d = minute / 1440, h = minute % 1440 / 60, m = minute % 60;
        double hour = (minute % 1440) / 60.0;
        double value = 10.0 + 3.0 * sin(2.0 * M_PI * hour / 24.0) + 0.1 * ((d * 7 + h) % 5);
        fprintf(out, "2024-01-%02d %02d:%02d:00,%.4f\n", 1 + d, h, m, value);
    }
    fclose(out);
}

static void write_hourly_csv(const char *path, int n_days)
{
    write_csv_every(path, n_days, 60);
}

static int count_lines(const char *text)
{
    int n = 0;
    for (const char *c = text; *c != '\0'; c++)
        n += *c == '\n';
    return n;
}

/* ------------------------------------------------------------------------- */
/* Bad input                                                                 */
/* ------------------------------------------------------------------------- */

static void train_missing_data(void **state)
{
    (void)state;
    char dir[256];
    cdnopt_test_scratch_dir(dir, sizeof dir, "cli");
    run_result r;
    run_cdnopt(dir, "train --out model.h5", &r);
    assert_int_equal(r.status, 2);
    cdnopt_assert_contains(r.err, "cdnopt train: ");
    cdnopt_assert_contains(r.err, "--data FILE");
}

static void train_bad_unit(void **state)
{
    (void)state;
    char dir[256], csv[300], args[1024];
    cdnopt_test_scratch_dir(dir, sizeof dir, "cli");
    snprintf(csv, sizeof csv, "%s/traffic.csv", dir);
    write_hourly_csv(csv, 2);
    snprintf(args, sizeof args, "train --data '%s' --unit furlongs --out '%s/m.h5'", csv, dir);
    run_result r;
    run_cdnopt(dir, args, &r);
    assert_int_equal(r.status, 2);
    cdnopt_assert_contains(r.err, "--unit: unknown unit 'furlongs'");
    cdnopt_assert_contains(r.err, "raw");
}

static void forecast_bad_duration(void **state)
{
    (void)state;
    char dir[256];
    cdnopt_test_scratch_dir(dir, sizeof dir, "cli");
    run_result r;
    run_cdnopt(dir, "forecast --model m.h5 --data d.csv --horizon 5x --out f.csv", &r);
    assert_int_equal(r.status, 2);
    cdnopt_assert_contains(r.err, "cdnopt forecast: --horizon: invalid duration unit in '5x'");

    /* A bare number is read as seconds, and an out-of-range message states that. */
    run_cdnopt(dir, "forecast --model m.h5 --data d.csv --horizon 1 --out f.csv", &r);
    assert_int_equal(r.status, 2);
    cdnopt_assert_contains(r.err, "duration '1' (a number without a unit counts as seconds)");
    run_cdnopt(dir, "forecast --model m.h5 --data d.csv --horizon 1s --out f.csv", &r);
    assert_int_equal(r.status, 2);
    cdnopt_assert_contains(r.err, "duration '1s' for --horizon is out of range");
}

static void evaluate_unknown_flag(void **state)
{
    (void)state;
    char dir[256];
    cdnopt_test_scratch_dir(dir, sizeof dir, "cli");
    run_result r;
    run_cdnopt(dir, "evaluate --data d.csv --bogus 3", &r);
    assert_int_equal(r.status, 2);
    cdnopt_assert_contains(r.err, "cdnopt evaluate: unknown flag '--bogus'");
}

static void train_missing_file(void **state)
{
    (void)state;
    char dir[256];
    cdnopt_test_scratch_dir(dir, sizeof dir, "cli");
    run_result r;
    run_cdnopt(dir, "train --data /nonexistent/traffic.csv --out m.h5", &r);
    assert_int_equal(r.status, 1);
    cdnopt_assert_contains(r.err, "/nonexistent/traffic.csv");
}

static void train_value_out_of_range(void **state)
{
    (void)state;
    char dir[256];
    cdnopt_test_scratch_dir(dir, sizeof dir, "cli");
    run_result r;
    run_cdnopt(dir, "train --data d.csv --epochs 0 --out m.h5", &r);
    assert_int_equal(r.status, 2);
    cdnopt_assert_contains(r.err, "value 0 for --epochs is out of range: use a whole number "
                                  "from 1 to 10000");
    run_cdnopt(dir, "train --data d.csv --lr abc --out m.h5", &r);
    assert_int_equal(r.status, 2);
    cdnopt_assert_contains(r.err, "invalid value 'abc' for --lr");
}

/* A line of NUL bytes used to end the file silently there, dropping the rows after it. */
static void train_rejects_nul_byte(void **state)
{
    (void)state;
    char dir[256], csv[300], args[1024];
    cdnopt_test_scratch_dir(dir, sizeof dir, "cli");
    snprintf(csv, sizeof csv, "%s/nul.csv", dir);
    FILE *out = fopen(csv, "wb");
    assert_non_null(out);
    fputs("time,gbps\n2024-01-01 00:00:00,1\n", out);
    fwrite("\0\0\0\n", 1, 4, out);
    fputs("2024-01-01 01:00:00,2\n", out);
    fclose(out);
    snprintf(args, sizeof args, "train --data '%s' --out '%s/m.h5'", csv, dir);
    run_result r;
    run_cdnopt(dir, args, &r);
    assert_int_not_equal(r.status, 0);
    cdnopt_assert_contains(r.err, "nul.csv:3: contains a NUL byte");
}

/* Reader errors name flags users can type, and every command that reads a series
 * accepts them, train-agent's --history included. */
static void read_errors_name_cli_flags(void **state)
{
    (void)state;
    char dir[256], csv[300], args[1024];
    cdnopt_test_scratch_dir(dir, sizeof dir, "cli");
    snprintf(csv, sizeof csv, "%s/dup.csv", dir);
    cdnopt_test_write_file(csv, "time,gbps\n2024-01-01 00:00:00,1\n2024-01-01 01:00:00,2\n"
                                "2024-01-01 01:00:00,3\n");
    run_result r;
    snprintf(args, sizeof args, "train --data '%s' --out '%s/m.h5'", csv, dir);
    run_cdnopt(dir, args, &r);
    assert_int_not_equal(r.status, 0);
    cdnopt_assert_contains(r.err, "--duplicates keep-last or --duplicates mean");

    /* A NaN row is reported before the duplicate, so --duplicates alone is not enough. */
    cdnopt_test_write_file(csv, "time,gbps\n2024-01-01 00:00:00,1\n2024-01-01 01:00:00,2\n"
                                "2024-01-01 01:00:00,3\n2024-01-01 02:00:00,NaN\n");

    snprintf(args, sizeof args, "train-agent --history '%s' --out '%s/a.h5' --duplicates mean",
             csv, dir);
    run_cdnopt(dir, args, &r);
    assert_int_not_equal(r.status, 0);
    cdnopt_assert_contains(r.err, "--drop-missing with --fill-gaps linear");

    snprintf(args, sizeof args, "train-agent --history '%s' --out '%s/a.h5' --duplicates mean "
             "--drop-missing", csv, dir);
    run_cdnopt(dir, args, &r);
    assert_int_not_equal(r.status, 0);
    cdnopt_assert_contains(r.err, "add --fill-gaps linear or --fill-gaps previous");

    snprintf(args, sizeof args, "train --data '%s' --out '%s/m.h5' --duplicates first", csv,
             dir);
    run_cdnopt(dir, args, &r);
    assert_int_equal(r.status, 2);
    cdnopt_assert_contains(r.err, "invalid value 'first' for --duplicates");
}

/* plan and score read --baseline with the same repair flags as --data. */
static void plan_score_accept_read_flags(void **state)
{
    (void)state;
    char dir[256], csv[300], args[1024];
    cdnopt_test_scratch_dir(dir, sizeof dir, "cli");
    snprintf(csv, sizeof csv, "%s/gap.csv", dir);
    cdnopt_test_write_file(csv, "time,gbps\n2024-01-01 00:00:00,1\n2024-01-01 01:00:00,2\n"
                                "2024-01-01 03:00:00,4\n2024-01-01 04:00:00,5\n");
    run_result r;
    snprintf(args, sizeof args, "plan --baseline '%s' --releases '%s/none.csv' --out '%s/s.csv'",
             csv, dir, dir);
    run_cdnopt(dir, args, &r);
    assert_int_not_equal(r.status, 0);
    cdnopt_assert_contains(r.err, "--fill-gaps linear or --fill-gaps previous");

    /* With the gap filled, reading moves on to the missing releases file. */
    snprintf(args, sizeof args, "plan --baseline '%s' --releases '%s/none.csv' --out '%s/s.csv' "
             "--fill-gaps linear", csv, dir, dir);
    run_cdnopt(dir, args, &r);
    assert_int_not_equal(r.status, 0);
    cdnopt_assert_contains(r.err, "none.csv: cannot open");

    snprintf(args, sizeof args, "score --baseline '%s' --releases '%s/none.csv' --schedule "
             "'%s/s.csv' --fill-gaps previous", csv, dir, dir);
    run_cdnopt(dir, args, &r);
    assert_int_not_equal(r.status, 0);
    cdnopt_assert_contains(r.err, "none.csv: cannot open");
}

static void forecast_missing_model(void **state)
{
    (void)state;
    char dir[256], csv[300], args[1024];
    cdnopt_test_scratch_dir(dir, sizeof dir, "cli");
    snprintf(csv, sizeof csv, "%s/traffic.csv", dir);
    write_hourly_csv(csv, 2);
    snprintf(args, sizeof args, "forecast --model '%s/none.h5' --data '%s' --out '%s/f.csv'", dir,
             csv, dir);
    run_result r;
    run_cdnopt(dir, args, &r);
    assert_int_equal(r.status, 1);
    cdnopt_assert_contains(r.err, "none.h5");
}

static void help_lists_defaults(void **state)
{
    (void)state;
    char dir[256];
    cdnopt_test_scratch_dir(dir, sizeof dir, "cli");
    run_result r;
    run_cdnopt(dir, "forecast --help", &r);
    assert_int_equal(r.status, 0);
    cdnopt_assert_contains(r.out, "--horizon DURATION");
    cdnopt_assert_contains(r.out, "(default 1d)");
    cdnopt_assert_contains(r.out, "(default 1.2)");
}

/* ------------------------------------------------------------------------- */
/* Whole runs                                                                */
/* ------------------------------------------------------------------------- */

static void train_forecast_evaluate(void **state)
{
    (void)state;
    char dir[256], csv[300], args[2048];
    cdnopt_test_scratch_dir(dir, sizeof dir, "cli");
    snprintf(csv, sizeof csv, "%s/traffic.csv", dir);
    write_hourly_csv(csv, 21);
    run_result r;

    snprintf(args, sizeof args,
             "train --data '%s' --epochs 1 --units 8 --batch 16 --seed 5 --out '%s/m.h5'", csv,
             dir);
    run_cdnopt(dir, args, &r);
    assert_int_equal(r.status, 0);
    cdnopt_assert_contains(r.err, "epoch=1 loss=");
    cdnopt_assert_contains(r.err, "coverage_calibrated=");

    /* The same seed gives the same file, byte for byte. */
    char first[8192], second[8192], path[400];
    for (int i = 0; i < 2; i++) {
        snprintf(args, sizeof args,
                 "forecast --model '%s/m.h5' --data '%s' --samples 20 --seed 3 --out '%s/f%d.csv'",
                 dir, csv, dir, i);
        run_cdnopt(dir, args, &r);
        assert_int_equal(r.status, 0);
        snprintf(path, sizeof path, "%s/f%d.csv", dir, i);
        read_text(path, i == 0 ? first : second, sizeof first);
    }
    assert_string_equal(first, second);
    assert_null(strstr(r.err, "far outside the range"));
    assert_int_equal(count_lines(first), 25);

    /* Every unit but raw is converted to Gbit/s, so the model accepts --unit mbit/s.
     * The same file read that way is a thousand times lower, so the level check warns. */
    snprintf(args, sizeof args,
             "forecast --model '%s/m.h5' --data '%s' --unit mbit/s --samples 20 --out '%s/fu.csv'",
             dir, csv, dir);
    run_cdnopt(dir, args, &r);
    assert_int_equal(r.status, 0);
    cdnopt_assert_contains(r.err, "far outside the range");
    cdnopt_assert_contains(r.err, "check that --unit is the one used in training");

    /* Raw values keep the file's scale: the model records it and rejects --unit raw. */
    snprintf(args, sizeof args,
             "forecast --model '%s/m.h5' --data '%s' --unit raw --samples 20 --out '%s/fr.csv'",
             dir, csv, dir);
    run_cdnopt(dir, args, &r);
    assert_int_equal(r.status, 2);
    cdnopt_assert_contains(r.err, "m.h5 was trained on values converted to Gbit/s, but --unit raw");
    cdnopt_assert_contains(r.err, "or train with --unit raw");
    snprintf(args, sizeof args,
             "evaluate --data '%s' --unit raw --test-days 2 --model '%s/m.h5' --samples 10",
             csv, dir);
    run_cdnopt(dir, args, &r);
    assert_int_equal(r.status, 2);
    cdnopt_assert_contains(r.err, "but --unit raw");

    /* plan --history checks the model against the history: unit, then step. */
    char releases[300], half_hourly[300];
    snprintf(releases, sizeof releases, "%s/releases.csv", dir);
    cdnopt_test_write_file(releases,
                           "id,size_mb,users,planned_at\nr1,100,1000,2024-01-22 10:00:00\n");
    snprintf(args, sizeof args,
             "plan --history '%s' --unit raw --model '%s/m.h5' --releases '%s' --out '%s/s.csv'",
             csv, dir, releases, dir);
    run_cdnopt(dir, args, &r);
    assert_int_equal(r.status, 2);
    cdnopt_assert_contains(r.err, "but --unit raw");
    snprintf(half_hourly, sizeof half_hourly, "%s/half.csv", dir);
    FILE *half = fopen(half_hourly, "w");
    assert_non_null(half);
    fprintf(half, "time,gbps\n");
    for (int i = 0; i < 21 * 48; i++)
        fprintf(half, "2024-01-%02d %02d:%02d:00,%d\n", 1 + i / 48, i % 48 / 2, 30 * (i % 2),
                10 + i % 48);
    fclose(half);
    snprintf(args, sizeof args,
             "plan --history '%s' --model '%s/m.h5' --releases '%s' --out '%s/s.csv'",
             half_hourly, dir, releases, dir);
    run_cdnopt(dir, args, &r);
    assert_int_equal(r.status, 2);
    cdnopt_assert_contains(r.err, "half.csv has a step of 30m but model");
    cdnopt_assert_contains(r.err, "was trained on a step of 1h; resample the data");
    snprintf(args, sizeof args, "evaluate --data '%s' --test-days 2 --model '%s/m.h5'",
             half_hourly, dir);
    run_cdnopt(dir, args, &r);
    assert_int_equal(r.status, 2);
    cdnopt_assert_contains(r.err, "half.csv has a step of 30m but model");
    cdnopt_assert_contains(first, "timestamp,mean,lower,upper,critical\n2024-01-22 00:00:00,");

    /* Data shorter than one window names the file, its length and the length needed. */
    char short_csv[300];
    snprintf(short_csv, sizeof short_csv, "%s/short.csv", dir);
    cdnopt_test_write_file(short_csv, "time,gbps\n2024-01-01 00:00:00,1\n2024-01-01 01:00:00,2\n"
                                      "2024-01-01 02:00:00,3\n");
    snprintf(args, sizeof args, "forecast --model '%s/m.h5' --data '%s' --out '%s/fs.csv'", dir,
             short_csv, dir);
    run_cdnopt(dir, args, &r);
    assert_int_not_equal(r.status, 0);
    cdnopt_assert_contains(r.err, "short.csv has 3 samples, but model");
    cdnopt_assert_contains(r.err, "needs at least 24 (one input window, 1d of data)");

    snprintf(args, sizeof args,
             "evaluate --data '%s' --test-days 2 --model '%s/m.h5' --samples 10 --json", csv,
             dir);
    run_cdnopt(dir, args, &r);
    assert_int_equal(r.status, 0);
    cdnopt_assert_contains(r.out, "\"test_first\": \"2024-01-20 00:00:00\"");
    cdnopt_assert_contains(r.out, "\"method\": \"residual-lstm\"");
    cdnopt_assert_contains(r.out, "\"method\": \"holt-winters-1d\"");
}

static void evaluate_trains_and_prints_table(void **state)
{
    (void)state;
    char dir[256], csv[300], args[1024];
    cdnopt_test_scratch_dir(dir, sizeof dir, "cli");
    snprintf(csv, sizeof csv, "%s/traffic.csv", dir);
    write_hourly_csv(csv, 17);
    snprintf(args, sizeof args,
             "evaluate --data '%s' --test-days 2 --epochs 1 --units 8 --batch 16 --samples 10",
             csv);
    run_result r;
    run_cdnopt(dir, args, &r);
    assert_int_equal(r.status, 0);
    cdnopt_assert_contains(r.out, "test span 2024-01-16 00:00:00 .. 2024-01-17 23:00:00");
    cdnopt_assert_contains(r.out, "cov95_cal");
    cdnopt_assert_contains(r.out, "seasonal-naive-1d");

    /* 17 days leave too little history for 16 test days. */
    snprintf(args, sizeof args, "evaluate --data '%s' --test-days 16", csv);
    run_cdnopt(dir, args, &r);
    assert_int_equal(r.status, 2);
    cdnopt_assert_contains(r.err, "too short for 16 test days");
}

/* evaluate used to drop --out with --data, --json with --series-dir and training flags
 * with --model without a word: no file was written, no JSON printed, nothing trained. */
static void evaluate_rejects_other_source_output(void **state)
{
    (void)state;
    char dir[256], csv[300], args[1024];
    cdnopt_test_scratch_dir(dir, sizeof dir, "cli-evaluate-out");
    snprintf(csv, sizeof csv, "%s/series", dir);
    assert_int_equal(mkdir(csv, 0755), 0);
    snprintf(csv, sizeof csv, "%s/series/a.csv", dir);
    write_csv_every(csv, 5, 60);
    run_result r;
    snprintf(args, sizeof args, "evaluate --data '%s' --test-days 1 --out '%s/e.csv'", csv, dir);
    run_cdnopt(dir, args, &r);
    assert_int_equal(r.status, 2);
    cdnopt_assert_contains(r.err, "--out writes the results of --series-dir; with --data");

    snprintf(args, sizeof args,
             "evaluate --series-dir '%s/series' --test-days 1 --json --out '%s/e.csv'", dir, dir);
    run_cdnopt(dir, args, &r);
    assert_int_equal(r.status, 2);
    cdnopt_assert_contains(r.err, "--json formats the report of --data; with --series-dir");

    /* A training flag beside --model was dropped without a word too. */
    snprintf(args, sizeof args, "evaluate --data '%s' --test-days 1 --model '%s/none.h5' "
             "--epochs 5", csv, dir);
    run_cdnopt(dir, args, &r);
    assert_int_equal(r.status, 2);
    cdnopt_assert_contains(r.err, "--epochs sets the model that evaluate trains without --model");
}

/* train --data used to accept the global-model flags and train as if they were absent. */
static void train_data_rejects_global_flags(void **state)
{
    (void)state;
    char dir[256], csv[300], args[1024];
    cdnopt_test_scratch_dir(dir, sizeof dir, "cli-train-global-flags");
    snprintf(csv, sizeof csv, "%s/a.csv", dir);
    write_csv_every(csv, 5, 60);
    static const char *const flags[] = {"--norm minmax", "--sampling series",
                                        "--calib-steps 10", "--seasonal-diff 24"};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        snprintf(args, sizeof args, "train --data '%s' %s --epochs 1 --out '%s/m.h5'", csv,
                 flags[i], dir);
        run_result r;
        run_cdnopt(dir, args, &r);
        assert_int_equal(r.status, 2);
        char name[32];
        snprintf(name, sizeof name, "%.*s", (int)strcspn(flags[i], " "), flags[i]);
        cdnopt_assert_contains(r.err, name);
        cdnopt_assert_contains(r.err, "applies only to a global model (--wide or --series-dir)");
    }
}

/* --checkpoint FILE without --checkpoint-every used to train to the end and write no
 * checkpoint, so a run that failed later had nothing to resume from. */
static void train_checkpoint_needs_every(void **state)
{
    (void)state;
    char dir[256], csv[300], args[1024], ckpt[300];
    cdnopt_test_scratch_dir(dir, sizeof dir, "cli-checkpoint-every");
    snprintf(csv, sizeof csv, "%s/a.csv", dir);
    write_csv_every(csv, 5, 60);
    snprintf(ckpt, sizeof ckpt, "%s/c.h5", dir);
    snprintf(args, sizeof args, "train --data '%s' --epochs 1 --checkpoint '%s' --out '%s/m.h5'",
             csv, ckpt, dir);
    run_result r;
    run_cdnopt(dir, args, &r);
    assert_int_equal(r.status, 2);
    cdnopt_assert_contains(r.err, "--checkpoint-every is 0");
    cdnopt_assert_contains(r.err, "add --checkpoint-every N");
    assert_int_equal(access(ckpt, F_OK), -1);
}

/* --head-base sets the base of the direct head only. The recursive head, from --head
 * recursive or from --head auto for the transformer, used to ignore it without a word. */
static void train_head_base_needs_direct(void **state)
{
    (void)state;
    char dir[256], csv[300], args[1024];
    cdnopt_test_scratch_dir(dir, sizeof dir, "cli-head-base");
    snprintf(csv, sizeof csv, "%s/a.csv", dir);
    write_csv_every(csv, 5, 60);
    static const char *const flags[] = {"--head recursive --head-base last",
                                        "--arch transformer --head-base seasonal"};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        snprintf(args, sizeof args, "train --data '%s' %s --epochs 1 --out '%s/m.h5'", csv,
                 flags[i], dir);
        run_result r;
        run_cdnopt(dir, args, &r);
        assert_int_equal(r.status, 2);
        cdnopt_assert_contains(r.err, "--head-base sets the base of the direct head, but this "
                                      "model has the recursive head");
    }
}

/* train --resume replaces the training flags by the checkpoint's values; it used to
 * drop a flag such as --units 16 without a word. */
static void train_resume_warns_replaced_flags(void **state)
{
    (void)state;
    char dir[256], csv[300], args[2048];
    cdnopt_test_scratch_dir(dir, sizeof dir, "cli-resume-flags");
    snprintf(csv, sizeof csv, "%s/a.csv", dir);
    write_csv_every(csv, 10, 60);
    run_result r;
    snprintf(args, sizeof args,
             "train --data '%s' --epochs 1 --units 8 --max-windows 16 --checkpoint-every 1 "
             "--out '%s/m.h5'", csv, dir);
    run_cdnopt(dir, args, &r);
    assert_int_equal(r.status, 0);

    snprintf(args, sizeof args,
             "train --data '%s' --units 16 --lr 0.01 --resume '%s/m.h5.ckpt' --out '%s/r.h5'",
             csv, dir, dir);
    run_cdnopt(dir, args, &r);
    assert_int_equal(r.status, 0);
    cdnopt_assert_contains(r.err, "WARN  train flags=--units,--lr resume=");
    cdnopt_assert_contains(r.err, "replace these training flags, so they are not used");
    cdnopt_assert_contains(r.err, "resuming file=");

    /* Naming the resumed checkpoint as --checkpoint carries on writing to it. */
    snprintf(args, sizeof args,
             "train --data '%s' --epochs 2 --checkpoint-every 1 --resume '%s/m.h5.ckpt' "
             "--checkpoint '%s/m.h5.ckpt' --out '%s/s.h5'",
             csv, dir, dir, dir);
    run_cdnopt(dir, args, &r);
    assert_int_equal(r.status, 0);
    cdnopt_assert_contains(r.err, "resuming file=");
}

/* generate --out naming a file used to fail on "FILE/bandwidth.csv: Not a directory". */
static void generate_out_file_rejected(void **state)
{
    (void)state;
    char dir[256], file[300], args[1024], text[64];
    cdnopt_test_scratch_dir(dir, sizeof dir, "cli-generate-file");
    snprintf(file, sizeof file, "%s/notes.txt", dir);
    cdnopt_test_write_file(file, "keep me\n");
    snprintf(args, sizeof args, "generate --out '%s' --days 1", file);
    run_result r;
    run_cdnopt(dir, args, &r);
    assert_int_equal(r.status, 2);
    cdnopt_assert_contains(r.err, "notes.txt' is a file; give a folder");
    read_text(file, text, sizeof text);
    assert_string_equal(text, "keep me\n");
}

/* ------------------------------------------------------------------------- */
/* Global models                                                             */
/* ------------------------------------------------------------------------- */

/* Train a small global model dir/g.h5 on dir/series/{a,b}.csv, 10 hourly days each. */
static void train_global_model(const char *dir)
{
    char series_dir[300], csv[400], args[1024];
    snprintf(series_dir, sizeof series_dir, "%s/series", dir);
    assert_int_equal(mkdir(series_dir, 0755), 0);
    snprintf(csv, sizeof csv, "%s/a.csv", series_dir);
    write_hourly_csv(csv, 10);
    snprintf(csv, sizeof csv, "%s/b.csv", series_dir);
    write_hourly_csv(csv, 10);

    snprintf(args, sizeof args,
             "train --series-dir '%s' --epochs 1 --units 8 --max-windows 64 --out '%s/g.h5'",
             series_dir, dir);
    run_result r;
    run_cdnopt(dir, args, &r);
    assert_int_equal(r.status, 0);
    cdnopt_assert_contains(r.err, "saved model=");
}

/* A wide set with an all-zero series calibrates to factors the loader would reject:
 * train stops with the reason and writes no model, instead of an unusable one. */
static void global_train_rejects_zero_series(void **state)
{
    (void)state;
    char dir[256], wide[300], model[300], args[1024];
    cdnopt_test_scratch_dir(dir, sizeof dir, "cli-zero");
    snprintf(wide, sizeof wide, "%s/wide.csv", dir);
    snprintf(model, sizeof model, "%s/wz.h5", dir);
    FILE *out = fopen(wide, "w");
    assert_non_null(out);
    fprintf(out, "id");
    for (int k = 0; k < 480; k++)
        fprintf(out, ",V%d", k + 1);
    fprintf(out, "\n");
    for (int i = 0; i < 5; i++) {
        if (i < 4)
            fprintf(out, "S%d", i);
        else
            fprintf(out, "Z");
        for (int k = 0; k < 480; k++)
            fprintf(out, ",%.3f", i < 4 ? 100.0 + 50.0 * sin(2.0 * M_PI * k / 24.0) + 10.0 * i +
                                              (double)(k % 7)
                                        : 0.0);
        fprintf(out, "\n");
    }
    fclose(out);

    run_result r;
    snprintf(args, sizeof args,
             "train --wide '%s' --epochs 1 --max-windows 64 --units 8 --out '%s'", wide, model);
    run_cdnopt(dir, args, &r);
    assert_int_equal(r.status, 2);
    cdnopt_assert_contains(r.err, "a constant or all-zero series can cause");
    FILE *saved = fopen(model, "rb");
    assert_null(saved);
}

/* Every command that runs a single-series model rejects a global one, naming the file
 * and the flag, instead of forecasting without the global scaling. */
static void global_model_rejected(void **state)
{
    (void)state;
    char dir[256], args[2048];
    cdnopt_test_scratch_dir(dir, sizeof dir, "cli");
    train_global_model(dir);
    char releases[300];
    snprintf(releases, sizeof releases, "%s/releases.csv", dir);
    cdnopt_test_write_file(releases,
                           "id,size_mb,users,planned_at\nr1,100,1000,2024-01-11 10:00:00\n");

    /* %1$s is the scratch folder. */
    static const struct {
        const char *args;
        const char *flag;
    } cases[] = {
        {"evaluate --model '%1$s/g.h5' --data '%1$s/series/a.csv' --test-days 1", "--model"},
        {"evaluate --model '%1$s/g.h5' --series-dir '%1$s/series' --test-days 1 "
         "--out '%1$s/e.csv'", "--model"},
        {"plan --history '%1$s/series/a.csv' --model '%1$s/g.h5' --releases "
         "'%1$s/releases.csv' --out '%1$s/s.csv'", "--model"},
        {"train-agent --model '%1$s/g.h5' --history '%1$s/series/a.csv' --episodes 2 "
         "--out '%1$s/agent.h5'", "--model"},
        {"train --resume '%1$s/g.h5' --data '%1$s/series/a.csv' --out '%1$s/r.h5'",
         "--resume"},
        {"serve --db '%1$s/serve.db' --model '%1$s/g.h5' --listen 127.0.0.1 --port 0",
         "--model"},
    };
    char expected[400];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(args, sizeof args, cases[i].args, dir);
        run_result r;
        run_cdnopt(dir, args, &r);
        assert_int_equal(r.status, 2);
        snprintf(expected, sizeof expected, "%s %s/g.h5 is a global model", cases[i].flag, dir);
        cdnopt_assert_contains(r.err, expected);
        cdnopt_assert_contains(r.err, "--wide FILE or --series-dir DIR");
    }

    char path[400];
    snprintf(path, sizeof path, "%s/r.h5", dir);
    assert_int_equal(access(path, F_OK), -1);
}

/* A global model writes no critical line and has no recent-day recalibration, so
 * forecast used to accept --safety and --recent-days for it and ignore them. */
static void global_forecast_rejects_single_flags(void **state)
{
    (void)state;
    char dir[256], args[2048];
    cdnopt_test_scratch_dir(dir, sizeof dir, "cli");
    train_global_model(dir);
    static const char *const flags[] = {"--safety 1.5", "--recent-days 3"};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        snprintf(args, sizeof args,
                 "forecast --model '%s/g.h5' --series-dir '%s/series' --horizon 1d %s "
                 "--out '%s/f.csv'",
                 dir, dir, flags[i], dir);
        run_result r;
        run_cdnopt(dir, args, &r);
        assert_int_equal(r.status, 2);
        char expected[300];
        snprintf(expected, sizeof expected, "%.*s applies only to a single-series model",
                 (int)strcspn(flags[i], " "), flags[i]);
        cdnopt_assert_contains(r.err, expected);
    }
    char path[400];
    snprintf(path, sizeof path, "%s/f.csv", dir);
    assert_int_equal(access(path, F_OK), -1);
}

/* --wide rows are read as given, without unit conversion, times, a column choice or
 * repairs. train and forecast used to accept the CSV read flags with --wide and ignore
 * them, so --unit mbit/s left Mbit/s values in a model labelled Gbit/s. */
static void wide_rejects_read_flags(void **state)
{
    (void)state;
    char dir[256], wide[300], args[2048];
    cdnopt_test_scratch_dir(dir, sizeof dir, "cli-wide-read");
    snprintf(wide, sizeof wide, "%s/wide.csv", dir);
    cdnopt_test_write_file(wide, "id,V1,V2,V3\nS1,1,2,3\n");
    static const char *const flags[] = {"--unit mbit/s",      "--column V2",
                                        "--tz UTC",           "--fill-gaps linear",
                                        "--max-gap 1h",       "--duplicates mean",
                                        "--drop-missing"};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        char expected[300];
        snprintf(expected, sizeof expected, "%.*s applies to CSV files with a time column",
                 (int)strcspn(flags[i], " "), flags[i]);
        snprintf(args, sizeof args, "train --wide '%s' %s --epochs 1 --out '%s/m.h5'", wide,
                 flags[i], dir);
        run_result r;
        run_cdnopt(dir, args, &r);
        assert_int_equal(r.status, 2);
        cdnopt_assert_contains(r.err, expected);

        snprintf(args, sizeof args, "forecast --model '%s/none.h5' --wide '%s' %s --out '%s/f.csv'",
                 dir, wide, flags[i], dir);
        run_cdnopt(dir, args, &r);
        assert_int_equal(r.status, 2);
        cdnopt_assert_contains(r.err, expected);
    }
}

/* Global training has no checkpoints, so the checkpoint flags are rejected. */
static void global_train_rejects_resume(void **state)
{
    (void)state;
    char dir[256], csv[300], args[1024];
    cdnopt_test_scratch_dir(dir, sizeof dir, "cli");
    snprintf(csv, sizeof csv, "%s/a.csv", dir);
    write_hourly_csv(csv, 10);
    snprintf(args, sizeof args,
             "train --series-dir '%s' --resume '%s/m.h5.ckpt' --out '%s/m.h5'", dir, dir, dir);
    run_result r;
    run_cdnopt(dir, args, &r);
    assert_int_equal(r.status, 2);
    cdnopt_assert_contains(r.err, "--resume, --checkpoint and --checkpoint-every apply only "
                                  "to --data training");
}

/* forecast and evaluate --series-dir used to write --out over a series file of the
 * folder, or put new CSV files there that the next run read as series. */
static void series_dir_output_kept_outside(void **state)
{
    (void)state;
    char dir[256], args[2048], series_a[400], before[8192], after[8192];
    cdnopt_test_scratch_dir(dir, sizeof dir, "cli-series-out");
    train_global_model(dir);
    snprintf(series_a, sizeof series_a, "%s/series/a.csv", dir);
    read_text(series_a, before, sizeof before);

    /* %1$s is the scratch folder; each --out lies in or links into the series folder. */
    static const struct {
        const char *args;
        const char *message;
    } cases[] = {
        {"forecast --model '%1$s/g.h5' --series-dir '%1$s/series' --out '%1$s/series/a.csv'",
         "--out '%1$s/series/a.csv' lies in --series-dir %1$s/series"},
        {"forecast --model '%1$s/g.h5' --series-dir '%1$s/series' --out '%1$s/series/f'",
         "--out's lower bound file '%1$s/series/f-lower.csv' lies in --series-dir"},
        {"forecast --model '%1$s/m.h5' --series-dir '%1$s/series' --out '%1$s/series/f.csv'",
         "--out '%1$s/series/f.csv' lies in --series-dir"},
        {"evaluate --model '%1$s/m.h5' --series-dir '%1$s/series' --test-days 1 "
         "--out '%1$s/link.csv'",
         "--out '%1$s/link.csv' is the series file '%1$s/series/a.csv'"},
    };
    snprintf(args, sizeof args,
             "train --data '%s' --epochs 1 --units 8 --max-windows 16 --out '%s/m.h5'", series_a,
             dir);
    run_result r;
    run_cdnopt(dir, args, &r);
    assert_int_equal(r.status, 0);
    char link[400];
    snprintf(link, sizeof link, "%s/link.csv", dir);
    assert_int_equal(symlink(series_a, link), 0);

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char message[1024];
        snprintf(args, sizeof args, cases[i].args, dir);
        snprintf(message, sizeof message, cases[i].message, dir);
        run_cdnopt(dir, args, &r);
        assert_int_equal(r.status, 2);
        cdnopt_assert_contains(r.err, message);
        read_text(series_a, after, sizeof after);
        assert_string_equal(after, before);
    }
    char path[400];
    snprintf(path, sizeof path, "%s/series/f-lower.csv", dir);
    assert_int_equal(access(path, F_OK), -1);
}

/* A step that differs from the model's names the fix the input allows: --step for a
 * --wide file, resampling for a --series-dir CSV (which rejects --step). */
static void global_forecast_step_hint(void **state)
{
    (void)state;
    char dir[256], args[2048], path[400];
    cdnopt_test_scratch_dir(dir, sizeof dir, "cli");
    train_global_model(dir);

    snprintf(path, sizeof path, "%s/half", dir);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path, sizeof path, "%s/half/h.csv", dir);
    write_csv_every(path, 10, 30);
    snprintf(args, sizeof args,
             "forecast --model '%s/g.h5' --series-dir '%s/half' --out '%s/f.csv'", dir, dir,
             dir);
    run_result r;
    run_cdnopt(dir, args, &r);
    assert_int_equal(r.status, 2);
    cdnopt_assert_contains(r.err, "series 'h' in ");
    cdnopt_assert_contains(r.err, "has a step of 1800 s but model");
    cdnopt_assert_contains(r.err, "resample its CSV to 3600 s");
    assert_null(strstr(r.err, "give --step"));

    /* Two rows of 30 daily values, read with the default --step of 1 h. */
    char wide[300];
    snprintf(wide, sizeof wide, "%s/wide.csv", dir);
    FILE *out = fopen(wide, "w");
    assert_non_null(out);
    fprintf(out, "id");
    for (int i = 1; i <= 30; i++)
        fprintf(out, ",V%d", i);
    for (int row = 0; row < 2; row++) {
        fprintf(out, "\nD%d", row);
        for (int i = 0; i < 30; i++)
            fprintf(out, ",%d", 10 + row + i % 7);
    }
    fprintf(out, "\n");
    fclose(out);
    snprintf(args, sizeof args,
             "train --wide '%s' --step 1d --window 7d --calib-steps 7 --epochs 1 --units 8 "
             "--out '%s/w.h5'", wide, dir);
    run_cdnopt(dir, args, &r);
    assert_int_equal(r.status, 0);
    snprintf(args, sizeof args,
             "forecast --model '%s/w.h5' --wide '%s' --horizon 2d --out '%s/fw.csv'", dir, wide,
             dir);
    run_cdnopt(dir, args, &r);
    assert_int_equal(r.status, 2);
    cdnopt_assert_contains(r.err, "series 'D0' of ");
    cdnopt_assert_contains(r.err, "has a step of 3600 s but model");
    cdnopt_assert_contains(r.err, "give --step 86400s");
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(train_missing_data),
        cmocka_unit_test(train_bad_unit),
        cmocka_unit_test(forecast_bad_duration),
        cmocka_unit_test(evaluate_unknown_flag),
        cmocka_unit_test(train_missing_file),
        cmocka_unit_test(train_value_out_of_range),
        cmocka_unit_test(train_rejects_nul_byte),
        cmocka_unit_test(read_errors_name_cli_flags),
        cmocka_unit_test(plan_score_accept_read_flags),
        cmocka_unit_test(forecast_missing_model),
        cmocka_unit_test(help_lists_defaults),
        cmocka_unit_test(train_forecast_evaluate),
        cmocka_unit_test(evaluate_trains_and_prints_table),
    cmocka_unit_test(evaluate_rejects_other_source_output),
    cmocka_unit_test(train_data_rejects_global_flags),
    cmocka_unit_test(train_checkpoint_needs_every),
    cmocka_unit_test(train_head_base_needs_direct),
    cmocka_unit_test(train_resume_warns_replaced_flags),
    cmocka_unit_test(generate_out_file_rejected),
        cmocka_unit_test(global_model_rejected),
    cmocka_unit_test(global_forecast_rejects_single_flags),
    cmocka_unit_test(wide_rejects_read_flags),
        cmocka_unit_test(global_train_rejects_zero_series),
        cmocka_unit_test(global_train_rejects_resume),
        cmocka_unit_test(global_forecast_step_hint),
        cmocka_unit_test(series_dir_output_kept_outside),
    };
    return cdnopt_test_main(argc, argv, "cli", tests, sizeof tests / sizeof tests[0]);
}
