"""Process supervision (issue 18): touch-reload / touch-workers-reload / touch-chain-reload,
recycling (reload-on-rss, max-worker-lifetime), limits (max-fd, limit-as).

Every server runs the real binary under a master (apps/supervise_app.py) and is stopped at teardown.
"""
import os
import threading
import time
from pathlib import Path

import pytest

from conftest import app_path, free_port, start_uwsgi
from test_signals_process import in_flight

APP = app_path('supervise_app.py')


def get(srv, path, timeout=10):
    status, _, body = srv.request('GET', path, timeout=timeout)
    return status, body.decode()


def workers(srv):
    """The master's children (its workers), sorted."""
    p = Path(f'/proc/{srv.proc.pid}/task/{srv.proc.pid}/children')
    try:
        return sorted(int(x) for x in p.read_text().split())
    except OSError:
        return []


def wait_for(cond, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.1)
    return cond()


def touch(path):
    # A later mtime even on a coarse clock: the master compares it with the one it saw.
    t = time.time() + 5
    Path(path).touch()
    os.utime(path, (t, t))


def fails_to_start(args, tmp_path):
    """Start-up must stop (the socket may be bound before it does): (exit code, log)."""
    srv = start_uwsgi(args, wait=False, log_dir=str(tmp_path))
    try:
        rc = srv.proc.wait(timeout=15)
        return rc, srv.log()
    finally:
        srv.stop()


def started(srv, n):
    assert wait_for(lambda: len(workers(srv)) == n), srv.log()
    return workers(srv)


def test_touch_reload_replaces_workers_and_finishes_the_request_in_flight(uwsgi_server, tmp_path):
    f = tmp_path / 'reload.txt'
    f.write_text('')
    srv = uwsgi_server('--wsgi-file', APP, '--master', '--processes', '2', '--touch-reload', str(f))
    old = started(srv, 2)
    master = srv.proc.pid
    t, res = in_flight(srv, '/sleep?2')
    time.sleep(0.5)
    touch(f)
    assert srv.wait_log('re-executing', timeout=20), srv.log()
    t.join(timeout=30)
    assert res.get('status') == 200 and res.get('body') == 'slept', (res, srv.log())
    assert wait_for(lambda: len(workers(srv)) == 2 and not set(workers(srv)) & set(old), 15), srv.log()
    assert srv.proc.pid == master and srv.proc.poll() is None
    assert get(srv, '/')[0] == 200
    assert 'touch-reload' in srv.log()


def test_touch_reload_onto_a_broken_app_is_cancelled(uwsgi_server, tmp_path):
    app = tmp_path / 'app.py'
    app.write_text(open(APP).read())
    srv = uwsgi_server('--wsgi-file', str(app), '--master', '--touch-reload', str(app))
    old = started(srv, 1)
    app.write_text('raise RuntimeError("broken on purpose")\n')
    touch(app)
    assert srv.wait_log('reload cancelled', timeout=20), srv.log()
    assert 'broken on purpose' in srv.log()
    assert workers(srv) == old and get(srv, '/')[0] == 200


def test_touch_workers_reload_keeps_the_master(uwsgi_server, tmp_path):
    f = tmp_path / 'w.txt'
    srv = uwsgi_server('--wsgi-file', APP, '--master', '--processes', '2', '--touch-workers-reload', str(f))
    old = started(srv, 2)
    f.write_text('')  # created: a touch too
    touch(f)
    assert wait_for(lambda: len(workers(srv)) == 2 and not set(workers(srv)) & set(old), 15), srv.log()
    log = srv.log()
    assert 'reloading the workers gracefully' in log and 're-executing' not in log, log
    assert get(srv, '/')[0] == 200


def test_touch_chain_reload_replaces_one_worker_at_a_time(uwsgi_server, tmp_path):
    f = tmp_path / 'c.txt'
    f.write_text('')
    srv = uwsgi_server('--wsgi-file', APP, '--master', '--lazy-apps', '--processes', '2',
                       '--touch-chain-reload', str(f))
    old = started(srv, 2)
    # Requests all along: the chain never leaves the server without a worker.
    stop, failures = threading.Event(), []

    def load():
        while not stop.is_set():
            try:
                if get(srv, '/', timeout=10)[0] != 200:
                    failures.append('status')
            except Exception as e:  # noqa: BLE001
                failures.append(repr(e))
            time.sleep(0.02)
    th = threading.Thread(target=load, daemon=True)
    th.start()
    touch(f)
    try:
        assert srv.wait_log('chain reload done', timeout=20), srv.log()
    finally:
        stop.set()
        th.join(timeout=15)
    log = srv.log()
    assert log.index('chain reload: worker 1') < log.index('chain reload: worker 2'), log
    assert not set(workers(srv)) & set(old), log
    assert not failures, (failures, log)


