"""Socket options real configs use: --http11-socket (an alias of --http-socket), --protocol http for
--socket, --chown-socket, --umask, and clear refusals of bad values."""
import os
import shutil
import socket
import stat
import subprocess
import time

import pytest

from conftest import app_path, base_args, free_port, start_uwsgi, uwsgi_binary
from helpers_core import HttpReader, connect, exchange, http_get, request_bytes


def _unix_http_get(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    s.sendall(request_bytes(headers={'Connection': 'close'}))
    try:
        return HttpReader(s).read_response()
    finally:
        s.close()


def test_http11_socket_serves_http_with_keepalive(uwsgi_server):
    port = free_port()
    srv = uwsgi_server('--http11-socket', f'127.0.0.1:{port}', '--wsgi-file', app_path('app.py'),
                       http=False, port=port)
    assert http_get(srv.port, '/')[0] == 200
    with connect(port) as s:  # two requests on one connection: keep-alive
        reader = HttpReader(s)
        for _ in range(2):
            s.sendall(request_bytes())
            assert reader.read_response().status == 200


def test_protocol_http_makes_socket_speak_http(uwsgi_server):
    port = free_port()
    srv = uwsgi_server('--socket', f'127.0.0.1:{port}', '--protocol', 'http', '--wsgi-file', app_path('app.py'),
                       http=False, port=port)
    assert exchange(srv.port, request_bytes(headers={'Connection': 'close'})).status == 200


def test_chown_socket_and_umask_apply_to_unix_sockets(uwsgi_server, tmp_path):
    sock = tmp_path / 'app.sock'
    # nobody:nogroup exist on Debian; the test runs as root (CI), so chown is allowed.
    srv = uwsgi_server('--http-socket', str(sock), '--chown-socket', 'nobody:nogroup', '--umask', '027',
                       '--wsgi-file', app_path('app.py'), http=False, wait=False)
    for _ in range(200):
        if sock.exists():
            break
        time.sleep(0.05)
    st = os.stat(sock)
    import pwd, grp
    assert st.st_uid == pwd.getpwnam('nobody').pw_uid
    assert st.st_gid == grp.getgrnam('nogroup').gr_gid
    # umask 027 takes group write and all of "other" from the socket file's 0777.
    assert stat.S_IMODE(st.st_mode) & 0o027 == 0, oct(st.st_mode)
    assert _unix_http_get(str(sock)).status == 200


def _start_fails(*args):
    cmd = [str(uwsgi_binary())] + base_args() + ['--http-socket', f'127.0.0.1:{free_port()}',
                                                 '--wsgi-file', app_path('app.py')] + list(args)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
    assert p.returncode != 0, p.stdout + p.stderr
    return p.stdout + p.stderr


def test_bad_socket_option_values_stop_startup_naming_the_option():
    assert '--protocol' in _start_fails('--protocol', 'fastcgi')
    assert '--umask' in _start_fails('--umask', '9x')
    assert '--chmod-socket' in _start_fails('--chmod-socket=rw')
    assert 'no-such-user-here' in _start_fails('--chown-socket', 'no-such-user-here')


def test_no_defer_accept_serves():
    # That it turns TCP_DEFER_ACCEPT off is checked on the socket in tests/unit/listener_test.cc.
    srv = start_uwsgi(['--wsgi-file', app_path('app.py'), '--no-defer-accept'])
    try:
        assert srv.request('GET', '/')[0] == 200
    finally:
        srv.stop()


def _server_side_timer(port):
    """The kernel's timer column for the server's end of established connections on port."""
    out = subprocess.run(['ss', '-tno', 'state', 'established', f'( sport = :{port} )'],
                         capture_output=True, text=True, timeout=10).stdout
    return out


def test_so_keepalive_sets_keepalive_on_client_connections(uwsgi_server):
    if not shutil.which('ss'):
        pytest.skip('ss (iproute2) not installed')
    for args, want in ((['--so-keepalive'], True), ([], False)):
        srv = uwsgi_server('--wsgi-file', app_path('app.py'), *args)
        with connect(srv.port) as s:
            s.sendall(request_bytes())
            assert HttpReader(s).read_response().status == 200
            assert ('keepalive' in _server_side_timer(srv.port)) == want, args
        srv.stop()


def test_tcp_nodelay_and_close_on_exec_are_accepted_and_hold(uwsgi_server):
    # uWSGI's flags; both are always so here. A program the app starts inherits no socket.
    srv = uwsgi_server('--wsgi-file', app_path('fds_app.py'), '--tcp-nodelay', '--close-on-exec',
                       '--master', '--processes', '1')
    status, _, body = srv.request('GET', '/')
    assert status == 200
    assert 'socket:' not in body.decode(), body
