/* SPDX-License-Identifier: Apache-2.0 */
#include "cdnopt/release.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

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

static cdnopt_release make_release(const char *id, double size_mb, double users,
                                   int64_t planned_at)
{
    cdnopt_release r;
    memset(&r, 0, sizeof r);
    snprintf(r.id, sizeof r.id, "%s", id);
    r.size_mb = size_mb;
    r.users = users;
    r.planned_at = planned_at;
    return r;
}

/* ------------------------------------------------------------------------- */
/* Waves                                                                     */
/* ------------------------------------------------------------------------- */

/*
 * One release of 100 MB to 1000 users at batch ratio 0.5 on a 1-hour grid.
 * Two batches of 500 users, one hour apart; each moves 100 * 8e6 * 500 = 4e11 bit.
 * S = sum_{k<15} 0.8^k = (1 - 0.8^15) / 0.2 = 4.824078139555841.
 * Batch hour 0 rate: a = 4e11 / S / 3600 / 1e9 = 0.02303261014784086 Gbit/s.
 * Hour 0: a. Hour h in 1..14: a * 0.8^h + a * 0.8^(h-1) = 1.8 a * 0.8^(h-1),
 * e.g. hour 1 = 1.8 a = 0.04145869826611355. Hour 15: only the second batch,
 * a * 0.8^14 = 0.0010129849070233015. Hour 16 on: 0.
 */
static void wave_hand_computed(void **state)
{
    (void)state;
    cdnopt_rules rules = cdnopt_rules_default();
    cdnopt_release r = make_release("r", 100, 1000, day0);
    double profile[64];
    size_t hours = cdnopt_release_profile(&r, 0.5, &rules, profile);
    assert_int_equal(hours, 16);
    assert_near(profile[0], 0.02303261014784086, 1e-15);
    assert_near(profile[1], 0.04145869826611355, 1e-15);
    assert_near(profile[2], 0.03316695861289084, 1e-15);
    assert_near(profile[14], 0.002279216040802428, 1e-15);
    assert_near(profile[15], 0.0010129849070233015, 1e-15);

    /* The same through the dense evaluation on a 1-hour baseline of zeros. */
    double zeros[20] = {0};
    int64_t times[20];
    for (int i = 0; i < 20; i++)
        times[i] = day0 + i * HOUR;
    cdnopt_series baseline = {20, HOUR, times, zeros, NULL};
    cdnopt_release_set *set = NULL;
    cdnopt_schedule *schedule = NULL;
    assert_int_equal(cdnopt_release_set_new(&r, 1, &set, NULL), 0);
    assert_int_equal(cdnopt_schedule_naive(set, &schedule), 0);
    schedule->batch_ratio[0] = 0.5;
    double total[20];
    cdnopt_figures figures;
    assert_int_equal(cdnopt_schedule_evaluate(&baseline, set, schedule, &rules, total, &figures),
                     0);
    assert_near(total[0], 0.02303261014784086, 1e-15);
    assert_near(total[1], 0.04145869826611355, 1e-15);
    assert_near(total[15], 0.0010129849070233015, 1e-15);
    assert_near(total[16], 0.0, 0.0);
    assert_near(figures.peak_gbps, 0.04145869826611355, 1e-15);
    assert_near(figures.spill_gbit, 0.0, 0.0);

    /* Energy is conserved: sum of rate * 3600 s over the hours = 8e5 Gbit. */
    double gbit = 0;
    for (int i = 0; i < 20; i++)
        gbit += total[i] * HOUR;
    assert_near(gbit, cdnopt_release_gbit(&r), 1e-6);
    assert_near(gbit, 800.0, 1e-9);
    cdnopt_schedule_free(schedule);
    cdnopt_release_set_free(set);
}

/* Ratio 0.3: four batches of 30 %, 30 %, 30 % and the remaining 10 %. */
static void batch_remainder_shares(void **state)
{
    (void)state;
    cdnopt_rules rules = cdnopt_rules_default();
    cdnopt_release r = make_release("r", 10, 1000, day0);
    double profile[64];
    assert_int_equal(cdnopt_batch_count(0.3), 4);
    assert_int_equal(cdnopt_batch_count(0.1), 10);
    assert_int_equal(cdnopt_batch_count(1.0), 1);
    size_t hours = cdnopt_release_profile(&r, 0.3, &rules, profile);
    assert_int_equal(hours, 18);
    /* The last hour holds only the 10 % batch at age 14. */
    double full = cdnopt_batch_gbps(&rules, 10, 100);
    assert_near(profile[17], full * pow(0.8, 14), 1e-15);
    assert_near(profile[0], cdnopt_batch_gbps(&rules, 10, 300), 1e-15);
}

/* Spill: traffic past the end of the baseline is counted in Gbit, not dropped silently. */
static void evaluate_counts_spill(void **state)
{
    (void)state;
    cdnopt_rules rules = cdnopt_rules_default();
    cdnopt_release r = make_release("r", 100, 1000, day0);
    double values[10] = {0};
    int64_t times[10];
    for (int i = 0; i < 10; i++)
        times[i] = day0 + i * HOUR;
    cdnopt_series baseline = {10, HOUR, times, values, NULL};
    cdnopt_release_set *set = NULL;
    cdnopt_schedule *schedule = NULL;
    assert_int_equal(cdnopt_release_set_new(&r, 1, &set, NULL), 0);
    assert_int_equal(cdnopt_schedule_naive(set, &schedule), 0);
    cdnopt_figures figures;
    assert_int_equal(cdnopt_schedule_evaluate(&baseline, set, schedule, &rules, NULL, &figures),
                     0);
    /* Hours 10..14 fall outside: 800 Gbit * sum_{h=10..14} 0.8^h / S. */
    double outside = 0;
    for (int h = 10; h < 15; h++)
        outside += pow(0.8, h);
    assert_near(figures.spill_gbit, 800.0 * outside / 4.824078139555841, 1e-9);
    cdnopt_schedule_free(schedule);
    cdnopt_release_set_free(set);
}

static void evaluate_rejects_infinite_figures(void **state)
{
    (void)state;
    cdnopt_rules rules = cdnopt_rules_default();
    cdnopt_release r = make_release("r", 100, 1000, day0);
    double values[10];
    int64_t times[10];
    for (int i = 0; i < 10; i++) {
        times[i] = day0 + i * HOUR;
        values[i] = 1.7e308;
    }
    cdnopt_series baseline = {10, HOUR, times, values, NULL};
    cdnopt_release_set *set = NULL;
    cdnopt_schedule *schedule = NULL;
    assert_int_equal(cdnopt_release_set_new(&r, 1, &set, NULL), 0);
    assert_int_equal(cdnopt_schedule_naive(set, &schedule), 0);

    /* The mean of ten values of 1.7e308 overflows to inf. */
    cdnopt_figures figures;
    assert_int_equal(cdnopt_schedule_evaluate(&baseline, set, schedule, &rules, NULL, &figures),
                     CDNOPT_ENUMERIC);
    cdnopt_schedule_free(schedule);
    cdnopt_release_set_free(set);
}

/* Nearest rank: for n = 20 the p95 is the 19th smallest (ceil(19.0) = 19). */
static void figures_nearest_rank(void **state)
{
    (void)state;
    double values[20];
    for (int i = 0; i < 20; i++)
        values[i] = (double)((i * 7) % 20); /* 0..19 shuffled */
    cdnopt_figures f;
    assert_int_equal(cdnopt_figures_of(values, 20, &f), 0);
    assert_near(f.peak_gbps, 19.0, 0.0);
    assert_near(f.p95_gbps, 18.0, 0.0);
    assert_near(f.mean_gbps, 9.5, 1e-12);

    /* n = 21: rank ceil(19.95) = 20, the value 19 of 0..20. */
    double more[21];
    for (int i = 0; i < 21; i++)
        more[i] = (double)(20 - i);
    assert_int_equal(cdnopt_figures_of(more, 21, &f), 0);
    assert_near(f.p95_gbps, 19.0, 0.0);
}

static void lower_bound_mean_or_max(void **state)
{
    (void)state;
    double values[4] = {10, 20, 30, 40};
    int64_t times[4] = {day0, day0 + HOUR, day0 + 2 * HOUR, day0 + 3 * HOUR};
    cdnopt_series baseline = {4, HOUR, times, values, NULL};
    /* 100 Gbit/s mean baseline over 4 h is 25; 1000 MB x 1800 users = 14400 Gbit adds
     * 14400 / 14400 s = 1 Gbit/s: max(40, 26) = 40. Larger releases push the mean up. */
    cdnopt_release r = make_release("r", 1000, 1800, day0);
    cdnopt_release_set *set = NULL;
    assert_int_equal(cdnopt_release_set_new(&r, 1, &set, NULL), 0);
    assert_near(cdnopt_lower_bound_gbps(&baseline, set), 40.0, 1e-12);
    set->items[0].users = 1800 * 30; /* 30 Gbit/s over the range: mean 55 */
    assert_near(cdnopt_lower_bound_gbps(&baseline, set), 55.0, 1e-9);
    cdnopt_release_set_free(set);
}

