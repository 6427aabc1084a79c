/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target of the rules file reader, cdnopt_rules_read(). The input is the
 * `key = value` file. Rules the reader accepts must lie in the ranges docs/rules.md
 * gives, and listing the options of a release under them must stay in bounds.
 */
#include "cdnopt/release.h"
#include "fuzz_file.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static void check_rules(const cdnopt_rules *rules)
{
    bool ok = rules->n_ratios >= 1 && rules->n_ratios <= CDNOPT_RULES_MAX_RATIOS &&
              rules->max_delay_s >= 0 && rules->max_delay_s <= CDNOPT_RELEASE_MAX_DELAY_S &&
              rules->duration_h >= 1 && rules->duration_h <= CDNOPT_RULES_MAX_DURATION_H &&
              isfinite(rules->decay) && rules->decay > 0 && rules->decay <= 1 &&
              rules->blackout_from_s >= 0 && rules->blackout_from_s < 86400 &&
              rules->blackout_to_s >= 0 && rules->blackout_to_s < 86400;
    for (size_t i = 0; ok && i < rules->n_ratios; i++)
        ok = rules->batch_ratios[i] > 0 && rules->batch_ratios[i] <= 1 &&
             (i == 0 || rules->batch_ratios[i] > rules->batch_ratios[i - 1]);
    if (!ok) {
        fprintf(stderr,
                "rules out of range: %zu ratios, max_delay %lld s, %d h, decay %g, blackout "
                "%d s to %d s\n",
                rules->n_ratios, (long long)rules->max_delay_s, rules->duration_h, rules->decay,
                rules->blackout_from_s, rules->blackout_to_s);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file_write(data, size);
    cdnopt_rules rules;
    char err[CDNOPT_ERRMSG_MAX];
    if (cdnopt_rules_read(path, &rules, err) != 0)
        return 0;
    check_rules(&rules);

    /* A 900 MB release planned at 2025-01-06 00:00:00, inside the default blackout. */
    const cdnopt_release release = {
        .id = "r", .size_mb = 900, .users = 1e5, .planned_at = 1736121600};
    const cdnopt_grid grid = {.origin = 1736121600, .step_s = 300, .n = 288 * 3};
    cdnopt_option options[64];
    cdnopt_rules_options(&rules, &release, &grid, 3600, options, 64);
    return 0;
}
