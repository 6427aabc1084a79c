/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Model files in HDF5. Layout (h5dump shows all of it):
 *   /            attributes format = "cdnopt-model", format_version = 1, arch, arch_name,
 *                step_s, n_features and every hyper-parameter of cdnopt_model_params
 *                (head, horizon and head_base are absent in files written before the
 *                direct head; such files load with the recursive head)
 *   /scaler      attributes min, max (series units)
 *   /training    attributes epochs_run, best_epoch, best_val_loss, last_train_loss,
 *                train_t0, train_t1 (civil seconds), train_n, shrink (the direct head's
 *                correction factor, informational; absent in older files)
 *   /weights/... one float32 dataset per tensor of the parameter set, named after it
 *                (tensor "lstm1/kernel" is dataset /weights/lstm1/kernel), with its shape
 *   /resume      only in training checkpoints: attribute adam_t (Adam updates applied)
 *                and float32 datasets adam_m, adam_v (Adam's moments) and best (the best
 *                epoch's weights), each [1, weights] in the order of the parameter set
 * Loading rebuilds the layers from the attributes and checks every dataset's shape
 * against it. Other groups (a /calibration group written by another module) are
 * left alone. HDF5's own error printing is switched off; errors go through err.
 */
#include "model-impl.h"

#include "cdnopt/h5file.h"

#include <hdf5.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- writing ---- */

static const char *arch_name(cdnopt_arch arch)
{
    return arch == CDNOPT_ARCH_TRANSFORMER ? "transformer" : "residual_lstm";
}

static herr_t write_root_attrs(hid_t file, const cdnopt_model *m)
{
    const cdnopt_model_params *p = &m->p;

    herr_t rc = cdnopt_h5_put_text(file, "format", MODEL_FORMAT_NAME);
    rc |= cdnopt_h5_put_i64(file, "format_version", MODEL_FORMAT_VERSION);
    rc |= cdnopt_h5_put_i64(file, "arch", p->arch);
    rc |= cdnopt_h5_put_text(file, "arch_name", arch_name(p->arch));
    rc |= cdnopt_h5_put_i64(file, "step_s", m->step_s);
    rc |= cdnopt_h5_put_i64(file, "n_features", m->n_features);
    rc |= cdnopt_h5_put_i64(file, "window", p->window);
    rc |= cdnopt_h5_put_i64(file, "units", p->units);
    rc |= cdnopt_h5_put_f64(file, "dropout", p->dropout);
    rc |= cdnopt_h5_put_i64(file, "calendar", p->calendar);
    rc |= cdnopt_h5_put_i64(file, "seasonal_lag", p->seasonal_lag);
    rc |= cdnopt_h5_put_i64(file, "batch", p->batch);
    rc |= cdnopt_h5_put_f64(file, "learning_rate", p->learning_rate);
    rc |= cdnopt_h5_put_i64(file, "epochs", p->epochs);
    rc |= cdnopt_h5_put_f64(file, "val_fraction", p->val_fraction);
    rc |= cdnopt_h5_put_i64(file, "patience", p->patience);
    rc |= cdnopt_h5_put_f64(file, "clip_norm", p->clip_norm);
    rc |= cdnopt_h5_put_i64(file, "d_model", p->d_model);
    rc |= cdnopt_h5_put_i64(file, "n_head", p->n_head);
    rc |= cdnopt_h5_put_i64(file, "max_windows", p->max_windows);
    rc |= cdnopt_h5_put_u64(file, "seed", p->seed);
    rc |= cdnopt_h5_put_i64(file, "head", p->head);
    rc |= cdnopt_h5_put_i64(file, "horizon", p->horizon);
    rc |= cdnopt_h5_put_i64(file, "head_base", p->base);
    if (m->unit[0] != '\0')
        rc |= cdnopt_h5_put_text(file, "unit", m->unit);
    return rc < 0 ? -1 : 0;
}

static herr_t write_meta_groups(hid_t file, const cdnopt_model *m)
{
    hid_t scaler = H5Gcreate2(file, "scaler", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (scaler < 0)
        return -1;
    herr_t rc = cdnopt_h5_put_f64(scaler, "min", m->scale_min);
    rc |= cdnopt_h5_put_f64(scaler, "max", m->scale_max);
    H5Gclose(scaler);

    hid_t training = H5Gcreate2(file, "training", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (training < 0)
        return -1;
    const model_training_info *info = &m->info;
    rc |= cdnopt_h5_put_i64(training, "epochs_run", info->epochs_run);
    rc |= cdnopt_h5_put_i64(training, "best_epoch", info->best_epoch);
    rc |= cdnopt_h5_put_f64(training, "best_val_loss", info->best_val_loss);
    rc |= cdnopt_h5_put_f64(training, "last_train_loss", info->last_train_loss);
    rc |= cdnopt_h5_put_i64(training, "train_t0", info->train_t0);
    rc |= cdnopt_h5_put_i64(training, "train_t1", info->train_t1);
    rc |= cdnopt_h5_put_i64(training, "train_n", info->train_n);
    rc |= cdnopt_h5_put_f64(training, "shrink", info->shrink);
    H5Gclose(training);
    return rc < 0 ? -1 : 0;
}

/* Tensor "lstm1/kernel" becomes dataset /weights/lstm1/kernel. The checksum of each
 * makes a damaged weight fail the read instead of giving absurd forecasts. */
static herr_t write_weights(hid_t file, const cdnopt_model *m)
{
    hid_t group = H5Gcreate2(file, "weights", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (group < 0)
        return -1;
    herr_t rc = cdnopt_h5_put_params(group, m->ps);
    if (H5Gclose(group) < 0)
        rc = -1;
    return rc;
}

/* The state a resumed fit needs (see model_resume); written only while a fit runs. */
static herr_t write_resume(hid_t file, const cdnopt_model *m)
{
    const model_resume *rs = &m->resume;
    size_t n = cdnopt_params_count(m->ps);
    hid_t group = H5Gcreate2(file, "resume", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (group < 0)
        return -1;
    herr_t rc = cdnopt_h5_put_u64(group, "adam_t", rs->adam_t);
    rc |= cdnopt_h5_put_f32_matrix(group, "adam_m", H5P_DEFAULT, 1, n, rs->adam_m);
    rc |= cdnopt_h5_put_f32_matrix(group, "adam_v", H5P_DEFAULT, 1, n, rs->adam_v);
    rc |= cdnopt_h5_put_f32_matrix(group, "best", H5P_DEFAULT, 1, n, rs->best);
    if (H5Gclose(group) < 0)
        rc = -1;
    return rc < 0 ? -1 : 0;
}

int cdnopt_model_save(const cdnopt_model *m, const char *path, char *err)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);

    hid_t file = cdnopt_h5_create(path);
    if (file < 0)
        return cdnopt_fail(err, CDNOPT_EIO,
                           "cannot create model file '%s'; check that its folder exists and "
                           "is writable", path);

    herr_t rc = write_root_attrs(file, m);
    if (rc >= 0)
        rc = write_meta_groups(file, m);
    if (rc >= 0)
        rc = write_weights(file, m);
    if (rc >= 0 && m->resume.adam_m != NULL)
        rc = write_resume(file, m);
    if (H5Fclose(file) < 0)
        rc = -1;

    if (rc < 0) {
        remove(path);
        return cdnopt_fail(err, CDNOPT_EIO,
                           "failed writing model file '%s' (disk full or I/O error); the "
                           "partial file was removed", path);
    }
    return CDNOPT_OK;
}

/* ---- reading ---- */

/* True when every link along path exists; H5Dopen2 on a missing link would fail
 * without telling which part is missing. */
static htri_t links_exist(hid_t file, const char *path)
{
    char prefix[256];
    size_t n = strlen(path);
    if (n >= sizeof prefix)
        return 0;
    for (size_t i = 0; i <= n; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        memcpy(prefix, path, i);
        prefix[i] = '\0';
        htri_t found = H5Lexists(file, prefix, H5P_DEFAULT);
        if (found <= 0)
            return found;
    }
    return 1;
}

typedef struct reader {
    hid_t file;
    const char *path;
    char *err;
} reader;

/* Report an object HDF5 found but could not read: in the checksummed format that
 * means a damaged header, in the older one a damaged or truncated file. */
static int damaged(const reader *r, const char *where, const char *name)
{
    return cdnopt_fail(r->err, CDNOPT_EIO,
                       "model file '%s': %s%s cannot be read, so the file is damaged (a "
                       "checksum failed or it was cut short); train the model again or restore "
                       "the file from a copy", r->path, where, name);
}

/* Open group /name of the file, telling a missing group from a damaged one. */
static int open_group(const reader *r, const char *name, hid_t *group)
{
    htri_t exists = H5Lexists(r->file, name, H5P_DEFAULT);
    if (exists == 0)
        return cdnopt_fail(r->err, CDNOPT_EPARSE, "model file '%s': group /%s is missing",
                           r->path, name);
    *group = exists > 0 ? H5Gopen2(r->file, name, H5P_DEFAULT) : -1;
    return *group < 0 ? damaged(r, "group /", name) : CDNOPT_OK;
}

/* Read a scalar numeric attribute of loc (named where for messages) as type. */
static int read_attr(const reader *r, hid_t loc, const char *where, const char *name,
                     hid_t mem_type, void *value)
{
    htri_t exists = H5Aexists(loc, name);
    if (exists < 0)
        return damaged(r, where, name);
    if (exists == 0)
        return cdnopt_fail(r->err, CDNOPT_EPARSE,
                           "model file '%s': attribute %s%s is missing; the file is incomplete "
                           "or was not written by cdnopt", r->path, where, name);

    hid_t attr = H5Aopen(loc, name, H5P_DEFAULT);
    hid_t type = attr < 0 ? -1 : H5Aget_type(attr);
    hid_t space = attr < 0 ? -1 : H5Aget_space(attr);
    bool numeric = type >= 0 && (H5Tget_class(type) == H5T_INTEGER ||
                                 H5Tget_class(type) == H5T_FLOAT);
    bool scalar = space >= 0 && H5Sget_simple_extent_npoints(space) == 1;
    herr_t rc = numeric && scalar ? H5Aread(attr, mem_type, value) : -1;
    if (space >= 0)
        H5Sclose(space);
    if (type >= 0)
        H5Tclose(type);
    if (attr >= 0)
        H5Aclose(attr);

    if (rc < 0)
        return cdnopt_fail(r->err, CDNOPT_EPARSE,
                           "model file '%s': attribute %s%s is not a single number", r->path,
                           where, name);
    return CDNOPT_OK;
}

static int read_int(const reader *r, hid_t loc, const char *where, const char *name,
                    int64_t *value)
{
    return read_attr(r, loc, where, name, H5T_NATIVE_INT64, value);
}

static int read_double(const reader *r, hid_t loc, const char *where, const char *name,
                       double *value)
{
    return read_attr(r, loc, where, name, H5T_NATIVE_DOUBLE, value);
}

/* Read a string attribute into buf (truncated to buf_size - 1 characters). */
static int read_string(const reader *r, const char *name, char *buf, size_t buf_size)
{
    htri_t exists = H5Aexists(r->file, name);
    if (exists < 0)
        return damaged(r, "root attribute ", name);
    if (exists == 0)
        return cdnopt_fail(r->err, CDNOPT_EPARSE,
                           "model file '%s': root attribute '%s' is missing; this is not a "
                           "cdnopt model file", r->path, name);

    hid_t attr = H5Aopen(r->file, name, H5P_DEFAULT);
    hid_t type = attr < 0 ? -1 : H5Aget_type(attr);
    herr_t rc = -1;
    if (type >= 0 && H5Tget_class(type) == H5T_STRING && !H5Tis_variable_str(type)) {
        size_t n = H5Tget_size(type);
        char tmp[256] = "";
        if (n < sizeof tmp) {
            hid_t mem = H5Tcopy(H5T_C_S1);
            H5Tset_size(mem, n + 1);
            rc = H5Aread(attr, mem, tmp);
            H5Tclose(mem);
            snprintf(buf, buf_size, "%s", tmp);
        }
    }
    if (type >= 0)
        H5Tclose(type);
    if (attr >= 0)
        H5Aclose(attr);

    if (rc < 0)
        return cdnopt_fail(r->err, CDNOPT_EPARSE,
                           "model file '%s': root attribute '%s' is not a fixed-length string "
                           "of under 256 bytes", r->path, name);
    return CDNOPT_OK;
}

static int check_format(const reader *r)
{
    char format[256];
    int rc = read_string(r, "format", format, sizeof format);
    if (rc != CDNOPT_OK)
        return rc;
    if (strcmp(format, MODEL_FORMAT_NAME) != 0)
        return cdnopt_fail(r->err, CDNOPT_EPARSE,
                           "model file '%s': format is '%s' but expected '%s'; this HDF5 file "
                           "is not a cdnopt model", r->path, format, MODEL_FORMAT_NAME);

    int64_t version = 0;
    rc = read_int(r, r->file, "/", "format_version", &version);
    if (rc != CDNOPT_OK)
        return rc;
    if (version != MODEL_FORMAT_VERSION)
        return cdnopt_fail(r->err, CDNOPT_EPARSE,
                           "model file '%s': format_version is %lld but this cdnopt reads "
                           "version %d; retrain the model or use a matching cdnopt",
                           r->path, (long long)version, MODEL_FORMAT_VERSION);
    return CDNOPT_OK;
}

/* Integer attribute with its valid range. The limits are those that cdnopt_model_new()
 * enforces, checked on the 64-bit value before anything is narrowed to int. */
typedef struct int_attr {
    const char *name;
    int64_t min;
    int64_t max;
    int64_t value; /* OUT */
} int_attr;

/* Read attribute a of loc (named where for messages) and check its range. */
static int read_int_at(const reader *r, hid_t loc, const char *where, int_attr *a)
{
    int rc = read_int(r, loc, where, a->name, &a->value);
    if (rc != CDNOPT_OK)
        return rc;
    if (a->value < a->min || a->value > a->max)
        return cdnopt_fail(r->err, CDNOPT_EPARSE,
                           "model file '%s': attribute %s%s is %lld, outside the valid range "
                           "%lld..%lld; the file is damaged or was not written by this cdnopt",
                           r->path, where, a->name, (long long)a->value, (long long)a->min,
                           (long long)a->max);
    return CDNOPT_OK;
}

static int read_int_in_range(const reader *r, int_attr *a)
{
    return read_int_at(r, r->file, "/", a);
}

/* Read the head attributes. Files written before the direct head have none of them
 * and load as recursive; a file with some but not all of them is damaged. */
static int read_head(const reader *r, cdnopt_model_params *p)
{
    if (H5Aexists(r->file, "head") <= 0) {
        p->head = CDNOPT_HEAD_RECURSIVE;
        return CDNOPT_OK;
    }

    int_attr head = {"head", CDNOPT_HEAD_RECURSIVE, CDNOPT_HEAD_DIRECT, 0};
    int_attr base = {"head_base", CDNOPT_BASE_LAST, CDNOPT_BASE_SEASONAL, 0};
    int rc = read_int_in_range(r, &head);
    if (rc == CDNOPT_OK)
        rc = read_int_in_range(r, &base);
    if (rc != CDNOPT_OK)
        return rc;

    /* Saving resolves a direct head's horizon of 0 to one day, so a stored direct
     * head has at least one step. The recursive head ignores the value. */
    int_attr horizon = {"horizon", head.value == CDNOPT_HEAD_DIRECT ? 1 : 0, 100000, 0};
    rc = read_int_in_range(r, &horizon);
    if (rc != CDNOPT_OK)
        return rc;

    p->head = (cdnopt_head)head.value;
    p->horizon = (int)horizon.value;
    p->base = (cdnopt_head_base)base.value;
    return CDNOPT_OK;
}

enum {
    ATTR_ARCH, ATTR_WINDOW, ATTR_UNITS, ATTR_CALENDAR, ATTR_SEASONAL_LAG, ATTR_BATCH,
    ATTR_EPOCHS, ATTR_PATIENCE, ATTR_D_MODEL, ATTR_N_HEAD, ATTR_MAX_WINDOWS, ATTR_STEP_S,
    ATTR_N_FEATURES, N_INT_ATTRS
};

/* Read the integer fields of cdnopt_model_params, the step and the feature count.
 * d_model and n_head are checked exactly by cdnopt__model_build() for the
 * transformer; the residual LSTM stores and ignores them. */
static int read_int_params(const reader *r, cdnopt_model_params *p, int64_t *step_s,
                           int64_t *n_features)
{
    int_attr ints[N_INT_ATTRS] = {
        [ATTR_ARCH] = {"arch", CDNOPT_ARCH_RESIDUAL_LSTM, CDNOPT_ARCH_TRANSFORMER, 0},
        [ATTR_WINDOW] = {"window", 0, 100000, 0},
        [ATTR_UNITS] = {"units", 1, 4096, 0},
        [ATTR_CALENDAR] = {"calendar", 0, 1, 0},
        [ATTR_SEASONAL_LAG] = {"seasonal_lag", 0, 1, 0},
        [ATTR_BATCH] = {"batch", 1, 65536, 0},
        [ATTR_EPOCHS] = {"epochs", 1, INT_MAX, 0},
        [ATTR_PATIENCE] = {"patience", 1, INT_MAX, 0},
        [ATTR_D_MODEL] = {"d_model", 0, 4096, 0},
        [ATTR_N_HEAD] = {"n_head", 0, 4096, 0},
        [ATTR_MAX_WINDOWS] = {"max_windows", 0, INT_MAX, 0},
        [ATTR_STEP_S] = {"step_s", 1, MODEL_SECONDS_PER_DAY, 0},
        [ATTR_N_FEATURES] = {"n_features", 1, 6, 0},
    };
    for (size_t i = 0; i < N_INT_ATTRS; i++) {
        int rc = read_int_in_range(r, &ints[i]);
        if (rc != CDNOPT_OK)
            return rc;
    }

    p->arch = (cdnopt_arch)ints[ATTR_ARCH].value;
    p->window = (int)ints[ATTR_WINDOW].value;
    p->units = (int)ints[ATTR_UNITS].value;
    p->calendar = ints[ATTR_CALENDAR].value != 0;
    p->seasonal_lag = ints[ATTR_SEASONAL_LAG].value != 0;
    p->batch = (int)ints[ATTR_BATCH].value;
    p->epochs = (int)ints[ATTR_EPOCHS].value;
    p->patience = (int)ints[ATTR_PATIENCE].value;
    p->d_model = (int)ints[ATTR_D_MODEL].value;
    p->n_head = (int)ints[ATTR_N_HEAD].value;
    p->max_windows = (int)ints[ATTR_MAX_WINDOWS].value;
    *step_s = ints[ATTR_STEP_S].value;
    *n_features = ints[ATTR_N_FEATURES].value;
    return read_head(r, p);
}

/* Read every hyper-parameter of cdnopt_model_params. Integers out of the ranges above
 * are rejected here. The parameter check in cdnopt__model_build() does the rest
 * (dropout, learning rate and combinations). */
static int read_params(const reader *r, cdnopt_model_params *p, int64_t *step_s,
                       int64_t *n_features)
{
    int rc = read_int_params(r, p, step_s, n_features);
    if (rc != CDNOPT_OK)
        return rc;

    double dropout, learning_rate, val_fraction, clip_norm;
    rc = read_double(r, r->file, "/", "dropout", &dropout);
    if (rc == CDNOPT_OK)
        rc = read_double(r, r->file, "/", "learning_rate", &learning_rate);
    if (rc == CDNOPT_OK)
        rc = read_double(r, r->file, "/", "val_fraction", &val_fraction);
    if (rc == CDNOPT_OK)
        rc = read_double(r, r->file, "/", "clip_norm", &clip_norm);
    if (rc == CDNOPT_OK)
        rc = read_attr(r, r->file, "/", "seed", H5T_NATIVE_UINT64, &p->seed);
    if (rc != CDNOPT_OK)
        return rc;

    p->dropout = (float)dropout;
    p->learning_rate = (float)learning_rate;
    p->val_fraction = (float)val_fraction;
    p->clip_norm = (float)clip_norm;
    return CDNOPT_OK;
}

static int read_meta_groups(const reader *r, cdnopt_model *m)
{
    hid_t scaler;
    int rc = open_group(r, "scaler", &scaler);
    if (rc != CDNOPT_OK)
        return rc;
    rc = read_double(r, scaler, "/scaler/", "min", &m->scale_min);
    if (rc == CDNOPT_OK)
        rc = read_double(r, scaler, "/scaler/", "max", &m->scale_max);
    H5Gclose(scaler);
    if (rc != CDNOPT_OK)
        return rc;
    if (!(isfinite(m->scale_min) && isfinite(m->scale_max) && m->scale_max > m->scale_min))
        return cdnopt_fail(r->err, CDNOPT_EPARSE,
                           "model file '%s': scaler range [%g, %g] is invalid; max must exceed "
                           "min", r->path, m->scale_min, m->scale_max);

    hid_t training;
    rc = open_group(r, "training", &training);
    if (rc != CDNOPT_OK)
        return rc;
    int_attr epochs_run = {"epochs_run", 0, INT_MAX, 0};
    int_attr best_epoch = {"best_epoch", 0, INT_MAX, 0};
    model_training_info *info = &m->info;
    rc = read_int_at(r, training, "/training/", &epochs_run);
    if (rc == CDNOPT_OK)
        rc = read_int_at(r, training, "/training/", &best_epoch);
    if (rc == CDNOPT_OK)
        rc = read_double(r, training, "/training/", "best_val_loss", &info->best_val_loss);
    if (rc == CDNOPT_OK)
        rc = read_double(r, training, "/training/", "last_train_loss", &info->last_train_loss);
    if (rc == CDNOPT_OK)
        rc = read_int(r, training, "/training/", "train_t0", &info->train_t0);
    if (rc == CDNOPT_OK)
        rc = read_int(r, training, "/training/", "train_t1", &info->train_t1);
    if (rc == CDNOPT_OK)
        rc = read_int(r, training, "/training/", "train_n", &info->train_n);

    /* Only the weights use the factor, so a file without it (written before the
     * direct head) reads as 1. */
    if (rc == CDNOPT_OK && H5Aexists(training, "shrink") > 0)
        rc = read_double(r, training, "/training/", "shrink", &info->shrink);
    H5Gclose(training);
    info->epochs_run = (int)epochs_run.value;
    info->best_epoch = (int)best_epoch.value;
    return rc;
}

static void format_shape(char *buf, size_t n, int rank, const hsize_t *dims)
{
    if (rank == 1)
        snprintf(buf, n, "[%llu]", (unsigned long long)dims[0]);
    else if (rank == 2)
        snprintf(buf, n, "[%llu, %llu]", (unsigned long long)dims[0], (unsigned long long)dims[1]);
    else
        snprintf(buf, n, "(rank %d)", rank);
}

/*
 * Read dataset /path as float into dst when its shape is [rows, cols]. A missing or
 * unreadable dataset is an error. Another shape sets *same to false and describes the
 * shape found in found_text, so that the caller can word the error.
 */
static int read_matrix(const reader *r, const char *path, size_t rows, size_t cols, float *dst,
                       bool *same, char *found_text, size_t found_size)
{
    htri_t exists = links_exist(r->file, path);
    if (exists < 0)
        return damaged(r, "dataset /", path);
    if (exists == 0)
        return cdnopt_fail(r->err, CDNOPT_EPARSE, "model file '%s': dataset /%s is missing",
                           r->path, path);
    hid_t set = H5Dopen2(r->file, path, H5P_DEFAULT);
    if (set < 0)
        return cdnopt_fail(r->err, CDNOPT_EPARSE, "model file '%s': /%s is not a dataset",
                           r->path, path);

    hsize_t found[H5S_MAX_RANK] = {0};
    hid_t space = H5Dget_space(set);
    int rank = space < 0 ? -1 : H5Sget_simple_extent_ndims(space);
    if (rank >= 0 && rank <= H5S_MAX_RANK)
        H5Sget_simple_extent_dims(space, found, NULL);
    *same = rank == 2 && found[0] == (hsize_t)rows && found[1] == (hsize_t)cols;
    format_shape(found_text, found_size, rank, found);

    herr_t rc = -1;
    if (*same)
        rc = H5Dread(set, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, dst);
    if (space >= 0)
        H5Sclose(space);
    H5Dclose(set);

    if (*same && rc < 0)
        return cdnopt_fail(r->err, CDNOPT_EIO,
                           "model file '%s': cannot read dataset /%s as float; the file is "
                           "truncated or damaged (its checksum does not match): train the "
                           "model again or restore the file", r->path, path);
    return CDNOPT_OK;
}

static int read_tensor(const reader *r, cdnopt_model *m, const cdnopt_param_tensor *t)
{
    char path[256];
    snprintf(path, sizeof path, "weights/%s", t->name);
    bool same = false;
    char found_text[64];
    int rc = read_matrix(r, path, t->n_rows, t->n_cols, cdnopt_params_values(m->ps) + t->offset,
                         &same, found_text, sizeof found_text);
    if (rc != CDNOPT_OK || same)
        return rc;

    char want_text[64];
    hsize_t want[2] = {(hsize_t)t->n_rows, (hsize_t)t->n_cols};
    format_shape(want_text, sizeof want_text, 2, want);
    return cdnopt_fail(r->err, CDNOPT_ESHAPE,
                       "model file '%s': dataset /%s has shape %s but the architecture in "
                       "its attributes (units %d, %d input features) needs %s", r->path, path,
                       found_text, m->p.units, m->n_features, want_text);
}

static int read_weights(const reader *r, cdnopt_model *m)
{
    size_t n = cdnopt_params_n_tensors(m->ps);
    for (size_t i = 0; i < n; i++) {
        cdnopt_param_tensor t;
        cdnopt_params_tensor(m->ps, i, &t);
        int rc = read_tensor(r, m, &t);
        if (rc != CDNOPT_OK)
            return rc;
    }

    const float *values = cdnopt_params_values_const(m->ps);
    for (size_t i = 0; i < cdnopt_params_count(m->ps); i++)
        if (!isfinite(values[i]))
            return cdnopt_fail(r->err, CDNOPT_EPARSE,
                               "model file '%s': weight %zu is NaN or Inf; the model was saved "
                               "from a diverged training run", r->path, i);
    return CDNOPT_OK;
}

/* Read the moments and the best weights of /resume into the model's own storage. */
static int read_resume_arrays(const reader *r, cdnopt_model *m)
{
    static const char *const names[3] = {"resume/adam_m", "resume/adam_v", "resume/best"};
    size_t n = cdnopt_params_count(m->ps);
    model_resume *rs = &m->resume;
    rs->storage = cdnopt_malloc(3 * n * sizeof *rs->storage);
    if (rs->storage == NULL)
        return cdnopt_fail(r->err, CDNOPT_ENOMEM, "model file '%s': out of memory reading "
                           "/resume (%zu weights)", r->path, n);

    for (size_t k = 0; k < 3; k++) {
        bool same = false;
        char found_text[64];
        int rc = read_matrix(r, names[k], 1, n, rs->storage + k * n, &same, found_text,
                             sizeof found_text);
        if (rc != CDNOPT_OK)
            return rc;
        if (!same)
            return cdnopt_fail(r->err, CDNOPT_ESHAPE,
                               "model file '%s': dataset /%s has shape %s but the model has "
                               "%zu weights, so it needs [1, %zu]; the checkpoint is damaged: "
                               "resume from an earlier one or train afresh", r->path, names[k],
                               found_text, n, n);
    }
    for (size_t i = 0; i < 3 * n; i++)
        if (!isfinite(rs->storage[i]) || (i >= n && i < 2 * n && rs->storage[i] < 0.0f))
            return cdnopt_fail(r->err, CDNOPT_EPARSE,
                               "model file '%s': value %zu of /%s is %g, which no training "
                               "run writes; resume from an earlier checkpoint or train afresh",
                               r->path, i % n, names[i / n], (double)rs->storage[i]);
    rs->adam_m = rs->storage;
    rs->adam_v = rs->storage + n;
    rs->best = rs->storage + 2 * n;
    return CDNOPT_OK;
}

/* The state a resumed fit needs; only checkpoints have /resume (see model_resume). */
static int read_resume(const reader *r, cdnopt_model *m)
{
    htri_t exists = H5Lexists(r->file, "resume", H5P_DEFAULT);
    if (exists < 0)
        return damaged(r, "group /", "resume");
    if (exists == 0)
        return CDNOPT_OK;
    /* A fit writes checkpoints only at the end of its epochs 1 to epochs. */
    if (m->info.best_epoch < 1 || m->info.best_epoch > m->info.epochs_run ||
        m->info.epochs_run > m->p.epochs)
        return cdnopt_fail(r->err, CDNOPT_EPARSE,
                           "model file '%s': a checkpoint needs 1 <= best_epoch <= epochs_run "
                           "in /training <= the root attribute epochs, but they are %d, %d and "
                           "%d; resume from an earlier checkpoint or train afresh",
                           r->path, m->info.best_epoch, m->info.epochs_run, m->p.epochs);

    hid_t group;
    int rc = open_group(r, "resume", &group);
    if (rc != CDNOPT_OK)
        return rc;
    uint64_t adam_t = 0;
    rc = read_attr(r, group, "/resume/", "adam_t", H5T_NATIVE_UINT64, &adam_t);
    H5Gclose(group);
    if (rc == CDNOPT_OK)
        rc = read_resume_arrays(r, m);
    if (rc != CDNOPT_OK) {
        cdnopt__model_clear_resume(m);
        return rc;
    }
    m->resume.adam_t = adam_t;
    return CDNOPT_OK;
}

/* The unit of the training data; files written before models kept one have none. */
static int read_unit(const reader *r, cdnopt_model *m)
{
    htri_t exists = H5Aexists(r->file, "unit");
    if (exists < 0)
        return damaged(r, "root attribute ", "unit");
    if (exists == 0)
        return CDNOPT_OK;
    char unit[256];
    int rc = read_string(r, "unit", unit, sizeof unit);
    if (rc == CDNOPT_OK && cdnopt_model_set_unit(m, unit) != CDNOPT_OK)
        rc = cdnopt_fail(r->err, CDNOPT_EPARSE,
                         "model file '%s': root attribute 'unit' ('%s') is too long for a unit "
                         "name", r->path, unit);
    return rc;
}

/* Build the model from an open, format-checked file. */
static int read_model(const reader *r, cdnopt_model **out)
{
    cdnopt_model_params p = cdnopt_model_params_default();
    int64_t step_s = 0, n_features = 0;
    int rc = read_params(r, &p, &step_s, &n_features);
    if (rc != CDNOPT_OK)
        return rc;

    char why[CDNOPT_ERRMSG_MAX];
    cdnopt_model *m = NULL;
    rc = cdnopt__model_build(&p, step_s, &m, why);
    if (rc != CDNOPT_OK)
        return cdnopt_fail(r->err, rc == CDNOPT_ENOMEM ? rc : CDNOPT_EPARSE,
                           "model file '%s': %s", r->path, why);
    /* Copy what the message needs before the model is freed. */
    int built_features = m->n_features;
    if (n_features != built_features) {
        cdnopt_model_free(m);
        return cdnopt_fail(r->err, CDNOPT_EPARSE,
                           "model file '%s': attribute n_features is %lld but calendar=%d and "
                           "seasonal_lag=%d give %d", r->path, (long long)n_features,
                           p.calendar, p.seasonal_lag, built_features);
    }

    rc = read_meta_groups(r, m);
    if (rc == CDNOPT_OK)
        rc = read_unit(r, m);
    if (rc == CDNOPT_OK)
        rc = read_weights(r, m);
    if (rc == CDNOPT_OK)
        rc = read_resume(r, m);
    if (rc != CDNOPT_OK) {
        cdnopt_model_free(m);
        return rc;
    }
    *out = m;
    return CDNOPT_OK;
}

int cdnopt_model_load(const char *path, cdnopt_model **out, char *err)
{
    *out = NULL;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);

    FILE *probe = fopen(path, "rb");
    if (probe == NULL)
        return cdnopt_fail(err, CDNOPT_EIO, "cannot open model file '%s'; check the path", path);
    fclose(probe);

    htri_t is_hdf5 = H5Fis_hdf5(path);
    if (is_hdf5 <= 0)
        return cdnopt_fail(err, CDNOPT_EIO,
                           "model file '%s' is not an HDF5 file; pass a .h5 file written by "
                           "cdnopt", path);

    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0)
        return cdnopt_fail(err, CDNOPT_EIO,
                           "cannot open model file '%s': the HDF5 file is truncated or damaged; "
                           "save the model again", path);

    reader r = {.file = file, .path = path, .err = err};
    int rc = check_format(&r);
    if (rc == CDNOPT_OK)
        rc = read_model(&r, out);
    H5Fclose(file);
    return rc;
}
