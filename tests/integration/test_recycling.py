"""Recycling (issue 18) beyond test_supervision.py: --reload-on-as, --evil-reload-on-as,
--max-worker-lifetime-delta, --min-worker-lifetime. apps/supervise_app.py's /grow?MB leaks memory.
"""
import os
import signal
import time
from pathlib import Path

import pytest

from conftest import app_path, free_port
from test_operations import read_stats
from test_supervision import fails_to_start, get, started, wait_for, workers

APP = app_path('supervise_app.py')


def address_space_mb(uwsgi_server):
    """A fresh worker's address space (MB), so a limit can sit just above it."""
    srv = uwsgi_server('--wsgi-file', APP, '--master')
    (w,) = started(srv, 1)
    assert get(srv, '/')[0] == 200
    size = int(Path(f'/proc/{w}/statm').read_text().split()[0]) * os.sysconf('SC_PAGE_SIZE') >> 20
    srv.stop()
    return size


def test_reload_on_as_recycles_a_growing_worker(uwsgi_server):
    limit = address_space_mb(uwsgi_server) + 60
    srv = uwsgi_server('--wsgi-file', APP, '--master', '--reload-on-as', str(limit))
    old = started(srv, 1)
    assert get(srv, '/')[0] == 200 and stays_same(srv, old, 1.5), srv.log()  # under the limit: kept
    assert get(srv, '/grow?150') == (200, 'grown')  # the request itself completes
    assert wait_for(lambda: workers(srv) and workers(srv) != old, 10), srv.log()
    assert srv.wait_log('over --reload-on-as: recycling'), srv.log()
    assert get(srv, '/')[0] == 200


def test_evil_reload_on_as_kills_from_the_master(uwsgi_server):
    limit = address_space_mb(uwsgi_server) + 60
    srv = uwsgi_server('--wsgi-file', APP, '--master', '--evil-reload-on-as', str(limit))
    old = started(srv, 1)
    assert stays_same(srv, old, 1.5), srv.log()
    try:
        get(srv, '/grow?150')
    except Exception:  # noqa: BLE001 - evil: the kill may come while the request still grows
        pass
    assert wait_for(lambda: workers(srv) and workers(srv) != old, 10), srv.log()
    log = srv.log()
    assert f'over --evil-reload-on-as {limit} MB: killing it' in log, log
    assert 'recycled (evil-reload-on-as)' in log, log
    assert get(srv, '/')[0] == 200


def stays_same(srv, pids, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if workers(srv) != pids:
            return False
        time.sleep(0.2)
    return True


def test_max_worker_lifetime_delta_staggers_the_workers(uwsgi_server):
    sport = free_port()
    srv = uwsgi_server('--wsgi-file', APP, '--master', '--processes', '2', '--max-worker-lifetime', '2',
                       '--max-worker-lifetime-delta', '3', '--stats', f'127.0.0.1:{sport}')
    started(srv, 2)
    first = {w['id']: w['pid'] for w in read_stats(sport)['workers']}
    replaced = {}
    deadline = time.monotonic() + 20
    while len(replaced) < 2 and time.monotonic() < deadline:
        for w in read_stats(sport)['workers']:
            if w['id'] not in replaced and w['pid'] not in (0, first[w['id']]):
                replaced[w['id']] = time.monotonic()
        time.sleep(0.1)
    assert set(replaced) == {1, 2}, srv.log()
    # Worker 2 lives (2 - 1) x 3 s longer than worker 1 (its first lifetime ends at 5 s, not 2 s).
    assert replaced[2] - replaced[1] >= 2, (replaced, srv.log())
    log = srv.log()
    assert log.index('worker 1 (pid %d) reached' % first[1]) < log.index('worker 2 (pid %d) reached' % first[2]), log


def test_a_worker_that_dies_young_is_respawned_after_a_back_off(uwsgi_server):
    srv = uwsgi_server('--wsgi-file', APP, '--master')
    (w,) = started(srv, 1)
    os.kill(w, signal.SIGKILL)
    killed = time.monotonic()
    assert wait_for(lambda: workers(srv) and workers(srv) != [w], 10), srv.log()
    assert time.monotonic() - killed >= 0.8, srv.log()  # respawned after the back-off, not at once
    assert srv.wait_log('respawning it in 1 s (back-off)'), srv.log()
    assert get(srv, '/')[0] == 200


def test_a_worker_that_lived_its_second_is_respawned_at_once(uwsgi_server):
    srv = uwsgi_server('--wsgi-file', APP, '--master')
    (w,) = started(srv, 1)
    time.sleep(1.5)
    os.kill(w, signal.SIGKILL)
    assert wait_for(lambda: workers(srv) and workers(srv) != [w], 10), srv.log()
    assert srv.wait_log('killed by signal 9'), srv.log()
    assert 'back-off' not in srv.log(), srv.log()


@pytest.mark.parametrize('opt', ['reload-on-as', 'evil-reload-on-as', 'max-worker-lifetime-delta',
                                 'min-worker-lifetime'])
def test_bad_recycling_values_stop_start_up(tmp_path, opt):
    rc, log = fails_to_start(['--wsgi-file', APP, '--master', f'--{opt}', '-3'], tmp_path)
    assert rc != 0 and opt in log, log
