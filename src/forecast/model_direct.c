/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The direct multi-horizon head: dense(horizon) on the last LSTM state predicts a
 * block of `horizon` steps at once, each added to a base taken from the window.
 *   base[k] = x[W-1]                          CDNOPT_BASE_LAST
 *   base[k] = x[W - D + (k mod D)]            CDNOPT_BASE_SEASONAL, D = steps per day
 * so with the seasonal base the network learns a correction to the one-day seasonal
 * naive forecast. Forecasts longer than one block chain blocks: each sample path's
 * own values fill the next block's window. Every path keeps its dropout masks for
 * all blocks, as in the recursive roll-out.
 */
#include "model-impl.h"

#include <string.h>

/* Scaled base of output step k after one window xw [W, F]. */
static float base_value(const cdnopt_model *m, const float *xw, size_t k)
{
    size_t w = (size_t)m->p.window;
    size_t f = (size_t)m->n_features;
    if (m->p.head != CDNOPT_HEAD_DIRECT || m->p.base == CDNOPT_BASE_LAST)
        return xw[(w - 1) * f];

    /* The model checks window >= D, so the step one day before lies in the window. */
    size_t d = (size_t)m->steps_per_day;
    return xw[(w - d + k % d) * f];
}

void cdnopt__model_add_base(const cdnopt_model *m, const float *x, size_t n_batch, float *pred)
{
    size_t n_out = (size_t)m->n_out;
    size_t window_size = (size_t)m->p.window * (size_t)m->n_features;
    for (size_t b = 0; b < n_batch; b++)
        for (size_t k = 0; k < n_out; k++)
            pred[b * n_out + k] += base_value(m, x + b * window_size, k);
}

/* Buffers of one direct forecast, in one heap block. */
typedef struct direct_run {
    size_t n_paths;
    size_t n_steps;       /* steps per path: whole blocks covering the horizon */
    float *mask1, *mask2; /* [P, units] each, NULL without dropout */
    float *x;             /* windows of one block [P, W, F] */
    float *h1, *c1;       /* lstm1 state while stepping through a window [P, units] */
    float *h2, *c2;       /* lstm2 state [P, units] */
    float *d1;            /* lstm1's output of one step after dropout [P, units] */
    float *x_step;        /* one step of every window [P, F] */
    float *path;          /* scaled forecasts [P, n_steps] */
    float *block;
} direct_run;

static int run_init(direct_run *run, const cdnopt_model *m, size_t n_paths, int horizon,
                    bool dropout)
{
    size_t h = (size_t)m->p.units;
    size_t n_out = (size_t)m->n_out;
    size_t window_size = (size_t)m->p.window * (size_t)m->n_features;
    memset(run, 0, sizeof *run);
    run->n_paths = n_paths;
    run->n_steps = ((size_t)horizon + n_out - 1) / n_out * n_out;

    size_t per_path = 7 * h + window_size + (size_t)m->n_features + run->n_steps;
    run->block = cdnopt_malloc(n_paths * per_path * sizeof *run->block);
    if (run->block == NULL)
        return CDNOPT_ENOMEM;
    float *p = run->block;
    run->mask1 = p, p += n_paths * h;
    run->mask2 = p, p += n_paths * h;
    run->x = p, p += n_paths * window_size;
    run->h1 = p, p += n_paths * h;
    run->c1 = p, p += n_paths * h;
    run->h2 = p, p += n_paths * h;
    run->c2 = p, p += n_paths * h;
    run->d1 = p, p += n_paths * h;
    run->x_step = p, p += n_paths * (size_t)m->n_features;
    run->path = p;
    if (!dropout)
        run->mask1 = run->mask2 = NULL;
    return CDNOPT_OK;
}

/* Scaled value at step i of path b: observed before end, the path's forecast after. */
static float path_value(const cdnopt_model *m, const direct_run *run,
                        const cdnopt_series *history, size_t end, size_t b, size_t i)
{
    if (i < end)
        return (float)cdnopt__model_scale(m, history->v[i]);
    return run->path[b * run->n_steps + (i - end)];
}

/* Fill path b's window that ends (exclusively) at step origin >= end. */
static void fill_window(const cdnopt_model *m, direct_run *run, const cdnopt_series *history,
                        size_t end, size_t origin, size_t b)
{
    size_t w = (size_t)m->p.window;
    size_t f = (size_t)m->n_features;
    size_t lag = (size_t)m->steps_per_day;
    float *xw = run->x + b * w * f;
    for (size_t j = 0; j < w; j++) {
        size_t i = origin - w + j;
        int64_t t = i < end ? history->t[i]
                            : history->t[end - 1] + (int64_t)(i - end + 1) * m->step_s;
        float value = path_value(m, run, history, end, b, i);

        /* As in cdnopt__model_features(): step i carries the value one day before i + 1. */
        float lag_value = i + 1 >= lag ? path_value(m, run, history, end, b, i + 1 - lag)
                                       : value;
        cdnopt__model_feature_row(m, t, value, lag_value, xw + j * f);
    }
}

