/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `forecast --series-dir` and `evaluate --series-dir`: the per-series work that
 * cdnopt_cli_series_dir_run() shares out over the ranks. Each series gets a seed made
 * from --seed and its name, so its numbers are the same whichever rank runs it.
 */
#include "cli_dist.h"

#include "cdnopt/core.h"
#include "cdnopt/global.h"
#include "cdnopt/series.h"

#include <math.h>
#include <stdio.h>

/* A series name is a file name (at most 255 bytes), which quoting for CSV at most
 * doubles, plus its two quotes and the NUL. */
#define CSV_NAME_MAX 520

/* Write name as the first field of a CSV row, quoted when it contains a comma or quote. */
static void csv_name(const char *name, char field[static CSV_NAME_MAX])
{
    cdnopt_csv_field(field, CSV_NAME_MAX, name);
}

/* ---- forecast ---- */

static int forecast_rows(const char *name, size_t index, const cdnopt_series *s, void *user,
                         char **buf, size_t *len, size_t *cap, char *err)
{
    (void)index;
    const cdnopt_cli_forecast_dir_args *a = user;
    int64_t step_s = cdnopt_model_step_s(a->model);
    if (s->step_s != step_s || a->horizon_s % s->step_s != 0)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "series %s has a step of %lld s but the model's step is %lld s and "
                           "--horizon is %lld s; give series on the model's step",
                           name, (long long)s->step_s, (long long)step_s,
                           (long long)a->horizon_s);

    cdnopt_forecast_params fp = cdnopt_forecast_params_default();
    fp.horizon = (int)(a->horizon_s / s->step_s);
    fp.n_samples = a->n_samples;
    fp.recent_days = a->recent_days;
    fp.safety = a->safety;
    fp.seed = cdnopt_cli_series_seed(a->seed, name);
    cdnopt_sampler sampler = cdnopt_sampler_from_model(a->model);
    cdnopt_forecast_result *f = NULL;
    int rc = cdnopt_pipeline_forecast(&sampler, a->cal, s, s->n, &fp, &f, err);

    char field[CSV_NAME_MAX];
    csv_name(name, field);
    for (int h = 0; rc == CDNOPT_OK && h < f->horizon; h++) {
        char stamp[CDNOPT_CIVIL_TEXT_MAX];
        cdnopt_civil_format(f->t[h], stamp, sizeof stamp);
        rc = cdnopt_cli_buf_printf(buf, len, cap, "%s,%s,%.6g,%.6g,%.6g,%.6g\n", field, stamp,
                                   f->mean[h], f->lower[h], f->upper[h], f->critical[h]);
        if (rc != CDNOPT_OK)
            cdnopt_fail(err, rc, "out of memory formatting the forecast of %s", name);
    }
    cdnopt_forecast_result_free(f);
    return rc;
}

int cdnopt_cli_forecast_dir(const char *dir, const cdnopt_cli_data_opts *d,
                            const cdnopt_cli_forecast_dir_args *a, const char *out_path,
                            char *err)
{
    return cdnopt_cli_series_dir_run(dir, d, "series,timestamp,mean,lower,upper,critical\n",
                                     forecast_rows, (void *)a, out_path, err);
}

/* ---- evaluate ---- */

typedef struct evaluate_ctx {
    const cdnopt_cli_evaluate_dir_args *a;
    cdnopt_model *model;      /* loaded --model, or NULL */
    cdnopt_calibration cal;   /* its calibration when has_cal */
    bool has_cal;
} evaluate_ctx;

static void format_number(char *out, size_t size, double v)
{
    if (isnan(v))
        snprintf(out, size, "NA");
    else
        snprintf(out, size, "%.6g", v);
}

