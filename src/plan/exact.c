/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The exact planner: a mixed-integer program over whole-hour delays. GLPK solves its
 * LP relaxation for the bound and branches on the largest releases to raise it. The
 * schedule comes from greedy, ruin and recreate (ruin.c), the rounded LP and GLPK's
 * branch and bound (glp_intopt) on neighbourhoods of the peak.
 *
 *   minimise P
 *   subject to  sum_k x[i][k] = 1                      for every release i
 *               G[p][H] = sum c[i][k][p][H] * x[i][k]  for every hour block (p, H)
 *               baseline(s) + sum of the G blocks covering s <= P   for every step s
 *               x binary, G >= 0, P >= max baseline
 *
 * Rationale for the G blocks: with whole-hour delays a release's traffic is constant
 * within each hour that starts at its planned minute (its phase p, in grid steps
 * within the hour). G[p][H] is the traffic of all releases of phase p during the
 * hour that begins at grid step H * steps_per_hour + p. A step s at minute index m
 * of clock hour c is covered by G[p][c] for p <= m and by G[p][c - 1] for p > m, so
 * each step row has at most steps_per_hour entries, and each option appears once
 * per hour of its traffic. Writing the option traffic straight into the step rows
 * would take steps_per_hour times as many nonzeros.
 *
 * The model is exact for whole-hour delays: its P equals the dense evaluation's
 * peak of the chosen schedule, up to rounding. Its LP relaxation bounds that
 * restricted problem only (finer starts may do better).
 *
 * The root program is counted before it is built. Its LP is skipped when the estimated
 * solve time exceeds its share of the time limit (decide_root_lp), so a large input
 * costs neither minutes of building nor gigabytes of memory.
 */
#include "plan-impl.h"

#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

/* Releases freed per neighbourhood program, and the seconds each may take.
 * NOTE: tuned on the day workload (200 releases) only. */
#define LNS_RELEASES 40
#define LNS_CULPRITS 25
#define LNS_SECONDS 5.0
#define LNS_NEAR_HOURS 12 /* hours either side of the peak step for the second pick */

/* Ruin-and-recreate rounds without a lower peak before a neighbourhood program runs:
 * a few seconds on the day workload. */
#define RUIN_PATIENCE 20000

/* Share of the time limit for ruin and recreate on greedy's schedule before the root
 * LP, so that the schedule improves even when the LP does not finish in time. */
#define EARLY_SHARE 0.1

/* Max share of the time left that the root LP may take. When it does not finish, ruin
 * and recreate gets the rest. */
#define ROOT_LP_SHARE 0.6

/* Estimated seconds of the root LP per squared nonzero of the program. The primal
 * simplex takes about as many iterations as there are rows, and each costs more as the
 * nonzeros grow, so the time grows about as the square of the program's size.
 * NOTE: an estimate from one 2-core AMD EPYC. A program of 361,685 nonzeros solved its
 * LP in 0.56 s (4.3e-12 s per squared nonzero). One of 3.5 million nonzeros did not
 * finish in 32 s, against an estimate of 52 s. */
#define LP_SECONDS_PER_NONZERO_SQUARED 4e-12

/* Share of the time limit that the p95 local search may run past the deadline. */
#define P95_SHARE 0.1

/* Relative amount by which GLPK's LP bound may exceed a schedule's peak from rounding
 * alone. The simplex and the schedule's evaluation reach the same value by different
 * sums, so they differ by a few ulps (about 1e-16 relative) when the schedule reaches
 * the bound. */
#define BOUND_ROUNDING 1e-9

#define EXACT_LOG "plan.exact"

/* Triplets of the constraint matrix, 1-based as glp_load_matrix wants them. */
typedef struct triplets {
    int *row, *col;
    double *value;
    size_t n, cap;
} triplets;

static int triplets_push(triplets *t, int row, int col, double value)
{
    if (t->n + 1 >= t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 1 << 16;
        int *rows = cdnopt_realloc(t->row, cap * sizeof *rows);
        if (rows == NULL)
            return CDNOPT_ENOMEM;
        t->row = rows;
        int *cols = cdnopt_realloc(t->col, cap * sizeof *cols);
        if (cols == NULL)
            return CDNOPT_ENOMEM;
        t->col = cols;
        double *values = cdnopt_realloc(t->value, cap * sizeof *values);
        if (values == NULL)
            return CDNOPT_ENOMEM;
        t->value = values;
        t->cap = cap;
    }
    t->n++; /* index 0 stays unused */
    t->row[t->n] = row;
    t->col[t->n] = col;
    t->value[t->n] = value;
    return 0;
}

static void triplets_free(triplets *t)
{
    cdnopt_free(t->row);
    cdnopt_free(t->col);
    cdnopt_free(t->value);
}

/* A program over a subset of the releases; the others are fixed and their traffic is
 * part of the background load. */
typedef struct milp {
    const plan_problem *problem;
    const size_t *subset;     /* releases with columns, n_subset of them */
    size_t n_subset;
    const double *background; /* per step: baseline plus fixed releases, Gbit/s */
    glp_prob *lp;
    int *x_first;             /* per subset entry, column of its first option */
    size_t n_hours;           /* hour blocks per phase */
    int *g_col;               /* per (phase, H): its G column, or 0 when no option reaches it */
    int *g_row;               /* per (phase, H): the row defining it */
    int p_col;                /* column of the peak P */
    const size_t *warm;       /* per release, the option offered as the first incumbent */
    bool warm_offered;
} milp;

/* Index of the (phase, hour) block that starts at grid step start. */
static size_t hour_block_key(int64_t steps_per_hour, size_t n_hours, int64_t start)
{
    return (size_t)(start % steps_per_hour) * n_hours + (size_t)(start / steps_per_hour);
}

static size_t block_key(const milp *m, int64_t start)
{
    return hour_block_key(m->problem->steps_per_hour, m->n_hours, start);
}

/* Hour blocks per phase that the program over a grid of n steps needs. */
static size_t hours_of_grid(const plan_problem *problem)
{
    return problem->n / (size_t)problem->steps_per_hour + 2;
}

static size_t option_count(const plan_problem *problem, size_t i)
{
    return problem->option_offset[i + 1] - problem->option_offset[i];
}

