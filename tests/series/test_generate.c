/* SPDX-License-Identifier: Apache-2.0 */
/* Generator cases; filled in with the generator. */
#include "series_tests.h"

const struct CMUnitTest series_generate_tests[1];
const size_t series_generate_tests_n = 0;
