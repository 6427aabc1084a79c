/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Calibration of MC-dropout intervals on a validation slice, and its /calibration
 * group in the model's HDF5 file.
 *
 * Rationale for relative scores: the factors scale the point forecast plus the
 * MC-dropout spread, |y - mean| / (|mean| + sd) (CDNOPT_CALIB_RELATIVE), where they used
 * to scale the spread alone. Bandwidth errors grow with the traffic level, so the
 * relative error keeps the interval narrow at night and wide at the peak, and it
 * carries over when the level shifts. The spread alone did not track the errors. On
 * the UK backbone series the ratio of a calibration origin's mean absolute error to its
 * mean sd ranged from 3 to 26, and in the test week the sd fell while the errors rose.
 * With the direct head's correction shrunk to 0 there is no spread at all. Scores over
 * the sd gave 84-88% coverage there, the relative scores 95%. The sd term matters where
 * the point forecast falls far below the traffic. With |mean| alone, a transformer whose
 * recursive roll-out decayed to 0 got intervals about 150 times wider than with it.
 *
 * Rationale for the minimum span: the validation slice is the last tenth of the
 * training data, a few days that may all fall in one unusual period. On the UK
 * backbone series it is the Christmas break, whose day-to-day errors are much
 * smaller than those of ordinary weeks, and factors fitted there covered 74% of the
 * following week instead of 95%. Four weeks hold every weekday transition four
 * times. Origins before the validation slice forecast data the model was trained
 * on, so their scores are somewhat optimistic. The span trades that bias against a
 * slice that misses whole kinds of days.
 */
#include "cdnopt/pipeline.h"

#include "cdnopt/core.h"
#include "cdnopt/h5file.h"
#include "pipeline-impl.h"

#include <hdf5.h>
#include <math.h>
#include <string.h>

cdnopt_calibrate_params cdnopt_calibrate_params_default(void)
{
    cdnopt_calibrate_params p = {
        .horizon = 0,
        .n_samples = 50,
        .stride_s = 3600,
        .max_origins = 48,
        .level = 0.95,
        .min_scores = 50,
        .seed = 1,
        .min_span_s = 28 * 86400,
        .first_origin = 0,
    };
    return p;
}

/* ------------------------------------------------------------------------- */
/* Fitting                                                                   */
/* ------------------------------------------------------------------------- */

/* Validation forecasts, origin-major as cdnopt_calib_set wants them. */
typedef struct origin_runs {
    size_t n_origins;
    size_t horizon;
    double *actual;
    double *mean;
    double *sd;
} origin_runs;

static void origin_runs_fini(origin_runs *r)
{
    cdnopt_free(r->actual);
    cdnopt_free(r->mean);
    cdnopt_free(r->sd);
}

static int check_calibrate_params(const cdnopt_calibrate_params *p, const cdnopt_series *series,
                                  size_t val_start, size_t val_end, char *err)
{
    if (p->n_samples < 2)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "invalid calibration sample count %d: use at least 2", p->n_samples);
    if (!(p->level > 0.0 && p->level < 1.0))
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "invalid calibration level %g: use a fraction such as 0.95", p->level);
    if (p->stride_s <= 0 || p->max_origins < 1)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "invalid calibration origins: stride %llds, at most %d origins",
                           (long long)p->stride_s, p->max_origins);
    if (val_start >= val_end || val_end > series->n)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "calibration slice [%zu, %zu) does not fit in a series of %zu steps",
                           val_start, val_end, series->n);
    return CDNOPT_OK;
}

/* First origin, stride and count such that every horizon ends by val_end. */
static int plan_origins(const cdnopt_calibrate_params *p, const cdnopt_series *series,
                        size_t val_start, size_t val_end, size_t horizon, size_t *first,
                        size_t *stride, size_t *count, char *err)
{
    if (val_end <= horizon)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "series of %zu steps is too short to calibrate a horizon of %zu steps",
                           val_end, horizon);
    size_t last = val_end - horizon;
    *first = val_start;
    if (last < val_start) {
        CDNOPT_LOG_WARN("pipeline",
                        "validation slice of %zu steps is shorter than the horizon of %zu steps; "
                        "calibrating from origin %zu, so targets overlap the training span and "
                        "intervals may be too narrow",
                        val_end - val_start, horizon, last);
        *first = last;
    }

    *stride = (size_t)(p->stride_s / series->step_s);
    if (*stride < 1)
        *stride = 1;
    size_t span = last - *first + 1;
    size_t even = (span + (size_t)p->max_origins - 1) / (size_t)p->max_origins;
    if (*stride < even)
        *stride = even;
    *count = (span + *stride - 1) / *stride;
    return CDNOPT_OK;
}

