/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The hierarchical release-planning environment: construction, reset, steps and
 * placements. The total traffic is kept densely on the baseline's grid, so a
 * placement adds the release's hourly profile to the grid steps it covers and the
 * new peak is the larger of the old peak and the maximum over those steps.
 *
 * Invariant between steps: every pending release has at least one valid local
 * action, because a clock advance first places every release whose latest
 * reachable start has passed.
 */
#include "env-impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const int cdnopt_env_levels[CDNOPT_ENV_LEVELS] = {0, 10, 30, 50, 100};
const double cdnopt_env_ratios[CDNOPT_ENV_RATIOS] = {0.1, 0.3, 0.5};

cdnopt_env_params cdnopt_env_params_default(void)
{
    return (cdnopt_env_params){
        .rules = cdnopt_rules_default(),
        .objective = CDNOPT_OBJECTIVE_PEAK,
        .day_start = -1,
    };
}

int cdnopt_env_n_actions(cdnopt_env_phase phase)
{
    switch (phase) {
    case CDNOPT_ENV_GLOBAL:
        return CDNOPT_ENV_GLOBAL_ACTIONS;
    case CDNOPT_ENV_LOCAL:
        return CDNOPT_ENV_LOCAL_ACTIONS;
    case CDNOPT_ENV_DONE:
        break;
    }
    return 0;
}

int64_t env_clock_time(const cdnopt_env *env)
{
    return env->params.day_start + (int64_t)env->clock * 3600;
}

int64_t env_first_start(const cdnopt_env *env)
{
    int64_t now = env_clock_time(env);
    return now > env->earliest ? now : env->earliest;
}

const double *env_seen_total(const cdnopt_env *env)
{
    return env->seen_total ? env->seen_total : env->total;
}

static int64_t local_start(const cdnopt_env *env, size_t i, int action)
{
    return env->releases->items[i].planned_at + (int64_t)(action / CDNOPT_ENV_RATIOS) * 3600;
}

bool env_local_valid(const cdnopt_env *env, size_t i, int action)
{
    int64_t start = local_start(env, i, action);
    if (start < env_first_start(env))
        return false;
    double ratio = cdnopt_env_ratios[action % CDNOPT_ENV_RATIOS];
    return cdnopt_rules_check(&env->params.rules, &env->releases->items[i], start, ratio,
                              &env->grid) == CDNOPT_RULE_OK;
}

/* ------------------------------------------------------------------------- */
/* Objective                                                                 */
/* ------------------------------------------------------------------------- */

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double env_p95_sort(double *values, size_t n)
{
    qsort(values, n, sizeof(double), compare_double);
    size_t rank = (size_t)ceil(0.95 * (double)n);
    return values[rank - 1];
}

static double p95_of(const cdnopt_env *env)
{
    memcpy(env->select, env->total, env->grid.n * sizeof(double));
    return env_p95_sort(env->select, env->grid.n);
}

static double objective_of(const cdnopt_env *env)
{
    return env->params.objective == CDNOPT_OBJECTIVE_P95 ? p95_of(env) : env->peak;
}

/* Objective of the seen total; the true one when the environment has no observed series. */
static double seen_objective_of(const cdnopt_env *env)
{
    if (!env->seen_total)
        return env->objective;
    if (env->params.objective != CDNOPT_OBJECTIVE_P95)
        return env->seen_peak;
    memcpy(env->select, env->seen_total, env->grid.n * sizeof(double));
    return env_p95_sort(env->select, env->grid.n);
}

/* ------------------------------------------------------------------------- */
/* Placement                                                                 */
/* ------------------------------------------------------------------------- */

/* Grid steps [*lo, *hi) of hour h from midnight that lie on the baseline; an empty
 * range for an hour before the baseline starts. */
static void hour_steps(const cdnopt_env *env, long h, size_t *lo, size_t *hi)
{
    long sph = (long)env->steps_per_hour;
    long first = env->day_index + h * sph;
    long end = first + sph;
    *lo = first < 0 ? 0 : (size_t)first;
    *hi = end < 0 ? 0 : (size_t)end;
}

