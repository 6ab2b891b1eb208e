#!/usr/bin/env bash
# bench/run.sh: edge against nginx serving the same bytes, under wrk.
#
# Builds bin/edge and bin/demo-origin, starts the demo origin and edge (the
# store in a temp dir), warms the scenario's pages through edge, copies the
# stored page files into an nginx docroot and starts nginx on them. Then,
# for each round, runs wrk against nginx and against edge, each server
# pinned to CPU 0 and wrk to CPU 1, and prints the medians and edge's
# ratios to nginx. Everything listens on 127.0.0.1 and is stopped on exit.
#
#   bench/run.sh                            # hot: one 16 KB page
#   DURATION=5s ROUNDS=5 SCENARIO=zipf bench/run.sh
#
# Environment (defaults): DURATION (10s) per run, ROUNDS (3), WARMUP (2s,
# one unreported run per server), CONNS (64), SCENARIO (hot, or zipf: a hot
# set and a long tail, bench/wrk/zipf.lua), HOT_PATH (/events/42), ZIPF_N
# (2000), LATENCY (30ms) and WORKERS (4) of the demo origin. See README.md.
set -euo pipefail

DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
WARMUP=${WARMUP:-2s}
CONNS=${CONNS:-64}
SCENARIO=${SCENARIO:-hot}
HOT_PATH=${HOT_PATH:-/events/42}
ZIPF_N=${ZIPF_N:-2000}
LATENCY=${LATENCY:-30ms}
WORKERS=${WORKERS:-4}
export HOT_PATH ZIPF_N

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench/run.sh: %s\n' "$*" >&2; exit 1; }

[[ $SCENARIO == hot || $SCENARIO == zipf ]] || die "SCENARIO must be hot or zipf, not \"$SCENARIO\""
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer"

