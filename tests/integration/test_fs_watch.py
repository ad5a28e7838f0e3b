"""--fs-reload PATH, --fs-brutal-reload PATH, --fs-signal "PATH N": the master watches a file or a
directory with inotify; a change reloads the server (gracefully, or killing the workers) or raises
the uWSGI signal. Bad values stop start-up."""
import subprocess
import threading

from conftest import app_path, base_args, free_port, uwsgi_binary
from helpers_core import file_lines, wait_for

APP = app_path('tasks_app.py')


def test_fs_reload_on_a_change_in_a_directory(uwsgi_server, tmp_path):
    watched = tmp_path / 'code'
    watched.mkdir()
    srv = uwsgi_server('--master', '--wsgi-file', APP, '--fs-reload', str(watched), env={'TASKS_OUT_DIR': str(tmp_path)})
    assert srv.wait_log(f'watching {watched} for changes')
    (watched / 'new.py').write_text('x = 1\n')
    assert wait_for(lambda: 'reloading: re-executing' in srv.log(), timeout=15), srv.log()[-2000:]
    assert f'{watched} changed' in srv.log()
    assert 'graceful reload: stopping' in srv.log()
    assert wait_for(lambda: srv.log().count(f'watching {watched} for changes') == 2, timeout=15)  # the new master
    assert srv.request('GET', '/')[0] in (200, 404)


def _hold_request(srv, result):
    try:
        result.append(srv.request('GET', '/hold', timeout=20)[0])
    except Exception as e:  # the worker was killed under it
        result.append(type(e).__name__)


def test_fs_brutal_reload_kills_the_workers(uwsgi_server, tmp_path):
    # A request still running when the file changes: a graceful reload lets it finish (200); a
    # brutal one kills its worker, so it gets no response.
    for option, brutal in (('--fs-reload', False), ('--fs-brutal-reload', True)):
        watched, notes = tmp_path / f'{option}.cfg', tmp_path / f'{option}.notes'
        watched.write_text('a')
        srv = uwsgi_server('--master', '--wsgi-file', app_path('os_facts_app.py'), option, str(watched),
                           env={'ATEXIT_LOG': str(notes)})
        assert srv.wait_log(f'watching {watched} for changes')
        result = []
        t = threading.Thread(target=_hold_request, args=(srv, result))
        t.start()
        assert wait_for(lambda: 'holding' in file_lines(notes), timeout=10)
        watched.write_text('b')
        t.join(timeout=30)
        assert result and (result[0] != 200) == brutal, (option, result, srv.log()[-2000:])
        assert wait_for(lambda: 'reloading: re-executing' in srv.log(), timeout=15), srv.log()[-2000:]
        srv.stop()


def test_fs_signal_raises_the_uwsgi_signal(uwsgi_server, tmp_path):
    watched = tmp_path / 'flag'
    watched.write_text('a')
    srv = uwsgi_server('--master', '--wsgi-file', APP, '--fs-signal', f'{watched} 22',
                       env={'TASKS_OUT_DIR': str(tmp_path), 'TASKS_SIGNALS': '1'})
    assert srv.wait_log(f'watching {watched} for changes')
    watched.write_text('b')
    assert wait_for(lambda: any(l.startswith('22 worker1 ') for l in file_lines(tmp_path / 'signals')),
                    timeout=10), srv.log()[-2000:]


def test_bad_fs_signal_stops_startup():
    for value in ('/tmp', '/tmp 256', '/tmp x'):
        cmd = [str(uwsgi_binary())] + base_args() + ['--http-socket', f'127.0.0.1:{free_port()}', '--master',
                                                     '--wsgi-file', app_path('app.py'), '--fs-signal', value]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
        assert p.returncode != 0 and '--fs-signal' in p.stderr, (value, p.stderr)
