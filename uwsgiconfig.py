#!/usr/bin/env python3
"""Build tool: `uwsgiconfig.py --build [PROFILE]`, `--plugin DIR [PROFILE] [NAME]`, `--tests [PROFILE]`.

A profile (buildconf/NAME.ini, section [uwsgi]) says which plugins are built into the binary
(`embedded_plugins`) and which are built as NAME_plugin.so beside it (`plugins`). A plugin is a
folder with a `uwsgiplugin.py` that sets NAME and optionally SOURCES, CFLAGS, LDFLAGS, LIBS.
Compiles in parallel and only what changed (gcc -MMD dependency files).
"""
import configparser
import glob
import os
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

TOP = os.path.dirname(os.path.abspath(__file__))
# Installed copies keep the headers in PREFIX/include and this script in PREFIX/share/uwsgi.
INCLUDE_DIR = os.environ.get('UWSGI_INCLUDE_DIR') or (
    os.path.join(TOP, 'include') if os.path.isdir(os.path.join(TOP, 'include', 'uwsgi'))
    else os.path.normpath(os.path.join(TOP, '..', '..', 'include')))
CXX = os.environ.get('CXX', 'g++')
PYTHON = '/usr/bin/python3'  # Debian's interpreter: its dist-packages hold gevent and greenlet
BASE_CXXFLAGS = ['-std=c++20', '-fPIC', '-Wall', '-Wextra', '-Wno-unused-parameter', '-pthread']
# yaml-cpp and pugixml read --yaml and --xml config files (core/config/); PCRE2 matches --log-route,
# the --static-expires / --static-gzip regexps (core/static/) and the routing rules' regexps;
# libcrypt checks basicauth htpasswd files (core/routing/).
CORE_LIBS = ['-ldl', '-lhttp_parser', '-lssl', '-lcrypto', '-lyaml-cpp', '-lpugixml', '-lpcre2-8', '-lcrypt', '-pthread']
JOBS = int(os.environ.get('UWSGI_JOBS') or os.cpu_count() or 2)


def log(msg):
    print(msg, flush=True)


def python_config(*args):
    """Flags of Debian's CPython (not whatever python3 is first on PATH)."""
    exe = '/usr/bin/python3-config'
    if not os.path.exists(exe):
        exe = PYTHON + '-config'
    return shlex.split(subprocess.check_output([exe] + list(args), text=True))


def pkg_config(*args):
    return shlex.split(subprocess.check_output(['pkg-config'] + list(args), text=True))


class Profile:
    def __init__(self, name):
        path = name if name.endswith('.ini') else os.path.join(TOP, 'buildconf', name + '.ini')
        if not os.path.exists(path):
            sys.exit(f'uwsgiconfig: unknown build profile "{name}" (no {path})')
        cp = configparser.ConfigParser()
        cp.read(path)
        sec = cp['uwsgi']
        self.name = os.path.splitext(os.path.basename(path))[0]

        def lst(key):
            return [p.strip() for p in sec.get(key, '').replace(',', ' ').split() if p.strip()]
        self.embedded = lst('embedded_plugins')
        self.plugins = lst('plugins')
        self.cflags = shlex.split(sec.get('cflags', '-O2 -g'))
        self.ldflags = shlex.split(sec.get('ldflags', ''))
        self.output_dir = os.path.join(TOP, sec.get('output_dir', '.'))
        self.bin_name = sec.get('bin_name', 'uwsgi')
        self.build_dir = os.path.join(TOP, 'build', self.name)


