/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The service database on SQLite: opening in WAL mode, versioned migrations, and
 * the queries on releases, samples and schedules. Two connections share one file:
 * the writer (behind write_lock, held across a group-commit transaction) and the
 * reader (behind read_lock). SQLite result codes become CDNOPT_EDB with
 * sqlite3_errmsg() kept in the caller's message.
 */
#include "cdnopt/store.h"

#include "cdnopt/core.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

struct cdnopt_store {
    sqlite3 *writer;              /* the only connection that writes */
    sqlite3 *reader;              /* reads committed data while the writer works */
    pthread_mutex_t write_lock;   /* held from begin to commit/rollback */
    pthread_mutex_t read_lock;    /* guards reader and its statements */
    sqlite3_stmt *insert_release; /* prepared once: the hot path of creates */
    char path[1024];              /* database file, for messages */
};

/* ------------------------------------------------------------------------- */
/* Migrations                                                                */
/* ------------------------------------------------------------------------- */

/* Each entry moves the schema from version i to i + 1. Append only: a database
 * written by an older build replays the missing tail in order. */
static const char *const migrations[CDNOPT_STORE_SCHEMA_VERSION] = {
    /* 1: releases and observed samples. */
    "CREATE TABLE releases ("
    " id TEXT PRIMARY KEY,"
    " size_mb REAL NOT NULL,"
    " users REAL NOT NULL,"
    " planned_at INTEGER NOT NULL,"
    " latest_start_at INTEGER NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " status INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE samples (t INTEGER PRIMARY KEY, gbps REAL NOT NULL);",

    /* 2: schedules with their items, and the index the list filters use. */
    "CREATE TABLE schedules ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " created_at INTEGER NOT NULL,"
    " figures TEXT NOT NULL);"
    "CREATE TABLE schedule_items ("
    " schedule_id INTEGER NOT NULL REFERENCES schedules(id),"
    " release_id TEXT NOT NULL,"
    " start_at INTEGER NOT NULL,"
    " batch_ratio REAL NOT NULL,"
    " PRIMARY KEY (schedule_id, release_id));"
    "CREATE INDEX releases_status_planned ON releases(status, planned_at);",

    /* 3: releases keyed by id alone (WITHOUT ROWID), which saves the separate
     * id index on every insert: about 10% faster batch creates. */
    "CREATE TABLE releases_by_id ("
    " id TEXT PRIMARY KEY,"
    " size_mb REAL NOT NULL,"
    " users REAL NOT NULL,"
    " planned_at INTEGER NOT NULL,"
    " latest_start_at INTEGER NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " status INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;"
    "INSERT INTO releases_by_id SELECT id, size_mb, users, planned_at, latest_start_at,"
    " created_at, status FROM releases;"
    "DROP TABLE releases;"
    "ALTER TABLE releases_by_id RENAME TO releases;"
    "CREATE INDEX releases_status_planned ON releases(status, planned_at);",
};

static int db_fail(const cdnopt_store *store, sqlite3 *db, char *err, const char *what)
{
    return cdnopt_fail(err, CDNOPT_EDB, "%s: %s failed: %s", store->path, what,
                       db != NULL ? sqlite3_errmsg(db) : "no connection");
}

static int exec_sql(const cdnopt_store *store, sqlite3 *db, const char *sql, char *err)
{
    char *message = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &message) == SQLITE_OK)
        return CDNOPT_OK;

    int rc = cdnopt_fail(err, CDNOPT_EDB, "%s: '%.60s' failed: %s", store->path, sql,
                         message != NULL ? message : "unknown error");
    sqlite3_free(message);
    return rc;
}

static int read_version(const cdnopt_store *store, int *version, char *err)
{
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(store->writer, "SELECT max(version) FROM schema_version", -1, &stmt,
                           NULL) != SQLITE_OK)
        return db_fail(store, store->writer, err, "reading schema_version");

    *version = sqlite3_step(stmt) == SQLITE_ROW ? sqlite3_column_int(stmt, 0) : 0;
    sqlite3_finalize(stmt);
    return CDNOPT_OK;
}

/* One migration, its version row included, in one transaction: a crash leaves
 * the database at the previous version, never half-migrated. */
