/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Global training and forecasting for `cdnopt train` and `cdnopt forecast`.
 */
#include "cli_global.h"

#include "cli_dist.h"

#include "cdnopt/core.h"
#include "cdnopt/pipeline.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define GLOBAL_LOG "global"

cdnopt_cli_global_opts cdnopt_cli_global_opts_default(void)
{
    cdnopt_cli_global_opts g = {
        .wide = NULL,
        .series_dir = NULL,
        .step_s = 3600,
        .norm = "mean",
        .sampling = "windows",
        .calib_steps = 48,
        .seasonal_diff = 0,
    };
    return g;
}

/* ------------------------------------------------------------------------- */
/* Reading many series                                                       */
/* ------------------------------------------------------------------------- */

/* Read every CSV of a folder with the data flags; each series is named by its file stem. */
static int read_dir(const char *dir, const cdnopt_cli_data_opts *d, cdnopt_series ***out,
                    size_t *n_out, char *err)
{
    char **names = NULL;
    size_t n = 0;
    int rc = cdnopt_cli_list_csv(dir, &names, &n, err);
    if (rc != CDNOPT_OK)
        return rc;
    cdnopt_series **series = cdnopt_calloc(n, sizeof *series);
    if (series == NULL)
        rc = cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory for %zu series", n);

    for (size_t i = 0; i < n && rc == CDNOPT_OK; i++) {
        char path[PATH_MAX];
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, names[i]) >= sizeof path) {
            rc = cdnopt_fail(err, CDNOPT_EINVAL, "--series-dir: path '%s/%s' is too long", dir,
                             names[i]);
            break;
        }
        cdnopt_cli_data_opts one = *d;
        one.data = path;
        rc = cdnopt_cli_read_series(&one, &series[i], err);
        names[i][strlen(names[i]) - 4] = '\0';
        if (rc == CDNOPT_OK && cdnopt_series_set_name(series[i], names[i]) != CDNOPT_OK)
            rc = cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory");
    }
    cdnopt_cli_names_free(names, n);
    if (rc != CDNOPT_OK) {
        cdnopt_series_array_free(series, n);
        return rc;
    }
    *out = series;
    *n_out = n;
    return CDNOPT_OK;
}

int cdnopt_cli_read_series_set(const cdnopt_cli_global_opts *g, const cdnopt_cli_data_opts *d,
                               cdnopt_series ***out, size_t *n_out, char *err)
{
    *out = NULL;
    *n_out = 0;
    if ((g->wide == NULL) == (g->series_dir == NULL))
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "give exactly one of --wide FILE and --series-dir DIR");
    int rc = g->wide != NULL ? cdnopt_series_read_wide_csv(g->wide, g->step_s, out, n_out, err)
                             : read_dir(g->series_dir, d, out, n_out, err);
    if (rc == CDNOPT_OK)
        CDNOPT_LOG_INFO(GLOBAL_LOG, "read source=%s series=%zu",
                        g->wide != NULL ? g->wide : g->series_dir, *n_out);
    return rc;
}

/* ------------------------------------------------------------------------- */
/* Training                                                                  */
/* ------------------------------------------------------------------------- */

static int global_params(const cdnopt_cli_global_opts *g, const cdnopt_cli_train_opts *t,
                         int64_t step_s, cdnopt_global_params *gp, char *err)
{
    *gp = cdnopt_global_params_default();
    int rc = cdnopt_cli_model_params(t, step_s, &gp->model, err);
    if (rc != CDNOPT_OK)
        return rc;

    /* Rows of a wide file have no times, so calendar inputs would be meaningless. */
    if (g->wide != NULL)
        gp->model.calendar = false;
    gp->model.seed = (uint64_t)t->seed;
    gp->seed = (uint64_t)t->seed;
    gp->calib_steps = (int)g->calib_steps;
    gp->seasonal_diff = (int)g->seasonal_diff;
    char reason[CDNOPT_ERRMSG_MAX];
    if (cdnopt_global_norm_parse(g->norm, &gp->norm, reason) != CDNOPT_OK)
        return cdnopt_fail(err, CDNOPT_EINVAL, "--norm: %s", reason);
    if (cdnopt_global_sampling_parse(g->sampling, &gp->sampling, reason) != CDNOPT_OK)
        return cdnopt_fail(err, CDNOPT_EINVAL, "--sampling: %s", reason);
    return CDNOPT_OK;
}

