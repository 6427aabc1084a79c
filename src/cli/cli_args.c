/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Flag parsing for the subcommands: number, duration and string flags checked
 * against their accepted ranges, and help text generated from the same table.
 */
#include "cli_args.h"

#include "cdnopt/core.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int cdnopt_cli_parse_int(const char *flag, const char *text, long min, long max, long *out,
                         char *err)
{
    errno = 0;
    char *end = NULL;
    long value = strtol(text, &end, 10);
    if (end == text || *end != '\0' || errno == ERANGE)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "invalid value '%s' for %s: expected a whole number from %ld to %ld",
                           text, flag, min, max);
    if (value < min || value > max)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "value %ld for %s is out of range: use a whole number from %ld to %ld",
                           value, flag, min, max);
    *out = value;
    return CDNOPT_OK;
}

int cdnopt_cli_parse_double(const char *flag, const char *text, double min, double max,
                            double *out, char *err)
{
    errno = 0;
    char *end = NULL;
    double value = strtod(text, &end);
    if (end == text || *end != '\0' || errno == ERANGE || !isfinite(value))
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "invalid value '%s' for %s: expected a number from %g to %g", text,
                           flag, min, max);
    if (value < min || value > max)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "value %s for %s is out of range: use a number from %g to %g", text,
                           flag, min, max);
    *out = value;
    return CDNOPT_OK;
}

int cdnopt_cli_parse_duration(const char *flag, const char *text, int64_t min_s, int64_t max_s,
                              int64_t *out_s, char *err)
{
    int64_t value = 0;
    char reason[CDNOPT_ERRMSG_MAX];
    if (cdnopt_duration_parse(text, &value, reason) != CDNOPT_OK)
        return cdnopt_fail(err, CDNOPT_EINVAL, "%s: %s", flag, reason);

    if (value < min_s || value > max_s) {
        char lo[32], hi[32];
        cdnopt_duration_format(min_s, lo, sizeof lo);
        cdnopt_duration_format(max_s, hi, sizeof hi);
        /* A bare number parses as seconds, which surprises when minutes were meant. */
        bool bare = text[0] != '\0' && isdigit((unsigned char)text[strlen(text) - 1]);
        const char *note = bare ? " (a number without a unit counts as seconds)" : "";
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "duration '%s'%s for %s is out of range: use %s to %s", text, note,
                           flag, lo, hi);
    }
    *out_s = value;
    return CDNOPT_OK;
}

int cdnopt_cli_report_error(const char *command, int rc, const char *err)
{
    fprintf(stderr, "cdnopt %s: %s\n", command, err != NULL && err[0] != '\0' ? err
                                                                        : cdnopt_strerror(rc));
    return rc == CDNOPT_EINVAL ? 2 : 1;
}

/* Write the folder of path to buf: everything before the last '/', or "." for a bare
 * name. */
static void folder_of(const char *path, char *buf, size_t size)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        snprintf(buf, size, ".");
    else if (slash == path)
        snprintf(buf, size, "/");
    else
        snprintf(buf, size, "%.*s", (int)(slash - path), path);
}

int cdnopt_cli_check_output(const char *flag, const char *path, char *err)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return cdnopt_fail(err, CDNOPT_EINVAL, "%s '%s' is a folder; give a file name", flag,
                           path);

    char folder[4096];
    folder_of(path, folder, sizeof folder);

    if (stat(folder, &st) != 0 || !S_ISDIR(st.st_mode))
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "%s '%s': folder '%s' does not exist; create it or choose another "
                           "path", flag, path, folder);
    if (access(folder, W_OK | X_OK) != 0)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "%s '%s': folder '%s' is not writable; choose another path", flag,
                           path, folder);
    return CDNOPT_OK;
}

cdnopt_cli_option *cdnopt_cli_find(cdnopt_cli_option *opts, size_t n_opts, const char *name)
{
    for (size_t i = 0; i < n_opts; i++) {
        if (strcmp(opts[i].name, name) == 0)
            return &opts[i];
    }
    return NULL;
}

