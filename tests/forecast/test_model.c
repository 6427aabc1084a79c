/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests of the residual LSTM model: input features, learning a noiseless sine,
 * Monte-Carlo roll-out properties, and HDF5 model files (round trip and every
 * rejection path). Models are tiny (hourly steps, one-day window of 24, 8 units)
 * so that each case runs in well under a second.
 */
#include "cdnopt/core.h"
#include "cdnopt/model.h"
#include "cdnopt/series.h"
#include "model-impl.h"
#include "testutil.h"

#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define STEP_S 3600
#define DAY 24
#define SINE_PERIOD 24.0

/* ---- helpers ---- */

/* A series of n hourly steps starting on Monday 2024-01-01 00:00 (civil seconds). */
static cdnopt_series *sine_series(size_t n, double noise_sd, uint64_t seed)
{
    cdnopt_series *s = NULL;
    assert_int_equal(cdnopt_series_new(n, 1704067200, STEP_S, &s), CDNOPT_OK);
    cdnopt_rng rng;
    cdnopt_rng_seed(&rng, seed);
    for (size_t i = 0; i < n; i++)
        s->v[i] = 10.0 + 4.0 * sin(2.0 * M_PI * (double)i / SINE_PERIOD) +
                  noise_sd * cdnopt_rng_normal(&rng);
    return s;
}

static cdnopt_model_params tiny_params(void)
{
    cdnopt_model_params p = cdnopt_model_params_default();
    p.units = 8;
    p.batch = 16;
    p.epochs = 2;
    p.calendar = true;
    p.seed = 42;
    return p;
}

/* A tiny model fitted for a couple of epochs on a noisy sine. */
static cdnopt_model *tiny_fitted_model(const cdnopt_model_params *p, cdnopt_series **train)
{
    *train = sine_series(10 * DAY, 0.2, 5);
    cdnopt_model *m = NULL;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_model_new(p, STEP_S, &m, err), CDNOPT_OK);
    int rc = cdnopt_model_fit(m, *train, NULL, NULL, err);
    if (rc != CDNOPT_OK)
        fail_msg("fit failed: %s", err);
    return m;
}

static void model_path(char *buf, size_t n, const char *tag)
{
    char dir[512];
    cdnopt_test_scratch_dir(dir, sizeof dir, tag);
    snprintf(buf, n, "%s/model.h5", dir);
}

static void save_tiny_model(const char *path)
{
    cdnopt_model_params p = tiny_params();
    p.epochs = 1;
    cdnopt_series *train = NULL;
    cdnopt_model *m = tiny_fitted_model(&p, &train);
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_model_save(m, path, err), CDNOPT_OK);
    cdnopt_model_free(m);
    cdnopt_series_free(train);
}

/* Load path, expect code, and check that the message contains each needle. */
static void expect_load_error(const char *path, int code, const char *needle1, const char *needle2)
{
    cdnopt_model *m = NULL;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_model_load(path, &m, err), code);
    assert_null(m);
    cdnopt_assert_contains(err, path);
    cdnopt_assert_contains(err, needle1);
    if (needle2 != NULL)
        cdnopt_assert_contains(err, needle2);
}

