/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nn: the neural-network core of cdnopt, float32 and row-major throughout, with the
 * heavy math in cblas_sgemm.
 *
 * Objects:
 * - cdnopt_params: one flat array of parameter values and one of gradients, split
 *   into named tensors ("lstm1/kernel"). The optimizer and an MPI allreduce see
 *   each array as a single pointer + count.
 * - cdnopt_scratch: an arena for activations, traces and temporaries. Reset it once
 *   per batch; a training step then makes no heap allocation once the arena has grown.
 * - Layers (cdnopt_dense, cdnopt_lstm, cdnopt_mha, cdnopt_layernorm) own no values:
 *   they store offsets into a cdnopt_params, so the set can keep growing while
 *   layers are added. A constructor that fails leaves the set as it was. A forward
 *   pass returns a cdnopt_trace in the scratch arena, which contains the output and
 *   the activations the backward pass needs.
 * - Backward passes ADD into the gradient array (so a layer used twice, or several
 *   batches, accumulate) and return the gradient of the input in the arena. A backward
 *   pass that fails leaves the gradient array unchanged.
 * - Free functions: sgemm, dropout masks, MSE, Adam, clipping by global norm.
 *
 * Shapes: a sequence batch is batch-first [n_batch, n_steps, n_feat]; a plain
 * batch is [n_rows, n_feat].
 *
 * Usage sketch (one training step, error checks left out):
 *
 *     cdnopt_params *ps; cdnopt_params_new(&ps);
 *     cdnopt_lstm_params lp = cdnopt_lstm_params_default();
 *     lp.n_in = 1; lp.n_hidden = 64; lp.name = "lstm1";
 *     cdnopt_lstm *lstm; cdnopt_lstm_new(ps, &lp, &rng, &lstm);
 *     ... a dense head the same way, then
 *     cdnopt_adam_new(&ap, cdnopt_params_count(ps), &adam);
 *
 *     cdnopt_scratch_reset(scratch);
 *     cdnopt_params_zero_grads(ps);
 *     cdnopt_trace *t1, *t2;
 *     cdnopt_lstm_forward(lstm, scratch, n_batch, n_steps, x, &t1);
 *     cdnopt_dense_forward(head, scratch, n_batch, cdnopt_trace_output(t1), &t2);
 *     cdnopt_mse_forward(cdnopt_trace_output(t2), y, n_batch, &loss);
 *     float *dy = cdnopt_scratch_floats(scratch, n_batch);
 *     cdnopt_mse_backward(cdnopt_trace_output(t2), y, n_batch, dy);
 *     float *dh;
 *     cdnopt_dense_backward(head, scratch, t2, dy, &dh);
 *     cdnopt_lstm_backward(lstm, scratch, t1, dh, NULL);
 *     cdnopt_adam_step(adam, ps);   // CDNOPT_ENUMERIC on a NaN/Inf gradient
 *
 * Limitations:
 * - float32 only, CPU only. Threads come from OpenBLAS (OPENBLAS_NUM_THREADS); the
 *   loops of this module are single-threaded.
 * - Layer forward passes with const layers and separate scratch arenas may run in
 *   parallel, but backward passes write the shared gradient array and must not.
 *   Parallel forward passes also rely on OpenBLAS accepting concurrent calls, which
 *   the tests of this module do not exercise.
 * - sigmoid and tanh in the LSTM and dense layers use a polynomial exponential that
 *   the compiler can vectorise, and tanh is 2 sigmoid(2x) - 1. Their absolute error
 *   is below 2e-7 (tested on a 1e-3 grid over [-20, 20]), but the relative error of
 *   tanh near 0 is larger than that of tanhf, and sigmoid(-Inf) is about 6e-39.
 * - Attention keeps the full [n_batch, n_head, n_steps, n_steps] weight tensor in
 *   the arena: 64 x 4 x 288 x 288 floats is 85 MB.
 * - The LSTM starts every sequence from a zero state; cdnopt_lstm_step() carries an
 *   explicit state but has no backward pass (it serves roll-outs at inference).
 * - Layers hold a borrowed pointer to their cdnopt_params, which must outlive them.
 */
