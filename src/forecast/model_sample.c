/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Monte-Carlo roll-out. All paths run as one batch, and the window passes through
 * both LSTMs once. Each further step feeds every path's own last prediction back in
 * and advances the carried (h, c) states of both layers by one step, instead of
 * re-running the whole window. Each path's dropout masks are drawn once, from the
 * seed and the path's index, and kept for the window and every roll-out step.
 */
#include "model-impl.h"

#include <math.h>
#include <string.h>

/* Buffers of one roll-out, in one heap block, because the arena is reset every step. */
typedef struct rollout {
    size_t n_batch;
    float *mask1, *mask2; /* [B, H] and [B, mask2 width], NULL without dropout */
    float *h1, *c1;       /* lstm1 state [B, H] */
    float *h2, *c2;       /* lstm2 state [B, H] */
    float *x;             /* one step's inputs [B, F] */
    float *d1;            /* lstm1 output of one step after mask1, [B, H] */
    float *path;          /* scaled predictions [B, horizon] */
    float *block;
    attn_rollout *attn;   /* transformer key/value caches; NULL for the LSTM */
} rollout;

static int rollout_init(rollout *ro, const cdnopt_model *m, size_t n_batch, int horizon,
                        bool dropout)
{
    size_t h = (size_t)m->p.units;
    size_t h2 = cdnopt__model_mask2_width(m);
    size_t per_row = 6 * h + h2 + (size_t)m->n_features + (size_t)horizon;
    memset(ro, 0, sizeof *ro);
    ro->n_batch = n_batch;
    ro->block = cdnopt_malloc(n_batch * per_row * sizeof *ro->block);
    if (ro->block == NULL)
        return CDNOPT_ENOMEM;

    float *p = ro->block;
    ro->mask1 = p, p += n_batch * h;
    ro->mask2 = p, p += n_batch * h2;
    ro->h1 = p, p += n_batch * h;
    ro->c1 = p, p += n_batch * h;
    ro->h2 = p, p += n_batch * h;
    ro->c2 = p, p += n_batch * h;
    ro->x = p, p += n_batch * (size_t)m->n_features;
    ro->d1 = p, p += n_batch * h;
    ro->path = p;
    if (!dropout)
        ro->mask1 = ro->mask2 = NULL;
    if (m->p.arch == CDNOPT_ARCH_TRANSFORMER)
        return cdnopt__attn_rollout_new(m, n_batch, &ro->attn);
    return CDNOPT_OK;
}

/* Draw each path's masks from its own stream, so a path does not depend on how many
 * other paths run beside it. */
void cdnopt__model_draw_masks(const cdnopt_model *m, size_t n_paths, uint64_t seed,
                              float *mask1, float *mask2)
{
    size_t h = (size_t)m->p.units;
    size_t h2 = cdnopt__model_mask2_width(m);
    cdnopt_rng base;
    cdnopt_rng_seed(&base, seed);
    for (size_t s = 0; s < n_paths; s++) {
        cdnopt_rng rng;
        cdnopt_rng_fork(&base, s, &rng);
        cdnopt_dropout_mask(mask1 + s * h, h, m->p.dropout, &rng);
        cdnopt_dropout_mask(mask2 + s * h2, h2, m->p.dropout, &rng);
    }
}

/* Copy the [1, n] row src into each of the n_rows rows of dst. */
static void broadcast_row(const float *src, size_t n, size_t n_rows, float *dst)
{
    for (size_t r = 0; r < n_rows; r++)
        memcpy(dst + r * n, src, n * sizeof *dst);
}

/*
 * Run lstm2 over the window one step at a time from a zero state, leaving its final
 * state in ro. The step API keeps no trace, so the paths need [B, H] buffers instead
 * of the [B, W, 8H] floats a traced forward pass would fill.
 */
static int lstm2_window(const cdnopt_model *m, rollout *ro, const float *h1_seq)
{
    size_t w = (size_t)m->p.window;
    size_t h = (size_t)m->p.units;
    size_t n_batch = ro->n_batch;
    cdnopt_scratch *step_scratch = NULL;
    int rc = cdnopt_scratch_new(n_batch * 4 * h * sizeof(float) + 4096, &step_scratch);
    if (rc != CDNOPT_OK)
        return rc;

    memset(ro->h2, 0, n_batch * h * sizeof *ro->h2);
    memset(ro->c2, 0, n_batch * h * sizeof *ro->c2);
    for (size_t t = 0; t < w && rc == CDNOPT_OK; t++) {
        broadcast_row(h1_seq + t * h, h, n_batch, ro->d1);
        if (ro->mask1 != NULL)
            cdnopt_dropout_apply(ro->mask1, n_batch, 1, h, ro->d1, ro->d1);
        cdnopt_scratch_reset(step_scratch);
        rc = cdnopt_lstm_step(m->lstm2, step_scratch, n_batch, ro->d1, ro->h2, ro->c2);
    }
    cdnopt_scratch_free(step_scratch);
    return rc;
}

