"""Third-party plugins: the ABI check at start-up, the example poll engine built out of tree,
`make install` + `uwsgi --build-plugin` against the installed copy, and the generated option docs."""
import configparser
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import ROOT, base_args, free_port, start_uwsgi, uwsgi_binary
from helpers_core import http_get

PY = '/usr/bin/python3'
EXAMPLE = ROOT / 'examples' / 'pollengine'

# A WSGI app for the async tests: /sleep?S suspends the core for S seconds, anything else answers
# at once; every answer names the path and the core that served it.
ASYNC_APP = '''
import uwsgi
def application(env, start_response):
    path, qs = env['PATH_INFO'], env.get('QUERY_STRING', '')
    if path == '/sleep':
        uwsgi.async_sleep(float(qs or '0.3'))
        uwsgi.suspend()
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [('%s %s core=%d' % (path, qs, env['uwsgi.core'])).encode()]
'''


def abi_version():
    text = (ROOT / 'include' / 'uwsgi' / 'plugin.h').read_text()
    return int(re.search(r'#define UWSGI_PLUGIN_ABI_VERSION (\d+)', text).group(1))


def run_uwsgi(args, cwd, timeout=10):
    """Run the binary to completion: (returncode, combined output)."""
    p = subprocess.run([str(uwsgi_binary())] + base_args() + [str(a) for a in args], cwd=cwd, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
    return p.returncode, p.stdout


def fake_plugin(tmp_path, name, abi, build_id):
    """A plugin table written by hand in C (same layout as uwsgi::PluginInfo), so any ABI number
    or build id can be claimed. create() aborts: the loader must refuse before calling it."""
    src = tmp_path / f'{name}.c'
    src.write_text(
        '#include <stdlib.h>\n'
        'struct info { unsigned abi; const char* build; const char* name; void* (*create)(void); };\n'
        'static void* create(void) { abort(); }\n'
        f'const struct info {name}_uwsgi_plugin = {{{abi}, "{build_id}", "{name}", create}};\n')
    so = tmp_path / f'{name}_plugin.so'
    subprocess.run(['gcc', '-shared', '-fPIC', '-o', str(so), str(src)], check=True)
    return so


def server_build_id(tmp_path):
    """The build id this server expects, as the header computes it."""
    src = tmp_path / 'id.cc'
    src.write_text('#include <uwsgi/plugin.h>\n#include <cstdio>\nint main() { puts(UWSGI_PLUGIN_BUILD_ID); }\n')
    exe = tmp_path / 'id'
    subprocess.run(['g++', '-std=c++20', '-I', str(ROOT / 'include'), '-o', str(exe), str(src)], check=True)
    return subprocess.check_output([str(exe)], text=True).strip()


def test_plugin_with_another_abi_is_refused_at_start_up(tmp_path):
    so = fake_plugin(tmp_path, 'oldabi', 999, server_build_id(tmp_path))
    (tmp_path / 'app.py').write_text(ASYNC_APP)
    rc, out = run_uwsgi(['--plugins', so, '--http-socket', f'127.0.0.1:{free_port()}', '--wsgi-file', 'app.py'],
                        cwd=tmp_path)
    assert rc != 0, out
    assert 'oldabi' in out and str(so) in out, out
    assert f'plugin ABI 999 but this server speaks ABI {abi_version()}' in out, out
    assert 'rebuild it' in out, out
    assert 'bound on' not in out and 'Aborted' not in out, out  # refused before binding or create()


def test_plugin_from_another_compiler_is_refused_at_start_up(tmp_path):
    so = fake_plugin(tmp_path, 'otherabi', abi_version(), 'clang99-cxx11abi0-abi1')
    rc, out = run_uwsgi(['--plugins', so, '--http-socket', f'127.0.0.1:{free_port()}'], cwd=tmp_path)
    assert rc != 0, out
    assert 'incompatible compiler/C++ ABI (clang99-cxx11abi0-abi1' in out, out


def build_example(cwd, cmd):
    """Copy examples/pollengine to cwd/src (truly out of tree) and build it with cmd + [src]."""
    src = Path(cwd) / 'src' / 'pollengine'
    shutil.copytree(EXAMPLE, src)
    r = subprocess.run(cmd + [str(src)], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stdout
    so = Path(cwd) / 'poll_plugin.so'
    assert so.exists(), r.stdout
    return so


def concurrent_gets(port, paths):
    results = [None] * len(paths)

    def one(i):
        results[i] = http_get(port, paths[i])
    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(paths))]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, time.monotonic() - t0


