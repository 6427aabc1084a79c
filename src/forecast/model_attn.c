/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The attention hybrid (CDNOPT_ARCH_TRANSFORMER):
 *   h1 = LSTM1(x)                    whole sequence, [B, W, H], then dropout mask1
 *   z  = h1 Wp + bp                  projection to the model width D, [B, W, D]
 *   y  = MHA(z)                      self-attention over the encoded window
 *   a  = z[:, W-1] + y[:, W-1]       residual connection at the last step, [B, D]
 *   pred = (a * mask2) w + b + x[:, W-1, 0]
 * The LSTM encoder gives each step its order and context, and the calendar channels
 * give absolute time, so no positional encoding is added. Only the last step's output
 * is used, so the roll-out needs just the newest query against cached keys and values.
 */
#include "model-impl.h"

#include <math.h>
#include <string.h>

int cdnopt__attn_build_layers(cdnopt_model *m, cdnopt_rng *rng)
{
    cdnopt_dense_params dp = cdnopt_dense_params_default();
    dp.n_in = (size_t)m->p.units;
    dp.n_out = (size_t)m->p.d_model;
    dp.name = "proj";
    int rc = cdnopt_dense_new(m->ps, &dp, rng, &m->proj);
    if (rc != CDNOPT_OK)
        return rc;

    cdnopt_mha_params ap = cdnopt_mha_params_default();
    ap.n_embd = (size_t)m->p.d_model;
    ap.n_head = (size_t)m->p.n_head;
    ap.name = "mha";
    return cdnopt_mha_new(m->ps, &ap, rng, &m->mha);
}

/* ---- training passes ---- */

/* a[b] = z[b, W-1] + y[b, W-1] for z, y [B, W, D]. */
static void last_step_sum(const float *z, const float *y, size_t n_batch, size_t w, size_t d,
                          float *a)
{
    for (size_t b = 0; b < n_batch; b++) {
        const float *zb = z + (b * w + w - 1) * d, *yb = y + (b * w + w - 1) * d;
        for (size_t j = 0; j < d; j++)
            a[b * d + j] = zb[j] + yb[j];
    }
}

int cdnopt__attn_forward(const cdnopt_model *m, cdnopt_scratch *scratch, size_t n_batch,
                         const float *x, const float *mask1, const float *mask2,
                         model_pass *pass)
{
    size_t w = (size_t)m->p.window, h = (size_t)m->p.units, d = (size_t)m->p.d_model;
    size_t f = (size_t)m->n_features;

    int rc = cdnopt_lstm_forward(m->lstm1, scratch, n_batch, w, x, &pass->t1);
    if (rc != CDNOPT_OK)
        return rc;
    pass->d1 = cdnopt__model_mask(scratch, mask1, n_batch, w, h, cdnopt_trace_output(pass->t1));
    if (pass->d1 == NULL)
        return CDNOPT_ENOMEM;

    rc = cdnopt_dense_forward(m->proj, scratch, n_batch * w, pass->d1, &pass->tp);
    if (rc != CDNOPT_OK)
        return rc;
    const float *z = cdnopt_trace_output(pass->tp);
    rc = cdnopt_mha_forward(m->mha, scratch, n_batch, w, z, &pass->ta);
    if (rc != CDNOPT_OK)
        return rc;

    float *a = cdnopt_scratch_floats(scratch, n_batch * d);
    if (a == NULL)
        return CDNOPT_ENOMEM;
    last_step_sum(z, cdnopt_trace_output(pass->ta), n_batch, w, d, a);
    pass->d2 = cdnopt__model_mask(scratch, mask2, n_batch, 1, d, a);
    if (pass->d2 == NULL)
        return CDNOPT_ENOMEM;

    rc = cdnopt_dense_forward(m->head, scratch, n_batch, pass->d2, &pass->t3);
    if (rc != CDNOPT_OK)
        return rc;
    pass->pred = cdnopt_trace_output(pass->t3);
    for (size_t b = 0; b < n_batch; b++)
        pass->pred[b] += x[(b * w + w - 1) * f];
    return CDNOPT_OK;
}

