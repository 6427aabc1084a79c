/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Training: min-max scaling, window split into training and validation targets,
 * shuffled mini-batches with Adam, early stopping on the validation MSE and the
 * best epoch's weights kept. Gradients are computed data-parallel (model_shard.c).
 * Every buffer is allocated before the first epoch and activations live in scratch
 * arenas reset per batch, so after the first epoch a training step makes no heap
 * allocation.
 *
 * Each epoch draws its shuffle and dropout masks from a stream of its own: the seed
 * forked by the epoch number. A checkpoint contains Adam's state and the best weights.
 * So a fit resumed from a checkpoint ends with the weights of an uninterrupted one.
 */
#include "model-impl.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* Windows per forward pass when computing the validation loss (dropout off). The LSTM
 * traces keep about (features + 16 units) floats per window step, 71 MB for 64 windows
 * of 288 steps and 64 units. */
#define VAL_BATCH 64

/* Most training threads; beyond this the per-thread shards of a batch of 64 get small. */
#define MAX_SHARDS 8

typedef struct trainer {
    cdnopt_model *m;
    float *rows;           /* feature rows of the whole series, n x n_features */
    float *targets;        /* scaled value of every step, n */
    size_t *train_ends;    /* target index of every training window */
    size_t n_train;
    size_t val_first;      /* validation targets are [val_first, n) */
    size_t n_val;          /* validation windows; window i's targets start at
                              val_first - n_out + 1 + i */
    size_t n;
    float *x;              /* validation windows, VAL_BATCH x window x features */
    float *y;              /* validation targets */
    float *mask1, *mask2;  /* dropout masks, batch x units each */
    float *best;           /* weights of the best epoch so far */
    cdnopt_scratch *scratch; /* validation activations */
    model_shards *shards;  /* training gradients, one shard per thread */
    cdnopt_adam *adam;
    cdnopt_rng base;       /* seeded from the model; forked for every epoch */
    cdnopt_rng rng;        /* this epoch's shuffling and training dropout */
    double best_score;     /* validation MSE of the best epoch, or -epoch without
                              validation; INFINITY before the first */
    int since_best;        /* epochs since the best one */
} trainer;

static void trainer_free(trainer *tr)
{
    cdnopt_free(tr->rows);
    cdnopt_free(tr->targets);
    cdnopt_free(tr->train_ends);
    cdnopt_free(tr->x);
    cdnopt_free(tr->y);
    cdnopt_free(tr->mask1);
    cdnopt_free(tr->mask2);
    cdnopt_free(tr->best);
    cdnopt_scratch_free(tr->scratch);
    cdnopt__shards_free(tr->shards);
    cdnopt_adam_free(tr->adam);
}

/* Split the targets [first, n) into training windows and the last val_fraction of the
 * span for validation. */
static int split_windows(trainer *tr, const cdnopt_series *s, char *err)
{
    const cdnopt_model *m = tr->m;
    size_t first = cdnopt__model_first_target(m);
    size_t n_val = (size_t)floor((double)m->p.val_fraction * (double)s->n + 0.5);
    if (m->p.val_fraction > 0.0f && n_val == 0)
        n_val = 1;

    tr->n = s->n;
    tr->val_first = s->n - n_val;

    /* A training window's n_out targets all lie before val_first. The n_val validation
     * windows are those whose last target lies in the validation span, so with the
     * direct head the first n_out - 1 of them also score targets from the training
     * span; that keeps validation possible when the span is shorter than n_out. */
    size_t n_out = (size_t)m->n_out;
    tr->n_val = n_val;
    if (tr->val_first < first + n_out)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "training series '%s' has %zu samples: too few for a window of %d "
                           "steps%s and a validation span of %zu steps; supply a longer series "
                           "or a shorter window", s->name != NULL ? s->name : "(unnamed)", s->n,
                           m->p.window, m->p.seasonal_lag ? " plus one day of lag" : "", n_val);
    tr->n_train = tr->val_first - first - n_out + 1;

    tr->train_ends = cdnopt_malloc(tr->n_train * sizeof *tr->train_ends);
    if (tr->train_ends == NULL)
        return CDNOPT_ENOMEM;
    return CDNOPT_OK;
}

