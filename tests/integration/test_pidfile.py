"""Pidfiles and the commands that signal an instance through one, as tutorials use them:
`--pidfile` is written before --uid/--gid drop privileges (so /run works), `--pidfile2` after,
`--safe-pidfile`/`--safe-pidfile2` by rename; `uwsgi --reload PIDFILE`, `uwsgi --stop PIDFILE`."""
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import app_path, base_args, uwsgi_binary
from helpers_core import wait_for


def _cli(*args):
    r = subprocess.run([str(uwsgi_binary())] + base_args() + [str(a) for a in args],
                       capture_output=True, text=True, timeout=10)
    return r.returncode, r.stdout + r.stderr


def _wait_exit(proc, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    return proc.poll()


def test_reload_and_stop_signal_the_pid_in_the_pidfile(uwsgi_server, tmp_path):
    pidfile = tmp_path / 'master.pid'
    srv = uwsgi_server('--wsgi-file', app_path('app.py'), '--master', '--processes', '1',
                       '--pidfile', pidfile)
    assert pidfile.read_text().strip() == str(srv.proc.pid)
    assert srv.wait_log('spawned worker 1')
    assert _cli('--reload', pidfile) == (0, '')
    assert srv.wait_log('graceful reload', timeout=10), srv.log()
    deadline = time.monotonic() + 15
    while srv.log().count('spawned worker 1') < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert srv.log().count('spawned worker 1') >= 2
    assert srv.request('GET', '/')[0] == 200
    assert _cli('--stop', pidfile) == (0, '')
    assert _wait_exit(srv.proc) == 0
    assert srv.wait_log('shutting down')


SLOW_LOADING_APP = """import time
time.sleep(1.5)  # the pidfile names the master while this loads, before its loop runs


def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'ok']
"""


def test_sighup_during_start_up_reloads_and_never_kills(uwsgi_server, tmp_path):
    # `uwsgi --reload PIDFILE` (or a logrotate/systemd reload) right after a start: SIGHUP is a
    # graceful reload whenever it comes; its default action (death) used to end the server.
    app, pidfile = tmp_path / 'slow_load.py', tmp_path / 'master.pid'
    app.write_text(SLOW_LOADING_APP)
    srv = uwsgi_server('--wsgi-file', app, '--master', '--processes', '1', '--pidfile', pidfile,
                       wait=False)
    deadline = time.monotonic() + 10
    while not pidfile.exists() and time.monotonic() < deadline and srv.proc.poll() is None:
        time.sleep(0.002)
    assert pidfile.exists(), srv.log()
    for _ in range(3):  # while the app loads (1.5 s): the master's loop does not run yet
        os.kill(srv.proc.pid, signal.SIGHUP)
        time.sleep(0.05)
    assert srv.wait_log('graceful reload', timeout=15), srv.log()
    deadline = time.monotonic() + 20
    while srv.log().count('spawned worker 1') < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert srv.proc.poll() is None, srv.log()
    assert srv.log().count('spawned worker 1') >= 2, srv.log()
    assert wait_for(lambda: _serves(srv)), srv.log()
    assert srv.proc.poll() is None and srv.log().count('graceful reload') == 1, srv.log()


def _serves(srv):
    try:
        return srv.request('GET', '/', timeout=2)[2] == b'ok'
    except Exception:  # refused, reset or cut while the reload swaps the workers
        return False


def test_signal_commands_name_the_problem(tmp_path):
    rc, out = _cli('--stop', tmp_path / 'missing.pid')
    assert rc == 1 and 'missing.pid' in out and 'No such file' in out
    bad = tmp_path / 'bad.pid'
    for text in ('', 'junk\n', '0\n', '-1\n'):  # never kill(0) / kill(-1): whole process groups
        bad.write_text(text)
        rc, out = _cli('--reload', bad)
        assert rc == 1 and 'holds no pid' in out, (text, out)
    p = subprocess.Popen(['true'])
    p.wait()
    bad.write_text(f'{p.pid}\n')  # a pid that is gone
    rc, out = _cli('--stop', bad)
    assert rc == 1 and 'No such process' in out


def test_safe_pidfile_and_vacuum(uwsgi_server, tmp_path):
    safe = tmp_path / 'safe.pid'
    srv = uwsgi_server('--wsgi-file', app_path('app.py'), '--master', '--processes', '1',
                       '--safe-pidfile', safe, '--vacuum')
    assert safe.read_text() == f'{srv.proc.pid}\n'
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith('safe.pid')] == ['safe.pid']
    assert srv.wait_log('spawned worker 1')
    srv.stop()
    assert not safe.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason='needs root to change uid')
def test_pidfile_is_written_before_the_uid_drop(uwsgi_server):
    root_only = tempfile.mkdtemp(prefix='uwsgi-run-')  # root's 0700: nobody cannot write here
    open_dir = tempfile.mkdtemp(prefix='uwsgi-nobody-')
    os.chmod(open_dir, 0o777)
    pidfile, pidfile2 = Path(root_only) / 'app.pid', Path(open_dir) / 'app2.pid'
    try:
        srv = uwsgi_server('--wsgi-file', app_path('app.py'), '--master', '--processes', '1',
                           '--uid', 'nobody', '--gid', 'nogroup', '--pidfile', pidfile, '--pidfile2', pidfile2)
        assert pidfile.read_text().strip() == str(srv.proc.pid)
        assert os.stat(pidfile).st_uid == 0
        assert pidfile2.read_text().strip() == str(srv.proc.pid)
        assert os.stat(pidfile2).st_uid == 65534
        # A reload re-executes the master, now nobody: it must not fail on the root-owned pidfile.
        assert srv.wait_log('spawned worker 1')
        os.kill(srv.proc.pid, 1)
        deadline = time.monotonic() + 15
        while srv.log().count('spawned worker 1') < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert srv.proc.poll() is None, srv.log()
        assert srv.request('GET', '/')[0] == 200
    finally:
        for p in (pidfile, pidfile2):
            if p.exists():
                p.unlink()
        os.rmdir(root_only)
        os.rmdir(open_dir)
