"""--emperor: one instance per vassal file in a directory or glob; a touched file reloads its
vassal, a removed one stops it, a new one starts, a dead one is respawned, and the vassals never
outlive the Emperor."""
import json
import os
import signal
import socket
import time
from pathlib import Path

import pytest

from conftest import free_port, start_uwsgi
from helpers_core import http_get, pids_alive, wait_for

# Each vassal's app answers who serves it: its name, pids, directory and what the Emperor passed.
VASSAL_APP = '''
import json, os
NAME = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'name.txt')).read().strip()
def application(env, sr):
    sr('200 OK', [('Content-Type', 'application/json')])
    return [json.dumps({'name': NAME, 'pid': os.getpid(), 'ppid': os.getppid(), 'cwd': os.getcwd(),
                        'emperor_fd': os.environ.get('UWSGI_EMPEROR_FD'),
                        'notify': os.environ.get('NOTIFY_SOCKET'),
                        'from_vassal_env': os.environ.get('UWSGI_FROM_VASSAL_ENV')}).encode()]
'''


def make_app(root, name):
    """An app directory root/name with app.py and the name it answers."""
    d = root / name
    d.mkdir()
    (d / 'app.py').write_text(VASSAL_APP)
    (d / 'name.txt').write_text(name)
    return d


def vassal_ini(vdir, name, port, app_dir, extra=''):
    """vdir/NAME.ini serving app_dir/app.py on 127.0.0.1:port (written atomically)."""
    path = vdir / f'{name}.ini'
    tmp = vdir / f'.{name}.tmp'
    tmp.write_text(f'[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nwsgi-file = {app_dir}/app.py\n'
                   f'master = true\nprocesses = 1\n{extra}')
    os.rename(tmp, path)
    return path


def info(port):
    """The vassal's answer on port, or None while nothing serves there."""
    try:
        status, body = http_get(port, '/', timeout=5)
    except OSError:
        return None
    return json.loads(body) if status == 200 else None


def wait_info(port, pred=lambda i: True, timeout=20.0):
    got = {}

    def check():
        i = info(port)
        if i is not None and pred(i):
            got['i'] = i
            return True
        return False

    assert wait_for(check, timeout=timeout), f'nothing (matching) served on {port}'
    return got['i']


def port_closed(port):
    try:
        with socket.create_connection(('127.0.0.1', port), timeout=0.5):
            return False
    except OSError:
        return True


def descendants(pid):
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            kids = [int(x) for x in Path(f'/proc/{p}/task/{p}/children').read_text().split()]
        except OSError:
            kids = []
        out += kids
        todo += kids
    return out


def start_emperor(tmp_path, *args, env=None):
    return start_uwsgi(['--emperor-freq', '1', *args], http=False, wait=False, env=env, log_dir=str(tmp_path))


@pytest.fixture
def two_vassals(tmp_path):
    apps = tmp_path / 'apps'
    apps.mkdir()
    vdir = tmp_path / 'vassals'
    vdir.mkdir()
    ports = {'one': free_port(), 'two': free_port()}
    for name, port in ports.items():
        vassal_ini(vdir, name, port, make_app(apps, name))
    return apps, vdir, ports


def test_vassals_serve_reload_stop_and_start(tmp_path, two_vassals):
    apps, vdir, ports = two_vassals
    emp = start_emperor(tmp_path, '--emperor', str(vdir))
    try:
        one = wait_info(ports['one'])
        two = wait_info(ports['two'])
        assert (one['name'], two['name']) == ('one', 'two')
        # Each vassal runs in its file's directory, linked to the Emperor, never to systemd.
        assert one['cwd'] == str(vdir) and one['emperor_fd'] and one['notify'] is None
        # The vassal masters are the Emperor's children.
        assert {one['ppid'], two['ppid']} <= set(descendants(emp.proc.pid))

        # Touch: a graceful reload (the same master re-executes itself, a new worker).
        os.utime(vdir / 'one.ini')
        reloaded = wait_info(ports['one'], lambda i: i['pid'] != one['pid'])
        assert reloaded['ppid'] == one['ppid'] and reloaded['name'] == 'one'
        assert emp.wait_log('reload the uwsgi instance one.ini')

        # Remove: stopped, its port closes, its processes are gone; the other serves on.
        (vdir / 'two.ini').unlink()
        assert wait_for(lambda: port_closed(ports['two']), timeout=20)
        assert wait_for(lambda: not pids_alive([two['pid'], two['ppid']]), timeout=10)
        assert info(ports['one'])['name'] == 'one'

        # Add: a new file starts a new vassal.
        three_port = free_port()
        vassal_ini(vdir, 'three', three_port, make_app(apps, 'three'))
        assert wait_info(three_port)['name'] == 'three'
    finally:
        emp.stop()


