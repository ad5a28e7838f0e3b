# `make` builds the default profile (UWSGI_PROFILE=NAME make picks another); `make test` and
# `make run` install what they need first. The build itself is uwsgiconfig.py.
PY := /usr/bin/python3
PROFILE ?= $(or $(UWSGI_PROFILE),default)
PORT ?= 8080

.PHONY: all build deps test unit-tests asan-tests integration-tests run bench bench-deps clean install fuzz

all: build

build:
	@$(PY) uwsgiconfig.py --build $(PROFILE)

deps:
	@bash .ci/install-deps

unit-tests:
	@$(PY) uwsgiconfig.py --tests default
	build/default/unit_tests --gtest_brief=1

asan-tests:
	@$(PY) uwsgiconfig.py --tests asan
	ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1 build/asan/unit_tests --gtest_brief=1

integration-tests:
	@$(PY) uwsgiconfig.py --build default
	@$(PY) uwsgiconfig.py --build core
	$(PY) -m pytest -q -p no:cacheprovider tests/integration

# Each fuzz target for FUZZ_SECONDS (bounded, so CI stays short).
FUZZ_SECONDS ?= 10
fuzz:
	sh tests/fuzz/run.sh $(FUZZ_SECONDS)

test: deps
	@$(MAKE) --no-print-directory unit-tests
	@$(MAKE) --no-print-directory asan-tests
	@$(MAKE) --no-print-directory integration-tests
	@$(MAKE) --no-print-directory fuzz

run: deps build
	./uwsgi --http-socket 127.0.0.1:$(PORT) --wsgi-file examples/hello.py --master --processes 2

bench-deps: deps
	@dpkg-query -W uwsgi-core uwsgi-plugin-python3 uwsgi-plugin-gevent-python3 uwsgi-plugin-greenlet-python3 >/dev/null 2>&1 || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq uwsgi-core uwsgi-plugin-python3 \
	   uwsgi-plugin-gevent-python3 uwsgi-plugin-greenlet-python3 >/dev/null)

# Side by side against Debian's uWSGI; BENCH="sync-close ugreen-sleep" picks scenarios.
bench: bench-deps build
	$(PY) bench/compare.py $(BENCH)

clean:
	rm -rf build uwsgi *_plugin.so
