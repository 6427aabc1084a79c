/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Store tests: migrations from an empty file and from version 1, rejection of a
 * newer schema, release insert/get/list/cancel with savepoints inside one group
 * commit, samples and schedules round trips.
 */
#include "cdnopt/core.h"
#include "cdnopt/store.h"
#include "testutil.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

static cdnopt_store *open_fresh(char *path, size_t path_size, const char *tag)
{
    char dir[512];
    cdnopt_test_scratch_dir(dir, sizeof dir, tag);
    snprintf(path, path_size, "%s/test.db", dir);

    cdnopt_store_params params = cdnopt_store_params_default();
    params.path = path;
    cdnopt_store *store = NULL;
    char err[CDNOPT_ERRMSG_MAX] = "";
    int rc = cdnopt_store_open(&params, &store, err);
    if (rc != CDNOPT_OK)
        fail_msg("open %s: %s", path, err);
    return store;
}

static cdnopt_store_release make_release(const char *id, int64_t planned_at)
{
    cdnopt_store_release r = {0};
    snprintf(r.id, sizeof r.id, "%s", id);
    r.size_mb = 100.0;
    r.users = 1000.0;
    r.planned_at = planned_at;
    r.latest_start_at = planned_at + 23 * 3600;
    r.created_at = 7;
    r.status = CDNOPT_RELEASE_PENDING;
    return r;
}

static void insert_committed(cdnopt_store *store, const cdnopt_store_release *r, size_t n)
{
    char err[CDNOPT_ERRMSG_MAX] = "";
    size_t bad = 0;
    assert_int_equal(cdnopt_store_begin(store, err), CDNOPT_OK);
    assert_int_equal(cdnopt_store_release_insert(store, r, n, &bad, err), CDNOPT_OK);
    assert_int_equal(bad, n);
    assert_int_equal(cdnopt_store_commit(store, err), CDNOPT_OK);
}

static void open_migrates_empty_file(void **state)
{
    (void)state;
    char path[600];
    cdnopt_store *store = open_fresh(path, sizeof path, "store-migrate");
    assert_int_equal(cdnopt_store_schema_version(store), CDNOPT_STORE_SCHEMA_VERSION);
    cdnopt_store_close(store);

    /* Reopening applies nothing and keeps the version. */
    cdnopt_store_params params = cdnopt_store_params_default();
    params.path = path;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_store_open(&params, &store, err), CDNOPT_OK);
    assert_int_equal(cdnopt_store_schema_version(store), CDNOPT_STORE_SCHEMA_VERSION);
    cdnopt_store_close(store);
    assert_int_equal(cdnopt_alloc_live_blocks(), 0);
}

/* A database left at version 1 by an older build gains the schedule tables
 * and keeps its releases through the rebuild of version 3. */
static void open_migrates_from_version_one(void **state)
{
    (void)state;
    char dir[512];
    char path[600];
    cdnopt_test_scratch_dir(dir, sizeof dir, "store-v1");
    snprintf(path, sizeof path, "%s/old.db", dir);

    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "CREATE TABLE schema_version (version INTEGER PRIMARY KEY);"
                                  "INSERT INTO schema_version VALUES (1);"
                                  "CREATE TABLE releases (id TEXT PRIMARY KEY, size_mb REAL NOT "
                                  "NULL, users REAL NOT NULL, planned_at INTEGER NOT NULL,"
                                  " latest_start_at INTEGER NOT NULL, created_at INTEGER NOT NULL,"
                                  " status INTEGER NOT NULL DEFAULT 0);"
                                  "CREATE TABLE samples (t INTEGER PRIMARY KEY, gbps REAL NOT "
                                  "NULL);"
                                  "INSERT INTO releases VALUES ('old', 5, 6, 3600, 7200, 1, 0);",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);

    cdnopt_store_params params = cdnopt_store_params_default();
    params.path = path;
    cdnopt_store *store = NULL;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_store_open(&params, &store, err), CDNOPT_OK);
    assert_int_equal(cdnopt_store_schema_version(store), CDNOPT_STORE_SCHEMA_VERSION);

    cdnopt_store_release got;
    assert_int_equal(cdnopt_store_release_get(store, "old", &got, err), CDNOPT_OK);
    assert_int_equal(got.latest_start_at, 7200);

    cdnopt_store_schedule schedule;
    assert_int_equal(cdnopt_store_schedule_latest(store, &schedule, err), CDNOPT_ENOTFOUND);
    cdnopt_store_close(store);
}