static int apply_migration(const cdnopt_store *store, int to_version, char *err)
{
    int rc = exec_sql(store, store->writer, "BEGIN IMMEDIATE", err);
    if (rc != CDNOPT_OK)
        return rc;

    rc = exec_sql(store, store->writer, migrations[to_version - 1], err);
    if (rc == CDNOPT_OK) {
        char sql[128];
        snprintf(sql, sizeof sql, "INSERT INTO schema_version(version) VALUES (%d)", to_version);
        rc = exec_sql(store, store->writer, sql, err);
    }
    if (rc == CDNOPT_OK)
        rc = exec_sql(store, store->writer, "COMMIT", err);
    if (rc != CDNOPT_OK)
        sqlite3_exec(store->writer, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static int migrate(cdnopt_store *store, char *err)
{
    int rc =
        exec_sql(store, store->writer,
                 "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY)", err);
    if (rc != CDNOPT_OK)
        return rc;

    int version = 0;
    rc = read_version(store, &version, err);
    if (rc != CDNOPT_OK)
        return rc;
    if (version > CDNOPT_STORE_SCHEMA_VERSION)
        return cdnopt_fail(err, CDNOPT_EDB,
                           "%s: schema version %d is newer than this build's %d; use a newer "
                           "cdnopt or another database file",
                           store->path, version, CDNOPT_STORE_SCHEMA_VERSION);

    for (int next = version + 1; next <= CDNOPT_STORE_SCHEMA_VERSION && rc == CDNOPT_OK; next++)
        rc = apply_migration(store, next, err);
    return rc;
}

/* ------------------------------------------------------------------------- */
/* Opening and closing                                                       */
/* ------------------------------------------------------------------------- */

cdnopt_store_params cdnopt_store_params_default(void)
{
    return (cdnopt_store_params){.path = NULL, .synchronous_full = false, .busy_timeout_ms = 5000};
}

static int open_connection(cdnopt_store *store, const cdnopt_store_params *params, sqlite3 **db,
                           char *err)
{
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(params->path, db, flags, NULL) != SQLITE_OK)
        return db_fail(store, *db, err, "opening the database");

    sqlite3_busy_timeout(*db, params->busy_timeout_ms);
    int rc = exec_sql(store, *db, "PRAGMA journal_mode=WAL", err);

    /* A 64 MiB page cache keeps the id index of a few million releases in
     * memory, and checkpoints every 10000 pages (about 40 MiB of log) instead
     * of 1000 make the commit that runs one rarer. */
    if (rc == CDNOPT_OK)
        rc = exec_sql(store, *db, "PRAGMA cache_size=-65536", err);
    if (rc == CDNOPT_OK)
        rc = exec_sql(store, *db, "PRAGMA wal_autocheckpoint=10000", err);
    if (rc == CDNOPT_OK)
        rc = exec_sql(store, *db,
                      params->synchronous_full ? "PRAGMA synchronous=FULL"
                                               : "PRAGMA synchronous=NORMAL",
                      err);
    return rc;
}

int cdnopt_store_open(const cdnopt_store_params *params, cdnopt_store **out, char *err)
{
    *out = NULL;
    if (params == NULL || params->path == NULL || params->path[0] == '\0')
        return cdnopt_fail(err, CDNOPT_EINVAL, "store: no database path given; pass --db FILE");
    if (strcmp(params->path, ":memory:") == 0)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "store: ':memory:' cannot run in WAL mode; give a file path");

    cdnopt_store *store = cdnopt_calloc(1, sizeof *store);
    if (store == NULL)
        return cdnopt_fail(err, CDNOPT_ENOMEM, "store: out of memory opening %s", params->path);
    snprintf(store->path, sizeof store->path, "%s", params->path);
    pthread_mutex_init(&store->write_lock, NULL);
    pthread_mutex_init(&store->read_lock, NULL);

    int rc = open_connection(store, params, &store->writer, err);
    if (rc == CDNOPT_OK)
        rc = migrate(store, err);
    if (rc == CDNOPT_OK)
        rc = open_connection(store, params, &store->reader, err);
    if (rc == CDNOPT_OK &&
        sqlite3_prepare_v2(store->writer,
                           "INSERT INTO releases(id, size_mb, users, planned_at, latest_start_at,"
                           " created_at, status) VALUES (?, ?, ?, ?, ?, ?, ?)",
                           -1, &store->insert_release, NULL) != SQLITE_OK)
        rc = db_fail(store, store->writer, err, "preparing the release insert");

    if (rc != CDNOPT_OK) {
        cdnopt_store_close(store);
        return rc;
    }
    *out = store;
    return CDNOPT_OK;
}

void cdnopt_store_close(cdnopt_store *store)
{
    if (store == NULL)
        return;

    sqlite3_finalize(store->insert_release);
    sqlite3_close(store->reader);
    sqlite3_close(store->writer);
    pthread_mutex_destroy(&store->write_lock);
    pthread_mutex_destroy(&store->read_lock);
    cdnopt_free(store);
}

