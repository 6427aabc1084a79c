/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Text checks shared by the readers of files and request bodies.
 */
#include "cdnopt/core.h"

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
