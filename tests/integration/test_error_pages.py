"""--error-page-403/404/500: the body of the server's own ("managed") answers with that status
is the file's content (text/html); the app's own responses are left alone, as uWSGI 2.0.21
does (measured: its app 404 keeps the app's body and headers; no app loaded gives the page)."""
import os
import socket
import subprocess

import pytest

from conftest import base_args, start_uwsgi, uwsgi_binary

APP = '''
def application(env, start_response):
    path = env['PATH_INFO']
    if path == '/nf':
        start_response('404 Not Found', [('Content-Type', 'text/plain'), ('X-App', '1')])
        return [b'the app says not found']
    if path == '/boom':
        raise RuntimeError('boom')
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'ok ' + path.encode()]
'''

PAGES = {403: b'<h1>custom 403</h1>\n', 404: b'<h1>custom 404</h1>\n', 500: b'<h1>custom 500</h1>\n'}


@pytest.fixture(scope='module')
def site(tmp_path_factory):
    d = tmp_path_factory.mktemp('errpages')
    (d / 'app.py').write_text(APP)
    for code, body in PAGES.items():
        (d / f'{code}.html').write_bytes(body)
    static = d / 'static'
    static.mkdir()
    (static / 'a.txt').write_text('hello\n')
    (d / 'secret.txt').write_text('secret\n')
    os.symlink(d / 'secret.txt', static / 'out.txt')  # resolves outside the map: refused (403)
    return d


def page_args(d):
    return [a for code in PAGES for a in (f'--error-page-{code}', str(d / f'{code}.html'))]


@pytest.fixture(scope='module')
def srv(site):
    s = start_uwsgi(['--wsgi-file', site / 'app.py', '--static-map', f'/s={site}/static'] + page_args(site),
                    log_dir=str(site))
    yield s
    s.stop()


@pytest.fixture(scope='module')
def mounted(site):
    # --no-default-app: a URI no mountpoint matches (a static-map miss here) gets our own 404.
    s = start_uwsgi(['--mount', f'/app={site}/app.py', '--manage-script-name', '--no-default-app',
                     '--static-map', f'/s={site}/static'] + page_args(site), log_dir=str(site))
    yield s
    s.stop()


def test_the_apps_own_404_is_left_alone(srv):
    st, h, body = srv.request('GET', '/nf')
    assert st == 404 and body == b'the app says not found'
    assert h['content-type'] == 'text/plain' and h['x-app'] == '1'


def test_a_200_is_untouched(srv):
    st, h, body = srv.request('GET', '/fine')
    assert st == 200 and body == b'ok /fine'
    st, h, body = srv.request('GET', '/s/a.txt')
    assert st == 200 and body == b'hello\n'


def test_an_app_exception_gets_the_500_page(srv):
    st, h, body = srv.request('GET', '/boom')
    assert st == 500 and body == PAGES[500]
    assert h['content-type'] == 'text/html' and h['content-length'] == str(len(PAGES[500]))


def test_a_refused_static_file_gets_the_403_page(srv):
    st, h, body = srv.request('GET', '/s/out.txt')
    assert st == 403 and body == PAGES[403] and h['content-type'] == 'text/html'


def test_keep_alive_goes_on_after_an_error_page(srv):
    conn = srv.connection()
    try:
        for path, want in (('/boom', PAGES[500]), ('/fine', b'ok /fine'), ('/s/out.txt', PAGES[403])):
            conn.request('GET', path)
            resp = conn.getresponse()
            assert resp.read() == want
    finally:
        conn.close()


def test_head_gets_the_pages_length_and_no_body(srv):
    with socket.create_connection(('127.0.0.1', srv.port), timeout=10) as s:
        s.sendall(b'HEAD /boom HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
        data = b''
        while chunk := s.recv(4096):
            data += chunk
    head, _, rest = data.partition(b'\r\n\r\n')
    assert head.startswith(b'HTTP/1.1 500') and b'Content-Length: %d' % len(PAGES[500]) in head
    assert rest == b''


def test_a_static_map_miss_without_an_app_gets_the_404_page(mounted):
    st, h, body = mounted.request('GET', '/s/missing.txt')
    assert st == 404 and body == PAGES[404] and h['content-type'] == 'text/html'
    st, h, body = mounted.request('GET', '/app/nf')  # the mounted app's own 404: its body
    assert st == 404 and body == b'the app says not found'


@pytest.mark.parametrize('code', [403, 404, 500])
def test_a_missing_page_stops_start_up_naming_the_option(tmp_path, code):
    missing = tmp_path / 'nope.html'
    cmd = [str(uwsgi_binary())] + base_args() + ['--http-socket', '127.0.0.1:0', f'--error-page-{code}', str(missing)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
    assert r.returncode != 0
    assert f'--error-page-{code} {missing}' in r.stdout + r.stderr


def test_a_directory_is_refused(tmp_path):
    cmd = [str(uwsgi_binary())] + base_args() + ['--http-socket', '127.0.0.1:0', '--error-page-404', str(tmp_path)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
    assert r.returncode != 0 and 'not a regular file' in r.stdout + r.stderr
