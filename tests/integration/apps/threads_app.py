"""Routes for --threads: requests that only finish when several run at the same time."""
import threading
import time

import uwsgi

_barriers = {}
_lock = threading.Lock()
_sleeping = 0
_ticks = 0


def _ticker():
    global _ticks
    while True:
        time.sleep(0.01)
        _ticks += 1


def _barrier(n, timeout):
    with _lock:
        b = _barriers.get(n)
        if b is None or b.broken:
            b = _barriers[n] = threading.Barrier(n, timeout=timeout)
        return b


def application(env, start_response):
    path = env['PATH_INFO']
    q = env.get('QUERY_STRING', '')
    if path == '/barrier':
        # ?N[,T]: returns 200 once N requests wait here together (proof they ran on N threads at
        # once), 504 if the others do not come within T seconds (default 10).
        n, _, t = q.partition(',')
        try:
            _barrier(int(n), float(t or 10)).wait()
            status, body = '200 OK', 'met'
        except threading.BrokenBarrierError:
            status, body = '504 Gateway Timeout', 'alone'
        body = f"{body} core={env['uwsgi.core']} thread={threading.get_ident()}"
    elif path == '/sleep':
        global _sleeping
        with _lock:
            _sleeping += 1
        try:
            time.sleep(float(q or '0.2'))
        finally:
            with _lock:
                _sleeping -= 1
        status, body = '200 OK', f"slept core={env['uwsgi.core']}"
    elif path == '/sleeping':
        status, body = '200 OK', str(_sleeping)
    elif path == '/multithread':
        status, body = '200 OK', str(env['wsgi.multithread'])
    elif path == '/ticks':
        # An app thread that counts while nothing is asked of the server.
        with _lock:
            if not any(t.name == 'ticker' for t in threading.enumerate()):
                threading.Thread(target=_ticker, name='ticker', daemon=True).start()
        status, body = '200 OK', str(_ticks)
    elif path == '/send':
        # uwsgi.send() writes raw bytes on this thread's own request, not another thread's: the
        # body is one byte from the app's iterable, one from uwsgi.send().
        def body():
            yield b'o'
            time.sleep(0.05)
            uwsgi.send(b'k')
        start_response('200 OK', [('Content-Length', '2'), ('Connection', 'close')])
        return body()
    else:
        status, body = '200 OK', f"hello core={env['uwsgi.core']}"
    data = body.encode()
    start_response(status, [('Content-Type', 'text/plain'), ('Content-Length', str(len(data)))])
    return [data]
