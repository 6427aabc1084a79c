/* SPDX-License-Identifier: Apache-2.0 */
/*
 * release: software releases, schedules, the download waves they cause, and the
 * rules a schedule must keep.
 *
 * A release (id, size in MB, users, planned_at, optional latest_start_at) is rolled
 * out in batches: with batch ratio b there are n = ceil(1/b) batches, one per hour
 * from start_at, each of b * users devices and the last one taking the remainder.
 * A batch of u devices moves size_mb * 8e6 * u bits; in hour h after the batch
 * begins (h = 0 .. D-1) it carries the share w_h = r^h / sum_{k<D} r^k of those
 * bits, spread evenly over the hour. Defaults: decay r = 0.8, duration D = 15 h.
 * Total bandwidth is the baseline plus the rates of all batches.
 *
 * Times are civil seconds (local wall clock counted from 1970-01-01 00:00:00 with
 * no zone), as in series.h. Rates are Gbit/s, traffic volumes Gbit.
 *
 * The module has four parts:
 * - records and files: releases and schedules read from CSV, one record parsed
 *   at a time so that the JSON API can reuse the checks;
 * - rules (cdnopt_rules): the delay window, batch ratios, blackout and the wave
 *   shape, read from a `key = value` file (docs/rules.md), with a legality test
 *   and the list of legal (start, ratio) options of a release;
 * - cdnopt_impact: the sum of many active download waves, advanced step by step,
 *   with the current total in O(1);
 * - dense evaluation of a whole schedule on a baseline grid (peak, p95, spill).
 *
 * Usage:
 *     cdnopt_rules rules = cdnopt_rules_default();
 *     cdnopt_grid grid = cdnopt_grid_of(baseline);
 *     cdnopt_release_set *releases = NULL;
 *     cdnopt_schedule *schedule = NULL;
 *     char err[CDNOPT_ERRMSG_MAX];
 *     if (cdnopt_release_set_read_csv("releases.csv", &releases, err) != CDNOPT_OK ||
 *         cdnopt_schedule_read_csv("schedule.csv", releases, &grid, &schedule, err) != 0)
 *         fprintf(stderr, "%s\n", err);
 *     cdnopt_figures figures;
 *     cdnopt_schedule_evaluate(baseline, releases, schedule, &rules, NULL, &figures);
 *     ...
 *     cdnopt_schedule_free(schedule);
 *     cdnopt_release_set_free(releases);
 *
 * Limitations:
 * - CSV fields may be quoted as RFC 4180 describes (so an id may contain a comma), but a
 *   quoted field cannot span lines.
 * - Release ids are at most CDNOPT_RELEASE_ID_MAX - 1 bytes.
 * - Timestamps are "YYYY-MM-DD HH:MM:SS" local time; zoned timestamps are rejected.
 * - The impact structure needs wave starts on its grid, and the grid step must
 *   divide one hour.
 */
#ifndef CDNOPT_RELEASE_H
#define CDNOPT_RELEASE_H

#include "cdnopt/core.h"
#include "cdnopt/series.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------------- */
/* Releases and schedules                                                    */
/* ------------------------------------------------------------------------- */

/** Maximum length of a release id, plus its terminating NUL. */
#define CDNOPT_RELEASE_ID_MAX 64

/** Largest accepted package size in MB: 1e6 MB is 1 TB. Larger values are typing errors and
 *  would overflow the traffic figures. */
#define CDNOPT_RELEASE_SIZE_MB_MAX 1e6

/** Largest accepted number of devices for one release (1e10, above any device fleet). */
#define CDNOPT_RELEASE_USERS_MAX 1e10

/** Longest accepted delay window, latest_start_at - planned_at, in seconds (30 days). The
 *  rules' max_delay has the same upper bound. */
#define CDNOPT_RELEASE_MAX_DELAY_S (30 * 86400)

/** One release to roll out. */
typedef struct cdnopt_release {
    char id[CDNOPT_RELEASE_ID_MAX]; /* unique name, e.g. "v00001" */
    double size_mb;                 /* package size in MB (10^6 bytes), positive */
    double users;                   /* devices that will download it, a positive whole number */
    int64_t planned_at;             /* civil seconds; the earliest allowed start */
    int64_t latest_start_at;        /* civil seconds; meaningful only when has_latest */
    bool has_latest;                /* false: latest start is planned_at + rules.max_delay_s */
} cdnopt_release;

