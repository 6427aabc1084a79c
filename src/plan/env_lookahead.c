// SPDX-License-Identifier: Apache-2.0
/*
 * One-step look-ahead of the release-planning environment: for the current release,
 * the highest total each local action's wave would reach and the objective rise it
 * would cause, computed from the state as the greedy planner computes them. These
 * values feed the observation (REACH and RISE blocks) and the one-step greedy expert
 * whose episodes serve as demonstrations. They read the total the agent observes (the
 * observed series when the environment has one), never the true traffic behind it.
 *
 * Rationale for the block maxima: a release's rate is constant within each hour after
 * its start, so the highest total it reaches from start s is max_h (max of the total
 * over hour block h from s + profile[h]). Every local delay is a whole number of hours,
 * so the blocks of delay d are those of delay 0 shifted by d, and one pass over the
 * blocks of delay 0 serves all 72 actions.
 */
#include "env-impl.h"

#include <math.h>
#include <string.h>

/* Blocks a lookahead covers: every delay plus the longest profile of the three ratios. */
#define LOOKAHEAD_BLOCKS (CDNOPT_ENV_DELAYS + CDNOPT_PROFILE_MAX_H)

/* p95 of the total with a wave added (its profile from grid step first on). */
static double p95_with_wave(const cdnopt_env *env, size_t first, const double *profile,
                            size_t hours)
{
    size_t n = env->grid.n, sph = env->steps_per_hour;
    memcpy(env->select, env_seen_total(env), n * sizeof(double));
    for (size_t h = 0; h < hours; h++) {
        for (size_t j = first + h * sph; j < first + (h + 1) * sph; j++)
            env->select[j] += profile[h];
    }
    return env_p95_sort(env->select, n);
}

/* Max of the total over each hour block from the release's planned start (grid index
 * first). Blocks past the grid's end get INFINITY, so no wave reaching them looks good. */
static void block_maxima(const cdnopt_env *env, int64_t first, size_t n_blocks, double *block)
{
    size_t sph = env->steps_per_hour;
    const double *total = env_seen_total(env);
    for (size_t k = 0; k < n_blocks; k++) {
        int64_t lo = first + (int64_t)(k * sph);
        if (lo < 0 || (size_t)lo + sph > env->grid.n) {
            block[k] = INFINITY;
            continue;
        }
        double max = -INFINITY;
        for (size_t j = (size_t)lo; j < (size_t)lo + sph; j++)
            max = fmax(max, total[j]);
        block[k] = max;
    }
}

void env_lookahead(const cdnopt_env *env, double *reach, double *rise)
{
    size_t i = (size_t)env->current;
    const cdnopt_release *rel = &env->releases->items[i];
    int64_t first = (rel->planned_at - env->grid.origin) / env->grid.step_s;
    size_t n_blocks = CDNOPT_ENV_DELAYS;
    for (int r = 0; r < CDNOPT_ENV_RATIOS; r++) {
        size_t hours = cdnopt_profile_hours(&env->params.rules, cdnopt_env_ratios[r]);
        n_blocks = hours + CDNOPT_ENV_DELAYS > n_blocks ? hours + CDNOPT_ENV_DELAYS : n_blocks;
    }
    double block[LOOKAHEAD_BLOCKS];
    double profile[CDNOPT_PROFILE_MAX_H];
    block_maxima(env, first, n_blocks, block);

    for (int r = 0; r < CDNOPT_ENV_RATIOS; r++) {
        size_t hours = cdnopt_release_profile(rel, cdnopt_env_ratios[r], &env->params.rules,
                                              profile);
        for (int d = 0; d < CDNOPT_ENV_DELAYS; d++) {
            int a = d * CDNOPT_ENV_RATIOS + r;
            double peak = -INFINITY;
            for (size_t h = 0; h < hours; h++)
                peak = fmax(peak, block[(size_t)d + h] + profile[h]);
            reach[a] = peak;

            /* The peak objective rises by what the wave reaches above it. A p95 can only
             * move when the wave lifts some step above the current p95. */
            if (!isfinite(peak))
                rise[a] = INFINITY;
            else if (env->params.objective != CDNOPT_OBJECTIVE_P95 ||
                     peak <= env->seen_objective)
                rise[a] = fmax(0.0, peak - env->seen_objective);
            else
                rise[a] = p95_with_wave(env, (size_t)(first + d * (int64_t)env->steps_per_hour),
                                        profile, hours) - env->seen_objective;
        }
    }
}

/* Global expert step: the shard whose largest pending release carries the most traffic,
 * at the smallest nonzero level, so that releases go largest first across shards as in
 * the greedy planner and the clock never moves. */
