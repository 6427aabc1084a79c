/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Seeded random numbers: xoshiro256** (Blackman and Vigna, "Scrambled linear
 * pseudorandom number generators", 2018) seeded through splitmix64. Written
 * from the published recurrences.
 */
#include "cdnopt/core.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotate_left(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void cdnopt_rng_seed(cdnopt_rng *rng, uint64_t seed)
{
    uint64_t state = seed;
    for (int i = 0; i < 4; i++)
        rng->s[i] = splitmix64(&state);
}

uint64_t cdnopt_rng_next(cdnopt_rng *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotate_left(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotate_left(s[3], 45);
    return result;
}

double cdnopt_rng_uniform(cdnopt_rng *rng)
{
    /* The top 53 bits fill a double's mantissa exactly. */
    return (double)(cdnopt_rng_next(rng) >> 11) * 0x1.0p-53;
}

double cdnopt_rng_normal(cdnopt_rng *rng)
{
    double u1 = cdnopt_rng_uniform(rng);
    double u2 = cdnopt_rng_uniform(rng);
    /* 1 - u1 lies in (0, 1], so the logarithm is finite. */
    return sqrt(-2.0 * log(1.0 - u1)) * cos(2.0 * M_PI * u2);
}

uint64_t cdnopt_rng_below(cdnopt_rng *rng, uint64_t n)
{
    CDNOPT_ASSERT(n > 0);

    /* Rejection keeps the draw unbiased when n does not divide 2^64. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do {
        x = cdnopt_rng_next(rng);
    } while (x >= limit);
    return x % n;
}

void cdnopt_rng_fork(const cdnopt_rng *parent, uint64_t k, cdnopt_rng *child)
{
    uint64_t state = parent->s[0] ^ rotate_left(parent->s[1], 17) ^ (k * 0xd1342543de82ef95ULL);
    for (int i = 0; i < 4; i++)
        child->s[i] = splitmix64(&state);
}