class PluginDesc:
    def __init__(self, path, name=None):
        self.path = os.path.abspath(path)
        desc = os.path.join(self.path, 'uwsgiplugin.py')
        if not os.path.exists(desc):
            sys.exit(f'uwsgiconfig: {path} is not a plugin (no uwsgiplugin.py)')
        ns = {'python_config': python_config, 'pkg_config': pkg_config, 'PYTHON': PYTHON,
              '__file__': desc}
        with open(desc) as f:
            exec(compile(f.read(), desc, 'exec'), ns)
        self.name = name or ns.get('NAME') or os.path.basename(self.path)
        srcs = ns.get('SOURCES') or sorted(glob.glob(os.path.join(self.path, '*.cc')))
        self.sources = [s if os.path.isabs(s) else os.path.join(self.path, s) for s in srcs]
        self.cflags = list(ns.get('CFLAGS', []))
        self.ldflags = list(ns.get('LDFLAGS', []))
        self.libs = list(ns.get('LIBS', []))


def plugin_dir(name):
    d = os.path.join(TOP, 'plugins', name)
    if not os.path.isdir(d):
        sys.exit(f'uwsgiconfig: no plugin "{name}" in {os.path.join(TOP, "plugins")}')
    return d


def needs_build(obj, src):
    if not os.path.exists(obj):
        return True
    t = os.path.getmtime(obj)
    dep = obj[:-2] + '.d'
    if not os.path.exists(dep):
        return True
    with open(dep) as f:
        text = f.read().replace('\\\n', ' ')
    first = text.split('\n', 1)[0]
    deps = first.split(':', 1)[1].split() if ':' in first else [src]
    for d in deps:
        try:
            if os.path.getmtime(d) > t:
                return True
        except OSError:
            return True
    return False


def compile_all(jobs):
    """jobs: list of (src, obj, flags). Compiles the stale ones in parallel."""
    todo = [(s, o, f) for (s, o, f) in jobs if needs_build(o, s)]
    flags_changed = []

    def run(job):
        src, obj, flags = job
        os.makedirs(os.path.dirname(obj), exist_ok=True)
        cmd = [CXX] + flags + ['-MMD', '-MP', '-c', src, '-o', obj]
        log('[cxx] ' + os.path.relpath(src, TOP))
        r = subprocess.run(cmd)
        return r.returncode == 0, src
    failed = []
    with ThreadPoolExecutor(max_workers=JOBS) as ex:
        for ok, src in ex.map(run, todo):
            if not ok:
                failed.append(src)
    if failed:
        sys.exit('uwsgiconfig: compilation failed: ' + ', '.join(os.path.relpath(f, TOP) for f in failed))
    del flags_changed


def stamp_flags(build_dir, key, flags):
    """Rebuild everything of `key` when its flags change (profile edits)."""
    os.makedirs(build_dir, exist_ok=True)
    path = os.path.join(build_dir, key + '.flags')
    text = ' '.join(flags)
    old = open(path).read() if os.path.exists(path) else None
    if old != text:
        for o in glob.glob(os.path.join(build_dir, key, '**', '*.o'), recursive=True):
            os.unlink(o)
        with open(path, 'w') as f:
            f.write(text)


def newer(target, inputs):
    if not os.path.exists(target):
        return True
    t = os.path.getmtime(target)
    return any(os.path.getmtime(i) > t for i in inputs if os.path.exists(i))


def link(cmd, target, inputs):
    if not newer(target, inputs):
        return
    log('[link] ' + os.path.relpath(target, TOP))
    if subprocess.run(cmd).returncode != 0:
        sys.exit('uwsgiconfig: link failed for ' + target)


def core_objects(profile):
    flags = BASE_CXXFLAGS + profile.cflags + ['-I' + INCLUDE_DIR, '-I' + os.path.join(TOP, 'core')]
    stamp_flags(profile.build_dir, 'core', flags)
    jobs = []
    # core/ is laid out in folders by concern (config, net, loop, process, log); objects keep them.
    for src in sorted(glob.glob(os.path.join(TOP, 'core', '**', '*.cc'), recursive=True)):
        obj = os.path.join(profile.build_dir, 'core', os.path.relpath(src, os.path.join(TOP, 'core'))[:-3] + '.o')
        jobs.append((src, obj, flags))
    return jobs


