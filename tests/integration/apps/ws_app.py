"""Websocket apps for test_websocket.py, on uWSGI's API (and environ['wsgi.websocket'] under
--wsgi-websocket).

/echo       handshake from the request, echo each message as text; b'close:CODE' makes the
            server close with CODE; logs 'ws-end: <why>' when recv raises
/echo-bin   the same, echoing as binary
/nb         websocket_recv_nb() polled with sleeps (the mode's own sleep)
/ctx        (gevent) a second greenlet sends 'tick N' with request_context= while the first
            waits in websocket_recv()
/hold       (async) echo like /echo, keeping its request_context() for /blast
/blast?N    (async) sends N 64 KiB binary messages on /hold's websocket from this request's core,
            blocking on write while that client does not read; answers 'sent N'
/wsgi       environ['wsgi.websocket']: echo until receive() returns None
anything else: 200 'ok'
"""
import time

import uwsgi


def _sleep(env, secs):
    if 'gevent' in uwsgi.opt:
        import gevent
        gevent.sleep(secs)
    elif 'async' in uwsgi.opt:
        uwsgi.async_sleep(secs)
        uwsgi.suspend()
    else:
        time.sleep(secs)


def echo(env, binary):
    uwsgi.websocket_handshake()
    send = uwsgi.websocket_send_binary if binary else uwsgi.websocket_send
    while True:
        try:
            msg = uwsgi.websocket_recv()
        except OSError as e:
            uwsgi.log('ws-end: %s' % e)
            return []
        if msg.startswith(b'close:'):
            uwsgi.websocket_close(int(msg[6:]), 'asked')
            continue
        if msg == b'ctx?':
            msg = str(uwsgi.request_context() > 0).encode()
        send(msg)


def nb(env):
    uwsgi.websocket_handshake(env['HTTP_SEC_WEBSOCKET_KEY'], env.get('HTTP_ORIGIN', ''))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            msg = uwsgi.websocket_recv_nb()
        except OSError as e:
            uwsgi.log('ws-end: %s' % e)
            return []
        if msg:
            uwsgi.websocket_send(b'nb:' + msg)
        else:
            _sleep(env, 0.02)
    return []


def ctx(env):
    import gevent
    uwsgi.websocket_handshake()
    c = uwsgi.request_context()

    def ticker():
        for i in range(3):
            gevent.sleep(0.05)
            uwsgi.websocket_send(b'tick %d' % i, request_context=c)

    g = gevent.spawn(ticker)
    try:
        while True:
            msg = uwsgi.websocket_recv()
            uwsgi.websocket_send(b'echo ' + msg)
    except OSError as e:
        uwsgi.log('ws-end: %s' % e)
    g.kill()
    return []


HELD = []  # /hold's request_context()


def hold(env):
    uwsgi.websocket_handshake()
    HELD[:] = [uwsgi.request_context()]
    while True:
        try:
            msg = uwsgi.websocket_recv()
        except OSError as e:
            uwsgi.log('ws-end: %s' % e)
            return []
        uwsgi.websocket_send(msg)


def blast(env, start_response):
    n = int(env['QUERY_STRING'])
    chunk = b'b' * 65536
    for _ in range(n):
        uwsgi.websocket_send_binary(chunk, request_context=HELD[0])
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'sent %d' % n]


def wsgi_ws(env):
    ws = env['wsgi.websocket']
    while True:
        msg = ws.receive()
        if msg is None:
            uwsgi.log('ws-end: receive() gave None, closed=%s' % ws.closed)
            return
        if msg == 'close':
            ws.close(4000, 'done')
            continue
        ws.send(msg)


def application(env, start_response):
    path = env['PATH_INFO']
    if path == '/echo':
        return echo(env, False)
    if path == '/echo-bin':
        return echo(env, True)
    if path == '/nb':
        return nb(env)
    if path == '/ctx':
        return ctx(env)
    if path == '/hold':
        return hold(env)
    if path == '/blast':
        return blast(env, start_response)
    if path == '/wsgi':
        return wsgi_ws(env)
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'ok']
