/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Training of the masked DQN. Each round runs one episode per worker thread with the
 * current weights (read-only, each thread with its own scratch arena), then the main
 * thread stores the transitions in worker order and runs the gradient updates. The
 * episode draws and the exploration of worker w in round k come from the stream
 * k * workers + w of the training seed, so a run is reproducible for a seed and a
 * worker count, whatever the thread timing.
 *
 * Transitions: a local decision's one-step reward is minus the objective increase of
 * its own placement, and its next state is the next local decision. A global
 * decision's one-step reward is everything that happened until the next global
 * decision: the placements of its step and the forced placements after it, so that
 * the sum of the global rewards is the episode return. The replay receives n-step
 * transitions built from these chains (Sutton 1988; as in Hessel et al. 2018,
 * "Rainbow"), because a placement's effect on the peak often shows only several
 * decisions later.
 *
 * Demonstrations (Hester et al. 2018, "Deep Q-learning from Demonstrations"): before
 * the first round, the environment's one-step greedy expert (cdnopt_env_expert_action())
 * plays demo_episodes episodes. They are stored as n-step transitions in rings of
 * their own. Pretraining then runs updates_per_episode updates per demonstration
 * episode on them alone, with the TD loss plus a large-margin loss that ranks the
 * expert's action first. Every later update draws demo_share of its batch from them.
 * With demo_expert planner, each demonstration episode first runs the greedy planner on
 * its day, and the expert replays that schedule (cdnopt_env_plan_expert()).
 * The demonstration episodes use streams (1 << 40) + k of the seed, apart from the
 * training rounds' streams.
 */
#include "dqn-impl.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

/* One transition as a worker records it. */
typedef struct worker_rec {
    float obs[CDNOPT_ENV_OBS];
    uint8_t mask[CDNOPT_ENV_MAX_ACTIONS];
    int16_t action;
    uint8_t kind; /* DQN_GLOBAL or DQN_LOCAL */
    float reward; /* scaled one-step reward */
} worker_rec;

typedef struct worker {
    const cdnopt_agent *agent;
    bool expert;                /* play the environment's expert instead of the agent */
    cdnopt_demo_expert demo_expert; /* the expert's kind */
    const cdnopt_series *history;
    const size_t *days;
    size_t n_days;
    const cdnopt_episode_params *episode;
    cdnopt_rng rng;
    double epsilon;
    cdnopt_scratch *scratch;
    worker_rec *recs;
    size_t n_recs, cap;
    double episode_return; /* Gbit/s, negative */
    int rc;
    char err[CDNOPT_ERRMSG_MAX];
} worker;

cdnopt_train_params cdnopt_train_params_default(void)
{
    return (cdnopt_train_params){
        .episodes = 1200,
        .workers = 2,
        .eps_start = 0.1,
        .eps_end = 0.01,
        .eps_decay_share = 0.6,
        .updates_per_episode = 32,
        .n_step = 8,
        .warmup = 1000,
        .demo_episodes = 200,
        .keep_best = true,
        .episode = cdnopt_episode_params_default(),
        .seed = 1,
    };
}

/* Linear decay from eps_start to eps_end over the first eps_decay_share of episodes. */
static double epsilon_at(const cdnopt_train_params *p, int episode)
{
    double span = p->eps_decay_share * p->episodes;
    if (span <= 0 || episode >= span)
        return p->eps_end;
    return p->eps_start + (p->eps_end - p->eps_start) * (episode / span);
}

/* ------------------------------------------------------------------------- */
/* Workers                                                                   */
/* ------------------------------------------------------------------------- */

static worker_rec *new_rec(worker *w)
{
    if (w->n_recs == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 512;
        worker_rec *grown = cdnopt_realloc(w->recs, cap * sizeof *grown);
        if (!grown)
            return NULL;
        w->recs = grown;
        w->cap = cap;
    }
    worker_rec *rec = &w->recs[w->n_recs++];
    memset(rec, 0, sizeof *rec);
    return rec;
}