static int trainer_init(trainer *tr, cdnopt_model *m, const cdnopt_series *s, int n_shards,
                        char *err)
{
    memset(tr, 0, sizeof *tr);
    tr->m = m;
    int rc = split_windows(tr, s, err);
    if (rc != CDNOPT_OK)
        return rc;

    size_t f = (size_t)m->n_features;
    size_t w = (size_t)m->p.window;
    size_t h = (size_t)m->p.units;
    size_t b = (size_t)m->p.batch;

    tr->rows = cdnopt_malloc(s->n * f * sizeof *tr->rows);
    tr->targets = cdnopt_malloc(s->n * sizeof *tr->targets);
    tr->x = cdnopt_malloc(VAL_BATCH * w * f * sizeof *tr->x);
    tr->y = cdnopt_malloc(VAL_BATCH * (size_t)m->n_out * sizeof *tr->y);
    tr->mask1 = cdnopt_malloc(b * h * sizeof *tr->mask1);
    tr->mask2 = cdnopt_malloc(b * cdnopt__model_mask2_width(m) * sizeof *tr->mask2);
    tr->best = cdnopt_malloc(cdnopt_params_count(m->ps) * sizeof *tr->best);
    if (tr->rows == NULL || tr->targets == NULL || tr->x == NULL || tr->y == NULL ||
        tr->mask1 == NULL || tr->mask2 == NULL || tr->best == NULL)
        return CDNOPT_ENOMEM;

    /* Validation runs forward passes only; see VAL_BATCH for the size. */
    rc = cdnopt_scratch_new(VAL_BATCH * w * (f + 16 * h) * sizeof(float), &tr->scratch);
    if (rc == CDNOPT_OK)
        rc = cdnopt__shards_new(m, n_shards, b, &tr->shards);
    if (rc != CDNOPT_OK)
        return rc;

    cdnopt_adam_params ap = cdnopt_adam_params_default();
    ap.lr = m->p.learning_rate;
    ap.clip_norm = m->p.clip_norm;
    rc = cdnopt_adam_new(&ap, cdnopt_params_count(m->ps), &tr->adam);
    if (rc != CDNOPT_OK)
        return rc;

    cdnopt__model_features(m, s, 0, s->n, tr->rows);
    for (size_t i = 0; i < s->n; i++)
        tr->targets[i] = (float)cdnopt__model_scale(m, s->v[i]);

    cdnopt_rng_seed(&tr->base, m->p.seed);
    tr->best_score = INFINITY;
    memcpy(tr->best, cdnopt_params_values(m->ps), cdnopt_params_count(m->ps) * sizeof *tr->best);
    return CDNOPT_OK;
}

/*
 * Take over the state of a checkpoint being resumed: Adam's moments, the best weights
 * and the early-stopping count. A checkpoint without that state (written before
 * checkpoints kept it) resumes with fresh moments and its own weights as the best.
 */
static int trainer_resume(trainer *tr, size_t n_pick, char *err)
{
    cdnopt_model *m = tr->m;
    const model_resume *rs = &m->resume;
    if (rs->adam_m == NULL) {
        CDNOPT_LOG_WARN("train",
                        "the resumed file holds no optimizer state (a final model, or a "
                        "checkpoint of an older cdnopt): Adam restarts from zero, so the "
                        "result differs from an uninterrupted run");
        m->info.best_epoch = 0;
        m->info.best_val_loss = NAN;
        return CDNOPT_OK;
    }

    /* With validation windows a NaN loss never becomes the best (NaN < x is false), so a
     * NaN here comes from a damaged file. No later epoch could count as better than it,
     * and the fit would silently keep the checkpoint's best weights. */
    if (tr->n_val > 0 && !isfinite(m->info.best_val_loss))
        return cdnopt_fail(err, CDNOPT_EPARSE,
                           "the checkpoint's best_val_loss in /training is %g, which no fit "
                           "with validation windows writes; resume from an earlier checkpoint "
                           "or train afresh",
                           m->info.best_val_loss);

    /* Every epoch makes one Adam update per batch of its n_pick windows. Another count
     * means a damaged file, or a series other than the one the checkpoint was trained on,
     * whose fit would not continue the interrupted one. */
    size_t batch = (size_t)m->p.batch;
    uint64_t expected = (uint64_t)m->info.epochs_run * (uint64_t)((n_pick + batch - 1) / batch);
    if (rs->adam_t != expected)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "the checkpoint made %llu Adam updates in %d epochs, but this series "
                           "gives %zu batches of %zu windows per epoch (%llu updates); resume "
                           "with the series the checkpoint was trained on, or train afresh",
                           (unsigned long long)rs->adam_t, m->info.epochs_run,
                           (n_pick + batch - 1) / batch, batch, (unsigned long long)expected);

    size_t n = cdnopt_params_count(m->ps);
    int rc = cdnopt_adam_restore(tr->adam, rs->adam_m, rs->adam_v, n, rs->adam_t);
    if (rc != CDNOPT_OK)
        return cdnopt_fail(err, rc, "cannot restore the checkpoint's optimizer state: %s",
                           cdnopt_strerror(rc));
    memcpy(tr->best, rs->best, n * sizeof *tr->best);
    tr->best_score = tr->n_val > 0 ? m->info.best_val_loss : -(double)m->info.best_epoch;
    tr->since_best = m->info.epochs_run - m->info.best_epoch;
    return CDNOPT_OK;
}

