// SPDX-License-Identifier: Apache-2.0
/*
 * Forecasts for planning: an equal-weight combination of a weekly seasonal naive, a
 * daily profile and an optional model, screened by a backtest on the end of the
 * history, and a critical line that is the combination plus one constant margin.
 * Every member forecasts the same steps from the same origin, so the combination and
 * its backtest errors are plain averages over the used members.
 */
#include "cdnopt/pipeline.h"

#include "cdnopt/core.h"
#include "cdnopt/series.h"
#include "pipeline-impl.h"
#include "stats-impl.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

enum member_kind { MEMBER_WEEKLY, MEMBER_PROFILE, MEMBER_MODEL };

/* Grid and member settings shared by the backtest and the final forecast. */
typedef struct plan_context {
    const cdnopt_sampler *model;
    const cdnopt_series *history;
    const cdnopt_plan_forecast_params *params;
    size_t day;  /* steps per day */
    size_t week; /* steps per week */
} plan_context;

cdnopt_plan_forecast_params cdnopt_plan_forecast_params_default(void)
{
    cdnopt_plan_forecast_params p = {.horizon = 0, .safety = 1.2, .margin_quantile = 0.95,
                                     .max_error_ratio = 3.0, .profile_days = 7,
                                     .scenario_weeks = 1, .scenario_days = 3,
                                     .scenario_residual_days = 3};
    return p;
}

void cdnopt_plan_forecast_free(cdnopt_plan_forecast *f)
{
    if (f == NULL)
        return;
    cdnopt_series_free(f->mean);
    cdnopt_series_free(f->critical);
    for (int k = 0; k < f->n_scenarios; k++)
        cdnopt_series_free(f->scenarios[k]);
    cdnopt_free(f);
}

static int check_plan_params(const cdnopt_plan_forecast_params *p, const cdnopt_series *history,
                             char *err)
{
    if (p->horizon <= 0)
        return cdnopt_fail(err, CDNOPT_EINVAL, "invalid horizon %d steps: give a positive horizon",
                           p->horizon);
    if (!(p->safety >= 0.0) || !isfinite(p->safety))
        return cdnopt_fail(err, CDNOPT_EINVAL, "invalid safety factor %g: use a number >= 0",
                           p->safety);
    if (!(p->margin_quantile > 0.0 && p->margin_quantile < 1.0))
        return cdnopt_fail(err, CDNOPT_EINVAL, "invalid margin quantile %g: use a number in (0, 1)",
                           p->margin_quantile);
    if (!(p->max_error_ratio > 1.0))
        return cdnopt_fail(err, CDNOPT_EINVAL, "invalid error ratio %g: use a number above 1",
                           p->max_error_ratio);
    if (p->scenario_weeks < 1 || p->scenario_weeks > CDNOPT_PLAN_SCENARIO_MAX_LAGS ||
        p->scenario_days < 0 || p->scenario_days > CDNOPT_PLAN_SCENARIO_MAX_LAGS)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "invalid scenario lags of %d weeks and %d days: use 1 to %d weeks "
                           "and 0 to %d days",
                           p->scenario_weeks, p->scenario_days, CDNOPT_PLAN_SCENARIO_MAX_LAGS,
                           CDNOPT_PLAN_SCENARIO_MAX_LAGS);
    if (p->scenario_residual_days < 0 ||
        p->scenario_residual_days > CDNOPT_PLAN_SCENARIO_MAX_LAGS)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "invalid number of residual scenario days %d: use 0 to %d",
                           p->scenario_residual_days, CDNOPT_PLAN_SCENARIO_MAX_LAGS);
    if (p->profile_days < 1)
        return cdnopt_fail(err, CDNOPT_EINVAL, "invalid profile length %d days: use at least 1",
                           p->profile_days);
    int day = cdnopt__steps_per_day(history->step_s);
    if (day == 0)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "history step of %lld s does not divide one day: resample the "
                           "history to such a step",
                           (long long)history->step_s);
    if (history->n < 2 * (size_t)day)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "history of %zu steps is shorter than two days (%d steps): give a "
                           "longer history",
                           history->n, 2 * day);
    return CDNOPT_OK;
}

/* Mean of the last k whole days before end at each time of day, k = min(profile_days,
 * days before end). */
static void daily_profile(const plan_context *c, size_t end, size_t horizon, double *out)
{
    size_t days = end / c->day;
    if (days > (size_t)c->params->profile_days)
        days = (size_t)c->params->profile_days;
    for (size_t i = 0; i < horizon; i++) {
        double sum = 0.0;
        for (size_t j = 1; j <= days; j++)
            sum += c->history->v[end - j * c->day + i % c->day];
        out[i] = sum / (double)days;
    }
}

