"""The python plugin's app life cycle: how the app is found (--module dotted paths), what a
missing or broken app does to start-up (need-app, on by default), and the options around the
app's life (catch-exceptions, import, pyargv, single-interpreter, uwsgi.atexit)."""
import subprocess
import time

import pytest

from conftest import app_path, base_args, free_port, uwsgi_binary

FAILED_APP = 22  # uWSGI's exit status when the app cannot be loaded


def run_fail(args, timeout=20, cwd=None):
    """Run the binary expecting it to exit by itself: (returncode, output)."""
    binary = uwsgi_binary()
    if not binary.exists():
        pytest.skip(f'{binary} not built')
    cmd = [str(binary)] + base_args() + ['--http-socket', f'127.0.0.1:{free_port()}'] + args
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd or app_path(''),
                       stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout + p.stderr


# --- --module: a dotted path is imported, a file name is loaded as a file ------------------------

@pytest.mark.parametrize('args, expected', [
    (['--module', 'mysite.wsgi:application'], b'mysite.wsgi.application'),
    (['--module', 'mysite.wsgi'], b'mysite.wsgi.application'),
    (['--module', 'mysite.wsgi:alt'], b'mysite.wsgi.alt'),
    (['-w', 'mysite.wsgi'], b'mysite.wsgi.application'),
    (['--wsgi', 'mysite.wsgi:application'], b'mysite.wsgi.application'),
    (['--module', 'mysite.wsgi', '--callable', 'alt'], b'mysite.wsgi.alt'),
])
def test_module_dotted_path_ending_in_wsgi_is_imported(uwsgi_server, args, expected):
    srv = uwsgi_server(*args)  # cwd is tests/integration/apps
    status, _, body = srv.request('GET', '/')
    assert (status, body) == (200, expected), srv.log()[-1500:]


def test_module_from_ini_django_form(uwsgi_server, tmp_path):
    ini = tmp_path / 'site.ini'
    ini.write_text('[uwsgi]\nmodule = mysite.wsgi:application\n')
    srv = uwsgi_server('--ini', str(ini))
    assert srv.request('GET', '/')[2] == b'mysite.wsgi.application'


def test_module_naming_an_existing_file_is_loaded_as_a_file(uwsgi_server, tmp_path):
    (tmp_path / 'site.wsgi').write_text(
        'def application(e, sr):\n'
        '    sr("200 OK", [])\n'
        '    return [__name__.encode()]\n')
    srv = uwsgi_server('--module', 'site.wsgi', cwd=str(tmp_path))
    assert srv.request('GET', '/')[2] == b'uwsgi_file_site_wsgi'
    srv2 = uwsgi_server('--module', str(tmp_path / 'site.wsgi'), cwd=app_path(''))
    assert srv2.request('GET', '/')[2].startswith(b'uwsgi_file_')


# --- need-app: a configured app that cannot be loaded stops start-up by default ------------------

def test_broken_app_stops_start_up_by_default():
    rc, out = run_fail(['--module', 'broken_app'])
    assert rc == FAILED_APP, out
    assert 'cannot import the app module broken_app: ImportError: broken-app-marker-999' in out, out
    assert 'Traceback' in out  # the whole traceback is logged too


def test_missing_wsgi_file_stops_start_up():
    rc, out = run_fail(['--wsgi-file', 'no_such_app.py'])
    assert rc == FAILED_APP, out
    assert 'unable to open no_such_app.py: No such file or directory' in out, out


def test_missing_module_and_callable_stop_start_up():
    rc, out = run_fail(['--module', 'no_such_module_xyz'])
    assert rc == FAILED_APP and "No module named 'no_such_module_xyz'" in out, out
    rc, out = run_fail(['--module', 'mod_app:nope'])
    assert rc == FAILED_APP and 'unable to find callable "nope" in mod_app' in out, out


@pytest.mark.parametrize('how', [['--no-need-app'], ['--need-app=false'], 'ini'])
def test_need_app_false_serves_500s(uwsgi_server, tmp_path, how):
    if how == 'ini':
        ini = tmp_path / 'x.ini'
        ini.write_text('[uwsgi]\nneed-app = false\n')
        how = ['--ini', str(ini)]
    srv = uwsgi_server('--module', 'broken_app', *how)
    status, _, body = srv.request('GET', '/')
    assert (status, body) == (500, b'no app loaded\n')
    assert 'broken-app-marker-999' in srv.log()


def test_no_app_configured_still_starts(uwsgi_server):
    # Nothing asked for: not a failure of the app (only an explicit --need-app stops it).
    srv = uwsgi_server()
    assert srv.request('GET', '/')[0] == 500
    rc, out = run_fail(['--need-app'])
    assert rc == FAILED_APP and 'no app configured' in out, out


