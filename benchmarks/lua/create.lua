-- Bookings that never collide: request n of the run goes to the data file's pair n mod K
-- (patient k with doctor k) at slot n div K after the base time. Each slot holds K
-- bookings with K different patients and K different doctors, and n is unique across
-- threads (n = counter * threads + tid). With "spread" as fourth argument, request n takes
-- slot n instead: with one doctor in the file, a busy doctor's consecutive free slots.
-- Usage: wrk ... -s create.lua <url> -- <data file> <base epoch seconds> <threads> [spread]
package.path = debug.getinfo(1, "S").source:match("@(.*/)") .. "?.lua;" .. package.path
local common = require("common")
local pairs_, base, threads, spread
local counter = 0
local SLOT = 30 * 60

setup = common.setup
done = common.done

function init(args)
  pairs_ = common.rows(args[1])
  base = tonumber(args[2])
  threads = tonumber(args[3])
  spread = args[4] == "spread"
end

local function stamp(epoch)
  return os.date("!%Y-%m-%dT%H:%M:%SZ", epoch)
end

function request()
  local n = counter * threads + tid
  counter = counter + 1
  local pair = pairs_[n % #pairs_ + 1]
  local slot = spread and n or math.floor(n / #pairs_)
  local start = base + slot * SLOT
  local body = string.format(
    '{"doctor_id":"%s","start_at":"%s","end_at":"%s","reason":"Benchmark booking"}',
    pair[2], stamp(start), stamp(start + SLOT))
  local headers = common.bearer(pair[1])
  headers["Content-Type"] = "application/json"
  return wrk.format("POST", "/appointments", headers, body)
end
