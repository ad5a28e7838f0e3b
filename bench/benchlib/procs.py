"""Starting, watching and stopping the benchmarked processes. Every process is started in its own
session and registered, so stop_all() (run at exit and on SIGINT/SIGTERM of the report) leaves no
server behind and no port bound."""
import atexit
import os
import resource
import signal
import socket
import subprocess
import tempfile
import time

LIVE = set()


def raise_nofile():
    """Lift the soft fd limit to the hard one (10,000 idle connections need it on both ends)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start(argv, cwd):
    log = tempfile.TemporaryFile()
    p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         start_new_session=True, cwd=cwd, preexec_fn=raise_nofile)
    p.log = log
    LIVE.add(p)
    return p


def log_tail(p, n=600):
    p.log.seek(0)
    return p.log.read().decode(errors='replace')[-n:]


def wait_accepts(port, proc, timeout=20):
    """Seconds until a TCP connect succeeds, or None if the process died or timed out."""
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            return None
        try:
            socket.create_connection(('127.0.0.1', port), 0.2).close()
            return True
        except OSError:
            time.sleep(0.01)
    return None


def response_complete(buf):
    """True once buf holds a whole response with a Content-Length body."""
    head, sep, body = buf.partition(b'\r\n\r\n')
    if not sep:
        return False
    for line in head.split(b'\r\n')[1:]:
        name, _, value = line.partition(b':')
        if name.strip().lower() == b'content-length':
            return len(body) >= int(value)
    return False


def first_response(port, proc, path='/', timeout=20):
    """Loops a GET until a complete 200 arrives (app loaded, worker serving)."""
    req = f'GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'.encode()
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(('127.0.0.1', port), 2) as s:
                s.sendall(req)
                data = b''
                while not response_complete(data):  # not EOF: uWSGI's --http11-socket ignores close
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                if data.startswith(b'HTTP/1.') and b' 200 ' in data[:20]:
                    return True
        except OSError:
            pass
        time.sleep(0.02)
    return False


def stop(p, sig=signal.SIGINT):
    """SIGINT to the whole group (uWSGI reloads on SIGTERM; SIGINT stops every server here)."""
    try:
        os.killpg(p.pid, sig)
        p.wait(10)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()
    # Stray group members (a worker orphaned by a dead master) must not outlive the run either.
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    LIVE.discard(p)


def stop_all():
    for p in list(LIVE):
        stop(p)


atexit.register(stop_all)


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


def worker_rss_kb(pid):
    """RSS of the biggest child (the worker under a master), else of the process itself."""
    kids = children(pid)
    return max((rss_kb(k) for k in kids), default=0) or rss_kb(pid)


def cpu_seconds(pid):
    """User + system CPU seconds of pid and its children (the workers), from /proc."""
    tick = os.sysconf('SC_CLK_TCK')
    total = 0
    for q in [pid] + children(pid):
        try:
            with open(f'/proc/{q}/stat') as f:
                fields = f.read().rsplit(')', 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return total / tick