/** The releases of one workload, in file order; owned, freed with cdnopt_release_set_free(). */
typedef struct cdnopt_release_set {
    size_t n;               /* number of releases */
    cdnopt_release *items;  /* n entries; do not change ids after construction */
    size_t *by_id;          /* indices sorted by id, for cdnopt_release_set_find */
} cdnopt_release_set;

/**
 * A schedule: one start and batch ratio per release of a release set, indexed like
 * the set. Owned, freed with cdnopt_schedule_free().
 */
typedef struct cdnopt_schedule {
    size_t n;             /* equals the release set's n */
    int64_t *start_at;    /* civil seconds of the first batch, n entries */
    double *batch_ratio;  /* share of users per batch, n entries */
} cdnopt_schedule;

/** The text fields of one release record, as read from a CSV row or a JSON object. */
typedef struct cdnopt_release_fields {
    const char *id;
    const char *size_mb;
    const char *users;
    const char *planned_at;
    const char *latest_start_at; /* NULL or "" when absent */
} cdnopt_release_fields;

/**
 * Parse and check one release record.
 * @param fields text of each field; latest_start_at may be NULL or empty.
 * @param where  prefix for messages, e.g. "releases.csv line 3".
 * @param out    receives the release.
 * @param err    CDNOPT_ERRMSG_MAX bytes; names where, the field, the value and the fix.
 * @return 0 or CDNOPT_EPARSE (not a number, bad timestamp) or CDNOPT_EINVAL (id rejected
 *         by cdnopt_release_check_id(), size or users out of range, users not whole, latest
 *         start before planned_at or more than CDNOPT_RELEASE_MAX_DELAY_S after it).
 */
int cdnopt_release_parse(const cdnopt_release_fields *fields, const char *where,
                         cdnopt_release *out, char *err);

/**
 * Check the values of a release given as numbers (the JSON path): the id as
 * cdnopt_release_check_id() checks it, size and users in range (see cdnopt_release_check_number),
 * latest start not before planned_at and at most CDNOPT_RELEASE_MAX_DELAY_S after it.
 * @return 0 or CDNOPT_EINVAL with a message naming where and the field.
 */
int cdnopt_release_check(const cdnopt_release *release, const char *where, char *err);

/**
 * Check a release id: 1 to CDNOPT_RELEASE_ID_MAX - 1 bytes of printable UTF-8 (no control
 * characters), not starting or ending with a space or tab. Commas, quotes and slashes are
 * allowed. The service checks the ids it receives with this function too, so that every
 * id it stores can be written to a releases file and read back.
 * @param where prefix for messages, e.g. "releases.csv line 3" or "releases[2]".
 * @return 0 or CDNOPT_EINVAL with a message naming where, the id and the fault.
 */
int cdnopt_release_check_id(const char *id, const char *where, char *err);

/**
 * Check one numeric field of a release: "size_mb" must be finite, positive and at most
 * CDNOPT_RELEASE_SIZE_MB_MAX; "users" must be a whole number from 1 to
 * CDNOPT_RELEASE_USERS_MAX, because it counts devices.
 * @param field "size_mb" or "users"; any other name is only checked for a finite positive value.
 * @param value the parsed value.
 * @param where prefix for messages, e.g. "releases.csv line 3" or "field 'users'".
 * @return 0 or CDNOPT_EINVAL with a message naming where, the field, the value and the range.
 */
int cdnopt_release_check_number(const char *field, double value, const char *where, char *err);

/**
 * Parse one numeric field as written in a releases file and check its range as
 * cdnopt_release_check_number() does. A decimal beyond the range of a double (1e999) is
 * reported as out of range with the text as written.
 * @param field "size_mb" or "users".
 * @param text  the field's text.
 * @param out   receives the value when the text is a finite decimal.
 * @return 0, CDNOPT_EPARSE (not a decimal number) or CDNOPT_EINVAL (out of range, or users
 *         not whole), with a message naming where, the field and the value.
 */
int cdnopt_release_parse_number(const char *field, const char *text, const char *where, double *out,
                                char *err);

