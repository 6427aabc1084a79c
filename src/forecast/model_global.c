/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Global training: one cdnopt_model over many series. The scaled feature rows of all
 * series are laid end to end in one matrix, series after series. The model's batch
 * gather and its data-parallel gradients (model_shard.c) therefore work on it
 * unchanged. A window is named by the row of its target, and only rows whose whole
 * window lies inside the same series are ever drawn.
 */
#include "cdnopt/global.h"

#include "model-impl.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* Windows per forward pass of the validation loss (dropout off). */
#define VAL_BATCH 128

/* Maximum number of training threads, as in single-series training. */
#define MAX_SHARDS 8

cdnopt_global_params cdnopt_global_params_default(void)
{
    cdnopt_global_params gp = {
        .model = cdnopt_model_params_default(),
        .norm = CDNOPT_GLOBAL_NORM_MEAN,
        .sampling = CDNOPT_GLOBAL_SAMPLE_WINDOWS,
        .calib_steps = 48,
        .n_samples = 50,
        .level = 0.95,
        .seed = 1,
    };
    gp.model.calendar = false;
    return gp;
}

/* Mean absolute change over lag steps, 0 when the span is not longer than lag. */
static double mean_change(const double *v, size_t n, size_t lag)
{
    double sum = 0.0;
    for (size_t i = lag; i < n; i++)
        sum += fabs(v[i] - v[i - lag]);
    return n > lag ? sum / (double)(n - lag) : 0.0;
}

cdnopt_global_scaler cdnopt_global_scaler_fit(cdnopt_global_norm norm, int period, const double *v,
                                              size_t n)
{
    cdnopt_global_scaler s = {0.0, 1.0};
    if (n == 0)
        return s;

    if (norm == CDNOPT_GLOBAL_NORM_MINMAX) {
        double lo = v[0], hi = v[0];
        for (size_t i = 1; i < n; i++) {
            lo = fmin(lo, v[i]);
            hi = fmax(hi, v[i]);
        }
        s.offset = lo;
        if (hi - lo > 1e-12 * fmax(1.0, fabs(hi)))
            s.scale = hi - lo;
        return s;
    }
    if (norm == CDNOPT_GLOBAL_NORM_CHANGE) {
        double change = mean_change(v, n, period > 1 ? (size_t)period : 1);
        if (change > 0.0)
            s.scale = change;
        return s;
    }

    /* The mean of |v| keeps the sign of every value and is positive unless all are 0. */
    double sum = 0.0;
    for (size_t i = 0; i < n; i++)
        sum += fabs(v[i]);
    if (sum > 0.0)
        s.scale = sum / (double)n;
    return s;
}

double cdnopt_global_scale(const cdnopt_global_scaler *s, double v)
{
    return (v - s->offset) / s->scale;
}

double cdnopt_global_unscale(const cdnopt_global_scaler *s, double x)
{
    return s->offset + x * s->scale;
}

void cdnopt_global_to_model(const cdnopt_global_scaler *sc, int d, const double *v, size_t n,
                            double *out)
{
    size_t lag = (size_t)d;
    for (size_t i = lag; i < n; i++) {
        double x = cdnopt_global_scale(sc, v[i]);
        out[i - lag] = lag > 0 ? x - cdnopt_global_scale(sc, v[i - lag]) : x;
    }
}

void cdnopt_global_from_model(const cdnopt_global_scaler *sc, int d, const double *v, size_t end,
                              double *path, size_t h)
{
    size_t lag = (size_t)d;
    for (size_t k = 0; k < h; k++) {
        double x = path[k];

        /* The step one period back is observed, or an earlier step of this path. */
        if (lag > 0)
            x += k >= lag ? cdnopt_global_scale(sc, path[k - lag])
                          : cdnopt_global_scale(sc, v[end + k - lag]);
        path[k] = cdnopt_global_unscale(sc, x);
    }
}

int cdnopt_global_change_period(const cdnopt_model *m, const cdnopt_global_params *gp)
{
    if (gp->seasonal_diff > 0)
        return gp->seasonal_diff;
    return (int)(86400 / cdnopt_model_step_s(m));
}

/* ------------------------------------------------------------------------- */
/* Training data                                                             */
/* ------------------------------------------------------------------------- */

