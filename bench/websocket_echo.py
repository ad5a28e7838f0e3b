#!/usr/bin/python3
"""Websocket echo round trips per second, this server beside Debian's uWSGI, same app
(bench/apps/ws_echo.py), one gevent worker each:

    ./uwsgi --plugins gevent --gevent 100 --http-socket :PORT --wsgi-file bench/apps/ws_echo.py
    /usr/bin/uwsgi --plugins python3,gevent_python3 --gevent 100 --http-socket :PORT --wsgi-file ...

    bench/websocket_echo.py [--clients 100] [--seconds 5] [--size 32] [--idle 2000]

Then --idle N websockets are opened and left waiting in websocket_recv(), and the worker's RSS
growth per connection is printed (--gevent is raised to N for that part).

Each client keeps one message in flight: send a masked text frame, read its echo, repeat. The
client is one Python process (selectors), so on a small machine it can be the bottleneck: the
figures compare the two servers under the same client, they are not either server's ceiling."""
import argparse
import base64
import os
import resource
import selectors
import signal
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
APP = os.path.join(ROOT, 'bench', 'apps', 'ws_echo.py')


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def start(cmd, port):
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            socket.create_connection(('127.0.0.1', port), timeout=0.5).close()
            return p
        except OSError:
            time.sleep(0.05)
    stop(p)
    raise SystemExit('server did not start: ' + ' '.join(cmd))


def stop(p):
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    p.wait()


def cpu_seconds(pid):
    """User + system CPU of pid and its children still running (the worker)."""
    total = 0.0
    pids = [pid]
    try:
        pids += [int(x) for x in open(f'/proc/{pid}/task/{pid}/children').read().split()]
    except OSError:
        pass
    for p in pids:
        try:
            f = open(f'/proc/{p}/stat').read().rsplit(')', 1)[1].split()
            total += (int(f[11]) + int(f[12])) / os.sysconf('SC_CLK_TCK')
        except OSError:
            pass
    return total


def rss_kib(pid):
    """RSS of pid's worker (its child when there is one, else pid itself)."""
    try:
        kids = open(f'/proc/{pid}/task/{pid}/children').read().split()
    except OSError:
        kids = []
    target = kids[0] if kids else pid
    for line in open(f'/proc/{target}/status'):
        if line.startswith('VmRSS:'):
            return int(line.split()[1])
    return 0


def idle_rss(cmd, n):
    """KiB of worker RSS per idle websocket, n of them."""
    port = free_port()
    p = start(cmd + ['--http-socket', f'127.0.0.1:{port}', '--wsgi-file', APP, '--disable-logging',
                     '--listen', '1024'], port)
    socks = []
    try:
        warm = [connect(port) for _ in range(50)]  # first-use allocations out of the figure
        for s in warm:
            s.close()
        time.sleep(0.5)
        before = rss_kib(p.pid)
        for _ in range(n):
            socks.append(connect(port))
        time.sleep(1)
        after = rss_kib(p.pid)
        return (after - before) / n
    finally:
        for s in socks:
            s.close()
        stop(p)


def connect(port):
    s = socket.create_connection(('127.0.0.1', port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    key = base64.b64encode(os.urandom(16))
    s.sendall(b'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
              b'Sec-WebSocket-Key: ' + key + b'\r\nSec-WebSocket-Version: 13\r\n\r\n')
    buf = b''
    while b'\r\n\r\n' not in buf:
        d = s.recv(4096)
        if not d:
            raise SystemExit('handshake failed')
        buf += d
    assert buf.startswith(b'HTTP/1.1 101'), buf[:80]
    s.setblocking(False)
    return s


def run(port, clients, seconds, size):
    payload = b'x' * size
    mask = b'\x01\x02\x03\x04'
    frame = bytes([0x81, 0x80 | size]) + mask + bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
    echo_len = 2 + size  # the server's unmasked frame
    socks = [connect(port) for _ in range(clients)]
    sel = selectors.DefaultSelector()
    got = {}
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
        got[s] = 0
        s.send(frame)
    count = 0
    t0 = time.monotonic()
    end = t0 + seconds
    while time.monotonic() < end:
        for key, _ in sel.select(0.5):
            s = key.fileobj
            d = s.recv(65536)
            if not d:
                raise SystemExit('server closed a connection')
            got[s] += len(d)
            while got[s] >= echo_len:
                got[s] -= echo_len
                count += 1
                s.send(frame)
    elapsed = time.monotonic() - t0
    for s in socks:
        s.close()
    return count / elapsed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--clients', type=int, default=100)
    ap.add_argument('--seconds', type=float, default=5)
    ap.add_argument('--size', type=int, default=32)
    ap.add_argument('--idle', type=int, default=2000)
    a = ap.parse_args()
    assert a.size < 126
    servers = [
        ('this server', [os.path.join(ROOT, 'uwsgi'), '--plugins', 'gevent', '--gevent', '100']),
        ('uWSGI 2.0 (Debian)', ['/usr/bin/uwsgi', '--plugins', 'python3,gevent_python3', '--gevent', '100']),
    ]
    rates = []
    for name, cmd in servers:
        port = free_port()
        p = start(cmd + ['--http-socket', f'127.0.0.1:{port}', '--wsgi-file', APP, '--disable-logging',
                         '--listen', '1024'], port)
        try:
            run(port, a.clients, 0.5, a.size)  # warm-up
            c0 = cpu_seconds(p.pid)
            r = run(port, a.clients, a.seconds, a.size)
            cpu = cpu_seconds(p.pid) - c0
            rates.append((name, r, r * a.seconds / cpu if cpu else 0))
        finally:
            stop(p)
    print(f'websocket echo, {a.clients} clients, {a.size}-byte text messages, {a.seconds:g} s each, one gevent worker')
    for name, r, per_cpu in rates:
        print(f'  {name:<20} {r:10.0f} round trips/s {per_cpu:10.0f} per server CPU second')
    print(f'  ratio {rates[0][1] / rates[1][1]:.2f}x (per CPU second {rates[0][2] / max(rates[1][2], 1):.2f}x)')
    if a.idle:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 2 * a.idle + 200)), hard))
        print(f'{a.idle} idle websockets (each waiting in websocket_recv()), worker RSS growth per connection')
        for name, cmd in servers:
            cmd = [c if c != '100' else str(a.idle + 10) for c in cmd]
            print(f'  {name:<20} {idle_rss(cmd, a.idle):8.1f} KiB')


if __name__ == '__main__':
    sys.exit(main())