#ifndef CDNOPT_NN_H
#define CDNOPT_NN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cdnopt/core.h"

/* ------------------------------------------------------------------------- */
/* Matrix products                                                           */
/* ------------------------------------------------------------------------- */

/**
 * Compute C = alpha * op(A) * op(B) + beta * C with cblas_sgemm, row-major.
 *
 * op(A) is m x k and op(B) is k x n. lda, ldb and ldc are the row strides in floats
 * of the matrices as stored (before transposition). The parameter list is the BLAS
 * one, which is why it is longer than five.
 * When k is 0, C is only scaled by beta. When m or n is 0, nothing happens.
 */
void cdnopt_sgemm(bool trans_a, bool trans_b, size_t m, size_t n, size_t k, float alpha,
                  const float *a, size_t lda, const float *b, size_t ldb, float beta, float *c,
                  size_t ldc);

/**
 * Compute the same product as cdnopt_sgemm() by plain loops with double accumulation.
 * It is slow, and tests use it as the reference for the BLAS path.
 */
void cdnopt_sgemm_ref(bool trans_a, bool trans_b, size_t m, size_t n, size_t k, float alpha,
                      const float *a, size_t lda, const float *b, size_t ldb, float beta, float *c,
                      size_t ldc);

/**
 * Relative error ||a - b||_2 / max(||b||_2, tiny) between two arrays of n floats,
 * in double. Tests compare the BLAS path and gradients with it.
 */
double cdnopt_nn_rel_error(const float *a, const float *b, size_t n);

/**
 * Check n floats for NaN or Inf.
 * @return 0, or CDNOPT_ENUMERIC at the first non-finite value.
 */
int cdnopt_nn_check_finite(const float *x, size_t n);

/* ------------------------------------------------------------------------- */
/* Scratch arena                                                             */
/* ------------------------------------------------------------------------- */

typedef struct cdnopt_scratch cdnopt_scratch;

/**
 * Create an arena with an initial capacity of n_bytes (0 picks 1 MiB).
 * The arena grows by adding blocks when a request does not fit. Reset merges them
 * into one block, so a repeated step stops allocating after its first run.
 * @param out  OUT: the arena, freed with cdnopt_scratch_free(); NULL on failure.
 * @return 0 or CDNOPT_ENOMEM.
 */
int cdnopt_scratch_new(size_t n_bytes, cdnopt_scratch **out);

/** Free the arena and everything allocated from it. NULL is a no-op. */
void cdnopt_scratch_free(cdnopt_scratch *scratch);

/**
 * Allocate n_bytes aligned to 64 bytes (uninitialised).
 * @return a pointer owned by the arena and valid until the next reset or free;
 *         NULL when the heap is exhausted. n_bytes == 0 returns a valid unique pointer.
 */
void *cdnopt_scratch_alloc(cdnopt_scratch *scratch, size_t n_bytes);

/** Allocate n uninitialised floats from the arena (see cdnopt_scratch_alloc()). */
float *cdnopt_scratch_floats(cdnopt_scratch *scratch, size_t n);

/** Allocate n zeroed floats from the arena (see cdnopt_scratch_alloc()). */
float *cdnopt_scratch_zeros(cdnopt_scratch *scratch, size_t n);

/**
 * Release everything allocated since the last reset. Pointers and traces from the
 * arena become invalid. When the arena had grown into several blocks, they are
 * replaced by one block of the total size. If that allocation fails, the old blocks
 * are kept, so reset itself never fails.
 */
void cdnopt_scratch_reset(cdnopt_scratch *scratch);

/** Bytes handed out since the last reset, alignment padding included. */
size_t cdnopt_scratch_used(const cdnopt_scratch *scratch);

/** Total size in bytes of the arena's blocks. */
size_t cdnopt_scratch_capacity(const cdnopt_scratch *scratch);

/* ------------------------------------------------------------------------- */
/* Parameter sets                                                            */
/* ------------------------------------------------------------------------- */

