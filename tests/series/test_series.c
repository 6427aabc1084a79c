/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reader, writer, transforms and civil-time cases of the series module. Files
 * under tests/data/series/ hold one defect each; the real series come from the
 * shared data folder.
 */
#include "cdnopt/core.h"
#include "cdnopt/series.h"
#include "series_tests.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DATA_DIR "tests/data/series/"

static int64_t civil(const char *text)
{
    int64_t t = 0;
    char err[CDNOPT_ERRMSG_MAX];
    if (cdnopt_civil_parse(text, &t, err) != CDNOPT_OK)
        fail_msg("%s", err);
    return t;
}

/* Read a file that must fail with code, and return the message in err. */
static void read_fails(const char *path, const cdnopt_series_read_params *params, int code,
                       char *err)
{
    long live = cdnopt_alloc_live_blocks();
    cdnopt_series *s = NULL;
    assert_int_equal(cdnopt_series_read_csv(path, params, &s, NULL, err), code);
    assert_null(s);
    assert_int_equal(cdnopt_alloc_live_blocks(), live);
}

static cdnopt_series *read_ok(const char *path, const cdnopt_series_read_params *params,
                              cdnopt_series_read_report *report)
{
    cdnopt_series *s = NULL;
    char err[CDNOPT_ERRMSG_MAX] = "";
    int rc = cdnopt_series_read_csv(path, params, &s, report, err);
    if (rc != CDNOPT_OK)
        fail_msg("reading %s failed: %s", path, err);
    return s;
}

/* ---- Shared data files ------------------------------------------------------ */

static void read_uk_5min_row_count(void **state)
{
    (void)state;
    char path[512];
    cdnopt_test_shared_path(path, sizeof path, "data/isp-uk-ukerna/uk_ukerna_5min.csv");
    cdnopt_series_read_params params = cdnopt_series_read_params_default();
    params.unit = CDNOPT_UNIT_RAW;
    cdnopt_series_read_report report;
    cdnopt_series *s = read_ok(path, &params, &report);

    assert_int_equal(s->n, 14862);
    assert_int_equal(report.n_rows, 14862);
    assert_int_equal(s->step_s, 300);
    assert_true(report.has_header);
    assert_int_equal(s->t[0], civil("2004-11-19 09:30:00"));
    assert_int_equal(s->t[s->n - 1], civil("2005-01-09 23:55:00"));
    assert_close(s->v[0], 4838.665, 1e-9);
    assert_close(s->v[s->n - 1], 3469.266, 1e-9);
    assert_string_equal(s->name, "value");
    cdnopt_series_free(s);
}

static void read_ec2_gaps_rejected(void **state)
{
    (void)state;
    char path[512], err[CDNOPT_ERRMSG_MAX];
    cdnopt_test_shared_path(path, sizeof path, "data/aws-ec2-nab/ec2_network_in_257a54.csv");
    cdnopt_series_read_params params = cdnopt_series_read_params_default();
    params.unit = CDNOPT_UNIT_BYTES_PER_INTERVAL;
    read_fails(path, &params, CDNOPT_EPARSE, err);
    cdnopt_assert_contains(err, "ec2_network_in_257a54.csv:40:");
    cdnopt_assert_contains(err, "gap of 300 s (1 missing sample of 300 s)");
    cdnopt_assert_contains(err, "2014-04-10 03:09:00 (line 39)");
    cdnopt_assert_contains(err, "--fill-gaps linear");
}

static void read_ec2_gaps_filled(void **state)
{
    (void)state;
    char path[512];
    cdnopt_test_shared_path(path, sizeof path, "data/aws-ec2-nab/ec2_network_in_257a54.csv");
    cdnopt_series_read_params params = cdnopt_series_read_params_default();
    params.unit = CDNOPT_UNIT_BYTES_PER_INTERVAL;
    params.fill_gaps = CDNOPT_FILL_LINEAR;
    params.max_gap_s = 300;
    cdnopt_series_read_report report;
    cdnopt_series *s = read_ok(path, &params, &report);

    assert_int_equal(s->n, 4034);
    assert_int_equal(report.n_gaps_filled, 2);
    assert_int_equal(report.n_samples_filled, 2);
    assert_int_equal(report.first_gap_line, 40);

    /* 251643 bytes in 300 s is 251643 * 8 / 300 bit/s. */
    assert_close(s->v[0], 251643.0 * 8.0 / 300.0 / 1e9, 1e-15);
    /* Line 39 (03:09) is index 37; the filled 03:14 sample is the midpoint to 03:19. */
    assert_int_equal(s->t[38], civil("2014-04-10 03:14:00"));
    double expected = (3227830.0 + 256906.0) / 2.0 * 8.0 / 300.0 / 1e9;
    assert_close(s->v[38], expected, 1e-15);

    char line[256];
    cdnopt_series_read_report_format(&report, line, sizeof line);
    cdnopt_assert_contains(line, "gaps_filled=2 samples_filled=2 first_gap_line=40");
    cdnopt_series_free(s);
}

static void read_eu_quoted_header(void **state)
{
    (void)state;
    char path[512];
    cdnopt_test_shared_path(path, sizeof path, "data/isp-eu-cortez/eu_isp_5min_bits.csv");
    cdnopt_series_read_params params = cdnopt_series_read_params_default();
    params.unit = CDNOPT_UNIT_BITS_PER_INTERVAL;
    params.value_column = "Internet traffic data (in bits)";
    cdnopt_series *s = read_ok(path, &params, NULL);

    assert_int_equal(s->n, 14772);
    assert_string_equal(s->name, "Internet traffic data (in bits)");
    assert_int_equal(s->t[0], civil("2005-06-07 07:00:00"));
    assert_close(s->v[0], 3562279127.0 / 300.0 / 1e9, 1e-15);
    cdnopt_series_free(s);
}

/* Each value of the hourly EU file is the sum of the 5-minute file's twelve values in that hour. */
static void resample_eu_matches_hourly(void **state)
{
    (void)state;
    char path5[512], path60[512];
    cdnopt_test_shared_path(path5, sizeof path5, "data/isp-eu-cortez/eu_isp_5min_bits.csv");
    cdnopt_test_shared_path(path60, sizeof path60, "data/isp-eu-cortez/eu_isp_hourly_bits.csv");
    cdnopt_series_read_params params = cdnopt_series_read_params_default();
    params.unit = CDNOPT_UNIT_RAW;
    cdnopt_series *five = read_ok(path5, &params, NULL);
    cdnopt_series *hourly = read_ok(path60, &params, NULL);

    cdnopt_series *sum = NULL;
    char err[CDNOPT_ERRMSG_MAX];
    assert_int_equal(cdnopt_series_resample(five, 3600, CDNOPT_RESAMPLE_SUM, &sum, err),
                     CDNOPT_OK);
    assert_int_equal(sum->n, 1231);
    assert_int_equal(sum->n, hourly->n);
    assert_int_equal(sum->t[0], hourly->t[0]);
    for (size_t i = 0; i < sum->n; i++)
        assert_close(sum->v[i], hourly->v[i], 1e-3);

    cdnopt_series_free(sum);
    cdnopt_series_free(five);
    cdnopt_series_free(hourly);
}

