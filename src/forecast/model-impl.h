/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internals of cdnopt_model shared by the model_*.c files: the struct and the input
 * feature layout. The weights live in one cdnopt_params set (named tensors over one
 * flat array), which the layers index into, Adam updates, the best-epoch snapshot
 * copies, and model files write tensor by tensor.
 *
 * Input channels per step, in this order: the scaled value, then the four calendar
 * channels when on, then the seasonal lag when on.
 */
#ifndef CDNOPT_MODEL_IMPL_H
#define CDNOPT_MODEL_IMPL_H

#include "cdnopt/core.h"
#include "cdnopt/model.h"
#include "cdnopt/nn.h"

#define MODEL_FORMAT_NAME "cdnopt-model"
#define MODEL_FORMAT_VERSION 1
#define MODEL_SECONDS_PER_DAY 86400

/** Training metadata kept with the weights and written to model files. */
typedef struct model_training_info {
    int epochs_run;        /* epochs completed by the last fit, 0 before any fit */
    int best_epoch;        /* 1-based epoch whose weights were kept, 0 before any fit */
    double best_val_loss;  /* validation MSE of that epoch in scaled units (after the
                              direct head's shrinking); NAN if none */
    double last_train_loss; /* training MSE of the last epoch, scaled units */
    int64_t train_t0;      /* civil seconds of the first training sample */
    int64_t train_t1;      /* civil seconds of the last training sample */
    int64_t train_n;       /* training samples */
    double shrink;         /* factor the direct head's correction was scaled by after
                              training (see cdnopt__direct_shrink), 1 otherwise */
} model_training_info;

/**
 * Resume state: the part of a training checkpoint beyond the weights, that is Adam's
 * state and the weights of the best epoch so far (info.best_epoch). With it a resumed fit
 * goes on exactly as the interrupted one would have. While a fit runs, the arrays are the
 * trainer's. After a checkpoint is loaded, they live in storage, which the model frees.
 */
typedef struct model_resume {
    const float *adam_m;  /* Adam's first moments, one per weight; NULL = no state */
    const float *adam_v;  /* Adam's second moments */
    uint64_t adam_t;      /* Adam updates applied */
    const float *best;    /* weights of the best epoch */
    float *storage;       /* the three arrays read from a file, or NULL */
} model_resume;

struct cdnopt_model {
    cdnopt_model_params p;  /* window resolved to steps */
    int64_t step_s;         /* series step, seconds */
    int steps_per_day;      /* 86400 / step_s, the seasonal lag in steps */
    int n_features;         /* input channels per step */
    int n_out;              /* head outputs: 1 for the recursive head, horizon for direct */

    char unit[CDNOPT_MODEL_UNIT_MAX]; /* unit of the training data, "" when unknown */
    double scale_min;       /* min-max scaler fitted on the training span, series units */
    double scale_max;

    cdnopt_params *ps;      /* all weights, owned */
    cdnopt_lstm *lstm1;     /* whole-sequence LSTM over the input channels */
    cdnopt_lstm *lstm2;     /* last-state LSTM over lstm1's dropped-out outputs; NULL in
                               the transformer */
    cdnopt_dense *proj;     /* transformer: encoder outputs to d_model; NULL in the LSTM */
    cdnopt_mha *mha;        /* transformer: self-attention over the window; NULL in the LSTM */
    cdnopt_dense *head;     /* dense(1) on the dropped-out last state */

    model_training_info info;
    model_resume resume;    /* written to checkpoints; see model_resume */
    cdnopt_fit_hooks hooks; /* data-parallel hooks of the next fit; n_parts 0 = none */
};

/* ---- model_core.c ---- */

/** Forget the resume state, freeing it if it was read from a file. */
void cdnopt__model_clear_resume(cdnopt_model *m);

/**
 * Check params against step_s and build a model with freshly initialised weights
 * (Keras-style, from p->seed). A loader overwrites them.
 */
int cdnopt__model_build(const cdnopt_model_params *p, int64_t step_s, cdnopt_model **out,
                        char *err);

/* ---- model_data.c ---- */

/** Scale a value in series units into the model's [0, 1] training range. */
double cdnopt__model_scale(const cdnopt_model *m, double v);

/** Undo cdnopt__model_scale(). */
double cdnopt__model_unscale(const cdnopt_model *m, double x);

/** Fit the scaler to the n values of v; a constant series gets a range of 1. */
void cdnopt__model_fit_scaler(cdnopt_model *m, const double *v, size_t n);

