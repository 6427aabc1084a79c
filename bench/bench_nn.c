/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Time one training step of a two-layer LSTM(64) stack with a dense head, the shape
 * of the residual forecaster: batch 64, window 288 steps, 1 input feature.
 * Prints the median and the best wall time of the measured steps in ms per batch, and
 * the mean process CPU time (all threads), which shifts less than wall time when
 * other jobs share the machine.
 *
 * Usage: bench_nn [n_repeats]   (default 10; OPENBLAS_NUM_THREADS sets BLAS threads)
 */
#include "cdnopt/nn.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { N_BATCH = 64, N_STEPS = 288, N_HIDDEN = 64 };

struct net {
    cdnopt_params *ps;
    cdnopt_lstm *l1, *l2;
    cdnopt_dense *head;
};

static int net_build(struct net *net, cdnopt_rng *rng)
{
    cdnopt_lstm_params lp = cdnopt_lstm_params_default();
    lp.n_in = 1;
    lp.n_hidden = N_HIDDEN;
    lp.return_sequences = true;
    lp.name = "lstm1";
    int rc = cdnopt_params_new(&net->ps);
    if (rc == CDNOPT_OK)
        rc = cdnopt_lstm_new(net->ps, &lp, rng, &net->l1);

    lp.n_in = N_HIDDEN;
    lp.return_sequences = false;
    lp.name = "lstm2";
    if (rc == CDNOPT_OK)
        rc = cdnopt_lstm_new(net->ps, &lp, rng, &net->l2);

    cdnopt_dense_params dp = cdnopt_dense_params_default();
    dp.n_in = N_HIDDEN;
    dp.n_out = 1;
    dp.name = "head";
    if (rc == CDNOPT_OK)
        rc = cdnopt_dense_new(net->ps, &dp, rng, &net->head);
    return rc;
}

/* Forward, MSE, backward; returns 0 or the first error code. */
static int train_step(struct net *net, cdnopt_scratch *s, const float *x, const float *y)
{
    cdnopt_scratch_reset(s);
    cdnopt_params_zero_grads(net->ps);

    cdnopt_trace *t1, *t2, *t3;
    int rc = cdnopt_lstm_forward(net->l1, s, N_BATCH, N_STEPS, x, &t1);
    if (rc == CDNOPT_OK)
        rc = cdnopt_lstm_forward(net->l2, s, N_BATCH, N_STEPS, cdnopt_trace_output(t1), &t2);
    if (rc == CDNOPT_OK)
        rc = cdnopt_dense_forward(net->head, s, N_BATCH, cdnopt_trace_output(t2), &t3);
    float loss;
    if (rc == CDNOPT_OK)
        rc = cdnopt_mse_forward(cdnopt_trace_output(t3), y, N_BATCH, &loss);
    if (rc != CDNOPT_OK)
        return rc;

    float *dy = cdnopt_scratch_floats(s, N_BATCH);
    if (dy == NULL)
        return CDNOPT_ENOMEM;
    cdnopt_mse_backward(cdnopt_trace_output(t3), y, N_BATCH, dy);
    float *d2, *d1;
    rc = cdnopt_dense_backward(net->head, s, t3, dy, &d2);
    if (rc == CDNOPT_OK)
        rc = cdnopt_lstm_backward(net->l2, s, t2, d2, &d1);
    if (rc == CDNOPT_OK)
        rc = cdnopt_lstm_backward(net->l1, s, t1, d1, NULL);
    return rc;
}

static double cpu_time_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int n_repeats = argc > 1 ? atoi(argv[1]) : 10;
    if (n_repeats < 1 || n_repeats > 1000) {
        fprintf(stderr, "bench_nn: repeat count '%s' is invalid; pass 1 to 1000\n", argv[1]);
        return 2;
    }

    cdnopt_rng rng;
    cdnopt_rng_seed(&rng, 42);
    struct net net = {0};
    cdnopt_scratch *s = NULL;
    float *x = malloc(sizeof(float) * N_BATCH * N_STEPS);
    float *y = malloc(sizeof(float) * N_BATCH);
    double *ms = malloc(sizeof(double) * (size_t)n_repeats);
    int rc = net_build(&net, &rng);
    if (rc == CDNOPT_OK)
        rc = cdnopt_scratch_new(0, &s);
    if (rc != CDNOPT_OK || x == NULL || y == NULL || ms == NULL) {
        fprintf(stderr, "bench_nn: setup failed: %s\n", cdnopt_strerror(rc));
        return 1;
    }
    for (int i = 0; i < N_BATCH * N_STEPS; i++)
        x[i] = (float)cdnopt_rng_normal(&rng);
    for (int i = 0; i < N_BATCH; i++)
        y[i] = (float)cdnopt_rng_normal(&rng);

    /* One warm-up step grows the arena to its final size. */
    rc = train_step(&net, s, x, y);
    double cpu0 = cpu_time_s();
    for (int r = 0; r < n_repeats && rc == CDNOPT_OK; r++) {
        double t0 = cdnopt_clock_s();
        rc = train_step(&net, s, x, y);
        ms[r] = 1e3 * (cdnopt_clock_s() - t0);
    }
    if (rc != CDNOPT_OK) {
        fprintf(stderr, "bench_nn: training step failed: %s\n", cdnopt_strerror(rc));
        return 1;
    }

    double cpu_ms = 1e3 * (cpu_time_s() - cpu0) / n_repeats;

    qsort(ms, (size_t)n_repeats, sizeof(double), cmp_double);
    printf("lstm64x2 fwd+bwd batch=%d window=%d features=1: median %.1f ms/batch, "
           "min %.1f ms/batch, cpu %.1f ms/batch over %d steps (arena %.1f MiB)\n",
           N_BATCH, N_STEPS, ms[n_repeats / 2], ms[0], cpu_ms, n_repeats,
           (double)cdnopt_scratch_capacity(s) / (1 << 20));

    cdnopt_scratch_free(s);
    cdnopt_lstm_free(net.l1);
    cdnopt_lstm_free(net.l2);
    cdnopt_dense_free(net.head);
    cdnopt_params_free(net.ps);
    free(x);
    free(y);
    free(ms);
    return 0;
}
