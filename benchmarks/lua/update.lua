-- A doctor writes notes on their appointment with If-Match. Each thread owns the data
-- file's lines i with i mod threads == tid ("token<TAB>id<TAB>version") and keeps them in a
-- queue: an appointment goes back in the queue with its new version when the reply
-- arrives, so no two requests in flight ever race for the same version.
-- Usage: wrk ... -s update.lua <url> -- <data file> <threads>
package.path = debug.getinfo(1, "S").source:match("@(.*/)") .. "?.lua;" .. package.path
local common = require("common")
local ready, token_of = {}, {}
local head, tail = 1, 0
local counter = 0

setup = common.setup
done = common.done

local function push(id, version)
  tail = tail + 1
  ready[tail] = { id, version }
end

function init(args)
  local threads = tonumber(args[2])
  for i, row in ipairs(common.rows(args[1])) do
    if (i - 1) % threads == tid then
      token_of[row[2]] = row[1]
      push(row[2], row[3])
    end
  end
end

function request()
  local entry = ready[head]
  if entry == nil then
    error("update.lua: no appointment left whose version is known (were replies refused?)")
  end
  ready[head] = nil
  head = head + 1
  counter = counter + 1
  local headers = common.bearer(token_of[entry[1]])
  headers["Content-Type"] = "application/json"
  headers["If-Match"] = '"v' .. entry[2] .. '"'
  local body = string.format('{"notes":"Benchmark note %d"}', counter)
  return wrk.format("PUT", "/appointments/" .. entry[1], headers, body)
end

function response(status, headers, body)
  if status == 200 then
    push(body:match('"id":"([^"]+)"'), body:match('"version":(%d+)'))
  end
end
