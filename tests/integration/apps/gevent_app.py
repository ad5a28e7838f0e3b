"""Requests that use gevent's own primitives under the gevent loop engine."""
import os
import sys
import time
import urllib.parse

import gevent
import gevent.event
import gevent.local
import gevent.monkey
import gevent.pool
import gevent.queue
from gevent.timeout import Timeout

import uwsgi

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import frame_shapes  # noqa: E402

# Long polling: /wait blocks on the current event, /set wakes every waiter and arms a new one.
_event = gevent.event.Event()
_request_local = gevent.local.local()


def primitives(tag):
    out = {}
    _request_local.tag = tag  # each request greenlet sees its own value across switches

    q = gevent.queue.Queue()

    def producer():
        for i in range(5):
            q.put(i)
            gevent.sleep(0.01)
        q.put(StopIteration)
    gevent.spawn(producer)
    out['queue'] = list(q)

    ev = gevent.event.Event()
    gevent.spawn_later(0.05, ev.set)
    out['event'] = ev.wait(1)

    def square(x):
        gevent.sleep(0.01)
        return x * x
    out['pool'] = gevent.pool.Pool(3).map(square, range(6))

    try:
        with Timeout(0.05):
            gevent.sleep(1)
        out['timeout'] = False
    except Timeout:
        out['timeout'] = True

    def child():
        _request_local.tag = 'child'
        return _request_local.tag
    g = gevent.spawn(child)
    g.join()
    gevent.sleep(0.1)
    out['local'] = (g.value, _request_local.tag)
    return out


def application(environ, start_response):
    global _event
    path = environ.get('PATH_INFO', '/')
    qs = urllib.parse.parse_qs(environ.get('QUERY_STRING', ''))
    status = '200 OK'
    if path == '/sleep':
        gevent.sleep(float(qs.get('t', ['0.5'])[0]))
        body = 'slept'
    elif path == '/primitives':
        body = repr(primitives(qs.get('tag', ['?'])[0]))
    elif path == '/time_sleep':
        time.sleep(0.5)
        body = 'patched=%s' % gevent.monkey.is_module_patched('time')
    elif path == '/wait':
        body = 'woken' if _event.wait(float(qs.get('t', ['5'])[0])) else 'timeout'
    elif path == '/set':
        ev, _event = _event, gevent.event.Event()
        ev.set()
        body = 'set'
    elif path == '/async_sleep':
        uwsgi.async_sleep(0.1)  # forbidden under gevent: raises
        body = 'not reached'
    elif path == '/frames':
        body = frame_shapes.check(environ['QUERY_STRING'], lambda: gevent.sleep(0.05))
    elif path == '/slow':
        gevent.sleep(float(qs.get('t', ['1.5'])[0]))
        body = 'finished pid=%d' % os.getpid()
    else:
        body = 'hello'
    data = body.encode()
    start_response(status, [('Content-Type', 'text/plain'), ('Content-Length', str(len(data)))])
    return [data]
