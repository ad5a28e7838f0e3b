"""Plugin autoload: an option (or an engine name) of a shared plugin of this build loads that
plugin, found through the NAME_plugin.options manifests written beside the .so at build time.
The seed documents' command lines run verbatim (with free ports)."""
import re
import subprocess

import pytest

from conftest import base_args, free_port, start_uwsgi, uwsgi_binary
from helpers_core import HttpReader, cgi_vars, connect, http_get, uwsgi_packet

MYAPP = '''
import sys
def application(env, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [('myapp gevent=%s' % ('gevent' in sys.modules)).encode()]
'''


def run_uwsgi(args, cwd, timeout=15):
    p = subprocess.run([str(uwsgi_binary())] + base_args() + [str(a) for a in args], cwd=cwd,
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=timeout)
    return p.returncode, p.stdout


def uwsgi_get(port, path='/'):
    with connect(port) as s:
        s.sendall(uwsgi_packet(cgi_vars('GET', path)))
        r = HttpReader(s).read_response()
    return r.status, r.body.decode()


@pytest.fixture
def appdir(tmp_path):
    (tmp_path / 'myapp.py').write_text(MYAPP)
    return tmp_path


@pytest.fixture(autouse=True)
def manifests_built():
    if not (uwsgi_binary().parent / 'gevent_plugin.options').exists():
        pytest.skip('no plugin manifests beside the binary (shared plugins not built)')


def serve(args, cwd, port, http=False):
    return start_uwsgi(args, port=port, http=http, cwd=str(cwd), log_dir=str(cwd))


def test_seed_gevent_command_line_verbatim(appdir):
    port = free_port()
    srv = serve(['--gevent', '100', '--socket', f':{port}', '--module', 'myapp'], appdir, port)
    try:
        assert uwsgi_get(port) == (200, 'myapp gevent=True')
        log = srv.log()
        lines = [l for l in log.splitlines() if 'loaded for' in l]
        assert len(lines) == 1 and 'plugin gevent loaded for --gevent' in lines[0], log
        assert 'gevent_plugin.so' in lines[0], log
    finally:
        srv.stop()


def test_seed_ugreen_command_line_verbatim(appdir):
    port = free_port()
    srv = serve(['--async', '100', '--ugreen', '--socket', f':{port}', '--module', 'myapp'], appdir, port)
    try:
        assert uwsgi_get(port) == (200, 'myapp gevent=False')
        assert 'plugin ugreen loaded for --ugreen' in srv.log(), srv.log()
    finally:
        srv.stop()


def test_ini_with_a_plugin_option_and_no_plugins_line(appdir):
    port = free_port()
    (appdir / 'app.ini').write_text(f'[uwsgi]\nhttp-socket = 127.0.0.1:{port}\ngevent = 10\nmodule = myapp\n')
    srv = serve(['--ini', 'app.ini'], appdir, port)
    try:
        assert http_get(port, '/') == (200, 'myapp gevent=True')
        assert 'plugin gevent loaded for --gevent' in srv.log()
    finally:
        srv.stop()


def test_io_engine_value_loads_its_plugin(appdir):
    port = free_port()
    srv = serve(['--io-engine', 'libuv', '--http-socket', f'127.0.0.1:{port}', '--module', 'myapp'], appdir, port)
    try:
        assert http_get(port, '/') == (200, 'myapp gevent=False')
        assert 'plugin libuv loaded for --io-engine libuv' in srv.log(), srv.log()
    finally:
        srv.stop()
    # With async cores on another autoloaded suspend engine, chosen by value too.
    port = free_port()
    srv = serve(['--async', '4', '--suspend-engine', 'fcontext', '--io-engine', 'libev',
                 '--http-socket', f'127.0.0.1:{port}', '--module', 'myapp'], appdir, port)
    try:
        assert http_get(port, '/') == (200, 'myapp gevent=False')
        log = srv.log()
        assert 'plugin fcontext loaded for --suspend-engine fcontext' in log, log
        assert 'plugin libev loaded for --io-engine libev' in log, log
    finally:
        srv.stop()


def test_loop_engine_value_loads_gevent(appdir):
    port = free_port()
    srv = serve(['--loop-engine', 'gevent', '--http-socket', f'127.0.0.1:{port}', '--module', 'myapp'], appdir, port)
    try:
        assert http_get(port, '/') == (200, 'myapp gevent=True')
        assert 'plugin gevent loaded for --loop-engine gevent' in srv.log()
    finally:
        srv.stop()


