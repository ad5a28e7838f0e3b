"""--stats (and --stats-http) show the mules, the spoolers and the caches, with uWSGI's keys where
uWSGI has them (caches: name, hash, hashsize, keysize, max_items, blocks, blocksize, items, hits,
miss, full, last_modified_at; spoolers: dir, pid, tasks, respawns, running) plus the queued tasks
and the mules (id, pid, signals, respawn_count, farms)."""
import os
import signal
import time

from conftest import app_path, free_port, start_uwsgi
from helpers_core import wait_for, file_lines
from test_operations import read_stats
from helpers_core import get_result as get

APP = app_path('tasks_app.py')


def stats(port, http=False):
    """read_stats, once the stats socket listens (the master opens it after the HTTP socket)."""
    for _ in range(100):
        try:
            return read_stats(port, http)
        except ConnectionRefusedError:
            time.sleep(0.05)
    return read_stats(port, http)


def start(tmp_path, *extra):
    out = tmp_path / 'out'
    out.mkdir(exist_ok=True)
    sport = free_port()
    srv = start_uwsgi(['--master', '--wsgi-file', APP, '--mules', '2', '--farm', 'pair:1,2',
                       '--spooler', str(tmp_path / 'spool'), '--spooler-frequency', '1',
                       '--cache2', 'name=c1,items=2,blocksize=128', '--stats', f'127.0.0.1:{sport}'] + list(extra),
                      env={'TASKS_OUT_DIR': str(out)}, timeout=15)
    srv.stats_port = sport
    return srv


def test_stats_show_caches_spoolers_and_mules(tmp_path):
    srv = start(tmp_path)
    try:
        assert get(srv, '/cache-set?k=a&v=1') is True
        assert get(srv, '/cache-set?k=b&v=2') is True
        assert get(srv, '/cache-set?k=c&v=3') is None  # full: 2 items
        assert get(srv, '/cache-get?k=a') == '1'
        assert get(srv, '/cache-get?k=zz') is None
        get(srv, '/spool?name=now')
        assert wait_for(lambda: file_lines(tmp_path / 'out' / 'spooled') == ['now']), srv.log()[-2000:]
        get(srv, '/spool?name=later&at=%d' % (time.time() + 3600))
        st = read_stats(srv.stats_port)
        assert st['caches'] == [{'name': 'c1', 'hash': 'djb33x', 'hashsize': 16, 'keysize': 2048, 'max_items': 2,
                                 'blocks': 2, 'blocksize': 128, 'items': 2, 'hits': 1, 'miss': 1, 'full': 1,
                                 'last_modified_at': st['caches'][0]['last_modified_at']}], st['caches']
        assert abs(st['caches'][0]['last_modified_at'] - time.time()) < 60
        assert wait_for(lambda: read_stats(srv.stats_port)['spoolers'][0]['tasks'] == 1), \
            read_stats(srv.stats_port)['spoolers']
        sp = read_stats(srv.stats_port)['spoolers']
        assert len(sp) == 1
        assert sp[0]['dir'] == str((tmp_path / 'spool').resolve())
        assert sp[0]['pid'] > 0 and sp[0]['pids'] == [sp[0]['pid']]
        assert (sp[0]['running'], sp[0]['respawns'], sp[0]['queued']) == (0, 0, 1), sp
        mules = st['mules']
        assert [m['id'] for m in mules] == [1, 2]
        assert all(m['pid'] > 0 and m['signals'] == 0 and m['respawn_count'] == 0 for m in mules), mules
        assert [m['farms'] for m in mules] == [['pair'], ['pair']]
        # A killed mule and spooler are respawned and counted.
        os.kill(mules[0]['pid'], signal.SIGKILL)
        os.kill(sp[0]['pid'], signal.SIGKILL)
        def respawned():
            s = read_stats(srv.stats_port)
            return (s['mules'][0]['respawn_count'] == 1 and s['mules'][0]['pid'] not in (0, mules[0]['pid'])
                    and s['spoolers'][0]['respawns'] == 1 and s['spoolers'][0]['pid'] not in (0, sp[0]['pid']))
        assert wait_for(respawned, timeout=10), read_stats(srv.stats_port)
    finally:
        srv.stop()


def test_stats_http_shows_them_too(tmp_path):
    srv = start(tmp_path, '--stats-http')
    try:
        st = stats(srv.stats_port, http=True)
        assert [c['name'] for c in st['caches']] == ['c1']
        assert len(st['spoolers']) == 1 and len(st['mules']) == 2
    finally:
        srv.stop()


def test_no_tasks_no_keys(tmp_path):
    sport = free_port()
    srv = start_uwsgi(['--master', '--wsgi-file', app_path('app.py'), '--stats', f'127.0.0.1:{sport}'], timeout=10)
    try:
        st = stats(sport)
        assert 'mules' not in st and 'spoolers' not in st and 'caches' not in st
    finally:
        srv.stop()
