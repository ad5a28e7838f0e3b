#!/usr/bin/python3
"""Serves one WSGI file with gevent.pywsgi.WSGIServer (one process), for bench/report:
    pywsgi_server.py PORT /path/to/app.py
No monkey patching: the apps only block through gevent.sleep."""
import runpy
import signal
import sys

import gevent
from gevent.pywsgi import WSGIServer


def main():
    port, path = int(sys.argv[1]), sys.argv[2]
    app = runpy.run_path(path)['application']
    server = WSGIServer(('127.0.0.1', port), app, log=None, backlog=1024)
    # SIGINT stops it like it stops uWSGI, without a KeyboardInterrupt traceback from the hub.
    gevent.signal_handler(signal.SIGINT, server.stop)
    server.serve_forever()


if __name__ == '__main__':
    main()
