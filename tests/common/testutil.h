/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared helpers for the cmocka suites: running one named case (so that CTest
 * registers each case as its own test), locating ../shared, and scratch folders.
 */
#ifndef CDNOPT_TESTUTIL_H
#define CDNOPT_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/**
 * Run the cases of one suite. With argv[1] it runs only the case of that name and
 * fails when no case has it, so that a renamed case cannot pass silently.
 */
int cdnopt_test_main(int argc, char **argv, const char *suite, const struct CMUnitTest *tests,
                     size_t n_tests);

#define CDNOPT_TEST_MAIN(suite, tests)                                          \
    int main(int argc, char **argv)                                            \
    {                                                                          \
        return cdnopt_test_main(argc, argv, suite, tests, sizeof(tests) / sizeof((tests)[0])); \
    }

/**
 * Write the path of a file under the shared folder (SHARED_DIR, else ../shared)
 * into buf and return buf.
 */
const char *cdnopt_test_shared_path(char *buf, size_t buf_size, const char *relative);

/**
 * Make a fresh scratch folder under $TMPDIR (or /tmp) and write its path into buf.
 * The folder is left for inspection after a failure; it is never reused.
 */
const char *cdnopt_test_scratch_dir(char *buf, size_t buf_size, const char *tag);

/** Write text to path (created or truncated); fails the test on error. */
void cdnopt_test_write_file(const char *path, const char *text);

/**
 * Flip the lowest bit at the first place in path that contains the n bytes of value,
 * as a damaged disk block would. Fails the test when no place contains them.
 */
void cdnopt_test_flip_first_match(const char *path, const void *value, size_t n);

/**
 * Run a shell command with its stderr joined to its stdout, put that output in output
 * (cut to size - 1 bytes) and return the exit status (-1 when it did not exit normally).
 */
int cdnopt_test_run_shell(const char *command, char *output, size_t size);

/**
 * Run "cdnopt ARGS" from the build that CTest names in CDNOPT_BUILD_DIR, in dir (NULL:
 * the current folder) and with one OpenBLAS thread, as cdnopt_test_run_shell() runs a
 * command. Fails the test when CDNOPT_BUILD_DIR is not set.
 */
int cdnopt_test_run_cli(const char *dir, const char *args, char *output, size_t size);

/** Run "cdnopt -q ARGS" in the current folder, as cdnopt_test_run_cli() does. */
int cdnopt_test_run_quiet(const char *args, char *output, size_t size);

/** Assert that haystack contains needle, printing both when it does not. */
#define cdnopt_assert_contains(haystack, needle)                                \
    cdnopt__assert_contains((haystack), (needle), __FILE__, __LINE__)
void cdnopt__assert_contains(const char *haystack, const char *needle, const char *file, int line);

#endif
