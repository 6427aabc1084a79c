/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Printing the figures of a plan or a scored schedule, as text or JSON. JSON numbers
 * use 17 significant digits so that a reader can compare them with the referee to
 * 1e-6 relative; a missing bound prints as null.
 */
#include "plan_report.h"

#include <math.h>
#include <string.h>

int plan_inputs_read(const cdnopt_cli_data_opts *baseline, const char *releases_path,
                     const char *rules_path, plan_inputs *in, char *err)
{
    memset(in, 0, sizeof *in);
    in->rules = cdnopt_rules_default();
    int rc = cdnopt_cli_read_series(baseline, &in->baseline, err);
    if (rc == 0)
        rc = cdnopt_release_set_read_csv(releases_path, &in->releases, err);
    if (rc == 0 && rules_path != NULL)
        rc = cdnopt_rules_read(rules_path, &in->rules, err);
    if (rc == 0 && (in->baseline->step_s <= 0 || 3600 % in->baseline->step_s != 0))
        rc = cdnopt_fail(err, CDNOPT_EINVAL,
                         "%s: the grid step of %lld s does not divide one hour, which release "
                         "batches start on; resample the series to e.g. 5m or 1h",
                         baseline->data, (long long)in->baseline->step_s);
    if (rc != 0)
        plan_inputs_free(in);
    return rc;
}

void plan_inputs_free(plan_inputs *in)
{
    cdnopt_series_free(in->baseline);
    cdnopt_release_set_free(in->releases);
    in->baseline = NULL;
    in->releases = NULL;
}

void plan_report_text(FILE *out, const cdnopt_plan_result *result, const char *solver,
                      const char *objective)
{
    if (solver != NULL)
        fprintf(out, "solver: %s, objective: %s\nproblem: %s\nmethod: %s\n", solver, objective,
                result->problem, result->method);
    fprintf(out, "%-22s %14s %14s %12s\n", "", "naive", "schedule", "reduction");
    fprintf(out, "%-22s %14.3f %14.3f %11.2f %%\n", "peak (Gbit/s)", result->naive.peak_gbps,
            result->planned.peak_gbps, 100 * result->peak_reduction);
    fprintf(out, "%-22s %14.3f %14.3f %11.2f %%\n", "p95 (Gbit/s)", result->naive.p95_gbps,
            result->planned.p95_gbps, 100 * result->p95_reduction);
    fprintf(out, "%-22s %14.1f %14.1f\n", "spill (Gbit)", result->naive.spill_gbit,
            result->planned.spill_gbit);
    fprintf(out, "lower_bound_gbps: %.3f (max of the baseline peak and the mean total load)\n",
            result->lower_bound_gbps);
    if (!isnan(result->lp_bound_gbps))
        fprintf(out,
                "lp_bound_gbps: %.3f (LP relaxation, %s); gap of this schedule's peak to it: "
                "%.2f %%%s\n",
                result->lp_bound_gbps, result->problem, 100 * result->gap,
                result->optimal ? " (within the tolerance)" : "");
    if (solver != NULL)
        fprintf(out, "solver time: %.3f s\n", result->solve_s);
}

static void json_number(FILE *out, const char *key, double value, bool last)
{
    if (isfinite(value))
        fprintf(out, "  \"%s\": %.17g%s\n", key, value, last ? "" : ",");
    else
        fprintf(out, "  \"%s\": null%s\n", key, last ? "" : ",");
}

/* Write s as a JSON string; the texts here have no control characters but may have
 * quotes or backslashes in file names. */
static void json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s != '\0'; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', out);
        if ((unsigned char)*s >= 0x20)
            fputc(*s, out);
    }
    fputc('"', out);
}

static void json_figures(FILE *out, const char *key, const cdnopt_figures *f)
{
    fprintf(out,
            "  \"%s\": {\"peak_gbps\": %.17g, \"p95_gbps\": %.17g, \"mean_gbps\": %.17g, "
            "\"spill_gbit\": %.17g},\n",
            key, f->peak_gbps, f->p95_gbps, f->mean_gbps, f->spill_gbit);
}

