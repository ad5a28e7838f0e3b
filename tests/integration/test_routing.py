"""Internal routing (--route*, --route-if, --final-route*, --response-route*, --add-header,
--del-header): every condition and action against the real server, in every worker mode and on
both socket kinds; bad rules stop start-up naming the option."""
import base64
import json
import socket

import pytest

from conftest import app_path, free_port, start_uwsgi
from helpers_core import cgi_vars, exchange, new_log, request_bytes, send_and_collect, uwsgi_packet

APP = app_path('routing_app.py')
HUNTER2_SHA512 = ('$6$routingtestsalt$yEbBkrqcKLZezOYimswsw0duIQcnJq5gOcym9/w5LS66l1hyJTpFvS6YnpzgIXjA/'
                  'n0fLzalCoyZJO6KBE8Ns0')
HUNTER2_BCRYPT = '$2b$05$abcdefghijklmnopqrstuuoXuKqgZXLiJqzfmMXDDhSFPIvxV7t8.'


def rules(d):
    """The routing table of the big test, with files made in directory d."""
    (d / 'static.txt').write_text('static file body\n')
    (d / 'exists.txt').write_text('x')
    (d / 'adir').mkdir()
    htpasswd = d / 'htpasswd'
    # crypt(3) hashes of "hunter2" (SHA-512 and bcrypt), as `htpasswd -5` / `htpasswd -B` write them.
    htpasswd.write_text('bob:' + HUNTER2_SHA512 + '\ncarol:' + HUNTER2_BCRYPT + '\n')
    return [
        ('route', r'^/old/(.*)$ redirect:/new/$1'),
        ('route', r'^/perm$ redirect-301:https://example.com${REQUEST_URI}'),
        ('route', r'^/rw/(.*)$ rewrite:/rewritten/$1?from=rw'),
        ('route', r'^/rewritten/ log:after rewrite ${PATH_INFO} ${QUERY_STRING}'),
        ('route', r'^/rwl$ rewrite-last:/final'),
        ('route', r'^/final$ return:500'),
        ('route', r'^/forbidden$ break:403'),
        ('route', r'^/gone$ break:410 Long Gone'),
        ('route', r'^/teapot$ return:418'),
        ('route', r'^/close$ break:'),
        ('route', r'^/goto$ goto:skipped'),
        ('route', r'^/goto$ return:500'),
        ('route-label', 'skipped'),
        ('route', r'^/goto$ addheader:X-Goto: yes'),
        ('route', r'^/cont$ continue:'),
        ('route', r'^/cont$ return:500'),
        ('route', r'^/hdr$ addheader:X-Added: host=${HTTP_HOST}'),
        ('route', r'^/hdr$ delheader:X-App'),
        ('route', r'^/var/(.*)$ addvar:FOOVAR=pre-$1-post'),
        ('route', r'^/secret basicauth:Realm One,alice:s3cret'),
        ('route', f'^/htsecret basicauth:Realm Two,{htpasswd}'),
        ('route', f'^/file$ static:{d}/static.txt'),
        ('route', r'^/missing$ static:/nonexistent/file.txt'),
        ('route-host', r'^blocked\.example$ return:403'),
        ('route-uri', r'\?deny=uri$ return:403'),
        ('route-qs', r'^deny=(qs)$ redirect:/denied/$1'),
        ('route-remote-addr', r'^127\.0\.0\.1$ addheader:X-Local: 1'),
        ('route-user-agent', r'^BadBot return:403'),
        ('route-referer', r'spam\.example return:403'),
        ('route-if', r'equal:${PATH_INFO};/eq return:201'),
        ('route-if', r'startswith:${PATH_INFO};/sw/ return:202'),
        ('route-if', r'endswith:${PATH_INFO};.bak return:404'),
        ('route-if', r'contains:${HTTP_USER_AGENT};curly return:406'),
        ('route-if', r'regexp:${PATH_INFO};^/re/(\w+)$ addheader:X-Re: $1'),
        ('route-if-not', r'empty:${HTTP_X_TOKEN} addheader:X-Token: ${HTTP_X_TOKEN}'),
        ('route-if', f'isfile:{d}${{PATH_INFO}} addheader:X-Isfile: 1'),
        ('route-if', f'isdir:{d}${{PATH_INFO}} addheader:X-Isdir: 1'),
        ('route-if', r'ishigher:${CONTENT_LENGTH};10 return:413'),
        ('route-if', r'islower:${qs[n]};5 addheader:X-Lower: 1'),
        ('route-if', r'ipv4in:${REMOTE_ADDR};127.0.0.0/8 addheader:X-Loopback: 1'),
        ('route', r'^/quiet$ donotlog:'),
        ('route', r'^/spi$ setpathinfo:/changed'),
        ('route', r'^/ssn$ setscriptname:/mount'),
        ('route-run', r'log:routed ${REQUEST_METHOD} ${PATH_INFO}'),
        ('final-route', r'^/fin log:final ${PATH_INFO} status=${uwsgi[status]}'),
        ('response-route-status', r'^404$ addheader:X-Was-404: yes'),
        ('collect-header', 'X-App APP_FLAG'),
        ('response-route-if', r'equal:${APP_FLAG};yes addheader:X-App-Seen: 1'),
        ('add-header', 'X-Global: g'),
        ('del-header', 'X-Remove-Me'),
    ]