/* Play one episode on env and record its transitions. */
static int play(worker *w, cdnopt_env *env)
{
    double scale = w->agent->params.reward_scale / cdnopt_env_scale(env);
    long open_global = -1;
    w->episode_return = 0;

    while (cdnopt_env_phase_of(env) != CDNOPT_ENV_DONE) {
        int kind = (int)cdnopt_env_phase_of(env);
        worker_rec *rec = new_rec(w);
        if (!rec)
            return cdnopt_fail(w->err, CDNOPT_ENOMEM, "out of memory for transitions");
        cdnopt_env_observe(env, rec->obs);
        dqn_policy_mask(env, rec->mask);
        rec->kind = (uint8_t)kind;
        long index = (long)(rec - w->recs);
        if (kind == DQN_GLOBAL)
            open_global = index;

        int action = -1;
        int rc = w->expert ? cdnopt_env_expert_action(env, &action)
                           : dqn_choose(w->agent, kind, w->scratch, rec->obs, rec->mask,
                                        w->epsilon, &w->rng, &action);
        if (rc != CDNOPT_OK)
            return cdnopt_fail(w->err, rc, "choosing an action failed: %s", cdnopt_strerror(rc));
        rec->action = (int16_t)action;

        cdnopt_env_step_result result;
        rc = cdnopt_env_step(env, action, &result, w->err);
        if (rc != CDNOPT_OK)
            return rc;
        w->episode_return += result.reward + result.forced_reward;
        if (kind == DQN_LOCAL)
            w->recs[index].reward = (float)(result.reward * scale);
        if (open_global >= 0)
            w->recs[open_global].reward += (float)((result.reward + result.forced_reward) * scale);
    }
    return CDNOPT_OK;
}

/* Let the expert replay greedy's schedule of the episode. NOTE: a drawn day on which
 * greedy finds no option among the agent's for some release keeps the one-step expert
 * for the whole episode, so such days still give demonstrations. */
static int set_planner_expert(cdnopt_env *env, const cdnopt_series *baseline, char *err)
{
    int passes = cdnopt_plan_params_default().local_search_passes;
    int rc = cdnopt_env_plan_expert(env, baseline, passes, err);
    return rc == CDNOPT_EINVAL ? CDNOPT_OK : rc;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    w->n_recs = 0;
    cdnopt_series *baseline = NULL, *observed = NULL;
    cdnopt_release_set *releases = NULL;
    cdnopt_env *env = NULL;
    w->rc = cdnopt_episode_draw(w->history, w->days, w->n_days, w->episode, &w->rng, &baseline,
                                &observed, &releases, w->err);
    if (w->rc == CDNOPT_OK) {
        cdnopt_env_params ep = cdnopt_env_params_default();
        ep.objective = w->agent->params.objective;
        ep.observed = observed;
        w->rc = cdnopt_env_new(baseline, releases, &ep, &env, w->err);
    }
    /* The expert plans on what the agent observes. */
    if (w->rc == CDNOPT_OK && w->expert && w->demo_expert == CDNOPT_DEMO_EXPERT_PLANNER)
        w->rc = set_planner_expert(env, observed ? observed : baseline, w->err);
    if (w->rc == CDNOPT_OK)
        w->rc = play(w, env);
    cdnopt_env_free(env);
    cdnopt_release_set_free(releases);
    cdnopt_series_free(observed);
    cdnopt_series_free(baseline);
    return NULL;
}

/* Run one episode per worker, in threads when there are several. */
static int run_round(worker *workers, int n_workers, char *err)
{
    pthread_t threads[64];
    int started = 0;
    for (int k = 1; k < n_workers; k++) {
        if (pthread_create(&threads[k], NULL, worker_main, &workers[k]) != 0)
            break;
        started = k;
    }
    worker_main(&workers[0]);
    for (int k = 1; k <= started; k++)
        pthread_join(threads[k], NULL);
    for (int k = started + 1; k < n_workers; k++)
        worker_main(&workers[k]);

    for (int k = 0; k < n_workers; k++) {
        if (workers[k].rc != CDNOPT_OK)
            return cdnopt_fail(err, workers[k].rc, "worker %d: %s", k, workers[k].err);
    }
    return CDNOPT_OK;
}

/*
 * Store one worker's decisions of one kind as n-step transitions: the reward of
 * decision p is sum_{k<n} gamma^k r[p + k] (gamma 1 for global decisions) and its
 * next state is decision p + n, or terminal when the episode ends first. chain lists
 * the indices of that kind in order.
 */
