"""--reload-on-exception and its -type/-value/-repr forms: a worker whose app raised a matching
exception answers that request (500), finishes, and is replaced by the master; one that raised
another exception serves on (apps/opts2_app.py)."""
import json

import pytest

from conftest import app_path

APP = app_path('opts2_app.py')


def pid(srv):
    status, _, body = srv.request('GET', '/')
    assert status == 200, (status, body, srv.log()[-2000:])
    return json.loads(body)['pid']


def raise_then_pid(srv, kind):
    """Raise ?kind in the app; the pid of the worker that serves the next request."""
    before = pid(srv)
    status, _, _ = srv.request('GET', '/raise?' + kind)
    assert status == 500
    # A matching exception made the worker stop accepting: the next request waits in the listen
    # queue for its replacement. Otherwise the same (only) worker answers it.
    return before, pid(srv)


@pytest.mark.parametrize('opts,kind', [
    (['--reload-on-exception'], 'app'),
    (['--reload-on-exception-type', 'ZeroDivisionError'], 'zero'),
    (['--reload-on-exception-type', 'AppError'], 'app'),
    (['--reload-on-exception-type', 'builtins.KeyError'], 'key'),
    (['--reload-on-exception-value', 'boom value'], 'app'),
    (['--reload-on-exception-value', "'k'"], 'key'),
    (['--reload-on-exception-repr', "ZeroDivisionError('division by zero')"], 'zero'),
    (['--reload-on-exception-repr', 'division by zero'], 'zero'),  # what uWSGI 2.0.21 compares
    (['--reload-on-exception-type', 'KeyError', '--reload-on-exception-type', 'AppError'], 'app'),
])
def test_a_matching_exception_replaces_the_worker(uwsgi_server, opts, kind):
    srv = uwsgi_server('--wsgi-file', APP, '--master', '--processes', '1', *opts)
    before, after = raise_then_pid(srv, kind)
    assert after != before, srv.log()[-3000:]
    assert srv.wait_log('monitored exception detected')
    assert 'Traceback' in srv.log()


@pytest.mark.parametrize('opts,kind', [
    ([], 'app'),
    (['--reload-on-exception-type', 'ZeroDivisionError'], 'app'),
    (['--reload-on-exception-value', 'boom'], 'app'),
    (['--reload-on-exception-repr', "AppError('other')"], 'app'),
    (['--reload-on-exception=false'], 'zero'),
])
def test_another_exception_keeps_the_worker(uwsgi_server, opts, kind):
    srv = uwsgi_server('--wsgi-file', APP, '--master', '--processes', '1', *opts)
    before, after = raise_then_pid(srv, kind)
    assert after == before
    assert 'monitored exception' not in srv.log()


def test_a_client_that_went_away_is_no_app_exception(uwsgi_server):
    # Only the app's own exceptions count: requests that succeed never reload.
    srv = uwsgi_server('--wsgi-file', APP, '--master', '--processes', '1', '--reload-on-exception')
    first = pid(srv)
    assert [pid(srv) for _ in range(3)] == [first] * 3
