#!/bin/sh
# Builds the libFuzzer targets of the protocol parsers into build/fuzz/ and runs each for N
# seconds (default 20). Exits non-zero if any target fails to build or finds a crash.
# Usage: tests/fuzz/run.sh [SECONDS] [TARGET...]   (targets: http_parse uwsgi_parse chunked websocket_frame routing)
set -u
cd "$(dirname "$0")/../.." || exit 2
SECS=${1:-20}
[ $# -gt 0 ] && shift
TARGETS=${*:-"http_parse uwsgi_parse chunked websocket_frame routing"}
CXX=${FUZZ_CXX:-clang++}
OUT=build/fuzz

if ! command -v "$CXX" >/dev/null 2>&1; then
  echo "fuzz: $CXX not found (Debian: apt-get install clang libclang-rt-14-dev)" >&2
  exit 2
fi
mkdir -p "$OUT"

src_of() {
  case "$1" in
    http_parse) echo core/net/http_parse.cc ;;
    uwsgi_parse) echo core/net/uwsgi_parse.cc ;;
    chunked) echo core/net/chunked_decoder.cc ;;
    websocket_frame) echo core/net/websocket_frame.cc ;;
    routing) echo core/routing/route_basicauth.cc core/routing/route_template.cc ;;
    *) echo "fuzz: unknown target $1" >&2; return 1 ;;
  esac
}

status=0
for t in $TARGETS; do
  src=$(src_of "$t") || { status=1; continue; }
  bin="$OUT/${t}_fuzz"
  echo "== building $bin"
  if ! $CXX -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
      -Icore -Iinclude "tests/fuzz/${t}_fuzz.cc" $src -lhttp_parser -lcrypt -o "$bin"; then
    echo "fuzz: build of $t failed" >&2
    status=1
    continue
  fi
  # New inputs go to the scratch corpus in build/; the checked-in seeds stay untouched.
  work="$OUT/corpus/$t"
  mkdir -p "$work"
  dict=""
  case "$t" in
    http_parse) dict="-dict=tests/fuzz/http.dict" ;;
    chunked) dict="-dict=tests/fuzz/chunked.dict" ;;
  esac
  echo "== running $t for ${SECS}s"
  if ! "$bin" -max_total_time="$SECS" -max_len=4096 -timeout=10 -print_final_stats=1 \
      -artifact_prefix="$OUT/${t}-" $dict "$work" "tests/fuzz/corpus/$t" >"$OUT/$t.log" 2>&1; then
    echo "fuzz: $t FAILED (log: $OUT/$t.log, crash input: $OUT/${t}-*)" >&2
    tail -n 40 "$OUT/$t.log" >&2
    status=1
  else
    grep -E "stat::number_of_executed_units|stat::new_units_added" "$OUT/$t.log" | sed "s/^/   $t /"
  fi
done
[ $status -eq 0 ] && echo "fuzz: all targets passed"
exit $status
