/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Parameter sets: named tensors packed into one value array and one gradient array
 * of the same layout, plus the Keras-style initialisers that fill them and the
 * whole-set gradient checks (NaN/Inf, clipping by global norm).
 */
#include "nn-impl.h"

#include <stdio.h>
#include <string.h>

/* Maximum tensor name length plus the NUL, "<prefix>/<suffix>" included. Model files
 * store the names too. */
#define PARAM_NAME_MAX 128

struct cdnopt_params {
    float *values;              /* count floats */
    float *grads;               /* count floats */
    size_t count;               /* floats in each array */
    cdnopt_param_tensor *tensors; /* n_tensors entries; names owned here */
    size_t n_tensors;
};

int cdnopt_params_new(cdnopt_params **out)
{
    *out = cdnopt_calloc(1, sizeof(**out));
    return *out == NULL ? CDNOPT_ENOMEM : CDNOPT_OK;
}

void cdnopt_params_free(cdnopt_params *ps)
{
    if (ps == NULL)
        return;
    for (size_t i = 0; i < ps->n_tensors; i++)
        cdnopt_free((char *)ps->tensors[i].name);
    cdnopt_free(ps->tensors);
    cdnopt_free(ps->values);
    cdnopt_free(ps->grads);
    cdnopt_free(ps);
}

/* Grow one float array to new_count, zeroing the new tail; the old array stays on failure. */
static int grow_floats(float **array, size_t old_count, size_t new_count)
{
    float *grown = cdnopt_realloc(*array, new_count * sizeof(float));
    if (grown == NULL)
        return CDNOPT_ENOMEM;
    memset(grown + old_count, 0, (new_count - old_count) * sizeof(float));
    *array = grown;
    return CDNOPT_OK;
}

int cdnopt_params_add(cdnopt_params *ps, const char *name, size_t n_rows, size_t n_cols,
                      size_t *offset)
{
    cdnopt_param_tensor found;
    if (name == NULL || name[0] == '\0' || strlen(name) >= PARAM_NAME_MAX)
        return CDNOPT_EINVAL;
    if (n_rows == 0 || n_cols == 0 || n_cols > SIZE_MAX / sizeof(float) / n_rows)
        return CDNOPT_EINVAL;
    if (cdnopt_params_find(ps, name, &found) == CDNOPT_OK)
        return CDNOPT_EINVAL;

    /* Reserve everything first so that a failure leaves the set as it was: a grown
     * array with the old count is harmless. */
    size_t n = n_rows * n_cols;
    if (n > SIZE_MAX / sizeof(float) - ps->count)
        return CDNOPT_ENOMEM;
    size_t new_count = ps->count + n;
    char *name_copy = cdnopt_strdup(name);
    cdnopt_param_tensor *tensors =
        cdnopt_realloc(ps->tensors, (ps->n_tensors + 1) * sizeof(*tensors));
    if (tensors != NULL)
        ps->tensors = tensors;
    if (name_copy == NULL || tensors == NULL || grow_floats(&ps->values, ps->count, new_count) ||
        grow_floats(&ps->grads, ps->count, new_count)) {
        cdnopt_free(name_copy);
        return CDNOPT_ENOMEM;
    }

    ps->tensors[ps->n_tensors++] = (cdnopt_param_tensor){
        .name = name_copy, .offset = ps->count, .n_rows = n_rows, .n_cols = n_cols};
    *offset = ps->count;
    ps->count = new_count;
    return CDNOPT_OK;
}

int cdnopt__params_add_named(cdnopt_params *ps, const char *prefix, const char *suffix,
                             size_t n_rows, size_t n_cols, size_t *offset)
{
    char name[PARAM_NAME_MAX];
    int len = snprintf(name, sizeof(name), "%s/%s", prefix, suffix);
    if (len < 0 || (size_t)len >= sizeof(name))
        return CDNOPT_EINVAL;
    return cdnopt_params_add(ps, name, n_rows, n_cols, offset);
}

void cdnopt__params_truncate(cdnopt_params *ps, size_t n_tensors)
{
    if (n_tensors >= ps->n_tensors)
        return;
    ps->count = ps->tensors[n_tensors].offset;
    for (size_t i = n_tensors; i < ps->n_tensors; i++)
        cdnopt_free((char *)ps->tensors[i].name);
    ps->n_tensors = n_tensors;
}

size_t cdnopt_params_count(const cdnopt_params *ps)
{
    return ps->count;
}

float *cdnopt_params_values(cdnopt_params *ps)
{
    return ps->values;
}

const float *cdnopt_params_values_const(const cdnopt_params *ps)
{
    return ps->values;
}

float *cdnopt_params_grads(cdnopt_params *ps)
{
    return ps->grads;
}

void cdnopt_params_zero_grads(cdnopt_params *ps)
{
    if (ps->count > 0)
        memset(ps->grads, 0, ps->count * sizeof(float));
}

size_t cdnopt_params_n_tensors(const cdnopt_params *ps)
{
    return ps->n_tensors;
}

