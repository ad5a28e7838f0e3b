"""The python plugin's uWSGI options that real configs use: wsgi.input_terminated, post-buffering,
mount / manage-script-name / no-default-app, write-error options, file wrapper, honour-stdin and
py-autoreload (apps/pyopts_app.py, apps/flask_upload.py)."""
import json
import os
import shutil
import socket
import subprocess
import time

import pytest

from conftest import Server, app_path, base_args, free_port, start_uwsgi, uwsgi_binary
from helpers_core import HttpReader, connect, request_bytes, uwsgi_packet, cgi_vars

APP = app_path('pyopts_app.py')


def chunked(data, size=5):
    out = b''
    for i in range(0, len(data), size):
        out += b'%x\r\n' % len(data[i:i + size]) + data[i:i + size] + b'\r\n'
    return out + b'0\r\n\r\n'


def post_chunked(port, path, data):
    with connect(port) as s:
        s.sendall(request_bytes('POST', path, headers={'Transfer-Encoding': 'chunked'}) + chunked(data))
        return HttpReader(s).read_response()


def get_json(srv, path, **kw):
    status, _, body = srv.request('GET', path, **kw)
    assert status == 200, (status, body, srv.log()[-2000:])
    return json.loads(body)


def wait_for(pred, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


# ---- wsgi.input_terminated -----------------------------------------------------------------

def test_flask_reads_a_chunked_upload(uwsgi_server):
    srv = uwsgi_server('--wsgi-file', app_path('flask_upload.py'), '--callable', 'app')
    data = b'hello chunked world ' * 100
    r = post_chunked(srv.port, '/upload', data)
    assert r.status == 200, srv.log()[-2000:]
    assert r.body == b'%d:' % len(data) + data


def test_input_terminated_only_for_chunked_bodies(uwsgi_server):
    srv = uwsgi_server('--wsgi-file', APP)
    r = post_chunked(srv.port, '/x', b'abcdefgh')
    assert r.json()['input_terminated'] is True and r.json()['body'] == 'abcdefgh'
    status, _, body = srv.request('POST', '/x', body=b'abc')
    assert json.loads(body)['input_terminated'] is None
    assert json.loads(body)['seekable'] is False  # not buffered


@pytest.mark.parametrize('opts', [[], ['--post-buffering', '4000000']])
def test_read_of_a_content_length_body_holds_it_once(uwsgi_server, opts):
    # read() stops at CONTENT_LENGTH instead of doubling its result for one more empty read.
    srv = uwsgi_server('--wsgi-file', APP, *opts)
    status, _, body = srv.request('POST', '/read-peak', body=b'q' * 3_000_000)
    got = json.loads(body)
    assert got['len'] == 3_000_000 and got['peak_per_byte'] < 1.2, got


# ---- post-buffering ------------------------------------------------------------------------

def send_slowly(port, path, first, rest, pause=0.6):
    """Headers and the first part of a body, a pause, then the rest; returns (socket, reader)."""
    s = connect(port)
    s.sendall(request_bytes('POST', path, headers={'Content-Length': str(len(first) + len(rest))}) + first)
    time.sleep(pause)
    return s


@pytest.mark.parametrize('size,where', [(100, 'memory'), (5000, 'file')])
def test_post_buffering_memory_and_temp_file(uwsgi_server, size, where):
    srv = uwsgi_server('--wsgi-file', APP, '--post-buffering', '1024', '--post-buffering-bufsize', '512')
    data = (b'line one\n' + b'y' * size)
    status, _, body = srv.request('POST', '/reread', body=data)
    got = json.loads(body)
    assert status == 200 and got['body'] == data.decode()
    assert got['temp_file'] is (where == 'file') and got['seekable'] is True
    # Buffered: wsgi.input can go back.
    assert got['reread'] == 'line one\n' and got['tell'] == 9 and got['tail'] == 'yyy'


def test_post_buffering_calls_the_app_after_the_whole_body(uwsgi_server):
    srv = uwsgi_server('--wsgi-file', APP, '--post-buffering', '4096')
    s = send_slowly(srv.port, '/slow-body', b'hello ', b'world')
    with s:
        assert 'APP CALLED' not in srv.log()
        s.sendall(b'world')
        r = HttpReader(s).read_response()
    assert r.status == 200 and r.json()['body'] == 'hello world'
    assert 'APP CALLED /slow-body' in srv.log()


@pytest.mark.parametrize('limit', ['4096', '4'])
def test_post_buffering_client_gone_mid_body_never_calls_the_app(uwsgi_server, limit):
    srv = uwsgi_server('--wsgi-file', APP, '--post-buffering', limit)
    s = send_slowly(srv.port, '/slow-body', b'hello ', b'world', pause=0.1)
    s.close()
    assert srv.wait_log('(--post-buffering) of POST /slow-body failed'), srv.log()[-2000:]
    assert get_json(srv, '/after')['PATH_INFO'] == '/after'
    assert 'APP CALLED' not in srv.log()


def test_post_buffering_dechunks_and_sets_content_length(uwsgi_server):
    srv = uwsgi_server('--wsgi-file', APP, '--post-buffering', '64')
    for data in (b'small', b'z' * 3000):
        r = post_chunked(srv.port, '/x', data)
        got = r.json()
        assert got['body'] == data.decode() and got['CONTENT_LENGTH'] == str(len(data))
        assert got['input_terminated'] is True
        assert got['temp_file'] is (len(data) > 64)


def test_post_buffering_true_is_off_as_in_uwsgi(uwsgi_server):
    srv = uwsgi_server('--wsgi-file', APP, '--post-buffering', 'true')
    s = send_slowly(srv.port, '/slow-body', b'hello ', b'world')
    with s:
        assert wait_for(lambda: 'APP CALLED' in srv.log())
        s.sendall(b'world')
        r = HttpReader(s).read_response()
    assert r.json()['body'] == 'hello world'
    assert 'stays off' in srv.log()


ASYNC_MODES = {
    'ugreen': ['--plugins', 'ugreen', '--ugreen', '--async', '4'],
    'gevent': ['--plugins', 'gevent', '--gevent', '4'],
}


@pytest.mark.parametrize('mode', sorted(ASYNC_MODES))
def test_post_buffering_suspends_only_the_reading_core(uwsgi_server, mode):
    srv = uwsgi_server('--wsgi-file', APP, '--post-buffering', '4096', *ASYNC_MODES[mode])
    s = send_slowly(srv.port, '/slow-body', b'hello ', b'world', pause=0.1)
    with s:
        # Another client is served while the first body is still being read.
        assert get_json(srv, '/other', timeout=5)['PATH_INFO'] == '/other'
        assert 'APP CALLED' not in srv.log()
        s.sendall(b'world')
        r = HttpReader(s).read_response()
    assert r.json()['body'] == 'hello world'


def test_post_buffering_bad_value_stops_startup():
    with pytest.raises(RuntimeError, match='post-buffering.*size in bytes'):
        start_uwsgi(['--wsgi-file', APP, '--post-buffering', '4k'], timeout=5)


# ---- mount / manage-script-name / no-default-app ------------------------------------------

def test_mount_with_manage_script_name(uwsgi_server):
    srv = uwsgi_server('--wsgi-file', app_path('mod_app.py'), '--mount', '/app=pyopts_app:other',
                       '--mount', '/app/deeper/=' + APP, '--manage-script-name')
    got = get_json(srv, '/app/x')
    assert (got['app'], got['SCRIPT_NAME'], got['PATH_INFO']) == ('other', '/app', '/x')
    got = get_json(srv, '/app')
    assert (got['app'], got['SCRIPT_NAME'], got['PATH_INFO']) == ('other', '/app', '')
    # The longest mountpoint wins; a trailing slash in it does not matter.
    got = get_json(srv, '/app/deeper/y')
    assert (got['app'], got['SCRIPT_NAME'], got['PATH_INFO']) == ('pyopts_app', '/app/deeper', '/y')
    # Whole segments only, and the --wsgi-file app stays the default at "".
    for path in ('/application', '/', '/zzz'):
        status, _, body = srv.request('GET', path)
        assert (status, body) == (200, b'mod_app.application'), path


def test_mount_selects_by_script_name_without_manage_script_name(tmp_path):
    port = free_port()
    srv = start_uwsgi(['--socket', f'127.0.0.1:{port}', '--wsgi-file', app_path('mod_app.py'),
                       '--mount', '/app=pyopts_app:other'], port=port, http=False, log_dir=str(tmp_path))
    try:
        def ask(script_name, path):
            with connect(port) as s:
                s.sendall(uwsgi_packet(cgi_vars('GET', path, extra={'SCRIPT_NAME': script_name})))
                return HttpReader(s).read_response()
        got = ask('/app', '/x').json()
        assert (got['app'], got['SCRIPT_NAME'], got['PATH_INFO']) == ('other', '/app', '/x')
        assert ask('', '/app/x').body == b'mod_app.application'
        assert ask('/nothing', '/x').body == b'mod_app.application'  # the default app
        with connect(port) as s:  # UWSGI_APPID names the app instead of SCRIPT_NAME
            s.sendall(uwsgi_packet(cgi_vars('GET', '/y', extra={'UWSGI_APPID': '/app'})))
            assert HttpReader(s).read_response().json()['app'] == 'other'

    finally:
        srv.stop()


def test_no_default_app(uwsgi_server):
    srv = uwsgi_server('--mount', '/app=pyopts_app:other', '--manage-script-name', '--no-default-app')
    assert get_json(srv, '/app/x')['app'] == 'other'
    status, _, _ = srv.request('GET', '/elsewhere')
    assert status == 404
    # Without it, the first mount is the default app.
    srv2 = uwsgi_server('--mount', '/app=pyopts_app:other', '--manage-script-name')
    got = get_json(srv2, '/elsewhere')
    assert (got['app'], got['SCRIPT_NAME'], got['PATH_INFO']) == ('other', '', '/elsewhere')


def test_root_mount_keeps_the_whole_path(uwsgi_server):
    srv = uwsgi_server('--mount', '/=pyopts_app:other', '--manage-script-name')
    got = get_json(srv, '/x/y')
    assert (got['app'], got['SCRIPT_NAME'], got['PATH_INFO']) == ('other', '', '/x/y')


def test_vhost_mounts_pick_the_app_by_host(uwsgi_server):
    # uWSGI's --vhost-host key is "HOST|SCRIPT_NAME"; a plain HOST mountpoint is accepted too.
    srv = uwsgi_server('--wsgi-file', app_path('mod_app.py'), '--vhost-host', '--manage-script-name',
                       '--mount', 'a.example=pyopts_app:other', '--mount', 'b.example|/sub=pyopts_app:other')
    got = get_json(srv, '/x', headers={'Host': 'a.example'})
    assert (got['app'], got['SCRIPT_NAME'], got['PATH_INFO']) == ('other', '', '/x')
    got = get_json(srv, '/sub/y', headers={'Host': 'b.example'})
    assert (got['app'], got['SCRIPT_NAME'], got['PATH_INFO']) == ('other', '/sub', '/y')
    # Another path on b.example, or an unknown host: the default app.
    assert srv.request('GET', '/other', headers={'Host': 'b.example'})[2] == b'mod_app.application'
    assert srv.request('GET', '/x', headers={'Host': 'c.example'})[2] == b'mod_app.application'


def test_host_mountpoint_without_vhost_is_an_error():
    cmd = [str(uwsgi_binary())] + base_args() + ['--http-socket', f'127.0.0.1:{free_port()}',
                                                 '--wsgi-file', app_path('mod_app.py'), '--mount', 'a.example=x']
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
    assert p.returncode != 0
    assert 'a.example' in p.stdout + p.stderr and '--vhost' in p.stdout + p.stderr


def test_broken_mount_stops_startup_with_need_app():
    # need-app is on by default: a mount that cannot be imported stops start-up (status 22).
    cmd = [str(uwsgi_binary())] + base_args() + ['--http-socket', f'127.0.0.1:{free_port()}',
                                                 '--wsgi-file', app_path('mod_app.py'),
                                                 '--mount', '/bad=no_such_module_here']
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL,
                       cwd=os.path.dirname(app_path('mod_app.py')))
    assert p.returncode == 22, p.stdout + p.stderr
    assert '--mount /bad=no_such_module_here' in p.stdout + p.stderr


