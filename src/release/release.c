/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Release records and release sets: parsing one record (shared by the CSV reader
 * and the JSON API), reading and writing the releases file, and lookup by id.
 * A set keeps its releases in file order plus an index sorted by id, which also
 * finds duplicate ids when the set is built.
 */
#include "release-impl.h"

#include "cdnopt/series.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Check a numeric field. The message names text, the value as written, when it is not NULL,
 * because the parsed value of "1e999" is inf. */
static int check_number_text(const char *field, double value, const char *text, const char *where,
                             char *err)
{
    bool is_size = strcmp(field, "size_mb") == 0;
    bool is_users = strcmp(field, "users") == 0;
    double max = is_size ? CDNOPT_RELEASE_SIZE_MB_MAX
                 : is_users ? CDNOPT_RELEASE_USERS_MAX
                            : HUGE_VAL;
    char shown[CDNOPT_QUOTE_SIZE];
    if (text != NULL)
        cdnopt_text_quote(shown, sizeof shown, text, strlen(text), CDNOPT_QUOTE_BYTES);
    else
        snprintf(shown, sizeof shown, "%g", value);
    if (!isfinite(value) || value <= 0 || value > max)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "%s: %s %s is out of range; it must be a positive number of at most %g",
                           where, field, shown, max);

    /* Shares of a batch may be fractional, but users counts devices. */
    if (is_users && value != floor(value))
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "%s: users %s is not a whole number; give the count of devices", where,
                           shown);
    return 0;
}

int cdnopt_release_check_number(const char *field, double value, const char *where, char *err)
{
    return check_number_text(field, value, NULL, where, err);
}

int cdnopt_release_parse_number(const char *field, const char *text, const char *where, double *out,
                                char *err)
{
    if (cdnopt_release_parse_decimal(text, out) == 0)
        return check_number_text(field, *out, NULL, where, err);

    /* A decimal beyond the range of a double, such as 1e999, is a value out of range and
     * not a typing error in its form, so it gets the range message. */
    char *end = NULL;
    errno = 0;
    double value = text != NULL ? strtod(text, &end) : 0;
    bool decimal = text != NULL && end != text && *end == '\0' && strpbrk(text, "xXiInN") == NULL;
    if (decimal && errno == ERANGE)
        return check_number_text(field, value == 0 ? 0 : HUGE_VAL, text, where, err);
    char shown[CDNOPT_QUOTE_SIZE];
    return cdnopt_fail(err, CDNOPT_EPARSE, "%s: %s '%s' is not a number; write e.g. 250.5", where,
                       field,
                       text != NULL ? cdnopt_text_quote(shown, sizeof shown, text, strlen(text),
                                                        CDNOPT_QUOTE_BYTES)
                                    : "");
}

static int check_latest(const cdnopt_release *release, const char *where, char *err)
{
    char planned[32], latest[32];
    cdnopt_release_format_time(release->planned_at, planned, sizeof planned);
    cdnopt_release_format_time(release->latest_start_at, latest, sizeof latest);
    if (release->latest_start_at < release->planned_at)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "%s: latest_start_at %s is before planned_at %s; a release can only "
                           "be delayed",
                           where, latest, planned);
    if (release->latest_start_at - release->planned_at > CDNOPT_RELEASE_MAX_DELAY_S)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "%s: latest_start_at %s is more than %d days after planned_at %s; "
                           "a release may be delayed by at most that much",
                           where, latest, CDNOPT_RELEASE_MAX_DELAY_S / 86400, planned);
    return 0;
}

/* Reject an id that is not printable UTF-8 text. Such an id would be copied byte for
 * byte into the schedule file and the --json reports, which would then not parse. */
/* Code point of the 3-byte UTF-8 sequence at u. */
static unsigned code_point3(const unsigned char *u)
{
    return ((unsigned)(u[0] & 0x0f) << 12) | ((unsigned)(u[1] & 0x3f) << 6) |
           (unsigned)(u[2] & 0x3f);
}