/* Point the model's resume state at the trainer's, for a checkpoint written by the
 * epoch callback. */
static void expose_resume(trainer *tr)
{
    model_resume *rs = &tr->m->resume;
    cdnopt__model_clear_resume(tr->m);
    cdnopt_adam_state(tr->adam, &rs->adam_m, &rs->adam_v, &rs->adam_t);
    rs->best = tr->best;
}

/* Rows [*first, *first + *count) of n that this process computes under m's fit hooks:
 * n_parts contiguous runs whose sizes differ by at most one, the longer runs first. */
static void my_part(const cdnopt_model *m, size_t n, size_t *first, size_t *count)
{
    size_t parts = m->hooks.n_parts > 1 ? (size_t)m->hooks.n_parts : 1;
    size_t part = parts > 1 ? (size_t)m->hooks.part : 0;
    size_t base = n / parts, extra = n % parts;
    *first = part * base + (part < extra ? part : extra);
    *count = base + (part < extra ? 1 : 0);
}

/* Sum values over the processes that share training; a no-op for one process. */
static int sum_doubles(const cdnopt_model *m, double *values, size_t n)
{
    if (m->hooks.n_parts <= 1)
        return CDNOPT_OK;
    return m->hooks.sum_doubles(values, n, m->hooks.user);
}

/* Put a random selection of n_pick training windows first (partial Fisher-Yates from
 * the windows in time order, so that the draw depends on the epoch's stream alone). */
static void shuffle_windows(trainer *tr, size_t n_pick)
{
    size_t first = cdnopt__model_first_target(tr->m);
    for (size_t i = 0; i < tr->n_train; i++)
        tr->train_ends[i] = first + i;

    for (size_t i = 0; i < n_pick && i + 1 < tr->n_train; i++) {
        size_t j = i + (size_t)cdnopt_rng_below(&tr->rng, tr->n_train - i);
        size_t tmp = tr->train_ends[i];
        tr->train_ends[i] = tr->train_ends[j];
        tr->train_ends[j] = tmp;
    }
}

/* One Adam step on the windows ending at ends[0..n_batch); returns the batch MSE in *loss. */
static int train_batch(trainer *tr, const size_t *ends, size_t n_batch, double *loss)
{
    cdnopt_model *m = tr->m;
    size_t h = (size_t)m->p.units;
    size_t h2 = cdnopt__model_mask2_width(m);
    size_t first, count;
    my_part(m, n_batch, &first, &count);
    model_batch batch = {.rows = tr->rows, .targets = tr->targets, .ends = ends + first,
                         .n_batch = count, .n_scale = n_batch};

    /* Masks are drawn for the whole batch before it is split, so that the numbers do
     * not depend on how the batch is shared out between threads or processes. */
    if (m->p.dropout > 0.0f) {
        cdnopt_dropout_mask(tr->mask1, n_batch * h, m->p.dropout, &tr->rng);
        cdnopt_dropout_mask(tr->mask2, n_batch * h2, m->p.dropout, &tr->rng);
        batch.mask1 = tr->mask1 + first * h;
        batch.mask2 = tr->mask2 + first * h2;
    }

    int rc = cdnopt__shards_gradient(tr->shards, m, &batch, loss);
    if (rc != CDNOPT_OK)
        return rc;

    /* Every process adds the other parts' gradients and losses before the same Adam
     * step, so the weights stay identical everywhere. */
    if (m->hooks.n_parts > 1) {
        rc = m->hooks.sum_floats(cdnopt_params_grads(m->ps), cdnopt_params_count(m->ps),
                                 m->hooks.user);
        if (rc == CDNOPT_OK)
            rc = sum_doubles(m, loss, 1);
        if (rc != CDNOPT_OK)
            return rc;
    }
    return cdnopt_adam_step(tr->adam, m->ps);
}

