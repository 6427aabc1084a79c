/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The masked DQN agent: two Q-networks (global and local decisions) with target
 * copies, a mask network, action choice restricted to valid actions, double-DQN
 * targets and the gradient steps. Training loops live in dqn_train.c.
 */
#include "dqn-impl.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

cdnopt_agent_params cdnopt_agent_params_default(void)
{
    return (cdnopt_agent_params){
        .hidden = 128,
        .mask_hidden = 64,
        .lr = 5e-4,
        .gamma = 0.95,
        .clip_norm = 10.0,
        .batch = 64,
        .replay_capacity = 20000,
        .target_sync = 500,
        .mask_threshold = 0.5,
        .use_mask_net = true,
        .reward_scale = 10.0,
        .demo_margin = 0.05,
        .demo_share = 0.5,
        .objective = CDNOPT_OBJECTIVE_PEAK,
        .seed = 1,
    };
}

/* ------------------------------------------------------------------------- */
/* Multi-layer perceptron                                                    */
/* ------------------------------------------------------------------------- */

int dqn_mlp_init(dqn_mlp *m, const char *prefix, size_t n_in, const size_t *hidden,
                 int n_hidden, size_t n_out, cdnopt_rng *rng)
{
    memset(m, 0, sizeof *m);
    CDNOPT_ASSERT(n_hidden + 1 <= DQN_MAX_LAYERS);
    m->n_in = n_in;
    m->n_out = n_out;
    int rc = cdnopt_params_new(&m->ps);
    for (int l = 0; rc == CDNOPT_OK && l <= n_hidden; l++) {
        char name[32];
        snprintf(name, sizeof name, "%s%d", prefix, l);
        cdnopt_dense_params dp = cdnopt_dense_params_default();
        dp.n_in = l == 0 ? n_in : hidden[l - 1];
        dp.n_out = l == n_hidden ? n_out : hidden[l];
        dp.act = l == n_hidden ? CDNOPT_ACT_LINEAR : CDNOPT_ACT_RELU;
        dp.name = name;
        rc = cdnopt_dense_new(m->ps, &dp, rng, &m->layers[l]);
        if (rc == CDNOPT_OK)
            m->n_layers++;
    }
    if (rc != CDNOPT_OK)
        dqn_mlp_free(m);
    return rc;
}

void dqn_mlp_free(dqn_mlp *m)
{
    for (int l = 0; l < m->n_layers; l++)
        cdnopt_dense_free(m->layers[l]);
    cdnopt_params_free(m->ps);
    memset(m, 0, sizeof *m);
}

void dqn_delay_rows(const float *obs, size_t batch, float *rows)
{
    for (size_t b = 0; b < batch; b++) {
        const float *o = obs + b * CDNOPT_ENV_OBS;
        for (int d = 0; d < CDNOPT_ENV_DELAYS; d++) {
            float *r = rows + (b * CDNOPT_ENV_DELAYS + (size_t)d) * DQN_DELAY_FEATURES;
            const float *reach = o + CDNOPT_OBS_REACH + d * CDNOPT_ENV_RATIOS;
            const float *rise = o + CDNOPT_OBS_RISE + d * CDNOPT_ENV_RATIOS;
            memcpy(r, o + CDNOPT_OBS_CALENDAR, 8 * sizeof(float));
            memcpy(r + 8, o + CDNOPT_OBS_RELEASE, 8 * sizeof(float));
            r[16] = (float)d / (CDNOPT_ENV_DELAYS - 1);
            memcpy(r + 17, reach, CDNOPT_ENV_RATIOS * sizeof(float));
            memcpy(r + 17 + CDNOPT_ENV_RATIOS, rise, CDNOPT_ENV_RATIOS * sizeof(float));
            memcpy(r + 17 + 2 * CDNOPT_ENV_RATIOS, o + CDNOPT_OBS_TOTAL + d,
                   DQN_DELAY_HOURS * sizeof(float));
        }
    }
}

