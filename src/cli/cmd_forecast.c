/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cdnopt forecast: load a model, forecast the horizon after the last sample of a
 * CSV series with MC-dropout intervals, and write forecast.csv.
 */
#include "cli_dist.h"
#include "cli_global.h"
#include "cli_options.h"
#include "commands.h"

#include "cdnopt/core.h"
#include "cdnopt/pipeline.h"

#include <stdio.h>

#define FORECAST_LOG "forecast"

static const char synopsis[] =
    "forecast --model MODEL.h5 (--data FILE | --series-dir DIR | --wide FILE) [options] "
    "--out FILE.csv";
static const char description[] =
    "Forecast the horizon after the last timestamp of FILE. The CSV has the columns\n"
    "timestamp, mean, lower, upper and critical (= calibrated upper x --safety), in\n"
    "Gbit/s, or in the file's own units with --unit raw. Read the data with the same\n"
    "--unit as in training. The same --seed gives the same numbers.\n"
    "With --series-dir, every DIR/*.csv is forecast (shared over the ranks under\n"
    "mpirun) into one CSV with a leading series column; each series' seed comes from\n"
    "--seed and its file name, so the numbers do not depend on the number of ranks.\n"
    "A global model (cdnopt train --wide or --series-dir) forecasts every row of --wide\n"
    "or every DIR/*.csv in one process and writes three CSVs of one row per series (id,\n"
    "then the horizon's values): the mean to --out, the bounds to its name with -lower\n"
    "and -upper before .csv. Series i uses seed --seed + i.";

/* Load the model's calibration. A model saved without one gets raw intervals. */
static int load_calibration(const char *path, cdnopt_calibration *cal, bool *have, char *err)
{
    *have = false;
    int rc = cdnopt_pipeline_calibration_load(path, cal, err);
    if (rc == CDNOPT_ENOTFOUND) {
        CDNOPT_LOG_WARN(FORECAST_LOG, "%s; using raw intervals mean +- 1.96 sd", err);
        return CDNOPT_OK;
    }
    *have = rc == CDNOPT_OK;
    return rc;
}

/* Fail early, naming the file, when the data is shorter than one model window. */
static int check_history(const cdnopt_model *m, const cdnopt_series *s, const char *model_path,
                         const char *data_path, char *err)
{
    size_t need = cdnopt_model_history_min(m);
    if (s->n >= need)
        return CDNOPT_OK;
    char span[32];
    cdnopt_duration_format((int64_t)need * s->step_s, span, sizeof span);
    bool lag = cdnopt_model_get_params(m)->seasonal_lag;
    return cdnopt_fail(err, CDNOPT_EINVAL,
                       "%s has %zu samples, but model %s needs at least %zu (one input window%s, "
                       "%s of data) before the forecast start; supply a longer file",
                       data_path, s->n, model_path, need, lag ? " and a day of seasonal lag" : "",
                       span);
}

/* Warn when the input's last window lies far outside the values the model was trained
 * on, which most often means a different --unit than in training. Far is ten ranges
 * above the top, or under a hundredth of a positive bottom: real traffic growth or a
 * quiet night moves the level much less. */
static void warn_far_level(const cdnopt_model *m, const cdnopt_series *s, const char *model_path,
                           const char *data_path)
{
    double lo = 0, hi = 0;
    cdnopt_model_training_range(m, &lo, &hi);
    size_t window = cdnopt_model_history_min(m);
    size_t first = s->n > window ? s->n - window : 0;
    double sum = 0;
    for (size_t i = first; i < s->n; i++)
        sum += s->v[i];
    double level = sum / (double)(s->n - first);
    double range = hi > lo ? hi - lo : 1.0;
    if (level > hi + 10.0 * range || (lo > 0 && level < 0.01 * lo))
        CDNOPT_LOG_WARN("forecast",
                        "the last window of %s has mean %g, far outside the range %g to %g that "
                        "model %s was trained on; check that --unit is the one used in training",
                        data_path, level, lo, hi, model_path);
}

/* Warn when the forecast mean leaves the training range by more than that range.
 * An undertrained recursive head can do so, and the numbers alone would not show it. */
static void warn_runaway(const cdnopt_model *m, const cdnopt_forecast_result *f,
                         const char *model_path)
{
    double lo = 0, hi = 0;
    cdnopt_model_training_range(m, &lo, &hi);
    int k = cdnopt_forecast_first_runaway(f, lo, hi);
    if (k >= 0)
        CDNOPT_LOG_WARN("forecast",
                        "the forecast mean reaches %g at step %d, beyond the range %g to %g "
                        "that model %s was trained on by more than that range; the model may be "
                        "undertrained: train it longer, or with --head direct",
                        f->mean[k], k + 1, lo, hi, model_path);
}

