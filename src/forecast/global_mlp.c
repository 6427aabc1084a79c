/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Training and forecasting of the global MLP (see cdnopt/global_mlp.h): the network,
 * one member's training loop with early stopping, the median of the members and the
 * calibration of the bounds on the held-out steps.
 */
#include "global_mlp-impl.h"
#include "stats-impl.h"

#include "cdnopt/core.h"
#include "cdnopt/nn.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Hidden layers plus the output layer. */
#define MAX_LAYERS 9

/* ------------------------------------------------------------------------- */
/* Network                                                                   */
/* ------------------------------------------------------------------------- */

typedef struct mlp_net {
    cdnopt_params *ps;
    cdnopt_dense *layers[MAX_LAYERS];
    size_t n_layers;
    size_t window; /* inputs */
} mlp_net;

static void net_free(mlp_net *net)
{
    for (size_t l = 0; l < net->n_layers; l++)
        cdnopt_dense_free(net->layers[l]);
    cdnopt_params_free(net->ps);
}

/* Build ReLU layers of p->hidden units and a linear output layer of p->horizon units
 * whose kernel starts at zero, so that the first forecast is the seasonal base. */
static int net_init(mlp_net *net, const cdnopt_global_mlp_params *p, size_t window,
                    uint64_t seed)
{
    memset(net, 0, sizeof *net);
    net->window = window;
    int rc = cdnopt_params_new(&net->ps);
    cdnopt_rng rng;
    cdnopt_rng_seed(&rng, seed);

    size_t n_in = window;
    for (int l = 0; l <= p->n_hidden_layers && rc == CDNOPT_OK; l++) {
        bool is_output = l == p->n_hidden_layers;
        char name[32];
        snprintf(name, sizeof name, is_output ? "out" : "hidden%d", l);
        cdnopt_dense_params dp = cdnopt_dense_params_default();
        dp.n_in = n_in;
        dp.n_out = is_output ? (size_t)p->horizon : (size_t)p->hidden;
        dp.act = is_output ? CDNOPT_ACT_LINEAR : CDNOPT_ACT_RELU;
        dp.name = name;
        rc = cdnopt_dense_new(net->ps, &dp, &rng, &net->layers[net->n_layers]);
        if (rc == CDNOPT_OK)
            net->n_layers++;
        n_in = dp.n_out;
    }

    cdnopt_param_tensor kernel;
    if (rc == CDNOPT_OK)
        rc = cdnopt_params_find(net->ps, "out/kernel", &kernel);
    if (rc == CDNOPT_OK)
        memset(cdnopt_params_values(net->ps) + kernel.offset, 0,
               kernel.n_rows * kernel.n_cols * sizeof(float));
    return rc;
}

/* Run the forward pass of n_rows windows x. traces[l] receives layer l's trace. */
static int net_forward(const mlp_net *net, cdnopt_scratch *scratch, size_t n_rows,
                       const float *x, cdnopt_trace **traces, const float **out)
{
    const float *input = x;
    for (size_t l = 0; l < net->n_layers; l++) {
        int rc = cdnopt_dense_forward(net->layers[l], scratch, n_rows, input, &traces[l]);
        if (rc != CDNOPT_OK)
            return rc;
        input = cdnopt_trace_output(traces[l]);
    }
    *out = input;
    return CDNOPT_OK;
}

/* Add the gradients of the pass in traces for output gradient dy. */
static int net_backward(const mlp_net *net, cdnopt_scratch *scratch, cdnopt_trace *const *traces,
                        const float *dy)
{
    const float *grad = dy;
    for (size_t l = net->n_layers; l-- > 0;) {
        float *dx = NULL;
        int rc = cdnopt_dense_backward(net->layers[l], scratch, traces[l], grad,
                                       l > 0 ? &dx : NULL);
        if (rc != CDNOPT_OK)
            return rc;
        grad = dx;
    }
    return CDNOPT_OK;
}

/* ------------------------------------------------------------------------- */
/* Batches                                                                   */
/* ------------------------------------------------------------------------- */

/* A batch of examples in one heap block. */
typedef struct mlp_batch {
    size_t capacity;
    float *x;         /* [capacity, window] */
    float *actual;    /* [capacity, horizon] targets in units of the level */
    float *base_norm; /* [capacity, horizon] seasonal base in units of the level */
    float *weight;    /* [capacity, horizon] level / the window's MASE scale */
    double *base;     /* [capacity, horizon] seasonal base, series units */
    double *level;    /* [capacity] */
    void *block;
} mlp_batch;

