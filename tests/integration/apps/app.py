"""One WSGI app with a route per behaviour the integration tests check (see test_wsgi.py)."""
import hashlib
import io
import json
import os
import sys
import wsgiref.validate

try:
    import uwsgi
except ImportError:  # imported by a plain interpreter, e.g. to check syntax
    uwsgi = None


def ok(start_response, body, ctype='text/plain', extra=()):
    if isinstance(body, str):
        body = body.encode()
    start_response('200 OK', [('Content-Type', ctype), ('Content-Length', str(len(body)))] + list(extra))
    return [body]


def as_json(start_response, obj):
    return ok(start_response, json.dumps(obj, sort_keys=True), 'application/json')


def validated_inner(environ, start_response):
    # wsgiref's InputWrapper insists on read(n) with one argument.
    n = int(environ.get('CONTENT_LENGTH') or 0)
    body = environ['wsgi.input'].read(n) if n else b''
    environ['wsgi.errors'].write('')
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'validated:', body]


validated = wsgiref.validate.validator(validated_inner)


def environ_report(environ):
    out = {}
    for key, value in environ.items():
        if isinstance(value, (str, int, float, bool)) or value is None:
            out[key] = [type(value).__name__, value]
        elif isinstance(value, bytes):
            out[key] = ['bytes', value.decode('latin-1')]
        elif isinstance(value, tuple):
            out[key] = ['tuple', list(value)]
        else:
            out[key] = [type(value).__name__, None]
    out['__name__'] = ['str', __name__]
    out['__file__'] = ['str', __file__]
    return out


class ClosingBody:
    """An iterable whose close() leaves a mark in a file (query string = path)."""

    def __init__(self, path, chunks):
        self.path, self.chunks = path, chunks

    def __iter__(self):
        return iter(self.chunks)

    def close(self):
        with open(self.path, 'w') as f:
            f.write('closed')


def gen_chunks(n):
    for i in range(n):
        yield b'chunk%d;' % i


def gen_then_str():
    yield b'fine'
    yield 'not bytes'


