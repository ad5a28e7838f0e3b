"""--log-master and the bounded log output: lines of several workers never interleave, whatever
their length, and a stalled log destination never stops the answers (lines are dropped and counted)."""
import os
import re
import signal
import subprocess
import threading
import time
import urllib.request

import pytest

from conftest import app_path

APP = app_path('log_app.py')
LINE = re.compile(r'^\[pid: \d+\|core: \d+\] 127\.0\.0\.1 \{\d+ vars\} GET /(\w+)-(\d+)-(x*) => generated ')


class FifoReader:
    """Reads a fifo (the server's --logto) into memory from a thread."""

    def __init__(self, path):
        os.mkfifo(path)
        self.fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # opened first: the server's open() then succeeds
        os.set_blocking(self.fd, True)
        self.keep = os.open(path, os.O_WRONLY)  # no EOF before the server opens it
        self.data = bytearray()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while True:
            b = os.read(self.fd, 65536)
            if not b:
                return
            self.data += b

    def text(self):
        return bytes(self.data).decode(errors='replace')

    def wait(self, text, timeout=10.0):
        deadline = time.monotonic() + timeout
        while text not in self.text() and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.text()


def get(port, path, timeout=5):
    with urllib.request.urlopen(f'http://127.0.0.1:{port}{path}', timeout=timeout) as r:
        return r.status


def test_long_lines_of_four_workers_stay_whole(uwsgi_server, tmp_path):
    # Lines longer than PIPE_BUF (4096) to a pipe: without the master, two workers' writes may mix.
    fifo = FifoReader(str(tmp_path / 'log.fifo'))
    srv = uwsgi_server('--wsgi-file', APP, '--master', '--processes', '4', '--log-master',
                       '--buffer-size', '65535', '--logto', str(tmp_path / 'log.fifo'))
    sizes = [5000, 9000, 20000, 100]
    errors = []

    def client(c):
        try:
            for i in range(15):
                n = sizes[(c + i) % len(sizes)]
                assert get(srv.port, f'/c{c}-{n}-' + 'x' * n) == 200
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=client, args=(c,)) for c in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        lines = [ln for ln in fifo.text().splitlines() if ' => generated ' in ln]
        if len(lines) >= 120:
            break
        time.sleep(0.1)
    assert len(lines) == 120, fifo.text()[-2000:]
    pids = set()
    for ln in lines:
        m = LINE.match(ln)
        assert m, ln[:200]
        assert int(m.group(2)) == len(m.group(3)), ln[:200]  # the URI arrived whole
        pids.add(ln.split('|')[0])
    assert len(pids) > 1  # several workers did write


PRINT_APP = """
import sys
def application(environ, start_response):
    print('APP PRINTS ' + environ['PATH_INFO'], file=sys.stderr, flush=True)
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'ok']
"""


def test_log_master_carries_app_output(uwsgi_server, tmp_path):
    log, app = tmp_path / 'log', tmp_path / 'print_app.py'
    app.write_text(PRINT_APP)
    srv = uwsgi_server('--wsgi-file', str(app), '--master', '--processes', '2', '--log-master', '--logto', str(log))
    assert get(srv.port, '/hello-5-xxxxx') == 200
    deadline = time.monotonic() + 5
    while 'GET /hello-5-xxxxx' not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    text = log.read_text()
    assert 'GET /hello-5-xxxxx' in text and 'APP PRINTS /hello-5-xxxxx\n' in text
    os.kill(srv.proc.pid, signal.SIGINT)
    srv.proc.wait(10)
    assert 'goodbye to uWSGI' in log.read_text()


@pytest.mark.parametrize('mode', ['direct', 'log-master'])
def test_stalled_log_reader_does_not_stop_answers(uwsgi_server, tmp_path, mode):
    path = str(tmp_path / 'log.fifo')
    os.mkfifo(path)
    out = open(tmp_path / 'out', 'wb')
    reader = subprocess.Popen(['cat', path], stdout=out)
    try:
        extra = ['--master', '--log-master'] if mode == 'log-master' else []
        srv = uwsgi_server('--plugins', 'gevent', '--gevent', '10', '--wsgi-file', APP, '--logto', path,
                           '--log-buffer-size', '8192', *extra)
        assert get(srv.port, '/first-1-x') == 200
        os.kill(reader.pid, signal.SIGSTOP)
        # ~600-byte lines: the pipe (64 KiB), the socket to the master and the 8 KiB buffers fill up.
        started = time.monotonic()
        for i in range(600):
            assert get(srv.port, f'/stalled-{i}-' + 'x' * 500, timeout=3) == 200
        assert time.monotonic() - started < 60
        os.kill(reader.pid, signal.SIGCONT)
        deadline = time.monotonic() + 10
        text = ''
        while time.monotonic() < deadline:
            assert get(srv.port, '/after-1-x') == 200
            text = (tmp_path / 'out').read_text(errors='replace')
            if re.search(r'uwsgi: \d+ log lines dropped', text) and 'GET /after-1-x' in text:
                break
            time.sleep(0.2)
        dropped = int(re.search(r'uwsgi: (\d+) log lines dropped', text).group(1))
        logged = len(re.findall(r'GET /stalled-', text))
        assert dropped > 0 and logged > 0
        assert 'GET /after-1-x' in text
    finally:
        os.kill(reader.pid, signal.SIGCONT)
        reader.kill()
        reader.wait()
        out.close()


def test_log_master_lines_go_through_the_loggers(uwsgi_server, tmp_path):
    # What the master receives from the workers (here what the app prints) follows --logger and
    # --log-route as the server's own lines do, not the default log.
    log, app = tmp_path / 'server.log', tmp_path / 'print_app.py'
    app.write_text(PRINT_APP)
    routed = tmp_path / 'routed.log'
    srv = uwsgi_server('--wsgi-file', str(app), '--master', '--processes', '2', '--log-master',
                       '--logger', f'file:{log}', '--logger', f'prints file:{routed}',
                       '--log-route', 'prints APP PRINTS /routed')
    assert get(srv.port, '/plain') == 200
    assert get(srv.port, '/routed') == 200
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not ('GET /routed' in log.read_text() and routed.exists()
                                               and 'APP PRINTS /routed' in routed.read_text()):
        time.sleep(0.05)
    text = log.read_text()
    assert 'APP PRINTS /plain' in text and 'GET /plain' in text and 'GET /routed' in text
    assert 'APP PRINTS /routed' in routed.read_text() and 'APP PRINTS /routed' not in text
    assert 'APP PRINTS' not in srv.log() and 'GET /plain' not in srv.log()
