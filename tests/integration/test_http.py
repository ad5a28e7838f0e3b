"""HTTP/1.1 framing of the core's --http-socket: keep-alive, pipelining, chunking, bad input."""
import hashlib
import os
import socket
import time

import pytest

from conftest import app_path, start_uwsgi
from helpers_core import (HttpReader, assert_serving, connect, exchange, request_bytes,
                          send_and_collect)


@pytest.fixture(scope='module')
def srv(tmp_path_factory):
    s = start_uwsgi(['--wsgi-file', app_path('core_app.py')], log_dir=str(tmp_path_factory.mktemp('log')))
    yield s
    s.stop()


def new_log(srv, offset, text, timeout=5.0):
    """Wait until text appears in the log after offset; returns the new part."""
    deadline = time.monotonic() + timeout
    while True:
        part = srv.log()[offset:].lower()
        if text.lower() in part or time.monotonic() > deadline:
            return part
        time.sleep(0.05)


# ---- framing -------------------------------------------------------------------------------

def test_keep_alive_serves_several_requests_on_one_connection(srv):
    with connect(srv.port) as s:
        r = HttpReader(s)
        for i in range(5):
            s.sendall(request_bytes('GET', f'/k{i}'))
            resp = r.read_response()
            assert resp.status == 200
            assert resp.body == f'Hello /k{i}'.encode()
            assert (resp.header('Connection') or '').lower() != 'close'
        assert not r.closed(timeout=0.3)


def test_pipelined_requests_get_responses_in_order(srv):
    with connect(srv.port) as s:
        s.sendall(request_bytes('GET', '/one') + request_bytes('POST', '/echo', body=b'xyz') +
                  request_bytes('GET', '/three'))
        r = HttpReader(s)
        a, b, c = r.read_response(), r.read_response(), r.read_response()
    assert a.body == b'Hello /one'
    assert b.json()['len'] == 3 and b.json()['sha1'] == hashlib.sha1(b'xyz').hexdigest()
    assert c.body == b'Hello /three'


def test_http10_response_is_not_chunked_and_connection_closes(srv):
    with connect(srv.port) as s:
        s.sendall(b'GET /stream?2 HTTP/1.0\r\n\r\n')
        r = HttpReader(s)
        resp = r.read_response()
        assert resp.status == 200
        assert resp.header('Transfer-Encoding') is None
        assert resp.body == b'piece0;piece1;'
        assert r.eof or r.closed()


def test_http10_single_body(srv):
    with connect(srv.port) as s:
        s.sendall(b'GET /single HTTP/1.0\r\n\r\n')
        r = HttpReader(s)
        resp = r.read_response()
        assert resp.body == b'one single chunk'
        assert resp.header('Transfer-Encoding') is None
        assert r.eof or r.closed()


def test_streaming_response_is_chunked_and_incremental(srv):
    with connect(srv.port) as s:
        t0 = time.monotonic()
        s.sendall(request_bytes('GET', '/stream', ) .replace(b'/stream', b'/stream?4'))
        r = HttpReader(s)
        # Read by hand to time each chunk.
        status = r._line()
        assert b' 200 ' in status + b' '
        headers = {}
        while True:
            line = r._line()
            if not line:
                break
            k, v = line.decode().split(':', 1)
            headers[k.strip().lower()] = v.strip()
        assert headers.get('transfer-encoding') == 'chunked'
        assert 'content-length' not in headers
        arrivals, pieces = [], []
        while True:
            size = int(r._line(), 16)
            if size == 0:
                assert r._line() == b''
                break
            pieces.append(r._exact(size))
            arrivals.append(time.monotonic() - t0)
            assert r._exact(2) == b'\r\n'
    assert b''.join(pieces) == b'piece0;piece1;piece2;piece3;'
    # The app sleeps 0.3 s after each piece: the first must arrive long before the last.
    assert arrivals[-1] - arrivals[0] > 0.4, arrivals


