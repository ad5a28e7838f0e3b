# A view that waits on I/O the blocking way (time.sleep stands in for a database call): what
# --threads is for. Each thread lets go of the GIL while it sleeps.
import time

BODY = b'slept\n'


def application(environ, start_response):
    time.sleep(0.1)
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(BODY)))])
    return [BODY]
