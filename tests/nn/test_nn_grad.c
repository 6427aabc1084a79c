/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Finite-difference gradient checks for every layer and op of the nn module.
 *
 * Each case builds a small layer with fixed seeds, takes the scalar loss
 * L = sum_i r_i y_i with a fixed random r (so dL/dy = r), and compares the gradients
 * from the backward pass with central differences (L(w + e) - L(w - e)) / (2e) for
 * every parameter and every input element. L is summed in double, and the step is
 * the difference of the two perturbed floats as stored, so only the forward pass runs
 * in float32.
 */
#include "cdnopt/nn.h"
#include "test_nn.h"
#include "testutil.h"

#include <math.h>
#include <string.h>

/*
 * Tolerance on the relative error ||analytic - numeric|| / ||numeric|| of a whole
 * gradient vector. In float32 with a step of 1e-3, the rounding of the forward pass
 * puts up to about 1e-4 of relative error on the difference quotients (measured: 1e-5
 * to 1e-4). A wrong formula gives errors of order 0.1 to 1, so 1e-2 separates the two.
 */
#define GRAD_TOL 1e-2
#define FD_STEP 1e-3f

struct gcase;

/* Run the forward pass on c->x; return the output and an opaque record for backward. */
typedef int (*gcase_forward)(struct gcase *c, cdnopt_scratch *s, const float **y, size_t *n_y,
                             void **record);

/* Run the backward pass with dL/dy = dy, adding parameter gradients and setting *dx. */
typedef int (*gcase_backward)(struct gcase *c, cdnopt_scratch *s, void *record, const float *dy,
                              float **dx);

struct gcase {
    const char *label;  /* names the case in failure messages */
    cdnopt_params *ps;  /* NULL for ops without parameters */
    void *layer;        /* the layer under test (or a struct of layers) */
    float *x;           /* input, perturbed in place by the checker */
    size_t n_x;         /* floats in x */
    size_t n_batch;     /* rows, or sequences */
    size_t n_steps;     /* time steps */
    const float *mask;  /* dropout mask */
    gcase_forward forward;
    gcase_backward backward;
};

static double loss_at(struct gcase *c, cdnopt_scratch *s, const float *r)
{
    const float *y = NULL;
    size_t n_y = 0;
    void *record = NULL;
    cdnopt_scratch_reset(s);
    assert_int_equal(c->forward(c, s, &y, &n_y, &record), CDNOPT_OK);

    double loss = 0.0;
    for (size_t i = 0; i < n_y; i++)
        loss += (double)r[i] * y[i];
    return loss;
}

/* Central difference of the loss with respect to *w. */
static double numeric_derivative(struct gcase *c, cdnopt_scratch *s, const float *r, float *w)
{
    float saved = *w;
    *w = saved + FD_STEP;
    float up = *w;
    double loss_up = loss_at(c, s, r);
    *w = saved - FD_STEP;
    float down = *w;
    double loss_down = loss_at(c, s, r);
    *w = saved;
    return (loss_up - loss_down) / ((double)up - (double)down);
}

static void expect_close(const char *label, const char *part, const float *analytic,
                         const float *numeric, size_t n)
{
    double norm = 0.0;
    for (size_t i = 0; i < n; i++)
        norm += (double)numeric[i] * numeric[i];
    if (!(sqrt(norm) > 1e-6))
        fail_msg("%s: numeric %s gradient is zero, so the check would prove nothing", label, part);

    double rel = cdnopt_nn_rel_error(analytic, numeric, n);
    if (!(rel < GRAD_TOL))
        fail_msg("%s: %s gradient relative error %.3g, tolerance %.1g", label, part, rel, GRAD_TOL);
}

/* Add a small random offset to every parameter, so that ones and zeros from the
 * initialisers (layer-norm gamma, biases) cannot hide a transposed index. */
static void jitter_params(cdnopt_params *ps, uint64_t seed)
{
    cdnopt_rng rng;
    cdnopt_rng_seed(&rng, seed);
    float *v = cdnopt_params_values(ps);
    for (size_t i = 0; i < cdnopt_params_count(ps); i++)
        v[i] += (float)(0.2 * cdnopt_rng_uniform(&rng) - 0.1);
}