int cdnopt_store_schema_version(cdnopt_store *store)
{
    pthread_mutex_lock(&store->write_lock);
    int version = 0;
    if (read_version(store, &version, NULL) != CDNOPT_OK)
        version = -1;
    pthread_mutex_unlock(&store->write_lock);
    return version;
}

/* Fail when the database file was deleted or renamed after db opened it. SQLite keeps
 * reading and writing the open file, so the service would otherwise report healthy and
 * acknowledge writes that no later start of it finds. */
static int check_not_moved(const cdnopt_store *store, sqlite3 *db, char *err)
{
    int moved = 0;
    if (sqlite3_file_control(db, "main", SQLITE_FCNTL_HAS_MOVED, &moved) != SQLITE_OK)
        return CDNOPT_OK; // a VFS without the check: nothing to compare
    if (moved)
        return cdnopt_fail(err, CDNOPT_EDB,
                           "%s: the database file was deleted or renamed after the service "
                           "opened it, so a write would be lost; put the file back at that "
                           "path or restart the service",
                           store->path);
    return CDNOPT_OK;
}

/* Rationale for the probe: a load balancer checks health every few seconds, so the check
 * reads only the first row of each table and index (the root and one leaf page), never a
 * whole table as PRAGMA quick_check would. It runs on the reader, so a long group commit
 * does not hold it up.
 *
 * Each table read selects a column that no index covers, because for "SELECT 1 FROM t"
 * SQLite scans the smallest covering index and never opens the table's own b-tree. The
 * indexes are read with INDEXED BY for the same reason. */
int cdnopt_store_check(cdnopt_store *store, int *version, char *err)
{
    static const char *const sql =
        "SELECT (SELECT max(version) FROM schema_version),"
        " (SELECT typeof(size_mb) FROM releases LIMIT 1),"
        " (SELECT typeof(status) FROM releases INDEXED BY releases_status_planned LIMIT 1),"
        " (SELECT typeof(gbps) FROM samples LIMIT 1),"
        " (SELECT typeof(created_at) FROM schedules LIMIT 1),"
        " (SELECT typeof(batch_ratio) FROM schedule_items LIMIT 1),"
        " (SELECT typeof(release_id) FROM schedule_items"
        "  INDEXED BY sqlite_autoindex_schedule_items_1 LIMIT 1)";
    pthread_mutex_lock(&store->read_lock);
    sqlite3_stmt *stmt = NULL;
    int rc = check_not_moved(store, store->reader, err);
    if (rc == CDNOPT_OK && (sqlite3_prepare_v2(store->reader, sql, -1, &stmt, NULL) != SQLITE_OK ||
                            sqlite3_step(stmt) != SQLITE_ROW))
        rc = db_fail(store, store->reader, err, "checking the tables");
    if (rc == CDNOPT_OK)
        *version = sqlite3_column_int(stmt, 0);
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&store->read_lock);
    return rc;
}

/* ------------------------------------------------------------------------- */
/* Write transactions                                                        */
/* ------------------------------------------------------------------------- */

int cdnopt_store_begin(cdnopt_store *store, char *err)
{
    pthread_mutex_lock(&store->write_lock);
    int rc = check_not_moved(store, store->writer, err);
    if (rc == CDNOPT_OK)
        rc = exec_sql(store, store->writer, "BEGIN IMMEDIATE", err);
    if (rc != CDNOPT_OK)
        pthread_mutex_unlock(&store->write_lock);
    return rc;
}

int cdnopt_store_commit(cdnopt_store *store, char *err)
{
    int rc = exec_sql(store, store->writer, "COMMIT", err);
    if (rc == CDNOPT_OK)
        pthread_mutex_unlock(&store->write_lock);
    return rc;
}

void cdnopt_store_rollback(cdnopt_store *store)
{
    sqlite3_exec(store->writer, "ROLLBACK", NULL, NULL, NULL);
    pthread_mutex_unlock(&store->write_lock);
}

static int insert_one(cdnopt_store *store, const cdnopt_store_release *r, char *err)
{
    sqlite3_stmt *stmt = store->insert_release;
    sqlite3_reset(stmt);
    sqlite3_bind_text(stmt, 1, r->id, -1, SQLITE_STATIC);
    sqlite3_bind_double(stmt, 2, r->size_mb);
    sqlite3_bind_double(stmt, 3, r->users);
    sqlite3_bind_int64(stmt, 4, r->planned_at);
    sqlite3_bind_int64(stmt, 5, r->latest_start_at);
    sqlite3_bind_int64(stmt, 6, r->created_at);
    sqlite3_bind_int(stmt, 7, r->status);

    int step = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    if (step == SQLITE_DONE)
        return CDNOPT_OK;
    if (step == SQLITE_CONSTRAINT)
        return cdnopt_fail(err, CDNOPT_EBUSY,
                           "release id '%s' already exists, and an id stays taken after its "
                           "release is cancelled; choose a new id",
                           r->id);
    return db_fail(store, store->writer, err, "inserting a release");
}

