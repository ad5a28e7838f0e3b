"""Async-mode app for the greenlet suspend engine: sleeps with uWSGI's async API and suspends
from a nested plain function (Debian's uWSGI 2.0.21 hangs there on Python 3.11)."""
import sys

import uwsgi


def deep(n):
    # Plain (non-generator) recursion, then a suspend at the bottom: the frames above must survive.
    if n == 0:
        uwsgi.suspend()
        return 0
    return deep(n - 1) + 1


def application(environ, start_response):
    path = environ.get('PATH_INFO', '/')
    if path == '/sleep':
        uwsgi.async_sleep(0.5)
        uwsgi.suspend()
        depth = deep(50)
        try:
            raise ValueError('across a switch')
        except ValueError:
            uwsgi.suspend()
            exc = sys.exc_info()[0].__name__
        body = f'core={environ["uwsgi.core"]} depth={depth} exc={exc}\n'.encode()
    else:
        body = b'hello\n'
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])
    return [body]
