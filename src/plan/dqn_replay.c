/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Experience replay for the masked DQN: a ring of n-step transitions of one decision
 * kind (global or local). Each transition keeps the validity masks of its state and
 * of its next state, because the double-DQN target takes the argmax over the next
 * state's valid actions only, and the mask network learns from the state's mask.
 */
#include "dqn-impl.h"

#include <string.h>

int dqn_replay_init(dqn_replay *replay, size_t capacity, int n_actions)
{
    memset(replay, 0, sizeof *replay);
    replay->capacity = capacity;
    replay->n_actions = n_actions;
    replay->obs = cdnopt_malloc(capacity * CDNOPT_ENV_OBS * sizeof(float));
    replay->next_obs = cdnopt_malloc(capacity * CDNOPT_ENV_OBS * sizeof(float));
    replay->mask = cdnopt_malloc(capacity * (size_t)n_actions);
    replay->next_mask = cdnopt_malloc(capacity * (size_t)n_actions);
    replay->action = cdnopt_malloc(capacity * sizeof(int16_t));
    replay->reward = cdnopt_malloc(capacity * sizeof(float));
    replay->discount = cdnopt_malloc(capacity * sizeof(float));
    if (!replay->obs || !replay->next_obs || !replay->mask || !replay->next_mask ||
        !replay->action || !replay->reward || !replay->discount) {
        dqn_replay_free(replay);
        return CDNOPT_ENOMEM;
    }
    return CDNOPT_OK;
}

void dqn_replay_free(dqn_replay *replay)
{
    cdnopt_free(replay->obs);
    cdnopt_free(replay->next_obs);
    cdnopt_free(replay->mask);
    cdnopt_free(replay->next_mask);
    cdnopt_free(replay->action);
    cdnopt_free(replay->reward);
    cdnopt_free(replay->discount);
    memset(replay, 0, sizeof *replay);
}

void dqn_replay_push(dqn_replay *replay, const dqn_transition *t)
{
    /* Once full, the oldest transition is overwritten. */
    size_t slot = replay->next;
    size_t n_actions = (size_t)replay->n_actions;
    memcpy(replay->obs + slot * CDNOPT_ENV_OBS, t->obs, CDNOPT_ENV_OBS * sizeof(float));
    memcpy(replay->next_obs + slot * CDNOPT_ENV_OBS, t->next_obs, CDNOPT_ENV_OBS * sizeof(float));
    memcpy(replay->mask + slot * n_actions, t->mask, n_actions);
    memcpy(replay->next_mask + slot * n_actions, t->next_mask, n_actions);
    replay->action[slot] = (int16_t)t->action;
    replay->reward[slot] = t->reward;
    replay->discount[slot] = t->discount;

    replay->next = (slot + 1) % replay->capacity;
    if (replay->size < replay->capacity)
        replay->size++;
}
