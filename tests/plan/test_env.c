/* SPDX-License-Identifier: Apache-2.0 */
#include "cdnopt/agent.h"
#include "env_fixture.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct env_case {
    cdnopt_series *baseline;
    cdnopt_release_set *releases;
    cdnopt_env *env;
} env_case;

static void case_open(env_case *c, size_t n_releases, uint64_t seed, cdnopt_objective objective)
{
    c->baseline = fixture_baseline(3, 300);
    c->releases = fixture_releases(n_releases, seed);
    assert_non_null(c->baseline);
    assert_non_null(c->releases);
    cdnopt_env_params p = cdnopt_env_params_default();
    p.objective = objective;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_env_new(c->baseline, c->releases, &p, &c->env, err), CDNOPT_OK);
}

static void case_close(env_case *c)
{
    cdnopt_env_free(c->env);
    cdnopt_release_set_free(c->releases);
    cdnopt_series_free(c->baseline);
}

static int draw_from_mask(const uint8_t *mask, int n, cdnopt_rng *rng)
{
    int valid = 0;
    for (int a = 0; a < n; a++)
        valid += mask[a];
    int pick = (int)cdnopt_rng_below(rng, (uint64_t)valid);
    for (int a = 0; a < n; a++) {
        if (mask[a] && pick-- == 0)
            return a;
    }
    return -1;
}

/* Every action the mask allows keeps the rules, checked independently of the
 * environment through cdnopt_rules_check; the finished schedule has no violation. */
static void mask_never_yields_invalid_action(void **state)
{
    (void)state;
    cdnopt_rng rng;
    cdnopt_rng_seed(&rng, 7);
    cdnopt_rules rules = cdnopt_rules_default();
    for (uint64_t episode = 0; episode < 20; episode++) {
        env_case c;
        case_open(&c, 60, 100 + episode, CDNOPT_OBJECTIVE_PEAK);
        cdnopt_grid grid = cdnopt_grid_of(c.baseline);
        int64_t clock = FIXTURE_DAY;
        size_t checked = 0;

        while (cdnopt_env_phase_of(c.env) != CDNOPT_ENV_DONE) {
            uint8_t mask[CDNOPT_ENV_MAX_ACTIONS];
            int n_valid = cdnopt_env_mask(c.env, mask);
            assert_true(n_valid > 0);
            cdnopt_env_phase phase = cdnopt_env_phase_of(c.env);
            if (phase == CDNOPT_ENV_LOCAL) {
                const cdnopt_release *r =
                    &c.releases->items[cdnopt_env_current_release(c.env)];
                for (int a = 0; a < CDNOPT_ENV_LOCAL_ACTIONS; a++) {
                    int64_t start = r->planned_at + (int64_t)(a / CDNOPT_ENV_RATIOS) * 3600;
                    double ratio = cdnopt_env_ratios[a % CDNOPT_ENV_RATIOS];
                    bool legal = cdnopt_rules_check(&rules, r, start, ratio, &grid) ==
                                     CDNOPT_RULE_OK && start >= clock;
                    assert_int_equal(mask[a], legal ? 1 : 0);
                    checked++;
                }
            }
            int action = draw_from_mask(mask, cdnopt_env_n_actions(phase), &rng);
            cdnopt_env_step_result result;
            char err[CDNOPT_ERRMSG_MAX] = "";
            assert_int_equal(cdnopt_env_step(c.env, action, &result, err), CDNOPT_OK);
            /* Only a global level-0 action (waiting) moves the clock. */
            if (phase == CDNOPT_ENV_GLOBAL && action % CDNOPT_ENV_LEVELS == 0)
                clock += 3600;
        }
        assert_true(checked > 0);

        cdnopt_schedule *schedule = NULL;
        assert_int_equal(cdnopt_schedule_new(c.releases->n, &schedule), CDNOPT_OK);
        assert_int_equal(cdnopt_env_schedule(c.env, schedule), CDNOPT_OK);
        cdnopt_violation v[4];
        assert_int_equal(cdnopt_schedule_check(c.releases, schedule, &rules, &grid, v, 4), 0);
        cdnopt_schedule_free(schedule);
        case_close(&c);
    }
}

/* Play an episode with random valid actions; return the sum of all rewards. */
static double play_random(cdnopt_env *env, uint64_t seed, size_t *n_forced)
{
    cdnopt_rng rng;
    cdnopt_rng_seed(&rng, seed);
    double sum = 0;
    *n_forced = 0;
    while (cdnopt_env_phase_of(env) != CDNOPT_ENV_DONE) {
        uint8_t mask[CDNOPT_ENV_MAX_ACTIONS];
        cdnopt_env_mask(env, mask);
        int action = draw_from_mask(mask, cdnopt_env_n_actions(cdnopt_env_phase_of(env)), &rng);
        cdnopt_env_step_result result;
        assert_int_equal(cdnopt_env_step(env, action, &result, NULL), CDNOPT_OK);
        sum += result.reward + result.forced_reward;
        *n_forced += result.n_forced;
    }
    return sum;
}