def plugin_jobs(profile, desc, embedded):
    flags = BASE_CXXFLAGS + profile.cflags + ['-I' + INCLUDE_DIR] + desc.cflags
    if not embedded:
        flags.append('-fvisibility=hidden')
    key = ('embedded-' if embedded else 'plugin-') + desc.name
    stamp_flags(profile.build_dir, key, flags)
    jobs = []
    for src in desc.sources:
        obj = os.path.join(profile.build_dir, key, os.path.basename(src)[:-3] + '.o')
        jobs.append((src, obj, flags))
    return jobs


def write_if_changed(path, text):
    if os.path.exists(path) and open(path).read() == text:
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text)


def write_manifest(binary, so):
    """NAME_plugin.options beside NAME_plugin.so: its options and engines, as the plugin itself
    registers them (`uwsgi --plugin-manifest SO`). The server reads these to load a plugin when
    one of its options is used, and --help lists them. Rewritten when the .so or binary is newer."""
    manifest = so[:-3] + '.options'
    if not newer(manifest, [so] + ([binary] if binary else [])):
        return
    if not binary or not os.path.exists(binary):
        log(f'[manifest] skipped for {os.path.basename(so)}: no uwsgi binary to ask (its options will not '
            'autoload; name it with --plugins)')
        return
    log('[manifest] ' + os.path.relpath(manifest, os.getcwd()))
    # An ASan build's leak report at exit would fail this query, which leaks nothing that matters.
    env = dict(os.environ, ASAN_OPTIONS=os.environ.get('ASAN_OPTIONS', 'detect_leaks=0'))
    r = subprocess.run([binary, '--plugin-manifest', so], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       env=env)
    if r.returncode != 0:
        sys.exit(f'uwsgiconfig: {binary} --plugin-manifest {so} failed: {r.stderr.strip()}')
    with open(manifest, 'w') as f:
        f.write(r.stdout)


def build(profile_name, with_tests=False):
    profile = Profile(profile_name)
    log(f'*** building profile "{profile.name}" (embedded: {", ".join(profile.embedded) or "none"}; '
        f'shared: {", ".join(profile.plugins) or "none"}) ***')
    emb = [PluginDesc(plugin_dir(n)) for n in profile.embedded]
    shared = [PluginDesc(plugin_dir(n)) for n in profile.plugins]

    # The table of built-in plugins, generated.
    gen = os.path.join(profile.build_dir, 'gen', 'builtin_plugins.cc')
    lines = ['#include <uwsgi/plugin.h>', '#include "plugin_loader.h"']
    for d in emb:
        lines.append(f'extern "C" const uwsgi::PluginInfo {d.name}_uwsgi_plugin;')
    lines.append('namespace uwsgi {')
    lines.append('const PluginInfo* const kBuiltinPlugins[] = {')
    for d in emb:
        lines.append(f'  &{d.name}_uwsgi_plugin,')
    lines.append('  nullptr};')
    lines.append('}  // namespace uwsgi')
    write_if_changed(gen, '\n'.join(lines) + '\n')

    cflags = BASE_CXXFLAGS + profile.cflags + ['-I' + INCLUDE_DIR, '-I' + os.path.join(TOP, 'core')]
    jobs = core_objects(profile)
    jobs.append((gen, os.path.join(profile.build_dir, 'gen', 'builtin_plugins.o'), cflags))
    for d in emb:
        jobs += plugin_jobs(profile, d, True)
    shared_jobs = {d.name: plugin_jobs(profile, d, False) for d in shared}
    all_jobs = list(jobs)
    for j in shared_jobs.values():
        all_jobs += j
    tests = []
    if with_tests:
        tflags = cflags + ['-I' + os.path.join(TOP, 'tests', 'unit')]
        for src in sorted(glob.glob(os.path.join(TOP, 'tests', 'unit', '*.cc'))):
            tests.append((src, os.path.join(profile.build_dir, 'tests', os.path.basename(src)[:-3] + '.o'), tflags))
        all_jobs += tests
    compile_all(all_jobs)

    os.makedirs(profile.output_dir, exist_ok=True)
    core_objs = [o for (s, o, f) in jobs if not s.endswith('/core/main.cc')]
    main_obj = os.path.join(profile.build_dir, 'core', 'main.o')
    libs = list(CORE_LIBS)
    for d in emb:
        libs = d.ldflags + d.libs + libs
    binary = os.path.join(profile.output_dir, profile.bin_name)
    link([CXX] + profile.cflags + profile.ldflags + ['-o', binary, main_obj] + core_objs + libs,
         binary, [main_obj] + core_objs)
    for d in shared:
        objs = [o for (s, o, f) in shared_jobs[d.name]]
        so = os.path.join(profile.output_dir, d.name + '_plugin.so')
        link([CXX, '-shared'] + profile.cflags + profile.ldflags + ['-o', so] + objs + d.ldflags + d.libs,
             so, objs)
        write_manifest(binary, so)
    if with_tests:
        tobjs = [o for (s, o, f) in tests]
        exe = os.path.join(profile.build_dir, 'unit_tests')
        link([CXX] + profile.cflags + profile.ldflags + ['-o', exe] + tobjs + core_objs + libs +
             ['-lgtest', '-lgtest_main'], exe, tobjs + core_objs)
    log(f'*** profile "{profile.name}" built: {os.path.relpath(binary, TOP)} ***')
    return profile