int cdnopt_params_tensor(const cdnopt_params *ps, size_t i, cdnopt_param_tensor *info)
{
    if (i >= ps->n_tensors)
        return CDNOPT_ENOTFOUND;
    *info = ps->tensors[i];
    return CDNOPT_OK;
}

int cdnopt_params_find(const cdnopt_params *ps, const char *name, cdnopt_param_tensor *info)
{
    for (size_t i = 0; i < ps->n_tensors; i++) {
        if (strcmp(ps->tensors[i].name, name) == 0) {
            *info = ps->tensors[i];
            return CDNOPT_OK;
        }
    }
    return CDNOPT_ENOTFOUND;
}

int cdnopt_params_copy_values(cdnopt_params *dst, const cdnopt_params *src)
{
    if (dst->n_tensors != src->n_tensors || dst->count != src->count)
        return CDNOPT_ESHAPE;
    for (size_t i = 0; i < src->n_tensors; i++) {
        const cdnopt_param_tensor *a = &dst->tensors[i], *b = &src->tensors[i];
        if (strcmp(a->name, b->name) != 0 || a->n_rows != b->n_rows || a->n_cols != b->n_cols)
            return CDNOPT_ESHAPE;
    }
    if (src->count > 0)
        memcpy(dst->values, src->values, src->count * sizeof(float));
    return CDNOPT_OK;
}

int cdnopt_params_check_grads(const cdnopt_params *ps)
{
    return cdnopt_nn_check_finite(ps->grads, ps->count);
}

int cdnopt_params_clip_grad_norm(cdnopt_params *ps, float max_norm, float *norm)
{
    double sum2 = 0.0;
    for (size_t i = 0; i < ps->count; i++)
        sum2 += (double)ps->grads[i] * ps->grads[i];
    double total = sqrt(sum2);
    if (norm != NULL)
        *norm = (float)total;
    if (!isfinite(total))
        return CDNOPT_ENUMERIC;

    if (max_norm > 0.0f && total > max_norm) {
        float scale = (float)(max_norm / total);
        for (size_t i = 0; i < ps->count; i++)
            ps->grads[i] *= scale;
    }
    return CDNOPT_OK;
}

/* ------------------------------------------------------------------------- */
/* Initialisers                                                              */
/* ------------------------------------------------------------------------- */

void cdnopt_init_uniform(float *w, size_t n, float limit, cdnopt_rng *rng)
{
    for (size_t i = 0; i < n; i++)
        w[i] = (float)((2.0 * cdnopt_rng_uniform(rng) - 1.0) * limit);
}

void cdnopt_init_glorot_uniform(float *w, size_t fan_in, size_t fan_out, cdnopt_rng *rng)
{
    float limit = (float)sqrt(6.0 / (double)(fan_in + fan_out));
    cdnopt_init_uniform(w, fan_in * fan_out, limit, rng);
}

/*
 * Orthonormalise the n_vec vectors of length len stored as rows of q, by modified
 * Gram-Schmidt. A vector that collapses (norm below 1e-10 after projection, which
 * normal variates make vanishingly unlikely) is left at zero.
 */
static void gram_schmidt_rows(double *q, size_t n_vec, size_t len)
{
    for (size_t i = 0; i < n_vec; i++) {
        double *vi = q + i * len;
        for (size_t j = 0; j < i; j++) {
            const double *vj = q + j * len;
            double dot = 0.0;
            for (size_t p = 0; p < len; p++)
                dot += vi[p] * vj[p];
            for (size_t p = 0; p < len; p++)
                vi[p] -= dot * vj[p];
        }

        double nrm = 0.0;
        for (size_t p = 0; p < len; p++)
            nrm += vi[p] * vi[p];
        nrm = sqrt(nrm);
        double inv = nrm > 1e-10 ? 1.0 / nrm : 0.0;
        for (size_t p = 0; p < len; p++)
            vi[p] *= inv;
    }
}

int cdnopt_init_orthogonal(float *w, size_t n_rows, size_t n_cols, cdnopt_rng *rng)
{
    /* Orthonormalise the shorter side: n_vec vectors of length len (len >= n_vec). */
    bool by_rows = n_rows <= n_cols;
    size_t n_vec = by_rows ? n_rows : n_cols;
    size_t len = by_rows ? n_cols : n_rows;
    double *q = cdnopt_malloc(n_vec * len * sizeof(double));
    if (q == NULL)
        return CDNOPT_ENOMEM;

    for (size_t i = 0; i < n_vec * len; i++)
        q[i] = cdnopt_rng_normal(rng);
    gram_schmidt_rows(q, n_vec, len);

    for (size_t v = 0; v < n_vec; v++) {
        for (size_t p = 0; p < len; p++) {
            size_t at = by_rows ? v * n_cols + p : p * n_cols + v;
            w[at] = (float)q[v * len + p];
        }
    }
    cdnopt_free(q);
    return CDNOPT_OK;
}