static void read_m4_wide(void **state)
{
    (void)state;
    char path[512], err[CDNOPT_ERRMSG_MAX] = "";
    cdnopt_test_shared_path(path, sizeof path, "data/m4-hourly/Hourly-train.csv");
    cdnopt_series **all = NULL;
    size_t n = 0;
    int rc = cdnopt_series_read_wide_csv(path, 0, &all, &n, err);
    if (rc != CDNOPT_OK)
        fail_msg("%s", err);

    assert_int_equal(n, 414);
    size_t n700 = 0, n960 = 0;
    for (size_t i = 0; i < n; i++) {
        n700 += all[i]->n == 700;
        n960 += all[i]->n == 960;
        assert_int_equal(all[i]->step_s, 3600);
    }
    assert_int_equal(n700, 169);
    assert_int_equal(n960, 245);
    assert_string_equal(all[0]->name, "H1");
    assert_string_equal(all[413]->name, "H414");
    assert_close(all[0]->v[0], 605.0, 0.0);
    assert_close(all[0]->v[1], 586.0, 0.0);
    assert_int_equal(all[0]->t[0], 0);
    assert_int_equal(all[0]->t[2], 7200);
    cdnopt_series_array_free(all, n);
}

/* ---- Validation: one defect per file ------------------------------------------ */

static void unsorted_names_line(void **state)
{
    (void)state;
    char err[CDNOPT_ERRMSG_MAX];
    read_fails(DATA_DIR "unsorted.csv", NULL, CDNOPT_EPARSE, err);
    cdnopt_assert_contains(err, "unsorted.csv:5:");
    cdnopt_assert_contains(err, "2024-03-01 00:10:00 is earlier than 2024-03-01 00:15:00");
    cdnopt_assert_contains(err, "sort the file");
}

/* Local times that go back 55 minutes, as at a daylight-saving change, get the hint
 * about offsets rather than only the advice to sort. */
static void clock_back_hints_offsets(void **state)
{
    (void)state;
    char dir[512], path[600], err[CDNOPT_ERRMSG_MAX];
    cdnopt_test_scratch_dir(dir, sizeof dir, "series-clock-back");
    snprintf(path, sizeof path, "%s/back.csv", dir);
    cdnopt_test_write_file(path, "time,gbps\n2024-10-27 01:50:00,1\n2024-10-27 01:55:00,1\n"
                                 "2024-10-27 01:00:00,1\n");
    read_fails(path, NULL, CDNOPT_EPARSE, err);
    cdnopt_assert_contains(err, "back.csv:4: timestamp 2024-10-27 01:00:00 is earlier");
    cdnopt_assert_contains(err, "daylight-saving change");
    cdnopt_assert_contains(err, "UTC offset");
}

static void duplicate_names_line(void **state)
{
    (void)state;
    char err[CDNOPT_ERRMSG_MAX];
    read_fails(DATA_DIR "duplicate.csv", NULL, CDNOPT_EPARSE, err);
    cdnopt_assert_contains(err, "duplicate.csv:4:");
    cdnopt_assert_contains(err, "duplicate timestamp 2024-03-01 00:05:00 (first at line 3)");
    cdnopt_assert_contains(err, "--duplicates keep-last or --duplicates mean");
}

/* Line parsing stops at a NUL, so without this check the rows after it vanish. */
static void nul_byte_rejected(void **state)
{
    (void)state;
    char err[CDNOPT_ERRMSG_MAX];
    read_fails(DATA_DIR "nul_byte.csv", NULL, CDNOPT_EPARSE, err);
    cdnopt_assert_contains(err, "nul_byte.csv:4: contains a NUL byte at byte offset 61");
    cdnopt_assert_contains(err, "the file is binary or corrupt");
}

static void gap_names_line(void **state)
{
    (void)state;
    char err[CDNOPT_ERRMSG_MAX];
    read_fails(DATA_DIR "gap.csv", NULL, CDNOPT_EPARSE, err);
    cdnopt_assert_contains(err, "gap.csv:5:");
    cdnopt_assert_contains(err, "gap of 600 s (2 missing samples of 300 s)");
    cdnopt_assert_contains(err, "--fill-gaps linear or --fill-gaps previous");
    cdnopt_assert_contains(err, "2024-03-01 00:10:00 (line 4)");
}

static void gap_longer_than_max(void **state)
{
    (void)state;
    char err[CDNOPT_ERRMSG_MAX];
    cdnopt_series_read_params params = cdnopt_series_read_params_default();
    params.fill_gaps = CDNOPT_FILL_LINEAR;
    params.max_gap_s = 300;
    read_fails(DATA_DIR "gap.csv", &params, CDNOPT_EPARSE, err);
    cdnopt_assert_contains(err, "gap.csv:5:");
    /* The same gap size as without a limit (gap_names_line), then the limit as typed. */
    cdnopt_assert_contains(err, "gap of 600 s (2 missing samples of 300 s)");
    cdnopt_assert_contains(err, "is longer than --max-gap 5m (300 s)");
    cdnopt_assert_contains(err, "raise --max-gap");
}

static void gap_filled_linear_and_previous(void **state)
{
    (void)state;
    cdnopt_series_read_params params = cdnopt_series_read_params_default();
    params.fill_gaps = CDNOPT_FILL_LINEAR;
    params.max_gap_s = 600;
    cdnopt_series_read_report report;
    cdnopt_series *s = read_ok(DATA_DIR "gap.csv", &params, &report);
    /* 12 at 00:10 and 18 at 00:25: the line gives 14 and 16 in between. */
    double linear[] = {10, 11, 12, 14, 16, 18, 19};
    assert_int_equal(s->n, 7);
    for (size_t i = 0; i < s->n; i++)
        assert_close(s->v[i], linear[i], 1e-12);
    assert_int_equal(s->t[3], civil("2024-03-01 00:15:00"));
    assert_int_equal(report.n_gaps_filled, 1);
    assert_int_equal(report.n_samples_filled, 2);
    assert_int_equal(report.first_gap_line, 5);
    cdnopt_series_free(s);

    params.fill_gaps = CDNOPT_FILL_PREVIOUS;
    s = read_ok(DATA_DIR "gap.csv", &params, NULL);
    double previous[] = {10, 11, 12, 12, 12, 18, 19};
    for (size_t i = 0; i < s->n; i++)
        assert_close(s->v[i], previous[i], 0.0);
    cdnopt_series_free(s);
}

static void irregular_names_line(void **state)
{
    (void)state;
    char err[CDNOPT_ERRMSG_MAX];
    read_fails(DATA_DIR "irregular.csv", NULL, CDNOPT_EPARSE, err);
    cdnopt_assert_contains(err, "irregular.csv:5:");
    cdnopt_assert_contains(err, "2024-03-01 00:17:00 is 420 s after 2024-03-01 00:10:00");
    cdnopt_assert_contains(err, "off the 300 s grid");
}

static void nan_names_line(void **state)
{
    (void)state;
    char err[CDNOPT_ERRMSG_MAX];
    read_fails(DATA_DIR "nan.csv", NULL, CDNOPT_ENUMERIC, err);
    cdnopt_assert_contains(err, "nan.csv:3:");
    cdnopt_assert_contains(err, "value 'NaN' at 2024-03-01 00:05:00");
    cdnopt_assert_contains(err, "--drop-missing with --fill-gaps linear");
}

static void inf_names_line(void **state)
{
    (void)state;
    char err[CDNOPT_ERRMSG_MAX];
    read_fails(DATA_DIR "inf.csv", NULL, CDNOPT_ENUMERIC, err);
    cdnopt_assert_contains(err, "inf.csv:4:");
    cdnopt_assert_contains(err, "value 'inf'");
    cdnopt_assert_contains(err, "infinite");
}

