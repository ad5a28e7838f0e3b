#!/usr/bin/python3
"""The memory floor of one in-flight gevent request on this machine: RSS per greenlet suspended in
gevent.sleep, (a) called straight from C (no Python frame in the greenlet) and (b) from one small
Python function, as every WSGI app is. No server can keep an in-flight request in less than (b).

    bench/greenlet_floor.py        # prints: c_only_kb=2.9 python_kb=7.2
"""
import subprocess
import sys

import gevent

N = 2000


def rss_kb():
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


def per_greenlet(spawn):
    gevent.sleep(0.2)
    r0 = rss_kb()
    for _ in range(N):
        spawn()
    gevent.sleep(0.5)  # all started and suspended
    return (rss_kb() - r0) / N


def measure(mode):
    hub = gevent.get_hub()

    def py_app():
        gevent.sleep(2)

    for _ in range(10):  # gevent's own lazy set-up is not per greenlet
        gevent.spawn_raw(py_app)
    if mode == 'c_only':
        return per_greenlet(lambda: gevent.spawn_raw(hub.wait, hub.loop.timer(2)))
    return per_greenlet(lambda: gevent.spawn_raw(py_app))


def main():
    if len(sys.argv) > 1:  # one measurement, in a fresh process (freed memory would be reused)
        print(f'{measure(sys.argv[1]):.1f}')
        return
    out = {m: subprocess.check_output([sys.executable, __file__, m], text=True).strip()
           for m in ('c_only', 'python')}
    print(f"c_only_kb={out['c_only']} python_kb={out['python']}")


if __name__ == '__main__':
    main()
