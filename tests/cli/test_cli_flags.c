/* SPDX-License-Identifier: Apache-2.0 */
/*
 * End-to-end tests of flag handling shared by the subcommands: repeated flags,
 * global flags after the command name, output paths checked before any work, and
 * flags that only apply together with others. Each case runs the built binary
 * (CDNOPT_BUILD_DIR/bin/cdnopt) with stdout and stderr combined.
 */
#include "cdnopt/core.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Four days of an hourly series in dir/traffic.csv, in Gbit/s. */
static void write_traffic(const char *dir)
{
    char path[600];
    snprintf(path, sizeof path, "%s/traffic.csv", dir);
    FILE *out = fopen(path, "w");
    assert_non_null(out);
    fputs("time,gbps\n", out);
    for (int h = 0; h < 4 * 24; h++)
        fprintf(out, "2024-01-%02d %02d:00:00,%d\n", 1 + h / 24, h % 24, 100 + (h % 24) * 5);
    fclose(out);
}

static void repeated_flag_rejected(void **state)
{
    (void)state;
    char dir[512], text[8192];
    cdnopt_test_scratch_dir(dir, sizeof dir, "cli-flags");
    write_traffic(dir);

    int status = cdnopt_test_run_cli(dir, "train --data traffic.csv --data other.csv --out m.h5", text,
                        sizeof text);
    assert_int_equal(status, 2);
    cdnopt_assert_contains(text, "cdnopt train: flag --data is given more than once");
}

/* -q and -v work after the command name as they do before it. */
static void log_flags_after_command(void **state)
{
    (void)state;
    char dir[512], text[8192];
    cdnopt_test_scratch_dir(dir, sizeof dir, "cli-flags");

    int status = cdnopt_test_run_cli(dir, "train -q --data none.csv --out m.h5", text, sizeof text);
    assert_int_equal(status, 1);
    cdnopt_assert_contains(text, "none.csv");
    assert_null(strstr(text, "unknown flag"));

    status = cdnopt_test_run_cli(dir, "forecast --model none.h5 --data none.csv --out f.csv -v", text,
                    sizeof text);
    assert_int_equal(status, 1);
    cdnopt_assert_contains(text, "none.h5");
    assert_null(strstr(text, "unknown flag"));

    status = cdnopt_test_run_cli(dir, "train --help", text, sizeof text);
    assert_int_equal(status, 0);
    cdnopt_assert_contains(text, "-q, --quiet");
}

/* A missing output folder fails at once, before the data is read or a model trained. */
static void missing_out_folder_fails_first(void **state)
{
    (void)state;
    char dir[512], text[8192];
    cdnopt_test_scratch_dir(dir, sizeof dir, "cli-flags");
    write_traffic(dir);

    int status = cdnopt_test_run_cli(dir, "train --data traffic.csv --out missing/m.h5 --epochs 1", text,
                        sizeof text);
    assert_int_equal(status, 2);
    cdnopt_assert_contains(text, "--out 'missing/m.h5': folder 'missing' does not exist");
    assert_null(strstr(text, "epoch="));

    static const char *const commands[] = {
        "forecast --model m.h5 --data traffic.csv --out missing/f.csv",
        "plan --baseline traffic.csv --releases r.csv --out missing/s.csv",
        "train-agent --history traffic.csv --out missing/a.h5",
        "evaluate --series-dir . --out missing/e.csv",
        "train --data traffic.csv --out m.h5 --checkpoint missing/c.ckpt",
    };
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        status = cdnopt_test_run_cli(dir, commands[i], text, sizeof text);
        assert_int_equal(status, 2);
        cdnopt_assert_contains(text, "folder 'missing' does not exist");
    }

    status = cdnopt_test_run_cli(dir, "train --data traffic.csv --out . --epochs 1", text, sizeof text);
    assert_int_equal(status, 2);
    cdnopt_assert_contains(text, "--out '.' is a folder; give a file name");
}

static void step_without_wide_rejected(void **state)
{
    (void)state;
    char dir[512], text[8192];
    cdnopt_test_scratch_dir(dir, sizeof dir, "cli-flags");
    write_traffic(dir);

    int status = cdnopt_test_run_cli(dir, "train --data traffic.csv --step 1h --out m.h5", text, sizeof text);
    assert_int_equal(status, 2);
    cdnopt_assert_contains(text, "--step applies only to --wide rows");
}

static void m4_unknown_flag_named(void **state)
{
    (void)state;
    char dir[512], text[8192];
    cdnopt_test_scratch_dir(dir, sizeof dir, "cli-flags");

    int status = cdnopt_test_run_cli(dir, "m4 --train t.csv --out o --bogus", text, sizeof text);
    assert_int_equal(status, 2);
    cdnopt_assert_contains(text, "cdnopt m4: unknown option '--bogus'");

    status = cdnopt_test_run_cli(dir, "m4 --train t.csv --horizon", text, sizeof text);
    assert_int_equal(status, 2);
    cdnopt_assert_contains(text, "cdnopt m4: --horizon needs a value");

    status = cdnopt_test_run_cli(dir, "m4 --train t.csv --train u.csv --out o", text, sizeof text);
    assert_int_equal(status, 2);
    cdnopt_assert_contains(text, "cdnopt m4: flag --train is given more than once");

    /* Equal values of two different flags are no repeat. */
    status = cdnopt_test_run_cli(dir, "m4 --train t.csv --horizon 24 --period 24 --out o", text, sizeof text);
    assert_int_equal(status, 1);
    assert_null(strstr(text, "more than once"));

    status = cdnopt_test_run_cli(dir, "m4 --train t.csv --out missing/o", text, sizeof text);
    assert_int_equal(status, 2);
    cdnopt_assert_contains(text, "cdnopt m4: --out: cannot create folder 'missing/o'");
}