static void store_chain(cdnopt_agent *agent, const worker *w, int kind, const size_t *chain,
                        size_t n, int n_step)
{
    dqn_replay *ring = w->expert ? &agent->heads[kind].demo : &agent->heads[kind].replay;
    /* Global rewards are undiscounted: they sum to the episode return, and a discount
     * would make waiting (level 0), which only defers placements and loses options,
     * look better than placing now. */
    double gamma = kind == DQN_GLOBAL ? 1.0 : agent->params.gamma;
    for (size_t p = 0; p < n; p++) {
        const worker_rec *rec = &w->recs[chain[p]];
        double reward = 0, power = 1;
        size_t k = 0;
        for (; k < (size_t)n_step && p + k < n; k++) {
            reward += power * w->recs[chain[p + k]].reward;
            power *= gamma;
        }
        const worker_rec *next = p + k < n ? &w->recs[chain[p + k]] : rec;
        dqn_transition t = {rec->obs, next->obs, rec->mask, next->mask, rec->action,
                            (float)reward, p + k < n ? (float)power : 0.0f};
        dqn_replay_push(ring, &t);
    }
}

/* Store the round's transitions in worker order, global ones before local ones. */
static int store_round(cdnopt_agent *agent, const worker *workers, int n_workers, int n_step)
{
    for (int w = 0; w < n_workers; w++) {
        size_t n = workers[w].n_recs;
        size_t *chain = cdnopt_malloc((n > 0 ? n : 1) * sizeof *chain);
        if (!chain)
            return CDNOPT_ENOMEM;
        for (int kind = 0; kind < DQN_HEADS; kind++) {
            size_t len = 0;
            for (size_t j = 0; j < n; j++) {
                if (workers[w].recs[j].kind == kind)
                    chain[len++] = j;
            }
            store_chain(agent, &workers[w], kind, chain, len, n_step);
        }
        cdnopt_free(chain);
    }
    return CDNOPT_OK;
}

/* ------------------------------------------------------------------------- */
/* Rounds shared between processes (cdnopt_rollout_hooks)                    */
/* ------------------------------------------------------------------------- */

void cdnopt_agent_set_rollout_hooks(cdnopt_agent *agent, const cdnopt_rollout_hooks *hooks)
{
    if (hooks == NULL)
        memset(&agent->rollout, 0, sizeof agent->rollout);
    else
        agent->rollout = *hooks;
}

static bool sharing(const cdnopt_agent *agent)
{
    return agent->rollout.n_ranks > 1;
}

static bool is_learner(const cdnopt_agent *agent)
{
    return !sharing(agent) || agent->rollout.rank == 0;
}

/* Workers [*first, *first + *count) of n that process rank plays. */
static void rank_share(int n, int rank, int n_ranks, int *first, int *count)
{
    int base = n / n_ranks, extra = n % n_ranks;
    *first = rank * base + (rank < extra ? rank : extra);
    *count = base + (rank < extra ? 1 : 0);
}

/*
 * Message of one process's played workers, in worker order: for each, the record
 * count (uint64), the episode return (double) and the records as they are in memory.
 * NOTE: records travel as raw structs, so every process must run the same build on
 * the same architecture (as an MPI job of one binary does).
 */
static int send_workers(const cdnopt_agent *agent, const worker *workers, int count, char *err)
{
    size_t bytes = 0;
    for (int k = 0; k < count; k++)
        bytes += sizeof(uint64_t) + sizeof(double) + workers[k].n_recs * sizeof(worker_rec);
    unsigned char *buf = cdnopt_malloc(bytes > 0 ? bytes : 1);
    if (!buf)
        return cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory packing %zu bytes of transitions",
                           bytes);

    unsigned char *p = buf;
    for (int k = 0; k < count; k++) {
        uint64_t n = workers[k].n_recs;
        memcpy(p, &n, sizeof n);
        memcpy(p + sizeof n, &workers[k].episode_return, sizeof(double));
        p += sizeof n + sizeof(double);
        if (n > 0)
            memcpy(p, workers[k].recs, n * sizeof(worker_rec));
        p += n * sizeof(worker_rec);
    }
    int rc = agent->rollout.send(buf, bytes, agent->rollout.user);
    cdnopt_free(buf);
    if (rc != CDNOPT_OK)
        return cdnopt_fail(err, rc, "sending %d episodes to the learner failed: %s", count,
                           cdnopt_strerror(rc));
    return CDNOPT_OK;
}

