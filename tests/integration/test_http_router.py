"""The HTTP router (--http): a process of its own in front of the workers, speaking HTTP/1.1 to
clients and the uwsgi protocol to the workers (core/router/)."""
import hashlib
import http.client
import json
import os
import signal
import socket
import ssl
import struct
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import app_path, free_port, start_uwsgi
from helpers_core import connect, new_log, request_bytes

APP = app_path('router_app.py')


def router(uwsgi_server, *args, port=None):
    port = port or free_port()
    return uwsgi_server('--http', f'127.0.0.1:{port}', *args, port=port, http=False)


_leftover = {}  # socket -> bytes read past the previous response (pipelining)


def read_response(sock, timeout=10):
    """One response (Content-Length, chunked or close-delimited): (status, headers, body)."""
    sock.settimeout(timeout)
    buf = _leftover.pop(sock, b'')
    while b'\r\n\r\n' not in buf:
        d = sock.recv(65536)
        assert d, buf
        buf += d
    head, rest = buf.split(b'\r\n\r\n', 1)
    lines = head.decode('latin-1').split('\r\n')
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, v = line.split(':', 1)
        headers[k.strip().lower()] = v.strip()
    if 'content-length' in headers:
        n = int(headers['content-length'])
        while len(rest) < n:
            d = sock.recv(65536)
            assert d
            rest += d
        _leftover[sock] = rest[n:]
        return status, headers, rest[:n]
    if headers.get('transfer-encoding') == 'chunked':
        body = b''
        while True:
            while b'\r\n' not in rest:
                rest += sock.recv(65536)
            size_line, rest = rest.split(b'\r\n', 1)
            size = int(size_line, 16)
            while len(rest) < size + 2:
                rest += sock.recv(65536)
            body += rest[:size]
            rest = rest[size + 2:]
            if size == 0:
                _leftover[sock] = rest[2:]
                return status, headers, body
    while True:
        d = sock.recv(65536)
        if not d:
            return status, headers, rest
        rest += d


def get(port, path='/', timeout=10):
    with connect(port, timeout) as s:
        s.sendall(request_bytes('GET', path, headers={'Connection': 'close'}))
        return read_response(s, timeout)


@pytest.mark.parametrize('mode', ['sync', 'threads', 'ugreen', 'gevent'])
def test_hello_world_through_the_router(uwsgi_server, mode):
    extra = {'sync': [], 'threads': ['--threads', '4'], 'ugreen': ['--async', '4', '--ugreen'],
             'gevent': ['--plugins', 'gevent', '--gevent', '10']}[mode]
    if mode == 'gevent' and subprocess.run(['/usr/bin/python3', '-c', 'import gevent']).returncode != 0:
        pytest.skip('gevent is not installed')
    srv = router(uwsgi_server, '--wsgi-file', APP, *extra)
    status, headers, body = get(srv.port)
    assert (status, body) == (200, b'Hello World!'), srv.log()
    assert srv.wait_log('spawned HTTP router 1')


def test_keep_alive_serves_several_requests_on_one_connection(uwsgi_server):
    srv = router(uwsgi_server, '--wsgi-file', APP)
    with connect(srv.port) as s:
        for i in range(5):
            s.sendall(request_bytes('GET', f'/env?{i}'))
            status, headers, body = read_response(s)
            assert status == 200 and 'connection' not in headers
            assert json.loads(body)['REQUEST_URI'] == f'/env?{i}'
        # pipelined: two requests in one write, two answers in order
        s.sendall(request_bytes('GET', '/env?a') + request_bytes('GET', '/env?b'))
        assert json.loads(read_response(s)[2])['REQUEST_URI'] == '/env?a'
        assert json.loads(read_response(s)[2])['REQUEST_URI'] == '/env?b'


def test_environ_carries_the_client_address_and_http_var(uwsgi_server):
    srv = router(uwsgi_server, '--wsgi-file', APP, '--http-var', 'ROUTER_VAR=yes')
    with connect(srv.port) as s:
        s.sendall(request_bytes('GET', '/env', headers={'X-Test': 'v'}))
        local_port = s.getsockname()[1]
        env = json.loads(read_response(s)[2])
    assert env['REMOTE_ADDR'] == '127.0.0.1' and env['REMOTE_PORT'] == str(local_port)
    assert env['SERVER_PORT'] == str(srv.port) and env['HTTP_X_TEST'] == 'v' and env['ROUTER_VAR'] == 'yes'