/* The return is minus the objective increase, and the final objective is the one the
 * dense evaluation of the schedule gives (peak and p95). */
static void rewards_sum_to_objective_change(void **state)
{
    (void)state;
    cdnopt_objective objectives[2] = {CDNOPT_OBJECTIVE_PEAK, CDNOPT_OBJECTIVE_P95};
    for (int k = 0; k < 2; k++) {
        env_case c;
        case_open(&c, 80, 3, objectives[k]);
        double start_value = cdnopt_env_objective_value(c.env);
        size_t n_forced = 0;
        double sum = play_random(c.env, 11, &n_forced);
        double end_value = cdnopt_env_objective_value(c.env);
        assert_true(fabs(sum + (end_value - start_value)) < 1e-6 * end_value);

        cdnopt_schedule *schedule = NULL;
        assert_int_equal(cdnopt_schedule_new(c.releases->n, &schedule), CDNOPT_OK);
        cdnopt_env_schedule(c.env, schedule);
        cdnopt_rules rules = cdnopt_rules_default();
        cdnopt_figures fig;
        assert_int_equal(
            cdnopt_schedule_evaluate(c.baseline, c.releases, schedule, &rules, NULL, &fig),
            CDNOPT_OK);
        double expected = k == 0 ? fig.peak_gbps : fig.p95_gbps;
        assert_true(fabs(end_value - expected) < 1e-6 * expected);
        cdnopt_schedule_free(schedule);
        case_close(&c);
    }
}

/* An 800 MB release planned at 22:00 with ratio 0.5 has batches at 22+d and 23+d:
 * d = 0 is legal, d = 1 .. 6 put a batch into 00:00-04:59, d = 7 (05:00) is legal. */
static void blackout_masks_night_batches(void **state)
{
    (void)state;
    cdnopt_series *baseline = fixture_baseline(3, 300);
    cdnopt_release r = {.size_mb = 800, .users = 1e5, .planned_at = FIXTURE_DAY + 22 * 3600};
    strcpy(r.id, "big");
    cdnopt_release_set *set = NULL;
    assert_int_equal(cdnopt_release_set_new(&r, 1, &set, NULL), CDNOPT_OK);
    cdnopt_env *env = NULL;
    assert_int_equal(cdnopt_env_new(baseline, set, NULL, &env, NULL), CDNOPT_OK);

    cdnopt_env_step_result result;
    int global = 22 * CDNOPT_ENV_LEVELS + 4; /* shard 22, level 100 % */
    assert_int_equal(cdnopt_env_step(env, global, &result, NULL), CDNOPT_OK);
    assert_int_equal(result.phase, CDNOPT_ENV_LOCAL);

    uint8_t mask[CDNOPT_ENV_MAX_ACTIONS];
    cdnopt_env_mask(env, mask);
    const int half = 2; /* index of ratio 0.5 */
    int expected[8] = {1, 0, 0, 0, 0, 0, 0, 1};
    for (int d = 0; d < 8; d++)
        assert_int_equal(mask[d * CDNOPT_ENV_RATIOS + half], expected[d]);
    /* Ratio 0.1 runs 10 batches from 22+d: only d >= 7 (05:00 .. 14:00) is legal. */
    for (int d = 0; d < 7; d++)
        assert_int_equal(mask[d * CDNOPT_ENV_RATIOS + 0], 0);
    assert_int_equal(mask[7 * CDNOPT_ENV_RATIOS + 0], 1);

    /* Stepping with a masked action is rejected with a message naming the start. */
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_env_step(env, 1 * CDNOPT_ENV_RATIOS + half, &result, err),
                     CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "masked for release big");
    cdnopt_assert_contains(err, "2004-12-14 23:00:00");

    cdnopt_env_free(env);
    cdnopt_release_set_free(set);
    cdnopt_series_free(baseline);
}

/* With only level-0 actions, the clock runs out and each release is placed at its
 * latest legal start (delay 23 h for a small release). */
static void waiting_forces_latest_start(void **state)
{
    (void)state;
    cdnopt_series *baseline = fixture_baseline(3, 300);
    cdnopt_release r = {.size_mb = 100, .users = 1e5, .planned_at = FIXTURE_DAY + 3 * 3600};
    strcpy(r.id, "small");
    cdnopt_release_set *set = NULL;
    assert_int_equal(cdnopt_release_set_new(&r, 1, &set, NULL), CDNOPT_OK);
    cdnopt_env *env = NULL;
    assert_int_equal(cdnopt_env_new(baseline, set, NULL, &env, NULL), CDNOPT_OK);

    size_t forced = 0, steps = 0;
    double forced_reward = 0, start_peak = cdnopt_env_objective_value(env);
    while (cdnopt_env_phase_of(env) != CDNOPT_ENV_DONE) {
        cdnopt_env_step_result result;
        assert_int_equal(cdnopt_env_step(env, 3 * CDNOPT_ENV_LEVELS + 0, &result, NULL),
                         CDNOPT_OK);
        forced += result.n_forced;
        forced_reward += result.forced_reward;
        steps++;
    }
    /* Planned 03:00, latest start 02:00 the next day: forced when the clock passes it. */
    assert_int_equal(forced, 1);
    assert_int_equal(steps, 27);
    double added = cdnopt_env_objective_value(env) - start_peak;
    assert_true(forced_reward <= 0);
    assert_true(fabs(forced_reward + added) < 1e-9);

    cdnopt_schedule *schedule = NULL;
    assert_int_equal(cdnopt_schedule_new(1, &schedule), CDNOPT_OK);
    cdnopt_env_schedule(env, schedule);
    assert_int_equal(schedule->start_at[0], r.planned_at + 23 * 3600);
    cdnopt_schedule_free(schedule);
    cdnopt_env_free(env);
    cdnopt_release_set_free(set);
    cdnopt_series_free(baseline);
}

