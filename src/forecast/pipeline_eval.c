/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Training with calibration, and the evaluation procedure. The last whole days of a
 * series are the test span. The model forecasts one day from the first step of each
 * test day without refitting, and the baselines forecast from the same origins with
 * all values before each origin.
 */
#include "cdnopt/pipeline.h"

#include "cdnopt/core.h"
#include "pipeline-impl.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define EVAL_LOG "evaluate"
#define EVAL_MIN_HISTORY_DAYS 3

size_t cdnopt_pipeline_val_start(size_t n, double val_fraction)
{
    /* The same rounding as the model's own split of its training span. */
    size_t n_val = (size_t)floor(val_fraction * (double)n + 0.5);
    if (n_val == 0)
        n_val = 1;
    return n_val < n ? n - n_val : 0;
}

int cdnopt_pipeline_train(const cdnopt_series *train, const cdnopt_model_params *mp,
                          const cdnopt_calibrate_params *cp, cdnopt_epoch_cb cb, void *user,
                          cdnopt_model **model_out, cdnopt_calibration *cal_out, char *err)
{
    *model_out = NULL;
    memset(cal_out, 0, sizeof *cal_out);
    cdnopt_model *m = NULL;
    int rc = cdnopt_model_new(mp, train->step_s, &m, err);
    if (rc == CDNOPT_OK)
        rc = cdnopt_model_fit(m, train, cb, user, err);
    if (rc != CDNOPT_OK) {
        cdnopt_model_free(m);
        return rc;
    }

    /* Without a validation span in training, calibrate on the last tenth anyway. */
    double fraction = mp->val_fraction > 0.0f ? mp->val_fraction : 0.1;
    size_t val_start = cdnopt_pipeline_val_start(train->n, fraction);
    cdnopt_sampler s = cdnopt_sampler_from_model(m);
    cdnopt_calibrate_params cal_params = *cp;
    cal_params.first_origin = (size_t)cdnopt_model_get_params(m)->window;
    rc = cdnopt_pipeline_calibrate(&s, train, val_start, train->n, &cal_params, cal_out, err);
    if (rc != CDNOPT_OK) {
        cdnopt_model_free(m);
        return rc;
    }
    *model_out = m;
    return CDNOPT_OK;
}

cdnopt_eval_params cdnopt_eval_params_default(void)
{
    cdnopt_eval_params p = {
        .test_days = 7,
        .n_samples = 100,
        .recent_days = cdnopt_forecast_params_default().recent_days,
        .seed = 1,
        .model = cdnopt_model_params_default(),
        .calibrate = cdnopt_calibrate_params_default(),
        .epoch_cb = NULL,
        .epoch_user = NULL,
    };
    return p;
}

/* ------------------------------------------------------------------------- */
/* Test span                                                                 */
/* ------------------------------------------------------------------------- */

/* Place the test span on the last test_days whole days of s. */
static int find_test_span(const cdnopt_series *s, int test_days, int steps_per_day,
                          cdnopt_eval_report *r, char *err)
{
    if (steps_per_day <= 0)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "step %llds does not divide one day; evaluation needs whole days",
                           (long long)s->step_s);
    if (test_days < 1)
        return cdnopt_fail(err, CDNOPT_EINVAL, "invalid test span of %d days: use 1 or more",
                           test_days);

    /* A series that stops before midnight leaves its last, partial day out. */
    int64_t end_t = cdnopt_civil_day_start(s->t[s->n - 1] + s->step_s);
    int64_t start_t = end_t - (int64_t)test_days * 86400;

    /* Three days before the span leave room for a one-day window, a validation slice
     * and the two seasons that Holt-Winters starts from. */
    int64_t need_t = s->t[0] + EVAL_MIN_HISTORY_DAYS * 86400;
    if (start_t < need_t)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "series '%s' covers %.1f days: too short for %d test days after at "
                           "least %d days of history; use fewer --test-days or a longer series",
                           s->name != NULL ? s->name : "(unnamed)",
                           (double)(s->t[s->n - 1] - s->t[0] + s->step_s) / 86400.0, test_days,
                           EVAL_MIN_HISTORY_DAYS);

    /* On a grid that is not aligned to midnight (samples at :04, :09, ...), each day
     * starts at its first sample after midnight. */
    r->test_start = (size_t)((start_t - s->t[0] + s->step_s - 1) / s->step_s);
    r->test_end = (size_t)((end_t - s->t[0] + s->step_s - 1) / s->step_s);
    r->n_origins = test_days;
    r->horizon = steps_per_day;
    return CDNOPT_OK;
}