def test_single_chunk_response_gets_content_length(srv):
    resp = exchange(srv.port, request_bytes('GET', '/single'))
    assert resp.header('Content-Length') == str(len(b'one single chunk'))
    assert resp.header('Transfer-Encoding') is None
    assert resp.body == b'one single chunk'


def test_head_has_no_body(srv):
    with connect(srv.port) as s:
        s.sendall(request_bytes('HEAD', '/single') + request_bytes('GET', '/after'))
        r = HttpReader(s)
        h = r.read_response(head=True)
        assert h.status == 200
        g = r.read_response()  # would be garbage if HEAD had leaked a body
        assert g.status == 200 and g.body == b'Hello /after'


def test_head_of_streaming_response_has_no_body(srv):
    with connect(srv.port) as s:
        s.sendall(request_bytes('HEAD', '/stream?2') + request_bytes('GET', '/after'))
        r = HttpReader(s)
        h = r.read_response(head=True)
        assert h.status == 200
        assert h.header('Transfer-Encoding') is None
        g = r.read_response()
        assert g.body == b'Hello /after'


@pytest.mark.parametrize('code', [204, 304])
def test_bodyless_statuses(srv, code):
    with connect(srv.port) as s:
        s.sendall(request_bytes('GET', f'/status/{code}') + request_bytes('GET', '/after'))
        r = HttpReader(s)
        resp = r.read_response()
        assert resp.status == code
        assert resp.header('Transfer-Encoding') is None
        if code == 204:
            assert resp.header('Content-Length') in (None, '0')
        g = r.read_response()
        assert g.status == 200 and g.body == b'Hello /after', g.body


def test_expect_100_continue(srv):
    body = b'hello body'
    with connect(srv.port) as s:
        s.sendall(request_bytes('POST', '/echo', headers={'Expect': '100-continue',
                                                           'Content-Length': str(len(body))}))
        s.settimeout(5)
        got = b''
        while b'\r\n\r\n' not in got:
            d = s.recv(4096)
            assert d, 'closed before 100 Continue'
            got += d
        assert got.startswith(b'HTTP/1.1 100 Continue\r\n\r\n'), got
        s.sendall(body)
        r = HttpReader(s)
        r.buf = got[len(b'HTTP/1.1 100 Continue\r\n\r\n'):]
        resp = r.read_response()
    assert resp.status == 200
    assert resp.json()['len'] == len(body)


def test_expect_100_continue_body_never_read_closes_promptly(srv):
    # The app answers without reading: no 100 was sent, so the client will not send the body.
    # The server must not wait (until --socket-timeout) for a body that is not coming.
    with connect(srv.port) as s:
        s.sendall(request_bytes('POST', '/noread', headers={'Expect': '100-continue', 'Content-Length': '100000'}))
        r = HttpReader(s)
        t0 = time.monotonic()
        resp = r.read_response()
        assert resp.status == 200 and resp.body == b'Hello /noread'
        assert (resp.header('Connection') or '').lower() == 'close'
        assert r.eof or r.closed(timeout=2)
        assert time.monotonic() - t0 < 1.5
    assert_serving(srv.port)


def test_large_upload_arrives_intact(srv):
    data = os.urandom(8 * 1024 * 1024)
    status, headers, body = srv.request('POST', '/echo', body=data, timeout=30)
    assert status == 200
    import json
    j = json.loads(body)
    assert j['len'] == len(data)
    assert j['sha1'] == hashlib.sha1(data).hexdigest()


