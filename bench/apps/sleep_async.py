# 1 s sleep through the uWSGI async API, generator style (`yield` hands the core back). The
# plain-function form (uwsgi.suspend()) hangs Debian's uWSGI 2.0.21 on Python 3.11, so the
# benchmark uses the form both servers run.
# uWSGI 2.0.21 takes whole seconds here (0.1 would truncate to no sleep at all), hence 1 s.
import uwsgi


def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', '6')])
    uwsgi.async_sleep(1)
    yield b''
    yield b'slept\n'
