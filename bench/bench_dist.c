/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Time of one gradient sum (cdnopt_dist_sum_floats, an in-place MPI_Allreduce) of
 * n floats, the communication of one data-parallel training step.
 *
 *     mpirun -np N build/bin/bench_dist [n_floats] [repeats]
 *
 * Rank 0 prints one line: ranks, floats, bytes per rank and the mean time per sum.
 */
#include "cdnopt/core.h"
#include "cdnopt/dist.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    char err[CDNOPT_ERRMSG_MAX] = "";
    cdnopt_dist *d = NULL;
    if (cdnopt_dist_init(&argc, &argv, CDNOPT_DIST_INIT_ALWAYS, &d, err) != CDNOPT_OK) {
        fprintf(stderr, "bench_dist: %s\n", err);
        return 1;
    }
    size_t n = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 13217;
    int repeats = argc > 2 ? atoi(argv[2]) : 2000;
    float *values = cdnopt_calloc(n > 0 ? n : 1, sizeof *values);
    if (values == NULL || repeats < 1) {
        cdnopt_dist_abort(d, 2, "invalid arguments: give n_floats >= 1 and repeats >= 1");
    }

    /* A few untimed sums first, so that connection set-up is not counted. */
    int rc = CDNOPT_OK;
    for (int i = 0; i < 20 && rc == CDNOPT_OK; i++)
        rc = cdnopt_dist_sum_floats(d, values, n, err);
    double t0 = cdnopt_clock_s();
    for (int i = 0; i < repeats && rc == CDNOPT_OK; i++)
        rc = cdnopt_dist_sum_floats(d, values, n, err);
    double seconds = cdnopt_clock_s() - t0;
    if (rc != CDNOPT_OK)
        cdnopt_dist_abort(d, 1, err);

    if (cdnopt_dist_rank(d) == 0)
        printf("ranks=%d floats=%zu bytes=%zu us_per_sum=%.1f\n", cdnopt_dist_size(d), n,
               n * sizeof(float), 1e6 * seconds / repeats);
    cdnopt_free(values);
    cdnopt_dist_finalize(d);
    return 0;
}
