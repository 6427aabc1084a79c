/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `cdnopt m4`: forecast the series of an M4 wide file with one method and write the
 * competition's files (forecasts.csv, lower.csv, upper.csv), or score such a folder.
 *
 *     cdnopt m4 --train Hourly-train.csv --out DIR [--method naive2] [--validation]
 *     cdnopt m4 --score --train TRAIN.csv --test TEST.csv DIR
 *
 * With --validation the last --horizon values of each series are held out, the
 * method forecasts them from the rest, the score table is printed, and DIR also gets
 * train.csv and test.csv so that --score can re-score the folder later.
 * The neural methods (residual-lstm, transformer, global-mlp) train one global model
 * (global-mlp: an ensemble of them) over all series of the file instead of one fit
 * per series.
 */
#include "cli_args.h"
#include "commands.h"

#include "cdnopt/core.h"
#include "cdnopt/global.h"
#include "cdnopt/global_mlp.h"
#include "cdnopt/m4.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define LOG_MODULE "m4"

typedef struct m4_options {
    const char *train;  /* wide training file */
    const char *test;   /* wide test file (--score) */
    const char *out;    /* output folder, or the folder to score */
    const char *method; /* method name */
    long horizon;       /* steps per forecast */
    long period;        /* seasonal period in steps (MASE scale, seasonal methods) */
    double level;       /* nominal interval coverage */
    bool validation;    /* hold out the last horizon values */
    bool score;         /* score a folder instead of forecasting */
    bool hw_one_step;   /* fit Holt-Winters by one-step error */
    /* Global neural model (--method residual-lstm or transformer). */
    long window;          /* input window, steps */
    long epochs;          /* maximum epochs */
    long units;           /* LSTM units per layer */
    long max_windows;     /* training windows per epoch, 0 = all */
    long samples;         /* MC-dropout paths per forecast */
    long seed;            /* seed of weights, shuffling and dropout */
    const char *norm;     /* per-series scaling: minmax, mean or change */
    const char *sampling; /* window draw: windows or series */
    bool seasonal_lag;    /* add the value one period before each predicted step */
    long seasonal_diff;   /* difference the scaled series at this period, 0 = none */
    bool direct;          /* residual LSTM: direct head over the horizon on the seasonal base */
    /* Global MLP (--method global-mlp); --epochs, --max-windows and --seed also apply. */
    const char *windows;  /* comma-separated input steps of the members */
    const char *loss;     /* training loss: mae, smape or relative */
    bool no_refit;        /* forecast with the networks that held the last steps out */
    long lr_plateau;      /* epochs without improvement that halve the learning rate */
    long level_steps;     /* last window steps whose mean is the level, 0 = --period */
    long members;         /* networks in the ensemble */
    long hidden;          /* units per hidden layer */
    long layers;          /* hidden layers */
} m4_options;

/* Defaults of --epochs and --max-windows, which differ per model. */
#define GLOBAL_EPOCHS_DEFAULT 5
#define GLOBAL_MAX_WINDOWS_DEFAULT 12000

/* ------------------------------------------------------------------------- */
/* Method table                                                              */
/* ------------------------------------------------------------------------- */

/*
 * A family of methods. resolve() accepts the names of its methods, returns CDNOPT_ENOTFOUND
 * for others, and prepares fn and ctx; release() frees ctx. A new model (a neural net
 * read from a model file, say) joins the command with one row in method_families.
 */
typedef struct method_family {
    const char *names; /* for --help */
    int (*resolve)(const char *name, const m4_options *o, cdnopt_m4_method_fn *fn, void **ctx,
                   char *err);
    void (*release)(void *ctx);
    /* Forecast the whole set at once (a model trained over all series); NULL for a
     * family that forecasts one series at a time through fn. */
    int (*forecast_set)(const cdnopt_m4_set *in_sample, const m4_options *o, void *ctx,
                        cdnopt_m4_forecasts *out, char *err);
} method_family;

static int resolve_baseline(const char *name, const m4_options *o, cdnopt_m4_method_fn *fn,
                            void **ctx, char *err)
{
    enum cdnopt_baseline_method method;
    if (cdnopt_baseline_from_name(name, &method) != CDNOPT_OK)
        return CDNOPT_ENOTFOUND;
    cdnopt_baseline_params *p = cdnopt_malloc(sizeof *p);
    if (p == NULL)
        return cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory");
    *p = cdnopt_baseline_params_default();
    p->method = method;
    p->period = (size_t)o->period;
    p->level = o->level;
    if (o->hw_one_step)
        p->hw_criterion = CDNOPT_HW_ONE_STEP;
    *fn = cdnopt_m4_baseline_method;
    *ctx = p;
    return CDNOPT_OK;
}

