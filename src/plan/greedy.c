/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Greedy valley filling with local search.
 *
 * Rationale for the incremental evaluation: a release's traffic is constant within
 * each hour after its start, so the highest total it reaches with an option is
 * max_h (max of T over its hour h block + profile[h]). The block maxima of T over
 * every candidate block are computed once per release (O(blocks * steps per
 * hour)), after which each option costs O(hours). The first pass over scale
 * (10,000 releases on a 5-minute grid) then takes under a second.
 *
 * For the p95 objective the exact nearest-rank p95 of the whole grid is needed per
 * option. Adding a wave changes only a contiguous range R of steps, so the value
 * at rank m + 1 from the top (m = n - ceil(0.95 n)) can only rise, and only values
 * above the current one (v*) can raise it: it is the (m + 1)-th largest of the
 * untouched values above v* and the touched ones above v*, or v* when there are
 * fewer than m + 1 of them. The values above v* are listed once per release, so an
 * option costs O(|R| log |R| + m), and nothing when it stays below the current p95.
 * Most options are rejected before that by counting the values above the best p95 so
 * far, which needs no sort (see p95_at_most).
 */
#include "plan-impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Relative rise of p95 that the peak repair after the p95 passes may spend.
 * NOTE: the trade-off is fixed here, not a planner option. With 1 % the week workload's
 * peak fell from 1777 to 1420 Gbit/s and its p95 rose from 1160 to 1172 Gbit/s. */
#define P95_PEAK_SLACK 0.01

/* Scratch space of one greedy run. */
typedef struct greedy {
    const plan_problem *problem;
    cdnopt_objective objective;
    double *total;          /* T on the grid, Gbit/s */
    double *block_max;      /* per offset and block, max of T */
    double *block_sum;      /* per offset and block, sum of T */
    size_t n_offsets;       /* candidate start offsets within an hour */
    size_t n_blocks;        /* blocks per offset */
    size_t rank_m;          /* values above the p95 rank: n - ceil(0.95 n) */
    double threshold;       /* v*: p95 of T without the release being placed */
    double floor;           /* lowest T when BY_POWER16 starts, Gbit/s */
    double scale;           /* divisor of T - floor for BY_POWER16, Gbit/s */
    double *power;          /* ((T - floor) / scale)^16 per step while BY_POWER16 runs */
    bool powers_current;    /* power follows every change of T */
    size_t *top;            /* steps whose T exceeds v*, largest first */
    double *top_values;     /* their values */
    size_t n_top;
    double *touched;        /* scratch for p95: new values inside R */
    double *block_sorted;   /* per offset and block, its T values in ascending order */
    double p95_cap;         /* BY_P95_THEN_PEAK: p95 an option may not exceed, Gbit/s */
    double *scratch;        /* copy of T for selection */
    double deadline;        /* cdnopt_clock_s() value after which no pass starts or goes on */
} greedy;

static int greedy_init(greedy *g, const plan_problem *problem, cdnopt_objective objective)
{
    memset(g, 0, sizeof *g);
    g->problem = problem;
    g->objective = objective;
    size_t n = problem->n;
    int64_t sph = problem->steps_per_hour;

    /* Candidate starts lie start_steps apart; within an hour there are sph / start_steps
     * offsets, and a window of max_delay + longest profile hours to cover. */
    g->n_offsets = (size_t)(sph / problem->start_steps);
    g->n_blocks = (size_t)(problem->rules->max_delay_s / 3600 + 2) + problem->max_hours;
    for (size_t i = 0; i < problem->releases->n; i++) {
        const plan_option *last = &problem->options[problem->option_offset[i + 1] - 1];
        size_t blocks = (size_t)((last->first - problem->base_first[i]) / sph + 1) +
                        problem->max_hours;
        if (blocks > g->n_blocks)
            g->n_blocks = blocks;
    }

    g->total = cdnopt_malloc(n * sizeof *g->total);
    g->block_max = cdnopt_malloc(g->n_offsets * g->n_blocks * sizeof *g->block_max);
    g->block_sum = cdnopt_malloc(g->n_offsets * g->n_blocks * sizeof *g->block_sum);
    g->rank_m = n - (size_t)ceil(0.95 * (double)n);
    size_t range = problem->max_hours * (size_t)sph;
    g->top = cdnopt_malloc(n * sizeof *g->top);
    g->top_values = cdnopt_malloc(n * sizeof *g->top_values);
    g->scratch = cdnopt_malloc(n * sizeof *g->scratch);
    g->power = cdnopt_malloc(n * sizeof *g->power);
    g->touched = cdnopt_malloc((range + 1) * sizeof *g->touched);
    g->block_sorted =
        cdnopt_malloc(g->n_offsets * g->n_blocks * (size_t)sph * sizeof *g->block_sorted);
    if (g->total == NULL || g->block_max == NULL || g->block_sum == NULL || g->top == NULL ||
        g->top_values == NULL || g->scratch == NULL || g->touched == NULL ||
        g->block_sorted == NULL || g->power == NULL)
        return CDNOPT_ENOMEM;
    memcpy(g->total, problem->baseline->v, n * sizeof *g->total);
    return 0;
}

