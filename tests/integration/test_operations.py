"""Master and workers: respawn, harakiri, max-requests, reload, lazy-apps, daemonize, uid/gid,
stats, the uWSGI signal framework (sync and async cores), slowloris under async.

Everything runs the real binary with real signals; apps/ops_app.py writes what happens into
files under a per-test directory ($OPS_DIR).
"""
import http.client
import json
import os
import signal
import socket
import threading
import time
from pathlib import Path

import pytest

from conftest import ROOT, app_path, free_port, start_uwsgi
from helpers_core import wait_for

APP = app_path('ops_app.py')
ASYNC = ['--plugins', 'fcontext', '--fcontext', '--async', '10']


def has_plugin(name):
    return (ROOT / f'{name}_plugin.so').exists()


@pytest.fixture
def ops(tmp_path, uwsgi_server):
    """Start ops_app.py with extra args; returns (server, dir of event files)."""
    out = tmp_path / 'events'
    out.mkdir()

    def start(*args, env=None, **kw):
        e = {'OPS_DIR': str(out)}
        e.update(env or {})
        return uwsgi_server('--wsgi-file', APP, *args, env=e, **kw), out
    return start


def lines(d, name):
    p = Path(d) / name
    return p.read_text().split('\n')[:-1] if p.exists() else []


