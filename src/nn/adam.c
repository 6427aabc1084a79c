/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Adam as Keras implements it (tf.keras.optimizers.Adam, TensorFlow 2.7 docs): the bias
 * corrections are folded into the step size, so eps is added to sqrt(v), not to
 * sqrt(v_hat). Keras calls this eps the "epsilon hat" of Kingma and Ba's paper.
 */
#include "nn-impl.h"

struct cdnopt_adam {
    cdnopt_adam_params p;
    size_t n;     /* floats in the parameter set it serves */
    uint64_t t;   /* updates applied so far */
    double beta1_pow, beta2_pow; /* beta1^t and beta2^t */
    float *m;     /* first moments, n floats */
    float *v;     /* second moments, n floats */
};

cdnopt_adam_params cdnopt_adam_params_default(void)
{
    return (cdnopt_adam_params){
        .lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-7f, .clip_norm = 0.0f};
}

int cdnopt_adam_new(const cdnopt_adam_params *params, size_t n_params, cdnopt_adam **out)
{
    *out = NULL;
    const cdnopt_adam_params *p = params;
    if (n_params == 0 || !(p->lr > 0.0f) || !(p->beta1 >= 0.0f && p->beta1 < 1.0f) ||
        !(p->beta2 >= 0.0f && p->beta2 < 1.0f) || !(p->eps >= 0.0f))
        return CDNOPT_EINVAL;

    cdnopt_adam *opt = cdnopt_calloc(1, sizeof(*opt));
    float *m = cdnopt_calloc(n_params, sizeof(float));
    float *v = cdnopt_calloc(n_params, sizeof(float));
    if (opt == NULL || m == NULL || v == NULL) {
        cdnopt_free(opt);
        cdnopt_free(m);
        cdnopt_free(v);
        return CDNOPT_ENOMEM;
    }
    *opt = (cdnopt_adam){.p = *p, .n = n_params, .beta1_pow = 1.0, .beta2_pow = 1.0, .m = m,
                         .v = v};
    *out = opt;
    return CDNOPT_OK;
}

void cdnopt_adam_free(cdnopt_adam *opt)
{
    if (opt == NULL)
        return;
    cdnopt_free(opt->m);
    cdnopt_free(opt->v);
    cdnopt_free(opt);
}

int cdnopt_adam_step(cdnopt_adam *opt, cdnopt_params *ps)
{
    if (cdnopt_params_count(ps) != opt->n)
        return CDNOPT_ESHAPE;

    /* Reject non-finite gradients before anything changes; clipping needs the norm
     * anyway, and the check covers the case without clipping. */
    int rc = cdnopt_params_check_grads(ps);
    if (rc == CDNOPT_OK && opt->p.clip_norm > 0.0f)
        rc = cdnopt_params_clip_grad_norm(ps, opt->p.clip_norm, NULL);
    if (rc != CDNOPT_OK)
        return rc;

    opt->t++;
    opt->beta1_pow *= opt->p.beta1;
    opt->beta2_pow *= opt->p.beta2;
    float alpha = (float)(opt->p.lr * sqrt(1.0 - opt->beta2_pow) / (1.0 - opt->beta1_pow));

    float b1 = opt->p.beta1, b2 = opt->p.beta2, eps = opt->p.eps;
    float *w = cdnopt_params_values(ps);
    const float *g = cdnopt_params_grads(ps);
    for (size_t i = 0; i < opt->n; i++) {
        opt->m[i] = b1 * opt->m[i] + (1.0f - b1) * g[i];
        opt->v[i] = b2 * opt->v[i] + (1.0f - b2) * g[i] * g[i];
        w[i] -= alpha * opt->m[i] / (sqrtf(opt->v[i]) + eps);
    }
    return CDNOPT_OK;
}

void cdnopt_adam_set_lr(cdnopt_adam *opt, float lr)
{
    CDNOPT_ASSERT(lr > 0.0f);
    opt->p.lr = lr;
}

uint64_t cdnopt_adam_steps(const cdnopt_adam *opt)
{
    return opt->t;
}

void cdnopt_adam_state(const cdnopt_adam *opt, const float **m, const float **v, uint64_t *t)
{
    *m = opt->m;
    *v = opt->v;
    *t = opt->t;
}

int cdnopt_adam_restore(cdnopt_adam *opt, const float *m, const float *v, size_t n, uint64_t t)
{
    if (n != opt->n)
        return CDNOPT_ESHAPE;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(m[i]) || !isfinite(v[i]) || v[i] < 0.0f)
            return CDNOPT_EINVAL;

    memcpy(opt->m, m, n * sizeof *opt->m);
    memcpy(opt->v, v, n * sizeof *opt->v);

    /* The powers are rebuilt by the same products the updates made, not by pow(), so
     * that the step sizes match the saved run's to the last bit. */
    opt->t = t;
    opt->beta1_pow = 1.0;
    opt->beta2_pow = 1.0;
    for (uint64_t i = 0; i < t; i++) {
        double beta1_next = opt->beta1_pow * opt->p.beta1;
        double beta2_next = opt->beta2_pow * opt->p.beta2;

        /* With beta1 = 0.9 and beta2 = 0.999 both powers reach a subnormal number that the
         * product rounds back to itself after 737,750 updates, and never 0. From there on
         * the updates leave them as they are, so the loop stops rather than run to a
         * count of 2^64 from a damaged checkpoint. */
        if (beta1_next == opt->beta1_pow && beta2_next == opt->beta2_pow)
            break;
        opt->beta1_pow = beta1_next;
        opt->beta2_pow = beta2_next;
    }
    return CDNOPT_OK;
}
