/* SPDX-License-Identifier: Apache-2.0 */
/* Cases of the synthetic traffic generator: determinism, shape, releases, files. */
#include "cdnopt/core.h"
#include "cdnopt/series.h"
#include "series_tests.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static cdnopt_generated *generate_ok(const cdnopt_generate_params *params)
{
    cdnopt_generated *g = NULL;
    char err[CDNOPT_ERRMSG_MAX] = "";
    if (cdnopt_generate(params, &g, err) != CDNOPT_OK)
        fail_msg("generate failed: %s", err);
    return g;
}

/* Read a whole small file into a new buffer (plain malloc: test-only memory). */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = calloc(1, (size_t)size + 1);
    assert_non_null(text);
    assert_int_equal(fread(text, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    return text;
}

static void write_to(const cdnopt_generated *g, const cdnopt_generate_params *p, char *dir,
                     size_t dir_size, const char *tag)
{
    char err[CDNOPT_ERRMSG_MAX] = "";
    cdnopt_test_scratch_dir(dir, dir_size, tag);
    if (cdnopt_generated_write(g, p, dir, err) != CDNOPT_OK)
        fail_msg("write failed: %s", err);
}

static void remove_outputs(const char *dir)
{
    const char *names[] = {"bandwidth.csv", "releases.csv", "pending.csv", "README.txt"};
    char path[512];
    for (size_t i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        remove(path);
    }
    remove(dir);
}

static void same_seed_identical_files(void **state)
{
    (void)state;
    cdnopt_generate_params p = cdnopt_generate_params_default();
    p.seed = 7;
    p.days = 7;
    cdnopt_generated *a = generate_ok(&p);
    cdnopt_generated *b = generate_ok(&p);
    char dir_a[256], dir_b[256], path[512];
    write_to(a, &p, dir_a, sizeof dir_a, "gen-a");
    write_to(b, &p, dir_b, sizeof dir_b, "gen-b");

    const char *names[] = {"bandwidth.csv", "releases.csv", "pending.csv", "README.txt"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s", dir_a, names[i]);
        char *text_a = slurp(path);
        snprintf(path, sizeof path, "%s/%s", dir_b, names[i]);
        char *text_b = slurp(path);
        assert_true(strlen(text_a) > 100);
        assert_string_equal(text_a, text_b);
        free(text_a);
        free(text_b);
    }
    remove_outputs(dir_a);
    remove_outputs(dir_b);
    cdnopt_generated_free(a);
    cdnopt_generated_free(b);
}

static void different_seeds_differ(void **state)
{
    (void)state;
    cdnopt_generate_params p = cdnopt_generate_params_default();
    p.seed = 7;
    cdnopt_generated *a = generate_ok(&p);
    p.seed = 8;
    cdnopt_generated *b = generate_ok(&p);

    assert_int_equal(a->bandwidth->n, b->bandwidth->n);
    size_t same = 0;
    for (size_t i = 0; i < a->bandwidth->n; i++)
        same += a->bandwidth->v[i] == b->bandwidth->v[i];
    assert_int_equal(same, 0);

    bool releases_differ = a->n_releases != b->n_releases;
    for (size_t i = 0; !releases_differ && i < a->n_releases; i++)
        releases_differ = a->releases[i].planned_at != b->releases[i].planned_at ||
                          a->releases[i].size_mb != b->releases[i].size_mb;
    assert_true(releases_differ);
    cdnopt_generated_free(a);
    cdnopt_generated_free(b);
}

/* Mean traffic by hour of day over the whole series. */
static void hourly_means(const cdnopt_series *s, double means[24])
{
    double counts[24] = {0};
    for (int h = 0; h < 24; h++)
        means[h] = 0.0;
    for (size_t i = 0; i < s->n; i++) {
        int h = cdnopt_civil_hour(s->t[i]);
        means[h] += s->v[i];
        counts[h] += 1.0;
    }
    for (int h = 0; h < 24; h++)
        means[h] /= counts[h];
}

static int argmax24(const double x[24])
{
    int best = 0;
    for (int h = 1; h < 24; h++)
        best = x[h] > x[best] ? h : best;
    return best;
}

static void daily_profile_peaks_in_evening(void **state)
{
    (void)state;
    cdnopt_generate_params p = cdnopt_generate_params_default();
    for (uint64_t seed = 1; seed <= 3; seed++) {
        p.seed = seed;
        cdnopt_generated *g = generate_ok(&p);
        double means[24];
        hourly_means(g->bandwidth, means);
        int peak = argmax24(means);
        assert_in_range(peak, 19, 22);

        /* The trough is before dawn and well below the peak. */
        double neg[24];
        for (int h = 0; h < 24; h++)
            neg[h] = -means[h];
        assert_in_range(argmax24(neg), 2, 6);
        assert_true(means[peak] > 1.8 * means[argmax24(neg)]);
        cdnopt_generated_free(g);
    }
}

static void weekends_carry_more_traffic(void **state)
{
    (void)state;
    cdnopt_generate_params p = cdnopt_generate_params_default();
    p.shipped_per_day = 0.0;
    p.trend_per_day = 0.0;
    p.days = 28;
    cdnopt_generated *g = generate_ok(&p);
    double by_day[7] = {0};
    for (size_t i = 0; i < g->bandwidth->n; i++)
        by_day[cdnopt_civil_weekday(g->bandwidth->t[i])] += g->bandwidth->v[i];
    /* Saturday (6) and Sunday (0) above Tuesday (2) and Wednesday (3). */
    assert_true(by_day[6] > 1.05 * by_day[2]);
    assert_true(by_day[0] > 1.05 * by_day[3]);
    cdnopt_generated_free(g);
}

static void pending_releases_after_series(void **state)
{
    (void)state;
    cdnopt_generate_params p = cdnopt_generate_params_default();
    p.n_pending = 40;
    cdnopt_generated *g = generate_ok(&p);
    const cdnopt_series *s = g->bandwidth;
    int64_t last = s->t[s->n - 1];
    int64_t end = p.start + (int64_t)p.days * 86400;

    assert_int_equal(s->n, 30 * 288);
    assert_int_equal(g->n_releases - g->n_shipped, 40);
    assert_true(g->n_shipped > 10);
    for (size_t i = 0; i < g->n_releases; i++) {
        const cdnopt_generated_release *r = &g->releases[i];
        assert_int_equal(r->pending, i >= g->n_shipped);
        assert_int_equal((r->planned_at - p.start) % p.step_s, 0);
        assert_in_range(r->size_mb, p.size_mb_min, p.size_mb_max);
        assert_in_range(r->users, p.users_min, p.users_max);
        if (r->pending) {
            assert_true(r->planned_at > last);
            assert_true(r->planned_at < end + 86400);
        } else {
            assert_in_range(r->planned_at, p.start, last);
        }
        if (i > 0 && r->pending == g->releases[i - 1].pending)
            assert_true(r->planned_at >= g->releases[i - 1].planned_at);
    }
    assert_string_equal(g->releases[0].id, "s0001");
    assert_string_equal(g->releases[g->n_shipped].id, "p0001");
    cdnopt_generated_free(g);
}

/* The spikes are exactly the release model's waves: hour h after a release carries
 * r^h / sum_{k<15} r^k of its bits, and waves cut by the series end count only the
 * part inside it. */
static void release_waves_carry_their_bits(void **state)
{
    (void)state;
    cdnopt_generate_params p = cdnopt_generate_params_default();
    p.days = 10;
    cdnopt_generated *with = generate_ok(&p);
    p.shipped_per_day = 0.0;
    cdnopt_generated *without = generate_ok(&p);
    assert_int_equal(without->n_shipped, 0);

    const cdnopt_series *s = with->bandwidth;
    int64_t end = s->t[s->n - 1] + s->step_s;
    double added_gbit = 0.0;
    for (size_t i = 0; i < s->n; i++)
        added_gbit += (s->v[i] - without->bandwidth->v[i]) * (double)s->step_s;

    double norm = 0.0;
    for (int k = 0; k < 15; k++)
        norm += pow(0.8, k);
    double expected_gbit = 0.0;
    for (size_t i = 0; i < with->n_shipped; i++) {
        const cdnopt_generated_release *r = &with->releases[i];
        double gbit = r->size_mb * 8e6 * r->users / 1e9;
        for (int h = 0; h < 15; h++) {
            int64_t inside_s = end - (r->planned_at + h * 3600);
            if (inside_s < 0)
                inside_s = 0;
            if (inside_s > 3600)
                inside_s = 3600;
            expected_gbit += gbit * pow(0.8, h) / norm * (double)inside_s / 3600.0;
        }
    }
    assert_true(with->n_shipped > 3);
    assert_close(added_gbit, expected_gbit, 1e-9 * expected_gbit);
    cdnopt_generated_free(with);
    cdnopt_generated_free(without);
}

static void written_files_read_back(void **state)
{
    (void)state;
    cdnopt_generate_params p = cdnopt_generate_params_default();
    p.days = 3;
    p.step_s = 900;
    cdnopt_generated *g = generate_ok(&p);
    char dir[256], path[512];
    write_to(g, &p, dir, sizeof dir, "gen-read");

    snprintf(path, sizeof path, "%s/bandwidth.csv", dir);
    cdnopt_series *s = NULL;
    char err[CDNOPT_ERRMSG_MAX] = "";
    if (cdnopt_series_read_csv(path, NULL, &s, NULL, err) != CDNOPT_OK)
        fail_msg("%s", err);
    assert_int_equal(s->n, 3 * 96);
    assert_int_equal(s->step_s, 900);
    assert_string_equal(s->name, "gbps");
    for (size_t i = 0; i < s->n; i++)
        assert_close(s->v[i], g->bandwidth->v[i], 1e-10 * g->bandwidth->v[i]);
    cdnopt_series_free(s);

    snprintf(path, sizeof path, "%s/releases.csv", dir);
    char *text = slurp(path);
    assert_memory_equal(text, "id,size_mb,users,planned_at\ns0001,", 34);
    size_t lines = 0;
    for (const char *c = text; *c != '\0'; c++)
        lines += *c == '\n';
    assert_int_equal(lines, g->n_releases + 1);

    /* pending.csv repeats the tail of releases.csv: the header, then the p* rows. */
    const char *tail = text;
    for (size_t k = 0; k < g->n_shipped + 1; k++)
        tail = strchr(tail, '\n') + 1;
    snprintf(path, sizeof path, "%s/pending.csv", dir);
    char *pending = slurp(path);
    const char *pending_rows = strchr(pending, '\n') + 1;
    assert_memory_equal(pending, "id,size_mb,users,planned_at\n", 28);
    assert_string_equal(pending_rows, tail);
    assert_true(g->n_releases > g->n_shipped);
    assert_int_equal(pending_rows[0], 'p');
    free(pending);
    free(text);
    remove_outputs(dir);
    cdnopt_generated_free(g);
}

static void generate_bad_params_rejected(void **state)
{
    (void)state;
    char err[CDNOPT_ERRMSG_MAX];
    cdnopt_generated *g = NULL;
    cdnopt_generate_params p = cdnopt_generate_params_default();
    p.step_s = 420;
    assert_int_equal(cdnopt_generate(&p, &g, err), CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "step_s 420 must divide 3600");
    assert_null(g);

    p = cdnopt_generate_params_default();
    p.days = 0;
    assert_int_equal(cdnopt_generate(&p, &g, err), CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "days 0 is out of range");

    p = cdnopt_generate_params_default();
    p.size_mb_min = 5000.0;
    assert_int_equal(cdnopt_generate(&p, &g, err), CDNOPT_EINVAL);
    cdnopt_assert_contains(err, "[5000, 4000] MB");

    p = cdnopt_generate_params_default();
    assert_int_equal(cdnopt_generate(&p, &g, NULL), CDNOPT_OK);
    assert_int_equal(cdnopt_generated_write(g, &p, "/nonexistent-dir", err), CDNOPT_EIO);
    cdnopt_assert_contains(err, "/nonexistent-dir/bandwidth.csv");
    cdnopt_generated_free(g);
}

static void generate_survives_allocation_failures(void **state)
{
    (void)state;
    cdnopt_generate_params p = cdnopt_generate_params_default();
    p.days = 2;
    long live = cdnopt_alloc_live_blocks();
    int rc = CDNOPT_ENOMEM;
    long n = 1;
    for (; rc == CDNOPT_ENOMEM && n < 100; n++) {
        cdnopt_generated *g = NULL;
        cdnopt_alloc_fail_after(n, false);
        rc = cdnopt_generate(&p, &g, NULL);
        cdnopt_alloc_fail_after(0, false);
        if (rc == CDNOPT_ENOMEM)
            assert_null(g);
        cdnopt_generated_free(g);
        assert_int_equal(cdnopt_alloc_live_blocks(), live);
    }
    assert_int_equal(rc, CDNOPT_OK);
    assert_true(n > 3);
}

/* Run the cdnopt binary of this build with args; return its exit status and output. */
static int run_cli(const char *args, char *output, size_t output_size)
{
    const char *build = getenv("CDNOPT_BUILD_DIR");
    char binary[512], command[2048];
    snprintf(binary, sizeof binary, "%s/bin/cdnopt", build != NULL ? build : "build");
    FILE *probe = fopen(binary, "rb");
    if (probe == NULL)
        skip(); // NOTE: the CLI target was not built; the library cases still ran.
    fclose(probe);

    int n = snprintf(command, sizeof command, "'%s' -q generate %s", binary, args);
    if (n < 0 || (size_t)n >= sizeof command)
        fail_msg("command line of %d bytes is too long for the test runner", n);
    return cdnopt_test_run_shell(command, output, output_size);
}

static void cli_rejects_bad_flags(void **state)
{
    (void)state;
    char output[2048];
    assert_int_equal(run_cli("--out /tmp/unused --step 7m", output, sizeof output), 2);
    cdnopt_assert_contains(output, "invalid --step 7m: the step must divide 1h");
    assert_int_equal(run_cli("--out /tmp/unused --days 0", output, sizeof output), 2);
    cdnopt_assert_contains(output, "value 0 for --days is out of range");
    assert_int_equal(run_cli("--out /tmp/unused --start 2025-02-30", output, sizeof output), 2);
    cdnopt_assert_contains(output, "invalid --start '2025-02-30'");
    assert_int_equal(run_cli("--days 3", output, sizeof output), 2);
    cdnopt_assert_contains(output, "missing required flag --out");
    assert_int_equal(run_cli("--help", output, sizeof output), 0);
    cdnopt_assert_contains(output, "--pending-releases K");
    cdnopt_assert_contains(output, "(default 5m)");
}

/* A folder with a bandwidth.csv that generate did not write is refused and kept;
 * a folder of an earlier generate run is written again. */
static void cli_keeps_foreign_files(void **state)
{
    (void)state;
    char dir[256], args[512], output[2048], path[512];
    cdnopt_test_scratch_dir(dir, sizeof dir, "gen-keep");
    snprintf(path, sizeof path, "%s/bandwidth.csv", dir);
    const char *measured = "timestamp,gbps\n2025-01-01 00:00:00,12.5\n";
    cdnopt_test_write_file(path, measured);

    snprintf(args, sizeof args, "--out '%s' --days 1 --seed 3", dir);
    assert_int_equal(run_cli(args, output, sizeof output), 2);
    cdnopt_assert_contains(output, "already contains bandwidth.csv, which cdnopt generate did not");
    char *kept = slurp(path);
    assert_string_equal(kept, measured);
    free(kept);

    char own[256];
    cdnopt_test_scratch_dir(own, sizeof own, "gen-again");
    snprintf(args, sizeof args, "--out '%s' --days 1 --seed 3", own);
    assert_int_equal(run_cli(args, output, sizeof output), 0);
    assert_int_equal(run_cli(args, output, sizeof output), 0);
}

/* The command writes what the library generates for the same seed and flags. */
static void cli_matches_library(void **state)
{
    (void)state;
    char dir[256], args[512], output[2048], path[512];
    cdnopt_test_scratch_dir(dir, sizeof dir, "gen-cli");
    snprintf(args, sizeof args, "--out '%s' --days 2 --step 15m --seed 11 --pending-releases 5",
             dir);
    assert_int_equal(run_cli(args, output, sizeof output), 0);

    cdnopt_generate_params p = cdnopt_generate_params_default();
    p.days = 2;
    p.step_s = 900;
    p.seed = 11;
    p.n_pending = 5;
    cdnopt_generated *g = generate_ok(&p);
    char expected_dir[256];
    write_to(g, &p, expected_dir, sizeof expected_dir, "gen-lib");
    const char *names[] = {"bandwidth.csv", "releases.csv", "pending.csv"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        char *actual = slurp(path);
        snprintf(path, sizeof path, "%s/%s", expected_dir, names[i]);
        char *expected = slurp(path);
        assert_string_equal(actual, expected);
        free(actual);
        free(expected);
    }
    remove_outputs(dir);
    remove_outputs(expected_dir);
    cdnopt_generated_free(g);
}

const struct CMUnitTest series_generate_tests[] = {
    cmocka_unit_test(same_seed_identical_files),
    cmocka_unit_test(different_seeds_differ),
    cmocka_unit_test(daily_profile_peaks_in_evening),
    cmocka_unit_test(weekends_carry_more_traffic),
    cmocka_unit_test(pending_releases_after_series),
    cmocka_unit_test(release_waves_carry_their_bits),
    cmocka_unit_test(written_files_read_back),
    cmocka_unit_test(generate_bad_params_rejected),
    cmocka_unit_test(generate_survives_allocation_failures),
    cmocka_unit_test(cli_rejects_bad_flags),
    cmocka_unit_test(cli_matches_library),
    cmocka_unit_test(cli_keeps_foreign_files),
};
const size_t series_generate_tests_n =
    sizeof series_generate_tests / sizeof series_generate_tests[0];
