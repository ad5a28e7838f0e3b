"""App for test_operations.py: crashes, stuck requests, uWSGI signals, import counting.

Writes what happens as lines in files under $OPS_DIR (one file per kind of event).
"""
import os
import resource
import time

import uwsgi
from uwsgidecorators import filemon, postfork, signal, timer

OUT = os.environ.get('OPS_DIR', '/tmp')


def note(name, text):
    try:
        with open(os.path.join(OUT, name), 'a') as f:
            f.write(text + '\n')
    except OSError:
        pass  # e.g. after --uid nobody


note('imports', str(os.getpid()))


@postfork
def after_fork():
    note('postfork', '%d %d' % (uwsgi.worker_id(), os.getpid()))


if os.environ.get('OPS_TIMER'):
    @timer(0.2)
    def tick(num):
        note('timer', '%d %d' % (num, uwsgi.worker_id()))


@signal(50, target='workers')
def to_all(num):
    note('sig50', str(uwsgi.worker_id()))


@signal(51, target='worker2')
def to_worker2(num):
    note('sig51', str(uwsgi.worker_id()))


@signal(52)
def to_one(num):
    note('sig52', str(uwsgi.worker_id()))


@signal(53, target='workers')
def waited_for(num):
    note('sig53', str(uwsgi.worker_id()))


if os.environ.get('OPS_WATCH'):
    @filemon(os.environ['OPS_WATCH'])
    def changed(num):
        note('filemon', '%d %d' % (num, uwsgi.worker_id()))


def application(env, start_response):
    path, q = env['PATH_INFO'], env.get('QUERY_STRING', '')
    if path == '/exit':
        os._exit(3)
    elif path == '/segv':
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # no core file in the test's cwd
        os.kill(os.getpid(), 11)
        time.sleep(5)
    elif path == '/sleep':
        time.sleep(float(q or 10))
        body = 'slept'
    elif path == '/asleep':  # async cores only: this core waits, the others keep serving
        uwsgi.async_sleep(float(q))
        uwsgi.suspend()
        body = 'slept'
    elif path == '/signal':
        uwsgi.signal(int(q))
        body = 'sent'
    elif path == '/wait':
        uwsgi.signal_wait(int(q))
        body = str(uwsgi.signal_received())
    elif path == '/ids':
        body = '%d %d' % (os.getuid(), os.getgid())
    elif path == '/raise':
        raise RuntimeError('boom')
    elif path == '/registered':
        body = ' '.join(str(int(uwsgi.signal_registered(n))) for n in (50, 99))
    else:
        body = str(os.getpid())
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [body.encode()]