def build_plugin(path, profile_name='default', name=None):
    profile = Profile(profile_name)
    d = PluginDesc(path, name)
    # Out-of-tree plugins build beside their sources' folder name in build/, output in the cwd.
    profile.build_dir = os.path.join(os.getcwd(), 'build', 'plugins', d.name) if not d.path.startswith(TOP) \
        else profile.build_dir
    jobs = plugin_jobs(profile, d, False)
    compile_all(jobs)
    so = os.path.join(os.getcwd(), d.name + '_plugin.so')
    objs = [o for (s, o, f) in jobs]
    link([CXX, '-shared'] + profile.cflags + profile.ldflags + ['-o', so] + objs + d.ldflags + d.libs, so, objs)
    write_manifest(server_binary(profile), so)
    log(f'*** plugin "{d.name}" built: {so} ***')


def server_binary(profile):
    """The server a plugin built alone is for: the one running `uwsgi --build-plugin`
    (UWSGI_BINARY), an installed copy's bin/uwsgi, or the profile's binary in a source tree."""
    # In a source tree (core/ beside this script) only the tree's own binary: ../../bin/uwsgi from
    # a checkout may be another server entirely (Debian's /bin/uwsgi).
    installed = os.path.normpath(os.path.join(TOP, '..', '..', 'bin', 'uwsgi'))
    in_tree = os.path.isdir(os.path.join(TOP, 'core'))
    for b in (os.environ.get('UWSGI_BINARY'), None if in_tree else installed,
              os.path.join(profile.output_dir, profile.bin_name)):
        if b and os.access(b, os.X_OK):
            return b
    return None


def main(argv):
    if len(argv) >= 2 and argv[1] == '--build':
        build(argv[2] if len(argv) > 2 else os.environ.get('UWSGI_PROFILE', 'default'))
    elif len(argv) >= 2 and argv[1] == '--tests':
        build(argv[2] if len(argv) > 2 else os.environ.get('UWSGI_PROFILE', 'default'), with_tests=True)
    elif len(argv) >= 3 and argv[1] == '--plugin':
        build_plugin(argv[2], argv[3] if len(argv) > 3 else 'default', argv[4] if len(argv) > 4 else None)
    elif len(argv) >= 2 and argv[1] == '--cflags':
        print(' '.join(BASE_CXXFLAGS + ['-I' + INCLUDE_DIR]))
    else:
        print(__doc__)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
