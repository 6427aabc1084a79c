/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Definitions shared by the files of src/nn: the trace record that a forward pass
 * leaves in the scratch arena, the layer structs, and small element-wise helpers.
 * Layers keep offsets into their parameter set, never pointers, because the set's
 * arrays move when tensors are added.
 */
#ifndef CDNOPT_NN_IMPL_H
#define CDNOPT_NN_IMPL_H

#include "cdnopt/nn.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

enum trace_kind {
    TRACE_DENSE = 1,
    TRACE_LSTM = 2,
    TRACE_MHA = 3,
    TRACE_LAYERNORM = 4,
};

/* Everything a backward pass needs. Buffers point into the same arena as the trace. */
struct cdnopt_trace {
    enum trace_kind kind;
    const void *layer;  /* the layer that made the trace, checked by backward */
    float *y;           /* output */
    size_t y_size;      /* floats in y */
    const float *x;     /* borrowed input */
    size_t n_batch;     /* rows, or sequences for LSTM and attention */
    size_t n_steps;     /* time steps (1 for row-wise layers) */
    union {
        struct {
            float *xt;    /* input, time-major [T, B, n_in] */
            float *gates; /* activated gates, time-major [T, B, 4H] */
            float *h;     /* hidden states, time-major [T + 1, B, H], slot 0 = h0 = 0 */
            float *c;     /* cell states, same layout */
        } lstm;
        struct {
            float *qkv;   /* projections [B * T, 3D] */
            float *att;   /* softmax weights [B, n_head, T, T] */
            float *ctx;   /* concatenated heads before the output projection [B * T, D] */
        } mha;
        struct {
            float *xhat;  /* normalised input [n_rows, n_feat] */
            float *rstd;  /* 1 / sqrt(var + eps) per row */
        } ln;
    } u;
};

/* Allocate a zeroed trace of the given kind in the arena; NULL when out of memory. */
cdnopt_trace *cdnopt__trace_new(cdnopt_scratch *scratch, enum trace_kind kind,
                                const void *layer);

struct cdnopt_dense {
    cdnopt_params *ps;
    size_t n_in, n_out;
    enum cdnopt_act act;
    bool use_bias;
    size_t off_kernel, off_bias; /* offsets into ps; off_bias unused without bias */
};

struct cdnopt_lstm {
    cdnopt_params *ps;
    size_t n_in, n_hidden;
    bool return_sequences;
    size_t off_kernel, off_recurrent, off_bias;
};

struct cdnopt_mha {
    cdnopt_params *ps;
    size_t n_embd, n_head;
    bool causal;
    size_t off_qkv_kernel, off_qkv_bias, off_out_kernel, off_out_bias;
};

struct cdnopt_layernorm {
    cdnopt_params *ps;
    size_t n_feat;
    size_t off_gamma, off_beta;
};

/*
 * Add "<prefix>/<suffix>" of n_rows x n_cols to ps. Returns 0, CDNOPT_EINVAL when the
 * joined name is too long or clashes, or CDNOPT_ENOMEM.
 */
int cdnopt__params_add_named(cdnopt_params *ps, const char *prefix, const char *suffix,
                             size_t n_rows, size_t n_cols, size_t *offset);

/*
 * Drop the tensors added after the set had n_tensors, so that a layer constructor that
 * fails part-way leaves the set as it found it. The arrays keep their capacity.
 */
void cdnopt__params_truncate(cdnopt_params *ps, size_t n_tensors);

/* Add bias[j] to every row of y [n_rows, n_cols]. */
void cdnopt__add_row_bias(float *y, size_t n_rows, size_t n_cols, const float *bias);

/* db[j] += sum over rows of dy[r, j]. */
void cdnopt__sum_rows(const float *dy, size_t n_rows, size_t n_cols, float *db);

/*
 * e^x without a libm call, so that the gate loops vectorise. With x = n ln2 + r and
 * |r| <= ln2 / 2, e^r comes from its Taylor polynomial to degree 7 (truncation error
 * below 6e-9 relative) and 2^n is written into the exponent bits. x is clamped to
 * [-87, 88] so that 2^n stays a normal float; a NaN fails both comparisons, passes
 * through, and makes the result NaN.
 */
static inline float cdnopt__expf(float x)
{
    x = x > 88.0f ? 88.0f : x;
    x = x < -87.0f ? -87.0f : x;

    /* Adding 1.5 * 2^23 rounds x / ln2 to the integer n and leaves n in the low
     * mantissa bits of t. */
    const float shifter = 12582912.0f;
    float t = x * 1.44269504088896341f + shifter;
    float n = t - shifter;

    /* r = x - n ln2, with ln2 split into 355/512 (exact in n * hi) and the rest. */
    float r = x - n * 0.693359375f + n * 2.12194440054690583e-4f;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;

    uint32_t bits;
    memcpy(&bits, &t, sizeof(bits));
    bits = (bits - 0x4B400000u + 127u) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof(scale));
    return p * scale;
}

static inline float cdnopt__sigmoid(float z)
{
    return 1.0f / (1.0f + cdnopt__expf(-z));
}

/*
 * tanh(z) = 2 sigmoid(2 z) - 1. With glibc's tanhf and expf the activations took about
 * a third of an LSTM training step. This form on cdnopt__expf cut the CPU time of
 * bench_nn from about 200 to 125 ms per batch (one BLAS thread). Near 0 the subtraction
 * costs relative accuracy, while the absolute error stays below 2e-7 (tested on a
 * 1e-3 grid over [-20, 20]). Large |z| is safe: the clamp in cdnopt__expf gives
 * exactly -1 or 1.
 */
static inline float cdnopt__tanh(float z)
{
    return 2.0f / (1.0f + cdnopt__expf(-2.0f * z)) - 1.0f;
}

#endif /* CDNOPT_NN_IMPL_H */
