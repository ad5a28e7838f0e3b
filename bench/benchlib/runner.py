"""One measurement: start a server, time its start-up, load it, read its RSS, stop it."""
import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import time

from . import procs, servers, wrk
from .workloads import IDLE_CONNS

BENCH_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IDLE_CLIENT = os.path.join(BENCH_DIR, 'idle_client.py')


def _boot(argv, port):
    """Starts argv; returns (proc, accept seconds, first-response seconds) or raises with its log."""
    t0 = time.time()
    # cwd: Debian uWSGI looks for ./NAME_plugin.so first, and the repo root holds ours.
    p = procs.start(argv, servers.APPS)
    if not procs.wait_accepts(port, p):
        tail = procs.log_tail(p)
        procs.stop(p)
        raise RuntimeError('did not start: ' + tail)
    accept = time.time() - t0
    if not procs.first_response(port, p):
        tail = procs.log_tail(p)
        procs.stop(p)
        raise RuntimeError('no first response: ' + tail)
    return p, accept, time.time() - t0


def run(server, mode, wl, duration):
    port = procs.free_port()
    cores = wl.cores.get(mode, 1)
    argv = servers.argv(server, mode, port, wl.app[mode], wl.keepalive, cores)
    p, accept, first = _boot(argv, port)
    idle = None
    try:
        time.sleep(0.2)
        rss0 = procs.worker_rss_kb(p.pid)
        res = dict(accept_ms=accept * 1000, first_ms=first * 1000, rss0_kb=rss0)
        if wl.kind == 'idle':
            idle = subprocess.Popen([sys.executable, IDLE_CLIENT, str(port), str(IDLE_CONNS), '40'],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                    start_new_session=True)
            procs.LIVE.add(idle)
            ready = idle.stdout.readline().split()
            ok, closed, failed, secs = int(ready[1]), int(ready[2]), int(ready[3]), float(ready[4])
            time.sleep(0.3)
            rss_idle = procs.worker_rss_kb(p.pid)
            res.update(idle_ok=ok, idle_closed=closed, idle_failed=failed, idle_setup_s=secs,
                       extra_kb=(rss_idle - rss0) / IDLE_CONNS)
        res.update(wrk.run(port, wl.conns, wl.wrk_args, max(duration, wl.min_duration), p.pid))
        if wl.kind == 'sleep':
            res['extra_kb'] = (res['rss_kb'] - rss0) / wl.conns
        if idle:
            idle.stdin.write('\n')
            idle.stdin.flush()
            res['held'] = int(idle.stdout.readline().split()[1])
        return res
    finally:
        if idle:
            procs.stop(idle)
        procs.stop(p)


def run_nginx(duration, close=False):
    """The loopback ceiling: nginx `return 200`, one worker; keep-alive, or every request on a new
    connection (`Connection: close`: the ceiling for the -close rows)."""
    port = procs.free_port()
    with tempfile.TemporaryDirectory(prefix='bench-nginx-') as d:
        p, accept, first = _boot(servers.nginx_argv(d, port), port)
        try:
            res = dict(accept_ms=accept * 1000, first_ms=first * 1000,
                       rss0_kb=procs.worker_rss_kb(p.pid))
            res.update(wrk.run(port, 50, ['-H', 'Connection: close'] if close else [], duration, p.pid))
            res['close'] = close
            return res
        finally:
            procs.stop(p)


def greenlet_floor():
    """RSS per suspended greenlet without and with a Python frame (bench/greenlet_floor.py)."""
    out = subprocess.check_output([sys.executable, os.path.join(BENCH_DIR, 'greenlet_floor.py')],
                                  text=True, timeout=60)
    return dict(kv.split('=') for kv in out.split())


def _run_reference(argv, wl, duration, after_port=()):
    port = procs.free_port()
    p = procs.start(argv + [str(port)] + list(after_port), servers.APPS)
    try:
        if not procs.wait_accepts(port, p):
            raise RuntimeError('did not start: ' + procs.log_tail(p))
        res = wrk.run(port, wl.conns, wl.wrk_args, max(duration, wl.min_duration), p.pid)
        res['workload'] = wl.name
        return res
    finally:
        procs.stop(p)


def run_raw_gevent(wl, duration):
    """The sleep workload against bench/raw_gevent_server.py: the pure-gevent reference."""
    return _run_reference([sys.executable, os.path.join(BENCH_DIR, 'raw_gevent_server.py')],
                          wl, duration)


_ceiling_exe = None


def run_c_ceiling(wl, duration):
    """The workload against bench/c_ceiling.c (compiled here once, cc -O2): one C thread on
    epoll, no HTTP parsing, no Python, answering wl.ceiling_ms after the request (0: at once) with
    the bytes this project's server sends for the workload's app. What the machine leaves for a
    server on this load."""
    global _ceiling_exe
    if _ceiling_exe is None:
        d = tempfile.mkdtemp(prefix='bench-ceiling-')
        atexit.register(shutil.rmtree, d, True)
        exe = os.path.join(d, 'c_ceiling')
        subprocess.run(['cc', '-O2', '-o', exe, os.path.join(BENCH_DIR, 'c_ceiling.c')],
                       check=True, capture_output=True, text=True)
        _ceiling_exe = exe
    res = _run_reference([_ceiling_exe], wl, duration, [str(wl.ceiling_ms)])
    res['delay_ms'] = wl.ceiling_ms
    return res
