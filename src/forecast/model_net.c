/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The residual LSTM's forward and backward pass over a batch of windows:
 *   h1 = LSTM1(x)            whole sequence, [B, W, H]
 *   d1 = h1 * mask1          one mask row per window, shared by its steps
 *   h2 = LSTM2(d1)           last state, [B, H]
 *   d2 = h2 * mask2
 *   pred = d2 w + b + base           [B, 1], or [B, horizon] for the direct head
 * The base (the last scaled value, or the direct head's base in model_direct.c) has
 * no weights, so the backward pass ignores it. The transformer's
 * passes are in model_attn.c.
 */
#include "model-impl.h"

#include <string.h>

size_t cdnopt__model_mask2_width(const cdnopt_model *m)
{
    return (size_t)(m->p.arch == CDNOPT_ARCH_TRANSFORMER ? m->p.d_model : m->p.units);
}

const float *cdnopt__model_mask(cdnopt_scratch *scratch, const float *mask, size_t n_batch,
                                size_t n_steps, size_t n_hidden, const float *y)
{
    if (mask == NULL)
        return y;

    float *out = cdnopt_scratch_floats(scratch, n_batch * n_steps * n_hidden);
    if (out != NULL)
        cdnopt_dropout_apply(mask, n_batch, n_steps, n_hidden, y, out);
    return out;
}

int cdnopt__model_forward(const cdnopt_model *m, cdnopt_scratch *scratch, size_t n_batch,
                          const float *x, const float *mask1, const float *mask2,
                          model_pass *pass)
{
    size_t w = (size_t)m->p.window;
    size_t h = (size_t)m->p.units;
    memset(pass, 0, sizeof *pass);
    pass->n_batch = n_batch;
    if (m->p.arch == CDNOPT_ARCH_TRANSFORMER)
        return cdnopt__attn_forward(m, scratch, n_batch, x, mask1, mask2, pass);

    int rc = cdnopt_lstm_forward(m->lstm1, scratch, n_batch, w, x, &pass->t1);
    if (rc != CDNOPT_OK)
        return rc;
    pass->d1 = cdnopt__model_mask(scratch, mask1, n_batch, w, h, cdnopt_trace_output(pass->t1));
    if (pass->d1 == NULL)
        return CDNOPT_ENOMEM;

    rc = cdnopt_lstm_forward(m->lstm2, scratch, n_batch, w, pass->d1, &pass->t2);
    if (rc != CDNOPT_OK)
        return rc;
    pass->d2 = cdnopt__model_mask(scratch, mask2, n_batch, 1, h, cdnopt_trace_output(pass->t2));
    if (pass->d2 == NULL)
        return CDNOPT_ENOMEM;

    rc = cdnopt_dense_forward(m->head, scratch, n_batch, pass->d2, &pass->t3);
    if (rc != CDNOPT_OK)
        return rc;

    /* The residual: add the last observed value, or the direct head's base. */
    pass->pred = cdnopt_trace_output(pass->t3);
    cdnopt__model_add_base(m, x, n_batch, pass->pred);
    return CDNOPT_OK;
}

int cdnopt__model_backward(const cdnopt_model *m, cdnopt_scratch *scratch, const model_pass *pass,
                           const float *dpred, const float *mask1, const float *mask2)
{
    size_t w = (size_t)m->p.window;
    size_t h = (size_t)m->p.units;
    size_t b = pass->n_batch;
    if (m->p.arch == CDNOPT_ARCH_TRANSFORMER)
        return cdnopt__attn_backward(m, scratch, pass, dpred, mask1, mask2);

    float *dd2 = NULL;
    int rc = cdnopt_dense_backward(m->head, scratch, pass->t3, dpred, &dd2);
    if (rc != CDNOPT_OK)
        return rc;

    /* Inverted dropout's backward pass multiplies by the same mask, in place. */
    if (mask2 != NULL)
        cdnopt_dropout_apply(mask2, b, 1, h, dd2, dd2);

    float *dd1 = NULL;
    rc = cdnopt_lstm_backward(m->lstm2, scratch, pass->t2, dd2, &dd1);
    if (rc != CDNOPT_OK)
        return rc;
    if (mask1 != NULL)
        cdnopt_dropout_apply(mask1, b, w, h, dd1, dd1);

    return cdnopt_lstm_backward(m->lstm1, scratch, pass->t1, dd1, NULL);
}

void cdnopt__model_gather(const cdnopt_model *m, const float *rows, const size_t *ends,
                          size_t n_batch, float *x)
{
    size_t w = (size_t)m->p.window;
    size_t f = (size_t)m->n_features;

    /* A window's rows are contiguous in the series' feature matrix. */
    for (size_t b = 0; b < n_batch; b++)
        memcpy(x + b * w * f, rows + (ends[b] - w) * f, w * f * sizeof *x);
}

int cdnopt__model_batch_mse(const cdnopt_model *m, cdnopt_scratch *scratch, const float *rows,
                            const float *targets, const size_t *ends, size_t n_batch, float *x,
                            float *y, float *loss)
{
    size_t n_out = (size_t)m->n_out;
    for (size_t b = 0; b < n_batch; b++)
        memcpy(y + b * n_out, targets + ends[b], n_out * sizeof *y);

    cdnopt_scratch_reset(scratch);
    cdnopt__model_gather(m, rows, ends, n_batch, x);
    model_pass pass;
    int rc = cdnopt__model_forward(m, scratch, n_batch, x, NULL, NULL, &pass);
    if (rc != CDNOPT_OK)
        return rc;
    return cdnopt_mse_forward(pass.pred, y, n_batch * n_out, loss);
}
