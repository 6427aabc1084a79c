/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target of the releases file reader, cdnopt_release_set_read_csv(). The input is
 * the file. A set the reader accepts is written back with cdnopt_release_set_write_csv()
 * and read again, and both reads must agree field by field.
 */
#include "cdnopt/release.h"
#include "fuzz_file.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool same_release(const cdnopt_release *a, const cdnopt_release *b)
{
    return strcmp(a->id, b->id) == 0 && a->size_mb == b->size_mb && a->users == b->users &&
           a->planned_at == b->planned_at && a->has_latest == b->has_latest &&
           (!a->has_latest || a->latest_start_at == b->latest_start_at);
}

static void check_round_trip(const cdnopt_release_set *set)
{
    const char *copy_path = fuzz_file_second();
    char err[CDNOPT_ERRMSG_MAX];
    cdnopt_release_set *copy = NULL;
    if (cdnopt_release_set_write_csv(copy_path, set, err) != 0 ||
        cdnopt_release_set_read_csv(copy_path, &copy, err) != 0) {
        fprintf(stderr, "written releases do not read back: %s\n", err);
        abort();
    }
    if (copy->n != set->n) {
        fprintf(stderr, "read %zu releases, read back %zu\n", set->n, copy->n);
        abort();
    }
    for (size_t i = 0; i < set->n; i++) {
        if (!same_release(&set->items[i], &copy->items[i])) {
            fprintf(stderr, "release %zu '%s' changed on the way back\n", i, set->items[i].id);
            abort();
        }
    }
    cdnopt_release_set_free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file_write(data, size);
    cdnopt_release_set *set = NULL;
    char err[CDNOPT_ERRMSG_MAX];
    if (cdnopt_release_set_read_csv(path, &set, err) == 0)
        check_round_trip(set);
    cdnopt_release_set_free(set);
    return 0;
}