/* Recompute the hourly maxima of hours [first, last] (hours from midnight). An hour
 * before the baseline starts keeps 0, as an hour past its end does in the observation. */
static void refresh_hours(cdnopt_env *env, long first, long last)
{
    const double *seen = env_seen_total(env);
    for (long h = first < 0 ? 0 : first; h <= last && h < env->n_hours; h++) {
        size_t lo, hi;
        hour_steps(env, h, &lo, &hi);
        double total_max = 0, impact_max = 0;
        for (size_t j = lo; j < hi; j++) {
            double impact = env->total[j] - env->base[j];
            total_max = seen[j] > total_max ? seen[j] : total_max;
            impact_max = impact > impact_max ? impact : impact_max;
        }
        env->total_hmax[h] = (float)total_max;
        env->impact_hmax[h] = (float)impact_max;
    }
}

/* Add (sign +1) or remove (sign -1) release i's wave on the true and the seen total.
 * Returns the max true total it touched; *seen_touched receives the seen one. */
static double apply_wave(cdnopt_env *env, size_t i, int64_t start, double ratio, double sign,
                         double *seen_touched)
{
    size_t hours = cdnopt_release_profile(&env->releases->items[i], ratio, &env->params.rules,
                                          env->profile);
    size_t sph = env->steps_per_hour;
    size_t first = (size_t)((start - env->grid.origin) / env->grid.step_s);
    double touched = 0;
    for (size_t h = 0; h < hours; h++) {
        double gbps = sign * env->profile[h];
        for (size_t j = first + h * sph; j < first + (h + 1) * sph; j++) {
            env->total[j] += gbps;
            touched = env->total[j] > touched ? env->total[j] : touched;
        }
    }
    *seen_touched = touched;
    if (env->seen_total) {
        *seen_touched = 0;
        for (size_t h = 0; h < hours; h++) {
            for (size_t j = first + h * sph; j < first + (h + 1) * sph; j++) {
                env->seen_total[j] += sign * env->profile[h];
                *seen_touched = fmax(*seen_touched, env->seen_total[j]);
            }
        }
    }

    long h0 = ((long)first - env->day_index) / (long)sph;
    refresh_hours(env, h0, h0 + (long)hours + 1);
    return touched;
}

/* Recompute the earliest forced start among the pending releases of a shard. */
static void refresh_shard(cdnopt_env *env, int shard)
{
    const cdnopt_shards *s = env->shards;
    int64_t earliest = INT64_MAX;
    for (size_t k = s->offset[shard]; k < s->offset[shard + 1]; k++) {
        size_t i = env->order[k];
        if (!env->placed[i] && env->forced[i].start < earliest)
            earliest = env->forced[i].start;
    }
    env->min_forced[shard] = earliest;
    while (env->next[shard] < s->offset[shard + 1] && env->placed[env->order[env->next[shard]]])
        env->next[shard]++;
}

static int shard_of(const cdnopt_env *env, size_t i)
{
    return cdnopt_civil_hour(env->releases->items[i].planned_at);
}

/* Place release i and return minus the objective increase, Gbit/s. */
static double place(cdnopt_env *env, size_t i, int64_t start, double ratio)
{
    double before = env->objective, seen_touched = 0;
    double touched = apply_wave(env, i, start, ratio, 1.0, &seen_touched);
    env->peak = fmax(env->peak, touched);
    env->objective = objective_of(env);
    env->seen_peak = fmax(env->seen_peak, seen_touched);
    env->seen_objective = seen_objective_of(env);

    env->placed[i] = 1;
    env->start[i] = start;
    env->ratio[i] = ratio;
    env->n_placed++;
    int shard = shard_of(env, i);
    env->pending[shard]--;
    env->pending_gbit[shard] -= env->gbit[i];
    refresh_shard(env, shard);
    return -(env->objective - before);
}

/* Seen objective after adding release i's wave, without keeping it: the environment
 * chooses a forced placement's ratio on what the agent observes, as a planner would. */
