"""Adaptive workers (issue 18): --cheaper keeps few workers when idle, grows to --processes under
load and shrinks back, losing no request. Load is parallel slow requests (apps/supervise_app.py's
/sleep) from client threads; workers are counted as the master's children (/proc) and in --stats.
"""
import subprocess
import threading
import time

import pytest

from conftest import app_path, free_port, uwsgi_binary
from test_operations import read_stats
from test_supervision import fails_to_start, touch, wait_for, workers

APP = app_path('supervise_app.py')


class Load:
    """Client threads, each sending `path` over and over (`pause` s apart) until stop(): every
    response counted."""

    def __init__(self, srv, clients, path, pause=0.0):
        self.srv, self.path, self.pause = srv, path, pause
        self.sent = self.ok = 0
        self.errors = []
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]
        for t in self.threads:
            t.start()

    def _run(self):
        while not self.done.is_set():
            with self.lock:
                self.sent += 1
            try:
                status, _, _ = self.srv.request('GET', self.path, timeout=30)
                with self.lock:
                    self.ok += status == 200
                    if status != 200:
                        self.errors.append(status)
            except Exception as e:  # noqa: BLE001 - a lost request is what the test looks for
                with self.lock:
                    self.errors.append(repr(e))
            self.done.wait(self.pause)

    def stop(self):
        self.done.set()
        for t in self.threads:
            t.join(timeout=40)
        assert not any(t.is_alive() for t in self.threads)
        assert not self.errors and self.ok == self.sent > 0, (self.sent, self.ok, self.errors[:5], self.srv.log())


def cheaper(uwsgi_server, *args):
    sport = free_port()
    srv = uwsgi_server('--wsgi-file', APP, '--master', '--stats', f'127.0.0.1:{sport}', *args)
    srv.stats = lambda: read_stats(sport)
    return srv


