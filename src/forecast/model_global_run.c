/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Using a global model: the per-series scaling sampler, training with a held-out
 * calibration slice pooled over all series, forecasting every series into one set of
 * rows, and the /global group of the model file.
 */
#include "cdnopt/global.h"

#include "cdnopt/core.h"
#include "cdnopt/h5file.h"

#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define GLOBAL_GROUP "/global"
#define GLOBAL_FORMAT_VERSION 1

/* ------------------------------------------------------------------------- */
/* Sampler                                                                   */
/* ------------------------------------------------------------------------- */

static int global_sample(void *ctx, const cdnopt_series *history, size_t end, int horizon,
                         int n_samples, uint64_t seed, double *samples, char *err)
{
    const cdnopt_global_model *g = ctx;
    size_t d = (size_t)g->seasonal_diff;
    if (end <= d || end > history->n)
        return cdnopt_fail(err, CDNOPT_EINVAL, "invalid end index %zu for a history of %zu "
                           "samples; the model needs more than %zu steps before end",
                           end, history->n, d);

    /* The scaler is fitted on the history before end only, as in training. */
    cdnopt_global_scaler sc = cdnopt_global_scaler_fit(g->norm, g->change_period, history->v, end);
    double *values = cdnopt_malloc((end - d) * sizeof *values);
    if (values == NULL)
        return cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory scaling %zu samples", end);
    cdnopt_global_to_model(&sc, (int)d, history->v, end, values);

    cdnopt_series view = {.n = end - d, .step_s = history->step_s, .t = history->t + d,
                          .v = values, .name = history->name};
    int rc = cdnopt_model_sample(g->model, &view, end - d, horizon, n_samples, seed, samples,
                                 err);
    size_t n_paths = n_samples > 0 ? (size_t)n_samples : 1;
    for (size_t p = 0; rc == CDNOPT_OK && p < n_paths; p++)
        cdnopt_global_from_model(&sc, (int)d, history->v, end, samples + p * (size_t)horizon,
                                 (size_t)horizon);
    cdnopt_free(values);
    return rc;
}

static const cdnopt_sampler_iface global_iface = {global_sample, NULL};

cdnopt_sampler cdnopt_global_sampler(const cdnopt_global_model *g)
{
    return (cdnopt_sampler){&global_iface, (void *)g};
}

/* ------------------------------------------------------------------------- */
/* Training with calibration                                                 */
/* ------------------------------------------------------------------------- */

/* Forecast of one series with the global settings: MC paths and the dropout-off point. */
static int forecast_one(const cdnopt_sampler *s, const cdnopt_global_params *gp,
                        const cdnopt_calibration *cal, const cdnopt_series *series, size_t end,
                        int horizon, uint64_t seed, cdnopt_forecast_result **out, char *err)
{
    cdnopt_forecast_params fp = cdnopt_forecast_params_default();
    fp.horizon = horizon;
    fp.n_samples = gp->n_samples;
    fp.seed = seed;
    fp.safety = 1.0;
    return cdnopt_pipeline_forecast(s, cal, series, end, &fp, out, err);
}

/* Calibration scores of all series: origin i is series i at end n_i - calib_steps. */
typedef struct calib_runs {
    double *actual, *mean, *sd;
} calib_runs;

static void calib_runs_fini(calib_runs *r)
{
    cdnopt_free(r->actual);
    cdnopt_free(r->mean);
    cdnopt_free(r->sd);
}

static int collect_scores(const cdnopt_sampler *s, const cdnopt_global_params *gp,
                          cdnopt_series *const *series, size_t n_series, calib_runs *r,
                          char *err)
{
    size_t h = (size_t)gp->calib_steps;
    r->actual = cdnopt_malloc(n_series * h * sizeof *r->actual);
    r->mean = cdnopt_malloc(n_series * h * sizeof *r->mean);
    r->sd = cdnopt_malloc(n_series * h * sizeof *r->sd);
    if (r->actual == NULL || r->mean == NULL || r->sd == NULL)
        return cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory for %zu calibration forecasts",
                           n_series);

    for (size_t i = 0; i < n_series; i++) {
        const cdnopt_series *si = series[i];
        size_t end = si->n - h;
        cdnopt_forecast_result *f = NULL;
        int rc = forecast_one(s, gp, NULL, si, end, (int)h, gp->seed + i, &f, err);
        if (rc != CDNOPT_OK)
            return rc;
        for (size_t k = 0; k < h; k++) {
            r->actual[i * h + k] = si->v[end + k];
            r->mean[i * h + k] = f->mean[k];

            /* A zero spread (dropout 0, or paths that agree) would make the score
             * undefined; a tiny floor relative to the level keeps it finite. */
            r->sd[i * h + k] = fmax(f->sd[k], 1e-9 * fmax(fabs(f->mean[k]), 1e-300));
        }
        cdnopt_forecast_result_free(f);
    }
    return CDNOPT_OK;
}

