-- wrk script for tests/bench/run: POST one record per request to
-- /write-through, and print a machine-readable summary line at the end:
--   BENCH requests=R non2xx=S errors=E rps=X p50_us=A p99_us=B
wrk.method = "POST"
wrk.path = "/write-through"
wrk.body = '{"name":"John Doe","age":30,"occupation":"Engineer"}'
wrk.headers["Content-Type"] = "application/json"

function done(summary, latency, requests)
	local e = summary.errors
	io.write(string.format(
		"BENCH requests=%d non2xx=%d errors=%d rps=%.1f p50_us=%d p99_us=%d\n",
		summary.requests, e.status, e.connect + e.read + e.write + e.timeout,
		summary.requests / (summary.duration / 1e6),
		latency:percentile(50), latency:percentile(99)))
end