/* Columns x, rows "sum_k x = 1", and G columns and rows as options reach them. */
static int add_options(milp *m, triplets *t)
{
    const plan_problem *problem = m->problem;
    for (size_t j = 0; j < m->n_subset; j++) {
        size_t i = m->subset[j], count = option_count(problem, i);
        int row = glp_add_rows(m->lp, 1);
        m->x_first[j] = glp_add_cols(m->lp, (int)count);
        glp_set_row_bnds(m->lp, row, GLP_FX, 1.0, 1.0);
        for (size_t k = 0; k < count; k++) {
            glp_set_col_kind(m->lp, m->x_first[j] + (int)k, GLP_BV);
            if (triplets_push(t, row, m->x_first[j] + (int)k, 1.0) != 0)
                return CDNOPT_ENOMEM;
        }
    }

    for (size_t j = 0; j < m->n_subset; j++) {
        size_t i = m->subset[j], count = option_count(problem, i);
        for (size_t k = 0; k < count; k++) {
            const plan_option *o = &problem->options[problem->option_offset[i] + k];
            size_t hours;
            const double *profile = plan_profile(problem, i, o->ratio, &hours);
            for (size_t h = 0; h < hours; h++) {
                size_t key = block_key(m, o->first + (int64_t)h * problem->steps_per_hour);
                if (m->g_col[key] == 0) {
                    m->g_col[key] = glp_add_cols(m->lp, 1);
                    m->g_row[key] = glp_add_rows(m->lp, 1);
                    glp_set_col_bnds(m->lp, m->g_col[key], GLP_LO, 0.0, 0.0);
                    glp_set_row_bnds(m->lp, m->g_row[key], GLP_FX, 0.0, 0.0);
                    if (triplets_push(t, m->g_row[key], m->g_col[key], 1.0) != 0)
                        return CDNOPT_ENOMEM;
                }
                if (triplets_push(t, m->g_row[key], m->x_first[j] + (int)k, -profile[h]) != 0)
                    return CDNOPT_ENOMEM;
            }
        }
    }
    return 0;
}

/* One row per step that some option can reach: its G blocks minus P <= -background. */
static int add_steps(milp *m, triplets *t)
{
    const plan_problem *problem = m->problem;
    int64_t sph = problem->steps_per_hour;
    double max_background = -INFINITY;
    for (size_t s = 0; s < problem->n; s++)
        max_background = fmax(max_background, m->background[s]);

    m->p_col = glp_add_cols(m->lp, 1);
    glp_set_col_bnds(m->lp, m->p_col, GLP_LO, max_background, 0.0);
    glp_set_obj_coef(m->lp, m->p_col, 1.0);

    for (size_t s = 0; s < problem->n; s++) {
        int64_t clock_hour = (int64_t)s / sph, minute = (int64_t)s % sph;
        int row = 0;
        for (int64_t p = 0; p < sph; p++) {
            int64_t hour = p <= minute ? clock_hour : clock_hour - 1;
            if (hour < 0)
                continue;
            size_t key = (size_t)p * m->n_hours + (size_t)hour;
            if (m->g_col[key] == 0)
                continue;
            if (row == 0) {
                row = glp_add_rows(m->lp, 1);
                glp_set_row_bnds(m->lp, row, GLP_UP, 0.0, -m->background[s]);
                if (triplets_push(t, row, m->p_col, -1.0) != 0)
                    return CDNOPT_ENOMEM;
            }
            if (triplets_push(t, row, m->g_col[key], 1.0) != 0)
                return CDNOPT_ENOMEM;
        }
    }
    return 0;
}

static int build(milp *m)
{
    const plan_problem *problem = m->problem;
    m->n_hours = hours_of_grid(problem);
    size_t keys = (size_t)problem->steps_per_hour * m->n_hours;
    m->g_col = cdnopt_calloc(keys, sizeof *m->g_col);
    m->g_row = cdnopt_calloc(keys, sizeof *m->g_row);
    m->x_first = cdnopt_calloc(m->n_subset > 0 ? m->n_subset : 1, sizeof *m->x_first);
    m->lp = glp_create_prob();
    if (m->g_col == NULL || m->g_row == NULL || m->x_first == NULL)
        return CDNOPT_ENOMEM;
    glp_set_obj_dir(m->lp, GLP_MIN);

    triplets t = {0};
    int rc = add_options(m, &t);
    if (rc == 0)
        rc = add_steps(m, &t);
    if (rc == 0)
        glp_load_matrix(m->lp, (int)t.n, t.row, t.col, t.value);
    triplets_free(&t);
    return rc;
}

static void milp_free(milp *m)
{
    if (m->lp != NULL)
        glp_delete_prob(m->lp);
    cdnopt_free(m->g_col);
    cdnopt_free(m->g_row);
    cdnopt_free(m->x_first);
    m->lp = NULL;
    m->g_col = m->g_row = m->x_first = NULL;
}

/* ------------------------------------------------------------------------- */
/* Size of the root program                                                  */
/* ------------------------------------------------------------------------- */

/* Rows, columns and constraint nonzeros of the program over every release. */
typedef struct program_size {
    size_t rows, cols, nonzeros;
} program_size;

/* Count the program that build() would make over every release, without building
 * it. The G blocks are counted exactly. The step rows are counted as if every step
 * had all steps_per_hour blocks, which overestimates them by at most n * sph
 * nonzeros, little next to the options' entries. */
static int count_program(const plan_problem *problem, program_size *size)
{
    int64_t sph = problem->steps_per_hour;
    size_t n_hours = hours_of_grid(problem);
    bool *used = cdnopt_calloc((size_t)sph * n_hours, sizeof *used);
    if (used == NULL)
        return CDNOPT_ENOMEM;

    *size = (program_size){.cols = 1}; /* the peak P */
    for (size_t i = 0; i < problem->releases->n; i++) {
        size_t count = option_count(problem, i);
        size->rows++; /* sum_k x[i][k] = 1 */
        size->cols += count;
        size->nonzeros += count;
        for (size_t k = 0; k < count; k++) {
            const plan_option *o = &problem->options[problem->option_offset[i] + k];
            size_t hours;
            plan_profile(problem, i, o->ratio, &hours);
            size->nonzeros += hours; /* one entry per hour in the G rows */
            for (size_t h = 0; h < hours; h++) {
                size_t key = hour_block_key(sph, n_hours, o->first + (int64_t)h * sph);
                if (!used[key]) {
                    used[key] = true;
                    size->rows++;
                    size->cols++;
                    size->nonzeros++;
                }
            }
        }
    }

    size->rows += problem->n;
    size->nonzeros += problem->n * ((size_t)sph + 1);
    cdnopt_free(used);
    return 0;
}

/* ------------------------------------------------------------------------- */
/* Calls into GLPK                                                           */
/* ------------------------------------------------------------------------- */

/* GLPK ends the process with abort() when one of its internal checks fails. GLPK 5.0's
 * primal simplex stopped that way on "teta_lim >= 0.0" (spxprim.c line 663) inside
 * glp_intopt on a neighbourhood program. GLPK's error hook may leave by longjmp, after
 * which glp_free_env() must free the thread's whole GLPK environment. */
typedef struct glpk_call {
    jmp_buf trap;
    bool verbose;
    char text[256]; /* GLPK's latest lines when not verbose, for the log */
} glpk_call;

