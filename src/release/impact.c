/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cdnopt_impact: the summed rate of many download waves, advanced along a grid.
 *
 * A wave that began at s has rate a * r^h during hour h = floor((t - s) / 3600) for
 * h < D. All waves whose start has the same phase (start modulo one hour, in grid
 * steps) change rate at the same instants, so they are kept as D sums of first-hour
 * rates, one per age in hours: bucket[p][h]. Advancing one grid step ages exactly
 * one phase (the one whose hour boundary it is): its buckets shift by one, the
 * oldest is dropped, and its sum sum_h bucket[p][h] * r^h is recomputed. The total
 * is the sum over phases. Waves that begin in the future wait in a binary heap
 * ordered by start. Memory is O(phases * D + pending waves), whatever the number
 * of active waves.
 */
#include "cdnopt/release.h"

#include <math.h>
#include <string.h>

/* A wave that has not begun yet. */
typedef struct pending_wave {
    int64_t start; /* civil seconds */
    double gbps;   /* first-hour rate, Gbit/s */
} pending_wave;

struct cdnopt_impact {
    int64_t origin, step_s, now;
    size_t phases;        /* grid steps per hour */
    size_t duration;      /* D, hours */
    double *decay_pow;    /* r^h, D entries */
    double *bucket;       /* phases x D first-hour rates; age h of phase p at ring[p] + h */
    size_t *count;        /* phases x D numbers of waves, same layout */
    size_t *ring;         /* per phase, the slot of age 0 */
    double *phase_sum;    /* per phase, current rate in Gbit/s */
    double total;         /* sum of phase_sum */
    size_t active;        /* waves begun and not finished */
    pending_wave *heap;   /* min-heap by start */
    size_t n_pending, cap_pending;
    cdnopt_rules rules;   /* wave shape, for cdnopt_impact_add_release */
};

int cdnopt_impact_new(int64_t origin, int64_t step_s, const cdnopt_rules *rules,
                      cdnopt_impact **out)
{
    *out = NULL;
    if (step_s <= 0 || 3600 % step_s != 0 || cdnopt_rules_validate(rules, NULL) != 0)
        return CDNOPT_EINVAL;

    cdnopt_impact *impact = cdnopt_calloc(1, sizeof *impact);
    if (impact == NULL)
        return CDNOPT_ENOMEM;
    impact->origin = impact->now = origin;
    impact->step_s = step_s;
    impact->phases = (size_t)(3600 / step_s);
    impact->duration = (size_t)rules->duration_h;
    impact->rules = *rules;

    size_t cells = impact->phases * impact->duration;
    impact->decay_pow = cdnopt_malloc(impact->duration * sizeof(double));
    impact->bucket = cdnopt_calloc(cells, sizeof(double));
    impact->count = cdnopt_calloc(cells, sizeof(size_t));
    impact->ring = cdnopt_calloc(impact->phases, sizeof(size_t));
    impact->phase_sum = cdnopt_calloc(impact->phases, sizeof(double));
    if (impact->decay_pow == NULL || impact->bucket == NULL || impact->count == NULL ||
        impact->ring == NULL || impact->phase_sum == NULL) {
        cdnopt_impact_free(impact);
        return CDNOPT_ENOMEM;
    }
    for (size_t h = 0; h < impact->duration; h++)
        impact->decay_pow[h] = pow(rules->decay, (double)h);
    *out = impact;
    return 0;
}

void cdnopt_impact_free(cdnopt_impact *impact)
{
    if (impact == NULL)
        return;
    cdnopt_free(impact->decay_pow);
    cdnopt_free(impact->bucket);
    cdnopt_free(impact->count);
    cdnopt_free(impact->ring);
    cdnopt_free(impact->phase_sum);
    cdnopt_free(impact->heap);
    cdnopt_free(impact);
}

static size_t phase_of(const cdnopt_impact *impact, int64_t t)
{
    int64_t steps = (t - impact->origin) / impact->step_s;
    int64_t phase = steps % (int64_t)impact->phases;
    return (size_t)(phase < 0 ? phase + (int64_t)impact->phases : phase);
}

/* Slot of age h in phase p. */
static size_t cell(const cdnopt_impact *impact, size_t p, size_t h)
{
    return p * impact->duration + (impact->ring[p] + h) % impact->duration;
}

static void recompute_phase(cdnopt_impact *impact, size_t p)
{
    double sum = 0;
    for (size_t h = 0; h < impact->duration; h++)
        sum += impact->bucket[cell(impact, p, h)] * impact->decay_pow[h];
    impact->phase_sum[p] = sum;
}

static void recompute_total(cdnopt_impact *impact)
{
    double total = 0;
    for (size_t p = 0; p < impact->phases; p++)
        total += impact->phase_sum[p];
    impact->total = total;
}