def test_chunked_upload_reaches_the_app_with_a_content_length(uwsgi_server):
    srv = router(uwsgi_server, '--wsgi-file', APP)
    chunks = [b'hello ', b'chunked ', b'world' * 1000]
    body = b''.join(b'%x\r\n%s\r\n' % (len(c), c) for c in chunks) + b'0\r\n\r\n'
    with connect(srv.port) as s:
        s.sendall(request_bytes('POST', '/echo', headers={'Transfer-Encoding': 'chunked'}) + body)
        status, headers, got = read_response(s)
    assert status == 200 and got == b''.join(chunks)
    assert headers['x-content-length'] == str(len(got))


def test_request_log_names_the_client_not_the_router(uwsgi_server):
    """The worker's request log line takes the address from the packet's REMOTE_ADDR (as uWSGI),
    not from its peer, the router (a unix socket: '-')."""
    srv = router(uwsgi_server, '--wsgi-file', APP)
    with connect(srv.port) as s:
        s.sendall(request_bytes('GET', '/pid'))
        assert read_response(s)[0] == 200
    assert srv.wait_log('127.0.0.1 {'), srv.log()


def test_chunked_upload_keeps_its_transfer_encoding_and_werkzeug_reads_it(uwsgi_server):
    """The app sees Transfer-Encoding as the client sent it (as with --http-socket), and Werkzeug,
    which then ignores CONTENT_LENGTH, still reads the de-chunked body (wsgi.input_terminated)."""
    srv = router(uwsgi_server, '--wsgi-file', APP)
    with connect(srv.port) as s:
        s.sendall(request_bytes('POST', '/env', headers={'Transfer-Encoding': 'chunked'}) + b'3\r\nabc\r\n0\r\n\r\n')
        env = json.loads(read_response(s)[2])
    assert env['HTTP_TRANSFER_ENCODING'] == 'chunked' and env['CONTENT_LENGTH'] == '3'
    srv2 = router(uwsgi_server, '--wsgi-file', app_path('flask_upload.py'), '--callable', 'app')
    with connect(srv2.port) as s:
        s.sendall(request_bytes('POST', '/upload', headers={'Transfer-Encoding': 'chunked'})
                  + b'5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n')
        status, _, got = read_response(s)
    assert status == 200 and got == b'11:hello world'


def test_one_mib_up_and_down(uwsgi_server):
    srv = router(uwsgi_server, '--wsgi-file', APP)
    data = os.urandom(1 << 20)
    with connect(srv.port) as s:
        s.sendall(request_bytes('POST', '/echo', body=data))
        status, headers, got = read_response(s)
        assert status == 200 and headers['x-sha256'] == hashlib.sha256(data).hexdigest() and got == data
        s.sendall(request_bytes('GET', f'/big?{1 << 20}'))
        status, headers, got = read_response(s)
    block = bytes(range(256)) * 256
    assert status == 200 and got == (block * 16)[:1 << 20]


def test_expect_100_continue_is_answered_by_the_router(uwsgi_server):
    srv = router(uwsgi_server, '--wsgi-file', APP)
    with connect(srv.port) as s:
        s.sendall(request_bytes('POST', '/echo', headers={'Expect': '100-continue', 'Content-Length': '5'}))
        s.settimeout(5)
        assert s.recv(100).startswith(b'HTTP/1.1 100 Continue\r\n\r\n')
        s.sendall(b'abcde')
        assert read_response(s)[2] == b'abcde'


@pytest.mark.parametrize('slow', ['head', 'body'])
def test_a_slow_client_does_not_hold_the_only_sync_worker(uwsgi_server, slow):
    srv = router(uwsgi_server, '--wsgi-file', APP, '--processes', '1')
    with connect(srv.port) as slow_sock:
        if slow == 'head':
            slow_sock.sendall(b'POST /echo HTTP/1.1\r\nHost: x\r\n')
        else:
            slow_sock.sendall(request_bytes('POST', '/echo', headers={'Content-Length': '10'}) + b'abc')
        time.sleep(0.3)
        t0 = time.monotonic()
        assert get(srv.port, '/', timeout=5)[2] == b'Hello World!'
        assert time.monotonic() - t0 < 4
        # the slow one completes normally
        if slow == 'head':
            slow_sock.sendall(b'Content-Length: 3\r\n\r\nxyz')
            assert read_response(slow_sock)[2] == b'xyz'
        else:
            slow_sock.sendall(b'defghij')
            assert read_response(slow_sock)[2] == b'abcdefghij'


