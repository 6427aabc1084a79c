/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The MPI job handle: start-up, the private communicator with MPI_ERRORS_RETURN, the
 * mapping of MPI failures to CDNOPT_EDIST, collectives over the ranks and the
 * fit hooks for data-parallel training. Every MPI call of cdnopt is in this folder.
 */
#include "cdnopt/dist.h"

#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DIST_LOG "dist"

/* Largest element count passed to one MPI call, whose counts are int. */
#define DIST_MAX_CHUNK (1 << 30)

struct cdnopt_dist {
    bool active;        /* MPI_Init was called by cdnopt_dist_init */
    int rank, size;
    MPI_Comm comm;      /* duplicate of MPI_COMM_WORLD with MPI_ERRORS_RETURN */
    char last_error[CDNOPT_ERRMSG_MAX];
    long kill_rank;     /* test hook: rank that exits at training step kill_step, or -1 */
    long kill_step;
    long steps;         /* gradient sums done so far */
    double sum_seconds; /* wall time inside the gradient sums, waiting for peers included */
};

/* Turn an MPI return code into CDNOPT_EDIST with MPI's text, the call and the rank. */
static int mpi_fail(cdnopt_dist *d, int mpi_rc, const char *call, char *err)
{
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(mpi_rc, text, &len) != MPI_SUCCESS)
        snprintf(text, sizeof text, "MPI error code %d", mpi_rc);
    cdnopt_fail(d->last_error, CDNOPT_EDIST, "rank %d of %d: %s failed: %s", d->rank, d->size,
                call, text);
    if (err != NULL)
        snprintf(err, CDNOPT_ERRMSG_MAX, "%s", d->last_error);
    return CDNOPT_EDIST;
}

static bool launched_by_mpirun(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") != NULL || getenv("PMIX_RANK") != NULL;
}

/* Read the test-only variables that make one rank exit in the middle of training. */
static void read_kill_hook(cdnopt_dist *d)
{
    d->kill_rank = -1;
    const char *rank = getenv("CDNOPT_TEST_KILL_RANK");
    const char *step = getenv("CDNOPT_TEST_KILL_STEP");
    if (rank != NULL && step != NULL) {
        d->kill_rank = strtol(rank, NULL, 10);
        d->kill_step = strtol(step, NULL, 10);
    }
}

static int start_mpi(cdnopt_dist *d, int *argc, char ***argv, char *err)
{
    int provided = 0;
    int rc = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
    if (rc != MPI_SUCCESS)
        return mpi_fail(d, rc, "MPI_Init_thread", err);
    d->active = true;

    /* Errors on MPI_COMM_WORLD itself would still abort, so everything runs on a
     * duplicate that returns them. */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    rc = MPI_Comm_dup(MPI_COMM_WORLD, &d->comm);
    if (rc != MPI_SUCCESS)
        return mpi_fail(d, rc, "MPI_Comm_dup", err);
    rc = MPI_Comm_set_errhandler(d->comm, MPI_ERRORS_RETURN);
    if (rc == MPI_SUCCESS)
        rc = MPI_Comm_rank(d->comm, &d->rank);
    if (rc == MPI_SUCCESS)
        rc = MPI_Comm_size(d->comm, &d->size);
    if (rc != MPI_SUCCESS)
        return mpi_fail(d, rc, "communicator set-up", err);
    return CDNOPT_OK;
}

int cdnopt_dist_init(int *argc, char ***argv, cdnopt_dist_init_mode mode, cdnopt_dist **out,
                     char *err)
{
    *out = NULL;
    cdnopt_dist *d = cdnopt_calloc(1, sizeof *d);
    if (d == NULL)
        return cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory starting the MPI module");
    d->size = 1;
    d->comm = MPI_COMM_NULL;
    read_kill_hook(d);

    if (mode == CDNOPT_DIST_INIT_ALWAYS || launched_by_mpirun()) {
        int rc = start_mpi(d, argc, argv, err);
        if (rc != CDNOPT_OK) {
            cdnopt_dist_finalize(d);
            return rc;
        }
        cdnopt_log_set_rank(d->rank);
    }
    *out = d;
    return CDNOPT_OK;
}

