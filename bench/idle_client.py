#!/usr/bin/python3
"""Opens N keep-alive connections, makes one GET on each, then holds them idle.
    idle_client.py PORT N [DEADLINE_SECONDS]
Prints `ready OK CLOSED FAILED SECONDS` once set up; on a line on stdin, prints `held M` (how many
are still open) and exits. Connections go up in batches so a 1024 listen queue never overflows."""
import resource
import selectors
import signal
import socket
import sys
import time

from benchlib.procs import response_complete

REQ = b'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'
BATCH = 500


def batch(port, n, deadline):
    """Connect, request and read one response on n sockets; returns (open sockets, closed, failed)."""
    sel = selectors.DefaultSelector()
    pending = {}
    failed = 0
    for _ in range(n):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(('127.0.0.1', port))
        pending[s] = [b'', False]
        sel.register(s, selectors.EVENT_WRITE)
    ok, closed = [], 0
    while pending and time.time() < deadline:
        for key, ev in sel.select(0.5):
            s = key.fileobj
            st = pending[s]
            try:
                if not st[1]:
                    s.send(REQ)  # 36 bytes: always fits a fresh socket buffer
                    st[1] = True
                    sel.modify(s, selectors.EVENT_READ)
                    continue
                data = s.recv(65536)
            except OSError:
                data = None
            if data:
                st[0] += data
                if not response_complete(st[0]):
                    continue
                ok.append(s)
            elif data == b'':
                closed += 1
                s.close()
            else:
                failed += 1
                s.close()
            sel.unregister(s)
            del pending[s]
    for s in pending:
        s.close()
    sel.close()
    return ok, closed, failed + len(pending)


def main():
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # stopped by bench/report: no traceback
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    port, n = int(sys.argv[1]), int(sys.argv[2])
    deadline = time.time() + (float(sys.argv[3]) if len(sys.argv) > 3 else 30)
    t0 = time.time()
    held, closed, failed = [], 0, 0
    while len(held) + closed + failed < n and time.time() < deadline:
        ok, c, f = batch(port, min(BATCH, n - len(held) - closed - failed), deadline)
        held += ok
        closed += c
        failed += f
    print(f'ready {len(held)} {closed} {failed} {time.time() - t0:.2f}', flush=True)
    sys.stdin.readline()
    alive = 0
    for s in held:
        try:
            alive += s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) != b''
        except BlockingIOError:
            alive += 1
        except OSError:
            pass
    print(f'held {alive}', flush=True)


if __name__ == '__main__':
    main()