/* Store text into the option's target according to its kind. */
static int set_value(cdnopt_cli_option *opt, const char *text, char *err)
{
    switch (opt->kind) {
    case CDNOPT_CLI_STRING:
        *(const char **)opt->target = text;
        return CDNOPT_OK;
    case CDNOPT_CLI_INT:
        return cdnopt_cli_parse_int(opt->name, text, (long)opt->min, (long)opt->max,
                                    (long *)opt->target, err);
    case CDNOPT_CLI_DOUBLE:
        return cdnopt_cli_parse_double(opt->name, text, opt->min, opt->max,
                                       (double *)opt->target, err);
    case CDNOPT_CLI_DURATION:
        return cdnopt_cli_parse_duration(opt->name, text, (int64_t)opt->min, (int64_t)opt->max,
                                         (int64_t *)opt->target, err);
    case CDNOPT_CLI_FLAG:
        *(bool *)opt->target = true;
        return CDNOPT_OK;
    case CDNOPT_CLI_OUTPUT: {
        int rc = cdnopt_cli_check_output(opt->name, text, err);
        if (rc == CDNOPT_OK)
            *(const char **)opt->target = text;
        return rc;
    }
    }
    return cdnopt_fail(err, CDNOPT_EINVAL, "flag %s has an unknown kind", opt->name);
}

static int check_required(const cdnopt_cli_option *opts, size_t n_opts, char *err)
{
    for (size_t i = 0; i < n_opts; i++) {
        if (opts[i].required && !opts[i].seen)
            return cdnopt_fail(err, CDNOPT_EINVAL, "missing required flag %s %s; run with --help",
                               opts[i].name, opts[i].metavar != NULL ? opts[i].metavar : "");
    }
    return CDNOPT_OK;
}

/* Whether the folder part of path is the folder dir, compared by device and inode. */
static bool path_in_folder(const char *path, const char *dir)
{
    char folder[4096];
    folder_of(path, folder, sizeof folder);
    struct stat a, b;
    return stat(folder, &a) == 0 && stat(dir, &b) == 0 && a.st_dev == b.st_dev &&
           a.st_ino == b.st_ino;
}

int cdnopt_cli_check_output_not_in_series_dir(const char *flag, const char *out_path,
                                              const char *dir, char *err)
{
    size_t len = strlen(out_path);
    if (len > 4 && strcmp(out_path + len - 4, ".csv") == 0 && path_in_folder(out_path, dir))
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "%s '%s' lies in --series-dir %s, where it would replace a series "
                           "or be read as one on the next run; write the output outside that "
                           "folder",
                           flag, out_path, dir);

    /* A link elsewhere can still name a series file. */
    struct stat out;
    DIR *folder = stat(out_path, &out) == 0 ? opendir(dir) : NULL;
    if (folder == NULL)
        return CDNOPT_OK; // a new file, or a folder the series reader reports on

    int rc = CDNOPT_OK;
    struct dirent *entry;
    while (rc == CDNOPT_OK && (entry = readdir(folder)) != NULL) {
        size_t n = strlen(entry->d_name);
        if (n <= 4 || strcmp(entry->d_name + n - 4, ".csv") != 0)
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, entry->d_name);
        struct stat st;
        if (stat(path, &st) == 0 && st.st_dev == out.st_dev && st.st_ino == out.st_ino)
            rc = cdnopt_fail(err, CDNOPT_EINVAL,
                             "%s '%s' is the series file '%s' of --series-dir %s; write the "
                             "output outside that folder so that the series is kept",
                             flag, out_path, path, dir);
    }
    closedir(folder);
    return rc;
}

const char *cdnopt_cli_first_seen(const cdnopt_cli_option *opts, size_t n_opts,
                                  const char *const *names, size_t n_names)
{
    for (size_t i = 0; i < n_names; i++) {
        for (size_t j = 0; j < n_opts; j++)
            if (opts[j].seen && strcmp(opts[j].name, names[i]) == 0)
                return names[i];
    }
    return NULL;
}

