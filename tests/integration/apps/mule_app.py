"""Mules: @mulefunc runs in a mule, a farm spreads messages, a mule script (test_mules.py)."""
import json
import os

import uwsgi
import uwsgidecorators

OUT = os.environ['MULE_OUT_DIR']


def record(name, text):
    with open(os.path.join(OUT, name), 'a') as f:
        f.write(text + '\n')


@uwsgidecorators.mulefunc(4)
def in_a_mule(word):
    record('mulefunc', '%s %d %d' % (word, uwsgi.mule_id(), os.getpid()))


@uwsgidecorators.farm('pair')
def farm_work(msg):
    record('farm', '%s %d' % (msg.decode(), uwsgi.mule_id()))


def application(environ, start_response):
    path = environ['PATH_INFO']
    out = {'worker': uwsgi.worker_id(), 'mule_id': uwsgi.mule_id()}
    if path == '/mulefunc':
        in_a_mule(environ['QUERY_STRING'])
    elif path == '/farm':
        out['r'] = uwsgi.farm_msg('pair', environ['QUERY_STRING'].encode())
    elif path == '/to':
        n, msg = environ['QUERY_STRING'].split('=', 1)
        try:
            out['r'] = uwsgi.mule_msg(msg, int(n))
        except OSError as e:
            out['error'] = str(e)
    body = json.dumps(out).encode()
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [body]
