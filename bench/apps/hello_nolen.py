# Hello world as most WSGI tutorials (and ANCHORS.md's reference run) write it: no Content-Length.
# uWSGI then sends headers and body in separate writes; this server's python plugin computes the
# length for a list body and sends both in one.
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'Hello World\n']
