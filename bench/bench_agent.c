/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Time the DQN planner on a workload folder (baseline.csv, releases.csv) and write its
 * schedules for the referee.
 * - Decision latency: one local decision (observation, masks, mask network, Q-network,
 *   argmax) timed over every local step of a greedy episode, reported as the median
 *   and the 99th percentile in microseconds.
 * - Planning time of the whole workload with cdnopt_agent_plan(), in seconds, and per
 *   release in microseconds.
 * - Schedules of the solvers dqn, dqn+greedy and greedy (and exact when the variable
 *   BENCH_AGENT_EXACT is set) in OUT_DIR, with their peak and p95 from the dense
 *   evaluation (score them with the referee as well).
 *
 * Usage: bench_agent AGENT.h5 WORKLOAD_DIR [OUT_DIR] [repeats]
 */
#include "cdnopt/agent.h"
#include "cdnopt/plan.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Time each local decision of one greedy episode on the first release day. */
static int time_decisions(cdnopt_agent *agent, const cdnopt_series *baseline,
                          const cdnopt_release_set *releases, char *err)
{
    cdnopt_env_params ep = cdnopt_env_params_default();
    int64_t day = cdnopt_civil_day_start(releases->items[0].planned_at);
    cdnopt_release *items = malloc(releases->n * sizeof *items);
    size_t n = 0;
    for (size_t i = 0; i < releases->n; i++) {
        if (cdnopt_civil_day_start(releases->items[i].planned_at) == day)
            items[n++] = releases->items[i];
    }
    cdnopt_release_set *first_day = NULL;
    cdnopt_env *env = NULL;
    int rc = cdnopt_release_set_new(items, n, &first_day, err);
    free(items);
    if (rc == CDNOPT_OK)
        rc = cdnopt_env_new(baseline, first_day, &ep, &env, err);

    double *times = malloc((n + 1) * sizeof *times);
    size_t n_times = 0;
    while (rc == CDNOPT_OK && cdnopt_env_phase_of(env) != CDNOPT_ENV_DONE) {
        bool local = cdnopt_env_phase_of(env) == CDNOPT_ENV_LOCAL;
        int action = -1;
        double t0 = cdnopt_clock_s();
        rc = cdnopt_agent_act(agent, env, 0.0, NULL, &action);
        double dt = cdnopt_clock_s() - t0;
        if (local && n_times <= n)
            times[n_times++] = dt;
        cdnopt_env_step_result result;
        if (rc == CDNOPT_OK)
            rc = cdnopt_env_step(env, action, &result, err);
    }
    if (rc == CDNOPT_OK && n_times > 0) {
        qsort(times, n_times, sizeof *times, compare_double);
        printf("decision latency over %zu local decisions: median %.1f us, p99 %.1f us\n",
               n_times, 1e6 * times[n_times / 2], 1e6 * times[(size_t)(0.99 * (n_times - 1))]);
    }
    free(times);
    cdnopt_env_free(env);
    cdnopt_release_set_free(first_day);
    return rc;
}

static int run_solver(const char *name, cdnopt_agent *agent, const cdnopt_series *baseline,
                      const cdnopt_release_set *releases, const char *out_dir, char *err)
{
    cdnopt_rules rules = cdnopt_rules_default();
    cdnopt_plan_params pp = cdnopt_plan_params_default();
    cdnopt_plan_result result;
    int rc;
    if (name[0] == 'g')
        rc = cdnopt_plan_greedy(baseline, releases, &rules, &pp, &result, err);
    else if (name[0] == 'e')
        rc = cdnopt_plan_exact(baseline, releases, &rules, &pp, &result, err);
    else
        rc = cdnopt_plan_dqn(agent, baseline, releases, &rules, &pp, name[3] == '+', &result,
                             err);
    if (rc != CDNOPT_OK)
        return rc;
    printf("%-11s peak %.3f Gbit/s (-%.2f %%), p95 %.3f Gbit/s (-%.2f %%), %.3f s\n", name,
           result.planned.peak_gbps, 100 * result.peak_reduction, result.planned.p95_gbps,
           100 * result.p95_reduction, result.solve_s);
    if (out_dir) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s.csv", out_dir, name);
        rc = cdnopt_schedule_write_csv(path, releases, result.schedule, err);
    }
    cdnopt_plan_result_clear(&result);
    return rc;
}

static int bench(const char *agent_path, const char *dir, const char *out_dir, int repeats,
                 char *err)
{
    char path[1024];
    cdnopt_agent *agent = NULL;
    cdnopt_series *baseline = NULL;
    cdnopt_release_set *releases = NULL;
    cdnopt_schedule *schedule = NULL;
    snprintf(path, sizeof path, "%s/baseline.csv", dir);
    int rc = cdnopt_series_read_csv(path, NULL, &baseline, NULL, err);
    snprintf(path, sizeof path, "%s/releases.csv", dir);
    if (rc == CDNOPT_OK)
        rc = cdnopt_release_set_read_csv(path, &releases, err);
    if (rc == CDNOPT_OK)
        rc = cdnopt_agent_load(agent_path, &agent, err);
    if (rc == CDNOPT_OK)
        rc = time_decisions(agent, baseline, releases, err);
    if (rc == CDNOPT_OK)
        rc = cdnopt_schedule_new(releases->n, &schedule);

    cdnopt_rules rules = cdnopt_rules_default();
    double best = INFINITY;
    for (int k = 0; rc == CDNOPT_OK && k < repeats; k++) {
        double t0 = cdnopt_clock_s();
        rc = cdnopt_agent_plan(agent, baseline, releases, &rules, schedule, err);
        best = fmin(best, cdnopt_clock_s() - t0);
    }
    if (rc == CDNOPT_OK)
        printf("agent plan of %zu releases: best of %d runs %.3f s (%.1f us per release)\n",
               releases->n, repeats, best, 1e6 * best / (double)releases->n);

    /* The exact solver runs only on request: it spends its whole time limit (60 s) on
     * workloads it cannot close. */
    const char *solvers[] = {"dqn", "dqn+greedy", "greedy", "exact"};
    size_t n_solvers = getenv("BENCH_AGENT_EXACT") ? 4 : 3;
    for (size_t k = 0; rc == CDNOPT_OK && k < n_solvers; k++)
        rc = run_solver(solvers[k], agent, baseline, releases, out_dir, err);

    cdnopt_schedule_free(schedule);
    cdnopt_agent_free(agent);
    cdnopt_release_set_free(releases);
    cdnopt_series_free(baseline);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_agent AGENT.h5 WORKLOAD_DIR [OUT_DIR] [repeats]\n");
        return 2;
    }
    int repeats = argc > 4 ? atoi(argv[4]) : 3;
    char err[CDNOPT_ERRMSG_MAX] = "";
    int rc = bench(argv[1], argv[2], argc > 3 ? argv[3] : NULL, repeats > 0 ? repeats : 1, err);
    if (rc != CDNOPT_OK) {
        fprintf(stderr, "bench_agent: %s (%s)\n", err, cdnopt_strerror(rc));
        return 1;
    }
    return 0;
}
