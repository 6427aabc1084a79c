/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The M4 wide-file reader and writer (round trip and every input error), scoring
 * checks, and the reproduction of the competition's Naive, sNaive and Naive2 figures
 * on the M4 Hourly validation split (last 48 values of each series held out).
 */
#include "cdnopt/core.h"
#include "cdnopt/m4.h"
#include "testutil.h"
#include "assert_near.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* Write text into a fresh scratch folder as name; path receives the file's path. */
static void scratch_file(char *path, size_t size, const char *name, const char *text)
{
    char dir[PATH_MAX / 2]; // half, so that dir + "/" + name always fits in path
    cdnopt_test_scratch_dir(dir, sizeof dir, "m4");
    snprintf(path, size, "%s/%s", dir, name);
    cdnopt_test_write_file(path, text);
}

/* Read text as a wide file and return the error code; err receives the message. */
static int read_text(const char *text, char *err)
{
    char path[PATH_MAX];
    scratch_file(path, sizeof path, "bad.csv", text);
    cdnopt_m4_set *set = NULL;
    int rc = cdnopt_m4_read(path, &set, err);
    if (rc != CDNOPT_OK)
        assert_null(set);
    cdnopt_m4_set_free(set);
    return rc;
}

static void m4_read_quoted_padded(void **state)
{
    (void)state;
    char path[PATH_MAX], err[CDNOPT_ERRMSG_MAX] = "";
    scratch_file(path, sizeof path, "train.csv",
                 "\"V1\",\"V2\",\"V3\",\"V4\"\n\"H1\",\"1.5\",\"2\",\"3\"\r\nH2,4, 5 ,\n");
    cdnopt_m4_set *set = NULL;
    assert_int_equal(cdnopt_m4_read(path, &set, err), CDNOPT_OK);
    assert_int_equal(set->n_series, 2);
    assert_string_equal(set->ids[0], "H1");
    assert_int_equal(set->length[0], 3);
    assert_near(set->values[0][0], 1.5, 0.0);
    assert_string_equal(set->ids[1], "H2");
    assert_int_equal(set->length[1], 2);
    assert_near(set->values[1][1], 5.0, 0.0);
    assert_int_equal(set->line[1], 3);
    cdnopt_m4_set_free(set);
}

static void m4_read_errors_name_line(void **state)
{
    (void)state;
    char err[CDNOPT_ERRMSG_MAX] = "";

    assert_int_equal(read_text("V1,V2,V3\nH1,1,2\nH2,1\n", err), CDNOPT_EPARSE);
    cdnopt_assert_contains(err, ":3: ragged row with 2 fields where the header has 3");

    assert_int_equal(read_text("V1,V2,V3\nH1,1,x2\n", err), CDNOPT_EPARSE);
    cdnopt_assert_contains(err, ":2: series H1: field 3 is 'x2', not a finite number");

    assert_int_equal(read_text("V1,V2,V3\nH1,,2\n", err), CDNOPT_EPARSE);
    cdnopt_assert_contains(err, "series H1: value '2' in field 3 follows an empty field");

    /* Negative values and values near double's range are rejected by field. */
    assert_int_equal(read_text("V1,V2,V3\nH1,1,-2\n", err), CDNOPT_ENUMERIC);
    cdnopt_assert_contains(err, ":2: series H1: field 3 is '-2'; M4 values must lie in 0 .. 1e18");
    assert_int_equal(read_text("V1,V2,V3\nH1,1e308,2\n", err), CDNOPT_ENUMERIC);
    cdnopt_assert_contains(err, "field 2 is '1e308'");
    assert_int_equal(read_text("V1,V2,V3\nH1,0x10,2\n", err), CDNOPT_EPARSE);
    cdnopt_assert_contains(err, "field 2 is '0x10', not a finite number");

    /* An underflow reads as 0, as in the one-series reader. */
    assert_int_equal(read_text("V1,V2,V3\nH1,1e-400,2\n", err), CDNOPT_OK);

    assert_int_equal(read_text("V1,V2\nH1,1\nH1,2\n", err), CDNOPT_EPARSE);
    cdnopt_assert_contains(err, ":3: series id H1 repeats the id of line 2");

    /* Of several repeats, the one first reached in the file is reported. */
    assert_int_equal(read_text("V1,V2\nB,1\nA,1\nC,1\nA,2\nB,2\n", err), CDNOPT_EPARSE);
    cdnopt_assert_contains(err, ":5: series id A repeats the id of line 3");

    assert_int_equal(read_text("V1,V2\n,1\n", err), CDNOPT_EPARSE);
    cdnopt_assert_contains(err, ":2: the series id (field 1) is empty");

    assert_int_equal(read_text("V1,V2\nH1,1\n\nH2,2\n", err), CDNOPT_EPARSE);
    cdnopt_assert_contains(err, ":3: empty line");

    assert_int_equal(read_text("V1,V2\n", err), CDNOPT_EPARSE);
    cdnopt_assert_contains(err, "no series after the header");

    cdnopt_m4_set *set = NULL;
    assert_int_equal(cdnopt_m4_read("/nonexistent/m4.csv", &set, err), CDNOPT_EIO);
    cdnopt_assert_contains(err, "/nonexistent/m4.csv: cannot open");
}

