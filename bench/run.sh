#!/usr/bin/env bash
# bench/run.sh - tollgate vs an nginx proxy_pass baseline, same run, same mock provider.
#
# Starts on loopback: an nginx "provider" answering a 440-byte chat completion (and a
# 40 MB SSE stream for the slow-reader test), an nginx proxy_pass baseline with upstream
# keep-alive in a process of its own, as tollgate (--workers 1, ledger on) is. Drives
# each with wrk at c=32 and c=1 (one thread), and at c=1 with a 133 KB prompt, then
# prints a markdown table with the ratio to nginx. A second nginx proxy_pass, served by
# the provider's own worker (the baseline until 2026-12-01: its upstream hop never
# leaves the process), is measured too and shown for reference. Usage:
#   [CLIENT=libcurl] bench/run.sh path/to/tollgate [duration_seconds]
set -euo pipefail
bin=$(readlink -f "${1:?usage: bench/run.sh TOLLGATE_BIN [SECONDS]}")
dur=${2:-10}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
work=$(mktemp -d /tmp/tgbench.XXXXXX)
trap 'kill $(cat "$work"/*.pid "$work"/proxy/*.pid 2>/dev/null) 2>/dev/null; sleep 0.3; rm -rf "$work"' EXIT
P_MOCK=18080 P_SHARED=18081 P_TG=18082 P_NGINX=18083

mkdir -p "$work/www" "$work/logs" "$work/proxy/logs"
chmod 755 "$work" # nginx workers run as www-data: they must read www/
python3 - "$work/www/stream.sse" <<'PY'
import json, sys
# ~40 MB of OpenAI chat chunks, then the usage chunk and [DONE]
chunk = {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1767225600,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"delta":{"content":"x"*64},"finish_reason":None}],"usage":None}
line = ("data: " + json.dumps(chunk, separators=(",",":")) + "\n\n").encode()
n = (40 << 20) // len(line)
with open(sys.argv[1], "wb") as f:
    for _ in range(n): f.write(line)
    fin = {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1767225600,"model":"gpt-4o-mini-2024-07-18","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":n,"total_tokens":12+n}}
    f.write(("data: " + json.dumps(fin, separators=(",",":")) + "\n\ndata: [DONE]\n\n").encode())
PY
chmod -R a+rX "$work/www"
body=$BENCH_BODY