def test_poll_engine_built_out_of_tree_serves_concurrent_requests(tmp_path):
    so = build_example(tmp_path, [PY, str(ROOT / 'uwsgiconfig.py'), '--plugin'])
    assert (tmp_path / 'build' / 'plugins' / 'poll').is_dir()  # objects stay in the cwd, not the tree
    (tmp_path / 'app.py').write_text(ASYNC_APP)

    # Its option shows in --help once the plugin is named.
    rc, out = run_uwsgi(['--plugins', './poll_plugin.so', '--help'], cwd=tmp_path)
    assert rc == 0 and 'poll options:' in out and '--poll-engine' in out, out

    # Its manifest is written beside it, so the engine name alone loads it (fcontext: its option).
    manifest = (tmp_path / 'poll_plugin.options').read_text()
    assert 'plugin\tpoll\n' in manifest and 'engine\tio-engine\tpoll\n' in manifest, manifest
    assert 'option\tpoll-engine\tnone' in manifest, manifest
    srv = start_uwsgi(['--plugin-dir', '.', '--async', '10', '--fcontext',
                       '--io-engine', 'poll', '--wsgi-file', 'app.py'], cwd=str(tmp_path), log_dir=str(tmp_path))
    assert 'plugin poll loaded for --io-engine poll' in srv.log(), srv.log()
    assert 'plugin fcontext loaded for --fcontext' in srv.log(), srv.log()
    try:
        # 6 cores sleep 0.4 s at once while 4 quick requests pass them: all within one sleep.
        paths = ['/sleep?0.4'] * 6 + ['/fast?%d' % i for i in range(4)]
        results, elapsed = concurrent_gets(srv.port, paths)
        assert elapsed < 1.5, (elapsed, results)
        for path, (status, body) in zip(paths, results):
            assert status == 200
            assert body.startswith(path.replace('?', ' ')), (path, body)
        cores = {body.split('core=')[1] for _, body in results[:6]}
        assert len(cores) == 6, results  # the sleepers really ran side by side
        # Timers of different lengths fire in order, each on time.
        results, elapsed = concurrent_gets(srv.port, ['/sleep?0.1', '/sleep?0.6'])
        assert [s for s, _ in results] == [200, 200] and 0.55 < elapsed < 1.5, (elapsed, results)
    finally:
        srv.stop()


def test_io_engine_without_its_plugin_is_a_start_up_error(tmp_path):
    """Without its plugin, the engine name is a start-up error that names it."""
    rc, out = run_uwsgi(['--plugins', 'fcontext', '--async', '2', '--fcontext', '--io-engine', 'poll',
                         '--http-socket', f'127.0.0.1:{free_port()}', '--wsgi-file', 'app.py'], cwd=tmp_path)
    assert rc != 0 and 'poll' in out, out


