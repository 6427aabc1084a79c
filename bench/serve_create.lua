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

local function release(id)
    return string.format(
        '{"id":"%s","size_mb":120.5,"users":2500,"planned_at":"2004-12-14 10:00:00"}', id)
end

function request()
    local parts = {}
    for i = 1, batch do
        counter = counter + 1
        parts[i] = release(prefix .. counter)
    end
    local body
    if batch == 1 then
        body = parts[1]
    else
        body = '{"releases":[' .. table.concat(parts, ",") .. ']}'
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