/* Replace a scalar root attribute of an existing model file. */
static void rewrite_root_attr(const char *path, const char *name, hid_t type, const void *value)
{
    hid_t file = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(file >= 0);
    assert_true(H5Adelete(file, name) >= 0);
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t attr = H5Acreate2(file, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(attr >= 0);
    assert_true(H5Awrite(attr, type, value) >= 0);
    H5Aclose(attr);
    H5Sclose(space);
    H5Fclose(file);
}

/* Overwrite an existing attribute of group /group in a model file. */
static void rewrite_group_attr(const char *path, const char *group, const char *name,
                               hid_t type, const void *value)
{
    hid_t file = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(file >= 0);
    hid_t opened = H5Gopen2(file, group, H5P_DEFAULT);
    assert_true(opened >= 0);
    hid_t attr = H5Aopen(opened, name, H5P_DEFAULT);
    assert_true(attr >= 0);
    assert_true(H5Awrite(attr, type, value) >= 0);
    H5Aclose(attr);
    H5Gclose(opened);
    H5Fclose(file);
}

/* ---- parameters and features ---- */

static void params_default_values(void **state)
{
    (void)state;
    cdnopt_model_params p = cdnopt_model_params_default();
    assert_int_equal(p.arch, CDNOPT_ARCH_RESIDUAL_LSTM);
    assert_int_equal(p.window, 0);
    assert_int_equal(p.units, 64);
    assert_float_equal(p.dropout, 0.3, 1e-7);
    assert_int_equal(p.batch, 64);
    assert_float_equal(p.learning_rate, 1e-3, 1e-9);
    assert_float_equal(p.val_fraction, 0.1, 1e-7);
    assert_int_equal(p.d_model, 128);
    assert_int_equal(p.n_head, 4);

    /* window 0 resolves to one day of steps. */
    cdnopt_model *m = NULL;
    assert_int_equal(cdnopt_model_new(&p, 300, &m, NULL), CDNOPT_OK);
    assert_int_equal(cdnopt_model_get_params(m)->window, 288);
    assert_int_equal(cdnopt_model_step_s(m), 300);
    cdnopt_model_free(m);
    cdnopt_model_free(NULL);
}

static void new_rejects_bad_params(void **state)
{
    (void)state;
    char err[CDNOPT_ERRMSG_MAX] = "";
    cdnopt_model *m = NULL;
    cdnopt_model_params p = cdnopt_model_params_default();

    p.dropout = 1.0f;
    assert_int_equal(cdnopt_model_new(&p, 300, &m, err), CDNOPT_EINVAL);
    assert_null(m);
    cdnopt_assert_contains(err, "invalid dropout 1");

    p = cdnopt_model_params_default();
    assert_int_equal(cdnopt_model_new(&p, 7 * 3600, &m, err), CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "invalid series step 25200 s");

    p.arch = CDNOPT_ARCH_TRANSFORMER;
    p.d_model = 30;
    assert_int_equal(cdnopt_model_new(&p, 300, &m, err), CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "invalid d_model 30 or n_head 4");
}

static void feature_row_calendar_and_lag(void **state)
{
    (void)state;
    cdnopt_model_params p = tiny_params();
    p.seasonal_lag = true;
    cdnopt_model *m = NULL;
    assert_int_equal(cdnopt_model_new(&p, STEP_S, &m, NULL), CDNOPT_OK);
    assert_int_equal(m->n_features, 6);

    /* Sunday 1970-01-04 00:00: day angle 0 and week angle 0. */
    float row[6];
    cdnopt__model_feature_row(m, 3 * 86400, 0.25f, 0.75f, row);
    float sunday[6] = {0.25f, 0.0f, 1.0f, 0.0f, 1.0f, 0.75f};
    for (int i = 0; i < 6; i++)
        assert_float_equal(row[i], sunday[i], 1e-6);

    /* Thursday 1970-01-01 06:00: a quarter day, so the day angle is pi/2; the week
     * angle is 2 pi (4 + 0.25) / 7. */
    cdnopt__model_feature_row(m, 6 * 3600, 0.5f, 0.0f, row);
    double week = 2.0 * M_PI * 4.25 / 7.0;
    assert_float_equal(row[1], 1.0, 1e-6);
    assert_float_equal(row[2], 0.0, 1e-6);
    assert_float_equal(row[3], sin(week), 1e-6);
    assert_float_equal(row[4], cos(week), 1e-6);
    cdnopt_model_free(m);
}

static void features_use_next_step_lag(void **state)
{
    (void)state;
    cdnopt_model_params p = tiny_params();
    p.seasonal_lag = true;
    p.calendar = false;
    cdnopt_model *m = NULL;
    assert_int_equal(cdnopt_model_new(&p, STEP_S, &m, NULL), CDNOPT_OK);
    cdnopt_series *s = NULL;
    assert_int_equal(cdnopt_series_new(3 * DAY, 0, STEP_S, &s), CDNOPT_OK);
    for (size_t i = 0; i < s->n; i++)
        s->v[i] = (double)i;
    cdnopt__model_fit_scaler(m, s->v, s->n);

    /* Input step 30 carries the value one day before step 31, i.e. step 7. */
    float rows[2 * 2];
    cdnopt__model_features(m, s, 30, 2, rows);
    double scale = 1.0 / (double)(s->n - 1);
    assert_float_equal(rows[0], 30.0 * scale, 1e-6);
    assert_float_equal(rows[1], 7.0 * scale, 1e-6);
    assert_float_equal(rows[3], 8.0 * scale, 1e-6);
    assert_int_equal(cdnopt__model_first_target(m), DAY + DAY - 1);

    cdnopt_series_free(s);
    cdnopt_model_free(m);
}

/* ---- training ---- */

typedef struct loss_log {
    int n;
    double first_train, last_train, last_val;
} loss_log;

static void record_epoch(const cdnopt_epoch_report *r, void *user)
{
    loss_log *log = user;
    if (log->n == 0)
        log->first_train = r->train_loss;
    log->n++;
    log->last_train = r->train_loss;
    log->last_val = r->val_loss;
    assert_int_equal(r->epoch, log->n);
    assert_true(r->seconds >= 0.0);
}

/* The persistence forecast of a sine of period 24 steps, scaled to [0, 1], has an
 * MSE of about 0.5 * (0.5 * 2 pi / 24)^2 = 0.0086. The model must beat it 80-fold.
 * Runs with this seed reach a validation MSE of about 1e-6 within 8 epochs. */
static void fit_learns_noiseless_sine(void **state)
{
    (void)state;
    cdnopt_series *train = sine_series(20 * DAY, 0.0, 1);
    cdnopt_model_params p = tiny_params();
    p.dropout = 0.0f;
    p.calendar = false;
    p.window = 12;
    p.epochs = 8;
    p.patience = 8;
    p.learning_rate = 1e-2f;
    cdnopt_model *m = NULL;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_model_new(&p, STEP_S, &m, err), CDNOPT_OK);

    loss_log log = {0};
    int rc = cdnopt_model_fit(m, train, record_epoch, &log, err);
    if (rc != CDNOPT_OK)
        fail_msg("fit failed: %s", err);
    assert_int_equal(log.n, 8);
    assert_true(log.last_train < log.first_train);
    assert_true(log.last_val < 1e-4);
    assert_true(m->info.best_val_loss <= log.last_val);

    /* The deterministic one-step forecast after the series is close to the sine. */
    double next = 0.0;
    assert_int_equal(cdnopt_model_sample(m, train, train->n, 1, 0, 0, &next, err), CDNOPT_OK);
    double truth = 10.0 + 4.0 * sin(2.0 * M_PI * (double)train->n / SINE_PERIOD);
    assert_float_equal(next, truth, 0.1);

    cdnopt_model_free(m);
    cdnopt_series_free(train);
}

static void fit_rejects_short_or_wrong_series(void **state)
{
    (void)state;
    cdnopt_model_params p = tiny_params();
    cdnopt_model *m = NULL;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_model_new(&p, STEP_S, &m, err), CDNOPT_OK);

    cdnopt_series *s = sine_series(DAY + 1, 0.0, 1);
    assert_int_equal(cdnopt_model_fit(m, s, NULL, NULL, err), CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "has 25 samples");
    cdnopt_series_free(s);

    s = sine_series(4 * DAY, 0.0, 1);
    s->v[50] = NAN;
    assert_int_equal(cdnopt_model_fit(m, s, NULL, NULL, err), CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "non-finite value at index 50");
    s->v[50] = 1.0;
    s->step_s = 1800;
    assert_int_equal(cdnopt_model_fit(m, s, NULL, NULL, err), CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "has step 1800 s but the model was built for 3600 s");

    cdnopt_series_free(s);
    cdnopt_model_free(m);
}

static void fit_without_validation_keeps_last(void **state)
{
    (void)state;
    cdnopt_model_params p = tiny_params();
    p.val_fraction = 0.0f;
    p.epochs = 3;
    p.max_windows = 40;
    cdnopt_series *train = NULL;
    cdnopt_model *m = tiny_fitted_model(&p, &train);
    assert_int_equal(m->info.epochs_run, 3);
    assert_int_equal(m->info.best_epoch, 3);
    assert_true(isnan(m->info.best_val_loss));
    assert_int_equal(m->info.train_n, (int64_t)train->n);
    cdnopt_model_free(m);
    cdnopt_series_free(train);
}