/* The global neural model: ctx is a cdnopt_global_params built from the options. */
static int resolve_global(const char *name, const m4_options *o, cdnopt_m4_method_fn *fn,
                          void **ctx, char *err)
{
    cdnopt_arch arch;
    if (strcmp(name, "residual-lstm") == 0)
        arch = CDNOPT_ARCH_RESIDUAL_LSTM;
    else if (strcmp(name, "transformer") == 0)
        arch = CDNOPT_ARCH_TRANSFORMER;
    else
        return CDNOPT_ENOTFOUND;

    cdnopt_global_params *gp = cdnopt_malloc(sizeof *gp);
    if (gp == NULL)
        return cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory");
    *gp = cdnopt_global_params_default();
    gp->model.arch = arch;
    if (arch == CDNOPT_ARCH_TRANSFORMER)
        gp->model.dropout = 0.2f;
    gp->model.window = (int)o->window;
    gp->model.epochs = o->epochs > 0 ? (int)o->epochs : GLOBAL_EPOCHS_DEFAULT;
    gp->model.units = (int)o->units;
    gp->model.max_windows = o->max_windows >= 0 ? (int)o->max_windows
                                                : GLOBAL_MAX_WINDOWS_DEFAULT;
    gp->model.seasonal_lag = o->seasonal_lag;
    gp->seasonal_diff = (int)o->seasonal_diff;
    if (o->direct) {
        gp->model.head = CDNOPT_HEAD_DIRECT;
        gp->model.horizon = (int)o->horizon;
        gp->model.base = CDNOPT_BASE_SEASONAL;
    }
    gp->model.seed = (uint64_t)o->seed;
    gp->n_samples = (int)o->samples;
    gp->level = o->level;
    gp->seed = (uint64_t)o->seed;
    char reason[CDNOPT_ERRMSG_MAX];
    int rc = cdnopt_global_norm_parse(o->norm, &gp->norm, reason);
    if (rc != CDNOPT_OK)
        rc = cdnopt_fail(err, rc, "--norm: %s", reason);
    if (rc == CDNOPT_OK && cdnopt_global_sampling_parse(o->sampling, &gp->sampling, reason) != 0)
        rc = cdnopt_fail(err, CDNOPT_EINVAL, "--sampling: %s", reason);
    if (rc != CDNOPT_OK) {
        cdnopt_free(gp);
        return rc;
    }
    *fn = NULL;
    *ctx = gp;
    return CDNOPT_OK;
}

/* Log one epoch. An epoch without held-out values, as in the MLP's refit on every
 * value, has no validation loss to log. */
static void log_global_epoch(const cdnopt_epoch_report *r, void *user)
{
    (void)user;
    if (isnan(r->val_loss))
        CDNOPT_LOG_INFO(LOG_MODULE, "epoch=%d loss=%.6f windows=%d seconds=%.1f",
                        r->epoch, r->train_loss, r->n_windows, r->seconds);
    else
        CDNOPT_LOG_INFO(LOG_MODULE, "epoch=%d loss=%.6f val_loss=%.6f windows=%d seconds=%.1f",
                        r->epoch, r->train_loss, r->val_loss, r->n_windows, r->seconds);
}

static int forecast_global(const cdnopt_m4_set *in_sample, const m4_options *o, void *ctx,
                           cdnopt_m4_forecasts *out, char *err)
{
    /* M4 series carry no timestamps; the step only has to divide a day. */
    return cdnopt_global_m4_forecast(in_sample, (size_t)o->horizon, 3600, ctx, log_global_epoch,
                                     NULL, out, err);
}

/* Parse a comma-separated list of window lengths such as "336,168" into p. */
static int parse_windows(const char *text, cdnopt_global_mlp_params *p, char *err)
{
    p->n_windows = 0;
    const char *cursor = text;
    while (p->n_windows < CDNOPT_GLOBAL_MLP_MAX_WINDOWS) {
        char *end = NULL;
        errno = 0;
        long value = strtol(cursor, &end, 10);
        if (end == cursor || errno != 0 || value < 1 || value > 100000 ||
            (*end != ',' && *end != '\0'))
            return cdnopt_fail(err, CDNOPT_EINVAL, "--windows: invalid list '%s'; expected "
                               "window lengths in steps separated by commas, such as 336,168",
                               text);
        p->windows[p->n_windows++] = (int)value;
        if (*end == '\0')
            return CDNOPT_OK;
        cursor = end + 1;
    }
    return cdnopt_fail(err, CDNOPT_EINVAL, "--windows: '%s' has more than %d lengths", text,
                       CDNOPT_GLOBAL_MLP_MAX_WINDOWS);
}