/* ------------------------------------------------------------------------- */
/* Forecasts over the test span                                              */
/* ------------------------------------------------------------------------- */

/* Forecasts of one method over all origins, concatenated (origin d at d * horizon). */
typedef struct method_run {
    double *mean;
    double *lower;     /* raw interval */
    double *upper;
    double *cal_lower; /* calibrated interval (the model only) */
    double *cal_upper;
} method_run;

static void method_run_fini(method_run *m)
{
    cdnopt_free(m->mean);
    cdnopt_free(m->lower);
    cdnopt_free(m->upper);
    cdnopt_free(m->cal_lower);
    cdnopt_free(m->cal_upper);
}

static int method_run_init(method_run *m, size_t n, bool calibrated)
{
    memset(m, 0, sizeof *m);
    m->mean = cdnopt_malloc(n * sizeof(double));
    m->lower = cdnopt_malloc(n * sizeof(double));
    m->upper = cdnopt_malloc(n * sizeof(double));
    if (calibrated) {
        m->cal_lower = cdnopt_malloc(n * sizeof(double));
        m->cal_upper = cdnopt_malloc(n * sizeof(double));
    }
    bool ok = m->mean && m->lower && m->upper && (!calibrated || (m->cal_lower && m->cal_upper));
    return ok ? CDNOPT_OK : CDNOPT_ENOMEM;
}

/* The model's forecast from one origin: calibrated bounds from the calibration and
 * raw bounds mean +- 1.96 sd from the same paths. */
static int run_model_origin(const cdnopt_sampler *s, const cdnopt_calibration *cal,
                            const cdnopt_series *series, size_t origin, const cdnopt_eval_params *p,
                            int horizon, int d, method_run *m, char *err)
{
    cdnopt_forecast_params fp = cdnopt_forecast_params_default();
    fp.horizon = horizon;
    fp.n_samples = p->n_samples;
    fp.recent_days = p->recent_days;
    fp.safety = 1.0;
    fp.seed = p->seed + (uint64_t)d;
    cdnopt_forecast_result *f = NULL;
    int rc = cdnopt_pipeline_forecast(s, cal, series, origin, &fp, &f, err);
    if (rc != CDNOPT_OK)
        return rc;

    size_t at = (size_t)d * (size_t)horizon;
    for (int h = 0; h < horizon; h++) {
        m->mean[at + h] = f->mean[h];
        m->lower[at + h] = fmax(f->mean[h] - CDNOPT__Z95 * f->sd[h], 0.0);
        m->upper[at + h] = f->mean[h] + CDNOPT__Z95 * f->sd[h];
        m->cal_lower[at + h] = f->lower[h];
        m->cal_upper[at + h] = f->upper[h];
    }
    cdnopt_forecast_result_free(f);
    return CDNOPT_OK;
}

static int run_baseline_origin(enum cdnopt_baseline_method method, size_t period,
                               const cdnopt_series *series, size_t origin, int horizon, int d,
                               method_run *m, char *err)
{
    cdnopt_baseline_params bp = cdnopt_baseline_params_default();
    bp.method = method;
    bp.period = period;
    bp.level = 0.95;
    size_t at = (size_t)d * (size_t)horizon;
    cdnopt_interval_forecast fc = {m->mean + at, m->lower + at, m->upper + at};
    return cdnopt_baseline_forecast(&bp, series->v, origin, (size_t)horizon, &fc, err);
}

/* ------------------------------------------------------------------------- */
/* Scores                                                                    */
/* ------------------------------------------------------------------------- */