static void open_rejects_newer_schema(void **state)
{
    (void)state;
    char path[600];
    cdnopt_store *store = open_fresh(path, sizeof path, "store-newer");
    cdnopt_store_close(store);

    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "INSERT INTO schema_version VALUES (99)", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);

    cdnopt_store_params params = cdnopt_store_params_default();
    params.path = path;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_store_open(&params, &store, err), CDNOPT_EDB);
    assert_null(store);
    cdnopt_assert_contains(err, "schema version 99 is newer");
    assert_int_equal(cdnopt_alloc_live_blocks(), 0);
}

static void open_rejects_missing_path(void **state)
{
    (void)state;
    cdnopt_store_params params = cdnopt_store_params_default();
    cdnopt_store *store = NULL;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_store_open(&params, &store, err), CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "--db FILE");

    params.path = "/nonexistent-dir/x/y.db";
    assert_int_equal(cdnopt_store_open(&params, &store, err), CDNOPT_EDB);
    cdnopt_assert_contains(err, "/nonexistent-dir/x/y.db");
    assert_null(store);
}

static void release_insert_get_list(void **state)
{
    (void)state;
    char path[600];
    cdnopt_store *store = open_fresh(path, sizeof path, "store-crud");
    cdnopt_store_release r[3] = {make_release("b", 7200), make_release("a", 3600),
                                 make_release("c", 10800)};
    r[2].size_mb = 650.5;
    insert_committed(store, r, 3);

    char err[CDNOPT_ERRMSG_MAX] = "";
    cdnopt_store_release got;
    assert_int_equal(cdnopt_store_release_get(store, "c", &got, err), CDNOPT_OK);
    assert_float_equal(got.size_mb, 650.5, 0.0);
    assert_int_equal(got.planned_at, 10800);
    assert_int_equal(got.latest_start_at, 10800 + 23 * 3600);
    assert_int_equal(got.created_at, 7);
    assert_int_equal(cdnopt_store_release_get(store, "zz", &got, err), CDNOPT_ENOTFOUND);
    cdnopt_assert_contains(err, "'zz' not found");

    /* Keyset paging: two, then the rest after the last id. */
    cdnopt_store_release rows[4];
    size_t n = 0;
    cdnopt_store_release_query query = {-1, INT64_MIN, INT64_MAX, NULL, 2};
    assert_int_equal(cdnopt_store_release_list(store, &query, rows, &n, err), CDNOPT_OK);
    assert_int_equal(n, 2);
    assert_string_equal(rows[0].id, "a");
    assert_string_equal(rows[1].id, "b");
    query.after_id = "b";
    assert_int_equal(cdnopt_store_release_list(store, &query, rows, &n, err), CDNOPT_OK);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].id, "c");

    /* Planned-time window [3600, 10800) contains a and b. */
    cdnopt_store_release_query window = {-1, 3600, 10800, NULL, 4};
    assert_int_equal(cdnopt_store_release_list(store, &window, rows, &n, err), CDNOPT_OK);
    assert_int_equal(n, 2);
    cdnopt_store_close(store);
    assert_int_equal(cdnopt_alloc_live_blocks(), 0);
}

/* Two requests in one group commit: the second has a duplicate and is undone
 * alone, while the first stays and is committed. */
static void release_insert_savepoint(void **state)
{
    (void)state;
    char path[600];
    cdnopt_store *store = open_fresh(path, sizeof path, "store-savepoint");
    char err[CDNOPT_ERRMSG_MAX] = "";
    cdnopt_store_release first[2] = {make_release("x1", 0), make_release("x2", 0)};
    cdnopt_store_release second[3] = {make_release("y1", 0), make_release("y2", 0),
                                      make_release("x1", 0)};

    size_t bad = 99;
    assert_int_equal(cdnopt_store_begin(store, err), CDNOPT_OK);
    assert_int_equal(cdnopt_store_release_insert(store, first, 2, &bad, err), CDNOPT_OK);
    assert_int_equal(bad, 2);
    assert_int_equal(cdnopt_store_release_insert(store, second, 3, &bad, err), CDNOPT_EBUSY);
    assert_int_equal(bad, 2);
    cdnopt_assert_contains(err, "'x1' already exists");
    assert_int_equal(cdnopt_store_commit(store, err), CDNOPT_OK);

    cdnopt_store_release got;
    assert_int_equal(cdnopt_store_release_get(store, "x2", &got, err), CDNOPT_OK);
    assert_int_equal(cdnopt_store_release_get(store, "y1", &got, err), CDNOPT_ENOTFOUND);

    cdnopt_store_release *pending = NULL;
    size_t n = 0;
    assert_int_equal(cdnopt_store_release_pending(store, &pending, &n, err), CDNOPT_OK);
    assert_int_equal(n, 2);
    cdnopt_free(pending);
    cdnopt_store_close(store);
}