/* The global MLP: ctx is a cdnopt_global_mlp_params built from the options. */
static int resolve_global_mlp(const char *name, const m4_options *o, cdnopt_m4_method_fn *fn,
                              void **ctx, char *err)
{
    if (strcmp(name, "global-mlp") != 0)
        return CDNOPT_ENOTFOUND;
    cdnopt_global_mlp_params *p = cdnopt_malloc(sizeof *p);
    if (p == NULL)
        return cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory");
    *p = cdnopt_global_mlp_params_default();
    p->horizon = (int)o->horizon;
    p->period = (int)o->period;
    p->level_steps = o->level_steps > 0 ? (int)o->level_steps : (int)o->period;
    p->level = o->level;
    p->members = (int)o->members;
    p->hidden = (int)o->hidden;
    p->n_hidden_layers = (int)o->layers;
    p->seed = (uint64_t)o->seed;
    p->refit = !o->no_refit;
    p->lr_plateau = (int)o->lr_plateau;
    if (o->epochs > 0)
        p->epochs = (int)o->epochs;
    if (o->max_windows > 0)
        p->windows_per_epoch = (int)o->max_windows;
    int rc = o->windows != NULL ? parse_windows(o->windows, p, err) : CDNOPT_OK;
    if (rc == CDNOPT_OK && strcmp(o->loss, "mae") == 0)
        p->loss = CDNOPT_GLOBAL_MLP_LOSS_MAE;
    else if (rc == CDNOPT_OK && strcmp(o->loss, "smape") == 0)
        p->loss = CDNOPT_GLOBAL_MLP_LOSS_SMAPE;
    else if (rc == CDNOPT_OK && strcmp(o->loss, "relative") == 0)
        p->loss = CDNOPT_GLOBAL_MLP_LOSS_RELATIVE;
    else if (rc == CDNOPT_OK)
        rc = cdnopt_fail(err, CDNOPT_EINVAL, "--loss: unknown loss '%s'; choose mae, smape "
                         "or relative", o->loss);
    if (rc != CDNOPT_OK) {
        cdnopt_free(p);
        return rc;
    }
    *fn = NULL;
    *ctx = p;
    return CDNOPT_OK;
}

static int forecast_global_mlp(const cdnopt_m4_set *in_sample, const m4_options *o, void *ctx,
                               cdnopt_m4_forecasts *out, char *err)
{
    (void)o;
    return cdnopt_global_mlp_m4_forecast(in_sample, ctx, log_global_epoch, NULL, out, err);
}

static const method_family method_families[] = {
    {"naive, snaive, naive2, hw, hw-damped, ses, holt, damped, theta, comb", resolve_baseline,
     cdnopt_free, NULL},
    {"residual-lstm, transformer (one global model over all series)", resolve_global,
     cdnopt_free, forecast_global},
    {"global-mlp (an ensemble of global MLPs normalised per window)", resolve_global_mlp,
     cdnopt_free, forecast_global_mlp},
};

static int resolve_method(const m4_options *o, const method_family **family,
                          cdnopt_m4_method_fn *fn, void **ctx, char *err)
{
    size_t n_families = sizeof method_families / sizeof method_families[0];
    for (size_t i = 0; i < n_families; i++) {
        int rc = method_families[i].resolve(o->method, o, fn, ctx, err);
        if (rc == CDNOPT_ENOTFOUND)
            continue;
        *family = &method_families[i];
        return rc;
    }
    return cdnopt_fail(err, CDNOPT_ENOTFOUND, "--method: unknown method '%s'; choose one of %s, "
                       "%s, %s", o->method, method_families[0].names, method_families[1].names,
                       method_families[2].names);
}

/* ------------------------------------------------------------------------- */
/* Arguments                                                                 */
/* ------------------------------------------------------------------------- */

