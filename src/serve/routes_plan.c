/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Planning routes: re-plan jobs, job status, the latest schedule with its
 * figures (JSON, CSV, or the series the dashboard draws), and the forecast. A
 * re-plan uses the observed samples or the forecast's critical line from the
 * service clock on. Re-plans and forecasts run on the
 * worker pool; a request either waits for its job ("wait": true) or gets 202
 * and polls /api/v1/jobs/{id}.
 */
#include "serve-impl.h"

#include "cdnopt/agent.h"
#include "cdnopt/plan.h"
#include "cdnopt/release.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Forecast paths per forecast job unless the request sets samples. */
#define FORECAST_DEFAULT_SAMPLES 50

/* Bounds of one forecast request: at most 7 days ahead and 500 Monte-Carlo paths. */
#define FORECAST_HORIZON_MAX_S (7 * 86400)
#define FORECAST_SAMPLES_MAX 500

/* ------------------------------------------------------------------------- */
/* Shared helpers                                                            */
/* ------------------------------------------------------------------------- */

bool serve_shed_job(struct cdnopt_server *server, serve_request *req)
{
    if (!serve_monitor_alert_active(server->monitor, MONITOR_ALERT_MEMORY))
        return false;
    serve_metrics_shed(server->metrics);
    req->retry_after_s = 30;
    double threshold = server->params.memory_alert_ratio;
    serve_respond_error(req, 503, "overloaded", NULL,
                        "memory use went over %g%% and is not yet back at or under %g%%, so "
                        "new jobs are refused; retry later",
                        threshold * 100,
                        serve_monitor_clear_threshold(server->monitor, threshold) * 100);
    return true;
}

int serve_load_series(struct cdnopt_server *server, int64_t from, int64_t to, cdnopt_series **out,
                      char *err)
{
    *out = NULL;
    int64_t *t = NULL;
    double *v = NULL;
    size_t n = 0;
    int rc = cdnopt_store_samples_get(server->store, from, to, &t, &v, &n, err);
    if (rc == CDNOPT_OK && n < 2) {
        char first[32], last[48] = " on";
        serve_format_time(from, first, sizeof first);
        if (to != INT64_MAX) {
            memcpy(last, " to ", 5);
            serve_format_time(to, last + 4, sizeof last - 4);
        }
        rc = cdnopt_fail(err, CDNOPT_ENOTFOUND,
                         "%zu observed samples from %s%s, where at least 2 are needed; POST "
                         "/api/v1/samples for that span first",
                         n, first, last);
    }

    int64_t step = n >= 2 ? t[1] - t[0] : 0;
    for (size_t i = 1; rc == CDNOPT_OK && i < n; i++) {
        if (t[i] - t[i - 1] != step) {
            char before[32], at[32];
            serve_format_time(t[i - 1], before, sizeof before);
            serve_format_time(t[i], at, sizeof at);
            rc = cdnopt_fail(err, CDNOPT_EINVAL,
                             "observed samples break the regular %lld s grid between %s and %s; "
                             "post the missing samples, or delete wrong ones with DELETE "
                             "/api/v1/samples?from=...&to=...",
                             (long long)step, before, at);
        }
    }
    if (rc == CDNOPT_OK)
        rc = cdnopt_series_new(n, t[0], step, out);
    if (rc == CDNOPT_OK)
        memcpy((*out)->v, v, n * sizeof *v);
    cdnopt_free(t);
    cdnopt_free(v);
    return rc;
}

/* Steps of history a forecast reads before the clock: the model's window, plus the recent
 * days the calibration re-scores and the days its latest origin lies back for the horizon. */
static size_t needed_history_steps(const serve_forecaster *f, int64_t step_s, int horizon)
{
    size_t steps_per_day = step_s < 86400 ? (size_t)(86400 / step_s) : 1;
    size_t days_back = horizon > 0 ? ((size_t)horizon + steps_per_day - 1) / steps_per_day : 1;
    size_t recent_days = (size_t)cdnopt_forecast_params_default().recent_days;
    return (size_t)serve_forecaster_window(f) + (days_back + recent_days) * steps_per_day;
}

/* Find where the run of samples on the step_s grid that ends at t[n - 1] starts. */
static size_t regular_run_start(const int64_t *t, size_t n, int64_t step_s)
{
    size_t first = n - 1;
    while (first > 0 && t[first] - t[first - 1] == step_s)
        first--;
    return first;
}

/* Check that the regular run [first, n) of the samples before the clock covers the model's
 * window, and that it reaches back `needed` steps unless it starts at the oldest sample.
 * `stored` counts all stored samples, including those after the clock, for the message. */
static int check_history_run(const int64_t *t, size_t n, size_t first, size_t needed,
                             size_t stored, int64_t step_s, int window, int64_t now, char *err)
{
    size_t run = n - first;
    if (run >= needed || (first == 0 && run >= (size_t)window))
        return CDNOPT_OK;

    char clock[32];
    serve_format_time(now, clock, sizeof clock);
    if (first == 0)
        return cdnopt_fail(err, CDNOPT_ENOTFOUND,
                           "the model needs %d consecutive samples before the service clock %s; "
                           "samples stored before it: %zu of %zu. POST the traffic history "
                           "that ends at the clock to /api/v1/samples",
                           window, clock, n, stored);
    char before[32], after[32];
    serve_format_time(t[first - 1], before, sizeof before);
    serve_format_time(t[first], after, sizeof after);
    return cdnopt_fail(err, CDNOPT_EINVAL,
                       "observed samples break the regular %lld s grid between %s and %s, "
                       "inside the %zu steps a forecast reads before the clock %s; post the "
                       "missing samples, or delete wrong ones with DELETE "
                       "/api/v1/samples?from=...&to=...",
                       (long long)step_s, before, after, needed, clock);
}