/**
 * Read a releases CSV (`id,size_mb,users,planned_at[,latest_start_at]`, header first,
 * columns in any order). Duplicate ids are rejected.
 * @param out receives a new set the caller frees with cdnopt_release_set_free().
 * @return 0, CDNOPT_EIO (cannot open), CDNOPT_EPARSE / CDNOPT_EINVAL (bad row; err
 *         names the file, line, field and value) or CDNOPT_ENOMEM.
 */
int cdnopt_release_set_read_csv(const char *path, cdnopt_release_set **out, char *err);

/**
 * Make a set from an array of releases (copied). Duplicate ids are rejected.
 * @return 0, CDNOPT_EINVAL (duplicate id, or a release failing cdnopt_release_check) or
 *         CDNOPT_ENOMEM.
 */
int cdnopt_release_set_new(const cdnopt_release *items, size_t n, cdnopt_release_set **out,
                           char *err);

/** Free a release set; NULL is a no-op. */
void cdnopt_release_set_free(cdnopt_release_set *set);

/**
 * Find a release by id.
 * @return its index, or -1 when no release has that id; O(log n).
 */
long cdnopt_release_set_find(const cdnopt_release_set *set, const char *id);

/** Energy of a release: size_mb * 8e6 * users / 1e9, in Gbit. */
double cdnopt_release_gbit(const cdnopt_release *release);

/** Allocate a schedule for n releases, all starts 0 and ratios 1.0. */
int cdnopt_schedule_new(size_t n, cdnopt_schedule **out);

/** Free a schedule; NULL is a no-op. */
void cdnopt_schedule_free(cdnopt_schedule *schedule);

/** Make the naive schedule: every release at planned_at with batch ratio 1.0. */
int cdnopt_schedule_naive(const cdnopt_release_set *releases, cdnopt_schedule **out);

/** A regular time grid: t = origin + i * step_s. */
typedef struct cdnopt_grid {
    int64_t origin; /* civil seconds of the first step */
    int64_t step_s; /* step in seconds, dividing 3600 */
    size_t n;       /* number of steps; the grid covers [origin, origin + n * step_s) */
} cdnopt_grid;

/** The grid of a series. */
cdnopt_grid cdnopt_grid_of(const cdnopt_series *series);

/**
 * Parse one schedule record against a release set.
 * @param id, start_at, batch_ratio field texts.
 * @param grid   when not NULL, start_at must lie on it ("off the grid" otherwise).
 * @param index  receives the release's index in the set.
 * @return 0, CDNOPT_EPARSE (bad timestamp or ratio text) or CDNOPT_EINVAL (unknown id,
 *         ratio outside (0, 1], start off the grid), the code of the other broken
 *         schedule rules, so that `score` exits 2 for all of them.
 */
int cdnopt_schedule_parse_entry(const cdnopt_release_set *releases, const char *id,
                                const char *start_at, const char *batch_ratio,
                                const cdnopt_grid *grid, const char *where, size_t *index,
                                int64_t *start, double *ratio, char *err);

/**
 * Read a schedule CSV (`id,start_at,batch_ratio`). Every release must appear exactly
 * once; unknown ids, duplicates and missing releases are errors.
 * @param grid may be NULL to skip the grid check.
 * @param out  receives a new schedule the caller frees with cdnopt_schedule_free().
 */
int cdnopt_schedule_read_csv(const char *path, const cdnopt_release_set *releases,
                             const cdnopt_grid *grid, cdnopt_schedule **out, char *err);

/**
 * Write a schedule CSV with a header, one row per release in set order, timestamps as
 * "YYYY-MM-DD HH:MM:SS" and ratios with 17 significant digits at most.
 * @return 0 or CDNOPT_EIO with the path and the system's reason.
 */
int cdnopt_schedule_write_csv(const char *path, const cdnopt_release_set *releases,
                              const cdnopt_schedule *schedule, char *err);

/**
 * Write a releases CSV (the latest_start_at column only when some release has one).
 * @return 0 or CDNOPT_EIO.
 */
int cdnopt_release_set_write_csv(const char *path, const cdnopt_release_set *releases, char *err);

/**
 * Parse a number field of the release files: a finite decimal with nothing around it
 * (no hexadecimal, "inf" or "nan"). Returns 0 or CDNOPT_EPARSE.
 */
int cdnopt_release_parse_decimal(const char *text, double *out);

