"""Signals and the process model, from issue 21 (items 10, 11, 13-16): SIGUSR1/SIGUSR2 report and
stop nothing; a stop honours --reload-mercy with and without a master and says what it waits for;
a reload keeps the process name; --stats without a master; bad start-up values are refused; a
reload with a broken configuration keeps serving with the running one.

Everything runs the real binary with real signals (apps/ops_app.py: /sleep?S, /pid).
"""
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import ROOT, app_path, base_args, free_port, start_uwsgi, uwsgi_binary
from test_operations import get, get_quietly, pid_of, read_stats

APP = app_path('ops_app.py')


def has_plugin(name):
    return (ROOT / f'{name}_plugin.so').exists()


MODES = {
    'sync': [],
    'threads': ['--threads', '2'],
    'ugreen': ['--plugins', 'ugreen', '--ugreen', '--async', '4'],
    'gevent': ['--plugins', 'gevent', '--gevent', '4'],
}


def mode_args(mode):
    if mode in ('ugreen', 'gevent') and not has_plugin(mode):
        pytest.skip(f'{mode} plugin not built')
    return MODES[mode]


def in_flight(srv, path):
    """Start a request in a thread; returns (thread, result dict filled with status/body)."""
    out = {}

    def run():
        try:
            out['status'], out['body'] = get(srv, path, timeout=60)
        except Exception as e:  # noqa: BLE001 - reported by the test
            out['error'] = repr(e)
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


