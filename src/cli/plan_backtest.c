/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Choose the planning method for `plan --history` by a backtest on the history. Each
 * fold moves the real releases back onto known traffic and forecasts from the history
 * before them with the real run's settings. Every method plans from that forecast, and
 * each schedule's peak on the known traffic is compared with greedy's plan on that
 * traffic itself.
 */
#include "plan_backtest.h"

#include "cdnopt/core.h"

#include <math.h>

#define BACKTEST_LOG "plan"

/* Scenario settings of the wide set: weeks 2 and 3 back and 7 same-kind days. */
#define WIDE_SCENARIO_WEEKS 3
#define WIDE_SCENARIO_DAYS 7

void plan_method_forecast_params(cdnopt_plan_method method, cdnopt_plan_forecast_params *fp)
{
    if (method == CDNOPT_PLAN_METHOD_WIDE) {
        fp->scenario_weeks = WIDE_SCENARIO_WEEKS;
        fp->scenario_days = WIDE_SCENARIO_DAYS;
    }
}

int plan_with_method(cdnopt_plan_method method, const cdnopt_plan_forecast *f,
                     const cdnopt_release_set *releases, const cdnopt_rules *rules,
                     const cdnopt_plan_params *params, cdnopt_plan_result *result, char *err)
{
    if (method == CDNOPT_PLAN_METHOD_MEAN)
        return cdnopt_plan_greedy(f->mean, releases, rules, params, result, err);
    cdnopt_plan_scenarios scenarios = {
        .reference = f->mean,
        .lines = (const cdnopt_series *const *)f->scenarios,
        .n_lines = (size_t)f->n_scenarios,
        .worst_weight = 0.0,
    };
    return cdnopt_plan_robust(&scenarios, releases, rules, params, result, err);
}

/* Peak of the schedule that method plans from forecast f, on the known traffic. */
static int score_method(cdnopt_plan_method method, const cdnopt_plan_forecast *f,
                        const cdnopt_series *truth, const cdnopt_release_set *moved,
                        const plan_backtest_setup *s, double *peak_gbps, char *err)
{
    cdnopt_plan_result result;
    int rc = plan_with_method(method, f, moved, s->rules, s->params, &result, err);
    if (rc != 0)
        return rc;
    cdnopt_figures figures;
    rc = cdnopt_schedule_evaluate(truth, moved, result.schedule, s->rules, NULL, &figures);
    cdnopt_plan_result_clear(&result);
    if (rc != 0)
        return cdnopt_fail(err, rc, "scoring a backtest schedule failed: %s",
                           cdnopt_strerror(rc));
    *peak_gbps = figures.peak_gbps;
    return 0;
}

/* Forecast from past (with the scenario settings of each method) and score the methods
 * on it: mean and scenarios share one forecast, wide (only with try_wide) has its own.
 * A method not tried gets a NaN peak. */
static int score_fold_methods(const plan_backtest_setup *s, const cdnopt_series *past,
                              const cdnopt_series *truth, const cdnopt_release_set *moved,
                              double *peaks, char *err)
{
    int rc = 0;
    int end = s->try_wide ? CDNOPT_PLAN_METHOD_COUNT : CDNOPT_PLAN_METHOD_WIDE;
    peaks[CDNOPT_PLAN_METHOD_WIDE] = NAN;
    for (int m = CDNOPT_PLAN_METHOD_SCENARIOS; m < end && rc == 0; m++) {
        cdnopt_plan_forecast_params fp = s->forecast;
        plan_method_forecast_params((cdnopt_plan_method)m, &fp);
        cdnopt_plan_forecast *f = NULL;
        rc = cdnopt_pipeline_plan_forecast(s->model, past, &fp, &f, err);
        if (rc == 0 && m == CDNOPT_PLAN_METHOD_SCENARIOS)
            rc = score_method(CDNOPT_PLAN_METHOD_MEAN, f, truth, moved, s,
                              &peaks[CDNOPT_PLAN_METHOD_MEAN], err);
        if (rc == 0)
            rc = score_method((cdnopt_plan_method)m, f, truth, moved, s, &peaks[m], err);
        cdnopt_plan_forecast_free(f);
    }
    return rc;
}

/* Greedy's peak planned on the known traffic itself: the best any forecast could do. */
static int score_truth(const plan_backtest_setup *s, const cdnopt_series *truth,
                       const cdnopt_release_set *moved, double *peak_gbps, char *err)
{
    cdnopt_plan_result result;
    int rc = cdnopt_plan_greedy(truth, moved, s->rules, s->params, &result, err);
    if (rc == 0) {
        *peak_gbps = result.planned.peak_gbps;
        cdnopt_plan_result_clear(&result);
    }
    return rc;
}

/* One fold: the history before the moved releases, the known traffic over their reach,
 * and every method's peak on it. */
