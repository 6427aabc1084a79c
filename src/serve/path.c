/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Percent-encoding of release ids in request paths (RFC 3986 section 2.1). A release id
 * may hold any printable UTF-8 text, commas, slashes and spaces included, so the {id}
 * segment of a path is split from the raw request target first and decoded after, and
 * the paths the service writes (the Location header, hints in messages) encode the id.
 */
#include "serve-impl.h"

#include <string.h>

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

enum serve_path_status serve_path_decode(const char *raw, size_t len, char *out, size_t size)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char c = raw[i];
        if (c == '%') {
            int high = i + 2 < len ? hex_value(raw[i + 1]) : -1;
            int low = high >= 0 ? hex_value(raw[i + 2]) : -1;
            if (low < 0)
                return SERVE_PATH_BAD_ESCAPE;
            c = (char)(high * 16 + low);
            if (c == '\0')
                return SERVE_PATH_NUL;
            i += 2;
        }
        if (n + 1 >= size)
            return SERVE_PATH_TOO_LONG;
        out[n++] = c;
    }
    out[n] = '\0';
    return SERVE_PATH_OK;
}

void serve_path_encode(const char *text, char *out, size_t size)
{
    static const char digits[] = "0123456789ABCDEF";
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++) {
        /* The unreserved characters of RFC 3986 stay as they are; every other byte,
         * each byte of a UTF-8 sequence included, becomes %XX. */
        bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                     (*p >= '0' && *p <= '9') || strchr("-._~", *p) != NULL;
        size_t need = plain ? 1 : 3;
        if (n + need >= size)
            break;
        if (plain) {
            out[n++] = (char)*p;
        } else {
            out[n++] = '%';
            out[n++] = digits[*p >> 4];
            out[n++] = digits[*p & 15];
        }
    }
    if (size > 0)
        out[n] = '\0';
}