/* A NUL byte used to end the text early, so the series after it were lost. */
static void m4_read_rejects_nul_byte(void **state)
{
    (void)state;
    char path[PATH_MAX], err[CDNOPT_ERRMSG_MAX] = "";
    scratch_file(path, sizeof path, "nul.csv", "");
    FILE *out = fopen(path, "wb");
    assert_non_null(out);
    static const char text[] = "V1,V2\nH1,1\n\0\nH2,2\n";
    fwrite(text, 1, sizeof text - 1, out);
    fclose(out);
    cdnopt_m4_set *set = NULL;
    assert_int_equal(cdnopt_m4_read(path, &set, err), CDNOPT_EPARSE);
    assert_null(set);
    cdnopt_assert_contains(err, "nul.csv:3: contains a NUL byte at byte offset 11");
}

/* A long field used to fill the whole error, so the advice after it was cut off. */
static void m4_read_clips_long_field(void **state)
{
    (void)state;
    char err[CDNOPT_ERRMSG_MAX] = "";
    static char text[1100];
    char run[1001];
    memset(run, '7', 1000);
    run[1000] = '\0';
    snprintf(text, sizeof text, "\"V1\",\"V2\",\"V3\"\n\"H1\",1,x%s\n", run);
    assert_int_equal(read_text(text, err), CDNOPT_EPARSE);
    cdnopt_assert_contains(err, "', not a finite number");
}

/* A file with classic Mac OS line ends has no LF and used to fail with "no header line
 * followed by rows", though the header and the rows are there. */
static void m4_read_names_bare_cr(void **state)
{
    (void)state;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(read_text("\"V1\",\"V2\",\"V3\"\r\"H1\",1,2\r", err), CDNOPT_EPARSE);
    cdnopt_assert_contains(err, "bad.csv:1: lines end in a bare CR (classic Mac OS)");
    cdnopt_assert_contains(err, "convert the line ends to LF or CRLF");
    assert_int_equal(read_text("\"V1\",\"V2\",\"V3\"\r\n\"H1\",1,2\r\n", err), CDNOPT_OK);
}