int cdnopt__attn_backward(const cdnopt_model *m, cdnopt_scratch *scratch, const model_pass *pass,
                          const float *dpred, const float *mask1, const float *mask2)
{
    size_t w = (size_t)m->p.window, h = (size_t)m->p.units, d = (size_t)m->p.d_model;
    size_t n_batch = pass->n_batch;

    float *da = NULL;
    int rc = cdnopt_dense_backward(m->head, scratch, pass->t3, dpred, &da);
    if (rc != CDNOPT_OK)
        return rc;
    if (mask2 != NULL)
        cdnopt_dropout_apply(mask2, n_batch, 1, d, da, da);

    /* Only the last step's attention output reaches the loss. */
    float *dy = cdnopt_scratch_zeros(scratch, n_batch * w * d);
    if (dy == NULL)
        return CDNOPT_ENOMEM;
    for (size_t b = 0; b < n_batch; b++)
        memcpy(dy + (b * w + w - 1) * d, da + b * d, d * sizeof *dy);

    float *dz = NULL;
    rc = cdnopt_mha_backward(m->mha, scratch, pass->ta, dy, &dz);
    if (rc != CDNOPT_OK)
        return rc;

    /* The residual connection passes da straight to z at the last step. */
    for (size_t b = 0; b < n_batch; b++)
        for (size_t j = 0; j < d; j++)
            dz[(b * w + w - 1) * d + j] += da[b * d + j];

    float *dd1 = NULL;
    rc = cdnopt_dense_backward(m->proj, scratch, pass->tp, dz, &dd1);
    if (rc != CDNOPT_OK)
        return rc;
    if (mask1 != NULL)
        cdnopt_dropout_apply(mask1, n_batch, w, h, dd1, dd1);
    return cdnopt_lstm_backward(m->lstm1, scratch, pass->t1, dd1, NULL);
}

/* ---- roll-out ---- */

/* Weights of the attention layer, looked up by the names cdnopt_mha_new() gives them. */
typedef struct attn_weights {
    const float *qkv_kernel, *qkv_bias, *out_kernel, *out_bias;
} attn_weights;

static void find_attn_weights(const cdnopt_model *m, attn_weights *aw)
{
    const char *names[4] = {"mha/qkv_kernel", "mha/qkv_bias", "mha/out_kernel", "mha/out_bias"};
    const float **slots[4] = {&aw->qkv_kernel, &aw->qkv_bias, &aw->out_kernel, &aw->out_bias};
    const float *values = cdnopt_params_values_const(m->ps);
    for (int i = 0; i < 4; i++) {
        cdnopt_param_tensor t;
        int rc = cdnopt_params_find(m->ps, names[i], &t);
        CDNOPT_ASSERT(rc == CDNOPT_OK);
        *slots[i] = values + t.offset;
    }
}

/* Per-path state of an attention roll-out, in one heap block. */
struct attn_rollout {
    size_t n_batch;
    size_t next_slot;     /* cache slot the next step overwrites: the oldest step */
    attn_weights aw;
    float *k_cache;       /* keys of the last W steps, [B, W, D] */
    float *v_cache;       /* values of the last W steps, [B, W, D] */
    float *qkv;           /* projections of the newest step, [B, 3D] */
    float *z;             /* encoded newest step, [B, D] */
    float *ctx;           /* attention context of the newest query, [B, D] */
    float *scores;        /* one head's attention weights, [W] */
    float *block;
};