static void print_help(FILE *out)
{
    fprintf(out,
            "usage: cdnopt m4 --train FILE --out DIR [--method NAME] [--validation]\n"
            "                 [--horizon N] [--period N] [--level P] [--hw-one-step]\n"
            "       cdnopt m4 --score --train FILE --test FILE [--period N] [--level P] DIR\n"
            "\n"
            "Forecast every series of an M4 wide CSV file and write DIR/forecasts.csv,\n"
            "DIR/lower.csv and DIR/upper.csv (id,F1..Fh), or score such a folder.\n"
            "\n"
            "  --train FILE    wide CSV: header, then id and values per row\n"
            "  --out DIR       output folder, created if missing\n"
            "  --method NAME   %s,\n"
            "                  residual-lstm, transformer or global-mlp (default naive2)\n"
            "  --validation    hold out the last N values of each series, forecast them,\n"
            "                  print the scores and also write DIR/train.csv, DIR/test.csv\n"
            "  --horizon N     steps to forecast (default 48, M4 Hourly)\n"
            "  --period N      seasonal period in steps (default 24, one day of hours)\n"
            "  --level P       nominal coverage of the bounds, in (0, 1) (default 0.95)\n"
            "  --hw-one-step   fit hw and hw-damped by one-step error, the classical fit,\n"
            "                  instead of the mean error at horizons 1, 2, 4, ..., period\n"
            "  --score         score folder DIR against --test; the horizon is the test's\n"
            "  --test FILE     wide CSV of the actual values that follow --train\n"
            "\n"
            "One global model over all series (--method residual-lstm or transformer):\n"
            "  --window N      input steps per window (default 168, one week of hours)\n"
            "  --epochs N      maximum training epochs (default 5; global-mlp 80)\n"
            "  --units N       LSTM units per layer (default 64)\n"
            "  --max-windows N training windows per epoch, 0 = all (default 12000;\n"
            "                  global-mlp 65536, where 0 keeps that default)\n"
            "  --samples N     MC-dropout paths per forecast (default 50)\n"
            "  --norm NAME     per-series scaling: mean, minmax or change (the mean change\n"
            "                  over --seasonal-diff steps) (default change)\n"
            "  --sampling NAME windows (uniform over all windows) or series (default windows)\n"
            "  --seasonal-lag  add the value one day (24 steps) before each predicted step as\n"
            "                  an input\n"
            "  --seasonal-diff N  model the change from N steps earlier, so the network\n"
            "                  corrects the seasonal naive forecast; 0 = off (default 24)\n"
            "  --direct        residual-lstm: forecast all --horizon steps at once, added to\n"
            "                  the value one day before each step (default: recursive)\n"
            "  --seed N        seed of weights, shuffling and dropout (default 1)\n"
            "\n"
            "Global MLP (--method global-mlp), with --epochs, --max-windows and --seed:\n"
            "  --windows LIST  input steps of the members in turn, comma-separated\n"
            "                  (default 336,168,96: two weeks, one week and four days of\n"
            "                  hours)\n"
            "  --members N     networks in the ensemble, combined by the median (default 12)\n"
            "  --hidden N      units per hidden layer (default 256)\n"
            "  --layers N      hidden ReLU layers, 0 to 8 (default 2)\n"
            "  --loss NAME     training loss on values in units of the window's level:\n"
            "                  mae (mean absolute error), smape, or relative (the error\n"
            "                  in units of the level and of the seasonal change, each\n"
            "                  over the seasonal naive error) (default relative)\n"
            "  --level-steps N divide each window by the mean of its last N values (default\n"
            "                  --period)\n"
            "  --lr-plateau N  halve the learning rate after N epochs without a better\n"
            "                  validation loss, 0 = never (default 3)\n"
            "  --no-refit      forecast with the networks trained without the last --horizon\n"
            "                  steps, instead of retraining them on every step\n",
            method_families[0].names);
}

static int parse_long(const char *flag, const char *text, long min, long max, long *out)
{
    char *end = NULL;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (end == text || *end != '\0' || errno != 0 || value < min || value > max) {
        fprintf(stderr, "cdnopt m4: %s: invalid value '%s'; expected an integer in [%ld, %ld]\n",
                flag, text, min, max);
        return CDNOPT_EINVAL;
    }
    *out = value;
    return CDNOPT_OK;
}

static int parse_level(const char *text, double *out)
{
    char *end = NULL;
    double value = strtod(text, &end);
    if (end == text || *end != '\0' || !(value > 0.0 && value < 1.0)) {
        fprintf(stderr, "cdnopt m4: --level: invalid value '%s'; expected a share in (0, 1) "
                        "such as 0.95\n",
                text);
        return CDNOPT_EINVAL;
    }
    *out = value;
    return CDNOPT_OK;
}

/* Flags that take a value: the flag name and where the value goes. */
static const char **string_target(m4_options *o, const char *flag)
{
    if (strcmp(flag, "--train") == 0)
        return &o->train;
    if (strcmp(flag, "--test") == 0)
        return &o->test;
    if (strcmp(flag, "--out") == 0)
        return &o->out;
    if (strcmp(flag, "--method") == 0)
        return &o->method;
    if (strcmp(flag, "--norm") == 0)
        return &o->norm;
    if (strcmp(flag, "--sampling") == 0)
        return &o->sampling;
    if (strcmp(flag, "--windows") == 0)
        return &o->windows;
    if (strcmp(flag, "--loss") == 0)
        return &o->loss;
    return NULL;
}

