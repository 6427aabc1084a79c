/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Scratch arena for activations and temporaries. Allocation bumps a pointer in the
 * newest block; a request that does not fit opens a block at least twice the current
 * capacity. Reset merges the blocks into one, so that a training step of fixed shape
 * stops calling malloc after its first run.
 */
#include "nn-impl.h"

#include <stdint.h>
#include <string.h>

#define SCRATCH_ALIGN 64
#define SCRATCH_DEFAULT_BYTES ((size_t)1 << 20)

struct block {
    struct block *prev; /* older block, NULL for the first */
    size_t size;        /* usable bytes in data */
    size_t used;        /* bytes handed out from data */
    unsigned char *data; /* SCRATCH_ALIGN-aligned start inside the allocation */
};

struct cdnopt_scratch {
    struct block *head;  /* newest block; allocations come from here */
    size_t capacity;     /* sum of block sizes */
    size_t used;         /* bytes handed out since the last reset, padding included */
};

static struct block *block_new(size_t size)
{
    /* One allocation contains the header and the data, plus room to align the data. */
    if (size > SIZE_MAX - sizeof(struct block) - SCRATCH_ALIGN)
        return NULL;
    unsigned char *raw = cdnopt_malloc(sizeof(struct block) + size + SCRATCH_ALIGN);
    if (raw == NULL)
        return NULL;

    struct block *b = (struct block *)raw;
    uintptr_t start = (uintptr_t)(raw + sizeof(struct block));
    start = (start + SCRATCH_ALIGN - 1) & ~(uintptr_t)(SCRATCH_ALIGN - 1);
    b->prev = NULL;
    b->size = size;
    b->used = 0;
    b->data = (unsigned char *)start;
    return b;
}

static void blocks_free(struct block *b)
{
    while (b != NULL) {
        struct block *prev = b->prev;
        cdnopt_free(b);
        b = prev;
    }
}

int cdnopt_scratch_new(size_t n_bytes, cdnopt_scratch **out)
{
    *out = NULL;
    cdnopt_scratch *s = cdnopt_calloc(1, sizeof(*s));
    if (s == NULL)
        return CDNOPT_ENOMEM;

    size_t size = n_bytes > 0 ? n_bytes : SCRATCH_DEFAULT_BYTES;
    s->head = block_new(size);
    if (s->head == NULL) {
        cdnopt_free(s);
        return CDNOPT_ENOMEM;
    }
    s->capacity = size;
    *out = s;
    return CDNOPT_OK;
}

void cdnopt_scratch_free(cdnopt_scratch *scratch)
{
    if (scratch == NULL)
        return;
    blocks_free(scratch->head);
    cdnopt_free(scratch);
}

void *cdnopt_scratch_alloc(cdnopt_scratch *scratch, size_t n_bytes)
{
    /* Round up so the next allocation stays aligned; a zero request still gets a
     * distinct address because it is rounded to one alignment unit. */
    size_t want = n_bytes == 0 ? SCRATCH_ALIGN : n_bytes;
    if (want > SIZE_MAX - SCRATCH_ALIGN)
        return NULL;
    want = (want + SCRATCH_ALIGN - 1) & ~(size_t)(SCRATCH_ALIGN - 1);

    struct block *b = scratch->head;
    if (b->size - b->used < want) {
        size_t grow = scratch->capacity > SIZE_MAX / 2 ? want : 2 * scratch->capacity;
        struct block *nb = block_new(grow > want ? grow : want);
        if (nb == NULL)
            return NULL;
        nb->prev = b;
        scratch->head = nb;
        scratch->capacity += nb->size;
        b = nb;
    }

    void *p = b->data + b->used;
    b->used += want;
    scratch->used += want;
    return p;
}

float *cdnopt_scratch_floats(cdnopt_scratch *scratch, size_t n)
{
    if (n > SIZE_MAX / sizeof(float))
        return NULL;
    return cdnopt_scratch_alloc(scratch, n * sizeof(float));
}

float *cdnopt_scratch_zeros(cdnopt_scratch *scratch, size_t n)
{
    float *p = cdnopt_scratch_floats(scratch, n);
    if (p != NULL)
        memset(p, 0, n * sizeof(float));
    return p;
}

void cdnopt_scratch_reset(cdnopt_scratch *scratch)
{
    scratch->used = 0;
    if (scratch->head->prev != NULL) {
        struct block *merged = block_new(scratch->capacity);
        if (merged != NULL) {
            blocks_free(scratch->head);
            scratch->head = merged;
            return;
        }
    }

    /* Out of memory for the merge, or a single block: keep what we have, all empty. */
    for (struct block *b = scratch->head; b != NULL; b = b->prev)
        b->used = 0;
}

size_t cdnopt_scratch_used(const cdnopt_scratch *scratch)
{
    return scratch->used;
}

size_t cdnopt_scratch_capacity(const cdnopt_scratch *scratch)
{
    return scratch->capacity;
}
