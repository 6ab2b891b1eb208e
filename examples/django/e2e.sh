#!/usr/bin/env bash
# End-to-end test: edge in front of the Django example, on 127.0.0.1 only.
#
# Seeds the example's database, starts gunicorn (2 workers) and edge serve,
# pre-generates every page with `edge gen -sitemap`, then renames an event
# through the ORM (manage.py change_event, whose post_save posts the
# event's tags to edge's POST /invalidate) and checks, within
# E2E_FRESH_TIMEOUT seconds, that every page showing the event is served
# fresh through edge while a sample of unrelated pages was not rendered
# again (renders are counted per path in gunicorn's access log). Last, a
# logged-in session sees its own pages (X-Cache: BYPASS) and nothing of it
# is stored.
#
# Environment: EDGE_BIN (default ../../bin/edge beside this script),
# PYTHON (a python3 that imports Django; found if unset), GUNICORN
# (default gunicorn), E2E_FRESH_TIMEOUT (seconds, default 10), E2E_KEEP=1
# keeps the work directory. Ends with "N passed, M failed"; exits non-zero
# on any failure.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
EDGE_BIN=${EDGE_BIN:-$here/../../bin/edge}
GUNICORN=${GUNICORN:-gunicorn}
FRESH_TIMEOUT=${E2E_FRESH_TIMEOUT:-10}

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   $*"; }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }
note() { echo "==   $*"; }

