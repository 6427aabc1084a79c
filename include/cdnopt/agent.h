/* SPDX-License-Identifier: Apache-2.0 */
/*
 * agent: a hierarchical release-planning environment and a masked double DQN that
 * learns to act in it.
 *
 * Environment (cdnopt_env). One day of pending releases is split into 24 shards by
 * the hour of planned_at. The environment has a clock in whole hours from the day's
 * midnight and two kinds of decisions:
 * - global (CDNOPT_ENV_GLOBAL_ACTIONS = 24 x 5): a shard and a release level
 *   (0, 10, 30, 50 or 100 % of the shard's pending releases, rounded up) that this
 *   step may schedule. Level 0 schedules nothing and waits: the clock moves one hour.
 * - local (CDNOPT_ENV_LOCAL_ACTIONS = 24 x 3), once for each release the level lets
 *   through, largest traffic first: a delay of 0-23 whole hours from planned_at and
 *   a batch ratio of 0.1, 0.3 or 0.5 (never all at once).
 * The earliest start is the later of the day's midnight and the baseline's first step,
 * so a baseline that starts during the day plans from then on (a re-plan at 14:20). The
 * clock starts at the hour that contains the earliest start. A start before the clock
 * or the earliest start is invalid, and the observation reads the hours before the
 * baseline's first step as 0, like the hours past its end. When the clock passes the
 * latest start of a pending release, the environment places it there, and the
 * objective increase this causes is reported as the step's forced reward.
 * Rewards are minus the increase of the objective (peak, or p95) in Gbit/s that a
 * decision caused, with no other shaping. Actions that break a rule (delay window,
 * allowed ratios, blackout, spill, a start before the clock or the earliest start) are
 * masked. A step with
 * a masked action is rejected with CDNOPT_EINVAL and changes nothing.
 *
 * Agent (cdnopt_agent). One Q-network per decision kind (MLP over nn, with a target
 * copy, Adam and double-DQN targets), and a mask network with sigmoid outputs that
 * predicts which local actions are valid, learned from the masks the environment
 * reports. Acting takes the argmax of Q over the actions that are valid by the hard
 * rules and predicted valid by the mask network. The agent never waits (level 0) while
 * waiting would force a pending release to its latest start. Such a wait only gives up
 * options, because placing the release now at the same start remains possible.
 * Training first learns from demonstrations of a one-step greedy expert
 * (cdnopt_env_expert_action()) with a large-margin loss beside the TD loss, then from
 * its own epsilon-greedy episodes.
 *
 * Usage (planning with a trained agent):
 *     cdnopt_agent *agent = NULL;
 *     char err[CDNOPT_ERRMSG_MAX];
 *     if (cdnopt_agent_load("agent.h5", &agent, err) != CDNOPT_OK) ...
 *     cdnopt_env_params ep = cdnopt_env_params_default();
 *     cdnopt_env *env = NULL;
 *     cdnopt_env_new(baseline, day_releases, &ep, &env, err);
 *     cdnopt_agent_run_episode(agent, env, err);        // greedy policy, no exploration
 *     cdnopt_env_schedule(env, schedule);               // one start and ratio per release
 *     cdnopt_env_free(env);
 *     cdnopt_agent_free(agent);
 *
 * Limitations:
 * - The action space is restricted to whole-hour delays and the ratios 0.1, 0.3 and
 *   0.5, so the agent never uses a sub-hour delay or an all-at-once release, even
 *   where the rules allow one.
 * - The observation sees 48 hours from its anchor hour at hourly resolution (the
 *   maximum of each hour); traffic beyond that window only enters through rewards
 *   and the one-step look-ahead of the local actions.
 * - With the p95 objective the look-ahead sorts the grid once per local action whose
 *   wave rises above the current p95, so a decision costs far more than with peak.
 * - The environment plans against the baseline it is given: with a forecast as the
 *   baseline, the rewards are those of the forecast, not of the traffic that will
 *   happen. In training, cdnopt_env_params.observed lets the agent observe a forecast
 *   while the rewards stay on the actual traffic.
 * - The global mask is exact (a shard is valid while it has pending releases), so the
 *   mask network covers local actions only.
 * - A trained agent plans peaks about 3 to 7 % above the greedy planner's on the
 *   benchmark workloads, depending on the seed and the workload (docs/benchmarks.md).
 *   It imitates a one-step expert that plans one day at a time with no local search,
 *   and its own episodes have not improved on that. cdnopt_plan_dqn() with repair
 *   closes the gap with greedy's local search.
 * - An agent object is not thread-safe: acting uses its scratch arena. Training runs
 *   its worker threads on the weights read-only, each with its own arena.
 */