static void on_glpk_error(void *info)
{
    longjmp(((glpk_call *)info)->trap, 1);
}

/* GLPK prints some lines whatever msg_lev is set to, such as "Constructing initial
 * basis..." and the check that an internal failure broke. They went to stdout in the
 * middle of plan --json, so without verbose they are kept for the log instead. */
static int on_glpk_text(void *info, const char *text)
{
    glpk_call *call = info;
    if (call->verbose)
        return 0; /* GLPK prints it to stdout */
    size_t have = strlen(call->text), add = strlen(text);
    if (have + add >= sizeof call->text)
        have = 0; /* keep the latest lines only */
    snprintf(call->text + have, sizeof call->text - have, "%s", text);
    return 1;
}

int plan_glpk_solve(glp_prob **lp, const glp_smcp *lp_params, const glp_iocp *mip_params,
                    bool verbose)
{
    /* GLPK keeps these settings in thread-local storage, so they hold for this thread's
     * call only. The call is static because an automatic object changed after setjmp()
     * is indeterminate after longjmp(), and thread-local for the server's threads. */
    static _Thread_local glpk_call call;
    memset(&call, 0, sizeof call);
    call.verbose = verbose;
    int term_out = glp_term_out(verbose ? GLP_ON : GLP_OFF);
    glp_term_hook(on_glpk_text, &call);
    if (setjmp(call.trap) != 0) {
        glp_free_env();
        *lp = NULL;
        glp_term_out(term_out);
        /* One log line: GLPK's lines joined by spaces. */
        for (char *end = call.text + strlen(call.text); end > call.text && end[-1] == '\n';)
            *--end = '\0';
        for (char *c = strchr(call.text, '\n'); c != NULL; c = strchr(c, '\n'))
            *c = ' ';
        CDNOPT_LOG_WARN(EXACT_LOG, "GLPK failed an internal check, so its programs are "
                                   "dropped and the search goes on without them: %s",
                        call.text);
        return PLAN_GLPK_FAILED;
    }
    glp_error_hook(on_glpk_error, &call);
    int rc = lp_params != NULL ? glp_simplex(*lp, lp_params) : glp_intopt(*lp, mip_params);
    glp_error_hook(NULL, NULL);
    glp_term_hook(NULL, NULL);
    glp_term_out(term_out);
    return rc;
}

/* ------------------------------------------------------------------------- */
/* Incumbents                                                                */
/* ------------------------------------------------------------------------- */

/* T on the grid for a choice, and its peak. */
static double total_of_choice(const plan_problem *problem, const size_t *choice, double *total)
{
    memcpy(total, problem->baseline->v, problem->n * sizeof *total);
    for (size_t i = 0; i < problem->releases->n; i++)
        plan_apply(problem, total, i, &problem->options[problem->option_offset[i] + choice[i]],
                   1.0);
    double peak = -INFINITY;
    for (size_t s = 0; s < problem->n; s++)
        peak = fmax(peak, total[s]);
    return peak;
}

/* Replace choice with other when other's p95 is lower, or equal with a lower peak.
 * Both are judged on the running totals, which match the dense evaluation up to
 * rounding. Returns 0 or CDNOPT_ENOMEM. */
static int keep_lower_p95(const plan_problem *problem, const size_t *other, size_t *choice)
{
    double *total = cdnopt_malloc(problem->n * sizeof *total);
    if (total == NULL)
        return CDNOPT_ENOMEM;
    cdnopt_figures mine, theirs;
    total_of_choice(problem, choice, total);
    int rc = cdnopt_figures_of(total, problem->n, &mine);
    total_of_choice(problem, other, total);
    if (rc == 0)
        rc = cdnopt_figures_of(total, problem->n, &theirs);
    cdnopt_free(total);
    if (rc == 0 && (theirs.p95_gbps < mine.p95_gbps ||
                    (theirs.p95_gbps == mine.p95_gbps && theirs.peak_gbps < mine.peak_gbps)))
        memcpy(choice, other, problem->releases->n * sizeof *choice);
    return rc;
}

/* Column values of the warm choice: x, the G sums, and P as the highest step row. */
static int values_of_choice(const milp *m, double *x)
{
    const plan_problem *problem = m->problem;
    int n_cols = glp_get_num_cols(m->lp);
    for (int c = 1; c <= n_cols; c++)
        x[c] = 0;
    for (size_t j = 0; j < m->n_subset; j++) {
        size_t i = m->subset[j];
        const plan_option *o = &problem->options[problem->option_offset[i] + m->warm[i]];
        x[m->x_first[j] + (int)m->warm[i]] = 1;
        size_t hours;
        const double *profile = plan_profile(problem, i, o->ratio, &hours);
        for (size_t h = 0; h < hours; h++)
            x[m->g_col[block_key(m, o->first + (int64_t)h * problem->steps_per_hour)]] +=
                profile[h];
    }

    double peak = glp_get_col_lb(m->lp, m->p_col);
    int *ind = cdnopt_malloc(((size_t)n_cols + 1) * sizeof *ind);
    double *val = cdnopt_malloc(((size_t)n_cols + 1) * sizeof *val);
    if (ind == NULL || val == NULL) {
        cdnopt_free(ind);
        cdnopt_free(val);
        return CDNOPT_ENOMEM;
    }
    for (int r = 1; r <= glp_get_num_rows(m->lp); r++) {
        if (glp_get_row_type(m->lp, r) != GLP_UP)
            continue;
        int len = glp_get_mat_row(m->lp, r, ind, val);
        double load = -glp_get_row_ub(m->lp, r);
        for (int e = 1; e <= len; e++) {
            if (ind[e] != m->p_col)
                load += val[e] * x[ind[e]];
        }
        peak = fmax(peak, load);
    }
    x[m->p_col] = peak;
    cdnopt_free(ind);
    cdnopt_free(val);
    return 0;
}

/* GLPK callback: offer the warm choice as an incumbent at the first chance. */
static void on_tree(glp_tree *tree, void *info)
{
    milp *m = info;
    if (glp_ios_reason(tree) != GLP_IHEUR || m->warm_offered)
        return;
    m->warm_offered = true;
    double *x = cdnopt_malloc(((size_t)glp_get_num_cols(m->lp) + 1) * sizeof *x);
    if (x != NULL && values_of_choice(m, x) == 0)
        glp_ios_heur_sol(tree, x);
    cdnopt_free(x);
}

/* For each subset release, the option with the largest value of the LP (mip false) or
 * the MIP solution. */
