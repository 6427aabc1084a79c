#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The main job on the built-in data: generate a synthetic month of CDN bandwidth,
# train the residual LSTM with a small budget, forecast the next day, evaluate it
# beside the baselines, then plan the pending releases against the forecast.
set -eu
cdnopt=${1:-build/bin/cdnopt}
out=${DEMO_OUT:-demo-out}
mkdir -p "$out"

"$cdnopt" version