#ifndef CDNOPT_AGENT_H
#define CDNOPT_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cdnopt/core.h"
#include "cdnopt/plan.h"
#include "cdnopt/release.h"
#include "cdnopt/series.h"

/* ------------------------------------------------------------------------- */
/* Environment                                                               */
/* ------------------------------------------------------------------------- */

#define CDNOPT_ENV_OBS 256          /* values in one observation, each in [0, 1] */
#define CDNOPT_ENV_SHARDS 24        /* hour-of-day shards */
#define CDNOPT_ENV_LEVELS 5         /* release levels 0, 10, 30, 50, 100 % */
#define CDNOPT_ENV_DELAYS 24        /* whole-hour delays 0 .. 23 */
#define CDNOPT_ENV_RATIOS 3         /* batch ratios 0.1, 0.3, 0.5 */
#define CDNOPT_ENV_WINDOW_H 48      /* hours of total traffic in an observation */
#define CDNOPT_ENV_GLOBAL_ACTIONS (CDNOPT_ENV_SHARDS * CDNOPT_ENV_LEVELS)
#define CDNOPT_ENV_LOCAL_ACTIONS (CDNOPT_ENV_DELAYS * CDNOPT_ENV_RATIOS)
#define CDNOPT_ENV_MAX_ACTIONS CDNOPT_ENV_GLOBAL_ACTIONS

/*
 * Observation layout: the first index of each block. The anchor hour is the
 * release's planned hour in a local decision and the clock in a global one.
 *   CALENDAR  8  anchor hour / 23, sin and cos of the anchor hour (mapped to [0, 1]),
 *                weekday / 6, weekend flag, clock / 47, phase (0 global, 1 local),
 *                level of the current step / 100
 *   TOTAL    48  max total (baseline + placed releases) of each hour from the anchor,
 *                / scale
 *   ENERGY   24  pending traffic per shard / the day's release traffic
 *   LARGEST  24  traffic of the shard's largest pending release / that of the largest
 *                pending release of all shards (1 marks the shard that contains it)
 *   RELEASE   8  size / 8000 MB, size over the blackout threshold, log(1 + users) /
 *                log(1 + 3e7), traffic / (scale x 1 h), planned minute / 60, hours
 *                left to its latest start / 24, share of the step's releases done,
 *                current objective / scale
 *   REACH    72  for local action a (delay a / 3, ratio a % 3): (R - R_min) /
 *                (0.2 x scale). R is the highest total the release's wave would
 *                reach with a (the greedy planner's criterion). R_min is the lowest R
 *                of the valid actions, so the expert's action has REACH 0.
 *   RISE     72  for local action a: the objective increase a would cause /
 *                (0.1 x scale), exact for peak and p95
 * scale is 2.5 x the largest baseline value of the 72 hours from the day's midnight.
 * Every value is clipped to [0, 1]. REACH and RISE are a one-step look-ahead computed
 * from the state. They are 0 in global decisions and 1 for a wave that would leave
 * the baseline. With them the network compares actions by their exact effect and
 * need not learn the wave's shape from hourly summaries. REACH and LARGEST are relative
 * to the best choice because the input row of each delay in the local Q-network
 * contains only its own three actions. In the former absolute encoding (R minus the
 * objective, over 0.5 x scale) 10 Gbit/s between two actions moved the input by < 0.01.
 */
