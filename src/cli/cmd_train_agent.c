/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cdnopt train-agent: train the masked DQN release planner on episodes drawn from a
 * history series, log its progress, and save it as an HDF5 agent file. Days that
 * overlap --exclude spans (the workloads the agent is evaluated on) are never drawn.
 * The validation windows (--val-days of them) are kept out of training too. With
 * --model the agent observes a forecast of each window in place of its traffic.
 */
#include "agent_observed.h"
#include "cli_args.h"
#include "cli_dist.h"
#include "cli_options.h"
#include "commands.h"

#include "cdnopt/agent.h"
#include "cdnopt/core.h"
#include "cdnopt/global.h"
#include "cdnopt/plan.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define TRAIN_AGENT_LOG "train-agent"
#define MAX_EXCLUDE 16

/* Seed of the first validation day's releases (the next days add 1, 2, ...), fixed so
 * that curves of runs with different seeds are measured on the same days. */
#define VALIDATION_SEED 20041201

static const char synopsis[] =
    "train-agent --history FILE [--model MODEL.h5] [--episodes N] [--workers K] [--seed S]\n"
    "            --out AGENT.h5";
static const char description[] =
    "Train the masked DQN release planner. Each episode is a 3-day window of the history\n"
    "(rescaled to peak at 1,000 Gbit/s) with a random day of releases on its first day.\n"
    "Before the first round, --demo-episodes episodes of a greedy expert (--demo-expert)\n"
    "are stored as demonstrations and the agent is pretrained on them (progress row 0).\n"
    "Progress per round goes to stderr: episodes, mean return (Gbit/s of peak added),\n"
    "epsilon, TD loss, mask accuracy and the mean peak reduction on the validation\n"
    "days. The agent keeps the weights of the round with the best reduction.\n"
    "--exclude takes comma-separated spans FROM..TO of dates (YYYY-MM-DD, TO exclusive)\n"
    "that no training or validation window may overlap.\n"
    "With --model (a file written by cdnopt train), the agent observes the model's point\n"
    "forecast of each window, made from the history before its first day, in place of\n"
    "the window's traffic; rewards and validation figures stay on the actual traffic.\n"
    "Days with less history before them than the model needs are not drawn. --history\n"
    "is then read raw for a raw model, else converted to Gbit/s with --unit.\n"
    "Under mpirun the --workers episodes of each round are shared over the ranks, rank 0\n"
    "learns from all of them and sends the weights back; the agent is the same as in one\n"
    "process with the same --seed and --workers.";

typedef struct train_agent_opts {
    const char *history;
    const char *model;
    const char *out;
    const char *exclude;
    const char *curve;
    const char *objective;
    const char *val_day;
    const char *demo_expert;
    long episodes, workers, seed, hidden, updates, batch;
    long min_releases, max_releases, demo_episodes, val_days;
    double lr, gamma, demo_margin;
} train_agent_opts;

/* Parse one span "2004-12-01..2004-12-17" into from and to, in civil seconds. */
static int parse_span(const char *span, int64_t *from, int64_t *to, char *err)
{
    const char *dots = strstr(span, "..");
    char first[32], second[32];
    if (!dots || dots - span > 10 || strlen(dots + 2) > 10)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "--exclude span '%s' is invalid; write FROM..TO as "
                           "YYYY-MM-DD..YYYY-MM-DD", span);
    snprintf(first, sizeof first, "%.*s 00:00:00", (int)(dots - span), span);
    snprintf(second, sizeof second, "%s 00:00:00", dots + 2);
    bool first_ok = cdnopt_civil_parse(first, from, NULL) == CDNOPT_OK;
    if (!first_ok || cdnopt_civil_parse(second, to, NULL) != CDNOPT_OK)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "--exclude span '%s': '%.10s' is not a valid date; write FROM..TO "
                           "as YYYY-MM-DD..YYYY-MM-DD",
                           span, first_ok ? dots + 2 : span);
    if (*to <= *from)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "--exclude span '%s' is empty; FROM must come before TO (TO is "
                           "exclusive)", span);
    return CDNOPT_OK;
}