static void greedy_free(greedy *g)
{
    cdnopt_free(g->total);
    cdnopt_free(g->power);
    cdnopt_free(g->block_max);
    cdnopt_free(g->block_sum);
    cdnopt_free(g->top);
    cdnopt_free(g->top_values);
    cdnopt_free(g->scratch);
    cdnopt_free(g->touched);
    cdnopt_free(g->block_sorted);
}

/* The larger of two finite values. libm's fmax() also orders NaNs and is a call, not
 * an instruction, and these loops run for every option of every release. */
static inline double larger(double a, double b)
{
    return a > b ? a : b;
}

/* Max of T over every candidate hour block of release i. */
static void compute_block_max(greedy *g, size_t i)
{
    const plan_problem *problem = g->problem;
    int64_t sph = problem->steps_per_hour, n = (int64_t)problem->n;
    for (size_t o = 0; o < g->n_offsets; o++) {
        int64_t base = problem->base_first[i] + (int64_t)o * problem->start_steps;
        for (size_t j = 0; j < g->n_blocks; j++) {
            int64_t lo = base + (int64_t)j * sph, hi = lo + sph;
            double max = -INFINITY, sum = 0;
            for (int64_t s = lo < 0 ? 0 : lo; s < hi && s < n; s++) {
                max = larger(max, g->total[s]);
                sum += g->total[s];
            }
            g->block_max[o * g->n_blocks + j] = max;
            g->block_sum[o * g->n_blocks + j] = sum;
        }
    }
}

/* Highest total the release reaches with option o. */
static double local_peak(const greedy *g, size_t i, const plan_option *o)
{
    const plan_problem *problem = g->problem;
    int64_t sph = problem->steps_per_hour, rel = o->first - problem->base_first[i];
    size_t offset = (size_t)((rel % sph) / problem->start_steps), j0 = (size_t)(rel / sph);
    size_t hours;
    const double *profile = plan_profile(problem, i, o->ratio, &hours);
    const double *blocks = g->block_max + offset * g->n_blocks + j0;
    double peak = -INFINITY;
    for (size_t h = 0; h < hours; h++)
        peak = larger(peak, blocks[h] + profile[h]);
    return peak;
}

/* Growth of sum_s T(s)^2 when the release is added with option o: for each hour h,
 * 2 * profile[h] * (sum of T over the block) + steps * profile[h]^2. */
static double square_growth(const greedy *g, size_t i, const plan_option *o)
{
    const plan_problem *problem = g->problem;
    int64_t sph = problem->steps_per_hour, rel = o->first - problem->base_first[i];
    size_t offset = (size_t)((rel % sph) / problem->start_steps), j0 = (size_t)(rel / sph);
    size_t hours;
    const double *profile = plan_profile(problem, i, o->ratio, &hours);
    const double *sums = g->block_sum + offset * g->n_blocks + j0;
    double growth = 0;
    for (size_t h = 0; h < hours; h++)
        growth += profile[h] * (2.0 * sums[h] + (double)sph * profile[h]);
    return growth;
}

