#!/usr/bin/env bash
# bench/suite.sh: edge against nginx (static files and proxy_cache), Varnish
# and the bare origin, every scenario of issue 3, on this machine.
#
# Installs wrk, nginx and varnish with apt-get if they are missing, builds
# edge, the demo origin and the suite's Go tools (bench/cmd/...) into $BIN,
# waits (bounded) for a quiet CPU, runs bench/cmd/suite, then draws the chart
# with bench/cmd/benchchart. The results land in $OUT/$DATE.{md,json,svg}.
#
#   bench/suite.sh                                   # the full run, ~20 minutes
#   QUIET_WAIT=0 bench/suite.sh -rounds 1 -d 2s -pages 2000 -warmup 1s   # a smoke run
#
# Arguments go to bench/cmd/suite (bench/README.md lists them). Environment
# (defaults): BIN (.run/bench-bin), OUT (bench/results), DATE (today),
# QUIET_MAX (10: CPU pressure "some avg10" to wait for), QUIET_WAIT (1200:
# seconds to wait for it at most, checking every 30 s; 0 skips the wait).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
BIN=${BIN:-$repo/.run/bench-bin}
OUT=${OUT:-bench/results}
DATE=${DATE:-$(date +%F)}
QUIET_MAX=${QUIET_MAX:-10}
QUIET_WAIT=${QUIET_WAIT:-1200}

log() { printf '==> %s\n' "$*" >&2; }

# --- tools -----------------------------------------------------------------
export PATH="$PATH:/usr/sbin:/sbin" # nginx and varnishd live in /usr/sbin
pkgs=()
command -v wrk >/dev/null || pkgs+=(wrk)
command -v nginx >/dev/null || pkgs+=(nginx)
command -v varnishd >/dev/null || pkgs+=(varnish)
command -v taskset >/dev/null || pkgs+=(util-linux)
if ((${#pkgs[@]})); then
	log "installing ${pkgs[*]} with apt-get"
	sudo=(); ((EUID == 0)) || sudo=(sudo)
	"${sudo[@]}" apt-get update -qq
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
fi
command -v perf >/dev/null || log "no perf: pass no -perf (apt-get install linux-perf for profiles)"

# --- build -----------------------------------------------------------------
# Not stripped (unlike make build), so perf can name edge's functions.
log "building into $BIN"
mkdir -p "$BIN"
version=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
go build -trimpath -ldflags "-X main.version=$version" -o "$BIN/edge" ./cmd/edge
go build -trimpath -o "$BIN/demo-origin" ./cmd/demo-origin
go build -trimpath -o "$BIN/" ./bench/cmd/ratectl ./bench/cmd/suite ./bench/cmd/benchchart

# --- a quiet machine ---------------------------------------------------------
avg10() { sed -n 's/^some avg10=\([0-9.]*\).*/\1/p' /proc/pressure/cpu 2>/dev/null || echo 0; }
waited=0
while ((QUIET_WAIT > 0)); do
	p=$(avg10)
	if awk -v p="${p:-0}" -v m="$QUIET_MAX" 'BEGIN { exit !(p < m) }'; then
		log "CPU pressure some avg10=$p < $QUIET_MAX: starting"
		break
	fi
	if ((waited >= QUIET_WAIT)); then
		log "CPU pressure still avg10=$p after ${waited}s: starting anyway (the results record it)"
		break
	fi
	log "CPU pressure some avg10=$p ≥ $QUIET_MAX: waiting (${waited}s of ${QUIET_WAIT}s)"
	sleep 30
	waited=$((waited + 30))
done

# --- run -------------------------------------------------------------------
SUITE_COMMAND="bench/suite.sh $*" "$BIN/suite" -bin "$BIN" -out "$OUT" -date "$DATE" "$@"
"$BIN/benchchart" -in "$OUT/$DATE.json" -out "$OUT/$DATE.svg"
log "results: $OUT/$DATE.md, $OUT/$DATE.json, $OUT/$DATE.svg"
