/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Low-level CSV handling for the readers: whole-file reading, a line cursor that
 * cuts lines in place, field splitting with quotes, delimiter detection and
 * number classification. Fields point into the line buffer, so a split line
 * must outlive its fields.
 */
#include "series-impl.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int cdnopt__grow(void **array, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return CDNOPT_OK;
    size_t new_cap = *cap < 16 ? 16 : *cap;
    while (new_cap < need)
        new_cap *= 2;
    void *grown = cdnopt_realloc(*array, new_cap * elem);
    if (grown == NULL)
        return CDNOPT_ENOMEM;
    *array = grown;
    *cap = new_cap;
    return CDNOPT_OK;
}

/* Reject classic Mac OS line ends: the line reader splits at LF only, so a file whose
 * lines end in a bare CR would read as one long header line with no rows. */
static int check_bare_cr(const char *text, size_t len, const char *path, char *err)
{
    if (memchr(text, '\n', len) != NULL || memchr(text, '\r', len) == NULL)
        return CDNOPT_OK;
    return cdnopt_fail(err, CDNOPT_EPARSE,
                       "%s: lines end in a bare CR (classic Mac OS), so the file reads as one "
                       "line; convert the line ends to LF or CRLF, for example with tr '\\r' "
                       "'\\n'",
                       path);
}

int cdnopt__file_read_all(const char *path, char **text, size_t *size, char *err)
{
    *text = NULL;
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return cdnopt_fail(err, CDNOPT_EIO, "cannot open %s: %s; check the path", path,
                           strerror(errno));

    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = CDNOPT_OK;
    for (;;) {
        if (cdnopt__grow((void **)&buf, &cap, len + 65536 + 1, 1) != CDNOPT_OK) {
            rc = cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory reading %s (%zu bytes so far)",
                             path, len);
            break;
        }
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0) {
            if (ferror(f))
                rc = cdnopt_fail(err, CDNOPT_EIO, "cannot read %s: %s", path, strerror(errno));
            break;
        }
    }
    fclose(f);
    if (rc != CDNOPT_OK) {
        cdnopt_free(buf);
        return rc;
    }

    buf[len] = '\0';
    rc = cdnopt__text_check_nul(buf, len, path, err);
    if (rc == CDNOPT_OK)
        rc = check_bare_cr(buf, len, path, err);
    if (rc != CDNOPT_OK) {
        cdnopt_free(buf);
        return rc;
    }
    *text = buf;
    *size = len;
    return CDNOPT_OK;
}

int cdnopt__text_check_nul(const char *text, size_t len, const char *name, char *err)
{
    const char *nul = memchr(text, '\0', len);
    if (nul == NULL)
        return CDNOPT_OK;

    long line_no = 1;
    for (const char *p = text; p < nul; p++)
        line_no += *p == '\n';
    return cdnopt_fail(err, CDNOPT_EPARSE,
                       "%s:%ld: contains a NUL byte at byte offset %zu, so the file is binary "
                       "or corrupt; regenerate it or remove the NUL bytes",
                       name, line_no, (size_t)(nul - text));
}

void cdnopt__line_cursor_init(cdnopt__line_cursor *cursor, char *text)
{
    if ((unsigned char)text[0] == 0xEF && (unsigned char)text[1] == 0xBB &&
        (unsigned char)text[2] == 0xBF)
        text += 3;
    cursor->next = text[0] != '\0' ? text : NULL;
    cursor->line_no = 0;
}

char *cdnopt__line_next(cdnopt__line_cursor *cursor)
{
    char *line = cursor->next;
    if (line == NULL)
        return NULL;
    cursor->line_no++;

    char *newline = strchr(line, '\n');
    if (newline != NULL) {
        *newline = '\0';
        cursor->next = newline[1] != '\0' ? newline + 1 : NULL;
    } else {
        cursor->next = NULL;
    }
    size_t len = strlen(line);
    if (len > 0 && line[len - 1] == '\r')
        line[len - 1] = '\0';
    return line;
}

bool cdnopt__line_is_blank(const char *line, char delimiter)
{
    for (const char *p = line; *p != '\0'; p++) {
        if (*p != ' ' && *p != '\t' && *p != delimiter)
            return false;
    }
    return true;
}

char *cdnopt__trim(char *text)
{
    while (*text == ' ' || *text == '\t')
        text++;
    size_t len = strlen(text);
    while (len > 0 && (text[len - 1] == ' ' || text[len - 1] == '\t'))
        text[--len] = '\0';
    return text;
}

