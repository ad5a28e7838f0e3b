"""Routes for test_python_interp_options.py, test_reload_on_exception.py,
test_wsgi_contract_options.py, test_py_tracebacker.py, test_request_options.py and
test_stats_format.py. Answers are JSON unless said otherwise."""
import json
import os
import sys
import threading
import time


class AppError(Exception):
    pass


def bg_sleeper():
    while True:
        time.sleep(0.2)


def application(environ, start_response):
    """the app"""
    path = environ['PATH_INFO']
    q = environ.get('QUERY_STRING', '')
    if path == '/raise':
        # ?zero: ZeroDivisionError('division by zero'); ?app: AppError('boom value'); ?key: KeyError
        if q == 'zero':
            1 / 0
        if q == 'key':
            raise KeyError('k')
        raise AppError('boom value')
    if path == '/big-header':
        start_response('200 OK', [('Content-Type', 'text/plain'), ('X-Big', 'a' * int(q))])
        return [b'ok']
    if path == '/bytes':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return b'bare bytes'
    if path == '/file':
        # wsgi.file_wrapper over a regular file: the server may sendfile() it.
        f = open(os.environ['OPTS2_FILE'], 'rb')
        start_response('200 OK', [('Content-Type', 'application/octet-stream')])
        return environ['wsgi.file_wrapper'](f)
    if path == '/sleep':
        if not any(t.name == 'opts2-sleeper' for t in threading.enumerate()):
            threading.Thread(target=bg_sleeper, name='opts2-sleeper', daemon=True).start()
        sys.stderr.write('SLEEPING\n')
        sys.stderr.flush()
        deadline = time.monotonic() + float(q or '3')
        while time.monotonic() < deadline:
            time.sleep(0.05)
    out = {
        'pid': os.getpid(),
        'executable': sys.executable,
        'optimize': sys.flags.optimize,
        'no_site': sys.flags.no_site,
        'site_loaded': 'site' in sys.modules,
        'debug': __debug__,
        'doc': application.__doc__,
        'prefix': sys.prefix,
        'SCRIPT_NAME': environ.get('SCRIPT_NAME'),
        'PATH_INFO': path,
        'nvars': len([k for k in environ if k.isupper()]),
        'app': 'opts2',
    }
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [json.dumps(out).encode()]


def other(environ, start_response):
    """The --mount app of test_wsgi_contract_options.py."""
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [json.dumps({'app': 'other', 'SCRIPT_NAME': environ.get('SCRIPT_NAME')}).encode()]
