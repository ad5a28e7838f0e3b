"""--env NAME=VALUE sets a variable; --env NAME (no '=') removes NAME from the environment, as
uWSGI does (its putenv("NAME") unsets it: checked with Debian's uWSGI 2.0.21, where an inherited
NAME is gone and others stay)."""
import pytest

APP = """import os


def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [repr([os.environ.get(k, 'UNSET') for k in ('ENV_GONE', 'ENV_KEPT', 'ENV_SET', 'ENV_EMPTY')]).encode()]
"""


def test_env_without_equals_unsets_the_variable(uwsgi_server, tmp_path):
    app = tmp_path / 'env_app.py'
    app.write_text(APP)
    srv = uwsgi_server('--wsgi-file', app, '--env', 'ENV_GONE', '--env', 'ENV_SET=a=b', '--env', 'ENV_EMPTY=',
                       env={'ENV_GONE': 'inherited', 'ENV_KEPT': 'kept'})
    status, _, body = srv.request('GET', '/')
    assert status == 200
    assert body == repr(['UNSET', 'kept', 'a=b', '']).encode()


def test_env_with_an_empty_name_is_refused(uwsgi_server, tmp_path):
    with pytest.raises(RuntimeError) as e:
        uwsgi_server('--wsgi-file', tmp_path / 'none.py', '--env', '=x')
    assert 'NAME=VALUE' in str(e.value)