def wait_for(cond, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def worker_busy_pid(srv, master):
    """The worker's pid while it serves a request (asked from another connection: the master's
    children list, or the server itself without a master)."""
    if not master:
        return srv.proc.pid
    kids = Path(f'/proc/{srv.proc.pid}/task/{srv.proc.pid}/children').read_text().split()
    assert len(kids) == 1, kids
    return int(kids[0])


# ---- 10: SIGUSR1 / SIGUSR2 report, nothing stops -----------------------------------------------

@pytest.mark.parametrize('master', [True, False], ids=['master', 'no-master'])
@pytest.mark.parametrize('mode', list(MODES))
def test_sigusr1_sigusr2_report_and_stop_nothing(uwsgi_server, tmp_path, mode, master):
    extra = ['--master'] if master else []
    srv = uwsgi_server('--wsgi-file', APP, *mode_args(mode), *extra, env={'OPS_DIR': str(tmp_path)})
    t, res = in_flight(srv, '/sleep?2.5')
    time.sleep(0.8)  # the request is running
    worker = worker_busy_pid(srv, master)
    targets = [srv.proc.pid, worker] if master else [worker]
    for pid in targets:
        os.kill(pid, signal.SIGUSR1)
        os.kill(pid, signal.SIGUSR2)
        time.sleep(0.2)
    assert srv.wait_log('SIGUSR2 status', timeout=5), srv.log()
    t.join(timeout=30)
    assert res.get('status') == 200 and res.get('body') == 'slept', (res, srv.log())
    log = srv.log()
    assert 'SIGUSR1 stats' in log and 'requests, 0 exceptions' in log, log
    # SIGUSR2 names the request each busy core runs.
    assert f'worker 1 (pid {worker}) core ' in log and '/sleep?2.5 running for' in log, log
    assert srv.proc.poll() is None, log
    status, body = get(srv, '/pid')
    assert status == 200 and int(body) == worker, log  # the same worker: nothing was restarted
    assert 'died' not in log and 'respawning' not in log, log


# ---- 11: stops honour --reload-mercy and say what they wait for --------------------------------

@pytest.mark.parametrize('how', ['SIGINT', 'SIGTERM --die-on-term', 'SIGINT --master'])
def test_stop_honours_reload_mercy_and_names_the_request(uwsgi_server, tmp_path, how):
    sig = signal.SIGTERM if 'SIGTERM' in how else signal.SIGINT
    extra = (['--die-on-term'] if 'die-on-term' in how else []) + (['--master'] if 'master' in how else [])
    srv = uwsgi_server('--wsgi-file', APP, '--reload-mercy', '3', *extra, env={'OPS_DIR': str(tmp_path)})
    in_flight(srv, '/sleep?40')
    time.sleep(0.8)
    t0 = time.monotonic()
    os.kill(srv.proc.pid, sig)
    srv.proc.wait(timeout=20)
    took = time.monotonic() - t0
    log = srv.log()
    assert took < 8, (took, log)
    assert '/sleep?40 running for' in log, log  # what the stop waited for
    assert 'waiting' in log and ('killing' in log or 'abandoned' in log), log


def test_stop_after_the_mercy_still_vacuums_without_master(uwsgi_server, tmp_path):
    # The master-less worker exits from its mercy alarm: --vacuum's files go all the same.
    sock, pidfile = tmp_path / 'app.sock', tmp_path / 'app.pid'
    srv = uwsgi_server('--wsgi-file', APP, '--reload-mercy', '1', '--socket', sock, '--pidfile', pidfile,
                       '--vacuum', env={'OPS_DIR': str(tmp_path)})
    assert sock.exists() and pidfile.exists()
    in_flight(srv, '/sleep?40')
    time.sleep(0.8)
    os.kill(srv.proc.pid, signal.SIGINT)
    srv.proc.wait(timeout=20)
    assert 'abandoned' in srv.log(), srv.log()
    assert not sock.exists() and not pidfile.exists()


# ---- 13: the process name survives a reload ----------------------------------------------------

def comm(pid):
    return Path(f'/proc/{pid}/comm').read_text().strip()


@pytest.mark.parametrize('sig', [signal.SIGHUP, signal.SIGTERM], ids=['SIGHUP', 'SIGTERM'])
def test_reload_keeps_the_process_name(uwsgi_server, tmp_path, sig):
    srv = uwsgi_server('--wsgi-file', APP, '--master', env={'OPS_DIR': str(tmp_path)})
    name = comm(srv.proc.pid)
    old = pid_of(srv)
    assert comm(old) == name
    os.kill(srv.proc.pid, sig)
    assert srv.wait_log('re-executing', timeout=10), srv.log()

    def new_worker():
        p = get_quietly(srv, '/pid')
        return p is not None and p[0] == 200 and int(p[1]) != old and int(p[1])
    assert wait_for(new_worker, 10), srv.log()
    assert srv.proc.poll() is None
    assert comm(srv.proc.pid) == name == uwsgi_binary().name[:15]
    assert comm(int(get(srv, '/pid')[1])) == name


# ---- 14: --stats without a master --------------------------------------------------------------

@pytest.mark.parametrize('mode', ['sync', 'threads', 'gevent'])
def test_stats_without_master(uwsgi_server, tmp_path, mode):
    sport = free_port()
    srv = uwsgi_server('--wsgi-file', APP, *mode_args(mode), '--stats', f'127.0.0.1:{sport}',
                       env={'OPS_DIR': str(tmp_path)})
    assert get(srv, '/pid')[0] == 200
    t, res = in_flight(srv, '/sleep?2')
    time.sleep(0.7)
    st = read_stats(sport)  # answered while the only worker is inside a request
    assert [w['pid'] for w in st['workers']] == [srv.proc.pid], st
    assert st['workers'][0]['requests'] >= 1 and st['workers'][0]['status'] == 'busy', st
    t.join(timeout=30)
    assert res.get('status') == 200, res
    assert 'stats server enabled' in srv.log()


# ---- 15: bad start-up values are refused, naming the option ------------------------------------

def run_fail(args, timeout=15):
    p = subprocess.run([str(uwsgi_binary())] + base_args() + [str(a) for a in args], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=timeout,
                       start_new_session=True, cwd=str(ROOT / 'tests' / 'integration' / 'apps'))
    return p.returncode, p.stdout.decode(errors='replace')


BAD = [
    (['--async', '0', '--plugins', 'ugreen', '--ugreen'], '--async'),
    (['--plugins', 'ugreen', '--ugreen'], '--async'),
    (['--harakiri', '-5'], '--harakiri'),
    (['--harakiri', '5s'], '--harakiri'),
    (['--reload-mercy', '-1'], '--reload-mercy'),
    (['--max-requests', '-100'], '--max-requests'),
    (['--listen', '100000'], '--listen'),
    (['--async', '99999999999', '--plugins', 'ugreen', '--ugreen'], '--async'),
    (['--processes', '+-2'], '--processes'),
    (['--limit-post', '1e6'], '--limit-post'),
    (['--http-socket', '127.0.0.1:99999'], '--http-socket'),
    (['--socket', '127.0.0.1:80x'], '--socket'),
    (['--socket', ':-1'], '--socket'),
    (['--stats', '127.0.0.1:65536'], '--stats'),
]


@pytest.mark.parametrize('args,opt', BAD, ids=[' '.join(a) for a, _ in BAD])
def test_bad_start_up_values_are_refused(args, opt):
    if 'ugreen' in args and not has_plugin('ugreen'):
        pytest.skip('ugreen plugin not built')
    port = free_port()
    rc, out = run_fail(['--http-socket', f'127.0.0.1:{port}', '--wsgi-file', APP] + args)
    assert rc != 0, out
    assert opt in out, out
    assert 'bound on' not in out, out  # refused before any socket
    last = out.strip().splitlines()[-1]
    assert opt in last, out  # one line says why


def test_port_65535_and_0_are_accepted(uwsgi_server, tmp_path):
    srv = uwsgi_server('--wsgi-file', APP, '--socket', '127.0.0.1:0', env={'OPS_DIR': str(tmp_path)})
    assert get(srv, '/pid')[0] == 200


# ---- 16: a reload with a broken configuration keeps serving -----------------------------------

@pytest.mark.parametrize('bad', ['processes = many', 'harakiri = -5', 'http-socket = 127.0.0.1:99999'])
def test_reload_with_a_broken_ini_keeps_serving(tmp_path, bad):
    port = free_port()
    ini = tmp_path / 'app.ini'
    good = (f'[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nwsgi-file = {APP}\nmaster = true\n'
            f'processes = 1\nenv = OPS_DIR={tmp_path}\n')
    ini.write_text(good)
    srv = start_uwsgi([str(ini)], port=port, http=False, log_dir=str(tmp_path))
    try:
        old = pid_of(srv)
        ini.write_text(good + bad + '\n')
        os.kill(srv.proc.pid, signal.SIGHUP)
        assert srv.wait_log('reload cancelled', timeout=15), srv.log()
        log = srv.log()
        assert 'graceful reload' not in log and 're-executing' not in log, log
        assert bad.split(' =')[0] in log, log  # the reason names the bad line's option
        assert srv.proc.poll() is None
        assert pid_of(srv) == old  # the same worker serves on, nothing stopped
        # Once the file is fixed, a reload goes through.
        ini.write_text(good)
        os.kill(srv.proc.pid, signal.SIGHUP)
        assert srv.wait_log('re-executing', timeout=15), srv.log()

        def replaced():
            p = get_quietly(srv, '/pid')
            return p is not None and p[0] == 200 and int(p[1]) != old
        assert wait_for(replaced, 15), srv.log()
    finally:
        srv.stop()


def test_reload_check_logs_nothing_twice(uwsgi_server, tmp_path):
    # The dry run's start-up lines are held: the reloaded server logs its own start-up once.
    srv = uwsgi_server('--wsgi-file', APP, '--master', env={'OPS_DIR': str(tmp_path)})
    old = pid_of(srv)
    os.kill(srv.proc.pid, signal.SIGHUP)
    assert srv.wait_log('re-executing', timeout=15), srv.log()

    def replaced():
        p = get_quietly(srv, '/pid')
        return p is not None and p[0] == 200 and int(p[1]) != old
    assert wait_for(replaced, 15), srv.log()
    log = srv.log()
    assert log.count('reload check: the configuration is valid') == 1, log
    assert log.count('Python version') == 2, log  # the first start and the reloaded one


def test_reload_onto_an_app_that_no_longer_imports_keeps_serving(tmp_path):
    # need-app stops a start whose app fails to import; on reload that would be an outage, so the
    # reload check loads the app too and cancels the reload instead.
    port = free_port()
    app = tmp_path / 'app.py'
    app.write_text(open(APP).read())
    ini = tmp_path / 'app.ini'
    ini.write_text(f'[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nwsgi-file = {app}\nmaster = true\n'
                   f'processes = 1\nenv = OPS_DIR={tmp_path}\n')
    srv = start_uwsgi([str(ini)], port=port, http=False, log_dir=str(tmp_path))
    try:
        old = pid_of(srv)
        app.write_text('raise RuntimeError("broken on purpose")\n')
        os.kill(srv.proc.pid, signal.SIGHUP)
        assert srv.wait_log('reload cancelled', timeout=15), srv.log()
        assert 'broken on purpose' in srv.log()
        assert srv.proc.poll() is None
        assert pid_of(srv) == old
    finally:
        srv.stop()