typedef struct global_trainer {
    cdnopt_model *m;
    const cdnopt_global_params *gp;
    size_t n_series;
    size_t *train_first, *train_end; /* per series: its training target rows [first, end) */
    size_t n_train;                  /* training windows over all series */
    size_t *train_rows;              /* every training target row, for uniform draws */
    size_t *val_rows;                /* every validation target row */
    size_t n_val;
    size_t *picks;                   /* target rows of the current epoch */
    size_t n_pick;
    float *rows;                     /* feature rows of all series, end to end */
    float *targets;                  /* scaled value of every row */
    float *x, *y;                    /* validation batch */
    float *mask1, *mask2;            /* training dropout masks */
    float *best;                     /* weights of the best epoch */
    cdnopt_scratch *scratch;         /* validation activations */
    model_shards *shards;
    cdnopt_adam *adam;
    cdnopt_rng rng;
} global_trainer;

static void trainer_free(global_trainer *tr)
{
    cdnopt_free(tr->train_first);
    cdnopt_free(tr->train_end);
    cdnopt_free(tr->train_rows);
    cdnopt_free(tr->val_rows);
    cdnopt_free(tr->picks);
    cdnopt_free(tr->rows);
    cdnopt_free(tr->targets);
    cdnopt_free(tr->x);
    cdnopt_free(tr->y);
    cdnopt_free(tr->mask1);
    cdnopt_free(tr->mask2);
    cdnopt_free(tr->best);
    cdnopt_scratch_free(tr->scratch);
    cdnopt__shards_free(tr->shards);
    cdnopt_adam_free(tr->adam);
}

/* Validation targets at the end of a training span of n steps. */
static size_t val_count(const cdnopt_model *m, size_t n)
{
    size_t n_val = (size_t)floor((double)m->p.val_fraction * (double)n + 0.5);
    if (m->p.val_fraction > 0.0f && n_val == 0)
        n_val = 1;
    return n_val;
}

/* Rows that a training span of n steps gives after differencing at period d. */
static size_t row_count(const global_trainer *tr, size_t n)
{
    size_t d = (size_t)tr->gp->seasonal_diff;
    return n > d ? n - d : 0;
}

static int check_one(const global_trainer *tr, const cdnopt_series *s, size_t n, char *err)
{
    const cdnopt_model *m = tr->m;
    size_t d = (size_t)tr->gp->seasonal_diff;
    size_t n_out = (size_t)m->n_out;
    size_t need = cdnopt__model_first_target(m) + n_out + val_count(m, row_count(tr, n)) + d;
    int rc = cdnopt__model_check_series(m, s, need, "training", err);
    if (rc != CDNOPT_OK)
        return rc;
    if (n < need || n > s->n)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "training series '%s' has a training span of %zu of its %zu steps "
                           "but needs at least %zu (window %d steps, %zu outputs, %zu "
                           "validation targets and %zu steps of differencing); supply longer "
                           "series or a shorter window",
                           s->name != NULL ? s->name : "(unnamed)", n, s->n, need, m->p.window,
                           n_out, val_count(m, row_count(tr, n)), d);
    return CDNOPT_OK;
}

/* Scale series i's training span with its own scaler and write its feature rows. */
static int fill_rows(global_trainer *tr, const cdnopt_series *s, size_t n, size_t offset)
{
    const cdnopt_model *m = tr->m;
    size_t d = (size_t)tr->gp->seasonal_diff;
    size_t n_rows = row_count(tr, n);
    double *scaled = cdnopt_malloc(n_rows * sizeof *scaled);
    if (scaled == NULL)
        return CDNOPT_ENOMEM;

    cdnopt_global_scaler sc = cdnopt_global_scaler_fit(tr->gp->norm,
                                                       cdnopt_global_change_period(m, tr->gp),
                                                       s->v, n);
    cdnopt_global_to_model(&sc, (int)d, s->v, n, scaled);
    for (size_t i = 0; i < n_rows; i++)
        tr->targets[offset + i] = (float)scaled[i];

    /* A view of the model values, which start d steps into the span. The model's own
     * scaler is the identity. */
    cdnopt_series view = {.n = n_rows, .step_s = s->step_s, .t = s->t + d, .v = scaled,
                          .name = s->name};
    cdnopt__model_features(m, &view, 0, n_rows, tr->rows + offset * (size_t)m->n_features);
    cdnopt_free(scaled);
    return CDNOPT_OK;
}

