"""Request logging: --log-format variables, --log-date, --log-x-forwarded-for, --memory-report,
and the --disable-logging exceptions (--log-4xx, --log-5xx, --log-slow, --log-big, --log-zero)."""
import os
import signal
import re
import time

from conftest import app_path, start_uwsgi

APP = app_path('log_app.py')


def wait_lines(srv, pattern, count=1, timeout=5.0):
    """Log lines matching pattern, once there are count of them (lines are written after the response)."""
    rx = re.compile(pattern)
    deadline = time.monotonic() + timeout
    while True:
        found = [line for line in srv.log().splitlines() if rx.search(line)]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def fields(line):
    """KEY=value pairs of a line rendered from a 'K=%(var) ...' format (values have no spaces)."""
    return dict(kv.split('=', 1) for kv in line.split() if '=' in kv)


def test_request_variables(uwsgi_server):
    fmt = ('LOG addr=%(addr) user=%(user) method=%(method) uri=%(uri) proto=%(proto) status=%(status) '
           'referer=%(referer) uagent=%(uagent) host=%(host) cl=%(cl) xff=%(var.HTTP_X_FORWARDED_FOR) '
           'nohdr=%(var.HTTP_X_NOTHING) vars=%(vars) pktsize=%(pktsize) m1=%(modifier1) m2=%(modifier2)')
    srv = uwsgi_server('--wsgi-file', APP, '--log-format', fmt)
    srv.request('POST', '/x?y=1', body=b'abcde', headers={
        'Referer': 'http://ref.example/', 'User-Agent': 'agent/1', 'X-Forwarded-For': '10.1.2.3'})
    [line] = wait_lines(srv, r'^LOG ')
    f = fields(line)
    assert f['addr'] == '127.0.0.1'
    assert f['user'] == '-'
    assert (f['method'], f['uri'], f['proto'], f['status']) == ('POST', '/x?y=1', 'HTTP/1.1', '200')
    assert (f['referer'], f['uagent']) == ('http://ref.example/', 'agent/1')
    assert f['host'] == f'127.0.0.1:{srv.port}'
    assert f['cl'] == '5'
    assert (f['xff'], f['nohdr']) == ('10.1.2.3', '-')
    assert int(f['vars']) > 5 and int(f['pktsize']) > 100
    assert (f['m1'], f['m2']) == ('0', '0')


def test_size_and_process_variables(uwsgi_server):
    fmt = ('LOG size=%(size) hsize=%(hsize) rsize=%(rsize) headers=%(headers) pid=%(pid) wid=%(wid) '
           'core=%(core) switches=%(switches) rssM=%(rssM) vszM=%(vszM) rss=%(rss) vsz=%(vsz)')
    srv = uwsgi_server('--wsgi-file', APP, '--log-format', fmt)
    conn = srv.connection()
    conn.request('GET', '/big/1000')
    resp = conn.getresponse()
    assert len(resp.read()) == 1000
    # The head as sent: the status line, each header line and the blank line.
    head = len(f'HTTP/1.1 {resp.status} {resp.reason}\r\n') + 2 + sum(
        len(f'{k}: {v}\r\n') for k, v in resp.getheaders())
    conn.close()
    [line] = wait_lines(srv, r'^LOG ')
    f = fields(line)
    assert int(f['rsize']) == 1000
    assert int(f['hsize']) == head
    assert int(f['size']) == 1000 + head
    assert int(f['headers']) >= 2  # the app's two (plus the Content-Length the plugin adds)
    assert int(f['pid']) in worker_pids(srv)
    assert (f['wid'], f['core'], f['switches']) == ('1', '0', '1')
    assert int(f['rss']) > 1 << 20 and int(f['vsz']) >= int(f['rss'])
    assert int(f['rssM']) == int(f['rss']) >> 20 and int(f['vszM']) == int(f['vsz']) >> 20