static void m4_write_read_round_trip(void **state)
{
    (void)state;
    char path[PATH_MAX], err[CDNOPT_ERRMSG_MAX] = "";
    scratch_file(path, sizeof path, "full.csv", "V1,V2,V3,V4,V5\nA,0.1,2,3,4\nB,5,6,7,\n");
    cdnopt_m4_set *full = NULL, *train = NULL, *test = NULL;
    assert_int_equal(cdnopt_m4_read(path, &full, err), CDNOPT_OK);
    assert_int_equal(cdnopt_m4_split(full, 2, &train, &test, err), CDNOPT_OK);
    assert_int_equal(train->length[0], 2);
    assert_int_equal(train->length[1], 1);
    assert_near(test->values[1][1], 7.0, 0.0);

    /* Write the test part and read it back: same ids and exactly the same values. */
    char out[PATH_MAX + 16];
    snprintf(out, sizeof out, "%s.test", path);
    assert_int_equal(cdnopt_m4_write(out, test, err), CDNOPT_OK);
    cdnopt_m4_set *again = NULL;
    assert_int_equal(cdnopt_m4_read(out, &again, err), CDNOPT_OK);
    assert_int_equal(again->n_series, 2);
    assert_string_equal(again->ids[1], "B");
    assert_int_equal(again->length[0], 2);
    assert_true(again->values[0][0] == 3.0 && again->values[0][1] == 4.0);

    /* An id with a comma or quote is written as a quoted CSV field. */
    char *plain_id = test->ids[0];
    test->ids[0] = (char *)"say \"a,b\"";
    assert_int_equal(cdnopt_m4_write(out, test, err), CDNOPT_OK);
    test->ids[0] = plain_id;
    FILE *written = fopen(out, "r");
    assert_non_null(written);
    char line[128] = "";
    assert_non_null(fgets(line, sizeof line, written));
    assert_non_null(fgets(line, sizeof line, written));
    fclose(written);
    assert_string_equal(line, "\"say \"\"a,b\"\"\",3,4\n");

    /* A series no longer than the held-out part cannot be split. */
    cdnopt_m4_set *a = NULL, *b = NULL;
    assert_int_equal(cdnopt_m4_split(full, 3, &a, &b, err), CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "series B (line 3) has 3 values; holding out 3 needs at least 4");
    assert_null(a);

    cdnopt_m4_set_free(again);
    cdnopt_m4_set_free(full);
    cdnopt_m4_set_free(train);
    cdnopt_m4_set_free(test);
}

/* A tiny data set: two series of period 2, trained on 8 values, tested on 2. */
static void tiny_sets(cdnopt_m4_set **train, cdnopt_m4_set **test, char *dir, size_t dir_size)
{
    char err[CDNOPT_ERRMSG_MAX] = "", path[PATH_MAX];
    cdnopt_test_scratch_dir(dir, dir_size, "m4score");
    snprintf(path, sizeof path, "%s/train.csv", dir);
    cdnopt_test_write_file(path, "V1,V2,V3,V4,V5,V6,V7,V8,V9\n"
                                 "A,1,3,1,3,2,4,2,4\nB,2,2,3,3,4,4,5,5\n");
    assert_int_equal(cdnopt_m4_read(path, train, err), CDNOPT_OK);
    snprintf(path, sizeof path, "%s/test.csv", dir);
    cdnopt_test_write_file(path, "V1,V2,V3\nA,3,4\nB,6,6\n");
    assert_int_equal(cdnopt_m4_read(path, test, err), CDNOPT_OK);
}

static void m4_score_hand_case(void **state)
{
    (void)state;
    char dir[PATH_MAX], err[CDNOPT_ERRMSG_MAX] = "";
    cdnopt_m4_set *train = NULL, *test = NULL;
    tiny_sets(&train, &test, dir, sizeof dir);

    cdnopt_baseline_params p = cdnopt_baseline_params_default();
    p.method = CDNOPT_BASELINE_SNAIVE;
    p.period = 2;
    cdnopt_m4_forecasts fc;
    assert_int_equal(cdnopt_m4_forecast(train, 2, cdnopt_m4_baseline_method, &p, &fc, err),
                     CDNOPT_OK);

    /* sNaive: A gives 2, 4 against 3, 4; B gives 5, 5 against 6, 6. */
    assert_near(fc.mean->values[0][0], 2.0, 0.0);
    assert_near(fc.mean->values[1][1], 5.0, 0.0);

    cdnopt_m4_summary s;
    assert_int_equal(cdnopt_m4_score(train, test, &fc, 2, 0.95, &s, err), CDNOPT_OK);
    assert_int_equal(s.n_series, 2);

    /* sMAPE A: (200/2) (1/5 + 0) = 20; B: (200/2) (1/11 + 1/11) = 200/11. */
    assert_near(s.smape, 0.5 * (20.0 + 200.0 / 11.0), 1e-9);

    /* Lag-2 scales: A 2/6 (differences 0,0,1,1,0,0), B 1. MAE A 0.5, B 1. */
    assert_near(s.mase, 0.5 * (1.5 + 1.0), 1e-9);

    /* Bounds from lag-2 differences: A [mean, mean + 1], B [mean + 1, mean + 1], so
     * every test value is inside; MSIS is the width over the scale: A 3, B 0. */
    assert_near(s.coverage, 1.0, 0.0);
    assert_near(s.acd, 0.05, 1e-12);
    assert_near(s.msis, 1.5, 1e-9);
    assert_near(s.width, 1.5, 1e-9);
    assert_true(s.smape_naive2 > 0.0 && s.mase_naive2 > 0.0);
    assert_near(s.owa, 0.5 * (s.smape / s.smape_naive2 + s.mase / s.mase_naive2), 1e-12);

    cdnopt_m4_forecasts_fini(&fc);
    cdnopt_m4_set_free(train);
    cdnopt_m4_set_free(test);
}

