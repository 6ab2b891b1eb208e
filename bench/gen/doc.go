// Package genbench measures bulk generation (edge gen): pages per second
// through the real chain — gen.Bulk, gen.Generator (gzip + brotli),
// origin.Client under its Budget, store.Store (NoSync) — against the demo
// origin on a 127.0.0.1 listener. Run it with a fixed page count:
//
//	go test -run '^$' -bench . -benchtime 2000x ./bench/gen
//
// BenchmarkBulkDemo30ms uses the demo's own pace (30 ms per render, 4 at
// once: at most 133 pages/s) and reports pages/s and the share of that
// ceiling reached, for a budget of 4 slots with one or two workers per
// slot (edge gen's default is two), and for budgets larger than the
// origin's 4 workers (slots=16 saturates the origin: its pages/s is the
// real ceiling of the machine at the time). BenchmarkBulkInstant has no
// render latency, so it measures edge's own cost per page (fetch, gzip and
// brotli at the default levels, files and index).
package genbench
