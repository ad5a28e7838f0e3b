"""Fixtures that run the real ./uwsgi binary.

`start_uwsgi(args, ...)` is the general helper (any command line, e.g. async engines); the
`uwsgi_server` fixture is a factory that starts servers and kills them at teardown:

    def test_x(uwsgi_server):
        srv = uwsgi_server('--wsgi-file', app_path('app.py'))
        status, headers, body = srv.request('GET', '/')

$UWSGI_BIN picks another binary and $UWSGI_ARGS adds leading arguments, e.g. for the `core`
profile: UWSGI_BIN=build/core/out/uwsgi UWSGI_ARGS='--plugins python'.

Each server runs in its own process group on a free 127.0.0.1 port; its output goes to a log
file (srv.log()). Teardown sends SIGINT, then SIGKILL to the whole group.
"""
import http.client
import os
import shlex
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPS = Path(__file__).resolve().parent / 'apps'

# Query strings for the apps' /frames route (apps/frame_shapes.py): LOCALS,DEPTH. A first frame
# of a few slots, about the size of a request's small first frame chunk (1 KiB), well over it,
# over 16 KiB; and calls 20 and 60 levels deep. The python plugin starts a request's frames in
# a small chunk and CPython spills deeper ones into 16 KiB chunks (frame_chunk_cache.cc).
FRAME_SHAPES = ['1,0', '100,0', '120,0', '200,2', '3000,1', '40,20', '1,60']


def uwsgi_binary():
    """./uwsgi, or $UWSGI_BIN (e.g. build/core/out/uwsgi, with UWSGI_ARGS='--plugins python')."""
    return Path(os.environ.get('UWSGI_BIN', ROOT / 'uwsgi')).resolve()


def base_args():
    """Arguments every server gets first, from $UWSGI_ARGS (shell-quoted)."""
    return shlex.split(os.environ.get('UWSGI_ARGS', ''))


def app_path(name):
    return str(APPS / name)


_ports_given = set()


def free_port():
    """A loopback port nothing listens on, never one this test process was given before: two
    calls before either port is bound (an HTTP and a stats socket) could get the same one."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(('127.0.0.1', 0))
            port = s.getsockname()[1]
        if port not in _ports_given:
            _ports_given.add(port)
            return port
    raise RuntimeError('no fresh loopback port in 100 tries')


class Server:
    def __init__(self, proc, port, log_path):
        self.proc, self.port, self.log_path = proc, port, log_path

    def log(self):
        try:
            return Path(self.log_path).read_text(errors='replace')
        except OSError:
            return ''

    def wait_log(self, text, timeout=5.0):
        """Wait until text shows up in the log (logs are written asynchronously)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log():
                return True
            time.sleep(0.05)
        return text in self.log()

    def connection(self, timeout=10):
        return http.client.HTTPConnection('127.0.0.1', self.port, timeout=timeout)

    def request(self, method='GET', path='/', body=None, headers=None, timeout=10, **kw):
        """One request on a new connection: (status, headers dict with lower-case names, body)."""
        conn = self.connection(timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {}, **kw)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
        finally:
            conn.close()

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGINT)
                self.proc.wait(timeout=3)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # stragglers (workers) of the group
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


def start_uwsgi(args, port=None, http=True, wait=True, cwd=None, env=None, timeout=10.0, log_dir=None):
    """Start ./uwsgi with args (prefixed by --http-socket 127.0.0.1:PORT when http is true).

    wait: block until the port accepts connections (raises if the process dies or times out).
    Returns a Server; the caller must stop() it (the uwsgi_server fixture does).
    """
    binary = uwsgi_binary()
    if not binary.exists():
        pytest.skip(f'{binary} not built')
    port = port or free_port()
    cmd = [str(binary)] + base_args()
    if http:
        cmd += ['--http-socket', f'127.0.0.1:{port}']
    cmd += [str(a) for a in args]
    fd, log_path = tempfile.mkstemp(prefix='uwsgi-test-', suffix='.log', dir=log_dir)
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.Popen(cmd, stdout=fd, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            cwd=cwd or str(APPS), env=full_env, start_new_session=True)
    os.close(fd)
    srv = Server(proc, port, log_path)
    srv.cmd = cmd
    if wait:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                log = srv.log()
                srv.stop()
                raise RuntimeError(f'uwsgi exited with {proc.returncode}: {cmd}\n{log}')
            try:
                with socket.create_connection(('127.0.0.1', port), timeout=0.5):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                log = srv.log()
                srv.stop()
                raise RuntimeError(f'uwsgi did not listen on {port} within {timeout}s: {cmd}\n{log}')
            time.sleep(0.05)
    return srv


@pytest.fixture
def uwsgi_server(tmp_path):
    servers = []

    def start(*args, **kw):
        kw.setdefault('log_dir', str(tmp_path))
        srv = start_uwsgi(list(args), **kw)
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.stop()


@pytest.fixture(scope='module')
def app_server(tmp_path_factory):
    """One shared server running apps/app.py (sync, single process)."""
    srv = start_uwsgi(['--wsgi-file', app_path('app.py')], log_dir=str(tmp_path_factory.mktemp('log')))
    yield srv
    srv.stop()