static int count_samples_after(struct cdnopt_server *server, int64_t now, size_t *count,
                               char *err)
{
    int64_t *t = NULL;
    double *v = NULL;
    int rc = cdnopt_store_samples_get(server->store, now, INT64_MAX, &t, &v, count, err);
    cdnopt_free(t);
    cdnopt_free(v);
    return rc;
}

/* Load the model's history: the samples before the service clock on the model's step that
 * run without a gap up to the last one. An older gap or stray sample does not matter, but a
 * gap within the steps a forecast of `horizon` steps reads gives an error naming it. */
static int load_history(struct cdnopt_server *server, int horizon, cdnopt_series **out,
                        char *err)
{
    *out = NULL;
    int64_t now = serve_now(server);
    int64_t *t = NULL;
    double *v = NULL;
    size_t n = 0;
    int rc = cdnopt_store_samples_get(server->store, INT64_MIN, now, &t, &v, &n, err);

    const serve_forecaster *f = server->forecaster;
    int64_t step_s = serve_forecaster_step_s(f);
    int window = serve_forecaster_window(f);
    size_t first = n > 0 ? regular_run_start(t, n, step_s) : 0;
    size_t after = 0;
    if (rc == CDNOPT_OK && n - first < (size_t)window)
        rc = count_samples_after(server, now, &after, err);
    if (rc == CDNOPT_OK)
        rc = check_history_run(t, n, first, needed_history_steps(f, step_s, horizon), n + after,
                               step_s, window, now, err);
    if (rc == CDNOPT_OK)
        rc = cdnopt_series_new(n - first, t[first], step_s, out);
    if (rc == CDNOPT_OK)
        memcpy((*out)->v, v + first, (n - first) * sizeof *v);
    cdnopt_free(t);
    cdnopt_free(v);
    return rc;
}

/* Set the HTTP status and error code of a failed job. A database failure gets the 503
 * storage_unavailable that the other routes send for it. */
static void job_fail(serve_job *job, int rc, const char *message)
{
    bool client = rc == CDNOPT_ENOTFOUND || rc == CDNOPT_EINVAL || rc == CDNOPT_EPARSE;
    const char *code = "internal";
    job->http_status = 500;
    if (client) {
        code = "unprocessable";
        job->http_status = 422;
    } else if (rc == CDNOPT_EDB) {
        code = "storage_unavailable";
        job->http_status = 503;
    }
    snprintf(job->error_code, sizeof job->error_code, "%s", code);
    snprintf(job->error, sizeof job->error, "%s", message);
}

/* Submit a job and respond now (202 or an error), or suspend until it finishes. */
static void submit_job(struct cdnopt_server *server, serve_request *req, serve_job *job, bool wait)
{
    if (wait) {
        job->waiter = req;
        serve_request_suspend(req);
    }
    char kind[16];
    snprintf(kind, sizeof kind, "%s", job->kind);
    uint64_t id = job->id;
    if (serve_pool_submit(server->pool, job) != CDNOPT_OK) {
        req->retry_after_s = 5;
        serve_respond_error(req, 503, "queue_full", NULL,
                            "the job queue is full or stopping; retry in a few seconds");
        if (wait)
            serve_request_resume(req);
        serve_job_release(job);
        return;
    }
    CDNOPT_LOG_INFO(SERVE_LOG, "request_id=%llu job_id=%llu kind=%s event=queued",
                    (unsigned long long)req->id, (unsigned long long)id, kind);
    if (!wait) {
        snprintf(req->location, sizeof req->location, "/api/v1/jobs/%llu", (unsigned long long)id);
        serve_respond_json(req, 202, json_pack("{s:o}", "job", serve_job_json(job)));
    }
    serve_job_release(job);
}

/* ------------------------------------------------------------------------- */
/* Re-plan                                                                   */
/* ------------------------------------------------------------------------- */

enum against { AGAINST_OBSERVED, AGAINST_FORECAST };

enum solver { SOLVER_GREEDY, SOLVER_EXACT, SOLVER_DQN };

static const char *const solver_names[] = {"greedy", "exact", "dqn"};

struct replan_args {
    enum against against;
    enum solver solver;
    cdnopt_objective objective;
    double time_limit_s;
};

static int load_releases(struct cdnopt_server *server, cdnopt_release_set **out, char *err)
{
    cdnopt_store_release *rows = NULL;
    size_t n = 0;
    int rc = cdnopt_store_release_pending(server->store, &rows, &n, err);
    if (rc == CDNOPT_OK && n == 0)
        rc = cdnopt_fail(err, CDNOPT_ENOTFOUND,
                         "no pending releases to plan; POST /api/v1/releases first");
    cdnopt_release *items = rc == CDNOPT_OK ? cdnopt_calloc(n, sizeof *items) : NULL;
    if (rc == CDNOPT_OK && items == NULL)
        rc = cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory reading %zu releases", n);
    for (size_t i = 0; rc == CDNOPT_OK && i < n; i++) {
        snprintf(items[i].id, sizeof items[i].id, "%s", rows[i].id);
        items[i].size_mb = rows[i].size_mb;
        items[i].users = rows[i].users;
        items[i].planned_at = rows[i].planned_at;
        items[i].latest_start_at = rows[i].latest_start_at;
        items[i].has_latest = true;
    }
    if (rc == CDNOPT_OK)
        rc = cdnopt_release_set_new(items, n, out, err);
    cdnopt_free(items);
    cdnopt_free(rows);
    return rc;
}

