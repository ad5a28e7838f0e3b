#!/bin/sh
# Our --http router against Debian uWSGI's (--plugins python3,http --http), same app, one sync
# worker each, side by side: hello world with keep-alive clients, then 64 KiB and 1 MiB downloads; then
# nginx uwsgi_pass in front of one of our workers (--socket) as the third column.
# Usage: bench/router.sh [SECONDS_PER_RUN (default 4)] [CONNECTIONS (default 16)]
# Prints requests/s per server and the ratio ours/uWSGI, and the router's RSS and CPU time.
# Measured 2026-12-01 (2 cores shared with ~8 builds, load ~15: noisy), `bench/router.sh 4 16`:
#   hello  ours 11837 req/s  uWSGI 2811 req/s  4.21x  (router RSS 6 MiB, 35.9 us CPU/request)
#   big    ours  1770 req/s  uWSGI  362 req/s  4.89x  (router RSS 6 MiB, 104.5 us CPU/request)
# Re-measured 03:20 with the nginx column (load ~4), `bench/router.sh 3 16`:
#   hello  ours 12717  uWSGI 5114  2.49x  nginx uwsgi_pass -> our worker 5757 (ours/nginx 2.21x)
#   big    ours  8092  uWSGI  475 17.05x  nginx uwsgi_pass -> our worker 5394 (ours/nginx 1.50x)
#   (nginx opens a new uwsgi connection to the worker per request: uwsgi_pass has no keep-alive)
# 2026-12-01 05:08 with the 1 MiB row (load ~10 from helpers' builds: noisy), `bench/router.sh 3 16`:
#   hello  ours 4573  uWSGI 1941  2.36x  nginx 3242 (1.41x)
#   big    ours 2712  uWSGI  445  6.10x  nginx 1371 (1.98x)
#   mib    ours  288  uWSGI  126  2.28x  nginx  153 (1.88x)  router RSS 9 MiB, 730 us CPU/request
set -eu
cd "$(dirname "$0")/.."
SECS=${1:-4}
CONNS=${2:-16}
OURS=./uwsgi
DEB=/usr/bin/uwsgi
PY=/usr/bin/python3
port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
P1=$(port); P2=$(port); P3=$(port); P4=$(port)
LOG=$(mktemp -d)
PID1=; PID2=; PID3=; PID4=
trap 'kill $PID1 $PID2 $PID3 $PID4 2>/dev/null; wait 2>/dev/null; rm -rf "$LOG"' EXIT INT TERM
USER_LINE=""; [ "$(id -u)" -eq 0 ] && USER_LINE="user root;"
cat >"$LOG/nginx.conf" <<NGX
$USER_LINE
worker_processes 1;
daemon off;
pid $LOG/nginx.pid;
error_log $LOG/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$P4; location / { include /etc/nginx/uwsgi_params; uwsgi_pass 127.0.0.1:$P3; } }
}
NGX
# nginx uwsgi_pass -> one of our sync workers on --socket, with the same app.
nginx_rps() {  # $1 = app
  $OURS --socket 127.0.0.1:$P3 --wsgi-file "$1" --processes 1 --disable-logging >"$LOG/worker.log" 2>&1 &
  PID3=$!
  /usr/sbin/nginx -c "$LOG/nginx.conf" -p "$LOG" -e "$LOG/nginx-error.log" >/dev/null 2>&1 &
  PID4=$!
  sleep 1.5
  rps $P4
  kill -INT $PID3 2>/dev/null; kill -QUIT $PID4 2>/dev/null; wait $PID3 $PID4 2>/dev/null || true
}

start_pair() {  # $1 = app
  $OURS --http 127.0.0.1:$P1 --wsgi-file "$1" --processes 1 --disable-logging >"$LOG/ours.log" 2>&1 &
  PID1=$!
  $DEB --plugins python3,http --http 127.0.0.1:$P2 --wsgi-file "$1" --processes 1 --master \
       --disable-logging --http-keepalive >"$LOG/deb.log" 2>&1 &
  PID2=$!
  sleep 1.5
}
stop_pair() { kill -INT $PID1 $PID2 2>/dev/null || true; wait $PID1 $PID2 2>/dev/null || true; }
rps() { wrk -t1 -c"$CONNS" -d"${SECS}s" "http://127.0.0.1:$1/" | awk '/Requests\/sec/ {print $2}'; }
# the router is the child of our master that is not a worker: "uWSGI http" in the log names its pid
router_pid() { sed -n 's/.*HTTP router 1 (pid \([0-9]*\)) ready.*/\1/p' "$LOG/ours.log" | head -1; }
usage() {  # RSS KiB and utime+stime ticks of a pid
  awk '/VmRSS/ {print $2}' /proc/$1/status
  awk '{print $14 + $15}' /proc/$1/stat
}

for app in hello big mib; do
  start_pair bench/apps/$app.py
  RP=$(router_pid)
  T0=$(usage "$RP" | tail -1)
  A=$(rps $P1)
  T1=$(usage "$RP" | tail -1)
  RSS=$(usage "$RP" | head -1)
  B=$(rps $P2)
  stop_pair
  N=$(nginx_rps bench/apps/$app.py)
  $PY - "$app" "$A" "$B" "$RSS" "$T0" "$T1" "$SECS" "$N" <<'PYEOF'
import os, sys
app, a, b, rss, t0, t1, secs, n = sys.argv[1:]
a, b, n = float(a), float(b), float(n or 0)
hz = os.sysconf('SC_CLK_TCK')
cpu_us = (int(t1) - int(t0)) / hz * 1e6 / max(1, a * float(secs))
print(f'{app:6} ours {a:10.0f} req/s  uWSGI {b:10.0f} req/s  ratio {a / b:5.2f}x  '
      f'(our router: RSS {int(rss) // 1024} MiB, {cpu_us:.1f} us CPU per request)')
print(f'{app:6} nginx uwsgi_pass -> our worker {n:10.0f} req/s  ours/nginx {a / n if n else 0:5.2f}x')
PYEOF
done
