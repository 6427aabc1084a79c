/* SPDX-License-Identifier: Apache-2.0 */
#include "../../src/plan/dqn-impl.h"
#include "env_fixture.h"
#include "testutil.h"

#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* Set a one-layer (linear) MLP 2 -> 3 to y = x W + b. */
static void set_linear(dqn_mlp *m, const float w[6], const float b[3])
{
    cdnopt_param_tensor kernel, bias;
    assert_int_equal(cdnopt_params_find(m->ps, "t0/kernel", &kernel), CDNOPT_OK);
    assert_int_equal(cdnopt_params_find(m->ps, "t0/bias", &bias), CDNOPT_OK);
    float *values = cdnopt_params_values(m->ps);
    memcpy(values + kernel.offset, w, 6 * sizeof(float));
    memcpy(values + bias.offset, b, 3 * sizeof(float));
}

/*
 * Two next states s'1 = (1, 0) and s'2 = (0, 1).
 * Online Q(s'1) = (1, 5, 3), Q(s'2) = (2, 0, 4); target Q(s'1) = (10, 20, 30),
 * Q(s'2) = (40, 50, 60). With action 1 masked in s'1 the online argmax is action 2,
 * so y1 = r1 + gamma * 30 = -1 + 0.9 * 30 = 26. s'2 allows all: argmax 2, y2 = 0.5 +
 * 0.9 * 60 = 54.5. A terminal third row keeps y3 = r3 = -2.
 */
static void double_dqn_target_hand_case(void **state)
{
    (void)state;
    cdnopt_rng rng;
    cdnopt_rng_seed(&rng, 1);
    dqn_mlp online, target;
    assert_int_equal(dqn_mlp_init(&online, "t", 2, NULL, 0, 3, &rng), CDNOPT_OK);
    assert_int_equal(dqn_mlp_init(&target, "t", 2, NULL, 0, 3, &rng), CDNOPT_OK);
    const float w_online[6] = {1, 5, 3, 2, 0, 4}, w_target[6] = {10, 20, 30, 40, 50, 60};
    const float zero[3] = {0, 0, 0};
    set_linear(&online, w_online, zero);
    set_linear(&target, w_target, zero);

    const float next_obs[6] = {1, 0, 0, 1, 1, 0};
    const uint8_t next_mask[9] = {1, 0, 1, 1, 1, 1, 1, 1, 1};
    const float reward[3] = {-1.0f, 0.5f, -2.0f};
    const float discount[3] = {0.9f, 0.9f, 0.0f}; /* gamma 0.9, third row terminal */
    float y[3];
    cdnopt_scratch *scratch = NULL;
    assert_int_equal(cdnopt_scratch_new(0, &scratch), CDNOPT_OK);
    assert_int_equal(dqn_targets(&online, &target, scratch, 3, next_obs, next_mask, reward,
                                 discount, y),
                     CDNOPT_OK);
    assert_float_equal(y[0], 26.0f, 1e-5);
    assert_float_equal(y[1], 54.5f, 1e-5);
    assert_float_equal(y[2], -2.0f, 1e-6);

    cdnopt_scratch_free(scratch);
    dqn_mlp_free(&online);
    dqn_mlp_free(&target);
}

/* A head of one linear layer 2 -> 3 with Q(s) = s (1 5 3; 2 0 4) and an Adam optimizer. */
static void open_linear_head(dqn_head *head, float lr)
{
    cdnopt_rng rng;
    cdnopt_rng_seed(&rng, 1);
    *head = (dqn_head){.n_actions = 3};
    assert_int_equal(dqn_mlp_init(&head->online, "t", 2, NULL, 0, 3, &rng), CDNOPT_OK);
    const float w[6] = {1, 5, 3, 2, 0, 4}, b[3] = {0, 0, 0};
    set_linear(&head->online, w, b);
    cdnopt_adam_params ap = cdnopt_adam_params_default();
    ap.lr = lr;
    assert_int_equal(cdnopt_adam_new(&ap, cdnopt_params_count(head->online.ps), &head->adam),
                     CDNOPT_OK);
}