/*
 * Forecast horizon steps after index end with one member. *available is false when
 * the history before end is too short for it. A model's CDNOPT_EINVAL (its window is
 * longer than the history) counts as too short, and other model errors are returned.
 */
static int member_forecast(const plan_context *c, enum member_kind kind, size_t end,
                           size_t horizon, double *out, bool *available, char *err)
{
    *available = false;
    switch (kind) {
    case MEMBER_WEEKLY:
        if (end < c->week)
            return CDNOPT_OK;
        for (size_t i = 0; i < horizon; i++)
            out[i] = c->history->v[end - c->week + i % c->week];
        break;
    case MEMBER_PROFILE:
        if (end < c->day)
            return CDNOPT_OK;
        daily_profile(c, end, horizon, out);
        break;
    case MEMBER_MODEL: {
        const cdnopt_sampler *s = c->model;
        int rc = s->iface->sample(s->ctx, c->history, end, (int)horizon, 0, 0, out, err);
        if (rc == CDNOPT_EINVAL)
            return CDNOPT_OK;
        if (rc != CDNOPT_OK)
            return rc;
        break;
    }
    }
    *available = true;
    return CDNOPT_OK;
}

/* Mean absolute error after removing the mean error: how far the forecast's shape is
 * from the actual values, whatever its level. */
static double shape_error(const double *actual, const double *forecast, size_t n)
{
    double bias = 0.0;
    for (size_t i = 0; i < n; i++)
        bias += actual[i] - forecast[i];
    bias /= (double)n;
    double sum = 0.0;
    for (size_t i = 0; i < n; i++)
        sum += fabs(actual[i] - forecast[i] - bias);
    return sum / (double)n;
}

/* Equal-weight mean of the used members' rows of forecasts (n_members rows of n). */
static void combine(const cdnopt_plan_forecast *f, const double *forecasts, size_t n,
                    double *out)
{
    int used = 0;
    for (size_t i = 0; i < n; i++)
        out[i] = 0.0;
    for (int k = 0; k < f->n_members; k++) {
        if (!f->members[k].used)
            continue;
        used++;
        for (size_t i = 0; i < n; i++)
            out[i] += forecasts[(size_t)k * n + i];
    }
    for (size_t i = 0; i < n; i++)
        out[i] /= (double)used;
}

/*
 * Leave out members whose backtest shape error exceeds max_error_ratio x the
 * combination's. Such a member is much worse than the others (a model trained on other
 * traffic, a week that broke its pattern), and averaging it in would pull the shape.
 * The member with the lowest error always stays.
 */
static void screen_members(cdnopt_plan_forecast *f, const double *forecasts, const double *actual,
                           size_t n, double max_error_ratio, double *combined)
{
    combine(f, forecasts, n, combined);
    double limit = max_error_ratio * shape_error(actual, combined, n);
    int best = -1;
    for (int k = 0; k < f->n_members; k++) {
        if (f->members[k].used &&
            (best < 0 || f->members[k].backtest_mae < f->members[best].backtest_mae))
            best = k;
    }
    for (int k = 0; k < f->n_members; k++) {
        if (f->members[k].used && k != best && f->members[k].backtest_mae > limit)
            f->members[k].used = false;
    }
    combine(f, forecasts, n, combined);
}

/*
 * Run every member from the backtest origin, score it on the last steps of the
 * history, screen the members and set the margin from the combination's errors.
 * forecasts has room for CDNOPT_PLAN_FORECAST_MAX_MEMBERS rows of n steps, and errors
 * receives the combination's n errors, actual - forecast.
 */
static int backtest(const plan_context *c, cdnopt_plan_forecast *f, size_t n, double *forecasts,
                    double *errors, char *err)
{
    size_t origin = c->history->n - n;
    const double *actual = c->history->v + origin;
    bool any = false;
    for (int k = 0; k < f->n_members; k++) {
        cdnopt_plan_member *m = &f->members[k];
        double *row = forecasts + (size_t)k * n;
        int rc = member_forecast(c, (enum member_kind)k, origin, n, row, &m->used, err);
        if (rc != CDNOPT_OK)
            return rc;
        m->backtest_mae = m->used ? shape_error(actual, row, n) : NAN;
        any = any || m->used;
    }
    if (!any)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "no forecaster can run from the backtest origin at step %zu: give "
                           "a longer history",
                           origin);

    double *combined = cdnopt_malloc(n * sizeof *combined);
    if (combined == NULL)
        return cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory for a backtest of %zu steps", n);
    screen_members(f, forecasts, actual, n, c->params->max_error_ratio, combined);

    /* The absolute errors are written in place, and the margin is their quantile. The
     * sign of a backtest's bias does not carry over to the next days (a level shift
     * turns it), so a forecast that ran high there still gets a margin. */
    for (size_t i = 0; i < n; i++) {
        errors[i] = actual[i] - combined[i];
        combined[i] = fabs(actual[i] - combined[i]);
    }
    f->margin = fmax(cdnopt__quantile_select(combined, n, c->params->margin_quantile), 0.0);
    cdnopt_free(combined);
    return CDNOPT_OK;
}