static void json_violations(FILE *out, const cdnopt_violation *violations, size_t n,
                            const cdnopt_release_set *releases)
{
    fprintf(out, "  \"violations\": [");
    for (size_t v = 0; v < n; v++) {
        fprintf(out, "%s{\"id\": ", v == 0 ? "" : ", ");
        json_string(out, releases->items[violations[v].release].id);
        fprintf(out, ", \"rule\": \"%s\", \"value\": ", cdnopt_rule_name(violations[v].rule));
        json_string(out, violations[v].value);
        fputc('}', out);
    }
    fprintf(out, "],\n");
}

/* The forecast planned on, as the text output's "forecast:" line gives it: every
 * member with its backtest error, the backtest's length, the line and its margin. */
static void json_forecast(FILE *out, const plan_report_parts *parts)
{
    const cdnopt_plan_forecast *f = parts->forecast;
    fprintf(out, "  \"forecast\": {\"members\": [");
    for (int k = 0; k < f->n_members; k++) {
        fprintf(out, "%s{\"name\": ", k == 0 ? "" : ", ");
        json_string(out, f->members[k].name);
        fprintf(out, ", \"used\": %s, \"backtest_shape_mae\": ",
                f->members[k].used ? "true" : "false");
        if (isfinite(f->members[k].backtest_mae))
            fprintf(out, "%.17g}", f->members[k].backtest_mae);
        else
            fprintf(out, "null}");
    }
    double hours = (double)f->backtest_steps * (double)f->mean->step_s / 3600.0;
    fprintf(out, "], \"backtest_hours\": %.17g, \"plan_on\": ", hours);
    json_string(out, parts->plan_on);
    fprintf(out, ", \"margin_gbps\": %.17g", f->margin);
    if (strcmp(parts->plan_on, "scenarios") == 0)
        fprintf(out, ", \"scenarios\": %d, \"worst_weight\": %.17g", f->n_scenarios,
                parts->worst_weight);
    fprintf(out, "},\n");
}

void plan_report_json(FILE *out, const cdnopt_plan_result *result, const plan_report_parts *parts)
{
    const char *solver = parts->solver, *objective = parts->objective;
    const char *schedule_path = parts->schedule_path;
    fprintf(out, "{\n  \"releases\": %zu,\n", parts->n_releases);
    if (parts->backtest != NULL)
        plan_backtest_print_json(out, parts->backtest);
    if (parts->forecast != NULL)
        json_forecast(out, parts);
    if (solver != NULL) {
        fprintf(out, "  \"solver\": \"%s\",\n  \"objective\": \"%s\",\n  \"problem\": ", solver,
                objective);
        json_string(out, result->problem);
        fprintf(out, ",\n  \"method\": ");
        json_string(out, result->method);
        fprintf(out, ",\n  \"optimal\": %s,\n", result->optimal ? "true" : "false");
    }
    if (schedule_path != NULL) {
        fprintf(out, "  \"schedule_file\": ");
        json_string(out, schedule_path);
        fprintf(out, ",\n");
    }
    json_figures(out, "naive", &result->naive);
    json_figures(out, "schedule", &result->planned);
    if (parts->capacity != NULL) {
        /* The capacity to provision, as the text output prints it. */
        json_figures(out, "capacity", parts->capacity);
        json_number(out, "capacity_safety", parts->safety, false);
    }
    if (parts->releases != NULL)
        json_violations(out, parts->violations, parts->n_violations, parts->releases);
    json_number(out, "peak_reduction", result->peak_reduction, false);
    json_number(out, "p95_reduction", result->p95_reduction, false);
    json_number(out, "lower_bound_gbps", result->lower_bound_gbps, false);
    json_number(out, "lp_bound_gbps", result->lp_bound_gbps, false);
    json_number(out, "gap", result->gap, solver == NULL);
    if (solver != NULL)
        json_number(out, "solve_s", result->solve_s, true);
    fprintf(out, "}\n");
}
