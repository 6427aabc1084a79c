/* SPDX-License-Identifier: Apache-2.0 */
/*
 * M4's exponential smoothing benchmarks (SES, Holt, damped trend, Theta, Comb).
 */
#include "stats-impl.h"

int cdnopt__smoothing_forecast(const cdnopt_baseline_params *p, const double *y, size_t n,
                               size_t h, cdnopt_interval_forecast *out, char *err)
{
    (void)y;
    (void)n;
    (void)h;
    (void)out;
    // TODO: SES, Holt, damped, Theta and Comb are declared but not implemented yet.
    return cdnopt_fail(err, CDNOPT_ENOTSUP, "method %s is not implemented yet",
                       cdnopt_baseline_name(p->method));
}