/*
 * One update on the linear head above, a batch of two rows of state s = (1, 0) with
 * Q(s) = (1, 5, 3). Row 1 takes action 2 with target 3.5: the Huber gradient is the
 * error -0.5. Row 2 takes action 0 with target 4: the error -3 is clipped to -1.
 * Averaged over the batch, the bias gradient is (-0.5, 0, -0.25) and kernel row 0
 * gets the same (x = (1, 0)). After Adam's step Q(s, 2) rises towards 3.5, and
 * output 1, which had no gradient, stays at 5.
 */
static void q_update_matches_hand_gradient(void **state)
{
    (void)state;
    dqn_head head;
    open_linear_head(&head, 0.01f);

    const float obs[4] = {1, 0, 1, 0};
    const int16_t action[2] = {2, 0};
    const float y[2] = {3.5f, 4.0f};
    float loss = 0;
    cdnopt_scratch *scratch = NULL;
    assert_int_equal(cdnopt_scratch_new(0, &scratch), CDNOPT_OK);
    assert_int_equal(dqn_fit_batch(&head, scratch, 2, obs, action, y, NULL, &loss), CDNOPT_OK);

    /* Huber: 0.5 * 0.25 for row 1, |−3| − 0.5 = 2.5 for row 2; mean 1.3125. */
    assert_float_equal(loss, 1.3125f, 1e-6);
    cdnopt_param_tensor bias, kernel;
    cdnopt_params_find(head.online.ps, "t0/bias", &bias);
    cdnopt_params_find(head.online.ps, "t0/kernel", &kernel);
    const float *g = cdnopt_params_grads(head.online.ps);
    assert_float_equal(g[bias.offset + 0], -0.5f, 1e-6);
    assert_float_equal(g[bias.offset + 1], 0.0f, 0.0f);
    assert_float_equal(g[bias.offset + 2], -0.25f, 1e-6);
    assert_float_equal(g[kernel.offset + 2], -0.25f, 1e-6);
    assert_float_equal(g[kernel.offset + 3 + 2], 0.0f, 0.0f);

    const float *v = cdnopt_params_values(head.online.ps);
    float q2 = v[kernel.offset + 2] + v[bias.offset + 2];
    float q1 = v[kernel.offset + 1] + v[bias.offset + 1];
    assert_true(q2 > 3.0f && q2 < 3.5f);
    assert_float_equal(q1, 5.0f, 0.0f);

    cdnopt_scratch_free(scratch);
    cdnopt_adam_free(head.adam);
    dqn_mlp_free(&head.online);
}

/*
 * The large-margin loss on the same linear head, Q(s) = (1, 5, 3), margin 0.5. Row 1 is
 * a demonstration of action 2 with target 3.5: the TD error -0.5 adds 0.125, and with
 * every action valid max_a (Q + 0.5 [a != 2]) = 5.5 at action 1 adds 5.5 - 3 = 2.5, with
 * gradient +1 at action 1 and -1 at action 2. Row 2 is the agent's action 0 with target
 * 4 (Huber 2.5, gradient -1). Mean loss (0.125 + 2.5 + 2.5) / 2 = 2.5625; bias gradient
 * ((-1) / 2, 1 / 2, (-0.5 - 1) / 2). With action 1 masked in row 1 the expert's action
 * already leads by the margin (3 > 1 + 0.5), so only the TD terms remain.
 */