enum {
    CDNOPT_OBS_CALENDAR = 0,
    CDNOPT_OBS_TOTAL = 8,
    CDNOPT_OBS_ENERGY = 56,
    CDNOPT_OBS_LARGEST = 80,
    CDNOPT_OBS_RELEASE = 104,
    CDNOPT_OBS_REACH = 112,
    CDNOPT_OBS_RISE = 184,
    CDNOPT_OBS_END = 256,
};

/** Phase of an episode: the kind of decision the environment waits for. */
typedef enum cdnopt_env_phase {
    CDNOPT_ENV_GLOBAL = 0, /* a shard and a level */
    CDNOPT_ENV_LOCAL = 1,  /* a delay and a ratio for the current release */
    CDNOPT_ENV_DONE = 2,   /* every release is placed */
} cdnopt_env_phase;

/** Release levels of a global action, in percent of a shard's pending releases. */
extern const int cdnopt_env_levels[CDNOPT_ENV_LEVELS];

/** Batch ratios of a local action. */
extern const double cdnopt_env_ratios[CDNOPT_ENV_RATIOS];

/** Settings of an environment; start from cdnopt_env_params_default(). */
typedef struct cdnopt_env_params {
    cdnopt_rules rules;             /* rules and wave shape, default cdnopt_rules_default() */
    cdnopt_objective objective;     /* reward figure, default CDNOPT_OBJECTIVE_PEAK */
    int64_t day_start;              /* civil seconds of the release day's midnight; -1
                                       (default) takes the day of the earliest planned_at */
    const cdnopt_series *observed;  /* NULL (default), or the traffic the agent sees in
                                       place of the baseline (a forecast of it), on the
                                       baseline's grid; copied. The observation, the
                                       look-ahead, the expert and the forced placements'
                                       ratios read it; rewards and the objective stay on
                                       the baseline. */
} cdnopt_env_params;

/** Defaults: the release model's rules, peak objective, day taken from the releases. */
cdnopt_env_params cdnopt_env_params_default(void);

/** Outcome of one step. */
typedef struct cdnopt_env_step_result {
    double reward;        /* minus the objective increase this action caused, Gbit/s */
    double forced_reward; /* minus the increase caused by forced placements after it */
    size_t n_forced;      /* releases the environment placed after this action */
    cdnopt_env_phase phase; /* phase after the step */
} cdnopt_env_step_result;

typedef struct cdnopt_env cdnopt_env;

/**
 * Create an environment for one day of releases on a baseline and reset it.
 * @param baseline  traffic the releases add to, Gbit/s; copied. Traffic of releases
 *                  planned on other days belongs in it. Its step must divide 3600, its
 *                  steps must fall on day_start (it may start later) and it must not
 *                  end before day_start.
 * @param releases  the day's releases, borrowed until cdnopt_env_free(); every
 *                  planned_at must fall on [day_start, day_start + 24 h).
 * @param out       OUT: the environment, freed with cdnopt_env_free(); NULL on failure.
 * @param err       CDNOPT_ERRMSG_MAX bytes, names the release or value at fault.
 * @return 0, CDNOPT_EINVAL (release outside the day, a release without any legal
 *         option on the baseline's grid, bad baseline step, a baseline that ends before
 *         day_start or whose steps miss it) or CDNOPT_ENOMEM.
 */
int cdnopt_env_new(const cdnopt_series *baseline, const cdnopt_release_set *releases,
                   const cdnopt_env_params *params, cdnopt_env **out, char *err);

/** Free an environment; NULL is a no-op. */
void cdnopt_env_free(cdnopt_env *env);

