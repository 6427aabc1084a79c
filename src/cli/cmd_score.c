/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cdnopt score: the figures of any schedule (peak, p95, reductions against the naive
 * schedule, spill, lower bound) and the rules it breaks. Exits 3 when a rule is
 * broken, so that a script can tell a broken rule from an invalid flag or value (2)
 * and from any other error (1).
 */
#include "cli_args.h"
#include "commands.h"
#include "plan_report.h"

#include "cdnopt/core.h"
#include "cdnopt/plan.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Exit status when the schedule was scored and breaks at least one rule. */
#define SCORE_EXIT_VIOLATION 3

/* Violations printed in the text report; JSON lists them all. */
#define SCORE_TEXT_VIOLATIONS 20

static const char synopsis[] =
    "score --baseline FILE --releases FILE --schedule FILE [--rules FILE] [--json]";
static const char description[] =
    "Evaluate a schedule (id,start_at,batch_ratio) on a baseline: peak and p95 of baseline\n"
    "plus download traffic, their reductions against the naive schedule (every release\n"
    "at planned_at, batch ratio 1.0), spill and the lower bound. Lists every broken rule\n"
    "as id, rule and value.\n\n"
    "Exit status: 0 when every rule holds, 3 when a rule is broken (the report is still\n"
    "printed), 2 for an invalid flag or input value, 1 for any other error such as an\n"
    "unreadable file.";

typedef struct score_flags {
    const char *baseline, *releases, *schedule, *rules;
    bool json;
    cdnopt_cli_data_opts read; /* how to read --baseline */
} score_flags;

/* Figures of schedule and of the naive schedule into result. */
static int evaluate(const plan_inputs *in, const cdnopt_schedule *schedule,
                    cdnopt_plan_result *result)
{
    memset(result, 0, sizeof *result);
    cdnopt_schedule *naive = NULL;
    int rc = cdnopt_schedule_naive(in->releases, &naive);
    if (rc == 0)
        rc = cdnopt_schedule_evaluate(in->baseline, in->releases, naive, &in->rules, NULL,
                                      &result->naive);
    if (rc == 0)
        rc = cdnopt_schedule_evaluate(in->baseline, in->releases, schedule, &in->rules, NULL,
                                      &result->planned);
    cdnopt_schedule_free(naive);
    result->peak_reduction = 1 - result->planned.peak_gbps / result->naive.peak_gbps;
    result->p95_reduction = 1 - result->planned.p95_gbps / result->naive.p95_gbps;
    result->lower_bound_gbps = cdnopt_lower_bound_gbps(in->baseline, in->releases);
    result->lp_bound_gbps = NAN;
    result->gap = NAN;
    return rc;
}

static void print_violations(const cdnopt_violation *violations, size_t n,
                             const cdnopt_release_set *releases)
{
    for (size_t v = 0; v < n && v < SCORE_TEXT_VIOLATIONS; v++)
        printf("violation: %s %s %s\n", releases->items[violations[v].release].id,
               cdnopt_rule_name(violations[v].rule), violations[v].value);
    if (n > SCORE_TEXT_VIOLATIONS)
        printf("... and %zu more violations (--json lists them all)\n",
               n - SCORE_TEXT_VIOLATIONS);
}

static int score(const score_flags *flags, size_t *n_violations, char *err)
{
    plan_inputs in;
    cdnopt_cli_data_opts read = flags->read;
    read.data = flags->baseline;
    int rc = plan_inputs_read(&read, flags->releases, flags->rules, &in, err);
    if (rc != 0)
        return rc;

    /* Grid and rules are checked as violations, not read errors, so all are listed. */
    cdnopt_schedule *schedule = NULL;
    cdnopt_violation *violations = NULL;
    cdnopt_plan_result result;
    cdnopt_grid grid = cdnopt_grid_of(in.baseline);
    rc = cdnopt_schedule_read_csv(flags->schedule, in.releases, NULL, &schedule, err);
    if (rc == 0) {
        violations = cdnopt_malloc((in.releases->n + 1) * sizeof *violations);
        rc = violations == NULL ? cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory") : 0;
    }
    if (rc == 0) {
        *n_violations = cdnopt_schedule_check(in.releases, schedule, &in.rules, &grid,
                                              violations, in.releases->n);
        rc = evaluate(&in, schedule, &result);
        if (rc != 0)
            cdnopt_fail(err, rc, "evaluating %s failed: %s", flags->schedule,
                        cdnopt_strerror(rc));
    }
    if (rc == 0 && flags->json) {
        plan_report_parts parts = {.n_releases = in.releases->n,
                                   .schedule_path = flags->schedule,
                                   .violations = violations,
                                   .n_violations = *n_violations,
                                   .releases = in.releases};
        plan_report_json(stdout, &result, &parts);
    } else if (rc == 0) {
        printf("releases: %zu\n", in.releases->n);
        print_violations(violations, *n_violations, in.releases);
        plan_report_text(stdout, &result, NULL, NULL);
    }
    cdnopt_free(violations);
    cdnopt_schedule_free(schedule);
    plan_inputs_free(&in);
    return rc;
}

int cdnopt_cmd_score(int argc, char **argv)
{
    score_flags flags = {.read = cdnopt_cli_data_opts_default()};
    cdnopt_cli_option opts[] = {
        {"--baseline", CDNOPT_CLI_STRING, &flags.baseline, 0, 0, "FILE",
         "baseline bandwidth CSV (timestamp, Gbit/s)", true, false},
        CDNOPT_CLI_READ_OPTIONS(&flags.read),
        {"--releases", CDNOPT_CLI_STRING, &flags.releases, 0, 0, "FILE",
         "releases CSV (id,size_mb,users,planned_at[,latest_start_at])", true, false},
        {"--schedule", CDNOPT_CLI_STRING, &flags.schedule, 0, 0, "FILE",
         "schedule CSV to score (id,start_at,batch_ratio)", true, false},
        {"--rules", CDNOPT_CLI_STRING, &flags.rules, 0, 0, "FILE",
         "rules file of key = value lines (default: the release model's rules)", false, false},
        {"--json", CDNOPT_CLI_FLAG, &flags.json, 0, 0, NULL, "print one JSON object", false,
         false},
    };
    size_t n_opts = sizeof opts / sizeof opts[0];

    char err[CDNOPT_ERRMSG_MAX] = "";
    int rc = cdnopt_cli_parse(argc, argv, opts, n_opts, err);
    if (rc == CDNOPT_CLI_HELP) {
        cdnopt_cli_print_help(stdout, synopsis, description, opts, n_opts);
        return CDNOPT_EXIT_OK;
    }
    size_t n_violations = 0;
    if (rc == 0)
        rc = score(&flags, &n_violations, err);
    if (rc != 0)
        return cdnopt_cli_report_error("score", rc, err);
    return n_violations > 0 ? SCORE_EXIT_VIOLATION : CDNOPT_EXIT_OK;
}