def test_malformed_request_gets_400_and_a_log_line(uwsgi_server):
    srv = router(uwsgi_server, '--wsgi-file', APP)
    with connect(srv.port) as s:
        s.sendall(b'GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n')
        status, headers, _ = read_response(s)
    assert status == 400 and headers['connection'] == 'close'
    assert srv.wait_log('router: bad request from 127.0.0.1'), srv.log()
    # the answered connection is gone: a stop does not wait for it
    os.kill(srv.proc.pid, signal.SIGINT)
    srv.proc.wait(timeout=3)
    assert srv.wait_log('goodbye to uWSGI'), srv.log()


def test_worker_crash_gives_502_and_the_next_request_is_served(uwsgi_server):
    srv = router(uwsgi_server, '--wsgi-file', APP, '--processes', '1')
    status, _, _ = get(srv.port, '/crash')
    assert status == 502
    assert srv.wait_log('without answering GET /crash (502)')
    deadline = time.monotonic() + 10
    while True:
        status, _, body = get(srv.port, '/')
        if status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert (status, body) == (200, b'Hello World!'), srv.log()


def test_response_without_length_closes_or_is_chunked(uwsgi_server):
    srv = router(uwsgi_server, '--wsgi-file', APP)
    with connect(srv.port) as s:
        s.sendall(request_bytes('GET', '/nolen'))
        status, headers, body = read_response(s)
        assert body == b'no length' and headers['connection'] == 'close'
    srv2 = router(uwsgi_server, '--wsgi-file', APP, '--http-auto-chunked')
    with connect(srv2.port) as s:
        for _ in range(2):
            s.sendall(request_bytes('GET', '/nolen'))
            status, headers, body = read_response(s)
            assert body == b'no length' and headers['transfer-encoding'] == 'chunked' and 'connection' not in headers


def test_proxy_protocol_line_sets_remote_addr(uwsgi_server):
    srv = router(uwsgi_server, '--wsgi-file', APP, '--http-enable-proxy-protocol')
    with connect(srv.port) as s:
        s.sendall(b'PROXY TCP4 203.0.113.7 127.0.0.1 4711 80\r\n' + request_bytes('GET', '/env'))
        env = json.loads(read_response(s)[2])
    assert env['REMOTE_ADDR'] == '203.0.113.7' and env['REMOTE_PORT'] == '4711'
    # The line is optional, as in uWSGI: a plain client (here sending byte by byte, so the
    # router sees "P", "PO"... before it can tell) is served with its own address.
    with connect(srv.port) as s:
        for b in request_bytes('POST', '/env', body=b'x'):
            s.sendall(bytes([b]))
        env = json.loads(read_response(s)[2])
    assert env['REMOTE_ADDR'] == '127.0.0.1'


def test_unix_router_socket(uwsgi_server, tmp_path):
    path = str(tmp_path / 'r.sock')
    srv = uwsgi_server('--http', path, '--wsgi-file', APP, '--http-socket', f'127.0.0.1:{free_port()}',
                       http=False, wait=False)
    deadline = time.monotonic() + 10
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.05)
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10)
        s.connect(path)
        s.sendall(request_bytes('GET', '/'))
        assert read_response(s)[2] == b'Hello World!'


def fake_uwsgi_backend(handler):
    """A one-thread uwsgi server: reads a packet, then handler(sock, vars)."""
    lsock = socket.socket()
    lsock.bind(('127.0.0.1', 0))
    lsock.listen(16)

    def serve():
        while True:
            try:
                c, _ = lsock.accept()
            except OSError:
                return
            with c:
                c.settimeout(10)
                hdr = b''
                while len(hdr) < 4:
                    hdr += c.recv(4 - len(hdr))
                _, size, _ = struct.unpack('<BHB', hdr)
                data = b''
                while len(data) < size:
                    data += c.recv(size - len(data))
                env, i = {}, 0
                while i < len(data):
                    kl = struct.unpack('<H', data[i:i + 2])[0]
                    k = data[i + 2:i + 2 + kl].decode()
                    i += 2 + kl
                    vl = struct.unpack('<H', data[i:i + 2])[0]
                    env[k] = data[i + 2:i + 2 + vl].decode()
                    i += 2 + vl
                try:
                    handler(c, env)
                except OSError:
                    pass

    threading.Thread(target=serve, daemon=True).start()
    return lsock


