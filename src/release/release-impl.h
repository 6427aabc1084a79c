/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers shared by the files of src/release: a small CSV line reader for the
 * releases and schedule files (unquoted fields only), and number parsing.
 */
#ifndef CDNOPT_RELEASE_IMPL_H
#define CDNOPT_RELEASE_IMPL_H

#include "cdnopt/release.h"

#include <stdio.h>

/* Longest CSV line accepted, including the newline. */
#define RELEASE_LINE_MAX 4096

/* Most fields in one CSV row. */
#define RELEASE_FIELDS_MAX 16

/* Room for a release id written as a CSV field: every byte a doubled quote, plus the
 * two enclosing quotes and the NUL. */
#define RELEASE_ID_FIELD_MAX (2 * CDNOPT_RELEASE_ID_MAX + 3)

/* A CSV file read one line at a time, with the header's column names. */
typedef struct release_csv {
    FILE *file;
    const char *path;
    long line_no;                      /* 1-based number of the line in buf */
    char buf[RELEASE_LINE_MAX];
    char *fields[RELEASE_FIELDS_MAX];  /* point into buf after release_csv_next */
    bool padded[RELEASE_FIELDS_MAX];   /* whether trimming removed spaces from the field */
    size_t n_fields;
    char header[RELEASE_LINE_MAX];
    char *names[RELEASE_FIELDS_MAX];   /* column names, pointing into header */
    size_t n_names;
} release_csv;

/* Open path and read its header. Returns 0, CDNOPT_EIO (cannot open or read, a folder) or
 * CDNOPT_EPARSE (empty file). */
int release_csv_open(release_csv *csv, const char *path, char *err);

/* Read a line with fgets() into buf (size bytes) and set *has_nul when the line
 * contains a NUL byte, which would otherwise hide the rest of the line.
 * Returns 1 for a line, 0 at the end of the file, -1 on a read error (errno set). */
int release_fgets(char *buf, int size, FILE *file, bool *has_nul);

/* Fill err for a failed read of path from errno, with its own message for a folder.
 * Returns CDNOPT_EIO. */
int release_read_error(char *err, const char *path);

/* Remove a UTF-8 byte order mark from the start of line, in place. Spreadsheet
 * programs write one, and it would otherwise stick to the first column name or key. */
void release_strip_bom(char *line);

/* Check that no CR inside line ends an earlier line, as happens when fgets() reads a file
 * with classic Mac OS line ends. Returns 0, or CDNOPT_EPARSE naming path and line_no. */
int release_check_bare_cr(const char *line, const char *path, long line_no, char *err);

/* Check that fgets() read the whole line: a line of RELEASE_LINE_MAX bytes or more fills
 * line (a RELEASE_LINE_MAX buffer) without its newline. Returns 0, or CDNOPT_EPARSE naming
 * path and line_no. */
int release_check_line_length(const char *line, FILE *file, const char *path, long line_no,
                              char *err);

/* Message for a line with a NUL byte; arguments: path, line number. */
#define RELEASE_NUL_MESSAGE                                                                      \
    "%s line %ld: contains a NUL byte, so the file is binary or corrupt; regenerate it or "     \
    "remove the NUL bytes"

/* Read the next non-blank row into fields. Returns 1 for a row, 0 at the end, or a
 * negative code (line too long, too many fields or more than the header names, a quote
 * that does not close). */
int release_csv_next(release_csv *csv, char *err);

/* Return a note for a missing-column message when the header is one column that
 * contains ';' or a tab, the likely delimiter of a file written for another locale.
 * Returns "" otherwise. */
const char *release_csv_delimiter_hint(const release_csv *csv);

/* Index of a column by name, or -1 when the header lacks it. */
int release_csv_column(const release_csv *csv, const char *name);

/* Field of the current row in column col, or "" when col is -1 or past the row's end. */
const char *release_csv_field(const release_csv *csv, int col);

/* Check that the current row reaches every column in cols (n of them, named by the
 * header): a row may leave out trailing optional fields, never required ones. Returns 0
 * or CDNOPT_EPARSE naming the line, the field count and the first missing column. */
int release_csv_require(const release_csv *csv, const int *cols, size_t n, char *err);

/* Return the id in column col of the current row, or NULL after an error when spaces
 * around it were trimmed. */
const char *release_csv_id(const release_csv *csv, int col, char *err);

void release_csv_close(release_csv *csv);


#endif
