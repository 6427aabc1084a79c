/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CLI's subcommands. Each lives in its own cmd_<name>.c and has the signature
 * of main: it parses its own flags (argv[0] is the subcommand name) and returns
 * the process exit status (0 success, 1 failure, 2 usage error).
 *
 * To add a subcommand: write cmd_<name>.c, add one line to CDNOPT_COMMANDS below
 * and the file to src/cli/CMakeLists.txt.
 */
#ifndef CDNOPT_CLI_COMMANDS_H
#define CDNOPT_CLI_COMMANDS_H

/* X(name, function, one-line summary) in the order `cdnopt --help` lists them. */
#define CDNOPT_COMMANDS(X)                                                      \
    X("generate", cdnopt_cmd_generate, "write synthetic traffic and releases for a demo") \
    X("m4", cdnopt_cmd_m4, "forecast or score the M4 competition's wide CSV files")    \
    X("train", cdnopt_cmd_train, "train a forecasting model on a CSV series")            \
    X("forecast", cdnopt_cmd_forecast, "forecast the next day with calibrated intervals")   \
    X("evaluate", cdnopt_cmd_evaluate, "score day-ahead forecasts against the baselines")   \
    X("train-agent", cdnopt_cmd_train_agent, "train the DQN release planner on a history")  \
    X("serve", cdnopt_cmd_serve, "serve the REST API, metrics and the live dashboard")     \
    X("plan", cdnopt_cmd_plan, "schedule releases to cut peak or p95 bandwidth")          \
    X("score", cdnopt_cmd_score, "score a release schedule and list the rules it breaks") \
    X("version", cdnopt_cmd_version, "print the version and the libraries in use")

#define CDNOPT_COMMAND_DECLARE_(name, function, summary) int function(int argc, char **argv);
CDNOPT_COMMANDS(CDNOPT_COMMAND_DECLARE_)
#undef CDNOPT_COMMAND_DECLARE_

/* Exit statuses shared by all subcommands. */
enum {
    CDNOPT_EXIT_OK = 0,
    CDNOPT_EXIT_FAILURE = 1,
    CDNOPT_EXIT_USAGE = 2,
};

#endif
