"""WSGI behaviour of the python plugin, through the real binary over HTTP."""
import hashlib
import http.client
import json
import os
import socket
import threading

import pytest

from conftest import app_path, free_port


def get_json(srv, path, **kw):
    status, headers, body = srv.request('GET', path, **kw)
    assert status == 200, body
    return json.loads(body)


def test_hello(app_server):
    status, headers, body = app_server.request('GET', '/')
    assert (status, body) == (200, b'hello')


def test_environ_passes_wsgiref_validator(app_server):
    status, _, body = app_server.request('POST', '/validate?x=1', body=b'payload',
                                         headers={'Content-Type': 'text/plain'})
    assert status == 200, app_server.log()[-3000:]
    assert body == b'validated:payload'
    status, _, body = app_server.request('GET', '/validate')
    assert (status, body) == (200, b'validated:')


def test_environ_contents(app_server):
    env = get_json(app_server, '/environ?a=1&b=%20', headers={'X-Custom-Thing': 'caf\u00e9'.encode('latin-1').decode('latin-1')})
    assert env['wsgi.version'] == ['tuple', [1, 0]]
    assert env['wsgi.url_scheme'] == ['str', 'http']
    assert env['wsgi.multithread'] == ['bool', False]
    assert env['wsgi.multiprocess'] == ['bool', False]
    assert env['wsgi.run_once'] == ['bool', False]
    assert env['wsgi.input'][0] == 'Input'
    assert env['wsgi.errors'][0] == 'TextIOWrapper'
    assert env['wsgi.file_wrapper'][0] == 'type'
    assert env['uwsgi.core'] == ['int', 0]
    assert env['uwsgi.version'][0] == 'bytes'
    assert env['REQUEST_METHOD'] == ['str', 'GET']
    assert env['PATH_INFO'] == ['str', '/environ']
    assert env['QUERY_STRING'] == ['str', 'a=1&b=%20']
    assert env['HTTP_X_CUSTOM_THING'] == ['str', 'caf\u00e9']  # latin-1 decoded bytes
    for key, (typ, _) in env.items():
        if '.' not in key:
            assert typ == 'str', key


def test_wsgi_file_module_name(app_server):
    env = get_json(app_server, '/environ')
    assert env['__name__'][1].startswith('uwsgi_file_')
    assert env['__name__'][1].endswith('app_py')
    assert env['__file__'][1] == app_path('app.py')


BODY = b'line one\nline two\r\n\nlast line without newline'


def test_input_read_sized(app_server):
    parts = json.loads(app_server.request('POST', '/read-sized?7', body=BODY)[2])
    assert ''.join(parts).encode() == BODY
    assert all(len(p) == 7 for p in parts[:-1])


def test_input_readline(app_server):
    lines = json.loads(app_server.request('POST', '/readline', body=BODY)[2])
    assert lines == ['line one\n', 'line two\r\n', '\n', 'last line without newline']


def test_input_readline_limit(app_server):
    lines = json.loads(app_server.request('POST', '/readline?4', body=BODY)[2])
    assert ''.join(lines).encode() == BODY
    assert lines[:3] == ['line', ' one', '\n']
    assert all(len(l) <= 4 for l in lines)


def test_input_readlines_and_iter(app_server):
    expected = ['line one\n', 'line two\r\n', '\n', 'last line without newline']
    assert json.loads(app_server.request('POST', '/readlines', body=BODY)[2]) == expected
    assert json.loads(app_server.request('POST', '/iter', body=BODY)[2]) == expected


def test_input_mixed_readline_then_read(app_server):
    got = json.loads(app_server.request('POST', '/mixed', body=b'head\nabcdefgh')[2])
    assert got == ['head\n', 'abc', 'defgh']


def test_input_empty_body(app_server):
    status, headers, body = app_server.request('POST', '/echo', body=b'')
    assert (status, body, headers['x-len']) == (200, b'', '0')


