#!/usr/bin/python3
"""Side-by-side benchmark: this server against Debian's uWSGI 2.0.21 (and other servers where a
scenario names them), same app, one worker each, alternating rounds, wrk on loopback.

    bench/compare.py                      # every scenario, 3 rounds of 5 s
    bench/compare.py sync-close sync-keepalive --rounds 2 --duration 3
    bench/compare.py --list

Prints requests/s per server and round, the median, p50/p99 latency, worker RSS, and the ratio
ours / reference. Needs: wrk, uwsgi-core, uwsgi-plugin-python3 (+ gevent/greenlet plugins) from
Debian (`make bench-deps`). Timing belongs here, not in the test suite.
"""
import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
APPS = os.path.join(TOP, 'bench', 'apps')
OURS = os.path.join(TOP, 'uwsgi')
REF = '/usr/bin/uwsgi'
COMMON = ['--disable-logging', '--master', '--processes', '1', '--listen', '1024']

# name: (app, wrk connections, wrk extra args, {server: argv-after-binary})
SCENARIOS = {
    'sync-close': ('hello.py', 50, ['-H', 'Connection: close'], {
        'ours': [OURS] + COMMON,
        'uwsgi': [REF, '--plugins', 'python3'] + COMMON,
    }),
    'sync-keepalive': ('hello.py', 50, [], {
        'ours': [OURS] + COMMON,
        'uwsgi': [REF, '--plugins', 'python3', '--http-keepalive'] + COMMON,
    }),
    'ugreen-hello': ('hello.py', 50, ['-H', 'Connection: close'], {
        'ours': [OURS, '--plugins', 'ugreen', '--async', '1000', '--ugreen'] + COMMON,
        'uwsgi': [REF, '--plugins', 'python3,ugreen', '--async', '1000', '--ugreen'] + COMMON,
    }),
    'fcontext-hello': ('hello.py', 50, ['-H', 'Connection: close'], {
        'ours': [OURS, '--plugins', 'fcontext', '--async', '1000', '--fcontext'] + COMMON,
        'uwsgi': [REF, '--plugins', 'python3,ugreen', '--async', '1000', '--ugreen'] + COMMON,
    }),
    'ugreen-sleep': ('sleep_async.py', 1000, ['-H', 'Connection: close', '--timeout', '10s'], {
        'ours': [OURS, '--plugins', 'ugreen', '--async', '1000', '--ugreen'] + COMMON,
        'uwsgi': [REF, '--plugins', 'python3,ugreen', '--async', '1000', '--ugreen'] + COMMON,
    }),
    'greenlet-hello': ('hello.py', 50, ['-H', 'Connection: close'], {
        'ours': [OURS, '--plugins', 'greenlet', '--async', '1000', '--greenlet'] + COMMON,
        'uwsgi': [REF, '--plugins', 'python3,greenlet_python3', '--async', '1000', '--greenlet'] + COMMON,
    }),
    'gevent-hello': ('hello.py', 50, ['-H', 'Connection: close'], {
        'ours': [OURS, '--plugins', 'gevent', '--gevent', '10000'] + COMMON,
        'uwsgi': [REF, '--plugins', 'python3,gevent_python3', '--gevent', '10000'] + COMMON,
    }),
    'gevent-sleep': ('sleep_gevent.py', 1000, ['-H', 'Connection: close', '--timeout', '10s'], {
        'ours': [OURS, '--plugins', 'gevent', '--gevent', '10000'] + COMMON,
        'uwsgi': [REF, '--plugins', 'python3,gevent_python3', '--gevent', '10000'] + COMMON,
    }),
}


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, timeout=15):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(('127.0.0.1', port), 0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def children(pid):
    try:
        out = subprocess.check_output(['pgrep', '-P', str(pid)], text=True)
        return [int(x) for x in out.split()]
    except subprocess.CalledProcessError:
        return []


def rss_kb(pid):
    try:
        with open(f'/proc/{pid}/status') as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_wrk(port, conns, extra, duration):
    cmd = ['wrk', '-t1', f'-c{conns}', f'-d{duration}s', '--latency'] + extra + [f'http://127.0.0.1:{port}/']
    out = subprocess.run(cmd, capture_output=True, text=True).stdout
    rps = float(re.search(r'Requests/sec:\s+([\d.]+)', out).group(1)) if 'Requests/sec' in out else 0.0

    def lat(p):
        m = re.search(rf'\s{p}%\s+([\d.]+)(us|ms|s)', out)
        if not m:
            return float('nan')
        v = float(m.group(1))
        return v / 1000 if m.group(2) == 'us' else v * 1000 if m.group(2) == 's' else v
    errors = re.search(r'Socket errors: (.*)', out)
    non2xx = re.search(r'Non-2xx or 3xx responses: (\d+)', out)
    return rps, lat(50), lat(99), (errors.group(1) if errors else ''), int(non2xx.group(1)) if non2xx else 0


def bench_one(server, argv, app, conns, extra, duration):
    port = free_port()
    cmd = argv + ['--http-socket', f'127.0.0.1:{port}', '--wsgi-file', os.path.join(APPS, app)]
    log = tempfile.TemporaryFile()
    t0 = time.time()
    p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=TOP)
    try:
        if not wait_port(port):
            log.seek(0)
            return None, f'{server} did not start: ' + log.read().decode(errors='replace')[-500:]
        startup = time.time() - t0
        rps, p50, p99, errs, non2xx = run_wrk(port, conns, extra, duration)
        workers = children(p.pid)
        rss = max((rss_kb(w) for w in workers), default=rss_kb(p.pid))
        return dict(rps=rps, p50=p50, p99=p99, errors=errs, non2xx=non2xx, rss_mb=rss / 1024,
                    startup=startup), None
    finally:
        try:
            os.killpg(p.pid, signal.SIGINT)  # uWSGI reloads on SIGTERM: SIGINT stops both
            p.wait(10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('scenarios', nargs='*')
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--duration', type=int, default=5)
    ap.add_argument('--list', action='store_true')
    a = ap.parse_args()
    if a.list:
        print('\n'.join(SCENARIOS))
        return 0
    names = a.scenarios or list(SCENARIOS)
    summary = []
    for name in names:
        app, conns, extra, servers = SCENARIOS[name]
        results = {s: [] for s in servers}
        print(f'== {name}: {app}, wrk -c{conns} {" ".join(extra)}', flush=True)
        for r in range(a.rounds):
            order = list(servers) if r % 2 == 0 else list(reversed(servers))
            for s in order:
                res, err = bench_one(s, servers[s], app, conns, extra, a.duration)
                if err:
                    print(f'   {s}: {err}')
                    continue
                results[s].append(res)
                print(f'   round {r + 1} {s:6s} {res["rps"]:10.0f} req/s  p50 {res["p50"]:7.2f} ms  '
                      f'p99 {res["p99"]:7.2f} ms  rss {res["rss_mb"]:6.1f} MB  {res["errors"]}'
                      f'{"  non-2xx " + str(res["non2xx"]) if res["non2xx"] else ""}', flush=True)
        med = {s: statistics.median([x['rps'] for x in v]) if v else 0 for s, v in results.items()}
        ratio = med['ours'] / med['uwsgi'] if med.get('uwsgi') else float('nan')
        rss = {s: statistics.median([x['rss_mb'] for x in v]) if v else 0 for s, v in results.items()}
        print(f'   median: ours {med["ours"]:.0f}  uwsgi {med["uwsgi"]:.0f}  ratio {ratio:.2f}x  '
              f'rss ours {rss["ours"]:.1f} MB uwsgi {rss["uwsgi"]:.1f} MB', flush=True)
        summary.append((name, med['ours'], med['uwsgi'], ratio))
    print('\n| scenario | ours req/s | uWSGI 2.0.21 req/s | ratio |\n|---|---|---|---|')
    for n, o, u, r in summary:
        print(f'| {n} | {o:.0f} | {u:.0f} | {r:.2f}x |')
    return 0


if __name__ == '__main__':
    sys.exit(main())