/* After epoch 1 every allocation fails: epoch 2 must still run, because a training
 * step takes its memory from buffers and the arena sized in the first epoch. */
static void arm_allocation_failure(const cdnopt_epoch_report *r, void *user)
{
    (void)user;
    cdnopt_alloc_fail_after(r->epoch == 1 ? 1 : 0, true);
}

static void training_step_allocation_free(void **state)
{
    (void)state;
    cdnopt_series *train = sine_series(10 * DAY, 0.2, 5);
    cdnopt_model_params p = tiny_params();
    p.epochs = 2;
    p.patience = 2;
    cdnopt_model *m = NULL;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_model_new(&p, STEP_S, &m, err), CDNOPT_OK);

    int rc = cdnopt_model_fit(m, train, arm_allocation_failure, NULL, err);
    cdnopt_alloc_fail_after(0, false);
    if (rc != CDNOPT_OK)
        fail_msg("an epoch after the first allocated memory: %s", err);
    assert_int_equal(m->info.epochs_run, 2);

    cdnopt_model_free(m);
    cdnopt_series_free(train);
}

/* ---- sampling ---- */

static void sample_same_seed_reproducible(void **state)
{
    (void)state;
    cdnopt_model_params p = tiny_params();
    cdnopt_series *train = NULL;
    cdnopt_model *m = tiny_fitted_model(&p, &train);
    enum { N = 16, H = 6 };
    double a[N * H], b[N * H], c[N * H];
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_model_sample(m, train, train->n, H, N, 7, a, err), CDNOPT_OK);
    assert_int_equal(cdnopt_model_sample(m, train, train->n, H, N, 7, b, err), CDNOPT_OK);
    assert_int_equal(cdnopt_model_sample(m, train, train->n, H, N, 8, c, err), CDNOPT_OK);
    assert_memory_equal(a, b, sizeof a);

    int n_differ = 0;
    for (int i = 0; i < N * H; i++)
        n_differ += a[i] != c[i];
    assert_true(n_differ > N * H / 2);

    /* Paths differ from each other: with dropout 0.3 on 8 units the chance that two of
     * 16 paths share both masks is negligible. */
    double lo = a[0], hi = a[0];
    for (int s = 0; s < N; s++) {
        lo = fmin(lo, a[s * H]);
        hi = fmax(hi, a[s * H]);
    }
    assert_true(hi - lo > 1e-4);

    cdnopt_model_free(m);
    cdnopt_series_free(train);
}

static void sample_zero_paths_deterministic(void **state)
{
    (void)state;
    cdnopt_model_params p = tiny_params();
    cdnopt_series *train = NULL;
    cdnopt_model *m = tiny_fitted_model(&p, &train);
    enum { H = 5 };
    double a[H], b[H];
    assert_int_equal(cdnopt_model_sample(m, train, train->n, H, 0, 1, a, NULL), CDNOPT_OK);
    assert_int_equal(cdnopt_model_sample(m, train, train->n, H, 0, 999, b, NULL), CDNOPT_OK);

    /* One path, no dropout: the seed plays no part and the spread over repeats is zero. */
    assert_memory_equal(a, b, sizeof a);
    for (int h = 0; h < H; h++)
        assert_true(isfinite(a[h]));
    cdnopt_model_free(m);
    cdnopt_series_free(train);
}

static void rollout_first_step_is_one_step(void **state)
{
    (void)state;
    cdnopt_model_params p = tiny_params();
    cdnopt_series *train = NULL;
    cdnopt_model *m = tiny_fitted_model(&p, &train);
    enum { N = 8, H = 10 };
    double roll[N * H], one[N];
    size_t end = train->n - 30;

    assert_int_equal(cdnopt_model_sample(m, train, end, H, N, 3, roll, NULL), CDNOPT_OK);
    assert_int_equal(cdnopt_model_sample(m, train, end, 1, N, 3, one, NULL), CDNOPT_OK);
    for (int s = 0; s < N; s++)
        assert_float_equal(roll[s * H], one[s], 1e-9);

    assert_int_equal(cdnopt_model_sample(m, train, end, H, 0, 0, roll, NULL), CDNOPT_OK);
    assert_int_equal(cdnopt_model_sample(m, train, end, 1, 0, 0, one, NULL), CDNOPT_OK);
    assert_float_equal(roll[0], one[0], 1e-9);
    cdnopt_model_free(m);
    cdnopt_series_free(train);
}

/* The sampler runs layer 1 once for all paths; without dropout its one-step forecast
 * must equal the training forward pass on the same window. */
static void sample_matches_training_forward(void **state)
{
    (void)state;
    cdnopt_model_params p = tiny_params();
    p.seasonal_lag = true;
    cdnopt_series *train = NULL;
    cdnopt_model *m = tiny_fitted_model(&p, &train);
    size_t end = train->n - 7;
    size_t w = (size_t)m->p.window, f = (size_t)m->n_features;

    float *rows = cdnopt_malloc(train->n * f * sizeof *rows);
    float *x = cdnopt_malloc(w * f * sizeof *x);
    cdnopt__model_features(m, train, 0, train->n, rows);
    cdnopt__model_gather(m, rows, &end, 1, x);
    cdnopt_scratch *scratch = NULL;
    assert_int_equal(cdnopt_scratch_new(0, &scratch), CDNOPT_OK);
    model_pass pass;
    assert_int_equal(cdnopt__model_forward(m, scratch, 1, x, NULL, NULL, &pass), CDNOPT_OK);

    double sampled = 0.0;
    assert_int_equal(cdnopt_model_sample(m, train, end, 1, 0, 0, &sampled, NULL), CDNOPT_OK);
    assert_float_equal(sampled, cdnopt__model_unscale(m, pass.pred[0]), 1e-5);

    cdnopt_scratch_free(scratch);
    cdnopt_free(x);
    cdnopt_free(rows);
    cdnopt_model_free(m);
    cdnopt_series_free(train);
}

