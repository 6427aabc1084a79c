/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Download waves. A batch of u devices moves size_mb * 8e6 * u bits; hour h after it
 * begins carries the share w_h = r^h / sum_{k<D} r^k, spread evenly over the hour,
 * so its rate is bits * w_h / 3600 bit/s. A release's hourly profile sums its
 * batches, which begin one hour apart.
 */
#include "cdnopt/release.h"

#include <math.h>

/* sum_{k<D} r^k, computed term by term in the order the release model sums it. */
static double weight_sum(const cdnopt_rules *rules)
{
    double sum = 0;
    for (int h = 0; h < rules->duration_h; h++)
        sum += pow(rules->decay, h);
    return sum;
}

double cdnopt_batch_gbps(const cdnopt_rules *rules, double size_mb, double users)
{
    return size_mb * 8e6 * users / weight_sum(rules) / 3600.0 / 1e9;
}

size_t cdnopt_profile_hours(const cdnopt_rules *rules, double batch_ratio)
{
    return cdnopt_batch_count(batch_ratio) - 1 + (size_t)rules->duration_h;
}

size_t cdnopt_release_profile(const cdnopt_release *release, double batch_ratio,
                              const cdnopt_rules *rules, double *out)
{
    size_t batches = cdnopt_batch_count(batch_ratio);
    size_t hours = cdnopt_profile_hours(rules, batch_ratio);
    for (size_t h = 0; h < hours; h++)
        out[h] = 0;

    /* Every batch but the last takes ratio * users; the last takes the remainder. */
    double share = batch_ratio * release->users;
    double sum = weight_sum(rules);
    for (size_t b = 0; b < batches; b++) {
        double users = b + 1 < batches ? share : release->users - share * (double)(batches - 1);
        double bits = release->size_mb * 8e6 * users;
        for (int h = 0; h < rules->duration_h; h++)
            out[b + (size_t)h] += bits * pow(rules->decay, h) / sum / 3600.0 / 1e9;
    }
    return hours;
}