def test_broken_mount_is_500_with_no_need_app(tmp_path):
    args = ['--wsgi-file', app_path('mod_app.py'), '--mount', '/bad=no_such_module_here', '--manage-script-name',
            '--no-need-app']
    srv = start_uwsgi(args, timeout=10, log_dir=str(tmp_path))
    try:
        assert srv.request('GET', '/bad/x')[0] == 500
        assert srv.request('GET', '/x')[2] == b'mod_app.application'
        assert "No module named 'no_such_module_here'" in srv.log()
    finally:
        srv.stop()


@pytest.mark.parametrize('value,message', [('noequals', 'MOUNTPOINT=APP'), ('app=x', 'must start with /')])
def test_bad_mount_stops_startup(value, message):
    with pytest.raises(RuntimeError, match=message):
        start_uwsgi(['--mount', value], timeout=5)


# ---- file wrapper, write errors, stdin ----------------------------------------------------

def test_wsgi_disable_file_wrapper(uwsgi_server):
    assert get_json(uwsgi_server('--wsgi-file', APP), '/')['file_wrapper'] is True
    assert get_json(uwsgi_server('--wsgi-file', APP, '--wsgi-disable-file-wrapper'), '/')['file_wrapper'] is False


def hang_up_after_headers(port):
    with connect(port) as s:
        s.sendall(request_bytes('GET', '/write-after-gone'))
        assert s.recv(100).startswith(b'HTTP/1.1 200')
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b'\x01\x00\x00\x00\x00\x00\x00\x00')  # RST