def worker_pids(srv):
    pids = {srv.proc.pid}
    for d in os.listdir('/proc'):
        if d.isdigit():
            try:
                with open(f'/proc/{d}/stat') as f:
                    if int(f.read().rsplit(')', 1)[1].split()[1]) == srv.proc.pid:
                        pids.add(int(d))
            except (OSError, ValueError, IndexError):
                pass
    return pids


def test_time_variables(uwsgi_server):
    fmt = ('LOG time=%(time) epoch=%(epoch) tmsecs=%(tmsecs) tmicros=%(tmicros) msecs=%(msecs) '
           'micros=%(micros) ltime=[%(ltime)] ctime=[%(ctime)] ftime=[%(ftime)]')
    srv = uwsgi_server('--wsgi-file', APP, '--log-format', fmt)
    before = time.time()
    srv.request('GET', '/sleep/120')
    after = time.time()
    [line] = wait_lines(srv, r'^LOG ')
    f = fields(line)
    assert before - 1 <= int(f['time']) <= after
    assert int(f['time']) <= int(f['epoch']) <= after + 1
    assert int(f['tmsecs']) // 1000 == int(f['time'])
    assert int(f['tmicros']) // 1000 == int(f['tmsecs'])
    assert 120 <= int(f['msecs']) < 5000
    assert int(f['micros']) // 1000 == int(f['msecs'])
    start = int(f['time'])
    lt = re.search(r'ltime=\[([^\]]*)\]', line).group(1)
    assert lt == time.strftime('%d/%b/%Y:%H:%M:%S %z', time.localtime(start))
    ct = re.search(r'ctime=\[([^\]]*)\]', line).group(1)
    assert ct == time.strftime('%a %b %e %H:%M:%S %Y', time.localtime(start))
    ft = re.search(r'ftime=\[([^\]]*)\]', line).group(1)
    assert re.fullmatch(r'\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}', ft)


def test_log_micros_in_the_default_line(uwsgi_server):
    # uWSGI's --log-micros: "generated N bytes in T micros (HTTP/1.1 200)".
    srv = uwsgi_server('--wsgi-file', APP, '--log-micros')
    srv.request('GET', '/sleep/120')
    [line] = wait_lines(srv, r'generated')
    m = re.search(r' => generated \d+ bytes in (\d+) micros \(HTTP/1\.1 200\)$', line)
    assert m and 120000 <= int(m.group(1)) < 5000000, line


def test_logformat_strftime_and_log_date(uwsgi_server):
    srv = uwsgi_server('--wsgi-file', APP, '--log-date=%Y-%m-%d@%H', '--logformat-strftime',
                       '--log-format', 'LOG ftime=%(ftime) uri=%(uri)')
    srv.request('GET', '/')
    [line] = wait_lines(srv, r'^LOG ')
    assert re.fullmatch(r'LOG ftime=\d{4}-\d\d-\d\d@\d\d uri=/', line)
    # The server's own lines carry the date; request lines are as the format says (as uWSGI).
    assert re.search(r'^\d{4}-\d\d-\d\d@\d\d - .*HTTP socket bound', srv.log(), re.M)


def test_log_date_flag_keeps_default_request_line(uwsgi_server):
    srv = uwsgi_server('--wsgi-file', APP, '--log-date')
    srv.request('GET', '/')
    [line] = wait_lines(srv, r'generated')
    assert line.startswith('[pid: ')
    assert re.search(r'^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4} - HTTP socket bound', srv.log(), re.M)


def test_log_date_flag_before_another_option(uwsgi_server):
    srv = uwsgi_server('--log-date', '--wsgi-file', APP)
    assert srv.request('GET', '/')[0] == 200
    assert re.search(r'^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4} - HTTP socket bound', srv.log(), re.M)