static int calibrate_pooled(const cdnopt_model *m, const cdnopt_global_params *gp,
                            cdnopt_series *const *series, size_t n_series,
                            cdnopt_calibration *cal, char *err)
{
    cdnopt_global_model g = {m, gp->norm, gp->seasonal_diff,
                             cdnopt_global_change_period(m, gp)};
    cdnopt_sampler s = cdnopt_global_sampler(&g);
    calib_runs r = {0};
    int rc = collect_scores(&s, gp, series, n_series, &r, err);
    if (rc == CDNOPT_OK) {
        cdnopt_calib_set set = {.n_origins = n_series, .horizon = (size_t)gp->calib_steps,
                                .actual = r.actual, .mean = r.mean, .std = r.sd};
        cdnopt_calibration_params cp = cdnopt_calibration_params_default();
        cp.level = gp->level;
        rc = cdnopt_calibration_fit(&set, &cp, cal, err);
    }
    calib_runs_fini(&r);
    return rc;
}

int cdnopt_global_train(const cdnopt_global_params *gp, cdnopt_series *const *series,
                        size_t n_series, int64_t step_s, cdnopt_epoch_cb cb, void *user,
                        cdnopt_model **out, cdnopt_calibration *cal, char *err)
{
    *out = NULL;
    memset(cal, 0, sizeof *cal);
    if (gp->calib_steps < 0 || gp->n_samples < 2 || !(gp->level > 0.0 && gp->level < 1.0))
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "invalid global settings: calib_steps %d (use >= 0), n_samples %d "
                           "(use >= 2), level %g (use a share in (0, 1))",
                           gp->calib_steps, gp->n_samples, gp->level);

    size_t hold = (size_t)gp->calib_steps;
    size_t *train_n = cdnopt_malloc((n_series > 0 ? n_series : 1) * sizeof *train_n);
    if (train_n == NULL)
        return cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory");
    int rc = CDNOPT_OK;
    for (size_t i = 0; i < n_series && rc == CDNOPT_OK; i++) {
        if (series[i]->n <= hold)
            rc = cdnopt_fail(err, CDNOPT_EINVAL,
                             "series '%s' has %zu samples, not more than the %zu held out for "
                             "calibration; supply longer series or fewer calibration steps",
                             series[i]->name != NULL ? series[i]->name : "(unnamed)",
                             series[i]->n, hold);
        else
            train_n[i] = series[i]->n - hold;
    }

    cdnopt_model *m = NULL;
    if (rc == CDNOPT_OK)
        rc = cdnopt_model_new(&gp->model, step_s, &m, err);
    if (rc == CDNOPT_OK)
        rc = cdnopt_global_fit(m, gp, series, n_series, train_n, cb, user, err);
    cdnopt_free(train_n);
    if (rc == CDNOPT_OK && hold > 0)
        rc = calibrate_pooled(m, gp, series, n_series, cal, err);
    if (rc == CDNOPT_OK && hold == 0 &&
        cdnopt_calibration_init(cal, CDNOPT_CALIB_SCALE, gp->level, 1) != CDNOPT_OK)
        rc = cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory");
    if (rc != CDNOPT_OK) {
        cdnopt_model_free(m);
        cdnopt_calibration_fini(cal);
        return rc;
    }
    *out = m;
    return CDNOPT_OK;
}

/* ------------------------------------------------------------------------- */
/* Forecasting every series                                                  */
/* ------------------------------------------------------------------------- */

static int set_alloc(size_t n_series, cdnopt_m4_set **out)
{
    cdnopt_m4_set *set = cdnopt_calloc(1, sizeof *set);
    if (set == NULL)
        return CDNOPT_ENOMEM;
    *out = set;
    set->ids = cdnopt_calloc(n_series, sizeof *set->ids);
    set->values = cdnopt_calloc(n_series, sizeof *set->values);
    set->length = cdnopt_calloc(n_series, sizeof *set->length);
    set->line = cdnopt_calloc(n_series, sizeof *set->line);
    if (set->ids == NULL || set->values == NULL || set->length == NULL || set->line == NULL)
        return CDNOPT_ENOMEM;
    return CDNOPT_OK;
}

