/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Civil time: conversion between broken-down wall-clock time and civil seconds,
 * timestamp parsing, and conversion of Unix seconds to a zone's wall clock.
 *
 * Civil seconds count days in the proleptic Gregorian calendar from 1970-01-01
 * with no zone and no leap seconds, so every day has 86400 of them.
 */
#include "series-impl.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define SECONDS_PER_DAY 86400

/* Days before the first of each month in a common year. */
static const int days_before_month[12] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if (a % b != 0 && (a < 0) != (b < 0))
        q--;
    return q;
}

static bool is_leap_year(int64_t year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

static int days_in_month(int64_t year, int month)
{
    static const int lengths[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return lengths[month - 1] + (month == 2 && is_leap_year(year));
}

/* Leap years in [1, year), counting backwards correctly for year <= 0 too. */
static int64_t leap_years_before(int64_t year)
{
    int64_t y = year - 1;
    return floor_div(y, 4) - floor_div(y, 100) + floor_div(y, 400);
}

static int64_t days_from_date(int64_t year, int month, int day)
{
    int64_t days = 365 * (year - 1970) + leap_years_before(year) - leap_years_before(1970);
    days += days_before_month[month - 1] + (month > 2 && is_leap_year(year));
    return days + day - 1;
}

int64_t cdnopt_civil_from_fields(const cdnopt_civil_fields *f)
{
    int64_t days = days_from_date(f->year, f->month, f->day);
    return days * SECONDS_PER_DAY + f->hour * 3600 + f->minute * 60 + f->second;
}

void cdnopt_civil_to_fields(int64_t t, cdnopt_civil_fields *f)
{
    int64_t days = floor_div(t, SECONDS_PER_DAY);
    int64_t second_of_day = t - days * SECONDS_PER_DAY;

    /* Estimate the year from the mean Gregorian year, then correct by at most one. */
    int64_t year = 1970 + floor_div(days * 400, 146097);
    while (days_from_date(year, 1, 1) > days)
        year--;
    while (days_from_date(year + 1, 1, 1) <= days)
        year++;

    /* days_before_month[month] is the day of the year on which month + 1 begins. */
    int day_of_year = (int)(days - days_from_date(year, 1, 1));
    int leap = is_leap_year(year);
    int month = 1;
    while (month < 12 && day_of_year >= days_before_month[month] + (month >= 2 ? leap : 0))
        month++;

    f->year = (int)year;
    f->month = month;
    f->day = day_of_year - days_before_month[month - 1] - (month > 2 ? leap : 0) + 1;
    f->hour = (int)(second_of_day / 3600);
    f->minute = (int)(second_of_day / 60 % 60);
    f->second = (int)(second_of_day % 60);
}

void cdnopt_civil_format(int64_t t, char *buf, size_t buf_size)
{
    cdnopt_civil_fields f;
    cdnopt_civil_to_fields(t, &f);
    snprintf(buf, buf_size, "%04d-%02d-%02d %02d:%02d:%02d", f.year, f.month, f.day, f.hour,
             f.minute, f.second);
}

int cdnopt_civil_hour(int64_t t)
{
    return (int)((t - floor_div(t, SECONDS_PER_DAY) * SECONDS_PER_DAY) / 3600);
}

int cdnopt_civil_weekday(int64_t t)
{
    /* 1970-01-01 was a Thursday, tm_wday 4. */
    int64_t days = floor_div(t, SECONDS_PER_DAY);
    return (int)((days % 7 + 7 + 4) % 7);
}

int64_t cdnopt_civil_day_start(int64_t t)
{
    return floor_div(t, SECONDS_PER_DAY) * SECONDS_PER_DAY;
}

/* ---- Parsing -------------------------------------------------------------- */

/* Read exactly n digits at *p into *value and advance *p. */
static bool read_digits(const char **p, int n, int *value)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return false;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *value = v;
    return true;
}

static bool read_date(const char **p, cdnopt_civil_fields *f)
{
    if (!read_digits(p, 4, &f->year) || **p != '-')
        return false;
    (*p)++;
    if (!read_digits(p, 2, &f->month) || **p != '-')
        return false;
    (*p)++;
    if (!read_digits(p, 2, &f->day))
        return false;
    return f->month >= 1 && f->month <= 12 && f->day >= 1 &&
           f->day <= days_in_month(f->year, f->month);
}

/* Optional "[ T]HH:MM[:SS]" after the date. */
static bool read_clock(const char **p, cdnopt_civil_fields *f)
{
    f->hour = f->minute = f->second = 0;
    if (**p != ' ' && **p != 'T')
        return true;
    (*p)++;
    if (!read_digits(p, 2, &f->hour) || **p != ':')
        return false;
    (*p)++;
    if (!read_digits(p, 2, &f->minute))
        return false;
    if (**p == ':') {
        (*p)++;
        if (!read_digits(p, 2, &f->second))
            return false;
    }
    return f->hour <= 23 && f->minute <= 59 && f->second <= 59;
}

/* Zone suffix: "Z", "+HH:MM", "+HHMM" or "+HH" (and '-'); *offset_s is east of UTC. */
static bool read_zone(const char **p, int64_t *offset_s)
{
    if (**p == 'Z' || **p == 'z') {
        (*p)++;
        *offset_s = 0;
        return true;
    }
    int sign = **p == '+' ? 1 : -1;
    (*p)++;
    int hours = 0, minutes = 0;
    if (!read_digits(p, 2, &hours))
        return false;
    if (**p == ':')
        (*p)++;
    if (isdigit((unsigned char)**p) && !read_digits(p, 2, &minutes))
        return false;
    if (hours > 23 || minutes > 59)
        return false;
    *offset_s = sign * (hours * 3600 + minutes * 60);
    return true;
}

static bool is_unix_seconds(const char *text)
{
    size_t n = strlen(text);
    if (n != 10)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)text[i]))
            return false;
    }
    return true;
}

