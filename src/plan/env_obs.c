/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Observations and action masks of the release-planning environment. The layout of
 * the observation vector is documented beside the CDNOPT_OBS_* offsets in agent.h;
 * every value is clipped to [0, 1] so that networks see one range whatever the
 * workload's scale.
 */
#include "env-impl.h"

#include <math.h>
#include <string.h>

/* Share of the observation scale that REACH spans above the lowest valid action's. */
#define REACH_RANGE 0.2

static float clip01(double x)
{
    if (!(x > 0))
        return 0.0f;
    return x < 1 ? (float)x : 1.0f;
}

/* Hour (from the day's midnight) the windows of the observation start at. */
static int anchor_hour(const cdnopt_env *env)
{
    if (env->phase == CDNOPT_ENV_LOCAL) {
        int64_t planned = env->releases->items[env->current].planned_at;
        return (int)((planned - env->params.day_start) / 3600);
    }
    return env->clock;
}

static void observe_calendar(const cdnopt_env *env, int anchor, float *obs)
{
    const double two_pi = 6.283185307179586;
    int hour_of_day = anchor % 24;
    int weekday = cdnopt_civil_weekday(env->params.day_start + (int64_t)anchor * 3600);
    obs[0] = clip01(hour_of_day / 23.0);
    obs[1] = clip01(0.5 + 0.5 * sin(two_pi * hour_of_day / 24.0));
    obs[2] = clip01(0.5 + 0.5 * cos(two_pi * hour_of_day / 24.0));
    obs[3] = clip01(weekday / 6.0);
    obs[4] = weekday == 0 || weekday == 6 ? 1.0f : 0.0f;
    obs[5] = clip01(env->clock / 47.0);
    obs[6] = env->phase == CDNOPT_ENV_LOCAL ? 1.0f : 0.0f;
    obs[7] = env->phase == CDNOPT_ENV_LOCAL ? clip01(env->level / 100.0) : 0.0f;
}

/* Hours before the baseline starts and past its end are unknown and read 0. */
static void observe_window(const cdnopt_env *env, int anchor, float *obs)
{
    for (int k = 0; k < CDNOPT_ENV_WINDOW_H && anchor + k < env->n_hours; k++)
        obs[CDNOPT_OBS_TOTAL + k] = clip01(env->total_hmax[anchor + k] / env->scale);
}

/* REACH and RISE of every local action of the current release (see agent.h). */
static void observe_lookahead(const cdnopt_env *env, float *obs)
{
    double reach[CDNOPT_ENV_LOCAL_ACTIONS], rise[CDNOPT_ENV_LOCAL_ACTIONS];
    env_lookahead(env, reach, rise);

    /* REACH is measured from the lowest among the valid actions, so that the input of
     * each delay row of the Q-network contains the distance of its actions from the best. */
    double lowest = INFINITY;
    for (int a = 0; a < CDNOPT_ENV_LOCAL_ACTIONS; a++) {
        if (env_local_valid(env, (size_t)env->current, a))
            lowest = fmin(lowest, reach[a]);
    }
    for (int a = 0; a < CDNOPT_ENV_LOCAL_ACTIONS; a++) {
        obs[CDNOPT_OBS_REACH + a] = clip01((reach[a] - lowest) / (REACH_RANGE * env->scale));
        obs[CDNOPT_OBS_RISE + a] = clip01(rise[a] / (0.1 * env->scale));
    }
}

/* Traffic of the largest pending release of shard h, Gbit; 0 when none is pending. */
static double shard_largest_gbit(const cdnopt_env *env, int h)
{
    return env->pending[h] > 0 ? env->gbit[env->order[env->next[h]]] : 0.0;
}

static void observe_shards(const cdnopt_env *env, float *obs)
{
    /* LARGEST is relative to the largest pending release of all shards, so the shard
     * that contains it has the value 1 whatever has been placed already. */
    double largest_pending = 0;
    for (int h = 0; h < CDNOPT_ENV_SHARDS; h++)
        largest_pending = fmax(largest_pending, shard_largest_gbit(env, h));
    for (int h = 0; h < CDNOPT_ENV_SHARDS; h++) {
        obs[CDNOPT_OBS_ENERGY + h] = clip01(env->pending_gbit[h] / env->day_gbit);
        if (env->pending[h] > 0)
            obs[CDNOPT_OBS_LARGEST + h] = clip01(shard_largest_gbit(env, h) / largest_pending);
    }
}

static void observe_release(const cdnopt_env *env, float *obs)
{
    float *r = obs + CDNOPT_OBS_RELEASE;
    r[7] = clip01(env->seen_objective / env->scale);
    if (env->phase != CDNOPT_ENV_LOCAL)
        return;

    size_t i = (size_t)env->current;
    const cdnopt_release *rel = &env->releases->items[i];
    int64_t now = env_first_start(env);
    int64_t from = rel->planned_at > now ? rel->planned_at : now;
    r[0] = clip01(rel->size_mb / 8000.0);
    r[1] = rel->size_mb > env->params.rules.blackout_min_size_mb ? 1.0f : 0.0f;
    r[2] = clip01(log1p(rel->users) / log1p(3e7));
    r[3] = clip01(env->gbit[i] / (env->scale * 3600.0));
    r[4] = clip01((double)((rel->planned_at % 3600 + 3600) % 3600) / 3600.0);
    r[5] = clip01((double)(env->forced[i].start - from) / 86400.0);
    r[6] = clip01((double)env->step_done / (double)env->step_total);
}

void cdnopt_env_observe(const cdnopt_env *env, float *obs)
{
    memset(obs, 0, CDNOPT_ENV_OBS * sizeof(float));
    int anchor = anchor_hour(env);
    observe_calendar(env, anchor, obs + CDNOPT_OBS_CALENDAR);
    observe_window(env, anchor, obs);
    observe_shards(env, obs);
    observe_release(env, obs);
    if (env->phase == CDNOPT_ENV_LOCAL)
        observe_lookahead(env, obs);
}

int cdnopt_env_mask(const cdnopt_env *env, uint8_t *mask)
{
    int n_valid = 0;
    if (env->phase == CDNOPT_ENV_GLOBAL) {
        for (int a = 0; a < CDNOPT_ENV_GLOBAL_ACTIONS; a++) {
            mask[a] = env->pending[a / CDNOPT_ENV_LEVELS] > 0;
            n_valid += mask[a];
        }
    } else if (env->phase == CDNOPT_ENV_LOCAL) {
        for (int a = 0; a < CDNOPT_ENV_LOCAL_ACTIONS; a++) {
            mask[a] = env_local_valid(env, (size_t)env->current, a);
            n_valid += mask[a];
        }
    }
    return n_valid;
}

bool cdnopt_env_wait_forces(const cdnopt_env *env)
{
    if (env->phase != CDNOPT_ENV_GLOBAL)
        return false;
    int64_t next_clock = env_clock_time(env) + 3600;
    for (int h = 0; h < CDNOPT_ENV_SHARDS; h++) {
        if (env->pending[h] > 0 && env->min_forced[h] < next_clock)
            return true;
    }
    return false;
}
