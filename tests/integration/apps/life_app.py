"""The app-life options: --catch-exceptions, --import, --pyargv, uwsgi.atexit.

/boom          raises before start_response
/late          raises in the body generator after the headers went out
/argv          repr(sys.argv)
/imports       the order the --import modules ran in (they append to builtins.import_order)
/atexit?PATH   sets uwsgi.atexit to write "uwsgi.atexit ran in PID" to PATH.PID; returns the pid
"""
import builtins
import os
import sys

import uwsgi


def application(environ, start_response):
    path = environ['PATH_INFO']
    qs = environ.get('QUERY_STRING', '')
    if path == '/boom':
        raise KeyError('boom-marker')
    if path == '/late':
        start_response('200 OK', [('Content-Type', 'text/plain')])

        def body():
            yield b'part1 '
            raise ValueError('late-marker')
        return body()
    if path == '/argv':
        out = repr(sys.argv)
    elif path == '/imports':
        out = ','.join(getattr(builtins, 'import_order', []))
    elif path == '/atexit':
        def done(target='%s.%d' % (qs, os.getpid())):
            with open(target, 'w') as f:
                f.write('uwsgi.atexit ran in %d' % os.getpid())
        uwsgi.atexit = done
        out = str(os.getpid())
    else:
        out = 'hello'
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [out.encode()]