int cdnopt_store_release_insert(cdnopt_store *store, const cdnopt_store_release *releases, size_t n,
                                size_t *bad_index, char *err)
{
    *bad_index = n;
    int rc = exec_sql(store, store->writer, "SAVEPOINT request", err);
    if (rc != CDNOPT_OK)
        return rc;

    for (size_t i = 0; i < n && rc == CDNOPT_OK; i++) {
        rc = insert_one(store, &releases[i], err);
        if (rc != CDNOPT_OK)
            *bad_index = i;
    }

    /* ROLLBACK TO keeps the savepoint open, so RELEASE follows in both cases. */
    if (rc != CDNOPT_OK)
        sqlite3_exec(store->writer, "ROLLBACK TO request", NULL, NULL, NULL);
    sqlite3_exec(store->writer, "RELEASE request", NULL, NULL, NULL);
    return rc;
}

/* Run fn inside its own transaction on the writer, under the writer's lock. */
static int with_write_transaction(cdnopt_store *store, int (*fn)(cdnopt_store *, void *, char *),
                                  void *arg, char *err)
{
    int rc = cdnopt_store_begin(store, err);
    if (rc != CDNOPT_OK)
        return rc;

    rc = fn(store, arg, err);
    if (rc == CDNOPT_OK)
        rc = cdnopt_store_commit(store, err);
    if (rc != CDNOPT_OK)
        cdnopt_store_rollback(store);
    return rc;
}

/* ------------------------------------------------------------------------- */
/* Releases: reads and cancel                                                */
/* ------------------------------------------------------------------------- */

#define RELEASE_COLUMNS "id, size_mb, users, planned_at, latest_start_at, created_at, status"

static void row_to_release(sqlite3_stmt *stmt, cdnopt_store_release *r)
{
    const unsigned char *id = sqlite3_column_text(stmt, 0);
    snprintf(r->id, sizeof r->id, "%s", id != NULL ? (const char *)id : "");
    r->size_mb = sqlite3_column_double(stmt, 1);
    r->users = sqlite3_column_double(stmt, 2);
    r->planned_at = sqlite3_column_int64(stmt, 3);
    r->latest_start_at = sqlite3_column_int64(stmt, 4);
    r->created_at = sqlite3_column_int64(stmt, 5);
    r->status = sqlite3_column_int(stmt, 6);
}

/* Fail with ENOTFOUND naming id, which may come from a request path, so it is quoted with
 * its control and invalid bytes escaped and clipped. */
static int release_not_found(const char *id, char *err)
{
    char shown[CDNOPT_QUOTE_SIZE];
    return cdnopt_fail(err, CDNOPT_ENOTFOUND, "release '%s' not found",
                       cdnopt_text_quote(shown, sizeof shown, id, strlen(id), CDNOPT_QUOTE_BYTES));
}

int cdnopt_store_release_get(cdnopt_store *store, const char *id, cdnopt_store_release *out,
                             char *err)
{
    pthread_mutex_lock(&store->read_lock);
    sqlite3_stmt *stmt = NULL;
    int rc = CDNOPT_OK;
    if (sqlite3_prepare_v2(store->reader, "SELECT " RELEASE_COLUMNS " FROM releases WHERE id = ?",
                           -1, &stmt, NULL) != SQLITE_OK) {
        rc = db_fail(store, store->reader, err, "reading a release");
    } else {
        sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
        int step = sqlite3_step(stmt);
        if (step == SQLITE_ROW)
            row_to_release(stmt, out);
        else if (step == SQLITE_DONE)
            rc = release_not_found(id, err);
        else
            rc = db_fail(store, store->reader, err, "reading a release");
    }
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&store->read_lock);
    return rc;
}

static int step_rows(cdnopt_store *store, sqlite3_stmt *stmt, cdnopt_store_release *rows,
                     size_t limit, size_t *n_rows, char *err)
{
    *n_rows = 0;
    int step = SQLITE_DONE;
    while (*n_rows < limit && (step = sqlite3_step(stmt)) == SQLITE_ROW)
        row_to_release(stmt, &rows[(*n_rows)++]);
    if (*n_rows < limit && step != SQLITE_DONE)
        return db_fail(store, store->reader, err, "listing releases");
    return CDNOPT_OK;
}

