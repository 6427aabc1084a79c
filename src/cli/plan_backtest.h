/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `cdnopt plan --history ... --plan-on auto`: choose how to plan from the history's
 * forecast by a backtest on the history itself (see cdnopt/plan_backtest.h).
 */
#ifndef CDNOPT_CLI_PLAN_BACKTEST_H
#define CDNOPT_CLI_PLAN_BACKTEST_H

#include "cdnopt/pipeline.h"
#include "cdnopt/plan.h"
#include "cdnopt/plan_backtest.h"

#include <stdio.h>

/** Inputs of one backtest, all borrowed. */
typedef struct plan_backtest_setup {
    const cdnopt_sampler *model;        /* forecast member, or NULL */
    const cdnopt_series *history;       /* the whole history */
    const cdnopt_release_set *releases; /* the real releases */
    const cdnopt_rules *rules;
    const cdnopt_plan_params *params;   /* planner settings of the real run */
    cdnopt_plan_forecast_params forecast; /* forecast settings of the real run; horizon
                                             (steps) is the real run's horizon */
    int max_folds;                      /* 1 .. CDNOPT_PLAN_BACKTEST_MAX_FOLDS */
    int64_t min_history_s;              /* history kept before the moved releases, s */
    bool try_wide;                      /* also try the wide scenario set */
} plan_backtest_setup;

/** Figures of one backtest. */
typedef struct plan_backtest_report {
    int n_folds;                                        /* 0 when no fold fits */
    int64_t shift_s[CDNOPT_PLAN_BACKTEST_MAX_FOLDS];    /* how far each fold moves back, s */
    double truth_peak_gbps[CDNOPT_PLAN_BACKTEST_MAX_FOLDS]; /* greedy on the known traffic */
    double peak_gbps[CDNOPT_PLAN_BACKTEST_MAX_FOLDS][CDNOPT_PLAN_METHOD_COUNT]; /* each
                                                           method's peak on that traffic */
    double score[CDNOPT_PLAN_METHOD_COUNT]; /* geometric mean of peak / truth peak;
                                               INFINITY for a method not tried */
    cdnopt_plan_method chosen;              /* lowest score; scenarios when n_folds is 0 */
    double seconds;                         /* wall-clock time of the whole backtest */
} plan_backtest_report;

/** Set the scenario settings of fp that `method` plans against. */
void plan_method_forecast_params(cdnopt_plan_method method, cdnopt_plan_forecast_params *fp);

/**
 * Plan releases from forecast f with method: greedy on f->mean, or robust against the
 * scenarios of f (worst-case weight 0). result is filled on success; the caller clears it.
 */
int plan_with_method(cdnopt_plan_method method, const cdnopt_plan_forecast *f,
                     const cdnopt_release_set *releases, const cdnopt_rules *rules,
                     const cdnopt_plan_params *params, cdnopt_plan_result *result, char *err);

/** Run the backtest folds and choose the method. @return 0 or an error with err set. */
int plan_backtest_run(const plan_backtest_setup *setup, plan_backtest_report *out, char *err);

/** Print the backtest as text lines, or as the members of a JSON object "backtest". */
void plan_backtest_print_text(FILE *out, const plan_backtest_report *report);
void plan_backtest_print_json(FILE *out, const plan_backtest_report *report);

#endif /* CDNOPT_CLI_PLAN_BACKTEST_H */