def test_websocket_upgrade_is_tunnelled_both_ways(uwsgi_server):
    def ws(c, env):
        assert env['HTTP_UPGRADE'] == 'websocket'
        c.sendall(b'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n')
        while True:
            d = c.recv(65536)
            if not d:
                return
            c.sendall(d)

    backend = fake_uwsgi_backend(ws)
    try:
        srv = router(uwsgi_server, '--http-websockets', '--http-to', f'127.0.0.1:{backend.getsockname()[1]}',
                     '--socket', f'127.0.0.1:{free_port()}', '--wsgi-file', APP)
        with connect(srv.port) as s:
            s.sendall(request_bytes('GET', '/ws', headers={
                'Upgrade': 'websocket', 'Connection': 'Upgrade', 'Sec-WebSocket-Version': '13',
                'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ=='}))
            s.settimeout(10)
            buf = b''
            while b'\r\n\r\n' not in buf:
                buf += s.recv(4096)
            assert buf.startswith(b'HTTP/1.1 101')
            # a masked text frame "hi", then 100 KiB of raw bytes: all come back as sent
            frame = bytes([0x81, 0x82, 1, 2, 3, 4, ord('h') ^ 1, ord('i') ^ 2])
            payload = frame + os.urandom(100 * 1024)
            s.sendall(payload)
            got = buf.split(b'\r\n\r\n', 1)[1]
            while len(got) < len(payload):
                d = s.recv(65536)
                assert d
                got += d
            assert got == payload
    finally:
        backend.close()


def test_http_to_round_robin_skips_a_dead_backend(uwsgi_server):
    a, b = free_port(), free_port()
    be_a = uwsgi_server('--socket', f'127.0.0.1:{a}', '--wsgi-file', APP, port=a, http=False)
    be_b = uwsgi_server('--socket', f'127.0.0.1:{b}', '--wsgi-file', APP, port=b, http=False)
    srv = router(uwsgi_server, '--http-to', f'127.0.0.1:{a}', '--http-to', f'127.0.0.1:{b}',
                 '--socket', f'127.0.0.1:{free_port()}', '--wsgi-file', APP)
    pids = {get(srv.port, '/pid')[2] for _ in range(4)}
    assert len(pids) == 2, pids
    be_a.stop()
    for _ in range(4):
        status, _, body = get(srv.port, '/pid')
        assert status == 200
    assert srv.wait_log('(trying the next one)')


def test_sighup_under_load_loses_nothing_and_keeps_the_router(uwsgi_server):
    srv = router(uwsgi_server, '--wsgi-file', APP, '--master', '--processes', '2')
    assert get(srv.port)[0] == 200
    errors, done = [], []

    def client():
        for _ in range(40):
            try:
                st, _, body = get(srv.port, '/slow', timeout=20)
                if st != 200 or body != b'Hello World!':
                    errors.append(st)
                else:
                    done.append(1)
            except OSError as e:
                errors.append(repr(e))

    threads = [threading.Thread(target=client) for _ in range(8)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    os.kill(srv.proc.pid, signal.SIGHUP)
    for t in threads:
        t.join(60)
    assert not errors, (errors[:5], srv.log()[-3000:])
    assert len(done) == 320
    assert srv.wait_log('kept across the reload', timeout=10), srv.log()
    assert get(srv.port)[0] == 200


def test_router_options_without_a_router_warn(uwsgi_server):
    srv = uwsgi_server('--wsgi-file', APP, '--http-timeout', '3')
    assert srv.wait_log('--http-timeout has no effect')


def self_signed(tmp_path):
    cert, key = tmp_path / 'cert.pem', tmp_path / 'key.pem'
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', str(key), '-out',
                    str(cert), '-days', '1', '-subj', '/CN=localhost'], check=True, capture_output=True)
    return str(cert), str(key)


def test_https_with_a_self_signed_certificate(uwsgi_server, tmp_path):
    cert, key = self_signed(tmp_path)
    plain, tls = free_port(), free_port()
    srv = uwsgi_server('--https', f'127.0.0.1:{tls},{cert},{key}', '--http', f'127.0.0.1:{plain}',
                       '--http-to-https', '--wsgi-file', APP, port=tls, http=False)
    ctx = ssl.create_default_context(cafile=cert)
    ctx.check_hostname = False
    with ctx.wrap_socket(connect(tls), server_hostname='localhost') as s:
        for _ in range(2):  # keep-alive over TLS
            s.sendall(request_bytes('GET', '/env'))
            status, _, body = read_response(s)
            env = json.loads(body)
            assert status == 200 and env['HTTPS'] == 'on' and env['wsgi.url_scheme'] == 'https', env
        data = os.urandom(300 * 1024)
        s.sendall(request_bytes('POST', '/echo', body=data))
        assert read_response(s)[2] == data
    status, headers, _ = get(plain, '/x?y=1')
    assert status == 301 and headers['location'] == f'https://localhost:{tls}/x?y=1'
    # a client that is not speaking TLS costs nothing but its connection
    with connect(tls) as s:
        s.sendall(request_bytes('GET', '/'))
        s.settimeout(5)
        try:
            s.recv(100)
        except ConnectionResetError:
            pass
    with ctx.wrap_socket(connect(tls), server_hostname='localhost') as s:
        s.sendall(request_bytes('GET', '/'))
        assert read_response(s)[2] == b'Hello World!'


