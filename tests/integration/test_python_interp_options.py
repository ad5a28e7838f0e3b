"""Options that shape the embedded interpreter: -O/--optimize, --no-site, --py-program-name and
--py-executable (apps/opts2_app.py reports sys.flags, sys.executable and friends)."""
import json
import subprocess

import pytest

from conftest import app_path, base_args, free_port, uwsgi_binary

APP = app_path('opts2_app.py')


def facts(uwsgi_server, *opts):
    srv = uwsgi_server('--wsgi-file', APP, *opts)
    status, _, body = srv.request('GET', '/')
    assert status == 200, (body, srv.log()[-2000:])
    return json.loads(body)


def test_defaults(uwsgi_server):
    f = facts(uwsgi_server)
    assert (f['optimize'], f['debug'], f['doc'], f['no_site'], f['site_loaded']) == (0, True, 'the app', 0, True)


@pytest.mark.parametrize('opts,level', [(['-O', '1'], 1), (['--optimize', '2'], 2), (['-O', '0'], 0),
                                        (['--optimize=1'], 1)])
def test_optimize_sets_the_level(uwsgi_server, opts, level):
    f = facts(uwsgi_server, *opts)
    assert f['optimize'] == level
    assert f['debug'] is (level == 0)  # -O drops asserts (__debug__ is False)
    assert (f['doc'] is None) is (level == 2)  # -OO drops docstrings too


@pytest.mark.parametrize('value', ['3', 'x', '-1'])
def test_optimize_out_of_range_stops_start_up(value):
    r = subprocess.run([str(uwsgi_binary())] + base_args() +
                       ['--http-socket', f'127.0.0.1:{free_port()}', '--wsgi-file', APP, f'--optimize={value}'],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 1
    out = r.stdout + r.stderr
    assert '--optimize must be 0, 1 or 2' in out or '--optimize' in out and 'number' in out, out


def test_no_site(uwsgi_server):
    f = facts(uwsgi_server, '--no-site')
    assert f['no_site'] == 1 and f['site_loaded'] is False


@pytest.mark.parametrize('opt', ['--py-executable', '--py-sys-executable'])
def test_py_executable_sets_sys_executable(uwsgi_server, opt):
    assert facts(uwsgi_server, opt, '/opt/somewhere/python')['executable'] == '/opt/somewhere/python'


@pytest.mark.parametrize('opt', ['--py-program-name', '--py-programname'])
def test_py_program_name_is_what_cpython_starts_from(uwsgi_server, opt):
    # CPython derives sys.executable (and finds its prefix) from the program name.
    default = facts(uwsgi_server)
    f = facts(uwsgi_server, opt, '/usr/bin/python3')
    assert f['executable'] == '/usr/bin/python3' != default['executable']
    assert f['prefix'] == default['prefix'] == '/usr'
