/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Group commit: HTTP threads queue create requests, and one writer thread takes
 * everything queued, inserts each request under its own savepoint, commits once
 * and only then responds to every request of the batch. One fsync thus covers many
 * requests, and no request is acknowledged before its rows are durable.
 */
#include "serve-impl.h"

#include <string.h>

/* Maximum requests in one transaction, so that a flood of creates still gets
 * acknowledged in bounded time. */
#define WRITER_MAX_BATCH 4096

struct serve_writer {
    cdnopt_store *store;
    serve_metrics *metrics;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    serve_request *head, *tail;         /* queue, oldest first */
    size_t depth;                       /* queued requests */
    bool stopping;                      /* no new requests; drain and exit */
    void (*finish)(serve_request *req); /* sets a request's response; the same for all */
};

static serve_request *take_batch(serve_writer *w, size_t *n)
{
    pthread_mutex_lock(&w->lock);
    while (w->head == NULL && !w->stopping)
        pthread_cond_wait(&w->wake, &w->lock);

    serve_request *batch = w->head;
    serve_request *last = NULL;
    *n = 0;
    for (serve_request *r = w->head; r != NULL && *n < WRITER_MAX_BATCH; r = r->next) {
        last = r;
        (*n)++;
    }
    if (last != NULL) {
        w->head = last->next;
        if (w->head == NULL)
            w->tail = NULL;
        last->next = NULL;
        w->depth -= *n;
    }
    pthread_mutex_unlock(&w->lock);
    return batch;
}

static void insert_batch(serve_writer *w, serve_request *batch, size_t n)
{
    char err[CDNOPT_ERRMSG_MAX] = "";
    int rc = cdnopt_store_begin(w->store, err);
    size_t n_releases = 0;
    for (serve_request *r = batch; r != NULL && rc == CDNOPT_OK; r = r->next) {
        r->write_rc = cdnopt_store_release_insert(w->store, r->releases, r->n_releases,
                                                  &r->bad_index, r->write_err);
        if (r->write_rc == CDNOPT_OK)
            n_releases += r->n_releases;
    }
    if (rc == CDNOPT_OK) {
        rc = cdnopt_store_commit(w->store, err);
        if (rc != CDNOPT_OK)
            cdnopt_store_rollback(w->store);
    }

    /* A failed BEGIN or COMMIT fails every request of the batch. */
    if (rc != CDNOPT_OK) {
        CDNOPT_LOG_ERROR(SERVE_LOG, "event=commit_failed requests=%zu error=\"%s\"", n, err);
        for (serve_request *r = batch; r != NULL; r = r->next) {
            r->write_rc = rc;
            snprintf(r->write_err, sizeof r->write_err, "%s", err);
        }
        return;
    }
    serve_metrics_commit(w->metrics, n, n_releases);
}

static void *writer_main(void *arg)
{
    serve_writer *w = arg;
    for (;;) {
        size_t n = 0;
        serve_request *batch = take_batch(w, &n);
        if (batch == NULL)
            break; // stopping and drained

        insert_batch(w, batch, n);

        /* Respond only after the commit above. */
        for (serve_request *r = batch; r != NULL;) {
            serve_request *next = r->next;
            r->next = NULL;
            w->finish(r);
            serve_request_resume(r);
            r = next;
        }
    }
    return NULL;
}

int serve_writer_start(cdnopt_store *store, serve_metrics *metrics, serve_writer **out, char *err)
{
    *out = NULL;
    serve_writer *w = cdnopt_calloc(1, sizeof *w);
    if (w == NULL)
        return cdnopt_fail(err, CDNOPT_ENOMEM, "serve: out of memory starting the writer");
    w->store = store;
    w->metrics = metrics;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->wake, NULL);
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
        pthread_cond_destroy(&w->wake);
        pthread_mutex_destroy(&w->lock);
        cdnopt_free(w);
        return cdnopt_fail(err, CDNOPT_ENOMEM, "serve: cannot start the writer thread");
    }
    *out = w;
    return CDNOPT_OK;
}

void serve_writer_stop(serve_writer *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    cdnopt_free(w);
}

void serve_writer_submit(serve_writer *w, serve_request *req, void (*finish)(serve_request *req))
{
    pthread_mutex_lock(&w->lock);
    if (w->stopping) {
        pthread_mutex_unlock(&w->lock);
        req->retry_after_s = 1;
        serve_respond_error(req, 503, "shutting_down", NULL,
                            "the server is stopping; retry against the new instance");
        serve_request_resume(req);
        return;
    }
    w->finish = finish;
    req->next = NULL;
    if (w->tail != NULL)
        w->tail->next = req;
    else
        w->head = req;
    w->tail = req;
    w->depth++;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
}

size_t serve_writer_depth(serve_writer *w)
{
    pthread_mutex_lock(&w->lock);
    size_t depth = w->depth;
    pthread_mutex_unlock(&w->lock);
    return depth;
}
