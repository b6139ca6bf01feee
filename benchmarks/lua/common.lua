-- Shared by the scenario scripts: reading the runner's data file, numbering threads, and
-- printing wrk's summary as one JSON line the runner parses.
local common = {}

function common.rows(path)
  local rows = {}
  for line in io.lines(path) do
    local fields = {}
    for field in string.gmatch(line, "[^\t]+") do
      fields[#fields + 1] = field
    end
    rows[#rows + 1] = fields
  end
  return rows
end

local next_tid = 0
function common.setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
end

function common.bearer(token)
  return { ["Authorization"] = "Bearer " .. token }
end

function common.done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"status_errors":%d,"socket_errors":%d,'
      .. '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end

return common
