"""WebSockets (RFC 6455) on uWSGI's API and --wsgi-websocket, in every mode, over --http-socket
and behind nginx (uwsgi_pass, and proxy_pass to --http-socket). The client here is hand-made so
the tests can send frames no library would: unmasked, reserved bits, bad UTF-8, oversized, byte
by byte."""
import base64
import hashlib
import os
import socket
import struct
import time

import pytest

from conftest import app_path, free_port, start_uwsgi
from helpers_core import start_nginx

GUID = b'258EAFA5-E914-47DA-95CA-C5AB0DC85B11'
TEXT, BINARY, CLOSE, PING, PONG = 1, 2, 8, 9, 10

MODES = {
    'sync': [],
    'threads': ['--threads', '4'],
    'ugreen': ['--async', '10', '--ugreen'],
    'gevent': ['--plugins', 'gevent', '--gevent', '100'],
    # The other suspend and I/O engines.
    'fcontext-libuv': ['--plugins', 'fcontext,libuv', '--fcontext', '--io-engine', 'libuv', '--async', '10'],
    'greenlet-libev': ['--plugins', 'greenlet,libev', '--greenlet', '--io-engine', 'libev', '--async', '10'],
}
CONCURRENT = ['threads', 'ugreen', 'gevent', 'fcontext-libuv', 'greenlet-libev']


