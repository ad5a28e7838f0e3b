"""Process supervision details (issue 18): the master fifo's '+' / '-' under --cheaper, what
"busy" means for a worker with --threads, --min-worker-lifetime, and the supervised processes
(router, mules, spooler, daemons) in --stats with their respawn back-off."""
import os
import signal
import threading
import time

from conftest import app_path, free_port
from test_operations import read_stats
from test_supervision import wait_for, workers

APP = app_path('supervise_app.py')


def send(path, cmds):
    fd = os.open(str(path), os.O_WRONLY | os.O_NONBLOCK)
    try:
        os.write(fd, cmds.encode())
    finally:
        os.close(fd)


def with_stats(uwsgi_server, *args):
    sport = free_port()
    srv = uwsgi_server('--wsgi-file', APP, '--master', '--stats', f'127.0.0.1:{sport}', *args)
    srv.stats = lambda: read_stats(sport)
    return srv


def running(srv):
    """Workers --stats shows with a process (not cheap)."""
    return sum(1 for w in srv.stats()['workers'] if w['pid'] > 0 and w['status'] != 'cheap')


def stays(cond, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not cond():
            return False
        time.sleep(0.2)
    return cond()


def test_fifo_plus_and_minus_add_and_remove_a_worker_within_the_cheaper_bounds(uwsgi_server, tmp_path):
    fifo = tmp_path / 'fifo'
    srv = with_stats(uwsgi_server, '--processes', '3', '--cheaper', '1', '--cheaper-algo', 'manual',
                     '--master-fifo', str(fifo), '--reload-mercy', '3')
    assert wait_for(lambda: len(workers(srv)) == 1 and running(srv) == 1), srv.log()
    send(fifo, '+')
    assert wait_for(lambda: len(workers(srv)) == 2 and running(srv) == 2), srv.log()
    send(fifo, '+')
    assert wait_for(lambda: len(workers(srv)) == 3 and running(srv) == 3), srv.log()
    send(fifo, '+')  # --processes 3 is the most
    assert srv.wait_log('already at --processes 3 workers'), srv.log()
    assert stays(lambda: len(workers(srv)) == 3, 1.5), srv.log()
    send(fifo, '-')
    assert wait_for(lambda: len(workers(srv)) == 2 and running(srv) == 2), srv.log()
    send(fifo, '--')  # --cheaper 1 is the fewest
    assert wait_for(lambda: len(workers(srv)) == 1 and running(srv) == 1), srv.log()
    assert srv.wait_log('already at --cheaper 1 workers'), srv.log()
    assert stays(lambda: len(workers(srv)) == 1, 1.5), srv.log()
    assert srv.request('GET', '/')[0] == 200


def test_a_worker_with_one_busy_thread_is_busy_for_cheaper_and_stats(uwsgi_server):
    # uWSGI's meaning: a worker is busy while any of its threads runs a request (--stats says
    # "busy" then too). So one slow request in the only worker makes spare spawn another.
    srv = with_stats(uwsgi_server, '--processes', '3', '--cheaper', '1', '--cheaper-overload', '1',
                     '--threads', '4')
    assert wait_for(lambda: len(workers(srv)) == 1), srv.log()
    t = threading.Thread(target=lambda: srv.request('GET', '/sleep?6', timeout=20), daemon=True)
    t.start()
    assert wait_for(lambda: srv.stats()['workers'][0]['status'] == 'busy', 5), srv.stats()
    assert wait_for(lambda: len(workers(srv)) >= 2, 8), srv.log()
    assert 'cheaper: spawning' in srv.log()
    t.join(timeout=20)


def test_min_worker_lifetime_delays_a_max_requests_recycle(uwsgi_server):
    srv = uwsgi_server('--wsgi-file', APP, '--master', '--max-requests', '2', '--min-worker-lifetime', '3')
    assert wait_for(lambda: len(workers(srv)) == 1), srv.log()
    first = workers(srv)[0]
    started = time.monotonic()
    pids = set()
    for _ in range(6):
        status, _, body = srv.request('GET', '/')
        assert status == 200
        pids.add(int(body))
    assert pids == {first}, (pids, srv.log())  # too young to be recycled
    assert srv.wait_log('--min-worker-lifetime'), srv.log()
    # Once older, the next request recycles it.
    time.sleep(max(0.0, 3.3 - (time.monotonic() - started)))
    srv.request('GET', '/')
    assert wait_for(lambda: workers(srv) and workers(srv) != [first], 10), srv.log()
    assert srv.wait_log('reached --max-requests'), srv.log()


def test_a_worker_that_keeps_dying_young_is_respawned_with_a_growing_back_off(uwsgi_server):
    srv = uwsgi_server('--wsgi-file', APP, '--master')
    seen = []
    for _ in range(3):
        assert wait_for(lambda: len(workers(srv)) == 1 and workers(srv)[0] not in seen, 15), srv.log()
        seen.append(workers(srv)[0])
        os.kill(seen[-1], signal.SIGKILL)
    log = srv.log()
    assert 'respawning it in 1 s' in log and 'respawning it in 2 s' in log, log
    assert wait_for(lambda: len(workers(srv)) == 1 and workers(srv)[0] not in seen, 15), srv.log()
    assert srv.request('GET', '/')[0] == 200


def test_stats_show_every_supervised_process_with_its_respawns(uwsgi_server, tmp_path):
    # One HTTP router, a mule, a spooler and a daemon: each in --stats with pid, respawn_count
    # and last_spawn; a killed one is respawned (after the back-off when it died young).
    sport, port = free_port(), free_port()
    spool = tmp_path / 'spool'
    srv = uwsgi_server('--http', f'127.0.0.1:{port}', '--http-socket', f'127.0.0.1:{free_port()}',
                       '--wsgi-file', APP, '--master', '--stats', f'127.0.0.1:{sport}', '--mules', '1',
                       '--spooler', str(spool), '--attach-daemon', 'sleep 600', port=port, http=False)
    stats = lambda: read_stats(sport)  # noqa: E731

    def by_kind():
        return {p['kind']: p for p in stats().get('supervised', [])}

    assert wait_for(lambda: set(by_kind()) == {'router', 'mule', 'spooler'}
                    and all(p['pid'] > 0 for p in by_kind().values())), stats()
    before = by_kind()
    for p in before.values():
        assert p['respawn_count'] == 0 and p['last_spawn'] > 0 and p['id'] == 1, p
    (daemon,) = stats()['daemons']
    assert daemon['pid'] > 0 and daemon['last_spawn'] > 0 and daemon['respawns'] == 0, daemon
    for kind in ('router', 'mule', 'spooler'):
        os.kill(before[kind]['pid'], signal.SIGKILL)
    assert wait_for(lambda: all(p['pid'] > 0 and p['respawn_count'] == 1 for p in by_kind().values()), 15), \
        (stats(), srv.log())
    after = by_kind()
    assert all(after[k]['pid'] != before[k]['pid'] for k in after), (before, after)
    # A mule killed again as soon as it is back died young: its respawn waits for the back-off.
    for _ in range(5):
        mule = by_kind()['mule']['pid']
        os.kill(mule, signal.SIGKILL)
        if srv.wait_log('mule 1 (pid %d) killed by signal 9: respawning after a back-off' % mule, 3):
            break
        assert wait_for(lambda: by_kind()['mule']['pid'] not in (0, mule), 15), stats()
    else:
        raise AssertionError(srv.log())
    assert wait_for(lambda: by_kind()['mule']['pid'] > 0, 15), stats()
    status, _, _ = srv.request('GET', '/')
    assert status == 200


def test_auto_procname_names_the_router_mules_and_spooler(uwsgi_server, tmp_path):
    sport, port = free_port(), free_port()
    srv = uwsgi_server('--http', f'127.0.0.1:{port}', '--http-socket', f'127.0.0.1:{free_port()}',
                       '--wsgi-file', APP, '--master', '--stats', f'127.0.0.1:{sport}', '--mules', '1',
                       '--spooler', str(tmp_path / 'spool'), '--auto-procname', '--procname-prefix', 'x-',
                       port=port, http=False)

    def names():
        out = {}
        for p in read_stats(sport).get('supervised', []):
            try:
                out[p['kind']] = open(f"/proc/{p['pid']}/cmdline", 'rb').read().split(b'\0')[0].decode()
            except OSError:
                pass
        return out

    want = {'router': 'x-uWSGI http 1', 'mule': 'x-uWSGI mule 1', 'spooler': 'x-uWSGI spooler'}
    assert wait_for(lambda: names() == want, 10), (names(), srv.log())
