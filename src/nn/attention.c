/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Multi-head self-attention with scaled dot products, batch-first (the equations are
 * in cdnopt/nn.h). Q, K and V come from one GEMM with a fused [D, 3D] kernel. Each (sequence, head) pair then runs two small GEMMs on column slices of
 * Q, K, V and the context. The slices are addressed through the leading dimension,
 * so no head is copied out.
 */
#include "nn-impl.h"

cdnopt_mha_params cdnopt_mha_params_default(void)
{
    return (cdnopt_mha_params){.n_embd = 0, .n_head = 1, .causal = false, .name = "mha"};
}

int cdnopt_mha_new(cdnopt_params *ps, const cdnopt_mha_params *params, cdnopt_rng *rng,
                   cdnopt_mha **out)
{
    *out = NULL;
    size_t d = params->n_embd, nh = params->n_head;
    if (d == 0 || nh == 0 || d % nh != 0)
        return CDNOPT_EINVAL;
    const char *name = params->name != NULL ? params->name : "mha";

    cdnopt_mha *a = cdnopt_calloc(1, sizeof(*a));
    if (a == NULL)
        return CDNOPT_ENOMEM;
    *a = (cdnopt_mha){.ps = ps, .n_embd = d, .n_head = nh, .causal = params->causal};

    size_t n_tensors_before = cdnopt_params_n_tensors(ps);
    int rc = cdnopt__params_add_named(ps, name, "qkv_kernel", d, 3 * d, &a->off_qkv_kernel);
    if (rc == CDNOPT_OK)
        rc = cdnopt__params_add_named(ps, name, "qkv_bias", 1, 3 * d, &a->off_qkv_bias);
    if (rc == CDNOPT_OK)
        rc = cdnopt__params_add_named(ps, name, "out_kernel", d, d, &a->off_out_kernel);
    if (rc == CDNOPT_OK)
        rc = cdnopt__params_add_named(ps, name, "out_bias", 1, d, &a->off_out_bias);
    if (rc != CDNOPT_OK) {
        cdnopt__params_truncate(ps, n_tensors_before);
        cdnopt_free(a);
        return rc;
    }

    /* Q, K and V are three [D, D] projections that share one array, so each gets the
     * Glorot limit of a [D, D] matrix rather than that of the fused [D, 3D] one. */
    float *values = cdnopt_params_values(ps);
    float limit = (float)sqrt(6.0 / (2.0 * (double)d));
    float *wqkv = values + a->off_qkv_kernel;
    for (size_t r = 0; r < d; r++)
        cdnopt_init_uniform(wqkv + r * 3 * d, 3 * d, limit, rng);
    cdnopt_init_glorot_uniform(values + a->off_out_kernel, d, d, rng);
    *out = a;
    return CDNOPT_OK;
}

void cdnopt_mha_free(cdnopt_mha *layer)
{
    cdnopt_free(layer);
}

/* Softmax of each row of s [n, n] in place; with causal, entries j > i become 0. */
static void softmax_rows(float *s, size_t n, bool causal)
{
    for (size_t i = 0; i < n; i++) {
        float *row = s + i * n;
        size_t n_valid = causal ? i + 1 : n;

        /* Subtract the row maximum so that the exponential cannot overflow. */
        float mx = row[0];
        for (size_t j = 1; j < n_valid; j++)
            mx = row[j] > mx ? row[j] : mx;
        float sum = 0.0f;
        for (size_t j = 0; j < n_valid; j++) {
            row[j] = cdnopt__expf(row[j] - mx);
            sum += row[j];
        }
        float inv = 1.0f / sum;
        for (size_t j = 0; j < n_valid; j++)
            row[j] *= inv;
        for (size_t j = n_valid; j < n; j++)
            row[j] = 0.0f;
    }
}

