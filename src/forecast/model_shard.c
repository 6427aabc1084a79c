/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Data-parallel gradients for training. A batch is cut into n_shards contiguous
 * shards. Shard 0 runs on the caller's thread with the model itself. Each other shard
 * runs on a worker thread with a replica of the layers, whose weights are copied from
 * the model before every batch. The replicas' gradients are then added into the
 * model's in shard order, so a given shard count always gives the same numbers.
 *
 * Rationale for doing this here instead of leaving the threads to OpenBLAS: the
 * recurrent GEMMs of one step are small ([64 x 64] x [64 x 256]), and OpenBLAS
 * threads spend much of such a call waiting for each other. Two independent half
 * batches, each with single-threaded BLAS, keep both cores busy.
 */
#include "model-impl.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

typedef struct shard {
    struct model_shards *owner;
    cdnopt_model *replica;   /* NULL for shard 0, which uses the caller's model */
    cdnopt_scratch *scratch; /* arena of this shard's activations */
    float *x;                /* windows [max_rows, window, features] */
    float *y;                /* targets [max_rows, n_out] */
    float *dpred;            /* dL/dpred [max_rows, n_out] */
    size_t first, n_rows;    /* rows [first, first + n_rows) of the current batch */
    double sse;              /* sum of squared errors of the current shard */
    int rc;                  /* result of the current shard */
    pthread_t thread;
    bool started;
} shard;

struct model_shards {
    int n_shards;
    shard *shards;

    /* The current batch, set by the caller before waking the workers. */
    cdnopt_model *model;
    const float *rows, *targets, *mask1, *mask2;
    const size_t *ends;
    size_t n_scale;          /* windows the loss is averaged over (model_batch.n_scale) */

    pthread_mutex_t lock;
    pthread_cond_t start;    /* signalled when generation changes or quit is set */
    pthread_cond_t done;     /* signalled when a worker finishes its shard */
    uint64_t generation;     /* batches handed out so far */
    int n_done;              /* workers finished with the current batch */
    bool quit;
};

/* Forward and backward pass of one shard; gradients go to the shard's model. */
static void run_shard(model_shards *sh, shard *s)
{
    cdnopt_model *m = s->replica != NULL ? s->replica : sh->model;
    size_t h = (size_t)m->p.units;
    const size_t *ends = sh->ends + s->first;

    cdnopt_params_zero_grads(m->ps);
    s->sse = 0.0;
    s->rc = CDNOPT_OK;
    if (s->n_rows == 0)
        return;

    cdnopt_scratch_reset(s->scratch);
    cdnopt__model_gather(m, sh->rows, ends, s->n_rows, s->x);
    size_t n_out = (size_t)m->n_out;
    for (size_t b = 0; b < s->n_rows; b++)
        memcpy(s->y + b * n_out, sh->targets + ends[b], n_out * sizeof *s->y);

    const float *mask1 = sh->mask1 != NULL ? sh->mask1 + s->first * h : NULL;
    size_t h2 = cdnopt__model_mask2_width(m);
    const float *mask2 = sh->mask2 != NULL ? sh->mask2 + s->first * h2 : NULL;
    model_pass pass;
    s->rc = cdnopt__model_forward(m, s->scratch, s->n_rows, s->x, mask1, mask2, &pass);
    if (s->rc != CDNOPT_OK)
        return;

    /* The loss is the mean over the whole batch and every output step, so each shard
     * scales by n_scale * n_out. */
    double n_terms = (double)sh->n_scale * (double)n_out;
    for (size_t i = 0; i < s->n_rows * n_out; i++) {
        double e = (double)pass.pred[i] - (double)s->y[i];
        s->sse += e * e;
        s->dpred[i] = (float)(2.0 * e / n_terms);
    }
    if (!isfinite(s->sse)) {
        s->rc = CDNOPT_ENUMERIC;
        return;
    }
    s->rc = cdnopt__model_backward(m, s->scratch, &pass, s->dpred, mask1, mask2);
}

static void *worker_main(void *arg)
{
    shard *s = arg;
    model_shards *sh = s->owner;
    uint64_t seen = 0;

    pthread_mutex_lock(&sh->lock);
    for (;;) {
        while (sh->generation == seen && !sh->quit)
            pthread_cond_wait(&sh->start, &sh->lock);
        if (sh->quit)
            break;
        seen = sh->generation;
        pthread_mutex_unlock(&sh->lock);

        run_shard(sh, s);

        pthread_mutex_lock(&sh->lock);
        sh->n_done++;
        pthread_cond_signal(&sh->done);
    }
    pthread_mutex_unlock(&sh->lock);
    return NULL;
}

void cdnopt__shards_free(model_shards *sh)
{
    if (sh == NULL)
        return;

    pthread_mutex_lock(&sh->lock);
    sh->quit = true;
    pthread_cond_broadcast(&sh->start);
    pthread_mutex_unlock(&sh->lock);
    for (int i = 0; i < sh->n_shards; i++) {
        shard *s = &sh->shards[i];
        if (s->started)
            pthread_join(s->thread, NULL);
        cdnopt_model_free(s->replica);
        cdnopt_scratch_free(s->scratch);
        cdnopt_free(s->x);
        cdnopt_free(s->y);
        cdnopt_free(s->dpred);
    }
    pthread_cond_destroy(&sh->done);
    pthread_cond_destroy(&sh->start);
    pthread_mutex_destroy(&sh->lock);
    cdnopt_free(sh->shards);
    cdnopt_free(sh);
}