/* Append a scenario on the mean's grid: values[i % period] for every step i, raised to
 * 0. period is the horizon for a member's own forecast. */
static int add_scenario(cdnopt_plan_forecast *f, const double *values, size_t period)
{
    cdnopt_series *line = NULL;
    if (cdnopt_series_new(f->mean->n, f->mean->t[0], f->mean->step_s, &line) != CDNOPT_OK)
        return CDNOPT_ENOMEM;
    for (size_t i = 0; i < line->n; i++)
        line->v[i] = fmax(values[i % period], 0.0);
    f->scenarios[f->n_scenarios++] = line;
    return CDNOPT_OK;
}

static bool is_weekend(int64_t t)
{
    int weekday = cdnopt_civil_weekday(t);
    return weekday == 0 || weekday == 6;
}

/*
 * Fill out (horizon steps after the history) from past days of the same kind, weekday
 * or weekend, as each step's own day. A step takes the history's value at its time of
 * day on the lag-th latest such day before the end of the history. Returns false when
 * the history does not reach that day for some step.
 *
 * Rationale for matching the kind of day: a Saturday's valleys lie elsewhere than a
 * Tuesday's, and a plain "lag days back" scenario plants weekend shapes on weekdays.
 * NOTE: on ten workloads cut from the UK and EU series, matching was not clearly better
 * than plain lags. Either way the differences were as large as those between
 * neighbouring scenario counts.
 */
static bool same_kind_day(const plan_context *c, size_t lag, size_t horizon, double *out)
{
    const cdnopt_series *history = c->history;
    int64_t step = history->step_s, end_t = history->t[0] + (int64_t)history->n * step;
    for (size_t i = 0; i < horizon; i++) {
        int64_t t = end_t + (int64_t)i * step;
        bool weekend = is_weekend(t);
        size_t found = 0;
        int64_t source = t;
        while (found < lag) {
            source -= 86400;
            if (source < history->t[0])
                return false;
            if (source < end_t && is_weekend(source) == weekend)
                found++;
        }
        out[i] = history->v[(source - history->t[0]) / step];
    }
    return true;
}

/* Keep the used members' forecasts (rows of forecasts) as scenarios, then the weeks
 * 2 .. scenario_weeks back, each repeated from the end of the history, and the days
 * of the same kind 1 .. scenario_days back, as far back as the history reaches. */
static int fill_scenarios(const plan_context *c, cdnopt_plan_forecast *f,
                          const double *forecasts, char *err)
{
    size_t h = f->mean->n, end = c->history->n;
    int rc = CDNOPT_OK;
    for (int k = 0; k < f->n_members && rc == CDNOPT_OK; k++) {
        if (f->members[k].used)
            rc = add_scenario(f, forecasts + (size_t)k * h, h);
    }
    for (size_t weeks = 2; weeks <= (size_t)c->params->scenario_weeks && rc == CDNOPT_OK;
         weeks++) {
        if (weeks * c->week <= end)
            rc = add_scenario(f, c->history->v + end - weeks * c->week, c->week);
    }
    double *scratch = cdnopt_malloc(h * sizeof *scratch);
    for (size_t days = 1; days <= (size_t)c->params->scenario_days && rc == CDNOPT_OK; days++) {
        if (scratch == NULL)
            rc = CDNOPT_ENOMEM;
        else if (same_kind_day(c, days, h, scratch))
            rc = add_scenario(f, scratch, h);
    }
    cdnopt_free(scratch);
    if (rc != CDNOPT_OK)
        return cdnopt_fail(err, rc, "out of memory for the forecast's scenarios");
    return CDNOPT_OK;
}

/*
 * Append residual scenarios: scenario k (1 .. scenario_residual_days) is the mean plus
 * the combination's backtest error (actual - forecast) at the same time of day on the
 * k-th latest whole day of the backtest window, which ends where the history does.
 * errors contains the n_errors steps of that window. Days it does not cover whole are
 * left out.
 *
 * Rationale: a past day is a scenario with that day's own level and shape. A residual
 * day keeps the forecast's shape and adds the errors it made on a recent day, so the
 * planner also meets valleys that moved the way they moved then.
 * NOTE: over 32 stretches of a UK and a European series this brought plans from history
 * closer to the plan on the real traffic on average (geometric mean), but not on every
 * stretch. On the day and week workloads it ended further away (docs/benchmarks.md).
 */
