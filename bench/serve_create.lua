-- SPDX-License-Identifier: Apache-2.0
-- wrk script: each request creates releases through POST /api/v1/releases.
-- BATCH (environment, default 1) sets the releases per request; ids are unique
-- per wrk thread and request. done() prints the acknowledged releases per
-- second and the count of responses other than 201.
local batch = tonumber(os.getenv("BATCH") or "1")
local threads = {}
local next_index = 0

function setup(thread)
    thread:set("index", next_index)
    next_index = next_index + 1
    table.insert(threads, thread)
end

function init(args)
    counter = 0
    failures = 0
    created = 0
    prefix = string.format("w%d-", index)
end

-- Bodies are assembled from pieces prepared once per thread, so that the client
-- spends little CPU per request: only the per-request id prefix changes.
local pieces = {}

local function prepare_pieces()
    for i = 1, batch do
        local tail = string.format(
            '-%d","size_mb":120.5,"users":2500,"planned_at":"2004-12-14 10:00:00"}', i)
        if i < batch then
            tail = tail .. ',{"id":"'
        end
        pieces[2 * i] = tail
    end
end

function request()
    if pieces[2] == nil then
        prepare_pieces()
    end
    counter = counter + 1
    local request_prefix = prefix .. counter
    for i = 1, batch do
        pieces[2 * i - 1] = request_prefix
    end
    local body
    if batch == 1 then
        body = '{"id":"' .. table.concat(pieces)
    else
        body = '{"releases":[{"id":"' .. table.concat(pieces) .. ']}'
    end
    return wrk.format("POST", "/api/v1/releases", {["Content-Type"] = "application/json"}, body)
end

function response(status, headers, body)
    if status == 201 then
        created = created + batch
    else
        failures = failures + 1
    end
end

function done(summary, latency, requests)
    local total_created = 0
    local total_failures = 0
    for _, thread in ipairs(threads) do
        total_created = total_created + thread:get("created")
        total_failures = total_failures + thread:get("failures")
    end
    local seconds = summary.duration / 1e6
    io.write(string.format("RESULT batch=%d requests_per_s=%.1f releases_per_s=%.1f " ..
        "p50_ms=%.3f p99_ms=%.3f non_201=%d errors=%d\n", batch, summary.requests / seconds,
        total_created / seconds, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
        total_failures, summary.errors.connect + summary.errors.read + summary.errors.write +
        summary.errors.status + summary.errors.timeout))
end