/* ------------------------------------------------------------------------- */
/* Impact                                                                    */
/* ------------------------------------------------------------------------- */

/* A wave's rate at time t: gbps * r^h in hour h of [0, D), else 0. */
static double wave_at(int64_t start, double gbps, int64_t t)
{
    if (t < start)
        return 0;
    int64_t h = (t - start) / HOUR;
    return h < 15 ? gbps * pow(0.8, (double)h) : 0;
}

static void impact_matches_direct_sum(void **state)
{
    (void)state;
    cdnopt_rules rules = cdnopt_rules_default();
    cdnopt_impact *impact = NULL;
    assert_int_equal(cdnopt_impact_new(day0, 300, &rules, &impact), 0);
    int64_t starts[3] = {day0, day0 + 300, day0 + 2 * HOUR + 600};
    double rates[3] = {1.0, 2.0, 4.0};
    for (int w = 0; w < 3; w++)
        assert_int_equal(cdnopt_impact_add_wave(impact, starts[w], rates[w]), 0);
    assert_int_equal(cdnopt_impact_active(impact), 1);
    assert_int_equal(cdnopt_impact_pending(impact), 2);

    for (int64_t t = day0; t <= day0 + 20 * HOUR; t += 300) {
        assert_int_equal(cdnopt_impact_advance(impact, t), 0);
        double expected = 0;
        for (int w = 0; w < 3; w++)
            expected += wave_at(starts[w], rates[w], t);
        assert_near(cdnopt_impact_total(impact), expected, 1e-12);
    }
    /* 20 h after the first start every wave has run its 15 hours. */
    assert_int_equal(cdnopt_impact_active(impact), 0);
    assert_int_equal(cdnopt_impact_now(impact), day0 + 20 * HOUR);
    cdnopt_impact_free(impact);
}

static void impact_rejects_bad_waves(void **state)
{
    (void)state;
    cdnopt_rules rules = cdnopt_rules_default();
    cdnopt_impact *impact = NULL;
    assert_int_equal(cdnopt_impact_new(day0, 7, &rules, &impact), CDNOPT_EINVAL);
    assert_null(impact);
    assert_int_equal(cdnopt_impact_new(day0, 300, &rules, &impact), 0);
    assert_int_equal(cdnopt_impact_advance(impact, day0 + HOUR), 0);
    assert_int_equal(cdnopt_impact_add_wave(impact, day0, 1.0), CDNOPT_EINVAL);
    assert_int_equal(cdnopt_impact_add_wave(impact, day0 + HOUR + 1, 1.0), CDNOPT_EINVAL);
    assert_int_equal(cdnopt_impact_add_wave(impact, day0 + 2 * HOUR, -1.0), CDNOPT_EINVAL);
    assert_int_equal(cdnopt_impact_add_wave(impact, day0 + 2 * HOUR, NAN), CDNOPT_EINVAL);
    assert_int_equal(cdnopt_impact_advance(impact, day0), CDNOPT_EINVAL);
    cdnopt_impact_free(impact);
    cdnopt_impact_free(NULL);
}

/* A million waves over the first hour, on a 5-minute grid: the total after each hour
 * equals the closed form, and all million are active at once. */
static void impact_million_waves(void **state)
{
    (void)state;
    cdnopt_rules rules = cdnopt_rules_default();
    cdnopt_impact *impact = NULL;
    assert_int_equal(cdnopt_impact_new(day0, 300, &rules, &impact), 0);
    const size_t n = 1000000;
    double per_phase[12] = {0};
    cdnopt_rng rng;
    cdnopt_rng_seed(&rng, 7);
    for (size_t w = 0; w < n; w++) {
        size_t phase = (size_t)cdnopt_rng_below(&rng, 12);
        double gbps = 1e-3 * (1.0 + (double)(w % 10));
        per_phase[phase] += gbps;
        assert_int_equal(cdnopt_impact_add_wave(impact, day0 + (int64_t)phase * 300, gbps), 0);
    }

    assert_int_equal(cdnopt_impact_advance(impact, day0 + 11 * 300), 0);
    assert_int_equal(cdnopt_impact_active(impact), n);
    assert_int_equal(cdnopt_impact_pending(impact), 0);

    /* At 5:55 after day0 every phase p is in its hour 5 (started at p * 5 min). */
    assert_int_equal(cdnopt_impact_advance(impact, day0 + 5 * HOUR + 11 * 300), 0);
    double expected = 0;
    for (int p = 0; p < 12; p++)
        expected += per_phase[p] * pow(0.8, 5);
    assert_near(cdnopt_impact_total(impact), expected, 1e-9 * expected);

    /* At day0 + 15 h the phase-0 waves have finished; the others are in hour 14. */
    assert_int_equal(cdnopt_impact_advance(impact, day0 + 15 * HOUR), 0);
    expected = 0;
    for (int p = 1; p < 12; p++)
        expected += per_phase[p] * pow(0.8, 14);
    assert_near(cdnopt_impact_total(impact), expected, 1e-9 * expected);
    assert_true(cdnopt_impact_active(impact) < n);
    assert_int_equal(cdnopt_impact_advance(impact, day0 + 16 * HOUR), 0);
    assert_int_equal(cdnopt_impact_active(impact), 0);
    assert_near(cdnopt_impact_total(impact), 0.0, 0.0);
    cdnopt_impact_free(impact);
}

static void impact_release_equals_dense(void **state)
{
    (void)state;
    cdnopt_rules rules = cdnopt_rules_default();
    cdnopt_release r = make_release("r", 300, 5000, day0 + 600);
    cdnopt_impact *impact = NULL;
    assert_int_equal(cdnopt_impact_new(day0, 300, &rules, &impact), 0);
    assert_int_equal(cdnopt_impact_add_release(impact, &r, r.planned_at, 0.3), 0);
    double profile[64];
    size_t hours = cdnopt_release_profile(&r, 0.3, &rules, profile);
    for (int64_t t = day0; t < day0 + 24 * HOUR; t += 300) {
        assert_int_equal(cdnopt_impact_advance(impact, t), 0);
        double expected = 0;
        if (t >= r.planned_at && (size_t)((t - r.planned_at) / HOUR) < hours)
            expected = profile[(t - r.planned_at) / HOUR];
        assert_near(cdnopt_impact_total(impact), expected, 1e-12);
    }
    cdnopt_impact_free(impact);
}

/* ------------------------------------------------------------------------- */
/* Records and files                                                         */
/* ------------------------------------------------------------------------- */

