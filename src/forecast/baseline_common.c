/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The baseline method table, the dispatcher cdnopt_baseline_forecast() and the
 * numeric helpers the baselines share: normal quantiles, empirical quantiles and a
 * Nelder-Mead minimiser for the smoothing parameters.
 */
#include "stats-impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef int (*method_fn)(const cdnopt_baseline_params *p, const double *y, size_t n, size_t h,
                         cdnopt_interval_forecast *out, char *err);

static const struct {
    const char *name;
    method_fn forecast;
    size_t min_periods; /* seasons of data the method needs; 0 for non-seasonal */
} methods[CDNOPT_BASELINE_COUNT] = {
    [CDNOPT_BASELINE_NAIVE] = {"naive", cdnopt__naive_forecast, 0},
    [CDNOPT_BASELINE_SNAIVE] = {"snaive", cdnopt__snaive_forecast, 1},
    [CDNOPT_BASELINE_NAIVE2] = {"naive2", cdnopt__naive2_forecast, 0},
    [CDNOPT_BASELINE_HOLT_WINTERS] = {"hw", cdnopt__hw_forecast, 2},
    [CDNOPT_BASELINE_SES] = {"ses", cdnopt__smoothing_forecast, 0},
    [CDNOPT_BASELINE_HOLT] = {"holt", cdnopt__smoothing_forecast, 0},
    [CDNOPT_BASELINE_DAMPED] = {"damped", cdnopt__smoothing_forecast, 0},
    [CDNOPT_BASELINE_THETA] = {"theta", cdnopt__smoothing_forecast, 0},
    [CDNOPT_BASELINE_COMB] = {"comb", cdnopt__smoothing_forecast, 0},
    [CDNOPT_BASELINE_HW_DAMPED] = {"hw-damped", cdnopt__hw_forecast, 2},
};

const char *cdnopt_baseline_name(enum cdnopt_baseline_method method)
{
    if ((int)method < 0 || method >= CDNOPT_BASELINE_COUNT)
        return NULL;
    return methods[method].name;
}

int cdnopt_baseline_from_name(const char *name, enum cdnopt_baseline_method *out)
{
    for (int i = 0; i < CDNOPT_BASELINE_COUNT; i++) {
        if (strcmp(name, methods[i].name) == 0) {
            *out = (enum cdnopt_baseline_method)i;
            return CDNOPT_OK;
        }
    }
    return CDNOPT_ENOTFOUND;
}

cdnopt_baseline_params cdnopt_baseline_params_default(void)
{
    cdnopt_baseline_params p = {
        .method = CDNOPT_BASELINE_SNAIVE,
        .period = 24,
        .level = 0.95,
        .max_iter = 300,
        .hw_criterion = CDNOPT_HW_MULTI_STEP,
    };
    return p;
}

static int check_input(const cdnopt_baseline_params *p, const double *y, size_t n, size_t h,
                       char *err)
{
    if ((int)p->method < 0 || p->method >= CDNOPT_BASELINE_COUNT)
        return cdnopt_fail(err, CDNOPT_EINVAL, "unknown baseline method %d", (int)p->method);
    const char *name = methods[p->method].name;
    if (h == 0)
        return cdnopt_fail(err, CDNOPT_EINVAL, "%s: horizon is 0; forecast at least 1 step",
                           name);
    if (!(p->level > 0.0 && p->level < 1.0))
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "%s: interval level %g is outside (0, 1); use e.g. 0.95", name,
                           p->level);
    if (p->period == 0)
        return cdnopt_fail(err, CDNOPT_EINVAL, "%s: period is 0; use 1 for no season", name);

    size_t min_n = 2;
    if (methods[p->method].min_periods > 0 && methods[p->method].min_periods * p->period > min_n)
        min_n = methods[p->method].min_periods * p->period + 1;
    if (n < min_n)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "%s: %zu values are too few for period %zu; give at least %zu", name,
                           n, p->period, min_n);

    for (size_t t = 0; t < n; t++) {
        if (!isfinite(y[t]))
            return cdnopt_fail(err, CDNOPT_EINVAL,
                               "%s: value %zu is %g; fill gaps before forecasting", name, t,
                               y[t]);
    }
    return CDNOPT_OK;
}

