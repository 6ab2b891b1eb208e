-- zipf.lua: a hot set and a long tail over /events/1..N, the shape of real
-- traffic (and of a crawler walking the tail while users hit the front).
--
-- With probability HOT_SHARE a request picks one of the first HOT pages
-- with Zipf-distributed popularity (page k weighs 1/k^S); otherwise it
-- picks uniformly among the other N-HOT pages. The seed is fixed (SEED,
-- plus the thread number), so runs ask for the same sequence of pages.
--
--   ZIPF_N=2000 wrk -t1 -c64 -d10s --latency -s bench/wrk/zipf.lua http://127.0.0.1:8080/
--
-- Environment (defaults): ZIPF_N (2000), HOT (200), HOT_SHARE (0.9),
-- S (1.0), SEED (42), PREFIX (/events/).

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "report.lua")

local function env(name, default)
   local v = os.getenv(name)
   if v == nil or v == "" then return default end
   return tonumber(v) or v
end

local n      = env("ZIPF_N", 2000)
local hot    = math.min(env("HOT", 200), n)
local share  = env("HOT_SHARE", 0.9)
local s      = env("S", 1.0)
local seed   = env("SEED", 42)
local prefix = env("PREFIX", "/events/")

local threads = 0
function setup(thread)
   thread:set("id", threads)
   threads = threads + 1
end

-- cdf[k] is the probability that a hot request picks one of pages 1..k.
local cdf = {}

function init(args)
   math.randomseed(seed + (id or 0))
   local total = 0
   for k = 1, hot do total = total + 1 / k ^ s end
   local acc = 0
   for k = 1, hot do
      acc = acc + 1 / k ^ s / total
      cdf[k] = acc
   end
   cdf[hot] = 1
end

local function pick_hot()
   local u, lo, hi = math.random(), 1, hot
   while lo < hi do -- the first k with cdf[k] >= u
      local mid = math.floor((lo + hi) / 2)
      if cdf[mid] < u then lo = mid + 1 else hi = mid end
   end
   return lo
end

function request()
   local page
   if hot >= n or math.random() < share then
      page = pick_hot()
   else
      page = math.random(hot + 1, n)
   end
   return wrk.format("GET", prefix .. page)
end
