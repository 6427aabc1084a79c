/* SPDX-License-Identifier: Apache-2.0 */
/*
 * series: regular time series of bandwidth, read from CSV and checked.
 *
 * A cdnopt_series holds n samples on a regular grid of step_s seconds. Times are
 * "civil seconds": the local wall-clock reading counted as seconds since
 * 1970-01-01 00:00:00 with no zone, so that hour of day is (t mod 86400) / 3600
 * and day of week follows from t / 86400 (1970-01-01 was a Thursday). Zoned input
 * (ISO 8601 with an offset or Z, Unix seconds) is converted to the local zone
 * given by the reader's tz before it becomes civil seconds.
 *
 * The reader (cdnopt_series_read_csv) checks order, duplicates, gaps, off-grid
 * steps and values, and fails with a message naming the file, line and value.
 * Repairs (gap filling, duplicate merging, dropping missing values) happen only
 * when the params ask for them, and the report lists each one. Besides the
 * reader the module has a CSV writer, slicing, resampling to a coarser step,
 * civil-time helpers, a reader for wide files with one series per row (M4), and
 * the synthetic traffic generator (cdnopt_generate, further below).
 *
 * Usage:
 *     cdnopt_series_read_params params = cdnopt_series_read_params_default();
 *     params.unit = CDNOPT_UNIT_RAW;
 *     cdnopt_series *s = NULL;
 *     char err[CDNOPT_ERRMSG_MAX];
 *     if (cdnopt_series_read_csv("traffic.csv", &params, &s, NULL, err) != CDNOPT_OK)
 *         fprintf(stderr, "%s\n", err);
 *     ...
 *     cdnopt_series_free(s);
 *
 * Limitations:
 * - One value column per read; a file with several series is read once per column.
 * - The whole file is read into memory before parsing.
 * - Zone conversion switches the process's TZ variable under a mutex when params.tz
 *   is set and the file has zoned timestamps. Other code that calls localtime() or
 *   mktime() concurrently, without that mutex, may see the reader's zone for a moment.
 * - Civil seconds cannot represent daylight-saving changes, because the wall clock
 *   repeats an hour at the end of daylight saving time and skips one at its start.
 *   When zoned timestamps (Z, an offset, Unix seconds) cross a change of tz's UTC
 *   offset, the reader fails with CDNOPT_EINVAL naming the line and the two offsets
 *   and suggesting a fixed offset such as "UTC+01:00", which tz accepts (as does
 *   Etc/GMT-1, whose sign counts the other way round). It never reports such data
 *   as unsorted or as a gap.
 *   Local timestamps without a zone are taken as written, so a local file that
 *   repeats or skips the changed hour gets the duplicate or gap error.
 * - Timestamps have whole-second resolution; fractional seconds are rejected.
 * - A quoted field cannot span lines, and decimal commas ("3,5") are not numbers.
 */
#ifndef CDNOPT_SERIES_H
#define CDNOPT_SERIES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Regular series, owned by its creator and freed with cdnopt_series_free(). */
typedef struct cdnopt_series {
    size_t n;       /* number of samples */
    int64_t step_s; /* grid step in seconds; t[i] = t[0] + i * step_s */
    int64_t *t;     /* civil seconds of each sample, n entries */
    double *v;      /* values in the series' unit (Gbit/s unless read as raw), n entries */
    char *name;     /* value column's name or a caller's label; may be NULL */
} cdnopt_series;

/** Allocate a series of n samples starting at t0 with the given step; values are zero. */
int cdnopt_series_new(size_t n, int64_t t0, int64_t step_s, cdnopt_series **out /* OUT */);

/** Free a series; NULL is a no-op. */
void cdnopt_series_free(cdnopt_series *s);

/**
 * Set the series' name to a copy of name (NULL clears it).
 * @return CDNOPT_OK or CDNOPT_ENOMEM, in which case the old name is kept.
 */
int cdnopt_series_set_name(cdnopt_series *s, const char *name);

/* ------------------------------------------------------------------------- */
/* Civil time                                                                */
/* ------------------------------------------------------------------------- */

/** Buffer size that fits any text cdnopt_civil_format() writes. */
#define CDNOPT_CIVIL_TEXT_MAX 32

/** Broken-down civil time; month 1-12, day 1-31, hour 0-23, minute 0-59, second 0-59. */
typedef struct cdnopt_civil_fields {
    int year;   /* proleptic Gregorian year, e.g. 2004 */
    int month;  /* 1-12 */
    int day;    /* 1-31 */
    int hour;   /* 0-23 */
    int minute; /* 0-59 */
    int second; /* 0-59 */
} cdnopt_civil_fields;

