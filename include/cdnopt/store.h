/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store: the service's SQLite database of releases, observed bandwidth samples
 * and planned schedules.
 *
 * A cdnopt_store owns two connections to one WAL-mode database file: a writer and
 * a reader, each behind its own lock, so any thread may call any function. The
 * writer's lock is held from cdnopt_store_begin() to cdnopt_store_commit() or
 * cdnopt_store_rollback(), which must run on the same thread. The schema carries its version
 * in the schema_version table; cdnopt_store_open() applies the missing migrations
 * in order, each in its own transaction. Times are civil seconds (see series.h).
 *
 * Usage:
 *     cdnopt_store_params params = cdnopt_store_params_default();
 *     params.path = "cdnopt.db";
 *     cdnopt_store *store = NULL;
 *     char err[CDNOPT_ERRMSG_MAX];
 *     if (cdnopt_store_open(&params, &store, err) != CDNOPT_OK) ...
 *     cdnopt_store_begin(store, err);
 *     cdnopt_store_release_insert(store, releases, n, &bad, err);   // one request
 *     cdnopt_store_commit(store, err);                               // durable now
 *     cdnopt_store_close(store);
 *
 * Limitations:
 * - Writes go through one connection, so they run one at a time; readers see
 *   only committed data and never wait for a writer (WAL).
 * - Release ids are at most CDNOPT_STORE_ID_MAX - 1 bytes.
 * - Only the latest schedule is read back; older ones stay in the file.
 */
#ifndef CDNOPT_STORE_H
#define CDNOPT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Schema version that cdnopt_store_open() migrates a database to. */
#define CDNOPT_STORE_SCHEMA_VERSION 3

/** Size of a release id buffer, terminating NUL included. */
#define CDNOPT_STORE_ID_MAX 64

typedef struct cdnopt_store cdnopt_store;

/** Options of cdnopt_store_open(). */
typedef struct cdnopt_store_params {
    const char *path;     /* database file; ":memory:" is rejected because WAL needs a file */
    bool synchronous_full; /* PRAGMA synchronous=FULL (fsync the WAL on every commit) */
    int busy_timeout_ms;  /* how long a connection waits for a lock before failing */
} cdnopt_store_params;

/** Release states; stored as these integers, so values are append-only. */
enum cdnopt_release_status {
    CDNOPT_RELEASE_PENDING = 0,
    CDNOPT_RELEASE_CANCELLED = 1,
};

/** One release as stored; latest_start_at is planned_at + 23 h when the request had none. */
typedef struct cdnopt_store_release {
    char id[CDNOPT_STORE_ID_MAX]; /* caller's id, unique in the database */
    double size_mb;               /* package size in megabytes (10^6 bytes) */
    double users;                 /* devices that will download it */
    int64_t planned_at;           /* civil seconds of the requested release time */
    int64_t latest_start_at;      /* civil seconds of the latest allowed first batch */
    int64_t created_at;           /* civil seconds on the service clock at creation */
    int status;                   /* enum cdnopt_release_status */
} cdnopt_store_release;

/** Filters and paging of cdnopt_store_release_list(). */
typedef struct cdnopt_store_release_query {
    int status;             /* enum cdnopt_release_status, or -1 for any */
    int64_t planned_from;   /* civil seconds, inclusive; INT64_MIN for no bound */
    int64_t planned_to;     /* civil seconds, exclusive; INT64_MAX for no bound */
    const char *after_id;   /* return ids greater than this one (keyset paging); NULL from start */
    size_t limit;           /* maximum number of rows returned */
} cdnopt_store_release_query;

/** One item of a schedule: when a release starts and in what batch ratio. */
typedef struct cdnopt_store_schedule_item {
    char id[CDNOPT_STORE_ID_MAX]; /* release id */
    int64_t start_at;             /* civil seconds of the first batch */
    double batch_ratio;           /* share of users per hourly batch: 0.1, 0.3, 0.5 or 1.0 */
} cdnopt_store_schedule_item;

