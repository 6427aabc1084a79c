/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target of the rules file reader, cdnopt_rules_read(). The input is the
 * `key = value` file. Rules the reader accepts must lie in the ranges docs/rules.md
 * gives, must equal what cdnopt_rules_parse_line() makes of the same lines split in
 * memory, and listing the options of a release under them must stay in bounds.
 */
#include "cdnopt/release.h"
#include "fuzz_file.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Apply the input's lines to the defaults with cdnopt_rules_parse_line(), as the file
 * reader should. A byte order mark at the start is skipped, and lines end at '\n'.
 * Returns false when some line is rejected. */
static bool rules_from_lines(const uint8_t *data, size_t size, cdnopt_rules *rules)
{
    char *text = malloc(size + 1);
    if (text == NULL)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';
    char *line = strncmp(text, "\xEF\xBB\xBF", 3) == 0 ? text + 3 : text;
    *rules = cdnopt_rules_default();
    bool ok = true;
    while (ok && line != NULL && *line != '\0') {
        char *end = strchr(line, '\n');
        if (end != NULL)
            *end = '\0';
        ok = cdnopt_rules_parse_line(rules, line, "memory", NULL) == 0;
        line = end != NULL ? end + 1 : NULL;
    }
    free(text);
    return ok;
}

static bool same_rules(const cdnopt_rules *a, const cdnopt_rules *b)
{
    bool same = a->max_delay_s == b->max_delay_s && a->n_ratios == b->n_ratios &&
                a->blackout == b->blackout && a->blackout_min_size_mb == b->blackout_min_size_mb &&
                a->decay == b->decay && a->duration_h == b->duration_h &&
                (!a->blackout || (a->blackout_from_s == b->blackout_from_s &&
                                  a->blackout_to_s == b->blackout_to_s));
    for (size_t i = 0; same && i < a->n_ratios; i++)
        same = a->batch_ratios[i] == b->batch_ratios[i];
    return same;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file_write(data, size);
    cdnopt_rules rules;
    char err[CDNOPT_ERRMSG_MAX];
    if (cdnopt_rules_read(path, &rules, err) != 0)
        return 0;
    check_rules(&rules);
    cdnopt_rules in_memory;
    if (!rules_from_lines(data, size, &in_memory) || !same_rules(&rules, &in_memory)) {
        fprintf(stderr, "the file reader and the line parser disagree on these rules\n");
        abort();
    }

    /* A 900 MB release planned at 2025-01-06 00:00:00, inside the default blackout. */
    const cdnopt_release release = {
        .id = "r", .size_mb = 900, .users = 1e5, .planned_at = 1736121600};
    const cdnopt_grid grid = {.origin = 1736121600, .step_s = 300, .n = 288 * 3};
    cdnopt_option options[64];
    cdnopt_rules_options(&rules, &release, &grid, 3600, options, 64);
    return 0;
}
