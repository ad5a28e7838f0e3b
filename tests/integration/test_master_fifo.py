"""--master-fifo (issue 18): every one-letter command of uWSGI's table, the slots, unknown letters."""
import os
import socket
import stat
import time
from pathlib import Path

import pytest

from conftest import app_path, start_uwsgi
from helpers_core import children_of, pids_alive

APP = app_path('app.py')


def wait_for(cond, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.1)
    return cond()


@pytest.fixture
def server(tmp_path):
    started = []

    def start(*args, workers=2):
        fifo = tmp_path / 'fifo'
        srv = start_uwsgi(['--wsgi-file', APP, '--master', '--processes', str(workers), '--reload-mercy', '3',
                           '--master-fifo', str(fifo)] + list(args), log_dir=str(tmp_path))
        srv.fifo = fifo
        started.append(srv)
        assert wait_for(lambda: len(children_of(srv.proc.pid)) == workers), srv.log()
        return srv

    yield start
    for srv in started:
        srv.stop()


def send(path, cmds):
    fd = os.open(str(path), os.O_WRONLY | os.O_NONBLOCK)
    try:
        os.write(fd, cmds.encode())
    finally:
        os.close(fd)


def after(srv, cmds, text, timeout=10.0, fifo=None):
    """Send cmds, then wait for text in the log written after them; returns that log part."""
    offset = len(srv.log())
    send(fifo or srv.fifo, cmds)
    assert wait_for(lambda: text in srv.log()[offset:], timeout), srv.log()[offset:]
    return srv.log()[offset:]


def serving(srv):
    try:
        return srv.request('GET', '/', timeout=3)[0] == 200
    except OSError:
        return False


def test_fifo_is_created(server):
    srv = server()
    assert stat.S_ISFIFO(os.stat(srv.fifo).st_mode)


def test_r_graceful_reload(server):
    srv = server()
    master = srv.proc.pid
    old = children_of(master)
    after(srv, 'r', 'reloading: re-executing')
    assert wait_for(lambda: len(children_of(master)) == 2 and not set(children_of(master)) & set(old))
    assert srv.proc.poll() is None and wait_for(lambda: serving(srv))
    # The new master image made the fifo again and still reads it.
    after(srv, 's', 'SIGUSR1 stats')


def test_R_brutal_reload(server):
    srv = server()
    log = after(srv, 'R', 'reloading: re-executing')
    assert 'graceful reload' in log or 'stopping' in log
    assert wait_for(lambda: serving(srv))


def test_c_chain_reload(server):
    srv = server()
    old = children_of(srv.proc.pid)
    after(srv, 'c', 'chain reload done', timeout=20)
    assert wait_for(lambda: not set(children_of(srv.proc.pid)) & set(old))
    assert serving(srv)


def test_q_graceful_shutdown(server):
    srv = server()
    workers = children_of(srv.proc.pid)
    send(srv.fifo, 'q')
    assert srv.proc.wait(timeout=15) == 0
    assert 'shutting down' in srv.log()
    assert wait_for(lambda: not pids_alive(workers), 3)


def test_Q_brutal_shutdown(server):
    srv = server()
    workers = children_of(srv.proc.pid)
    send(srv.fifo, 'Q')
    assert srv.proc.wait(timeout=10) == 0
    assert wait_for(lambda: not pids_alive(workers), 3)


@pytest.mark.parametrize('cmd', ['w', 'W'])
def test_w_W_reload_workers_only(server, cmd):
    srv = server()
    master, old = srv.proc.pid, children_of(srv.proc.pid)
    after(srv, cmd, 'reloading the workers')
    assert wait_for(lambda: len(children_of(master)) == 2 and not set(children_of(master)) & set(old))
    assert 're-executing' not in srv.log() and wait_for(lambda: serving(srv))


def test_s_prints_stats(server):
    srv = server()
    after(srv, 's', 'SIGUSR1 stats: 2 worker(s)')


def test_p_pauses_and_resumes(server):
    srv = server()
    after(srv, 'p', 'pausing 2 worker(s)')
    state = lambda p: Path(f'/proc/{p}/stat').read_text().split(')')[-1].split()[0]
    assert wait_for(lambda: all(state(p) == 'T' for p in children_of(srv.proc.pid)))
    # A request waits in the listen queue, and is served once resumed.
    c = socket.create_connection(('127.0.0.1', srv.port), timeout=10)
    c.sendall(b'GET / HTTP/1.0\r\n\r\n')
    c.settimeout(1)
    with pytest.raises(socket.timeout):
        c.recv(100)
    after(srv, 'p', 'resuming 2 worker(s)')
    c.settimeout(10)
    assert c.recv(100).startswith(b'HTTP/1.')
    c.close()