static int forward_alloc(const cdnopt_mha *a, cdnopt_scratch *s, cdnopt_trace *t)
{
    size_t rows = t->n_batch * t->n_steps, d = a->n_embd;
    t->u.mha.qkv = cdnopt_scratch_floats(s, rows * 3 * d);
    t->u.mha.att = cdnopt_scratch_floats(s, t->n_batch * a->n_head * t->n_steps * t->n_steps);
    t->u.mha.ctx = cdnopt_scratch_floats(s, rows * d);
    t->y_size = rows * d;
    t->y = cdnopt_scratch_floats(s, t->y_size);
    if (t->u.mha.qkv == NULL || t->u.mha.att == NULL || t->u.mha.ctx == NULL || t->y == NULL)
        return CDNOPT_ENOMEM;
    return CDNOPT_OK;
}

int cdnopt_mha_forward(const cdnopt_mha *layer, cdnopt_scratch *scratch, size_t n_batch,
                       size_t n_steps, const float *x, cdnopt_trace **trace)
{
    *trace = NULL;
    if (n_steps == 0 || n_batch == 0)
        return CDNOPT_EINVAL;
    cdnopt_trace *t = cdnopt__trace_new(scratch, TRACE_MHA, layer);
    if (t == NULL)
        return CDNOPT_ENOMEM;
    t->x = x;
    t->n_batch = n_batch;
    t->n_steps = n_steps;
    if (forward_alloc(layer, scratch, t) != CDNOPT_OK)
        return CDNOPT_ENOMEM;

    size_t d = layer->n_embd, d3 = 3 * d, nh = layer->n_head, dk = d / nh, T = n_steps;
    size_t rows = n_batch * T;
    const float *values = cdnopt_params_values_const(layer->ps);
    float *qkv = t->u.mha.qkv, *att = t->u.mha.att, *ctx = t->u.mha.ctx;

    /* [Q K V] = x Wqkv + bqkv for all rows in one GEMM. */
    cdnopt_sgemm(false, false, rows, d3, d, 1.0f, x, d, values + layer->off_qkv_kernel, d3, 0.0f,
                 qkv, d3);
    cdnopt__add_row_bias(qkv, rows, d3, values + layer->off_qkv_bias);

    /* Per sequence and head: A = softmax(Q K^T / sqrt(dk)), ctx_h = A V. */
    float scale = (float)(1.0 / sqrt((double)dk));
    for (size_t b = 0; b < n_batch; b++) {
        for (size_t h = 0; h < nh; h++) {
            const float *q = qkv + b * T * d3 + h * dk;
            float *a = att + (b * nh + h) * T * T;
            cdnopt_sgemm(false, true, T, T, dk, scale, q, d3, q + d, d3, 0.0f, a, T);
            softmax_rows(a, T, layer->causal);
            cdnopt_sgemm(false, false, T, dk, T, 1.0f, a, T, q + 2 * d, d3, 0.0f,
                         ctx + b * T * d + h * dk, d);
        }
    }

    /* y = ctx Wo + bo. */
    cdnopt_sgemm(false, false, rows, d, d, 1.0f, ctx, d, values + layer->off_out_kernel, d, 0.0f,
                 t->y, d);
    cdnopt__add_row_bias(t->y, rows, d, values + layer->off_out_bias);
    *trace = t;
    return CDNOPT_OK;
}

const float *cdnopt_mha_trace_weights(const cdnopt_trace *trace)
{
    return trace->kind == TRACE_MHA ? trace->u.mha.att : NULL;
}

/*
 * Softmax backward for one [n, n] block: dS = A * (dA - rowsum(dA * A)), scaled by
 * 1/sqrt(dk) so that dS is the gradient of the unscaled product Q K^T. Masked
 * entries have A = 0 and so get dS = 0.
 */
static void softmax_backward(const float *a, float *da, size_t n, float scale)
{
    for (size_t i = 0; i < n; i++) {
        const float *ar = a + i * n;
        float *dr = da + i * n;
        float dot = 0.0f;
        for (size_t j = 0; j < n; j++)
            dot += dr[j] * ar[j];
        for (size_t j = 0; j < n; j++)
            dr[j] = scale * ar[j] * (dr[j] - dot);
    }
}

