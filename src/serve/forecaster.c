/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The service's forecaster: the model given with --model and its calibration,
 * loaded once at start and used by forecast and re-plan jobs. Jobs run on
 * several workers, so calls are serialized by a lock.
 */
#include "serve-impl.h"

#include "cdnopt/global.h"
#include "cdnopt/model.h"

#include <string.h>

struct serve_forecaster {
    cdnopt_model *model;
    cdnopt_calibration cal; /* zeroed when the file has none */
    bool has_cal;           /* whether cal was loaded */
    pthread_mutex_t lock;   /* one forecast at a time */
};

int serve_forecaster_open(const char *path, serve_forecaster **out, char *err)
{
    *out = NULL;
    serve_forecaster *f = cdnopt_calloc(1, sizeof *f);
    if (f == NULL)
        return cdnopt_fail(err, CDNOPT_ENOMEM, "serve: out of memory loading %s", path);

    int rc = cdnopt_model_load(path, &f->model, err);
    if (rc == CDNOPT_OK) {
        char why[CDNOPT_ERRMSG_MAX] = "";
        rc = cdnopt_global_model_reject(path, "--model", why);
        if (rc != CDNOPT_OK)
            cdnopt_fail(err, rc, "serve: %s", why);
    }
    if (rc != CDNOPT_OK) {
        cdnopt_model_free(f->model);
        cdnopt_free(f);
        return rc;
    }

    /* Samples arrive in Gbit/s, so a model trained on raw values would forecast at
     * the file's own scale. A model that recorded no unit is taken as it is. */
    const char *unit = cdnopt_model_unit(f->model);
    if (strcmp(unit, "raw") == 0) {
        cdnopt_model_free(f->model);
        cdnopt_free(f);
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "serve: model %s was trained on raw values (--unit raw), but the "
                           "service takes samples in Gbit/s; train the model with the data's "
                           "unit for serve",
                           path);
    }

    /* A model without a /calibration group still forecasts, with raw intervals. */
    char cal_err[CDNOPT_ERRMSG_MAX] = "";
    rc = cdnopt_pipeline_calibration_load(path, &f->cal, cal_err);
    f->has_cal = rc == CDNOPT_OK;
    if (rc != CDNOPT_OK && rc != CDNOPT_ENOTFOUND) {
        cdnopt_model_free(f->model);
        cdnopt_free(f);
        return cdnopt_fail(err, rc, "%s", cal_err);
    }
    pthread_mutex_init(&f->lock, NULL);
    *out = f;
    return CDNOPT_OK;
}

void serve_forecaster_close(serve_forecaster *f)
{
    if (f == NULL)
        return;
    if (f->has_cal)
        cdnopt_calibration_fini(&f->cal);
    cdnopt_model_free(f->model);
    pthread_mutex_destroy(&f->lock);
    cdnopt_free(f);
}

bool serve_forecaster_calibrated(const serve_forecaster *f)
{
    return f->has_cal;
}

int64_t serve_forecaster_step_s(const serve_forecaster *f)
{
    return cdnopt_model_step_s(f->model);
}

int serve_forecaster_window(const serve_forecaster *f)
{
    /* A window of 0 in the parameters means one day of steps. */
    int window = cdnopt_model_get_params(f->model)->window;
    int64_t step_s = cdnopt_model_step_s(f->model);
    return window > 0 ? window : (int)(86400 / (step_s > 0 ? step_s : 300));
}

int serve_forecaster_run(serve_forecaster *f, const cdnopt_series *history, int horizon,
                         int n_samples, cdnopt_forecast_result **out, char *err)
{
    cdnopt_forecast_params p = cdnopt_forecast_params_default();
    p.horizon = horizon;
    if (n_samples > 0)
        p.n_samples = n_samples;

    cdnopt_sampler sampler = cdnopt_sampler_from_model(f->model);
    pthread_mutex_lock(&f->lock);
    int rc = cdnopt_pipeline_forecast(&sampler, f->has_cal ? &f->cal : NULL, history, history->n,
                                      &p, out, err);
    pthread_mutex_unlock(&f->lock);
    return rc;
}

int serve_forecaster_plan_line(serve_forecaster *f, const cdnopt_series *history, int horizon,
                               cdnopt_series **out, char *err)
{
    *out = NULL;
    cdnopt_plan_forecast_params p = cdnopt_plan_forecast_params_default();
    p.horizon = horizon;

    cdnopt_sampler sampler = cdnopt_sampler_from_model(f->model);
    cdnopt_plan_forecast *plan = NULL;
    pthread_mutex_lock(&f->lock);
    int rc = cdnopt_pipeline_plan_forecast(&sampler, history, &p, &plan, err);
    pthread_mutex_unlock(&f->lock);
    if (rc == CDNOPT_OK)
        rc = cdnopt_series_slice(plan->critical, 0, plan->critical->n, out, err);
    cdnopt_plan_forecast_free(plan);
    return rc;
}
