"""threading.local under async cores: every suspend engine gives each core its own thread-local
state (issue 21 item 17: under --greenlet all cores shared one, and Bottle answered with another
request's data)."""
import pytest

from conftest import app_path
from test_async import concurrent_get

ENGINES = {
    'greenlet': ['--plugins', 'greenlet', '--greenlet'],
    'ugreen': ['--plugins', 'ugreen', '--ugreen'],
    'fcontext': ['--plugins', 'fcontext', '--fcontext'],
}


@pytest.mark.parametrize('engine', list(ENGINES))
@pytest.mark.parametrize('route', ['local', 'bottle'])
def test_each_core_sees_its_own_thread_locals(uwsgi_server, engine, route):
    srv = uwsgi_server(*ENGINES[engine], '--async', '10', '--disable-logging',
                       '--wsgi-file', app_path('thread_local_app.py'))
    for _ in range(2):  # the second round reuses cores that already ran a request
        paths = [f'/{route}?r{i}' for i in range(10)]
        results, _ = concurrent_get(srv.port, paths)
        for i, r in enumerate(results):
            assert r is not None and r[0] == 200, (i, r, srv.log()[-2000:])
            assert r[1] == f'tag=r{i} seen=r{i}'.encode(), (i, r)