/** Convert broken-down civil time to civil seconds; fields are not range-checked. */
int64_t cdnopt_civil_from_fields(const cdnopt_civil_fields *fields);

/** Convert civil seconds to broken-down civil time. */
void cdnopt_civil_to_fields(int64_t t, cdnopt_civil_fields *fields /* OUT */);

/**
 * Parse local wall-clock text "YYYY-MM-DD HH:MM:SS" (also with 'T' in place of the
 * space, without seconds, or a bare date meaning midnight) into civil seconds.
 * Text with a zone (Z, +08:00) is rejected, because this helper has no zone to
 * convert to; the CSV reader accepts it.
 * @param err CDNOPT_ERRMSG_MAX bytes for the message, or NULL.
 * @return CDNOPT_OK or CDNOPT_EPARSE with a message quoting the text.
 */
int cdnopt_civil_parse(const char *text, int64_t *t /* OUT */, char *err);

/** Write civil seconds as "YYYY-MM-DD HH:MM:SS" into buf (CDNOPT_CIVIL_TEXT_MAX bytes fit). */
void cdnopt_civil_format(int64_t t, char *buf, size_t buf_size);

/** Hour of day, 0-23, of civil seconds t. */
int cdnopt_civil_hour(int64_t t);

/** Day of week of civil seconds t, as in struct tm's tm_wday: 0 = Sunday ... 6 = Saturday. */
int cdnopt_civil_weekday(int64_t t);

/** Civil seconds of midnight at the start of t's day. */
int64_t cdnopt_civil_day_start(int64_t t);

/* ------------------------------------------------------------------------- */
/* Units                                                                     */
/* ------------------------------------------------------------------------- */

/** Unit of a value column. Every unit but RAW is converted to Gbit/s on reading. */
enum cdnopt_unit {
    CDNOPT_UNIT_GBPS = 0,               /* Gbit/s, kept as is ("gbit/s", "gbps") */
    CDNOPT_UNIT_MBPS = 1,               /* Mbit/s ("mbit/s", "mbps") */
    CDNOPT_UNIT_BPS = 2,                /* bit/s ("bit/s", "bps") */
    CDNOPT_UNIT_BITS_PER_INTERVAL = 3,  /* bits moved in one grid step ("bits-per-interval") */
    CDNOPT_UNIT_BYTES_PER_INTERVAL = 4, /* bytes moved in one grid step ("bytes-per-interval") */
    CDNOPT_UNIT_RAW = 5,                /* no conversion, no unit ("raw") */
};

/**
 * Parse a unit name (case-insensitive; the names in enum cdnopt_unit's comments).
 * @return CDNOPT_OK or CDNOPT_EINVAL with a message listing the accepted names.
 */
int cdnopt_unit_parse(const char *text, enum cdnopt_unit *unit /* OUT */, char *err);

/** Canonical name of a unit ("gbit/s", "bits-per-interval", ...); static string. */
const char *cdnopt_unit_name(enum cdnopt_unit unit);

/* ------------------------------------------------------------------------- */
/* Reading                                                                   */
/* ------------------------------------------------------------------------- */

/** Gap repair: the treatment of a step larger than the grid step. */
enum cdnopt_fill {
    CDNOPT_FILL_NONE = 0,     /* a gap is an error (default) */
    CDNOPT_FILL_LINEAR = 1,   /* straight line between the samples around the gap */
    CDNOPT_FILL_PREVIOUS = 2, /* repeat the sample before the gap */
};

/** Duplicate repair: the treatment of rows that repeat a timestamp. */
enum cdnopt_duplicates {
    CDNOPT_DUPLICATES_ERROR = 0,     /* a repeated timestamp is an error (default) */
    CDNOPT_DUPLICATES_KEEP_LAST = 1, /* the last row of the run wins */
    CDNOPT_DUPLICATES_MEAN = 2,      /* the mean of the run's values */
};

