/* SPDX-License-Identifier: Apache-2.0 */
#include "plan-impl.h"

int cdnopt_plan_exact(const cdnopt_series *baseline, const cdnopt_release_set *releases,
                      const cdnopt_rules *rules, const cdnopt_plan_params *params,
                      cdnopt_plan_result *out, char *err)
{
    (void)baseline;
    (void)releases;
    (void)rules;
    (void)params;
    (void)out;
    /* TODO: the GLPK program lands in the next commit. */
    return cdnopt_fail(err, CDNOPT_ENOTSUP, "the exact planner is not built yet");
}
