/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HDF5 helpers of the model and agent files: the checksummed file format, scalar
 * attributes and checksummed datasets. See include/cdnopt/h5file.h.
 */
#include "cdnopt/h5file.h"

#include <string.h>

/* File access list that makes HDF5 write its 1.10 format (checksummed superblock,
 * object headers and chunk indexes) instead of the 1.6 format it writes by default. */
static hid_t checksummed_access(void)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl >= 0 && H5Pset_libver_bounds(fapl, H5F_LIBVER_V110, H5F_LIBVER_LATEST) < 0) {
        H5Pclose(fapl);
        return -1;
    }
    return fapl;
}

hid_t cdnopt_h5_create(const char *path)
{
    hid_t fapl = checksummed_access();
    if (fapl < 0)
        return -1;
    hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    return file;
}

hid_t cdnopt_h5_open_rw(const char *path)
{
    hid_t fapl = checksummed_access();
    if (fapl < 0)
        return -1;
    hid_t file = H5Fopen(path, H5F_ACC_RDWR, fapl);
    H5Pclose(fapl);
    return file;
}

static herr_t put_scalar(hid_t loc, const char *name, hid_t file_type, hid_t mem_type,
                         const void *value)
{
    hid_t space = H5Screate(H5S_SCALAR);
    if (space < 0)
        return -1;
    hid_t attr = H5Acreate2(loc, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = attr < 0 ? -1 : H5Awrite(attr, mem_type, value);
    if (attr >= 0 && H5Aclose(attr) < 0)
        rc = -1;
    H5Sclose(space);
    return rc;
}

herr_t cdnopt_h5_put_i64(hid_t loc, const char *name, int64_t value)
{
    return put_scalar(loc, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &value);
}

herr_t cdnopt_h5_put_u64(hid_t loc, const char *name, uint64_t value)
{
    return put_scalar(loc, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, &value);
}

herr_t cdnopt_h5_put_f64(hid_t loc, const char *name, double value)
{
    return put_scalar(loc, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value);
}

herr_t cdnopt_h5_put_text(hid_t loc, const char *name, const char *value)
{
    hid_t type = H5Tcopy(H5T_C_S1);
    if (type < 0)
        return -1;
    herr_t rc = H5Tset_size(type, strlen(value) + 1);
    if (rc >= 0)
        rc = H5Tset_strpad(type, H5T_STR_NULLTERM);
    if (rc >= 0)
        rc = put_scalar(loc, name, type, type, value);
    H5Tclose(type);
    return rc;
}

/* One chunk the size of the whole dataset, with a Fletcher-32 checksum, which HDF5
 * only allows on a chunked layout. */
static herr_t put_checksummed(hid_t loc, const char *name, hid_t lcpl, int rank,
                              const hsize_t *dims, hid_t file_type, hid_t mem_type,
                              const void *values)
{
    hid_t space = H5Screate_simple(rank, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    herr_t rc = space < 0 || dcpl < 0 ? -1 : H5Pset_chunk(dcpl, rank, dims);
    if (rc >= 0)
        rc = H5Pset_fletcher32(dcpl);

    hid_t set = rc < 0 ? -1 : H5Dcreate2(loc, name, file_type, space, lcpl, dcpl, H5P_DEFAULT);
    rc = set < 0 ? -1 : H5Dwrite(set, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values);
    if (set >= 0 && H5Dclose(set) < 0)
        rc = -1;
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (space >= 0)
        H5Sclose(space);
    return rc;
}

herr_t cdnopt_h5_put_f32_matrix(hid_t loc, const char *name, hid_t lcpl, size_t rows,
                                size_t cols, const float *values)
{
    hsize_t dims[2] = {(hsize_t)rows, (hsize_t)cols};
    return put_checksummed(loc, name, lcpl, 2, dims, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, values);
}

herr_t cdnopt_h5_put_f64_vector(hid_t loc, const char *name, size_t n, const double *values)
{
    hsize_t dims[1] = {(hsize_t)n};
    return put_checksummed(loc, name, H5P_DEFAULT, 1, dims, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE,
                           values);
}

herr_t cdnopt_h5_put_params(hid_t loc, const cdnopt_params *ps)
{
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    if (lcpl < 0)
        return -1;
    H5Pset_create_intermediate_group(lcpl, 1);
    const float *values = cdnopt_params_values_const(ps);

    herr_t rc = 0;
    for (size_t i = 0; i < cdnopt_params_n_tensors(ps) && rc >= 0; i++) {
        cdnopt_param_tensor t;
        cdnopt_params_tensor(ps, i, &t);
        rc = cdnopt_h5_put_f32_matrix(loc, t.name, lcpl, (size_t)t.n_rows, (size_t)t.n_cols,
                                      values + t.offset);
    }
    H5Pclose(lcpl);
    return rc;
}