/** Undo every placement, set the clock to the hour of the earliest start (the day's
 * midnight when the baseline starts by then) and wait for a global action. */
void cdnopt_env_reset(cdnopt_env *env);

/** Current phase. */
cdnopt_env_phase cdnopt_env_phase_of(const cdnopt_env *env);

/** Number of actions of a phase (0 for CDNOPT_ENV_DONE). */
int cdnopt_env_n_actions(cdnopt_env_phase phase);

/** Write the current observation, CDNOPT_ENV_OBS values in [0, 1]. */
void cdnopt_env_observe(const cdnopt_env *env, float *obs);

/**
 * Write the validity of each action of the current phase (1 valid, 0 masked) into
 * mask, cdnopt_env_n_actions(phase) bytes.
 * @return the number of valid actions (at least 1 unless the phase is DONE).
 */
int cdnopt_env_mask(const cdnopt_env *env, uint8_t *mask);

/**
 * Whether a level-0 global action (waiting) now would make the environment place a
 * pending release at its latest start. Always false outside global decisions.
 */
bool cdnopt_env_wait_forces(const cdnopt_env *env);

/**
 * Take one action of the current phase.
 * @return 0, or CDNOPT_EINVAL with a message when the action is out of range, masked,
 *         or the episode is done (nothing changes then).
 */
int cdnopt_env_step(cdnopt_env *env, int action, cdnopt_env_step_result *result, char *err);

/** Current value of the objective (peak or p95 of the total), Gbit/s. */
double cdnopt_env_objective_value(const cdnopt_env *env);

/**
 * Choose the one-step greedy expert's action for the current phase. In a global
 * decision it is the shard whose largest pending release carries the most traffic, at
 * level 10 %, so the clock never moves. In a local decision it is the valid action
 * whose wave reaches the lowest total, ties to the smaller delay and ratio. Its
 * episodes are the demonstrations the agent learns from.
 * @return 0, or CDNOPT_EINVAL when the episode is done.
 */
int cdnopt_env_expert_action(const cdnopt_env *env, int *action);

/**
 * Make the expert's local action for each release the (delay, ratio) that schedule
 * gives it, whenever that action is valid at the decision's clock. Releases whose
 * entry is no local action (a delay that is not a whole hour from 0 to 23, ratio 1.0)
 * or is masked at that time keep the one-step rule. The global rule is unchanged.
 * @param schedule one entry per release of the environment (copied), or NULL to go
 *                 back to the one-step rule for all.
 * @return 0, CDNOPT_EINVAL (entry count differs from the releases) or CDNOPT_ENOMEM.
 */
int cdnopt_env_set_expert_schedule(cdnopt_env *env, const cdnopt_schedule *schedule, char *err);

/**
 * Plan the environment's releases against baseline (the series it was made from) with
 * cdnopt_plan_greedy() and local_search_passes passes. The plan is restricted to the
 * agent's options: whole-hour delays of 0 to 23 h and ratios 0.1, 0.3 and 0.5. The
 * schedule then becomes the expert's, through cdnopt_env_set_expert_schedule().
 * @return 0, or the error of either call with err set.
 */
int cdnopt_env_plan_expert(cdnopt_env *env, const cdnopt_series *baseline,
                           int local_search_passes, char *err);

/** Total traffic (baseline + placed releases) on the baseline's grid, borrowed. */
const double *cdnopt_env_total(const cdnopt_env *env);

/** Scale the observation divides traffic by, Gbit/s (see the layout above). */
double cdnopt_env_scale(const cdnopt_env *env);

/** Index in the release set of the release a local action places; -1 in other phases. */
long cdnopt_env_current_release(const cdnopt_env *env);

/**
 * Copy the placements into schedule (indexed like the release set). Releases not
 * placed yet keep whatever the schedule held.
 * @return 0, or CDNOPT_EINVAL when the schedule has another size than the set.
 */