/* Every value lies in [0, 1] and the release block describes the current release. */
/* In a global decision, LARGEST is 1 for the shard the expert opens (the one with the
 * largest pending release) and in [0, 1] relative to it for the others. */
static void check_largest_block(const cdnopt_env *env, const float *obs)
{
    int expert = -1;
    assert_int_equal(cdnopt_env_expert_action(env, &expert), CDNOPT_OK);
    int shard = expert / CDNOPT_ENV_LEVELS;
    assert_float_equal(obs[CDNOPT_OBS_LARGEST + shard], 1.0f, 0.0f);
    for (int h = 0; h < CDNOPT_ENV_SHARDS; h++)
        assert_true(obs[CDNOPT_OBS_LARGEST + h] <= 1.0f);
}

static void observation_layout(void **state)
{
    (void)state;
    env_case c;
    case_open(&c, 40, 5, CDNOPT_OBJECTIVE_PEAK);
    cdnopt_rng rng;
    cdnopt_rng_seed(&rng, 3);
    size_t local_seen = 0;
    while (cdnopt_env_phase_of(c.env) != CDNOPT_ENV_DONE) {
        float obs[CDNOPT_ENV_OBS];
        cdnopt_env_observe(c.env, obs);
        for (int k = 0; k < CDNOPT_ENV_OBS; k++)
            assert_true(obs[k] >= 0.0f && obs[k] <= 1.0f);

        long current = cdnopt_env_current_release(c.env);
        if (current >= 0) {
            const cdnopt_release *r = &c.releases->items[current];
            assert_float_equal(obs[CDNOPT_OBS_RELEASE + 1], r->size_mb > 500 ? 1.0f : 0.0f, 0.0f);
            assert_float_equal(obs[CDNOPT_OBS_RELEASE + 0], r->size_mb / 8000.0, 1e-6);
            assert_float_equal(obs[CDNOPT_OBS_CALENDAR + 6], 1.0f, 0.0f);
            local_seen++;
        } else {
            assert_float_equal(obs[CDNOPT_OBS_RISE], 0.0f, 0.0f);
            check_largest_block(c.env, obs);
        }
        uint8_t mask[CDNOPT_ENV_MAX_ACTIONS];
        cdnopt_env_mask(c.env, mask);
        int action = draw_from_mask(mask, cdnopt_env_n_actions(cdnopt_env_phase_of(c.env)), &rng);
        cdnopt_env_step_result result;
        assert_int_equal(cdnopt_env_step(c.env, action, &result, NULL), CDNOPT_OK);
    }
    assert_true(local_seen > 0);
    case_close(&c);
}

/*
 * The look-ahead is exact: for random valid actions, the RISE the observation showed
 * for the action taken, times its divisor 0.1 x scale, equals minus the step's reward,
 * and REACH of the least-reaching action is what the expert picks.
 */
static void check_lookahead(cdnopt_objective objective)
{
    env_case c;
    case_open(&c, 60, 9, objective);
    double scale = cdnopt_env_scale(c.env);
    cdnopt_rng rng;
    cdnopt_rng_seed(&rng, 4);
    size_t checked = 0;
    while (cdnopt_env_phase_of(c.env) != CDNOPT_ENV_DONE) {
        cdnopt_env_phase phase = cdnopt_env_phase_of(c.env);
        float obs[CDNOPT_ENV_OBS];
        uint8_t mask[CDNOPT_ENV_MAX_ACTIONS];
        cdnopt_env_observe(c.env, obs);
        cdnopt_env_mask(c.env, mask);
        int expert = -1;
        assert_int_equal(cdnopt_env_expert_action(c.env, &expert), CDNOPT_OK);
        assert_true(mask[expert]);

        int action = draw_from_mask(mask, cdnopt_env_n_actions(phase), &rng);
        if (phase == CDNOPT_ENV_LOCAL) {
            for (int a = 0; a < CDNOPT_ENV_LOCAL_ACTIONS; a++) {
                if (mask[a])
                    assert_true(obs[CDNOPT_OBS_REACH + expert] <= obs[CDNOPT_OBS_REACH + a]);
            }
        }
        cdnopt_env_step_result result;
        assert_int_equal(cdnopt_env_step(c.env, action, &result, NULL), CDNOPT_OK);
        if (phase == CDNOPT_ENV_LOCAL && obs[CDNOPT_OBS_RISE + action] < 1.0f) {
            double predicted = obs[CDNOPT_OBS_RISE + action] * 0.1 * scale;
            assert_float_equal(predicted, -result.reward, 1e-6 * scale);
            checked++;
        }
    }
    assert_true(checked > 30);
    case_close(&c);
}