static int parse_global_flag(m4_options *o, const char *flag, const char *value);

/* True for the flags that take a value, so that an unknown flag at the end of the
 * command line is reported as unknown, not as missing its value. */
static bool takes_value(m4_options *o, const char *flag)
{
    static const char *const numeric[] = {
        "--horizon", "--period", "--level",   "--window",  "--epochs",
        "--units",   "--max-windows", "--samples", "--seed", "--seasonal-diff",
        "--members", "--hidden", "--layers", "--lr-plateau", "--level-steps",
    };
    if (string_target(o, flag) != NULL)
        return true;
    for (size_t k = 0; k < sizeof numeric / sizeof numeric[0]; k++)
        if (strcmp(flag, numeric[k]) == 0)
            return true;
    return false;
}

static int parse_flag(m4_options *o, int argc, char **argv, int *i)
{
    const char *flag = argv[*i];
    if (strcmp(flag, "--validation") == 0) {
        o->validation = true;
        return CDNOPT_OK;
    }
    if (strcmp(flag, "--score") == 0) {
        o->score = true;
        return CDNOPT_OK;
    }
    if (strcmp(flag, "--hw-one-step") == 0) {
        o->hw_one_step = true;
        return CDNOPT_OK;
    }
    if (strcmp(flag, "--seasonal-lag") == 0) {
        o->seasonal_lag = true;
        return CDNOPT_OK;
    }
    if (strcmp(flag, "--direct") == 0) {
        o->direct = true;
        return CDNOPT_OK;
    }
    if (strcmp(flag, "--no-refit") == 0) {
        o->no_refit = true;
        return CDNOPT_OK;
    }
    if (!takes_value(o, flag)) {
        fprintf(stderr, "cdnopt m4: unknown option '%s'; run 'cdnopt m4 --help'\n", flag);
        return CDNOPT_EINVAL;
    }
    if (*i + 1 >= argc) {
        fprintf(stderr, "cdnopt m4: %s needs a value; run 'cdnopt m4 --help'\n", flag);
        return CDNOPT_EINVAL;
    }
    const char *value = argv[++*i];
    const char **target = string_target(o, flag);
    if (target != NULL) {
        *target = value;
        return CDNOPT_OK;
    }
    if (strcmp(flag, "--horizon") == 0)
        return parse_long(flag, value, 1, 100000, &o->horizon);
    if (strcmp(flag, "--period") == 0)
        return parse_long(flag, value, 1, 100000, &o->period);
    if (strcmp(flag, "--level") == 0)
        return parse_level(value, &o->level);
    return parse_global_flag(o, flag, value);
}

/* Flags of the global neural model that take an integer. */
static int parse_global_flag(m4_options *o, const char *flag, const char *value)
{
    if (strcmp(flag, "--window") == 0)
        return parse_long(flag, value, 1, 100000, &o->window);
    if (strcmp(flag, "--epochs") == 0)
        return parse_long(flag, value, 1, 10000, &o->epochs);
    if (strcmp(flag, "--units") == 0)
        return parse_long(flag, value, 1, 4096, &o->units);
    if (strcmp(flag, "--max-windows") == 0)
        return parse_long(flag, value, 0, 100000000, &o->max_windows);
    if (strcmp(flag, "--samples") == 0)
        return parse_long(flag, value, 2, 100000, &o->samples);
    if (strcmp(flag, "--seed") == 0)
        return parse_long(flag, value, 0, 2147483647, &o->seed);
    if (strcmp(flag, "--seasonal-diff") == 0)
        return parse_long(flag, value, 0, 100000, &o->seasonal_diff);
    if (strcmp(flag, "--members") == 0)
        return parse_long(flag, value, 1, 1000, &o->members);
    if (strcmp(flag, "--hidden") == 0)
        return parse_long(flag, value, 1, 65536, &o->hidden);
    if (strcmp(flag, "--layers") == 0)
        return parse_long(flag, value, 0, 8, &o->layers);
    if (strcmp(flag, "--lr-plateau") == 0)
        return parse_long(flag, value, 0, 10000, &o->lr_plateau);
    if (strcmp(flag, "--level-steps") == 0)
        return parse_long(flag, value, 1, 100000, &o->level_steps);
    fprintf(stderr, "cdnopt m4: unknown option '%s'; run 'cdnopt m4 --help'\n", flag);
    return CDNOPT_EINVAL;
}

/* True when the flag argv[i] was already given in argv[1..i-1]. */
static bool given_before(char **argv, int i)
{
    for (int j = 1; j < i; j++)
        if (strcmp(argv[j], argv[i]) == 0)
            return true;
    return false;
}