@pytest.mark.parametrize('opts,outcome,logged', [
    ([], 'WRITE RAISED', True),
    (['--disable-write-exception'], 'WRITES DONE 400', True),
    (['--disable-write-exception', '--ignore-write-errors', '--ignore-sigpipe'], 'WRITES DONE 400', False),
    (['--ignore-write-errors'], 'WRITE RAISED', False),
])
def test_write_errors(uwsgi_server, opts, outcome, logged):
    srv = uwsgi_server('--wsgi-file', APP, *opts)
    hang_up_after_headers(srv.port)
    assert srv.wait_log(outcome), srv.log()[-2000:]
    get_json(srv, '/alive')  # served after it: the line below is written by then
    assert ('python: client gone' in srv.log()) is logged, srv.log()[-2000:]
    assert 'Traceback' not in srv.log()


def test_stdin_is_dev_null_unless_honour_stdin(tmp_path):
    def stdin_of(*opts):
        r, w = os.pipe()
        port = free_port()
        log = open(tmp_path / 'log', 'w')
        proc = subprocess.Popen([str(uwsgi_binary()), '--http-socket', f'127.0.0.1:{port}', '--wsgi-file', APP,
                                 *opts], stdin=r, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        os.close(r)
        try:
            def listening():
                with socket.socket() as probe:
                    return probe.connect_ex(('127.0.0.1', port)) == 0
            assert wait_for(listening, 10)
            return get_json(Server(proc, port, str(tmp_path / 'log')), '/')['stdin']
        finally:
            os.killpg(proc.pid, 9)
            proc.wait()
            os.close(w)
            log.close()
    assert stdin_of() == '/dev/null'
    assert stdin_of('--honour-stdin').startswith('pipe:')


# ---- py-autoreload -------------------------------------------------------------------------

def test_py_autoreload_serves_new_code(uwsgi_server, tmp_path):
    mod = tmp_path / 'reloaded_mod.py'
    mod.write_text('VERSION = "one"\n')
    (tmp_path / 'reload_app.py').write_text(
        'import reloaded_mod\n'
        'def application(e, sr):\n'
        '    sr("200 OK", [("Content-Type", "text/plain")])\n'
        '    return [reloaded_mod.VERSION.encode()]\n')
    srv = uwsgi_server('--wsgi-file', str(tmp_path / 'reload_app.py'), '--pythonpath', str(tmp_path),
                       '--py-autoreload', '1', '--py-autoreload-ignore', 'json', cwd=str(tmp_path))
    assert srv.request('GET', '/')[2] == b'one'
    assert srv.wait_log('auto-reloader enabled')
    time.sleep(1.2)  # the first scan has seen the file
    mod.write_text('VERSION = "two"\n')
    st = os.stat(mod)
    os.utime(mod, (st.st_atime, st.st_mtime + 2))

    def served_two():
        try:
            return srv.request('GET', '/', timeout=2)[2] == b'two'
        except OSError:
            return False
    assert wait_for(served_two, 15), srv.log()[-3000:]
    assert 'reloaded_mod.py has been modified' in srv.log()


def test_py_autoreload_ignore_skips_a_module(uwsgi_server, tmp_path):
    mod = tmp_path / 'ignored_mod.py'
    mod.write_text('VERSION = "one"\n')
    (tmp_path / 'ignore_app.py').write_text(
        'import ignored_mod\n'
        'def application(e, sr):\n'
        '    sr("200 OK", [("Content-Type", "text/plain")])\n'
        '    return [ignored_mod.VERSION.encode()]\n')
    srv = uwsgi_server('--wsgi-file', str(tmp_path / 'ignore_app.py'), '--pythonpath', str(tmp_path),
                       '--py-autoreload', '1', '--py-autoreload-ignore', 'ignored_mod', cwd=str(tmp_path))
    assert srv.wait_log('auto-reloader enabled')
    time.sleep(1.2)
    mod.write_text('VERSION = "two"\n')
    st = os.stat(mod)
    os.utime(mod, (st.st_atime, st.st_mtime + 2))
    time.sleep(3)  # three checks
    assert 'has been modified' not in srv.log()
    assert srv.request('GET', '/')[2] == b'one'


def test_real_looking_ini_with_these_options(uwsgi_server, tmp_path):
    ini = tmp_path / 'app.ini'
    ini.write_text(f"""[uwsgi]
wsgi-file = {APP}
mount = /api=pyopts_app:other
manage-script-name = true
master = true
processes = 2
post-buffering = 4096
post-buffering-bufsize = 8192
disable-write-exception = true
ignore-sigpipe = true
ignore-write-errors = true
wsgi-disable-file-wrapper = true
honour-stdin = false
py-autoreload = 2
""")
    srv = uwsgi_server('--ini', str(ini))
    assert get_json(srv, '/api/v1')['SCRIPT_NAME'] == '/api'
    got = json.loads(srv.request('POST', '/x', body=b'payload')[2])
    assert got['body'] == 'payload' and got['file_wrapper'] is False and got['stdin'] == '/dev/null'
