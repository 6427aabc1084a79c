/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dist: cdnopt across processes and machines with MPI. This is the only module that
 * includes mpi.h, and it is built only when CMake finds MPI (CDNOPT_WITH_MPI).
 *
 * A cdnopt_dist is one process's view of the job: its rank, the number of ranks and a
 * private duplicate of MPI_COMM_WORLD. That communicator's error handler is
 * MPI_ERRORS_RETURN, so a failed MPI call returns CDNOPT_EDIST, with MPI_Error_string's
 * text and the rank in the message, instead of killing the job from inside MPI.
 *
 * The pieces cdnopt distributes:
 * - Data-parallel training: cdnopt_dist_fit_hooks() gives model.h's fit hooks, which
 *   split every batch over the ranks and sum the gradients with MPI_Allreduce.
 * - Sharded work over many series: cdnopt_dist_share() gives each rank a contiguous
 *   run of items, and cdnopt_dist_gather_text() joins the ranks' output on rank 0 in
 *   rank order, which is item order.
 * - Distributed agent training: cdnopt_dist_rollout_hooks() gives agent.h's rollout
 *   hooks, which play episodes on every rank and learn on rank 0. They use messages
 *   of any size between two ranks (cdnopt_dist_send(), cdnopt_dist_recv()) and
 *   cdnopt_dist_bcast().
 *
 * Usage:
 *     cdnopt_dist *d = NULL;
 *     char err[CDNOPT_ERRMSG_MAX];
 *     if (cdnopt_dist_init(&argc, &argv, CDNOPT_DIST_INIT_AUTO, &d, err) != CDNOPT_OK) ...
 *     cdnopt_fit_hooks hooks = cdnopt_dist_fit_hooks(d);
 *     cdnopt_model_set_fit_hooks(model, &hooks);
 *     cdnopt_model_fit(model, train, NULL, NULL, err);     // same call on every rank
 *     if (cdnopt_dist_rank(d) == 0) cdnopt_model_save(model, "model.h5", err);
 *     cdnopt_dist_finalize(d);
 *
 * Limitations:
 * - A rank that dies is not replaced: the job stops (cdnopt_dist_abort()) and is
 *   restarted from the last checkpoint. MPI_ERRORS_RETURN only turns the errors MPI
 *   detects into return codes; a peer that exits without MPI_Finalize is usually
 *   noticed by mpirun, which then kills the remaining ranks.
 * - Sums are done in float (gradients) and double (losses) by MPI_Allreduce, whose
 *   order of additions depends on the rank count, so results match a single process
 *   only within float tolerance.
 * - One communicator per process; the functions are not thread-safe (MPI is
 *   initialised with MPI_THREAD_FUNNELED).
 */
#ifndef CDNOPT_DIST_H
#define CDNOPT_DIST_H

#include <stdbool.h>
#include <stddef.h>

#include "cdnopt/agent.h"
#include "cdnopt/core.h"
#include "cdnopt/model.h"

/** One process's handle on the MPI job. Opaque. */
typedef struct cdnopt_dist cdnopt_dist;

/** When cdnopt_dist_init() starts MPI. */
typedef enum cdnopt_dist_init_mode {
    CDNOPT_DIST_INIT_AUTO = 0,   /* only when launched by mpirun (its environment variables
                                    OMPI_COMM_WORLD_SIZE or PMIX_RANK are set); otherwise the
                                    process is rank 0 of 1 and makes no MPI call */
    CDNOPT_DIST_INIT_ALWAYS = 1, /* always call MPI_Init (a singleton job without mpirun) */
} cdnopt_dist_init_mode;

/**
 * Start MPI (see mode), duplicate MPI_COMM_WORLD with MPI_ERRORS_RETURN and set the
 * rank that log lines carry.
 *
 * @param argc, argv  main's arguments, passed on to MPI_Init
 * @param mode        when to start MPI
 * @param out         receives the handle; free it with cdnopt_dist_finalize()
 * @param err         CDNOPT_ERRMSG_MAX bytes for a message, or NULL
 * @return CDNOPT_OK, CDNOPT_EDIST (MPI_Init or the communicator set-up failed),
 *         CDNOPT_ENOMEM
 */
int cdnopt_dist_init(int *argc, char ***argv, cdnopt_dist_init_mode mode, cdnopt_dist **out,
                     char *err);

/** Call MPI_Finalize when init started MPI, and free d. NULL is a no-op. */
void cdnopt_dist_finalize(cdnopt_dist *d);

