/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The job worker pool: a FIFO of re-plan and forecast jobs run by between
 * min_workers and max_workers detached threads. A submit that finds more queued
 * jobs than idle workers starts one more worker, and a worker idle for idle_ms
 * exits while the pool is above its minimum. Recycling
 * (the memory alert) retires every worker after its current job and starts
 * min_workers fresh ones, so per-thread caches and arenas go back to the system.
 * Recent jobs stay in a table so that clients can poll them by id.
 */
#include "serve-impl.h"

#include <glpk.h>

#include <string.h>
#include <time.h>

#define POOL_RECENT_JOBS 256

struct serve_pool {
    pthread_mutex_t lock;
    pthread_cond_t work;    /* signalled when a job is queued or on stop */
    pthread_cond_t exited;  /* signalled when a worker exits */
    serve_job *head, *tail; /* queued jobs, oldest first */
    size_t depth;           /* queued jobs */
    size_t max_queue;       /* submit beyond this depth fails */
    int min_workers, max_workers;
    int64_t idle_ms;     /* idle time after which a worker above the minimum exits */
    int workers;         /* live worker threads */
    int staying;         /* workers of the current generation that have not chosen to exit */
    int busy;            /* workers running a job */
    uint64_t generation; /* bumped by recycle; older workers exit */
    uint64_t recycles;   /* number of recycles */
    bool stopping;       /* drain the queue and exit */
    serve_job *recent[POOL_RECENT_JOBS]; /* ring of recent jobs by id, one reference each */
};

/* ------------------------------------------------------------------------- */
/* Jobs                                                                      */
/* ------------------------------------------------------------------------- */

serve_job *serve_job_new(struct cdnopt_server *server, const char *kind, job_fn run, void *arg,
                         void (*free_arg)(void *))
{
    serve_job *job = cdnopt_calloc(1, sizeof *job);
    if (job == NULL)
        return NULL;
    job->id = atomic_fetch_add(&server->next_job_id, 1) + 1;
    job->kind = kind;
    job->run = run;
    job->arg = arg;
    job->free_arg = free_arg;
    job->server = server;
    job->http_status = 500;
    atomic_store(&job->status, JOB_QUEUED);
    atomic_store(&job->refs, 1);
    job->queued_s = cdnopt_clock_s();
    return job;
}

void serve_job_release(serve_job *job)
{
    if (job == NULL || atomic_fetch_sub(&job->refs, 1) != 1)
        return;
    if (job->free_arg != NULL)
        job->free_arg(job->arg);
    json_decref(job->result);
    cdnopt_free(job);
}

json_t *serve_job_json(const serve_job *job)
{
    static const char *const names[] = {"queued", "running", "done", "failed"};
    int status = atomic_load(&job->status);
    json_t *out = json_pack("{s:I, s:s, s:s}", "id", (json_int_t)job->id, "kind", job->kind,
                            "status", names[status]);
    if (status == JOB_DONE || status == JOB_FAILED)
        json_object_set_new(out, "run_ms", json_real((job->finished_s - job->started_s) * 1e3));
    if (status == JOB_FAILED)
        json_object_set_new(
            out, "error", json_pack("{s:s, s:s}", "code", job->error_code, "message", job->error));
    return out;
}

/* ------------------------------------------------------------------------- */
/* Workers                                                                   */
/* ------------------------------------------------------------------------- */

struct worker_arg {
    serve_pool *pool;
    uint64_t generation;
};

static void finish_job(serve_job *job)
{
    job->finished_s = cdnopt_clock_s();
    atomic_store(&job->status, job->result != NULL ? JOB_DONE : JOB_FAILED);

    /* The worker sends the response of a waiting request. */
    serve_request *waiter = job->waiter;
    if (waiter == NULL)
        return;
    if (job->result != NULL)
        serve_respond_json(waiter, 200, json_incref(job->result));
    else
        serve_respond_error(waiter, job->http_status, job->error_code, NULL, "%s", job->error);
    serve_request_resume(waiter);
}

/* Wait for a job; returns NULL when this worker should exit. Called locked. */
static serve_job *next_job(serve_pool *pool, uint64_t generation)
{
    for (;;) {
        if (pool->head != NULL && generation == pool->generation) {
            serve_job *job = pool->head;
            pool->head = job->next;
            if (pool->head == NULL)
                pool->tail = NULL;
            pool->depth--;
            return job;
        }
        if (pool->stopping || generation != pool->generation) {
            pool->staying -= generation == pool->generation;
            return NULL;
        }

        struct timespec deadline;
        clock_gettime(CLOCK_REALTIME, &deadline);
        int64_t ns = deadline.tv_nsec + (pool->idle_ms % 1000) * 1000000;
        deadline.tv_sec += (time_t)(pool->idle_ms / 1000 + ns / 1000000000);
        deadline.tv_nsec = (long)(ns % 1000000000);
        /* Count the exit before the lock is released: a worker stays counted in
         * pool->workers until it has freed its GLPK environment, so idle workers that
         * time out together would all see the pool above its minimum and all exit. */
        if (pthread_cond_timedwait(&pool->work, &pool->lock, &deadline) != 0 &&
            pool->head == NULL && pool->staying > pool->min_workers) {
            pool->staying--;
            return NULL;
        }
    }
}