def frame(opcode, payload=b'', fin=True, mask=True, rsv=0):
    if isinstance(payload, str):
        payload = payload.encode()
    b0 = (0x80 if fin else 0) | rsv << 4 | opcode
    n = len(payload)
    m = 0x80 if mask else 0
    if n < 126:
        head = struct.pack('!BB', b0, m | n)
    elif n < 65536:
        head = struct.pack('!BBH', b0, m | 126, n)
    else:
        head = struct.pack('!BBQ', b0, m | 127, n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    masked = bytes(b ^ key[i & 3] for i, b in enumerate(payload)) if n < 4096 else _mask_big(payload, key)
    return head + key + masked


def _mask_big(payload, key):
    k = (key * (len(payload) // 4 + 1))[:len(payload)]
    return (int.from_bytes(payload, 'big') ^ int.from_bytes(k, 'big')).to_bytes(len(payload), 'big')


def close_payload(code, reason=b''):
    return struct.pack('!H', code) + reason


class WsClient:
    def __init__(self, port, path='/echo', timeout=10, origin=None, raw_head=False):
        self.s = socket.create_connection(('127.0.0.1', port), timeout=timeout)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b''
        key = base64.b64encode(os.urandom(16))
        hdr = (b'GET ' + path.encode() + b' HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n'
               b'Connection: Upgrade\r\nSec-WebSocket-Key: ' + key + b'\r\nSec-WebSocket-Version: 13\r\n')
        if origin:
            hdr += b'Origin: ' + origin.encode() + b'\r\n'
        self.s.sendall(hdr + b'\r\n')
        head = self._until(b'\r\n\r\n')
        self.head = head.decode('latin-1')
        assert head.startswith(b'HTTP/1.1 101'), head
        want = base64.b64encode(hashlib.sha1(key + GUID).digest()).decode()
        assert f'Sec-WebSocket-Accept: {want}' in self.head, self.head

    def _until(self, sep):
        while sep not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise EOFError(self.buf)
            self.buf += d
        i = self.buf.index(sep) + len(sep)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def _read(self, n):
        while len(self.buf) < n:
            d = self.s.recv(max(65536, n - len(self.buf)))
            if not d:
                raise EOFError(self.buf)
            self.buf += d
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def send(self, opcode, payload=b'', **kw):
        self.s.sendall(frame(opcode, payload, **kw))

    def send_bytewise(self, data):
        for i in range(len(data)):
            self.s.sendall(data[i:i + 1])
            if i % 7 == 0:
                time.sleep(0.001)

    def recv_frame(self):
        b0, b1 = self._read(2)
        assert not b1 & 0x80, 'server frames are not masked'
        n = b1 & 0x7F
        if n == 126:
            n, = struct.unpack('!H', self._read(2))
        elif n == 127:
            n, = struct.unpack('!Q', self._read(8))
        return bool(b0 & 0x80), b0 & 0x0F, self._read(n)

    def recv(self):
        """The next data message or close frame: (opcode, payload), pings answered."""
        while True:
            fin, op, data = self.recv_frame()
            if op == PING:
                self.send(PONG, data)
                continue
            assert fin
            return op, data

    def expect_close(self):
        op, data = self.recv()
        assert op == CLOSE, (op, data)
        code = struct.unpack('!H', data[:2])[0] if len(data) >= 2 else None
        return code, data[2:]

    def closed_by_server(self, timeout=5):
        """True when the server closes the TCP connection (after its close frame)."""
        self.s.settimeout(timeout)
        try:
            while True:
                if not self.s.recv(65536):
                    return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    def close(self):
        self.s.close()


@pytest.fixture(scope='module', params=list(MODES))
def mode_srv(request, tmp_path_factory):
    srv = start_uwsgi([*MODES[request.param], '--wsgi-file', app_path('ws_app.py'),
                       '--websocket-max-size', '256'], log_dir=str(tmp_path_factory.mktemp('log')))
    srv.mode = request.param
    yield srv
    srv.stop()


def test_echo_text_binary_and_200k(mode_srv):
    c = WsClient(mode_srv.port, '/echo')
    c.send(TEXT, 'héllo')
    assert c.recv() == (TEXT, 'héllo'.encode())
    c.send(TEXT, 'ctx?')
    assert c.recv() == (TEXT, b'True')
    c.close()
    c = WsClient(mode_srv.port, '/echo-bin')
    c.send(BINARY, b'\x00\x01\xff')
    assert c.recv() == (BINARY, b'\x00\x01\xff')
    big = os.urandom(200 * 1024)
    c.send(BINARY, big)
    assert c.recv() == (BINARY, big)
    c.send(CLOSE, close_payload(1000))
    assert c.expect_close() == (1000, b'')
    assert c.closed_by_server()
    assert mode_srv.wait_log('ws-end: unable to receive websocket message: websocket closed by the peer (code 1000)')


def test_fragments_with_ping_between(mode_srv):
    c = WsClient(mode_srv.port, '/echo')
    c.send(TEXT, 'Hel', fin=False)
    c.send(PING, 'p1')
    c.send(0, 'lo ', fin=False)
    c.send(0, 'world')
    fin, op, data = c.recv_frame()
    assert (op, data) == (PONG, b'p1')
    assert c.recv() == (TEXT, b'Hello world')
    c.close()


def test_server_closes_with_code(mode_srv):
    c = WsClient(mode_srv.port, '/echo')
    c.send(TEXT, 'close:4001')
    assert c.expect_close() == (4001, b'asked')
    c.send(CLOSE, close_payload(4001))
    assert c.closed_by_server()


@pytest.mark.parametrize('bad,code', [
    (frame(TEXT, 'x', mask=False), 1002),
    (frame(TEXT, 'x', rsv=4), 1002),
    (frame(TEXT, b'\xc3\x28'), 1007),
    (frame(BINARY, b'x' * (256 * 1024 + 1)), 1009),
    (frame(0, 'x'), 1002),
    (frame(PING, 'x', fin=False), 1002),
], ids=['unmasked', 'rsv', 'utf8', 'too-big', 'lone-continuation', 'fragmented-ping'])
def test_protocol_errors_get_their_close_code(mode_srv, bad, code):
    c = WsClient(mode_srv.port, '/echo')
    c.send(TEXT, 'fine')
    assert c.recv() == (TEXT, b'fine')
    try:
        c.s.sendall(bad)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server may close while the oversized frame is still going out
    assert c.expect_close()[0] == code
    assert c.closed_by_server()


def test_recv_nb(mode_srv):
    c = WsClient(mode_srv.port, '/nb')
    for i in range(3):
        c.send(TEXT, f'm{i}')
        assert c.recv() == (TEXT, f'nb:m{i}'.encode())
    c.send(CLOSE, close_payload(1001))
    assert c.expect_close()[0] == 1001
    c.close()


@pytest.mark.parametrize('mode_srv', CONCURRENT, indirect=True)  # modes serving several at once
def test_one_blocked_recv_does_not_stop_another(mode_srv):
    idle = WsClient(mode_srv.port, '/echo')  # its core waits in websocket_recv()
    busy = WsClient(mode_srv.port, '/echo-bin')
    for i in range(20):
        busy.send(BINARY, b'%d' % i)
        assert busy.recv() == (BINARY, b'%d' % i)
    idle.send(TEXT, 'still here')
    assert idle.recv() == (TEXT, b'still here')
    idle.close()
    busy.close()


def test_conformance_byte_by_byte(mode_srv):
    """Hand-made frames, one byte per send: a fragmented text message split inside a UTF-8
    character with a ping between, an empty message, a 16-bit length, then a close."""
    c = WsClient(mode_srv.port, '/echo')
    euro = '€'.encode()
    data = (frame(TEXT, b'a' + euro[:2], fin=False) + frame(PING, b'pp') + frame(0, euro[2:] + b'b') +
            frame(TEXT, b'') + frame(TEXT, b'y' * 300))
    c.send_bytewise(data)
    assert c.recv_frame()[1:] == (PONG, b'pp')
    assert c.recv() == (TEXT, 'a€b'.encode())
    assert c.recv() == (TEXT, b'')
    assert c.recv() == (TEXT, b'y' * 300)
    c.send_bytewise(frame(CLOSE, close_payload(1000, b'done')))
    assert c.expect_close()[0] == 1000
    c.close()
    c = WsClient(mode_srv.port, '/echo')
    try:  # refused at the first bad byte: the server may close before the last ones arrive
        c.send_bytewise(frame(TEXT, b'ok \xf4\x90\x80\x80'))  # past U+10FFFF
    except (BrokenPipeError, ConnectionResetError):
        pass
    assert c.expect_close()[0] == 1007
    c.close()


@pytest.mark.parametrize('mode_srv', ['gevent'], indirect=True)
def test_request_context_send_from_another_greenlet(mode_srv):
    c = WsClient(mode_srv.port, '/ctx')
    got = [c.recv() for _ in range(3)]  # sent by the other greenlet while this one waits
    assert got == [(TEXT, b'tick 0'), (TEXT, b'tick 1'), (TEXT, b'tick 2')]
    c.send(TEXT, 'hi')
    assert c.recv() == (TEXT, b'echo hi')
    c.close()


@pytest.mark.parametrize('mode', ['ugreen', 'gevent'])
def test_wsgi_websocket(uwsgi_server, mode):
    srv = uwsgi_server(*MODES[mode], '--wsgi-websocket', '--wsgi-file', app_path('ws_app.py'))
    c = WsClient(srv.port, '/wsgi')
    c.send(TEXT, 'txt')
    assert c.recv() == (TEXT, b'txt')
    c.send(BINARY, b'\x00bin')
    assert c.recv() == (BINARY, b'\x00bin')
    c.send(TEXT, 'close')
    assert c.expect_close() == (4000, b'done')
    c.send(CLOSE, close_payload(4000))
    assert c.closed_by_server()
    assert srv.wait_log('ws-end: receive() gave None, closed=True')
    # Not an upgrade: a plain request.
    assert srv.request('GET', '/plain')[2] == b'ok'


def test_ping_freq_and_pong_tolerance(uwsgi_server):
    srv = uwsgi_server('--async', '4', '--ugreen', '--wsgi-file', app_path('ws_app.py'),
                       '--websocket-ping-freq', '1', '--websocket-pong-tolerance', '1')
    c = WsClient(srv.port, '/echo')
    fin, op, data = c.recv_frame()  # within about a second
    assert op == PING
    c.send(PONG, data)  # answered: still open
    c.send(TEXT, 'alive')
    assert c.recv_frame()[1:] in ((TEXT, b'alive'), (PING, b''))
    # Now stop answering: dropped after the tolerance.
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline and not srv.wait_log('no PONG received in 1 seconds', 0.2):
        pass
    assert 'no PONG received in 1 seconds' in srv.log()
    c.close()


def test_nginx_uwsgi_pass(uwsgi_server, tmp_path):
    port = free_port()
    srv = uwsgi_server('--socket', f'127.0.0.1:{port}', *MODES['threads'], '--wsgi-file', app_path('ws_app.py'),
                       port=port, http=False)
    ng = start_nginx(tmp_path / 'nginx', srv.port)
    try:
        c = WsClient(ng.port, '/echo')
        c.send(TEXT, 'via nginx')
        assert c.recv() == (TEXT, b'via nginx')
        big = 'z' * (100 * 1024)
        c.send(TEXT, big)
        assert c.recv() == (TEXT, big.encode())
        c.send(TEXT, b'\xff')
        assert c.expect_close()[0] == 1007
        c.close()
    finally:
        ng.stop()


@pytest.mark.parametrize('mode', ['sync', 'gevent'])
def test_nginx_proxy_pass_upgrade(uwsgi_server, mode, tmp_path):
    """Behind nginx proxy_pass (HTTP/1.1, Upgrade and Connection headers passed on) to
    --http-socket: the upgrade goes through and frames pass both ways."""
    srv = uwsgi_server(*MODES[mode], '--wsgi-file', app_path('ws_app.py'))
    ng = start_nginx(tmp_path / 'nginx', srv.port)
    try:
        c = WsClient(ng.port, '/http/echo')
        c.send(TEXT, 'via proxy_pass')
        assert c.recv() == (TEXT, b'via proxy_pass')
        big = 'p' * (100 * 1024)
        c.send(TEXT, big)
        assert c.recv() == (TEXT, big.encode())
        c.send(PING, b'pp')
        assert c.recv_frame()[1:] == (PONG, b'pp')
        c.send(TEXT, 'close:4001')
        assert c.expect_close()[0] == 4001
        c.send(CLOSE, close_payload(4001))
        assert c.closed_by_server()
        assert srv.wait_log('ws-end:')
        # A plain request on the same location still works.
        h = socket.create_connection(('127.0.0.1', ng.port), timeout=10)
        h.sendall(b'GET /http/plain HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
        resp = b''
        while True:
            d = h.recv(65536)
            if not d:
                break
            resp += d
        h.close()
        assert resp.startswith(b'HTTP/1.1 200') and resp.endswith(b'ok'), resp
    finally:
        ng.stop()


def test_flask_socketio_chat_room(uwsgi_server):
    """Flask-SocketIO with async_mode='gevent_uwsgi' (engineio drives uWSGI's websocket API with
    request_context=); python-socketio clients on the websocket transport; a message said in a
    room reaches its members only."""
    socketio = pytest.importorskip('socketio')
    pytest.importorskip('flask_socketio')
    import queue
    import threading
    srv = uwsgi_server(*MODES['gevent'], '--wsgi-file', app_path('socketio_chat.py'), '--callable', 'app')

    def client(room):
        sio = socketio.Client()
        got, joined = queue.Queue(), threading.Event()
        sio.on('said', got.put)
        sio.on('joined', lambda d: joined.set())
        sio.connect(f'http://127.0.0.1:{srv.port}', transports=['websocket'], wait_timeout=5)
        assert sio.transport() == 'websocket'
        sio.emit('join', {'room': room})
        assert joined.wait(5)
        return sio, got

    clients = []
    try:
        a, got_a = client('r1')
        clients.append(a)
        b, got_b = client('r1')
        clients.append(b)
        c, got_c = client('r2')
        clients.append(c)
        a.emit('say', {'room': 'r1', 'who': 'a', 'text': 'hi'})
        assert got_a.get(timeout=5) == {'who': 'a', 'text': 'hi'}
        assert got_b.get(timeout=5) == {'who': 'a', 'text': 'hi'}
        b.emit('say', {'room': 'r1', 'who': 'b', 'text': 'yo'})
        assert got_a.get(timeout=5) == {'who': 'b', 'text': 'yo'}
        with pytest.raises(queue.Empty):
            got_c.get(timeout=0.5)
    finally:
        for s in clients:
            s.disconnect()
    assert srv.wait_log('GET /socket.io/?transport=websocket')


@pytest.mark.parametrize('opt,value', [('--websocket-max-size', '0'), ('--websocket-ping-freq', 'x'),
                                       ('--websockets-pong-tolerance', '0')])
def test_bad_websocket_option_stops_start_up(opt, value, tmp_path):
    with pytest.raises(RuntimeError) as e:
        start_uwsgi([opt, value, '--wsgi-file', app_path('ws_app.py')], log_dir=str(tmp_path))
    assert opt.replace('websockets', 'websocket') in str(e.value)


@pytest.mark.parametrize('mode', ['sync', 'gevent'])
def test_through_the_http_router(uwsgi_server, mode):
    """The issue's form: --http --http-websockets with the uwsgi websocket API in the workers."""
    port = free_port()
    srv = uwsgi_server('--http', f'127.0.0.1:{port}', '--http-websockets', *MODES[mode],
                       '--wsgi-file', app_path('ws_app.py'), port=port, http=False)
    clients = [WsClient(srv.port, '/echo') for _ in range(2 if mode == 'gevent' else 1)]
    for i, c in enumerate(clients):
        c.send(TEXT, f'via router {i}')
        assert c.recv() == (TEXT, f'via router {i}'.encode())
        c.send(TEXT, 'x' * 70000)  # larger than one read on either side
        assert c.recv() == (TEXT, b'x' * 70000)
    for c in clients:
        c.send(CLOSE, close_payload(1000))
        assert c.expect_close()[0] == 1000
        c.close()


@pytest.mark.parametrize('mode', ['ugreen', 'fcontext-libuv', 'greenlet-libev'])
def test_send_from_another_core_keeps_the_recv_waiting(uwsgi_server, mode):
    """Under --async a core blocked in websocket_recv() and another core sending on the same
    websocket (request_context=) blocked on write wait on one fd: the send's wait must not
    replace the recv's read interest (the recv would never wake again)."""
    srv = uwsgi_server(*MODES[mode], '--wsgi-file', app_path('ws_app.py'))
    c = WsClient(srv.port, '/hold', timeout=5)
    c.send(TEXT, 'first')
    assert c.recv() == (TEXT, b'first')  # the holder now waits in websocket_recv()
    n = 200  # 12.5 MiB: more than the socket buffers, so the sender blocks on write
    h = socket.create_connection(('127.0.0.1', srv.port), timeout=10)
    h.sendall(f'GET /blast?{n} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'.encode())
    time.sleep(0.5)  # the sender is now waiting for the client to read
    for _ in range(n):
        assert c.recv() == (BINARY, b'b' * 65536)
    resp = b''
    while True:
        d = h.recv(65536)
        if not d:
            break
        resp += d
    h.close()
    assert resp.endswith(b'sent %d' % n), resp[-200:]
    c.send(TEXT, 'after')
    assert c.recv() == (TEXT, b'after')  # timed out (hang) before the fix
    c.close()
