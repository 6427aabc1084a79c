/* SPDX-License-Identifier: Apache-2.0 */
/* The case tables of the series suite, one per source file, joined by test_main.c. */
#ifndef CDNOPT_SERIES_TESTS_H
#define CDNOPT_SERIES_TESTS_H

#include "testutil.h"

#include <math.h>
#include <stdio.h>

/* cmocka 1.1.5 (Debian) has no assert_double_equal, so doubles go through this,
 * which prints both values on failure. */
#define assert_close(actual, expected, tolerance)                              \
    series_assert_close((actual), (expected), (tolerance), __FILE__, __LINE__)

static inline void series_assert_close(double actual, double expected, double tolerance,
                                       const char *file, int line)
{
    if (fabs(actual - expected) <= tolerance)
        return;
    print_error("%.17g is not within %g of %.17g\n", actual, tolerance, expected);
    _fail(file, line);
}

extern const struct CMUnitTest series_read_tests[];
extern const size_t series_read_tests_n;
extern const struct CMUnitTest series_generate_tests[];
extern const size_t series_generate_tests_n;

#endif
