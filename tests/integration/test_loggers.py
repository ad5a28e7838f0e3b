"""Pluggable loggers: --logger / --req-logger (file, stdio, rsyslog, socket over UDP and unix
datagrams), named loggers with --log-route / --log-req-route, and --log-encoder chains."""
import json
import os
import re
import socket
import time

import pytest

from conftest import app_path, start_uwsgi

APP = app_path('log_app.py')


def wait_for(get, pred, timeout=5.0):
    """get() once pred(get()) holds or the time is up (log lines are written after the response)."""
    deadline = time.monotonic() + timeout
    while True:
        v = get()
        if pred(v) or time.monotonic() > deadline:
            return v
        time.sleep(0.05)


def read(path):
    try:
        with open(path, encoding='utf-8') as f:
            return f.read()
    except OSError:
        return ''


def lines_of(path, needle, count=1):
    """The lines of the file at path holding needle, once there are count of them."""
    text = wait_for(lambda: read(path), lambda t: sum(needle in line for line in t.splitlines()) >= count)
    return [line for line in text.splitlines() if needle in line]


class Receiver:
    """A datagram socket the test binds (UDP on 127.0.0.1 or a unix path); collects what arrives."""

    def __init__(self, unix_path=None):
        if unix_path:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self.sock.bind(unix_path)
            self.addr = unix_path
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.bind(('127.0.0.1', 0))
            self.addr = '127.0.0.1:%d' % self.sock.getsockname()[1]
        self.sock.settimeout(0.2)
        self.got = []

    def until(self, pred, timeout=5.0):
        """Datagrams received until one satisfies pred (or the time is up)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not any(pred(d) for d in self.got):
            try:
                self.got.append(self.sock.recv(65536).decode('utf-8', 'replace'))
            except socket.timeout:
                pass
        return self.got

    def close(self):
        self.sock.close()


@pytest.fixture
def receiver(tmp_path):
    made = []

    def make(unix=False):
        r = Receiver(str(tmp_path / 'log.sock') if unix else None)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


def test_file_logger_takes_server_lines_and_requests(uwsgi_server, tmp_path):
    log = tmp_path / 'server.log'
    srv = uwsgi_server('--wsgi-file', APP, '--logger', f'file:{log}')
    assert srv.request('GET', '/file-logger')[0] == 200
    # Without --req-logger request lines are server lines: they follow --logger too.
    assert lines_of(log, 'GET /file-logger')
    assert 'HTTP socket bound on' in read(log)
    assert 'HTTP socket bound on' not in srv.log() and 'GET /file-logger' not in srv.log()


def test_req_logger_apart_from_logger(uwsgi_server, tmp_path):
    errlog, reqlog = tmp_path / 'err.log', tmp_path / 'req.log'
    srv = uwsgi_server('--wsgi-file', APP, '--logger', f'file:{errlog}', '--req-logger', f'file:{reqlog}')
    srv.request('GET', '/only-in-req')
    assert lines_of(reqlog, 'GET /only-in-req')
    assert 'bound on' in read(errlog) and 'bound on' not in read(reqlog)
    assert 'only-in-req' not in read(errlog) and 'only-in-req' not in srv.log()


def test_req_logger_alone_leaves_server_lines_on_the_default_log(uwsgi_server, tmp_path):
    reqlog = tmp_path / 'req.log'
    srv = uwsgi_server('--wsgi-file', APP, '--logger-req', f'file:{reqlog}')
    srv.request('GET', '/alone')
    assert lines_of(reqlog, 'GET /alone')
    assert 'bound on' in srv.log() and '/alone' not in srv.log()


def test_stdio_logger(uwsgi_server):
    srv = uwsgi_server('--wsgi-file', APP, '--logger', 'stdio', '--log-encoder', 'prefix [stdio] ')
    srv.request('GET', '/stdio')
    assert srv.wait_log('[stdio] [pid: ')  # the harness captures stdout with stderr
    assert re.search(r'^\[stdio\] .*HTTP socket bound on', srv.log(), re.M)


def test_udp_socket_logger(uwsgi_server, receiver):
    r = receiver()
    srv = uwsgi_server('--wsgi-file', APP, '--logger', f'socket:{r.addr}')
    srv.request('GET', '/udp')
    got = r.until(lambda d: 'GET /udp' in d)
    assert any('GET /udp' in d and d.endswith('\n') for d in got)  # one line per datagram, as written
    assert any('bound on' in d for d in got)


def test_unix_datagram_logger(uwsgi_server, receiver):
    r = receiver(unix=True)
    srv = uwsgi_server('--wsgi-file', APP, '--req-logger', f'socket:{r.addr}')
    srv.request('GET', '/unix-dgram')
    assert any('GET /unix-dgram' in d for d in r.until(lambda d: 'GET /unix-dgram' in d))


def test_rsyslog_logger_frames_rfc3164(uwsgi_server, receiver):
    r = receiver()
    srv = uwsgi_server('--wsgi-file', APP, '--req-logger', f'rsyslog:{r.addr},myapp,local3')
    srv.request('GET', '/syslogged')
    [d] = [d for d in r.until(lambda d: '/syslogged' in d) if '/syslogged' in d]
    # <PRI> = local3 (19) * 8 + info (6); timestamp, host, IDENT[PID]: line without its newline.
    m = re.match(r'<158>[A-Z][a-z]{2} [ 1-3]\d \d\d:\d\d:\d\d (\S+) myapp\[(\d+)\]: (.*)$', d, re.S)
    assert m, d
    assert m.group(1) == socket.gethostname()
    assert m.group(3).startswith('[pid: ') and not m.group(3).endswith('\n')


def test_syslog_without_a_daemon_does_not_stop_the_server(uwsgi_server):
    # /dev/log may be absent here: a line that cannot be sent is dropped (said once), nothing blocks.
    srv = uwsgi_server('--wsgi-file', APP, '--req-logger', 'syslog:testident,user')
    for _ in range(3):
        assert srv.request('GET', '/x')[0] == 200


@pytest.mark.parametrize('mode', [[], ['--async', '8', '--ugreen']])
def test_full_unix_datagram_socket_drops_and_warns_once(uwsgi_server, receiver, mode):
    r = receiver(unix=True)  # never read: its queue fills up
    srv = uwsgi_server('--wsgi-file', APP, '--req-logger', f'socket:{r.addr}', *mode)
    conn = srv.connection()
    t0 = time.monotonic()
    for _ in range(400):
        conn.request('GET', '/big/1')
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 200
    conn.close()
    assert time.monotonic() - t0 < 60  # never blocked on the full socket
    assert srv.wait_log('lost a line')
    assert srv.log().count('lost a line') == 1


def test_log_route_splits_lines_by_regexp(uwsgi_server, tmp_path):
    errors, slow, rest = tmp_path / 'errors.log', tmp_path / 'slow.log', tmp_path / 'rest.log'
    srv = uwsgi_server('--wsgi-file', APP,
                       '--logger', f'errors file:{errors}', '--logger', f'slow file:{slow}',
                       '--logger', f'file:{rest}',
                       '--log-route', r'errors \(HTTP/1\.\d 5\d\d\)', '--log-route', 'slow GET /sleep/')
    srv.request('GET', '/status/503')
    srv.request('GET', '/sleep/1')
    srv.request('GET', '/plain')
    assert lines_of(rest, 'GET /plain')
    assert lines_of(errors, 'GET /status/503') and lines_of(slow, 'GET /sleep/1')
    # A routed line goes to its route's logger only; the unnamed logger gets the others.
    assert '/status/503' not in read(rest) and '/sleep/1' not in read(rest)
    assert '/plain' not in read(errors) + read(slow)
    assert '/sleep/' not in read(errors) and '/status/' not in read(slow)
    assert 'bound on' in read(rest)


def test_log_req_route_with_only_named_loggers_falls_back_to_the_default_log(uwsgi_server, tmp_path):
    notfound = tmp_path / '404.log'
    srv = uwsgi_server('--wsgi-file', APP, '--req-logger', f'nf file:{notfound}',
                       '--log-req-route', 'nf HTTP/1.1 404')
    srv.request('GET', '/status/404')
    srv.request('GET', '/found')
    assert lines_of(notfound, '/status/404')
    assert srv.wait_log('GET /found') and '/status/404' not in srv.log()


def test_json_encoder_lines_parse(uwsgi_server, tmp_path):
    log = tmp_path / 'json.log'
    srv = uwsgi_server('--wsgi-file', APP, '--req-logger', f'file:{log}', '--log-format', 'REQ %(uri) %(uagent)',
                       '--log-req-encoder', 'json {"msg":"${msg}","unix":${unix},"micros":${micros},'
                       '"ms":${millis},"year":"${strftime:%Y}","raw":"${msgnl}"}')
    # Quotes and a backslash in the URI; a tab and a byte that is not UTF-8 (Latin-1 e-acute) in a header.
    srv.request('GET', '/q?a="x"&b=\\y', headers={'User-Agent': 'ua\t"quoted"\xe9'})
    srv.request('GET', '/second')
    [first] = lines_of(log, 'q?a=')
    [second] = lines_of(log, 'second')
    docs = [json.loads(line) for line in read(log).splitlines()]  # each line parses on its own
    assert len(docs) == 2
    d = json.loads(first)
    assert d['msg'] == 'REQ /q?a="x"&b=\\y ua\t"quoted"\xe9'
    assert d['raw'] == d['msg'] + '\n'
    assert abs(d['unix'] - time.time()) < 60 and d['micros'] // 1000000 == d['unix'] and d['ms'] // 1000 == d['unix']
    assert d['year'] == time.strftime('%Y')
    assert json.loads(second)['msg'].startswith('REQ /second ')


def test_format_prefix_suffix_nl_chain(uwsgi_server, tmp_path):
    log = tmp_path / 'fmt.log'
    srv = uwsgi_server('--wsgi-file', APP, '--req-logger', f'file:{log}',
                       '--log-req-encoder', 'format <${msg}>', '--log-req-encoder', 'prefix P:',
                       '--log-req-encoder', 'suffix :S', '--log-req-encoder', 'nl')
    srv.request('GET', '/chain')
    [line] = lines_of(log, '/chain')
    assert line.startswith('P:<[pid: ') and line.endswith('>:S')
    assert read(log).endswith('>:S\n')


def test_encoder_for_one_named_logger(uwsgi_server, tmp_path):
    a, b = tmp_path / 'a.log', tmp_path / 'b.log'
    srv = uwsgi_server('--wsgi-file', APP, '--req-logger', f'file:{a}', '--req-logger', f'bee file:{b}',
                       '--log-req-route', 'bee GET /to-b', '--log-req-encoder', 'prefix:bee B> ')
    srv.request('GET', '/to-a')
    srv.request('GET', '/to-b')
    [la] = lines_of(a, '/to-a')
    [lb] = lines_of(b, '/to-b')
    assert la.startswith('[pid: ') and lb.startswith('B> [pid: ')


def test_encoder_without_logger_encodes_the_default_log(uwsgi_server):
    srv = uwsgi_server('--wsgi-file', APP, '--log-encoder', 'format SERVER ${msg}')
    srv.request('GET', '/enc-default')
    assert srv.wait_log('SERVER [pid: ')
    assert re.search(r'^SERVER .*bound on', srv.log(), re.M)


def test_ini_json_access_log_as_published(uwsgi_server, tmp_path):
    """A config shape found in the wild: a log-format of JSON members wrapped by a format encoder."""
    req = tmp_path / 'access.log'
    ini = tmp_path / 'app.ini'
    ini.write_text(f"""[uwsgi]
