/* SPDX-License-Identifier: Apache-2.0 */
/* Entry point of test_series: runs the reader cases and the generator cases. */
#include "series_tests.h"

#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    size_t n = series_read_tests_n + series_generate_tests_n;
    struct CMUnitTest *all = malloc(n * sizeof *all);
    if (all == NULL)
        return 1;
    memcpy(all, series_read_tests, series_read_tests_n * sizeof *all);
    memcpy(all + series_read_tests_n, series_generate_tests,
           series_generate_tests_n * sizeof *all);
    int rc = cdnopt_test_main(argc, argv, "series", all, n);
    free(all);
    return rc;
}
