"""Clients that trickle a request head (slowloris) or vanish mid-request, in every loop mode.

- A request head has a deadline of --socket-timeout from the connection's accept (or from the
  end of the previous response), not an idle timeout that each byte resets.
- Under async cores and gevent, connections whose head is incomplete wait outside the cores, so
  they cannot starve normal requests.
- A peer that closes while its head or body is being read is noticed at once: its fd is closed.
"""
import os
import socket
import struct
import threading
import time

import pytest

from conftest import ROOT, app_path
from helpers_core import connect, exchange, request_bytes

APP = app_path('core_app.py')


def has_plugin(name):
    return (ROOT / f'{name}_plugin.so').exists()


def needs(*plugins):
    missing = [p for p in plugins if not has_plugin(p)]
    return pytest.mark.skipif(bool(missing), reason=f'plugins not built: {missing}')


SYNC = pytest.param([], id='sync')
THREADS = pytest.param(['--threads', '2'], id='threads')
UGREEN = pytest.param(['--plugins', 'ugreen', '--ugreen', '--async', '10'], id='ugreen', marks=needs('ugreen'))
UGREEN_LIBEV = pytest.param(['--plugins', 'ugreen,libev', '--ugreen', '--async', '10', '--io-engine', 'libev'],
                            id='ugreen-libev', marks=needs('ugreen', 'libev'))
UGREEN_LIBUV = pytest.param(['--plugins', 'ugreen,libuv', '--ugreen', '--async', '10', '--io-engine', 'libuv'],
                            id='ugreen-libuv', marks=needs('ugreen', 'libuv'))
GEVENT = pytest.param(['--plugins', 'gevent', '--gevent', '10'], id='gevent', marks=needs('gevent'))

# A head that does not complete in the time a test trickles it.
LONG_HEAD = b'GET /trickle HTTP/1.1\r\nHost: localhost\r\nX-Padding: ' + b'p' * 200


def fd_count(pid):
    return len(os.listdir(f'/proc/{pid}/fd'))


def settled_fds(srv):
    """The worker's fd count once the start-up probe's connection is gone."""
    assert exchange(srv.port, request_bytes('GET', '/ready')).status == 200
    time.sleep(0.3)
    return fd_count(srv.proc.pid)


