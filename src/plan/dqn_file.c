/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Agent files in HDF5. Layout:
 *   /           attributes format = "cdnopt-agent", format_version = 3, obs_size,
 *               global_actions, local_actions, hidden, mask_hidden, objective, gamma,
 *               lr, clip_norm, batch, target_sync, mask_threshold, use_mask_net,
 *               reward_scale, demo_margin, demo_share, seed, episodes, updates
 * Version 2 changed the observation layout (look-ahead blocks) and the local network's
 * input rows. Version 3 made REACH and LARGEST relative to the best choice. Weights of
 * one version read another's observations wrongly, so older files are rejected.
 *   /<net>/...  one float32 dataset [rows, cols] per tensor of each network, named
 *               after the tensor: nets "global", "local" (online Q-networks) and "mask".
 * Target networks are not stored; loading copies the online weights into them.
 * HDF5's own error printing is switched off and every failure is reported through err.
 */
#include "dqn-impl.h"

#include "cdnopt/h5file.h"

#include <hdf5.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------------- */
/* Writing                                                                   */
/* ------------------------------------------------------------------------- */

static herr_t put_root(hid_t file, const cdnopt_agent *agent)
{
    const cdnopt_agent_params *p = &agent->params;
    herr_t rc = cdnopt_h5_put_text(file, "format", DQN_FORMAT_NAME);
    rc |= cdnopt_h5_put_i64(file, "format_version", DQN_FORMAT_VERSION);
    rc |= cdnopt_h5_put_i64(file, "obs_size", CDNOPT_ENV_OBS);
    rc |= cdnopt_h5_put_i64(file, "global_actions", CDNOPT_ENV_GLOBAL_ACTIONS);
    rc |= cdnopt_h5_put_i64(file, "local_actions", CDNOPT_ENV_LOCAL_ACTIONS);
    rc |= cdnopt_h5_put_i64(file, "hidden", p->hidden);
    rc |= cdnopt_h5_put_i64(file, "mask_hidden", p->mask_hidden);
    rc |= cdnopt_h5_put_i64(file, "objective", p->objective);
    rc |= cdnopt_h5_put_f64(file, "gamma", p->gamma);
    rc |= cdnopt_h5_put_f64(file, "lr", p->lr);
    rc |= cdnopt_h5_put_f64(file, "clip_norm", p->clip_norm);
    rc |= cdnopt_h5_put_i64(file, "batch", p->batch);
    rc |= cdnopt_h5_put_i64(file, "replay_capacity", (int64_t)p->replay_capacity);
    rc |= cdnopt_h5_put_i64(file, "target_sync", p->target_sync);
    rc |= cdnopt_h5_put_f64(file, "mask_threshold", p->mask_threshold);
    rc |= cdnopt_h5_put_i64(file, "use_mask_net", p->use_mask_net);
    rc |= cdnopt_h5_put_f64(file, "reward_scale", p->reward_scale);
    rc |= cdnopt_h5_put_f64(file, "demo_margin", p->demo_margin);
    rc |= cdnopt_h5_put_f64(file, "demo_share", p->demo_share);
    rc |= cdnopt_h5_put_u64(file, "seed", p->seed);
    rc |= cdnopt_h5_put_i64(file, "episodes", agent->episodes);
    rc |= cdnopt_h5_put_u64(file, "updates", agent->updates);
    return rc < 0 ? -1 : 0;
}

/* A checksum per tensor makes a damaged weight fail the read. */
static herr_t put_net(hid_t file, const char *group_name, const dqn_mlp *m)
{
    hid_t group = H5Gcreate2(file, group_name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (group < 0)
        return -1;
    herr_t rc = cdnopt_h5_put_params(group, m->ps);
    if (H5Gclose(group) < 0)
        rc = -1;
    return rc;
}

int cdnopt_agent_save(const cdnopt_agent *agent, const char *path, char *err)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t file = cdnopt_h5_create(path);
    if (file < 0)
        return cdnopt_fail(err, CDNOPT_EIO,
                           "cannot create agent file '%s'; check that its folder exists and "
                           "is writable", path);

    herr_t rc = put_root(file, agent);
    if (rc >= 0)
        rc = put_net(file, "global", &agent->heads[DQN_GLOBAL].online);
    if (rc >= 0)
        rc = put_net(file, "local", &agent->heads[DQN_LOCAL].online);
    if (rc >= 0)
        rc = put_net(file, "mask", &agent->mask);
    if (H5Fclose(file) < 0)
        rc = -1;
    if (rc < 0) {
        remove(path);
        return cdnopt_fail(err, CDNOPT_EIO,
                           "failed writing agent file '%s' (disk full or I/O error); the "
                           "partial file was removed", path);
    }
    return CDNOPT_OK;
}