work=$(mktemp -d "${TMPDIR:-/tmp}/edge-django-e2e.XXXXXX")
pids=()
cleanup() {
  local rc=$? pid
  set +e
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  if [ "$failed" -gt 0 ] || [ "$rc" -ne 0 ]; then
    for log in edge.log gunicorn.log gen.log change.log; do
      [ -s "$work/$log" ] && { echo "--- last lines of $log"; tail -n 15 "$work/$log"; }
    done
  fi
  if [ "${E2E_KEEP:-}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
  echo "e2e: $passed passed, $failed failed"
  if [ "$rc" -eq 0 ] && [ "$failed" -gt 0 ]; then rc=1; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- tools -----------------------------------------------------------
if [ -z "${PYTHON:-}" ]; then
  for p in python3 /usr/bin/python3; do
    if "$p" -c 'import django' 2>/dev/null; then PYTHON=$p; break; fi
  done
fi
if [ -z "${PYTHON:-}" ] || ! command -v "$GUNICORN" >/dev/null; then
  bad "python3-django and gunicorn are needed (apt-get install python3-django gunicorn)"
  exit 1
fi
if [ ! -x "$EDGE_BIN" ]; then
  bad "no edge binary at $EDGE_BIN (make build, or set EDGE_BIN)"
  exit 1
fi
manage() { (cd "$here" && "$PYTHON" manage.py "$@"); }

free_port() {
  "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# wait_tcp PORT SECONDS: until something listens on 127.0.0.1:PORT.
wait_tcp() {
  for _ in $(seq $(($2 * 10))); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}

origin_port=$(free_port)
edge_port=$(free_port)
admin_port=$(free_port)
site="http://127.0.0.1:$edge_port"
admin="http://127.0.0.1:$admin_port"
token="e2e-$RANDOM$RANDOM"
export DJANGO_DATA_DIR="$work/data" DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost"
export DJANGO_SECRET_KEY="e2e-$RANDOM$RANDOM$RANDOM"
unset EDGE_ADMIN_URL EDGE_ADMIN_TOKEN
# Everything is on 127.0.0.1: no proxy from the environment may get between.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY

# fetch URL [curl args]: body to $work/body, headers to $work/head;
# prints the status code.
fetch() {
  local url=$1
  shift
  : >"$work/head"
  curl -sS --max-time 10 -o "$work/body" -D "$work/head" -w '%{http_code}' "$@" "$url" || true
}
xcache() { tr -d '\r' <"$work/head" | awk -F': ' 'tolower($1) == "x-cache" { print $2 }'; }
# renders PATH: how many times gunicorn answered GET PATH.
renders() { awk -v p="$1" '$1 == "GET" && $2 == p' "$work/access.log" | wc -l; }
page_files() { (cd "$work/pages" && find . -path ./@edge -prune -o -type f -print | sort); }

# ---- the site: Django under gunicorn ---------------------------------
note "seeding the database in $DJANGO_DATA_DIR"
manage migrate --noinput -v 0
manage seed
user=ada
password="pw-$RANDOM$RANDOM"
DJANGO_SUPERUSER_PASSWORD=$password manage createsuperuser --noinput \
  --username "$user" --email ada@example.org >/dev/null

note "gunicorn on 127.0.0.1:$origin_port"
"$GUNICORN" --chdir "$here" --bind "127.0.0.1:$origin_port" --workers 2 \
  --graceful-timeout 5 --access-logfile "$work/access.log" \
  --access-logformat '%(r)s %(s)s' --error-logfile "$work/gunicorn.log" \
  example.wsgi </dev/null >/dev/null 2>&1 &
pids+=($!)
if wait_tcp "$origin_port" 20; then ok "gunicorn is up"; else bad "gunicorn did not start"; exit 1; fi

# ---- edge ----------------------------------------------------------
cat >"$work/edge.yaml" <<EOF
listen: 127.0.0.1:$edge_port
hosts: ["127.0.0.1:$edge_port"]
origin:
  url: http://127.0.0.1:$origin_port
  concurrency: 4
store:
  root: $work/pages
  no_sync: true
cache:
  bypass_cookies: [sessionid]
  bypass_paths: [/accounts/, /admin/]
  query_allow: [page]
server:
  shutdown_timeout: 5s
admin:
  listen: 127.0.0.1:$admin_port
  token: $token
EOF
note "edge on $site, admin on $admin"
"$EDGE_BIN" serve -config "$work/edge.yaml" </dev/null >"$work/edge.log" 2>&1 &
edge_pid=$!
pids+=("$edge_pid")
up=0
for _ in $(seq 100); do
  if curl -fsS --max-time 1 "$admin/healthz" >/dev/null 2>&1; then up=1; break; fi
  sleep 0.1
done
if [ "$up" = 1 ]; then ok "edge is up"; else bad "edge did not start"; exit 1; fi

# ---- bulk pre-generation from Django's sitemap --------------------------
# warm_with_curl: the fallback when edge gen is missing or failed, so that
# the checks after it still mean something: every sitemap URL, through edge.
warm_with_curl() {
  for sm in $(curl -fsS --max-time 10 "$site/sitemap.xml" | grep -o '<loc>[^<]*</loc>' | sed 's/<[^>]*>//g'); do
    curl -fsS --max-time 10 "$sm" | grep -o '<loc>[^<]*</loc>' | sed 's/<[^>]*>//g; s/&amp;/\&/g'
  done >"$work/urls"
  xargs -P 4 -n 1 curl -sS --max-time 10 -o /dev/null <"$work/urls" || true
  note "warmed $(wc -l <"$work/urls") pages through edge with curl instead"
}
if ! "$EDGE_BIN" gen -h >/dev/null 2>&1; then
  bad "this edge has no 'gen' command"
  warm_with_curl
else
  note "edge gen -sitemap $site/sitemap.xml"
  # In $work: anything gen writes beside it (a failures list) stays there.
  if (cd "$work" && timeout 300 "$EDGE_BIN" gen -sitemap "$site/sitemap.xml" \
    -config "$work/edge.yaml" </dev/null >"$work/gen.log" 2>&1); then
    ok "edge gen read the sitemap: $(grep -E '^edge gen|^ +ok ' "$work/gen.log" | tr -s ' \n' ' ')"
  else
    bad "edge gen failed (exit $?): $(tail -n 1 "$work/gen.log")"
    warm_with_curl
  fi
fi

# ---- which pages show the event we change, and which do not -------------
manage shell -c '
from tracker.models import Event, Organisation, Person, Topic
from tracker.views import PAGE_SIZES
topic = Topic.objects.order_by("name").first()
event = topic.events.order_by("-starts", "-pk").first()
order = list(Event.objects.values_list("pk", flat=True))
page = order.index(event.pk) // PAGE_SIZES[Event] + 1
other = 2 if page == 1 else 1
print("event", event.pk, event.title)
shows = [event.get_absolute_url(), "/topics/",
         "/events/" + ("?page=%d" % page if page > 1 else "")]
for rows in (event.topics, event.speakers, event.organisers):
    shows += [r.get_absolute_url() for r in rows.all()]
if event in Event.objects.order_by("-starts", "-pk")[:10]:
    shows.append("/")
unrelated = ["/people/", "/organisations/",
             "/events/" + ("?page=%d" % other if other > 1 else "")]
for rows in (Event.objects.exclude(pk=event.pk)[:5],
             Person.objects.exclude(events=event)[:5],
             Topic.objects.exclude(events=event)[:3],
             Organisation.objects.exclude(events=event)[:2]):
    unrelated += [r.get_absolute_url() for r in rows]
for path in shows:
    print("shows", path)
for path in unrelated:
    print("unrelated", path)
' >"$work/pages.txt"
read -r _ event_id old_title < <(grep '^event ' "$work/pages.txt")
mapfile -t shows < <(awk '$1 == "shows" { print $2 }' "$work/pages.txt")
mapfile -t unrelated < <(awk '$1 == "unrelated" { print $2 }' "$work/pages.txt")
note "changing event $event_id ($old_title), shown on ${#shows[@]} pages; ${#unrelated[@]} unrelated pages sampled"

# Every sampled page is stored now: a HIT, not rendered again.
misses=()
for path in "${shows[@]}" "${unrelated[@]}"; do
  fetch "$site$path" >/dev/null
  [ "$(xcache)" = HIT ] || misses+=("$path:$(xcache)")
done
if [ ${#misses[@]} -eq 0 ]; then
  ok "all $((${#shows[@]} + ${#unrelated[@]})) sampled pages are stored (HIT) after pre-generation"
else
  bad "not stored after pre-generation: ${misses[*]}"
fi
# edge recorded the event's tag on exactly the pages that show it
# (sitemaps aside): the "key" and "tags" of each page's .meta file.
tagged=$(find "$work/pages" -name '*.meta' -exec "$PYTHON" -c '
import json, sys
for name in sys.argv[2:]:
    with open(name) as f:
        meta = json.load(f)
    if sys.argv[1] in meta.get("tags", []) and "sitemap" not in meta["key"]:
        print(meta["key"])
' "event-$event_id" {} + | sort)
if [ "$tagged" = "$(printf '%s\n' "${shows[@]}" | sort)" ]; then
  ok "edge stored tag event-$event_id on exactly the ${#shows[@]} pages that show the event"
else
  bad "pages tagged event-$event_id differ from the pages that show it: $(diff <(echo "$tagged") <(printf '%s\n' "${shows[@]}" | sort) | grep '^[<>]' | tr '\n' ' ')"
fi
declare -A before=()
for path in "${shows[@]}" "${unrelated[@]}"; do before[$path]=$(renders "$path"); done

# ---- invalidation: change the event through the ORM -----------------------
probe=$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' -X POST \
  -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  --data '{"tags":["e2e-probe-no-such-tag"]}' "$admin/invalidate" || true)
if [ "$probe" = 202 ]; then
  ok "edge's admin API accepts POST /invalidate (202 for a tag on no page)"
else
  bad "POST /invalidate {\"tags\":[\"e2e-probe-no-such-tag\"]} answered $probe, want 202"
fi

new_title="Renamed by e2e $RANDOM$RANDOM"
if EDGE_ADMIN_URL=$admin EDGE_ADMIN_TOKEN=$token manage change_event "$event_id" \
  --title "$new_title" >"$work/change.log" 2>&1; then
  ok "change_event $event_id saved"
else
  bad "change_event $event_id failed: $(tail -n 1 "$work/change.log")"
fi
if grep -q 'INFO edge_django: invalidated' "$work/change.log"; then
  ok "the save posted its tags to edge: $(grep -o 'invalidated.*' "$work/change.log")"
else
  bad "the save did not post to edge: $(grep edge_django "$work/change.log" || echo 'no log line')"
fi

declare -A fresh=()
nfresh=0
start_ms=$(($(date +%s%N) / 1000000))
deadline=$(($(date +%s) + FRESH_TIMEOUT))
while :; do
  for path in "${shows[@]}"; do
    [ -n "${fresh[$path]:-}" ] && continue
    code=$(fetch "$site$path")
    if [ "$code" = 200 ] && grep -qF "$new_title" "$work/body"; then
      ms=$(($(date +%s%N) / 1000000 - start_ms))
      fresh[$path]="$(xcache) after $((ms / 1000)).$((ms % 1000 / 100))s"
      nfresh=$((nfresh + 1))
    fi
  done
  [ "$nfresh" -eq ${#shows[@]} ] && break
  [ "$(date +%s)" -ge "$deadline" ] && break
  sleep 0.2
done
for path in "${shows[@]}"; do
  state=${fresh[$path]:-}
  case "$state" in
  HIT* | MISS*) ok "fresh through edge: $path ($state)" ;;
  "")
    fetch "$site$path" >/dev/null
    bad "still not fresh after ${FRESH_TIMEOUT}s: $path (X-Cache $(xcache))"
    ;;
  *) bad "fresh but X-Cache is not HIT or MISS: $path ($state)" ;;
  esac
done

# Let any regeneration still queued finish before counting renders.
sleep 1
if kill -0 "$edge_pid" 2>/dev/null; then
  ok "edge is still running"
else
  bad "edge exited (see edge.log below)"
fi
again=()
for path in "${unrelated[@]}"; do
  n=$(renders "$path")
  [ "$n" -eq "${before[$path]}" ] || again+=("$path:${before[$path]}->$n")
done
if [ ${#again[@]} -eq 0 ]; then
  ok "none of the ${#unrelated[@]} unrelated pages was rendered again"
else
  bad "unrelated pages rendered again: ${again[*]}"
fi
p=${shows[0]}
if [ "$(renders "$p")" -gt "${before[$p]}" ]; then
  ok "the event page was rendered again (${before[$p]} -> $(renders "$p") renders)"
else
  bad "the event page was not rendered again (${before[$p]} renders)"
fi

# ---- a logged-in session: its own pages, nothing stored ---------------
stored_before=$(page_files)
jar="$work/cookies"
fetch "$site/accounts/login/" -c "$jar" >/dev/null
csrf=$(sed -n 's/.*name="csrfmiddlewaretoken" value="\([^"]*\)".*/\1/p' "$work/body" | head -n 1)
code=$(fetch "$site/accounts/login/" -b "$jar" -c "$jar" \
  --data-urlencode "username=$user" --data-urlencode "password=$password" \
  --data-urlencode "csrfmiddlewaretoken=$csrf" --data-urlencode "next=/")
if [ "$code" = 302 ] && grep -q sessionid "$jar"; then
  ok "logged in through edge (POST /accounts/login/ with the CSRF token: 302, sessionid set)"
else
  bad "login through edge answered $code"
fi
for path in "${shows[0]}" /topics/ /people/ "${unrelated[-1]}"; do
  code=$(fetch "$site$path" -b "$jar")
  if [ "$code" = 200 ] && [ "$(xcache)" = BYPASS ] &&
    grep -q "Signed in as <b>$user</b>" "$work/body"; then
    ok "logged in: $path shows the user's banner (X-Cache BYPASS)"
  else
    bad "logged in: $path answered $code, X-Cache $(xcache), banner $(grep -c 'Signed in as' "$work/body")"
  fi
done
fetch "$site${shows[0]}" >/dev/null
if [ "$(xcache)" = HIT ] && ! grep -q 'Signed in as' "$work/body"; then
  ok "anonymous visitors still get the stored page, without the banner (HIT)"
else
  bad "anonymous request after the session: X-Cache $(xcache), banner $(grep -c 'Signed in as' "$work/body")"
fi
if [ "$stored_before" = "$(page_files)" ] &&
  ! grep -rqs --exclude-dir=@edge 'Signed in as' "$work/pages"; then
  ok "nothing of the logged-in session was stored"
else
  bad "the logged-in session changed the store: $(diff <(echo "$stored_before") <(page_files) | head -n 5 | tr '\n' ' ')"
fi