int dqn_mlp_forward(const dqn_mlp *m, cdnopt_scratch *scratch, size_t n_rows, const float *x,
                    cdnopt_trace **traces, float **out)
{
    const float *in = x;
    if (m->per_delay) {
        float *rows = cdnopt_scratch_floats(scratch, n_rows * CDNOPT_ENV_DELAYS * DQN_DELAY_FEATURES);
        if (!rows)
            return CDNOPT_ENOMEM;
        dqn_delay_rows(x, n_rows, rows);
        in = rows;
        n_rows *= CDNOPT_ENV_DELAYS;
    }
    for (int l = 0; l < m->n_layers; l++) {
        cdnopt_trace *t = NULL;
        int rc = cdnopt_dense_forward(m->layers[l], scratch, n_rows, in, &t);
        if (rc != CDNOPT_OK)
            return rc;
        if (traces)
            traces[l] = t;
        in = cdnopt_trace_output(t);
    }
    *out = (float *)in;
    return CDNOPT_OK;
}

int dqn_mlp_backward(const dqn_mlp *m, cdnopt_scratch *scratch, cdnopt_trace *const *traces,
                     const float *dy)
{
    const float *grad = dy;
    for (int l = m->n_layers - 1; l >= 0; l--) {
        float *dx = NULL;
        int rc = cdnopt_dense_backward(m->layers[l], scratch, traces[l], grad, l > 0 ? &dx : NULL);
        if (rc != CDNOPT_OK)
            return rc;
        grad = dx;
    }
    return CDNOPT_OK;
}

/* ------------------------------------------------------------------------- */
/* Construction                                                              */
/* ------------------------------------------------------------------------- */

static int check_params(const cdnopt_agent_params *p, char *err)
{
    if (p->hidden < 1 || p->hidden > 4096 || p->mask_hidden < 1 || p->mask_hidden > 4096)
        return cdnopt_fail(err, CDNOPT_EINVAL, "hidden units %d / mask units %d must be in "
                           "[1, 4096]", p->hidden, p->mask_hidden);
    if (!(p->lr > 0) || !(p->gamma >= 0 && p->gamma <= 1) || p->batch < 1 ||
        p->replay_capacity < (size_t)p->batch || p->target_sync < 1)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "invalid DQN settings: lr %g must be positive, gamma %g in [0, 1], "
                           "batch %d at least 1 and at most the replay capacity %zu, target "
                           "sync %d at least 1", p->lr, p->gamma, p->batch,
                           p->replay_capacity, p->target_sync);
    if (!(p->mask_threshold > 0 && p->mask_threshold < 1) || !(p->reward_scale > 0))
        return cdnopt_fail(err, CDNOPT_EINVAL, "mask threshold %g must be in (0, 1) and reward "
                           "scale %g positive", p->mask_threshold, p->reward_scale);
    if (!(p->demo_margin >= 0) || !(p->demo_share >= 0 && p->demo_share <= 1))
        return cdnopt_fail(err, CDNOPT_EINVAL, "demonstration margin %g must not be negative "
                           "and demonstration share %g must be in [0, 1]", p->demo_margin,
                           p->demo_share);
    if (p->objective != CDNOPT_OBJECTIVE_PEAK && p->objective != CDNOPT_OBJECTIVE_P95)
        return cdnopt_fail(err, CDNOPT_EINVAL, "unknown objective %d", (int)p->objective);
    return CDNOPT_OK;
}

/* The local head shares its weights across delays (see dqn_mlp); the global head reads
 * the whole observation. */
static int head_init(dqn_head *head, const char *prefix, int n_actions, size_t hidden,
                     const cdnopt_agent_params *p, cdnopt_rng *rng)
{
    size_t sizes[2] = {hidden, hidden};
    bool per_delay = n_actions == CDNOPT_ENV_LOCAL_ACTIONS;
    size_t n_in = per_delay ? DQN_DELAY_FEATURES : CDNOPT_ENV_OBS;
    size_t n_out = per_delay ? CDNOPT_ENV_RATIOS : (size_t)n_actions;
    head->n_actions = n_actions;
    int rc = dqn_mlp_init(&head->online, prefix, n_in, sizes, 2, n_out, rng);
    if (rc == CDNOPT_OK)
        rc = dqn_mlp_init(&head->target, prefix, n_in, sizes, 2, n_out, rng);
    head->online.per_delay = per_delay;
    head->target.per_delay = per_delay;
    if (rc == CDNOPT_OK)
        rc = cdnopt_params_copy_values(head->target.ps, head->online.ps);
    if (rc != CDNOPT_OK)
        return rc;

    cdnopt_adam_params ap = cdnopt_adam_params_default();
    ap.lr = (float)p->lr;
    ap.clip_norm = (float)p->clip_norm;
    return cdnopt_adam_new(&ap, cdnopt_params_count(head->online.ps), &head->adam);
}