/* Set *is_global when the model file has a /global group (cdnopt train --wide). */
static int probe_global(const char *path, cdnopt_global_params *gp, bool *is_global, char *err)
{
    int rc = cdnopt_global_info_load(path, gp, err);
    *is_global = rc == CDNOPT_OK;
    return rc == CDNOPT_ENOTFOUND ? CDNOPT_OK : rc;
}

typedef struct forecast_args {
    const char *model_path;
    const char *out_path;
    const char *series_dir;
    int64_t horizon_s;
    long samples;
    double safety;
    long seed;
    long recent_days;
} forecast_args;

static int forecast_and_write(const forecast_args *a, const cdnopt_cli_data_opts *data,
                              const cdnopt_model *m, const cdnopt_calibration *cal, char *err)
{
    cdnopt_series *s = NULL;
    int rc = cdnopt_cli_read_series(data, &s, err);
    if (rc == CDNOPT_OK)
        rc = cdnopt_cli_model_step_check(m, a->model_path, s, data->data, err);
    if (rc == CDNOPT_OK)
        rc = check_history(m, s, a->model_path, data->data, err);
    if (rc == CDNOPT_OK)
        warn_far_level(m, s, a->model_path, data->data);
    if (rc == CDNOPT_OK && a->horizon_s % s->step_s != 0)
        rc = cdnopt_fail(err, CDNOPT_EINVAL,
                         "--horizon of %lld s is not a multiple of the series step of %lld s",
                         (long long)a->horizon_s, (long long)s->step_s);

    cdnopt_forecast_result *f = NULL;
    if (rc == CDNOPT_OK) {
        cdnopt_forecast_params fp = cdnopt_forecast_params_default();
        fp.horizon = (int)(a->horizon_s / s->step_s);
        fp.n_samples = (int)a->samples;
        fp.recent_days = (int)a->recent_days;
        fp.safety = a->safety;
        fp.seed = (uint64_t)a->seed;
        cdnopt_sampler sampler = cdnopt_sampler_from_model(m);
        rc = cdnopt_pipeline_forecast(&sampler, cal, s, s->n, &fp, &f, err);
    }
    if (rc == CDNOPT_OK)
        rc = cdnopt_forecast_write_csv(f, a->out_path, err);
    if (rc == CDNOPT_OK)
        warn_runaway(m, f, a->model_path);
    if (rc == CDNOPT_OK)
        CDNOPT_LOG_INFO(FORECAST_LOG,
                        "wrote file=%s steps=%d samples=%ld calibrated=%s recent_days_used=%d",
                        a->out_path, f->horizon, a->samples, f->calibrated ? "yes" : "no",
                        f->recent_origins);
    cdnopt_forecast_result_free(f);
    cdnopt_series_free(s);
    return rc;
}

