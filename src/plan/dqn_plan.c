/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Planning with a trained agent: one greedy-policy episode per release day, in day
 * order, each on the baseline plus the traffic of the days already planned. When a
 * forecast is given, the agent observes it in place of the baseline. There is also the
 * `dqn+greedy` variant, which hands the agent's schedule to the greedy planner's
 * local search (plan_local_search in greedy.c) as its starting point.
 */
#include "dqn-impl.h"
#include "plan-impl.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Copy the releases planned on the day starting at midnight into a new set; index[k]
 * receives the position in the full set of the k-th copy. */
static int day_subset(const cdnopt_release_set *releases, int64_t midnight, size_t *index,
                      cdnopt_release_set **out, char *err)
{
    cdnopt_release *items = cdnopt_malloc(releases->n * sizeof *items);
    if (!items)
        return cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory for a day of releases");
    size_t n = 0;
    for (size_t i = 0; i < releases->n; i++) {
        if (cdnopt_civil_day_start(releases->items[i].planned_at) != midnight)
            continue;
        index[n] = i;
        items[n++] = releases->items[i];
    }
    int rc = cdnopt_release_set_new(items, n, out, err);
    cdnopt_free(items);
    return rc;
}

/* Next release day after midnight `after` (or the first when after is INT64_MIN). */
static int64_t next_day(const cdnopt_release_set *releases, int64_t after)
{
    int64_t best = INT64_MAX;
    for (size_t i = 0; i < releases->n; i++) {
        int64_t day = cdnopt_civil_day_start(releases->items[i].planned_at);
        if (day > after && day < best)
            best = day;
    }
    return best;
}

/* Background traffic of the days still to plan: the true one and, when the agent
 * observes a forecast, the forecast one. */
typedef struct plan_backgrounds {
    cdnopt_series *actual;
    cdnopt_series *seen; /* NULL when the agent observes the actual background */
} plan_backgrounds;

/* Plan one day on the backgrounds, then add that day's traffic to both. */
static int plan_day(cdnopt_agent *agent, plan_backgrounds *bg, const cdnopt_release_set *day,
                    const size_t *index, const cdnopt_rules *rules, int64_t midnight,
                    cdnopt_schedule *schedule, char *err)
{
    cdnopt_series *background = bg->actual;
    cdnopt_env_params ep = cdnopt_env_params_default();
    ep.rules = *rules;
    ep.objective = agent->params.objective;
    ep.day_start = midnight;
    ep.observed = bg->seen;
    cdnopt_env *env = NULL;
    cdnopt_schedule *part = NULL;
    int rc = cdnopt_env_new(background, day, &ep, &env, err);
    if (rc == CDNOPT_OK)
        rc = cdnopt_agent_run_episode(agent, env, err);
    if (rc == CDNOPT_OK)
        rc = cdnopt_schedule_new(day->n, &part);
    if (rc == CDNOPT_OK)
        rc = cdnopt_env_schedule(env, part);
    if (rc == CDNOPT_OK) {
        /* The day's traffic joins the background the next days are planned on. */
        cdnopt_figures figures;
        rc = cdnopt_schedule_evaluate(background, day, part, rules, background->v, &figures);
        if (rc == CDNOPT_OK && bg->seen)
            rc = cdnopt_schedule_evaluate(bg->seen, day, part, rules, bg->seen->v, &figures);
        for (size_t k = 0; rc == CDNOPT_OK && k < day->n; k++) {
            schedule->start_at[index[k]] = part->start_at[k];
            schedule->batch_ratio[index[k]] = part->batch_ratio[k];
        }
    }
    cdnopt_schedule_free(part);
    cdnopt_env_free(env);
    return rc;
}

int cdnopt_agent_plan_observed(cdnopt_agent *agent, const cdnopt_series *baseline,
                               const cdnopt_series *observed,
                               const cdnopt_release_set *releases, const cdnopt_rules *rules,
                               cdnopt_schedule *schedule, char *err)
{
    if (schedule->n != releases->n)
        return cdnopt_fail(err, CDNOPT_EINVAL, "schedule of %zu entries for %zu releases",
                           schedule->n, releases->n);
    if (releases->n == 0)
        return CDNOPT_OK;

    plan_backgrounds bg = {NULL, NULL};
    size_t *index = cdnopt_malloc(releases->n * sizeof *index);
    int rc = index ? cdnopt_series_slice(baseline, 0, baseline->n, &bg.actual, err)
                   : cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory for the plan");
    if (rc == CDNOPT_OK && observed && observed != baseline)
        rc = cdnopt_series_slice(observed, 0, observed->n, &bg.seen, err);
    for (int64_t day = next_day(releases, INT64_MIN); rc == CDNOPT_OK && day != INT64_MAX;
         day = next_day(releases, day)) {
        cdnopt_release_set *subset = NULL;
        rc = day_subset(releases, day, index, &subset, err);
        if (rc == CDNOPT_OK)
            rc = plan_day(agent, &bg, subset, index, rules, day, schedule, err);
        cdnopt_release_set_free(subset);
    }
    cdnopt_series_free(bg.seen);
    cdnopt_series_free(bg.actual);
    cdnopt_free(index);
    return rc;
}

int cdnopt_agent_plan(cdnopt_agent *agent, const cdnopt_series *baseline,
                      const cdnopt_release_set *releases, const cdnopt_rules *rules,
                      cdnopt_schedule *schedule, char *err)
{
    return cdnopt_agent_plan_observed(agent, baseline, NULL, releases, rules, schedule, err);
}

