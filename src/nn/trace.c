/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Traces: the arena-owned records of forward passes, and the row-wise helpers
 * (bias add, column sums) that several layers share.
 */
#include "nn-impl.h"

#include <string.h>

cdnopt_trace *cdnopt__trace_new(cdnopt_scratch *scratch, enum trace_kind kind,
                                const void *layer)
{
    cdnopt_trace *t = cdnopt_scratch_alloc(scratch, sizeof(*t));
    if (t == NULL)
        return NULL;
    memset(t, 0, sizeof(*t));
    t->kind = kind;
    t->layer = layer;
    return t;
}

float *cdnopt_trace_output(const cdnopt_trace *trace)
{
    return trace->y;
}

size_t cdnopt_trace_output_size(const cdnopt_trace *trace)
{
    return trace->y_size;
}

void cdnopt__add_row_bias(float *y, size_t n_rows, size_t n_cols, const float *bias)
{
    for (size_t r = 0; r < n_rows; r++) {
        float *row = y + r * n_cols;
        for (size_t j = 0; j < n_cols; j++)
            row[j] += bias[j];
    }
}

void cdnopt__sum_rows(const float *dy, size_t n_rows, size_t n_cols, float *db)
{
    for (size_t r = 0; r < n_rows; r++) {
        const float *row = dy + r * n_cols;
        for (size_t j = 0; j < n_cols; j++)
            db[j] += row[j];
    }
}