void cdnopt_dist_finalize(cdnopt_dist *d)
{
    if (d == NULL)
        return;
    if (d->steps > 0)
        CDNOPT_LOG_DEBUG(DIST_LOG, "gradient_sums=%ld seconds_in_allreduce=%.3f", d->steps,
                         d->sum_seconds);
    if (d->active) {
        if (d->comm != MPI_COMM_NULL)
            MPI_Comm_free(&d->comm);
        MPI_Finalize();
    }
    cdnopt_free(d);
}

void cdnopt_dist_abort(cdnopt_dist *d, int exit_code, const char *message)
{
    int code = exit_code != 0 ? exit_code : 1;
    CDNOPT_LOG_ERROR(DIST_LOG, "stopping the job: %s", message);
    if (d != NULL && d->active)
        MPI_Abort(MPI_COMM_WORLD, code);
    exit(code);
}

int cdnopt_dist_rank(const cdnopt_dist *d)
{
    return d->rank;
}

int cdnopt_dist_size(const cdnopt_dist *d)
{
    return d->size;
}

bool cdnopt_dist_active(const cdnopt_dist *d)
{
    return d->active;
}

const char *cdnopt_dist_last_error(const cdnopt_dist *d)
{
    return d->last_error;
}

/* In-place MPI_Allreduce sum in chunks that fit MPI's int counts. */
static int sum_in_place(cdnopt_dist *d, void *values, size_t n, MPI_Datatype type,
                        size_t elem_size, char *err)
{
    if (!d->active || d->size == 1)
        return CDNOPT_OK;
    char *p = values;
    for (size_t done = 0; done < n;) {
        size_t chunk = n - done < DIST_MAX_CHUNK ? n - done : DIST_MAX_CHUNK;
        int rc = MPI_Allreduce(MPI_IN_PLACE, p + done * elem_size, (int)chunk, type, MPI_SUM,
                               d->comm);
        if (rc != MPI_SUCCESS)
            return mpi_fail(d, rc, "MPI_Allreduce", err);
        done += chunk;
    }
    return CDNOPT_OK;
}

int cdnopt_dist_sum_floats(cdnopt_dist *d, float *values, size_t n, char *err)
{
    return sum_in_place(d, values, n, MPI_FLOAT, sizeof *values, err);
}

int cdnopt_dist_sum_doubles(cdnopt_dist *d, double *values, size_t n, char *err)
{
    return sum_in_place(d, values, n, MPI_DOUBLE, sizeof *values, err);
}

int cdnopt_dist_agree(cdnopt_dist *d, int rc, char *err)
{
    if (!d->active || d->size == 1)
        return rc;
    int lowest = rc;
    int mpi_rc = MPI_Allreduce(&rc, &lowest, 1, MPI_INT, MPI_MIN, d->comm);
    if (mpi_rc != MPI_SUCCESS)
        return mpi_fail(d, mpi_rc, "MPI_Allreduce", err);
    return lowest;
}

int cdnopt_dist_bcast(cdnopt_dist *d, void *buf, size_t n_bytes, int root, char *err)
{
    if (!d->active || d->size == 1)
        return CDNOPT_OK;
    char *p = buf;
    for (size_t done = 0; done < n_bytes;) {
        size_t chunk = n_bytes - done < DIST_MAX_CHUNK ? n_bytes - done : DIST_MAX_CHUNK;
        int rc = MPI_Bcast(p + done, (int)chunk, MPI_BYTE, root, d->comm);
        if (rc != MPI_SUCCESS)
            return mpi_fail(d, rc, "MPI_Bcast", err);
        done += chunk;
    }
    return CDNOPT_OK;
}

/* ---- fit hooks ---- */