/*
 * Run the window [end - W, end) for every path and keep the states and the first
 * prediction. Nothing random comes before lstm1, so it runs once on one copy of the
 * window, and all paths share its outputs and state. The paths part at mask1.
 */
static int run_window(const cdnopt_model *m, cdnopt_scratch *scratch, rollout *ro,
                      const cdnopt_series *history, size_t end, int horizon)
{
    size_t w = (size_t)m->p.window;
    size_t f = (size_t)m->n_features;
    size_t h = (size_t)m->p.units;
    size_t n_batch = ro->n_batch;

    float *x = cdnopt_scratch_floats(scratch, w * f);
    float *d2 = cdnopt_scratch_floats(scratch, n_batch * h);
    if (x == NULL || d2 == NULL)
        return CDNOPT_ENOMEM;
    cdnopt__model_features(m, history, end - w, w, x);

    cdnopt_trace *t1 = NULL, *t3 = NULL;
    int rc = cdnopt_lstm_forward(m->lstm1, scratch, 1, w, x, &t1);
    if (rc != CDNOPT_OK)
        return rc;
    const float *h_last, *c_last;
    cdnopt_lstm_trace_state(t1, &h_last, &c_last);
    broadcast_row(h_last, h, n_batch, ro->h1);
    broadcast_row(c_last, h, n_batch, ro->c1);

    /* Attention needs every step's encoding at once. */
    if (ro->attn != NULL) {
        float *d1 = cdnopt_scratch_floats(scratch, n_batch * w * h);
        if (d1 == NULL)
            return CDNOPT_ENOMEM;
        broadcast_row(cdnopt_trace_output(t1), w * h, n_batch, d1);
        if (ro->mask1 != NULL)
            cdnopt_dropout_apply(ro->mask1, n_batch, w, h, d1, d1);
        return cdnopt__attn_window(m, scratch, ro->attn, d1, ro->mask2, x, ro->path,
                                   (size_t)horizon);
    }

    rc = lstm2_window(m, ro, cdnopt_trace_output(t1));
    if (rc != CDNOPT_OK)
        return rc;
    if (ro->mask2 != NULL)
        cdnopt_dropout_apply(ro->mask2, n_batch, 1, h, ro->h2, d2);
    else
        memcpy(d2, ro->h2, n_batch * h * sizeof *d2);
    rc = cdnopt_dense_forward(m->head, scratch, n_batch, d2, &t3);
    if (rc != CDNOPT_OK)
        return rc;

    /* The residual on the last observed value, as in cdnopt__model_forward(). */
    const float *out = cdnopt_trace_output(t3);
    for (size_t b = 0; b < n_batch; b++)
        ro->path[b * (size_t)horizon] = out[b] + x[(w - 1) * f];
    return CDNOPT_OK;
}

/* Scaled value one day before step end + k of path b: observed, or the path's own forecast. */
static float lag_value(const cdnopt_model *m, const rollout *ro, const cdnopt_series *history,
                       size_t end, int k, int horizon, size_t b)
{
    size_t lag = (size_t)m->steps_per_day;
    size_t target = end + (size_t)k;
    if (target - lag < end)
        return (float)cdnopt__model_scale(m, history->v[target - lag]);
    return ro->path[b * (size_t)horizon + (target - lag - end)];
}

