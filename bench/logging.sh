#!/bin/bash
# Request logging cost: hello world keep-alive (wrk -t1 -c8), one worker with a master, logging to
# a file, for --disable-logging, the default line, a 15-variable --log-format, and Debian's uWSGI
# with the same format. Each row runs twice (the machine is shared: figures are noisy); the
# ratios compare the best of the two runs with --disable-logging's best. The server's CPU time
# per request (master, worker and their threads, from /proc) is steadier than req/s on a busy
# machine: it is printed too (the lower of the two runs).
#   bench/logging.sh [SECONDS_PER_RUN]   (default 3: about 35 s in all)
set -u
cd "$(dirname "$0")/.."
DUR=${1:-3}
PORT=$((20000 + RANDOM % 20000))
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
FMT='%(addr) - %(user) [%(ltime)] "%(method) %(uri) %(proto)" %(status) %(size) "%(referer)" "%(uagent)" %(msecs) %(pid) %(wid) %(core) %(host)'
APP=bench/apps/hello.py

# CPU ticks (utime + stime) of the process PID and its children
ticks() {
  local t=0 p
  for p in $1 $(pgrep -P "$1"); do
    t=$((t + $(awk '{print $14 + $15}' /proc/$p/stat 2>/dev/null || echo 0)))
  done
  echo $t
}

# run NAME 'BINARY [ARGS]' SOCKET-OPTION ARGS...: prints "best-req/s lowest-us-cpu-per-request"
run() {
  local name=$1 bin=$2 sock=$3
  shift 3
  local best=0 cpu=999999
  PORT=$((PORT + 1))
  $bin $sock 127.0.0.1:$PORT --wsgi-file $APP --master --processes 1 --logto "$TMP/$name.log" "$@" \
    >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 200); do  # listening, and the app loaded (an answer)
    curl -s -o /dev/null -m 1 "http://127.0.0.1:$PORT/" && break
    sleep 0.05
  done
  local hz
  hz=$(getconf CLK_TCK)
  for _ in 1 2; do
    local out rps reqs t0 t1 us
    t0=$(ticks $pid)
    out=$(wrk -t1 -c8 -d${DUR}s "http://127.0.0.1:$PORT/" 2>/dev/null)
    t1=$(ticks $pid)
    rps=$(echo "$out" | awk '/Requests\/sec/ {print int($2)}')
    reqs=$(echo "$out" | awk '/requests in/ {print $1}')
    us=$(( (t1 - t0) * 1000000 / hz / (${reqs:-0} + 1) ))
    echo -n " ${rps:-0}/${us}us" >&2
    [ "${rps:-0}" -gt "$best" ] && best=$rps
    [ "$us" -lt "$cpu" ] && cpu=$us
  done
  kill -INT $pid 2>/dev/null
  for _ in $(seq 100); do kill -0 $pid 2>/dev/null || break; sleep 0.05; done
  kill -KILL $pid 2>/dev/null
  wait $pid 2>/dev/null
  echo "$best $cpu"
}

row() {
  local label=$1 rps=${2% *} cpu=${2#* } base=${3% *} bcpu=${3#* }
  printf '%-31s %7d req/s %5.2fx   %4d us CPU/request %5.2fx\n' "$label" "$rps" \
    "$(echo "$rps $base" | awk '{print $1/$2}')" "$cpu" "$(echo "$cpu $bcpu" | awk '{print $1/$2}')"
}

echo -n "runs:" >&2
off=$(run off ./uwsgi --http-socket --disable-logging)
def=$(run default ./uwsgi --http-socket)
fmt=$(run format ./uwsgi --http-socket --log-format "$FMT")
# --http11-socket: Debian's uWSGI keeps connections alive only so
deb=$(run debian "/usr/bin/uwsgi --plugins python3" --http11-socket --log-format "$FMT")
echo >&2
row "--disable-logging" "$off" "$off"
row "default line" "$def" "$off"
row "15-variable log-format" "$fmt" "$off"
row "Debian uWSGI, same log-format" "$deb" "$off"
lines=$(wc -l <"$TMP/format.log")
echo "(ratios: of --disable-logging; format.log: $lines lines; wrk -t1 -c8 -d${DUR}s, best of 2)"
