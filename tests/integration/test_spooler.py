"""The spooler: --spooler DIR with uwsgi.spool() / send_to_spooler(), SPOOL_OK / SPOOL_RETRY, an
exception retries, @spool with a dict and with pass_arguments, at= waits, priority subdirs, the
spool file format on disk; nothing lost: kill -9 of the spooler mid-task and a full restart with a
queued task both end with the task run; bad options stop start-up."""
import json
import os
import signal
import subprocess
import time

from conftest import app_path, base_args, start_uwsgi, uwsgi_binary
from helpers_core import wait_for, file_lines
from helpers_core import get_result as get

APP = app_path('spooler_app.py')


def tasks(spool):
    return sorted(p for p in spool.rglob('uwsgi_spoolfile_on_*'))


def start(tmp_path, *extra, env=None, freq='1'):
    out = tmp_path / 'out'
    out.mkdir(exist_ok=True)
    e = {'SPOOL_OUT_DIR': str(out)}
    e.update(env or {})
    return start_uwsgi(['--master', '--wsgi-file', APP, '--spooler', str(tmp_path / 'spool'),
                        '--spooler-frequency', freq] + list(extra), env=e, timeout=15)


def test_task_runs_with_body_and_file_format(tmp_path):
    srv = start(tmp_path)
    try:
        out = tmp_path / 'out'
        path = get(srv, '/spool?kind=marker&name=a&body=hello')
        assert path.startswith(str((tmp_path / 'spool').resolve()) + '/uwsgi_spoolfile_on_')
        assert wait_for(lambda: file_lines(out / 'marker_a')), srv.log()[-2000:]
        assert file_lines(out / 'marker_a')[0].endswith(' hello')
        assert wait_for(lambda: not tasks(tmp_path / 'spool')), tasks(tmp_path / 'spool')
        # Keyword form.
        get(srv, '/spool-kw?name=k')
        assert wait_for(lambda: file_lines(out / 'marker_k')), srv.log()[-2000:]
    finally:
        srv.stop()


def test_spool_file_is_uwsgi_packet(tmp_path):
    # Held: the file stays, and its bytes are uWSGI's format (modifier1 17, le16 sizes, body after).
    srv = start(tmp_path, env={'SPOOL_HOLD': '1'})
    try:
        path = get(srv, '/spool?kind=marker&name=f&body=BODY')
        data = open(path, 'rb').read()
        assert data[0] == 17 and data[3] == 0
        size = data[1] | data[2] << 8
        vars_, i = {}, 4
        while i < 4 + size:
            kl = data[i] | data[i + 1] << 8
            k = data[i + 2:i + 2 + kl]
            i += 2 + kl
            vl = data[i] | data[i + 1] << 8
            vars_[k] = data[i + 2:i + 2 + vl]
            i += 2 + vl
        assert vars_ == {b'kind': b'marker', b'name': b'f'}
        assert data[4 + size:] == b'BODY'
        assert not list((tmp_path / 'spool').glob('.*')), 'no temp file left'
    finally:
        srv.stop()


def test_retry_then_ok_and_exception_retries(tmp_path):
    srv = start(tmp_path)
    try:
        out = tmp_path / 'out'
        get(srv, '/spool?kind=retry&name=r')
        get(srv, '/spool?kind=raise&name=x')
        assert wait_for(lambda: file_lines(out / 'done_r') and file_lines(out / 'done_x')), srv.log()[-3000:]
        assert file_lines(out / 'retry_r') == ['try', 'try']
        assert file_lines(out / 'raise_x') == ['try', 'try']
        assert 'first try fails' in srv.log()  # the traceback is logged
        assert wait_for(lambda: not tasks(tmp_path / 'spool'))
    finally:
        srv.stop()


def test_spool_decorator_with_args(tmp_path):
    srv = start(tmp_path)
    try:
        out = tmp_path / 'out'
        get(srv, '/deco?x=seven')
        get(srv, '/deco2?a=1&b=2')
        assert wait_for(lambda: file_lines(out / 'deco') and file_lines(out / 'deco2')), srv.log()[-3000:]
        assert file_lines(out / 'deco') == ['seven']
        assert file_lines(out / 'deco2') == ['1 2']
    finally:
        srv.stop()


def test_at_in_the_future_waits_and_priority_subdir(tmp_path):
    srv = start(tmp_path)
    try:
        out = tmp_path / 'out'
        at = int(time.time()) + 4
        get(srv, f'/spool?kind=marker&name=later&at={at}')
        path = get(srv, '/spool?kind=marker&name=prio&priority=5')
        assert os.path.dirname(path).endswith('/spool/5')
        assert wait_for(lambda: file_lines(out / 'marker_prio')), srv.log()[-2000:]
        assert not file_lines(out / 'marker_later')
        assert wait_for(lambda: file_lines(out / 'marker_later'), timeout=20), srv.log()[-2000:]
        assert time.time() >= at
        # Bad steering keys are refused at spool() time.
        status, _, body = srv.request('GET', '/spool?kind=marker&name=z&priority=high')
        assert 'priority must be a number' in json.loads(body)['error']
        status, _, body = srv.request('GET', '/spool?kind=marker&name=z&spooler=/nowhere')
        assert 'not a configured --spooler' in json.loads(body)['error']
    finally:
        srv.stop()


