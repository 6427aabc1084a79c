/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cdnopt evaluate: hold out the last whole days of a series, forecast each of them
 * one day ahead from its first step, and print the model's errors beside the
 * seasonal naive and Holt-Winters baselines, as a table or as JSON.
 */
#include "cli_dist.h"
#include "cli_options.h"
#include "commands.h"

#include "cdnopt/core.h"
#include "cdnopt/global.h"
#include "cdnopt/pipeline.h"

#include <math.h>
#include <stdio.h>

static const char synopsis[] =
    "evaluate --data FILE [--test-days N] [--model MODEL.h5 | training options] [--json]";
static const char description[] =
    "Evaluate day-ahead forecasts on the last N whole days of FILE. Without --model, a\n"
    "model is trained on everything before them (the training options apply). From the\n"
    "first step of each test day the model forecasts one day without refitting; the\n"
    "baselines (seasonal naive one day and one week back, additive Holt-Winters with a\n"
    "daily season) forecast from the same origins. MASE is scaled by the one-day seasonal\n"
    "naive error on all data before the test span. Coverage is the share of test values\n"
    "inside the 95% interval, raw (forecast +- 1.96 sd of the MC dropout paths) and\n"
    "calibrated.";

/* Print a figure, or "-" where it does not apply. */
static void print_cell(FILE *out, double value, const char *format)
{
    if (isnan(value))
        fprintf(out, "%10s", "-");
    else
        fprintf(out, format, value);
}

static void print_span(FILE *out, const cdnopt_series *s, const cdnopt_eval_report *r)
{
    char first[CDNOPT_CIVIL_TEXT_MAX], last[CDNOPT_CIVIL_TEXT_MAX];
    cdnopt_civil_format(s->t[r->test_start], first, sizeof first);
    cdnopt_civil_format(s->t[r->test_end - 1], last, sizeof last);
    fprintf(out, "test span %s .. %s: %d origins x %d steps; MASE scale %.6g\n", first, last,
            r->n_origins, r->horizon, r->mase_scale);
}

static void print_table(FILE *out, const cdnopt_series *s, const cdnopt_eval_report *r)
{
    print_span(out, s, r);
    fprintf(out, "%-18s %10s %10s %10s %10s %10s %10s %10s\n", "method", "MAE", "RMSE",
            "sMAPE%", "MASE", "cov95_raw", "cov95_cal", "width");
    for (int i = 0; i < r->n_methods; i++) {
        const cdnopt_eval_row *row = &r->rows[i];
        fprintf(out, "%-18s", row->method);
        print_cell(out, row->mae, " %10.4g");
        print_cell(out, row->rmse, " %10.4g");
        print_cell(out, row->smape, " %10.2f");
        print_cell(out, row->mase, " %10.3f");
        print_cell(out, row->coverage_raw * 100.0, " %9.1f%%");
        print_cell(out, row->coverage_calibrated * 100.0, " %9.1f%%");
        print_cell(out, row->width, " %10.4g");
        fputc('\n', out);
    }
}

/* JSON has no NaN; a figure that does not apply becomes null. */
static void json_number(FILE *out, const char *key, double value, bool last)
{
    if (isnan(value) || isinf(value))
        fprintf(out, "\"%s\": null%s", key, last ? "" : ", ");
    else
        fprintf(out, "\"%s\": %.10g%s", key, value, last ? "" : ", ");
}

