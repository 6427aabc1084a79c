/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The process-wide MPI handle of the CLI and the multi-series runner behind
 * `forecast --series-dir` and `evaluate --series-dir`. Built with or without the MPI
 * module: CDNOPT_HAVE_DIST is defined when cdnopt_dist is linked.
 */
#include "cli_dist.h"

#include "commands.h"

#include "cdnopt/core.h"
#ifdef CDNOPT_HAVE_DIST
#include "cdnopt/dist.h"
#endif

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIST_LOG "dist"

#ifdef CDNOPT_HAVE_DIST
static cdnopt_dist *g_dist; /* NULL before start and after finish */
#endif

int cdnopt_cli_dist_start(int *argc, char ***argv)
{
#ifdef CDNOPT_HAVE_DIST
    char err[CDNOPT_ERRMSG_MAX] = "";
    int rc = cdnopt_dist_init(argc, argv, CDNOPT_DIST_INIT_AUTO, &g_dist, err);
    if (rc != CDNOPT_OK) {
        fprintf(stderr, "cdnopt: cannot start MPI: %s\n", err);
        return CDNOPT_EXIT_FAILURE;
    }
    if (cdnopt_dist_rank(g_dist) > 0 && cdnopt_log_get_level() == CDNOPT_LOG_LEVEL_INFO)
        cdnopt_log_set_level(CDNOPT_LOG_LEVEL_WARN);
#else
    (void)argc;
    (void)argv;
#endif
    return CDNOPT_EXIT_OK;
}

int cdnopt_cli_dist_finish(int status)
{
#ifdef CDNOPT_HAVE_DIST
    if (status != CDNOPT_EXIT_OK && g_dist != NULL && cdnopt_dist_size(g_dist) > 1) {
        char message[96];
        snprintf(message, sizeof message, "the command failed with exit status %d", status);
        cdnopt_dist_abort(g_dist, status, message);
    }
    cdnopt_dist_finalize(g_dist);
    g_dist = NULL;
#endif
    return status;
}

int cdnopt_cli_rank(void)
{
#ifdef CDNOPT_HAVE_DIST
    return g_dist != NULL ? cdnopt_dist_rank(g_dist) : 0;
#else
    return 0;
#endif
}

int cdnopt_cli_size(void)
{
#ifdef CDNOPT_HAVE_DIST
    return g_dist != NULL ? cdnopt_dist_size(g_dist) : 1;
#else
    return 1;
#endif
}

void cdnopt_cli_dist_explain(int rc, char *err)
{
#ifdef CDNOPT_HAVE_DIST
    if (rc != CDNOPT_EDIST || g_dist == NULL || cdnopt_dist_last_error(g_dist)[0] == '\0')
        return;
    size_t used = strlen(err);
    snprintf(err + used, CDNOPT_ERRMSG_MAX - used, " (%s)", cdnopt_dist_last_error(g_dist));
#else
    (void)rc;
    (void)err;
#endif
}

/* Set the fit hooks of m for the job's ranks; nothing for a single process. */
void cdnopt__cli_set_fit_hooks(cdnopt_model *m, bool continue_epochs)
{
    cdnopt_fit_hooks hooks = {.n_parts = 1, .continue_epochs = continue_epochs};
#ifdef CDNOPT_HAVE_DIST
    if (g_dist != NULL && cdnopt_dist_size(g_dist) > 1) {
        hooks = cdnopt_dist_fit_hooks(g_dist);
        hooks.continue_epochs = continue_epochs;
    }
#endif
    cdnopt_model_set_fit_hooks(m, &hooks);
}

void cdnopt__cli_set_rollout_hooks(cdnopt_agent *agent)
{
    cdnopt_rollout_hooks hooks = {.n_ranks = 1};
#ifdef CDNOPT_HAVE_DIST
    if (g_dist != NULL && cdnopt_dist_size(g_dist) > 1)
        hooks = cdnopt_dist_rollout_hooks(g_dist);
#endif
    cdnopt_agent_set_rollout_hooks(agent, &hooks);
}