/*
 * Parse "2004-12-01..2004-12-17,2005-01-01..2005-01-02" into spans of civil seconds.
 * An empty value or item is an error: an unset shell variable would otherwise exclude
 * nothing, and the days meant for judging would be trained on.
 */
static int parse_excludes(const char *text, int64_t *from, int64_t *to, size_t *n, char *err)
{
    *n = 0;
    if (!text)
        return CDNOPT_OK;
    char buf[1024];
    if (snprintf(buf, sizeof buf, "%s", text) >= (int)sizeof buf)
        return cdnopt_fail(err, CDNOPT_EINVAL, "--exclude is longer than %zu characters",
                           sizeof buf - 1);
    for (char *span = buf, *next; span != NULL; span = next) {
        char *comma = strchr(span, ',');
        next = comma != NULL ? comma + 1 : NULL;
        if (comma != NULL)
            *comma = '\0';
        if (*span == '\0')
            return cdnopt_fail(err, CDNOPT_EINVAL,
                               "--exclude '%s' has an empty span; give spans FROM..TO separated "
                               "by single commas", text);
        if (*n == MAX_EXCLUDE)
            return cdnopt_fail(err, CDNOPT_EINVAL,
                               "--exclude lists more than %d spans; merge neighbouring ones",
                               MAX_EXCLUDE);
        int rc = parse_span(span, &from[*n], &to[*n], err);
        if (rc != CDNOPT_OK)
            return rc;
        (*n)++;
    }
    return CDNOPT_OK;
}

/* Reject a span that covers no time of the history: a mistyped year would otherwise
 * leave the days it was meant to hide in the training data without a word. */
static int check_excludes_overlap(const train_agent_opts *o, const cdnopt_series *history,
                                  const int64_t *from, const int64_t *to, size_t n, char *err)
{
    int64_t first = history->t[0];
    int64_t end = history->t[history->n - 1] + history->step_s;
    for (size_t k = 0; k < n; k++) {
        if (from[k] < end && first < to[k])
            continue;
        char span_from[CDNOPT_CIVIL_TEXT_MAX], span_to[CDNOPT_CIVIL_TEXT_MAX];
        char start[CDNOPT_CIVIL_TEXT_MAX], last[CDNOPT_CIVIL_TEXT_MAX];
        cdnopt_civil_format(from[k], span_from, sizeof span_from);
        cdnopt_civil_format(to[k], span_to, sizeof span_to);
        cdnopt_civil_format(first, start, sizeof start);
        cdnopt_civil_format(history->t[history->n - 1], last, sizeof last);
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "--exclude span %.10s..%.10s covers no time of %s, which runs from "
                           "%s to %s; check the dates",
                           span_from, span_to, o->history, start, last);
    }
    return CDNOPT_OK;
}

/* Find the index *k in days of the --val-day date. Returns CDNOPT_EINVAL when no
 * allowed day has that date. */
static int find_val_day(const train_agent_opts *o, const cdnopt_series *history,
                        const size_t *days, size_t n_days, size_t *k, char *err)
{
    char text[32];
    int64_t t = 0;
    snprintf(text, sizeof text, "%.10s 00:00:00", o->val_day);
    if (cdnopt_civil_parse(text, &t, NULL) != CDNOPT_OK)
        return cdnopt_fail(err, CDNOPT_EINVAL, "--val-day '%s' is not a date YYYY-MM-DD",
                           o->val_day);
    for (*k = 0; *k < n_days && history->t[days[*k]] != t; (*k)++)
        ;
    if (*k == n_days)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "--val-day %s cannot start a 3-day window of the history outside "
                           "the excluded spans; pick another day", o->val_day);
    return CDNOPT_OK;
}

static bool windows_overlap(const cdnopt_series *history, size_t a, size_t b)
{
    int64_t gap = history->t[a] - history->t[b];
    return gap > -3 * 86400 && gap < 3 * 86400;
}

