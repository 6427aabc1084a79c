/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internals shared by the files of the series module: whole-file reading, CSV
 * line and field splitting, number and timestamp parsing, and zone conversion.
 * Nothing here is part of the public API.
 */
#ifndef CDNOPT_SERIES_IMPL_H
#define CDNOPT_SERIES_IMPL_H

#include "cdnopt/core.h"
#include "cdnopt/series.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Files and lines ---------------------------------------------------- */

/**
 * Read a whole file into a new NUL-terminated buffer the caller frees with
 * cdnopt_free(). A leading UTF-8 byte order mark is skipped by the line reader.
 * A file that contains a NUL byte fails with CDNOPT_EPARSE (cdnopt__text_check_nul), and
 * so does one whose lines end in a bare CR with no LF anywhere.
 */
int cdnopt__file_read_all(const char *path, char **text /* OUT */, size_t *size /* OUT */,
                          char *err);

/**
 * Fail when text contains a NUL byte: line-based parsing would stop there and
 * silently drop the rest of the file.
 * @param name file name or label for the message.
 * @return CDNOPT_OK or CDNOPT_EPARSE with a message naming the line and byte offset.
 */
int cdnopt__text_check_nul(const char *text, size_t len, const char *name, char *err);

/** Cursor over the lines of a buffer that cdnopt__line_next() modifies in place. */
typedef struct cdnopt__line_cursor {
    char *next;   /* start of the next line, or NULL at the end */
    long line_no; /* 1-based number of the line last returned */
} cdnopt__line_cursor;

/** Start a cursor at the beginning of text, skipping a UTF-8 byte order mark. */
void cdnopt__line_cursor_init(cdnopt__line_cursor *cursor, char *text);

/**
 * Return the next line with its "\n" or "\r\n" cut off (the buffer is modified),
 * or NULL at the end of the text.
 */
char *cdnopt__line_next(cdnopt__line_cursor *cursor);

/** True when a line holds only spaces, tabs and delimiters. */
bool cdnopt__line_is_blank(const char *line, char delimiter);

/* ---- CSV fields --------------------------------------------------------- */

/** Growable array of field pointers into one split line. */
typedef struct cdnopt__fields {
    char **v;   /* field texts, pointing into the split line */
    size_t n;   /* fields in the line */
    size_t cap; /* allocated entries of v */
} cdnopt__fields;

/**
 * Split line in place at delimiter. A field that starts with '"' runs to the
 * closing quote, may contain the delimiter, and "" inside it is one quote.
 * @return CDNOPT_OK, CDNOPT_EPARSE for an unterminated quote, CDNOPT_ENOMEM.
 */
int cdnopt__fields_split(char *line, char delimiter, cdnopt__fields *fields);

/** Free the pointer array of fields (not the line) and zero the struct. */
void cdnopt__fields_fini(cdnopt__fields *fields);

/** Pick ',', ';' or '\t' from the counts outside quotes in one line (',' if none). */
char cdnopt__delimiter_detect(const char *line);

/** Printable name of a delimiter for messages ("','", "tab"). */
const char *cdnopt__delimiter_name(char delimiter);

/** Trim leading and trailing spaces and tabs in place and return the trimmed start. */
char *cdnopt__trim(char *text);

/* ---- Numbers and timestamps --------------------------------------------- */

enum cdnopt__number_kind {
    CDNOPT__NUMBER_OK = 0,      /* a finite number */
    CDNOPT__NUMBER_MISSING = 1, /* empty, NA, NaN or null */
    CDNOPT__NUMBER_INFINITE = 2, /* inf, or a magnitude above CDNOPT__VALUE_MAX */
    CDNOPT__NUMBER_INVALID = 3, /* anything else */
};

/*
 * Largest magnitude a series value may have. 1e18 bit/s is a thousand times the
 * traffic of the whole Internet, so a larger value is a unit or column mistake, and
 * values near double's range would overflow the sums that normalise a series.
 */
#define CDNOPT__VALUE_MAX 1e18

/** Classify and parse a trimmed field as a number. */
enum cdnopt__number_kind cdnopt__number_parse(const char *text, double *value /* OUT */);

/**
 * Parse a timestamp: civil "YYYY-MM-DD[ T]HH:MM[:SS]" or a bare date (is_utc false,
 * value in civil seconds), the same with "Z" or an offset "+HH:MM", "+HHMM" or
 * "+HH" (is_utc true, value in Unix seconds), or 10 digits of Unix seconds
 * (is_utc true).
 * @return true when text is one of these forms with fields in range.
 */
bool cdnopt__time_parse(const char *text, int64_t *value /* OUT */, bool *is_utc /* OUT */);

/** Check that tz names a zone in the system's zone database (NULL is accepted). */
int cdnopt__zone_check(const char *tz, char *err);

/**
 * Convert the entries of t flagged in is_utc from Unix seconds to civil seconds
 * in zone tz (NULL = the machine's zone). Serialised by a process-wide mutex
 * because it sets the TZ variable for the duration of the call.
 * @param path, line file name and 1-based line of each entry, for messages.
 * @return CDNOPT_OK, or CDNOPT_EINVAL for an unknown zone or when the zone's UTC
 *         offset changes between two entries (daylight saving), naming the line.
 */
int cdnopt__utc_to_civil(const char *tz, int64_t *t, const unsigned char *is_utc, size_t n,
                         const char *path, const long *line, char *err);

/* ---- Allocation helpers ------------------------------------------------- */

/** Grow *array (element size elem) to hold at least need entries; *cap is updated. */
int cdnopt__grow(void **array, size_t *cap, size_t need, size_t elem);

#endif /* CDNOPT_SERIES_IMPL_H */