static int batch_init(mlp_batch *b, size_t capacity, size_t window, size_t horizon)
{
    size_t n_doubles = capacity * (horizon + 1);
    size_t n_floats = capacity * (window + 3 * horizon);
    b->capacity = capacity;
    b->block = cdnopt_malloc(n_doubles * sizeof(double) + n_floats * sizeof(float));
    if (b->block == NULL)
        return CDNOPT_ENOMEM;
    b->base = b->block;
    b->level = b->base + capacity * horizon;
    b->x = (float *)(b->level + capacity);
    b->actual = b->x + capacity * window;
    b->base_norm = b->actual + capacity * horizon;
    b->weight = b->base_norm + capacity * horizon;
    return CDNOPT_OK;
}

/* Fill row r of the batch for an origin of series i; targets only when with_target. */
static void batch_fill(mlp_batch *b, size_t r, const cdnopt_global_mlp_params *p, size_t window,
                       const mlp_data *d, size_t i, size_t origin, bool with_target)
{
    size_t horizon = (size_t)p->horizon;
    mlp_example ex = {
        .x = b->x + r * window,
        .actual = with_target ? b->actual + r * horizon : NULL,
        .base = b->base + r * horizon,
    };
    cdnopt__global_mlp_example(p, window, d->values[i], d->length[i], origin, &ex);
    b->level[r] = ex.level;

    /* The MASE scale of the window's observed values, or their mean |v| when they
     * span no more than one period. */
    size_t first = origin > window ? origin - window : 0;
    double scale = cdnopt__global_mlp_scale(d->values[i] + first, origin - first,
                                            (size_t)p->period);
    for (size_t k = 0; k < horizon; k++) {
        b->base_norm[r * horizon + k] = (float)(ex.base[k] / ex.level);
        b->weight[r * horizon + k] = (float)(ex.level / scale);
    }
}

/*
 * Loss of the first n rows of the batch for the network's corrections c [n, horizon]:
 * the forecast is base_norm + c. Writes the forecasts into pred and, when grad is not
 * NULL, the loss's gradient by c (equal to that by the forecast) into grad.
 */
static double batch_loss(const cdnopt_global_mlp_params *p, const mlp_batch *b, size_t n,
                         const float *c, float *pred, float *grad)
{
    size_t count = n * (size_t)p->horizon;
    for (size_t j = 0; j < count; j++)
        pred[j] = b->base_norm[j] + c[j];
    if (p->loss == CDNOPT_GLOBAL_MLP_LOSS_MAE)
        return cdnopt_global_mlp_mae(pred, b->actual, count, grad);
    if (p->loss == CDNOPT_GLOBAL_MLP_LOSS_RELATIVE)
        return cdnopt_global_mlp_relative_mae(pred, b->base_norm, b->actual, b->weight, count,
                                              grad);
    return cdnopt_global_mlp_smape(pred, b->actual, count, grad);
}

/* ------------------------------------------------------------------------- */
/* One member                                                                */
/* ------------------------------------------------------------------------- */

typedef struct member {
    const cdnopt_global_mlp_params *p;
    const mlp_data *d;
    size_t window;
    mlp_net net;
    cdnopt_adam *adam;
    cdnopt_scratch *scratch;
    mlp_batch batch;
    size_t *train_series; /* series with at least one training origin */
    size_t n_train_series;
    float *best;          /* weights of the best epoch */
    cdnopt_rng rng;
} member;

static void member_free(member *mb)
{
    net_free(&mb->net);
    cdnopt_adam_free(mb->adam);
    cdnopt_scratch_free(mb->scratch);
    cdnopt_free(mb->batch.block);
    cdnopt_free(mb->train_series);
    cdnopt_free(mb->best);
}

/* Last training origin of series i: its targets end before the held-out steps. */
static size_t last_origin(const member *mb, size_t i)
{
    size_t fit_n = mb->d->length[i] - mb->d->fit_end_offset;
    size_t horizon = (size_t)mb->p->horizon;
    return fit_n >= horizon ? fit_n - horizon : 0;
}

/* First training origin: a whole window of real values where the series allows. */
static size_t first_origin(const member *mb, size_t i)
{
    size_t last = last_origin(mb, i);
    size_t first = mb->window < last ? mb->window : last;
    return first > (size_t)mb->p->period ? first : (size_t)mb->p->period;
}