typedef struct cdnopt_params cdnopt_params;

/** Description of one named tensor inside a parameter set. */
typedef struct cdnopt_param_tensor {
    const char *name; /* e.g. "lstm1/kernel"; owned by the set */
    size_t offset;    /* first element inside the flat arrays */
    size_t n_rows;    /* rows of the row-major matrix (1 for a vector) */
    size_t n_cols;    /* columns */
} cdnopt_param_tensor;

/**
 * Create an empty parameter set.
 * @param out  OUT: the set, freed with cdnopt_params_free(); NULL on failure.
 * @return 0 or CDNOPT_ENOMEM.
 */
int cdnopt_params_new(cdnopt_params **out);

/** Free a parameter set. NULL is a no-op. Layers built on it must not be used after. */
void cdnopt_params_free(cdnopt_params *ps);

/**
 * Append a zero-initialised tensor of n_rows x n_cols values (and as many gradients).
 * Layers call this from their constructors; models may add their own tensors.
 * @param name    tensor name, copied; must be unique in the set.
 * @param offset  OUT: position of the tensor's first element in the flat arrays.
 * @return 0, CDNOPT_EINVAL (name empty, longer than 127 bytes or already present;
 *         zero size) or CDNOPT_ENOMEM. On failure the set keeps its tensors.
 * NOTE: the arrays may move, so pointers from cdnopt_params_values() and
 * cdnopt_params_grads() are invalid after this call.
 */
int cdnopt_params_add(cdnopt_params *ps, const char *name, size_t n_rows, size_t n_cols,
                      size_t *offset);

/** Number of floats in the value array (the same as in the gradient array). */
size_t cdnopt_params_count(const cdnopt_params *ps);

/**
 * Flat array of parameter values, cdnopt_params_count() floats.
 * @return a pointer borrowed from the set, valid until the next cdnopt_params_add()
 *         or free. It is NULL while the set is empty.
 */
float *cdnopt_params_values(cdnopt_params *ps);

/** Const view of the values (see cdnopt_params_values()). */
const float *cdnopt_params_values_const(const cdnopt_params *ps);

/** Flat array of gradients, laid out like the values (see cdnopt_params_values()). */
float *cdnopt_params_grads(cdnopt_params *ps);

/** Set every gradient to zero; call once per batch before the backward passes. */
void cdnopt_params_zero_grads(cdnopt_params *ps);

/** Number of named tensors in the set. */
size_t cdnopt_params_n_tensors(const cdnopt_params *ps);

/**
 * Describe tensor i (0 <= i < cdnopt_params_n_tensors()).
 * @return 0, or CDNOPT_ENOTFOUND when i is out of range. info->name is borrowed from
 *         the set and valid until it is freed.
 */
int cdnopt_params_tensor(const cdnopt_params *ps, size_t i, cdnopt_param_tensor *info);

/**
 * Find a tensor by name.
 * @return 0 and *info filled, or CDNOPT_ENOTFOUND.
 */
int cdnopt_params_find(const cdnopt_params *ps, const char *name, cdnopt_param_tensor *info);

/**
 * Copy all values from src to dst (for example into a target network).
 * @return 0, or CDNOPT_ESHAPE when the two sets do not have the same tensors in the
 *         same order with the same shapes (dst is then unchanged).
 */
int cdnopt_params_copy_values(cdnopt_params *dst, const cdnopt_params *src);

/**
 * Check every gradient for NaN or Inf.
 * @return 0 or CDNOPT_ENUMERIC.
 */
int cdnopt_params_check_grads(const cdnopt_params *ps);

/**
 * Scale the gradients so that their global L2 norm is at most max_norm (the
 * Keras global_clipnorm rule). Gradients with a smaller norm are left alone.
 * @param max_norm  positive limit; 0 or less disables clipping.
 * @param norm      OUT (may be NULL): the norm before clipping, computed in double.
 * @return 0, or CDNOPT_ENUMERIC when the norm is NaN or Inf (nothing is scaled).
 */
