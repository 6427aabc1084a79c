/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Error codes, error-message formatting and the assertion hook. The code list
 * lives once, in CDNOPT_ERRNO_MAP in core.h.
 */
#include "cdnopt/core.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

const char *cdnopt_strerror(int code)
{
    switch (code) {
    case CDNOPT_OK:
        return "success";
#define CDNOPT_ERR_TEXT_(name, value, text)                                     \
    case CDNOPT_##name:                                                        \
        return text;
        CDNOPT_ERRNO_MAP(CDNOPT_ERR_TEXT_)
#undef CDNOPT_ERR_TEXT_
    default:
        return "unknown error";
    }
}

const char *cdnopt_err_name(int code)
{
    switch (code) {
    case CDNOPT_OK:
        return "CDNOPT_OK";
#define CDNOPT_ERR_NAME_(name, value, text)                                     \
    case CDNOPT_##name:                                                        \
        return "CDNOPT_" #name;
        CDNOPT_ERRNO_MAP(CDNOPT_ERR_NAME_)
#undef CDNOPT_ERR_NAME_
    default:
        return "CDNOPT_UNKNOWN";
    }
}

int cdnopt_fail(char *buf, int code, const char *fmt, ...)
{
    if (buf == NULL)
        return code;

    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, CDNOPT_ERRMSG_MAX, fmt, ap);
    va_end(ap);
    return code;
}

static void default_abort_hook(const char *file, int line, const char *expr)
{
    fprintf(stderr, "%s:%d: assertion failed: %s\n", file, line, expr);
    fflush(stderr);
    abort();
}

static cdnopt_abort_hook current_abort_hook = default_abort_hook;

void cdnopt_set_abort_hook(cdnopt_abort_hook hook)
{
    current_abort_hook = hook != NULL ? hook : default_abort_hook;
}

void cdnopt__assert_fail(const char *file, int line, const char *expr)
{
    current_abort_hook(file, line, expr);

    /* A hook that returns would let the broken invariant run on. */
    abort();
}