static void release_parse_rejects_each_field(void **state)
{
    (void)state;
    struct {
        cdnopt_release_fields fields;
        int code;
        const char *message;
    } cases[] = {
        {{"a", "x", "10", "2024-01-01 10:00:00", NULL}, CDNOPT_EPARSE, "size_mb 'x' is not a number"},
        {{"a", "0", "10", "2024-01-01 10:00:00", NULL}, CDNOPT_EINVAL, "size_mb 0 is out of range"},
        {{"a", "5", "-3", "2024-01-01 10:00:00", NULL}, CDNOPT_EINVAL, "users -3 is out of range"},
        {{"a", "5", "ten", "2024-01-01 10:00:00", NULL}, CDNOPT_EPARSE, "users 'ten' is not"},
        {{"a", "5", "10", "2024-13-01 10:00:00", NULL}, CDNOPT_EPARSE,
         "planned_at '2024-13-01 10:00:00' is not a valid timestamp"},
        {{"a", "5", "10", "2024-01-01 10:00", NULL}, CDNOPT_EPARSE, "YYYY-MM-DD HH:MM:SS"},
        {{"a", "5", "10", "2024-01-01 10:00:00", "2024-01-01 09:00:00"}, CDNOPT_EINVAL,
         "latest_start_at 2024-01-01 09:00:00 is before planned_at"},
        {{"a", "5", "10", "2024-01-01 10:00:00", "yesterday"}, CDNOPT_EPARSE,
         "latest_start_at 'yesterday'"},
        {{"", "5", "10", "2024-01-01 10:00:00", NULL}, CDNOPT_EINVAL, "id is empty"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char err[CDNOPT_ERRMSG_MAX] = "";
        cdnopt_release r;
        assert_int_equal(cdnopt_release_parse(&cases[c].fields, "f.csv line 2", &r, err),
                         cases[c].code);
        cdnopt_assert_contains(err, "f.csv line 2");
        cdnopt_assert_contains(err, cases[c].message);
    }

    char err[CDNOPT_ERRMSG_MAX];
    cdnopt_release r;
    cdnopt_release_fields good = {"v1", "565.4", "98884", "2004-12-14 10:05:00", ""};
    assert_int_equal(cdnopt_release_parse(&good, "x", &r, err), 0);
    assert_string_equal(r.id, "v1");
    assert_false(r.has_latest);
    char text[32];
    cdnopt_release_format_time(r.planned_at, text, sizeof text);
    assert_string_equal(text, "2004-12-14 10:05:00");
}

static void release_parse_rejects_absurd_values(void **state)
{
    (void)state;
    struct {
        cdnopt_release_fields fields;
        const char *message;
    } cases[] = {
        {{"a", "1e300", "10", "2024-01-01 10:00:00", NULL},
         "size_mb 1e+300 is out of range; it must be a positive number of at most 1e+06"},
        {{"a", "1000000.5", "10", "2024-01-01 10:00:00", NULL}, "size_mb 1e+06 is out of range"},
        /* Beyond a double: named as written, not as inf. */
        {{"a", "1e999", "10", "2024-01-01 10:00:00", NULL},
         "size_mb 1e999 is out of range; it must be a positive number of at most 1e+06"},
        {{"a", "5", "-1e999", "2024-01-01 10:00:00", NULL}, "users -1e999 is out of range"},
        /* A space inside an id is allowed, so the fault reported is the window's. */
        {{"a b", "5", "10", "2024-01-01 10:00:00", "2025-01-01 10:00:00"},
         "latest_start_at 2025-01-01 10:00:00 is more than 30 days after planned_at"},
        {{" a", "5", "10", "2024-01-01 10:00:00", NULL}, "id ' a' has spaces or tabs around it"},
        {{"a", "5", "99999999999999999999", "2024-01-01 10:00:00", NULL},
         "users 1e+20 is out of range; it must be a positive number of at most 1e+10"},
        {{"a", "5", "5.5", "2024-01-01 10:00:00", NULL},
         "users 5.5 is not a whole number; give the count of devices"},
        {{"a", "5", "10", "2024-01-01 10:00:00", "2025-01-01 10:00:00"},
         "latest_start_at 2025-01-01 10:00:00 is more than 30 days after planned_at"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char err[CDNOPT_ERRMSG_MAX] = "";
        cdnopt_release r;
        assert_int_equal(cdnopt_release_parse(&cases[c].fields, "f.csv line 2", &r, err),
                         CDNOPT_EINVAL);
        cdnopt_assert_contains(err, "f.csv line 2");
        cdnopt_assert_contains(err, cases[c].message);
    }

    /* The bounds themselves are accepted. */
    char err[CDNOPT_ERRMSG_MAX] = "";
    cdnopt_release r;
    cdnopt_release_fields edge = {"a", "1e6", "1e10", "2024-01-01 10:00:00",
                                  "2024-01-31 10:00:00"};
    assert_int_equal(cdnopt_release_parse(&edge, "x", &r, err), 0);
    assert_near(r.size_mb, 1e6, 0.0);
    assert_near(r.users, 1e10, 0.0);
}

static void releases_row_extra_field_rejected(void **state)
{
    (void)state;
    char err[CDNOPT_ERRMSG_MAX] = "";
    cdnopt_release_set *set = NULL;
    assert_int_equal(
        cdnopt_release_set_read_csv("tests/data/release/extra_field.csv", &set, err),
        CDNOPT_EPARSE);
    cdnopt_assert_contains(err, "extra_field.csv line 3: 5 fields but the header names 4 columns");
    assert_null(set);
}

/* A NUL byte used to end the line or the file early; the rows after it were lost. */
static void releases_nul_byte_rejected(void **state)
{
    (void)state;
    char err[CDNOPT_ERRMSG_MAX] = "";
    cdnopt_release_set *set = NULL;
    assert_int_equal(cdnopt_release_set_read_csv("tests/data/release/nul_byte.csv", &set, err),
                     CDNOPT_EPARSE);
    cdnopt_assert_contains(err, "nul_byte.csv line 3: contains a NUL byte");
    cdnopt_assert_contains(err, "the file is binary or corrupt");
    assert_null(set);
}

static void rules_nul_byte_rejected(void **state)
{
    (void)state;
    char err[CDNOPT_ERRMSG_MAX] = "";
    cdnopt_rules rules;
    assert_int_equal(cdnopt_rules_read("tests/data/release/nul_byte_rules.txt", &rules, err),
                     CDNOPT_EPARSE);
    cdnopt_assert_contains(err, "nul_byte_rules.txt line 2: contains a NUL byte");
}

/* fopen() opens a folder on Linux and only the first read fails. The readers took that
 * failure for the end of the file, so a folder passed as --rules gave the defaults. */
static void folder_paths_rejected(void **state)
{
    (void)state;
    const char *folder = "tests/data/release";
    char err[CDNOPT_ERRMSG_MAX] = "";
    cdnopt_rules rules = cdnopt_rules_default();
    assert_int_equal(cdnopt_rules_read(folder, &rules, err), CDNOPT_EIO);
    cdnopt_assert_contains(err, "tests/data/release: is a folder; give the path of a file");

    err[0] = '\0';
    cdnopt_release_set *set = NULL;
    assert_int_equal(cdnopt_release_set_read_csv(folder, &set, err), CDNOPT_EIO);
    cdnopt_assert_contains(err, "tests/data/release: is a folder");
    assert_null(set);

    cdnopt_release items[1] = {make_release("a", 1, 1, day0 + 10 * HOUR)};
    assert_int_equal(cdnopt_release_set_new(items, 1, &set, NULL), 0);
    cdnopt_grid grid = {day0, 300, 1000};
    cdnopt_schedule *schedule = NULL;
    err[0] = '\0';
    assert_int_equal(cdnopt_schedule_read_csv(folder, set, &grid, &schedule, err), CDNOPT_EIO);
    cdnopt_assert_contains(err, "tests/data/release: is a folder");
    assert_null(schedule);
    cdnopt_release_set_free(set);
}

/* An id with bytes that are not UTF-8 text went byte for byte into the schedule and the
 * --json reports, which then did not parse. */
static void release_id_must_be_text(void **state)
{
    (void)state;
    static const struct {
        const char *id;
        const char *message; // NULL: accepted
    } cases[] = {
        {"abc\xff\xfe", "id 'abc\\xFF\\xFE' has byte 0xFF at position 4"},
        {"a\x01" "b", "id 'a\\x01b' has byte 0x01 at position 2"},
        {"\xc0\xaf", "has byte 0xC0 at position 1"},    // overlong '/'
        {"x\xed\xa0\x80", "has byte 0xED at position 2"}, // a UTF-16 surrogate
        {"caf\xc3", "has byte 0xC3 at position 4"},      // cut short
        /* C1 controls: U+0085 is NEL, a line break to some readers, and U+009B is CSI
         * to some terminals. */
        {"a\xc2\x85" "b", "id 'a\\xC2\\x85b' has byte 0xC2 at position 2"},
        {"\xc2\x9b" "31m", "has byte 0xC2 at position 1"},
        {"\xc2\xa0x", NULL}, // U+00A0, the first character after the C1 block
        /* A right-to-left override makes "patch-\u202Eexe.1v" display as "patch-v1.exe". */
        {"patch-\xe2\x80\xae" "exe.1v",
         "id 'patch-\\u202Eexe.1v' has the bidirectional control character U+202E at byte 7"},
        {"a\xe2\x81\xa6" "b", "has the bidirectional control character U+2066 at byte 2"},
        {"a\xe2\x80\xa9" "b", NULL}, // U+2029, next to the range, is a printable separator
        {"verzi\xc3\xb3n-1", NULL},
        {"\xe7\x89\x88\xe6\x9c\xac 2", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cdnopt_release r = make_release(cases[i].id, 1, 1, day0 + 10 * HOUR);
        cdnopt_release_set *set = NULL;
        char err[CDNOPT_ERRMSG_MAX] = "";
        int rc = cdnopt_release_set_new(&r, 1, &set, err);
        if (cases[i].message == NULL) {
            assert_int_equal(rc, CDNOPT_OK);
            cdnopt_release_set_free(set);
            continue;
        }
        assert_int_equal(rc, CDNOPT_EINVAL);
        cdnopt_assert_contains(err, cases[i].message);
        assert_null(set);
    }
}

/* A second planned_at column was dropped: the first one alone was read. */
static void releases_repeated_column_rejected(void **state)
{
    (void)state;
    char dir[256], path[300], err[CDNOPT_ERRMSG_MAX] = "";
    cdnopt_test_scratch_dir(dir, sizeof dir, "release-repeated-column");
    snprintf(path, sizeof path, "%s/releases.csv", dir);
    cdnopt_test_write_file(path, "id,size_mb,users,planned_at,planned_at\n"
                                 "a,1,2,2024-01-01 10:00:00,2024-01-01 11:00:00\n");
    cdnopt_release_set *set = NULL;
    assert_int_equal(cdnopt_release_set_read_csv(path, &set, err), CDNOPT_EPARSE);
    cdnopt_assert_contains(err, "line 1: column 'planned_at' is named twice (columns 4 and 5)");
    assert_null(set);
    remove(path);
    remove(dir);
}

/* Write text to a scratch file and return its path in buf. */
static const char *scratch_file(char *buf, size_t size, const char *name, const char *text)
{
    char dir[512];
    cdnopt_test_scratch_dir(dir, sizeof dir, "release");
    snprintf(buf, size, "%s/%s", dir, name);
    cdnopt_test_write_file(buf, text);
    return buf;
}

/* A UTF-8 byte order mark at the start of a releases or rules file is skipped, so the
 * first column name and the first key read as written. */
static void files_with_bom_read(void **state)
{
    (void)state;
    char path[600], err[CDNOPT_ERRMSG_MAX] = "";
    cdnopt_release_set *set = NULL;
    scratch_file(path, sizeof path, "bom.csv",
                 "\xEF\xBB\xBFid,size_mb,users,planned_at\nv1,100,1000,2024-01-01 10:00:00\n");
    if (cdnopt_release_set_read_csv(path, &set, err) != CDNOPT_OK)
        fail_msg("%s", err);
    assert_int_equal(set->n, 1);
    assert_string_equal(set->items[0].id, "v1");
    cdnopt_release_set_free(set);

    cdnopt_rules rules;
    scratch_file(path, sizeof path, "bom_rules.txt", "\xEF\xBB\xBFmax_delay = 6h\n");
    if (cdnopt_rules_read(path, &rules, err) != CDNOPT_OK)
        fail_msg("%s", err);
    assert_int_equal(rules.max_delay_s, 6 * 3600);
}

static void releases_file_errors_name_line(void **state)
{
    (void)state;
    char path[600], err[CDNOPT_ERRMSG_MAX];
    cdnopt_release_set *set = NULL;

    scratch_file(path, sizeof path, "dup.csv",
                 "id,size_mb,users,planned_at\na,1,1,2024-01-01 10:00:00\n"
                 "b,1,1,2024-01-01 10:00:00\na,2,2,2024-01-01 11:00:00\n");
    assert_int_equal(cdnopt_release_set_read_csv(path, &set, err), CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "line 4: duplicate release id 'a' (first on line 2)");
    assert_null(set);

    scratch_file(path, sizeof path, "bad.csv",
                 "id,size_mb,users,planned_at\na,1,1,2024-01-01 10:00:00\nb,1,1,noon\n");
    assert_int_equal(cdnopt_release_set_read_csv(path, &set, err), CDNOPT_EPARSE);
    cdnopt_assert_contains(err, "bad.csv line 3: planned_at 'noon'");

    scratch_file(path, sizeof path, "cols.csv", "id,size,users,planned_at\n");
    assert_int_equal(cdnopt_release_set_read_csv(path, &set, err), CDNOPT_EPARSE);
    cdnopt_assert_contains(err, "missing column 'size_mb'");
    assert_null(strstr(err, "seems to use"));

    /* A file written with ';' between fields reads as one column, and the message
     * names the delimiter. */
    scratch_file(path, sizeof path, "semi.csv",
                 "id;size_mb;users;planned_at\na;1;1;2024-01-01 10:00:00\n");
    assert_int_equal(cdnopt_release_set_read_csv(path, &set, err), CDNOPT_EPARSE);
    cdnopt_assert_contains(err, "missing column 'id'");
    cdnopt_assert_contains(err, "the file seems to use ';' between fields: write commas");

    assert_int_equal(cdnopt_release_set_read_csv("/nonexistent/r.csv", &set, err), CDNOPT_EIO);
    cdnopt_assert_contains(err, "/nonexistent/r.csv: cannot open");
}

static void releases_file_reads_example(void **state)
{
    (void)state;
    char err[CDNOPT_ERRMSG_MAX] = "";
    cdnopt_release_set *set = NULL;
    assert_int_equal(cdnopt_release_set_read_csv("tests/data/release/releases.csv", &set, err), 0);
    assert_int_equal(set->n, 2);
    assert_int_equal(cdnopt_release_set_find(set, "big"), 1);
    assert_int_equal(cdnopt_release_set_find(set, "small"), 0);
    assert_int_equal(cdnopt_release_set_find(set, "none"), -1);
    assert_true(set->items[1].has_latest);
    cdnopt_rules rules = cdnopt_rules_default();
    assert_int_equal(cdnopt_release_latest_start(&set->items[0], &rules),
                     day0 + 10 * HOUR + 23 * HOUR);
    assert_int_equal(cdnopt_release_latest_start(&set->items[1], &rules), day0 + 30 * HOUR);
    cdnopt_release_set_free(set);
}

static void schedule_file_errors(void **state)
{
    (void)state;
    cdnopt_release items[2] = {make_release("a", 1, 1, day0 + 10 * HOUR),
                               make_release("b", 1, 1, day0 + 10 * HOUR)};
    cdnopt_release_set *set = NULL;
    assert_int_equal(cdnopt_release_set_new(items, 2, &set, NULL), 0);
    cdnopt_grid grid = {day0, 300, 1000};
    struct {
        const char *text;
        int code;
        const char *message;
    } cases[] = {
        {"id,start_at,batch_ratio\na,2024-01-01 10:00:00,1\nc,2024-01-01 10:00:00,1\n",
         CDNOPT_EINVAL, "line 3: id 'c' is not in the releases file"},
        {"id,start_at,batch_ratio\na,2024-01-01 10:00:00,1\n", CDNOPT_EINVAL,
         "release 'b' is missing from the schedule"},
        {"id,start_at,batch_ratio\na,2024-01-01 10:00:00,1\na,2024-01-01 11:00:00,1\n",
         CDNOPT_EINVAL, "line 3: duplicate id 'a' (first scheduled on line 2)"},
        {"id,start_at,batch_ratio\na,2024-01-01 10:01:00,1\n", CDNOPT_EINVAL,
         "start_at '2024-01-01 10:01:00' is off the baseline's 300 s grid"},
        {"id,start_at,batch_ratio\na,10 o'clock,1\n", CDNOPT_EPARSE,
         "start_at '10 o'clock' is not a valid timestamp"},
        {"id,start_at,batch_ratio\na,2024-01-01 10:00:00,half\n", CDNOPT_EPARSE,
         "batch_ratio 'half' is not a number"},
        {"id,start_at,batch_ratio\na,2024-01-01 10:00:00,1.5\n", CDNOPT_EINVAL,
         "batch_ratio 1.5 is outside (0, 1]"},
        {"id,start,batch_ratio\n", CDNOPT_EPARSE, "must name id, start_at and batch_ratio"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char path[600], err[CDNOPT_ERRMSG_MAX] = "";
        scratch_file(path, sizeof path, "s.csv", cases[c].text);
        cdnopt_schedule *schedule = NULL;
        assert_int_equal(cdnopt_schedule_read_csv(path, set, &grid, &schedule, err),
                         cases[c].code);
        cdnopt_assert_contains(err, cases[c].message);
        assert_null(schedule);
    }
    cdnopt_release_set_free(set);
}

static void schedule_round_trip(void **state)
{
    (void)state;
    cdnopt_release items[2] = {make_release("a", 1, 1, day0 + 10 * HOUR),
                               make_release("b", 600, 1, day0 + 10 * HOUR + 300)};
    cdnopt_release_set *set = NULL;
    cdnopt_schedule *schedule = NULL, *back = NULL;
    assert_int_equal(cdnopt_release_set_new(items, 2, &set, NULL), 0);
    assert_int_equal(cdnopt_schedule_naive(set, &schedule), 0);
    schedule->start_at[1] += 3 * HOUR;
    schedule->batch_ratio[0] = 0.1;
    schedule->batch_ratio[1] = 0.3;

    char dir[512], path[600], err[CDNOPT_ERRMSG_MAX] = "";
    cdnopt_test_scratch_dir(dir, sizeof dir, "schedule");
    snprintf(path, sizeof path, "%s/schedule.csv", dir);
    assert_int_equal(cdnopt_schedule_write_csv(path, set, schedule, err), 0);
    assert_int_equal(cdnopt_schedule_read_csv(path, set, NULL, &back, err), 0);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(back->start_at[i], schedule->start_at[i]);
        assert_near(back->batch_ratio[i], schedule->batch_ratio[i], 0.0);
    }
    cdnopt_schedule_free(back);
    cdnopt_schedule_free(schedule);
    cdnopt_release_set_free(set);
}

/* A ratio that 15 significant digits do not print exactly, as a rules file may list, reads
 * back as the same double. */
static void schedule_ratio_round_trips_exactly(void **state)
{
    (void)state;
    cdnopt_release items[1] = {make_release("a", 1, 1, day0 + 10 * HOUR)};
    cdnopt_release_set *set = NULL;
    cdnopt_schedule *schedule = NULL, *back = NULL;
    assert_int_equal(cdnopt_release_set_new(items, 1, &set, NULL), 0);
    assert_int_equal(cdnopt_schedule_naive(set, &schedule), 0);
    schedule->batch_ratio[0] = 5.0 / 9.0;

    char dir[512], path[600], err[CDNOPT_ERRMSG_MAX] = "";
    cdnopt_test_scratch_dir(dir, sizeof dir, "schedule-ratio");
    snprintf(path, sizeof path, "%s/schedule.csv", dir);
    assert_int_equal(cdnopt_schedule_write_csv(path, set, schedule, err), 0);
    assert_int_equal(cdnopt_schedule_read_csv(path, set, NULL, &back, err), 0);
    assert_true(back->batch_ratio[0] == 5.0 / 9.0);
    cdnopt_schedule_free(back);
    cdnopt_schedule_free(schedule);
    cdnopt_release_set_free(set);
}

/* Spreadsheets and Python's csv module quote fields that need it, and some quote all. */
static void quoted_fields_read(void **state)
{
    (void)state;
    char dir[512], path[600], err[CDNOPT_ERRMSG_MAX] = "";
    cdnopt_test_scratch_dir(dir, sizeof dir, "quoted");
    snprintf(path, sizeof path, "%s/releases.csv", dir);
    cdnopt_test_write_file(path, "\"id\",\"size_mb\",\"users\",\"planned_at\"\n"
                                 "\"v,1\",100,\"2000\",2024-01-01 10:00:00\n"
                                 "\"say \"\"hi\"\"\", 50.5 ,10,\"2024-01-01 11:00:00\"\n");
    cdnopt_release_set *set = NULL;
    assert_int_equal(cdnopt_release_set_read_csv(path, &set, err), 0);
    assert_int_equal(set->n, 2);
    assert_string_equal(set->items[0].id, "v,1");
    assert_near(set->items[0].users, 2000.0, 0.0);
    assert_string_equal(set->items[1].id, "say \"hi\"");
    assert_near(set->items[1].size_mb, 50.5, 0.0);
    assert_int_equal(set->items[1].planned_at, day0 + 11 * HOUR);

    snprintf(path, sizeof path, "%s/schedule.csv", dir);
    cdnopt_test_write_file(path, "id,start_at,batch_ratio\n"
                                 "\"v,1\",2024-01-01 12:00:00,0.5\n"
                                 "\"say \"\"hi\"\"\",2024-01-01 11:00:00,\"1.0\"\n");
    cdnopt_schedule *schedule = NULL;
    assert_int_equal(cdnopt_schedule_read_csv(path, set, NULL, &schedule, err), 0);
    assert_int_equal(schedule->start_at[0], day0 + 12 * HOUR);
    assert_near(schedule->batch_ratio[0], 0.5, 0.0);
    assert_int_equal(schedule->start_at[1], day0 + 11 * HOUR);
    assert_near(schedule->batch_ratio[1], 1.0, 0.0);
    cdnopt_schedule_free(schedule);
    cdnopt_release_set_free(set);
}

static void quoted_ids_round_trip(void **state)
{
    (void)state;
    cdnopt_release items[2] = {make_release("app,ios", 300, 10, day0 + 10 * HOUR),
                               make_release("pkg \"beta\"", 20, 5, day0 + 14 * HOUR)};
    cdnopt_release_set *set = NULL, *back = NULL;
    assert_int_equal(cdnopt_release_set_new(items, 2, &set, NULL), 0);

    char dir[512], path[600], err[CDNOPT_ERRMSG_MAX] = "";
    cdnopt_test_scratch_dir(dir, sizeof dir, "quoted-ids");
    snprintf(path, sizeof path, "%s/releases.csv", dir);
    assert_int_equal(cdnopt_release_set_write_csv(path, set, err), 0);
    assert_int_equal(cdnopt_release_set_read_csv(path, &back, err), 0);
    assert_int_equal(back->n, 2);
    assert_string_equal(back->items[0].id, "app,ios");
    assert_string_equal(back->items[1].id, "pkg \"beta\"");

    cdnopt_schedule *schedule = NULL, *read_back = NULL;
    assert_int_equal(cdnopt_schedule_naive(set, &schedule), 0);
    schedule->start_at[1] += 2 * HOUR;
    snprintf(path, sizeof path, "%s/schedule.csv", dir);
    assert_int_equal(cdnopt_schedule_write_csv(path, set, schedule, err), 0);
    assert_int_equal(cdnopt_schedule_read_csv(path, set, NULL, &read_back, err), 0);
    assert_int_equal(read_back->start_at[0], schedule->start_at[0]);
    assert_int_equal(read_back->start_at[1], schedule->start_at[1]);
    cdnopt_schedule_free(read_back);
    cdnopt_schedule_free(schedule);
    cdnopt_release_set_free(back);
    cdnopt_release_set_free(set);
}

/* Spaces around an id are trimmed elsewhere in the row but rejected in the id, because
 * Python's csv module and spreadsheets keep them, and a schedule written with the
 * trimmed id would not match the releases file there. */
static void padded_id_rejected(void **state)
{
    (void)state;
    char dir[512], path[600], err[CDNOPT_ERRMSG_MAX] = "";
    cdnopt_test_scratch_dir(dir, sizeof dir, "padded-id");
    snprintf(path, sizeof path, "%s/releases.csv", dir);
    const char *padded[] = {"v1 ,100,1,2024-01-01 10:00:00\n",
                            "\" v1\",100,1,2024-01-01 10:00:00\n",
                            "\tv1,100,1,2024-01-01 10:00:00\r\n"};
    for (size_t i = 0; i < sizeof padded / sizeof padded[0]; i++) {
        char text[256];
        snprintf(text, sizeof text, "id,size_mb,users,planned_at\n%s", padded[i]);
        cdnopt_test_write_file(path, text);
        cdnopt_release_set *set = NULL;
        assert_int_equal(cdnopt_release_set_read_csv(path, &set, err), CDNOPT_EPARSE);
        cdnopt_assert_contains(err, "releases.csv line 2: id 'v1' has spaces or tabs around it");
        assert_null(set);
    }

    /* Spaces around the other fields and a CRLF line ending are still trimmed. */
    cdnopt_test_write_file(path,
                           "id,size_mb,users,planned_at\r\nv1, 100 ,1,2024-01-01 10:00:00\r\n");
    cdnopt_release_set *set = NULL;
    assert_int_equal(cdnopt_release_set_read_csv(path, &set, err), 0);
    assert_string_equal(set->items[0].id, "v1");
    assert_near(set->items[0].size_mb, 100.0, 0.0);

    snprintf(path, sizeof path, "%s/schedule.csv", dir);
    cdnopt_test_write_file(path, "id,start_at,batch_ratio\nv1 ,2024-01-01 10:00:00,1.0\n");
    cdnopt_schedule *schedule = NULL;
    assert_int_equal(cdnopt_schedule_read_csv(path, set, NULL, &schedule, err), CDNOPT_EPARSE);
    cdnopt_assert_contains(err, "schedule.csv line 2: id 'v1' has spaces or tabs around it");
    assert_null(schedule);
    cdnopt_release_set_free(set);
}

/* A row may leave out a trailing latest_start_at but no required field, and a row of only
 * commas (a spreadsheet's empty row) is skipped. */
static void short_rows_and_comma_rows(void **state)
{
    (void)state;
    char dir[512], path[600], err[CDNOPT_ERRMSG_MAX] = "";
    cdnopt_test_scratch_dir(dir, sizeof dir, "short-rows");
    snprintf(path, sizeof path, "%s/releases.csv", dir);
    cdnopt_test_write_file(path, "id,size_mb,users,planned_at,latest_start_at\n"
                                 "a,1,2,2024-01-01 10:00:00\n"
                                 ",,,,\n"
                                 "b,1,2,2024-01-01 11:00:00,2024-01-01 12:00:00\n");
    cdnopt_release_set *set = NULL;
    assert_int_equal(cdnopt_release_set_read_csv(path, &set, err), 0);
    assert_int_equal(set->n, 2);
    assert_false(set->items[0].has_latest);
    assert_true(set->items[1].has_latest);

    snprintf(path, sizeof path, "%s/short.csv", dir);
    cdnopt_test_write_file(path, "id,size_mb,users,planned_at\na,1,2,2024-01-01 10:00:00\n"
                                 "b,100\n");
    cdnopt_release_set *bad = NULL;
    assert_int_equal(cdnopt_release_set_read_csv(path, &bad, err), CDNOPT_EPARSE);
    cdnopt_assert_contains(err, "short.csv line 3: 2 fields, but the header puts 'users' in column 3");
    assert_null(bad);

    snprintf(path, sizeof path, "%s/schedule.csv", dir);
    cdnopt_test_write_file(path, "id,start_at,batch_ratio\na,2024-01-01 10:00:00,1\n"
                                 "b,2024-01-01 11:00:00\n");
    cdnopt_schedule *schedule = NULL;
    assert_int_equal(cdnopt_schedule_read_csv(path, set, NULL, &schedule, err), CDNOPT_EPARSE);
    cdnopt_assert_contains(err, "schedule.csv line 3: 2 fields, but the header puts "
                                "'batch_ratio' in column 3");
    assert_null(schedule);
    cdnopt_release_set_free(set);
}

static void unclosed_quote_rejected(void **state)
{
    (void)state;
    char dir[512], path[600], err[CDNOPT_ERRMSG_MAX] = "";
    cdnopt_test_scratch_dir(dir, sizeof dir, "open-quote");
    snprintf(path, sizeof path, "%s/releases.csv", dir);
    cdnopt_test_write_file(path, "id,size_mb,users,planned_at\n"
                                 "\"v1,100,1,2024-01-01 10:00:00\n");
    cdnopt_release_set *set = NULL;
    assert_int_equal(cdnopt_release_set_read_csv(path, &set, err), CDNOPT_EPARSE);
    cdnopt_assert_contains(err, "releases.csv line 2");
    cdnopt_assert_contains(err, "no closing quote");
    assert_null(set);
}

/* Classic Mac OS line ends used to read as one long header line and fail with a
 * misleading error about the header's columns. */
static void bare_cr_line_ends_named(void **state)
{
    (void)state;
    char dir[512], path[600], err[CDNOPT_ERRMSG_MAX] = "";
    cdnopt_test_scratch_dir(dir, sizeof dir, "release-bare-cr");
    snprintf(path, sizeof path, "%s/releases.csv", dir);
    cdnopt_test_write_file(path, "id,size_mb,users,planned_at\ra,1,2,2024-01-01 10:00:00\r");
    cdnopt_release_set *set = NULL;
    assert_int_equal(cdnopt_release_set_read_csv(path, &set, err), CDNOPT_EPARSE);
    cdnopt_assert_contains(err, "releases.csv line 1: a bare CR ends a line");
    cdnopt_assert_contains(err, "convert the line ends to LF or CRLF");
    assert_null(set);

    cdnopt_test_write_file(path, "id,size_mb,users,planned_at\r\na,1,2,2024-01-01 10:00:00\r\n");
    assert_int_equal(cdnopt_release_set_read_csv(path, &set, err), 0);

    snprintf(path, sizeof path, "%s/schedule.csv", dir);
    cdnopt_test_write_file(path, "id,start_at,batch_ratio\ra,2024-01-01 10:00:00,1\r");
    cdnopt_schedule *schedule = NULL;
    assert_int_equal(cdnopt_schedule_read_csv(path, set, NULL, &schedule, err), CDNOPT_EPARSE);
    cdnopt_assert_contains(err, "schedule.csv line 1: a bare CR ends a line");
    assert_null(schedule);
    cdnopt_release_set_free(set);

    /* The rules file read "max_delay = 2h\rdecay = 0.5" as one line and printed the CR
     * in its message, which hid the start of the message on a terminal. */
    snprintf(path, sizeof path, "%s/rules.txt", dir);
    cdnopt_test_write_file(path, "max_delay = 2h\rdecay = 0.5\r");
    cdnopt_rules rules;
    assert_int_equal(cdnopt_rules_read(path, &rules, err), CDNOPT_EPARSE);
    cdnopt_assert_contains(err, "rules.txt line 1: a bare CR ends a line");
    cdnopt_test_write_file(path, "max_delay = 2h\r\ndecay = 0.5\r\n");
    assert_int_equal(cdnopt_rules_read(path, &rules, err), 0);
    assert_int_equal(rules.max_delay_s, 7200);
}

/* A quoted field is clipped between characters and its control bytes are escaped. */
static void releases_message_quotes_field_safely(void **state)
{
    (void)state;
    char dir[256], path[300], err[CDNOPT_ERRMSG_MAX] = "";
    cdnopt_test_scratch_dir(dir, sizeof dir, "release-quoted-field");
    snprintf(path, sizeof path, "%s/releases.csv", dir);
    cdnopt_release_set *set = NULL;

    /* 20 characters of 3 bytes: the 40-byte limit falls inside the 14th. */
    cdnopt_test_write_file(path, "id,size_mb,users,planned_at\n"
                                 "a,北京上海广州深圳杭州南京成都重庆武汉西安,2,2024-01-01 10:00:00\n");
    assert_int_equal(cdnopt_release_set_read_csv(path, &set, err), CDNOPT_EPARSE);
    cdnopt_assert_contains(err, "releases.csv line 2: size_mb '北京上海广州深圳杭州南京成...' is "
                                "not a number");
    assert_null(set);

    cdnopt_test_write_file(path, "id,size_mb,users,planned_at\n"
                                 "a,1,2,2024-01-01 10:00:00\x1b[0m\n");
    assert_int_equal(cdnopt_release_set_read_csv(path, &set, err), CDNOPT_EPARSE);
    cdnopt_assert_contains(err, "releases.csv line 2: planned_at '2024-01-01 10:00:00\\x1B[0m' "
                                "is not a valid timestamp");
    assert_null(set);
    remove(path);
    remove(dir);
}

/* A long field in an error used to fill the whole 512-byte message, so the advice after
 * it was cut off. The field is now clipped to 40 bytes. */
static void long_field_keeps_advice(void **state)
{
    (void)state;
    char dir[512], path[600], err[CDNOPT_ERRMSG_MAX] = "";
    cdnopt_test_scratch_dir(dir, sizeof dir, "release-long-field");
    static char run[1001], text[1400];
    memset(run, '7', 1000);
    run[1000] = '\0';

    snprintf(path, sizeof path, "%s/releases.csv", dir);
    snprintf(text, sizeof text, "id,size_mb,users,planned_at\na,x%s,2,2024-01-01 10:00:00\n",
             run);
    cdnopt_test_write_file(path, text);
    cdnopt_release_set *set = NULL;
    assert_int_equal(cdnopt_release_set_read_csv(path, &set, err), CDNOPT_EPARSE);
    cdnopt_assert_contains(err, "is not a number; write e.g. 250.5");

    cdnopt_test_write_file(path, "id,size_mb,users,planned_at\na,1,2,2024-01-01 10:00:00\n");
    assert_int_equal(cdnopt_release_set_read_csv(path, &set, err), 0);
    snprintf(path, sizeof path, "%s/schedule.csv", dir);
    snprintf(text, sizeof text, "id,start_at,batch_ratio\nb%s,2024-01-01 10:00:00,1\n", run);
    cdnopt_test_write_file(path, text);
    cdnopt_schedule *schedule = NULL;
    assert_int_equal(cdnopt_schedule_read_csv(path, set, NULL, &schedule, err), CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "is not in the releases file; schedule only known releases");
    cdnopt_release_set_free(set);

    snprintf(path, sizeof path, "%s/rules.txt", dir);
    snprintf(text, sizeof text, "max_delay = %sh\n", run);
    cdnopt_test_write_file(path, text);
    cdnopt_rules rules;
    assert_int_equal(cdnopt_rules_read(path, &rules, err), CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "must be a duration from 0s to 720h, e.g. 23h");
}

static void duplicate_ids_rejected_in_memory(void **state)
{
    (void)state;
    cdnopt_release items[2] = {make_release("a", 1, 1, day0), make_release("a", 1, 1, day0)};
    cdnopt_release_set *set = NULL;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_release_set_new(items, 2, &set, err), CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "duplicate release id 'a'");
    assert_null(set);
}

/* ------------------------------------------------------------------------- */
/* Rules                                                                     */
/* ------------------------------------------------------------------------- */

static void rules_example_file_is_default(void **state)
{
    (void)state;
    cdnopt_rules rules, defaults = cdnopt_rules_default();
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_rules_read("tests/data/release/rules.txt", &rules, err), 0);
    assert_int_equal(rules.max_delay_s, defaults.max_delay_s);
    assert_int_equal(rules.n_ratios, 4);
    for (size_t r = 0; r < 4; r++)
        assert_near(rules.batch_ratios[r], defaults.batch_ratios[r], 0.0);
    assert_true(rules.blackout);
    assert_int_equal(rules.blackout_from_s, 0);
    assert_int_equal(rules.blackout_to_s, 4 * HOUR + 59 * 60 + 59);
    assert_near(rules.blackout_min_size_mb, 500, 0.0);
    assert_near(rules.decay, 0.8, 0.0);
    assert_int_equal(rules.duration_h, 15);
}

/* The default rules with limit k (0 to 7) broken, for rules_validate_checks_limits. */
static cdnopt_rules spoiled_rules(size_t k)
{
    cdnopt_rules r = cdnopt_rules_default();
    switch (k) {
    case 0:
        r.duration_h = 300;
        break;
    case 1:
        r.n_ratios = 0;
        break;
    case 2:
        r.batch_ratios[0] = 0.3;
        r.batch_ratios[1] = 0.1;
        break;
    case 3:
        r.batch_ratios[3] = 1.5;
        break;
    case 4:
        r.decay = 0;
        break;
    case 5:
        r.max_delay_s = -1;
        break;
    case 6:
        r.blackout_to_s = 86400;
        break;
    default:
        r.blackout_min_size_mb = NAN;
        break;
    }
    return r;
}

/* Rules built in code are checked against the limits of a rules file. A duration of 300 h
 * used to pass into the planners and overflow the wave buffers sized for 168 h. */
static void rules_validate_checks_limits(void **state)
{
    (void)state;
    char err[CDNOPT_ERRMSG_MAX] = "";
    cdnopt_rules rules = cdnopt_rules_default();
    assert_int_equal(cdnopt_rules_validate(&rules, err), 0);

    /* A blackout that wraps past midnight is legal. */
    assert_int_equal(cdnopt_rules_parse_line(&rules, "blackout = 22:00-04:59", "t", err), 0);
    assert_int_equal(cdnopt_rules_validate(&rules, err), 0);

    const char *const messages[] = {
        "rules: duration_h is 300; it must be 1 to 168",
        "rules: n_ratios is 0; it must be 1 to 16",
        "rules: batch_ratios[1] is 0.1 after 0.3",
        "rules: batch_ratios[3] is 1.5; it must be in [0.01, 1]",
        "rules: decay is 0; it must be in (0, 1]",
        "rules: max_delay_s is -1; it must be 0 to 2592000",
        "rules: blackout runs from second 0 to second 86400",
        "rules: blackout_min_size_mb is nan",
    };
    for (size_t k = 0; k < sizeof messages / sizeof messages[0]; k++) {
        rules = spoiled_rules(k);
        assert_int_equal(cdnopt_rules_validate(&rules, err), CDNOPT_EINVAL);
        cdnopt_assert_contains(err, messages[k]);
    }
}

static void rules_lines_change_values(void **state)
{
    (void)state;
    cdnopt_rules rules = cdnopt_rules_default();
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_rules_parse_line(&rules, "max_delay = 6h", "x", err), 0);
    assert_int_equal(rules.max_delay_s, 6 * HOUR);
    assert_int_equal(cdnopt_rules_parse_line(&rules, "  batch_ratios=0.25,1 ", "x", err), 0);
    assert_int_equal(rules.n_ratios, 2);
    assert_near(rules.batch_ratios[0], 0.25, 0.0);
    assert_int_equal(cdnopt_rules_parse_line(&rules, "blackout = 22:00-05:59", "x", err), 0);
    assert_int_equal(rules.blackout_from_s, 22 * HOUR);
    assert_int_equal(rules.blackout_to_s, 5 * HOUR + 59 * 60 + 59);
    assert_int_equal(cdnopt_rules_parse_line(&rules, "duration = 10h", "x", err), 0);
    assert_int_equal(rules.duration_h, 10);
    assert_int_equal(cdnopt_rules_parse_line(&rules, "decay = 0.5", "x", err), 0);
    assert_int_equal(cdnopt_rules_parse_line(&rules, "# comment", "x", err), 0);
    assert_int_equal(cdnopt_rules_parse_line(&rules, "   ", "x", err), 0);
    assert_int_equal(cdnopt_rules_parse_line(&rules, "blackout = none", "x", err), 0);
    assert_false(rules.blackout);
}

