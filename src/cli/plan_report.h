/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Output shared by `cdnopt plan` and `cdnopt score`: reading the baseline, releases
 * and rules files the two commands both take, and printing a schedule's figures as
 * a table or as one JSON object.
 */
#ifndef CDNOPT_CLI_PLAN_REPORT_H
#define CDNOPT_CLI_PLAN_REPORT_H

#include "cli_options.h"
#include "plan_backtest.h"

#include "cdnopt/pipeline.h"
#include "cdnopt/plan.h"

#include <stdio.h>

/** The inputs both commands read. */
typedef struct plan_inputs {
    cdnopt_series *baseline;      /* Gbit/s on a grid; owned */
    cdnopt_release_set *releases; /* owned */
    cdnopt_rules rules;           /* defaults, or the --rules file over them */
} plan_inputs;

/**
 * Read the baseline CSV (timestamp and Gbit/s) that baseline->data names, with the
 * read flags in baseline, then the releases CSV and, when rules_path is not NULL, the
 * rules file.
 * @return 0 or the reader's error with its message in err.
 */
int plan_inputs_read(const cdnopt_cli_data_opts *baseline, const char *releases_path,
                     const char *rules_path, plan_inputs *in, char *err);

/** Free what plan_inputs_read allocated. */
void plan_inputs_free(plan_inputs *in);

/** Print one result as a human-readable table. */
void plan_report_text(FILE *out, const cdnopt_plan_result *result, const char *solver,
                      const char *objective);

/** Parts of a JSON report beside the result. A NULL member leaves its part out. */
typedef struct plan_report_parts {
    size_t n_releases;
    const char *solver, *objective;   /* NULL for score */
    const char *schedule_path;
    const cdnopt_violation *violations; /* with releases: the "violations" member */
    size_t n_violations;
    const cdnopt_release_set *releases;
    const plan_backtest_report *backtest; /* the "backtest" member */
    const cdnopt_figures *capacity;   /* the schedule on the critical line (--history) */
    double safety;                    /* the critical line's margin factor */
    const cdnopt_plan_forecast *forecast; /* the "forecast" member (--history) */
    const char *plan_on;              /* with forecast: mean, critical or scenarios */
    double worst_weight;              /* with plan_on scenarios: --worst-weight */
} plan_report_parts;

/** Print one result as a JSON object with the parts that are set. */
void plan_report_json(FILE *out, const cdnopt_plan_result *result, const plan_report_parts *parts);

#endif
