// SPDX-License-Identifier: Apache-2.0
/*
 * Ruin and recreate, the exact planner's fast primal heuristic: take a few releases out
 * of the schedule, put them back one by one where each reaches the lowest total, and
 * keep the result when the peak does not rise.
 *
 * Rationale: single moves stall on this problem. Valley filling leaves a plateau a
 * few Gbit/s high, and moving any one release off the peak puts it onto another part
 * of the plateau. Taking several releases out at once frees room that they can share
 * in a new way. A round costs about as much as placing the freed releases in the
 * greedy planner, so thousands of rounds fit in a second on the day workload.
 *
 * Ties on the peak are broken by the overflow above a plateau level just below the
 * peak, sum over steps of max(0, T - plateau)^2, so that rounds which shrink the
 * plateau without yet lowering the peak are kept. When no round has lowered the peak
 * for a while, the search goes back to the best schedule and takes one large round
 * whatever its result (a kick), which leaves a local minimum that small rounds cannot.
 */
#include "plan-impl.h"

#include <math.h>
#include <string.h>

/* Plateau level of the tie-break, as a share of the peak below it: 1 % is about the
 * height of the plateau that valley filling leaves. */
#define PLATEAU_SHARE 0.01

/* Releases taken out per round: RUIN_MIN plus up to RUIN_SPREAD - 1 more, drawn per
 * round. Rounds without a lower peak before a kick, and the releases a kick takes out.
 * NOTE: these were chosen on the day workload (200 releases) from a few settings with
 * three seeds each. Rounds of 4-15 releases ended higher there than rounds of 16-47. */
#define RUIN_MIN 16
#define RUIN_SPREAD 32
#define KICK_AFTER_ROUNDS 2000
#define KICK_RELEASES 48

/* Hours either side of the chosen peak step within which other releases may be freed:
 * drawn per round below this, about the length of a wave with ratio 0.1. */
#define NEAR_HOURS 24

typedef struct ruin {
    const plan_problem *problem;
    size_t *choice;     /* current schedule */
    double *total;      /* T of the current schedule, Gbit/s */
    double *hour_max;   /* per grid step s, the max of T over the hour from s */
    size_t *hour_stamp; /* hour_max[s] is valid when hour_stamp[s] equals stamp */
    size_t stamp;       /* changes whenever T changes */
    size_t *freed;      /* releases taken out this round */
    size_t *saved;      /* their options before the round */
    double peak;        /* peak of the current schedule, Gbit/s */
    double plateau;     /* level the overflow is measured above, Gbit/s */
    double overflow;    /* sum of max(0, T - plateau)^2 of the current schedule */
    cdnopt_rng *rng;
} ruin;

static const plan_option *option_of(const plan_problem *problem, size_t i, size_t k)
{
    return &problem->options[problem->option_offset[i] + k];
}

static void scan_total(const ruin *r, double *peak, double *overflow)
{
    *peak = -INFINITY;
    *overflow = 0;
    for (size_t s = 0; s < r->problem->n; s++) {
        double excess = r->total[s] - r->plateau;
        *peak = fmax(*peak, r->total[s]);
        if (excess > 0)
            *overflow += excess * excess;
    }
}

/* Rebuild T from the choice. This also clears the rounding that adds and removes
 * collect over many rounds. */
static void load_total(ruin *r)
{
    const plan_problem *problem = r->problem;
    memcpy(r->total, problem->baseline->v, problem->n * sizeof *r->total);
    for (size_t i = 0; i < problem->releases->n; i++)
        plan_apply(problem, r->total, i, option_of(problem, i, r->choice[i]), 1.0);
    r->stamp++;
    scan_total(r, &r->peak, &r->overflow);
    r->plateau = r->peak * (1 - PLATEAU_SHARE);
    scan_total(r, &r->peak, &r->overflow);
}

/* Return the max of T over the hour that starts at step s. It is cached per hour and
 * recomputed only after T changes (a new stamp). */
static double hour_max_at(ruin *r, int64_t s)
{
    if (r->hour_stamp[s] == r->stamp)
        return r->hour_max[s];
    double max = r->total[s];
    for (int64_t k = 1; k < r->problem->steps_per_hour; k++)
        max = fmax(max, r->total[s + k]);
    r->hour_max[s] = max;
    r->hour_stamp[s] = r->stamp;
    return max;
}

/* Highest total release i reaches with option k. *load receives sum_h profile[h] times
 * the hour's max of T, which is lower where the release fills lower hours. */