static int member_init(member *mb, const cdnopt_global_mlp_params *p, const mlp_data *d,
                       size_t window, uint64_t seed)
{
    memset(mb, 0, sizeof *mb);
    mb->p = p;
    mb->d = d;
    mb->window = window;
    cdnopt_rng_seed(&mb->rng, seed ^ 0x9e3779b97f4a7c15u);
    int rc = net_init(&mb->net, p, window, seed);

    cdnopt_adam_params ap = cdnopt_adam_params_default();
    ap.lr = p->lr;
    size_t n_params = rc == CDNOPT_OK ? cdnopt_params_count(mb->net.ps) : 1;
    if (rc == CDNOPT_OK)
        rc = cdnopt_adam_new(&ap, n_params, &mb->adam);
    if (rc == CDNOPT_OK)
        rc = cdnopt_scratch_new(0, &mb->scratch);
    if (rc == CDNOPT_OK)
        rc = batch_init(&mb->batch, (size_t)p->batch, window, (size_t)p->horizon);
    mb->best = cdnopt_malloc(n_params * sizeof *mb->best);
    mb->train_series = cdnopt_malloc(d->n_series * sizeof *mb->train_series);
    if (rc == CDNOPT_OK && (mb->best == NULL || mb->train_series == NULL))
        rc = CDNOPT_ENOMEM;
    for (size_t i = 0; i < d->n_series && rc == CDNOPT_OK; i++)
        if (last_origin(mb, i) >= (size_t)p->period)
            mb->train_series[mb->n_train_series++] = i;
    return rc;
}

/* One gradient step on a batch of n random windows; adds n times the batch's loss to
 * *loss_sum. */
static int train_step(member *mb, size_t n, double *loss_sum)
{
    const cdnopt_global_mlp_params *p = mb->p;
    size_t horizon = (size_t)p->horizon;
    for (size_t r = 0; r < n; r++) {
        size_t i = mb->train_series[cdnopt_rng_below(&mb->rng, mb->n_train_series)];
        size_t first = first_origin(mb, i);
        size_t origin = first + (size_t)cdnopt_rng_below(&mb->rng, last_origin(mb, i) - first + 1);
        batch_fill(&mb->batch, r, p, mb->window, mb->d, i, origin, true);
    }

    cdnopt_scratch_reset(mb->scratch);
    cdnopt_params_zero_grads(mb->net.ps);
    cdnopt_trace *traces[MAX_LAYERS];
    const float *correction = NULL;
    int rc = net_forward(&mb->net, mb->scratch, n, mb->batch.x, traces, &correction);
    float *dy = rc == CDNOPT_OK ? cdnopt_scratch_floats(mb->scratch, n * horizon) : NULL;
    float *pred = rc == CDNOPT_OK ? cdnopt_scratch_floats(mb->scratch, n * horizon) : NULL;
    if (rc == CDNOPT_OK && (dy == NULL || pred == NULL))
        rc = CDNOPT_ENOMEM;
    if (rc != CDNOPT_OK)
        return rc;

    double loss = batch_loss(p, &mb->batch, n, correction, pred, dy);
    if (!isfinite(loss))
        return CDNOPT_ENUMERIC;
    *loss_sum += loss * (double)n;
    rc = net_backward(&mb->net, mb->scratch, traces, dy);
    return rc == CDNOPT_OK ? cdnopt_adam_step(mb->adam, mb->net.ps) : rc;
}

/*
 * Forecast every series from origin length - offset into fc [n_series, horizon], in
 * series units. With offset > 0 the targets are known, and *loss receives the
 * training loss over all series.
 */
