/* SPDX-License-Identifier: Apache-2.0 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int cdnopt_test_main(int argc, char **argv, const char *suite, const struct CMUnitTest *tests,
                     size_t n_tests)
{
    if (argc < 2)
        return _cmocka_run_group_tests(suite, tests, n_tests, NULL, NULL);

    for (size_t i = 0; i < n_tests; i++) {
        if (strcmp(tests[i].name, argv[1]) == 0)
            return _cmocka_run_group_tests(suite, &tests[i], 1, NULL, NULL);
    }
    fprintf(stderr, "%s: no test case named '%s'\n", suite, argv[1]);
    return 2;
}

const char *cdnopt_test_shared_path(char *buf, size_t buf_size, const char *relative)
{
    const char *shared = getenv("SHARED_DIR");
    snprintf(buf, buf_size, "%s/%s", shared != NULL ? shared : "../shared", relative);
    return buf;
}

const char *cdnopt_test_scratch_dir(char *buf, size_t buf_size, const char *tag)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(buf, buf_size, "%s/cdnopt-%s-XXXXXX", tmp != NULL ? tmp : "/tmp", tag);
    if (mkdtemp(buf) == NULL)
        fail_msg("cannot make a scratch folder from template %s", buf);
    return buf;
}

void cdnopt_test_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        fail_msg("cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

void cdnopt_test_flip_first_match(const char *path, const void *value, size_t n)
{
    FILE *io = fopen(path, "r+b");
    if (io == NULL)
        fail_msg("cannot open %s", path);
    fseek(io, 0, SEEK_END);
    long size = ftell(io);
    fseek(io, 0, SEEK_SET);
    unsigned char *bytes = malloc((size_t)size);
    assert_non_null(bytes);
    assert_int_equal(fread(bytes, 1, (size_t)size, io), (size_t)size);

    long at = -1;
    for (long i = 0; i + (long)n <= size && at < 0; i++)
        if (memcmp(bytes + i, value, n) == 0)
            at = i;
    if (at < 0)
        fail_msg("%s does not hold the %zu bytes to damage", path, n);
    fseek(io, at, SEEK_SET);
    fputc(bytes[at] ^ 0x01, io);
    fclose(io);
    free(bytes);
}

void cdnopt__assert_contains(const char *haystack, const char *needle, const char *file, int line)
{
    if (haystack != NULL && needle != NULL && strstr(haystack, needle) != NULL)
        return;
    print_error("'%s' does not contain '%s'\n", haystack != NULL ? haystack : "(null)",
                needle != NULL ? needle : "(null)");
    _fail(file, line);
}

int cdnopt_test_run_shell(const char *command, char *output, size_t size)
{
    char joined[16384];
    int n = snprintf(joined, sizeof joined, "%s 2>&1", command);
    if (n < 0 || (size_t)n >= sizeof joined)
        fail_msg("command line of %d bytes is too long for the test runner", n);

    FILE *pipe = popen(joined, "r");
    assert_non_null(pipe);
    size_t length = fread(output, 1, size - 1, pipe);
    output[length] = '\0';
    int status = pclose(pipe);
    return status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int cdnopt_test_run_cli(const char *dir, const char *args, char *output, size_t size)
{
    const char *build = getenv("CDNOPT_BUILD_DIR");
    if (build == NULL)
        fail_msg("CDNOPT_BUILD_DIR is not set: run this test through ctest");

    char command[8192];
    int n = snprintf(command, sizeof command, "cd '%s' && OPENBLAS_NUM_THREADS=1 '%s/bin/cdnopt' %s",
                     dir != NULL ? dir : ".", build, args);
    if (n < 0 || (size_t)n >= sizeof command)
        fail_msg("command line of %d bytes is too long for the test runner", n);
    return cdnopt_test_run_shell(command, output, size);
}

int cdnopt_test_run_quiet(const char *args, char *output, size_t size)
{
    char quiet[8192];
    int n = snprintf(quiet, sizeof quiet, "-q %s", args);
    if (n < 0 || (size_t)n >= sizeof quiet)
        fail_msg("arguments of %d bytes are too long for the test runner", n);
    return cdnopt_test_run_cli(NULL, quiet, output, size);
}
