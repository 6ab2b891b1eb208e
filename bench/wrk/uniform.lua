-- uniform.lua: every request picks one of /events/1..N uniformly, a crawler
-- walking the stored pages in random order (bench/cmd/suite's crawl-warm).
-- The seed is fixed (SEED, plus the thread number), so runs ask for the
-- same sequence of pages.
--
--   N=100000 wrk -t1 -c64 -d5s --latency -s bench/wrk/uniform.lua http://127.0.0.1:8080/
--
-- Environment (defaults): N (100000), SEED (42), PREFIX (/events/).

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "report.lua")

local function env(name, default)
   local v = os.getenv(name)
   if v == nil or v == "" then return default end
   return tonumber(v) or v
end

local n      = env("N", 100000)
local seed   = env("SEED", 42)
local prefix = env("PREFIX", "/events/")

local threads = 0
function setup(thread)
   thread:set("id", threads)
   threads = threads + 1
end

function init(args)
   math.randomseed(seed + (id or 0))
end

function request()
   return wrk.format("GET", prefix .. math.random(1, n))
end
