/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The counting allocator. It wraps the C library's allocator, keeps a count of
 * live blocks for leak checks, and can fail the Nth allocation so that tests can
 * drive every out-of-memory path. Counters are atomic, so worker threads may
 * allocate concurrently; reconfiguring injection is for single-threaded tests.
 */
#include "cdnopt/core.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static atomic_long live_blocks;
static atomic_long fail_countdown; /* 0: off; k: the kth allocation from now fails */
static atomic_bool fail_sticky;

static bool injected_failure(void)
{
    long left = atomic_load(&fail_countdown);
    if (left <= 0)
        return false;

    if (left == 1) {
        if (!atomic_load(&fail_sticky))
            atomic_store(&fail_countdown, 0);
        return true;
    }
    atomic_fetch_sub(&fail_countdown, 1);
    return false;
}

void *cdnopt_malloc(size_t n_bytes)
{
    if (injected_failure())
        return NULL;

    void *p = malloc(n_bytes == 0 ? 1 : n_bytes);
    if (p != NULL)
        atomic_fetch_add(&live_blocks, 1);
    return p;
}

void *cdnopt_calloc(size_t count, size_t size)
{
    if (injected_failure())
        return NULL;

    void *p = calloc(count == 0 ? 1 : count, size == 0 ? 1 : size);
    if (p != NULL)
        atomic_fetch_add(&live_blocks, 1);
    return p;
}

void *cdnopt_realloc(void *ptr, size_t n_bytes)
{
    if (ptr == NULL)
        return cdnopt_malloc(n_bytes);
    if (injected_failure())
        return NULL;

    return realloc(ptr, n_bytes == 0 ? 1 : n_bytes);
}

void cdnopt_free(void *ptr)
{
    if (ptr == NULL)
        return;

    atomic_fetch_sub(&live_blocks, 1);
    free(ptr);
}

char *cdnopt_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *copy = cdnopt_malloc(n);
    if (copy != NULL)
        memcpy(copy, s, n);
    return copy;
}

long cdnopt_alloc_live_blocks(void) { return atomic_load(&live_blocks); }

void cdnopt_alloc_fail_after(long n, bool sticky)
{
    atomic_store(&fail_sticky, sticky);
    atomic_store(&fail_countdown, n < 0 ? 0 : n);
}
