/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The rules a schedule keeps (delay window, batch ratios, blackout, no spill) and the
 * wave shape (decay, duration), their `key = value` file, and the legality checks
 * the planners and the DQN's action mask use. The file format is in docs/rules.md.
 */
#include "release-impl.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cdnopt_rules cdnopt_rules_default(void)
{
    cdnopt_rules rules = {
        .max_delay_s = 23 * 3600,
        .batch_ratios = {0.1, 0.3, 0.5, 1.0},
        .n_ratios = 4,
        .blackout = true,
        .blackout_from_s = 0,
        .blackout_to_s = 4 * 3600 + 59 * 60 + 59,
        .blackout_min_size_mb = 500.0,
        .decay = 0.8,
        .duration_h = 15,
    };
    return rules;
}

/* ------------------------------------------------------------------------- */
/* Rules file                                                                */
/* ------------------------------------------------------------------------- */

/* Cut text at its first comma; return what follows it, or NULL after the last item. */
static char *cut_at_comma(char *text)
{
    char *comma = strchr(text, ',');
    if (comma == NULL)
        return NULL;
    *comma = '\0';
    return comma + 1;
}

static char *trim(char *text)
{
    while (isspace((unsigned char)*text))
        text++;
    char *end = text + strlen(text);
    while (end > text && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return text;
}

static int parse_ratios(cdnopt_rules *rules, char *value, const char *where, char *err)
{
    size_t n = 0;
    double ratios[CDNOPT_RULES_MAX_RATIOS];
    bool blank = *trim(value) == '\0';
    for (char *next = blank ? NULL : value, *item; next != NULL;) {
        item = next;
        next = cut_at_comma(item);
        item = trim(item);

        /* strtok would skip an empty item, so "0.1,,1" would quietly lose a value. */
        if (*item == '\0')
            return cdnopt_fail(err, CDNOPT_EINVAL,
                               "%s: batch_ratios has an empty item; separate values such as "
                               "0.1, 0.3, 0.5, 1.0 by single commas",
                               where);
        double ratio;
        char shown[CDNOPT_QUOTE_SIZE];
        if (n == CDNOPT_RULES_MAX_RATIOS)
            return cdnopt_fail(err, CDNOPT_EINVAL, "%s: batch_ratios lists more than %d values",
                               where, CDNOPT_RULES_MAX_RATIOS);
        if (cdnopt_release_parse_decimal(item, &ratio) != 0 || ratio < CDNOPT_RULES_MIN_RATIO ||
            ratio > 1.0)
            return cdnopt_fail(
                err, CDNOPT_EINVAL, "%s: batch_ratios value '%s' is not a number in [%g, 1]", where,
                cdnopt_text_quote(shown, sizeof shown, item, strlen(item), CDNOPT_QUOTE_BYTES),
                CDNOPT_RULES_MIN_RATIO);
        if (n > 0 && ratio <= ratios[n - 1])
            return cdnopt_fail(
                err, CDNOPT_EINVAL,
                "%s: batch_ratios must be listed in ascending order without "
                "repeats ('%s' follows %g)",
                where,
                cdnopt_text_quote(shown, sizeof shown, item, strlen(item), CDNOPT_QUOTE_BYTES),
                ratios[n - 1]);
        ratios[n++] = ratio;
    }
    if (n == 0)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "%s: batch_ratios is empty; list values such as 0.1, 0.3, 0.5, 1.0",
                           where);
    memcpy(rules->batch_ratios, ratios, n * sizeof ratios[0]);
    rules->n_ratios = n;
    return 0;
}

/* Parse "HH:MM" into seconds of day; -1 when malformed. */
static int parse_clock(const char *text, size_t len)
{
    if (len != 5 || !isdigit((unsigned char)text[0]) || !isdigit((unsigned char)text[1]) ||
        text[2] != ':' || !isdigit((unsigned char)text[3]) || !isdigit((unsigned char)text[4]))
        return -1;
    int hour = (text[0] - '0') * 10 + (text[1] - '0');
    int minute = (text[3] - '0') * 10 + (text[4] - '0');
    if (hour > 23 || minute > 59)
        return -1;
    return hour * 3600 + minute * 60;
}