/* ------------------------------------------------------------------------- */
/* Reading                                                                   */
/* ------------------------------------------------------------------------- */

typedef struct agent_reader {
    hid_t file;
    const char *path;
    char *err;
} agent_reader;

/* Read a scalar numeric root attribute as mem_type. */
static int get_number(const agent_reader *r, const char *name, hid_t mem_type, void *value)
{
    if (H5Aexists(r->file, name) <= 0)
        return cdnopt_fail(r->err, CDNOPT_EPARSE,
                           "agent file '%s': root attribute '%s' is missing; the file is "
                           "incomplete or was not written by cdnopt train-agent",
                           r->path, name);
    hid_t attr = H5Aopen(r->file, name, H5P_DEFAULT);
    hid_t type = attr < 0 ? -1 : H5Aget_type(attr);
    H5T_class_t cls = type < 0 ? H5T_NO_CLASS : H5Tget_class(type);
    herr_t rc = cls == H5T_INTEGER || cls == H5T_FLOAT ? H5Aread(attr, mem_type, value) : -1;
    if (type >= 0)
        H5Tclose(type);
    if (attr >= 0)
        H5Aclose(attr);
    if (rc < 0)
        return cdnopt_fail(r->err, CDNOPT_EPARSE,
                           "agent file '%s': root attribute '%s' is not a number", r->path, name);
    return CDNOPT_OK;
}

static int get_i64(const agent_reader *r, const char *name, int64_t *value)
{
    return get_number(r, name, H5T_NATIVE_INT64, value);
}

static int get_f64(const agent_reader *r, const char *name, double *value)
{
    return get_number(r, name, H5T_NATIVE_DOUBLE, value);
}

/* Check format = "cdnopt-agent" and format_version = DQN_FORMAT_VERSION. */
static int check_format(const agent_reader *r)
{
    char text[64] = "";
    herr_t rc = -1;
    if (H5Aexists(r->file, "format") > 0) {
        hid_t attr = H5Aopen(r->file, "format", H5P_DEFAULT);
        hid_t type = attr < 0 ? -1 : H5Aget_type(attr);
        if (type >= 0 && H5Tget_class(type) == H5T_STRING && !H5Tis_variable_str(type) &&
            H5Tget_size(type) < sizeof text)
            rc = H5Aread(attr, type, text);
        if (type >= 0)
            H5Tclose(type);
        if (attr >= 0)
            H5Aclose(attr);
    }
    if (rc < 0 || strcmp(text, DQN_FORMAT_NAME) != 0)
        return cdnopt_fail(r->err, CDNOPT_EPARSE,
                           "agent file '%s': root attribute format is '%s', expected '%s'; "
                           "pass a file written by cdnopt train-agent",
                           r->path, text, DQN_FORMAT_NAME);

    int64_t version = 0;
    int code = get_i64(r, "format_version", &version);
    if (code != CDNOPT_OK)
        return code;
    if (version != DQN_FORMAT_VERSION)
        return cdnopt_fail(r->err, CDNOPT_EPARSE,
                           "agent file '%s': format_version %lld is not supported (this build "
                           "reads version %d); retrain the agent with this build",
                           r->path, (long long)version, DQN_FORMAT_VERSION);
    return CDNOPT_OK;
}