static void margin_loss_matches_hand_case(void **state)
{
    (void)state;
    const uint8_t all_valid[6] = {1, 1, 1, 1, 1, 1}, one_masked[6] = {1, 0, 1, 1, 1, 1};
    const uint8_t *masks[2] = {all_valid, one_masked};
    const float want_loss[2] = {2.5625f, 1.3125f};
    const float want_bias[2][3] = {{-0.5f, 0.5f, -0.75f}, {-0.5f, 0.0f, -0.25f}};
    for (int c = 0; c < 2; c++) {
        dqn_head head;
        open_linear_head(&head, cdnopt_adam_params_default().lr);

        const float obs[4] = {1, 0, 1, 0};
        const int16_t action[2] = {2, 0};
        const float y[2] = {3.5f, 4.0f};
        const uint8_t demo[2] = {1, 0};
        dqn_margin margin = {demo, masks[c], 0.5f};
        float loss = 0;
        cdnopt_scratch *scratch = NULL;
        assert_int_equal(cdnopt_scratch_new(0, &scratch), CDNOPT_OK);
        assert_int_equal(dqn_fit_batch(&head, scratch, 2, obs, action, y, &margin, &loss),
                         CDNOPT_OK);
        assert_float_equal(loss, want_loss[c], 1e-6);
        cdnopt_param_tensor bias;
        cdnopt_params_find(head.online.ps, "t0/bias", &bias);
        const float *g = cdnopt_params_grads(head.online.ps);
        for (int a = 0; a < 3; a++)
            assert_float_equal(g[bias.offset + (size_t)a], want_bias[c][a], 1e-6);

        cdnopt_scratch_free(scratch);
        cdnopt_adam_free(head.adam);
        dqn_mlp_free(&head.online);
    }
}

/* An untrained agent with small networks. */
static cdnopt_agent *new_small_agent(void)
{
    cdnopt_agent_params p = cdnopt_agent_params_default();
    p.hidden = 16;
    p.mask_hidden = 8;
    cdnopt_agent *agent = NULL;
    assert_int_equal(cdnopt_agent_new(&p, &agent, NULL), CDNOPT_OK);
    return agent;
}

/* Over random masks and observations, greedy and exploring choices stay inside the
 * hard mask, with and without the mask network. */
static void choice_stays_inside_mask(void **state)
{
    (void)state;
    cdnopt_agent *agent = new_small_agent();
    cdnopt_rng rng;
    cdnopt_rng_seed(&rng, 99);
    cdnopt_scratch *scratch = NULL;
    assert_int_equal(cdnopt_scratch_new(0, &scratch), CDNOPT_OK);

    for (int trial = 0; trial < 2000; trial++) {
        int kind = trial % 2;
        int n_actions = kind == DQN_LOCAL ? CDNOPT_ENV_LOCAL_ACTIONS : CDNOPT_ENV_GLOBAL_ACTIONS;
        float obs[CDNOPT_ENV_OBS];
        for (int k = 0; k < CDNOPT_ENV_OBS; k++)
            obs[k] = (float)cdnopt_rng_uniform(&rng);
        uint8_t mask[CDNOPT_ENV_MAX_ACTIONS] = {0};
        double density = cdnopt_rng_uniform(&rng);
        for (int a = 0; a < n_actions; a++)
            mask[a] = cdnopt_rng_uniform(&rng) < density;
        mask[cdnopt_rng_below(&rng, (uint64_t)n_actions)] = 1;

        agent->params.use_mask_net = trial % 4 < 2;
        double epsilon = (trial / 2) % 2 ? 1.0 : 0.0;
        int action = -1;
        assert_int_equal(dqn_choose(agent, kind, scratch, obs, mask, epsilon, &rng, &action),
                         CDNOPT_OK);
        assert_true(action >= 0 && action < n_actions);
        assert_int_equal(mask[action], 1);
    }

    uint8_t none[CDNOPT_ENV_MAX_ACTIONS] = {0};
    float obs[CDNOPT_ENV_OBS] = {0};
    int action = -1;
    assert_int_equal(dqn_choose(agent, DQN_LOCAL, scratch, obs, none, 0.0, &rng, &action),
                     CDNOPT_EINVAL);
    cdnopt_scratch_free(scratch);
    cdnopt_agent_free(agent);
}