def test_P_writes_pidfiles(server, tmp_path):
    pidfile = tmp_path / 'master.pid'
    srv = server('--pidfile', str(pidfile))
    pidfile.unlink()
    after(srv, 'P', 'wrote the pid to')
    assert pidfile.read_text().strip() == str(srv.proc.pid)


def test_l_reopens_and_L_rotates_the_log(tmp_path):
    logto, fifo = tmp_path / 'server.log', tmp_path / 'fifo'
    srv = start_uwsgi(['--wsgi-file', APP, '--master', '--logto', str(logto), '--master-fifo', str(fifo)],
                      log_dir=str(tmp_path))
    try:
        assert wait_for(lambda: logto.exists() and 'spawned worker' in logto.read_text())
        moved = tmp_path / 'server.log.old'
        logto.rename(moved)  # an outside rotation
        send(fifo, 'l')
        assert wait_for(lambda: logto.exists() and 'reopened' in logto.read_text())
        send(fifo, 'L')
        assert wait_for(lambda: any(p.name.startswith('server.log.') and p != moved for p in tmp_path.iterdir()))
        assert wait_for(lambda: logto.exists() and 'rotated' in logto.read_text())
    finally:
        srv.stop()


@pytest.mark.parametrize('cmd,text', [
    ('+', 'only in cheaper mode'),
    ('-', 'only in cheaper mode'),
    ('f', "'f' (re-fork the master) is not supported"),
    ('E', 'not supported (no Emperor'),
    ('z', "unknown command 'z'"),
])
def test_unsupported_and_unknown_letters_are_logged(server, cmd, text):
    srv = server()
    log = after(srv, cmd, text)
    assert log.count(text) == 1
    assert srv.proc.poll() is None and serving(srv)


def test_slots_switch_the_active_fifo(server, tmp_path):
    second = tmp_path / 'fifo2'
    srv = server('--master-fifo', str(second))
    after(srv, '1', 'slot 1')
    # Now the second fifo is read; what goes to the first waits there.
    send(srv.fifo, 's')
    time.sleep(0.5)
    assert 'SIGUSR1 stats' not in srv.log()
    after(srv, 's', 'SIGUSR1 stats', fifo=second)
    after(srv, '0', 'slot 0', fifo=second)
    # The 's' left in the first fifo is read once slot 0 is active again.
    assert wait_for(lambda: srv.log().count('SIGUSR1 stats') == 2), srv.log()


def test_several_commands_in_one_write(server):
    srv = server()
    after(srv, 'ss\n', 'SIGUSR1 stats')
    assert wait_for(lambda: srv.log().count('SIGUSR1 stats') == 2)


def test_a_regular_file_is_not_replaced(tmp_path):
    f = tmp_path / 'notafifo'
    f.write_text('keep me')
    srv = start_uwsgi(['--wsgi-file', APP, '--master', '--master-fifo', str(f)], wait=False, log_dir=str(tmp_path))
    try:
        assert srv.proc.wait(timeout=15) != 0
        assert 'exists and is not a fifo' in srv.log()
        assert f.read_text() == 'keep me'
    finally:
        srv.stop()


def test_sigtstp_pauses_and_resumes_like_p(server):
    import signal
    srv = server()
    offset = len(srv.log())
    os.kill(srv.proc.pid, signal.SIGTSTP)
    assert wait_for(lambda: 'pausing 2 worker(s)' in srv.log()[offset:]), srv.log()
    assert srv.proc.poll() is None  # the master itself is not stopped
    os.kill(srv.proc.pid, signal.SIGTSTP)
    assert wait_for(lambda: 'resuming 2 worker(s)' in srv.log()[offset:]), srv.log()
    assert serving(srv)


def test_sigwinch_and_sigurg_are_harmless(server):
    import signal
    srv = server()
    workers = children_of(srv.proc.pid)
    for pid in [srv.proc.pid] + workers:
        for sig in (signal.SIGWINCH, signal.SIGURG):
            os.kill(pid, sig)
    time.sleep(0.5)
    assert srv.proc.poll() is None and children_of(srv.proc.pid) == workers and serving(srv)