/** Parse "YYYY-MM-DD HH:MM:SS" into civil seconds; returns 0 or CDNOPT_EPARSE (no message). */
int cdnopt_release_parse_time(const char *text, int64_t *out);

/** Format civil seconds as "YYYY-MM-DD HH:MM:SS" into buf (at least 20 bytes). */
void cdnopt_release_format_time(int64_t t, char *buf, size_t buf_size);

/* ------------------------------------------------------------------------- */
/* Rules                                                                     */
/* ------------------------------------------------------------------------- */

/** Most batch ratios a rules file may list. */
#define CDNOPT_RULES_MAX_RATIOS 16

/** Maximum wave duration a rules file may set, in hours. */
#define CDNOPT_RULES_MAX_DURATION_H 168

/** The rules a schedule keeps and the shape of a batch's wave; see docs/rules.md. */
typedef struct cdnopt_rules {
    int64_t max_delay_s;                           /* latest start = planned + this, default 23 h */
    double batch_ratios[CDNOPT_RULES_MAX_RATIOS];  /* allowed ratios, ascending */
    size_t n_ratios;                               /* default 4: 0.1, 0.3, 0.5, 1.0 */
    bool blackout;                                 /* whether a blackout applies */
    int blackout_from_s;                           /* seconds of day its first minute begins */
    int blackout_to_s;                             /* seconds of day of its last second (04:59:59) */
    double blackout_min_size_mb;                   /* releases strictly larger are affected, 500 */
    double decay;                                  /* r, hour-to-hour rate ratio, 0.8 */
    int duration_h;                                /* D, hours a batch downloads, 15 */
} cdnopt_rules;

/** The rules of the release model: 23 h window, 0.1/0.3/0.5/1.0, 00:00-04:59 over 500 MB. */
cdnopt_rules cdnopt_rules_default(void);

/**
 * Apply one `key = value` line to rules. Blank lines and lines starting with '#' are
 * accepted and change nothing.
 * @param where prefix for messages, e.g. "rules.txt line 4".
 * @return 0 or CDNOPT_EINVAL naming where, the key, the value and the accepted form.
 */
int cdnopt_rules_parse_line(cdnopt_rules *rules, const char *line, const char *where, char *err);

/**
 * Read a rules file over the defaults (keys it leaves out keep their default).
 * @return 0, CDNOPT_EIO or CDNOPT_EINVAL with the file, line, key and value.
 */
int cdnopt_rules_read(const char *path, cdnopt_rules *out, char *err);

/**
 * Check rules built in code against the limits a rules file enforces, because the
 * planners size their buffers by them. The limits are:
 * - max_delay_s from 0 to CDNOPT_RELEASE_MAX_DELAY_S;
 * - 1 to CDNOPT_RULES_MAX_RATIOS ascending ratios in [CDNOPT_RULES_MIN_RATIO, 1];
 * - blackout times within the day (the blackout may wrap past midnight);
 * - blackout_min_size_mb in (0, 1e12], decay in (0, 1];
 * - duration_h from 1 to CDNOPT_RULES_MAX_DURATION_H.
 * The planners, the agent's environment and the schedule evaluation call it first.
 * @return 0 or CDNOPT_EINVAL naming the field, its value and the accepted range.
 */
int cdnopt_rules_validate(const cdnopt_rules *rules, char *err);

/** Latest allowed start of a release under rules, in civil seconds. */
int64_t cdnopt_release_latest_start(const cdnopt_release *release, const cdnopt_rules *rules);

/** The rules a schedule entry can break. */
typedef enum cdnopt_rule {
    CDNOPT_RULE_OK = 0,     /* legal */
    CDNOPT_RULE_GRID,       /* start_at is not on the baseline grid */
    CDNOPT_RULE_WINDOW,     /* start_at outside [planned_at, latest start] */
    CDNOPT_RULE_RATIO,      /* batch_ratio not one of the allowed values */
    CDNOPT_RULE_BLACKOUT,   /* a batch of a large release begins in the blackout */
    CDNOPT_RULE_SPILL,      /* release traffic falls outside the baseline */
} cdnopt_rule;

/** Short lowercase name of a rule ("window", "blackout"); static storage. */
const char *cdnopt_rule_name(cdnopt_rule rule);

