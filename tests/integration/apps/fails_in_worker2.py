"""With --lazy-apps: fails to import in worker 2 only, loads in worker 1."""
import uwsgi

if uwsgi.worker_id() == 2:
    raise RuntimeError('worker-2-cannot-load')


def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'worker %d' % uwsgi.worker_id()]
