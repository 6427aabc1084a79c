/* SPDX-License-Identifier: Apache-2.0 */
/*
 * plan: schedule releases against a baseline to cut peak or p95 bandwidth.
 *
 * Two planners share one params struct and one result:
 * - greedy: valley filling. Releases are taken by energy (size * users), largest
 *   first. Each goes to the legal (start, ratio) whose traffic window reaches the
 *   lowest total, counting the baseline and the releases already placed. Ties go to
 *   the smaller delay, then the smaller ratio. Local-search passes then re-place
 *   each release with the others fixed. The first stage minimises the growth of
 *   sum T^2 and the second that of sum (T / peak)^16: smooth stand-ins for the max
 *   that still move when several steps share the peak. The last stage minimises
 *   the objective itself, the highest total the release reaches or the exact
 *   nearest-rank p95 of the whole grid.
 * - exact: a mixed-integer program solved with GLPK: one binary per release and
 *   legal (whole-hour delay, ratio), minimising the peak. It solves the root LP
 *   relaxation (the bound), rounds it and polishes the rounding with the local
 *   search. It raises the bound by branching on the options of the largest releases
 *   for a quarter of the time left, then improves the better of that and greedy with neighbourhood
 *   programs. Each frees up to 40 releases, most of them covering the peak, with
 *   the rest fixed. Its LP is rounded and polished by the local search, and it is
 *   solved by branch and bound. Either result replaces the schedule when its peak
 *   is not higher. The rounds go on until the gap to the root bound drops below
 *   mip_gap or time runs out. With 40 releases or fewer the
 *   first program covers them all, which is plain branch and bound.
 *
 * Both consider starts planned_at + k * start_step_s (whole-hour delays by default),
 * so their bounds hold for that restricted problem only; result.problem names it.
 * Greedy with a step finer than one hour also plans on whole hours and returns that
 * plan when its objective is lower.
 *
 * Usage:
 *     cdnopt_plan_params params = cdnopt_plan_params_default();
 *     params.objective = CDNOPT_OBJECTIVE_PEAK;
 *     cdnopt_plan_result result;
 *     char err[CDNOPT_ERRMSG_MAX];
 *     if (cdnopt_plan_exact(baseline, releases, &rules, &params, &result, err) != 0)
 *         fprintf(stderr, "%s\n", err);
 *     ... result.schedule, result.planned.peak_gbps, result.lp_bound_gbps ...
 *     cdnopt_plan_result_clear(&result);
 *
 * Limitations:
 * - The exact program has one binary per release and option (about 96 per release).
 *   It proves optimality only for small instances; on larger ones the result is the
 *   best schedule found, with its gap to the root LP bound. When the LP relaxation
 *   runs out of time, the greedy schedule improved by ruin and recreate is returned
 *   with no LP bound. The same happens, without building the program, when the LP's
 *   estimated time exceeds its share of time_limit_s.
 * - time_limit_s bounds the exact planner's search, but greedy's first placement of
 *   every release always runs to its end, and the p95 local search may take up to a
 *   tenth of time_limit_s more.
 * - For the p95 objective the exact solver is not exact: it solves the peak program
 *   and then runs the greedy p95 local search on its schedule (result.method says so).
 *   It returns greedy's own p95 schedule instead when that has the lower p95.
 * - The p95 local search ends with a peak repair that may raise p95 by up to 1 %.
 * - start_step_s must be a multiple of the baseline step that divides one hour, and
 *   the exact planner takes only 3600 (whole-hour delays).
 * - cdnopt_plan_robust() minimises the peak only. It runs greedy's stages once per
 *   scenario, so it takes up to n_lines times as long as greedy. Whether it beats
 *   greedy on the scenarios' mean depends on the traffic: it did on forecasts of the
 *   UK academic backbone series but not of the European ISP series (docs/benchmarks.md).
 */
#ifndef CDNOPT_PLAN_H
#define CDNOPT_PLAN_H

#include "cdnopt/release.h"

/** Objective a planner minimises. */
typedef enum cdnopt_objective {
    CDNOPT_OBJECTIVE_PEAK = 0, /* max of T(t) */
    CDNOPT_OBJECTIVE_P95 = 1,  /* nearest-rank 95th percentile of T(t) */
} cdnopt_objective;

/** Options of both planners; start from cdnopt_plan_params_default(). */
typedef struct cdnopt_plan_params {
    cdnopt_objective objective; /* default peak */
    int64_t start_step_s;       /* spacing of candidate starts from planned_at, s; 3600 */
    int local_search_passes;    /* re-placement passes per local-search stage; default 2 */
    double time_limit_s;        /* exact: wall-clock limit of the search, s; default 60 */
    double mip_gap;             /* exact: stop when (incumbent - bound) / incumbent is below; 1e-3 */
    bool verbose;               /* exact: let GLPK print its progress to stdout */
} cdnopt_plan_params;

