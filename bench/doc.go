// Package bench owns edge's performance harness: the Go benchmarks of the
// request path and the scripts that load a running edge with wrk. It has no
// code of its own; everything is in its tests and in its subdirectories.
//
// # Go benchmarks
//
// The benchmarks in this package's tests wire the real parts the way
// cmd/edge does: the demo origin (internal/demo, no render latency) on a
// 127.0.0.1 listener, origin.Client, store.Store in a temp directory,
// memcache.Cache, gen.Generator and proxy.Server. They measure a memory hit
// through the handler alone (serial and parallel), a disk hit, a memory hit
// through a real fasthttp server on an in-memory listener, and a miss that
// generates and stores a page. TestMemoryHitZeroAllocs holds the memory hit
// to zero allocations.
//
//	go test -run '^$' -bench . -benchmem -count 10 ./bench > new.txt
//	benchstat old.txt new.txt
//
// # Load runs
//
// run.sh builds edge and the demo origin, warms a page through edge, serves
// the same bytes with nginx (sendfile, open_file_cache) and drives both with
// wrk (scripts in wrk/), each server pinned to its own CPU. It reports
// edge's throughput and p99 latency as ratios of nginx's: nginx serving a
// static file is the ceiling a pre-generated page cache can hope to reach.
// Everything listens on 127.0.0.1 only.
//
// # Load suite
//
// suite.sh runs cmd/suite: every scenario of issue 3 (hot, zipf,
// crawl-warm, stampede, crawl-cold, bypass, invalidate) against edge,
// nginx serving edge's store as static files, nginx proxy_cache, Varnish
// and the bare demo origin, each pinned to CPU 0 with the load on CPU 1.
// Throughput comes from wrk; latency from cmd/ratectl, a constant-rate
// generator that counts latency from each request's due time
// (internal/loadgen). It writes results/<date>.md and <date>.json
// (internal/results), and cmd/benchchart draws <date>.svg from the JSON.
//
// # Results
//
// results/ keeps dated markdown notes of runs: the machine, the exact
// commands, the raw numbers. Numbers are only comparable with numbers from
// the same kind of machine.
//
// See README.md in this directory for how to run and read both.
package bench