static void check_gradients(struct gcase *c)
{
    cdnopt_scratch *s = NULL;
    assert_int_equal(cdnopt_scratch_new(0, &s), CDNOPT_OK);
    size_t n_p = c->ps != NULL ? cdnopt_params_count(c->ps) : 0;

    /* The output size and the fixed weights r of the loss. */
    const float *y = NULL;
    size_t n_y = 0;
    void *record = NULL;
    assert_int_equal(c->forward(c, s, &y, &n_y, &record), CDNOPT_OK);
    float *r = cdnopt_malloc(n_y * sizeof(float));
    assert_non_null(r);
    cdnopt_rng rng;
    cdnopt_rng_seed(&rng, 11);
    cdnopt_init_uniform(r, n_y, 1.0f, &rng);

    /* Analytic gradients; copy them out before the arena is reset. */
    float *dx = NULL;
    if (c->ps != NULL)
        cdnopt_params_zero_grads(c->ps);
    assert_int_equal(c->backward(c, s, record, r, &dx), CDNOPT_OK);
    assert_non_null(dx);
    float *ana_x = cdnopt_malloc(c->n_x * sizeof(float));
    float *num_x = cdnopt_malloc(c->n_x * sizeof(float));
    float *ana_p = cdnopt_malloc((n_p + 1) * sizeof(float));
    float *num_p = cdnopt_malloc((n_p + 1) * sizeof(float));
    assert_true(ana_x != NULL && num_x != NULL && ana_p != NULL && num_p != NULL);
    memcpy(ana_x, dx, c->n_x * sizeof(float));
    if (n_p > 0)
        memcpy(ana_p, cdnopt_params_grads(c->ps), n_p * sizeof(float));

    for (size_t i = 0; i < n_p; i++)
        num_p[i] = (float)numeric_derivative(c, s, r, cdnopt_params_values(c->ps) + i);
    for (size_t i = 0; i < c->n_x; i++)
        num_x[i] = (float)numeric_derivative(c, s, r, c->x + i);

    if (n_p > 0)
        expect_close(c->label, "parameter", ana_p, num_p, n_p);
    expect_close(c->label, "input", ana_x, num_x, c->n_x);

    cdnopt_free(r);
    cdnopt_free(ana_x);
    cdnopt_free(num_x);
    cdnopt_free(ana_p);
    cdnopt_free(num_p);
    cdnopt_scratch_free(s);
}

static float *random_input(size_t n, uint64_t seed)
{
    float *x = cdnopt_malloc(n * sizeof(float));
    assert_non_null(x);
    cdnopt_rng rng;
    cdnopt_rng_seed(&rng, seed);
    cdnopt_init_uniform(x, n, 1.0f, &rng);
    return x;
}

/* ------------------------------------------------------------------------- */
/* Adapters from each layer to the checker                                   */
/* ------------------------------------------------------------------------- */

static int dense_fwd(struct gcase *c, cdnopt_scratch *s, const float **y, size_t *n_y,
                     void **record)
{
    cdnopt_trace *t = NULL;
    int rc = cdnopt_dense_forward(c->layer, s, c->n_batch, c->x, &t);
    if (rc == CDNOPT_OK) {
        *y = cdnopt_trace_output(t);
        *n_y = cdnopt_trace_output_size(t);
        *record = t;
    }
    return rc;
}

static int dense_bwd(struct gcase *c, cdnopt_scratch *s, void *record, const float *dy,
                     float **dx)
{
    return cdnopt_dense_backward(c->layer, s, record, dy, dx);
}

static int lstm_fwd(struct gcase *c, cdnopt_scratch *s, const float **y, size_t *n_y,
                    void **record)
{
    cdnopt_trace *t = NULL;
    int rc = cdnopt_lstm_forward(c->layer, s, c->n_batch, c->n_steps, c->x, &t);
    if (rc == CDNOPT_OK) {
        *y = cdnopt_trace_output(t);
        *n_y = cdnopt_trace_output_size(t);
        *record = t;
    }
    return rc;
}