static void read_choice(const milp *m, bool mip, size_t *choice)
{
    for (size_t j = 0; j < m->n_subset; j++) {
        size_t i = m->subset[j], count = option_count(m->problem, i);
        double best = -1;
        for (size_t k = 0; k < count; k++) {
            int col = m->x_first[j] + (int)k;
            double x = mip ? glp_mip_col_val(m->lp, col) : glp_get_col_prim(m->lp, col);
            if (x > best + 1e-9) {
                best = x;
                choice[i] = k;
            }
        }
    }
}

/* Milliseconds left of the time limit, at least 1. */
static int remaining_ms(double deadline)
{
    double left = deadline - cdnopt_clock_s();
    return left < 0.001 ? 1 : (int)fmin(left * 1000.0, 2e9);
}

/* Solve the LP relaxation; returns whether it reached an optimum. */
static bool solve_lp(milp *m, const cdnopt_plan_params *params, double deadline)
{
    glp_smcp lp_params;
    glp_init_smcp(&lp_params);
    lp_params.msg_lev = params->verbose ? GLP_MSG_ON : GLP_MSG_OFF;
    lp_params.meth = GLP_PRIMAL;
    lp_params.tm_lim = remaining_ms(deadline);
    return plan_glpk_solve(&m->lp, &lp_params, NULL, params->verbose) == 0 &&
           glp_get_status(m->lp) == GLP_OPT;
}

/* Branch and bound from the solved LP, warm-started with m->warm. Returns whether an
 * integer solution came back, and sets *proved when the gap fell below mip_gap. */
static bool solve_mip(milp *m, const cdnopt_plan_params *params, double deadline, bool *proved)
{
    m->warm_offered = false;
    glp_iocp mip_params;
    glp_init_iocp(&mip_params);
    mip_params.msg_lev = params->verbose ? GLP_MSG_ON : GLP_MSG_OFF;
    mip_params.cb_func = on_tree;
    mip_params.cb_info = m;
    mip_params.mip_gap = params->mip_gap;
    mip_params.tm_lim = remaining_ms(deadline);
    int rc = plan_glpk_solve(&m->lp, NULL, &mip_params, params->verbose);
    if (rc == PLAN_GLPK_FAILED) {
        *proved = false;
        return false;
    }
    int status = glp_mip_status(m->lp);
    *proved = (rc == 0 && status == GLP_OPT) || rc == GLP_EMIPGAP;
    return status == GLP_OPT || status == GLP_FEAS;
}

/* ------------------------------------------------------------------------- */
/* Neighbourhood search                                                      */
/* ------------------------------------------------------------------------- */


/* Whether release i's traffic under choice covers some step in [lo, hi]. */
static bool traffic_overlaps(const plan_problem *problem, const size_t *choice, size_t i,
                             int64_t lo, int64_t hi)
{
    const plan_option *o = &problem->options[problem->option_offset[i] + choice[i]];
    size_t hours;
    plan_profile(problem, i, o->ratio, &hours);
    int64_t end = o->first + (int64_t)hours * problem->steps_per_hour;
    return o->first <= hi && lo < end;
}

/* Pick the releases to free. First come up to LNS_CULPRITS whose traffic covers a peak
 * step, one of the steps within 0.01 % of the peak chosen at random. Then about half of
 * those whose traffic lies within LNS_NEAR_HOURS of it, then random others. */
static size_t pick_neighbourhood(const plan_problem *problem, const size_t *choice,
                                 const double *total, double peak, cdnopt_rng *rng,
                                 size_t *subset, bool *picked)
{
    size_t n_releases = problem->releases->n, n_peaks = 0, target = 0;
    for (size_t s = 0; s < problem->n; s++) {
        if (total[s] >= peak * (1 - 1e-4) && cdnopt_rng_below(rng, ++n_peaks) == 0)
            target = s;
    }
    memset(picked, 0, n_releases * sizeof *picked);

    /* Culprits, visited from a random start so that repeated rounds differ. */
    size_t count = 0, first = (size_t)cdnopt_rng_below(rng, n_releases);
    for (size_t step = 0; step < n_releases && count < LNS_CULPRITS; step++) {
        size_t i = (first + step) % n_releases;
        if (traffic_overlaps(problem, choice, i, (int64_t)target, (int64_t)target)) {
            subset[count++] = i;
            picked[i] = true;
        }
    }

    /* Then releases whose traffic lies near the peak, which can make room for the
     * culprits, and random ones for the rest. */
    size_t limit = n_releases < LNS_RELEASES ? n_releases : LNS_RELEASES;
    int64_t near = LNS_NEAR_HOURS * problem->steps_per_hour;
    first = (size_t)cdnopt_rng_below(rng, n_releases);
    for (size_t step = 0; step < n_releases && count < limit; step++) {
        size_t i = (first + step) % n_releases;
        if (!picked[i] &&
            traffic_overlaps(problem, choice, i, (int64_t)target - near, (int64_t)target + near) &&
            cdnopt_rng_below(rng, 2) == 0) {
            subset[count++] = i;
            picked[i] = true;
        }
    }
    while (count < limit) {
        size_t i = (size_t)cdnopt_rng_below(rng, n_releases);
        if (!picked[i]) {
            subset[count++] = i;
            picked[i] = true;
        }
    }
    return count;
}

/* Search state shared by the rounds. */
typedef struct lns {
    const plan_problem *problem;
    const cdnopt_plan_params *params;
    size_t *choice;      /* current schedule */
    double *total;       /* T of the current schedule */
    double *background;  /* T without the freed releases */
    size_t *subset;
    bool *picked;
    double peak;         /* peak of the current schedule (whole-hour model), Gbit/s */
    int rounds, improved;
    bool proved;         /* a program over every release finished within mip_gap */
    cdnopt_rng *rng;
    size_t ruin_rounds;  /* ruin-and-recreate rounds between the programs */
} lns;

/* Keep candidate as the current schedule when its peak is not higher. */
static int lns_consider(lns *state, const size_t *candidate)
{
    const plan_problem *problem = state->problem;
    double *trial = cdnopt_malloc(problem->n * sizeof *trial);
    if (trial == NULL)
        return CDNOPT_ENOMEM;
    double peak = total_of_choice(problem, candidate, trial);
    if (peak <= state->peak) {
        state->improved += peak < state->peak;
        state->peak = peak;
        memcpy(state->choice, candidate, problem->releases->n * sizeof *candidate);
        memcpy(state->total, trial, problem->n * sizeof *trial);
    }
    cdnopt_free(trial);
    return 0;
}

/* One round: free a neighbourhood, solve its program, keep the result if the peak does
 * not rise. */