/* Plan the fixture with an agent; returns its schedule (caller frees). */
static cdnopt_schedule *plan_fixture(cdnopt_agent *agent)
{
    cdnopt_series *baseline = fixture_baseline(3, 300);
    cdnopt_release_set *set = fixture_releases(60, 4);
    cdnopt_schedule *schedule = NULL;
    assert_int_equal(cdnopt_schedule_new(set->n, &schedule), CDNOPT_OK);
    cdnopt_rules rules = cdnopt_rules_default();
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_agent_plan(agent, baseline, set, &rules, schedule, err), CDNOPT_OK);
    cdnopt_release_set_free(set);
    cdnopt_series_free(baseline);
    return schedule;
}

/* The dqn solver alone used to plan for the agent's training objective, while its report
 * named the objective asked for. With repair, the local search follows the one asked. */
static void plan_rejects_unusable_setup(void **state)
{
    (void)state;
    cdnopt_agent *agent = new_small_agent(); // trained for peak, the default
    cdnopt_series *baseline = fixture_baseline(3, 300);
    cdnopt_release_set *set = fixture_releases(20, 4);
    cdnopt_rules rules = cdnopt_rules_default();
    cdnopt_plan_params params = cdnopt_plan_params_default();
    params.objective = CDNOPT_OBJECTIVE_P95;
    cdnopt_plan_result result;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_plan_dqn(agent, baseline, set, &rules, &params, false, &result, err),
                     CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "the agent was trained for the peak objective");
    cdnopt_assert_contains(err, "not for p95; ask for peak, use dqn+greedy");

    assert_int_equal(cdnopt_plan_dqn(agent, baseline, set, &rules, &params, true, &result, err),
                     CDNOPT_OK);
    cdnopt_plan_result_clear(&result);
    params.objective = CDNOPT_OBJECTIVE_PEAK;
    assert_int_equal(cdnopt_plan_dqn(agent, baseline, set, &rules, &params, false, &result, err),
                     CDNOPT_OK);
    cdnopt_plan_result_clear(&result);

    /* Rules that allow none of the agent's ratios left it only forced placements at each
     * release's latest start, without a word. */
    rules.batch_ratios[0] = 0.25;
    rules.batch_ratios[1] = 1.0;
    rules.n_ratios = 2;
    assert_int_equal(cdnopt_plan_dqn(agent, baseline, set, &rules, &params, false, &result, err),
                     CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "the rules allow none of the batch ratios the agent chooses");
    int rc = cdnopt_plan_dqn(agent, baseline, set, &rules, &params, true, &result, err);
    if (rc != CDNOPT_OK)
        fail_msg("dqn+greedy under the rules failed: %s", err);
    cdnopt_plan_result_clear(&result);
    cdnopt_release_set_free(set);
    cdnopt_series_free(baseline);
    cdnopt_agent_free(agent);
}

/* A release planned off the baseline's grid (10:03 on a 5-minute grid) used to fail the
 * dqn solver with "the agent placed release ... at an option the planner does not list":
 * no whole-hour delay from 10:03 lies on the grid, and the forced start did not either. */