static double objective_if(cdnopt_env *env, size_t i, int64_t start, double ratio)
{
    double saved_peak = env->peak, saved_seen_peak = env->seen_peak, seen_touched = 0;
    double touched = apply_wave(env, i, start, ratio, 1.0, &seen_touched);
    env->peak = fmax(env->peak, touched);
    env->seen_peak = fmax(env->seen_peak, seen_touched);
    double value = env->seen_total ? seen_objective_of(env) : objective_of(env);
    apply_wave(env, i, start, ratio, -1.0, &seen_touched);
    env->peak = saved_peak;
    env->seen_peak = saved_seen_peak;
    return value;
}

/* Place release i at its latest legal start with the ratio that raises the objective least. */
static double place_forced(cdnopt_env *env, size_t i)
{
    const env_forced *f = &env->forced[i];
    if (!f->agent_option)
        return place(env, i, f->start, f->ratio);

    double best_value = INFINITY, best_ratio = 0;
    for (int r = 0; r < CDNOPT_ENV_RATIOS; r++) {
        double ratio = cdnopt_env_ratios[r];
        if (cdnopt_rules_check(&env->params.rules, &env->releases->items[i], f->start, ratio,
                               &env->grid) != CDNOPT_RULE_OK)
            continue;
        double value = objective_if(env, i, f->start, ratio);
        if (value < best_value) {
            best_value = value;
            best_ratio = ratio;
        }
    }
    CDNOPT_ASSERT(best_ratio > 0);
    return place(env, i, f->start, best_ratio);
}

/* Move the clock one hour on and place every release that has no valid start left. */
static void advance_clock(cdnopt_env *env, cdnopt_env_step_result *result)
{
    env->clock++;
    int64_t now = env_clock_time(env);
    for (int shard = 0; shard < CDNOPT_ENV_SHARDS; shard++) {
        if (env->pending[shard] == 0 || env->min_forced[shard] >= now)
            continue;
        const cdnopt_shards *s = env->shards;
        for (size_t k = s->offset[shard]; k < s->offset[shard + 1]; k++) {
            size_t i = env->order[k];
            if (env->placed[i] || env->forced[i].start >= now)
                continue;
            result->forced_reward += place_forced(env, i);
            result->n_forced++;
        }
    }
    env->phase = env->n_placed == env->n ? CDNOPT_ENV_DONE : CDNOPT_ENV_GLOBAL;
    env->current = -1;
}

/*
 * Pick the next release of the current step, or end the step. Only a level-0 step
 * (waiting) moves the clock, so the agent may work through the shards in any order,
 * for example the largest releases of every shard first, without losing delays.
 */
static void next_local(cdnopt_env *env, cdnopt_env_step_result *result)
{
    int shard = env->shard;
    if (env->step_done < env->step_total && env->pending[shard] > 0) {
        env->current = (long)env->order[env->next[shard]];
        env->phase = CDNOPT_ENV_LOCAL;
        return;
    }
    if (env->level == 0) {
        advance_clock(env, result);
        return;
    }
    env->phase = env->n_placed == env->n ? CDNOPT_ENV_DONE : CDNOPT_ENV_GLOBAL;
    env->current = -1;
}

/* ------------------------------------------------------------------------- */
/* Steps                                                                     */
/* ------------------------------------------------------------------------- */

static int step_global(cdnopt_env *env, int action, cdnopt_env_step_result *result, char *err)
{
    int shard = action / CDNOPT_ENV_LEVELS;
    int level = cdnopt_env_levels[action % CDNOPT_ENV_LEVELS];
    if (env->pending[shard] == 0)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "global action %d is masked: shard %d has no pending release",
                           action, shard);

    env->shard = shard;
    env->level = level;
    env->step_total = (size_t)ceil((double)level / 100.0 * (double)env->pending[shard]);
    env->step_done = 0;
    next_local(env, result);
    return CDNOPT_OK;
}

static int step_local(cdnopt_env *env, int action, cdnopt_env_step_result *result, char *err)
{
    size_t i = (size_t)env->current;
    if (!env_local_valid(env, i, action)) {
        char when[32];
        cdnopt_release_format_time(local_start(env, i, action), when, sizeof when);
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "local action %d is masked for release %s: start %s with batch "
                           "ratio %g breaks a rule or lies before the clock or the earliest "
                           "start",
                           action, env->releases->items[i].id, when,
                           cdnopt_env_ratios[action % CDNOPT_ENV_RATIOS]);
    }

    result->reward = place(env, i, local_start(env, i, action),
                           cdnopt_env_ratios[action % CDNOPT_ENV_RATIOS]);
    env->step_done++;
    next_local(env, result);
    return CDNOPT_OK;
}