static void head_free(dqn_head *head)
{
    dqn_mlp_free(&head->online);
    dqn_mlp_free(&head->target);
    cdnopt_adam_free(head->adam);
    dqn_replay_free(&head->replay);
    dqn_replay_free(&head->demo);
    memset(head, 0, sizeof *head);
}

int cdnopt_agent_new(const cdnopt_agent_params *params, cdnopt_agent **out, char *err)
{
    *out = NULL;
    cdnopt_agent_params p = params ? *params : cdnopt_agent_params_default();
    int rc = check_params(&p, err);
    if (rc != CDNOPT_OK)
        return rc;

    cdnopt_agent *agent = cdnopt_calloc(1, sizeof *agent);
    if (!agent)
        return cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory for the agent");
    agent->params = p;

    cdnopt_rng rng;
    cdnopt_rng_seed(&rng, p.seed);
    rc = head_init(&agent->heads[DQN_GLOBAL], "global", CDNOPT_ENV_GLOBAL_ACTIONS,
                   (size_t)p.hidden, &p, &rng);
    if (rc == CDNOPT_OK)
        rc = head_init(&agent->heads[DQN_LOCAL], "local", CDNOPT_ENV_LOCAL_ACTIONS,
                       (size_t)p.hidden, &p, &rng);
    size_t mask_hidden = (size_t)p.mask_hidden;
    if (rc == CDNOPT_OK)
        rc = dqn_mlp_init(&agent->mask, "mask", CDNOPT_ENV_OBS, &mask_hidden, 1,
                          CDNOPT_ENV_LOCAL_ACTIONS, &rng);
    if (rc == CDNOPT_OK) {
        cdnopt_adam_params ap = cdnopt_adam_params_default();
        ap.lr = (float)p.lr;
        ap.clip_norm = (float)p.clip_norm;
        rc = cdnopt_adam_new(&ap, cdnopt_params_count(agent->mask.ps), &agent->mask_adam);
    }
    if (rc == CDNOPT_OK)
        rc = cdnopt_scratch_new(0, &agent->scratch);
    if (rc != CDNOPT_OK) {
        cdnopt_agent_free(agent);
        return cdnopt_fail(err, rc, "cannot build the agent's networks: %s", cdnopt_strerror(rc));
    }
    *out = agent;
    return CDNOPT_OK;
}

void cdnopt_agent_free(cdnopt_agent *agent)
{
    if (!agent)
        return;
    for (int k = 0; k < DQN_HEADS; k++)
        head_free(&agent->heads[k]);
    dqn_mlp_free(&agent->mask);
    cdnopt_adam_free(agent->mask_adam);
    cdnopt_scratch_free(agent->scratch);
    cdnopt_free(agent);
}

const cdnopt_agent_params *cdnopt_agent_params_of(const cdnopt_agent *agent)
{
    return &agent->params;
}

int dqn_replays_init(cdnopt_agent *agent)
{
    /* Global decisions are far fewer than local ones (one per step against one per
     * release), so their rings are a quarter of the size. Demonstrations get rings of
     * their own, so that the agent's transitions never overwrite them. */
    size_t local_cap = agent->params.replay_capacity;
    size_t global_cap = local_cap / 4 > (size_t)agent->params.batch ? local_cap / 4
                                                                     : (size_t)agent->params.batch;
    dqn_replay *rings[4] = {&agent->heads[DQN_LOCAL].replay, &agent->heads[DQN_LOCAL].demo,
                            &agent->heads[DQN_GLOBAL].replay, &agent->heads[DQN_GLOBAL].demo};
    for (int k = 0; k < 4; k++) {
        bool local = k < 2;
        if (rings[k]->capacity > 0)
            continue;
        int rc = dqn_replay_init(rings[k], local ? local_cap : global_cap,
                                 local ? CDNOPT_ENV_LOCAL_ACTIONS : CDNOPT_ENV_GLOBAL_ACTIONS);
        if (rc != CDNOPT_OK)
            return rc;
    }
    return CDNOPT_OK;
}