/* 1e308 parses as a finite double but would overflow the normalising sums. */
static void huge_value_names_line(void **state)
{
    (void)state;
    char err[CDNOPT_ERRMSG_MAX];
    read_fails(DATA_DIR "huge.csv", NULL, CDNOPT_ENUMERIC, err);
    cdnopt_assert_contains(err, "huge.csv:3:");
    cdnopt_assert_contains(err, "value '1e308'");
    cdnopt_assert_contains(err, "beyond +-1e18");
}

/* The limit itself is still a value: 1e18 bit/s reads back as 1e9 Gbit/s. */
static void value_at_limit_is_read(void **state)
{
    (void)state;
    cdnopt_series_read_params params = cdnopt_series_read_params_default();
    params.unit = CDNOPT_UNIT_BPS;
    cdnopt_series *s = read_ok(DATA_DIR "large_ok.csv", &params, NULL);
    assert_int_equal(s->n, 2);
    assert_true(fabs(s->v[0] - 9.5e8) < 1e-6);
    assert_true(fabs(s->v[1] - 1e9) < 1e-6);
    cdnopt_series_free(s);
}

/* The limit is in bit/s whatever the unit: 2e9 Gbit/s is 2e18 bit/s. */
static void value_beyond_limit_in_gbps_names_line(void **state)
{
    (void)state;
    char err[CDNOPT_ERRMSG_MAX];
    read_fails(DATA_DIR "huge_gbps.csv", NULL, CDNOPT_ENUMERIC, err);
    cdnopt_assert_contains(err, "huge_gbps.csv:3:");
    cdnopt_assert_contains(err, "value '2e9' at 2024-03-01 00:05:00 is beyond 1e+09 gbit/s");
    cdnopt_assert_contains(err, "--unit");
}

/* RFC 4180 fields, checked by hand: plain text stays, a comma or quote gets quotes
 * with inner quotes doubled, and a short buffer keeps a NUL-terminated prefix. */
static void csv_field_quotes_when_needed(void **state)
{
    (void)state;
    char out[32];
    assert_int_equal(cdnopt_csv_field(out, sizeof out, "fra"), 3);
    assert_string_equal(out, "fra");
    assert_int_equal(cdnopt_csv_field(out, sizeof out, "x,y"), 5);
    assert_string_equal(out, "\"x,y\"");
    assert_int_equal(cdnopt_csv_field(out, sizeof out, "say \"hi\""), 12);
    assert_string_equal(out, "\"say \"\"hi\"\"\"");
    assert_int_equal(cdnopt_csv_field(out, sizeof out, "a\nb"), 5);
    assert_string_equal(out, "\"a\nb\"");
    assert_int_equal(cdnopt_csv_field(out, 4, "x,y"), 5);
    assert_string_equal(out, "\"x,");
    assert_int_equal(cdnopt_csv_field(out, sizeof out, ""), 0);
    assert_string_equal(out, "");
}

static void negative_names_line(void **state)
{
    (void)state;
    char err[CDNOPT_ERRMSG_MAX];
    read_fails(DATA_DIR "negative.csv", NULL, CDNOPT_ENUMERIC, err);
    cdnopt_assert_contains(err, "negative.csv:4:");
    cdnopt_assert_contains(err, "negative value '-4.5' at 2024-03-01 00:10:00");
}

static void non_numeric_names_line(void **state)
{
    (void)state;
    char err[CDNOPT_ERRMSG_MAX];
    read_fails(DATA_DIR "non_numeric.csv", NULL, CDNOPT_EPARSE, err);
    cdnopt_assert_contains(err, "non_numeric.csv:4:");
    cdnopt_assert_contains(err, "non-numeric value '12 Gb' in column 2 ('gbps')");
}

static void empty_file_rejected(void **state)
{
    (void)state;
    char err[CDNOPT_ERRMSG_MAX];
    read_fails(DATA_DIR "empty.csv", NULL, CDNOPT_EPARSE, err);
    cdnopt_assert_contains(err, "empty.csv: empty file");
}

static void missing_column_names_line(void **state)
{
    (void)state;
    char err[CDNOPT_ERRMSG_MAX];
    read_fails(DATA_DIR "missing_column.csv", NULL, CDNOPT_EPARSE, err);
    cdnopt_assert_contains(err, "missing_column.csv:3: missing column");
    cdnopt_assert_contains(err, "1 field(s)");

    cdnopt_series_read_params params = cdnopt_series_read_params_default();
    params.value_column = "bandwidth";
    read_fails(DATA_DIR "gap.csv", &params, CDNOPT_EPARSE, err);
    cdnopt_assert_contains(err, "gap.csv:1: missing column: no value column named 'bandwidth'");
    cdnopt_assert_contains(err, "'timestamp', 'gbps'");
}

/* "11,5" with a decimal comma used to read as 11, and the ",5" was lost. */
static void extra_field_rejected(void **state)
{
    (void)state;
    char err[CDNOPT_ERRMSG_MAX];
    read_fails(DATA_DIR "decimal_comma.csv", NULL, CDNOPT_EPARSE, err);
    cdnopt_assert_contains(err, "decimal_comma.csv:3: the row has 3 fields");
    cdnopt_assert_contains(err, "but the header has 2 (extra field '5')");
    cdnopt_assert_contains(err, "write 5.7 for 5,7");

    char dir[256], path[300];
    cdnopt_test_scratch_dir(dir, sizeof dir, "series-extra");
    snprintf(path, sizeof path, "%s/plain.csv", dir);
    cdnopt_test_write_file(path, "2024-03-01 00:00:00,5\n2024-03-01 01:00:00,6,25\n");
    read_fails(path, NULL, CDNOPT_EPARSE, err);
    cdnopt_assert_contains(err, "plain.csv:2: the row has 3 fields");
    cdnopt_assert_contains(err, "but the first row has 2 (extra field '25')");

    /* A trailing delimiter adds only empty fields, and the values stay whole. */
    cdnopt_test_write_file(path, "timestamp,gbps\n2024-03-01 00:00:00,10,\n"
                                 "2024-03-01 00:05:00,11.5, \n");
    cdnopt_series *s = read_ok(path, NULL, NULL);
    assert_int_equal(s->n, 2);
    assert_close(s->v[1], 11.5, 0.0);
    cdnopt_series_free(s);
    remove(path);
    remove(dir);
}

/* A --column name that matches two header fields was read from the first of them, and the
 * second was dropped without a word. Repeated names that no name selects stay allowed. */
static void column_named_twice_rejected(void **state)
{
    (void)state;
    char dir[512], path[600], err[CDNOPT_ERRMSG_MAX];
    cdnopt_test_scratch_dir(dir, sizeof dir, "series-column-twice");
    snprintf(path, sizeof path, "%s/twice.csv", dir);
    cdnopt_test_write_file(path, "time,gbps,note,note,Gbps\n"
                                 "2024-01-01 00:00:00,1,a,b,10\n"
                                 "2024-01-01 01:00:00,2,a,b,20\n"
                                 "2024-01-01 02:00:00,3,a,b,30\n");
    cdnopt_series_read_params params = cdnopt_series_read_params_default();
    params.value_column = "gbps";
    read_fails(path, &params, CDNOPT_EPARSE, err);
    cdnopt_assert_contains(err, "twice.csv:1: value column 'gbps' matches two header fields, "
                                "column 2 ('gbps') and column 5 ('Gbps')");

    params.value_column = NULL;
    params.time_column = "note";
    read_fails(path, &params, CDNOPT_EPARSE, err);
    cdnopt_assert_contains(err, "twice.csv:1: time column 'note' matches two header fields, "
                                "column 3 ('note') and column 4 ('note')");

    /* The repeated 'note' is not selected by default, so the file reads from column 2. */
    params = cdnopt_series_read_params_default();
    cdnopt_series *s = read_ok(path, &params, NULL);
    assert_int_equal(s->n, 3);
    assert_float_equal(s->v[2], 3.0, 0.0);
    cdnopt_series_free(s);
}