int cdnopt_env_step(cdnopt_env *env, int action, cdnopt_env_step_result *result, char *err)
{
    *result = (cdnopt_env_step_result){0};
    int n_actions = cdnopt_env_n_actions(env->phase);
    if (n_actions == 0)
        return cdnopt_fail(err, CDNOPT_EINVAL, "the episode is done; reset the environment");
    if (action < 0 || action >= n_actions)
        return cdnopt_fail(err, CDNOPT_EINVAL, "action %d is outside [0, %d)", action,
                           n_actions);

    int rc = env->phase == CDNOPT_ENV_GLOBAL ? step_global(env, action, result, err)
                                             : step_local(env, action, result, err);
    result->phase = env->phase;
    return rc;
}

/* ------------------------------------------------------------------------- */
/* Construction and reset                                                    */
/* ------------------------------------------------------------------------- */

/* Find the latest start the environment may place release i at. */
static int find_forced(cdnopt_env *env, size_t i, char *err)
{
    env_forced *f = &env->forced[i];
    const cdnopt_release *rel = &env->releases->items[i];
    f->start = INT64_MIN;
    f->agent_option = false;
    for (int d = 0; d < CDNOPT_ENV_DELAYS; d++) {
        for (int r = 0; r < CDNOPT_ENV_RATIOS; r++) {
            int64_t start = rel->planned_at + (int64_t)d * 3600;
            if (cdnopt_rules_check(&env->params.rules, rel, start, cdnopt_env_ratios[r],
                                   &env->grid) == CDNOPT_RULE_OK) {
                f->start = start;
                f->agent_option = true;
            }
        }
    }
    if (f->agent_option)
        return CDNOPT_OK;

    /* No local action fits (a narrow window or other ratios): take the latest legal
     * option, at a whole-hour delay when there is one, as the planners list them. */
    cdnopt_option last;
    int64_t step_s = 3600;
    size_t count = cdnopt_rules_options(&env->params.rules, rel, &env->grid, step_s, NULL, 0);
    if (count == 0) {
        step_s = env->grid.step_s;
        count = cdnopt_rules_options(&env->params.rules, rel, &env->grid, step_s, NULL, 0);
    }
    if (count == 0)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "release %s has no legal start on the baseline's grid; check its "
                           "planned_at, latest_start_at and the rules",
                           rel->id);
    cdnopt_option *all = cdnopt_malloc(count * sizeof *all);
    if (!all)
        return CDNOPT_ENOMEM;
    cdnopt_rules_options(&env->params.rules, rel, &env->grid, step_s, all, count);
    last = all[count - 1];
    cdnopt_free(all);
    f->start = last.start_at;
    f->ratio = last.batch_ratio;
    return CDNOPT_OK;
}

static int compare_by_gbit_desc(const void *a, const void *b, const double *gbit)
{
    double x = gbit[*(const size_t *)a], y = gbit[*(const size_t *)b];
    if (x != y)
        return x < y ? 1 : -1;
    return (*(const size_t *)a > *(const size_t *)b) - (*(const size_t *)a < *(const size_t *)b);
}

/* Insertion sort by descending traffic: qsort has no context pointer in C17, and a
 * shard of a day seldom holds more than a few thousand releases. */
static void sort_shard(size_t *idx, size_t n, const double *gbit)
{
    for (size_t k = 1; k < n; k++) {
        size_t v = idx[k];
        size_t j = k;
        while (j > 0 && compare_by_gbit_desc(&idx[j - 1], &v, gbit) > 0) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = v;
    }
}

/* Check that day_start, from which an episode counts its hours, lies on the baseline's
 * grid extended back in time, and that the baseline does not end before it. The baseline
 * may start after the midnight, as in a re-plan during the day, and then no release
 * starts before its first step. */
