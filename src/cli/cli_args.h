/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Table-driven flag parsing shared by the subcommands. A command lists its flags in
 * an array of cdnopt_cli_option, with each target variable preset to its default.
 * cdnopt_cli_parse() fills the targets, and cdnopt_cli_print_help() prints every
 * flag with its current value as the default. Every error names the flag, the value and
 * the accepted range, so a user can fix the command line from the message alone.
 *
 * Usage:
 *     long epochs = 20;
 *     cdnopt_cli_option opts[] = {
 *         {"--epochs", CDNOPT_CLI_INT, &epochs, 1, 10000, "N", "maximum training epochs"},
 *     };
 *     char err[CDNOPT_ERRMSG_MAX];
 *     int rc = cdnopt_cli_parse(argc, argv, opts, 1, err);
 *
 * The global flags -q/--quiet and -v/--verbose are accepted among any command's flags
 * and set the log level, as they do before the command name.
 *
 * Limitations:
 * - Only the "--name value" form; "--name=value" and bundled short flags are rejected.
 * - Every flag may be given once; a repeated flag is an error, not "last one wins".
 */
#ifndef CDNOPT_CLI_ARGS_H
#define CDNOPT_CLI_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/** Kind of a flag's value, which also sets the type of the variable it writes. */
enum cdnopt_cli_kind {
    CDNOPT_CLI_STRING = 0,   /* const char *: borrowed from argv */
    CDNOPT_CLI_INT = 1,      /* long, within [min, max] */
    CDNOPT_CLI_DOUBLE = 2,   /* double, finite, within [min, max] */
    CDNOPT_CLI_DURATION = 3, /* int64_t seconds ("5m", "1h", "1d"), within [min, max] seconds */
    CDNOPT_CLI_FLAG = 4,     /* bool set to true; takes no value */
    CDNOPT_CLI_OUTPUT = 5,   /* const char *: a file to write, whose folder must exist and be
                                writable when the flags are parsed */
};

/** One accepted flag. */
typedef struct cdnopt_cli_option {
    const char *name;          /* "--epochs" */
    enum cdnopt_cli_kind kind; /* value type */
    void *target;              /* variable that receives the value; preset to its default */
    double min;                /* smallest accepted number (seconds for durations) */
    double max;                /* largest accepted number (seconds for durations) */
    const char *metavar;       /* placeholder in help ("N", "FILE", "DURATION") */
    const char *help;          /* what the flag sets, with its unit */
    bool required;             /* parse fails when the flag is absent */
    bool seen;                 /* OUT: set by cdnopt_cli_parse when the flag was given */
} cdnopt_cli_option;

/** Return value of cdnopt_cli_parse when --help or -h was given (not an error). */
#define CDNOPT_CLI_HELP 1

/**
 * Parse argv[1..argc-1] against opts. argv[0] is the subcommand name.
 * @param err CDNOPT_ERRMSG_MAX bytes; receives the reason on failure.
 * @return 0, CDNOPT_CLI_HELP when help was requested, or CDNOPT_EINVAL for an unknown
 *         or repeated flag, a missing or invalid value, a value out of range, an output
 *         file that cannot be created or that is the file of another flag, or a missing
 *         required flag.
 */
int cdnopt_cli_parse(int argc, char **argv, cdnopt_cli_option *opts, size_t n_opts, char *err);

/** Return value of cdnopt_cli_parse_command when the command should go on. */
#define CDNOPT_CLI_CONTINUE (-1)

/**
 * Parse a subcommand's flags, print the help on --help and the error on a bad flag.
 * @param command      subcommand name for error messages ("train")
 * @return CDNOPT_CLI_CONTINUE when the flags are valid, else the exit status to return
 *         (0 after the help, 2 after an error)
 */
int cdnopt_cli_parse_command(const char *command, const char *synopsis, const char *description,
                             int argc, char **argv, cdnopt_cli_option *opts, size_t n_opts);

/**
 * Print "usage: cdnopt <synopsis>", the description, then one line per flag with
 * its metavar, help text and default (the target's current value).
 */
void cdnopt_cli_print_help(FILE *out, const char *synopsis, const char *description,
                           const cdnopt_cli_option *opts, size_t n_opts);

/**
 * Parse a whole number for flag within [min, max].
 * @return 0 or CDNOPT_EINVAL with a message naming the flag, the text and the range.
 */
int cdnopt_cli_parse_int(const char *flag, const char *text, long min, long max, long *out,
                         char *err);

/** Parse a finite real number for flag within [min, max], with errors as cdnopt_cli_parse_int. */
int cdnopt_cli_parse_double(const char *flag, const char *text, double min, double max,
                            double *out, char *err);

/** Parse a duration ("30s", "5m", "1h", "1d") for flag within [min_s, max_s] seconds. */
int cdnopt_cli_parse_duration(const char *flag, const char *text, int64_t min_s, int64_t max_s,
                              int64_t *out_s, char *err);

/**
 * Print "cdnopt <command>: <err>" on stderr and return the exit status for rc:
 * 2 (usage) for CDNOPT_EINVAL, which a changed flag or input fixes, else 1.
 */
int cdnopt_cli_report_error(const char *command, int rc, const char *err);

/**
 * Check, before any work, that the file path can be created for flag: its folder
 * exists and is writable, and path is not itself a folder.
 * @return 0 or CDNOPT_EINVAL with a message naming the flag, the path and the folder.
 */
int cdnopt_cli_check_output(const char *flag, const char *path, char *err);

/**
 * Check that writing out_path, the file of flag, keeps the series files of
 * --series-dir dir, the .csv files that the commands read from it. A .csv path in dir
 * is rejected even when it is new, because the next run would read it as a series.
 * @return 0 or CDNOPT_EINVAL naming the flag, out_path and dir.
 */
int cdnopt_cli_check_output_not_in_series_dir(const char *flag, const char *out_path,
                                              const char *dir, char *err);

/**
 * Find the first of names that was given on the command line.
 * @return that name (one of names) or NULL when none of them was given
 */
const char *cdnopt_cli_first_seen(const cdnopt_cli_option *opts, size_t n_opts,
                                  const char *const *names, size_t n_names);

/**
 * Apply the global flag -q/--quiet or -v/--verbose given after the command name.
 * @return true when name was one of them and the log level was set, else false
 */
bool cdnopt_cli_set_log_flag(const char *name);

/** Find the option called name in opts; NULL when absent. */
cdnopt_cli_option *cdnopt_cli_find(cdnopt_cli_option *opts, size_t n_opts, const char *name);

#endif