static void too_few_rows_rejected(void **state)
{
    (void)state;
    char err[CDNOPT_ERRMSG_MAX];
    read_fails(DATA_DIR "too_few_rows.csv", NULL, CDNOPT_EPARSE, err);
    cdnopt_assert_contains(err, "too_few_rows.csv: too few rows: 1 distinct timestamp(s)");

    cdnopt_series_read_params params = cdnopt_series_read_params_default();
    params.min_rows = 10;
    read_fails(DATA_DIR "gap.csv", &params, CDNOPT_EPARSE, err);
    cdnopt_assert_contains(err, "5 distinct timestamp(s) with values, at least 10 needed");
}

static void missing_value_names_line(void **state)
{
    (void)state;
    char err[CDNOPT_ERRMSG_MAX];
    read_fails(DATA_DIR "missing_value.csv", NULL, CDNOPT_EPARSE, err);
    cdnopt_assert_contains(err, "missing_value.csv:3: missing value in column 2 ('gbps')");
}

static void bad_timestamp_names_line(void **state)
{
    (void)state;
    char err[CDNOPT_ERRMSG_MAX];
    read_fails(DATA_DIR "bad_timestamp.csv", NULL, CDNOPT_EPARSE, err);
    cdnopt_assert_contains(err, "bad_timestamp.csv:3: invalid timestamp '2024-13-01 00:05:00'");
}

static void missing_file_rejected(void **state)
{
    (void)state;
    char err[CDNOPT_ERRMSG_MAX];
    read_fails(DATA_DIR "no-such-file.csv", NULL, CDNOPT_EIO, err);
    cdnopt_assert_contains(err, "cannot open tests/data/series/no-such-file.csv");
}

static void bad_params_rejected(void **state)
{
    (void)state;
    char err[CDNOPT_ERRMSG_MAX];
    cdnopt_series_read_params params = cdnopt_series_read_params_default();
    params.drop_missing = true;
    read_fails(DATA_DIR "gap.csv", &params, CDNOPT_EINVAL, err);
    cdnopt_assert_contains(err, "add --fill-gaps linear or --fill-gaps previous");

    params = cdnopt_series_read_params_default();
    params.tz = "Mars/Olympus";
    read_fails(DATA_DIR "gap.csv", &params, CDNOPT_EINVAL, err);
    cdnopt_assert_contains(err, "unknown time zone 'Mars/Olympus'");
}

/* A gap limit without gap filling would otherwise be ignored without a word. */
static void max_gap_needs_fill_gaps(void **state)
{
    (void)state;
    char err[CDNOPT_ERRMSG_MAX];
    cdnopt_series_read_params params = cdnopt_series_read_params_default();
    params.max_gap_s = 3600;
    read_fails(DATA_DIR "gap.csv", &params, CDNOPT_EINVAL, err);
    cdnopt_assert_contains(err, "--max-gap 1h limits the gaps that --fill-gaps fills");
    cdnopt_assert_contains(err, "add --fill-gaps linear or --fill-gaps previous");

    params.fill_gaps = CDNOPT_FILL_LINEAR;
    cdnopt_series_read_report report;
    cdnopt_series *s = read_ok(DATA_DIR "gap.csv", &params, &report);
    assert_int_equal(report.n_gaps_filled, 1);
    cdnopt_series_free(s);
}

/* A long field in an error used to fill the whole message, so the advice after it was
 * cut off. The field is now clipped to 40 bytes. */
static void long_field_keeps_advice(void **state)
{
    (void)state;
    char dir[256], path[300], err[CDNOPT_ERRMSG_MAX];
    cdnopt_test_scratch_dir(dir, sizeof dir, "series-long-field");
    snprintf(path, sizeof path, "%s/long.csv", dir);
    static char text[2400];
    char run[1001];
    memset(run, '7', 1000);
    run[1000] = '\0';
    const char *first_rows = "timestamp,gbps\n2024-03-01 00:00:00,1\n";

    snprintf(text, sizeof text, "%s2024-03-01 00:05:00,x%s\n", first_rows, run);
    cdnopt_test_write_file(path, text);
    read_fails(path, NULL, CDNOPT_EPARSE, err);
    cdnopt_assert_contains(err, "non-numeric value 'x777777777777777777777777777777777777777...'");
    cdnopt_assert_contains(err, "or choose another value column with --column NAME");

    snprintf(text, sizeof text, "%s2024-03-01 00:05:00,%s\n", first_rows, run);
    cdnopt_test_write_file(path, text);
    read_fails(path, NULL, CDNOPT_ENUMERIC, err);
    cdnopt_assert_contains(err, "value '7777777777777777777777777777777777777777...' at "
                                "2024-03-01 00:05:00");
    cdnopt_assert_contains(err, "or check the value column and its unit");

    snprintf(text, sizeof text, "%s2024-03-01 %s,2\n", first_rows, run);
    cdnopt_test_write_file(path, text);
    read_fails(path, NULL, CDNOPT_EPARSE, err);
    cdnopt_assert_contains(err, "long.csv:3: invalid timestamp '2024-03-01 "
                                "77777777777777777777777777777...' in column 1");
    cdnopt_assert_contains(err, "or 10-digit Unix seconds");
    remove(path);
    remove(dir);
}

/* A quoted field is clipped between characters and its control bytes are escaped, so
 * the message stays valid UTF-8 and moves no terminal cursor. */
static void message_quotes_field_safely(void **state)
{
    (void)state;
    char dir[256], path[300], err[CDNOPT_ERRMSG_MAX];
    cdnopt_test_scratch_dir(dir, sizeof dir, "series-quoted-field");
    snprintf(path, sizeof path, "%s/quoted.csv", dir);

    /* 20 characters of 3 bytes: the 40-byte limit falls inside the 14th. */
    cdnopt_test_write_file(path, "timestamp,gbps\n2024-03-01 00:00:00,1\n"
                                 "2024-03-01 00:05:00,北京上海广州深圳杭州南京成都重庆武汉西安\n");
    read_fails(path, NULL, CDNOPT_EPARSE, err);
    cdnopt_assert_contains(err, "quoted.csv:3: non-numeric value '北京上海广州深圳杭州南京成...' "
                                "in column 2 ('gbps')");

    cdnopt_test_write_file(path, "timestamp,gbps\n2024-03-01 00:00:00,1\n"
                                 "2024-03-01 00:05:00\x1b[2J,2\n");
    read_fails(path, NULL, CDNOPT_EPARSE, err);
    cdnopt_assert_contains(err, "quoted.csv:3: invalid timestamp '2024-03-01 00:05:00\\x1B[2J' "
                                "in column 1");
    remove(path);
    remove(dir);
}

/* A file with classic Mac OS line ends used to read as one header line and fail with
 * "no data rows". */