def wait_fds(pid, at_most, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if fd_count(pid) <= at_most:
            return fd_count(pid)
        time.sleep(0.05)
    return fd_count(pid)


def closed_by_server(sock, timeout):
    """True when the server closes sock (EOF or reset) within timeout."""
    sock.settimeout(timeout)
    try:
        return sock.recv(100) == b''
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def reset_close(sock):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    sock.close()


# ---- the head deadline ---------------------------------------------------------------------------

def trickle_until_closed(c, limit_s=6):
    """Send LONG_HEAD a byte every 0.5 s; True once the server closes, False after limit_s."""
    t0 = time.monotonic()
    for b in LONG_HEAD:
        try:
            c.sendall(bytes([b]))
        except (BrokenPipeError, ConnectionResetError):
            return True
        if closed_by_server(c, 0.5):
            return True
        if time.monotonic() - t0 > limit_s:
            return False
    return False


@pytest.mark.parametrize('mode', [SYNC, THREADS, UGREEN, GEVENT])
def test_a_trickled_head_is_closed_at_socket_timeout(uwsgi_server, mode):
    # One byte every 0.5 s keeps an idle timeout from ever firing; the head deadline does not
    # care how the bytes come.
    srv = uwsgi_server('--wsgi-file', APP, '--socket-timeout', '2', *mode)
    with connect(srv.port) as c:
        t0 = time.monotonic()
        closed = trickle_until_closed(c)
        elapsed = time.monotonic() - t0
    assert closed, 'a head trickled at 2 bytes/s was still open 6 s after accept (--socket-timeout 2)'
    assert 1.5 < elapsed < 4.5, elapsed
    assert srv.wait_log('did not complete within --socket-timeout'), srv.log()
    assert exchange(srv.port, request_bytes('GET', '/after')).status == 200


@pytest.mark.parametrize('mode', [SYNC, UGREEN, GEVENT])
def test_keep_alive_next_head_has_the_deadline_too(uwsgi_server, mode):
    srv = uwsgi_server('--wsgi-file', APP, '--socket-timeout', '2', *mode)
    with connect(srv.port) as c:
        c.sendall(request_bytes('GET', '/first'))
        c.settimeout(5)
        assert c.recv(4096).startswith(b'HTTP/1.1 200')
        closed = trickle_until_closed(c)
    assert closed, 'the next head of a keep-alive connection, trickled, was not bounded by --socket-timeout'


# ---- slowloris does not take the cores -----------------------------------------------------------

@needs('gevent')
def test_slowloris_does_not_starve_gevent(uwsgi_server):
    srv = uwsgi_server('--wsgi-file', APP, '--plugins', 'gevent', '--gevent', '10', '--socket-timeout', '20',
                       '--listen', '256')
    socks = []
    stop = threading.Event()

    def trickle():
        i = 5
        while not stop.wait(0.5) and i < len(LONG_HEAD):
            for s in socks:
                try:
                    s.send(LONG_HEAD[i:i + 1])
                except OSError:
                    pass
            i += 1
    late = None
    try:
        for _ in range(50):
            s = socket.create_connection(('127.0.0.1', srv.port))
            s.sendall(LONG_HEAD[:5])
            socks.append(s)
        t = threading.Thread(target=trickle, daemon=True)
        t.start()
        late = socket.create_connection(('127.0.0.1', srv.port))
        late.sendall(LONG_HEAD)
        time.sleep(0.5)
        for i in range(5):
            r = exchange(srv.port, request_bytes('GET', f'/normal{i}'), timeout=3)
            assert r.status == 200
        # completing a stalled head gets it served
        late.sendall(b'\r\n\r\n')
        late.settimeout(5)
        assert late.recv(100).startswith(b'HTTP/1.1 200')
    finally:
        stop.set()
        for s in socks + ([late] if late else []):
            s.close()


# ---- a peer that leaves is noticed at once -------------------------------------------------------

@pytest.mark.parametrize('mode', [GEVENT, UGREEN, UGREEN_LIBEV, UGREEN_LIBUV, THREADS])
def test_a_client_that_leaves_mid_body_frees_its_fd(uwsgi_server, mode):
    srv = uwsgi_server('--wsgi-file', APP, '--socket-timeout', '30', *mode)
    base = settled_fds(srv)
    socks = []
    for i in range(8):
        s = connect(srv.port)
        s.sendall(b'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n' + b'b' * 1000)
        socks.append(s)
    time.sleep(0.3)
    for i, s in enumerate(socks):
        reset_close(s) if i % 2 else s.close()
    assert wait_fds(srv.proc.pid, base, 2.0) <= base, 'fds of vanished uploads still open'
    assert exchange(srv.port, request_bytes('GET', '/after')).status == 200


@pytest.mark.parametrize('mode', [GEVENT, UGREEN, UGREEN_LIBEV, UGREEN_LIBUV])
def test_a_client_that_leaves_mid_head_frees_its_fd(uwsgi_server, mode):
    # More half heads than a quarter of the cores: some wait outside the cores (the peek set),
    # where a peer's close must be noticed too, not at the head deadline.
    srv = uwsgi_server('--wsgi-file', APP, '--socket-timeout', '30', *mode)
    base = settled_fds(srv)
    socks = []
    for i in range(20):
        s = connect(srv.port)
        s.sendall(b'GET /half HTTP/1.1\r\nHost: x\r\n')
        socks.append(s)
    time.sleep(0.3)
    for i, s in enumerate(socks):
        reset_close(s) if i % 2 else s.close()
    assert wait_fds(srv.proc.pid, base, 2.0) <= base, 'fds of abandoned heads still open'
    assert srv.wait_log('in the middle of a request head')
    assert exchange(srv.port, request_bytes('GET', '/after')).status == 200


@needs('gevent')
def test_gevent_keep_alive_on_a_reused_fd_number_is_woken(uwsgi_server):
    # A connection closes and a new one gets its fd number within one loop iteration (here: both
    # events arrive while /sleep blocks the hub), then the new one goes idle. A watcher kept from
    # the old socket never fired for the new one: its next request hung until --socket-timeout,
    # and when its client gave up the socket sat in CLOSE_WAIT (issue 21, item 3).
    srv = uwsgi_server('--wsgi-file', APP, '--plugins', 'gevent', '--gevent', '10', '--socket-timeout', '30')
    settled_fds(srv)  # the worker is up and idle: the timing below is the loop's, not start-up's
    for i in range(4):
        a = connect(srv.port)
        a.sendall(request_bytes('GET', '/first'))
        assert a.recv(4096).startswith(b'HTTP/1.1 200')
        time.sleep(0.05)  # a is parked (its fd gets a read watcher)
        a.sendall(b'POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 5\r\n\r\n')
        time.sleep(0.05)  # a's greenlet waits for the body
        blocker = connect(srv.port)
        blocker.sendall(b'GET /sleep?0.3 HTTP/1.0\r\nHost: x\r\n\r\n')  # time.sleep: blocks the hub
        time.sleep(0.1)
        a.sendall(b'hello')  # a is answered and closed ...
        b = connect(srv.port)  # ... and b is accepted in the same loop iteration, on a's fd number
        try:
            b.sendall(request_bytes('GET', '/b1'))
            b.settimeout(5)
            assert b.recv(4096).startswith(b'HTTP/1.1 200')
            time.sleep(0.05)  # b is parked
            b.sendall(request_bytes('GET', '/b2'))
            b.settimeout(3)
            try:
                assert b.recv(4096).startswith(b'HTTP/1.1 200')
            except socket.timeout:
                pytest.fail(f'round {i}: the second request of a keep-alive connection was never read')
        finally:
            for s in (a, blocker, b):
                s.close()