static void lookahead_matches_peak_reward(void **state)
{
    (void)state;
    check_lookahead(CDNOPT_OBJECTIVE_PEAK);
}

static void lookahead_matches_p95_reward(void **state)
{
    (void)state;
    check_lookahead(CDNOPT_OBJECTIVE_P95);
}

/* The expert never waits, so no release is ever forced, and its episode ends. */
static void expert_episode_forces_nothing(void **state)
{
    (void)state;
    env_case c;
    case_open(&c, 120, 11, CDNOPT_OBJECTIVE_PEAK);
    size_t steps = 0;
    while (cdnopt_env_phase_of(c.env) != CDNOPT_ENV_DONE) {
        int action = -1;
        assert_int_equal(cdnopt_env_expert_action(c.env, &action), CDNOPT_OK);
        cdnopt_env_step_result result;
        assert_int_equal(cdnopt_env_step(c.env, action, &result, NULL), CDNOPT_OK);
        assert_int_equal(result.n_forced, 0);
        steps++;
    }
    assert_true(steps >= 120);
    int action = -1;
    assert_int_equal(cdnopt_env_expert_action(c.env, &action), CDNOPT_EINVAL);
    case_close(&c);
}

/* cdnopt_expert_plan() on one day of releases gives the schedule of an expert episode
 * played step by step, and that schedule keeps the rules. */
static void expert_plan_matches_episode(void **state)
{
    (void)state;
    env_case c;
    case_open(&c, 60, 12, CDNOPT_OBJECTIVE_PEAK);
    while (cdnopt_env_phase_of(c.env) != CDNOPT_ENV_DONE) {
        int action = -1;
        assert_int_equal(cdnopt_env_expert_action(c.env, &action), CDNOPT_OK);
        cdnopt_env_step_result result;
        assert_int_equal(cdnopt_env_step(c.env, action, &result, NULL), CDNOPT_OK);
    }
    cdnopt_schedule *played = NULL, *planned = NULL;
    assert_int_equal(cdnopt_schedule_new(c.releases->n, &played), CDNOPT_OK);
    assert_int_equal(cdnopt_schedule_new(c.releases->n, &planned), CDNOPT_OK);
    assert_int_equal(cdnopt_env_schedule(c.env, played), CDNOPT_OK);

    cdnopt_env_params params = cdnopt_env_params_default();
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_expert_plan(c.baseline, c.releases, &params, planned, err),
                     CDNOPT_OK);
    for (size_t i = 0; i < c.releases->n; i++) {
        assert_int_equal(planned->start_at[i], played->start_at[i]);
        assert_float_equal(planned->batch_ratio[i], played->batch_ratio[i], 0.0);
    }
    cdnopt_figures figures;
    assert_int_equal(cdnopt_schedule_evaluate(c.baseline, c.releases, planned, &params.rules,
                                              NULL, &figures),
                     CDNOPT_OK);
    assert_float_equal(figures.peak_gbps, cdnopt_env_objective_value(c.env), 1e-9);
    cdnopt_grid grid = cdnopt_grid_of(c.baseline);
    assert_int_equal(cdnopt_schedule_check(c.releases, planned, &params.rules, &grid, NULL, 0),
                     0);

    cdnopt_schedule_free(planned);
    cdnopt_schedule_free(played);
    case_close(&c);
}

/* Plan one day of releases with expert episodes on background and add the traffic of
 * their placements to background. */
static void plan_day_with_expert(cdnopt_series *background, const cdnopt_release_set *day,
                                 int64_t midnight)
{
    cdnopt_env_params params = cdnopt_env_params_default();
    params.day_start = midnight;
    cdnopt_env *env = NULL;
    assert_int_equal(cdnopt_env_new(background, day, &params, &env, NULL), CDNOPT_OK);
    while (cdnopt_env_phase_of(env) != CDNOPT_ENV_DONE) {
        int action = -1;
        assert_int_equal(cdnopt_env_expert_action(env, &action), CDNOPT_OK);
        cdnopt_env_step_result result;
        assert_int_equal(cdnopt_env_step(env, action, &result, NULL), CDNOPT_OK);
    }
    cdnopt_schedule *schedule = NULL;
    assert_int_equal(cdnopt_schedule_new(day->n, &schedule), CDNOPT_OK);
    assert_int_equal(cdnopt_env_schedule(env, schedule), CDNOPT_OK);
    cdnopt_figures figures;
    assert_int_equal(cdnopt_schedule_evaluate(background, day, schedule, &params.rules,
                                              background->v, &figures),
                     CDNOPT_OK);
    cdnopt_schedule_free(schedule);
    cdnopt_env_free(env);
}

