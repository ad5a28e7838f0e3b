"""--py-tracebacker PATH: a unix socket per worker (PATH1, PATH2...) that prints the Python stack
of each of the worker's threads; `uwsgi --connect-and-read PATH1` reads one (apps/opts2_app.py)."""
import subprocess
import threading
import time

from conftest import app_path, base_args, uwsgi_binary

APP = app_path('opts2_app.py')


def connect_and_read(path):
    r = subprocess.run([str(uwsgi_binary())] + base_args() + ['--connect-and-read', str(path)],
                       capture_output=True, text=True, timeout=20)
    return r.returncode, r.stdout, r.stderr


def test_tracebacker_shows_every_thread_of_a_busy_worker(uwsgi_server, tmp_path):
    base = tmp_path / 'tb'
    srv = uwsgi_server('--wsgi-file', APP, '--master', '--processes', '2', '--py-tracebacker', str(base))
    for wid in (1, 2):
        assert srv.wait_log(f'python tracebacker for worker {wid} available on {base}{wid}')
    done = []
    t = threading.Thread(target=lambda: done.append(srv.request('GET', '/sleep', timeout=20)))
    t.start()
    try:
        assert srv.wait_log('SLEEPING')
        outs = [connect_and_read(f'{base}{wid}') for wid in (1, 2)]
    finally:
        t.join(30)
    assert done and done[0][0] == 200
    assert all(rc == 0 and out.startswith('*** uWSGI Python tracebacker output ***\n\n') for rc, out, _ in outs)
    busy = [out for _, out, _ in outs if 'function = application' in out]
    assert len(busy) == 1, outs
    out = busy[0]
    # The request's own thread, by uWSGI's name, in the app's frame with its source line.
    assert any(line.startswith('thread_id = uWSGIWorker') and 'Core0 filename = ' in line and
               'function = application line = time.sleep(0.05)' in line for line in out.splitlines()), out
    # The app's own thread, by its name.
    assert 'thread_id = opts2-sleeper filename = ' in out and 'function = bg_sleeper' in out


def test_a_single_process_starts_its_tracebacker_with_its_first_request(uwsgi_server, tmp_path):
    base = tmp_path / 'tb'
    srv = uwsgi_server('--wsgi-file', APP, '--py-tracebacker', str(base))
    assert srv.request('GET', '/')[0] == 200
    assert srv.wait_log(f'python tracebacker for worker 1 available on {base}1')
    rc, out, _ = connect_and_read(f'{base}1')
    assert rc == 0 and out.startswith('*** uWSGI Python tracebacker output ***')


def test_connect_and_read_of_a_missing_socket_fails(tmp_path):
    rc, out, err = connect_and_read(tmp_path / 'nothing')
    assert rc == 1 and '--connect-and-read' in err


def test_request_threads_are_named_by_their_core(uwsgi_server, tmp_path):
    base = tmp_path / 'tb'
    srv = uwsgi_server('--wsgi-file', APP, '--master', '--processes', '1', '--threads', '4',
                       '--py-tracebacker', str(base))
    assert srv.wait_log(f'available on {base}1')
    done = []
    threads = [threading.Thread(target=lambda: done.append(srv.request('GET', '/sleep?2', timeout=20)))
               for _ in range(3)]
    for t in threads:
        t.start()
    try:
        assert srv.wait_log('SLEEPING')
        deadline = time.monotonic() + 5
        while True:  # until the three requests are all inside the app
            rc, out, _ = connect_and_read(f'{base}1')
            busy = {line.split()[2] for line in out.splitlines() if 'function = application' in line}
            if len(busy) == 3 or time.monotonic() > deadline:
                break
    finally:
        for t in threads:
            t.join(30)
    assert rc == 0 and len(busy) == 3, out
    assert all(name.startswith('uWSGIWorker1Core') for name in busy), busy