def rule_args(d):
    out = []
    for k, v in rules(d):
        out += [f'--{k}', v]
    return out


@pytest.fixture(scope='module')
def srv(tmp_path_factory):
    d = tmp_path_factory.mktemp('routing')
    s = start_uwsgi(['--wsgi-file', APP] + rule_args(d), log_dir=str(d))
    s.dir = d
    yield s
    s.stop()


def app_vars(body):
    return json.loads(body)


def test_redirect_302_with_regexp_capture(srv):
    st, h, body = srv.request('GET', '/old/some/page')
    assert st == 302 and h['location'] == '/new/some/page'
    assert h['x-global'] == 'g'


def test_redirect_301_with_request_var(srv):
    st, h, _ = srv.request('GET', '/perm?a=1')
    assert st == 301 and h['location'] == 'https://example.com/perm?a=1'


def test_rewrite_changes_path_info_and_query_seen_by_the_app(srv):
    off = len(srv.log())
    st, h, body = srv.request('GET', '/rw/abc?orig=1')
    v = app_vars(body)
    assert st == 200
    assert v['PATH_INFO'] == '/rewritten/abc' and v['QUERY_STRING'] == 'from=rw'
    assert v['REQUEST_URI'] == '/rw/abc?orig=1'  # what the client sent, as uWSGI
    # the rules after the rewrite see the new PATH_INFO
    assert 'after rewrite /rewritten/abc from=rw' in new_log(srv, off, 'after rewrite')


def test_rewrite_last_stops_the_rules(srv):
    st, _, body = srv.request('GET', '/rwl')
    assert st == 200 and app_vars(body)['PATH_INFO'] == '/final'


def test_break_and_return_statuses(srv):
    st, h, body = srv.request('GET', '/forbidden')
    assert (st, body) == (403, b'')
    r = exchange(srv.port, request_bytes('GET', '/gone'))
    assert (r.status, r.reason) == (410, 'Long Gone')
    st, h, body = srv.request('GET', '/teapot')
    assert (st, body) == (418, b"I'm a teapot") and h['content-type'] == 'text/plain'


def test_break_without_status_closes_unanswered(srv):
    out, closed = send_and_collect(srv.port, request_bytes('GET', '/close'))
    assert closed and out == b''
    assert srv.request('GET', '/plain')[0] == 200


def test_goto_label_and_continue(srv):
    st, h, _ = srv.request('GET', '/goto')
    assert st == 200 and h['x-goto'] == 'yes'
    assert srv.request('GET', '/cont')[0] == 200


def test_addheader_delheader_global_headers(srv):
    st, h, _ = srv.request('GET', '/hdr', headers={'Host': 'example.org'})
    assert st == 200
    assert h['x-added'] == 'host=example.org'
    assert 'x-app' not in h
    assert h['x-global'] == 'g' and 'x-remove-me' not in h  # --add-header / --del-header
    st, h, _ = srv.request('GET', '/plain')
    assert h['x-app'] == 'yes' and 'x-remove-me' not in h
    assert h['x-app-seen'] == '1'  # --collect-header, then a response route on it


def test_addvar_seen_by_the_app(srv):
    st, _, body = srv.request('GET', '/var/zz')
    assert app_vars(body)['FOOVAR'] == 'pre-zz-post'


def test_setpathinfo_setscriptname(srv):
    assert app_vars(srv.request('GET', '/spi')[2])['PATH_INFO'] == '/changed'
    assert app_vars(srv.request('GET', '/ssn')[2])['SCRIPT_NAME'] == '/mount'


def basic(user, password):
    return {'Authorization': 'Basic ' + base64.b64encode(f'{user}:{password}'.encode()).decode()}