int cdnopt_store_release_list(cdnopt_store *store, const cdnopt_store_release_query *query,
                              cdnopt_store_release *rows, size_t *n_rows, char *err)
{
    static const char sql[] = "SELECT " RELEASE_COLUMNS " FROM releases"
                              " WHERE (?1 < 0 OR status = ?1) AND planned_at >= ?2"
                              " AND planned_at < ?3 AND id > ?4 ORDER BY id LIMIT ?5";
    pthread_mutex_lock(&store->read_lock);
    sqlite3_stmt *stmt = NULL;
    int rc;
    if (sqlite3_prepare_v2(store->reader, sql, -1, &stmt, NULL) != SQLITE_OK) {
        rc = db_fail(store, store->reader, err, "listing releases");
    } else {
        sqlite3_bind_int(stmt, 1, query->status);
        sqlite3_bind_int64(stmt, 2, query->planned_from);
        sqlite3_bind_int64(stmt, 3, query->planned_to);
        sqlite3_bind_text(stmt, 4, query->after_id != NULL ? query->after_id : "", -1,
                          SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 5, (sqlite3_int64)query->limit);
        rc = step_rows(store, stmt, rows, query->limit, n_rows, err);
    }
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&store->read_lock);
    return rc;
}

static int cancel_in_transaction(cdnopt_store *store, void *arg, char *err)
{
    const char *id = arg;
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(store->writer, "SELECT status FROM releases WHERE id = ?", -1, &stmt,
                           NULL) != SQLITE_OK)
        return db_fail(store, store->writer, err, "reading a release");
    sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
    int step = sqlite3_step(stmt);
    int status = step == SQLITE_ROW ? sqlite3_column_int(stmt, 0) : -1;
    sqlite3_finalize(stmt);

    if (step == SQLITE_DONE)
        return release_not_found(id, err);
    if (step != SQLITE_ROW)
        return db_fail(store, store->writer, err, "reading a release");
    if (status == CDNOPT_RELEASE_CANCELLED)
        return cdnopt_fail(err, CDNOPT_EBUSY, "release '%s' is already cancelled", id);

    char sql[160];
    snprintf(sql, sizeof sql, "UPDATE releases SET status = %d WHERE id = ?",
             CDNOPT_RELEASE_CANCELLED);
    if (sqlite3_prepare_v2(store->writer, sql, -1, &stmt, NULL) != SQLITE_OK)
        return db_fail(store, store->writer, err, "cancelling a release");
    sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
    step = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    return step == SQLITE_DONE ? CDNOPT_OK
                               : db_fail(store, store->writer, err, "cancelling a release");
}

int cdnopt_store_release_cancel(cdnopt_store *store, const char *id, char *err)
{
    return with_write_transaction(store, cancel_in_transaction, (void *)id, err);
}

int cdnopt_store_release_pending(cdnopt_store *store, cdnopt_store_release **out, size_t *n,
                                 char *err)
{
    *out = NULL;
    *n = 0;
    cdnopt_store_release_query query = {
        .status = CDNOPT_RELEASE_PENDING,
        .planned_from = INT64_MIN,
        .planned_to = INT64_MAX,
        .after_id = NULL,
        .limit = 4096,
    };

    /* Page through in keyset order so that the array grows by whole pages. The last id
     * is copied out because the next page's realloc may move the array. */
    cdnopt_store_release *all = NULL;
    size_t count = 0;
    char last_id[CDNOPT_STORE_ID_MAX];
    for (;;) {
        cdnopt_store_release *grown = cdnopt_realloc(all, (count + query.limit) * sizeof *all);
        if (grown == NULL) {
            cdnopt_free(all);
            return cdnopt_fail(err, CDNOPT_ENOMEM, "store: out of memory reading releases");
        }
        all = grown;

        size_t got = 0;
        int rc = cdnopt_store_release_list(store, &query, all + count, &got, err);
        if (rc != CDNOPT_OK) {
            cdnopt_free(all);
            return rc;
        }
        count += got;
        if (got < query.limit)
            break;
        snprintf(last_id, sizeof last_id, "%s", all[count - 1].id);
        query.after_id = last_id;
    }

    if (count == 0) {
        cdnopt_free(all);
        all = NULL;
    }
    *out = all;
    *n = count;
    return CDNOPT_OK;
}

/* ------------------------------------------------------------------------- */
/* Samples                                                                   */
/* ------------------------------------------------------------------------- */

struct samples_args {
    const int64_t *t;
    const double *gbps;
    size_t n;
};