/* Lay out the rows of all series and list their training and validation targets. */
static int build_rows(global_trainer *tr, cdnopt_series *const *series, const size_t *train_n,
                      char *err)
{
    const cdnopt_model *m = tr->m;
    size_t total = 0, n_train = 0, n_val = 0;
    size_t first = cdnopt__model_first_target(m);

    /* A window's row names its first target, and the direct head's n_out targets
     * follow it. The last n_out - 1 rows of a span therefore start no window. */
    size_t n_out = (size_t)m->n_out;
    for (size_t i = 0; i < tr->n_series; i++) {
        size_t n = train_n != NULL ? train_n[i] : series[i]->n;
        int rc = check_one(tr, series[i], n, err);
        if (rc != CDNOPT_OK)
            return rc;
        n = row_count(tr, n);
        total += n;
        n_val += val_count(m, n);
        n_train += n - val_count(m, n) - first - n_out + 1;
    }

    size_t f = (size_t)m->n_features;
    tr->rows = cdnopt_malloc(total * f * sizeof *tr->rows);
    tr->targets = cdnopt_malloc(total * sizeof *tr->targets);
    tr->train_first = cdnopt_malloc(tr->n_series * sizeof *tr->train_first);
    tr->train_end = cdnopt_malloc(tr->n_series * sizeof *tr->train_end);
    tr->train_rows = cdnopt_malloc(n_train * sizeof *tr->train_rows);
    tr->val_rows = cdnopt_malloc((n_val > 0 ? n_val : 1) * sizeof *tr->val_rows);
    if (tr->rows == NULL || tr->targets == NULL || tr->train_first == NULL ||
        tr->train_end == NULL || tr->train_rows == NULL || tr->val_rows == NULL)
        return CDNOPT_ENOMEM;

    size_t offset = 0;
    for (size_t i = 0; i < tr->n_series; i++) {
        size_t n = train_n != NULL ? train_n[i] : series[i]->n;
        int rc = fill_rows(tr, series[i], n, offset);
        if (rc != CDNOPT_OK)
            return rc;
        n = row_count(tr, n);
        size_t val_first = offset + n - val_count(m, n);
        tr->train_first[i] = offset + first;
        tr->train_end[i] = val_first - n_out + 1;
        for (size_t r = offset + first; r < tr->train_end[i]; r++)
            tr->train_rows[tr->n_train++] = r;

        /* Validation windows score every target from val_first on; with the direct head
         * their first n_out - 1 targets also come from the training span. */
        for (size_t r = val_first - n_out + 1; r + n_out <= offset + n; r++)
            tr->val_rows[tr->n_val++] = r;
        offset += n;
    }
    return CDNOPT_OK;
}

/* Threads for data-parallel gradients, as cdnopt_model_fit() picks them. */
static int shard_count(const cdnopt_model *m)
{
    int n = openblas_get_num_threads();
    if (n > m->p.batch / 8)
        n = m->p.batch / 8;
    if (n > MAX_SHARDS)
        n = MAX_SHARDS;
    return n < 1 ? 1 : n;
}

static int trainer_init(global_trainer *tr, cdnopt_model *m, const cdnopt_global_params *gp,
                        cdnopt_series *const *series, size_t n_series, const size_t *train_n,
                        int n_shards, char *err)
{
    memset(tr, 0, sizeof *tr);
    tr->m = m;
    tr->gp = gp;
    tr->n_series = n_series;
    int rc = build_rows(tr, series, train_n, err);
    if (rc != CDNOPT_OK)
        return rc;

    size_t w = (size_t)m->p.window, f = (size_t)m->n_features, h = (size_t)m->p.units;
    size_t b = (size_t)m->p.batch;
    tr->n_pick = tr->n_train;
    if (m->p.max_windows > 0)
        tr->n_pick = (size_t)m->p.max_windows;
    tr->picks = cdnopt_malloc(tr->n_pick * sizeof *tr->picks);
    tr->x = cdnopt_malloc(VAL_BATCH * w * f * sizeof *tr->x);
    tr->y = cdnopt_malloc(VAL_BATCH * (size_t)m->n_out * sizeof *tr->y);
    tr->mask1 = cdnopt_malloc(b * h * sizeof *tr->mask1);
    tr->mask2 = cdnopt_malloc(b * cdnopt__model_mask2_width(m) * sizeof *tr->mask2);
    tr->best = cdnopt_malloc(cdnopt_params_count(m->ps) * sizeof *tr->best);
    if (tr->picks == NULL || tr->x == NULL || tr->y == NULL || tr->mask1 == NULL ||
        tr->mask2 == NULL || tr->best == NULL)
        return CDNOPT_ENOMEM;

    rc = cdnopt_scratch_new(0, &tr->scratch);
    if (rc == CDNOPT_OK)
        rc = cdnopt__shards_new(m, n_shards, b, &tr->shards);
    if (rc != CDNOPT_OK)
        return rc;

    cdnopt_adam_params ap = cdnopt_adam_params_default();
    ap.lr = m->p.learning_rate;
    ap.clip_norm = m->p.clip_norm;
    rc = cdnopt_adam_new(&ap, cdnopt_params_count(m->ps), &tr->adam);

    /* A stream apart from the initial weights' draws, as in single-series training. */
    cdnopt_rng base;
    cdnopt_rng_seed(&base, m->p.seed);
    cdnopt_rng_fork(&base, (uint64_t)m->info.epochs_run + 1, &tr->rng);
    return rc;
}

