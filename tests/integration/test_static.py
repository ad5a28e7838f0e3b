"""Static files (static-map, static-map2, check-static, index, expiry, validators, ranges, gzip
siblings), path containment, and --offload-threads, against the real binary."""
import gzip
import hashlib
import os
import socket
import time
from email.utils import formatdate

import pytest

from conftest import app_path, start_uwsgi
from helpers_core import HttpReader, connect, exchange, new_log, request_bytes

APP = ['--wsgi-file', app_path('app.py')]
CSS = b'body { color: red }\n' * 10
FIXED_MTIME = 1700000000  # 2023-11-14: the -mtime expiry counts from here


@pytest.fixture(scope='module')
def tree(tmp_path_factory):
    top = tmp_path_factory.mktemp('static')
    d = top / 'd'
    (d / 'sub').mkdir(parents=True)
    (d / 'a.css').write_bytes(CSS)
    (d / 'a.css.gz').write_bytes(gzip.compress(CSS))
    (d / 'index.html').write_bytes(b'<h1>index</h1>')
    (d / 'sub' / 'index.html').write_bytes(b'sub index')
    (d / 'data.bin').write_bytes(bytes(range(256)) * 400)
    (d / 'page.php').write_bytes(b'<?php secret ?>')
    (d / 'pic.svg').write_bytes(b'<svg/>')
    (top / 'secret.txt').write_bytes(b'TOP SECRET')
    os.symlink(top / 'secret.txt', d / 'evil')
    safe = top / 'safe'
    safe.mkdir()
    (safe / 'shared.txt').write_bytes(b'shared via static-safe')
    os.symlink(safe / 'shared.txt', d / 'shared')
    d2 = top / 'second'
    d2.mkdir()
    (d2 / 'only2.txt').write_bytes(b'from the second map')
    m2 = top / 'map2'
    (m2 / 'm2').mkdir(parents=True)
    (m2 / 'm2' / 'file.txt').write_bytes(b'map2 file')
    c = top / 'checked'
    c.mkdir()
    (c / 'checked.txt').write_bytes(b'checked')
    os.utime(c / 'checked.txt', (FIXED_MTIME, FIXED_MTIME))
    return top


@pytest.fixture(scope='module')
def srv(tree, tmp_path_factory):
    s = start_uwsgi(APP + [
        '--static-map', f'/s={tree}/d', '--static-map', f'/s={tree}/second',
        '--static-map2', f'/m2={tree}/map2', '--check-static', f'{tree}/checked',
        '--static-index', 'index.html', '--static-skip-ext', '.php', '--static-safe', f'{tree}/safe',
        '--static-expires-type', 'text/css=100', '--static-expires-mtime', r'checked\.txt$=3600',
        '--static-expires-uri', r'^/s/pic\.svg=50',
        '--static-gzip-all', '--honour-range'], log_dir=str(tmp_path_factory.mktemp('log')))
    yield s
    s.stop()


def get(port, path, headers=None, method='GET'):
    return exchange(port, request_bytes(method, path, headers), head=(method == 'HEAD'))


def test_static_map_serves_the_file_with_type_validators_and_expiry(srv, tree):
    r = get(srv.port, '/s/a.css')
    assert r.status == 200 and r.body == CSS
    assert r.header('Content-Type') == 'text/css'
    assert r.header('Content-Length') == str(len(CSS))
    mtime = os.stat(tree / 'd' / 'a.css').st_mtime
    assert r.header('Last-Modified') == formatdate(mtime, usegmt=True)
    assert r.header('ETag', '').startswith('"')
    assert r.header('Cache-Control') == 'max-age=100'
    assert r.header('Expires')
    assert r.header('Vary') == 'Accept-Encoding'  # a .gz sibling exists
    # The default mime table is /etc/mime.types.
    assert get(srv.port, '/s/pic.svg').header('Content-Type') == 'image/svg+xml'


def test_expiry_by_uri_and_by_mtime(srv):
    assert get(srv.port, '/s/pic.svg').header('Cache-Control') == 'max-age=50'
    r = get(srv.port, '/checked.txt')
    assert r.status == 200 and r.body == b'checked'
    assert r.header('Expires') == formatdate(FIXED_MTIME + 3600, usegmt=True)
    assert r.header('Cache-Control') == 'max-age=0'  # long past


def test_first_matching_map_then_map2_then_the_app(srv):
    assert get(srv.port, '/s/only2.txt').body == b'from the second map'
    assert get(srv.port, '/m2/file.txt').body == b'map2 file'
    r = get(srv.port, '/s/missing.txt')
    assert r.status == 404 and r.body == b'not found'  # the app's answer
    assert get(srv.port, '/').body == b'hello'
    # Only GET and HEAD are served from files.
    r = exchange(srv.port, request_bytes('POST', '/s/a.css', body=b'x'))
    assert r.body == b'not found'


def test_index_files_and_skipped_extensions(srv):
    assert get(srv.port, '/s/').body == b'<h1>index</h1>'
    assert get(srv.port, '/s').body == b'<h1>index</h1>'
    assert get(srv.port, '/s/sub').body == b'sub index'
    r = get(srv.port, '/s/page.php')
    assert r.status == 404 and r.body == b'not found'


