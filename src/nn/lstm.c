/* SPDX-License-Identifier: Apache-2.0 */
/*
 * LSTM layer with Keras gate order (i, f, g, o) and backpropagation through time.
 *
 * Rationale for the time-major layout: the public shapes are batch-first, but the
 * trace stores the input, gates and states time-major ([T, B, ...]) so that the
 * recurrent GEMM of each step reads and writes contiguous [B, ...] blocks, and so
 * that the weight gradients of all steps are single GEMMs over T * B rows:
 *   dW = x^T dZ,   dU = [h_0 .. h_{T-1}]^T dZ,   db = column sums of dZ.
 * The transposes to and from batch-first cost O(B T (n_in + H)), small next to the
 * O(B T H^2) of the GEMMs.
 */
#include "nn-impl.h"

#include <string.h>

cdnopt_lstm_params cdnopt_lstm_params_default(void)
{
    return (cdnopt_lstm_params){.n_in = 0,
                                .n_hidden = 0,
                                .return_sequences = false,
                                .recurrent_init = CDNOPT_INIT_ORTHOGONAL,
                                .unit_forget_bias = true,
                                .name = "lstm"};
}

static int init_values(cdnopt_lstm *l, const cdnopt_lstm_params *params, cdnopt_rng *rng)
{
    size_t h4 = 4 * l->n_hidden;
    float *values = cdnopt_params_values(l->ps);
    cdnopt_init_glorot_uniform(values + l->off_kernel, l->n_in, h4, rng);

    float *u = values + l->off_recurrent;
    if (params->recurrent_init == CDNOPT_INIT_SCALED_UNIFORM) {
        cdnopt_init_uniform(u, l->n_hidden * h4, (float)(1.0 / sqrt((double)l->n_hidden)), rng);
    } else {
        int rc = cdnopt_init_orthogonal(u, l->n_hidden, h4, rng);
        if (rc != CDNOPT_OK)
            return rc;
    }

    /* Bias zero except the forget gate (second quarter). */
    float *b = values + l->off_bias;
    for (size_t j = 0; j < l->n_hidden && params->unit_forget_bias; j++)
        b[l->n_hidden + j] = 1.0f;
    return CDNOPT_OK;
}

int cdnopt_lstm_new(cdnopt_params *ps, const cdnopt_lstm_params *params, cdnopt_rng *rng,
                    cdnopt_lstm **out)
{
    *out = NULL;
    if (params->n_in == 0 || params->n_hidden == 0 ||
        (params->recurrent_init != CDNOPT_INIT_ORTHOGONAL &&
         params->recurrent_init != CDNOPT_INIT_SCALED_UNIFORM))
        return CDNOPT_EINVAL;
    const char *name = params->name != NULL ? params->name : "lstm";

    cdnopt_lstm *l = cdnopt_calloc(1, sizeof(*l));
    if (l == NULL)
        return CDNOPT_ENOMEM;
    *l = (cdnopt_lstm){.ps = ps, .n_in = params->n_in, .n_hidden = params->n_hidden,
                       .return_sequences = params->return_sequences};

    size_t h4 = 4 * l->n_hidden;
    size_t n_tensors_before = cdnopt_params_n_tensors(ps);
    int rc = cdnopt__params_add_named(ps, name, "kernel", l->n_in, h4, &l->off_kernel);
    if (rc == CDNOPT_OK)
        rc = cdnopt__params_add_named(ps, name, "recurrent_kernel", l->n_hidden, h4,
                                      &l->off_recurrent);
    if (rc == CDNOPT_OK)
        rc = cdnopt__params_add_named(ps, name, "bias", 1, h4, &l->off_bias);
    if (rc == CDNOPT_OK)
        rc = init_values(l, params, rng);
    if (rc != CDNOPT_OK) {
        cdnopt__params_truncate(ps, n_tensors_before);
        cdnopt_free(l);
        return rc;
    }
    *out = l;
    return CDNOPT_OK;
}

void cdnopt_lstm_free(cdnopt_lstm *layer)
{
    cdnopt_free(layer);
}

size_t cdnopt_lstm_n_hidden(const cdnopt_lstm *layer)
{
    return layer->n_hidden;
}