static void m4_score_rejects_mismatch(void **state)
{
    (void)state;
    char dir[PATH_MAX], err[CDNOPT_ERRMSG_MAX] = "", path[PATH_MAX + 32];
    cdnopt_m4_set *train = NULL, *test = NULL;
    tiny_sets(&train, &test, dir, sizeof dir);

    /* Forecast files with B's row too short, then with the ids swapped. */
    snprintf(path, sizeof path, "%s/forecasts.csv", dir);
    cdnopt_test_write_file(path, "id,F1,F2\nA,1,2\nB,3,\n");
    cdnopt_m4_forecasts fc;
    assert_int_equal(cdnopt_m4_forecasts_read(dir, 2, &fc, err), CDNOPT_ESHAPE);
    cdnopt_assert_contains(err, "forecasts.csv:3: series B has 1 forecasts; the horizon is 2");

    cdnopt_test_write_file(path, "id,F1,F2\nB,1,2\nA,3,4\n");
    assert_int_equal(cdnopt_m4_forecasts_read(dir, 2, &fc, err), CDNOPT_OK);
    assert_null(fc.lower);
    cdnopt_m4_summary s;
    assert_int_equal(cdnopt_m4_score(train, test, &fc, 2, 0.95, &s, err), CDNOPT_ESHAPE);
    cdnopt_assert_contains(err, "forecasts.csv:2: id B where the training file has A (line 2)");
    cdnopt_m4_forecasts_fini(&fc);

    /* Only one bound file: reported, not silently ignored. */
    snprintf(path, sizeof path, "%s/lower.csv", dir);
    cdnopt_test_write_file(path, "id,F1,F2\nA,1,2\nB,3,4\n");
    assert_int_equal(cdnopt_m4_forecasts_read(dir, 2, &fc, err), CDNOPT_ENOTFOUND);
    cdnopt_assert_contains(err, "found lower.csv but not upper.csv");

    /* cdnopt m4 writes lower bounds below zero around small values. The reader used to
     * reject them, so m4 --score failed on m4's own files. */
    cdnopt_test_write_file(path, "id,F1,F2\nA,-1.5,2\nB,3,4\n");
    char upper[PATH_MAX + 32];
    snprintf(upper, sizeof upper, "%s/upper.csv", dir);
    cdnopt_test_write_file(upper, "id,F1,F2\nA,4,5\nB,6,7\n");
    snprintf(path, sizeof path, "%s/forecasts.csv", dir);
    cdnopt_test_write_file(path, "id,F1,F2\nA,1,2\nB,3,4\n");
    assert_int_equal(cdnopt_m4_forecasts_read(dir, 2, &fc, err), CDNOPT_OK);
    assert_near(fc.lower->values[0][0], -1.5, 0.0);
    cdnopt_m4_forecasts_fini(&fc);
    snprintf(path, sizeof path, "%s/lower.csv", dir);
    cdnopt_test_write_file(path, "id,F1,F2\nA,-2e18,2\nB,3,4\n");
    assert_int_equal(cdnopt_m4_forecasts_read(dir, 2, &fc, err), CDNOPT_ENUMERIC);
    cdnopt_assert_contains(err, "lower.csv:2: series A: field 2 is '-2e18'; forecasts must lie in");

    cdnopt_m4_set_free(train);
    cdnopt_m4_set_free(test);
}

