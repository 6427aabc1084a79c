/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Scratch files of the fuzz targets (see fuzz_file.h).
 */
#include "fuzz_file.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char first_path[4096];
static char second_path[4096];

static void remove_files(void)
{
    if (first_path[0] != '\0')
        unlink(first_path);
    if (second_path[0] != '\0')
        unlink(second_path);
}

/* Name both files after the process id so that parallel fuzzing jobs never share one. */
static void name_files(void)
{
    if (first_path[0] != '\0')
        return;
    const char *dir = getenv("TMPDIR");
    if (dir == NULL || dir[0] == '\0')
        dir = "/tmp";
    snprintf(first_path, sizeof first_path, "%s/cdnopt-fuzz-%ld.in", dir, (long)getpid());
    snprintf(second_path, sizeof second_path, "%s/cdnopt-fuzz-%ld.out", dir, (long)getpid());
    atexit(remove_files);
}

const char *fuzz_file_write(const uint8_t *data, size_t size)
{
    name_files();
    FILE *file = fopen(first_path, "wb");
    if (file == NULL || fwrite(data, 1, size, file) != size || fclose(file) != 0) {
        perror(first_path);
        abort();
    }
    return first_path;
}

const char *fuzz_file_second(void)
{
    name_files();
    return second_path;
}
