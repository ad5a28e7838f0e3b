# Hello world. Content-Length is explicit: Debian's uWSGI keeps an --http11-socket connection open
# only when the app sets it, and the keep-alive rows must compare keep-alive with keep-alive.
BODY = b'Hello World\n'


def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(BODY)))])
    return [BODY]
