/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Forecasts with intervals: MC paths from a sampler reduced to mean and standard
 * deviation per step, bounds from a calibration (or the raw 1.96 sd), the critical
 * level for planning, and the forecast.csv writer.
 */
#include "cdnopt/pipeline.h"

#include "cdnopt/core.h"
#include "pipeline-impl.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static int model_sample(void *ctx, const cdnopt_series *history, size_t end, int horizon,
                        int n_samples, uint64_t seed, double *samples, char *err)
{
    return cdnopt_model_sample((const cdnopt_model *)ctx, history, end, horizon, n_samples, seed,
                               samples, err);
}

static size_t model_history_min(void *ctx)
{
    return cdnopt_model_history_min((const cdnopt_model *)ctx);
}

static const cdnopt_sampler_iface model_sampler_iface = {model_sample, model_history_min};

cdnopt_sampler cdnopt_sampler_from_model(const cdnopt_model *m)
{
    /* The table's ctx is void *, but model_sample only reads the model. */
    cdnopt_sampler s = {&model_sampler_iface, (void *)(uintptr_t)m};
    return s;
}

int cdnopt__steps_per_day(int64_t step_s)
{
    if (step_s <= 0 || 86400 % step_s != 0)
        return 0;
    return (int)(86400 / step_s);
}

void cdnopt__sd_floor(const double *mean, double *sd, size_t h)
{
    for (size_t i = 0; i < h; i++) {
        double floor = 1e-9 * fabs(mean[i]) + 1e-12;
        if (!(sd[i] >= floor))
            sd[i] = floor;
    }
}

int cdnopt__point_forecast(const cdnopt_sampler *s, const cdnopt_series *history, size_t end,
                           int horizon, double *point, char *err)
{
    /* Rationale for the dropout-off point forecast: every MC path keeps its dropout
     * masks for the whole recursive roll-out, so each path carries its own bias, and
     * over a day of steps these biases add up. The dropout-off path has none, and
     * the paths only give the spread. */
    int rc = s->iface->sample(s->ctx, history, end, horizon, 0, 0, point, err);
    if (rc != CDNOPT_OK)
        return rc;

    /* Bandwidth is never negative, and the series reader rejects negative values. */
    for (int i = 0; i < horizon; i++)
        point[i] = fmax(point[i], 0.0);
    return CDNOPT_OK;
}

int cdnopt__forecast_moments(const cdnopt_sampler *s, const cdnopt_series *history, size_t end,
                             int horizon, int n_samples, uint64_t seed, double *point,
                             double *sd, char *err)
{
    size_t h = (size_t)horizon;
    double *paths = cdnopt_malloc((size_t)n_samples * h * sizeof *paths);
    double *mc_mean = cdnopt_malloc(h * sizeof *mc_mean);
    int rc = CDNOPT_OK;
    if (paths == NULL || mc_mean == NULL) {
        rc = cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory for %d x %d forecast paths",
                         n_samples, horizon);
        goto done;
    }

    rc = s->iface->sample(s->ctx, history, end, horizon, n_samples, seed, paths, err);
    if (rc != CDNOPT_OK)
        goto done;
    cdnopt_interval_forecast fc = {mc_mean, NULL, NULL};
    rc = cdnopt_samples_summarize(paths, (size_t)n_samples, h, 0.95, &fc, sd);
    if (rc != CDNOPT_OK) {
        cdnopt_fail(err, rc, "failed to summarise %d forecast paths", n_samples);
        goto done;
    }

    rc = cdnopt__point_forecast(s, history, end, horizon, point, err);
    if (rc != CDNOPT_OK)
        goto done;
    cdnopt__sd_floor(point, sd, h);

done:
    cdnopt_free(paths);
    cdnopt_free(mc_mean);
    return rc;
}

cdnopt_forecast_params cdnopt_forecast_params_default(void)
{
    cdnopt_forecast_params p = {
        .horizon = 0, .n_samples = 100, .safety = 1.2, .seed = 1, .recent_days = 7};
    return p;
}

void cdnopt_forecast_result_free(cdnopt_forecast_result *f)
{
    if (f == NULL)
        return;
    cdnopt_free(f->t);
    cdnopt_free(f->mean);
    cdnopt_free(f->sd);
    cdnopt_free(f->lower);
    cdnopt_free(f->upper);
    cdnopt_free(f->critical);
    cdnopt_free(f);
}

static int result_alloc(int horizon, cdnopt_forecast_result **out)
{
    cdnopt_forecast_result *f = cdnopt_calloc(1, sizeof *f);
    if (f == NULL)
        return CDNOPT_ENOMEM;
    size_t n = (size_t)horizon;
    f->horizon = horizon;
    f->t = cdnopt_calloc(n, sizeof *f->t);
    f->mean = cdnopt_calloc(n, sizeof *f->mean);
    f->sd = cdnopt_calloc(n, sizeof *f->sd);
    f->lower = cdnopt_calloc(n, sizeof *f->lower);
    f->upper = cdnopt_calloc(n, sizeof *f->upper);
    f->critical = cdnopt_calloc(n, sizeof *f->critical);
    if (!f->t || !f->mean || !f->sd || !f->lower || !f->upper || !f->critical) {
        cdnopt_forecast_result_free(f);
        return CDNOPT_ENOMEM;
    }
    *out = f;
    return CDNOPT_OK;
}