static void score_row(const double *y, size_t n, const method_run *m, double mase_scale,
                      const char *name, cdnopt_eval_row *row)
{
    memset(row, 0, sizeof *row);
    snprintf(row->method, sizeof row->method, "%s", name);

    cdnopt_interval_forecast raw = {m->mean, m->lower, m->upper};
    cdnopt_scores scores;
    cdnopt_scores_compute(y, &raw, n, mase_scale, 0.05, &scores);
    row->mae = scores.mae;
    row->rmse = scores.rmse;
    row->smape = scores.smape;
    row->mase = scores.mase;
    row->coverage_raw = scores.coverage;
    row->coverage_calibrated = NAN;
    row->width = scores.width;

    if (m->cal_lower != NULL) {
        row->coverage_calibrated = cdnopt_metric_coverage(y, m->cal_lower, m->cal_upper, n);
        row->width = cdnopt_metric_mean_width(m->cal_lower, m->cal_upper, n);
    }
}

/* Mark a method that could not run: every figure is NAN. */
static void empty_row(const char *name, cdnopt_eval_row *row)
{
    memset(row, 0, sizeof *row);
    snprintf(row->method, sizeof row->method, "%s", name);
    row->mae = row->rmse = row->smape = row->mase = NAN;
    row->coverage_raw = row->coverage_calibrated = row->width = NAN;
}

/* ------------------------------------------------------------------------- */
/* Procedure                                                                 */
/* ------------------------------------------------------------------------- */

/* The baselines beside the model, in the order of the report's rows. */
typedef struct baseline_spec {
    const char *name;
    enum cdnopt_baseline_method method;
    int period_days; /* seasonal period in days; the method needs two periods of history */
} baseline_spec;

static const baseline_spec baselines[] = {
    {"seasonal-naive-1d", CDNOPT_BASELINE_SNAIVE, 1},
    {"seasonal-naive-1w", CDNOPT_BASELINE_SNAIVE, 7},
    {"holt-winters-1d", CDNOPT_BASELINE_HOLT_WINTERS, 1},
};

#define N_BASELINES (sizeof baselines / sizeof baselines[0])

/* Model and calibration used for the test span: given, or trained on the pre-test span. */
typedef struct eval_forecaster {
    const cdnopt_model *model;
    const cdnopt_calibration *cal;
    cdnopt_model *own_model;
    cdnopt_calibration own_cal;
    bool own_cal_set;
} eval_forecaster;

static void eval_forecaster_fini(eval_forecaster *f)
{
    cdnopt_model_free(f->own_model);
    if (f->own_cal_set)
        cdnopt_calibration_fini(&f->own_cal);
}

static int prepare_forecaster(const cdnopt_series *s, const cdnopt_eval_params *p,
                              cdnopt_eval_report *r, eval_forecaster *f, char *err)
{
    if (f->model != NULL && f->cal != NULL)
        return CDNOPT_OK;

    cdnopt_series *pre = NULL;
    int rc = cdnopt_series_slice(s, 0, r->test_start, &pre, err);
    if (rc != CDNOPT_OK)
        return rc;

    cdnopt_calibrate_params cp = p->calibrate;
    cp.horizon = r->horizon;
    if (f->model == NULL) {
        double t0 = cdnopt_clock_s();
        rc = cdnopt_pipeline_train(pre, &p->model, &cp, p->epoch_cb, p->epoch_user,
                                   &f->own_model, &f->own_cal, err);
        r->train_seconds = cdnopt_clock_s() - t0;
        f->model = f->own_model;
    } else {
        /* A given model without calibration: calibrate on the end of the pre-test span. */
        const cdnopt_model_params *mp = cdnopt_model_get_params(f->model);
        double fraction = mp->val_fraction > 0.0f ? mp->val_fraction : 0.1;
        cdnopt_sampler sampler = cdnopt_sampler_from_model(f->model);
        cp.first_origin = (size_t)mp->window;
        rc = cdnopt_pipeline_calibrate(&sampler, pre, cdnopt_pipeline_val_start(pre->n, fraction),
                                       pre->n, &cp, &f->own_cal, err);
    }
    cdnopt_series_free(pre);
    if (rc != CDNOPT_OK)
        return rc;
    f->own_cal_set = true;
    f->cal = &f->own_cal;
    return CDNOPT_OK;
}

