/* SPDX-License-Identifier: Apache-2.0 */
/*
 * h5file: the HDF5 side of cdnopt's model and agent files, shared by the writers in
 * forecast and plan.
 *
 * Files are created in HDF5's 1.10 format, which keeps a checksum in the superblock,
 * in every object header and in the chunk index, so a damaged header, attribute or
 * chunk address fails the open or the read with an error. With the 1.6 format that
 * HDF5 writes by default, libhdf5 1.10 read some damaged headers past the end of its
 * buffers. With the 1.8 format, a damaged chunk index read back as a tensor of zeros.
 * Weight and factor datasets also carry the Fletcher-32 filter, a checksum of their
 * values. Readers need HDF5 1.10 or later (Debian 10 and later ship it).
 *
 * Every function returns a negative HDF5 status (or hid_t) on failure, as HDF5 does;
 * the callers turn it into a cdnopt error naming the file.
 */
#ifndef CDNOPT_H5FILE_H
#define CDNOPT_H5FILE_H

#include "cdnopt/nn.h"

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

/** Create (truncate) path in the checksummed format. */
hid_t cdnopt_h5_create(const char *path);

/** Open an existing file for writing; objects added to it use the checksummed format. */
hid_t cdnopt_h5_open_rw(const char *path);

/** Scalar attributes: signed and unsigned 64-bit integers, double, and a NUL-terminated
 * string. */
herr_t cdnopt_h5_put_i64(hid_t loc, const char *name, int64_t value);
herr_t cdnopt_h5_put_u64(hid_t loc, const char *name, uint64_t value);
herr_t cdnopt_h5_put_f64(hid_t loc, const char *name, double value);
herr_t cdnopt_h5_put_text(hid_t loc, const char *name, const char *value);

/**
 * Write a checksummed float32 matrix [rows, cols] named name under loc. lcpl is a link
 * creation property list (H5P_DEFAULT, or one that creates intermediate groups).
 */
herr_t cdnopt_h5_put_f32_matrix(hid_t loc, const char *name, hid_t lcpl, size_t rows,
                                size_t cols, const float *values);

/** Write a checksummed float64 vector of n >= 1 values named name under loc. */
herr_t cdnopt_h5_put_f64_vector(hid_t loc, const char *name, size_t n, const double *values);

/**
 * Write every tensor of ps as a checksummed float32 matrix under loc, named by the
 * tensor: "lstm1/kernel" becomes loc/lstm1/kernel, with its groups made on the way.
 */
herr_t cdnopt_h5_put_params(hid_t loc, const cdnopt_params *ps);

#endif /* CDNOPT_H5FILE_H */
