"""Async cores on every {suspend engine} x {I/O engine}: many concurrent sleepers in one worker,
slow clients, fd waits with timeouts, generators, deep recursion and exceptions across switches."""
import json
import resource
import selectors
import socket
import threading
import time

import pytest

from conftest import FRAME_SHAPES, app_path, start_uwsgi

APP = app_path('core_async.py')
SUSPEND = ['ugreen', 'fcontext']
IO = ['epoll', 'libev', 'libuv']
MATRIX = [(s, i) for s in SUSPEND for i in IO]


def engine_args(suspend, io, cores):
    plugins = [suspend] + ([io] if io != 'epoll' else [])
    return ['--plugins', ','.join(plugins), f'--{suspend}', '--io-engine', io, '--async', str(cores),
            '--listen', '2048', '--disable-logging']


def raise_fd_limit(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(n, hard), hard))


def concurrent_get(port, paths, timeout=15.0):
    """Send GET path on one connection per path, all at once, without threads.

    Returns ([(status, body)], wall seconds until the last response)."""
    raise_fd_limit(len(paths) * 2 + 256)
    sel = selectors.DefaultSelector()
    results = [None] * len(paths)
    bufs = [b''] * len(paths)
    t0 = time.monotonic()
    pending = 0
    for i, p in enumerate(paths):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex(('127.0.0.1', port))
        req = f'GET {p} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'.encode()
        sel.register(s, selectors.EVENT_WRITE, (i, req))
        pending += 1
    deadline = t0 + timeout
    while pending and time.monotonic() < deadline:
        for key, ev in sel.select(timeout=0.5):
            s = key.fileobj
            i, req = key.data
            if ev & selectors.EVENT_WRITE:
                try:
                    s.send(req)  # small: goes out whole
                except OSError as e:
                    results[i] = (0, repr(e).encode())
                    sel.unregister(s)
                    s.close()
                    pending -= 1
                    continue
                sel.modify(s, selectors.EVENT_READ, (i, req))
                continue
            try:
                d = s.recv(65536)
            except OSError as e:
                d = b''
                bufs[i] += repr(e).encode()
            if d:
                bufs[i] += d
                continue
            sel.unregister(s)
            s.close()
            pending -= 1
            raw = bufs[i]
            head, _, body = raw.partition(b'\r\n\r\n')
            try:
                status = int(head.split(b' ', 2)[1])
            except (IndexError, ValueError):
                status = 0
            results[i] = (status, body)
    wall = time.monotonic() - t0
    for key in list(sel.get_map().values()):
        key.fileobj.close()
    sel.close()
    return results, wall


def get(port, path, timeout=10):
    with socket.create_connection(('127.0.0.1', port), timeout=timeout) as s:
        s.sendall(f'GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'.encode())
        data = b''
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
    head, _, body = data.partition(b'\r\n\r\n')
    return int(head.split(b' ', 2)[1]), body


@pytest.fixture(scope='module', params=MATRIX, ids=[f'{s}-{i}' for s, i in MATRIX])
def asrv(request, tmp_path_factory):
    suspend, io = request.param
    srv = start_uwsgi(['--wsgi-file', APP] + engine_args(suspend, io, 500),
                      log_dir=str(tmp_path_factory.mktemp('log')))
    srv.engines = (suspend, io)
    yield srv
    srv.stop()


def test_500_concurrent_sleepers_in_one_worker(asrv):
    results, wall = concurrent_get(asrv.port, ['/sleep?0.5'] * 500)
    bad = [r for r in results if r != (200, b'slept')]
    assert not bad, (len(bad), bad[:3], asrv.log()[-2000:])
    assert wall < 2.0, wall


