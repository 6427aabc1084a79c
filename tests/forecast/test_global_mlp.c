/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The global MLP: its per-window level, seasonal base, losses, normalised example and
 * calibrated bounds on hand-computed cases, and a whole run on exactly periodic
 * series, where the network must keep the seasonal naive forecast it starts from.
 */
#include "cdnopt/core.h"
#include "cdnopt/global_mlp.h"
#include "global_mlp-impl.h"
#include "stats-impl.h"
#include "testutil.h"
#include "assert_near.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static void mlp_level_hand_case(void **state)
{
    (void)state;
    const double window[] = {1.0, 2.0, -3.0, 4.0};

    /* Mean |v| of the last 2 values: (3 + 4) / 2. */
    assert_near(cdnopt_global_mlp_level(window, 4, 2), 3.5, 1e-12);

    /* More level steps than values: the mean over all of them, (1 + 2 + 3 + 4) / 4. */
    assert_near(cdnopt_global_mlp_level(window, 4, 10), 2.5, 1e-12);

    /* A zero level becomes 1, so that nothing divides by zero. */
    const double zeros[] = {0.0, 0.0, 0.0};
    assert_near(cdnopt_global_mlp_level(zeros, 3, 2), 1.0, 0.0);
}

static void mlp_base_repeats_last_period(void **state)
{
    (void)state;
    const double window[] = {10.0, 11.0, 12.0, 13.0, 14.0};
    double base[5];
    cdnopt_global_mlp_base(window, 5, 2, 5, base);
    const double expected[] = {13.0, 14.0, 13.0, 14.0, 13.0};
    for (size_t k = 0; k < 5; k++)
        assert_near(base[k], expected[k], 0.0);
}

static void mlp_mae_hand_case(void **state)
{
    (void)state;
    const float pred[] = {1.0f, 2.0f, 3.0f};
    const float target[] = {2.0f, 2.0f, 1.0f};
    float grad[3];

    /* (|1 - 2| + |2 - 2| + |3 - 1|) / 3 = 1; the gradient is sign(pred - target) / 3. */
    assert_near(cdnopt_global_mlp_mae(pred, target, 3, grad), 1.0, 1e-12);
    assert_near(grad[0], -1.0 / 3.0, 1e-7);
    assert_near(grad[1], 0.0, 0.0);
    assert_near(grad[2], 1.0 / 3.0, 1e-7);
}

static void mlp_smape_hand_case(void **state)
{
    (void)state;
    const float f[] = {1.0f, 3.0f, 0.0f};
    const float y[] = {3.0f, 3.0f, 0.0f};
    float grad[3];

    /* Terms 2 * 2 / 4 = 1, 0, and 0 for the pair of zeros: mean 1 / 3. */
    assert_near(cdnopt_global_mlp_smape(f, y, 3, grad), 1.0 / 3.0, 1e-7);

    /* For f < y = 3 the term is 2 (3 - f) / (f + 3), of derivative -12 / (f + 3)^2,
     * -0.75 at f = 1, divided by the 3 terms. */
    assert_near(grad[0], -0.25, 1e-7);
    assert_near(grad[1], 0.0, 0.0);
    assert_near(grad[2], 0.0, 0.0);
}

static void mlp_relative_mae_hand_case(void **state)
{
    (void)state;
    const float f[] = {1.0f, 4.0f};
    const float base[] = {2.0f, 2.0f};
    const float y[] = {3.0f, 3.0f};
    const float w[] = {1.0f, 3.0f};
    float grad[2];

    /* Errors 2 and 1 against the base's 1 and 1: 3 / 2 unweighted and
     * (1 * 2 + 3 * 1) / (1 * 1 + 3 * 1) = 5 / 4 weighted, so 0.5 (1.5 + 1.25). */
    assert_near(cdnopt_global_mlp_relative_mae(f, base, y, w, 2, grad), 1.375, 1e-12);

    /* grad[i] = 0.5 sign(f - y) (1 / 2 + w[i] / 4). */
    assert_near(grad[0], -0.375, 1e-7);
    assert_near(grad[1], 0.625, 1e-7);

    /* A base without error makes both denominators 1: 0.5 (3 + 5). */
    assert_near(cdnopt_global_mlp_relative_mae(f, y, y, w, 2, NULL), 4.0, 1e-12);
}