/* Drop from days every window that overlaps the 3-day window starting at day. */
static void drop_overlapping(const cdnopt_series *history, size_t day, size_t *days,
                             size_t *n_days)
{
    size_t kept = 0;
    for (size_t j = 0; j < *n_days; j++) {
        if (!windows_overlap(history, days[j], day))
            days[kept++] = days[j];
    }
    *n_days = kept;
}

/* Training windows that would be left beside a validation window starting at day. */
static size_t left_beside(const cdnopt_series *history, size_t day, const size_t *days,
                          size_t n_days)
{
    size_t left = 0;
    for (size_t j = 0; j < n_days; j++)
        left += !windows_overlap(history, days[j], day);
    return left;
}

/*
 * Pick the validation days: --val-day (else the last allowed day), then the latest
 * allowed days whose windows overlap no validation window picked before, up to
 * --val-days in all and while training windows remain. Every training window that
 * overlaps one of them is dropped.
 */
static int pick_validation(const train_agent_opts *o, const cdnopt_series *history, size_t *days,
                           size_t *n_days, size_t *val, size_t *n_val, char *err)
{
    size_t k = *n_days - 1;
    if (o->val_day) {
        int rc = find_val_day(o, history, days, *n_days, &k, err);
        if (rc != CDNOPT_OK)
            return rc;
    }
    val[0] = days[k];
    *n_val = 1;
    drop_overlapping(history, val[0], days, n_days);
    /* A further validation window is taken only while training windows remain. */
    while (*n_val < (size_t)o->val_days && *n_days > 0 &&
           left_beside(history, days[*n_days - 1], days, *n_days) > 0) {
        val[*n_val] = days[*n_days - 1];
        drop_overlapping(history, val[*n_val], days, n_days);
        (*n_val)++;
    }
    if (*n_days == 0)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "no training day is left beside the %zu validation days; give a "
                           "longer history or fewer --val-days", *n_val);
    if (*n_val < (size_t)o->val_days)
        CDNOPT_LOG_WARN(TRAIN_AGENT_LOG,
                        "validating on %zu days, not the %ld of --val-days, so that training "
                        "days remain; give a longer history for more",
                        *n_val, o->val_days);
    return CDNOPT_OK;
}

typedef struct curve_writer {
    FILE *file;
} curve_writer;

/* Format value with format, or as missing when it is NaN (no update ran in the round). */
static const char *format_or(char *buf, size_t size, const char *format, double value,
                             const char *missing)
{
    if (isnan(value))
        snprintf(buf, size, "%s", missing);
    else
        snprintf(buf, size, format, value);
    return buf;
}

static int log_progress(const cdnopt_train_progress *p, void *user)
{
    curve_writer *curve = user;
    char loss[32], accuracy[32];
    CDNOPT_LOG_INFO(TRAIN_AGENT_LOG,
                    "episode=%d mean_return_gbps=%.3f epsilon=%.3f loss=%s mask_accuracy=%s "
                    "val_peak_reduction=%.4f elapsed_s=%.1f",
                    p->episode, p->mean_return, p->epsilon,
                    format_or(loss, sizeof loss, "%.5f", p->loss, "-"),
                    format_or(accuracy, sizeof accuracy, "%.4f", p->mask_accuracy, "-"),
                    p->val_reduction, p->elapsed_s);
    /* A round without updates (the row after pretraining) has no loss or accuracy:
     * an empty field, which CSV readers take as missing, where "nan" is not portable. */
    char loss_field[32], accuracy_field[32];
    if (curve->file)
        fprintf(curve->file, "%d,%.6f,%.4f,%s,%s,%.6f,%.2f\n", p->episode, p->mean_return,
                p->epsilon, format_or(loss_field, sizeof loss_field, "%.6g", p->loss, ""),
                format_or(accuracy_field, sizeof accuracy_field, "%.5f", p->mask_accuracy, ""),
                p->val_reduction, p->elapsed_s);
    if (curve->file)
        fflush(curve->file); /* so that a long run can be plotted while it trains */
    return 0;
}

