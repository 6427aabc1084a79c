/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Dense layer y = act(x W + b) on a batch of rows: one GEMM forward, two backward
 * (dW = x^T dz, dx = dz W^T), with the activation derivative taken from y.
 */
#include "nn-impl.h"

#include <string.h>

cdnopt_dense_params cdnopt_dense_params_default(void)
{
    return (cdnopt_dense_params){
        .n_in = 0, .n_out = 0, .act = CDNOPT_ACT_LINEAR, .use_bias = true, .name = "dense"};
}

int cdnopt_dense_new(cdnopt_params *ps, const cdnopt_dense_params *params, cdnopt_rng *rng,
                     cdnopt_dense **out)
{
    *out = NULL;
    if (params->n_in == 0 || params->n_out == 0 || params->act < CDNOPT_ACT_LINEAR ||
        params->act > CDNOPT_ACT_SIGMOID)
        return CDNOPT_EINVAL;
    const char *name = params->name != NULL ? params->name : "dense";

    cdnopt_dense *d = cdnopt_calloc(1, sizeof(*d));
    if (d == NULL)
        return CDNOPT_ENOMEM;
    *d = (cdnopt_dense){.ps = ps, .n_in = params->n_in, .n_out = params->n_out,
                        .act = params->act, .use_bias = params->use_bias};

    size_t n_tensors_before = cdnopt_params_n_tensors(ps);
    int rc = cdnopt__params_add_named(ps, name, "kernel", d->n_in, d->n_out, &d->off_kernel);
    if (rc == CDNOPT_OK && d->use_bias)
        rc = cdnopt__params_add_named(ps, name, "bias", 1, d->n_out, &d->off_bias);
    if (rc != CDNOPT_OK) {
        cdnopt__params_truncate(ps, n_tensors_before);
        cdnopt_free(d);
        return rc;
    }

    cdnopt_init_glorot_uniform(cdnopt_params_values(ps) + d->off_kernel, d->n_in, d->n_out, rng);
    *out = d;
    return CDNOPT_OK;
}

void cdnopt_dense_free(cdnopt_dense *layer)
{
    cdnopt_free(layer);
}

static void activate(enum cdnopt_act act, float *y, size_t n)
{
    switch (act) {
    case CDNOPT_ACT_LINEAR:
        break;
    case CDNOPT_ACT_RELU:
        for (size_t i = 0; i < n; i++)
            y[i] = y[i] > 0.0f ? y[i] : 0.0f;
        break;
    case CDNOPT_ACT_TANH:
        for (size_t i = 0; i < n; i++)
            y[i] = cdnopt__tanh(y[i]);
        break;
    case CDNOPT_ACT_SIGMOID:
        for (size_t i = 0; i < n; i++)
            y[i] = cdnopt__sigmoid(y[i]);
        break;
    }
}

/* dz = dy * act'(z), with the derivative written in terms of y = act(z). */
static void activate_backward(enum cdnopt_act act, const float *y, const float *dy, float *dz,
                              size_t n)
{
    switch (act) {
    case CDNOPT_ACT_LINEAR:
        memcpy(dz, dy, n * sizeof(float));
        break;
    case CDNOPT_ACT_RELU:
        for (size_t i = 0; i < n; i++)
            dz[i] = y[i] > 0.0f ? dy[i] : 0.0f;
        break;
    case CDNOPT_ACT_TANH:
        for (size_t i = 0; i < n; i++)
            dz[i] = dy[i] * (1.0f - y[i] * y[i]);
        break;
    case CDNOPT_ACT_SIGMOID:
        for (size_t i = 0; i < n; i++)
            dz[i] = dy[i] * y[i] * (1.0f - y[i]);
        break;
    }
}

int cdnopt_dense_forward(const cdnopt_dense *layer, cdnopt_scratch *scratch, size_t n_rows,
                         const float *x, cdnopt_trace **trace)
{
    *trace = NULL;
    cdnopt_trace *t = cdnopt__trace_new(scratch, TRACE_DENSE, layer);
    float *y = cdnopt_scratch_floats(scratch, n_rows * layer->n_out);
    if (t == NULL || y == NULL)
        return CDNOPT_ENOMEM;

    /* y = x W (+ b), then the activation in place. */
    const float *values = cdnopt_params_values_const(layer->ps);
    cdnopt_sgemm(false, false, n_rows, layer->n_out, layer->n_in, 1.0f, x, layer->n_in,
                 values + layer->off_kernel, layer->n_out, 0.0f, y, layer->n_out);
    if (layer->use_bias)
        cdnopt__add_row_bias(y, n_rows, layer->n_out, values + layer->off_bias);
    activate(layer->act, y, n_rows * layer->n_out);

    t->x = x;
    t->y = y;
    t->y_size = n_rows * layer->n_out;
    t->n_batch = n_rows;
    t->n_steps = 1;
    *trace = t;
    return CDNOPT_OK;
}

int cdnopt_dense_backward(const cdnopt_dense *layer, cdnopt_scratch *scratch,
                          const cdnopt_trace *trace, const float *dy, float **dx)
{
    if (dx != NULL)
        *dx = NULL;
    if (trace->kind != TRACE_DENSE || trace->layer != layer)
        return CDNOPT_EINVAL;
    size_t n_rows = trace->n_batch, n_in = layer->n_in, n_out = layer->n_out;

    /* Buffers first, so that running out of memory leaves the gradients alone. */
    float *dz_buf = NULL, *d = NULL;
    if (layer->act != CDNOPT_ACT_LINEAR)
        dz_buf = cdnopt_scratch_floats(scratch, n_rows * n_out);
    if (dx != NULL)
        d = cdnopt_scratch_floats(scratch, n_rows * n_in);
    if ((layer->act != CDNOPT_ACT_LINEAR && dz_buf == NULL) || (dx != NULL && d == NULL))
        return CDNOPT_ENOMEM;

    /* Through the activation; a linear layer uses dy as it is. */
    const float *dz = dy;
    if (dz_buf != NULL) {
        activate_backward(layer->act, trace->y, dy, dz_buf, n_rows * n_out);
        dz = dz_buf;
    }

    /* dW += x^T dz, db += column sums of dz. */
    float *grads = cdnopt_params_grads(layer->ps);
    cdnopt_sgemm(true, false, n_in, n_out, n_rows, 1.0f, trace->x, n_in, dz, n_out, 1.0f,
                 grads + layer->off_kernel, n_out);
    if (layer->use_bias)
        cdnopt__sum_rows(dz, n_rows, n_out, grads + layer->off_bias);

    /* dx = dz W^T. */
    if (dx != NULL) {
        cdnopt_sgemm(false, true, n_rows, n_in, n_out, 1.0f, dz, n_out,
                     cdnopt_params_values_const(layer->ps) + layer->off_kernel, n_out, 0.0f, d,
                     n_in);
        *dx = d;
    }
    return CDNOPT_OK;
}
