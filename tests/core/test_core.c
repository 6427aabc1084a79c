/* SPDX-License-Identifier: Apache-2.0 */
#include "cdnopt/core.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static void error_names_and_texts(void **state)
{
    (void)state;
    assert_string_equal(cdnopt_err_name(CDNOPT_EPARSE), "CDNOPT_EPARSE");
    assert_string_equal(cdnopt_strerror(CDNOPT_ENOMEM), "out of memory");
    assert_string_equal(cdnopt_strerror(CDNOPT_OK), "success");
    assert_string_equal(cdnopt_err_name(-999), "CDNOPT_UNKNOWN");
}

static void duration_parse_units(void **state)
{
    (void)state;
    struct {
        const char *text;
        int64_t seconds;
    } cases[] = {{"30s", 30}, {"5m", 300}, {"1h", 3600}, {"1d", 86400}, {"2w", 1209600},
                 {"300", 300}, {"0s", 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t seconds = -1;
        assert_int_equal(cdnopt_duration_parse(cases[i].text, &seconds, NULL), CDNOPT_OK);
        assert_int_equal(seconds, cases[i].seconds);
    }
}

static void duration_parse_rejects_bad_text(void **state)
{
    (void)state;
    const char *bad[] = {"", "h", "5x", "-5m", "5mm", "1.5h", " 5m"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[CDNOPT_ERRMSG_MAX] = "";
        int64_t seconds = 0;
        assert_int_equal(cdnopt_duration_parse(bad[i], &seconds, err), CDNOPT_EINVAL);
        assert_true(strlen(err) > 0);
    }

    char err[CDNOPT_ERRMSG_MAX];
    int64_t seconds = 0;
    cdnopt_duration_parse("5x", &seconds, err);
    cdnopt_assert_contains(err, "'5x'");
}

static void duration_format_round_trip(void **state)
{
    (void)state;
    char buf[32];
    cdnopt_duration_format(300, buf, sizeof buf);
    assert_string_equal(buf, "5m");
    cdnopt_duration_format(86400, buf, sizeof buf);
    assert_string_equal(buf, "1d");
    cdnopt_duration_format(90, buf, sizeof buf);
    assert_string_equal(buf, "90s");
}

/* Quote src_len bytes of src with the default limit into a static buffer. */
static const char *quote(const char *src, size_t src_len)
{
    static char buf[CDNOPT_QUOTE_SIZE];
    return cdnopt_text_quote(buf, sizeof buf, src, src_len, CDNOPT_QUOTE_BYTES);
}

static void text_quote_clips_whole_characters(void **state)
{
    (void)state;
    /* 20 Chinese characters of 3 bytes each: byte 40 falls inside the 14th. */
    const char *city = "北京上海广州深圳杭州南京成都重庆武汉西安";
    assert_int_equal(strlen(city), 60);
    assert_string_equal(quote(city, strlen(city)), "北京上海广州深圳杭州南京成...");

    /* An escape is never cut either: 38 letters leave no room for the 4 bytes of \x1B. */
    char letters[40];
    memset(letters, 'a', 38);
    letters[38] = '\x1b';
    letters[39] = 'b';
    char expected[48];
    snprintf(expected, sizeof expected, "%.38s...", letters);
    assert_string_equal(quote(letters, 40), expected);
}

static void text_quote_exact_fit_has_no_dots(void **state)
{
    (void)state;
    char letters[41];
    memset(letters, 'x', 40);
    letters[40] = '\0';
    assert_string_equal(quote(letters, 40), letters);

    /* 12 characters of 3 bytes and one escape fill 40 bytes exactly. */
    const char *mixed = "北京上海广州深圳杭州南京\x7f";
    assert_string_equal(quote(mixed, strlen(mixed)), "北京上海广州深圳杭州南京\\x7F");
    assert_string_equal(quote("", 0), "");
}

static void text_quote_escapes_control_bytes(void **state)
{
    (void)state;
    const char *colored = "a\x1b[31mb\rc\td\x7f";
    assert_string_equal(quote(colored, strlen(colored)), "a\\x1B[31mb\\x0Dc\\x09d\\x7F");

    /* U+009B is a C1 control that some terminals read as CSI. */
    assert_string_equal(quote("\xc2\x9b"
                              "1m",
                              4),
                        "\\xC2\\x9B1m");

    /* A NUL inside src_len is escaped and does not end the copy. */
    assert_string_equal(quote("ab\0cd", 5), "ab\\x00cd");
}

static void text_quote_escapes_invalid_utf8(void **state)
{
    (void)state;
    assert_string_equal(quote("x\xffy", 3), "x\\xFFy");

    /* A stray continuation byte and an overlong '/' are not characters. */
    assert_string_equal(quote("\xb8\xc0\xaf", 3), "\\xB8\\xC0\\xAF");

    /* The first two bytes of 中 (E4 B8 AD), cut off by src_len, are escaped byte by byte. */
    assert_string_equal(quote("id\xe4\xb8\xad", 4), "id\\xE4\\xB8");
    assert_string_equal(quote("中", 3), "中");
}

/* A backslash used to be copied as is, so "\x1B" typed in a file read like an ESC byte,
 * and a right-to-left override could reorder the rest of the message in a terminal. */
static void text_quote_escapes_backslash_and_bidi(void **state)
{
    (void)state;
    assert_string_equal(quote("a\\x1B", 5), "a\\\\x1B");
    assert_string_equal(quote("\xe2\x80\xaegnp.exe", 10), "\\u202Egnp.exe");
    assert_string_equal(quote("x\xe2\x81\xa9y", 5), "x\\u2069y");

    /* U+2029, the paragraph separator just below the range, is printable and copied. */
    assert_string_equal(quote("\xe2\x80\xa9", 3), "\xe2\x80\xa9");
}

static void text_quote_fits_small_buffer(void **state)
{
    (void)state;
    /* A 10-byte buffer leaves 6 bytes of text, "..." and the NUL. */
    char small[10];
    assert_string_equal(cdnopt_text_quote(small, sizeof small, "abcdefghij", 10, 40), "abcdef...");
    assert_string_equal(cdnopt_text_quote(small, sizeof small, "北京上", 9, 40), "北京...");

    char tiny[3] = "zz";
    assert_string_equal(cdnopt_text_quote(tiny, sizeof tiny, "abc", 3, 40), "");
}

static void rng_is_deterministic_per_seed(void **state)
{
    (void)state;
    cdnopt_rng a, b, c;
    cdnopt_rng_seed(&a, 42);
    cdnopt_rng_seed(&b, 42);
    cdnopt_rng_seed(&c, 43);
    int same_as_other_seed = 0;
    for (int i = 0; i < 100; i++) {
        uint64_t x = cdnopt_rng_next(&a);
        assert_int_equal(x, cdnopt_rng_next(&b));
        same_as_other_seed += x == cdnopt_rng_next(&c);
    }
    assert_int_equal(same_as_other_seed, 0);
}

static void rng_normal_moments(void **state)
{
    (void)state;
    cdnopt_rng rng;
    cdnopt_rng_seed(&rng, 7);
    const int n = 200000;
    double sum = 0.0, sum_sq = 0.0;
    for (int i = 0; i < n; i++) {
        double x = cdnopt_rng_normal(&rng);
        sum += x;
        sum_sq += x * x;
    }
    double mean = sum / n;
    double var = sum_sq / n - mean * mean;
    /* Standard error of the mean is 1/sqrt(n) = 0.0022; 5 sigma bounds. */
    assert_true(fabs(mean) < 0.012);
    assert_true(fabs(var - 1.0) < 0.02);
}

static void rng_below_stays_in_range(void **state)
{
    (void)state;
    cdnopt_rng rng;
    cdnopt_rng_seed(&rng, 1);
    int counts[7] = {0};
    for (int i = 0; i < 70000; i++) {
        uint64_t k = cdnopt_rng_below(&rng, 7);
        assert_true(k < 7);
        counts[k]++;
    }
    for (int k = 0; k < 7; k++)
        assert_true(counts[k] > 9500 && counts[k] < 10500);
}

static void alloc_counts_and_injects_failure(void **state)
{
    (void)state;
    long before = cdnopt_alloc_live_blocks();
    void *p = cdnopt_malloc(16);
    assert_non_null(p);
    assert_int_equal(cdnopt_alloc_live_blocks(), before + 1);
    cdnopt_free(p);
    assert_int_equal(cdnopt_alloc_live_blocks(), before);

    cdnopt_alloc_fail_after(2, false);
    void *first = cdnopt_malloc(8);
    void *second = cdnopt_malloc(8);
    void *third = cdnopt_malloc(8);
    assert_non_null(first);
    assert_null(second);
    assert_non_null(third);
    cdnopt_free(first);
    cdnopt_free(third);
    assert_int_equal(cdnopt_alloc_live_blocks(), before);
}

static int captured_count;
static char captured_message[256];

static void capture_sink(enum cdnopt_log_level level, const char *module, const char *message,
                         void *user)
{
    (void)level;
    (void)module;
    (void)user;
    captured_count++;
    snprintf(captured_message, sizeof captured_message, "%s", message);
}

static int evaluated;
static int count_evaluation(void) { return ++evaluated; }

static void log_level_filters_before_formatting(void **state)
{
    (void)state;
    cdnopt_log_set(capture_sink, NULL);
    cdnopt_log_set_level(CDNOPT_LOG_LEVEL_WARN);
    captured_count = 0;
    evaluated = 0;

    CDNOPT_LOG_INFO("test", "dropped=%d", count_evaluation());
    assert_int_equal(captured_count, 0);
    assert_int_equal(evaluated, 0);

    CDNOPT_LOG_WARN("test", "kept=%d", 5);
    assert_int_equal(captured_count, 1);
    assert_string_equal(captured_message, "kept=5");

    cdnopt_log_set(NULL, NULL);
    cdnopt_log_set_level(CDNOPT_LOG_LEVEL_INFO);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(error_names_and_texts),
        cmocka_unit_test(duration_parse_units),
        cmocka_unit_test(duration_parse_rejects_bad_text),
        cmocka_unit_test(duration_format_round_trip),
        cmocka_unit_test(text_quote_clips_whole_characters),
        cmocka_unit_test(text_quote_escapes_backslash_and_bidi),
        cmocka_unit_test(text_quote_exact_fit_has_no_dots),
        cmocka_unit_test(text_quote_escapes_control_bytes),
        cmocka_unit_test(text_quote_escapes_invalid_utf8),
        cmocka_unit_test(text_quote_fits_small_buffer),
        cmocka_unit_test(rng_is_deterministic_per_seed),
        cmocka_unit_test(rng_normal_moments),
        cmocka_unit_test(rng_below_stays_in_range),
        cmocka_unit_test(alloc_counts_and_injects_failure),
        cmocka_unit_test(log_level_filters_before_formatting),
    };
    return cdnopt_test_main(argc, argv, "core", tests, sizeof tests / sizeof tests[0]);
}