/**
 * Write the n_features input channels of one step into row.
 * @param t_civil     civil seconds of the input step
 * @param value       scaled value at that step
 * @param lag_value   scaled value one day before the step after it (used with seasonal_lag)
 */
void cdnopt__model_feature_row(const cdnopt_model *m, int64_t t_civil, float value,
                               float lag_value, float *row);

/**
 * Build the feature rows of steps [first, first + count) of s into rows (count x
 * n_features). Steps whose lag falls before the series use the step's own value;
 * callers never start a window there.
 */
void cdnopt__model_features(const cdnopt_model *m, const cdnopt_series *s, size_t first,
                            size_t count, float *rows);

/** Index of the first step that may start a window's target (window plus lag history). */
size_t cdnopt__model_first_target(const cdnopt_model *m);

/** Check that s has the model's step, enough samples and finite values. */
int cdnopt__model_check_series(const cdnopt_model *m, const cdnopt_series *s, size_t min_n,
                               const char *what, char *err);

/* ---- model_net.c ---- */

/** Record of one forward pass over a batch of windows, all in the scratch arena. */
typedef struct model_pass {
    size_t n_batch;      /* windows in the batch */
    cdnopt_trace *t1;    /* lstm1 over the window, [B, W, H] */
    cdnopt_trace *t2;    /* lstm2, last state [B, H] (LSTM) */
    cdnopt_trace *tp;    /* projection to d_model, [B * W, D] (transformer) */
    cdnopt_trace *ta;    /* self-attention, [B, W, D] (transformer) */
    cdnopt_trace *t3;    /* dense head, [B, 1] */
    const float *d1;     /* lstm1 output after dropout (t1's output without dropout) */
    const float *d2;     /* head input after dropout, [B, units] or [B, d_model] */
    float *pred;         /* prediction in scaled units, [B, n_out] */
} model_pass;

/**
 * Run the network on x [B, window, n_features]. mask1 and mask2 ([B, units] each,
 * from cdnopt_dropout_mask) apply dropout after each LSTM; NULL turns it off.
 * The masks must stay unchanged until the backward pass.
 */
int cdnopt__model_forward(const cdnopt_model *m, cdnopt_scratch *scratch, size_t n_batch,
                          const float *x, const float *mask1, const float *mask2,
                          model_pass *pass);

/** Width of the second dropout mask's rows: units for the LSTM, d_model for attention. */
size_t cdnopt__model_mask2_width(const cdnopt_model *m);

/**
 * Return y [B, n_steps, n_feat] times a [B, n_feat] mask in a new arena buffer, or y
 * itself when mask is NULL. NULL when the arena is exhausted.
 */
const float *cdnopt__model_mask(cdnopt_scratch *scratch, const float *mask, size_t n_batch,
                                size_t n_steps, size_t n_feat, const float *y);

/** Add the gradients of a loss with dL/dpred = dpred [B, n_out] into m->ps. */
int cdnopt__model_backward(const cdnopt_model *m, cdnopt_scratch *scratch, const model_pass *pass,
                           const float *dpred, const float *mask1, const float *mask2);

/**
 * Copy the windows that end (exclusively) at the n_batch step indices in ends from
 * the feature rows of a whole series (n x n_features) into x [B, window, n_features].
 */
void cdnopt__model_gather(const cdnopt_model *m, const float *rows, const size_t *ends,
                          size_t n_batch, float *x);

/**
 * Score the windows that end at the n_batch indices in ends with dropout off: *loss
 * receives the mean squared error against the n_out targets that start at
 * targets + ends[b], in scaled units. x [B, window, n_features] and y [B, n_out] are
 * work buffers, and the scratch arena is reset first.
 */
int cdnopt__model_batch_mse(const cdnopt_model *m, cdnopt_scratch *scratch, const float *rows,
                            const float *targets, const size_t *ends, size_t n_batch, float *x,
                            float *y, float *loss);

/* ---- model_direct.c ---- */

/**
 * Add the head's base to the dense outputs pred [B, n_out] of the windows x
 * [B, window, n_features]: the last scaled value for the recursive head, the direct
 * head's cdnopt_head_base otherwise. The base has no weights.
 */
void cdnopt__model_add_base(const cdnopt_model *m, const float *x, size_t n_batch, float *pred);