def stays(srv, n, seconds):
    """The worker count is n now and for `seconds` more."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if len(workers(srv)) != n:
            return False
        time.sleep(0.2)
    return len(workers(srv)) == n


def statuses(srv):
    return [(w['id'], w['status'], w['cheaped']) for w in srv.stats()['workers']]


def test_spare_grows_under_load_and_shrinks_back_losing_nothing(uwsgi_server):
    srv = cheaper(uwsgi_server, '--processes', '4', '--cheaper', '1', '--cheaper-overload', '1')
    assert wait_for(lambda: len(workers(srv)) == 1), srv.log()
    assert stays(srv, 1, 2), srv.log()
    assert [s[1:] for s in statuses(srv)[1:]] == [('cheap', 1)] * 3, statuses(srv)

    load = Load(srv, 6, '/sleep?1')
    assert wait_for(lambda: len(workers(srv)) == 4, 40), srv.log()
    assert all(w['cheaped'] == 0 and w['pid'] > 0 for w in srv.stats()['workers']), srv.stats()
    # While the workers go again, a light load (busy a third of the time: spare stops a worker
    # only while two are idle) keeps running across the shrink.
    light = Load(srv, 1, '/sleep?0.2', pause=0.4)
    load.stop()
    assert wait_for(lambda: len(workers(srv)) == 1, 40), srv.log()
    light.stop()
    assert stays(srv, 1, 2), srv.log()
    log = srv.log()
    assert 'cheaper: spawning 1 worker(s)' in log and 'busy for 1 s' in log, log
    assert log.count('stopped by cheaper') >= 3, log
    assert sorted(s[2] for s in statuses(srv)) == [0, 1, 1, 1], statuses(srv)


def test_cheaper_initial_starts_more_and_idle_ones_go(uwsgi_server):
    srv = cheaper(uwsgi_server, '--processes', '4', '--cheaper', '1', '--cheaper-initial', '3',
                  '--cheaper-overload', '1')
    assert 'spawning 3 worker(s)' in srv.log() or srv.wait_log('spawning 3 worker(s)'), srv.log()
    assert wait_for(lambda: len(workers(srv)) == 1, 30), srv.log()
    assert srv.request('GET', '/')[0] == 200


def test_backlog_algo_grows_on_the_listen_queue(uwsgi_server):
    srv = cheaper(uwsgi_server, '--processes', '3', '--cheaper', '1', '--cheaper-algo', 'backlog',
                  '--cheaper-overload', '1')
    assert wait_for(lambda: len(workers(srv)) == 1), srv.log()
    load = Load(srv, 6, '/sleep?1')
    assert wait_for(lambda: len(workers(srv)) == 3, 40), srv.log()
    load.stop()
    assert wait_for(lambda: len(workers(srv)) == 1, 40), srv.log()
    assert 'waiting in the listen queue' in srv.log(), srv.log()


def test_busyness_algo_grows_and_shrinks(uwsgi_server):
    srv = cheaper(uwsgi_server, '--processes', '3', '--cheaper', '1', '--cheaper-algo', 'busyness',
                  '--cheaper-overload', '1', '--cheaper-busyness-multiplier', '2',
                  '--cheaper-busyness-verbose')
    assert wait_for(lambda: len(workers(srv)) == 1), srv.log()
    load = Load(srv, 6, '/sleep?1')
    assert wait_for(lambda: len(workers(srv)) == 3, 40), srv.log()
    load.stop()
    assert wait_for(lambda: len(workers(srv)) == 1, 40), srv.log()
    log = srv.log()
    assert '[busyness] settings: min=25%, max=50%' in log and 'average busyness of' in log, log
    assert 'cheap one of' in log, log


def test_rss_limit_soft_stops_the_growth(uwsgi_server):
    srv = cheaper(uwsgi_server, '--processes', '3', '--cheaper', '1', '--cheaper-overload', '1',
                  '--cheaper-rss-limit-soft', '1')  # 1 byte: always reached
    assert wait_for(lambda: len(workers(srv)) == 1), srv.log()
    load = Load(srv, 3, '/sleep?1')
    assert srv.wait_log('reached --cheaper-rss-limit-soft', timeout=20), srv.log()
    assert stays(srv, 1, 2), srv.log()
    load.stop()


@pytest.mark.parametrize('args,name', [
    (['--processes', '4', '--cheaper', '4'], '--cheaper 4 must be lower than --processes 4'),
    (['--processes', '1', '--cheaper', '1'], '--cheaper 1 must be lower than --processes 1'),
    (['--processes', '4', '--cheaper', '1', '--cheaper-algo', 'sparse'], '--cheaper-algo sparse'),
    (['--processes', '4', '--cheaper', '2', '--cheaper-initial', '1'], '--cheaper-initial'),
    (['--processes', '4', '--cheaper', '1', '--cheaper-step', '0'], '--cheaper-step'),
    (['--processes', '4', '--cheaper', '1', '--cheaper-busyness-min', '60'], '--cheaper-busyness-min 60'),
    (['--processes', '4', '--cheaper', '1', '--cheaper-rss-limit-soft', '100', '--cheaper-rss-limit-hard', '50'],
     '--cheaper-rss-limit-hard'),
])
def test_bad_cheaper_options_stop_start_up(tmp_path, args, name):
    rc, log = fails_to_start(['--wsgi-file', APP, '--master'] + args, tmp_path)
    assert rc != 0 and name in log, log


def test_chain_reload_while_cheaper_stops_workers_finishes(uwsgi_server, tmp_path):
    trigger = tmp_path / 'chain'
    trigger.write_text('')
    srv = cheaper(uwsgi_server, '--processes', '3', '--cheaper', '1', '--cheaper-overload', '1',
                  '--touch-chain-reload', str(trigger))
    load = Load(srv, 4, '/sleep?1')
    assert wait_for(lambda: len(workers(srv)) == 3, 40), srv.log()
    load.stop()
    touch(trigger)  # the chain meets workers cheaper is stopping
    assert srv.wait_log('chain reload done', timeout=40), srv.log()
    assert wait_for(lambda: len(workers(srv)) == 1, 40), srv.log()
    assert srv.request('GET', '/')[0] == 200


def test_cheaper_algos_list_prints_them():
    out = subprocess.run([str(uwsgi_binary()), '--cheaper-algos-list'], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out
    assert out.stdout.split('\n')[1:6] == ['spare', 'spare2', 'backlog', 'busyness', 'manual'], out.stdout