/* Log the peak reduction of greedy planned on the forecast of a validation day and
 * scored on its actual traffic: the reference for an agent trained with --model. */
static int log_greedy_on_forecast(const cdnopt_series *base, const cdnopt_series *seen,
                                  const cdnopt_release_set *set, const cdnopt_plan_params *pp,
                                  double naive_peak_gbps, char *err)
{
    cdnopt_rules rules = cdnopt_rules_default();
    cdnopt_plan_result result;
    int rc = cdnopt_plan_greedy(seen, set, &rules, pp, &result, err);
    if (rc != CDNOPT_OK)
        return rc;
    cdnopt_figures figures;
    rc = cdnopt_schedule_evaluate(base, set, result.schedule, &rules, NULL, &figures);
    if (rc == CDNOPT_OK)
        CDNOPT_LOG_INFO(TRAIN_AGENT_LOG,
                        "validation greedy_on_forecast_peak_gbps=%.3f "
                        "greedy_on_forecast_peak_reduction=%.4f",
                        figures.peak_gbps, 1.0 - figures.peak_gbps / naive_peak_gbps);
    cdnopt_plan_result_clear(&result);
    return rc;
}

/* Log the greedy planner's figures on a validation day, the reference the agent's
 * validation reduction is read against, and with a forecast (seen) also greedy's figure
 * when it plans on that forecast. */
static int log_greedy_reference(const cdnopt_series *base, const cdnopt_series *seen,
                                const cdnopt_release_set *set, cdnopt_objective objective,
                                char *err)
{
    cdnopt_rules rules = cdnopt_rules_default();
    cdnopt_plan_params pp = cdnopt_plan_params_default();
    pp.objective = objective;
    cdnopt_plan_result result;
    int rc = cdnopt_plan_greedy(base, set, &rules, &pp, &result, err);
    if (rc != CDNOPT_OK)
        return rc;
    char day[32];
    cdnopt_civil_format(base->t[0], day, sizeof day);
    CDNOPT_LOG_INFO(TRAIN_AGENT_LOG,
                    "validation day=%.10s releases=%zu naive_peak_gbps=%.3f "
                    "greedy_peak_gbps=%.3f greedy_peak_reduction=%.4f",
                    day, set->n, result.naive.peak_gbps, result.planned.peak_gbps,
                    result.peak_reduction);
    double naive_peak_gbps = result.naive.peak_gbps;
    cdnopt_plan_result_clear(&result);
    if (seen)
        return log_greedy_on_forecast(base, seen, set, &pp, naive_peak_gbps, err);
    return CDNOPT_OK;
}

/* The validation days' baselines, what the agent observes of them (with --model) and
 * their releases, owned. */
typedef struct val_days {
    cdnopt_series *base[CDNOPT_VALIDATION_MAX];
    cdnopt_series *seen[CDNOPT_VALIDATION_MAX];
    cdnopt_release_set *set[CDNOPT_VALIDATION_MAX];
    size_t n;
} val_days;

/* Draw the releases of each validation day (400 releases carrying 1.5 times the day's
 * baseline traffic, from a fixed seed per day, so that runs with different seeds are
 * measured on the same days) and log greedy's figures on them. */
static int draw_validation(const cdnopt_series *history, const size_t *val,
                           cdnopt_series *const *val_forecasts, size_t n_val,
                           cdnopt_objective objective, val_days *out, char *err)
{
    cdnopt_episode_params vp = cdnopt_episode_params_default();
    vp.min_releases = vp.max_releases = 400;
    vp.min_energy = vp.max_energy = 1.5;
    int rc = CDNOPT_OK;
    for (size_t k = 0; rc == CDNOPT_OK && k < n_val; k++) {
        cdnopt_rng rng;
        cdnopt_rng_seed(&rng, VALIDATION_SEED + k);
        vp.observed = val_forecasts ? (const cdnopt_series *const *)&val_forecasts[k] : NULL;
        rc = cdnopt_episode_draw(history, &val[k], 1, &vp, &rng, &out->base[k], &out->seen[k],
                                 &out->set[k], err);
        if (rc == CDNOPT_OK)
            out->n++;
        if (rc == CDNOPT_OK)
            rc = log_greedy_reference(out->base[k], out->seen[k], out->set[k], objective, err);
    }
    return rc;
}

