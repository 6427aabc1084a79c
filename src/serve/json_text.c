// SPDX-License-Identifier: Apache-2.0
/*
 * JSON text of responses. jansson writes every real with 17 significant digits and
 * appends ".0" to whole numbers, so 565.4 reads 565.39999999999998 and a count of
 * 98884 users reads 98884.0. This file rewrites each real of jansson's compact text in
 * the shortest form that parses back to the same double: whole numbers below 2^53
 * without a fraction, others with the fewest significant digits (1 to 17) that
 * round-trip through strtod.
 */
#include "serve-impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Whole numbers up to this magnitude are exact in a double, so "%.0f" prints them exactly. */
#define EXACT_INTEGER_MAX 9007199254740992.0 /* 2^53 */

/* Maximum length of one number's text: sign, 17 digits, point, "e-308" and NUL fit. */
#define NUMBER_TEXT_MAX 32

struct text_buffer {
    char *text;
    size_t len, cap;
};

static bool append(struct text_buffer *out, const char *bytes, size_t n)
{
    if (out->len + n + 1 > out->cap) {
        size_t cap = out->cap == 0 ? 256 : out->cap;
        while (cap < out->len + n + 1)
            cap *= 2;
        char *grown = cdnopt_realloc(out->text, cap);
        if (grown == NULL)
            return false;
        out->text = grown;
        out->cap = cap;
    }
    memcpy(out->text + out->len, bytes, n);
    out->len += n;
    out->text[out->len] = '\0';
    return true;
}

void serve_format_real(double value, char *buf, size_t size)
{
    if (value == floor(value) && fabs(value) < EXACT_INTEGER_MAX) {
        snprintf(buf, size, "%.0f", value);
        return;
    }
    for (int digits = 1; digits <= 17; digits++) {
        snprintf(buf, size, "%.*g", digits, value);
        if (strtod(buf, NULL) == value)
            return;
    }
}

/* Length of the JSON string that starts with the quote at text, both quotes included. */
static size_t string_length(const char *text)
{
    size_t i = 1;
    while (text[i] != '\0' && text[i] != '"')
        i += text[i] == '\\' && text[i + 1] != '\0' ? 2 : 1;
    return text[i] == '"' ? i + 1 : i;
}

/* Copy the number token at text to out, rewriting it when it is a real; *used receives
 * the token's length in text. */
static bool copy_number(const char *text, struct text_buffer *out, size_t *used)
{
    size_t n = strspn(text, "0123456789+-.eE");
    *used = n;
    if (n >= NUMBER_TEXT_MAX || strcspn(text, ".eE") >= n)
        return append(out, text, n); // an integer, already exact

    char token[NUMBER_TEXT_MAX], shortest[NUMBER_TEXT_MAX];
    memcpy(token, text, n);
    token[n] = '\0';
    serve_format_real(strtod(token, NULL), shortest, sizeof shortest);
    return append(out, shortest, strlen(shortest));
}

char *serve_json_dumps(const json_t *value)
{
    char *text = json_dumps(value, JSON_COMPACT);
    if (text == NULL)
        return NULL;

    struct text_buffer out = {0};
    bool ok = true;
    for (size_t i = 0; ok && text[i] != '\0';) {
        size_t used = 1;
        if (text[i] == '"') {
            used = string_length(text + i);
            ok = append(&out, text + i, used);
        } else if (text[i] == '-' || (text[i] >= '0' && text[i] <= '9')) {
            ok = copy_number(text + i, &out, &used);
        } else {
            ok = append(&out, text + i, 1);
        }
        i += used;
    }
    cdnopt_free(text);
    if (!ok) {
        cdnopt_free(out.text);
        return NULL;
    }
    return out.text;
}
