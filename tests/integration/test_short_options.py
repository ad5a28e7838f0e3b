"""uWSGI's one-letter options that tutorials use: -T (enable-threads), -i (single-interpreter),
-m (memory-report), -r (reaper), -C[MODE] (chmod-socket, the mode attached as getopt wants it),
-x/-j/-y FILE (xml, json, yaml config files), -Q DIR (spooler)."""
import json
import os
import socket
import stat
import time

from conftest import app_path, free_port
from helpers_core import HttpReader, request_bytes


def _wait_for(path, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.05)
    return os.path.exists(path)


def _unix_get(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    s.sendall(request_bytes(headers={'Connection': 'close'}))
    try:
        return HttpReader(s).read_response().status
    finally:
        s.close()


def test_flags_T_i_m_r_are_accepted(uwsgi_server):
    srv = uwsgi_server('--wsgi-file', app_path('app.py'), '-T', '-i', '-m', '-r', '--master')
    assert srv.request('GET', '/')[0] == 200


def test_C_alone_is_666_and_takes_no_next_argument(uwsgi_server, tmp_path):
    bare, attached = tmp_path / 'bare.sock', tmp_path / 'attached.sock'
    # "-C --wsgi-file X": --wsgi-file must stay an option, not become the mode.
    uwsgi_server('--http-socket', bare, '-C', '--wsgi-file', app_path('app.py'), http=False, wait=False)
    uwsgi_server('--http-socket', attached, '-C640', '--wsgi-file', app_path('app.py'), http=False, wait=False)
    assert _wait_for(bare) and _wait_for(attached)
    assert stat.S_IMODE(os.stat(bare).st_mode) == 0o666
    assert stat.S_IMODE(os.stat(attached).st_mode) == 0o640
    deadline = time.monotonic() + 10
    while True:  # the socket file exists once bound; the app loads next
        try:
            assert _unix_get(str(bare)) == 200
            break
        except (ConnectionRefusedError, FileNotFoundError):
            assert time.monotonic() < deadline
            time.sleep(0.05)


def test_x_j_y_load_config_files(uwsgi_server, tmp_path):
    for flag, name, text in (
            ('-j', 'app.json', lambda p: json.dumps({'uwsgi': {'http-socket': f'127.0.0.1:{p}',
                                                               'wsgi-file': app_path('app.py')}})),
            ('-y', 'app.yaml', lambda p: f"uwsgi:\n  http-socket: 127.0.0.1:{p}\n  wsgi-file: {app_path('app.py')}\n"),
            ('-x', 'app.xml', lambda p: f"<uwsgi><http-socket>127.0.0.1:{p}</http-socket>"
                                        f"<wsgi-file>{app_path('app.py')}</wsgi-file></uwsgi>")):
        port = free_port()
        f = tmp_path / name
        f.write_text(text(port))
        srv = uwsgi_server(flag, f, http=False, port=port)
        assert srv.request('GET', '/')[0] == 200, flag
        srv.stop()


def test_Q_is_the_spooler(uwsgi_server, tmp_path):
    spool = tmp_path / 'spool'
    srv = uwsgi_server('--wsgi-file', app_path('app.py'), '--master', '-Q', spool)
    assert srv.wait_log('spawned the uWSGI spooler', timeout=10), srv.log()
    assert spool.is_dir()
    assert srv.request('GET', '/')[0] == 200