static void val_days_free(val_days *v)
{
    for (size_t k = 0; k < v->n; k++) {
        cdnopt_release_set_free(v->set[k]);
        cdnopt_series_free(v->seen[k]);
        cdnopt_series_free(v->base[k]);
    }
}

static int make_params(const train_agent_opts *o, cdnopt_agent_params *ap,
                       cdnopt_train_params *tp, char *err)
{
    *ap = cdnopt_agent_params_default();
    *tp = cdnopt_train_params_default();
    cdnopt_objective objective = CDNOPT_OBJECTIVE_PEAK;
    if (cdnopt_objective_parse(o->objective, &objective) != CDNOPT_OK)
        return cdnopt_fail(err, CDNOPT_EINVAL, "--objective '%s' is invalid; use peak or p95",
                           o->objective);
    if (o->max_releases < o->min_releases)
        return cdnopt_fail(err, CDNOPT_EINVAL, "--max-releases %ld is below --min-releases %ld",
                           o->max_releases, o->min_releases);
    ap->objective = objective;
    ap->hidden = (int)o->hidden;
    ap->batch = (int)o->batch;
    ap->lr = o->lr;
    ap->gamma = o->gamma;
    ap->seed = (uint64_t)o->seed;
    tp->episodes = (int)o->episodes;
    tp->workers = (int)o->workers;
    tp->updates_per_episode = (int)o->updates;
    tp->seed = (uint64_t)o->seed;
    tp->episode.min_releases = (size_t)o->min_releases;
    tp->episode.max_releases = (size_t)o->max_releases;
    tp->demo_episodes = (int)o->demo_episodes;
    if (strcmp(o->demo_expert, "onestep") == 0)
        tp->demo_expert = CDNOPT_DEMO_EXPERT_ONESTEP;
    else if (strcmp(o->demo_expert, "planner") == 0)
        tp->demo_expert = CDNOPT_DEMO_EXPERT_PLANNER;
    else
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "--demo-expert '%s' is invalid; use onestep or planner",
                           o->demo_expert);
    ap->demo_margin = o->demo_margin;
    return CDNOPT_OK;
}

/* Forecasts of the training and validation windows that --model lets the agent observe. */
typedef struct seen_windows {
    cdnopt_series **train; /* one per training day, or NULL without --model */
    size_t n_train;
    cdnopt_series *val[CDNOPT_VALIDATION_MAX];
    size_t n_val;
} seen_windows;

/* Drop the days with too little history for the model, and fail when fewer than two
 * remain (one for training, one for validation). */
static int keep_forecastable(const train_agent_opts *o, const cdnopt_model *model, size_t *days,
                             size_t *n_days, char *err)
{
    size_t before = *n_days;
    *n_days = cdnopt__cli_days_with_history(model, days, *n_days);
    if (*n_days < before)
        CDNOPT_LOG_INFO(TRAIN_AGENT_LOG,
                        "skipped %zu days with less history before them than model %s needs",
                        before - *n_days, o->model);
    if (*n_days < 2)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "'%s' has %zu midnights with enough history for model %s before "
                           "them; at least 2 are needed (training and validation); give a "
                           "longer history", o->history, *n_days, o->model);
    return CDNOPT_OK;
}