static void plan_release_off_grid(void **state)
{
    (void)state;
    cdnopt_agent *agent = new_small_agent();
    cdnopt_series *baseline = fixture_baseline(3, 300);
    cdnopt_release set_items[2] = {0};
    strcpy(set_items[0].id, "late");
    set_items[0].size_mb = 100.0;
    set_items[0].users = 10000.0;
    set_items[0].planned_at = FIXTURE_DAY + 10 * 3600 + 180; // 10:03
    set_items[1] = set_items[0];
    strcpy(set_items[1].id, "narrow"); // 10:03 to 12:30: starts 10:05, 11:05 or 12:05
    set_items[1].latest_start_at = FIXTURE_DAY + 12 * 3600 + 1800;
    set_items[1].has_latest = true;
    cdnopt_release_set *set = NULL;
    assert_int_equal(cdnopt_release_set_new(set_items, 2, &set, NULL), CDNOPT_OK);
    cdnopt_rules rules = cdnopt_rules_default();
    cdnopt_plan_params params = cdnopt_plan_params_default();
    cdnopt_plan_result result;
    char err[CDNOPT_ERRMSG_MAX] = "";
    for (int repair = 0; repair < 2; repair++) {
        int rc = cdnopt_plan_dqn(agent, baseline, set, &rules, &params, repair == 1, &result,
                                 err);
        if (rc != CDNOPT_OK)
            fail_msg("dqn plan (repair %d) failed: %s", repair, err);
        for (size_t i = 0; i < 2; i++) {
            int64_t start = result.schedule->start_at[i];
            int64_t first = FIXTURE_DAY + 10 * 3600 + 300; // 10:05, the next grid step
            assert_true(start >= first);
            assert_true(start <= cdnopt_release_latest_start(&set->items[i], &rules));
            assert_int_equal((start - first) % 3600, 0);
        }
        cdnopt_plan_result_clear(&result);
    }
    cdnopt_release_set_free(set);
    cdnopt_series_free(baseline);
    cdnopt_agent_free(agent);
}

/* Acting with heavy exploration, the agent waits at times but never so that the
 * environment has to place a release at its latest start. */
static void agent_never_forces_by_waiting(void **state)
{
    (void)state;
    cdnopt_series *baseline = fixture_baseline(3, 300);
    cdnopt_release_set *releases = fixture_releases(80, 21);
    cdnopt_env *env = NULL;
    assert_int_equal(cdnopt_env_new(baseline, releases, NULL, &env, NULL), CDNOPT_OK);
    cdnopt_agent *agent = new_small_agent();
    cdnopt_rng rng;
    cdnopt_rng_seed(&rng, 5);

    size_t waits = 0;
    while (cdnopt_env_phase_of(env) != CDNOPT_ENV_DONE) {
        bool global = cdnopt_env_phase_of(env) == CDNOPT_ENV_GLOBAL;
        int action = -1;
        assert_int_equal(cdnopt_agent_act(agent, env, 0.9, &rng, &action), CDNOPT_OK);
        waits += global && action % CDNOPT_ENV_LEVELS == 0;
        cdnopt_env_step_result result;
        assert_int_equal(cdnopt_env_step(env, action, &result, NULL), CDNOPT_OK);
        assert_int_equal(result.n_forced, 0);
    }
    assert_true(waits > 0);

    cdnopt_agent_free(agent);
    cdnopt_env_free(env);
    cdnopt_release_set_free(releases);
    cdnopt_series_free(baseline);
}

static void schedules_equal(const cdnopt_schedule *a, const cdnopt_schedule *b)
{
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        assert_int_equal(a->start_at[i], b->start_at[i]);
        assert_float_equal(a->batch_ratio[i], b->batch_ratio[i], 0.0);
    }
}

static void save_load_gives_same_actions(void **state)
{
    (void)state;
    cdnopt_agent_params p = cdnopt_agent_params_default();
    p.hidden = 32;
    p.seed = 5;
    cdnopt_agent *agent = NULL;
    assert_int_equal(cdnopt_agent_new(&p, &agent, NULL), CDNOPT_OK);
    char dir[256], path[300], err[CDNOPT_ERRMSG_MAX] = "";
    cdnopt_test_scratch_dir(dir, sizeof dir, "dqn");
    snprintf(path, sizeof path, "%s/agent.h5", dir);
    assert_int_equal(cdnopt_agent_save(agent, path, err), CDNOPT_OK);

    cdnopt_agent *loaded = NULL;
    assert_int_equal(cdnopt_agent_load(path, &loaded, err), CDNOPT_OK);
    assert_int_equal(cdnopt_agent_params_of(loaded)->hidden, 32);
    assert_int_equal(cdnopt_agent_params_of(loaded)->seed, 5);
    cdnopt_schedule *before = plan_fixture(agent);
    cdnopt_schedule *after = plan_fixture(loaded);
    schedules_equal(before, after);

    cdnopt_schedule_free(before);
    cdnopt_schedule_free(after);
    cdnopt_agent_free(loaded);
    cdnopt_agent_free(agent);
}