static int check_id_text(const char *id, const char *where, char *err)
{
    const unsigned char *u = (const unsigned char *)id;
    for (size_t i = 0; u[i] != '\0';) {
        size_t n = u[i] < 0x20 || u[i] == 0x7F ? 0 : cdnopt_utf8_sequence_length(u + i);

        /* U+0080 to U+009F are the C1 control characters, encoded as C2 80 to C2 9F. A
         * bidirectional control makes the id display reordered, so it could pass for
         * another id. */
        bool c1 = n == 2 && u[i] == 0xC2 && u[i + 1] < 0xA0;
        bool bidi = n == 3 && cdnopt_utf8_is_bidi_control(u + i);
        if (n > 0 && !c1 && !bidi) {
            i += n;
            continue;
        }

        /* The id is quoted too, so that a stored release that fails the check (a
         * re-plan names it only by its place in the list) can be found and cancelled. */
        char shown[CDNOPT_QUOTE_SIZE];
        cdnopt_text_quote(shown, sizeof shown, id, strlen(id), CDNOPT_QUOTE_BYTES);
        if (bidi)
            return cdnopt_fail(err, CDNOPT_EINVAL,
                               "%s: id '%s' has the bidirectional control character U+%04X at "
                               "byte %zu, which can make the id display as another; remove it",
                               where, shown, code_point3(u + i), i + 1);
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "%s: id '%s' has byte 0x%02X at position %zu, a control character "
                           "or not UTF-8 text; write the id as printable UTF-8",
                           where, shown, u[i], i + 1);
    }
    return 0;
}

int cdnopt_release_check_id(const char *id, const char *where, char *err)
{
    size_t len = strlen(id);
    if (len == 0)
        return cdnopt_fail(err, CDNOPT_EINVAL, "%s: id is empty; give every release a name",
                           where);
    /* The limit is longer than the quoted part, so the quote ends in "...". */
    char shown[CDNOPT_QUOTE_SIZE];
    if (len >= CDNOPT_RELEASE_ID_MAX)
        return cdnopt_fail(err, CDNOPT_EINVAL, "%s: id '%s' is longer than %d bytes", where,
                           cdnopt_text_quote(shown, sizeof shown, id, len, CDNOPT_QUOTE_BYTES),
                           CDNOPT_RELEASE_ID_MAX - 1);

    /* The releases file trims the spaces around a field and rejects an id that had them,
     * so an id that starts or ends with one could not be written to that file and read
     * back. */
    if (strchr(" \t", id[0]) != NULL || strchr(" \t", id[len - 1]) != NULL)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "%s: id '%s' has spaces or tabs around it; remove them, because "
                           "the releases file cannot keep them",
                           where,
                           cdnopt_text_quote(shown, sizeof shown, id, len, CDNOPT_QUOTE_BYTES));
    return check_id_text(id, where, err);
}

int cdnopt_release_check(const cdnopt_release *release, const char *where, char *err)
{
    if (cdnopt_release_check_id(release->id, where, err) != 0)
        return CDNOPT_EINVAL;
    int rc = cdnopt_release_check_number("size_mb", release->size_mb, where, err);
    if (rc == 0)
        rc = cdnopt_release_check_number("users", release->users, where, err);
    if (rc == 0 && release->has_latest)
        rc = check_latest(release, where, err);
    return rc;
}

static int parse_time_field(const char *text, const char *field, const char *where,
                            int64_t *out, char *err)
{
    char shown[CDNOPT_QUOTE_SIZE];
    if (cdnopt_release_parse_time(text, out) != 0)
        return cdnopt_fail(
            err, CDNOPT_EPARSE,
            "%s: %s '%s' is not a valid timestamp; write YYYY-MM-DD HH:MM:SS "
            "in local time",
            where, field,
            cdnopt_text_quote(shown, sizeof shown, text, strlen(text), CDNOPT_QUOTE_BYTES));
    return 0;
}

int cdnopt_release_parse(const cdnopt_release_fields *fields, const char *where,
                         cdnopt_release *out, char *err)
{
    memset(out, 0, sizeof *out);
    const char *id = fields->id != NULL ? fields->id : "";
    int rc = cdnopt_release_check_id(id, where, err);
    if (rc != 0)
        return rc;
    strcpy(out->id, id);

    rc = cdnopt_release_parse_number("size_mb", fields->size_mb, where, &out->size_mb, err);
    if (rc == 0)
        rc = cdnopt_release_parse_number("users", fields->users, where, &out->users, err);
    if (rc == 0)
        rc = parse_time_field(fields->planned_at, "planned_at", where, &out->planned_at, err);
    if (rc == 0 && fields->latest_start_at != NULL && fields->latest_start_at[0] != '\0') {
        out->has_latest = true;
        rc = parse_time_field(fields->latest_start_at, "latest_start_at", where,
                              &out->latest_start_at, err);
    }
    if (rc != 0)
        return rc;
    return cdnopt_release_check(out, where, err);
}

