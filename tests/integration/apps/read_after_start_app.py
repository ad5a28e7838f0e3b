"""Starts its response, sends a first piece, and only then reads the request body (test_http_rfc9112.py)."""


def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    yield b'started;'
    data = environ['wsgi.input'].read()
    yield b'read %d' % len(data)