int cdnopt_params_clip_grad_norm(cdnopt_params *ps, float max_norm, float *norm);

/* ------------------------------------------------------------------------- */
/* Initialisation                                                            */
/* ------------------------------------------------------------------------- */

/** Initialiser of a recurrent kernel. Values are stored in model files. */
enum cdnopt_init {
    CDNOPT_INIT_ORTHOGONAL = 0,    /* rows of U[H, 4H] orthonormal (Keras default) */
    CDNOPT_INIT_SCALED_UNIFORM = 1 /* uniform in [-1/sqrt(H), 1/sqrt(H)] */
};

/**
 * Fill a fan_in x fan_out matrix with Glorot uniform values, limit
 * sqrt(6 / (fan_in + fan_out)).
 */
void cdnopt_init_glorot_uniform(float *w, size_t fan_in, size_t fan_out, cdnopt_rng *rng);

/**
 * Fill an n_rows x n_cols matrix so that its rows (when n_rows <= n_cols) or its
 * columns (otherwise) are orthonormal, by modified Gram-Schmidt on normal variates.
 * @return 0 or CDNOPT_ENOMEM (for a temporary of n_rows * n_cols doubles).
 */
int cdnopt_init_orthogonal(float *w, size_t n_rows, size_t n_cols, cdnopt_rng *rng);

/** Fill n values uniformly in [-limit, limit]. */
void cdnopt_init_uniform(float *w, size_t n, float limit, cdnopt_rng *rng);

/* ------------------------------------------------------------------------- */
/* Traces                                                                    */
/* ------------------------------------------------------------------------- */

/**
 * The record of one forward pass of one layer: its output and the activations its
 * backward pass needs. Owned by the scratch arena it was made in, valid until the
 * next reset, and never freed on its own.
 */
typedef struct cdnopt_trace cdnopt_trace;

/**
 * Output of the forward pass, in the arena. The caller may modify it in place, except
 * for a dense layer with a non-linear activation, whose backward pass reads it.
 */
float *cdnopt_trace_output(const cdnopt_trace *trace);

/** Number of floats in the output. */
size_t cdnopt_trace_output_size(const cdnopt_trace *trace);

/* ------------------------------------------------------------------------- */
/* Activations                                                               */
/* ------------------------------------------------------------------------- */

/** Element-wise activation of a dense layer. Values are stored in model files. */
enum cdnopt_act {
    CDNOPT_ACT_LINEAR = 0,
    CDNOPT_ACT_RELU = 1,
    CDNOPT_ACT_TANH = 2,
    CDNOPT_ACT_SIGMOID = 3
};

/* ------------------------------------------------------------------------- */
/* Dense layer                                                               */
/* ------------------------------------------------------------------------- */

typedef struct cdnopt_dense cdnopt_dense;

/** Configuration of a dense layer y = act(x W + b), W [n_in, n_out]. */
typedef struct cdnopt_dense_params {
    size_t n_in;         /* input features */
    size_t n_out;        /* output features */
    enum cdnopt_act act; /* activation (default linear) */
    bool use_bias;       /* add b (default true) */
    const char *name;    /* tensor name prefix, e.g. "head" -> "head/kernel" */
} cdnopt_dense_params;

/** Defaults: linear, with bias, name "dense"; n_in and n_out are 0 and must be set. */
cdnopt_dense_params cdnopt_dense_params_default(void);

/**
 * Create a dense layer and add its tensors "<name>/kernel" [n_in, n_out] (Glorot
 * uniform) and "<name>/bias" [1, n_out] (zeros) to ps.
 * @param rng  generator for the initial values.
 * @param out  OUT: the layer, freed with cdnopt_dense_free(); NULL on failure.
 * @return 0, CDNOPT_EINVAL (zero size, bad activation, name clash) or CDNOPT_ENOMEM.
 */
int cdnopt_dense_new(cdnopt_params *ps, const cdnopt_dense_params *params, cdnopt_rng *rng,
                     cdnopt_dense **out);