wsgi-file = {APP}
req-logger = file:{req}
log-format = "method": "%(method)", "uri": "%(uri)", "status": %(status), "size": %(size)
log-req-encoder = format {{"timestamp": "${{strftime:%%Y-%%m-%%dT%%H:%%M:%%S}}", "event": "uwsgi_request", ${{msg}}}}
log-req-encoder = nl
""")
    srv = uwsgi_server('--ini', str(ini))
    srv.request('GET', '/status/404')
    [line] = lines_of(req, '/status/404')
    d = json.loads(line)
    assert (d['event'], d['method'], d['uri'], d['status']) == ('uwsgi_request', 'GET', '/status/404', 404)
    assert re.fullmatch(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d', d['timestamp'])
    assert read(req).endswith('}\n') and not read(req).endswith('\n\n')


@pytest.mark.parametrize('args, named', [
    (['--logger', 'carrierpigeon:/tmp/x'], 'carrierpigeon'),
    (['--req-logger', 'file:/nonexistent-dir/x.log'], '/nonexistent-dir/x.log'),
    (['--log-route', 'nosuch GET'], 'nosuch'),
    (['--logger', 'a stdio', '--log-route', 'a (unclosed'], 'unclosed'),
    (['--log-encoder', 'gzip'], 'gzip'),
    (['--log-encoder', 'rot13'], 'rot13'),
    (['--log-req-encoder', 'json {"m":"${mgs}"}'], 'mgs'),
    (['--log-encoder', 'prefix:nobody x'], 'nobody'),
    (['--req-logger', 'rsyslog:nohostport'], 'rsyslog'),
    (['--req-logger', 'syslog:x,nofacility'], 'nofacility'),
])
def test_bad_logger_config_stops_startup(tmp_path, args, named):
    srv = start_uwsgi(['--wsgi-file', APP] + args, wait=False, log_dir=str(tmp_path))
    try:
        srv.proc.wait(timeout=10)
        assert srv.proc.returncode != 0
        assert named in srv.log()
    finally:
        srv.stop()


@pytest.mark.parametrize('opt', ['--logger', '--req-logger'])
def test_file_logger_follows_log_rotation(uwsgi_server, tmp_path, opt):
    # logrotate renames the file: every process (not only the master) goes on in a new file
    # within a second, as --logto does with --touch-logreopen.
    log = tmp_path / 'app.log'
    srv = uwsgi_server('--wsgi-file', APP, '--master', '--processes', '2', opt, f'file:{log}')
    assert srv.request('GET', '/before')[0] == 200
    assert lines_of(log, 'GET /before')
    os.rename(log, tmp_path / 'app.log.1')
    time.sleep(1.2)
    for i in range(20):  # both workers write
        assert srv.request('GET', f'/after{i}')[0] == 200
    assert len(lines_of(log, 'GET /after', 20)) == 20, read(log)
    old = read(tmp_path / 'app.log.1')
    assert 'GET /before' in old and 'GET /after' not in old