def test_large_upload_echo(app_server):
    data = os.urandom(4 * 1024 * 1024 + 123)
    status, headers, body = app_server.request('POST', '/echo', body=data, timeout=30)
    assert status == 200
    assert headers['x-sha256'] == hashlib.sha256(data).hexdigest()
    assert body == data


def test_chunked_upload_is_dechunked(app_server):
    pieces = [b'first-piece;', b'x' * 70000, b'', b'tail']
    pieces = [p for p in pieces if p]
    expected = b''.join(pieces)
    conn = app_server.connection(timeout=15)
    try:
        conn.request('POST', '/echo', body=iter(pieces), encode_chunked=True,
                     headers={'Transfer-Encoding': 'chunked'})
        resp = conn.getresponse()
        body = resp.read()
    finally:
        conn.close()
    assert resp.status == 200
    assert body == expected
    assert resp.getheader('X-Sha256') == hashlib.sha256(expected).hexdigest()


def test_chunked_readline(app_server):
    conn = app_server.connection()
    try:
        conn.request('POST', '/readline', body=iter([b'ab', b'c\nde', b'f\n', b'g']),
                     encode_chunked=True, headers={'Transfer-Encoding': 'chunked'})
        lines = json.loads(conn.getresponse().read())
    finally:
        conn.close()
    assert lines == ['abc\n', 'def\n', 'g']


def test_write_callable(app_server):
    status, _, body = app_server.request('GET', '/write')
    assert (status, body) == (200, b'written-bytearray-returned')


def test_generator_body(app_server):
    status, _, body = app_server.request('GET', '/generator?50')
    assert status == 200
    assert body == b''.join(b'chunk%d;' % i for i in range(50))


def test_list_body_gets_content_length(app_server):
    status, headers, body = app_server.request('GET', '/write')
    # write() streams: no length known; but a plain list does get one
    status, headers, body = app_server.request('GET', '/')
    assert headers.get('content-length') == '5'


def test_close_is_called(app_server, tmp_path):
    marker = tmp_path / 'closed.txt'
    status, _, body = app_server.request('GET', '/close?' + str(marker))
    assert (status, body) == (200, b'body-with-close')
    assert marker.read_text() == 'closed'


def test_file_wrapper_sendfile(app_server, tmp_path):
    data = os.urandom(300000)
    f = tmp_path / 'blob.bin'
    f.write_bytes(data)
    status, headers, body = app_server.request('GET', '/file?' + str(f))
    assert status == 200
    assert body == data
    status, headers, body = app_server.request('GET', '/file-offset?' + str(f))
    assert (status, body) == (200, data[10:])


def test_file_wrapper_without_fileno(app_server):
    status, _, body = app_server.request('GET', '/filelike')
    assert (status, body) == (200, b'from-bytesio' * 100)


def test_exc_info_before_headers_replaces_status(app_server):
    status, _, body = app_server.request('GET', '/exc-info-before')
    assert (status, body) == (503, b'replaced by exc_info')


def assert_cut_short(srv, path, partial):
    """After the headers went out, an app error must leave the response visibly incomplete:
    the connection closes before the end (the core may not have flushed anything yet)."""
    conn = srv.connection()
    try:
        conn.request('GET', path)
        with pytest.raises((http.client.IncompleteRead, http.client.RemoteDisconnected)) as ei:
            resp = conn.getresponse()
            assert resp.status == 200
            resp.read()
        if isinstance(ei.value, http.client.IncompleteRead):
            assert ei.value.partial == partial
    finally:
        conn.close()


def test_exc_info_after_headers_reraises_and_cuts_response(app_server):
    assert_cut_short(app_server, '/exc-info-after', b'partial-body;')
    assert app_server.wait_log('late-failure-marker')


def test_exception_gives_500_and_traceback(app_server):
    status, _, body = app_server.request('GET', '/raise')
    assert status == 500
    assert b'Internal Server Error' in body
    assert app_server.wait_log('ValueError: boom-marker-1234')
    assert 'Traceback (most recent call last)' in app_server.log()
    # the worker survives
    assert app_server.request('GET', '/')[0] == 200