/**
 * Log message as an error of this rank, then end the whole job with MPI_Abort and
 * exit_code (a non-zero exit status). Without MPI it calls exit(exit_code).
 */
CDNOPT_NORETURN void cdnopt_dist_abort(cdnopt_dist *d, int exit_code, const char *message);

/** This process's rank, 0-based; 0 without MPI. */
int cdnopt_dist_rank(const cdnopt_dist *d);

/** Number of ranks in the job; 1 without MPI. */
int cdnopt_dist_size(const cdnopt_dist *d);

/** True when init started MPI (with one or more ranks). */
bool cdnopt_dist_active(const cdnopt_dist *d);

/**
 * Message of the last failed call on d ("" if none), for failures reported through a
 * callback that has no err argument (the fit hooks). Borrowed, valid until the next
 * call on d.
 */
const char *cdnopt_dist_last_error(const cdnopt_dist *d);

/**
 * Replace values[0..n) by their element-wise sum over all ranks (MPI_Allreduce).
 * @return CDNOPT_OK or CDNOPT_EDIST with MPI's message and the rank in err
 */
int cdnopt_dist_sum_floats(cdnopt_dist *d, float *values, size_t n, char *err);

/** As cdnopt_dist_sum_floats(), for doubles. */
int cdnopt_dist_sum_doubles(cdnopt_dist *d, double *values, size_t n, char *err);

/**
 * Add up the ranks' exit codes: returns CDNOPT_OK on every rank when each passed
 * CDNOPT_OK, else the lowest (most negative) code passed anywhere, so all ranks take the
 * same branch after a step that may fail on some of them. Without MPI returns rc.
 */
int cdnopt_dist_agree(cdnopt_dist *d, int rc, char *err);

/** Copy n_bytes of buf from rank root to every rank. */
int cdnopt_dist_bcast(cdnopt_dist *d, void *buf, size_t n_bytes, int root, char *err);

/**
 * Fit hooks that make cdnopt_model_fit() data-parallel over d's ranks: rank r computes
 * part r of every batch and the gradients are summed with MPI_Allreduce. The hooks
 * borrow d, which must outlive the fit. A failed sum stops training with CDNOPT_EDIST;
 * its text is in cdnopt_dist_last_error().
 */
cdnopt_fit_hooks cdnopt_dist_fit_hooks(cdnopt_dist *d);

/**
 * Rollout hooks that spread cdnopt_agent_train()'s episodes over d's ranks: each rank
 * plays its share of every round and sends the transitions to rank 0, which learns and
 * broadcasts the weights. The hooks borrow d, which must outlive the training.
 */
cdnopt_rollout_hooks cdnopt_dist_rollout_hooks(cdnopt_dist *d);

/**
 * Split n items into size contiguous runs whose lengths differ by at most one (the
 * longer runs first) and return run rank as [*first, *first + *count).
 */
void cdnopt_dist_share(size_t n, int rank, int size, size_t *first, size_t *count);

/**
 * Gather each rank's text to rank 0, joined in rank order.
 *
 * @param text, len  this rank's bytes (len may be 0)
 * @param out        on rank 0 receives the joined text, NUL-terminated, which the caller
 *                   frees with cdnopt_free(); NULL on the other ranks
 * @param out_len    on rank 0 the joined length without the NUL; 0 elsewhere
 * @return CDNOPT_OK, CDNOPT_EDIST, CDNOPT_ENOMEM, CDNOPT_EINVAL (more than INT_MAX bytes)
 */
int cdnopt_dist_gather_text(cdnopt_dist *d, const char *text, size_t len, char **out,
                            size_t *out_len, char *err);

/**
 * Send n_bytes of buf to rank dest with a message tag (>= 0). Blocks until buf may be
 * reused. The receiver learns the size from the message.
 */
int cdnopt_dist_send(cdnopt_dist *d, int dest, int tag, const void *buf, size_t n_bytes,
                     char *err);

/**
 * Receive one message with tag from rank source, or from any rank when source is -1.
 *
 * @param buf       OUT: the message, allocated here; the caller frees it with cdnopt_free()
 * @param n_bytes   OUT: its size
 * @param from      OUT: the sender's rank, may be NULL
 */
int cdnopt_dist_recv(cdnopt_dist *d, int source, int tag, void **buf, size_t *n_bytes, int *from,
                     char *err);

#endif /* CDNOPT_DIST_H */
