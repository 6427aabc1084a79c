/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Recent widening of a stored calibration. Before a forecast from index end, the model
 * forecasts from the same time of day on each of the last few days whose whole horizon
 * ends by end. The relative errors of those forecasts give a second set of factors, and
 * each step keeps the larger of the stored and the recent factor. The recent forecasts
 * run the same MC paths as the forecast itself, because the scale of the scores includes
 * their spread.
 *
 * Rationale: the stored factors describe the errors of a span at the end of training,
 * and the scores are exchangeable with later ones only while the traffic behaves as it
 * did then. After a holiday ends or a new weekday pattern starts, the errors grow and the
 * stored factors undercover until the model is retrained. The last days show such a
 * change as soon as it is in the history. Origins at the forecast's own time of day make
 * step h of every recent forecast fall on the same time of day as step h of the
 * forecast. The larger of the two factors keeps the stored span's rare events covered
 * when the recent days are quiet.
 */
#include "cdnopt/pipeline.h"

#include "cdnopt/core.h"
#include "pipeline-impl.h"

#include <math.h>
#include <string.h>

/*
 * Latest recent origin as a number of days before end: the smallest whole number of
 * days that covers the horizon, so that every forecast's targets lie before end.
 */
static size_t latest_lag_days(size_t horizon, size_t steps_per_day)
{
    return (horizon + steps_per_day - 1) / steps_per_day;
}

/* Recent forecasts to run: days origins of horizon steps with n_samples MC paths. */
typedef struct recent_plan {
    size_t horizon;
    size_t steps_per_day;
    size_t days;
    int n_samples;
    uint64_t seed; /* origin j uses seed + j */
} recent_plan;

/* True when all `days` recent origins have the history the sampler needs. */
static bool recent_history_fits(const cdnopt_sampler *s, size_t end, size_t horizon,
                                size_t steps_per_day, size_t days)
{
    size_t back = (latest_lag_days(horizon, steps_per_day) + days - 1) * steps_per_day;
    if (back >= end)
        return false;
    return end - back >= s->iface->history_min(s->ctx);
}

/* Point forecasts, MC spreads and actual values of the recent origins, origin-major. */
static int run_recent(const cdnopt_sampler *s, const cdnopt_series *history, size_t end,
                      const recent_plan *plan, double *actual, double *point, double *sd,
                      char *err)
{
    size_t horizon = plan->horizon;
    size_t lag = latest_lag_days(horizon, plan->steps_per_day);
    for (size_t j = 0; j < plan->days; j++) {
        size_t origin = end - (lag + j) * plan->steps_per_day;
        int rc = cdnopt__forecast_moments(s, history, origin, (int)horizon, plan->n_samples,
                                          plan->seed + j, point + j * horizon, sd + j * horizon,
                                          err);
        if (rc != CDNOPT_OK)
            return rc;
        memcpy(actual + j * horizon, history->v + origin, horizon * sizeof *actual);
    }
    return CDNOPT_OK;
}

/* out = the stored factors, raised step by step to the recent ones. */
static int merge_factors(const cdnopt_calibration *stored, const cdnopt_calibration *recent,
                         cdnopt_calibration *out, char *err)
{
    if (cdnopt_calibration_init(out, CDNOPT_CALIB_RELATIVE, stored->level, recent->horizon) !=
        CDNOPT_OK)
        return cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory for %zu calibration factors",
                           recent->horizon);
    for (size_t k = 0; k < recent->horizon; k++) {
        size_t at = k < stored->horizon ? k : stored->horizon - 1;
        out->factor[k] = fmax(stored->factor[at], recent->factor[k]);
    }
    out->n_origins = stored->n_origins + recent->n_origins;
    out->coverage_raw = stored->coverage_raw;
    out->coverage_calibrated = stored->coverage_calibrated;
    return CDNOPT_OK;
}

int cdnopt__recalibrate_recent(const cdnopt_sampler *s, const cdnopt_calibration *stored,
                               const cdnopt_series *history, size_t end,
                               const cdnopt_forecast_params *p, int horizon,
                               cdnopt_calibration *out, size_t *n_origins, char *err)
{
    *n_origins = 0;
    int steps_per_day = cdnopt__steps_per_day(history->step_s);
    if (p->recent_days <= 0 || horizon <= 0 || stored->kind != CDNOPT_CALIB_RELATIVE ||
        stored->horizon == 0 || steps_per_day <= 0 || s->iface->history_min == NULL)
        return CDNOPT_OK;
    recent_plan plan = {(size_t)horizon, (size_t)steps_per_day, (size_t)p->recent_days,
                        p->n_samples, p->seed};
    size_t h = plan.horizon, n_days = plan.days;
    if (!recent_history_fits(s, end, h, plan.steps_per_day, n_days))
        return CDNOPT_OK;

    double *actual = cdnopt_malloc(3 * n_days * h * sizeof *actual);
    if (actual == NULL)
        return cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory for %zu recent forecasts",
                           n_days);
    double *point = actual + n_days * h;
    double *sd = point + n_days * h;
    int rc = run_recent(s, history, end, &plan, actual, point, sd, err);

    cdnopt_calibration recent = {0};
    if (rc == CDNOPT_OK) {
        cdnopt_calib_set set = {.n_origins = n_days, .horizon = h, .actual = actual,
                                .mean = point, .std = sd};
        cdnopt_calibration_params cp = cdnopt_calibration_params_default();
        cp.kind = CDNOPT_CALIB_RELATIVE;
        cp.level = stored->level;
        rc = cdnopt_calibration_fit(&set, &cp, &recent, err);
    }
    if (rc == CDNOPT_OK)
        rc = merge_factors(stored, &recent, out, err);
    if (rc == CDNOPT_OK)
        *n_origins = n_days;
    cdnopt_calibration_fini(&recent);
    cdnopt_free(actual);
    return rc;
}