/** Number of batches for a ratio: ceil(1 / ratio), with 1e-9 slack so 0.1 gives 10. */
size_t cdnopt_batch_count(double ratio);

/**
 * Test whether starting release at start_at with batch_ratio keeps the rules.
 * @param grid when not NULL, also checks the grid and that the whole wave falls
 *             inside it (spill).
 * @return CDNOPT_RULE_OK or the first rule broken, in enum order.
 */
cdnopt_rule cdnopt_rules_check(const cdnopt_rules *rules, const cdnopt_release *release,
                               int64_t start_at, double batch_ratio, const cdnopt_grid *grid);

/** One way to start a release. */
typedef struct cdnopt_option {
    int64_t start_at;    /* civil seconds */
    double batch_ratio;  /* one of the rules' ratios */
} cdnopt_option;

/**
 * List the legal options of a release: starts planned_at + k * start_step_s (k = 0, 1,
 * ...) up to the latest start, each with every allowed ratio, ordered by delay then
 * ratio, keeping only those cdnopt_rules_check accepts.
 * @param grid         may be NULL (no grid or spill check).
 * @param start_step_s spacing of the candidate starts in seconds (3600 for whole-hour
 *                     delays, or the grid step for every grid start); positive.
 * @param out          array of cap entries, may be NULL when cap is 0.
 * @return the number of legal options, which may exceed cap (only cap are written).
 */
size_t cdnopt_rules_options(const cdnopt_rules *rules, const cdnopt_release *release,
                            const cdnopt_grid *grid, int64_t start_step_s, cdnopt_option *out,
                            size_t cap);

/** One broken rule of a schedule. */
typedef struct cdnopt_violation {
    size_t release;   /* index in the release set */
    cdnopt_rule rule; /* which rule */
    char value[128];  /* the offending value, e.g. "start 2004-12-14 02:00:00" */
} cdnopt_violation;

/**
 * Check every entry of a schedule (grid, window, ratio, blackout, spill).
 * @param out     array of cap entries that receives the violations in release order.
 * @return the number of violations found, which may exceed cap.
 */
size_t cdnopt_schedule_check(const cdnopt_release_set *releases, const cdnopt_schedule *schedule,
                             const cdnopt_rules *rules, const cdnopt_grid *grid,
                             cdnopt_violation *out, size_t cap);

/* ------------------------------------------------------------------------- */
/* Waves                                                                     */
/* ------------------------------------------------------------------------- */

/** Smallest batch ratio a rules file may allow (100 batches). */
#define CDNOPT_RULES_MIN_RATIO 0.01

/** Longest hourly profile of one release: 100 batches, the last one lasting D hours. */
#define CDNOPT_PROFILE_MAX_H (99 + CDNOPT_RULES_MAX_DURATION_H)

/**
 * Hourly rate profile of a release started at hour 0 with a batch ratio: out[h] is its
 * Gbit/s during hour h, summed over batches.
 * @param out receives cdnopt_profile_hours(rules, ratio) entries.
 * @return the number of hours written.
 */
size_t cdnopt_release_profile(const cdnopt_release *release, double batch_ratio,
                              const cdnopt_rules *rules, double *out);

/** Hours a release's traffic lasts with a batch ratio: batches - 1 + duration. */
size_t cdnopt_profile_hours(const cdnopt_rules *rules, double batch_ratio);

/**
 * Rate of a batch of users devices in its first hour, in Gbit/s:
 * size_mb * 8e6 * users * w_0 / 3600 / 1e9. Hour h has this times decay^h.
 */
double cdnopt_batch_gbps(const cdnopt_rules *rules, double size_mb, double users);

/* ------------------------------------------------------------------------- */
/* Impact: active waves advanced in time                                     */
/* ------------------------------------------------------------------------- */

/**
 * The sum of many download waves on a grid. Waves are grouped by the phase of their
 * start within the hour and by their age in hours, so advancing one step and reading
 * the total cost O(phases * D), independent of the number of waves. Owned, freed with
 * cdnopt_impact_free().
 */
typedef struct cdnopt_impact cdnopt_impact;

/**
 * Create an impact structure at time origin.
 * @param step_s grid step in seconds, dividing 3600.
 * @param rules  source of decay and duration (copied).
 * @return 0, CDNOPT_EINVAL (bad step) or CDNOPT_ENOMEM.
 */