static void bare_cr_line_ends_named(void **state)
{
    (void)state;
    char dir[256], path[300], err[CDNOPT_ERRMSG_MAX];
    cdnopt_test_scratch_dir(dir, sizeof dir, "series-bare-cr");
    snprintf(path, sizeof path, "%s/mac.csv", dir);
    cdnopt_test_write_file(path, "timestamp,gbps\r2024-03-01 00:00:00,1\r2024-03-01 00:05:00,2\r");
    read_fails(path, NULL, CDNOPT_EPARSE, err);
    cdnopt_assert_contains(err, "mac.csv: lines end in a bare CR");
    cdnopt_assert_contains(err, "convert the line ends to LF or CRLF");

    /* CRLF line ends read as before. */
    cdnopt_test_write_file(path, "timestamp,gbps\r\n2024-03-01 00:00:00,1\r\n"
                                 "2024-03-01 00:05:00,2\r\n");
    cdnopt_series *s = read_ok(path, NULL, NULL);
    assert_int_equal(s->n, 2);
    assert_close(s->v[1], 2.0, 0.0);
    cdnopt_series_free(s);
    remove(path);
    remove(dir);
}

/* A spreadsheet set to a European locale writes "620,7" in a ';'-separated file. The
 * error used to suggest another value column; it now names the decimal comma. The value
 * is not read as 620.7, because "1,234" could equally be a thousands separator. */
static void decimal_comma_value_named(void **state)
{
    (void)state;
    char dir[256], path[300], err[CDNOPT_ERRMSG_MAX];
    cdnopt_test_scratch_dir(dir, sizeof dir, "series-decimal-comma");
    snprintf(path, sizeof path, "%s/semicolon.csv", dir);
    cdnopt_test_write_file(path, "timestamp;gbps\n2024-03-01 00:00:00;620,7\n"
                                 "2024-03-01 00:05:00;621,5\n");
    read_fails(path, NULL, CDNOPT_EPARSE, err);
    cdnopt_assert_contains(err, "semicolon.csv:2: value '620,7' in column 2 ('gbps')");
    cdnopt_assert_contains(err, "has a decimal comma; write 620.7 with a decimal point");

    /* A text value keeps the advice to choose another column. */
    cdnopt_test_write_file(path, "timestamp;gbps\n2024-03-01 00:00:00;high\n");
    read_fails(path, NULL, CDNOPT_EPARSE, err);
    cdnopt_assert_contains(err, "or choose another value column with --column NAME");
    remove(path);
    remove(dir);
}

/* A fixed offset out of range, or with one hour digit, used to be looked up as a zone
 * file and reported as an unknown zone, with UTC+01:00 given as the fix. */
static void bad_fixed_offset_named(void **state)
{
    (void)state;
    char err[CDNOPT_ERRMSG_MAX];
    static const char *const zones[] = {"UTC+25:00", "UTC+1", "UTC-05:60"};
    for (size_t i = 0; i < sizeof zones / sizeof zones[0]; i++) {
        cdnopt_series_read_params params = cdnopt_series_read_params_default();
        params.tz = zones[i];
        read_fails(DATA_DIR "gap.csv", &params, CDNOPT_EINVAL, err);
        char text[64];
        snprintf(text, sizeof text, "invalid fixed offset '%s'", zones[i]);
        cdnopt_assert_contains(err, text);
        cdnopt_assert_contains(err, "hours from 00 to 23");
    }
}

/* The wide reader's errors used to quote a long field whole, so the advice after it was
 * cut off. */
static void wide_long_field_keeps_advice(void **state)
{
    (void)state;
    char dir[256], path[300], err[CDNOPT_ERRMSG_MAX];
    cdnopt_test_scratch_dir(dir, sizeof dir, "series-wide-long");
    snprintf(path, sizeof path, "%s/wide.csv", dir);
    static char text[1100];
    char run[1001];
    memset(run, '7', 1000);
    run[1000] = '\0';
    snprintf(text, sizeof text, "id,V1,V2\nS1,1,x%s\n", run);
    cdnopt_test_write_file(path, text);
    cdnopt_series **all = NULL;
    size_t n = 0;
    assert_int_equal(cdnopt_series_read_wide_csv(path, 0, &all, &n, err), CDNOPT_EPARSE);
    assert_null(all);
    cdnopt_assert_contains(err, "in column 3 of series 'S1'; fix the value");
    remove(path);
    remove(dir);
}

/* ---- Repairs ------------------------------------------------------------------ */

static void duplicates_keep_last_and_mean(void **state)
{
    (void)state;
    cdnopt_series_read_params params = cdnopt_series_read_params_default();
    params.duplicates = CDNOPT_DUPLICATES_KEEP_LAST;
    params.drop_missing = true;
    params.fill_gaps = CDNOPT_FILL_LINEAR;
    cdnopt_series_read_report report;
    cdnopt_series *s = read_ok(DATA_DIR "repairs.csv", &params, &report);

    /* Rows: 10, then 11/13/15 at 00:05, NA at 00:10 (dropped and filled), 20. */
    assert_int_equal(s->n, 4);
    assert_close(s->v[1], 15.0, 0.0);
    assert_close(s->v[2], 17.5, 1e-12);
    assert_int_equal(report.n_rows, 6);
    assert_int_equal(report.n_duplicates, 2);
    assert_int_equal(report.first_duplicate_line, 4);
    assert_int_equal(report.n_missing_dropped, 1);
    assert_int_equal(report.first_missing_line, 6);
    assert_int_equal(report.n_gaps_filled, 1);
    cdnopt_series_free(s);

    params.duplicates = CDNOPT_DUPLICATES_MEAN;
    s = read_ok(DATA_DIR "repairs.csv", &params, &report);
    assert_close(s->v[1], 13.0, 1e-12);
    assert_close(s->v[2], 16.5, 1e-12);

    char line[256];
    cdnopt_series_read_report_format(&report, line, sizeof line);
    cdnopt_assert_contains(line, "duplicates_merged=2 first_duplicate_line=4");
    cdnopt_assert_contains(line, "missing_dropped=1 first_missing_line=6");
    cdnopt_series_free(s);
}

/* ---- Formats --------------------------------------------------------------------- */

static void semicolon_and_short_times(void **state)
{
    (void)state;
    cdnopt_series_read_params params = cdnopt_series_read_params_default();
    params.value_column = "traffic";
    cdnopt_series_read_report report;
    cdnopt_series *s = read_ok(DATA_DIR "semicolon.csv", &params, &report);
    assert_int_equal(report.delimiter, ';');
    assert_int_equal(s->n, 3);
    assert_int_equal(s->t[1], civil("2024-03-01 00:05:00"));
    assert_close(s->v[2], 3.5, 0.0);
    cdnopt_series_free(s);
}

static void tab_with_time_by_index(void **state)
{
    (void)state;
    cdnopt_series_read_params params = cdnopt_series_read_params_default();
    params.time_index = 2;
    params.unit = CDNOPT_UNIT_MBPS;
    cdnopt_series_read_report report;
    cdnopt_series *s = read_ok(DATA_DIR "tab.tsv", &params, &report);
    assert_int_equal(report.delimiter, '\t');
    assert_int_equal(s->step_s, 3600);
    assert_string_equal(s->name, "mbps");
    assert_close(s->v[0], 1.5, 1e-12);
    assert_close(s->v[2], 0.5, 1e-12);
    cdnopt_series_free(s);
}