def wait_lines(d, name, n, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = lines(d, name)
        if len(got) >= n:
            return got
        time.sleep(0.05)
    return lines(d, name)


def get(srv, path, timeout=10):
    status, _h, body = srv.request('GET', path, timeout=timeout)
    return status, body.decode()


def get_quietly(srv, path):
    try:
        return get(srv, path)
    except (OSError, http.client.HTTPException):
        return None


def pid_of(srv):
    status, body = get(srv, '/pid')
    assert status == 200
    return int(body)


def wait_new_pid(srv, old, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            p = pid_of(srv)
            if p != old:
                return p
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError(f'worker {old} was not replaced:\n{srv.log()}')


def read_stats(port, http=False):
    with socket.create_connection(('127.0.0.1', port), timeout=5) as s:
        if http:
            s.sendall(b'GET / HTTP/1.1\r\nHost: x\r\n\r\n')
        data = b''
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    if http:
        head, _, data = data.partition(b'\r\n\r\n')
        assert head.startswith(b'HTTP/1.1 200'), head
        assert b'application/json' in head
    return json.loads(data)


# ---- respawn, harakiri, max-requests ---------------------------------------------------------

@pytest.mark.parametrize('path,why', [('/exit', 'exited with status 3'), ('/segv', 'died, killed by signal 11')])
def test_dead_worker_is_respawned_with_a_reason(ops, path, why):
    srv, _ = ops('--master', '--processes', '1')
    old = pid_of(srv)
    with pytest.raises((OSError, http.client.HTTPException)):
        srv.request('GET', path, timeout=5)
    new = wait_new_pid(srv, old)
    assert new != old
    if 'AddressSanitizer' in srv.log():  # a sanitizer build catches the SEGV and exits instead
        why = 'exited with status'
    assert srv.wait_log(f'worker 1 (pid {old}) {why}')
    assert 'respawning' in srv.log()


@pytest.mark.parametrize('mode', ['sync', 'async'])
def test_harakiri_kills_a_stuck_request_and_the_next_one_works(ops, mode):
    if mode == 'async' and not has_plugin('fcontext'):
        pytest.skip('fcontext plugin not built')
    srv, _ = ops('--master', '--processes', '1', '--harakiri', '1', *(ASYNC if mode == 'async' else []))
    old = pid_of(srv)
    t0 = time.monotonic()
    with pytest.raises((OSError, http.client.HTTPException)):
        srv.request('GET', '/sleep', timeout=8)
    assert time.monotonic() - t0 < 6
    assert srv.wait_log(f'HARAKIRI! worker 1 (pid {old})')
    assert '/sleep' in [l for l in srv.log().splitlines() if 'HARAKIRI' in l][0]
    assert wait_new_pid(srv, old) != old
    assert get(srv, '/pid')[0] == 200


def test_async_harakiri_timer_restarts_at_each_request_start_and_end(ops):
    """Under async cores the worker's last progress (any core) counts, as in uWSGI."""
    if not has_plugin('fcontext'):
        pytest.skip('fcontext plugin not built')
    srv, _ = ops('--master', '--processes', '1', '--harakiri', '1', *ASYNC)
    old = pid_of(srv)
    result = {}
    t = threading.Thread(target=lambda: result.update(r=get(srv, '/asleep?2.5')))
    t.start()
    deadline = time.monotonic() + 2.4
    while time.monotonic() < deadline:  # other cores keep making progress
        assert pid_of(srv) == old
        time.sleep(0.3)
    t.join(timeout=5)
    assert result['r'] == (200, 'slept')
    assert 'HARAKIRI' not in srv.log()
    # with nothing else going on, the same slow core is "no progress" for too long
    with pytest.raises((OSError, http.client.HTTPException)):
        srv.request('GET', '/asleep?3', timeout=5)
    assert srv.wait_log(f'HARAKIRI! worker 1 (pid {old})')


def test_harakiri_leaves_requests_that_finish_in_time(ops):
    srv, _ = ops('--master', '--processes', '1', '--harakiri', '2')
    old = pid_of(srv)
    assert get(srv, '/sleep?0.5') == (200, 'slept')
    assert pid_of(srv) == old
    assert 'HARAKIRI' not in srv.log()


def test_max_requests_recycles_the_worker(ops):
    srv, _ = ops('--master', '--processes', '1', '--max-requests', '3')
    pids = []
    for _ in range(8):
        for _attempt in range(50):  # the replacement may still be starting
            try:
                pids.append(pid_of(srv))
                break
            except OSError:
                time.sleep(0.05)
    assert len(pids) == 8
    assert len(set(pids)) >= 2, pids
    assert pids[:3] == [pids[0]] * 3
    assert srv.wait_log('reached --max-requests 3: recycling')


# ---- reload, lazy-apps ------------------------------------------------------------------------

def test_sighup_reload_under_a_request_stream_drops_nothing(ops):
    srv, d = ops('--master', '--processes', '2', '--disable-logging')
    stop = threading.Event()
    results = {'ok': 0, 'fail': []}

    def client():
        while not stop.is_set():
            try:
                status, body = get(srv, '/pid', timeout=10)
                if status == 200:
                    results['ok'] += 1
                else:
                    results['fail'].append(status)
            except Exception as e:  # noqa: BLE001 - any failure counts
                results['fail'].append(repr(e))
    threads = [threading.Thread(target=client) for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(0.7)
    os.kill(srv.proc.pid, signal.SIGHUP)
    assert srv.wait_log('graceful reload', timeout=5)
    assert srv.wait_log('re-executing', timeout=10)
    time.sleep(1.5)
    stop.set()
    for t in threads:
        t.join(timeout=15)
    assert results['fail'] == [], results
    assert results['ok'] > 20
    # Loaded again by the re-executed master (same pid); the reload check (another process)
    # imports it once too, to know the new configuration starts.
    assert lines(d, 'imports').count(str(srv.proc.pid)) == 2
    assert srv.proc.poll() is None  # same master pid after exec


def test_reload_mercy_kills_workers_that_do_not_finish(ops):
    srv, _ = ops('--master', '--processes', '1', '--reload-mercy', '1')
    t = threading.Thread(target=lambda: get_quietly(srv, '/sleep?20'))
    t.daemon = True
    t.start()
    time.sleep(0.5)
    t0 = time.monotonic()
    os.kill(srv.proc.pid, signal.SIGINT)
    assert srv.proc.wait(timeout=8) == 0
    assert time.monotonic() - t0 < 4
    assert 'still running after the 1 s mercy: killing them' in srv.log()


@pytest.mark.parametrize('lazy', [False, True])
def test_lazy_apps_imports_once_per_worker(ops, lazy):
    srv, d = ops('--master', '--processes', '3', *(['--lazy-apps'] if lazy else []))
    wait_lines(d, 'imports' if lazy else 'postfork', 3)
    imports = lines(d, 'imports')
    if lazy:
        assert len(imports) == 3 and len(set(imports)) == 3
        assert str(srv.proc.pid) not in imports
    else:
        assert imports == [str(srv.proc.pid)]
    # @postfork runs in every worker (with lazy apps the decorator only exists after fork)
    if not lazy:
        assert sorted(int(l.split()[0]) for l in lines(d, 'postfork')) == [1, 2, 3]


def test_thunder_lock_is_accepted(ops):
    srv, _ = ops('--master', '--processes', '2', '--thunder-lock')
    assert get(srv, '/')[0] == 200


# ---- daemonize, uid/gid -----------------------------------------------------------------------

def test_daemonize_writes_the_log_and_the_pid(tmp_path):
    port = free_port()
    log = tmp_path / 'daemon.log'
    pidfile = tmp_path / 'daemon.pid'
    srv = start_uwsgi(['--wsgi-file', APP, '--master', '--processes', '1', '--daemonize', str(log),
                       '--pidfile', str(pidfile)], port=port, wait=False, env={'OPS_DIR': str(tmp_path)})
    pid = None
    try:
        assert srv.proc.wait(timeout=10) == 0  # the foreground process returns at once
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (pidfile.exists() and pidfile.read_text().strip()):
            time.sleep(0.05)
        pid = int(pidfile.read_text())
        assert pid != srv.proc.pid
        os.kill(pid, 0)  # the daemon runs
        assert os.getsid(pid) == pid  # in a session of its own
        while time.monotonic() < deadline:
            try:
                conn = http.client.HTTPConnection('127.0.0.1', port, timeout=5)
                conn.request('GET', '/pid')
                assert conn.getresponse().status == 200
                break
            except OSError:
                time.sleep(0.05)
        text = log.read_text()
        assert f'master process (pid {pid})' in text
        while time.monotonic() < deadline and 'GET /pid' not in log.read_text():
            time.sleep(0.05)
        assert 'GET /pid' in log.read_text()  # request lines go to the file too
    finally:
        if pid:
            os.kill(pid, signal.SIGINT)
            for _ in range(100):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.05)
            else:
                os.kill(pid, signal.SIGKILL)
        srv.stop()


@pytest.mark.skipif(os.geteuid() != 0, reason='needs root to change uid')
def test_uid_gid_drop_after_binding(ops):
    srv, _ = ops('--master', '--processes', '1', '--uid', 'nobody', '--gid', '65534')
    assert get(srv, '/ids') == (200, '65534 65534')
    assert srv.wait_log('setuid() to 65534')
    st = os.stat(f'/proc/{srv.proc.pid}')
    assert st.st_uid == 65534  # the master too


# ---- stats ------------------------------------------------------------------------------------

def test_stats_json_shape_and_counters(ops):
    sport = free_port()
    srv, _ = ops('--master', '--processes', '2', '--stats', f'127.0.0.1:{sport}')
    for _ in range(5):
        assert get(srv, '/')[0] == 200
    assert get(srv, '/raise')[0] == 500
    time.sleep(0.1)
    st = read_stats(sport)
    for key in ['version', 'listen_queue', 'load', 'pid', 'uid', 'gid', 'cwd', 'workers', 'sockets']:
        assert key in st, key
    assert st['pid'] == srv.proc.pid
    assert [w['id'] for w in st['workers']] == [1, 2]
    w = st['workers'][0]
    for key in ['pid', 'accepting', 'requests', 'delta_requests', 'exceptions', 'harakiri_count', 'signals',
                'signal_queue', 'status', 'rss', 'vsz', 'running_time', 'last_spawn', 'respawn_count', 'tx',
                'avg_rt', 'cores']:
        assert key in w, key
    assert sum(w['requests'] for w in st['workers']) == 6
    assert sum(w['exceptions'] for w in st['workers']) == 1
    assert sum(w['tx'] for w in st['workers']) > 0
    assert all(w['status'] == 'idle' and w['accepting'] == 1 and w['rss'] > 0 for w in st['workers'])
    assert sum(c['requests'] for w in st['workers'] for c in w['cores']) == 6
    assert st['sockets'][0]['name'] == f'127.0.0.1:{srv.port}'
    # delta_requests counts since the previous read
    assert sum(w['delta_requests'] for w in read_stats(sport)['workers']) == 0
    # a respawn shows up
    old = st['workers'][0]['pid']
    os.kill(old, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        w1 = read_stats(sport)['workers'][0]
        if w1['pid'] not in (0, old):
            break
        time.sleep(0.05)
    assert w1['respawn_count'] == 1 and w1['pid'] != old


def test_stats_on_a_unix_socket(ops, tmp_path):
    path = tmp_path / 'stats.sock'
    srv, _ = ops('--master', '--processes', '1', '--stats', str(path))
    assert get(srv, '/')[0] == 200

    def unix_stats():
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(str(path))
            data = b''
            while chunk := s.recv(65536):
                data += chunk
        return json.loads(data)

    # The worker counts a request once its response is sent (as uWSGI does, when it closes the
    # request): right after the client has read it, the count may still be 0.
    counts = []
    assert wait_for(lambda: counts.append(unix_stats()['workers'][0]['requests']) or counts[-1] >= 1,
                    timeout=10)
    assert counts[-1] == 1, counts


def test_stats_busy_worker_and_http(ops):
    sport = free_port()
    srv, _ = ops('--master', '--processes', '1', '--stats', f'127.0.0.1:{sport}', '--stats-http')
    t = threading.Thread(target=lambda: get(srv, '/sleep?1.5'))
    t.start()
    time.sleep(0.5)
    st = read_stats(sport, http=True)
    assert st['workers'][0]['status'] == 'busy'
    assert st['workers'][0]['cores'][0]['in_request'] == 1
    t.join()
    # Idle once the worker has finished the request, which is after the client has the response.
    assert wait_for(lambda: read_stats(sport, http=True)['workers'][0]['status'] == 'idle', timeout=10)


# ---- signal framework -------------------------------------------------------------------------

SIGNAL_MODES = ['sync', 'async', 'gevent']
MODE_ARGS = {'sync': [], 'async': ASYNC, 'gevent': ['--plugins', 'gevent', '--gevent', '10']}


def signal_server(ops, mode, tmp_path, *extra):
    plugin = {'async': 'fcontext', 'gevent': 'gevent'}.get(mode)
    if plugin and not has_plugin(plugin):
        pytest.skip(f'{plugin} plugin not built')
    watched = tmp_path / 'watched.txt'
    watched.write_text('a')
    srv, d = ops('--master', '--processes', '2', *MODE_ARGS[mode], *extra,
                 env={'OPS_TIMER': '1', 'OPS_WATCH': str(watched)})
    wait_lines(d, 'postfork', 2)
    return srv, d, watched


@pytest.mark.parametrize('mode', SIGNAL_MODES)
def test_timer_and_filemon_fire_in_a_worker(ops, mode, tmp_path):
    srv, d, watched = signal_server(ops, mode, tmp_path)
    ticks = wait_lines(d, 'timer', 3, timeout=3)
    assert len(ticks) >= 3, srv.log()
    num = int(ticks[0].split()[0])
    assert all(int(t.split()[0]) == num for t in ticks)
    assert {int(t.split()[1]) for t in ticks} <= {1, 2}
    watched.write_text('changed')
    fm = wait_lines(d, 'filemon', 1, timeout=3)
    assert fm, srv.log()
    assert int(fm[0].split()[1]) in (1, 2)


@pytest.mark.parametrize('mode', SIGNAL_MODES)
def test_signal_routing_to_targets(ops, mode, tmp_path):
    srv, d, _ = signal_server(ops, mode, tmp_path)
    assert get(srv, '/registered') == (200, '1 0')
    assert get(srv, '/signal?50') == (200, 'sent')
    assert sorted(wait_lines(d, 'sig50', 2)) == ['1', '2']      # "workers": all of them
    assert get(srv, '/signal?51') == (200, 'sent')
    assert wait_lines(d, 'sig51', 1) == ['2']                    # "worker2"
    for _ in range(4):
        assert get(srv, '/signal?52') == (200, 'sent')
    got = wait_lines(d, 'sig52', 4)
    assert len(got) == 4 and set(got) <= {'1', '2'}             # "": one worker each time
    time.sleep(0.3)
    assert len(lines(d, 'sig52')) == 4
    assert get(srv, '/signal?99')[0] == 200                      # unregistered: dropped, logged
    assert srv.wait_log('uwsgi signal 99 is not registered')


@pytest.mark.parametrize('mode', SIGNAL_MODES)
def test_signal_wait_takes_the_signal(ops, mode, tmp_path):
    srv, d, _ = signal_server(ops, mode, tmp_path)
    result = {}
    t = threading.Thread(target=lambda: result.update(r=get(srv, '/wait?53', timeout=10)))
    t.start()
    time.sleep(0.5)
    # The other worker (sync: the waiting one is busy) raises 53 for "workers".
    deadline = time.monotonic() + 5
    while 'r' not in result and time.monotonic() < deadline:
        get(srv, '/signal?53')
        t.join(timeout=0.5)
    t.join(timeout=5)
    assert result.get('r') == (200, '53'), srv.log()
    # the waiting worker took the signal, so only the other worker ran the handler
    assert len(set(wait_lines(d, 'sig53', 1))) == 1


# ---- bad clients ------------------------------------------------------------------------------

def test_slowloris_does_not_starve_async_cores(ops):
    if not has_plugin('fcontext'):
        pytest.skip('fcontext plugin not built')
    srv, _ = ops('--plugins', 'fcontext', '--fcontext', '--async', '50', '--socket-timeout', '3',
                 '--listen', '512')
    socks = []
    try:
        for _ in range(300):
            s = socket.create_connection(('127.0.0.1', srv.port))
            s.sendall(b'GET / HTTP/1.1\r\nHost: x\r\n')  # half a head, then nothing
            socks.append(s)
        time.sleep(0.3)
        t0 = time.monotonic()
        for _ in range(5):
            assert get(srv, '/pid', timeout=5)[0] == 200
        assert time.monotonic() - t0 < 2
        # completing a stalled head gets it served
        socks[0].sendall(b'\r\n')
        socks[0].settimeout(5)
        assert socks[0].recv(100).startswith(b'HTTP/1.1 200')
        # the others are closed after --socket-timeout
        socks[1].settimeout(6)
        try:
            assert socks[1].recv(100) == b''
        except ConnectionResetError:
            pass  # closed with our unread half head in its buffer: a reset is a close too
        assert srv.wait_log('did not complete within --socket-timeout')
    finally:
        for s in socks:
            s.close()