def test_chunked_upload_arrives_intact(srv):
    data = os.urandom(300_000)
    enc, i, sizes = b'', 0, [1, 7, 4096, 65536, 100_000]
    while i < len(data):
        n = sizes[len(enc) % len(sizes)]
        piece = data[i:i + n]
        enc += b'%x;ext=1\r\n' % len(piece) + piece + b'\r\n'
        i += n
    enc += b'0\r\nX-Trailer: yes\r\n\r\n'
    log_at = len(srv.log())
    with connect(srv.port) as s:
        s.sendall(request_bytes('POST', '/echo', headers={'Transfer-Encoding': 'chunked'}))
        # Sent in pieces, with pauses, so the decoder must resume mid-chunk.
        for k in range(0, len(enc), 50_000):
            s.sendall(enc[k:k + 50_000])
            time.sleep(0.01)
        r = HttpReader(s)
        resp = r.read_response()
        s.sendall(request_bytes('GET', '/after'))
        after = r.read_response()
    assert resp.status == 200
    assert resp.json()['len'] == len(data)
    assert resp.json()['sha1'] == hashlib.sha1(data).hexdigest()
    assert after.body == b'Hello /after'
    # The body refills the input buffer the head was parsed from: the request line must survive.
    assert 'post /echo =>' in new_log(srv, log_at, 'POST /echo =>')


def test_large_heads_grow_the_input_buffer(srv):
    # The input buffer starts small; heads up to --buffer-size (4096) still fit, also pipelined
    # behind a small request and split across reads.
    big = request_bytes('GET', '/big', headers={'X-Big': 'b' * 3500})
    with connect(srv.port) as s:
        r = HttpReader(s)
        s.sendall(request_bytes('GET', '/small') + big[:300])
        assert r.read_response().body == b'Hello /small'
        time.sleep(0.05)
        s.sendall(big[300:] + big)
        assert r.read_response().body == b'Hello /big'
        assert r.read_response().body == b'Hello /big'
        s.sendall(request_bytes('GET', '/again'))
        assert r.read_response().body == b'Hello /again'


def test_unread_body_is_skipped_for_keep_alive(srv):
    with connect(srv.port) as s:
        s.sendall(request_bytes('POST', '/ignored', body=b'z' * 5000) + request_bytes('GET', '/next'))
        r = HttpReader(s)
        assert r.read_response().body == b'Hello /ignored'
        assert r.read_response().body == b'Hello /next'


# ---- bad input: a 4xx or a closed connection, a log line, and the worker lives on ------------

BAD_HEAD = 'GET / HTTP/1.1\r\nHost: x\r\n'
BAD = {
    'garbage': (b'\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n', (400,), 'bad request'),
    'oversize_head': ((BAD_HEAD + 'X-Big: ' + 'a' * 8000 + '\r\n\r\n').encode(), (431,), 'bad request'),
    'negative_content_length': ((BAD_HEAD + 'Content-Length: -5\r\n\r\n').encode(), (400,), 'Content-Length'),
    'conflicting_content_lengths': ((BAD_HEAD + 'Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!').encode(),
                                    (400,), 'Content-Length'),
    'content_length_and_chunked': ((BAD_HEAD + 'Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n'
                                    '5\r\nhello\r\n0\r\n\r\n').encode(), (400,), 'Transfer-Encoding'),
    'transfer_encoding_gzip': ((BAD_HEAD + 'Transfer-Encoding: gzip\r\n\r\n').encode(), (501,), 'Transfer-Encoding'),
    'nul_in_path': (b'GET /a\x00b HTTP/1.1\r\nHost: x\r\n\r\n', (400,), 'bad request'),
    'bad_version': (b'GET / HTTP/9.9\r\nHost: x\r\n\r\n', (400, 505), 'bad request'),
    'space_in_header_name': ((BAD_HEAD + 'Bad Header: 1\r\n\r\n').encode(), (400,), 'bad request'),
}


@pytest.mark.parametrize('name', sorted(BAD))
def test_bad_request_heads(srv, name):
    data, statuses, log_text = BAD[name]
    offset = len(srv.log())
    out, closed = send_and_collect(srv.port, data)
    assert closed, f'{name}: connection left open'
    if out:
        status = int(out.split(b' ', 2)[1])
        assert status in statuses, out[:200]
    assert log_text.lower() in new_log(srv, offset, log_text), srv.log()[offset:]
    assert_serving(srv.port)


