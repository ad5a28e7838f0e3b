"""The greenlet suspend engine and the gevent loop engine, against the real binary.

Concurrency checks use a raw-socket client multiplexed with selectors, so the client is never the
bottleneck: N requests that each sleep S seconds must finish together (wall time close to S).
"""
import http.client
import os
import resource
import selectors
import signal
import socket
import subprocess
import time

import pytest

from conftest import FRAME_SHAPES, app_path, base_args, free_port, start_uwsgi, uwsgi_binary

GEVENT = ['--plugins', 'gevent']
GREENLET = ['--plugins', 'greenlet', '--greenlet']


@pytest.fixture(autouse=True, scope='module')
def many_fds():
    """1,000 client sockets plus the server's need more than the usual 1,024 soft limit; the
    servers started by the tests inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 8192) if hard != resource.RLIM_INFINITY else 8192
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def parallel_get(port, paths, timeout=15.0):
    """GET every path at once (HTTP/1.0, one connection each); returns (wall seconds, responses)
    where each response is (status, body)."""
    sel = selectors.DefaultSelector()
    state = {}
    t0 = time.monotonic()
    for i, path in enumerate(paths):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex(('127.0.0.1', port))
        req = f'GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n'.encode()
        state[s] = {'i': i, 'out': req, 'in': bytearray()}
        sel.register(s, selectors.EVENT_WRITE)
    results = [None] * len(paths)
    left = len(paths)
    deadline = t0 + timeout
    while left and time.monotonic() < deadline:
        for key, ev in sel.select(timeout=0.5):
            s, st = key.fileobj, state[key.fileobj]
            try:
                if ev & selectors.EVENT_WRITE:
                    n = s.send(st['out'])
                    st['out'] = st['out'][n:]
                    if not st['out']:
                        sel.modify(s, selectors.EVENT_READ)
                    continue
                data = s.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b''
            if data:
                st['in'] += data
                continue
            sel.unregister(s)
            s.close()
            left -= 1
            results[st['i']] = parse_response(bytes(st['in']))
    for s in list(state):
        if s.fileno() >= 0:
            sel.unregister(s)
            s.close()
    sel.close()
    return time.monotonic() - t0, results


def parse_response(raw):
    head, _, body = raw.partition(b'\r\n\r\n')
    try:
        status = int(head.split(b' ', 2)[1])
    except (IndexError, ValueError):
        status = 0
    return status, body


def run_fail(args, timeout=15):
    """Run the binary expecting it to exit (not to serve): (returncode, output)."""
    binary = uwsgi_binary()
    if not binary.exists():
        pytest.skip(f'{binary} not built')
    cmd = [str(binary)] + base_args() + ['--http-socket', f'127.0.0.1:{free_port()}'] + args
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=app_path(''))
    return p.returncode, p.stdout + p.stderr


def gevent_libuv_available():
    r = subprocess.run(['/usr/bin/python3', '-c', 'import gevent; gevent.config.loop = "libuv-cffi"'],
                       capture_output=True)
    return r.returncode == 0


# ------------------------------------------------------------------------------------------------
# greenlet suspend engine
# ------------------------------------------------------------------------------------------------
IO_ENGINES = {
    'epoll': [],
    'libev': ['--plugins', 'libev', '--io-engine', 'libev'],
    'libuv': ['--plugins', 'libuv', '--io-engine', 'libuv'],
}


@pytest.mark.parametrize('io', ['epoll', 'libev', 'libuv'])
def test_greenlet_200_concurrent_sleeps(uwsgi_server, io):
    srv = uwsgi_server(*GREENLET, *IO_ENGINES[io], '--async', '200', '--listen', '1024',
                       '--wsgi-file', app_path('gevent_greenlet_app.py'))
    wall, results = parallel_get(srv.port, ['/sleep'] * 200)
    assert all(r is not None and r[0] == 200 for r in results), (results[:3], srv.log()[-2000:])
    # Each request: async_sleep(0.5), a suspend, a suspend 50 plain calls deep, a suspend while
    # handling an exception; the frames and the exception survive every switch.
    assert all(r[1].endswith(b'depth=50 exc=ValueError\n') for r in results), results[:3]
    assert len({r[1].split()[0] for r in results}) > 100  # really spread over many cores
    assert wall < 2.0, wall


def test_greenlet_suspend_from_nested_function(uwsgi_server):
    srv = uwsgi_server(*GREENLET, '--async', '4', '--wsgi-file', app_path('gevent_greenlet_app.py'))
    for _ in range(3):  # the same cores again: nothing left broken by the previous switches
        status, _, body = srv.request('GET', '/sleep', timeout=5)
        assert status == 200 and b'depth=50 exc=ValueError' in body


def test_greenlet_conflicting_suspend_engines_is_a_clear_error():
    rc, out = run_fail(['--plugins', 'greenlet', '--suspend-engine', 'ugreen', '--greenlet',
                        '--async', '2', '--wsgi-file', app_path('gevent_greenlet_app.py')])
    assert rc != 0 and 'two suspend engines' in out, out


# ------------------------------------------------------------------------------------------------
# gevent loop engine
# ------------------------------------------------------------------------------------------------
def read_lines_timed(sock, deadline):
    """Read a whole HTTP/1.0 response; returns (head, [(seconds since start, line)])."""
    t0 = time.monotonic()
    buf = b''
    lines = []
    head = None
    sock.settimeout(0.2)
    while time.monotonic() < deadline:
        try:
            data = sock.recv(4096)
        except socket.timeout:
            continue
        if not data:
            break
        buf += data
        if head is None and b'\r\n\r\n' in buf:
            head, buf = buf.split(b'\r\n\r\n', 1)
        if head is not None:
            while b'\n' in buf:
                line, buf = buf.split(b'\n', 1)
                lines.append((time.monotonic() - t0, line))
    return head, lines


def test_gevent_crazy_example_streams_and_keeps_background_task(uwsgi_server, tmp_path):
    out = tmp_path / 'bg.txt'
    srv = uwsgi_server(*GEVENT, '--gevent', '10', '--wsgi-file', app_path('gevent_crazy.py'))
    sock = socket.create_connection(('127.0.0.1', srv.port), timeout=5)
    t0 = time.monotonic()
    sock.sendall(f'GET /?out={out} HTTP/1.0\r\nHost: x\r\n\r\n'.encode())
    head, lines = read_lines_timed(sock, t0 + 10)
    sock.close()
    assert head is not None and b' 200 ' in head.split(b'\r\n')[0], head
    text = [l for _, l in lines]
    assert text[:3] == [b'sleeping for 1 second...', b'done', b'getting some ips...'], text
    assert text[3:] == [b'ip = 127.0.0.1'] * 4, text
    when = dict((l, t) for t, l in lines)
    # Streamed as produced: the first chunk is on the wire before the 1 s sleep ends, and the
    # second only after it.
    assert when[b'sleeping for 1 second...'] < 0.6, lines
    assert when[b'done'] >= 0.9, lines
    # The background greenlet outlives the response: not finished yet, finished a bit later.
    assert 'background done' not in (out.read_text() if out.exists() else '')
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and 'background done' not in (out.read_text() if out.exists() else ''):
        time.sleep(0.05)
    assert out.read_text().splitlines() == ['background task 1', 'background task 2',
                                            'background task 3', 'background done']


def test_gevent_streaming_http11_first_chunk_not_held(uwsgi_server):
    srv = uwsgi_server(*GEVENT, '--gevent', '10', '--wsgi-file', app_path('gevent_crazy.py'))
    sock = socket.create_connection(('127.0.0.1', srv.port), timeout=5)
    t0 = time.monotonic()
    sock.sendall(b'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    head, lines = read_lines_timed(sock, t0 + 10)
    sock.close()
    assert b'chunked' in head.lower()
    when = dict((l, t) for t, l in lines)
    assert when[b'sleeping for 1 second...'] < 0.6, lines


def test_gevent_1000_concurrent_sleeps(uwsgi_server):
    srv = uwsgi_server(*GEVENT, '--gevent', '1000', '--listen', '1024', '--disable-logging',
                       '--wsgi-file', app_path('gevent_app.py'))
    wall, results = parallel_get(srv.port, ['/sleep?t=0.5'] * 1000)
    bad = [r for r in results if r is None or r != (200, b'slept')]
    assert not bad, (len(bad), bad[:3], srv.log()[-2000:])
    assert wall < 3.0, wall


@pytest.mark.parametrize('engine', ['gevent', 'greenlet'])
def test_frames_of_every_size_across_switches(uwsgi_server, engine):
    # Each connection's greenlet starts its frames in a small chunk (pages shared with other
    # greenlets'), spilling into 16 KiB chunks; all suspended at once, then every shape in turn
    # on one keep-alive connection (parked and resumed between requests).
    if engine == 'gevent':
        srv = uwsgi_server(*GEVENT, '--gevent', '100', '--wsgi-file', app_path('gevent_app.py'))
    else:
        srv = uwsgi_server(*GREENLET, '--async', '100', '--wsgi-file', app_path('core_async.py'))
    paths = [f'/frames?{s}' for s in FRAME_SHAPES] * 8
    wall, results = parallel_get(srv.port, paths)
    assert results == [(200, f'{p[8:]} ok'.encode()) for p in paths], (results, srv.log()[-2000:])
    conn = http.client.HTTPConnection('127.0.0.1', srv.port, timeout=10)
    for shape in FRAME_SHAPES * 2:
        conn.request('GET', f'/frames?{shape}')
        resp = conn.getresponse()
        assert (resp.status, resp.read()) == (200, f'{shape} ok'.encode())
    conn.close()


def test_gevent_limits_concurrency_to_n(uwsgi_server):
    # --gevent 5: 20 requests of 0.3 s are served five at a time, so take about four rounds.
    srv = uwsgi_server(*GEVENT, '--gevent', '5', '--wsgi-file', app_path('gevent_app.py'))
    wall, results = parallel_get(srv.port, ['/sleep?t=0.3'] * 20)
    assert all(r == (200, b'slept') for r in results), results
    assert 1.1 < wall < 3.0, wall


def test_gevent_primitives_in_requests(uwsgi_server):
    srv = uwsgi_server(*GEVENT, '--gevent', '20', '--wsgi-file', app_path('gevent_app.py'))
    wall, results = parallel_get(srv.port, [f'/primitives?tag=r{i}' for i in range(10)])
    for i, (status, body) in enumerate(results):
        assert status == 200, body
        got = eval(body.decode())  # the app's repr() of a dict of plain values
        assert got['queue'] == [0, 1, 2, 3, 4]
        assert got['event'] is True
        assert got['pool'] == [0, 1, 4, 9, 16, 25]
        assert got['timeout'] is True
        assert got['local'] == ('child', f'r{i}')  # greenlet-local, per request
    assert wall < 1.5, wall


def test_gevent_monkey_patch_makes_time_sleep_cooperative(uwsgi_server):
    srv = uwsgi_server(*GEVENT, '--gevent', '20', '--gevent-monkey-patch',
                       '--wsgi-file', app_path('gevent_app.py'))
    assert srv.wait_log('monkey patching done')
    wall, results = parallel_get(srv.port, ['/time_sleep'] * 10)
    assert all(r == (200, b'patched=True') for r in results), results
    assert wall < 1.5, wall


def test_gevent_early_monkey_patch(uwsgi_server):
    srv = uwsgi_server(*GEVENT, '--gevent', '20', '--gevent-early-monkey-patch',
                       '--wsgi-file', app_path('gevent_app.py'))
    wall, results = parallel_get(srv.port, ['/time_sleep'] * 5)
    assert all(r == (200, b'patched=True') for r in results), results
    assert wall < 1.5, wall


def test_gevent_flask_app(uwsgi_server):
    pytest.importorskip('flask')
    srv = uwsgi_server(*GEVENT, '--gevent', '20', '--wsgi-file', app_path('gevent_flask.py'))
    wall, results = parallel_get(srv.port, ['/'] * 10)
    assert all(r == (200, b'flask ok') for r in results), results
    assert wall < 1.5, wall
    status, _, body = srv.request('GET', '/stream')
    assert (status, body) == (200, b'a\nb\n')


def test_gevent_long_polling(uwsgi_server):
    srv = uwsgi_server(*GEVENT, '--gevent', '100', '--wsgi-file', app_path('gevent_app.py'))
    import threading
    box = {}
    waiter = threading.Thread(target=lambda: box.update(r=parallel_get(srv.port, ['/wait?t=5'] * 50)))
    waiter.start()
    time.sleep(0.5)
    assert waiter.is_alive()  # all 50 are parked on the event
    t_set = time.monotonic()
    assert srv.request('GET', '/set')[2] == b'set'
    waiter.join(5)
    assert not waiter.is_alive()
    wall, results = box['r']
    assert all(r == (200, b'woken') for r in results), results
    assert time.monotonic() - t_set < 1.0


def test_gevent_forbids_uwsgi_async_api(uwsgi_server):
    srv = uwsgi_server(*GEVENT, '--gevent', '5', '--wsgi-file', app_path('gevent_app.py'))
    status, _, _ = srv.request('GET', '/async_sleep')
    assert status == 500
    assert srv.wait_log('forbidden'), srv.log()
    assert "mixing uWSGI's async API" in srv.log()
    assert srv.request('GET', '/')[2] == b'hello'  # the worker goes on


def test_gevent_with_threads_is_a_start_up_error():
    rc, out = run_fail([*GEVENT, '--threads', '4', '--gevent', '10', '--wsgi-file', app_path('gevent_app.py')])
    assert rc != 0
    assert '--threads cannot be combined with the gevent loop engine' in out, out


@pytest.mark.parametrize('count', ['0', '1000001', '99999999999999'])
def test_gevent_needs_a_sane_count(count):
    # Rejected as the option is read: before Python starts (no version banner), naming the option.
    rc, out = run_fail([*GEVENT, '--gevent', count, '--wsgi-file', app_path('gevent_app.py')])
    assert rc != 0 and 'option --gevent' in out and 'between 1 and 1000000' in out, out
    assert 'Python version' not in out, out


def test_gevent_loop_choice(uwsgi_server):
    srv = uwsgi_server(*GEVENT, '--gevent', '5', '--gevent-loop', 'libev', '--wsgi-file', app_path('gevent_app.py'))
    assert srv.request('GET', '/sleep?t=0.05')[2] == b'slept'
    args = [*GEVENT, '--gevent', '5', '--gevent-loop', 'libuv', '--wsgi-file', app_path('gevent_app.py')]
    if gevent_libuv_available():
        srv = uwsgi_server(*args)
        assert srv.request('GET', '/sleep?t=0.05')[2] == b'slept'
    else:  # Debian's python3-gevent ships no libuv backend: a clear start-up error
        rc, out = run_fail(args)
        assert rc != 0 and '--gevent-loop libuv cannot be used' in out, out
    rc, out = run_fail([*GEVENT, '--gevent', '5', '--gevent-loop', 'select', '--wsgi-file', app_path('gevent_app.py')])
    assert rc != 0 and 'libev or libuv' in out, out


def test_gevent_debian_plugin_names(uwsgi_server):
    srv = uwsgi_server('--plugins', 'python3,gevent_python3', '--gevent', '5', '--wsgi-file', app_path('gevent_app.py'))
    assert srv.request('GET', '/')[2] == b'hello'


def test_gevent_keep_alive_connection(uwsgi_server):
    srv = uwsgi_server(*GEVENT, '--gevent', '2', '--wsgi-file', app_path('gevent_app.py'))
    conn = srv.connection()
    try:
        for _ in range(5):  # parked between requests, served again when readable
            conn.request('GET', '/sleep?t=0.01')
            resp = conn.getresponse()
            assert resp.status == 200 and resp.read() == b'slept'
    finally:
        conn.close()
    # Idle keep-alive connections do not hold the two slots.
    idle = [srv.connection() for _ in range(3)]
    for c in idle:
        c.request('GET', '/')
        assert c.getresponse().read() == b'hello'
    assert srv.request('GET', '/', timeout=3)[2] == b'hello'
    for c in idle:
        c.close()


@pytest.mark.parametrize('master', [False, True])
def test_gevent_sigint_finishes_request_in_flight(tmp_path, master):
    extra = ['--master', '--processes', '1'] if master else []
    srv = start_uwsgi([*GEVENT, '--gevent', '5', *extra, '--wsgi-file', app_path('gevent_app.py')],
                      log_dir=str(tmp_path))
    try:
        sock = socket.create_connection(('127.0.0.1', srv.port), timeout=5)
        sock.sendall(b'GET /slow?t=1.0 HTTP/1.0\r\nHost: x\r\n\r\n')
        time.sleep(0.3)
        os.kill(srv.proc.pid, signal.SIGINT)
        data = b''
        sock.settimeout(5)
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        sock.close()
        status, body = parse_response(data)
        assert status == 200 and body.startswith(b'finished pid='), (data, srv.log())
        worker_pid = int(body.split(b'=')[1])
        assert srv.proc.wait(timeout=5) is not None
        # The worker is gone too (reaped, not a zombie).
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and os.path.exists(f'/proc/{worker_pid}'):
            time.sleep(0.05)
        assert not os.path.exists(f'/proc/{worker_pid}'), open(f'/proc/{worker_pid}/stat').read()
    finally:
        srv.stop()