static void m4_read_survives_alloc_failure(void **state)
{
    (void)state;
    char path[PATH_MAX], err[CDNOPT_ERRMSG_MAX] = "";
    scratch_file(path, sizeof path, "train.csv", "V1,V2,V3,V4\nH1,1,2,3\nH2,4,5,\nH3,6,,\n");
    long live = cdnopt_alloc_live_blocks();

    /* Fail the 1st, 2nd, ... allocation until a read gets through: each failure must
     * return ENOMEM with nothing allocated left behind. */
    int failures = 0;
    for (long nth = 1; nth < 200; nth++) {
        cdnopt_alloc_fail_after(nth, false);
        cdnopt_m4_set *set = NULL;
        int rc = cdnopt_m4_read(path, &set, err);
        cdnopt_alloc_fail_after(0, false);
        if (rc == CDNOPT_OK) {
            assert_int_equal(set->n_series, 3);
            cdnopt_m4_set_free(set);
            break;
        }
        assert_int_equal(rc, CDNOPT_ENOMEM);
        assert_null(set);
        assert_int_equal(cdnopt_alloc_live_blocks(), live);
        failures++;
    }
    assert_true(failures > 5);
    assert_int_equal(cdnopt_alloc_live_blocks(), live);
}

static void m4_forecast_survives_alloc_failure(void **state)
{
    (void)state;
    char dir[PATH_MAX], err[CDNOPT_ERRMSG_MAX] = "";
    cdnopt_m4_set *train = NULL, *test = NULL;
    tiny_sets(&train, &test, dir, sizeof dir);
    long live = cdnopt_alloc_live_blocks();

    cdnopt_baseline_params p = cdnopt_baseline_params_default();
    p.method = CDNOPT_BASELINE_NAIVE2;
    p.period = 2;
    int failures = 0;
    for (long nth = 1; nth < 500; nth++) {
        cdnopt_alloc_fail_after(nth, false);
        cdnopt_m4_forecasts fc;
        cdnopt_m4_summary s;
        int rc = cdnopt_m4_forecast(train, 2, cdnopt_m4_baseline_method, &p, &fc, err);
        if (rc == CDNOPT_OK) {
            rc = cdnopt_m4_score(train, test, &fc, 2, 0.95, &s, err);
            cdnopt_m4_forecasts_fini(&fc);
        }
        cdnopt_alloc_fail_after(0, false);
        if (rc == CDNOPT_OK)
            break;
        assert_int_equal(rc, CDNOPT_ENOMEM);
        assert_int_equal(cdnopt_alloc_live_blocks(), live);
        failures++;
    }
    assert_true(failures > 5);
    assert_int_equal(cdnopt_alloc_live_blocks(), live);
    cdnopt_m4_set_free(train);
    cdnopt_m4_set_free(test);
}

/* ------------------------------------------------------------------------- */
/* M4 Hourly reproduction                                                    */
/* ------------------------------------------------------------------------- */

static void score_method(const cdnopt_m4_set *train, const cdnopt_m4_set *test,
                         enum cdnopt_baseline_method method, cdnopt_m4_summary *s)
{
    cdnopt_baseline_params p = cdnopt_baseline_params_default();
    p.method = method;
    p.period = 24;
    cdnopt_m4_forecasts fc;
    char err[CDNOPT_ERRMSG_MAX] = "";
    int rc = cdnopt_m4_forecast(train, 48, cdnopt_m4_baseline_method, &p, &fc, err);
    if (rc == CDNOPT_OK)
        rc = cdnopt_m4_score(train, test, &fc, 24, 0.95, s, err);
    if (rc != CDNOPT_OK)
        fail_msg("%s", err);
    cdnopt_m4_forecasts_fini(&fc);
}