static int member_predict(member *mb, size_t offset, double *fc, double *loss)
{
    const cdnopt_global_mlp_params *p = mb->p;
    const mlp_data *d = mb->d;
    size_t horizon = (size_t)p->horizon;
    bool with_target = offset > 0;
    double loss_sum = 0.0;
    for (size_t start = 0; start < d->n_series; start += mb->batch.capacity) {
        size_t n = d->n_series - start;
        n = n < mb->batch.capacity ? n : mb->batch.capacity;
        for (size_t r = 0; r < n; r++)
            batch_fill(&mb->batch, r, p, mb->window, d, start + r,
                       d->length[start + r] - offset, with_target);

        cdnopt_scratch_reset(mb->scratch);
        cdnopt_trace *traces[MAX_LAYERS];
        const float *correction = NULL;
        int rc = net_forward(&mb->net, mb->scratch, n, mb->batch.x, traces, &correction);
        float *pred = rc == CDNOPT_OK ? cdnopt_scratch_floats(mb->scratch, n * horizon) : NULL;
        if (rc == CDNOPT_OK && pred == NULL)
            rc = CDNOPT_ENOMEM;
        if (rc != CDNOPT_OK)
            return rc;
        if (with_target)
            loss_sum += batch_loss(p, &mb->batch, n, correction, pred, NULL) * (double)n;
        for (size_t r = 0; r < n; r++)
            for (size_t k = 0; k < horizon; k++)
                fc[(start + r) * horizon + k] =
                    mb->batch.base[r * horizon + k] +
                    mb->batch.level[r] * (double)correction[r * horizon + k];
    }
    if (loss != NULL)
        *loss = with_target ? loss_sum / (double)d->n_series : NAN;
    return CDNOPT_OK;
}

/* One epoch of p->windows_per_epoch random windows; *loss receives their mean loss. */
static int train_epoch(member *mb, double *loss)
{
    double loss_sum = 0.0;
    size_t n_total = (size_t)mb->p->windows_per_epoch;
    for (size_t done = 0; done < n_total; done += mb->batch.capacity) {
        size_t n = n_total - done < mb->batch.capacity ? n_total - done : mb->batch.capacity;
        int rc = train_step(mb, n, &loss_sum);
        if (rc != CDNOPT_OK)
            return rc;
    }
    *loss = loss_sum / (double)n_total;
    return CDNOPT_OK;
}

static void report_epoch(cdnopt_epoch_cb cb, void *user, const member *mb, int epoch,
                         double train_loss, double val_loss, double start_s)
{
    if (cb == NULL)
        return;
    cdnopt_epoch_report report = {
        .epoch = epoch,
        .train_loss = train_loss,
        .val_loss = val_loss,
        .seconds = cdnopt_clock_s() - start_s,
        .n_windows = mb->p->windows_per_epoch,
    };
    cb(&report, user);
}

/*
 * Train until the validation loss has not improved for p->patience epochs, halving
 * the learning rate after every p->lr_plateau epochs without improvement, then keep
 * the best epoch's weights. The validation block is the horizon right after the
 * training targets end. lr_used[e] receives the rate of epoch e + 1 and *n_best the
 * number of the best epoch, so that a refit can replay the schedule. val_fc
 * [n_series, horizon] is work space.
 */
static int member_fit(member *mb, cdnopt_epoch_cb cb, void *user, double *val_fc,
                      float *lr_used, int *n_best)
{
    const cdnopt_global_mlp_params *p = mb->p;
    size_t n_params = cdnopt_params_count(mb->net.ps);
    double best_loss = INFINITY;
    float lr = p->lr;
    int since_best = 0;
    for (int epoch = 1; epoch <= p->epochs && since_best < p->patience; epoch++) {
        double start_s = cdnopt_clock_s();
        double train_loss = NAN, val_loss = NAN;
        lr_used[epoch - 1] = lr;
        cdnopt_adam_set_lr(mb->adam, lr);
        int rc = train_epoch(mb, &train_loss);
        if (rc == CDNOPT_OK)
            rc = member_predict(mb, mb->d->fit_end_offset, val_fc, &val_loss);
        if (rc != CDNOPT_OK)
            return rc;

        if (val_loss < best_loss) {
            best_loss = val_loss;
            since_best = 0;
            *n_best = epoch;
            memcpy(mb->best, cdnopt_params_values(mb->net.ps), n_params * sizeof *mb->best);
        } else {
            since_best++;
            if (p->lr_plateau > 0 && since_best % p->lr_plateau == 0)
                lr *= 0.5f;
        }
        report_epoch(cb, user, mb, epoch, train_loss, val_loss, start_s);
    }
    memcpy(cdnopt_params_values(mb->net.ps), mb->best, n_params * sizeof *mb->best);
    return CDNOPT_OK;
}

