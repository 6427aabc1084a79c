/* SPDX-License-Identifier: Apache-2.0 */
#include "cli_args.h"
#include "commands.h"

#include <cblas.h>
#include <stdio.h>
#include <string.h>

static const char version_usage[] = "usage: cdnopt version\n\n"
                                    "Print cdnopt's version and the BLAS build it runs on.\n";

int cdnopt_cmd_version(int argc, char **argv)
{
    for (int arg = 1; arg < argc; arg++) {
        if (strcmp(argv[arg], "-h") == 0 || strcmp(argv[arg], "--help") == 0) {
            fputs(version_usage, stdout);
            return CDNOPT_EXIT_OK;
        }
        /* -q and -v may follow the command name, as with every other command. */
        if (cdnopt_cli_set_log_flag(argv[arg]))
            continue;
        fprintf(stderr, "cdnopt version: invalid argument '%s'. The command takes no arguments\n%s",
                argv[arg], version_usage);
        return CDNOPT_EXIT_USAGE;
    }
    printf("cdnopt 0.1.0\nblas: %s\n", openblas_get_config());
    return CDNOPT_EXIT_OK;
}
