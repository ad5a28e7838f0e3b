"""What is measured. Each workload names its app per mode, the wrk load, its connection semantics
and the modes it applies to."""
from dataclasses import dataclass, field
import os

LUA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'lua')
CLOSE = ['-H', 'Connection: close']


@dataclass
class Workload:
    name: str
    title: str
    app: dict                      # mode -> app file in bench/apps
    conns: int = 50
    wrk_args: list = field(default_factory=list)
    keepalive: bool = False
    kind: str = 'wrk'              # wrk | sleep (RSS per in-flight request) | idle (10,000 idle conns)
    modes: tuple = ('sync', 'threads', 'ugreen', 'greenlet', 'gevent')
    cores: dict = field(default_factory=lambda: {'threads': 4, 'ugreen': 1000, 'greenlet': 1000,
                                                 'gevent': 10000})
    note: str = ''
    min_duration: int = 0          # seconds: a 1 s sleep needs many rounds per connection to mean anything
    ideal: dict = field(default_factory=dict)  # mode -> ideal req/s (connections / sleep)
    # bench/c_ceiling.c's DELAY_MS for this workload's C ceiling (answering as its app does:
    # 0 at once, 100 after the 0.1 s sleep), or None: no C ceiling is measured for it.
    ceiling_ms: int = None


def _all(app):
    return {m: app for m in ('sync', 'threads', 'ugreen', 'greenlet', 'gevent')}


IDLE_CONNS = 10000
# Room for the idle connections plus wrk's: every server gets the same number of slots.
IDLE_CORES = {'ugreen': 10100, 'greenlet': 10100, 'gevent': 10100}

WORKLOADS = [
    Workload('hello-close', 'hello world, Connection: close', _all('hello.py'), wrk_args=CLOSE,
             ceiling_ms=0),
    Workload('hello-nolen-close', 'hello world without Content-Length (the usual tutorial app), '
             'Connection: close', _all('hello_nolen.py'), wrk_args=CLOSE),
    Workload('hello-keepalive', 'hello world, keep-alive', _all('hello.py'), keepalive=True,
             ceiling_ms=0),
    Workload('64k-close', '64 KiB response, Connection: close', _all('big.py'), wrk_args=CLOSE),
    Workload('64k-keepalive', '64 KiB response, keep-alive', _all('big.py'), keepalive=True),
    Workload('upload-close', '1 MiB upload (POST, body read and discarded), Connection: close',
             _all('upload.py'), conns=10, wrk_args=CLOSE + ['-s', os.path.join(LUA, 'upload.lua')]),
    Workload('sleep', 'sleep, 1,000 connections, Connection: close (1 s uwsgi.async_sleep for '
             'ugreen/greenlet, 0.1 s gevent.sleep for gevent)',
             {'ugreen': 'sleep_async.py', 'greenlet': 'sleep_async.py', 'gevent': 'sleep_gevent.py'},
             conns=1000, wrk_args=CLOSE + ['--timeout', '10s'], kind='sleep',
             modes=('ugreen', 'greenlet', 'gevent'), min_duration=15,
             ideal={'ugreen': 1000, 'greenlet': 1000, 'gevent': 10000}, ceiling_ms=100,
             note='uWSGI 2.0.21 truncates `uwsgi.async_sleep()` to whole seconds (0.1 does not '
                  'sleep at all: a request returns in ~1 ms), so the async-API app sleeps 1 s: ideal '
                  '1,000 req/s for ugreen and greenlet, 10,000 req/s for gevent (0.1 s). Extra '
                  'column: (peak worker RSS under load - idle RSS) / 1000.'),
    Workload('sleep-keepalive', 'sleep, 1,000 connections, keep-alive (plain wrk, as in the reference '
             'measurements; uWSGI closes after every response in these modes)',
             {'ugreen': 'sleep_async.py', 'greenlet': 'sleep_async.py', 'gevent': 'sleep_gevent.py'},
             conns=1000, wrk_args=['--timeout', '10s'], keepalive=True, kind='sleep',
             modes=('ugreen', 'greenlet', 'gevent'), min_duration=15,
             ideal={'ugreen': 1000, 'greenlet': 1000, 'gevent': 10000}, ceiling_ms=100,
             note='The same apps and sleeps as the sleep row, with wrk keeping its connections open '
                  '(what nginx with upstream keepalive or a browser does). Extra column as above.'),
    Workload('sleep-threads', 'blocking sleep (time.sleep 0.1 s, a stand-in for a database call), '
             '100 connections, 100 threads, Connection: close',
             {'threads': 'sleep_blocking.py'}, conns=100, wrk_args=CLOSE, kind='sleep',
             modes=('threads',), cores={'threads': 100}, ideal={'threads': 1000},
             note='What --threads is for: each thread waits without the GIL. Ideal 1,000 req/s '
                  '(100 threads / 0.1 s). Extra column: (peak worker RSS under load - idle RSS) / 100.'),
    Workload('idle', f'hello world, keep-alive, beside {IDLE_CONNS:,} idle keep-alive connections',
             _all('hello.py'), keepalive=True, kind='idle', modes=('ugreen', 'greenlet', 'gevent'),
             cores=IDLE_CORES,
             note=f'{IDLE_CONNS:,} connections each make one keep-alive request and then stay idle '
                  'while wrk runs. Extra column: (worker RSS with them - RSS before) / '
                  f'{IDLE_CONNS:,}; "held" is how many were still open after wrk. Cores / '
                  'greenlets / worker-connections are 10,100 for every server here.'),
]

BY_NAME = {w.name: w for w in WORKLOADS}
