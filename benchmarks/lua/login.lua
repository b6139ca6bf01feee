-- Sign-ins with the right password (bcrypt at the production cost) for the data file's
-- emails, at random.
-- Usage: wrk ... -s login.lua <url> -- <data file> <password>
package.path = debug.getinfo(1, "S").source:match("@(.*/)") .. "?.lua;" .. package.path
local common = require("common")
local requests

setup = common.setup
done = common.done

function init(args)
  math.randomseed(os.time() + tid)
  requests = {}
  for i, row in ipairs(common.rows(args[1])) do
    local body = string.format('{"email":"%s","password":"%s"}', row[1], args[2])
    requests[i] = wrk.format("POST", "/auth/login", { ["Content-Type"] = "application/json" }, body)
  end
end

function request()
  return requests[math.random(#requests)]
end