static void rules_bad_lines_rejected(void **state)
{
    (void)state;
    struct {
        const char *line;
        const char *message;
    } cases[] = {
        {"max_delay = soon", "max_delay 'soon' must be a duration"},
        {"batch_ratios = 0.5, 0.1", "ascending order"},
        {"batch_ratios = 0.5, 2", "batch_ratios value '2' is not a number in [0.01, 1]"},
        {"batch_ratios = ,", "batch_ratios has an empty item"},
        {"batch_ratios = 0.1,,1", "batch_ratios has an empty item"},
        {"batch_ratios = ,0.5", "batch_ratios has an empty item"},
        {"batch_ratios = 0x1p-1, 1", "batch_ratios value '0x1p-1' is not a number"},
        {"batch_ratios =  ", "key 'batch_ratios' has no value"},
        {"blackout = 1am-5am", "blackout '1am-5am' is not HH:MM-HH:MM"},
        {"blackout = 25:00-04:59", "is not HH:MM-HH:MM"},
        {"blackout_min_size_mb = -1", "blackout_min_size_mb '-1' must be a number"},
        {"decay = 1.5", "decay '1.5' must be a number in (0, 1]"},
        {"duration = 90m", "duration '90m' must be whole hours"},
        {"duration = 0h", "duration '0h' must be a duration"},
        {"speed = fast", "unknown key 'speed'"},
        {"max_delay 23h", "is not a 'key = value' line"},
        {"max_delay =", "key 'max_delay' has no value"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        cdnopt_rules rules = cdnopt_rules_default();
        char err[CDNOPT_ERRMSG_MAX] = "";
        assert_int_equal(cdnopt_rules_parse_line(&rules, cases[c].line, "r.txt line 7", err),
                         CDNOPT_EINVAL);
        cdnopt_assert_contains(err, "r.txt line 7");
        cdnopt_assert_contains(err, cases[c].message);
    }

    char path[600], err[CDNOPT_ERRMSG_MAX] = "";
    scratch_file(path, sizeof path, "rules.txt", "decay = 0.8\n\nduration = 3x\n");
    cdnopt_rules rules;
    assert_int_equal(cdnopt_rules_read(path, &rules, err), CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "rules.txt line 3: duration '3x'");
}

/* fgets() returns a line longer than its buffer in pieces. The tail of a long comment must
 * fail the read rather than set a rule of its own. */
static void rules_long_line_rejected(void **state)
{
    (void)state;
    static char text[4200];
    text[0] = '#';
    memset(text + 1, 'x', 4094);
    strcpy(text + 4095, "max_delay = 2d\n");
    char path[600], err[CDNOPT_ERRMSG_MAX] = "";
    scratch_file(path, sizeof path, "long_rules.txt", text);
    cdnopt_rules rules = cdnopt_rules_default();
    assert_int_equal(cdnopt_rules_read(path, &rules, err), CDNOPT_EPARSE);
    cdnopt_assert_contains(err, "long_rules.txt line 1: line longer than 4094 bytes");
    assert_int_equal(rules.max_delay_s, 23 * HOUR);
}

static void rules_check_each_violation(void **state)
{
    (void)state;
    cdnopt_rules rules = cdnopt_rules_default();
    cdnopt_grid grid = {day0, 300, 3 * 24 * 12};
    cdnopt_release big = make_release("big", 600, 10, day0 + 20 * HOUR);
    cdnopt_release small = make_release("small", 100, 10, day0 + 20 * HOUR);

    assert_int_equal(cdnopt_rules_check(&rules, &big, big.planned_at, 1.0, &grid),
                     CDNOPT_RULE_OK);
    assert_int_equal(cdnopt_rules_check(&rules, &big, big.planned_at + 60, 1.0, &grid),
                     CDNOPT_RULE_GRID);
    assert_int_equal(cdnopt_rules_check(&rules, &big, big.planned_at - HOUR, 1.0, &grid),
                     CDNOPT_RULE_WINDOW);
    assert_int_equal(cdnopt_rules_check(&rules, &big, big.planned_at + 24 * HOUR, 1.0, &grid),
                     CDNOPT_RULE_WINDOW);
    assert_int_equal(cdnopt_rules_check(&rules, &big, big.planned_at, 0.2, &grid),
                     CDNOPT_RULE_RATIO);
    /* Ratio 0.1 from 20:00 puts batch 4 at 00:00, inside the blackout. */
    assert_int_equal(cdnopt_rules_check(&rules, &big, big.planned_at, 0.1, &grid),
                     CDNOPT_RULE_BLACKOUT);
    assert_int_equal(cdnopt_rules_check(&rules, &big, day0 + 28 * HOUR + 59 * 60, 1.0, NULL),
                     CDNOPT_RULE_BLACKOUT);
    assert_int_equal(cdnopt_rules_check(&rules, &big, day0 + 29 * HOUR, 1.0, &grid),
                     CDNOPT_RULE_OK);
    /* 500 MB or less ignores the blackout. */
    assert_int_equal(cdnopt_rules_check(&rules, &small, small.planned_at, 0.1, &grid),
                     CDNOPT_RULE_OK);
    /* A start at 42:05 with 24 hours of traffic ends past a 60-hour grid. */
    cdnopt_grid short_grid = {day0, 300, 60 * 12};
    assert_int_equal(cdnopt_rules_check(&rules, &small, day0 + 42 * HOUR + 300, 0.1, &short_grid),
                     CDNOPT_RULE_SPILL);
    assert_int_equal(cdnopt_rules_check(&rules, &small, day0 + 42 * HOUR + 300, 1.0, &short_grid),
                     CDNOPT_RULE_OK);
}

static void rules_options_list_legal(void **state)
{
    (void)state;
    cdnopt_rules rules = cdnopt_rules_default();
    cdnopt_grid grid = {day0, 300, 3 * 24 * 12};
    cdnopt_release small = make_release("small", 100, 10, day0 + 10 * HOUR);
    /* 24 whole-hour delays x 4 ratios, all legal for a small release. */
    assert_int_equal(cdnopt_rules_options(&rules, &small, &grid, HOUR, NULL, 0), 96);
    /* Every 5-minute start: 23 * 12 + 1 = 277 starts. */
    assert_int_equal(cdnopt_rules_options(&rules, &small, &grid, 300, NULL, 0), 277 * 4);

    cdnopt_release big = make_release("big", 600, 10, day0 + 20 * HOUR);
    cdnopt_option options[128];
    size_t n = cdnopt_rules_options(&rules, &big, &grid, HOUR, options, 128);
    assert_true(n < 96);
    for (size_t k = 0; k < n; k++) {
        assert_int_equal(cdnopt_rules_check(&rules, &big, options[k].start_at,
                                            options[k].batch_ratio, &grid),
                         CDNOPT_RULE_OK);
        if (k > 0)
            assert_true(options[k].start_at >= options[k - 1].start_at);
    }
    /* First option: 20:00 with ratio 0.3 (batches at 20-23 h); 0.1 reaches midnight. */
    assert_int_equal(options[0].start_at, big.planned_at);
    assert_near(options[0].batch_ratio, 0.3, 0.0);
}

static void schedule_check_lists_violations(void **state)
{
    (void)state;
    cdnopt_rules rules = cdnopt_rules_default();
    cdnopt_grid grid = {day0, 300, 3 * 24 * 12};
    cdnopt_release items[3] = {make_release("ok", 100, 10, day0 + 10 * HOUR),
                               make_release("late", 100, 10, day0 + 10 * HOUR),
                               make_release("night", 900, 10, day0 + 10 * HOUR)};
    cdnopt_release_set *set = NULL;
    cdnopt_schedule *schedule = NULL;
    assert_int_equal(cdnopt_release_set_new(items, 3, &set, NULL), 0);
    assert_int_equal(cdnopt_schedule_naive(set, &schedule), 0);
    schedule->start_at[1] = day0 + 40 * HOUR;
    schedule->start_at[2] = day0 + 26 * HOUR;
    cdnopt_violation violations[4];
    assert_int_equal(cdnopt_schedule_check(set, schedule, &rules, &grid, violations, 4), 2);
    assert_int_equal(violations[0].release, 1);
    assert_int_equal(violations[0].rule, CDNOPT_RULE_WINDOW);
    cdnopt_assert_contains(violations[0].value,
                           "start 2024-01-02 16:00:00 outside [2024-01-01 10:00:00, "
                           "2024-01-02 09:00:00]");
    assert_int_equal(violations[1].release, 2);
    assert_string_equal(cdnopt_rule_name(violations[1].rule), "blackout");
    cdnopt_assert_contains(violations[1].value, "batch of 900 MB begins 2024-01-02 02:00:00");
    cdnopt_schedule_free(schedule);
    cdnopt_release_set_free(set);
}

static void shards_by_planned_hour(void **state)
{
    (void)state;
    cdnopt_release items[4] = {make_release("a", 1, 1, day0 + 10 * HOUR + 300),
                               make_release("b", 1, 1, day0 + 23 * HOUR),
                               make_release("c", 1, 1, day0 + 34 * HOUR),
                               make_release("d", 1, 1, day0 + 10 * HOUR + 3599)};
    cdnopt_release_set *set = NULL;
    cdnopt_shards *shards = NULL;
    assert_int_equal(cdnopt_release_set_new(items, 4, &set, NULL), 0);
    assert_int_equal(cdnopt_shards_new(set, &shards), 0);
    assert_int_equal(shards->offset[10], 0);
    assert_int_equal(shards->offset[11] - shards->offset[10], 3); /* a, c (10:00 next day), d */
    assert_int_equal(shards->index[shards->offset[10]], 0);
    assert_int_equal(shards->index[shards->offset[10] + 1], 2);
    assert_int_equal(shards->index[shards->offset[10] + 2], 3);
    assert_int_equal(shards->offset[24] - shards->offset[23], 1);
    assert_int_equal(shards->offset[24], 4);
    cdnopt_shards_free(shards);
    cdnopt_shards_free(NULL);
    cdnopt_release_set_free(set);
}

static void allocation_failures_are_reported(void **state)
{
    (void)state;
    for (long n = 1; n <= 4; n++) {
        cdnopt_release_set *set = NULL;
        char err[CDNOPT_ERRMSG_MAX] = "";
        long before = cdnopt_alloc_live_blocks();
        cdnopt_alloc_fail_after(n, true);
        int rc = cdnopt_release_set_read_csv("tests/data/release/releases.csv", &set, err);
        cdnopt_alloc_fail_after(0, false);
        if (rc == 0) {
            cdnopt_release_set_free(set);
            continue;
        }
        assert_int_equal(rc, CDNOPT_ENOMEM);
        assert_null(set);
        assert_int_equal(cdnopt_alloc_live_blocks(), before);
    }
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(wave_hand_computed),
        cmocka_unit_test(batch_remainder_shares),
        cmocka_unit_test(evaluate_counts_spill),
        cmocka_unit_test(evaluate_rejects_infinite_figures),
        cmocka_unit_test(figures_nearest_rank),
        cmocka_unit_test(lower_bound_mean_or_max),
        cmocka_unit_test(impact_matches_direct_sum),
        cmocka_unit_test(impact_rejects_bad_waves),
        cmocka_unit_test(impact_million_waves),
        cmocka_unit_test(impact_release_equals_dense),
        cmocka_unit_test(release_parse_rejects_each_field),
        cmocka_unit_test(release_parse_rejects_absurd_values),
        cmocka_unit_test(releases_row_extra_field_rejected),
        cmocka_unit_test(releases_nul_byte_rejected),
        cmocka_unit_test(rules_nul_byte_rejected),
        cmocka_unit_test(folder_paths_rejected),
        cmocka_unit_test(releases_repeated_column_rejected),
        cmocka_unit_test(releases_message_quotes_field_safely),
        cmocka_unit_test(release_id_must_be_text),
        cmocka_unit_test(releases_file_errors_name_line),
    cmocka_unit_test(files_with_bom_read),
        cmocka_unit_test(releases_file_reads_example),
        cmocka_unit_test(schedule_file_errors),
        cmocka_unit_test(schedule_round_trip),
        cmocka_unit_test(quoted_fields_read),
        cmocka_unit_test(quoted_ids_round_trip),
        cmocka_unit_test(padded_id_rejected),
        cmocka_unit_test(unclosed_quote_rejected),
        cmocka_unit_test(bare_cr_line_ends_named),
        cmocka_unit_test(long_field_keeps_advice),
        cmocka_unit_test(short_rows_and_comma_rows),
        cmocka_unit_test(duplicate_ids_rejected_in_memory),
        cmocka_unit_test(rules_example_file_is_default),
        cmocka_unit_test(rules_validate_checks_limits),
        cmocka_unit_test(rules_lines_change_values),
        cmocka_unit_test(rules_bad_lines_rejected),
        cmocka_unit_test(rules_check_each_violation),
        cmocka_unit_test(rules_options_list_legal),
        cmocka_unit_test(schedule_check_lists_violations),
        cmocka_unit_test(shards_by_planned_hour),
        cmocka_unit_test(allocation_failures_are_reported),
        cmocka_unit_test(schedule_ratio_round_trips_exactly),
        cmocka_unit_test(rules_long_line_rejected),
    };
    return cdnopt_test_main(argc, argv, "release", tests, sizeof tests / sizeof tests[0]);
}