static void release_cancel_states(void **state)
{
    (void)state;
    char path[600];
    cdnopt_store *store = open_fresh(path, sizeof path, "store-cancel");
    cdnopt_store_release r[2] = {make_release("k1", 0), make_release("k2", 0)};
    insert_committed(store, r, 2);

    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_store_release_cancel(store, "k1", err), CDNOPT_OK);
    assert_int_equal(cdnopt_store_release_cancel(store, "k1", err), CDNOPT_EBUSY);
    cdnopt_assert_contains(err, "already cancelled");
    assert_int_equal(cdnopt_store_release_cancel(store, "nope", err), CDNOPT_ENOTFOUND);

    /* A cancelled release keeps its id, so the error must not offer a cancel as the fix. */
    size_t bad = 99;
    assert_int_equal(cdnopt_store_begin(store, err), CDNOPT_OK);
    assert_int_equal(cdnopt_store_release_insert(store, r, 1, &bad, err), CDNOPT_EBUSY);
    assert_int_equal(bad, 0);
    cdnopt_store_rollback(store);
    cdnopt_assert_contains(err, "release id 'k1' already exists");
    cdnopt_assert_contains(err, "stays taken after its release is cancelled; choose a new id");

    cdnopt_store_release rows[2];
    size_t n = 0;
    cdnopt_store_release_query query = {CDNOPT_RELEASE_CANCELLED, INT64_MIN, INT64_MAX, NULL, 2};
    assert_int_equal(cdnopt_store_release_list(store, &query, rows, &n, err), CDNOPT_OK);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].id, "k1");
    assert_int_equal(rows[0].status, CDNOPT_RELEASE_CANCELLED);

    cdnopt_store_release *pending = NULL;
    assert_int_equal(cdnopt_store_release_pending(store, &pending, &n, err), CDNOPT_OK);
    assert_int_equal(n, 1);
    assert_string_equal(pending[0].id, "k2");
    cdnopt_free(pending);
    cdnopt_store_close(store);
}

/* More pending releases than one page of the keyset listing (4096): every one comes
 * back once, in id order, across the page boundaries. */
static void release_pending_spans_pages(void **state)
{
    (void)state;
    char path[600];
    cdnopt_store *store = open_fresh(path, sizeof path, "store-pages");
    enum { N_RELEASES = 9000 };
    cdnopt_store_release *rows = cdnopt_malloc(N_RELEASES * sizeof *rows);
    assert_non_null(rows);
    char id[32];
    for (size_t i = 0; i < N_RELEASES; i++) {
        snprintf(id, sizeof id, "r%05zu", i);
        rows[i] = make_release(id, 0);
    }
    insert_committed(store, rows, N_RELEASES);

    cdnopt_store_release *pending = NULL;
    size_t n = 0;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_store_release_pending(store, &pending, &n, err), CDNOPT_OK);
    assert_int_equal(n, N_RELEASES);
    for (size_t i = 0; i < N_RELEASES; i++) {
        snprintf(id, sizeof id, "r%05zu", i);
        assert_string_equal(pending[i].id, id);
    }
    cdnopt_free(pending);
    cdnopt_free(rows);
    cdnopt_store_close(store);
}

static void samples_round_trip(void **state)
{
    (void)state;
    char path[600];
    cdnopt_store *store = open_fresh(path, sizeof path, "store-samples");
    char err[CDNOPT_ERRMSG_MAX] = "";
    int64_t t[4] = {300, 0, 600, 900};
    double v[4] = {2.5, 1.0, 3.25, 4.0};
    assert_int_equal(cdnopt_store_samples_put(store, t, v, 4, err), CDNOPT_OK);

    /* A second put replaces the value at t = 600. */
    int64_t t2[1] = {600};
    double v2[1] = {9.0};
    assert_int_equal(cdnopt_store_samples_put(store, t2, v2, 1, err), CDNOPT_OK);

    int64_t *got_t = NULL;
    double *got_v = NULL;
    size_t n = 0;
    assert_int_equal(cdnopt_store_samples_get(store, 0, 900, &got_t, &got_v, &n, err), CDNOPT_OK);
    assert_int_equal(n, 3);
    assert_int_equal(got_t[0], 0);
    assert_int_equal(got_t[2], 600);
    assert_float_equal(got_v[1], 2.5, 0.0);
    assert_float_equal(got_v[2], 9.0, 0.0);
    cdnopt_free(got_t);
    cdnopt_free(got_v);

    assert_int_equal(cdnopt_store_samples_get(store, 5000, 6000, &got_t, &got_v, &n, err),
                     CDNOPT_OK);
    assert_int_equal(n, 0);
    assert_null(got_t);

    /* Deleting [300, 900) removes 300 and 600 and keeps 0 and 900. */
    size_t deleted = 0;
    assert_int_equal(cdnopt_store_samples_delete(store, 300, 900, &deleted, err), CDNOPT_OK);
    assert_int_equal(deleted, 2);
    assert_int_equal(cdnopt_store_samples_get(store, 0, 1000, &got_t, &got_v, &n, err), CDNOPT_OK);
    assert_int_equal(n, 2);
    assert_int_equal(got_t[0], 0);
    assert_int_equal(got_t[1], 900);
    cdnopt_free(got_t);
    cdnopt_free(got_v);
    cdnopt_store_close(store);
    assert_int_equal(cdnopt_alloc_live_blocks(), 0);
}