/* Forecast every training and validation window once. */
static int forecast_days(const train_agent_opts *o, const cdnopt_model *model,
                         const cdnopt_series *history, const size_t *days, size_t n_days,
                         const size_t *val, size_t n_val, seen_windows *seen, char *err)
{
    seen->train = cdnopt_calloc(n_days, sizeof *seen->train);
    if (!seen->train)
        return cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory for %zu forecasts", n_days);
    double started = cdnopt_clock_s();
    int rc = cdnopt__cli_forecast_windows(model, o->model, history, days, n_days, seen->train,
                                          err);
    if (rc == CDNOPT_OK)
        seen->n_train = n_days;
    if (rc == CDNOPT_OK)
        rc = cdnopt__cli_forecast_windows(model, o->model, history, val, n_val, seen->val, err);
    if (rc == CDNOPT_OK)
        seen->n_val = n_val;
    if (rc == CDNOPT_OK)
        CDNOPT_LOG_INFO(TRAIN_AGENT_LOG, "forecast windows=%zu model=%s elapsed_s=%.1f",
                        n_days + n_val, o->model, cdnopt_clock_s() - started);
    return rc;
}

static void seen_windows_free(seen_windows *seen)
{
    if (seen->train)
        cdnopt__cli_windows_free(seen->train, seen->n_train);
    cdnopt_free(seen->train);
    cdnopt__cli_windows_free(seen->val, seen->n_val);
}

static int train(const train_agent_opts *o, const cdnopt_series *history,
                 const cdnopt_model *model, char *err)
{
    int64_t from[MAX_EXCLUDE], to[MAX_EXCLUDE];
    size_t n_exclude = 0;
    int rc = parse_excludes(o->exclude, from, to, &n_exclude, err);
    if (rc == CDNOPT_OK)
        rc = check_excludes_overlap(o, history, from, to, n_exclude, err);
    if (rc != CDNOPT_OK)
        return rc;
    size_t n_days = cdnopt_episode_days(history, from, to, n_exclude, NULL, 0);
    if (n_days < 2)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "'%s' has %zu midnights that start a 3-day window outside the "
                           "excluded spans; at least 2 are needed (training and validation)",
                           o->history, n_days);
    size_t *days = cdnopt_malloc(n_days * sizeof *days);
    if (!days)
        return cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory");
    cdnopt_episode_days(history, from, to, n_exclude, days, n_days);

    cdnopt_agent_params ap;
    cdnopt_train_params tp;
    cdnopt_agent *agent = NULL;
    val_days validation = {0};
    seen_windows seen = {0};
    curve_writer curve = {NULL};
    size_t val[CDNOPT_VALIDATION_MAX], n_val = 0;
    rc = make_params(o, &ap, &tp, err);
    if (rc == CDNOPT_OK && model)
        rc = keep_forecastable(o, model, days, &n_days, err);
    if (rc == CDNOPT_OK)
        rc = pick_validation(o, history, days, &n_days, val, &n_val, err);
    if (rc == CDNOPT_OK && model)
        rc = forecast_days(o, model, history, days, n_days, val, n_val, &seen, err);
    if (rc == CDNOPT_OK)
        rc = draw_validation(history, val, model ? seen.val : NULL, n_val, ap.objective,
                             &validation, err);
    tp.episode.observed = (const cdnopt_series *const *)seen.train;
    if (rc == CDNOPT_OK)
        rc = cdnopt_agent_new(&ap, &agent, err);
    if (rc == CDNOPT_OK)
        cdnopt__cli_set_rollout_hooks(agent);

    /* Under mpirun, rank 0 learns, reports progress and writes the files. */
    if (rc == CDNOPT_OK && o->curve && cdnopt_cli_rank() == 0) {
        curve.file = fopen(o->curve, "w");
        if (!curve.file)
            rc = cdnopt_fail(err, CDNOPT_EIO, "cannot write --curve file '%s'", o->curve);
        else
            fprintf(curve.file, "episode,mean_return_gbps,epsilon,loss,mask_accuracy,"
                                "val_peak_reduction,elapsed_s\n");
    }
    if (rc == CDNOPT_OK) {
        char day[32];
        cdnopt_civil_format(history->t[val[0]], day, sizeof day);
        CDNOPT_LOG_INFO(TRAIN_AGENT_LOG, "training_days=%zu validation_days=%zu "
                        "first_validation_day=%.10s episodes=%d workers=%d seed=%ld", n_days,
                        n_val, day, tp.episodes, tp.workers, o->seed);
        cdnopt_validation v = {(const cdnopt_series *const *)validation.base,
                               (const cdnopt_release_set *const *)validation.set, validation.n,
                               model ? (const cdnopt_series *const *)validation.seen : NULL};
        rc = cdnopt_agent_train(agent, history, days, n_days, &v, &tp, log_progress, &curve,
                                err);
    }
    if (rc == CDNOPT_OK && cdnopt_cli_rank() == 0)
        rc = cdnopt_agent_save(agent, o->out, err);
    if (rc == CDNOPT_OK && cdnopt_cli_rank() == 0)
        CDNOPT_LOG_INFO(TRAIN_AGENT_LOG, "saved agent=%s", o->out);
    if (curve.file)
        fclose(curve.file);
    cdnopt_agent_free(agent);
    val_days_free(&validation);
    seen_windows_free(&seen);
    cdnopt_free(days);
    return rc;
}

