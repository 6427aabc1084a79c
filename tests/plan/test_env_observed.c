// SPDX-License-Identifier: Apache-2.0
/*
 * The environment with an observed series: the agent observes that traffic (a
 * forecast) while rewards and the objective stay on the true baseline. Hand-made case:
 * one small release at 10:00 on a flat true baseline of 100 Gbit/s, observed as a flat
 * 200 Gbit/s with one 500 Gbit/s hour outside the observation window.
 */
#include "cdnopt/agent.h"
#include "env_fixture.h"
#include "testutil.h"

#include <math.h>
#include <string.h>

#define HOURS 72
#define SPIKE_HOUR 50 /* beyond the 48-hour window seen from clock 0 */

typedef struct observed_case {
    cdnopt_series *truth;
    cdnopt_series *seen;
    cdnopt_release_set *releases;
} observed_case;

static cdnopt_series *flat_series(double gbps)
{
    cdnopt_series *s = NULL;
    assert_int_equal(cdnopt_series_new(HOURS, FIXTURE_DAY, 3600, &s), CDNOPT_OK);
    for (size_t i = 0; i < HOURS; i++)
        s->v[i] = gbps;
    return s;
}

static void case_open(observed_case *c)
{
    c->truth = flat_series(100.0);
    c->seen = flat_series(200.0);
    c->seen->v[SPIKE_HOUR] = 500.0;
    cdnopt_release r = {0};
    strcpy(r.id, "small");
    r.size_mb = 100.0;
    r.users = 10000.0;
    r.planned_at = FIXTURE_DAY + 10 * 3600;
    assert_int_equal(cdnopt_release_set_new(&r, 1, &c->releases, NULL), CDNOPT_OK);
}

static void case_close(observed_case *c)
{
    cdnopt_release_set_free(c->releases);
    cdnopt_series_free(c->seen);
    cdnopt_series_free(c->truth);
}

static cdnopt_env *env_open(const observed_case *c, const cdnopt_series *observed)
{
    cdnopt_env_params p = cdnopt_env_params_default();
    p.observed = observed;
    cdnopt_env *env = NULL;
    assert_int_equal(cdnopt_env_new(c->truth, c->releases, &p, &env, NULL), CDNOPT_OK);
    return env;
}

/* Take the global action that opens the release's shard at level 100 %. */
static void open_shard(cdnopt_env *env)
{
    cdnopt_env_step_result result;
    assert_int_equal(cdnopt_env_step(env, 10 * CDNOPT_ENV_LEVELS + 4, &result, NULL), CDNOPT_OK);
    assert_int_equal(result.phase, CDNOPT_ENV_LOCAL);
}