static int check_day_on_grid(const cdnopt_series *baseline, const cdnopt_release_set *releases,
                             int64_t day_start, char *err)
{
    int64_t offset = day_start - baseline->t[0];
    int64_t end = baseline->t[0] + (int64_t)baseline->n * baseline->step_s;
    bool on_grid = (offset % baseline->step_s + baseline->step_s) % baseline->step_s == 0;
    if (on_grid && day_start < end)
        return CDNOPT_OK;

    char midnight[32], first[32], last[32];
    cdnopt_release_format_time(day_start, midnight, sizeof midnight);
    cdnopt_release_format_time(baseline->t[0], first, sizeof first);
    cdnopt_release_format_time(end, last, sizeof last);
    if (day_start >= end)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "release %s is planned on the day from %s, but the baseline runs "
                           "from %s to %s, which ends before that day; give traffic of the "
                           "release days",
                           releases->items[0].id, midnight, first, last);
    return cdnopt_fail(err, CDNOPT_EINVAL,
                       "the DQN planner counts the hours of each release day from its midnight, "
                       "and release %s is planned on the day from %s, but the baseline's "
                       "%lld s steps from %s do not fall on that midnight; give timestamps that "
                       "are whole steps from midnight, or plan with the greedy solver",
                       releases->items[0].id, midnight, (long long)baseline->step_s, first);
}

static int check_inputs(const cdnopt_series *baseline, const cdnopt_release_set *releases,
                        cdnopt_env_params *p, char *err)
{
    if (baseline->n == 0 || baseline->step_s <= 0 || 3600 % baseline->step_s != 0)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "baseline step of %lld s does not divide one hour",
                           (long long)baseline->step_s);
    if (releases->n == 0)
        return cdnopt_fail(err, CDNOPT_EINVAL, "no release to plan");
    int rc = cdnopt_rules_validate(&p->rules, err);
    if (rc != CDNOPT_OK)
        return rc;

    if (p->day_start < 0) {
        int64_t first = releases->items[0].planned_at;
        for (size_t i = 1; i < releases->n; i++)
            first = releases->items[i].planned_at < first ? releases->items[i].planned_at : first;
        p->day_start = cdnopt_civil_day_start(first);
    }
    for (size_t i = 0; i < releases->n; i++) {
        int64_t t = releases->items[i].planned_at;
        if (t < p->day_start || t >= p->day_start + 86400)
            return cdnopt_fail(err, CDNOPT_EINVAL,
                               "release %s is planned outside the day being planned; give the "
                               "environment one day of releases",
                               releases->items[i].id);
    }
    const cdnopt_series *seen = p->observed;
    if (seen && (seen->n != baseline->n || seen->step_s != baseline->step_s ||
                 seen->t[0] != baseline->t[0]))
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "the observed series (%zu values, step %lld s) is not on the "
                           "baseline's grid (%zu values, step %lld s, same first time); "
                           "give a forecast of the same span",
                           seen->n, (long long)seen->step_s, baseline->n,
                           (long long)baseline->step_s);
    return check_day_on_grid(baseline, releases, p->day_start, err);
}

static int alloc_arrays(cdnopt_env *env)
{
    size_t n = env->n, g = env->grid.n, hours = (size_t)env->n_hours;
    env->base = cdnopt_malloc(g * sizeof(double));
    env->total = cdnopt_malloc(g * sizeof(double));
    env->select = cdnopt_malloc(g * sizeof(double));
    env->base_hmax = cdnopt_calloc(hours + 1, sizeof(float));
    env->total_hmax = cdnopt_calloc(hours + 1, sizeof(float));
    env->impact_hmax = cdnopt_calloc(hours + 1, sizeof(float));
    env->profile = cdnopt_malloc(CDNOPT_PROFILE_MAX_H * sizeof(double));
    env->gbit = cdnopt_malloc(n * sizeof(double));
    env->forced = cdnopt_malloc(n * sizeof(env_forced));
    env->placed = cdnopt_malloc(n);
    env->start = cdnopt_malloc(n * sizeof(int64_t));
    env->ratio = cdnopt_malloc(n * sizeof(double));
    env->order = cdnopt_malloc(n * sizeof(size_t));
    if (env->params.observed) {
        env->seen_base = cdnopt_malloc(g * sizeof(double));
        env->seen_total = cdnopt_malloc(g * sizeof(double));
        if (!env->seen_base || !env->seen_total)
            return CDNOPT_ENOMEM;
    }
    bool ok = env->base && env->total && env->select && env->base_hmax && env->total_hmax &&
              env->impact_hmax && env->profile && env->gbit && env->forced && env->placed &&
              env->start && env->ratio && env->order;
    return ok ? CDNOPT_OK : CDNOPT_ENOMEM;
}

