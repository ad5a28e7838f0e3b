"""systemd's Type=notify protocol (NOTIFY_SOCKET): READY=1 once the server serves, RELOADING=1
then READY=1 again on a graceful reload, STOPPING=1 on shutdown; a path or an abstract socket."""
import os
import signal
import socket
import time

from conftest import app_path, start_uwsgi
from helpers_core import http_get


class NotifyListener:
    """The systemd end: a unix datagram socket collecting what the server sends."""

    def __init__(self, address):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.messages = []

    def wait_for(self, line, timeout=15.0, after=0):
        """Reads datagrams until one (from index `after` on) holds `line`; returns its index."""
        deadline = time.monotonic() + timeout
        while True:
            for i in range(after, len(self.messages)):
                if line in self.messages[i].split('\n'):
                    return i
            left = deadline - time.monotonic()
            assert left > 0, f'no {line!r} from the server; got {self.messages}'
            self.sock.settimeout(left)
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except socket.timeout:
                pass

    def close(self):
        self.sock.close()


def test_master_ready_reload_stop(tmp_path):
    path = str(tmp_path / 'notify.sock')
    listener = NotifyListener(path)
    srv = start_uwsgi(['--wsgi-file', app_path('app.py'), '--master', '--processes', '2'],
                      env={'NOTIFY_SOCKET': path}, log_dir=str(tmp_path))
    try:
        ready = listener.wait_for('READY=1')
        assert any(line.startswith('STATUS=') for line in listener.messages[ready].split('\n'))
        assert http_get(srv.port, '/')[0] == 200
        os.kill(srv.proc.pid, signal.SIGHUP)
        reloading = listener.wait_for('RELOADING=1', after=ready + 1)
        listener.wait_for('READY=1', after=reloading + 1)  # the re-executed master is ready again
        assert http_get(srv.port, '/')[0] == 200
        os.kill(srv.proc.pid, signal.SIGINT)
        listener.wait_for('STOPPING=1', after=reloading + 1)
        srv.proc.wait(timeout=15)
    finally:
        srv.stop()
        listener.close()


def test_masterless_worker_on_an_abstract_socket(tmp_path):
    name = f'uwsgi-test-notify-{os.getpid()}-{time.monotonic_ns()}'
    listener = NotifyListener('\0' + name)
    srv = start_uwsgi(['--wsgi-file', app_path('app.py')], env={'NOTIFY_SOCKET': '@' + name},
                      log_dir=str(tmp_path))
    try:
        listener.wait_for('READY=1')
        os.kill(srv.proc.pid, signal.SIGINT)
        listener.wait_for('STOPPING=1')
    finally:
        srv.stop()
        listener.close()


def test_no_ready_while_the_app_loads(tmp_path):
    """READY=1 waits for the workers' apps (--lazy-apps: loaded after the fork)."""
    path = str(tmp_path / 'notify.sock')
    listener = NotifyListener(path)
    app = tmp_path / 'slow_app.py'
    app.write_text('import time\ntime.sleep(1.5)\n'
                   'def application(env, sr):\n'
                   '    sr("200 OK", [("Content-Type", "text/plain")])\n'
                   '    return [b"slow"]\n')
    started = time.monotonic()
    srv = start_uwsgi(['--wsgi-file', str(app), '--master', '--lazy-apps'], env={'NOTIFY_SOCKET': path},
                      log_dir=str(tmp_path), wait=False)
    try:
        listener.wait_for('READY=1')
        assert time.monotonic() - started >= 1.5
        assert http_get(srv.port, '/')[1] == 'slow'
    finally:
        srv.stop()
        listener.close()