static void m4_hourly_benchmarks(void **state)
{
    (void)state;
    char path[PATH_MAX], err[CDNOPT_ERRMSG_MAX] = "";
    cdnopt_test_shared_path(path, sizeof path, "data/m4-hourly/Hourly-train.csv");
    cdnopt_m4_set *full = NULL, *train = NULL, *test = NULL;
    if (cdnopt_m4_read(path, &full, err) != CDNOPT_OK)
        fail_msg("%s", err);
    assert_int_equal(full->n_series, 414);
    assert_int_equal(cdnopt_m4_split(full, 48, &train, &test, err), CDNOPT_OK);

    /* Figures of the competition's own scripts on this split, to three decimals. */
    cdnopt_m4_summary s;
    score_method(train, test, CDNOPT_BASELINE_NAIVE, &s);
    assert_near(s.smape, 41.399, 5e-4);
    assert_near(s.mase, 11.532, 5e-4);
    assert_int_equal(s.n_seasonal, 413);

    score_method(train, test, CDNOPT_BASELINE_SNAIVE, &s);
    assert_near(s.smape, 14.570, 5e-4);
    assert_near(s.mase, 1.228, 5e-4);

    score_method(train, test, CDNOPT_BASELINE_NAIVE2, &s);
    assert_near(s.smape, 19.225, 5e-4);
    assert_near(s.mase, 2.455, 5e-4);
    assert_near(s.owa, 1.0, 1e-12);

    cdnopt_m4_set_free(full);
    cdnopt_m4_set_free(train);
    cdnopt_m4_set_free(test);
}

/* ------------------------------------------------------------------------- */
/* Command line                                                              */
/* ------------------------------------------------------------------------- */