/* ------------------------------------------------------------------------- */
/* Sets                                                                      */
/* ------------------------------------------------------------------------- */

/* The set being sorted, one per thread because training workers and the server's
 * pool build sets at the same time. */
static _Thread_local const cdnopt_release *sort_base;

static int compare_by_id(const void *a, const void *b)
{
    return strcmp(sort_base[*(const size_t *)a].id, sort_base[*(const size_t *)b].id);
}

/* Build the id index of set and reject duplicate ids. `where_of` names the file for
 * messages (NULL for in-memory sets). */
static int index_ids(cdnopt_release_set *set, const char *path, const long *line_of, char *err)
{
    set->by_id = cdnopt_malloc((set->n > 0 ? set->n : 1) * sizeof *set->by_id);
    if (set->by_id == NULL)
        return cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory indexing %zu releases", set->n);
    for (size_t i = 0; i < set->n; i++)
        set->by_id[i] = i;

    /* qsort has no context argument in C17, so the comparator reads sort_base. */
    sort_base = set->items;
    qsort(set->by_id, set->n, sizeof *set->by_id, compare_by_id);

    for (size_t k = 1; k < set->n; k++) {
        size_t a = set->by_id[k - 1], b = set->by_id[k];
        if (strcmp(set->items[a].id, set->items[b].id) != 0)
            continue;
        size_t first = a < b ? a : b, second = a < b ? b : a;
        if (path != NULL)
            return cdnopt_fail(err, CDNOPT_EINVAL,
                               "%s line %ld: duplicate release id '%s' (first on line %ld); "
                               "give each release its own id",
                               path, line_of[second], set->items[second].id, line_of[first]);
        return cdnopt_fail(err, CDNOPT_EINVAL, "release %zu: duplicate release id '%s'", second,
                           set->items[second].id);
    }
    return 0;
}

int cdnopt_release_set_new(const cdnopt_release *items, size_t n, cdnopt_release_set **out,
                           char *err)
{
    *out = NULL;
    cdnopt_release_set *set = cdnopt_calloc(1, sizeof *set);
    if (set == NULL)
        return cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory for a release set");
    set->items = cdnopt_malloc((n > 0 ? n : 1) * sizeof *set->items);
    if (set->items == NULL) {
        cdnopt_release_set_free(set);
        return cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory for %zu releases", n);
    }
    if (n > 0)
        memcpy(set->items, items, n * sizeof *items);
    set->n = n;

    for (size_t i = 0; i < n; i++) {
        char where[64];
        snprintf(where, sizeof where, "release %zu", i);
        int rc = cdnopt_release_check(&set->items[i], where, err);
        if (rc != 0) {
            cdnopt_release_set_free(set);
            return rc;
        }
    }
    int rc = index_ids(set, NULL, NULL, err);
    if (rc != 0) {
        cdnopt_release_set_free(set);
        return rc;
    }
    *out = set;
    return 0;
}

void cdnopt_release_set_free(cdnopt_release_set *set)
{
    if (set == NULL)
        return;
    cdnopt_free(set->items);
    cdnopt_free(set->by_id);
    cdnopt_free(set);
}