static void schedule_round_trip(void **state)
{
    (void)state;
    char path[600];
    cdnopt_store *store = open_fresh(path, sizeof path, "store-schedule");
    char err[CDNOPT_ERRMSG_MAX] = "";
    cdnopt_store_schedule_item items[2] = {{"r2", 7200, 0.5}, {"r1", 3600, 1.0}};
    cdnopt_store_schedule schedule = {0, 42, "{\"peak_gbps\":1.5}", 2, items};
    int64_t first = 0;
    int64_t second = 0;
    assert_int_equal(cdnopt_store_schedule_save(store, &schedule, &first, err), CDNOPT_OK);
    items[0].batch_ratio = 0.3;
    assert_int_equal(cdnopt_store_schedule_save(store, &schedule, &second, err), CDNOPT_OK);
    assert_true(second > first);

    cdnopt_store_schedule got;
    assert_int_equal(cdnopt_store_schedule_latest(store, &got, err), CDNOPT_OK);
    assert_int_equal(got.id, second);
    assert_int_equal(got.created_at, 42);
    assert_string_equal(got.figures_json, "{\"peak_gbps\":1.5}");
    assert_int_equal(got.n_items, 2);
    assert_string_equal(got.items[0].id, "r1"); // ordered by start time
    assert_float_equal(got.items[1].batch_ratio, 0.3, 0.0);
    cdnopt_store_schedule_fini(&got);
    cdnopt_store_close(store);
    assert_int_equal(cdnopt_alloc_live_blocks(), 0);
}

/* Overwrite page `page` (1-based) of the SQLite file at path with 0x55 bytes. */
static void damage_page(const char *path, long page)
{
    FILE *file = fopen(path, "r+b");
    assert_non_null(file);
    unsigned char header[100];
    assert_int_equal(fread(header, 1, sizeof header, file), sizeof header);
    long page_size = header[16] << 8 | header[17]; // big-endian at offset 16
    assert_int_equal(fseek(file, (page - 1) * page_size, SEEK_SET), 0);
    for (long i = 0; i < page_size; i++)
        fputc(0x55, file);
    assert_int_equal(fclose(file), 0);
}

/* Damage to the root page of any one table or index fails the health check. Before the
 * probe selected uncovered columns, SQLite read releases and schedule_items through
 * their indexes, so damage to those tables passed. */
static void check_reads_every_btree(void **state)
{
    (void)state;
    static const char *const names[] = {"releases",  "releases_status_planned",
                                        "samples",   "schedules",
                                        "schedule_items", "sqlite_autoindex_schedule_items_1"};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        char path[600];
        cdnopt_store *store = open_fresh(path, sizeof path, "store-check");
        cdnopt_store_release r = make_release("r1", 3600);
        insert_committed(store, &r, 1);
        char err[CDNOPT_ERRMSG_MAX] = "";
        int64_t t[1] = {0};
        double v[1] = {1.0};
        assert_int_equal(cdnopt_store_samples_put(store, t, v, 1, err), CDNOPT_OK);
        cdnopt_store_schedule_item items[1] = {{"r1", 3600, 1.0}};
        cdnopt_store_schedule schedule = {0, 42, "{}", 1, items};
        int64_t id = 0;
        assert_int_equal(cdnopt_store_schedule_save(store, &schedule, &id, err), CDNOPT_OK);
        int version = 0;
        assert_int_equal(cdnopt_store_check(store, &version, err), CDNOPT_OK);
        assert_int_equal(version, CDNOPT_STORE_SCHEMA_VERSION);
        cdnopt_store_close(store);

        /* Closing the last connection folds the WAL into the file, so the page read
         * here is the one the next open reads. */
        sqlite3 *db = NULL;
        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        sqlite3_stmt *stmt = NULL;
        assert_int_equal(sqlite3_prepare_v2(db, "SELECT rootpage FROM sqlite_schema WHERE name = ?",
                                            -1, &stmt, NULL),
                         SQLITE_OK);
        sqlite3_bind_text(stmt, 1, names[k], -1, SQLITE_STATIC);
        assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
        long root = (long)sqlite3_column_int64(stmt, 0);
        sqlite3_finalize(stmt);
        sqlite3_close(db);
        damage_page(path, root);

        cdnopt_store_params params = cdnopt_store_params_default();
        params.path = path;
        assert_int_equal(cdnopt_store_open(&params, &store, err), CDNOPT_OK);
        err[0] = '\0';
        if (cdnopt_store_check(store, &version, err) != CDNOPT_EDB)
            fail_msg("damage to %s (page %ld) passed the check", names[k], root);
        cdnopt_assert_contains(err, "malformed");
        cdnopt_store_close(store);
    }
    assert_int_equal(cdnopt_alloc_live_blocks(), 0);
}

