/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internals of the masked DQN agent, shared by dqn.c (networks, acting, updates),
 * dqn_replay.c, dqn_file.c (HDF5), dqn_train.c (worker threads) and dqn_plan.c.
 * Tests include this header to check targets and updates on tiny networks.
 */
#ifndef CDNOPT_DQN_IMPL_H
#define CDNOPT_DQN_IMPL_H

#include "cdnopt/agent.h"
#include "cdnopt/nn.h"

#define DQN_MAX_LAYERS 3

/* Format name and version written to the root of an agent file. */
#define DQN_FORMAT_NAME "cdnopt-agent"
#define DQN_FORMAT_VERSION 3

/* Indices of the two Q heads: the values of cdnopt_env_phase they act in. */
enum { DQN_GLOBAL = CDNOPT_ENV_GLOBAL, DQN_LOCAL = CDNOPT_ENV_LOCAL, DQN_HEADS = 2 };

/* Hours of total traffic from a delay that its row carries. */
#define DQN_DELAY_HOURS 12

/* Values in the input row of one delay, see dqn_delay_rows(). */
#define DQN_DELAY_FEATURES (17 + 2 * CDNOPT_ENV_RATIOS + DQN_DELAY_HOURS)

/*
 * A multi-layer perceptron: ReLU hidden layers and a linear output layer. With
 * per_delay, each observation is first expanded into CDNOPT_ENV_DELAYS rows (one per
 * local delay) and the same weights map every row to the Q-values of the 3 ratios, so
 * that what the network learns about one delay carries over to the others.
 */
typedef struct dqn_mlp {
    cdnopt_params *ps;                    /* owned parameter set */
    cdnopt_dense *layers[DQN_MAX_LAYERS]; /* owned layers over ps */
    int n_layers;
    size_t n_in, n_out;                   /* per row */
    bool per_delay;                       /* expand observations into delay rows */
} dqn_mlp;

/*
 * Expand batch observations into batch x CDNOPT_ENV_DELAYS rows of DQN_DELAY_FEATURES:
 * the calendar and release blocks, delay / 23, the delay's REACH and RISE of each
 * ratio, and the TOTAL of the DQN_DELAY_HOURS hours from the delay.
 */
void dqn_delay_rows(const float *obs, size_t batch, float *rows);

/* Build an MLP n_in -> hidden[0] -> ... -> n_out with tensors named "<prefix>N/...". */
int dqn_mlp_init(dqn_mlp *m, const char *prefix, size_t n_in, const size_t *hidden,
                 int n_hidden, size_t n_out, cdnopt_rng *rng);
void dqn_mlp_free(dqn_mlp *m);

/* Forward n_rows inputs; traces (n_layers entries, may be NULL when no backward follows)
 * and *out live in the arena until its next reset. */
int dqn_mlp_forward(const dqn_mlp *m, cdnopt_scratch *scratch, size_t n_rows, const float *x,
                    cdnopt_trace **traces, float **out);

/* Backward from dL/d(output); adds into m's gradients. */
int dqn_mlp_backward(const dqn_mlp *m, cdnopt_scratch *scratch, cdnopt_trace *const *traces,
                     const float *dy);

/* One stored transition, as handed to the replay buffer (pointers are borrowed). */
typedef struct dqn_transition {
    const float *obs;         /* CDNOPT_ENV_OBS values */
    const float *next_obs;    /* CDNOPT_ENV_OBS values (ignored when discount is 0) */
    const uint8_t *mask;      /* validity of the actions in obs */
    const uint8_t *next_mask; /* validity in next_obs */
    int action;
    float reward;             /* scaled (n-step) reward */
    float discount;           /* gamma^n before next_obs's value; 0 when it is terminal */
} dqn_transition;

/* A ring of transitions of one decision kind, structure of arrays. */
typedef struct dqn_replay {
    size_t capacity, size, next;
    int n_actions;
    float *obs, *next_obs;
    uint8_t *mask, *next_mask;
    int16_t *action;
    float *reward;
    float *discount;
} dqn_replay;

