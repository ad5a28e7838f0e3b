# 0.1 s cooperative sleep under gevent.
import gevent


def application(environ, start_response):
    gevent.sleep(0.1)
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', '6')])
    return [b'slept\n']