/* Unpack one worker of a send_workers() message at *p, with remaining bytes left. */
static int unpack_worker(worker *w, const unsigned char **p, size_t *left)
{
    uint64_t n = 0;
    if (*left < sizeof n + sizeof(double))
        return CDNOPT_EPARSE;
    memcpy(&n, *p, sizeof n);
    memcpy(&w->episode_return, *p + sizeof n, sizeof(double));
    *p += sizeof n + sizeof(double);
    *left -= sizeof n + sizeof(double);
    if (n > *left / sizeof(worker_rec))
        return CDNOPT_EPARSE;

    if (n > w->cap) {
        worker_rec *grown = cdnopt_realloc(w->recs, n * sizeof *grown);
        if (!grown)
            return CDNOPT_ENOMEM;
        w->recs = grown;
        w->cap = n;
    }
    if (n > 0)
        memcpy(w->recs, *p, n * sizeof(worker_rec));
    w->n_recs = n;
    w->rc = CDNOPT_OK;
    *p += n * sizeof(worker_rec);
    *left -= n * sizeof(worker_rec);
    return CDNOPT_OK;
}

/* On the learner: receive the workers that process source played. */
static int recv_workers(const cdnopt_agent *agent, int source, worker *workers, int count,
                        char *err)
{
    void *msg = NULL;
    size_t bytes = 0;
    int rc = agent->rollout.recv(source, &msg, &bytes, agent->rollout.user);
    if (rc != CDNOPT_OK)
        return cdnopt_fail(err, rc, "receiving the episodes of process %d failed: %s", source,
                           cdnopt_strerror(rc));

    const unsigned char *p = msg;
    size_t left = bytes;
    for (int k = 0; rc == CDNOPT_OK && k < count; k++)
        rc = unpack_worker(&workers[k], &p, &left);
    cdnopt_free(msg);
    if (rc == CDNOPT_OK && left != 0)
        rc = CDNOPT_EPARSE;
    if (rc != CDNOPT_OK)
        return cdnopt_fail(err, rc, "the %zu-byte message of process %d does not hold %d "
                           "episodes: %s", bytes, source, count, cdnopt_strerror(rc));
    return CDNOPT_OK;
}

/* Play this process's share of the round, then gather every share on the learner. */
static int run_shared_round(const cdnopt_agent *agent, worker *workers, int n_workers, char *err)
{
    const cdnopt_rollout_hooks *h = &agent->rollout;
    int first = 0, count = 0;
    rank_share(n_workers, h->rank, h->n_ranks, &first, &count);
    int rc = count > 0 ? run_round(workers + first, count, err) : CDNOPT_OK;
    if (rc != CDNOPT_OK)
        return rc;
    if (h->rank != 0)
        return send_workers(agent, workers + first, count, err);

    for (int r = 1; r < h->n_ranks; r++) {
        rank_share(n_workers, r, h->n_ranks, &first, &count);
        rc = recv_workers(agent, r, workers + first, count, err);
        if (rc != CDNOPT_OK)
            return rc;
    }
    return CDNOPT_OK;
}

/* Copy the weights that acting reads (both online Q networks and the mask network)
 * from the learner to every process. */
static int bcast_weights(cdnopt_agent *agent, char *err)
{
    dqn_mlp *nets[] = {&agent->heads[DQN_GLOBAL].online, &agent->heads[DQN_LOCAL].online,
                       &agent->mask};
    for (size_t i = 0; i < sizeof nets / sizeof nets[0]; i++) {
        size_t bytes = cdnopt_params_count(nets[i]->ps) * sizeof(float);
        int rc = agent->rollout.bcast(cdnopt_params_values(nets[i]->ps), bytes,
                                      agent->rollout.user);
        if (rc != CDNOPT_OK)
            return cdnopt_fail(err, rc, "broadcasting the weights failed: %s",
                               cdnopt_strerror(rc));
    }
    return CDNOPT_OK;
}

