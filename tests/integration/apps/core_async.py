"""Routes for the async-core tests (test_async.py): sleepers, fd waits, generators, deep
recursion and exceptions across suspends."""
import json
import os
import sys
import time

import uwsgi

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import frame_shapes  # noqa: E402

GEN_LOG = []


def _text(start_response, body, status='200 OK'):
    if isinstance(body, str):
        body = body.encode()
    start_response(status, [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])
    return [body]


def _rec(n):
    if n == 0:
        uwsgi.async_sleep(0.2)
        uwsgi.suspend()
        return 0
    return 1 + _rec(n - 1)


def application(environ, start_response):
    path = environ['PATH_INFO']
    qs = environ.get('QUERY_STRING', '')
    if path == '/sleep':
        uwsgi.async_sleep(float(qs or 0.5))
        uwsgi.suspend()
        return _text(start_response, 'slept')
    if path == '/echo':
        import hashlib
        data = environ['wsgi.input'].read()
        return _text(start_response, json.dumps({'len': len(data), 'sha1': hashlib.sha1(data).hexdigest()}))
    if path == '/quick':
        return _text(start_response, 'quick')
    if path == '/waitfd':
        r, w = os.pipe()
        try:
            if qs == 'ready':
                os.write(w, b'x')
            t0 = time.monotonic()
            uwsgi.wait_fd_read(r, 1)
            uwsgi.suspend()
            return _text(start_response, json.dumps({
                'timeout': environ.get('x-wsgiorg.fdevent.timeout'),
                'ready_is_fd': uwsgi.ready_fd() == r,
                'elapsed': time.monotonic() - t0,
            }))
        finally:
            os.close(r)
            os.close(w)
    if path == '/gen':
        # Each piece registers a short timer before yielding: the core sleeps between pieces.
        name = qs

        def gen():
            for i in range(5):
                GEN_LOG.append(name)
                uwsgi.async_sleep(0.05)
                yield f'{name}{i};'.encode()
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return gen()
    if path == '/genlog':
        return _text(start_response, json.dumps(GEN_LOG))
    if path == '/frames':
        def suspend():
            uwsgi.async_sleep(0.05)
            uwsgi.suspend()
        return _text(start_response, frame_shapes.check(qs, suspend))
    if path == '/recurse':
        depth = int(qs or 500)
        return _text(start_response, str(_rec(depth)))
    if path == '/exc':
        tag = qs
        results = {}
        try:
            raise ValueError(tag)
        except ValueError:
            uwsgi.async_sleep(0.1)
            uwsgi.suspend()  # other cores raise and catch their own meanwhile
            results['exc_info_kept'] = str(sys.exc_info()[1]) == tag
        results['cleared_after_except'] = sys.exc_info()[1] is None
        try:
            uwsgi.async_sleep(0.05)
            uwsgi.suspend()
            raise KeyError(tag)
        except KeyError as e:
            results['caught_after_suspend'] = e.args[0] == tag
        try:
            try:
                raise RuntimeError(tag)
            finally:
                uwsgi.async_sleep(0.05)
                uwsgi.suspend()
        except RuntimeError as e:
            results['finally_across_suspend'] = e.args[0] == tag
        return _text(start_response, json.dumps(results))
    return _text(start_response, 'Hello ' + path)