int cdnopt_baseline_forecast(const cdnopt_baseline_params *p, const double *y, size_t n,
                             size_t h, cdnopt_interval_forecast *out, char *err)
{
    int rc = check_input(p, y, n, h, err);
    if (rc != CDNOPT_OK)
        return rc;
    return methods[p->method].forecast(p, y, n, h, out, err);
}

/* ------------------------------------------------------------------------- */
/* Numeric helpers                                                           */
/* ------------------------------------------------------------------------- */

/*
 * Acklam's rational approximation of the inverse normal CDF: one rational function for
 * the central region and one for each tail. The tests check it to 1e-8 against
 * tabulated quantiles.
 */
double cdnopt_normal_quantile(double p)
{
    static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                               -2.759285104469687e+02, 1.383577518672690e+02,
                               -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                               -1.556989798598866e+02, 6.680131188771972e+01,
                               -1.328068155288572e+01};
    static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                               -2.400758277161838e+00, -2.549732539343734e+00,
                               4.374664141464968e+00,  2.938163982698783e+00};
    static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01,
                               2.445134137142996e+00, 3.754408661907416e+00};
    const double p_low = 0.02425;

    if (!(p > 0.0 && p < 1.0))
        return NAN;
    if (p < p_low) {
        double q = sqrt(-2.0 * log(p));
        return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
               ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0);
    }
    if (p > 1.0 - p_low)
        return -cdnopt_normal_quantile(1.0 - p);
    double q = p - 0.5;
    double r = q * q;
    return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
           (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0);
}