/* On two days of releases, cdnopt_expert_plan() plans every day again after the first
 * round and returns the round with the lowest peak. So its peak is at most that of the
 * first round (each day in order on the days before it), which is replayed here. */
static void expert_rounds_never_raise_peak(void **state)
{
    (void)state;
    enum { PER_DAY = 80 };
    cdnopt_series *baseline = fixture_baseline(4, 300);
    cdnopt_release_set *first_day = fixture_releases(PER_DAY, 21);
    cdnopt_release_set *later = fixture_releases(PER_DAY, 22);
    assert_non_null(baseline);
    assert_non_null(first_day);
    assert_non_null(later);

    cdnopt_release items[2 * PER_DAY];
    for (size_t i = 0; i < PER_DAY; i++) {
        items[i] = first_day->items[i];
        items[PER_DAY + i] = later->items[i];
        items[PER_DAY + i].planned_at += 86400;
        snprintf(items[PER_DAY + i].id, sizeof items[0].id, "second-%03zu", i);
    }
    cdnopt_release_set *second_day = NULL, *both = NULL;
    assert_int_equal(cdnopt_release_set_new(items + PER_DAY, PER_DAY, &second_day, NULL),
                     CDNOPT_OK);
    assert_int_equal(cdnopt_release_set_new(items, 2 * PER_DAY, &both, NULL), CDNOPT_OK);

    cdnopt_series *background = NULL;
    assert_int_equal(cdnopt_series_slice(baseline, 0, baseline->n, &background, NULL),
                     CDNOPT_OK);
    plan_day_with_expert(background, first_day, FIXTURE_DAY);
    plan_day_with_expert(background, second_day, FIXTURE_DAY + 86400);
    double first_round_peak = 0;
    for (size_t j = 0; j < background->n; j++)
        first_round_peak = fmax(first_round_peak, background->v[j]);

    cdnopt_env_params params = cdnopt_env_params_default();
    cdnopt_schedule *planned = NULL;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_schedule_new(both->n, &planned), CDNOPT_OK);
    assert_int_equal(cdnopt_expert_plan(baseline, both, &params, planned, err), CDNOPT_OK);
    cdnopt_figures figures;
    assert_int_equal(cdnopt_schedule_evaluate(baseline, both, planned, &params.rules, NULL,
                                              &figures),
                     CDNOPT_OK);
    assert_true(figures.peak_gbps <= first_round_peak * (1 + 1e-12));

    /* On these releases the later rounds lower the peak (from about 871.0 to 861.0
     * Gbit/s), so a plan of the first round alone fails here. */
    assert_true(figures.peak_gbps < first_round_peak - 1.0);
    cdnopt_grid grid = cdnopt_grid_of(baseline);
    assert_int_equal(cdnopt_schedule_check(both, planned, &params.rules, &grid, NULL, 0), 0);

    cdnopt_schedule_free(planned);
    cdnopt_series_free(background);
    cdnopt_release_set_free(both);
    cdnopt_release_set_free(second_day);
    cdnopt_release_set_free(later);
    cdnopt_release_set_free(first_day);
    cdnopt_series_free(baseline);
}

/* Over a random episode that waits in 70 % of its global decisions,
 * cdnopt_env_wait_forces() is true exactly before the waits that make the environment
 * place a release. */
static void wait_forces_predicts_forcing(void **state)
{
    (void)state;
    env_case c;
    case_open(&c, 80, 13, CDNOPT_OBJECTIVE_PEAK);
    cdnopt_rng rng;
    cdnopt_rng_seed(&rng, 6);
    size_t forcing_waits = 0, free_waits = 0;
    while (cdnopt_env_phase_of(c.env) != CDNOPT_ENV_DONE) {
        cdnopt_env_phase phase = cdnopt_env_phase_of(c.env);
        uint8_t mask[CDNOPT_ENV_MAX_ACTIONS];
        cdnopt_env_mask(c.env, mask);
        int action = draw_from_mask(mask, cdnopt_env_n_actions(phase), &rng);
        if (phase == CDNOPT_ENV_GLOBAL && cdnopt_rng_uniform(&rng) < 0.7)
            action -= action % CDNOPT_ENV_LEVELS; /* the same shard's level 0: wait */
        bool waiting = phase == CDNOPT_ENV_GLOBAL && action % CDNOPT_ENV_LEVELS == 0;
        bool forces = cdnopt_env_wait_forces(c.env);
        if (phase == CDNOPT_ENV_LOCAL)
            assert_false(forces);

        cdnopt_env_step_result result;
        assert_int_equal(cdnopt_env_step(c.env, action, &result, NULL), CDNOPT_OK);
        if (!waiting)
            continue;
        assert_int_equal(result.n_forced > 0, forces);
        forcing_waits += forces;
        free_waits += !forces;
    }
    assert_true(forcing_waits > 0);
    assert_true(free_waits > 0);
    case_close(&c);
}

