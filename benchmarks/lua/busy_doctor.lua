-- One doctor's bookings: request n of the run books the doctor's n-th 30-minute slot after
-- the base time, for the data file's patient n mod K, so no two requests collide (each slot
-- once, each patient's slots K apart) while every request has the same doctor.
-- Usage: wrk ... -s busy_doctor.lua <url> -- <data file> <base epoch seconds> <threads>
package.path = debug.getinfo(1, "S").source:match("@(.*/)") .. "?.lua;" .. package.path
local common = require("common")
local pairs_, base, threads
local counter = 0
local SLOT = 30 * 60

setup = common.setup
done = common.done

function init(args)
  pairs_ = common.rows(args[1])
  base = tonumber(args[2])
  threads = tonumber(args[3])
end

local function stamp(epoch)
  return os.date("!%Y-%m-%dT%H:%M:%SZ", epoch)
end

function request()
  local n = counter * threads + tid
  counter = counter + 1
  local pair = pairs_[n % #pairs_ + 1]
  local start = base + n * SLOT
  local body = string.format(
    '{"doctor_id":"%s","start_at":"%s","end_at":"%s","reason":"Benchmark booking"}',
    pair[2], stamp(start), stamp(start + SLOT))
  local headers = common.bearer(pair[1])
  headers["Content-Type"] = "application/json"
  return wrk.format("POST", "/appointments", headers, body)
end