/* Check the fixed sizes of the environment the agent was trained for. */
static int check_sizes(const agent_reader *r)
{
    static const struct {
        const char *name;
        int64_t expected;
    } sizes[] = {{"obs_size", CDNOPT_ENV_OBS},
                 {"global_actions", CDNOPT_ENV_GLOBAL_ACTIONS},
                 {"local_actions", CDNOPT_ENV_LOCAL_ACTIONS}};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        int64_t value = 0;
        int rc = get_i64(r, sizes[k].name, &value);
        if (rc != CDNOPT_OK)
            return rc;
        if (value != sizes[k].expected)
            return cdnopt_fail(r->err, CDNOPT_EPARSE,
                               "agent file '%s': %s is %lld, this build expects %lld; retrain "
                               "the agent with this build",
                               r->path, sizes[k].name, (long long)value,
                               (long long)sizes[k].expected);
    }
    return CDNOPT_OK;
}

static int get_params(const agent_reader *r, cdnopt_agent_params *p)
{
    int64_t hidden = 0, mask_hidden = 0, objective = 0, batch = 0, capacity = 0, sync = 0,
            use_mask = 0;
    int rc = get_i64(r, "hidden", &hidden);
    if (rc == CDNOPT_OK) rc = get_i64(r, "mask_hidden", &mask_hidden);
    if (rc == CDNOPT_OK) rc = get_i64(r, "objective", &objective);
    if (rc == CDNOPT_OK) rc = get_i64(r, "batch", &batch);
    if (rc == CDNOPT_OK) rc = get_i64(r, "replay_capacity", &capacity);
    if (rc == CDNOPT_OK) rc = get_i64(r, "target_sync", &sync);
    if (rc == CDNOPT_OK) rc = get_i64(r, "use_mask_net", &use_mask);
    if (rc == CDNOPT_OK) rc = get_f64(r, "gamma", &p->gamma);
    if (rc == CDNOPT_OK) rc = get_f64(r, "lr", &p->lr);
    if (rc == CDNOPT_OK) rc = get_f64(r, "clip_norm", &p->clip_norm);
    if (rc == CDNOPT_OK) rc = get_f64(r, "mask_threshold", &p->mask_threshold);
    if (rc == CDNOPT_OK) rc = get_f64(r, "reward_scale", &p->reward_scale);
    if (rc == CDNOPT_OK) rc = get_f64(r, "demo_margin", &p->demo_margin);
    if (rc == CDNOPT_OK) rc = get_f64(r, "demo_share", &p->demo_share);
    if (rc == CDNOPT_OK) rc = get_number(r, "seed", H5T_NATIVE_UINT64, &p->seed);
    if (rc != CDNOPT_OK)
        return rc;
    if (hidden < 1 || hidden > 4096 || mask_hidden < 1 || mask_hidden > 4096 ||
        (objective != CDNOPT_OBJECTIVE_PEAK && objective != CDNOPT_OBJECTIVE_P95) ||
        batch < 1 || batch > 65536 || capacity < batch || sync < 1 || sync > INT32_MAX)
        return cdnopt_fail(r->err, CDNOPT_EPARSE,
                           "agent file '%s': hyper-parameters out of range (hidden %lld, "
                           "mask_hidden %lld, objective %lld, batch %lld); the file is damaged",
                           r->path, (long long)hidden, (long long)mask_hidden,
                           (long long)objective, (long long)batch);
    p->hidden = (int)hidden;
    p->mask_hidden = (int)mask_hidden;
    p->objective = (cdnopt_objective)objective;
    p->batch = (int)batch;
    p->replay_capacity = (size_t)capacity;
    p->target_sync = (int)sync;
    p->use_mask_net = use_mask != 0;
    return CDNOPT_OK;
}

