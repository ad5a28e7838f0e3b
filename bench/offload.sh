#!/usr/bin/env bash
# --offload-threads under slow downloads: one sync worker's hello-world rate alone, and while 50
# slow clients (bench/slow_downloaders.py: 16 KiB receive buffer, 256 KiB/s each) download a
# 100 MiB static file. For this server and for Debian's uWSGI 2.0.21, same options, same load.
# Each round measures "alone" with the downloaders stopped (SIGSTOP: their sockets sit full and
# cost nothing) and then "with" them running; the median of ROUNDS rounds is printed, and the
# ratio with/alone (the issue asks >= 0.8). wrk -t1 -c10 for SECS seconds per figure. Also the
# CPU the server process used in one second of downloads with no hello traffic (utime + stime of
# all its threads): the offload threads' own cost, which neighbours' load does not blur.
#   bench/offload.sh [SECS [ROUNDS [OFFLOAD_THREADS]]]      (defaults: 1 4 2; ~20 s in all)
# $OURS_BIN measures another build of ours (default: ./uwsgi).
set -euo pipefail
SECS=${1:-1}
ROUNDS=${2:-4}
OT=${3:-2}
TOP=$(cd "$(dirname "$0")/.." && pwd)
TMP=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -CONT "$p" 2>/dev/null || true; kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT
. "$TOP/bench/lib.sh"  # fail, free_port, wait_port
mkdir -p "$TMP/www"
truncate -s 100M "$TMP/www/big.bin"  # sparse: the page cache serves it, no disk in the way
printf 'def application(e, s):\n    s("200 OK", [("Content-Length", "2")])\n    return [b"ok"]\n' > "$TMP/app.py"

rps() { wrk -t1 -c10 -d"${SECS}s" "http://127.0.0.1:$1/" | awk '/Requests\/sec/ {print $2}'; }
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }  # utime + stime of the whole process

# measure NAME PORT SERVER_PID: sets ALONE, WITH, RATIO, CPU and prints the rounds
measure() {
  local name=$1 port=$2 spid=$3 a=() w=() dl t0
  wait_port "$port"
  curl -sf -o /dev/null -r 0-0 "http://127.0.0.1:$port/static/big.bin" || fail "$name does not serve the file"
  /usr/bin/python3 "$TOP/bench/slow_downloaders.py" 127.0.0.1 "$port" /static/big.bin 50 256 60 \
    >"$TMP/$name-dl.log" 2>&1 &
  dl=$!
  PIDS+=("$dl")
  sleep 1  # all 50 connected and their transfers handed over
  t0=$(ticks "$spid"); sleep 1
  CPU=$(( $(ticks "$spid") - t0 ))  # ticks of 10 ms in 1 s: percent of a core
  for _ in $(seq "$ROUNDS"); do
    kill -STOP "$dl"; sleep 0.2
    a+=("$(rps "$port")")
    kill -CONT "$dl"; sleep 0.3
    w+=("$(rps "$port")")
  done
  kill "$dl"; wait "$dl" 2>/dev/null || true
  ALONE=$(median "${a[@]}"); WITH=$(median "${w[@]}")
  RATIO=$(awk -v a="$ALONE" -v w="$WITH" 'BEGIN {printf "%.2f", w / a}')
  printf '%-34s alone: %s | with downloads: %s | %s\n' "$name rounds" "${a[*]}" "${w[*]}" "$(cat "$TMP/$name-dl.log")"
}

P1=$(free_port)
"${OURS_BIN:-$TOP/uwsgi}" --http-socket "127.0.0.1:$P1" --wsgi-file "$TMP/app.py" --static-map "/static=$TMP/www" \
  --offload-threads "$OT" --socket-timeout 60 --disable-logging >"$TMP/ours.log" 2>&1 &
PIDS+=($!)
measure ours "$P1" "${PIDS[-1]}"
O_A=$ALONE O_W=$WITH O_R=$RATIO O_C=$CPU
kill "${PIDS[-2]}"

P2=$(free_port)
/usr/bin/uwsgi --plugins python3 --http11-socket "127.0.0.1:$P2" --wsgi-file "$TMP/app.py" \
  --static-map "/static=$TMP/www" --offload-threads "$OT" --socket-timeout 60 --disable-logging \
  >"$TMP/debian.log" 2>&1 &
PIDS+=($!)
measure debian "$P2" "${PIDS[-1]}"

printf 'hello world, 1 sync worker, --offload-threads %s, wrk -t1 -c10 %ss, median of %s rounds;\n' "$OT" "$SECS" "$ROUNDS"
printf 'with = while 50 clients download a 100 MiB static file at 256 KiB/s each\n'
printf '%-38s %8s %8s %10s %14s\n' server alone with with/alone "dl CPU %core"
printf '%-38s %8.0f %8.0f %10s %14s\n' "ours (--http-socket)" "$O_A" "$O_W" "$O_R" "$O_C"
printf '%-38s %8.0f %8.0f %10s %14s\n' "Debian uWSGI 2.0.21 (--http11-socket)" "$ALONE" "$WITH" "$RATIO" "$CPU"
