"""Thread-local state across async cores: each core must see its own threading.local.

/local?TAG   stores TAG in a threading.local, suspends (async_sleep), returns what it reads back
/bottle?TAG  a Bottle route (bottle keeps request/response in thread-locals) that suspends
             between reading the request and setting a response header
"""
import threading

import bottle
import uwsgi

state = threading.local()
app = bottle.Bottle()


def nap():
    uwsgi.async_sleep(0.2)
    uwsgi.suspend()


@app.route('/bottle')
def bottle_route():
    tag = bottle.request.query_string
    nap()
    bottle.response.set_header('X-Tag', tag)
    return 'tag=%s seen=%s' % (tag, bottle.request.query_string)


def application(environ, start_response):
    if environ['PATH_INFO'] == '/bottle':
        return app(environ, start_response)
    tag = environ.get('QUERY_STRING', '')
    state.tag = tag
    nap()
    body = ('tag=%s seen=%s' % (tag, getattr(state, 'tag', None))).encode()
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])
    return [body]
