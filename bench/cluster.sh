#!/usr/bin/env bash
# bench/cluster.sh: a bulk run spread over edge workers through NATS
# JetStream (issue 8). For each worker count W in WORKERS: a fresh
# nats-server (JetStream, temporary store) and a demo origin that renders
# 4·W pages at once (LATENCY each), `edge gen -enqueue` of the origin's
# sitemap (PAGES detail pages), then W `edge worker -until-empty` processes
# (origin.concurrency 4 each, own store) started together; pages/s is the
# pages written over the time from their start until the last one exits
# (so it includes each worker's final check that the queue is drained, ~1s).
#
#   bench/cluster.sh                        # PAGES=20000 WORKERS="1 2 4" LATENCY=30ms
#   PAGES=2000 WORKERS="1 2" bench/cluster.sh   # a quick look
#
# Needs .bin/nats-server (GOBIN=$PWD/.bin go install
# github.com/nats-io/nats-server/v2@v2.15.2). Prints a markdown table, also
# written to $OUT/cluster.md (OUT default .run/bench-cluster).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
PAGES=${PAGES:-20000}
WORKERS=${WORKERS:-"1 2 4"}
LATENCY=${LATENCY:-30ms}
OUT=${OUT:-$repo/.run/bench-cluster}
NATS_BIN=${NATS_BIN:-$repo/.bin/nats-server}
mkdir -p "$OUT"
log() { printf '==> %s\n' "$*" >&2; }

[ -x "$NATS_BIN" ] || { echo "no $NATS_BIN: GOBIN=\$PWD/.bin go install github.com/nats-io/nats-server/v2@v2.15.2" >&2; exit 1; }
log "building bin/edge"
go build -o "$OUT/edge" ./cmd/edge

pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT

free_port() { # asks the kernel for a free loopback port
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() {
	for _ in $(seq 200); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.05
	done
	echo "port $1 did not open" >&2
	return 1
}

rows=()
base=""
for w in $WORKERS; do
	run="$OUT/w$w"
	rm -rf "$run"
	mkdir -p "$run"
	nport=$(free_port)
	"$NATS_BIN" -a 127.0.0.1 -p "$nport" -js -sd "$run/js" >"$run/nats.log" 2>&1 &
	npid=$!
	pids+=("$npid")
	oport=$(free_port)
	"$OUT/edge" demo-origin -listen "127.0.0.1:$oport" -pages "$PAGES" -latency "$LATENCY" -workers $((4 * w)) 2>"$run/origin.log" &
	opid=$!
	pids+=("$opid")
	wait_port "$nport"
	wait_port "$oport"
	cat >"$run/edge.yaml" <<EOF
origin:
  url: http://127.0.0.1:$oport
  concurrency: 4
store:
  no_sync: true
log:
  level: warn
nats:
  url: nats://127.0.0.1:$nport
  work_concurrency: 8
EOF
	log "W=$w: enqueue the sitemap of $PAGES pages"
	"$OUT/edge" gen -enqueue -config "$run/edge.yaml" -sitemap "http://127.0.0.1:$oport/sitemap.xml" \
		-progress none -failures "$run/failed.txt" >"$run/enqueue.txt"
	cat "$run/enqueue.txt" >&2
	log "W=$w: $w workers"
	start=$(date +%s.%N)
	wpids=()
	for i in $(seq "$w"); do
		"$OUT/edge" worker -config "$run/edge.yaml" -root "$run/store$i" -until-empty >"$run/worker$i.txt" 2>"$run/worker$i.log" &
		wpids+=($!)
	done
	for p in "${wpids[@]}"; do wait "$p"; done
	end=$(date +%s.%N)
	written=0
	for i in $(seq "$w"); do
		cat "$run/worker$i.txt" >&2
		n=$(sed -n 's/.*(\([0-9]*\) pages written.*/\1/p' "$run/worker$i.txt")
		written=$((written + n))
	done
	secs=$(echo "$end - $start" | bc -l)
	pps=$(echo "$written / $secs" | bc -l)
	[ -z "$base" ] && base=$pps
	ratio=$(echo "$pps / $base" | bc -l)
	rows+=("$(printf '| %d | %d | %d | %.1f | %.0f | %.2f |' "$w" $((4 * w)) "$written" "$secs" "$pps" "$ratio")")
	kill "$opid" "$npid" 2>/dev/null || true
	wait "$opid" "$npid" 2>/dev/null || true
done

{
	echo "bulk run through NATS JetStream: $PAGES pages (demo sitemap), origin latency $LATENCY, 4 renders per worker"
	echo "machine: $(nproc) cores, $(go version | cut -d' ' -f3), $(date -u +%Y-%m-%d)"
	echo
	echo "| workers | origin renders at once | pages written | seconds | pages/s | ratio to 1 worker |"
	echo "|---|---|---|---|---|---|"
	printf '%s\n' "${rows[@]}"
} | tee "$OUT/cluster.md"