static int run_fold(const plan_backtest_setup *s, int64_t shift_s, int fold,
                    plan_backtest_report *out, char *err)
{
    const cdnopt_series *history = s->history;
    size_t shift_steps = (size_t)(shift_s / history->step_s);
    size_t origin = history->n - shift_steps;
    cdnopt_series *past = NULL, *truth = NULL;
    cdnopt_release_set *moved = NULL;
    int rc = cdnopt_series_slice(history, 0, origin, &past, err);
    if (rc == 0)
        rc = cdnopt_series_slice(history, origin, (size_t)s->forecast.horizon, &truth, err);
    if (rc == 0)
        rc = cdnopt_release_set_shift(s->releases, -shift_s, &moved, err);
    if (rc == 0)
        rc = score_truth(s, truth, moved, &out->truth_peak_gbps[fold], err);
    if (rc == 0)
        rc = score_fold_methods(s, past, truth, moved, out->peak_gbps[fold], err);
    if (rc == 0) {
        out->shift_s[fold] = shift_s;
        /* A method left out of this run (wide without --backtest-wide) has a NaN peak. */
        for (int m = 0; m < CDNOPT_PLAN_METHOD_COUNT; m++)
            if (isfinite(out->peak_gbps[fold][m]))
                CDNOPT_LOG_INFO(BACKTEST_LOG,
                                "backtest fold=%d shift_days=%.0f method=%s peak_gbps=%.3f "
                                "truth_plan_peak_gbps=%.3f",
                                fold, (double)shift_s / 86400.0,
                                cdnopt_plan_method_name((cdnopt_plan_method)m),
                                out->peak_gbps[fold][m], out->truth_peak_gbps[fold]);
    }
    cdnopt_release_set_free(moved);
    cdnopt_series_free(truth);
    cdnopt_series_free(past);
    return rc;
}

int plan_backtest_run(const plan_backtest_setup *s, plan_backtest_report *out, char *err)
{
    double started = cdnopt_clock_s();
    *out = (plan_backtest_report){.chosen = CDNOPT_PLAN_METHOD_SCENARIOS};
    int64_t step_s = s->history->step_s;
    int64_t history_s = (int64_t)s->history->n * step_s;
    int64_t reach_s = (int64_t)s->forecast.horizon * step_s;

    for (int fold = 0; fold < s->max_folds && fold < CDNOPT_PLAN_BACKTEST_MAX_FOLDS; fold++) {
        int64_t shift_s = cdnopt_plan_backtest_shift_s(history_s, reach_s, s->min_history_s,
                                                       fold);
        if (shift_s == 0 || shift_s % step_s != 0)
            break;
        int rc = run_fold(s, shift_s, fold, out, err);
        if (rc != 0)
            return rc;
        out->n_folds = fold + 1;
    }

    /*
     * Rationale for the fallback: with no fold to compare on, plan on the scenarios. Over
     * ten stretches of a UK and a European series their geometric-mean distance to the
     * plan on the real traffic was lower than the mean line's (docs/benchmarks.md).
     */
    if (out->n_folds > 0) {
        double ratios[CDNOPT_PLAN_BACKTEST_MAX_FOLDS * CDNOPT_PLAN_METHOD_COUNT];
        for (int k = 0; k < out->n_folds; k++)
            for (int m = 0; m < CDNOPT_PLAN_METHOD_COUNT; m++)
                ratios[k * CDNOPT_PLAN_METHOD_COUNT + m] =
                    out->peak_gbps[k][m] / out->truth_peak_gbps[k];
        out->chosen = cdnopt_plan_backtest_choose(ratios, out->n_folds, out->score);
    }
    out->seconds = cdnopt_clock_s() - started;
    CDNOPT_LOG_INFO(BACKTEST_LOG, "backtest folds=%d chosen=%s seconds=%.2f", out->n_folds,
                    cdnopt_plan_method_name(out->chosen), out->seconds);
    return 0;
}

void plan_backtest_print_text(FILE *out, const plan_backtest_report *r)
{
    if (r->n_folds == 0) {
        fprintf(out, "backtest: the history is too short to move the releases back onto it; "
                     "planned on the scenarios\n");
        return;
    }
    fprintf(out, "backtest over %d fold(s) moved back", r->n_folds);
    for (int k = 0; k < r->n_folds; k++)
        fprintf(out, " %.0f", (double)r->shift_s[k] / 86400.0);
    fprintf(out, " days (%.1f s); peak vs the plan on the known traffic:", r->seconds);
    for (int m = 0; m < CDNOPT_PLAN_METHOD_COUNT; m++)
        if (isfinite(r->score[m]))
            fprintf(out, " %s %+.2f %%", cdnopt_plan_method_name((cdnopt_plan_method)m),
                    100.0 * (r->score[m] - 1.0));
    fprintf(out, "; chosen: %s\n", cdnopt_plan_method_name(r->chosen));
}

void plan_backtest_print_json(FILE *out, const plan_backtest_report *r)
{
    fprintf(out, "  \"backtest\": {\"folds\": %d, \"chosen\": \"%s\", \"seconds\": %.3f, "
            "\"shift_days\": [",
            r->n_folds, cdnopt_plan_method_name(r->chosen), r->seconds);
    for (int k = 0; k < r->n_folds; k++)
        fprintf(out, "%s%.0f", k > 0 ? ", " : "", (double)r->shift_s[k] / 86400.0);
    fprintf(out, "], \"ratio_to_known_traffic_plan\": {");
    for (int m = 0; m < CDNOPT_PLAN_METHOD_COUNT; m++) {
        double score = r->score[m];
        fprintf(out, "%s\"%s\": ", m > 0 ? ", " : "",
                cdnopt_plan_method_name((cdnopt_plan_method)m));
        if (r->n_folds > 0 && isfinite(score))
            fprintf(out, "%.6f", score);
        else
            fprintf(out, "null");
    }
    fprintf(out, "}},\n");
}