/* Methods that read a method-specific flag. */
enum { READ_BY_HW = 1, READ_BY_GLOBAL = 2, READ_BY_MLP = 4 };

static const struct {
    const char *flag;
    unsigned readers; /* READ_BY_* bits */
} method_flags[] = {
    {"--hw-one-step", READ_BY_HW},
    {"--window", READ_BY_GLOBAL},
    {"--units", READ_BY_GLOBAL},
    {"--samples", READ_BY_GLOBAL},
    {"--norm", READ_BY_GLOBAL},
    {"--sampling", READ_BY_GLOBAL},
    {"--seasonal-lag", READ_BY_GLOBAL},
    {"--seasonal-diff", READ_BY_GLOBAL},
    {"--direct", READ_BY_GLOBAL},
    {"--epochs", READ_BY_GLOBAL | READ_BY_MLP},
    {"--max-windows", READ_BY_GLOBAL | READ_BY_MLP},
    {"--seed", READ_BY_GLOBAL | READ_BY_MLP},
    {"--windows", READ_BY_MLP},
    {"--members", READ_BY_MLP},
    {"--hidden", READ_BY_MLP},
    {"--layers", READ_BY_MLP},
    {"--loss", READ_BY_MLP},
    {"--level-steps", READ_BY_MLP},
    {"--lr-plateau", READ_BY_MLP},
    {"--no-refit", READ_BY_MLP},
};

static unsigned method_reader(const char *method)
{
    if (strcmp(method, "hw") == 0 || strcmp(method, "hw-damped") == 0)
        return READ_BY_HW;
    if (strcmp(method, "residual-lstm") == 0 || strcmp(method, "transformer") == 0)
        return READ_BY_GLOBAL;
    return strcmp(method, "global-mlp") == 0 ? READ_BY_MLP : 0;
}

static const char *reader_names(unsigned readers)
{
    switch (readers) {
    case READ_BY_HW:
        return "hw and hw-damped";
    case READ_BY_GLOBAL:
        return "residual-lstm and transformer";
    case READ_BY_MLP:
        return "global-mlp";
    default:
        return "residual-lstm, transformer and global-mlp";
    }
}

/* Return the index of flag in method_flags, or -1 when it is not a method flag. */
static int method_flag_index(const char *flag)
{
    for (size_t k = 0; k < sizeof method_flags / sizeof method_flags[0]; k++)
        if (strcmp(flag, method_flags[k].flag) == 0)
            return (int)k;
    return -1;
}

/* Reject a flag that the run never reads: a method flag of another method, or one of the
 * forecasting flags with --score, which scores the forecasts already in the folder. */
static int check_flags_read(int argc, char **argv, const m4_options *o)
{
    unsigned reader = method_reader(o->method);
    for (int i = 1; i < argc; i++) {
        const char *flag = argv[i];
        int k = method_flag_index(flag);
        bool forecast_only = k >= 0 || strcmp(flag, "--method") == 0 ||
                             strcmp(flag, "--validation") == 0 || strcmp(flag, "--horizon") == 0;
        if (o->score && forecast_only) {
            fprintf(stderr, "cdnopt m4: %s is not read by --score, which scores the forecasts "
                    "already in the folder; drop it\n", flag);
            return CDNOPT_EINVAL;
        }
        if (k >= 0 && (method_flags[k].readers & reader) == 0) {
            fprintf(stderr, "cdnopt m4: %s is read only by --method %s, not %s; drop it or "
                    "choose such a method\n", flag, reader_names(method_flags[k].readers),
                    o->method);
            return CDNOPT_EINVAL;
        }
    }
    return CDNOPT_OK;
}

/* Returns CDNOPT_OK, CDNOPT_EINVAL for a usage error, or 1 when help was printed. */
static int parse_args(int argc, char **argv, m4_options *o)
{
    *o = (m4_options){.method = "naive2", .horizon = 48, .period = 24, .level = 0.95,
                      .window = 168, .epochs = 0, .units = 64, .max_windows = -1,
                      .samples = 50, .seed = 1, .norm = "change", .sampling = "windows",
                      .seasonal_diff = 24, .members = 12, .hidden = 256, .layers = 2,
                      .loss = "relative", .lr_plateau = 3};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            print_help(stdout);
            return 1;
        }
        if (cdnopt_cli_set_log_flag(argv[i]))
            continue;
        /* A bare argument is the folder, written last in the --score form. */
        if (strncmp(argv[i], "--", 2) != 0 && o->out == NULL) {
            o->out = argv[i];
            continue;
        }
        if (given_before(argv, i)) {
            fprintf(stderr, "cdnopt m4: flag %s is given more than once; give it once\n",
                    argv[i]);
            return CDNOPT_EINVAL;
        }
        if (parse_flag(o, argc, argv, &i) != CDNOPT_OK)
            return CDNOPT_EINVAL;
    }

    const char *missing = o->train == NULL                ? "--train FILE"
                          : o->score && o->test == NULL   ? "--test FILE"
                          : o->out == NULL                ? (o->score ? "DIR" : "--out DIR")
                                                          : NULL;
    if (missing != NULL) {
        fprintf(stderr, "cdnopt m4: missing %s; run 'cdnopt m4 --help'\n", missing);
        return CDNOPT_EINVAL;
    }
    return check_flags_read(argc, argv, o);
}

