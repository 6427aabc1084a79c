/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Scratch file for fuzz targets whose parser reads a path: each input is written to
 * one file per process, in TMPDIR or /tmp, which is removed when the process exits
 * normally (an abort leaves it).
 */
#ifndef CDNOPT_FUZZ_FILE_H
#define CDNOPT_FUZZ_FILE_H

#include <stddef.h>
#include <stdint.h>

/**
 * Write size bytes of data to this process's scratch file, replacing what it held.
 * @return the file's path (static storage); the process aborts when the write fails,
 *         because every later input would then test a stale file.
 */
const char *fuzz_file_write(const uint8_t *data, size_t size);

/** Path of a second scratch file, for targets that write a file and read it back. */
const char *fuzz_file_second(void);

#endif /* CDNOPT_FUZZ_FILE_H */
