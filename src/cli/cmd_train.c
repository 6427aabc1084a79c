/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cdnopt train: fit a forecasting model on a CSV series, calibrate its intervals on
 * the last weeks of the series, and write both to one HDF5 model file.
 */
#include "cli_dist.h"
#include "cli_global.h"
#include "cli_options.h"
#include "commands.h"

#include "cdnopt/core.h"
#include "cdnopt/pipeline.h"

#include <stdio.h>

#define TRAIN_LOG "train"

static const char synopsis[] =
    "train (--data FILE | --wide FILE | --series-dir DIR) [options] --out MODEL.h5";
static const char description[] =
    "Train a forecasting model on a bandwidth series. Progress per epoch goes to stderr;\n"
    "training stops early when the validation loss (last tenth of the series) stalls.\n"
    "The MC-dropout intervals are then calibrated on day-ahead forecasts from up to 48\n"
    "origins in the last 28 days of the series (at least the validation slice), and the\n"
    "per-horizon factors are stored in the model file's /calibration group.\n"
    "Under mpirun every rank computes its share of each batch and the gradients are\n"
    "summed with MPI_Allreduce; rank 0 logs progress and writes the files.\n"
    "With --wide or --series-dir, one global model is trained over all series, each\n"
    "scaled by its own --norm; the last --calib-steps of every series are held out and\n"
    "calibrate the intervals, pooled over the series. Global training runs in one process:\n"
    "under mpirun rank 0 trains and writes the model, and the other ranks exit 0.";

static void log_calibration(const cdnopt_calibration *cal)
{
    CDNOPT_LOG_INFO(TRAIN_LOG,
                    "calibration origins=%zu horizon=%zu level=%.2f coverage_raw=%.3f "
                    "coverage_calibrated=%.3f factor_first=%.3f factor_last=%.3f",
                    cal->n_origins, cal->horizon, cal->level, cal->coverage_raw,
                    cal->coverage_calibrated, cal->factor[0], cal->factor[cal->horizon - 1]);
}

static int train_and_save(const cdnopt_series *s, const cdnopt_cli_data_opts *data,
                          const cdnopt_cli_train_opts *t, const cdnopt_cli_checkpoint_opts *ck,
                          const char *out_path, char *err)
{
    cdnopt_model_params mp;
    int rc = cdnopt_cli_model_params(t, s->step_s, &mp, err);
    if (rc != CDNOPT_OK)
        return rc;

    cdnopt_calibrate_params cp = cdnopt_calibrate_params_default();
    cp.seed = mp.seed;
    cdnopt_model *m = NULL;
    cdnopt_calibration cal;
    double t0 = cdnopt_clock_s();
    rc = cdnopt_cli_train_dist(s, &mp, &cp, ck, out_path, &m, &cal, err);
    if (rc != CDNOPT_OK || m == NULL)
        return rc;
    log_calibration(&cal);

    /* The calibration group goes into the file the model save has just written. */
    rc = cdnopt_calibration_check_factors(&cal, err);
    if (rc == CDNOPT_OK)
        rc = cdnopt_cli_model_unit_set(m, data, err);
    if (rc == CDNOPT_OK)
        rc = cdnopt_model_save(m, out_path, err);
    if (rc == CDNOPT_OK)
        rc = cdnopt_pipeline_calibration_save(&cal, out_path, err);
    if (rc == CDNOPT_OK)
        CDNOPT_LOG_INFO(TRAIN_LOG, "saved model=%s seconds=%.1f", out_path,
                        cdnopt_clock_s() - t0);
    cdnopt_calibration_fini(&cal);
    cdnopt_model_free(m);
    return rc;
}

/* Warn about the training flags that --resume replaces by the checkpoint's values.
 * NOTE: this is a warning and not an error, because rerunning a failed command with
 * --resume appended is the natural way to continue it. --seed still seeds the
 * calibration, so it is not listed. */
static void warn_flags_replaced_on_resume(const cdnopt_cli_checkpoint_opts *ck,
                                          const cdnopt_cli_option *opts, size_t n_opts)
{
    if (ck->resume == NULL || cdnopt_cli_rank() != 0)
        return;
    char given[256] = "";
    size_t used = 0;
    for (size_t i = 0; i < CDNOPT_CLI_N_MODEL_FLAGS; i++) {
        const char *flag = cdnopt_cli_model_flags[i];
        if (cdnopt_cli_first_seen(opts, n_opts, &flag, 1) == NULL)
            continue;
        int n = snprintf(given + used, sizeof given - used, "%s%s", used > 0 ? "," : "", flag);
        if (n > 0 && (size_t)n < sizeof given - used)
            used += (size_t)n;
    }
    if (used > 0)
        CDNOPT_LOG_WARN(TRAIN_LOG,
                        "flags=%s resume=%s: the checkpoint's hyper-parameters and epoch "
                        "count replace these training flags, so they are not used",
                        given, ck->resume);
}