static void *worker_main(void *arg)
{
    struct worker_arg wa = *(struct worker_arg *)arg;
    cdnopt_free(arg);
    serve_pool *pool = wa.pool;

    pthread_mutex_lock(&pool->lock);
    serve_job *job;
    while ((job = next_job(pool, wa.generation)) != NULL) {
        pool->busy++;
        pthread_mutex_unlock(&pool->lock);

        job->started_s = cdnopt_clock_s();
        atomic_store(&job->status, JOB_RUNNING);
        job->run(job);
        finish_job(job);
        serve_job_release(job);

        pthread_mutex_lock(&pool->lock);
        pool->busy--;
    }
    pthread_mutex_unlock(&pool->lock);

    /* GLPK keeps one environment per thread from the first exact plan on. This thread
     * uses GLPK no more, so it frees its own; on a thread that never planned the call
     * does nothing. */
    glp_free_env();

    pthread_mutex_lock(&pool->lock);
    pool->workers--;
    pthread_cond_broadcast(&pool->exited);
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

/* Start one worker of the current generation. Called locked. */
static bool spawn_worker(serve_pool *pool)
{
    struct worker_arg *wa = cdnopt_malloc(sizeof *wa);
    if (wa == NULL)
        return false;
    wa->pool = pool;
    wa->generation = pool->generation;

    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t thread;
    bool ok = pthread_create(&thread, &attr, worker_main, wa) == 0;
    pthread_attr_destroy(&attr);
    if (!ok) {
        cdnopt_free(wa);
        return false;
    }
    pool->workers++;
    pool->staying++;
    return true;
}

/* ------------------------------------------------------------------------- */
/* Pool                                                                      */
/* ------------------------------------------------------------------------- */

int serve_pool_new(int min_workers, int max_workers, size_t max_queue, int64_t idle_ms,
                   serve_pool **out, char *err)
{
    *out = NULL;
    serve_pool *pool = cdnopt_calloc(1, sizeof *pool);
    if (pool == NULL)
        return cdnopt_fail(err, CDNOPT_ENOMEM, "serve: out of memory creating the worker pool");
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->work, NULL);
    pthread_cond_init(&pool->exited, NULL);
    pool->min_workers = min_workers;
    pool->max_workers = max_workers;
    pool->max_queue = max_queue;
    pool->idle_ms = idle_ms;

    pthread_mutex_lock(&pool->lock);
    bool ok = true;
    for (int i = 0; i < min_workers && ok; i++)
        ok = spawn_worker(pool);
    pthread_mutex_unlock(&pool->lock);
    if (!ok) {
        serve_pool_free(pool);
        return cdnopt_fail(err, CDNOPT_ENOMEM, "serve: cannot start %d workers", min_workers);
    }
    *out = pool;
    return CDNOPT_OK;
}

void serve_pool_free(serve_pool *pool)
{
    if (pool == NULL)
        return;

    /* Queued jobs still run: workers exit only once the queue is empty. */
    pthread_mutex_lock(&pool->lock);
    pool->stopping = true;
    pthread_cond_broadcast(&pool->work);
    if (pool->head != NULL && pool->workers == 0)
        spawn_worker(pool);
    while (pool->workers > 0)
        pthread_cond_wait(&pool->exited, &pool->lock);
    pthread_mutex_unlock(&pool->lock);

    for (size_t i = 0; i < POOL_RECENT_JOBS; i++)
        serve_job_release(pool->recent[i]);
    pthread_cond_destroy(&pool->work);
    pthread_cond_destroy(&pool->exited);
    pthread_mutex_destroy(&pool->lock);
    cdnopt_free(pool);
}

int serve_pool_submit(serve_pool *pool, serve_job *job)
{
    pthread_mutex_lock(&pool->lock);
    if (pool->stopping || pool->depth >= pool->max_queue) {
        pthread_mutex_unlock(&pool->lock);
        return CDNOPT_EBUSY;
    }

    /* One reference for the queue, one for the recent table. */
    atomic_fetch_add(&job->refs, 2);
    serve_job **slot = &pool->recent[job->id % POOL_RECENT_JOBS];
    serve_job *evicted = *slot;
    *slot = job;

    job->next = NULL;
    if (pool->tail != NULL)
        pool->tail->next = job;
    else
        pool->head = job;
    pool->tail = job;
    pool->depth++;

    int idle = pool->workers - pool->busy;
    if ((size_t)idle < pool->depth && pool->workers < pool->max_workers)
        spawn_worker(pool);
    pthread_cond_signal(&pool->work);
    pthread_mutex_unlock(&pool->lock);

    serve_job_release(evicted);
    return CDNOPT_OK;
}

serve_job *serve_pool_find(serve_pool *pool, uint64_t id)
{
    pthread_mutex_lock(&pool->lock);
    serve_job *job = pool->recent[id % POOL_RECENT_JOBS];
    if (job != NULL && job->id == id)
        atomic_fetch_add(&job->refs, 1);
    else
        job = NULL;
    pthread_mutex_unlock(&pool->lock);
    return job;
}

void serve_pool_scale_out(serve_pool *pool)
{
    pthread_mutex_lock(&pool->lock);
    if (!pool->stopping && pool->workers < pool->max_workers)
        spawn_worker(pool);
    pthread_mutex_unlock(&pool->lock);
}

void serve_pool_recycle(serve_pool *pool)
{
    pthread_mutex_lock(&pool->lock);
    if (!pool->stopping) {
        pool->generation++;
        pool->recycles++;
        pool->staying = 0; // the older workers exit after their current job
        pthread_cond_broadcast(&pool->work);
        for (int i = 0; i < pool->min_workers; i++)
            spawn_worker(pool);
    }
    pthread_mutex_unlock(&pool->lock);
}

void serve_pool_stats(serve_pool *pool, size_t *depth, int *workers, int *busy, uint64_t *recycles)
{
    pthread_mutex_lock(&pool->lock);
    *depth = pool->depth;
    *workers = pool->workers;
    *busy = pool->busy;
    *recycles = pool->recycles;
    pthread_mutex_unlock(&pool->lock);
}