static int lstm_bwd(struct gcase *c, cdnopt_scratch *s, void *record, const float *dy,
                    float **dx)
{
    return cdnopt_lstm_backward(c->layer, s, record, dy, dx);
}

static int mha_fwd(struct gcase *c, cdnopt_scratch *s, const float **y, size_t *n_y,
                   void **record)
{
    cdnopt_trace *t = NULL;
    int rc = cdnopt_mha_forward(c->layer, s, c->n_batch, c->n_steps, c->x, &t);
    if (rc == CDNOPT_OK) {
        *y = cdnopt_trace_output(t);
        *n_y = cdnopt_trace_output_size(t);
        *record = t;
    }
    return rc;
}

static int mha_bwd(struct gcase *c, cdnopt_scratch *s, void *record, const float *dy, float **dx)
{
    return cdnopt_mha_backward(c->layer, s, record, dy, dx);
}

static int layernorm_fwd(struct gcase *c, cdnopt_scratch *s, const float **y, size_t *n_y,
                         void **record)
{
    cdnopt_trace *t = NULL;
    int rc = cdnopt_layernorm_forward(c->layer, s, c->n_batch, c->x, &t);
    if (rc == CDNOPT_OK) {
        *y = cdnopt_trace_output(t);
        *n_y = cdnopt_trace_output_size(t);
        *record = t;
    }
    return rc;
}

static int layernorm_bwd(struct gcase *c, cdnopt_scratch *s, void *record, const float *dy,
                         float **dx)
{
    return cdnopt_layernorm_backward(c->layer, s, record, dy, dx);
}

/* ------------------------------------------------------------------------- */
/* Cases                                                                     */
/* ------------------------------------------------------------------------- */

static void check_dense(enum cdnopt_act act, bool use_bias, const char *label)
{
    cdnopt_params *ps = NULL;
    assert_int_equal(cdnopt_params_new(&ps), CDNOPT_OK);
    cdnopt_rng rng;
    cdnopt_rng_seed(&rng, 3);
    cdnopt_dense_params dp = cdnopt_dense_params_default();
    dp.n_in = 3;
    dp.n_out = 4;
    dp.act = act;
    dp.use_bias = use_bias;
    cdnopt_dense *d = NULL;
    assert_int_equal(cdnopt_dense_new(ps, &dp, &rng, &d), CDNOPT_OK);
    jitter_params(ps, 5);

    struct gcase c = {.label = label, .ps = ps, .layer = d, .n_batch = 5, .n_steps = 1,
                      .forward = dense_fwd, .backward = dense_bwd};
    c.n_x = c.n_batch * dp.n_in;
    c.x = random_input(c.n_x, 7);
    check_gradients(&c);

    cdnopt_free(c.x);
    cdnopt_dense_free(d);
    cdnopt_params_free(ps);
}

void dense_gradients(void **state)
{
    (void)state;
    check_dense(CDNOPT_ACT_LINEAR, true, "dense linear");
    check_dense(CDNOPT_ACT_TANH, true, "dense tanh");
    check_dense(CDNOPT_ACT_SIGMOID, true, "dense sigmoid");
    /* ReLU has a kink at 0. The check passes because no pre-activation of this seed lies
     * within FD_STEP of it. */
    check_dense(CDNOPT_ACT_RELU, true, "dense relu");
}

void dense_no_bias_gradients(void **state)
{
    (void)state;
    check_dense(CDNOPT_ACT_TANH, false, "dense tanh without bias");
}