/* A roll-out step carries the state of the whole window plus the fed-back
 * prediction, which is the same computation as a model one step longer run on the
 * history extended by that prediction. Weights do not depend on the window. */
static void rollout_carries_lstm_state(void **state)
{
    (void)state;
    cdnopt_model_params p = tiny_params();
    p.seasonal_lag = true;
    cdnopt_series *train = NULL;
    cdnopt_model *m = tiny_fitted_model(&p, &train);

    cdnopt_model_params longer = *cdnopt_model_get_params(m);
    longer.window += 1;
    cdnopt_model *m2 = NULL;
    assert_int_equal(cdnopt_model_new(&longer, STEP_S, &m2, NULL), CDNOPT_OK);
    assert_int_equal(cdnopt_params_copy_values(m2->ps, m->ps), CDNOPT_OK);
    m2->scale_min = m->scale_min;
    m2->scale_max = m->scale_max;

    size_t end = train->n - 40;
    double roll[2];
    assert_int_equal(cdnopt_model_sample(m, train, end, 2, 0, 0, roll, NULL), CDNOPT_OK);

    cdnopt_series *extended = NULL;
    assert_int_equal(cdnopt_series_slice(train, 0, end + 1, &extended, NULL), CDNOPT_OK);
    extended->v[end] = roll[0];
    double next = 0.0;
    assert_int_equal(cdnopt_model_sample(m2, extended, end + 1, 1, 0, 0, &next, NULL), CDNOPT_OK);
    assert_float_equal(roll[1], next, 1e-4 * fabs(next));

    cdnopt_series_free(extended);
    cdnopt_model_free(m2);
    cdnopt_model_free(m);
    cdnopt_series_free(train);
}

static void sample_rejects_bad_arguments(void **state)
{
    (void)state;
    cdnopt_model_params p = tiny_params();
    cdnopt_series *train = NULL;
    cdnopt_model *m = tiny_fitted_model(&p, &train);
    double out[4];
    char err[CDNOPT_ERRMSG_MAX] = "";

    assert_int_equal(cdnopt_model_sample(m, train, 10, 1, 1, 1, out, err), CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "the history has 10 samples before the forecast start");
    cdnopt_assert_contains(err, "supply a longer history");
    assert_int_equal(cdnopt_model_sample(m, train, train->n + 1, 1, 1, 1, out, err),
                     CDNOPT_EINVAL);
    assert_int_equal(cdnopt_model_sample(m, train, train->n, 0, 1, 1, out, err), CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "invalid horizon 0");

    cdnopt_model_free(m);
    cdnopt_series_free(train);
}

/* ---- attention hybrid ---- */

static cdnopt_model_params tiny_attention_params(void)
{
    cdnopt_model_params p = tiny_params();
    p.arch = CDNOPT_ARCH_TRANSFORMER;
    p.d_model = 8;
    p.n_head = 2;
    p.dropout = 0.2f;
    return p;
}

static void attention_learns_noiseless_sine(void **state)
{
    (void)state;
    cdnopt_series *train = sine_series(20 * DAY, 0.0, 1);
    cdnopt_model_params p = tiny_attention_params();
    p.dropout = 0.0f;
    p.calendar = false;
    p.window = 12;
    p.epochs = 8;
    p.patience = 8;
    p.learning_rate = 1e-2f;
    cdnopt_model *m = NULL;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_model_new(&p, STEP_S, &m, err), CDNOPT_OK);

    /* The same bound as the LSTM, far below persistence's MSE of about 0.0086. Runs with
     * this seed reach about 4e-6. */
    loss_log log = {0};
    int rc = cdnopt_model_fit(m, train, record_epoch, &log, err);
    if (rc != CDNOPT_OK)
        fail_msg("fit failed: %s", err);
    assert_true(log.last_train < log.first_train);
    assert_true(log.last_val < 1e-4);

    cdnopt_model_free(m);
    cdnopt_series_free(train);
}

/* The roll-out computes only the newest query against cached keys and values. For the
 * first step that must agree with the full attention layer of the training pass. */
static void attention_sample_matches_forward(void **state)
{
    (void)state;
    cdnopt_model_params p = tiny_attention_params();
    cdnopt_series *train = NULL;
    cdnopt_model *m = tiny_fitted_model(&p, &train);
    size_t end = train->n - 5;
    size_t w = (size_t)m->p.window, f = (size_t)m->n_features;

    float *rows = cdnopt_malloc(train->n * f * sizeof *rows);
    float *x = cdnopt_malloc(w * f * sizeof *x);
    cdnopt__model_features(m, train, 0, train->n, rows);
    cdnopt__model_gather(m, rows, &end, 1, x);
    cdnopt_scratch *scratch = NULL;
    assert_int_equal(cdnopt_scratch_new(0, &scratch), CDNOPT_OK);
    model_pass pass;
    assert_int_equal(cdnopt__model_forward(m, scratch, 1, x, NULL, NULL, &pass), CDNOPT_OK);

    double sampled = 0.0;
    assert_int_equal(cdnopt_model_sample(m, train, end, 1, 0, 0, &sampled, NULL), CDNOPT_OK);
    assert_float_equal(sampled, cdnopt__model_unscale(m, pass.pred[0]), 1e-5);

    cdnopt_scratch_free(scratch);
    cdnopt_free(x);
    cdnopt_free(rows);
    cdnopt_model_free(m);
    cdnopt_series_free(train);
}

