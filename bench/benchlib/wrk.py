"""Runs wrk while sampling the worker's RSS, and parses its --latency output."""
import os
import re
import subprocess
import time

from . import procs


def _ms(out, pct):
    m = re.search(rf'\s{pct}%\s+([\d.]+)(us|ms|s)\b', out)
    if not m:
        return float('nan')
    v = float(m.group(1))
    return {'us': v / 1000, 'ms': v, 's': v * 1000}[m.group(2)]


def command(port, conns, args, duration):
    return ['wrk', '-t1', f'-c{conns}', f'-d{duration}s', '--latency'] + args + \
        [f'http://127.0.0.1:{port}/']


def run(port, conns, args, duration, server_pid):
    """Returns rps, p50/p99 (ms), socket errors, non-2xx count and the peak worker RSS (KB)."""
    p = subprocess.Popen(command(port, conns, args, duration), stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    peak = 0
    t0 = time.time()
    cpu0 = procs.cpu_seconds(server_pid)
    while True:
        # wait4, not poll(): it also returns wrk's own CPU time (its thread is the limit of the
        # -close rows on 2 cores, whatever the server).
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid:
            p.returncode = os.waitstatus_to_exitcode(status)
            break
        peak = max(peak, procs.worker_rss_kb(server_pid))
        time.sleep(0.2)
    cpu = procs.cpu_seconds(server_pid) - cpu0
    wrk_cpu, wall = ru.ru_utime + ru.ru_stime, time.time() - t0
    out = p.stdout.read()
    rps = re.search(r'Requests/sec:\s+([\d.]+)', out)
    total = re.search(r'(\d+) requests in', out)
    errors = re.search(r'Socket errors: (.*)', out)
    non2xx = re.search(r'Non-2xx or 3xx responses: (\d+)', out)
    avg = re.search(r'Latency\s+([\d.]+)(us|ms|s)\b', out)
    mean_ms = float('nan')
    if avg:
        mean_ms = float(avg.group(1)) * {'us': 1e-3, 'ms': 1.0, 's': 1e3}[avg.group(2)]
    n = int(total.group(1)) if total else 0
    took = re.search(r'requests in ([\d.]+)(ms|s),', out)  # wrk's own run time, else ours
    if took:
        wall = float(took.group(1)) / (1000 if took.group(2) == 'ms' else 1)
    return dict(rps=float(rps.group(1)) if rps else 0.0, p50=_ms(out, 50), p99=_ms(out, 99), mean=mean_ms,
                errors=errors.group(1).strip() if errors else '',
                non2xx=int(non2xx.group(1)) if non2xx else 0, rss_kb=peak,
                # Server CPU per request: what the server spends, whoever limits the throughput.
                cpu_us=cpu / n * 1e6 if n else float('nan'),
                # wrk's own CPU per request, and the share of one core its thread kept busy.
                wrk_cpu_us=wrk_cpu / n * 1e6 if n else float('nan'), wrk_busy=wrk_cpu / wall,
                raw=out if not rps else '')
