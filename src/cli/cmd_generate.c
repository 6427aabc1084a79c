/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cdnopt generate: write a synthetic month of CDN traffic (bandwidth.csv), the
 * releases whose download waves it contains and the releases still waiting to
 * ship on the following day (releases.csv), the pending ones alone (pending.csv),
 * and a README.txt describing them.
 * The same flags and seed always give the same files.
 */
#include "cli_args.h"
#include "commands.h"

#include "cdnopt/core.h"
#include "cdnopt/series.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char synopsis[] =
    "generate --out DIR [--days N] [--step DURATION] [--seed N] [--start TIME]\n"
    "       [--pending-releases K] [--mean-gbps GBPS] [--shipped-per-day RATE]";
static const char description[] =
    "Write synthetic CDN traffic to DIR/bandwidth.csv (timestamp,gbps in Gbit/s, local\n"
    "time), with daily and weekly seasonality, an evening peak, a trend, multiplicative\n"
    "noise and the download waves of the releases shipped during the period. Those\n"
    "releases and K pending ones, planned over the day after the last sample, go to\n"
    "DIR/releases.csv (id,size_mb,users,planned_at), and the pending ones alone to\n"
    "DIR/pending.csv, the file to plan. DIR is created if it is missing.";

static int make_folder(const char *dir, char *err)
{
    if (mkdir(dir, 0777) == 0)
        return CDNOPT_OK;
    int mkdir_errno = errno;
    struct stat info;
    if (mkdir_errno == EEXIST && stat(dir, &info) == 0 && !S_ISDIR(info.st_mode))
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "--out '%s' is a file; give a folder, which is created if it is "
                           "missing", dir);
    if (mkdir_errno == EEXIST)
        return CDNOPT_OK;
    return cdnopt_fail(err, CDNOPT_EIO, "cannot create folder %s: %s; check --out", dir,
                       strerror(mkdir_errno));
}

/* True when dir/README.txt starts as the README that generate writes. */
static bool written_by_generate(const char *dir)
{
    char path[4096], start[sizeof CDNOPT_GENERATED_README_START] = "";
    snprintf(path, sizeof path, "%s/README.txt", dir);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return false;
    size_t n = fread(start, 1, sizeof start - 1, f);
    fclose(f);
    start[n] = '\0';
    return strcmp(start, CDNOPT_GENERATED_README_START) == 0;
}

/*
 * Reject a folder that contains one of the files generate writes unless an earlier
 * generate run wrote them, so that measured traffic named bandwidth.csv is kept.
 */
static int check_folder_spare(const char *dir, char *err)
{
    static const char *const files[] = {"bandwidth.csv", "releases.csv", "pending.csv",
                                        "README.txt"};
    if (written_by_generate(dir))
        return CDNOPT_OK;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        if (access(path, F_OK) == 0)
            return cdnopt_fail(err, CDNOPT_EINVAL,
                               "--out folder '%s' already contains %s, which cdnopt generate did "
                               "not write (its README.txt is missing or differs); choose a new "
                               "or empty folder so that the file is kept",
                               dir, files[i]);
    }
    return CDNOPT_OK;
}

static double peak_gbps(const cdnopt_series *s)
{
    double peak = 0.0;
    for (size_t i = 0; i < s->n; i++)
        peak = s->v[i] > peak ? s->v[i] : peak;
    return peak;
}

static int run(const cdnopt_generate_params *params, const char *out_dir, char *err)
{
    int rc = make_folder(out_dir, err);
    if (rc == CDNOPT_OK)
        rc = check_folder_spare(out_dir, err);
    cdnopt_generated *g = NULL;
    if (rc == CDNOPT_OK)
        rc = cdnopt_generate(params, &g, err);
    if (rc == CDNOPT_OK)
        rc = cdnopt_generated_write(g, params, out_dir, err);
    if (rc == CDNOPT_OK)
        CDNOPT_LOG_INFO("generate",
                        "wrote dir=%s files=bandwidth.csv,releases.csv,pending.csv,README.txt samples=%zu "
                        "step_s=%lld peak_gbps=%.1f shipped=%zu pending=%zu seed=%llu",
                        out_dir, g->bandwidth->n, (long long)params->step_s,
                        peak_gbps(g->bandwidth), g->n_shipped, g->n_releases - g->n_shipped,
                        (unsigned long long)params->seed);
    cdnopt_generated_free(g);
    return rc;
}