/* An --out that names an input file is rejected before anything is written, so the
 * input keeps its content. */
static void out_same_as_input_rejected(void **state)
{
    (void)state;
    char dir[512], text[8192], path[600];
    cdnopt_test_scratch_dir(dir, sizeof dir, "cli-out-input");
    write_traffic(dir);
    snprintf(path, sizeof path, "%s/releases.csv", dir);
    FILE *out = fopen(path, "w");
    assert_non_null(out);
    const char *releases = "id,size_mb,users,planned_at\nv1,100,1000,2024-01-02 10:00:00\n";
    fputs(releases, out);
    fclose(out);

    int status = cdnopt_test_run_cli(dir,
                        "plan --baseline traffic.csv --releases releases.csv --out ./releases.csv",
                        text, sizeof text);
    assert_int_equal(status, 2);
    cdnopt_assert_contains(text, "--out './releases.csv' is the same file as --releases");

    FILE *in = fopen(path, "r");
    assert_non_null(in);
    char kept[256] = "";
    size_t n = fread(kept, 1, sizeof kept - 1, in);
    kept[n] = '\0';
    fclose(in);
    assert_string_equal(kept, releases);

    status = cdnopt_test_run_cli(dir, "forecast --model m.h5 --data traffic.csv --out traffic.csv", text,
                    sizeof text);
    assert_int_equal(status, 2);
    cdnopt_assert_contains(text, "is the same file as --data 'traffic.csv'");
}

/* Two outputs that name one new file, under any spelling, are rejected before training.
 * The final model used to replace the checkpoint written to the same file. */
static void outputs_same_new_file_rejected(void **state)
{
    (void)state;
    char dir[512], text[8192], path[600];
    cdnopt_test_scratch_dir(dir, sizeof dir, "cli-out-out");
    write_traffic(dir);
    snprintf(path, sizeof path, "%s/sub", dir);
    assert_int_equal(mkdir(path, 0755), 0);

    int status = cdnopt_test_run_cli(
        dir, "train --data traffic.csv --epochs 1 --checkpoint m.h5 --out m.h5", text,
        sizeof text);
    assert_int_equal(status, 2);
    cdnopt_assert_contains(text, "--out 'm.h5' is the same file as --checkpoint 'm.h5'");

    status = cdnopt_test_run_cli(
        dir, "train --data traffic.csv --epochs 1 --checkpoint ./m.h5 --out m.h5", text,
        sizeof text);
    assert_int_equal(status, 2);
    cdnopt_assert_contains(text, "--out 'm.h5' is the same file as --checkpoint './m.h5'");

    status = cdnopt_test_run_cli(
        dir, "train --data traffic.csv --epochs 1 --checkpoint sub/../m.h5 --out m.h5", text,
        sizeof text);
    assert_int_equal(status, 2);
    cdnopt_assert_contains(text, "is the same file as --checkpoint 'sub/../m.h5'");

    snprintf(path, sizeof path, "%s/m.h5", dir);
    assert_int_not_equal(access(path, F_OK), 0);
}

/* version prints its usage for --help and rejects arguments it does not take. */
static void version_help_and_extra_argument(void **state)
{
    (void)state;
    char dir[512], text[8192];
    cdnopt_test_scratch_dir(dir, sizeof dir, "cli-version");

    int status = cdnopt_test_run_cli(dir, "version --help", text, sizeof text);
    assert_int_equal(status, 0);
    cdnopt_assert_contains(text, "usage: cdnopt version");
    assert_null(strstr(text, "blas:"));

    status = cdnopt_test_run_cli(dir, "version --bogus", text, sizeof text);
    assert_int_equal(status, 2);
    cdnopt_assert_contains(text, "invalid argument '--bogus'");

    status = cdnopt_test_run_cli(dir, "version", text, sizeof text);
    assert_int_equal(status, 0);
    cdnopt_assert_contains(text, "cdnopt 0.1.0");

    status = cdnopt_test_run_cli(dir, "version -q", text, sizeof text);
    assert_int_equal(status, 0);
    cdnopt_assert_contains(text, "cdnopt 0.1.0");
}

/* --version and -V print what the version command prints; --version was an unknown
 * option before. */