def test_plugins_still_work_and_uwsgi_plugin_names_are_accepted(appdir):
    """--plugins with Debian's / older packages' names; an already loaded plugin is fine."""
    port = free_port()
    srv = serve(['--plugins', 'python3,gevent3', '--plugin', 'gevent_python3', '--gevent', '10',
                 '--http-socket', f'127.0.0.1:{port}', '--module', 'myapp'], appdir, port)
    try:
        assert http_get(port, '/') == (200, 'myapp gevent=True')
        assert 'loaded for' not in srv.log()  # named, not autoloaded
    finally:
        srv.stop()
    port = free_port()
    srv = serve(['--plugins', 'python311,logfile,router_redirect', '--http-socket', f'127.0.0.1:{port}',
                 '--module', 'myapp'], appdir, port)
    try:
        assert http_get(port, '/') == (200, 'myapp gevent=False')
    finally:
        srv.stop()


@pytest.mark.parametrize('plugin,words', [('fastrouter', ['"fastrouter"', 'not built yet', '--http-socket']),
                                          ('python2', ['"python2"', 'Python 3']),
                                          ('nosuchplugin', ['"nosuchplugin"', 'not found'])])
def test_plugin_names_not_provided_stop_start_up(appdir, plugin, words):
    rc, out = run_uwsgi(['--plugins', plugin, '--http-socket', f'127.0.0.1:{free_port()}'], cwd=appdir)
    assert rc != 0 and 'bound on' not in out, out
    for w in words:
        assert w in out, out


def test_unknown_option_is_still_an_error_naming_it(appdir):
    rc, out = run_uwsgi(['--gevnt', '10', '--http-socket', f'127.0.0.1:{free_port()}'], cwd=appdir)
    assert rc != 0 and 'bound on' not in out, out
    assert 'unknown option --gevnt (did you mean --gevent?)' in out, out
    rc, out = run_uwsgi(['--no-such-option-at-all', '--http-socket', f'127.0.0.1:{free_port()}'], cwd=appdir)
    assert rc != 0 and 'unknown option --no-such-option-at-all' in out and 'did you mean' not in out, out
    # In a file a key that is no option is a custom placeholder (as in uWSGI): a warning that
    # names it and its likely meaning; with strict = true, an error.
    (appdir / 'bad.ini').write_text('[uwsgi]\nstrict = true\nhttp-socket = 127.0.0.1:1\nugren = true\n')
    rc, out = run_uwsgi(['--ini', 'bad.ini'], cwd=appdir)
    assert rc != 0 and '"ugren"' in out and 'did you mean --ugreen?' in out and 'bad.ini:4' in out, out


def test_stale_manifest_is_a_clear_error(appdir):
    plugdir = appdir / 'plugins'
    plugdir.mkdir()
    (plugdir / 'ghost_plugin.options').write_text(
        'plugin\tghost\noption\tghost-cores\trequired\t1\t-\t-\tcores of the ghost\n')
    rc, out = run_uwsgi(['--plugin-dir', plugdir, '--ghost-cores', '3', '--http-socket', f'127.0.0.1:{free_port()}'],
                        cwd=appdir)
    assert rc != 0 and 'bound on' not in out, out
    assert '--ghost-cores belongs to plugin "ghost"' in out and str(plugdir / 'ghost_plugin.options') in out, out
    assert f'{plugdir}/ghost_plugin.so is missing' in out and 'stale manifest' in out, out
    # A manifest that claims an option its plugin does not register.
    (plugdir / 'ghost_plugin.options').write_text('plugin\tghost\noption\tugreen-stacksize\trequired\t1\t-\t-\tx\n')
    (plugdir / 'liar_plugin.options').write_text('plugin\tlibev\noption\tliar-option\tnone\t0\t-\t-\tx\n')
    rc, out = run_uwsgi(['--plugin-dir', plugdir, '--plugins', 'libev', '--liar-option',
                         '--http-socket', f'127.0.0.1:{free_port()}'], cwd=appdir)
    assert rc != 0 and 'no option --liar-option' in out and 'stale' in out, out


def test_help_lists_the_options_of_shared_plugins(appdir):
    rc, out = run_uwsgi(['--help'], cwd=appdir)
    assert rc == 0, out
    assert 'gevent options (plugin ' in out and 'loaded when one of them is used' in out, out
    for opt in ['--gevent ', '--gevent-monkey-patch', '--ugreen-stacksize', '--fcontext', '--greenlet']:
        assert opt in out, opt
    # A start that needs no plugin loads none.
    port = free_port()
    srv = serve(['--http-socket', f'127.0.0.1:{port}', '--module', 'myapp'], appdir, port)
    try:
        assert http_get(port, '/') == (200, 'myapp gevent=False')
        mapped = set(re.findall(r'/(\w+)_plugin\.so', open(f'/proc/{srv.proc.pid}/maps').read()))
        args = base_args()  # e.g. UWSGI_ARGS='--plugins python' for the core profile
        named = set(args[args.index('--plugins') + 1].split(',')) if '--plugins' in args else set()
        assert mapped <= named, mapped
    finally:
        srv.stop()