static int parse_blackout(cdnopt_rules *rules, const char *value, const char *where, char *err)
{
    if (strcmp(value, "none") == 0) {
        rules->blackout = false;
        return 0;
    }
    const char *dash = strchr(value, '-');
    int from = dash != NULL ? parse_clock(value, (size_t)(dash - value)) : -1;
    int to = dash != NULL ? parse_clock(dash + 1, strlen(dash + 1)) : -1;
    char shown[CDNOPT_QUOTE_SIZE];
    if (from < 0 || to < 0)
        return cdnopt_fail(
            err, CDNOPT_EINVAL, "%s: blackout '%s' is not HH:MM-HH:MM (e.g. 00:00-04:59) or none",
            where,
            cdnopt_text_quote(shown, sizeof shown, value, strlen(value), CDNOPT_QUOTE_BYTES));
    rules->blackout = true;
    rules->blackout_from_s = from;
    rules->blackout_to_s = to + 59; /* the last minute counts whole */
    return 0;
}

static int parse_positive(const char *key, const char *value, double max, const char *where,
                          double *out, char *err)
{
    double number;
    char shown[CDNOPT_QUOTE_SIZE];
    if (cdnopt_release_parse_decimal(value, &number) != 0 || number <= 0 || number > max)
        return cdnopt_fail(
            err, CDNOPT_EINVAL, "%s: %s '%s' must be a number in (0, %g]", where, key,
            cdnopt_text_quote(shown, sizeof shown, value, strlen(value), CDNOPT_QUOTE_BYTES), max);
    *out = number;
    return 0;
}

static int parse_hours(const char *key, const char *value, int64_t min_s, int64_t max_s,
                       const char *where, int64_t *out, char *err)
{
    int64_t seconds;
    char shown[CDNOPT_QUOTE_SIZE];
    if (cdnopt_duration_parse(value, &seconds, NULL) != 0 || seconds < min_s || seconds > max_s)
        return cdnopt_fail(
            err, CDNOPT_EINVAL, "%s: %s '%s' must be a duration from %llds to %lldh, e.g. 23h",
            where, key,
            cdnopt_text_quote(shown, sizeof shown, value, strlen(value), CDNOPT_QUOTE_BYTES),
            (long long)min_s, (long long)(max_s / 3600));
    *out = seconds;
    return 0;
}

static int apply_key(cdnopt_rules *rules, const char *key, char *value, const char *where,
                     char *err)
{
    int64_t seconds = 0;
    int rc;
    char shown[CDNOPT_QUOTE_SIZE];
    if (strcmp(key, "max_delay") == 0)
        return parse_hours(key, value, 0, CDNOPT_RELEASE_MAX_DELAY_S, where, &rules->max_delay_s,
                           err);
    if (strcmp(key, "batch_ratios") == 0)
        return parse_ratios(rules, value, where, err);
    if (strcmp(key, "blackout") == 0)
        return parse_blackout(rules, value, where, err);
    if (strcmp(key, "blackout_min_size_mb") == 0)
        return parse_positive(key, value, 1e12, where, &rules->blackout_min_size_mb, err);
    if (strcmp(key, "decay") == 0)
        return parse_positive(key, value, 1.0, where, &rules->decay, err);
    if (strcmp(key, "duration") == 0) {
        rc = parse_hours(key, value, 3600, CDNOPT_RULES_MAX_DURATION_H * 3600LL, where,
                         &seconds, err);
        if (rc == 0 && seconds % 3600 != 0)
            rc = cdnopt_fail(
                err, CDNOPT_EINVAL, "%s: duration '%s' must be whole hours, e.g. 15h", where,
                cdnopt_text_quote(shown, sizeof shown, value, strlen(value), CDNOPT_QUOTE_BYTES));
        if (rc == 0)
            rules->duration_h = (int)(seconds / 3600);
        return rc;
    }
    return cdnopt_fail(
        err, CDNOPT_EINVAL,
        "%s: unknown key '%s'; known keys are max_delay, batch_ratios, blackout, "
        "blackout_min_size_mb, decay and duration",
        where, cdnopt_text_quote(shown, sizeof shown, key, strlen(key), CDNOPT_QUOTE_BYTES));
}