bool cdnopt__time_parse(const char *text, int64_t *value, bool *is_utc)
{
    if (is_unix_seconds(text)) {
        *value = strtoll(text, NULL, 10);
        *is_utc = true;
        return true;
    }

    cdnopt_civil_fields f;
    const char *p = text;
    if (!read_date(&p, &f) || !read_clock(&p, &f))
        return false;
    int64_t civil = cdnopt_civil_from_fields(&f);
    if (*p == '\0') {
        *value = civil;
        *is_utc = false;
        return true;
    }

    /* A zone may only follow a clock time, never a bare date. */
    int64_t offset_s = 0;
    bool has_clock = p - text > 10;
    if (!has_clock || (*p != 'Z' && *p != 'z' && *p != '+' && *p != '-'))
        return false;
    if (!read_zone(&p, &offset_s) || *p != '\0')
        return false;
    *value = civil - offset_s;
    *is_utc = true;
    return true;
}

int cdnopt_civil_parse(const char *text, int64_t *t, char *err)
{
    bool is_utc = false;
    int64_t value = 0;
    if (text == NULL || !cdnopt__time_parse(text, &value, &is_utc))
        return cdnopt_fail(err, CDNOPT_EPARSE,
                           "invalid time '%s': expected local time as YYYY-MM-DD HH:MM:SS",
                           text != NULL ? text : "(null)");
    if (is_utc)
        return cdnopt_fail(err, CDNOPT_EPARSE,
                           "time '%s' has a zone or is Unix seconds: expected local time as "
                           "YYYY-MM-DD HH:MM:SS without a zone",
                           text);
    *t = value;
    return CDNOPT_OK;
}

/* ---- Zones ---------------------------------------------------------------- */

/* Rationale for switching TZ: the C library is the only zone database the build
 * can rely on, and localtime_r() reads the zone from TZ. The switch is process
 * wide, so this lock serialises every conversion in this module. */
static pthread_mutex_t zone_lock = PTHREAD_MUTEX_INITIALIZER;

/* Parse a fixed-offset zone in ISO 8601 form, "UTC+01:00", "UTC-0500" or "UTC+08",
 * with *offset_s east of UTC. POSIX TZ strings count the other way round, so these
 * names are handled here and never given to the C library. */
static bool fixed_offset_zone(const char *tz, int64_t *offset_s)
{
    if (tz == NULL || strncmp(tz, "UTC", 3) != 0 || (tz[3] != '+' && tz[3] != '-'))
        return false;
    const char *p = tz + 3;
    return read_zone(&p, offset_s) && *p == '\0';
}

int cdnopt__zone_check(const char *tz, char *err)
{
    int64_t offset_s = 0;
    if (tz == NULL || fixed_offset_zone(tz, &offset_s))
        return CDNOPT_OK;
    /* No zone file is named UTC+ or UTC-, so such a name is a fixed offset written wrong. */
    if (strncmp(tz, "UTC+", 4) == 0 || strncmp(tz, "UTC-", 4) == 0)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "invalid fixed offset '%s': write UTC+HH:MM or UTC-HH:MM with hours "
                           "from 00 to 23 and minutes from 00 to 59, such as UTC+01:00 or "
                           "UTC-05:30",
                           tz);
    if (tz[0] == '\0' || tz[0] == '/' || strstr(tz, "..") != NULL)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "invalid time zone '%s': give an IANA name such as Europe/London, UTC "
                           "or a fixed offset such as UTC+01:00",
                           tz);

    /* glibc reads zone files from TZDIR when it is set, else from /usr/share/zoneinfo. */
    const char *dir = getenv("TZDIR");
    if (dir == NULL || dir[0] == '\0')
        dir = "/usr/share/zoneinfo";
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, tz);
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "unknown time zone '%s' (no file %s): give an IANA name such as "
                           "Europe/London, UTC or a fixed offset such as UTC+01:00, and install "
                           "tzdata if it is missing",
                           tz, path);
    return CDNOPT_OK;
}

static int64_t civil_from_tm(const struct tm *tm)
{
    cdnopt_civil_fields f = {tm->tm_year + 1900, tm->tm_mon + 1, tm->tm_mday,
                             tm->tm_hour, tm->tm_min, tm->tm_sec};
    return cdnopt_civil_from_fields(&f);
}

