"""Answers JSON about the worker that serves the request: pid, uid, groups, CPU affinity, nice
value, RLIMIT_NPROC, locked memory (VmLck), this thread's stack size, whether it is the main
thread, and $ASKED (the variable ?env=NAME names). /slow sleeps 0.5 s first (so concurrent
requests land on different threads), /hold notes 'holding' in $ATEXIT_LOG and sleeps 5 s. Registers atexit handlers that append to $ATEXIT_LOG."""
import atexit
import ctypes
import json
import os
import resource
import threading
import time

try:
    import uwsgi
except ImportError:
    uwsgi = None


def _note(what):
    path = os.environ.get('ATEXIT_LOG')
    if path:
        with open(path, 'a') as f:
            f.write(what + '\n')


atexit.register(_note, 'python-atexit')
if uwsgi is not None:
    uwsgi.atexit = lambda: _note('uwsgi-atexit')

_libc = ctypes.CDLL(None)
_libc.pthread_self.restype = ctypes.c_ulong
_libc.pthread_getattr_np.argtypes = [ctypes.c_ulong, ctypes.c_void_p]


def _stack_size():
    attr = ctypes.create_string_buffer(128)  # pthread_attr_t is 56 bytes on x86_64
    if _libc.pthread_getattr_np(_libc.pthread_self(), attr) != 0:
        return -1
    size = ctypes.c_size_t()
    _libc.pthread_attr_getstacksize(attr, ctypes.byref(size))
    _libc.pthread_attr_destroy(attr)
    return size.value


def _vmlck_kb():
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmLck:'):
                return int(line.split()[1])
    return -1


def application(environ, start_response):
    if environ['PATH_INFO'] == '/slow':
        time.sleep(0.5)
    if environ['PATH_INFO'] == '/hold':  # a request still running 5 s later
        _note('holding')
        time.sleep(5)
    qs = environ.get('QUERY_STRING', '')
    name = qs[4:] if qs.startswith('env=') else ''
    facts = {
        'pid': os.getpid(),
        'uid': os.getuid(),
        'groups': sorted(os.getgroups()),
        'affinity': sorted(os.sched_getaffinity(0)),
        'nice': os.nice(0),
        'nproc': resource.getrlimit(resource.RLIMIT_NPROC)[0],
        'vmlck_kb': _vmlck_kb(),
        'stack': _stack_size(),
        'main_thread': threading.current_thread() is threading.main_thread(),
        'env': os.environ.get(name) if name else None,
    }
    body = json.dumps(facts).encode()
    start_response('200 OK', [('Content-Type', 'application/json'), ('Content-Length', str(len(body)))])
    return [body]
