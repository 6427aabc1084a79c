/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Synthetic CDN traffic for demos and tests. The bandwidth has daily and weekly
 * seasonality, an evening peak, a trend, autocorrelated multiplicative noise and
 * the download waves of the releases shipped during the period. The generator also
 * lists those releases and the ones still waiting to ship on the day after it.
 *
 * The output depends only on the params: each ingredient draws from its own
 * stream forked from the seed, so changing the number of pending releases leaves
 * the bandwidth unchanged.
 */
#include "series-impl.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PI 3.14159265358979323846

/* Independent RNG streams, one per ingredient. */
enum { STREAM_NOISE = 1, STREAM_SHIPPED = 2, STREAM_PENDING = 3 };

/*
 * Relative traffic at each whole hour of the day: lowest before dawn, rising
 * through the working day, highest from 20:00 to 21:00 when people stream and
 * download at home. The values are a hand-drawn shape, not measured data.
 */
static const double hourly_shape[24] = {
    0.78, 0.66, 0.56, 0.49, 0.45, 0.45, 0.50, 0.58, 0.66, 0.72, 0.76, 0.79,
    0.82, 0.82, 0.82, 0.83, 0.85, 0.88, 0.92, 0.97, 1.00, 1.00, 0.96, 0.88,
};

/* Relative level of each day at noon, by tm_wday (0 = Sunday): higher at weekends. */
static const double weekday_level[7] = {1.06, 0.97, 0.96, 0.96, 0.97, 1.01, 1.07};

/* Hours at which teams ship, with weights: morning, afternoon and evening launches. */
static const struct {
    int hour;
    double weight;
} ship_hours[] = {{9, 0.10}, {10, 0.20}, {11, 0.10}, {14, 0.15},
                  {15, 0.15}, {16, 0.05}, {19, 0.15}, {20, 0.10}};

cdnopt_generate_params cdnopt_generate_params_default(void)
{
    cdnopt_civil_fields monday = {2025, 1, 6, 0, 0, 0};
    cdnopt_generate_params p = {
        .days = 30,
        .step_s = 300,
        .seed = 1,
        .start = cdnopt_civil_from_fields(&monday),
        .n_pending = 20,
        .mean_gbps = 500.0,
        .trend_per_day = 0.003,
        .noise_sigma = 0.04,
        .shipped_per_day = 1.5,
        .size_mb_min = 50.0,
        .size_mb_max = 4000.0,
        .users_min = 1e4,
        .users_max = 1e6,
        .decay = 0.8,
        .decay_hours = 15,
    };
    return p;
}

static int check_params(const cdnopt_generate_params *p, char *err)
{
    if (p->days < 1 || p->days > 3660)
        return cdnopt_fail(err, CDNOPT_EINVAL, "days %d is out of range: use 1 to 3660", p->days);
    if (p->step_s <= 0 || 3600 % p->step_s != 0)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "step_s %lld must divide 3600 (for example 60, 300, 900 or 3600)",
                           (long long)p->step_s);
    if (p->start % p->step_s != 0)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "start is not on the %lld s grid: use a start time whose seconds "
                           "since midnight are a multiple of the step",
                           (long long)p->step_s);
    if (p->n_pending > 100000)
        return cdnopt_fail(err, CDNOPT_EINVAL, "n_pending %zu is out of range: use 0 to 100000",
                           p->n_pending);
    if (!(p->mean_gbps > 0.0) || !(p->noise_sigma >= 0.0 && p->noise_sigma < 1.0) ||
        !(p->shipped_per_day >= 0.0 && p->shipped_per_day <= 100.0))
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "mean_gbps (%g) must be positive, noise_sigma (%g) in [0, 1) and "
                           "shipped_per_day (%g) in [0, 100]",
                           p->mean_gbps, p->noise_sigma, p->shipped_per_day);
    if (!(1.0 + p->trend_per_day * p->days > 0.0))
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "trend_per_day %g would make traffic negative within %d days",
                           p->trend_per_day, p->days);
    if (!(p->size_mb_min > 0.0 && p->size_mb_min <= p->size_mb_max) ||
        !(p->users_min >= 1.0 && p->users_min <= p->users_max))
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "package sizes [%g, %g] MB and audiences [%g, %g] users must be "
                           "positive ranges with min <= max",
                           p->size_mb_min, p->size_mb_max, p->users_min, p->users_max);
    if (!(p->decay > 0.0 && p->decay <= 1.0) || p->decay_hours < 1 || p->decay_hours > 168)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "decay %g must be in (0, 1] and decay_hours %d in [1, 168]", p->decay,
                           p->decay_hours);
    return CDNOPT_OK;
}

