# The python plugin: embeds Debian's CPython (python3-config of /usr/bin/python3) and runs WSGI apps.
import os
import subprocess

NAME = 'python'

# The interpreter's own executable: the embedded runtime uses it as program_name so that getpath
# finds Debian's stdlib even when another python3 comes first on PATH (pyenv shims).
_exe = subprocess.check_output(
    [PYTHON, '-c', 'import sys, sysconfig; print(sysconfig.get_config_var("BINDIR") + "/python" + '
                   'sysconfig.get_config_var("VERSION"))'], text=True).strip()

CFLAGS = python_config('--includes') + ['-DUWSGI_PYTHON_EXECUTABLE="%s"' % _exe]
LDFLAGS = []
LIBS = python_config('--embed', '--ldflags')