def test_basicauth_plain(srv):
    st, h, body = srv.request('GET', '/secret')
    assert st == 401 and h['www-authenticate'] == 'Basic realm="Realm One"'
    assert srv.request('GET', '/secret', headers=basic('alice', 'wrong'))[0] == 401
    assert srv.request('GET', '/secret', headers=basic('mallory', 's3cret'))[0] == 401
    st, h, body = srv.request('GET', '/secret', headers=basic('alice', 's3cret'))
    assert st == 200 and app_vars(body)['REMOTE_USER'] == 'alice'


def test_basicauth_htpasswd_crypt(srv):
    assert srv.request('GET', '/htsecret', headers=basic('bob', 'nope'))[0] == 401
    assert srv.request('GET', '/htsecret', headers=basic('nobody', 'hunter2'))[0] == 401
    st, _, body = srv.request('GET', '/htsecret', headers=basic('bob', 'hunter2'))
    assert st == 200 and app_vars(body)['REMOTE_USER'] == 'bob'
    st, _, body = srv.request('GET', '/htsecret', headers=basic('carol', 'hunter2'))
    assert st == 200 and app_vars(body)['REMOTE_USER'] == 'carol'
    assert srv.request('GET', '/htsecret', headers=basic('carol', 'hunter3'))[0] == 401


def test_static_serves_a_file(srv):
    st, h, body = srv.request('GET', '/file')
    assert (st, body) == (200, b'static file body\n')
    assert h['content-type'] == 'text/plain' and h['content-length'] == '17' and 'last-modified' in h
    st, h, body = srv.request('HEAD', '/file')
    assert st == 200 and body == b'' and h['content-length'] == '17'
    assert srv.request('GET', '/missing')[0] == 404


def test_subjects(srv):
    assert srv.request('GET', '/plain', headers={'Host': 'blocked.example'})[0] == 403
    assert srv.request('GET', '/plain?deny=uri')[0] == 403
    st, h, _ = srv.request('GET', '/plain?deny=qs')
    assert st == 302 and h['location'] == '/denied/qs'
    assert srv.request('GET', '/plain', headers={'User-Agent': 'BadBot/1.0'})[0] == 403
    assert srv.request('GET', '/plain', headers={'Referer': 'http://spam.example/'})[0] == 403
    st, h, _ = srv.request('GET', '/plain')
    assert st == 200 and h['x-local'] == '1'


def test_conditions(srv):
    assert srv.request('GET', '/eq')[0] == 201
    assert srv.request('GET', '/eqx')[0] == 200
    assert srv.request('GET', '/sw/x')[0] == 202
    assert srv.request('GET', '/a.bak')[0] == 404
    assert srv.request('GET', '/plain', headers={'User-Agent': 'my-curly-client'})[0] == 406
    assert srv.request('GET', '/re/word')[1]['x-re'] == 'word'
    assert 'x-re' not in srv.request('GET', '/re/two/parts')[1]
    assert srv.request('GET', '/plain', headers={'X-Token': 'tok'})[1]['x-token'] == 'tok'
    assert 'x-token' not in srv.request('GET', '/plain')[1]
    assert srv.request('GET', '/exists.txt')[1].get('x-isfile') == '1'
    assert 'x-isfile' not in srv.request('GET', '/adir')[1]
    assert srv.request('GET', '/adir')[1].get('x-isdir') == '1'
    assert srv.request('POST', '/post', body=b'x' * 20)[0] == 413
    assert srv.request('POST', '/post', body=b'x' * 5)[0] == 200
    assert srv.request('GET', '/plain?n=3')[1].get('x-lower') == '1'
    assert 'x-lower' not in srv.request('GET', '/plain?n=9')[1]
    assert srv.request('GET', '/plain')[1].get('x-loopback') == '1'


def test_log_donotlog_final_and_response_chains(srv):
    off = len(srv.log())
    srv.request('GET', '/quiet')
    srv.request('GET', '/fin')
    log = new_log(srv, off, 'GET /fin =>')
    assert 'routed GET /quiet' in log
    assert 'GET /quiet =>' not in log  # donotlog:
    assert 'final /fin status=200' in log
    assert log.index('final /fin') < log.index('GET /fin =>')  # after the response, before its log line
    st, h, _ = srv.request('GET', '/notfound')
    assert st == 404 and h['x-was-404'] == 'yes'
    assert 'x-was-404' not in srv.request('GET', '/plain')[1]


def test_keepalive_across_routed_answers(srv):
    conn = srv.connection()
    try:
        for path, want in [('/old/x', 302), ('/teapot', 418), ('/file', 200), ('/secret', 401), ('/plain', 200)]:
            conn.request('GET', path)
            r = conn.getresponse()
            r.read()
            assert r.status == want
    finally:
        conn.close()