/* Train a fresh member on every step for n_epochs epochs at the rates in lr_used. */
static int member_refit(member *mb, cdnopt_epoch_cb cb, void *user, const float *lr_used,
                        int n_epochs)
{
    for (int epoch = 1; epoch <= n_epochs; epoch++) {
        double start_s = cdnopt_clock_s();
        double train_loss = NAN;
        cdnopt_adam_set_lr(mb->adam, lr_used[epoch - 1]);
        int rc = train_epoch(mb, &train_loss);
        if (rc != CDNOPT_OK)
            return rc;
        report_epoch(cb, user, mb, epoch, train_loss, NAN, start_s);
    }
    return CDNOPT_OK;
}

/* ------------------------------------------------------------------------- */
/* Ensemble                                                                  */
/* ------------------------------------------------------------------------- */

/* Element-wise median of n_members arrays of n values laid end to end in all. */
static int median_of_members(const double *all, size_t n_members, size_t n, double *out)
{
    double *column = cdnopt_malloc(n_members * sizeof *column);
    if (column == NULL)
        return CDNOPT_ENOMEM;
    for (size_t j = 0; j < n; j++) {
        for (size_t m = 0; m < n_members; m++)
            column[m] = all[m * n + j];
        out[j] = cdnopt__quantile_select(column, n_members, 0.5);
    }
    cdnopt_free(column);
    return CDNOPT_OK;
}

/*
 * Train member j on d and write its forecasts of the two held-out blocks into
 * held_out_fc [2, n_series, horizon] and those after the end into fc. Block 0 is the
 * validation block that stopped training, and block 1 the last horizon of every
 * series. With p->refit the final forecasts come from a second network trained on
 * every step, held-out ones included, for as many epochs as the first one's best.
 */
static int run_member(const cdnopt_global_mlp_params *p, const mlp_data *d, int j,
                      cdnopt_epoch_cb cb, void *user, double *held_out_fc, double *fc)
{
    member mb;
    size_t window = (size_t)p->windows[j % p->n_windows];
    size_t horizon = (size_t)p->horizon;
    double *validation_fc = held_out_fc;
    double *calib_fc = held_out_fc + d->n_series * horizon;
    uint64_t seed = p->seed + (uint64_t)j;
    float *lr_used = cdnopt_malloc((size_t)p->epochs * sizeof *lr_used);
    int n_best = 0;
    int rc = member_init(&mb, p, d, window, seed);
    if (rc == CDNOPT_OK && lr_used == NULL)
        rc = CDNOPT_ENOMEM;
    if (rc == CDNOPT_OK && mb.n_train_series == 0)
        rc = CDNOPT_EINVAL;
    if (rc == CDNOPT_OK)
        rc = member_fit(&mb, cb, user, calib_fc, lr_used, &n_best);

    /* Forecast both held-out blocks with the kept weights of the best epoch. */
    if (rc == CDNOPT_OK)
        rc = member_predict(&mb, 2 * horizon, validation_fc, NULL);
    if (rc == CDNOPT_OK)
        rc = member_predict(&mb, horizon, calib_fc, NULL);
    if (rc == CDNOPT_OK && !p->refit)
        rc = member_predict(&mb, 0, fc, NULL);
    member_free(&mb);
    if (rc != CDNOPT_OK || !p->refit) {
        cdnopt_free(lr_used);
        return rc;
    }

    mlp_data all = *d;
    all.fit_end_offset = 0;
    rc = member_init(&mb, p, &all, window, seed);
    if (rc == CDNOPT_OK)
        rc = member_refit(&mb, cb, user, lr_used, n_best);
    if (rc == CDNOPT_OK)
        rc = member_predict(&mb, 0, fc, NULL);
    member_free(&mb);
    cdnopt_free(lr_used);
    return rc;
}

/* Write the absolute errors of the forecasts fc [n_series, horizon] of held-out block
 * `block` into errors [horizon, n_series]. Block 0 is the second-last horizon of every
 * series and block 1 the last. Each error is divided by the series' MASE scale over
 * the values before the block. */
static void block_errors(const cdnopt_global_mlp_params *p, const mlp_data *d, size_t block,
                         const double *fc, double *errors)
{
    size_t h = (size_t)p->horizon;
    for (size_t i = 0; i < d->n_series; i++) {
        size_t origin = d->length[i] - (2 - block) * h;
        double scale = cdnopt__global_mlp_scale(d->values[i], origin, (size_t)p->period);
        for (size_t k = 0; k < h; k++)
            errors[k * d->n_series + i] = fabs(d->values[i][origin + k] - fc[i * h + k]) / scale;
    }
}

