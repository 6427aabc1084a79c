/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Greedy planning against several baseline scenarios at once.
 *
 * Every scenario is a plausible baseline on the same grid (the members of a forecast
 * combination, past weeks of the history). One choice of options is kept, and each
 * scenario keeps its own running total T_s. The stages follow greedy.c, but each
 * option is judged by a blend of the mean and the maximum over the scenarios. Valley
 * filling judges the highest total the release reaches. Local search judges the growth
 * of sum T^2, then of sum ((T - floor_s) / scale_s)^16, then the peak of each
 * scenario's whole grid. The sum of squares is linear in T, so its mean over the
 * scenarios is that of the scenarios' mean line, and that stage ignores the weight.
 *
 * Rationale: a forecast's valleys are uncertain, and planning on an averaged line
 * fills the averaged valleys, which may be where no scenario has one. Judging each
 * option by the peak it causes in each scenario prefers starts that are low in most.
 */
#include "plan-impl.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Scratch space of one robust run. */
typedef struct robust {
    const plan_problem *problem;
    size_t n_scenarios;
    double worst_weight;  /* weight of the maximum over the scenarios (the mean gets the
                             rest) */
    double *totals;       /* n_scenarios rows of T on the grid, Gbit/s */
    double *block_max;    /* per scenario, offset and block, max of T */
    double *mean_sum;     /* per offset and block, sum over its steps of the mean of T_s */
    double *peak;         /* per scenario, max of T without the release being placed */
    double *floor;        /* per scenario, lowest T when the 16th-power stage starts */
    double *scale;        /* per scenario, divisor of T - floor in that stage, Gbit/s */
    double *values;       /* per scenario, scratch for one option's figure */
    size_t n_offsets;     /* candidate start offsets within an hour */
    size_t n_blocks;      /* hour blocks per offset, enough for every release's options */
} robust;

/* Stage an option is judged in. */
typedef enum robust_stage {
    ROBUST_LOCAL,   /* highest total the release reaches */
    ROBUST_SQUARES, /* growth of sum T^2 */
    ROBUST_POWER16, /* growth of sum ((T - floor) / scale)^16 */
    ROBUST_PEAK,    /* peak of the whole grid */
} robust_stage;

static size_t blocks_needed(const plan_problem *problem)
{
    size_t max_span = 0;
    for (size_t i = 0; i < problem->releases->n; i++) {
        const plan_option *last = &problem->options[problem->option_offset[i + 1] - 1];
        size_t span = (size_t)((last->first - problem->base_first[i]) / problem->steps_per_hour);
        if (span + 1 > max_span)
            max_span = span + 1;
    }
    return max_span + problem->max_hours;
}

static void robust_free(robust *r)
{
    cdnopt_free(r->totals);
    cdnopt_free(r->block_max);
    cdnopt_free(r->mean_sum);
    cdnopt_free(r->peak);
    cdnopt_free(r->floor);
    cdnopt_free(r->scale);
    cdnopt_free(r->values);
}

static int robust_init(robust *r, const plan_problem *problem, const cdnopt_plan_scenarios *sc)
{
    memset(r, 0, sizeof *r);
    r->problem = problem;
    r->n_scenarios = sc->n_lines;
    r->worst_weight = sc->worst_weight;
    r->n_offsets = (size_t)(problem->steps_per_hour / problem->start_steps);
    r->n_blocks = blocks_needed(problem);

    size_t n = problem->n, s_count = sc->n_lines, blocks = r->n_offsets * r->n_blocks;
    r->totals = cdnopt_malloc(s_count * n * sizeof *r->totals);
    r->block_max = cdnopt_malloc(s_count * blocks * sizeof *r->block_max);
    r->mean_sum = cdnopt_malloc(blocks * sizeof *r->mean_sum);
    r->peak = cdnopt_malloc(s_count * sizeof *r->peak);
    r->floor = cdnopt_malloc(s_count * sizeof *r->floor);
    r->scale = cdnopt_malloc(s_count * sizeof *r->scale);
    r->values = cdnopt_malloc(s_count * sizeof *r->values);
    if (r->totals == NULL || r->block_max == NULL || r->mean_sum == NULL || r->peak == NULL ||
        r->floor == NULL || r->scale == NULL || r->values == NULL) {
        robust_free(r);
        return CDNOPT_ENOMEM;
    }
    for (size_t s = 0; s < s_count; s++)
        memcpy(r->totals + s * n, sc->lines[s]->v, n * sizeof *r->totals);
    return 0;
}

