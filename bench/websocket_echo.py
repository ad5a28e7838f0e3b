#!/usr/bin/python3
"""Websocket echo round trips per second, this server beside Debian's uWSGI, same app
(bench/apps/ws_echo.py), one gevent worker each (one process, no master):

    ./uwsgi --plugins gevent --gevent 1000 --http-socket :PORT --wsgi-file bench/apps/ws_echo.py
    /usr/bin/uwsgi --plugins python3,gevent_python3 --gevent 1000 --http-socket :PORT --wsgi-file ...

    bench/websocket_echo.py [--clients 100] [--seconds 5] [--size 32] [--rounds 3] [--idle 10000]

The load comes from bench/ws_echo_client.c (built here with cc into a temp dir): one epoll thread,
each client keeps one masked text frame in flight (send, read the echo, send again). Each round
runs both servers one after the other; the medians of the rounds are printed, with the server's
CPU seconds (/proc/PID/stat) over the measured window.

--idle N (0: skip) then opens N websockets with the same client, each left waiting in
websocket_recv(), and prints the worker's RSS growth per connection (ulimit -n is raised; --gevent
is N + 10 for that part)."""
import argparse
import os
import resource
import shutil
import signal
import tempfile
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


def idle_rss(client, cmd, n):
    """KiB of worker RSS per idle websocket, n of them (held open by the C client)."""
    port = free_port()
    p = start(cmd + ['--http-socket', f'127.0.0.1:{port}', '--wsgi-file', APP, '--disable-logging',
                     '--listen', '1024'], port)
    holder = None
    try:
        # First-use allocations (a greenlet, the interpreter's frames) out of the figure.
        subprocess.run([client, 'idle', str(port), '50'], input='', capture_output=True, check=True, timeout=30)
        time.sleep(0.5)
        before = rss_kib(p.pid)
        holder = subprocess.Popen([client, 'idle', str(port), str(n)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        line = holder.stdout.readline()
        if not line.startswith('open'):
            raise SystemExit('idle client failed')
        time.sleep(1)
        after = rss_kib(p.pid)
        return (after - before) / n
    finally:
        if holder:
            holder.stdin.close()
            holder.wait()
        stop(p)


def build_client():
    """Compiles bench/ws_echo_client.c into a temp dir; returns the binary's path."""
    d = tempfile.mkdtemp(prefix='ws_echo_client.')
    exe = os.path.join(d, 'ws_echo_client')
    subprocess.run([os.environ.get('CC', 'cc'), '-O2', '-o', exe, os.path.join(ROOT, 'bench', 'ws_echo_client.c')],
                   check=True)
    return exe


def run(client, port, clients, seconds, size):
    out = subprocess.run([client, 'echo', str(port), str(clients), str(seconds), str(size)],
                         check=True, capture_output=True, text=True, timeout=seconds + 30).stdout
    return float(out.split()[1])


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--clients', type=int, default=100)
    ap.add_argument('--seconds', type=float, default=5)
    ap.add_argument('--size', type=int, default=32)
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--gevent', type=int, default=1000)
    ap.add_argument('--idle', type=int, default=10000)
    ap.add_argument('--only', choices=['ours', 'uwsgi'], help='one server only (e.g. to profile it)')
    a = ap.parse_args()
    client = build_client()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 2 * a.idle + 1000)), hard))
    servers = [
        ('this server', [os.path.join(ROOT, 'uwsgi'), '--plugins', 'gevent', '--gevent', str(a.gevent)]),
        ('uWSGI 2.0 (Debian)', ['/usr/bin/uwsgi', '--plugins', 'python3,gevent_python3', '--gevent', str(a.gevent)]),
    ]
    if a.only:
        servers = [servers[0 if a.only == 'ours' else 1]]
    rates = {name: [] for name, _ in servers}
    cpus = {name: [] for name, _ in servers}
    for _ in range(a.rounds if a.seconds > 0 else 0):
        for name, cmd in servers:
            port = free_port()
            p = start(cmd + ['--http-socket', f'127.0.0.1:{port}', '--wsgi-file', APP, '--disable-logging',
                             '--listen', '1024'], port)
            try:
                if a.only:
                    print(f'server pid {p.pid}', flush=True)
                run(client, port, a.clients, 0.5, a.size)  # warm-up
                c0 = cpu_seconds(p.pid)
                rates[name].append(run(client, port, a.clients, a.seconds, a.size))
                cpus[name].append(cpu_seconds(p.pid) - c0)
            finally:
                stop(p)
    if a.seconds > 0:
        print(f'websocket echo, {a.clients} clients, {a.size}-byte text messages, {a.seconds:g} s x {a.rounds} '
              f'rounds (medians), one gevent worker (--gevent {a.gevent})')
        for name, _ in servers:
            r, cpu = median(rates[name]), median(cpus[name])
            print(f'  {name:<20} {r:10.0f} round trips/s  server CPU {cpu:5.2f} s  {r * a.seconds / cpu if cpu else 0:8.0f} '
                  f'per CPU second   (rounds: {", ".join(f"{x:.0f}" for x in rates[name])})')
        if len(servers) == 2:
            (n0, _), (n1, _) = servers
            r0, r1 = median(rates[n0]), median(rates[n1])
            e0 = r0 / max(median(cpus[n0]), 1e-9)
            e1 = r1 / max(median(cpus[n1]), 1e-9)
            print(f'  ratio {r0 / r1:.2f}x round trips/s, {e0 / e1:.2f}x per CPU second')
    if a.idle:
        print(f'{a.idle} idle websockets (each waiting in websocket_recv()), worker RSS growth per connection')
        kib = {}
        for name, cmd in servers:
            cmd = [c if c != str(a.gevent) else str(a.idle + 10) for c in cmd]
            kib[name] = idle_rss(client, cmd, a.idle)
            print(f'  {name:<20} {kib[name]:8.1f} KiB')
        if len(servers) == 2:
            print(f'  ratio {kib[servers[0][0]] / max(kib[servers[1][0]], 1e-9):.2f}x')
    shutil.rmtree(os.path.dirname(client), ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