bool cdnopt_cli_set_log_flag(const char *name)
{
    if (strcmp(name, "-q") == 0 || strcmp(name, "--quiet") == 0) {
        cdnopt_log_set_level(CDNOPT_LOG_LEVEL_ERROR);
        return true;
    }
    if (strcmp(name, "-v") == 0 || strcmp(name, "--verbose") == 0) {
        cdnopt_log_set_level(CDNOPT_LOG_LEVEL_DEBUG);
        return true;
    }
    return false;
}

/* Whether two output paths name the same file. A file that exists is compared by device
 * and inode. Two files that do not exist yet are the same when they have the same name in
 * the same folder, so that "m.h5" and "./m.h5" collide before either is written. */
static bool same_output_file(const char *a, const char *b)
{
    struct stat sa, sb;
    bool a_exists = stat(a, &sa) == 0;
    bool b_exists = stat(b, &sb) == 0;
    if (a_exists || b_exists)
        return a_exists && b_exists && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;

    const char *a_name = strrchr(a, '/');
    const char *b_name = strrchr(b, '/');
    a_name = a_name != NULL ? a_name + 1 : a;
    b_name = b_name != NULL ? b_name + 1 : b;
    char b_folder[4096];
    folder_of(b, b_folder, sizeof b_folder);
    return strcmp(a_name, b_name) == 0 && path_in_folder(a, b_folder);
}

/* Whether output flag out may name the file of input flag in. Resuming reads the whole
 * checkpoint before training writes the next one, so --checkpoint may name the --resume
 * file, as its default path (--out + .ckpt) often does. */
static bool may_rewrite(const char *out, const char *in)
{
    return strcmp(out, "--checkpoint") == 0 && strcmp(in, "--resume") == 0;
}

/* Reject an output file that is also the file of another flag: writing it would
 * destroy an input (or another output) before or while it is read. */
static int check_outputs_distinct(const cdnopt_cli_option *opts, size_t n_opts, char *err)
{
    for (size_t i = 0; i < n_opts; i++) {
        if (opts[i].kind != CDNOPT_CLI_OUTPUT || !opts[i].seen)
            continue;
        const char *out_path = *(const char *const *)opts[i].target;
        if (out_path == NULL)
            continue;

        for (size_t j = 0; j < n_opts; j++) {
            if (j == i || !opts[j].seen || opts[j].kind != CDNOPT_CLI_OUTPUT)
                continue;
            const char *other = *(const char *const *)opts[j].target;
            if (other != NULL && same_output_file(out_path, other))
                return cdnopt_fail(err, CDNOPT_EINVAL,
                                   "%s '%s' is the same file as %s '%s', so one output would "
                                   "replace the other; give them different paths",
                                   opts[i].name, out_path, opts[j].name, other);
        }

        /* An input is read from an existing file, so only those are compared. Other string
         * flags (names, modes) match no file and are skipped by the stat. */
        struct stat out;
        if (stat(out_path, &out) != 0)
            continue;
        for (size_t j = 0; j < n_opts; j++) {
            if (!opts[j].seen || opts[j].kind != CDNOPT_CLI_STRING)
                continue;
            if (may_rewrite(opts[i].name, opts[j].name))
                continue;
            const char *other = *(const char *const *)opts[j].target;
            struct stat st;
            if (other == NULL || stat(other, &st) != 0)
                continue;
            if (st.st_dev == out.st_dev && st.st_ino == out.st_ino)
                return cdnopt_fail(err, CDNOPT_EINVAL,
                                   "%s '%s' is the same file as %s '%s'; write the output to "
                                   "another path so that the file is kept",
                                   opts[i].name, out_path, opts[j].name, other);
        }
    }
    return CDNOPT_OK;
}