/** A stored schedule; figures_json is the planner's figures as one JSON object. */
typedef struct cdnopt_store_schedule {
    int64_t id;                        /* row id, increasing with each saved schedule */
    int64_t created_at;                /* civil seconds on the service clock */
    char *figures_json;                /* owned, NUL-terminated JSON object text */
    size_t n_items;                    /* number of items */
    cdnopt_store_schedule_item *items; /* owned array of n_items */
} cdnopt_store_schedule;

/** Default options: no path, synchronous=NORMAL, 5000 ms busy timeout. */
cdnopt_store_params cdnopt_store_params_default(void);

/**
 * Open (creating if needed) the database at params->path, switch it to WAL and
 * migrate it to CDNOPT_STORE_SCHEMA_VERSION.
 * @param params options; path is required.
 * @param out the new store, closed with cdnopt_store_close(); NULL on failure.
 * @param err message buffer (CDNOPT_ERRMSG_MAX) naming the file and SQLite's text.
 * @return CDNOPT_OK, CDNOPT_EINVAL for bad params, CDNOPT_EDB for SQLite errors
 *         (including a database newer than this build), CDNOPT_ENOMEM.
 */
int cdnopt_store_open(const cdnopt_store_params *params, cdnopt_store **out /* OUT */, char *err);

/** Close both connections and free the store; NULL is a no-op. */
void cdnopt_store_close(cdnopt_store *store);

/** Return the schema version recorded in the database (for tests and logs). */
int cdnopt_store_schema_version(cdnopt_store *store);

/**
 * Check that the database can be read: that its file is still at the path it was opened
 * from, and the schema version and the first row of each table and each index. Cheap
 * enough for a health check every second.
 * NOTE: damage in pages past the first row of a table or index passes this check. Such
 * reads fail later with CDNOPT_EDB.
 * @param version receives the schema version on success.
 * @return CDNOPT_OK or CDNOPT_EDB with SQLite's message ("database disk image is
 *         malformed", "file is not a database") or the deleted or renamed file in err.
 */
int cdnopt_store_check(cdnopt_store *store, int *version, char *err);

/**
 * Take the writer's lock and start a write transaction. Every insert until
 * cdnopt_store_commit() becomes durable at once (group commit). On failure the
 * lock is released again, as it is when the database file was deleted or renamed
 * after the open, because SQLite would write to the old file and the write be lost.
 * @return CDNOPT_OK or CDNOPT_EDB with SQLite's message in err.
 */
int cdnopt_store_begin(cdnopt_store *store, char *err);

/**
 * Commit the write transaction and release the writer's lock. The data is on
 * disk when this returns CDNOPT_OK (with synchronous_full; NORMAL in WAL mode
 * may lose the last commits on power loss but not on a process crash). On
 * failure the transaction is still open: call cdnopt_store_rollback().
 */
int cdnopt_store_commit(cdnopt_store *store, char *err);

/** Roll the write transaction back and release the writer's lock. */
void cdnopt_store_rollback(cdnopt_store *store);

/**
 * Insert n releases inside the open write transaction, all or none: a savepoint
 * undoes this call's rows when one fails, and other calls in the same
 * transaction keep theirs.
 * @param releases borrowed array of n releases; status and created_at are stored as given.
 * @param bad_index set to the index of the release that failed, or n when none did.
 * @return CDNOPT_OK, CDNOPT_EBUSY when an id already exists (err names it), CDNOPT_EDB.
 */
int cdnopt_store_release_insert(cdnopt_store *store, const cdnopt_store_release *releases,
                                size_t n, size_t *bad_index, char *err);

/**
 * Read one release by id through the reader connection.
 * @return CDNOPT_OK, CDNOPT_ENOTFOUND, or CDNOPT_EDB.
 */
int cdnopt_store_release_get(cdnopt_store *store, const char *id, cdnopt_store_release *out,
                             char *err);

