/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CSV reader behind the releases and schedule files. Rows are split on commas
 * in place, as RFC 4180 reads them (spreadsheets quote fields, and an id may contain a
 * comma). Surrounding spaces and the line ending are trimmed, except that an id with
 * spaces around it is rejected (release_csv_id). A quoted field cannot span lines.
 */
#include "release-impl.h"

#include "cdnopt/series.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Trim spaces, tabs and the line ending, and set *padded when spaces or tabs were removed. */
static char *trim(char *s, bool *padded)
{
    char *start = s;
    while (*s == ' ' || *s == '\t')
        s++;
    *padded = s != start;
    size_t len = strlen(s);
    while (len > 0 && (s[len - 1] == '\r' || s[len - 1] == '\n'))
        s[--len] = '\0';
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t')) {
        s[--len] = '\0';
        *padded = true;
    }
    return s;
}

/* Split a line into trimmed fields; CDNOPT_EPARSE for an open quote, CDNOPT_EINVAL for
 * more than RELEASE_FIELDS_MAX fields. */
static int split(char *line, char **fields, bool *padded, size_t *n_fields)
{
    int rc = cdnopt_csv_split(line, ',', fields, RELEASE_FIELDS_MAX, n_fields);
    if (rc != CDNOPT_OK)
        return rc;
    for (size_t i = 0; i < *n_fields; i++)
        fields[i] = trim(fields[i], &padded[i]);
    return CDNOPT_OK;
}

/* Name the way a line failed to split. */
static int split_error(const release_csv *csv, int rc, char *err)
{
    if (rc == CDNOPT_EPARSE)
        return cdnopt_fail(err, CDNOPT_EPARSE,
                           "%s line %ld: a quoted field has no closing quote; close it on the "
                           "same line (fields cannot contain line breaks)",
                           csv->path, csv->line_no);
    if (rc == CDNOPT_EINVAL)
        return cdnopt_fail(err, CDNOPT_EPARSE, "%s line %ld: more than %d fields", csv->path,
                           csv->line_no, RELEASE_FIELDS_MAX);
    return cdnopt_fail(err, rc, "%s line %ld: out of memory", csv->path, csv->line_no);
}

int release_fgets(char *buf, int size, FILE *file, bool *has_nul)
{
    /* fgets() returns no length, so a NUL byte from the file looks like the end of the
     * line. The buffer is filled with a non-zero byte first: fgets() writes one
     * terminator after the bytes it read, and any NUL before that came from the file. */
    memset(buf, '\n', (size_t)size);
    *has_nul = false;
    if (fgets(buf, size, file) == NULL)
        return ferror(file) ? -1 : 0;
    size_t len = strlen(buf);
    if (len + 1 < (size_t)size)
        *has_nul = memchr(buf + len + 1, '\0', (size_t)size - len - 1) != NULL;
    return 1;
}

int release_read_error(char *err, const char *path)
{
    /* fopen() opens a folder for reading on Linux, and only the first read fails with
     * EISDIR, so name that case in the words of the command line. */
    if (errno == EISDIR)
        return cdnopt_fail(err, CDNOPT_EIO, "%s: is a folder; give the path of a file", path);
    return cdnopt_fail(err, CDNOPT_EIO, "%s: cannot read: %s", path, strerror(errno));
}

int release_check_bare_cr(const char *line, const char *path, long line_no, char *err)
{
    /* A quoted field cannot span lines, so a CR with more bytes after it on the same line
     * is a line end that fgets() does not split at, as in classic Mac OS files. */
    const char *cr = strchr(line, '\r');
    if (cr == NULL || cr[1] == '\n' || cr[1] == '\0')
        return CDNOPT_OK;
    return cdnopt_fail(err, CDNOPT_EPARSE,
                       "%s line %ld: a bare CR ends a line inside this one (classic Mac OS line "
                       "ends); convert the line ends to LF or CRLF, for example with tr '\\r' "
                       "'\\n'",
                       path, line_no);
}

