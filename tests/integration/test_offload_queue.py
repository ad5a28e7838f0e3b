"""--offload-threads: a slow download keeps a bounded amount of data queued in the kernel
(TCP_NOTSENT_LOWAT), instead of a send buffer grown to tcp_wmem's maximum for every slow client."""
import socket
import time

from conftest import app_path

BIG = 64 << 20


def server_send_queue(server_port, client_port):
    """tx_queue of the server's side of the connection, from /proc/net/tcp (bytes not yet acked,
    sent or not)."""
    for line in open('/proc/net/tcp').read().splitlines()[1:]:
        f = line.split()
        local, remote = f[1], f[2]
        if int(local.split(':')[1], 16) == server_port and int(remote.split(':')[1], 16) == client_port:
            return int(f[4].split(':')[0], 16)
    return None


def test_a_slow_download_keeps_a_bounded_send_queue(uwsgi_server, tmp_path):
    f = tmp_path / 'big.bin'
    with open(f, 'wb') as out:
        out.truncate(BIG)
    s = uwsgi_server('--wsgi-file', app_path('app.py'), '--static-map', f'/f={tmp_path}', '--offload-threads', '1')
    c = socket.socket()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    c.connect(('127.0.0.1', s.port))
    try:
        c.sendall(b'GET /f/big.bin HTTP/1.1\r\nHost: x\r\n\r\n')
        got, peak = 0, 0
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:  # a slow reader: 16 KiB every 20 ms
            got += len(c.recv(16384))
            time.sleep(0.02)
            q = server_send_queue(s.port, c.getsockname()[1])
            assert q is not None
            peak = max(peak, q)
        assert got > 0
        # 256 KiB unsent at most, plus what the client's small window lets be in flight. Without
        # the cap the kernel queued several MiB (3.4 MiB measured) for such a reader.
        assert peak < 1 << 20, peak
    finally:
        c.close()