/*
 * Step both LSTMs through the windows in run->x: n_x = 1 window shared by all paths
 * (the first block; nothing random precedes lstm1, so it runs once) or one window per
 * path. Stepping keeps only [P, units] states, where a traced pass over P windows
 * would keep every step's gates. Leaves each path's last lstm2 state in run->h2.
 */
static int step_window(const cdnopt_model *m, cdnopt_scratch *scratch, direct_run *run,
                       size_t n_x)
{
    size_t w = (size_t)m->p.window;
    size_t f = (size_t)m->n_features;
    size_t h = (size_t)m->p.units;
    size_t n_paths = run->n_paths;
    float *states[] = {run->h1, run->c1, run->h2, run->c2};
    for (size_t i = 0; i < 4; i++)
        memset(states[i], 0, n_paths * h * sizeof *states[i]);

    const float *h1_shared = NULL;
    cdnopt_scratch_reset(scratch);
    if (n_x == 1) {
        cdnopt_trace *t1 = NULL;
        int rc = cdnopt_lstm_forward(m->lstm1, scratch, 1, w, run->x, &t1);
        if (rc != CDNOPT_OK)
            return rc;
        h1_shared = cdnopt_trace_output(t1);
    }

    cdnopt_scratch *step_scratch = NULL;
    int rc = cdnopt_scratch_new(n_paths * 8 * h * sizeof(float) + 4096, &step_scratch);
    for (size_t t = 0; t < w && rc == CDNOPT_OK; t++) {
        cdnopt_scratch_reset(step_scratch);
        if (h1_shared != NULL) {
            for (size_t b = 0; b < n_paths; b++)
                memcpy(run->d1 + b * h, h1_shared + t * h, h * sizeof *run->d1);
        } else {
            for (size_t b = 0; b < n_paths; b++)
                memcpy(run->x_step + b * f, run->x + (b * w + t) * f, f * sizeof *run->x_step);
            rc = cdnopt_lstm_step(m->lstm1, step_scratch, n_paths, run->x_step, run->h1, run->c1);
            memcpy(run->d1, run->h1, n_paths * h * sizeof *run->d1);
        }
        if (rc == CDNOPT_OK && run->mask1 != NULL)
            cdnopt_dropout_apply(run->mask1, n_paths, 1, h, run->d1, run->d1);
        if (rc == CDNOPT_OK)
            rc = cdnopt_lstm_step(m->lstm2, step_scratch, n_paths, run->d1, run->h2, run->c2);
    }
    cdnopt_scratch_free(step_scratch);
    return rc;
}

/* Forecast one block for every path (see step_window for n_x) and write block_index's
 * n_out steps of each path. */
static int run_block(const cdnopt_model *m, cdnopt_scratch *scratch, direct_run *run, size_t n_x,
                     size_t block_index)
{
    size_t h = (size_t)m->p.units;
    size_t n_out = (size_t)m->n_out;
    size_t window_size = (size_t)m->p.window * (size_t)m->n_features;
    size_t n_paths = run->n_paths;
    int rc = step_window(m, scratch, run, n_x);
    if (rc != CDNOPT_OK)
        return rc;

    float *d2 = cdnopt_scratch_floats(scratch, n_paths * h);
    if (d2 == NULL)
        return CDNOPT_ENOMEM;
    memcpy(d2, run->h2, n_paths * h * sizeof *d2);
    if (run->mask2 != NULL)
        cdnopt_dropout_apply(run->mask2, n_paths, 1, h, d2, d2);
    cdnopt_trace *t3 = NULL;
    rc = cdnopt_dense_forward(m->head, scratch, n_paths, d2, &t3);
    if (rc != CDNOPT_OK)
        return rc;

    const float *out = cdnopt_trace_output(t3);
    for (size_t b = 0; b < n_paths; b++) {
        const float *xw = run->x + (n_x == 1 ? 0 : b) * window_size;
        float *dst = run->path + b * run->n_steps + block_index * n_out;
        for (size_t k = 0; k < n_out; k++)
            dst[k] = out[b * n_out + k] + base_value(m, xw, k);
    }
    return CDNOPT_OK;
}