static int lns_round(lns *state, cdnopt_rng *rng, double deadline)
{
    const plan_problem *problem = state->problem;
    size_t n_subset = pick_neighbourhood(problem, state->choice, state->total, state->peak, rng,
                                         state->subset, state->picked);

    memcpy(state->background, state->total, problem->n * sizeof *state->background);
    for (size_t j = 0; j < n_subset; j++) {
        size_t i = state->subset[j];
        plan_apply(problem, state->background, i,
                   &problem->options[problem->option_offset[i] + state->choice[i]], -1.0);
    }

    milp m = {.problem = problem, .subset = state->subset, .n_subset = n_subset,
              .background = state->background, .warm = state->choice};
    int rc = build(&m);
    double round_deadline = fmin(deadline, cdnopt_clock_s() + LNS_SECONDS);
    bool proved = false;
    size_t n_releases = problem->releases->n;
    size_t *candidate = cdnopt_malloc(n_releases * sizeof *candidate);
    if (rc == 0 && candidate == NULL)
        rc = CDNOPT_ENOMEM;

    /* Two candidates: the neighbourhood's LP rounded and polished by the local search,
     * which leaves the plateau that single moves cannot, and its branch and bound. */
    if (rc == 0 && solve_lp(&m, state->params, round_deadline)) {
        memcpy(candidate, state->choice, n_releases * sizeof *candidate);
        read_choice(&m, false, candidate);
        rc = plan_local_search_until(problem, CDNOPT_OBJECTIVE_PEAK,
                                     state->params->local_search_passes, deadline, candidate);
        if (rc == 0)
            rc = lns_consider(state, candidate);
        if (rc == 0 && solve_mip(&m, state->params, round_deadline, &proved)) {
            memcpy(candidate, state->choice, n_releases * sizeof *candidate);
            read_choice(&m, true, candidate);
            rc = lns_consider(state, candidate);
            state->proved = proved && n_subset == n_releases;

            /* The program ignores every step below the peak. The local search lowers
             * them too, so the next round has fewer steps at the peak to cut. */
            if (rc == 0)
                rc = plan_local_search_until(problem, CDNOPT_OBJECTIVE_PEAK,
                                             state->params->local_search_passes, deadline,
                                             candidate);
            if (rc == 0)
                rc = lns_consider(state, candidate);
        }
    }
    state->rounds++;
    cdnopt_free(candidate);
    milp_free(&m);
    return rc;
}

/* Ruin and recreate until it stalls, then one neighbourhood program, and again until
 * the deadline or the gap closes. A program can find joint moves that the fast rounds
 * miss, but it takes seconds, so the fast rounds get most of the time. */
static int run_lns(lns *state, double lp_bound, double deadline)
{
    const plan_problem *problem = state->problem;
    size_t n_releases = problem->releases->n;
    state->total = cdnopt_malloc(problem->n * sizeof *state->total);
    state->background = cdnopt_malloc(problem->n * sizeof *state->background);
    state->subset = cdnopt_malloc(n_releases * sizeof *state->subset);
    state->picked = cdnopt_malloc(n_releases * sizeof *state->picked);
    int rc = 0;
    if (state->total == NULL || state->background == NULL || state->subset == NULL ||
        state->picked == NULL)
        rc = CDNOPT_ENOMEM;

    plan_ruin_params ruin = {
        .deadline = deadline,
        .stop_peak = lp_bound / (1 - state->params->mip_gap),
        .patience = RUIN_PATIENCE,
    };
    if (rc == 0)
        state->peak = total_of_choice(problem, state->choice, state->total);
    while (rc == 0 && !state->proved && cdnopt_clock_s() < deadline - 0.05 &&
           (state->peak - lp_bound) / state->peak > state->params->mip_gap) {
        plan_ruin_stats stats;
        rc = plan_ruin_recreate(problem, &ruin, state->rng, state->choice, &stats);
        state->ruin_rounds += stats.rounds;
        if (rc == 0)
            state->peak = total_of_choice(problem, state->choice, state->total);
        if (rc == 0 && cdnopt_clock_s() < deadline - 0.05 &&
            (state->peak - lp_bound) / state->peak > state->params->mip_gap)
            rc = lns_round(state, state->rng, deadline);
    }

    cdnopt_free(state->total);
    cdnopt_free(state->background);
    cdnopt_free(state->subset);
    cdnopt_free(state->picked);
    return rc;
}

/* ------------------------------------------------------------------------- */
/* Bound by branching on the largest releases                                */
/* ------------------------------------------------------------------------- */

/* A simplex basis: the status of every row and column, 1-based. */
typedef struct basis {
    int *row_stat, *col_stat;
} basis;

static int basis_save(basis *b, glp_prob *lp)
{
    int n_rows = glp_get_num_rows(lp), n_cols = glp_get_num_cols(lp);
    b->row_stat = cdnopt_malloc(((size_t)n_rows + 1) * sizeof *b->row_stat);
    b->col_stat = cdnopt_malloc(((size_t)n_cols + 1) * sizeof *b->col_stat);
    if (b->row_stat == NULL || b->col_stat == NULL)
        return CDNOPT_ENOMEM;
    for (int r = 1; r <= n_rows; r++)
        b->row_stat[r] = glp_get_row_stat(lp, r);
    for (int c = 1; c <= n_cols; c++)
        b->col_stat[c] = glp_get_col_stat(lp, c);
    return 0;
}

static void basis_restore(const basis *b, glp_prob *lp)
{
    for (int r = 1; r <= glp_get_num_rows(lp); r++)
        glp_set_row_stat(lp, r, b->row_stat[r]);
    for (int c = 1; c <= glp_get_num_cols(lp); c++)
        glp_set_col_stat(lp, c, b->col_stat[c]);
}

static void basis_free(basis *b)
{
    cdnopt_free(b->row_stat);
    cdnopt_free(b->col_stat);
}

/* Rationale for branching on the largest releases: a few releases carry much of the
 * traffic (on the day workload the three largest carry 38 % of it). The LP splits each
 * of them over many options, which flattens their traffic in a way no schedule can.
 * Fixing the option of the largest releases in turn raises the bound where it matters.
 * A node fixes one more release to each of its options, one LP per option, which is a
 * branch on the whole assignment row rather than on one binary. The search is best-first
 * (the node with the lowest LP value is expanded next), and the bound is the lowest LP
 * value among the open nodes. Each LP is a dual simplex re-solve from the root's basis.
 * NOTE: on the day workload a node's LP takes about 0.5 s on a loaded machine, so 60 s
 * raise the bound only from 1013.815 to 1013.996 Gbit/s. */
#define BRANCH_DEPTH 8    /* releases fixed at the deepest node */
#define BRANCH_SHARE 0.25 /* share of the time left after the root LP */
#define NODE_SECONDS 0.5 /* time limit of one node's LP, s */

typedef struct branch_node {
    double bound;                   /* LP value with the fixed options, Gbit/s */
    int depth;                      /* releases fixed, the first of order[] */
    bool solved;                    /* bound is the node's LP value, not a lower bound */
    unsigned option[BRANCH_DEPTH];  /* option of each fixed release */
} branch_node;