def test_log_date_format_as_a_separate_word_says_how(tmp_path):
    # uWSGI 2.0.21 takes the word for a config file ("unable to load configuration from %Y");
    # both stop: the message says the option's optional value goes after "=".
    srv = start_uwsgi(['--wsgi-file', APP, '--log-date', '%Y-%m-%d'], wait=False, log_dir=str(tmp_path))
    try:
        srv.proc.wait(timeout=10)
        assert srv.proc.returncode != 0
        assert '--log-date takes its optional value as --log-date=%Y-%m-%d' in srv.log()
    finally:
        srv.stop()


def test_unknown_log_variable_stops_start_up(tmp_path):
    srv = start_uwsgi(['--wsgi-file', APP, '--log-format', '%(addr) %(adr)'], wait=False, log_dir=str(tmp_path))
    try:
        assert srv.proc.wait(timeout=10) != 0
        assert '%(adr)' in srv.log()
    finally:
        srv.stop()


def test_ini_real_world_log_format(uwsgi_server, tmp_path):
    ini = tmp_path / 'app.ini'
    ini.write_text('[uwsgi]\n'
                   f'wsgi-file = {APP}\n'
                   'prefix = LOG\n'
                   'log-format = %(prefix) %(addr) - %(user) [%(ltime)] "%(method) %(uri) %(proto)" '
                   '%(status) %(size) "%(referer)" "%(uagent)"\n')
    srv = uwsgi_server('--ini', str(ini))
    srv.request('GET', '/status/404', headers={'User-Agent': 'curl/8'})
    [line] = wait_lines(srv, r'^LOG ')
    m = re.fullmatch(r'LOG 127\.0\.0\.1 - - \[([^\]]+)\] "GET /status/404 HTTP/1\.1" 404 (\d+) "-" "curl/8"', line)
    assert m, line
    assert int(m.group(2)) > len('hello world')


def test_log_x_forwarded_for(uwsgi_server):
    srv = uwsgi_server('--wsgi-file', APP, '--log-x-forwarded-for')
    srv.request('GET', '/a', headers={'X-Forwarded-For': '203.0.113.9'})
    srv.request('GET', '/b')
    lines = wait_lines(srv, r'generated', 2)
    assert '] 203.0.113.9 {' in lines[0]
    assert '] 127.0.0.1 {' in lines[1]


def test_memory_report(uwsgi_server):
    srv = uwsgi_server('--wsgi-file', APP, '--memory-report')
    srv.request('GET', '/')
    [line] = wait_lines(srv, r'generated')
    m = re.match(r'\{address space usage: (\d+) bytes/(\d+)MB\} \{rss usage: (\d+) bytes/(\d+)MB\} \[pid: ', line)
    assert m, line
    vsz, vsz_m, rss, rss_m = map(int, m.groups())
    assert vsz >= rss > 1 << 20 and vsz_m == vsz >> 20 and rss_m == rss >> 20


def test_disable_logging_exceptions(uwsgi_server):
    srv = uwsgi_server('--wsgi-file', APP, '--disable-logging', '--log-4xx', '--log-5xx', '--log-slow', '150',
                       '--log-big', '4000', '--log-zero')
    for path in ['/', '/status/404', '/status/503', '/status/302', '/sleep/300', '/big/5000', '/big/3000',
                 '/empty', '/last']:
        srv.request('GET', path)
    srv.request('GET', '/status/500')  # logged: the last one, so all before it are written
    lines = wait_lines(srv, r'generated', 6)
    uris = [re.search(r' GET (\S+) ', line).group(1) for line in lines]
    assert uris == ['/status/404', '/status/503', '/sleep/300', '/big/5000', '/empty', '/status/500']


def test_disable_logging_alone_logs_nothing(uwsgi_server):
    srv = uwsgi_server('--wsgi-file', APP, '--disable-logging')
    srv.request('GET', '/status/404')
    srv.request('GET', '/status/500')
    time.sleep(0.3)
    assert 'generated' not in srv.log()


