"""Mules, spooler and cache seen from outside (test_tasks_stats.py, test_tasks_signals.py):
/cache-set?k=K&v=V, /cache-get?k=K, /spool?name=N[&at=T][&spooler=DIR], /signal?n=N, /mule-raise?n=N&mule=M (mule M raises N). Spooled tasks and the
handlers of uwsgi signals write lines in $TASKS_OUT_DIR. $TASKS_SIGNALS=1 registers signals 17
('mule1'), 18 ('mules'), 19 ('mule'), 20 ('spooler'), 21 ('mule2'), 22 ('workers') at load time, as uWSGI apps do."""
import json
import os
from urllib.parse import parse_qs

import uwsgi

OUT = os.environ['TASKS_OUT_DIR']


def note(name, line):
    with open(os.path.join(OUT, name), 'a') as f:
        f.write(line + '\n')


def spooler(env):
    note('spooled', env[b'name'].decode())
    note('cwd', os.getcwd())
    return uwsgi.SPOOL_OK


uwsgi.spooler = spooler


def on_signal(num):
    who = 'mule%d' % uwsgi.mule_id() if uwsgi.mule_id() else ('spooler' if uwsgi.i_am_the_spooler() else
                                                                'worker%d' % uwsgi.worker_id())
    note('signals', '%d %s %d' % (num, who, os.getpid()))


if os.environ.get('TASKS_SIGNALS'):
    uwsgi.register_signal(17, 'mule1', on_signal)
    uwsgi.register_signal(18, 'mules', on_signal)
    uwsgi.register_signal(19, 'mule', on_signal)
    uwsgi.register_signal(20, 'spooler', on_signal)
    uwsgi.register_signal(21, 'mule2', on_signal)
    uwsgi.register_signal(22, 'workers', on_signal)
    # A plain mule raises the signal a message names (uwsgi.signal() in a mule).
    uwsgi.mule_msg_hook = lambda msg: uwsgi.signal(int(msg))


def application(environ, start_response):
    q = {k: v[0] for k, v in parse_qs(environ.get('QUERY_STRING', '')).items()}
    path = environ['PATH_INFO']
    out = {}
    try:
        if path == '/cache-set':
            out['r'] = uwsgi.cache_set(q['k'], q['v'].encode(), 0, 'c1')
        elif path == '/cache-get':
            r = uwsgi.cache_get(q['k'], 'c1')
            out['r'] = r.decode() if r is not None else None
        elif path == '/spool':
            args = {b'name': q['name'].encode()}
            if 'at' in q:
                args[b'at'] = q['at'].encode()
            if 'spooler' in q:
                args[b'spooler'] = q['spooler'].encode()
            out['r'] = uwsgi.spool(args).decode()
        elif path == '/mule-raise':
            out['r'] = uwsgi.mule_msg(q['n'].encode(), int(q['mule']))
        elif path == '/signal':
            uwsgi.signal(int(q['n']))
            out['r'] = True
    except Exception as e:  # noqa: BLE001 - reported to the test
        out['error'] = '%s: %s' % (type(e).__name__, e)
    body = json.dumps(out).encode()
    start_response('200 OK', [('Content-Type', 'application/json'), ('Content-Length', str(len(body)))])
    return [body]
