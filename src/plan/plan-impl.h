/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The planning problem shared by the greedy and exact planners: for each release its
 * legal options as (grid index of the start, ratio index) and its hourly rate
 * profile per ratio, and the running total T on the baseline grid.
 */
#ifndef CDNOPT_PLAN_IMPL_H
#define CDNOPT_PLAN_IMPL_H

#include "cdnopt/plan.h"

#include <glpk.h>
#include <limits.h>

/* One legal way to start a release, on the baseline grid. */
typedef struct plan_option {
    int64_t first;    /* grid index of the first batch's start */
    unsigned ratio;   /* index into rules->batch_ratios */
    int64_t delay;    /* start - planned_at, in grid steps (for ties) */
} plan_option;

typedef struct plan_problem {
    const cdnopt_series *baseline;
    const cdnopt_release_set *releases;
    const cdnopt_rules *rules;
    size_t n;                 /* grid steps */
    int64_t steps_per_hour;   /* 3600 / baseline step */
    int64_t start_steps;      /* spacing of candidate starts, in grid steps */
    plan_option *options;     /* all options, grouped by release */
    size_t *option_offset;    /* release i owns options[option_offset[i] .. [i+1]) */
    double *profiles;         /* hourly Gbit/s, grouped by release then ratio */
    size_t *profile_offset;   /* profile of release i, ratio r at [i * n_ratios + r] */
    size_t max_hours;         /* longest profile */
    int64_t *base_first;      /* per release, the grid index of its earliest option */
} plan_problem;

/* Build the options and profiles. Returns 0, CDNOPT_EINVAL (bad grid, a release with
 * no legal option: err names it) or CDNOPT_ENOMEM. */
int plan_problem_init(plan_problem *problem, const cdnopt_series *baseline,
                      const cdnopt_release_set *releases, const cdnopt_rules *rules,
                      int64_t start_step_s, char *err);

void plan_problem_free(plan_problem *problem);

/* Profile of release i with ratio index r and its length in hours. */
const double *plan_profile(const plan_problem *problem, size_t i, unsigned r, size_t *hours);

/* Add sign * the traffic of release i started with option o to total. */
void plan_apply(const plan_problem *problem, double *total, size_t i, const plan_option *o,
                double sign);

/* Release indices by energy (size * users), largest first, ties by index. Returns an
 * array the caller frees with cdnopt_free(), or NULL when out of memory. */
size_t *plan_energy_order(const cdnopt_release_set *releases);

/* Run greedy valley filling then local search; choice[i] receives the index of release
 * i's option (relative to its option_offset). */
int plan_greedy_choose(const plan_problem *problem, cdnopt_objective objective, int passes,
                       size_t *choice);

/* Run local-search passes from an existing choice (used on the exact solver's result). */
int plan_local_search(const plan_problem *problem, cdnopt_objective objective, int passes,
                      size_t *choice);

/* As plan_greedy_choose and plan_local_search, but no local-search pass starts or goes
 * on once cdnopt_clock_s() reaches deadline. Greedy's first placement of every release
 * always runs to the end. */
int plan_greedy_choose_until(const plan_problem *problem, cdnopt_objective objective, int passes,
                             double deadline, size_t *choice);
int plan_local_search_until(const plan_problem *problem, cdnopt_objective objective, int passes,
                            double deadline, size_t *choice);

/* Settings of plan_ruin_recreate. */
typedef struct plan_ruin_params {
    double deadline;   /* cdnopt_clock_s() value at which the search stops */
    double stop_peak;  /* stop once the peak is at or below this, Gbit/s */
    size_t patience;   /* stop after this many rounds without a lower peak; 0: no limit */
    size_t max_rounds; /* stop after this many rounds; 0: no limit */
} plan_ruin_params;

/* What one plan_ruin_recreate run did. */
typedef struct plan_ruin_stats {
    double start_peak, peak; /* peak on entry and of the returned choice, Gbit/s */
    size_t rounds;           /* rounds run */
    size_t accepted;         /* rounds whose result was kept */
    size_t kicks;            /* large rounds kept whatever their result */
} plan_ruin_stats;

/* Lower the peak of choice by ruin and recreate (ruin.c). On return choice contains the
 * lowest-peak schedule seen, so its peak is never above the peak on entry. The peaks in
 * stats come from running totals and may differ from a dense evaluation by rounding.
 * Returns 0 or CDNOPT_ENOMEM. */
int plan_ruin_recreate(const plan_problem *problem, const plan_ruin_params *params,
                       cdnopt_rng *rng, size_t *choice, plan_ruin_stats *stats);

/* Fill out (schedule, figures, reductions, bound) from a choice; sets everything but
 * lp_bound_gbps, gap, solve_s, optimal, method. */
int plan_finish(const plan_problem *problem, const size_t *choice, cdnopt_plan_result *out,
                char *err);

/* End a planner run: on rc == 0 fill out with plan_finish(), otherwise name the planner
 * and the failure in err. Frees choice and the problem in both cases and clears out
 * on failure. Returns the final code. */
int plan_conclude(plan_problem *problem, size_t *choice, int rc, const char *planner,
                  cdnopt_plan_result *out, char *err);

/* Returned by plan_glpk_solve() when GLPK failed an internal check. */
#define PLAN_GLPK_FAILED INT_MIN

/* Run glp_simplex(*lp, lp_params), or glp_intopt(*lp, mip_params) when lp_params is
 * NULL. Unless verbose, GLPK prints nothing to stdout. The thread's GLPK terminal hook
 * is left unset afterwards. An internal failure of GLPK, which would otherwise abort
 * the process, is logged with GLPK's message. It frees the thread's GLPK environment
 * with every program in it, sets *lp to NULL and returns PLAN_GLPK_FAILED. Otherwise
 * returns the GLPK call's code. */
int plan_glpk_solve(glp_prob **lp, const glp_smcp *lp_params, const glp_iocp *mip_params,
                    bool verbose);

#endif