int dqn_replay_init(dqn_replay *replay, size_t capacity, int n_actions);
void dqn_replay_free(dqn_replay *replay);
void dqn_replay_push(dqn_replay *replay, const dqn_transition *t);

/* A Q-network, its target copy, its optimizer and its replay. */
typedef struct dqn_head {
    int n_actions;
    dqn_mlp online, target;
    cdnopt_adam *adam;
    dqn_replay replay; /* the agent's own transitions, allocated only for training */
    dqn_replay demo;   /* the expert's demonstrations, allocated only for training */
} dqn_head;

struct cdnopt_agent {
    cdnopt_agent_params params;
    dqn_head heads[DQN_HEADS];
    dqn_mlp mask;              /* logits of local-action validity */
    cdnopt_adam *mask_adam;
    cdnopt_scratch *scratch;   /* for acting and updates on the calling thread */
    uint64_t updates;          /* gradient updates of the Q heads so far */
    int episodes;              /* training episodes run so far */
    cdnopt_rollout_hooks rollout; /* sharing of training rounds between processes */
};

/*
 * Double-DQN targets for a batch: y = r + discount * Q_target(s', a*), with a* the
 * argmax over the valid actions of s' of Q_online(s', a) (van Hasselt, Guez and Silver
 * 2016, "Deep Reinforcement Learning with Double Q-learning"). discount is gamma^n for
 * an n-step transition and 0 when s' is terminal; a next state with no valid action
 * counts as terminal.
 */
int dqn_targets(const dqn_mlp *online, const dqn_mlp *target, cdnopt_scratch *scratch,
                size_t batch, const float *next_obs, const uint8_t *next_mask,
                const float *reward, const float *discount, float *y);

/* Which rows of a batch are demonstrations, for the large-margin loss. */
typedef struct dqn_margin {
    const uint8_t *demo;  /* per row: 1 when the action is the expert's */
    const uint8_t *valid; /* per row, n_actions validity flags of its state */
    float margin;         /* Q(s, a_E) must beat every other valid action by this */
} dqn_margin;

/*
 * One gradient step of a head on the given batch (rows of obs, actions, targets):
 * Huber loss (delta 1) on Q(s, a) - y for the taken actions only, plus, for the rows
 * margin marks as demonstrations, the large-margin loss max_a (Q(s, a) + margin
 * [a != a_E]) - Q(s, a_E) over valid a; averaged over the batch, then Adam with
 * gradient clipping. margin may be NULL (no demonstrations). *loss receives the
 * mean loss.
 */
int dqn_fit_batch(dqn_head *head, cdnopt_scratch *scratch, size_t batch, const float *obs,
                  const int16_t *action, const float *y, const dqn_margin *margin, float *loss);

/* Draw a batch (demo_share of it from the demonstrations, if any), compute targets and
 * fit; *loss as above. CDNOPT_EINVAL when both rings are empty. */
int dqn_update_head(cdnopt_agent *agent, int kind, cdnopt_rng *rng, float *loss);

/* One binary cross-entropy step of the mask network on a batch from the local rings;
 * *accuracy receives the share of thresholded predictions that match. */
int dqn_update_mask(cdnopt_agent *agent, cdnopt_rng *rng, float *accuracy);

/* Copy the online weights of both heads into their targets. */
void dqn_sync_targets(cdnopt_agent *agent);

/*
 * Choose an action from an observation and the environment's mask; the same rule
 * as cdnopt_agent_act(), usable from worker threads with their own arena.
 */
int dqn_choose(const cdnopt_agent *agent, int kind, cdnopt_scratch *scratch, const float *obs,
               const uint8_t *hard_mask, double epsilon, cdnopt_rng *rng, int *action);

/*
 * Write the actions the agent may take (cdnopt_env_n_actions() bytes): the
 * environment's mask without the waits that would force a release, because such a wait
 * only gives up options. A global decision keeps at least one action, since every shard
 * with pending releases allows a nonzero level.
 */
void dqn_policy_mask(const cdnopt_env *env, uint8_t *mask);

/* Allocate the replay and demonstration rings of both heads (training only). */
int dqn_replays_init(cdnopt_agent *agent);

#endif