static void mlp_smape_gradient_matches_difference(void **state)
{
    (void)state;
    const float y[] = {2.0f, 0.5f, -1.0f, 4.0f};
    float f[] = {2.5f, 0.2f, 1.5f, -3.0f};
    float grad[4];
    cdnopt_global_mlp_smape(f, y, 4, grad);
    for (size_t i = 0; i < 4; i++) {
        float saved = f[i];
        const float step = 1e-3f;
        f[i] = saved + step;
        double up = cdnopt_global_mlp_smape(f, y, 4, NULL);
        f[i] = saved - step;
        double down = cdnopt_global_mlp_smape(f, y, 4, NULL);
        f[i] = saved;
        assert_near(grad[i], (up - down) / (2.0 * step), 1e-3);
    }
}

static void mlp_example_hand_case(void **state)
{
    (void)state;
    cdnopt_global_mlp_params p = cdnopt_global_mlp_params_default();
    p.period = 2;
    p.horizon = 2;
    p.level_steps = 2;
    const double v[] = {2.0, 4.0, 6.0, 8.0, 10.0, 12.0};
    float x[4], actual[2];
    double base[2];
    mlp_example ex = {.x = x, .actual = actual, .base = base};

    /* Window of 4 before origin 3: step -1 lies before the series and repeats the
     * first period (v[1] = 4), then 2, 4, 6. The level is (4 + 6) / 2 = 5. */
    cdnopt__global_mlp_example(&p, 4, v, 6, 3, &ex);
    assert_near(ex.level, 5.0, 1e-12);
    const double expected_x[] = {4.0 / 5 - 1, 2.0 / 5 - 1, 4.0 / 5 - 1, 6.0 / 5 - 1};
    for (size_t j = 0; j < 4; j++)
        assert_near(x[j], expected_x[j], 1e-7);

    /* Base v[origin - period + k mod period]; actual values over the level. */
    assert_near(base[0], 4.0, 0.0);
    assert_near(base[1], 6.0, 0.0);
    assert_near(actual[0], 8.0 / 5, 1e-7);
    assert_near(actual[1], 10.0 / 5, 1e-7);
}

static void mlp_scale_hand_case(void **state)
{
    (void)state;
    const double v[] = {1.0, 3.0, 2.0, 6.0};

    /* Changes over 2 steps: |2 - 1| and |6 - 3|, mean 2. */
    assert_near(cdnopt__global_mlp_scale(v, 4, 2), 2.0, 1e-12);

    /* A constant series has no change: its mean |v| is the scale. */
    const double flat[] = {5.0, 5.0, 5.0};
    assert_near(cdnopt__global_mlp_scale(flat, 3, 1), 5.0, 1e-12);
}

/*
 * Two series of 6 values, horizon 2 and period 1, so the held-out blocks start at
 * steps 2 and 4. Series A = 1, 2, 4, 7, 11, 16 has MASE scale 1 before block 0, 2
 * before block 1 and 3 over all values. Series B = 0, 2, ..., 10 has scale 2 throughout.
 * Scaled absolute errors: A block 0 |4 - 3| / 1 = 1 and 0, A block 1 0 and
 * |16 - 10| / 2 = 3, B block 0 |4 - 0| / 2 = 2 and 0, B block 1 0 and |10 - 2| / 2 = 4.
 */
