/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Planning from history end to end: the built binary trains a small model on the day
 * workload's history, plans the releases against its forecast, and the referee
 * (tools/score_schedule.py under SHARED_DIR, run with python3) scores the schedule on
 * the real baseline. The schedule must keep every rule and cut the peak by 40 %.
 */
#include "cdnopt/core.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* Run a shell command, put its combined output in text and return its exit status. */
static int run(const char *command, char *text, size_t size)
{
    char line[8192];
    snprintf(line, sizeof line, "%s 2>&1", command);
    FILE *pipe = popen(line, "r");
    assert_non_null(pipe);
    size_t n = fread(text, 1, size - 1, pipe);
    text[n] = '\0';
    int status = pclose(pipe);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The number after "key": in the referee's JSON. */
static double json_number(const char *text, const char *key)
{
    char quoted[64];
    snprintf(quoted, sizeof quoted, "\"%s\": ", key);
    const char *at = strstr(text, quoted);
    assert_non_null(at);
    return strtod(at + strlen(quoted), NULL);
}

static void day_from_history_scores(void **state)
{
    (void)state;
    const char *build = getenv("CDNOPT_BUILD_DIR");
    if (build == NULL)
        fail_msg("CDNOPT_BUILD_DIR is not set: run this test through ctest");
    char dir[512], workload[512], tool[512], command[4096], text[16384];
    cdnopt_test_scratch_dir(dir, sizeof dir, "plan-history");
    cdnopt_test_shared_path(workload, sizeof workload, "workloads/day");
    cdnopt_test_shared_path(tool, sizeof tool, "tools/score_schedule.py");

    /* A small model: one epoch of 300 windows, 8 units, about a second of training. */
    snprintf(command, sizeof command,
             "'%s/bin/cdnopt' -q train --data '%s/history.csv' --units 8 --epochs 1 "
             "--max-windows 300 --seed 1 --out '%s/model.h5'",
             build, workload, dir);
    assert_int_equal(run(command, text, sizeof text), 0);

    snprintf(command, sizeof command,
             "'%s/bin/cdnopt' -q plan --history '%s/history.csv' --model '%s/model.h5' "
             "--releases '%s/releases.csv' --out '%s/schedule.csv'",
             build, workload, dir, workload, dir);
    assert_int_equal(run(command, text, sizeof text), 0);
    cdnopt_assert_contains(text, "on the critical line (upper bound x 1.2): peak ");

    /* The referee scores the schedule on the traffic that really came. */
    snprintf(command, sizeof command, "python3 '%s' '%s/baseline.csv' '%s/releases.csv' "
                                      "'%s/schedule.csv' --json",
             tool, workload, workload, dir);
    int status = run(command, text, sizeof text);
    if (status != 0)
        print_error("referee exited with %d:\n%s\n", status, text);
    assert_int_equal(status, 0);
    cdnopt_assert_contains(text, "\"violations\": []");
    assert_true(json_number(text, "peak_reduction") >= 0.40);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(day_from_history_scores),
    };
    return cdnopt_test_main(argc, argv, "plan_history", tests, sizeof tests / sizeof tests[0]);
}
