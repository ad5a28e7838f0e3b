"""The gevent loop engine page's "crazy example", ported to Python 3: sleeps inside a request,
resolves names concurrently (localhost instead of internet hosts) and leaves a background
greenlet running after the response ended. The background task reports to the file named by
?out=PATH so a test can watch it."""
import urllib.parse

import gevent
import gevent.socket


def bg_task(path):
    for i in range(1, 4):
        with open(path, 'a') as f:
            f.write(f'background task {i}\n')
        gevent.sleep(0.3)
    with open(path, 'a') as f:
        f.write('background done\n')


def long_task():
    for i in range(1, 10):
        print(i)
        gevent.sleep()


def application(e, sr):
    out = urllib.parse.parse_qs(e.get('QUERY_STRING', '')).get('out', [None])[0]
    sr('200 OK', [('Content-Type', 'text/html')])
    t = gevent.spawn(long_task)
    t.join()
    yield b'sleeping for 1 second...\n'
    gevent.sleep(1)
    yield b'done\n'
    yield b'getting some ips...\n'
    urls = ['localhost', 'localhost', 'localhost', 'localhost']
    jobs = [gevent.spawn(gevent.socket.gethostbyname, url) for url in urls]
    gevent.joinall(jobs, timeout=2)
    for j in jobs:
        yield ('ip = %s\n' % j.value).encode()
    if out:
        gevent.spawn(bg_task, out)  # this task will go on after request end