/* Unquote the field starting at the quote *p into itself; return the end. */
static char *split_quoted(char *p, char delimiter, bool *closed)
{
    char *out = p;
    p++; // skip the opening quote
    *closed = false;
    while (*p != '\0') {
        if (*p == '"' && p[1] == '"') {
            *out++ = '"';
            p += 2;
        } else if (*p == '"') {
            p++;
            *closed = true;
            break;
        } else {
            *out++ = *p++;
        }
    }

    /* Text between the closing quote and the delimiter is kept, as spreadsheets do. */
    while (*closed && *p != '\0' && *p != delimiter)
        *out++ = *p++;
    char *end = p;
    *out = '\0';
    return end;
}

int cdnopt__fields_split(char *line, char delimiter, cdnopt__fields *fields)
{
    fields->n = 0;
    char *p = line;
    for (;;) {
        if (cdnopt__grow((void **)&fields->v, &fields->cap, fields->n + 1, sizeof(char *)) !=
            CDNOPT_OK)
            return CDNOPT_ENOMEM;

        char *start = p;
        while (*start == ' ')
            start++;
        char *end = NULL;
        if (*start == '"') {
            bool closed = false;
            end = split_quoted(start, delimiter, &closed);
            if (!closed)
                return CDNOPT_EPARSE;
            fields->v[fields->n++] = start;
        } else {
            end = strchr(p, delimiter);
            if (end == NULL)
                end = p + strlen(p);
            fields->v[fields->n++] = p;
        }

        if (*end == '\0')
            return CDNOPT_OK;
        *end = '\0';
        p = end + 1;
    }
}

int cdnopt_csv_split(char *line, char delimiter, char **fields, size_t max_fields,
                     size_t *n_fields)
{
    cdnopt__fields split = {0};
    int rc = cdnopt__fields_split(line, delimiter, &split);
    if (rc == CDNOPT_OK && split.n > max_fields)
        rc = CDNOPT_EINVAL;
    if (rc == CDNOPT_OK) {
        memcpy(fields, split.v, split.n * sizeof *fields);
        *n_fields = split.n;
    }
    cdnopt__fields_fini(&split);
    return rc;
}

void cdnopt__fields_fini(cdnopt__fields *fields)
{
    cdnopt_free(fields->v);
    fields->v = NULL;
    fields->n = fields->cap = 0;
}

char cdnopt__delimiter_detect(const char *line)
{
    size_t commas = 0, semicolons = 0, tabs = 0;
    bool quoted = false;
    for (const char *p = line; *p != '\0'; p++) {
        if (*p == '"')
            quoted = !quoted;
        else if (!quoted && *p == ',')
            commas++;
        else if (!quoted && *p == ';')
            semicolons++;
        else if (!quoted && *p == '\t')
            tabs++;
    }

    /* On a tie, ';' and tab win over ',' because files that use them often write
     * decimal commas. */
    if (tabs > 0 && tabs >= semicolons && tabs >= commas)
        return '\t';
    if (semicolons > 0 && semicolons >= commas)
        return ';';
    return ',';
}

const char *cdnopt__delimiter_name(char delimiter)
{
    switch (delimiter) {
    case '\t':
        return "tab";
    case ';':
        return "';'";
    default:
        return "','";
    }
}

static bool is_missing_token(const char *text)
{
    static const char *tokens[] = {"", "na", "n/a", "nan", "-nan", "null", "none"};
    for (size_t i = 0; i < sizeof tokens / sizeof tokens[0]; i++) {
        if (strcasecmp(text, tokens[i]) == 0)
            return true;
    }
    return false;
}

enum cdnopt__number_kind cdnopt__number_parse(const char *text, double *value)
{
    if (is_missing_token(text))
        return CDNOPT__NUMBER_MISSING;

    /* strtod would also take hexadecimal floats; CSV numbers are decimal. */
    for (const char *p = text; *p != '\0'; p++) {
        if (*p == 'x' || *p == 'X')
            return CDNOPT__NUMBER_INVALID;
    }

    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || *end != '\0')
        return CDNOPT__NUMBER_INVALID;
    if (isnan(v))
        return CDNOPT__NUMBER_MISSING;
    if (isinf(v) || (errno == ERANGE && fabs(v) > 1.0) || fabs(v) > CDNOPT__VALUE_MAX)
        return CDNOPT__NUMBER_INFINITE;
    *value = v;
    return CDNOPT__NUMBER_OK;
}
