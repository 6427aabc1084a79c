/* SPDX-License-Identifier: Apache-2.0 */
#include "commands.h"

#include <cblas.h>
#include <stdio.h>

int cdnopt_cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("cdnopt 0.1.0\nblas: %s\n", openblas_get_config());
    return CDNOPT_EXIT_OK;
}