/** Free a dense layer (its values stay in the parameter set). NULL is a no-op. */
void cdnopt_dense_free(cdnopt_dense *layer);

/**
 * Forward pass on x [n_rows, n_in]; the output is [n_rows, n_out]. A sequence batch
 * [n_batch, n_steps, n_in] is passed as n_rows = n_batch * n_steps.
 * @param x      input, borrowed: it must stay unchanged until the backward pass.
 * @param trace  OUT: the trace, in the arena.
 * @return 0 or CDNOPT_ENOMEM.
 */
int cdnopt_dense_forward(const cdnopt_dense *layer, cdnopt_scratch *scratch, size_t n_rows,
                         const float *x, cdnopt_trace **trace);

/**
 * Backward pass: add dL/dW and dL/db into the gradient array and compute dL/dx.
 * @param trace  the trace of the matching forward pass.
 * @param dy     dL/dy, same shape as the output.
 * @param dx     OUT (may be NULL to skip the computation): dL/dx [n_rows, n_in] in the arena.
 * @return 0, CDNOPT_EINVAL (trace of another layer kind) or CDNOPT_ENOMEM.
 */
int cdnopt_dense_backward(const cdnopt_dense *layer, cdnopt_scratch *scratch,
                          const cdnopt_trace *trace, const float *dy, float **dx);

/* ------------------------------------------------------------------------- */
/* LSTM layer                                                                */
/* ------------------------------------------------------------------------- */

typedef struct cdnopt_lstm cdnopt_lstm;

/**
 * Configuration of an LSTM layer with Keras gate order (i, f, g, o):
 *   z_t = x_t W + h_{t-1} U + b,   W [n_in, 4H], U [H, 4H], b [4H]
 *   i = sigmoid(z_i), f = sigmoid(z_f), g = tanh(z_g), o = sigmoid(z_o)
 *   c_t = f * c_{t-1} + i * g,     h_t = o * tanh(c_t)
 */
typedef struct cdnopt_lstm_params {
    size_t n_in;                  /* input features */
    size_t n_hidden;              /* hidden units H */
    bool return_sequences;        /* output h for every step, else only the last h */
    enum cdnopt_init recurrent_init; /* initialisation of U (default orthogonal) */
    bool unit_forget_bias;        /* start the forget-gate bias at 1 (default true) */
    const char *name;             /* tensor name prefix (default "lstm") */
} cdnopt_lstm_params;

/** Defaults: last state only, orthogonal U, forget bias 1, name "lstm"; sizes must be set. */
cdnopt_lstm_params cdnopt_lstm_params_default(void);

/**
 * Create an LSTM layer and add "<name>/kernel" [n_in, 4H] (Glorot uniform),
 * "<name>/recurrent_kernel" [H, 4H] and "<name>/bias" [1, 4H] to ps.
 * These are the defaults of Keras LSTMCell (keras.io/api/layers/recurrent_layers/
 * lstm_cell). Its unit_forget_bias=True starts the forget-gate bias at 1, a choice the
 * Keras docs credit to Jozefowicz et al. 2015.
 * @param out  OUT: the layer, freed with cdnopt_lstm_free(); NULL on failure.
 * @return 0, CDNOPT_EINVAL (zero size, name clash) or CDNOPT_ENOMEM.
 */
int cdnopt_lstm_new(cdnopt_params *ps, const cdnopt_lstm_params *params, cdnopt_rng *rng,
                    cdnopt_lstm **out);

/** Free an LSTM layer (its values stay in the parameter set). NULL is a no-op. */
void cdnopt_lstm_free(cdnopt_lstm *layer);

/** Hidden units H of the layer. */
size_t cdnopt_lstm_n_hidden(const cdnopt_lstm *layer);

/**
 * Forward pass over x [n_batch, n_steps, n_in] from a zero state. The output is
 * [n_batch, n_steps, H] with return_sequences, else [n_batch, H] (the last h).
 * The input projection of all steps is one GEMM; each step then adds h_{t-1} U.
 * @param x      input, borrowed until the backward pass.
 * @param trace  OUT: the trace, in the arena: about (7 H + n_in) * n_batch * n_steps
 *               floats kept for BPTT (gates, h, c, the input and the output).
 * @return 0, CDNOPT_EINVAL (n_batch or n_steps is 0) or CDNOPT_ENOMEM.
 */