static char *strip(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

int cdnopt_rules_parse_line(cdnopt_rules *rules, const char *line, const char *where, char *err)
{
    char copy[RELEASE_LINE_MAX];
    if (strlen(line) >= sizeof copy)
        return cdnopt_fail(err, CDNOPT_EINVAL, "%s: line longer than %zu bytes", where,
                           sizeof copy - 1);
    strcpy(copy, line);
    char *text = strip(copy);
    if (*text == '\0' || *text == '#')
        return 0;

    char *equals = strchr(text, '=');
    char shown[CDNOPT_QUOTE_SIZE];
    if (equals == NULL)
        return cdnopt_fail(
            err, CDNOPT_EINVAL, "%s: '%s' is not a 'key = value' line (e.g. max_delay = 23h)",
            where, cdnopt_text_quote(shown, sizeof shown, text, strlen(text), CDNOPT_QUOTE_BYTES));
    *equals = '\0';
    char *key = strip(text), *value = strip(equals + 1);
    if (*value == '\0')
        return cdnopt_fail(
            err, CDNOPT_EINVAL, "%s: key '%s' has no value", where,
            cdnopt_text_quote(shown, sizeof shown, key, strlen(key), CDNOPT_QUOTE_BYTES));
    return apply_key(rules, key, value, where, err);
}

/* Whether both ends of the blackout are seconds of a day. A blackout may wrap past
 * midnight (22:00-04:59), so the first may come after the last. */
static bool blackout_in_day(const cdnopt_rules *rules)
{
    return rules->blackout_from_s >= 0 && rules->blackout_from_s < 86400 &&
           rules->blackout_to_s >= 0 && rules->blackout_to_s < 86400;
}

static int validate_ratios(const cdnopt_rules *rules, char *err)
{
    if (rules->n_ratios < 1 || rules->n_ratios > CDNOPT_RULES_MAX_RATIOS)
        return cdnopt_fail(err, CDNOPT_EINVAL, "rules: n_ratios is %zu; it must be 1 to %d",
                           rules->n_ratios, CDNOPT_RULES_MAX_RATIOS);
    for (size_t i = 0; i < rules->n_ratios; i++) {
        double ratio = rules->batch_ratios[i];
        if (!(ratio >= CDNOPT_RULES_MIN_RATIO && ratio <= 1.0))
            return cdnopt_fail(err, CDNOPT_EINVAL,
                               "rules: batch_ratios[%zu] is %g; it must be in [%g, 1]", i, ratio,
                               CDNOPT_RULES_MIN_RATIO);
        if (i > 0 && ratio <= rules->batch_ratios[i - 1])
            return cdnopt_fail(err, CDNOPT_EINVAL,
                               "rules: batch_ratios[%zu] is %g after %g; list them ascending "
                               "without repeats", i, ratio, rules->batch_ratios[i - 1]);
    }
    return 0;
}

int cdnopt_rules_validate(const cdnopt_rules *rules, char *err)
{
    if (rules->max_delay_s < 0 || rules->max_delay_s > CDNOPT_RELEASE_MAX_DELAY_S)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "rules: max_delay_s is %lld; it must be 0 to %d (30 days)",
                           (long long)rules->max_delay_s, CDNOPT_RELEASE_MAX_DELAY_S);
    int rc = validate_ratios(rules, err);
    if (rc != 0)
        return rc;
    if (rules->blackout && !blackout_in_day(rules))
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "rules: blackout runs from second %d to second %d of the day; both "
                           "must lie in 0 to 86399",
                           rules->blackout_from_s, rules->blackout_to_s);
    if (!(rules->blackout_min_size_mb > 0 && rules->blackout_min_size_mb <= 1e12))
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "rules: blackout_min_size_mb is %g; it must be in (0, 1e12]",
                           rules->blackout_min_size_mb);
    if (!(rules->decay > 0 && rules->decay <= 1.0))
        return cdnopt_fail(err, CDNOPT_EINVAL, "rules: decay is %g; it must be in (0, 1]",
                           rules->decay);
    if (rules->duration_h < 1 || rules->duration_h > CDNOPT_RULES_MAX_DURATION_H)
        return cdnopt_fail(err, CDNOPT_EINVAL, "rules: duration_h is %d; it must be 1 to %d",
                           rules->duration_h, CDNOPT_RULES_MAX_DURATION_H);
    return 0;
}