static void print_json(FILE *out, const cdnopt_series *s, const cdnopt_eval_report *r)
{
    char first[CDNOPT_CIVIL_TEXT_MAX], last[CDNOPT_CIVIL_TEXT_MAX];
    cdnopt_civil_format(s->t[r->test_start], first, sizeof first);
    cdnopt_civil_format(s->t[r->test_end - 1], last, sizeof last);
    fprintf(out, "{\"test_first\": \"%s\", \"test_last\": \"%s\", \"n_origins\": %d, "
                 "\"horizon\": %d, ",
            first, last, r->n_origins, r->horizon);
    json_number(out, "mase_scale", r->mase_scale, false);
    json_number(out, "train_seconds", r->train_seconds, false);
    fprintf(out, "\"methods\": [");
    for (int i = 0; i < r->n_methods; i++) {
        const cdnopt_eval_row *row = &r->rows[i];
        fprintf(out, "%s{\"method\": \"%s\", ", i > 0 ? ", " : "", row->method);
        json_number(out, "mae", row->mae, false);
        json_number(out, "rmse", row->rmse, false);
        json_number(out, "smape", row->smape, false);
        json_number(out, "mase", row->mase, false);
        json_number(out, "coverage_raw", row->coverage_raw, false);
        json_number(out, "coverage_calibrated", row->coverage_calibrated, false);
        json_number(out, "width", row->width, true);
        fputc('}', out);
    }
    fprintf(out, "]}\n");
}

typedef struct evaluate_args {
    const char *model_path;
    const char *series_dir;
    const char *out_path;
    long test_days;
    long samples;
    long recent_days;
    bool json;
} evaluate_args;

/* Evaluate with a saved model and its stored calibration (if it has one). */
static int evaluate_saved(const char *path, const cdnopt_cli_data_opts *data,
                          const cdnopt_series *s, const cdnopt_eval_params *p,
                          cdnopt_eval_report *r, char *err)
{
    cdnopt_model *m = NULL;
    int rc = cdnopt_model_load(path, &m, err);
    if (rc == CDNOPT_OK)
        rc = cdnopt_global_model_reject(path, "--model", err);
    if (rc == CDNOPT_OK)
        rc = cdnopt_cli_model_unit_check(m, path, data, err);
    if (rc == CDNOPT_OK)
        rc = cdnopt_cli_model_step_check(m, path, s, data->data, err);
    if (rc != CDNOPT_OK) {
        cdnopt_model_free(m);
        return rc;
    }

    cdnopt_calibration cal;
    int cal_rc = cdnopt_pipeline_calibration_load(path, &cal, err);
    if (cal_rc != CDNOPT_OK && cal_rc != CDNOPT_ENOTFOUND) {
        cdnopt_model_free(m);
        return cal_rc;
    }
    if (cal_rc == CDNOPT_ENOTFOUND)
        CDNOPT_LOG_WARN("evaluate", "%s; calibrating on the span before the test days", err);

    rc = cdnopt_pipeline_evaluate(s, m, cal_rc == CDNOPT_OK ? &cal : NULL, p, r, err);
    if (cal_rc == CDNOPT_OK)
        cdnopt_calibration_fini(&cal);
    cdnopt_model_free(m);
    return rc;
}

static int run_evaluation(const evaluate_args *a, const cdnopt_cli_data_opts *data,
                          const cdnopt_cli_train_opts *train, char *err)
{
    cdnopt_series *s = NULL;
    int rc = cdnopt_cli_read_series(data, &s, err);
    if (rc != CDNOPT_OK)
        return rc;

    cdnopt_eval_params p = cdnopt_eval_params_default();
    p.test_days = (int)a->test_days;
    p.n_samples = (int)a->samples;
    p.recent_days = (int)a->recent_days;
    p.seed = (uint64_t)train->seed;
    p.calibrate.seed = (uint64_t)train->seed;
    p.epoch_cb = cdnopt_cli_log_epoch;
    cdnopt_eval_report r;
    if (a->model_path == NULL) {
        rc = cdnopt_cli_model_params(train, s->step_s, &p.model, err);
        if (rc == CDNOPT_OK)
            rc = cdnopt_pipeline_evaluate(s, NULL, NULL, &p, &r, err);
    } else {
        rc = evaluate_saved(a->model_path, data, s, &p, &r, err);
    }

    if (rc == CDNOPT_OK && a->json)
        print_json(stdout, s, &r);
    else if (rc == CDNOPT_OK)
        print_table(stdout, s, &r);
    cdnopt_series_free(s);
    return rc;
}