int cdnopt_lstm_forward(const cdnopt_lstm *layer, cdnopt_scratch *scratch, size_t n_batch,
                        size_t n_steps, const float *x, cdnopt_trace **trace);

/**
 * Final state of a forward pass, [n_batch, H] each, borrowed from the trace, to start
 * a roll-out with cdnopt_lstm_step().
 * @return 0, or CDNOPT_EINVAL when trace is not an LSTM trace.
 */
int cdnopt_lstm_trace_state(const cdnopt_trace *trace, const float **h, const float **c);

/**
 * Backpropagation through time: add dL/dW, dL/dU and dL/db into the gradient array.
 * @param dy  dL/d(output), shaped like the forward output (sequence or last state).
 * @param dx  OUT (may be NULL to skip): dL/dx [n_batch, n_steps, n_in] in the arena.
 * @return 0, CDNOPT_EINVAL (trace of another layer kind) or CDNOPT_ENOMEM.
 */
int cdnopt_lstm_backward(const cdnopt_lstm *layer, cdnopt_scratch *scratch,
                         const cdnopt_trace *trace, const float *dy, float **dx);

/**
 * One step for a roll-out, with the state carried by the caller:
 * (h, c) <- LSTM(x, h, c). No trace is kept and there is no backward pass.
 * @param x  input [n_batch, n_in].
 * @param h  IN/OUT: hidden state [n_batch, H].
 * @param c  IN/OUT: cell state [n_batch, H].
 * @return 0 or CDNOPT_ENOMEM (the state is unchanged).
 */
int cdnopt_lstm_step(const cdnopt_lstm *layer, cdnopt_scratch *scratch, size_t n_batch,
                     const float *x, float *h, float *c);

/* ------------------------------------------------------------------------- */
/* Dropout                                                                   */
/* ------------------------------------------------------------------------- */

/**
 * Draw an inverted-dropout mask of n values: each is 0 with probability rate and
 * 1 / (1 - rate) otherwise, so that the expected output equals the input.
 * Draw once and reuse the mask to keep it fixed (Monte-Carlo dropout roll-outs).
 * @param rate  drop probability in [0, 1); 0 gives a mask of ones.
 * @return 0, or CDNOPT_EINVAL when rate is outside [0, 1) (mask unchanged).
 */
int cdnopt_dropout_mask(float *mask, size_t n, float rate, cdnopt_rng *rng);

/**
 * y[b, t, f] = x[b, t, f] * mask[b, f] for x [n_batch, n_steps, n_feat]: the mask of
 * one sample is shared by all its steps. The backward pass is the same call with
 * dy and dx in place of x and y. For a mask per element pass n_steps = 1 and
 * n_feat = steps * features. y may equal x.
 */
void cdnopt_dropout_apply(const float *mask, size_t n_batch, size_t n_steps, size_t n_feat,
                          const float *x, float *y);

/* ------------------------------------------------------------------------- */
/* Multi-head self-attention                                                 */
/* ------------------------------------------------------------------------- */

typedef struct cdnopt_mha cdnopt_mha;

/**
 * Configuration of multi-head self-attention over x [n_batch, n_steps, D]:
 *   [Q K V] = x Wqkv + bqkv,   Wqkv [D, 3D]; head h uses columns h*d..(h+1)*d-1
 *   of each of Q, K, V, with d = D / n_head
 *   A_h = softmax(Q_h K_h^T / sqrt(d))   (entries j > i masked out when causal)
 *   y = concat_h(A_h V_h) Wo + bo,     Wo [D, D]
 */
typedef struct cdnopt_mha_params {
    size_t n_embd;    /* model width D */
    size_t n_head;    /* heads; must divide n_embd */
    bool causal;      /* step i attends only to steps <= i */
    const char *name; /* tensor name prefix (default "mha") */
} cdnopt_mha_params;