int cdnopt_env_schedule(const cdnopt_env *env, cdnopt_schedule *schedule);

/* ------------------------------------------------------------------------- */
/* Training episodes                                                         */
/* ------------------------------------------------------------------------- */

/** Settings of the training-episode sampler; start from cdnopt_episode_params_default(). */
typedef struct cdnopt_episode_params {
    size_t min_releases;    /* minimum releases in an episode, default 50 */
    size_t max_releases;    /* maximum releases in an episode, default 400 */
    double min_energy;      /* release traffic of the day / baseline traffic, lowest, 0.5 */
    double max_energy;      /* highest ratio, default 1.5 */
    double peak_gbps;       /* the 3-day window is rescaled to peak at this, default 1000 */
    const cdnopt_series *const *observed; /* NULL (default), or one series per entry of
                                             the days passed to cdnopt_episode_draw(): what
                                             the agent sees in place of that 3-day window
                                             (a forecast made before its first day), on the
                                             window's grid, in the history's unit */
} cdnopt_episode_params;

/** Defaults: 50-400 releases carrying 0.5-1.5 x the day's baseline traffic. */
cdnopt_episode_params cdnopt_episode_params_default(void);

/**
 * Draw one training episode: a 3-day window of history starting at a midnight
 * (chosen among the first days listed in days), rescaled to peak at peak_gbps, and
 * a set of releases planned on its first day with log-normal sizes and audiences.
 * @param history  a series at least 3 days long; any unit (it is rescaled).
 * @param days     indices in history of the midnights a window may start at.
 * @param baseline OUT: the 3-day window, freed with cdnopt_series_free().
 * @param observed OUT: with params->observed, the chosen day's observed series rescaled
 *                 by the window's factor, freed with cdnopt_series_free(); else NULL.
 *                 May be NULL when params->observed is NULL.
 * @param releases OUT: the releases, freed with cdnopt_release_set_free().
 * @return 0, CDNOPT_EINVAL (no day, a window past the end, an observed series on
 *         another grid than its window) or CDNOPT_ENOMEM.
 */
int cdnopt_episode_draw(const cdnopt_series *history, const size_t *days, size_t n_days,
                        const cdnopt_episode_params *params, cdnopt_rng *rng,
                        cdnopt_series **baseline, cdnopt_series **observed,
                        cdnopt_release_set **releases, char *err);

/**
 * List the midnights of history whose 3-day window fits in the series and does not
 * overlap any of the excluded spans [exclude_from[i], exclude_to[i]) (civil seconds).
 * @param days   OUT: array of up to cap indices.
 * @return the number of such days (may exceed cap; only cap are written).
 */
size_t cdnopt_episode_days(const cdnopt_series *history, const int64_t *exclude_from,
                           const int64_t *exclude_to, size_t n_exclude, size_t *days, size_t cap);

/* ------------------------------------------------------------------------- */
/* Agent                                                                     */
/* ------------------------------------------------------------------------- */

/** Hyper-parameters of an agent; start from cdnopt_agent_params_default(). */
typedef struct cdnopt_agent_params {
    int hidden;             /* units of each of the two hidden ReLU layers, default 128 */
    int mask_hidden;        /* units of the mask network's hidden layer, default 64 */
    double lr;              /* Adam learning rate, default 5e-4 */
    double gamma;           /* discount per decision, default 0.95 */
    double clip_norm;       /* global gradient-norm clip, default 10 */
    int batch;              /* transitions per update, default 64 */
    size_t replay_capacity; /* transitions kept per decision kind, default 20000 */
    int target_sync;        /* updates between copies into the target networks, 500 */
    double mask_threshold;  /* predicted validity at or above this counts, default 0.5 */
    bool use_mask_net;      /* narrow the hard mask by the mask network, default true */
    double reward_scale;    /* rewards are divided by env scale and multiplied by this, 10 */
    double demo_margin;     /* large-margin loss on demonstrations, scaled reward units,
                               default 0.05 */
    double demo_share;      /* share of each update's batch drawn from demonstrations
                               (when there are any), default 0.5 */
    cdnopt_objective objective; /* figure the agent was trained on (stored in the file) */
    uint64_t seed;          /* initial weights and sampling, default 1 */
} cdnopt_agent_params;