def test_install_then_build_a_plugin_against_the_installed_copy(tmp_path):
    prefix = tmp_path / 'prefix'
    r = subprocess.run(['make', '-s', '--no-print-directory', 'install', f'PREFIX={prefix}'], cwd=ROOT,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    assert r.returncode == 0, r.stdout
    for rel in ['bin/uwsgi', 'lib/uwsgi/plugins/fcontext_plugin.so', 'lib/uwsgi/plugins/fcontext_plugin.options',
                'include/uwsgi/plugin.h',
                'share/uwsgi/uwsgiconfig.py', 'share/uwsgi/buildconf/default.ini']:
        assert (prefix / rel).exists(), rel
    # The installed build script finds the installed headers, not the source tree's.
    cflags = subprocess.check_output([PY, str(prefix / 'share/uwsgi/uwsgiconfig.py'), '--cflags'], text=True)
    assert f'-I{prefix}/include' in cflags, cflags

    work = tmp_path / 'third-party'
    work.mkdir()
    so = build_example(work, [str(prefix / 'bin/uwsgi'), '--build-plugin'])
    flags = (work / 'build/plugins/poll/plugin-poll.flags').read_text()
    assert f'-I{prefix}/include' in flags, flags
    assert 'engine\tio-engine\tpoll' in (work / 'poll_plugin.options').read_text()  # asked the installed binary

    (work / 'app.py').write_text(ASYNC_APP)
    port = free_port()
    # The installed binary (not ./uwsgi); fcontext comes from PREFIX/lib/uwsgi/plugins.
    log = open(tmp_path / 'installed.log', 'wb')
    proc = subprocess.Popen([str(prefix / 'bin/uwsgi'), '--http-socket', f'127.0.0.1:{port}',
                             '--plugins', f'{so},fcontext', '--async', '4', '--fcontext', '--io-engine', 'poll',
                             '--wsgi-file', 'app.py'], cwd=work, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                status, body = http_get(port, '/sleep?0.05', timeout=2)
                break
            except OSError:
                assert proc.poll() is None, (tmp_path / 'installed.log').read_text()
                assert time.monotonic() < deadline, (tmp_path / 'installed.log').read_text()
                time.sleep(0.05)
        assert (status, body.split(' core=')[0]) == (200, '/sleep 0.05')
    finally:
        proc.send_signal(2)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()

    r = subprocess.run(['make', '-s', '--no-print-directory', 'uninstall', f'PREFIX={prefix}'], cwd=ROOT,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
    assert r.returncode == 0, r.stdout
    assert not (prefix / 'bin/uwsgi').exists() and not (prefix / 'include/uwsgi').exists()
    assert not (prefix / 'lib/uwsgi/plugins').exists()


def default_profile_plugins():
    cp = configparser.ConfigParser()
    cp.read(ROOT / 'buildconf' / 'default.ini')
    return [p.strip() for p in cp['uwsgi'].get('plugins', '').replace(',', ' ').split()]


def markdown_sections(text):
    """{heading: its table rows} of --help-markdown output."""
    sections, current = {}, None
    for line in text.splitlines():
        if line.startswith('## '):
            current = sections.setdefault(line[3:], [])
        elif current is not None and line.startswith('| `'):
            current.append(line)
    return sections


def test_docs_options_md_matches_the_option_registry():
    """docs/options.md is generated (`make docs`): it must equal what the binary prints now, with
    the shared plugins' options from their manifests; and each manifest must say what its plugin
    really registers (the same tables with every plugin loaded)."""
    binary = ROOT / 'uwsgi'
    if not binary.exists():
        pytest.skip('./uwsgi (default profile) not built')
    out = subprocess.check_output([str(binary), '--help-markdown'], cwd=ROOT, text=True, timeout=30)
    committed = (ROOT / 'docs' / 'options.md').read_text()
    assert committed == out, 'docs/options.md is stale: run `make docs`'
    for opt in ['--http-socket', '--async', '--io-engine', '--ugreen-stacksize', '--wsgi-file', '--build-plugin',
                '--gevent', '--greenlet']:
        assert f'`{opt}`' in out, opt
    loaded = subprocess.check_output([str(binary), '--plugins', ','.join(default_profile_plugins()),
                                      '--help-markdown'], cwd=ROOT, text=True, timeout=30)
    assert markdown_sections(loaded) == markdown_sections(out)
    assert {'ugreen', 'fcontext', 'greenlet', 'gevent'} <= set(markdown_sections(out)), markdown_sections(out).keys()


def test_help_groups_options_by_plugin(tmp_path):
    rc, out = run_uwsgi(['--help'], cwd=tmp_path)
    assert rc == 0 and 'core options:' in out and '--http-socket' in out, out
    # Not loaded: listed from its manifest, with the plugin that has them.
    assert 'ugreen options (plugin ' in out and '--ugreen-stacksize' in out, out
    rc, out = run_uwsgi(['--plugins', 'ugreen', '--help'], cwd=tmp_path)
    assert rc == 0 and 'ugreen options:' in out and '--ugreen-stacksize' in out, out
    assert 'ugreen options (plugin ' not in out, out
    rc, out = run_uwsgi(['--version'], cwd=tmp_path)
    assert rc == 0 and out.strip(), out