def test_kill9_of_spooler_mid_task_runs_it_again(tmp_path):
    srv = start(tmp_path)
    try:
        out = tmp_path / 'out'
        get(srv, '/spool?kind=slow&name=s')
        assert wait_for(lambda: file_lines(out / 'started_s')), srv.log()[-2000:]
        pid = int(file_lines(out / 'started_s')[0])
        assert len(tasks(tmp_path / 'spool')) == 1
        os.kill(pid, signal.SIGKILL)
        assert wait_for(lambda: file_lines(out / 'done_s'), timeout=20), srv.log()[-3000:]
        assert len(file_lines(out / 'started_s')) == 2
        assert int(file_lines(out / 'started_s')[1]) != pid  # a respawned spooler ran it
        assert 'killed by signal 9: respawning' in srv.log()
        assert wait_for(lambda: not tasks(tmp_path / 'spool'))
    finally:
        srv.stop()


def test_full_restart_keeps_a_queued_task(tmp_path):
    srv = start(tmp_path, env={'SPOOL_HOLD': '1'})
    try:
        get(srv, '/spool?kind=marker&name=kept')
        assert wait_for(lambda: 'kept' in file_lines(tmp_path / 'out' / 'held')), srv.log()[-2000:]
    finally:
        srv.stop()
    assert len(tasks(tmp_path / 'spool')) == 1
    srv = start(tmp_path)
    try:
        assert wait_for(lambda: file_lines(tmp_path / 'out' / 'marker_kept')), srv.log()[-2000:]
        assert wait_for(lambda: not tasks(tmp_path / 'spool'))
    finally:
        srv.stop()


def test_harakiri_and_max_tasks(tmp_path):
    srv = start(tmp_path, '--spooler-harakiri', '2', '--spooler-max-tasks', '1')
    try:
        out = tmp_path / 'out'
        get(srv, '/spool?kind=slow&name=h')  # first run sleeps 60 s: the harakiri ends it
        assert wait_for(lambda: file_lines(out / 'done_h'), timeout=25), srv.log()[-3000:]
        assert 'killed by signal 14' in srv.log()
        assert 'maximum number of tasks reached' in srv.log()
    finally:
        srv.stop()


def run_bad(tmp_path, *args):
    r = subprocess.run([str(uwsgi_binary())] + base_args() + ['--http-socket', '127.0.0.1:0', '--wsgi-file', APP] +
                       list(args), capture_output=True, text=True, timeout=20,
                       env=dict(os.environ, SPOOL_OUT_DIR=str(tmp_path)))
    assert r.returncode != 0, r.stdout + r.stderr
    return r.stdout + r.stderr


def test_bad_options_stop_start_up(tmp_path):
    assert 'needs --master' in run_bad(tmp_path, '--spooler', str(tmp_path / 's'))
    assert 'spooler-frequency' in run_bad(tmp_path, '--master', '--spooler', str(tmp_path / 's'),
                                          '--spooler-frequency', 'often')
    assert str(tmp_path / 'no' / 'such') in run_bad(tmp_path, '--master', '--spooler', str(tmp_path / 'no' / 'such'))
    f = tmp_path / 'file'
    f.write_text('')
    assert 'not a directory' in run_bad(tmp_path, '--master', '--spooler', str(f))


def test_spool_wakes_the_spooler_before_the_next_scan(tmp_path):
    # --spooler-frequency 60: the first scan is over, yet a new task runs at once.
    srv = start(tmp_path, freq='60')
    try:
        assert srv.wait_log('spawned the uWSGI spooler', timeout=10)
        time.sleep(1)
        get(srv, '/spool?kind=marker&name=fast')
        assert wait_for(lambda: file_lines(tmp_path / 'out' / 'marker_fast'), timeout=20), srv.log()[-2000:]
    finally:
        srv.stop()


def test_lazy_apps_spooler_imports_the_app(tmp_path):
    srv = start(tmp_path, '--lazy-apps', '--processes', '2')
    try:
        get(srv, '/spool?kind=marker&name=lazy')
        get(srv, '/deco?x=lazy')
        assert wait_for(lambda: file_lines(tmp_path / 'out' / 'marker_lazy') and file_lines(tmp_path / 'out' / 'deco')), \
            srv.log()[-2000:]
    finally:
        srv.stop()


def test_spooler_does_not_outlive_a_killed_master(tmp_path):
    srv = start(tmp_path)
    try:
        get(srv, '/spool?kind=slow&name=orphan')
        assert wait_for(lambda: file_lines(tmp_path / 'out' / 'started_orphan')), srv.log()[-2000:]
        pid = int(file_lines(tmp_path / 'out' / 'started_orphan')[0])
        os.kill(srv.proc.pid, signal.SIGKILL)

        def gone():
            try:
                os.kill(pid, 0)
                return open(f'/proc/{pid}/stat').read().split()[2] == 'Z'
            except (ProcessLookupError, FileNotFoundError):
                return True
        assert wait_for(gone, timeout=10)
        assert len(tasks(tmp_path / 'spool')) == 1  # the task cut short is still queued
    finally:
        srv.stop()
