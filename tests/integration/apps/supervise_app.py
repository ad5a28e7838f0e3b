"""App for test_supervision.py: /sleep?S, /grow?MB (kept: a leak), anything else: the pid."""
import os
import time

LEAK = []


def application(env, start_response):
    path, q = env['PATH_INFO'], env.get('QUERY_STRING', '')
    if path == '/sleep':
        time.sleep(float(q or 1))
        body = 'slept'
    elif path == '/grow':
        LEAK.append(bytearray(int(q) << 20))  # zero-filled pages: resident once written
        for i in range(0, len(LEAK[-1]), 4096):
            LEAK[-1][i] = 1
        body = 'grown'
    else:
        body = str(os.getpid())
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [body.encode()]