static int samples_in_transaction(cdnopt_store *store, void *arg, char *err)
{
    const struct samples_args *a = arg;
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(store->writer, "INSERT OR REPLACE INTO samples(t, gbps) VALUES (?, ?)",
                           -1, &stmt, NULL) != SQLITE_OK)
        return db_fail(store, store->writer, err, "storing samples");

    int rc = CDNOPT_OK;
    for (size_t i = 0; i < a->n && rc == CDNOPT_OK; i++) {
        sqlite3_bind_int64(stmt, 1, a->t[i]);
        sqlite3_bind_double(stmt, 2, a->gbps[i]);
        if (sqlite3_step(stmt) != SQLITE_DONE)
            rc = db_fail(store, store->writer, err, "storing samples");
        sqlite3_reset(stmt);
    }
    sqlite3_finalize(stmt);
    return rc;
}

int cdnopt_store_samples_put(cdnopt_store *store, const int64_t *t, const double *gbps, size_t n,
                             char *err)
{
    struct samples_args args = {t, gbps, n};
    return with_write_transaction(store, samples_in_transaction, &args, err);
}

struct samples_delete_args {
    int64_t from, to;
    size_t *deleted;
};

static int samples_delete_in_transaction(cdnopt_store *store, void *arg, char *err)
{
    const struct samples_delete_args *a = arg;
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(store->writer, "DELETE FROM samples WHERE t >= ? AND t < ?", -1, &stmt,
                           NULL) != SQLITE_OK)
        return db_fail(store, store->writer, err, "deleting samples");

    int rc = CDNOPT_OK;
    sqlite3_bind_int64(stmt, 1, a->from);
    sqlite3_bind_int64(stmt, 2, a->to);
    if (sqlite3_step(stmt) != SQLITE_DONE)
        rc = db_fail(store, store->writer, err, "deleting samples");
    else
        *a->deleted = (size_t)sqlite3_changes(store->writer);
    sqlite3_finalize(stmt);
    return rc;
}

int cdnopt_store_samples_delete(cdnopt_store *store, int64_t from, int64_t to, size_t *deleted,
                                char *err)
{
    *deleted = 0;
    struct samples_delete_args args = {from, to, deleted};
    return with_write_transaction(store, samples_delete_in_transaction, &args, err);
}

static int collect_samples(cdnopt_store *store, sqlite3_stmt *stmt, int64_t **t_out,
                           double **gbps_out, size_t *n, char *err)
{
    size_t cap = 0;
    int step = SQLITE_DONE;
    while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap == 0 ? 1024 : cap * 2;
            int64_t *t = cdnopt_realloc(*t_out, cap * sizeof *t);
            if (t != NULL)
                *t_out = t;
            double *v = cdnopt_realloc(*gbps_out, cap * sizeof *v);
            if (v != NULL)
                *gbps_out = v;
            if (t == NULL || v == NULL)
                return cdnopt_fail(err, CDNOPT_ENOMEM, "store: out of memory reading samples");
        }
        (*t_out)[*n] = sqlite3_column_int64(stmt, 0);
        (*gbps_out)[*n] = sqlite3_column_double(stmt, 1);
        (*n)++;
    }
    return step == SQLITE_DONE ? CDNOPT_OK : db_fail(store, store->reader, err, "reading samples");
}

int cdnopt_store_samples_get(cdnopt_store *store, int64_t from, int64_t to, int64_t **t_out,
                             double **gbps_out, size_t *n, char *err)
{
    *t_out = NULL;
    *gbps_out = NULL;
    *n = 0;
    pthread_mutex_lock(&store->read_lock);
    sqlite3_stmt *stmt = NULL;
    int rc;
    if (sqlite3_prepare_v2(store->reader,
                           "SELECT t, gbps FROM samples WHERE t >= ? AND t < ? ORDER BY t", -1,
                           &stmt, NULL) != SQLITE_OK) {
        rc = db_fail(store, store->reader, err, "reading samples");
    } else {
        sqlite3_bind_int64(stmt, 1, from);
        sqlite3_bind_int64(stmt, 2, to);
        rc = collect_samples(store, stmt, t_out, gbps_out, n, err);
    }
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&store->read_lock);

    if (rc != CDNOPT_OK || *n == 0) {
        cdnopt_free(*t_out);
        cdnopt_free(*gbps_out);
        *t_out = NULL;
        *gbps_out = NULL;
        *n = 0;
    }
    return rc;
}