/* ------------------------------------------------------------------------- */
/* Updates and validation                                                    */
/* ------------------------------------------------------------------------- */

typedef struct round_stats {
    double loss_sum;
    double accuracy_sum;
    int n_updates;
} round_stats;

static int update_round(cdnopt_agent *agent, int n_updates, cdnopt_rng *rng, round_stats *stats,
                        char *err)
{
    size_t batch = (size_t)agent->params.batch;
    for (int u = 0; u < n_updates; u++) {
        float loss = 0, accuracy = 0;
        int rc = dqn_update_head(agent, DQN_LOCAL, rng, &loss);
        const dqn_head *global = &agent->heads[DQN_GLOBAL];
        if (rc == CDNOPT_OK && global->replay.size + global->demo.size >= batch) {
            float global_loss = 0;
            rc = dqn_update_head(agent, DQN_GLOBAL, rng, &global_loss);
        }
        if (rc == CDNOPT_OK)
            rc = dqn_update_mask(agent, rng, &accuracy);
        if (rc != CDNOPT_OK)
            return cdnopt_fail(err, rc, "gradient update %d failed: %s", u, cdnopt_strerror(rc));
        stats->loss_sum += loss;
        stats->accuracy_sum += accuracy;
        stats->n_updates++;
    }
    return CDNOPT_OK;
}

/* Peak reduction of the greedy policy against the naive plan, mean over the days. */
static int validate(cdnopt_agent *agent, const cdnopt_validation *val, const double *naive_peak,
                    double *reduction, char *err)
{
    cdnopt_rules rules = cdnopt_rules_default();
    double sum = 0;
    for (size_t k = 0; k < val->n; k++) {
        const cdnopt_series *base = val->baselines[k];
        const cdnopt_release_set *set = val->sets[k];
        cdnopt_schedule *schedule = NULL;
        int rc = cdnopt_schedule_new(set->n, &schedule);
        /* The agent plans on what it observes; the reduction is measured on the baseline. */
        const cdnopt_series *seen = val->observed ? val->observed[k] : base;
        if (rc == CDNOPT_OK)
            rc = cdnopt_agent_plan_observed(agent, base, seen, set, &rules, schedule, err);
        cdnopt_figures figures;
        if (rc == CDNOPT_OK)
            rc = cdnopt_schedule_evaluate(base, set, schedule, &rules, NULL, &figures);
        cdnopt_schedule_free(schedule);
        if (rc != CDNOPT_OK)
            return rc;
        sum += 1.0 - figures.peak_gbps / naive_peak[k];
    }
    *reduction = sum / (double)val->n;
    return CDNOPT_OK;
}

static int naive_peak_of(const cdnopt_series *base, const cdnopt_release_set *set, double *peak)
{
    cdnopt_rules rules = cdnopt_rules_default();
    cdnopt_schedule *naive = NULL;
    int rc = cdnopt_schedule_naive(set, &naive);
    cdnopt_figures figures;
    if (rc == CDNOPT_OK)
        rc = cdnopt_schedule_evaluate(base, set, naive, &rules, NULL, &figures);
    cdnopt_schedule_free(naive);
    if (rc == CDNOPT_OK)
        *peak = figures.peak_gbps;
    return rc;
}

/* ------------------------------------------------------------------------- */
/* Training loop                                                             */
/* ------------------------------------------------------------------------- */

static int check_train_params(const cdnopt_train_params *p, char *err)
{
    if (p->episodes < 1 || p->workers < 1 || p->workers > 64)
        return cdnopt_fail(err, CDNOPT_EINVAL, "episodes %d must be positive and workers %d in "
                           "[1, 64]", p->episodes, p->workers);
    if (!(p->eps_start >= 0 && p->eps_start <= 1 && p->eps_end >= 0 && p->eps_end <= 1) ||
        p->updates_per_episode < 0 || p->warmup < 0 || p->n_step < 1 || p->n_step > 1000 ||
        p->demo_episodes < 0)
        return cdnopt_fail(err, CDNOPT_EINVAL, "epsilon %g -> %g must lie in [0, 1], updates, "
                           "warm-up and demonstration episodes (%d) must not be negative, "
                           "n-step %d must be in [1, 1000]",
                           p->eps_start, p->eps_end, p->demo_episodes, p->n_step);
    if (p->demo_expert != CDNOPT_DEMO_EXPERT_ONESTEP &&
        p->demo_expert != CDNOPT_DEMO_EXPERT_PLANNER)
        return cdnopt_fail(err, CDNOPT_EINVAL, "demonstration expert %d is unknown; use "
                           "CDNOPT_DEMO_EXPERT_ONESTEP or CDNOPT_DEMO_EXPERT_PLANNER",
                           (int)p->demo_expert);
    return CDNOPT_OK;
}