def test_reload_on_rss_recycles_a_leaking_worker(uwsgi_server):
    srv = uwsgi_server('--wsgi-file', APP, '--master', '--reload-on-rss', '100')
    old = started(srv, 1)
    assert get(srv, '/grow?150') == (200, 'grown')  # the request itself completes
    assert wait_for(lambda: workers(srv) and workers(srv) != old, 10), srv.log()
    log = srv.log()
    assert 'over --reload-on-rss: recycling' in log and 'recycled' not in log.split('reload-on-rss')[0], log
    assert get(srv, '/')[0] == 200


def test_max_worker_lifetime_recycles(uwsgi_server):
    srv = uwsgi_server('--wsgi-file', APP, '--master', '--max-worker-lifetime', '2')
    old = started(srv, 1)
    assert wait_for(lambda: workers(srv) and workers(srv) != old, 10), srv.log()
    assert 'reached --max-worker-lifetime' in srv.log()
    assert get(srv, '/')[0] == 200


def test_max_fd_and_limit_as_reach_the_workers(uwsgi_server):
    srv = uwsgi_server('--wsgi-file', APP, '--master', '--max-fd', '512', '--limit-as', '4096')
    (w,) = started(srv, 1)
    limits = Path(f'/proc/{w}/limits').read_text()
    files = next(line for line in limits.splitlines() if line.startswith('Max open files')).split()
    assert files[3:5] == ['512', '512'], limits
    space = next(line for line in limits.splitlines() if line.startswith('Max address space')).split()
    assert space[3] == str(4096 << 20), limits


@pytest.mark.parametrize('opt', ['reload-on-rss', 'max-worker-lifetime', 'max-fd'])
def test_bad_recycling_values_stop_start_up(tmp_path, opt):
    rc, log = fails_to_start(['--wsgi-file', APP, '--master', f'--{opt}', '-3'], tmp_path)
    assert rc != 0 and opt in log, log


# ---- hooks ----------------------------------------------------------------------------------

def test_hooks_run_at_their_phase_in_order(uwsgi_server, tmp_path):
    out = tmp_path / 'order'
    d = tmp_path / 'made'
    args = ['--wsgi-file', APP, '--master', '--processes', '2']
    for phase in ('asap', 'pre-jail', 'as-root', 'as-user', 'pre-app', 'post-app', 'master-start',
                  'accepting1-once'):
        args += [f'--hook-{phase}', f'exec:echo {phase} >> {out}']
    args += ['--exec-asap', f'echo exec-asap >> {out}', '--hook-asap', f'mkdir:{d}',
             '--hook-as-user', f'write:{tmp_path / "w"} written', '--hook-asap', 'putenv:SUP_X=1',
             '--exec-pre-app', f'echo $SUP_X > {tmp_path / "env"}',
             '--hook-accepting', f'exec:echo accepting >> {out}',
             '--hook-as-user-atexit', f'exec:echo atexit >> {out}']
    srv = uwsgi_server(*args)
    started(srv, 2)
    assert wait_for(lambda: out.exists() and out.read_text().count('accepting\n') == 2
                    and 'accepting1-once' in out.read_text()), srv.log()
    lines = out.read_text().split()
    assert lines[:8] == ['asap', 'exec-asap', 'pre-jail', 'as-root', 'as-user', 'pre-app', 'post-app',
                         'master-start'], lines
    assert sorted(lines[8:]) == ['accepting', 'accepting', 'accepting1-once'], lines
    assert d.is_dir() and (tmp_path / 'w').read_text() == 'written'
    assert (tmp_path / 'env').read_text().strip() == '1'
    # A respawn runs accepting again, not accepting1-once.
    (w1, _) = workers(srv)
    os.kill(w1, 9)
    assert wait_for(lambda: out.read_text().count('accepting\n') == 3), srv.log()
    assert out.read_text().count('accepting1-once') == 1
    srv.stop()
    assert 'atexit' in out.read_text().split(), srv.log()


@pytest.mark.parametrize('opt,value', [('hook-asap', 'exec:exit 3'), ('exec-pre-app', 'false'),
                                       ('hook-master-start', 'exec:false'), ('hook-as-user', 'chdir:/nonexistent')])
def test_a_failing_hook_stops_start_up_naming_it(tmp_path, opt, value):
    rc, log = fails_to_start(['--wsgi-file', APP, '--master', f'--{opt}', value], tmp_path)
    assert rc != 0 and f'--{opt} "{value}" failed' in log and 'spawned worker' not in log, log


def test_an_unknown_hook_action_stops_start_up(tmp_path):
    rc, log = fails_to_start(['--wsgi-file', APP, '--hook-asap', 'frobnicate:x'], tmp_path)
    assert rc != 0 and 'unknown hook action "frobnicate"' in log and '--hook-asap' in log, log


def test_docker_hook_line_makes_sigterm_a_graceful_stop(uwsgi_server):
    srv = uwsgi_server('--wsgi-file', APP, '--master', '--hook-master-start',
                       'unix_signal:15 gracefully_kill_them_all')
    started(srv, 1)
    t, res = in_flight(srv, '/sleep?1.5')
    time.sleep(0.5)
    os.kill(srv.proc.pid, 15)
    t.join(timeout=30)
    assert res.get('status') == 200 and res.get('body') == 'slept', (res, srv.log())
    assert srv.proc.wait(timeout=15) == 0, srv.log()
    log = srv.log()
    assert 'goodbye' in log and 're-executing' not in log, log