static int append_report(const char *name, const cdnopt_eval_report *r, char **buf, size_t *len,
                         size_t *cap)
{
    char field[CSV_NAME_MAX];
    csv_name(name, field);
    for (int i = 0; i < r->n_methods; i++) {
        const cdnopt_eval_row *row = &r->rows[i];
        double values[] = {row->mae, row->rmse, row->smape, row->mase, row->coverage_raw,
                           row->coverage_calibrated, row->width};
        int rc = cdnopt_cli_buf_printf(buf, len, cap, "%s,%s", field, row->method);
        for (size_t k = 0; rc == CDNOPT_OK && k < sizeof values / sizeof values[0]; k++) {
            char cell[32];
            format_number(cell, sizeof cell, values[k]);
            rc = cdnopt_cli_buf_printf(buf, len, cap, ",%s", cell);
        }
        if (rc == CDNOPT_OK)
            rc = cdnopt_cli_buf_printf(buf, len, cap, "\n");
        if (rc != CDNOPT_OK)
            return rc;
    }
    return CDNOPT_OK;
}

static int evaluate_rows(const char *name, size_t index, const cdnopt_series *s, void *user,
                         char **buf, size_t *len, size_t *cap, char *err)
{
    (void)index;
    evaluate_ctx *ctx = user;
    const cdnopt_cli_evaluate_dir_args *a = ctx->a;

    cdnopt_eval_params p = cdnopt_eval_params_default();
    p.test_days = a->test_days;
    p.n_samples = a->n_samples;
    p.recent_days = a->recent_days;
    p.seed = cdnopt_cli_series_seed((uint64_t)a->train->seed, name);
    p.calibrate.seed = p.seed;
    int rc = CDNOPT_OK;
    if (ctx->model == NULL) {
        rc = cdnopt_cli_model_params(a->train, s->step_s, &p.model, err);
        p.model.seed = p.seed;
    } else {
        rc = cdnopt_cli_model_step_check(ctx->model, a->model_path, s, name, err);
    }

    cdnopt_eval_report r;
    if (rc == CDNOPT_OK)
        rc = cdnopt_pipeline_evaluate(s, ctx->model, ctx->has_cal ? &ctx->cal : NULL, &p, &r,
                                      err);
    if (rc == CDNOPT_OK) {
        rc = append_report(name, &r, buf, len, cap);
        if (rc != CDNOPT_OK)
            cdnopt_fail(err, rc, "out of memory formatting the evaluation of %s", name);
    }
    return rc;
}

static int load_model(evaluate_ctx *ctx, const char *path, const cdnopt_cli_data_opts *d,
                      char *err)
{
    int rc = cdnopt_model_load(path, &ctx->model, err);
    if (rc == CDNOPT_OK)
        rc = cdnopt_global_model_reject(path, "--model", err);
    if (rc == CDNOPT_OK)
        rc = cdnopt_cli_model_unit_check(ctx->model, path, d, err);
    if (rc != CDNOPT_OK)
        return rc;
    rc = cdnopt_pipeline_calibration_load(path, &ctx->cal, err);
    ctx->has_cal = rc == CDNOPT_OK;
    if (rc == CDNOPT_ENOTFOUND) {
        CDNOPT_LOG_WARN("evaluate", "%s; calibrating on the span before the test days", err);
        rc = CDNOPT_OK;
    }
    return rc;
}

int cdnopt_cli_evaluate_dir(const char *dir, const cdnopt_cli_data_opts *d,
                            const cdnopt_cli_evaluate_dir_args *a, const char *out_path,
                            char *err)
{
    evaluate_ctx ctx = {.a = a};
    int rc = a->model_path != NULL ? load_model(&ctx, a->model_path, d, err) : CDNOPT_OK;
    if (rc == CDNOPT_OK)
        rc = cdnopt_cli_series_dir_run(dir, d,
                                       "series,method,mae,rmse,smape,mase,coverage_raw,"
                                       "coverage_calibrated,width\n",
                                       evaluate_rows, &ctx, out_path, err);
    if (ctx.has_cal)
        cdnopt_calibration_fini(&ctx.cal);
    cdnopt_model_free(ctx.model);
    return rc;
}
