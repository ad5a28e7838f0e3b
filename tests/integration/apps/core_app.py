"""Routes the core's HTTP/uwsgi-protocol tests need (see test_http.py, test_uwsgi_proto.py)."""
import hashlib
import json
import os
import time
import wsgiref.validate


def _body(environ):
    return environ['wsgi.input'].read()


def _json(start_response, obj, status='200 OK'):
    data = json.dumps(obj, sort_keys=True).encode()
    start_response(status, [('Content-Type', 'application/json'), ('Content-Length', str(len(data)))])
    return [data]


def _validated_inner(environ, start_response):
    n = int(environ.get('CONTENT_LENGTH') or 0)
    body = environ['wsgi.input'].read(n) if n else b''
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'validated:', body]


_validated = wsgiref.validate.validator(_validated_inner)


def application(environ, start_response):
    path = environ.get('PATH_INFO', '')
    if path == '/echo':
        data = _body(environ)
        return _json(start_response, {'len': len(data), 'sha1': hashlib.sha1(data).hexdigest(),
                                      'content_length': environ.get('CONTENT_LENGTH', '')})
    if path == '/env':
        env = {k: v for k, v in environ.items() if isinstance(v, str)}
        body = _body(environ)
        env['__body__'] = body.decode('latin-1')
        return _json(start_response, env)
    if path == '/keys':
        # Every key with its value's type name: what the server put in, None included.
        return _json(start_response, {k: type(v).__name__ for k, v in environ.items()})
    if path == '/validated':
        return _validated(environ, start_response)
    if path == '/stream':
        # Pieces with pauses and no Content-Length: must go out chunked, as they are produced.
        n = int(environ.get('QUERY_STRING') or 3)
        start_response('200 OK', [('Content-Type', 'text/plain')])

        def gen():
            for i in range(n):
                yield f'piece{i};'.encode()
                time.sleep(0.3)
        return gen()
    if path == '/single':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [b'one single chunk']
    if path.startswith('/status/'):
        code = path.rsplit('/', 1)[1]
        start_response(f'{code} Whatever', [('Content-Type', 'text/plain')])
        return [b'this body must not be sent']
    if path == '/pid':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [str(os.getpid()).encode()]
    if path == '/sleep':
        time.sleep(float(environ.get('QUERY_STRING') or 0.2))
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [b'slept']
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'Hello ' + path.encode('latin-1')]