/* Write the model, its calibration and its /global group to a temporary file next to
 * out_path, then rename it over out_path. A failed or killed job so leaves no model
 * file without its /global group, which would load as a single-series model. */
static int save_all(cdnopt_model *m, const cdnopt_global_params *gp,
                    const cdnopt_calibration *cal, const cdnopt_cli_data_opts *d,
                    const char *out_path, char *err)
{
    char tmp_path[PATH_MAX];
    if ((size_t)snprintf(tmp_path, sizeof tmp_path, "%s.tmp-%ld", out_path,
                         (long)getpid()) >= sizeof tmp_path)
        return cdnopt_fail(err, CDNOPT_EINVAL, "--out: path '%s' is too long", out_path);

    int rc = cdnopt_cli_model_unit_set(m, d, err);
    if (rc == CDNOPT_OK)
        rc = cdnopt_model_save(m, tmp_path, err);
    if (rc == CDNOPT_OK)
        rc = cdnopt_pipeline_calibration_save(cal, tmp_path, err);
    if (rc == CDNOPT_OK)
        rc = cdnopt_global_info_save(gp, tmp_path, err);
    if (rc == CDNOPT_OK && rename(tmp_path, out_path) != 0)
        rc = cdnopt_fail(err, CDNOPT_EIO, "cannot rename %s to model file %s: %s", tmp_path,
                         out_path, strerror(errno));
    if (rc != CDNOPT_OK)
        remove(tmp_path);
    return rc;
}

/* Return true on the ranks that stay out of a global run under mpirun. Global training
 * and forecasting have no data-parallel path, so rank 0 runs them alone and writes the
 * files while the other ranks return at once. The job's exit status is then rank 0's,
 * and a failure on rank 0 still stops the job with MPI_Abort. */
static bool is_idle_rank(const char *what)
{
    if (cdnopt_cli_size() == 1)
        return false;
    if (cdnopt_cli_rank() == 0)
        CDNOPT_LOG_INFO(GLOBAL_LOG, "global %s runs on rank 0 alone; idle_ranks=%d",
                        what, cdnopt_cli_size() - 1);
    return cdnopt_cli_rank() != 0;
}

int cdnopt_cli_global_train(const cdnopt_cli_global_opts *g, const cdnopt_cli_data_opts *d,
                            const cdnopt_cli_train_opts *t, const char *out_path, char *err)
{
    if (is_idle_rank("training"))
        return CDNOPT_OK;

    cdnopt_series **series = NULL;
    size_t n = 0;
    int rc = cdnopt_cli_read_series_set(g, d, &series, &n, err);
    cdnopt_global_params gp;
    if (rc == CDNOPT_OK)
        rc = global_params(g, t, series[0]->step_s, &gp, err);

    cdnopt_model *m = NULL;
    cdnopt_calibration cal = {0};
    double t0 = cdnopt_clock_s();
    if (rc == CDNOPT_OK)
        rc = cdnopt_global_train(&gp, series, n, series[0]->step_s, cdnopt_cli_log_epoch, NULL,
                                 &m, &cal, err);
    if (rc == CDNOPT_OK)
        CDNOPT_LOG_INFO(GLOBAL_LOG,
                        "trained series=%zu seconds=%.1f calibration_origins=%zu "
                        "coverage_raw=%.3f coverage_calibrated=%.3f", n,
                        cdnopt_clock_s() - t0, cal.n_origins, cal.coverage_raw,
                        cal.coverage_calibrated);
    if (rc == CDNOPT_OK)
        rc = cdnopt_calibration_check_factors(&cal, err);
    if (rc == CDNOPT_OK)
        rc = save_all(m, &gp, &cal, d, out_path, err);
    if (rc == CDNOPT_OK)
        CDNOPT_LOG_INFO(GLOBAL_LOG, "saved model=%s", out_path);

    cdnopt_calibration_fini(&cal);
    cdnopt_model_free(m);
    cdnopt_series_array_free(series, n);
    return rc;
}

