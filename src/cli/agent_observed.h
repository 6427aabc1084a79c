// SPDX-License-Identifier: Apache-2.0
/*
 * Forecasts that train-agent --model lets the agent observe: one point forecast (the
 * model's deterministic path, dropout off) of each 3-day window, made from the history
 * before the window's first day. Each window is forecast once and reused by every
 * episode drawn on it.
 */
#ifndef CDNOPT_CLI_AGENT_OBSERVED_H
#define CDNOPT_CLI_AGENT_OBSERVED_H

#include "cdnopt/model.h"
#include "cdnopt/series.h"

#include <stddef.h>

/*
 * Keep in days only the midnights with at least cdnopt_model_history_min() samples of
 * history before them. Returns how many remain, moved to the front in their order.
 */
size_t cdnopt__cli_days_with_history(const cdnopt_model *model, size_t *days, size_t n_days);

/*
 * Forecast the 3-day window starting at each of days[0..n_days) from the history before
 * it. out receives n_days new series on the windows' grids, in the history's unit; free
 * them with cdnopt__cli_windows_free(). On failure nothing is left allocated.
 * @return 0, CDNOPT_EINVAL (the model's step differs from the history's, a day without
 *         enough history; err names both) or CDNOPT_ENOMEM.
 */
int cdnopt__cli_forecast_windows(const cdnopt_model *model, const char *model_path,
                                 const cdnopt_series *history, const size_t *days,
                                 size_t n_days, cdnopt_series **out, char *err);

/* Free n series made by cdnopt__cli_forecast_windows(); NULL entries are skipped. */
void cdnopt__cli_windows_free(cdnopt_series **windows, size_t n);

#endif
