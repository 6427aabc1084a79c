/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests of the MPI module, run by CTest through mpiexec with 2 and 4 ranks. Every rank
 * runs the same case; a failed assert on any rank makes mpiexec exit non-zero.
 */
#include "cdnopt/core.h"
#include "cdnopt/dist.h"
#include "cdnopt/model.h"
#include "cdnopt/series.h"
#include "model-impl.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define STEP_S 3600
#define DAY 24

static cdnopt_dist *g_dist; /* started in main, before the cases */

/* ---- collectives ---- */

static void sum_floats_adds_ranks(void **state)
{
    (void)state;
    int rank = cdnopt_dist_rank(g_dist), size = cdnopt_dist_size(g_dist);
    float v[3] = {(float)(rank + 1), 0.5f, (float)(rank * rank)};
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_dist_sum_floats(g_dist, v, 3, err), CDNOPT_OK);

    /* 1 + 2 + ... + size, size halves, 0 + 1 + 4 + ... + (size - 1)^2 */
    double squares = (double)(size - 1) * size * (2 * size - 1) / 6.0;
    assert_float_equal(v[0], size * (size + 1) / 2.0, 1e-6);
    assert_float_equal(v[1], 0.5 * size, 1e-6);
    assert_float_equal(v[2], squares, 1e-6);
}

static void agree_takes_lowest_code(void **state)
{
    (void)state;
    int rank = cdnopt_dist_rank(g_dist);
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_dist_agree(g_dist, CDNOPT_OK, err), CDNOPT_OK);
    int mine = rank == 1 ? CDNOPT_EIO : CDNOPT_OK;
    assert_int_equal(cdnopt_dist_agree(g_dist, mine, err), CDNOPT_EIO);
}

static void gather_text_in_rank_order(void **state)
{
    (void)state;
    int rank = cdnopt_dist_rank(g_dist), size = cdnopt_dist_size(g_dist);

    /* Rank 2 sends nothing, to cover an empty share. */
    char mine[32] = "";
    if (rank != 2)
        snprintf(mine, sizeof mine, "rank %d\n", rank);
    char *all = NULL;
    size_t all_len = 0;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_dist_gather_text(g_dist, mine, strlen(mine), &all, &all_len, err),
                     CDNOPT_OK);
    if (rank != 0) {
        assert_null(all);
        return;
    }

    char expected[256] = "";
    for (int r = 0; r < size; r++) {
        if (r != 2)
            snprintf(expected + strlen(expected), sizeof expected - strlen(expected),
                     "rank %d\n", r);
    }
    assert_string_equal(all, expected);
    assert_int_equal(all_len, strlen(expected));
    cdnopt_free(all);
}

static void send_recv_round_trip(void **state)
{
    (void)state;
    int rank = cdnopt_dist_rank(g_dist), size = cdnopt_dist_size(g_dist);
    char err[CDNOPT_ERRMSG_MAX] = "";
    if (rank != 0) {
        char text[32];
        int n = snprintf(text, sizeof text, "from %d", rank);
        assert_int_equal(cdnopt_dist_send(g_dist, 0, 7, text, (size_t)n + 1, err), CDNOPT_OK);
        return;
    }

    int seen = 0;
    for (int i = 1; i < size; i++) {
        void *buf = NULL;
        size_t n = 0;
        int from = -1;
        assert_int_equal(cdnopt_dist_recv(g_dist, -1, 7, &buf, &n, &from, err), CDNOPT_OK);
        char expected[32];
        snprintf(expected, sizeof expected, "from %d", from);
        assert_string_equal(buf, expected);
        assert_int_equal(n, strlen(expected) + 1);
        seen |= 1 << from;
        cdnopt_free(buf);
    }
    assert_int_equal(seen, ((1 << size) - 1) & ~1);
}

static void bad_rank_maps_to_edist(void **state)
{
    (void)state;
    int size = cdnopt_dist_size(g_dist);
    char err[CDNOPT_ERRMSG_MAX] = "";
    int rc = cdnopt_dist_send(g_dist, size + 5, 1, "x", 1, err);
    assert_int_equal(rc, CDNOPT_EDIST);

    char prefix[64];
    snprintf(prefix, sizeof prefix, "rank %d of %d: MPI_Send failed: ", cdnopt_dist_rank(g_dist),
             size);
    cdnopt_assert_contains(err, prefix);
    assert_string_equal(cdnopt_dist_last_error(g_dist), err);
    /* MPI's own text follows the prefix. */
    assert_true(strlen(err) > strlen(prefix));
}

static void share_covers_items(void **state)
{
    (void)state;
    /* 10 items over 4 ranks: runs of 3, 3, 2, 2. */
    size_t expect_first[] = {0, 3, 6, 8}, expect_count[] = {3, 3, 2, 2};
    for (int r = 0; r < 4; r++) {
        size_t first = 99, count = 99;
        cdnopt_dist_share(10, r, 4, &first, &count);
        assert_int_equal(first, expect_first[r]);
        assert_int_equal(count, expect_count[r]);
    }
    /* Fewer items than ranks leaves the last ranks empty. */
    size_t first = 99, count = 99;
    cdnopt_dist_share(2, 3, 4, &first, &count);
    assert_int_equal(count, 0);
    assert_int_equal(first, 2);
}

/* ---- data-parallel training ---- */

