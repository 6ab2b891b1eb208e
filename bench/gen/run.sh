#!/usr/bin/env bash
# bench/gen/run.sh: edge gen at full size and against an instant origin
# (issue 5). Not part of make test or CI. Three measurements:
#
#  1. full: `edge gen` of the whole demo site from its sitemap (600,000
#     pages by default) against the demo origin with no render latency, into
#     a fresh store (store.no_sync: FULL_NO_SYNC): wall time, pages/s, peak RSS, and RSS
#     sampled every 5 s against pages done (it must stay flat).
#  2. nginx then serves that store (edge's tree is plain files:
#     try_files $uri/index.html), an instant origin of pre-rendered 16 KB
#     pages.
#  3. The same SUBSET URLs from nginx: `xargs -P 16 curl` into files, then
#     `edge gen -concurrency 16` (fetch + gzip + brotli + files + index),
#     with and without fsync.
#
#   bench/gen/run.sh                     # N=600000 SUBSET=20000
#   N=20000 SUBSET=5000 bench/gen/run.sh  # a smoke run
#   N=100000 SUBSET=0 bench/gen/run.sh    # the full run only
#
# Environment: N, SUBSET, WORK (.run/genbench: 600K pages take ~22 GB
# there), OUT (bench/results), DATE (today), PORT_ORIGIN (18100),
# PORT_NGINX (18101), FULL_NO_SYNC (true: the full run skips fsync, as a
# bulk run that can simply be resumed may; the subset runs measure both). Writes $OUT/$DATE-gen.md and $OUT/$DATE-gen-rss.csv.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
N=${N:-600000}
SUBSET=${SUBSET:-20000}
WORK=${WORK:-$repo/.run/genbench}
OUT=${OUT:-bench/results}
DATE=${DATE:-$(date +%F)}
PORT_ORIGIN=${PORT_ORIGIN:-18100}
PORT_NGINX=${PORT_NGINX:-18101}
FULL_NO_SYNC=${FULL_NO_SYNC:-true}
export PATH="$PATH:/usr/sbin:/sbin"

