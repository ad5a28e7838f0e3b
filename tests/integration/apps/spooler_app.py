"""Spooler test app: /spool?kind=K&name=N[&at=T][&priority=P] queues a task (uwsgi.spool), /deco?x=V
queues one through @spool, /deco2?a=V through @spool(pass_arguments=True). Tasks write marker files
in $SPOOL_OUT_DIR. $SPOOL_HOLD=1: every task is kept (SPOOL_RETRY) and noted in 'held'."""
import json
import os
import time
from urllib.parse import parse_qs

import uwsgi
import uwsgidecorators
from uwsgidecorators import spool

OUT = os.environ['SPOOL_OUT_DIR']


def note(name, line):
    with open(os.path.join(OUT, name), 'a') as f:
        f.write(line + '\n')


def lines(name):
    try:
        with open(os.path.join(OUT, name)) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


@spool
def deco(args):
    note('deco', args['x'].decode())


@spool(pass_arguments=True)
def deco2(a, b='default'):
    note('deco2', '%s %s' % (a, b))


def raw_spooler(env):
    if b'ud_spool_func' in env:
        return uwsgidecorators.manage_spool_request(env)
    kind = env[b'kind'].decode()
    name = env[b'name'].decode()
    if os.environ.get('SPOOL_HOLD'):
        note('held', name)
        return uwsgi.SPOOL_RETRY
    if kind == 'marker':
        note('marker_' + name, '%d %s' % (os.getpid(), env.get('body', b'').decode()))
        return uwsgi.SPOOL_OK
    if kind == 'retry':
        note('retry_' + name, 'try')
        if len(lines('retry_' + name)) < 2:
            return uwsgi.SPOOL_RETRY
        note('done_' + name, 'done')
        return uwsgi.SPOOL_OK
    if kind == 'raise':
        note('raise_' + name, 'try')
        if len(lines('raise_' + name)) < 2:
            raise RuntimeError('first try fails')
        note('done_' + name, 'done')
        return uwsgi.SPOOL_OK
    if kind == 'slow':
        first = not lines('started_' + name)
        note('started_' + name, str(os.getpid()))
        if first:
            time.sleep(60)
        note('done_' + name, 'done')
        return uwsgi.SPOOL_OK
    return uwsgi.SPOOL_OK


uwsgi.spooler = raw_spooler


def application(environ, start_response):
    q = {k: v[0] for k, v in parse_qs(environ.get('QUERY_STRING', '')).items()}
    path = environ['PATH_INFO']
    try:
        if path == '/spool':
            args = dict(q)
            if 'body' in args:
                args['body'] = args['body'].encode()
            r = uwsgi.spool(args)
        elif path == '/spool-kw':
            r = uwsgi.send_to_spooler(kind=b'marker', name=q['name'].encode())
        elif path == '/deco':
            r = deco.spool(x=q['x'])
        elif path == '/deco2':
            r = deco2.spool(q['a'], b=q.get('b', 'default'))
        else:
            r = b''
        out = {'r': r.decode() if isinstance(r, bytes) else r}
    except Exception as e:  # noqa: BLE001 - reported to the test
        out = {'error': '%s: %s' % (type(e).__name__, e)}
    body = json.dumps(out).encode()
    start_response('200 OK', [('Content-Type', 'application/json'), ('Content-Length', str(len(body)))])
    return [body]