@pytest.mark.parametrize('extra', [[], ['--need-app']])
def test_lazy_apps_stop_when_every_worker_fails(extra):
    t0 = time.monotonic()
    rc, out = run_fail(['--module', 'broken_app', '--lazy-apps', '--master', '--processes', '2'] + extra)
    assert rc == FAILED_APP, out
    assert 'no worker could load the app' in out, out
    assert out.count('broken-app-marker-999') >= 2
    assert time.monotonic() - t0 < 10


def test_lazy_apps_single_process_without_master():
    rc, out = run_fail(['--module', 'broken_app', '--lazy-apps'])
    assert rc == FAILED_APP and 'broken-app-marker-999' in out, out


def test_lazy_apps_keeps_serving_while_one_worker_loads(uwsgi_server):
    srv = uwsgi_server('--module', 'fails_in_worker2', '--lazy-apps', '--master', '--processes', '2')
    time.sleep(2.5)  # worker 2 failed and was respawned (and failed) a few times meanwhile
    assert srv.proc.poll() is None, srv.log()
    assert srv.request('GET', '/')[2] == b'worker 1'
    assert 'worker-2-cannot-load' in srv.log()


# --- catch-exceptions, import, pyargv, single-interpreter, uwsgi.atexit ---------------------------

LIFE = app_path('life_app.py')


def test_catch_exceptions_sends_the_traceback(uwsgi_server):
    srv = uwsgi_server('--wsgi-file', LIFE, '--catch-exceptions')
    status, _, body = srv.request('GET', '/boom')
    assert status == 500
    assert b'uWSGI exceptions catcher for "GET /boom"' in body, body
    assert b'Traceback (most recent call last)' in body and b"KeyError: 'boom-marker'" in body, body
    assert 'boom-marker' in srv.log()  # still logged
    # After the headers went out the response is cut short, not appended to.
    conn = srv.connection()
    conn.request('GET', '/late')
    resp = conn.getresponse()
    assert resp.status == 200
    with pytest.raises(Exception):
        resp.read()
    conn.close()
    assert srv.request('GET', '/')[2] == b'hello'


def test_without_catch_exceptions_the_body_says_nothing(uwsgi_server):
    srv = uwsgi_server('--wsgi-file', LIFE)
    status, _, body = srv.request('GET', '/boom')
    assert (status, body) == (500, b'Internal Server Error\n')


def test_import_and_pyimport_run_in_order_before_the_app(uwsgi_server, tmp_path):
    srv = uwsgi_server('--wsgi-file', LIFE, '--import', 'import_a', '--pyimport', 'import_b',
                       '--import', app_path('import_a.py'))
    assert srv.request('GET', '/imports')[2] == b'a,b,a'
    ini = tmp_path / 'i.ini'
    ini.write_text(f'[uwsgi]\nwsgi-file = {LIFE}\nimport = import_b\nimport = import_a\n')
    srv2 = uwsgi_server('--ini', str(ini))
    assert srv2.request('GET', '/imports')[2] == b'b,a'


def test_failed_import_stops_start_up():
    rc, out = run_fail(['--wsgi-file', LIFE, '--import', 'broken_app'])
    assert rc == FAILED_APP, out
    assert '--import broken_app' in out and 'broken-app-marker-999' in out, out


@pytest.mark.parametrize('args, expected', [
    ([], b"['uwsgi']"),
    (['--pyargv', 'one two  three'], b"['uwsgi', 'one', 'two', 'three']"),
])
def test_pyargv_sets_sys_argv(uwsgi_server, args, expected):
    srv = uwsgi_server('--wsgi-file', LIFE, *args)
    assert srv.request('GET', '/argv')[2] == expected


def test_single_interpreter_is_accepted(uwsgi_server):
    srv = uwsgi_server('--wsgi-file', LIFE, '--single-interpreter', '--master')
    assert srv.request('GET', '/')[2] == b'hello'


ATEXIT_MODES = {
    'sync': [],
    'master': ['--master', '--processes', '2'],
    'lazy': ['--master', '--lazy-apps'],
    'recycle': ['--master', '--max-requests', '1'],
    'threads': ['--threads', '2'],
    'ugreen': ['--plugins', 'ugreen', '--ugreen', '--async', '4'],
    'greenlet': ['--plugins', 'greenlet', '--greenlet', '--async', '4'],
    'gevent': ['--plugins', 'gevent', '--gevent', '4'],
}


@pytest.mark.parametrize('mode', list(ATEXIT_MODES))
def test_uwsgi_atexit_runs_when_the_worker_exits(uwsgi_server, tmp_path, mode):
    srv = uwsgi_server('--wsgi-file', LIFE, *ATEXIT_MODES[mode])
    status, _, pid = srv.request('GET', '/atexit?' + str(tmp_path / 'mark'))
    assert status == 200
    srv.stop()
    mark = tmp_path / ('mark.' + pid.decode())
    assert mark.exists(), srv.log()[-2000:]
    assert mark.read_text() == 'uwsgi.atexit ran in ' + pid.decode()