log() { printf '==> %s\n' "$*" >&2; }
need=()
command -v nginx >/dev/null || need+=(nginx)
command -v curl >/dev/null || need+=(curl)
[ -x /usr/bin/time ] || need+=(time)
if ((${#need[@]})); then
	log "installing ${need[*]} with apt-get"
	sudo=(); ((EUID == 0)) || sudo=(sudo)
	"${sudo[@]}" apt-get update -qq
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

rm -rf "$WORK"
mkdir -p "$WORK/bin" "$OUT"
log "building edge and the demo origin"
go build -trimpath -o "$WORK/bin/edge" ./cmd/edge
go build -trimpath -o "$WORK/bin/demo-origin" ./cmd/demo-origin

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
waitport() { for _ in $(seq 100); do curl -fs -o /dev/null "$1" && return 0; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }
psi() { awk '/^some/ {sub("avg10=","",$2); print $2}' /proc/pressure/cpu 2>/dev/null || echo "?"; }

origin=127.0.0.1:$PORT_ORIGIN
"$WORK/bin/demo-origin" -listen "$origin" -pages "$N" -latency 0 -workers 8 >"$WORK/origin.log" 2>&1 &
pids+=($!)
waitport "http://$origin/sitemap.xml"

cat >"$WORK/gen.yaml" <<YAML
hosts: ["$origin"]
origin: {url: "http://$origin", concurrency: 16}
store: {no_sync: $FULL_NO_SYNC}
log: {format: text}
YAML

# 1. The full run.
log "full run: $N pages from the sitemap (CPU pressure now: $(psi))"
echo "seconds,rss_kib,rss_anon_kib,rss_file_kib,stored_pages" >"$OUT/$DATE-gen-rss.csv"
start=$(date +%s.%N)
/usr/bin/time -v -o "$WORK/full.time" "$WORK/bin/edge" gen -config "$WORK/gen.yaml" -root "$WORK/full" \
	-sitemap "http://$origin/sitemap.xml" -progress log -failures "$WORK/full-failed.txt" >"$WORK/full.log" 2>&1 &
gen=$!
while kill -0 "$gen" 2>/dev/null; do
	sleep 5
	edge_pid=$(pgrep -P "$gen" | head -1 || true) # the edge under /usr/bin/time
	# RssAnon is the heap and stacks; RssFile is mostly the index's mmap,
	# which grows with the site and is page cache the kernel can reclaim.
	rss=$(awk '/^VmRSS/ {r=$2} /^RssAnon/ {a=$2} /^RssFile/ {f=$2} END {if (r) print r "," a "," f}' "/proc/${edge_pid:-0}/status" 2>/dev/null || true)
	done_=$(grep -o ' done=[0-9]*' "$WORK/full.log" | tail -1 | tr -dc 0-9 || true)
	if [ -n "$rss" ]; then
		echo "$(awk "BEGIN{print $(date +%s.%N)-$start}"),$rss,${done_:-}" >>"$OUT/$DATE-gen-rss.csv"
	fi
done
wait "$gen" || { log "edge gen failed:"; tail -20 "$WORK/full.log" >&2; exit 1; }
full_wall=$(awk "BEGIN{printf \"%.0f\", $(date +%s.%N)-$start}")
full_rss=$(awk -F': ' '/Maximum resident/ {print $2}' "$WORK/full.time")
full_psi=$(psi)
full_summary=$(grep -v 'edge gen progress' "$WORK/full.log" | tail -15)
full_anon=$(awk -F, 'NR > 1 && $3 > m {m = $3} END {print int(m / 1024)}' "$OUT/$DATE-gen-rss.csv")

if [ "$SUBSET" = 0 ]; then
	rate() { awk "BEGIN{printf \"%.0f\", $1/$2}"; }
	cat >"$OUT/$DATE-gen.md" <<MD
# $DATE: edge gen at full size

Written by \`bench/gen/run.sh\` (issue 5) with N=$N, SUBSET=0. **Machine:** $(nproc) CPUs, $(uname -sr); $(go version | cut -d' ' -f3). **Code:** \`$(git describe --always --dirty)\`. CPU pressure at the end: $full_psi %.

| wall time | pages/s | peak RSS | peak RssAnon (sampled) |
|---:|---:|---:|---:|
| ${full_wall} s | $(rate "$N" "$full_wall") | $((full_rss / 1024)) MiB | ${full_anon} MiB |

RSS every 5 s: [\`$DATE-gen-rss.csv\`]($DATE-gen-rss.csv).

\`\`\`
$full_summary
\`\`\`
MD
	cat "$OUT/$DATE-gen.md"
	exit 0
fi

# 2. nginx serves the store.
mkdir -p "$WORK/nginx"
cat >"$WORK/nginx/nginx.conf" <<NGINX
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on; tcp_nopush on;
  open_file_cache max=10000 inactive=60s;
  types { text/html html; }
  default_type text/html;
  client_body_temp_path $WORK/nginx/tmp; proxy_temp_path $WORK/nginx/tmp;
  fastcgi_temp_path $WORK/nginx/tmp; uwsgi_temp_path $WORK/nginx/tmp; scgi_temp_path $WORK/nginx/tmp;
  server {
    listen 127.0.0.1:$PORT_NGINX;
    root $WORK/full;
    location / { try_files \$uri/index.html =404; }
  }
}
NGINX
nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -g 'daemon off;' &
pids+=($!)
waitport "http://127.0.0.1:$PORT_NGINX/events/1"

# 3. The same SUBSET URLs three ways.
curl -fs -o "$WORK/sitemap-1.xml" "http://$origin/sitemaps/1.xml"
grep -o '<loc>[^<]*' "$WORK/sitemap-1.xml" | sed "s#<loc>http://$origin##" | awk -v n="$SUBSET" 'NR <= n' >"$WORK/paths.txt"
sed "s#^#http://127.0.0.1:$PORT_NGINX#" "$WORK/paths.txt" >"$WORK/urls.txt"
n=$(wc -l <"$WORK/paths.txt")
cat >"$WORK/nginx.yaml" <<YAML
hosts: ["127.0.0.1:$PORT_NGINX"]
origin: {url: "http://127.0.0.1:$PORT_NGINX", concurrency: 16}
log: {level: warn}
YAML
cat >"$WORK/nginx-nosync.yaml" <<YAML
hosts: ["127.0.0.1:$PORT_NGINX"]
origin: {url: "http://127.0.0.1:$PORT_NGINX", concurrency: 16}
store: {no_sync: true}
log: {level: warn}
YAML

timed() { # name command...: wall seconds into $WORK/name.secs
	local name=$1; shift
	sync; local t0; t0=$(date +%s.%N)
	"$@" >"$WORK/$name.log" 2>&1
	awk "BEGIN{printf \"%.2f\", $(date +%s.%N)-$t0}" >"$WORK/$name.secs"
}
log "subset: $n pages from nginx with xargs -P 16 curl (CPU pressure now: $(psi))"
mkdir -p "$WORK/curl"
timed curl sh -c "cd '$WORK/curl' && xargs -P 16 -I{} curl -sf --create-dirs -o '.{}/index.html' 'http://127.0.0.1:$PORT_NGINX{}' <'$WORK/paths.txt'"
log "subset: edge gen (fsync) (CPU pressure now: $(psi))"
timed gen_sync "$WORK/bin/edge" gen -config "$WORK/nginx.yaml" -root "$WORK/sub-sync" -urls "$WORK/urls.txt" -progress none -failures "$WORK/sub-failed.txt"
log "subset: edge gen (no fsync) (CPU pressure now: $(psi))"
timed gen_nosync "$WORK/bin/edge" gen -config "$WORK/nginx-nosync.yaml" -root "$WORK/sub-nosync" -urls "$WORK/urls.txt" -progress none -failures "$WORK/sub-failed.txt"
curl_files=$(find "$WORK/curl" -name index.html | wc -l)
rate() { awk "BEGIN{printf \"%.0f\", $1/$2}"; }
c=$(cat "$WORK/curl.secs"); gs=$(cat "$WORK/gen_sync.secs"); gn=$(cat "$WORK/gen_nosync.secs")

cat >"$OUT/$DATE-gen.md" <<MD
# $DATE: edge gen at full size and against an instant origin

Written by \`bench/gen/run.sh\` (issue 5) with N=$N, SUBSET=$n. **Machine:** $(nproc) CPUs, $(uname -sr); $(go version | cut -d' ' -f3); $(nginx -v 2>&1); $(curl --version | head -1 | cut -d' ' -f1-2). **Code:** \`$(git describe --always --dirty)\`. CPU pressure (\`/proc/pressure/cpu\` some avg10) at the end of the full run: $full_psi %.

## 1. Full run: $N pages from the demo sitemap

\`edge gen -sitemap http://$origin/sitemap.xml\`, concurrency 16, against the demo origin with no render latency (8 render workers) on the same 2 cores, store.no_sync: $FULL_NO_SYNC, gzip 6 + brotli 5 variants.

| wall time | pages/s | peak RSS | peak RssAnon (sampled) |
|---:|---:|---:|---:|
| ${full_wall} s | $(rate "$N" "$full_wall") | $((full_rss / 1024)) MiB | ${full_anon} MiB |

RSS every 5 s: [\`$DATE-gen-rss.csv\`]($DATE-gen-rss.csv) (seconds, RSS, RssAnon (heap and stacks), RssFile (mostly the bbolt index's mmap) in KiB, pages done). Summary printed by edge gen:

\`\`\`
$full_summary
\`\`\`

## 2. Instant origin: nginx serving pre-rendered pages, $n URLs

| client | seconds | pages/s | × xargs curl |
|---|---:|---:|---:|
| \`xargs -P 16 curl\` into files ($curl_files files) | $c | $(rate "$n" "$c") | 1.00× |
| \`edge gen -concurrency 16\`, fsync, + gzip + brotli | $gs | $(rate "$n" "$gs") | $(awk "BEGIN{printf \"%.2f\", $c/$gs}")× |
| \`edge gen -concurrency 16\`, no fsync, + gzip + brotli | $gn | $(rate "$n" "$gn") | $(awk "BEGIN{printf \"%.2f\", $c/$gn}")× |
MD
log "wrote $OUT/$DATE-gen.md"
cat "$OUT/$DATE-gen.md"