int cdnopt_cmd_train(int argc, char **argv)
{
    cdnopt_cli_data_opts data = cdnopt_cli_data_opts_default();
    cdnopt_cli_train_opts train = cdnopt_cli_train_opts_default();
    const char *out_path = NULL;
    cdnopt_cli_checkpoint_opts ck = {0, NULL, NULL};
    cdnopt_cli_global_opts global = cdnopt_cli_global_opts_default();
    cdnopt_cli_option opts[] = {
        CDNOPT_CLI_DATA_OPTIONS(&data),
        CDNOPT_CLI_TRAIN_OPTIONS(&train),
        {"--out", CDNOPT_CLI_OUTPUT, &out_path, 0, 0, "FILE",
         "HDF5 model file to write (replaced if it exists)", true, false},
        {"--checkpoint-every", CDNOPT_CLI_INT, &ck.every, 0, 100000, "N",
         "write a checkpoint every N epochs (0 = none)", false, false},
        {"--checkpoint", CDNOPT_CLI_OUTPUT, &ck.path, 0, 0, "FILE",
         "checkpoint file (default: the --out path with .ckpt appended)", false, false},
        {"--resume", CDNOPT_CLI_STRING, &ck.resume, 0, 0, "FILE",
         "continue training from a checkpoint, with its hyper-parameters", false, false},
        CDNOPT_CLI_GLOBAL_OPTIONS(&global),
    };
    size_t n_opts = sizeof opts / sizeof opts[0];
    cdnopt_cli_option *data_opt = cdnopt_cli_find(opts, n_opts, "--data");
    data_opt->required = false;

    int status = cdnopt_cli_parse_command("train", synopsis, description, argc, argv, opts,
                                          n_opts);
    if (status != CDNOPT_CLI_CONTINUE)
        return status;

    char err[CDNOPT_ERRMSG_MAX] = "";
    int n_sources = (data.data != NULL) + (global.wide != NULL) + (global.series_dir != NULL);
    if (n_sources != 1)
        return cdnopt_cli_report_error("train", CDNOPT_EINVAL,
                                       "give exactly one of --data FILE, --wide FILE and "
                                       "--series-dir DIR");
    if (cdnopt_cli_check_step_flag(&global, opts, n_opts, err) != CDNOPT_OK ||
        cdnopt_cli_check_wide_read_flags(&global, opts, n_opts, err) != CDNOPT_OK ||
        cdnopt_cli_check_global_only_flags(&global, opts, n_opts, err) != CDNOPT_OK)
        return cdnopt_cli_report_error("train", CDNOPT_EINVAL, err);
    if (data.data == NULL && (ck.resume != NULL || ck.every > 0 || ck.path != NULL))
        return cdnopt_cli_report_error("train", CDNOPT_EINVAL,
                                       "--resume, --checkpoint and --checkpoint-every apply "
                                       "only to --data training; global training (--wide, "
                                       "--series-dir) starts afresh, so drop them");
    if (ck.path != NULL && ck.every == 0)
        return cdnopt_cli_report_error("train", CDNOPT_EINVAL,
                                       "--checkpoint names the checkpoint file, but "
                                       "--checkpoint-every is 0, so no checkpoint would be "
                                       "written; add --checkpoint-every N (epochs between "
                                       "checkpoints) or drop --checkpoint");
    warn_flags_replaced_on_resume(&ck, opts, n_opts);
    if (data.data == NULL) {
        int rc = cdnopt_cli_global_train(&global, &data, &train, out_path, err);
        return rc == CDNOPT_OK ? CDNOPT_EXIT_OK : cdnopt_cli_report_error("train", rc, err);
    }

    cdnopt_series *s = NULL;
    int rc = cdnopt_cli_read_series(&data, &s, err);
    if (rc == CDNOPT_OK)
        rc = train_and_save(s, &data, &train, &ck, out_path, err);
    cdnopt_series_free(s);
    if (rc != CDNOPT_OK)
        return cdnopt_cli_report_error("train", rc, err);
    return CDNOPT_EXIT_OK;
}