/* ------------------------------------------------------------------------- */
/* Acting                                                                    */
/* ------------------------------------------------------------------------- */

/* Narrow the hard mask by the mask network's prediction, unless that leaves nothing. */
static int narrow_by_mask_net(const cdnopt_agent *agent, cdnopt_scratch *scratch,
                              const float *obs, uint8_t *valid)
{
    float *logits = NULL;
    int rc = dqn_mlp_forward(&agent->mask, scratch, 1, obs, NULL, &logits);
    if (rc != CDNOPT_OK)
        return rc;

    /* sigmoid(z) >= t  <=>  z >= log(t / (1 - t)) */
    double t = agent->params.mask_threshold;
    float cut = (float)log(t / (1.0 - t));
    uint8_t narrowed[CDNOPT_ENV_LOCAL_ACTIONS];
    int kept = 0;
    for (int a = 0; a < CDNOPT_ENV_LOCAL_ACTIONS; a++) {
        narrowed[a] = valid[a] && logits[a] >= cut;
        kept += narrowed[a];
    }
    if (kept > 0)
        memcpy(valid, narrowed, sizeof narrowed);
    return CDNOPT_OK;
}

static int draw_valid(const uint8_t *valid, int n_actions, cdnopt_rng *rng)
{
    int n_valid = 0;
    for (int a = 0; a < n_actions; a++)
        n_valid += valid[a];
    int pick = (int)cdnopt_rng_below(rng, (uint64_t)n_valid);
    for (int a = 0; a < n_actions; a++) {
        if (valid[a] && pick-- == 0)
            return a;
    }
    return -1;
}

static int argmax_valid(const float *q, const uint8_t *valid, int n_actions)
{
    int best = -1;
    for (int a = 0; a < n_actions; a++) {
        if (valid[a] && (best < 0 || q[a] > q[best]))
            best = a;
    }
    return best;
}

int dqn_choose(const cdnopt_agent *agent, int kind, cdnopt_scratch *scratch, const float *obs,
               const uint8_t *hard_mask, double epsilon, cdnopt_rng *rng, int *action)
{
    const dqn_head *head = &agent->heads[kind];
    int n_actions = head->n_actions;
    uint8_t valid[CDNOPT_ENV_MAX_ACTIONS];
    int n_valid = 0;
    for (int a = 0; a < n_actions; a++) {
        valid[a] = hard_mask[a] ? 1 : 0;
        n_valid += valid[a];
    }
    if (n_valid == 0)
        return CDNOPT_EINVAL;

    cdnopt_scratch_reset(scratch);
    int rc = CDNOPT_OK;
    if (kind == DQN_LOCAL && agent->params.use_mask_net)
        rc = narrow_by_mask_net(agent, scratch, obs, valid);
    if (rc != CDNOPT_OK)
        return rc;

    if (epsilon > 0 && cdnopt_rng_uniform(rng) < epsilon) {
        *action = draw_valid(valid, n_actions, rng);
        return CDNOPT_OK;
    }
    float *q = NULL;
    rc = dqn_mlp_forward(&head->online, scratch, 1, obs, NULL, &q);
    if (rc != CDNOPT_OK)
        return rc;
    *action = argmax_valid(q, valid, n_actions);
    return CDNOPT_OK;
}

void dqn_policy_mask(const cdnopt_env *env, uint8_t *mask)
{
    cdnopt_env_mask(env, mask);
    if (!cdnopt_env_wait_forces(env))
        return;
    for (int shard = 0; shard < CDNOPT_ENV_SHARDS; shard++)
        mask[shard * CDNOPT_ENV_LEVELS] = 0; /* level 0 is the first level of a shard */
}

