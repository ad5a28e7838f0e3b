"""Request log tests: /status/404, /sleep/200 (ms), /big/5000 (bytes), /empty, anything else: hello."""
import time


def application(environ, start_response):
    parts = environ['PATH_INFO'].strip('/').split('/')
    status, body = '200 OK', b'hello world'
    if parts[0] == 'status':
        status = parts[1] + ' Whatever'
    elif parts[0] == 'sleep':
        time.sleep(int(parts[1]) / 1000)
    elif parts[0] == 'big':
        body = b'x' * int(parts[1])
    elif parts[0] == 'empty':
        body = b''
    start_response(status, [('Content-Type', 'text/plain'), ('X-Log-Test', '1')])
    return [body]
