/* SPDX-License-Identifier: Apache-2.0 */
#include "commands.h"

#include <cblas.h>
#include <stdio.h>
#include <string.h>

static const char version_usage[] = "usage: cdnopt version\n\n"
                                    "Print cdnopt's version and the BLAS build it runs on.\n";

int cdnopt_cmd_version(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        fputs(version_usage, stdout);
        return CDNOPT_EXIT_OK;
    }
    if (argc > 1) {
        fprintf(stderr, "cdnopt version: invalid argument '%s'. The command takes no arguments\n%s", argv[1],
                version_usage);
        return CDNOPT_EXIT_USAGE;
    }
    printf("cdnopt 0.1.0\nblas: %s\n", openblas_get_config());
    return CDNOPT_EXIT_OK;
}
