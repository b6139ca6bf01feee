-- GET requests drawn at random from the data file's "token<TAB>path" lines ("-": no token).
-- Usage: wrk ... -s get.lua <url> -- <data file>
package.path = debug.getinfo(1, "S").source:match("@(.*/)") .. "?.lua;" .. package.path
local common = require("common")
local requests

setup = common.setup
done = common.done

function init(args)
  math.randomseed(os.time() + tid)
  requests = {}
  for i, row in ipairs(common.rows(args[1])) do
    local headers = row[1] ~= "-" and common.bearer(row[1]) or {}
    requests[i] = wrk.format("GET", row[2], headers)
  end
end

function request()
  return requests[math.random(#requests)]
end
