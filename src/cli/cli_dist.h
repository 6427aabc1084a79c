/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CLI's side of running under mpirun: the process-wide MPI handle, started and
 * stopped by main(), and the pieces train, forecast and evaluate use to share work.
 * Without MPI in the build (or without mpirun) every function behaves as rank 0 of 1,
 * so the same command code runs both ways.
 */
#ifndef CDNOPT_CLI_DIST_H
#define CDNOPT_CLI_DIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cdnopt/agent.h"
#include "cdnopt/core.h"
#include "cdnopt/model.h"
#include "cdnopt/pipeline.h"
#include "cdnopt/series.h"

#include "cli_options.h"

/**
 * Start MPI when the process was launched by mpirun (see dist.h), and log warnings
 * and errors only on ranks other than 0, so progress lines come from rank 0.
 * @return 0, or the exit status 1 after printing why MPI did not start
 */
int cdnopt_cli_dist_start(int *argc, char ***argv);

/**
 * End the process's part of the job with a command's exit status. In a job of several
 * ranks, a failure on any rank is logged and stops the whole job with MPI_Abort, so
 * that ranks waiting in a collective do not hang. Returns status.
 */
int cdnopt_cli_dist_finish(int status);

/** This process's rank (0 without MPI). */
int cdnopt_cli_rank(void);

/** Number of ranks (1 without MPI). */
int cdnopt_cli_size(void);

/** Append the MPI module's last error to err, when a call failed with CDNOPT_EDIST. */
void cdnopt_cli_dist_explain(int rc, char *err);

/** Set m's fit hooks for the job's ranks (none for one process). */
void cdnopt__cli_set_fit_hooks(cdnopt_model *m, bool continue_epochs);

/** Set agent's rollout hooks for the job's ranks (none for one process). */
void cdnopt__cli_set_rollout_hooks(cdnopt_agent *agent);

/** Return CDNOPT_OK on every rank when rc is CDNOPT_OK on every rank, else the lowest rc. */
int cdnopt__cli_agree(int rc, char *err);

/** Checkpoint and resume settings of cdnopt train. */
typedef struct cdnopt_cli_checkpoint_opts {
    long every;          /* write a checkpoint every this many epochs; 0 = never */
    const char *path;    /* checkpoint file; NULL = <model>.ckpt */
    const char *resume;  /* checkpoint or model file to continue from, or NULL */
} cdnopt_cli_checkpoint_opts;

/**
 * Train a model on s data-parallel over the ranks (the same call on every rank),
 * with checkpoints and resume, then calibrate it on rank 0. On ranks other than 0
 * *model_out is NULL and cal_out is left zeroed.
 *
 * @param mp        hyper-parameters of a new model (ignored when resuming: the
 *                  checkpoint's own are used)
 * @param out_path  the model file, for the default checkpoint name
 * @param model_out receives the model on rank 0; the caller frees it
 * @param cal_out   receives the calibration on rank 0; free with cdnopt_calibration_fini()
 */
int cdnopt_cli_train_dist(const cdnopt_series *s, const cdnopt_model_params *mp,
                          const cdnopt_calibrate_params *cp, const cdnopt_cli_checkpoint_opts *ck,
                          const char *out_path, cdnopt_model **model_out,
                          cdnopt_calibration *cal_out, char *err);

/**
 * Produce the CSV rows of one series. Appends rows (each ending in '\n') to *buf of
 * *len bytes and *cap capacity, growing it with cdnopt_realloc.
 *
 * @param name   the series' name: its file name without ".csv"
 * @param index  its position in the sorted directory listing
 */
typedef int (*cdnopt_cli_series_fn)(const char *name, size_t index, const cdnopt_series *s,
                                    void *user, char **buf, size_t *len, size_t *cap, char *err);

/**
 * List the "*.csv" names of dir, sorted by name so that every rank gets the same order.
 * @param names OUT: the names, freed with cdnopt_cli_names_free().
 * @return 0, CDNOPT_EIO (folder unreadable), CDNOPT_EINVAL (no .csv file) or
 *         CDNOPT_ENOMEM, with err naming the folder.
 */
int cdnopt_cli_list_csv(const char *dir, char ***names, size_t *n, char *err);

/** Free names from cdnopt_cli_list_csv(); NULL is a no-op. */
void cdnopt_cli_names_free(char **names, size_t n);

/**
 * Run fn on every "*.csv" file of dir, sorted by name and shared out over the ranks
 * in contiguous runs, and write header plus all rows to out_path on rank 0, in file
 * order. Each series is read with the data flags in d (d->data is replaced).
 */
int cdnopt_cli_series_dir_run(const char *dir, const cdnopt_cli_data_opts *d, const char *header,
                              cdnopt_cli_series_fn fn, void *user, const char *out_path,
                              char *err);

/** Append printf-formatted text to a growable buffer (see cdnopt_cli_series_fn). */
int cdnopt_cli_buf_printf(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
    CDNOPT_FORMAT(4, 5);

/**
 * Return the seed of one series in a multi-series run: a hash of seed and the series'
 * name, so that the numbers do not depend on how many ranks share the files.
 */
uint64_t cdnopt_cli_series_seed(uint64_t seed, const char *name);

/**
 * Check that exactly one of --data and --series-dir was given. The caller marks the
 * --data option as optional before parsing and passes it here after parsing.
 */
int cdnopt_cli_check_data_source(const cdnopt_cli_option *data_opt, const char *series_dir,
                                 char *err);

/** Settings of `forecast --series-dir`: one model applied to every series. */
typedef struct cdnopt_cli_forecast_dir_args {
    const cdnopt_model *model;      /* borrowed */
    const cdnopt_calibration *cal;  /* borrowed, or NULL for raw intervals */
    int64_t horizon_s;              /* time to forecast, seconds */
    int n_samples;                  /* MC paths per series */
    double safety;                  /* critical = upper x safety */
    uint64_t seed;                  /* combined with each series' name */
    int recent_days;                /* days whose errors may widen the factors (--recent-days) */
} cdnopt_cli_forecast_dir_args;

/**
 * Forecast every CSV of dir (the ranks' shares) and write one CSV with the columns
 * series,timestamp,mean,lower,upper,critical on rank 0.
 */
int cdnopt_cli_forecast_dir(const char *dir, const cdnopt_cli_data_opts *d,
                            const cdnopt_cli_forecast_dir_args *a, const char *out_path,
                            char *err);

/** Settings of `evaluate --series-dir`. */
typedef struct cdnopt_cli_evaluate_dir_args {
    const char *model_path;              /* saved model for every series, or NULL to train
                                            one per series */
    const cdnopt_cli_train_opts *train;  /* training flags when model_path is NULL */
    int test_days;                       /* whole days held out at the end of each series */
    int n_samples;                       /* MC paths per test origin */
    int recent_days;                     /* days whose errors may widen the factors
                                            (--recent-days) */
} cdnopt_cli_evaluate_dir_args;

/**
 * Evaluate every CSV of dir (the ranks' shares) and write one CSV with the columns
 * series,method,mae,rmse,smape,mase,coverage_raw,coverage_calibrated,width on rank 0.
 */
int cdnopt_cli_evaluate_dir(const char *dir, const cdnopt_cli_data_opts *d,
                            const cdnopt_cli_evaluate_dir_args *a, const char *out_path,
                            char *err);

#endif
