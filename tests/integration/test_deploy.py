"""docs/deploy.md, for real: nginx balancing with uwsgi_pass across two instances (one on a unix
socket, one on TCP with a master), streaming with uwsgi_buffering off, and fail-over when one
instance is stopped with SIGINT."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import free_port, start_uwsgi
from helpers_core import http_get

NGINX = '/usr/sbin/nginx'

# Each instance says who it is (MARKER from --env) and which process served.
APP = '''
import os, time
def application(env, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    if env['PATH_INFO'] == '/stream':
        def gen():
            yield b'first\\n'
            time.sleep(0.8)
            yield b'second\\n'
        return gen()
    return [('%s %d %s' % (os.environ['MARKER'], os.getpid(), env['REQUEST_URI'])).encode()]
'''

# The shape docs/deploy.md recommends, with every path in the test's directory.
NGINX_CONF = '''
worker_processes 1;
daemon off;
{user}
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    upstream app {{
        server unix:{sock};
        server 127.0.0.1:{tcp};
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            include {params};
            uwsgi_pass app;
            uwsgi_next_upstream error timeout;
            uwsgi_connect_timeout 2s;
        }}
        location /stream {{
            include {params};
            uwsgi_pass app;
            uwsgi_buffering off;
        }}
    }}
}}
'''


def wait_for(connect, what, proc, log, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        try:
            connect().close()
            return
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f'{what} did not start:\n{log()}')
        time.sleep(0.05)


@pytest.fixture
def short_dir():
    # unix socket paths are limited to 108 bytes: keep them short.
    d = tempfile.mkdtemp(prefix='deploy-', dir='/tmp')
    yield Path(d)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def nginx_and_two_instances(short_dir):
    if not os.path.exists(NGINX):
        pytest.skip('nginx not installed')
    d = short_dir
    (d / 'app.py').write_text(APP)
    sock = d / 'a.sock'
    tcp = free_port()
    servers = []
    try:
        a = start_uwsgi(['--socket', str(sock), '--chmod-socket', '--vacuum', '--wsgi-file', 'app.py',
                         '--env', 'MARKER=unix'], http=False, wait=False, cwd=str(d), log_dir=str(d))
        servers.append(a)

        def unix_conn():
            s = socket.socket(socket.AF_UNIX)
            try:
                s.connect(str(sock))
            except OSError:
                s.close()
                raise
            return s
        wait_for(unix_conn, 'uwsgi on the unix socket', a.proc, a.log)
        b = start_uwsgi(['--socket', f'127.0.0.1:{tcp}', '--master', '--processes', '2', '--wsgi-file', 'app.py',
                         '--env', 'MARKER=tcp'], port=tcp, http=False, cwd=str(d), log_dir=str(d))
        servers.append(b)

        params = '/etc/nginx/uwsgi_params'
        assert os.path.exists(params), 'Debian nginx ships uwsgi_params'
        port = free_port()
        conf = d / 'nginx.conf'
        conf.write_text(NGINX_CONF.format(dir=d, sock=sock, tcp=tcp, port=port, params=params,
                                          user='user root;' if os.geteuid() == 0 else ''))
        ng = subprocess.Popen([NGINX, '-c', str(conf), '-p', str(d), '-e', str(d / 'error.log')],
                              stdout=subprocess.DEVNULL, stderr=open(d / 'nginx.out', 'wb'),
                              stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            nginx_log = lambda: (d / 'nginx.out').read_text() + (d / 'error.log').read_text() \
                if (d / 'error.log').exists() else (d / 'nginx.out').read_text()
            wait_for(lambda: socket.create_connection(('127.0.0.1', port), timeout=1), 'nginx', ng, nginx_log)
            yield port, a, b, d
        finally:
            ng.send_signal(signal.SIGQUIT)
            try:
                ng.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(ng.pid, signal.SIGKILL)
                ng.wait()
    finally:
        for s in servers:
            s.stop()


def test_nginx_balances_and_fails_over(nginx_and_two_instances):
    port, unix_srv, tcp_srv, d = nginx_and_two_instances
    seen = set()
    for i in range(8):
        status, body = http_get(port, f'/hello?n={i}')
        assert status == 200, body
        marker, pid, uri = body.split(' ')
        assert uri == f'/hello?n={i}'
        seen.add(marker)
    assert seen == {'unix', 'tcp'}, seen  # round robin reached both instances

    # Stop the TCP instance (master and workers) the way systemd's KillSignal=SIGINT does.
    os.killpg(tcp_srv.proc.pid, signal.SIGINT)
    tcp_srv.proc.wait(timeout=10)
    for i in range(12):
        status, body = http_get(port, f'/after?n={i}')
        assert status == 200, (i, body, (d / 'error.log').read_text())
        assert body.startswith('unix '), body  # nginx retried the survivor (uwsgi_next_upstream)


def test_streaming_through_nginx_without_buffering(nginx_and_two_instances):
    port = nginx_and_two_instances[0]
    s = socket.create_connection(('127.0.0.1', port), timeout=10)
    try:
        s.sendall(b'GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
        t0 = time.monotonic()
        data = b''
        while b'first' not in data:
            chunk = s.recv(4096)
            assert chunk, data
            data += chunk
        first_at = time.monotonic() - t0
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        total = time.monotonic() - t0
    finally:
        s.close()
    assert b'second' in data, data
    assert first_at < 0.6 < total, (first_at, total)  # the first chunk did not wait for the second
