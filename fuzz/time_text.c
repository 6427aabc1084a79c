/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target of the text parsers for durations, timestamps, units and release
 * numbers: cdnopt_duration_parse(), cdnopt_civil_parse(), the series reader's
 * timestamp and number parsers, cdnopt_release_parse_time(),
 * cdnopt_release_parse_decimal() and cdnopt_unit_parse(). The input is one text. A
 * duration or civil time that parses must format back to text that parses to the same
 * value.
 */
#include "cdnopt/core.h"
#include "cdnopt/release.h"
#include "cdnopt/series.h"
#include "series-impl.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check_duration(const char *text)
{
    int64_t seconds = 0, again = -1;
    if (cdnopt_duration_parse(text, &seconds, NULL) != CDNOPT_OK)
        return;
    char formatted[64], err[CDNOPT_ERRMSG_MAX];
    cdnopt_duration_format(seconds, formatted, sizeof formatted);
    if (cdnopt_duration_parse(formatted, &again, err) != CDNOPT_OK || again != seconds) {
        fprintf(stderr, "duration '%s' = %lld s formats as '%s', which reads as %lld s\n", text,
                (long long)seconds, formatted, (long long)again);
        abort();
    }
}

static void check_civil(const char *text)
{
    int64_t t = 0, again = -1;
    if (cdnopt_civil_parse(text, &t, NULL) != CDNOPT_OK)
        return;
    char formatted[CDNOPT_CIVIL_TEXT_MAX], err[CDNOPT_ERRMSG_MAX];
    cdnopt_civil_format(t, formatted, sizeof formatted);
    if (cdnopt_civil_parse(formatted, &again, err) != CDNOPT_OK || again != t) {
        fprintf(stderr, "time '%s' = %lld formats as '%s', which reads as %lld\n", text,
                (long long)t, formatted, (long long)again);
        abort();
    }
    cdnopt_civil_fields fields;
    cdnopt_civil_to_fields(t, &fields);
    if (cdnopt_civil_from_fields(&fields) != t) {
        fprintf(stderr, "time '%s' = %lld does not survive its fields\n", text, (long long)t);
        abort();
    }
    (void)cdnopt_civil_hour(t);
    (void)cdnopt_civil_weekday(t);
    (void)cdnopt_civil_day_start(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';

    check_duration(text);
    check_civil(text);

    int64_t value = 0;
    bool is_utc = false;
    (void)cdnopt__time_parse(text, &value, &is_utc);
    (void)cdnopt_release_parse_time(text, &value);
    double number = 0;
    (void)cdnopt_release_parse_decimal(text, &number);
    (void)cdnopt__number_parse(text, &number);
    enum cdnopt_unit unit;
    char err[CDNOPT_ERRMSG_MAX];
    (void)cdnopt_unit_parse(text, &unit, err);

    free(text);
    return 0;
}
