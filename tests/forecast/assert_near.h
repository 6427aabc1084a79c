/* SPDX-License-Identifier: Apache-2.0 */
/*
 * assert_near(actual, expected, tolerance) for doubles, shared by the stats and m4
 * suites. cmocka 1.1's assert_float_equal compares in single precision, too coarse
 * for checks at 1e-9.
 */
#ifndef CDNOPT_TEST_ASSERT_NEAR_H
#define CDNOPT_TEST_ASSERT_NEAR_H

#include "testutil.h"

#include <math.h>

#define assert_near(actual, expected, tolerance)                                \
    assert_near_at((actual), (expected), (tolerance), __FILE__, __LINE__)

static inline void assert_near_at(double actual, double expected, double tolerance,
                                  const char *file, int line)
{
    if (fabs(actual - expected) <= tolerance)
        return;
    print_error("%.17g is not within %g of %.17g\n", actual, tolerance, expected);
    _fail(file, line);
}

#endif