int cdnopt_agent_act(cdnopt_agent *agent, const cdnopt_env *env, double epsilon, cdnopt_rng *rng,
                     int *action)
{
    cdnopt_env_phase phase = cdnopt_env_phase_of(env);
    if (phase == CDNOPT_ENV_DONE)
        return CDNOPT_EINVAL;
    float obs[CDNOPT_ENV_OBS];
    uint8_t mask[CDNOPT_ENV_MAX_ACTIONS];
    cdnopt_env_observe(env, obs);
    dqn_policy_mask(env, mask);
    return dqn_choose(agent, (int)phase, agent->scratch, obs, mask, epsilon, rng, action);
}

int cdnopt_agent_run_episode(cdnopt_agent *agent, cdnopt_env *env, char *err)
{
    while (cdnopt_env_phase_of(env) != CDNOPT_ENV_DONE) {
        int action = -1;
        int rc = cdnopt_agent_act(agent, env, 0.0, NULL, &action);
        if (rc != CDNOPT_OK)
            return cdnopt_fail(err, rc, "the agent failed to choose an action: %s",
                               cdnopt_strerror(rc));
        cdnopt_env_step_result result;
        rc = cdnopt_env_step(env, action, &result, err);
        if (rc != CDNOPT_OK)
            return rc;
    }
    return CDNOPT_OK;
}

/* ------------------------------------------------------------------------- */
/* Updates                                                                   */
/* ------------------------------------------------------------------------- */

/* Q-values per observation: with per_delay, the rows of its delays side by side. */
static size_t mlp_outputs(const dqn_mlp *m)
{
    return m->per_delay ? m->n_out * CDNOPT_ENV_DELAYS : m->n_out;
}

int dqn_targets(const dqn_mlp *online, const dqn_mlp *target, cdnopt_scratch *scratch,
                size_t batch, const float *next_obs, const uint8_t *next_mask,
                const float *reward, const float *discount, float *y)
{
    float *q_online = NULL, *q_target = NULL;
    int rc = dqn_mlp_forward(online, scratch, batch, next_obs, NULL, &q_online);
    if (rc == CDNOPT_OK)
        rc = dqn_mlp_forward(target, scratch, batch, next_obs, NULL, &q_target);
    if (rc != CDNOPT_OK)
        return rc;

    int n_actions = (int)mlp_outputs(online);
    for (size_t b = 0; b < batch; b++) {
        y[b] = reward[b];
        if (!(discount[b] > 0))
            continue;
        size_t row = b * (size_t)n_actions;
        int best = argmax_valid(q_online + row, next_mask + row, n_actions);
        if (best >= 0)
            y[b] += discount[b] * q_target[row + (size_t)best];
    }
    return CDNOPT_OK;
}

/*
 * Large-margin loss of a demonstration row (Hester et al. 2018, "Deep Q-learning from
 * Demonstrations"): max over valid a of (Q(s, a) + margin [a != a_E]) - Q(s, a_E). Its
 * gradient is +1 at the maximising action and -1 at the expert's action a_E, so it is
 * zero once Q(s, a_E) beats every other valid action by the margin. Returns the loss.
 */
static double add_margin_grad(const float *q, const uint8_t *valid, size_t n_actions, int expert,
                              double margin, double weight, float *dy)
{
    int best = expert;
    double best_value = q[expert];
    for (size_t a = 0; a < n_actions; a++) {
        double value = (double)q[a] + ((int)a == expert ? 0.0 : margin);
        if (valid[a] && value > best_value) {
            best_value = value;
            best = (int)a;
        }
    }
    dy[best] += (float)weight;
    dy[expert] -= (float)weight;
    return best_value - (double)q[expert];
}