def test_a_bad_unix_signal_hook_stops_start_up(tmp_path):
    rc, log = fails_to_start(['--wsgi-file', APP, '--master', '--hook-master-start',
                              'unix_signal:15 gracefully_kill_them'], tmp_path)
    assert rc != 0 and 'unknown handler "gracefully_kill_them"' in log and '--hook-master-start' in log, log


# ---- process names, orphans -----------------------------------------------------------------

def cmdline(pid):
    return Path(f'/proc/{pid}/cmdline').read_bytes().split(b'\0')[0].decode()


def comm(pid):
    return Path(f'/proc/{pid}/comm').read_text().strip()


def test_auto_procname_names_master_and_workers(uwsgi_server):
    srv = uwsgi_server('--wsgi-file', APP, '--master', '--processes', '2', '--auto-procname',
                       '--procname-prefix-spaced', 'shop', '--procname-append', ' [x]')
    w = started(srv, 2)
    assert wait_for(lambda: cmdline(srv.proc.pid) == 'shop uWSGI master [x]'), cmdline(srv.proc.pid)
    # A worker names itself right after fork (until then it has the master's name).
    assert wait_for(lambda: sorted(cmdline(p) for p in w) == ['shop uWSGI worker 1 [x]', 'shop uWSGI worker 2 [x]']), \
        [cmdline(p) for p in w]
    assert comm(srv.proc.pid) == 'shop uWSGI mast'  # PR_SET_NAME keeps 15 bytes
    assert get(srv, '/')[0] == 200


def test_procname_master_and_prefix_survive_a_reload(uwsgi_server):
    srv = uwsgi_server('--wsgi-file', APP, '--master', '--procname-master', 'boss', '--procname', 'app',
                       '--procname-prefix', 'x-')
    (w,) = started(srv, 1)
    assert wait_for(lambda: cmdline(srv.proc.pid) == 'x-boss' and cmdline(w) == 'x-app')
    os.kill(srv.proc.pid, 1)
    assert srv.wait_log('re-executing', timeout=20), srv.log()
    assert wait_for(lambda: len(workers(srv)) == 1 and workers(srv) != [w], 15), srv.log()
    assert wait_for(lambda: cmdline(srv.proc.pid) == 'x-boss'), cmdline(srv.proc.pid)
    assert wait_for(lambda: cmdline(workers(srv)[0]) == 'x-app') and get(srv, '/')[0] == 200


def test_workers_leave_when_the_master_is_killed(uwsgi_server):
    srv = uwsgi_server('--wsgi-file', APP, '--master', '--processes', '2', '--no-orphans')
    w = started(srv, 2)
    os.kill(srv.proc.pid, 9)

    def running(pid):
        try:
            return Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()[0] != 'Z'
        except OSError:
            return False
    assert wait_for(lambda: not any(running(p) for p in w), 10), srv.log()


def test_evil_reload_on_rss_kills_from_the_master(uwsgi_server):
    srv = uwsgi_server('--wsgi-file', APP, '--master', '--evil-reload-on-rss', '100')
    old = started(srv, 1)
    try:
        get(srv, '/grow?150')
    except Exception:  # noqa: BLE001 - evil: the kill may come while the request still grows
        pass
    assert wait_for(lambda: workers(srv) and workers(srv) != old, 10), srv.log()
    log = srv.log()
    assert 'over --evil-reload-on-rss 100 MB: killing it' in log and 'recycled (evil-reload-on-rss)' in log, log
    assert get(srv, '/')[0] == 200


def test_harakiri_verbose_logs_the_stuck_system_call(uwsgi_server):
    srv = uwsgi_server('--wsgi-file', APP, '--master', '--harakiri', '1', '--harakiri-verbose')
    started(srv, 1)
    try:
        get(srv, '/sleep?4', timeout=10)
    except Exception:  # noqa: BLE001 - the worker is killed under the request
        pass
    assert srv.wait_log('syscall:', timeout=10), srv.log()
    log = srv.log()
    assert 'HARAKIRI! worker 1' in log and 'wchan:' in log, log


def test_a_recycled_worker_gets_the_reload_mercy_then_is_killed(uwsgi_server):
    srv = uwsgi_server('--wsgi-file', APP, '--master', '--max-worker-lifetime', '1', '--reload-mercy', '1')
    old = started(srv, 1)
    try:
        get(srv, '/sleep?30', timeout=15)
    except Exception:  # noqa: BLE001 - killed under the request
        pass
    assert srv.wait_log('after it was asked to go (max-worker-lifetime): killing it', timeout=10), srv.log()
    assert wait_for(lambda: workers(srv) and workers(srv) != old, 10), srv.log()
