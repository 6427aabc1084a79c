/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inverted dropout with an explicit mask. Keeping the mask outside the layer lets a
 * caller draw it once and reuse it: Monte-Carlo dropout keeps dropout on at
 * inference, and a roll-out keeps each sample's mask fixed across its steps.
 */
#include "nn-impl.h"

int cdnopt_dropout_mask(float *mask, size_t n, float rate, cdnopt_rng *rng)
{
    if (!(rate >= 0.0f && rate < 1.0f))
        return CDNOPT_EINVAL;

    float keep_scale = 1.0f / (1.0f - rate);
    for (size_t i = 0; i < n; i++)
        mask[i] = cdnopt_rng_uniform(rng) < (double)rate ? 0.0f : keep_scale;
    return CDNOPT_OK;
}

void cdnopt_dropout_apply(const float *mask, size_t n_batch, size_t n_steps, size_t n_feat,
                          const float *x, float *y)
{
    for (size_t b = 0; b < n_batch; b++) {
        const float *m = mask + b * n_feat;
        for (size_t t = 0; t < n_steps; t++) {
            size_t row = (b * n_steps + t) * n_feat;
            for (size_t f = 0; f < n_feat; f++)
                y[row + f] = x[row + f] * m[f];
        }
    }
}
