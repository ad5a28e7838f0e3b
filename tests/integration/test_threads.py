"""--threads N: a sync worker serving N requests at once on N OS threads (apps/threads_app.py).

A request to /barrier?N only succeeds when N requests run at the same time, so these tests
assert concurrency without timing anything."""
import os
import signal
import threading

import pytest

from conftest import app_path, free_port, start_uwsgi
from helpers_core import HttpReader, connect, request_bytes
from test_config import run_fail, wait_for
from test_operations import read_stats

APP = app_path('threads_app.py')


def get(port, path, timeout=20):
    """GET on a new connection: (status, body)."""
    with connect(port, timeout) as c:
        c.sendall(request_bytes('GET', path))
        r = HttpReader(c).read_response()
        return r.status, r.body


def at_once(port, paths, timeout=20):
    """GET every path on its own connection, all at the same time: [(status, body)] in order."""
    out = [None] * len(paths)

    def one(i):
        try:
            out[i] = get(port, paths[i], timeout)
        except OSError as e:
            out[i] = (0, repr(e).encode())

    ts = [threading.Thread(target=one, args=(i,)) for i in range(len(paths))]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout + 5)
    return out


def cores(results):
    return {body.split(b'core=')[1].split()[0] for _, body in results}


def test_threads_serve_requests_at_the_same_time(uwsgi_server):
    s = uwsgi_server('--wsgi-file', APP, '--threads', '4')
    res = at_once(s.port, ['/barrier?4'] * 4)
    assert all(st == 200 and body.startswith(b'met') for st, body in res), res
    # Each thread is a core of its own: env['uwsgi.core'] and the request log say which.
    assert cores(res) == {b'0', b'1', b'2', b'3'}, res
    assert s.wait_log('core: 3]')


def test_environ_says_multithread_only_with_threads(uwsgi_server):
    # PEP 3333: wsgi.multithread is true when another thread may call the app at the same time.
    assert get(uwsgi_server('--wsgi-file', APP, '--threads', '2').port, '/multithread') == (200, b'True')
    assert get(uwsgi_server('--wsgi-file', APP).port, '/multithread') == (200, b'False')


def test_stats_show_one_core_per_thread(uwsgi_server):
    sport = free_port()
    s = uwsgi_server('--wsgi-file', APP, '--master', '--threads', '3', '--stats', f'127.0.0.1:{sport}')
    res = at_once(s.port, ['/barrier?3'] * 3)
    assert all(st == 200 for st, _ in res), res
    # A request's end is published just after its response is written: poll briefly.
    worker = wait_for(lambda: (lambda w: w if w['requests'] == 3 else None)(read_stats(sport)['workers'][0]),
                      timeout=5)
    assert worker, read_stats(sport)
    assert [c['id'] for c in worker['cores']] == [0, 1, 2]
    assert all(c['requests'] == 1 for c in worker['cores']), worker['cores']


def test_one_thread_serves_one_request_at_a_time(uwsgi_server):
    # The control for the test above: without --threads the barrier is never met.
    s = uwsgi_server('--wsgi-file', APP)
    res = at_once(s.port, ['/barrier?2,1'] * 2)
    assert [st for st, _ in res] == [504, 504], res


def test_threads_with_processes_and_keep_alive(uwsgi_server):
    # Kept-alive connections go back to the worker's shared epoll between requests: any free
    # thread takes the next one, and idle ones hold no thread.
    s = uwsgi_server('--wsgi-file', APP, '--master', '--processes', '2', '--threads', '3')
    idle = []
    for _ in range(6):
        c = connect(s.port)
        c.sendall(request_bytes('GET', '/'))
        assert HttpReader(c).read_response().status == 200
        idle.append(c)
    errors = []

    def client(n):
        try:
            with connect(s.port) as c:
                r = HttpReader(c)
                for i in range(20):
                    c.sendall(request_bytes('GET', f'/?{n}-{i}'))
                    resp = r.read_response()
                    assert resp.status == 200 and resp.body.startswith(b'hello core='), resp.body
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    ts = [threading.Thread(target=client, args=(n,)) for n in range(6)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    assert not errors, errors
    # The six idle connections still work, and did not hold threads meanwhile.
    for c in idle:
        c.sendall(request_bytes('GET', '/again'))
        assert HttpReader(c).read_response().status == 200
        c.close()


def test_each_thread_sends_on_its_own_request(uwsgi_server):
    # uwsgi.send() without an fd writes on the calling thread's request.
    s = uwsgi_server('--wsgi-file', APP, '--threads', '4')
    for _ in range(3):
        res = at_once(s.port, ['/send'] * 4)
        assert res == [(200, b'ok')] * 4, res


def test_graceful_reload_lets_every_thread_finish(uwsgi_server):
    s = uwsgi_server('--wsgi-file', APP, '--master', '--threads', '4')
    out = []
    t = threading.Thread(target=lambda: out.extend(at_once(s.port, ['/sleep?1.5'] * 3)))
    t.start()
    # The fourth thread answers while the other three sleep.
    assert wait_for(lambda: get(s.port, '/sleeping')[1] == b'3', timeout=5), 'three sleepers never ran at once'
    os.kill(s.proc.pid, signal.SIGHUP)
    t.join(15)
    assert [st for st, _ in out] == [200, 200, 200], out
    # The new worker serves, with all its threads.
    res = wait_for(lambda: (lambda r: r if all(st == 200 for st, _ in r) else None)(
        at_once(s.port, ['/barrier?4,5'] * 4)), timeout=15, step=0.2)
    assert res, s.log()


def test_max_requests_recycles_a_threaded_worker(uwsgi_server):
    s = uwsgi_server('--wsgi-file', APP, '--master', '--threads', '2', '--max-requests', '5')
    for i in range(4):
        res = at_once(s.port, ['/'] * 6)
        assert all(st == 200 for st, _ in res), (i, res)
    assert s.wait_log('reached --max-requests')


def test_stop_with_idle_threads_is_prompt():
    s = start_uwsgi(['--wsgi-file', APP, '--master', '--threads', '8'])
    try:
        assert get(s.port, '/')[0] == 200
        os.killpg(s.proc.pid, signal.SIGINT)
        assert s.proc.wait(timeout=5) is not None
    finally:
        s.stop()


@pytest.mark.parametrize('value', ['-1', '5000', 'many'])
def test_bad_threads_value_stops_start_up(value):
    rc, out = run_fail(['--http-socket', f'127.0.0.1:{free_port()}', '--wsgi-file', APP, '--threads', value])
    assert rc != 0
    assert 'threads' in out, out


def test_threads_with_async_is_refused():
    rc, out = run_fail(['--http-socket', f'127.0.0.1:{free_port()}', '--wsgi-file', APP, '--threads', '2',
                        '--plugins', 'fcontext', '--fcontext', '--async', '4'])
    assert rc != 0
    assert '--threads cannot be combined' in out, out


def test_app_threads_run_while_request_threads_wait(uwsgi_server):
    # Every request thread waits in epoll_wait without the GIL: an app's own thread keeps going.
    s = uwsgi_server('--wsgi-file', APP, '--threads', '3')
    first = int(get(s.port, '/ticks')[1])
    assert wait_for(lambda: int(get(s.port, '/ticks')[1]) > first + 5, timeout=5, step=0.3)
