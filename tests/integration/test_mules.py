"""Mules: --mule SCRIPT, --mules N, --farm; uwsgi.mule_msg / mule_get_msg / farm_msg, @mulefunc and
@farm; a killed mule is respawned; mules stop with the server; bad values stop start-up."""
import os
import signal
import subprocess

from conftest import app_path, base_args, free_port, start_uwsgi, uwsgi_binary
from helpers_core import wait_for, file_lines
from helpers_core import get_json as get

APP = app_path('mule_app.py')


def mule_pids(srv):
    out = subprocess.run(['pgrep', '-P', str(srv.proc.pid)], capture_output=True, text=True).stdout.split()
    return {int(p) for p in out}


def start(tmp_path, *extra):
    return start_uwsgi(['--master', '--processes', '2', '--wsgi-file', APP, '--mule=' + app_path('mule_script.py'),
                        '--mules', '3', '--farm', 'pair:2,3'] + list(extra), env={'MULE_OUT_DIR': str(tmp_path)},
                       timeout=15)


def test_mulefunc_farm_and_script_mule(tmp_path):
    srv = start(tmp_path)
    try:
        script = tmp_path / 'script'
        assert wait_for(lambda: any(l.startswith('started 1 ') for l in file_lines(script))), srv.log()[-2000:]
        assert get(srv, '/')['mule_id'] == 0
        # A message to mule 1 (the script) reaches it.
        assert get(srv, '/to?1=hello-one')['r'] is True
        assert wait_for(lambda: 'got hello-one' in file_lines(script)), srv.log()[-2000:]
        # @mulefunc(4): runs in mule 4 (the farm's mules 2 and 3 only serve the farm).
        for i in range(6):
            get(srv, f'/mulefunc?w{i}')
        mf = tmp_path / 'mulefunc'
        assert wait_for(lambda: len(file_lines(mf)) == 6), (file_lines(mf), srv.log()[-2000:])
        assert {l.split()[1] for l in file_lines(mf)} == {'4'}
        # Farm messages go to farm members only (mules 2 and 3).
        for i in range(10):
            assert get(srv, f'/farm?f{i}')['r'] is True
        farm = tmp_path / 'farm'
        assert wait_for(lambda: len(file_lines(farm)) == 10), (file_lines(farm), srv.log()[-2000:])
        assert {l.split()[1] for l in file_lines(farm)} <= {'2', '3'}
        # Errors: a mule that does not exist.
        assert 'does not exist' in get(srv, '/to?9=x')['error']
    finally:
        srv.stop()


def test_killed_mule_is_respawned_and_mules_stop_with_the_server(tmp_path):
    srv = start(tmp_path)
    try:
        script = tmp_path / 'script'
        assert wait_for(lambda: len([l for l in file_lines(script) if l.startswith('started')]) == 1)
        pid = int(file_lines(script)[0].split()[2])
        os.kill(pid, signal.SIGKILL)
        assert wait_for(lambda: len([l for l in file_lines(script) if l.startswith('started')]) == 2), srv.log()[-2000:]
        assert 'mule 1 (pid %d) killed by signal 9: respawning' % pid in srv.log()
        children = mule_pids(srv)
        assert len(children) >= 6  # 2 workers + 4 mules
    finally:
        srv.stop()
    for p in children:
        assert wait_for(lambda: not os.path.exists(f'/proc/{p}') or
                        open(f'/proc/{p}/stat').read().split()[2] == 'Z', timeout=10), p


def run_bad(*args):
    cmd = [str(uwsgi_binary())] + base_args() + ['--http-socket', f'127.0.0.1:{free_port()}',
                                                 '--wsgi-file', app_path('app.py')] + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)


def test_bad_mule_options_stop_startup():
    p = run_bad('--mules', '2')
    assert p.returncode != 0 and 'need --master' in p.stdout + p.stderr
    p = run_bad('--master', '--mules', '2', '--farm', 'x:3')
    assert p.returncode != 0 and '--farm' in p.stdout + p.stderr
    p = run_bad('--master', '--mules', '2', '--farm', 'nocolon')
    assert p.returncode != 0 and 'NAME:ID' in p.stdout + p.stderr
