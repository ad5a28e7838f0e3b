#!/bin/sh
# Builds and runs the suspend-engine switch benchmark (Google Benchmark, libbenchmark-dev).
# Run from the repo root after the plugins are built (`/usr/bin/python3 uwsgiconfig.py --build default`),
# since it loads ./ugreen_plugin.so and ./fcontext_plugin.so:
#   sh bench/build_switch_bench.sh [benchmark flags, e.g. --benchmark_repetitions=3]
set -e
cd "$(dirname "$0")/.."
mkdir -p build/bench
g++ -std=c++20 -O2 -g -pthread -Iinclude -Itests/unit bench/switch_bench.cc \
    -o build/bench/switch_bench -ldl -lbenchmark -lboost_context
exec build/bench/switch_bench "$@"
