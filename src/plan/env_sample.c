/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Training episodes for the release-planning environment: a 3-day window of a
 * history series, rescaled to a fixed peak, and a random day of releases on its
 * first day. Sizes and audiences are log-normal (median 150 MB and 200,000 devices),
 * and audiences are then scaled so that the releases carry a chosen share of the
 * first day's baseline traffic. Planned hours mix the hours teams usually ship at
 * with a uniform share, so that every shard is seen in training.
 */
#include "cdnopt/agent.h"

#include <math.h>
#include <stdio.h>

#define EPISODE_DAYS 3

/* Hours at which releases are usually planned, and their weights. */
static const int busy_hours[] = {10, 11, 14, 15, 18, 19, 20, 21};
static const double busy_weights[] = {0.25, 0.05, 0.15, 0.10, 0.10, 0.15, 0.15, 0.05};

/* Share of releases planned at a uniformly drawn hour instead of a busy one. */
#define UNIFORM_HOUR_SHARE 0.3

cdnopt_episode_params cdnopt_episode_params_default(void)
{
    return (cdnopt_episode_params){
        .min_releases = 50,
        .max_releases = 400,
        .min_energy = 0.5,
        .max_energy = 1.5,
        .peak_gbps = 1000.0,
    };
}

static bool overlaps(int64_t from, int64_t to, const int64_t *exclude_from,
                     const int64_t *exclude_to, size_t n_exclude)
{
    for (size_t k = 0; k < n_exclude; k++) {
        if (from < exclude_to[k] && exclude_from[k] < to)
            return true;
    }
    return false;
}

size_t cdnopt_episode_days(const cdnopt_series *history, const int64_t *exclude_from,
                           const int64_t *exclude_to, size_t n_exclude, size_t *days, size_t cap)
{
    if (history->step_s <= 0 || 86400 % history->step_s != 0)
        return 0;
    size_t window = (size_t)(EPISODE_DAYS * 86400 / history->step_s);
    size_t count = 0;
    for (size_t i = 0; i + window <= history->n; i++) {
        int64_t t = history->t[i];
        if (t != cdnopt_civil_day_start(t))
            continue;
        if (overlaps(t, t + EPISODE_DAYS * 86400, exclude_from, exclude_to, n_exclude))
            continue;
        if (count < cap)
            days[count] = i;
        count++;
    }
    return count;
}

static double lognormal(cdnopt_rng *rng, double median, double sigma)
{
    return median * exp(sigma * cdnopt_rng_normal(rng));
}

static double clamp(double x, double lo, double hi)
{
    return x < lo ? lo : (x > hi ? hi : x);
}

static int draw_hour(cdnopt_rng *rng)
{
    if (cdnopt_rng_uniform(rng) < UNIFORM_HOUR_SHARE)
        return (int)cdnopt_rng_below(rng, 24);
    double u = cdnopt_rng_uniform(rng), sum = 0;
    size_t n = sizeof busy_hours / sizeof busy_hours[0];
    for (size_t k = 0; k < n; k++) {
        sum += busy_weights[k];
        if (u < sum)
            return busy_hours[k];
    }
    return busy_hours[n - 1];
}

/* Copy the window and rescale it to peak at peak_gbps; *factor receives the multiplier. */
static int draw_baseline(const cdnopt_series *history, size_t first, double peak_gbps,
                         cdnopt_series **out, double *factor, char *err)
{
    size_t window = (size_t)(EPISODE_DAYS * 86400 / history->step_s);
    int rc = cdnopt_series_slice(history, first, window, out, err);
    if (rc != CDNOPT_OK)
        return rc;
    double max = 0;
    for (size_t i = 0; i < window; i++)
        max = fmax(max, (*out)->v[i]);
    if (!(max > 0)) {
        cdnopt_series_free(*out);
        *out = NULL;
        return cdnopt_fail(err, CDNOPT_EINVAL, "the history window from index %zu is all zero",
                           first);
    }
    *factor = peak_gbps / max;
    for (size_t i = 0; i < window; i++)
        (*out)->v[i] *= *factor;
    return CDNOPT_OK;
}