/* Baseline copies, hourly maxima and the observation scale. The maxima and the scale
 * come from the seen baseline, so the observation carries nothing of the true one. */
static void setup_baseline(cdnopt_env *env, const cdnopt_series *baseline)
{
    memcpy(env->base, baseline->v, env->grid.n * sizeof(double));
    if (env->seen_base)
        memcpy(env->seen_base, env->params.observed->v, env->grid.n * sizeof(double));
    const double *seen_base = env->seen_base ? env->seen_base : env->base;
    double window_max = 0;
    for (int h = 0; h < env->n_hours; h++) {
        double m = 0;
        size_t lo, hi;
        hour_steps(env, h, &lo, &hi);
        for (size_t j = lo; j < hi; j++)
            m = fmax(m, seen_base[j]);
        env->base_hmax[h] = (float)m;
        if (h < 72)
            window_max = fmax(window_max, m);
    }
    env->scale = window_max > 0 ? 2.5 * window_max : 1.0;
}

static int setup_releases(cdnopt_env *env, char *err)
{
    env->day_gbit = 0;
    env->largest_gbit = 0;
    for (size_t i = 0; i < env->n; i++) {
        env->gbit[i] = cdnopt_release_gbit(&env->releases->items[i]);
        env->day_gbit += env->gbit[i];
        env->largest_gbit = fmax(env->largest_gbit, env->gbit[i]);
        int rc = find_forced(env, i, err);
        if (rc != CDNOPT_OK)
            return rc;
    }

    int rc = cdnopt_shards_new(env->releases, &env->shards);
    if (rc != CDNOPT_OK)
        return cdnopt_fail(err, rc, "cannot shard the releases by planned hour");
    memcpy(env->order, env->shards->index, env->n * sizeof(size_t));
    env->shard_max = 0;
    for (int h = 0; h < CDNOPT_ENV_SHARDS; h++) {
        size_t lo = env->shards->offset[h], hi = env->shards->offset[h + 1];
        sort_shard(env->order + lo, hi - lo, env->gbit);
        env->shard_max = hi - lo > env->shard_max ? hi - lo : env->shard_max;
    }
    return CDNOPT_OK;
}

int cdnopt_env_new(const cdnopt_series *baseline, const cdnopt_release_set *releases,
                   const cdnopt_env_params *params, cdnopt_env **out, char *err)
{
    *out = NULL;
    cdnopt_env_params p = params ? *params : cdnopt_env_params_default();
    int rc = check_inputs(baseline, releases, &p, err);
    if (rc != CDNOPT_OK)
        return rc;

    cdnopt_env *env = cdnopt_calloc(1, sizeof *env);
    if (!env)
        return cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory for the environment");
    env->params = p;
    env->releases = releases;
    env->n = releases->n;
    env->grid = cdnopt_grid_of(baseline);
    env->steps_per_hour = (size_t)(3600 / baseline->step_s);
    env->day_index = (long)((p.day_start - baseline->t[0]) / baseline->step_s);
    env->n_hours = (int)(((long)baseline->n - env->day_index) / (long)env->steps_per_hour);
    env->earliest = baseline->t[0] > p.day_start ? baseline->t[0] : p.day_start;

    rc = alloc_arrays(env);
    if (rc != CDNOPT_OK) {
        cdnopt_env_free(env);
        return cdnopt_fail(err, rc, "out of memory for the environment");
    }
    setup_baseline(env, baseline);
    env->params.observed = NULL; /* copied into seen_base; the caller's series may go */
    rc = setup_releases(env, err);
    if (rc != CDNOPT_OK) {
        cdnopt_env_free(env);
        return rc;
    }
    cdnopt_env_reset(env);
    *out = env;
    return CDNOPT_OK;
}