static void rejects_release_outside_day(void **state)
{
    (void)state;
    cdnopt_series *baseline = fixture_baseline(3, 300);
    cdnopt_release r[2] = {{.size_mb = 100, .users = 1e4, .planned_at = FIXTURE_DAY + 3600},
                           {.size_mb = 100, .users = 1e4, .planned_at = FIXTURE_DAY + 90000}};
    strcpy(r[0].id, "today");
    strcpy(r[1].id, "tomorrow");
    cdnopt_release_set *set = NULL;
    assert_int_equal(cdnopt_release_set_new(r, 2, &set, NULL), CDNOPT_OK);
    cdnopt_env *env = NULL;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_env_new(baseline, set, NULL, &env, err), CDNOPT_EINVAL);
    assert_null(env);
    cdnopt_assert_contains(err, "release tomorrow is planned outside the day");
    cdnopt_release_set_free(set);
    cdnopt_series_free(baseline);
}

/* A re-plan at 14:20 has a flat 100 Gbit/s baseline on 5-minute steps from 14:20 to the
 * end of the third day, and two small releases planned that morning, "ten" at 10:00
 * and "ten20" at 10:20. Whole-hour delays count from planned_at, so "ten" may start
 * at 15:00 at the earliest (delay 5) and "ten20" at 14:20 (delay 4). */
static void mask_starts_at_baseline_start(void **state)
{
    (void)state;
    const int64_t earliest = FIXTURE_DAY + 14 * 3600 + 20 * 60;
    size_t n = (size_t)((FIXTURE_DAY + 3 * 86400 - earliest) / 300);
    cdnopt_series *baseline = NULL;
    assert_int_equal(cdnopt_series_new(n, earliest, 300, &baseline), CDNOPT_OK);
    for (size_t i = 0; i < n; i++)
        baseline->v[i] = 100.0;
    cdnopt_release r[2] = {{.size_mb = 200, .users = 1e4, .planned_at = FIXTURE_DAY + 36000},
                           {.size_mb = 100, .users = 1e4,
                            .planned_at = FIXTURE_DAY + 36000 + 1200}};
    strcpy(r[0].id, "ten");
    strcpy(r[1].id, "ten20");
    cdnopt_release_set *set = NULL;
    assert_int_equal(cdnopt_release_set_new(r, 2, &set, NULL), CDNOPT_OK);
    cdnopt_env *env = NULL;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_env_new(baseline, set, NULL, &env, err), CDNOPT_OK);

    /* The clock starts at 14:00, the hour of the earliest start. The scale is 2.5 x 100. */
    float obs[CDNOPT_ENV_OBS];
    cdnopt_env_observe(env, obs);
    assert_float_equal(obs[CDNOPT_OBS_CALENDAR + 5], 14.0 / 47.0, 1e-6);
    assert_float_equal(cdnopt_env_scale(env), 250.0, 1e-9);
    assert_float_equal(obs[CDNOPT_OBS_TOTAL], 100.0 / 250.0, 1e-6);

    /* Shard 10 at level 100 % places "ten" (the larger) first. */
    cdnopt_env_step_result result;
    assert_int_equal(cdnopt_env_step(env, 10 * CDNOPT_ENV_LEVELS + 4, &result, err), CDNOPT_OK);
    assert_int_equal(cdnopt_env_current_release(env), 0);
    uint8_t mask[CDNOPT_ENV_MAX_ACTIONS];
    cdnopt_env_mask(env, mask);
    for (int a = 0; a < CDNOPT_ENV_LOCAL_ACTIONS; a++)
        assert_int_equal(mask[a], a / CDNOPT_ENV_RATIOS >= 5 ? 1 : 0);

    /* Seen from 10:00, hours 10 to 13 lie before the baseline and read 0, while hour 14
     * is known from 14:20. A wave that would start before 14:20 gets REACH's top, 1. */
    cdnopt_env_observe(env, obs);
    for (int k = 0; k < 4; k++)
        assert_float_equal(obs[CDNOPT_OBS_TOTAL + k], 0.0, 0.0);
    assert_float_equal(obs[CDNOPT_OBS_TOTAL + 4], 100.0 / 250.0, 1e-6);
    assert_float_equal(obs[CDNOPT_OBS_REACH + 4 * CDNOPT_ENV_RATIOS], 1.0, 0.0);
    assert_float_equal(obs[CDNOPT_OBS_REACH + 5 * CDNOPT_ENV_RATIOS], 0.0, 1e-6);

    /* The step rejects the masked 14:00 and takes 15:00. */
    assert_int_equal(cdnopt_env_step(env, 4 * CDNOPT_ENV_RATIOS, &result, err), CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "start 2004-12-14 14:00:00 with batch ratio 0.1 breaks a rule "
                                "or lies before the clock or the earliest start");
    assert_int_equal(cdnopt_env_step(env, 5 * CDNOPT_ENV_RATIOS, &result, err), CDNOPT_OK);

    /* "ten20" may start at the earliest start itself, 14:20. */
    assert_int_equal(cdnopt_env_current_release(env), 1);
    cdnopt_env_mask(env, mask);
    for (int a = 0; a < CDNOPT_ENV_LOCAL_ACTIONS; a++)
        assert_int_equal(mask[a], a / CDNOPT_ENV_RATIOS >= 4 ? 1 : 0);
    assert_int_equal(cdnopt_env_step(env, 4 * CDNOPT_ENV_RATIOS, &result, err), CDNOPT_OK);
    assert_int_equal(result.phase, CDNOPT_ENV_DONE);

    cdnopt_schedule *schedule = NULL;
    assert_int_equal(cdnopt_schedule_new(2, &schedule), CDNOPT_OK);
    assert_int_equal(cdnopt_env_schedule(env, schedule), CDNOPT_OK);
    assert_int_equal(schedule->start_at[0], FIXTURE_DAY + 15 * 3600);
    assert_int_equal(schedule->start_at[1], earliest);
    cdnopt_schedule_free(schedule);
    cdnopt_env_free(env);
    cdnopt_release_set_free(set);
    cdnopt_series_free(baseline);
}