static void check_lstm(bool return_sequences, const char *label)
{
    cdnopt_params *ps = NULL;
    assert_int_equal(cdnopt_params_new(&ps), CDNOPT_OK);
    cdnopt_rng rng;
    cdnopt_rng_seed(&rng, 13);
    cdnopt_lstm_params lp = cdnopt_lstm_params_default();
    lp.n_in = 2;
    lp.n_hidden = 3;
    lp.return_sequences = return_sequences;
    cdnopt_lstm *l = NULL;
    assert_int_equal(cdnopt_lstm_new(ps, &lp, &rng, &l), CDNOPT_OK);
    jitter_params(ps, 17);

    struct gcase c = {.label = label, .ps = ps, .layer = l, .n_batch = 2, .n_steps = 4,
                      .forward = lstm_fwd, .backward = lstm_bwd};
    c.n_x = c.n_batch * c.n_steps * lp.n_in;
    c.x = random_input(c.n_x, 19);
    check_gradients(&c);

    cdnopt_free(c.x);
    cdnopt_lstm_free(l);
    cdnopt_params_free(ps);
}

void lstm_sequence_gradients(void **state)
{
    (void)state;
    check_lstm(true, "lstm whole sequence");
}

void lstm_last_state_gradients(void **state)
{
    (void)state;
    check_lstm(false, "lstm last state");
}

static int dropout_fwd(struct gcase *c, cdnopt_scratch *s, const float **y, size_t *n_y,
                       void **record)
{
    float *out = cdnopt_scratch_floats(s, c->n_x);
    if (out == NULL)
        return CDNOPT_ENOMEM;
    cdnopt_dropout_apply(c->mask, c->n_batch, c->n_steps, c->n_x / (c->n_batch * c->n_steps),
                         c->x, out);
    *y = out;
    *n_y = c->n_x;
    *record = NULL;
    return CDNOPT_OK;
}

static int dropout_bwd(struct gcase *c, cdnopt_scratch *s, void *record, const float *dy,
                       float **dx)
{
    (void)record;
    *dx = cdnopt_scratch_floats(s, c->n_x);
    if (*dx == NULL)
        return CDNOPT_ENOMEM;
    cdnopt_dropout_apply(c->mask, c->n_batch, c->n_steps, c->n_x / (c->n_batch * c->n_steps), dy,
                         *dx);
    return CDNOPT_OK;
}

void dropout_fixed_mask_gradients(void **state)
{
    (void)state;
    enum { B = 2, T = 4, F = 3 };
    float mask[B * F];
    cdnopt_rng rng;
    cdnopt_rng_seed(&rng, 23);
    assert_int_equal(cdnopt_dropout_mask(mask, B * F, 0.5f, &rng), CDNOPT_OK);

    struct gcase c = {.label = "dropout", .mask = mask, .n_batch = B, .n_steps = T,
                      .n_x = B * T * F, .forward = dropout_fwd, .backward = dropout_bwd};
    c.x = random_input(c.n_x, 29);
    check_gradients(&c);
    cdnopt_free(c.x);
}

static void check_mha(bool causal, size_t n_steps, const char *label)
{
    cdnopt_params *ps = NULL;
    assert_int_equal(cdnopt_params_new(&ps), CDNOPT_OK);
    cdnopt_rng rng;
    cdnopt_rng_seed(&rng, 31);
    cdnopt_mha_params mp = cdnopt_mha_params_default();
    mp.n_embd = 4;
    mp.n_head = 2;
    mp.causal = causal;
    cdnopt_mha *a = NULL;
    assert_int_equal(cdnopt_mha_new(ps, &mp, &rng, &a), CDNOPT_OK);
    jitter_params(ps, 37);

    struct gcase c = {.label = label, .ps = ps, .layer = a, .n_batch = 2, .n_steps = n_steps,
                      .forward = mha_fwd, .backward = mha_bwd};
    c.n_x = c.n_batch * c.n_steps * mp.n_embd;
    c.x = random_input(c.n_x, 41);
    check_gradients(&c);

    cdnopt_free(c.x);
    cdnopt_mha_free(a);
    cdnopt_params_free(ps);
}

void mha_gradients(void **state)
{
    (void)state;
    check_mha(false, 3, "attention");
}

void mha_causal_gradients(void **state)
{
    (void)state;
    check_mha(true, 4, "causal attention");
}