static void attention_save_load_rollout(void **state)
{
    (void)state;
    cdnopt_model_params p = tiny_attention_params();
    cdnopt_series *train = NULL;
    cdnopt_model *m = tiny_fitted_model(&p, &train);
    char path[600];
    model_path(path, sizeof path, "model-attention");
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_model_save(m, path, err), CDNOPT_OK);
    cdnopt_model *loaded = NULL;
    int rc = cdnopt_model_load(path, &loaded, err);
    if (rc != CDNOPT_OK)
        fail_msg("load failed: %s", err);
    assert_int_equal(cdnopt_model_get_params(loaded)->arch, CDNOPT_ARCH_TRANSFORMER);
    assert_int_equal(cdnopt_model_get_params(loaded)->d_model, 8);

    /* A day-long roll-out wraps the key/value cache; files keep every number. */
    enum { N = 6, H = DAY + 5 };
    double a[N * H], b[N * H], one[N];
    assert_int_equal(cdnopt_model_sample(m, train, train->n, H, N, 4, a, NULL), CDNOPT_OK);
    assert_int_equal(cdnopt_model_sample(loaded, train, train->n, H, N, 4, b, NULL), CDNOPT_OK);
    assert_memory_equal(a, b, sizeof a);
    assert_int_equal(cdnopt_model_sample(m, train, train->n, 1, N, 4, one, NULL), CDNOPT_OK);
    for (int s = 0; s < N; s++) {
        assert_float_equal(a[s * H], one[s], 1e-9);
        for (int h = 0; h < H; h++)
            assert_true(isfinite(a[s * H + h]));
    }

    cdnopt_model_free(loaded);
    cdnopt_model_free(m);
    cdnopt_series_free(train);
}

/* ---- model files ---- */

static void save_load_same_samples(void **state)
{
    (void)state;
    cdnopt_model_params p = tiny_params();
    p.seasonal_lag = true;
    cdnopt_series *train = NULL;
    cdnopt_model *m = tiny_fitted_model(&p, &train);
    char path[600];
    model_path(path, sizeof path, "model-roundtrip");
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_model_save(m, path, err), CDNOPT_OK);

    cdnopt_model *loaded = NULL;
    int rc = cdnopt_model_load(path, &loaded, err);
    if (rc != CDNOPT_OK)
        fail_msg("load failed: %s", err);
    const cdnopt_model_params *q = cdnopt_model_get_params(loaded);
    assert_int_equal(q->window, DAY);
    assert_int_equal(q->units, 8);
    assert_true(q->seasonal_lag);
    assert_int_equal(q->seed, 42);
    assert_int_equal(cdnopt_model_step_s(loaded), STEP_S);
    assert_int_equal(loaded->info.epochs_run, m->info.epochs_run);
    assert_int_equal(loaded->info.train_t0, train->t[0]);
    assert_float_equal(loaded->scale_min, m->scale_min, 0.0);

    enum { N = 5, H = 30 };
    double a[N * H], b[N * H];
    assert_int_equal(cdnopt_model_sample(m, train, train->n, H, N, 11, a, NULL), CDNOPT_OK);
    assert_int_equal(cdnopt_model_sample(loaded, train, train->n, H, N, 11, b, NULL), CDNOPT_OK);
    assert_memory_equal(a, b, sizeof a);

    cdnopt_model_free(loaded);
    cdnopt_model_free(m);
    cdnopt_series_free(train);
}

static void load_ignores_unknown_groups(void **state)
{
    (void)state;
    char path[600];
    model_path(path, sizeof path, "model-extra");
    save_tiny_model(path);

    /* Another module adds its own group and attributes after saving. */
    hid_t file = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(file >= 0);
    hid_t group = H5Gcreate2(file, "calibration", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(group >= 0);
    H5Gclose(group);
    H5Fclose(file);

    cdnopt_model *m = NULL;
    char err[CDNOPT_ERRMSG_MAX] = "";
    int rc = cdnopt_model_load(path, &m, err);
    if (rc != CDNOPT_OK)
        fail_msg("load failed: %s", err);
    cdnopt_model_free(m);
}

static void load_rejects_wrong_format(void **state)
{
    (void)state;
    char path[600];
    model_path(path, sizeof path, "model-format");
    save_tiny_model(path);

    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, 8);
    rewrite_root_attr(path, "format", type, "keras-x");
    H5Tclose(type);
    expect_load_error(path, CDNOPT_EPARSE, "format is 'keras-x' but expected 'cdnopt-model'",
                      NULL);
}

static void load_rejects_wrong_version(void **state)
{
    (void)state;
    char path[600];
    model_path(path, sizeof path, "model-version");
    save_tiny_model(path);

    int64_t version = 2;
    rewrite_root_attr(path, "format_version", H5T_NATIVE_INT64, &version);
    expect_load_error(path, CDNOPT_EPARSE, "format_version is 2", "reads version 1");
}

static void load_rejects_wrong_shape(void **state)
{
    (void)state;
    char path[600];
    model_path(path, sizeof path, "model-shape");
    save_tiny_model(path);

    /* Claim 16 units: every stored tensor is now too small, and the first one checked
     * must be named with both shapes. */
    int64_t units = 16;
    rewrite_root_attr(path, "units", H5T_NATIVE_INT64, &units);
    expect_load_error(path, CDNOPT_ESHAPE, "dataset /weights/lstm1/kernel has shape [5, 32]",
                      "needs [5, 64]");
}

static void load_rejects_truncated_file(void **state)
{
    (void)state;
    char path[600], cut[640];
    model_path(path, sizeof path, "model-truncated");
    save_tiny_model(path);
    snprintf(cut, sizeof cut, "%s.cut", path);

    FILE *in = fopen(path, "rb");
    assert_non_null(in);
    fseek(in, 0, SEEK_END);
    long size = ftell(in);
    fseek(in, 0, SEEK_SET);
    char *bytes = cdnopt_malloc((size_t)size);
    assert_int_equal(fread(bytes, 1, (size_t)size, in), (size_t)size);
    fclose(in);
    FILE *out = fopen(cut, "wb");
    assert_non_null(out);
    assert_int_equal(fwrite(bytes, 1, (size_t)size / 2, out), (size_t)size / 2);
    fclose(out);
    cdnopt_free(bytes);

    expect_load_error(cut, CDNOPT_EIO, "truncated or damaged", NULL);
}

/* Flip one bit inside a stored weight: the read fails on the dataset's checksum
 * instead of handing back a changed model. */
