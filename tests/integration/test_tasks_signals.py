"""uwsgi signal targets beyond the workers, as uWSGI: 'muleN' (that mule), 'mules' (every mule),
'mule' (any one mule), 'spooler' (the spooler processes). Handlers are registered at load time
(inherited by the mules and the spooler); uwsgi.signal() in a worker reaches them: a plain mule and
a script mule waiting in uwsgi.mule_get_msg() run them, the spooler between tasks. uwsgi.signal()
in a mule reaches the master, which routes it."""
import os
import signal
import time

from conftest import app_path, free_port, start_uwsgi
from helpers_core import wait_for, file_lines
from test_operations import read_stats
from helpers_core import get_result as get

APP = app_path('tasks_app.py')


def received(tmp_path):
    return [l.split()[:2] for l in file_lines(tmp_path / 'out' / 'signals')]


def test_signals_reach_mules_and_the_spooler(tmp_path):
    (tmp_path / 'out').mkdir()
    sport = free_port()
    env = {'TASKS_OUT_DIR': str(tmp_path / 'out'), 'TASKS_SIGNALS': '1', 'MULE_OUT_DIR': str(tmp_path / 'out')}
    srv = start_uwsgi(['--master', '--processes', '2', '--wsgi-file', APP, '--mule=' + app_path('mule_script.py'),
                       '--mules', '1', '--spooler', str(tmp_path / 'spool'), '--stats', f'127.0.0.1:{sport}'],
                      env=env, timeout=15)
    try:
        assert wait_for(lambda: file_lines(tmp_path / 'out' / 'script')), srv.log()[-2000:]
        time.sleep(0.5)  # the plain mule and the spooler start beside the script mule
        get(srv, '/signal?n=17')  # mule1: the script mule, inside mule_get_msg()
        assert wait_for(lambda: received(tmp_path) == [['17', 'mule1']]), (received(tmp_path), srv.log()[-3000:])
        get(srv, '/signal?n=21')  # mule2: the plain mule
        assert wait_for(lambda: received(tmp_path)[1:] == [['21', 'mule2']]), (received(tmp_path), srv.log()[-3000:])
        get(srv, '/signal?n=18')  # every mule
        assert wait_for(lambda: sorted(map(tuple, received(tmp_path)[2:])) == [('18', 'mule1'), ('18', 'mule2')]), \
            (received(tmp_path), srv.log()[-3000:])
        get(srv, '/signal?n=19')  # one mule
        assert wait_for(lambda: len(received(tmp_path)) == 5), (received(tmp_path), srv.log()[-3000:])
        assert received(tmp_path)[4][0] == '19' and received(tmp_path)[4][1] in ('mule1', 'mule2')
        time.sleep(0.5)
        assert len(received(tmp_path)) == 5  # once, not once per mule
        get(srv, '/signal?n=20')  # the spooler, idle: at once (not at its next scan)
        assert wait_for(lambda: received(tmp_path)[5:] == [['20', 'spooler']]), (received(tmp_path), srv.log()[-3000:])
        # The mules' counters in --stats.
        mules = read_stats(sport)['mules']
        n19 = 1 if received(tmp_path)[4][1] == 'mule1' else 0
        assert [m['signals'] for m in mules] == [2 + n19, 2 + 1 - n19], mules
        # uwsgi.signal() in a mule goes to the master, which routes it (here: to every worker), also
        # to a worker born after the mule.
        old = read_stats(sport)['workers'][0]['pid']
        os.kill(old, signal.SIGKILL)
        assert wait_for(lambda: read_stats(sport)['workers'][0]['pid'] not in (0, old)), srv.log()[-2000:]
        time.sleep(0.5)
        assert get(srv, '/mule-raise?n=22&mule=2') is True
        assert wait_for(lambda: sorted(l[1] for l in received(tmp_path)[6:]) == ['worker1', 'worker2']), \
            (received(tmp_path), srv.log()[-3000:])
        # The messages still flow beside the signals.
        assert 'got' not in ' '.join(file_lines(tmp_path / 'out' / 'script'))
    finally:
        srv.stop()