typedef struct branch_search {
    milp *root;             /* the root program over every release, solved */
    const cdnopt_plan_params *params;
    size_t *order;          /* releases by energy, largest first */
    basis root_basis;       /* the root LP's optimal basis */
    branch_node *open;      /* open nodes, unsorted */
    size_t n_open, cap;
    int lp_solves;
    bool last_solved;       /* the last solve_node reached the LP's optimum */
} branch_search;

/* Fix release i to option k (or free it when fixed is false) in the root program. */
static void fix_release(milp *m, size_t i, size_t k, bool fixed)
{
    size_t count = option_count(m->problem, i);
    for (size_t o = 0; o < count; o++) {
        double value = o == k ? 1.0 : 0.0;
        if (fixed)
            glp_set_col_bnds(m->lp, m->x_first[i] + (int)o, GLP_FX, value, value);
        else
            glp_set_col_bnds(m->lp, m->x_first[i] + (int)o, GLP_DB, 0.0, 1.0);
    }
}

/* Lower bound on the LP value with the node's options fixed: the LP value itself when
 * it is solved, +inf when infeasible, NaN when neither it nor a bound is known. */
static double solve_node(branch_search *b, const branch_node *node, double incumbent,
                         double deadline)
{
    for (int d = 0; d < node->depth; d++)
        fix_release(b->root, b->order[d], node->option[d], true);

    /* Start every node from the root's optimal basis: a node's basis can be far from
     * its sibling's, and the dual simplex then takes many times longer. */
    glp_prob *lp = b->root->lp;
    basis_restore(&b->root_basis, lp);

    glp_smcp lp_params;
    glp_init_smcp(&lp_params);
    lp_params.msg_lev = GLP_MSG_OFF;
    lp_params.meth = GLP_DUALP;
    lp_params.obj_ul = incumbent;
    lp_params.tm_lim = remaining_ms(deadline);
    int rc = plan_glpk_solve(&b->root->lp, &lp_params, NULL, b->params->verbose);
    b->lp_solves++;
    b->last_solved = false;
    if (rc == PLAN_GLPK_FAILED)
        return NAN; /* the program is gone with GLPK's environment */

    /* The dual simplex keeps a dual feasible basis, whose objective value is a lower
     * bound on the node's LP (weak duality) even when it stops early: at the
     * incumbent (obj_ul) or at the time limit. */
    double value = NAN;
    b->last_solved = rc == 0;
    if (rc == 0 && glp_get_status(lp) == GLP_OPT)
        value = glp_get_obj_val(lp);
    else if (rc == 0 && glp_get_prim_stat(lp) == GLP_NOFEAS)
        value = INFINITY;
    else if ((rc == GLP_EOBJUL || rc == GLP_ETMLIM) && glp_get_dual_stat(lp) == GLP_FEAS)
        value = glp_get_obj_val(lp);

    for (int d = 0; d < node->depth; d++)
        fix_release(b->root, b->order[d], 0, false);
    return value;
}

static int push_node(branch_search *b, const branch_node *node)
{
    if (b->n_open == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 256;
        branch_node *open = cdnopt_realloc(b->open, cap * sizeof *open);
        if (open == NULL)
            return CDNOPT_ENOMEM;
        b->open = open;
        b->cap = cap;
    }
    b->open[b->n_open++] = *node;
    return 0;
}

/* Index of the open node with the lowest bound. */
static size_t lowest_open(const branch_search *b)
{
    size_t best = 0;
    for (size_t k = 1; k < b->n_open; k++) {
        if (b->open[k].bound < b->open[best].bound)
            best = k;
    }
    return best;
}

/* Replace the lowest open node by one child per option of the next release. Children
 * at or above the incumbent are dropped because they cannot hold a better schedule.
 * Returns 1 when time ran out before every child was solved, and the node stays open. */
static int expand_lowest(branch_search *b, double incumbent, double deadline)
{
    size_t index = lowest_open(b);
    branch_node parent = b->open[index];
    size_t i = b->order[parent.depth], count = option_count(b->root->problem, i);
    size_t first_child = b->n_open;
    for (size_t k = 0; k < count; k++) {
        branch_node child = parent;
        child.option[child.depth++] = (unsigned)k;
        if (cdnopt_clock_s() >= deadline) {
            b->n_open = first_child; /* drop the partial expansion; the parent stays */
            return 1;
        }

        /* A node whose LP does not finish in NODE_SECONDS keeps its parent's bound,
         * which is still valid because fixing more options never lowers the LP. */
        child.bound = solve_node(b, &child, incumbent,
                                 fmin(deadline, cdnopt_clock_s() + NODE_SECONDS));
        if (b->root->lp == NULL) {
            b->n_open = first_child; /* GLPK failed, so stop as when time runs out */
            return 1;
        }
        child.solved = b->last_solved;
        if (isnan(child.bound) || child.bound < parent.bound)
            child.bound = parent.bound;
        if (child.bound < incumbent && push_node(b, &child) != 0)
            return CDNOPT_ENOMEM;
    }

    /* Remove the parent by moving the last node into its place. */
    b->open[index] = b->open[--b->n_open];
    return 0;
}

/* Release indices by energy (size * users), largest first. */
static size_t *largest_first(const plan_problem *problem, size_t top)
{
    size_t n = problem->releases->n;
    size_t *order = cdnopt_malloc((n > 0 ? n : 1) * sizeof *order);
    if (order == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++)
        order[i] = i;

    /* Selection sort of the first `top` only: the rest of the order is unused. */
    const cdnopt_release *items = problem->releases->items;
    for (size_t a = 0; a < n && a < top; a++) {
        size_t best = a;
        for (size_t k = a + 1; k < n; k++) {
            if (items[order[k]].size_mb * items[order[k]].users >
                items[order[best]].size_mb * items[order[best]].users)
                best = k;
        }
        size_t swap = order[a];
        order[a] = order[best];
        order[best] = swap;
    }
    return order;
}

/* Raise *bound (the root LP value on entry) by best-first branching on the largest
 * releases until deadline, the depth limit, or the bound meets the incumbent. */