/* Run `cdnopt m4 ARGS` with output into log; returns the exit status. */
static int run_cli(const char *args, const char *log)
{
    const char *build = getenv("CDNOPT_BUILD_DIR");
    if (build == NULL)
        fail_msg("CDNOPT_BUILD_DIR is not set; run the suite through ctest");
    char command[3 * PATH_MAX];
    snprintf(command, sizeof command, "'%s/bin/cdnopt' m4 %s > '%s' 2>&1", build, args, log);
    int status = system(command);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static char *read_log(const char *path)
{
    static char text[8192];
    FILE *file = fopen(path, "r");
    assert_non_null(file);
    size_t n = fread(text, 1, sizeof text - 1, file);
    text[n] = '\0';
    fclose(file);
    return text;
}

/* Method flags that the chosen method, or --score, does not read used to be parsed and
 * then ignored without a word, so tuning them changed nothing. */
static void m4_cli_rejects_unread_flags(void **state)
{
    (void)state;
    char dir[PATH_MAX / 4], log[PATH_MAX / 2], args[2 * PATH_MAX];
    cdnopt_test_scratch_dir(dir, sizeof dir, "m4cli-unread");
    snprintf(log, sizeof log, "%s/log.txt", dir);
    static const struct {
        const char *flags;
        const char *message;
    } cases[] = {
        {"--method naive2 --hw-one-step", "--hw-one-step is read only by --method hw and "
                                          "hw-damped, not naive2"},
        {"--method theta --epochs 3", "--epochs is read only by --method residual-lstm, "
                                      "transformer and global-mlp, not theta"},
        {"--method global-mlp --window 48", "--window is read only by --method residual-lstm "
                                            "and transformer, not global-mlp"},
        {"--method residual-lstm --members 3", "--members is read only by --method global-mlp, "
                                               "not residual-lstm"},
        {"--score --test t.csv --method theta", "--method is not read by --score"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(args, sizeof args, "--train a.csv --out '%s/out' %s", dir, cases[i].flags);
        assert_int_equal(run_cli(args, log), 2);
        cdnopt_assert_contains(read_log(log), cases[i].message);
    }
}

static void m4_cli_validation_and_score(void **state)
{
    (void)state;
    char dir[PATH_MAX / 4], train[PATH_MAX / 2], log[PATH_MAX / 2], args[2 * PATH_MAX];
    cdnopt_test_scratch_dir(dir, sizeof dir, "m4cli");
    snprintf(train, sizeof train, "%s/train.csv", dir);
    snprintf(log, sizeof log, "%s/log.txt", dir);
    cdnopt_test_write_file(train, "V1,V2,V3,V4,V5,V6,V7,V8,V9,V10,V11\n"
                                  "A,1,3,1,3,2,4,2,4,3,4\nB,2,2,3,3,4,4,5,5,6,6\n");

    /* Validation writes the folder and prints the same sNaive figures as the library. */
    snprintf(args, sizeof args, "--train '%s' --out '%s/out' --method snaive --validation "
             "--horizon 2 --period 2", train, dir);
    assert_int_equal(run_cli(args, log), 0);
    cdnopt_assert_contains(read_log(log), "snaive         2    19.091    1.250");

    /* Scoring the folder against its own held-out file reproduces the table. */
    snprintf(args, sizeof args, "--score --train '%s/out/train.csv' --test '%s/out/test.csv' "
             "--period 2 '%s/out'", dir, dir, dir);
    assert_int_equal(run_cli(args, log), 0);
    cdnopt_assert_contains(read_log(log), "19.091    1.250");
    cdnopt_assert_contains(read_log(log), "folder    series");

    /* Usage errors exit with 2 and name the value. */
    snprintf(args, sizeof args, "--train '%s' --out '%s/x' --method arima", train, dir);
    assert_int_equal(run_cli(args, log), 2);
    cdnopt_assert_contains(read_log(log), "unknown method 'arima'; choose one of naive");
    assert_int_equal(run_cli("--train a.csv --out b --horizon 0", log), 2);
    cdnopt_assert_contains(read_log(log), "--horizon: invalid value '0'");

    /* A wrong horizon in the folder is a failure naming the file, line and id. */
    snprintf(args, sizeof args, "--score --train '%s/out/train.csv' --test '%s' '%s/out'", dir,
             train, dir);
    assert_int_equal(run_cli(args, log), 1);
    cdnopt_assert_contains(read_log(log), "has 2 forecasts; the horizon is 10");

    /* --validation into the folder that contains --train would replace the training
     * series with shortened copies, so it is rejected before any work. */
    snprintf(args, sizeof args, "--train '%s' --out '%s' --method snaive --validation "
             "--horizon 2 --period 2", train, dir);
    assert_int_equal(run_cli(args, log), 2);
    cdnopt_assert_contains(read_log(log), "would overwrite --train");
    cdnopt_assert_contains(read_log(log), "choose another --out folder");
    FILE *kept = fopen(train, "r");
    assert_non_null(kept);
    char first_row[64] = "";
    assert_non_null(fgets(first_row, sizeof first_row, kept));
    assert_non_null(fgets(first_row, sizeof first_row, kept));
    fclose(kept);
    assert_string_equal(first_row, "A,1,3,1,3,2,4,2,4,3,4\n");
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(m4_read_quoted_padded),
    cmocka_unit_test(m4_read_errors_name_line),
    cmocka_unit_test(m4_read_rejects_nul_byte),
    cmocka_unit_test(m4_read_names_bare_cr),
    cmocka_unit_test(m4_read_clips_long_field),
    cmocka_unit_test(m4_write_read_round_trip),
    cmocka_unit_test(m4_score_hand_case),
    cmocka_unit_test(m4_score_rejects_mismatch),
    cmocka_unit_test(m4_read_survives_alloc_failure),
    cmocka_unit_test(m4_forecast_survives_alloc_failure),
    cmocka_unit_test(m4_hourly_benchmarks),
    cmocka_unit_test(m4_cli_validation_and_score),
    cmocka_unit_test(m4_cli_rejects_unread_flags),
};

CDNOPT_TEST_MAIN("m4", tests)
