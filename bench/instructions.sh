#!/usr/bin/env bash
# bench/instructions.sh - instructions per proxied request, counted by callgrind: a number
# that does not move with the load of a shared VM, for A/B of request-path changes.
#
# Starts an nginx mock provider and tollgate (--workers 1, ledger on) under
# valgrind --tool=callgrind, warms up, zeroes the counters, drives c=4 for SECONDS with
# wrk, dumps, and prints user-space instructions per request over all of tollgate's
# threads (worker, ledger writer, ...). System calls' kernel work is not counted.
# Usage: [CLIENT=libcurl] bench/instructions.sh path/to/tollgate [SECONDS] [more binaries...]
set -euo pipefail
. "$(cd "$(dirname "$0")" && pwd)/common.sh"
dur=${2:-8}
bins=("$1" "${@:3}")
work=$(mktemp -d /tmp/tginstr.XXXXXX)
chmod 755 "$work"
trap 'kill $(cat "$work"/*.pid 2>/dev/null) 2>/dev/null; sleep 0.3; [ -n "${KEEP:-}" ] && cp "$work"/cg.out.1 "$KEEP"; rm -rf "$work"' EXIT
P_MOCK=18090 P_TG=18092
body=$BENCH_BODY
mkdir -p "$work/logs"
{ nginx_head "$work"; cat <<NGX; } > "$work/nginx.conf"
  server {
    listen 127.0.0.1:$P_MOCK;
    location = /v1/chat/completions { client_body_buffer_size 64k; default_type application/json; return 200 '$body'; }
  }
}
NGX
/usr/sbin/nginx -c "$work/nginx.conf" -p "$work"
write_post_lua "$work/post.lua"
tollgate_config "$work/tollgate.yaml" $P_MOCK
url=http://127.0.0.1:$P_TG/v1/chat/completions
for bin in "${bins[@]}"; do
  rm -f "$work"/ledger.db* "$work"/cg.out*
  valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" "$(readlink -f "$bin")" serve \
    --listen 127.0.0.1:$P_TG --workers 1 --ledger "$work/ledger.db" \
    --config "$work/tollgate.yaml" --log-level warn 2>"$work/logs/valgrind.log" &
  vpid=$!
  echo $vpid > "$work/tollgate.pid"
  for i in $(seq 1 300); do curl -sf http://127.0.0.1:$P_TG/healthz >/dev/null && break; sleep 0.1; done
  wrk -t1 -c4 -d2s -s "$work/post.lua" "$url" >/dev/null
  callgrind_control -z $vpid >/dev/null 2>&1
  n=$(wrk -t1 -c4 -d"${dur}s" -s "$work/post.lua" "$url" | awk '/requests in/ {print $1}')
  callgrind_control -d $vpid >/dev/null 2>&1
  sleep 1
  kill $vpid
  wait $vpid 2>/dev/null || true
  # the total, and the two threads that do the work: the worker's loop, the ledger writer
  read -r ir iw il < <(callgrind_annotate --inclusive=yes "$work/cg.out.1" 2>/dev/null | awk '
    { n = $1; gsub(",", "", n) }
    /PROGRAM TOTALS/ { t = n } !w && / [^ ]*:worker_main / { w = n } !l && / [^ ]*:writer_main / { l = n }
    END { print t + 0, w + 0, l + 0 }')
  echo "$bin: $n requests, $((ir / n)) instructions per request (all threads;" \
    "worker $((iw / n)), ledger writer $((il / n)))"
done