/* ---- Seasonal baseline --------------------------------------------------------- */

/* Periodic Catmull-Rom interpolation of hourly_shape at a fractional hour. */
static double daily_shape(double hour)
{
    int h1 = (int)floor(hour);
    double u = hour - h1;
    double p0 = hourly_shape[(h1 + 23) % 24], p1 = hourly_shape[h1 % 24];
    double p2 = hourly_shape[(h1 + 1) % 24], p3 = hourly_shape[(h1 + 2) % 24];
    return p1 + 0.5 * u * (p2 - p0 + u * (2.0 * p0 - 5.0 * p1 + 4.0 * p2 - p3 +
                                           u * (3.0 * (p1 - p2) + p3 - p0)));
}

static double daily_shape_mean(void)
{
    double sum = 0.0;
    for (int h = 0; h < 24; h++)
        sum += hourly_shape[h];
    return sum / 24.0;
}

/* Weekday level, interpolated linearly between the noons of neighbouring days so
 * that traffic does not jump at midnight. */
static double weekly_level(int64_t t)
{
    int64_t noon = cdnopt_civil_day_start(t) + 43200;
    int64_t from = t >= noon ? noon : noon - 86400;
    double u = (double)(t - from) / 86400.0;
    double a = weekday_level[cdnopt_civil_weekday(from)];
    double b = weekday_level[cdnopt_civil_weekday(from + 86400)];
    return a + (b - a) * u;
}

/*
 * Fill s with the baseline: mean level * daily shape * weekly level * trend *
 * exp(noise). The log noise is an AR(1) process with a one-hour correlation time
 * plus a smaller independent part. Half its variance is subtracted, so that the
 * mean of exp(noise) stays 1.
 */
static void fill_baseline(const cdnopt_generate_params *p, cdnopt_rng *rng, cdnopt_series *s)
{
    double shape_mean = daily_shape_mean();
    double phi = exp(-(double)p->step_s / 3600.0);
    double sigma_ar = p->noise_sigma, sigma_iid = 0.5 * p->noise_sigma;
    double variance = sigma_ar * sigma_ar + sigma_iid * sigma_iid;
    double ar = sigma_ar * cdnopt_rng_normal(rng);

    for (size_t i = 0; i < s->n; i++) {
        int64_t t = s->t[i];
        double hour = (double)(t - cdnopt_civil_day_start(t)) / 3600.0;
        double days = (double)(t - p->start) / 86400.0;
        double level = p->mean_gbps * daily_shape(hour) / shape_mean * weekly_level(t) *
                       (1.0 + p->trend_per_day * days);

        if (i > 0)
            ar = phi * ar + sigma_ar * sqrt(1.0 - phi * phi) * cdnopt_rng_normal(rng);
        double noise = ar + sigma_iid * cdnopt_rng_normal(rng) - 0.5 * variance;
        s->v[i] = level * exp(noise);
    }
}

/* ---- Releases --------------------------------------------------------------------- */