static void mlp_calibrate_hand_case(void **state)
{
    (void)state;
    const double a[] = {1.0, 2.0, 4.0, 7.0, 11.0, 16.0};
    const double b[] = {0.0, 2.0, 4.0, 6.0, 8.0, 10.0};
    const double *values[] = {a, b};
    const size_t length[] = {6, 6};
    mlp_data d = {.n_series = 2, .values = values, .length = length, .fit_end_offset = 4};
    const double held_out_fc[] = {3.0, 7.0, 0.0, 6.0, /* block 0: A, then B */
                                  11.0, 10.0, 8.0, 2.0}; /* block 1 */
    const double fc[] = {10.0, 20.0, 30.0, 40.0};
    double lower[4], upper[4];
    cdnopt_global_mlp_params p = cdnopt_global_mlp_params_default();
    p.horizon = 2;
    p.period = 1;
    p.calib_steps_pooled = 0;
    p.level = 0.5;
    assert_int_equal(cdnopt__global_mlp_calibrate(&p, &d, held_out_fc, fc, lower, upper),
                     CDNOPT_OK);

    /* Step 0 pools 1, 0, 2, 0: the median is 0.5. Step 1 pools 0, 3, 0, 4: 1.5.
     * The half-widths scale by each series' scale over all values, 3 for A, 2 for B. */
    const double expected_lower[] = {10.0 - 1.5, 20.0 - 4.5, 30.0 - 1.0, 40.0 - 3.0};
    const double expected_upper[] = {10.0 + 1.5, 20.0 + 4.5, 30.0 + 1.0, 40.0 + 3.0};
    for (size_t j = 0; j < 4; j++) {
        assert_near(lower[j], expected_lower[j], 1e-12);
        assert_near(upper[j], expected_upper[j], 1e-12);
    }

    /* The 0.75 quantile of step 0 lies a quarter of the way from 1 to 2. */
    p.level = 0.75;
    assert_int_equal(cdnopt__global_mlp_calibrate(&p, &d, held_out_fc, fc, lower, upper),
                     CDNOPT_OK);
    assert_near(upper[0], 10.0 + 1.25 * 3.0, 1e-12);
    assert_near(lower[2], 30.0 - 1.25 * 2.0, 1e-12);

    /* Pooling one step on either side puts all 8 errors in both steps: 0.5 each. */
    p.level = 0.5;
    p.calib_steps_pooled = 1;
    assert_int_equal(cdnopt__global_mlp_calibrate(&p, &d, held_out_fc, fc, lower, upper),
                     CDNOPT_OK);
    assert_near(lower[1], 20.0 - 0.5 * 3.0, 1e-12);
    assert_near(upper[3], 40.0 + 0.5 * 2.0, 1e-12);
}

/* A set of n_series series with a period of 4 steps at different scales, each step
 * growing by the factor growth. */
static cdnopt_m4_set *growing_set(size_t n_series, size_t n, double growth)
{
    static const double shape[] = {1.0, 3.0, 2.0, 0.5};
    cdnopt_m4_set *set = cdnopt__m4_set_new(n_series, NULL);
    assert_non_null(set);
    double values[64];
    assert_true(n <= 64);
    for (size_t i = 0; i < n_series; i++) {
        char id[32];
        snprintf(id, sizeof id, "P%zu", i + 1);
        for (size_t t = 0; t < n; t++)
            values[t] = (double)(i + 1) * 10.0 * shape[t % 4] * pow(growth, (double)t);
        assert_int_equal(cdnopt__m4_set_append(set, id, values, n, i + 2), CDNOPT_OK);
    }
    return set;
}

static cdnopt_m4_set *periodic_set(size_t n_series, size_t n)
{
    return growing_set(n_series, n, 1.0);
}

static cdnopt_global_mlp_params small_params(void)
{
    cdnopt_global_mlp_params p = cdnopt_global_mlp_params_default();
    p.windows[0] = 8;
    p.windows[1] = 6;
    p.n_windows = 2;
    p.horizon = 6;
    p.period = 4;
    p.level_steps = 4;
    p.hidden = 8;
    p.members = 3;
    p.epochs = 3;
    p.windows_per_epoch = 64;
    p.batch = 16;
    return p;
}