static double reached(ruin *r, size_t i, size_t k, double *load)
{
    const plan_problem *problem = r->problem;
    const plan_option *option = option_of(problem, i, k);
    int64_t sph = problem->steps_per_hour;
    size_t hours;
    const double *profile = plan_profile(problem, i, option->ratio, &hours);
    double peak = -INFINITY;
    *load = 0;
    for (size_t h = 0; h < hours; h++) {
        double max = hour_max_at(r, option->first + (int64_t)h * sph);
        peak = fmax(peak, max + profile[h]);
        *load += profile[h] * max;
    }
    return peak;
}

/* Put release i back at the option with the lowest highest total; ties go to the lower
 * load, then at random. */
static void place(ruin *r, size_t i)
{
    const plan_problem *problem = r->problem;
    size_t count = problem->option_offset[i + 1] - problem->option_offset[i];
    size_t best = 0, ties = 0;
    double best_peak = INFINITY, best_load = INFINITY;
    for (size_t k = 0; k < count; k++) {
        double load, peak = reached(r, i, k, &load);
        double tolerance = 1e-9 * fabs(peak);
        bool tied = peak <= best_peak + tolerance && load <= best_load;
        if (peak < best_peak - tolerance || (tied && load < best_load)) {
            best = k;
            best_peak = peak;
            best_load = load;
            ties = 1;
        } else if (tied && cdnopt_rng_below(r->rng, ++ties) == 0) {
            best = k;
        }
    }
    r->choice[i] = best;
    plan_apply(problem, r->total, i, option_of(problem, i, best), 1.0);
    r->stamp++;
}

static void take_out(ruin *r, size_t i)
{
    plan_apply(r->problem, r->total, i, option_of(r->problem, i, r->choice[i]), -1.0);
    r->stamp++;
}

/* Return whether release i's current traffic covers some step in [lo, hi]. */
static bool covers(const ruin *r, size_t i, int64_t lo, int64_t hi)
{
    const plan_option *option = option_of(r->problem, i, r->choice[i]);
    size_t hours;
    plan_profile(r->problem, i, option->ratio, &hours);
    int64_t end = option->first + (int64_t)hours * r->problem->steps_per_hour;
    return option->first <= hi && lo < end;
}

/* Choose up to `size` releases to free: a random number of those covering a random
 * step at the peak, then about a quarter of those near it, visited from a random
 * release so that rounds differ. */
static size_t pick(ruin *r, size_t size)
{
    const plan_problem *problem = r->problem;
    size_t n_releases = problem->releases->n, n_peaks = 0, count = 0;
    int64_t target = 0;
    for (size_t s = 0; s < problem->n; s++) {
        if (r->total[s] >= r->peak * (1 - 1e-9) && cdnopt_rng_below(r->rng, ++n_peaks) == 0)
            target = (int64_t)s;
    }

    int64_t near = (int64_t)cdnopt_rng_below(r->rng, NEAR_HOURS) * problem->steps_per_hour;
    size_t culprits = 1 + (size_t)cdnopt_rng_below(r->rng, size);
    size_t first = (size_t)cdnopt_rng_below(r->rng, n_releases);
    for (size_t step = 0; step < n_releases && count < size; step++) {
        size_t i = (first + step) % n_releases;
        bool at_peak = covers(r, i, target, target);
        if ((at_peak && count < culprits) ||
            (!at_peak && covers(r, i, target - near, target + near) &&
             cdnopt_rng_below(r->rng, 4) == 0))
            r->freed[count++] = i;
    }
    return count;
}

static double energy(const cdnopt_release *release)
{
    return release->size_mb * release->users;
}

/* Order the freed releases by energy, largest first, so that the large waves find room
 * before the small ones fill the gaps (insertion sort: at most RUIN_MIN + RUIN_SPREAD). */
static void order_freed(ruin *r, size_t count)
{
    const cdnopt_release *items = r->problem->releases->items;
    for (size_t a = 1; a < count; a++) {
        size_t i = r->freed[a], b = a;
        for (; b > 0 && energy(&items[r->freed[b - 1]]) < energy(&items[i]); b--)
            r->freed[b] = r->freed[b - 1];
        r->freed[b] = i;
    }
}

/* One round of `size` releases. A forced round is kept whatever its result. Returns
 * whether the round was kept. */