def test_a_killed_vassal_is_respawned(tmp_path, two_vassals):
    apps, vdir, ports = two_vassals
    emp = start_emperor(tmp_path, '--emperor', str(vdir))
    try:
        one = wait_info(ports['one'])
        wait_info(ports['one'], lambda i: True)
        assert emp.wait_log('vassal one.ini is now loyal', timeout=10)
        os.kill(one['ppid'], signal.SIGKILL)
        again = wait_info(ports['one'], lambda i: i['ppid'] != one['ppid'])
        assert again['name'] == 'one'
        # The dead master's worker did not stay behind (it dies with its master).
        assert wait_for(lambda: not pids_alive([one['pid']]), timeout=10)
        # A loyal vassal (it served a request) is respawned at once, no back-off.
        assert 'one.ini (pid %d) killed by signal 9: respawning it' % one['ppid'] in emp.log()
    finally:
        emp.stop()


def test_emperor_sigint_stops_every_vassal(tmp_path, two_vassals):
    apps, vdir, ports = two_vassals
    emp = start_emperor(tmp_path, '--emperor', str(vdir))
    try:
        one = wait_info(ports['one'])
        two = wait_info(ports['two'])
        pids = descendants(emp.proc.pid)
        assert {one['pid'], one['ppid'], two['pid'], two['ppid']} <= set(pids)
        os.kill(emp.proc.pid, signal.SIGINT)
        assert emp.proc.wait(timeout=20) == 0
        assert wait_for(lambda: not pids_alive(pids), timeout=10), pids_alive(pids)
        assert port_closed(ports['one']) and port_closed(ports['two'])
        assert 'The Emperor is buried.' in emp.log()
    finally:
        emp.stop()


def test_vassals_do_not_outlive_a_killed_emperor(tmp_path, two_vassals):
    apps, vdir, ports = two_vassals
    emp = start_emperor(tmp_path, '--emperor', str(vdir))
    try:
        wait_info(ports['one'])
        wait_info(ports['two'])
        pids = descendants(emp.proc.pid)
        os.kill(emp.proc.pid, signal.SIGKILL)
        emp.proc.wait(timeout=5)
        assert wait_for(lambda: not pids_alive(pids), timeout=15), pids_alive(pids)
    finally:
        emp.stop()