def test_https_with_a_missing_key_stops_start_up(tmp_path):
    cert, key = self_signed(tmp_path)
    r = subprocess.run([str(Path(__file__).resolve().parents[2] / 'uwsgi'), '--https',
                        f'127.0.0.1:{free_port()},{cert},{tmp_path}/nokey.pem', '--wsgi-file', APP],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode != 0 and 'cannot load key' in r.stdout + r.stderr, r.stdout + r.stderr


def test_http_timeout_answers_504_when_the_worker_is_silent(uwsgi_server):
    srv = router(uwsgi_server, '--wsgi-file', APP, '--http-timeout', '1')
    t0 = time.monotonic()
    status, _, _ = get(srv.port, '/sleep?4')
    assert status == 504 and time.monotonic() - t0 < 3.5
    assert srv.wait_log('no answer from the worker for GET /sleep?4 within 1 s: 504')


def test_http_keepalive_0_closes_after_each_response(uwsgi_server):
    srv = router(uwsgi_server, '--wsgi-file', APP, '--http-keepalive=0')
    with connect(srv.port) as s:
        s.sendall(request_bytes('GET', '/'))
        status, headers, body = read_response(s)
        assert headers['connection'] == 'close' and s.recv(10) == b''


def test_http_raw_body_streams_the_body(uwsgi_server):
    srv = router(uwsgi_server, '--wsgi-file', APP, '--http-raw-body')
    data = os.urandom(200 * 1024)
    with connect(srv.port) as s:
        s.sendall(request_bytes('POST', '/echo', body=data))
        status, headers, got = read_response(s)
    assert status == 200 and got == data


def test_router_processes_and_respawn(uwsgi_server):
    srv = router(uwsgi_server, '--wsgi-file', APP, '--http-processes', '2')
    assert srv.wait_log('spawned HTTP router 2')
    pid = int(srv.log().split('spawned HTTP router 1 (pid ')[1].split(')')[0])
    os.kill(pid, signal.SIGKILL)
    assert srv.wait_log(f'HTTP router 1 (pid {pid}) killed by signal 9'), srv.log()
    for _ in range(6):
        assert get(srv.port)[2] == b'Hello World!'


def test_http_stats_serves_the_router_counters(uwsgi_server):
    stats = free_port()
    srv = router(uwsgi_server, '--wsgi-file', APP, '--http-stats', f'127.0.0.1:{stats}')
    assert get(srv.port)[0] == 200
    with connect(stats) as s:
        data = b''
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
    doc = json.loads(data)
    assert doc['requests'] >= 1 and doc['sockets'] == [f'127.0.0.1:{srv.port}'] and doc['tx'] > 0, doc


def test_requests_wait_for_a_busy_worker_instead_of_failing(uwsgi_server):
    # --listen 2: the workers' unix socket queue is full at once; the rest wait in the router
    srv = router(uwsgi_server, '--wsgi-file', APP, '--processes', '1', '--listen', '2')
    results = []

    def client():
        try:
            results.append(get(srv.port, '/sleep?0.1', timeout=30)[0])
        except OSError as e:
            results.append(repr(e))

    threads = [threading.Thread(target=client) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == [200] * 12, (results, srv.log()[-2000:])


def test_an_h2c_upgrade_offer_is_served_as_a_plain_request(uwsgi_server):
    srv = router(uwsgi_server, '--wsgi-file', APP)
    with connect(srv.port) as s:
        for _ in range(2):  # still kept alive: it was no tunnel
            s.sendall(request_bytes('GET', '/', headers={'Upgrade': 'h2c', 'Connection': 'Upgrade, HTTP2-Settings',
                                                          'HTTP2-Settings': 'AAMAAABkAAQAAP__'}))
            status, headers, body = read_response(s)
            assert (status, body) == (200, b'Hello World!') and 'connection' not in headers
