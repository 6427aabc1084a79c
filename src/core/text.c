/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Text checks shared by the readers of files and request bodies, and the quoting of input
 * fields in their error messages.
 */
#include "cdnopt/core.h"

#include <stdio.h>
#include <string.h>

size_t cdnopt_utf8_sequence_length(const unsigned char *p)
{
    if (p[0] < 0x80)
        return 1;

    /* Lead byte ranges and the allowed range of the second byte (RFC 3629 section 4). */
    size_t len = 0;
    unsigned char lo = 0x80, hi = 0xbf;
    if (p[0] >= 0xc2 && p[0] <= 0xdf)
        len = 2;
    else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        len = 3;
        lo = p[0] == 0xe0 ? 0xa0 : 0x80;
        hi = p[0] == 0xed ? 0x9f : 0xbf;
    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        len = 4;
        lo = p[0] == 0xf0 ? 0x90 : 0x80;
        hi = p[0] == 0xf4 ? 0x8f : 0xbf;
    } else
        return 0;

    if (p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    return len;
}

/* Length of the printable UTF-8 sequence at p, or 0 when p[0] starts a control character
 * or a malformed sequence. avail is the number of readable bytes at p, which need not end
 * in a NUL, so the bytes are copied into a NUL-padded buffer before they are checked. */
static size_t printable_length(const unsigned char *p, size_t avail)
{
    if (p[0] < 0x20 || p[0] == 0x7f)
        return 0;
    unsigned char seq[5] = {0};
    memcpy(seq, p, avail < 4 ? avail : 4);
    size_t len = cdnopt_utf8_sequence_length(seq);

    /* U+0080 to U+009F are C1 control characters, and some terminals act on U+009B as CSI. */
    if (len == 2 && seq[0] == 0xc2 && seq[1] < 0xa0)
        return 0;
    return len;
}

bool cdnopt_utf8_is_bidi_control(const unsigned char *p)
{
    return p[0] == 0xe2 && ((p[1] == 0x80 && p[2] >= 0xaa && p[2] <= 0xae) ||
                            (p[1] == 0x81 && p[2] >= 0xa6 && p[2] <= 0xa9));
}

/* Write to out (at least 7 bytes) the text that stands for the bytes at p and return its
 * length, with *consumed set to the number of input bytes it covers. A printable sequence
 * is copied as is, a backslash doubled, a bidirectional control written as \uXXXX, and
 * any other byte as \xNN. */
static size_t quoted_unit(const unsigned char *p, size_t avail, char *out, size_t *consumed)
{
    size_t len = printable_length(p, avail);
    if (len == 1 && p[0] == '\\') {
        *consumed = 1;
        memcpy(out, "\\\\", 2);
        return 2;
    }
    if (len == 3 && cdnopt_utf8_is_bidi_control(p)) {
        *consumed = 3;
        unsigned code = ((unsigned)(p[0] & 0x0f) << 12) | ((unsigned)(p[1] & 0x3f) << 6) |
                        (unsigned)(p[2] & 0x3f);
        snprintf(out, 7, "\\u%04X", code);
        return 6;
    }
    if (len > 0) {
        *consumed = len;
        memcpy(out, p, len);
        return len;
    }
    *consumed = 1;
    snprintf(out, 5, "\\x%02X", p[0]);
    return 4;
}

char *cdnopt_text_quote(char *dst, size_t dst_size, const char *src, size_t src_len,
                        size_t max_bytes)
{
    if (dst_size == 0)
        return dst;
    if (dst_size < 4) {
        dst[0] = '\0';
        return dst;
    }
    if (max_bytes > dst_size - 4)
        max_bytes = dst_size - 4;

    const unsigned char *in = (const unsigned char *)src;
    size_t used = 0, pos = 0;
    while (pos < src_len) {
        char unit[8];
        size_t consumed = 0;
        size_t out_len = quoted_unit(in + pos, src_len - pos, unit, &consumed);
        if (used + out_len > max_bytes)
            break;
        memcpy(dst + used, unit, out_len);
        used += out_len;
        pos += consumed;
    }
    if (pos < src_len) {
        memcpy(dst + used, "...", 3);
        used += 3;
    }
    dst[used] = '\0';
    return dst;
}