/* Reject a flag that the chosen source and model would ignore without a word. */
static int check_ignored_flags(const evaluate_args *a, cdnopt_cli_option *opts, size_t n_opts,
                               char *err)
{
    /* A saved model brings its own architecture and training, so of the training flags
     * only --seed (the Monte-Carlo paths) still counts. */
    const char *flag =
        cdnopt_cli_first_seen(opts, n_opts, cdnopt_cli_model_flags, CDNOPT_CLI_N_MODEL_FLAGS);
    if (flag != NULL && a->model_path != NULL)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "%s sets the model that evaluate trains without --model; the "
                           "--model file brings its own, so drop %s",
                           flag, flag);

    /* Each source has one output, so a flag for the other one would be dropped unseen. */
    if (a->series_dir == NULL && a->out_path != NULL)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "--out writes the results of --series-dir; with --data the report "
                           "goes to stdout (add --json for JSON), so remove --out");
    if (a->series_dir != NULL && a->json)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "--json formats the report of --data; with --series-dir the results "
                           "go to the --out CSV, so remove --json");
    return CDNOPT_OK;
}

int cdnopt_cmd_evaluate(int argc, char **argv)
{
    cdnopt_cli_data_opts data = cdnopt_cli_data_opts_default();
    cdnopt_cli_train_opts train = cdnopt_cli_train_opts_default();
    evaluate_args a = {NULL, NULL, NULL, 7, 100, cdnopt_forecast_params_default().recent_days,
                       false};
    cdnopt_cli_option opts[] = {
        CDNOPT_CLI_DATA_OPTIONS(&data),
        {"--test-days", CDNOPT_CLI_INT, &a.test_days, 1, 365, "N",
         "whole days at the end of the series held out for testing", false, false},
        {"--model", CDNOPT_CLI_STRING, &a.model_path, 0, 0, "FILE",
         "evaluate this saved model instead of training one", false, false},
        CDNOPT_CLI_TRAIN_OPTIONS(&train),
        {"--samples", CDNOPT_CLI_INT, &a.samples, 2, 100000, "N",
         "Monte-Carlo dropout paths per test origin", false, false},
        CDNOPT_CLI_RECENT_DAYS_OPTION(&a.recent_days),
        {"--json", CDNOPT_CLI_FLAG, &a.json, 0, 0, "", "print the report as one JSON object",
         false, false},
        {"--series-dir", CDNOPT_CLI_STRING, &a.series_dir, 0, 0, "DIR",
         "evaluate every .csv file in DIR instead of --data (shared over the ranks under "
         "mpirun); needs --out", false, false},
        {"--out", CDNOPT_CLI_OUTPUT, &a.out_path, 0, 0, "FILE",
         "CSV of the --series-dir results, one row per series and method", false, false},
    };
    size_t n_opts = sizeof opts / sizeof opts[0];
    cdnopt_cli_option *data_opt = cdnopt_cli_find(opts, n_opts, "--data");
    data_opt->required = false;

    int status = cdnopt_cli_parse_command("evaluate", synopsis, description, argc, argv, opts,
                                          n_opts);
    if (status != CDNOPT_CLI_CONTINUE)
        return status;

    char err[CDNOPT_ERRMSG_MAX] = "";
    int rc = cdnopt_cli_check_data_source(data_opt, a.series_dir, err);
    if (rc == CDNOPT_OK && a.series_dir != NULL && a.out_path == NULL)
        rc = cdnopt_fail(err, CDNOPT_EINVAL, "--series-dir needs --out FILE for the results CSV");

    if (rc == CDNOPT_OK)
        rc = check_ignored_flags(&a, opts, n_opts, err);
    if (rc == CDNOPT_OK && a.series_dir != NULL) {
        cdnopt_cli_evaluate_dir_args da = {a.model_path, &train, (int)a.test_days,
                                           (int)a.samples, (int)a.recent_days};
        rc = cdnopt_cli_evaluate_dir(a.series_dir, &data, &da, a.out_path, err);
    } else if (rc == CDNOPT_OK) {
        rc = run_evaluation(&a, &data, &train, err);
    }
    if (rc != CDNOPT_OK)
        return cdnopt_cli_report_error("evaluate", rc, err);
    return CDNOPT_EXIT_OK;
}
