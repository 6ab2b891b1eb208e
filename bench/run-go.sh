#!/usr/bin/env bash
# bench/run-go.sh: the Go micro-benchmarks of the request path, -count 10
# with -benchmem, summarised (or compared with a base revision) by benchstat.
#
#   bench/run-go.sh                      # this tree: .run/bench-go/new.txt, then benchstat of it
#   BASE=HEAD bench/run-go.sh            # also HEAD in a git worktree: benchstat old.txt new.txt
#   COUNT=3 BENCHTIME=200ms bench/run-go.sh   # a quick look
#
# Benchmarks: ./bench (memory hit through the handler, serial and parallel;
# disk hit; memory hit through a real fasthttp server; a miss that
# generates and stores a page), ./internal/cachekey BenchmarkNormalize (key
# normalisation), ./internal/store BenchmarkPut and BenchmarkGet (storing
# and reading a page). benchstat is fetched by `go run` from the module
# proxy without touching go.mod. Environment (defaults): COUNT (10),
# BENCHTIME (1s), OUT (.run/bench-go), BASE (none), BENCHSTAT
# (golang.org/x/perf/cmd/benchstat@latest).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
COUNT=${COUNT:-10}
BENCHTIME=${BENCHTIME:-1s}
OUT=${OUT:-$repo/.run/bench-go}
BENCHSTAT=${BENCHSTAT:-golang.org/x/perf/cmd/benchstat@latest}
mkdir -p "$OUT"

log() { printf '==> %s\n' "$*" >&2; }

# bench DIR FILE: every benchmark of the list in the tree at DIR, into FILE.
bench() {
	(
		cd "$1"
		flags=(-run '^$' -benchmem -count "$COUNT" -benchtime "$BENCHTIME" -timeout 30m)
		go test "${flags[@]}" -bench . ./bench
		go test "${flags[@]}" -bench '^BenchmarkNormalize$' ./internal/cachekey
		go test "${flags[@]}" -bench '^Benchmark(Put|Get)$' ./internal/store
	) >"$2"
}

files=()
if [[ -n ${BASE:-} ]]; then
	wt=$(mktemp -d "${TMPDIR:-/tmp}/edge-base.XXXXXX")
	trap 'git worktree remove --force "$wt" >/dev/null 2>&1 || rm -rf "$wt"' EXIT
	git worktree add --detach "$wt" "$BASE" >/dev/null
	log "benchmarks of $BASE ($(git -C "$wt" rev-parse --short HEAD)) into $OUT/old.txt"
	bench "$wt" "$OUT/old.txt"
	files+=("$OUT/old.txt")
fi
log "benchmarks of the working tree ($(git describe --always --dirty)) into $OUT/new.txt, -count $COUNT"
bench "$repo" "$OUT/new.txt"
files+=("$OUT/new.txt")
log "benchstat ${files[*]##*/}"
go run "$BENCHSTAT" "${files[@]}" | tee "$OUT/benchstat.txt"