int cdnopt_cmd_forecast(int argc, char **argv)
{
    cdnopt_cli_data_opts data = cdnopt_cli_data_opts_default();
    forecast_args a = {NULL, NULL, NULL, 86400, 100, 1.2, 1,
                       cdnopt_forecast_params_default().recent_days};
    cdnopt_cli_global_opts global = cdnopt_cli_global_opts_default();
    cdnopt_cli_option opts[] = {
        {"--model", CDNOPT_CLI_STRING, &a.model_path, 0, 0, "FILE",
         "HDF5 model file written by cdnopt train", true, false},
        CDNOPT_CLI_DATA_OPTIONS(&data),
        {"--horizon", CDNOPT_CLI_DURATION, &a.horizon_s, 60, 28.0 * 86400, "DURATION",
         "time to forecast after the last sample", false, false},
        {"--samples", CDNOPT_CLI_INT, &a.samples, 2, 100000, "N",
         "Monte-Carlo dropout paths behind the mean and the interval", false, false},
        {"--safety", CDNOPT_CLI_DOUBLE, &a.safety, 1.0, 10.0, "FACTOR",
         "critical = upper bound x this factor", false, false},
        {"--seed", CDNOPT_CLI_INT, &a.seed, 0, 2147483647.0, "N", "seed of the dropout masks",
         false, false},
        CDNOPT_CLI_RECENT_DAYS_OPTION(&a.recent_days),
        {"--out", CDNOPT_CLI_OUTPUT, &a.out_path, 0, 0, "FILE", "forecast CSV to write", true,
         false},
        {"--series-dir", CDNOPT_CLI_STRING, &a.series_dir, 0, 0, "DIR",
         "forecast every .csv file in DIR instead of --data", false, false},
        {"--wide", CDNOPT_CLI_STRING, &global.wide, 0, 0, "FILE",
         "forecast every row of a wide CSV (id, then values) with a global model", false,
         false},
        {"--step", CDNOPT_CLI_DURATION, &global.step_s, 60, 86400, "DURATION",
         "time between the values of a --wide row", false, false},
    };
    size_t n_opts = sizeof opts / sizeof opts[0];
    cdnopt_cli_option *data_opt = cdnopt_cli_find(opts, n_opts, "--data");
    data_opt->required = false;

    int status = cdnopt_cli_parse_command("forecast", synopsis, description, argc, argv, opts,
                                          n_opts);
    if (status != CDNOPT_CLI_CONTINUE)
        return status;

    char err[CDNOPT_ERRMSG_MAX] = "";
    if (global.wide != NULL && (data.data != NULL || a.series_dir != NULL))
        return cdnopt_cli_report_error("forecast", CDNOPT_EINVAL,
                                       "give exactly one of --data, --series-dir and --wide");
    if (global.wide == NULL && cdnopt_cli_check_data_source(data_opt, a.series_dir, err) != 0)
        return cdnopt_cli_report_error("forecast", CDNOPT_EINVAL, err);
    if (cdnopt_cli_check_step_flag(&global, opts, n_opts, err) != CDNOPT_OK ||
        cdnopt_cli_check_wide_read_flags(&global, opts, n_opts, err) != CDNOPT_OK)
        return cdnopt_cli_report_error("forecast", CDNOPT_EINVAL, err);
    global.series_dir = a.series_dir;

    cdnopt_model *m = NULL;
    cdnopt_calibration cal;
    bool have_cal = false;
    int rc = cdnopt_model_load(a.model_path, &m, err);
    if (rc == CDNOPT_OK)
        rc = cdnopt_cli_model_unit_check(m, a.model_path, &data, err);
    if (rc == CDNOPT_OK)
        rc = load_calibration(a.model_path, &cal, &have_cal, err);
    cdnopt_global_params gp = cdnopt_global_params_default();
    bool is_global = false;
    if (rc == CDNOPT_OK)
        rc = probe_global(a.model_path, &gp, &is_global, err);
    if (rc == CDNOPT_OK && !is_global && global.wide != NULL)
        rc = cdnopt_fail(err, CDNOPT_EINVAL,
                         "--wide needs a global model, but %s was trained on one series; "
                         "train it with cdnopt train --wide", a.model_path);
    if (rc == CDNOPT_OK && is_global) {
        cdnopt_cli_global_forecast_args ga = {a.model_path, a.out_path, a.horizon_s,
                                              (int)a.samples, (uint64_t)a.seed};
        /* The global forecast writes the mean and the stored bounds only. It has no
         * critical line and does not widen the bounds by the recent days. */
        static const char *const single_flags[] = {"--safety", "--recent-days"};
        const char *flag = cdnopt_cli_first_seen(opts, n_opts, single_flags,
                                                 sizeof single_flags / sizeof *single_flags);
        if (flag != NULL)
            rc = cdnopt_fail(err, CDNOPT_EINVAL,
                             "%s applies only to a single-series model, but %s is a global "
                             "model, which writes the mean and its bounds alone; drop %s",
                             flag, a.model_path, flag);
        else if (data.data != NULL)
            rc = cdnopt_fail(err, CDNOPT_EINVAL, "%s is a global model; give its series with "
                             "--wide FILE or --series-dir DIR", a.model_path);
        else
            rc = cdnopt_cli_global_forecast(&global, &data, m, &gp, have_cal ? &cal : NULL,
                                            &ga, err);
    } else if (rc == CDNOPT_OK && a.series_dir != NULL) {
        cdnopt_cli_forecast_dir_args da = {m, have_cal ? &cal : NULL, a.horizon_s,
                                           (int)a.samples, a.safety, (uint64_t)a.seed,
                                           (int)a.recent_days};
        rc = cdnopt_cli_forecast_dir(a.series_dir, &data, &da, a.out_path, err);
    } else if (rc == CDNOPT_OK) {
        rc = forecast_and_write(&a, &data, m, have_cal ? &cal : NULL, err);
    }
    if (have_cal)
        cdnopt_calibration_fini(&cal);
    cdnopt_model_free(m);
    if (rc != CDNOPT_OK)
        return cdnopt_cli_report_error("forecast", rc, err);
    return CDNOPT_EXIT_OK;
}