int cdnopt__attn_rollout_new(const cdnopt_model *m, size_t n_batch, attn_rollout **out)
{
    size_t w = (size_t)m->p.window, d = (size_t)m->p.d_model;
    *out = NULL;
    attn_rollout *ar = cdnopt_calloc(1, sizeof *ar);
    if (ar == NULL)
        return CDNOPT_ENOMEM;
    ar->block = cdnopt_malloc((n_batch * (2 * w * d + 5 * d) + w) * sizeof(float));
    if (ar->block == NULL) {
        cdnopt_free(ar);
        return CDNOPT_ENOMEM;
    }

    float *p = ar->block;
    ar->k_cache = p, p += n_batch * w * d;
    ar->v_cache = p, p += n_batch * w * d;
    ar->qkv = p, p += n_batch * 3 * d;
    ar->z = p, p += n_batch * d;
    ar->ctx = p, p += n_batch * d;
    ar->scores = p;
    ar->n_batch = n_batch;
    find_attn_weights(m, &ar->aw);
    *out = ar;
    return CDNOPT_OK;
}

void cdnopt__attn_rollout_free(attn_rollout *ar)
{
    if (ar == NULL)
        return;
    cdnopt_free(ar->block);
    cdnopt_free(ar);
}

/* ctx = softmax(q K^T / sqrt(dk)) V per head, for the newest query of every path. */
static void newest_query_attention(const cdnopt_model *m, attn_rollout *ar)
{
    size_t w = (size_t)m->p.window, d = (size_t)m->p.d_model, nh = (size_t)m->p.n_head;
    size_t dk = d / nh;
    float scale = (float)(1.0 / sqrt((double)dk));

    for (size_t b = 0; b < ar->n_batch; b++) {
        const float *kb = ar->k_cache + b * w * d, *vb = ar->v_cache + b * w * d;
        for (size_t hd = 0; hd < nh; hd++) {
            const float *q = ar->qkv + b * 3 * d + hd * dk;
            float max_score = -INFINITY;
            for (size_t t = 0; t < w; t++) {
                float s = 0.0f;
                for (size_t j = 0; j < dk; j++)
                    s += q[j] * kb[t * d + hd * dk + j];
                ar->scores[t] = s * scale;
                max_score = fmaxf(max_score, ar->scores[t]);
            }

            /* Subtracting the max keeps expf in range; the weights are unchanged. */
            float sum = 0.0f;
            for (size_t t = 0; t < w; t++) {
                ar->scores[t] = expf(ar->scores[t] - max_score);
                sum += ar->scores[t];
            }
            float *c = ar->ctx + b * d + hd * dk;
            memset(c, 0, dk * sizeof *c);
            for (size_t t = 0; t < w; t++) {
                float a = ar->scores[t] / sum;
                for (size_t j = 0; j < dk; j++)
                    c[j] += a * vb[t * d + hd * dk + j];
            }
        }
    }
}

/* Project encoded rows z [rows, D] to [Q K V] [rows, 3D]. */
static void project_qkv(const cdnopt_model *m, const attn_rollout *ar, size_t rows,
                        const float *z, float *qkv)
{
    size_t d = (size_t)m->p.d_model;
    cdnopt_sgemm(false, false, rows, 3 * d, d, 1.0f, z, d, ar->aw.qkv_kernel, 3 * d, 0.0f, qkv,
                 3 * d);
    for (size_t r = 0; r < rows; r++)
        for (size_t j = 0; j < 3 * d; j++)
            qkv[r * 3 * d + j] += ar->aw.qkv_bias[j];
}

/* Finish one step: out = (z + ctx Wo + bo) * mask2 -> head -> + last value. */
static int finish_step(const cdnopt_model *m, cdnopt_scratch *scratch, const attn_rollout *ar,
                       const float *mask2, const float *last_value, size_t value_stride,
                       float *pred, size_t pred_stride)
{
    size_t d = (size_t)m->p.d_model, n_batch = ar->n_batch;
    float *a = cdnopt_scratch_floats(scratch, n_batch * d);
    if (a == NULL)
        return CDNOPT_ENOMEM;
    memcpy(a, ar->z, n_batch * d * sizeof *a);
    cdnopt_sgemm(false, false, n_batch, d, d, 1.0f, ar->ctx, d, ar->aw.out_kernel, d, 1.0f, a, d);
    for (size_t b = 0; b < n_batch; b++)
        for (size_t j = 0; j < d; j++)
            a[b * d + j] += ar->aw.out_bias[j];
    if (mask2 != NULL)
        cdnopt_dropout_apply(mask2, n_batch, 1, d, a, a);

    cdnopt_trace *t3 = NULL;
    int rc = cdnopt_dense_forward(m->head, scratch, n_batch, a, &t3);
    if (rc != CDNOPT_OK)
        return rc;
    const float *out = cdnopt_trace_output(t3);
    for (size_t b = 0; b < n_batch; b++)
        pred[b * pred_stride] = out[b] + last_value[b * value_stride];
    return CDNOPT_OK;
}

