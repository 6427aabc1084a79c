/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Small synthetic inputs for the environment and agent tests: a 3-day baseline with a
 * daily cycle, and releases drawn with a fixed seed, some of them over the blackout
 * size and planned late in the evening so that the blackout rule bites.
 */
#ifndef CDNOPT_TEST_ENV_FIXTURE_H
#define CDNOPT_TEST_ENV_FIXTURE_H

#include "cdnopt/agent.h"

/* Civil seconds of 2004-12-14 00:00:00, a Tuesday. */
#define FIXTURE_DAY 1102982400LL

/* A baseline of days x 24 h from FIXTURE_DAY on a step_s grid: 500 Gbit/s plus a daily
 * cosine of amplitude 300 Gbit/s peaking at 20:00. */
cdnopt_series *fixture_baseline(int days, int64_t step_s);

/* n releases planned on FIXTURE_DAY at random hours and 5-minute offsets; every third
 * is 800 MB (over the blackout threshold). */
cdnopt_release_set *fixture_releases(size_t n, uint64_t seed);

#endif