/* ------------------------------------------------------------------------- */
/* Epochs                                                                    */
/* ------------------------------------------------------------------------- */

/* Draw the epoch's target rows. Uniform over windows without replacement while the
 * epoch is no longer than the windows; otherwise (and per series) with replacement. */
static void draw_picks(global_trainer *tr)
{
    if (tr->gp->sampling == CDNOPT_GLOBAL_SAMPLE_SERIES) {
        for (size_t k = 0; k < tr->n_pick; k++) {
            size_t i = (size_t)cdnopt_rng_below(&tr->rng, tr->n_series);
            size_t span = tr->train_end[i] - tr->train_first[i];
            tr->picks[k] = tr->train_first[i] + (size_t)cdnopt_rng_below(&tr->rng, span);
        }
        return;
    }
    if (tr->n_pick > tr->n_train) {
        for (size_t k = 0; k < tr->n_pick; k++)
            tr->picks[k] = tr->train_rows[cdnopt_rng_below(&tr->rng, tr->n_train)];
        return;
    }

    /* Partial Fisher-Yates: the first n_pick entries become a uniform sample. */
    for (size_t k = 0; k < tr->n_pick && k + 1 < tr->n_train; k++) {
        size_t j = k + (size_t)cdnopt_rng_below(&tr->rng, tr->n_train - k);
        size_t tmp = tr->train_rows[k];
        tr->train_rows[k] = tr->train_rows[j];
        tr->train_rows[j] = tmp;
    }
    memcpy(tr->picks, tr->train_rows, tr->n_pick * sizeof *tr->picks);
}

static int train_batch(global_trainer *tr, const size_t *ends, size_t n_batch, double *loss)
{
    cdnopt_model *m = tr->m;
    model_batch batch = {.rows = tr->rows, .targets = tr->targets, .ends = ends,
                         .n_batch = n_batch, .n_scale = n_batch};
    if (m->p.dropout > 0.0f) {
        cdnopt_dropout_mask(tr->mask1, n_batch * (size_t)m->p.units, m->p.dropout, &tr->rng);
        cdnopt_dropout_mask(tr->mask2, n_batch * cdnopt__model_mask2_width(m), m->p.dropout,
                            &tr->rng);
        batch.mask1 = tr->mask1;
        batch.mask2 = tr->mask2;
    }
    int rc = cdnopt__shards_gradient(tr->shards, m, &batch, loss);
    if (rc != CDNOPT_OK)
        return rc;
    return cdnopt_adam_step(tr->adam, m->ps);
}

static int train_epoch(global_trainer *tr, double *mean_loss)
{
    size_t batch = (size_t)tr->m->p.batch;
    draw_picks(tr);

    double sum = 0.0;
    for (size_t start = 0; start < tr->n_pick; start += batch) {
        size_t n_batch = tr->n_pick - start < batch ? tr->n_pick - start : batch;
        double loss = 0.0;
        int rc = train_batch(tr, tr->picks + start, n_batch, &loss);
        if (rc != CDNOPT_OK)
            return rc;
        sum += loss * (double)n_batch;
    }
    *mean_loss = sum / (double)tr->n_pick;
    return CDNOPT_OK;
}

/* MSE over every validation target of every series, dropout off, scaled units. */
static int validate(global_trainer *tr, double *mean_loss)
{
    double sum = 0.0;
    for (size_t start = 0; start < tr->n_val; start += VAL_BATCH) {
        size_t n_batch = tr->n_val - start < VAL_BATCH ? tr->n_val - start : VAL_BATCH;
        float loss = 0.0f;
        int rc = cdnopt__model_batch_mse(tr->m, tr->scratch, tr->rows, tr->targets,
                                         tr->val_rows + start, n_batch, tr->x, tr->y, &loss);
        if (rc != CDNOPT_OK)
            return rc;
        sum += (double)loss * (double)n_batch;
    }
    *mean_loss = sum / (double)tr->n_val;
    return CDNOPT_OK;
}