/* Start a wave now: it joins age 0 of the current phase. */
static void begin_wave(cdnopt_impact *impact, double gbps)
{
    size_t p = phase_of(impact, impact->now);
    size_t slot = cell(impact, p, 0);
    impact->bucket[slot] += gbps;
    impact->count[slot]++;
    impact->phase_sum[p] += gbps;
    impact->total += gbps;
    impact->active++;
}

/* ------------------------------------------------------------------------- */
/* Pending heap                                                              */
/* ------------------------------------------------------------------------- */

static int heap_push(cdnopt_impact *impact, pending_wave wave)
{
    if (impact->n_pending == impact->cap_pending) {
        size_t cap = impact->cap_pending ? 2 * impact->cap_pending : 1024;
        pending_wave *heap = cdnopt_realloc(impact->heap, cap * sizeof *heap);
        if (heap == NULL)
            return CDNOPT_ENOMEM;
        impact->heap = heap;
        impact->cap_pending = cap;
    }
    size_t i = impact->n_pending++;
    while (i > 0 && impact->heap[(i - 1) / 2].start > wave.start) {
        impact->heap[i] = impact->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    impact->heap[i] = wave;
    return 0;
}

static pending_wave heap_pop(cdnopt_impact *impact)
{
    pending_wave top = impact->heap[0];
    pending_wave last = impact->heap[--impact->n_pending];
    size_t i = 0, n = impact->n_pending;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= n)
            break;
        if (child + 1 < n && impact->heap[child + 1].start < impact->heap[child].start)
            child++;
        if (impact->heap[child].start >= last.start)
            break;
        impact->heap[i] = impact->heap[child];
        i = child;
    }
    if (n > 0)
        impact->heap[i] = last;
    return top;
}

/* ------------------------------------------------------------------------- */
/* Adding and advancing                                                      */
/* ------------------------------------------------------------------------- */

int cdnopt_impact_add_wave(cdnopt_impact *impact, int64_t start_at, double gbps)
{
    if (start_at < impact->now || (start_at - impact->origin) % impact->step_s != 0 ||
        !isfinite(gbps) || gbps < 0)
        return CDNOPT_EINVAL;
    if (start_at == impact->now) {
        begin_wave(impact, gbps);
        return 0;
    }
    return heap_push(impact, (pending_wave){start_at, gbps});
}

int cdnopt_impact_add_release(cdnopt_impact *impact, const cdnopt_release *release,
                              int64_t start_at, double batch_ratio)
{
    const cdnopt_rules *rules = &impact->rules;
    size_t batches = cdnopt_batch_count(batch_ratio);
    double share = batch_ratio * release->users;
    for (size_t b = 0; b < batches; b++) {
        double users = b + 1 < batches ? share : release->users - share * (double)(batches - 1);
        int rc = cdnopt_impact_add_wave(impact, start_at + (int64_t)b * 3600,
                                        cdnopt_batch_gbps(rules, release->size_mb, users));
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Move one grid step forward: the phase whose hour boundary this is ages by one hour,
 * then waves that begin now join it at age 0. */
static void step_once(cdnopt_impact *impact)
{
    impact->now += impact->step_s;
    size_t p = phase_of(impact, impact->now);

    /* The oldest slot becomes the new age 0; its waves have run their D hours. */
    size_t oldest = cell(impact, p, impact->duration - 1);
    impact->active -= impact->count[oldest];
    impact->bucket[oldest] = 0;
    impact->count[oldest] = 0;
    impact->ring[p] = (impact->ring[p] + impact->duration - 1) % impact->duration;
    recompute_phase(impact, p);

    while (impact->n_pending > 0 && impact->heap[0].start == impact->now) {
        pending_wave wave = heap_pop(impact);
        size_t slot = cell(impact, p, 0);
        impact->bucket[slot] += wave.gbps;
        impact->count[slot]++;
        impact->active++;
    }
    recompute_phase(impact, p);
    recompute_total(impact);
}

int cdnopt_impact_advance(cdnopt_impact *impact, int64_t t)
{
    if (t < impact->now || (t - impact->origin) % impact->step_s != 0)
        return CDNOPT_EINVAL;
    while (impact->now < t) {
        /* With nothing active, jump to the step before the next start (or to t). */
        if (impact->active == 0) {
            int64_t target = t;
            if (impact->n_pending > 0 && impact->heap[0].start - impact->step_s < target)
                target = impact->heap[0].start - impact->step_s;
            if (target > impact->now) {
                impact->now = target;
                continue;
            }
        }
        step_once(impact);
    }
    return 0;
}

double cdnopt_impact_total(const cdnopt_impact *impact)
{
    return impact->total;
}

int64_t cdnopt_impact_now(const cdnopt_impact *impact)
{
    return impact->now;
}

size_t cdnopt_impact_active(const cdnopt_impact *impact)
{
    return impact->active;
}

size_t cdnopt_impact_pending(const cdnopt_impact *impact)
{
    return impact->n_pending;
}