/** Defaults as listed in the field comments. */
cdnopt_agent_params cdnopt_agent_params_default(void);

typedef struct cdnopt_agent cdnopt_agent;

/**
 * Create an agent with fresh weights.
 * @param out  OUT: the agent, freed with cdnopt_agent_free(); NULL on failure.
 * @return 0, CDNOPT_EINVAL (a param out of range, named in err) or CDNOPT_ENOMEM.
 */
int cdnopt_agent_new(const cdnopt_agent_params *params, cdnopt_agent **out, char *err);

/** Free an agent; NULL is a no-op. */
void cdnopt_agent_free(cdnopt_agent *agent);

/** The agent's hyper-parameters, borrowed until the agent is freed. */
const cdnopt_agent_params *cdnopt_agent_params_of(const cdnopt_agent *agent);

/**
 * Choose an action for the environment's current phase: with probability epsilon a
 * uniform draw among the valid actions, else the argmax of Q over them. Valid means
 * allowed by the environment's mask, not a wait that would force a release
 * (cdnopt_env_wait_forces()), and, for local actions with use_mask_net, also
 * predicted valid (the hard mask alone is used when the prediction leaves nothing).
 * @param rng  used only when epsilon > 0; may be NULL then.
 * @return 0, CDNOPT_EINVAL (episode done) or CDNOPT_ENOMEM.
 */
int cdnopt_agent_act(cdnopt_agent *agent, const cdnopt_env *env, double epsilon, cdnopt_rng *rng,
                     int *action);

/**
 * Run the greedy policy (epsilon 0) from the environment's current state to the end.
 * @return 0 or an error from cdnopt_agent_act() / cdnopt_env_step() with err filled.
 */
int cdnopt_agent_run_episode(cdnopt_agent *agent, cdnopt_env *env, char *err);

/** Progress of one training round, passed to the progress callback. */
typedef struct cdnopt_train_progress {
    int episode;             /* episodes finished so far */
    double mean_return;      /* mean episode return of the round, Gbit/s (negative) */
    double epsilon;          /* exploration rate of the round */
    double loss;             /* mean TD loss of the round's updates (scaled rewards) */
    double mask_accuracy;    /* share of local actions the mask network got right */
    double val_reduction;    /* peak reduction on the validation days vs. the naive plan,
                                mean over the days */
    double elapsed_s;        /* seconds since training started */
} cdnopt_train_progress;

/** Called after each round; return nonzero to stop training early. */
typedef int (*cdnopt_train_callback)(const cdnopt_train_progress *progress, void *user);

/** Expert whose episodes are the demonstrations. */
typedef enum cdnopt_demo_expert {
    CDNOPT_DEMO_EXPERT_ONESTEP = 0, /* cdnopt_env_expert_action() with no schedule */
    CDNOPT_DEMO_EXPERT_PLANNER = 1, /* the same, replaying each episode's greedy schedule
                                       (cdnopt_env_plan_expert(), 2 passes) */
} cdnopt_demo_expert;