int cdnopt_cmd_generate(int argc, char **argv)
{
    cdnopt_generate_params params = cdnopt_generate_params_default();
    const char *out_dir = NULL;
    char start_default[CDNOPT_CIVIL_TEXT_MAX];
    cdnopt_civil_format(params.start, start_default, sizeof start_default);
    const char *start = start_default;
    long days = params.days, seed = (long)params.seed, pending = (long)params.n_pending;
    int64_t step_s = params.step_s;
    cdnopt_cli_option opts[] = {
        {"--out", CDNOPT_CLI_STRING, &out_dir, 0, 0, "DIR",
         "folder for bandwidth.csv, releases.csv, pending.csv and README.txt", true, false},
        {"--days", CDNOPT_CLI_INT, &days, 1, 3660, "N", "length of the bandwidth series in days",
         false, false},
        {"--step", CDNOPT_CLI_DURATION, &step_s, 1, 3600, "DURATION",
         "grid step, a divisor of 1h such as 5m or 1h", false, false},
        {"--seed", CDNOPT_CLI_INT, &seed, 0, 9007199254740992.0, "N",
         "random seed; the same seed gives the same files", false, false},
        {"--start", CDNOPT_CLI_STRING, &start, 0, 0, "TIME",
         "first sample, local time \"YYYY-MM-DD HH:MM:SS\" on the step grid", false, false},
        {"--pending-releases", CDNOPT_CLI_INT, &pending, 0, 100000, "K",
         "releases planned over the day after the last sample", false, false},
        {"--mean-gbps", CDNOPT_CLI_DOUBLE, &params.mean_gbps, 1e-3, 1e7, "GBPS",
         "mean baseline level in Gbit/s before the trend", false, false},
        {"--shipped-per-day", CDNOPT_CLI_DOUBLE, &params.shipped_per_day, 0, 100, "RATE",
         "mean number of releases shipped per day inside the series", false, false},
    };
    size_t n_opts = sizeof opts / sizeof opts[0];

    char err[CDNOPT_ERRMSG_MAX] = "";
    int rc = cdnopt_cli_parse(argc, argv, opts, n_opts, err);
    if (rc == CDNOPT_CLI_HELP) {
        cdnopt_cli_print_help(stdout, synopsis, description, opts, n_opts);
        return CDNOPT_EXIT_OK;
    }
    if (rc == CDNOPT_OK && cdnopt_civil_parse(start, &params.start, err) != CDNOPT_OK)
        rc = cdnopt_fail(err, CDNOPT_EINVAL,
                         "invalid --start '%s': expected local time \"YYYY-MM-DD HH:MM:SS\"",
                         start);
    char step_text[32];
    cdnopt_duration_format(step_s, step_text, sizeof step_text);
    if (rc == CDNOPT_OK && 3600 % step_s != 0)
        rc = cdnopt_fail(err, CDNOPT_EINVAL,
                         "invalid --step %s: the step must divide 1h, for example 1m, 5m, 15m "
                         "or 1h",
                         step_text);
    if (rc == CDNOPT_OK && params.start % step_s != 0)
        rc = cdnopt_fail(err, CDNOPT_EINVAL,
                         "invalid --start '%s': it is not on the %s grid; use a time whose "
                         "minutes and seconds are a multiple of --step",
                         start, step_text);
    if (rc != CDNOPT_OK)
        return cdnopt_cli_report_error("generate", rc, err);

    params.days = (int)days;
    params.step_s = step_s;
    params.seed = (uint64_t)seed;
    params.n_pending = (size_t)pending;
    rc = run(&params, out_dir, err);
    if (rc != CDNOPT_OK)
        return cdnopt_cli_report_error("generate", rc, err);
    return CDNOPT_EXIT_OK;
}