/** Defaults: not causal, name "mha"; n_embd and n_head (1) must be set. */
cdnopt_mha_params cdnopt_mha_params_default(void);

/**
 * Create an attention layer and add "<name>/qkv_kernel" [D, 3D], "<name>/qkv_bias"
 * [1, 3D], "<name>/out_kernel" [D, D] and "<name>/out_bias" [1, D] to ps (Glorot
 * uniform kernels, zero biases).
 * @param out  OUT: the layer, freed with cdnopt_mha_free(); NULL on failure.
 * @return 0, CDNOPT_EINVAL (zero size, n_head not dividing n_embd, name clash) or
 *         CDNOPT_ENOMEM.
 */
int cdnopt_mha_new(cdnopt_params *ps, const cdnopt_mha_params *params, cdnopt_rng *rng,
                   cdnopt_mha **out);

/** Free an attention layer. NULL is a no-op. */
void cdnopt_mha_free(cdnopt_mha *layer);

/**
 * Forward pass; the output has the shape of x [n_batch, n_steps, D].
 * @param x      input, borrowed until the backward pass.
 * @param trace  OUT: the trace, in the arena (n_batch * n_head * n_steps^2 floats of
 *               attention weights plus 5 * n_batch * n_steps * D).
 * @return 0, CDNOPT_EINVAL (n_batch or n_steps is 0) or CDNOPT_ENOMEM.
 */
int cdnopt_mha_forward(const cdnopt_mha *layer, cdnopt_scratch *scratch, size_t n_batch,
                       size_t n_steps, const float *x, cdnopt_trace **trace);

/**
 * Attention weights of a forward pass, [n_batch, n_head, n_steps, n_steps], borrowed
 * from the trace (for inspection and tests). NULL when trace is not an attention trace.
 */
const float *cdnopt_mha_trace_weights(const cdnopt_trace *trace);

/**
 * Backward pass through the output projection, the softmax and the Q/K/V projections.
 * @param dy  dL/dy [n_batch, n_steps, D].
 * @param dx  OUT (may be NULL to skip): dL/dx [n_batch, n_steps, D] in the arena.
 * @return 0, CDNOPT_EINVAL (trace of another layer kind) or CDNOPT_ENOMEM.
 */
int cdnopt_mha_backward(const cdnopt_mha *layer, cdnopt_scratch *scratch,
                        const cdnopt_trace *trace, const float *dy, float **dx);

/* ------------------------------------------------------------------------- */
/* Layer normalisation                                                       */
/* ------------------------------------------------------------------------- */

typedef struct cdnopt_layernorm cdnopt_layernorm;

/**
 * Create a layer norm over the last axis of width n_feat:
 *   y = gamma * (x - mean) / sqrt(var + eps) + beta,   eps = 1e-3 as in Keras.
 * Adds "<name>/gamma" [1, n_feat] (ones) and "<name>/beta" [1, n_feat] (zeros) to ps.
 * @param name  tensor name prefix (NULL gives "layernorm").
 * @param out   OUT: the layer, freed with cdnopt_layernorm_free(); NULL on failure.
 * @return 0, CDNOPT_EINVAL (n_feat == 0, name clash) or CDNOPT_ENOMEM.
 */
int cdnopt_layernorm_new(cdnopt_params *ps, const char *name, size_t n_feat,
                         cdnopt_layernorm **out);

/** Free a layer norm. NULL is a no-op. */
void cdnopt_layernorm_free(cdnopt_layernorm *layer);

/**
 * Forward pass on x [n_rows, n_feat] (a sequence batch as n_batch * n_steps rows).
 * @param trace  OUT: the trace, in the arena.
 * @return 0 or CDNOPT_ENOMEM.
 */
int cdnopt_layernorm_forward(const cdnopt_layernorm *layer, cdnopt_scratch *scratch,
                             size_t n_rows, const float *x, cdnopt_trace **trace);

