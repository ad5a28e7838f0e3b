"""--wsgi-strict, --wsgi-env-behaviour and --ignore-script-name (apps/opts2_app.py)."""
import json
import socket
import subprocess

import pytest

from conftest import app_path, base_args, free_port, start_uwsgi, uwsgi_binary
from helpers_core import HttpReader, cgi_vars, connect, uwsgi_packet

APP = app_path('opts2_app.py')


def test_a_bare_bytes_result_is_the_body_unless_wsgi_strict(uwsgi_server):
    status, _, body = uwsgi_server('--wsgi-file', APP).request('GET', '/bytes')
    assert (status, body) == (200, b'bare bytes')
    srv = uwsgi_server('--wsgi-file', APP, '--wsgi-strict')
    status, _, body = srv.request('GET', '/bytes')
    assert status == 500
    assert srv.wait_log('response body items must be bytes, not int')
    # Real iterables are untouched.
    assert srv.request('GET', '/')[0] == 200


@pytest.mark.parametrize('opt', ['--wsgi-env-behaviour', '--wsgi-env-behavior'])
@pytest.mark.parametrize('value', ['holy', 'cheat'])
def test_wsgi_env_behaviour_values_are_accepted(uwsgi_server, opt, value):
    srv = uwsgi_server('--wsgi-file', APP, opt, value)
    # Each request still gets its own environ.
    for _ in range(2):
        status, _, body = srv.request('GET', '/x')
        assert status == 200 and json.loads(body)['PATH_INFO'] == '/x'


def test_wsgi_env_behaviour_rejects_other_values():
    r = subprocess.run([str(uwsgi_binary())] + base_args() +
                       ['--http-socket', f'127.0.0.1:{free_port()}', '--wsgi-file', APP,
                        '--wsgi-env-behaviour', 'bogus'],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 1
    assert '--wsgi-env-behaviour must be holy or cheat' in r.stdout + r.stderr


def uwsgi_get(port, script_name):
    with connect(port) as s:
        s.sendall(uwsgi_packet(cgi_vars(path='/n', extra={'SCRIPT_NAME': script_name})))
        r = HttpReader(s).read_response()
    assert r.status == 200, r.body
    return json.loads(r.body)


@pytest.mark.parametrize('ignore', [False, True])
def test_ignore_script_name_keeps_script_name_from_picking_the_mount(uwsgi_server, ignore):
    port = free_port()
    extra = ['--ignore-script-name'] if ignore else []
    srv = uwsgi_server('--socket', f'127.0.0.1:{port}', '--wsgi-file', APP,
                       '--mount', f'/foo={APP}:other', *extra)
    got = uwsgi_get(port, '/foo')
    if ignore:
        # The default app, and SCRIPT_NAME stays as the web server sent it (as uWSGI).
        assert got['app'] == 'opts2' and got['SCRIPT_NAME'] == '/foo'
    else:
        assert got['app'] == 'other'
    assert uwsgi_get(port, '')['app'] == 'opts2'


def test_response_headers_limit(uwsgi_server):
    srv = uwsgi_server('--wsgi-file', APP, '--response-headers-limit', '1000')
    ok = srv.request('GET', '/big-header?800')
    assert ok[0] == 200 and ok[1]['x-big'] == 'a' * 800
    status, _, _ = srv.request('GET', '/big-header?1000')
    assert status == 500
    assert srv.wait_log('exceed --response-headers-limit 1000')
    # Without the option there is no limit of ours (uWSGI 2.0.21 has none by default either).
    srv2 = uwsgi_server('--wsgi-file', APP)
    status, hdrs, _ = srv2.request('GET', '/big-header?60000')
    assert status == 200 and len(hdrs['x-big']) == 60000