/* Windows of 3 days start at midnights and skip the excluded span. */
static void episode_days_skip_excluded(void **state)
{
    (void)state;
    cdnopt_series *history = fixture_baseline(10, 3600);
    size_t days[16];
    assert_int_equal(cdnopt_episode_days(history, NULL, NULL, 0, days, 16), 8);
    assert_int_equal(days[1], 24);

    int64_t from = FIXTURE_DAY + 4 * 86400, to = FIXTURE_DAY + 5 * 86400;
    /* Windows starting on days 2, 3 and 4 overlap day 4. */
    assert_int_equal(cdnopt_episode_days(history, &from, &to, 1, days, 16), 5);
    assert_int_equal(days[2], 5 * 24);

    cdnopt_rng rng;
    cdnopt_rng_seed(&rng, 1);
    cdnopt_episode_params p = cdnopt_episode_params_default();
    cdnopt_series *base = NULL;
    cdnopt_release_set *set = NULL;
    assert_int_equal(cdnopt_episode_draw(history, days, 5, &p, &rng, &base, NULL, &set, NULL),
                     CDNOPT_OK);
    assert_int_equal(base->n, 72);
    double max = 0;
    for (size_t i = 0; i < base->n; i++)
        max = fmax(max, base->v[i]);
    assert_float_equal(max, 1000.0, 1e-9);
    assert_true(set->n >= p.min_releases && set->n <= p.max_releases);
    for (size_t i = 0; i < set->n; i++)
        assert_int_equal(cdnopt_civil_day_start(set->items[i].planned_at), base->t[0]);
    cdnopt_release_set_free(set);
    cdnopt_series_free(base);
    cdnopt_series_free(history);
}

/* Play the expert to the end of the episode and return its schedule. */
static cdnopt_schedule *play_expert(cdnopt_env *env, size_t n_releases)
{
    while (cdnopt_env_phase_of(env) != CDNOPT_ENV_DONE) {
        int action = -1;
        assert_int_equal(cdnopt_env_expert_action(env, &action), CDNOPT_OK);
        cdnopt_env_step_result result;
        assert_int_equal(cdnopt_env_step(env, action, &result, NULL), CDNOPT_OK);
        assert_int_equal(result.n_forced, 0);
    }
    cdnopt_schedule *schedule = NULL;
    assert_int_equal(cdnopt_schedule_new(n_releases, &schedule), CDNOPT_OK);
    cdnopt_env_schedule(env, schedule);
    return schedule;
}

/* The planner expert's episode ends with greedy's schedule over the agent's options
 * (ratios 0.1, 0.3 and 0.5, delays up to 23 h), which differs from the one-step
 * expert's on this day. */
static void planner_expert_replays_greedy(void **state)
{
    (void)state;
    env_case c;
    case_open(&c, 40, 5, CDNOPT_OBJECTIVE_PEAK);
    cdnopt_schedule *onestep = play_expert(c.env, c.releases->n);

    cdnopt_rules rules = cdnopt_rules_default();
    rules.n_ratios = 3;
    rules.batch_ratios[0] = 0.1;
    rules.batch_ratios[1] = 0.3;
    rules.batch_ratios[2] = 0.5;
    rules.max_delay_s = 23 * 3600;
    cdnopt_plan_params params = cdnopt_plan_params_default();
    cdnopt_plan_result greedy = {0};
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_plan_greedy(c.baseline, c.releases, &rules, &params, &greedy, err),
                     CDNOPT_OK);

    cdnopt_env_reset(c.env);
    assert_int_equal(cdnopt_env_plan_expert(c.env, c.baseline, params.local_search_passes, err),
                     CDNOPT_OK);
    cdnopt_schedule *replayed = play_expert(c.env, c.releases->n);
    size_t differs_from_onestep = 0;
    for (size_t i = 0; i < c.releases->n; i++) {
        assert_int_equal(replayed->start_at[i], greedy.schedule->start_at[i]);
        assert_true(fabs(replayed->batch_ratio[i] - greedy.schedule->batch_ratio[i]) < 1e-12);
        differs_from_onestep += onestep->start_at[i] != replayed->start_at[i] ||
                                onestep->batch_ratio[i] != replayed->batch_ratio[i];
    }
    assert_true(differs_from_onestep > 0);
    assert_true(fabs(cdnopt_env_objective_value(c.env) - greedy.planned.peak_gbps) <
                1e-9 * greedy.planned.peak_gbps);

    cdnopt_schedule_free(replayed);
    cdnopt_schedule_free(onestep);
    cdnopt_plan_result_clear(&greedy);
    case_close(&c);
}

