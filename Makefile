# `make` builds the default profile (UWSGI_PROFILE=NAME make picks another); `make test` and
# `make run` install what they need first. The build itself is uwsgiconfig.py.
PY := /usr/bin/python3
PROFILE ?= $(or $(UWSGI_PROFILE),default)
PORT ?= 8080

.PHONY: all build deps test unit-tests asan-tests integration-tests run bench bench-deps clean install uninstall docs fuzz

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

# Integration tests run in TEST_JOBS processes (python3-pytest-xdist): most of their time is
# waiting on servers, so 2 processes take about a quarter of the serial time on 2 cores.
TEST_JOBS ?= 2
integration-tests:
	@$(PY) uwsgiconfig.py --build default
	@$(PY) uwsgiconfig.py --build core
	$(PY) -m pytest -q -p no:cacheprovider -n $(TEST_JOBS) tests/integration

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
	@dpkg-query -W uwsgi-core uwsgi-plugin-python3 uwsgi-plugin-gevent-python3 uwsgi-plugin-greenlet-python3 \
	  gunicorn python3-matplotlib nginx-light wrk >/dev/null 2>&1 || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq uwsgi-core uwsgi-plugin-python3 \
	   uwsgi-plugin-gevent-python3 uwsgi-plugin-greenlet-python3 gunicorn python3-matplotlib nginx-light wrk >/dev/null)

# Side by side against Debian's uWSGI, gunicorn -k gevent, gevent.pywsgi and nginx; writes
# docs/benchmarks.md and docs/img/. BENCH="--workloads hello-close,sleep --rounds 1" picks a subset.
bench: bench-deps build
	$(PY) bench/report $(BENCH)

# `make install PREFIX=/opt/uwsgi` (DESTDIR for staging): the binary, the profile's shared plugins
# (lib/uwsgi/plugins, searched by the binary), and what a third party needs to build a plugin
# against this copy: headers, uwsgiconfig.py and the profile (`uwsgi --build-plugin DIR`).
PREFIX ?= /usr/local
PROFILE_INI = buildconf/$(PROFILE).ini
PROFILE_PLUGINS = $(shell sed -n 's/^plugins *= *//p' $(PROFILE_INI) | tr ',' ' ')
PROFILE_OUT = $(or $(shell sed -n 's/^output_dir *= *//p' $(PROFILE_INI)),.)
I := $(DESTDIR)$(PREFIX)

install: build
	install -d $(I)/bin $(I)/lib/uwsgi/plugins $(I)/include/uwsgi $(I)/share/uwsgi/buildconf
	install -m 755 $(PROFILE_OUT)/uwsgi $(I)/bin/uwsgi
	for p in $(PROFILE_PLUGINS); do install -m 755 $(PROFILE_OUT)/$${p}_plugin.so $(I)/lib/uwsgi/plugins/ || exit 1; \
	  install -m 644 $(PROFILE_OUT)/$${p}_plugin.options $(I)/lib/uwsgi/plugins/ || exit 1; done
	install -m 644 include/uwsgi/*.h $(I)/include/uwsgi/
	install -m 644 uwsgiconfig.py $(I)/share/uwsgi/uwsgiconfig.py
	install -m 644 $(PROFILE_INI) $(I)/share/uwsgi/buildconf/default.ini

uninstall:
	rm -f $(I)/bin/uwsgi $(I)/share/uwsgi/uwsgiconfig.py $(I)/share/uwsgi/buildconf/default.ini
	rm -f $(I)/lib/uwsgi/plugins/*_plugin.so $(I)/lib/uwsgi/plugins/*_plugin.options $(addprefix $(I)/include/uwsgi/,$(notdir $(wildcard include/uwsgi/*.h)))
	-rmdir $(I)/lib/uwsgi/plugins $(I)/lib/uwsgi $(I)/include/uwsgi $(I)/share/uwsgi/buildconf $(I)/share/uwsgi 2>/dev/null

# docs/options.md comes from the option registry itself, and the shared plugins' options from the
# manifests their registration wrote at build time (tests/integration/test_plugins.py fails when
# it is stale, or when a manifest differs from what its plugin registers: run `make docs`).
docs:
	@$(PY) uwsgiconfig.py --build default
	./uwsgi --help-markdown > docs/options.md.tmp
	mv docs/options.md.tmp docs/options.md

clean:
	rm -rf build uwsgi *_plugin.so *_plugin.options