/* A noisy daily sine of n hourly steps; the same on every rank. */
static cdnopt_series *sine_series(size_t n)
{
    cdnopt_series *s = NULL;
    assert_int_equal(cdnopt_series_new(n, 1704067200, STEP_S, &s), CDNOPT_OK);
    cdnopt_rng rng;
    cdnopt_rng_seed(&rng, 5);
    for (size_t i = 0; i < n; i++)
        s->v[i] = 10.0 + 4.0 * sin(2.0 * M_PI * (double)i / DAY) + 0.2 * cdnopt_rng_normal(&rng);
    return s;
}

typedef struct epoch_log {
    double loss[8];
    double val_loss[8];
    int n;
} epoch_log;

static void record_epoch(const cdnopt_epoch_report *r, void *user)
{
    epoch_log *log = user;
    if (log->n < 8) {
        log->loss[log->n] = r->train_loss;
        log->val_loss[log->n] = r->val_loss;
        log->n++;
    }
}

static cdnopt_model *fit_model(const cdnopt_series *s, const cdnopt_fit_hooks *hooks,
                               epoch_log *log)
{
    cdnopt_model_params p = cdnopt_model_params_default();
    p.units = 8;
    p.batch = 16;
    p.epochs = 2;
    p.patience = 5;
    p.seed = 42;
    /* 162 windows: ten full batches and one of 2, which leaves some ranks without rows. */
    p.max_windows = 162;

    cdnopt_model *m = NULL;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_model_new(&p, STEP_S, &m, err), CDNOPT_OK);
    cdnopt_model_set_fit_hooks(m, hooks);
    int rc = cdnopt_model_fit(m, s, record_epoch, log, err);
    if (rc != CDNOPT_OK)
        fail_msg("fit failed: %s", err);
    return m;
}

static void fit_matches_single_process(void **state)
{
    (void)state;
    cdnopt_series *s = sine_series(10 * DAY);

    /* Every rank also trains alone, so each compares against its own reference. */
    epoch_log alone = {0}, shared = {0};
    cdnopt_model *ref = fit_model(s, NULL, &alone);
    cdnopt_fit_hooks hooks = cdnopt_dist_fit_hooks(g_dist);
    cdnopt_model *dist = fit_model(s, &hooks, &shared);

    assert_int_equal(shared.n, alone.n);
    for (int e = 0; e < alone.n; e++) {
        assert_float_equal(shared.loss[e], alone.loss[e], 1e-5 * alone.loss[e]);
        assert_float_equal(shared.val_loss[e], alone.val_loss[e], 1e-5 * alone.val_loss[e]);
    }

    const float *a = cdnopt_params_values(ref->ps);
    const float *b = cdnopt_params_values(dist->ps);
    size_t n = cdnopt_params_count(ref->ps);
    double max_diff = 0.0, max_abs = 0.0;
    for (size_t i = 0; i < n; i++) {
        max_diff = fmax(max_diff, fabs((double)a[i] - (double)b[i]));
        max_abs = fmax(max_abs, fabs((double)a[i]));
    }
    if (max_diff > 1e-5 * max_abs)
        fail_msg("weights differ by %g (largest weight %g) after two epochs on %d ranks",
                 max_diff, max_abs, cdnopt_dist_size(g_dist));

    /* The weights are the same on every rank: their sum is size times rank 0's. */
    double checksum = 0.0;
    for (size_t i = 0; i < n; i++)
        checksum += (double)b[i];
    double total = checksum;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_dist_sum_doubles(g_dist, &total, 1, err), CDNOPT_OK);
    assert_float_equal(total, checksum * cdnopt_dist_size(g_dist), 1e-9 * fabs(total) + 1e-12);

    cdnopt_model_free(ref);
    cdnopt_model_free(dist);
    cdnopt_series_free(s);
}

static void bad_hooks_rejected(void **state)
{
    (void)state;
    cdnopt_series *s = sine_series(10 * DAY);
    cdnopt_model_params p = cdnopt_model_params_default();
    p.units = 4;
    cdnopt_model *m = NULL;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_model_new(&p, STEP_S, &m, err), CDNOPT_OK);
    cdnopt_fit_hooks hooks = cdnopt_dist_fit_hooks(g_dist);
    hooks.n_parts = 2;
    hooks.part = 2;
    cdnopt_model_set_fit_hooks(m, &hooks);
    assert_int_equal(cdnopt_model_fit(m, s, NULL, NULL, err), CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "part 2 of 2 parts");
    cdnopt_model_free(m);
    cdnopt_series_free(s);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sum_floats_adds_ranks),
        cmocka_unit_test(agree_takes_lowest_code),
        cmocka_unit_test(gather_text_in_rank_order),
        cmocka_unit_test(send_recv_round_trip),
        cmocka_unit_test(bad_rank_maps_to_edist),
        cmocka_unit_test(share_covers_items),
        cmocka_unit_test(fit_matches_single_process),
        cmocka_unit_test(bad_hooks_rejected),
    };
    char err[CDNOPT_ERRMSG_MAX] = "";
    if (cdnopt_dist_init(&argc, &argv, CDNOPT_DIST_INIT_ALWAYS, &g_dist, err) != CDNOPT_OK) {
        fprintf(stderr, "test_dist: %s\n", err);
        return 1;
    }
    int rc = cdnopt_test_main(argc, argv, "dist", tests, sizeof tests / sizeof tests[0]);
    cdnopt_dist_finalize(g_dist);
    return rc;
}