void layernorm_gradients(void **state)
{
    (void)state;
    cdnopt_params *ps = NULL;
    assert_int_equal(cdnopt_params_new(&ps), CDNOPT_OK);
    cdnopt_layernorm *ln = NULL;
    assert_int_equal(cdnopt_layernorm_new(ps, "ln", 5, &ln), CDNOPT_OK);
    jitter_params(ps, 43);

    struct gcase c = {.label = "layer norm", .ps = ps, .layer = ln, .n_batch = 3, .n_steps = 1,
                      .n_x = 15, .forward = layernorm_fwd, .backward = layernorm_bwd};
    c.x = random_input(c.n_x, 47);
    check_gradients(&c);

    cdnopt_free(c.x);
    cdnopt_layernorm_free(ln);
    cdnopt_params_free(ps);
}

void mse_gradients(void **state)
{
    (void)state;
    enum { N = 7 };
    float pred[N], target[N], grad[N], numeric[N];
    cdnopt_rng rng;
    cdnopt_rng_seed(&rng, 53);
    cdnopt_init_uniform(pred, N, 1.0f, &rng);
    cdnopt_init_uniform(target, N, 1.0f, &rng);
    cdnopt_mse_backward(pred, target, N, grad);

    for (size_t i = 0; i < N; i++) {
        float saved = pred[i], up, down, loss_up, loss_down;
        pred[i] = up = saved + FD_STEP;
        assert_int_equal(cdnopt_mse_forward(pred, target, N, &loss_up), CDNOPT_OK);
        pred[i] = down = saved - FD_STEP;
        assert_int_equal(cdnopt_mse_forward(pred, target, N, &loss_down), CDNOPT_OK);
        pred[i] = saved;
        numeric[i] = (float)(((double)loss_up - loss_down) / ((double)up - down));
    }
    expect_close("mse", "prediction", grad, numeric, N);
}

/* Two LSTMs and a dense head chained as a forecaster chains them, so that the
 * checker also covers how dx of one layer feeds dy of the one below. */
struct stack {
    cdnopt_lstm *l1, *l2;
    cdnopt_dense *head;
};

static int stack_fwd(struct gcase *c, cdnopt_scratch *s, const float **y, size_t *n_y,
                     void **record)
{
    struct stack *st = c->layer;
    cdnopt_trace **t = cdnopt_scratch_alloc(s, 3 * sizeof(*t));
    if (t == NULL)
        return CDNOPT_ENOMEM;
    int rc = cdnopt_lstm_forward(st->l1, s, c->n_batch, c->n_steps, c->x, &t[0]);
    if (rc == CDNOPT_OK)
        rc = cdnopt_lstm_forward(st->l2, s, c->n_batch, c->n_steps, cdnopt_trace_output(t[0]),
                                 &t[1]);
    if (rc == CDNOPT_OK)
        rc = cdnopt_dense_forward(st->head, s, c->n_batch, cdnopt_trace_output(t[1]), &t[2]);
    if (rc != CDNOPT_OK)
        return rc;
    *y = cdnopt_trace_output(t[2]);
    *n_y = cdnopt_trace_output_size(t[2]);
    *record = t;
    return CDNOPT_OK;
}

static int stack_bwd(struct gcase *c, cdnopt_scratch *s, void *record, const float *dy,
                     float **dx)
{
    struct stack *st = c->layer;
    cdnopt_trace **t = record;
    float *d2 = NULL, *d1 = NULL;
    int rc = cdnopt_dense_backward(st->head, s, t[2], dy, &d2);
    if (rc == CDNOPT_OK)
        rc = cdnopt_lstm_backward(st->l2, s, t[1], d2, &d1);
    if (rc == CDNOPT_OK)
        rc = cdnopt_lstm_backward(st->l1, s, t[0], d1, dx);
    return rc;
}