static int check_forecast_params(const cdnopt_forecast_params *p, int horizon, size_t end,
                                 const cdnopt_series *history, char *err)
{
    if (horizon <= 0)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "invalid horizon %d steps: give a positive horizon, or a step that "
                           "divides one day",
                           horizon);
    if (p->n_samples < 2)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "invalid sample count %d: intervals need at least 2 MC samples",
                           p->n_samples);
    if (!(p->safety >= 1.0) || !isfinite(p->safety))
        return cdnopt_fail(err, CDNOPT_EINVAL, "invalid safety factor %g: use a number >= 1",
                           p->safety);
    if (p->recent_days < 0)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "invalid recent span of %d days: use 0 (stored factors only) or more",
                           p->recent_days);
    if (end == 0 || end > history->n)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "forecast origin %zu is outside the history of %zu steps", end,
                           history->n);
    return CDNOPT_OK;
}

/* Times continue the grid after the last observed step; bounds come from the
 * calibration factors, or from the normal quantile without a calibration. */
static void set_bounds(cdnopt_forecast_result *f, const cdnopt_calibration *cal,
                       const cdnopt_series *history, size_t end, double safety)
{
    size_t h = (size_t)f->horizon;
    f->step_s = history->step_s;
    f->calibrated = cal != NULL;
    if (cal != NULL) {
        cdnopt_calibration_apply(cal, h, f->mean, f->sd, f->lower, f->upper);
    } else {
        for (size_t i = 0; i < h; i++) {
            f->lower[i] = f->mean[i] - CDNOPT__Z95 * f->sd[i];
            f->upper[i] = f->mean[i] + CDNOPT__Z95 * f->sd[i];
        }
    }
    for (size_t i = 0; i < h; i++) {
        f->lower[i] = fmax(f->lower[i], 0.0);
        f->t[i] = history->t[end - 1] + (int64_t)(i + 1) * history->step_s;
        f->critical[i] = f->upper[i] * safety;
    }
}

int cdnopt_pipeline_forecast(const cdnopt_sampler *s, const cdnopt_calibration *cal,
                             const cdnopt_series *history, size_t end,
                             const cdnopt_forecast_params *p, cdnopt_forecast_result **out,
                             char *err)
{
    *out = NULL;
    int horizon = p->horizon > 0 ? p->horizon : cdnopt__steps_per_day(history->step_s);
    int rc = check_forecast_params(p, horizon, end, history, err);
    if (rc != CDNOPT_OK)
        return rc;

    cdnopt_forecast_result *f = NULL;
    if (result_alloc(horizon, &f) != CDNOPT_OK)
        return cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory for a forecast of %d steps",
                           horizon);
    rc = cdnopt__forecast_moments(s, history, end, horizon, p->n_samples, p->seed, f->mean,
                                  f->sd, err);
    if (rc != CDNOPT_OK) {
        cdnopt_forecast_result_free(f);
        return rc;
    }

    /* Widen the stored factors where the last days' forecasts missed by more. */
    cdnopt_calibration recent;
    size_t n_recent = 0;
    if (cal != NULL)
        rc = cdnopt__recalibrate_recent(s, cal, history, end, p, horizon, &recent, &n_recent,
                                        err);
    if (rc != CDNOPT_OK) {
        cdnopt_forecast_result_free(f);
        return rc;
    }

    set_bounds(f, n_recent > 0 ? &recent : cal, history, end, p->safety);
    f->recent_origins = (int)n_recent;
    if (n_recent > 0)
        cdnopt_calibration_fini(&recent);
    *out = f;
    return CDNOPT_OK;
}

int cdnopt_forecast_first_runaway(const cdnopt_forecast_result *f, double lo, double hi)
{
    double range = hi > lo ? hi - lo : 1.0;
    for (int k = 0; k < f->horizon; k++) {
        if (f->mean[k] > hi + range || f->mean[k] < lo - range)
            return k;
    }
    return -1;
}

int cdnopt_forecast_write_csv(const cdnopt_forecast_result *f, const char *path, char *err)
{
    FILE *out = fopen(path, "w");
    if (out == NULL)
        return cdnopt_fail(err, CDNOPT_EIO, "cannot write forecast %s: %s", path,
                           strerror(errno));

    fprintf(out, "timestamp,mean,lower,upper,critical\n");
    for (int h = 0; h < f->horizon; h++) {
        char stamp[CDNOPT_CIVIL_TEXT_MAX];
        cdnopt_civil_format(f->t[h], stamp, sizeof stamp);
        fprintf(out, "%s,%.6g,%.6g,%.6g,%.6g\n", stamp, f->mean[h], f->lower[h], f->upper[h],
                f->critical[h]);
    }

    /* fclose reports write errors (a full disk) that fprintf may have buffered. */
    if (ferror(out) | fclose(out))
        return cdnopt_fail(err, CDNOPT_EIO, "failed to write forecast %s: %s", path,
                           strerror(errno));
    return CDNOPT_OK;
}