typedef struct train_state {
    worker workers[64];
    int n_workers;
    cdnopt_rng streams; /* parent of the per-episode streams */
    cdnopt_rng update_rng;
    double naive_peak[CDNOPT_VALIDATION_MAX]; /* of each validation day, Gbit/s */
    float *best[3];        /* acting weights with the best validation reduction so far */
    double best_reduction; /* that reduction; -INFINITY before the first validation */
} train_state;

static int state_init(train_state *s, const cdnopt_agent *agent, const cdnopt_series *history,
                      const size_t *days, size_t n_days, const cdnopt_train_params *p)
{
    memset(s, 0, sizeof *s);
    s->n_workers = p->workers;
    s->best_reduction = -INFINITY;
    cdnopt_rng_seed(&s->streams, p->seed);
    cdnopt_rng_fork(&s->streams, UINT64_MAX, &s->update_rng);
    for (int k = 0; k < s->n_workers; k++) {
        worker *w = &s->workers[k];
        *w = (worker){.agent = agent, .history = history, .days = days, .n_days = n_days,
                      .episode = &p->episode};
        int rc = cdnopt_scratch_new(0, &w->scratch);
        if (rc != CDNOPT_OK)
            return rc;
    }
    return CDNOPT_OK;
}

static void state_free(train_state *s)
{
    for (int k = 0; k < 3; k++)
        cdnopt_free(s->best[k]);
    for (int k = 0; k < s->n_workers; k++) {
        cdnopt_scratch_free(s->workers[k].scratch);
        cdnopt_free(s->workers[k].recs);
    }
}

static int train_round(cdnopt_agent *agent, train_state *s, const cdnopt_train_params *p,
                       int round, cdnopt_train_progress *progress, char *err)
{
    double epsilon = epsilon_at(p, agent->episodes);
    for (int k = 0; k < s->n_workers; k++) {
        cdnopt_rng_fork(&s->streams, (uint64_t)round * (uint64_t)s->n_workers + (uint64_t)k,
                        &s->workers[k].rng);
        s->workers[k].epsilon = epsilon;
    }
    int rc = sharing(agent) ? run_shared_round(agent, s->workers, s->n_workers, err)
                            : run_round(s->workers, s->n_workers, err);
    if (rc != CDNOPT_OK)
        return rc;

    /* Only the learner keeps a replay and updates; the others get the new weights. */
    round_stats stats = {0};
    if (is_learner(agent)) {
        rc = store_round(agent, s->workers, s->n_workers, p->n_step);
        if (rc != CDNOPT_OK)
            return cdnopt_fail(err, rc, "out of memory while storing transitions");
    }
    agent->episodes += s->n_workers;
    if (is_learner(agent) && agent->heads[DQN_LOCAL].replay.size >= (size_t)p->warmup &&
        agent->heads[DQN_LOCAL].replay.size >= (size_t)agent->params.batch)
        rc = update_round(agent, p->updates_per_episode * s->n_workers, &s->update_rng, &stats,
                          err);
    if (rc == CDNOPT_OK && sharing(agent))
        rc = bcast_weights(agent, err);
    if (rc != CDNOPT_OK)
        return rc;

    double return_sum = 0;
    for (int k = 0; k < s->n_workers; k++)
        return_sum += s->workers[k].episode_return;
    progress->episode = agent->episodes;
    progress->epsilon = epsilon;
    progress->mean_return = return_sum / s->n_workers;
    progress->loss = stats.n_updates ? stats.loss_sum / stats.n_updates : NAN;
    progress->mask_accuracy = stats.n_updates ? stats.accuracy_sum / stats.n_updates : NAN;
    return CDNOPT_OK;
}