static void load_rejects_damaged_weight(void **state)
{
    (void)state;
    char path[600];
    model_path(path, sizeof path, "model-damaged");
    save_tiny_model(path);

    /* The first weight of the LSTM's input kernel, as the file stores it. */
    float weight = 0.0f;
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t set = H5Dopen2(file, "weights/lstm1/kernel", H5P_DEFAULT);
    hid_t space = H5Dget_space(set);
    hsize_t dims[2];
    H5Sget_simple_extent_dims(space, dims, NULL);
    float *values = cdnopt_malloc((size_t)(dims[0] * dims[1]) * sizeof *values);
    assert_true(H5Dread(set, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values) >= 0);
    weight = values[0];
    cdnopt_free(values);
    H5Sclose(space);
    H5Dclose(set);
    H5Fclose(file);

    cdnopt_test_flip_first_match(path, &weight, sizeof weight);

    expect_load_error(path, CDNOPT_EIO, "dataset /weights/lstm1/kernel",
                      "checksum does not match");
}

/* New files use HDF5's checksummed format (superblock version 2 or later), so a bit
 * flipped in an attribute fails the load. The 1.6 format had no such checksum. */
static void load_rejects_damaged_attribute(void **state)
{
    (void)state;
    char path[600];
    model_path(path, sizeof path, "model-damaged-attr");
    save_tiny_model(path);

    FILE *in = fopen(path, "rb");
    assert_non_null(in);
    unsigned char head[9];
    assert_int_equal(fread(head, 1, sizeof head, in), sizeof head);
    fclose(in);
    assert_true(head[8] >= 2);

    cdnopt_model *m = NULL;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_model_load(path, &m, err), CDNOPT_OK);
    double scale_max = m->scale_max;
    cdnopt_model_free(m);

    cdnopt_test_flip_first_match(path, &scale_max, sizeof scale_max);
    expect_load_error(path, CDNOPT_EIO, "so the file is damaged", "train the model again");
}

/* The unit of the training data survives a save and load; a file without one (saved
 * before models kept it) loads with an empty unit. */
static void save_load_keeps_unit(void **state)
{
    (void)state;
    char path[600];
    model_path(path, sizeof path, "model-unit");
    save_tiny_model(path);
    cdnopt_model *m = NULL;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_model_load(path, &m, err), CDNOPT_OK);
    assert_string_equal(cdnopt_model_unit(m), "");

    assert_int_equal(cdnopt_model_set_unit(m, "bytes-per-interval"), CDNOPT_OK);
    assert_int_equal(cdnopt_model_set_unit(m, "a-unit-name-far-longer-than-any-unit"),
                     CDNOPT_EINVAL);
    assert_string_equal(cdnopt_model_unit(m), "bytes-per-interval");
    assert_int_equal(cdnopt_model_save(m, path, err), CDNOPT_OK);
    cdnopt_model_free(m);

    m = NULL;
    assert_int_equal(cdnopt_model_load(path, &m, err), CDNOPT_OK);
    assert_string_equal(cdnopt_model_unit(m), "bytes-per-interval");
    cdnopt_model_free(m);
}

static void load_rejects_non_hdf5(void **state)
{
    (void)state;
    char path[600];
    model_path(path, sizeof path, "model-text");
    cdnopt_test_write_file(path, "time,value\n2024-01-01 00:00,1\n");
    expect_load_error(path, CDNOPT_EIO, "is not an HDF5 file", NULL);

    char missing[640];
    snprintf(missing, sizeof missing, "%s.missing", path);
    expect_load_error(missing, CDNOPT_EIO, "cannot open model file", NULL);
}

static void save_rejects_missing_folder(void **state)
{
    (void)state;
    cdnopt_model_params p = tiny_params();
    cdnopt_model *m = NULL;
    assert_int_equal(cdnopt_model_new(&p, STEP_S, &m, NULL), CDNOPT_OK);
    char dir[512], path[600];
    cdnopt_test_scratch_dir(dir, sizeof dir, "model-save");
    snprintf(path, sizeof path, "%s/missing/model.h5", dir);

    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_model_save(m, path, err), CDNOPT_EIO);
    cdnopt_assert_contains(err, "cannot create model file");
    cdnopt_assert_contains(err, path);
    cdnopt_model_free(m);
}

/* The message is built after the model is freed, so ASan checks it reads no freed memory. */
static void load_rejects_feature_count_mismatch(void **state)
{
    (void)state;
    char path[600];
    model_path(path, sizeof path, "model-features");
    save_tiny_model(path);

    int64_t n_features = 2;
    rewrite_root_attr(path, "n_features", H5T_NATIVE_INT64, &n_features);
    expect_load_error(path, CDNOPT_EPARSE, "attribute n_features is 2",
                      "calendar=1 and seasonal_lag=0 give 5");
}

/* 2^40 turned into 0 when narrowed to int, so window and horizon loaded and units
 * was reported as 0. */
static void load_rejects_int64_attributes(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        const char *range;
    } cases[] = {
        {"window", "0..100000"},   {"units", "1..4096"},   {"horizon", "0..100000"},
        {"batch", "1..65536"},     {"epochs", "1..2147483647"},
        {"n_features", "1..6"},    {"step_s", "1..86400"},
    };
    char path[600];
    model_path(path, sizeof path, "model-int64");
    int64_t huge = (int64_t)1 << 40;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        save_tiny_model(path);
        rewrite_root_attr(path, cases[i].name, H5T_NATIVE_INT64, &huge);
        char text[128];
        snprintf(text, sizeof text, "attribute /%s is 1099511627776", cases[i].name);
        expect_load_error(path, CDNOPT_EPARSE, text, cases[i].range);
    }
}

/* Saving resolves a direct head's horizon 0 to one day, so 0 in a file is damage. */
static void load_rejects_direct_horizon_zero(void **state)
{
    (void)state;
    cdnopt_model_params p = tiny_params();
    p.head = CDNOPT_HEAD_DIRECT;
    p.horizon = 6;
    cdnopt_model *m = NULL;
    assert_int_equal(cdnopt_model_new(&p, STEP_S, &m, NULL), CDNOPT_OK);
    char path[600], err[CDNOPT_ERRMSG_MAX] = "";
    model_path(path, sizeof path, "model-horizon");
    assert_int_equal(cdnopt_model_save(m, path, err), CDNOPT_OK);
    cdnopt_model_free(m);

    int64_t horizon = 0;
    rewrite_root_attr(path, "horizon", H5T_NATIVE_INT64, &horizon);
    expect_load_error(path, CDNOPT_EPARSE, "attribute /horizon is 0", "range 1..100000");

    int64_t epochs_run = -1;
    rewrite_group_attr(path, "training", "epochs_run", H5T_NATIVE_INT64, &epochs_run);
    horizon = 6;
    rewrite_root_attr(path, "horizon", H5T_NATIVE_INT64, &horizon);
    expect_load_error(path, CDNOPT_EPARSE, "attribute /training/epochs_run is -1",
                      "range 0..2147483647");
}