int dqn_fit_batch(dqn_head *head, cdnopt_scratch *scratch, size_t batch, const float *obs,
                  const int16_t *action, const float *y, const dqn_margin *margin, float *loss)
{
    cdnopt_trace *traces[DQN_MAX_LAYERS];
    float *q = NULL;
    int rc = dqn_mlp_forward(&head->online, scratch, batch, obs, traces, &q);
    if (rc != CDNOPT_OK)
        return rc;

    /* Huber loss with delta 1: 0.5 e^2 inside [-1, 1], |e| - 0.5 outside; its gradient
     * is e clipped to [-1, 1]. Only the taken action's output gets a gradient. */
    size_t n_actions = mlp_outputs(&head->online);
    float *dy = cdnopt_scratch_zeros(scratch, batch * n_actions);
    if (!dy)
        return CDNOPT_ENOMEM;
    double total = 0;
    for (size_t b = 0; b < batch; b++) {
        size_t k = b * n_actions + (size_t)action[b];
        double e = (double)q[k] - (double)y[b];
        total += fabs(e) <= 1 ? 0.5 * e * e : fabs(e) - 0.5;
        dy[k] = (float)(fmax(-1.0, fmin(1.0, e)) / (double)batch);
        if (margin && margin->demo[b])
            total += add_margin_grad(q + b * n_actions, margin->valid + b * n_actions, n_actions,
                                     action[b], margin->margin, 1.0 / (double)batch,
                                     dy + b * n_actions);
    }
    *loss = (float)(total / (double)batch);
    if (!isfinite(*loss))
        return CDNOPT_ENUMERIC;

    cdnopt_params_zero_grads(head->online.ps);
    rc = dqn_mlp_backward(&head->online, scratch, traces, dy);
    if (rc != CDNOPT_OK)
        return rc;
    return cdnopt_adam_step(head->adam, head->online.ps);
}

/* Rows of one update, contiguous in the arena. */
typedef struct dqn_batch {
    float *obs, *next_obs, *reward, *discount, *y;
    uint8_t *next_mask, *mask, *demo;
    int16_t *action;
} dqn_batch;

static int batch_alloc(cdnopt_scratch *scratch, size_t batch, size_t n_actions, dqn_batch *out)
{
    out->obs = cdnopt_scratch_floats(scratch, batch * CDNOPT_ENV_OBS);
    out->next_obs = cdnopt_scratch_floats(scratch, batch * CDNOPT_ENV_OBS);
    out->reward = cdnopt_scratch_floats(scratch, batch);
    out->y = cdnopt_scratch_floats(scratch, batch);
    out->mask = cdnopt_scratch_alloc(scratch, batch * n_actions);
    out->next_mask = cdnopt_scratch_alloc(scratch, batch * n_actions);
    out->demo = cdnopt_scratch_alloc(scratch, batch);
    out->discount = cdnopt_scratch_floats(scratch, batch);
    out->action = cdnopt_scratch_alloc(scratch, batch * sizeof(int16_t));
    if (!out->obs || !out->next_obs || !out->reward || !out->y || !out->mask ||
        !out->next_mask || !out->demo || !out->discount || !out->action)
        return CDNOPT_ENOMEM;
    return CDNOPT_OK;
}

/* Copy count random transitions of replay into rows [first, first + count) of out. */
static void gather(const dqn_replay *replay, cdnopt_rng *rng, size_t first, size_t count,
                   bool demo, dqn_batch *out)
{
    size_t obs_bytes = CDNOPT_ENV_OBS * sizeof(float), n_actions = (size_t)replay->n_actions;
    for (size_t b = first; b < first + count; b++) {
        size_t s = (size_t)cdnopt_rng_below(rng, replay->size);
        memcpy(out->obs + b * CDNOPT_ENV_OBS, replay->obs + s * CDNOPT_ENV_OBS, obs_bytes);
        memcpy(out->next_obs + b * CDNOPT_ENV_OBS, replay->next_obs + s * CDNOPT_ENV_OBS,
               obs_bytes);
        memcpy(out->mask + b * n_actions, replay->mask + s * n_actions, n_actions);
        memcpy(out->next_mask + b * n_actions, replay->next_mask + s * n_actions, n_actions);
        out->reward[b] = replay->reward[s];
        out->discount[b] = replay->discount[s];
        out->action[b] = replay->action[s];
        out->demo[b] = demo;
    }
}

/*
 * Draw a batch: demo_share of it from the demonstrations and the rest from the agent's
 * own transitions, or all of it from whichever ring is not empty.
 */