int cdnopt__attn_window(const cdnopt_model *m, cdnopt_scratch *scratch, attn_rollout *ar,
                        const float *d1, const float *mask2, const float *x_window,
                        float *pred, size_t pred_stride)
{
    size_t w = (size_t)m->p.window, d = (size_t)m->p.d_model, n_batch = ar->n_batch;
    size_t f = (size_t)m->n_features;

    cdnopt_trace *tp = NULL;
    int rc = cdnopt_dense_forward(m->proj, scratch, n_batch * w, d1, &tp);
    if (rc != CDNOPT_OK)
        return rc;
    const float *z = cdnopt_trace_output(tp);
    float *qkv = cdnopt_scratch_floats(scratch, n_batch * w * 3 * d);
    if (qkv == NULL)
        return CDNOPT_ENOMEM;
    project_qkv(m, ar, n_batch * w, z, qkv);

    /* Cache every step's keys and values; the newest query is the last step's. */
    for (size_t r = 0; r < n_batch * w; r++) {
        memcpy(ar->k_cache + r * d, qkv + r * 3 * d + d, d * sizeof(float));
        memcpy(ar->v_cache + r * d, qkv + r * 3 * d + 2 * d, d * sizeof(float));
    }
    for (size_t b = 0; b < n_batch; b++) {
        memcpy(ar->qkv + b * 3 * d, qkv + (b * w + w - 1) * 3 * d, 3 * d * sizeof(float));
        memcpy(ar->z + b * d, z + (b * w + w - 1) * d, d * sizeof(float));
    }
    ar->next_slot = 0;
    newest_query_attention(m, ar);

    /* Every path starts from the same window, so its last value is the same. */
    return finish_step(m, scratch, ar, mask2, x_window + (w - 1) * f, 0, pred, pred_stride);
}

int cdnopt__attn_step(const cdnopt_model *m, cdnopt_scratch *scratch, attn_rollout *ar,
                      const float *d1, const float *mask2, const float *x, float *pred,
                      size_t pred_stride)
{
    size_t w = (size_t)m->p.window, d = (size_t)m->p.d_model, n_batch = ar->n_batch;

    cdnopt_trace *tp = NULL;
    int rc = cdnopt_dense_forward(m->proj, scratch, n_batch, d1, &tp);
    if (rc != CDNOPT_OK)
        return rc;
    memcpy(ar->z, cdnopt_trace_output(tp), n_batch * d * sizeof(float));
    project_qkv(m, ar, n_batch, ar->z, ar->qkv);

    /* The newest step replaces the oldest in the caches. Attention without positional
     * encoding ignores the order of keys, so the slots need not stay in time order. */
    for (size_t b = 0; b < n_batch; b++) {
        size_t slot = (b * w + ar->next_slot) * d;
        memcpy(ar->k_cache + slot, ar->qkv + b * 3 * d + d, d * sizeof(float));
        memcpy(ar->v_cache + slot, ar->qkv + b * 3 * d + 2 * d, d * sizeof(float));
    }
    ar->next_slot = (ar->next_slot + 1) % w;
    newest_query_attention(m, ar);
    return finish_step(m, scratch, ar, mask2, x, (size_t)m->n_features, pred, pred_stride);
}