static void version_flag_runs_command(void **state)
{
    (void)state;
    char dir[512], text[8192];
    cdnopt_test_scratch_dir(dir, sizeof dir, "cli-version-flag");
    const char *const flags[] = {"--version", "-V", "-q --version"};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        int status = cdnopt_test_run_cli(dir, flags[i], text, sizeof text);
        assert_int_equal(status, 0);
        cdnopt_assert_contains(text, "cdnopt 0.1.0");
        cdnopt_assert_contains(text, "blas:");
    }

    int status = cdnopt_test_run_cli(dir, "--help", text, sizeof text);
    assert_int_equal(status, 0);
    cdnopt_assert_contains(text, "-V, --version  print the version");

    /* An argument after the flag is rejected as after the command, not dropped. */
    status = cdnopt_test_run_cli(dir, "--version train", text, sizeof text);
    assert_int_equal(status, 2);
    cdnopt_assert_contains(text, "invalid argument 'train'");
    status = cdnopt_test_run_cli(dir, "-V -q", text, sizeof text);
    assert_int_equal(status, 0);
    cdnopt_assert_contains(text, "cdnopt 0.1.0");
}

/* A serve command line that serve rejects, and a part of its message. */
struct serve_rejection {
    const char *flags;
    const char *message;
};

/* Assert that serve exits with status 2 and the message for each case, before it creates
 * the database, and that its help contains each of the help texts. */
static void expect_serve_rejections(const char *tag, const struct serve_rejection *cases,
                                    size_t n, const char *const *help, size_t n_help)
{
    char dir[512], text[8192], args[256], db[600];
    cdnopt_test_scratch_dir(dir, sizeof dir, tag);
    for (size_t i = 0; i < n; i++) {
        snprintf(args, sizeof args, "serve --db serve.db --port 0 %s", cases[i].flags);
        int status = cdnopt_test_run_cli(dir, args, text, sizeof text);
        assert_int_equal(status, 2);
        cdnopt_assert_contains(text, cases[i].message);
    }
    snprintf(db, sizeof db, "%s/serve.db", dir);
    assert_int_not_equal(access(db, F_OK), 0);

    int status = cdnopt_test_run_cli(dir, "serve --help", text, sizeof text);
    assert_int_equal(status, 0);
    for (size_t i = 0; i < n_help; i++)
        cdnopt_assert_contains(text, help[i]);
}

/* serve rejects an --alert-clear-margin outside [0, 1) or not a number before it opens the
 * database, and its help shows the default. */
static void serve_clear_margin_checked(void **state)
{
    (void)state;
    static const struct serve_rejection cases[] = {
        {"--alert-clear-margin abc",
         "--alert-clear-margin 'abc' is not a number; give a share in [0, 1)"},
        {"--alert-clear-margin 0.1x", "--alert-clear-margin '0.1x' is not a number"},
        {"--alert-clear-margin -0.1", "--alert-clear-margin -0.1 is outside [0, 1)"},
        {"--alert-clear-margin 1", "--alert-clear-margin 1 is outside [0, 1)"},
        {"--alert-clear-margin 1.5", "--alert-clear-margin 1.5 is outside [0, 1)"},
        {"--alert-clear-margin nan", "--alert-clear-margin nan is outside [0, 1)"},
    };
    static const char *const help[] = {"--alert-clear-margin SHARE",
                                       "0 to below 1 (default 0.05)"};
    expect_serve_rejections("cli-serve-margin", cases, sizeof cases / sizeof cases[0], help, 2);
}

/* serve rejects an --alert-window that is not a duration, shorter than one monitor
 * interval, or of more readings than the monitor keeps, before it opens the database, and
 * its help shows the default. */
static void serve_alert_window_checked(void **state)
{
    (void)state;
    static const struct serve_rejection cases[] = {
        {"--alert-window abc", "--alert-window 'abc' is invalid; use e.g. 1s, 10ms or 1ms"},
        {"--alert-window 500ms",
         "--alert-window 500ms is shorter than one --monitor-interval (1s); give a window of "
         "at least one interval"},
        {"--monitor-interval 1m --alert-window 30s",
         "--alert-window 30s is shorter than one --monitor-interval (1m)"},
        {"--monitor-interval 1ms --alert-window 1h",
         "--alert-window 1h is 3600000 readings at --monitor-interval 1ms, more than 100000; "
         "give a shorter window or a longer interval"},
    };
    static const char *const help[] = {"--alert-window DURATION", "(e.g. 30s, 5m) (default 30s)"};
    expect_serve_rejections("cli-serve-window", cases, sizeof cases / sizeof cases[0], help, 2);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(repeated_flag_rejected),
        cmocka_unit_test(log_flags_after_command),
        cmocka_unit_test(missing_out_folder_fails_first),
        cmocka_unit_test(step_without_wide_rejected),
        cmocka_unit_test(m4_unknown_flag_named),
        cmocka_unit_test(version_help_and_extra_argument),
        cmocka_unit_test(version_flag_runs_command),
        cmocka_unit_test(out_same_as_input_rejected),
        cmocka_unit_test(outputs_same_new_file_rejected),
        cmocka_unit_test(serve_clear_margin_checked),
        cmocka_unit_test(serve_alert_window_checked),
    };
    return cdnopt_test_main(argc, argv, "cli_flags", tests, sizeof tests / sizeof tests[0]);
}