/* Add sign * the traffic of release i with option o to every scenario's total. */
static void robust_apply(robust *r, size_t i, const plan_option *o, double sign)
{
    for (size_t s = 0; s < r->n_scenarios; s++)
        plan_apply(r->problem, r->totals + s * r->problem->n, i, o, sign);
}

/* Fill the block maxima of every scenario, the block sums of their mean and each
 * scenario's peak, for release i's candidate blocks. T must not contain release i. */
static void prepare_release(robust *r, size_t i)
{
    const plan_problem *problem = r->problem;
    int64_t sph = problem->steps_per_hour, n = (int64_t)problem->n;
    size_t blocks = r->n_offsets * r->n_blocks;
    memset(r->mean_sum, 0, blocks * sizeof *r->mean_sum);
    for (size_t s = 0; s < r->n_scenarios; s++) {
        const double *total = r->totals + s * problem->n;
        double *block_max = r->block_max + s * blocks;
        for (size_t b = 0; b < blocks; b++) {
            size_t offset = b / r->n_blocks, j = b % r->n_blocks;
            int64_t lo = problem->base_first[i] + (int64_t)offset * problem->start_steps +
                         (int64_t)j * sph;
            double max = -INFINITY, sum = 0;
            for (int64_t t = lo < 0 ? 0 : lo; t < lo + sph && t < n; t++) {
                max = fmax(max, total[t]);
                sum += total[t];
            }
            block_max[b] = max;
            r->mean_sum[b] += sum / (double)r->n_scenarios;
        }
        double peak = -INFINITY;
        for (size_t t = 0; t < problem->n; t++)
            peak = fmax(peak, total[t]);
        r->peak[s] = peak;
    }
}

/* Index of option o's first hour block in the per-scenario block arrays. */
static size_t first_block(const robust *r, size_t i, const plan_option *o)
{
    int64_t sph = r->problem->steps_per_hour, rel = o->first - r->problem->base_first[i];
    size_t offset = (size_t)((rel % sph) / r->problem->start_steps);
    return offset * r->n_blocks + (size_t)(rel / sph);
}

/* (1 - worst_weight) x mean + worst_weight x maximum of r->values. */
static double blend(const robust *r)
{
    double sum = 0, max = -INFINITY;
    for (size_t s = 0; s < r->n_scenarios; s++) {
        sum += r->values[s];
        max = fmax(max, r->values[s]);
    }
    return (1 - r->worst_weight) * sum / (double)r->n_scenarios + r->worst_weight * max;
}

/* Fill r->values with the highest total release i reaches in each scenario with o. */
static void local_peaks(robust *r, size_t i, const plan_option *o)
{
    size_t hours, first = first_block(r, i, o), blocks = r->n_offsets * r->n_blocks;
    const double *profile = plan_profile(r->problem, i, o->ratio, &hours);
    for (size_t s = 0; s < r->n_scenarios; s++) {
        const double *block_max = r->block_max + s * blocks + first;
        double peak = -INFINITY;
        for (size_t h = 0; h < hours; h++)
            peak = fmax(peak, block_max[h] + profile[h]);
        r->values[s] = peak;
    }
}

/* Growth of sum_t m(t)^2, m the mean of the scenarios' totals, when release i starts
 * with o: per hour h, 2 x profile[h] x (sum of m over the block) + steps x profile[h]^2. */
static double mean_square_growth(const robust *r, size_t i, const plan_option *o)
{
    size_t hours;
    const double *profile = plan_profile(r->problem, i, o->ratio, &hours);
    const double *sums = r->mean_sum + first_block(r, i, o);
    double steps = (double)r->problem->steps_per_hour, growth = 0;
    for (size_t h = 0; h < hours; h++)
        growth += profile[h] * (2.0 * sums[h] + steps * profile[h]);
    return growth;
}

static double pow16(double x)
{
    double x2 = x * x, x4 = x2 * x2, x8 = x4 * x4;
    return x8 * x8;
}