/* Append a row with a copy of id and of the h values. */
static int set_add(cdnopt_m4_set *set, const char *id, const double *values, size_t h)
{
    size_t i = set->n_series;
    size_t id_len = strlen(id);
    set->ids[i] = cdnopt_malloc(id_len + 1);
    set->values[i] = cdnopt_malloc(h * sizeof **set->values);
    if (set->ids[i] == NULL || set->values[i] == NULL) {
        cdnopt_free(set->ids[i]);
        cdnopt_free(set->values[i]);
        set->ids[i] = NULL;
        set->values[i] = NULL;
        return CDNOPT_ENOMEM;
    }
    memcpy(set->ids[i], id, id_len + 1);
    memcpy(set->values[i], values, h * sizeof *values);
    set->length[i] = h;
    set->line[i] = i + 2;
    set->n_series++;
    return CDNOPT_OK;
}

static int add_forecast(cdnopt_global_forecasts *out, const cdnopt_series *s, size_t index,
                        const cdnopt_forecast_result *f)
{
    char fallback[32];
    const char *id = s->name;
    if (id == NULL) {
        snprintf(fallback, sizeof fallback, "S%zu", index + 1);
        id = fallback;
    }
    size_t h = (size_t)f->horizon;
    int rc = set_add(out->mean, id, f->mean, h);
    if (rc == CDNOPT_OK)
        rc = set_add(out->lower, id, f->lower, h);
    if (rc == CDNOPT_OK)
        rc = set_add(out->upper, id, f->upper, h);
    return rc;
}

int cdnopt_global_forecast_all(const cdnopt_model *m, const cdnopt_global_params *gp,
                               const cdnopt_calibration *cal, cdnopt_series *const *series,
                               size_t n_series, int horizon, cdnopt_global_forecasts *out,
                               char *err)
{
    memset(out, 0, sizeof *out);
    out->horizon = (size_t)horizon;
    int rc = CDNOPT_OK;
    if (set_alloc(n_series, &out->mean) != CDNOPT_OK ||
        set_alloc(n_series, &out->lower) != CDNOPT_OK ||
        set_alloc(n_series, &out->upper) != CDNOPT_OK)
        rc = cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory for forecasts of %zu series",
                         n_series);

    cdnopt_global_model g = {m, gp->norm, gp->seasonal_diff,
                             cdnopt_global_change_period(m, gp)};
    cdnopt_sampler s = cdnopt_global_sampler(&g);
    for (size_t i = 0; i < n_series && rc == CDNOPT_OK; i++) {
        cdnopt_forecast_result *f = NULL;
        rc = forecast_one(&s, gp, cal, series[i], series[i]->n, horizon, gp->seed + i, &f, err);
        if (rc != CDNOPT_OK) {
            char reason[CDNOPT_ERRMSG_MAX];
            snprintf(reason, sizeof reason, "%s", err != NULL ? err : "");
            rc = cdnopt_fail(err, rc, "forecast of series '%s' failed: %s",
                             series[i]->name != NULL ? series[i]->name : "(unnamed)", reason);
            break;
        }
        if (add_forecast(out, series[i], i, f) != CDNOPT_OK)
            rc = cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory");
        cdnopt_forecast_result_free(f);
    }
    if (rc != CDNOPT_OK)
        cdnopt_m4_forecasts_fini(out);
    return rc;
}

/* ------------------------------------------------------------------------- */
/* Model file group and names                                                */
/* ------------------------------------------------------------------------- */

static int write_int_attr(hid_t group, const char *name, int value)
{
    return cdnopt_h5_put_i64(group, name, value) >= 0 ? CDNOPT_OK : CDNOPT_EIO;
}

int cdnopt_global_info_save(const cdnopt_global_params *gp, const char *path, char *err)
{
    hid_t file = cdnopt_h5_open_rw(path);
    if (file < 0)
        return cdnopt_fail(err, CDNOPT_EIO, "cannot open model file %s to add the %s group",
                           path, GLOBAL_GROUP);

    int rc = CDNOPT_OK;
    if (H5Lexists(file, GLOBAL_GROUP, H5P_DEFAULT) > 0 &&
        H5Ldelete(file, GLOBAL_GROUP, H5P_DEFAULT) < 0)
        rc = CDNOPT_EIO;
    hid_t group = rc == CDNOPT_OK
                      ? H5Gcreate2(file, GLOBAL_GROUP, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)
                      : -1;
    if (group < 0)
        rc = CDNOPT_EIO;
    if (rc == CDNOPT_OK)
        rc = write_int_attr(group, "format_version", GLOBAL_FORMAT_VERSION);
    if (rc == CDNOPT_OK)
        rc = write_int_attr(group, "norm", (int)gp->norm);
    if (rc == CDNOPT_OK)
        rc = write_int_attr(group, "seasonal_diff", gp->seasonal_diff);
    if (group >= 0)
        H5Gclose(group);
    if (H5Fclose(file) < 0)
        rc = CDNOPT_EIO;
    if (rc != CDNOPT_OK)
        return cdnopt_fail(err, rc, "failed to write the %s group of model file %s",
                           GLOBAL_GROUP, path);
    return CDNOPT_OK;
}

