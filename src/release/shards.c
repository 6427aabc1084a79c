/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Releases grouped by the hour of day of planned_at, by counting sort, so that a
 * planner or the DQN environment can take one planned hour at a time.
 */
#include "cdnopt/release.h"

static size_t hour_of_day(int64_t t)
{
    int64_t second = t % 86400;
    if (second < 0)
        second += 86400;
    return (size_t)(second / 3600);
}

int cdnopt_shards_new(const cdnopt_release_set *releases, cdnopt_shards **out)
{
    *out = NULL;
    cdnopt_shards *shards = cdnopt_calloc(1, sizeof *shards);
    if (shards == NULL)
        return CDNOPT_ENOMEM;
    shards->index = cdnopt_malloc((releases->n > 0 ? releases->n : 1) * sizeof(size_t));
    if (shards->index == NULL) {
        cdnopt_shards_free(shards);
        return CDNOPT_ENOMEM;
    }

    /* Count per hour, turn counts into offsets, then place in set order. */
    for (size_t i = 0; i < releases->n; i++)
        shards->offset[hour_of_day(releases->items[i].planned_at) + 1]++;
    for (size_t h = 0; h < 24; h++)
        shards->offset[h + 1] += shards->offset[h];
    size_t next[24];
    for (size_t h = 0; h < 24; h++)
        next[h] = shards->offset[h];
    for (size_t i = 0; i < releases->n; i++)
        shards->index[next[hour_of_day(releases->items[i].planned_at)]++] = i;

    *out = shards;
    return 0;
}

void cdnopt_shards_free(cdnopt_shards *shards)
{
    if (shards == NULL)
        return;
    cdnopt_free(shards->index);
    cdnopt_free(shards);
}
