"""--touch-exec FILE COMMAND, --touch-signal FILE SIGNAL and --touch-mules-reload FILE: the master
checks the files' mtimes about once a second; a touch runs the command, raises the uWSGI signal
or restarts the mules. Bad values stop start-up."""
import os
import subprocess
import time

from conftest import app_path, base_args, free_port, uwsgi_binary
from helpers_core import file_lines, wait_for

APP = app_path('tasks_app.py')


def _touch_later(path):
    # The file does not exist at start-up: creating it is a touch (as in uWSGI).
    path.write_text(str(time.monotonic()))


def test_touch_exec_runs_the_command(uwsgi_server, tmp_path):
    trigger, fired = tmp_path / 'trigger', tmp_path / 'fired'
    srv = uwsgi_server('--master', '--wsgi-file', APP, '--touch-exec', f'{trigger} echo ran >> {fired}',
                       env={'TASKS_OUT_DIR': str(tmp_path)})
    assert srv.request('GET', '/')[0] in (200, 404)
    _touch_later(trigger)
    assert wait_for(lambda: file_lines(fired) == ['ran'], timeout=10), srv.log()[-2000:]
    assert '--touch-exec: running' in srv.log()


def test_touch_signal_raises_the_uwsgi_signal(uwsgi_server, tmp_path):
    trigger = tmp_path / 'trigger'
    srv = uwsgi_server('--master', '--wsgi-file', APP, '--touch-signal', f'{trigger} 22',
                       env={'TASKS_OUT_DIR': str(tmp_path), 'TASKS_SIGNALS': '1'})
    srv.request('GET', '/')
    _touch_later(trigger)
    assert wait_for(lambda: any(l.startswith('22 worker1 ') for l in file_lines(tmp_path / 'signals')),
                    timeout=10), srv.log()[-2000:]


def test_touch_mules_reload_restarts_the_mules(uwsgi_server, tmp_path):
    trigger = tmp_path / 'trigger'
    srv = uwsgi_server('--master', '--wsgi-file', APP, '--mules', '1', '--touch-mules-reload', str(trigger),
                       env={'TASKS_OUT_DIR': str(tmp_path)})
    assert srv.wait_log('spawned uWSGI mule 1')
    _touch_later(trigger)
    assert wait_for(lambda: srv.log().count('spawned uWSGI mule 1') == 2, timeout=10), srv.log()[-2000:]
    assert 'touched (--touch-mules-reload)' in srv.log()


def test_bad_touch_values_stop_startup():
    for args, name in ((['--touch-signal', '/tmp/x'], '--touch-signal'), (['--touch-signal', '/tmp/x 300'], '--touch-signal'),
                       (['--touch-exec', '/tmp/x'], '--touch-exec')):
        cmd = [str(uwsgi_binary())] + base_args() + ['--http-socket', f'127.0.0.1:{free_port()}', '--master',
                                                     '--wsgi-file', app_path('app.py')] + args
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
        assert p.returncode != 0 and name in p.stderr, (args, p.stderr)