/* Make all ranks agree on a result: CDNOPT_OK only when every rank had it. */
int cdnopt__cli_agree(int rc, char *err)
{
#ifdef CDNOPT_HAVE_DIST
    if (g_dist != NULL)
        return cdnopt_dist_agree(g_dist, rc, err);
#else
    (void)err;
#endif
    return rc;
}

/* ---- growable text buffers ---- */

int cdnopt_cli_buf_printf(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return CDNOPT_EINVAL;

    size_t need = *len + (size_t)n + 1;
    if (need > *cap) {
        size_t cap2 = *cap > 0 ? *cap : 4096;
        while (cap2 < need)
            cap2 *= 2;
        char *grown = cdnopt_realloc(*buf, cap2);
        if (grown == NULL)
            return CDNOPT_ENOMEM;
        *buf = grown;
        *cap = cap2;
    }
    va_start(ap, fmt);
    vsnprintf(*buf + *len, *cap - *len, fmt, ap);
    va_end(ap);
    *len += (size_t)n;
    return CDNOPT_OK;
}

uint64_t cdnopt_cli_series_seed(uint64_t seed, const char *name)
{
    /* FNV-1a over the name, then mixed with the seed by the splitmix64 finaliser. */
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++) {
        h ^= *p;
        h *= 1099511628211ull;
    }
    uint64_t z = h ^ (seed + 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (z ^ (z >> 31)) & 0x7fffffffull;
}

int cdnopt_cli_check_data_source(const cdnopt_cli_option *data_opt, const char *series_dir,
                                 char *err)
{
    bool have_data = data_opt != NULL && data_opt->seen;
    if (have_data == (series_dir != NULL))
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "%s: give either --data FILE (one series) or --series-dir DIR (one "
                           "CSV per series)", have_data ? "both --data and --series-dir given"
                                                        : "missing --data");
    return CDNOPT_OK;
}

/* ---- multi-series runs ---- */

typedef struct name_list {
    char **names;
    size_t n, cap;
} name_list;

void cdnopt_cli_names_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cdnopt_free(names[i]);
    cdnopt_free(names);
}

