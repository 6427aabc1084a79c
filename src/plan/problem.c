/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Setting up a planning problem: legal options and hourly profiles per release,
 * and turning a choice of options into a scored result.
 */
#include "plan-impl.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

cdnopt_plan_params cdnopt_plan_params_default(void)
{
    cdnopt_plan_params params = {
        .objective = CDNOPT_OBJECTIVE_PEAK,
        .start_step_s = 3600,
        .local_search_passes = 2,
        .time_limit_s = 60,
        .mip_gap = 1e-3,
        .verbose = false,
    };
    return params;
}

const char *cdnopt_objective_name(cdnopt_objective objective)
{
    return objective == CDNOPT_OBJECTIVE_P95 ? "p95" : "peak";
}

int cdnopt_objective_parse(const char *text, cdnopt_objective *out)
{
    if (strcmp(text, "peak") == 0)
        *out = CDNOPT_OBJECTIVE_PEAK;
    else if (strcmp(text, "p95") == 0)
        *out = CDNOPT_OBJECTIVE_P95;
    else
        return CDNOPT_EINVAL;
    return 0;
}

void cdnopt_plan_result_clear(cdnopt_plan_result *result)
{
    cdnopt_schedule_free(result->schedule);
    memset(result, 0, sizeof *result);
}

static int check_grid(const cdnopt_series *baseline, int64_t start_step_s, char *err)
{
    if (baseline->n == 0 || baseline->step_s <= 0 || 3600 % baseline->step_s != 0)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "baseline step of %lld s does not divide one hour; resample it to "
                           "e.g. 300 s or 3600 s",
                           (long long)baseline->step_s);
    if (start_step_s <= 0 || start_step_s % baseline->step_s != 0 || 3600 % start_step_s != 0)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "start step of %lld s must be a multiple of the baseline step (%lld s) "
                           "that divides one hour",
                           (long long)start_step_s, (long long)baseline->step_s);
    return 0;
}

/* Format seconds of the day as HH:MM. */
static void format_clock(int seconds_of_day, char *out, size_t size)
{
    snprintf(out, size, "%02d:%02d", seconds_of_day / 3600, seconds_of_day / 60 % 60);
}

/*
 * Explain why release has no legal start. Its window may lie before or after the
 * baseline. Otherwise the options are counted again without the blackout and without
 * the baseline's end, to name the rule that removes them all: the blackout, the end
 * of the baseline, or the two together.
 */
static int no_start_error(const plan_problem *problem, const cdnopt_release *release,
                          const cdnopt_grid *grid, int64_t start_step_s, char *err)
{
    const cdnopt_series *base = problem->baseline;
    int64_t first = release->planned_at;
    int64_t last = cdnopt_release_latest_start(release, problem->rules);
    int64_t base_start = base->t[0];
    int64_t base_end = base->t[0] + (int64_t)base->n * base->step_s;
    char from[32], to[32], begin[32], end[32];
    cdnopt_release_format_time(first, from, sizeof from);
    cdnopt_release_format_time(last, to, sizeof to);
    cdnopt_release_format_time(base_start, begin, sizeof begin);
    cdnopt_release_format_time(base_end, end, sizeof end);

    if (last < base_start)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "release '%s' has no legal start: its window %s to %s ends before "
                           "the baseline starts at %s; use a baseline or history that covers "
                           "the window, or remove the release",
                           release->id, from, to, begin);
    if (first >= base_end)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "release '%s' has no legal start: its window %s to %s starts after "
                           "the baseline ends at %s; extend the baseline (with --history, "
                           "raise --horizon or leave it at 0s), or remove the release",
                           release->id, from, to, end);

    /* A start off the grid moves to the next grid step, which lies past the latest start
     * when the window is shorter than one step and contains none. */
    int64_t off = (first - grid->origin) % grid->step_s;
    int64_t first_on_grid = off == 0 ? first : first + (off < 0 ? -off : grid->step_s - off);
    if (first_on_grid > last) {
        char next[32];
        cdnopt_release_format_time(first_on_grid, next, sizeof next);
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "release '%s' has no legal start: its window %s to %s contains no step "
                           "of the baseline's %lld s grid, whose next step is %s; move "
                           "latest_start_at to %s or later, or planned_at onto the grid",
                           release->id, from, to, (long long)grid->step_s, next, next);
    }

    const cdnopt_rules *rules = problem->rules;
    cdnopt_rules open_rules = *rules;
    open_rules.blackout = false;
    bool none_anywhere = cdnopt_rules_options(rules, release, NULL, start_step_s, NULL, 0) == 0;
    bool none_without_blackout =
        cdnopt_rules_options(&open_rules, release, NULL, start_step_s, NULL, 0) == 0;
    bool none_before_end =
        cdnopt_rules_options(&open_rules, release, grid, start_step_s, NULL, 0) == 0;
    char blackout_from[16], blackout_to[16];
    format_clock(rules->blackout_from_s, blackout_from, sizeof blackout_from);
    format_clock(rules->blackout_to_s, blackout_to, sizeof blackout_to);

    if (none_anywhere && !none_without_blackout)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "release '%s' has no legal start: every start from %s to %s puts a "
                           "batch of this %.1f MB release in the %s-%s blackout (releases over "
                           "%.1f MB); widen its window with latest_start_at, or change the "
                           "blackout or the batch ratios in the rules",
                           release->id, from, to, release->size_mb, blackout_from, blackout_to,
                           rules->blackout_min_size_mb);
    if (none_anywhere)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "release '%s' has no legal start from %s to %s under the rules; "
                           "check its window and the batch ratios",
                           release->id, from, to);
    if (none_before_end)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "release '%s' has no legal start: every start from %s to %s makes "
                           "its downloads run past the baseline's end at %s (each batch "
                           "downloads for %d h); extend the baseline (with --history, raise "
                           "--horizon) or shorten the duration in the rules",
                           release->id, from, to, end, rules->duration_h);
    /* With ratio 1.0 allowed, every start after the window ends later than the earliest
     * start in it outside the blackout, so a later latest_start_at would not help. */
    return cdnopt_fail(err, CDNOPT_EINVAL,
                       "release '%s' has no legal start: the starts from %s to %s that keep its "
                       "batches out of the %s-%s blackout make its downloads run past the "
                       "baseline's end at %s; extend the baseline (with --history, raise "
                       "--horizon), move planned_at earlier, or shorten the blackout in the "
                       "rules",
                       release->id, from, to, blackout_from, blackout_to, end);
}