static bool run_round(ruin *r, size_t size, bool forced)
{
    size_t count = pick(r, size);
    order_freed(r, count);
    for (size_t j = 0; j < count; j++) {
        r->saved[j] = r->choice[r->freed[j]];
        take_out(r, r->freed[j]);
    }
    for (size_t j = 0; j < count; j++)
        place(r, r->freed[j]);

    double peak, overflow;
    scan_total(r, &peak, &overflow);
    double tolerance = 1e-9 * r->peak;
    bool lower = peak < r->peak - tolerance;
    if (forced || lower || (peak <= r->peak + tolerance && overflow <= r->overflow)) {
        r->peak = peak;
        r->overflow = overflow;
        if (lower || forced) {
            r->plateau = peak * (1 - PLATEAU_SHARE);
            scan_total(r, &r->peak, &r->overflow);
        }
        return true;
    }

    /* Undo in reverse order, which restores the previous options. */
    for (size_t j = count; j-- > 0;) {
        take_out(r, r->freed[j]);
        r->choice[r->freed[j]] = r->saved[j];
        plan_apply(r->problem, r->total, r->freed[j],
                   option_of(r->problem, r->freed[j], r->saved[j]), 1.0);
    }
    r->stamp++;
    return false;
}

static int ruin_init(ruin *r, const plan_problem *problem, size_t *choice, cdnopt_rng *rng)
{
    size_t n_releases = problem->releases->n;
    *r = (ruin){.problem = problem, .choice = choice, .rng = rng, .stamp = 1};
    r->total = cdnopt_malloc(problem->n * sizeof *r->total);
    r->hour_max = cdnopt_malloc(problem->n * sizeof *r->hour_max);
    r->hour_stamp = cdnopt_calloc(problem->n, sizeof *r->hour_stamp);
    r->freed = cdnopt_malloc((n_releases + 1) * sizeof *r->freed);
    r->saved = cdnopt_malloc((n_releases + 1) * sizeof *r->saved);
    if (r->total == NULL || r->hour_max == NULL || r->hour_stamp == NULL || r->freed == NULL ||
        r->saved == NULL)
        return CDNOPT_ENOMEM;
    load_total(r);
    return 0;
}

static void ruin_free(ruin *r)
{
    cdnopt_free(r->total);
    cdnopt_free(r->hour_max);
    cdnopt_free(r->hour_stamp);
    cdnopt_free(r->freed);
    cdnopt_free(r->saved);
}

/* Return whether the search may run another batch of rounds. */
static bool may_continue(const plan_ruin_params *params, const plan_ruin_stats *stats,
                         size_t last_best)
{
    if (stats->peak <= params->stop_peak || cdnopt_clock_s() >= params->deadline)
        return false;
    if (params->max_rounds > 0 && stats->rounds >= params->max_rounds)
        return false;
    return params->patience == 0 || stats->rounds - last_best < params->patience;
}

int plan_ruin_recreate(const plan_problem *problem, const plan_ruin_params *params, cdnopt_rng *rng,
                       size_t *choice, plan_ruin_stats *stats)
{
    memset(stats, 0, sizeof *stats);
    size_t n_releases = problem->releases->n;
    if (n_releases == 0)
        return 0;
    ruin r;
    size_t *best = cdnopt_malloc(n_releases * sizeof *best);
    int rc = ruin_init(&r, problem, choice, rng);
    if (rc != 0 || best == NULL) {
        ruin_free(&r);
        cdnopt_free(best);
        return CDNOPT_ENOMEM;
    }
    memcpy(best, choice, n_releases * sizeof *best);
    stats->start_peak = stats->peak = r.peak;

    /* Batches of 16 rounds between clock reads; a round takes well under a millisecond
     * on the day workload. */
    size_t last_best = 0, last_kick = 0;
    while (may_continue(params, stats, last_best)) {
        for (int k = 0; k < 16; k++) {
            stats->rounds++;
            stats->accepted +=
                run_round(&r, RUIN_MIN + (size_t)cdnopt_rng_below(rng, RUIN_SPREAD), false);
            if (r.peak < stats->peak) {
                stats->peak = r.peak;
                memcpy(best, choice, n_releases * sizeof *best);
                last_best = last_kick = stats->rounds;
            }
        }

        if (stats->rounds - last_kick >= KICK_AFTER_ROUNDS) {
            memcpy(choice, best, n_releases * sizeof *choice);
            load_total(&r);
            run_round(&r, KICK_RELEASES, true);
            stats->kicks++;
            last_kick = stats->rounds;
        }
    }

    /* The peak above came from running totals; the caller re-evaluates the choice. */
    memcpy(choice, best, n_releases * sizeof *choice);
    ruin_free(&r);
    cdnopt_free(best);
    return 0;
}