int cdnopt__global_mlp_calibrate(const cdnopt_global_mlp_params *p, const mlp_data *d,
                                 const double *held_out_fc, const double *fc, double *lower,
                                 double *upper)
{
    size_t h = (size_t)p->horizon;
    size_t n = d->n_series;
    size_t reach = (size_t)p->calib_steps_pooled;
    double *errors = cdnopt_malloc(2 * n * h * sizeof *errors);
    double *pool = cdnopt_malloc(2 * n * h * sizeof *pool);
    if (errors == NULL || pool == NULL) {
        cdnopt_free(errors);
        cdnopt_free(pool);
        return CDNOPT_ENOMEM;
    }
    for (size_t block = 0; block < 2; block++)
        block_errors(p, d, block, held_out_fc + block * n * h, errors + block * n * h);

    for (size_t k = 0; k < h; k++) {
        size_t first = k > reach ? k - reach : 0;
        size_t end = k + reach + 1 < h ? k + reach + 1 : h;
        size_t n_block = (end - first) * n;
        for (size_t block = 0; block < 2; block++)
            memcpy(pool + block * n_block, errors + block * n * h + first * n,
                   n_block * sizeof *pool);
        double half_width = cdnopt__quantile_select(pool, 2 * n_block, p->level);
        for (size_t i = 0; i < n; i++) {
            double scale = cdnopt__global_mlp_scale(d->values[i], d->length[i],
                                                    (size_t)p->period);
            lower[i * h + k] = fc[i * h + k] - half_width * scale;
            upper[i * h + k] = fc[i * h + k] + half_width * scale;
        }
    }
    cdnopt_free(errors);
    cdnopt_free(pool);
    return CDNOPT_OK;
}

/* ------------------------------------------------------------------------- */
/* M4 sets                                                                   */
/* ------------------------------------------------------------------------- */

static int check_params(const cdnopt_global_mlp_params *p, char *err)
{
    if (p->n_windows < 1 || p->n_windows > CDNOPT_GLOBAL_MLP_MAX_WINDOWS)
        return cdnopt_fail(err, CDNOPT_EINVAL, "global mlp: %d window lengths; give 1 to %d",
                           p->n_windows, CDNOPT_GLOBAL_MLP_MAX_WINDOWS);
    for (int j = 0; j < p->n_windows; j++)
        if (p->windows[j] < 1)
            return cdnopt_fail(err, CDNOPT_EINVAL, "global mlp: window %d steps; give >= 1",
                               p->windows[j]);
    if (p->horizon < 1 || p->period < 1 || p->level_steps < 1 || p->hidden < 1 ||
        p->members < 1 || p->epochs < 1 || p->windows_per_epoch < 1 || p->batch < 1 ||
        p->patience < 1 || p->calib_steps_pooled < 0)
        return cdnopt_fail(err, CDNOPT_EINVAL, "global mlp: horizon, period, level_steps, "
                           "hidden, members, epochs, windows_per_epoch, batch and patience "
                           "must all be >= 1, and calib_steps_pooled >= 0");
    if (p->n_hidden_layers < 0 || p->n_hidden_layers >= MAX_LAYERS)
        return cdnopt_fail(err, CDNOPT_EINVAL, "global mlp: %d hidden layers; give 0 to %d",
                           p->n_hidden_layers, MAX_LAYERS - 1);
    if (!(p->lr > 0.0f) || !(p->level > 0.0 && p->level < 1.0))
        return cdnopt_fail(err, CDNOPT_EINVAL, "global mlp: learning rate %g must be > 0 and "
                           "level %g in (0, 1)", (double)p->lr, p->level);
    return CDNOPT_OK;
}

static int check_set(const cdnopt_m4_set *set, const cdnopt_global_mlp_params *p, char *err)
{
    size_t need = (size_t)p->period + 2 * (size_t)p->horizon;
    for (size_t i = 0; i < set->n_series; i++)
        if (set->length[i] < need)
            return cdnopt_fail(err, CDNOPT_EINVAL,
                               "series %s has %zu values but the global mlp needs at least "
                               "%zu (one period of %d and two held-out horizons of %d); "
                               "shorten the horizon or drop the series",
                               set->ids[i], set->length[i], need, p->period, p->horizon);
    if (set->n_series == 0)
        return cdnopt_fail(err, CDNOPT_EINVAL, "the set has no series to train on");
    return CDNOPT_OK;
}