/**
 * Backward pass: add dL/dgamma and dL/dbeta into the gradient array.
 * @param dx  OUT (may be NULL to skip): dL/dx [n_rows, n_feat] in the arena.
 * @return 0, CDNOPT_EINVAL (trace of another layer kind) or CDNOPT_ENOMEM.
 */
int cdnopt_layernorm_backward(const cdnopt_layernorm *layer, cdnopt_scratch *scratch,
                              const cdnopt_trace *trace, const float *dy, float **dx);

/* ------------------------------------------------------------------------- */
/* Loss                                                                      */
/* ------------------------------------------------------------------------- */

/**
 * Mean squared error over n values: (1/n) * sum (pred - target)^2, accumulated in double.
 * @param loss  OUT: the loss.
 * @return 0, CDNOPT_EINVAL (n == 0) or CDNOPT_ENUMERIC when the loss is NaN or Inf.
 */
int cdnopt_mse_forward(const float *pred, const float *target, size_t n, float *loss);

/** Gradient of the MSE: dpred[i] = 2 (pred[i] - target[i]) / n. n must be positive. */
void cdnopt_mse_backward(const float *pred, const float *target, size_t n, float *dpred);

/* ------------------------------------------------------------------------- */
/* Adam                                                                      */
/* ------------------------------------------------------------------------- */

typedef struct cdnopt_adam cdnopt_adam;

/** Adam settings; the defaults match Keras (lr 1e-3, 0.9, 0.999, eps 1e-7). */
typedef struct cdnopt_adam_params {
    float lr;        /* learning rate */
    float beta1;     /* decay of the first moment */
    float beta2;     /* decay of the second moment */
    float eps;       /* added to sqrt(v_hat); the "epsilon hat" of Kingma & Ba, as in Keras */
    float clip_norm; /* clip gradients to this global L2 norm before the update; 0 = off */
} cdnopt_adam_params;

/** Keras defaults, clipping off. */
cdnopt_adam_params cdnopt_adam_params_default(void);

/**
 * Create an Adam optimizer for a parameter set of n_params floats (zero moments).
 * @param out  OUT: freed with cdnopt_adam_free(); NULL on failure.
 * @return 0, CDNOPT_EINVAL (n_params == 0, lr <= 0, beta outside [0, 1), eps < 0)
 *         or CDNOPT_ENOMEM.
 */
int cdnopt_adam_new(const cdnopt_adam_params *params, size_t n_params, cdnopt_adam **out);

/** Free the optimizer. NULL is a no-op. */
void cdnopt_adam_free(cdnopt_adam *opt);

/**
 * One update from the gradients in ps: check them for NaN/Inf, clip by global norm
 * when clip_norm > 0, then with step count t (from 1):
 *   m = b1 m + (1 - b1) g,  v = b2 v + (1 - b2) g^2,
 *   p -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)
 * @return 0, CDNOPT_ESHAPE (ps has another size than the optimizer) or
 *         CDNOPT_ENUMERIC (non-finite gradient: neither values nor moments change).
 */
int cdnopt_adam_step(cdnopt_adam *opt, cdnopt_params *ps);

/** Change the learning rate (for schedules); lr must be positive. */
void cdnopt_adam_set_lr(cdnopt_adam *opt, float lr);

/** Number of updates applied so far. */
uint64_t cdnopt_adam_steps(const cdnopt_adam *opt);

/**
 * Adam's state, for a training checkpoint: the first and second moments (one float per
 * parameter each, owned by opt) and the number of updates applied.
 */
void cdnopt_adam_state(const cdnopt_adam *opt, const float **m, const float **v, uint64_t *t);

/**
 * Restore a state read back from a checkpoint, so that the next update equals the one
 * the saved optimizer would have made.
 * @return 0, CDNOPT_ESHAPE (n differs from the optimizer's size) or CDNOPT_EINVAL (a
 *         moment is NaN or Inf, or a second moment is negative). On error opt is unchanged.
 */
int cdnopt_adam_restore(cdnopt_adam *opt, const float *m, const float *v, size_t n, uint64_t t);

#endif /* CDNOPT_NN_H */