/* Reject --demo-expert and --demo-margin without demonstrations, which would drop them
 * without a word. */
static int check_demo_flags(const train_agent_opts *o, const cdnopt_cli_option *opts,
                            size_t n_opts, char *err)
{
    static const char *const demo_flags[] = {"--demo-expert", "--demo-margin"};
    const char *flag = cdnopt_cli_first_seen(opts, n_opts, demo_flags,
                                             sizeof demo_flags / sizeof *demo_flags);
    if (o->demo_episodes > 0 || flag == NULL)
        return CDNOPT_OK;
    return cdnopt_fail(err, CDNOPT_EINVAL,
                       "%s applies to the demonstrations, and --demo-episodes 0 plays none; drop "
                       "%s, or give --demo-episodes N", flag, flag);
}

int cdnopt_cmd_train_agent(int argc, char **argv)
{
    train_agent_opts o = {.objective = "peak", .episodes = 1200, .workers = 2, .seed = 1,
                          .hidden = 128, .updates = 32, .batch = 64, .min_releases = 50,
                          .max_releases = 400, .lr = 5e-4, .gamma = 0.95,
                          .demo_episodes = 200, .demo_expert = "onestep", .demo_margin = 0.05,
                          .val_days = 3};
    /* --history is read with the same repair flags as --data elsewhere. Its unit does
     * not matter, because each window is rescaled, so values are kept as written;
     * with --model it is the model's own unit unless --unit names another. */
    cdnopt_cli_data_opts data = cdnopt_cli_data_opts_default();
    const char *unit_unset = "raw";
    data.unit = unit_unset;
    cdnopt_cli_option opts[] = {
        {"--history", CDNOPT_CLI_STRING, &o.history, 0, 0, "FILE",
         "CSV of past traffic (time, value; any unit, each window is rescaled)", true, false},
        {"--model", CDNOPT_CLI_STRING, &o.model, 0, 0, "FILE",
         "forecasting model (cdnopt train) whose forecast the agent observes in place of "
         "each window's traffic", false, false},
        CDNOPT_CLI_READ_OPTIONS(&data),
        {"--out", CDNOPT_CLI_OUTPUT, &o.out, 0, 0, "FILE",
         "HDF5 agent file to write (replaced if it exists)", true, false},
        {"--episodes", CDNOPT_CLI_INT, &o.episodes, 1, 1e7, "N", "training episodes", false,
         false},
        {"--workers", CDNOPT_CLI_INT, &o.workers, 1, 64, "K",
         "environment threads; a run is reproducible for a seed and a worker count", false,
         false},
        {"--seed", CDNOPT_CLI_INT, &o.seed, 0, 2147483647.0, "S",
         "seed of the weights, the episodes and the exploration", false, false},
        {"--objective", CDNOPT_CLI_STRING, &o.objective, 0, 0, "NAME",
         "figure the rewards measure: peak or p95", false, false},
        {"--exclude", CDNOPT_CLI_STRING, &o.exclude, 0, 0, "SPANS",
         "date spans FROM..TO (comma-separated) that no episode may overlap", false, false},
        {"--val-day", CDNOPT_CLI_STRING, &o.val_day, 0, 0, "DATE",
         "first day of the first validation window (default: the last allowed day)", false,
         false},
        {"--val-days", CDNOPT_CLI_INT, &o.val_days, 1, CDNOPT_VALIDATION_MAX, "N",
         "validation windows, the latest allowed ones that do not overlap", false, false},
        {"--curve", CDNOPT_CLI_OUTPUT, &o.curve, 0, 0, "FILE",
         "CSV file that receives one progress row per round", false, false},
        {"--hidden", CDNOPT_CLI_INT, &o.hidden, 1, 4096, "N",
         "units of each hidden layer of the Q-networks", false, false},
        {"--updates", CDNOPT_CLI_INT, &o.updates, 0, 10000, "N",
         "gradient updates per training episode", false, false},
        {"--batch", CDNOPT_CLI_INT, &o.batch, 1, 1024, "N", "transitions per update", false,
         false},
        {"--lr", CDNOPT_CLI_DOUBLE, &o.lr, 1e-7, 1.0, "RATE", "Adam learning rate", false,
         false},
        {"--gamma", CDNOPT_CLI_DOUBLE, &o.gamma, 0, 1, "G", "discount per decision", false,
         false},
        {"--min-releases", CDNOPT_CLI_INT, &o.min_releases, 1, 100000, "N",
         "minimum releases in a training episode", false, false},
        {"--max-releases", CDNOPT_CLI_INT, &o.max_releases, 1, 100000, "N",
         "maximum releases in a training episode", false, false},
        {"--demo-episodes", CDNOPT_CLI_INT, &o.demo_episodes, 0, 1e6, "N",
         "episodes of the one-step greedy expert to learn from before training (0 = none)",
         false, false},
        {"--demo-expert", CDNOPT_CLI_STRING, &o.demo_expert, 0, 0, "NAME",
         "expert of the demonstrations: onestep (one greedy step per release) or planner "
         "(replays the greedy planner's schedule of the episode's day)",
         false, false},
        {"--demo-margin", CDNOPT_CLI_DOUBLE, &o.demo_margin, 0, 10, "M",
         "margin by which Q must rank the expert's action first, in scaled reward units",
         false, false},
    };
    size_t n_opts = sizeof opts / sizeof opts[0];

    char err[CDNOPT_ERRMSG_MAX] = "";
    int rc = cdnopt_cli_parse(argc, argv, opts, n_opts, err);
    if (rc == CDNOPT_CLI_HELP) {
        cdnopt_cli_print_help(stdout, synopsis, description, opts, n_opts);
        return CDNOPT_EXIT_OK;
    }
    if (rc != CDNOPT_OK)
        return cdnopt_cli_report_error("train-agent", rc, err);
    rc = check_demo_flags(&o, opts, n_opts, err);
    if (rc != CDNOPT_OK)
        return cdnopt_cli_report_error("train-agent", rc, err);

    data.data = o.history;
    cdnopt_series *history = NULL;
    cdnopt_model *model = NULL;
    rc = o.model ? cdnopt_model_load(o.model, &model, err) : CDNOPT_OK;
    if (rc == CDNOPT_OK && model != NULL)
        rc = cdnopt_global_model_reject(o.model, "--model", err);
    if (rc == CDNOPT_OK && model != NULL && data.unit == unit_unset &&
        cdnopt_model_unit(model)[0] != '\0')
        data.unit = cdnopt_model_unit(model);
    if (rc == CDNOPT_OK && model != NULL)
        rc = cdnopt_cli_model_unit_check(model, o.model, &data, err);
    if (rc == CDNOPT_OK)
        rc = cdnopt_cli_read_series(&data, &history, err);
    if (rc == CDNOPT_OK)
        rc = train(&o, history, model, err);
    cdnopt_series_free(history);
    cdnopt_model_free(model);
    if (rc != CDNOPT_OK)
        return cdnopt_cli_report_error("train-agent", rc, err);
    return CDNOPT_EXIT_OK;
}