int cdnopt_cli_parse(int argc, char **argv, cdnopt_cli_option *opts, size_t n_opts, char *err)
{
    for (size_t i = 0; i < n_opts; i++)
        opts[i].seen = false;

    for (int arg = 1; arg < argc; arg++) {
        const char *name = argv[arg];
        if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0)
            return CDNOPT_CLI_HELP;
        if (cdnopt_cli_set_log_flag(name))
            continue;

        cdnopt_cli_option *opt = cdnopt_cli_find(opts, n_opts, name);
        if (opt == NULL)
            return cdnopt_fail(err, CDNOPT_EINVAL, "unknown flag '%s'; run with --help for the list",
                               name);
        if (opt->seen)
            return cdnopt_fail(err, CDNOPT_EINVAL, "flag %s is given more than once; give it once",
                               name);
        opt->seen = true;
        if (opt->kind == CDNOPT_CLI_FLAG) {
            *(bool *)opt->target = true;
            continue;
        }

        /* A value that starts with "--" is almost always the next flag, not a value. */
        if (arg + 1 >= argc || strncmp(argv[arg + 1], "--", 2) == 0)
            return cdnopt_fail(err, CDNOPT_EINVAL, "missing value for %s: expected %s", name,
                               opt->metavar != NULL ? opt->metavar : "a value");
        int rc = set_value(opt, argv[++arg], err);
        if (rc != CDNOPT_OK)
            return rc;
    }

    int rc = check_required(opts, n_opts, err);
    if (rc != CDNOPT_OK)
        return rc;
    return check_outputs_distinct(opts, n_opts, err);
}

int cdnopt_cli_parse_command(const char *command, const char *synopsis, const char *description,
                             int argc, char **argv, cdnopt_cli_option *opts, size_t n_opts)
{
    char err[CDNOPT_ERRMSG_MAX] = "";
    int rc = cdnopt_cli_parse(argc, argv, opts, n_opts, err);
    if (rc == CDNOPT_CLI_HELP) {
        cdnopt_cli_print_help(stdout, synopsis, description, opts, n_opts);
        return 0;
    }
    if (rc != CDNOPT_OK)
        return cdnopt_cli_report_error(command, rc, err);
    return CDNOPT_CLI_CONTINUE;
}

/* Write the target's current value, which is the default before parsing. */
static void format_default(const cdnopt_cli_option *opt, char *buf, size_t size)
{
    switch (opt->kind) {
    case CDNOPT_CLI_STRING:
    case CDNOPT_CLI_OUTPUT: {
        const char *text = *(const char *const *)opt->target;
        snprintf(buf, size, "%s", text != NULL ? text : "");
        return;
    }
    case CDNOPT_CLI_INT:
        snprintf(buf, size, "%ld", *(const long *)opt->target);
        return;
    case CDNOPT_CLI_DOUBLE:
        snprintf(buf, size, "%g", *(const double *)opt->target);
        return;
    case CDNOPT_CLI_DURATION:
        cdnopt_duration_format(*(const int64_t *)opt->target, buf, size);
        return;
    case CDNOPT_CLI_FLAG:
        buf[0] = '\0';
        return;
    }
    buf[0] = '\0';
}

void cdnopt_cli_print_help(FILE *out, const char *synopsis, const char *description,
                           const cdnopt_cli_option *opts, size_t n_opts)
{
    fprintf(out, "usage: cdnopt %s\n\n%s\n\noptions:\n", synopsis, description);
    for (size_t i = 0; i < n_opts; i++) {
        char left[64];
        snprintf(left, sizeof left, "%s %s", opts[i].name,
                 opts[i].metavar != NULL ? opts[i].metavar : "");
        char value[64];
        format_default(&opts[i], value, sizeof value);

        fprintf(out, "  %-22s %s", left, opts[i].help);
        if (opts[i].required)
            fprintf(out, " (required)");
        else if (value[0] != '\0')
            fprintf(out, " (default %s)", value);
        fputc('\n', out);
    }
    fprintf(out, "  %-22s %s\n", "-q, --quiet", "log errors only");
    fprintf(out, "  %-22s %s\n", "-v, --verbose", "log debug records too");
    fprintf(out, "  %-22s %s\n", "-h, --help", "print this help and exit");
}