void stacked_lstm_dense_gradients(void **state)
{
    (void)state;
    cdnopt_params *ps = NULL;
    assert_int_equal(cdnopt_params_new(&ps), CDNOPT_OK);
    cdnopt_rng rng;
    cdnopt_rng_seed(&rng, 59);
    struct stack st = {0};

    cdnopt_lstm_params lp = cdnopt_lstm_params_default();
    lp.n_in = 1;
    lp.n_hidden = 3;
    lp.return_sequences = true;
    lp.name = "lstm1";
    assert_int_equal(cdnopt_lstm_new(ps, &lp, &rng, &st.l1), CDNOPT_OK);
    lp.n_in = 3;
    lp.return_sequences = false;
    lp.recurrent_init = CDNOPT_INIT_SCALED_UNIFORM;
    lp.name = "lstm2";
    assert_int_equal(cdnopt_lstm_new(ps, &lp, &rng, &st.l2), CDNOPT_OK);
    cdnopt_dense_params dp = cdnopt_dense_params_default();
    dp.n_in = 3;
    dp.n_out = 2;
    assert_int_equal(cdnopt_dense_new(ps, &dp, &rng, &st.head), CDNOPT_OK);
    jitter_params(ps, 61);

    struct gcase c = {.label = "lstm-lstm-dense stack", .ps = ps, .layer = &st, .n_batch = 2,
                      .n_steps = 5, .n_x = 10, .forward = stack_fwd, .backward = stack_bwd};
    c.x = random_input(c.n_x, 67);
    check_gradients(&c);

    cdnopt_free(c.x);
    cdnopt_lstm_free(st.l1);
    cdnopt_lstm_free(st.l2);
    cdnopt_dense_free(st.head);
    cdnopt_params_free(ps);
}

/* ------------------------------------------------------------------------- */
/* Out of memory inside forward and backward passes                          */
/* ------------------------------------------------------------------------- */

static bool grads_all_zero(cdnopt_params *ps)
{
    const float *g = cdnopt_params_grads(ps);
    for (size_t i = 0; i < cdnopt_params_count(ps); i++) {
        if (g[i] != 0.0f)
            return false;
    }
    return true;
}

/*
 * Fail every heap allocation from the nth on, for n = 1, 2, ..., starting each round
 * from a fresh arena of arena_bytes. A failing forward or backward pass must return
 * CDNOPT_ENOMEM, and a failing backward pass must leave the gradients at zero.
 * Returns how many rounds failed inside the backward pass.
 */
static int fail_each_allocation(struct gcase *c, size_t arena_bytes)
{
    int backward_failures = 0;
    for (long n = 1; n < 200; n++) {
        cdnopt_scratch *s = NULL;
        assert_int_equal(cdnopt_scratch_new(arena_bytes, &s), CDNOPT_OK);
        cdnopt_params_zero_grads(c->ps);
        cdnopt_alloc_fail_after(n, true);

        const float *y = NULL;
        size_t n_y = 0;
        void *record = NULL;
        float *dx = NULL;
        int rc = c->forward(c, s, &y, &n_y, &record);
        bool in_backward = false;
        if (rc == CDNOPT_OK) {
            in_backward = true;
            rc = c->backward(c, s, record, y, &dx);
        }
        cdnopt_alloc_fail_after(0, false);
        cdnopt_scratch_free(s);

        if (rc == CDNOPT_OK)
            return backward_failures;
        assert_int_equal(rc, CDNOPT_ENOMEM);
        if (in_backward) {
            backward_failures++;
            assert_null(dx);
            if (!grads_all_zero(c->ps))
                fail_msg("%s: backward pass failed with ENOMEM but changed gradients", c->label);
        }
    }
    fail_msg("%s: passes still failed after 199 injected allocation failures", c->label);
    return backward_failures;
}

/* Bytes of arena the forward pass of c uses, so that an arena of exactly that size is
 * full when the backward pass starts and its first allocation must grow the arena. */
static size_t forward_bytes(struct gcase *c)
{
    cdnopt_scratch *s = NULL;
    assert_int_equal(cdnopt_scratch_new(0, &s), CDNOPT_OK);
    const float *y = NULL;
    size_t n_y = 0;
    void *record = NULL;
    assert_int_equal(c->forward(c, s, &y, &n_y, &record), CDNOPT_OK);
    size_t used = cdnopt_scratch_used(s);
    cdnopt_scratch_free(s);
    return used;
}

