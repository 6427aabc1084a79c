/* SPDX-License-Identifier: Apache-2.0 */
#include "env_fixture.h"

#include <math.h>
#include <stdio.h>

cdnopt_series *fixture_baseline(int days, int64_t step_s)
{
    size_t n = (size_t)(days * 86400 / step_s);
    cdnopt_series *s = NULL;
    if (cdnopt_series_new(n, FIXTURE_DAY, step_s, &s) != CDNOPT_OK)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        double hour = (double)((s->t[i] - FIXTURE_DAY) % 86400) / 3600.0;
        s->v[i] = 500.0 + 300.0 * cos(2 * 3.141592653589793 * (hour - 20.0) / 24.0);
    }
    return s;
}

cdnopt_release_set *fixture_releases(size_t n, uint64_t seed)
{
    cdnopt_rng rng;
    cdnopt_rng_seed(&rng, seed);
    cdnopt_release items[512];
    if (n > sizeof items / sizeof items[0])
        return NULL;
    for (size_t i = 0; i < n; i++) {
        cdnopt_release *r = &items[i];
        *r = (cdnopt_release){0};
        snprintf(r->id, sizeof r->id, "r%03zu", i);
        r->size_mb = i % 3 == 0 ? 800.0 : 50.0 + 400.0 * cdnopt_rng_uniform(&rng);
        r->users = round(2e4 + 2e5 * cdnopt_rng_uniform(&rng)); /* a whole count of devices */
        int64_t hour = i % 4 == 0 ? 22 : (int64_t)cdnopt_rng_below(&rng, 24);
        r->planned_at = FIXTURE_DAY + hour * 3600 + 300 * (int64_t)cdnopt_rng_below(&rng, 12);
    }
    cdnopt_release_set *set = NULL;
    if (cdnopt_release_set_new(items, n, &set, NULL) != CDNOPT_OK)
        return NULL;
    return set;
}