/** Options of cdnopt_series_read_csv(); start from cdnopt_series_read_params_default(). */
typedef struct cdnopt_series_read_params {
    const char *time_column;  /* header name of the time column, or NULL to use time_index */
    int time_index;           /* 1-based time column when time_column is NULL; default 1 */
    const char *value_column; /* header name of the value column, or NULL to use value_index */
    int value_index;          /* 1-based value column; 0 (default) = the first after time */
    char delimiter;           /* ',', ';' or '\t'; 0 (default) = detect from the first line */
    enum cdnopt_unit unit;    /* unit of the values; default CDNOPT_UNIT_GBPS */
    const char *tz;           /* IANA zone for zoned input ("Asia/Shanghai", "UTC"), or a
                                 fixed offset east of UTC in ISO 8601 form ("UTC+01:00",
                                 "UTC-05"); NULL = the machine's zone (TZ variable, else
                                 /etc/localtime) */
    int64_t step_s;           /* grid step in seconds; 0 (default) = the most common step */
    enum cdnopt_fill fill_gaps; /* gap repair; default CDNOPT_FILL_NONE (a gap is an error) */
    int64_t max_gap_s;        /* longest missing stretch that may be filled, in seconds
                                 (time between the samples around it minus one step);
                                 0 = no limit */
    enum cdnopt_duplicates duplicates; /* duplicate repair; default CDNOPT_DUPLICATES_ERROR */
    bool drop_missing;        /* drop rows whose value is empty, NA, NaN or null, and fill
                                 them as gaps (needs fill_gaps); default false */
    size_t min_rows;          /* minimum distinct timestamps with values; default 2 */
} cdnopt_series_read_params;

/** Default read params: first column time, next column value in Gbit/s, no repairs. */
cdnopt_series_read_params cdnopt_series_read_params_default(void);

/** Reader findings and repairs; every count is zero when nothing was repaired. */
typedef struct cdnopt_series_read_report {
    size_t n_rows;             /* data rows read (header and blank lines excluded) */
    bool has_header;           /* the first row was a header */
    char delimiter;            /* delimiter used */
    int64_t step_s;            /* grid step of the result, in seconds */
    size_t n_gaps_filled;      /* gaps filled */
    size_t n_samples_filled;   /* samples inserted into those gaps */
    long first_gap_line;       /* file line just after the first filled gap; 0 = none */
    size_t n_duplicates;       /* rows merged into an earlier row with the same timestamp */
    long first_duplicate_line; /* file line of the first merged row; 0 = none */
    size_t n_missing_dropped;  /* rows dropped for a missing or NaN value */
    long first_missing_line;   /* file line of the first dropped row; 0 = none */
} cdnopt_series_read_report;

/**
 * Read one series from a CSV file: header detection, delimiter detection, quoted
 * fields, timestamps in civil, ISO 8601 zoned or Unix-seconds form, unit
 * conversion, validation and the opt-in repairs of params.
 *
 * Each error message names the file, the line, the offending value and the fix.
 * A fix that is a repair names the cdnopt command-line flag that sets it
 * (--column, --fill-gaps, --max-gap, --duplicates, --drop-missing), because most
 * reads come from the command line; library callers set the matching params field.
 * Errors: CDNOPT_EIO (cannot open or read), CDNOPT_EPARSE (empty file, a NUL
 * byte, missing column, bad timestamp, non-numeric value, unsorted or duplicate
 * timestamps, irregular step, gap, too few rows), CDNOPT_ENUMERIC (NaN, Inf or a
 * negative value), CDNOPT_EINVAL (contradictory params, unknown zone, zoned
 * timestamps across a daylight-saving change of tz), CDNOPT_ENOMEM.
 *
 * @param path   file to read.
 * @param params options, or NULL for cdnopt_series_read_params_default().
 * @param out    on success a new series the caller frees with cdnopt_series_free(),
 *               named after the value column's header (NULL without a header);
 *               NULL on failure.
 * @param report filled on success (may be NULL).
 * @param err    CDNOPT_ERRMSG_MAX bytes for the message, or NULL.
 */
int cdnopt_series_read_csv(const char *path, const cdnopt_series_read_params *params,
                           cdnopt_series **out /* OUT */,
                           cdnopt_series_read_report *report /* OUT */, char *err);

/**
 * Describe a read report's repairs in one line of key=value pairs for logging,
 * for example "rows=4032 step_s=300 gaps_filled=2 samples_filled=2 first_gap_line=1024".
 */
void cdnopt_series_read_report_format(const cdnopt_series_read_report *report, char *buf,
                                      size_t buf_size);