static void env_observes_given_series(void **state)
{
    (void)state;
    observed_case c;
    case_open(&c);
    cdnopt_env *plain = env_open(&c, NULL);
    cdnopt_env *seeing = env_open(&c, c.seen);

    /* scale is 2.5 x the largest baseline value the agent observes over 72 hours. */
    assert_float_equal(cdnopt_env_scale(plain), 250.0, 1e-9);
    assert_float_equal(cdnopt_env_scale(seeing), 1250.0, 1e-9);
    float obs[CDNOPT_ENV_OBS];
    cdnopt_env_observe(seeing, obs);
    for (int k = 0; k < CDNOPT_ENV_WINDOW_H; k++)
        assert_float_equal(obs[CDNOPT_OBS_TOTAL + k], 200.0 / 1250.0, 1e-6);
    cdnopt_env_observe(plain, obs);
    assert_float_equal(obs[CDNOPT_OBS_TOTAL], 100.0 / 250.0, 1e-6);

    /* The objective the environment reports is the true one. */
    assert_float_equal(cdnopt_env_objective_value(seeing), 100.0, 1e-9);

    /* Look-ahead of delay 0, ratio 0.1: the wave adds p to the true peak of 100, but
     * stays under the seen peak of 500, so its seen rise is 0. */
    open_shard(plain);
    open_shard(seeing);
    cdnopt_env_step_result plain_step, seeing_step;
    float plain_obs[CDNOPT_ENV_OBS];
    cdnopt_env_observe(plain, plain_obs);
    cdnopt_env_observe(seeing, obs);
    assert_true(plain_obs[CDNOPT_OBS_RISE] > 0.0f);
    assert_float_equal(obs[CDNOPT_OBS_RISE], 0.0f, 0.0f);
    assert_int_equal(cdnopt_env_step(plain, 0, &plain_step, NULL), CDNOPT_OK);
    assert_int_equal(cdnopt_env_step(seeing, 0, &seeing_step, NULL), CDNOPT_OK);
    double p = 0;
    for (size_t i = 0; i < HOURS; i++)
        p = fmax(p, cdnopt_env_total(plain)[i] - 100.0);
    assert_true(p > 0.1 && p < 50.0);

    /* On the flat seen series every delay of ratio 0.1 reaches 200 + p, the lowest of
     * all actions, so REACH of action 0 is 0. Ratio 0.5 (action 2) reaches 200 plus its
     * profile's highest rate, shown above the lowest in units of 0.2 x scale. */
    cdnopt_rules rules = cdnopt_rules_default();
    double profile[CDNOPT_PROFILE_MAX_H];
    size_t hours = cdnopt_release_profile(&c.releases->items[0], 0.5, &rules, profile);
    double p_half = 0;
    for (size_t h = 0; h < hours; h++)
        p_half = fmax(p_half, profile[h]);
    assert_true(p_half > p);
    assert_float_equal(obs[CDNOPT_OBS_REACH], 0.0, 1e-6);
    assert_float_equal(obs[CDNOPT_OBS_REACH + 2], (p_half - p) / (0.2 * 1250.0), 1e-5);

    /* Rewards are minus the true objective increase, with or without the seen series. */
    assert_float_equal(plain_step.reward, -p, 1e-9);
    assert_float_equal(seeing_step.reward, -p, 1e-9);
    assert_float_equal(cdnopt_env_objective_value(seeing), 100.0 + p, 1e-9);
    for (size_t i = 0; i < HOURS; i++)
        assert_float_equal(cdnopt_env_total(seeing)[i], cdnopt_env_total(plain)[i], 0.0);

    cdnopt_env_free(seeing);
    cdnopt_env_free(plain);
    case_close(&c);
}

static void env_rejects_observed_off_grid(void **state)
{
    (void)state;
    observed_case c;
    case_open(&c);
    cdnopt_series *short_seen = NULL;
    assert_int_equal(cdnopt_series_slice(c.seen, 0, HOURS - 1, &short_seen, NULL), CDNOPT_OK);
    cdnopt_env_params p = cdnopt_env_params_default();
    p.observed = short_seen;
    cdnopt_env *env = NULL;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_env_new(c.truth, c.releases, &p, &env, err), CDNOPT_EINVAL);
    assert_null(env);
    assert_non_null(strstr(err, "71 values"));
    cdnopt_series_free(short_seen);
    case_close(&c);
}

/* A baseline may start after the release day's midnight (a re-plan during the day), but
 * its steps must fall on that midnight and it must not end before it. */
static void env_rejects_baseline_off_day(void **state)
{
    (void)state;
    observed_case c;
    case_open(&c);
    cdnopt_series *off = NULL;
    assert_int_equal(cdnopt_series_new(40, FIXTURE_DAY + 10 * 3600 + 1800, 3600, &off),
                     CDNOPT_OK);
    cdnopt_env *env = NULL;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_env_new(off, c.releases, NULL, &env, err), CDNOPT_EINVAL);
    assert_null(env);
    cdnopt_assert_contains(err, "release small is planned on the day from 2004-12-14 00:00:00, "
                                "but the baseline's 3600 s steps from 2004-12-14 10:30:00 do "
                                "not fall on that midnight");
    cdnopt_assert_contains(err, "or plan with the greedy solver");

    cdnopt_series *before = NULL;
    assert_int_equal(cdnopt_series_new(24, FIXTURE_DAY - 86400, 3600, &before), CDNOPT_OK);
    assert_int_equal(cdnopt_env_new(before, c.releases, NULL, &env, err), CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "the baseline runs from 2004-12-13 00:00:00 to 2004-12-14 "
                                "00:00:00, which ends before that day");
    cdnopt_series_free(before);
    cdnopt_series_free(off);
    case_close(&c);
}