proxy_server() { # PORT: nginx proxy_pass to the provider, upstream keep-alive
  cat <<NGX
  upstream provider { server 127.0.0.1:$P_MOCK; keepalive 64; }
  server {
    listen 127.0.0.1:$1;
    client_body_buffer_size 1m; # the large prompt stays in memory, as in tollgate
    location / {
      proxy_pass http://provider;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
NGX
}

{ nginx_head "$work"; cat <<NGX; } > "$work/nginx.conf"
  server {
    listen 127.0.0.1:$P_MOCK;
    location = /v1/chat/completions {
      client_body_buffer_size 1m;
      if (\$http_x_bench_stream) { rewrite ^ /stream.sse last; }
      default_type application/json;
      return 200 '$body';
    }
    location = /stream.sse { root $work/www; default_type text/event-stream; error_page 405 =200 \$uri; }
  }
  # the reference: a proxy served by the provider's own worker
$(proxy_server $P_SHARED)
}
NGX
{ nginx_head "$work/proxy"; proxy_server $P_NGINX; echo "}"; } > "$work/proxy/nginx.conf"
/usr/sbin/nginx -c "$work/nginx.conf" -p "$work" 2>"$work/logs/start.log"
/usr/sbin/nginx -c "$work/proxy/nginx.conf" -p "$work/proxy" 2>"$work/proxy/logs/start.log"

tollgate_config "$work/tollgate.yaml" $P_MOCK
"$bin" serve --listen 127.0.0.1:$P_TG --workers 1 --ledger "$work/ledger.db" \
  --config "$work/tollgate.yaml" --log-level warn 2>"$work/logs/tollgate.log" &
echo $! > "$work/tollgate.pid"
for i in $(seq 1 100); do curl -sf http://127.0.0.1:$P_TG/healthz >/dev/null && break; sleep 0.05; done

write_post_lua "$work/post.lua"
# a large prompt: a 133 KB conversation of 60 messages, a newline every line (escaped in JSON)
python3 - "$work/big.json" <<'PY'
import json, random, sys
random.seed(2)
words = "the of and to in is that it for as with was on be by this are from at or an have not which but".split()
msgs = [{"role": "system", "content": "You are a helpful assistant."}]
for i in range(60):
    lines = [" ".join(random.choice(words) for _ in range(10)) + (' "q"' if random.random() < 0.3 else "") for _ in range(55)]
    msgs.append({"role": "user" if i % 2 == 0 else "assistant", "content": "\n".join(lines)})
open(sys.argv[1], "w").write(json.dumps({"model": "gpt-4o-mini", "messages": msgs, "temperature": 0.2}))
PY
sed "s|^wrk.body = .*|local f = io.open('$work/big.json'); wrk.body = f:read('*a'); f:close()|" "$work/post.lua" > "$work/big.lua"
big_kb=$(( $(stat -c %s "$work/big.json") >> 10 ))

run_wrk() { # port conns [script] -> "reqs p50_us p99_us non2xx socket_errors wrk_cpu_us_a_request"
  local TIMEFORMAT='%3U %3S' # bash's time: wrk's own CPU, user and system seconds
  { time wrk -t1 -c"$2" -d"${dur}s" --latency -s "${3:-$work/post.lua}" \
      "http://127.0.0.1:$1/v1/chat/completions" > "$work/logs/wrk-$1-$2.txt"; } 2> "$work/logs/wrk-$1-$2.cpu"
  python3 - "$work/logs/wrk-$1-$2.txt" "$work/logs/wrk-$1-$2.cpu" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
wrk_s = sum(float(x) for x in open(sys.argv[2]).read().split())
def us(s):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", s)
    if not m: sys.exit("cannot parse latency %r in:\n%s" % (s, t))
    v, u = float(m.group(1)), m.group(2)
    return v * {"us": 1, "ms": 1000, "s": 1e6, "m": 6e7}[u]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
p50 = us(re.search(r"^\s+50%\s+(\S+)", t, re.M).group(1)); p99 = us(re.search(r"^\s+99%\s+(\S+)", t, re.M).group(1))
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
errs = re.search(r"Socket errors: (.*)", t)
n = int(re.search(r"(\d+) requests in", t).group(1))
print(f"{rps:.0f} {p50:.0f} {p99:.0f} {non2xx.group(1) if non2xx else 0} {'yes' if errs else 'no'} {wrk_s * 1e6 / max(n, 1):.1f}")
PY
}
rss_kb() { ps -o rss= -p "$1" | tr -d ' '; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # utime + stime, all threads
thread_ticks() { # PID -> "name=ticks ..." for each of its threads
  local t
  for t in /proc/"$1"/task/*; do printf '%s=%s ' "$(cat "$t/comm")" "$(awk '{print $14 + $15}' "$t/stat")"; done
}
idle_ticks() { awk '/^cpu /{print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat; }
rq_wait_ns() { awk '{print $2}' "$1/schedstat"; } # time runnable but not running
per_thread() { # BEFORE AFTER REQUESTS (thread_ticks twice) -> "name 1.2 µs, ..." a request
  python3 - "$@" "$(getconf CLK_TCK)" <<'PY'
import sys
a, b = (dict(x.split("=") for x in s.split()) for s in sys.argv[1:3])
n, hz = int(sys.argv[3]), int(sys.argv[4])
print(", ".join(f"{k} {(int(v) - int(a.get(k, 0))) * 1e6 / hz / n:.1f} µs" for k, v in b.items() if int(v) > int(a.get(k, 0))))
PY
}

# warm up all three
wrk -t1 -c8 -d1s -s "$work/post.lua" http://127.0.0.1:$P_NGINX/v1/chat/completions >/dev/null
wrk -t1 -c8 -d1s -s "$work/post.lua" http://127.0.0.1:$P_SHARED/v1/chat/completions >/dev/null
wrk -t1 -c8 -d1s -s "$work/post.lua" http://127.0.0.1:$P_TG/v1/chat/completions >/dev/null

declare -A R CPU THREADS NCPU SCHED MOCK
tg_pid=$(cat "$work/tollgate.pid")
mock_pid=$(pgrep -P "$(cat "$work/nginx.pid")" | head -1) # the provider's one worker
ngx_pid=$(pgrep -P "$(cat "$work/proxy/nginx.pid")" | head -1) # the baseline's one worker
tg_worker=$(grep -l '^tg-worker-0$' /proc/"$tg_pid"/task/*/comm | head -1); tg_worker=${tg_worker%/comm}
for round in 1 2; do # interleaved rounds, best of two per cell
  for c in 32 1 big; do # big: c=1 with the large prompt
    for who in nginx direct tollgate shared; do
      port=$P_NGINX; [ $who = tollgate ] && port=$P_TG; [ $who = direct ] && port=$P_MOCK
      [ $who = shared ] && port=$P_SHARED
      t0=$(cpu_ticks "$tg_pid") th0=$(thread_ticks "$tg_pid") n0=$(cpu_ticks "$ngx_pid") m0=$(cpu_ticks "$mock_pid")
      i0=$(idle_ticks) w0=$(rq_wait_ns "$tg_worker") v0=$(rq_wait_ns "/proc/$ngx_pid")
      if [ $c = big ]; then res=$(run_wrk $port 1 "$work/big.lua"); else res=$(run_wrk $port $c); fi
      # how the two cores were shared: idle, and the proxy's thread waiting for a core
      read -r id0 all0 <<<"$i0"; read -r id1 all1 < <(idle_ticks)
      wait0=$v0 wait1=$(rq_wait_ns "/proc/$ngx_pid"); [ $who = tollgate ] && wait0=$w0 wait1=$(rq_wait_ns "$tg_worker")
      sched="$(( (id1 - id0) * 100 / (all1 - all0 > 0 ? all1 - all0 : 1) )) $(( (wait1 - wait0) / ($(cut -d' ' -f1 <<<"$res") * dur) ))"
      if [ $who = nginx ]; then # the baseline's own CPU a request, to set tollgate's against
        us=$(( ($(cpu_ticks "$ngx_pid") - n0) * 1000000 / $(getconf CLK_TCK) / ($(cut -d' ' -f1 <<<"$res") * dur) ))
        if [ -z "${NCPU[$c]:-}" ] || [ "$us" -lt "${NCPU[$c]}" ]; then NCPU[$c]=$us; fi
      fi
      if [ $who = tollgate ]; then # CPU per request is steadier than req/s on a shared VM
        us=$(( ($(cpu_ticks "$tg_pid") - t0) * 1000000 / $(getconf CLK_TCK) / ($(cut -d' ' -f1 <<<"$res") * dur) ))
        if [ -z "${CPU[$c]:-}" ] || [ "$us" -lt "${CPU[$c]}" ]; then
          CPU[$c]=$us
          THREADS[$c]=$(per_thread "$th0" "$(thread_ticks "$tg_pid")" $(( $(cut -d' ' -f1 <<<"$res") * dur )))
        fi
      fi
      key="$who-$c"
      # the provider's CPU a request, the other stage of the pipeline on the same two cores
      us=$(( ($(cpu_ticks "$mock_pid") - m0) * 1000000 / $(getconf CLK_TCK) / ($(cut -d' ' -f1 <<<"$res") * dur) ))
      if [ -z "${MOCK[$key]:-}" ] || [ "$us" -lt "${MOCK[$key]}" ]; then MOCK[$key]=$us; fi
      prev=${R[$key]:-}
      if [ -z "$prev" ] || [ "$(cut -d' ' -f1 <<<"$res")" -gt "$(cut -d' ' -f1 <<<"$prev")" ]; then
        R[$key]=$res
        SCHED[$key]=$sched
      fi
    done
  done
done
rss_tg=$(rss_kb "$tg_pid")
rows=$(sqlite3 "$work/ledger.db" "select count(*) from calls where outcome='ok'")
# the write-ahead log must stay bounded under load (checkpointed, started over)
files="ledger.db $(( $(stat -c %s "$work/ledger.db") >> 20 )) MB, ledger.db-wal $(( $(stat -c %s "$work/ledger.db-wal" 2>/dev/null || echo 0) >> 20 )) MB"

# slow reader of a 40 MB stream: 4 MB/s client, RSS sampled while it runs
curl -s -N --limit-rate 4M -o /dev/null -H 'content-type: application/json' -H 'x-bench-stream: 1' \
  -d '{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}' \
  http://127.0.0.1:$P_TG/v1/chat/completions &
cpid=$!
peak=0
while kill -0 $cpid 2>/dev/null; do r=$(rss_kb "$tg_pid"); [ "$r" -gt "$peak" ] && peak=$r; sleep 0.2; done
stream_row=$(sqlite3 "$work/ledger.db" "select outcome||' status='||coalesce(status_code,'')||' error='||coalesce(error_type,'')||' out='||output_tokens||' bytes='||coalesce(response_bytes,'') from calls where is_stream=1 order by started_at desc limit 1")

python3 - "$dur" "$rss_tg" "$peak" "$rows" "$stream_row" "${CPU[32]} ${CPU[1]} ${CPU[big]} ${NCPU[32]} ${NCPU[1]} ${NCPU[big]}" "${THREADS[32]}|${THREADS[1]}" "$files" "$big_kb" "${R[nginx-32]}" "${R[tollgate-32]}" "${R[direct-32]}" "${R[nginx-1]}" "${R[tollgate-1]}" "${R[direct-1]}" "${R[nginx-big]}" "${R[tollgate-big]}" "${R[direct-big]}" "${R[shared-32]}" "${R[shared-1]}" "${R[shared-big]}" "${SCHED[nginx-32]} ${SCHED[tollgate-32]}" "${MOCK[nginx-32]} ${MOCK[tollgate-32]}" <<'PY'
import sys
import os
dur, rss, peak, rows, srow, cpu, threads, files, big_kb = sys.argv[1:10]
client = os.environ.get("CLIENT", "auto")
cells = [a.split() for a in sys.argv[10:22]]
sched = [int(x) for x in sys.argv[22].split()]
mock = [int(x) for x in sys.argv[23].split()]
n32, t32, d32, n1, t1, d1, nb, tb, db, s32, s1, sb = cells
print(f"duration per cell: {dur}s, wrk -t1, best of 2 interleaved rounds; tollgate --workers 1 with the SQLite ledger on, upstream client {client}; nginx worker_processes 1")
print("the baseline is an nginx proxy in a process of its own, as tollgate; the reference rows are a proxy served by the provider's own worker, whose upstream hop never leaves its process")
print()
print("| load | target | req/s | p50 µs | p99 µs | req/s vs nginx | p50 vs nginx |")
print("|---|---|---|---|---|---|---|")
def vs(t, n): return f"{int(t[0])/int(n[0]):.2f}× | {int(t[1])/int(n[1]):.2f}×"
for label, n, t, d, r in (("c=32", n32, t32, d32, s32), ("c=1", n1, t1, d1, s1), (f"c=1, {big_kb} KB prompt", nb, tb, db, sb)):
    print(f"| {label} | mock direct | {d[0]} | {d[1]} | {d[2]} | | |")
    print(f"| {label} | nginx proxy_pass | {n[0]} | {n[1]} | {n[2]} | 1.00× | 1.00× |")
    print(f"| {label} | tollgate | {t[0]} | {t[1]} | {t[2]} | {vs(t, n)} |")
    print(f"| {label} | reference: nginx proxy_pass in the provider's worker | {r[0]} | {r[1]} | {r[2]} | {vs(r, n)} |")
print()
def added(label, n, t, d, r):
    an, at, ar = (int(x[1]) - int(d[1]) for x in (n, t, r))
    print(f"added p50 {label} over the mock: nginx {an} µs, tollgate {at} µs ({at/max(an,1):.2f}×); reference {ar} µs (tollgate {at/max(ar,1):.2f}× that)")
added("at c=1", n1, t1, d1, s1)
added(f"with the {big_kb} KB prompt", nb, tb, db, sb)
print(f"c=32 req/s against the reference: tollgate {int(t32[0])/int(s32[0]):.2f}×")
tc, nc = [int(x) for x in cpu.split()[:3]], [int(x) for x in cpu.split()[3:]]
print(f"tollgate CPU per request, all threads (best round): c=32 {tc[0]} µs, c=1 {tc[1]} µs, {big_kb} KB prompt {tc[2]} µs")
print(f"nginx proxy_pass CPU per request (best round): c=32 {nc[0]} µs, c=1 {nc[1]} µs, {big_kb} KB prompt {nc[2]} µs; tollgate's against it: {tc[0]/max(nc[0],1):.2f}×, {tc[1]/max(nc[1],1):.2f}×, {tc[2]/max(nc[2],1):.2f}× (steadier than req/s on a shared VM)")
th32, th1 = threads.split("|")
print(f"the same rounds by thread: c=32 {th32}; c=1 {th1}")
print(f"c=32, how the two cores were shared in the best rounds: idle {sched[0]}% with nginx, {sched[2]}% with tollgate; "
      f"the proxy's thread runnable but waiting for a core, a request: nginx's worker {sched[1]/1000:.1f} µs, tollgate's worker {sched[3]/1000:.1f} µs")
# wrk, the provider and the proxy share the two cores: what each request costs all of them
# bounds req/s as much as the proxy's own cost does
pn, pt = (float(x[5]) + m + p for x, m, p in ((n32, mock[0], nc[0]), (t32, mock[1], tc[0])))
print(f"c=32, CPU a request along the pipeline (wrk + provider + proxy, best rounds): nginx {n32[5]} + {mock[0]} + {nc[0]} = {pn:.1f} µs, "
      f"tollgate {t32[5]} + {mock[1]} + {tc[0]} = {pt:.1f} µs; with the two cores as busy in both runs, tollgate's req/s would be {pn/max(pt,1):.2f}× nginx's")
print(f"tollgate RSS after the load: {int(rss)/1024:.1f} MB; ledger rows with outcome ok: {rows}; files: {files}")
print(f"slow reader of a 40 MB stream at 4 MB/s: peak tollgate RSS {int(peak)/1024:.1f} MB; ledger row: {srow}")
errs = [c for c in cells if c[3] != '0' or c[4] == 'yes']
if errs: print("WARNING: non-2xx responses or socket errors in some cells:", errs)
PY
