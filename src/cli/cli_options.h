/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Flag groups that several subcommands share: how to read the input series
 * (--data, --column, --unit, --tz, --fill-gaps, --max-gap, --duplicates,
 * --drop-missing) and how to train a model
 * (--arch, --epochs, --window, ...). Each group is a struct of flag values with
 * defaults, a macro that expands to its cdnopt_cli_option rows, and a function
 * that turns the values into library parameters.
 */
#ifndef CDNOPT_CLI_OPTIONS_H
#define CDNOPT_CLI_OPTIONS_H

#include "cli_args.h"

#include "cdnopt/model.h"
#include "cdnopt/series.h"

/** Values of the data-reading flags. */
typedef struct cdnopt_cli_data_opts {
    const char *data;      /* CSV path */
    const char *column;    /* value column's header name, or NULL for the first after time */
    const char *unit;      /* unit name, see cdnopt_unit_parse */
    const char *tz;        /* IANA zone for zoned timestamps, or NULL for the machine's */
    const char *fill_gaps; /* "none", "linear" or "previous" */
    int64_t max_gap_s;     /* maximum gap that may be filled, seconds; 0 = no limit */
    const char *duplicates; /* "error", "keep-last" or "mean" */
    bool drop_missing;     /* drop rows without a value and fill them like gaps */
} cdnopt_cli_data_opts;

/** Defaults: no file, first value column, Gbit/s, machine zone, gaps are errors. */
cdnopt_cli_data_opts cdnopt_cli_data_opts_default(void);

/* Rows of the data-reading flags for a cdnopt_cli_option array. */
#define CDNOPT_CLI_DATA_OPTIONS(d)                                                              \
    {"--data", CDNOPT_CLI_STRING, &(d)->data, 0, 0, "FILE",                                   \
     "CSV of bandwidth samples: a time column, then value columns", true, false},              \
    CDNOPT_CLI_READ_OPTIONS(d)

/* Row of --recent-days, shared by forecast and evaluate so that both widen the stored
 * interval factors the same way. */
#define CDNOPT_CLI_RECENT_DAYS_OPTION(days)                                                     \
    {"--recent-days", CDNOPT_CLI_INT, (days), 0, 365, "N",                                    \
     "days before the forecast start whose forecast errors may widen the model's interval "   \
     "factors (0 = the stored factors only)",                                                  \
     false, false}

/* Rows of the flags that say how to read a series file, for commands that name the
 * file with their own flag (train-agent --history). */
#define CDNOPT_CLI_READ_OPTIONS(d)                                                              \
    {"--column", CDNOPT_CLI_STRING, &(d)->column, 0, 0, "NAME",                               \
     "header name of the value column (default: the first after the time column)", false,     \
     false},                                                                                    \
    {"--unit", CDNOPT_CLI_STRING, &(d)->unit, 0, 0, "UNIT",                                   \
     "unit of the values: gbit/s, mbit/s, bit/s, bits-per-interval, bytes-per-interval or "    \
     "raw (no conversion to Gbit/s)",                                                          \
     false, false},                                                                             \
    {"--tz", CDNOPT_CLI_STRING, &(d)->tz, 0, 0, "ZONE",                                       \
     "zone that zoned timestamps are converted to: an IANA name or a fixed offset such as "   \
     "UTC+01:00 (default: the machine's zone)",                                                \
     false, false},                                                                             \
    {"--fill-gaps", CDNOPT_CLI_STRING, &(d)->fill_gaps, 0, 0, "MODE",                         \
     "repair missing steps: none (a gap is an error), linear or previous", false, false},     \
    {"--max-gap", CDNOPT_CLI_DURATION, &(d)->max_gap_s, 0, 366.0 * 86400, "DURATION",         \
     "longest gap --fill-gaps may fill (0 = no limit)", false, false},                        \
    {"--duplicates", CDNOPT_CLI_STRING, &(d)->duplicates, 0, 0, "MODE",                       \
     "rows with a repeated timestamp: error, keep-last (the last row wins) or mean", false,  \
     false},                                                                                    \
    {"--drop-missing", CDNOPT_CLI_FLAG, &(d)->drop_missing, 0, 0, "",                         \
     "drop rows with an empty or NaN value and fill them like gaps (needs --fill-gaps)",       \
     false, false}

/**
 * Read the series the data flags name, logging the reader's repairs.
 * @param out  receives the series; the caller frees it with cdnopt_series_free()
 * @return CDNOPT_OK, CDNOPT_EINVAL for a bad --unit, --fill-gaps or --duplicates value, or the
 *         reader's error (message in err names file, line and value)
 */
int cdnopt_cli_read_series(const cdnopt_cli_data_opts *d, cdnopt_series **out, char *err);

/**
 * Record the scale of --unit in a model about to be saved: "raw" for --unit raw, else
 * "gbit/s", since every other unit is converted to Gbit/s on reading. CDNOPT_EINVAL
 * for a bad --unit.
 */
int cdnopt_cli_model_unit_set(cdnopt_model *m, const cdnopt_cli_data_opts *d, char *err);

/**
 * Check that series s (read from data_path) has the step the model was trained on.
 * CDNOPT_EINVAL with a message naming both steps and the fix.
 */
