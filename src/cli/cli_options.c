/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The data-reading and training flag groups shared by train, forecast and evaluate.
 */
#include "cli_options.h"

#include "cdnopt/core.h"

#include <math.h>
#include <string.h>

#define CLI_LOG "cli"

cdnopt_cli_data_opts cdnopt_cli_data_opts_default(void)
{
    cdnopt_cli_data_opts d = {
        .data = NULL,
        .column = NULL,
        .unit = "gbit/s",
        .tz = NULL,
        .fill_gaps = "none",
        .max_gap_s = 0,
        .duplicates = "error",
        .drop_missing = false,
    };
    return d;
}

static int parse_fill(const char *text, enum cdnopt_fill *out, char *err)
{
    static const struct {
        const char *name;
        enum cdnopt_fill fill;
    } modes[] = {
        {"none", CDNOPT_FILL_NONE},
        {"linear", CDNOPT_FILL_LINEAR},
        {"previous", CDNOPT_FILL_PREVIOUS},
    };
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        if (strcmp(text, modes[i].name) == 0) {
            *out = modes[i].fill;
            return CDNOPT_OK;
        }
    }
    return cdnopt_fail(err, CDNOPT_EINVAL,
                       "invalid value '%s' for --fill-gaps: use none, linear or previous", text);
}

static int parse_duplicates(const char *text, enum cdnopt_duplicates *out, char *err)
{
    static const struct {
        const char *name;
        enum cdnopt_duplicates mode;
    } modes[] = {
        {"error", CDNOPT_DUPLICATES_ERROR},
        {"keep-last", CDNOPT_DUPLICATES_KEEP_LAST},
        {"mean", CDNOPT_DUPLICATES_MEAN},
    };
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        if (strcmp(text, modes[i].name) == 0) {
            *out = modes[i].mode;
            return CDNOPT_OK;
        }
    }
    return cdnopt_fail(err, CDNOPT_EINVAL,
                       "invalid value '%s' for --duplicates: use error, keep-last or mean", text);
}

int cdnopt_cli_read_series(const cdnopt_cli_data_opts *d, cdnopt_series **out, char *err)
{
    *out = NULL;
    cdnopt_series_read_params params = cdnopt_series_read_params_default();
    char reason[CDNOPT_ERRMSG_MAX];
    if (cdnopt_unit_parse(d->unit, &params.unit, reason) != CDNOPT_OK)
        return cdnopt_fail(err, CDNOPT_EINVAL, "--unit: %s", reason);
    int rc = parse_fill(d->fill_gaps, &params.fill_gaps, err);
    if (rc == CDNOPT_OK)
        rc = parse_duplicates(d->duplicates, &params.duplicates, err);
    if (rc != CDNOPT_OK)
        return rc;
    params.drop_missing = d->drop_missing;
    params.value_column = d->column;
    params.tz = d->tz;
    params.max_gap_s = d->max_gap_s;

    cdnopt_series_read_report report;
    rc = cdnopt_series_read_csv(d->data, &params, out, &report, err);
    if (rc != CDNOPT_OK)
        return rc;

    char summary[256];
    cdnopt_series_read_report_format(&report, summary, sizeof summary);
    CDNOPT_LOG_INFO(CLI_LOG, "read file=%s unit=%s %s", d->data, cdnopt_unit_name(params.unit),
                    summary);
    return CDNOPT_OK;
}

/*
 * Return the scale a model works in. Every unit but raw is converted to Gbit/s on
 * reading, so a model trained on Mbit/s files also forecasts Gbit/s files. Raw values
 * keep the file's own scale.
 */
static const char *working_unit(enum cdnopt_unit unit)
{
    return unit == CDNOPT_UNIT_RAW ? cdnopt_unit_name(CDNOPT_UNIT_RAW)
                                   : cdnopt_unit_name(CDNOPT_UNIT_GBPS);
}

int cdnopt_cli_model_unit_set(cdnopt_model *m, const cdnopt_cli_data_opts *d, char *err)
{
    enum cdnopt_unit unit;
    char reason[CDNOPT_ERRMSG_MAX];
    if (cdnopt_unit_parse(d->unit, &unit, reason) != CDNOPT_OK)
        return cdnopt_fail(err, CDNOPT_EINVAL, "--unit: %s", reason);
    return cdnopt_model_set_unit(m, working_unit(unit));
}

int cdnopt_cli_model_step_check(const cdnopt_model *m, const char *model_path,
                                const cdnopt_series *s, const char *data_path, char *err)
{
    int64_t step_s = cdnopt_model_step_s(m);
    if (step_s == s->step_s)
        return CDNOPT_OK;
    char model_step[32], data_step[32];
    cdnopt_duration_format(step_s, model_step, sizeof model_step);
    cdnopt_duration_format(s->step_s, data_step, sizeof data_step);
    return cdnopt_fail(err, CDNOPT_EINVAL,
                       "%s has a step of %s but model %s was trained on a step of %s; "
                       "resample the data or train a model on it",
                       data_path, data_step, model_path, model_step);
}

