"""Request framing by RFC 9112 over the wire (issue 21: items 4, 6, 7, 8, 9), in every loop mode.

The parsers' byte-level rules are unit-tested (tests/unit/http_parse_test.cc,
chunked_decoder_test.cc); here each rule is checked end to end: what the client gets back, that
the connection is closed, that the app never sees a smuggled byte, and that the worker lives on.
"""
import socket
import struct
import threading
import time

import pytest

from conftest import app_path
from helpers_core import (HttpReader, new_log, assert_serving, connect, exchange, request_bytes, send_and_collect,
                          cgi_vars, uwsgi_packet)

MODES = {
    'sync': [],
    'threads': ['--threads', '2'],
    'ugreen': ['--plugins', 'ugreen', '--async', '10', '--ugreen'],
    'gevent': ['--plugins', 'gevent', '--gevent', '10'],
}


@pytest.fixture(params=sorted(MODES))
def mode_args(request):
    return MODES[request.param]


def status_of(out):
    assert out.startswith(b'HTTP/1.1 '), out[:80]
    return int(out.split(b' ', 2)[1])


# ---- item 4: a bare CR in the head ------------------------------------------------------------

SMUGGLE = {
    # Before: served with CONTENT_LENGTH=5 (the X of XContent-Length eaten), "hello" as the body.
    'content_length': b'POST /echo HTTP/1.1\r\nHost: a\r\nX:\rXContent-Length: 5\r\n\r\nhello',
    # Before: chunking turned on; "0\r\n\r\n" read as the body.
    'transfer_encoding': b'POST /echo HTTP/1.1\r\nHost: a\r\nX:\rTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    'value': b'GET /env HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n',
    'line_end': b'GET /env HTTP/1.1\r\nHost: a\r\r\n\r\n',
}


@pytest.mark.parametrize('name', sorted(SMUGGLE))
def test_bare_cr_in_the_head_is_400_and_closed(uwsgi_server, mode_args, name):
    srv = uwsgi_server(*mode_args, '--wsgi-file', app_path('core_app.py'))
    out, closed = send_and_collect(srv.port, SMUGGLE[name])
    assert status_of(out) == 400, out
    assert b'200 OK' not in out
    assert closed
    assert_serving(srv.port)


# ---- item 7: any token method --------------------------------------------------------------

@pytest.mark.parametrize('method', ['QUERY', 'FOO', 'BREW', '-BLARGH'])
def test_any_token_method_reaches_the_app(uwsgi_server, method):
    srv = uwsgi_server('--wsgi-file', app_path('core_app.py'))
    r = exchange(srv.port, request_bytes(method, '/env'))
    assert r.status == 200
    assert r.json()['REQUEST_METHOD'] == method


# ---- item 8: the rest of RFC 9112's request rules -------------------------------------------

BAD_8 = {
    'chunk_size_space': b'POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n',
    'last_chunk_space': b'POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0 \r\n\r\n',
    'chunk_semicolon': b'POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2;\r\naa\r\n0\r\n\r\n',
    'chunk_tab': b'POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\t\r\naa\r\n0\r\n\r\n',
    'unbalanced_quote': (b'POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n'
                         b'5;a="b\r\nhello\r\n0\r\n\r\n'),
    'trailer_request_line': (b'POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n'
                             b'5\r\nhello\r\n0\r\nGET /smuggled HTTP/1.1\r\n\r\n'),
    'asterisk_get': b'GET * HTTP/1.1\r\nHost: a\r\n\r\n',
    'form_feed_value': b'GET /env HTTP/1.1\r\nHost: a\r\nHeader1: \x0c\r\n\r\n',
}


@pytest.mark.parametrize('name', sorted(BAD_8))
def test_rfc9112_violations_are_400(uwsgi_server, name):
    """A bad chunk line is found while the app reads the body: still a 400 (its response had not started)."""
    srv = uwsgi_server('--wsgi-file', app_path('core_app.py'))
    out, closed = send_and_collect(srv.port, BAD_8[name])
    assert status_of(out) == 400, out
    assert b'200 OK' not in out, out
    assert closed
    assert_serving(srv.port)


def test_content_length_with_tabs(uwsgi_server):
    srv = uwsgi_server('--wsgi-file', app_path('core_app.py'))
    r = exchange(srv.port, b'POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length:\t5\t\r\n\r\nhello')
    assert r.status == 200 and r.json()['len'] == 5


def test_absolute_form_target_is_the_host(uwsgi_server):
    srv = uwsgi_server('--wsgi-file', app_path('core_app.py'))
    r = exchange(srv.port, b'GET http://example.org:81/env HTTP/1.1\r\nHost: other.example\r\n\r\n')
    assert r.status == 200
    env = r.json()
    assert env['HTTP_HOST'] == 'example.org:81'
    assert env['SERVER_NAME'] == 'example.org' and env['SERVER_PORT'] == '81'


