/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Planning with a trained agent: one greedy-policy episode per release day, in day
 * order, each on the baseline plus the traffic of the days already planned. With
 * several release days, PLAN_ROUNDS - 1 more rounds plan every day again on the
 * traffic of all the others, and the round with the lowest objective is kept. When a
 * forecast is given, the agent observes it in place of the baseline. There is also the
 * `dqn+greedy` variant, which hands the agent's schedule to the greedy planner's
 * local search (plan_local_search in greedy.c) as its starting point.
 */
#include "dqn-impl.h"
#include "plan-impl.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Rounds of planning a release set of several days. The first round plans the days in
 * order, each on the traffic of the days before it. Each further round plans every day
 * again on the traffic of all other days as the round before placed them. This matters
 * because a day planned first cannot see the later days' releases that will compete for
 * its hours, so the first round tends to leave the last days with the highest peaks.
 * NOTE: 4 is a compromise between time and peak, measured on one week of releases. */
#define PLAN_ROUNDS 4

/* Copy the releases planned on the day starting at midnight (or, with other_days, those
 * planned on any other day) into a new set. index[k] receives the position in the full
 * set of the k-th copy. */
static int day_subset(const cdnopt_release_set *releases, int64_t midnight, bool other_days,
                      size_t *index, cdnopt_release_set **out, char *err)
{
    cdnopt_release *items = cdnopt_malloc(releases->n * sizeof *items);
    if (!items)
        return cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory for a day of releases");
    size_t n = 0;
    for (size_t i = 0; i < releases->n; i++) {
        bool same_day = cdnopt_civil_day_start(releases->items[i].planned_at) == midnight;
        if (same_day == other_days)
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

/* Play the environment's one-step expert to the end of the episode. */
static int run_expert_episode(cdnopt_env *env, char *err)
{
    while (cdnopt_env_phase_of(env) != CDNOPT_ENV_DONE) {
        int action = -1;
        int rc = cdnopt_env_expert_action(env, &action);
        if (rc == CDNOPT_OK && action < 0)
            rc = cdnopt_fail(err, CDNOPT_EINVAL, "the expert found no valid action");
        cdnopt_env_step_result result;
        if (rc == CDNOPT_OK)
            rc = cdnopt_env_step(env, action, &result, err);
        if (rc != CDNOPT_OK)
            return rc;
    }
    return CDNOPT_OK;
}

/* Plan one day on the backgrounds with the agent (or the expert when agent is NULL),
 * then add that day's traffic to both. params gives the rules and the objective. */
static int plan_day(cdnopt_agent *agent, plan_backgrounds *bg, const cdnopt_release_set *day,
                    const size_t *index, const cdnopt_env_params *params, int64_t midnight,
                    cdnopt_schedule *schedule, char *err)
{
    cdnopt_series *background = bg->actual;
    const cdnopt_rules *rules = &params->rules;
    cdnopt_env_params ep = *params;
    ep.day_start = midnight;
    ep.observed = bg->seen;
    cdnopt_env *env = NULL;
    cdnopt_schedule *part = NULL;
    int rc = cdnopt_env_new(background, day, &ep, &env, err);
    if (rc == CDNOPT_OK)
        rc = agent ? cdnopt_agent_run_episode(agent, env, err) : run_expert_episode(env, err);
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

/* Objective (peak or p95, Gbit/s) of schedule on series. */
static int schedule_objective(const cdnopt_series *series, const cdnopt_release_set *releases,
                              const cdnopt_schedule *schedule, const cdnopt_env_params *params,
                              double *value)
{
    cdnopt_figures figures;
    int rc = cdnopt_schedule_evaluate(series, releases, schedule, &params->rules, NULL,
                                      &figures);
    *value = params->objective == CDNOPT_OBJECTIVE_P95 ? figures.p95_gbps : figures.peak_gbps;
    return rc;
}

/* Write into *out a copy of base plus the traffic of the releases not planned on the
 * day starting at midnight, placed as schedule (indexed like releases) has them. */
static int background_without_day(const cdnopt_series *base, const cdnopt_release_set *releases,
                                  const cdnopt_schedule *schedule, const cdnopt_rules *rules,
                                  int64_t midnight, size_t *index, cdnopt_series **out,
                                  char *err)
{
    cdnopt_release_set *others = NULL;
    cdnopt_schedule *part = NULL;
    int rc = cdnopt_series_slice(base, 0, base->n, out, err);
    if (rc == CDNOPT_OK)
        rc = day_subset(releases, midnight, true, index, &others, err);
    if (rc == CDNOPT_OK && others->n > 0)
        rc = cdnopt_schedule_new(others->n, &part);
    if (rc == CDNOPT_OK && others->n > 0) {
        for (size_t k = 0; k < others->n; k++) {
            part->start_at[k] = schedule->start_at[index[k]];
            part->batch_ratio[k] = schedule->batch_ratio[index[k]];
        }
        cdnopt_figures figures;
        rc = cdnopt_schedule_evaluate(base, others, part, rules, (*out)->v, &figures);
    }
    cdnopt_schedule_free(part);
    cdnopt_release_set_free(others);
    return rc;
}

/* Plan each release day again, in order, on the baseline plus the traffic of every other
 * day as schedule places it, writing the new placements into schedule. */
static int replan_days(cdnopt_agent *agent, const cdnopt_series *baseline,
                       const cdnopt_series *observed, const cdnopt_release_set *releases,
                       const cdnopt_env_params *params, cdnopt_schedule *schedule,
                       size_t *index, char *err)
{
    int rc = CDNOPT_OK;
    for (int64_t day = next_day(releases, INT64_MIN); rc == CDNOPT_OK && day != INT64_MAX;
         day = next_day(releases, day)) {
        plan_backgrounds bg = {NULL, NULL};
        cdnopt_release_set *subset = NULL;
        rc = background_without_day(baseline, releases, schedule, &params->rules, day, index,
                                    &bg.actual, err);
        if (rc == CDNOPT_OK && observed && observed != baseline)
            rc = background_without_day(observed, releases, schedule, &params->rules, day,
                                        index, &bg.seen, err);
        if (rc == CDNOPT_OK)
            rc = day_subset(releases, day, false, index, &subset, err);
        if (rc == CDNOPT_OK)
            rc = plan_day(agent, &bg, subset, index, params, day, schedule, err);
        cdnopt_release_set_free(subset);
        cdnopt_series_free(bg.seen);
        cdnopt_series_free(bg.actual);
    }
    return rc;
}

static void schedule_copy(cdnopt_schedule *to, const cdnopt_schedule *from)
{
    memcpy(to->start_at, from->start_at, from->n * sizeof *from->start_at);
    memcpy(to->batch_ratio, from->batch_ratio, from->n * sizeof *from->batch_ratio);
}

/* Plan every day again (replan_days) rounds - 1 times. schedule ends as the round, the
 * first included, with the lowest objective on the series the agent observes. */
static int replan_rounds(cdnopt_agent *agent, const cdnopt_series *baseline,
                         const cdnopt_series *observed, const cdnopt_release_set *releases,
                         const cdnopt_env_params *params, int rounds,
                         cdnopt_schedule *schedule, size_t *index, char *err)
{
    const cdnopt_series *seen = observed ? observed : baseline;
    cdnopt_schedule *best = NULL;
    double best_value = 0;
    int rc = cdnopt_schedule_new(releases->n, &best);
    if (rc == CDNOPT_OK)
        rc = schedule_objective(seen, releases, schedule, params, &best_value);
    if (rc == CDNOPT_OK)
        schedule_copy(best, schedule);
    for (int round = 1; rc == CDNOPT_OK && round < rounds; round++) {
        double value = 0;
        rc = replan_days(agent, baseline, observed, releases, params, schedule, index, err);
        if (rc == CDNOPT_OK)
            rc = schedule_objective(seen, releases, schedule, params, &value);
        if (rc == CDNOPT_OK && value < best_value) {
            best_value = value;
            schedule_copy(best, schedule);
        }
    }
    if (rc == CDNOPT_OK)
        schedule_copy(schedule, best);
    cdnopt_schedule_free(best);
    return rc;
}

/* Plan every release day in order with the agent, or with the expert when agent is NULL. */
static int plan_days(cdnopt_agent *agent, const cdnopt_series *baseline,
                     const cdnopt_series *observed, const cdnopt_release_set *releases,
                     const cdnopt_env_params *params, cdnopt_schedule *schedule, char *err)
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
        rc = day_subset(releases, day, false, index, &subset, err);
        if (rc == CDNOPT_OK)
            rc = plan_day(agent, &bg, subset, index, params, day, schedule, err);
        cdnopt_release_set_free(subset);
    }
    bool several_days = next_day(releases, next_day(releases, INT64_MIN)) != INT64_MAX;
    if (rc == CDNOPT_OK && several_days)
        rc = replan_rounds(agent, baseline, observed, releases, params, PLAN_ROUNDS, schedule,
                           index, err);
    cdnopt_series_free(bg.seen);
    cdnopt_series_free(bg.actual);
    cdnopt_free(index);
    return rc;
}

int cdnopt_agent_plan_observed(cdnopt_agent *agent, const cdnopt_series *baseline,
                               const cdnopt_series *observed,
                               const cdnopt_release_set *releases, const cdnopt_rules *rules,
                               cdnopt_schedule *schedule, char *err)
{
    cdnopt_env_params params = cdnopt_env_params_default();
    params.rules = *rules;
    params.objective = agent->params.objective;
    return plan_days(agent, baseline, observed, releases, &params, schedule, err);
}

int cdnopt_expert_plan(const cdnopt_series *baseline, const cdnopt_release_set *releases,
                       const cdnopt_env_params *params, cdnopt_schedule *schedule, char *err)
{
    return plan_days(NULL, baseline, params->observed, releases, params, schedule, err);
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

/*
 * Copy releases with each planned_at off the baseline's grid moved up to the next grid
 * step, keeping its latest start. The planner lists whole-hour delays from that step,
 * while the agent's delays count from planned_at itself, so an off-grid planned_at
 * left the agent no legal action and its forced start outside the planner's options.
 */
static int snap_to_grid(const cdnopt_release_set *releases, const cdnopt_series *baseline,
                        const cdnopt_rules *rules, cdnopt_release_set **out, char *err)
{
    cdnopt_release *items = cdnopt_malloc((releases->n > 0 ? releases->n : 1) * sizeof *items);
    if (items == NULL)
        return cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory for %zu releases", releases->n);
    for (size_t i = 0; i < releases->n; i++) {
        items[i] = releases->items[i];
        int64_t off = (items[i].planned_at - baseline->t[0]) % baseline->step_s;
        off = off < 0 ? off + baseline->step_s : off;
        if (off == 0)
            continue;
        items[i].latest_start_at = cdnopt_release_latest_start(&items[i], rules);
        items[i].has_latest = true;
        items[i].planned_at += baseline->step_s - off;
    }
    int rc = cdnopt_release_set_new(items, releases->n, out, err);
    cdnopt_free(items);
    return rc;
}

static int plan_with_problem(cdnopt_agent *agent, const plan_problem *problem,
                             const cdnopt_plan_params *params, bool repair, size_t *choice,
                             cdnopt_plan_result *out, char *err)
{
    cdnopt_schedule *schedule = NULL;
    cdnopt_release_set *snapped = NULL;
    int rc = cdnopt_schedule_new(problem->releases->n, &schedule);
    if (rc == CDNOPT_OK)
        rc = snap_to_grid(problem->releases, problem->baseline, problem->rules, &snapped, err);
    if (rc == CDNOPT_OK)
        rc = cdnopt_agent_plan(agent, problem->baseline, snapped, problem->rules, schedule,
                               err);
    cdnopt_release_set_free(snapped);
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

/* Whether the rules allow at least one of the agent's local-action ratios, compared as
 * the rules compare a schedule's ratio (within 1e-9). */
static bool rules_allow_agent_ratio(const cdnopt_rules *rules)
{
    for (int k = 0; k < CDNOPT_ENV_RATIOS; k++)
        for (size_t i = 0; i < rules->n_ratios; i++)
            if (fabs(rules->batch_ratios[i] - cdnopt_env_ratios[k]) < 1e-9)
                return true;
    return false;
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

    /* The agent's episodes minimise the figure it was trained on, and only the local
     * search of repair follows params->objective. */
    const char *trained = cdnopt_objective_name(agent->params.objective);
    const char *requested = cdnopt_objective_name(params->objective);
    if (!repair && agent->params.objective != params->objective)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "the agent was trained for the %s objective and the dqn solver plans "
                           "for that alone, not for %s; ask for %s, use dqn+greedy, whose local "
                           "search minimises %s, or train an agent with --objective %s",
                           trained, requested, trained, requested, requested);
    if (!repair && !rules_allow_agent_ratio(rules))
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "the rules allow none of the batch ratios the agent chooses from "
                           "(0.1, 0.3 and 0.5), so the dqn solver could only place every "
                           "release at its latest start; use dqn+greedy or greedy, or allow "
                           "one of those ratios");

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
                 "delays and ratios 0.1/0.3/0.5, one episode per release day, the best of "
                 "%d rounds when there are several days",
                 agent->episodes, PLAN_ROUNDS);
    return CDNOPT_OK;
}