/* Mean training MSE of one epoch over n_pick shuffled windows. */
static int train_epoch(trainer *tr, int epoch, size_t n_pick, double *mean_loss)
{
    size_t batch = (size_t)tr->m->p.batch;
    cdnopt_rng_fork(&tr->base, (uint64_t)epoch, &tr->rng);
    shuffle_windows(tr, n_pick);

    double sum = 0.0;
    for (size_t start = 0; start < n_pick; start += batch) {
        size_t n_batch = n_pick - start < batch ? n_pick - start : batch;
        double loss = 0.0;
        int rc = train_batch(tr, tr->train_ends + start, n_batch, &loss);
        if (rc != CDNOPT_OK)
            return rc;
        sum += loss * (double)n_batch;
    }
    *mean_loss = sum / (double)n_pick;
    return CDNOPT_OK;
}

/* MSE over the validation windows (see split_windows), dropout off. Under fit hooks
 * each process scores its part of the windows and the sums are added up. */
static int validate(trainer *tr, double *mean_loss)
{
    size_t ends[VAL_BATCH];
    size_t first, count;
    size_t n_out = (size_t)tr->m->n_out;
    my_part(tr->m, tr->n_val, &first, &count);
    size_t val_start = tr->val_first + 1 - n_out;
    size_t part_end = val_start + first + count;
    double sum = 0.0;
    for (size_t start = val_start + first; start < part_end; start += VAL_BATCH) {
        size_t n_batch = part_end - start < VAL_BATCH ? part_end - start : VAL_BATCH;
        for (size_t b = 0; b < n_batch; b++)
            ends[b] = start + b;

        float loss = 0.0f;
        int rc = cdnopt__model_batch_mse(tr->m, tr->scratch, tr->rows, tr->targets, ends,
                                         n_batch, tr->x, tr->y, &loss);
        if (rc != CDNOPT_OK)
            return rc;
        sum += (double)loss * (double)n_batch;
    }
    int rc = sum_doubles(tr->m, &sum, 1);
    if (rc != CDNOPT_OK)
        return rc;
    *mean_loss = sum / (double)tr->n_val;
    return CDNOPT_OK;
}

static int epoch_error(int rc, int epoch, char *err)
{
    if (rc == CDNOPT_ENUMERIC)
        return cdnopt_fail(err, rc,
                           "training diverged in epoch %d: the loss or a gradient became NaN or "
                           "Inf; lower learning_rate or set clip_norm", epoch);
    return cdnopt_fail(err, rc, "training failed in epoch %d: %s", epoch, cdnopt_strerror(rc));
}