/* Test hook: the chosen rank exits without MPI_Finalize, as a crashed process would. */
static void maybe_kill(cdnopt_dist *d)
{
    d->steps++;
    if (d->rank != d->kill_rank || d->steps != d->kill_step)
        return;
    CDNOPT_LOG_ERROR(DIST_LOG,
                     "exiting at training step %ld without MPI_Finalize because "
                     "CDNOPT_TEST_KILL_RANK and CDNOPT_TEST_KILL_STEP are set (test only)",
                     d->steps);
    _exit(3);
}

static int hook_sum_floats(float *values, size_t n, void *user)
{
    cdnopt_dist *d = user;
    maybe_kill(d);
    double t0 = cdnopt_clock_s();
    int rc = cdnopt_dist_sum_floats(d, values, n, NULL);
    d->sum_seconds += cdnopt_clock_s() - t0;
    return rc;
}

static int hook_sum_doubles(double *values, size_t n, void *user)
{
    return cdnopt_dist_sum_doubles(user, values, n, NULL);
}

cdnopt_fit_hooks cdnopt_dist_fit_hooks(cdnopt_dist *d)
{
    cdnopt_fit_hooks h = {
        .n_parts = d->size,
        .part = d->rank,
        .sum_floats = hook_sum_floats,
        .sum_doubles = hook_sum_doubles,
        .user = d,
        .continue_epochs = false,
    };
    return h;
}

/* ---- rollout hooks ---- */

/* Message tag of the transitions that rollout workers send to the learner. */
#define DIST_TAG_ROLLOUT 11

static int hook_send(const void *buf, size_t n, void *user)
{
    return cdnopt_dist_send(user, 0, DIST_TAG_ROLLOUT, buf, n, NULL);
}

static int hook_recv(int source, void **buf, size_t *n, void *user)
{
    return cdnopt_dist_recv(user, source, DIST_TAG_ROLLOUT, buf, n, NULL, NULL);
}

static int hook_bcast(void *buf, size_t n, void *user)
{
    return cdnopt_dist_bcast(user, buf, n, 0, NULL);
}

cdnopt_rollout_hooks cdnopt_dist_rollout_hooks(cdnopt_dist *d)
{
    cdnopt_rollout_hooks h = {
        .n_ranks = d->size,
        .rank = d->rank,
        .send = hook_send,
        .recv = hook_recv,
        .bcast = hook_bcast,
        .user = d,
    };
    return h;
}

/* ---- sharding, gathering and point-to-point messages ---- */

void cdnopt_dist_share(size_t n, int rank, int size, size_t *first, size_t *count)
{
    size_t parts = size > 0 ? (size_t)size : 1;
    size_t r = (size_t)rank;
    size_t base = n / parts, extra = n % parts;
    *first = r * base + (r < extra ? r : extra);
    *count = base + (r < extra ? 1 : 0);
}

static int gather_single(const char *text, size_t len, char **out, size_t *out_len, char *err)
{
    *out = cdnopt_malloc(len + 1);
    if (*out == NULL)
        return cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory gathering %zu bytes", len);
    if (len > 0)
        memcpy(*out, text, len);
    (*out)[len] = '\0';
    *out_len = len;
    return CDNOPT_OK;
}

/* Rank 0's side of the gather: lengths are in counts, the joined text goes to *out. */
static int gather_root(cdnopt_dist *d, const char *text, int len, int *counts, char **out,
                       size_t *out_len, char *err)
{
    int *displs = cdnopt_malloc((size_t)d->size * sizeof *displs);
    size_t total = 0;
    for (int r = 0; r < d->size; r++)
        total += (size_t)counts[r];
    char *joined = total <= INT_MAX ? cdnopt_malloc(total + 1) : NULL;
    if (displs == NULL || joined == NULL) {
        cdnopt_free(displs);
        cdnopt_free(joined);
        if (total > INT_MAX)
            return cdnopt_fail(err, CDNOPT_EINVAL,
                               "gathered output of %zu bytes exceeds MPI's limit of %d bytes; "
                               "split the work into smaller runs", total, INT_MAX);
        return cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory gathering %zu bytes", total);
    }
    int offset = 0;
    for (int r = 0; r < d->size; r++) {
        displs[r] = offset;
        offset += counts[r];
    }
    int rc = MPI_Gatherv(text, len, MPI_CHAR, joined, counts, displs, MPI_CHAR, 0, d->comm);
    cdnopt_free(displs);
    if (rc != MPI_SUCCESS) {
        cdnopt_free(joined);
        return mpi_fail(d, rc, "MPI_Gatherv", err);
    }
    joined[total] = '\0';
    *out = joined;
    *out_len = total;
    return CDNOPT_OK;
}