/* ---- checkpoints ---- */

typedef struct checkpoint_at {
    cdnopt_model *m;
    int epoch;        /* epoch whose end is saved */
    const char *path;
} checkpoint_at;

static void save_checkpoint(const cdnopt_epoch_report *r, void *user)
{
    checkpoint_at *ck = user;
    char err[CDNOPT_ERRMSG_MAX] = "";
    if (r->epoch == ck->epoch && cdnopt_model_save(ck->m, ck->path, err) != CDNOPT_OK)
        fail_msg("checkpoint failed: %s", err);
}

/* Parameters whose fit depends on everything a checkpoint must carry: dropout masks and
 * a draw of 40 of the windows every epoch, Adam's moments and the best epoch. */
static cdnopt_model_params resumable_params(void)
{
    cdnopt_model_params p = tiny_params();
    p.epochs = 5;
    p.patience = 5;
    p.max_windows = 40;
    return p;
}

/* Fit resumable_params() on train and save a checkpoint at the end of epoch 2. */
static cdnopt_model *fit_with_checkpoint(const cdnopt_series *train, const char *path)
{
    cdnopt_model_params p = resumable_params();
    cdnopt_model *m = NULL;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_model_new(&p, STEP_S, &m, err), CDNOPT_OK);
    checkpoint_at ck = {.m = m, .epoch = 2, .path = path};
    if (cdnopt_model_fit(m, train, save_checkpoint, &ck, err) != CDNOPT_OK)
        fail_msg("fit failed: %s", err);
    return m;
}

/* A fit resumed from the checkpoint of epoch 2 ends with the uninterrupted fit's
 * weights, bit for bit. Before checkpoints kept Adam's moments and the best weights,
 * and before each epoch drew from a stream of its own, the two differed. */
static void resume_matches_uninterrupted_fit(void **state)
{
    (void)state;
    char path[600];
    model_path(path, sizeof path, "model-resume");
    cdnopt_series *train = sine_series(10 * DAY, 0.2, 5);
    cdnopt_model *whole = fit_with_checkpoint(train, path);
    assert_int_equal(whole->info.epochs_run, 5);
    assert_null(whole->resume.adam_m);

    cdnopt_model *resumed = NULL;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_model_load(path, &resumed, err), CDNOPT_OK);
    assert_int_equal(resumed->info.epochs_run, 2);
    assert_non_null(resumed->resume.adam_m);
    /* 40 windows in batches of 16 are 3 Adam updates per epoch. */
    assert_int_equal(resumed->resume.adam_t, 6);

    cdnopt_fit_hooks hooks = {.n_parts = 1, .continue_epochs = true};
    cdnopt_model_set_fit_hooks(resumed, &hooks);
    if (cdnopt_model_fit(resumed, train, NULL, NULL, err) != CDNOPT_OK)
        fail_msg("resumed fit failed: %s", err);
    assert_int_equal(resumed->info.epochs_run, 5);
    assert_int_equal(resumed->info.best_epoch, whole->info.best_epoch);
    assert_memory_equal(cdnopt_params_values(resumed->ps), cdnopt_params_values(whole->ps),
                        cdnopt_params_count(whole->ps) * sizeof(float));
    assert_null(resumed->resume.adam_m);

    cdnopt_model_free(resumed);
    cdnopt_model_free(whole);
    cdnopt_series_free(train);
}

/* Replace dataset /resume/NAME of a checkpoint by n floats of value. */
static void rewrite_resume_set(const char *path, const char *name, size_t n, float value)
{
    float values[4096];
    assert_true(n <= sizeof values / sizeof values[0]);
    for (size_t i = 0; i < n; i++)
        values[i] = value;
    hid_t file = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(file >= 0);
    hid_t group = H5Gopen2(file, "resume", H5P_DEFAULT);
    assert_true(group >= 0);
    assert_true(H5Ldelete(group, name, H5P_DEFAULT) >= 0);
    hsize_t dims[2] = {1, n};
    hid_t space = H5Screate_simple(2, dims, NULL);
    hid_t set = H5Dcreate2(group, name, H5T_NATIVE_FLOAT, space, H5P_DEFAULT, H5P_DEFAULT,
                           H5P_DEFAULT);
    assert_true(set >= 0);
    assert_true(H5Dwrite(set, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values) >= 0);
    H5Dclose(set);
    H5Sclose(space);
    H5Gclose(group);
    H5Fclose(file);
}

/* A checkpoint whose optimizer state has the wrong size or impossible values is
 * rejected with the dataset and the value. */
static void load_rejects_damaged_resume_state(void **state)
{
    (void)state;
    char path[600];
    model_path(path, sizeof path, "model-resume-bad");
    cdnopt_series *train = sine_series(10 * DAY, 0.2, 5);
    cdnopt_model *m = fit_with_checkpoint(train, path);
    size_t n = cdnopt_params_count(m->ps);
    cdnopt_model_free(m);
    cdnopt_series_free(train);

    rewrite_resume_set(path, "adam_v", n, -1.0f);
    expect_load_error(path, CDNOPT_EPARSE, "value 0 of /resume/adam_v is -1",
                      "resume from an earlier checkpoint");
    rewrite_resume_set(path, "adam_v", n - 1, 0.0f);
    expect_load_error(path, CDNOPT_ESHAPE, "dataset /resume/adam_v has shape [1, ",
                      "so it needs [1, ");

    /* More epochs run than the fit has: before, it loaded and resumed to no epoch. */
    rewrite_resume_set(path, "adam_v", n, 0.0f);
    int64_t epochs_run = 2000000000;
    rewrite_group_attr(path, "training", "epochs_run", H5T_NATIVE_INT64, &epochs_run);
    expect_load_error(path, CDNOPT_EPARSE,
                      "a checkpoint needs 1 <= best_epoch <= epochs_run in /training <= the root "
                      "attribute epochs",
                      ", 2000000000 and 5; resume from an earlier checkpoint");
}