static int draw_releases(const cdnopt_series *baseline, const cdnopt_episode_params *p,
                         cdnopt_rng *rng, cdnopt_release_set **out, char *err)
{
    size_t span = p->max_releases - p->min_releases + 1;
    size_t n = p->min_releases + (size_t)cdnopt_rng_below(rng, span);
    cdnopt_release *items = cdnopt_calloc(n, sizeof *items);
    if (!items)
        return cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory for %zu releases", n);

    int64_t midnight = baseline->t[0];
    int64_t minute_step = baseline->step_s < 3600 ? baseline->step_s : 3600;
    double release_gbit = 0;
    for (size_t i = 0; i < n; i++) {
        cdnopt_release *r = &items[i];
        snprintf(r->id, sizeof r->id, "e%05zu", i);
        r->size_mb = round(clamp(lognormal(rng, 150.0, 1.2), 5.0, 8000.0) * 10.0) / 10.0;
        r->users = clamp(lognormal(rng, 2e5, 1.5), 1e3, 3e7);
        int64_t minute = (int64_t)cdnopt_rng_below(rng, (uint64_t)(3600 / minute_step)) * minute_step;
        r->planned_at = midnight + (int64_t)draw_hour(rng) * 3600 + minute;
        release_gbit += cdnopt_release_gbit(r);
    }

    /* Scale audiences so that the releases carry the drawn share of day one's traffic. */
    size_t day_steps = (size_t)(86400 / baseline->step_s);
    double day_gbit = 0;
    for (size_t i = 0; i < day_steps; i++)
        day_gbit += baseline->v[i] * (double)baseline->step_s;
    double share = p->min_energy + (p->max_energy - p->min_energy) * cdnopt_rng_uniform(rng);
    double factor = share * day_gbit / release_gbit;
    for (size_t i = 0; i < n; i++)
        items[i].users = fmin(CDNOPT_RELEASE_USERS_MAX, fmax(1.0, round(items[i].users * factor)));

    int rc = cdnopt_release_set_new(items, n, out, err);
    cdnopt_free(items);
    return rc;
}

/* Copy the observed series of a drawn window, multiplied by the window's rescaling
 * factor, after checking that it lies on the window's grid. */
static int draw_observed(const cdnopt_series *seen, const cdnopt_series *window, double factor,
                         cdnopt_series **out, char *err)
{
    if (seen->n != window->n || seen->step_s != window->step_s || seen->t[0] != window->t[0])
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "the observed series of the window from %lld has %zu values of "
                           "%lld s; it needs the window's %zu values of %lld s from the same "
                           "start", (long long)window->t[0], seen->n, (long long)seen->step_s,
                           window->n, (long long)window->step_s);
    int rc = cdnopt_series_slice(seen, 0, seen->n, out, err);
    if (rc != CDNOPT_OK)
        return rc;
    for (size_t i = 0; i < seen->n; i++)
        (*out)->v[i] *= factor;
    return CDNOPT_OK;
}

int cdnopt_episode_draw(const cdnopt_series *history, const size_t *days, size_t n_days,
                        const cdnopt_episode_params *params, cdnopt_rng *rng,
                        cdnopt_series **baseline, cdnopt_series **observed,
                        cdnopt_release_set **releases, char *err)
{
    *baseline = NULL;
    *releases = NULL;
    if (observed)
        *observed = NULL;
    if (params->observed && !observed)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "episode params carry observed series but no output for them");
    if (n_days == 0)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "no day of the history can start a 3-day training window; give a "
                           "longer history or exclude fewer days");
    if (params->min_releases == 0 || params->max_releases < params->min_releases)
        return cdnopt_fail(err, CDNOPT_EINVAL, "episode release counts [%zu, %zu] are invalid",
                           params->min_releases, params->max_releases);

    size_t pick = (size_t)cdnopt_rng_below(rng, n_days);
    size_t first = days[pick];
    if (first + (size_t)(EPISODE_DAYS * 86400 / history->step_s) > history->n)
        return cdnopt_fail(err, CDNOPT_EINVAL, "the 3-day window from index %zu passes the "
                           "end of the history", first);
    double factor = 1;
    int rc = draw_baseline(history, first, params->peak_gbps, baseline, &factor, err);
    if (rc != CDNOPT_OK)
        return rc;
    if (params->observed) {
        /* The forecast gets the window's factor, so that both stay in one unit. */
        rc = draw_observed(params->observed[pick], *baseline, factor, observed, err);
    }
    if (rc == CDNOPT_OK)
        rc = draw_releases(*baseline, params, rng, releases, err);
    if (rc != CDNOPT_OK) {
        cdnopt_series_free(*baseline);
        *baseline = NULL;
        if (observed) {
            cdnopt_series_free(*observed);
            *observed = NULL;
        }
    }
    return rc;
}