def application(environ, start_response):
    path = environ['PATH_INFO']
    qs = environ.get('QUERY_STRING', '')
    inp = environ['wsgi.input']

    if path == '/':
        return ok(start_response, 'hello')
    if path == '/validate':
        return validated(environ, start_response)
    if path == '/environ':
        return as_json(start_response, environ_report(environ))
    if path == '/echo':
        data = inp.read()
        return ok(start_response, data, 'application/octet-stream',
                  [('X-Sha256', hashlib.sha256(data).hexdigest()), ('X-Len', str(len(data)))])
    if path == '/read-sized':
        parts = []
        while True:
            part = inp.read(int(qs or 7))
            if not part:
                break
            parts.append(part.decode('latin-1'))
        return as_json(start_response, parts)
    if path == '/readline':
        limit = int(qs) if qs else -1
        lines = []
        while True:
            line = inp.readline(limit) if limit >= 0 else inp.readline()
            if not line:
                break
            lines.append(line.decode('latin-1'))
        return as_json(start_response, lines)
    if path == '/readlines':
        return as_json(start_response, [l.decode('latin-1') for l in inp.readlines()])
    if path == '/iter':
        return as_json(start_response, [l.decode('latin-1') for l in inp])
    if path == '/mixed':
        first = inp.readline()
        rest = inp.read(3)
        tail = inp.read()
        return as_json(start_response, [first.decode(), rest.decode(), tail.decode()])
    if path == '/write':
        write = start_response('200 OK', [('Content-Type', 'text/plain')])
        write(b'written-')
        write(bytearray(b'bytearray-'))
        return [b'returned']
    if path == '/generator':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return gen_chunks(int(qs or 5))
    if path == '/close':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return ClosingBody(qs, [b'body-', b'with-close'])
    if path == '/file':
        f = open(qs, 'rb')
        start_response('200 OK', [('Content-Type', 'application/octet-stream')])
        return environ['wsgi.file_wrapper'](f, 4096)
    if path == '/file-offset':
        f = open(qs, 'rb')
        f.read(10)  # sendfile must start where the Python file position is
        start_response('200 OK', [('Content-Type', 'application/octet-stream')])
        return environ['wsgi.file_wrapper'](f)
    if path == '/filelike':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return environ['wsgi.file_wrapper'](io.BytesIO(b'from-bytesio' * 100), 64)
    if path == '/exc-info-before':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        try:
            raise KeyError('oops')
        except KeyError:
            start_response('503 Service Unavailable', [('Content-Type', 'text/plain')], sys.exc_info())
        return [b'replaced by exc_info']
    if path == '/exc-info-after':
        return exc_info_after(start_response)
    if path == '/raise':
        raise ValueError('boom-marker-1234')
    if path == '/raise-in-generator':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return raising_generator()
    if path == '/str-body':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return ['a str, not bytes']
    if path == '/str-later':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return gen_then_str()
    if path == '/bad-status':
        start_response(200, [('Content-Type', 'text/plain')])
        return [b'x']
    if path == '/bad-headers':
        start_response('200 OK', [('Content-Type', b'text/plain')])
        return [b'x']
    if path == '/bare-bytes':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return b'bare bytes body'
    if path == '/bare-str':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return 'bare str body'
    if path == '/no-start-response':
        return [b'body without status']
    if path == '/uwsgi':
        return as_json(start_response, {
            'opt': uwsgi.opt, 'worker_id': uwsgi.worker_id(), 'numproc': uwsgi.numproc,
            'version': uwsgi.version.decode(), 'version_info': list(uwsgi.version_info),
            'version_is_bytes': isinstance(uwsgi.version, bytes),
            'log': uwsgi.log('app-log-marker-5678'),
            'sys_path_head': sys.path[:4], 'cwd': os.getcwd(),
        })
    if path == '/async-api-thread':
        import threading
        box = {}
        t = threading.Thread(target=lambda: box.update(async_api_report()))
        t.start()
        t.join()
        return as_json(start_response, box)
    if path == '/async-api':
        return as_json(start_response, async_api_report())
    if path == '/sockets':
        return as_json(start_response, sockets_report(int(qs)))
    if path == '/thread-start':
        start_ticker()
        return ok(start_response, 'started')
    if path == '/thread-count':
        return as_json(start_response, TICKS[0])
    if path == '/atexit':
        import atexit
        atexit.register(lambda: open(qs, 'w').write('atexit ran in %d' % os.getpid()))
        return ok(start_response, str(os.getpid()))
    if path == '/status':
        start_response(qs.replace('+', ' ') or '204 No Content', [])
        return []
    start_response('404 Not Found', [('Content-Type', 'text/plain')])
    return [b'not found']


TICKS = [0]


def start_ticker():
    """A thread that must keep running while the worker waits for requests (GIL released)."""
    import threading
    import time

    def tick():
        while True:
            TICKS[0] += 1
            time.sleep(0.01)
    threading.Thread(target=tick, daemon=True).start()


def exc_info_after(start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    yield b'partial-body;'
    try:
        raise RuntimeError('late-failure-marker')
    except RuntimeError:
        # Headers are out: start_response must re-raise the error.
        start_response('500 Internal Server Error', [('Content-Type', 'text/plain')], sys.exc_info())
    yield b'never sent'


def raising_generator():
    yield b'first;'
    raise ZeroDivisionError('generator-marker-42')


def async_api_report():
    calls = {
        'suspend': lambda: uwsgi.suspend(),
        'async_sleep': lambda: uwsgi.async_sleep(0.1),
        'wait_fd_read': lambda: uwsgi.wait_fd_read(0),
        'wait_fd_write': lambda: uwsgi.wait_fd_write(1, 1),
        'ready_fd': lambda: uwsgi.ready_fd(),
    }
    out = {}
    for name, fn in calls.items():
        try:
            fn()
            out[name] = None
        except Exception as e:
            out[name] = {'type': type(e).__name__, 'msg': str(e),
                         'oserror': isinstance(e, OSError), 'runtimeerror': isinstance(e, RuntimeError),
                         'is_uwsgi_error': isinstance(e, uwsgi.AsyncError)}
    return out


def sockets_report(port):
    """async_connect to a local listener, then send/recv/is_connected/close."""
    import select
    fd = uwsgi.async_connect('127.0.0.1:%d' % port)
    select.select([], [fd], [], 5)
    connected = uwsgi.is_connected(fd)
    sent = uwsgi.send(fd, b'ping\n')
    select.select([fd], [], [], 5)
    got = uwsgi.recv(fd, 100)
    uwsgi.close(fd)
    return {'connected': connected, 'sent': sent, 'got': got.decode()}