/* Set TZ to tz (when not NULL) and return a copy of the old value in *saved. */
static int zone_enter(const char *tz, char **saved, bool *had_tz, char *err)
{
    *saved = NULL;
    *had_tz = false;
    if (tz == NULL) {
        tzset();
        return CDNOPT_OK;
    }

    const char *old = getenv("TZ");
    if (old != NULL) {
        *saved = cdnopt_strdup(old);
        if (*saved == NULL)
            return cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory saving TZ");
        *had_tz = true;
    }
    if (setenv("TZ", tz, 1) != 0) {
        cdnopt_free(*saved);
        *saved = NULL;
        return cdnopt_fail(err, CDNOPT_ENOMEM, "cannot set TZ to '%s'", tz);
    }
    tzset();
    return CDNOPT_OK;
}

static void zone_leave(const char *tz, char *saved, bool had_tz)
{
    if (tz == NULL)
        return;
    if (had_tz)
        setenv("TZ", saved, 1);
    else
        unsetenv("TZ");
    tzset();
    cdnopt_free(saved);
}

/* Write a UTC offset in seconds as "+01:00". */
static void format_offset(int64_t offset_s, char *buf, size_t buf_size)
{
    int64_t magnitude = offset_s < 0 ? -offset_s : offset_s;
    snprintf(buf, buf_size, "%c%02lld:%02lld", offset_s < 0 ? '-' : '+',
             (long long)(magnitude / 3600), (long long)(magnitude / 60 % 60));
}

/* Rationale: a series lives on a regular grid of civil seconds, but a zone with
 * daylight saving repeats one wall-clock hour and skips another each year, so
 * correct zoned data would turn into false duplicates or gaps. The reader fails
 * at the first offset change instead and names a fixed-offset zone that keeps
 * the grid (the Etc/GMT names count the other way round: Etc/GMT-1 is UTC+01:00). */
static int offset_change_error(const char *tz, const char *path, long line_no, int64_t civil,
                               int64_t old_offset_s, int64_t new_offset_s, char *err)
{
    char when[CDNOPT_CIVIL_TEXT_MAX], old_text[48], new_text[48], fixed[48];
    cdnopt_civil_format(civil, when, sizeof when);
    format_offset(old_offset_s, old_text, sizeof old_text);
    format_offset(new_offset_s, new_text, sizeof new_text);
    if (old_offset_s % 3600 == 0 && old_offset_s != 0)
        snprintf(fixed, sizeof fixed, " (or Etc/GMT%+lld)", (long long)(-old_offset_s / 3600));
    else
        fixed[0] = '\0';
    return cdnopt_fail(err, CDNOPT_EINVAL,
                       "%s:%ld: time zone %s changes its UTC offset from %s to %s at local time "
                       "%s (daylight saving), so local times would repeat or skip an hour; "
                       "give --tz a fixed offset such as UTC%s%s, or UTC",
                       path, line_no, tz != NULL ? tz : "(the machine's zone)", old_text,
                       new_text, when, old_text, fixed);
}

int cdnopt__utc_to_civil(const char *tz, int64_t *t, const unsigned char *is_utc, size_t n,
                         const char *path, const long *line, char *err)
{
    int rc = cdnopt__zone_check(tz, err);
    if (rc != CDNOPT_OK)
        return rc;

    /* Files without zoned timestamps never touch TZ, so they are safe to read while
     * other threads use the C library's time functions. */
    size_t n_utc = 0;
    for (size_t i = 0; i < n; i++)
        n_utc += is_utc[i];
    if (n_utc == 0)
        return CDNOPT_OK;

    int64_t fixed_offset_s = 0;
    if (fixed_offset_zone(tz, &fixed_offset_s)) {
        for (size_t i = 0; i < n; i++)
            t[i] += is_utc[i] ? fixed_offset_s : 0;
        return CDNOPT_OK;
    }

    pthread_mutex_lock(&zone_lock);
    char *saved = NULL;
    bool had_tz = false;
    rc = zone_enter(tz, &saved, &had_tz, err);
    if (rc != CDNOPT_OK) {
        pthread_mutex_unlock(&zone_lock);
        return rc;
    }

    bool have_offset = false;
    int64_t first_offset_s = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_utc[i])
            continue;
        time_t unix_s = (time_t)t[i];
        struct tm tm;
        if (localtime_r(&unix_s, &tm) == NULL) {
            rc = cdnopt_fail(err, CDNOPT_EINVAL, "cannot convert Unix time %lld to zone %s",
                             (long long)t[i], tz != NULL ? tz : "(local)");
            break;
        }

        int64_t civil = civil_from_tm(&tm);
        int64_t offset_s = civil - t[i];
        if (have_offset && offset_s != first_offset_s) {
            rc = offset_change_error(tz, path, line[i], civil, first_offset_s, offset_s, err);
            break;
        }
        have_offset = true;
        first_offset_s = offset_s;
        t[i] = civil;
    }
    zone_leave(tz, saved, had_tz);
    pthread_mutex_unlock(&zone_lock);
    return rc;
}