def test_http09_request_is_answered_at_once(uwsgi_server, mode_args):
    srv = uwsgi_server(*mode_args, '--wsgi-file', app_path('core_app.py'))
    t0 = time.monotonic()
    with connect(srv.port) as s:
        s.sendall(b'GET /x\r\n')  # and nothing more: the client waits for an answer
        s.settimeout(5)
        out = b''
        while True:
            d = s.recv(4096)
            if not d:
                break
            out += d
    assert status_of(out) in (400, 505)
    assert time.monotonic() - t0 < 3  # not the 30 s socket timeout


# ---- item 6: --limit-post holds for chunked bodies --------------------------------------------

def chunked(data, piece=500):
    return b''.join(b'%x\r\n' % len(data[i:i + piece]) + data[i:i + piece] + b'\r\n'
                    for i in range(0, len(data), piece)) + b'0\r\n\r\n'


def test_limit_post_applies_to_chunked_bodies(uwsgi_server, mode_args):
    srv = uwsgi_server(*mode_args, '--wsgi-file', app_path('core_app.py'), '--limit-post', '1000')
    head = request_bytes('POST', '/echo', headers={'Transfer-Encoding': 'chunked'})
    ok = exchange(srv.port, head + chunked(b'a' * 1000))
    assert ok.status == 200 and ok.json()['len'] == 1000
    offset = len(srv.log())
    out, closed = send_and_collect(srv.port, head + chunked(b'a' * 2000))
    assert status_of(out) == 413, out
    assert b'200 OK' not in out
    assert closed
    assert 'limit-post' in new_log(srv, offset, 'limit-post')
    # The request log line says what the client got (the app's 500 after its failed read goes nowhere).
    # (The first request's 200 line may land after `offset`: wait for the 413 line itself.)
    log = new_log(srv, offset, '(HTTP/1.1 413)')
    assert '(HTTP/1.1 413)' in log and '(HTTP/1.1 500)' not in log, log
    assert_serving(srv.port)


def test_limit_post_stops_a_large_chunked_upload_early(uwsgi_server):
    """50 MiB announced in chunks against --limit-post 1000: a 413, and the upload is cut off."""
    srv = uwsgi_server('--wsgi-file', app_path('core_app.py'), '--limit-post', '1000')
    piece = b'%x\r\n' % 65536 + b'x' * 65536 + b'\r\n'
    sent = [0]
    with connect(srv.port) as s:
        s.sendall(request_bytes('POST', '/echo', headers={'Transfer-Encoding': 'chunked'}))

        def upload():
            try:
                while sent[0] < 50 * 1024 * 1024:
                    s.sendall(piece)
                    sent[0] += 65536
            except OSError:
                pass
        t = threading.Thread(target=upload, daemon=True)
        t.start()
        s.settimeout(10)
        out = b''
        try:
            while not out.endswith(b'\n\r\n') and b'\r\n\r\n' not in out:
                d = s.recv(4096)
                if not d:
                    break
                out += d
        except ConnectionResetError:
            pass
        t.join(10)
    assert status_of(out) == 413, out
    assert not t.is_alive()
    assert sent[0] < 50 * 1024 * 1024  # the server closed long before the client was done
    assert_serving(srv.port)


# ---- item 9: a uwsgi packet larger than --buffer-size -----------------------------------------

def test_oversized_uwsgi_packet_gets_431_not_a_reset(uwsgi_server, mode_args):
    """What nginx's uwsgi_pass sends (the whole packet, then it reads): a status line it can relay."""
    from conftest import free_port
    port = free_port()
    srv = uwsgi_server(*mode_args, '--socket', f'127.0.0.1:{port}', '--wsgi-file', app_path('core_app.py'),
                       port=port, http=False)
    pairs = cgi_vars('GET', '/big', extra={'HTTP_COOKIE': 'c' * 20000})
    offset = len(srv.log())
    out, closed = send_and_collect(port, uwsgi_packet(pairs))
    assert status_of(out) == 431, out
    assert closed
    assert 'exceeds' in new_log(srv, offset, 'exceeds')
    with connect(port) as s:  # still serving
        s.sendall(uwsgi_packet(cgi_vars('GET', '/alive')))
        assert HttpReader(s).read_response().status == 200


def test_limit_post_after_the_response_started_closes_the_connection(uwsgi_server, mode_args):
    """The 413 can no longer be sent: the read fails, the response is cut off (no last chunk), logged."""
    srv = uwsgi_server(*mode_args, '--wsgi-file', app_path('read_after_start_app.py'), '--limit-post', '1000')
    head = request_bytes('POST', '/', headers={'Transfer-Encoding': 'chunked'})
    ok = exchange(srv.port, head + chunked(b'a' * 1000))
    assert ok.status == 200 and ok.body == b'started;read 1000'
    offset = len(srv.log())
    out, closed = send_and_collect(srv.port, head + chunked(b'a' * 2000))
    assert status_of(out) == 200 and b'started;' in out
    assert b'read ' not in out and not out.endswith(b'0\r\n\r\n')  # not a complete response
    assert closed
    assert 'after the response started' in new_log(srv, offset, 'after the response started')
    assert_serving(srv.port, '/')