/* The weights acting reads: both online Q networks and the mask network. */
static int acting_nets(cdnopt_agent *agent, dqn_mlp **nets)
{
    nets[0] = &agent->heads[DQN_GLOBAL].online;
    nets[1] = &agent->heads[DQN_LOCAL].online;
    nets[2] = &agent->mask;
    return 3;
}

/* Copy the acting weights into the snapshot (allocated on first use). */
static int snapshot_take(cdnopt_agent *agent, train_state *s)
{
    dqn_mlp *nets[3];
    int n = acting_nets(agent, nets);
    for (int k = 0; k < n; k++) {
        size_t count = cdnopt_params_count(nets[k]->ps);
        if (!s->best[k]) {
            s->best[k] = cdnopt_malloc(count * sizeof(float));
            if (!s->best[k])
                return CDNOPT_ENOMEM;
        }
        memcpy(s->best[k], cdnopt_params_values(nets[k]->ps), count * sizeof(float));
    }
    return CDNOPT_OK;
}

/* Put the snapshot back into the online networks and their targets. */
static void snapshot_restore(cdnopt_agent *agent, const train_state *s)
{
    dqn_mlp *nets[3];
    int n = acting_nets(agent, nets);
    for (int k = 0; k < n; k++) {
        size_t count = cdnopt_params_count(nets[k]->ps);
        memcpy(cdnopt_params_values(nets[k]->ps), s->best[k], count * sizeof(float));
    }
    dqn_sync_targets(agent);
}

/* First stream of the demonstration episodes, far above those of the training rounds. */
#define DEMO_STREAMS ((uint64_t)1 << 40)

/* Play the expert's demonstration episodes in rounds of one per worker and store them
 * in the demonstration rings (on the learner). progress receives their mean return. */
static int play_demonstrations(cdnopt_agent *agent, train_state *s, const cdnopt_train_params *p,
                               cdnopt_train_progress *progress, char *err)
{
    int rounds = (p->demo_episodes + s->n_workers - 1) / s->n_workers;
    double return_sum = 0;
    int rc = CDNOPT_OK;
    for (int round = 0; rc == CDNOPT_OK && round < rounds; round++) {
        for (int k = 0; k < s->n_workers; k++) {
            uint64_t stream = DEMO_STREAMS + (uint64_t)round * (uint64_t)s->n_workers + (uint64_t)k;
            cdnopt_rng_fork(&s->streams, stream, &s->workers[k].rng);
            s->workers[k].expert = true;
            s->workers[k].demo_expert = p->demo_expert;
            s->workers[k].epsilon = 0;
        }
        rc = sharing(agent) ? run_shared_round(agent, s->workers, s->n_workers, err)
                            : run_round(s->workers, s->n_workers, err);
        if (rc == CDNOPT_OK && is_learner(agent) &&
            store_round(agent, s->workers, s->n_workers, p->n_step) != CDNOPT_OK)
            rc = cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory while storing demonstrations");
        for (int k = 0; k < s->n_workers; k++)
            return_sum += s->workers[k].episode_return;
    }
    for (int k = 0; k < s->n_workers; k++)
        s->workers[k].expert = false;
    progress->mean_return = return_sum / (rounds * s->n_workers);
    return rc;
}

/* Demonstrations, then pretraining on them alone; progress describes the result as
 * episode 0 of the learning curve. */
static int demonstrate(cdnopt_agent *agent, train_state *s, const cdnopt_train_params *p,
                       cdnopt_train_progress *progress, char *err)
{
    int rc = play_demonstrations(agent, s, p, progress, err);
    round_stats stats = {0};
    if (rc == CDNOPT_OK && is_learner(agent))
        rc = update_round(agent, p->updates_per_episode * p->demo_episodes, &s->update_rng,
                          &stats, err);
    if (rc == CDNOPT_OK && sharing(agent))
        rc = bcast_weights(agent, err);
    progress->episode = 0;
    progress->epsilon = 0;
    progress->loss = stats.n_updates ? stats.loss_sum / stats.n_updates : NAN;
    progress->mask_accuracy = stats.n_updates ? stats.accuracy_sum / stats.n_updates : NAN;
    return rc;
}