static void quoted_fields_with_commas(void **state)
{
    (void)state;
    cdnopt_series *s = read_ok(DATA_DIR "quoted.csv", NULL, NULL);
    assert_string_equal(s->name, "Load, in Gbit/s");
    assert_int_equal(s->n, 3);
    assert_close(s->v[1], 11.5, 0.0);
    cdnopt_series_free(s);
}

static void zoned_times_converted(void **state)
{
    (void)state;
    cdnopt_series_read_params params = cdnopt_series_read_params_default();
    params.tz = "UTC";
    cdnopt_series *s = read_ok(DATA_DIR "zoned.csv", &params, NULL);
    assert_int_equal(s->n, 5);
    assert_int_equal(s->step_s, 300);
    assert_int_equal(s->t[0], civil("2024-03-01 00:00:00"));
    assert_int_equal(s->t[4], civil("2024-03-01 00:20:00"));
    cdnopt_series_free(s);

    /* Shanghai is UTC+8 with no daylight saving. */
    params.tz = "Asia/Shanghai";
    s = read_ok(DATA_DIR "zoned.csv", &params, NULL);
    assert_int_equal(s->t[0], civil("2024-03-01 08:00:00"));
    assert_int_equal(s->t[3], civil("2024-03-01 08:15:00"));
    cdnopt_series_free(s);
}

/* Without params.tz the reader converts to the machine's zone, which TZ sets. */
static void zoned_times_use_tz_variable(void **state)
{
    (void)state;
    const char *old = getenv("TZ");
    char saved[128] = "";
    if (old != NULL)
        snprintf(saved, sizeof saved, "%s", old);
    setenv("TZ", "Asia/Tokyo", 1);
    cdnopt_series *s = read_ok(DATA_DIR "zoned.csv", NULL, NULL);
    if (old != NULL)
        setenv("TZ", saved, 1);
    else
        unsetenv("TZ");

    /* Tokyo is UTC+9 with no daylight saving. */
    assert_int_equal(s->t[0], civil("2024-03-01 09:00:00"));
    assert_int_equal(s->t[4], civil("2024-03-01 09:20:00"));
    cdnopt_series_free(s);
}

static void header_without_rows_rejected(void **state)
{
    (void)state;
    char dir[256], path[300], err[CDNOPT_ERRMSG_MAX];
    cdnopt_test_scratch_dir(dir, sizeof dir, "series-header");
    snprintf(path, sizeof path, "%s/header.csv", dir);
    cdnopt_test_write_file(path, "timestamp,gbps\n\n");
    read_fails(path, NULL, CDNOPT_EPARSE, err);
    cdnopt_assert_contains(err, "header.csv: too few rows: the file has a header but no data rows");
    remove(path);
    remove(dir);
}

static void zoned_times_follow_daylight_saving(void **state)
{
    (void)state;
    char dir[256], path[300];
    cdnopt_test_scratch_dir(dir, sizeof dir, "series-dst");
    snprintf(path, sizeof path, "%s/dst.csv", dir);
    /* New York is UTC-5 in January and UTC-4 (daylight time) in July. */
    cdnopt_test_write_file(path, "t,v\n2024-01-15T12:00:00Z,1\n2024-01-15T13:00:00Z,2\n");
    cdnopt_series_read_params params = cdnopt_series_read_params_default();
    params.tz = "America/New_York";
    cdnopt_series *s = read_ok(path, &params, NULL);
    assert_int_equal(s->t[0], civil("2024-01-15 07:00:00"));
    cdnopt_series_free(s);

    cdnopt_test_write_file(path, "t,v\n2024-07-15T12:00:00Z,1\n2024-07-15T13:00:00Z,2\n");
    s = read_ok(path, &params, NULL);
    assert_int_equal(s->t[0], civil("2024-07-15 08:00:00"));
    cdnopt_series_free(s);
    remove(path);
    remove(dir);
}

/* Correct UTC data across a daylight-saving change must not read as unsorted or as
 * a gap: the reader names the offset change and a fixed-offset zone reads it. */
static void dst_change_names_fixed_zone(void **state)
{
    (void)state;
    char err[CDNOPT_ERRMSG_MAX];
    cdnopt_series_read_params params = cdnopt_series_read_params_default();
    params.tz = "Europe/London";
    read_fails(DATA_DIR "utc_dst_autumn.csv", &params, CDNOPT_EINVAL, err);
    cdnopt_assert_contains(err, "utc_dst_autumn.csv:4: time zone Europe/London changes its UTC "
                                "offset from +01:00 to +00:00 at local time 2024-10-27 01:00:00");
    cdnopt_assert_contains(err, "give --tz a fixed offset such as UTC+01:00 (or Etc/GMT-1)");
    assert_null(strstr(err, "sorted"));

    read_fails(DATA_DIR "utc_dst_spring.csv", &params, CDNOPT_EINVAL, err);
    cdnopt_assert_contains(err, "utc_dst_spring.csv:3: time zone Europe/London changes its UTC "
                                "offset from +00:00 to +01:00");
    assert_null(strstr(err, "gap"));

    /* Both spellings of UTC+01:00 keep the regular grid through the change. */
    const char *fixed_zones[] = {"Etc/GMT-1", "UTC+01:00", "UTC+0100", "UTC+01"};
    for (size_t i = 0; i < sizeof fixed_zones / sizeof fixed_zones[0]; i++) {
        params.tz = fixed_zones[i];
        cdnopt_series *s = read_ok(DATA_DIR "utc_dst_autumn.csv", &params, NULL);
        assert_int_equal(s->n, 5);
        assert_int_equal(s->step_s, 3600);
        assert_int_equal(s->t[0], civil("2024-10-27 00:00:00"));
        assert_int_equal(s->t[4], civil("2024-10-27 04:00:00"));
        cdnopt_series_free(s);
    }

    /* West of UTC the offset is negative: 23:00Z is 18:00 at UTC-05:00. */
    params.tz = "UTC-05:00";
    cdnopt_series *s = read_ok(DATA_DIR "utc_dst_autumn.csv", &params, NULL);
    assert_int_equal(s->t[0], civil("2024-10-26 18:00:00"));
    cdnopt_series_free(s);

    params.tz = "UTC+1:00";
    read_fails(DATA_DIR "utc_dst_autumn.csv", &params, CDNOPT_EINVAL, err);
    cdnopt_assert_contains(err, "invalid fixed offset 'UTC+1:00'");
}

static void no_header_detected(void **state)
{
    (void)state;
    char dir[256], path[300];
    cdnopt_test_scratch_dir(dir, sizeof dir, "series-nohdr");
    snprintf(path, sizeof path, "%s/plain.csv", dir);
    cdnopt_test_write_file(path, "2024-03-01 00:00:00,5\r\n2024-03-01 01:00:00,6\r\n\r\n");
    cdnopt_series_read_report report;
    cdnopt_series *s = read_ok(path, NULL, &report);
    assert_false(report.has_header);
    assert_int_equal(s->n, 2);
    assert_int_equal(s->step_s, 3600);
    assert_null(s->name);
    assert_close(s->v[1], 6.0, 0.0);
    cdnopt_series_free(s);
    remove(path);
    remove(dir);
}