/* Wrap the three [n_series, h] arrays into the sets of out, with the ids of set. */
static int forecasts_from_arrays(const cdnopt_m4_set *set, size_t h, const double *mean,
                                 const double *lower, const double *upper,
                                 cdnopt_m4_forecasts *out)
{
    out->horizon = h;
    cdnopt_m4_set **targets[] = {&out->mean, &out->lower, &out->upper};
    const double *sources[] = {mean, lower, upper};
    for (size_t s = 0; s < 3; s++) {
        *targets[s] = cdnopt__m4_set_new(set->n_series, NULL);
        if (*targets[s] == NULL)
            return CDNOPT_ENOMEM;
        for (size_t i = 0; i < set->n_series; i++) {
            int rc = cdnopt__m4_set_append(*targets[s], set->ids[i], sources[s] + i * h, h,
                                           i + 2);
            if (rc != CDNOPT_OK)
                return rc;
        }
    }
    return CDNOPT_OK;
}

/* Train every member and write the median forecasts and calibrated bounds. */
static int run_ensemble(const cdnopt_global_mlp_params *p, const mlp_data *d, cdnopt_epoch_cb cb,
                        void *user, double *mean, double *lower, double *upper, char *err)
{
    size_t n = d->n_series * (size_t)p->horizon;
    size_t n_held_out = 2 * n;
    size_t n_members = (size_t)p->members;
    double *held_out_all = cdnopt_malloc(n_members * n_held_out * sizeof *held_out_all);
    double *fc_all = cdnopt_malloc(n_members * n * sizeof *fc_all);
    double *held_out_median = cdnopt_malloc(n_held_out * sizeof *held_out_median);
    int rc = CDNOPT_OK;
    if (held_out_all == NULL || fc_all == NULL || held_out_median == NULL)
        rc = CDNOPT_ENOMEM;
    for (size_t j = 0; j < n_members && rc == CDNOPT_OK; j++) {
        rc = run_member(p, d, (int)j, cb, user, held_out_all + j * n_held_out, fc_all + j * n);
        if (rc == CDNOPT_EINVAL)
            cdnopt_fail(err, rc, "no series is long enough to train on");
        else if (rc != CDNOPT_OK)
            cdnopt_fail(err, rc, "training member %zu of the global mlp failed: %s", j + 1,
                        cdnopt_strerror(rc));
    }
    if (rc == CDNOPT_OK)
        rc = median_of_members(held_out_all, n_members, n_held_out, held_out_median);
    if (rc == CDNOPT_OK)
        rc = median_of_members(fc_all, n_members, n, mean);
    if (rc == CDNOPT_OK)
        rc = cdnopt__global_mlp_calibrate(p, d, held_out_median, mean, lower, upper);
    cdnopt_free(held_out_all);
    cdnopt_free(fc_all);
    cdnopt_free(held_out_median);
    return rc;
}

int cdnopt_global_mlp_m4_forecast(const cdnopt_m4_set *in_sample,
                                  const cdnopt_global_mlp_params *p, cdnopt_epoch_cb cb,
                                  void *user, cdnopt_m4_forecasts *out, char *err)
{
    memset(out, 0, sizeof *out);
    int rc = check_params(p, err);
    if (rc == CDNOPT_OK)
        rc = check_set(in_sample, p, err);
    if (rc != CDNOPT_OK)
        return rc;

    mlp_data d = {
        .n_series = in_sample->n_series,
        .values = (const double *const *)in_sample->values,
        .length = in_sample->length,
        .fit_end_offset = 2 * (size_t)p->horizon,
    };
    size_t n = d.n_series * (size_t)p->horizon;
    double *block = cdnopt_malloc(3 * n * sizeof *block);
    if (block == NULL)
        return cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory for %zu forecasts", n);
    rc = run_ensemble(p, &d, cb, user, block, block + n, block + 2 * n, err);
    if (rc == CDNOPT_OK)
        rc = forecasts_from_arrays(in_sample, (size_t)p->horizon, block, block + n, block + 2 * n,
                                   out);
    if (rc == CDNOPT_ENOMEM)
        cdnopt_fail(err, rc, "out of memory building the forecasts of %zu series", d.n_series);
    if (rc != CDNOPT_OK)
        cdnopt_m4_forecasts_fini(out);
    cdnopt_free(block);
    return rc;
}