/*
 * Turn the pre-activations z [B, 4H] into gates in place and advance the state:
 *   c_out = f * c_prev + i * g,   h_out = o * tanh(c_out).
 * The four buffers must not overlap: restrict lets the compiler vectorise the loops.
 */
static void gates_step(float *restrict z, size_t n_batch, size_t n_hidden,
                       const float *restrict c_prev, float *restrict c_out,
                       float *restrict h_out)
{
    for (size_t b = 0; b < n_batch; b++) {
        float *zi = z + b * 4 * n_hidden;
        float *zf = zi + n_hidden, *zg = zf + n_hidden, *zo = zg + n_hidden;
        for (size_t j = 0; j < n_hidden; j++) {
            zi[j] = cdnopt__sigmoid(zi[j]);
            zf[j] = cdnopt__sigmoid(zf[j]);
            zg[j] = cdnopt__tanh(zg[j]);
            zo[j] = cdnopt__sigmoid(zo[j]);
        }

        const float *cp = c_prev + b * n_hidden;
        float *cn = c_out + b * n_hidden, *hn = h_out + b * n_hidden;
        for (size_t j = 0; j < n_hidden; j++) {
            float c = zf[j] * cp[j] + zi[j] * zg[j];
            cn[j] = c;
            hn[j] = zo[j] * cdnopt__tanh(c);
        }
    }
}

/* dst[j, i, :] = src[i, j, :] for src [n0, n1, n_feat]: swaps batch-first and time-major. */
static void swap_leading_axes(const float *src, size_t n0, size_t n1, size_t n_feat, float *dst)
{
    for (size_t i = 0; i < n0; i++) {
        for (size_t j = 0; j < n1; j++) {
            memcpy(dst + (j * n0 + i) * n_feat, src + (i * n1 + j) * n_feat,
                   n_feat * sizeof(float));
        }
    }
}

/* Allocate the trace buffers; returns CDNOPT_ENOMEM when any is missing. */
static int trace_alloc(const cdnopt_lstm *l, cdnopt_scratch *s, cdnopt_trace *t)
{
    size_t bt = t->n_batch * t->n_steps, bh = t->n_batch * l->n_hidden;
    t->u.lstm.xt = cdnopt_scratch_floats(s, bt * l->n_in);
    t->u.lstm.gates = cdnopt_scratch_floats(s, bt * 4 * l->n_hidden);
    t->u.lstm.h = cdnopt_scratch_floats(s, (t->n_steps + 1) * bh);
    t->u.lstm.c = cdnopt_scratch_floats(s, (t->n_steps + 1) * bh);
    t->y_size = l->return_sequences ? bt * l->n_hidden : bh;
    t->y = cdnopt_scratch_floats(s, t->y_size);
    if (t->u.lstm.xt == NULL || t->u.lstm.gates == NULL || t->u.lstm.h == NULL ||
        t->u.lstm.c == NULL || t->y == NULL)
        return CDNOPT_ENOMEM;
    return CDNOPT_OK;
}

int cdnopt_lstm_forward(const cdnopt_lstm *layer, cdnopt_scratch *scratch, size_t n_batch,
                        size_t n_steps, const float *x, cdnopt_trace **trace)
{
    *trace = NULL;
    if (n_steps == 0 || n_batch == 0)
        return CDNOPT_EINVAL;
    cdnopt_trace *t = cdnopt__trace_new(scratch, TRACE_LSTM, layer);
    if (t == NULL)
        return CDNOPT_ENOMEM;
    t->x = x;
    t->n_batch = n_batch;
    t->n_steps = n_steps;
    if (trace_alloc(layer, scratch, t) != CDNOPT_OK)
        return CDNOPT_ENOMEM;

    size_t nh = layer->n_hidden, h4 = 4 * nh, bh = n_batch * nh;
    const float *values = cdnopt_params_values_const(layer->ps);
    const float *u = values + layer->off_recurrent;
    float *gates = t->u.lstm.gates, *h = t->u.lstm.h, *c = t->u.lstm.c;

    /* All input projections at once: Z = x W + b over T * B time-major rows. */
    swap_leading_axes(x, n_batch, n_steps, layer->n_in, t->u.lstm.xt);
    cdnopt_sgemm(false, false, n_steps * n_batch, h4, layer->n_in, 1.0f, t->u.lstm.xt,
                 layer->n_in, values + layer->off_kernel, h4, 0.0f, gates, h4);
    cdnopt__add_row_bias(gates, n_steps * n_batch, h4, values + layer->off_bias);

    /* The recurrence: Z_t += h_{t-1} U, then the gates and the new state. */
    memset(h, 0, bh * sizeof(float));
    memset(c, 0, bh * sizeof(float));
    for (size_t s = 0; s < n_steps; s++) {
        float *zt = gates + s * n_batch * h4;
        cdnopt_sgemm(false, false, n_batch, h4, nh, 1.0f, h + s * bh, nh, u, h4, 1.0f, zt, h4);
        gates_step(zt, n_batch, nh, c + s * bh, c + (s + 1) * bh, h + (s + 1) * bh);
    }

    if (layer->return_sequences)
        swap_leading_axes(h + bh, n_steps, n_batch, nh, t->y);
    else
        memcpy(t->y, h + n_steps * bh, bh * sizeof(float));
    *trace = t;
    return CDNOPT_OK;
}