/* Copy the first half of src into dst. */
static void write_truncated(const char *src, const char *dst)
{
    FILE *in = fopen(src, "rb");
    assert_non_null(in);
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, in);
    fclose(in);
    FILE *out = fopen(dst, "wb");
    assert_non_null(out);
    assert_int_equal(fwrite(buf, 1, n / 2, out), n / 2);
    fclose(out);
}

static void load_rejects_bad_files(void **state)
{
    (void)state;
    char dir[256], good[300], cut[300], other[300], err[CDNOPT_ERRMSG_MAX] = "";
    cdnopt_test_scratch_dir(dir, sizeof dir, "dqn-bad");
    snprintf(good, sizeof good, "%s/agent.h5", dir);
    snprintf(cut, sizeof cut, "%s/truncated.h5", dir);
    snprintf(other, sizeof other, "%s/other.h5", dir);

    cdnopt_agent_params p = cdnopt_agent_params_default();
    p.hidden = 16;
    cdnopt_agent *agent = NULL;
    assert_int_equal(cdnopt_agent_new(&p, &agent, NULL), CDNOPT_OK);
    assert_int_equal(cdnopt_agent_save(agent, good, err), CDNOPT_OK);
    cdnopt_agent_free(agent);

    cdnopt_agent *loaded = NULL;
    write_truncated(good, cut);
    assert_int_equal(cdnopt_agent_load(cut, &loaded, err), CDNOPT_EIO);
    assert_null(loaded);
    cdnopt_assert_contains(err, "is not a readable HDF5 file");
    cdnopt_assert_contains(err, "truncated.h5");

    /* A valid HDF5 file whose format attribute names another format. */
    hid_t file = H5Fcreate(other, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, 13);
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t attr = H5Acreate2(file, "format", type, space, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(attr, type, "cdnopt-model");
    H5Aclose(attr);
    H5Sclose(space);
    H5Tclose(type);
    H5Fclose(file);
    assert_int_equal(cdnopt_agent_load(other, &loaded, err), CDNOPT_EPARSE);
    cdnopt_assert_contains(err, "format is 'cdnopt-model', expected 'cdnopt-agent'");

    assert_int_equal(cdnopt_agent_load("/nonexistent/agent.h5", &loaded, err), CDNOPT_EIO);
    cdnopt_assert_contains(err, "cannot open agent file '/nonexistent/agent.h5'");

    /* A flipped bit in a weight fails the dataset's checksum: reported as damage, not
     * as a shape that would look the same as the expected one. */
    float weight = 0.0f;
    file = H5Fopen(good, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t set = H5Dopen2(file, "global/global0/kernel", H5P_DEFAULT);
    assert_true(set >= 0);
    hid_t one = H5Screate_simple(1, (hsize_t[]){1}, NULL);
    hid_t stored = H5Dget_space(set);
    H5Sselect_hyperslab(stored, H5S_SELECT_SET, (hsize_t[]){0, 0}, NULL, (hsize_t[]){1, 1},
                        NULL);
    assert_true(H5Dread(set, H5T_NATIVE_FLOAT, one, stored, H5P_DEFAULT, &weight) >= 0);
    H5Sclose(stored);
    H5Sclose(one);
    H5Dclose(set);
    H5Fclose(file);
    cdnopt_test_flip_first_match(good, &weight, sizeof weight);
    assert_int_equal(cdnopt_agent_load(good, &loaded, err), CDNOPT_EIO);
    assert_null(loaded);
    cdnopt_assert_contains(err, "dataset /global/global0/kernel cannot be read, so the file is");
}

/* A history of 12 days of the fixture's daily cycle with some day-to-day variation. */
static cdnopt_series *history_fixture(void)
{
    cdnopt_series *s = fixture_baseline(12, 3600);
    for (size_t i = 0; i < s->n; i++)
        s->v[i] *= 1.0 + 0.05 * (double)((i / 24) % 3);
    return s;
}

static void train_small(uint64_t seed, cdnopt_agent **out)
{
    cdnopt_series *history = history_fixture();
    size_t days[16];
    size_t n_days = cdnopt_episode_days(history, NULL, NULL, 0, days, 16);
    cdnopt_agent_params ap = cdnopt_agent_params_default();
    ap.hidden = 16;
    ap.mask_hidden = 8;
    ap.batch = 16;
    ap.seed = seed;
    cdnopt_train_params tp = cdnopt_train_params_default();
    tp.episodes = 6;
    tp.demo_episodes = 4;
    tp.workers = 2;
    tp.warmup = 32;
    tp.updates_per_episode = 4;
    tp.seed = seed;
    tp.episode.min_releases = 10;
    tp.episode.max_releases = 30;
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_agent_new(&ap, out, err), CDNOPT_OK);
    assert_int_equal(cdnopt_agent_train(*out, history, days, n_days, NULL, &tp, NULL, NULL, err),
                     CDNOPT_OK);
    cdnopt_series_free(history);
}

/* Two runs with one seed and worker count end with the same weights; another seed
 * does not. */
static void training_is_reproducible(void **state)
{
    (void)state;
    cdnopt_agent *a = NULL, *b = NULL, *c = NULL;
    train_small(3, &a);
    train_small(3, &b);
    train_small(4, &c);
    assert_true(a->updates > 0);
    for (int k = 0; k < DQN_HEADS; k++) {
        const cdnopt_params *pa = a->heads[k].online.ps, *pb = b->heads[k].online.ps;
        size_t n = cdnopt_params_count(pa);
        assert_memory_equal(cdnopt_params_values_const(pa), cdnopt_params_values_const(pb),
                            n * sizeof(float));
    }
    size_t n = cdnopt_params_count(a->heads[DQN_LOCAL].online.ps);
    assert_memory_not_equal(cdnopt_params_values_const(a->heads[DQN_LOCAL].online.ps),
                            cdnopt_params_values_const(c->heads[DQN_LOCAL].online.ps),
                            n * sizeof(float));
    cdnopt_agent_free(a);
    cdnopt_agent_free(b);
    cdnopt_agent_free(c);
}

/* Highest validation reduction the progress callback saw, and how many rows. */
typedef struct best_seen {
    double reduction;
    int rows;
} best_seen;

static int record_best(const cdnopt_train_progress *progress, void *user)
{
    best_seen *seen = user;
    if (progress->val_reduction > seen->reduction)
        seen->reduction = progress->val_reduction;
    seen->rows++;
    return 0;
}

/* Peak reduction of the agent's plan against the naive plan, as training validates. */
static double reduction_of(cdnopt_agent *agent, const cdnopt_series *base,
                           const cdnopt_release_set *set)
{
    cdnopt_rules rules = cdnopt_rules_default();
    cdnopt_schedule *plan = NULL, *naive = NULL;
    assert_int_equal(cdnopt_schedule_new(set->n, &plan), CDNOPT_OK);
    assert_int_equal(cdnopt_agent_plan(agent, base, set, &rules, plan, NULL), CDNOPT_OK);
    assert_int_equal(cdnopt_schedule_naive(set, &naive), CDNOPT_OK);
    cdnopt_figures planned, unplanned;
    assert_int_equal(cdnopt_schedule_evaluate(base, set, plan, &rules, NULL, &planned), CDNOPT_OK);
    assert_int_equal(cdnopt_schedule_evaluate(base, set, naive, &rules, NULL, &unplanned),
                     CDNOPT_OK);
    cdnopt_schedule_free(plan);
    cdnopt_schedule_free(naive);
    return 1.0 - planned.peak_gbps / unplanned.peak_gbps;
}

/* With keep_best the trained agent plans the two validation days exactly as well as
 * the best progress row reported (mean over the days), pretraining row included. */
static void keep_best_restores_best_weights(void **state)
{
    (void)state;
    cdnopt_series *history = history_fixture();
    size_t days[16];
    size_t n_days = cdnopt_episode_days(history, NULL, NULL, 0, days, 16);
    assert_true(n_days >= 3);
    cdnopt_series *val_base[2] = {NULL, NULL};
    cdnopt_release_set *val_set[2] = {NULL, NULL};
    cdnopt_rng rng;
    cdnopt_rng_seed(&rng, 9);
    cdnopt_episode_params vp = cdnopt_episode_params_default();
    vp.min_releases = vp.max_releases = 40;
    for (size_t k = 0; k < 2; k++)
        assert_int_equal(cdnopt_episode_draw(history, &days[n_days - 1 - k], 1, &vp, &rng,
                                             &val_base[k], NULL, &val_set[k], NULL),
                         CDNOPT_OK);
    cdnopt_validation validation = {(const cdnopt_series *const *)val_base,
                                    (const cdnopt_release_set *const *)val_set, 2, NULL};

    cdnopt_agent_params ap = cdnopt_agent_params_default();
    ap.hidden = 16;
    ap.mask_hidden = 8;
    ap.batch = 16;
    cdnopt_train_params tp = cdnopt_train_params_default();
    tp.episodes = 8;
    tp.demo_episodes = 4;
    tp.warmup = 32;
    tp.updates_per_episode = 4;
    tp.eps_start = tp.eps_end = 0.5; /* explore a lot, so that the rows differ */
    tp.episode.min_releases = 10;
    tp.episode.max_releases = 30;
    cdnopt_agent *agent = NULL;
    char err[CDNOPT_ERRMSG_MAX] = "";
    best_seen seen = {-INFINITY, 0};
    assert_int_equal(cdnopt_agent_new(&ap, &agent, err), CDNOPT_OK);
    assert_int_equal(cdnopt_agent_train(agent, history, days, n_days - 2, &validation, &tp,
                                        record_best, &seen, err),
                     CDNOPT_OK);
    assert_int_equal(seen.rows, 1 + tp.episodes / tp.workers);
    double mean = (reduction_of(agent, val_base[0], val_set[0]) +
                   reduction_of(agent, val_base[1], val_set[1])) / 2;
    assert_float_equal(mean, seen.reduction, 1e-12);

    for (size_t k = 0; k < 2; k++) {
        cdnopt_release_set_free(val_set[k]);
        cdnopt_series_free(val_base[k]);
    }
    cdnopt_agent_free(agent);
    cdnopt_series_free(history);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(double_dqn_target_hand_case),
        cmocka_unit_test(q_update_matches_hand_gradient),
        cmocka_unit_test(margin_loss_matches_hand_case),
        cmocka_unit_test(plan_rejects_unusable_setup),
        cmocka_unit_test(plan_release_off_grid),
        cmocka_unit_test(choice_stays_inside_mask),
        cmocka_unit_test(agent_never_forces_by_waiting),
        cmocka_unit_test(save_load_gives_same_actions),
        cmocka_unit_test(load_rejects_bad_files),
        cmocka_unit_test(training_is_reproducible),
        cmocka_unit_test(keep_best_restores_best_weights),
    };
    return cdnopt_test_main(argc, argv, "dqn", tests, sizeof tests / sizeof tests[0]);
}
