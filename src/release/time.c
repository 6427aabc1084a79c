/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Civil timestamps of the releases and schedule files: "YYYY-MM-DD HH:MM:SS" local
 * wall-clock time, counted as seconds since 1970-01-01 00:00:00 with no zone.
 */
#include "cdnopt/release.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static bool is_leap(int year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

static int days_in_month(int year, int month)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return month == 2 && is_leap(year) ? 29 : days[month - 1];
}

/* Leap years in [1, year). */
static int64_t leaps_before(int year)
{
    int64_t y = year - 1;
    return y / 4 - y / 100 + y / 400;
}

/* Days from 1970-01-01 to the given date (years 1..9999). */
static int64_t days_since_epoch(int year, int month, int day)
{
    static const int before_month[12] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
    int64_t days = 365 * (int64_t)(year - 1970) + leaps_before(year) - leaps_before(1970);
    days += before_month[month - 1] + (month > 2 && is_leap(year) ? 1 : 0);
    return days + day - 1;
}

/* Read exactly width digits at text; returns -1 when one is not a digit. */
static int digits(const char *text, int width)
{
    int value = 0;
    for (int i = 0; i < width; i++) {
        if (!isdigit((unsigned char)text[i]))
            return -1;
        value = value * 10 + (text[i] - '0');
    }
    return value;
}

int cdnopt_release_parse_time(const char *text, int64_t *out)
{
    /* "YYYY-MM-DD HH:MM:SS": 19 characters with fixed separators ('T' also accepted). */
    if (text == NULL || strlen(text) != 19 || text[4] != '-' || text[7] != '-' ||
        (text[10] != ' ' && text[10] != 'T') || text[13] != ':' || text[16] != ':')
        return CDNOPT_EPARSE;

    int year = digits(text, 4), month = digits(text + 5, 2), day = digits(text + 8, 2);
    int hour = digits(text + 11, 2), minute = digits(text + 14, 2), second = digits(text + 17, 2);
    if (year < 1 || month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) ||
        hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59)
        return CDNOPT_EPARSE;

    *out = days_since_epoch(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
    return 0;
}

void cdnopt_release_format_time(int64_t t, char *buf, size_t buf_size)
{
    /* Civil seconds read as UTC give the wall-clock fields back unchanged. */
    time_t seconds = (time_t)t;
    struct tm fields;
    if (gmtime_r(&seconds, &fields) == NULL) {
        snprintf(buf, buf_size, "(time %lld)", (long long)t);
        return;
    }
    snprintf(buf, buf_size, "%04d-%02d-%02d %02d:%02d:%02d", fields.tm_year + 1900,
             fields.tm_mon + 1, fields.tm_mday, fields.tm_hour, fields.tm_min, fields.tm_sec);
}