/** Settings of a training run; start from cdnopt_train_params_default(). */
typedef struct cdnopt_train_params {
    int episodes;               /* episodes to run, default 1200 */
    int workers;                /* environment threads, default 2 */
    double eps_start;           /* initial exploration rate, default 0.1 */
    double eps_end;             /* final exploration rate, default 0.01 */
    double eps_decay_share;     /* share of the episodes over which epsilon falls, 0.6 */
    int updates_per_episode;    /* gradient updates per finished episode, default 32 */
    int warmup;                 /* transitions collected before the first update, 1000 */
    int demo_episodes;          /* episodes of the one-step greedy expert stored as
                                   demonstrations and pretrained on before the first
                                   round (0 = none), default 200 */
    cdnopt_demo_expert demo_expert; /* which expert plays them, default one-step */
    bool keep_best;             /* end with the weights whose validation reduction was the
                                   highest (pretraining included), not the last ones;
                                   needs validation days, default true */
    int n_step;                 /* decisions summed into one replay transition, default 8 */
    cdnopt_episode_params episode; /* how episodes are drawn */
    uint64_t seed;              /* episode draws and exploration, default 1 */
} cdnopt_train_params;

/** Defaults as listed in the field comments. */
cdnopt_train_params cdnopt_train_params_default(void);

/**
 * Hooks that spread the episodes of each training round over several processes
 * (src/dist fills them in from MPI). Every process calls cdnopt_agent_train() with the
 * same arguments. The workers of a round are split into n_ranks contiguous runs whose
 * lengths differ by at most one, and each process plays its run with the same random
 * streams as one process would. The other processes send their transitions to process
 * 0, the learner, which stores them in worker order, runs the updates, validates and
 * calls the progress callback. It then broadcasts the weights that acting uses, so a
 * run gives the same agent for any number of processes.
 */
typedef struct cdnopt_rollout_hooks {
    int n_ranks; /* processes sharing the rollouts; 1 (or 0) = none */
    int rank;    /* this process, 0 <= rank < n_ranks; 0 is the learner */
    /* Send n bytes to process 0. Returns CDNOPT_OK or a negative CDNOPT_E* code. */
    int (*send)(const void *buf, size_t n, void *user);
    /* On process 0: receive one message from process source into a new block that the
     * caller frees with cdnopt_free(). */
    int (*recv)(int source, void **buf, size_t *n, void *user);
    /* Copy n bytes from process 0 to every process. */
    int (*bcast)(void *buf, size_t n, void *user);
    void *user; /* passed to the callbacks */
} cdnopt_rollout_hooks;

/** Set the hooks of the next cdnopt_agent_train() calls (copied); NULL removes them. */
void cdnopt_agent_set_rollout_hooks(cdnopt_agent *agent, const cdnopt_rollout_hooks *hooks);

/** Maximum number of validation days of a training run. */
#define CDNOPT_VALIDATION_MAX 16

/** Held-out days a training run validates on; its figure is the mean over the days. */
typedef struct cdnopt_validation {
    const cdnopt_series *const *baselines; /* n baselines, borrowed */
    const cdnopt_release_set *const *sets; /* the releases of each baseline, borrowed */
    size_t n; /* days, at most CDNOPT_VALIDATION_MAX; 0 = no validation */
    const cdnopt_series *const *observed; /* NULL, or n series the agent plans on in
                                             place of the baselines (forecasts on the same
                                             grids); the reduction is measured on the
                                             baselines */
} cdnopt_validation;

/**
 * Train the agent on episodes drawn from history. Demonstrations and pretraining on
 * them come first (demo_episodes). Rounds run `workers` episodes in parallel threads
 * with the current weights, then the main thread stores their transitions in worker
 * order and runs the updates, so a run is reproducible for a seed and a worker count.
 * With keep_best and validation days the agent ends with its best-validated weights.
 * @param days        midnights of history an episode may start at (cdnopt_episode_days()).
 * @param validation  held-out days (may be NULL or empty to skip validation); borrowed.
 * @param callback    progress after each round; may be NULL.
 * @return 0, CDNOPT_EINVAL, CDNOPT_ENUMERIC (a non-finite loss or gradient) or
 *         CDNOPT_ENOMEM, with err filled.
 */
int cdnopt_agent_train(cdnopt_agent *agent, const cdnopt_series *history, const size_t *days,
                       size_t n_days, const cdnopt_validation *validation,
                       const cdnopt_train_params *params, cdnopt_train_callback callback,
                       void *user, char *err);