/** Defaults: peak, whole-hour delays, 2 passes, 60 s, gap 1e-3. */
cdnopt_plan_params cdnopt_plan_params_default(void);

/** Outcome of a planner. Owns schedule; release it with cdnopt_plan_result_clear(). */
typedef struct cdnopt_plan_result {
    cdnopt_schedule *schedule;  /* one entry per release; owned */
    cdnopt_figures naive;       /* every release at planned_at with ratio 1.0 */
    cdnopt_figures planned;     /* the schedule's figures (dense evaluation) */
    double peak_reduction;      /* 1 - planned peak / naive peak */
    double p95_reduction;       /* 1 - planned p95 / naive p95 */
    double lower_bound_gbps;    /* max(max baseline, total traffic / time range) */
    double lp_bound_gbps;       /* LP bound of the restricted problem (root LP, raised by
                                   branching on the largest releases); NaN when none */
    double gap;                 /* (planned peak - lp_bound) / planned peak; NaN when none */
    double solve_s;             /* wall-clock seconds spent planning */
    bool optimal;               /* exact: GLPK proved the gap below mip_gap */
    char problem[64];           /* the problem searched, e.g. "whole-hour delays" */
    char method[320];           /* how the schedule was found, in words */
} cdnopt_plan_result;

/**
 * Plan with the greedy valley-filling heuristic and local search.
 * @param baseline bandwidth in Gbit/s on a grid whose step divides one hour.
 * @param out      filled on success; the caller clears it.
 * @return 0, CDNOPT_EINVAL (bad step, a release with no legal option; err names it)
 *         or CDNOPT_ENOMEM.
 */
int cdnopt_plan_greedy(const cdnopt_series *baseline, const cdnopt_release_set *releases,
                       const cdnopt_rules *rules, const cdnopt_plan_params *params,
                       cdnopt_plan_result *out, char *err);

/**
 * Plan with the mixed-integer program (GLPK), warm-started from greedy.
 * @return 0 (also when the time limit stops GLPK; see out->optimal), CDNOPT_EINVAL
 *         (as greedy, or start_step_s other than 3600), CDNOPT_ENOMEM.
 */
int cdnopt_plan_exact(const cdnopt_series *baseline, const cdnopt_release_set *releases,
                      const cdnopt_rules *rules, const cdnopt_plan_params *params,
                      cdnopt_plan_result *out, char *err);

/** Baselines to plan against at once, for cdnopt_plan_robust(). Borrowed, not owned. */
typedef struct cdnopt_plan_scenarios {
    const cdnopt_series *reference;    /* line the result's figures are evaluated on (e.g.
                                          a forecast's mean); sets the grid and options */
    const cdnopt_series *const *lines; /* n_lines scenarios on the reference's grid, Gbit/s */
    size_t n_lines;                    /* at least 1 */
    double worst_weight; /* options are judged by (1 - w) x the mean over the scenarios
                            + w x the maximum; 0 = expected peak, 1 = worst case */
} cdnopt_plan_scenarios;

/**
 * Plan with greedy valley filling and local search against several baselines at once.
 * The stages are greedy's, but every figure an option is judged by (the highest total
 * it reaches, the growth of the sum of 16th powers, the peak) is taken in each scenario
 * and blended over them. The sum of squares stage uses the scenarios' mean line.
 * With one scenario and worst_weight 0 the stages judge as cdnopt_plan_greedy() does,
 * except that the last stage compares whole-grid peaks, so ties may break otherwise.
 * @param params objective must be CDNOPT_OBJECTIVE_PEAK.
 * @param out    filled on success, with figures on scenarios->reference; the caller
 *               clears it.
 * @return 0, CDNOPT_EINVAL (no scenario, a scenario off the reference grid, weight
 *         outside [0, 1], or as greedy), CDNOPT_ENOTSUP (objective p95) or CDNOPT_ENOMEM.
 */
int cdnopt_plan_robust(const cdnopt_plan_scenarios *scenarios,
                       const cdnopt_release_set *releases, const cdnopt_rules *rules,
                       const cdnopt_plan_params *params, cdnopt_plan_result *out, char *err);

/** Free the result's schedule and reset it; safe on a zeroed or cleared result. */
void cdnopt_plan_result_clear(cdnopt_plan_result *result);

/** Name of an objective ("peak", "p95"). */
const char *cdnopt_objective_name(cdnopt_objective objective);

/** Parse "peak" or "p95"; returns 0 or CDNOPT_EINVAL. */
int cdnopt_objective_parse(const char *text, cdnopt_objective *out);

#endif /* CDNOPT_PLAN_H */