/* dQ, dK, dV of every head into dqkv [B * T, 3D] from dctx [B * T, D]. */
static void heads_backward(const cdnopt_mha *layer, const cdnopt_trace *t, const float *dctx,
                           float *da, float *dqkv)
{
    size_t d = layer->n_embd, d3 = 3 * d, nh = layer->n_head, dk = d / nh, T = t->n_steps;
    float scale = (float)(1.0 / sqrt((double)dk));
    for (size_t b = 0; b < t->n_batch; b++) {
        for (size_t h = 0; h < nh; h++) {
            const float *q = t->u.mha.qkv + b * T * d3 + h * dk, *k = q + d, *v = q + 2 * d;
            const float *a = t->u.mha.att + (b * nh + h) * T * T;
            const float *dc = dctx + b * T * d + h * dk;
            float *dq = dqkv + b * T * d3 + h * dk, *dkk = dq + d, *dv = dq + 2 * d;

            /* ctx = A V:  dA = dctx V^T,  dV = A^T dctx. */
            cdnopt_sgemm(false, true, T, T, dk, 1.0f, dc, d, v, d3, 0.0f, da, T);
            cdnopt_sgemm(true, false, T, dk, T, 1.0f, a, T, dc, d, 0.0f, dv, d3);

            /* S = Q K^T (scaled):  dQ = dS K,  dK = dS^T Q. */
            softmax_backward(a, da, T, scale);
            cdnopt_sgemm(false, false, T, dk, T, 1.0f, da, T, k, d3, 0.0f, dq, d3);
            cdnopt_sgemm(true, false, T, dk, T, 1.0f, da, T, q, d3, 0.0f, dkk, d3);
        }
    }
}

int cdnopt_mha_backward(const cdnopt_mha *layer, cdnopt_scratch *scratch,
                        const cdnopt_trace *trace, const float *dy, float **dx)
{
    if (dx != NULL)
        *dx = NULL;
    if (trace->kind != TRACE_MHA || trace->layer != layer)
        return CDNOPT_EINVAL;
    size_t d = layer->n_embd, d3 = 3 * d, T = trace->n_steps, rows = trace->n_batch * T;

    float *dctx = cdnopt_scratch_floats(scratch, rows * d);
    float *da = cdnopt_scratch_floats(scratch, T * T);
    float *dqkv = cdnopt_scratch_floats(scratch, rows * d3);
    float *dxb = dx != NULL ? cdnopt_scratch_floats(scratch, rows * d) : NULL;
    if (dctx == NULL || da == NULL || dqkv == NULL || (dx != NULL && dxb == NULL))
        return CDNOPT_ENOMEM;

    /* Output projection: dWo += ctx^T dy, dbo += sums, dctx = dy Wo^T. */
    const float *values = cdnopt_params_values_const(layer->ps);
    float *grads = cdnopt_params_grads(layer->ps);
    cdnopt_sgemm(true, false, d, d, rows, 1.0f, trace->u.mha.ctx, d, dy, d, 1.0f,
                 grads + layer->off_out_kernel, d);
    cdnopt__sum_rows(dy, rows, d, grads + layer->off_out_bias);
    cdnopt_sgemm(false, true, rows, d, d, 1.0f, dy, d, values + layer->off_out_kernel, d, 0.0f,
                 dctx, d);

    heads_backward(layer, trace, dctx, da, dqkv);

    /* Input projection: dWqkv += x^T dqkv, dbqkv += sums, dx = dqkv Wqkv^T. */
    cdnopt_sgemm(true, false, d, d3, rows, 1.0f, trace->x, d, dqkv, d3, 1.0f,
                 grads + layer->off_qkv_kernel, d3);
    cdnopt__sum_rows(dqkv, rows, d3, grads + layer->off_qkv_bias);
    if (dx != NULL) {
        cdnopt_sgemm(false, true, rows, d, d3, 1.0f, dqkv, d3, values + layer->off_qkv_kernel, d3,
                     0.0f, dxb, d);
        *dx = dxb;
    }
    return CDNOPT_OK;
}
