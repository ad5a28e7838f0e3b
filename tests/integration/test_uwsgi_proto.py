"""The uwsgi binary protocol on --socket: a raw client built here, and real nginx (uwsgi_pass)."""
import hashlib
import json
import os
import socket
import struct
import time

import pytest

from conftest import app_path, free_port, start_uwsgi
from helpers_core import (HttpReader, new_log, connect, exchange, request_bytes, send_and_collect, start_nginx,
                          cgi_vars, uwsgi_packet)


@pytest.fixture(scope='module')
def usrv(tmp_path_factory):
    port = free_port()
    s = start_uwsgi(['--socket', f'127.0.0.1:{port}', '--wsgi-file', app_path('core_app.py')],
                    port=port, http=False, log_dir=str(tmp_path_factory.mktemp('log')))
    yield s
    s.stop()


def uwsgi_request(port, pairs, body=b'', modifier1=0):
    with connect(port) as s:
        s.sendall(uwsgi_packet(pairs, modifier1) + body)
        return HttpReader(s).read_response()


def assert_uwsgi_serving(port):
    r = uwsgi_request(port, cgi_vars('GET', '/alive'))
    assert r.status == 200 and r.body == b'Hello /alive'


def test_vars_arrive_as_environ(usrv):
    r = uwsgi_request(usrv.port, cgi_vars('GET', '/env', 'a=1&b=%20x', extra={'HTTP_X_CUSTOM': 'yes'}))
    assert r.status == 200
    env = r.json()
    assert env['PATH_INFO'] == '/env'
    assert env['QUERY_STRING'] == 'a=1&b=%20x'
    assert env['REQUEST_METHOD'] == 'GET'
    assert env['HTTP_X_CUSTOM'] == 'yes'
    assert env['SERVER_NAME'] == 'localhost'
    assert env['SCRIPT_NAME'] == ''  # not sent (nginx's uwsgi_params doesn't): PEP 3333 wants it


def test_missing_path_info_becomes_empty(usrv):
    pairs = cgi_vars('GET', '/x')
    del pairs['PATH_INFO']
    r = uwsgi_request(usrv.port, pairs)
    assert r.status == 200 and r.body == b'Hello '


def test_environ_has_exactly_the_vars_sent(usrv):
    # The environ starts from a template holding a place for REQUEST_METHOD: a packet without one
    # must not show it (nor a None for it), and the next request must not see the last one's vars.
    pairs = cgi_vars('GET', '/keys', extra={'HTTP_X_ONE': '1'})
    del pairs['REQUEST_METHOD']
    keys = uwsgi_request(usrv.port, pairs).json()
    assert 'REQUEST_METHOD' not in keys
    assert keys['HTTP_X_ONE'] == 'str'
    assert keys['wsgi.input'] != 'NoneType' and keys['uwsgi.core'] == 'int'
    assert 'NoneType' not in {v for k, v in keys.items() if not k.startswith('x-wsgiorg')}
    keys = uwsgi_request(usrv.port, cgi_vars('GET', '/keys')).json()
    assert keys['REQUEST_METHOD'] == 'str'
    assert 'HTTP_X_ONE' not in keys


def test_body_with_content_length(usrv):
    body = os.urandom(200_000)
    r = uwsgi_request(usrv.port, cgi_vars('POST', '/echo', body=body), body)
    assert r.status == 200
    assert r.json()['len'] == len(body)
    assert r.json()['sha1'] == hashlib.sha1(body).hexdigest()


def test_no_content_length_means_no_body(usrv):
    r = uwsgi_request(usrv.port, cgi_vars('POST', '/echo'), b'')
    assert r.json()['len'] == 0


def test_streaming_over_uwsgi_protocol(usrv):
    r = uwsgi_request(usrv.port, cgi_vars('GET', '/stream', '2'))
    assert r.status == 200
    assert r.body == b'piece0;piece1;'
    assert r.header('Transfer-Encoding') is None  # nginx frames it; we close to delimit


def test_unknown_modifier1_gets_an_error_not_a_crash(usrv):
    offset = len(usrv.log())
    out, closed = send_and_collect(usrv.port, uwsgi_packet(cgi_vars('GET', '/'), modifier1=99))
    assert closed
    if out:
        assert int(out.split(b' ', 2)[1]) >= 400
    assert 'modifier1' in new_log(usrv, offset, 'modifier1')
    assert_uwsgi_serving(usrv.port)


def bad_packets():
    good = uwsgi_packet(cgi_vars('GET', '/'))
    vars_ = good[4:]
    return {
        # header announces 100 bytes of vars, 20 come, then the client closes
        'truncated_vars': (struct.pack('<BHB', 0, 100, 0) + vars_[:20], True, 'closed'),
        # key length runs past the end of the packet
        'key_overruns': (struct.pack('<BHB', 0, 6, 0) + struct.pack('<H', 50) + b'ABCD', False, 'overruns'),
        # value length runs past the end of the packet
        'value_overruns': (struct.pack('<BHB', 0, 9, 0) + struct.pack('<H', 1) + b'A' + struct.pack('<H', 40)
                           + b'xyzw', False, 'overruns'),
        'truncated_key_length': (struct.pack('<BHB', 0, 1, 0) + b'\x05', False, 'truncated'),
        'empty_key': (struct.pack('<BHB', 0, 5, 0) + struct.pack('<H', 0) + struct.pack('<H', 1) + b'v',
                      False, 'empty key'),
        'bad_content_length': (uwsgi_packet(cgi_vars('POST', '/echo', extra={'CONTENT_LENGTH': '12ab'})), False,
                               'CONTENT_LENGTH'),
        'negative_content_length': (uwsgi_packet(cgi_vars('POST', '/echo', extra={'CONTENT_LENGTH': '-5'})),
                                    False, 'CONTENT_LENGTH'),
        'larger_than_buffer': (struct.pack('<BHB', 0, 60000, 0) + b'\x00' * 5000, False, 'exceeds'),
        'truncated_header': (b'\x00\x10', True, 'closed'),
        'body_shorter_than_content_length': (
            uwsgi_packet(cgi_vars('POST', '/echo', extra={'CONTENT_LENGTH': '1000'})) + b'short', True, 'missing'),
    }


