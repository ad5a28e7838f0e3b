"""Helpers for the core's integration tests: raw HTTP and uwsgi-protocol clients, nginx."""
import http.client
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import time
from pathlib import Path

import pytest

from conftest import free_port


# ---- raw HTTP ------------------------------------------------------------------------------

def connect(port, timeout=10):
    return socket.create_connection(('127.0.0.1', port), timeout=timeout)


def http_get(port, path, timeout=10):
    """One GET with http.client on a new connection: (status, body as text)."""
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=timeout)
    try:
        conn.request('GET', path)
        r = conn.getresponse()
        return r.status, r.read().decode()
    finally:
        conn.close()


class Response:
    def __init__(self, status, reason, headers, body, version):
        self.status, self.reason, self.headers, self.body, self.version = status, reason, headers, body, version
        self.chunks = []  # decoded chunk payloads when the body was chunked

    def header(self, name, default=None):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return default

    def json(self):
        return json.loads(self.body)


class HttpReader:
    """Reads HTTP/1.x responses one by one from a socket, keeping leftover bytes."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b''
        self.eof = False

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            self.eof = True
            raise EOFError('connection closed')
        self.buf += data

    def _line(self):
        while b'\r\n' not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b'\r\n', 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_response(self, head=False):
        while True:
            status_line = self._line()
            version, code, *reason = status_line.decode('latin-1').split(' ', 2)
            headers = []
            while True:
                line = self._line()
                if not line:
                    break
                k, v = line.decode('latin-1').split(':', 1)
                headers.append((k.strip(), v.strip()))
            if int(code) != 100:
                break
        resp = Response(int(code), reason[0] if reason else '', headers, b'', version)
        status = int(code)
        te = (resp.header('Transfer-Encoding') or '').lower()
        cl = resp.header('Content-Length')
        if head or status in (204, 304) or 100 <= status < 200:
            return resp
        if te == 'chunked':
            body = b''
            while True:
                size = int(self._line().split(b';')[0], 16)
                if size == 0:
                    while self._line():  # trailers
                        pass
                    break
                piece = self._exact(size)
                resp.chunks.append(piece)
                body += piece
                assert self._exact(2) == b'\r\n'
            resp.body = body
        elif cl is not None:
            resp.body = self._exact(int(cl))
        else:  # delimited by close
            try:
                while True:
                    self._fill()
            except EOFError:
                pass
            resp.body, self.buf = self.buf, b''
        return resp

    def closed(self, timeout=3.0):
        """True when the peer closes (EOF or reset) within timeout with nothing more to read."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False
        if data:
            self.buf += data
            return False
        return True


def new_log(srv, offset, text, timeout=5.0):
    """The server log past offset, once text appears in it (or timeout seconds pass)."""
    deadline = time.monotonic() + timeout
    while True:
        part = srv.log()[offset:]
        if text in part or time.monotonic() > deadline:
            return part
        time.sleep(0.05)


def request_bytes(method='GET', path='/', headers=None, body=b'', version='HTTP/1.1'):
    lines = [f'{method} {path} {version}', 'Host: localhost']
    for k, v in (headers or {}).items():
        lines.append(f'{k}: {v}')
    if body and not any(k.lower() in ('content-length', 'transfer-encoding') for k in (headers or {})):
        lines.append(f'Content-Length: {len(body)}')
    return ('\r\n'.join(lines) + '\r\n\r\n').encode('latin-1') + body


def exchange(port, data, head=False, timeout=10):
    """Send raw bytes on a new connection and read one response."""
    with connect(port, timeout) as s:
        s.sendall(data)
        return HttpReader(s).read_response(head=head)


def send_and_collect(port, data, timeout=5.0, shut=False):
    """Send raw bytes, then read everything until the server closes (or timeout).

    Returns (bytes received, closed_by_server)."""
    with connect(port, timeout) as s:
        try:
            s.sendall(data)
            if shut:
                s.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            return b'', True
        out = b''
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                d = s.recv(65536)
            except ConnectionResetError:
                return out, True
            except socket.timeout:
                return out, False
            if not d:
                return out, True
            out += d
        return out, False


def assert_serving(port, path='/alive'):
    """The worker is still alive: a fresh request succeeds."""
    r = exchange(port, request_bytes('GET', path))
    assert r.status == 200, r.status
    return r


# ---- uwsgi protocol ------------------------------------------------------------------------

def uwsgi_vars(pairs):
    out = b''
    for k, v in pairs.items() if isinstance(pairs, dict) else pairs:
        k = k.encode('latin-1') if isinstance(k, str) else k
        v = v.encode('latin-1') if isinstance(v, str) else v
        out += struct.pack('<H', len(k)) + k + struct.pack('<H', len(v)) + v
    return out


def uwsgi_packet(pairs, modifier1=0, modifier2=0):
    body = uwsgi_vars(pairs)
    return struct.pack('<BHB', modifier1, len(body), modifier2) + body


