#!/usr/bin/python3
"""N slow clients downloading one URL at a limited rate each, in one process (for bench/offload.sh).

    slow_downloaders.py HOST PORT PATH [CLIENTS [KIB_PER_S [SECONDS [RCVBUF]]]]

Each client has a small receive buffer (RCVBUF bytes, default 16384, as SO_RCVBUF) and reads at most KIB_PER_S per second, in 100 ms ticks, so
the server's offload threads see many sockets that drain slowly. A client that finishes or
loses its connection reconnects. Prints the bytes received per second at exit (SIGTERM or
SECONDS elapsed).
"""
import selectors
import signal
import socket
import sys
import time

host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
clients = int(sys.argv[4]) if len(sys.argv) > 4 else 50
rate = (int(sys.argv[5]) if len(sys.argv) > 5 else 256) * 1024
seconds = float(sys.argv[6]) if len(sys.argv) > 6 else 60.0
rcvbuf = int(sys.argv[7]) if len(sys.argv) > 7 else 16384
TICK = 0.1
per_tick = max(1, int(rate * TICK))
request = ("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (path, host)).encode()

stop = False


def on_term(*_):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)
signal.signal(signal.SIGINT, on_term)


def connect():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # set before connect: small window
    s.connect((host, port))
    s.sendall(request)
    s.setblocking(False)
    return s


socks = [connect() for _ in range(clients)]
total = 0
start = time.monotonic()
deadline = start + seconds
next_tick = start
while not stop and time.monotonic() < deadline:
    for i, s in enumerate(socks):
        try:
            data = s.recv(per_tick)
        except BlockingIOError:
            continue
        except OSError:
            data = b""
        if not data:
            s.close()
            try:
                socks[i] = connect()
            except OSError:
                stop = True
                break
            continue
        total += len(data)
    next_tick += TICK
    delay = next_tick - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    else:
        next_tick = time.monotonic()
elapsed = time.monotonic() - start
for s in socks:
    s.close()
print("slow downloaders: %d clients, %.0f KiB/s in all" % (clients, total / 1024 / max(elapsed, 1e-6)))
