-- report.lua: wrk's done() hook, shared by the scenarios (they dofile it).
-- It prints one line that scripts can parse, after wrk's own summary:
--
--   wrk-report requests=N duration_s=S rps=R p50_ms=A p99_ms=B p999_ms=C errors=E non2xx=F bytes=N
--
-- Latencies are in milliseconds (wrk records microseconds); errors counts
-- connect, read, write and timeout errors; non2xx counts responses whose
-- status is not 2xx or 3xx.

function done(summary, latency, requests)
   local s = summary.duration / 1e6
   local e = summary.errors
   io.write(string.format(
      "wrk-report requests=%d duration_s=%.3f rps=%.1f p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f errors=%d non2xx=%d bytes=%d\n",
      summary.requests, s, summary.requests / s,
      latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency:percentile(99.9) / 1000,
      e.connect + e.read + e.write + e.timeout, e.status, summary.bytes))
end
