/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Model inputs: the min-max scaler and the per-step feature rows (scaled value,
 * calendar sine/cosine, seasonal lag). Calendar channels come from civil seconds
 * through the series module's civil-time helpers.
 */
#include "model-impl.h"

#include <math.h>

double cdnopt__model_scale(const cdnopt_model *m, double v)
{
    return (v - m->scale_min) / (m->scale_max - m->scale_min);
}

double cdnopt__model_unscale(const cdnopt_model *m, double x)
{
    return m->scale_min + x * (m->scale_max - m->scale_min);
}

void cdnopt__model_fit_scaler(cdnopt_model *m, const double *v, size_t n)
{
    double lo = v[0], hi = v[0];
    for (size_t i = 1; i < n; i++) {
        lo = fmin(lo, v[i]);
        hi = fmax(hi, v[i]);
    }

    /* A constant training span would divide by zero; any positive range maps it to 0. */
    if (!(hi - lo > 1e-12 * fmax(1.0, fabs(hi))))
        hi = lo + 1.0;
    m->scale_min = lo;
    m->scale_max = hi;
}

void cdnopt__model_feature_row(const cdnopt_model *m, int64_t t_civil, float value,
                               float lag_value, float *row)
{
    int k = 0;
    row[k++] = value;

    if (m->p.calendar) {
        double second_of_day = (double)(t_civil - cdnopt_civil_day_start(t_civil));
        double day_fraction = second_of_day / MODEL_SECONDS_PER_DAY;

        /* Weekday 0 is Sunday. Adding the fraction of the day keeps the weekly angle
         * continuous across midnight. */
        double week_fraction = ((double)cdnopt_civil_weekday(t_civil) + day_fraction) / 7.0;

        row[k++] = (float)sin(2.0 * M_PI * day_fraction);
        row[k++] = (float)cos(2.0 * M_PI * day_fraction);
        row[k++] = (float)sin(2.0 * M_PI * week_fraction);
        row[k++] = (float)cos(2.0 * M_PI * week_fraction);
    }

    if (m->p.seasonal_lag)
        row[k++] = lag_value;
}

void cdnopt__model_features(const cdnopt_model *m, const cdnopt_series *s, size_t first,
                            size_t count, float *rows)
{
    size_t lag = (size_t)m->steps_per_day;
    for (size_t j = 0; j < count; j++) {
        size_t i = first + j;
        float value = (float)cdnopt__model_scale(m, s->v[i]);

        /* Input step i feeds the day-ago value of step i + 1, the step it helps predict. */
        float lag_value = value;
        if (i + 1 >= lag)
            lag_value = (float)cdnopt__model_scale(m, s->v[i + 1 - lag]);

        cdnopt__model_feature_row(m, s->t[i], value, lag_value, rows + j * (size_t)m->n_features);
    }
}

size_t cdnopt__model_first_target(const cdnopt_model *m)
{
    /* The window is [e - window, e); with the lag, its first step needs the value
     * at e - window + 1 - steps_per_day, so e >= window + steps_per_day - 1. */
    size_t first = (size_t)m->p.window;
    if (m->p.seasonal_lag)
        first += (size_t)m->steps_per_day - 1;
    return first;
}

int cdnopt__model_check_series(const cdnopt_model *m, const cdnopt_series *s, size_t min_n,
                               const char *what, char *err)
{
    const char *name = s->name != NULL ? s->name : "(unnamed)";
    if (s->step_s != m->step_s)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "%s series '%s' has step %lld s but the model was built for %lld s; "
                           "resample the series or build a model for its step",
                           what, name, (long long)s->step_s, (long long)m->step_s);
    if (s->n < min_n)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "%s series '%s' has %zu samples but needs at least %zu (window %d "
                           "steps%s); supply a longer series or a shorter window",
                           what, name, s->n, min_n, m->p.window,
                           m->p.seasonal_lag ? " plus one day for the seasonal lag" : "");
    for (size_t i = 0; i < s->n; i++)
        if (!isfinite(s->v[i]))
            return cdnopt_fail(err, CDNOPT_EINVAL,
                               "%s series '%s' has a non-finite value at index %zu; fill or "
                               "drop gaps before training or forecasting", what, name, i);
    return CDNOPT_OK;
}
