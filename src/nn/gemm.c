/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Matrix products: the cblas_sgemm wrapper every layer uses, a loop reference for
 * tests, and the small array checks (relative error, NaN/Inf) that go with them.
 */
#include "nn-impl.h"

#include <cblas.h>
#include <limits.h>

void cdnopt_sgemm(bool trans_a, bool trans_b, size_t m, size_t n, size_t k, float alpha,
                  const float *a, size_t lda, const float *b, size_t ldb, float beta, float *c,
                  size_t ldc)
{
    if (m == 0 || n == 0)
        return;

    /* BLAS rejects a leading dimension below 1 even when k is 0, and takes int sizes. */
    CDNOPT_ASSERT(lda >= 1 && ldb >= 1 && ldc >= n);
    CDNOPT_ASSERT(m <= INT_MAX && n <= INT_MAX && k <= INT_MAX && lda <= INT_MAX &&
                  ldb <= INT_MAX && ldc <= INT_MAX);
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, (blasint)m, (blasint)n, (blasint)k, alpha,
                a, (blasint)lda, b, (blasint)ldb, beta, c, (blasint)ldc);
}

void cdnopt_sgemm_ref(bool trans_a, bool trans_b, size_t m, size_t n, size_t k, float alpha,
                      const float *a, size_t lda, const float *b, size_t ldb, float beta, float *c,
                      size_t ldc)
{
    for (size_t i = 0; i < m; i++) {
        for (size_t j = 0; j < n; j++) {
            double acc = 0.0;
            for (size_t p = 0; p < k; p++) {
                double aip = trans_a ? a[p * lda + i] : a[i * lda + p];
                double bpj = trans_b ? b[j * ldb + p] : b[p * ldb + j];
                acc += aip * bpj;
            }

            /* beta == 0 must not read C, which may hold NaN garbage (BLAS semantics). */
            double old = beta == 0.0f ? 0.0 : (double)beta * c[i * ldc + j];
            c[i * ldc + j] = (float)(alpha * acc + old);
        }
    }
}

double cdnopt_nn_rel_error(const float *a, const float *b, size_t n)
{
    double diff2 = 0.0, ref2 = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)b[i];
        diff2 += d * d;
        ref2 += (double)b[i] * b[i];
    }
    return sqrt(diff2) / fmax(sqrt(ref2), 1e-30);
}

int cdnopt_nn_check_finite(const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i]))
            return CDNOPT_ENUMERIC;
    }
    return CDNOPT_OK;
}