long cdnopt_release_set_find(const cdnopt_release_set *set, const char *id)
{
    size_t lo = 0, hi = set->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int order = strcmp(set->items[set->by_id[mid]].id, id);
        if (order == 0)
            return (long)set->by_id[mid];
        if (order < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

double cdnopt_release_gbit(const cdnopt_release *release)
{
    return release->size_mb * 8e6 * release->users / 1e9;
}

/* ------------------------------------------------------------------------- */
/* Releases file                                                             */
/* ------------------------------------------------------------------------- */

/* Growable arrays of releases and their line numbers while reading. */
typedef struct release_reader {
    cdnopt_release *items;
    long *lines;
    size_t n, cap;
} release_reader;

static int reader_push(release_reader *reader, const cdnopt_release *release, long line)
{
    if (reader->n == reader->cap) {
        size_t cap = reader->cap ? 2 * reader->cap : 256;
        cdnopt_release *items = cdnopt_realloc(reader->items, cap * sizeof *items);
        if (items == NULL)
            return CDNOPT_ENOMEM;
        reader->items = items;
        long *lines = cdnopt_realloc(reader->lines, cap * sizeof *lines);
        if (lines == NULL)
            return CDNOPT_ENOMEM;
        reader->lines = lines;
        reader->cap = cap;
    }
    reader->items[reader->n] = *release;
    reader->lines[reader->n++] = line;
    return 0;
}

static int find_columns(const release_csv *csv, int cols[5], char *err)
{
    static const char *names[5] = {"id", "size_mb", "users", "planned_at", "latest_start_at"};
    for (int i = 0; i < 5; i++) {
        cols[i] = release_csv_column(csv, names[i]);
        if (cols[i] < 0 && i < 4)
            return cdnopt_fail(err, CDNOPT_EPARSE,
                               "%s line 1: missing column '%s'; the header must name id, "
                               "size_mb, users, planned_at and optionally latest_start_at%s",
                               csv->path, names[i], release_csv_delimiter_hint(csv));
    }
    return 0;
}

static int read_rows(release_csv *csv, release_reader *reader, char *err)
{
    int cols[5];
    int rc = find_columns(csv, cols, err);
    while (rc == 0 && (rc = release_csv_next(csv, err)) == 1) {
        char where[600];
        snprintf(where, sizeof where, "%s line %ld", csv->path, csv->line_no);
        rc = release_csv_require(csv, cols, 4, err); // latest_start_at may be left out
        if (rc != 0)
            break;
        const char *id = release_csv_id(csv, cols[0], err);
        if (id == NULL) {
            rc = CDNOPT_EPARSE;
            break;
        }
        cdnopt_release_fields fields = {id, release_csv_field(csv, cols[1]),
                                        release_csv_field(csv, cols[2]),
                                        release_csv_field(csv, cols[3]),
                                        release_csv_field(csv, cols[4])};
        cdnopt_release release;
        rc = cdnopt_release_parse(&fields, where, &release, err);
        if (rc == 0 && reader_push(reader, &release, csv->line_no) != 0)
            rc = cdnopt_fail(err, CDNOPT_ENOMEM, "%s: out of memory", csv->path);
    }
    if (rc == 0 && reader->n == 0)
        rc = cdnopt_fail(err, CDNOPT_EPARSE, "%s: no releases after the header", csv->path);
    return rc;
}

int cdnopt_release_set_read_csv(const char *path, cdnopt_release_set **out, char *err)
{
    *out = NULL;
    release_csv csv;
    int rc = release_csv_open(&csv, path, err);
    if (rc != 0)
        return rc;

    release_reader reader = {0};
    rc = read_rows(&csv, &reader, err);
    release_csv_close(&csv);

    cdnopt_release_set *set = NULL;
    if (rc == 0) {
        set = cdnopt_calloc(1, sizeof *set);
        if (set == NULL)
            rc = cdnopt_fail(err, CDNOPT_ENOMEM, "%s: out of memory", path);
    }
    if (rc == 0) {
        /* The set takes the reader's array. */
        set->items = reader.items;
        set->n = reader.n;
        reader.items = NULL;
        rc = index_ids(set, path, reader.lines, err);
    }
    cdnopt_free(reader.items);
    cdnopt_free(reader.lines);
    if (rc != 0) {
        cdnopt_release_set_free(set);
        return rc;
    }
    *out = set;
    return 0;
}

int cdnopt_release_set_write_csv(const char *path, const cdnopt_release_set *releases, char *err)
{
    FILE *file = fopen(path, "w");
    if (file == NULL)
        return cdnopt_fail(err, CDNOPT_EIO, "%s: cannot create: %s", path, strerror(errno));

    bool any_latest = false;
    for (size_t i = 0; i < releases->n; i++)
        any_latest = any_latest || releases->items[i].has_latest;

    fprintf(file, "id,size_mb,users,planned_at%s\n", any_latest ? ",latest_start_at" : "");
    for (size_t i = 0; i < releases->n; i++) {
        const cdnopt_release *r = &releases->items[i];
        char planned[32], latest[32] = "", id[RELEASE_ID_FIELD_MAX];
        cdnopt_release_format_time(r->planned_at, planned, sizeof planned);
        if (r->has_latest)
            cdnopt_release_format_time(r->latest_start_at, latest, sizeof latest);
        cdnopt_csv_field(id, sizeof id, r->id);
        fprintf(file, "%s,%.17g,%.17g,%s%s%s\n", id, r->size_mb, r->users, planned,
                any_latest ? "," : "", latest);
    }
    if (fclose(file) != 0)
        return cdnopt_fail(err, CDNOPT_EIO, "%s: write failed: %s", path, strerror(errno));
    return 0;
}