int cdnopt_cli_model_unit_check(const cdnopt_model *m, const char *model_path,
                                const cdnopt_cli_data_opts *d, char *err)
{
    enum cdnopt_unit unit;
    char reason[CDNOPT_ERRMSG_MAX];
    if (cdnopt_unit_parse(d->unit, &unit, reason) != CDNOPT_OK)
        return cdnopt_fail(err, CDNOPT_EINVAL, "--unit: %s", reason);
    /* A model that recorded a converting unit (before the working unit was stored)
     * works in Gbit/s too. */
    const char *recorded = cdnopt_model_unit(m);
    bool trained_raw = strcmp(recorded, cdnopt_unit_name(CDNOPT_UNIT_RAW)) == 0;
    if (recorded[0] == '\0' || trained_raw == (unit == CDNOPT_UNIT_RAW))
        return CDNOPT_OK;
    const char *data = d->data != NULL ? d->data : "the data";
    if (trained_raw)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "model %s was trained on raw values (--unit raw), but --unit %s "
                           "converts %s to Gbit/s; pass --unit raw, or train a model on "
                           "converted data",
                           model_path, cdnopt_unit_name(unit), data);
    return cdnopt_fail(err, CDNOPT_EINVAL,
                       "model %s was trained on values converted to Gbit/s, but --unit raw "
                       "keeps %s unconverted; pass the file's unit (gbit/s, mbit/s, bit/s, "
                       "bits-per-interval or bytes-per-interval), or train with --unit raw",
                       model_path, data);
}

const char *const cdnopt_cli_model_flags[CDNOPT_CLI_N_MODEL_FLAGS] = {
    "--arch",  "--head",  "--head-base", "--epochs",      "--window",      "--units",
    "--batch", "--lr",    "--patience",  "--max-windows", "--no-calendar", "--seasonal-lag",
};

cdnopt_cli_train_opts cdnopt_cli_train_opts_default(void)
{
    cdnopt_model_params p = cdnopt_model_params_default();
    cdnopt_cli_train_opts t = {
        .arch = "residual-lstm",
        .head = "auto",
        .head_base = "auto",
        .epochs = p.epochs,
        .window_s = 86400,
        .units = p.units,
        .batch = p.batch,
        .lr = p.learning_rate,
        .no_calendar = !p.calendar,
        .seasonal_lag = p.seasonal_lag,
        .patience = p.patience,
        .max_windows = p.max_windows,
        .seed = (long)p.seed,
    };
    return t;
}

static int parse_head(const cdnopt_cli_train_opts *t, cdnopt_model_params *p, char *err)
{
    /* auto: the direct head forecast better on the validation slices measured (see
     * docs/benchmarks.md), but only the residual LSTM has it. */
    if (strcmp(t->head, "auto") == 0)
        p->head = p->arch == CDNOPT_ARCH_RESIDUAL_LSTM ? CDNOPT_HEAD_DIRECT : CDNOPT_HEAD_RECURSIVE;
    else if (strcmp(t->head, "recursive") == 0)
        p->head = CDNOPT_HEAD_RECURSIVE;
    else if (strcmp(t->head, "direct") == 0)
        p->head = CDNOPT_HEAD_DIRECT;
    else
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "invalid value '%s' for --head: use auto, recursive or direct", t->head);

    /* auto: the seasonal base needs the day before every target inside the window. */
    if (strcmp(t->head_base, "auto") == 0)
        p->base = t->window_s >= 86400 ? CDNOPT_BASE_SEASONAL : CDNOPT_BASE_LAST;
    else if (strcmp(t->head_base, "seasonal") == 0)
        p->base = CDNOPT_BASE_SEASONAL;
    else if (strcmp(t->head_base, "last") == 0)
        p->base = CDNOPT_BASE_LAST;
    else
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "invalid value '%s' for --head-base: use auto, seasonal or last",
                           t->head_base);
    if (p->head == CDNOPT_HEAD_RECURSIVE && strcmp(t->head_base, "auto") != 0)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "--head-base sets the base of the direct head, but this model has the "
                           "recursive head (--head %s, --arch %s); drop --head-base, or use "
                           "--head direct with the residual LSTM",
                           t->head, t->arch);
    return CDNOPT_OK;
}

int cdnopt_cli_model_params(const cdnopt_cli_train_opts *t, int64_t step_s,
                            cdnopt_model_params *out, char *err)
{
    cdnopt_model_params p = cdnopt_model_params_default();
    if (strcmp(t->arch, "residual-lstm") == 0)
        p.arch = CDNOPT_ARCH_RESIDUAL_LSTM;
    else if (strcmp(t->arch, "transformer") == 0)
        p.arch = CDNOPT_ARCH_TRANSFORMER;
    else
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "invalid value '%s' for --arch: use residual-lstm or transformer",
                           t->arch);

    int rc = parse_head(t, &p, err);
    if (rc != CDNOPT_OK)
        return rc;

    if (t->window_s % step_s != 0) {
        char window[32], step[32];
        cdnopt_duration_format(t->window_s, window, sizeof window);
        cdnopt_duration_format(step_s, step, sizeof step);
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "--window %s is not a multiple of the series step %s; give a window "
                           "of whole steps",
                           window, step);
    }
    p.window = (int)(t->window_s / step_s);
    p.epochs = (int)t->epochs;
    p.units = (int)t->units;
    p.batch = (int)t->batch;
    p.learning_rate = (float)t->lr;
    p.calendar = !t->no_calendar;
    p.seasonal_lag = t->seasonal_lag;
    p.patience = (int)t->patience;
    p.max_windows = (int)t->max_windows;
    p.seed = (uint64_t)t->seed;
    *out = p;
    return CDNOPT_OK;
}

void cdnopt_cli_log_epoch(const cdnopt_epoch_report *r, void *user)
{
    (void)user;
    if (isnan(r->val_loss))
        CDNOPT_LOG_INFO("train", "epoch=%d loss=%.6f windows=%d seconds=%.1f", r->epoch,
                        r->train_loss, r->n_windows, r->seconds);
    else
        CDNOPT_LOG_INFO("train", "epoch=%d loss=%.6f val_loss=%.6f windows=%d seconds=%.1f",
                        r->epoch, r->train_loss, r->val_loss, r->n_windows, r->seconds);
}