# --- tools -----------------------------------------------------------------
missing=()
for tool in wrk nginx curl taskset; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if ((${#missing[@]})); then
	pkgs=("${missing[@]/taskset/util-linux}")
	log "installing ${pkgs[*]} with apt-get"
	sudo=(); ((EUID == 0)) || sudo=(sudo)
	"${sudo[@]}" apt-get update -qq
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
fi
export PATH="$PATH:/usr/sbin:/sbin" # nginx lives in /usr/sbin

log "building bin/edge and bin/demo-origin" && make -s build

# --- processes -------------------------------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/edge-bench.XXXXXX")
pids=()
cleanup() {
	local rc=$?
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	((rc == 0)) || for f in "$tmp"/*.log; do [[ -s $f ]] && { echo "--- $f" >&2; tail -n 20 "$f" >&2; }; done
	rm -rf "$tmp"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# free_port N: the first port from N up that nothing on 127.0.0.1 listens on.
free_port() {
	local p=$1
	while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
	echo "$p"
}

# wait_up URL: wait up to 10s for URL to answer.
wait_up() {
	for _ in $(seq 100); do
		curl -fs -o /dev/null "$1" && return
		sleep 0.1
	done
	die "$1 did not come up"
}

oport=$(free_port $((20000 + RANDOM % 40000)))
eport=$(free_port $((oport + 1))) && aport=$(free_port $((eport + 1))) && nport=$(free_port $((aport + 1)))
origin=http://127.0.0.1:$oport edge=http://127.0.0.1:$eport nginx=http://127.0.0.1:$nport

log "demo origin on $origin (latency $LATENCY, $WORKERS workers)"
taskset -c 1 bin/demo-origin -listen "127.0.0.1:$oport" -latency "$LATENCY" -workers "$WORKERS" \
	2>"$tmp/origin.log" &
pids+=($!)
wait_up "$origin/_origin/stats"

cat >"$tmp/edge.yaml" <<EOF
listen: 127.0.0.1:$eport
hosts: ["127.0.0.1:$eport"]
origin:
  url: $origin
  concurrency: $WORKERS
store:
  root: $tmp/pages
  no_sync: true
admin:
  listen: 127.0.0.1:$aport
log:
  level: warn
EOF
log "edge on $edge (admin 127.0.0.1:$aport), CPU 0"
GOMAXPROCS=1 taskset -c 0 bin/edge serve -config "$tmp/edge.yaml" 2>"$tmp/edge.log" &
pids+=($!) edge_pid=$!
wait_up "http://127.0.0.1:$aport/healthz"

# --- pages -----------------------------------------------------------------
if [[ $SCENARIO == hot ]]; then
	pages=("$HOT_PATH") url=$edge$HOT_PATH script=bench/wrk/hot.lua
else
	mapfile -t pages < <(seq -f '/events/%g' 1 "$ZIPF_N")
	url=$edge/ script=bench/wrk/zipf.lua
fi
log "warming ${#pages[@]} page(s) through edge"
printf '%s\n' "${pages[@]/#/$edge}" | xargs -P 8 -n 1 curl -s -o /dev/null -w '%{http_code}\n' >"$tmp/warm.txt"
bad=$(grep -cv '^200$' "$tmp/warm.txt" || true)
((bad == 0)) || die "$bad warming requests were not 200: $(sort "$tmp/warm.txt" | uniq -c | tr '\n' ' ')"
xcache=$(curl -s -o /dev/null -w '%header{x-cache}' "$edge${pages[0]}")
[[ $xcache == HIT ]] || die "${pages[0]} is not a HIT after warming (X-Cache: $xcache)"

# nginx serves the stored identity bodies: the very bytes edge sends to a
# client that does not ask for compression (wrk does not).
for p in "${pages[@]}"; do
	mkdir -p "$tmp/www$p"
	cp "$tmp/pages$p/index.html" "$tmp/www$p/index.html"
done
size=$(stat -c %s "$tmp/www${pages[0]}/index.html")
mkdir -p "$tmp/nginx-tmp"
user=""
((EUID == 0)) && user="user $(id -un) $(id -gn);"
cat >"$tmp/nginx.conf" <<EOF
$user
worker_processes 1;
daemon off;
pid $tmp/nginx.pid;
error_log $tmp/nginx-error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    open_file_cache max=1000;
    # fasthttp has no per-connection request cap; nginx's default of 1000
    # would make wrk reconnect and measure connection setup as well.
    keepalive_requests 1000000;
    default_type text/html;
    client_body_temp_path $tmp/nginx-tmp/body;
    proxy_temp_path $tmp/nginx-tmp/proxy;
    fastcgi_temp_path $tmp/nginx-tmp/fastcgi;
    uwsgi_temp_path $tmp/nginx-tmp/uwsgi;
    scgi_temp_path $tmp/nginx-tmp/scgi;
    server {
        listen 127.0.0.1:$nport;
        root $tmp/www;
        location / { try_files \$uri/index.html =404; }
    }
}
EOF
log "nginx $(nginx -v 2>&1 | sed 's/.*nginx\///') on $nginx, CPU 0"
taskset -c 0 nginx -p "$tmp" -c "$tmp/nginx.conf" -e "$tmp/nginx-error.log" &
pids+=($!) nginx_pid=$!
wait_up "$nginx${pages[0]}"

curl -s "$edge${pages[0]}" >"$tmp/edge.body"
curl -s "$nginx${pages[0]}" >"$tmp/nginx.body"
cmp -s "$tmp/edge.body" "$tmp/nginx.body" || die "edge and nginx serve different bytes for ${pages[0]}"
log "both serve the same $size bytes for ${pages[0]}"

# --- load ------------------------------------------------------------------
hz=$(getconf CLK_TCK)
# cpu_ticks PID: user+system ticks of PID and its children (nginx's worker).
cpu_ticks() {
	local t=0 p
	for p in "$1" $(pgrep -P "$1" || true); do
		t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
	done
	echo "$t"
}

# psi: microseconds some task waited for a CPU (/proc/pressure/cpu), 0 if
# the kernel has no PSI. cpu1: busy and total jiffies of CPU 1 (wrk's).
psi() { sed -n 's/^some .*total=//p' /proc/pressure/cpu 2>/dev/null || echo 0; }
cpu1() { awk '$1 == "cpu1" { print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 }' /proc/stat; }

# measure NAME URL DURATION: one wrk run; prints its wrk-report line with
# the server's CPU use (cpu, 100% = CPU 0 saturated), its CPU time per
# request (us_req), how busy CPU 1 was (cpu1, ~100% = wrk was the limit)
# and the share of the run during which some task waited for a CPU (psi).
measure() {
	local pid t0 t1 p0 p1 b0 j0 b1 j1 out
	pid=$([[ $1 == edge ]] && echo "$edge_pid" || echo "$nginx_pid")
	t0=$(cpu_ticks "$pid") p0=$(psi) && read -r b0 j0 < <(cpu1)
	out=$(taskset -c 1 wrk -t1 -c"$CONNS" -d"$3" --latency -s "$script" "$2") || die "wrk failed: $out"
	t1=$(cpu_ticks "$pid") p1=$(psi) && read -r b1 j1 < <(cpu1)
	printf '%s\n' "$out" >>"$tmp/wrk-$1.txt"
	out=$(grep '^wrk-report' <<<"$out") || die "no wrk-report line from wrk"
	awk -v d=$((t1 - t0)) -v hz="$hz" -v p=$((${p1:-0} - ${p0:-0})) -v b=$((b1 - b0)) -v j=$((j1 - j0)) '{
		split($2, n, "="); split($3, s, "=")
		printf "%s cpu=%.0f%% us_req=%.1f cpu1=%.0f%% psi=%.0f%%\n", $0, 100 * d / hz / s[2],
			1e6 * d / hz / n[2], 100 * b / (j ? j : 1), p / 1e4 / s[2] }' <<<"$out"
}

kv() { sed -n "s/.* $1=\([^ %]*\).*/\1/p" <<<"$2"; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

declare -A lines
for s in nginx edge; do
	u=$([[ $s == edge ]] && echo "$url" || echo "${url/$edge/$nginx}")
	log "warm-up: $s, $WARMUP"
	measure "$s" "$u" "$WARMUP" >/dev/null
done
echo "# raw (scenario $SCENARIO, $CONNS connections, $DURATION per run)"
for r in $(seq "$ROUNDS"); do
	for s in nginx edge; do
		u=$([[ $s == edge ]] && echo "$url" || echo "${url/$edge/$nginx}")
		line=$(measure "$s" "$u" "$DURATION")
		echo "round $r $s $line"
		lines[$s]+="$line"$'\n'
	done
done

# --- report ----------------------------------------------------------------
renders=$(curl -s "$origin/_origin/stats" | grep -o '"total":[0-9]*' | cut -d: -f2)
((${renders:-0} == ${#pages[@]})) || log "WARNING: the origin rendered $renders pages, want ${#pages[@]} (not all hits?)"
declare -A med
echo
echo "# scenario $SCENARIO: ${#pages[@]} page(s) of ~$size bytes, wrk -t1 -c$CONNS -d$DURATION, median of $ROUNDS"
printf '%-6s %8s %7s %7s %8s %6s %5s %6s %5s %5s\n' server req/s p50_ms p99_ms p99.9_ms errors cpu us/req cpu1 psi
for s in nginx edge; do
	mapfile -t runs < <(printf '%s' "${lines[$s]}")
	for k in rps p50_ms p99_ms p999_ms errors non2xx cpu us_req cpu1 psi; do
		vals=()
		for l in "${runs[@]}"; do vals+=("$(kv "$k" "$l")"); done
		med[$s.$k]=$(median "${vals[@]}")
	done
	printf '%-6s %8.0f %7.3f %7.3f %8.3f %6d %4.0f%% %6.1f %4.0f%% %4.0f%%\n' "$s" "${med[$s.rps]}" "${med[$s.p50_ms]}" \
		"${med[$s.p99_ms]}" "${med[$s.p999_ms]}" $((${med[$s.errors]} + ${med[$s.non2xx]})) "${med[$s.cpu]}" \
		"${med[$s.us_req]}" "${med[$s.cpu1]}" "${med[$s.psi]}"
done
awk -v e="${med[edge.rps]} ${med[edge.p99_ms]} ${med[edge.us_req]}" \
	-v n="${med[nginx.rps]} ${med[nginx.p99_ms]} ${med[nginx.us_req]}" 'BEGIN { split(e, a); split(n, b)
	printf "edge/nginx: req/s %.2f (higher is better), p99 %.2f, CPU per request %.2f (lower is better)\n",
		a[1] / b[1], a[2] / b[2], a[3] / b[3] }'
