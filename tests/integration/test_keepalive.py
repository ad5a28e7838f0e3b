"""Keep-alive connections over a worker's life: memory stays flat however many requests one
connection makes, and a worker that stops (--max-requests, reload) answers every request a
client has sent on a kept-alive connection instead of closing under it (no RST, no silent EOF).

The clients are raw sockets multiplexed with selectors (deterministic, bounded in count and
time): each connection sends its next request as soon as a response is complete, as wrk does,
and reconnects when a response says `Connection: close`.
"""
import errno
import selectors
import socket
import time
from pathlib import Path

import pytest

from conftest import start_uwsgi
from helpers_core import children_of

HELLO = str(Path(__file__).resolve().parents[2] / 'examples' / 'hello.py')

MODES = {
    'sync': [],
    'threads': ['--threads', '4'],
    'ugreen': ['--plugins', 'ugreen', '--ugreen', '--async', '8'],
    'fcontext': ['--plugins', 'fcontext', '--fcontext', '--async', '8'],
    'greenlet': ['--plugins', 'greenlet', '--greenlet', '--async', '8'],
    'gevent': ['--plugins', 'gevent', '--gevent', '8'],
}

REQUEST = b'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'


class KeepAliveLoad:
    """`conns` keep-alive connections, each sending `depth` requests at a time (depth > 1
    pipelines them in one write) until `total` responses arrived or `limit` seconds passed.

    Counts every response; a request sent on a connection that then ends (EOF or reset) without
    answering it is lost, unless an earlier response on that connection said Connection: close
    (the client was told, and retries it)."""

    def __init__(self, port, conns=8, depth=1):
        self.port, self.conns, self.depth = port, conns, depth
        self.answered = self.lost = self.resets = self.retried = self.connects = 0
        self.bad = []

    def _open(self, sel):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.connect(('127.0.0.1', self.port))
        s.setblocking(False)
        self.connects += 1
        st = {'buf': bytearray(), 'outstanding': 0, 'told_close': False}
        sel.register(s, selectors.EVENT_READ, st)
        return s, st

    def _send(self, s, st):
        s.sendall(REQUEST * self.depth)
        st['outstanding'] += self.depth

    @staticmethod
    def _one_response(buf):
        """(length of the first complete response in buf, says close) or None."""
        end = buf.find(b'\r\n\r\n')
        if end < 0:
            return None
        head = bytes(buf[:end]).lower()
        length = 0
        for line in head.split(b'\r\n')[1:]:
            name, _, value = line.partition(b':')
            if name.strip() == b'content-length':
                length = int(value)
        if len(buf) < end + 4 + length:
            return None
        return end + 4 + length, b'\r\nconnection: close' in head, head.split(b' ', 2)[1]

    def run(self, total, limit=30.0):
        sel = selectors.DefaultSelector()
        for _ in range(self.conns):
            s, st = self._open(sel)
            self._send(s, st)
        deadline = time.monotonic() + limit
        while self.answered < total and time.monotonic() < deadline:
            for key, _ev in sel.select(timeout=0.5):
                s, st = key.fileobj, key.data
                try:
                    data = s.recv(65536)
                except BlockingIOError:
                    continue
                except OSError as e:
                    data = None
                    if e.errno == errno.ECONNRESET:
                        self.resets += 1
                if data:
                    st['buf'] += data
                    while True:
                        r = self._one_response(st['buf'])
                        if r is None:
                            break
                        n, close, status = r
                        del st['buf'][:n]
                        st['outstanding'] -= 1
                        self.answered += 1
                        if status != b'200':
                            self.bad.append(status)
                        if close:
                            st['told_close'] = True
                    if st['outstanding'] == 0 and not st['told_close']:
                        self._send(s, st)
                        continue
                    if not st['told_close']:
                        continue
                # Ended: by us after Connection: close, or by the server.
                if st['outstanding']:
                    if st['told_close']:
                        self.retried += st['outstanding']
                    else:
                        self.lost += st['outstanding']
                sel.unregister(s)
                s.close()
                if self.answered < total:
                    s, st = self._open(sel)
                    self._send(s, st)
        for key in list(sel.get_map().values()):
            key.fileobj.close()
        sel.close()
        return self

    def __repr__(self):
        return (f'answered={self.answered} lost={self.lost} resets={self.resets} retried={self.retried} '
                f'connections={self.connects} non-200={self.bad[:5]}')


def worker_rss_kb(master_pid):
    kids = children_of(master_pid)
    assert len(kids) == 1, kids
    for line in Path(f'/proc/{kids[0]}/status').read_text().splitlines():
        if line.startswith('VmRSS:'):
            return int(line.split()[1]), kids[0]
    raise AssertionError('no VmRSS')


@pytest.mark.parametrize('mode', ['sync', 'threads', 'ugreen', 'greenlet', 'gevent'])
def test_keepalive_requests_do_not_grow_worker_memory(mode, tmp_path):
    """Issue 21 item 1: every parked keep-alive connection left an entry in the idle deadline
    queue until --socket-timeout passed (~24 bytes per request). After a warm-up, 60,000 more
    keep-alive requests must not grow the worker's RSS by more than 400 KiB (7 bytes/request;
    the leak grew it by ~1.1 MiB)."""
    srv = start_uwsgi(['--master', '--processes', '1', '--wsgi-file', HELLO, '--disable-logging'] + MODES[mode],
                      log_dir=str(tmp_path))
    try:
        # One connection, strictly request/response: the connection parks after every request.
        warm = KeepAliveLoad(srv.port, conns=1).run(5000, limit=30)
        assert warm.answered == 5000, warm
        before, pid = worker_rss_kb(srv.proc.pid)
        load = KeepAliveLoad(srv.port, conns=1).run(60000, limit=90)
        assert load.answered == 60000, load
        after, pid2 = worker_rss_kb(srv.proc.pid)
        assert pid2 == pid
        assert after - before < 400, f'{mode}: worker RSS grew {after - before} KiB over 60,000 keep-alive requests'
    finally:
        srv.stop()