static double power16(double x)
{
    double x2 = x * x, x4 = x2 * x2, x8 = x4 * x4;
    return x8 * x8;
}

/* The term of step s in the sum of 16th powers, from the current T. */
static double power_term(const greedy *g, size_t s)
{
    double inverse = 1.0 / g->scale;
    return power16((g->total[s] - g->floor) * inverse);
}

/* Growth of sum_s ((T(s) - floor) / scale)^16 when the release is added with option o.
 * High powers weigh the highest steps most, like the peak, but every step counts, so
 * the search can still move when several steps share the peak. Measuring from the
 * floor makes the choice the same for a baseline shifted by a constant, such as a
 * forecast plus a flat safety margin. */
static double power16_growth(const greedy *g, size_t i, const plan_option *o)
{
    const plan_problem *problem = g->problem;
    int64_t sph = problem->steps_per_hour;
    size_t hours;
    const double *profile = plan_profile(problem, i, o->ratio, &hours);
    double inverse = 1.0 / g->scale, growth = 0;
    for (size_t h = 0; h < hours; h++) {
        int64_t lo = o->first + (int64_t)h * sph;
        for (int64_t s = lo; s < lo + sph; s++) {
            double before = (g->total[s] - g->floor) * inverse;
            growth += power16(before + profile[h] * inverse) - g->power[s];
        }
    }
    return growth;
}

/* ------------------------------------------------------------------------- */
/* Exact p95 of T with one release added                                     */
/* ------------------------------------------------------------------------- */