/* Fill r->values with each scenario's growth of sum ((T - floor) / scale)^16. */
static void power16_growths(robust *r, size_t i, const plan_option *o)
{
    int64_t sph = r->problem->steps_per_hour;
    size_t hours;
    const double *profile = plan_profile(r->problem, i, o->ratio, &hours);
    for (size_t s = 0; s < r->n_scenarios; s++) {
        const double *total = r->totals + s * r->problem->n;
        double inverse = 1.0 / r->scale[s], growth = 0;
        for (size_t h = 0; h < hours; h++) {
            double lift = profile[h] * inverse;
            for (int64_t t = o->first + (int64_t)h * sph; t < o->first + (int64_t)(h + 1) * sph;
                 t++) {
                double before = (total[t] - r->floor[s]) * inverse;
                growth += pow16(before + lift) - pow16(before);
            }
        }
        r->values[s] = growth;
    }
}

/* Judge option o of release i in a stage: *primary decides and *secondary (the blended
 * highest total the release reaches) breaks ties. */
static void judge(robust *r, size_t i, const plan_option *o, robust_stage stage,
                  double *primary, double *secondary)
{
    local_peaks(r, i, o);
    *secondary = blend(r);
    switch (stage) {
    case ROBUST_LOCAL:
        *primary = *secondary;
        break;
    case ROBUST_SQUARES:
        *primary = mean_square_growth(r, i, o);
        break;
    case ROBUST_POWER16:
        power16_growths(r, i, o);
        *primary = blend(r);
        break;
    case ROBUST_PEAK:
        /* Adding traffic only raises T, so a scenario's new peak is the larger of its
         * peak without the release and the highest total the release reaches. */
        for (size_t s = 0; s < r->n_scenarios; s++)
            r->values[s] = fmax(r->values[s], r->peak[s]);
        *primary = blend(r);
        break;
    }
}

/* Whether (primary, secondary) beats the best so far, with a relative tolerance so that
 * rounding noise does not break ties against the earlier (smaller delay) option. */
static bool beats(double primary, double secondary, double best_primary, double best_secondary)
{
    if (isinf(best_primary))
        return true;
    double tolerance = 1e-9 * fmax(1.0, fabs(best_primary));
    if (primary != best_primary && fabs(primary - best_primary) > tolerance)
        return primary < best_primary;
    return secondary < best_secondary - 1e-9 * fmax(1.0, fabs(best_secondary));
}

/* Index (within release i's options) of the best option in a stage. T must not contain
 * release i. */
static size_t best_option(robust *r, size_t i, robust_stage stage)
{
    const plan_problem *problem = r->problem;
    prepare_release(r, i);
    size_t begin = problem->option_offset[i], count = problem->option_offset[i + 1] - begin;
    size_t best = 0;
    double best_primary = INFINITY, best_secondary = INFINITY;
    for (size_t k = 0; k < count; k++) {
        double primary, secondary;
        judge(r, i, &problem->options[begin + k], stage, &primary, &secondary);
        if (beats(primary, secondary, best_primary, best_secondary)) {
            best = k;
            best_primary = primary;
            best_secondary = secondary;
        }
    }
    return best;
}

/* Re-place every release in order with the others fixed; returns whether any moved. */
static bool improve_pass(robust *r, const size_t *order, robust_stage stage, size_t *choice)
{
    const plan_problem *problem = r->problem;
    bool moved = false;
    for (size_t k = 0; k < problem->releases->n; k++) {
        size_t i = order[k];
        const plan_option *options = problem->options + problem->option_offset[i];
        robust_apply(r, i, &options[choice[i]], -1.0);
        size_t best = best_option(r, i, stage);
        moved = moved || best != choice[i];
        choice[i] = best;
        robust_apply(r, i, &options[best], 1.0);
    }
    return moved;
}

/* Set each scenario's floor and scale for the 16th-power stage from its current T. */
static void set_power16_range(robust *r)
{
    for (size_t s = 0; s < r->n_scenarios; s++) {
        const double *total = r->totals + s * r->problem->n;
        double low = INFINITY, high = -INFINITY;
        for (size_t t = 0; t < r->problem->n; t++) {
            low = fmin(low, total[t]);
            high = fmax(high, total[t]);
        }
        r->floor[s] = low;
        r->scale[s] = high > low ? high - low : 1.0;
    }
}