def test_not_modified_for_either_validator(srv):
    r = get(srv.port, '/s/a.css')
    etag, lm = r.header('ETag'), r.header('Last-Modified')
    r = get(srv.port, '/s/a.css', {'If-None-Match': etag})
    assert r.status == 304 and r.body == b'' and r.header('ETag') == etag
    r = get(srv.port, '/s/a.css', {'If-None-Match': f'"nope", W/{etag}'})
    assert r.status == 304
    r = get(srv.port, '/s/a.css', {'If-Modified-Since': lm})
    assert r.status == 304
    # An older date, or another tag (which wins over the date): the file again.
    r = get(srv.port, '/s/a.css', {'If-Modified-Since': 'Sat, 01 Jan 2000 00:00:00 GMT'})
    assert r.status == 200 and r.body == CSS
    r = get(srv.port, '/s/a.css', {'If-None-Match': '"other"', 'If-Modified-Since': lm})
    assert r.status == 200 and r.body == CSS


def test_ranges_head_and_unsatisfiable(srv, tree):
    data = (tree / 'd' / 'data.bin').read_bytes()
    r = get(srv.port, '/s/data.bin', {'Range': 'bytes=10-19'})
    assert r.status == 206 and r.body == data[10:20]
    assert r.header('Content-Range') == f'bytes 10-19/{len(data)}'
    r = get(srv.port, '/s/data.bin', {'Range': 'bytes=-5'})
    assert r.status == 206 and r.body == data[-5:]
    r = get(srv.port, '/s/data.bin', {'Range': 'bytes=100-'})
    assert r.status == 206 and r.body == data[100:]
    r = get(srv.port, '/s/data.bin', {'Range': f'bytes={len(data)}-'})
    assert r.status == 416 and r.header('Content-Range') == f'bytes */{len(data)}'
    r = get(srv.port, '/s/data.bin', {'Range': 'bytes=0-1,5-6'})  # several: the whole file
    assert r.status == 200 and r.body == data
    r = get(srv.port, '/s/data.bin', {'Range': 'bytes=0-1', 'If-Range': '"stale"'})
    assert r.status == 200 and r.body == data
    # HEAD: the headers of the GET, no body (the next response on the connection is intact).
    with connect(srv.port) as s:
        s.sendall(request_bytes('HEAD', '/s/data.bin') + request_bytes('GET', '/s/a.css'))
        rd = HttpReader(s)
        h = rd.read_response(head=True)
        assert h.status == 200 and h.header('Content-Length') == str(len(data))
        g = rd.read_response()
        assert g.status == 200 and g.body == CSS


def test_gzip_sibling_for_clients_that_accept_it(srv):
    r = get(srv.port, '/s/a.css', {'Accept-Encoding': 'deflate, gzip'})
    assert r.header('Content-Encoding') == 'gzip' and r.header('Vary') == 'Accept-Encoding'
    assert gzip.decompress(r.body) == CSS
    assert r.header('Content-Type') == 'text/css'
    r = get(srv.port, '/s/a.css', {'Accept-Encoding': 'gzip;q=0, br'})
    assert r.header('Content-Encoding') is None and r.body == CSS
    r = get(srv.port, '/s/index.html', {'Accept-Encoding': 'gzip'})  # no sibling
    assert r.header('Content-Encoding') is None and r.header('Vary') is None