def test_log_maxsize_rotation(uwsgi_server, tmp_path):
    tmp_path = tmp_path / 'logs'  # apart from the fixture's output file
    tmp_path.mkdir()
    log = tmp_path / 'app.log'
    srv = uwsgi_server('--wsgi-file', APP, '--logto', str(log), '--log-maxsize', '2000', '--processes', '2')
    for i in range(80):
        srv.request('GET', f'/r{i}')
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        text = ''.join(p.read_text() for p in tmp_path.glob('app.log*'))
        if text.count('generated') == 80:
            break
        time.sleep(0.05)
    backups = sorted(p for p in tmp_path.glob('app.log.*'))
    assert len(backups) >= 3
    # Each backup was renamed once full; a line or two of the other process may follow the rename.
    for b in backups:
        assert 2000 <= b.stat().st_size < 2000 + 2 * 300
    # Nothing lost, nothing twice.
    uris = re.findall(r' GET (/r\d+) ', text)
    assert sorted(uris) == sorted(f'/r{i}' for i in range(80))


def test_log_backupname(uwsgi_server, tmp_path):
    tmp_path = tmp_path / 'logs'
    tmp_path.mkdir()
    log, backup = tmp_path / 'app.log', tmp_path / 'old.log'
    srv = uwsgi_server('--wsgi-file', APP, '--logto', str(log), '--log-maxsize', '1000',
                       '--log-backupname', str(backup))
    for i in range(30):
        srv.request('GET', f'/b{i}')
    assert srv.wait_log('/b29') or wait_lines_in(log, '/b29')
    assert backup.exists() and backup.stat().st_size >= 1000
    assert sorted(tmp_path.iterdir()) == sorted([log, backup])


def wait_lines_in(path, text, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in path.read_text():
            return True
        time.sleep(0.05)
    return False


def test_log_maxsize_needs_a_log_file(tmp_path):
    srv = start_uwsgi(['--wsgi-file', APP, '--log-maxsize', '1000'], wait=False, log_dir=str(tmp_path))
    try:
        assert srv.proc.wait(timeout=10) != 0
        assert '--log-maxsize needs a log file' in srv.log()
    finally:
        srv.stop()


def test_log_reopen_on_reload(uwsgi_server, tmp_path):
    log, moved = tmp_path / 'app.log', tmp_path / 'app.log.moved'
    srv = uwsgi_server('--wsgi-file', APP, '--master', '--logto', str(log), '--log-reopen')
    srv.request('GET', '/before')
    assert wait_lines_in(log, '/before')
    log.rename(moved)  # as logrotate does
    os.kill(srv.proc.pid, signal.SIGHUP)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not (log.exists() and 'WSGI app 0' in log.read_text()):
        time.sleep(0.1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            srv.request('GET', '/after', timeout=2)
            break
        except OSError:
            time.sleep(0.1)
    assert wait_lines_in(log, '/after')
    assert '/after' not in moved.read_text()


def test_rerr_and_werr_split_ioerr(uwsgi_server):
    # uWSGI's %(rerr) / %(werr): the request's read and write errors (%(ioerr) is both).
    import socket
    srv = uwsgi_server('--wsgi-file', app_path('app.py'), '--log-format',
                       'LOG %(uri) rerr=%(rerr) werr=%(werr) ioerr=%(ioerr)')
    assert srv.request('GET', '/')[0] == 200
    with socket.create_connection(('127.0.0.1', srv.port), timeout=5) as c:  # the body is cut short
        c.sendall(b'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789')
        c.shutdown(socket.SHUT_WR)
        c.recv(4096)
    ok = wait_lines(srv, r'^LOG / ')
    cut = wait_lines(srv, r'^LOG /echo ')
    assert ok == ['LOG / rerr=0 werr=0 ioerr=0'], srv.log()
    assert cut == ['LOG /echo rerr=1 werr=0 ioerr=1'], srv.log()