/* Read every tensor of m from /<group>/<tensor name>, checking each shape. */
static int get_net(const agent_reader *r, const char *group, dqn_mlp *m)
{
    float *values = cdnopt_params_values(m->ps);
    for (size_t i = 0; i < cdnopt_params_n_tensors(m->ps); i++) {
        cdnopt_param_tensor t;
        cdnopt_params_tensor(m->ps, i, &t);
        char path[160];
        snprintf(path, sizeof path, "%s/%s", group, t.name);

        hid_t set = H5Lexists(r->file, group, H5P_DEFAULT) > 0 &&
                            H5Lexists(r->file, path, H5P_DEFAULT) > 0
                        ? H5Dopen2(r->file, path, H5P_DEFAULT)
                        : -1;
        if (set < 0)
            return cdnopt_fail(r->err, CDNOPT_EPARSE,
                               "agent file '%s': dataset /%s is missing or unreadable; the "
                               "file is incomplete", r->path, path);
        hid_t space = H5Dget_space(set);
        hsize_t dims[2] = {0, 0};
        int rank = space < 0 ? -1 : H5Sget_simple_extent_ndims(space);
        if (rank == 2)
            H5Sget_simple_extent_dims(space, dims, NULL);
        bool shape_ok = rank == 2 && dims[0] == t.n_rows && dims[1] == t.n_cols;
        herr_t rc = shape_ok ? H5Dread(set, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                                       values + t.offset)
                             : -1;
        if (space >= 0)
            H5Sclose(space);
        H5Dclose(set);
        if (!shape_ok)
            return cdnopt_fail(r->err, CDNOPT_EPARSE,
                               "agent file '%s': dataset /%s is %llux%llu, expected %zux%zu; "
                               "the file is from another build of the agent, so train it again",
                               r->path, path, (unsigned long long)dims[0],
                               (unsigned long long)dims[1], t.n_rows, t.n_cols);
        if (rc < 0)
            return cdnopt_fail(r->err, CDNOPT_EIO,
                               "agent file '%s': dataset /%s cannot be read, so the file is "
                               "damaged (a checksum failed or it was cut short); train the "
                               "agent again or restore the file from a copy",
                               r->path, path);
    }
    return cdnopt_nn_check_finite(values, cdnopt_params_count(m->ps)) == CDNOPT_OK
               ? CDNOPT_OK
               : cdnopt_fail(r->err, CDNOPT_EPARSE,
                             "agent file '%s': network /%s holds NaN or Inf weights",
                             r->path, group);
}

static int load_open(const agent_reader *r, cdnopt_agent **out)
{
    int rc = check_format(r);
    if (rc == CDNOPT_OK)
        rc = check_sizes(r);
    cdnopt_agent_params p = cdnopt_agent_params_default();
    if (rc == CDNOPT_OK)
        rc = get_params(r, &p);
    if (rc != CDNOPT_OK)
        return rc;

    cdnopt_agent *agent = NULL;
    rc = cdnopt_agent_new(&p, &agent, r->err);
    if (rc != CDNOPT_OK)
        return rc;
    rc = get_net(r, "global", &agent->heads[DQN_GLOBAL].online);
    if (rc == CDNOPT_OK)
        rc = get_net(r, "local", &agent->heads[DQN_LOCAL].online);
    if (rc == CDNOPT_OK)
        rc = get_net(r, "mask", &agent->mask);
    int64_t episodes = 0;
    if (rc == CDNOPT_OK)
        rc = get_i64(r, "episodes", &episodes);
    if (rc == CDNOPT_OK)
        rc = get_number(r, "updates", H5T_NATIVE_UINT64, &agent->updates);
    if (rc != CDNOPT_OK) {
        cdnopt_agent_free(agent);
        return rc;
    }
    agent->episodes = (int)episodes;
    dqn_sync_targets(agent);
    *out = agent;
    return CDNOPT_OK;
}

int cdnopt_agent_load(const char *path, cdnopt_agent **out, char *err)
{
    *out = NULL;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    FILE *probe = fopen(path, "rb");
    if (!probe)
        return cdnopt_fail(err, CDNOPT_EIO, "cannot open agent file '%s'; check the path",
                           path);
    fclose(probe);

    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0)
        return cdnopt_fail(err, CDNOPT_EIO,
                           "agent file '%s' is not a readable HDF5 file (truncated or another "
                           "format); write it again with cdnopt train-agent", path);
    agent_reader r = {file, path, err};
    int rc = load_open(&r, out);
    H5Fclose(file);
    return rc;
}
