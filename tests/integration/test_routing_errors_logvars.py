"""--error-route* (the chain run for a response status >= 400), the logvar: action with
--logformat %(NAME), and --static-cache-paths: against the real server."""
import json
import os
import socket

import pytest

from conftest import app_path, start_uwsgi
from helpers_core import new_log

APP = app_path('routing_app.py')


@pytest.fixture(scope='module')
def srv(tmp_path_factory):
    d = tmp_path_factory.mktemp('errroutes')
    (d / 'oops.html').write_text('<p>custom error page</p>\n')
    args = ['--wsgi-file', APP,
            '--route', r'^/teapot$ return:418',
            '--route', r'^/lv/(.*)$ logvar:who=$1',
            '--route', r'^/lv/ logvar:twice=first',
            '--route', r'^/lv/ logvar:twice=second',
            '--logformat', 'LV %(uri) %(status) who=%(who) twice=%(twice)',
            '--error-route-status', r'^418$ addheader:X-Error-Seen: ${uwsgi[status]}',
            '--error-route-if', r'equal:${QUERY_STRING};go redirect:/elsewhere',
            '--error-route-if', f'equal:${{QUERY_STRING}};page static:{d}/oops.html',
            '--error-route-if', r'equal:${QUERY_STRING};close break:',
            '--error-route-if', r'equal:${QUERY_STRING};teapot return:418',
            '--error-route-run', r'log:error chain for ${PATH_INFO}']
    s = start_uwsgi(args, log_dir=str(d))
    yield s
    s.stop()


def test_error_route_redirects_an_app_404(srv):
    st, h, body = srv.request('GET', '/notfound?go')
    assert st == 302 and h['location'] == '/elsewhere'
    assert b'PATH_INFO' not in body  # the app's own 404 body is dropped


def test_error_route_static_page_replaces_the_response(srv):
    st, h, body = srv.request('GET', '/notfound?page')
    assert st == 200 and body == b'<p>custom error page</p>\n'


def test_error_route_status_adds_a_header_and_the_response_goes_on(srv):
    st, h, body = srv.request('GET', '/teapot')
    assert st == 418 and h['x-error-seen'] == '418' and body == b"I'm a teapot"


def test_error_chain_runs_once_and_not_for_success(srv):
    off = len(srv.log())
    st, h, _ = srv.request('GET', '/notfound?teapot')  # app 404 -> error chain answers 418
    assert st == 418 and 'x-error-seen' not in h  # the answer's own 418 does not re-enter the chain
    st, h, _ = srv.request('GET', '/notfound')  # no rule answers: the chain runs through
    assert st == 404
    st, h, _ = srv.request('GET', '/plain')
    assert st == 200 and 'x-error-seen' not in h
    log = new_log(srv, off, 'LV /plain')
    assert log.count('error chain for /notfound') == 1 and 'error chain for /plain' not in log


def test_error_route_break_closes_unanswered(srv):
    with socket.create_connection(('127.0.0.1', srv.port), timeout=10) as s:
        s.sendall(b'GET /notfound?close HTTP/1.1\r\nHost: x\r\n\r\n')
        assert s.recv(4096) == b''


def test_keepalive_after_an_error_routed_answer(srv):
    conn = srv.connection()
    try:
        for path, want in [('/notfound?go', 302), ('/notfound?page', 200), ('/plain', 200), ('/notfound', 404)]:
            conn.request('GET', path)
            r = conn.getresponse()
            body = r.read()
            assert r.status == want, path
        assert json.loads(body)['PATH_INFO'] == '/notfound'  # no error rule matched: the app's 404
    finally:
        conn.close()


def test_logvar_in_the_log_format(srv):
    off = len(srv.log())
    srv.request('GET', '/lv/alice')
    srv.request('GET', '/plain')
    log = new_log(srv, off, 'LV /plain')
    assert 'LV /lv/alice 200 who=alice twice=second' in log
    assert 'LV /plain 200 who=- twice=-' in log  # not set for this request


BAD = {
    'rewrite in the error chain': (['--error-route', '^/x rewrite:/y'], 'cannot be used in the error chain'),
    'bad error-route regexp': (['--error-route-status', '^4(( log:x'], '--error-route-status "^4(( log:x"'),
    'unknown log variable': (['--logformat', '%(nope)'], 'unknown log variable %(nope)'),
    'logvar without =': (['--route', '^/ logvar:foo'], 'want KEY=VALUE'),
    'cache paths without a cache': (['--static-cache-paths', '10'], '--static-cache-paths needs a cache'),
    'cache paths with an unknown cache': (['--cache2', 'name=a,items=10', '--static-cache-paths', '10',
                                           '--static-cache-paths-name', 'b'], 'no --cache2 cache has that name'),
}


@pytest.mark.parametrize('case', sorted(BAD))
def test_bad_options_stop_startup(tmp_path, case):
    args, want = BAD[case]
    s = start_uwsgi(['--wsgi-file', APP] + args, wait=False, log_dir=str(tmp_path))
    try:
        assert s.proc.wait(timeout=10) != 0
        assert want in s.log(), s.log()
    finally:
        s.stop()


def test_static_cache_paths_keeps_the_resolved_file(tmp_path):
    d = tmp_path / 'www'
    d.mkdir()
    (d / 'one.txt').write_text('one\n')
    (d / 'two.txt').write_text('two\n')
    os.symlink('one.txt', d / 'link.txt')
    s = start_uwsgi(['--wsgi-file', APP, '--cache2', 'name=paths,items=100', '--static-map', f'/s={d}',
                     '--static-cache-paths', '60', '--static-cache-paths-name', 'paths'], log_dir=str(tmp_path))
    try:
        assert s.request('GET', '/s/link.txt')[2] == b'one\n'
        os.unlink(d / 'link.txt')
        os.symlink('two.txt', d / 'link.txt')
        assert s.request('GET', '/s/link.txt')[2] == b'one\n'  # the cached resolution
        os.unlink(d / 'one.txt')
        assert s.request('GET', '/s/link.txt')[2] == b'two\n'  # the cached file is gone: resolved again
        assert s.request('GET', '/s/nothing.txt')[0] == 200  # not a file: the app answers
    finally:
        s.stop()


def test_without_static_cache_paths_each_request_resolves(tmp_path):
    d = tmp_path / 'www'
    d.mkdir()
    (d / 'one.txt').write_text('one\n')
    (d / 'two.txt').write_text('two\n')
    os.symlink('one.txt', d / 'link.txt')
    s = start_uwsgi(['--wsgi-file', APP, '--static-map', f'/s={d}'], log_dir=str(tmp_path))
    try:
        assert s.request('GET', '/s/link.txt')[2] == b'one\n'
        os.unlink(d / 'link.txt')
        os.symlink('two.txt', d / 'link.txt')
        assert s.request('GET', '/s/link.txt')[2] == b'two\n'
    finally:
        s.stop()