/* ------------------------------------------------------------------------- */
/* Output                                                                    */
/* ------------------------------------------------------------------------- */

/* Print the scores of one row; its first column is headed heading ("method" when
 * forecasting, "folder" when scoring a folder) and contains label. */
static void print_summary(const char *heading, const char *label, const cdnopt_m4_summary *s,
                          double level)
{
    printf("%-8s %7s %9s %8s %7s %9s %9s %7s %9s\n", heading, "series", "sMAPE", "MASE", "OWA",
           "MSIS", "coverage", "ACD", "width");
    printf("%-8s %7zu %9.3f %8.3f %7.3f %9.3f %9.3f %7.3f %9.3f\n", label, s->n_series, s->smape,
           s->mase, s->owa, s->msis, s->coverage, s->acd, s->width);
    printf("naive2 reference: sMAPE %.3f, MASE %.3f; %zu of %zu series seasonal; "
           "MSIS and coverage at level %.2f, width in MASE scales\n",
           s->smape_naive2, s->mase_naive2, s->n_seasonal, s->n_series, level);
}

static int write_file(const char *dir, const char *name, const cdnopt_m4_set *set, char *err)
{
    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
        return cdnopt_fail(err, CDNOPT_EINVAL, "--out: folder path '%s' is too long", dir);
    return cdnopt_m4_write(path, set, err);
}

static int write_folder(const m4_options *o, const cdnopt_m4_forecasts *fc,
                        const cdnopt_m4_set *train, const cdnopt_m4_set *test, char *err)
{
    if (mkdir(o->out, 0777) != 0 && errno != EEXIST)
        return cdnopt_fail(err, CDNOPT_EIO, "--out: cannot create folder '%s': %s", o->out,
                           strerror(errno));
    int rc = write_file(o->out, "forecasts.csv", fc->mean, err);
    if (rc == CDNOPT_OK && fc->lower != NULL)
        rc = write_file(o->out, "lower.csv", fc->lower, err);
    if (rc == CDNOPT_OK && fc->upper != NULL)
        rc = write_file(o->out, "upper.csv", fc->upper, err);
    if (rc == CDNOPT_OK && test != NULL)
        rc = write_file(o->out, "train.csv", train, err);
    if (rc == CDNOPT_OK && test != NULL)
        rc = write_file(o->out, "test.csv", test, err);
    return rc;
}

/* Names of the files that write_folder may write into --out. */
static const char *const folder_files[] = {"forecasts.csv", "lower.csv", "upper.csv",
                                           "train.csv", "test.csv"};

/*
 * Reject an --out folder where a file that this run writes is the --train file
 * itself, before any work: --validation would otherwise replace the training
 * series with their shortened copies, and each rerun would cut them again.
 */
static int check_out_spares_train(const m4_options *o, char *err)
{
    struct stat input;
    if (stat(o->train, &input) != 0)
        return CDNOPT_OK;
    for (size_t i = 0; i < sizeof folder_files / sizeof folder_files[0]; i++) {
        char path[PATH_MAX];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", o->out, folder_files[i]);
        if (stat(path, &st) == 0 && st.st_dev == input.st_dev && st.st_ino == input.st_ino)
            return cdnopt_fail(err, CDNOPT_EINVAL,
                               "--out folder '%s' would overwrite --train '%s' with its %s; "
                               "choose another --out folder so that the input is kept",
                               o->out, o->train, folder_files[i]);
    }
    return CDNOPT_OK;
}

/* ------------------------------------------------------------------------- */
/* Commands                                                                  */
/* ------------------------------------------------------------------------- */