/**
 * Save the agent to an HDF5 file: root attributes format = "cdnopt-agent",
 * format_version = 3 and the hyper-parameters, and one dataset per weight tensor.
 * @return 0 or CDNOPT_EIO with the path.
 */
int cdnopt_agent_save(const cdnopt_agent *agent, const char *path, char *err);

/**
 * Load an agent saved by cdnopt_agent_save().
 * @param out  OUT: the agent, freed with cdnopt_agent_free(); NULL on failure.
 * @return 0, CDNOPT_EIO (cannot open: missing, truncated or not HDF5), CDNOPT_EPARSE
 *         (another format, another version, a missing or misshapen tensor; err names
 *         the file and the item) or CDNOPT_ENOMEM.
 */
int cdnopt_agent_load(const char *path, cdnopt_agent **out, char *err);

/**
 * Plan a whole release set with the agent: one episode per release day, in day order,
 * each on the baseline plus the traffic of the days already planned. An episode plans
 * from the day's midnight, or from the baseline's first step when that is later, so no
 * release starts before the baseline. With several
 * release days, 3 more rounds plan every day again on the baseline plus the other
 * days' traffic as the round before placed it. The schedule is the round with the
 * lowest objective on what the agent observes, so the extra rounds never make it worse
 * there.
 * @param schedule  OUT: filled for every release (same size as the set).
 * @return 0, CDNOPT_EINVAL (a release off the baseline, size mismatch) or CDNOPT_ENOMEM.
 */
int cdnopt_agent_plan(cdnopt_agent *agent, const cdnopt_series *baseline,
                      const cdnopt_release_set *releases, const cdnopt_rules *rules,
                      cdnopt_schedule *schedule, char *err);

/**
 * Plan like cdnopt_agent_plan(), but the agent observes `observed` (a forecast on the
 * baseline's grid) in place of the baseline, while the environment places the waves
 * on the baseline. Each planned day's traffic joins both series.
 * @return as cdnopt_agent_plan(), and CDNOPT_EINVAL when the grids differ.
 */
int cdnopt_agent_plan_observed(cdnopt_agent *agent, const cdnopt_series *baseline,
                               const cdnopt_series *observed,
                               const cdnopt_release_set *releases, const cdnopt_rules *rules,
                               cdnopt_schedule *schedule, char *err);

/**
 * Plan a release set with the one-step expert (cdnopt_env_expert_action()) in place of
 * an agent, one episode per release day as cdnopt_agent_plan() does. This is the
 * reference the agent's demonstrations come from.
 * @param params  rules, objective and observed apply; day_start is set per day.
 * @return as cdnopt_agent_plan_observed().
 */
int cdnopt_expert_plan(const cdnopt_series *baseline, const cdnopt_release_set *releases,
                       const cdnopt_env_params *params, cdnopt_schedule *schedule, char *err);

/**
 * Plan with the agent and report like the other planners (cdnopt_plan_greedy()): the
 * agent's schedule, or with repair the schedule after greedy local search from it
 * (each release re-placed with the others fixed, a move kept only when it lowers the
 * objective, for up to params->local_search_passes passes).
 * @param params  objective, passes; start_step_s must be 3600 (the agent's delays).
 * @param out     filled on success; the caller clears it with cdnopt_plan_result_clear().
 * @return 0, CDNOPT_EINVAL (as cdnopt_agent_plan(), or another start step) or CDNOPT_ENOMEM.
 */
int cdnopt_plan_dqn(cdnopt_agent *agent, const cdnopt_series *baseline,
                    const cdnopt_release_set *releases, const cdnopt_rules *rules,
                    const cdnopt_plan_params *params, bool repair, cdnopt_plan_result *out,
                    char *err);

#endif /* CDNOPT_AGENT_H */
