"""The app behind the HTTP router tests (test_http_router.py)."""
import hashlib
import json
import os
import time


def application(environ, start_response):
    path = environ['PATH_INFO']
    if path == '/echo':
        n = int(environ.get('CONTENT_LENGTH') or 0)
        body = environ['wsgi.input'].read(n) if n else b''
        start_response('200 OK', [('Content-Type', 'application/octet-stream'),
                                  ('X-Sha256', hashlib.sha256(body).hexdigest()),
                                  ('X-Content-Length', environ.get('CONTENT_LENGTH', '')),
                                  ('Content-Length', str(len(body)))])
        return [body]
    if path == '/big':
        n = int(environ.get('QUERY_STRING') or 0)
        block = bytes(range(256)) * 256
        start_response('200 OK', [('Content-Length', str(n))])
        return [(block * (n // len(block) + 1))[:n]]
    if path == '/nolen':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return iter([b'no ', b'length'])  # a list would get a Content-Length from the plugin
    if path == '/env':
        keys = ('REMOTE_ADDR', 'REMOTE_PORT', 'SERVER_NAME', 'SERVER_PORT', 'CONTENT_LENGTH', 'HTTP_X_TEST',
                'ROUTER_VAR', 'HTTP_TRANSFER_ENCODING', 'REQUEST_URI', 'HTTP_HOST')
        env = {k: environ.get(k) for k in keys + ('HTTPS',)}
        env['wsgi.url_scheme'] = environ['wsgi.url_scheme']
        body = json.dumps(env).encode()
        start_response('200 OK', [('Content-Type', 'application/json'), ('Content-Length', str(len(body)))])
        return [body]
    if path == '/crash':
        os._exit(3)
    if path == '/pid':
        body = str(os.getpid()).encode()
        start_response('200 OK', [('Content-Length', str(len(body)))])
        return [body]
    if path == '/sleep':
        time.sleep(float(environ.get('QUERY_STRING') or 1))
    if path == '/slow':
        time.sleep(0.02)
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', '12')])
    return [b'Hello World!']