static int epoch_error(int rc, int epoch, char *err)
{
    if (rc == CDNOPT_ENUMERIC)
        return cdnopt_fail(err, rc,
                           "global training diverged in epoch %d: the loss or a gradient became "
                           "NaN or Inf; lower the learning rate", epoch);
    return cdnopt_fail(err, rc, "global training failed in epoch %d: %s", epoch,
                       cdnopt_strerror(rc));
}

/* Keep the weights of the epoch with the lowest validation loss (the last without). */
static int run_epochs(global_trainer *tr, cdnopt_epoch_cb cb, void *user, char *err)
{
    cdnopt_model *m = tr->m;
    size_t n_values = cdnopt_params_count(m->ps);
    double best = INFINITY;
    int since_best = 0;
    memcpy(tr->best, cdnopt_params_values(m->ps), n_values * sizeof *tr->best);

    for (int epoch = 1; epoch <= m->p.epochs; epoch++) {
        cdnopt_epoch_report r = {.epoch = epoch, .val_loss = NAN, .n_windows = (int)tr->n_pick};
        double t0 = cdnopt_clock_s();
        int rc = train_epoch(tr, &r.train_loss);
        if (rc == CDNOPT_OK && tr->n_val > 0)
            rc = validate(tr, &r.val_loss);
        if (rc == CDNOPT_OK && !isfinite(r.train_loss))
            rc = CDNOPT_ENUMERIC;
        if (rc != CDNOPT_OK)
            return epoch_error(rc, epoch, err);
        r.seconds = cdnopt_clock_s() - t0;
        m->info.epochs_run = epoch;
        m->info.last_train_loss = r.train_loss;

        double score = tr->n_val > 0 ? r.val_loss : -(double)epoch;
        if (score < best) {
            best = score;
            since_best = 0;
            m->info.best_epoch = epoch;
            m->info.best_val_loss = r.val_loss;
            memcpy(tr->best, cdnopt_params_values(m->ps), n_values * sizeof *tr->best);
        } else {
            since_best++;
        }
        if (cb != NULL)
            cb(&r, user);
        if (since_best >= m->p.patience)
            break;
    }
    memcpy(cdnopt_params_values(m->ps), tr->best, n_values * sizeof *tr->best);
    return CDNOPT_OK;
}

int cdnopt_global_fit(cdnopt_model *m, const cdnopt_global_params *gp,
                      cdnopt_series *const *series, size_t n_series, const size_t *train_n,
                      cdnopt_epoch_cb cb, void *user, char *err)
{
    if (n_series == 0)
        return cdnopt_fail(err, CDNOPT_EINVAL, "global training needs at least one series");
    if (gp->norm < CDNOPT_GLOBAL_NORM_MINMAX || gp->norm > CDNOPT_GLOBAL_NORM_CHANGE)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "invalid norm %d; use 1 (minmax), 2 (mean) or 3 (change)",
                           (int)gp->norm);
    if (gp->seasonal_diff < 0 || gp->seasonal_diff > 100000)
        return cdnopt_fail(err, CDNOPT_EINVAL, "invalid seasonal_diff %d; use 0 (none) to "
                           "100000 steps", gp->seasonal_diff);

    /* Per-series scalers do the scaling, so the model's own scaler must not. */
    m->scale_min = 0.0;
    m->scale_max = 1.0;

    /* NOTE: OpenBLAS runs on one thread for the whole process while the shards'
     * threads call it, as in cdnopt_model_fit(); the old setting comes back after. */
    int blas_threads = openblas_get_num_threads();
    int n_shards = shard_count(m);
    if (n_shards > 1)
        openblas_set_num_threads(1);

    global_trainer tr;
    int rc = trainer_init(&tr, m, gp, series, n_series, train_n, n_shards, err);
    if (rc == CDNOPT_ENOMEM)
        cdnopt_fail(err, rc, "out of memory preparing global training on %zu series", n_series);
    if (rc == CDNOPT_OK)
        rc = run_epochs(&tr, cb, user, err);
    if (rc == CDNOPT_OK)
        m->info.train_n = (int64_t)(tr.n_train + tr.n_val);
    trainer_free(&tr);
    if (n_shards > 1)
        openblas_set_num_threads(blas_threads);
    return rc;
}