/* A hand-made schedule: release "a" at delay 5 h with ratio 0.3 is replayed as local
 * action 5 * 3 + 1. Release "b" at ratio 1.0 has no local action, so it gets the
 * one-step choice. A schedule of the wrong length is rejected. */
static void expert_schedule_maps_actions(void **state)
{
    (void)state;
    cdnopt_series *baseline = fixture_baseline(3, 300);
    cdnopt_release r[2] = {
        {.size_mb = 100, .users = 1e5, .planned_at = FIXTURE_DAY + 6 * 3600 + 600},
        {.size_mb = 100, .users = 1e5, .planned_at = FIXTURE_DAY + 6 * 3600 + 900},
    };
    strcpy(r[0].id, "a");
    strcpy(r[1].id, "b");
    cdnopt_release_set *set = NULL;
    assert_int_equal(cdnopt_release_set_new(r, 2, &set, NULL), CDNOPT_OK);
    cdnopt_env *env = NULL;
    assert_int_equal(cdnopt_env_new(baseline, set, NULL, &env, NULL), CDNOPT_OK);

    cdnopt_env_step_result result;
    int shard6_all = 6 * CDNOPT_ENV_LEVELS + 4; /* shard 6, level 100 % */
    assert_int_equal(cdnopt_env_step(env, shard6_all, &result, NULL), CDNOPT_OK);
    cdnopt_schedule *hand = NULL;
    assert_int_equal(cdnopt_schedule_new(2, &hand), CDNOPT_OK);
    hand->start_at[0] = r[0].planned_at + 5 * 3600;
    hand->batch_ratio[0] = 0.3;
    hand->start_at[1] = r[1].planned_at + 2 * 3600;
    hand->batch_ratio[1] = 1.0;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_env_set_expert_schedule(env, hand, err), CDNOPT_OK);

    /* Both releases carry the same traffic, so the test reads which one the
     * environment offers first from its current release. */
    for (int k = 0; k < 2; k++) {
        assert_int_equal(cdnopt_env_phase_of(env), CDNOPT_ENV_LOCAL);
        long i = cdnopt_env_current_release(env);
        int action = -1;
        assert_int_equal(cdnopt_env_expert_action(env, &action), CDNOPT_OK);
        if (i == 0) {
            assert_int_equal(action, 5 * CDNOPT_ENV_RATIOS + 1);
        } else {
            int onestep = -1;
            assert_int_equal(cdnopt_env_set_expert_schedule(env, NULL, err), CDNOPT_OK);
            assert_int_equal(cdnopt_env_expert_action(env, &onestep), CDNOPT_OK);
            assert_int_equal(action, onestep);
            assert_int_equal(cdnopt_env_set_expert_schedule(env, hand, err), CDNOPT_OK);
        }
        assert_int_equal(cdnopt_env_step(env, action, &result, NULL), CDNOPT_OK);
    }
    assert_int_equal(cdnopt_env_phase_of(env), CDNOPT_ENV_DONE);

    hand->n = 1;
    assert_int_equal(cdnopt_env_set_expert_schedule(env, hand, err), CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "1 entries but the environment has 2 releases");
    hand->n = 2;

    cdnopt_schedule_free(hand);
    cdnopt_env_free(env);
    cdnopt_release_set_free(set);
    cdnopt_series_free(baseline);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mask_never_yields_invalid_action),
        cmocka_unit_test(rewards_sum_to_objective_change),
        cmocka_unit_test(blackout_masks_night_batches),
        cmocka_unit_test(waiting_forces_latest_start),
        cmocka_unit_test(observation_layout),
        cmocka_unit_test(lookahead_matches_peak_reward),
        cmocka_unit_test(lookahead_matches_p95_reward),
        cmocka_unit_test(expert_episode_forces_nothing),
        cmocka_unit_test(expert_plan_matches_episode),
        cmocka_unit_test(expert_rounds_never_raise_peak),
        cmocka_unit_test(planner_expert_replays_greedy),
        cmocka_unit_test(expert_schedule_maps_actions),
        cmocka_unit_test(wait_forces_predicts_forcing),
        cmocka_unit_test(rejects_release_outside_day),
        cmocka_unit_test(mask_starts_at_baseline_start),
        cmocka_unit_test(episode_days_skip_excluded),
    };
    return cdnopt_test_main(argc, argv, "env", tests, sizeof tests / sizeof tests[0]);
}