/* ------------------------------------------------------------------------- */
/* Forecasting                                                               */
/* ------------------------------------------------------------------------- */

/* "out.csv" becomes "out-<suffix>.csv"; a name without ".csv" gets "-<suffix>.csv". */
static int bound_path(const char *out_path, const char *suffix, char *buf, size_t size,
                      char *err)
{
    size_t len = strlen(out_path);
    if (len >= 4 && strcmp(out_path + len - 4, ".csv") == 0)
        len -= 4;
    if ((size_t)snprintf(buf, size, "%.*s-%s.csv", (int)len, out_path, suffix) >= size)
        return cdnopt_fail(err, CDNOPT_EINVAL, "--out: path '%s' is too long", out_path);
    return CDNOPT_OK;
}

static bool same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

/* Check that none of the three files write_sets() writes is an input: a series file of
 * --series-dir, or the --wide file, which the option parser compares with --out only. */
static int check_sets_keep_inputs(const cdnopt_cli_global_opts *g, const char *out_path,
                                  char *err)
{
    char paths[3][PATH_MAX];
    const char *flags[3] = {"--out", "--out's lower bound file", "--out's upper bound file"};
    snprintf(paths[0], sizeof paths[0], "%s", out_path);
    int rc = bound_path(out_path, "lower", paths[1], sizeof paths[1], err);
    if (rc == CDNOPT_OK)
        rc = bound_path(out_path, "upper", paths[2], sizeof paths[2], err);
    for (int k = 0; k < 3 && rc == CDNOPT_OK; k++) {
        if (g->series_dir != NULL)
            rc = cdnopt_cli_check_output_not_in_series_dir(flags[k], paths[k], g->series_dir,
                                                           err);
        else if (g->wide != NULL && same_file(paths[k], g->wide))
            rc = cdnopt_fail(err, CDNOPT_EINVAL,
                             "%s '%s' is the --wide file '%s'; give another --out so that the "
                             "series are kept",
                             flags[k], paths[k], g->wide);
    }
    return rc;
}

static int write_sets(const cdnopt_global_forecasts *fc, const char *out_path, char *err)
{
    char lower[PATH_MAX], upper[PATH_MAX];
    int rc = bound_path(out_path, "lower", lower, sizeof lower, err);
    if (rc == CDNOPT_OK)
        rc = bound_path(out_path, "upper", upper, sizeof upper, err);
    if (rc == CDNOPT_OK)
        rc = cdnopt_m4_write(out_path, fc->mean, err);
    if (rc == CDNOPT_OK)
        rc = cdnopt_m4_write(lower, fc->lower, err);
    if (rc == CDNOPT_OK)
        rc = cdnopt_m4_write(upper, fc->upper, err);
    if (rc == CDNOPT_OK)
        CDNOPT_LOG_INFO(GLOBAL_LOG, "wrote mean=%s lower=%s upper=%s series=%zu steps=%zu",
                        out_path, lower, upper, fc->mean->n_series, fc->horizon);
    return rc;
}

/* A --wide row takes its step from --step, but a --series-dir CSV from its timestamps,
 * so only the former can be fixed with a flag. */
static int step_mismatch(const cdnopt_cli_global_opts *g, const cdnopt_series *s,
                         const char *model_path, int64_t model_step_s, char *err)
{
    const char *name = s->name != NULL ? s->name : "(unnamed)";
    if (g->wide != NULL)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "series '%s' of %s has a step of %lld s but model %s was trained on "
                           "%lld s; give --step %llds", name, g->wide, (long long)s->step_s,
                           model_path, (long long)model_step_s, (long long)model_step_s);
    return cdnopt_fail(err, CDNOPT_EINVAL,
                       "series '%s' in %s has a step of %lld s but model %s was trained on "
                       "%lld s; resample its CSV to %lld s, or train a model on series of "
                       "%lld s", name, g->series_dir, (long long)s->step_s, model_path,
                       (long long)model_step_s, (long long)model_step_s,
                       (long long)s->step_s);
}

