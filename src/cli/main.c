/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cdnopt's entry point: global flags (-v, -q), then dispatch to a subcommand.
 */
#include "cli_dist.h"
#include "commands.h"

#include "cdnopt/core.h"

#include <stdio.h>
#include <string.h>

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
#define CDNOPT_COMMAND_ENTRY_(name, function, summary) {name, function, summary},
    CDNOPT_COMMANDS(CDNOPT_COMMAND_ENTRY_)
#undef CDNOPT_COMMAND_ENTRY_
};

static void print_usage(FILE *out)
{
    fprintf(out, "usage: cdnopt [-v|-q] <command> [options]\n\n"
                 "Forecast CDN bandwidth and schedule software releases to cut peak and\n"
                 "95th-percentile bandwidth.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nglobal options (before or after the command):\n"
                 "  -v, --verbose  log debug records too\n"
                 "  -q, --quiet    log errors only\n"
                 "\n  -h, --help     print this help\n"
                 "  -V, --version  print the version and the libraries in use\n"
                 "\nRun 'cdnopt <command> --help' for the options of one command.\n");
}

int main(int argc, char **argv)
{
    int arg = 1;
    for (; arg < argc && argv[arg][0] == '-'; arg++) {
        if (strcmp(argv[arg], "-v") == 0 || strcmp(argv[arg], "--verbose") == 0) {
            cdnopt_log_set_level(CDNOPT_LOG_LEVEL_DEBUG);
        } else if (strcmp(argv[arg], "-q") == 0 || strcmp(argv[arg], "--quiet") == 0) {
            cdnopt_log_set_level(CDNOPT_LOG_LEVEL_ERROR);
        } else if (strcmp(argv[arg], "-h") == 0 || strcmp(argv[arg], "--help") == 0) {
            print_usage(stdout);
            return CDNOPT_EXIT_OK;
        } else if (strcmp(argv[arg], "-V") == 0 || strcmp(argv[arg], "--version") == 0) {
            /* The flag most tools take, as a short form of the version command. The
             * arguments after it go to the command, which rejects all but -q and -v. */
            char name[] = "version";
            argv[arg] = name;
            return cdnopt_cmd_version(argc - arg, argv + arg);
        } else {
            fprintf(stderr, "cdnopt: unknown option '%s'; run 'cdnopt --help'\n", argv[arg]);
            return CDNOPT_EXIT_USAGE;
        }
    }

    if (arg == argc) {
        print_usage(stderr);
        return CDNOPT_EXIT_USAGE;
    }

    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(argv[arg], commands[i].name) != 0)
            continue;
        /* MPI starts only under mpirun; a plain run makes no MPI call. */
        int status = cdnopt_cli_dist_start(&argc, &argv);
        if (status == CDNOPT_EXIT_OK)
            status = commands[i].run(argc - arg, argv + arg);
        return cdnopt_cli_dist_finish(status);
    }
    fprintf(stderr, "cdnopt: unknown command '%s'; run 'cdnopt --help' for the list\n",
            argv[arg]);
    return CDNOPT_EXIT_USAGE;
}