int cdnopt_cli_model_step_check(const cdnopt_model *m, const char *model_path,
                                const cdnopt_series *s, const char *data_path, char *err);

/**
 * Check that --unit reads the data at the model's scale: raw for a raw model,
 * converted to Gbit/s for any other. A model that recorded no unit (saved before
 * models kept one) passes. CDNOPT_EINVAL with a message naming the model and the fix.
 */
int cdnopt_cli_model_unit_check(const cdnopt_model *m, const char *model_path,
                                const cdnopt_cli_data_opts *d, char *err);

/** Values of the training flags. */
typedef struct cdnopt_cli_train_opts {
    const char *arch;   /* "residual-lstm" or "transformer" */
    const char *head;   /* output head: "auto", "recursive" or "direct" */
    const char *head_base; /* base of the direct head: "auto", "seasonal" or "last" */
    long epochs;        /* maximum epochs */
    int64_t window_s;   /* input window, seconds */
    long units;         /* LSTM units per layer */
    long batch;         /* windows per batch */
    double lr;          /* Adam learning rate */
    bool no_calendar;   /* drop the hour-of-day and day-of-week inputs */
    bool seasonal_lag;  /* add the value one day before each step as an input */
    long patience;      /* early-stopping patience, epochs */
    long max_windows;   /* windows sampled per epoch, 0 = all */
    long seed;          /* seed of weights, shuffling and dropout */
} cdnopt_cli_train_opts;

/** Defaults taken from cdnopt_model_params_default() (window one day). */
cdnopt_cli_train_opts cdnopt_cli_train_opts_default(void);

/* The training flags that set the model a run trains, all of CDNOPT_CLI_TRAIN_OPTIONS
 * but --seed. A saved model (evaluate --model) or a checkpoint (train --resume) brings
 * its own values for them. */
#define CDNOPT_CLI_N_MODEL_FLAGS 12
extern const char *const cdnopt_cli_model_flags[CDNOPT_CLI_N_MODEL_FLAGS];

/* Rows of the training flags for a cdnopt_cli_option array. */
#define CDNOPT_CLI_TRAIN_OPTIONS(t)                                                             \
    {"--arch", CDNOPT_CLI_STRING, &(t)->arch, 0, 0, "NAME",                                   \
     "network: residual-lstm or transformer", false, false},                                  \
    {"--head", CDNOPT_CLI_STRING, &(t)->head, 0, 0, "NAME",                                   \
     "output head: recursive (one step, fed back), direct (one day of steps at once; "        \
     "residual LSTM only) or auto (direct for the residual LSTM, else recursive)", false,     \
     false},                                                                                    \
    {"--head-base", CDNOPT_CLI_STRING, &(t)->head_base, 0, 0, "NAME",                         \
     "what the direct head's output is added to: seasonal (the value one day before each "    \
     "step), last (the last observed value) or auto (seasonal when --window is at least one " \
     "day, else last)", false, false},                                                         \
    {"--epochs", CDNOPT_CLI_INT, &(t)->epochs, 1, 10000, "N",                                 \
     "maximum training epochs; training stops early when the validation loss stalls", false,  \
     false},                                                                                    \
    {"--window", CDNOPT_CLI_DURATION, &(t)->window_s, 60, 28.0 * 86400, "DURATION",           \
     "input window of past samples, a multiple of the series step", false, false},           \
    {"--units", CDNOPT_CLI_INT, &(t)->units, 1, 4096, "N", "LSTM units per layer", false,     \
     false},                                                                                    \
    {"--batch", CDNOPT_CLI_INT, &(t)->batch, 1, 65536, "N", "windows per training batch",     \
     false, false},                                                                             \
    {"--lr", CDNOPT_CLI_DOUBLE, &(t)->lr, 1e-7, 1.0, "RATE", "Adam learning rate", false,     \
     false},                                                                                    \
    {"--patience", CDNOPT_CLI_INT, &(t)->patience, 1, 1000, "N",                              \
     "epochs without a better validation loss before training stops", false, false},         \
    {"--max-windows", CDNOPT_CLI_INT, &(t)->max_windows, 0, 100000000, "N",                  \
     "training windows drawn at random for each epoch (0 = every window)", false, false},     \
    {"--no-calendar", CDNOPT_CLI_FLAG, &(t)->no_calendar, 0, 0, "",                           \
     "leave out the hour-of-day and day-of-week inputs", false, false},                       \
    {"--seasonal-lag", CDNOPT_CLI_FLAG, &(t)->seasonal_lag, 0, 0, "",                         \
     "add the value one day before each step as an input", false, false},                    \
    {"--seed", CDNOPT_CLI_INT, &(t)->seed, 0, 2147483647.0, "N",                              \
     "seed of initial weights, shuffling and dropout", false, false}

/**
 * Turn the training flags into model parameters for a series of step step_s.
 * @return CDNOPT_OK or CDNOPT_EINVAL naming the flag (--arch, --head or --head-base
 *         unknown, --window not a multiple of the step)
 */
int cdnopt_cli_model_params(const cdnopt_cli_train_opts *t, int64_t step_s,
                            cdnopt_model_params *out, char *err);

/** Epoch callback that logs epoch, loss, val_loss and seconds at INFO level. */
void cdnopt_cli_log_epoch(const cdnopt_epoch_report *r, void *user);

#endif