/* Read up to two sample times in the order sql gives them. */
static int read_two_times(cdnopt_store *store, const char *sql, int64_t t_out[2], size_t *n,
                          char *err)
{
    *n = 0;
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(store->reader, sql, -1, &stmt, NULL) != SQLITE_OK)
        return db_fail(store, store->reader, err, "reading samples");

    int rc = CDNOPT_OK;
    int step;
    while ((step = sqlite3_step(stmt)) == SQLITE_ROW && *n < 2)
        t_out[(*n)++] = sqlite3_column_int64(stmt, 0);
    if (step != SQLITE_DONE && step != SQLITE_ROW)
        rc = db_fail(store, store->reader, err, "reading samples");
    sqlite3_finalize(stmt);
    return rc;
}

int cdnopt_store_samples_first(cdnopt_store *store, int64_t t_out[2], size_t *n, char *err)
{
    int64_t last[2];
    size_t n_last = 0;
    pthread_mutex_lock(&store->read_lock);
    int rc = read_two_times(store, "SELECT t FROM samples ORDER BY t LIMIT 2", t_out, n, err);
    if (rc == CDNOPT_OK)
        rc = read_two_times(store, "SELECT t FROM samples ORDER BY t DESC LIMIT 2", last,
                            &n_last, err);
    pthread_mutex_unlock(&store->read_lock);
    if (rc != CDNOPT_OK) {
        *n = 0;
        return rc;
    }

    /* A sample backfilled before a gap must not widen the grid, so the step is the
     * smaller of the first and the last pair's. */
    if (*n == 2 && n_last == 2 && last[0] - last[1] < t_out[1] - t_out[0])
        t_out[1] = t_out[0] + (last[0] - last[1]);
    return CDNOPT_OK;
}

int cdnopt_store_samples_nearest(cdnopt_store *store, int64_t t, int64_t *nearest, bool *found,
                                 char *err)
{
    *found = false;
    /* The latest sample at or before t, else the earliest one after it. */
    static const char *const queries[2] = {
        "SELECT t FROM samples WHERE t <= ?1 ORDER BY t DESC LIMIT 1",
        "SELECT t FROM samples WHERE t > ?1 ORDER BY t LIMIT 1"};
    int rc = CDNOPT_OK;
    pthread_mutex_lock(&store->read_lock);
    for (size_t i = 0; rc == CDNOPT_OK && !*found && i < 2; i++) {
        sqlite3_stmt *stmt = NULL;
        if (sqlite3_prepare_v2(store->reader, queries[i], -1, &stmt, NULL) != SQLITE_OK) {
            rc = db_fail(store, store->reader, err, "reading samples");
            break;
        }
        sqlite3_bind_int64(stmt, 1, t);
        int step = sqlite3_step(stmt);
        if (step == SQLITE_ROW) {
            *nearest = sqlite3_column_int64(stmt, 0);
            *found = true;
        } else if (step != SQLITE_DONE) {
            rc = db_fail(store, store->reader, err, "reading samples");
        }
        sqlite3_finalize(stmt);
    }
    pthread_mutex_unlock(&store->read_lock);
    return rc;
}

/* ------------------------------------------------------------------------- */
/* Schedules                                                                 */
/* ------------------------------------------------------------------------- */

struct schedule_args {
    const cdnopt_store_schedule *schedule;
    int64_t id;
};

static int schedule_in_transaction(cdnopt_store *store, void *arg, char *err)
{
    struct schedule_args *a = arg;
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(store->writer,
                           "INSERT INTO schedules(created_at, figures) VALUES (?, ?)", -1, &stmt,
                           NULL) != SQLITE_OK)
        return db_fail(store, store->writer, err, "saving a schedule");
    sqlite3_bind_int64(stmt, 1, a->schedule->created_at);
    sqlite3_bind_text(stmt, 2, a->schedule->figures_json != NULL ? a->schedule->figures_json : "{}",
                      -1, SQLITE_STATIC);
    int step = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    if (step != SQLITE_DONE)
        return db_fail(store, store->writer, err, "saving a schedule");
    a->id = sqlite3_last_insert_rowid(store->writer);

    if (sqlite3_prepare_v2(store->writer,
                           "INSERT INTO schedule_items(schedule_id, release_id, start_at,"
                           " batch_ratio) VALUES (?, ?, ?, ?)",
                           -1, &stmt, NULL) != SQLITE_OK)
        return db_fail(store, store->writer, err, "saving schedule items");
    int rc = CDNOPT_OK;
    for (size_t i = 0; i < a->schedule->n_items && rc == CDNOPT_OK; i++) {
        const cdnopt_store_schedule_item *item = &a->schedule->items[i];
        sqlite3_bind_int64(stmt, 1, a->id);
        sqlite3_bind_text(stmt, 2, item->id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 3, item->start_at);
        sqlite3_bind_double(stmt, 4, item->batch_ratio);
        if (sqlite3_step(stmt) != SQLITE_DONE)
            rc = db_fail(store, store->writer, err, "saving schedule items");
        sqlite3_reset(stmt);
    }
    sqlite3_finalize(stmt);
    return rc;
}

