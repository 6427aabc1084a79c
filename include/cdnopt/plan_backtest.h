/* SPDX-License-Identifier: Apache-2.0 */
/*
 * plan_backtest: the pieces that choose a planning method by a backtest on the
 * history. The real releases are moved back by whole weeks (or whole days when the
 * history is too short for that), so they fall on a span whose traffic is known. Each
 * method then plans them from the history before that span, exactly as it would plan the
 * real releases, and the method whose schedule has the lowest peak on the known traffic
 * is used for the real plan. The forecasting and planning themselves live in the
 * command line (src/cli/plan_backtest.c); this header declares the parts that can be
 * checked by hand.
 *
 * Usage:
 *     int64_t shift_s = cdnopt_plan_backtest_shift_s(history_s, reach_s, min_history_s, 0);
 *     cdnopt_release_set *moved = NULL;
 *     cdnopt_release_set_shift(releases, -shift_s, &moved, err);
 *     ... plan moved from the history before (end - shift_s) with every method, score ...
 *     cdnopt_plan_method best = cdnopt_plan_backtest_choose(ratios, n_folds, scores);
 *
 * Limitations:
 * - A fold is one stretch of past traffic, so the choice is only as good as that stretch
 *   is like the coming one. A holiday in the fold misleads it.
 * - When a whole-week shift leaves too little history, the shift is in whole days, so
 *   the moved releases fall on other weekdays than the real ones.
 * - A forecasting model trained on the whole history has seen the traffic of the folds,
 *   so the folds judge the forecasts it joins too kindly.
 * - The choice is a weak signal. On 20 stretches of a UK and a European series, 15
 *   had a fold and a difference of more than 0.1 % between the mean line and the
 *   scenarios. The backtest picked the better of the two on 7 of them
 *   (docs/benchmarks.md).
 */
#ifndef CDNOPT_PLAN_BACKTEST_H
#define CDNOPT_PLAN_BACKTEST_H

#include "cdnopt/release.h"

#include <stddef.h>
#include <stdint.h>

/** Ways to plan from a history's forecast, in the order the backtest tries them. */
typedef enum cdnopt_plan_method {
    CDNOPT_PLAN_METHOD_MEAN = 0,      /* greedy on the forecast's mean line */
    CDNOPT_PLAN_METHOD_SCENARIOS = 1, /* robust on the members and the last 3 days of the
                                         same kind (the --plan-on scenarios default) */
    CDNOPT_PLAN_METHOD_WIDE = 2,      /* robust on the members, the weeks 2 and 3 back and
                                         the last 7 days of the same kind */
    CDNOPT_PLAN_METHOD_COUNT = 3
} cdnopt_plan_method;

/** Max number of folds of one backtest. */
#define CDNOPT_PLAN_BACKTEST_MAX_FOLDS 4

/** Return the method's name ("mean", "scenarios", "wide"), or "unknown". */
const char *cdnopt_plan_method_name(cdnopt_plan_method method);

/**
 * Return how far back fold `fold` (0, 1, ...) moves the releases, in seconds. The unit
 * is one week when the smallest whole number of weeks that covers reach_s still leaves
 * min_history_s of history before the moved releases, else one day. Fold k moves them
 * by that smallest cover plus k units.
 * @param history_s      length of the history, s
 * @param reach_s        time from the end of the history to the end of the last traffic
 *                       a legal schedule can cause, s, >= 0
 * @param min_history_s  history to keep before the moved releases, s
 * @return the shift in seconds (a positive multiple of 86400), or 0 when fold does not
 *         fit in the history.
 */
int64_t cdnopt_plan_backtest_shift_s(int64_t history_s, int64_t reach_s, int64_t min_history_s,
                                     int fold);

/**
 * Copy a release set with planned_at and latest_start_at moved by shift_s seconds
 * (negative: earlier).
 * @param out  receives the copy, owned by the caller (cdnopt_release_set_free)
 * @return 0, CDNOPT_EINVAL (empty set) or CDNOPT_ENOMEM, with a message in err
 */
int cdnopt_release_set_shift(const cdnopt_release_set *releases, int64_t shift_s,
                             cdnopt_release_set **out /* OUT */, char *err);

/**
 * Choose the method with the lowest geometric mean, over the folds, of its peak divided
 * by the peak greedy plans on the known traffic. Ties go to the earlier method, which is
 * the cheaper one. A non-finite or non-positive ratio rules a method out.
 * @param ratios  n_folds rows of CDNOPT_PLAN_METHOD_COUNT ratios, row-major
 * @param scores  receives each method's geometric mean (INFINITY when ruled out); may
 *                be NULL
 * @return the chosen method; CDNOPT_PLAN_METHOD_MEAN when every method is ruled out
 */
cdnopt_plan_method cdnopt_plan_backtest_choose(const double *ratios, int n_folds,
                                               double *scores);

#endif /* CDNOPT_PLAN_BACKTEST_H */