/* ------------------------------------------------------------------------- */
/* Planner interface                                                         */
/* ------------------------------------------------------------------------- */

/* Find each scheduled (start, ratio) among the problem's options. */
static int to_choice(const plan_problem *problem, const cdnopt_schedule *schedule,
                     size_t *choice, char *err)
{
    const cdnopt_series *base = problem->baseline;
    for (size_t i = 0; i < problem->releases->n; i++) {
        int64_t first = (schedule->start_at[i] - base->t[0]) / base->step_s;
        size_t lo = problem->option_offset[i], hi = problem->option_offset[i + 1];
        size_t k = lo;
        for (; k < hi; k++) {
            const plan_option *o = &problem->options[k];
            double ratio = problem->rules->batch_ratios[o->ratio];
            if (o->first == first && fabs(ratio - schedule->batch_ratio[i]) < 1e-9)
                break;
        }
        if (k == hi)
            return cdnopt_fail(err, CDNOPT_EINVAL,
                               "the agent placed release %s at an option the planner does "
                               "not list", problem->releases->items[i].id);
        choice[i] = k - lo;
    }
    return CDNOPT_OK;
}

static int plan_with_problem(cdnopt_agent *agent, const plan_problem *problem,
                             const cdnopt_plan_params *params, bool repair, size_t *choice,
                             cdnopt_plan_result *out, char *err)
{
    cdnopt_schedule *schedule = NULL;
    int rc = cdnopt_schedule_new(problem->releases->n, &schedule);
    if (rc == CDNOPT_OK)
        rc = cdnopt_agent_plan(agent, problem->baseline, problem->releases, problem->rules,
                               schedule, err);
    if (rc == CDNOPT_OK)
        rc = to_choice(problem, schedule, choice, err);
    cdnopt_schedule_free(schedule);
    if (rc == CDNOPT_OK && repair) {
        rc = plan_local_search(problem, params->objective, params->local_search_passes, choice);
        if (rc != CDNOPT_OK)
            rc = cdnopt_fail(err, rc, "local search failed: %s", cdnopt_strerror(rc));
    }
    if (rc == CDNOPT_OK)
        rc = plan_finish(problem, choice, out, err);
    return rc;
}

static double objective_value(const cdnopt_plan_result *r, cdnopt_objective objective)
{
    return objective == CDNOPT_OBJECTIVE_P95 ? r->planned.p95_gbps : r->planned.peak_gbps;
}

/* Run greedy from scratch as well and keep its result in *out when its objective is
 * lower, so that dqn+greedy is never worse than greedy. *took_greedy tells which. */
static int keep_better_than_greedy(const cdnopt_series *baseline,
                                   const cdnopt_release_set *releases, const cdnopt_rules *rules,
                                   const cdnopt_plan_params *params, cdnopt_plan_result *out,
                                   bool *took_greedy, char *err)
{
    cdnopt_plan_result greedy;
    int rc = cdnopt_plan_greedy(baseline, releases, rules, params, &greedy, err);
    if (rc != CDNOPT_OK)
        return rc;

    *took_greedy =
        objective_value(&greedy, params->objective) < objective_value(out, params->objective);
    if (*took_greedy) {
        cdnopt_plan_result_clear(out);
        *out = greedy;
    } else {
        cdnopt_plan_result_clear(&greedy);
    }
    return CDNOPT_OK;
}

int cdnopt_plan_dqn(cdnopt_agent *agent, const cdnopt_series *baseline,
                    const cdnopt_release_set *releases, const cdnopt_rules *rules,
                    const cdnopt_plan_params *params, bool repair, cdnopt_plan_result *out,
                    char *err)
{
    memset(out, 0, sizeof *out);
    if (params->start_step_s != 3600)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "the dqn solver plans whole-hour delays; a start step of %lld s is "
                           "not supported", (long long)params->start_step_s);
    double started = cdnopt_clock_s();
    plan_problem problem;
    int rc = plan_problem_init(&problem, baseline, releases, rules, params->start_step_s, err);
    if (rc != CDNOPT_OK)
        return rc;

    size_t *choice = cdnopt_calloc(releases->n > 0 ? releases->n : 1, sizeof *choice);
    rc = choice ? plan_with_problem(agent, &problem, params, repair, choice, out, err)
                : cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory for the plan");
    cdnopt_free(choice);
    plan_problem_free(&problem);
    if (rc != CDNOPT_OK) {
        cdnopt_plan_result_clear(out);
        return rc;
    }

    bool took_greedy = false;
    if (repair) {
        rc = keep_better_than_greedy(baseline, releases, rules, params, out, &took_greedy, err);
        if (rc != CDNOPT_OK) {
            cdnopt_plan_result_clear(out);
            return rc;
        }
    }
    out->solve_s = cdnopt_clock_s() - started;
    if (repair)
        snprintf(out->method, sizeof out->method,
                 "masked DQN agent (%d training episodes), then up to %d greedy local-search "
                 "passes minimising %s; %s",
                 agent->episodes, params->local_search_passes,
                 cdnopt_objective_name(params->objective),
                 took_greedy ? "greedy from scratch was lower, so its schedule is returned"
                             : "kept, as greedy from scratch was not lower");
    else
        snprintf(out->method, sizeof out->method,
                 "masked DQN agent (%d training episodes), greedy policy over whole-hour "
                 "delays and ratios 0.1/0.3/0.5", agent->episodes);
    return CDNOPT_OK;
}
