"""Imported by --spooler-import / --import (test_spooler_options.py): notes where it was imported."""
import os

import uwsgi

with open(os.path.join(os.environ['TASKS_OUT_DIR'], 'imports'), 'a') as f:
    f.write('%s %d\n' % ('spooler' if uwsgi.i_am_the_spooler() else 'other', os.getpid()))