/* The planning forecast's critical line (the combined forecast plus a constant
 * margin, as plan --history uses) from the end of the observed history up to the
 * last instant any legal schedule can reach: the latest start plus the longest
 * profile (smallest ratio). */
static int forecast_baseline(struct cdnopt_server *server, const cdnopt_release_set *releases,
                             cdnopt_series **out, char *err)
{
    if (server->forecaster == NULL)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "no forecasting model is loaded; start the server with --model");
    /* NOTE: the planning forecast's backtest prefers a week of history before its window,
     * but load_history requires no gap only in the last 8 days and the model's window. */
    cdnopt_series *history = NULL;
    int rc = load_history(server, 0, &history, err);
    if (rc != CDNOPT_OK)
        return rc;

    cdnopt_rules rules = cdnopt_rules_default();
    int64_t reach = 0;
    for (size_t i = 0; i < releases->n; i++) {
        int64_t end = cdnopt_release_latest_start(&releases->items[i], &rules) +
                      (int64_t)cdnopt_profile_hours(&rules, rules.batch_ratios[0]) * 3600;
        reach = end > reach ? end : reach;
    }
    int64_t origin = history->t[0] + (int64_t)history->n * history->step_s;
    int horizon = reach > origin ? (int)((reach - origin) / history->step_s) + 1 : 1;

    rc = serve_forecaster_plan_line(server->forecaster, history, horizon, out, err);
    cdnopt_series_free(history);
    return rc;
}

/* A number, or null where there is none (NaN), as `cdnopt plan --json` writes it. */
static json_t *finite_or_null(double value)
{
    return isfinite(value) ? json_real(value) : json_null();
}

static json_t *figures_json(const cdnopt_figures *f)
{
    return json_pack("{s:f, s:f, s:f, s:f}", "peak_gbps", f->peak_gbps, "p95_gbps", f->p95_gbps,
                     "mean_gbps", f->mean_gbps, "spill_gbit", f->spill_gbit);
}

/* The stored figures: the planner's result plus what the schedule route needs to
 * draw it again (the baseline it was planned against). */
static json_t *result_json(const struct replan_args *a, const cdnopt_plan_result *r,
                           const cdnopt_series *baseline, size_t n_releases)
{
    char from[32];
    serve_format_time(baseline->t[0], from, sizeof from);
    json_t *values = json_array();
    for (size_t i = 0; i < baseline->n; i++)
        json_array_append_new(values, json_real(baseline->v[i]));
    json_t *out = json_pack(
        "{s:s, s:s, s:s, s:I, s:o, s:o, s:f, s:f, s:f, s:f, s:s, s:s, s:o, s:b, s:s, s:I, s:o}",
        "against", a->against == AGAINST_OBSERVED ? "observed" : "forecast", "solver",
        solver_names[a->solver], "objective", cdnopt_objective_name(a->objective), "releases",
        (json_int_t)n_releases, "naive", figures_json(&r->naive), "planned",
        figures_json(&r->planned), "peak_reduction", r->peak_reduction, "p95_reduction",
        r->p95_reduction, "lower_bound_gbps", r->lower_bound_gbps, "solve_s", r->solve_s, "problem",
        r->problem, "method", r->method, "gap", finite_or_null(r->gap), "optimal",
        r->optimal, "baseline_from", from, "baseline_step_s", (json_int_t)baseline->step_s,
        "baseline_gbps", values);
    json_object_set_new(out, "lp_bound_gbps", finite_or_null(r->lp_bound_gbps));
    return out;
}

static int save_schedule(struct cdnopt_server *server, const cdnopt_release_set *releases,
                         const cdnopt_schedule *schedule, json_t *figures, int64_t *id, char *err)
{
    cdnopt_store_schedule_item *items = cdnopt_calloc(releases->n, sizeof *items);
    char *text = json_dumps(figures, JSON_COMPACT);
    int rc = CDNOPT_OK;
    if (items == NULL) {
        rc = cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory saving a schedule");
    } else if (text == NULL) {
        /* jansson encodes no inf or NaN, so a figure that is not finite ends up here. */
        rc = cdnopt_fail(err, CDNOPT_ENUMERIC,
                         "the schedule's figures could not be encoded as JSON; a figure is inf "
                         "or NaN");
    } else {
        for (size_t i = 0; i < releases->n; i++) {
            snprintf(items[i].id, sizeof items[i].id, "%s", releases->items[i].id);
            items[i].start_at = schedule->start_at[i];
            items[i].batch_ratio = schedule->batch_ratio[i];
        }
        cdnopt_store_schedule s = {0, serve_now(server), text, releases->n, items};
        rc = cdnopt_store_schedule_save(server->store, &s, id, err);
    }
    cdnopt_free(items);
    cdnopt_free(text);
    return rc;
}

static int run_planner(struct cdnopt_server *server, enum solver solver,
                       const cdnopt_series *baseline, const cdnopt_release_set *releases,
                       const cdnopt_rules *rules, const cdnopt_plan_params *params,
                       cdnopt_plan_result *result, char *err)
{
    switch (solver) {
    case SOLVER_EXACT:
        return cdnopt_plan_exact(baseline, releases, rules, params, result, err);
    case SOLVER_DQN:
        /* The agent's schedule, then greedy local search from it (repair). */
        if (server->agent == NULL)
            return cdnopt_fail(err, CDNOPT_EINVAL,
                               "solver dqn needs an agent; start the server with --agent FILE");
        return cdnopt_plan_dqn(server->agent, baseline, releases, rules, params, true, result, err);
    case SOLVER_GREEDY:
        break;
    }
    return cdnopt_plan_greedy(baseline, releases, rules, params, result, err);
}

/* Name the first release that no schedule on this baseline can start, and how to get out
 * of the state: the server has no rules to relax, so the fix is more samples or a cancel. */