static int expert_global(const cdnopt_env *env)
{
    int best_shard = -1;
    double best_gbit = -1;
    for (int h = 0; h < CDNOPT_ENV_SHARDS; h++) {
        if (env->pending[h] == 0)
            continue;
        double gbit = env->gbit[env->order[env->next[h]]];
        if (gbit > best_gbit) {
            best_gbit = gbit;
            best_shard = h;
        }
    }
    return best_shard * CDNOPT_ENV_LEVELS + 1;
}

/* Local expert step: the planned action of the current release when one is set and
 * valid at the current clock, else the valid action whose wave reaches the lowest total
 * (greedy's valley-filling criterion), ties to the smaller delay and ratio. */
static int expert_local(const cdnopt_env *env)
{
    size_t i = (size_t)env->current;
    if (env->expert_plan && env->expert_plan[i] >= 0 &&
        env_local_valid(env, i, env->expert_plan[i]))
        return env->expert_plan[i];

    double reach[CDNOPT_ENV_LOCAL_ACTIONS], rise[CDNOPT_ENV_LOCAL_ACTIONS];
    env_lookahead(env, reach, rise);
    int best = -1;
    for (int a = 0; a < CDNOPT_ENV_LOCAL_ACTIONS; a++) {
        if (!env_local_valid(env, (size_t)env->current, a))
            continue;
        double tol = best < 0 ? 0 : 1e-9 * fmax(1.0, fabs(reach[best]));
        if (best < 0 || reach[a] < reach[best] - tol)
            best = a;
    }
    return best;
}

int cdnopt_env_expert_action(const cdnopt_env *env, int *action)
{
    if (env->phase == CDNOPT_ENV_GLOBAL)
        *action = expert_global(env);
    else if (env->phase == CDNOPT_ENV_LOCAL)
        *action = expert_local(env);
    else
        return CDNOPT_EINVAL;
    return CDNOPT_OK;
}

/* Local action (delay, ratio) that starts release i at start with ratio, or -1 when the
 * start is not a whole-hour delay of 0 to 23 h or the ratio is not an agent ratio. */
static int local_action_of(const cdnopt_release *rel, int64_t start, double ratio)
{
    int64_t delay_s = start - rel->planned_at;
    if (delay_s < 0 || delay_s % 3600 != 0 || delay_s / 3600 >= CDNOPT_ENV_DELAYS)
        return -1;
    for (int r = 0; r < CDNOPT_ENV_RATIOS; r++) {
        if (fabs(ratio - cdnopt_env_ratios[r]) < 1e-9)
            return (int)(delay_s / 3600) * CDNOPT_ENV_RATIOS + r;
    }
    return -1;
}

int cdnopt_env_set_expert_schedule(cdnopt_env *env, const cdnopt_schedule *schedule, char *err)
{
    cdnopt_free(env->expert_plan);
    env->expert_plan = NULL;
    if (!schedule)
        return CDNOPT_OK;
    if (schedule->n != env->n)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "the expert's schedule has %zu entries but the environment has %zu "
                           "releases; plan the environment's own release set",
                           schedule->n, env->n);

    env->expert_plan = cdnopt_malloc((env->n > 0 ? env->n : 1) * sizeof *env->expert_plan);
    if (!env->expert_plan)
        return cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory for the expert's schedule");
    for (size_t i = 0; i < env->n; i++)
        env->expert_plan[i] = (int16_t)local_action_of(&env->releases->items[i],
                                                       schedule->start_at[i],
                                                       schedule->batch_ratio[i]);
    return CDNOPT_OK;
}

int cdnopt_env_plan_expert(cdnopt_env *env, const cdnopt_series *baseline,
                           int local_search_passes, char *err)
{
    /* Greedy searches exactly the agent's options: whole-hour delays up to 23 h and the
     * ratios of the local actions, so every start it picks maps to a local action. */
    cdnopt_rules rules = env->params.rules;
    rules.n_ratios = CDNOPT_ENV_RATIOS;
    for (int r = 0; r < CDNOPT_ENV_RATIOS; r++)
        rules.batch_ratios[r] = cdnopt_env_ratios[r];
    int64_t max_delay_s = (int64_t)(CDNOPT_ENV_DELAYS - 1) * 3600;
    if (rules.max_delay_s > max_delay_s)
        rules.max_delay_s = max_delay_s;

    cdnopt_plan_params params = cdnopt_plan_params_default();
    params.objective = env->params.objective;
    params.local_search_passes = local_search_passes;
    cdnopt_plan_result result = {0};
    int rc = cdnopt_plan_greedy(baseline, env->releases, &rules, &params, &result, err);
    if (rc == CDNOPT_OK)
        rc = cdnopt_env_set_expert_schedule(env, result.schedule, err);
    cdnopt_plan_result_clear(&result);
    return rc;
}