static int robust_choose(const plan_problem *problem, const cdnopt_plan_scenarios *scenarios,
                         int passes, size_t *choice)
{
    robust r;
    size_t *order = plan_energy_order(problem->releases);
    int rc = order == NULL ? CDNOPT_ENOMEM : robust_init(&r, problem, scenarios);
    if (rc != 0) {
        cdnopt_free(order);
        return rc;
    }

    /* Valley filling, largest energy first. */
    for (size_t k = 0; k < problem->releases->n; k++) {
        size_t i = order[k];
        choice[i] = best_option(&r, i, ROBUST_LOCAL);
        robust_apply(&r, i, &problem->options[problem->option_offset[i] + choice[i]], 1.0);
    }

    /* Local search by each stage until nothing moves or the passes run out. */
    for (int pass = 0; pass < passes && improve_pass(&r, order, ROBUST_SQUARES, choice); pass++)
        ;
    set_power16_range(&r);
    for (int pass = 0; pass < passes && improve_pass(&r, order, ROBUST_POWER16, choice); pass++)
        ;
    for (int pass = 0; pass < passes && improve_pass(&r, order, ROBUST_PEAK, choice); pass++)
        ;
    robust_free(&r);
    cdnopt_free(order);
    return 0;
}

/* Check that every scenario lies on the reference line's grid. */
static int check_scenarios(const cdnopt_plan_scenarios *scenarios, char *err)
{
    const cdnopt_series *reference = scenarios->reference;
    if (scenarios->n_lines == 0 || scenarios->lines == NULL)
        return cdnopt_fail(err, CDNOPT_EINVAL, "robust planning needs at least one scenario");
    if (!(scenarios->worst_weight >= 0.0 && scenarios->worst_weight <= 1.0))
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "invalid worst-case weight %g: use a number from 0 to 1",
                           scenarios->worst_weight);
    for (size_t s = 0; s < scenarios->n_lines; s++) {
        const cdnopt_series *line = scenarios->lines[s];
        if (line->n != reference->n || line->step_s != reference->step_s ||
            line->t[0] != reference->t[0])
            return cdnopt_fail(err, CDNOPT_EINVAL,
                               "scenario %zu (%zu steps of %lld s) is not on the reference grid "
                               "(%zu steps of %lld s from the same start): cut every scenario "
                               "to the reference's steps",
                               s, line->n, (long long)line->step_s, reference->n,
                               (long long)reference->step_s);
    }
    return 0;
}

int cdnopt_plan_robust(const cdnopt_plan_scenarios *scenarios,
                       const cdnopt_release_set *releases, const cdnopt_rules *rules,
                       const cdnopt_plan_params *params, cdnopt_plan_result *out, char *err)
{
    memset(out, 0, sizeof *out);
    double started = cdnopt_clock_s();
    int rc = check_scenarios(scenarios, err);
    if (rc == 0 && params->objective != CDNOPT_OBJECTIVE_PEAK)
        rc = cdnopt_fail(err, CDNOPT_ENOTSUP,
                         "robust planning minimises the peak only; plan p95 on one line");
    plan_problem problem;
    if (rc == 0)
        rc = plan_problem_init(&problem, scenarios->reference, releases, rules,
                               params->start_step_s, err);
    if (rc != 0)
        return rc;

    size_t *choice = cdnopt_calloc(releases->n > 0 ? releases->n : 1, sizeof *choice);
    rc = choice == NULL ? CDNOPT_ENOMEM
                        : robust_choose(&problem, scenarios, params->local_search_passes, choice);
    rc = plan_conclude(&problem, choice, rc, "robust", out, err);
    if (rc != 0)
        return rc;

    out->solve_s = cdnopt_clock_s() - started;
    snprintf(out->method, sizeof out->method,
             "greedy over %zu baseline scenarios, each option judged by %.2f x the mean and "
             "%.2f x the maximum over them: valley filling, then up to %d local-search passes "
             "each by sum of squares, by sum of 16th powers and by peak",
             scenarios->n_lines, 1 - scenarios->worst_weight, scenarios->worst_weight,
             params->local_search_passes);
    return 0;
}
