/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Plan a workload with the DQN agent's one-step expert (cdnopt_expert_plan()) and write
 * its schedule for the referee: the figure an agent that imitates the expert perfectly
 * would reach.
 *
 * Usage: bench_expert BASELINE.csv RELEASES.csv OUT_SCHEDULE.csv
 */
#include "cdnopt/agent.h"

#include <stdio.h>

static int plan_and_write(const char *baseline_path, const char *releases_path,
                          const char *out_path, char *err)
{
    cdnopt_series *baseline = NULL;
    cdnopt_release_set *releases = NULL;
    cdnopt_schedule *schedule = NULL;
    int rc = cdnopt_series_read_csv(baseline_path, NULL, &baseline, NULL, err);
    if (rc == CDNOPT_OK)
        rc = cdnopt_release_set_read_csv(releases_path, &releases, err);
    if (rc == CDNOPT_OK)
        rc = cdnopt_schedule_new(releases->n, &schedule);

    cdnopt_env_params params = cdnopt_env_params_default();
    double started = cdnopt_clock_s();
    if (rc == CDNOPT_OK)
        rc = cdnopt_expert_plan(baseline, releases, &params, schedule, err);
    double seconds = cdnopt_clock_s() - started;

    cdnopt_figures figures;
    if (rc == CDNOPT_OK)
        rc = cdnopt_schedule_evaluate(baseline, releases, schedule, &params.rules, NULL,
                                      &figures);
    if (rc == CDNOPT_OK) {
        printf("expert: peak %.3f Gbit/s, p95 %.3f Gbit/s, %.3f s\n", figures.peak_gbps,
               figures.p95_gbps, seconds);
        rc = cdnopt_schedule_write_csv(out_path, releases, schedule, err);
    }
    cdnopt_schedule_free(schedule);
    cdnopt_release_set_free(releases);
    cdnopt_series_free(baseline);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: bench_expert BASELINE.csv RELEASES.csv OUT_SCHEDULE.csv\n");
        return 2;
    }
    char err[CDNOPT_ERRMSG_MAX] = "";
    int rc = plan_and_write(argv[1], argv[2], argv[3], err);
    if (rc != CDNOPT_OK) {
        fprintf(stderr, "bench_expert: %s\n", err[0] ? err : cdnopt_strerror(rc));
        return 1;
    }
    return 0;
}
