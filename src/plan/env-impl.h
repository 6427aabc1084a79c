/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The release-planning environment's state, shared by env.c (steps, placements,
 * forced placements) and env_obs.c (observations and masks).
 */
#ifndef CDNOPT_ENV_IMPL_H
#define CDNOPT_ENV_IMPL_H

#include "cdnopt/agent.h"

/* A release's fallback when none of the agent's options is legal: any legal option of
 * the rules, with the grid step as start spacing. */
typedef struct env_forced {
    int64_t start;  /* latest legal start the environment places it at, civil seconds */
    bool agent_option; /* the start is reachable by a local action */
    double ratio;   /* ratio to use when agent_option is false */
} env_forced;

struct cdnopt_env {
    cdnopt_env_params params;
    const cdnopt_release_set *releases; /* borrowed */
    cdnopt_grid grid;          /* the baseline's grid */
    size_t steps_per_hour;     /* grid steps in one hour */
    long day_index;            /* grid index of the day's midnight; negative when the
                                  baseline starts after it */
    int n_hours;               /* whole hours from the day's midnight to the grid's end */
    int64_t earliest;          /* first instant a release may start: the later of the
                                  day's midnight and the baseline's first step, civil s */
    double scale;              /* observation divisor, Gbit/s */

    double *base;              /* baseline, grid.n values, Gbit/s */
    double *total;             /* baseline + placed releases, grid.n values */
    double *select;            /* scratch for the p95 selection, grid.n values */
    float *base_hmax;          /* max baseline of each hour from midnight, n_hours; 0 for
                                  an hour before the baseline starts (unknown) */
    float *total_hmax;         /* max total of each hour, n_hours */
    float *impact_hmax;        /* max release traffic of each hour, n_hours */
    double *profile;           /* scratch hourly profile, CDNOPT_PROFILE_MAX_H values */
    double peak;               /* max of total */
    double objective;          /* current objective value, Gbit/s */

    /* The agent's view. Without an observed series, seen_base and seen_total are NULL
     * and the observation reads base and total. total_hmax and scale always describe
     * the seen series. */
    double *seen_base;         /* observed baseline, grid.n values, or NULL */
    double *seen_total;        /* observed baseline + placed releases, or NULL */
    double seen_peak;          /* max of the seen total */
    double seen_objective;     /* objective of the seen total, Gbit/s */

    size_t n;                  /* releases */
    double *gbit;              /* traffic of each release, Gbit */
    env_forced *forced;        /* fallback placement of each release */
    uint8_t *placed;           /* 1 once placed */
    int64_t *start;            /* placed start, civil seconds */
    double *ratio;             /* placed ratio */
    size_t n_placed;

    cdnopt_shards *shards;     /* releases by planned hour */
    size_t *order;             /* each shard's indices by descending traffic */
    size_t next[CDNOPT_ENV_SHARDS];      /* position of the first unplaced in order */
    size_t pending[CDNOPT_ENV_SHARDS];   /* unplaced releases per shard */
    double pending_gbit[CDNOPT_ENV_SHARDS]; /* their traffic, Gbit */
    int64_t min_forced[CDNOPT_ENV_SHARDS];  /* earliest forced start among them */
    size_t shard_max;          /* releases in the largest shard */
    double day_gbit;           /* traffic of all releases, Gbit */
    double largest_gbit;       /* traffic of the largest release, Gbit */

    cdnopt_env_phase phase;
    int clock;                 /* hours since the day's midnight */
    int shard;                 /* shard of the current global step */
    int level;                 /* level of the current global step, percent */
    size_t step_total;         /* releases the current step may place */
    size_t step_done;          /* releases it has placed */
    long current;              /* release of the pending local decision, or -1 */

    int16_t *expert_plan;      /* local action the expert replays for each release, or -1
                                  for the one-step rule; NULL = one-step for all */
};

/* Whether local action a is valid for release i at the current clock. */
bool env_local_valid(const cdnopt_env *env, size_t i, int action);

/*
 * Look ahead one local decision: for each local action a of the current release,
 * reach[a] is the highest total (Gbit/s) its wave would reach and rise[a] the increase
 * of the objective it would cause. Actions whose wave leaves the grid get INFINITY.
 */
void env_lookahead(const cdnopt_env *env, double *reach, double *rise);

/* Nearest-rank 95th percentile of values[0..n): the value at 1-based rank
 * ceil(0.95 n) in ascending order. Sorts values in place. */
double env_p95_sort(double *values, size_t n);

/* Civil seconds of the current clock. */
int64_t env_clock_time(const cdnopt_env *env);

/* Civil seconds of the first start a local action may take now: the later of the clock
 * and the environment's earliest start. */
int64_t env_first_start(const cdnopt_env *env);

/* Total traffic the agent observes: the observed one, or the true one without it. */
const double *env_seen_total(const cdnopt_env *env);

#endif
