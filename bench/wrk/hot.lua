-- hot.lua: every request asks for the same page, the best case of a cache
-- (the page is in memory after the first request). The path is the one in
-- wrk's URL, or HOT_PATH if set. No request() function is defined, so wrk
-- keeps sending one pre-built request and the load generator stays cheap.
--
--   wrk -t1 -c64 -d10s --latency -s bench/wrk/hot.lua http://127.0.0.1:8080/events/42

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "report.lua")

local path = os.getenv("HOT_PATH")
if path and path ~= "" then
   wrk.path = path
end
