"""--log-master covers the mules and the spooler as it covers the workers: their stdout/stderr are
the channel to the master (not the master's own fds), and what they print reaches the log."""
import os

from conftest import app_path, start_uwsgi
from helpers_core import wait_for, file_lines


def fd_target(pid, fd):
    return os.readlink(f'/proc/{pid}/fd/{fd}')


def test_mule_and_spooler_log_through_the_master(tmp_path):
    (tmp_path / 'out').mkdir()
    env = {'TASKS_OUT_DIR': str(tmp_path / 'out'), 'MULE_OUT_DIR': str(tmp_path / 'out'), 'PYTHONUNBUFFERED': '1'}
    srv = start_uwsgi(['--master', '--processes', '1', '--log-master', '--wsgi-file', app_path('tasks_app.py'),
                       '--mule=' + app_path('mule_print.py'), '--spooler', str(tmp_path / 'spool')],
                      env=env, timeout=15)
    try:
        assert wait_for(lambda: 'mule says hello' in srv.log()), srv.log()[-2000:]
        pid = int(file_lines(tmp_path / 'out' / 'mule_pid')[0])
        master = srv.proc.pid
        assert wait_for(lambda: 'spawned the uWSGI spooler' in srv.log())
        children = open(f'/proc/{master}/task/{master}/children').read().split()
        assert str(pid) in children
        # The master's stderr is the test's log file; every child's is the master's log channel.
        assert fd_target(master, 2) != fd_target(pid, 2)
        for child in children:
            for fd in (1, 2):
                assert fd_target(child, fd).startswith('socket:'), (child, fd, fd_target(child, fd))
        assert len({fd_target(c, 2) for c in children}) == 1
    finally:
        srv.stop()