double cdnopt__logistic(double x)
{
    return 1.0 / (1.0 + exp(-x));
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void cdnopt__sort(double *values, size_t n)
{
    qsort(values, n, sizeof *values, compare_doubles);
}

double cdnopt__quantile_sorted(const double *sorted, size_t n, double p)
{
    if (n == 0)
        return NAN;
    double position = p * (double)(n - 1);
    size_t below = (size_t)floor(position);
    if (below + 1 >= n)
        return sorted[n - 1];
    double fraction = position - (double)below;
    return sorted[below] + fraction * (sorted[below + 1] - sorted[below]);
}

/* Partially order values so that values[k] is the k-th smallest, smaller ones before it
 * and larger ones after it (Hoare's quickselect with a middle pivot). */
static void select_kth(double *values, size_t n, size_t k)
{
    size_t left = 0, right = n - 1;
    while (left < right) {
        double pivot = values[left + (right - left) / 2];
        size_t i = left, j = right;
        while (i <= j) {
            while (values[i] < pivot)
                i++;
            while (values[j] > pivot)
                j--;
            if (i <= j) {
                double swap = values[i];
                values[i] = values[j];
                values[j] = swap;
                i++;
                if (j == 0)
                    break;
                j--;
            }
        }
        if (k <= j)
            right = j;
        else if (k >= i)
            left = i;
        else
            return;
    }
}

double cdnopt__quantile_select(double *values, size_t n, double p)
{
    if (n == 0)
        return NAN;
    double position = p * (double)(n - 1);
    size_t below = (size_t)floor(position);
    if (below + 1 >= n) {
        select_kth(values, n, n - 1);
        return values[n - 1];
    }

    /* After selecting rank below, the next rank is the smallest value above it. */
    select_kth(values, n, below);
    double next = values[below + 1];
    for (size_t i = below + 2; i < n; i++)
        next = fmin(next, values[i]);
    double fraction = position - (double)below;
    return values[below] + fraction * (next - values[below]);
}

/* Sort the simplex's dim + 1 vertices by value, best first (insertion sort, tiny n). */
static void sort_simplex(double simplex[][CDNOPT__NM_MAX_DIM], double *values, size_t n_vertices,
                         size_t dim)
{
    for (size_t i = 1; i < n_vertices; i++) {
        for (size_t j = i; j > 0 && values[j] < values[j - 1]; j--) {
            double value = values[j];
            values[j] = values[j - 1];
            values[j - 1] = value;
            for (size_t k = 0; k < dim; k++) {
                double coordinate = simplex[j][k];
                simplex[j][k] = simplex[j - 1][k];
                simplex[j - 1][k] = coordinate;
            }
        }
    }
}

/* Point centroid + t (centroid - worst), evaluated; the basic move of the simplex. */
static double try_point(cdnopt__objective f, void *ctx, const double *centroid,
                        const double *worst, double t, size_t dim, double *point)
{
    for (size_t k = 0; k < dim; k++)
        point[k] = centroid[k] + t * (centroid[k] - worst[k]);
    return f(point, ctx);
}

/* Nelder-Mead with the usual coefficients: reflection 1, expansion 2, contraction 0.5,
 * shrink 0.5. */
double cdnopt__nelder_mead(cdnopt__objective f, void *ctx, double *x, size_t dim, double step,
                           int max_iter)
{
    CDNOPT_ASSERT(dim >= 1 && dim <= CDNOPT__NM_MAX_DIM);
    double simplex[CDNOPT__NM_MAX_DIM + 1][CDNOPT__NM_MAX_DIM];
    double values[CDNOPT__NM_MAX_DIM + 1];
    size_t n_vertices = dim + 1;

    /* Start from x and one vertex displaced along each axis. */
    for (size_t i = 0; i < n_vertices; i++) {
        memcpy(simplex[i], x, dim * sizeof *x);
        if (i > 0)
            simplex[i][i - 1] += step;
        values[i] = f(simplex[i], ctx);
    }

    for (int iter = 0; iter < max_iter; iter++) {
        sort_simplex(simplex, values, n_vertices, dim);
        double spread = fabs(values[dim] - values[0]);
        if (spread <= 1e-10 * (fabs(values[0]) + 1e-300))
            break;

        double centroid[CDNOPT__NM_MAX_DIM] = {0};
        for (size_t i = 0; i < dim; i++)
            for (size_t k = 0; k < dim; k++)
                centroid[k] += simplex[i][k] / (double)dim;

        double reflected[CDNOPT__NM_MAX_DIM], trial[CDNOPT__NM_MAX_DIM];
        double f_reflected = try_point(f, ctx, centroid, simplex[dim], 1.0, dim, reflected);
        if (f_reflected < values[0]) {
            /* Improvement on the best: see whether going twice as far helps more. */
            double f_expanded = try_point(f, ctx, centroid, simplex[dim], 2.0, dim, trial);
            bool expand = f_expanded < f_reflected;
            memcpy(simplex[dim], expand ? trial : reflected, dim * sizeof(double));
            values[dim] = expand ? f_expanded : f_reflected;
            continue;
        }
        if (f_reflected < values[dim - 1]) {
            memcpy(simplex[dim], reflected, dim * sizeof(double));
            values[dim] = f_reflected;
            continue;
        }

        /* Contract towards the better of the worst vertex and its reflection. */
        bool outside = f_reflected < values[dim];
        double f_contracted =
            try_point(f, ctx, centroid, simplex[dim], outside ? 0.5 : -0.5, dim, trial);
        if (f_contracted < (outside ? f_reflected : values[dim])) {
            memcpy(simplex[dim], trial, dim * sizeof(double));
            values[dim] = f_contracted;
            continue;
        }

        /* Nothing helped: shrink every vertex halfway towards the best one. */
        for (size_t i = 1; i < n_vertices; i++) {
            for (size_t k = 0; k < dim; k++)
                simplex[i][k] = simplex[0][k] + 0.5 * (simplex[i][k] - simplex[0][k]);
            values[i] = f(simplex[i], ctx);
        }
    }

    sort_simplex(simplex, values, n_vertices, dim);
    memcpy(x, simplex[0], dim * sizeof *x);
    return values[0];
}
