"""The master's cron: --cron / --unique-cron / --cron2 commands and @cron signal handlers.
UWSGI_CRON_CLOCK_SCALE=60 makes one cron minute last one real second, so minutes pass in a test."""
import subprocess
import time

from conftest import app_path, base_args, free_port, start_uwsgi, uwsgi_binary
from helpers_core import wait_for, file_lines

FAST = {'UWSGI_CRON_CLOCK_SCALE': '60'}


def test_cron_command_runs_each_minute(tmp_path):
    out = tmp_path / 'ticks'
    srv = start_uwsgi(['--master', '--wsgi-file', app_path('app.py'), '--cron', f'-1 -1 -1 -1 -1 echo tick >> {out}',
                       '--cron', f'0 0 31 2 -1 echo never >> {tmp_path}/never'], env=FAST)
    try:
        assert wait_for(lambda: len(file_lines(out)) >= 3), srv.log()[-2000:]
        assert set(file_lines(out)) == {'tick'}
        assert not (tmp_path / 'never').exists()  # February 31st never comes
        assert '[uwsgi-cron] running' in srv.log()
    finally:
        srv.stop()


def test_unique_cron_is_not_started_twice_and_cron2_harakiri_kills(tmp_path):
    out = tmp_path / 'unique'
    srv = start_uwsgi(['--master', '--wsgi-file', app_path('app.py'),
                       '--unique-cron', f'-1 -1 -1 -1 -1 echo start >> {out}; sleep 2.5',
                       '--cron2', 'minute=-1,harakiri=1 sleep 30'], env=FAST)
    try:
        assert wait_for(lambda: 'still running' in srv.log() and 'ran over 1 s' in srv.log()), srv.log()[-3000:]
        # A run every "minute" (second), but each lasts 2.5 s: far fewer starts than minutes.
        time.sleep(3)
        starts = len(file_lines(out))
        assert 1 <= starts <= 3, starts
    finally:
        srv.stop()


def test_cron_decorator_raises_its_signal(tmp_path):
    mark = tmp_path / 'mark'
    srv = start_uwsgi(['--master', '--processes', '2', '--wsgi-file', app_path('cron_app.py')],
                      env=dict(FAST, CRON_MARK_FILE=str(mark)))
    try:
        assert wait_for(lambda: len(file_lines(mark)) >= 2), srv.log()[-2000:]
        assert file_lines(mark)[0].startswith('signal ')
        assert 'signal' in srv.log() and 'registered' in srv.log()
    finally:
        srv.stop()


def run_bad(*args):
    cmd = [str(uwsgi_binary())] + base_args() + ['--http-socket', f'127.0.0.1:{free_port()}',
                                                 '--wsgi-file', app_path('app.py')] + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)


def test_bad_cron_options_stop_startup():
    p = run_bad('--master', '--cron', '75 -1 -1 -1 -1 true')
    assert p.returncode != 0 and '--cron' in p.stdout + p.stderr and 'minute' in p.stdout + p.stderr
    p = run_bad('--cron', '-1 -1 -1 -1 -1 true')
    assert p.returncode != 0 and 'needs --master' in p.stdout + p.stderr
    p = run_bad('--master', '--cron2', 'colour=1 true')
    assert p.returncode != 0 and 'colour' in p.stdout + p.stderr