static int add_residual_scenarios(const plan_context *c, cdnopt_plan_forecast *f,
                                  const double *errors, size_t n_errors)
{
    size_t h = f->mean->n;
    double *values = cdnopt_malloc(h * sizeof *values);
    int rc = values == NULL ? CDNOPT_ENOMEM : CDNOPT_OK;
    for (size_t days = 1; days <= (size_t)c->params->scenario_residual_days && rc == CDNOPT_OK;
         days++) {
        if (days * c->day > n_errors)
            break;
        const double *day_errors = errors + n_errors - days * c->day;
        for (size_t i = 0; i < h; i++)
            values[i] = f->mean->v[i] + day_errors[i % c->day];
        rc = add_scenario(f, values, h);
    }
    cdnopt_free(values);
    return rc;
}

/* Forecast from the end of the history with the used members, and fill the two lines and
 * the scenarios. */
static int forecast_lines(const plan_context *c, cdnopt_plan_forecast *f, double *forecasts,
                          const double *errors, char *err)
{
    size_t h = (size_t)c->params->horizon, end = c->history->n;
    for (int k = 0; k < f->n_members; k++) {
        if (!f->members[k].used)
            continue;
        bool available = false;
        int rc = member_forecast(c, (enum member_kind)k, end, h, forecasts + (size_t)k * h,
                                 &available, err);
        if (rc != CDNOPT_OK)
            return rc;
        if (!available)
            return cdnopt_fail(err, CDNOPT_EINVAL, "forecaster %s failed at the end of the history",
                               f->members[k].name);
    }

    int64_t t0 = c->history->t[end - 1] + c->history->step_s;
    if (cdnopt_series_new(h, t0, c->history->step_s, &f->mean) != CDNOPT_OK ||
        cdnopt_series_new(h, t0, c->history->step_s, &f->critical) != CDNOPT_OK)
        return cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory for a forecast of %zu steps", h);
    combine(f, forecasts, h, f->mean->v);

    /* Bandwidth is never negative. */
    for (size_t i = 0; i < h; i++) {
        f->mean->v[i] = fmax(f->mean->v[i], 0.0);
        f->critical->v[i] = f->mean->v[i] + c->params->safety * f->margin;
    }
    int rc = fill_scenarios(c, f, forecasts, err);
    if (rc == CDNOPT_OK && add_residual_scenarios(c, f, errors, f->backtest_steps) != CDNOPT_OK)
        rc = cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory for the forecast's scenarios");
    return rc;
}

/* Name the candidates in the order of enum member_kind. */
static void name_members(cdnopt_plan_forecast *f, bool with_model)
{
    static const char *const names[] = {"seasonal-naive-1w", "daily-profile", "model"};
    f->n_members = with_model ? 3 : 2;
    for (int k = 0; k < f->n_members; k++) {
        snprintf(f->members[k].name, sizeof f->members[k].name, "%s", names[k]);
        f->members[k].backtest_mae = NAN;
    }
}

int cdnopt_pipeline_plan_forecast(const cdnopt_sampler *model, const cdnopt_series *history,
                                  const cdnopt_plan_forecast_params *p,
                                  cdnopt_plan_forecast **out, char *err)
{
    *out = NULL;
    int rc = check_plan_params(p, history, err);
    if (rc != CDNOPT_OK)
        return rc;
    plan_context c = {model, history, p, (size_t)cdnopt__steps_per_day(history->step_s), 0};
    c.week = 7 * c.day;

    /* Backtest window: as long as the horizon, but leave a week before it when the
     * history allows, so that the weekly member can be scored. */
    size_t before = history->n >= c.week + c.day ? c.week : c.day;
    size_t n_backtest = history->n - before;
    if (n_backtest > (size_t)p->horizon)
        n_backtest = (size_t)p->horizon;

    cdnopt_plan_forecast *f = cdnopt_calloc(1, sizeof *f);
    /* Rows of horizon steps also hold the backtest, which is never longer. */
    size_t rows = (size_t)p->horizon;
    double *forecasts = cdnopt_malloc(CDNOPT_PLAN_FORECAST_MAX_MEMBERS * rows * sizeof *forecasts);
    double *errors = cdnopt_malloc(rows * sizeof *errors);
    if (f == NULL || forecasts == NULL || errors == NULL) {
        rc = cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory for a forecast of %d steps",
                         p->horizon);
    } else {
        name_members(f, model != NULL);
        f->backtest_steps = n_backtest;
        rc = backtest(&c, f, n_backtest, forecasts, errors, err);
    }
    if (rc == CDNOPT_OK)
        rc = forecast_lines(&c, f, forecasts, errors, err);

    cdnopt_free(forecasts);
    cdnopt_free(errors);
    if (rc != CDNOPT_OK) {
        cdnopt_plan_forecast_free(f);
        return rc;
    }
    *out = f;
    return CDNOPT_OK;
}
