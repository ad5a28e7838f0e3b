"""--pyrun SCRIPT: the script runs as __main__ in the server's interpreter (uwsgi importable,
--pyargv as its arguments), and the server exits with its status without serving."""
import subprocess

import pytest

from conftest import base_args, uwsgi_binary


def pyrun(tmp_path, source, *opts):
    script = tmp_path / 'job.py'
    script.write_text(source)
    return subprocess.run([str(uwsgi_binary())] + base_args() + ['--pyrun', str(script), *opts],
                          capture_output=True, text=True, timeout=30, cwd=str(tmp_path)), script


def test_pyrun_runs_the_script_as_main_and_exits(tmp_path):
    r, script = pyrun(tmp_path, 'import sys, uwsgi\nprint("RAN", __name__, sys.argv, uwsgi.numproc, flush=True)\n',
                      '--pyargv', 'a b')
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"RAN __main__ ['{script}', 'a', 'b'] 1" in r.stdout


@pytest.mark.parametrize('source,rc', [('import sys\nsys.exit(7)\n', 7), ('raise SystemExit\n', 0),
                                       ('1/0\n', 1), ('import sys\nsys.exit("bye")\n', 1)])
def test_pyrun_exit_status(tmp_path, source, rc):
    r, _ = pyrun(tmp_path, source)
    assert r.returncode == rc, r.stdout + r.stderr
    if rc == 1 and '1/0' in source:
        assert 'ZeroDivisionError' in r.stdout + r.stderr


def test_pyrun_needs_no_socket_and_serves_nothing(tmp_path):
    # With a socket given it still only runs the script (as uWSGI).
    r, _ = pyrun(tmp_path, 'print("ONLY", flush=True)\n', '--http-socket', '127.0.0.1:0')
    assert r.returncode == 0 and 'ONLY' in r.stdout


def test_pyrun_of_a_missing_script_fails(tmp_path):
    r = subprocess.run([str(uwsgi_binary())] + base_args() + ['--pyrun', str(tmp_path / 'none.py')],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and 'none.py' in r.stdout + r.stderr