def test_slow_clients_do_not_slow_others(asrv):
    head = b'GET /quick HTTP/1.0\r\n\r\n'
    slow_results = []

    def slow_client():
        with socket.create_connection(('127.0.0.1', asrv.port), timeout=10) as s:
            for i in range(10):  # one byte per 100 ms for a second
                s.sendall(head[i:i + 1])
                time.sleep(0.1)
            s.sendall(head[10:])
            data = b''
            while True:
                d = s.recv(4096)
                if not d:
                    break
                data += d
            slow_results.append(data)

    threads = [threading.Thread(target=slow_client) for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(0.15)
    t0 = time.monotonic()
    worst = 0.0
    for _ in range(100):
        t1 = time.monotonic()
        assert get(asrv.port, '/quick') == (200, b'quick')
        worst = max(worst, time.monotonic() - t1)
    quick_wall = time.monotonic() - t0
    for t in threads:
        t.join(timeout=15)
    assert quick_wall < 0.9, quick_wall   # the slow clients take a full second
    assert worst < 0.2, worst
    assert len(slow_results) == 3 and all(r.endswith(b'quick') for r in slow_results), slow_results


def test_wait_fd_read_timeout_sets_fdevent_timeout(asrv):
    results, wall = concurrent_get(asrv.port, ['/waitfd', '/waitfd?ready', '/quick'])
    (s1, timed_out), (s2, ready), (s3, quick) = results
    assert s1 == 200 and s2 == 200 and s3 == 200
    t = json.loads(timed_out)
    assert t['timeout'] is True, t
    assert not t['ready_is_fd']
    assert 0.8 < t['elapsed'] < 2.5, t
    r = json.loads(ready)
    assert not r['timeout'], r
    assert r['ready_is_fd'] is True, r
    assert r['elapsed'] < 0.5, r


def test_generators_interleave_in_one_worker(asrv):
    a, b = f'A{time.monotonic_ns()}', f'B{time.monotonic_ns()}'
    results, wall = concurrent_get(asrv.port, [f'/gen?{a}', f'/gen?{b}'])
    assert results[0][0] == 200 and results[1][0] == 200
    # Chunked body: the pieces are in there, in order.
    for name, (_, body) in zip((a, b), results):
        pieces = [f'{name}{i};'.encode() for i in range(5)]
        pos = [body.find(p) for p in pieces]
        assert all(p >= 0 for p in pos) and pos == sorted(pos), body
    log = json.loads(get(asrv.port, '/genlog')[1])
    mine = [x for x in log if x in (a, b)]
    assert sorted(mine) == sorted([a] * 5 + [b] * 5)
    # Not one generator after the other: they alternate.
    switches = sum(1 for x, y in zip(mine, mine[1:]) if x != y)
    assert switches >= 5, mine
    assert wall < 0.5 + 0.2, wall  # two 0.25 s generators in parallel, not 0.5 s


def test_deep_recursion_across_suspend(asrv):
    results, wall = concurrent_get(asrv.port, ['/recurse?500'] * 30 + ['/quick'] * 10)
    assert results[:30] == [(200, b'500')] * 30, (results[:3], asrv.log()[-2000:])
    assert all(r == (200, b'quick') for r in results[30:])
    assert wall < 1.5, wall


def test_frames_of_every_size_across_suspends(asrv):
    # All suspended at once on different cores, whose small first chunks share pages.
    paths = [f'/frames?{s}' for s in FRAME_SHAPES] * 8
    results, wall = concurrent_get(asrv.port, paths)
    assert results == [(200, f'{p[8:]} ok'.encode()) for p in paths], (results, asrv.log()[-2000:])


def test_exceptions_across_suspends(asrv):
    tags = [f't{i}' for i in range(50)]
    results, wall = concurrent_get(asrv.port, [f'/exc?{t}' for t in tags] + ['/sleep?0.1'] * 20)
    for tag, (status, body) in zip(tags, results):
        assert status == 200, (tag, body, asrv.log()[-2000:])
        assert json.loads(body) == {'exc_info_kept': True, 'cleared_after_except': True,
                                    'caught_after_suspend': True, 'finally_across_suspend': True}, (tag, body)
    assert all(r == (200, b'slept') for r in results[50:])
    assert 'Traceback' not in asrv.log()


def test_keep_alive_and_pipelining(asrv):
    from helpers_core import HttpReader, connect, request_bytes
    with connect(asrv.port) as c:
        c.sendall(request_bytes('GET', '/p1') + request_bytes('POST', '/echo', body=b'abc') +
                  request_bytes('GET', '/p3'))
        r = HttpReader(c)
        assert r.read_response().body == b'Hello /p1'
        assert json.loads(r.read_response().body)['len'] == 3
        assert r.read_response().body == b'Hello /p3'
        c.sendall(request_bytes('GET', '/p4'))
        assert r.read_response().body == b'Hello /p4'


def test_large_upload(asrv):
    import hashlib
    import os
    from helpers_core import exchange, request_bytes
    data = os.urandom(8 << 20)
    r = exchange(asrv.port, request_bytes('POST', '/echo', body=data), timeout=30)
    assert r.json() == {'len': len(data), 'sha1': hashlib.sha1(data).hexdigest()}


def test_slow_uploader_does_not_block_others(asrv):
    from helpers_core import HttpReader, connect, request_bytes
    done = []

    def slow():
        with connect(asrv.port) as c:
            c.sendall(request_bytes('POST', '/echo', headers={'Content-Length': '8'}))
            for _ in range(8):
                c.sendall(b'x')
                time.sleep(0.1)
            done.append(json.loads(HttpReader(c).read_response().body)['len'])

    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.15)
    t0 = time.monotonic()
    for _ in range(50):
        assert get(asrv.port, '/quick') == (200, b'quick')
    quick = time.monotonic() - t0
    t.join(timeout=10)
    assert done == [8]
    assert quick < 0.6, quick


def test_server_still_healthy(asrv):
    assert asrv.proc.poll() is None
    assert get(asrv.port, '/quick') == (200, b'quick')


@pytest.mark.parametrize('suspend,io', MATRIX, ids=[f'{s}-{i}' for s, i in MATRIX])
def test_1000_cores_serve_1000_sleepers(suspend, io, uwsgi_server):
    srv = uwsgi_server('--wsgi-file', APP, *engine_args(suspend, io, 1000))
    results, wall = concurrent_get(srv.port, ['/sleep?0.5'] * 1000, timeout=20)
    bad = [r for r in results if r != (200, b'slept')]
    assert not bad, (len(bad), bad[:3], srv.log()[-2000:])
    assert wall < 3.0, wall
