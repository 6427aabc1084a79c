/* SPDX-License-Identifier: Apache-2.0 */
/* Mean squared error and its gradient. */
#include "nn-impl.h"

int cdnopt_mse_forward(const float *pred, const float *target, size_t n, float *loss)
{
    if (n == 0)
        return CDNOPT_EINVAL;

    /* Double accumulation keeps the mean exact to float precision for long batches. */
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)pred[i] - (double)target[i];
        sum += d * d;
    }
    *loss = (float)(sum / (double)n);
    return isfinite(*loss) ? CDNOPT_OK : CDNOPT_ENUMERIC;
}

void cdnopt_mse_backward(const float *pred, const float *target, size_t n, float *dpred)
{
    float scale = 2.0f / (float)n;
    for (size_t i = 0; i < n; i++)
        dpred[i] = scale * (pred[i] - target[i]);
}
