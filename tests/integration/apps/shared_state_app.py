"""Exercises uwsgi.lock()/unlock() and the uwsgi.cache_* API across workers (test_shared_state.py)."""
import json
import os
import time

import uwsgi
import uwsgidecorators

COUNTER = os.environ.get('SHARED_COUNTER_FILE', '/tmp/shared-counter')


@uwsgidecorators.lock
def bump_file_counter():
    # A read-modify-write with a pause in the middle: without the lock, workers lose updates.
    with open(COUNTER) as f:
        n = int(f.read() or 0)
    time.sleep(0.002)
    with open(COUNTER, 'w') as f:
        f.write(str(n + 1))
    return n + 1


def application(environ, start_response):
    path = environ['PATH_INFO']
    qs = dict(p.split('=', 1) for p in environ.get('QUERY_STRING', '').split('&') if '=' in p)
    cache = qs.get('cache')
    out = {'pid': os.getpid(), 'worker': uwsgi.worker_id()}
    if path == '/set':
        out['r'] = uwsgi.cache_set(qs['k'], qs['v'].encode(), int(qs.get('expires', 0)), cache)
    elif path == '/update':
        out['r'] = uwsgi.cache_update(qs['k'], qs['v'].encode(), int(qs.get('expires', 0)), cache)
    elif path == '/get':
        v = uwsgi.cache_get(qs['k'], cache)
        out['r'] = v.decode() if v is not None else None
    elif path == '/del':
        out['r'] = uwsgi.cache_del(qs['k'], cache)
    elif path == '/inc':
        out['r'] = uwsgi.cache_inc(qs['k'], 1, 0, cache)
        out['n'] = uwsgi.cache_num(qs['k'], cache)
    elif path == '/keys':
        out['r'] = sorted(k.decode() for k in uwsgi.cache_keys(cache))
    elif path == '/bump':
        out['r'] = bump_file_counter()
    elif path == '/nocache':
        try:
            uwsgi.cache_get('x', 'missing')
            out['r'] = 'no error'
        except ValueError as e:
            out['r'] = str(e)
    elif path == '/crash':
        os._exit(1)
    body = json.dumps(out).encode()
    start_response('200 OK', [('Content-Type', 'application/json'), ('Content-Length', str(len(body)))])
    return [body]
