#!/usr/bin/env bash
# A 64 KiB static file over keep-alive, one process each: this server's --static-map, Debian's
# uWSGI 2.0.21 --static-map (on --http11-socket, its keep-alive socket) and nginx (sendfile on).
# wrk -t1 -c50, ROUNDS rounds (default 3) of SECS seconds (default 2) per server, the servers taking
# turns so that a noisy neighbour hits all three alike; the median round is printed, side by side
# with ratios to ours.
#   bench/static.sh [SECS [ROUNDS]]
set -euo pipefail
SECS=${1:-2}
ROUNDS=${2:-3}
TOP=$(cd "$(dirname "$0")/.." && pwd)
TMP=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT
. "$TOP/bench/lib.sh"  # fail, free_port, wait_port
mkdir -p "$TMP/www/static"
head -c 65536 /dev/urandom > "$TMP/www/static/file.bin"
printf 'def application(e, s):\n    s("200 OK", [("Content-Length", "2")])\n    return [b"ok"]\n' > "$TMP/app.py"

rps() {  # port -> requests/s
  wrk -t1 -c50 -d"${SECS}s" "http://127.0.0.1:$1/static/file.bin" | awk '/Requests\/sec/ {print $2}'
}

P1=$(free_port)
"$TOP/uwsgi" --http-socket "127.0.0.1:$P1" --wsgi-file "$TMP/app.py" --static-map "/static=$TMP/www/static" \
  --disable-logging >"$TMP/ours.log" 2>&1 &
PIDS+=($!)
P2=$(free_port)
/usr/bin/uwsgi --plugins python3 --http11-socket "127.0.0.1:$P2" --wsgi-file "$TMP/app.py" \
  --static-map "/static=$TMP/www/static" --disable-logging >"$TMP/debian.log" 2>&1 &
PIDS+=($!)
P3=$(free_port)
USER_LINE=""; [ "$(id -u)" -eq 0 ] && USER_LINE="user root;"
cat >"$TMP/nginx.conf" <<NGX
$USER_LINE
worker_processes 1;
daemon off;
pid $TMP/nginx.pid;
error_log $TMP/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  default_type application/octet-stream;
  server { listen 127.0.0.1:$P3; root $TMP/www; }
}
NGX
/usr/sbin/nginx -c "$TMP/nginx.conf" -p "$TMP" -e "$TMP/nginx-error.log" >/dev/null 2>&1 &
PIDS+=($!)
wait_port "$P1"; wait_port "$P2"; wait_port "$P3"
for p in "$P1" "$P2" "$P3"; do  # each serves the file before it is measured
  curl -sf -o /dev/null "http://127.0.0.1:$p/static/file.bin" || { echo "port $p does not serve the file" >&2; exit 1; }
done
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
R1=(); R2=(); R3=()
for _ in $(seq "$ROUNDS"); do
  R1+=("$(rps "$P1")"); R2+=("$(rps "$P2")"); R3+=("$(rps "$P3")")
done
OURS=$(median "${R1[@]}"); DEB=$(median "${R2[@]}"); NGINX=$(median "${R3[@]}")
printf '64 KiB static file, keep-alive, wrk -t1 -c50, median of %s rounds of %ss, one process each\n' "$ROUNDS" "$SECS"
printf 'rounds: ours %s | Debian uWSGI %s | nginx %s\n' "${R1[*]}" "${R2[*]}" "${R3[*]}"
printf '%-28s %12s %10s\n' server req/s ours/x
awk -v o="$OURS" -v d="$DEB" -v n="$NGINX" 'BEGIN {
  printf "%-28s %12.0f %10s\n", "ours (static-map)", o, "1.00"
  printf "%-28s %12.0f %10.2f\n", "Debian uWSGI (static-map)", d, o / d
  printf "%-28s %12.0f %10.2f\n", "nginx (sendfile)", n, o / n
}'
