"""uWSGI's process and OS options: --print/--iprint, --unenv, --need-plugin(s), --prio,
--limit-nproc, --never-swap, --cpu-affinity, --thread-stacksize, --add-gid, --master-as-root,
--logto2, --log-prefix, --skip-atexit(-teardown) and the listening socket's buffer sizes."""
import concurrent.futures
import grp
import os
import pwd
import shutil
import subprocess
import tempfile

from conftest import app_path, base_args, free_port, start_uwsgi, uwsgi_binary
from helpers_core import get_json

APP = app_path('os_facts_app.py')


def _run_until_exit(*args, timeout=20):
    cmd = [str(uwsgi_binary())] + base_args() + ['--http-socket', f'127.0.0.1:{free_port()}'] + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def _refused(*args):
    """Start-up's message for a bad value (the server must not start)."""
    p = _run_until_exit(*args)
    assert p.returncode != 0, p.stdout + p.stderr
    return p.stderr


def test_print_and_iprint_go_to_stdout_in_order(uwsgi_server):
    # --iprint prints while the options are read, --print once they all are (as uWSGI).
    p = subprocess.Popen([str(uwsgi_binary())] + base_args() +
                         ['--http-socket', f'127.0.0.1:{free_port()}', '--wsgi-file', APP,
                          '--print', 'first print', '--iprint', 'immediate', '--print', 'second print'],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                         start_new_session=True, text=True)
    try:
        lines = [p.stdout.readline().rstrip('\n') for _ in range(3)]
    finally:
        os.killpg(p.pid, 9)
        p.wait(timeout=5)
    assert lines == ['immediate', 'first print', 'second print']


def test_unenv_unsets_in_order_with_env(uwsgi_server):
    srv = uwsgi_server('--wsgi-file', APP, '--env', 'GONE=1', '--unenv', 'GONE', '--unenv', 'BACK',
                       '--env', 'BACK=yes', '--unenv', 'FROM_OUTSIDE', env={'FROM_OUTSIDE': 'x'})
    assert get_json(srv, '/?env=GONE')['env'] is None
    assert get_json(srv, '/?env=BACK')['env'] == 'yes'
    assert get_json(srv, '/?env=FROM_OUTSIDE')['env'] is None
    assert '--unenv' in _refused('--wsgi-file', APP, '--unenv', 'A=B')


def test_need_plugin_loads_and_a_missing_one_stops_startup(uwsgi_server):
    srv = uwsgi_server('--need-plugin', 'python3', '--wsgi-file', APP)
    assert get_json(srv, '/')['pid'] > 0
    p = _run_until_exit('--need-plugins', 'no_such_plugin_here', '--wsgi-file', APP)
    assert p.returncode != 0
    assert 'no_such_plugin_here' in p.stdout + p.stderr


def test_prio_limit_nproc_and_never_swap_reach_the_workers(uwsgi_server):
    srv = uwsgi_server('--wsgi-file', APP, '--master', '--prio', '7', '--limit-nproc', '3000', '--never-swap')
    facts = get_json(srv, '/')
    assert facts['nice'] == 7
    assert facts['nproc'] == 3000
    assert facts['vmlck_kb'] > 0  # mlockall again in the worker: locks are not inherited by fork
    assert srv.wait_log('scheduler priority set to 7')
    plain = uwsgi_server('--wsgi-file', APP, '--master')
    assert get_json(plain, '/')['vmlck_kb'] == 0
    assert '--prio' in _refused('--wsgi-file', APP, '--prio', '40')


def test_cpu_affinity_pins_each_worker_in_turn(uwsgi_server):
    ncpus = len(os.sched_getaffinity(0))
    srv = uwsgi_server('--wsgi-file', APP, '--master', '--processes', '2', '--cpu-affinity', '1')
    seen = {}
    for _ in range(10):  # two slow requests at once: one per worker
        with concurrent.futures.ThreadPoolExecutor(2) as ex:
            for facts in ex.map(lambda _: get_json(srv, '/slow'), range(2)):
                seen[facts['pid']] = facts['affinity']
        if len(seen) == 2:
            break
    assert len(seen) == 2, seen
    assert all(len(a) == 1 for a in seen.values()), seen
    if ncpus >= 2:
        assert sorted(a[0] for a in seen.values()) == [0, 1], seen
    assert srv.wait_log('worker 2 pinned to cpu')