/* An episode's observed window gets the factor that rescales its true window. */
static void episode_rescales_observed_window(void **state)
{
    (void)state;
    cdnopt_series *history = fixture_baseline(4, 3600); /* peaks at 800 Gbit/s */
    size_t days[2] = {0, 24};
    cdnopt_series *windows[2];
    for (int k = 0; k < 2; k++) {
        assert_int_equal(cdnopt_series_slice(history, days[k], HOURS, &windows[k], NULL),
                         CDNOPT_OK);
        for (size_t i = 0; i < HOURS; i++)
            windows[k]->v[i] = 400.0 + (double)k; /* half the true peak, day-tagged */
    }
    cdnopt_episode_params p = cdnopt_episode_params_default();
    p.observed = (const cdnopt_series *const *)windows;
    cdnopt_rng rng;
    cdnopt_rng_seed(&rng, 5);
    for (int draw = 0; draw < 6; draw++) {
        cdnopt_series *base = NULL, *seen = NULL;
        cdnopt_release_set *set = NULL;
        assert_int_equal(cdnopt_episode_draw(history, days, 2, &p, &rng, &base, &seen, &set,
                                             NULL), CDNOPT_OK);
        int k = base->t[0] == history->t[days[1]];
        assert_int_equal(seen->t[0], base->t[0]);
        assert_int_equal(seen->n, base->n);
        assert_float_equal(seen->v[7], (400.0 + k) * 1000.0 / 800.0, 1e-6);
        cdnopt_release_set_free(set);
        cdnopt_series_free(seen);
        cdnopt_series_free(base);
    }
    for (int k = 0; k < 2; k++)
        cdnopt_series_free(windows[k]);
    cdnopt_series_free(history);
}

/* Planning a validation day on a seen series that equals the baseline gives the plain plan. */
static void plan_observed_equal_series_same(void **state)
{
    (void)state;
    cdnopt_series *baseline = fixture_baseline(3, 300);
    cdnopt_release_set *set = fixture_releases(30, 4);
    cdnopt_agent_params ap = cdnopt_agent_params_default();
    ap.hidden = 16;
    ap.mask_hidden = 8;
    cdnopt_agent *agent = NULL;
    assert_int_equal(cdnopt_agent_new(&ap, &agent, NULL), CDNOPT_OK);
    cdnopt_rules rules = cdnopt_rules_default();
    cdnopt_schedule *plain = NULL, *seeing = NULL;
    assert_int_equal(cdnopt_schedule_new(set->n, &plain), CDNOPT_OK);
    assert_int_equal(cdnopt_schedule_new(set->n, &seeing), CDNOPT_OK);
    cdnopt_series *copy = NULL;
    assert_int_equal(cdnopt_series_slice(baseline, 0, baseline->n, &copy, NULL), CDNOPT_OK);
    assert_int_equal(cdnopt_agent_plan(agent, baseline, set, &rules, plain, NULL), CDNOPT_OK);
    assert_int_equal(cdnopt_agent_plan_observed(agent, baseline, copy, set, &rules, seeing, NULL),
                     CDNOPT_OK);
    for (size_t i = 0; i < set->n; i++) {
        assert_int_equal(seeing->start_at[i], plain->start_at[i]);
        assert_float_equal(seeing->batch_ratio[i], plain->batch_ratio[i], 0.0);
    }
    cdnopt_series_free(copy);
    cdnopt_schedule_free(seeing);
    cdnopt_schedule_free(plain);
    cdnopt_agent_free(agent);
    cdnopt_release_set_free(set);
    cdnopt_series_free(baseline);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(env_observes_given_series),
        cmocka_unit_test(env_rejects_observed_off_grid),
        cmocka_unit_test(env_rejects_baseline_off_day),
        cmocka_unit_test(episode_rescales_observed_window),
        cmocka_unit_test(plan_observed_equal_series_same),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