def test_glob_monitor_options_and_stats(tmp_path):
    apps = tmp_path / 'apps'
    apps.mkdir()
    vdir = tmp_path / 'vassals'
    vdir.mkdir()
    port = free_port()
    vassal_ini(vdir, 'one', port, make_app(apps, 'one'))
    vassal_ini(vdir, 'skipped', free_port(), make_app(apps, 'skipped'))
    (vdir / 'skipped.ini').rename(vdir / 'skipped.cfg')  # not matched by the glob
    # A template every vassal inherits, an option set for every vassal, a UWSGI_VASSAL_ variable.
    (tmp_path / 'base.ini').write_text('[uwsgi]\nprocesses = 3\n')
    stats_port = free_port()
    pidfile = tmp_path / 'emperor.pid'
    emp = start_emperor(tmp_path, '--emperor', str(vdir / '*.ini'), '--emperor-stats', f'127.0.0.1:{stats_port}',
                        '--emperor-pidfile', str(pidfile), '--vassals-include', str(tmp_path / 'base.ini'),
                        '--vassal-set', 'processes=2', '--emperor-procname', 'my-emperor',
                        env={'UWSGI_VASSAL_FROM_VASSAL_ENV': 'hello'})
    try:
        one = wait_info(port)
        assert one['from_vassal_env'] == 'hello'
        assert wait_for(lambda: pidfile.exists() and pidfile.read_text().strip() == str(emp.proc.pid))
        assert Path(f'/proc/{emp.proc.pid}/comm').read_text().strip() == 'my-emperor'
        # --vassal-set comes last: 2 workers (not the template's 3).
        assert wait_for(lambda: len(descendants(one['ppid'])) == 2, timeout=10), descendants(one['ppid'])

        def stats():
            with socket.create_connection(('127.0.0.1', stats_port), timeout=5) as s:
                data = b''
                while chunk := s.recv(65536):
                    data += chunk
            return json.loads(data)

        assert wait_for(lambda: any(v['accepting'] for v in stats()['vassals']), timeout=10)
        doc = stats()
        assert doc['pid'] == emp.proc.pid and doc['emperor'] == [str(vdir / '*.ini')]
        assert [v['id'] for v in doc['vassals']] == ['one.ini']
        v = doc['vassals'][0]
        assert v['pid'] == one['ppid'] and v['ready'] == 1 and v['respawns'] == 0
        assert v['monitor'] == str(vdir / '*.ini')
    finally:
        emp.stop()
    assert wait_for(lambda: not pidfile.exists(), timeout=5)


def test_a_failing_vassal_is_throttled(tmp_path):
    vdir = tmp_path / 'vassals'
    vdir.mkdir()
    (vdir / 'bad.ini').write_text(f'[uwsgi]\nhttp-socket = 127.0.0.1:{free_port()}\n'
                                  f'wsgi-file = {tmp_path}/missing.py\nneed-app = true\nmaster = true\n')
    emp = start_emperor(tmp_path, '--emperor', str(vdir), '--emperor-throttle', '300')
    try:
        # Back-offs double while it keeps dying before its first request: 300, 600, 1200 ms.
        assert wait_for(lambda: 'respawning it in 1200 ms (throttle)' in emp.log(), timeout=30), emp.log()[-3000:]
        log = emp.log()
        assert log.index('in 300 ms') < log.index('in 600 ms') < log.index('in 1200 ms')
    finally:
        emp.stop()


@pytest.mark.parametrize('args, message', [
    (['--emperor-freq', '0'], '--emperor-freq'),
    (['--emperor-throttle', 'x'], '--emperor-throttle'),
    (['--vassal-set', 'novalue'], '--vassal-set'),
    (['--http-socket', '127.0.0.1:1'], '--emperor with --http-socket'),
])
def test_bad_values_stop_start_up(tmp_path, args, message):
    emp = start_uwsgi(['--emperor', str(tmp_path), *args], http=False, wait=False, log_dir=str(tmp_path))
    try:
        assert emp.proc.wait(timeout=10) != 0
        assert message in emp.log()
    finally:
        emp.stop()


def test_emperor_notifies_systemd_and_vassals_do_not(tmp_path, two_vassals):
    apps, vdir, ports = two_vassals
    path = str(tmp_path / 'notify.sock')
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(0.2)
    emp = start_emperor(tmp_path, '--emperor', str(vdir), env={'NOTIFY_SOCKET': path})
    try:
        wait_info(ports['one'])
        wait_info(ports['two'])
        msgs = []
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            try:
                msgs.append(sock.recv(4096).decode())
            except socket.timeout:
                pass
        lines = [line for m in msgs for line in m.split('\n')]
        assert lines.count('READY=1') == 1, msgs  # the Emperor's only: the vassals' masters say nothing
        assert 'STATUS=The Emperor is governing 2 vassals' in lines, msgs
    finally:
        emp.stop()
        sock.close()
