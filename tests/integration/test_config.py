"""Configuration and process model of the real binary: ini/env/argv, start-up errors, master,
workers, signals, reload, respawn, pidfile/vacuum, and the `core` build profile."""
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import ROOT, app_path, base_args, free_port, start_uwsgi, uwsgi_binary
from helpers_core import children_of, exchange, pids_alive, request_bytes

APP = app_path('core_app.py')


def run_fail(args, env=None, timeout=15):
    """Run the binary expecting it to exit by itself; returns (returncode, output)."""
    binary = uwsgi_binary()
    if not binary.exists():
        pytest.skip(f'{binary} not built')
    full_env = dict(os.environ)
    full_env.update(env or {})
    p = subprocess.run([str(binary)] + base_args() + [str(a) for a in args], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=timeout, env=full_env,
                       start_new_session=True)
    return p.returncode, p.stdout.decode(errors='replace')


def get(port, path='/'):
    return exchange(port, request_bytes('GET', path))


def port_open(port):
    try:
        with socket.create_connection(('127.0.0.1', port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for(pred, timeout=10.0, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


# ---- where options come from -----------------------------------------------------------------

def test_ini_with_placeholders_and_repeated_sockets(tmp_path, uwsgi_server):
    p1, p2 = free_port(), free_port()
    ini = tmp_path / 'app.ini'
    ini.write_text(f"""[uwsgi]
host = 127.0.0.1
first = {p1}
http-socket = %(host):%(first)
http-socket = %(host):{p2}
appdir = {Path(APP).parent}
wsgi-file = %(appdir)/core_app.py
master = false
""")
    srv = uwsgi_server('--ini', ini, port=p1, http=False)
    assert get(p1, '/one').body == b'Hello /one'
    assert wait_for(lambda: port_open(p2))
    assert get(p2, '/two').body == b'Hello /two'
    assert srv.proc.poll() is None


def test_ini_section(tmp_path, uwsgi_server):
    p_default, p_staging = free_port(), free_port()
    ini = tmp_path / 'app.ini'
    ini.write_text(f"""[uwsgi]
http-socket = 127.0.0.1:{p_default}
wsgi-file = {APP}
[staging]
http-socket = 127.0.0.1:{p_staging}
wsgi-file = {APP}
""")
    uwsgi_server('--ini', f'{ini}:staging', port=p_staging, http=False)
    assert get(p_staging, '/s').body == b'Hello /s'
    assert not port_open(p_default)


def test_environment_http_socket(uwsgi_server):
    port = free_port()
    uwsgi_server('--wsgi-file', APP, port=port, http=False, env={'UWSGI_HTTP_SOCKET': f'127.0.0.1:{port}'})
    assert get(port, '/env-sock').body == b'Hello /env-sock'


def test_environment_ini(tmp_path, uwsgi_server):
    port = free_port()
    ini = tmp_path / 'env.ini'
    ini.write_text(f'[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nwsgi-file = {APP}\n')
    uwsgi_server(port=port, http=False, env={'UWSGI_INI': str(ini)})
    assert get(port, '/env-ini').body == b'Hello /env-ini'


def test_unknown_option_exits_naming_it():
    rc, out = run_fail(['--http-socket', f'127.0.0.1:{free_port()}', '--wsgi-file', APP, '--frobnicate', '3'])
    assert rc != 0
    assert 'frobnicate' in out, out


def test_unknown_key_in_ini_is_a_warning_naming_file_and_line(tmp_path, uwsgi_server):
    # uWSGI keeps a key no option owns as a custom placeholder; we say once that nothing uses it.
    port = free_port()
    ini = tmp_path / 'custom.ini'
    ini.write_text(f'[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nwsgi-file = {APP}\n\nnot-an-option = 1\n')
    srv = uwsgi_server('--ini', ini, port=port, http=False)
    assert get(port, '/').status == 200
    log = Path(srv.log_path).read_text()
    lines = [l for l in log.splitlines() if 'not-an-option' in l]
    assert len(lines) == 1 and f'{ini}:5' in lines[0], log


def test_unknown_key_in_ini_is_an_error_under_strict(tmp_path):
    ini = tmp_path / 'bad.ini'
    ini.write_text(f'[uwsgi]\nstrict = true\nhttp-socket = 127.0.0.1:{free_port()}\n\nnot-an-option = 1\n')
    rc, out = run_fail(['--ini', ini])
    assert rc != 0
    assert 'not-an-option' in out, out
    assert f'{ini}:5' in out, out


def test_missing_plugin_is_an_error_and_nothing_starts():
    port = free_port()
    rc, out = run_fail(['--plugins', 'doesnotexist', '--http-socket', f'127.0.0.1:{port}', '--wsgi-file', APP])
    assert rc != 0
    assert 'doesnotexist' in out, out
    assert not port_open(port)


def test_async_without_suspend_engine_is_a_clear_error():
    rc, out = run_fail(['--async', '10', '--http-socket', f'127.0.0.1:{free_port()}', '--wsgi-file', APP])
    assert rc != 0
    assert 'suspend engine' in out, out


def test_two_suspend_engines_are_an_error():
    rc, out = run_fail(['--plugins', 'ugreen,fcontext', '--ugreen', '--fcontext', '--async', '10',
                        '--http-socket', f'127.0.0.1:{free_port()}', '--wsgi-file', APP])
    assert rc != 0
    assert 'ugreen' in out and 'fcontext' in out, out
    assert 'suspend engine' in out, out


def test_bad_numeric_value_exits_naming_option():
    rc, out = run_fail(['--processes', 'two', '--http-socket', f'127.0.0.1:{free_port()}', '--wsgi-file', APP])
    assert rc != 0
    assert '--processes' in out and 'two' in out, out


@pytest.mark.parametrize('opt,value', [('--buffer-size', '-1'), ('--buffer-size', '100'),
                                       ('--buffer-size', '99999999999999'), ('--socket-timeout', '0'),
                                       ('--socket-timeout', '-1')])
def test_out_of_range_values_are_refused(opt, value):
    port = free_port()
    rc, out = run_fail([opt, value, '--http-socket', f'127.0.0.1:{port}', '--wsgi-file', APP])
    assert rc != 0, out
    assert opt in out, out
    assert not port_open(port)


# ---- master and workers ------------------------------------------------------------------------

def worker_pids(srv, n, timeout=10):
    return wait_for(lambda: (lambda c: c if len(c) >= n else None)(children_of(srv.proc.pid)), timeout) or []


def test_master_with_two_workers_serves_from_both(uwsgi_server):
    srv = uwsgi_server('--wsgi-file', APP, '--master', '--processes', '2')
    kids = worker_pids(srv, 2)
    assert len(kids) == 2, kids
    pids = set()
    results = []

    def hit():
        r = get(srv.port, '/sleep?0.3')
        results.append(r.status)

    for _ in range(3):
        threads = [threading.Thread(target=hit) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        pids |= {int(get(srv.port, '/pid').body)}
    # Two workers sleeping in parallel: 4 requests of 0.3 s each took ~0.6 s per round.
    assert results == [200] * 12
    for _ in range(20):
        pids.add(int(get(srv.port, '/pid').body))
    assert pids <= set(kids)


def test_two_workers_run_in_parallel(uwsgi_server):
    srv = uwsgi_server('--wsgi-file', APP, '--master', '--processes', '2')
    assert len(worker_pids(srv, 2)) == 2
    seen = []

    def hit():
        seen.append(get(srv.port, '/sleep?0.5').status)

    t0 = time.monotonic()
    threads = [threading.Thread(target=hit) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == [200, 200]
    assert time.monotonic() - t0 < 0.95


def test_sigint_stops_master_and_workers(uwsgi_server):
    srv = uwsgi_server('--wsgi-file', APP, '--master', '--processes', '2')
    kids = worker_pids(srv, 2)
    assert len(kids) == 2
    assert get(srv.port).status == 200
    os.kill(srv.proc.pid, signal.SIGINT)  # the master only, not the group
    srv.proc.wait(timeout=10)
    assert wait_for(lambda: not pids_alive(kids), 5), pids_alive(kids)
    assert not port_open(srv.port)


def test_sighup_reload_keeps_serving(uwsgi_server):
    srv = uwsgi_server('--wsgi-file', APP, '--master', '--processes', '2')
    old = set(worker_pids(srv, 2))
    assert len(old) == 2
    stop = threading.Event()
    ok, failures = [0], []

    def hammer():
        while not stop.is_set():
            try:
                r = exchange(srv.port, request_bytes('GET', '/h'), timeout=15)
                if r.status == 200 and r.body == b'Hello /h':
                    ok[0] += 1
                else:
                    failures.append((r.status, r.body))
            except Exception as e:  # refused, reset, timeout: all failures
                failures.append(repr(e))
            time.sleep(0.005)

    t = threading.Thread(target=hammer)
    t.start()
    try:
        time.sleep(0.3)
        before = ok[0]
        assert before > 0
        os.kill(srv.proc.pid, signal.SIGHUP)
        # New workers: different pids, same master.
        new = wait_for(lambda: (lambda c: c if len(c) == 2 and not (set(c) & old) else None)(
            children_of(srv.proc.pid)), 15)
        assert new, (children_of(srv.proc.pid), srv.log())
        mid = ok[0]
        time.sleep(0.5)
    finally:
        stop.set()
        t.join(timeout=20)
    assert failures == [], (failures[:5], srv.log()[-2000:])
    assert ok[0] > mid, 'no request succeeded after the reload'
    assert srv.proc.poll() is None
    assert get(srv.port, '/after').body == b'Hello /after'


def test_killed_worker_is_respawned(uwsgi_server):
    srv = uwsgi_server('--wsgi-file', APP, '--master', '--processes', '1')
    pid = int(get(srv.port, '/pid').body)
    os.kill(pid, signal.SIGKILL)
    new = wait_for(lambda: (lambda c: c if c and pid not in c else None)(children_of(srv.proc.pid)), 10)
    assert new, srv.log()
    newpid = int(get(srv.port, '/pid').body)
    assert newpid != pid and newpid in new
    assert srv.wait_log('respawning')


def test_pidfile_and_vacuum_with_unix_socket(tmp_path, uwsgi_server):
    sock = tmp_path / 'app.sock'
    pidfile = tmp_path / 'app.pid'
    srv = uwsgi_server('--wsgi-file', APP, '--master', '--socket', sock, '--pidfile', pidfile, '--vacuum')
    assert wait_for(lambda: sock.exists() and pidfile.exists())
    assert int(pidfile.read_text().strip()) == srv.proc.pid
    # The unix socket speaks the uwsgi protocol.
    from helpers_core import HttpReader, cgi_vars, uwsgi_packet
    with socket.socket(socket.AF_UNIX) as c:
        c.settimeout(5)
        c.connect(str(sock))
        c.sendall(uwsgi_packet(cgi_vars('GET', '/unix')))
        assert HttpReader(c).read_response().body == b'Hello /unix'
    os.kill(srv.proc.pid, signal.SIGINT)
    srv.proc.wait(timeout=10)
    assert not sock.exists()
    assert not pidfile.exists()


# ---- the `core` profile: nothing built in, python as a plugin ---------------------------------

CORE_BIN = ROOT / 'build' / 'core' / 'out' / 'uwsgi'


@pytest.fixture(scope='session')
def core_binary():
    if not CORE_BIN.exists() or not (CORE_BIN.parent / 'python_plugin.so').exists():
        r = subprocess.run(['/usr/bin/python3', 'uwsgiconfig.py', '--build', 'core'], cwd=str(ROOT),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=900)
        if r.returncode != 0:
            pytest.fail('building the core profile failed:\n' + r.stdout.decode(errors='replace')[-3000:])
    return CORE_BIN


def test_core_profile_serves_hello_world(core_binary, tmp_path, monkeypatch):
    monkeypatch.setenv('UWSGI_BIN', str(core_binary))
    monkeypatch.setenv('UWSGI_ARGS', '--plugins python')
    srv = start_uwsgi(['--wsgi-file', str(ROOT / 'examples' / 'hello.py')], log_dir=str(tmp_path))
    try:
        r = get(srv.port)
        assert r.status == 200
        assert b'Hello' in r.body
    finally:
        srv.stop()


def test_core_profile_loads_python_for_its_options(core_binary, tmp_path, monkeypatch):
    """No --plugins: --wsgi-file belongs to python_plugin.so beside the binary (its manifest says so)."""
    monkeypatch.setenv('UWSGI_BIN', str(core_binary))
    monkeypatch.setenv('UWSGI_ARGS', '')
    srv = start_uwsgi(['--wsgi-file', str(ROOT / 'examples' / 'hello.py')], log_dir=str(tmp_path))
    try:
        assert get(srv.port).status == 200
        assert 'plugin python loaded for --wsgi-file' in srv.log(), srv.log()
    finally:
        srv.stop()


def test_core_profile_without_python_plugin_says_so(core_binary, tmp_path):
    lone = tmp_path / 'uwsgi'  # the binary alone: no plugin (and no manifest) beside it
    shutil.copy(core_binary, lone)
    port = free_port()
    p = subprocess.run([str(lone), '--http-socket', f'127.0.0.1:{port}', '--wsgi-file',
                        str(ROOT / 'examples' / 'hello.py')], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=15, start_new_session=True)
    out = p.stdout.decode(errors='replace')
    assert p.returncode != 0
    assert 'wsgi-file' in out, out


# ---- the config language (docs/configuration.md) ---------------------------------------------

CONFIGS = Path(__file__).parent / 'configs'


@pytest.mark.parametrize('name', sorted(p.name for p in CONFIGS.iterdir() if p.suffix != '.md'))
def test_project_configs_serve(name, tmp_path, uwsgi_server):
    """The project's own real-looking configs (tests/integration/configs) start and serve."""
    port = free_port()
    text = (CONFIGS / name).read_text().replace('@PORT@', str(port)).replace('@APPS@', str(Path(APP).parent))
    cfg = tmp_path / name
    cfg.write_text(text)
    srv = uwsgi_server(cfg, port=port, http=False)
    r = get(port, '/from-config')
    assert r.status == 200 and r.body == b'Hello /from-config', (r, Path(srv.log_path).read_text())


def test_inline_comments_numbers_and_flags(tmp_path, uwsgi_server):
    port = free_port()
    ini = tmp_path / 'c.ini'
    ini.write_text(f"""[uwsgi]
http-socket = 127.0.0.1:{port}
chdir = {Path(APP).parent}
module = core_app:application  # the callable
max-requests = 1000 ; recycle
threads = true
master = true ; supervise
""")
    uwsgi_server('--ini', ini, port=port, http=False)
    assert get(port, '/c').body == b'Hello /c'


@pytest.mark.parametrize('body,where,what', [
    ('if-env = HOME\nprocesses = 2\n', ':2', 'endif'),
    ('master = true\nchdir = @(/nonexistent/cfg-file)\n', ':3', '/nonexistent/cfg-file'),
    ('processes = many\n', ':2', 'many'),
    ('endfor =\n', ':2', 'endfor'),
])
def test_bad_config_is_one_line_naming_file_and_line(tmp_path, body, where, what):
    ini = tmp_path / 'bad.ini'
    ini.write_text('[uwsgi]\n' + body)
    rc, out = run_fail(['--http-socket', f'127.0.0.1:{free_port()}', '--wsgi-file', APP, '--ini', ini])
    assert rc != 0
    errors = [l for l in out.splitlines() if f'{ini}{where}' in l]
    assert len(errors) == 1 and what in errors[0], out


def test_option_prefix_on_the_command_line(uwsgi_server):
    port = free_port()
    # (--http-sock is ambiguous, as in uWSGI: --http-socket-modifier1 shares the prefix.)
    uwsgi_server('--http-socket', f'127.0.0.1:{port}', '--wsgi-fil', APP, '--process', '1', port=port, http=False)
    assert get(port, '/p').body == b'Hello /p'


def test_ambiguous_option_prefix_names_the_candidates():
    rc, out = run_fail(['--re', '1', '--http-socket', f'127.0.0.1:{free_port()}', '--wsgi-file', APP])
    assert rc != 0
    assert 'ambiguous' in out and '--reuse-port' in out and '--reload-mercy' in out, out


def test_a_uwsgi_option_this_server_lacks_is_an_error_not_a_placeholder(tmp_path):
    # uWSGI keeps a file key that is no option as a placeholder; a real uWSGI option we do not
    # have (here the Emperor's Tyrant mode) must not be silently "kept": the server would not do
    # what the config says.
    ini = tmp_path / 'tyrant.ini'
    ini.write_text(f'[uwsgi]\nhttp-socket = 127.0.0.1:{free_port()}\nwsgi-file = {APP}\nemperor-tyrant = true\n')
    rc, out = run_fail(['--ini', ini])
    assert rc != 0 and 'bound on' not in out, out
    assert '"emperor-tyrant" is a uWSGI option this server does not support yet' in out and f'{ini}:4' in out, out


def test_a_whole_uwsgi_option_name_is_not_read_as_a_prefix():
    # uWSGI's --loop is not --loop-engine: the prefix rule applies only to names that are no
    # uWSGI option of their own.
    rc, out = run_fail(['--loop', 'gevent', '--http-socket', f'127.0.0.1:{free_port()}', '--wsgi-file', APP])
    assert rc != 0
    assert 'uWSGI option --loop is not supported by this server yet' in out and 'ambiguous' not in out, out


def test_router_tuning_options_without_a_router_warn_and_change_nothing(tmp_path, uwsgi_server):
    # As in uWSGI, http-timeout & co. do nothing unless the HTTP router runs (--http): a config
    # that only carries them starts, and says they have no effect.
    port = free_port()
    ini = tmp_path / 'tuning.ini'
    ini.write_text(f'[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nwsgi-file = {APP}\nhttp-timeout = 3600\n')
    srv = uwsgi_server('--ini', ini, '--http-raw-body', port=port, http=False)
    assert get(port, '/t').status == 200
    log = Path(srv.log_path).read_text()
    assert '--http-timeout has no effect' in log and '--http-raw-body has no effect' in log, log


# ---- the config is read once for what it runs, and bad values stop it before any banner --------

def test_exec_include_in_ini_runs_once(tmp_path):
    # The file is read twice (early for --plugins, then whole); the command must run once.
    count = tmp_path / 'count'
    ini = tmp_path / 'app.ini'
    ini.write_text('[uwsgi]\nhttp-socket = 127.0.0.1:%d\nwsgi-file = %s\n'
                   'procname-prefix = @(exec://sh -c "echo x >> %s; echo pre-")\n'
                   'buffer-size = 1\n' % (free_port(), app_path('app.py'), count))
    rc, out = run_fail([str(ini)])
    assert rc != 0 and '--buffer-size' in out, out
    assert count.read_text() == 'x\n'


@pytest.mark.parametrize('args, named', [
    (['--buffer-size', '1'], '--buffer-size'),
    (['--socket-timeout', '0'], '--socket-timeout'),
    (['--processes', '0'], '--processes'),
    (['--async', '0', '--plugins', 'ugreen', '--ugreen'], '--async'),
])
def test_bad_value_stops_before_python_starts(args, named):
    rc, out = run_fail(['--http-socket', '127.0.0.1:%d' % free_port(), '--wsgi-file', app_path('app.py')] + args)
    assert rc != 0 and named in out, out
    assert 'Python version' not in out, out


def test_magic_j_and_ansi_escape_as_uwsgi(tmp_path):
    # %j: djb33x of the file's absolute path, its bytes least significant first (uWSGI 2.0.21
    # prints D64F4E24 where the plain hex is 244E4FD6); %[: ESC.
    ini = tmp_path / 'm.ini'
    ini.write_text('[uwsgi]\nchdir = /nonexistent/j=%j/esc=%[x\n')
    h = 5381
    for c in str(ini).encode():
        h = ((h * 33) ^ c) & 0xffffffff
    rc, out = run_fail([str(ini)])
    assert rc != 0
    assert '/nonexistent/j=%s/esc=\x1bx' % h.to_bytes(4, 'little').hex().upper() in out, out