@pytest.mark.parametrize('chunked', [
    b'zz\r\nabc\r\n0\r\n\r\n',               # not hex
    b'-5\r\nabc\r\n0\r\n\r\n',               # negative
    b'ffffffffffffffffffff\r\nabc\r\n',      # overflow
    b'3\r\nabcXY0\r\n\r\n',                  # missing CRLF after data
])
def test_malformed_chunk_sizes(srv, chunked):
    offset = len(srv.log())
    out, closed = send_and_collect(
        srv.port, request_bytes('POST', '/echo', headers={'Transfer-Encoding': 'chunked'}) + chunked)
    assert closed
    if out:
        status = int(out.split(b' ', 2)[1])
        assert 400 <= status < 600, out[:200]
        assert status != 200
    assert 'chunk' in new_log(srv, offset, 'chunk'), srv.log()[offset:]
    assert_serving(srv.port)


def test_truncated_head_then_close(srv):
    offset = len(srv.log())
    out, closed = send_and_collect(srv.port, b'GET /x HTTP/1.1\r\nHost: loc', shut=True)
    assert closed and out == b''
    assert 'request head' in new_log(srv, offset, 'request head')
    assert_serving(srv.port)


def test_truncated_body_then_close(srv):
    offset = len(srv.log())
    out, closed = send_and_collect(
        srv.port, request_bytes('POST', '/echo', headers={'Content-Length': '100'}) + b'only ten b', shut=True)
    assert closed
    assert b'200 OK' not in out
    part = new_log(srv, offset, 'body bytes missing')
    assert 'body bytes missing' in part or 'closed' in part, part
    assert_serving(srv.port)


def test_limit_post(uwsgi_server):
    s = uwsgi_server('--wsgi-file', app_path('core_app.py'), '--limit-post', '1000')
    ok = exchange(s.port, request_bytes('POST', '/echo', body=b'a' * 1000))
    assert ok.status == 200 and ok.json()['len'] == 1000
    out, closed = send_and_collect(s.port, request_bytes('POST', '/echo', body=b'a' * 2000))
    assert out.startswith(b'HTTP/1.1 413'), out[:100]
    assert closed
    assert s.wait_log('limit-post')
    assert_serving(s.port)


def test_socket_timeout_closes_a_stalled_client(uwsgi_server):
    s = uwsgi_server('--wsgi-file', app_path('core_app.py'), '--socket-timeout', '1')
    with connect(s.port) as c:
        c.sendall(b'GET /slow HTTP/1.1\r\nHo')
        t0 = time.monotonic()
        r = HttpReader(c)
        assert r.closed(timeout=5), 'server kept a stalled client'
        elapsed = time.monotonic() - t0
    assert 0.7 < elapsed < 3.5, elapsed
    assert s.wait_log('timeout')
    assert_serving(s.port)


# Sync (one thread, and --threads), async (fcontext) and gevent: the loops that each time out
# idle connections themselves.
loop_modes = pytest.mark.parametrize('mode', [[], ['--threads', '3'], ['--plugins', 'fcontext', '--fcontext', '--async', '4'],
                                              ['--plugins', 'gevent', '--gevent', '4']],
                                     ids=['sync', 'threads', 'async', 'gevent'])


@loop_modes
def test_idle_keep_alive_connection_is_closed_after_socket_timeout(uwsgi_server, mode):
    s = uwsgi_server('--wsgi-file', app_path('core_app.py'), '--socket-timeout', '1', *mode)
    with connect(s.port) as c:
        c.sendall(request_bytes('GET', '/idle'))
        r = HttpReader(c)
        assert r.read_response().status == 200
        assert r.closed(timeout=3), 'idle keep-alive connection still open 3 s after a 1 s --socket-timeout'


@loop_modes
def test_keep_alive_connection_in_use_outlives_socket_timeout(uwsgi_server, mode):
    # Idle time counts from the last request: a connection that keeps asking stays open.
    s = uwsgi_server('--wsgi-file', app_path('core_app.py'), '--socket-timeout', '1', *mode)
    with connect(s.port) as c:
        r = HttpReader(c)
        for i in range(8):
            c.sendall(request_bytes('GET', f'/busy{i}'))
            assert r.read_response().body == f'Hello /busy{i}'.encode()
            time.sleep(0.4)
