/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers shared by the pipeline_*.c files.
 */
#ifndef CDNOPT_PIPELINE_IMPL_H
#define CDNOPT_PIPELINE_IMPL_H

#include <stddef.h>
#include <stdint.h>

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

#endif