/* Every allocation of a read fails in turn: each failure returns ENOMEM and leaks nothing. */
static void read_survives_allocation_failures(void **state)
{
    (void)state;
    cdnopt_series_read_params params = cdnopt_series_read_params_default();
    params.duplicates = CDNOPT_DUPLICATES_MEAN;
    params.drop_missing = true;
    params.fill_gaps = CDNOPT_FILL_LINEAR;
    long live = cdnopt_alloc_live_blocks();
    int rc = CDNOPT_ENOMEM;
    long n = 1;
    for (; rc == CDNOPT_ENOMEM && n < 200; n++) {
        cdnopt_series *s = NULL;
        char err[CDNOPT_ERRMSG_MAX];
        cdnopt_alloc_fail_after(n, false);
        rc = cdnopt_series_read_csv(DATA_DIR "repairs.csv", &params, &s, NULL, err);
        cdnopt_alloc_fail_after(0, false);
        if (rc == CDNOPT_ENOMEM)
            assert_null(s);
        cdnopt_series_free(s);
        assert_int_equal(cdnopt_alloc_live_blocks(), live);
    }
    assert_int_equal(rc, CDNOPT_OK);
    assert_true(n > 3);
}

static void wide_rejects_holes_and_text(void **state)
{
    (void)state;
    char err[CDNOPT_ERRMSG_MAX];
    cdnopt_series **all = NULL;
    size_t n = 0;
    long live = cdnopt_alloc_live_blocks();
    assert_int_equal(cdnopt_series_read_wide_csv(DATA_DIR "wide_hole.csv", 0, &all, &n, err),
                     CDNOPT_EPARSE);
    cdnopt_assert_contains(err, "wide_hole.csv:3: value '6' in column 4 follows an empty field");
    assert_int_equal(cdnopt_series_read_wide_csv(DATA_DIR "wide_non_numeric.csv", 0, &all, &n,
                                                 err),
                     CDNOPT_EPARSE);
    cdnopt_assert_contains(err, "wide_non_numeric.csv:3: non-numeric value 'x5' in column 3");

    /* Two repeats: the one whose second row comes first in the file is named. */
    assert_int_equal(cdnopt_series_read_wide_csv(DATA_DIR "wide_repeat.csv", 0, &all, &n, err),
                     CDNOPT_EPARSE);
    cdnopt_assert_contains(err, "wide_repeat.csv:4: series id 'H1' repeats the id of line 2");
    assert_int_equal(cdnopt_series_read_wide_csv(DATA_DIR "wide_negative.csv", 0, &all, &n, err),
                     CDNOPT_ENUMERIC);
    cdnopt_assert_contains(err, "wide_negative.csv:3: negative value '-4' in column 3 of series");
    assert_null(all);
    assert_int_equal(cdnopt_alloc_live_blocks(), live);
}

/* ---- Writer and transforms -------------------------------------------------------- */

static void write_read_round_trip(void **state)
{
    (void)state;
    char dir[256], path[300], err[CDNOPT_ERRMSG_MAX];
    cdnopt_test_scratch_dir(dir, sizeof dir, "series-write");
    snprintf(path, sizeof path, "%s/out.csv", dir);
    cdnopt_series *s = NULL;
    assert_int_equal(cdnopt_series_new(4, civil("2004-12-31 23:45:00"), 300, &s), CDNOPT_OK);
    double values[] = {1.25, 1e-7, 123456.789012, 0.0};
    memcpy(s->v, values, sizeof values);
    assert_int_equal(cdnopt_series_write_csv(s, path, "gbps", err), CDNOPT_OK);

    cdnopt_series *back = read_ok(path, NULL, NULL);
    assert_int_equal(back->n, 4);
    assert_string_equal(back->name, "gbps");
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(back->t[i], s->t[i]);
        assert_close(back->v[i], values[i], fabs(values[i]) * 1e-11);
    }
    assert_int_equal(back->t[3], civil("2005-01-01 00:00:00"));

    assert_int_equal(cdnopt_series_write_csv(s, "/nonexistent-dir/x.csv", NULL, err), CDNOPT_EIO);
    cdnopt_assert_contains(err, "cannot create /nonexistent-dir/x.csv");
    cdnopt_series_free(back);
    cdnopt_series_free(s);
    remove(path);
    remove(dir);
}

static void slice_and_index_of(void **state)
{
    (void)state;
    char err[CDNOPT_ERRMSG_MAX];
    cdnopt_series *s = NULL;
    assert_int_equal(cdnopt_series_new(10, 3600, 600, &s), CDNOPT_OK);
    for (size_t i = 0; i < s->n; i++)
        s->v[i] = (double)i;
    assert_int_equal(cdnopt_series_set_name(s, "load"), CDNOPT_OK);

    cdnopt_series *part = NULL;
    assert_int_equal(cdnopt_series_slice(s, 3, 4, &part, err), CDNOPT_OK);
    assert_int_equal(part->n, 4);
    assert_int_equal(part->t[0], 3600 + 3 * 600);
    assert_close(part->v[3], 6.0, 0.0);
    assert_string_equal(part->name, "load");
    cdnopt_series_free(part);

    assert_int_equal(cdnopt_series_slice(s, 8, 3, &part, err), CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "slice [8, 11) does not fit in a series of 10 samples");
    assert_null(part);

    assert_int_equal(cdnopt_series_index_of(s, 3600), 0);
    assert_int_equal(cdnopt_series_index_of(s, 3600 + 9 * 600), 9);
    assert_int_equal(cdnopt_series_index_of(s, 3600 + 10 * 600), -1);
    assert_int_equal(cdnopt_series_index_of(s, 3600 + 300), -1);
    assert_int_equal(cdnopt_series_index_of(s, 0), -1);
    cdnopt_series_free(s);
}

static void resample_mean_aligns_buckets(void **state)
{
    (void)state;
    char err[CDNOPT_ERRMSG_MAX];
    /* 15-minute samples from 00:30 to 03:15: buckets 01:00 and 02:00 are complete;
     * 00:30-00:59 and 03:00-03:29 are partial and dropped. */
    cdnopt_series *s = NULL;
    assert_int_equal(cdnopt_series_new(12, 1800, 900, &s), CDNOPT_OK);
    for (size_t i = 0; i < s->n; i++)
        s->v[i] = (double)i;
    cdnopt_series *hourly = NULL;
    assert_int_equal(cdnopt_series_resample(s, 3600, CDNOPT_RESAMPLE_MEAN, &hourly, err),
                     CDNOPT_OK);
    assert_int_equal(hourly->n, 2);
    assert_int_equal(hourly->t[0], 3600);
    assert_close(hourly->v[0], (2 + 3 + 4 + 5) / 4.0, 1e-12);
    assert_close(hourly->v[1], (6 + 7 + 8 + 9) / 4.0, 1e-12);
    cdnopt_series_free(hourly);

    assert_int_equal(cdnopt_series_resample(s, 1000, CDNOPT_RESAMPLE_MEAN, &hourly, err),
                     CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "positive multiple");
    cdnopt_series_free(s);
}

/* ---- Civil time and units ---------------------------------------------------------- */