/* Draw from a log-normal whose 95 % range is about [lo, hi], truncated to [lo, hi]. */
static double draw_bounded_lognormal(cdnopt_rng *rng, double lo, double hi)
{
    double mu = 0.5 * (log(lo) + log(hi));
    double sigma = (log(hi) - log(lo)) / 4.0;
    for (int attempt = 0; attempt < 64; attempt++) {
        double x = exp(mu + sigma * cdnopt_rng_normal(rng));
        if (x >= lo && x <= hi)
            return x;
    }
    return exp(mu); // about 1e-28 likely after 64 misses; the median is a safe value
}

/* Knuth's multiplication method; fine for the small means used per day. */
static size_t draw_poisson(cdnopt_rng *rng, double mean)
{
    double limit = exp(-mean), product = cdnopt_rng_uniform(rng);
    size_t k = 0;
    while (product > limit) {
        k++;
        product *= cdnopt_rng_uniform(rng);
    }
    return k;
}

/* Civil time of a release on the day starting at midnight: a weighted shipping
 * hour and a random grid step inside it. */
static int64_t draw_ship_time(cdnopt_rng *rng, int64_t midnight, int64_t step_s)
{
    size_t n_hours = sizeof ship_hours / sizeof ship_hours[0];
    double total = 0.0;
    for (size_t i = 0; i < n_hours; i++)
        total += ship_hours[i].weight;

    double pick = cdnopt_rng_uniform(rng) * total;
    size_t i = 0;
    while (i + 1 < n_hours && pick >= ship_hours[i].weight) {
        pick -= ship_hours[i].weight;
        i++;
    }
    int64_t offset = (int64_t)cdnopt_rng_below(rng, (uint64_t)(3600 / step_s)) * step_s;
    return midnight + ship_hours[i].hour * 3600 + offset;
}

static void draw_release(const cdnopt_generate_params *p, cdnopt_rng *rng, int64_t midnight,
                         bool pending, cdnopt_generated_release *r)
{
    memset(r, 0, sizeof *r);
    r->planned_at = draw_ship_time(rng, midnight, p->step_s);
    r->size_mb = round(draw_bounded_lognormal(rng, p->size_mb_min, p->size_mb_max) * 10.0) / 10.0;
    r->users = round(draw_bounded_lognormal(rng, p->users_min, p->users_max));
    r->pending = pending;
}

static int compare_planned(const void *a, const void *b)
{
    const cdnopt_generated_release *x = a, *y = b;
    return (x->planned_at > y->planned_at) - (x->planned_at < y->planned_at);
}

/* Sort a block of releases by planned time and number them prefix0001, prefix0002... */
static void sort_and_name(cdnopt_generated_release *r, size_t n, char prefix)
{
    qsort(r, n, sizeof *r, compare_planned);
    for (size_t i = 0; i < n; i++)
        snprintf(r[i].id, sizeof r[i].id, "%c%04zu", prefix, i + 1);
}

/*
 * Add one release's download wave to s, with all users at once: hour h after
 * planned_at carries the share r^h / sum_{k<D} r^k of size_mb * 8e6 * users bits,
 * spread evenly over that hour.
 */
static void add_wave(const cdnopt_generate_params *p, const cdnopt_generated_release *r,
                     cdnopt_series *s)
{
    double norm = 0.0;
    for (int k = 0; k < p->decay_hours; k++)
        norm += pow(p->decay, k);
    double bits = r->size_mb * 8e6 * r->users;

    long first = cdnopt_series_index_of(s, r->planned_at);
    for (size_t i = first < 0 ? s->n : (size_t)first; i < s->n; i++) {
        int64_t hour = (s->t[i] - r->planned_at) / 3600;
        if (hour >= p->decay_hours)
            break;
        s->v[i] += bits * pow(p->decay, (double)hour) / norm / 3600.0 / 1e9;
    }
}

