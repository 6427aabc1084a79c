/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Training for `cdnopt train` with checkpoints, resume and, under mpirun, data-parallel
 * batches over the ranks. Every rank runs the same fit on the same series; rank 0
 * writes the checkpoints, calibrates and returns the model.
 */
#include "cli_dist.h"

#include "cdnopt/core.h"
#include "cdnopt/global.h"

#include <stdio.h>
#include <string.h>

#define TRAIN_LOG "train"

typedef struct checkpointer {
    cdnopt_model *m;
    long every;       /* epochs between checkpoints, 0 = none */
    char path[4096];  /* checkpoint file */
} checkpointer;

/* Write the model to path through a temporary file, so that a crash in the middle of
 * the write leaves the previous checkpoint intact. */
static int write_checkpoint(const cdnopt_model *m, const char *path, char *err)
{
    char tmp[4096 + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int rc = cdnopt_model_save(m, tmp, err);
    if (rc == CDNOPT_OK && rename(tmp, path) != 0)
        rc = cdnopt_fail(err, CDNOPT_EIO, "cannot rename %s to %s", tmp, path);
    return rc;
}

static void on_epoch(const cdnopt_epoch_report *r, void *user)
{
    checkpointer *ck = user;
    cdnopt_cli_log_epoch(r, NULL);
    if (ck->every <= 0 || r->epoch % ck->every != 0 || cdnopt_cli_rank() != 0)
        return;

    /* NOTE: a failed checkpoint is logged but does not stop training, because the epoch
     * callback cannot stop the fit. The model file is still written at the end. */
    char err[CDNOPT_ERRMSG_MAX] = "";
    if (write_checkpoint(ck->m, ck->path, err) == CDNOPT_OK)
        CDNOPT_LOG_INFO(TRAIN_LOG, "checkpoint epoch=%d file=%s", r->epoch, ck->path);
    else
        CDNOPT_LOG_ERROR(TRAIN_LOG, "checkpoint epoch=%d failed: %s", r->epoch, err);
}

/* A new model from mp, or the checkpoint to resume from. */
static int make_model(const cdnopt_series *s, const cdnopt_model_params *mp,
                      const cdnopt_cli_checkpoint_opts *ck, cdnopt_model **out, char *err)
{
    if (ck->resume == NULL)
        return cdnopt_model_new(mp, s->step_s, out, err);

    /* A checkpoint is a model file with Adam's state and the best weights added, so the
     * resumed fit ends as an uninterrupted one would. */
    int rc = cdnopt_model_load(ck->resume, out, err);
    if (rc == CDNOPT_OK)
        rc = cdnopt_global_model_reject(ck->resume, "--resume", err);
    if (rc != CDNOPT_OK) {
        cdnopt_model_free(*out);
        *out = NULL;
        return rc;
    }
    const cdnopt_model_params *p = cdnopt_model_get_params(*out);
    CDNOPT_LOG_INFO(TRAIN_LOG,
                    "resuming file=%s epochs=%d units=%d batch=%d (the checkpoint's "
                    "hyper-parameters replace the training flags)",
                    ck->resume, p->epochs, p->units, p->batch);
    return CDNOPT_OK;
}

static int calibrate(const cdnopt_series *s, cdnopt_model *m, const cdnopt_calibrate_params *cp,
                     cdnopt_calibration *cal_out, char *err)
{
    /* As cdnopt_pipeline_train: without a validation span, calibrate on the last tenth. */
    const cdnopt_model_params *p = cdnopt_model_get_params(m);
    double fraction = p->val_fraction > 0.0f ? p->val_fraction : 0.1;
    size_t val_start = cdnopt_pipeline_val_start(s->n, fraction);
    cdnopt_sampler sampler = cdnopt_sampler_from_model(m);
    cdnopt_calibrate_params cal_params = *cp;
    cal_params.first_origin = (size_t)p->window;
    return cdnopt_pipeline_calibrate(&sampler, s, val_start, s->n, &cal_params, cal_out, err);
}

int cdnopt_cli_train_dist(const cdnopt_series *s, const cdnopt_model_params *mp,
                          const cdnopt_calibrate_params *cp, const cdnopt_cli_checkpoint_opts *ck,
                          const char *out_path, cdnopt_model **model_out,
                          cdnopt_calibration *cal_out, char *err)
{
    *model_out = NULL;
    memset(cal_out, 0, sizeof *cal_out);

    checkpointer state = {.every = ck->every};
    if (ck->path != NULL)
        snprintf(state.path, sizeof state.path, "%s", ck->path);
    else
        snprintf(state.path, sizeof state.path, "%s.ckpt", out_path);

    /* Every rank loads or builds the same model, and all must have succeeded before
     * the first collective inside the fit. */
    int rc = make_model(s, mp, ck, &state.m, err);
    rc = cdnopt__cli_agree(rc, err);
    if (rc == CDNOPT_OK) {
        cdnopt__cli_set_fit_hooks(state.m, ck->resume != NULL);
        if (cdnopt_cli_size() > 1)
            CDNOPT_LOG_INFO(TRAIN_LOG, "data-parallel ranks=%d batch=%d", cdnopt_cli_size(),
                            cdnopt_model_get_params(state.m)->batch);
        rc = cdnopt_model_fit(state.m, s, on_epoch, &state, err);
        cdnopt_cli_dist_explain(rc, err);
    }

    /* Calibration samples from the finished model; rank 0 alone does it. */
    if (rc == CDNOPT_OK && cdnopt_cli_rank() == 0)
        rc = calibrate(s, state.m, cp, cal_out, err);
    if (rc != CDNOPT_OK || cdnopt_cli_rank() != 0) {
        cdnopt_model_free(state.m);
        return rc;
    }
    *model_out = state.m;
    return CDNOPT_OK;
}
