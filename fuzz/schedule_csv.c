/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target of the schedule file reader, cdnopt_schedule_read_csv(), against a fixed
 * set of three releases (ids r1, r2, "r,3"). The first input byte chooses whether the
 * reader checks starts against an hourly grid, and the rest is the file. A schedule
 * the reader accepts is written back and read again, and both reads must agree.
 */
#include "cdnopt/release.h"
#include "fuzz_file.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static cdnopt_release_set *releases;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* 2025-01-06 00:00:00, 2025-01-06 12:00:00 and 2025-01-07 00:00:00 in civil seconds. */
    const cdnopt_release items[] = {
        {.id = "r1", .size_mb = 100, .users = 1000, .planned_at = 1736121600},
        {.id = "r2", .size_mb = 900, .users = 5e5, .planned_at = 1736164800},
        {.id = "r,3",
         .size_mb = 2,
         .users = 1,
         .planned_at = 1736121600,
         .latest_start_at = 1736208000,
         .has_latest = true},
    };
    char err[CDNOPT_ERRMSG_MAX];
    if (cdnopt_release_set_new(items, 3, &releases, err) != 0) {
        fprintf(stderr, "fuzz releases: %s\n", err);
        abort();
    }
    return 0;
}

static void check_round_trip(const cdnopt_schedule *schedule, const cdnopt_grid *grid)
{
    const char *copy_path = fuzz_file_second();
    char err[CDNOPT_ERRMSG_MAX];
    cdnopt_schedule *copy = NULL;
    if (cdnopt_schedule_write_csv(copy_path, releases, schedule, err) != 0 ||
        cdnopt_schedule_read_csv(copy_path, releases, grid, &copy, err) != 0) {
        fprintf(stderr, "written schedule does not read back: %s\n", err);
        abort();
    }
    for (size_t i = 0; i < schedule->n; i++) {
        if (copy->start_at[i] != schedule->start_at[i] ||
            copy->batch_ratio[i] != schedule->batch_ratio[i]) {
            fprintf(stderr, "entry %zu changed on the way back\n", i);
            abort();
        }
    }
    cdnopt_schedule_free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    /* Two days of hourly steps from the first release's planned_at. */
    const cdnopt_grid hourly = {.origin = 1736121600, .step_s = 3600, .n = 48};
    const cdnopt_grid *grid = (data[0] & 1) != 0 ? &hourly : NULL;
    const char *path = fuzz_file_write(data + 1, size - 1);

    cdnopt_schedule *schedule = NULL;
    char err[CDNOPT_ERRMSG_MAX];
    if (cdnopt_schedule_read_csv(path, releases, grid, &schedule, err) == 0)
        check_round_trip(schedule, grid);
    cdnopt_schedule_free(schedule);
    return 0;
}
