"""Attached daemons (issue 18): --attach-daemon, --attach-control-daemon, --smart-attach-daemon(2),
--attach-daemon2 key=value. Each daemon here is a shell line that appends its pid to a file and
sleeps; every test kills what it started (the server, then any pid a daemon wrote)."""
import json
import os
import signal
import socket
import time
from pathlib import Path

import pytest

from conftest import app_path, free_port, start_uwsgi
from helpers_core import wait_for, pids_in
from helpers_core import pids_alive

APP = app_path('app.py')


def sleeper(pids_file, extra=''):
    """A daemon command: records its pid, then sleeps (exec keeps the pid)."""
    return f'{extra}echo $$ >> {pids_file}; exec sleep 600'


def kill_all(*files):
    for f in files:
        for p in pids_in(f):
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture
def server(tmp_path):
    started = []

    def start(*args, **kw):
        srv = start_uwsgi(['--wsgi-file', APP, '--master', '--reload-mercy', '3'] + list(args),
                          log_dir=str(tmp_path), **kw)
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()
    kill_all(*tmp_path.glob('*.pids'), *tmp_path.glob('*.pid'))


def stop_gracefully(srv, timeout=15):
    os.kill(srv.proc.pid, signal.SIGINT)
    return srv.proc.wait(timeout=timeout)


def stats(port):
    with socket.create_connection(('127.0.0.1', port), timeout=5) as s:
        data = b''
        while chunk := s.recv(65536):
            data += chunk
    return json.loads(data)


def test_daemon_started_respawned_and_stopped(server, tmp_path):
    pids = tmp_path / 'd.pids'
    stats_port = free_port()
    srv = server('--attach-daemon', sleeper(pids), '--stats', f'127.0.0.1:{stats_port}')
    assert wait_for(lambda: len(pids_in(pids)) == 1), srv.log()
    first = pids_in(pids)[0]
    assert pids_alive([first])
    d = stats(stats_port)['daemons']
    assert d[0]['pid'] == first and d[0]['class'] == 'classic' and d[0]['respawns'] == 0
    os.kill(first, signal.SIGKILL)
    assert wait_for(lambda: len(pids_in(pids)) == 2), srv.log()
    second = pids_in(pids)[1]
    assert pids_alive([second]) and second != first
    assert wait_for(lambda: stats(stats_port)['daemons'][0]['respawns'] == 1)
    assert srv.request('GET', '/')[0] == 200
    assert stop_gracefully(srv) == 0
    assert wait_for(lambda: not pids_alive([second]), 3), 'the daemon outlived the master'
    assert 'stopping daemon' in srv.log()


def test_instant_exit_is_throttled(server, tmp_path):
    runs = tmp_path / 'x.pids'
    srv = server('--attach-daemon', f'echo $$ >> {runs}; exit 3')
    time.sleep(4)
    n = len(pids_in(runs))
    # Spawned at 0 s, then after 1 s, 2 s: never a tight loop.
    assert 2 <= n <= 4, (n, srv.log())
    assert 'throttled, respawning in 1 s' in srv.log()
    assert 'throttled, respawning in 2 s' in srv.log()
    assert srv.request('GET', '/')[0] == 200


def test_smart_daemon_survives_reload_plain_one_does_not(server, tmp_path):
    plain, smart_pids, pidfile = tmp_path / 'plain.pids', tmp_path / 'smart.pids', tmp_path / 'smart.pid'
    srv = server('--attach-daemon', sleeper(plain),
                 '--smart-attach-daemon', f'{pidfile} echo $$ > {pidfile}; ' + sleeper(smart_pids))
    assert wait_for(lambda: len(pids_in(plain)) == 1 and len(pids_in(pidfile)) == 1), srv.log()
    smart = pids_in(pidfile)[0]
    offset = len(srv.log())
    os.kill(srv.proc.pid, signal.SIGHUP)
    assert wait_for(lambda: len(pids_in(plain)) == 2, 20), srv.log()
    assert 'reloading: re-executing' in srv.log()[offset:]
    assert not pids_alive([pids_in(plain)[0]])
    assert pids_alive([smart]) and pids_in(pidfile) == [smart] and len(pids_in(smart_pids)) == 1
    # Our child still: the new master image adopts it (by pid), not a second copy.
    assert 'kept across the reload' in srv.log()[offset:]
    assert wait_for(lambda: srv.request('GET', '/')[0] == 200)
    # The adopted smart daemon is still supervised: killed, it comes back.
    os.kill(smart, signal.SIGKILL)
    assert wait_for(lambda: len(pids_in(smart_pids)) == 2, 10), srv.log()
    assert stop_gracefully(srv) == 0
    assert wait_for(lambda: not pids_alive(pids_in(plain) + pids_in(smart_pids)), 3)


def test_smart_attach_daemon2_writes_the_pidfile(server, tmp_path):
    pidfile, pids = tmp_path / 's2.pid', tmp_path / 's2.pids'
    srv = server('--smart-attach-daemon2', f'{pidfile} ' + sleeper(pids))
    assert wait_for(lambda: len(pids_in(pids)) == 1 and pids_in(pidfile) == pids_in(pids)), srv.log()
    assert stop_gracefully(srv) == 0
    assert wait_for(lambda: not pids_alive(pids_in(pids)), 3)