static int run_origins(const cdnopt_sampler *s, const cdnopt_series *series, size_t first,
                       size_t stride, const cdnopt_calibrate_params *p, origin_runs *r,
                       char *err)
{
    size_t h = r->horizon, n = r->n_origins;
    r->actual = cdnopt_malloc(n * h * sizeof *r->actual);
    r->mean = cdnopt_malloc(n * h * sizeof *r->mean);
    r->sd = cdnopt_malloc(n * h * sizeof *r->sd);
    if (r->actual == NULL || r->mean == NULL || r->sd == NULL)
        return cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory for %zu calibration origins", n);

    for (size_t k = 0; k < n; k++) {
        size_t origin = first + k * stride;
        int rc = cdnopt__forecast_moments(s, series, origin, (int)h, p->n_samples, p->seed + k,
                                          r->mean + k * h, r->sd + k * h, err);
        if (rc != CDNOPT_OK)
            return rc;
        memcpy(r->actual + k * h, series->v + origin, h * sizeof *r->actual);
    }
    return CDNOPT_OK;
}

/* Move val_start back so that the slice spans at least p->min_span_s seconds. */
static size_t extend_slice(const cdnopt_calibrate_params *p, const cdnopt_series *series,
                           size_t val_start, size_t val_end)
{
    if (p->min_span_s <= 0 || val_start <= p->first_origin)
        return val_start;

    size_t span_steps = (size_t)(p->min_span_s / series->step_s);
    if (val_end - val_start >= span_steps)
        return val_start;

    size_t start = val_end > span_steps ? val_end - span_steps : 0;
    if (start < p->first_origin)
        start = p->first_origin;
    if (start >= val_start)
        return val_start;

    CDNOPT_LOG_INFO("pipeline",
                    "calibration slice extended from %zu to %zu steps (min_span_s=%lld) so that "
                    "it holds ordinary weeks as well as the validation days",
                    val_end - val_start, val_end - start, (long long)p->min_span_s);
    return start;
}

int cdnopt_pipeline_calibrate(const cdnopt_sampler *s, const cdnopt_series *series,
                              size_t val_start, size_t val_end, const cdnopt_calibrate_params *p,
                              cdnopt_calibration *out, char *err)
{
    memset(out, 0, sizeof *out);
    int rc = check_calibrate_params(p, series, val_start, val_end, err);
    if (rc != CDNOPT_OK)
        return rc;
    int horizon = p->horizon > 0 ? p->horizon : cdnopt__steps_per_day(series->step_s);
    if (horizon <= 0)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "step %llds does not divide one day: give the horizon in steps",
                           (long long)series->step_s);

    val_start = extend_slice(p, series, val_start, val_end);

    origin_runs r = {.horizon = (size_t)horizon};
    size_t first = 0, stride = 1;
    rc = plan_origins(p, series, val_start, val_end, r.horizon, &first, &stride, &r.n_origins,
                      err);
    if (rc == CDNOPT_OK)
        rc = run_origins(s, series, first, stride, p, &r, err);
    if (rc == CDNOPT_OK) {
        cdnopt_calib_set set = {.n_origins = r.n_origins, .horizon = r.horizon,
                                .actual = r.actual, .mean = r.mean, .std = r.sd};
        cdnopt_calibration_params cp = cdnopt_calibration_params_default();
        cp.kind = CDNOPT_CALIB_RELATIVE;
        cp.level = p->level;
        cp.min_scores = p->min_scores;
        rc = cdnopt_calibration_fit(&set, &cp, out, err);
    }
    origin_runs_fini(&r);
    return rc;
}

/* ------------------------------------------------------------------------- */
/* HDF5 storage                                                              */
/* ------------------------------------------------------------------------- */

#define CALIBRATION_GROUP "/calibration"

/* Largest scale or relative factor a file may hold: bounds 10^4 times as wide as the
 * Monte-Carlo spread or the forecast level, which no usable calibration needs. */
#define CALIBRATION_MAX_FACTOR 1e4

/* Largest horizon a file may declare: four weeks of one-minute steps. */
#define CALIBRATION_MAX_HORIZON 40320

/* HDF5 prints its own error stack by default. While a quiet section runs, the
 * message in err replaces it. */
typedef struct hdf5_quiet {
    H5E_auto2_t func;
    void *data;
} hdf5_quiet;