int cdnopt_lstm_trace_state(const cdnopt_trace *trace, const float **h, const float **c)
{
    if (trace->kind != TRACE_LSTM)
        return CDNOPT_EINVAL;
    const cdnopt_lstm *l = trace->layer;
    size_t last = trace->n_steps * trace->n_batch * l->n_hidden;
    *h = trace->u.lstm.h + last;
    *c = trace->u.lstm.c + last;
    return CDNOPT_OK;
}

/*
 * One step of BPTT for all sequences. On entry, dh contains dL/dh_t (from the output
 * and from step t + 1), and dc contains the part of dL/dc_t that flows back from step
 * t + 1. The function writes dL/dZ_t into dz and replaces dc by the same part of
 * dL/dc_{t-1}. With tc = tanh(c_t):
 *   do = dh tc,  dc += dh o (1 - tc^2),  di = dc g,  dg = dc i,  df = dc c_{t-1}
 *   dc_{t-1} = dc f, and each gate derivative is multiplied by its activation's slope.
 */
static void gates_backward(const float *restrict gates, const float *restrict c_prev,
                           const float *restrict c_now, const float *restrict dh,
                           float *restrict dc, float *restrict dz, size_t n_batch, size_t nh)
{
    for (size_t b = 0; b < n_batch; b++) {
        const float *gi = gates + b * 4 * nh, *gf = gi + nh, *gg = gf + nh, *go = gg + nh;
        float *di = dz + b * 4 * nh, *df = di + nh, *dg = df + nh, *dout = dg + nh;
        const float *cp = c_prev + b * nh, *cn = c_now + b * nh, *dhb = dh + b * nh;
        float *dcb = dc + b * nh;
        for (size_t j = 0; j < nh; j++) {
            float tc = cdnopt__tanh(cn[j]);
            float dcj = dcb[j] + dhb[j] * go[j] * (1.0f - tc * tc);
            dout[j] = dhb[j] * tc * go[j] * (1.0f - go[j]);
            di[j] = dcj * gg[j] * gi[j] * (1.0f - gi[j]);
            dg[j] = dcj * gi[j] * (1.0f - gg[j] * gg[j]);
            df[j] = dcj * cp[j] * gf[j] * (1.0f - gf[j]);
            dcb[j] = dcj * gf[j];
        }
    }
}

/* Add dL/dy_t of step s (batch-first dy) into dh [B, H]. */
static void add_output_grad(const cdnopt_trace *t, size_t nh, const float *dy, size_t s,
                            float *dh)
{
    const cdnopt_lstm *l = t->layer;
    if (!l->return_sequences) {
        if (s + 1 == t->n_steps) {
            for (size_t i = 0; i < t->n_batch * nh; i++)
                dh[i] += dy[i];
        }
        return;
    }
    for (size_t b = 0; b < t->n_batch; b++) {
        const float *src = dy + (b * t->n_steps + s) * nh;
        for (size_t j = 0; j < nh; j++)
            dh[b * nh + j] += src[j];
    }
}