void layers_out_of_memory(void **state)
{
    (void)state;
    cdnopt_params *ps = NULL;
    assert_int_equal(cdnopt_params_new(&ps), CDNOPT_OK);
    cdnopt_rng rng;
    cdnopt_rng_seed(&rng, 71);

    cdnopt_lstm_params lp = cdnopt_lstm_params_default();
    lp.n_in = 2;
    lp.n_hidden = 8;
    lp.return_sequences = true;
    cdnopt_lstm *l = NULL;
    assert_int_equal(cdnopt_lstm_new(ps, &lp, &rng, &l), CDNOPT_OK);
    cdnopt_dense_params dp = cdnopt_dense_params_default();
    dp.n_in = 8;
    dp.n_out = 8;
    dp.act = CDNOPT_ACT_TANH;
    cdnopt_dense *d = NULL;
    assert_int_equal(cdnopt_dense_new(ps, &dp, &rng, &d), CDNOPT_OK);
    cdnopt_mha_params mp = cdnopt_mha_params_default();
    mp.n_embd = 8;
    mp.n_head = 2;
    cdnopt_mha *a = NULL;
    assert_int_equal(cdnopt_mha_new(ps, &mp, &rng, &a), CDNOPT_OK);
    cdnopt_layernorm *ln = NULL;
    assert_int_equal(cdnopt_layernorm_new(ps, "ln", 8, &ln), CDNOPT_OK);
    float *x = random_input(4 * 16 * 8, 73);

    /* Each layer runs on 4 sequences of 16 steps (64 rows). */
    struct gcase cases[] = {
        {.label = "lstm", .ps = ps, .layer = l, .x = x, .n_batch = 4, .n_steps = 16,
         .forward = lstm_fwd, .backward = lstm_bwd},
        {.label = "dense", .ps = ps, .layer = d, .x = x, .n_batch = 64, .n_steps = 1,
         .forward = dense_fwd, .backward = dense_bwd},
        {.label = "attention", .ps = ps, .layer = a, .x = x, .n_batch = 4, .n_steps = 16,
         .forward = mha_fwd, .backward = mha_bwd},
        {.label = "layer norm", .ps = ps, .layer = ln, .x = x, .n_batch = 64, .n_steps = 1,
         .forward = layernorm_fwd, .backward = layernorm_bwd},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        /* A 64-byte arena makes the forward pass grow it; an arena that the forward
         * pass fills exactly makes the backward pass grow it. */
        fail_each_allocation(&cases[i], 64);
        int backward_failures = fail_each_allocation(&cases[i], forward_bytes(&cases[i]));
        if (backward_failures == 0)
            fail_msg("%s: no injected failure reached the backward pass", cases[i].label);
    }

    cdnopt_free(x);
    cdnopt_lstm_free(l);
    cdnopt_dense_free(d);
    cdnopt_mha_free(a);
    cdnopt_layernorm_free(ln);
    cdnopt_params_free(ps);
}

/* ------------------------------------------------------------------------- */
/* End to end                                                                */
/* ------------------------------------------------------------------------- */

/*
 * An LSTM(8) with a dense head learns the mean of a random sequence of 12 values
 * with Adam (lr 1e-2, 300 steps on one fixed batch of 32). The loss must fall below
 * 5% of its first value. With this seed it falls from 0.021 to 5e-6, while a sign
 * error anywhere in the chain makes it grow or stall.
 */