/* A checkpoint whose best validation loss reads NaN fails the resumed fit. Before, no
 * epoch could beat it, so the fit ended on the checkpoint's best weights without a word. */
static void resume_rejects_nan_best_loss(void **state)
{
    (void)state;
    char path[600];
    model_path(path, sizeof path, "model-resume-nan");
    cdnopt_series *train = sine_series(10 * DAY, 0.2, 5);
    cdnopt_model_free(fit_with_checkpoint(train, path));

    double loss = NAN;
    rewrite_group_attr(path, "training", "best_val_loss", H5T_NATIVE_DOUBLE, &loss);

    cdnopt_model *resumed = NULL;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_model_load(path, &resumed, err), CDNOPT_OK);
    cdnopt_fit_hooks hooks = {.n_parts = 1, .continue_epochs = true};
    cdnopt_model_set_fit_hooks(resumed, &hooks);
    assert_int_equal(cdnopt_model_fit(resumed, train, NULL, NULL, err), CDNOPT_EPARSE);
    cdnopt_assert_contains(err, "best_val_loss in /training is nan");
    cdnopt_model_free(resumed);
    cdnopt_series_free(train);
}

/* A checkpoint whose Adam update count does not match its epochs (a damaged file, or a
 * resume on another series) used to resume, and the fit went on from a state that the
 * interrupted run never had. */
static void resume_rejects_wrong_update_count(void **state)
{
    (void)state;
    char path[600];
    model_path(path, sizeof path, "model-resume-updates");
    cdnopt_series *train = sine_series(10 * DAY, 0.2, 5);
    cdnopt_model_free(fit_with_checkpoint(train, path));

    uint64_t updates = 5;
    rewrite_group_attr(path, "resume", "adam_t", H5T_NATIVE_UINT64, &updates);

    cdnopt_model *resumed = NULL;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_model_load(path, &resumed, err), CDNOPT_OK);
    cdnopt_fit_hooks hooks = {.n_parts = 1, .continue_epochs = true};
    cdnopt_model_set_fit_hooks(resumed, &hooks);
    assert_int_equal(cdnopt_model_fit(resumed, train, NULL, NULL, err), CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "the checkpoint made 5 Adam updates in 2 epochs, but this "
                                "series gives 3 batches of 16 windows per epoch (6 updates)");
    cdnopt_model_free(resumed);
    cdnopt_series_free(train);
}

/* Fail each allocation of a load of path in turn: every failure is reported and nothing
 * leaks. */
static void expect_load_survives_failures(const char *path)
{
    long before = cdnopt_alloc_live_blocks();
    int n_failed = 0;
    for (long k = 1; k < 200; k++) {
        cdnopt_model *m = NULL;
        cdnopt_alloc_fail_after(k, false);
        int rc = cdnopt_model_load(path, &m, NULL);
        cdnopt_alloc_fail_after(0, false);
        if (rc == CDNOPT_OK) {
            cdnopt_model_free(m);
            break;
        }
        assert_null(m);
        n_failed++;
    }
    assert_true(n_failed > 3);
    assert_int_equal(cdnopt_alloc_live_blocks(), before);
}

static void load_survives_allocation_failures(void **state)
{
    (void)state;
    char path[600];
    model_path(path, sizeof path, "model-oom");
    save_tiny_model(path);
    expect_load_survives_failures(path);

    /* A checkpoint adds the allocation of its optimizer state. */
    cdnopt_series *train = sine_series(10 * DAY, 0.2, 5);
    cdnopt_model_free(fit_with_checkpoint(train, path));
    cdnopt_series_free(train);
    expect_load_survives_failures(path);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(params_default_values),
        cmocka_unit_test(new_rejects_bad_params),
        cmocka_unit_test(feature_row_calendar_and_lag),
        cmocka_unit_test(features_use_next_step_lag),
        cmocka_unit_test(fit_learns_noiseless_sine),
        cmocka_unit_test(fit_rejects_short_or_wrong_series),
        cmocka_unit_test(fit_without_validation_keeps_last),
        cmocka_unit_test(training_step_allocation_free),
        cmocka_unit_test(sample_same_seed_reproducible),
        cmocka_unit_test(sample_zero_paths_deterministic),
        cmocka_unit_test(rollout_first_step_is_one_step),
        cmocka_unit_test(sample_matches_training_forward),
        cmocka_unit_test(rollout_carries_lstm_state),
        cmocka_unit_test(sample_rejects_bad_arguments),
        cmocka_unit_test(attention_learns_noiseless_sine),
        cmocka_unit_test(attention_sample_matches_forward),
        cmocka_unit_test(attention_save_load_rollout),
        cmocka_unit_test(save_load_same_samples),
        cmocka_unit_test(load_ignores_unknown_groups),
        cmocka_unit_test(load_rejects_wrong_format),
        cmocka_unit_test(load_rejects_wrong_version),
        cmocka_unit_test(load_rejects_wrong_shape),
        cmocka_unit_test(load_rejects_truncated_file),
        cmocka_unit_test(load_rejects_damaged_weight),
        cmocka_unit_test(load_rejects_damaged_attribute),
        cmocka_unit_test(save_load_keeps_unit),
        cmocka_unit_test(load_rejects_non_hdf5),
        cmocka_unit_test(save_rejects_missing_folder),
        cmocka_unit_test(load_rejects_feature_count_mismatch),
        cmocka_unit_test(load_rejects_int64_attributes),
        cmocka_unit_test(load_rejects_direct_horizon_zero),
        cmocka_unit_test(resume_matches_uninterrupted_fit),
        cmocka_unit_test(load_rejects_damaged_resume_state),
        cmocka_unit_test(resume_rejects_nan_best_loss),
        cmocka_unit_test(resume_rejects_wrong_update_count),
        cmocka_unit_test(load_survives_allocation_failures),
    };
    return cdnopt_test_main(argc, argv, "model", tests, sizeof tests / sizeof tests[0]);
}