int cdnopt_rules_read(const char *path, cdnopt_rules *out, char *err)
{
    FILE *file = fopen(path, "r");
    if (file == NULL)
        return cdnopt_fail(err, CDNOPT_EIO, "%s: cannot open: %s", path, strerror(errno));

    cdnopt_rules rules = cdnopt_rules_default();
    char line[RELEASE_LINE_MAX];
    long line_no = 0;
    int rc = 0;
    bool has_nul = false;
    int got = 0;
    while (rc == 0 && (got = release_fgets(line, (int)sizeof line, file, &has_nul)) > 0) {
        char where[600];
        snprintf(where, sizeof where, "%s line %ld", path, ++line_no);
        /* Checked before the byte order mark goes, because removing it shortens a full
         * buffer. */
        rc = release_check_line_length(line, file, path, line_no, err);
        if (line_no == 1)
            release_strip_bom(line);
        if (rc == 0 && has_nul)
            rc = cdnopt_fail(err, CDNOPT_EPARSE, RELEASE_NUL_MESSAGE, path, line_no);
        else if (rc == 0)
            rc = release_check_bare_cr(line, path, line_no, err);
        if (rc == 0)
            rc = cdnopt_rules_parse_line(&rules, line, where, err);
    }
    if (rc == 0 && got < 0)
        rc = release_read_error(err, path);
    fclose(file);
    if (rc == 0)
        *out = rules;
    return rc;
}

/* ------------------------------------------------------------------------- */
/* Legality                                                                  */
/* ------------------------------------------------------------------------- */

int64_t cdnopt_release_latest_start(const cdnopt_release *release, const cdnopt_rules *rules)
{
    return release->has_latest ? release->latest_start_at
                               : release->planned_at + rules->max_delay_s;
}

const char *cdnopt_rule_name(cdnopt_rule rule)
{
    switch (rule) {
    case CDNOPT_RULE_OK:
        return "ok";
    case CDNOPT_RULE_GRID:
        return "grid";
    case CDNOPT_RULE_WINDOW:
        return "window";
    case CDNOPT_RULE_RATIO:
        return "batch_ratio";
    case CDNOPT_RULE_BLACKOUT:
        return "blackout";
    case CDNOPT_RULE_SPILL:
        return "spill";
    }
    return "unknown";
}

size_t cdnopt_batch_count(double ratio)
{
    return (size_t)ceil(1.0 / ratio - 1e-9);
}

static bool ratio_allowed(const cdnopt_rules *rules, double ratio)
{
    for (size_t i = 0; i < rules->n_ratios; i++) {
        if (fabs(ratio - rules->batch_ratios[i]) < 1e-9)
            return true;
    }
    return false;
}

static int64_t floor_mod(int64_t a, int64_t b)
{
    int64_t r = a % b;
    return r < 0 ? r + b : r;
}

/* Index of the first batch that begins inside the blackout, or -1. */
static long blackout_batch(const cdnopt_rules *rules, const cdnopt_release *release,
                           int64_t start_at, double ratio)
{
    if (!rules->blackout || !(release->size_mb > rules->blackout_min_size_mb))
        return -1;
    size_t batches = cdnopt_batch_count(ratio);
    for (size_t i = 0; i < batches; i++) {
        int64_t second = floor_mod(start_at + (int64_t)i * 3600, 86400);
        bool inside = rules->blackout_from_s <= rules->blackout_to_s
                          ? second >= rules->blackout_from_s && second <= rules->blackout_to_s
                          : second >= rules->blackout_from_s || second <= rules->blackout_to_s;
        if (inside)
            return (long)i;
    }
    return -1;
}

static bool spills(const cdnopt_rules *rules, int64_t start_at, double ratio,
                   const cdnopt_grid *grid)
{
    int64_t end = start_at + (int64_t)cdnopt_profile_hours(rules, ratio) * 3600;
    return start_at < grid->origin || end > grid->origin + (int64_t)grid->n * grid->step_s;
}

