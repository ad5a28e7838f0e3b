# greenlet: async cores as Python greenlets, through python3-greenlet's C API (greenlet.h).
import os

NAME = 'greenlet'


def _greenlet_include():
    # Debian ships the header inside the package directory rather than in /usr/include.
    for d in ('/usr/lib/python3/dist-packages/greenlet', '/usr/include/python3.11/greenlet',
              '/usr/local/include/python3.11/greenlet'):
        if os.path.exists(os.path.join(d, 'greenlet.h')):
            return ['-I' + d]
    return []


CFLAGS = python_config('--includes') + _greenlet_include()
LDFLAGS = []
LIBS = python_config('--embed', '--ldflags')