/**
 * Read a wide CSV with one series per row, as the M4 competition files store
 * them: a header row ("V1","V2",...), then rows whose first field is the series
 * id and whose other fields are the values in time order, right-padded with empty
 * fields. Series have no timestamps, so sample i gets t = i * step_s.
 *
 * @param step_s  grid step to assign, in seconds; 0 means 3600 (hourly).
 * @param out     on success a new array of *n_out series (each named by its id); the
 *                caller frees it with cdnopt_series_array_free().
 * @return CDNOPT_OK, CDNOPT_EIO, CDNOPT_EPARSE (a non-numeric value or a value after an
 *         empty field, named by line and column), CDNOPT_ENUMERIC or CDNOPT_ENOMEM.
 */
int cdnopt_series_read_wide_csv(const char *path, int64_t step_s, cdnopt_series ***out /* OUT */,
                                size_t *n_out /* OUT */, char *err);

/** Free an array of series from cdnopt_series_read_wide_csv(); NULL is a no-op. */
void cdnopt_series_array_free(cdnopt_series **array, size_t n);

/* ------------------------------------------------------------------------- */
/* Writing and transforming                                                  */
/* ------------------------------------------------------------------------- */

/**
 * Write text as one CSV field into out, as RFC 4180 asks: in double quotes, with each
 * quote doubled, when it contains a comma, a quote, CR or LF, and as it is otherwise.
 * Returns the length the field needs without the NUL, as snprintf does; out contains
 * the whole field only when that is below size, and may be NULL when size is 0.
 */
size_t cdnopt_csv_field(char *out, size_t size, const char *text);

/**
 * Split one CSV line in place at delimiter, as RFC 4180 reads it: a field that starts
 * with a double quote runs to the closing quote, may contain the delimiter, and "" in
 * it is one quote. fields[i] receive pointers into line, at most max_fields of them.
 * @return CDNOPT_OK; CDNOPT_EPARSE when a quoted field does not close on this line;
 *         CDNOPT_EINVAL when the line has more than max_fields fields; CDNOPT_ENOMEM
 */
int cdnopt_csv_split(char *line, char delimiter, char **fields, size_t max_fields,
                     size_t *n_fields);

/** The first repeated id of a file, in file order. */
typedef struct cdnopt_id_repeat {
    const char *id;     /* the repeated id, borrowed from the caller's array; NULL if none */
    size_t line;        /* line of the repeat: the smallest line whose id came earlier */
    size_t first_line;  /* line where that id came first */
} cdnopt_id_repeat;

/**
 * Find the first repeated id among n ids, ids[i] read on lines[i], in O(n log n).
 * @return CDNOPT_OK (out->id is NULL when every id is unique) or CDNOPT_ENOMEM.
 */
int cdnopt_ids_find_repeat(const char *const *ids, const size_t *lines, size_t n,
                           cdnopt_id_repeat *out);

/**
 * Write a series as CSV: header "timestamp,<value_name>", then one row per sample
 * with the civil time "YYYY-MM-DD HH:MM:SS" and the value with 12 significant
 * digits.
 * @param value_name column name; NULL uses s->name, else "value".
 * @return CDNOPT_OK or CDNOPT_EIO with a message naming the path.
 */
int cdnopt_series_write_csv(const cdnopt_series *s, const char *path, const char *value_name,
                            char *err);

/**
 * Copy samples [first, first + count) into a new series with the same step and name.
 * @return CDNOPT_OK, CDNOPT_EINVAL when the range does not fit inside s, or CDNOPT_ENOMEM.
 */
int cdnopt_series_slice(const cdnopt_series *s, size_t first, size_t count,
                        cdnopt_series **out /* OUT */, char *err);

/**
 * Index of the sample at civil time t, or -1 when t is outside the series or
 * off its grid.
 */
long cdnopt_series_index_of(const cdnopt_series *s, int64_t t);

/** Aggregate that resampling applies to the samples of one coarse step. */
enum cdnopt_resample_op {
    CDNOPT_RESAMPLE_MEAN = 0, /* for rates (Gbit/s, bit/s) */
    CDNOPT_RESAMPLE_SUM = 1,  /* for volumes (bits or bytes per interval) */
};

/**
 * Resample to a coarser step. Buckets are aligned to multiples of step_s in civil
 * seconds (hourly buckets start at :00), and only complete buckets are kept, so
 * partial buckets at either end are dropped.
 * @param step_s new step in seconds; must be a positive multiple of s->step_s.
 * @return CDNOPT_OK, CDNOPT_EINVAL (bad step, or no complete bucket), CDNOPT_ENOMEM.
 */
