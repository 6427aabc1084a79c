/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Layer normalisation over the last axis as Keras LayerNormalization computes it: the
 * mean and the biased variance of each row, eps = 1e-3 (keras.io, Keras 3 docs).
 */
#include "nn-impl.h"

#define LAYERNORM_EPS 1e-3

int cdnopt_layernorm_new(cdnopt_params *ps, const char *name, size_t n_feat,
                         cdnopt_layernorm **out)
{
    *out = NULL;
    if (n_feat == 0)
        return CDNOPT_EINVAL;
    const char *prefix = name != NULL ? name : "layernorm";

    cdnopt_layernorm *ln = cdnopt_calloc(1, sizeof(*ln));
    if (ln == NULL)
        return CDNOPT_ENOMEM;
    *ln = (cdnopt_layernorm){.ps = ps, .n_feat = n_feat};

    size_t n_tensors_before = cdnopt_params_n_tensors(ps);
    int rc = cdnopt__params_add_named(ps, prefix, "gamma", 1, n_feat, &ln->off_gamma);
    if (rc == CDNOPT_OK)
        rc = cdnopt__params_add_named(ps, prefix, "beta", 1, n_feat, &ln->off_beta);
    if (rc != CDNOPT_OK) {
        cdnopt__params_truncate(ps, n_tensors_before);
        cdnopt_free(ln);
        return rc;
    }

    float *gamma = cdnopt_params_values(ps) + ln->off_gamma;
    for (size_t j = 0; j < n_feat; j++)
        gamma[j] = 1.0f;
    *out = ln;
    return CDNOPT_OK;
}

void cdnopt_layernorm_free(cdnopt_layernorm *layer)
{
    cdnopt_free(layer);
}

int cdnopt_layernorm_forward(const cdnopt_layernorm *layer, cdnopt_scratch *scratch,
                             size_t n_rows, const float *x, cdnopt_trace **trace)
{
    *trace = NULL;
    size_t nf = layer->n_feat;
    cdnopt_trace *t = cdnopt__trace_new(scratch, TRACE_LAYERNORM, layer);
    float *y = cdnopt_scratch_floats(scratch, n_rows * nf);
    float *xhat = cdnopt_scratch_floats(scratch, n_rows * nf);
    float *rstd = cdnopt_scratch_floats(scratch, n_rows);
    if (t == NULL || y == NULL || xhat == NULL || rstd == NULL)
        return CDNOPT_ENOMEM;

    const float *values = cdnopt_params_values_const(layer->ps);
    const float *gamma = values + layer->off_gamma, *beta = values + layer->off_beta;
    for (size_t r = 0; r < n_rows; r++) {
        const float *xr = x + r * nf;

        /* Two passes in double: the mean, then the variance around it. */
        double mean = 0.0, var = 0.0;
        for (size_t j = 0; j < nf; j++)
            mean += xr[j];
        mean /= (double)nf;
        for (size_t j = 0; j < nf; j++)
            var += (xr[j] - mean) * (xr[j] - mean);
        var /= (double)nf;

        rstd[r] = (float)(1.0 / sqrt(var + LAYERNORM_EPS));
        for (size_t j = 0; j < nf; j++) {
            xhat[r * nf + j] = (float)((xr[j] - mean) * rstd[r]);
            y[r * nf + j] = gamma[j] * xhat[r * nf + j] + beta[j];
        }
    }

    t->x = x;
    t->y = y;
    t->y_size = n_rows * nf;
    t->n_batch = n_rows;
    t->n_steps = 1;
    t->u.ln.xhat = xhat;
    t->u.ln.rstd = rstd;
    *trace = t;
    return CDNOPT_OK;
}

/*
 * With g = dy * gamma per row:
 *   dx = rstd * (g - mean(g) - xhat * mean(g * xhat)).
 */
int cdnopt_layernorm_backward(const cdnopt_layernorm *layer, cdnopt_scratch *scratch,
                              const cdnopt_trace *trace, const float *dy, float **dx)
{
    if (dx != NULL)
        *dx = NULL;
    if (trace->kind != TRACE_LAYERNORM || trace->layer != layer)
        return CDNOPT_EINVAL;
    size_t nf = layer->n_feat, n_rows = trace->n_batch;
    float *d = dx != NULL ? cdnopt_scratch_floats(scratch, n_rows * nf) : NULL;
    if (dx != NULL && d == NULL)
        return CDNOPT_ENOMEM;

    const float *gamma = cdnopt_params_values_const(layer->ps) + layer->off_gamma;
    float *grads = cdnopt_params_grads(layer->ps);
    float *dgamma = grads + layer->off_gamma, *dbeta = grads + layer->off_beta;
    for (size_t r = 0; r < n_rows; r++) {
        const float *dyr = dy + r * nf, *xh = trace->u.ln.xhat + r * nf;
        double mean_g = 0.0, mean_gx = 0.0;
        for (size_t j = 0; j < nf; j++) {
            dgamma[j] += dyr[j] * xh[j];
            dbeta[j] += dyr[j];
            double g = (double)dyr[j] * gamma[j];
            mean_g += g;
            mean_gx += g * xh[j];
        }
        if (d == NULL)
            continue;

        mean_g /= (double)nf;
        mean_gx /= (double)nf;
        for (size_t j = 0; j < nf; j++) {
            double g = (double)dyr[j] * gamma[j];
            d[r * nf + j] = (float)(trace->u.ln.rstd[r] * (g - mean_g - xh[j] * mean_gx));
        }
    }
    if (dx != NULL)
        *dx = d;
    return CDNOPT_OK;
}