def test_exception_in_generator_after_headers(app_server):
    assert_cut_short(app_server, '/raise-in-generator', b'first;')
    assert app_server.wait_log('ZeroDivisionError: generator-marker-42')


def test_str_body_is_a_type_error(app_server):
    status, _, _ = app_server.request('GET', '/str-body')
    assert status == 500
    assert app_server.wait_log('TypeError: response body items must be bytes')


@pytest.mark.parametrize('path', ['/bad-status', '/bad-headers', '/no-start-response'])
def test_bad_start_response_gives_500(app_server, path):
    status, _, _ = app_server.request('GET', path)
    assert status == 500


def test_bare_bytes_result_like_uwsgi(app_server):
    status, headers, body = app_server.request('GET', '/bare-bytes')
    assert (status, body, headers.get('content-length')) == (200, b'bare bytes body', '15')
    assert app_server.request('GET', '/bare-str')[0] == 500


def test_no_body_status(app_server):
    status, headers, body = app_server.request('GET', '/status?204+No+Content')
    assert (status, body) == (204, b'')
    assert 'content-length' not in headers


def test_uwsgi_module(uwsgi_server, tmp_path):
    srv = uwsgi_server('--wsgi-file', app_path('app.py'), '--pythonpath', str(tmp_path / 'a'),
                       '--pythonpath', str(tmp_path / 'b'))
    info = get_json(srv, '/uwsgi')
    assert info['opt']['wsgi-file'] == app_path('app.py')
    assert info['opt']['pythonpath'] == [str(tmp_path / 'a'), str(tmp_path / 'b')]
    assert info['opt']['http-socket'] == f'127.0.0.1:{srv.port}'
    assert info['worker_id'] >= 1
    assert info['numproc'] == 1
    assert info['version_is_bytes']
    assert info['version'].startswith('.'.join(str(v) for v in info['version_info'][:2]))
    assert info['log'] is True
    assert info['sys_path_head'][:3] == [str(tmp_path / 'a'), str(tmp_path / 'b'), '.']
    assert srv.wait_log('app-log-marker-5678')


def test_async_api_raises_outside_async_mode(app_server):
    report = get_json(app_server, '/async-api', timeout=5)
    assert set(report) == {'suspend', 'async_sleep', 'wait_fd_read', 'wait_fd_write', 'ready_fd'}
    for name, err in report.items():
        assert err is not None, name
        assert err['is_uwsgi_error'] and err['oserror'] and err['runtimeerror'], err
        assert 'async' in err['msg'], err


def test_async_api_refuses_other_threads(uwsgi_server):
    srv = uwsgi_server('--wsgi-file', app_path('app.py'))
    report = get_json(srv, '/async-api-thread', timeout=5)
    for name, err in report.items():
        assert err is not None and err['is_uwsgi_error'], (name, err)
        assert 'main thread' in err['msg'], err


def test_async_connect_and_socket_helpers(app_server):
    with socket.socket() as lsock:
        lsock.bind(('127.0.0.1', 0))
        lsock.listen(1)

        def serve():
            conn, _ = lsock.accept()
            with conn:
                conn.sendall(b'pong:' + conn.recv(100))
        t = threading.Thread(target=serve, daemon=True)
        t.start()
        report = get_json(app_server, '/sockets?%d' % lsock.getsockname()[1])
        t.join(5)
    assert report == {'connected': True, 'sent': 5, 'got': 'pong:ping\n'}


def test_app_threads_run_while_worker_idle(uwsgi_server):
    import time
    srv = uwsgi_server('--wsgi-file', app_path('app.py'))
    assert srv.request('GET', '/thread-start')[2] == b'started'
    time.sleep(0.5)  # no request in flight: the worker sits in epoll_wait
    ticks = get_json(srv, '/thread-count')
    assert ticks >= 10, ticks


