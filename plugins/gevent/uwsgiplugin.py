# gevent: a loop engine where gevent's hub runs the worker (python3-gevent). Needs the python
# plugin at run time; links libpython so it also loads when python is a shared plugin.
NAME = 'gevent'

CFLAGS = python_config('--includes')
LDFLAGS = []
LIBS = python_config('--embed', '--ldflags')