/* Run the epochs with early stopping; leaves the best (or last) weights in m. */
static int run_epochs(trainer *tr, cdnopt_epoch_cb cb, void *user, char *err)
{
    cdnopt_model *m = tr->m;
    bool validating = tr->n_val > 0;
    size_t n_pick = tr->n_train;
    if (m->p.max_windows > 0 && (size_t)m->p.max_windows < n_pick)
        n_pick = (size_t)m->p.max_windows;

    int first_epoch = 1;
    if (m->hooks.continue_epochs) {
        int rc = trainer_resume(tr, n_pick, err);
        if (rc != CDNOPT_OK)
            return rc;
        first_epoch = m->info.epochs_run + 1;
    } else {
        m->info.best_epoch = 0;
        m->info.best_val_loss = NAN;
    }
    cdnopt__model_clear_resume(m);

    /* A checkpoint taken at the epoch that stopped early resumes to no epoch. */
    bool stopped = tr->since_best >= m->p.patience;
    for (int epoch = first_epoch; epoch <= m->p.epochs && !stopped; epoch++) {
        cdnopt_epoch_report r = {.epoch = epoch, .val_loss = NAN, .n_windows = (int)n_pick};
        double t0 = cdnopt_clock_s();
        int rc = train_epoch(tr, epoch, n_pick, &r.train_loss);
        if (rc == CDNOPT_OK && validating)
            rc = validate(tr, &r.val_loss);
        if (rc != CDNOPT_OK)
            return epoch_error(rc, epoch, err);
        r.seconds = cdnopt_clock_s() - t0;
        m->info.epochs_run = epoch;
        m->info.last_train_loss = r.train_loss;

        /* Without validation the last epoch counts as the best. */
        double score = validating ? r.val_loss : -(double)epoch;
        if (score < tr->best_score) {
            tr->best_score = score;
            tr->since_best = 0;
            m->info.best_epoch = epoch;
            m->info.best_val_loss = r.val_loss;
            memcpy(tr->best, cdnopt_params_values(m->ps),
                   cdnopt_params_count(m->ps) * sizeof *tr->best);
        } else {
            tr->since_best++;
        }
        stopped = tr->since_best >= m->p.patience;
        if (cb != NULL) {
            expose_resume(tr);
            cb(&r, user);
            cdnopt__model_clear_resume(m);
        }
    }

    memcpy(cdnopt_params_values(m->ps), tr->best, cdnopt_params_count(m->ps) * sizeof *tr->best);

    /* The direct head's correction to its base is shrunk to what validates best. */
    m->info.shrink = 1.0;
    if (!validating || m->p.head != CDNOPT_HEAD_DIRECT)
        return CDNOPT_OK;
    int rc = cdnopt__direct_shrink(m, tr->rows, tr->targets, tr->val_first + 1 - (size_t)m->n_out,
                                   tr->n_val, tr->scratch, &m->info.best_val_loss);
    return rc == CDNOPT_OK ? CDNOPT_OK : epoch_error(rc, m->p.epochs, err);
}

/*
 * Threads for data-parallel training: as many as OpenBLAS was given
 * (OPENBLAS_NUM_THREADS), at most MAX_SHARDS, and no shard under 8 windows.
 */
static int shard_count(const cdnopt_model *m)
{
    int n = openblas_get_num_threads();
    int by_batch = m->p.batch / 8;
    if (n > by_batch)
        n = by_batch;
    if (n > MAX_SHARDS)
        n = MAX_SHARDS;
    return n < 1 ? 1 : n;
}

void cdnopt_model_set_fit_hooks(cdnopt_model *m, const cdnopt_fit_hooks *hooks)
{
    if (hooks == NULL)
        memset(&m->hooks, 0, sizeof m->hooks);
    else
        m->hooks = *hooks;
}

int cdnopt_model_fit(cdnopt_model *m, const cdnopt_series *train, cdnopt_epoch_cb cb, void *user,
                     char *err)
{
    const cdnopt_fit_hooks *hk = &m->hooks;
    if (hk->n_parts > 1 && (hk->part < 0 || hk->part >= hk->n_parts || hk->sum_floats == NULL ||
                            hk->sum_doubles == NULL))
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "invalid fit hooks: part %d of %d parts, or a sum callback missing",
                           hk->part, hk->n_parts);
    int rc = cdnopt__model_check_series(m, train, cdnopt__model_first_target(m) + 1, "training",
                                        err);
    if (rc != CDNOPT_OK)
        return rc;

    /* NOTE: OpenBLAS is set to one thread for the whole process while training runs,
     * because each shard's thread calls it. The old setting is restored afterwards. */
    int blas_threads = openblas_get_num_threads();
    int n_shards = shard_count(m);
    if (n_shards > 1)
        openblas_set_num_threads(1);

    cdnopt__model_fit_scaler(m, train->v, train->n);
    trainer tr;
    rc = trainer_init(&tr, m, train, n_shards, err);
    if (rc == CDNOPT_ENOMEM)
        cdnopt_fail(err, rc, "out of memory preparing training on %zu samples", train->n);
    if (rc == CDNOPT_OK)
        rc = run_epochs(&tr, cb, user, err);
    trainer_free(&tr);
    if (n_shards > 1)
        openblas_set_num_threads(blas_threads);
    if (rc != CDNOPT_OK)
        return rc;

    m->info.train_t0 = train->t[0];
    m->info.train_t1 = train->t[train->n - 1];
    m->info.train_n = (int64_t)train->n;
    return CDNOPT_OK;
}