def test_routed_answer_to_a_post_drains_its_body(srv):
    # The 401 is sent before the body is read: the body is drained, the connection kept.
    conn = srv.connection()
    try:
        conn.request('POST', '/secret', body=b'x' * 5000)
        r = conn.getresponse()
        r.read()
        assert r.status == 401
        conn.request('GET', '/plain')
        r = conn.getresponse()
        assert r.status == 200 and app_vars(r.read())['PATH_INFO'] == '/plain'
    finally:
        conn.close()


MODES = {
    'threads': ['--threads', '4'],
    'ugreen': ['--plugins', 'ugreen', '--ugreen', '--async', '8'],
    'gevent': ['--plugins', 'gevent', '--gevent', '8'],
    'processes': ['--master', '--processes', '2'],
}

SMALL = [
    '--route', r'^/old/(.*)$ redirect:/new/$1',
    '--route', r'^/rw/(.*)$ rewrite:/rewritten/$1',
    '--route', r'^/secret basicauth:R,alice:s3cret',
    '--route', r'^/hdr$ addheader:X-Added: 1',
]


@pytest.mark.parametrize('mode', sorted(MODES))
def test_every_worker_mode(uwsgi_server, tmp_path, mode):
    (tmp_path / 'f.txt').write_text('hello\n')
    s = uwsgi_server('--wsgi-file', APP, *MODES[mode], *SMALL, '--route', f'^/file$ static:{tmp_path}/f.txt')
    assert s.request('GET', '/old/a')[1]['location'] == '/new/a'
    assert app_vars(s.request('GET', '/rw/b')[2])['PATH_INFO'] == '/rewritten/b'
    assert s.request('GET', '/secret')[0] == 401
    assert s.request('GET', '/secret', headers=basic('alice', 's3cret'))[0] == 200
    assert s.request('GET', '/hdr')[1]['x-added'] == '1'
    assert s.request('GET', '/file')[2] == b'hello\n'


def test_uwsgi_protocol_socket(tmp_path):
    (tmp_path / 'f.txt').write_text('hello\n')
    port = free_port()
    s = start_uwsgi(['--socket', f'127.0.0.1:{port}', '--wsgi-file', APP, *SMALL,
                     '--route', f'^/file$ static:{tmp_path}/f.txt'], port=port, http=False, log_dir=str(tmp_path))
    try:
        def ask(path, extra=None):
            out, _ = send_and_collect(port, uwsgi_packet(cgi_vars('GET', path, extra=extra)))
            head, _, body = out.partition(b'\r\n\r\n')
            return head.decode('latin-1'), body
        head, _ = ask('/old/a')
        assert head.startswith('HTTP/1.1 302') and 'Location: /new/a' in head
        head, body = ask('/rw/b')
        assert app_vars(body)['PATH_INFO'] == '/rewritten/b'
        assert ask('/secret')[0].startswith('HTTP/1.1 401')
        auth = 'Basic ' + base64.b64encode(b'alice:s3cret').decode()
        assert ask('/secret', {'HTTP_AUTHORIZATION': auth})[0].startswith('HTTP/1.1 200')
        assert 'X-Added: 1' in ask('/hdr')[0]
        assert ask('/file')[1] == b'hello\n'
    finally:
        s.stop()


BAD = {
    'unknown action': (['--route', '^/x frobnicate:1'], '--route "^/x frobnicate:1": unknown routing action "frobnicate"'),
    'unknown condition': (['--route-if', 'bogus:a;b log:x'], 'unknown routing condition "bogus"'),
    'bad regexp': (['--route-uri', '^/x(( log:x'], '--route-uri "^/x(( log:x": invalid regular expression'),
    'no action': (['--route', '^/x'], '--route "^/x": want REGEXP ACTION'),
    'missing label': (['--route', '^/x goto:nowhere'], 'goto: no label "nowhere"'),
    'backward goto': (['--route-label', 'top', '--route', '^/x goto:top'], 'goto: no label "top" after this rule'),
    'answer in final chain': (['--final-route', '^/x redirect:/y'], 'cannot be used in the final chain'),
    'bad status': (['--route', '^/x return:99'], 'bad HTTP status'),
    'bad add-header': (['--add-header', 'NoColon'], '--add-header "NoColon"'),
    'unknown variable kind': (['--route', '^/x log:${nope[x]}'], 'unknown routing variable ${nope[x]}'),
}


@pytest.mark.parametrize('case', sorted(BAD))
def test_bad_rules_stop_startup(tmp_path, case):
    args, want = BAD[case]
    s = start_uwsgi(['--wsgi-file', APP] + args, wait=False, log_dir=str(tmp_path))
    try:
        rc = s.proc.wait(timeout=10)
        assert rc != 0
        assert want in s.log(), s.log()
    finally:
        s.stop()