int cdnopt__direct_sample(const cdnopt_model *m, const cdnopt_series *history, size_t end,
                          int horizon, int n_samples, uint64_t seed, double *samples)
{
    size_t n_paths = n_samples > 0 ? (size_t)n_samples : 1;
    bool dropout = n_samples > 0 && m->p.dropout > 0.0f;
    direct_run run;
    cdnopt_scratch *scratch = NULL;
    int rc = run_init(&run, m, n_paths, horizon, dropout);
    if (rc == CDNOPT_OK)
        rc = cdnopt_scratch_new(0, &scratch);
    if (rc == CDNOPT_OK && dropout)
        cdnopt__model_draw_masks(m, n_paths, seed, run.mask1, run.mask2);

    /* The first block's window is observed and the same for every path. */
    size_t n_out = (size_t)m->n_out;
    if (rc == CDNOPT_OK) {
        cdnopt__model_features(m, history, end - (size_t)m->p.window, (size_t)m->p.window, run.x);
        rc = run_block(m, scratch, &run, 1, 0);
    }
    for (size_t blk = 1; blk * n_out < (size_t)horizon && rc == CDNOPT_OK; blk++) {
        for (size_t b = 0; b < n_paths; b++)
            fill_window(m, &run, history, end, end + blk * n_out, b);
        rc = run_block(m, scratch, &run, n_paths, blk);
    }

    if (rc == CDNOPT_OK)
        for (size_t b = 0; b < n_paths; b++)
            for (size_t k = 0; k < (size_t)horizon; k++)
                samples[b * (size_t)horizon + k] =
                    cdnopt__model_unscale(m, run.path[b * run.n_steps + k]);
    cdnopt_scratch_free(scratch);
    cdnopt_free(run.block);
    return rc;
}

/*
 * Rationale for shrinking the correction: the trained head adds a correction c to its
 * base, and the forecast base + a c is scored on the validation windows for the a in
 * [0, 1] that minimises the squared error, which has the closed form
 *     a = sum c (y - base) / sum c^2.
 * a = 0 keeps the base (seasonal naive, for example) when the network does not help;
 * 0 < a < 1 blends the two. Scaling the head's kernel and bias by a applies it.
 */
int cdnopt__direct_shrink(cdnopt_model *m, const float *rows, const float *targets,
                          size_t val_start, size_t n_val, cdnopt_scratch *scratch,
                          double *val_loss)
{
    enum { BATCH = 64 };
    size_t n_out = (size_t)m->n_out;
    size_t window_size = (size_t)m->p.window * (size_t)m->n_features;
    size_t ends[BATCH];
    float *x = cdnopt_malloc(BATCH * window_size * sizeof *x);
    if (x == NULL)
        return CDNOPT_ENOMEM;

    double s_cc = 0.0, s_cr = 0.0, s_rr = 0.0;
    int rc = CDNOPT_OK;
    for (size_t start = 0; start < n_val && rc == CDNOPT_OK; start += BATCH) {
        size_t n_batch = n_val - start < BATCH ? n_val - start : BATCH;
        for (size_t b = 0; b < n_batch; b++)
            ends[b] = val_start + start + b;
        cdnopt_scratch_reset(scratch);
        cdnopt__model_gather(m, rows, ends, n_batch, x);
        model_pass pass;
        rc = cdnopt__model_forward(m, scratch, n_batch, x, NULL, NULL, &pass);
        for (size_t b = 0; b < n_batch && rc == CDNOPT_OK; b++)
            for (size_t k = 0; k < n_out; k++) {
                double base = (double)base_value(m, x + b * window_size, k);
                double c = (double)pass.pred[b * n_out + k] - base;
                double r = (double)targets[ends[b] + k] - base;
                s_cc += c * c;
                s_cr += c * r;
                s_rr += r * r;
            }
    }
    cdnopt_free(x);
    if (rc != CDNOPT_OK)
        return rc;

    double a = s_cc > 0.0 ? s_cr / s_cc : 0.0;
    a = a < 0.0 ? 0.0 : (a > 1.0 ? 1.0 : a);
    const char *names[] = {"dense/kernel", "dense/bias"};
    for (size_t i = 0; i < 2; i++) {
        cdnopt_param_tensor t;
        if (cdnopt_params_find(m->ps, names[i], &t) != CDNOPT_OK)
            return CDNOPT_ENOTFOUND;
        float *w = cdnopt_params_values(m->ps) + t.offset;
        for (size_t j = 0; j < t.n_rows * t.n_cols; j++)
            w[j] = (float)(a * (double)w[j]);
    }
    m->info.shrink = a;
    *val_loss = (s_rr - 2.0 * a * s_cr + a * a * s_cc) / ((double)n_val * (double)n_out);
    return CDNOPT_OK;
}