cdnopt_rule cdnopt_rules_check(const cdnopt_rules *rules, const cdnopt_release *release,
                               int64_t start_at, double batch_ratio, const cdnopt_grid *grid)
{
    if (grid != NULL && floor_mod(start_at - grid->origin, grid->step_s) != 0)
        return CDNOPT_RULE_GRID;
    if (start_at < release->planned_at || start_at > cdnopt_release_latest_start(release, rules))
        return CDNOPT_RULE_WINDOW;
    if (!ratio_allowed(rules, batch_ratio))
        return CDNOPT_RULE_RATIO;
    if (blackout_batch(rules, release, start_at, batch_ratio) >= 0)
        return CDNOPT_RULE_BLACKOUT;
    if (grid != NULL && spills(rules, start_at, batch_ratio, grid))
        return CDNOPT_RULE_SPILL;
    return CDNOPT_RULE_OK;
}

size_t cdnopt_rules_options(const cdnopt_rules *rules, const cdnopt_release *release,
                            const cdnopt_grid *grid, int64_t start_step_s, cdnopt_option *out,
                            size_t cap)
{
    CDNOPT_ASSERT(start_step_s > 0);

    /* A planned time off the grid starts at the next grid step. */
    int64_t first = release->planned_at;
    if (grid != NULL) {
        int64_t off = floor_mod(first - grid->origin, grid->step_s);
        if (off != 0)
            first += grid->step_s - off;
    }

    size_t count = 0;
    int64_t latest = cdnopt_release_latest_start(release, rules);
    for (int64_t start = first; start <= latest; start += start_step_s) {
        for (size_t r = 0; r < rules->n_ratios; r++) {
            double ratio = rules->batch_ratios[r];
            if (cdnopt_rules_check(rules, release, start, ratio, grid) != CDNOPT_RULE_OK)
                continue;
            if (count < cap)
                out[count] = (cdnopt_option){start, ratio};
            count++;
        }
    }
    return count;
}

/* Describe the value that broke rule into buf. */
static void describe(const cdnopt_rules *rules, const cdnopt_release *release, int64_t start,
                     double ratio, const cdnopt_grid *grid, cdnopt_rule rule, char *buf,
                     size_t size)
{
    char when[32], planned[32], latest[32];
    cdnopt_release_format_time(start, when, sizeof when);
    switch (rule) {
    case CDNOPT_RULE_GRID:
        snprintf(buf, size, "start %s off the %llds grid", when, (long long)grid->step_s);
        break;
    case CDNOPT_RULE_WINDOW:
        cdnopt_release_format_time(release->planned_at, planned, sizeof planned);
        cdnopt_release_format_time(cdnopt_release_latest_start(release, rules), latest,
                                   sizeof latest);
        snprintf(buf, size, "start %s outside [%s, %s]", when, planned, latest);
        break;
    case CDNOPT_RULE_RATIO:
        snprintf(buf, size, "%g is not one of the allowed ratios", ratio);
        break;
    case CDNOPT_RULE_BLACKOUT:
        cdnopt_release_format_time(
            start + 3600 * (int64_t)blackout_batch(rules, release, start, ratio), when,
            sizeof when);
        snprintf(buf, size, "batch of %.0f MB begins %s", release->size_mb, when);
        break;
    case CDNOPT_RULE_SPILL:
        cdnopt_release_format_time(start + (int64_t)cdnopt_profile_hours(rules, ratio) * 3600,
                                   when, sizeof when);
        snprintf(buf, size, "traffic until %s, past the baseline", when);
        break;
    case CDNOPT_RULE_OK:
        buf[0] = '\0';
        break;
    }
}

size_t cdnopt_schedule_check(const cdnopt_release_set *releases, const cdnopt_schedule *schedule,
                             const cdnopt_rules *rules, const cdnopt_grid *grid,
                             cdnopt_violation *out, size_t cap)
{
    size_t count = 0;
    for (size_t i = 0; i < releases->n && i < schedule->n; i++) {
        const cdnopt_release *release = &releases->items[i];
        int64_t start = schedule->start_at[i];
        double ratio = schedule->batch_ratio[i];
        cdnopt_rule rule = cdnopt_rules_check(rules, release, start, ratio, grid);
        if (rule == CDNOPT_RULE_OK)
            continue;
        if (count < cap) {
            out[count].release = i;
            out[count].rule = rule;
            describe(rules, release, start, ratio, grid, rule, out[count].value,
                     sizeof out[count].value);
        }
        count++;
    }
    return count;
}