/* A database file deleted or renamed under an open store fails the health check and every
 * write, which SQLite would otherwise make to the unlinked file and lose. Putting the file
 * back at its path clears both. */
static void check_and_write_fail_when_moved(void **state)
{
    (void)state;
    char path[600], moved[700];
    cdnopt_store *store = open_fresh(path, sizeof path, "store-moved");
    snprintf(moved, sizeof moved, "%s.moved", path);
    char err[CDNOPT_ERRMSG_MAX] = "";
    int version = 0;
    assert_int_equal(cdnopt_store_check(store, &version, err), CDNOPT_OK);

    assert_int_equal(rename(path, moved), 0);
    assert_int_equal(cdnopt_store_check(store, &version, err), CDNOPT_EDB);
    cdnopt_assert_contains(err, "the database file was deleted or renamed");
    cdnopt_assert_contains(err, path);
    cdnopt_store_release r = make_release("r1", 3600);
    size_t stored = 0;
    err[0] = '\0';
    assert_int_equal(cdnopt_store_begin(store, err), CDNOPT_EDB);
    cdnopt_assert_contains(err, "so a write would be lost");
    int64_t t[1] = {0};
    double v[1] = {1.0};
    assert_int_equal(cdnopt_store_samples_put(store, t, v, 1, err), CDNOPT_EDB);

    assert_int_equal(rename(moved, path), 0);
    assert_int_equal(cdnopt_store_check(store, &version, err), CDNOPT_OK);
    assert_int_equal(cdnopt_store_begin(store, err), CDNOPT_OK);
    assert_int_equal(cdnopt_store_release_insert(store, &r, 1, &stored, err), CDNOPT_OK);
    assert_int_equal(stored, 1);
    assert_int_equal(cdnopt_store_commit(store, err), CDNOPT_OK);
    cdnopt_store_close(store);
    assert_int_equal(cdnopt_alloc_live_blocks(), 0);
}

/* Failing each allocation of open in turn must fail cleanly and leak nothing. */
static void open_survives_allocation_failures(void **state)
{
    (void)state;
    char dir[512];
    char path[600];
    cdnopt_test_scratch_dir(dir, sizeof dir, "store-fault");
    snprintf(path, sizeof path, "%s/fault.db", dir);
    cdnopt_store_params params = cdnopt_store_params_default();
    params.path = path;

    cdnopt_store *store = NULL;
    char err[CDNOPT_ERRMSG_MAX] = "";
    cdnopt_alloc_fail_after(1, false);
    assert_int_equal(cdnopt_store_open(&params, &store, err), CDNOPT_ENOMEM);
    assert_null(store);
    cdnopt_alloc_fail_after(0, false);
    assert_int_equal(cdnopt_alloc_live_blocks(), 0);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(open_migrates_empty_file),
    cmocka_unit_test(open_migrates_from_version_one),
    cmocka_unit_test(open_rejects_newer_schema),
    cmocka_unit_test(open_rejects_missing_path),
    cmocka_unit_test(release_insert_get_list),
    cmocka_unit_test(release_insert_savepoint),
    cmocka_unit_test(release_cancel_states),
    cmocka_unit_test(release_pending_spans_pages),
    cmocka_unit_test(samples_round_trip),
    cmocka_unit_test(schedule_round_trip),
    cmocka_unit_test(check_reads_every_btree),
    cmocka_unit_test(check_and_write_fail_when_moved),
    cmocka_unit_test(open_survives_allocation_failures),
};

CDNOPT_TEST_MAIN("store", tests)