int cdnopt_lstm_backward(const cdnopt_lstm *layer, cdnopt_scratch *scratch,
                         const cdnopt_trace *trace, const float *dy, float **dx)
{
    if (dx != NULL)
        *dx = NULL;
    if (trace->kind != TRACE_LSTM || trace->layer != layer)
        return CDNOPT_EINVAL;
    size_t n_batch = trace->n_batch, n_steps = trace->n_steps, n_in = layer->n_in;
    size_t nh = layer->n_hidden, h4 = 4 * nh, bh = n_batch * nh, rows = n_steps * n_batch;

    /* Every buffer first, so that running out of memory leaves the gradients alone. */
    float *dz = cdnopt_scratch_floats(scratch, rows * h4);
    float *dh = cdnopt_scratch_zeros(scratch, bh);
    float *dc = cdnopt_scratch_zeros(scratch, bh);
    float *dxt = dx != NULL ? cdnopt_scratch_floats(scratch, rows * n_in) : NULL;
    float *dxb = dx != NULL ? cdnopt_scratch_floats(scratch, rows * n_in) : NULL;
    if (dz == NULL || dh == NULL || dc == NULL || (dx != NULL && (dxt == NULL || dxb == NULL)))
        return CDNOPT_ENOMEM;

    /* Backwards through time; dh carries dL/dh_{t-1} = dZ_t U^T between steps. */
    const float *values = cdnopt_params_values_const(layer->ps);
    const float *u = values + layer->off_recurrent;
    const float *gates = trace->u.lstm.gates, *c = trace->u.lstm.c;
    for (size_t s = n_steps; s-- > 0;) {
        add_output_grad(trace, nh, dy, s, dh);
        float *dzt = dz + s * n_batch * h4;
        gates_backward(gates + s * n_batch * h4, c + s * bh, c + (s + 1) * bh, dh, dc, dzt,
                       n_batch, nh);
        if (s > 0)
            cdnopt_sgemm(false, true, n_batch, nh, h4, 1.0f, dzt, h4, u, h4, 0.0f, dh, nh);
    }

    /* Weight gradients of all steps at once (see the rationale at the top). */
    float *grads = cdnopt_params_grads(layer->ps);
    cdnopt_sgemm(true, false, n_in, h4, rows, 1.0f, trace->u.lstm.xt, n_in, dz, h4, 1.0f,
                 grads + layer->off_kernel, h4);
    cdnopt_sgemm(true, false, nh, h4, rows, 1.0f, trace->u.lstm.h, nh, dz, h4, 1.0f,
                 grads + layer->off_recurrent, h4);
    cdnopt__sum_rows(dz, rows, h4, grads + layer->off_bias);

    if (dx != NULL) {
        cdnopt_sgemm(false, true, rows, n_in, h4, 1.0f, dz, h4, values + layer->off_kernel, h4,
                     0.0f, dxt, n_in);
        swap_leading_axes(dxt, n_steps, n_batch, n_in, dxb);
        *dx = dxb;
    }
    return CDNOPT_OK;
}

int cdnopt_lstm_step(const cdnopt_lstm *layer, cdnopt_scratch *scratch, size_t n_batch,
                     const float *x, float *h, float *c)
{
    size_t nh = layer->n_hidden, h4 = 4 * nh;
    float *z = cdnopt_scratch_floats(scratch, n_batch * h4);
    float *c_new = cdnopt_scratch_floats(scratch, n_batch * nh);
    float *h_new = cdnopt_scratch_floats(scratch, n_batch * nh);
    if (z == NULL || c_new == NULL || h_new == NULL)
        return CDNOPT_ENOMEM;

    /* z = x W + h U + b, then the state update in place. */
    const float *values = cdnopt_params_values_const(layer->ps);
    cdnopt_sgemm(false, false, n_batch, h4, layer->n_in, 1.0f, x, layer->n_in,
                 values + layer->off_kernel, h4, 0.0f, z, h4);
    cdnopt_sgemm(false, false, n_batch, h4, nh, 1.0f, h, nh, values + layer->off_recurrent, h4,
                 1.0f, z, h4);
    cdnopt__add_row_bias(z, n_batch, h4, values + layer->off_bias);
    gates_step(z, n_batch, nh, c, c_new, h_new);
    memcpy(c, c_new, n_batch * nh * sizeof(float));
    memcpy(h, h_new, n_batch * nh * sizeof(float));
    return CDNOPT_OK;
}