int cdnopt_dist_gather_text(cdnopt_dist *d, const char *text, size_t len, char **out,
                            size_t *out_len, char *err)
{
    *out = NULL;
    *out_len = 0;
    if (!d->active || d->size == 1)
        return gather_single(text, len, out, out_len, err);
    if (len > INT_MAX)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "rank %d has %zu bytes of output, over MPI's limit of %d bytes per "
                           "message; split the work into smaller runs", d->rank, len, INT_MAX);

    int my_len = (int)len;
    int *counts = NULL;
    if (d->rank == 0) {
        counts = cdnopt_malloc((size_t)d->size * sizeof *counts);
        if (counts == NULL)
            return cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory gathering output lengths");
    }
    int rc = MPI_Gather(&my_len, 1, MPI_INT, counts, 1, MPI_INT, 0, d->comm);
    if (rc != MPI_SUCCESS) {
        cdnopt_free(counts);
        return mpi_fail(d, rc, "MPI_Gather", err);
    }

    int result = CDNOPT_OK;
    if (d->rank == 0) {
        result = gather_root(d, text, my_len, counts, out, out_len, err);
    } else {
        rc = MPI_Gatherv(text, my_len, MPI_CHAR, NULL, NULL, NULL, MPI_CHAR, 0, d->comm);
        if (rc != MPI_SUCCESS)
            result = mpi_fail(d, rc, "MPI_Gatherv", err);
    }
    cdnopt_free(counts);
    return result;
}

int cdnopt_dist_send(cdnopt_dist *d, int dest, int tag, const void *buf, size_t n_bytes,
                     char *err)
{
    if (n_bytes > INT_MAX)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "message of %zu bytes to rank %d exceeds MPI's limit of %d bytes",
                           n_bytes, dest, INT_MAX);
    int rc = MPI_Send(buf, (int)n_bytes, MPI_BYTE, dest, tag, d->comm);
    if (rc != MPI_SUCCESS)
        return mpi_fail(d, rc, "MPI_Send", err);
    return CDNOPT_OK;
}

int cdnopt_dist_recv(cdnopt_dist *d, int source, int tag, void **buf, size_t *n_bytes, int *from,
                     char *err)
{
    *buf = NULL;
    *n_bytes = 0;
    MPI_Status status;
    int rc = MPI_Probe(source < 0 ? MPI_ANY_SOURCE : source, tag, d->comm, &status);
    int count = 0;
    if (rc == MPI_SUCCESS)
        rc = MPI_Get_count(&status, MPI_BYTE, &count);
    if (rc != MPI_SUCCESS)
        return mpi_fail(d, rc, "MPI_Probe", err);

    /* One spare byte so that an empty message still gets a block the caller can free. */
    char *data = cdnopt_malloc((size_t)count + 1);
    if (data == NULL)
        return cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory receiving %d bytes", count);
    rc = MPI_Recv(data, count, MPI_BYTE, status.MPI_SOURCE, tag, d->comm, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) {
        cdnopt_free(data);
        return mpi_fail(d, rc, "MPI_Recv", err);
    }
    *buf = data;
    *n_bytes = (size_t)count;
    if (from != NULL)
        *from = status.MPI_SOURCE;
    return CDNOPT_OK;
}