@pytest.mark.parametrize('name', sorted(bad_packets()))
def test_bad_packets_close_log_and_worker_lives(usrv, name):
    data, shut, log_text = bad_packets()[name]
    offset = len(usrv.log())
    out, closed = send_and_collect(usrv.port, data, shut=shut)
    assert closed, f'{name}: connection left open'
    assert b'200 OK' not in out
    part = new_log(usrv, offset, log_text)
    assert log_text in part, part
    assert_uwsgi_serving(usrv.port)


# ---- behind real nginx -----------------------------------------------------------------------

@pytest.fixture(scope='module')
def nginx(usrv, tmp_path_factory):
    ng = start_nginx(tmp_path_factory.mktemp('nginx'), usrv.port)
    yield ng
    ng.stop()


def test_nginx_hello(nginx):
    r = exchange(nginx.port, request_bytes('GET', '/hi?x=1'))
    assert r.status == 200 and r.body == b'Hello /hi'


def test_nginx_environ_passes_wsgiref_validate(nginx, usrv):
    offset = len(usrv.log())
    r = exchange(nginx.port, request_bytes('GET', '/validated?q=1'))
    assert r.status == 200, (r.body, usrv.log()[offset:])
    assert r.body == b'validated:'
    body = b'some=form&data=1'
    r = exchange(nginx.port, request_bytes('POST', '/validated', headers={
        'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': str(len(body))}, body=body))
    assert r.status == 200, (r.body, usrv.log()[offset:])
    assert r.body == b'validated:' + body
    assert 'Traceback' not in usrv.log()[offset:]


def test_nginx_environ_has_no_http_content_headers(nginx):
    body = b'{"a": 1}'
    r = exchange(nginx.port, request_bytes('POST', '/env', headers={
        'Content-Type': 'application/json', 'Content-Length': str(len(body))}, body=body))
    env = r.json()
    assert 'HTTP_CONTENT_TYPE' not in env
    assert 'HTTP_CONTENT_LENGTH' not in env
    assert env['CONTENT_TYPE'] == 'application/json'
    assert env['CONTENT_LENGTH'] == str(len(body))
    assert env['__body__'] == body.decode()
    assert env['PATH_INFO'] == '/env'


def test_nginx_post_body_intact(nginx):
    data = os.urandom(3 * 1024 * 1024 + 17)
    r = exchange(nginx.port, request_bytes('POST', '/echo', body=data), timeout=30)
    assert r.status == 200
    assert r.json()['len'] == len(data)
    assert r.json()['sha1'] == hashlib.sha1(data).hexdigest()


def test_nginx_chunked_request_body(nginx):
    data = b'hello chunked world' * 100
    enc = b''.join(b'%x\r\n' % len(data[i:i + 500]) + data[i:i + 500] + b'\r\n' for i in range(0, len(data), 500))
    r = exchange(nginx.port, request_bytes('POST', '/echo', headers={'Transfer-Encoding': 'chunked'})
                 + enc + b'0\r\n\r\n')
    assert r.json()['len'] == len(data)
    assert r.json()['sha1'] == hashlib.sha1(data).hexdigest()


def test_nginx_streaming_unbuffered(nginx):
    with connect(nginx.port) as s:
        t0 = time.monotonic()
        s.sendall(b'GET /stream?4 HTTP/1.1\r\nHost: x\r\n\r\n')
        r = HttpReader(s)
        resp = r.read_response()
        total = time.monotonic() - t0
    assert resp.body == b'piece0;piece1;piece2;piece3;'
    assert resp.header('Transfer-Encoding') == 'chunked'
    # With uwsgi_buffering off nginx forwards each piece as it comes: several chunks, not one.
    assert len(resp.chunks) >= 3, resp.chunks
    assert total > 0.8


def test_nginx_streaming_arrives_incrementally(nginx):
    with connect(nginx.port) as s:
        t0 = time.monotonic()
        s.sendall(b'GET /stream?4 HTTP/1.1\r\nHost: x\r\n\r\n')
        s.settimeout(5)
        first = None
        got = b''
        while b'piece0;' not in got:
            d = s.recv(4096)
            assert d
            got += d
        first = time.monotonic() - t0
        while b'0\r\n\r\n' not in got:
            d = s.recv(4096)
            assert d
            got += d
        last = time.monotonic() - t0
    assert last - first > 0.4, (first, last)


def test_nginx_keepalive_client_many_requests(nginx):
    with connect(nginx.port) as s:
        r = HttpReader(s)
        for i in range(20):
            s.sendall(request_bytes('GET', f'/n{i}'))
            assert r.read_response().body == f'Hello /n{i}'.encode()