static int run_forecast(const m4_options *o, char *err)
{
    const method_family *family = NULL;
    cdnopt_m4_method_fn fn = NULL;
    void *ctx = NULL;
    int rc = resolve_method(o, &family, &fn, &ctx, err);
    if (rc != CDNOPT_OK)
        return rc;

    cdnopt_m4_set *full = NULL, *train = NULL, *test = NULL;
    cdnopt_m4_forecasts fc = {0};
    rc = cdnopt_m4_read(o->train, &full, err);
    if (rc == CDNOPT_OK && o->validation)
        rc = cdnopt_m4_split(full, (size_t)o->horizon, &train, &test, err);
    const cdnopt_m4_set *in_sample = o->validation ? train : full;

    double start_s = cdnopt_clock_s();
    if (rc == CDNOPT_OK && family->forecast_set != NULL)
        rc = family->forecast_set(in_sample, o, ctx, &fc, err);
    else if (rc == CDNOPT_OK)
        rc = cdnopt_m4_forecast(in_sample, (size_t)o->horizon, fn, ctx, &fc, err);
    if (rc == CDNOPT_OK)
        CDNOPT_LOG_INFO(LOG_MODULE, "method=%s series=%zu horizon=%ld seconds=%.2f", o->method,
                        in_sample->n_series, o->horizon, cdnopt_clock_s() - start_s);
    if (rc == CDNOPT_OK)
        rc = write_folder(o, &fc, train, test, err);

    cdnopt_m4_summary summary;
    if (rc == CDNOPT_OK && o->validation)
        rc = cdnopt_m4_score(train, test, &fc, (size_t)o->period, o->level, &summary, err);
    if (rc == CDNOPT_OK && o->validation)
        print_summary("method", o->method, &summary, o->level);

    cdnopt_m4_forecasts_fini(&fc);
    cdnopt_m4_set_free(full);
    cdnopt_m4_set_free(train);
    cdnopt_m4_set_free(test);
    family->release(ctx);
    return rc;
}

/* The horizon of a test file: every series must have the same number of values. */
static int test_horizon(const cdnopt_m4_set *test, size_t *h, char *err)
{
    *h = test->length[0];
    for (size_t i = 1; i < test->n_series; i++) {
        if (test->length[i] != *h)
            return cdnopt_fail(err, CDNOPT_ESHAPE,
                               "%s:%zu: series %s has %zu test values but series %s has %zu; "
                               "every series needs the same horizon",
                               test->path, test->line[i], test->ids[i], test->length[i],
                               test->ids[0], *h);
    }
    return CDNOPT_OK;
}

static int run_score(const m4_options *o, char *err)
{
    cdnopt_m4_set *train = NULL, *test = NULL;
    cdnopt_m4_forecasts fc = {0};
    size_t h = 0;
    int rc = cdnopt_m4_read(o->train, &train, err);
    if (rc == CDNOPT_OK)
        rc = cdnopt_m4_read(o->test, &test, err);
    if (rc == CDNOPT_OK)
        rc = test_horizon(test, &h, err);
    if (rc == CDNOPT_OK)
        rc = cdnopt_m4_forecasts_read(o->out, h, &fc, err);

    cdnopt_m4_summary summary;
    if (rc == CDNOPT_OK)
        rc = cdnopt_m4_score(train, test, &fc, (size_t)o->period, o->level, &summary, err);
    if (rc == CDNOPT_OK)
        print_summary("folder", o->out, &summary, o->level);

    cdnopt_m4_forecasts_fini(&fc);
    cdnopt_m4_set_free(train);
    cdnopt_m4_set_free(test);
    return rc;
}

int cdnopt_cmd_m4(int argc, char **argv)
{
    m4_options o;
    int parsed = parse_args(argc, argv, &o);
    if (parsed == 1)
        return CDNOPT_EXIT_OK;
    if (parsed != CDNOPT_OK)
        return CDNOPT_EXIT_USAGE;

    /* Create the output folder before the work, so a bad --out fails at once. */
    if (!o.score && mkdir(o.out, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "cdnopt m4: --out: cannot create folder '%s': %s; check that its parent "
                "folder exists and is writable\n", o.out, strerror(errno));
        return CDNOPT_EXIT_USAGE;
    }

    char err[CDNOPT_ERRMSG_MAX] = "";
    if (!o.score && check_out_spares_train(&o, err) != CDNOPT_OK) {
        fprintf(stderr, "cdnopt m4: %s\n", err);
        return CDNOPT_EXIT_USAGE;
    }
    int rc = o.score ? run_score(&o, err) : run_forecast(&o, err);
    if (rc != CDNOPT_OK) {
        fprintf(stderr, "cdnopt m4: %s\n", err);
        return rc == CDNOPT_ENOTFOUND && strncmp(err, "--method", 8) == 0 ? CDNOPT_EXIT_USAGE
                                                                            : CDNOPT_EXIT_FAILURE;
    }
    return CDNOPT_EXIT_OK;
}