static void civil_parse_forms(void **state)
{
    (void)state;
    char err[CDNOPT_ERRMSG_MAX];
    int64_t t = 0;
    assert_int_equal(civil("1970-01-01 00:00:00"), 0);
    assert_int_equal(civil("1970-01-02 01:02:03"), 86400 + 3723);
    assert_int_equal(civil("1969-12-31 23:59:59"), -1);
    assert_int_equal(civil("2004-12-14T00:00"), civil("2004-12-14 00:00:00"));
    assert_int_equal(civil("2004-12-14"), civil("2004-12-14 00:00:00"));
    /* 2000 was a leap year (divisible by 400), 1900 was not. */
    assert_int_equal(civil("2000-03-01") - civil("2000-02-28"), 2 * 86400);
    assert_int_equal(cdnopt_civil_parse("1900-02-29", &t, err), CDNOPT_EPARSE);
    assert_int_equal(cdnopt_civil_parse("2004-12-14 24:00:00", &t, err), CDNOPT_EPARSE);
    cdnopt_assert_contains(err, "'2004-12-14 24:00:00'");
    assert_int_equal(cdnopt_civil_parse("2004-12-14T00:00:00Z", &t, err), CDNOPT_EPARSE);
    cdnopt_assert_contains(err, "has a zone");
}

static void civil_format_round_trip(void **state)
{
    (void)state;
    const char *texts[] = {"1970-01-01 00:00:00", "1969-12-31 23:59:59", "2000-02-29 12:34:56",
                           "2004-12-14 00:00:00", "2100-03-01 00:00:00", "1601-01-01 00:00:00"};
    char buf[CDNOPT_CIVIL_TEXT_MAX];
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        cdnopt_civil_format(civil(texts[i]), buf, sizeof buf);
        assert_string_equal(buf, texts[i]);
    }
    /* Every day of four years, through a leap day, survives the round trip. */
    int64_t start = civil("2023-01-01 00:00:00");
    for (int day = 0; day < 4 * 366; day++) {
        int64_t t = start + day * 86400 + 3600 * (day % 24);
        cdnopt_civil_format(t, buf, sizeof buf);
        assert_int_equal(civil(buf), t);
    }
}

static void civil_calendar_helpers(void **state)
{
    (void)state;
    /* 2004-12-14 was a Tuesday; 1970-01-01 a Thursday; 1969-12-31 a Wednesday. */
    assert_int_equal(cdnopt_civil_weekday(civil("2004-12-14 13:00:00")), 2);
    assert_int_equal(cdnopt_civil_weekday(civil("1970-01-01 00:00:00")), 4);
    assert_int_equal(cdnopt_civil_weekday(civil("1969-12-31 23:00:00")), 3);
    assert_int_equal(cdnopt_civil_weekday(civil("2025-01-05 10:00:00")), 0);
    assert_int_equal(cdnopt_civil_hour(civil("2004-12-14 13:59:59")), 13);
    assert_int_equal(cdnopt_civil_hour(civil("1969-12-31 23:30:00")), 23);
    assert_int_equal(cdnopt_civil_day_start(civil("2004-12-14 13:59:59")), civil("2004-12-14"));

    cdnopt_civil_fields f;
    cdnopt_civil_to_fields(civil("2024-02-29 07:08:09"), &f);
    assert_int_equal(f.year, 2024);
    assert_int_equal(f.month, 2);
    assert_int_equal(f.day, 29);
    assert_int_equal(f.hour, 7);
    assert_int_equal(f.minute, 8);
    assert_int_equal(f.second, 9);
}

static void unit_names_parse(void **state)
{
    (void)state;
    char err[CDNOPT_ERRMSG_MAX];
    enum cdnopt_unit unit = CDNOPT_UNIT_RAW;
    assert_int_equal(cdnopt_unit_parse("Gbit/s", &unit, err), CDNOPT_OK);
    assert_int_equal(unit, CDNOPT_UNIT_GBPS);
    assert_int_equal(cdnopt_unit_parse("bytes-per-interval", &unit, err), CDNOPT_OK);
    assert_int_equal(unit, CDNOPT_UNIT_BYTES_PER_INTERVAL);
    assert_int_equal(cdnopt_unit_parse("furlongs", &unit, err), CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "unknown unit 'furlongs'");
    assert_string_equal(cdnopt_unit_name(CDNOPT_UNIT_BITS_PER_INTERVAL), "bits-per-interval");
    assert_string_equal(cdnopt_unit_name(CDNOPT_UNIT_MBPS), "mbit/s");
}

const struct CMUnitTest series_read_tests[] = {
    cmocka_unit_test(read_uk_5min_row_count),
    cmocka_unit_test(read_ec2_gaps_rejected),
    cmocka_unit_test(read_ec2_gaps_filled),
    cmocka_unit_test(read_eu_quoted_header),
    cmocka_unit_test(resample_eu_matches_hourly),
    cmocka_unit_test(read_m4_wide),
    cmocka_unit_test(unsorted_names_line),
    cmocka_unit_test(clock_back_hints_offsets),
    cmocka_unit_test(duplicate_names_line),
    cmocka_unit_test(nul_byte_rejected),
    cmocka_unit_test(gap_names_line),
    cmocka_unit_test(gap_longer_than_max),
    cmocka_unit_test(gap_filled_linear_and_previous),
    cmocka_unit_test(irregular_names_line),
    cmocka_unit_test(nan_names_line),
    cmocka_unit_test(inf_names_line),
    cmocka_unit_test(huge_value_names_line),
    cmocka_unit_test(value_at_limit_is_read),
    cmocka_unit_test(value_beyond_limit_in_gbps_names_line),
    cmocka_unit_test(csv_field_quotes_when_needed),
    cmocka_unit_test(negative_names_line),
    cmocka_unit_test(extra_field_rejected),
    cmocka_unit_test(non_numeric_names_line),
    cmocka_unit_test(empty_file_rejected),
    cmocka_unit_test(missing_column_names_line),
    cmocka_unit_test(column_named_twice_rejected),
    cmocka_unit_test(too_few_rows_rejected),
    cmocka_unit_test(missing_value_names_line),
    cmocka_unit_test(bad_timestamp_names_line),
    cmocka_unit_test(missing_file_rejected),
    cmocka_unit_test(bad_params_rejected),
    cmocka_unit_test(max_gap_needs_fill_gaps),
    cmocka_unit_test(long_field_keeps_advice),
    cmocka_unit_test(message_quotes_field_safely),
    cmocka_unit_test(bare_cr_line_ends_named),
    cmocka_unit_test(decimal_comma_value_named),
    cmocka_unit_test(bad_fixed_offset_named),
    cmocka_unit_test(wide_long_field_keeps_advice),
    cmocka_unit_test(duplicates_keep_last_and_mean),
    cmocka_unit_test(semicolon_and_short_times),
    cmocka_unit_test(tab_with_time_by_index),
    cmocka_unit_test(quoted_fields_with_commas),
    cmocka_unit_test(zoned_times_converted),
    cmocka_unit_test(zoned_times_use_tz_variable),
    cmocka_unit_test(header_without_rows_rejected),
    cmocka_unit_test(zoned_times_follow_daylight_saving),
    cmocka_unit_test(dst_change_names_fixed_zone),
    cmocka_unit_test(no_header_detected),
    cmocka_unit_test(read_survives_allocation_failures),
    cmocka_unit_test(wide_rejects_holes_and_text),
    cmocka_unit_test(write_read_round_trip),
    cmocka_unit_test(slice_and_index_of),
    cmocka_unit_test(resample_mean_aligns_buckets),
    cmocka_unit_test(civil_parse_forms),
    cmocka_unit_test(civil_format_round_trip),
    cmocka_unit_test(civil_calendar_helpers),
    cmocka_unit_test(unit_names_parse),
};
const size_t series_read_tests_n = sizeof series_read_tests / sizeof series_read_tests[0];