def cgi_vars(method='GET', path='/', query='', body=b'', extra=None, port=80):
    v = {
        'REQUEST_METHOD': method, 'REQUEST_URI': path + ('?' + query if query else ''),
        'PATH_INFO': path, 'QUERY_STRING': query, 'SERVER_NAME': 'localhost', 'SERVER_PORT': str(port),
        'SERVER_PROTOCOL': 'HTTP/1.1', 'REMOTE_ADDR': '127.0.0.1', 'REMOTE_PORT': '5555',
        'HTTP_HOST': 'localhost',
    }
    if body:
        v['CONTENT_LENGTH'] = str(len(body))
    v.update(extra or {})
    return v


# ---- nginx ---------------------------------------------------------------------------------

NGINX = '/usr/sbin/nginx'

NGINX_CONF = """
worker_processes 1;
daemon off;
master_process off;
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
    client_max_body_size 64m;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            include {params};
            uwsgi_pass 127.0.0.1:{upstream};
        }}
        location /stream {{
            include {params};
            uwsgi_buffering off;
            uwsgi_pass 127.0.0.1:{upstream};
        }}
        # An upstream on --http-socket instead: /http/X is proxied as /X, websocket upgrades too.
        location /http/ {{
            proxy_pass http://127.0.0.1:{upstream}/;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_set_header Host $host;
        }}
    }}
}}
"""

UWSGI_PARAMS = """
uwsgi_param QUERY_STRING $query_string;
uwsgi_param REQUEST_METHOD $request_method;
uwsgi_param CONTENT_TYPE $content_type;
uwsgi_param CONTENT_LENGTH $content_length;
uwsgi_param REQUEST_URI $request_uri;
uwsgi_param PATH_INFO $document_uri;
uwsgi_param DOCUMENT_ROOT $document_root;
uwsgi_param SERVER_PROTOCOL $server_protocol;
uwsgi_param REQUEST_SCHEME $scheme;
uwsgi_param HTTPS $https if_not_empty;
uwsgi_param REMOTE_ADDR $remote_addr;
uwsgi_param REMOTE_PORT $remote_port;
uwsgi_param SERVER_PORT $server_port;
uwsgi_param SERVER_NAME $server_name;
"""


class Nginx:
    def __init__(self, proc, port, dir):
        self.proc, self.port, self.dir = proc, port, Path(dir)

    def error_log(self):
        try:
            return (self.dir / 'error.log').read_text(errors='replace')
        except OSError:
            return ''

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=3)


def start_nginx(tmp_dir, upstream_port):
    if not os.path.exists(NGINX):
        pytest.skip('nginx not installed')
    d = Path(tmp_dir)
    d.mkdir(parents=True, exist_ok=True)
    params = '/etc/nginx/uwsgi_params'
    if not os.path.exists(params):
        params = str(d / 'uwsgi_params')
        Path(params).write_text(UWSGI_PARAMS)
    port = free_port()
    user = 'user root;' if os.geteuid() == 0 else ''
    conf = d / 'nginx.conf'
    conf.write_text(NGINX_CONF.format(dir=d, port=port, upstream=upstream_port, params=params, user=user))
    proc = subprocess.Popen([NGINX, '-c', str(conf), '-p', str(d), '-e', str(d / 'error.log')],
                            stdout=subprocess.DEVNULL, stderr=open(d / 'stderr.log', 'wb'),
                            stdin=subprocess.DEVNULL, start_new_session=True)
    ng = Nginx(proc, port, d)
    deadline = time.monotonic() + 10
    while True:
        if proc.poll() is not None:
            raise RuntimeError('nginx exited: ' + ng.error_log() + (d / 'stderr.log').read_text(errors='replace'))
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=0.5):
                break
        except OSError:
            pass
        if time.monotonic() > deadline:
            ng.stop()
            raise RuntimeError('nginx did not listen: ' + ng.error_log())
        time.sleep(0.05)
    return ng


def pids_alive(pids):
    alive = []
    for p in pids:
        try:
            os.kill(p, 0)
        except ProcessLookupError:
            continue
        # A zombie is dead for our purposes.
        try:
            state = Path(f'/proc/{p}/stat').read_text().split(')')[-1].split()[0]
        except OSError:
            continue
        if state != 'Z':
            alive.append(p)
    return alive


def children_of(pid):
    try:
        out = Path(f'/proc/{pid}/task/{pid}/children').read_text().split()
        return [int(x) for x in out]
    except OSError:
        return []


def wait_for(pred, timeout=15.0, interval=0.05):
    """Poll pred() until it is true or timeout seconds pass; returns its last answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(interval)
    return pred()


def file_lines(path):
    """The lines of a file a server process appends to ([] while it does not exist)."""
    try:
        return Path(path).read_text().splitlines()
    except FileNotFoundError:
        return []


def pids_in(path):
    """The pids a test daemon or task wrote to a file, one per line ([] while none)."""
    try:
        return [int(x) for x in Path(path).read_text().split()]
    except (OSError, ValueError):
        return []


def get_json(srv, path):
    """GET path from a started server; asserts 200 and returns the decoded JSON body."""
    status, _, body = srv.request('GET', path)
    assert status == 200, (status, body, srv.log()[-2000:])
    return json.loads(body)


def get_result(srv, path):
    """get_json() of a test app answering {'r': result} or {'error': text}: the result."""
    out = get_json(srv, path)
    assert 'error' not in out, out
    return out['r']