/**
 * Scale the direct head's weights by the factor in [0, 1] that minimises the squared
 * error over the n_val validation windows whose targets start at val_start, scored
 * with dropout off on the series' feature rows and scaled targets. Writes the
 * validation MSE at that factor to *val_loss and the factor to m->info.shrink.
 */
int cdnopt__direct_shrink(cdnopt_model *m, const float *rows, const float *targets,
                          size_t val_start, size_t n_val, cdnopt_scratch *scratch,
                          double *val_loss);

/** cdnopt_model_sample() for the direct head, after its argument checks. */
int cdnopt__direct_sample(const cdnopt_model *m, const cdnopt_series *history, size_t end,
                          int horizon, int n_samples, uint64_t seed, double *samples);

/* ---- model_sample.c ---- */

/** Draw the dropout masks of n_paths sample paths, each from its own stream of seed. */
void cdnopt__model_draw_masks(const cdnopt_model *m, size_t n_paths, uint64_t seed,
                              float *mask1, float *mask2);

/* ---- model_attn.c ---- */

/** Add the transformer's projection and attention layers to m->ps. */
int cdnopt__attn_build_layers(cdnopt_model *m, cdnopt_rng *rng);

/** cdnopt__model_forward() for the transformer. */
int cdnopt__attn_forward(const cdnopt_model *m, cdnopt_scratch *scratch, size_t n_batch,
                         const float *x, const float *mask1, const float *mask2,
                         model_pass *pass);

/** cdnopt__model_backward() for the transformer. */
int cdnopt__attn_backward(const cdnopt_model *m, cdnopt_scratch *scratch, const model_pass *pass,
                          const float *dpred, const float *mask1, const float *mask2);

/** Key and value caches of a transformer roll-out over n_batch paths. */
typedef struct attn_rollout attn_rollout;

int cdnopt__attn_rollout_new(const cdnopt_model *m, size_t n_batch, attn_rollout **out);
void cdnopt__attn_rollout_free(attn_rollout *ar);

/**
 * Start a roll-out from the window: d1 [B, W, units] is lstm1's output after mask1,
 * x_window [W, n_features] the window's inputs. Writes the first prediction of path b
 * (scaled) to pred[b * pred_stride].
 */
int cdnopt__attn_window(const cdnopt_model *m, cdnopt_scratch *scratch, attn_rollout *ar,
                        const float *d1, const float *mask2, const float *x_window,
                        float *pred, size_t pred_stride);

/**
 * Advance one step: d1 [B, units] is lstm1's new output after mask1, x [B, n_features]
 * the step's inputs. Writes path b's prediction to pred[b * pred_stride].
 */
int cdnopt__attn_step(const cdnopt_model *m, cdnopt_scratch *scratch, attn_rollout *ar,
                      const float *d1, const float *mask2, const float *x, float *pred,
                      size_t pred_stride);

/* ---- model_shard.c ---- */

/** One training batch: windows of a series' feature rows and their dropout masks. */
typedef struct model_batch {
    const float *rows;    /* feature rows of the whole series, n x n_features */
    const float *targets; /* scaled value of every step of the series */
    const size_t *ends;   /* first target index of each window (n_out targets follow),
                             n_batch entries */
    size_t n_batch;
    size_t n_scale;       /* windows the loss is averaged over: the whole batch, of which
                             these n_batch windows may be one process's part */
    const float *mask1;   /* [n_batch, units] dropout mask after lstm1, or NULL */
    const float *mask2;   /* [n_batch, units] dropout mask after lstm2, or NULL */
} model_batch;

/** Worker threads and layer replicas for data-parallel gradients. */
typedef struct model_shards model_shards;

/**
 * Start n_shards - 1 worker threads, each with a replica of m's layers and buffers
 * for batches of up to max_batch windows. The caller frees it with
 * cdnopt__shards_free().
 */
int cdnopt__shards_new(const cdnopt_model *m, int n_shards, size_t max_batch, model_shards **out);

/** Stop the workers and free everything; NULL is a no-op. */
void cdnopt__shards_free(model_shards *sh);

/**
 * Put the gradient of the batch's mean squared error into m's gradient array
 * (overwriting it) and the loss into *loss, splitting the batch over the shards.
 * @return CDNOPT_OK, CDNOPT_ENUMERIC for a non-finite loss, CDNOPT_ENOMEM
 */
int cdnopt__shards_gradient(model_shards *sh, cdnopt_model *m, const model_batch *batch,
                            double *loss);

#endif /* CDNOPT_MODEL_IMPL_H */