void cdnopt_env_free(cdnopt_env *env)
{
    if (!env)
        return;
    cdnopt_free(env->base);
    cdnopt_free(env->total);
    cdnopt_free(env->seen_base);
    cdnopt_free(env->seen_total);
    cdnopt_free(env->select);
    cdnopt_free(env->base_hmax);
    cdnopt_free(env->total_hmax);
    cdnopt_free(env->impact_hmax);
    cdnopt_free(env->profile);
    cdnopt_free(env->gbit);
    cdnopt_free(env->forced);
    cdnopt_free(env->placed);
    cdnopt_free(env->start);
    cdnopt_free(env->ratio);
    cdnopt_free(env->expert_plan);
    cdnopt_free(env->order);
    cdnopt_shards_free(env->shards);
    cdnopt_free(env);
}

void cdnopt_env_reset(cdnopt_env *env)
{
    memcpy(env->total, env->base, env->grid.n * sizeof(double));
    env->peak = 0;
    for (size_t j = 0; j < env->grid.n; j++)
        env->peak = fmax(env->peak, env->total[j]);
    for (int h = 0; h < env->n_hours; h++) {
        env->total_hmax[h] = env->base_hmax[h];
        env->impact_hmax[h] = 0;
    }
    env->objective = objective_of(env);
    env->seen_peak = env->peak;
    if (env->seen_total) {
        memcpy(env->seen_total, env->seen_base, env->grid.n * sizeof(double));
        env->seen_peak = 0;
        for (size_t j = 0; j < env->grid.n; j++)
            env->seen_peak = fmax(env->seen_peak, env->seen_total[j]);
    }
    env->seen_objective = seen_objective_of(env);

    memset(env->placed, 0, env->n);
    env->n_placed = 0;
    for (int h = 0; h < CDNOPT_ENV_SHARDS; h++) {
        env->next[h] = env->shards->offset[h];
        env->pending[h] = env->shards->offset[h + 1] - env->shards->offset[h];
        env->pending_gbit[h] = 0;
        for (size_t k = env->shards->offset[h]; k < env->shards->offset[h + 1]; k++)
            env->pending_gbit[h] += env->gbit[env->order[k]];
        refresh_shard(env, h);
    }
    /* The clock starts at the hour that contains the earliest start, so that a re-plan
     * during the day waits for no hour that has passed. */
    env->clock = (int)((env->earliest - env->params.day_start) / 3600);
    env->level = 0;
    env->current = -1;
    env->phase = CDNOPT_ENV_GLOBAL;

    /* NOTE: a release that no local action can place (custom rules) is placed here, so
     * its traffic is part of the starting objective and never of a reward. */
    for (size_t i = 0; i < env->n; i++) {
        if (!env->forced[i].agent_option)
            place_forced(env, i);
    }
    if (env->n_placed == env->n)
        env->phase = CDNOPT_ENV_DONE;
}

/* ------------------------------------------------------------------------- */
/* Accessors                                                                 */
/* ------------------------------------------------------------------------- */

cdnopt_env_phase cdnopt_env_phase_of(const cdnopt_env *env)
{
    return env->phase;
}

double cdnopt_env_objective_value(const cdnopt_env *env)
{
    return env->objective;
}

const double *cdnopt_env_total(const cdnopt_env *env)
{
    return env->total;
}

double cdnopt_env_scale(const cdnopt_env *env)
{
    return env->scale;
}

long cdnopt_env_current_release(const cdnopt_env *env)
{
    return env->phase == CDNOPT_ENV_LOCAL ? env->current : -1;
}

int cdnopt_env_schedule(const cdnopt_env *env, cdnopt_schedule *schedule)
{
    if (schedule->n != env->n)
        return CDNOPT_EINVAL;
    for (size_t i = 0; i < env->n; i++) {
        if (!env->placed[i])
            continue;
        schedule->start_at[i] = env->start[i];
        schedule->batch_ratio[i] = env->ratio[i];
    }
    return CDNOPT_OK;
}
