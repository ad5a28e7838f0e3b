"""--locks and --cache2 across real workers: the cache is one for every worker and survives a
worker's death, store= keeps it across a restart, uwsgi.lock() (@lock) excludes across workers
under load, and bad --cache2 values stop start-up naming the key."""
import os
import subprocess
import threading
import time

from conftest import app_path, base_args, free_port, start_uwsgi, uwsgi_binary
from helpers_core import get_json as get

APP = app_path('shared_state_app.py')


def test_cache_is_shared_by_every_worker_and_survives_a_worker_death(tmp_path):
    srv = start_uwsgi(['--wsgi-file', APP, '--master', '--processes', '2', '--cache2', 'name=c,items=100,blocksize=1024',
                       '--cache2', 'name=other,items=4'], timeout=10, log_dir=str(tmp_path))
    try:
        assert get(srv, '/set?k=a&v=1&cache=c')['r'] is True
        assert get(srv, '/set?k=a&v=2&cache=c')['r'] is None       # cache_set refuses an existing key
        assert get(srv, '/update?k=a&v=3&cache=c')['r'] is True
        assert get(srv, '/get?k=a&cache=other')['r'] is None        # caches are separate
        # Every worker reads the value: ask until both pids answered (bounded).
        pids = {}
        for _ in range(200):
            got = get(srv, '/get?k=a&cache=c')
            pids[got['pid']] = got['r']
            if len(pids) == 2:
                break
        assert len(pids) == 2 and set(pids.values()) == {'3'}, pids
        for _ in range(20):
            get(srv, '/inc?k=hits&cache=c')
        assert get(srv, '/inc?k=hits&cache=c')['n'] == 21
        # A worker dies (os._exit) and is respawned: the items stay.
        try:
            srv.request('GET', '/crash')
        except Exception:
            pass
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if get(srv, '/get?k=a&cache=c')['r'] == '3':
                    break
            except Exception:
                time.sleep(0.1)
        assert get(srv, '/get?k=a&cache=c')['r'] == '3'
        assert get(srv, '/keys?cache=c')['r'] == ['a', 'hits']
        assert get(srv, '/del?k=a&cache=c')['r'] is True
        assert get(srv, '/get?k=a&cache=c')['r'] is None
        assert 'no cache named missing' in get(srv, '/nocache')['r']
    finally:
        srv.stop()


def test_cache_expires_items():
    srv = start_uwsgi(['--wsgi-file', APP, '--cache', '10'], timeout=10)
    try:
        assert get(srv, '/set?k=t&v=x&expires=1')['r'] is True
        assert get(srv, '/get?k=t')['r'] == 'x'
        time.sleep(2.1)
        assert get(srv, '/get?k=t')['r'] is None
    finally:
        srv.stop()


def test_cache_store_survives_a_restart(tmp_path):
    store = tmp_path / 'cache.store'
    args = ['--wsgi-file', APP, '--master', '--cache2', f'name=p,items=10,blocksize=256,store={store}']
    srv = start_uwsgi(args, timeout=10)
    try:
        assert get(srv, '/set?k=kept&v=yes&cache=p')['r'] is True
    finally:
        srv.stop()
    srv = start_uwsgi(args, timeout=10)
    try:
        assert get(srv, '/get?k=kept&cache=p')['r'] == 'yes'
    finally:
        srv.stop()


def test_lock_excludes_across_workers_under_load(tmp_path):
    counter = tmp_path / 'counter'
    counter.write_text('0')
    srv = start_uwsgi(['--wsgi-file', APP, '--master', '--processes', '4', '--locks', '2'], timeout=10,
                      env={'SHARED_COUNTER_FILE': str(counter)})
    try:
        errors = []

        def client():
            try:
                for _ in range(25):
                    get(srv, '/bump')
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(repr(e))

        threads = [threading.Thread(target=client) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors, errors[:3]
        assert counter.read_text() == '200'  # no update lost: the lock excluded every other worker
    finally:
        srv.stop()


def run_bad(*args):
    cmd = [str(uwsgi_binary())] + base_args() + ['--http-socket', f'127.0.0.1:{free_port()}', '--wsgi-file', APP] + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)


def test_bad_cache_values_stop_startup_naming_them():
    p = run_bad('--cache2', 'name=x,items=10,colour=red')
    assert p.returncode != 0 and 'colour' in p.stdout + p.stderr
    p = run_bad('--cache2', 'items=10')
    assert p.returncode != 0 and 'name=' in p.stdout + p.stderr
    p = run_bad('--cache2', 'name=x,items=10', '--cache2', 'name=x,items=5')
    assert p.returncode != 0 and 'defined twice' in p.stdout + p.stderr
    p = run_bad('--locks', 'many')
    assert p.returncode != 0 and 'locks' in p.stdout + p.stderr
