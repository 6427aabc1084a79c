/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Logging: a level filter and one replaceable sink. The default sink writes one
 * line per record to stderr: UTC time with milliseconds, level, module, the MPI
 * rank when one is set, then the message (key=value pairs by convention).
 */
#include "cdnopt/core.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

static enum cdnopt_log_level current_level = CDNOPT_LOG_LEVEL_INFO;
static cdnopt_log_sink current_sink = NULL;
static void *current_user = NULL;
static int current_rank = -1;

static const char *level_name(enum cdnopt_log_level level)
{
    switch (level) {
    case CDNOPT_LOG_LEVEL_ERROR:
        return "ERROR";
    case CDNOPT_LOG_LEVEL_WARN:
        return "WARN";
    case CDNOPT_LOG_LEVEL_INFO:
        return "INFO";
    case CDNOPT_LOG_LEVEL_DEBUG:
        return "DEBUG";
    }
    return "?";
}

static void stderr_sink(enum cdnopt_log_level level, const char *module, const char *message,
                        void *user)
{
    (void)user;

    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm utc;
    gmtime_r(&now.tv_sec, &utc);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &utc);

    /* One fprintf per record keeps lines from different threads whole. */
    if (current_rank >= 0)
        fprintf(stderr, "%s.%03ldZ %-5s %s rank=%d %s\n", stamp, now.tv_nsec / 1000000L,
                level_name(level), module, current_rank, message);
    else
        fprintf(stderr, "%s.%03ldZ %-5s %s %s\n", stamp, now.tv_nsec / 1000000L,
                level_name(level), module, message);
}

void cdnopt_log_set(cdnopt_log_sink sink, void *user)
{
    current_sink = sink;
    current_user = user;
}

void cdnopt_log_set_level(enum cdnopt_log_level level) { current_level = level; }

enum cdnopt_log_level cdnopt_log_get_level(void) { return current_level; }

void cdnopt_log_set_rank(int rank) { current_rank = rank; }

void cdnopt_log_write(enum cdnopt_log_level level, const char *module, const char *fmt, ...)
{
    if (level > current_level)
        return;

    char message[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);

    if (current_sink != NULL)
        current_sink(level, module, message, current_user);
    else
        stderr_sink(level, module, message, NULL);
}