/* Count every release's options so that one array can hold them all. */
static int count_options(plan_problem *problem, const cdnopt_grid *grid, int64_t start_step_s,
                         char *err)
{
    const cdnopt_release_set *releases = problem->releases;
    problem->option_offset = cdnopt_calloc(releases->n + 1, sizeof(size_t));
    if (problem->option_offset == NULL)
        return cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory for planning");
    for (size_t i = 0; i < releases->n; i++) {
        size_t count = cdnopt_rules_options(problem->rules, &releases->items[i], grid,
                                            start_step_s, NULL, 0);
        if (count == 0)
            return no_start_error(problem, &releases->items[i], grid, start_step_s, err);
        problem->option_offset[i + 1] = problem->option_offset[i] + count;
    }
    return 0;
}

static int fill_options(plan_problem *problem, const cdnopt_grid *grid, int64_t start_step_s,
                        char *err)
{
    const cdnopt_release_set *releases = problem->releases;
    size_t total = problem->option_offset[releases->n];
    cdnopt_option *scratch = cdnopt_malloc(total * sizeof *scratch);
    problem->options = cdnopt_malloc(total * sizeof *problem->options);
    problem->base_first = cdnopt_malloc(releases->n * sizeof *problem->base_first);
    if (scratch == NULL || problem->options == NULL || problem->base_first == NULL) {
        cdnopt_free(scratch);
        return cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory for %zu options", total);
    }

    for (size_t i = 0; i < releases->n; i++) {
        size_t begin = problem->option_offset[i], count = problem->option_offset[i + 1] - begin;
        cdnopt_rules_options(problem->rules, &releases->items[i], grid, start_step_s,
                             scratch + begin, count);
        int64_t planned_index = (releases->items[i].planned_at - grid->origin) / grid->step_s;
        problem->base_first[i] = (scratch[begin].start_at - grid->origin) / grid->step_s;
        for (size_t k = 0; k < count; k++) {
            plan_option *option = &problem->options[begin + k];
            option->first = (scratch[begin + k].start_at - grid->origin) / grid->step_s;
            option->delay = option->first - planned_index;
            option->ratio = 0;
            for (unsigned r = 0; r < problem->rules->n_ratios; r++) {
                if (problem->rules->batch_ratios[r] == scratch[begin + k].batch_ratio)
                    option->ratio = r;
            }
        }
    }
    cdnopt_free(scratch);
    return 0;
}

static int fill_profiles(plan_problem *problem, char *err)
{
    const cdnopt_release_set *releases = problem->releases;
    size_t n_ratios = problem->rules->n_ratios;
    problem->profile_offset = cdnopt_malloc((releases->n * n_ratios + 1) * sizeof(size_t));
    if (problem->profile_offset == NULL)
        return cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory for profiles");

    size_t per_release = 0;
    problem->max_hours = 0;
    for (size_t r = 0; r < n_ratios; r++) {
        size_t hours = cdnopt_profile_hours(problem->rules, problem->rules->batch_ratios[r]);
        per_release += hours;
        if (hours > problem->max_hours)
            problem->max_hours = hours;
    }
    problem->profiles = cdnopt_malloc((releases->n * per_release + 1) * sizeof(double));
    if (problem->profiles == NULL)
        return cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory for profiles");

    size_t offset = 0;
    for (size_t i = 0; i < releases->n; i++) {
        for (size_t r = 0; r < n_ratios; r++) {
            problem->profile_offset[i * n_ratios + r] = offset;
            offset += cdnopt_release_profile(&releases->items[i], problem->rules->batch_ratios[r],
                                             problem->rules, problem->profiles + offset);
        }
    }
    problem->profile_offset[releases->n * n_ratios] = offset;
    return 0;
}