static int check_startable(const cdnopt_release_set *releases, const cdnopt_series *baseline,
                           const cdnopt_rules *rules, char *err)
{
    cdnopt_grid grid = cdnopt_grid_of(baseline);
    for (size_t i = 0; i < releases->n; i++) {
        const cdnopt_release *r = &releases->items[i];
        if (cdnopt_rules_options(rules, r, &grid, baseline->step_s, NULL, 0) > 0)
            continue;

        char latest[32], first[32], last[32], path_id[CDNOPT_STORE_ID_MAX * 3];
        serve_path_encode(r->id, path_id, sizeof path_id);
        serve_format_time(cdnopt_release_latest_start(r, rules), latest, sizeof latest);
        serve_format_time(baseline->t[0], first, sizeof first);
        serve_format_time(baseline->t[0] + (int64_t)baseline->n * baseline->step_s, last,
                          sizeof last);
        if (cdnopt_release_latest_start(r, rules) < baseline->t[0])
            return cdnopt_fail(err, CDNOPT_EINVAL,
                               "release '%s' can no longer start: its latest start %s is before "
                               "the baseline's first sample %s; cancel it with POST "
                               "/api/v1/releases/%s/cancel",
                               r->id, latest, first, path_id);
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "release '%s' has no legal start: every start up to %s breaks the "
                           "blackout or runs past the baseline's end %s; post later samples, or "
                           "cancel it with POST /api/v1/releases/%s/cancel",
                           r->id, latest, last, path_id);
    }
    return CDNOPT_OK;
}

/* Fail for a release that has no legal start even on a grid that runs far past its
 * latest start. The blackout or the grid then rules out its whole window, so later
 * samples cannot help and the release must not wait in deferred. */
static int check_startable_later(const cdnopt_release *r, const cdnopt_series *baseline,
                                 const cdnopt_rules *rules, char *err)
{
    /* A wave lasts at most 100 batches one hour apart plus 168 h of downloads, so
     * 400 h past the latest start is room for every one. */
    int64_t latest = cdnopt_release_latest_start(r, rules);
    cdnopt_grid grid = cdnopt_grid_of(baseline);
    grid.n = (size_t)((latest - grid.origin) / grid.step_s + 400 * 3600 / grid.step_s + 1);
    if (cdnopt_rules_options(rules, r, &grid, baseline->step_s, NULL, 0) > 0)
        return CDNOPT_OK;

    char from[32], to[32], path_id[CDNOPT_STORE_ID_MAX * 3];
    serve_format_time(r->planned_at, from, sizeof from);
    serve_format_time(latest, to, sizeof to);
    serve_path_encode(r->id, path_id, sizeof path_id);
    int64_t off = ((r->planned_at - grid.origin) % grid.step_s + grid.step_s) % grid.step_s;
    if (off != 0 && r->planned_at + (grid.step_s - off) > latest)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "release '%s' has no legal start: its window %s to %s contains no "
                           "step of the samples' %lld s grid; cancel it with POST "
                           "/api/v1/releases/%s/cancel and post it again with a later "
                           "latest_start_at",
                           r->id, from, to, (long long)grid.step_s, path_id);
    int begin = rules->blackout_from_s, end = rules->blackout_to_s;
    return cdnopt_fail(err, CDNOPT_EINVAL,
                       "release '%s' has no legal start: every start from %s to %s puts a "
                       "batch of this %.1f MB release in the %02d:%02d-%02d:%02d blackout of "
                       "releases over %.1f MB; cancel it with POST /api/v1/releases/%s/cancel "
                       "and post it again with a later latest_start_at",
                       r->id, from, to, r->size_mb, begin / 3600, begin / 60 % 60, end / 3600,
                       end / 60 % 60, rules->blackout_min_size_mb, path_id);
}

/* Keep in *out the releases with a legal start on this baseline and list the others,
 * which start after the baseline's reach, in deferred: they stay pending for a later
 * re-plan. A release whose latest start has passed, one that no later samples can help
 * (check_startable_later), or a set where none can start is still an error. */
static int defer_unstartable(cdnopt_release_set *releases, const cdnopt_series *baseline,
                             const cdnopt_rules *rules, cdnopt_release_set **out, json_t *deferred,
                             char *err)
{
    *out = NULL;
    cdnopt_grid grid = cdnopt_grid_of(baseline);
    cdnopt_release *items = cdnopt_calloc(releases->n, sizeof *items);
    if (items == NULL)
        return cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory for %zu releases", releases->n);

    size_t n = 0;
    int rc = CDNOPT_OK;
    for (size_t i = 0; i < releases->n && rc == CDNOPT_OK; i++) {
        const cdnopt_release *r = &releases->items[i];
        bool past = cdnopt_release_latest_start(r, rules) < baseline->t[0];
        if (past || cdnopt_rules_options(rules, r, &grid, baseline->step_s, NULL, 0) > 0)
            items[n++] = *r;
        else if ((rc = check_startable_later(r, baseline, rules, err)) == CDNOPT_OK)
            json_array_append_new(deferred, json_string(r->id));
    }

    if (rc == CDNOPT_OK)
        rc = n == 0 ? check_startable(releases, baseline, rules, err)
                    : cdnopt_release_set_new(items, n, out, err);
    cdnopt_free(items);
    return rc;
}

/* Drop the steps of a forecast baseline before the clock `now`, because the planners
 * start releases from a baseline's first step and no batch can start in the past. */
