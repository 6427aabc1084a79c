/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Durations as the CLI, rules files and the API write them ("30s", "5m", "1h",
 * "1d", "2w"), and the monotonic clock.
 */
#include "cdnopt/core.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static int64_t unit_seconds(char unit)
{
    switch (unit) {
    case 's':
        return 1;
    case 'm':
        return 60;
    case 'h':
        return 3600;
    case 'd':
        return 86400;
    case 'w':
        return 7 * 86400;
    default:
        return 0;
    }
}

int cdnopt_duration_parse(const char *text, int64_t *seconds, char *err)
{
    if (text == NULL || *text == '\0')
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "empty duration: write a number and a unit such as 30s, 5m, 1h or 1d");

    errno = 0;
    char *end = NULL;
    long long count = strtoll(text, &end, 10);
    if (end == text || errno == ERANGE || count < 0 || !isdigit((unsigned char)text[0]))
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "invalid duration '%s': write a whole number and a unit such as 30s, "
                           "5m, 1h or 1d",
                           text);

    int64_t scale = 1;
    if (*end != '\0') {
        scale = unit_seconds(*end);
        if (scale == 0 || end[1] != '\0')
            return cdnopt_fail(err, CDNOPT_EINVAL,
                               "invalid duration unit in '%s': use s, m, h, d or w (30s, 5m, 1h, "
                               "1d)",
                               text);
    }
    if (count > INT64_MAX / scale)
        return cdnopt_fail(err, CDNOPT_EINVAL, "duration '%s' is too large", text);

    *seconds = (int64_t)count * scale;
    return CDNOPT_OK;
}

void cdnopt_duration_format(int64_t seconds, char *buf, size_t buf_size)
{
    static const char units[] = {'w', 'd', 'h', 'm'};
    for (size_t i = 0; i < sizeof units; i++) {
        int64_t scale = unit_seconds(units[i]);
        if (seconds != 0 && seconds % scale == 0) {
            snprintf(buf, buf_size, "%" PRId64 "%c", seconds / scale, units[i]);
            return;
        }
    }
    snprintf(buf, buf_size, "%" PRId64 "s", seconds);
}

double cdnopt_clock_s(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec * 1e-9;
}