static const char *model_label(const cdnopt_model *m)
{
    return cdnopt_model_get_params(m)->arch == CDNOPT_ARCH_TRANSFORMER ? "transformer"
                                                                       : "residual-lstm";
}

/* Forecast every origin with the model and each baseline, then score them. */
static int run_test_span(const cdnopt_series *s, const eval_forecaster *f,
                         const cdnopt_eval_params *p, cdnopt_eval_report *r, char *err)
{
    size_t n = (size_t)r->n_origins * (size_t)r->horizon;
    method_run runs[1 + N_BASELINES];
    int rc = CDNOPT_OK;
    for (size_t i = 0; i < 1 + N_BASELINES; i++) {
        if (method_run_init(&runs[i], n, i == 0) != CDNOPT_OK)
            rc = CDNOPT_ENOMEM;
    }
    if (rc != CDNOPT_OK) {
        cdnopt_fail(err, rc, "out of memory for %zu test forecasts", n);
        goto done;
    }

    /* A baseline needs two seasons before the first origin; without them its row
     * stays empty (NAN). */
    bool skip[N_BASELINES];
    for (size_t b = 0; b < N_BASELINES; b++) {
        skip[b] = r->test_start < 2 * (size_t)baselines[b].period_days * (size_t)r->horizon;
        if (skip[b])
            CDNOPT_LOG_INFO(EVAL_LOG, "skipped method=%s reason=history_shorter_than_2_periods",
                            baselines[b].name);
    }

    cdnopt_sampler sampler = cdnopt_sampler_from_model(f->model);
    for (int d = 0; d < r->n_origins && rc == CDNOPT_OK; d++) {
        size_t origin = r->test_start + (size_t)d * (size_t)r->horizon;
        rc = run_model_origin(&sampler, f->cal, s, origin, p, r->horizon, d, &runs[0], err);
        for (size_t b = 0; b < N_BASELINES && rc == CDNOPT_OK; b++) {
            size_t period = (size_t)baselines[b].period_days * (size_t)r->horizon;
            if (!skip[b])
                rc = run_baseline_origin(baselines[b].method, period, s, origin, r->horizon, d,
                                         &runs[1 + b], err);
        }
        CDNOPT_LOG_DEBUG(EVAL_LOG, "origin=%d of=%d index=%zu", d + 1, r->n_origins, origin);
    }
    if (rc != CDNOPT_OK)
        goto done;

    const double *y = s->v + r->test_start;
    score_row(y, n, &runs[0], r->mase_scale, model_label(f->model), &r->rows[0]);
    for (size_t b = 0; b < N_BASELINES; b++) {
        if (skip[b])
            empty_row(baselines[b].name, &r->rows[1 + b]);
        else
            score_row(y, n, &runs[1 + b], r->mase_scale, baselines[b].name, &r->rows[1 + b]);
    }
    r->n_methods = (int)(1 + N_BASELINES);

done:
    for (size_t i = 0; i < 1 + N_BASELINES; i++)
        method_run_fini(&runs[i]);
    return rc;
}

int cdnopt_pipeline_evaluate(const cdnopt_series *s, const cdnopt_model *model,
                             const cdnopt_calibration *cal, const cdnopt_eval_params *p,
                             cdnopt_eval_report *out, char *err)
{
    memset(out, 0, sizeof *out);
    if (s->n < 2)
        return cdnopt_fail(err, CDNOPT_EINVAL, "series has %zu samples; evaluation needs days",
                           s->n);
    int rc = find_test_span(s, p->test_days, cdnopt__steps_per_day(s->step_s), out, err);
    if (rc != CDNOPT_OK)
        return rc;

    /* MASE scale: one-day seasonal naive error over everything before the test span. */
    out->mase_scale = cdnopt_metric_mase_scale(s->v, out->test_start, (size_t)out->horizon);

    eval_forecaster f = {.model = model, .cal = model != NULL ? cal : NULL};
    rc = prepare_forecaster(s, p, out, &f, err);
    if (rc == CDNOPT_OK)
        rc = run_test_span(s, &f, p, out, err);
    eval_forecaster_fini(&f);
    return rc;
}
