# 0.1 s sleep through the uWSGI async API, generator style (`yield` hands the core back). The
# plain-function form (uwsgi.suspend()) hangs Debian's uWSGI 2.0.21 on Python 3.11, so the
# benchmark uses the form both servers run.
import uwsgi


def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    uwsgi.async_sleep(0.1)
    yield b''
    yield b'slept\n'