/* Validate, time and report one progress row; *stop receives the callback's request,
 * shared with every process. */
static int report(cdnopt_agent *agent, train_state *s, const cdnopt_validation *val,
                  cdnopt_train_progress *progress, double started,
                  cdnopt_train_callback callback, void *user, int *stop, char *err)
{
    int rc = CDNOPT_OK;
    progress->val_reduction = NAN;
    bool validating = val && val->n > 0 && is_learner(agent);
    if (validating)
        rc = validate(agent, val, s->naive_peak, &progress->val_reduction, err);
    if (rc == CDNOPT_OK && validating &&
        progress->val_reduction > s->best_reduction) {
        s->best_reduction = progress->val_reduction;
        if (snapshot_take(agent, s) != CDNOPT_OK)
            rc = cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory for the best weights");
    }
    progress->elapsed_s = cdnopt_clock_s() - started;
    *stop = 0;
    if (rc == CDNOPT_OK && callback && is_learner(agent))
        *stop = callback(progress, user) != 0;

    /* Every process must leave the loop in the same round as the learner. */
    if (rc == CDNOPT_OK && sharing(agent)) {
        rc = agent->rollout.bcast(stop, sizeof *stop, agent->rollout.user);
        if (rc != CDNOPT_OK)
            cdnopt_fail(err, rc, "broadcasting the stop decision failed");
    }
    return rc;
}

int cdnopt_agent_train(cdnopt_agent *agent, const cdnopt_series *history, const size_t *days,
                       size_t n_days, const cdnopt_validation *validation,
                       const cdnopt_train_params *params, cdnopt_train_callback callback,
                       void *user, char *err)
{
    int rc = check_train_params(params, err);
    if (rc != CDNOPT_OK)
        return rc;
    if (validation && validation->n > CDNOPT_VALIDATION_MAX)
        return cdnopt_fail(err, CDNOPT_EINVAL, "%zu validation days given; at most %d are "
                           "supported", validation->n, CDNOPT_VALIDATION_MAX);
    const cdnopt_rollout_hooks *h = &agent->rollout;
    if (sharing(agent) && (h->rank < 0 || h->rank >= h->n_ranks || !h->send || !h->recv ||
                           !h->bcast))
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "invalid rollout hooks: process %d of %d, or a callback missing",
                           h->rank, h->n_ranks);
    rc = dqn_replays_init(agent);
    if (rc != CDNOPT_OK)
        return cdnopt_fail(err, rc, "out of memory for the replay buffers (%zu transitions)",
                           agent->params.replay_capacity);

    train_state *s = cdnopt_malloc(sizeof *s);
    if (!s)
        return cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory for the training state");
    rc = state_init(s, agent, history, days, n_days, params);
    for (size_t k = 0; rc == CDNOPT_OK && validation && k < validation->n; k++)
        rc = naive_peak_of(validation->baselines[k], validation->sets[k], &s->naive_peak[k]);
    if (rc != CDNOPT_OK)
        cdnopt_fail(err, rc, "cannot set up training: %s", cdnopt_strerror(rc));

    double started = cdnopt_clock_s();
    int stop = 0;
    if (rc == CDNOPT_OK && params->demo_episodes > 0) {
        cdnopt_train_progress progress = {0};
        rc = demonstrate(agent, s, params, &progress, err);
        if (rc == CDNOPT_OK)
            rc = report(agent, s, validation, &progress, started, callback, user, &stop, err);
    }
    int rounds = (params->episodes + params->workers - 1) / params->workers;
    for (int round = 0; rc == CDNOPT_OK && !stop && round < rounds; round++) {
        cdnopt_train_progress progress = {0};
        rc = train_round(agent, s, params, round, &progress, err);
        if (rc == CDNOPT_OK)
            rc = report(agent, s, validation, &progress, started, callback, user, &stop, err);
    }
    if (rc == CDNOPT_OK && params->keep_best && s->best[0])
        snapshot_restore(agent, s);
    state_free(s);
    cdnopt_free(s);
    return rc;
}