static herr_t read_int_attr(hid_t group, const char *name, int *value)
{
    hid_t attr = H5Aopen(group, name, H5P_DEFAULT);
    herr_t status = attr >= 0 ? H5Aread(attr, H5T_NATIVE_INT, value) : -1;
    if (attr >= 0)
        H5Aclose(attr);
    return status;
}

static int read_norm(hid_t file, const char *path, cdnopt_global_params *gp, char *err)
{
    hid_t group = H5Gopen2(file, GLOBAL_GROUP, H5P_DEFAULT);
    if (group < 0 || H5Aexists(group, "norm") <= 0) {
        if (group >= 0)
            H5Gclose(group);
        return cdnopt_fail(err, CDNOPT_EPARSE, "model file %s: group %s has no attribute "
                           "'norm'; retrain the model with cdnopt train", path, GLOBAL_GROUP);
    }
    int value = 0, diff = 0;
    herr_t status = read_int_attr(group, "norm", &value);
    if (status >= 0 && H5Aexists(group, "seasonal_diff") > 0)
        status = read_int_attr(group, "seasonal_diff", &diff);
    H5Gclose(group);
    if (status >= 0 && (diff < 0 || diff > 100000))
        return cdnopt_fail(err, CDNOPT_EPARSE,
                           "model file %s: %s/seasonal_diff is %d, expected 0 to 100000 steps; "
                           "retrain the model", path, GLOBAL_GROUP, diff);
    gp->seasonal_diff = diff;
    if (status < 0 || value < CDNOPT_GLOBAL_NORM_MINMAX || value > CDNOPT_GLOBAL_NORM_CHANGE)
        return cdnopt_fail(err, CDNOPT_EPARSE,
                           "model file %s: %s/norm is %d, expected 1 (minmax), 2 (mean) or 3 "
                           "(change); retrain the model with this version", path, GLOBAL_GROUP,
                           value);
    gp->norm = (cdnopt_global_norm)value;
    return CDNOPT_OK;
}

int cdnopt_global_info_load(const char *path, cdnopt_global_params *gp, char *err)
{
    /* Silence HDF5's own error stack printing: a missing file or group is reported here. */
    H5E_auto2_t func = NULL;
    void *data = NULL;
    H5Eget_auto2(H5E_DEFAULT, &func, &data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);

    int rc;
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0)
        rc = cdnopt_fail(err, CDNOPT_EIO, "cannot open model file %s", path);
    else if (H5Lexists(file, GLOBAL_GROUP, H5P_DEFAULT) <= 0)
        rc = cdnopt_fail(err, CDNOPT_ENOTFOUND, "model file %s has no %s group", path,
                         GLOBAL_GROUP);
    else
        rc = read_norm(file, path, gp, err);
    if (file >= 0)
        H5Fclose(file);
    H5Eset_auto2(H5E_DEFAULT, func, data);
    return rc;
}

int cdnopt_global_model_reject(const char *path, const char *option, char *err)
{
    cdnopt_global_params gp = cdnopt_global_params_default();
    int rc = cdnopt_global_info_load(path, &gp, err);
    if (rc == CDNOPT_ENOTFOUND)
        return CDNOPT_OK;
    if (rc != CDNOPT_OK)
        return rc;
    return cdnopt_fail(err, CDNOPT_EINVAL,
                       "%s %s is a global model (cdnopt train --wide or --series-dir), but "
                       "this command takes a single-series model; forecast with it through "
                       "cdnopt forecast --model %s --wide FILE or --series-dir DIR, or give %s "
                       "a model of cdnopt train --data FILE",
                       option, path, path, option);
}

int cdnopt_global_norm_parse(const char *text, cdnopt_global_norm *out, char *err)
{
    if (strcmp(text, "minmax") == 0)
        *out = CDNOPT_GLOBAL_NORM_MINMAX;
    else if (strcmp(text, "mean") == 0)
        *out = CDNOPT_GLOBAL_NORM_MEAN;
    else if (strcmp(text, "change") == 0)
        *out = CDNOPT_GLOBAL_NORM_CHANGE;
    else
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "invalid scaling '%s'; use minmax, mean or change", text);
    return CDNOPT_OK;
}

int cdnopt_global_sampling_parse(const char *text, cdnopt_global_sampling *out, char *err)
{
    if (strcmp(text, "windows") == 0)
        *out = CDNOPT_GLOBAL_SAMPLE_WINDOWS;
    else if (strcmp(text, "series") == 0)
        *out = CDNOPT_GLOBAL_SAMPLE_SERIES;
    else
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "invalid window sampling '%s'; use windows or series", text);
    return CDNOPT_OK;
}
