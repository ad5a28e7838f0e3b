#!/usr/bin/python3
"""The least a gevent server can do for the sleep rows: one greenlet per connection (never parked),
no HTTP parsing, no WSGI: read, gevent.sleep(0.1), write a fixed response. Its req/s shows what
gevent itself and the machine leave for that load.

    bench/raw_gevent_server.py PORT
"""
import sys

import gevent
from gevent.server import StreamServer

RESP = b'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\nslept\n'


def handle(sock, _addr):
    while True:
        data = sock.recv(4096)
        if not data:
            return
        gevent.sleep(0.1)
        if b'connection: close' in data.lower():
            sock.sendall(RESP[:-8] + b'Connection: close\r\n\r\nslept\n')
            return
        sock.sendall(RESP)


if __name__ == '__main__':
    StreamServer(('127.0.0.1', int(sys.argv[1])), handle, backlog=1024).serve_forever()