static int compare_double_desc(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

/* k-th largest (0-based) of values[0..n), reordering values (Hoare selection). */
static double select_largest(double *values, size_t n, size_t k)
{
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        double pivot = values[lo + (hi - lo) / 2];
        size_t i = lo, j = hi;
        while (i <= j) {
            while (values[i] > pivot)
                i++;
            while (values[j] < pivot)
                j--;
            if (i <= j) {
                double swap = values[i];
                values[i++] = values[j];
                values[j] = swap;
                if (j == 0)
                    break;
                j--;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            return values[k];
    }
    return values[k];
}

/* Find the current p95 v* (the value at rank m + 1 from the top) and list the steps
 * whose value exceeds it, largest first. */
static void refresh_top(greedy *g)
{
    size_t n = g->problem->n;
    memcpy(g->scratch, g->total, n * sizeof *g->scratch);
    g->threshold = select_largest(g->scratch, n, g->rank_m);

    g->n_top = 0;
    for (size_t s = 0; s < n; s++) {
        if (g->total[s] > g->threshold)
            g->top_values[g->n_top] = g->total[s], g->top[g->n_top++] = s;
    }
    /* At most m values exceed v*, so this sort is short. */
    for (size_t a = 1; a < g->n_top; a++) {
        for (size_t b = a; b > 0 && g->top_values[b] > g->top_values[b - 1]; b--) {
            double v = g->top_values[b];
            g->top_values[b] = g->top_values[b - 1];
            g->top_values[b - 1] = v;
            size_t s = g->top[b];
            g->top[b] = g->top[b - 1];
            g->top[b - 1] = s;
        }
    }
}

/* p95 of T plus the release's traffic with option o. Adding traffic only raises values,
 * so the result is at least v*, and only values above v* can move it. */
static double p95_with(greedy *g, size_t i, const plan_option *o, double peak)
{
    if (peak <= g->threshold)
        return g->threshold;

    const plan_problem *problem = g->problem;
    int64_t sph = problem->steps_per_hour;
    size_t hours;
    const double *profile = plan_profile(problem, i, o->ratio, &hours);
    size_t lo = (size_t)o->first, hi = lo + hours * (size_t)sph;

    /* Touched values above v*, largest first. */
    size_t n_touched = 0;
    for (size_t s = lo; s < hi; s++) {
        double value = g->total[s] + profile[(s - lo) / (size_t)sph];
        if (value > g->threshold)
            g->touched[n_touched++] = value;
    }
    qsort(g->touched, n_touched, sizeof *g->touched, compare_double_desc);

    /* Merge with the untouched values above v* up to rank m + 1; fewer than m + 1 values
     * above v* leave the p95 at v*. */
    size_t a = 0, t = 0;
    double value = g->threshold;
    for (size_t taken = 0; taken <= g->rank_m; taken++) {
        while (t < g->n_top && g->top[t] >= lo && g->top[t] < hi)
            t++;
        double untouched = t < g->n_top ? g->top_values[t] : -INFINITY;
        double candidate = a < n_touched ? g->touched[a] : -INFINITY;
        if (candidate == -INFINITY && untouched == -INFINITY)
            return g->threshold;
        if (candidate >= untouched)
            value = g->touched[a++];
        else
            value = g->top_values[t++];
    }
    return value;
}

/* Rationale for counting before selecting: the p95 of T plus an option's traffic is
 * the (m + 1)-th largest value, so it is at most x exactly when at most m values exceed
 * x. Counting needs no sort: values outside R above x come from the sorted list of
 * values above v*, and inside R a block of hour h adds those with x - profile[h] < T <= x,
 * found by binary search in the block's sorted values. Most options are rejected by one
 * count, O(hours * log(steps per hour) + log m), and only the rest get the exact p95. */

/* Sort each candidate block's values of T ascending (for release i's options). */
static void compute_block_sorted(greedy *g, size_t i)
{
    const plan_problem *problem = g->problem;
    int64_t sph = problem->steps_per_hour, n = (int64_t)problem->n;
    for (size_t o = 0; o < g->n_offsets; o++) {
        int64_t base = problem->base_first[i] + (int64_t)o * problem->start_steps;
        for (size_t j = 0; j < g->n_blocks; j++) {
            double *sorted = g->block_sorted + (o * g->n_blocks + j) * (size_t)sph;
            int64_t lo = base + (int64_t)j * sph;
            for (int64_t k = 0; k < sph; k++) {
                int64_t s = lo + k;
                sorted[k] = s >= 0 && s < n ? g->total[s] : -INFINITY;
            }
            /* Insertion sort: a block has at most 60 values (1-minute steps). */
            for (int64_t a = 1; a < sph; a++) {
                double v = sorted[a];
                int64_t b = a;
                for (; b > 0 && sorted[b - 1] > v; b--)
                    sorted[b] = sorted[b - 1];
                sorted[b] = v;
            }
        }
    }
}

/* Values of sorted[0..n) (ascending) that are at most x. */
static size_t count_at_most(const double *sorted, size_t n, double x)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sorted[mid] <= x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Whether the p95 of T plus option o's traffic is at most x, for x >= v*. */
static bool p95_at_most(const greedy *g, size_t i, const plan_option *o, double x)
{
    const plan_problem *problem = g->problem;
    size_t sph = (size_t)problem->steps_per_hour;

    /* Values of T above x: a prefix of the list above v*, largest first. */
    size_t lo = 0, hi = g->n_top;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (g->top_values[mid] > x)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t above = lo;
    if (above > g->rank_m)
        return false;

    /* Values inside R that the option lifts from at most x to above it. */
    int64_t rel = o->first - problem->base_first[i];
    size_t offset = (size_t)((rel % (int64_t)sph) / problem->start_steps);
    size_t j0 = (size_t)(rel / (int64_t)sph);
    size_t hours;
    const double *profile = plan_profile(problem, i, o->ratio, &hours);
    for (size_t h = 0; h < hours && above <= g->rank_m; h++) {
        const double *sorted = g->block_sorted + (offset * g->n_blocks + j0 + h) * sph;
        above += count_at_most(sorted, sph, x) - count_at_most(sorted, sph, x - profile[h]);
    }
    return above <= g->rank_m;
}

/* ------------------------------------------------------------------------- */
/* Placing one release                                                       */
/* ------------------------------------------------------------------------- */

/* Criterion an option is judged by when a release is placed. */
typedef enum criterion {
    BY_PEAK,    /* highest total the release's traffic reaches */
    BY_P95,     /* p95 of the whole grid */
    BY_SQUARES, /* growth of the sum of squared totals */
    BY_POWER16,  /* growth of the sum of (total / scale)^16, a smooth stand-in for the max */
    BY_P95_THEN_PEAK, /* highest total reached, among options that keep p95 <= p95_cap */
} criterion;

/* Whether (primary, secondary) beats the best so far, with a relative tolerance so that
 * rounding noise does not break ties against the smaller delay. */
static bool better(double primary, double secondary, double best_primary, double best_secondary)
{
    if (isinf(best_primary))
        return true;
    double tol = 1e-9 * fmax(1.0, fabs(best_primary));
    if (primary < best_primary - tol)
        return true;
    if (primary > best_primary + tol)
        return false;
    return secondary < best_secondary - 1e-9 * fmax(1.0, fabs(best_secondary));
}

/* Index (within release i's options) of the best option under objective. T must not
 * contain release i. */
static size_t best_option(greedy *g, size_t i, criterion by)
{
    const plan_problem *problem = g->problem;
    compute_block_max(g, i);
    if (by == BY_P95 || by == BY_P95_THEN_PEAK) {
        refresh_top(g);
        compute_block_sorted(g, i);
    }

    size_t begin = problem->option_offset[i], count = problem->option_offset[i + 1] - begin;
    size_t best = 0;
    double best_primary = INFINITY, best_secondary = INFINITY;
    for (size_t k = 0; k < count; k++) {
        const plan_option *o = &problem->options[begin + k];
        double peak = local_peak(g, i, o);
        double primary;
        if (by == BY_P95) {
            /* Skip the exact p95 of options that cannot beat or tie the best so far. */
            double tie = isinf(best_primary) ? INFINITY
                                             : best_primary + 1e-9 * fmax(1.0, best_primary);
            if (!isinf(tie) && tie >= g->threshold && !p95_at_most(g, i, o, tie))
                continue;
            primary = p95_with(g, i, o, peak);
        } else if (by == BY_P95_THEN_PEAK) {
            /* Options that would raise p95 above the cap all lose to any that keep it. */
            double cap = g->p95_cap + 1e-9 * fmax(1.0, g->p95_cap);
            primary = peak <= g->threshold || p95_at_most(g, i, o, fmax(cap, g->threshold))
                          ? 0.0
                          : 1.0;
        } else {
            primary = by == BY_SQUARES   ? square_growth(g, i, o)
                      : by == BY_POWER16 ? power16_growth(g, i, o)
                                         : peak;
        }
        if (better(primary, peak, best_primary, best_secondary)) {
            best = k;
            best_primary = primary;
            best_secondary = peak;
        }
    }
    return best;
}

/* Release order: energy (size * users), largest first, and ties by index for
 * determinism. The releases being ordered are kept per thread because the server
 * plans on a pool of threads. */
static _Thread_local const cdnopt_release *order_items;

static int compare_energy_desc(const void *a, const void *b)
{
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    double x = order_items[i].size_mb * order_items[i].users;
    double y = order_items[j].size_mb * order_items[j].users;
    if (x != y)
        return x < y ? 1 : -1;
    return (i > j) - (i < j);
}

size_t *plan_energy_order(const cdnopt_release_set *releases)
{
    size_t *order = cdnopt_malloc((releases->n > 0 ? releases->n : 1) * sizeof *order);
    if (order == NULL)
        return NULL;
    for (size_t i = 0; i < releases->n; i++)
        order[i] = i;
    order_items = releases->items;
    qsort(order, releases->n, sizeof *order, compare_energy_desc);
    return order;
}

/* Releases re-placed between two reads of the clock in a local-search pass. */
#define RELEASES_PER_CLOCK_READ 64

/* Return whether the deadline has passed, reading the clock only every
 * RELEASES_PER_CLOCK_READ releases of a pass. */
static bool past_deadline(const greedy *g, size_t k)
{
    return k % RELEASES_PER_CLOCK_READ == 0 && cdnopt_clock_s() >= g->deadline;
}

/* Add (sign 1) or remove (sign -1) release i's wave with option o, and keep the power
 * terms of the steps it covers current while BY_POWER16 reads them. The terms are
 * stored so that each option's growth evaluates one power per step, not two. */
static void apply_option(greedy *g, size_t i, const plan_option *o, double sign)
{
    const plan_problem *problem = g->problem;
    plan_apply(problem, g->total, i, o, sign);
    if (!g->powers_current)
        return;

    size_t hours;
    plan_profile(problem, i, o->ratio, &hours);
    int64_t end = o->first + (int64_t)hours * problem->steps_per_hour;
    for (int64_t s = o->first; s < end; s++)
        g->power[s] = power_term(g, (size_t)s);
}

/* One pass of re-placing every release with the others fixed, stopped early at the
 * deadline. Every release keeps a legal option either way. Returns whether any release
 * moved and the deadline has not passed. */
static bool improve_pass(greedy *g, const size_t *order, criterion by, size_t *choice)
{
    const plan_problem *problem = g->problem;
    bool moved = false;
    for (size_t k = 0; k < problem->releases->n; k++) {
        if (past_deadline(g, k))
            return false;
        size_t i = order[k];
        const plan_option *options = problem->options + problem->option_offset[i];
        apply_option(g, i, &options[choice[i]], -1.0);
        size_t best = best_option(g, i, by);
        moved = moved || best != choice[i];
        choice[i] = best;
        apply_option(g, i, &options[best], 1.0);
    }
    return moved;
}

static int run(const plan_problem *problem, cdnopt_objective objective, int passes,
               double deadline, size_t *choice, bool from_scratch)
{
    greedy g;
    size_t *order = plan_energy_order(problem->releases);
    int rc = order == NULL ? CDNOPT_ENOMEM : greedy_init(&g, problem, objective);
    if (rc != 0) {
        if (order != NULL)
            greedy_free(&g);
        cdnopt_free(order);
        return rc;
    }
    g.deadline = deadline;

    /* First pass: valley filling by the highest total each release reaches. It runs to
     * the end whatever the deadline because it gives every release its option. */
    for (size_t k = 0; k < problem->releases->n; k++) {
        size_t i = order[k];
        if (from_scratch)
            choice[i] = best_option(&g, i, BY_PEAK);
        plan_apply(problem, g.total, i, &problem->options[problem->option_offset[i] + choice[i]],
                   1.0);
    }

    /* Local search under the objective until nothing moves or the passes run out. */
    for (int pass = 0; pass < passes; pass++) {
        if (!improve_pass(&g, order, BY_SQUARES, choice))
            break;
    }
    double highest = -INFINITY;
    g.floor = INFINITY;
    for (size_t s = 0; s < problem->n; s++) {
        highest = fmax(highest, g.total[s]);
        g.floor = fmin(g.floor, g.total[s]);
    }
    g.scale = highest > g.floor ? highest - g.floor : 1.0;
    for (size_t s = 0; s < problem->n; s++)
        g.power[s] = power_term(&g, s);
    g.powers_current = true;
    for (int pass = 0; pass < passes; pass++) {
        if (!improve_pass(&g, order, BY_POWER16, choice))
            break;
    }
    g.powers_current = false;
    criterion by = objective == CDNOPT_OBJECTIVE_P95 ? BY_P95 : BY_PEAK;
    for (int pass = 0; pass < passes; pass++) {
        if (!improve_pass(&g, order, by, choice))
            break;
    }

    /* Lowering p95 piles traffic onto the top 5 % of steps, which p95 ignores. Repair
     * the peak with moves that keep p95 within P95_PEAK_SLACK of what the p95 passes
     * reached: with no slack at all the total below the top 5 % is so flat that no
     * release can leave the peak without raising p95. */
    memcpy(g.scratch, g.total, problem->n * sizeof *g.scratch);
    g.p95_cap = select_largest(g.scratch, problem->n, g.rank_m) * (1 + P95_PEAK_SLACK);
    for (int pass = 0; objective == CDNOPT_OBJECTIVE_P95 && pass < passes; pass++) {
        if (!improve_pass(&g, order, BY_P95_THEN_PEAK, choice))
            break;
    }
    greedy_free(&g);
    cdnopt_free(order);
    return 0;
}

int plan_greedy_choose(const plan_problem *problem, cdnopt_objective objective, int passes,
                       size_t *choice)
{
    return run(problem, objective, passes, INFINITY, choice, true);
}

int plan_local_search(const plan_problem *problem, cdnopt_objective objective, int passes,
                      size_t *choice)
{
    return run(problem, objective, passes, INFINITY, choice, false);
}

int plan_greedy_choose_until(const plan_problem *problem, cdnopt_objective objective, int passes,
                             double deadline, size_t *choice)
{
    return run(problem, objective, passes, deadline, choice, true);
}

int plan_local_search_until(const plan_problem *problem, cdnopt_objective objective, int passes,
                            double deadline, size_t *choice)
{
    return run(problem, objective, passes, deadline, choice, false);
}

/* Greedy over the starts params->start_step_s apart. */
static int plan_greedy_at(const cdnopt_series *baseline, const cdnopt_release_set *releases,
                          const cdnopt_rules *rules, const cdnopt_plan_params *params,
                          cdnopt_plan_result *out, char *err)
{
    memset(out, 0, sizeof *out);
    double started = cdnopt_clock_s();
    plan_problem problem;
    int rc = plan_problem_init(&problem, baseline, releases, rules, params->start_step_s, err);
    if (rc != 0)
        return rc;

    size_t *choice = cdnopt_calloc(releases->n > 0 ? releases->n : 1, sizeof *choice);
    rc = choice == NULL ? CDNOPT_ENOMEM
                        : plan_greedy_choose(&problem, params->objective,
                                             params->local_search_passes, choice);
    rc = plan_conclude(&problem, choice, rc, "greedy", out, err);
    if (rc != 0)
        return rc;

    out->solve_s = cdnopt_clock_s() - started;
    snprintf(out->method, sizeof out->method,
             "greedy valley filling, largest energy first, then up to %d local-search passes "
             "each by sum of squares, by sum of 16th powers and by %s",
             params->local_search_passes, cdnopt_objective_name(params->objective));
    return 0;
}

static double objective_value(const cdnopt_plan_result *result, cdnopt_objective objective)
{
    return objective == CDNOPT_OBJECTIVE_P95 ? result->planned.p95_gbps
                                             : result->planned.peak_gbps;
}

int cdnopt_plan_greedy(const cdnopt_series *baseline, const cdnopt_release_set *releases,
                       const cdnopt_rules *rules, const cdnopt_plan_params *params,
                       cdnopt_plan_result *out, char *err)
{
    int rc = plan_greedy_at(baseline, releases, rules, params, out, err);
    if (rc != 0 || params->start_step_s == 3600)
        return rc;

    /* The whole-hour starts are among the finer ones, but greedy is a heuristic, and on
     * 4 of 51 workloads cut from real traffic its finer search ended up to 0.9 % above
     * its whole-hour one. So a finer step also plans on whole hours and keeps the lower
     * of the two. A release with legal starts only off the whole hours leaves the finer
     * plan alone. */
    cdnopt_plan_params hourly = *params;
    hourly.start_step_s = 3600;
    cdnopt_plan_result coarse;
    char coarse_err[CDNOPT_ERRMSG_MAX] = "";
    rc = plan_greedy_at(baseline, releases, rules, &hourly, &coarse, coarse_err);
    if (rc == CDNOPT_EINVAL)
        return 0;
    if (rc != 0) {
        cdnopt_plan_result_clear(out);
        snprintf(err, CDNOPT_ERRMSG_MAX, "%s", coarse_err);
        return rc;
    }

    double solve_s = out->solve_s + coarse.solve_s;
    if (objective_value(&coarse, params->objective) < objective_value(out, params->objective)) {
        char problem_text[sizeof out->problem];
        memcpy(problem_text, out->problem, sizeof problem_text);
        cdnopt_plan_result_clear(out);
        *out = coarse;
        memcpy(out->problem, problem_text, sizeof problem_text);
        size_t used = strlen(out->method);
        snprintf(out->method + used, sizeof out->method - used,
                 "; the whole-hour starts planned lower than the finer step, so their plan "
                 "is kept");
    } else {
        cdnopt_plan_result_clear(&coarse);
    }
    out->solve_s = solve_s;
    return 0;
}
