/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cdnopt plan: schedule the releases of a releases CSV against a baseline with the
 * greedy or the exact (GLPK) planner, write the schedule CSV and print its figures.
 */
#include "cli_args.h"
#include "commands.h"
#include "plan_report.h"

#include "cdnopt/core.h"
#include "cdnopt/plan.h"

#include <stdio.h>
#include <string.h>

#define PLAN_LOG "plan"

static const char synopsis[] =
    "plan --baseline FILE --releases FILE --out SCHEDULE.csv [--solver greedy|exact]\n"
    "       [--objective peak|p95] [--rules FILE] [--time-limit DURATION] [--passes N] [--json]";
static const char description[] =
    "Choose a start (delay after planned_at, in whole hours) and a batch ratio for every\n"
    "release so that baseline plus download traffic has the lowest peak or p95. The\n"
    "baseline is a CSV of timestamp and Gbit/s on a grid that divides one hour; the\n"
    "releases CSV has id,size_mb,users,planned_at[,latest_start_at]. The schedule goes\n"
    "to --out as id,start_at,batch_ratio. Prints naive and planned peak and p95, their\n"
    "reductions, the lower bound, the exact planner's LP bound and gap, and the time.\n"
    "The rules (delay window, ratios, blackout, wave shape) are in docs/rules.md.";

typedef struct plan_flags {
    const char *baseline, *releases, *out, *rules, *solver, *objective;
    int64_t time_limit_s;
    long passes;
    bool json;
} plan_flags;

static int plan(const plan_flags *flags, const cdnopt_plan_params *params, char *err)
{
    plan_inputs in;
    int rc = plan_inputs_read(flags->baseline, flags->releases, flags->rules, &in, err);
    if (rc != 0)
        return rc;

    cdnopt_plan_result result;
    bool exact = strcmp(flags->solver, "exact") == 0;
    rc = exact ? cdnopt_plan_exact(in.baseline, in.releases, &in.rules, params, &result, err)
               : cdnopt_plan_greedy(in.baseline, in.releases, &in.rules, params, &result, err);
    if (rc == 0)
        rc = cdnopt_schedule_write_csv(flags->out, in.releases, result.schedule, err);
    if (rc == 0) {
        CDNOPT_LOG_INFO(PLAN_LOG,
                        "planned solver=%s objective=%s releases=%zu peak_gbps=%.3f "
                        "p95_gbps=%.3f solve_s=%.3f out=%s",
                        flags->solver, flags->objective, in.releases->n,
                        result.planned.peak_gbps, result.planned.p95_gbps, result.solve_s,
                        flags->out);
        if (flags->json)
            plan_report_json(stdout, &result, in.releases->n, flags->solver, flags->objective,
                             flags->out, NULL, 0, NULL);
        else
            plan_report_text(stdout, &result, flags->solver, flags->objective);
        cdnopt_plan_result_clear(&result);
    }
    plan_inputs_free(&in);
    return rc;
}

/* Check the flag values the table cannot check, and fill params from them. */
static int check_flags(const plan_flags *flags, cdnopt_plan_params *params, char *err)
{
    if (strcmp(flags->solver, "greedy") != 0 && strcmp(flags->solver, "exact") != 0)
        return cdnopt_fail(err, CDNOPT_EINVAL, "invalid --solver '%s': use greedy or exact",
                           flags->solver);
    if (cdnopt_objective_parse(flags->objective, &params->objective) != 0)
        return cdnopt_fail(err, CDNOPT_EINVAL, "invalid --objective '%s': use peak or p95",
                           flags->objective);
    params->time_limit_s = (double)flags->time_limit_s;
    params->local_search_passes = (int)flags->passes;
    params->verbose = cdnopt_log_get_level() >= CDNOPT_LOG_LEVEL_DEBUG && !flags->json;
    return 0;
}

int cdnopt_cmd_plan(int argc, char **argv)
{
    cdnopt_plan_params params = cdnopt_plan_params_default();
    plan_flags flags = {.solver = "greedy", .objective = "peak",
                        .time_limit_s = (int64_t)params.time_limit_s,
                        .passes = params.local_search_passes};
    cdnopt_cli_option opts[] = {
        {"--baseline", CDNOPT_CLI_STRING, &flags.baseline, 0, 0, "FILE",
         "baseline bandwidth CSV (timestamp, Gbit/s)", true, false},
        {"--releases", CDNOPT_CLI_STRING, &flags.releases, 0, 0, "FILE",
         "releases CSV (id,size_mb,users,planned_at[,latest_start_at])", true, false},
        {"--out", CDNOPT_CLI_STRING, &flags.out, 0, 0, "FILE",
         "schedule CSV to write (id,start_at,batch_ratio)", true, false},
        {"--solver", CDNOPT_CLI_STRING, &flags.solver, 0, 0, "NAME",
         "greedy (valley filling and local search) or exact (GLPK mixed-integer program)",
         false, false},
        {"--objective", CDNOPT_CLI_STRING, &flags.objective, 0, 0, "NAME",
         "what to minimise: peak or p95 (nearest rank)", false, false},
        {"--rules", CDNOPT_CLI_STRING, &flags.rules, 0, 0, "FILE",
         "rules file of key = value lines (default: the release model's rules)", false, false},
        {"--time-limit", CDNOPT_CLI_DURATION, &flags.time_limit_s, 1, 7 * 86400.0, "DURATION",
         "wall-clock limit of the exact planner", false, false},
        {"--passes", CDNOPT_CLI_INT, &flags.passes, 0, 1000, "N",
         "local-search passes per stage (0 = plain valley filling)", false, false},
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
    if (rc == 0)
        rc = check_flags(&flags, &params, err);
    if (rc != 0)
        return cdnopt_cli_report_error("plan", rc, err);

    rc = plan(&flags, &params, err);
    if (rc != 0)
        return cdnopt_cli_report_error("plan", rc, err);
    return CDNOPT_EXIT_OK;
}