/* Advance every path by one step: the input is step end + k - 1, predicted at k - 1. */
static int roll_step(const cdnopt_model *m, cdnopt_scratch *scratch, rollout *ro,
                     const cdnopt_series *history, size_t end, int k, int horizon)
{
    size_t f = (size_t)m->n_features;
    size_t h = (size_t)m->p.units;
    size_t n_batch = ro->n_batch;
    int64_t t_civil = history->t[end - 1] + (int64_t)k * m->step_s;

    for (size_t b = 0; b < n_batch; b++) {
        float value = ro->path[b * (size_t)horizon + (size_t)(k - 1)];
        float lag = m->p.seasonal_lag ? lag_value(m, ro, history, end, k, horizon, b) : 0.0f;
        cdnopt__model_feature_row(m, t_civil, value, lag, ro->x + b * f);
    }

    cdnopt_scratch_reset(scratch);
    int rc = cdnopt_lstm_step(m->lstm1, scratch, n_batch, ro->x, ro->h1, ro->c1);
    if (rc != CDNOPT_OK)
        return rc;
    float *d1 = cdnopt_scratch_floats(scratch, n_batch * h);
    float *d2 = cdnopt_scratch_floats(scratch, n_batch * h);
    if (d1 == NULL || d2 == NULL)
        return CDNOPT_ENOMEM;
    if (ro->mask1 != NULL)
        cdnopt_dropout_apply(ro->mask1, n_batch, 1, h, ro->h1, d1);
    else
        memcpy(d1, ro->h1, n_batch * h * sizeof *d1);
    if (ro->attn != NULL)
        return cdnopt__attn_step(m, scratch, ro->attn, d1, ro->mask2, ro->x, ro->path + k,
                                 (size_t)horizon);

    rc = cdnopt_lstm_step(m->lstm2, scratch, n_batch, d1, ro->h2, ro->c2);
    if (rc != CDNOPT_OK)
        return rc;
    if (ro->mask2 != NULL)
        cdnopt_dropout_apply(ro->mask2, n_batch, 1, h, ro->h2, d2);
    else
        memcpy(d2, ro->h2, n_batch * h * sizeof *d2);

    cdnopt_trace *t3 = NULL;
    rc = cdnopt_dense_forward(m->head, scratch, n_batch, d2, &t3);
    if (rc != CDNOPT_OK)
        return rc;
    const float *out = cdnopt_trace_output(t3);
    for (size_t b = 0; b < n_batch; b++)
        ro->path[b * (size_t)horizon + (size_t)k] = out[b] + ro->x[b * f];
    return CDNOPT_OK;
}

static int check_sample_args(const cdnopt_model *m, const cdnopt_series *history, size_t end,
                             int horizon, int n_samples, char *err)
{
    if (horizon < 1 || n_samples < 0 || n_samples > 1000000)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "invalid horizon %d or n_samples %d; use horizon >= 1 and "
                           "0 <= n_samples <= 1000000", horizon, n_samples);
    if (history->step_s != m->step_s)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "history series has step %lld s but the model was trained at %lld s",
                           (long long)history->step_s, (long long)m->step_s);

    size_t first = cdnopt__model_first_target(m);
    if (end > history->n || end < first)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "the history has %zu samples before the forecast start (end index "
                           "%zu of %zu), but the model needs at least %zu: one window of %d "
                           "steps%s; supply a longer history",
                           end < history->n ? end : history->n, end, history->n, first,
                           m->p.window, m->p.seasonal_lag ? " plus one day of lag" : "");

    for (size_t i = end - first; i < end; i++)
        if (!isfinite(history->v[i]))
            return cdnopt_fail(err, CDNOPT_EINVAL,
                               "history value at index %zu is not finite; fill gaps before "
                               "forecasting", i);
    return CDNOPT_OK;
}

int cdnopt_model_sample(const cdnopt_model *m, const cdnopt_series *history, size_t end,
                        int horizon, int n_samples, uint64_t seed, double *samples, char *err)
{
    int rc = check_sample_args(m, history, end, horizon, n_samples, err);
    if (rc != CDNOPT_OK)
        return rc;
    if (m->p.head == CDNOPT_HEAD_DIRECT) {
        rc = cdnopt__direct_sample(m, history, end, horizon, n_samples, seed, samples);
        if (rc != CDNOPT_OK)
            return cdnopt_fail(err, rc, "direct forecast failed: %s", cdnopt_strerror(rc));
        return CDNOPT_OK;
    }

    size_t n_batch = n_samples > 0 ? (size_t)n_samples : 1;
    bool dropout = n_samples > 0 && m->p.dropout > 0.0f;
    rollout ro;
    cdnopt_scratch *scratch = NULL;
    rc = rollout_init(&ro, m, n_batch, horizon, dropout);
    if (rc == CDNOPT_OK)
        rc = cdnopt_scratch_new(0, &scratch);
    if (rc == CDNOPT_OK && dropout)
        cdnopt__model_draw_masks(m, n_batch, seed, ro.mask1, ro.mask2);

    if (rc == CDNOPT_OK)
        rc = run_window(m, scratch, &ro, history, end, horizon);
    for (int k = 1; k < horizon && rc == CDNOPT_OK; k++)
        rc = roll_step(m, scratch, &ro, history, end, k, horizon);

    if (rc == CDNOPT_OK)
        for (size_t i = 0; i < n_batch * (size_t)horizon; i++)
            samples[i] = cdnopt__model_unscale(m, ro.path[i]);
    cdnopt_scratch_free(scratch);
    cdnopt__attn_rollout_free(ro.attn);
    cdnopt_free(ro.block);
    if (rc != CDNOPT_OK)
        return cdnopt_fail(err, rc, "forecast roll-out failed: %s", cdnopt_strerror(rc));
    return CDNOPT_OK;
}