@pytest.mark.parametrize('master', [False, True])
def test_atexit_handlers_run_at_worker_exit(uwsgi_server, tmp_path, master):
    marker = tmp_path / 'atexit.txt'
    srv = uwsgi_server('--wsgi-file', app_path('app.py'), *(['--master'] if master else []))
    pid = srv.request('GET', '/atexit?' + str(marker))[2].decode()
    srv.stop()
    assert marker.read_text() == 'atexit ran in ' + pid


def test_multiprocess_environ(uwsgi_server):
    srv = uwsgi_server('--wsgi-file', app_path('app.py'), '--master', '--processes', '2')
    env = get_json(srv, '/environ')
    assert env['wsgi.multiprocess'] == ['bool', True]
    info = get_json(srv, '/uwsgi')
    assert info['numproc'] == 2
    assert info['worker_id'] in (1, 2)


# --- app loading options -------------------------------------------------------------------

@pytest.mark.parametrize('args, expected', [
    (['--module', 'mod_app'], b'mod_app.application'),
    (['--module', 'mod_app:alt'], b'mod_app.alt'),
    (['--module', 'mod_app', '--callable', 'alt'], b'mod_app.alt'),
    (['--wsgi', 'mod_app'], b'mod_app.application'),
    (['-w', 'mod_app:alt'], b'mod_app.alt'),
    (['--wsgi-file', 'mod_app.py', '--callable', 'alt'], b'mod_app.alt'),
    (['--module', 'mod_app.py'], b'mod_app.application'),
])
def test_app_loading_options(uwsgi_server, args, expected):
    srv = uwsgi_server(*args)  # cwd is tests/integration/apps: "." is on sys.path
    status, _, body = srv.request('GET', '/')
    assert (status, body) == (200, expected)


def test_pythonpath(uwsgi_server, tmp_path):
    srv = uwsgi_server('--pythonpath', app_path('extra_path'), '--module', 'pp_app', cwd=str(tmp_path))
    assert srv.request('GET', '/')[2] == b'pp_app'
    srv2 = uwsgi_server('--pp', app_path('extra_path'), '--module', 'pp_app', cwd=str(tmp_path))
    assert srv2.request('GET', '/')[2] == b'pp_app'


def test_need_app_exits_when_import_fails(uwsgi_server):
    srv = uwsgi_server('--module', 'broken_app', '--need-app', wait=False)
    assert srv.proc.wait(timeout=10) == 22
    log = srv.log()
    assert 'broken-app-marker-999' in log
    assert 'no app' in log


def test_need_app_exits_when_callable_missing(uwsgi_server):
    srv = uwsgi_server('--module', 'mod_app:nope', '--need-app', wait=False)
    assert srv.proc.wait(timeout=10) == 22
    assert 'nope' in srv.log()


def test_without_need_app_requests_get_500(uwsgi_server):
    srv = uwsgi_server('--module', 'broken_app', '--no-need-app')
    status, _, body = srv.request('GET', '/')
    assert status == 500
    assert b'no app loaded' in body
    assert srv.wait_log('no python application found')
    assert 'broken-app-marker-999' in srv.log()


def test_virtualenv_site_packages(uwsgi_server, tmp_path):
    import subprocess
    venv = tmp_path / 'venv'
    r = subprocess.run(['/usr/bin/python3', '-m', 'venv', '--without-pip', str(venv)],
                       capture_output=True)
    if r.returncode != 0:
        pytest.skip('python3 -m venv unavailable')
    site = next((venv / 'lib').glob('python3*/site-packages'))
    (site / 'venv_only_mod.py').write_text(
        'def application(e, sr):\n'
        '    import sys\n'
        '    sr("200 OK", [("Content-Type", "text/plain")])\n'
        '    return [sys.prefix.encode()]\n')
    srv = uwsgi_server('--virtualenv', str(venv), '--module', 'venv_only_mod', cwd=str(tmp_path))
    status, _, body = srv.request('GET', '/')
    assert (status, body) == (200, str(venv).encode())