int cdnopt_cli_global_forecast(const cdnopt_cli_global_opts *g, const cdnopt_cli_data_opts *d,
                               const cdnopt_model *m, const cdnopt_global_params *gp,
                               const cdnopt_calibration *cal,
                               const cdnopt_cli_global_forecast_args *a, char *err)
{
    if (is_idle_rank("forecasting"))
        return CDNOPT_OK;

    cdnopt_series **series = NULL;
    size_t n = 0;
    int rc = check_sets_keep_inputs(g, a->out_path, err);
    if (rc == CDNOPT_OK)
        rc = cdnopt_cli_read_series_set(g, d, &series, &n, err);
    int64_t step_s = cdnopt_model_step_s(m);
    for (size_t i = 0; rc == CDNOPT_OK && i < n; i++)
        if (series[i]->step_s != step_s)
            rc = step_mismatch(g, series[i], a->model_path, step_s, err);
    if (rc == CDNOPT_OK && a->horizon_s % step_s != 0)
        rc = cdnopt_fail(err, CDNOPT_EINVAL,
                         "--horizon of %lld s is not a multiple of the model's step of %lld s",
                         (long long)a->horizon_s, (long long)step_s);

    cdnopt_global_params p = *gp;
    p.n_samples = a->n_samples;
    p.seed = a->seed;
    cdnopt_global_forecasts fc = {0};
    double t0 = cdnopt_clock_s();
    if (rc == CDNOPT_OK)
        rc = cdnopt_global_forecast_all(m, &p, cal, series, n, (int)(a->horizon_s / step_s),
                                        &fc, err);
    if (rc == CDNOPT_OK)
        CDNOPT_LOG_INFO(GLOBAL_LOG, "forecast series=%zu seconds=%.2f", n,
                        cdnopt_clock_s() - t0);
    if (rc == CDNOPT_OK)
        rc = write_sets(&fc, a->out_path, err);
    cdnopt_m4_forecasts_fini(&fc);
    cdnopt_series_array_free(series, n);
    return rc;
}

int cdnopt_cli_check_global_only_flags(const cdnopt_cli_global_opts *g,
                                       cdnopt_cli_option *opts, size_t n_opts, char *err)
{
    static const char *const global_only[] = {"--norm", "--sampling", "--calib-steps",
                                              "--seasonal-diff"};
    const char *flag = cdnopt_cli_first_seen(opts, n_opts, global_only,
                                             sizeof global_only / sizeof global_only[0]);
    if (flag == NULL || g->wide != NULL || g->series_dir != NULL)
        return CDNOPT_OK;
    return cdnopt_fail(err, CDNOPT_EINVAL,
                       "%s applies only to a global model (--wide or --series-dir); a --data "
                       "model does not read it, so drop %s",
                       flag, flag);
}

int cdnopt_cli_check_wide_read_flags(const cdnopt_cli_global_opts *g,
                                     const cdnopt_cli_option *opts, size_t n_opts, char *err)
{
    static const char *const read_flags[] = {"--unit",       "--column",     "--tz",
                                             "--fill-gaps",  "--max-gap",    "--duplicates",
                                             "--drop-missing"};
    const char *flag = cdnopt_cli_first_seen(opts, n_opts, read_flags,
                                             sizeof read_flags / sizeof read_flags[0]);
    if (flag == NULL || g->wide == NULL)
        return CDNOPT_OK;
    return cdnopt_fail(err, CDNOPT_EINVAL,
                       "%s applies to CSV files with a time column; --wide rows are read as "
                       "they are, without unit conversion, times or repairs, so drop %s",
                       flag, flag);
}

int cdnopt_cli_check_step_flag(const cdnopt_cli_global_opts *g, cdnopt_cli_option *opts,
                               size_t n_opts, char *err)
{
    const cdnopt_cli_option *step = cdnopt_cli_find(opts, n_opts, "--step");
    if (step == NULL || !step->seen || g->wide != NULL)
        return CDNOPT_OK;
    return cdnopt_fail(err, CDNOPT_EINVAL,
                       "--step applies only to --wide rows, which have no times; a --data or "
                       "--series-dir CSV takes its step from its timestamps, so drop --step");
}