/* Allocate one shard's buffers and, for shards after the first, its replica. */
static int shard_init(model_shards *sh, shard *s, const cdnopt_model *m, int index,
                      size_t max_rows)
{
    size_t w = (size_t)m->p.window, f = (size_t)m->n_features, h = (size_t)m->p.units;
    s->owner = sh;
    s->x = cdnopt_malloc(max_rows * w * f * sizeof *s->x);
    s->y = cdnopt_malloc(max_rows * (size_t)m->n_out * sizeof *s->y);
    s->dpred = cdnopt_malloc(max_rows * (size_t)m->n_out * sizeof *s->dpred);
    if (s->x == NULL || s->y == NULL || s->dpred == NULL)
        return CDNOPT_ENOMEM;

    /* A first guess at one shard's forward traces and backward buffers, about
     * (features + 24 units) floats per window step; the arena grows if it is short. */
    int rc = cdnopt_scratch_new(max_rows * w * (f + 24 * h) * sizeof(float), &s->scratch);
    if (rc != CDNOPT_OK || index == 0)
        return rc;

    rc = cdnopt__model_build(&m->p, m->step_s, &s->replica, NULL);
    if (rc != CDNOPT_OK)
        return rc;
    if (pthread_create(&s->thread, NULL, worker_main, s) != 0)
        return CDNOPT_ENOMEM;
    s->started = true;
    return CDNOPT_OK;
}

int cdnopt__shards_new(const cdnopt_model *m, int n_shards, size_t max_batch, model_shards **out)
{
    *out = NULL;
    model_shards *sh = cdnopt_calloc(1, sizeof *sh);
    if (sh == NULL)
        return CDNOPT_ENOMEM;
    sh->shards = cdnopt_calloc((size_t)n_shards, sizeof *sh->shards);
    if (sh->shards == NULL) {
        cdnopt_free(sh);
        return CDNOPT_ENOMEM;
    }
    pthread_mutex_init(&sh->lock, NULL);
    pthread_cond_init(&sh->start, NULL);
    pthread_cond_init(&sh->done, NULL);
    sh->n_shards = n_shards;

    size_t max_rows = (max_batch + (size_t)n_shards - 1) / (size_t)n_shards;
    for (int i = 0; i < n_shards; i++) {
        int rc = shard_init(sh, &sh->shards[i], m, i, max_rows);
        if (rc != CDNOPT_OK) {
            cdnopt__shards_free(sh);
            return rc;
        }
    }
    *out = sh;
    return CDNOPT_OK;
}

int cdnopt__shards_gradient(model_shards *sh, cdnopt_model *m, const model_batch *batch,
                            double *loss)
{
    /* Replicas start from the model's current weights; rows split as evenly as possible. */
    size_t n_values = cdnopt_params_count(m->ps);
    size_t first = 0;
    for (int i = 0; i < sh->n_shards; i++) {
        shard *s = &sh->shards[i];
        s->first = first;
        s->n_rows = batch->n_batch / (size_t)sh->n_shards +
                    ((size_t)i < batch->n_batch % (size_t)sh->n_shards ? 1 : 0);
        first += s->n_rows;
        if (s->replica != NULL)
            memcpy(cdnopt_params_values(s->replica->ps), cdnopt_params_values(m->ps),
                   n_values * sizeof(float));
    }

    sh->model = m;
    sh->rows = batch->rows;
    sh->targets = batch->targets;
    sh->ends = batch->ends;
    sh->n_scale = batch->n_scale;
    sh->mask1 = batch->mask1;
    sh->mask2 = batch->mask2;

    /* Wake the workers, run shard 0 here, then wait for the rest. */
    pthread_mutex_lock(&sh->lock);
    sh->n_done = 0;
    sh->generation++;
    pthread_cond_broadcast(&sh->start);
    pthread_mutex_unlock(&sh->lock);

    run_shard(sh, &sh->shards[0]);

    pthread_mutex_lock(&sh->lock);
    while (sh->n_done < sh->n_shards - 1)
        pthread_cond_wait(&sh->done, &sh->lock);
    pthread_mutex_unlock(&sh->lock);

    /* Sum the losses and add the replicas' gradients, in shard order. */
    double sse = 0.0;
    float *grads = cdnopt_params_grads(m->ps);
    for (int i = 0; i < sh->n_shards; i++) {
        shard *s = &sh->shards[i];
        if (s->rc != CDNOPT_OK)
            return s->rc;
        sse += s->sse;
        if (s->replica == NULL || s->n_rows == 0)
            continue;
        const float *g = cdnopt_params_grads(s->replica->ps);
        for (size_t k = 0; k < n_values; k++)
            grads[k] += g[k];
    }
    *loss = sse / ((double)batch->n_scale * (double)m->n_out);
    return CDNOPT_OK;
}