int release_check_line_length(const char *line, FILE *file, const char *path, long line_no,
                              char *err)
{
    /* fgets() stops at a full buffer without a newline, and the next call returns the rest
     * of the line as if it were a line of its own. */
    size_t len = strlen(line);
    if (len == RELEASE_LINE_MAX - 1 && line[len - 1] != '\n' && !feof(file))
        return cdnopt_fail(err, CDNOPT_EPARSE, "%s line %ld: line longer than %d bytes",
                           path, line_no, RELEASE_LINE_MAX - 2);
    return CDNOPT_OK;
}

void release_strip_bom(char *line)
{
    const unsigned char *u = (const unsigned char *)line;
    if (u[0] == 0xEF && u[1] == 0xBB && u[2] == 0xBF)
        memmove(line, line + 3, strlen(line + 3) + 1);
}

/* Read one physical line into buf; 1 read, 0 end of file, CDNOPT_EPARSE too long, a
 * NUL byte or a bare CR, CDNOPT_EIO a read error. */
static int read_line(release_csv *csv, char *buf, char *err)
{
    bool has_nul = false;
    int got = release_fgets(buf, RELEASE_LINE_MAX, csv->file, &has_nul);
    if (got < 0)
        return release_read_error(err, csv->path);
    if (got == 0)
        return 0;
    csv->line_no++;
    if (has_nul)
        return cdnopt_fail(err, CDNOPT_EPARSE, RELEASE_NUL_MESSAGE, csv->path, csv->line_no);
    int rc = release_check_bare_cr(buf, csv->path, csv->line_no, err);
    if (rc != CDNOPT_OK)
        return rc;
    rc = release_check_line_length(buf, csv->file, csv->path, csv->line_no, err);
    return rc != CDNOPT_OK ? rc : 1;
}

/* A line of only spaces and commas is blank: spreadsheets export empty rows as ",,,". */
static bool is_blank(const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n' && *s != ',')
            return false;
    }
    return true;
}

int release_csv_open(release_csv *csv, const char *path, char *err)
{
    memset(csv, 0, sizeof *csv);
    csv->path = path;
    csv->file = fopen(path, "r");
    if (csv->file == NULL)
        return cdnopt_fail(err, CDNOPT_EIO, "%s: cannot open: %s", path, strerror(errno));

    int rc = read_line(csv, csv->header, err);
    if (rc <= 0) {
        release_csv_close(csv);
        return rc < 0 ? rc
                      : cdnopt_fail(err, CDNOPT_EPARSE,
                                    "%s: empty file; expected a header row of column names", path);
    }
    release_strip_bom(csv->header);
    bool padded[RELEASE_FIELDS_MAX];
    rc = split(csv->header, csv->names, padded, &csv->n_names);
    if (rc != CDNOPT_OK) {
        split_error(csv, rc, err);
        release_csv_close(csv);
        return rc == CDNOPT_ENOMEM ? rc : CDNOPT_EPARSE;
    }

    /* A column named twice would be read from its first place only, and the values of
     * the second dropped without a word. */
    for (size_t i = 0; i < csv->n_names; i++) {
        for (size_t j = i + 1; j < csv->n_names; j++) {
            if (csv->names[i][0] == '\0' || strcmp(csv->names[i], csv->names[j]) != 0)
                continue;
            char shown[CDNOPT_QUOTE_SIZE];
            cdnopt_fail(err, CDNOPT_EPARSE,
                        "%s line 1: column '%s' is named twice (columns %zu and %zu); keep one",
                        path,
                        cdnopt_text_quote(shown, sizeof shown, csv->names[i], strlen(csv->names[i]),
                                          CDNOPT_QUOTE_BYTES),
                        i + 1, j + 1);
            release_csv_close(csv);
            return CDNOPT_EPARSE;
        }
    }
    return 0;
}