/* Draw the shipped releases of every day, in day order, into a growing array. */
static int draw_shipped(const cdnopt_generate_params *p, cdnopt_rng *rng,
                        cdnopt_generated *g, size_t *cap)
{
    for (int day = 0; day < p->days; day++) {
        size_t count = draw_poisson(rng, p->shipped_per_day);
        int64_t midnight = cdnopt_civil_day_start(p->start) + (int64_t)day * 86400;
        for (size_t k = 0; k < count; k++) {
            cdnopt_generated_release r;
            draw_release(p, rng, midnight, false, &r);
            if (r.planned_at < p->start)
                continue; // the start day began after this shipping hour
            if (cdnopt__grow((void **)&g->releases, cap, g->n_releases + 1, sizeof r) != 0)
                return CDNOPT_ENOMEM;
            g->releases[g->n_releases++] = r;
        }
    }
    g->n_shipped = g->n_releases;
    return CDNOPT_OK;
}

static int draw_pending(const cdnopt_generate_params *p, cdnopt_rng *rng, cdnopt_generated *g,
                        size_t *cap)
{
    int64_t end = p->start + (int64_t)p->days * 86400;
    if (cdnopt__grow((void **)&g->releases, cap, g->n_releases + p->n_pending + 1,
                     sizeof *g->releases) != 0)
        return CDNOPT_ENOMEM;

    /* The day after the series begins at its end, which is a midnight when start is. */
    for (size_t k = 0; k < p->n_pending; k++) {
        cdnopt_generated_release *r = &g->releases[g->n_releases++];
        draw_release(p, rng, cdnopt_civil_day_start(end), true, r);
        if (r->planned_at < end)
            r->planned_at += 86400;
    }
    return CDNOPT_OK;
}

int cdnopt_generate(const cdnopt_generate_params *params, cdnopt_generated **out, char *err)
{
    *out = NULL;
    cdnopt_generate_params defaults = cdnopt_generate_params_default();
    const cdnopt_generate_params *p = params != NULL ? params : &defaults;
    int rc = check_params(p, err);
    if (rc != CDNOPT_OK)
        return rc;

    cdnopt_rng root, noise_rng, shipped_rng, pending_rng;
    cdnopt_rng_seed(&root, p->seed);
    cdnopt_rng_fork(&root, STREAM_NOISE, &noise_rng);
    cdnopt_rng_fork(&root, STREAM_SHIPPED, &shipped_rng);
    cdnopt_rng_fork(&root, STREAM_PENDING, &pending_rng);

    cdnopt_generated *g = cdnopt_calloc(1, sizeof *g);
    if (g == NULL)
        return cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory for the generator result");
    size_t n = (size_t)p->days * (size_t)(86400 / p->step_s);
    size_t cap = 0;
    rc = cdnopt_series_new(n, p->start, p->step_s, &g->bandwidth);
    if (rc == CDNOPT_OK)
        rc = cdnopt_series_set_name(g->bandwidth, "gbps");
    if (rc == CDNOPT_OK)
        rc = draw_shipped(p, &shipped_rng, g, &cap);
    if (rc == CDNOPT_OK)
        rc = draw_pending(p, &pending_rng, g, &cap);
    if (rc != CDNOPT_OK) {
        cdnopt_generated_free(g);
        return cdnopt_fail(err, rc, "out of memory generating %zu samples", n);
    }

    fill_baseline(p, &noise_rng, g->bandwidth);
    sort_and_name(g->releases, g->n_shipped, 's');
    sort_and_name(g->releases + g->n_shipped, g->n_releases - g->n_shipped, 'p');
    for (size_t i = 0; i < g->n_shipped; i++)
        add_wave(p, &g->releases[i], g->bandwidth);
    *out = g;
    return CDNOPT_OK;
}

void cdnopt_generated_free(cdnopt_generated *g)
{
    if (g == NULL)
        return;
    cdnopt_series_free(g->bandwidth);
    cdnopt_free(g->releases);
    cdnopt_free(g);
}

/* ---- Files ------------------------------------------------------------------------ */

