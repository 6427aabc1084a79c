/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers shared by the pipeline_*.c files.
 */
#ifndef CDNOPT_PIPELINE_IMPL_H
#define CDNOPT_PIPELINE_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "cdnopt/pipeline.h"

/* Two-sided 95% quantile of the standard normal: the raw MC-dropout interval is
 * mean +- 1.96 sd. */
#define CDNOPT__Z95 1.959963984540054

/** Steps per day for a step that divides one day, else 0. */
int cdnopt__steps_per_day(int64_t step_s);

/**
 * Raise each of the h standard deviations to at least 1e-9 |mean| + 1e-12, so that
 * calibration scores |y - mean| / sd stay finite when all MC paths agree.
 */
void cdnopt__sd_floor(const double *mean, double *sd, size_t h);

/**
 * Forecast horizon steps after index end with dropout off (the point forecast), raised
 * to 0, into point.
 * @return CDNOPT_OK or the sampler's error (message in err)
 */
int cdnopt__point_forecast(const cdnopt_sampler *s, const cdnopt_series *history, size_t end,
                           int horizon, double *point, char *err);

/**
 * Widen a stored RELATIVE calibration with the scores of recent forecasts: forecasts
 * (p->n_samples MC paths, seeds from p->seed) from the same time of day on each of the
 * last p->recent_days days whose whole horizon ends by end, against the values of
 * history that followed them. Each step of out gets the larger of the stored factor and
 * the factor of the recent scores.
 *
 * Nothing runs in five cases: no recent days, stored is not RELATIVE, the step does not
 * divide one day, the sampler has no history_min, or the earliest recent origin would
 * lie before index 0 or before history_min. Then *n_origins is 0 and out is untouched.
 *
 * @param out        receives a calibration of horizon steps when *n_origins > 0; free it
 *                   with cdnopt_calibration_fini()
 * @param n_origins  receives the number of recent origins used (p->recent_days or 0)
 * @return CDNOPT_OK, CDNOPT_ENOMEM or the sampler's error
 */
int cdnopt__recalibrate_recent(const cdnopt_sampler *s, const cdnopt_calibration *stored,
                               const cdnopt_series *history, size_t end,
                               const cdnopt_forecast_params *p, int horizon,
                               cdnopt_calibration *out, size_t *n_origins, char *err);

/**
 * Run n_samples MC paths and the dropout-off path of one forecast. point receives the
 * dropout-off path raised to 0, and sd the spread of the MC paths (floored as
 * cdnopt__sd_floor), horizon values each.
 * @return CDNOPT_OK, CDNOPT_ENOMEM or the sampler's error (message in err)
 */
int cdnopt__forecast_moments(const cdnopt_sampler *s, const cdnopt_series *history, size_t end,
                             int horizon, int n_samples, uint64_t seed, double *point,
                             double *sd, char *err);

#endif