def test_thread_stacksize_sets_the_request_threads_stack(uwsgi_server):
    for option in ('--thread-stacksize', '--threads-stack-size'):
        srv = uwsgi_server('--wsgi-file', APP, '--threads', '2', option, '512')
        stacks = set()
        for _ in range(10):
            with concurrent.futures.ThreadPoolExecutor(2) as ex:
                for facts in ex.map(lambda _: get_json(srv, '/slow'), range(2)):
                    if not facts['main_thread']:
                        stacks.add(facts['stack'])
            if stacks:
                break
        assert stacks == {512 * 1024}, stacks
        srv.stop()
    assert '--thread-stacksize' in _refused('--wsgi-file', APP, '--thread-stacksize', '1')


def _master_uid(srv):
    with open(f'/proc/{srv.proc.pid}/status') as f:
        for line in f:
            if line.startswith('Uid:'):
                return int(line.split()[1])


def test_add_gid_and_master_as_root(uwsgi_server):
    nobody = pwd.getpwnam('nobody')
    nogroup = grp.getgrnam('nogroup').gr_gid
    srv = uwsgi_server('--wsgi-file', APP, '--master', '--uid', 'nobody', '--gid', 'nogroup', '--add-gid', '4242')
    facts = get_json(srv, '/')
    assert facts['uid'] == nobody.pw_uid
    assert 4242 in facts['groups'], facts
    assert _master_uid(srv) == nobody.pw_uid
    srv.stop()
    # The master stays root; its worker (and mules, spooler, router) drop to --uid/--gid.
    srv = uwsgi_server('--wsgi-file', APP, '--master', '--master-as-root', '--uid', 'nobody', '--gid', 'nogroup',
                       '--add-gid', '4242')
    facts = get_json(srv, '/')
    assert facts['uid'] == nobody.pw_uid
    assert set(facts['groups']) >= {4242, nogroup} and 0 not in facts['groups'], facts
    assert _master_uid(srv) == 0
    assert srv.wait_log('--master-as-root')


def test_logto2_opens_the_log_after_dropping_privileges(uwsgi_server):
    d = tempfile.mkdtemp(prefix='uwsgi-logto2-')
    try:
        os.chmod(d, 0o1777)
        log = os.path.join(d, 'app.log')
        srv = uwsgi_server('--wsgi-file', APP, '--uid', 'nobody', '--gid', 'nogroup', '--logto2', log)
        get_json(srv, '/')
        assert os.stat(log).st_uid == pwd.getpwnam('nobody').pw_uid  # created by the dropped user
        srv.stop()
        with open(log) as f:
            assert 'WSGI app 0' in f.read()
    finally:
        shutil.rmtree(d)


def test_log_prefix_replaces_the_date_on_server_lines(uwsgi_server):
    srv = uwsgi_server('--wsgi-file', APP, '--log-prefix', '[myapp]', '--log-date')
    get_json(srv, '/')
    assert srv.wait_log('GET /')
    lines = srv.log().splitlines()
    assert any(l.startswith('[myapp] - ') and 'WSGI app 0' in l for l in lines), lines
    assert not any(l.startswith('[myapp] - ') and 'GET /' in l for l in lines)  # request lines keep theirs


def _atexit_notes(uwsgi_server, tmp_path, *args):
    notes = tmp_path / ('atexit-%d.log' % len(list(tmp_path.iterdir())))
    srv = uwsgi_server('--wsgi-file', APP, '--master', *args, env={'ATEXIT_LOG': str(notes)})
    get_json(srv, '/')
    srv.stop()
    return notes.read_text().split() if notes.exists() else []


def test_skip_atexit_and_skip_atexit_teardown(uwsgi_server, tmp_path):
    assert sorted(_atexit_notes(uwsgi_server, tmp_path)) == ['python-atexit', 'uwsgi-atexit']
    assert _atexit_notes(uwsgi_server, tmp_path, '--skip-atexit-teardown') == ['uwsgi-atexit']
    assert _atexit_notes(uwsgi_server, tmp_path, '--skip-atexit') == []


def _listen_skmem(port):
    out = subprocess.run(['ss', '-Htlmn', f'sport = :{port}'], capture_output=True, text=True, timeout=10).stdout
    return out


def test_socket_buffer_sizes_on_the_listening_socket(uwsgi_server):
    port = free_port()
    srv = uwsgi_server('--http-socket', f'127.0.0.1:{port}', '--wsgi-file', APP, '--socket-sndbuf', '65536',
                       '--socket-rcvbuf', '32768', '--so-write-timeout', '5', '--freebind', http=False, port=port)
    assert get_json(srv, '/')['pid'] > 0
    skmem = _listen_skmem(port)
    assert 'tb131072' in skmem and 'rb65536' in skmem, skmem  # the kernel doubles what it is given