int plan_problem_init(plan_problem *problem, const cdnopt_series *baseline,
                      const cdnopt_release_set *releases, const cdnopt_rules *rules,
                      int64_t start_step_s, char *err)
{
    memset(problem, 0, sizeof *problem);
    int rc = cdnopt_rules_validate(rules, err);
    if (rc == 0)
        rc = check_grid(baseline, start_step_s, err);
    if (rc != 0)
        return rc;
    problem->baseline = baseline;
    problem->releases = releases;
    problem->rules = rules;
    problem->n = baseline->n;
    problem->steps_per_hour = 3600 / baseline->step_s;
    problem->start_steps = start_step_s / baseline->step_s;

    cdnopt_grid grid = cdnopt_grid_of(baseline);
    rc = count_options(problem, &grid, start_step_s, err);
    if (rc == 0)
        rc = fill_options(problem, &grid, start_step_s, err);
    if (rc == 0)
        rc = fill_profiles(problem, err);
    if (rc != 0)
        plan_problem_free(problem);
    return rc;
}

void plan_problem_free(plan_problem *problem)
{
    cdnopt_free(problem->options);
    cdnopt_free(problem->option_offset);
    cdnopt_free(problem->profiles);
    cdnopt_free(problem->profile_offset);
    cdnopt_free(problem->base_first);
    memset(problem, 0, sizeof *problem);
}

const double *plan_profile(const plan_problem *problem, size_t i, unsigned r, size_t *hours)
{
    size_t k = i * problem->rules->n_ratios + r;
    *hours = problem->profile_offset[k + 1] - problem->profile_offset[k];
    return problem->profiles + problem->profile_offset[k];
}

void plan_apply(const plan_problem *problem, double *total, size_t i, const plan_option *o,
                double sign)
{
    size_t hours;
    const double *profile = plan_profile(problem, i, o->ratio, &hours);
    int64_t sph = problem->steps_per_hour;
    for (size_t h = 0; h < hours; h++) {
        double gbps = sign * profile[h];
        int64_t lo = o->first + (int64_t)h * sph;
        for (int64_t s = lo; s < lo + sph; s++)
            total[s] += gbps;
    }
}

int plan_finish(const plan_problem *problem, const size_t *choice, cdnopt_plan_result *out,
                char *err)
{
    const cdnopt_release_set *releases = problem->releases;
    cdnopt_schedule *naive = NULL;
    int rc = cdnopt_schedule_new(releases->n, &out->schedule);
    if (rc == 0)
        rc = cdnopt_schedule_naive(releases, &naive);
    if (rc != 0) {
        cdnopt_schedule_free(naive);
        return cdnopt_fail(err, rc, "out of memory for the schedule");
    }

    for (size_t i = 0; i < releases->n; i++) {
        const plan_option *o = &problem->options[problem->option_offset[i] + choice[i]];
        out->schedule->start_at[i] = problem->baseline->t[0] + o->first * problem->baseline->step_s;
        out->schedule->batch_ratio[i] = problem->rules->batch_ratios[o->ratio];
    }

    /* The figures always come from the dense evaluation, never from the planner's own
     * running totals, which collect rounding from repeated adds and removes. */
    rc = cdnopt_schedule_evaluate(problem->baseline, releases, naive, problem->rules, NULL,
                                  &out->naive);
    if (rc == 0)
        rc = cdnopt_schedule_evaluate(problem->baseline, releases, out->schedule, problem->rules,
                                      NULL, &out->planned);
    cdnopt_schedule_free(naive);
    if (rc != 0)
        return cdnopt_fail(err, rc, "evaluating the schedule failed: %s", cdnopt_strerror(rc));

    out->peak_reduction = 1 - out->planned.peak_gbps / out->naive.peak_gbps;
    out->p95_reduction = 1 - out->planned.p95_gbps / out->naive.p95_gbps;
    out->lower_bound_gbps = cdnopt_lower_bound_gbps(problem->baseline, releases);
    out->lp_bound_gbps = NAN;
    out->gap = NAN;
    if (problem->start_steps == problem->steps_per_hour)
        snprintf(out->problem, sizeof out->problem, "whole-hour delays");
    else
        snprintf(out->problem, sizeof out->problem, "delays in steps of %lld s",
                 (long long)(problem->start_steps * problem->baseline->step_s));
    return 0;
}

int plan_conclude(plan_problem *problem, size_t *choice, int rc, const char *planner,
                  cdnopt_plan_result *out, char *err)
{
    if (rc != 0)
        rc = cdnopt_fail(err, rc, "%s planning failed: %s", planner, cdnopt_strerror(rc));
    if (rc == 0)
        rc = plan_finish(problem, choice, out, err);
    cdnopt_free(choice);
    plan_problem_free(problem);
    if (rc != 0)
        cdnopt_plan_result_clear(out);
    return rc;
}
