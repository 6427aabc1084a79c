// SPDX-License-Identifier: Apache-2.0
#include "agent_observed.h"

#include "cdnopt/core.h"

#include <stdio.h>
#include <string.h>

/* Days of an episode window, as cdnopt_episode_draw() cuts it. */
#define WINDOW_DAYS 3

size_t cdnopt__cli_days_with_history(const cdnopt_model *model, size_t *days, size_t n_days)
{
    size_t need = cdnopt_model_history_min(model), kept = 0;
    for (size_t k = 0; k < n_days; k++) {
        if (days[k] >= need)
            days[kept++] = days[k];
    }
    return kept;
}

/* Forecast the window from history index first into a new series on its grid. */
static int forecast_window(const cdnopt_model *model, const cdnopt_series *history,
                           size_t first, double *samples, cdnopt_series **out, char *err)
{
    size_t steps = (size_t)(WINDOW_DAYS * 86400 / history->step_s);
    int rc = cdnopt_model_sample(model, history, first, (int)steps, 0, 0, samples, err);
    if (rc == CDNOPT_OK)
        rc = cdnopt_series_slice(history, first, steps, out, err);
    if (rc == CDNOPT_OK)
        memcpy((*out)->v, samples, steps * sizeof *samples);
    return rc;
}

int cdnopt__cli_forecast_windows(const cdnopt_model *model, const char *model_path,
                                 const cdnopt_series *history, const size_t *days,
                                 size_t n_days, cdnopt_series **out, char *err)
{
    memset(out, 0, n_days * sizeof *out);
    if (cdnopt_model_step_s(model) != history->step_s)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "model %s forecasts steps of %lld s but the history has steps of "
                           "%lld s; train the model on the same series",
                           model_path, (long long)cdnopt_model_step_s(model),
                           (long long)history->step_s);
    size_t steps = (size_t)(WINDOW_DAYS * 86400 / history->step_s);
    double *samples = cdnopt_malloc(steps * sizeof *samples);
    if (!samples)
        return cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory for a %zu-step forecast", steps);

    int rc = CDNOPT_OK;
    for (size_t k = 0; rc == CDNOPT_OK && k < n_days; k++) {
        rc = forecast_window(model, history, days[k], samples, &out[k], err);
        if (rc != CDNOPT_OK) {
            char day[32], reason[CDNOPT_ERRMSG_MAX];
            cdnopt_civil_format(history->t[days[k]], day, sizeof day);
            snprintf(reason, sizeof reason, "%s", err);
            cdnopt_fail(err, rc, "forecasting the window from %.10s with model %s failed: %s",
                        day, model_path, reason);
        }
    }
    cdnopt_free(samples);
    if (rc != CDNOPT_OK)
        cdnopt__cli_windows_free(out, n_days);
    return rc;
}

void cdnopt__cli_windows_free(cdnopt_series **windows, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        cdnopt_series_free(windows[k]);
        windows[k] = NULL;
    }
}