int release_csv_next(release_csv *csv, char *err)
{
    for (;;) {
        int rc = read_line(csv, csv->buf, err);
        if (rc <= 0)
            return rc;
        if (is_blank(csv->buf))
            continue;
        rc = split(csv->buf, csv->fields, csv->padded, &csv->n_fields);
        if (rc != CDNOPT_OK)
            return split_error(csv, rc, err);
        if (csv->n_fields > csv->n_names)
            return cdnopt_fail(err, CDNOPT_EPARSE,
                               "%s line %ld: %zu fields but the header names %zu columns; "
                               "remove the extra fields or name them in the header",
                               csv->path, csv->line_no, csv->n_fields, csv->n_names);
        return 1;
    }
}

int release_csv_column(const release_csv *csv, const char *name)
{
    for (size_t i = 0; i < csv->n_names; i++) {
        if (strcmp(csv->names[i], name) == 0)
            return (int)i;
    }
    return -1;
}

const char *release_csv_delimiter_hint(const release_csv *csv)
{
    if (csv->n_names != 1)
        return "";
    if (strchr(csv->names[0], ';') != NULL)
        return "; the header is one column containing ';', so the file seems to use ';' between "
               "fields: write commas";
    if (strchr(csv->names[0], '\t') != NULL)
        return "; the header is one column containing tabs, so the file seems to use tabs between "
               "fields: write commas";
    return "";
}

int release_csv_require(const release_csv *csv, const int *cols, size_t n, char *err)
{
    for (size_t i = 0; i < n; i++) {
        char shown[CDNOPT_QUOTE_SIZE];
        if (cols[i] >= 0 && (size_t)cols[i] >= csv->n_fields)
            return cdnopt_fail(err, CDNOPT_EPARSE,
                               "%s line %ld: %zu fields, but the header puts '%s' in column "
                               "%d; give every required field on each line",
                               csv->path, csv->line_no, csv->n_fields,
                               cdnopt_text_quote(shown, sizeof shown, csv->names[cols[i]],
                                                 strlen(csv->names[cols[i]]), CDNOPT_QUOTE_BYTES),
                               cols[i] + 1);
    }
    return 0;
}

const char *release_csv_field(const release_csv *csv, int col)
{
    if (col < 0 || (size_t)col >= csv->n_fields)
        return "";
    return csv->fields[col];
}

const char *release_csv_id(const release_csv *csv, int col, char *err)
{
    /* Other CSV readers, Python's csv module and spreadsheets among them, keep these
     * spaces as part of the id, so a schedule written with the trimmed id would name a
     * release that they do not know. */
    if (col >= 0 && (size_t)col < csv->n_fields && csv->padded[col]) {
        char shown[CDNOPT_QUOTE_SIZE];
        cdnopt_fail(err, CDNOPT_EPARSE,
                    "%s line %ld: id '%s' has spaces or tabs around it; remove them, because "
                    "other CSV readers keep them as part of the id",
                    csv->path, csv->line_no,
                    cdnopt_text_quote(shown, sizeof shown, csv->fields[col],
                                      strlen(csv->fields[col]), CDNOPT_QUOTE_BYTES));
        return NULL;
    }
    return release_csv_field(csv, col);
}

void release_csv_close(release_csv *csv)
{
    if (csv->file != NULL)
        fclose(csv->file);
    csv->file = NULL;
}

int cdnopt_release_parse_decimal(const char *text, double *out)
{
    /* strtod would also read hexadecimal and "inf"; release files hold decimals. */
    if (text == NULL || *text == '\0' || strpbrk(text, "xX") != NULL)
        return CDNOPT_EPARSE;
    errno = 0;
    char *end = NULL;
    double value = strtod(text, &end);
    if (*end != '\0' || errno == ERANGE || !isfinite(value))
        return CDNOPT_EPARSE;
    *out = value;
    return 0;
}