static int trim_to_clock(cdnopt_series **baseline, int64_t now, char *err)
{
    cdnopt_series *b = *baseline;
    if (now <= b->t[0])
        return CDNOPT_OK;
    size_t first = (size_t)((now - b->t[0] + b->step_s - 1) / b->step_s);
    if (first + 2 > b->n) {
        char clock[32];
        serve_format_time(now, clock, sizeof clock);
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "the forecast has fewer than 2 steps after the service clock %s; "
                           "post the samples up to the clock first",
                           clock);
    }
    cdnopt_series *trimmed = NULL;
    int rc = cdnopt_series_slice(b, first, b->n - first, &trimmed, err);
    if (rc != CDNOPT_OK)
        return rc;
    cdnopt_series_free(b);
    *baseline = trimmed;
    return CDNOPT_OK;
}

static int replan(serve_job *job, const struct replan_args *a, char *err)
{
    struct cdnopt_server *server = job->server;
    cdnopt_release_set *releases = NULL;
    cdnopt_series *baseline = NULL;
    int rc = load_releases(server, &releases, err);
    /* Both baselines start at the clock or the first step after it, so that no planner
     * starts a release in the past and the DQN agent plans from that instant on. */
    int64_t now = serve_now(server);
    if (rc == CDNOPT_OK && a->against == AGAINST_OBSERVED)
        rc = serve_load_series(server, now, INT64_MAX, &baseline, err);
    else if (rc == CDNOPT_OK)
        rc = forecast_baseline(server, releases, &baseline, err);
    if (rc == CDNOPT_OK && a->against != AGAINST_OBSERVED)
        rc = trim_to_clock(&baseline, now, err);

    cdnopt_rules rules = cdnopt_rules_default();
    cdnopt_plan_params params = cdnopt_plan_params_default();
    params.objective = a->objective;
    if (a->time_limit_s > 0)
        params.time_limit_s = a->time_limit_s;
    cdnopt_plan_result result = {0};
    cdnopt_release_set *startable = NULL;
    json_t *deferred = json_array();
    if (rc == CDNOPT_OK)
        rc = defer_unstartable(releases, baseline, &rules, &startable, deferred, err);
    if (rc == CDNOPT_OK)
        rc = check_startable(startable, baseline, &rules, err);
    if (rc == CDNOPT_OK) {
        cdnopt_release_set_free(releases);
        releases = startable;
        startable = NULL;
        rc = run_planner(server, a->solver, baseline, releases, &rules, &params, &result, err);
    }

    json_t *figures = NULL;
    int64_t id = 0;
    if (rc == CDNOPT_OK) {
        figures = result_json(a, &result, baseline, releases->n);
        json_object_set(figures, "deferred", deferred);
        rc = save_schedule(server, releases, result.schedule, figures, &id, err);
    }
    if (rc == CDNOPT_OK) {
        serve_metrics_set_peaks(server->metrics, result.planned.peak_gbps, result.naive.peak_gbps);
        json_object_del(figures, "baseline_gbps");
        json_object_set_new(figures, "schedule_id", json_integer(id));
        job->result = json_pack("{s:o, s:O}", "job", serve_job_json(job), "schedule", figures);
        json_object_set_new(json_object_get(job->result, "job"), "status", json_string("done"));
        CDNOPT_LOG_INFO(SERVE_LOG,
                        "job_id=%llu event=replanned schedule_id=%lld releases=%zu "
                        "deferred=%zu naive_peak_gbps=%.3f planned_peak_gbps=%.3f solve_s=%.3f",
                        (unsigned long long)job->id, (long long)id, releases->n,
                        json_array_size(deferred), result.naive.peak_gbps,
                        result.planned.peak_gbps, result.solve_s);
    }
    json_decref(figures);
    json_decref(deferred);
    cdnopt_plan_result_clear(&result);
    cdnopt_series_free(baseline);
    cdnopt_release_set_free(startable);
    cdnopt_release_set_free(releases);
    return rc;
}

static void run_replan(serve_job *job)
{
    char err[CDNOPT_ERRMSG_MAX] = "";
    pthread_mutex_lock(&job->server->plan_lock);
    int rc = replan(job, job->arg, err);
    pthread_mutex_unlock(&job->server->plan_lock);
    if (rc != CDNOPT_OK) {
        CDNOPT_LOG_ERROR(SERVE_LOG, "job_id=%llu kind=replan error=\"%s\"",
                         (unsigned long long)job->id, err);
        job_fail(job, rc, err);
    }
}

/* Maximum wall-clock limit a re-plan may set for the exact solver: 7 days, in seconds. */
#define REPLAN_TIME_LIMIT_MAX_S (7 * 86400)

