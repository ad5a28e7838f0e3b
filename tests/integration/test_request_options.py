"""--max-vars, --http-socket-modifier1/2 and --disable-sendfile (apps/opts2_app.py)."""
import json
import os
import signal
import subprocess
import tempfile
import time

import pytest

from conftest import Server, app_path, base_args, free_port, uwsgi_binary
from helpers_core import HttpReader, cgi_vars, connect, uwsgi_packet

APP = app_path('opts2_app.py')


def headers(n):
    return {f'X-Extra-{i}': str(i) for i in range(n)}


def test_max_vars_answers_431_past_twice_its_value(uwsgi_server):
    srv = uwsgi_server('--wsgi-file', APP, '--max-vars', '12')
    status, _, body = srv.request('GET', '/')
    assert status == 200
    base = json.loads(body)['nvars']  # the variables of a plain request (uWSGI's form: ~12)
    assert base < 24
    status, _, body = srv.request('GET', '/', headers=headers(24 - base))
    assert status == 200 and json.loads(body)['nvars'] == 24
    status, _, _ = srv.request('GET', '/', headers=headers(25 - base))
    assert status == 431
    assert srv.wait_log('25 request variables exceed --max-vars 12')
    assert srv.request('GET', '/')[0] == 200


def test_no_max_vars_no_limit(uwsgi_server):
    srv = uwsgi_server('--wsgi-file', APP, '--buffer-size', '32768')
    status, _, body = srv.request('GET', '/', headers=headers(300))
    assert status == 200 and json.loads(body)['nvars'] > 300


def test_max_vars_applies_to_uwsgi_packets_too(uwsgi_server):
    port = free_port()
    uwsgi_server('--socket', f'127.0.0.1:{port}', '--wsgi-file', APP, '-v', '8')
    extra = {f'HTTP_X_{i}': 'x' for i in range(20)}
    with connect(port) as s:
        s.sendall(uwsgi_packet(cgi_vars(extra=extra)))
        assert HttpReader(s).read_response().status == 431


def test_http_socket_modifier1_routes_http_requests(uwsgi_server):
    port = free_port()
    srv = uwsgi_server('--socket', f'127.0.0.1:{port}', '--wsgi-file', APP,
                       '--http-socket-modifier1', '5', '--http-socket-modifier2', '3')
    # No app handler is registered for modifier1 5 (python is 0): the HTTP request gets 503.
    status, _, body = srv.request('GET', '/')
    assert status == 503
    assert srv.wait_log('no application handler for modifier1 5')
    # uwsgi packets carry their own modifier1 (0 here): the python app answers.
    with connect(port) as s:
        s.sendall(uwsgi_packet(cgi_vars()))
        assert HttpReader(s).read_response().status == 200


def test_http_socket_modifier1_zero_is_python(uwsgi_server):
    srv = uwsgi_server('--wsgi-file', APP, '--http-socket-modifier1', '0')
    assert srv.request('GET', '/')[0] == 200


@pytest.mark.parametrize('value', ['256', 'x'])
def test_modifier_out_of_range_stops_start_up(value):
    r = subprocess.run([str(uwsgi_binary())] + base_args() +
                       ['--http-socket', f'127.0.0.1:{free_port()}', '--wsgi-file', APP,
                        '--http-socket-modifier1', value], capture_output=True, text=True, timeout=20)
    out = r.stdout + r.stderr
    assert r.returncode == 1 and ('--http-socket-modifier1 must be between 0 and 255' in out or
                                  '--http-socket-modifier1' in out and 'number' in out), out


def serve_under_strace(tmp_path, *opts):
    """The server traced for sendfile(); returns (server, trace file)."""
    port = free_port()
    trace = tmp_path / 'trace.txt'
    fd, log = tempfile.mkstemp(prefix='uwsgi-test-', suffix='.log', dir=str(tmp_path))
    cmd = ['strace', '-f', '-qq', '-e', 'trace=sendfile', '-o', str(trace), str(uwsgi_binary())] + base_args() + \
          ['--http-socket', f'127.0.0.1:{port}', '--wsgi-file', APP, *opts]
    env = dict(os.environ, OPTS2_FILE=str(tmp_path / 'data.bin'))
    proc = subprocess.Popen(cmd, stdout=fd, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                            start_new_session=True)
    os.close(fd)
    srv = Server(proc, port, log)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if srv.request('GET', '/', timeout=2)[0] == 200:
                return srv, trace
        except OSError:
            time.sleep(0.1)
    srv.stop()
    raise RuntimeError('server did not start:\n' + srv.log())


@pytest.mark.parametrize('disable', [False, True])
@pytest.mark.parametrize('offload', [False, True])
def test_disable_sendfile_copies_files_through_a_buffer(tmp_path, disable, offload):
    data = os.urandom(300_000)
    (tmp_path / 'data.bin').write_bytes(data)
    opts = (['--disable-sendfile'] if disable else []) + (['--offload-threads', '1'] if offload else [])
    srv, trace = serve_under_strace(tmp_path, *opts)
    try:
        status, hdrs, body = srv.request('GET', '/file')
        assert status == 200 and body == data
        assert hdrs.get('content-length') == str(len(data))
    finally:
        srv.stop()
    calls = [line for line in trace.read_text().splitlines() if 'sendfile(' in line]
    assert bool(calls) is not disable, calls[:5]


@pytest.mark.parametrize('opt', ['--harakiri-no-arh', '--no-harakiri-arh', '--no-harakiri-after-req-hook'])
def test_harakiri_no_arh_still_kills_a_stuck_request(uwsgi_server, opt):
    # The request itself stays watched; only the after-request work (final routes, the log
    # line) is not, which never blocks here.
    srv = uwsgi_server('--wsgi-file', APP, '--master', '--processes', '1', '--harakiri', '1', opt)
    first = json.loads(srv.request('GET', '/')[2])['pid']
    with pytest.raises(Exception):
        srv.request('GET', '/sleep?8', timeout=6)
    assert srv.wait_log('killed by harakiri', timeout=6)
    status, _, body = srv.request('GET', '/')
    assert status == 200 and json.loads(body)['pid'] != first