int cdnopt_series_resample(const cdnopt_series *s, int64_t step_s, enum cdnopt_resample_op op,
                           cdnopt_series **out /* OUT */, char *err);

/* ------------------------------------------------------------------------- */
/* Synthetic traffic generator                                               */
/* ------------------------------------------------------------------------- */

/**
 * Options of cdnopt_generate(). The traffic is
 *     base(t) = mean_gbps * daily(hour) * weekly(day) * (1 + trend_per_day * days)
 *               * exp(ar1 noise)
 * plus the download waves of the shipped releases, each released to all users at
 * once with the release model's geometric decay: hour h after release carries the
 * share r^h / sum_{k<D} r^k of size_mb * 8e6 * users bits.
 */
typedef struct cdnopt_generate_params {
    int days;                 /* length of the bandwidth series in days; default 30 */
    int64_t step_s;           /* grid step in seconds, must divide 3600; default 300 */
    uint64_t seed;            /* RNG seed; the same seed gives the same output; default 1 */
    int64_t start;            /* civil seconds of the first sample, a midnight; default
                                 2025-01-06 00:00:00 (a Monday) */
    size_t n_pending;         /* releases planned over the day after the series; default 20 */
    double mean_gbps;         /* level of the baseline at the daily mean; default 500 */
    double trend_per_day;     /* relative growth per day; default 0.003 (0.3 %) */
    double noise_sigma;       /* standard deviation of the log noise; default 0.04 */
    double shipped_per_day;   /* mean number of shipped releases per day; default 1.5 */
    double size_mb_min;       /* smallest package in MB (1e6 bytes); default 50 */
    double size_mb_max;       /* largest package in MB; default 4000 */
    double users_min;         /* smallest audience in devices; default 1e4 */
    double users_max;         /* largest audience in devices; default 1e6 */
    double decay;             /* hourly decay r of a download wave; default 0.8 */
    int decay_hours;          /* duration D of a download wave in hours; default 15 */
} cdnopt_generate_params;

/** Default generator params (the values in the field comments). */
cdnopt_generate_params cdnopt_generate_params_default(void);

/** One generated release, in the columns of releases.csv. */
typedef struct cdnopt_generated_release {
    char id[24];        /* "s0001" for shipped releases, "p0001" for pending ones */
    double size_mb;     /* package size in MB (1e6 bytes), rounded to 0.1 */
    double users;       /* devices that download it, a whole number */
    int64_t planned_at; /* civil seconds of the planned release, on the grid */
    bool pending;       /* true for versions planned after the series ends */
} cdnopt_generated_release;

/** Output of cdnopt_generate(); freed with cdnopt_generated_free(). */
typedef struct cdnopt_generated {
    cdnopt_series *bandwidth;            /* total traffic in Gbit/s, named "gbps" */
    cdnopt_generated_release *releases;  /* shipped ones first, then pending, each by time */
    size_t n_releases;                   /* entries in releases */
    size_t n_shipped;                    /* how many of them shipped inside the series */
} cdnopt_generated;

/**
 * Generate a month (params.days) of CDN traffic with daily and weekly seasonality,
 * an evening peak, a trend, multiplicative noise and release spikes, plus the
 * releases that caused the spikes and n_pending releases planned over the day
 * after the series. Deterministic for a seed.
 * @param params options, or NULL for the defaults.
 * @param out    on success a new result the caller frees with cdnopt_generated_free().
 * @return CDNOPT_OK, CDNOPT_EINVAL (a param out of range, named in err) or CDNOPT_ENOMEM.
 */
int cdnopt_generate(const cdnopt_generate_params *params, cdnopt_generated **out /* OUT */,
                    char *err);

/** Free a generator result; NULL is a no-op. */
void cdnopt_generated_free(cdnopt_generated *g);

/* First words of the README.txt that cdnopt_generated_write writes: a folder whose
 * README.txt starts with them contains files that a new run may replace. */
#define CDNOPT_GENERATED_README_START "Synthetic CDN traffic made by `cdnopt generate`"

/**
 * Write dir/bandwidth.csv (timestamp,gbps), dir/releases.csv (id,size_mb,users,
 * planned_at; shipped and pending releases), dir/pending.csv (the pending ones only)
 * and dir/README.txt describing them. dir must exist.
 * @return CDNOPT_OK or CDNOPT_EIO with a message naming the file.
 */
int cdnopt_generated_write(const cdnopt_generated *g, const cdnopt_generate_params *params,
                           const char *dir, char *err);

#endif /* CDNOPT_SERIES_H */