/* Name the JSON type of value for an error message. */
static const char *json_type_words(const json_t *value)
{
    switch (json_typeof(value)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "a value of another type";
}

/* The fields of a re-plan request and the JSON type each must have. */
static const struct replan_field {
    const char *name;
    json_type type; // JSON_TRUE means either boolean
    const char *expected;
} replan_fields[] = {
    {"against", JSON_STRING, "a string: observed or forecast"},
    {"solver", JSON_STRING, "a string: greedy, exact or dqn"},
    {"objective", JSON_STRING, "a string: peak or p95"},
    {"wait", JSON_TRUE, "true or false"},
    {"time_limit_s", JSON_REAL, "a number of seconds"},
};

/* Check that root is an object of known fields, each of its type, and respond with the
 * first field that is not. json_unpack_ex() names neither the field nor its type. */
static bool check_replan_fields(serve_request *req, json_t *root)
{
    if (!json_is_object(root)) {
        serve_respond_error(req, 400, "invalid_type", NULL,
                            "a re-plan request must be a JSON object such as "
                            "{\"against\": \"observed\", \"wait\": true}");
        return false;
    }
    const char *key;
    json_t *value;
    json_object_foreach(root, key, value)
    {
        const struct replan_field *field = NULL;
        for (size_t i = 0; i < sizeof replan_fields / sizeof replan_fields[0]; i++)
            if (strcmp(key, replan_fields[i].name) == 0)
                field = &replan_fields[i];
        if (field == NULL) {
            char shown[CDNOPT_QUOTE_SIZE];
            serve_respond_error(
                req, 400, "unknown_field", key,
                "unknown field '%s'; a re-plan request has against, solver, "
                "objective, wait and time_limit_s",
                cdnopt_text_quote(shown, sizeof shown, key, strlen(key), CDNOPT_QUOTE_BYTES));
            return false;
        }
        bool ok = field->type == JSON_STRING ? json_is_string(value)
                  : field->type == JSON_TRUE ? json_is_boolean(value)
                                             : json_is_number(value);
        if (!ok) {
            serve_respond_error(req, 400, "invalid_type", field->name,
                                "field '%s' must be %s, not %s", field->name, field->expected,
                                json_type_words(value));
            return false;
        }
    }
    return true;
}

static bool parse_replan(serve_request *req, json_t *root, struct replan_args *a, bool *wait)
{
    *a = (struct replan_args){AGAINST_OBSERVED, SOLVER_GREEDY, CDNOPT_OBJECTIVE_PEAK, 0};
    *wait = false;
    const char *against = NULL;
    const char *solver = NULL;
    const char *objective = NULL;
    if (!check_replan_fields(req, root))
        return false;
    json_error_t error;
    if (json_unpack_ex(root, &error, JSON_STRICT, "{s?s, s?s, s?s, s?b, s?F}", "against", &against,
                       "solver", &solver, "objective", &objective, "wait", wait, "time_limit_s",
                       &a->time_limit_s) != 0) {
        serve_respond_error(req, 400, "invalid_field", NULL,
                            "invalid re-plan request: %s; fields are against, solver, "
                            "objective, wait (bool), time_limit_s (number)",
                            error.text);
        return false;
    }
    /* The same range as the command line's --time-limit; 0 means the planner's default. */
    if (a->time_limit_s != 0 &&
        !(a->time_limit_s >= 1 && a->time_limit_s <= REPLAN_TIME_LIMIT_MAX_S)) {
        serve_respond_error(req, 422, "invalid_value", "time_limit_s",
                            "field 'time_limit_s' is %g; give 1 to %d seconds, or leave it out "
                            "for the default of 60",
                            a->time_limit_s, REPLAN_TIME_LIMIT_MAX_S);
        return false;
    }
    char shown[CDNOPT_QUOTE_SIZE];
    if (against != NULL && strcmp(against, "observed") != 0 && strcmp(against, "forecast") != 0) {
        serve_respond_error(req, 422, "invalid_value", "against",
                            "field 'against' is '%s'; use observed or forecast",
                            cdnopt_text_quote(shown, sizeof shown, against, strlen(against), 20));
        return false;
    }
    a->against =
        against != NULL && strcmp(against, "forecast") == 0 ? AGAINST_FORECAST : AGAINST_OBSERVED;
    a->solver = SOLVER_GREEDY;
    for (int k = 0; solver != NULL && k < 3; k++)
        if (strcmp(solver, solver_names[k]) == 0)
            a->solver = (enum solver)k;
    if (solver != NULL && strcmp(solver, solver_names[a->solver]) != 0) {
        serve_respond_error(req, 422, "invalid_value", "solver",
                            "field 'solver' is '%s'; use greedy, exact or dqn",
                            cdnopt_text_quote(shown, sizeof shown, solver, strlen(solver), 20));
        return false;
    }
    if (objective != NULL && cdnopt_objective_parse(objective, &a->objective) != CDNOPT_OK) {
        serve_respond_error(
            req, 422, "invalid_value", "objective", "field 'objective' is '%s'; use peak or p95",
            cdnopt_text_quote(shown, sizeof shown, objective, strlen(objective), 20));
        return false;
    }
    return true;
}

void serve_route_replan(struct cdnopt_server *server, serve_request *req)
{
    json_t *root = serve_parse_body(req);
    if (root == NULL)
        return;
    struct replan_args parsed;
    bool wait = false;
    bool ok = parse_replan(req, root, &parsed, &wait);
    json_decref(root);
    if (ok && parsed.solver == SOLVER_DQN && server->agent == NULL) {
        serve_respond_error(req, 422, "unprocessable", "solver",
                            "solver dqn needs an agent; start the server with --agent FILE");
        ok = false;
    }
    if (!ok || serve_shed_job(server, req))
        return;

    struct replan_args *args = cdnopt_malloc(sizeof *args);
    serve_job *job =
        args != NULL ? serve_job_new(server, "replan", run_replan, args, cdnopt_free) : NULL;
    if (job == NULL) {
        cdnopt_free(args);
        serve_respond_error(req, 503, "out_of_memory", NULL, "out of memory queuing a job");
        return;
    }
    *args = parsed;
    submit_job(server, req, job, wait);
}

void serve_route_job(struct cdnopt_server *server, serve_request *req)
{
    char *end = NULL;
    unsigned long long id = strtoull(req->path_id, &end, 10);
    serve_job *job = end != req->path_id && *end == '\0' ? serve_pool_find(server->pool, id) : NULL;
    if (job == NULL) {
        char shown[CDNOPT_QUOTE_SIZE];
        serve_respond_error(req, 404, "not_found", "id",
                            "job '%s' not found; only the latest jobs are kept",
                            cdnopt_text_quote(shown, sizeof shown, req->path_id,
                                              strlen(req->path_id), CDNOPT_QUOTE_BYTES));
        return;
    }
    json_t *body = atomic_load(&job->status) == JOB_DONE
                       ? json_incref(job->result)
                       : json_pack("{s:o}", "job", serve_job_json(job));
    serve_job_release(job);
    serve_respond_json(req, 200, body);
}

/* ------------------------------------------------------------------------- */
/* Schedule                                                                  */
/* ------------------------------------------------------------------------- */

static void schedule_csv(serve_request *req, const cdnopt_store_schedule *s)
{
    /* An id written as a quoted CSV field takes at most twice its bytes plus two quotes. */
    size_t cap = 64 + s->n_items * (2 * CDNOPT_STORE_ID_MAX + 48);
    char *text = cdnopt_malloc(cap);
    if (text == NULL) {
        serve_respond_error(req, 503, "out_of_memory", NULL, "out of memory");
        return;
    }
    size_t len = (size_t)snprintf(text, cap, "id,start_at,batch_ratio\n");
    for (size_t i = 0; i < s->n_items; i++) {
        char id[2 * CDNOPT_STORE_ID_MAX + 2], start[32], ratio[32];
        cdnopt_csv_field(id, sizeof id, s->items[i].id);
        serve_format_time(s->items[i].start_at, start, sizeof start);
        serve_format_real(s->items[i].batch_ratio, ratio, sizeof ratio);
        len += (size_t)snprintf(text + len, cap - len, "%s,%s,%s\n", id, start, ratio);
    }
    serve_respond_text(req, 200, "text/csv; charset=utf-8", text, len);
    cdnopt_free(text);
}

/* Add one release's hourly profile, started at start, to total on the grid. */
static void add_profile(const double *profile, size_t hours, int64_t start, int64_t origin,
                        int64_t step, size_t n, double *total)
{
    for (size_t i = 0; i < n; i++) {
        int64_t t = origin + (int64_t)i * step;
        if (t < start)
            continue;
        size_t h = (size_t)((t - start) / 3600);
        if (h >= hours)
            break;
        total[i] += profile[h];
    }
}

/* bsearch comparator: key is an id string, element a stored release. */
static int compare_id_to_release(const void *key, const void *element)
{
    return strcmp(key, ((const cdnopt_store_release *)element)->id);
}

/* The series the dashboard stacks: release traffic by batch ratio, the naive
 * total, and the baseline the schedule was planned against. */
static json_t *schedule_series(struct cdnopt_server *server, const cdnopt_store_schedule *s,
                               json_t *figures)
{
    json_t *baseline = json_object_get(figures, "baseline_gbps");
    int64_t origin = 0;
    serve_parse_time(json_string_value(json_object_get(figures, "baseline_from")), &origin);
    int64_t step = json_integer_value(json_object_get(figures, "baseline_step_s"));
    size_t n = json_array_size(baseline);
    if (step <= 0 || n == 0)
        return json_null();

    cdnopt_rules rules = cdnopt_rules_default();
    double *waves = cdnopt_calloc((rules.n_ratios + 1) * n, sizeof *waves);
    double *profile = cdnopt_malloc(CDNOPT_PROFILE_MAX_H * sizeof *profile);
    if (waves == NULL || profile == NULL) {
        cdnopt_free(waves);
        cdnopt_free(profile);
        return json_null();
    }
    double *naive = waves + rules.n_ratios * n;

    /* One query for all pending releases, looked up by id; a release cancelled
     * since the plan is missing there and will not roll out. */
    cdnopt_store_release *pending = NULL;
    size_t n_pending = 0;
    cdnopt_store_release_pending(server->store, &pending, &n_pending, NULL);
    for (size_t i = 0; i < s->n_items; i++) {
        const cdnopt_store_release *stored = n_pending > 0
                                                 ? bsearch(s->items[i].id, pending, n_pending,
                                                           sizeof *pending, compare_id_to_release)
                                                 : NULL;
        if (stored == NULL)
            continue;
        cdnopt_release r = {.size_mb = stored->size_mb, .users = stored->users};
        size_t k = 0;
        while (k + 1 < rules.n_ratios && rules.batch_ratios[k] < s->items[i].batch_ratio - 1e-9)
            k++;
        size_t hours = cdnopt_release_profile(&r, s->items[i].batch_ratio, &rules, profile);
        add_profile(profile, hours, s->items[i].start_at, origin, step, n, waves + k * n);
        hours = cdnopt_release_profile(&r, 1.0, &rules, profile);
        add_profile(profile, hours, stored->planned_at, origin, step, n, naive);
    }
    cdnopt_free(pending);

    json_t *stacks = json_array();
    for (size_t k = 0; k < rules.n_ratios; k++) {
        json_t *values = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(values, json_real(waves[k * n + i]));
        json_array_append_new(
            stacks, json_pack("{s:f, s:o}", "batch_ratio", rules.batch_ratios[k], "gbps", values));
    }
    json_t *naive_total = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(naive_total,
                              json_real(naive[i] + json_number_value(json_array_get(baseline, i))));
    cdnopt_free(waves);
    cdnopt_free(profile);
    return json_pack("{s:O, s:I, s:O, s:o, s:o}", "start",
                     json_object_get(figures, "baseline_from"), "step_s", (json_int_t)step,
                     "baseline_gbps", baseline, "waves", stacks, "naive_total_gbps", naive_total);
}

static json_t *schedule_json(struct cdnopt_server *server, serve_request *req,
                             const cdnopt_store_schedule *s)
{
    json_t *figures = json_loads(s->figures_json, 0, NULL);
    if (figures == NULL)
        figures = json_object();
    const char *series = serve_query(req, "series");
    json_t *drawn =
        series != NULL && strcmp(series, "0") != 0 ? schedule_series(server, s, figures) : NULL;
    json_object_del(figures, "baseline_gbps");

    json_t *items = json_array();
    for (size_t i = 0; i < s->n_items; i++) {
        char start[32];
        serve_format_time(s->items[i].start_at, start, sizeof start);
        json_array_append_new(items, json_pack("{s:s, s:s, s:f}", "id", s->items[i].id, "start_at",
                                               start, "batch_ratio", s->items[i].batch_ratio));
    }
    char created[32];
    serve_format_time(s->created_at, created, sizeof created);
    json_t *body = json_pack("{s:I, s:s, s:o, s:o}", "id", (json_int_t)s->id, "created_at", created,
                             "figures", figures, "items", items);
    if (drawn != NULL)
        json_object_set_new(body, "series", drawn);
    return body;
}

void serve_route_schedule(struct cdnopt_server *server, serve_request *req)
{
    const char *format = serve_query(req, "format");
    if (format != NULL && strcmp(format, "csv") != 0 && strcmp(format, "json") != 0) {
        serve_respond_error(req, 400, "invalid_value", "format",
                            "invalid format '%s': use csv or json, or leave it out for json",
                            format);
        return;
    }

    cdnopt_store_schedule s;
    char err[CDNOPT_ERRMSG_MAX] = "";
    int rc = cdnopt_store_schedule_latest(server->store, &s, err);
    if (rc == CDNOPT_ENOTFOUND) {
        serve_respond_error(req, 404, "not_found", NULL, "%s", err);
        return;
    }
    if (rc != CDNOPT_OK) {
        serve_respond_error(req, 503, "storage_unavailable", NULL, "%s", err);
        return;
    }
    if (format != NULL && strcmp(format, "csv") == 0)
        schedule_csv(req, &s);
    else
        serve_respond_json(req, 200,
                           json_pack("{s:o}", "schedule", schedule_json(server, req, &s)));
    cdnopt_store_schedule_fini(&s);
}

/* ------------------------------------------------------------------------- */
/* Forecast                                                                  */
/* ------------------------------------------------------------------------- */

struct forecast_args {
    int horizon;   /* steps, 0 for one day */
    int n_samples; /* MC paths */
};

static json_t *forecast_json(const cdnopt_forecast_result *f, double safety_ratio)
{
    json_t *times = json_array();
    json_t *mean = json_array();
    json_t *lower = json_array();
    json_t *upper = json_array();
    json_t *critical = json_array();
    for (int h = 0; h < f->horizon; h++) {
        char text[32];
        serve_format_time(f->t[h], text, sizeof text);
        json_array_append_new(times, json_string(text));
        json_array_append_new(mean, json_real(f->mean[h]));
        json_array_append_new(lower, json_real(f->lower[h]));
        json_array_append_new(upper, json_real(f->upper[h]));
        json_array_append_new(critical, json_real(f->critical[h]));
    }
    return json_pack("{s:I, s:b, s:f, s:o, s:o, s:o, s:o, s:o}", "step_s", (json_int_t)f->step_s,
                     "calibrated", f->calibrated, "safety", safety_ratio, "timestamps", times,
                     "mean_gbps", mean, "lower_gbps", lower, "upper_gbps", upper, "critical_gbps",
                     critical);
}

static void run_forecast(serve_job *job)
{
    const struct forecast_args *a = job->arg;
    struct cdnopt_server *server = job->server;
    char err[CDNOPT_ERRMSG_MAX] = "";
    cdnopt_series *history = NULL;
    cdnopt_forecast_result *f = NULL;
    int rc = load_history(server, a->horizon, &history, err);
    if (rc == CDNOPT_OK)
        rc = serve_forecaster_run(server->forecaster, history, a->horizon, a->n_samples, &f, err);
    if (rc == CDNOPT_OK) {
        serve_monitor_check_forecast(server->monitor, f->t, f->critical, (size_t)f->horizon);
        job->result = json_pack("{s:o}", "forecast",
                                forecast_json(f, cdnopt_forecast_params_default().safety));
    } else {
        CDNOPT_LOG_ERROR(SERVE_LOG, "job_id=%llu kind=forecast error=\"%s\"",
                         (unsigned long long)job->id, err);
        job_fail(job, rc, err);
    }
    cdnopt_forecast_result_free(f);
    cdnopt_series_free(history);
}

void serve_route_forecast(struct cdnopt_server *server, serve_request *req)
{
    if (server->forecaster == NULL) {
        req->retry_after_s = 0;
        serve_respond_error(req, 503, "no_model", NULL,
                            "no forecasting model is loaded; start the server with --model "
                            "FILE");
        return;
    }
    /* The bounds cap the model steps one anonymous request can queue (horizon x paths). */
    int64_t step_s = serve_forecaster_step_s(server->forecaster);
    long horizon_max = (long)(FORECAST_HORIZON_MAX_S / (step_s > 0 ? step_s : 300));
    long horizon = 0, n_samples = FORECAST_DEFAULT_SAMPLES;
    if (!serve_query_integer(req, "horizon", 0, horizon_max, "steps (7 days)", &horizon) ||
        !serve_query_integer(req, "samples", 2, FORECAST_SAMPLES_MAX, "paths", &n_samples))
        return;
    struct forecast_args parsed = {(int)horizon, (int)n_samples};
    if (serve_shed_job(server, req))
        return;

    struct forecast_args *args = cdnopt_malloc(sizeof *args);
    serve_job *job =
        args != NULL ? serve_job_new(server, "forecast", run_forecast, args, cdnopt_free) : NULL;
    if (job == NULL) {
        cdnopt_free(args);
        serve_respond_error(req, 503, "out_of_memory", NULL, "out of memory queuing a job");
        return;
    }
    *args = parsed;
    submit_job(server, req, job, true);
}