int cdnopt_impact_new(int64_t origin, int64_t step_s, const cdnopt_rules *rules,
                      cdnopt_impact **out);

/** Free; NULL is a no-op. */
void cdnopt_impact_free(cdnopt_impact *impact);

/**
 * Add one wave that begins at start_at with first-hour rate gbps (Gbit/s).
 * A start off the grid or before the current time is rejected with CDNOPT_EINVAL, as
 * is a negative or non-finite rate.
 * @return 0, CDNOPT_EINVAL or CDNOPT_ENOMEM.
 */
int cdnopt_impact_add_wave(cdnopt_impact *impact, int64_t start_at, double gbps);

/** Add every batch of a release started at start_at with batch_ratio, shaped by the
 *  rules given to cdnopt_impact_new(). Returns 0, CDNOPT_EINVAL or CDNOPT_ENOMEM. */
int cdnopt_impact_add_release(cdnopt_impact *impact, const cdnopt_release *release,
                              int64_t start_at, double batch_ratio);

/**
 * Move the current time forward to t (on the grid, not before now): waves that have
 * begun join the total, finished waves are dropped.
 * @return 0 or CDNOPT_EINVAL.
 */
int cdnopt_impact_advance(cdnopt_impact *impact, int64_t t);

/** Total release traffic at the current time in Gbit/s, O(1). */
double cdnopt_impact_total(const cdnopt_impact *impact);

/** Current time in civil seconds. */
int64_t cdnopt_impact_now(const cdnopt_impact *impact);

/** Number of waves that have begun and not finished. */
size_t cdnopt_impact_active(const cdnopt_impact *impact);

/** Number of waves added that begin after the current time. */
size_t cdnopt_impact_pending(const cdnopt_impact *impact);

/* ------------------------------------------------------------------------- */
/* Dense evaluation                                                          */
/* ------------------------------------------------------------------------- */

/** The figures a schedule is judged by. */
typedef struct cdnopt_figures {
    double peak_gbps;   /* max of baseline + release traffic */
    double p95_gbps;    /* nearest-rank 95th percentile (rank ceil(0.95 n)) */
    double mean_gbps;   /* mean over the grid */
    double spill_gbit;  /* release traffic falling outside the grid, Gbit */
} cdnopt_figures;

/**
 * Evaluate a schedule on a baseline: T(t) = baseline(t) + all batch rates.
 * @param total when not NULL, receives the baseline's n values of T in Gbit/s.
 * @return 0, CDNOPT_EINVAL (schedule of another size, grid step not dividing one hour),
 *         CDNOPT_ENUMERIC (a figure is inf or NaN, e.g. from baseline values near DBL_MAX)
 *         or CDNOPT_ENOMEM.
 */
int cdnopt_schedule_evaluate(const cdnopt_series *baseline, const cdnopt_release_set *releases,
                             const cdnopt_schedule *schedule, const cdnopt_rules *rules,
                             double *total, cdnopt_figures *out);

/** Peak, p95 and mean of n values (spill 0). values is not modified. */
int cdnopt_figures_of(const double *values, size_t n, cdnopt_figures *out);

/**
 * The weak floor no schedule can beat: max(max baseline, (baseline traffic + all
 * release traffic) / time range), in Gbit/s.
 */
double cdnopt_lower_bound_gbps(const cdnopt_series *baseline, const cdnopt_release_set *releases);

/* ------------------------------------------------------------------------- */
/* Shards                                                                    */
/* ------------------------------------------------------------------------- */

/**
 * Releases grouped by the hour of day of planned_at (24 shards), so that a planner
 * can work one planned hour at a time. Owned, freed with cdnopt_shards_free().
 */
typedef struct cdnopt_shards {
    size_t offset[25];  /* shard h is index[offset[h] .. offset[h+1]) */
    size_t *index;      /* release indices, in set order within each shard */
} cdnopt_shards;

/** Build the 24 hour-of-day shards of a release set. */
int cdnopt_shards_new(const cdnopt_release_set *releases, cdnopt_shards **out);

/** Free; NULL is a no-op. */
void cdnopt_shards_free(cdnopt_shards *shards);

#endif /* CDNOPT_RELEASE_H */
