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
        size_t len = printable_length(in + pos, src_len - pos);

        /* A control or stray byte becomes \xNN, and a printable sequence is copied whole. */
        size_t out_len = len > 0 ? len : 4;
        if (used + out_len > max_bytes)
            break;
        if (len > 0)
            memcpy(dst + used, in + pos, len);
        else
            snprintf(dst + used, 5, "\\x%02X", in[pos]);
        used += out_len;
        pos += len > 0 ? len : 1;
    }
    if (pos < src_len) {
        memcpy(dst + used, "...", 3);
        used += 3;
    }
    dst[used] = '\0';
    return dst;
}
