/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The global model as an M4 method: a whole wide set in, forecasts of every series out.
 */
#include "cdnopt/global.h"

#include "cdnopt/core.h"

#include <string.h>

/* Copy the rows of a set into series named by their ids, with t = i * step_s. */
static int series_from_set(const cdnopt_m4_set *set, int64_t step_s, cdnopt_series **series)
{
    for (size_t i = 0; i < set->n_series; i++) {
        int rc = cdnopt_series_new(set->length[i], 0, step_s, &series[i]);
        if (rc == CDNOPT_OK)
            rc = cdnopt_series_set_name(series[i], set->ids[i]);
        if (rc != CDNOPT_OK)
            return rc;
        memcpy(series[i]->v, set->values[i], set->length[i] * sizeof *series[i]->v);
    }
    return CDNOPT_OK;
}

int cdnopt_global_m4_forecast(const cdnopt_m4_set *in_sample, size_t h, int64_t step_s,
                              const cdnopt_global_params *gp, cdnopt_epoch_cb cb, void *user,
                              cdnopt_m4_forecasts *out, char *err)
{
    memset(out, 0, sizeof *out);
    size_t n = in_sample->n_series;
    cdnopt_series **series = cdnopt_calloc(n > 0 ? n : 1, sizeof *series);
    if (series == NULL)
        return cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory for %zu series", n);
    int rc = series_from_set(in_sample, step_s, series);
    if (rc != CDNOPT_OK)
        cdnopt_fail(err, rc, "out of memory copying %zu series", n);

    cdnopt_global_params p = *gp;
    p.calib_steps = (int)h;
    cdnopt_model *m = NULL;
    cdnopt_calibration cal = {0};
    if (rc == CDNOPT_OK)
        rc = cdnopt_global_train(&p, series, n, step_s, cb, user, &m, &cal, err);
    if (rc == CDNOPT_OK)
        rc = cdnopt_global_forecast_all(m, &p, &cal, series, n, (int)h, out, err);

    cdnopt_calibration_fini(&cal);
    cdnopt_model_free(m);
    for (size_t i = 0; i < n; i++)
        cdnopt_series_free(series[i]);
    cdnopt_free(series);
    return rc;
}