def test_attach_daemon2_keys_touch_and_stopsignal(server, tmp_path):
    pids, trigger, marks = tmp_path / 'k.pids', tmp_path / 'trigger', tmp_path / 'marks'
    trigger.write_text('')
    # stopsignal=USR1: the daemon records it got USR1, then exits.
    cmd = f"trap 'echo usr1 >> {marks}; exit 0' USR1; echo $$ >> {pids}; while :; do sleep 0.2; done"
    srv = server('--attach-daemon2', f'cmd={cmd},touch={trigger},stopsignal=USR1,freq=1,chdir={tmp_path}')
    assert wait_for(lambda: len(pids_in(pids)) == 1), srv.log()
    t = time.time() + 5
    os.utime(trigger, (t, t))
    assert wait_for(lambda: len(pids_in(pids)) == 2, 10), srv.log()
    assert 'touched: restarting daemon' in srv.log()
    assert Path(marks).read_text().split() == ['usr1']
    assert stop_gracefully(srv) == 0
    assert wait_for(lambda: not pids_alive(pids_in(pids)), 3)


def test_stop_signal_ignored_gets_sigkill(server, tmp_path):
    pids = tmp_path / 'stubborn.pids'
    srv = server('--attach-daemon', f"trap '' TERM; echo $$ >> {pids}; while :; do sleep 0.2; done",
                 '--reload-mercy', '1')
    assert wait_for(lambda: len(pids_in(pids)) == 1), srv.log()
    t0 = time.monotonic()
    assert stop_gracefully(srv) == 0
    assert time.monotonic() - t0 < 8
    assert 'killing it (SIGKILL)' in srv.log()
    assert wait_for(lambda: not pids_alive(pids_in(pids)), 3)


def test_control_daemon_death_stops_the_instance(server, tmp_path):
    srv = server('--attach-control-daemon', 'sleep 1')
    assert srv.proc.wait(timeout=15) == 1
    assert 'control daemon "sleep 1" died' in srv.log()


def test_daemons_without_master_enable_it(tmp_path):
    pids = tmp_path / 'nm.pids'
    srv = start_uwsgi(['--wsgi-file', APP, '--attach-daemon', sleeper(pids)], log_dir=str(tmp_path))
    try:
        assert wait_for(lambda: len(pids_in(pids)) == 1), srv.log()
        assert 'enabling --master' in srv.log()
    finally:
        srv.stop()
        kill_all(pids)


@pytest.mark.parametrize('args,msg', [
    (['--legion-attach-daemon', 'lg sleep 5'], 'Legion is not supported'),
    (['--attach-daemon2', 'cmd=sleep 5,bogus=1'], 'unknown key "bogus"'),
    (['--attach-daemon2', 'freq=3'], 'no cmd= given'),
    (['--attach-daemon2', 'cmd=sleep 5,stopsignal=NOPE'], 'bad stopsignal'),
    (['--smart-attach-daemon', '/tmp/only-a-pidfile'], 'wants PIDFILE COMMAND'),
])
def test_bad_daemon_options_stop_start_up(tmp_path, args, msg):
    srv = start_uwsgi(['--wsgi-file', APP, '--master'] + args, wait=False, log_dir=str(tmp_path))
    try:
        assert srv.proc.wait(timeout=15) != 0
        assert msg in srv.log(), srv.log()
    finally:
        srv.stop()


def test_self_daemonizing_smart_daemon(server, tmp_path):
    """The command forks, exits 0 at once, and the real daemon writes the pidfile a little later:
    that exit is no death; the pidfile's pid is watched (respawned when it dies, adopted again
    after a reload, stopped at shutdown)."""
    pidfile, pids = tmp_path / 'bg.pid', tmp_path / 'bg.pids'
    inner = f'sleep 0.5; echo $$ > {pidfile}; echo $$ >> {pids}; exec sleep 600'
    srv = server('--smart-attach-daemon', f"{pidfile} sh -c '{inner}' </dev/null & exit 0")
    assert wait_for(lambda: len(pids_in(pids)) == 1), srv.log()
    time.sleep(3)  # past the pidfile's grace: still one copy
    assert len(pids_in(pids)) == 1 and pids_alive(pids_in(pids)), srv.log()
    os.kill(pids_in(pids)[0], signal.SIGKILL)
    assert wait_for(lambda: len(pids_in(pids)) == 2, 10), srv.log()
    assert 'pidfile names no running process' in srv.log()
    offset = len(srv.log())
    os.kill(srv.proc.pid, signal.SIGHUP)
    assert wait_for(lambda: 'already running' in srv.log()[offset:], 20), srv.log()
    assert len(pids_in(pids)) == 2
    assert stop_gracefully(srv) == 0
    assert wait_for(lambda: not pids_alive(pids_in(pids)), 3)


def test_daemon_output_goes_to_the_log(server, tmp_path):
    srv = server('--attach-daemon', 'echo out-line; echo err-line >&2; exec sleep 600',
                 '--logto', str(tmp_path / 'server.log'))
    log = tmp_path / 'server.log'
    assert wait_for(lambda: log.exists() and 'out-line' in log.read_text() and 'err-line' in log.read_text())


def test_daemon_inherits_no_server_fd(server, tmp_path):
    """Only stdin, stdout, stderr: a daemon holding the listening socket would keep the port bound
    after the server is gone."""
    pids = tmp_path / 'fd.pids'
    srv = server('--attach-daemon', sleeper(pids))
    assert wait_for(lambda: len(pids_in(pids)) == 1), srv.log()
    # The shell holds its `>>` redirection on a moment before it execs sleep: wait (bounded) for
    # that; a server fd leaked into the daemon would stay.
    fds = lambda: sorted(os.listdir(f'/proc/{pids_in(pids)[0]}/fd'))
    assert wait_for(lambda: fds() == ['0', '1', '2']), fds()
