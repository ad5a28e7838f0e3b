"""Spooler options beyond --spooler: --spooler-external (write to another instance's spool dir, run
no spooler here), --spooler-chdir, --spooler-import (and --import with --lazy-apps) in the spooler
process, --spooler-quiet, --touch-spoolers-reload."""
import os
import time

from conftest import app_path, start_uwsgi
from helpers_core import wait_for, file_lines
from helpers_core import get_result as get

APP = app_path('tasks_app.py')


def start(tmp_path, *args):
    out = tmp_path / 'out'
    out.mkdir(exist_ok=True)
    return start_uwsgi(['--master', '--wsgi-file', APP] + list(args), env={'TASKS_OUT_DIR': str(out)}, timeout=15)


def spool_files(d):
    return sorted(p.name for p in d.rglob('uwsgi_spoolfile_on_*'))


def test_spooler_external_writes_there_and_runs_nothing(tmp_path):
    spool = tmp_path / 'spool'
    spool.mkdir()
    # An instance that only writes to the dir: the task waits there.
    srv = start(tmp_path, '--spooler-external', str(spool), '--spooler-frequency', '1')
    try:
        path = get(srv, '/spool?name=ext&spooler=%s' % spool)
        assert path.startswith(str(spool.resolve()) + '/uwsgi_spoolfile_on_')
        get(srv, '/spool?name=ext2')  # the default spooler is the external one too
        time.sleep(1.5)
        assert len(spool_files(spool)) == 2 and not file_lines(tmp_path / 'out' / 'spooled')
        assert 'spawned the uWSGI spooler' not in srv.log()
    finally:
        srv.stop()
    # The instance that owns the dir runs them.
    srv = start(tmp_path, '--spooler', str(spool), '--spooler-frequency', '1')
    try:
        assert wait_for(lambda: sorted(file_lines(tmp_path / 'out' / 'spooled')) == ['ext', 'ext2']), srv.log()[-2000:]
    finally:
        srv.stop()


def test_spooler_external_must_exist(tmp_path):
    srv = None
    try:
        srv = start(tmp_path, '--spooler-external', str(tmp_path / 'missing'))
        assert False, 'started'
    except RuntimeError as e:
        assert 'spooler-external' in str(e) and 'missing' in str(e)


def test_chdir_quiet_and_import_in_the_spooler(tmp_path):
    work = tmp_path / 'work'
    work.mkdir()
    srv = start(tmp_path, '--spooler', str(tmp_path / 'spool'), '--spooler-frequency', '1', '--spooler-chdir', str(work),
                '--spooler-quiet', '--spooler-import', 'spooler_import_mod')
    try:
        get(srv, '/spool?name=a')
        out = tmp_path / 'out'
        assert wait_for(lambda: file_lines(out / 'spooled') == ['a']), srv.log()[-2000:]
        assert file_lines(out / 'cwd') == [str(work)]
        imports = [l.split()[0] for l in file_lines(out / 'imports')]
        assert imports == ['spooler'], imports  # the spooler only, not the master or the workers
        assert 'done with task' not in srv.log()
    finally:
        srv.stop()


def test_import_reaches_the_spooler_with_lazy_apps(tmp_path):
    srv = start(tmp_path, '--spooler', str(tmp_path / 'spool'), '--lazy-apps', '--import', 'spooler_import_mod')
    try:
        out = tmp_path / 'out'
        assert wait_for(lambda: 'spooler' in [l.split()[0] for l in file_lines(out / 'imports')]), \
            (file_lines(out / 'imports'), srv.log()[-2000:])
    finally:
        srv.stop()


def test_touch_spoolers_reload(tmp_path):
    touch = tmp_path / 'touch'
    srv = start(tmp_path, '--spooler', str(tmp_path / 'spool'), '--spooler-frequency', '1', '--touch-spoolers-reload',
                str(touch))
    try:
        assert wait_for(lambda: srv.log().count('spawned the uWSGI spooler') == 1)
        time.sleep(1.2)
        touch.write_text('x')
        assert wait_for(lambda: srv.log().count('spawned the uWSGI spooler') == 2), srv.log()[-2000:]
        assert 'reloading the spoolers' in srv.log() and 'reloading' in srv.log()
        get(srv, '/spool?name=after')
        assert wait_for(lambda: file_lines(tmp_path / 'out' / 'spooled') == ['after']), srv.log()[-2000:]
    finally:
        srv.stop()