static int branch_bound(milp *root, const cdnopt_plan_params *params, double incumbent,
                        double deadline, double *bound, int *lp_solves)
{
    branch_search b = {.root = root, .params = params};
    b.order = largest_first(root->problem, BRANCH_DEPTH);
    int rc = b.order == NULL ? CDNOPT_ENOMEM : basis_save(&b.root_basis, root->lp);
    size_t depth = root->problem->releases->n < BRANCH_DEPTH ? root->problem->releases->n
                                                              : BRANCH_DEPTH;
    branch_node start = {.bound = *bound, .depth = 0, .solved = true};
    if (rc == 0)
        rc = push_node(&b, &start);

    while (rc == 0 && b.n_open > 0 && cdnopt_clock_s() < deadline) {
        branch_node *low = &b.open[lowest_open(&b)];
        if ((size_t)low->depth >= depth || (incumbent - low->bound) / incumbent <= params->mip_gap)
            break;
        if (!low->solved) {
            /* Finish the lowest node's LP before branching on it: its bound may be
             * far below its LP value. */
            double value = solve_node(&b, low, incumbent,
                                      fmin(deadline, cdnopt_clock_s() + 4 * NODE_SECONDS));
            if (root->lp == NULL)
                break;
            low->solved = true; /* one retry only: a second would stop at the same place */
            low->bound = isnan(value) ? low->bound : fmax(low->bound, value);
            if (low->bound >= incumbent)
                b.open[low - b.open] = b.open[--b.n_open];
            continue;
        }
        rc = expand_lowest(&b, incumbent, deadline);
        if (rc == 1) {
            rc = 0;
            break;
        }
    }

    /* With no open node left, no schedule beats the incumbent: it is the bound. */
    if (rc == 0)
        *bound = fmax(*bound, b.n_open > 0 ? b.open[lowest_open(&b)].bound : incumbent);
    *lp_solves = b.lp_solves;
    cdnopt_free(b.open);
    cdnopt_free(b.order);
    basis_free(&b.root_basis);
    return rc;
}

/* ------------------------------------------------------------------------- */
/* Entry point                                                               */
/* ------------------------------------------------------------------------- */

/* What the exact planner found, for the result's method text. */
typedef struct exact_outcome {
    double lp_bound; /* NaN when the root LP did not finish in time */
    bool rounded;    /* the LP rounding beat greedy */
    int rounds, improved;
    int lp_solves;   /* LPs solved while branching on the largest releases */
    double root_lp;  /* the root LP value, before branching */
    bool proved;
    size_t ruin_rounds; /* ruin-and-recreate rounds */
    bool lp_skipped;    /* the root program was too large for the time left */
    program_size size;  /* of the root program, counted before building it */
    double lp_budget_s; /* time the root LP could have had, s */
    double lp_estimate_s; /* estimated time of the root LP, s */
} exact_outcome;

/* Root LP over every release: the bound, and a rounded schedule when it beats choice. */
static int root_lp(const plan_problem *problem, const cdnopt_plan_params *params,
                   double lp_deadline, double deadline, size_t *choice, exact_outcome *outcome)
{
    size_t n_releases = problem->releases->n;
    size_t *all = cdnopt_malloc(n_releases * sizeof *all);
    size_t *rounded = cdnopt_malloc(n_releases * sizeof *rounded);
    double *total = cdnopt_malloc(problem->n * sizeof *total);
    milp m = {.problem = problem, .subset = all, .n_subset = n_releases,
              .background = problem->baseline->v, .warm = choice};
    int rc = all == NULL || rounded == NULL || total == NULL ? CDNOPT_ENOMEM : 0;
    for (size_t i = 0; rc == 0 && i < n_releases; i++)
        all[i] = i;
    double built_started = cdnopt_clock_s();
    if (rc == 0)
        rc = build(&m);

    double lp_started = cdnopt_clock_s();
    bool solved = rc == 0 && solve_lp(&m, params, lp_deadline);
    CDNOPT_LOG_DEBUG(EXACT_LOG, "root program built_s=%.3f lp_s=%.3f solved=%s",
                     lp_started - built_started, cdnopt_clock_s() - lp_started,
                     solved ? "yes" : "no");
    if (solved) {
        outcome->lp_bound = outcome->root_lp = glp_get_obj_val(m.lp);
        memcpy(rounded, choice, n_releases * sizeof *rounded);
        read_choice(&m, false, rounded);
        rc = plan_local_search_until(problem, CDNOPT_OBJECTIVE_PEAK,
                                     params->local_search_passes, deadline, rounded);
        if (rc == 0 && total_of_choice(problem, rounded, total) <
                           total_of_choice(problem, choice, total)) {
            memcpy(choice, rounded, n_releases * sizeof *choice);
            outcome->rounded = true;
        }

        /* Spend up to BRANCH_SHARE of the time left on raising the bound. */
        double branch_deadline = cdnopt_clock_s() + BRANCH_SHARE * (deadline - cdnopt_clock_s());
        if (rc == 0)
            rc = branch_bound(&m, params, total_of_choice(problem, choice, total),
                              branch_deadline, &outcome->lp_bound, &outcome->lp_solves);
    }
    milp_free(&m);
    cdnopt_free(all);
    cdnopt_free(rounded);
    cdnopt_free(total);
    return rc;
}

/* Ruin and recreate until deadline, or until patience rounds (0: no limit) bring no
 * lower peak, down to the weak lower bound at most. */
static int improve_without_lp(const plan_problem *problem, double deadline, size_t patience,
                              cdnopt_rng *rng, size_t *choice, exact_outcome *outcome)
{
    plan_ruin_params params = {
        .deadline = deadline,
        .stop_peak = cdnopt_lower_bound_gbps(problem->baseline, problem->releases),
        .patience = patience,
    };
    plan_ruin_stats stats;
    int rc = plan_ruin_recreate(problem, &params, rng, choice, &stats);
    outcome->ruin_rounds += stats.rounds;
    return rc;
}

/* Count the root program and decide whether its LP may run. It is skipped when the
 * LP's estimated time exceeds the time it may take, because then building the program
 * costs memory and time that the LP cannot repay before the deadline. */
static int decide_root_lp(const plan_problem *problem, double deadline, exact_outcome *outcome)
{
    double now = cdnopt_clock_s();
    outcome->lp_budget_s = now < deadline ? ROOT_LP_SHARE * (deadline - now) : 0.0;
    int rc = count_program(problem, &outcome->size);
    if (rc != 0)
        return rc;
    double nonzeros = (double)outcome->size.nonzeros;
    outcome->lp_estimate_s = LP_SECONDS_PER_NONZERO_SQUARED * nonzeros * nonzeros;
    outcome->lp_skipped = outcome->lp_estimate_s > outcome->lp_budget_s;
    CDNOPT_LOG_DEBUG(EXACT_LOG,
                     "root program rows=%zu cols=%zu nonzeros=%zu lp_estimate_s=%.3f "
                     "lp_budget_s=%.3f count_s=%.3f skipped=%s",
                     outcome->size.rows, outcome->size.cols, outcome->size.nonzeros,
                     outcome->lp_estimate_s, outcome->lp_budget_s, cdnopt_clock_s() - now,
                     outcome->lp_skipped ? "yes" : "no");
    return 0;
}