static void mlp_periodic_keeps_seasonal_naive(void **state)
{
    (void)state;
    cdnopt_m4_set *set = periodic_set(5, 40);
    cdnopt_global_mlp_params p = small_params();
    cdnopt_m4_forecasts fc = {0};
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_global_mlp_m4_forecast(set, &p, NULL, NULL, &fc, err), CDNOPT_OK);

    /* The output layer starts at zero and every error of the seasonal base is zero,
     * so the MAE gradient is zero: the forecast stays the last period repeated, and
     * the bounds calibrated on zero errors collapse onto it. */
    assert_int_equal(fc.mean->n_series, 5);
    for (size_t i = 0; i < 5; i++) {
        assert_string_equal(fc.mean->ids[i], set->ids[i]);
        assert_int_equal(fc.mean->length[i], 6);
        for (size_t k = 0; k < 6; k++) {
            double expected = set->values[i][40 - 4 + k % 4];
            assert_near(fc.mean->values[i][k], expected, 1e-9);
            assert_near(fc.lower->values[i][k], expected, 1e-9);
            assert_near(fc.upper->values[i][k], expected, 1e-9);
        }
    }
    cdnopt_m4_forecasts_fini(&fc);
    cdnopt_m4_set_free(set);
}

static void mlp_growth_beats_seasonal_naive(void **state)
{
    (void)state;
    const double growth = 1.02;
    cdnopt_m4_set *set = growing_set(6, 64, growth);
    cdnopt_global_mlp_params p = small_params();
    p.hidden = 16;
    p.epochs = 30;
    p.windows_per_epoch = 256;
    cdnopt_m4_forecasts fc = {0};
    char err[CDNOPT_ERRMSG_MAX] = "";
    assert_int_equal(cdnopt_global_mlp_m4_forecast(set, &p, NULL, NULL, &fc, err), CDNOPT_OK);

    /* The seasonal naive forecast misses the growth since one period ago, 8% or more.
     * Every window shows that growth, so the network must halve that error. */
    double error = 0.0, error_naive = 0.0;
    for (size_t i = 0; i < 6; i++)
        for (size_t k = 0; k < 6; k++) {
            double naive = set->values[i][64 - 4 + k % 4];
            double actual = naive * pow(growth, (double)(4 + k / 4 * 4));
            error += fabs(fc.mean->values[i][k] - actual);
            error_naive += fabs(naive - actual);
        }
    assert_true(error < 0.5 * error_naive);
    cdnopt_m4_forecasts_fini(&fc);
    cdnopt_m4_set_free(set);
}

static void mlp_rejects_short_series(void **state)
{
    (void)state;
    cdnopt_m4_set *set = periodic_set(2, 9);
    cdnopt_global_mlp_params p = small_params();
    cdnopt_m4_forecasts fc = {0};
    char err[CDNOPT_ERRMSG_MAX] = "";

    /* 9 values do not hold one period of 4 and the held-out horizon of 6. */
    assert_int_equal(cdnopt_global_mlp_m4_forecast(set, &p, NULL, NULL, &fc, err),
                     CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "series P1 has 9 values but the global mlp needs at least 16");
    assert_null(fc.mean);

    p.n_windows = 0;
    assert_int_equal(cdnopt_global_mlp_m4_forecast(set, &p, NULL, NULL, &fc, err),
                     CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "0 window lengths; give 1 to 8");
    cdnopt_m4_set_free(set);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(mlp_level_hand_case),
    cmocka_unit_test(mlp_base_repeats_last_period),
    cmocka_unit_test(mlp_mae_hand_case),
    cmocka_unit_test(mlp_smape_hand_case),
    cmocka_unit_test(mlp_relative_mae_hand_case),
    cmocka_unit_test(mlp_smape_gradient_matches_difference),
    cmocka_unit_test(mlp_example_hand_case),
    cmocka_unit_test(mlp_scale_hand_case),
    cmocka_unit_test(mlp_calibrate_hand_case),
    cmocka_unit_test(mlp_periodic_keeps_seasonal_naive),
    cmocka_unit_test(mlp_growth_beats_seasonal_naive),
    cmocka_unit_test(mlp_rejects_short_series),
};

CDNOPT_TEST_MAIN("global_mlp", tests)