int cdnopt_store_schedule_save(cdnopt_store *store, const cdnopt_store_schedule *schedule,
                               int64_t *id_out, char *err)
{
    struct schedule_args args = {schedule, 0};
    int rc = with_write_transaction(store, schedule_in_transaction, &args, err);
    if (rc == CDNOPT_OK && id_out != NULL)
        *id_out = args.id;
    return rc;
}

static int read_schedule_items(cdnopt_store *store, cdnopt_store_schedule *out, char *err)
{
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(store->reader,
                           "SELECT release_id, start_at, batch_ratio FROM schedule_items"
                           " WHERE schedule_id = ? ORDER BY start_at, release_id",
                           -1, &stmt, NULL) != SQLITE_OK)
        return db_fail(store, store->reader, err, "reading schedule items");
    sqlite3_bind_int64(stmt, 1, out->id);

    size_t cap = 0;
    int step = SQLITE_DONE;
    int rc = CDNOPT_OK;
    while (rc == CDNOPT_OK && (step = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (out->n_items == cap) {
            cap = cap == 0 ? 256 : cap * 2;
            cdnopt_store_schedule_item *grown =
                cdnopt_realloc(out->items, cap * sizeof *out->items);
            if (grown == NULL) {
                rc = cdnopt_fail(err, CDNOPT_ENOMEM, "store: out of memory reading a schedule");
                break;
            }
            out->items = grown;
        }
        cdnopt_store_schedule_item *item = &out->items[out->n_items++];
        snprintf(item->id, sizeof item->id, "%s", (const char *)sqlite3_column_text(stmt, 0));
        item->start_at = sqlite3_column_int64(stmt, 1);
        item->batch_ratio = sqlite3_column_double(stmt, 2);
    }
    if (rc == CDNOPT_OK && step != SQLITE_DONE)
        rc = db_fail(store, store->reader, err, "reading schedule items");
    sqlite3_finalize(stmt);
    return rc;
}

static int read_latest_schedule(cdnopt_store *store, cdnopt_store_schedule *out, char *err)
{
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(store->reader,
                           "SELECT id, created_at, figures FROM schedules ORDER BY id DESC LIMIT 1",
                           -1, &stmt, NULL) != SQLITE_OK)
        return db_fail(store, store->reader, err, "reading the schedule");

    int step = sqlite3_step(stmt);
    int rc = CDNOPT_OK;
    if (step == SQLITE_ROW) {
        out->id = sqlite3_column_int64(stmt, 0);
        out->created_at = sqlite3_column_int64(stmt, 1);
        out->figures_json = cdnopt_strdup((const char *)sqlite3_column_text(stmt, 2));
        if (out->figures_json == NULL)
            rc = cdnopt_fail(err, CDNOPT_ENOMEM, "store: out of memory reading a schedule");
    } else if (step == SQLITE_DONE) {
        rc = cdnopt_fail(err, CDNOPT_ENOTFOUND, "no schedule yet; POST /api/v1/replan to make one");
    } else {
        rc = db_fail(store, store->reader, err, "reading the schedule");
    }
    sqlite3_finalize(stmt);
    return rc == CDNOPT_OK ? read_schedule_items(store, out, err) : rc;
}

int cdnopt_store_schedule_latest(cdnopt_store *store, cdnopt_store_schedule *out, char *err)
{
    memset(out, 0, sizeof *out);

    /* One read transaction, so the schedule row and its items come from one snapshot. */
    pthread_mutex_lock(&store->read_lock);
    sqlite3_exec(store->reader, "BEGIN", NULL, NULL, NULL);
    int rc = read_latest_schedule(store, out, err);
    sqlite3_exec(store->reader, "COMMIT", NULL, NULL, NULL);
    pthread_mutex_unlock(&store->read_lock);

    if (rc != CDNOPT_OK)
        cdnopt_store_schedule_fini(out);
    return rc;
}

void cdnopt_store_schedule_fini(cdnopt_store_schedule *schedule)
{
    if (schedule == NULL)
        return;
    cdnopt_free(schedule->figures_json);
    cdnopt_free(schedule->items);
    schedule->figures_json = NULL;
    schedule->items = NULL;
    schedule->n_items = 0;
}