static int draw_batch(const cdnopt_agent *agent, const dqn_head *head, cdnopt_rng *rng,
                      size_t batch, dqn_batch *out)
{
    int rc = batch_alloc(agent->scratch, batch, (size_t)head->n_actions, out);
    if (rc != CDNOPT_OK)
        return rc;
    size_t n_demo = (size_t)lround(agent->params.demo_share * (double)batch);
    if (head->demo.size == 0)
        n_demo = 0;
    if (head->replay.size == 0)
        n_demo = batch;
    if (n_demo > 0)
        gather(&head->demo, rng, 0, n_demo, true, out);
    if (n_demo < batch)
        gather(&head->replay, rng, n_demo, batch - n_demo, false, out);
    return CDNOPT_OK;
}

int dqn_update_head(cdnopt_agent *agent, int kind, cdnopt_rng *rng, float *loss)
{
    dqn_head *head = &agent->heads[kind];
    size_t batch = (size_t)agent->params.batch;
    if (head->replay.size == 0 && head->demo.size == 0)
        return CDNOPT_EINVAL;

    cdnopt_scratch_reset(agent->scratch);
    dqn_batch b;
    int rc = draw_batch(agent, head, rng, batch, &b);
    if (rc == CDNOPT_OK)
        rc = dqn_targets(&head->online, &head->target, agent->scratch, batch, b.next_obs,
                         b.next_mask, b.reward, b.discount, b.y);
    dqn_margin margin = {b.demo, b.mask, (float)agent->params.demo_margin};
    if (rc == CDNOPT_OK)
        rc = dqn_fit_batch(head, agent->scratch, batch, b.obs, b.action, b.y, &margin, loss);
    if (rc != CDNOPT_OK)
        return rc;

    if (kind == DQN_LOCAL) {
        agent->updates++;
        if (agent->updates % (uint64_t)agent->params.target_sync == 0)
            dqn_sync_targets(agent);
    }
    return CDNOPT_OK;
}

int dqn_update_mask(cdnopt_agent *agent, cdnopt_rng *rng, float *accuracy)
{
    const dqn_head *head = &agent->heads[DQN_LOCAL];
    size_t batch = (size_t)agent->params.batch;
    if (head->replay.size == 0 && head->demo.size == 0)
        return CDNOPT_EINVAL;

    cdnopt_scratch_reset(agent->scratch);
    dqn_batch b;
    cdnopt_trace *traces[DQN_MAX_LAYERS];
    float *logits = NULL;
    int rc = draw_batch(agent, head, rng, batch, &b);
    if (rc == CDNOPT_OK)
        rc = dqn_mlp_forward(&agent->mask, agent->scratch, batch, b.obs, traces, &logits);
    if (rc != CDNOPT_OK)
        return rc;

    /* Binary cross-entropy on sigmoid(logit): its gradient in the logit is p - y. */
    size_t n = batch * CDNOPT_ENV_LOCAL_ACTIONS;
    float *dy = cdnopt_scratch_floats(agent->scratch, n);
    if (!dy)
        return CDNOPT_ENOMEM;
    size_t right = 0;
    for (size_t k = 0; k < n; k++) {
        double p = 1.0 / (1.0 + exp(-(double)logits[k]));
        double target = b.mask[k] ? 1.0 : 0.0;
        dy[k] = (float)((p - target) / (double)batch);
        right += (p >= agent->params.mask_threshold) == (b.mask[k] != 0);
    }
    *accuracy = (float)right / (float)n;

    cdnopt_params_zero_grads(agent->mask.ps);
    rc = dqn_mlp_backward(&agent->mask, agent->scratch, traces, dy);
    if (rc != CDNOPT_OK)
        return rc;
    return cdnopt_adam_step(agent->mask_adam, agent->mask.ps);
}

void dqn_sync_targets(cdnopt_agent *agent)
{
    for (int k = 0; k < DQN_HEADS; k++) {
        int rc = cdnopt_params_copy_values(agent->heads[k].target.ps, agent->heads[k].online.ps);
        CDNOPT_ASSERT(rc == CDNOPT_OK);
    }
}