def raw(port, target):
    with connect(port) as s:
        s.sendall(b'GET ' + target + b' HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
        out = b''
        s.settimeout(5)
        while True:
            d = s.recv(65536)
            if not d:
                return out
            out += d


@pytest.mark.parametrize('target', [b'/s/../secret.txt', b'/s/%2e%2e/secret.txt', b'/s/%2E%2E%2Fsecret.txt',
                                    b'/s/..%2fsecret.txt', b'/s/evil', b'/s/a.css%00.txt', b'/s/sub/../../secret.txt'])
def test_paths_out_of_the_root_are_refused(srv, target):
    offset = len(srv.log())
    out = raw(srv.port, target)
    status = int(out.split(b' ', 2)[1])
    assert status in (400, 403, 404), out[:200]
    assert b'TOP SECRET' not in out
    if status == 403:
        assert 'static: refused' in new_log(srv, offset, 'static: refused')


def test_symlink_into_a_static_safe_dir_is_served(srv):
    r = get(srv.port, '/s/shared')
    assert r.status == 200 and r.body == b'shared via static-safe'


def test_mimefile_and_bad_options(uwsgi_server, tmp_path):
    (tmp_path / 'types').write_text('# custom\napplication/x-thing thing THX\n')
    (tmp_path / 'f.thx').write_bytes(b'thing')
    s = uwsgi_server(*APP, '--static-map', f'/f={tmp_path}', '--mimefile', str(tmp_path / 'types'))
    r = get(s.port, '/f/f.thx')
    assert r.status == 200 and r.header('Content-Type') == 'application/x-thing'
    for bad, word in ((['--static-map', '/nodir'], 'static-map'), (['--static-expires', '(=10'], 'static-expires'),
                      (['--file-serve-mode', 'carrier-pigeon'], 'file-serve-mode'),
                      (['--mimefile', str(tmp_path / 'none')], 'mimefile')):
        with pytest.raises(RuntimeError) as e:
            start_uwsgi(APP + bad, timeout=5, log_dir=str(tmp_path))
        assert word in str(e.value)


def test_x_sendfile_mode_leaves_the_body_to_the_proxy(uwsgi_server, tmp_path):
    (tmp_path / 'big.txt').write_bytes(b'x' * 1000)
    s = uwsgi_server(*APP, '--static-map', f'/f={tmp_path}', '--file-serve-mode', 'x-accel-redirect')
    r = get(s.port, '/f/big.txt')
    assert r.status == 200 and r.body == b'' and r.header('X-Accel-Redirect') == str(tmp_path / 'big.txt')


BIG = 20 << 20


def big_file(tmp_path):
    p = tmp_path / 'big.bin'
    with open(p, 'wb') as f:
        block = hashlib.sha256(b'seed').digest() * 32768  # 1 MiB
        for _ in range(BIG >> 20):
            f.write(block)
    return p


def slow_readers(port, path, n):
    socks = []
    for _ in range(n):
        s = socket.create_connection(('127.0.0.1', port), timeout=10)
        s.sendall(request_bytes('GET', path))
        socks.append(s)
    return socks


def read_all(s, deadline):
    data = b''
    while time.monotonic() < deadline:
        d = s.recv(1 << 20)
        if not d:
            break
        data += d
    return data


@pytest.mark.parametrize('mode', [[], ['--gevent', '10']], ids=['sync', 'gevent'])
def test_offload_threads_free_the_worker_while_slow_clients_download(uwsgi_server, tmp_path, mode):
    p = big_file(tmp_path)
    extra = ['--plugins', 'gevent'] + mode if mode else []
    s = uwsgi_server(*extra, *APP, '--static-map', f'/f={tmp_path}', '--offload-threads', '1')
    readers = slow_readers(s.port, '/f/big.bin', 5)
    time.sleep(0.3)  # each download is underway (and stalled on its reader)
    for _ in range(5):
        t0 = time.monotonic()
        r = exchange(s.port, request_bytes('GET', '/'), timeout=5)
        assert r.status == 200 and r.body == b'hello'
        assert time.monotonic() - t0 < 3
    want = hashlib.sha256(p.read_bytes()).hexdigest()
    deadline = time.monotonic() + 30
    for rd in readers:
        data = read_all(rd, deadline)
        rd.close()
        head, _, body = data.partition(b'\r\n\r\n')
        assert b'200 OK' in head and b'Connection: close' in head
        assert len(body) == BIG and hashlib.sha256(body).hexdigest() == want
    # file_wrapper responses go the same way.
    r = exchange(s.port, request_bytes('GET', f'/file?{p}'), timeout=30)
    assert r.status == 200 and len(r.body) == BIG


def test_without_offload_a_sync_worker_serves_the_download_itself(uwsgi_server, tmp_path):
    p = big_file(tmp_path)
    s = uwsgi_server(*APP, '--static-map', f'/f={tmp_path}')
    with connect(s.port) as c:
        c.sendall(request_bytes('GET', '/f/big.bin') + request_bytes('GET', '/s/nothing'))
        rd = HttpReader(c)
        r = rd.read_response()
        assert r.status == 200 and r.body == p.read_bytes()
        assert r.header('Connection') is None  # kept alive
        assert rd.read_response().status == 404


def test_static_files_under_threads_and_gevent(uwsgi_server, tmp_path):
    (tmp_path / 'x.txt').write_bytes(b'0123456789')
    for mode in (['--threads', '4'], ['--plugins', 'gevent', '--gevent', '10'], ['--async', '4', '--ugreen']):
        s = uwsgi_server(*mode, *APP, '--static-map', f'/f={tmp_path}', '--honour-range')
        assert get(s.port, '/f/x.txt').body == b'0123456789'
        r = get(s.port, '/f/x.txt', {'Range': 'bytes=2-4'})
        assert r.status == 206 and r.body == b'234'
        s.stop()


def test_a_recycled_worker_finishes_its_offloaded_downloads(uwsgi_server, tmp_path):
    p = big_file(tmp_path)
    s = uwsgi_server(*APP, '--master', '--max-requests', '1', '--static-map', f'/f={tmp_path}',
                     '--offload-threads', '1')
    offset = len(s.log())
    (rd,) = slow_readers(s.port, '/f/big.bin', 1)
    # The worker reached --max-requests with the download still underway: it waits for it.
    assert 'offload: waiting for 1 transfer' in new_log(s, offset, 'offload: waiting', timeout=10)
    data = read_all(rd, time.monotonic() + 30)
    rd.close()
    body = data.partition(b'\r\n\r\n')[2]
    assert len(body) == BIG and body == p.read_bytes()
