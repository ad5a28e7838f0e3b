"""What happens when the master is killed with SIGKILL (issue 18): its workers leave by themselves
(PR_SET_PDEATHSIG: SIGINT, a graceful stop: an in-flight request is finished first), its plain
attached daemons get their stop signal, smart daemons (a pidfile) keep running. --no-orphans and
--reaper are accepted."""
import os
import signal
import threading
import time
from pathlib import Path

from conftest import app_path, start_uwsgi
from helpers_core import wait_for, pids_in
from helpers_core import children_of, pids_alive

APP = app_path('supervise_app.py')


def start(tmp_path, *args, workers=2):
    srv = start_uwsgi(['--wsgi-file', APP, '--master', '--processes', str(workers)] + list(args),
                      log_dir=str(tmp_path))
    assert wait_for(lambda: len(children_of(srv.proc.pid)) >= workers), srv.log()
    return srv


def test_workers_leave_within_a_second_of_the_master(tmp_path):
    srv = start(tmp_path, '--no-orphans')
    try:
        workers = children_of(srv.proc.pid)
        assert len(workers) == 2
        os.kill(srv.proc.pid, signal.SIGKILL)
        srv.proc.wait(timeout=5)
        t0 = time.monotonic()
        assert wait_for(lambda: not pids_alive(workers), 5), srv.log()
        assert time.monotonic() - t0 < 2.0
    finally:
        srv.stop()


def test_lazy_apps_workers_leave_too(tmp_path):
    srv = start(tmp_path, '--lazy-apps')
    try:
        workers = children_of(srv.proc.pid)
        os.kill(srv.proc.pid, signal.SIGKILL)
        srv.proc.wait(timeout=5)
        assert wait_for(lambda: not pids_alive(workers), 5), srv.log()
    finally:
        srv.stop()


def test_in_flight_request_is_finished_then_the_worker_leaves(tmp_path):
    srv = start(tmp_path, workers=1)
    try:
        workers = children_of(srv.proc.pid)
        got = {}

        def slow():
            got['r'] = srv.request('GET', '/sleep?1.5', timeout=10)

        t = threading.Thread(target=slow)
        t.start()
        time.sleep(0.5)
        os.kill(srv.proc.pid, signal.SIGKILL)
        t.join(10)
        assert got['r'][0] == 200 and got['r'][2] == b'slept'
        assert wait_for(lambda: not pids_alive(workers), 5), srv.log()
    finally:
        srv.stop()


def test_plain_daemon_goes_smart_daemon_stays(tmp_path):
    plain, smart, pidfile = tmp_path / 'p.pids', tmp_path / 's.pids', tmp_path / 's.pid'
    srv = start(tmp_path, '--attach-daemon', f'echo $$ >> {plain}; exec sleep 600',
                '--smart-attach-daemon', f'{pidfile} echo $$ > {pidfile}; echo $$ >> {smart}; exec sleep 600')
    try:
        assert wait_for(lambda: pids_in(plain) and pids_in(smart)), srv.log()
        os.kill(srv.proc.pid, signal.SIGKILL)
        srv.proc.wait(timeout=5)
        assert wait_for(lambda: not pids_alive(pids_in(plain)), 5)
        time.sleep(0.5)
        assert pids_alive(pids_in(smart)), 'a smart daemon survives the master'
    finally:
        srv.stop()
        for p in pids_in(plain) + pids_in(smart):
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_reaper_reaps_the_apps_children(tmp_path):
    app = tmp_path / 'spawner.py'
    app.write_text(
        'import os\n'
        'def application(env, start_response):\n'
        '    if env["PATH_INFO"] == "/spawn":\n'
        '        if os.fork() == 0:\n'
        '            os._exit(0)  # never waited for: a zombie without --reaper\n'
        '    start_response("200 OK", [])\n'
        '    return [str(os.getpid()).encode()]\n')
    srv = start_uwsgi(['--wsgi-file', str(app), '--master', '--reaper'], log_dir=str(tmp_path))
    try:
        _, _, body = srv.request('GET', '/spawn')
        worker = int(body)
        time.sleep(0.3)
        srv.request('GET', '/')  # the reap runs after each request

        def zombies():
            out = []
            for c in [int(x) for t in Path(f'/proc/{worker}/task').iterdir()
                      for x in (t / 'children').read_text().split()]:
                try:
                    if Path(f'/proc/{c}/stat').read_text().split(')')[-1].split()[0] == 'Z':
                        out.append(c)
                except OSError:
                    pass
            return out

        assert wait_for(lambda: not zombies(), 3)
    finally:
        srv.stop()
