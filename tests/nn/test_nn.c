/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the nn module: the BLAS path against the loop reference, the arena,
 * parameter sets and initialisers, Adam and clipping against hand-computed values,
 * dropout statistics, NaN/Inf detection and failure injection. Gradient checks
 * are in test_nn_grad.c. Every case runs under a leak check.
 */
#include "cdnopt/nn.h"
#include "test_nn.h"
#include "testutil.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

int leak_setup(void **state)
{
    *state = (void *)(intptr_t)cdnopt_alloc_live_blocks();
    return 0;
}

int leak_teardown(void **state)
{
    long before = (long)(intptr_t)*state;
    long after = cdnopt_alloc_live_blocks();
    cdnopt_alloc_fail_after(0, false);
    if (after != before) {
        print_error("leak check: %ld live blocks before the case, %ld after\n", before, after);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------- */
/* Matrix products                                                           */
/* ------------------------------------------------------------------------- */

/* BLAS and the double-accumulating loops agree to float rounding: 1e-5 relative is
 * far above the ~1e-7 of float sums over k = 37 terms and far below any indexing error. */
static void sgemm_matches_reference(void **state)
{
    (void)state;
    enum { M = 13, N = 11, K = 37, LD = 40 };
    float a[LD * LD], b[LD * LD], c_blas[M * LD], c_ref[M * LD];
    cdnopt_rng rng;
    cdnopt_rng_seed(&rng, 1);
    cdnopt_init_uniform(a, LD * LD, 1.0f, &rng);
    cdnopt_init_uniform(b, LD * LD, 1.0f, &rng);

    for (int ta = 0; ta < 2; ta++) {
        for (int tb = 0; tb < 2; tb++) {
            cdnopt_init_uniform(c_blas, M * LD, 1.0f, &rng);
            memcpy(c_ref, c_blas, sizeof(c_ref));

            /* Leading dimensions wider than the matrices test the strides too. */
            cdnopt_sgemm(ta, tb, M, N, K, 0.7f, a, LD, b, LD, 0.3f, c_blas, LD);
            cdnopt_sgemm_ref(ta, tb, M, N, K, 0.7f, a, LD, b, LD, 0.3f, c_ref, LD);
            double rel = cdnopt_nn_rel_error(c_blas, c_ref, M * LD);
            if (!(rel < 1e-5))
                fail_msg("sgemm trans_a=%d trans_b=%d: relative error %.3g", ta, tb, rel);
        }
    }
}

static void sgemm_ref_by_hand(void **state)
{
    (void)state;
    /* [1 2; 3 4] * [5 6; 7 8] = [19 22; 43 50]; with beta = 1 on C = 1 and alpha = 2. */
    const float a[] = {1, 2, 3, 4}, b[] = {5, 6, 7, 8};
    float c[] = {1, 1, 1, 1};
    cdnopt_sgemm_ref(false, false, 2, 2, 2, 2.0f, a, 2, b, 2, 1.0f, c, 2);
    assert_float_equal(c[0], 39.0f, 1e-6);
    assert_float_equal(c[1], 45.0f, 1e-6);
    assert_float_equal(c[2], 87.0f, 1e-6);
    assert_float_equal(c[3], 101.0f, 1e-6);

    /* A^T B: [1 3; 2 4] * [5 6; 7 8] = [26 30; 38 44]; beta = 0 ignores NaN in C. */
    float d[] = {NAN, NAN, NAN, NAN};
    cdnopt_sgemm(true, false, 2, 2, 2, 1.0f, a, 2, b, 2, 0.0f, d, 2);
    assert_float_equal(d[0], 26.0f, 1e-5);
    assert_float_equal(d[1], 30.0f, 1e-5);
    assert_float_equal(d[2], 38.0f, 1e-5);
    assert_float_equal(d[3], 44.0f, 1e-5);

    /* k = 0: both paths only scale C by beta. */
    float e[] = {1, 2, 3, 4}, f[] = {1, 2, 3, 4};
    cdnopt_sgemm(false, false, 2, 2, 0, 1.0f, a, 1, b, 2, 0.5f, e, 2);
    cdnopt_sgemm_ref(false, false, 2, 2, 0, 1.0f, a, 1, b, 2, 0.5f, f, 2);
    for (int i = 0; i < 4; i++) {
        assert_float_equal(e[i], 0.5f * (float)(i + 1), 0.0);
        assert_float_equal(f[i], 0.5f * (float)(i + 1), 0.0);
    }
}

/* ------------------------------------------------------------------------- */
/* Scratch arena                                                             */
/* ------------------------------------------------------------------------- */

static void scratch_alignment_and_growth(void **state)
{
    (void)state;
    cdnopt_scratch *s = NULL;
    assert_int_equal(cdnopt_scratch_new(1024, &s), CDNOPT_OK);
    assert_int_equal(cdnopt_scratch_capacity(s), 1024);

    void *p1 = cdnopt_scratch_alloc(s, 3);
    void *p2 = cdnopt_scratch_alloc(s, 0);
    assert_non_null(p1);
    assert_non_null(p2);
    assert_ptr_not_equal(p1, p2);
    assert_int_equal((uintptr_t)p1 % 64, 0);
    assert_int_equal((uintptr_t)p2 % 64, 0);
    assert_int_equal(cdnopt_scratch_used(s), 128);

    /* A request larger than the block opens a second one; old pointers stay valid. */
    memset(p1, 0x5a, 3);
    float *big = cdnopt_scratch_floats(s, 1000);
    assert_non_null(big);
    big[999] = 1.0f;
    assert_int_equal(((unsigned char *)p1)[2], 0x5a);
    assert_true(cdnopt_scratch_capacity(s) >= 1024 + 4000);

    /* Reset merges the blocks; the same requests then allocate nothing new. */
    size_t capacity = cdnopt_scratch_capacity(s);
    cdnopt_scratch_reset(s);
    assert_int_equal(cdnopt_scratch_used(s), 0);
    assert_int_equal(cdnopt_scratch_capacity(s), capacity);
    long live = cdnopt_alloc_live_blocks();
    assert_non_null(cdnopt_scratch_alloc(s, 3));
    assert_non_null(cdnopt_scratch_alloc(s, 0));
    assert_non_null(cdnopt_scratch_floats(s, 1000));
    assert_int_equal(cdnopt_alloc_live_blocks(), live);

    float *z = cdnopt_scratch_zeros(s, 16);
    for (int i = 0; i < 16; i++)
        assert_float_equal(z[i], 0.0f, 0.0);
    cdnopt_scratch_free(s);
    cdnopt_scratch_free(NULL);
}

static void scratch_out_of_memory(void **state)
{
    (void)state;
    cdnopt_scratch *s = NULL;
    cdnopt_alloc_fail_after(1, false);
    assert_int_equal(cdnopt_scratch_new(0, &s), CDNOPT_ENOMEM);
    assert_null(s);

    assert_int_equal(cdnopt_scratch_new(256, &s), CDNOPT_OK);
    cdnopt_alloc_fail_after(1, false);
    assert_null(cdnopt_scratch_alloc(s, 4096));
    assert_non_null(cdnopt_scratch_alloc(s, 64));
    cdnopt_scratch_free(s);
}

/* ------------------------------------------------------------------------- */
/* Parameter sets and initialisers                                           */
/* ------------------------------------------------------------------------- */

static void params_layout_and_lookup(void **state)
{
    (void)state;
    cdnopt_params *ps = NULL;
    assert_int_equal(cdnopt_params_new(&ps), CDNOPT_OK);
    assert_int_equal(cdnopt_params_count(ps), 0);

    size_t off_a = 99, off_b = 99;
    assert_int_equal(cdnopt_params_add(ps, "a", 2, 3, &off_a), CDNOPT_OK);
    assert_int_equal(cdnopt_params_add(ps, "b", 1, 4, &off_b), CDNOPT_OK);
    assert_int_equal(off_a, 0);
    assert_int_equal(off_b, 6);
    assert_int_equal(cdnopt_params_count(ps), 10);
    assert_int_equal(cdnopt_params_n_tensors(ps), 2);

    /* Rejected additions leave the set as it was. */
    size_t off = 0;
    assert_int_equal(cdnopt_params_add(ps, "a", 1, 1, &off), CDNOPT_EINVAL);
    assert_int_equal(cdnopt_params_add(ps, "", 1, 1, &off), CDNOPT_EINVAL);
    assert_int_equal(cdnopt_params_add(ps, "c", 0, 1, &off), CDNOPT_EINVAL);
    cdnopt_alloc_fail_after(1, true);
    assert_int_equal(cdnopt_params_add(ps, "c", 1, 1, &off), CDNOPT_ENOMEM);
    cdnopt_alloc_fail_after(0, false);
    assert_int_equal(cdnopt_params_count(ps), 10);
    assert_int_equal(cdnopt_params_n_tensors(ps), 2);

    cdnopt_param_tensor info;
    assert_int_equal(cdnopt_params_find(ps, "b", &info), CDNOPT_OK);
    assert_string_equal(info.name, "b");
    assert_int_equal(info.offset, 6);
    assert_int_equal(info.n_rows, 1);
    assert_int_equal(info.n_cols, 4);
    assert_int_equal(cdnopt_params_find(ps, "zz", &info), CDNOPT_ENOTFOUND);
    assert_int_equal(cdnopt_params_tensor(ps, 0, &info), CDNOPT_OK);
    assert_string_equal(info.name, "a");
    assert_int_equal(cdnopt_params_tensor(ps, 2, &info), CDNOPT_ENOTFOUND);

    /* New tensors start at zero, values and gradients alike. */
    for (size_t i = 0; i < 10; i++) {
        assert_float_equal(cdnopt_params_values(ps)[i], 0.0f, 0.0);
        assert_float_equal(cdnopt_params_grads(ps)[i], 0.0f, 0.0);
    }
    cdnopt_params_free(ps);
    cdnopt_params_free(NULL);
}

static void params_copy_checks_shapes(void **state)
{
    (void)state;
    cdnopt_params *a = NULL, *b = NULL, *c = NULL;
    size_t off;
    assert_int_equal(cdnopt_params_new(&a), CDNOPT_OK);
    assert_int_equal(cdnopt_params_new(&b), CDNOPT_OK);
    assert_int_equal(cdnopt_params_new(&c), CDNOPT_OK);
    assert_int_equal(cdnopt_params_add(a, "w", 2, 2, &off), CDNOPT_OK);
    assert_int_equal(cdnopt_params_add(b, "w", 2, 2, &off), CDNOPT_OK);
    assert_int_equal(cdnopt_params_add(c, "w", 1, 4, &off), CDNOPT_OK);
    for (int i = 0; i < 4; i++)
        cdnopt_params_values(a)[i] = (float)(i + 1);

    assert_int_equal(cdnopt_params_copy_values(b, a), CDNOPT_OK);
    assert_float_equal(cdnopt_params_values(b)[3], 4.0f, 0.0);
    assert_int_equal(cdnopt_params_copy_values(c, a), CDNOPT_ESHAPE);
    assert_float_equal(cdnopt_params_values(c)[3], 0.0f, 0.0);

    cdnopt_params_free(a);
    cdnopt_params_free(b);
    cdnopt_params_free(c);
}

static void orthogonal_init_is_orthonormal(void **state)
{
    (void)state;
    enum { R = 5, C = 20 };
    float w[R * C], wt[C * R];
    cdnopt_rng rng;
    cdnopt_rng_seed(&rng, 2);

    /* Wide matrix: rows orthonormal, W W^T = I. */
    assert_int_equal(cdnopt_init_orthogonal(w, R, C, &rng), CDNOPT_OK);
    for (int i = 0; i < R; i++) {
        for (int j = 0; j < R; j++) {
            double dot = 0.0;
            for (int p = 0; p < C; p++)
                dot += (double)w[i * C + p] * w[j * C + p];
            assert_float_equal(dot, i == j ? 1.0 : 0.0, 1e-5);
        }
    }

    /* Tall matrix: columns orthonormal, W^T W = I. */
    assert_int_equal(cdnopt_init_orthogonal(wt, C, R, &rng), CDNOPT_OK);
    for (int i = 0; i < R; i++) {
        for (int j = 0; j < R; j++) {
            double dot = 0.0;
            for (int p = 0; p < C; p++)
                dot += (double)wt[p * R + i] * wt[p * R + j];
            assert_float_equal(dot, i == j ? 1.0 : 0.0, 1e-5);
        }
    }
}

static void lstm_init_keras_style(void **state)
{
    (void)state;
    cdnopt_params *ps = NULL;
    assert_int_equal(cdnopt_params_new(&ps), CDNOPT_OK);
    cdnopt_rng rng;
    cdnopt_rng_seed(&rng, 3);
    cdnopt_lstm_params lp = cdnopt_lstm_params_default();
    lp.n_in = 6;
    lp.n_hidden = 4;
    lp.name = "enc";
    cdnopt_lstm *l = NULL;
    assert_int_equal(cdnopt_lstm_new(ps, &lp, &rng, &l), CDNOPT_OK);
    assert_int_equal(cdnopt_lstm_n_hidden(l), 4);

    cdnopt_param_tensor k, u, b;
    assert_int_equal(cdnopt_params_find(ps, "enc/kernel", &k), CDNOPT_OK);
    assert_int_equal(cdnopt_params_find(ps, "enc/recurrent_kernel", &u), CDNOPT_OK);
    assert_int_equal(cdnopt_params_find(ps, "enc/bias", &b), CDNOPT_OK);
    assert_int_equal(k.n_rows, 6);
    assert_int_equal(k.n_cols, 16);
    assert_int_equal(u.n_rows, 4);
    assert_int_equal(u.n_cols, 16);

    /* Glorot limit sqrt(6 / (6 + 16)) = 0.522 bounds the kernel. */
    const float *v = cdnopt_params_values(ps);
    for (size_t i = 0; i < 6 * 16; i++)
        assert_true(fabsf(v[k.offset + i]) <= 0.5223f);

    /* Bias: i 0, f 1, g 0, o 0 (Keras unit_forget_bias). */
    for (size_t j = 0; j < 16; j++)
        assert_float_equal(v[b.offset + j], (j >= 4 && j < 8) ? 1.0f : 0.0f, 0.0);

    /* A name clash is rejected without a leak. */
    cdnopt_lstm *dup = NULL;
    assert_int_equal(cdnopt_lstm_new(ps, &lp, &rng, &dup), CDNOPT_EINVAL);
    assert_null(dup);

    cdnopt_lstm_free(l);
    cdnopt_params_free(ps);
}

static void constructors_reject_bad_shapes(void **state)
{
    (void)state;
    cdnopt_params *ps = NULL;
    assert_int_equal(cdnopt_params_new(&ps), CDNOPT_OK);
    cdnopt_rng rng;
    cdnopt_rng_seed(&rng, 4);

    cdnopt_dense_params dp = cdnopt_dense_params_default();
    cdnopt_dense *d = NULL;
    assert_int_equal(cdnopt_dense_new(ps, &dp, &rng, &d), CDNOPT_EINVAL);
    assert_null(d);

    cdnopt_mha_params mp = cdnopt_mha_params_default();
    mp.n_embd = 6;
    mp.n_head = 4;
    cdnopt_mha *a = NULL;
    assert_int_equal(cdnopt_mha_new(ps, &mp, &rng, &a), CDNOPT_EINVAL);
    assert_null(a);

    cdnopt_layernorm *ln = NULL;
    assert_int_equal(cdnopt_layernorm_new(ps, "ln", 0, &ln), CDNOPT_EINVAL);
    assert_null(ln);
    assert_int_equal(cdnopt_params_count(ps), 0);

    /* A clash on the third tensor removes the two added before it. */
    size_t off = 0;
    assert_int_equal(cdnopt_params_add(ps, "m/out_kernel", 1, 1, &off), CDNOPT_OK);
    mp.n_head = 2;
    mp.name = "m";
    assert_int_equal(cdnopt_mha_new(ps, &mp, &rng, &a), CDNOPT_EINVAL);
    assert_null(a);
    assert_int_equal(cdnopt_params_count(ps), 1);
    assert_int_equal(cdnopt_params_n_tensors(ps), 1);
    cdnopt_param_tensor info;
    assert_int_equal(cdnopt_params_find(ps, "m/qkv_kernel", &info), CDNOPT_ENOTFOUND);

    /* The set still grows normally afterwards, with zeroed new values. */
    mp.name = "m2";
    assert_int_equal(cdnopt_mha_new(ps, &mp, &rng, &a), CDNOPT_OK);
    assert_int_equal(cdnopt_params_find(ps, "m2/qkv_bias", &info), CDNOPT_OK);
    assert_int_equal(info.offset, 1 + 6 * 18);
    for (size_t j = 0; j < 18; j++)
        assert_float_equal(cdnopt_params_values(ps)[info.offset + j], 0.0f, 0.0);
    cdnopt_mha_free(a);
    cdnopt_params_free(ps);
}

static void lstm_new_out_of_memory(void **state)
{
    (void)state;
    cdnopt_rng rng;
    cdnopt_rng_seed(&rng, 5);
    cdnopt_lstm_params lp = cdnopt_lstm_params_default();
    lp.n_in = 2;
    lp.n_hidden = 3;

    /* Fail each allocation in turn until construction succeeds; none may leak. */
    for (long n = 1; n < 64; n++) {
        cdnopt_params *ps = NULL;
        assert_int_equal(cdnopt_params_new(&ps), CDNOPT_OK);
        cdnopt_lstm *l = NULL;
        cdnopt_alloc_fail_after(n, false);
        int rc = cdnopt_lstm_new(ps, &lp, &rng, &l);
        cdnopt_alloc_fail_after(0, false);
        size_t count = cdnopt_params_count(ps), n_tensors = cdnopt_params_n_tensors(ps);
        cdnopt_lstm_free(l);
        cdnopt_params_free(ps);
        if (rc == CDNOPT_OK)
            return;
        assert_int_equal(rc, CDNOPT_ENOMEM);
        assert_null(l);
        assert_int_equal(count, 0);
        assert_int_equal(n_tensors, 0);
    }
    fail_msg("lstm_new still failed after 63 injected allocation failures");
}

/* ------------------------------------------------------------------------- */
/* Layers: values                                                            */
/* ------------------------------------------------------------------------- */

static void dense_forward_by_hand(void **state)
{
    (void)state;
    cdnopt_params *ps = NULL;
    assert_int_equal(cdnopt_params_new(&ps), CDNOPT_OK);
    cdnopt_rng rng;
    cdnopt_rng_seed(&rng, 6);
    cdnopt_dense_params dp = cdnopt_dense_params_default();
    dp.n_in = 2;
    dp.n_out = 2;
    dp.act = CDNOPT_ACT_RELU;
    cdnopt_dense *d = NULL;
    assert_int_equal(cdnopt_dense_new(ps, &dp, &rng, &d), CDNOPT_OK);

    /* W = [1 -1; 2 0.5], b = [0.5 -3]; x = [1 2] -> z = [5.5 -3] -> relu [5.5 0]. */
    const float w[] = {1.0f, -1.0f, 2.0f, 0.5f, 0.5f, -3.0f};
    memcpy(cdnopt_params_values(ps), w, sizeof(w));
    const float x[] = {1.0f, 2.0f};
    cdnopt_scratch *s = NULL;
    assert_int_equal(cdnopt_scratch_new(0, &s), CDNOPT_OK);
    cdnopt_trace *t = NULL;
    assert_int_equal(cdnopt_dense_forward(d, s, 1, x, &t), CDNOPT_OK);
    assert_int_equal(cdnopt_trace_output_size(t), 2);
    assert_float_equal(cdnopt_trace_output(t)[0], 5.5f, 1e-6);
    assert_float_equal(cdnopt_trace_output(t)[1], 0.0f, 0.0);

    /* A trace of another layer is rejected. */
    cdnopt_layernorm *ln = NULL;
    assert_int_equal(cdnopt_layernorm_new(ps, "ln", 2, &ln), CDNOPT_OK);
    float *dx = NULL;
    const float dy[] = {1.0f, 1.0f};
    assert_int_equal(cdnopt_layernorm_backward(ln, s, t, dy, &dx), CDNOPT_EINVAL);
    assert_null(dx);
    assert_null(cdnopt_mha_trace_weights(t));
    const float *h = NULL, *c = NULL;
    assert_int_equal(cdnopt_lstm_trace_state(t, &h, &c), CDNOPT_EINVAL);

    cdnopt_layernorm_free(ln);
    cdnopt_scratch_free(s);
    cdnopt_dense_free(d);
    cdnopt_params_free(ps);
}

/* Reference value of a dense activation, in double. */
static double activation_ref(enum cdnopt_act act, double x)
{
    return act == CDNOPT_ACT_TANH ? tanh(x) : 1.0 / (1.0 + exp(-x));
}

/*
 * The LSTM and dense layers compute sigmoid and tanh through their own vectorisable
 * exponential (see the header's Limitations). Check the absolute error on a 1e-3 grid
 * over [-20, 20], the limits at +-Inf and beyond the clamp, and that NaN propagates.
 */
static void check_activation(enum cdnopt_act act)
{
    enum { N = 40001, N_SPECIAL = 5 };
    cdnopt_params *ps = NULL;
    assert_int_equal(cdnopt_params_new(&ps), CDNOPT_OK);
    cdnopt_rng rng;
    cdnopt_rng_seed(&rng, 10);
    cdnopt_dense_params dp = cdnopt_dense_params_default();
    dp.n_in = 1;
    dp.n_out = 1;
    dp.act = act;
    cdnopt_dense *d = NULL;
    assert_int_equal(cdnopt_dense_new(ps, &dp, &rng, &d), CDNOPT_OK);
    cdnopt_params_values(ps)[0] = 1.0f;

    cdnopt_scratch *s = NULL;
    assert_int_equal(cdnopt_scratch_new(0, &s), CDNOPT_OK);
    float *x = cdnopt_scratch_floats(s, N + N_SPECIAL);
    assert_non_null(x);
    for (int i = 0; i < N; i++)
        x[i] = -20.0f + 1e-3f * (float)i;
    const float special[N_SPECIAL] = {INFINITY, -INFINITY, 200.0f, -200.0f, NAN};
    memcpy(x + N, special, sizeof(special));
    cdnopt_trace *t = NULL;
    assert_int_equal(cdnopt_dense_forward(d, s, N + N_SPECIAL, x, &t), CDNOPT_OK);
    const float *y = cdnopt_trace_output(t);

    for (int i = 0; i < N; i++) {
        double err = fabs((double)y[i] - activation_ref(act, (double)x[i]));
        if (!(err < 2e-7))
            fail_msg("activation %d at %.4f = %.9g, error %.3g", (int)act, (double)x[i],
                     (double)y[i], err);
    }
    /* The clamp at e^88 leaves sigmoid(-Inf) at about 6e-39 instead of 0. */
    float low = act == CDNOPT_ACT_TANH ? -1.0f : 0.0f;
    assert_float_equal(y[N], 1.0f, 0.0);
    assert_float_equal(y[N + 1], low, 1e-37);
    assert_float_equal(y[N + 2], 1.0f, 0.0);
    assert_float_equal(y[N + 3], low, 1e-37);
    assert_true(isnan(y[N + 4]));

    cdnopt_scratch_free(s);
    cdnopt_dense_free(d);
    cdnopt_params_free(ps);
}

static void dense_activation_accuracy(void **state)
{
    (void)state;
    check_activation(CDNOPT_ACT_TANH);
    check_activation(CDNOPT_ACT_SIGMOID);
}

/* Roll-out steps from a zero state reproduce the sequence forward pass. */
static void lstm_step_matches_forward(void **state)
{
    (void)state;
    enum { B = 3, T = 6, I = 2, H = 5 };
    cdnopt_params *ps = NULL;
    assert_int_equal(cdnopt_params_new(&ps), CDNOPT_OK);
    cdnopt_rng rng;
    cdnopt_rng_seed(&rng, 7);
    cdnopt_lstm_params lp = cdnopt_lstm_params_default();
    lp.n_in = I;
    lp.n_hidden = H;
    lp.return_sequences = true;
    cdnopt_lstm *l = NULL;
    assert_int_equal(cdnopt_lstm_new(ps, &lp, &rng, &l), CDNOPT_OK);

    float x[B * T * I], xt[B * I], h[B * H] = {0}, c[B * H] = {0};
    cdnopt_init_uniform(x, B * T * I, 1.0f, &rng);
    cdnopt_scratch *s = NULL;
    assert_int_equal(cdnopt_scratch_new(0, &s), CDNOPT_OK);
    cdnopt_trace *t = NULL;
    assert_int_equal(cdnopt_lstm_forward(l, s, B, T, x, &t), CDNOPT_OK);
    const float *seq = cdnopt_trace_output(t);
    assert_int_equal(cdnopt_trace_output_size(t), B * T * H);

    for (int step = 0; step < T; step++) {
        for (int b = 0; b < B; b++)
            memcpy(xt + b * I, x + (b * T + step) * I, I * sizeof(float));
        assert_int_equal(cdnopt_lstm_step(l, s, B, xt, h, c), CDNOPT_OK);
        for (int b = 0; b < B; b++) {
            for (int j = 0; j < H; j++)
                assert_float_equal(h[b * H + j], seq[(b * T + step) * H + j], 1e-5);
        }
    }

    /* The trace's final state is the state after the last step. */
    const float *h_last = NULL, *c_last = NULL;
    assert_int_equal(cdnopt_lstm_trace_state(t, &h_last, &c_last), CDNOPT_OK);
    for (int i = 0; i < B * H; i++) {
        assert_float_equal(h_last[i], h[i], 1e-5);
        assert_float_equal(c_last[i], c[i], 1e-5);
    }

    cdnopt_scratch_free(s);
    cdnopt_lstm_free(l);
    cdnopt_params_free(ps);
}

static void mha_causal_mask_holds(void **state)
{
    (void)state;
    enum { B = 2, T = 5, D = 4 };
    cdnopt_params *ps = NULL;
    assert_int_equal(cdnopt_params_new(&ps), CDNOPT_OK);
    cdnopt_rng rng;
    cdnopt_rng_seed(&rng, 8);
    cdnopt_mha_params mp = cdnopt_mha_params_default();
    mp.n_embd = D;
    mp.n_head = 2;
    mp.causal = true;
    cdnopt_mha *a = NULL;
    assert_int_equal(cdnopt_mha_new(ps, &mp, &rng, &a), CDNOPT_OK);
    float x[B * T * D];
    cdnopt_init_uniform(x, B * T * D, 1.0f, &rng);
    cdnopt_scratch *s = NULL;
    assert_int_equal(cdnopt_scratch_new(0, &s), CDNOPT_OK);

    /* Rows of the weights sum to 1, with zeros above the diagonal. */
    cdnopt_trace *t = NULL;
    assert_int_equal(cdnopt_mha_forward(a, s, B, T, x, &t), CDNOPT_OK);
    const float *w = cdnopt_mha_trace_weights(t);
    assert_non_null(w);
    for (int blk = 0; blk < B * 2; blk++) {
        for (int i = 0; i < T; i++) {
            double sum = 0.0;
            for (int j = 0; j < T; j++) {
                float wij = w[(blk * T + i) * T + j];
                sum += wij;
                if (j > i)
                    assert_float_equal(wij, 0.0f, 0.0);
            }
            assert_float_equal(sum, 1.0, 1e-5);
        }
    }

    /* Changing the last step leaves every earlier output unchanged. */
    float y0[B * T * D];
    memcpy(y0, cdnopt_trace_output(t), sizeof(y0));
    for (int b = 0; b < B; b++)
        x[(b * T + T - 1) * D] += 1.0f;
    assert_int_equal(cdnopt_mha_forward(a, s, B, T, x, &t), CDNOPT_OK);
    const float *y1 = cdnopt_trace_output(t);
    for (int b = 0; b < B; b++) {
        for (int i = 0; i < (T - 1) * D; i++)
            assert_float_equal(y1[b * T * D + i], y0[b * T * D + i], 0.0);
        assert_true(fabsf(y1[(b * T + T - 1) * D] - y0[(b * T + T - 1) * D]) > 1e-6f);
    }

    cdnopt_scratch_free(s);
    cdnopt_mha_free(a);
    cdnopt_params_free(ps);
}

static void layernorm_normalises_rows(void **state)
{
    (void)state;
    cdnopt_params *ps = NULL;
    assert_int_equal(cdnopt_params_new(&ps), CDNOPT_OK);
    cdnopt_layernorm *ln = NULL;
    assert_int_equal(cdnopt_layernorm_new(ps, NULL, 4, &ln), CDNOPT_OK);
    cdnopt_param_tensor gamma;
    assert_int_equal(cdnopt_params_find(ps, "layernorm/gamma", &gamma), CDNOPT_OK);

    /* x = [1 2 3 4]: mean 2.5, variance 1.25, so y = (x - 2.5) / sqrt(1.251). */
    const float x[] = {1.0f, 2.0f, 3.0f, 4.0f};
    cdnopt_scratch *s = NULL;
    assert_int_equal(cdnopt_scratch_new(0, &s), CDNOPT_OK);
    cdnopt_trace *t = NULL;
    assert_int_equal(cdnopt_layernorm_forward(ln, s, 1, x, &t), CDNOPT_OK);
    double inv = 1.0 / sqrt(1.25 + 1e-3);
    for (int j = 0; j < 4; j++)
        assert_float_equal(cdnopt_trace_output(t)[j], (x[j] - 2.5) * inv, 1e-6);

    cdnopt_scratch_free(s);
    cdnopt_layernorm_free(ln);
    cdnopt_params_free(ps);
}

/* ------------------------------------------------------------------------- */
/* Dropout, loss, optimizer                                                  */
/* ------------------------------------------------------------------------- */

static void dropout_keep_rate_statistics(void **state)
{
    (void)state;
    enum { N = 100000 };
    float *mask = cdnopt_malloc(N * sizeof(float));
    float *again = cdnopt_malloc(N * sizeof(float));
    assert_non_null(mask);
    assert_non_null(again);
    cdnopt_rng rng;
    cdnopt_rng_seed(&rng, 9);
    assert_int_equal(cdnopt_dropout_mask(mask, N, 0.3f, &rng), CDNOPT_OK);

    /* Drop fraction 0.3 +- 0.01 (the standard error is sqrt(0.3 * 0.7 / N) = 0.0014, so
     * this is about 7 sigma); kept values are 1 / 0.7; the mean stays near 1. */
    size_t dropped = 0;
    double sum = 0.0;
    for (size_t i = 0; i < N; i++) {
        if (mask[i] == 0.0f)
            dropped++;
        else
            assert_float_equal(mask[i], 1.0f / 0.7f, 1e-6);
        sum += mask[i];
    }
    assert_float_equal((double)dropped / N, 0.3, 0.01);
    assert_float_equal(sum / N, 1.0, 0.02);

    /* The same seed draws the same mask. */
    cdnopt_rng_seed(&rng, 9);
    assert_int_equal(cdnopt_dropout_mask(again, N, 0.3f, &rng), CDNOPT_OK);
    assert_memory_equal(mask, again, N * sizeof(float));

    /* Rate 0 keeps everything; rates outside [0, 1) are rejected. */
    assert_int_equal(cdnopt_dropout_mask(mask, 8, 0.0f, &rng), CDNOPT_OK);
    for (int i = 0; i < 8; i++)
        assert_float_equal(mask[i], 1.0f, 0.0);
    assert_int_equal(cdnopt_dropout_mask(mask, 8, 1.0f, &rng), CDNOPT_EINVAL);
    assert_int_equal(cdnopt_dropout_mask(mask, 8, -0.1f, &rng), CDNOPT_EINVAL);
    assert_int_equal(cdnopt_dropout_mask(mask, 8, NAN, &rng), CDNOPT_EINVAL);
    cdnopt_free(mask);
    cdnopt_free(again);
}

static void dropout_mask_shared_across_steps(void **state)
{
    (void)state;
    /* Mask [2 samples, 2 features] over 3 steps: each sample's mask repeats per step. */
    const float mask[] = {0.0f, 2.0f, 2.0f, 0.0f};
    float x[12], y[12];
    for (int i = 0; i < 12; i++)
        x[i] = (float)(i + 1);
    cdnopt_dropout_apply(mask, 2, 3, 2, x, y);
    const float expect[] = {0, 4, 0, 8, 0, 12, 14, 0, 18, 0, 22, 0};
    for (int i = 0; i < 12; i++)
        assert_float_equal(y[i], expect[i], 0.0);
}

static void mse_by_hand(void **state)
{
    (void)state;
    /* Errors 1, -2, 0.5: mean of 1, 4, 0.25 = 1.75; gradient 2 e / 3. */
    const float pred[] = {2.0f, 0.0f, 1.5f}, target[] = {1.0f, 2.0f, 1.0f};
    float loss = 0.0f, grad[3];
    assert_int_equal(cdnopt_mse_forward(pred, target, 3, &loss), CDNOPT_OK);
    assert_float_equal(loss, 1.75f, 1e-6);
    cdnopt_mse_backward(pred, target, 3, grad);
    assert_float_equal(grad[0], 2.0f / 3.0f, 1e-6);
    assert_float_equal(grad[1], -4.0f / 3.0f, 1e-6);
    assert_float_equal(grad[2], 1.0f / 3.0f, 1e-6);
    assert_int_equal(cdnopt_mse_forward(pred, target, 0, &loss), CDNOPT_EINVAL);
}

/* Loss sum (w - target)^2 over two weights, gradient 2 (w - target). */
static void quadratic_grads(cdnopt_params *ps, const float *target)
{
    const float *w = cdnopt_params_values(ps);
    float *g = cdnopt_params_grads(ps);
    for (int i = 0; i < 2; i++)
        g[i] = 2.0f * (w[i] - target[i]);
}

static void adam_two_steps_by_hand(void **state)
{
    (void)state;
    cdnopt_params *ps = NULL;
    size_t off;
    assert_int_equal(cdnopt_params_new(&ps), CDNOPT_OK);
    assert_int_equal(cdnopt_params_add(ps, "w", 1, 2, &off), CDNOPT_OK);
    cdnopt_params_values(ps)[0] = 1.0f;
    cdnopt_params_values(ps)[1] = 0.5f;
    const float target[] = {3.0f, 0.0f};

    cdnopt_adam_params ap = cdnopt_adam_params_default();
    ap.lr = 0.1f;
    cdnopt_adam *opt = NULL;
    assert_int_equal(cdnopt_adam_new(&ap, 2, &opt), CDNOPT_OK);

    /*
     * By hand (in double), w0 = 1, g = -4:  m = -0.4, v = 0.016,
     *   alpha = 0.1 sqrt(1 - 0.999) / (1 - 0.9) = 0.0316228,
     *   w1 = 1 + 0.0316228 * 0.4 / (0.126491 + 1e-7) = 1.0999999.
     * Then g = -3.8:  m = -0.74, v = 0.030424, alpha = 0.0235317, w2 = 1.1998334.
     * For w0 = 0.5, g = 1: w1 = 0.4000003, then g = 0.8000006: w2 = 0.3011880.
     */
    quadratic_grads(ps, target);
    assert_int_equal(cdnopt_adam_step(opt, ps), CDNOPT_OK);
    assert_float_equal(cdnopt_params_values(ps)[0], 1.0999999f, 2e-6);
    assert_float_equal(cdnopt_params_values(ps)[1], 0.4000003f, 2e-6);
    quadratic_grads(ps, target);
    assert_int_equal(cdnopt_adam_step(opt, ps), CDNOPT_OK);
    assert_float_equal(cdnopt_params_values(ps)[0], 1.1998334f, 2e-6);
    assert_float_equal(cdnopt_params_values(ps)[1], 0.3011880f, 2e-6);
    assert_int_equal(cdnopt_adam_steps(opt), 2);

    /* A set of another size is rejected. */
    cdnopt_adam *small = NULL;
    assert_int_equal(cdnopt_adam_new(&ap, 1, &small), CDNOPT_OK);
    assert_int_equal(cdnopt_adam_step(small, ps), CDNOPT_ESHAPE);
    ap.lr = 0.0f;
    cdnopt_adam *bad = NULL;
    assert_int_equal(cdnopt_adam_new(&ap, 2, &bad), CDNOPT_EINVAL);
    assert_null(bad);

    cdnopt_adam_free(small);
    cdnopt_adam_free(opt);
    cdnopt_adam_free(NULL);
    cdnopt_params_free(ps);
}

/* A second optimizer given the first's state after step 1 makes the same step 2 as the
 * first, to the bit. A training run resumes from its checkpoint that way. */
static void adam_restore_continues_exactly(void **state)
{
    (void)state;
    cdnopt_params *ps = NULL, *copy = NULL;
    size_t off;
    assert_int_equal(cdnopt_params_new(&ps), CDNOPT_OK);
    assert_int_equal(cdnopt_params_add(ps, "w", 1, 2, &off), CDNOPT_OK);
    assert_int_equal(cdnopt_params_new(&copy), CDNOPT_OK);
    assert_int_equal(cdnopt_params_add(copy, "w", 1, 2, &off), CDNOPT_OK);
    cdnopt_params_values(ps)[0] = 1.0f;
    cdnopt_params_values(ps)[1] = 0.5f;
    const float target[] = {3.0f, 0.0f};

    cdnopt_adam_params ap = cdnopt_adam_params_default();
    ap.lr = 0.1f;
    cdnopt_adam *first = NULL, *second = NULL;
    assert_int_equal(cdnopt_adam_new(&ap, 2, &first), CDNOPT_OK);
    assert_int_equal(cdnopt_adam_new(&ap, 2, &second), CDNOPT_OK);
    quadratic_grads(ps, target);
    assert_int_equal(cdnopt_adam_step(first, ps), CDNOPT_OK);

    /* After one step from w0 = 1, g = -4: m = -0.4 and v = 0.016 (see the case above). */
    const float *m, *v;
    uint64_t t;
    cdnopt_adam_state(first, &m, &v, &t);
    assert_int_equal(t, 1);
    assert_float_equal(m[0], -0.4f, 1e-6);
    assert_float_equal(v[0], 0.016f, 1e-6);
    assert_int_equal(cdnopt_adam_restore(second, m, v, 2, t), CDNOPT_OK);
    memcpy(cdnopt_params_values(copy), cdnopt_params_values(ps), 2 * sizeof(float));

    quadratic_grads(ps, target);
    quadratic_grads(copy, target);
    assert_int_equal(cdnopt_adam_step(first, ps), CDNOPT_OK);
    assert_int_equal(cdnopt_adam_step(second, copy), CDNOPT_OK);
    assert_memory_equal(cdnopt_params_values(copy), cdnopt_params_values(ps), 2 * sizeof(float));
    assert_int_equal(cdnopt_adam_steps(second), 2);

    /* Another size, a NaN moment and a negative second moment are rejected. */
    const float bad_m[] = {NAN, 0.0f}, bad_v[] = {0.1f, -0.1f}, zeros[] = {0.0f, 0.0f};
    assert_int_equal(cdnopt_adam_restore(second, zeros, zeros, 1, 1), CDNOPT_ESHAPE);
    assert_int_equal(cdnopt_adam_restore(second, bad_m, zeros, 2, 1), CDNOPT_EINVAL);
    assert_int_equal(cdnopt_adam_restore(second, zeros, bad_v, 2, 1), CDNOPT_EINVAL);
    assert_int_equal(cdnopt_adam_steps(second), 2);

    cdnopt_adam_free(first);
    cdnopt_adam_free(second);

    /* A count of 2^62, as a damaged checkpoint may hold, is restored at once and steps as
     * a count of 2,000,000 does: both are past the point where beta1^t and beta2^t stop
     * changing. Before, restoring it ran 2^62 multiplications. */
    cdnopt_adam *huge = NULL, *past = NULL;
    assert_int_equal(cdnopt_adam_new(&ap, 2, &huge), CDNOPT_OK);
    assert_int_equal(cdnopt_adam_new(&ap, 2, &past), CDNOPT_OK);
    const float moment[] = {-0.4f, 0.1f}, second_moment[] = {0.016f, 0.02f};
    assert_int_equal(cdnopt_adam_restore(huge, moment, second_moment, 2, (uint64_t)1 << 62),
                     CDNOPT_OK);
    assert_int_equal(cdnopt_adam_restore(past, moment, second_moment, 2, 2000000), CDNOPT_OK);
    memcpy(cdnopt_params_values(copy), cdnopt_params_values(ps), 2 * sizeof(float));
    quadratic_grads(ps, target);
    quadratic_grads(copy, target);
    assert_int_equal(cdnopt_adam_step(huge, ps), CDNOPT_OK);
    assert_int_equal(cdnopt_adam_step(past, copy), CDNOPT_OK);
    assert_memory_equal(cdnopt_params_values(copy), cdnopt_params_values(ps), 2 * sizeof(float));
    assert_int_equal(cdnopt_adam_steps(huge), ((uint64_t)1 << 62) + 1);
    cdnopt_adam_free(huge);
    cdnopt_adam_free(past);
    cdnopt_params_free(ps);
    cdnopt_params_free(copy);
}

static void clip_grad_norm_by_hand(void **state)
{
    (void)state;
    cdnopt_params *ps = NULL;
    size_t off;
    assert_int_equal(cdnopt_params_new(&ps), CDNOPT_OK);
    assert_int_equal(cdnopt_params_add(ps, "a", 1, 1, &off), CDNOPT_OK);
    assert_int_equal(cdnopt_params_add(ps, "b", 1, 1, &off), CDNOPT_OK);
    float *g = cdnopt_params_grads(ps);

    /* Global norm of (3, 4) is 5; clipping to 1 scales by 0.2 across both tensors. */
    g[0] = 3.0f;
    g[1] = 4.0f;
    float norm = 0.0f;
    assert_int_equal(cdnopt_params_clip_grad_norm(ps, 1.0f, &norm), CDNOPT_OK);
    assert_float_equal(norm, 5.0f, 1e-6);
    assert_float_equal(g[0], 0.6f, 1e-6);
    assert_float_equal(g[1], 0.8f, 1e-6);

    /* Below the limit, or with clipping off, nothing changes. */
    assert_int_equal(cdnopt_params_clip_grad_norm(ps, 10.0f, &norm), CDNOPT_OK);
    assert_float_equal(norm, 1.0f, 1e-6);
    assert_float_equal(g[0], 0.6f, 1e-6);
    assert_int_equal(cdnopt_params_clip_grad_norm(ps, 0.0f, NULL), CDNOPT_OK);
    assert_float_equal(g[1], 0.8f, 1e-6);

    /* Adam with clip_norm applies the same rule before its update. */
    cdnopt_adam_params ap = cdnopt_adam_params_default();
    ap.clip_norm = 0.5f;
    cdnopt_adam *opt = NULL;
    assert_int_equal(cdnopt_adam_new(&ap, 2, &opt), CDNOPT_OK);
    g[0] = 30.0f;
    g[1] = 40.0f;
    assert_int_equal(cdnopt_adam_step(opt, ps), CDNOPT_OK);
    assert_float_equal(g[0], 0.3f, 1e-6);
    assert_float_equal(g[1], 0.4f, 1e-6);

    cdnopt_adam_free(opt);
    cdnopt_params_free(ps);
}

static void nan_and_inf_detected(void **state)
{
    (void)state;
    const float ok[] = {0.0f, -1.0f, 3.0e38f};
    const float bad_nan[] = {0.0f, NAN, 1.0f};
    const float bad_inf[] = {-INFINITY, 0.0f};
    assert_int_equal(cdnopt_nn_check_finite(ok, 3), CDNOPT_OK);
    assert_int_equal(cdnopt_nn_check_finite(bad_nan, 3), CDNOPT_ENUMERIC);
    assert_int_equal(cdnopt_nn_check_finite(bad_inf, 2), CDNOPT_ENUMERIC);

    /* A NaN prediction makes the loss report ENUMERIC. */
    float loss = 0.0f;
    const float target[] = {0.0f, 0.0f, 0.0f};
    assert_int_equal(cdnopt_mse_forward(bad_nan, target, 3, &loss), CDNOPT_ENUMERIC);

    /* A NaN gradient: the check and clipping report it, Adam changes nothing. */
    cdnopt_params *ps = NULL;
    size_t off;
    assert_int_equal(cdnopt_params_new(&ps), CDNOPT_OK);
    assert_int_equal(cdnopt_params_add(ps, "w", 1, 2, &off), CDNOPT_OK);
    cdnopt_params_values(ps)[0] = 1.0f;
    cdnopt_params_values(ps)[1] = 2.0f;
    cdnopt_params_grads(ps)[0] = 0.5f;
    cdnopt_params_grads(ps)[1] = INFINITY;
    assert_int_equal(cdnopt_params_check_grads(ps), CDNOPT_ENUMERIC);
    assert_int_equal(cdnopt_params_clip_grad_norm(ps, 1.0f, NULL), CDNOPT_ENUMERIC);

    cdnopt_adam_params ap = cdnopt_adam_params_default();
    cdnopt_adam *opt = NULL;
    assert_int_equal(cdnopt_adam_new(&ap, 2, &opt), CDNOPT_OK);
    assert_int_equal(cdnopt_adam_step(opt, ps), CDNOPT_ENUMERIC);
    assert_float_equal(cdnopt_params_values(ps)[0], 1.0f, 0.0);
    assert_float_equal(cdnopt_params_values(ps)[1], 2.0f, 0.0);
    assert_int_equal(cdnopt_adam_steps(opt), 0);

    cdnopt_adam_free(opt);
    cdnopt_params_free(ps);
}

/* A NaN in one input step reaches the LSTM output, so a training loop can detect it. */
static void lstm_propagates_nan(void **state)
{
    (void)state;
    enum { B = 2, T = 3, H = 4 };
    cdnopt_params *ps = NULL;
    assert_int_equal(cdnopt_params_new(&ps), CDNOPT_OK);
    cdnopt_rng rng;
    cdnopt_rng_seed(&rng, 12);
    cdnopt_lstm_params lp = cdnopt_lstm_params_default();
    lp.n_in = 1;
    lp.n_hidden = H;
    cdnopt_lstm *l = NULL;
    assert_int_equal(cdnopt_lstm_new(ps, &lp, &rng, &l), CDNOPT_OK);
    cdnopt_scratch *s = NULL;
    assert_int_equal(cdnopt_scratch_new(0, &s), CDNOPT_OK);

    float x[B * T] = {0.1f, 0.2f, 0.3f, 0.4f, NAN, 0.6f};
    cdnopt_trace *t = NULL;
    assert_int_equal(cdnopt_lstm_forward(l, s, B, T, x, &t), CDNOPT_OK);
    const float *y = cdnopt_trace_output(t);
    assert_int_equal(cdnopt_nn_check_finite(y, H), CDNOPT_OK);
    assert_int_equal(cdnopt_nn_check_finite(y + H, H), CDNOPT_ENUMERIC);

    cdnopt_scratch_free(s);
    cdnopt_lstm_free(l);
    cdnopt_params_free(ps);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(sgemm_matches_reference, leak_setup, leak_teardown),
    cmocka_unit_test_setup_teardown(sgemm_ref_by_hand, leak_setup, leak_teardown),
    cmocka_unit_test_setup_teardown(scratch_alignment_and_growth, leak_setup, leak_teardown),
    cmocka_unit_test_setup_teardown(scratch_out_of_memory, leak_setup, leak_teardown),
    cmocka_unit_test_setup_teardown(params_layout_and_lookup, leak_setup, leak_teardown),
    cmocka_unit_test_setup_teardown(params_copy_checks_shapes, leak_setup, leak_teardown),
    cmocka_unit_test_setup_teardown(orthogonal_init_is_orthonormal, leak_setup, leak_teardown),
    cmocka_unit_test_setup_teardown(lstm_init_keras_style, leak_setup, leak_teardown),
    cmocka_unit_test_setup_teardown(constructors_reject_bad_shapes, leak_setup, leak_teardown),
    cmocka_unit_test_setup_teardown(lstm_new_out_of_memory, leak_setup, leak_teardown),
    cmocka_unit_test_setup_teardown(dense_forward_by_hand, leak_setup, leak_teardown),
    cmocka_unit_test_setup_teardown(dense_activation_accuracy, leak_setup, leak_teardown),
    cmocka_unit_test_setup_teardown(lstm_step_matches_forward, leak_setup, leak_teardown),
    cmocka_unit_test_setup_teardown(mha_causal_mask_holds, leak_setup, leak_teardown),
    cmocka_unit_test_setup_teardown(layernorm_normalises_rows, leak_setup, leak_teardown),
    cmocka_unit_test_setup_teardown(dropout_keep_rate_statistics, leak_setup, leak_teardown),
    cmocka_unit_test_setup_teardown(dropout_mask_shared_across_steps, leak_setup, leak_teardown),
    cmocka_unit_test_setup_teardown(mse_by_hand, leak_setup, leak_teardown),
    cmocka_unit_test_setup_teardown(adam_two_steps_by_hand, leak_setup, leak_teardown),
    cmocka_unit_test_setup_teardown(adam_restore_continues_exactly, leak_setup, leak_teardown),
    cmocka_unit_test_setup_teardown(clip_grad_norm_by_hand, leak_setup, leak_teardown),
    cmocka_unit_test_setup_teardown(nan_and_inf_detected, leak_setup, leak_teardown),
    cmocka_unit_test_setup_teardown(lstm_propagates_nan, leak_setup, leak_teardown),
    cmocka_unit_test_setup_teardown(dense_gradients, leak_setup, leak_teardown),
    cmocka_unit_test_setup_teardown(dense_no_bias_gradients, leak_setup, leak_teardown),
    cmocka_unit_test_setup_teardown(lstm_sequence_gradients, leak_setup, leak_teardown),
    cmocka_unit_test_setup_teardown(lstm_last_state_gradients, leak_setup, leak_teardown),
    cmocka_unit_test_setup_teardown(dropout_fixed_mask_gradients, leak_setup, leak_teardown),
    cmocka_unit_test_setup_teardown(mha_gradients, leak_setup, leak_teardown),
    cmocka_unit_test_setup_teardown(mha_causal_gradients, leak_setup, leak_teardown),
    cmocka_unit_test_setup_teardown(layernorm_gradients, leak_setup, leak_teardown),
    cmocka_unit_test_setup_teardown(mse_gradients, leak_setup, leak_teardown),
    cmocka_unit_test_setup_teardown(stacked_lstm_dense_gradients, leak_setup, leak_teardown),
    cmocka_unit_test_setup_teardown(layers_out_of_memory, leak_setup, leak_teardown),
    cmocka_unit_test_setup_teardown(lstm_training_reduces_loss, leak_setup, leak_teardown),
};

CDNOPT_TEST_MAIN("nn", tests)