void lstm_training_reduces_loss(void **state)
{
    (void)state;
    enum { B = 32, T = 12, H = 8, STEPS = 300 };
    cdnopt_params *ps = NULL;
    assert_int_equal(cdnopt_params_new(&ps), CDNOPT_OK);
    cdnopt_rng rng;
    cdnopt_rng_seed(&rng, 79);
    cdnopt_lstm_params lp = cdnopt_lstm_params_default();
    lp.n_in = 1;
    lp.n_hidden = H;
    cdnopt_lstm *l = NULL;
    assert_int_equal(cdnopt_lstm_new(ps, &lp, &rng, &l), CDNOPT_OK);
    cdnopt_dense_params dp = cdnopt_dense_params_default();
    dp.n_in = H;
    dp.n_out = 1;
    cdnopt_dense *d = NULL;
    assert_int_equal(cdnopt_dense_new(ps, &dp, &rng, &d), CDNOPT_OK);
    cdnopt_adam_params ap = cdnopt_adam_params_default();
    ap.lr = 1e-2f;
    cdnopt_adam *opt = NULL;
    assert_int_equal(cdnopt_adam_new(&ap, cdnopt_params_count(ps), &opt), CDNOPT_OK);
    cdnopt_scratch *s = NULL;
    assert_int_equal(cdnopt_scratch_new(0, &s), CDNOPT_OK);

    float x[B * T], target[B];
    cdnopt_init_uniform(x, B * T, 1.0f, &rng);
    for (int b = 0; b < B; b++) {
        double sum = 0.0;
        for (int t = 0; t < T; t++)
            sum += x[b * T + t];
        target[b] = (float)(sum / T);
    }

    float first_loss = 0.0f, loss = 0.0f;
    for (int step = 0; step < STEPS; step++) {
        cdnopt_scratch_reset(s);
        cdnopt_params_zero_grads(ps);
        cdnopt_trace *t1 = NULL, *t2 = NULL;
        assert_int_equal(cdnopt_lstm_forward(l, s, B, T, x, &t1), CDNOPT_OK);
        assert_int_equal(cdnopt_dense_forward(d, s, B, cdnopt_trace_output(t1), &t2), CDNOPT_OK);
        assert_int_equal(cdnopt_mse_forward(cdnopt_trace_output(t2), target, B, &loss),
                         CDNOPT_OK);
        if (step == 0)
            first_loss = loss;

        float *dy = cdnopt_scratch_floats(s, B), *dh = NULL;
        assert_non_null(dy);
        cdnopt_mse_backward(cdnopt_trace_output(t2), target, B, dy);
        assert_int_equal(cdnopt_dense_backward(d, s, t2, dy, &dh), CDNOPT_OK);
        assert_int_equal(cdnopt_lstm_backward(l, s, t1, dh, NULL), CDNOPT_OK);
        assert_int_equal(cdnopt_adam_step(opt, ps), CDNOPT_OK);
    }
    if (!(loss < 0.05f * first_loss))
        fail_msg("loss went from %.4g to %.4g in %d steps; expected below 5%%", first_loss, loss,
                 STEPS);

    /* Once the arena has grown, a whole step runs with every heap allocation failing. */
    cdnopt_alloc_fail_after(1, true);
    cdnopt_scratch_reset(s);
    cdnopt_params_zero_grads(ps);
    cdnopt_trace *t1 = NULL, *t2 = NULL;
    float *dy = NULL, *dh = NULL;
    int rc = cdnopt_lstm_forward(l, s, B, T, x, &t1);
    if (rc == CDNOPT_OK)
        rc = cdnopt_dense_forward(d, s, B, cdnopt_trace_output(t1), &t2);
    if (rc == CDNOPT_OK)
        rc = (dy = cdnopt_scratch_floats(s, B)) != NULL ? CDNOPT_OK : CDNOPT_ENOMEM;
    if (rc == CDNOPT_OK) {
        cdnopt_mse_backward(cdnopt_trace_output(t2), target, B, dy);
        rc = cdnopt_dense_backward(d, s, t2, dy, &dh);
    }
    if (rc == CDNOPT_OK)
        rc = cdnopt_lstm_backward(l, s, t1, dh, NULL);
    if (rc == CDNOPT_OK)
        rc = cdnopt_adam_step(opt, ps);
    cdnopt_alloc_fail_after(0, false);
    assert_int_equal(rc, CDNOPT_OK);

    cdnopt_scratch_free(s);
    cdnopt_adam_free(opt);
    cdnopt_lstm_free(l);
    cdnopt_dense_free(d);
    cdnopt_params_free(ps);
}
