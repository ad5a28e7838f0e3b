"""The --logto file's life: --touch-logreopen and a reload (SIGHUP) after logrotate's rename,
--logfile-chmod, --logfile-chown, --log-truncate."""
import grp
import os
import re
import signal
import stat
import time
import urllib.request

from conftest import app_path, start_uwsgi

APP = app_path('log_app.py')


def get(port, path):
    with urllib.request.urlopen(f'http://127.0.0.1:{port}{path}', timeout=5) as r:
        return r.status


def wait_text(path, text, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors='replace'):
            return True
        time.sleep(0.05)
    return False


def test_touch_logreopen_after_rename(uwsgi_server, tmp_path):
    log, trigger = tmp_path / 'app.log', tmp_path / 'reopen'
    trigger.write_text('')
    srv = uwsgi_server('--wsgi-file', APP, '--master', '--processes', '2', '--logto', str(log),
                       '--touch-logreopen', str(trigger))
    assert get(srv.port, '/before') == 200
    assert wait_text(log, 'GET /before')
    os.rename(log, tmp_path / 'app.log.1')  # what logrotate does
    time.sleep(0.02)
    os.utime(trigger, (time.time() + 5, time.time() + 5))
    for i in range(40):  # both workers write, each into the new file
        assert get(srv.port, f'/after{i}') == 200
    assert wait_text(log, 'GET /after39')
    old = (tmp_path / 'app.log.1').read_text()
    assert 'GET /before' in old and 'GET /after' not in old
    assert 'GET /before' not in log.read_text()


def test_sighup_reopens_renamed_log(uwsgi_server, tmp_path):
    log = tmp_path / 'app.log'
    srv = uwsgi_server('--wsgi-file', APP, '--master', '--logto', str(log), '--log-reopen')
    assert get(srv.port, '/before') == 200
    assert wait_text(log, 'GET /before')
    os.rename(log, tmp_path / 'app.log.1')
    os.kill(srv.proc.pid, signal.SIGHUP)
    assert wait_text(log, 'spawning', timeout=15)  # the reloaded master writes the new file
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if get(srv.port, '/after') == 200 and wait_text(log, 'GET /after', 1):
                break
        except OSError:
            time.sleep(0.1)
    assert 'GET /after' in log.read_text()
    assert 'GET /after' not in (tmp_path / 'app.log.1').read_text()


def test_logfile_chmod_and_chown(uwsgi_server, tmp_path):
    log = tmp_path / 'app.log'
    nogroup = grp.getgrnam('nogroup').gr_gid
    uwsgi_server('--wsgi-file', APP, '--logto', str(log), '--logfile-chmod', '640', '--logfile-chown',
                 '--uid', 'root', '--gid', 'nogroup')
    st = os.stat(log)
    assert stat.S_IMODE(st.st_mode) == 0o640
    assert (st.st_uid, st.st_gid) == (0, nogroup)


def test_bad_logfile_options_stop_startup(tmp_path):
    for args, text in [(['--logto', str(tmp_path / 'l'), '--logfile-chmod', 'rw'], '--logfile-chmod'),
                       (['--logto', str(tmp_path / 'l'), '--logfile-chown'], '--logfile-chown'),
                       (['--logfile-chmod', '600'], 'need a log file')]:
        srv = start_uwsgi(['--wsgi-file', APP] + args, wait=False, log_dir=str(tmp_path))
        try:
            assert srv.proc.wait(10) != 0
            logged = (tmp_path / 'l').read_text(errors='replace') if (tmp_path / 'l').exists() else ''
            assert text in srv.log() + logged
        finally:
            srv.stop()


def test_log_truncate_empties_the_file_at_start(uwsgi_server, tmp_path):
    log = tmp_path / 'app.log'
    log.write_text('OLD LINE\n' * 100)
    srv = uwsgi_server('--wsgi-file', APP, '--master', '--logto', str(log), '--log-truncate')
    assert get(srv.port, '/new') == 200
    assert wait_text(log, 'GET /new')
    assert 'OLD LINE' not in log.read_text()
    # A reload keeps what the file has: it is no new start.
    os.kill(srv.proc.pid, signal.SIGHUP)
    deadline = time.monotonic() + 15
    while log.read_text().count('spawning') < 2 and time.monotonic() < deadline:  # the new master
        time.sleep(0.05)
    assert log.read_text().count('spawning') == 2
    assert 'GET /new' in log.read_text()


def test_touch_logrotate_renames_the_file(uwsgi_server, tmp_path):
    log, trigger, backup = tmp_path / 'app.log', tmp_path / 'rotate', tmp_path / 'app.old'
    trigger.write_text('')
    srv = uwsgi_server('--wsgi-file', APP, '--master', '--processes', '2', '--logto', str(log),
                       '--touch-logrotate', str(trigger), '--log-backupname', str(backup))
    assert get(srv.port, '/before') == 200
    assert wait_text(log, 'GET /before')
    os.utime(trigger, (time.time() + 5, time.time() + 5))
    for i in range(40):
        assert get(srv.port, f'/after{i}') == 200
    assert wait_text(log, 'GET /after39')
    assert 'GET /before' in backup.read_text() and 'GET /after' not in backup.read_text()
    assert 'GET /before' not in log.read_text()


def test_log_maxsize_keeps_logfile_chmod_on_the_new_file(uwsgi_server, tmp_path):
    log = tmp_path / 'app.log'
    srv = uwsgi_server('--wsgi-file', APP, '--logto', str(log), '--logfile-chmod', '640', '--log-maxsize', '1000')
    for i in range(30):
        assert get(srv.port, f'/r{i}') == 200
    assert wait_text(log, 'GET /r29') and list(tmp_path.glob('app.log.*'))
    assert stat.S_IMODE(os.stat(log).st_mode) == 0o640


def test_log_maxsize_with_log_master(uwsgi_server, tmp_path):
    log = tmp_path / 'app.log'
    srv = uwsgi_server('--wsgi-file', APP, '--master', '--processes', '2', '--log-master', '--logto', str(log),
                       '--log-maxsize', '3000')
    for i in range(60):
        assert get(srv.port, f'/r{i}') == 200
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        text = ''.join(p.read_text() for p in tmp_path.glob('app.log*'))
        if text.count(' GET /r') == 60:
            break
        time.sleep(0.05)
    assert sorted(re.findall(r' GET (/r\d+) ', text)) == sorted(f'/r{i}' for i in range(60))
    backups = list(tmp_path.glob('app.log.*'))
    assert len(backups) >= 2
    for b in backups:  # only the master writes: each backup stops at the first line past the size
        assert 3000 <= b.stat().st_size < 3000 + 300