/* Write releases [first, last) of g to path with the releases file's header. */
static int write_releases(const cdnopt_generated *g, size_t first, size_t last, const char *path,
                          char *err)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return cdnopt_fail(err, CDNOPT_EIO, "cannot create %s: %s; check that the folder exists",
                           path, strerror(errno));
    fputs("id,size_mb,users,planned_at\n", f);
    char when[CDNOPT_CIVIL_TEXT_MAX];
    for (size_t i = first; i < last; i++) {
        const cdnopt_generated_release *r = &g->releases[i];
        cdnopt_civil_format(r->planned_at, when, sizeof when);
        fprintf(f, "%s,%.1f,%.0f,%s\n", r->id, r->size_mb, r->users, when);
    }
    bool failed = ferror(f) != 0;
    if (fclose(f) != 0 || failed)
        return cdnopt_fail(err, CDNOPT_EIO, "cannot write %s: %s", path, strerror(errno));
    return CDNOPT_OK;
}

static int write_readme(const cdnopt_generated *g, const cdnopt_generate_params *p,
                        const char *path, char *err)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return cdnopt_fail(err, CDNOPT_EIO, "cannot create %s: %s", path, strerror(errno));
    char first[CDNOPT_CIVIL_TEXT_MAX], last[CDNOPT_CIVIL_TEXT_MAX];
    const cdnopt_series *s = g->bandwidth;
    cdnopt_civil_format(s->t[0], first, sizeof first);
    cdnopt_civil_format(s->t[s->n - 1], last, sizeof last);
    fprintf(f,
            "%s (seed %llu). Not measured data.\n\n"
            "bandwidth.csv  timestamp,gbps: %zu samples of %lld s from %s to %s, local time,\n"
            "               in Gbit/s: daily and weekly seasonality around %g Gbit/s, a trend\n"
            "               of %g per day, log noise of sigma %g, and the download waves of\n"
            "               the shipped releases (all users at once, decay %g per hour\n"
            "               over %d hours).\n"
            "releases.csv   id,size_mb,users,planned_at: %zu shipped releases (s*) whose waves\n"
            "               are in bandwidth.csv, then %zu pending releases (p*) planned over\n"
            "               the day after the last sample.\n"
            "pending.csv    the same columns, only the %zu pending releases: the file to pass\n"
            "               to `cdnopt plan --releases`.\n",
            CDNOPT_GENERATED_README_START, (unsigned long long)p->seed, s->n,
            (long long)s->step_s, first, last, p->mean_gbps,
            p->trend_per_day, p->noise_sigma, p->decay, p->decay_hours, g->n_shipped,
            g->n_releases - g->n_shipped, g->n_releases - g->n_shipped);
    bool failed = ferror(f) != 0;
    if (fclose(f) != 0 || failed)
        return cdnopt_fail(err, CDNOPT_EIO, "cannot write %s: %s", path, strerror(errno));
    return CDNOPT_OK;
}

int cdnopt_generated_write(const cdnopt_generated *g, const cdnopt_generate_params *params,
                           const char *dir, char *err)
{
    cdnopt_generate_params defaults = cdnopt_generate_params_default();
    const cdnopt_generate_params *p = params != NULL ? params : &defaults;
    char path[4096];
    snprintf(path, sizeof path, "%s/bandwidth.csv", dir);
    int rc = cdnopt_series_write_csv(g->bandwidth, path, "gbps", err);
    if (rc != CDNOPT_OK)
        return rc;
    snprintf(path, sizeof path, "%s/releases.csv", dir);
    rc = write_releases(g, 0, g->n_releases, path, err);
    if (rc != CDNOPT_OK)
        return rc;

    /* The shipped releases come first, so the pending ones are the tail. */
    snprintf(path, sizeof path, "%s/pending.csv", dir);
    rc = write_releases(g, g->n_shipped, g->n_releases, path, err);
    if (rc != CDNOPT_OK)
        return rc;
    snprintf(path, sizeof path, "%s/README.txt", dir);
    return write_readme(g, p, path, err);
}