static void describe(cdnopt_plan_result *out, const cdnopt_plan_params *params,
                     const exact_outcome *outcome)
{
    if (outcome->lp_skipped) {
        snprintf(out->method, sizeof out->method,
                 "greedy schedule and %zu ruin-and-recreate rounds: the LP relaxation was "
                 "skipped because the whole-hour program (%zu rows, %zu columns, %zu nonzeros) "
                 "needs about %.0f s, more than the %.1f s it could have had",
                 outcome->ruin_rounds, outcome->size.rows, outcome->size.cols,
                 outcome->size.nonzeros, outcome->lp_estimate_s, outcome->lp_budget_s);
        return;
    }
    if (isnan(outcome->lp_bound)) {
        snprintf(out->method, sizeof out->method,
                 "greedy schedule and %zu ruin-and-recreate rounds: the LP relaxation of the "
                 "whole-hour program did not finish within its share of the time limit",
                 outcome->ruin_rounds);
        return;
    }
    snprintf(out->method, sizeof out->method,
             "whole-hour MILP (GLPK): root LP %.3f, raised by %d LPs branching on the largest "
             "releases; start from %s; %zu ruin-and-recreate rounds, %d neighbourhood programs "
             "of up to %d releases (%d improved)%s%s",
             outcome->root_lp, outcome->lp_solves,
             outcome->rounded ? "rounded LP + local search" : "greedy", outcome->ruin_rounds,
             outcome->rounds, LNS_RELEASES, outcome->improved, outcome->proved ? ", optimal" : "",
             params->objective == CDNOPT_OBJECTIVE_P95
                 ? "; p95 not exact: lower of greedy p95 and p95 search on the peak schedule"
                 : "");
}

/* Return the LP bound, lowered to the peak when it exceeds it by rounding only, so that a
 * schedule at the bound has a gap of 0 and not -0.00 %. A larger excess is returned as it
 * is, so that a negative gap shows that the LP was no lower bound. */
static double bound_at_most_peak(double lp_bound, double peak_gbps)
{
    if (lp_bound > peak_gbps && lp_bound - peak_gbps <= BOUND_ROUNDING * lp_bound)
        return peak_gbps;
    return lp_bound;
}

int cdnopt_plan_exact(const cdnopt_series *baseline, const cdnopt_release_set *releases,
                      const cdnopt_rules *rules, const cdnopt_plan_params *params,
                      cdnopt_plan_result *out, char *err)
{
    memset(out, 0, sizeof *out);
    double started = cdnopt_clock_s(), deadline = started + params->time_limit_s;
    if (params->start_step_s != 3600)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "the exact planner searches whole-hour delays only; set the start "
                           "step to 3600 s (got %lld s)",
                           (long long)params->start_step_s);

    plan_problem problem;
    int rc = plan_problem_init(&problem, baseline, releases, rules, 3600, err);
    if (rc != 0)
        return rc;
    size_t *choice = cdnopt_calloc(releases->n > 0 ? releases->n : 1, sizeof *choice);
    /* Greedy's own p95 schedule. The p95 local search on the peak schedule does not
     * always reach it, and exact must not end above greedy on either objective. */
    size_t *p95_choice = params->objective == CDNOPT_OBJECTIVE_P95
                             ? cdnopt_calloc(releases->n > 0 ? releases->n : 1, sizeof *choice)
                             : NULL;
    if (choice == NULL || (params->objective == CDNOPT_OBJECTIVE_P95 && p95_choice == NULL)) {
        cdnopt_free(choice);
        cdnopt_free(p95_choice);
        plan_problem_free(&problem);
        return cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory");
    }

    /* Greedy for the peak, improved by ruin and recreate, then the root LP and its
     * rounding, then neighbourhoods. Without an LP, ruin and recreate runs to the end. */
    exact_outcome outcome = {.lp_bound = NAN};
    cdnopt_rng rng;
    cdnopt_rng_seed(&rng, 1);
    double early_deadline = started + EARLY_SHARE * params->time_limit_s;

    /* Greedy may use the whole limit, because exact must not end above the schedule it
     * starts from. Cut at the early share, greedy's local search left 10,000 releases
     * at 1166.8 Gbit/s with a 1 s limit, above the 1156.7 of greedy run alone. */
    rc = plan_greedy_choose_until(&problem, CDNOPT_OBJECTIVE_PEAK, params->local_search_passes,
                                  deadline, choice);
    if (rc == 0 && p95_choice != NULL)
        rc = plan_greedy_choose_until(&problem, CDNOPT_OBJECTIVE_P95,
                                      params->local_search_passes, deadline, p95_choice);
    if (rc == 0)
        rc = improve_without_lp(&problem, early_deadline, RUIN_PATIENCE, &rng, choice, &outcome);
    if (rc == 0)
        rc = decide_root_lp(&problem, deadline, &outcome);
    if (rc == 0 && !outcome.lp_skipped) {
        double lp_deadline = cdnopt_clock_s() + outcome.lp_budget_s;
        rc = root_lp(&problem, params, lp_deadline, deadline, choice, &outcome);
    }
    if (rc == 0 && !isnan(outcome.lp_bound)) {
        lns state = {.problem = &problem, .params = params, .choice = choice, .rng = &rng};
        rc = run_lns(&state, outcome.lp_bound, deadline);
        outcome.rounds = state.rounds;
        outcome.improved = state.improved;
        outcome.proved = state.proved;
        outcome.ruin_rounds += state.ruin_rounds;
    } else if (rc == 0) {
        rc = improve_without_lp(&problem, deadline, 0, &rng, choice, &outcome);
    }

    /* The program minimises the peak; for p95 the greedy local search takes over. It
     * may run past the deadline by P95_SHARE of the time limit. */
    if (rc == 0 && params->objective == CDNOPT_OBJECTIVE_P95)
        rc = plan_local_search_until(&problem, CDNOPT_OBJECTIVE_P95, params->local_search_passes,
                                     fmax(deadline, cdnopt_clock_s()) +
                                         P95_SHARE * params->time_limit_s,
                                     choice);
    if (rc == 0 && p95_choice != NULL)
        rc = keep_lower_p95(&problem, p95_choice, choice);
    cdnopt_free(p95_choice);
    rc = plan_conclude(&problem, choice, rc, "exact", out, err);
    if (rc != 0)
        return rc;

    out->solve_s = cdnopt_clock_s() - started;
    out->lp_bound_gbps = bound_at_most_peak(outcome.lp_bound, out->planned.peak_gbps);
    out->gap = (out->planned.peak_gbps - out->lp_bound_gbps) / out->planned.peak_gbps;
    out->optimal = params->objective == CDNOPT_OBJECTIVE_PEAK &&
                   (outcome.proved || out->gap <= params->mip_gap);
    describe(out, params, &outcome);
    return 0;
}