static int names_push(name_list *l, const char *name)
{
    if (l->n == l->cap) {
        size_t cap = l->cap > 0 ? 2 * l->cap : 64;
        char **grown = cdnopt_realloc(l->names, cap * sizeof *grown);
        if (grown == NULL)
            return CDNOPT_ENOMEM;
        l->names = grown;
        l->cap = cap;
    }
    l->names[l->n] = cdnopt_strdup(name);
    if (l->names[l->n] == NULL)
        return CDNOPT_ENOMEM;
    l->n++;
    return CDNOPT_OK;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int cdnopt_cli_list_csv(const char *dir, char ***names, size_t *n, char *err)
{
    *names = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (d == NULL)
        return cdnopt_fail(err, CDNOPT_EIO, "cannot open --series-dir %s: %s", dir,
                           strerror(errno));
    name_list list = {0};
    int rc = CDNOPT_OK;
    struct dirent *e;
    while (rc == CDNOPT_OK && (e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len > 4 && strcmp(e->d_name + len - 4, ".csv") == 0)
            rc = names_push(&list, e->d_name);
    }
    closedir(d);
    if (rc != CDNOPT_OK)
        rc = cdnopt_fail(err, rc, "out of memory listing %s", dir);
    else if (list.n == 0)
        rc = cdnopt_fail(err, CDNOPT_EINVAL,
                         "--series-dir %s has no .csv files; put one CSV per series there", dir);
    if (rc != CDNOPT_OK) {
        cdnopt_cli_names_free(list.names, list.n);
        return rc;
    }
    qsort(list.names, list.n, sizeof *list.names, compare_names);
    *names = list.names;
    *n = list.n;
    return CDNOPT_OK;
}

/* Read and process files [first, first + count) of the list into buf. */
static int run_share(const char *dir, char *const *names, size_t first, size_t count,
                     const cdnopt_cli_data_opts *d, cdnopt_cli_series_fn fn, void *user,
                     char **buf, size_t *len, size_t *cap, char *err)
{
    for (size_t i = first; i < first + count; i++) {
        char path[4096], name[1024];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        snprintf(name, sizeof name, "%.*s", (int)(strlen(names[i]) - 4), names[i]);

        cdnopt_cli_data_opts one = *d;
        one.data = path;
        cdnopt_series *s = NULL;
        int rc = cdnopt_cli_read_series(&one, &s, err);
        if (rc == CDNOPT_OK)
            rc = fn(name, i, s, user, buf, len, cap, err);
        cdnopt_series_free(s);
        if (rc != CDNOPT_OK)
            return rc;
    }
    return CDNOPT_OK;
}

static int write_text(const char *path, const char *header, const char *text, size_t len,
                      char *err)
{
    FILE *out = fopen(path, "w");
    if (out == NULL)
        return cdnopt_fail(err, CDNOPT_EIO, "cannot write %s: %s", path, strerror(errno));
    fputs(header, out);
    fwrite(text, 1, len, out);
    if (ferror(out) | fclose(out))
        return cdnopt_fail(err, CDNOPT_EIO, "failed to write %s: %s", path, strerror(errno));
    return CDNOPT_OK;
}

/* Join the ranks' rows on rank 0 (a copy without MPI). */
static int gather_rows(const char *rows, size_t len, char **all, size_t *all_len, char *err)
{
#ifdef CDNOPT_HAVE_DIST
    if (g_dist != NULL)
        return cdnopt_dist_gather_text(g_dist, rows, len, all, all_len, err);
#endif
    *all = cdnopt_malloc(len + 1);
    if (*all == NULL)
        return cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory joining %zu bytes of output", len);
    if (len > 0)
        memcpy(*all, rows, len);
    (*all)[len] = '\0';
    *all_len = len;
    return CDNOPT_OK;
}

int cdnopt_cli_series_dir_run(const char *dir, const cdnopt_cli_data_opts *d, const char *header,
                              cdnopt_cli_series_fn fn, void *user, const char *out_path,
                              char *err)
{
    char **names = NULL;
    size_t n_names = 0;
    int rc = cdnopt_cli_list_csv(dir, &names, &n_names, err);
    if (rc == CDNOPT_OK && out_path != NULL)
        rc = cdnopt_cli_check_output_not_in_series_dir("--out", out_path, dir, err);
    if (rc != CDNOPT_OK) {
        cdnopt_cli_names_free(names, n_names);
        return rc;
    }

    /* Contiguous runs keep the gathered rows in file order. */
    int rank = cdnopt_cli_rank(), size = cdnopt_cli_size();
    size_t base = n_names / (size_t)size, extra = n_names % (size_t)size;
    size_t r = (size_t)rank;
    size_t first = r * base + (r < extra ? r : extra);
    size_t count = base + (r < extra ? 1 : 0);
    double t0 = cdnopt_clock_s();

    char *rows = NULL;
    size_t len = 0, cap = 0;
    rc = run_share(dir, names, first, count, d, fn, user, &rows, &len, &cap, err);
    CDNOPT_LOG_DEBUG(DIST_LOG, "rank=%d series=%zu first=%zu seconds=%.3f", rank, count, first,
                     cdnopt_clock_s() - t0);

    /* A rank that failed stops the job in main; the others must not wait in the gather. */
    if (size > 1 && rc != CDNOPT_OK) {
        cdnopt_free(rows);
        cdnopt_cli_names_free(names, n_names);
        return rc;
    }

    char *all = NULL;
    size_t all_len = 0;
    if (rc == CDNOPT_OK)
        rc = gather_rows(rows != NULL ? rows : "", len, &all, &all_len, err);
    if (rc == CDNOPT_OK && rank == 0) {
        rc = write_text(out_path, header, all, all_len, err);
        if (rc == CDNOPT_OK)
            CDNOPT_LOG_INFO(DIST_LOG, "wrote file=%s series=%zu ranks=%d seconds=%.2f", out_path,
                            n_names, size, cdnopt_clock_s() - t0);
    }
    cdnopt_free(all);
    cdnopt_free(rows);
    cdnopt_cli_names_free(names, n_names);
    return rc;
}