static void hdf5_quiet_begin(hdf5_quiet *q)
{
    H5Eget_auto2(H5E_DEFAULT, &q->func, &q->data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

static void hdf5_quiet_end(const hdf5_quiet *q) { H5Eset_auto2(H5E_DEFAULT, q->func, q->data); }

static int write_group(hid_t file, const cdnopt_calibration *c)
{
    /* Replace a calibration from an earlier run instead of failing on the name. */
    if (H5Lexists(file, CALIBRATION_GROUP, H5P_DEFAULT) > 0 &&
        H5Ldelete(file, CALIBRATION_GROUP, H5P_DEFAULT) < 0)
        return -1;
    hid_t group = H5Gcreate2(file, CALIBRATION_GROUP, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (group < 0)
        return -1;

    herr_t status = cdnopt_h5_put_f64_vector(group, "factor", c->horizon, c->factor);

    /* Plain float64 attributes keep the group readable with h5dump and h5py. */
    status |= cdnopt_h5_put_f64(group, "kind", (double)c->kind);
    status |= cdnopt_h5_put_f64(group, "level", c->level);
    status |= cdnopt_h5_put_f64(group, "coverage_raw", c->coverage_raw);
    status |= cdnopt_h5_put_f64(group, "coverage_calibrated", c->coverage_calibrated);
    status |= cdnopt_h5_put_f64(group, "n_origins", (double)c->n_origins);
    H5Gclose(group);
    return status;
}

int cdnopt_pipeline_calibration_save(const cdnopt_calibration *c, const char *path, char *err)
{
    hdf5_quiet quiet;
    hdf5_quiet_begin(&quiet);

    int rc = CDNOPT_OK;
    hid_t file = cdnopt_h5_open_rw(path);
    if (file < 0)
        rc = cdnopt_fail(err, CDNOPT_EIO,
                         "cannot open model file %s to add the calibration: save the model first",
                         path);
    else if (write_group(file, c) < 0)
        rc = cdnopt_fail(err, CDNOPT_EIO, "failed to write group %s in %s", CALIBRATION_GROUP,
                         path);
    if (file >= 0 && H5Fclose(file) < 0 && rc == CDNOPT_OK)
        rc = cdnopt_fail(err, CDNOPT_EIO, "failed to close %s after writing %s", path,
                         CALIBRATION_GROUP);

    hdf5_quiet_end(&quiet);
    return rc;
}

static int read_attr_double(hid_t group, const char *name, double *value)
{
    if (H5Aexists(group, name) <= 0)
        return -1;
    hid_t attr = H5Aopen(group, name, H5P_DEFAULT);
    if (attr < 0)
        return -1;
    herr_t status = H5Aread(attr, H5T_NATIVE_DOUBLE, value);
    H5Aclose(attr);
    return status < 0 || !isfinite(*value) ? -1 : 0;
}

/* Header of a stored calibration, checked before any allocation. */
typedef struct stored_header {
    double kind, level, coverage_raw, coverage_calibrated, n_origins;
} stored_header;

/* Read and range-check the attributes; returns the name of the first bad one, or NULL. */
static const char *read_header(hid_t group, stored_header *hd)
{
    if (read_attr_double(group, "kind", &hd->kind) < 0 ||
        (hd->kind != CDNOPT_CALIB_SCALE && hd->kind != CDNOPT_CALIB_SHIFT &&
         hd->kind != CDNOPT_CALIB_RELATIVE))
        return "kind";
    if (read_attr_double(group, "level", &hd->level) < 0 || !(hd->level > 0 && hd->level < 1))
        return "level";
    if (read_attr_double(group, "coverage_raw", &hd->coverage_raw) < 0)
        return "coverage_raw";
    if (read_attr_double(group, "coverage_calibrated", &hd->coverage_calibrated) < 0)
        return "coverage_calibrated";
    if (read_attr_double(group, "n_origins", &hd->n_origins) < 0 || !(hd->n_origins >= 1))
        return "n_origins";
    return NULL;
}

static int factor_length(hid_t set, size_t *horizon)
{
    hid_t space = H5Dget_space(set);
    hsize_t dims[1] = {0};
    int rank = H5Sget_simple_extent_ndims(space);
    if (rank == 1)
        H5Sget_simple_extent_dims(space, dims, NULL);
    H5Sclose(space);
    *horizon = (size_t)dims[0];
    return rank == 1 && dims[0] >= 1 && dims[0] <= CALIBRATION_MAX_HORIZON ? 0 : -1;
}

/* Scale and relative factors multiply the spread or level of the forecast, so one
 * above CALIBRATION_MAX_FACTOR is a damaged file or a degenerate training set, not a
 * calibration. Shift factors are in series units and have no such bound. */
static double max_factor(const cdnopt_calibration *c)
{
    return c->kind == CDNOPT_CALIB_SHIFT ? INFINITY : CALIBRATION_MAX_FACTOR;
}

/* Index of the first factor that is not finite, negative or above max_factor, or the
 * horizon when all are valid. */
static size_t first_bad_factor(const cdnopt_calibration *c)
{
    double top = max_factor(c);
    for (size_t h = 0; h < c->horizon; h++) {
        if (!isfinite(c->factor[h]) || c->factor[h] < 0 || c->factor[h] > top)
            return h;
    }
    return c->horizon;
}

int cdnopt_calibration_check_factors(const cdnopt_calibration *c, char *err)
{
    size_t h = first_bad_factor(c);
    if (h == c->horizon)
        return CDNOPT_OK;
    return cdnopt_fail(err, CDNOPT_EINVAL,
                       "calibration factor %zu is %g, outside 0 to %g: the training series give "
                       "no usable error scale, which a constant or all-zero series can cause; "
                       "remove such series and train again",
                       h, c->factor[h], max_factor(c));
}

static int read_factors(hid_t group, const stored_header *hd, const char *path,
                        cdnopt_calibration *out, char *err)
{
    hid_t set = H5Dopen2(group, "factor", H5P_DEFAULT);
    if (set < 0)
        return cdnopt_fail(err, CDNOPT_EPARSE,
                           "%s: dataset %s/factor is missing; run cdnopt train again", path,
                           CALIBRATION_GROUP);
    size_t horizon = 0;
    int rc = CDNOPT_OK;
    if (factor_length(set, &horizon) < 0)
        rc = cdnopt_fail(err, CDNOPT_EPARSE,
                         "%s: dataset %s/factor must be one-dimensional with 1 to %d entries",
                         path, CALIBRATION_GROUP, CALIBRATION_MAX_HORIZON);
    else if (cdnopt_calibration_init(out, (enum cdnopt_calib_kind)hd->kind, hd->level,
                                     horizon) != CDNOPT_OK)
        rc = cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory for %zu calibration factors",
                         horizon);
    else if (H5Dread(set, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, out->factor) < 0)
        rc = cdnopt_fail(err, CDNOPT_EIO,
                         "%s: failed to read %s/factor, so the file is damaged; train the "
                         "model again or restore the file from a copy",
                         path, CALIBRATION_GROUP);
    H5Dclose(set);

    if (rc == CDNOPT_OK && first_bad_factor(out) < horizon) {
        size_t h = first_bad_factor(out);
        rc = cdnopt_fail(err, CDNOPT_EPARSE,
                         "%s: %s/factor[%zu] is %g; expected a finite value from 0 to %g, so "
                         "train the model again",
                         path, CALIBRATION_GROUP, h, out->factor[h], max_factor(out));
    }
    return rc;
}

static int read_group(hid_t file, const char *path, cdnopt_calibration *out, char *err)
{
    /* A negative result is a read error, not absence, because the root group is
     * damaged. Falling back to raw intervals would hide that behind narrower bounds. */
    htri_t exists = H5Lexists(file, CALIBRATION_GROUP, H5P_DEFAULT);
    if (exists == 0)
        return cdnopt_fail(err, CDNOPT_ENOTFOUND,
                           "%s has no %s group: it was saved without calibration; run cdnopt "
                           "train to make a calibrated model",
                           path, CALIBRATION_GROUP);
    hid_t group = exists > 0 ? H5Gopen2(file, CALIBRATION_GROUP, H5P_DEFAULT) : -1;
    if (group < 0)
        return cdnopt_fail(err, CDNOPT_EIO,
                           "%s: group %s cannot be read, so the file is damaged (a checksum "
                           "failed or it was cut short); train the model again or restore the "
                           "file from a copy",
                           path, CALIBRATION_GROUP);

    stored_header hd;
    int rc = CDNOPT_OK;
    const char *bad = read_header(group, &hd);
    if (bad != NULL)
        rc = cdnopt_fail(err, CDNOPT_EPARSE,
                         "%s: attribute %s/%s is missing or out of range; run cdnopt train again",
                         path, CALIBRATION_GROUP, bad);
    else
        rc = read_factors(group, &hd, path, out, err);
    H5Gclose(group);
    if (rc != CDNOPT_OK)
        return rc;

    out->coverage_raw = hd.coverage_raw;
    out->coverage_calibrated = hd.coverage_calibrated;
    out->n_origins = (size_t)hd.n_origins;
    return CDNOPT_OK;
}

int cdnopt_pipeline_calibration_load(const char *path, cdnopt_calibration *out, char *err)
{
    memset(out, 0, sizeof *out);
    hdf5_quiet quiet;
    hdf5_quiet_begin(&quiet);

    int rc = CDNOPT_OK;
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0)
        rc = cdnopt_fail(err, CDNOPT_EIO, "cannot open model file %s: missing or not HDF5",
                         path);
    else
        rc = read_group(file, path, out, err);
    if (file >= 0)
        H5Fclose(file);
    hdf5_quiet_end(&quiet);

    if (rc != CDNOPT_OK)
        cdnopt_calibration_fini(out);
    return rc;
}