/**
 * List releases ordered by id that match query.
 * @param rows caller's array of at least query->limit entries.
 * @param n_rows number of rows written.
 * @return CDNOPT_OK or CDNOPT_EDB.
 */
int cdnopt_store_release_list(cdnopt_store *store, const cdnopt_store_release_query *query,
                              cdnopt_store_release *rows, size_t *n_rows, char *err);

/**
 * Mark a pending release cancelled, in its own transaction on the writer.
 * @return CDNOPT_OK, CDNOPT_ENOTFOUND, CDNOPT_EBUSY when it is already cancelled, CDNOPT_EDB.
 */
int cdnopt_store_release_cancel(cdnopt_store *store, const char *id, char *err);

/**
 * Load every pending release, ordered by id.
 * @param out owned array freed with cdnopt_free(); NULL when there are none.
 */
int cdnopt_store_release_pending(cdnopt_store *store, cdnopt_store_release **out /* OUT */,
                                 size_t *n, char *err);

/**
 * Insert or replace observed samples (one per civil second t) in their own
 * transaction on the writer.
 * @param t civil seconds of each sample; gbps the bandwidth in Gbit/s; n entries each.
 */
int cdnopt_store_samples_put(cdnopt_store *store, const int64_t *t, const double *gbps, size_t n,
                             char *err);

/**
 * Read the samples with from <= t < to, ordered by time.
 * @param t_out, gbps_out owned arrays of *n entries freed with cdnopt_free(); NULL when none.
 */
int cdnopt_store_samples_get(cdnopt_store *store, int64_t from, int64_t to,
                             int64_t **t_out /* OUT */, double **gbps_out /* OUT */, size_t *n,
                             char *err);

/**
 * Delete the samples with from <= t < to in their own transaction on the writer.
 * @param deleted receives how many samples were deleted.
 * @return CDNOPT_OK or CDNOPT_EDB.
 */
int cdnopt_store_samples_delete(cdnopt_store *store, int64_t from, int64_t to,
                                size_t *deleted /* OUT */, char *err);

/**
 * Read the samples' grid: the first stored time, and that time plus the grid step.
 * The step is the smaller of the gaps between the first two and the last two
 * samples, so one sample backfilled before a gap does not widen it.
 * @param t_out receives up to 2 civil seconds in time order.
 * @param n     receives how many were found (0, 1 or 2).
 * @return CDNOPT_OK or CDNOPT_EDB.
 */
int cdnopt_store_samples_first(cdnopt_store *store, int64_t t_out[2], size_t *n, char *err);

/**
 * Find the stored sample nearest before a time: the latest one at or before t, or the
 * earliest one after t when none is at or before it.
 * @param nearest receives its civil seconds when *found is true.
 * @return CDNOPT_OK (also when the store contains no sample) or CDNOPT_EDB.
 */
int cdnopt_store_samples_nearest(cdnopt_store *store, int64_t t, int64_t *nearest /* OUT */,
                                 bool *found /* OUT */, char *err);

/**
 * Save a schedule (its figures and items) in its own transaction on the writer.
 * @param schedule borrowed; its id is ignored and the new row id written to *id_out.
 */
int cdnopt_store_schedule_save(cdnopt_store *store, const cdnopt_store_schedule *schedule,
                               int64_t *id_out, char *err);

/**
 * Load the most recent schedule.
 * @param out filled with owned fields, freed with cdnopt_store_schedule_fini().
 * @return CDNOPT_OK, CDNOPT_ENOTFOUND when none was saved, CDNOPT_EDB.
 */
int cdnopt_store_schedule_latest(cdnopt_store *store, cdnopt_store_schedule *out, char *err);

/** Free the owned fields of a schedule filled by cdnopt_store_schedule_latest(). */
void cdnopt_store_schedule_fini(cdnopt_store_schedule *schedule);

#endif /* CDNOPT_STORE_H */
